/*
 * survivors.h — the processes of a run still alive when its command exited
 * (see survivors.c).
 */
#ifndef DENET_SURVIVORS_H
#define DENET_SURVIVORS_H

#include "cgroup.h"
#include "proctree.h"
#include "records.h"

/* Fills e's survivors: from cg's cgroup.procs when cg is the run's own
 * cgroup, else from the processes of the tree's last scan that are still
 * alive; root (the command) is never one. */
void dn_survivors_collect(struct dn_exit_info *e, struct dn_cgroup *cg, const struct dn_tree *t,
			  pid_t root);

/* With --wait-all: every process in the run's cgroup joins the tree (an
 * orphan whose parent left between two scans is still the run's). No-op
 * without a cgroup: the tree then follows what its scans see. */
void dn_survivors_adopt(struct dn_cgroup *cg, struct dn_tree *t);

#endif
