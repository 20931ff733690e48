/*
 * tasksampler.h — the BPF task-iterator sampler (loader side).
 *
 * Loads bpf/tasks.bpf.c as a light skeleton (the kernel relocates it: no
 * BTF is parsed here, so loading costs ~1 MB, not the ~10 MB libbpf's
 * vmlinux BTF takes), keeps the set of processes it follows, and takes a
 * sample: one iterator fd, read() until the end, into a dn_tasksnap. The
 * monitor hands it to the process tree as its source of readings
 * (dn_tree_opts.source); the tree falls back to /proc for any process a
 * sample lacks.
 */
#ifndef DENET_TASKSAMPLER_H
#define DENET_TASKSAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "proctree.h"
#include "tasksnap.h"

struct dn_tasksampler;

/* Loads and attaches the program. NULL + errno on failure, with a
 * one-line reason in why: no privilege, a kernel without task iterators or
 * light-skeleton loading, a child pid namespace. */
struct dn_tasksampler *dn_tasksampler_open(char *why, size_t whylen);
void dn_tasksampler_close(struct dn_tasksampler *s);

/* Follow pid's process (and the descendants it will have) or stop. */
int dn_tasksampler_follow(struct dn_tasksampler *s, pid_t pid, bool on);
/* Also write the descendants of the followed processes (up to
 * DN_TASKS_ANCESTORS generations below one), followed or not: while the
 * tree has no other way to find new members. */
void dn_tasksampler_descendants(struct dn_tasksampler *s, bool on);
/* Write every task of the machine (tests). */
void dn_tasksampler_follow_all(struct dn_tasksampler *s, bool on);

/* Take a sample. The snapshot stays valid until the next call. NULL +
 * errno on failure (the tree then reads /proc). */
const struct dn_tasksnap *dn_tasksampler_sample(struct dn_tasksampler *s);

/* The tree's view of it: refresh = dn_tasksampler_sample, follow. */
struct dn_tree_source dn_tasksampler_source(struct dn_tasksampler *s);

/* Counters for --debug and tests. */
struct dn_tasksampler_stats {
	unsigned long long samples, failures;
};
void dn_tasksampler_stats(const struct dn_tasksampler *s, struct dn_tasksampler_stats *out);
/* What its iterator program has cost so far (bpfstats.h). */
struct dn_bpf_cost;
void dn_tasksampler_bpf_cost(const struct dn_tasksampler *s, struct dn_bpf_cost *c);

#endif
