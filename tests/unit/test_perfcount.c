/*
 * test_perfcount.c — unit tests of engine/core/perfcount.c on this kernel:
 * the closed state, counters on this process and on what it forks (the
 * `inherit` semantics: live children's counts are in a reading, exited
 * ones' too; with descendants off, a child process is not), a child held
 * before exec whose counters start at its exec, a pid that is gone, and
 * the delta and JSON helpers on literal values.
 *
 * Without perf events (a kernel without them, or perf_event_paranoid
 * refusing a non-root user) the live tests skip with the reason given.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "perfcount.h"
#include "unit.h"

static char why[256], hw_why[256];

static void nap(void)
{
	struct timespec ts = {0, 100000}; /* 100 us: one switch out and in */
	nanosleep(&ts, NULL);
}

static void test_closed_state(void)
{
	struct dn_perfcount pc;
	dn_perfcount_init(&pc);
	for (int i = 0; i < DN_PERF_NCOUNTERS; i++)
		CHECK_INT(pc.fd[i], -1);
	dn_perfcount_close(&pc);
	dn_perfcount_close(&pc); /* idempotent */
	struct dn_perf_values v;
	CHECK_INT(dn_perfcount_read(&pc, &v), 0); /* nothing open: nothing read */
	for (int i = 0; i < DN_PERF_NCOUNTERS; i++)
		CHECK(!v.have[i]);
	CHECK(!dn_perfcount_has_hw(&pc));
}

static void test_self(void)
{
	struct dn_perfcount pc;
	struct dn_perfcount_opts o = {.descendants = true, .on_exec = false};
	int r = dn_perfcount_open(&pc, 0, &o, why, sizeof why, hw_why, sizeof hw_why);
	if (r < 0)
		UNIT_SKIP("%s", why);
	struct dn_perf_values a, b;
	CHECK_INT(dn_perfcount_read(&pc, &a), 0);
	for (int i = 0; i < 200; i++)
		nap();
	size_t len = 16u << 20;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	for (size_t k = 0; p != MAP_FAILED && k < len; k += 4096)
		p[k] = 1;
	volatile uint64_t spin = 0;
	for (uint64_t k = 0; k < 20000000; k++)
		spin += k;
	CHECK_INT(dn_perfcount_read(&pc, &b), 0);
	struct dn_perf_values d;
	dn_perf_values_delta(&b, &a, &d);
	for (int i = 0; i < DN_PERF_FIRST_HW; i++)
		CHECK(d.have[i]);
	CHECK(d.v[DN_PERF_CONTEXT_SWITCHES] >= 200);
	CHECK(d.v[DN_PERF_PAGE_FAULTS] >= 4096); /* 16 MiB of 4 KiB pages */
	CHECK(d.v[DN_PERF_TASK_CLOCK] > 1000000);
	if (dn_perfcount_has_hw(&pc)) {
		CHECK_STR(hw_why, "");
		CHECK(d.v[DN_PERF_INSTRUCTIONS] > 20000000);
		CHECK(d.v[DN_PERF_CYCLES] > 0);
	} else {
		/* the reason names the counter that failed */
		printf("# hardware counters: %s\n", hw_why);
		CHECK(strstr(hw_why, "perf_event_open(cycles)") != NULL);
		CHECK(!d.have[DN_PERF_CYCLES] && !d.have[DN_PERF_INSTRUCTIONS]);
	}
	if (p != MAP_FAILED)
		munmap(p, len);
	dn_perfcount_close(&pc);
	for (int i = 0; i < DN_PERF_NCOUNTERS; i++)
		CHECK_INT(pc.fd[i], -1);
}

/* Counters on this process, then a child that naps 300 times and tells
 * us, then waits to be told to exit: the context switches read while it
 * is alive, and after it exited. */
static void fork_and_count(bool descendants, uint64_t *alive, uint64_t *after)
{
	struct dn_perfcount pc;
	struct dn_perfcount_opts o = {.descendants = descendants, .on_exec = false};
	*alive = *after = 0;
	if (dn_perfcount_open(&pc, 0, &o, why, sizeof why, NULL, 0) < 0)
		return;
	int done[2], go[2];
	if (pipe(done) < 0 || pipe(go) < 0) {
		dn_perfcount_close(&pc);
		return;
	}
	struct dn_perf_values a, b, c;
	dn_perfcount_read(&pc, &a);
	pid_t k = fork();
	if (k == 0) {
		char ch = 'x';
		for (int i = 0; i < 300; i++)
			nap();
		if (write(done[1], &ch, 1) != 1 || read(go[0], &ch, 1) != 1)
			_exit(1);
		_exit(0);
	}
	char ch = 'x';
	CHECK(k > 0);
	CHECK_INT(read(done[0], &ch, 1), 1);
	dn_perfcount_read(&pc, &b);
	CHECK_INT(write(go[1], &ch, 1), 1);
	CHECK_INT(waitpid(k, NULL, 0), k);
	dn_perfcount_read(&pc, &c);
	*alive = b.v[DN_PERF_CONTEXT_SWITCHES] - a.v[DN_PERF_CONTEXT_SWITCHES];
	*after = c.v[DN_PERF_CONTEXT_SWITCHES] - a.v[DN_PERF_CONTEXT_SWITCHES];
	close(done[0]);
	close(done[1]);
	close(go[0]);
	close(go[1]);
	dn_perfcount_close(&pc);
}

static void test_inherit(void)
{
	uint64_t alive, after;
	fork_and_count(true, &alive, &after);
	if (why[0])
		UNIT_SKIP("%s", why);
	printf("# descendants: %llu switches with the child alive, %llu after it exited\n",
	       (unsigned long long)alive, (unsigned long long)after);
	CHECK(alive >= 300); /* a live child's copy is summed by a read */
	CHECK(after >= alive);
	fork_and_count(false, &alive, &after);
	printf("# threads only: %llu with the child alive, %llu after\n",
	       (unsigned long long)alive, (unsigned long long)after);
	/* ours alone: blocked twice in read, once in waitpid, a few more */
	CHECK(after < 100);
}

static void test_held_child(void)
{
	int ready[2];
	CHECK_INT(pipe(ready), 0);
	pid_t k = fork();
	if (k == 0) {
		char ch;
		close(ready[1]);
		if (read(ready[0], &ch, 1) != 0)
			_exit(127);
		/* before the exec: not counted */
		for (int i = 0; i < 100; i++)
			nap();
		execl("/bin/sh", "sh", "-c", "sleep 0.05; sleep 0.05", (char *)NULL);
		_exit(127);
	}
	close(ready[0]);
	struct dn_perfcount pc;
	struct dn_perfcount_opts o = {.descendants = true, .on_exec = true};
	int r = dn_perfcount_open(&pc, k, &o, why, sizeof why, hw_why, sizeof hw_why);
	if (r < 0) {
		close(ready[1]);
		waitpid(k, NULL, 0);
		UNIT_SKIP("%s", why);
	}
	struct dn_perf_values v;
	CHECK_INT(dn_perfcount_read(&pc, &v), 0);
	for (int i = 0; i < DN_PERF_FIRST_HW; i++)
		CHECK_INT(v.v[i], 0); /* disabled until exec */
	close(ready[1]);
	int st = 0;
	CHECK_INT(waitpid(k, &st, 0), k);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* reaped: the counters keep their final counts */
	CHECK_INT(dn_perfcount_read(&pc, &v), 0);
	printf("# sh and two sleeps: %llu switches, %llu faults, %llu ns\n",
	       (unsigned long long)v.v[DN_PERF_CONTEXT_SWITCHES],
	       (unsigned long long)v.v[DN_PERF_PAGE_FAULTS],
	       (unsigned long long)v.v[DN_PERF_TASK_CLOCK]);
	/* the 100 naps before exec would be >= 100; sh waits for two
	 * children, each sleeps once: a handful */
	CHECK(v.v[DN_PERF_CONTEXT_SWITCHES] >= 2);
	CHECK(v.v[DN_PERF_CONTEXT_SWITCHES] < 100);
	CHECK(v.v[DN_PERF_PAGE_FAULTS] > 50); /* three execs map and touch pages */
	CHECK(v.v[DN_PERF_TASK_CLOCK] > 100000);
	dn_perfcount_close(&pc);
}

static void test_gone(void)
{
	pid_t k = fork();
	if (k == 0)
		_exit(0);
	CHECK_INT(waitpid(k, NULL, 0), k);
	struct dn_perfcount pc;
	struct dn_perfcount_opts o = {.descendants = true, .on_exec = true};
	int r = dn_perfcount_open(&pc, k, &o, why, sizeof why, hw_why, sizeof hw_why);
	CHECK_INT(r, -ESRCH);
	CHECK_STR(why, "perf_event_open(context_switches): No such process");
	for (int i = 0; i < DN_PERF_NCOUNTERS; i++)
		CHECK_INT(pc.fd[i], -1);
	dn_perfcount_close(&pc);
}

static void test_delta_json(void)
{
	struct dn_perf_values a = {{10, 2, 30, 4000, 0, 0}, {true, true, true, true, false, false}};
	struct dn_perf_values b = {{15, 2, 31, 5000, 0, 0}, {true, true, true, true, false, false}};
	struct dn_perf_values d;
	dn_perf_values_delta(&b, &a, &d);
	struct dn_buf buf = {0};
	struct dn_json j;
	dn_json_init(&j, &buf);
	dn_perf_values_write_json(&j, &d);
	dn_buf_putc(&buf, '\0');
	CHECK_STR(buf.data,
		  "{\"context_switches\":5,\"cpu_migrations\":0,\"page_faults\":1,\"task_clock_ns\":1000}");
	/* a scaled count that went backwards is no negative delta */
	b.v[DN_PERF_CYCLES] = 5;
	a.v[DN_PERF_CYCLES] = 9;
	b.have[DN_PERF_CYCLES] = true;
	dn_perf_values_delta(&b, &a, &d);
	CHECK_INT(d.v[DN_PERF_CYCLES], 0);
	CHECK(d.have[DN_PERF_CYCLES]);
	CHECK_STR(dn_perf_counter_name(DN_PERF_INSTRUCTIONS), "instructions");
	dn_buf_free(&buf);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	RUN(test_closed_state);
	RUN(test_self);
	RUN(test_inherit);
	RUN(test_held_child);
	RUN(test_gone);
	RUN(test_delta_json);
	return unit_done();
}
