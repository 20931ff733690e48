/*
 * monitor.h — one monitored command or attached process: its tree, its
 * sampling schedule on the shared loop, its outputs, and the end of its
 * life (exit status, kernel totals, the final `exit` record).
 *
 * The CLI drives one monitor; a Lua script may drive several on one loop.
 * A monitor never prints: records go to its outputs (fds, each record one
 * write()) and to the hooks; errors are returned.
 *
 * struct dn_monitor is opaque outside the run layer: its ~45 fields are
 * the working state of monitor.c (timers, fds, the schedule, the cgroup,
 * output bookkeeping) and are declared in monitor_private.h, which only
 * engine/run/ includes. Callers (the CLI, the bindings, tests) get a
 * monitor from dn_monitor_new and read what they need through the
 * accessors below: its state, options, command line, tree, summary, exit
 * and profile. Opaque rather than "public fields, please don't": every
 * read from outside is now a named function, so monitor.c may change its
 * fields without touching a caller.
 */
#ifndef DENET_MONITOR_H
#define DENET_MONITOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "launcher.h"
#include "loop.h"
#include "profile.h"
#include "proctree.h"
#include "records.h"
#include "summary.h"

struct dn_monitor;
struct dn_psi;
struct dn_gpu_sample;

struct dn_monitor_hooks {
	/* After each sample (its record went to on_record first). */
	void (*on_sample)(struct dn_monitor *m, void *ctx);
	void (*on_spawn)(struct dn_monitor *m, const struct dn_proc *p, void *ctx);
	void (*on_reap)(struct dn_monitor *m, const struct dn_proc_gone *g, void *ctx);
	/* Every record written (metadata, tree/sample, exit, mark, alert). */
	void (*on_record)(struct dn_monitor *m, const char *line, size_t len, void *ctx);
	/* Monitoring ended: the command exited (dn_monitor_exit is set), or
	 * --duration elapsed / dn_monitor_stop was called (its `known` is
	 * false and the command runs on). */
	void (*on_end)(struct dn_monitor *m, void *ctx);
	/* Before each scheduled deadline is computed: return true to keep the
	 * base interval (threshold-aware sampling). */
	bool (*want_fast)(struct dn_monitor *m, void *ctx);
	void *ctx;
};

/* --sampler: the BPF task iterator or /proc, whichever is cheaper for the
 * tree (measured, see proctree.h); the iterator only; /proc only. */
enum dn_sampler_mode { DN_SAMPLER_AUTO, DN_SAMPLER_BPF, DN_SAMPLER_PROC };

struct dn_monitor_opts {
	unsigned interval_ms, max_interval_ms;
	bool children; /* follow descendants (tree records) */
	bool since_process_start;
	double duration_secs;	      /* stop monitoring after; 0 = never */
	double timeout_secs;	      /* end the command after; 0 = never */
	double kill_grace_secs;	      /* SIGTERM -> SIGKILL (5 s) */
	bool no_cgroup;		      /* do not put the command in a cgroup of its own */
	bool no_fork_events;	      /* no proc connector: counts from the samples */
	enum dn_sampler_mode sampler; /* how the tree is read (--sampler) */
	bool wait_all;		      /* go on after the command exits, until the run's
					 processes are all gone (--wait-all) */
	bool offcpu;		      /* eBPF off-CPU profile of the tree */
	bool counters;		      /* perf_event_open counters of a launched
					 command's tree (--counters) */
	struct dn_profile_opts offcpu_opts;
};

/* A new monitor in its safe closed state (no fds, nothing running);
 * launch or attach start from it. NULL with errno = ENOMEM. */
struct dn_monitor *dn_monitor_new(void);
/* Release everything (as dn_monitor_free: a launched command still held
 * or running is killed) and the monitor itself. NULL is a no-op. */
void dn_monitor_destroy(struct dn_monitor *m);
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
/* A kernel PSI trigger for a p:watch rule on a pressure stall above pct %
 * (0 < pct < 100) of one line (res: enum dn_psi_res) of the run's cgroup or
 * of the system: when the kernel reports it, the next sample is taken at
 * once (psi_triggers.c). Asked for before the start, it is set when PSI
 * opens; later, at once. 0, or -errno (-EINVAL, -ENOSPC beyond 8, the
 * kernel's refusal): the rule is then judged on the scheduled samples
 * only, as without triggers. */
int dn_monitor_psi_trigger(struct dn_monitor *m, bool system, int res, bool full, double pct);
/* Called by the owner on SIGCHLD: reap zombies among denet's children
 * that are not a monitor's own command (orphans adopted as subreaper). */
void dn_monitor_reap_orphans(struct dn_monitor **mons, int n);
/* ---- what callers read (monitor_view.c) ---- */

/* The hooks called now; replaced as a whole (a caller that wraps them
 * keeps the old ones and calls them itself, as the bindings do). */
const struct dn_monitor_hooks *dn_monitor_get_hooks(const struct dn_monitor *m);
void dn_monitor_set_hooks(struct dn_monitor *m, const struct dn_monitor_hooks *h);
/* The options it was launched or attached with. */
const struct dn_monitor_opts *dn_monitor_opts(const struct dn_monitor *m);
/* The command (root) PID; 0 before launch/attach. */
pid_t dn_monitor_pid(const struct dn_monitor *m);
/* Its command line (launched; argc 0 when attached): owned by the monitor. */
char *const *dn_monitor_argv(const struct dn_monitor *m, int *argc);
/* Monitoring now; the command is denet's child; the command has exited;
 * --timeout ended it. */
bool dn_monitor_running(const struct dn_monitor *m);
bool dn_monitor_launched(const struct dn_monitor *m);
bool dn_monitor_command_done(const struct dn_monitor *m);
bool dn_monitor_timed_out(const struct dn_monitor *m);
/* The process tree as of the latest sample (read only). */
const struct dn_tree *dn_monitor_tree(const struct dn_monitor *m);
/* Seconds since monitoring started (0 before). */
double dn_monitor_elapsed_secs(const struct dn_monitor *m);
/* What the latest sample cost: reading, records and hooks. */
uint64_t dn_monitor_sample_cost_ns(const struct dn_monitor *m);
/* Whether the metadata record's capability `name` is ok (false when the
 * monitor has none of that name, or before dn_monitor_start). */
bool dn_monitor_capability(const struct dn_monitor *m, const char *name);
/* Why capability `name` is not ok (NULL when it is, or is unknown). */
const char *dn_monitor_capability_reason(const struct dn_monitor *m, const char *name);
/* Why --sampler bpf could not be had (launch and attach then fail), or
 * NULL. */
const char *dn_monitor_sampler_error(const struct dn_monitor *m);
/* The summary of the samples so far. */
const struct dn_summary *dn_monitor_summary(const struct dn_monitor *m);
/* The `exit` record's figures, once monitoring ended with the command's
 * exit or a detach (else `known` and `source` are unset). */
const struct dn_exit_info *dn_monitor_exit(const struct dn_monitor *m);
/* What the samples add up to so far, for a monitor that has not seen its
 * command exit (exit status and kernel totals unknown). */
void dn_monitor_sampled_totals(const struct dn_monitor *m, struct dn_exit_info *e);
/* What watching has cost so far: the exit record's `overhead`. */
struct dn_overhead_info;
void dn_monitor_overhead(const struct dn_monitor *m, struct dn_overhead_info *info);
/* The off-CPU profile, or NULL; *why (may be NULL) then says why there is
 * none when one was asked for ("" when unknown). */
struct dn_profile *dn_monitor_profile(const struct dn_monitor *m, const char **why);
/* The pressure stall readings of the latest sample (aggregated.psi), or
 * NULL when PSI is not read (the `psi` capability, or monitoring ended). */
const struct dn_psi *dn_monitor_psi(const struct dn_monitor *m);
/* The latest sample's GPU reading (NVML), or NULL without NVML; with
 * *tree_mem_bytes (may be NULL) the GPU memory of the tree's processes. */
const struct dn_gpu_sample *dn_monitor_gpu(const struct dn_monitor *m, uint64_t *tree_mem_bytes);
/* The perf counters of the latest sample record's window (--counters), or
 * NULL when it has none. */
const struct dn_perf_values *dn_monitor_counters(const struct dn_monitor *m);
/* The first -errno of an output write (EPIPE aside), else 0; whether an
 * output's reader closed it (EPIPE: not an error). */
int dn_monitor_write_error(const struct dn_monitor *m);
bool dn_monitor_reader_gone(const struct dn_monitor *m);

#endif
