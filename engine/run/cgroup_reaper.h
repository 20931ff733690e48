/*
 * cgroup_reaper.h — the cgroups of runs that have ended, until their
 * leaves are gone (see cgroup_reaper.c). Every run cgroup ends here: its
 * one close path.
 */
#ifndef DENET_CGROUP_REAPER_H
#define DENET_CGROUP_REAPER_H

#include <stdbool.h>
#include <stddef.h>

#include "cgroup.h"
#include "loop.h"

/* Takes cg (NULL is a no-op). With `release`, what still runs in it moves
 * to denet's own cgroup first (survivors, a detached tree, a command that
 * outlives its monitor). One rmdir now; a leaf still busy with exiting
 * tasks is retried on a timer of `loop` (NULL: no loop, kept for the final
 * flush) every DN_CGROUP_REAPER_RETRY_MS, moving live stragglers out from
 * DN_CGROUP_REAPER_EVICT_MS on, until DN_CGROUP_REAPER_GIVE_UP_MS; then
 * it waits for the final flush. Never sleeps. */
void dn_cgroup_reaper_add(struct dn_loop *loop, struct dn_cgroup *cg, bool release);

/* Teardown, outside any event loop: the cgroups still waiting that were
 * added with `loop`, or with no loop, get a bounded final wait (at most
 * DN_CGROUP_REAPER_FLUSH_MS), their stragglers moved out; what is still
 * there after it is left to the stale sweep of a later run. Must be called
 * before `loop` is freed (their timers are on it). loop NULL: all. */
void dn_cgroup_reaper_flush(struct dn_loop *loop);

/* How many cgroups are waiting (for tests). */
size_t dn_cgroup_reaper_pending(void);

#define DN_CGROUP_REAPER_RETRY_MS   10
#define DN_CGROUP_REAPER_EVICT_MS   100
#define DN_CGROUP_REAPER_GIVE_UP_MS 2000
#define DN_CGROUP_REAPER_FLUSH_MS   300

#endif
