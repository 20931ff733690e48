/*
 * systrace.h — the syscall tracker's user side: drains the per-CPU
 * aggregate the kernel keeps per (tgid, syscall) (bpf/syscalls.bpf.h,
 * loaded with offcpu.c's object and filtered by its tgid set), and keeps
 * the figures of the whole run and of the last window, per process and per
 * syscall over the tree, with names and categories (syscall_table.h).
 *
 * The kernel's values are cumulative and never reset; a drain reads them
 * all and takes the window as the difference from the previous read, so no
 * syscall is lost between a read and a reset. A process whose tgid has
 * left the tracked set (its last thread exited) is read once more and then
 * deleted from the kernel map: the map holds the live processes only, the
 * run's totals live here, per syscall number.
 */
#ifndef DENET_SYSTRACE_H
#define DENET_SYSTRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "json.h"
#include "syscall_table.h"

struct dn_offcpu;

/* log2 latency buckets, as the kernel's (bpf/syscalls.h): bucket 0 holds
 * 0 ns, bucket b >= 1 holds [2^(b-1), 2^b) ns. */
#define DN_SYSTRACE_HIST 40

struct dn_systrace_fig {
	uint64_t count, errors, time_ns;
	uint64_t max_ns; /* a window's: its highest bucket's bound, at most the run's max */
	uint64_t hist[DN_SYSTRACE_HIST];
};

/* One process's figures for one syscall. */
struct dn_systrace_entry {
	pid_t tgid;
	int nr;
	struct dn_systrace_fig total;  /* since tracing began */
	struct dn_systrace_fig window; /* between the last two drains */
};

struct dn_systrace;

/* Over the aggregate of p (opened with `syscalls`); p must outlive it.
 * NULL + errno (EINVAL: p traces no syscalls). */
struct dn_systrace *dn_systrace_new(struct dn_offcpu *p);
void dn_systrace_free(struct dn_systrace *t);

/* Reads the kernel aggregate: the window becomes what happened since the
 * previous drain; processes gone from the tracked set are read a last time
 * and forgotten (after this drain's window). 0 or -errno. */
int dn_systrace_drain(struct dn_systrace *t);

/* The (process, syscall) pairs with syscalls in the last window. */
size_t dn_systrace_window(const struct dn_systrace *t, const struct dn_systrace_entry **v);
/* The tree's figures for syscall nr (0 <= nr < dn_systrace_nr_cap): the
 * whole run's, or the last window's. NULL when nr is out of range. */
const struct dn_systrace_fig *dn_systrace_nr(const struct dn_systrace *t, int nr, bool window);
int dn_systrace_nr_cap(const struct dn_systrace *t);
/* The tree's sums over every syscall (count, errors, time_ns). */
void dn_systrace_sum(const struct dn_systrace *t, bool window, struct dn_systrace_fig *out);

/* Syscalls the kernel could not count (its aggregate was full) or time
 * (its per-thread start map was full), since tracing began. */
uint64_t dn_systrace_lost(const struct dn_systrace *t);
uint64_t dn_systrace_untimed(const struct dn_systrace *t);

/* The q-quantile (0..1) of a histogram, as the upper bound of the bucket
 * that holds it, at most max_ns; 0 for an empty one. */
uint64_t dn_systrace_quantile(const struct dn_systrace_fig *f, double q);

/* Seconds from the tracker's start to the last drain, and of the last
 * window (both 0 before the first drain). */
void dn_systrace_times(const struct dn_systrace *t, double *elapsed_s, double *window_s);
/* The tree's syscalls per second in the last window: of nr, or of all
 * (nr < 0); 0 before the first drain. */
double dn_systrace_rate(const struct dn_systrace *t, int nr);

/* Upstream's `ebpf.syscalls` object (cumulative since tracing began:
 * total, by_category, top_syscalls, analysis) with denet's additions:
 * errors and time_ns, per-syscall time_ns, errors and p50/p99/max, the
 * top by time, losses, and `window`, the same figures for the last window
 * alone. */
void dn_systrace_write_upstream(struct dn_json *j, const struct dn_systrace *t);

#endif
