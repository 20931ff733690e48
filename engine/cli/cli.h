/*
 * cli.h — denet's command line: options accepted before or after the
 * subcommand, `--` ends options, upstream names and defaults, and the help
 * texts. Parsing only: no output, no exit (the one look at the file system:
 * whether an unknown first word is a readable file, i.e. a script). main()
 * prints `err` and exits 2 on failure.
 */
#ifndef DENET_CLI_H
#define DENET_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum dn_cli_command {
	DN_CMD_NONE = 0, /* no subcommand given: usage error */
	DN_CMD_RUN,	 /* run [--] CMD [ARGS...] */
	DN_CMD_ATTACH,	 /* attach PID */
	DN_CMD_STATS,	 /* stats FILE (alias: summary) */
	DN_CMD_SCRIPT,	 /* SCRIPT [ARGS...]: first non-option ends in .lua, or is a
			    readable file that is not a subcommand */
	DN_CMD_REPORT,	 /* report FILE [-o OUT.html] */
	DN_CMD_HELP,	 /* --help / -h / help */
	DN_CMD_VERSION,	 /* --version / -V */
};

struct dn_cli {
	enum dn_cli_command command;
	bool json;		  /* -j/--json */
	const char *out;	  /* -o/--out FILE */
	unsigned interval_ms;	  /* -i/--interval MS (100), >= 1 */
	unsigned max_interval_ms; /* -m/--max-interval MS (1000), >= interval */
	bool no_update;		  /* -n/--no-update */
	double duration_secs;	  /* -d/--duration SECS (0 = unlimited), >= 0 */
	double timeout_secs;	  /* --timeout SECS (0 = none), >= 0 */
	bool since_process_start; /* --since-process-start */
	bool exclude_children;	  /* --exclude-children */
	bool quiet;		  /* -q/--quiet */
	const char *stats_out;	  /* --stats FILE */
	bool enable_ebpf;	  /* --enable-ebpf */
	bool no_offcpu;		  /* --no-offcpu: eBPF syscalls only */
	bool no_syscalls;	  /* --no-syscalls: eBPF off-CPU only */
	bool counters;		  /* --counters: perf_event_open counters (run) */
	bool debug;		  /* --debug */
	bool write_env;		  /* --write-env */
	bool no_cgroup;		  /* --no-cgroup */
	bool no_fork_events;	  /* --no-fork-events */
	int sampler;		  /* --sampler: 0 auto, 1 bpf, 2 proc (--no-bpf-sampler);
				     the values of enum dn_sampler_mode */
	bool wait_all;		  /* --wait-all */
	const char *script;	  /* -s/--script FILE.lua */
	const char *offcpu_out;	  /* --offcpu-out FILE */
	const char *user;	  /* -u/--user NAME: run CMD as NAME (root only) */
	pid_t attach_pid;	  /* attach PID (> 0) */
	const char *file;	  /* stats FILE / report FILE / SCRIPT.lua */
	char **argv;		  /* run: CMD ARGS... (NULL-terminated, points into
				     the caller's argv); script: ARGS after it */
	int argc;
	int script_argv0; /* script: index of SCRIPT.lua in the original
			     argv (for Lua's `arg` table) */
	/* help: the command asked about (`run --help`, `help run`), or NONE */
	enum dn_cli_command help_topic;
};

/* Parse argv. 0 on success; -EINVAL with a one-line message in err
 * (e.g. "unknown option '--foo'", "--interval needs a positive number of
 * milliseconds, got 'abc'", "attach needs a PID", "run needs a command"). */
int dn_cli_parse(int argc, char **argv, struct dn_cli *cli, char *err, size_t errlen);

/* The help text of a command (DN_CMD_RUN, _ATTACH, _STATS, _REPORT), or
 * the general one (any other value), into buf as snprintf does: always
 * NUL-terminated, returns the length it needs. */
int dn_cli_help(enum dn_cli_command topic, char *buf, size_t len);

#endif
