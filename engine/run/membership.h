/*
 * membership.h — who belongs to a run, from the kernel: the run's cgroup
 * (its cgroup.procs, read once per sample, is the authoritative list) and
 * the proc connector's fork/exit events (the exact count of processes and
 * threads the run started, and, without a cgroup, the list itself). The
 * children files are the last fallback, and the one-off rescan after the
 * connector lost events.
 *
 * It feeds the tree (dn_tree_adopt) and turns the tree's children walk
 * off wherever it has a better source. Owned by a monitor; one per run.
 */
#ifndef DENET_MEMBERSHIP_H
#define DENET_MEMBERSHIP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "pidset.h"
#include "procevents.h"
#include "proctree.h"

/* At most this many fork-event children are opened in the tree between
 * two samples (a fork storm is counted, not opened: each open costs
 * ~30 us); the rest join at the next sample if they are still alive. */
#define DN_MEMBERSHIP_ADOPT_PER_WINDOW 256

struct dn_membership {
	struct dn_tree *tree;
	struct dn_procevents *pe; /* NULL: no connector */
	struct dn_pidset members; /* tgids of the run known from events */
	bool follow;		  /* the tree follows descendants */
	bool counting;		  /* the connector was subscribed from the start */
	/* An event about a member has arrived: the connector really serves
	 * this process (the kernel silently ignores the subscription of a
	 * process in a child pid or user namespace, and before Linux 6.6 of
	 * one without CAP_NET_ADMIN). Until then the children walk stays on
	 * and the counts are not trusted. */
	bool verified;
	unsigned gone_gen;  /* the tree's scan whose gone[] was pruned */
	uint64_t processes; /* started by the run (the root included) */
	uint64_t threads;   /* started by the run (main threads included) */
	uint64_t lost;	    /* overflows of the connector's queue */
	unsigned adopted_in_window;
	pid_t *pids; /* the latest cgroup.procs (sorted once asked) */
	size_t npids, pids_cap;
	bool pids_sorted;
	char why[160]; /* why there is no connector */
};

/* A membership in its closed state (no fds, no memory). */
void dn_membership_init(struct dn_membership *mb);
/* Starts counting: subscribes to the connector (the caller then watches
 * dn_membership_fd) and seeds the members with the tree as it is (a
 * launched command: the held child, before it runs). Without a
 * connector the counts come from the samples; why says so. Turns the
 * tree's children walk off when there is a better source: the connector,
 * or has_cgroup (the run's own cgroup, passed to each sync). use_events
 * false: no connector (why = "disabled"). */
void dn_membership_start(struct dn_membership *mb, struct dn_tree *t, bool has_cgroup,
			 bool use_events);
/* The connector's fd for the loop, -1 without. */
int dn_membership_fd(const struct dn_membership *mb);
/* Reads the queued events: counts forks of members and opens their
 * children in the tree (bounded per window). Call when the fd is
 * readable and before each scan. */
void dn_membership_poll(struct dn_membership *mb);
/* Before each scan: the events so far, then the cgroup's list (cg, the
 * run's cgroup: members the tree lacks are adopted, and counted if the
 * events missed them), or else the event members the tree lacks. After
 * lost events without a cgroup, the next scan walks the children files
 * once. */
void dn_membership_sync(struct dn_membership *mb, struct dn_cgroup *cg);
/* Where the counts come from: "proc_connector" (exact), "proc_connector
 * (events lost)" (a lower bound) or NULL (no connector, or one that never
 * delivered an event of the run: the caller's sampled count is all there
 * is). */
const char *dn_membership_source(const struct dn_membership *mb);
/* Monitoring ended: the subscription goes (a finished run must not keep
 * receiving every event of the machine); the counts stay. The caller
 * removes the fd from its loop first. */
void dn_membership_stop_events(struct dn_membership *mb);
/* Unsubscribes and frees; back to the closed state. Idempotent. */
void dn_membership_free(struct dn_membership *mb);

#endif
