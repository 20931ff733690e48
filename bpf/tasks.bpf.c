// SPDX-License-Identifier: GPL-2.0
/*
 * tasks.bpf.c — the task-iterator sampler: one record (bpf/tasks.h) for
 * every thread of the processes denet follows, written to the iterator's
 * seq_file; user space reads a whole sample with read() on one iterator fd
 * (engine/profiler/tasksampler.c) and sums the threads of each process
 * (engine/core/tasksnap.c).
 *
 * Which threads: those whose process is in `follow` (the tree), and those
 * whose parent, or an ancestor up to DN_TASKS_ANCESTORS levels up, is: the
 * descendants born since the previous sample, found in the same pass as
 * /proc's children files would find them. `follow_all` writes every task
 * (no tree yet, or a test).
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

#define PF_KTHREAD 0x00200000

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DN_TASKS_MAX_FOLLOW);
	__type(key, __u32);
	__type(value, __u8);
} follow SEC(".maps");

/* Set by user space through the mmap'd .bss. */
__u32 follow_all;

static __always_inline bool followed(__u32 tgid)
{
	return follow_all || bpf_map_lookup_elem(&follow, &tgid) != NULL;
}

static __always_inline bool wanted(struct task_struct *t, __u32 tgid)
{
	struct task_struct *p = t;

	if (followed(tgid))
		return true;
	for (int i = 0; i < DN_TASKS_ANCESTORS; i++) {
		__u32 ptgid;

		p = BPF_CORE_READ(p, real_parent);
		if (!p)
			return false;
		ptgid = BPF_CORE_READ(p, tgid);
		if (ptgid <= 1)
			return false; /* reached init (or the idle task) */
		if (bpf_map_lookup_elem(&follow, &ptgid))
			return true;
	}
	return false;
}

static __always_inline void read_io(struct dn_task_io *d, struct task_io_accounting *s)
{
	d->rchar = BPF_CORE_READ(s, rchar);
	d->wchar = BPF_CORE_READ(s, wchar);
	d->syscr = BPF_CORE_READ(s, syscr);
	d->syscw = BPF_CORE_READ(s, syscw);
	d->read_bytes = BPF_CORE_READ(s, read_bytes);
	d->write_bytes = BPF_CORE_READ(s, write_bytes);
	d->cancelled_write_bytes = BPF_CORE_READ(s, cancelled_write_bytes);
}

static __always_inline __u64 mm_counter(struct mm_struct *mm, int member)
{
	__s64 v = BPF_CORE_READ(mm, rss_stat[member].count);

	return v > 0 ? (__u64)v : 0;
}

/* Per-CPU scratch: the record is too big for the 512-byte BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dn_task_rec);
} scratch SEC(".maps");

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
	tgid = BPF_CORE_READ(t, tgid);
	if (!wanted(t, tgid))
		return 0;
	r = bpf_map_lookup_elem(&scratch, &zero);
	if (!r)
		return 0;
	__builtin_memset(r, 0, sizeof *r);
	r->pid = BPF_CORE_READ(t, pid);
	r->tgid = tgid;
	r->state = BPF_CORE_READ(t, __state) | BPF_CORE_READ(t, exit_state);
	r->sum_exec_runtime = BPF_CORE_READ(t, se.sum_exec_runtime);
	r->min_flt = BPF_CORE_READ(t, min_flt);
	r->maj_flt = BPF_CORE_READ(t, maj_flt);
	if (bpf_core_field_exists(t->ioac))
		read_io(&r->io, &t->ioac);
	else
		r->flags |= DN_TASK_NO_IOACCT;
	if (BPF_CORE_READ(t, flags) & PF_KTHREAD)
		r->flags |= DN_TASK_KTHREAD;
	if (r->pid == tgid) {
		r->flags |= DN_TASK_LEADER;
		r->ppid = BPF_CORE_READ(t, real_parent, tgid);
		r->processor = BPF_CORE_READ(t, thread_info.cpu);
		r->start_boottime = BPF_CORE_READ(t, start_boottime);
		BPF_CORE_READ_STR_INTO(&r->comm, t, comm);
		mm = BPF_CORE_READ(t, mm);
		if (mm) {
			r->flags |= DN_TASK_HAS_MM;
			r->total_vm = BPF_CORE_READ(mm, total_vm);
			r->rss = mm_counter(mm, MM_FILEPAGES) + mm_counter(mm, MM_ANONPAGES) +
				 mm_counter(mm, MM_SHMEMPAGES);
		}
		sig = BPF_CORE_READ(t, signal);
		if (sig) {
			r->nr_threads = BPF_CORE_READ(sig, nr_threads);
			r->sig_sum_sched_runtime = BPF_CORE_READ(sig, sum_sched_runtime);
			r->sig_min_flt = BPF_CORE_READ(sig, min_flt);
			r->sig_maj_flt = BPF_CORE_READ(sig, maj_flt);
			r->sig_cmin_flt = BPF_CORE_READ(sig, cmin_flt);
			r->sig_cmaj_flt = BPF_CORE_READ(sig, cmaj_flt);
			r->sig_cutime = BPF_CORE_READ(sig, cutime);
			r->sig_cstime = BPF_CORE_READ(sig, cstime);
			if (bpf_core_field_exists(sig->ioac))
				read_io(&r->sig_io, &sig->ioac);
		}
	}
	bpf_seq_write(ctx->meta->seq, r, sizeof *r);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
