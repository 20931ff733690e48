/*
 * perfcount.c — perf_event_open counters of a task tree (see perfcount.h).
 * Owns one fd per counter from dn_perfcount_open to dn_perfcount_close.
 */
#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "perfcount.h"

static const struct {
	const char *name; /* JSON field */
	uint32_t type;
	uint64_t config;
} counters[DN_PERF_NCOUNTERS] = {
	[DN_PERF_CONTEXT_SWITCHES] = {"context_switches", PERF_TYPE_SOFTWARE,
				      PERF_COUNT_SW_CONTEXT_SWITCHES},
	[DN_PERF_CPU_MIGRATIONS] = {"cpu_migrations", PERF_TYPE_SOFTWARE,
				    PERF_COUNT_SW_CPU_MIGRATIONS},
	[DN_PERF_PAGE_FAULTS] = {"page_faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS},
	[DN_PERF_TASK_CLOCK] = {"task_clock_ns", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK},
	[DN_PERF_CYCLES] = {"cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES},
	[DN_PERF_INSTRUCTIONS] = {"instructions", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS},
};

const char *dn_perf_counter_name(enum dn_perf_counter c)
{
	return (unsigned)c < DN_PERF_NCOUNTERS ? counters[c].name : "?";
}

void dn_perfcount_init(struct dn_perfcount *pc)
{
	for (int i = 0; i < DN_PERF_NCOUNTERS; i++)
		pc->fd[i] = -1;
}

void dn_perfcount_close(struct dn_perfcount *pc)
{
	for (int i = 0; i < DN_PERF_NCOUNTERS; i++)
		if (pc->fd[i] >= 0)
			close(pc->fd[i]);
	dn_perfcount_init(pc);
}

static int open_one(enum dn_perf_counter c, pid_t pid, const struct dn_perfcount_opts *o)
{
	struct perf_event_attr a;
	memset(&a, 0, sizeof a);
	a.size = sizeof a;
	a.type = counters[c].type;
	a.config = counters[c].config;
	a.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
	a.inherit = 1;
	a.inherit_thread = !o->descendants;
	a.disabled = o->on_exec;
	a.enable_on_exec = o->on_exec;
	/* any CPU (-1): the counter follows the task */
	long fd = syscall(SYS_perf_event_open, &a, pid, -1, -1, PERF_FLAG_FD_CLOEXEC);
	return fd < 0 ? -errno : (int)fd;
}

/* A one-line reason for a failed open of counter c. */
static void explain(char *why, size_t len, enum dn_perf_counter c, int err)
{
	if (!why || !len)
		return;
	if (err == -EACCES || err == -EPERM) {
		int level = 99;
		FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "re");
		if (f) {
			if (fscanf(f, "%d", &level) != 1)
				level = 99;
			fclose(f);
		}
		snprintf(why, len,
			 "perf_event_open(%s): %s (kernel.perf_event_paranoid=%d: needs root, "
			 "CAP_PERFMON, or paranoid <= 1)",
			 counters[c].name, strerror(-err), level);
	} else if (c >= DN_PERF_FIRST_HW && (err == -ENOENT || err == -EOPNOTSUPP)) {
		snprintf(why, len, "no PMU: perf_event_open(%s): %s", counters[c].name,
			 strerror(-err));
	} else {
		snprintf(why, len, "perf_event_open(%s): %s", counters[c].name, strerror(-err));
	}
}

int dn_perfcount_open(struct dn_perfcount *pc, pid_t pid, const struct dn_perfcount_opts *o,
		      char *why, size_t whylen, char *hw_why, size_t hwlen)
{
	dn_perfcount_init(pc);
	if (why && whylen)
		why[0] = '\0';
	if (hw_why && hwlen)
		hw_why[0] = '\0';
	for (int c = 0; c < DN_PERF_FIRST_HW; c++) {
		int fd = open_one(c, pid, o);
		if (fd < 0) {
			explain(why, whylen, c, fd);
			dn_perfcount_close(pc);
			return fd;
		}
		pc->fd[c] = fd;
	}
	/* Both hardware counters or neither: an IPC needs the two. */
	for (int c = DN_PERF_FIRST_HW; c < DN_PERF_NCOUNTERS; c++) {
		int fd = open_one(c, pid, o);
		if (fd < 0) {
			explain(hw_why, hwlen, c, fd);
			for (int k = DN_PERF_FIRST_HW; k < c; k++) {
				close(pc->fd[k]);
				pc->fd[k] = -1;
			}
			break;
		}
		pc->fd[c] = fd;
	}
	return 0;
}

bool dn_perfcount_has_hw(const struct dn_perfcount *pc)
{
	return pc->fd[DN_PERF_FIRST_HW] >= 0;
}

int dn_perfcount_read(const struct dn_perfcount *pc, struct dn_perf_values *out)
{
	memset(out, 0, sizeof *out);
	for (int c = 0; c < DN_PERF_NCOUNTERS; c++) {
		if (pc->fd[c] < 0)
			continue;
		uint64_t r[3]; /* value, time enabled, time running */
		ssize_t n;
		do
			n = read(pc->fd[c], r, sizeof r);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		if (n != (ssize_t)sizeof r)
			return -EIO;
		uint64_t v = r[0];
		/* Time-shared with other events (hardware only): scaled. Never
		 * scheduled: no estimate, 0. */
		if (r[2] < r[1]) {
			double est = r[2] ? (double)v * (double)r[1] / (double)r[2] : 0;
			/* (a double past 2^64 has no uint64_t value) */
			v = est >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)est;
		}
		out->v[c] = v;
		out->have[c] = true;
	}
	return 0;
}

void dn_perf_values_delta(const struct dn_perf_values *cur, const struct dn_perf_values *prev,
			  struct dn_perf_values *out)
{
	for (int c = 0; c < DN_PERF_NCOUNTERS; c++) {
		out->have[c] = cur->have[c];
		out->v[c] = cur->v[c] > prev->v[c] ? cur->v[c] - prev->v[c] : 0;
	}
}

void dn_perf_values_write_json(struct dn_json *j, const struct dn_perf_values *v)
{
	dn_json_obj_begin(j);
	for (int c = 0; c < DN_PERF_NCOUNTERS; c++)
		if (v->have[c]) {
			dn_json_key(j, counters[c].name);
			dn_json_uint(j, v->v[c]);
		}
	dn_json_obj_end(j);
}
