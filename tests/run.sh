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
# the work tree, the run cgroups of denet processes that have ended (in
# every hierarchy, below this shell's own cgroups: a v1 memory leaf sits
# deeper than /sys/fs/cgroup/*/, where an earlier glob never looked), and
# processes of this build's binaries still running.
tree_before=$(git status --porcelain --untracked-files=all 2>/dev/null)
# The directory of each cgroup named in /proc/PID/cgroup text (stdin), one
# per hierarchy, from this process's mountinfo: cgroup2 for "0::", else the
# v1 mount whose options hold the line's controllers.
cgroup_dirs() {
	awk 'NR == FNR {
		for (i = 7; i <= NF && $i != "-"; i++) ;
		if ($(i + 1) == "cgroup2") v2 = $5 "\t" $4
		else if ($(i + 1) == "cgroup") { opts[++n] = "," $(i + 3) ","; mnt[n] = $5 "\t" $4 }
		next
	}
	{
		split($0, f, ":"); path = substr($0, length(f[1]) + length(f[2]) + 3); m = ""
		if (f[1] == "0" && f[2] == "") m = v2
		else for (k = 1; k <= n && m == ""; k++) {
			ok = 1; c = split(f[2], cs, ",")
			for (j = 1; j <= c; j++) if (index(opts[k], "," cs[j] ",") == 0) ok = 0
			if (ok) m = mnt[k]
		}
		if (m == "") next
		split(m, mr, "\t"); root = mr[2]
		if (root != "/" && index(path, root) == 1) path = substr(path, length(root) + 1)
		sub(/\/$/, "", path)
		print mr[1] path
	}' /proc/self/mountinfo -
}
# Where denet makes its run cgroups: under its own cgroup in each hierarchy,
# which is this shell's (every denet of the suite runs below it). Only
# those: other sessions' cgroups are not this suite's business.
cg_parents=$(cgroup_dirs </proc/self/cgroup | sort -u)
# denet-PID-N run cgroups there whose creating denet has ended: no process
# PID, or a PID that now names a thread of another process (as denet's
# stale sweep judges). On a hybrid layout the cgroup2 parent may be shared
# with other sessions; their live runs are not counted (owner alive).
cgroups() {
	local parent d pid tgid
	while IFS= read -r parent; do
		for d in "$parent"/denet-*; do
			[ -d "$d" ] || continue
			pid=${d##*/denet-}
			pid=${pid%%-*}
			tgid=$(sed -n 's/^Tgid:[[:space:]]*//p' "/proc/$pid/status" 2>/dev/null)
			[ "$tgid" = "$pid" ] || echo "$d"
		done
	done <<<"$cg_parents"
}
cgroups_before=$(cgroups)
# The check must see where denet really puts a run: a command's own
# cgroups are leaves of these parents (or there is no run cgroup here).
cg_probe=$("$DENET_BIN" -q run -- cat /proc/self/cgroup 2>/dev/null | cgroup_dirs)

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
	local new parent probe_seen=0 probe_leaves=0 d nb na
	while IFS= read -r parent; do
		[ -n "$parent" ] && echo "# run cgroups counted in $parent"
	done <<<"$cg_parents"
	while IFS= read -r d; do
		case "${d##*/}" in denet-*) ;; *) continue ;; esac
		probe_leaves=$((probe_leaves + 1))
		grep -qxF "${d%/*}" <<<"$cg_parents" && probe_seen=$((probe_seen + 1))
	done <<<"$cg_probe"
	if [ "$probe_leaves" -eq 0 ]; then
		echo "ok $((n += 1)) - the cgroup count looks where denet makes run cgroups # SKIP denet makes no run cgroup here"
	elif [ "$probe_seen" -eq "$probe_leaves" ]; then
		echo "ok $((n += 1)) - the cgroup count looks where denet makes run cgroups ($probe_leaves of $probe_leaves leaves of a probe run)"
	else
		echo "not ok $((n += 1)) - the cgroup count looks where denet makes run cgroups ($probe_seen of $probe_leaves leaves of a probe run)"
		printf '%s\n' "$cg_probe" | sed 's/^/#   probe: /'
	fi
	new=$(comm -13 <(printf '%s\n' "$cgroups_before" | sort) <(cgroups | sort) | grep . || true)
	nb=$(printf '%s\n' "$cgroups_before" | grep -c . || true)
	na=$(cgroups | grep -c . || true)
	if [ -z "$new" ]; then
		echo "ok $((n += 1)) - no run cgroup outlives its denet ($nb before the suite, $na after)"
	else
		echo "not ok $((n += 1)) - no run cgroup outlives its denet ($nb before the suite, $na after)"
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
