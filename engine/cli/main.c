/*
 * main.c — the denet command: parses the command line, owns the process's
 * exit status, its signal policy and every message on stderr. The work is
 * done by the monitor (run/attach) and the Lua side (scripts, stats).
 *
 * Exit status (docs/cli.md): the command's status (128+N if killed by
 * signal N); 126/127 when it cannot be executed / is not found; 124 after
 * --timeout ended it; 141 when stdout was closed under the records (as for
 * cat); 1 for denet's own runtime errors; 2 for usage errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup_reaper.h"
#include "cli.h"
#include "clock.h"
#include "envinfo.h"
#include "gpu.h"
#include "human.h"
#include "json.h"
#include "loop.h"
#include "lua_api.h"
#include "monitor.h"
#include "version.h"

struct cli_run {
	struct dn_cli *cli;
	struct dn_monitor *mon;
	struct dn_human *human;
	struct dn_lua *lua;
	int out_fd;
	int stats_fd;
	int offcpu_fd; /* --offcpu-out: folded stacks at the end */
	bool debug;
	struct dn_human_gpu gpu_run; /* the run's GPU peaks, for the summary */
};

static int print_help(enum dn_cli_command topic, FILE *f)
{
	char text[8192];
	dn_cli_help(topic, text, sizeof text);
	if (fputs(text, f) < 0 || fflush(f) != 0) {
		fprintf(stderr, "denet: writing the help: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

static void die_usage(const char *msg)
{
	fprintf(stderr, "denet: %s\n", msg);
	exit(2);
}

/* Open an output path before anything starts, so a typo costs nothing. */
static int open_output(const char *path)
{
	if (strcmp(path, "-") == 0)
		return dup(1);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		fprintf(stderr, "denet: cannot write '%s': %s\n", path, strerror(errno));
	return fd;
}

static void raise_fd_limit(void)
{
	/* Every monitored process keeps 4 /proc fds open. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void on_signal(struct dn_loop *loop, const struct signalfd_siginfo *si, void *ctx)
{
	(void)loop;
	struct cli_run *cr = ctx;
	int sig = (int)si->ssi_signo;
	if (sig == SIGCHLD) {
		struct dn_monitor *mons[1] = {cr->mon};
		dn_monitor_reap_orphans(mons, 1);
		return;
	}
	dn_monitor_on_signal(cr->mon, si);
}

/* The human output's GPU figures of the latest sample (devices 0: none). */
static void gpu_figures(const struct dn_monitor *m, struct dn_human_gpu *g)
{
	uint64_t tree_mem;
	const struct dn_gpu_sample *s = dn_monitor_gpu(m, &tree_mem);
	memset(g, 0, sizeof *g);
	if (!s)
		return;
	g->devices = (unsigned)s->ndev;
	for (int i = 0; i < s->ndev; i++) {
		const struct dn_gpu_device *d = &s->dev[i];
		if (d->has_util && (!g->has_sys_util || d->util_gpu > g->sys_util))
			g->sys_util = d->util_gpu;
		g->has_sys_util |= d->has_util;
		g->used_bytes += d->has_mem ? d->mem_used : 0;
		g->total_bytes += d->has_mem ? d->mem_total : 0;
	}
	const struct dn_tree *t = dn_monitor_tree(m);
	for (size_t i = 0; i < s->nproc; i++) {
		const struct dn_gpu_proc *p = &s->proc[i];
		if (!dn_tree_find(t, p->pid) || !(p->has_mem || p->has_util))
			continue;
		g->tree_procs = true;
		if (p->has_util && (!g->has_proc_util || p->sm_util > g->proc_util))
			g->proc_util = p->sm_util;
		g->has_proc_util |= p->has_util;
	}
	g->tree_mem_bytes = tree_mem;
}

static void on_sample(struct dn_monitor *m, void *ctx)
{
	struct cli_run *cr = ctx;
	struct dn_human_gpu g;
	gpu_figures(m, &g);
	dn_human_gpu_merge(&cr->gpu_run, &g);
	if (cr->human) {
		dn_human_set_gpu(cr->human, &g, NULL);
		dn_human_sample(cr->human, &dn_monitor_tree(m)->agg, dn_monitor_elapsed_secs(m));
	}
	if (cr->debug) {
		const struct dn_tree *t = dn_monitor_tree(m);
		fprintf(stderr,
			"denet: debug: sample of %zu processes took %.1f us (read from %s; "
			"measured per scan: BPF iterator %.0f us, /proc %.0f us)\n",
			t->nprocs, (double)dn_monitor_sample_cost_ns(m) / 1e3,
			t->snap ? "the BPF iterator" : "/proc", t->costs.src_ns / 1e3,
			t->costs.proc_pp_ns * (double)t->nprocs / 1e3);
	}
}

static void write_env_record(struct dn_monitor *m)
{
	struct dn_buf b = {0};
	struct dn_json j;
	dn_json_init(&j, &b);
	dn_json_obj_begin(&j);
	dn_json_key(&j, "kind");
	dn_json_str(&j, "env");
	dn_json_key(&j, "ts_ms");
	dn_json_uint(&j, dn_wall_ms());
	dn_envinfo_write(&j, dn_monitor_pid(m));
	dn_json_obj_end(&j);
	dn_buf_putc(&b, '\n');
	if (!b.oom)
		dn_monitor_emit(m, b.data, b.len);
	dn_buf_free(&b);
}

static void write_stats_file(struct cli_run *cr)
{
	struct dn_buf b = {0};
	struct dn_json j;
	dn_json_init(&j, &b);
	dn_summary_write_json(&j, dn_monitor_summary(cr->mon));
	dn_buf_putc(&b, '\n');
	/* a reader that has gone (`--stats - | head`) is no error */
	if (!b.oom && write(cr->stats_fd, b.data, b.len) != (ssize_t)b.len && errno != EPIPE)
		fprintf(stderr, "denet: writing '%s': %s\n", cr->cli->stats_out, strerror(errno));
	dn_buf_free(&b);
}

static void write_folded_file(struct cli_run *cr)
{
	struct dn_buf b = {0};
	struct dn_profile *prof = dn_monitor_profile(cr->mon, NULL);
	if (prof)
		dn_profile_folded(prof, &b);
	if (!b.oom && b.len && write(cr->offcpu_fd, b.data, b.len) != (ssize_t)b.len &&
	    errno != EPIPE)
		fprintf(stderr, "denet: writing '%s': %s\n", cr->cli->offcpu_out, strerror(errno));
	dn_buf_free(&b);
}

/* End the command denet started (SIGTERM, SIGKILL after the grace) and
 * wait for its `exit` record, so it is never left running unmonitored; if
 * the loop fails meanwhile, kill it at once. */
static void end_command(struct cli_run *cr, struct dn_loop *loop)
{
	if (!dn_monitor_running(cr->mon) || !dn_monitor_launched(cr->mon))
		return;
	dn_monitor_terminate(cr->mon);
	while (dn_monitor_running(cr->mon))
		if (dn_loop_run_once(loop) < 0)
			dn_monitor_abort(cr->mon);
}

/* Removes path if it still names the regular file open as fd: never a
 * device (`-o /dev/null` as root would delete /dev/null), a pipe, or a file
 * put in its place since. */
static void unlink_if_file(int fd, const char *path)
{
	struct stat fs, ps;
	if (fstat(fd, &fs) == 0 && S_ISREG(fs.st_mode) && lstat(path, &ps) == 0 &&
	    S_ISREG(ps.st_mode) && fs.st_dev == ps.st_dev && fs.st_ino == ps.st_ino)
		unlink(path);
}

/* Nothing was recorded (the command never ran): no empty files behind. */
static void unlink_outputs(const struct cli_run *cr)
{
	if (cr->out_fd >= 0 && cr->cli->out && strcmp(cr->cli->out, "-") != 0)
		unlink_if_file(cr->out_fd, cr->cli->out);
	if (cr->stats_fd >= 0 && strcmp(cr->cli->stats_out, "-") != 0)
		unlink_if_file(cr->stats_fd, cr->cli->stats_out);
}

static int monitor_main(struct dn_cli *cli)
{
	struct cli_run cr = {
		.cli = cli, .out_fd = -1, .stats_fd = -1, .offcpu_fd = -1, .debug = cli->debug};
	int status = 1;
	/* Who runs the command: checked first, so a typo in --user costs
	 * nothing (no output file truncated, nothing started). */
	struct dn_launch_creds creds;
	char why[160];
	if (cli->command == DN_CMD_RUN &&
	    dn_launch_creds_resolve(cli->user, &creds, why, sizeof why) < 0) {
		fprintf(stderr, "denet: %s\n", why);
		return 1;
	}
	raise_fd_limit();
	signal(SIGPIPE, SIG_IGN);
	if (cli->out && (cr.out_fd = open_output(cli->out)) < 0)
		return 1;
	if (cli->stats_out && (cr.stats_fd = open_output(cli->stats_out)) < 0) {
		if (cr.out_fd >= 0)
			close(cr.out_fd);
		return 1;
	}
	if (cli->offcpu_out && (cr.offcpu_fd = open_output(cli->offcpu_out)) < 0) {
		if (cr.out_fd >= 0)
			close(cr.out_fd);
		if (cr.stats_fd >= 0)
			close(cr.stats_fd);
		return 1;
	}
	sigset_t sigs, policy;
	sigemptyset(&policy);
	sigaddset(&policy, SIGINT);
	sigaddset(&policy, SIGTERM);
	sigaddset(&policy, SIGHUP);
	sigaddset(&policy, SIGQUIT);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGCHLD);
	if (cli->script) {
		/* The hooks' Lua state takes INT/TERM/HUP/QUIT (the same policy,
		 * and it can interrupt a busy hook): not in the signalfd, and
		 * unblocked before the loop records the mask commands get. */
		sigprocmask(SIG_UNBLOCK, &policy, NULL);
	} else {
		sigorset(&sigs, &sigs, &policy);
	}
	struct dn_loop *loop = dn_loop_new(&sigs, on_signal, &cr);
	if (!loop) {
		fprintf(stderr, "denet: cannot set up the event loop: %s\n", strerror(errno));
		goto out;
	}
	cr.mon = dn_monitor_new();
	if (!cr.mon) {
		fprintf(stderr, "denet: out of memory\n");
		goto out;
	}
	struct dn_monitor_opts mo = {
		.interval_ms = cli->interval_ms,
		.max_interval_ms = cli->max_interval_ms,
		.children = !cli->exclude_children,
		.since_process_start = cli->since_process_start,
		.duration_secs = cli->duration_secs,
		.timeout_secs = cli->timeout_secs,
		.no_cgroup = cli->no_cgroup,
		.no_fork_events = cli->no_fork_events,
		.sampler = (enum dn_sampler_mode)cli->sampler,
		.wait_all = cli->wait_all,
		.counters = cli->counters,
		/* --offcpu-out implies the profile; intervals under 1 ms are
		 * scheduling noise for "where does it block" */
		.offcpu = cli->enable_ebpf || cli->offcpu_out,
		.offcpu_opts = {.kernel_stacks = true,
				.min_us = 1000,
				.no_offcpu = cli->no_offcpu,
				.syscalls = !cli->no_syscalls},
	};
	bool json_stdout = cli->json && !cli->quiet;
	int r;
	if (cli->command == DN_CMD_RUN) {
		dn_launcher_become_subreaper();
		struct dn_launch_opts lo = {
			.creds = &creds, /* --user, or sudo's invoking user */
			.child_mask = dn_loop_saved_sigmask(loop),
			/* stdout stays pure JSONL: the command's goes to stderr
			 * (also for `--out -`, which writes JSONL to stdout) */
			.stdout_fd =
				(json_stdout || (cli->out && strcmp(cli->out, "-") == 0)) ? 2 : -1,
			.stderr_fd = -1,
		};
		r = dn_monitor_launch(cr.mon, loop, &mo, cli->argv, cli->argc, &lo);
		if (r < 0 && dn_monitor_sampler_error(cr.mon)) {
			fprintf(stderr, "denet: --sampler bpf: %s\n",
				dn_monitor_sampler_error(cr.mon));
			goto out;
		}
		if (r < 0) {
			fprintf(stderr, "denet: cannot start '%s': %s\n", cli->argv[0],
				strerror(-r));
			goto out;
		}
	} else {
		r = dn_monitor_attach(cr.mon, loop, &mo, cli->attach_pid);
		if (r < 0 && dn_monitor_sampler_error(cr.mon)) {
			fprintf(stderr, "denet: --sampler bpf: %s\n",
				dn_monitor_sampler_error(cr.mon));
			goto out;
		}
		if (r < 0) {
			fprintf(stderr, "denet: cannot attach to PID %d: %s\n",
				(int)cli->attach_pid,
				r == -ESRCH ? "no such process" : strerror(-r));
			goto out;
		}
	}
	if (cr.out_fd >= 0)
		dn_monitor_add_output(cr.mon, cr.out_fd);
	if (json_stdout)
		dn_monitor_add_output(cr.mon, 1);
	if (!cli->json && !cli->quiet && (cli->no_update || isatty(2))) {
		/* A status line on a terminal, or a line per sample with
		 * --no-update; into a pipe or file only the final summary. */
		bool tty = isatty(2);
		struct dn_human_opts ho = {.fd = 2,
					   .in_place = tty && !cli->no_update,
					   .color = tty && !getenv("NO_COLOR")};
		cr.human = dn_human_new(&ho);
	}
	const struct dn_monitor_hooks hooks = {
		.on_sample = on_sample,
		.ctx = &cr,
	};
	dn_monitor_set_hooks(cr.mon, &hooks);
	if (cli->script) {
		/* Before the command starts (it is held before exec; attached:
		 * before monitoring starts): a hooks file that fails to load
		 * costs nothing, and its rules see every sample. Marks it
		 * makes now follow `metadata` (dn_lua_hooks_started). */
		cr.lua = dn_lua_hooks_load(cli->script, loop, cr.mon);
		if (!cr.lua || dn_lua_hooks_ended(cr.lua)) {
			/* failed, or os.exit: the held command is killed by
			 * dn_monitor_destroy */
			status = cr.lua ? dn_lua_exit_status(cr.lua) : 1;
			unlink_outputs(&cr);
			goto out;
		}
	}
	r = dn_monitor_start(cr.mon);
	if (r < 0) {
		fprintf(stderr, "denet: cannot run '%s': %s\n", cli->argv[0], strerror(-r));
		status = dn_launch_exec_failure_code(-r);
		unlink_outputs(&cr);
		goto out;
	}
	if (cli->command == DN_CMD_ATTACH && !dn_monitor_capability(cr.mon, "io"))
		fprintf(stderr,
			"denet: attach: cannot read /proc/%d/io (EPERM: another user's process); "
			"its I/O counters will read 0 — run denet as root or as that user\n",
			(int)cli->attach_pid);
	const char *prof_why = NULL;
	if (dn_monitor_opts(cr.mon)->offcpu && !dn_monitor_profile(cr.mon, &prof_why))
		fprintf(stderr, "denet: eBPF unavailable (%s): %s; going on with /proc sampling\n",
			cli->no_offcpu	   ? "syscall tracking"
			: cli->no_syscalls ? "off-CPU profile"
					   : "off-CPU profile and syscall tracking",
			prof_why[0] ? prof_why : "unknown reason");
	if (cli->counters && !dn_monitor_capability(cr.mon, "counters")) {
		const char *pc_why = dn_monitor_capability_reason(cr.mon, "counters");
		fprintf(stderr, "denet: --counters: %s; going on without them\n",
			cli->command == DN_CMD_ATTACH
				? "counters are for `denet run` (attached: perf inherit misses the "
				  "processes already running)"
			: pc_why ? pc_why
				 : "perf events unavailable");
	}
	if (cli->write_env)
		write_env_record(cr.mon);
	if (cr.lua)
		dn_lua_hooks_started(cr.lua);
	bool loop_failed = false, pipe_closed = false;
	while (dn_monitor_running(cr.mon) && !(cr.lua && dn_lua_hooks_ended(cr.lua))) {
		if (!pipe_closed && dn_monitor_outputs_gone(cr.mon) &&
		    dn_monitor_reader_gone(cr.mon)) {
			/* Whoever read the records has gone (`| head`): as a
			 * pipeline would, end the command (the usual teardown:
			 * SIGTERM, SIGKILL 5 s later), or stop watching an
			 * attached process, and exit quietly with cat's 141. */
			pipe_closed = true;
			if (dn_monitor_launched(cr.mon))
				dn_monitor_terminate(cr.mon);
			else
				dn_monitor_stop(cr.mon);
			continue;
		}
		r = dn_loop_run_once(loop);
		if (r < 0) {
			fprintf(stderr, "denet: event loop failed: %s%s\n", strerror(-r),
				dn_monitor_launched(cr.mon) && !dn_monitor_command_done(cr.mon)
					? "; killing the command"
					: "");
			dn_monitor_abort(cr.mon);
			loop_failed = true;
		}
	}
	if (cr.lua && dn_lua_hooks_ended(cr.lua)) {
		/* A hook failed or called os.exit: records so far are written;
		 * end the command we started so it is not left orphaned. */
		end_command(&cr, loop);
		dn_monitor_stop(cr.mon);
		status = dn_lua_exit_status(cr.lua);
	} else if (loop_failed) {
		status = 1;
	} else if (pipe_closed) {
		status = 128 + SIGPIPE;
	} else if (dn_monitor_timed_out(cr.mon)) {
		status = 124;
	} else if (dn_monitor_command_done(cr.mon) && dn_monitor_exit(cr.mon)->known) {
		status = dn_monitor_exit(cr.mon)->exit_code;
	} else {
		status = 0;
	}
	if (!cli->quiet && !cli->json && !pipe_closed) {
		if (!cr.human) {
			struct dn_human_opts ho = {.fd = 2,
						   .color = isatty(2) && !getenv("NO_COLOR")};
			cr.human = dn_human_new(&ho);
		}
		dn_human_set_gpu(cr.human, NULL, &cr.gpu_run);
		if (cr.human)
			dn_human_end(cr.human, dn_monitor_summary(cr.mon),
				     dn_monitor_command_done(cr.mon) ? dn_monitor_exit(cr.mon)
								     : NULL);
	}
	if (cr.stats_fd >= 0)
		write_stats_file(&cr);
	if (cr.offcpu_fd >= 0)
		write_folded_file(&cr);
	if (dn_monitor_write_error(cr.mon)) {
		fprintf(stderr, "denet: writing records: %s\n",
			strerror(-dn_monitor_write_error(cr.mon)));
		if (status == 0)
			status = 1;
	}
out:
	if (cr.lua)
		dn_lua_close(cr.lua);
	dn_human_free(cr.human);
	dn_monitor_destroy(cr.mon);
	/* denet is about to exit: the run's cgroup, if its last tasks are
	 * still leaving it, gets a short bounded wait here, outside the loop */
	dn_cgroup_reaper_flush(loop);
	dn_loop_free(loop);
	if (cr.out_fd >= 0)
		close(cr.out_fd);
	if (cr.stats_fd >= 0)
		close(cr.stats_fd);
	if (cr.offcpu_fd >= 0)
		close(cr.offcpu_fd);
	return status;
}

int main(int argc, char **argv)
{
	struct dn_cli cli;
	char err[256];
	if (dn_cli_parse(argc, argv, &cli, err, sizeof err) < 0) {
		if (cli.command == DN_CMD_NONE && argc <= 1) {
			print_help(DN_CMD_NONE, stderr);
			return 2;
		}
		die_usage(err);
	}
	switch (cli.command) {
	case DN_CMD_HELP: return print_help(cli.help_topic, stdout);
	case DN_CMD_VERSION: printf("denet %s\n", DN_VERSION); return 0;
	case DN_CMD_RUN:
	case DN_CMD_ATTACH: return monitor_main(&cli);
	case DN_CMD_STATS: return dn_lua_stats(cli.file, cli.json, cli.stats_out);
	case DN_CMD_SCRIPT: return dn_lua_run_script(argc, argv, cli.script_argv0);
	case DN_CMD_REPORT: return dn_lua_report(cli.file, cli.out);
	case DN_CMD_NONE: break;
	}
	die_usage("missing command (see denet --help)");
	return 2;
}
