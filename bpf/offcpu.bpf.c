// SPDX-License-Identifier: GPL-2.0
/*
 * offcpu.bpf.c — off-CPU time of a tracked process tree, aggregated in the
 * kernel per (tgid, tid, user stack, kernel stack, state, recovered frame).
 *
 * At switch-out of a tracked task (prev = current) that goes to sleep (S) or
 * uninterruptible wait (D), the stacks are taken and kept per tid in
 * `start`; when that task is switched in again the interval is added to
 * `agg`. Preemptions (still runnable) are not off-CPU waits and are skipped.
 *
 * Leaf recovery: glibc has no frame pointers, so the frame-pointer walk of a
 * thread blocked in libc misses libc's caller. User space gives, per leaf
 * ip, the offset of the return address from the user sp (from the leaf's
 * .eh_frame CFI) in `leaf_cfa`; the return address read there is part of
 * the key. Unknown leaves go to `leaf_unknown` for user space to resolve,
 * and their first sample carries a copy of the top of the user stack.
 *
 * The tgid set is filled by user space and followed here through fork,
 * exec and exit, so children count from their first switch.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "offcpu.h"

#define PF_KTHREAD	     0x00200000
#define TASK_INTERRUPTIBLE   0x1
#define TASK_UNINTERRUPTIBLE 0x2
#define USER_TOP	     0x00007fffffffffffULL

const volatile __u64 min_ns = 1;
const volatile __u64 max_ns = ~0ULL;
const volatile bool kernel_stacks = true;
const volatile bool user_stacks = true;
const volatile bool recover_leaf = true;
/* the program and bpf_trace_run4 (measured on 6.18, raw_tp and tp_btf) */
const volatile __u32 kstack_skip = 2;

__u32 gen;	  /* written by user space to switch buffers */
__u64 aspace_seq; /* address-space ids handed out in the kernel */
struct dn_offcpu_counters counters;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DN_OFFCPU_MAX_TGIDS);
	__type(key, __u32);   /* tgid */
	__type(value, __u64); /* address-space id */
} tgids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DN_OFFCPU_MAX_THREADS);
	__type(key, __u32); /* tid */
	__type(value, struct dn_offcpu_start);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DN_OFFCPU_MAX_AGG);
	__type(key, struct dn_offcpu_key);
	__type(value, struct dn_offcpu_val);
} agg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, DN_OFFCPU_MAX_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, DN_OFFCPU_MAX_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DN_OFFCPU_MAX_LEAVES);
	__type(key, struct dn_offcpu_leaf_key);
	__type(value, __s32); /* return address at sp + value; <0: none */
} leaf_cfa SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DN_OFFCPU_MAX_UNKNOWN);
	__type(key, struct dn_offcpu_leaf_key);
	__type(value, struct dn_offcpu_leaf_who);
} leaf_unknown SEC(".maps");

/* Scratch for building a new aggregate value (too big for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dn_offcpu_val);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dn_offcpu_start);
} scratch_start SEC(".maps");

static __always_inline void count(__u64 *c)
{
	__sync_fetch_and_add(c, 1);
}

static __always_inline void switch_out(void *ctx, struct task_struct *prev, unsigned int prev_state)
{
	struct dn_offcpu_leaf_key lk;
	struct dn_offcpu_start *s;
	struct pt_regs *regs;
	__u32 tid, tgid, zero = 0;
	__u64 *aspace;
	__s32 *off;
	char state;

	if (prev_state & TASK_UNINTERRUPTIBLE)
		state = 'D';
	else if (prev_state & TASK_INTERRUPTIBLE)
		state = 'S';
	else
		return; /* runnable (preempted), dead, stopped... */
	tgid = BPF_CORE_READ(prev, tgid);
	aspace = bpf_map_lookup_elem(&tgids, &tgid);
	if (!aspace)
		return;
	tid = BPF_CORE_READ(prev, pid);
	count(&counters.switches_out);

	s = bpf_map_lookup_elem(&start, &tid);
	if (!s) {
		struct dn_offcpu_start *z = bpf_map_lookup_elem(&scratch_start, &zero);

		if (!z)
			return;
		z->ts = 0;
		z->has_snap = 0;
		if (bpf_map_update_elem(&start, &tid, z, BPF_NOEXIST) &&
		    bpf_map_lookup_elem(&start, &tid) == NULL) {
			count(&counters.start_full);
			return;
		}
		s = bpf_map_lookup_elem(&start, &tid);
		if (!s)
			return;
	}
	s->key.tgid = tgid;
	s->key.tid = tid;
	s->key.state = state;
	s->key.recovered_ret = 0;
	s->key.user_stack_id = -1;
	s->key.kern_stack_id = -1;
	s->has_snap = 0;
	s->aspace = *aspace;
	if (user_stacks && !(BPF_CORE_READ(prev, flags) & PF_KTHREAD)) {
		s->key.user_stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
		if (s->key.user_stack_id < 0)
			count(&counters.ustack_err);
		/* prev is current here: its saved user registers */
		regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
		s->ip = BPF_CORE_READ(regs, ip);
		s->sp = BPF_CORE_READ(regs, sp);
		s->bp = BPF_CORE_READ(regs, bp);
		if (recover_leaf && s->ip && s->ip <= USER_TOP) {
			lk.aspace = *aspace;
			lk.ip = s->ip;
			off = bpf_map_lookup_elem(&leaf_cfa, &lk);
			if (off) {
				__s32 o = *off;
				__u64 at = s->sp + (__u64)o, ret = 0;

				/* at == bp + 8: the frame-pointer walk has it */
				if (o >= 0 && o < 65536 && at != s->bp + 8 &&
				    bpf_probe_read_user(&ret, sizeof(ret), (void *)at) == 0 &&
				    ret && ret <= USER_TOP) {
					s->key.recovered_ret = ret;
					count(&counters.recovered);
				}
			} else {
				struct dn_offcpu_leaf_who who = {.tgid = tgid};

				count(&counters.unknown_leaf);
				bpf_map_update_elem(&leaf_unknown, &lk, &who, BPF_NOEXIST);
				if (bpf_probe_read_user(s->snap, sizeof(s->snap), (void *)s->sp) ==
				    0)
					s->has_snap = 1;
			}
		}
	}
	if (kernel_stacks) {
		s->key.kern_stack_id =
			bpf_get_stackid(ctx, &stacks, kstack_skip & BPF_F_SKIP_FIELD_MASK);
		if (s->key.kern_stack_id < 0)
			count(&counters.kstack_err);
	}
	s->ts = bpf_ktime_get_ns();
}

static __always_inline void switch_in(struct task_struct *next)
{
	struct dn_offcpu_start *s;
	struct dn_offcpu_val *v;
	__u32 tid = BPF_CORE_READ(next, pid), zero = 0;
	__u64 ts, delta;

	s = bpf_map_lookup_elem(&start, &tid);
	if (!s || !s->ts)
		return;
	ts = bpf_ktime_get_ns();
	delta = ts - s->ts;
	s->ts = 0;
	if ((__s64)delta < 0 || delta < min_ns || delta > max_ns)
		return;
	s->key.gen = gen;
	v = bpf_map_lookup_elem(&agg, &s->key);
	if (!v) {
		struct dn_offcpu_val *n = bpf_map_lookup_elem(&scratch, &zero);

		if (!n)
			return;
		n->total_ns = 0;
		n->count = 0;
		n->max_ns = 0;
		BPF_CORE_READ_STR_INTO(&n->comm, next, comm);
		n->snap_sp = 0;
		if (s->has_snap) {
			n->snap_aspace = s->aspace;
			n->snap_ip = s->ip;
			n->snap_sp = s->sp;
			n->snap_bp = s->bp;
			__builtin_memcpy(n->snap, s->snap, sizeof(n->snap));
		}
		/* NOEXIST: another CPU may have created it meanwhile */
		bpf_map_update_elem(&agg, &s->key, n, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&agg, &s->key);
		if (!v) {
			count(&counters.agg_full);
			return;
		}
	}
	__sync_fetch_and_add(&v->total_ns, delta);
	__sync_fetch_and_add(&v->count, 1);
	if (delta > v->max_ns)
		v->max_ns = delta; /* racy max: good enough for a statistic */
	count(&counters.recorded);
}

static __always_inline int on_switch(void *ctx, bool preempt, struct task_struct *prev,
				     struct task_struct *next, unsigned int prev_state)
{
	if (!preempt)
		switch_out(ctx, prev, prev_state);
	switch_in(next);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(dn_switch_btf, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	return on_switch(ctx, preempt, prev, next, prev_state);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(dn_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	return on_switch(ctx, preempt, prev, next, prev_state);
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(dn_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid = BPF_CORE_READ(child, tgid);
	__u64 *aspace;

	if (ptgid == ctgid)
		return 0; /* a thread: covered by its tgid */
	aspace = bpf_map_lookup_elem(&tgids, &ptgid);
	if (!aspace)
		return 0;
	/* fork copies the address space: same code at the same addresses
	 * until exec, so the child shares the parent's leaf rules */
	bpf_map_update_elem(&tgids, &ctgid, aspace, BPF_ANY);
	return 0;
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(dn_exec, struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	__u64 *aspace = bpf_map_lookup_elem(&tgids, &tgid);

	if (aspace)
		*aspace = __sync_fetch_and_add(&aspace_seq, 1) + 1;
	return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(dn_exit, struct task_struct *p)
{
	__u32 tid = BPF_CORE_READ(p, pid), tgid = BPF_CORE_READ(p, tgid);

	bpf_map_delete_elem(&start, &tid);
	/* signal->live was decremented before the tracepoint: 0 = last thread */
	if (BPF_CORE_READ(p, signal, live.counter) == 0)
		bpf_map_delete_elem(&tgids, &tgid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
