/*
 * offcpu.h — types shared by bpf/offcpu.bpf.c (kernel side) and
 * engine/profiler/offcpu.c (loader). Only fixed-width types: the same layout is
 * compiled by clang -target bpf and by the host compiler.
 */
#ifndef DENET_BPF_OFFCPU_H
#define DENET_BPF_OFFCPU_H

#define DN_OFFCPU_MAX_DEPTH   127 /* frames per stack (perf_event_max_stack) */
#define DN_OFFCPU_SNAP_BYTES  512 /* user stack bytes copied for unknown frames */
#define DN_OFFCPU_MAX_TGIDS   16384
#define DN_TRACKED_WORDS      (1 << 16) /* tracked_bits: 2^22 tgids (PID_MAX_LIMIT) */
#define DN_OFFCPU_MAX_THREADS 32768
#define DN_OFFCPU_MAX_AGG     16384
#define DN_OFFCPU_MAX_STACKS  16384
#define DN_OFFCPU_MAX_LEAVES  65536
#define DN_OFFCPU_MAX_UNKNOWN 1024
#define DN_OFFCPU_MAX_SNAPS   1024
#define DN_OFFCPU_MAX_RECOVER 4		    /* frames unwound with CFI in the kernel */
#define DN_OFFCPU_STACK_SPAN  (16ULL << 20) /* FP walk: bp within sp + 16 MiB */
#define DN_OFFCPU_EVENTS_SIZE (64 * 1024)   /* ring buffer of exec/fork events */

/* leaf_cfa .ra meaning "no stack-pointer based rule here: do not recover"
 * (the frame keeps a frame pointer, or its CFI is unknown/unusable). */
#define DN_OFFCPU_NO_RECOVERY (-1)
/* leaf_cfa .bp meaning "rbp keeps the caller's value in this frame". */
#define DN_OFFCPU_BP_SAME (-0x7fffffff - 1)

/* Bit 63 of a dn_offcpu_leaf_key ip: the address is a return address (the
 * rule is the CFI at ip - 1, the call), not an interrupted instruction. */
#define DN_OFFCPU_RET_BIT (1ULL << 63)
/* Bit 63 of a stack key: the drain generation the stack was stored in. */
#define DN_OFFCPU_GEN_BIT (1ULL << 63)

/* Events of the `events` ring buffer (kind). */
#define DN_OFFCPU_EV_EXEC    1 /* a tracked tgid called exec */
#define DN_OFFCPU_EV_FORK    2 /* a tracked tgid forked a new tgid (tgid = child) */
#define DN_OFFCPU_EV_BLOCKED 3 /* first off-CPU wait of an image (libraries mapped) */
#define DN_OFFCPU_EV_LEAF    4 /* internal: a frame without rule met */

struct dn_offcpu_event {
	__u32 tgid;
	__u32 kind;
};

/* Aggregation key. `gen` is the drain generation (double buffering: the
 * kernel writes gen = bss.gen, user space drains the other one). Stacks are
 * keys of the `stacks` map (content hash | generation bit), 0: none. */
struct dn_offcpu_key {
	__u32 gen;
	__u32 tgid;
	__u32 tid;
	__u32 state; /* 'S' or 'D' */
	__u64 ustack;
	__u64 kstack;
};

struct dn_offcpu_val {
	__u64 total_ns;
	__u64 count;
	__u64 max_ns;
	char comm[16];
};

/* A stored stack: innermost first. User stacks: ips[0] is the interrupted
 * user ip, then `nrec` return addresses recovered with CFI, then the frame
 * pointer walk. */
struct dn_offcpu_frames {
	__u32 n;
	__u32 nrec;
	__u64 ips[DN_OFFCPU_MAX_DEPTH];
};

/* Key of leaf_cfa / leaf_unknown: an address space (a tgid's image between
 * execs; forked children inherit it) and a user instruction pointer
 * (| DN_OFFCPU_RET_BIT for a return address). */
struct dn_offcpu_leaf_key {
	__u64 aspace;
	__u64 ip;
};

/* Value of leaf_cfa: the unwind rule of one frame, offsets from its sp:
 * CFA = sp + cfa, return address at sp + ra, caller's rbp at sp + bp
 * (DN_OFFCPU_BP_SAME: unchanged). ra = DN_OFFCPU_NO_RECOVERY: stop. */
struct dn_offcpu_rule {
	__s32 cfa;
	__s32 ra;
	__s32 bp;
	__s32 pad;
};

/* Value of leaf_unknown: who to ask /proc about, and the stack key whose
 * snapshot (if any) starts at that frame. */
struct dn_offcpu_leaf_who {
	__u32 tgid;
	__u32 pad;
	__u64 ustack;
};

/* Value of snaps (key: the user stack key): registers of frame `depth`
 * (the first frame without a rule) and the user stack above its sp, so
 * user space can unwind what the kernel could not yet. */
struct dn_offcpu_snap {
	__u64 aspace;
	__u64 ip; /* | DN_OFFCPU_RET_BIT when depth > 0 */
	__u64 sp;
	__u64 bp;
	__u32 tgid;
	__u32 depth; /* index in the stack of the frame at ip */
	__u32 len;   /* bytes valid in data */
	__u32 pad;
	__u8 data[DN_OFFCPU_SNAP_BYTES];
};

/* Per-thread state between switch-out and switch-in (kernel only). */
struct dn_offcpu_start {
	__u64 ts; /* 0: not off-CPU (entry kept for reuse) */
	struct dn_offcpu_key key;
};

/* Counters in .bss (user space reads them through the skeleton). */
struct dn_offcpu_counters {
	__u64 switches_out; /* tracked switch-outs (S or D) */
	__u64 recorded;	    /* intervals added to the aggregate */
	__u64 recovered;    /* switch-outs with a recovered return address */
	__u64 unknown_leaf; /* switch-outs whose leaf had no rule yet */
	__u64 ustack_err;   /* user stack not stored (stack map full) */
	__u64 kstack_err;
	__u64 agg_full; /* aggregate map full: interval dropped */
	__u64 start_full;
	__u64 events_lost; /* ring buffer full */
	__u64 fp_cut;	   /* FP walks cut at an implausible frame */
	__u64 rec_frames;  /* frames recovered with CFI in the kernel */
};

#endif
