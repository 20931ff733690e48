/*
 * summary.c — accumulates the `stats` summary of a live run (see summary.h).
 * `denet stats FILE` computes the same fields in lua/denet/analysis.lua;
 * tests compare the two on the same run.
 */
#include <string.h>

#include "summary.h"

void dn_summary_init(struct dn_summary *s)
{
	memset(s, 0, sizeof *s);
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

void dn_summary_add(struct dn_summary *s, const struct dn_metrics *agg)
{
	if (s->sample_count == 0)
		s->first_ts_ms = agg->ts_ms;
	s->last_ts_ms = agg->ts_ms;
	s->sample_count++;
	s->max_processes = max_u64(s->max_processes, agg->process_count ? agg->process_count : 1);
	s->max_threads = max_u64(s->max_threads, agg->thread_count);
	s->total_disk_read_bytes = agg->disk_read_bytes;
	s->total_disk_write_bytes = agg->disk_write_bytes;
	s->total_syscall_read_bytes = agg->syscall_read_bytes;
	s->total_syscall_write_bytes = agg->syscall_write_bytes;
	s->peak_page_faults_cached = max_u64(s->peak_page_faults_cached, agg->page_faults_cached);
	s->peak_page_faults_disk = max_u64(s->peak_page_faults_disk, agg->page_faults_disk);
	s->total_sys_net_rx_bytes = agg->sys_net_rx_bytes;
	s->total_sys_net_tx_bytes = agg->sys_net_tx_bytes;
	s->peak_mem_rss_kb = max_u64(s->peak_mem_rss_kb, agg->mem_rss_kb);
	s->cpu_usage_sum += agg->cpu_usage;
}

double dn_summary_total_time_secs(const struct dn_summary *s)
{
	return s->sample_count ? (double)(s->last_ts_ms - s->first_ts_ms) / 1000.0 : 0.0;
}

double dn_summary_avg_cpu(const struct dn_summary *s)
{
	return s->sample_count ? s->cpu_usage_sum / (double)s->sample_count : 0.0;
}

void dn_summary_write_json(struct dn_json *j, const struct dn_summary *s)
{
	dn_json_obj_begin(j);
	dn_json_key(j, "total_time_secs");
	dn_json_double(j, dn_summary_total_time_secs(s));
	dn_json_key(j, "sample_count");
	dn_json_uint(j, s->sample_count);
	dn_json_key(j, "max_processes");
	dn_json_uint(j, s->max_processes);
	dn_json_key(j, "max_threads");
	dn_json_uint(j, s->max_threads);
	dn_json_key(j, "total_disk_read_bytes");
	dn_json_uint(j, s->total_disk_read_bytes);
	dn_json_key(j, "total_disk_write_bytes");
	dn_json_uint(j, s->total_disk_write_bytes);
	dn_json_key(j, "total_syscall_read_bytes");
	dn_json_uint(j, s->total_syscall_read_bytes);
	dn_json_key(j, "total_syscall_write_bytes");
	dn_json_uint(j, s->total_syscall_write_bytes);
	dn_json_key(j, "peak_page_faults_cached");
	dn_json_uint(j, s->peak_page_faults_cached);
	dn_json_key(j, "peak_page_faults_disk");
	dn_json_uint(j, s->peak_page_faults_disk);
	dn_json_key(j, "total_sys_net_rx_bytes");
	dn_json_uint(j, s->total_sys_net_rx_bytes);
	dn_json_key(j, "total_sys_net_tx_bytes");
	dn_json_uint(j, s->total_sys_net_tx_bytes);
	dn_json_key(j, "peak_mem_rss_kb");
	dn_json_uint(j, s->peak_mem_rss_kb);
	dn_json_key(j, "avg_cpu_usage");
	dn_json_fixed(j, dn_summary_avg_cpu(s), 2);
	dn_json_obj_end(j);
}
