// SPDX-License-Identifier: GPL-2.0
/*
 * syscalls.bpf.h — the syscall tracker's kernel side: count, time, errors
 * and a log2 latency histogram per (tgid, syscall nr) of the tracked tree.
 *
 * Compiled into offcpu.bpf.c's object (included there) so that it filters
 * by the same `tgids` set, which that object's fork/exec/exit programs keep
 * current: one set for both, not a copy. A process outside the set pays
 * one bit test at entry and one at return (`tracked_bits`), no lookup.
 *
 * Values are per CPU (no cache line shared between CPUs) and cumulative:
 * user space (engine/profiler/systrace.c) reads them without deleting and
 * takes each window as the difference of two reads, so no syscall is lost
 * to a race between a read and a reset. count and errors are added
 * atomically, so they stay exact even if the kernel preempts a program
 * mid-update (preempt=full); time, max and histogram are plain adds.
 */
#include "syscalls.h"

#if defined(__TARGET_ARCH_x86)
#define DN_NR_EXIT	 60
#define DN_NR_EXIT_GROUP 231
#endif

struct dn_syscall_counters sys_counters;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, DN_SYSCALL_MAX_KEYS);
	__type(key, struct dn_syscall_key);
	__type(value, struct dn_syscall_val);
} sys_agg SEC(".maps");

/* The thread's syscall in progress: task-local storage, found from the
 * task itself without hashing, freed by the kernel with the task. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct dn_syscall_start);
} sys_start SEC(".maps");

/* A zero value to insert from (too big for the BPF stack with the rest). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dn_syscall_val);
} sys_zero SEC(".maps");

static __always_inline struct dn_syscall_val *sys_val(__u32 tgid, __u32 nr)
{
	struct dn_syscall_key k = {.tgid = tgid, .nr = nr};
	struct dn_syscall_val *v, *zero;
	__u32 z = 0;

	v = bpf_map_lookup_elem(&sys_agg, &k);
	if (v)
		return v;
	zero = bpf_map_lookup_elem(&sys_zero, &z);
	if (!zero)
		return NULL;
	/* NOEXIST: another CPU may have made it meanwhile */
	bpf_map_update_elem(&sys_agg, &k, zero, BPF_NOEXIST);
	v = bpf_map_lookup_elem(&sys_agg, &k);
	if (!v)
		count(&sys_counters.agg_full);
	return v;
}

/* floor(log2(v)) for v > 0, without a loop (the verifier counts each). */
static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r, s;

	r = (v > 0xffffffffULL) << 5;
	v >>= r;
	s = (v > 0xffff) << 4;
	v >>= s;
	r |= s;
	s = (v > 0xff) << 3;
	v >>= s;
	r |= s;
	s = (v > 0xf) << 2;
	v >>= s;
	r |= s;
	s = (v > 0x3) << 1;
	v >>= s;
	r |= s;
	r |= (v >> 1);
	return r;
}

SEC("raw_tp/sys_enter")
int BPF_PROG(dn_sys_enter, struct pt_regs *regs, long id)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct dn_syscall_start *s;
	struct dn_syscall_val *v;

	if (!is_tracked(tgid) || id < 0)
		return 0;
	if (id == DN_NR_EXIT || id == DN_NR_EXIT_GROUP) {
		/* they never return: counted here, without a time */
		v = sys_val(tgid, (__u32)id);
		if (v)
			__sync_fetch_and_add(&v->count, 1);
		return 0;
	}
	s = bpf_task_storage_get(&sys_start, bpf_get_current_task_btf(), 0,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s) {
		/* no storage (out of memory, or a nested program held it):
		 * at least counted */
		count(&sys_counters.start_full);
		v = sys_val(tgid, (__u32)id);
		if (v)
			__sync_fetch_and_add(&v->count, 1);
		return 0;
	}
	s->nr = (__u64)id;
	s->ts = bpf_ktime_get_ns();
	return 0;
}

SEC("raw_tp/sys_exit")
int BPF_PROG(dn_sys_exit, struct pt_regs *regs, long ret)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, b;
	struct dn_syscall_start *s;
	struct dn_syscall_val *v;
	__u64 delta;

	if (!is_tracked(tgid))
		return 0;
	s = bpf_task_storage_get(&sys_start, bpf_get_current_task_btf(), 0, 0);
	if (!s || !s->ts)
		return 0;
	delta = bpf_ktime_get_ns() - s->ts;
	s->ts = 0;
	v = sys_val(tgid, (__u32)s->nr);
	if (!v)
		return 0;
	__sync_fetch_and_add(&v->count, 1);
	if (ret < 0 && ret >= -4095)
		__sync_fetch_and_add(&v->errors, 1);
	v->time_ns += delta;
	if (delta > v->max_ns)
		v->max_ns = delta;
	b = delta ? log2_u64(delta) + 1 : 0;
	if (b >= DN_SYSCALL_HIST)
		b = DN_SYSCALL_HIST - 1;
	v->hist[b] += 1;
	return 0;
}
