#!/bin/bash
# soak_ab.sh — a control for bench/soak.sh's CPU figures on a shared
# machine: denet A monitors bench/churn.sh for 2 x SECS seconds; from
# SECS on, a fresh denet B monitors a second bench/churn.sh beside it.
# Every 10 s: t, A's CPU ticks, A's processes started, and B's (CPU from
# /proc/PID/stat). If A grew with time, A would use more CPU in its second
# half than in its first, and more than B at the same moments.
# usage: bench/soak_ab.sh [SECS] [DENET OPTIONS...]   (default 240, plain)
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
D=$BUILD/denet
SECS=${1:-240}
shift
TMP=$(mktemp -d /tmp/denet-soak-ab.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$TMP"' EXIT
ticks() { [ -e "/proc/$1/stat" ] && sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }' || echo -; }
size() { stat -c %s "$1" 2>/dev/null || echo 0; }
"$D" "$@" -i 50 -m 50 -q -o "$TMP/a.jsonl" run -- bench/churn.sh $((2 * SECS)) "$TMP/a.count" &
A=$!
B=
t0=$SECONDS
echo "t ticks_A processes_A ticks_B processes_B (ticks: $(getconf CLK_TCK) a second)"
while kill -0 "$A" 2>/dev/null; do
	if [ -z "$B" ] && [ $((SECONDS - t0)) -ge "$SECS" ]; then
		"$D" "$@" -i 50 -m 50 -q -o "$TMP/b.jsonl" run -- bench/churn.sh $((SECS - 5)) "$TMP/b.count" &
		B=$!
	fi
	echo "$((SECONDS - t0)) $(ticks "$A") $(size "$TMP/a.count")${B:+ $(ticks "$B") $(size "$TMP/b.count")}"
	sleep 10
done
wait
