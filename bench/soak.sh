#!/bin/bash
# soak.sh — is denet bounded on a long run of a workload that keeps
# starting processes? denet monitors bench/churn.sh for SECS seconds
# (-i 50 -m 50, records to a file), once without and once with
# --enable-ebpf; every second this script reads denet's RSS (VmRSS), its
# CPU time (utime + stime) and the size of the file it writes. It prints,
# for the first and the last WINDOW seconds: RSS (the largest seen in the
# window), CPU (% of one core), bytes written per minute, the processes
# the workload started per minute, and the growth from the first window
# to the last. Flat means each growth stays within a few per cent.
#
# usage: bench/soak.sh [SECS [WINDOW]]   (default 240 60; smoke: 4 2)
#   SOAK_ONLY=plain|ebpf   one of the two runs only
#   SOAK_KEEP=DIR          keep the per-second samples (t rss_kb ticks
#                          bytes processes) and denet's records in DIR
# Needs `make all`; the --enable-ebpf half needs root (else reported as
# skipped). The machine may be shared: the workload's own rate is printed
# next to the figures, and CPU per 1000 processes started with them.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
DENET=$BUILD/denet
SECS=${1:-240}
WINDOW=${2:-60}
[ -x "$DENET" ] || { echo "soak: $DENET not built (make all)" >&2; exit 1; }
[ "$SECS" -ge $((2 * WINDOW)) ] || { echo "soak: SECS must be at least 2 x WINDOW" >&2; exit 1; }
TMP=$(mktemp -d /tmp/denet-soak.XXXXXX)
HZ=$(getconf CLK_TCK)
dpid=
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	[ -n "$dpid" ] && kill -TERM "$dpid" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

# run LABEL [DENET OPTIONS...]: one soak; samples "t rss_kb ticks bytes procs"
# in $TMP/LABEL.samples, one a second.
run() {
	local label=$1 out=$TMP/$1.jsonl count=$TMP/$1.count s=$TMP/$1.samples
	shift
	: >"$count"
	: >"$s"
	"$DENET" "$@" -i 50 -m 50 -q -o "$out" run -- bench/churn.sh "$SECS" "$count" \
		2>"$TMP/$label.err" &
	dpid=$!
	local t0 now rss ticks
	t0=$(date +%s.%N)
	while kill -0 "$dpid" 2>/dev/null; do
		now=$(date +%s.%N)
		rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$dpid/status" 2>/dev/null)
		# fields 14 and 15 of stat, counted after the ")" of comm
		ticks=$(sed 's/.*) //' "/proc/$dpid/stat" 2>/dev/null | awk '{ print $12 + $13 }')
		[ -n "$rss" ] && [ -n "$ticks" ] &&
			echo "$(awk -v a="$now" -v b="$t0" 'BEGIN { printf "%.3f", a - b }') $rss $ticks $(stat -c %s "$out" 2>/dev/null || echo 0) $(stat -c %s "$count")" >>"$s"
		sleep 1
	done
	wait "$dpid"
	echo "$?" >"$TMP/$label.rc"
	dpid=
}

# report LABEL: the table rows of one soak.
report() {
	local label=$1
	if [ "$(cat "$TMP/$label.rc")" != 0 ]; then
		echo "| $label | denet exited $(cat "$TMP/$label.rc"): $(head -c 300 "$TMP/$label.err") | | | |"
		return
	fi
	awk -v w="$WINDOW" -v hz="$HZ" -v label="$label" -v secs="$SECS" '
	{ t[NR] = $1; rss[NR] = $2; tk[NR] = $3; by[NR] = $4; pr[NR] = $5 }
	# the samples inside [a, b]: the first at or after a, the last at or
	# before b (start-up and exit work stay out); two at least
	function before(time,   i) { for (i = NR; i > 1; i--) if (t[i] <= time) return i; return 1 }
	function after(time,   i) { for (i = 1; i <= NR; i++) if (t[i] >= time) return i; return NR }
	# window [a, b]: the largest RSS, CPU %, bytes and processes per minute
	function win(a, b, k,   i, j, m, n) {
		i = after(a); j = before(b)
		if (j <= i) { j = i < NR ? i + 1 : NR; i = j - 1 }
		m = 0; for (n = i; n <= j; n++) if (rss[n] > m) m = rss[n]
		R[k] = m / 1024
		C[k] = 100 * (tk[j] - tk[i]) / hz / (t[j] - t[i])
		B[k] = (by[j] - by[i]) / (t[j] - t[i]) * 60 / 1e6
		P[k] = (pr[j] - pr[i]) / (t[j] - t[i]) * 60
		K[k] = P[k] > 0 ? C[k] / 100 * 60 / P[k] * 1000 : 0
	}
	function g(a, b) { return a > 0 ? sprintf("%+.1f %%", 100 * (b - a) / a) : "-" }
	END {
		# the workload runs SECS s from about t = 0: the last window ends
		# there, before the exit work of denet (final drain, unloading)
		end = t[NR] < secs ? t[NR] : secs
		for (n = NR; n > 1 && pr[n - 1] == pr[NR]; n--)
			;
		if (t[n] < end)
			end = t[n] # the workload had stopped
		# every whole window in between too, to tell a trend from noise
		nw = int((end - 1) / w)
		for (k = 1; k <= nw; k++) {
			win(1 + (k - 1) * w, 1 + k * w, 3)
			sr = sr sprintf(" %.1f", R[3]); sc = sc sprintf(" %.2f", C[3])
			sb = sb sprintf(" %.2f", B[3]); sp = sp sprintf(" %.0f", P[3])
		}
		printf "%s per window: RSS MB%s; CPU %%%s; MB written%s; processes%s\n", label, sr, sc, sb, sp > "/dev/stderr"
		win(1, 1 + w, 1); win(end - w, end, 2)
		printf "| %s: denet RSS (MB, largest in window) | %.1f | %.1f | %s |\n", label, R[1], R[2], g(R[1], R[2])
		printf "| %s: denet CPU (%% of one core) | %.2f | %.2f | %s |\n", label, C[1], C[2], g(C[1], C[2])
		printf "| %s: denet CPU per 1000 processes started (s) | %.3f | %.3f | %s |\n", label, K[1], K[2], g(K[1], K[2])
		printf "| %s: bytes written per minute (MB) | %.2f | %.2f | %s |\n", label, B[1], B[2], g(B[1], B[2])
		printf "| %s: processes the workload started per minute | %.0f | %.0f | %s |\n", label, P[1], P[2], g(P[1], P[2])
	}' "$TMP/$label.samples"
}

only=${SOAK_ONLY:-}
echo "soak: bench/churn.sh for $SECS s under denet -i 50 -m 50 -q -o FILE, windows of $WINDOW s (the first from t = 1 s, after start-up; the last ending at t = $SECS s, before denet's exit work); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$only" = ebpf ] || run plain
ebpf=1
if [ "$only" != plain ]; then
	run ebpf --enable-ebpf
	grep -q 'off-CPU profiling unavailable' "$TMP/ebpf.err" && ebpf=0
fi
echo
echo "| figure | first window | last window | growth |"
echo "|---|---|---|---|"
[ "$only" = ebpf ] || report plain 2>"$TMP/series"
if [ "$only" = plain ]; then
	:
elif [ $ebpf = 1 ]; then
	report ebpf 2>>"$TMP/series"
else
	echo "| ebpf | skipped: $(head -1 "$TMP/ebpf.err") | | |"
fi
echo
cat "$TMP/series" 2>/dev/null
if [ -n "${SOAK_KEEP:-}" ]; then
	mkdir -p "$SOAK_KEEP" && cp "$TMP"/*.samples "$TMP"/*.jsonl "$SOAK_KEEP"/
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
