/*
 * monitor_private.h — the fields of struct dn_monitor: monitor.c's working
 * state. Included only by engine/run/ (monitor.c, monitor_view.c, rules.c)
 * and by the monitor's own unit test, which checks the closed state;
 * everyone else uses monitor.h's accessors (see there why).
 */
#ifndef DENET_MONITOR_PRIVATE_H
#define DENET_MONITOR_PRIVATE_H

#include <sys/resource.h>

#include "buf.h"
#include "cgroup.h"
#include "gpu.h"
#include "membership.h"
#include "psi.h"
#include "monitor.h"
#include "overhead.h"
#include "perfcount.h"
#include "schedule.h"
#include "tasksampler.h"

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
	bool run_killed;   /* SIGKILLed through the cgroup: no survivors */
	/* wait_all: the command exited (reaped: its pid is no longer ours to
	 * signal) and monitoring follows its survivors; its status waits
	 * here for the exit record */
	bool waiting_survivors;
	bool root_known;
	int root_status;
	uint64_t t0_ms, start_mono_ns;
	uint64_t last_sample_cost_ns; /* reading + records + hooks of the latest sample */
	struct dn_overhead ov;	      /* what watching has cost (the exit record's) */
	int hook_depth;		      /* hooks running (nested: a hook that samples) */
	struct rusage ru;	      /* the command's, with what it waited for */
	struct rusage orphans_ru;     /* orphans of the tree reaped by denet */
	uint64_t processes_seen;
	uint64_t started_before; /* processes started before this window */
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
	struct dn_capability caps[16];
	int ncaps;
	struct dn_launch *pending;  /* launched, not yet released */
	struct dn_cgroup *cg;	    /* the run's own cgroup (or the attached tree's) */
	struct dn_cgroup_stats cgs; /* its latest reading */
	bool cgs_ok;
	char exit_source[64];		   /* exit.source when it names the cgroup */
	char cg_why[160];		   /* why there is no cgroup */
	struct dn_profile *prof;	   /* off-CPU profile, when asked for and possible */
	char prof_why[256];		   /* why there is none */
	uint64_t prof_window_ms;	   /* wall time of the previous drain */
	int prof_event_fd;		   /* the profile's process events, in the loop */
	bool root_had_mm;		   /* the root was seen with an address space */
	struct dn_membership mb;	   /* who is in the run, how many it started */
	struct dn_tasksampler *sampler;	   /* the tree's readings (BPF), or NULL: /proc */
	char sampler_why[160];		   /* why there is none */
	int mb_fd;			   /* mb's connector fd, in the loop; -1 */
	bool in_hooks;			   /* the hooks of a sample run: no membership sync */
	struct dn_monitor *next_launched;  /* monitor.c's list of launched ones */
	struct dn_gpu *gpu;		   /* NVML, opened at the start, or NULL */
	char gpu_why[256];		   /* why there is none */
	const struct dn_gpu_sample *gpu_s; /* the latest sample's reading (gpu's) */
	uint64_t gpu_tree_mem_bytes;	   /* its processes of the tree: GPU memory */
	struct dn_psi psi;		   /* pressure stalls: the system's, the cgroup's */
	char psi_why[160];		   /* why there is none */
	/* kernel PSI triggers of p:watch rules (psi_triggers.c): wanted,
	 * set at the start (or at once when running), and in the loop */
	struct dn_psi_want {
		bool system, full;
		int res; /* enum dn_psi_res */
		double pct;
	} psi_want[DN_PSI_MAX_TRIGGERS];
	int npsi_want;
	bool psi_trig_in_loop[DN_PSI_MAX_TRIGGERS]; /* by index in psi.trig */
	char psi_trig_why[160];			    /* why a trigger could not be set */
	uint64_t psi_wakeups;			    /* samples a trigger brought forward */
	/* --counters (perfcount.h) */
	struct dn_perfcount pc;	       /* open on the held child, or closed */
	bool pc_open;		       /* the software counters opened */
	struct dn_perf_values pc_prev; /* the reading of the latest record's window */
	struct dn_perf_values pc_win;  /* the latest record's window (pc_win_ok) */
	bool pc_win_ok;
	char pc_why[224];    /* why none: the software counters */
	char pc_hw_why[160]; /* the hardware ones */
};

/* psi_triggers.c: sets the wanted triggers once PSI is open (0, or the
 * first failure's -errno: those rules stay polled), and takes them out of
 * the loop before m->psi closes their fds. */
int dn_monitor_psi_triggers_start(struct dn_monitor *m);
void dn_monitor_psi_triggers_stop(struct dn_monitor *m);

/* Put a monitor in its safe closed state: no fds (-1), no memory, nothing
 * running. dn_monitor_free on it closes nothing; launch and attach start
 * from it. Every monitor must pass through here (or launch/attach) before
 * dn_monitor_free: a zero-filled struct would read as fd 0. */
void dn_monitor_init(struct dn_monitor *m);
/* Release everything; idempotent (the monitor is left as dn_monitor_init
 * leaves it). */
void dn_monitor_free(struct dn_monitor *m);

#endif
