#!/bin/bash
# counters_overhead.sh — what --counters costs the command it counts
# (issue 16), side by side in one run: each workload under
#   base       denet -q -o FILE run -- WORKLOAD
#   counters   denet -q --counters -o FILE run -- WORKLOAD
# interleaved, REPS times each. The workloads are where perf's software
# counters cost the most:
#   pingpong   tests/helpers/pingpong N: two processes pinned to one CPU
#              bouncing a byte, 2 context switches per round trip (each
#              switch updates the task clock and the switch counter)
#   forkstorm  tests/helpers/forkstorm N: fork, exit, reap as fast as
#              possible (each fork copies the inherited counters, each
#              exit folds them into the parent's)
# Figures: the command's wall time (the exit record's duration_secs) and
# its CPU time (totals.cpu_secs: the run's cgroup, else rusage), medians
# over the reps, and the per-rep ratio counters/base (median, spread).
# usage: bench/counters_overhead.sh [REPS [PINGPONG_N [FORK_N]]]
#        (default 7 100000 2000); OUT=FILE also appends the table there.
# Needs `make all` and the helpers (BUILD=dir, default build) and perf
# events (root, or kernel.perf_event_paranoid <= 1): else it says why.
set -eu
cd "$(dirname "$0")/.."
REPS=${1:-7} PP_N=${2:-100000} FORK_N=${3:-2000}
BUILD=${BUILD:-build}
DENET=$BUILD/denet H=$BUILD/helpers
OUT=${OUT:-/dev/null}
# shellcheck source=bench/lib.sh
. bench/lib.sh
for b in "$DENET" "$H/pingpong" "$H/forkstorm"; do
	[ -x "$b" ] || { echo "counters_overhead: $b not built (make all, make spec)" >&2; exit 1; }
done
tmp=$(mktemp -d /tmp/denet-counters.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

"$DENET" -q --counters -o "$tmp/trial.jsonl" run true
if ! grep -q '"counters":{"ok":true}' "$tmp/trial.jsonl"; then
	echo "counters_overhead: no perf counters here: $(grep -o '"counters":{[^}]*}' "$tmp/trial.jsonl")" >&2
	exit 1
fi

# field NAME FILE: the number of "NAME": in the last line of FILE.
field() { tail -n 1 "$2" | grep -o "\"$1\":[0-9.]*" | head -1 | cut -d: -f2; }

# one MODE NAME CMD...: a run, its wall and CPU seconds appended to files.
one() {
	local mode=$1 name=$2
	shift 2
	local flag=()
	[ "$mode" = counters ] && flag=(--counters)
	"$DENET" -q "${flag[@]}" -o "$tmp/r.jsonl" run -- "$@"
	field duration_secs "$tmp/r.jsonl" >>"$tmp/$name.$mode.wall"
	field cpu_secs "$tmp/r.jsonl" >>"$tmp/$name.$mode.cpu"
}

for _ in $(seq "$REPS"); do
	for mode in base counters; do
		one "$mode" pingpong "$H/pingpong" "$PP_N"
		one "$mode" forkstorm "$H/forkstorm" "$FORK_N"
	done
done

echo "counters_overhead: $(uname -r), $(nproc) CPUs, $REPS reps" | tee -a "$OUT"
for name in pingpong forkstorm; do
	case $name in
	pingpong) what="pingpong $PP_N round trips" ;;
	forkstorm) what="forkstorm $FORK_N forks" ;;
	esac
	section "$what"
	for kind in wall cpu; do
		for mode in base counters; do
			opt=
			[ "$mode" = counters ] && opt="--counters "
			row "$kind $mode" s "$tmp/$name.$mode.$kind" "denet -q $opt-o F run -- $name"
		done
		ratio "$tmp/$name.counters.$kind" "$tmp/$name.base.$kind" "$tmp/$name.$kind.ratio"
		row "$kind counters/base" x "$tmp/$name.$kind.ratio" "per-rep ratio"
	done
done
