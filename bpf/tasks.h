/*
 * tasks.h — the record the task-iterator sampler (bpf/tasks.bpf.c) writes
 * for every thread it visits, read by engine/core/tasksnap.c. Only
 * fixed-width types: the same layout is compiled by clang -target bpf and
 * by the host compiler (which includes <linux/types.h> first; the BPF
 * side has the types from vmlinux.h).
 *
 * One record a thread. The fields from `ppid` on are those of the whole
 * process (its signal_struct and mm): only the thread group leader's record
 * has them (DN_TASK_LEADER); the other threads' records end before `ppid`
 * (DN_TASK_THREAD_REC_SIZE bytes). The per-thread counters are summed by user space,
 * as /proc/PID/stat and /proc/PID/io sum them (fs/proc/array.c,
 * fs/proc/base.c: do_io_accounting).
 */
#ifndef DENET_BPF_TASKS_H
#define DENET_BPF_TASKS_H

#define DN_TASKS_MAX_FOLLOW 65536 /* tgids in the in-kernel filter */
#define DN_TASKS_ANCESTORS  8	  /* parents looked at for a new descendant */

/* dn_task_rec.flags */
#define DN_TASK_LEADER	  1u /* pid == tgid: the leader fields are set */
#define DN_TASK_HAS_MM	  2u /* rss and total_vm are set (not a zombie, not a kernel thread) */
#define DN_TASK_NO_IOACCT 8u /* kernel without task I/O accounting */

struct dn_task_io {
	__u64 rchar, wchar, syscr, syscw;
	__u64 read_bytes, write_bytes, cancelled_write_bytes;
};

struct dn_task_rec {
	__u32 pid, tgid; /* thread id, process id (global pid namespace) */
	__u32 flags;
	__u32 state; /* __state | exit_state: the letter is derived in user space */
	/* this thread */
	__u64 sum_exec_runtime; /* ns on CPU (se.sum_exec_runtime) */
	__u64 min_flt, maj_flt;
	struct dn_task_io io;
	/* leader: the whole process */
	__u32 ppid; /* real_parent's tgid */
	__s32 processor;
	__u32 nr_threads;
	__u32 pad;
	__u64 start_boottime; /* ns after boot (with pid, the identity) */
	__u64 total_vm;	      /* pages */
	__u64 rss;	      /* pages: file + anon + shmem, as get_mm_rss() */
	/* what the signal_struct holds of threads gone and children waited for */
	__u64 sig_sum_sched_runtime;
	__u64 sig_min_flt, sig_maj_flt, sig_cmin_flt, sig_cmaj_flt;
	__u64 sig_cutime, sig_cstime; /* ns */
	struct dn_task_io sig_io;
	char comm[16];
};

/* The record of a thread that is not the leader: up to `ppid`. */
#define DN_TASK_THREAD_REC_SIZE (offsetof(struct dn_task_rec, ppid))

#endif
