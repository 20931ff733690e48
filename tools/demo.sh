#!/bin/sh
# demo.sh — denet's built-in demo, run by `make demo` as
#
#     tools/demo.sh build/denet
#
# It monitors a small workload of its own (a shell that starts CPU workers,
# a process that allocates 100 MiB, and a dd that writes a file), records
# the run as JSON Lines next to the binary (build/demo.jsonl), then prints
# `denet stats` of the recording. Takes about 5 s; needs no terminal (on a
# terminal denet shows a status line, elsewhere one line per sample).
set -eu

DENET=${1:-build/denet}
if [ ! -x "$DENET" ]; then
	echo "demo: no denet binary at '$DENET' (run make first)" >&2
	exit 1
fi
OUTDIR=$(dirname "$DENET")
JSONL=$OUTDIR/demo.jsonl
DATA=$OUTDIR/demo.dat
trap 'rm -f "$DATA"' EXIT INT TERM

# The workload, as one shell command: every process it starts is a
# descendant of that shell, so denet sees the whole tree.
if command -v python3 >/dev/null 2>&1; then
	ALLOC='python3 -c "import time; b = bytearray(b\"x\") * (100 << 20); time.sleep(1.2)"'
else
	ALLOC='head -c 100M /dev/zero | tail -c 100M >/dev/null'
fi
WORKLOAD="
echo 'demo: phase 1: two CPU workers for 1.5 s'
timeout 1.5 sh -c 'while :; do :; done' &
timeout 1.5 sh -c 'while :; do :; done' &
wait
echo 'demo: phase 2: allocate 100 MiB'
$ALLOC
echo 'demo: phase 3: write 32 MiB with dd'
dd if=/dev/zero of='$DATA' bs=1M count=32 conv=fsync status=none
sleep 0.5
echo 'demo: workload done'
"

# A status line on a terminal; one line per sample otherwise (CI logs).
MODE=-n
if [ -t 2 ]; then MODE=; fi

echo "demo: $DENET $MODE --out $JSONL run -- sh -c '<workload>'"
# shellcheck disable=SC2086
"$DENET" $MODE --out "$JSONL" run -- sh -c "$WORKLOAD"

echo
echo "demo: $DENET stats $JSONL"
"$DENET" stats "$JSONL"

echo
echo "demo: the recording is $JSONL ($(wc -l <"$JSONL") JSON lines: metadata, tree samples, exit)"
echo "demo: try   $DENET stats --json $JSONL"
echo "demo:       tail -n 1 $JSONL        # the exit record, exact kernel totals"
