#!/bin/bash
# run.sh — denet's benchmarks, each side by side with its floor and peers
# in one run (repetitions interleaved: the machine is shared and absolute
# times drift, so ratios are taken within a repetition). Median and spread
# (min–max) of every figure; results in $BUILD/bench/results.md.
#
#   BUILD=build bench/run.sh         full run (make bench), minutes
#   BENCH_SMOKE=1 bench/run.sh       seconds (make bench-smoke, CI)
#   BENCH_REPS=N                     repetitions (default 5; smoke 2)
#   BENCH_SOAK_SECS=N                length of the soak runs (default 240; smoke 4)
#
# Needs the programs of bench/bench.mk built. A missing peer (psutil,
# addr2line, eBPF, bench/offcpu_overhead.sh, bench/syscall_overhead.sh,
# bpftrace) is reported and skipped.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
B=$BUILD/bench
DENET=$BUILD/denet
RUSAGE=$BUILD/helpers/rusage_of
SMOKE=${BENCH_SMOKE:-0}
PY=/usr/bin/python3 # Debian's python3, where python3-psutil is installed
OUT=$B/results.md
TMP=$(mktemp -d /tmp/denet-bench.XXXXXX)
TREES=()

if [ "$SMOKE" = 1 ]; then
	REPS=${BENCH_REPS:-2}
	SIZES="1 10 100"
	SAMPLE_WORK=2000 # process-samples per repetition for the C samplers
	PY_WORK=200
	OFFCPU_ARGS="0.2 1"
	SYSCALL_ARGS="0.2 1"
	CPU_SECS=1
	LUA_ITERS=100
	SYM_N="2000" # addr2line batched costs ~1 ms per address on a big binary
	SYM_M=3
	SLEEP=1
	SOAK="${BENCH_SOAK_SECS:-4} 2"
else
	REPS=${BENCH_REPS:-5}
	SIZES="1 10 100 1000 5000"
	SAMPLE_WORK=40000
	PY_WORK=3000
	OFFCPU_ARGS="3 5"
	SYSCALL_ARGS="3 5"
	CPU_SECS=10
	LUA_ITERS=2000
	SYM_N="10000 100000"
	SYM_M=50
	SLEEP=5
	SOAK="${BENCH_SOAK_SECS:-240} 60"
fi

# shellcheck disable=SC2317 # called by the trap
cleanup() {
	for p in "${TREES[@]}"; do kill -TERM "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT

for f in "$DENET" "$RUSAGE" "$B/sampler" "$B/floor" "$B/sleeptree" "$B/symbolize"; do
	[ -x "$f" ] || { echo "bench: $f not built (make bench-bins)" >&2; exit 1; }
done

# ---- helpers ---------------------------------------------------------------

# Start a sleeping tree of N processes; its root pid in $pid (not in a
# subshell, so the EXIT trap knows it).
start_tree() {
	"$B/sleeptree" "$1" >"$TMP/tree.$1" &
	for _ in $(seq 200); do
		[ -s "$TMP/tree.$1" ] && break
		sleep 0.05
	done
	pid=$(cat "$TMP/tree.$1")
	TREES+=("$pid")
}
stop_tree() { kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

# shellcheck source=bench/lib.sh
. bench/lib.sh # (the working directory is the project root)

have_psutil=0
"$PY" -c 'import psutil' 2>/dev/null && have_psutil=1

{
	echo "# denet benchmarks ($([ "$SMOKE" = 1 ] && echo smoke || echo full) run, $(date -u +%F\ %H:%MZ))"
	echo
	echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "denet $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo +dirty); $REPS repetitions, interleaved"
} | tee "$OUT"

# ---- 1. sampling cost --------------------------------------------------------
section "1. Sampling cost per sample (sleeping flat tree of N processes)"
for n in $SIZES; do
	start_tree "$n"
	it=$(( SAMPLE_WORK / n )); [ "$it" -lt 5 ] && it=5
	pit=$(( PY_WORK / n )); [ "$pit" -lt 2 ] && pit=2
	: >"$TMP/d" ; : >"$TMP/f" ; : >"$TMP/f3" ; : >"$TMP/p" ; : >"$TMP/i"
	have_bpf=1
	"$B/sampler" "$pid" 1 1 bpf >/dev/null 2>&1 || have_bpf=0
	for _ in $(seq "$REPS"); do
		"$B/sampler" "$pid" "$it" | kv us_per_sample >>"$TMP/d"
		[ "$have_bpf" = 1 ] && "$B/sampler" "$pid" "$it" 1 bpf | kv us_per_sample >>"$TMP/i"
		"$B/floor" "$pid" "$it" | kv us_per_sample >>"$TMP/f"
		"$B/floor" "$pid" "$it" 1 stat,schedstat,children | kv us_per_sample >>"$TMP/f3"
		if [ "$have_psutil" = 1 ]; then
			"$PY" bench/psutil_sampler.py "$pid" "$pit" | kv us_per_sample >>"$TMP/p"
		fi
	done
	stop_tree "$pid"
	row "N=$n denet sampler (scan + tree record)" µs "$TMP/d" "$B/sampler PID $it"
	row "N=$n floor (pread stat, io, schedstat, children)" µs "$TMP/f" "$B/floor PID $it"
	row "N=$n floor without io (3 files)" µs "$TMP/f3" "$B/floor PID $it 1 stat,schedstat,children"
	ratio "$TMP/d" "$TMP/f" "$TMP/r"
	row "N=$n denet / floor" × "$TMP/r" "(per repetition)"
	if [ "$have_bpf" = 1 ]; then
		row "N=$n denet through the BPF iterator (scan + tree record)" µs "$TMP/i" "$B/sampler PID $it 1 bpf"
		ratio "$TMP/f" "$TMP/i" "$TMP/r"
		row "N=$n floor / denet-iterator" × "$TMP/r" "(per repetition)"
		if [ "$have_psutil" = 1 ]; then
			ratio "$TMP/p" "$TMP/i" "$TMP/r"
			row "N=$n psutil / denet-iterator" × "$TMP/r" "(per repetition)"
		fi
	else
		echo "| N=$n denet through the BPF iterator | skipped: it cannot load here (root?) | | | |" | tee -a "$OUT"
	fi
	if [ "$have_psutil" = 1 ]; then
		row "N=$n python3-psutil" µs "$TMP/p" "$PY bench/psutil_sampler.py PID $pit"
		ratio "$TMP/p" "$TMP/d" "$TMP/r"
		row "N=$n psutil / denet" × "$TMP/r" "(per repetition)"
	else
		echo "| N=$n python3-psutil | skipped: python3-psutil not installed (tools/deps.sh) | | | |" | tee -a "$OUT"
	fi
done

# denet's own CPU while monitoring (attach: rusage is denet's alone), and
# the monitor's per-sample cost from --debug (cgroup, scan, record, write).
section "1b. denet's own CPU while monitoring a sleeping tree (${CPU_SECS} s, fixed interval)"
# --sampler auto (the default: the BPF iterator or /proc, the cheaper)
# beside --sampler proc, interleaved.
cpu_cases="100:100 100:10"
[ "$SMOKE" = 1 ] || cpu_cases="$cpu_cases 1000:100"
for c in $cpu_cases; do
	n=${c%%:*}; iv=${c##*:}
	start_tree "$n"
	: >"$TMP/c.auto" ; : >"$TMP/s.auto" ; : >"$TMP/c.proc" ; : >"$TMP/s.proc"
	cpureps=$REPS; [ "$SMOKE" = 1 ] && cpureps=1; [ "$SMOKE" != 1 ] && cpureps=3
	for _ in $(seq "$cpureps"); do
		for mode in auto proc; do
			"$RUSAGE" "$DENET" --debug --json --out /dev/null -q -i "$iv" -m "$iv" -d "$CPU_SECS" \
				--sampler "$mode" attach "$pid" 2>"$TMP/err" >/dev/null
			cpu=$(kv cpu_secs <"$TMP/err")
			awk -v c="$cpu" -v s="$CPU_SECS" 'BEGIN { printf "%.4f\n", 100 * c / s }' >>"$TMP/c.$mode"
			sed -n 's/.*sample of .* took \([0-9.]*\) us.*/\1/p' "$TMP/err" | stats | cut -d' ' -f1 >>"$TMP/s.$mode"
		done
	done
	stop_tree "$pid"
	for mode in auto proc; do
		row "N=$n at $iv ms, --sampler $mode: denet CPU" "% of one core" "$TMP/c.$mode" "$RUSAGE $DENET --json --out /dev/null -q -i $iv -m $iv -d $CPU_SECS --sampler $mode attach PID"
		row "N=$n at $iv ms, --sampler $mode: monitor's cost per sample (--debug, median of the run)" µs "$TMP/s.$mode" "same, --debug"
	done
done

# ---- 2. off-CPU ----------------------------------------------------------------
section "2. Off-CPU overhead"
if [ "$SMOKE" = 1 ]; then
	echo "| off-CPU | skipped in the smoke run (bench/offcpu_overhead.sh needs tens of seconds): make bench | | | |" | tee -a "$OUT"
elif [ -f bench/offcpu_overhead.sh ] && [ -f bench/offcpu_attach.c ]; then
	lim=900; [ "$SMOKE" = 1 ] && lim=20
	echo "\`bench/offcpu_overhead.sh $OFFCPU_ARGS\` (its own output, verbatim):" | tee -a "$OUT"
	# shellcheck disable=SC2086
	timeout "$lim" bash bench/offcpu_overhead.sh $OFFCPU_ARGS >"$TMP/off" 2>&1
	st=$?
	sed 's/^/    /' "$TMP/off" | tee -a "$OUT"
	[ "$st" = 0 ] || echo "(bench/offcpu_overhead.sh exited $st)" | tee -a "$OUT"
else
	echo "| off-CPU | skipped: bench/offcpu_overhead.sh not present | | | |" | tee -a "$OUT"
fi

# ---- 2b. syscall tracker ------------------------------------------------------
section "2b. Syscall tracker overhead (getppid loop)"
if [ "$SMOKE" = 1 ]; then
	echo "| syscall tracker | skipped in the smoke run (bench/syscall_overhead.sh needs a minute or more): make bench | | | |" | tee -a "$OUT"
elif [ -f bench/syscall_overhead.sh ] && [ -f bench/getppid_loop.c ]; then
	echo "\`bench/syscall_overhead.sh $SYSCALL_ARGS\` (its own output, verbatim):" | tee -a "$OUT"
	# shellcheck disable=SC2086
	BUILD=$BUILD timeout 900 bash bench/syscall_overhead.sh $SYSCALL_ARGS >"$TMP/sys" 2>&1
	st=$?
	sed 's/^/    /' "$TMP/sys" | tee -a "$OUT"
	[ "$st" = 0 ] || echo "(bench/syscall_overhead.sh exited $st)" | tee -a "$OUT"
else
	echo "| syscall tracker | skipped: bench/syscall_overhead.sh not present | | | |" | tee -a "$OUT"
fi

# ---- 3. symbolization ------------------------------------------------------------
section "3. Symbolization (bench/symbolize.c: random addresses in a large ELF)"
elf=""
for c in /usr/bin/node /usr/lib/x86_64-linux-gnu/libLLVM-15.so.1 /usr/lib/x86_64-linux-gnu/libLLVM-14.so.1 \
	/usr/lib/aarch64-linux-gnu/libLLVM-15.so.1 /usr/sbin/bpftool /usr/bin/bpftool /lib/x86_64-linux-gnu/libc.so.6; do
	[ -r "$c" ] && { elf=$c; break; }
done
for n in $SYM_N; do
	# addr2line batched costs ~1.4 ms per address on node: one repetition
	# of 100 000 is already ~2.5 min
	symreps=3
	if [ "$SMOKE" = 1 ] || [ "$n" -gt 10000 ]; then symreps=1; fi
	: >"$TMP/cold" ; : >"$TMP/warm" ; : >"$TMP/hit" ; : >"$TMP/a1" ; : >"$TMP/ab" ; : >"$TMP/x"
	for _ in $(seq "$symreps"); do
		"$B/symbolize" "$elf" "$n" "$SYM_M" >"$TMP/sym" 2>&1
		grep -q '^file:' "$TMP/sym" || { sed 's/^/    /' "$TMP/sym" | tee -a "$OUT"; break; }
		sed -n 's/^denet cold:.*(\([0-9.]*\) us\/address).*/\1/p' "$TMP/sym" >>"$TMP/cold"
		sed -n 's/^denet warm (lookup.*: \([0-9.]*\) ns\/address.*/\1/p' "$TMP/sym" >>"$TMP/warm"
		sed -n 's/^denet warm (result cache.*: \([0-9.]*\) ns\/address.*/\1/p' "$TMP/sym" >>"$TMP/hit"
		sed -n 's/^addr2line, one process per address.*: \([0-9.]*\) ms\/address/\1/p' "$TMP/sym" >>"$TMP/a1"
		sed -n 's/^addr2line, one process for all.*(\([0-9.]*\) us\/address)/\1/p' "$TMP/sym" >>"$TMP/ab"
	done
	file=$(sed -n 's/^file: \([^ ]*\).*/\1/p' "$TMP/sym")
	echo "file: $file; $(grep '^names vs' "$TMP/sym")" | tee -a "$OUT" >/dev/null
	row "N=$n denet cold (capture + load + resolve)" µs/address "$TMP/cold" "$B/symbolize $elf $n $SYM_M"
	row "N=$n denet warm, lookup" ns/address "$TMP/warm" "same"
	awk '$1 > 0 { printf "%.3f\n", 1000 / $1 }' "$TMP/warm" >"$TMP/x"
	row "N=$n denet warm, lookup" "M addresses/s" "$TMP/x" "same"
	row "N=$n denet warm, result cache" ns/address "$TMP/hit" "same"
	if [ -s "$TMP/a1" ]; then
		row "addr2line, one process per address ($SYM_M)" ms/address "$TMP/a1" "same"
		row "N=$n addr2line batched (one process)" µs/address "$TMP/ab" "same"
		paste "$TMP/a1" "$TMP/warm" | awk '$2 > 0 { printf "%.0f\n", $1 * 1e6 / $2 }' >"$TMP/x"
		row "N=$n addr2line per address / denet warm" × "$TMP/x" "(per repetition)"
		paste "$TMP/a1" "$TMP/cold" | awk '$2 > 0 { printf "%.0f\n", $1 * 1e3 / $2 }' >"$TMP/x"
		row "N=$n addr2line per address / denet cold" × "$TMP/x" "(per repetition)"
		paste "$TMP/ab" "$TMP/warm" | awk '$2 > 0 { printf "%.1f\n", $1 * 1e3 / $2 }' >"$TMP/x"
		row "N=$n addr2line batched / denet warm" × "$TMP/x" "(per repetition)"
	fi
done

# ---- 4. Lua ----------------------------------------------------------------------
section "4. Lua on the sample path (tree of 1 + 10 sleeping processes)"
start_tree 11
: >"$TMP/ln" ; : >"$TMP/lh" ; : >"$TMP/lr" ; : >"$TMP/l2"
for _ in $(seq "$REPS"); do
	"$DENET" bench/lua_hook.lua "$pid" "$LUA_ITERS" >"$TMP/lua" 2>&1
	n0=$(kv none_us <"$TMP/lua"); h=$(kv hook_us <"$TMP/lua"); r=$(kv rules100_us <"$TMP/lua")
	[ -n "$n0" ] || { sed 's/^/    /' "$TMP/lua" | tee -a "$OUT"; break; }
	echo "$n0" >>"$TMP/ln"
	awk -v a="$h" -v b="$n0" 'BEGIN { printf "%.3f\n", a - b }' >>"$TMP/lh"
	awk -v a="$r" -v b="$n0" 'BEGIN { printf "%.4f\n", (a - b) / 100 }' >>"$TMP/lr"
	awk -v a="$(kv hook2_us <"$TMP/lua")" -v b="$n0" 'BEGIN { printf "%.3f\n", a - b }' >>"$TMP/l2"
done
stop_tree "$pid"
row "sample, no hook (p:sample())" µs "$TMP/ln" "$DENET bench/lua_hook.lua PID $LUA_ITERS"
row "on(\"sample\") hook, per call" µs "$TMP/lh" "same (hook monitor − plain monitor)"
row "hook reading two fields, per call" µs "$TMP/l2" "same (rec.aggregated.mem_rss_kb + .cpu_usage)"
row "watch rule, per rule per sample" µs "$TMP/lr" "same ((100 rules − none) / 100)"

# ---- 5. footprint ------------------------------------------------------------------
section "5. Footprint: denet's peak RSS monitoring \`sleep $SLEEP\`"
echo 'local p = ... ; p:on("sample", function(rec) end)' >"$TMP/hook.lua"
: >"$TMP/m0" ; : >"$TMP/m1" ; : >"$TMP/m2"
ebpf_ok=1
for _ in $(seq "$([ "$SMOKE" = 1 ] && echo 1 || echo 3)"); do
	"$RUSAGE" "$DENET" --json --out /dev/null -q run sleep "$SLEEP" 2>&1 >/dev/null | kv maxrss_kb >>"$TMP/m0"
	"$RUSAGE" "$DENET" --json --out /dev/null -q -s "$TMP/hook.lua" run sleep "$SLEEP" 2>&1 >/dev/null | kv maxrss_kb >>"$TMP/m1"
	"$RUSAGE" "$DENET" --debug --json --out /dev/null -q --enable-ebpf run sleep "$SLEEP" >/dev/null 2>"$TMP/e"
	grep -qi 'ebpf.*\(fail\|not\|unavailable\)' "$TMP/e" && ebpf_ok=0
	kv maxrss_kb <"$TMP/e" >>"$TMP/m2"
done
row "plain" "kB" "$TMP/m0" "$RUSAGE $DENET --json --out /dev/null -q run sleep $SLEEP"
row "with a Lua hook (-s)" "kB" "$TMP/m1" "same, -s hook.lua (one empty on(\"sample\"))"
row "with --enable-ebpf$([ $ebpf_ok = 1 ] || echo ' (eBPF did not load: see --debug)')" "kB" "$TMP/m2" "same, --enable-ebpf"

# ---- 6. soak under churn ------------------------------------------------------------
printf '\n### 6. Bounded under churn (denet on bench/churn.sh, first vs last window)\n\n' | tee -a "$OUT"
echo "\`bench/soak.sh $SOAK\` (its own output, verbatim):" | tee -a "$OUT"
# shellcheck disable=SC2086
BUILD=$BUILD bash bench/soak.sh $SOAK >"$TMP/soak" 2>&1 || echo "(bench/soak.sh exited $?)" >>"$TMP/soak"
sed 's/^/    /' "$TMP/soak" | tee -a "$OUT"

# ---- 7. the process tree from the kernel (issue 13) ---------------------------------
# bench/ab_tree.sh with this build alone (it takes two binaries for an
# A/B against an older build: docs/performance.md says how).
printf '\n### 7. The process tree from the kernel (bench/ab_tree.sh, this build alone)\n\n' | tee -a "$OUT"
if [ "$SMOKE" = 1 ]; then
	ab_env=(AB_SIZES=100 AB_REPS=1 AB_SECS=2 AB_FORKS=500 AB_DAEMON_FORKS=100 AB_STORM_REPS=1)
else
	ab_env=("AB_SIZES=100 1000" AB_REPS=3 AB_SECS=10 AB_FORKS=5000 AB_DAEMON_FORKS=1000 AB_STORM_REPS=2)
fi
echo "\`${ab_env[*]} AB_PARTS='tree storm' bench/ab_tree.sh $DENET\`:" | tee -a "$OUT"
env "${ab_env[@]}" AB_PARTS="tree storm" AB_OUT="$TMP/ab.md" BUILD="$BUILD" bash bench/ab_tree.sh "$DENET" \
	>"$TMP/ab" 2>&1 || echo "(bench/ab_tree.sh exited $?)" >>"$TMP/ab"
sed -n '/^###/,$p' "$TMP/ab" | grep -v '^results:' | tee -a "$OUT"

echo
echo "results: $OUT"
exit 0
