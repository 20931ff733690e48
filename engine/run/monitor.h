/*
 * monitor.h — one monitored command or attached process: its tree, its
 * sampling schedule on the shared loop, its outputs, and the end of its
 * life (exit status, kernel totals, the final `exit` record).
 *
 * The CLI drives one monitor; a Lua script may drive several on one loop.
 * A monitor never prints: records go to its outputs (fds, each record one
 * write()) and to the hooks; errors are returned.
 */
#ifndef DENET_MONITOR_H
#define DENET_MONITOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "buf.h"
#include "cgroup.h"
#include "launcher.h"
#include "loop.h"
#include "profile.h"
#include "proctree.h"
#include "records.h"
#include "schedule.h"
#include "summary.h"

struct dn_monitor;

struct dn_monitor_hooks {
	/* After each sample; the record is in m->line. */
	void (*on_sample)(struct dn_monitor *m, void *ctx);
	void (*on_spawn)(struct dn_monitor *m, const struct dn_proc *p, void *ctx);
	void (*on_reap)(struct dn_monitor *m, const struct dn_proc_gone *g, void *ctx);
	/* Every record written (metadata, tree/sample, exit, mark, alert). */
	void (*on_record)(struct dn_monitor *m, const char *line, size_t len, void *ctx);
	/* Monitoring ended: the command exited (m->exit is set), or
	 * --duration elapsed / dn_monitor_stop was called (m->exit.known is
	 * false and the command runs on). */
	void (*on_end)(struct dn_monitor *m, void *ctx);
	/* Before each scheduled deadline is computed: return true to keep the
	 * base interval (threshold-aware sampling). */
	bool (*want_fast)(struct dn_monitor *m, void *ctx);
	void *ctx;
};

struct dn_monitor_opts {
	unsigned interval_ms, max_interval_ms;
	bool children; /* follow descendants (tree records) */
	bool since_process_start;
	double duration_secs;	/* stop monitoring after; 0 = never */
	double timeout_secs;	/* end the command after; 0 = never */
	double kill_grace_secs; /* SIGTERM -> SIGKILL (5 s) */
	bool no_cgroup;		/* do not put the command in a cgroup of its own */
	bool offcpu;		/* eBPF off-CPU profile of the tree */
	struct dn_profile_opts offcpu_opts;
};

#define DN_MONITOR_MAX_OUTPUTS 4

struct dn_monitor {
	struct dn_monitor_opts o;
	struct dn_monitor_hooks hooks;
	struct dn_loop *loop;
	struct dn_tree tree;
	struct dn_schedule sched;
	struct dn_timer *sample_timer, *duration_timer, *timeout_timer, *kill_timer;
	pid_t pid;
	int pidfd;
	bool launched;	   /* our child: exit status and rusage are known */
	bool running;	   /* monitoring */
	bool command_done; /* the command (root) has exited */
	bool timed_out;	   /* --timeout ended it */
	uint64_t t0_ms, start_mono_ns;
	uint64_t last_sample_cost_ns; /* reading + records + hooks of the latest sample */
	struct rusage ru;	      /* the command's, with what it waited for */
	struct rusage orphans_ru;     /* orphans of the tree reaped by denet */
	uint64_t processes_seen;
	struct dn_summary summary;
	double sampled_cpu_secs;
	struct dn_exit_info exit;
	struct dn_buf line; /* the latest record */
	int outputs[DN_MONITOR_MAX_OUTPUTS];
	int noutputs;
	int write_error;  /* first -errno of an output write, EPIPE aside */
	bool reader_gone; /* an output's reader closed it (EPIPE): like `cat`
			     into `head`, that output gets nothing more, and
			     it is not an error */
	/* per output: offset when added (-1 if not seekable), bytes of
	 * complete records written since, and whether a write failed (it then
	 * gets nothing more: records stay whole lines) */
	int64_t out_base[DN_MONITOR_MAX_OUTPUTS];
	uint64_t out_bytes[DN_MONITOR_MAX_OUTPUTS];
	bool out_failed[DN_MONITOR_MAX_OUTPUTS];
	char **argv; /* owned copy */
	int argc;
	char executable[4096];
	struct dn_capability caps[8];
	int ncaps;
	struct dn_launch *pending;  /* launched, not yet released */
	struct dn_cgroup *cg;	    /* the run's own cgroup (or the attached tree's) */
	struct dn_cgroup_stats cgs; /* its latest reading */
	bool cgs_ok;
	char exit_source[64];	 /* exit.source when it names the cgroup */
	char cg_why[160];	 /* why there is no cgroup */
	struct dn_profile *prof; /* off-CPU profile, when asked for and possible */
	char prof_why[256];	 /* why there is none */
	uint64_t prof_window_ms; /* wall time of the previous drain */
	int prof_event_fd;	 /* the profile's process events, in the loop */
	bool root_had_mm;	 /* the root was seen with an address space */
};

/* Put a monitor in its safe closed state: no fds (-1), no memory, nothing
 * running. dn_monitor_free on it closes nothing; launch and attach start
 * from it. Every monitor must pass through here (or launch/attach) before
 * dn_monitor_free: a zero-filled struct would read as fd 0. */
void dn_monitor_init(struct dn_monitor *m);
/* Launch argv (prepared, not released: the caller may add outputs and
 * hooks, then dn_monitor_start). 0 or -errno; an exec failure is
 * reported by dn_monitor_start. */
int dn_monitor_launch(struct dn_monitor *m, struct dn_loop *loop, const struct dn_monitor_opts *o,
		      char *const *argv, int argc, const struct dn_launch_opts *lo);
/* Attach to a running process. 0, -ESRCH, or -errno. */
int dn_monitor_attach(struct dn_monitor *m, struct dn_loop *loop, const struct dn_monitor_opts *o,
		      pid_t pid);
/* Add an fd that receives every record. 0 or -ENOSPC. */
int dn_monitor_add_output(struct dn_monitor *m, int fd);
/* Whether the monitor had outputs and none of them takes records any more
 * (each failed or lost its reader). */
bool dn_monitor_outputs_gone(const struct dn_monitor *m);
/* Release the command (launch) and start sampling; writes `metadata`.
 * For a launch whose exec failed: -errno of exec (the child is reaped). */
int dn_monitor_start(struct dn_monitor *m);
/* Take a sample now (outside the schedule). 0, or -ESRCH once the tree is
 * empty or its root has exited (no record then: a process that has exited
 * is described by the `exit` record, not by a sample). */
int dn_monitor_sample_now(struct dn_monitor *m);
/* Stop monitoring, leave the command alone. */
void dn_monitor_stop(struct dn_monitor *m);
/* Stop monitoring a command that runs on, with a final `exit` record that
 * says so (`detached`: no exit status; the sampled totals so far, the
 * cgroup's totals so far when there is one); the tree leaves the run's
 * cgroup for denet's own. 0, or -ESRCH when not monitoring. */
int dn_monitor_detach(struct dn_monitor *m);
/* Send sig to every live process of the tree (root first). */
int dn_monitor_signal_tree(struct dn_monitor *m, int sig);
/* SIGTERM to the tree, SIGKILL after the grace period if it lingers. */
void dn_monitor_terminate(struct dn_monitor *m);
/* End monitoring without the loop (it failed: see dn_loop_run_once): a
 * launched command is killed with SIGKILL and reaped at once, and its
 * `exit` record written; an attached process is left alone. */
void dn_monitor_abort(struct dn_monitor *m);
/* denet's signal policy (docs/cli.md) for INT/TERM/HUP/QUIT it receives:
 * forwarded to a launched command (except a terminal's ^C/^\, which
 * reached it already); an attached process is left alone and monitoring
 * stops. */
void dn_monitor_on_signal(struct dn_monitor *m, const struct signalfd_siginfo *si);
/* Write a record line to every output and the on_record hook. */
void dn_monitor_emit(struct dn_monitor *m, const char *line, size_t len);
/* A `mark` record. -ESRCH before start or after the command ended. */
int dn_monitor_mark(struct dn_monitor *m, const char *label);
/* Called by the owner on SIGCHLD: reap zombies among denet's children
 * that are not a monitor's own command (orphans adopted as subreaper). */
void dn_monitor_reap_orphans(struct dn_monitor **mons, int n);
/* Release everything; idempotent (the monitor is left as dn_monitor_init
 * leaves it). */
void dn_monitor_free(struct dn_monitor *m);

#endif
