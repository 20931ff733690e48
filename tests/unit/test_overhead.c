/*
 * test_overhead.c — the tallies of what watching cost (overhead.c), the
 * skipped deadlines the schedule counts (schedule.c), and the exit
 * record's `overhead` object as JSON.
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "overhead.h"
#include "schedule.h"
#include "unit.h"

static void test_late_is_a_tenth_of_the_period(void)
{
	struct dn_overhead o = {0};
	const uint64_t ms = 1000000;
	dn_overhead_sample_start(&o, 100 * ms, 100 * ms, 100 * ms); /* on time */
	dn_overhead_sample_start(&o, 200 * ms, 199 * ms, 100 * ms); /* early: a timer never is, but */
	dn_overhead_sample_start(&o, 300 * ms, 310 * ms, 100 * ms); /* exactly a tenth: not late */
	CHECK_INT(o.timed, 3);
	CHECK_INT(o.late, 0);
	CHECK_INT(o.max_late_ns, 10 * ms);
	dn_overhead_sample_start(&o, 400 * ms, 410 * ms + 1, 100 * ms);
	CHECK_INT(o.late, 1);
	dn_overhead_sample_start(&o, 500 * ms, 560 * ms, 100 * ms);
	CHECK_INT(o.late, 2);
	CHECK_INT(o.max_late_ns, 60 * ms);
	CHECK_INT(o.timed, 5);
}

static void test_schedule_counts_skipped_deadlines(void)
{
	struct dn_schedule s;
	const uint64_t ms = 1000000;
	dn_schedule_init(&s, 100, 100, 0);
	CHECK_INT(s.missed, 0);
	CHECK_INT(dn_schedule_next(&s, 100 * ms, 0), 200 * ms); /* on time */
	CHECK_INT(s.missed, 0);
	/* the sample for 200 ms ran until 450 ms: 300 and 400 are gone */
	CHECK_INT(dn_schedule_next(&s, 450 * ms, 0), 500 * ms);
	CHECK_INT(s.missed, 2);
	/* a deadline equal to now is missed as well (it would fire at once) */
	CHECK_INT(dn_schedule_next(&s, 600 * ms, 0), 700 * ms);
	CHECK_INT(s.missed, 3);
	dn_schedule_init(&s, 100, 100, 0);
	CHECK_INT(s.missed, 0);
}

static char *write_json(const struct dn_overhead_info *info)
{
	struct dn_buf b = {0};
	struct dn_json j;
	dn_json_init(&j, &b);
	dn_overhead_write(&j, info);
	dn_buf_putc(&b, '\0');
	return b.data;
}

static void test_collect_reads_own_rusage(void)
{
	struct dn_overhead o = {.sampling_ns = 1500000000, .hooks_ns = 250000, .timed = 7};
	struct dn_overhead_info info;
	/* burn some CPU so that getrusage has something to say */
	volatile unsigned long x = 0;
	for (unsigned long i = 0; i < 20000000; i++)
		x += i;
	dn_overhead_collect(&info, &o, NULL);
	CHECK(info.cpu_user_secs + info.cpu_system_secs > 0);
	CHECK(info.peak_rss_kb > 100);
	CHECK(!info.bpf);
	CHECK_INT(info.t.timed, 7);
	char *s = write_json(&info);
	CHECK(strstr(s, "\"sampling_secs\":1.500000,") != NULL);
	CHECK(strstr(s, "\"hooks_secs\":0.000250,") != NULL);
	CHECK(strstr(s, "\"samples_timed\":7,") != NULL);
	CHECK(strstr(s, "bpf") == NULL); /* no BPF in the run: no keys */
	free(s);
}

static void test_bpf_figures_null_without_statistics(void)
{
	struct dn_overhead o = {0};
	struct dn_overhead_info info;
	struct dn_bpf_cost none = {0};
	dn_overhead_collect(&info, &o, &none);
	CHECK(info.bpf);
	char *s = write_json(&info);
	if (dn_bpf_stats_sysctl()) {
		CHECK(strstr(s, "\"bpf_secs\":0.000000,\"bpf_runs\":0,") != NULL);
	} else {
		CHECK(strstr(s, "\"bpf_secs\":null,\"bpf_runs\":null,\"bpf_stats\":\"off "
				"(sysctl kernel.bpf_stats_enabled=0)\",") != NULL);
	}
	free(s);
	struct dn_bpf_cost ran = {.run_ns = 2500000, .run_cnt = 42, .progs = 3};
	dn_overhead_collect(&info, &o, &ran);
	CHECK(info.bpf_stats); /* a program that counted runs: statistics are on */
	s = write_json(&info);
	CHECK(strstr(s, "\"bpf_secs\":0.002500,\"bpf_runs\":42,\"samples_timed\"") != NULL);
	free(s);
}

static void test_bpf_cost_skips_bad_fds(void)
{
	struct dn_bpf_cost c = {0};
	int fds[] = {-1, 0, -1}; /* 0 is stdin: no BPF program */
	dn_bpf_cost_add(&c, fds, 3);
	CHECK_INT(c.progs, 0);
	CHECK_INT(c.run_cnt, 0);
	CHECK_INT(c.run_ns, 0);
}

int main(void)
{
	RUN(test_late_is_a_tenth_of_the_period);
	RUN(test_schedule_counts_skipped_deadlines);
	RUN(test_collect_reads_own_rusage);
	RUN(test_bpf_figures_null_without_statistics);
	RUN(test_bpf_cost_skips_bad_fds);
	return unit_done();
}
