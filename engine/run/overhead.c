/*
 * overhead.c — the tallies of what watching cost and the exit record's
 * `overhead` object (see overhead.h).
 */
#include <sys/resource.h>

#include "overhead.h"

void dn_overhead_sample_start(struct dn_overhead *o, uint64_t deadline_ns, uint64_t now_ns,
			      uint64_t period_ns)
{
	o->timed++;
	if (now_ns <= deadline_ns)
		return;
	uint64_t late = now_ns - deadline_ns;
	if (late > o->max_late_ns)
		o->max_late_ns = late;
	if (late > period_ns / DN_LATE_FRACTION)
		o->late++;
}

static double tv_secs(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

void dn_overhead_collect(struct dn_overhead_info *info, const struct dn_overhead *o,
			 const struct dn_bpf_cost *c)
{
	struct rusage ru = {0};
	*info = (struct dn_overhead_info){.t = *o};
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		info->cpu_user_secs = tv_secs(ru.ru_utime);
		info->cpu_system_secs = tv_secs(ru.ru_stime);
		info->peak_rss_kb = ru.ru_maxrss > 0 ? (uint64_t)ru.ru_maxrss : 0;
	}
	if (c) {
		info->bpf = true;
		info->c = *c;
		/* a program that ran with statistics on has a count; the
		 * sysctl covers the run where none has run yet */
		info->bpf_stats = c->run_cnt > 0 || dn_bpf_stats_sysctl();
	}
}

void dn_overhead_write(struct dn_json *j, const struct dn_overhead_info *info)
{
	const struct dn_overhead *t = &info->t;
	dn_json_obj_begin(j);
	dn_json_key(j, "cpu_user_secs");
	dn_json_fixed(j, info->cpu_user_secs, 6);
	dn_json_key(j, "cpu_system_secs");
	dn_json_fixed(j, info->cpu_system_secs, 6);
	dn_json_key(j, "cpu_secs");
	dn_json_fixed(j, info->cpu_user_secs + info->cpu_system_secs, 6);
	dn_json_key(j, "peak_rss_kb");
	dn_json_uint(j, info->peak_rss_kb);
	dn_json_key(j, "sampling_secs");
	dn_json_fixed(j, (double)t->sampling_ns / 1e9, 6);
	dn_json_key(j, "hooks_secs");
	dn_json_fixed(j, (double)t->hooks_ns / 1e9, 6);
	if (info->bpf) {
		/* null when the kernel kept no statistics: 0 would say "free" */
		dn_json_key(j, "bpf_secs");
		if (info->bpf_stats)
			dn_json_fixed(j, (double)info->c.run_ns / 1e9, 6);
		else
			dn_json_null(j);
		dn_json_key(j, "bpf_runs");
		if (info->bpf_stats)
			dn_json_uint(j, info->c.run_cnt);
		else
			dn_json_null(j);
		if (!info->bpf_stats) {
			dn_json_key(j, "bpf_stats");
			dn_json_str(j, DN_BPF_STATS_OFF);
		}
	}
	dn_json_key(j, "samples_timed");
	dn_json_uint(j, t->timed);
	dn_json_key(j, "samples_late");
	dn_json_uint(j, t->late);
	dn_json_key(j, "samples_missed");
	dn_json_uint(j, t->missed);
	dn_json_key(j, "max_late_ms");
	dn_json_fixed(j, (double)t->max_late_ns / 1e6, 3);
	dn_json_obj_end(j);
}
