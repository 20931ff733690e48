/*
 * test_cgroup_reaper.c — the end of a run's cgroup (engine/run/
 * cgroup_reaper.c) on this kernel: a leaf that can go goes at once; one
 * still holding a process is kept and retried on the loop's timer, never
 * by sleeping in the call, its stragglers moved out after the eviction
 * time; survivors are released at once; a cgroup waiting at teardown gets
 * the bounded final flush. Skips where cgroups are not writable.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "cgroup_reaper.h"
#include "clock.h"
#include "loop.h"
#include "unit.h"

static bool gone(const char *path)
{
	struct stat sb;

	return stat(path, &sb) != 0 && errno == ENOENT;
}

/* A run's cgroup with one paused child in it (its pid in *pid), or NULL. */
static struct dn_cgroup *busy_cgroup(pid_t *pid, char *dir, size_t dirlen)
{
	char why[256] = "";
	struct dn_cgroup *cg = dn_cgroup_create(why, sizeof why);

	if (!cg) {
		printf("# dn_cgroup_create: %s\n", why);
		return NULL;
	}
	fflush(stdout);
	*pid = fork();
	if (*pid == 0) {
		pause();
		_exit(0);
	}
	if (dn_cgroup_add(cg, *pid) != 0)
		printf("# dn_cgroup_add failed\n");
	snprintf(dir, dirlen, "%s",
		 dn_cgroup_path(cg, NULL) ? dn_cgroup_path(cg, NULL)
					  : dn_cgroup_path(cg, "memory"));
	return cg;
}

static double ms_since(uint64_t t0)
{
	return (double)(dn_mono_ns() - t0) / 1e6;
}

static void noop(struct dn_loop *l, struct dn_timer *t, void *c)
{
	(void)l;
	(void)t;
	(void)c;
}

/* A straggler that is not exiting: kept, retried on the timer, moved out
 * after the eviction time, then the leaf goes; the call never waited. */
static void test_retry_on_timer(void)
{
	struct dn_loop *loop = dn_loop_new(NULL, NULL, NULL);
	char dir[4096];
	pid_t pid;
	struct dn_cgroup *cg = busy_cgroup(&pid, dir, sizeof dir);

	if (!cg) {
		dn_loop_free(loop);
		UNIT_SKIP("cgroups not writable here");
	}
	uint64_t t0 = dn_mono_ns();
	dn_cgroup_reaper_add(loop, cg, false);
	double call_ms = ms_since(t0);
	printf("# add took %.2f ms\n", call_ms);
	CHECK(call_ms < 50);
	CHECK_INT(dn_cgroup_reaper_pending(), 1);
	CHECK(!gone(dir));
	/* the retry timer does not keep a loop running by itself */
	CHECK_INT(dn_loop_active_timers(loop), 0);
	/* a timer of ours wakes the loop often enough to see the result */
	struct dn_timer *tick = dn_loop_timer_new(loop, noop, NULL);
	uint64_t deadline = dn_mono_ns() + 1000000000ull;
	while (dn_cgroup_reaper_pending() && dn_mono_ns() < deadline) {
		dn_loop_timer_arm(tick, dn_mono_ns() + 5000000ull);
		dn_loop_run_once(loop);
	}
	double took = ms_since(t0);
	printf("# gone after %.0f ms\n", took);
	CHECK_INT(dn_cgroup_reaper_pending(), 0);
	CHECK(gone(dir));
	CHECK(took >= DN_CGROUP_REAPER_EVICT_MS - 5); /* not evicted before its time */
	CHECK_INT(kill(pid, 0), 0);		      /* moved out, not killed */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	dn_loop_timer_free(tick);
	dn_loop_free(loop);
}

/* Survivors (release): out at once, and the leaf with them. */
static void test_release(void)
{
	struct dn_loop *loop = dn_loop_new(NULL, NULL, NULL);
	char dir[4096];
	pid_t pid;
	struct dn_cgroup *cg = busy_cgroup(&pid, dir, sizeof dir);

	if (!cg) {
		dn_loop_free(loop);
		UNIT_SKIP("cgroups not writable here");
	}
	dn_cgroup_reaper_add(loop, cg, true);
	CHECK_INT(dn_cgroup_reaper_pending(), 0);
	CHECK(gone(dir));
	CHECK_INT(kill(pid, 0), 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	dn_loop_free(loop);
}

/* An ended run whose last task is exiting: gone within a few retries. */
static void test_exiting_task(void)
{
	struct dn_loop *loop = dn_loop_new(NULL, NULL, NULL);
	struct dn_timer *tick = dn_loop_timer_new(loop, noop, NULL);
	char dir[4096];
	pid_t pid;
	struct dn_cgroup *cg = busy_cgroup(&pid, dir, sizeof dir);

	if (!cg) {
		dn_loop_timer_free(tick);
		dn_loop_free(loop);
		UNIT_SKIP("cgroups not writable here");
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	uint64_t t0 = dn_mono_ns();
	dn_cgroup_reaper_add(loop, cg, false);
	while (dn_cgroup_reaper_pending() && ms_since(t0) < 1000) {
		dn_loop_timer_arm(tick, dn_mono_ns() + 5000000ull);
		dn_loop_run_once(loop);
	}
	printf("# gone after %.1f ms\n", ms_since(t0));
	CHECK_INT(dn_cgroup_reaper_pending(), 0);
	CHECK(gone(dir));
	dn_loop_timer_free(tick);
	dn_loop_free(loop);
}

/* Teardown: what still waits gets the bounded flush, outside the loop;
 * its timer goes with it (the loop is freed after). */
static void test_flush(void)
{
	struct dn_loop *loop = dn_loop_new(NULL, NULL, NULL);
	char dir[4096], dir2[4096];
	pid_t pid, pid2;
	struct dn_cgroup *cg = busy_cgroup(&pid, dir, sizeof dir);
	struct dn_cgroup *cg2 = cg ? busy_cgroup(&pid2, dir2, sizeof dir2) : NULL;

	if (!cg || !cg2) {
		dn_cgroup_reaper_add(NULL, cg, true);
		dn_loop_free(loop);
		UNIT_SKIP("cgroups not writable here");
	}
	dn_cgroup_reaper_add(loop, cg, false);
	dn_cgroup_reaper_add(NULL, cg2, false); /* no loop: the flush's */
	CHECK_INT(dn_cgroup_reaper_pending(), 2);
	uint64_t t0 = dn_mono_ns();
	dn_cgroup_reaper_flush(loop);
	double took = ms_since(t0);
	printf("# flush took %.1f ms\n", took);
	CHECK(took <= DN_CGROUP_REAPER_FLUSH_MS + 50);
	CHECK_INT(dn_cgroup_reaper_pending(), 0);
	CHECK(gone(dir));
	CHECK(gone(dir2));
	CHECK_INT(kill(pid, 0), 0);
	kill(pid, SIGKILL);
	kill(pid2, SIGKILL);
	waitpid(pid, NULL, 0);
	waitpid(pid2, NULL, 0);
	dn_loop_free(loop);
}

int main(void)
{
	RUN(test_retry_on_timer);
	RUN(test_release);
	RUN(test_exiting_task);
	RUN(test_flush);
	return unit_done();
}
