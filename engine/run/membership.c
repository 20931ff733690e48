/*
 * membership.c — a run's members from the kernel (see membership.h). Owns
 * the connector subscription, the set of member tgids and the scratch
 * list of cgroup pids.
 *
 * Why events and the cgroup both: cgroup.procs lists every process of the
 * run, whatever its parent (a double-forked daemon, a child of CLONE_PARENT),
 * but only those alive at the read; fork events name every process the
 * run started, however short, but are system-wide (a queue that can
 * overflow) and follow parents (a member's fork is a member). Counts come
 * from the events, corrected by the cgroup; the list from the cgroup,
 * else from the events; the children files only when neither exists.
 *
 * A thread's fork event names the parent of its whole group, not the
 * thread that made it, so threads are attributed by their own tgid.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "membership.h"

void dn_membership_init(struct dn_membership *mb)
{
	memset(mb, 0, sizeof *mb);
}

/* The connector has shown that it serves this run: the children walk can
 * go (unless it never ran: with a cgroup). */
static void verified(struct dn_membership *mb)
{
	if (mb->verified)
		return;
	mb->verified = true;
	dn_tree_walk_children(mb->tree, false);
}

static void on_event(const struct dn_procevent *ev, void *ctx)
{
	struct dn_membership *mb = ctx;
	if (dn_pidset_has(&mb->members, ev->tgid) ||
	    (ev->kind == DN_PROCEV_FORK && dn_pidset_has(&mb->members, ev->parent_tgid)))
		verified(mb);
	switch (ev->kind) {
	case DN_PROCEV_FORK:
		if (ev->pid != ev->tgid) {
			if (dn_pidset_has(&mb->members, ev->tgid))
				mb->threads++;
			break;
		}
		if (!dn_pidset_has(&mb->members, ev->parent_tgid))
			break;
		if (dn_pidset_add(&mb->members, ev->tgid) < 0)
			mb->lost++; /* out of memory: the count is a lower bound */
		mb->processes++;
		mb->threads++;
		/* Opened at once, so a child that lives a few ms still shows
		 * its command and its reap; a storm only up to the cap. */
		if (mb->follow && mb->adopted_in_window < DN_MEMBERSHIP_ADOPT_PER_WINDOW) {
			mb->adopted_in_window++;
			if (dn_tree_adopt(mb->tree, ev->tgid) == 0)
				dn_tree_find(mb->tree, ev->tgid)->counted = true;
		}
		break;
	case DN_PROCEV_EXEC:
		/* its new command line now: a child that runs a few ms is
		 * reported by what it ran, not by its parent's line */
		if (mb->follow)
			dn_tree_exec_seen(mb->tree, ev->tgid);
		break;
	case DN_PROCEV_EXIT:
		/* Following the tree, a member leaves the set when it is
		 * reaped (the tree sees it gone, dn_membership_sync): a zombie,
		 * or a leader whose threads go on, is still the run's. With
		 * the root alone, nothing else tells: the leader's exit. */
		if (!mb->follow && ev->pid == ev->tgid)
			dn_pidset_remove(&mb->members, ev->tgid);
		break;
	default: break;
	}
}

void dn_membership_start(struct dn_membership *mb, struct dn_tree *t, bool has_cgroup,
			 bool use_events)
{
	mb->tree = t;
	mb->follow = t->opts.children;
	for (size_t i = 0; i < t->nprocs; i++) {
		struct dn_proc *p = t->procs[i];
		p->counted = true;
		dn_pidset_add(&mb->members, p->pid);
		mb->processes++;
		mb->threads += p->st.num_threads > 0 ? (uint64_t)p->st.num_threads : 1;
	}
	if (use_events)
		mb->pe = dn_procevents_open(mb->why, sizeof mb->why);
	else
		snprintf(mb->why, sizeof mb->why, "disabled");
	mb->counting = mb->pe != NULL;
	if (has_cgroup)
		dn_tree_walk_children(t, false);
	/* Attached: what forked between the tree's first reading and the
	 * subscription is found by one more walk. */
	dn_tree_walk_once(t);
}

int dn_membership_fd(const struct dn_membership *mb)
{
	return dn_procevents_fd(mb->pe);
}

void dn_membership_poll(struct dn_membership *mb)
{
	if (!mb->pe)
		return;
	int r = dn_procevents_drain(mb->pe, on_event, mb);
	if (r == -ENOBUFS) {
		mb->lost++;
		/* forks were dropped: who they made is found by a walk, then
		 * joins the members below (dn_membership_sync) */
		dn_tree_walk_once(mb->tree);
	}
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	return (x > y) - (x < y);
}

/* Sorted on the first question of a sync: most samples ask none (every
 * member is in the tree already). */
static bool in_cgroup(struct dn_membership *mb, pid_t pid)
{
	if (!mb->pids_sorted && mb->npids)
		qsort(mb->pids, mb->npids, sizeof *mb->pids, cmp_pid);
	mb->pids_sorted = true;
	return mb->npids && bsearch(&pid, mb->pids, mb->npids, sizeof pid, cmp_pid);
}

/* Members the tree lacks (adoption capped, or they were not yet in /proc):
 * adopted now, or forgotten when they have been reaped. With a cgroup,
 * only those it lists: a member's pid that was reaped and taken by a
 * stranger since is not adopted. */
static void adopt_members(struct dn_membership *mb, bool has_list)
{
	const struct dn_pidset *s = &mb->members;
	for (size_t i = 0; i < s->cap; i++) {
		pid_t pid = s->slot[i];
		if (!pid || dn_tree_find(mb->tree, pid) || (has_list && !in_cgroup(mb, pid)))
			continue;
		if (dn_tree_adopt(mb->tree, pid) == -ESRCH) {
			/* the removal shifts a later member into slot i */
			dn_pidset_remove(&mb->members, pid);
			i--;
		}
	}
}

static void adopt_cgroup(struct dn_membership *mb, struct dn_cgroup *cg)
{
	size_t n = dn_cgroup_pids(cg, mb->pids, mb->pids_cap);
	if (n > mb->pids_cap) {
		size_t cap = n + n / 2 + 64;
		pid_t *np = realloc(mb->pids, cap * sizeof *np);
		if (np) {
			mb->pids = np;
			mb->pids_cap = cap;
			n = dn_cgroup_pids(cg, mb->pids, mb->pids_cap);
		}
		if (n > mb->pids_cap)
			n = mb->pids_cap;
	}
	mb->npids = n;
	mb->pids_sorted = false;
	for (size_t i = 0; i < n; i++)
		if (!dn_tree_find(mb->tree, mb->pids[i]))
			dn_tree_adopt(mb->tree, mb->pids[i]);
}

void dn_membership_sync(struct dn_membership *mb, struct dn_cgroup *cg)
{
	if (!mb->tree)
		return;
	dn_membership_poll(mb);
	mb->adopted_in_window = 0;
	if (!mb->follow)
		return;
	/* the processes the latest scan found gone are reaped: their pids
	 * may be anyone's from now on (unless the tree holds a newcomer
	 * with the pid already: a member named by a fork event). Once per
	 * scan: a later sync (a signal) must not prune a pid taken since. */
	if (mb->gone_gen != mb->tree->gen) {
		mb->gone_gen = mb->tree->gen;
		for (size_t i = 0; i < mb->tree->ngone; i++)
			if (!dn_tree_find(mb->tree, mb->tree->gone[i].pid))
				dn_pidset_remove(&mb->members, mb->tree->gone[i].pid);
	}
	if (cg)
		adopt_cgroup(mb, cg);
	/* The kernel queues a fork's event before the child joins its
	 * cgroup or its parent's children: so after this read, every
	 * process the tree holds has had its event read, and one the
	 * events did not name (below) was really missed by them. */
	dn_membership_poll(mb);
	if (mb->pe)
		adopt_members(mb, cg != NULL);
	/* Whatever joined the tree since (p->counted unset) that the events
	 * did not name (the cgroup found it, or the walk after lost events,
	 * or a subreaper's adoption): a member from now on, and counted as
	 * started, since the run's processes are all the tree holds. An
	 * exited member is no longer in the set but is counted already. */
	for (size_t i = 0; mb->pe && i < mb->tree->nprocs; i++) {
		struct dn_proc *p = mb->tree->procs[i];
		if (p->counted)
			continue;
		p->counted = true;
		if (dn_pidset_add(&mb->members, p->pid) == 1) {
			mb->processes++;
			mb->threads += p->st.num_threads > 0 ? (uint64_t)p->st.num_threads : 1;
		}
	}
}

const char *dn_membership_source(const struct dn_membership *mb)
{
	if (!mb->counting || !mb->verified)
		return NULL;
	return mb->lost ? "proc_connector (events lost)" : "proc_connector";
}

void dn_membership_stop_events(struct dn_membership *mb)
{
	dn_procevents_close(mb->pe);
	mb->pe = NULL;
}

void dn_membership_free(struct dn_membership *mb)
{
	dn_procevents_close(mb->pe);
	dn_pidset_free(&mb->members);
	free(mb->pids);
	dn_membership_init(mb);
}
