/*
 * test_cli.c — the command line parser (engine/cli/cli.c) and the env record
 * (engine/core/envinfo.c): options in both positions, value forms, what belongs
 * to a command or script, and the exact text of every usage error.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "envinfo.h"
#include "json.h"
#include "unit.h"

static struct dn_cli cli;
static char err[256];
static char **argv0; /* the argv of the last parse */

/* The words are copied to static storage: the compound literals of P() die
 * with the CHECK block they are written in, but cli.argv points into them. */
static int parse_words(const char **words)
{
	static const char *store[64];
	int argc = 0;
	while (words[argc] && argc < 63) {
		store[argc] = words[argc];
		argc++;
	}
	store[argc] = NULL;
	argv0 = (char **)store;
	memset(err, 'x', sizeof err); /* parse must set or clear it */
	err[sizeof err - 1] = '\0';
	return dn_cli_parse(argc, argv0, &cli, err, sizeof err);
}

/* P("run", "ls"): parse `denet run ls`. */
#define P(...) parse_words((const char *[]){ "denet", __VA_ARGS__, NULL })

/* The parse fails with exactly this message. */
#define FAILS(msg, ...)                                                        \
	do {                                                                   \
		CHECK_INT(P(__VA_ARGS__), -EINVAL);                            \
		CHECK_STR(err, msg);                                           \
	} while (0)

static void test_defaults(void)
{
	CHECK_INT(P("run", "sleep", "1"), 0);
	CHECK_STR(err, "");
	CHECK_INT(cli.command, DN_CMD_RUN);
	CHECK(!cli.json);
	CHECK(cli.out == NULL);
	CHECK_INT(cli.interval_ms, 100);
	CHECK_INT(cli.max_interval_ms, 1000);
	CHECK(!cli.no_update);
	CHECK(cli.duration_secs == 0);
	CHECK(cli.timeout_secs == 0);
	CHECK(!cli.since_process_start);
	CHECK(!cli.exclude_children);
	CHECK(!cli.quiet);
	CHECK(cli.stats_out == NULL);
	CHECK(!cli.enable_ebpf);
	CHECK(!cli.debug);
	CHECK(!cli.write_env);
	CHECK(cli.script == NULL);
	CHECK(cli.offcpu_out == NULL);
	CHECK_INT(cli.attach_pid, 0);
	CHECK(cli.file == NULL);
	CHECK_INT(cli.argc, 2);
	CHECK_STR(cli.argv[0], "sleep");
	CHECK_STR(cli.argv[1], "1");
	CHECK(cli.argv[2] == NULL);
	CHECK(cli.argv == argv0 + 2); /* points into the caller's argv */
}

static void check_all_set(void)
{
	CHECK(cli.json);
	CHECK_STR(cli.out, "o.jsonl");
	CHECK_INT(cli.interval_ms, 50);
	CHECK_INT(cli.max_interval_ms, 500);
	CHECK(cli.no_update);
	CHECK(cli.duration_secs == 2.5);
	CHECK(cli.timeout_secs == 7);
	CHECK(cli.since_process_start);
	CHECK(cli.exclude_children);
	CHECK(cli.quiet);
	CHECK_STR(cli.stats_out, "s.json");
	CHECK(cli.enable_ebpf);
	CHECK(cli.debug);
	CHECK(cli.write_env);
	CHECK_STR(cli.script, "hooks.lua");
	CHECK_STR(cli.offcpu_out, "off.folded");
}

#define ALL_SHORT                                                              \
	"-j", "-o", "o.jsonl", "-i", "50", "-m", "500", "-n", "-d", "2.5",     \
		"--timeout", "7", "--since-process-start",                     \
		"--exclude-children", "-q", "--stats", "s.json",               \
		"--enable-ebpf", "--debug", "--write-env", "-s", "hooks.lua",  \
		"--offcpu-out", "off.folded"

#define ALL_LONG                                                               \
	"--json", "--out", "o.jsonl", "--interval", "50", "--max-interval",    \
		"500", "--no-update", "--duration", "2.5", "--timeout", "7",   \
		"--since-process-start", "--exclude-children", "--quiet",      \
		"--stats", "s.json", "--enable-ebpf", "--debug",               \
		"--write-env", "--script", "hooks.lua", "--offcpu-out",        \
		"off.folded"

static void test_options_before_subcommand(void)
{
	CHECK_INT(P(ALL_SHORT, "run", "ls"), 0);
	CHECK_INT(cli.command, DN_CMD_RUN);
	check_all_set();
	CHECK_INT(cli.argc, 1);
	CHECK_STR(cli.argv[0], "ls");

	CHECK_INT(P(ALL_LONG, "attach", "42"), 0);
	CHECK_INT(cli.command, DN_CMD_ATTACH);
	CHECK_INT(cli.attach_pid, 42);
	check_all_set();
}

static void test_options_after_subcommand(void)
{
	CHECK_INT(P("run", ALL_LONG, "ls", "-l"), 0);
	CHECK_INT(cli.command, DN_CMD_RUN);
	check_all_set();
	CHECK_INT(cli.argc, 2);
	CHECK_STR(cli.argv[0], "ls");
	CHECK_STR(cli.argv[1], "-l");

	CHECK_INT(P("attach", ALL_SHORT, "42"), 0);
	CHECK_INT(cli.attach_pid, 42);
	check_all_set();

	CHECK_INT(P("attach", "42", ALL_SHORT), 0);
	CHECK_INT(cli.attach_pid, 42);
	check_all_set();

	CHECK_INT(P("stats", "f.jsonl", "-j"), 0);
	CHECK_INT(cli.command, DN_CMD_STATS);
	CHECK_STR(cli.file, "f.jsonl");
	CHECK(cli.json);
	CHECK(cli.argv == NULL);
	CHECK_INT(cli.argc, 0);
}

static void test_equals_and_attached_values(void)
{
	CHECK_INT(P("--out=o.jsonl", "--interval=50", "--max-interval=500",
		    "--duration=2.5", "--timeout=7", "--stats=s.json",
		    "--script=hooks.lua", "--offcpu-out=off.folded", "run", "ls"),
		  0);
	CHECK_STR(cli.out, "o.jsonl");
	CHECK_INT(cli.interval_ms, 50);
	CHECK_INT(cli.max_interval_ms, 500);
	CHECK(cli.duration_secs == 2.5);
	CHECK(cli.timeout_secs == 7);
	CHECK_STR(cli.stats_out, "s.json");
	CHECK_STR(cli.script, "hooks.lua");
	CHECK_STR(cli.offcpu_out, "off.folded");

	CHECK_INT(P("-i50", "-m500", "-d3", "-oout", "-shooks.lua", "run", "ls"), 0);
	CHECK_INT(cli.interval_ms, 50);
	CHECK_INT(cli.max_interval_ms, 500);
	CHECK(cli.duration_secs == 3);
	CHECK_STR(cli.out, "out");
	CHECK_STR(cli.script, "hooks.lua");

	/* A value may start with '-' ("-o -" for stdout, say). */
	CHECK_INT(P("-o", "-", "run", "ls"), 0);
	CHECK_STR(cli.out, "-");
	/* "=" inside a value is kept. */
	CHECK_INT(P("--out=a=b", "run", "ls"), 0);
	CHECK_STR(cli.out, "a=b");
	/* The last of a repeated option wins. */
	CHECK_INT(P("-i", "20", "run", "-i", "30", "ls"), 0);
	CHECK_INT(cli.interval_ms, 30);
}

static void test_bundled_short_flags(void)
{
	CHECK_INT(P("-jq", "run", "ls"), 0);
	CHECK(cli.json);
	CHECK(cli.quiet);
	CHECK(!cli.no_update);

	CHECK_INT(P("run", "-jnq", "ls"), 0);
	CHECK(cli.json && cli.no_update && cli.quiet);

	/* A value option ends the bundle: its value is the rest or the next word. */
	CHECK_INT(P("-jqi50", "run", "ls"), 0);
	CHECK(cli.json && cli.quiet);
	CHECK_INT(cli.interval_ms, 50);
	CHECK_INT(P("-jo", "out.jsonl", "run", "ls"), 0);
	CHECK(cli.json);
	CHECK_STR(cli.out, "out.jsonl");
	CHECK_INT(cli.argc, 1);
}

static void test_double_dash(void)
{
	CHECK_INT(P("run", "--", "-weird", "-j"), 0);
	CHECK_INT(cli.command, DN_CMD_RUN);
	CHECK(!cli.json);
	CHECK_INT(cli.argc, 2);
	CHECK_STR(cli.argv[0], "-weird");
	CHECK_STR(cli.argv[1], "-j");

	CHECK_INT(P("-j", "--", "run", "ls", "--", "x"), 0);
	CHECK(cli.json);
	CHECK_INT(cli.argc, 3);
	CHECK_STR(cli.argv[0], "ls");
	CHECK_STR(cli.argv[1], "--");
	CHECK_STR(cli.argv[2], "x");

	CHECK_INT(P("attach", "--", "7"), 0);
	CHECK_INT(cli.attach_pid, 7);
	/* After `--` an option-looking word is an operand, not an option. */
	FAILS("attach needs a PID, got '-j'", "attach", "--", "-j");
}

static void test_run_command_args_not_parsed(void)
{
	CHECK_INT(P("run", "python3", "-j", "x", "--interval", "zzz", "--bogus"), 0);
	CHECK(!cli.json);
	CHECK_INT(cli.interval_ms, 100);
	CHECK_INT(cli.argc, 6);
	CHECK_STR(cli.argv[0], "python3");
	CHECK_STR(cli.argv[1], "-j");
	CHECK_STR(cli.argv[5], "--bogus");
	CHECK(cli.argv[6] == NULL);

	/* -h after the command is the command's. */
	CHECK_INT(P("run", "ls", "-h"), 0);
	CHECK_INT(cli.command, DN_CMD_RUN);
	CHECK_STR(cli.argv[1], "-h");

	/* Words that name subcommands are just words for the command. */
	CHECK_INT(P("run", "run", "attach"), 0);
	CHECK_INT(cli.argc, 2);
	CHECK_STR(cli.argv[0], "run");
}

static void test_script_args(void)
{
	CHECK_INT(P("-j", "scripts/watch.lua", "a", "-i", "b", "--", "c"), 0);
	CHECK_INT(cli.command, DN_CMD_SCRIPT);
	CHECK(cli.json);
	CHECK_INT(cli.interval_ms, 100);
	CHECK_STR(cli.file, "scripts/watch.lua");
	CHECK_INT(cli.script_argv0, 2);
	CHECK_STR(argv0[cli.script_argv0], "scripts/watch.lua");
	CHECK_INT(cli.argc, 5);
	CHECK_STR(cli.argv[0], "a");
	CHECK_STR(cli.argv[1], "-i");
	CHECK_STR(cli.argv[4], "c");
	CHECK(cli.argv[5] == NULL);

	CHECK_INT(P("x.lua"), 0);
	CHECK_INT(cli.command, DN_CMD_SCRIPT);
	CHECK_INT(cli.script_argv0, 1);
	CHECK_INT(cli.argc, 0);
	CHECK(cli.argv != NULL && cli.argv[0] == NULL);

	CHECK_INT(P("--", "-odd.lua", "-h"), 0);
	CHECK_INT(cli.command, DN_CMD_SCRIPT);
	CHECK_STR(cli.file, "-odd.lua");
	CHECK_STR(cli.argv[0], "-h");

	/* A known subcommand wins over the .lua rule only by name. */
	FAILS("unknown command '.lua' (see denet --help)", ".lua");
}

/* `#!/usr/bin/env denet` scripts: the kernel runs `denet /path/script
 * ARGS`, so a readable file that is not a subcommand is a script, whatever
 * its name. */
static void test_script_without_extension(void)
{
	char path[] = "/tmp/denet-test-cli-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, "#!/usr/bin/env denet\n", 21) == 21);
	close(fd);

	CHECK_INT(P(path, "a", "-j"), 0);
	CHECK_INT(cli.command, DN_CMD_SCRIPT);
	CHECK_STR(cli.file, path);
	CHECK_INT(cli.script_argv0, 1);
	CHECK_INT(cli.argc, 2);
	CHECK_STR(cli.argv[0], "a");
	CHECK_STR(cli.argv[1], "-j");
	CHECK(!cli.json); /* the script's */

	CHECK_INT(P("-q", "--", path), 0);
	CHECK_INT(cli.command, DN_CMD_SCRIPT);
	CHECK_INT(cli.script_argv0, 3);

	/* not readable (as root, access() says yes: only check as a user) */
	if (geteuid() != 0) {
		CHECK_INT(chmod(path, 0), 0);
		CHECK_INT(P(path), -EINVAL);
	}
	unlink(path);
	/* gone, a directory: not scripts */
	char msg[128];
	snprintf(msg, sizeof msg, "unknown command '%s' (see denet --help)", path);
	CHECK_INT(P(path), -EINVAL);
	CHECK_STR(err, msg);
	FAILS("unknown command '/tmp' (see denet --help)", "/tmp");
	FAILS("unknown command '/dev/null' (see denet --help)", "/dev/null");
}

static void test_attach(void)
{
	CHECK_INT(P("attach", "1234"), 0);
	CHECK_INT(cli.command, DN_CMD_ATTACH);
	CHECK_INT(cli.attach_pid, 1234);
	CHECK(cli.argv == NULL);
	CHECK_INT(P("-q", "attach", "2147483647", "-j"), 0);
	CHECK_INT(cli.attach_pid, 2147483647);
	CHECK(cli.quiet && cli.json);
}

static void test_stats_summary_report(void)
{
	CHECK_INT(P("stats", "run.jsonl"), 0);
	CHECK_INT(cli.command, DN_CMD_STATS);
	CHECK_STR(cli.file, "run.jsonl");

	CHECK_INT(P("--json", "summary", "run.jsonl"), 0);
	CHECK_INT(cli.command, DN_CMD_STATS);
	CHECK_STR(cli.file, "run.jsonl");
	CHECK(cli.json);

	CHECK_INT(P("stats", "-"), 0);
	CHECK_STR(cli.file, "-");

	CHECK_INT(P("report", "run.jsonl", "-o", "run.html"), 0);
	CHECK_INT(cli.command, DN_CMD_REPORT);
	CHECK_STR(cli.file, "run.jsonl");
	CHECK_STR(cli.out, "run.html");
	CHECK_INT(P("-o", "run.html", "report", "run.jsonl"), 0);
	CHECK_INT(cli.command, DN_CMD_REPORT);
	CHECK_STR(cli.out, "run.html");
}

static void test_help_and_version(void)
{
	CHECK_INT(P("-h"), 0);
	CHECK_INT(cli.command, DN_CMD_HELP);
	CHECK_INT(P("--help"), 0);
	CHECK_INT(cli.command, DN_CMD_HELP);
	CHECK_INT(P("help"), 0);
	CHECK_INT(cli.command, DN_CMD_HELP);
	CHECK_INT(P("run", "-h"), 0);
	CHECK_INT(cli.command, DN_CMD_HELP);
	/* Help wins over what is still missing or wrong later on. */
	CHECK_INT(P("attach", "--help", "--bogus"), 0);
	CHECK_INT(cli.command, DN_CMD_HELP);
	CHECK_INT(P("-jh"), 0);
	CHECK_INT(cli.command, DN_CMD_HELP);
	CHECK_INT(P("-V"), 0);
	CHECK_INT(cli.command, DN_CMD_VERSION);
	CHECK_INT(P("stats", "--version"), 0);
	CHECK_INT(cli.command, DN_CMD_VERSION);
}

static void test_intervals(void)
{
	/* Only -i above the default maximum: the maximum follows it. */
	CHECK_INT(P("-i", "2000", "run", "ls"), 0);
	CHECK_INT(cli.interval_ms, 2000);
	CHECK_INT(cli.max_interval_ms, 2000);
	CHECK_INT(P("-i", "1000", "run", "ls"), 0);
	CHECK_INT(cli.max_interval_ms, 1000);
	CHECK_INT(P("-i", "5", "-m", "5", "run", "ls"), 0);
	CHECK_INT(cli.max_interval_ms, 5);

	FAILS("--max-interval (500 ms) must be >= --interval (2000 ms)", "-i", "2000",
	      "-m", "500", "run", "ls");
	FAILS("--max-interval (50 ms) must be >= --interval (100 ms)", "run", "-m50",
	      "ls");
}

static void test_value_errors(void)
{
	FAILS("--interval needs a positive number of milliseconds, got 'abc'", "-i",
	      "abc", "run", "ls");
	FAILS("--interval needs a positive number of milliseconds, got '0'",
	      "--interval=0", "run", "ls");
	FAILS("--interval needs a positive number of milliseconds, got '-5'", "-i",
	      "-5", "run", "ls");
	FAILS("--interval needs a positive number of milliseconds, got '1.5'", "-i1.5",
	      "run", "ls");
	FAILS("--interval needs a positive number of milliseconds, got '+5'", "-i", "+5",
	      "run", "ls");
	FAILS("--interval needs a positive number of milliseconds, got '99999999999999'",
	      "-i", "99999999999999", "run", "ls");
	FAILS("--max-interval needs a positive number of milliseconds, got 'x'", "-m",
	      "x", "run", "ls");
	FAILS("--duration needs a number of seconds >= 0, got '-1'", "-d", "-1", "run",
	      "ls");
	FAILS("--duration needs a number of seconds >= 0, got 'abc'", "--duration",
	      "abc", "run", "ls");
	FAILS("--duration needs a number of seconds >= 0, got 'inf'", "-d", "inf",
	      "run", "ls");
	FAILS("--duration needs a number of seconds >= 0, got '5s'", "-d", "5s", "run",
	      "ls");
	FAILS("--timeout needs a number of seconds >= 0, got 'nan'", "--timeout=nan",
	      "run", "ls");

	CHECK_INT(P("-d", "0.5", "--timeout", ".25", "run", "ls"), 0);
	CHECK(cli.duration_secs == 0.5);
	CHECK(cli.timeout_secs == 0.25);
	CHECK_INT(P("-d", "0", "run", "ls"), 0);
	CHECK(cli.duration_secs == 0);
}

static void test_option_errors(void)
{
	FAILS("unknown option '--foo'", "--foo", "run", "ls");
	FAILS("unknown option '--foo'", "run", "--foo=1", "ls");
	FAILS("unknown option '-x'", "-x", "run", "ls");
	FAILS("unknown option '-x'", "-jxq", "run", "ls");
	FAILS("unknown option '--jso'", "--jso", "run", "ls"); /* no abbreviations */
	FAILS("--json takes no value", "--json=1", "run", "ls");
	FAILS("--out needs a value", "run", "-o");
	FAILS("--out needs a value", "stats", "f", "-o");
	FAILS("--out needs a value", "stats", "f", "--out");
	FAILS("--out needs a value", "--out=", "stats", "f");
	FAILS("--out needs a value", "-o", "", "stats", "f");
	FAILS("--interval needs a value", "stats", "f", "-i");
	FAILS("--stats needs a value", "attach", "1", "--stats");
	FAILS("--script needs a value", "attach", "1", "-s");
}

static void test_command_errors(void)
{
	FAILS("attach needs a PID", "attach");
	FAILS("attach needs a PID", "-j", "attach", "-q");
	FAILS("attach needs a PID, got 'abc'", "attach", "abc");
	FAILS("attach needs a PID, got '0'", "attach", "0");
	FAILS("attach needs a PID, got '12x'", "attach", "12x");
	FAILS("attach needs a PID, got '99999999999'", "attach", "99999999999");
	FAILS("unexpected argument '2' after attach PID", "attach", "1", "2");
	FAILS("run needs a command", "run");
	FAILS("run needs a command", "-j", "run", "-q");
	FAILS("run needs a command", "run", "--");
	FAILS("stats needs a FILE", "stats");
	FAILS("summary needs a FILE", "summary", "-j");
	FAILS("unexpected argument 'b' after stats FILE", "stats", "a", "b");
	FAILS("unexpected argument 'b' after summary FILE", "summary", "a", "b");
	FAILS("report needs a FILE", "report", "-o", "x.html");
	FAILS("unexpected argument 'b' after report FILE", "report", "a", "b");
	FAILS("unknown command 'foo' (see denet --help)", "foo");
	FAILS("unknown command 'foo' (see denet --help)", "-j", "foo", "run");
	FAILS("unknown command 'Run' (see denet --help)", "Run", "ls");

	const char *none[] = { "denet", NULL };
	CHECK_INT(parse_words(none), -EINVAL);
	CHECK_INT(cli.command, DN_CMD_NONE);
	CHECK_STR(err, "missing command: run, attach, stats, report or SCRIPT.lua "
		       "(see denet --help)");
	FAILS("missing command: run, attach, stats, report or SCRIPT.lua "
	      "(see denet --help)",
	      "-j", "-i", "50");
}

static void test_small_error_buffer(void)
{
	const char *words[] = { "denet", "--a-very-long-unknown-option", NULL };
	char small[8];
	CHECK_INT(dn_cli_parse(2, (char **)words, &cli, small, sizeof small), -EINVAL);
	CHECK_STR(small, "unknown");
	CHECK_INT(dn_cli_parse(2, (char **)words, &cli, NULL, 0), -EINVAL);
}

static char help[8192];

static const char *help_of(enum dn_cli_command topic)
{
	int n = dn_cli_help(topic, help, sizeof help);
	CHECK(n > 0 && (size_t)n < sizeof help);
	CHECK_INT(strlen(help), n);
	return help;
}

static size_t count_lines(const char *s)
{
	size_t lines = 0;
	for (const char *p = s; *p; p++)
		lines += *p == '\n';
	return lines;
}

static void test_usage_lists_everything(void)
{
	static const char *const needles[] = {
		"-j, --json", "-o, --out FILE", "-i, --interval MS", "default 100",
		"-m, --max-interval MS", "default 1000", "-n, --no-update",
		"-d, --duration SECS", "--timeout SECS", "--since-process-start",
		"--exclude-children", "-q, --quiet", "--stats FILE", "--enable-ebpf",
		"--debug", "--write-env", "-s, --script", "--offcpu-out FILE",
		"-h, --help", "-V, --version", "run [--] CMD", "attach PID",
		"stats FILE", "summary", "report FILE", "SCRIPT.lua", "help",
		/* clap's layout, as upstream's CLI tests expect it */
		"Usage: denet", "\nCommands:\n", "\nOptions", "-u, --user NAME",
		"--no-cgroup", "#!/usr/bin/env denet",
	};
	const char *usage = help_of(DN_CMD_NONE);
	for (size_t k = 0; k < sizeof needles / sizeof needles[0]; k++)
		if (!strstr(usage, needles[k])) {
			unit_cur_failed++;
			printf("#   usage lacks \"%s\"\n", needles[k]);
		}
	/* Short enough to read on one screen. */
	CHECK(count_lines(usage) <= 40);
	/* DN_CMD_HELP, _SCRIPT, _VERSION: the general text too */
	CHECK_STR(help_of(DN_CMD_HELP), usage);
}

/* Each subcommand has a help of its own, with its options only. */
static void test_subcommand_help(void)
{
	static const struct {
		enum dn_cli_command cmd;
		const char *has[6], *lacks[4];
	} cases[] = {
		{DN_CMD_RUN,
		 {"Run and monitor", "Usage: denet [OPTIONS] run [--] CMD [ARGS...]\n",
		  "\nArguments:\n", "\nOptions:\n", "--timeout SECS", "-u, --user NAME"},
		 {"Commands:", "--version", "(stats:"}},
		{DN_CMD_ATTACH,
		 {"Monitor an existing process by PID", "Usage: denet [OPTIONS] attach PID\n",
		  "\nOptions:\n", "-d, --duration SECS", "-s, --script FILE.lua", NULL},
		 {"--timeout", "--user", "--version"}},
		{DN_CMD_STATS,
		 {"Generate statistics", "Usage: denet [OPTIONS] stats FILE\n", "summary FILE",
		  "\nOptions:\n", "-j, --json", "--stats FILE"},
		 {"--interval", "--out", "--timeout", "--version"}},
		{DN_CMD_REPORT,
		 {"HTML report", "Usage: denet report [-o OUT.html] FILE\n", "\nOptions:\n",
		  "-o, --out FILE", "-h, --help", NULL},
		 {"--json", "--interval", "--version"}},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		const char *h = help_of(cases[k].cmd);
		for (int i = 0; i < 6 && cases[k].has[i]; i++)
			if (!strstr(h, cases[k].has[i])) {
				unit_cur_failed++;
				printf("#   help %d lacks \"%s\"\n", (int)cases[k].cmd,
				       cases[k].has[i]);
			}
		for (int i = 0; i < 4 && cases[k].lacks[i]; i++)
			if (strstr(h, cases[k].lacks[i])) {
				unit_cur_failed++;
				printf("#   help %d has \"%s\"\n", (int)cases[k].cmd,
				       cases[k].lacks[i]);
			}
		/* the description comes first, as clap writes it */
		CHECK(strncmp(h, "Usage:", 6) != 0);
	}

	/* snprintf's contract: truncated, terminated, the full length back */
	char small[16];
	int n = dn_cli_help(DN_CMD_RUN, small, sizeof small);
	CHECK_INT(n, strlen(help_of(DN_CMD_RUN)));
	CHECK_INT(strlen(small), sizeof small - 1);
	CHECK(strncmp(small, help, sizeof small - 1) == 0);
	CHECK_INT(dn_cli_help(DN_CMD_RUN, NULL, 0), n);
}

/* Which help `--help` and `help` ask for. */
static void test_help_topics(void)
{
	static const struct {
		const char *w[4];
		enum dn_cli_command topic;
	} cases[] = {
		{{"-h"}, DN_CMD_NONE},
		{{"help"}, DN_CMD_NONE},
		{{"run", "--help"}, DN_CMD_RUN},
		{{"run", "-h", "ls"}, DN_CMD_RUN},
		{{"-j", "attach", "-h"}, DN_CMD_ATTACH},
		{{"stats", "--help"}, DN_CMD_STATS},
		{{"summary", "x.jsonl", "-h"}, DN_CMD_STATS},
		{{"report", "--help"}, DN_CMD_REPORT},
		{{"help", "run"}, DN_CMD_RUN},
		{{"help", "summary"}, DN_CMD_STATS},
		{{"help", "report", "more"}, DN_CMD_REPORT},
		{{"help", "attach", "--help"}, DN_CMD_ATTACH},
		{{"help", "help"}, DN_CMD_NONE},
		{{"-h", "run"}, DN_CMD_NONE}, /* help before the command: the general one */
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		const char *words[6] = {"denet"};
		int n = 1;
		while (n - 1 < 4 && cases[k].w[n - 1])
			words[n] = cases[k].w[n - 1], n++;
		words[n] = NULL;
		CHECK_INT(parse_words(words), 0);
		CHECK_INT(cli.command, DN_CMD_HELP);
		if (cli.help_topic != cases[k].topic)
			printf("#   case %zu\n", k);
		CHECK_INT(cli.help_topic, cases[k].topic);
	}
	/* `run ls -h`: -h is ls's */
	CHECK_INT(P("run", "ls", "-h"), 0);
	CHECK_INT(cli.command, DN_CMD_RUN);
	FAILS("unknown command 'nope' (see denet --help)", "help", "nope");
}

static void test_envinfo(void)
{
	struct dn_buf b = { 0 };
	struct dn_json j;

	dn_json_init(&j, &b);
	dn_json_obj_begin(&j);
	dn_json_key(&j, "kind");
	dn_json_str(&j, "env");
	CHECK_INT(dn_envinfo_write(&j, getpid()), 0);
	dn_json_obj_end(&j);
	CHECK(!b.oom);
	CHECK(b.data != NULL);
	if (!b.data)
		return;
	printf("# %s\n", b.data);
	CHECK(strstr(b.data, "\"kind\":\"env\",") != NULL);
	CHECK(strstr(b.data, "\"kernel\":\"") != NULL);
	CHECK(strstr(b.data, "\"cpus_online\":") != NULL);
	CHECK(strstr(b.data, "\"cpus_online\":null") == NULL);
	const char *aff = strstr(b.data, "\"affinity\":[");
	CHECK(aff != NULL);
	if (aff) {
		char c = aff[strlen("\"affinity\":[")];
		CHECK(c >= '0' && c <= '9'); /* at least one CPU */
	}
	for (const char *k = "\"host\":\0\"arch\":\0\"cpu_model\":\0\"cpus_configured\":\0"
			     "\"sockets\":\0\"cores\":\0\"threads_per_core\":\0"
			     "\"numa_nodes\":\0\"mem_total_kb\":\0\"governor\":\0"
			     "\"thp\":\0\"smt\":\0\"cgroup\":\0";
	     *k; k += strlen(k) + 1)
		if (!strstr(b.data, k)) {
			unit_cur_failed++;
			printf("#   env lacks %s\n", k);
		}
	CHECK(b.data[b.len - 1] == '}');
	dn_buf_free(&b);
}

int main(void)
{
	RUN(test_defaults);
	RUN(test_options_before_subcommand);
	RUN(test_options_after_subcommand);
	RUN(test_equals_and_attached_values);
	RUN(test_bundled_short_flags);
	RUN(test_double_dash);
	RUN(test_run_command_args_not_parsed);
	RUN(test_script_args);
	RUN(test_script_without_extension);
	RUN(test_attach);
	RUN(test_stats_summary_report);
	RUN(test_help_and_version);
	RUN(test_intervals);
	RUN(test_value_errors);
	RUN(test_option_errors);
	RUN(test_command_errors);
	RUN(test_small_error_buffer);
	RUN(test_usage_lists_everything);
	RUN(test_subcommand_help);
	RUN(test_help_topics);
	RUN(test_envinfo);
	return unit_done();
}
