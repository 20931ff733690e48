/*
 * offcpu.h — off-CPU profiling of a process tree with eBPF (loader side).
 *
 * Loads bpf/offcpu.bpf.c (a light skeleton: the kernel loads it and does
 * its CO-RE relocations), keeps its tgid set, resolves
 * the leaf libc frame the frame-pointer walk misses (.eh_frame CFI through
 * libdw) and drains the in-kernel aggregate. Addresses only: symbolization
 * is engine/profiler/symbolizer.c's job. Nothing here prints; a failed open
 * says why in `why`.
 */
#ifndef DENET_OFFCPU_H
#define DENET_OFFCPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DN_OFFCPU_FRAMES 127

struct dn_offcpu_opts {
	bool kernel_stacks;
	bool user_stacks;
	uint64_t min_us, max_us; /* max_us 0: no upper bound */
	bool force_raw_tp;	 /* skip tp_btf (tests of the fallback) */
	bool no_offcpu;		 /* leave sched_switch unattached (syscalls only) */
	bool syscalls;		 /* attach the syscall tracker (bpf/syscalls.bpf.h) */
};

struct dn_offcpu;

/* Loads and attaches the program. NULL + errno on failure; `why` (may be
 * NULL) gets a one-line human reason, e.g. "eBPF needs root or
 * CAP_BPF+CAP_PERFMON (EPERM loading offcpu.bpf.o)". */
struct dn_offcpu *dn_offcpu_open(const struct dn_offcpu_opts *o, char *why, size_t whylen);

/* Adds a tgid; its children forked from now on are followed in the kernel
 * (existing descendants must be added by the caller). 0 or -errno. */
int dn_offcpu_track(struct dn_offcpu *p, pid_t tgid);

/* One aggregated off-CPU stack since the previous drain. user[] and
 * kernel[] are innermost first; user[1..nrecovered] are return addresses
 * recovered from the .eh_frame CFI of frames without frame pointer (libc's:
 * the caller of the libc function, and the libc frames in between), the
 * frame-pointer walk follows. */
struct dn_offcpu_stack {
	pid_t tgid, tid;
	char comm[16];
	char state; /* 'S' or 'D' */
	uint64_t off_ns, count, max_ns;
	uint64_t user[DN_OFFCPU_FRAMES];
	int nuser;
	uint64_t kernel[DN_OFFCPU_FRAMES];
	int nkernel;
	bool recovered; /* user[1] was recovered (not from the FP walk) */
	int nrecovered; /* user[1..nrecovered] were recovered */
};

/* Reads and clears the in-kernel aggregate (double-buffered: no interval
 * is lost to a race with the kernel), calls fn for each entry. Returns the
 * number of entries or -errno. */
int dn_offcpu_drain(struct dn_offcpu *p, void (*fn)(const struct dn_offcpu_stack *s, void *ctx),
		    void *ctx);

/* Kernel-side counters, for diagnostics and tests. */
struct dn_offcpu_stats {
	uint64_t switches_out, recorded, recovered, unknown_leaf;
	uint64_t ustack_err, kstack_err, agg_full, start_full;
	uint64_t leaves_resolved; /* leaf rules computed in user space */
	uint64_t snap_recovered;  /* frames recovered from stack copies */
	bool btf_tracepoint;	  /* tp_btf attached (else raw_tp) */
	uint64_t events_lost;	  /* exec/fork events dropped: ring buffer full */
	uint64_t fp_cut;	  /* FP walks cut at an implausible frame */
	uint64_t rec_frames;	  /* frames recovered with CFI in the kernel */
	uint64_t stacks_live;	  /* stacks in the kernel map after the last drain */
	uint64_t stacks_freed;	  /* stacks deleted by the drains */
	uint64_t tgids;		  /* processes tracked now */
};
void dn_offcpu_get_stats(const struct dn_offcpu *p, struct dn_offcpu_stats *st);

/* Stops tracking the tgids that are gone. The kernel forgets a tgid when
 * its last thread exits; one added by dn_offcpu_track while it was
 * exiting, or as a zombie, would stay in the (bounded) tgid map. Returns
 * the number dropped (up to 256 a call) or -errno. */
int dn_offcpu_sweep(struct dn_offcpu *p);

/* The offset from the user sp of the return address out of the function
 * at `ip` in process `pid`, from the .eh_frame CFI of the mapped file:
 * CFA = sp + N, return address at CFA - 8, so *off = N - 8. -ENOENT when
 * there is no CFI for ip, -EOPNOTSUPP when the CFA is not sp-based (a frame
 * pointer function: nothing to recover), -ESRCH when pid is gone. */
int dn_offcpu_leaf_offset(struct dn_offcpu *p, pid_t pid, uint64_t ip, int *off);

/* Process events, for a prompt capture of /proc/PID/maps (so the stacks of
 * a short-lived child still symbolize after it exits):
 *   DN_OFFCPU_EXEC (1)    a tracked tgid called exec: the new executable
 *                         and ld.so are mapped, its libraries not yet;
 *   DN_OFFCPU_FORK (2)    a tracked tgid forked tgid (now tracked too);
 *   DN_OFFCPU_BLOCKED (3) first off-CPU wait of a tracked image (after each
 *                         exec or fork): usually its libraries are mapped
 *                         by then, and the process waits while its maps are
 *                         read; on a loaded machine ld.so itself may wait
 *                         first (reading a library from disk), before
 *                         libc is mapped — so the monitor captures the maps
 *                         of new and exec'd processes at each sample too.
 * Callers that capture maps should do so for every kind. dn_offcpu_event_fd
 * is an fd for epoll/poll (readable when events wait); -errno on error.
 * dn_offcpu_poll_events consumes the pending events without blocking, calls
 * fn for each, and returns their number or -errno. It also resolves the
 * unwind rules of frames the kernel just met (do call it when readable). */
#define DN_OFFCPU_EXEC	  1
#define DN_OFFCPU_FORK	  2
#define DN_OFFCPU_BLOCKED 3
int dn_offcpu_event_fd(struct dn_offcpu *p);
int dn_offcpu_poll_events(struct dn_offcpu *p, void (*fn)(pid_t tgid, int kind, void *ctx),
			  void *ctx);

/* The syscall tracker's per-CPU aggregate (struct dn_syscall_key ->
 * struct dn_syscall_val, bpf/syscalls.h) and its loss counters; -1 / NULL
 * unless opened with `syscalls`. Drained by engine/profiler/systrace.c. */
int dn_offcpu_syscall_map(const struct dn_offcpu *p);
struct dn_offcpu_syscall_losses {
	uint64_t agg_full;   /* syscalls not counted: the aggregate map was full */
	uint64_t start_full; /* syscalls counted without time: no task storage for them */
};
void dn_offcpu_syscall_losses(const struct dn_offcpu *p, struct dn_offcpu_syscall_losses *l);

/* Whether tgid is in the tracked set now (the kernel drops a tgid when its
 * last thread exits): its bit in the mmap'ed membership bitmap, no syscall. */
bool dn_offcpu_is_tracked(const struct dn_offcpu *p, pid_t tgid);

/* What its programs have cost so far (bpfstats.h: only while the kernel
 * keeps statistics). */
struct dn_bpf_cost;
void dn_offcpu_bpf_cost(const struct dn_offcpu *p, struct dn_bpf_cost *c);

void dn_offcpu_close(struct dn_offcpu *p);

#endif
