/*
 * human.h — denet's human-mode terminal output: a live status line (or one
 * plain line per sample) while a tree is monitored, and the summary table
 * at the end.
 *
 * Everything goes to the fd it is given, one write() per update; write
 * errors (a closed terminal, a reader gone from a pipe) are ignored so they
 * never stop monitoring.
 */
#ifndef DENET_HUMAN_H
#define DENET_HUMAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "records.h"
#include "summary.h"

struct dn_human_opts {
	int fd;
	bool in_place; /* one status line rewritten with "\r...\033[K" */
	bool color;    /* ANSI colours; the caller decides (TTY, NO_COLOR) */
};

struct dn_human;

/* GPU figures (NVML) of one sample, or of a run (peaks); devices 0: none,
 * and nothing about GPUs is shown. */
struct dn_human_gpu {
	unsigned devices;
	bool has_sys_util, has_proc_util;
	unsigned sys_util;  /* the busiest device's utilization, % */
	unsigned proc_util; /* the busiest process of the tree's, % */
	bool tree_procs;    /* the tree has processes on the GPUs */
	uint64_t tree_mem_bytes, used_bytes, total_bytes;
};

/* run's peaks with those of one sample. */
void dn_human_gpu_merge(struct dn_human_gpu *run, const struct dn_human_gpu *sample);

/* NULL + errno (EINVAL for a NULL o or negative fd, ENOMEM). */
struct dn_human *dn_human_new(const struct dn_human_opts *o);
/* One sample of the tree. elapsed = seconds since monitoring began. */
void dn_human_sample(struct dn_human *h, const struct dn_metrics *agg, double elapsed_secs);
/* GPU figures for the next status line (sample) or for the summary (run);
 * NULL: none. Copied. */
void dn_human_set_gpu(struct dn_human *h, const struct dn_human_gpu *sample,
		      const struct dn_human_gpu *run);
/* Clear the status line if one is shown (before other text is printed,
 * e.g. an alert). */
void dn_human_clear(struct dn_human *h);
/* The end: clears the status line, prints the summary table; exit may be
 * NULL (monitoring stopped by --duration or attach ended). */
void dn_human_end(struct dn_human *h, const struct dn_summary *s, const struct dn_exit_info *exit);
/* NULL is fine. Writes nothing. */
void dn_human_free(struct dn_human *h);

/* Helpers, exported for tests: "512 B", "1.5 KiB", "3.2 GiB" (binary
 * units, one decimal from KiB up); always NUL-terminated when len > 0. */
void dn_human_bytes(char *buf, size_t len, uint64_t bytes);
/* The same for a value in kB (KiB, as /proc reports memory). */
void dn_human_kb(char *buf, size_t len, uint64_t kb);

#endif
