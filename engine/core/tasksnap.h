/*
 * tasksnap.h — one sample of the task-iterator sampler, as per-process
 * readings in /proc's fields and units.
 *
 * The BPF program (bpf/tasks.bpf.c) writes one record a thread;
 * dn_tasksnap_build sums the threads of each process the way
 * /proc/PID/stat, /proc/PID/io and thread_group_cputime() sum them, so a
 * reading stands in for the three /proc reads of a process. Owns the
 * readings and their index; rebuilt in place every sample (no allocation
 * once the tree stops growing). Parses a buffer only: no syscalls, so
 * tests and the fuzzer feed it directly.
 */
#ifndef DENET_TASKSNAP_H
#define DENET_TASKSNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "procfs.h"

struct dn_task_reading {
	struct dn_stat st;	/* as /proc/PID/stat shows the process, but for
				   utime + stime: all of its CPU time is in utime
				   (the kernel's split is an estimate it scales) */
	struct dn_io io;	/* as /proc/PID/io (all threads, live and gone) */
	bool io_ok;		/* false: a kernel without task I/O accounting */
	uint64_t run_ns;	/* on-CPU ns of all its threads, live and gone:
				   exact, where stat's ticks are 10 ms steps */
	unsigned nthreads_seen; /* its threads in the sample */
};

struct dn_tasksnap {
	struct dn_task_reading *r; /* n readings */
	size_t n, cap;
	uint32_t *index;	/* open addressing on pid: reading index + 1, 0 = empty */
	size_t nindex;		/* a power of two, > 2n */
	uint64_t records, torn; /* records parsed; trailing bytes of a torn one */
};

/* Rebuild s from the records in buf (len bytes). clk_tck converts ns to
 * ticks as the kernel's nsec_to_clock_t does, page_size total_vm to bytes.
 * Processes whose leader is not in the sample are left out (the caller
 * reads /proc for those). 0, -EINVAL (len not a whole number of records:
 * the whole ones are kept), -ENOMEM. */
int dn_tasksnap_build(struct dn_tasksnap *s, const void *buf, size_t len, long clk_tck,
		      long page_size);
const struct dn_task_reading *dn_tasksnap_find(const struct dn_tasksnap *s, pid_t pid);
void dn_tasksnap_free(struct dn_tasksnap *s);

/* The /proc state letter of a task's __state | exit_state (the kernel's
 * task_state_index() and task_state_array[]). */
char dn_task_state_letter(uint32_t state);

#endif
