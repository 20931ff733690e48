/*
 * cli.c — parses denet's command line into a struct dn_cli (see cli.h).
 *
 * It owns the option table, the value checks and every usage message; it
 * does no I/O. Options may come before or after the subcommand, except that
 * the words after `run CMD` belong to CMD and the words after SCRIPT.lua
 * belong to the script (as with `lua script.lua ARGS`); `--` ends options.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum opt_id {
	OPT_JSON,
	OPT_OUT,
	OPT_INTERVAL,
	OPT_MAX_INTERVAL,
	OPT_NO_UPDATE,
	OPT_DURATION,
	OPT_TIMEOUT,
	OPT_SINCE_START,
	OPT_EXCLUDE_CHILDREN,
	OPT_QUIET,
	OPT_STATS,
	OPT_EBPF,
	OPT_DEBUG,
	OPT_WRITE_ENV,
	OPT_NO_CGROUP,
	OPT_SCRIPT,
	OPT_OFFCPU_OUT,
	OPT_USER,
	OPT_HELP,
	OPT_VERSION,
};

struct opt {
	const char *name; /* long name, without "--" */
	char short_name;  /* 0: long only */
	bool has_value;
	enum opt_id id;
};

static const struct opt opts[] = {
	{"json", 'j', false, OPT_JSON},
	{"out", 'o', true, OPT_OUT},
	{"interval", 'i', true, OPT_INTERVAL},
	{"max-interval", 'm', true, OPT_MAX_INTERVAL},
	{"no-update", 'n', false, OPT_NO_UPDATE},
	{"duration", 'd', true, OPT_DURATION},
	{"timeout", 0, true, OPT_TIMEOUT},
	{"since-process-start", 0, false, OPT_SINCE_START},
	{"exclude-children", 0, false, OPT_EXCLUDE_CHILDREN},
	{"quiet", 'q', false, OPT_QUIET},
	{"stats", 0, true, OPT_STATS},
	{"enable-ebpf", 0, false, OPT_EBPF},
	{"debug", 0, false, OPT_DEBUG},
	{"write-env", 0, false, OPT_WRITE_ENV},
	{"no-cgroup", 0, false, OPT_NO_CGROUP},
	{"script", 's', true, OPT_SCRIPT},
	{"offcpu-out", 0, true, OPT_OFFCPU_OUT},
	{"user", 'u', true, OPT_USER},
	{"help", 'h', false, OPT_HELP},
	{"version", 'V', false, OPT_VERSION},
};

#define NOPTS (sizeof opts / sizeof opts[0])

const char dn_cli_usage[] =
	"Usage: denet [OPTIONS] run [--] CMD [ARGS...]  run CMD, monitor it and its descendants\n"
	"       denet [OPTIONS] attach PID              monitor a running process tree\n"
	"       denet [OPTIONS] stats FILE              summarize a recorded JSONL file (alias: "
	"summary)\n"
	"       denet report FILE [-o OUT.html]         HTML report with charts of a recorded run\n"
	"       denet SCRIPT.lua [ARGS...]              run a Lua script with the denet API\n"
	"       denet help | --help | --version\n"
	"\n"
	"Options (before or after the subcommand; `--` ends them):\n"
	"  -j, --json                 write JSON Lines (default: human-readable lines)\n"
	"  -o, --out FILE             write samples to FILE (report: the HTML file)\n"
	"  -i, --interval MS          first sampling interval in ms (default 100)\n"
	"  -m, --max-interval MS      longest adaptive sampling interval in ms (default 1000)\n"
	"  -n, --no-update            print each sample on a new line, not in place\n"
	"  -d, --duration SECS        stop monitoring after SECS, leave the command running\n"
	"                             (default 0 = until it exits)\n"
	"      --timeout SECS         end the command after SECS: SIGTERM, SIGKILL 5 s later;\n"
	"                             exit 124 (default 0 = none)\n"
	"      --since-process-start  count I/O and faults since process start, not since\n"
	"                             monitoring start\n"
	"      --exclude-children     monitor the process only, not its descendants\n"
	"  -q, --quiet                no per-sample output on the terminal\n"
	"      --stats FILE           write summary statistics to FILE at the end\n"
	"      --enable-ebpf          off-CPU profiling with eBPF (needs root or CAP_BPF)\n"
	"      --debug                diagnostics on stderr (eBPF, sampling)\n"
	"      --write-env            start the output with an `env` record (host, CPU, cgroup)\n"
	"      --no-cgroup            do not put the command in a cgroup of its own (exact\n"
	"                             totals then come from wait4 rusage only)\n"
	"  -s, --script FILE.lua      Lua hooks for a run or attach\n"
	"      --offcpu-out FILE      write off-CPU stacks to FILE, folded format\n"
	"  -u, --user NAME            run CMD as user NAME (name or uid) with its groups;\n"
	"                             under sudo the default is the invoking user\n"
	"                             (SUDO_UID); --user root keeps root\n"
	"  -h, --help                 show this help\n"
	"  -V, --version              show the version\n"
	"\n"
	"Exit status: the command's (128+N if killed by signal N), 124 on --timeout,\n"
	"126/127 if CMD cannot be run / is not found, 1 on denet errors, 2 on usage errors.\n";

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool is_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* A positive decimal integer without sign or spaces, at most `max`. */
static int parse_positive(const char *s, unsigned long max, unsigned long *out)
{
	if (!is_digits(s))
		return -EINVAL;
	errno = 0;
	unsigned long v = strtoul(s, NULL, 10);
	if (errno || v == 0 || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* A finite number of seconds >= 0 ("1", "0.5", ".5", "2e3"). */
static int parse_secs(const char *s, double *out)
{
	if (!((*s >= '0' && *s <= '9') || *s == '.'))
		return -EINVAL;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < 0)
		return -EINVAL;
	*out = v;
	return 0;
}

static const struct opt *find_long(const char *name, size_t len)
{
	for (size_t k = 0; k < NOPTS; k++)
		if (strlen(opts[k].name) == len && memcmp(opts[k].name, name, len) == 0)
			return &opts[k];
	return NULL;
}

static const struct opt *find_short(char c)
{
	for (size_t k = 0; k < NOPTS; k++)
		if (opts[k].short_name == c)
			return &opts[k];
	return NULL;
}

struct state {
	bool max_given;
	bool done; /* -h or -V seen: stop parsing */
};

/* Store one option's value; `val` is NULL for flags. */
static int apply(const struct opt *o, const char *val, struct dn_cli *cli, struct state *st,
		 char *err, size_t errlen)
{
	unsigned long ms;

	if (o->has_value && !*val)
		return fail(err, errlen, "--%s needs a value", o->name);
	switch (o->id) {
	case OPT_JSON: cli->json = true; break;
	case OPT_OUT: cli->out = val; break;
	case OPT_INTERVAL:
	case OPT_MAX_INTERVAL:
		if (parse_positive(val, UINT_MAX, &ms) < 0)
			return fail(err, errlen,
				    "--%s needs a positive number of milliseconds, got '%s'",
				    o->name, val);
		if (o->id == OPT_INTERVAL) {
			cli->interval_ms = (unsigned)ms;
		} else {
			cli->max_interval_ms = (unsigned)ms;
			st->max_given = true;
		}
		break;
	case OPT_NO_UPDATE: cli->no_update = true; break;
	case OPT_DURATION:
	case OPT_TIMEOUT:
		if (parse_secs(val, o->id == OPT_DURATION ? &cli->duration_secs
							  : &cli->timeout_secs) < 0)
			return fail(err, errlen, "--%s needs a number of seconds >= 0, got '%s'",
				    o->name, val);
		break;
	case OPT_SINCE_START: cli->since_process_start = true; break;
	case OPT_EXCLUDE_CHILDREN: cli->exclude_children = true; break;
	case OPT_QUIET: cli->quiet = true; break;
	case OPT_STATS: cli->stats_out = val; break;
	case OPT_EBPF: cli->enable_ebpf = true; break;
	case OPT_DEBUG: cli->debug = true; break;
	case OPT_WRITE_ENV: cli->write_env = true; break;
	case OPT_NO_CGROUP: cli->no_cgroup = true; break;
	case OPT_SCRIPT: cli->script = val; break;
	case OPT_OFFCPU_OUT: cli->offcpu_out = val; break;
	case OPT_USER: cli->user = val; break;
	case OPT_HELP:
		cli->command = DN_CMD_HELP;
		st->done = true;
		break;
	case OPT_VERSION:
		cli->command = DN_CMD_VERSION;
		st->done = true;
		break;
	}
	return 0;
}

/* argv[*i] starts with "--" and is not "--". May consume argv[*i + 1]. */
static int parse_long(int argc, char **argv, int *i, struct dn_cli *cli, struct state *st,
		      char *err, size_t errlen)
{
	const char *name = argv[*i] + 2;
	const char *eq = strchr(name, '=');
	size_t len = eq ? (size_t)(eq - name) : strlen(name);
	const struct opt *o = find_long(name, len);

	if (!o)
		return fail(err, errlen, "unknown option '--%.*s'", (int)len, name);
	if (!o->has_value) {
		if (eq)
			return fail(err, errlen, "--%s takes no value", o->name);
		return apply(o, NULL, cli, st, err, errlen);
	}
	if (eq)
		return apply(o, eq + 1, cli, st, err, errlen);
	if (*i + 1 >= argc)
		return fail(err, errlen, "--%s needs a value", o->name);
	return apply(o, argv[++*i], cli, st, err, errlen);
}

/* argv[*i] is "-x...": a bundle of flags, the last of which may take a value
 * (attached, "-i50", or the next word). May consume argv[*i + 1]. */
static int parse_short(int argc, char **argv, int *i, struct dn_cli *cli, struct state *st,
		       char *err, size_t errlen)
{
	for (const char *p = argv[*i] + 1; *p; p++) {
		const struct opt *o = find_short(*p);
		int rc;

		if (!o)
			return fail(err, errlen, "unknown option '-%c'", *p);
		if (!o->has_value) {
			rc = apply(o, NULL, cli, st, err, errlen);
			if (rc < 0 || st->done)
				return rc;
			continue;
		}
		if (p[1])
			return apply(o, p + 1, cli, st, err, errlen);
		if (*i + 1 >= argc)
			return fail(err, errlen, "--%s needs a value", o->name);
		return apply(o, argv[++*i], cli, st, err, errlen);
	}
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n > m && memcmp(s + n - m, suffix, m) == 0;
}

/* The first positional word: a subcommand or SCRIPT.lua. Sets *stop when the
 * rest of argv belongs to the script. */
static int parse_command(int argc, char **argv, int i, struct dn_cli *cli, const char **cmd_word,
			 bool *stop, char *err, size_t errlen)
{
	const char *w = argv[i];

	*cmd_word = w;
	if (strcmp(w, "run") == 0)
		cli->command = DN_CMD_RUN;
	else if (strcmp(w, "attach") == 0)
		cli->command = DN_CMD_ATTACH;
	else if (strcmp(w, "stats") == 0 || strcmp(w, "summary") == 0)
		cli->command = DN_CMD_STATS;
	else if (strcmp(w, "report") == 0)
		cli->command = DN_CMD_REPORT;
	else if (strcmp(w, "help") == 0)
		cli->command = DN_CMD_HELP;
	else if (ends_with(w, ".lua")) {
		cli->command = DN_CMD_SCRIPT;
		cli->file = w;
		cli->script_argv0 = i;
		cli->argv = argv + i + 1;
		cli->argc = argc - i - 1;
		*stop = true;
	} else
		return fail(err, errlen, "unknown command '%s' (see denet --help)", w);
	return 0;
}

/* A positional word after the subcommand. Sets *stop when the rest of argv
 * belongs to the command being run. */
static int parse_operand(int argc, char **argv, int i, struct dn_cli *cli, const char *cmd_word,
			 bool *stop, char *err, size_t errlen)
{
	const char *w = argv[i];
	unsigned long pid;

	switch (cli->command) {
	case DN_CMD_RUN:
		cli->argv = argv + i;
		cli->argc = argc - i;
		*stop = true;
		return 0;
	case DN_CMD_ATTACH:
		if (cli->attach_pid)
			return fail(err, errlen, "unexpected argument '%s' after attach PID", w);
		if (parse_positive(w, INT_MAX, &pid) < 0)
			return fail(err, errlen, "attach needs a PID, got '%s'", w);
		cli->attach_pid = (pid_t)pid;
		return 0;
	case DN_CMD_STATS:
	case DN_CMD_REPORT:
		if (cli->file)
			return fail(err, errlen, "unexpected argument '%s' after %s FILE", w,
				    cmd_word);
		cli->file = w;
		return 0;
	case DN_CMD_HELP: /* `denet help run`: the one help text covers it */ return 0;
	default: return fail(err, errlen, "unexpected argument '%s'", w);
	}
}

/* What the subcommand still lacks once argv is used up. */
static int check_complete(struct dn_cli *cli, const struct state *st, const char *cmd_word,
			  char *err, size_t errlen)
{
	switch (cli->command) {
	case DN_CMD_NONE:
		return fail(err, errlen,
			    "missing command: run, attach, stats, report or SCRIPT.lua "
			    "(see denet --help)");
	case DN_CMD_RUN:
		if (!cli->argv)
			return fail(err, errlen, "run needs a command");
		break;
	case DN_CMD_ATTACH:
		if (!cli->attach_pid)
			return fail(err, errlen, "attach needs a PID");
		break;
	case DN_CMD_STATS:
	case DN_CMD_REPORT:
		if (!cli->file)
			return fail(err, errlen, "%s needs a FILE", cmd_word);
		break;
	default: break;
	}
	if (cli->max_interval_ms < cli->interval_ms) {
		if (st->max_given)
			return fail(err, errlen,
				    "--max-interval (%u ms) must be >= --interval (%u ms)",
				    cli->max_interval_ms, cli->interval_ms);
		cli->max_interval_ms = cli->interval_ms;
	}
	return 0;
}

int dn_cli_parse(int argc, char **argv, struct dn_cli *cli, char *err, size_t errlen)
{
	struct state st = {0};
	const char *cmd_word = NULL;
	bool opts_done = false, stop = false;
	int rc;

	memset(cli, 0, sizeof *cli);
	cli->interval_ms = 100;
	cli->max_interval_ms = 1000;
	if (err && errlen)
		err[0] = '\0';

	for (int i = 1; i < argc && !stop; i++) {
		const char *a = argv[i];

		if (!opts_done && strcmp(a, "--") == 0) {
			opts_done = true;
			continue;
		}
		if (!opts_done && a[0] == '-' && a[1] != '\0') {
			if (a[1] == '-')
				rc = parse_long(argc, argv, &i, cli, &st, err, errlen);
			else
				rc = parse_short(argc, argv, &i, cli, &st, err, errlen);
			if (rc < 0)
				return rc;
			if (st.done)
				return 0;
			continue;
		}
		if (cli->command == DN_CMD_NONE)
			rc = parse_command(argc, argv, i, cli, &cmd_word, &stop, err, errlen);
		else
			rc = parse_operand(argc, argv, i, cli, cmd_word, &stop, err, errlen);
		if (rc < 0)
			return rc;
	}
	return check_complete(cli, &st, cmd_word, err, errlen);
}
