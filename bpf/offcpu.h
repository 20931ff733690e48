/*
 * offcpu.h — types shared by bpf/offcpu.bpf.c (kernel side) and
 * engine/offcpu.c (loader). Only fixed-width types: the same layout is
 * compiled by clang -target bpf and by the host compiler.
 */
#ifndef DENET_BPF_OFFCPU_H
#define DENET_BPF_OFFCPU_H

#define DN_OFFCPU_MAX_DEPTH   127 /* frames per stack (perf_event_max_stack) */
#define DN_OFFCPU_SNAP_BYTES  128 /* user stack bytes copied for unknown leaves */
#define DN_OFFCPU_MAX_TGIDS   16384
#define DN_OFFCPU_MAX_THREADS 32768
#define DN_OFFCPU_MAX_AGG     16384
#define DN_OFFCPU_MAX_STACKS  16384
#define DN_OFFCPU_MAX_LEAVES  65536
#define DN_OFFCPU_MAX_UNKNOWN 1024

/* leaf_cfa value meaning "no stack-pointer based rule here: do not recover"
 * (the leaf keeps a frame pointer, or its CFI is unknown/unusable). */
#define DN_OFFCPU_NO_RECOVERY (-1)

/* Aggregation key. `gen` is the drain generation (double buffering: the
 * kernel writes gen = bss.gen, user space drains the other one). */
struct dn_offcpu_key {
	__u32 gen;
	__u32 tgid;
	__u32 tid;
	__s32 user_stack_id; /* <0: none (error code from bpf_get_stackid) */
	__s32 kern_stack_id;
	__u32 state;	     /* 'S' or 'D' */
	__u64 recovered_ret; /* return address out of the leaf frame, 0: none */
};

struct dn_offcpu_val {
	__u64 total_ns;
	__u64 count;
	__u64 max_ns;
	char comm[16];
	/* First sample of a leaf the kernel could not recover yet: the user
	 * registers and the top of the user stack, so user space can recover
	 * the frame itself. snap_sp == 0: no snapshot. */
	__u64 snap_aspace;
	__u64 snap_ip;
	__u64 snap_sp;
	__u64 snap_bp;
	__u8 snap[DN_OFFCPU_SNAP_BYTES];
};

/* Key of leaf_cfa / leaf_unknown: an address space (a tgid's image between
 * execs; forked children inherit it) and a user instruction pointer. */
struct dn_offcpu_leaf_key {
	__u64 aspace;
	__u64 ip;
};

/* Value of leaf_unknown: who to ask /proc about. */
struct dn_offcpu_leaf_who {
	__u32 tgid;
	__u32 pad;
};

/* Per-thread state between switch-out and switch-in (kernel only, but the
 * loader sizes nothing from it). */
struct dn_offcpu_start {
	__u64 ts; /* 0: not off-CPU (entry kept for reuse) */
	struct dn_offcpu_key key;
	__u64 aspace;
	__u64 ip, sp, bp;
	__u32 has_snap;
	__u32 pad;
	__u8 snap[DN_OFFCPU_SNAP_BYTES];
};

/* Counters in .bss (user space reads them through the skeleton). */
struct dn_offcpu_counters {
	__u64 switches_out; /* tracked switch-outs (S or D) */
	__u64 recorded;	    /* intervals added to the aggregate */
	__u64 recovered;    /* switch-outs with a recovered return address */
	__u64 unknown_leaf; /* switch-outs whose leaf had no rule yet */
	__u64 ustack_err;   /* bpf_get_stackid failed (user) */
	__u64 kstack_err;
	__u64 agg_full; /* aggregate map full: interval dropped */
	__u64 start_full;
};

#endif
