/*
 * syscalls.h — types shared by bpf/syscalls.bpf.h (the syscall tracker's
 * kernel side, compiled into offcpu.bpf.c's object) and
 * engine/profiler/systrace.c (its drain). Only fixed-width types: the same
 * layout is compiled by clang -target bpf and by the host compiler.
 */
#ifndef DENET_BPF_SYSCALLS_H
#define DENET_BPF_SYSCALLS_H

/* Latency buckets: bucket 0 holds 0 ns, bucket b >= 1 holds
 * [2^(b-1), 2^b) ns; the last one everything from 2^(HIST-2) ns (~275 s). */
#define DN_SYSCALL_HIST 40
/* (tgid, syscall) pairs: per-CPU values, so the loader may lower it on a
 * machine with many CPUs (engine/profiler/offcpu.c). */
#define DN_SYSCALL_MAX_KEYS 8192

struct dn_syscall_key {
	__u32 tgid;
	__u32 nr;
};

/* Per CPU; user space sums the CPUs. Cumulative since the key was made:
 * user space takes the window as the difference of two drains. The buckets
 * are 32-bit to halve the map (they wrap after 4G syscalls of one kind on
 * one CPU; the difference of two reads is taken modulo 2^32). */
struct dn_syscall_val {
	__u64 count;   /* entries (exit and exit_group: counted at entry) */
	__u64 errors;  /* returns in -4095..-1 */
	__u64 time_ns; /* entry to return */
	__u64 max_ns;
	__u32 hist[DN_SYSCALL_HIST];
};

/* Per thread (task storage) between sys_enter and sys_exit. */
struct dn_syscall_start {
	__u64 ts; /* 0: not inside a traced syscall */
	__u64 nr;
};

/* Counters in .bss (user space reads them through the skeleton). */
struct dn_syscall_counters {
	__u64 agg_full;	  /* syscalls not counted: the aggregate map was full */
	__u64 start_full; /* syscalls counted without their time: no task storage */
};

#endif
