#!/bin/bash
# syscall_overhead.sh — added cost per syscall of denet's eBPF syscall
# tracker (issue 15), side by side in one run: a tight getppid loop
# (bench/getppid_loop.c, pinned to one CPU; one syscall per call)
#   alone       nothing attached
#   traced      the loop inside the tree denet traces:
#               denet -q --enable-ebpf --no-offcpu -o FILE run -- LOOP
#   bystander   denet traces another tree (run -- sleep 1000) while the
#               loop runs outside it: the cost of the in-kernel tgid filter
#   floor       bpftrace with empty programs on the same tracepoints, filtered
#               on another pid: the kernel's tracepoint path alone
#   bpftrace    raw_syscalls sys_enter/sys_exit filtered on the loop's pid:
#               a count and a latency histogram per syscall nr
# in REPS interleaved repetitions; prints the median and the minimum ns
# per call, the added cost per syscall (ns, from the medians; from the
# minima in brackets, less sensitive to other load on a shared machine)
# and its ratio to bpftrace's, then the targets: traced's added cost at
# most half bpftrace's, bystander's at most 100 ns.
# usage: bench/syscall_overhead.sh [SECS [REPS [CPU]]]   (default 3 5 1)
# Needs root and `make all` (BUILD=dir, default build); installs nothing
# (bpftrace: tools/deps.sh all). A denet without --no-offcpu (before the
# tracker) or whose trial run fails skips traced and bystander with the
# reason; no bpftrace or tracefs skips bpftrace.
set -eu
cd "$(dirname "$0")/.."
SECS=${1:-3} REPS=${2:-5} CPU=${3:-1}
BUILD=${BUILD:-build}
B=$BUILD/bench DENET=$BUILD/denet
LOOP=$B/getppid_loop
TMO=$(awk -v s="$SECS" 'BEGIN { print int(s * 4 + 60) }') # s to wait for one run's line
mkdir -p "$B"
cc -std=gnu11 -O2 -g -Wall -Wextra -o "$LOOP" bench/getppid_loop.c

out=$(mktemp -d /tmp/denet-sysbench.XXXXXX)
# shellcheck disable=SC2046 # one word per job
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$out"' EXIT

# the tracked tree of traced and bystander: this denet, syscalls only
denet_cmd() { echo "$DENET" -q --enable-ebpf --no-offcpu -o "$1" run --; }

have_denet=0 why_denet=
if [ ! -x "$DENET" ]; then
	why_denet="$DENET not built (make all)"
elif ! "$DENET" run --help 2>&1 | grep -q -- --no-offcpu; then
	why_denet="this denet has no --no-offcpu (the syscall tracker, issue 15, is not in it)"
elif ! $(denet_cmd "$out/trial.jsonl") "$LOOP" 0.3 -1 >/dev/null 2>"$out/trial.err"; then
	why_denet="trial run failed: $(tail -n 1 "$out/trial.err")"
elif ! grep -q '"syscalls"' "$out/trial.jsonl"; then
	why_denet="trial run recorded no aggregated.ebpf.syscalls ($(grep -o '"ebpf":{[^}]*}' "$out/trial.jsonl" | tail -n 1))"
else
	have_denet=1
fi
[ $have_denet = 1 ] || echo "# traced, bystander skipped: $why_denet" >&2

have_bpftrace=0 why_bpftrace=
if ! command -v bpftrace >/dev/null; then
	why_bpftrace="bpftrace not installed (tools/deps.sh all)"
else
	if [ ! -d /sys/kernel/tracing/events ]; then
		mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
	fi
	if [ -d /sys/kernel/tracing/events/raw_syscalls ]; then
		have_bpftrace=1
	else
		why_bpftrace="no tracefs with raw_syscalls (mount -t tracefs nodev /sys/kernel/tracing)"
	fi
fi
[ $have_bpftrace = 1 ] || echo "# bpftrace skipped: $why_bpftrace" >&2

# Wait up to $2 s for the file $1 to match the pattern $3.
wait_for() {
	for _ in $(seq $(($2 * 20))); do
		grep -q "$3" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# Stop the monitor $1 (a child): SIGINT, SIGKILL if it is still running 10 s on.
stop() {
	local st
	kill -INT "$1" 2>/dev/null || true
	for _ in $(seq 200); do
		st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || break
		[ -z "$st" ] || [ "$st" = Z ] && break
		sleep 0.05
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# One run of the loop in mode $1; prints ns per call (nothing if it failed).
run() {
	local mode=$1 mon="" other="" pid line
	if [ "$mode" = traced ]; then
		# shellcheck disable=SC2046 # denet_cmd's words
		coproc LP { exec $(denet_cmd "$out/traced.jsonl") "$LOOP" --wait-stdin "$SECS" "$CPU" 2>>"$out/denet.log"; }
	else
		coproc LP { exec "$LOOP" --wait-stdin "$SECS" "$CPU"; }
	fi
	local lp=$LP_PID rfd=${LP[0]} wfd=${LP[1]}
	read -r -t 30 _ pid <&"$rfd" || { echo "# $mode: the loop did not start" >&2; return; }
	case $mode in
	bystander)
		$(denet_cmd /dev/null) sleep 1000 >/dev/null 2>>"$out/denet.log" &
		mon=$!
		# denet loads and attaches before it starts the command
		for _ in $(seq 200); do
			other=$(pgrep -P "$mon" || true)
			[ -n "$other" ] && break
			sleep 0.05
		done
		;;
	bpftrace)
		: >"$out/bpftrace.out"
		bpftrace -e "tracepoint:raw_syscalls:sys_enter /pid == $pid/ { @s[tid] = nsecs; }
			tracepoint:raw_syscalls:sys_exit /@s[tid]/ { @c[args->id] = count();
			@h[args->id] = hist(nsecs - @s[tid]); delete(@s[tid]); }" \
			>"$out/bpftrace.out" 2>>"$out/bpftrace.log" &
		mon=$!
		wait_for "$out/bpftrace.out" 60 '^Attaching' || echo "# bpftrace did not attach in 60 s" >&2
		;;
	floor)
		# what any tracer of the raw syscall tracepoints costs a task it
		# does not trace: the kernel's tracepoint path, and a pid test
		: >"$out/floor.out"
		bpftrace -e "tracepoint:raw_syscalls:sys_enter /pid == 1/ { } tracepoint:raw_syscalls:sys_exit /pid == 1/ { }" \
			>"$out/floor.out" 2>>"$out/bpftrace.log" &
		mon=$!
		wait_for "$out/floor.out" 60 '^Attaching' || echo "# bpftrace did not attach in 60 s" >&2
		;;
	esac
	echo go >&"$wfd"
	read -r -t "$TMO" line <&"$rfd" || line=
	wait "$lp" 2>/dev/null || true
	# bystander: end its command first, then denet ends by itself
	[ -n "$other" ] && { kill "$other" 2>/dev/null || true; }
	[ -n "$mon" ] && stop "$mon"
	if [ "$mode" = traced ]; then
		# the tracker's own count beside the loop's, once per run
		local got
		got=$(grep -o '"name":"getppid","count":[0-9]*' "$out/traced.jsonl" | tail -n 1 | grep -o '[0-9]*$' || true)
		echo "# traced: loop made $(echo "$line" | sed -nE 's/.*\(([0-9]+) in .*/\1/p') getppid; denet's last record says ${got:-nothing (no top_syscalls getppid count found)}" >&2
	fi
	if [ "$mode" = bpftrace ] && ! grep -q '^@c\[' "$out/bpftrace.out"; then
		echo "# bpftrace printed no @c map: $(tail -n 1 "$out/bpftrace.log")" >&2
	fi
	echo "$line" | sed -nE 's/.* ([0-9.]+) ns per call.*/\1/p'
}

modes=alone
[ $have_denet = 1 ] && modes="$modes traced bystander"
[ $have_bpftrace = 1 ] && modes="$modes bpftrace floor"
for r in $(seq "$REPS"); do
	for m in $modes; do
		v=$(run "$m")
		[ -n "$v" ] && echo "$v" >>"$out/$m"
		printf '# rep %d %-10s %s ns/call\n' "$r" "$m" "${v:-failed}" >&2
	done
done

median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
minimum() { sort -n "$1" | head -n 1; }
[ -s "$out/alone" ] || { echo "syscall_overhead: the loop alone gave no figure" >&2; exit 1; }
base=$(median "$out/alone") mbase=$(minimum "$out/alone")
bt=0 mbt=0
[ -s "$out/bpftrace" ] && bt=$(median "$out/bpftrace") mbt=$(minimum "$out/bpftrace")
echo "getppid loop, $SECS s per run, $REPS interleaved repetitions, pinned to CPU $CPU"
printf '%-10s %18s %22s %18s\n' mode "ns/call med (min)" "+ns/syscall med (min)" "vs bpftrace (min)"
for m in alone traced bystander bpftrace floor; do
	if [ ! -s "$out/$m" ]; then
		case $m in
		traced | bystander) printf '%-10s skipped: %s\n' "$m" "${why_denet:-every run failed}" ;;
		bpftrace | floor) printf '%-10s skipped: %s\n' "$m" "${why_bpftrace:-every run failed}" ;;
		esac
		continue
	fi
	awk -v m="$m" -v v="$(median "$out/$m")" -v mv="$(minimum "$out/$m")" -v b="$base" \
		-v mb="$mbase" -v bt="$bt" -v mbt="$mbt" 'BEGIN {
		add = v - b; addbt = bt - b; madd = mv - mb; maddbt = mbt - mb
		r = (addbt > 0 && m != "alone") ? sprintf("%.2f", add / addbt) : "-"
		mr = (maddbt > 0 && m != "alone") ? sprintf("%.2f", madd / maddbt) : "-"
		printf "%-10s %9.1f (%6.1f) %12.1f (%7.1f) %9s (%5s)\n", m, v, mv, add, madd, r, mr }'
done
# the targets, from the medians
if [ -s "$out/traced" ] && [ -s "$out/bpftrace" ]; then
	awk -v t="$(median "$out/traced")" -v bt="$bt" -v b="$base" 'BEGIN {
		a = t - b; ab = bt - b
		printf "target traced added <= 1/2 of bpftrace added: %.1f vs %.1f ns, ratio %.2f: %s\n",
			a, ab, (ab > 0 ? a / ab : 0), ((ab > 0 && a <= ab / 2) ? "met" : "missed") }'
fi
if [ -s "$out/bystander" ]; then
	awk -v y="$(median "$out/bystander")" -v b="$base" 'BEGIN {
		printf "target bystander added <= 100 ns: %.1f ns: %s\n", y - b, ((y - b <= 100) ? "met" : "missed") }'
	if [ -s "$out/floor" ]; then
		awk -v y="$(median "$out/bystander")" -v f="$(median "$out/floor")" -v my="$(minimum "$out/bystander")" \
			-v mf="$(minimum "$out/floor")" 'BEGIN {
			printf "bystander beyond the floor (a tracer of the same tracepoints that does nothing): %.1f ns (min %.1f)\n", y - f, my - mf }'
	fi
fi
[ -s "$out/denet.log" ] && tail -n 1 "$out/denet.log" | sed 's/^/# denet: /'
exit 0
