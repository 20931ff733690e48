/*
 * cgroup_reaper.c — removes the cgroups of ended runs without waiting in
 * the event loop.
 *
 * A run's leaf can be removed only once the last of its tasks has been
 * released by the kernel, a moment after it exits (longer when it is
 * unmapping a large address space). The run's end must not sleep for that
 * in the loop, and its monitor may be freed before it happens (Lua
 * collects it, the CLI exits), so the cgroup outlives the monitor here:
 * each waiting cgroup has a timer on the loop of the run that ended, not
 * "ref"ed (it does not keep a script's loop running). The loop's owner
 * calls dn_cgroup_reaper_flush before freeing the loop: the one place that
 * waits, at teardown, bounded.
 *
 * Owns the waiting cgroups and their timers. One thread (the loop's), so
 * the list is a plain static.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "cgroup_reaper.h"
#include "clock.h"

struct pending {
	struct dn_cgroup *cg;
	struct dn_loop *loop; /* the timer's; NULL: flush only */
	struct dn_timer *timer;
	uint64_t since_ns;
	bool release; /* everything still alive in it moves out on each try */
	struct pending *next;
};

static struct pending *waiting;

static void unlink_free(struct pending *p)
{
	for (struct pending **pp = &waiting; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	dn_loop_timer_free(p->timer);
	dn_cgroup_free(p->cg);
	free(p);
}

static void on_retry(struct dn_loop *loop, struct dn_timer *t, void *ctx)
{
	(void)loop;
	(void)t;
	struct pending *p = ctx;
	uint64_t now = dn_mono_ns(), age_ms = (now - p->since_ns) / 1000000;
	/* A task still in it after the eviction time is not exiting: it is
	 * a process (a late fork of the run) that would hold the leaf for
	 * ever. It runs on in denet's cgroup. */
	int rc = dn_cgroup_try_remove(p->cg, p->release || age_ms >= DN_CGROUP_REAPER_EVICT_MS);
	if (rc != -EBUSY) {
		unlink_free(p); /* gone, or cannot be removed at all */
		return;
	}
	if (age_ms >= DN_CGROUP_REAPER_GIVE_UP_MS)
		return; /* a task that cannot finish exiting: the flush, or the sweep */
	dn_loop_timer_arm(p->timer, now + DN_CGROUP_REAPER_RETRY_MS * 1000000ull);
}

void dn_cgroup_reaper_add(struct dn_loop *loop, struct dn_cgroup *cg, bool release)
{
	if (!cg)
		return;
	if (release)
		dn_cgroup_evict(cg);
	if (dn_cgroup_try_remove(cg, release) != -EBUSY) {
		dn_cgroup_free(cg);
		return;
	}
	struct pending *p = calloc(1, sizeof *p);
	if (!p) {
		/* Nowhere to keep it: the leaf is left to the stale sweep. */
		dn_cgroup_free(cg);
		return;
	}
	p->cg = cg;
	p->release = release;
	p->since_ns = dn_mono_ns();
	if (loop && (p->timer = dn_loop_timer_new(loop, on_retry, p))) {
		p->loop = loop;
		dn_loop_timer_set_ref(p->timer, false);
		dn_loop_timer_arm(p->timer, p->since_ns + DN_CGROUP_REAPER_RETRY_MS * 1000000ull);
	}
	p->next = waiting;
	waiting = p;
}

static void pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static bool flushed_by(const struct pending *p, const struct dn_loop *loop)
{
	return !loop || !p->loop || p->loop == loop;
}

void dn_cgroup_reaper_flush(struct dn_loop *loop)
{
	/* The one wait for a cgroup to empty, at the end of a loop's life:
	 * the process (or the Lua state) is ending, no event is waiting to
	 * be served. Short and bounded. */
	uint64_t deadline = dn_mono_ns() + DN_CGROUP_REAPER_FLUSH_MS * 1000000ull;
	for (;;) {
		bool busy = false;
		for (struct pending *p = waiting, *next; p; p = next) {
			next = p->next;
			if (!flushed_by(p, loop))
				continue;
			if (dn_cgroup_try_remove(p->cg, true) == -EBUSY)
				busy = true;
			else
				unlink_free(p);
		}
		if (!busy || dn_mono_ns() >= deadline)
			break;
		pause_ms(5);
	}
	for (struct pending *p = waiting, *next; p; p = next) {
		next = p->next;
		if (flushed_by(p, loop))
			unlink_free(p); /* left to the stale sweep of a later run */
	}
}

size_t dn_cgroup_reaper_pending(void)
{
	size_t n = 0;
	for (const struct pending *p = waiting; p; p = p->next)
		n++;
	return n;
}
