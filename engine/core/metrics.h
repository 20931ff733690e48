/*
 * metrics.h — one sample of one process or of a whole tree, in upstream
 * denet's units, and its JSON form (the `metrics`/`parent`/`aggregated`
 * objects of a `tree` record and the body of a flat `sample` record).
 */
#ifndef DENET_METRICS_H
#define DENET_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "json.h"

struct dn_metrics {
	uint64_t ts_ms;	  /* wall clock, ms since the epoch */
	double cpu_usage; /* percent, top convention: 100 = one core */
	uint64_t mem_rss_kb, mem_vms_kb;
	uint64_t disk_read_bytes, disk_write_bytes;	  /* /proc/PID/io read_bytes/write_bytes */
	uint64_t syscall_read_bytes, syscall_write_bytes; /* rchar / wchar */
	uint64_t page_faults_cached, page_faults_disk;	  /* minflt / majflt */
	uint64_t sys_net_rx_bytes, sys_net_tx_bytes;	  /* namespace-wide */
	uint64_t thread_count;
	uint64_t uptime_secs;
	int cpu_core;		 /* last CPU it ran on; -1 for none (aggregate) */
	uint64_t process_count;	 /* aggregates only */
	uint64_t mem_peak_kb;	 /* aggregates only: largest RSS seen so far */
	double cpu_usage_exited; /* aggregates only: the part of cpu_usage from
				    processes that ended in this window */
	const char *cpu_source;	 /* aggregates only: where cpu_usage came from */
	double cpu_secs;	 /* CPU time since monitoring started (since the
				    process started with since_process_start); of
				    an aggregate: of the whole tree, ended
				    processes included */
};

/* Write the fields as a JSON object. `aggregated` adds process_count and
 * mem_peak_kb and leaves out cpu_core, as upstream's AggregatedMetrics;
 * fields new in denet (cpu_usage_exited, cpu_source, cpu_secs) follow. */
void dn_metrics_write_json(struct dn_json *j, const struct dn_metrics *m, bool aggregated);

/* Add `m` into the aggregate `agg` (sums; uptime is the max). */
void dn_metrics_accumulate(struct dn_metrics *agg, const struct dn_metrics *m);

#endif
