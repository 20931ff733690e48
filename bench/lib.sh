# shellcheck shell=bash
# bench/lib.sh — the table helpers bench/run.sh and bench/ab_tree.sh share
# (sourced; they write to "$OUT", which the caller sets).

# Numbers on stdin -> "median min max n" (empty input -> "- - - 0").
stats() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "- - - 0"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.4g %.4g %.4g %d\n", m, v[1], v[NR], NR }'
}

# The value of key=VALUE in a line.
kv() { sed -n "s/.*\\b$1=\\([-0-9.e+]*\\).*/\\1/p" | head -1; }

# row FIGURE UNIT FILE COMMAND: one table row from the numbers in FILE.
row() {
	local s med min max n
	s=$(stats <"$3")
	read -r med min max n <<<"$s"
	# shellcheck disable=SC2016 # the backquotes are Markdown
	printf '| %s | %s %s | %s – %s | %s | `%s` |\n' "$1" "$med" "$2" "$min" "$max" "$n" "$4" | tee -a "$OUT"
}

# ratio A_FILE B_FILE OUT_FILE: per-repetition A/B.
ratio() { paste "$1" "$2" | awk '$1 != "" && $2 + 0 > 0 { printf "%.4f\n", $1 / $2 }' >"$3"; }

section() { printf '\n### %s\n\n| figure | median | spread (min – max) | reps | command |\n|---|---|---|---|---|\n' "$1" | tee -a "$OUT"; }
