/* test_psi.c — the pressure-file parser on recorded and broken text, and the
 * reader on the real /proc/pressure and on a real cgroup under CPU
 * contention (more spinning processes than CPUs stall each other). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cgroup.h"
#include "cgroup_reaper.h"
#include "clock.h"
#include "json.h"
#include "launcher.h"
#include "loop.h"
#include "monitor.h"
#include "psi.h"
#include "rules.h"
#include "unit.h"

#define TXT(s) s, sizeof(s) - 1

static void test_parse_normal(void)
{
	struct dn_psi_file f;
	CHECK_INT(dn_psi_parse(TXT("some avg10=12.34 avg60=5.00 avg300=0.07 total=123456\n"
				   "full avg10=1.50 avg60=0.25 avg300=0.00 total=7890\n"),
			       &f),
		  0);
	CHECK(f.some.present && f.full.present);
	CHECK(f.some.avg10 > 12.339 && f.some.avg10 < 12.341);
	CHECK(f.some.avg60 > 4.999 && f.some.avg60 < 5.001);
	CHECK(f.some.avg300 > 0.069 && f.some.avg300 < 0.071);
	CHECK_INT(f.some.total_us, 123456);
	CHECK(f.full.avg10 > 1.499 && f.full.avg10 < 1.501);
	CHECK_INT(f.full.total_us, 7890);
	/* no trailing newline, and a key a later kernel might add */
	CHECK_INT(dn_psi_parse(TXT("some avg10=0.00 avg60=0.00 avg300=0.00 total=5 extra=x"), &f),
		  0);
	CHECK_INT(f.some.total_us, 5);
}

static void test_parse_missing_full(void)
{
	/* /proc/pressure/cpu before Linux 5.13: no full line */
	struct dn_psi_file f;
	CHECK_INT(dn_psi_parse(TXT("some avg10=75.19 avg60=1.00 avg300=0.10 total=37406638\n"), &f),
		  0);
	CHECK(f.some.present);
	CHECK(!f.full.present);
	CHECK_INT(f.some.total_us, 37406638);
}

static void test_parse_garbage(void)
{
	struct dn_psi_file f;
	CHECK_INT(dn_psi_parse(TXT(""), &f), -EINVAL);
	CHECK_INT(dn_psi_parse(TXT("\n\n"), &f), -EINVAL);
	/* full alone is not a pressure file */
	CHECK_INT(dn_psi_parse(TXT("full avg10=0.00 avg60=0.00 avg300=0.00 total=1\n"), &f),
		  -EINVAL);
	CHECK_INT(dn_psi_parse(TXT("other avg10=0.00 total=1\n"), &f), -EINVAL);
	CHECK_INT(dn_psi_parse(TXT("somex avg10=0.00 total=1\n"), &f), -EINVAL);
	CHECK_INT(dn_psi_parse(TXT("some avg10=abc total=1\n"), &f), -EINVAL);
	CHECK_INT(dn_psi_parse(TXT("some avg10=1. total=1\n"), &f), -EINVAL);
	CHECK_INT(dn_psi_parse(TXT("some avg10=0.00 total=-1\n"), &f), -EINVAL);
	CHECK_INT(dn_psi_parse(TXT("some avg10=0.00 total=\n"), &f), -EINVAL);
	CHECK_INT(dn_psi_parse(TXT("some avg10 0.00 total=1\n"), &f), -EINVAL);
	CHECK_INT(dn_psi_parse(TXT("some avg10=0.00 total=12x\n"), &f), -EINVAL);
	/* a NUL in the buffer is garbage too, not the end of the text */
	CHECK_INT(dn_psi_parse("some total=1\0junk", 17, &f), -EINVAL);
}

static void test_parse_huge_totals(void)
{
	struct dn_psi_file f;
	CHECK_INT(dn_psi_parse(TXT("some avg10=100.00 avg60=100.00 avg300=100.00 "
				   "total=18446744073709551615\n"),
			       &f),
		  0);
	CHECK(f.some.total_us == UINT64_MAX);
	CHECK(f.some.avg10 > 99.99 && f.some.avg10 < 100.01);
	/* an average of 400 digits is no number (it would be inf) */
	char big[512];
	int n = snprintf(big, sizeof big, "some avg10=");
	memset(big + n, '9', 400);
	n += 400;
	n += snprintf(big + n, sizeof big - (size_t)n, " total=1\n");
	CHECK_INT(dn_psi_parse(big, (size_t)n, &f), -EINVAL);
	/* one more does not wrap around */
	CHECK_INT(dn_psi_parse(TXT("some total=18446744073709551616\n"), &f), -EINVAL);
	CHECK_INT(dn_psi_parse(TXT("some total=99999999999999999999999\n"), &f), -EINVAL);
}

static void test_closed_state(void)
{
	struct dn_psi p;
	dn_psi_init(&p);
	for (int r = 0; r < DN_PSI_NRES; r++)
		CHECK(p.sys.fd[r] == -1 && p.cg.fd[r] == -1);
	dn_psi_close(&p);
	dn_psi_close(&p); /* idempotent */
	CHECK(!p.has_system && !p.has_cgroup);
	CHECK(dn_psi_window_pct(&p, false, DN_PSI_MEMORY, false) == 0);
	CHECK_INT(dn_psi_res_by_name("memory", 6), DN_PSI_MEMORY);
	CHECK_INT(dn_psi_res_by_name("io", 2), DN_PSI_IO);
	CHECK_INT(dn_psi_res_by_name("cpux", 4), DN_PSI_NRES);
}

static void test_rule_metrics(void)
{
	struct dn_rule r;
	memset(&r, 0, sizeof r);
	CHECK_INT(dn_rules_set_metric(&r, "psi.memory.some", false), 0);
	CHECK(r.psi && !r.psi_system && !r.psi_full && !r.psi_avg10 && r.is_double);
	CHECK_INT(r.psi_res, DN_PSI_MEMORY);
	CHECK_STR(r.metric, "psi.memory.some");
	memset(&r, 0, sizeof r);
	CHECK_INT(dn_rules_set_metric(&r, "psi.system.io.full.avg10", false), 0);
	CHECK(r.psi && r.psi_system && r.psi_full && r.psi_avg10);
	CHECK_INT(r.psi_res, DN_PSI_IO);
	memset(&r, 0, sizeof r);
	CHECK_INT(dn_rules_set_metric(&r, "psi.cpu.full", false), 0);
	CHECK_INT(r.psi_res, DN_PSI_CPU);
	const char *bad[] = {"psi.",	      "psi.memory",	  "psi.memory.",
			     "psi.memory.sum", "psi.memory.somex", "psi.memory.some.avg60",
			     "psi.system.cpu", "psi.system..some", "psi.disk.some"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&r, 0, sizeof r);
		if (dn_rules_set_metric(&r, bad[i], false) != -ENOENT)
			printf("#   accepted %s\n", bad[i]);
		CHECK(dn_rules_set_metric(&r, bad[i], false) == -ENOENT);
	}
	/* the run's figure, not a process's */
	CHECK_INT(dn_rules_set_metric(&r, "psi.memory.some", true), -EINVAL);
}

/* n processes spinning for ms milliseconds (the caller reaps them). */
static void spin_children(pid_t *pids, int n, int ms)
{
	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			uint64_t end = dn_mono_ns() + (uint64_t)ms * 1000000u;
			while (dn_mono_ns() < end)
				;
			_exit(0);
		}
	}
}

static void reap(pid_t *pids, int n)
{
	for (int i = 0; i < n; i++)
		if (pids[i] > 0)
			waitpid(pids[i], NULL, 0);
}

static void test_reader_system(void)
{
	struct dn_psi p;
	dn_psi_init(&p);
	char why[160] = "";
	int r = dn_psi_open(&p, "/nonexistent-cgroup", dn_mono_ns(), why, sizeof why);
	if (r < 0)
		UNIT_SKIP("no PSI: %s", why);
	CHECK(p.has_system);
	CHECK(!p.has_cgroup); /* a cgroup that is not there is left out */
	for (int i = 0; i < DN_PSI_NRES; i++)
		CHECK(p.sys.fd[i] >= 0 && p.sys.ok[i]);
	CHECK(p.sys.now[DN_PSI_MEMORY].full.present);
	CHECK(p.sys.now[DN_PSI_IO].full.present);
	/* twice as many spinners as CPUs: each waits for a CPU about half
	 * the time, which is the system's cpu `some` stall */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int n = ncpu > 0 && ncpu < 32 ? (int)ncpu * 2 : 8;
	pid_t pids[64];
	uint64_t before = p.sys.now[DN_PSI_CPU].some.total_us;
	spin_children(pids, n, 300);
	reap(pids, n);
	CHECK_INT(dn_psi_read(&p, dn_mono_ns()), 0);
	uint64_t d = p.sys.now[DN_PSI_CPU].some.total_us - before;
	printf("# system cpu some: +%llu us in %.0f ms (%.1f %%), %d spinners\n",
	       (unsigned long long)d, (double)(p.now_ns - p.prev_ns) / 1e6,
	       dn_psi_window_pct(&p, false, DN_PSI_CPU, false), n);
	CHECK(d > 50000); /* of ~300 ms: at least 50 ms stalled */
	CHECK(dn_psi_window_pct(&p, false, DN_PSI_CPU, false) > 5);
	CHECK(dn_psi_window_pct(&p, false, DN_PSI_CPU, false) <= 100);
	/* the JSON: window, system, no cgroup */
	struct dn_buf b = {0};
	struct dn_json j;
	dn_json_init(&j, &b);
	dn_psi_write_json(&j, &p);
	dn_buf_putc(&b, '\0');
	CHECK(!b.oom);
	CHECK(b.data && strstr(b.data, "{\"window_ms\":") == b.data);
	CHECK(b.data && strstr(b.data, "\"system\":{\"cpu\":{\"some\":{\"avg10\":"));
	CHECK(b.data && strstr(b.data, "\"delta_us\":"));
	CHECK(b.data && !strstr(b.data, "\"cgroup\""));
	dn_buf_free(&b);
	/* the run's: from the first reading, the spinners' stall in it */
	CHECK(p.sys.now[DN_PSI_CPU].some.total_us - p.sys.start[DN_PSI_CPU].some.total_us >= d);
	b = (struct dn_buf){0};
	dn_json_init(&j, &b);
	dn_psi_write_run_json(&j, &p);
	dn_buf_putc(&b, '\0');
	CHECK(b.data && strstr(b.data, "{\"secs\":") == b.data);
	CHECK(b.data && strstr(b.data, "\"system\":{\"cpu\":{\"some_us\":"));
	CHECK(b.data && strstr(b.data, "\"some_pct\":"));
	CHECK(b.data && !strstr(b.data, "\"cgroup\""));
	dn_buf_free(&b);
	dn_psi_close(&p);
	for (int i = 0; i < DN_PSI_NRES; i++)
		CHECK(p.sys.fd[i] == -1);
}

static void test_reader_cgroup(void)
{
	if (geteuid() != 0)
		UNIT_SKIP("not root: no cgroup of our own");
	char why[160] = "";
	struct dn_cgroup *cg = dn_cgroup_create(why, sizeof why);
	if (!cg)
		UNIT_SKIP("no cgroup: %s", why);
	const char *dir = dn_cgroup_path(cg, NULL);
	if (!dir) {
		dn_cgroup_free(cg);
		UNIT_SKIP("no cgroup2 hierarchy: cgroup PSI is cgroup2 only");
	}
	struct dn_psi p;
	dn_psi_init(&p);
	if (dn_psi_open(&p, dir, dn_mono_ns(), why, sizeof why) < 0 || !p.has_cgroup) {
		dn_psi_close(&p);
		dn_cgroup_free(cg);
		UNIT_SKIP("no cgroup PSI: %s", why[0] ? why : "cgroup pressure files unreadable");
	}
	/* idle and empty: no stall at all */
	usleep(100000);
	CHECK_INT(dn_psi_read(&p, dn_mono_ns()), 0);
	for (int r = 0; r < DN_PSI_NRES; r++) {
		CHECK(p.cg.ok[r]);
		CHECK(dn_psi_window_pct(&p, true, (enum dn_psi_res)r, false) == 0);
	}
	/* spinners inside it contend for the CPUs: the cgroup's cpu stall */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int n = ncpu > 0 && ncpu < 32 ? (int)ncpu * 2 : 8;
	pid_t pids[64];
	/* a held child moves them in: spinners fork from inside the cgroup */
	int go[2];
	CHECK(pipe(go) == 0);
	pid_t holder = fork();
	if (holder == 0) {
		char c;
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		spin_children(pids, n, 400);
		reap(pids, n);
		_exit(0);
	}
	close(go[0]);
	CHECK_INT(dn_cgroup_add(cg, holder), 0);
	uint64_t before = p.cg.now[DN_PSI_CPU].some.total_us;
	CHECK(write(go[1], "x", 1) == 1);
	close(go[1]);
	waitpid(holder, NULL, 0);
	CHECK_INT(dn_psi_read(&p, dn_mono_ns()), 0);
	uint64_t d = p.cg.now[DN_PSI_CPU].some.total_us - before;
	printf("# cgroup cpu some: +%llu us (%.1f %% of %.0f ms)\n", (unsigned long long)d,
	       dn_psi_window_pct(&p, true, DN_PSI_CPU, false), (double)(p.now_ns - p.prev_ns) / 1e6);
	CHECK(d > 50000);
	CHECK(dn_psi_window_pct(&p, true, DN_PSI_CPU, false) > 5);
	dn_psi_close(&p);
	int rm = -EBUSY;
	for (int tries = 0; tries < 300 && rm == -EBUSY; tries++)
		if ((rm = dn_cgroup_try_remove(cg, false)) == -EBUSY)
			usleep(10000);
	CHECK_INT(rm, 0);
	dn_cgroup_free(cg);
}

static void test_trigger(void)
{
	struct dn_psi p;
	dn_psi_init(&p);
	char why[160] = "";
	if (dn_psi_open(&p, NULL, dn_mono_ns(), why, sizeof why) < 0)
		UNIT_SKIP("no PSI: %s", why);
	CHECK_INT(dn_psi_trigger_add(&p, NULL, DN_PSI_CPU, false, 0), -EINVAL);
	CHECK_INT(dn_psi_trigger_add(&p, NULL, DN_PSI_CPU, false, 100), -EINVAL);
	CHECK_INT(dn_psi_trigger_add(&p, NULL, DN_PSI_NRES, false, 5), -EINVAL);
	int fd = dn_psi_trigger_add(&p, NULL, DN_PSI_CPU, false, 5);
	if (fd < 0) {
		dn_psi_close(&p);
		UNIT_SKIP("the kernel refuses PSI triggers: %s", strerror(-fd));
	}
	CHECK_INT(p.ntrig, 1);
	CHECK(p.trig[0].fd == fd && !p.trig[0].cgroup && !p.trig[0].full);
	CHECK(p.trig[0].window_us == 1000000 || p.trig[0].window_us == 2000000);
	CHECK(p.trig[0].stall_us == p.trig[0].window_us / 20);
	/* spinners on every CPU twice over: 50 % cpu stall, well above 5 %;
	 * the kernel reports it within a window */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int n = ncpu > 0 && ncpu < 32 ? (int)ncpu * 2 : 8;
	pid_t pids[64];
	int ms = (int)(p.trig[0].window_us / 1000) * 2;
	spin_children(pids, n, ms);
	struct pollfd pf = {fd, POLLPRI, 0};
	uint64_t t0 = dn_mono_ns();
	int pr = poll(&pf, 1, ms + 1000);
	double took = (double)(dn_mono_ns() - t0) / 1e6;
	reap(pids, n);
	printf("# trigger some %llu us / %llu us: poll %d after %.0f ms\n",
	       (unsigned long long)p.trig[0].stall_us, (unsigned long long)p.trig[0].window_us, pr,
	       took);
	CHECK_INT(pr, 1);
	CHECK(pf.revents & POLLPRI);
	/* no more than the fixed number */
	int extra = 0;
	while (dn_psi_trigger_add(&p, NULL, DN_PSI_IO, true, 50) >= 0)
		extra++;
	CHECK_INT(extra, DN_PSI_MAX_TRIGGERS - 1);
	CHECK_INT(dn_psi_trigger_add(&p, NULL, DN_PSI_IO, true, 50), -ENOSPC);
	dn_psi_close(&p);
	for (int i = 0; i < DN_PSI_MAX_TRIGGERS; i++)
		CHECK(p.trig[i].fd == -1);
	CHECK_INT(p.ntrig, 0);
}

/* The kernel's side of psi_triggers.c's EPOLLERR branch: a trigger on a
 * cgroup that is removed polls as an error at once, and for ever (a
 * level-triggered loop fd would spin), so the loop must drop it. */
static void test_trigger_on_removed_cgroup(void)
{
	if (geteuid() != 0)
		UNIT_SKIP("not root: no cgroup of our own");
	char why[160] = "";
	struct dn_cgroup *cg = dn_cgroup_create(why, sizeof why);
	if (!cg)
		UNIT_SKIP("no cgroup: %s", why);
	const char *dir = dn_cgroup_path(cg, NULL);
	struct dn_psi p;
	dn_psi_init(&p);
	if (!dir || dn_psi_open(&p, dir, dn_mono_ns(), why, sizeof why) < 0 || !p.has_cgroup) {
		dn_psi_close(&p);
		dn_cgroup_free(cg);
		UNIT_SKIP("no cgroup2 PSI here");
	}
	int fd = dn_psi_trigger_add(&p, dir, DN_PSI_MEMORY, false, 5);
	if (fd < 0) {
		dn_psi_close(&p);
		dn_cgroup_free(cg);
		UNIT_SKIP("the kernel refuses PSI triggers: %s", strerror(-fd));
	}
	struct pollfd pf = {fd, POLLPRI, 0};
	CHECK_INT(poll(&pf, 1, 50), 0); /* an idle, empty cgroup: nothing */
	CHECK_INT(dn_cgroup_try_remove(cg, false), 0);
	for (int i = 0; i < 2; i++) { /* and again: it does not go away */
		pf.revents = 0;
		CHECK_INT(poll(&pf, 1, 1000), 1);
		CHECK(pf.revents & (POLLERR | POLLHUP));
	}
	dn_psi_close(&p);
	dn_cgroup_free(cg);
}

static int count_open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) != -1;
	return n;
}

/* A monitored run reads PSI and sets the triggers its rules want; its end
 * closes every one of those fds, and the run leaves none open. */
static void test_monitor_run(void)
{
	struct dn_psi probe;
	char why[160] = "";
	dn_psi_init(&probe);
	if (dn_psi_open(&probe, NULL, dn_mono_ns(), why, sizeof why) < 0)
		UNIT_SKIP("no PSI: %s", why);
	dn_psi_close(&probe);
	int before = count_open_fds();
	struct dn_loop *loop = dn_loop_new(NULL, NULL, NULL);
	struct dn_monitor *m = dn_monitor_new();
	CHECK(loop && m);
	if (!loop || !m) {
		dn_monitor_destroy(m);
		dn_loop_free(loop);
		return;
	}
	struct dn_monitor_opts o = {.interval_ms = 50, .max_interval_ms = 50, .children = true};
	static char cmd[] = "sleep", arg[] = "0.3";
	char *argv[] = {cmd, arg, NULL};
	struct dn_launch_opts lo = {.stdout_fd = -1, .stderr_fd = -1};
	CHECK_INT(dn_monitor_launch(m, loop, &o, argv, 2, &lo), 0);
	/* wanted before the start, set by it */
	CHECK_INT(dn_monitor_psi_trigger(m, true, DN_PSI_CPU, false, 50), 0);
	CHECK_INT(dn_monitor_psi_trigger(m, true, DN_PSI_CPU, false, 0), -EINVAL);
	CHECK_INT(dn_monitor_start(m), 0);
	const struct dn_psi *p = dn_monitor_psi(m);
	CHECK(p != NULL);
	if (p) {
		CHECK(p->has_system);
		/* the run's cgroup has its pressure files where there is cgroup2
		 * (pure, or hybrid beside v1) */
		bool v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ||
			  access("/sys/fs/cgroup/unified/cgroup.controllers", F_OK) == 0;
		CHECK_INT(p->has_cgroup, dn_monitor_capability(m, "cgroup") && v2);
		int trig = p->ntrig;
		CHECK(trig == 0 || (trig == 1 && p->trig[0].fd >= 0));
		/* and one added while it runs, at once */
		int r = dn_monitor_psi_trigger(m, true, DN_PSI_IO, true, 30);
		CHECK(r == 0 || trig == 0); /* a kernel that refuses refuses both */
		if (r == 0)
			CHECK_INT(p->ntrig, trig + 1);
	}
	while (dn_monitor_running(m))
		if (dn_loop_run_once(loop) < 0)
			dn_monitor_abort(m);
	CHECK(dn_monitor_psi(m) == NULL); /* closed with the end of monitoring */
	dn_monitor_destroy(m);
	/* the run's cgroup goes with the reaper's timer, in the loop */
	uint64_t deadline = dn_mono_ns() + 3000000000ull;
	while (dn_cgroup_reaper_pending() && dn_mono_ns() < deadline)
		dn_loop_run_once(loop);
	CHECK_INT(dn_cgroup_reaper_pending(), 0);
	dn_cgroup_reaper_flush(loop);
	dn_loop_free(loop);
	CHECK_INT(count_open_fds(), before);
}

int main(void)
{
	RUN(test_parse_normal);
	RUN(test_parse_missing_full);
	RUN(test_parse_garbage);
	RUN(test_parse_huge_totals);
	RUN(test_closed_state);
	RUN(test_rule_metrics);
	RUN(test_reader_system);
	RUN(test_reader_cgroup);
	RUN(test_trigger);
	RUN(test_trigger_on_removed_cgroup);
	RUN(test_monitor_run);
	return unit_done();
}
