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
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "version.h"

enum opt_id {
	OPT_JSON,
	OPT_OUT,
	OPT_INTERVAL,
	OPT_MAX_INTERVAL,
	OPT_NO_UPDATE,
	OPT_DURATION,
	OPT_TIMEOUT,
	OPT_WAIT_ALL,
	OPT_SINCE_START,
	OPT_EXCLUDE_CHILDREN,
	OPT_QUIET,
	OPT_STATS,
	OPT_EBPF,
	OPT_DEBUG,
	OPT_WRITE_ENV,
	OPT_NO_CGROUP,
	OPT_NO_FORK_EVENTS,
	OPT_NO_BPF_SAMPLER,
	OPT_NO_OFFCPU,
	OPT_NO_SYSCALLS,
	OPT_SAMPLER,
	OPT_SCRIPT,
	OPT_OFFCPU_OUT,
	OPT_COUNTERS,
	OPT_USER,
	OPT_HELP,
	OPT_VERSION,
};

/* Which commands an option means something to (its help lists it there). */
#define FOR_RUN	    (1u << DN_CMD_RUN)
#define FOR_ATTACH  (1u << DN_CMD_ATTACH)
#define FOR_STATS   (1u << DN_CMD_STATS)
#define FOR_REPORT  (1u << DN_CMD_REPORT)
#define FOR_MONITOR (FOR_RUN | FOR_ATTACH)
#define FOR_ALL	    (FOR_MONITOR | FOR_STATS | FOR_REPORT)
/* Tuning: listed in its commands' help (`denet run --help`), not in the
 * general one, which must fit one screen. */
#define TUNING (1u << 31)

struct opt {
	const char *name; /* long name, without "--" */
	char short_name;  /* 0: long only */
	bool has_value;
	enum opt_id id;
	const char *metavar; /* the value's name in the help */
	unsigned cmds;	     /* FOR_* mask; 0: the general help only */
	const char *help;    /* one line */
};

static const struct opt opts[] = {
	{"json", 'j', false, OPT_JSON, NULL, FOR_MONITOR | FOR_STATS,
	 "Write the records on stdout as JSON Lines (stats: JSON)"},
	{"out", 'o', true, OPT_OUT, "FILE", FOR_MONITOR | FOR_REPORT,
	 "Write every record to FILE, - for stdout (report: the HTML)"},
	{"interval", 'i', true, OPT_INTERVAL, "MS", FOR_MONITOR,
	 "First sampling interval in ms [default 100]"},
	{"max-interval", 'm', true, OPT_MAX_INTERVAL, "MS", FOR_MONITOR,
	 "Longest adaptive sampling interval in ms [default 1000]"},
	{"no-update", 'n', false, OPT_NO_UPDATE, NULL, FOR_MONITOR,
	 "Print each sample on a new line instead of updating in place"},
	{"duration", 'd', true, OPT_DURATION, "SECS", FOR_MONITOR,
	 "Stop monitoring after SECS, the command runs on [default 0: none]"},
	{"timeout", 0, true, OPT_TIMEOUT, "SECS", FOR_RUN,
	 "SIGTERM the command after SECS, SIGKILL 5 s on [default 0: none]"},
	{"wait-all", 0, false, OPT_WAIT_ALL, NULL, FOR_MONITOR,
	 "Monitor until the command's children are gone too, not just it"},
	{"since-process-start", 0, false, OPT_SINCE_START, NULL, FOR_MONITOR,
	 "Count I/O and faults from process start, not monitoring start"},
	{"exclude-children", 0, false, OPT_EXCLUDE_CHILDREN, NULL, FOR_MONITOR,
	 "Monitor the process only, not its descendants"},
	{"quiet", 'q', false, OPT_QUIET, NULL, FOR_MONITOR,
	 "No status line, no summary, no JSON on stdout"},
	{"stats", 0, true, OPT_STATS, "FILE", FOR_MONITOR | FOR_STATS,
	 "Write the summary statistics to FILE at the end, - for stdout"},
	{"enable-ebpf", 0, false, OPT_EBPF, NULL, FOR_MONITOR,
	 "Off-CPU profile and syscall tracking with eBPF (root or CAP_BPF+CAP_PERFMON)"},
	{"no-offcpu", 0, false, OPT_NO_OFFCPU, NULL, FOR_MONITOR | TUNING,
	 "With --enable-ebpf: no off-CPU profile, syscalls only"},
	{"no-syscalls", 0, false, OPT_NO_SYSCALLS, NULL, FOR_MONITOR | TUNING,
	 "With --enable-ebpf: no syscall tracking, off-CPU only"},
	{"offcpu-out", 0, true, OPT_OFFCPU_OUT, "FILE", FOR_MONITOR,
	 "Write the off-CPU stacks to FILE (implies --enable-ebpf)"},
	{"counters", 0, false, OPT_COUNTERS, NULL, FOR_RUN | TUNING,
	 "Count context switches, migrations, faults, CPU time with perf events"},
	{"debug", 0, false, OPT_DEBUG, NULL, FOR_MONITOR,
	 "Print the cost of each sample on stderr"},
	{"write-env", 0, false, OPT_WRITE_ENV, NULL, FOR_MONITOR,
	 "Write an `env` record (host, kernel, CPU, cgroup) after metadata"},
	{"no-cgroup", 0, false, OPT_NO_CGROUP, NULL, FOR_MONITOR,
	 "Do not use a cgroup for the exact totals"},
	{"no-fork-events", 0, false, OPT_NO_FORK_EVENTS, NULL, FOR_MONITOR,
	 "Do not follow the kernel's fork events (counts from samples)"},
	{"sampler", 0, true, OPT_SAMPLER, "MODE", FOR_MONITOR | TUNING,
	 "Read the tree through bpf (the task iterator) or proc [default auto: the cheaper]"},
	{"no-bpf-sampler", 0, false, OPT_NO_BPF_SAMPLER, NULL, FOR_MONITOR | TUNING,
	 "The same as --sampler proc"},
	{"script", 's', true, OPT_SCRIPT, "FILE.lua", FOR_MONITOR,
	 "Load FILE.lua as Lua hooks for this run or attach"},
	{"user", 'u', true, OPT_USER, "NAME", FOR_RUN,
	 "Run the command as user NAME or uid (root only; sudo: SUDO_UID)"},
	{"help", 'h', false, OPT_HELP, NULL, FOR_ALL,
	 "Print help (`denet COMMAND --help`: the command's)"},
	{"version", 'V', false, OPT_VERSION, NULL, 0, "Print version"},
};

#define NOPTS (sizeof opts / sizeof opts[0])

/* ---- help ---------------------------------------------------------------
 * In the layout of clap (upstream denet's parser): a line saying what it
 * does, `Usage:`, `Commands:` or `Arguments:`, `Options:`. The option lines
 * come from the table above, so the help cannot drift from the parser. */

struct cmd_help {
	enum dn_cli_command cmd;
	const char *entry; /* its line in the general help's Commands list */
	const char *about;
	const char *usage; /* "Usage: " lines after the first, indented */
	const char *args;  /* the Arguments section */
	const char *exit_status;
};

#define EXIT_RUN                                                                        \
	"Exit status: the command's (128+N if killed by signal N), 124 on --timeout,\n" \
	"126/127: CMD cannot run/not found; 141: stdout closed; 1: denet error; 2: usage.\n"

static const struct cmd_help cmd_helps[] = {
	{DN_CMD_RUN,
	 "  run [--] CMD [ARGS...]  Run and monitor a new process and its descendants\n",
	 "Run and monitor a new process and its descendants (until it exits)\n",
	 "denet [OPTIONS] run [--] CMD [ARGS...]\n",
	 "  CMD [ARGS...]  The command, searched in PATH; every word after CMD is its own\n",
	 EXIT_RUN},
	{DN_CMD_ATTACH, "  attach PID              Monitor an existing process by PID\n",
	 "Monitor an existing process by PID, and its descendants\n",
	 "denet [OPTIONS] attach PID\n",
	 "  PID  The process to watch until it exits, --duration passes or denet is signalled\n",
	 "Exit status: 0 (the process is not denet's child: its status is unknown),\n"
	 "141 if stdout was closed under the JSON records, 1 on denet errors, 2 on usage "
	 "errors.\n"},
	{DN_CMD_STATS,
	 "  stats FILE              Generate statistics from a recorded JSONL file (alias: "
	 "summary)\n",
	 "Generate statistics from a recorded JSONL file (upstream denet 0.6.1's summary)\n",
	 "denet [OPTIONS] stats FILE\n       denet [OPTIONS] summary FILE\n",
	 "  FILE  A JSONL file recorded by denet (-o, -j) or by denet 0.6.1\n",
	 "Exit status: 0; 1 if FILE cannot be read or holds neither samples nor an\n"
	 "exit record; 2 on usage errors.\n"},
	{DN_CMD_REPORT,
	 "  report FILE             Generate an HTML report with charts from a recorded JSONL "
	 "file\n",
	 "Generate an HTML report with charts from a recorded JSONL file\n",
	 "denet report [-o OUT.html] FILE\n",
	 "  FILE  A JSONL file recorded by denet or by denet 0.6.1\n",
	 "Exit status: 0; 1 if FILE cannot be read or holds no samples, or OUT.html\n"
	 "cannot be written; 2 on usage errors.\n"},
};

/* What an option says in some commands' help, where the general line
 * would not fit them. The first match wins. */
static const struct {
	unsigned cmds;
	enum opt_id id;
	const char *help;
} opt_overrides[] = {
	{FOR_MONITOR, OPT_JSON, "Write the records on stdout as JSON Lines"},
	{FOR_MONITOR, OPT_OUT, "Write every record to FILE as JSON Lines, - for stdout"},
	{FOR_STATS, OPT_JSON, "Print one JSON object instead of the table"},
	{FOR_STATS, OPT_STATS, "Also write that JSON object to FILE"},
	{FOR_REPORT, OPT_OUT, "Write the report to FILE [default: FILE, .jsonl -> .html]"},
	{FOR_ATTACH, OPT_NO_CGROUP, "Do not use the process's cgroup for exact CPU"},
	{FOR_RUN, OPT_NO_CGROUP, "Do not put the command in a cgroup of its own"},
	{FOR_ALL, OPT_HELP, "Print help"},
};

struct text {
	char *buf;
	size_t cap, len; /* len counts what did not fit too, as snprintf does */
};

static void put(struct text *t, const char *s, size_t n)
{
	if (t->len < t->cap) {
		size_t room = t->cap - t->len - 1;
		memcpy(t->buf + t->len, s, n < room ? n : room);
		t->buf[t->len + (n < room ? n : room)] = '\0';
	}
	t->len += n;
}

static void puts_(struct text *t, const char *s)
{
	put(t, s, strlen(s));
}

static void putf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(struct text *t, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n > 0)
		put(t, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static bool listed(const struct opt *o, enum dn_cli_command topic)
{
	if (topic == DN_CMD_NONE)
		return !(o->cmds & TUNING);
	return o->cmds & (1u << topic);
}

/* "-j, --json" or "    --timeout SECS" */
static void opt_label(const struct opt *o, char *buf, size_t len)
{
	char sh[8] = "   ";
	if (o->short_name)
		snprintf(sh, sizeof sh, "-%c,", o->short_name);
	snprintf(buf, len, "%s --%s%s%s", sh, o->name, o->metavar ? " " : "",
		 o->metavar ? o->metavar : "");
}

static void put_options(struct text *t, enum dn_cli_command topic)
{
	char label[64];
	int width = 0;
	for (size_t k = 0; k < NOPTS; k++) {
		if (!listed(&opts[k], topic))
			continue;
		opt_label(&opts[k], label, sizeof label);
		if ((int)strlen(label) > width)
			width = (int)strlen(label);
	}
	for (size_t k = 0; k < NOPTS; k++) {
		const struct opt *o = &opts[k];
		if (!listed(o, topic))
			continue;
		const char *help = o->help;
		for (size_t v = 0; v < sizeof opt_overrides / sizeof opt_overrides[0]; v++)
			if (topic != DN_CMD_NONE && (opt_overrides[v].cmds & (1u << topic)) &&
			    opt_overrides[v].id == o->id) {
				help = opt_overrides[v].help;
				break;
			}
		opt_label(o, label, sizeof label);
		putf(t, "  %-*s  %s\n", width, label, help);
	}
}

static const struct cmd_help *find_help(enum dn_cli_command cmd)
{
	for (size_t k = 0; k < sizeof cmd_helps / sizeof cmd_helps[0]; k++)
		if (cmd_helps[k].cmd == cmd)
			return &cmd_helps[k];
	return NULL;
}

int dn_cli_help(enum dn_cli_command topic, char *buf, size_t len)
{
	struct text t = {buf, len, 0};
	const struct cmd_help *h = find_help(topic);
	if (buf && len)
		buf[0] = '\0';
	if (h) {
		puts_(&t, h->about);
		puts_(&t, "\nUsage: ");
		puts_(&t, h->usage);
		puts_(&t, "\nArguments:\n");
		puts_(&t, h->args);
		puts_(&t, "\nOptions:\n");
		put_options(&t, topic);
		puts_(&t, "\n");
		puts_(&t, h->exit_status);
		return (int)t.len;
	}
	puts_(&t,
	      "denet " DN_VERSION " - a simple process monitor: CPU, memory, I/O and network of a "
	      "process tree\n"
	      "\n"
	      "Usage: denet [OPTIONS] COMMAND [ARGS...]\n"
	      "       denet SCRIPT [ARGS...]\n"
	      "\n"
	      "Commands:\n");
	for (size_t k = 0; k < sizeof cmd_helps / sizeof cmd_helps[0]; k++)
		puts_(&t, cmd_helps[k].entry);
	puts_(&t,
	      "  help [COMMAND]          Print this help, or the help of COMMAND\n"
	      "  SCRIPT [ARGS...]        Run a Lua script with the denet API: SCRIPT.lua, or any\n"
	      "                          readable file that is not a command (#!/usr/bin/env "
	      "denet)\n"
	      "\n"
	      "Options (before or after the command; `--` ends them):\n");
	put_options(&t, DN_CMD_NONE);
	puts_(&t, "\n" EXIT_RUN);
	return (int)t.len;
}

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
	case OPT_NO_OFFCPU: cli->no_offcpu = true; break;
	case OPT_NO_SYSCALLS: cli->no_syscalls = true; break;
	case OPT_DEBUG: cli->debug = true; break;
	case OPT_WRITE_ENV: cli->write_env = true; break;
	case OPT_NO_CGROUP: cli->no_cgroup = true; break;
	case OPT_NO_FORK_EVENTS: cli->no_fork_events = true; break;
	case OPT_NO_BPF_SAMPLER: cli->sampler = 2; break;
	case OPT_SAMPLER:
		if (strcmp(val, "auto") == 0)
			cli->sampler = 0;
		else if (strcmp(val, "bpf") == 0)
			cli->sampler = 1;
		else if (strcmp(val, "proc") == 0)
			cli->sampler = 2;
		else
			return fail(err, errlen, "--sampler takes auto, bpf or proc, not '%s'",
				    val);
		break;
	case OPT_WAIT_ALL: cli->wait_all = true; break;
	case OPT_SCRIPT: cli->script = val; break;
	case OPT_OFFCPU_OUT: cli->offcpu_out = val; break;
	case OPT_COUNTERS: cli->counters = true; break;
	case OPT_USER: cli->user = val; break;
	case OPT_HELP:
		/* `denet run --help`: run's help; `denet help --help`: the
		 * topic already given stays */
		if (cli->command != DN_CMD_HELP)
			cli->help_topic = cli->command;
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

/* A subcommand's name (`summary` is `stats`), or DN_CMD_NONE. */
static enum dn_cli_command command_named(const char *w)
{
	if (strcmp(w, "run") == 0)
		return DN_CMD_RUN;
	if (strcmp(w, "attach") == 0)
		return DN_CMD_ATTACH;
	if (strcmp(w, "stats") == 0 || strcmp(w, "summary") == 0)
		return DN_CMD_STATS;
	if (strcmp(w, "report") == 0)
		return DN_CMD_REPORT;
	if (strcmp(w, "help") == 0)
		return DN_CMD_HELP;
	return DN_CMD_NONE;
}

/* A script without the .lua extension: `#!/usr/bin/env denet` makes the
 * kernel run `denet /path/to/script ARGS`. Any readable regular file. */
static bool is_readable_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
}

/* The first positional word: a subcommand or a script. Sets *stop when the
 * rest of argv belongs to the script. */
static int parse_command(int argc, char **argv, int i, struct dn_cli *cli, const char **cmd_word,
			 bool *stop, char *err, size_t errlen)
{
	const char *w = argv[i];

	*cmd_word = w;
	cli->command = command_named(w);
	if (cli->command != DN_CMD_NONE)
		return 0;
	if (!ends_with(w, ".lua") && !is_readable_file(w))
		return fail(err, errlen, "unknown command '%s' (see denet --help)", w);
	cli->command = DN_CMD_SCRIPT;
	cli->file = w;
	cli->script_argv0 = i;
	cli->argv = argv + i + 1;
	cli->argc = argc - i - 1;
	*stop = true;
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
	case DN_CMD_HELP: {
		/* `denet help run`: run's help; later words are not looked at */
		enum dn_cli_command topic = command_named(w);
		if (cli->help_topic != DN_CMD_NONE)
			return 0;
		if (topic == DN_CMD_NONE)
			return fail(err, errlen, "unknown command '%s' (see denet --help)", w);
		if (topic != DN_CMD_HELP)
			cli->help_topic = topic;
		return 0;
	}
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
	if ((cli->no_offcpu || cli->no_syscalls) && !cli->enable_ebpf && !cli->offcpu_out)
		return fail(err, errlen,
			    "--%s chooses what --enable-ebpf traces: add --enable-ebpf",
			    cli->no_offcpu ? "no-offcpu" : "no-syscalls");
	if (cli->no_offcpu && cli->offcpu_out)
		return fail(err, errlen,
			    "--offcpu-out needs the off-CPU profile: drop --no-offcpu");
	if (cli->no_offcpu && cli->no_syscalls)
		return fail(err, errlen,
			    "--no-offcpu with --no-syscalls leaves --enable-ebpf nothing to trace");
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
