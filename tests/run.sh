#!/bin/bash
# run.sh — runs every C unit test and busted spec and ends with one line
# "N passed, N failed, N skipped" counting them all (TAP from both).
# Env: BUILD (build dir), ONLY=unit|spec, VALGRIND=1 (unit tests and the
# binary under valgrind), SPEC=path (one spec file).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export DENET_BIN="$PWD/$BUILD/denet"
export DENET_HELPERS="$PWD/$BUILD/helpers"
export DENET_ROOT="$PWD"
export LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/tests/spec/?.lua;;"
export LUA_CPATH="$PWD/$BUILD/lua/?.so;;"
passed=0 failed=0 skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

count() { # reads TAP on stdin, echoes it, updates counters via the log
	while IFS= read -r line; do
		printf '%s\n' "$line"
		case "$line" in
		"not ok"*) echo F >>"$log" ;;
		ok*"# SKIP"* | ok*"# skip"* | ok*"# TODO"*) echo S >>"$log" ;;
		ok*) echo P >>"$log" ;;
		esac
	done
}

status=0
if [ "${ONLY:-unit}" = unit ] || [ -z "${ONLY:-}" ]; then
	for t in "$BUILD"/tests/test_*; do
		[ -x "$t" ] || continue
		echo "# unit: $t"
		if [ "${VALGRIND:-0}" = 1 ]; then
			valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect "$t" | count
		else
			"$t" | count
		fi
		rc=${PIPESTATUS[0]}
		if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
			echo "not ok - $t exited with status $rc (crash or valgrind error)"
			echo F >>"$log"
		fi
	done
fi
if [ "${ONLY:-spec}" = spec ] || [ -z "${ONLY:-}" ]; then
	if [ "${VALGRIND:-0}" = 1 ]; then export DENET_VALGRIND=1; fi
	echo "# spec: busted"
	# A sanitizer build runs busted under its own denet binary (a Lua
	# interpreter with denet.core built in), so the module is sanitized too.
	interp=lua5.4
	runner=/usr/bin/busted
	if [ "${SPEC_INTERP:-}" = denet ]; then
		interp="$DENET_BIN"
		runner="$BUILD/busted-runner.lua"
		cp /usr/bin/busted "$runner"
	fi
	"$interp" "$runner" --lpath="$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/tests/spec/?.lua" -o TAP ${SPEC:-tests/spec} 2>&1 | count
fi
passed=$(grep -c P "$log")
failed=$(grep -c F "$log")
skipped=$(grep -c S "$log")
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
