// SPDX-License-Identifier: GPL-2.0
/*
 * tasks.bpf.c — the task-iterator sampler: one record (bpf/tasks.h) for
 * every thread of the processes denet follows, written to the iterator's
 * seq_file; user space reads a whole sample with read() on one iterator fd
 * (engine/profiler/tasksampler.c) and sums the threads of each process
 * (engine/core/tasksnap.c).
 *
 * Which threads: those whose process is in `follow` (the tree), and, when
 * `descendants` is set, those whose parent, or an ancestor up to
 * DN_TASKS_ANCESTORS levels up, is: the descendants born since the
 * previous sample, found in the same pass as /proc's children files would
 * find them (set while the tree has no better source of members: the run's
 * cgroup and fork events adopt them instead). `follow_all` writes every
 * task (tests).
 *
 * The figures are the ones /proc shows (fs/proc/array.c do_task_stat,
 * fs/proc/base.c do_io_accounting and proc_pid_schedstat), read from the
 * same kernel fields; get_mm_rss() is the sum of the FILE, ANON and SHMEM
 * counters, each read as percpu_counter_read_positive() does (the shared
 * count, not the per-CPU deltas, clamped at 0).
 *
 * Built as a light skeleton (bpftool gen skeleton -L): the kernel does the
 * CO-RE relocations, so loading parses no BTF in user space.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "tasks.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* the tree's size, not 64 Ki entries */
	__uint(max_entries, DN_TASKS_MAX_FOLLOW);
	__type(key, __u32);
	__type(value, __u8);
} follow SEC(".maps");

/* Set by user space through the mmap'd .bss. */
__u32 follow_all;
__u32 descendants; /* also write the unfollowed descendants of followed ones */

static __always_inline bool followed(__u32 tgid)
{
	return follow_all || bpf_map_lookup_elem(&follow, &tgid) != NULL;
}

static __always_inline bool wanted(struct task_struct *t, __u32 tgid)
{
	struct task_struct *p = t;

	if (followed(tgid))
		return true;
	if (!descendants)
		return false;
	for (int i = 0; i < DN_TASKS_ANCESTORS; i++) {
		__u32 ptgid;

		p = p->real_parent;
		if (!p)
			return false;
		ptgid = p->tgid;
		if (ptgid <= 1)
			return false; /* reached init (or the idle task) */
		if (bpf_map_lookup_elem(&follow, &ptgid))
			return true;
	}
	return false;
}

static __always_inline void read_io(struct dn_task_io *d, struct task_io_accounting *s)
{
	d->rchar = s->rchar;
	d->wchar = s->wchar;
	d->syscr = s->syscr;
	d->syscw = s->syscw;
	d->read_bytes = s->read_bytes;
	d->write_bytes = s->write_bytes;
	d->cancelled_write_bytes = s->cancelled_write_bytes;
}

static __always_inline __u64 mm_counter(struct mm_struct *mm, int member)
{
	__s64 v = mm->rss_stat[member].count;

	return v > 0 ? (__u64)v : 0;
}

/* Per-CPU scratch: the record is too big for the 512-byte BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dn_task_rec);
} scratch SEC(".maps");

/*
 * The task and what hangs off it are read with plain loads: in an iterator
 * program they are BTF pointers, which the verifier turns into inline
 * fault-safe loads (no helper call a field, as BPF_CORE_READ would make:
 * that was 8 % of a sample's time); vmlinux.h's preserve_access_index
 * keeps them relocatable.
 */
SEC("iter/task")
int dn_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *t = ctx->task;
	struct signal_struct *sig;
	struct dn_task_rec *r;
	struct mm_struct *mm;
	__u32 zero = 0, tgid;

	if (!t)
		return 0; /* the end of the walk */
	tgid = t->tgid;
	if (!wanted(t, tgid))
		return 0;
	r = bpf_map_lookup_elem(&scratch, &zero);
	if (!r)
		return 0;
	r->pid = t->pid;
	r->tgid = tgid;
	r->flags = 0;
	r->state = t->__state | t->exit_state;
	r->sum_exec_runtime = t->se.sum_exec_runtime;
	r->min_flt = t->min_flt;
	r->maj_flt = t->maj_flt;
	if (bpf_core_field_exists(t->ioac)) {
		read_io(&r->io, &t->ioac);
	} else {
		__builtin_memset(&r->io, 0, sizeof r->io);
		r->flags |= DN_TASK_NO_IOACCT;
	}
	if (r->pid != tgid) {
		/* a thread: the leader carries the process's fields */
		bpf_seq_write(ctx->meta->seq, r, offsetof(struct dn_task_rec, ppid));
		return 0;
	}
	r->flags |= DN_TASK_LEADER;
	r->ppid = t->real_parent->tgid;
	r->processor = t->thread_info.cpu;
	r->nr_threads = 0;
	r->pad = 0;
	r->start_boottime = t->start_boottime;
	__builtin_memcpy(r->comm, t->comm, sizeof r->comm);
	r->total_vm = 0;
	r->rss = 0;
	mm = t->mm;
	if (mm) {
		r->flags |= DN_TASK_HAS_MM;
		r->total_vm = mm->total_vm;
		r->rss = mm_counter(mm, MM_FILEPAGES) + mm_counter(mm, MM_ANONPAGES) +
			 mm_counter(mm, MM_SHMEMPAGES);
	}
	sig = t->signal;
	r->nr_threads = sig->nr_threads;
	r->sig_sum_sched_runtime = sig->sum_sched_runtime;
	r->sig_min_flt = sig->min_flt;
	r->sig_maj_flt = sig->maj_flt;
	r->sig_cmin_flt = sig->cmin_flt;
	r->sig_cmaj_flt = sig->cmaj_flt;
	r->sig_cutime = sig->cutime;
	r->sig_cstime = sig->cstime;
	if (bpf_core_field_exists(sig->ioac))
		read_io(&r->sig_io, &sig->ioac);
	else
		__builtin_memset(&r->sig_io, 0, sizeof r->sig_io);
	bpf_seq_write(ctx->meta->seq, r, sizeof *r);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
