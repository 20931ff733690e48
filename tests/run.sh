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

# What the suite leaves behind is checked at the end (see leftovers below):
# the work tree, the run cgroups of denet processes that have ended, and
# processes of this build's binaries still running.
tree_before=$(git status --porcelain --untracked-files=all 2>/dev/null)
cgroups() { # denet-PID-N run cgroups whose creating denet has ended
	for d in /sys/fs/cgroup/*/denet-* /sys/fs/cgroup/denet-*; do
		[ -d "$d" ] || continue
		pid=${d##*/denet-}
		pid=${pid%%-*}
		[ -d "/proc/$pid" ] || echo "$d"
	done
}
cgroups_before=$(cgroups)

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
leftovers() {
	echo "# leftovers"
	local n=0
	if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		echo "ok $((n += 1)) - the suite leaves the work tree as it found it # SKIP not a git checkout"
	elif [ "$(git status --porcelain --untracked-files=all)" = "$tree_before" ]; then
		echo "ok $((n += 1)) - the suite leaves the work tree as it found it"
	else
		echo "not ok $((n += 1)) - the suite leaves the work tree as it found it"
		diff <(printf '%s\n' "$tree_before") <(git status --porcelain --untracked-files=all) | sed 's/^/#   /'
	fi
	local new
	new=$(comm -13 <(printf '%s\n' "$cgroups_before" | sort) <(cgroups | sort) | grep . || true)
	if [ -z "$new" ]; then
		echo "ok $((n += 1)) - no run cgroup outlives its denet"
	else
		echo "not ok $((n += 1)) - no run cgroup outlives its denet"
		printf '%s\n' "$new" | sed 's/^/#   left: /'
	fi
	sleep 0.2 # a command given SIGKILL at the very end is still being reaped
	# (by /proc/PID/exe, not pgrep: a minimal Debian has no procps)
	local procs="" p exe
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		case "$exe" in
		"$DENET_BIN" | "$DENET_HELPERS"/*)
			procs="$procs${procs:+$'\n'}${p#/proc/} $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)"
			;;
		esac
	done
	if [ -z "$procs" ]; then
		echo "ok $((n += 1)) - no process of this build outlives the suite"
	else
		echo "not ok $((n += 1)) - no process of this build outlives the suite"
		printf '%s\n' "$procs" | sed 's/^/#   running: /'
	fi
}
if [ -z "${ONLY:-}" ]; then
	leftovers | count
fi
passed=$(grep -c P "$log")
failed=$(grep -c F "$log")
skipped=$(grep -c S "$log")
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
