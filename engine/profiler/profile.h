/*
 * profile.h — an off-CPU profile of a process tree: the eBPF aggregate
 * (offcpu.c) drained per window and symbolized in-process (symbolizer.c),
 * kept as the window's stacks, upstream's `ebpf.offcpu` statistics
 * (cumulative totals, per-thread figures for the threads alive or active
 * and a bounded summary of the exited ones), and cumulative folded stacks. The CLI (--enable-ebpf,
 * --offcpu-out) and Lua (denet.offcpu) both use it.
 */
#ifndef DENET_PROFILE_H
#define DENET_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "json.h"
#include "symbolizer.h"

struct dn_profile_opts {
	bool kernel_stacks; /* default on: they cost more than user stacks */
	uint64_t min_us;    /* shorter off-CPU intervals are not recorded */
	uint64_t max_us;    /* 0 = no upper bound */
	bool lines;	    /* file:line for frames (libdw; slower to load) */
	bool no_offcpu;	    /* no off-CPU stacks (sched_switch unattached) */
	bool syscalls;	    /* the syscall tracker too (systrace.h) */
};

/* One symbolized frame of a window stack. */
struct dn_profile_frame {
	uint64_t addr;
	bool kernel;
	struct dn_frame f; /* strings owned by the profile's symbolizer */
};

struct dn_profile_stack {
	pid_t pid, tid;
	char comm[16];
	char state; /* 'S' sleeping, 'D' uninterruptible */
	uint64_t off_ns, count, max_ns;
	struct dn_profile_frame *frames; /* innermost first: kernel, then user */
	int nframes;
};

struct dn_profile;

/* NULL + errno with a one-line reason in `why` (permission, kernel). */
struct dn_profile *dn_profile_open(const struct dn_profile_opts *o, char *why, size_t whylen);
/* Record this tgid (and, from the kernel, the children it forks); capture
 * its maps so its stacks symbolize after it exits. 0 or -errno. */
int dn_profile_track(struct dn_profile *p, pid_t tgid);
/* Re-capture maps of pid (first seen, after exec). */
void dn_profile_capture(struct dn_profile *p, pid_t pid);
/* Drain the kernel aggregate, symbolize, and add to the current window,
 * the cumulative statistics and the folded stacks; then retire the threads
 * and free the maps of the processes that were gone before this drain
 * (their last intervals are in it). With an empty window (after
 * dn_profile_reset_window), modules no live process maps may be freed
 * first. 0 or -errno. */
int dn_profile_drain(struct dn_profile *p);
/* The stacks of the current window (since the last reset). */
size_t dn_profile_window(const struct dn_profile *p, const struct dn_profile_stack **stacks);
void dn_profile_reset_window(struct dn_profile *p);
/* Exited threads listed one by one in thread_stats (the rest is summed). */
#define DN_PROFILE_TOP_EXITED 10
/* Upstream's `ebpf.offcpu` object. Totals are cumulative since the profile
 * began: total_time_ns, total_events, avg_time_ns, max_time_ns,
 * min_time_ns. top_blocking_threads: the 10 threads with the most off-CPU
 * time, exited or not. thread_stats, keyed "PID:TID", holds the threads
 * alive at the last drain or with an interval in the current window, and
 * the DN_PROFILE_TOP_EXITED exited threads with the most off-CPU time;
 * exited_threads sums every other thread (threads, total_time_ns, count,
 * ...). The totals are the sums of thread_stats and exited_threads. */
void dn_profile_write_upstream(struct dn_json *j, const struct dn_profile *p);
/* An `offcpu` record (one line, "\n"-terminated) of the current window. */
void dn_profile_write_record(struct dn_buf *b, const struct dn_profile *p, uint64_t ts_ms,
			     uint64_t window_ms);
/* Cumulative folded stacks: "comm;outer;...;inner VALUE\n" per stack,
 * VALUE = off-CPU microseconds (flamegraph.pl, speedscope). */
void dn_profile_folded(const struct dn_profile *p, struct dn_buf *out);
/* Process events from the kernel (exec, fork, first block of a tracked
 * process): an fd for the event loop, and the handler to call when it is
 * readable, which captures the maps of those processes at once, so the
 * stacks of a child that blocks and exits between two drains still
 * symbolize. */
int dn_profile_event_fd(struct dn_profile *p);
int dn_profile_poll_events(struct dn_profile *p);
/* The syscall tracker (opened with `syscalls`, else NULL), drained by
 * dn_profile_drain. */
struct dn_systrace *dn_profile_systrace(const struct dn_profile *p);
/* Whether off-CPU stacks are profiled (not opened with no_offcpu). */
bool dn_profile_offcpu(const struct dn_profile *p);
/* What its BPF programs have cost so far (bpfstats.h). */
struct dn_bpf_cost;
void dn_profile_bpf_cost(const struct dn_profile *p, struct dn_bpf_cost *c);
/* The symbolizer the profile uses (shared with denet.symbolizer). */
struct dn_symbolizer *dn_profile_symbolizer(struct dn_profile *p);
void dn_profile_close(struct dn_profile *p);

#endif
