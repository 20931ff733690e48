/*
 * summary.h — the `stats` summary of a run, with upstream denet 0.6.1's
 * arithmetic (Summary::from_aggregated_metrics): elapsed = last ts - first
 * ts, totals = the last sample's counters, peaks = maxima, avg_cpu_usage =
 * the mean of the samples' cpu_usage.
 */
#ifndef DENET_SUMMARY_H
#define DENET_SUMMARY_H

#include <stdint.h>

#include "json.h"
#include "metrics.h"

struct dn_summary {
	uint64_t first_ts_ms, last_ts_ms;
	uint64_t sample_count;
	uint64_t max_processes, max_threads;
	uint64_t total_disk_read_bytes, total_disk_write_bytes;
	uint64_t total_syscall_read_bytes, total_syscall_write_bytes;
	uint64_t peak_page_faults_cached, peak_page_faults_disk;
	uint64_t total_sys_net_rx_bytes, total_sys_net_tx_bytes;
	uint64_t peak_mem_rss_kb;
	double cpu_usage_sum;
};

void dn_summary_init(struct dn_summary *s);
/* Add one aggregate (or flat sample: process_count 0 counts as 1). */
void dn_summary_add(struct dn_summary *s, const struct dn_metrics *agg);
double dn_summary_total_time_secs(const struct dn_summary *s);
double dn_summary_avg_cpu(const struct dn_summary *s);
/* The summary as the JSON object `denet stats --json` prints. */
void dn_summary_write_json(struct dn_json *j, const struct dn_summary *s);

#endif
