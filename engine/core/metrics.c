/*
 * metrics.c — the JSON form of a dn_metrics sample and the sum that turns
 * the samples of a tree into its aggregate (see metrics.h).
 *
 * Field order is upstream denet's (Metrics / AggregatedMetrics), so records
 * diff cleanly against upstream's output.
 */
#include "metrics.h"

static void put_u64(struct dn_json *j, const char *key, uint64_t v)
{
	dn_json_key(j, key);
	dn_json_uint(j, v);
}

void dn_metrics_write_json(struct dn_json *j, const struct dn_metrics *m, bool aggregated)
{
	dn_json_obj_begin(j);
	put_u64(j, "ts_ms", m->ts_ms);
	dn_json_key(j, "cpu_usage");
	dn_json_fixed(j, m->cpu_usage, 2);
	put_u64(j, "mem_rss_kb", m->mem_rss_kb);
	put_u64(j, "mem_vms_kb", m->mem_vms_kb);
	put_u64(j, "disk_read_bytes", m->disk_read_bytes);
	put_u64(j, "disk_write_bytes", m->disk_write_bytes);
	put_u64(j, "syscall_read_bytes", m->syscall_read_bytes);
	put_u64(j, "syscall_write_bytes", m->syscall_write_bytes);
	put_u64(j, "page_faults_cached", m->page_faults_cached);
	put_u64(j, "page_faults_disk", m->page_faults_disk);
	put_u64(j, "sys_net_rx_bytes", m->sys_net_rx_bytes);
	put_u64(j, "sys_net_tx_bytes", m->sys_net_tx_bytes);
	put_u64(j, "thread_count", m->thread_count);
	if (aggregated) {
		put_u64(j, "process_count", m->process_count);
		put_u64(j, "uptime_secs", m->uptime_secs);
		put_u64(j, "mem_peak_kb", m->mem_peak_kb);
		dn_json_key(j, "cpu_usage_exited");
		dn_json_fixed(j, m->cpu_usage_exited, 2);
		dn_json_key(j, "cpu_source");
		dn_json_str(j, m->cpu_source ? m->cpu_source : "proc");
	} else {
		put_u64(j, "uptime_secs", m->uptime_secs);
		dn_json_key(j, "cpu_core");
		if (m->cpu_core < 0)
			dn_json_null(j);
		else
			dn_json_int(j, m->cpu_core);
	}
	dn_json_key(j, "cpu_secs");
	dn_json_fixed(j, m->cpu_secs, 6);
	dn_json_obj_end(j);
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

void dn_metrics_accumulate(struct dn_metrics *agg, const struct dn_metrics *m)
{
	if (agg->ts_ms == 0)
		agg->ts_ms = m->ts_ms;
	agg->cpu_usage += m->cpu_usage;
	agg->mem_rss_kb += m->mem_rss_kb;
	agg->mem_vms_kb += m->mem_vms_kb;
	agg->disk_read_bytes += m->disk_read_bytes;
	agg->disk_write_bytes += m->disk_write_bytes;
	agg->syscall_read_bytes += m->syscall_read_bytes;
	agg->syscall_write_bytes += m->syscall_write_bytes;
	agg->page_faults_cached += m->page_faults_cached;
	agg->page_faults_disk += m->page_faults_disk;
	/* Every process in a network namespace reports the same namespace-wide
	 * counters: summing them would count the traffic once per process. */
	agg->sys_net_rx_bytes = max_u64(agg->sys_net_rx_bytes, m->sys_net_rx_bytes);
	agg->sys_net_tx_bytes = max_u64(agg->sys_net_tx_bytes, m->sys_net_tx_bytes);
	agg->thread_count += m->thread_count;
	/* The tree has been up as long as its oldest member. */
	agg->uptime_secs = max_u64(agg->uptime_secs, m->uptime_secs);
	agg->process_count += 1;
	/* mem_peak_kb is the caller's: a peak across samples, not processes. */
}
