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
 * User stacks: glibc has no frame pointers, so a frame-pointer walk of a
 * thread blocked in libc misses libc's caller (and the libc frames). User
 * space gives, per frame ip, the offsets from sp of the CFA, the return
 * address and the saved rbp (from the frame's .eh_frame CFI) in `leaf_cfa`;
 * up to DN_OFFCPU_MAX_RECOVER frames are unwound with them here (restoring
 * rbp, which glibc uses as a general register), then the frame-pointer
 * chain follows, cut at the first frame outside the stack or not strictly
 * upwards. Frames without a rule go to `leaf_unknown` (and an internal
 * ring-buffer event) for user space to resolve, with a copy of the user
 * stack above them in `snaps`. More sp-based frames than that (a binary
 * without frame pointers): no frame-pointer walk at all.
 *
 * Stacks are stored by content hash in `stacks` (see there); `events`
 * carries exec/fork/first-wait notifications of tracked tgids.
 *
 * The tgid set is filled by user space and followed here through fork,
 * exec and exit, so children count from their first switch.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "offcpu.h"

/* The architecture's facts on this side: bpf_tracing.h's PT_REGS_*_CORE
 * pick the registers by -D__TARGET_ARCH_<arch> (bpf.mk); the user address
 * limit is ours. User space keeps its own in engine/profiler/arch.h. */
#if defined(__TARGET_ARCH_x86)
#define USER_TOP 0x00007fffffffffffULL /* highest user address, 4-level paging */
#else
#error "offcpu.bpf.c supports __TARGET_ARCH_x86 only (see engine/profiler/arch.h)"
#endif

#define PF_KTHREAD	     0x00200000
#define TASK_INTERRUPTIBLE   0x1
#define TASK_UNINTERRUPTIBLE 0x2

const volatile __u64 min_ns = 1;
const volatile __u64 max_ns = ~0ULL;
const volatile bool kernel_stacks = true;
const volatile bool user_stacks = true;
const volatile bool recover_leaf = true;
/* the program and bpf_trace_run4 (measured on 6.18, raw_tp and tp_btf) */
const volatile __u32 kstack_skip = 2;

/* The tracked set's membership, one bit per tgid up to PID_MAX_LIMIT
 * (2^22): the filter every program tests first, with no hash lookup, so a
 * task outside the set pays a load and a test. `tgids` below holds each
 * member's address-space id; both change together, here (fork, exit) and
 * in user space (dn_offcpu_track, dn_offcpu_sweep), which sets bits
 * through the mmap'ed .bss. */
__u64 tracked_bits[DN_TRACKED_WORDS];

static __always_inline __u64 *tracked_word(__u32 tgid)
{
	return &tracked_bits[(tgid >> 6) & (DN_TRACKED_WORDS - 1)];
}

static __always_inline bool is_tracked(__u32 tgid)
{
	return *tracked_word(tgid) & (1ULL << (tgid & 63));
}

__u32 gen;	  /* written by user space to switch buffers */
__u64 aspace_seq; /* address-space ids handed out in the kernel */
struct dn_offcpu_counters counters;

/* Bit 63 of a tgids value: the image's first off-CPU wait was announced. */
#define ANNOUNCED (1ULL << 63)

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DN_OFFCPU_MAX_TGIDS);
	__type(key, __u32);   /* tgid */
	__type(value, __u64); /* address-space id | ANNOUNCED */
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

/* User and kernel stacks by content hash | generation bit. Not a
 * STACK_TRACE map: its bucket = id scheme fails new stacks with EEXIST as
 * soon as two hash to one bucket, and a deleted bucket can be reused by
 * another stack under a live id. User space deletes the old generation's
 * unreferenced stacks after each drain. Preallocated: an allocating map
 * fails inserts in bursts (its per-CPU caches refill asynchronously). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DN_OFFCPU_MAX_STACKS);
	__type(key, __u64);
	__type(value, struct dn_offcpu_frames);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DN_OFFCPU_MAX_LEAVES);
	__type(key, struct dn_offcpu_leaf_key);
	__type(value, struct dn_offcpu_rule);
} leaf_cfa SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DN_OFFCPU_MAX_UNKNOWN);
	__type(key, struct dn_offcpu_leaf_key);
	__type(value, struct dn_offcpu_leaf_who);
} leaf_unknown SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DN_OFFCPU_MAX_SNAPS);
	__type(key, __u64); /* user stack key */
	__type(value, struct dn_offcpu_snap);
} snaps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, DN_OFFCPU_EVENTS_SIZE);
} events SEC(".maps");

/* Scratch (too big for the BPF stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dn_offcpu_frames);
} frame_buf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dn_offcpu_snap);
} snap_buf SEC(".maps");

static __always_inline void count(__u64 *c)
{
	__sync_fetch_and_add(c, 1);
}

static __always_inline void emit(__u32 tgid, __u32 kind)
{
	struct dn_offcpu_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count(&counters.events_lost);
		return;
	}
	e->tgid = tgid;
	e->kind = kind;
	bpf_ringbuf_submit(e, 0);
}

/* Stores f (f->n frames) once; returns its key, 0 when the map is full. */
static __always_inline __u64 store_stack(struct dn_offcpu_frames *f, __u32 g)
{
	__u64 h = 0xcbf29ce484222325ULL ^ f->n ^ ((__u64)f->nrec << 8), key;
	__u32 i, n = f->n;

	for (i = 0; i < DN_OFFCPU_MAX_DEPTH; i++) {
		if (i >= n)
			break;
		h = (h ^ f->ips[i]) * 0x100000001b3ULL;
		h ^= h >> 29;
	}
	key = (h & ~DN_OFFCPU_GEN_BIT) | (g & 1 ? DN_OFFCPU_GEN_BIT : 0);
	if (!key)
		key = 1;
	if (bpf_map_lookup_elem(&stacks, &key))
		return key;
	if (bpf_map_update_elem(&stacks, &key, f, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&stacks, &key))
		return 0;
	return key;
}

/* the syscall tracker: filtered by `tgids` above */
#include "syscalls.bpf.h"

struct fp_frame {
	__u64 next, ret;
};

/* The user stack of current: the interrupted ip, up to MAX_RECOVER frames
 * unwound with the CFI rules user space put in leaf_cfa (they also restore
 * rbp, which glibc uses as a general register), then the frame-pointer
 * chain, cut at the first implausible frame. */
static __always_inline __u64 user_stack(__u64 aspace, __u32 tgid, __u32 g)
{
	struct dn_offcpu_leaf_key lk = {.aspace = aspace};
	__u64 ip, sp, bp, sp0, ret, key, usp = 0, ubp = 0, uip = 0;
	struct dn_offcpu_frames *f;
	struct dn_offcpu_rule *r;
	struct pt_regs *regs;
	__u32 zero = 0, n, i, udepth = 0;
	bool tail = true, unknown = false;

	f = bpf_map_lookup_elem(&frame_buf, &zero);
	if (!f)
		return 0;
	/* prev is current here: its saved user registers */
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	ip = PT_REGS_IP_CORE(regs);
	sp = PT_REGS_SP_CORE(regs);
	bp = PT_REGS_FP_CORE(regs);
	if (!ip || ip > USER_TOP)
		return 0;
	sp0 = sp;
	f->ips[0] = ip;
	f->nrec = 0;
	n = 1;
	lk.ip = ip;
	if (recover_leaf) {
		for (i = 0; i <= DN_OFFCPU_MAX_RECOVER; i++) {
			__s32 ra, cfa, bo;

			r = bpf_map_lookup_elem(&leaf_cfa, &lk);
			if (!r) {
				unknown = true;
				uip = lk.ip;
				usp = sp;
				ubp = bp;
				udepth = n - 1;
				break;
			}
			ra = r->ra;
			cfa = r->cfa;
			bo = r->bp;
			if (ra < 0)
				break; /* frame pointer frame: the FP walk goes on */
			if (i == DN_OFFCPU_MAX_RECOVER) {
				/* more frames without frame pointer: rbp is
				 * not a frame pointer, its chain is garbage */
				tail = false;
				break;
			}
			if (ra > 65535 || cfa <= ra || cfa > 65536)
				break;
			if (sp + (__u64)ra == bp + 8)
				break; /* the FP walk has it */
			if (bpf_probe_read_user(&ret, sizeof(ret), (void *)(sp + (__u64)ra)) ||
			    !ret || ret > USER_TOP) {
				tail = false;
				break;
			}
			if (bo != DN_OFFCPU_BP_SAME &&
			    (bo < 0 || bo > 65535 ||
			     bpf_probe_read_user(&bp, sizeof(bp), (void *)(sp + (__u64)bo)))) {
				tail = false;
				break;
			}
			sp += (__u64)cfa;
			f->ips[n & 7] = ret; /* n <= MAX_RECOVER here */
			n++;
			lk.ip = ret | DN_OFFCPU_RET_BIT;
		}
		f->nrec = n - 1;
		if (n > 1) {
			count(&counters.recovered);
			__sync_fetch_and_add(&counters.rec_frames, n - 1);
		}
	}
	if (tail) {
		/* frame-pointer chain, strictly upwards within the stack */
		for (i = 0; i < DN_OFFCPU_MAX_DEPTH; i++) {
			struct fp_frame fr;

			if (n >= DN_OFFCPU_MAX_DEPTH)
				break;
			if (bp < sp || bp >= sp0 + DN_OFFCPU_STACK_SPAN || (bp & 7)) {
				if (bp)
					count(&counters.fp_cut);
				break;
			}
			if (bpf_probe_read_user(&fr, sizeof(fr), (void *)bp))
				break;
			if (fr.ret < 4096 || fr.ret > USER_TOP) {
				count(&counters.fp_cut);
				break;
			}
			f->ips[n & 127] = fr.ret;
			n++;
			sp = bp + 16;
			bp = fr.next;
		}
	}
	f->n = n;
	key = store_stack(f, g);
	if (!key) {
		count(&counters.ustack_err);
		return 0;
	}
	if (unknown) {
		struct dn_offcpu_leaf_who who = {.tgid = tgid, .ustack = key};
		struct dn_offcpu_snap *sn;

		count(&counters.unknown_leaf);
		lk.ip = uip;
		if (bpf_map_update_elem(&leaf_unknown, &lk, &who, BPF_NOEXIST) == 0)
			emit(tgid, DN_OFFCPU_EV_LEAF);
		if (!bpf_map_lookup_elem(&snaps, &key) &&
		    (sn = bpf_map_lookup_elem(&snap_buf, &zero)) != NULL) {
			sn->aspace = aspace;
			sn->ip = uip;
			sn->sp = usp;
			sn->bp = ubp;
			sn->tgid = tgid;
			sn->depth = udepth;
			sn->len = DN_OFFCPU_SNAP_BYTES;
			if (bpf_probe_read_user(sn->data, DN_OFFCPU_SNAP_BYTES, (void *)usp)) {
				sn->len = DN_OFFCPU_SNAP_BYTES / 4;
				if (bpf_probe_read_user(sn->data, DN_OFFCPU_SNAP_BYTES / 4,
							(void *)usp))
					sn->len = 0;
			}
			if (sn->len)
				bpf_map_update_elem(&snaps, &key, sn, BPF_NOEXIST);
		}
	}
	return key;
}

static __always_inline __u64 kernel_stack(void *ctx, __u32 g)
{
	struct dn_offcpu_frames *f;
	__u32 zero = 0;
	long r;

	f = bpf_map_lookup_elem(&frame_buf, &zero);
	if (!f)
		return 0;
	r = bpf_get_stack(ctx, f->ips, sizeof(f->ips), kstack_skip & BPF_F_SKIP_FIELD_MASK);
	if (r <= 0)
		return 0;
	f->n = (__u32)(r / 8);
	f->nrec = 0;
	return store_stack(f, g);
}

static __always_inline void switch_out(void *ctx, struct task_struct *prev, unsigned int prev_state)
{
	struct dn_offcpu_start *s;
	__u32 tid, tgid, g;
	__u64 *aspace, as;
	char state;

	if (prev_state & TASK_UNINTERRUPTIBLE)
		state = 'D';
	else if (prev_state & TASK_INTERRUPTIBLE)
		state = 'S';
	else
		return; /* runnable (preempted), dead, stopped... */
	tgid = BPF_CORE_READ(prev, tgid);
	if (!is_tracked(tgid))
		return;
	aspace = bpf_map_lookup_elem(&tgids, &tgid);
	if (!aspace)
		return;
	tid = BPF_CORE_READ(prev, pid);
	count(&counters.switches_out);
	as = *aspace;
	if (!(as & ANNOUNCED)) {
		/* racy between threads: at worst two events */
		*aspace = as | ANNOUNCED;
		emit(tgid, DN_OFFCPU_EV_BLOCKED);
	}
	as &= ~ANNOUNCED;

	s = bpf_map_lookup_elem(&start, &tid);
	if (!s) {
		struct dn_offcpu_start z = {};

		if (bpf_map_update_elem(&start, &tid, &z, BPF_NOEXIST) &&
		    bpf_map_lookup_elem(&start, &tid) == NULL) {
			count(&counters.start_full);
			return;
		}
		s = bpf_map_lookup_elem(&start, &tid);
		if (!s)
			return;
	}
	g = gen;
	s->key.tgid = tgid;
	s->key.tid = tid;
	s->key.state = state;
	s->key.ustack = 0;
	s->key.kstack = 0;
	if (user_stacks && !(BPF_CORE_READ(prev, flags) & PF_KTHREAD))
		s->key.ustack = user_stack(as, tgid, g);
	if (kernel_stacks) {
		s->key.kstack = kernel_stack(ctx, g);
		if (!s->key.kstack)
			count(&counters.kstack_err);
	}
	s->ts = bpf_ktime_get_ns();
}

static __always_inline void switch_in(struct task_struct *next)
{
	struct dn_offcpu_start *s;
	struct dn_offcpu_val *v;
	__u32 tid = BPF_CORE_READ(next, pid);
	__u64 ts, delta;

	/* an untracked task pays no lookup; one whose process left the set
	 * while it was off the CPU loses that interval (it exited) */
	if (!is_tracked(BPF_CORE_READ(next, tgid)))
		return;
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
		struct dn_offcpu_val n = {};

		BPF_CORE_READ_STR_INTO(&n.comm, next, comm);
		/* NOEXIST: another CPU may have created it meanwhile */
		bpf_map_update_elem(&agg, &s->key, &n, BPF_NOEXIST);
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

/*
 * A light skeleton loads every program of its object, so the build makes
 * two objects from this file: DN_OFFCPU_RAW_TP=0 with tp_btf (typed
 * arguments, checked by the verifier), =1 with raw_tp, the fallback for
 * kernels that refuse tp_btf. The program has one name in both, so the
 * loader sees the same skeleton layout.
 */
#ifndef DN_OFFCPU_RAW_TP
#define DN_OFFCPU_RAW_TP 0
#endif

#if DN_OFFCPU_RAW_TP
SEC("raw_tp/sched_switch")
#else
SEC("tp_btf/sched_switch")
#endif
int BPF_PROG(dn_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	return on_switch(ctx, preempt, prev, next, prev_state);
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(dn_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid = BPF_CORE_READ(child, tgid);
	__u64 *aspace, as;

	if (ptgid == ctgid)
		return 0; /* a thread: covered by its tgid */
	aspace = bpf_map_lookup_elem(&tgids, &ptgid);
	if (!aspace)
		return 0;
	/* fork copies the address space: same code at the same addresses
	 * until exec, so the child shares the parent's leaf rules */
	as = *aspace & ~ANNOUNCED; /* the child announces its own first wait */
	if (bpf_map_update_elem(&tgids, &ctgid, &as, BPF_ANY) == 0)
		__sync_fetch_and_or(tracked_word(ctgid), 1ULL << (ctgid & 63));
	emit(ctgid, DN_OFFCPU_EV_FORK);
	return 0;
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(dn_exec, struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	__u64 *aspace = bpf_map_lookup_elem(&tgids, &tgid);

	if (!aspace)
		return 0;
	/* a new image: new leaf rules, a new first wait to announce */
	*aspace = __sync_fetch_and_add(&aspace_seq, 1) + 1;
	emit(tgid, DN_OFFCPU_EV_EXEC);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(dn_exit, struct task_struct *p)
{
	__u32 tid = BPF_CORE_READ(p, pid), tgid = BPF_CORE_READ(p, tgid);

	bpf_map_delete_elem(&start, &tid);
	/* signal->live was decremented before the tracepoint: 0 = last thread */
	if (BPF_CORE_READ(p, signal, live.counter) == 0) {
		__sync_fetch_and_and(tracked_word(tgid), ~(1ULL << (tgid & 63)));
		bpf_map_delete_elem(&tgids, &tgid);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
