/*
 * proctree.h — the monitored process tree and its per-process readings.
 *
 * Processes are identified by (pid, start time) and kept in a hash keyed by
 * pid; each keeps its /proc files open (pread at offset 0 re-reads them,
 * and a kept fd pins the identity: after the process is reaped, reads fail
 * with ESRCH instead of aliasing a reused pid; the start time is compared
 * too, wherever a pid comes from outside: an adoption, a signal).
 *
 * Membership: the caller adopts the processes it learns of from a better
 * source (the run's cgroup.procs, fork events: engine/run/membership.c)
 * and then turns the children walk off (dn_tree_walk_children). Without
 * one, descendants are found from /proc/PID/task/TID/children of the
 * processes already known, never by a scan of all of /proc. A scan is
 * mark-and-sweep: every known process is re-read; the ones whose reads
 * fail are gone; processes adopted since the previous scan, and children
 * not known yet, are new.
 */
#ifndef DENET_PROCTREE_H
#define DENET_PROCTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "metrics.h"
#include "procfs.h"
#include "tasksnap.h"

struct dn_proc {
	pid_t pid, ppid;
	uint64_t start_ticks; /* with pid, the identity */
	char comm[DN_COMM_MAX];
	char *command; /* cmdline joined by spaces; comm when empty */
	/* `command` as a quoted JSON string, built by engine/run/records.c
	 * when a record first names the process and reused until `command`
	 * changes: proctree.c frees it wherever it replaces `command`
	 * (set_command) and in proc_free. NULL: not built. */
	char *command_json;
	size_t command_json_len;
	char state;
	struct dn_metrics m; /* the latest sample */
	bool is_new;	     /* first seen in (or adopted before) the latest scan */
	bool execd;	     /* exec'd since the previous scan (comm changed) */
	/* Read by the monitor and its rules, written by proctree.c only: the
	 * latest /proc/PID/stat (threads, vsize: none for a zombie or a
	 * kernel thread), and the fds of /proc/PID/io and schedstat, -1 when
	 * they could not be opened (another user's process: its I/O counters
	 * read 0; a kernel without schedstat: CPU from stat ticks). */
	struct dn_stat st;
	int fd_io, fd_sched;
	bool counted; /* the caller's mark (engine/run/membership.c: counted
			 among the processes the run started); 0 when added */

	/* private to proctree.c */
	int fd_stat, fd_children;
	bool fds_open;			       /* fd_io and fd_sched were opened (with a source of
						  readings, only when it misses the process) */
	const struct dn_task_reading *reading; /* the latest scan's, from the
						  source; NULL: read from /proc */
	unsigned stat_gen;
	bool adopted; /* added between scans: new in the next one */
	bool has_prev;
	uint8_t prev_sched_kind; /* what prev_sched_ns measures (proctree.c) */
	uint64_t prev_sched_ns, prev_tick_ns, prev_boot_ns;
	uint64_t own_cum_ns;  /* CPU counted for it so far (sum of window deltas) */
	double window_cpu_ns; /* its CPU in the latest window (since its birth
				 when it was born in it) */
	uint64_t cpu_base_ns; /* own_cum_ns when monitoring started (cpu_secs) */
	bool base_pending;    /* present at the start: its first reading is the
				 base of its CPU, I/O and fault counts */
	uint64_t cchild_ns;   /* CPU of its children it has waited for (cutime+cstime) */
	struct dn_io io_base;
	uint64_t minflt_base, majflt_base;
	struct dn_proc *hnext;
	/* its command line read empty (as mid-exec): read it again, at most
	 * DN_COMMAND_RETRIES samples after its exec */
	bool command_is_comm;
	uint8_t command_retries;
};

#define DN_COMMAND_RETRIES 20

/* A process that left the tree in the latest scan. */
struct dn_proc_gone {
	pid_t pid, ppid;
	/* it came and went between two scans (opened from a fork event,
	 * never scanned): nobody was told of its birth yet */
	bool birth_unreported;
	uint64_t start_ticks;
	char *command;
	struct dn_metrics last; /* its last sample */
};

/* A source of per-process readings other than each process's /proc files:
 * the BPF task iterator (engine/profiler/tasksampler.c). A scan takes one
 * sample and reads /proc only for the processes it lacks. */
struct dn_tree_source {
	void *ctx;
	/* This scan's readings, or NULL (+ errno): the scan reads /proc. */
	const struct dn_tasksnap *(*refresh)(void *ctx);
	/* The tree holds pid's process now (on), or no longer (off). */
	void (*follow)(void *ctx, pid_t pid, bool on);
	/* Whether the next refresh must also have the followed processes'
	 * new descendants (the tree finds members by their parents). */
	void (*descendants)(void *ctx, bool on);
};

/* Whether a scan reads through the source or /proc: the cheaper, as
 * measured. The iterator walks every task of the machine to find the
 * tree's (~0.2 us each), /proc costs three reads a process: for a small
 * tree on a busy machine /proc is cheaper, for a large one the iterator,
 * by far. Each scan's cost is measured and the way not taken is tried
 * again every DN_READ_PROBE_EVERY scans, or when the tree has doubled or
 * halved since. */
enum dn_read_mode { DN_READ_AUTO, DN_READ_SOURCE_ALWAYS };
#define DN_READ_PROBE_EVERY 64 /* times how much dearer the other way is */
struct dn_read_costs {
	double src_ns;		/* a scan through the source */
	double proc_pp_ns;	/* a /proc scan, per process */
	unsigned src_n, proc_n; /* measurements of each (2 before a choice) */
	size_t src_nprocs;	/* the tree's size when src_ns was measured */
	unsigned since_probe;	/* scans since the way not taken was tried */
};
/* The choice for the next scan of a tree of nprocs (pure: tests). */
bool dn_read_through_source(const struct dn_read_costs *c, size_t nprocs);

struct dn_tree_opts {
	pid_t root;
	bool children;		  /* follow descendants */
	bool since_process_start; /* I/O and faults raw, not since monitoring start */
	/* read through this (copied) from the first scan on, NULL: /proc
	 * only; the processes then keep no io and schedstat fds */
	const struct dn_tree_source *source;
};

struct dn_tree {
	struct dn_tree_opts opts;
	struct dn_proc **procs; /* the live processes, root first if alive */
	size_t nprocs, cap;
	struct dn_proc **buckets;
	size_t nbuckets;
	unsigned gen;
	uint64_t t0_boot_ns;   /* when monitoring began */
	uint64_t last_boot_ns; /* the previous scan */
	bool primed;
	long clk_tck;
	uint64_t page_kb;
	int fd_netdev;
	uint64_t net_rx0, net_tx0;
	struct dn_metrics agg;	   /* aggregate of the latest scan */
	struct dn_proc_gone *gone; /* left in the latest scan */
	size_t ngone, gone_cap;
	size_t ngone_reported; /* gone[] entries the latest scan reported;
				  the rest left between scans (a reused pid) */
	bool walk_children;    /* read children files (no better source) */
	bool walk_once;	       /* ... in the next scan only (events lost) */
	size_t nspawned;       /* procs[] entries with is_new set */
	char *rdbuf;
	size_t rdcap;
	struct dn_tree_source src;	/* src.refresh NULL: /proc only */
	const struct dn_tasksnap *snap; /* the latest scan's sample, or NULL */
	uint64_t src_hits, src_misses;	/* processes read from it / from /proc */
	enum dn_read_mode read_mode;
	struct dn_read_costs costs;
	/* Whole-tree CPU accounting: live processes' own + reaped-children CPU,
	 * plus what denet reaped itself (the monitor adds orphans' rusage), so
	 * processes born and gone inside one window still count. */
	uint64_t reaped_by_denet_ns;
	uint64_t prev_total_ns;
	/* An exact tree total from elsewhere (the run's cgroup), 0 = none:
	 * set by the monitor before each scan. */
	uint64_t exact_total_ns;
	uint64_t prev_exact_total_ns;
	double cpu_residue_ns; /* total minus the processes' sum, carried over */
	double agg_cpu_ns;     /* Σ aggregated cpu_usage × window: agg.cpu_secs */
};

/* Open the root and read a baseline (so the first sample has a window).
 * 0, -ESRCH if the root does not exist, or -errno. */
int dn_tree_init(struct dn_tree *t, const struct dn_tree_opts *o);
void dn_tree_free(struct dn_tree *t);

/* Re-read every process, find new descendants and the ones gone, and
 * compute each process's metrics and the aggregate, stamped wall_ms.
 * Returns the number of live processes (0 once the tree is empty). */
int dn_tree_scan(struct dn_tree *t, uint64_t wall_ms);

/* Add a process the caller knows belongs to the tree (an orphan adopted by
 * denet, a member of the run's cgroup, a fork event's child); it is `new`
 * in the next scan. If a process with that pid is known but has ended (a
 * reused pid: its start time differs), the old one is recorded as gone
 * and the new one added. 0, -EEXIST (the same process is known), -ESRCH
 * (gone already), or -errno. */
int dn_tree_adopt(struct dn_tree *t, pid_t pid);

/* Whether scans read the children files to find descendants (the default
 * with opts.children). A caller with a better source turns it off;
 * dn_tree_walk_once asks for one walk in the next scan (after the source
 * lost events). */
void dn_tree_walk_children(struct dn_tree *t, bool on);
void dn_tree_walk_once(struct dn_tree *t);

/* Sends sig to every live process of the tree but `skip` (0: none), each
 * through a pidfd whose identity is checked before the signal: the pid is
 * opened, then the process's kept stat fd must still read and show the
 * start time the tree recorded. A kept fd fails once its process is
 * reaped, and a pid is reused only after that, so the pidfd names the
 * process the tree knew, never a newcomer with its pid. Returns the
 * number signalled. */
int dn_tree_signal(struct dn_tree *t, int sig, pid_t skip);

struct dn_proc *dn_tree_find(const struct dn_tree *t, pid_t pid);
/* Read pid's command line again (after an exec the tree could not see). */
void dn_tree_reread_command(struct dn_tree *t, pid_t pid);
/* pid exec'd (an exec event): its new command line replaces the old one
 * if it can be read (a process that exec'd and ended at once keeps the
 * one it had). */
void dn_tree_exec_seen(struct dn_tree *t, pid_t pid);
/* The root if it is still alive (it is procs[0] then), else NULL. */
struct dn_proc *dn_tree_root(const struct dn_tree *t);

#endif
