/*
 * perfcount.h — the kernel's per-task event counters (perf_event_open) of a
 * command and its descendants: context switches, CPU migrations, page
 * faults and task clock (software counters, always there), and cycles and
 * instructions where the machine has a PMU (absent on most VMs: ENOENT).
 *
 * One fd per counter, opened on one task with `inherit`: every process
 * and thread it creates after the open gets its own copy, and a read of
 * the fd returns the sum over the task, its live descendants (the kernel
 * walks the copies) and its exited ones (their counts are added to the
 * original when they exit). So a reading is the whole tree's count since
 * the counter was enabled, whoever has exited since. One fd per counter
 * rather than a PERF_FORMAT_GROUP group: kernels before ~4.x refused
 * `inherit` with groups (perf_event_open(2) still says so), and a missing
 * counter (no PMU) then costs only itself.
 */
#ifndef DENET_PERFCOUNT_H
#define DENET_PERFCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "json.h"

/* The counters, in the order of their JSON fields. */
enum dn_perf_counter {
	DN_PERF_CONTEXT_SWITCHES,
	DN_PERF_CPU_MIGRATIONS,
	DN_PERF_PAGE_FAULTS,
	DN_PERF_TASK_CLOCK, /* ns on a CPU */
	DN_PERF_CYCLES,	    /* hardware: only with a PMU */
	DN_PERF_INSTRUCTIONS,
	DN_PERF_NCOUNTERS
};
#define DN_PERF_FIRST_HW DN_PERF_CYCLES

/* One reading (or the difference of two). have[i]: counter i is open. */
struct dn_perf_values {
	uint64_t v[DN_PERF_NCOUNTERS];
	bool have[DN_PERF_NCOUNTERS];
};

struct dn_perfcount {
	int fd[DN_PERF_NCOUNTERS]; /* -1: not open */
};

struct dn_perfcount_opts {
	/* true: every process and thread the task creates (inherit); false:
	 * only the task's own threads (inherit_thread, Linux >= 5.13) */
	bool descendants;
	/* true: enabled by the task's next execve (a launched command held
	 * before exec: denet's fork and hand-shake are not counted); false:
	 * enabled at once */
	bool on_exec;
};

/* The closed state: every fd -1. dn_perfcount_close on it closes nothing. */
void dn_perfcount_init(struct dn_perfcount *pc);
/* Open the counters on pid. 0 when the software counters opened, else
 * -errno with a one-line reason in `why` (nothing is left open). The
 * hardware ones are optional: when they do not open, 0 is still returned
 * and hw_why says why (e.g. "no PMU: perf_event_open(cycles): No such file
 * or directory"); hw_why is "" when they opened. */
int dn_perfcount_open(struct dn_perfcount *pc, pid_t pid, const struct dn_perfcount_opts *o,
		      char *why, size_t whylen, char *hw_why, size_t hwlen);
/* Whether the hardware counters are open. */
bool dn_perfcount_has_hw(const struct dn_perfcount *pc);
/* Read every open counter into out (a hardware counter the PMU time-shared
 * with other events is scaled by time enabled / time running, as perf
 * stat does). 0 or -errno of the first failed read (out then holds the
 * counters read before it). */
int dn_perfcount_read(const struct dn_perfcount *pc, struct dn_perf_values *out);
/* Close every fd; idempotent (leaves the closed state). */
void dn_perfcount_close(struct dn_perfcount *pc);

/* out = cur - prev per counter (0 where a scaled count went backwards). */
void dn_perf_values_delta(const struct dn_perf_values *cur, const struct dn_perf_values *prev,
			  struct dn_perf_values *out);
/* The counters that are open, as a JSON object: {"context_switches":N,
 * "cpu_migrations":N,"page_faults":N,"task_clock_ns":N[,"cycles":N,
 * "instructions":N]}. */
void dn_perf_values_write_json(struct dn_json *j, const struct dn_perf_values *v);
/* A counter's JSON name. */
const char *dn_perf_counter_name(enum dn_perf_counter c);

#endif
