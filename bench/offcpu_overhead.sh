#!/bin/bash
# offcpu_overhead.sh — added cost per context switch of the eBPF off-CPU
# profiler, side by side in one run: a pipe ping-pong (bench/pingpong.c,
# both processes pinned to one CPU: each round trip is two switches)
#   alone       nothing attached
#   tracked     bench/offcpu_attach tracking the ping-pong (user + kernel stacks)
#   tracked-u   the same, user stacks only (nokstack)
#   unrelated   offcpu_attach tracking another (sleeping) process
#   bpftrace    sched_switch: @[kstack, ustack, comm] = count()  (all tasks)
# in REPS interleaved repetitions; prints the median and the minimum µs per
# round trip and the added cost per switch (µs, from the medians; from the
# minima in brackets, less sensitive to other load on a shared machine) and
# as a ratio to bpftrace's.
# usage: bench/offcpu_overhead.sh [SECS [REPS [CPU]]]   (default 3 5 1)
# Needs root, `make all`; installs nothing (bpftrace: apt-get install bpftrace;
# its tracepoint needs tracefs: mount -t tracefs nodev /sys/kernel/tracing).
set -eu
cd "$(dirname "$0")/.."
SECS=${1:-3} REPS=${2:-5} CPU=${3:-1}
B=build/bench
mkdir -p "$B"
CFLAGS="-std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra"
cc -O2 -Wall -o "$B/pingpong" bench/pingpong.c
cc $CFLAGS -Iengine -Ibuild/gen -o "$B/offcpu_attach" bench/offcpu_attach.c \
		build/libdenet.a -lbpf -lelf -ldw -lz

have_bpftrace=0
if command -v bpftrace >/dev/null; then
	if [ ! -d /sys/kernel/tracing/events ]; then
		mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
	fi
	[ -d /sys/kernel/tracing/events/sched ] && have_bpftrace=1
fi
[ $have_bpftrace = 1 ] || echo "# bpftrace or tracefs missing: bpftrace column skipped" >&2

out=$(mktemp -d)
trap 'rm -rf "$out"; kill $(jobs -p) 2>/dev/null || true' EXIT

# one run of pingpong with a monitor started by $1 ("" = alone); prints µs/rt
run() {
	local mode=$1 pp mon=
	coproc PP { exec taskset -c "$CPU" "$B/pingpong" "$SECS" 3000 "$CPU"; }
	local ppid=$PP_PID
	read -r _ pp <&"${PP[0]}" # "pid P"
	case $mode in
	alone) ;;
	tracked | tracked-u)
		"$B/offcpu_attach" "$pp" $([ $mode = tracked-u ] && echo nokstack) \
			>"$out/attach" 2>>"$out/attach.log" &
		mon=$!
		;;
	unrelated)
		sleep 1000 &
		local other=$!
		"$B/offcpu_attach" "$other" >"$out/attach" 2>>"$out/attach.log" &
		mon=$!
		;;
	bpftrace)
		bpftrace -e 'tracepoint:sched:sched_switch { @[kstack, ustack, comm] = count(); }' \
			>/dev/null 2>>"$out/bpftrace.log" &
		mon=$!
		;;
	esac
	local line
	read -r line <&"${PP[0]}"
	wait "$ppid" 2>/dev/null || true
	if [ -n "$mon" ]; then
		kill -INT "$mon" 2>/dev/null || true
		wait "$mon" 2>/dev/null || true
	fi
	[ "$mode" = unrelated ] && { kill "$other" 2>/dev/null; wait "$other" 2>/dev/null || true; }
	echo "$line" | sed -E 's/.* ([0-9.]+) us per round trip.*/\1/'
}

modes="alone tracked tracked-u unrelated"
[ $have_bpftrace = 1 ] && modes="$modes bpftrace"
for r in $(seq "$REPS"); do
	for m in $modes; do
		v=$(run $m)
		echo "$v" >>"$out/$m"
		printf '# rep %d %-10s %s us/rt\n' "$r" "$m" "$v" >&2
	done
done

median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
minimum() { sort -n "$1" | head -n 1; }
base=$(median "$out/alone") mbase=$(minimum "$out/alone")
bt=0 mbt=0
[ $have_bpftrace = 1 ] && bt=$(median "$out/bpftrace") mbt=$(minimum "$out/bpftrace")
printf '%-10s %16s %20s %18s\n' mode "us/rt med (min)" "+us/switch med (min)" "vs bpftrace (min)"
for m in $modes; do
	awk -v m="$m" -v v="$(median "$out/$m")" -v mv="$(minimum "$out/$m")" -v b="$base" \
		-v mb="$mbase" -v bt="$bt" -v mbt="$mbt" 'BEGIN {
		add = (v - b) / 2; addbt = (bt - b) / 2; madd = (mv - mb) / 2; maddbt = (mbt - mb) / 2
		r = (addbt > 0 && m != "alone") ? sprintf("%.2f", add / addbt) : "-"
		mr = (maddbt > 0 && m != "alone") ? sprintf("%.2f", madd / maddbt) : "-"
		printf "%-10s %8.3f (%6.3f) %10.3f (%7.3f) %9s (%5s)\n", m, v, mv, add, madd, r, mr }'
done
[ -s "$out/attach.log" ] && tail -n 1 "$out/attach.log" | sed 's/^/# /'
exit 0
