#!/bin/bash
# ab_tree.sh — issue 13's measurements (the process tree from the kernel),
# two denet binaries side by side: A (before) and B (after), in
# interleaved repetitions (A, B, A, B...: the machine is shared), median
# and spread (min – max) of each figure, ratios within a repetition.
#
#   bench/ab_tree.sh OLD_DENET NEW_DENET   A/B
#   bench/ab_tree.sh NEW_DENET             B alone (make bench: run.sh §7)
#
# Parts (AB_PARTS, default "tree storm build"):
#   tree   per-sample cost and denet's own CPU on a sleeping flat tree of N
#          processes (bench/sleeptree.c), attached and launched (`run`:
#          the cgroup.procs path), at a fixed 100 ms, beside the floor
#          (bench/floor.c: 4 files, and 3 without task/PID/children)
#   storm  tests/helpers/forkstorm.c N (children that exit at once) alone
#          and under denet, with and without the cgroup, and with a double
#          fork (-d): processes counted, wall time, forks/s, denet's own
#          CPU per 1000 forks (bench/selfcpu.c: the zombie's own
#          utime+stime, apart from its children's)
#   build  `make -j2 all` of this tree (git archive into a scratch dir)
#          under denet, against the processes strace -f sees (needs strace)
#
# Environment: BUILD (default build: the bench programs and helpers),
# AB_REPS (5), AB_SIZES ("10 100 1000"), AB_SECS (10: each tree run),
# AB_FORKS (20000), AB_DAEMON_FORKS (AB_FORKS / 4), AB_STORM_REPS (3),
# AB_OUT (results file, default $BUILD/bench/ab_tree.md).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
B=$BUILD/bench
SELF=$B/selfcpu
STORM=$BUILD/helpers/forkstorm
if [ $# -eq 2 ]; then
	DA=$1 DB=$2
elif [ $# -eq 1 ]; then
	DA="" DB=$1
else
	echo "usage: bench/ab_tree.sh [OLD_DENET] NEW_DENET" >&2
	exit 2
fi
# absolute: the build part runs them from a scratch directory
[ -n "$DA" ] && DA=$(readlink -f "$DA")
DB=$(readlink -f "$DB")
PARTS=${AB_PARTS:-tree storm build}
REPS=${AB_REPS:-5}
SIZES=${AB_SIZES:-10 100 1000}
SECS=${AB_SECS:-10}
FORKS=${AB_FORKS:-20000}
DFORKS=${AB_DAEMON_FORKS:-$((FORKS / 4))}
SREPS=${AB_STORM_REPS:-3}
OUT=${AB_OUT:-$B/ab_tree.md}
TMP=$(mktemp -d /tmp/denet-abtree.XXXXXX)
TREES=""

for f in $DA "$DB" "$SELF" "$STORM" "$B/sleeptree" "$B/floor"; do
	[ -x "$f" ] || { echo "ab_tree: $f not built (make bench-bins)" >&2; exit 1; }
done
# labels and binaries of the sides, in the order they run
SIDES="B"
[ -n "$DA" ] && SIDES="A B"
bin() { if [ "$1" = A ]; then echo "$DA"; else echo "$DB"; fi; }

# shellcheck disable=SC2317 # called by the trap
cleanup() {
	for p in $TREES; do kill -TERM "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT

# ---- helpers ------------------------------------------------------------------

# shellcheck source=bench/lib.sh
. bench/lib.sh # (the working directory is the project root)
# The value of a key (a number or a string) in the exit record's totals.
exitval() {
	grep '"kind":"exit"' "$1" | sed -n 's/.*"totals":{\([^}]*\)}.*/\1/p' |
		sed -n "s/.*\"$2\":\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p" | head -1
}
now() { date +%s.%N; }
# A pid file: wait until it holds a pid (a tree printed its root).
wait_pid() {
	for _ in $(seq 600); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	return 1
}
# Processes and threads started on the whole machine since boot.
sysforks() { awk '$1 == "processes" { print $2 }' /proc/stat; }
schedns() { cut -d' ' -f1 "/proc/$1/schedstat" 2>/dev/null || echo 0; }

start_tree() {
	"$B/sleeptree" "$1" >"$TMP/tree" &
	wait_pid "$TMP/tree"
	pid=$(cat "$TMP/tree")
	TREES="$TREES $pid"
}
stop_tree() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

{
	echo "# issue 13 A/B: the process tree from the kernel ($(date -u +%F\ %H:%MZ))"
	echo
	echo "machine: $(nproc) CPUs, kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
	[ -n "$DA" ] && echo "A = $DA ($("$DA" --version 2>&1 | head -1))"
	echo "B = $DB ($("$DB" --version 2>&1 | head -1)); $REPS repetitions, interleaved"
} | tee "$OUT"

# One monitored run of a tree, steady state: denet's CPU from its
# schedstat once the tree is whole (+1 s) to its exit (selfcpu reads the
# zombie), over that wall time; and the median --debug per-sample cost.
# tree_run SIDE MODE N -> appends to $TMP/cpu.SIDE.MODE, $TMP/smp.SIDE.MODE
tree_run() {
	local d mode=$2 n=$3 sp dp c1 t1 t2 c2 f1 f2
	d=$(bin "$1")
	: >"$TMP/rp"
	if [ "$mode" = attach ]; then
		"$SELF" "$d" --debug --json --out /dev/null -q -i 100 -m 100 -d "$SECS" attach "$pid" \
			>/dev/null 2>"$TMP/err" &
		sp=$!
	else
		"$SELF" "$d" --debug --json --out /dev/null -q -i 100 -m 100 -d "$SECS" run -- \
			"$B/sleeptree" "$n" >"$TMP/rp" 2>"$TMP/err" &
		sp=$!
		wait_pid "$TMP/rp"
	fi
	sleep 1
	dp=$(pgrep -P "$sp" | head -1 || true)
	c1=$(schedns "$dp")
	f1=$(sysforks)
	t1=$(now)
	wait "$sp" || true
	t2=$(now)
	f2=$(sysforks)
	awk -v a="$f1" -v b="$f2" -v t1="$t1" -v t2="$t2" \
		'BEGIN { printf "%.1f\n", (b - a) / (t2 - t1) }' >>"$TMP/sysf.$1.$mode"
	[ -s "$TMP/rp" ] && { kill -TERM "$(cat "$TMP/rp")" 2>/dev/null || true; }
	c2=$(kv self_sched_secs <"$TMP/err")
	awk -v a="$c1" -v b="$c2" -v t1="$t1" -v t2="$t2" \
		'BEGIN { printf "%.4f\n", 100 * (b - a / 1e9) / (t2 - t1) }' >>"$TMP/cpu.$1.$mode"
	sed -n 's/.*sample of .* took \([0-9.]*\) us/\1/p' "$TMP/err" | stats | cut -d' ' -f1 \
		>>"$TMP/smp.$1.$mode"
	sleep 0.5 # the launched tree's exit
}

# ---- tree: per-sample cost ------------------------------------------------------
if [[ " $PARTS " == *" tree "* ]]; then
	section "Per-sample cost and denet's CPU, sleeping flat tree of N, 100 ms fixed (steady state)"
	for n in $SIZES; do
		start_tree "$n"
		it=$((20000 / n)); [ "$it" -lt 10 ] && it=10
		rm -f "$TMP"/cpu.* "$TMP"/smp.* "$TMP"/sysf.*
		: >"$TMP/f4" ; : >"$TMP/f3"
		for _ in $(seq "$REPS"); do
			"$B/floor" "$pid" "$it" | kv us_per_sample >>"$TMP/f4"
			"$B/floor" "$pid" "$it" 1 stat,io,schedstat | kv us_per_sample >>"$TMP/f3"
			for mode in attach run; do
				for s in $SIDES; do tree_run "$s" "$mode" "$n"; done
			done
		done
		stop_tree "$pid"
		row "N=$n floor, 4 files (stat, io, schedstat, task/PID/children)" µs "$TMP/f4" "$B/floor PID $it"
		row "N=$n floor, 3 files (no children: the cgroup path's)" µs "$TMP/f3" "$B/floor PID $it 1 stat,io,schedstat"
		for mode in attach run; do
			for s in $SIDES; do
				row "N=$n $mode, $s: per-sample cost (--debug, median of the run)" µs "$TMP/smp.$s.$mode" \
					"$(bin "$s") --debug --json --out /dev/null -q -i 100 -m 100 -d $SECS $mode $([ $mode = attach ] && echo PID || echo "-- sleeptree $n")"
			done
			for s in $SIDES; do
				row "N=$n $mode, $s: denet CPU" "% of one core" "$TMP/cpu.$s.$mode" "same, bench/selfcpu: schedstat from tree ready + 1 s to exit"
			done
			for s in $SIDES; do
				row "N=$n $mode, $s: the machine's forks/s in that window (/proc/stat processes)" "/s" "$TMP/sysf.$s.$mode" "(all users: the connector's event rate)"
			done
			for s in $SIDES; do
				ratio "$TMP/smp.$s.$mode" "$TMP/f4" "$TMP/r"
				row "N=$n $mode, $s / floor 4 files" × "$TMP/r" "(per repetition)"
				ratio "$TMP/smp.$s.$mode" "$TMP/f3" "$TMP/r"
				row "N=$n $mode, $s / floor 3 files" × "$TMP/r" "(per repetition)"
			done
			if [ -n "$DA" ]; then
				ratio "$TMP/smp.B.$mode" "$TMP/smp.A.$mode" "$TMP/r"
				row "N=$n $mode, per-sample cost B / A" × "$TMP/r" "(per repetition)"
				ratio "$TMP/cpu.B.$mode" "$TMP/cpu.A.$mode" "$TMP/r"
				row "N=$n $mode, CPU B / A" × "$TMP/r" "(per repetition)"
			fi
		done
	done
fi

# ---- storm: the fork rate the event path keeps up with ---------------------------
# storm_run LABEL N [DENET ARGS...] : appends processes, source, wall,
# denet's own CPU to $TMP/st.LABEL.*
storm_run() {
	local label=$1 n=$2 o="$TMP/storm.jsonl"
	shift 2
	: >"$o"
	"$SELF" "$@" >/dev/null 2>"$TMP/err" || true
	kv wall_secs <"$TMP/err" >>"$TMP/st.$label.wall"
	if [ "${label#alone}" = "$label" ]; then # under denet: its own CPU, what it counted
		kv self_cpu_secs <"$TMP/err" >>"$TMP/st.$label.cpu"
		exitval "$o" processes >>"$TMP/st.$label.procs"
		local src
		src=$(exitval "$o" processes_source)
		echo "${src:-(none)}" >>"$TMP/st.$label.src"
		exitval "$o" threads >>"$TMP/st.$label.threads"
	fi
}
if [[ " $PARTS " == *" storm "* ]]; then
	section "Fork storm: forkstorm $FORKS (and -d 100 with $DFORKS: a double fork each), $SREPS repetitions"
	rm -f "$TMP"/st.*
	o="$TMP/storm.jsonl"
	cases="alone"
	for k in cg nocg d; do
		for s in $SIDES; do cases="$cases $s.$k"; done
	done
	for _ in $(seq "$SREPS"); do
		for c in $cases; do
			case $c in
			alone) storm_run alone "$FORKS" "$STORM" "$FORKS" ;;
			*.cg) storm_run "$c" "$FORKS" "$(bin "${c%%.*}")" --json -q -o "$o" run -- "$STORM" "$FORKS" ;;
			*.nocg) storm_run "$c" "$FORKS" "$(bin "${c%%.*}")" --json -q -o "$o" --no-cgroup run -- "$STORM" "$FORKS" ;;
			*.d) storm_run "$c" "$DFORKS" "$(bin "${c%%.*}")" --json -q -o "$o" run -- "$STORM" "$DFORKS" -d 100 ;;
			esac
		done
		storm_run alone.d "$DFORKS" "$STORM" "$DFORKS" -d 100
	done
	row "forkstorm $FORKS alone: wall" s "$TMP/st.alone.wall" "$SELF $STORM $FORKS"
	awk -v n="$FORKS" '{ printf "%.1f\n", n / $1 }' "$TMP/st.alone.wall" >"$TMP/x"
	row "forkstorm $FORKS alone: forks/s" "/s" "$TMP/x" "same"
	for c in $cases; do
		[ "$c" = alone ] && continue
		s=${c%%.*}
		case $c in
		*.cg) n=$FORKS; what="run"; want=$((FORKS + 1)) ;;
		*.nocg) n=$FORKS; what="--no-cgroup run"; want=$((FORKS + 1)) ;;
		*.d) n=$DFORKS; what="run (-d 100: double fork)"; want=$((2 * DFORKS + 1)) ;;
		esac
		dflag=""
		if [ "${c#*.}" = d ]; then dflag=" -d 100"; fi
		cmd="$(bin "$s") --json -q -o FILE ${what%% (*} -- forkstorm $n$dflag"
		echo "| $s $what: processes counted (want $want) / processes_source / threads | $(paste -sd' ' "$TMP/st.$c.procs") | $(sort -u "$TMP/st.$c.src" | paste -sd';' -) | $(paste -sd' ' "$TMP/st.$c.threads") | \`$cmd\` |" | tee -a "$OUT"
		row "$s $what: wall" s "$TMP/st.$c.wall" "$SELF $cmd"
		awk -v n="$((want - 1))" '{ printf "%.1f\n", n / $1 }' "$TMP/st.$c.wall" >"$TMP/x"
		row "$s $what: forks/s (all $((want - 1)))" "/s" "$TMP/x" "same"
		awk -v n="$n" '{ printf "%.2f\n", 1000 * $1 * 1000 / n }' "$TMP/st.$c.cpu" >"$TMP/x"
		row "$s $what: denet's own CPU per 1000 forks" ms "$TMP/x" "same (selfcpu: the zombie's utime+stime)"
		if [ "${c#*.}" != d ]; then
			ratio "$TMP/st.$c.wall" "$TMP/st.alone.wall" "$TMP/x"
			row "$s $what: wall / alone" × "$TMP/x" "(per repetition)"
		else
			ratio "$TMP/st.$c.wall" "$TMP/st.alone.d.wall" "$TMP/x"
			row "$s $what: wall / alone (-d)" × "$TMP/x" "(per repetition)"
		fi
	done
fi

# ---- build: make -j2 all under denet vs strace -------------------------------------
if [[ " $PARTS " == *" build "* ]]; then
	section "make -j2 all of this tree (scratch copy) under denet vs strace -f"
	if ! command -v strace >/dev/null; then
		echo "| build | skipped: strace not installed | | | |" | tee -a "$OUT"
	else
		rev=$(git rev-parse --short HEAD)
		fresh() {
			rm -rf "$TMP/src"
			mkdir -p "$TMP/src"
			git archive HEAD | tar -x -C "$TMP/src"
		}
		for s in $SIDES; do
			fresh
			(cd "$TMP/src" && "$(bin "$s")" --json -q -o "$TMP/build.$s.jsonl" run -- make -j2 all >/dev/null 2>&1) || true
			p=$(exitval "$TMP/build.$s.jsonl" processes)
			src=$(exitval "$TMP/build.$s.jsonl" processes_source)
			th=$(exitval "$TMP/build.$s.jsonl" threads)
			echo "| $s: processes counted / processes_source / threads | $p | ${src:-(none)} | ${th:-–} | \`cd SCRATCH && $(bin "$s") --json -q -o FILE run -- make -j2 all\` |" | tee -a "$OUT"
		done
		fresh
		(cd "$TMP/src" && strace -f -q -e trace=clone,clone3,fork,vfork -o "$TMP/strace" make -j2 all >/dev/null 2>&1) || true
		tasks=$(awk '{ print $1 }' "$TMP/strace" | sort -u | wc -l)
		thr=$(grep -c 'CLONE_THREAD' "$TMP/strace" || true)
		echo "| strace: tasks (distinct pids) / of them threads (clones with CLONE_THREAD) / processes | $tasks | $thr | $((tasks - thr)) | \`cd SCRATCH && strace -f -q -e trace=clone,clone3,fork,vfork -o FILE make -j2 all\` (git archive $rev) |" | tee -a "$OUT"
	fi
fi

echo
echo "results: $OUT"
