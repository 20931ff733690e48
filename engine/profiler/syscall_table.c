/*
 * syscall_table.c — the names and categories of this architecture's system
 * calls (syscall_table.h). The names are the kernel's own
 * ($(BUILD)/gen/syscall_names.h, generated from <asm/unistd.h> by
 * tools/gen-syscall-names.sh); the categories are the one reviewed table
 * below, keyed by name so that it reads the same on every architecture.
 * tests/unit/test_syscall_table.c includes this file to check that table
 * against the header: every name has exactly one category, none is stale.
 */
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "syscall_table.h"
#include "syscall_names.h"

static const char *const names[DN_SYSCALL_NAMES_MAX] = {DN_SYSCALL_NAMES};

static const char *const category_names[DN_SC_NCATEGORIES] = {
	[DN_SC_FILE_IO] = "file_io",   [DN_SC_MEMORY] = "memory", [DN_SC_PROCESS] = "process",
	[DN_SC_NETWORK] = "network",   [DN_SC_TIME] = "time",	  [DN_SC_IPC] = "ipc",
	[DN_SC_SECURITY] = "security", [DN_SC_SIGNAL] = "signal", [DN_SC_SYSTEM] = "system",
	[DN_SC_OTHER] = "other",
};

/*
 * The categories, one list each; a syscall is in exactly one. The rules
 * (docs/ebpf.md, "Syscall names and categories", says the same):
 *
 * file_io   anything on files, directories and the file system through
 *           paths or descriptors: read/write and their vector and
 *           positional forms, open/close/dup, stat, fcntl, ioctl, fsync,
 *           truncate, getdents, the path calls (mkdir, rename, link,
 *           chmod, chown, utimes, xattr), readiness on descriptors
 *           (poll, select, epoll), watches (inotify, fanotify), moving
 *           data between descriptors (splice, tee, sendfile,
 *           copy_file_range), asynchronous I/O (aio, io_uring), umask,
 *           statfs, sync.
 * memory    the address space: mmap/munmap/mremap/mprotect/brk/madvise,
 *           locking (mlock), NUMA policy and page migration, memory
 *           protection keys, memfd, userfaultfd, membarrier, and reading
 *           or writing another process's memory (process_vm_*).
 * process   a task's life and attributes: fork/clone/exec/exit/wait, ids
 *           (getpid, getppid, gettid, sessions, process groups),
 *           scheduling (sched_*, priorities, affinity, getcpu, rseq),
 *           limits and usage (rlimit, getrusage, times), prctl,
 *           arch_prctl and thread areas, personality, namespaces (setns,
 *           unshare), pidfd (except sending a signal), ptrace, kcmp.
 * network   sockets: socket/socketpair/bind/listen/connect/accept,
 *           send and recv in all forms, shutdown, socket names and options.
 * time      clocks, sleeps and timers: clock_*, gettimeofday, time,
 *           nanosleep, alarm, itimers, POSIX timers, timerfd, adjtimex.
 * ipc       between processes or threads through the kernel: futex (and
 *           its robust lists), System V msg/sem/shm, POSIX mq_*, pipe,
 *           eventfd.
 * security  credentials and confinement: uid/gid/groups, capabilities,
 *           seccomp, landlock, keys (add_key, request_key, keyctl), chroot.
 * signal    sending, waiting for, handling and blocking signals: kill,
 *           tkill, tgkill, pidfd_send_signal, rt_sig*, sigaltstack,
 *           signalfd, pause, restart_syscall.
 * system    the machine as a whole, usually for root: uname, sysinfo,
 *           syslog, reboot, hostname, mount and the new mount API, swap,
 *           quotas, modules, kexec, bpf, perf_event_open, getrandom,
 *           acct, I/O ports, sysfs, vhangup.
 * other     only what fits nowhere: the numbers the kernel reserves but
 *           never implemented (afs_syscall, getpmsg, putpmsg, security,
 *           tuxcall, vserver).
 */
/* packed by hand, alphabetically within each list */
/* clang-format off */
static const char *const file_io[] = {
	"access", "chdir", "chmod", "chown", "close", "close_range", "copy_file_range", "creat",
	"dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
	"epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "faccessat", "faccessat2",
	"fadvise64", "fallocate", "fanotify_init", "fanotify_mark", "fchdir", "fchmod", "fchmodat",
	"fchown", "fchownat", "fcntl", "fdatasync", "fgetxattr", "flistxattr", "flock",
	"fremovexattr", "fsetxattr", "fstat", "fstatfs", "fsync", "ftruncate", "futimesat",
	"getcwd", "getdents", "getdents64", "getxattr", "inotify_add_watch", "inotify_init",
	"inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy", "io_getevents",
	"io_pgetevents", "io_setup", "io_submit", "io_uring_enter", "io_uring_register",
	"io_uring_setup", "ioctl", "lchown", "lgetxattr", "link", "linkat", "listxattr",
	"llistxattr", "lremovexattr", "lseek", "lsetxattr", "lstat", "mkdir", "mkdirat", "mknod",
	"mknodat", "name_to_handle_at", "newfstatat", "open", "open_by_handle_at", "openat",
	"openat2", "poll", "ppoll", "pread64", "preadv", "preadv2", "pselect6", "pwrite64",
	"pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv",
	"removexattr", "rename", "renameat", "renameat2", "rmdir", "select", "sendfile",
	"setxattr", "splice", "stat", "statfs", "statx", "symlink", "symlinkat", "sync",
	"sync_file_range", "syncfs", "tee", "truncate", "umask", "unlink", "unlinkat", "ustat",
	"utime", "utimensat", "utimes", "vmsplice", "write", "writev", NULL};

static const char *const memory[] = {
	"brk", "get_mempolicy", "madvise", "mbind", "membarrier", "memfd_create", "memfd_secret",
	"migrate_pages", "mincore", "mlock", "mlock2", "mlockall", "mmap", "move_pages",
	"mprotect", "mremap", "msync", "munlock", "munlockall", "munmap", "pkey_alloc",
	"pkey_free", "pkey_mprotect", "process_madvise", "process_mrelease", "process_vm_readv",
	"process_vm_writev", "remap_file_pages", "set_mempolicy", "set_mempolicy_home_node",
	"userfaultfd", NULL};

static const char *const process[] = {
	"arch_prctl", "clone", "clone3", "execve", "execveat", "exit", "exit_group", "fork",
	"get_thread_area", "getcpu", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
	"getrlimit", "getrusage", "getsid", "gettid", "ioprio_get", "ioprio_set", "kcmp",
	"modify_ldt", "personality", "pidfd_getfd", "pidfd_open", "prctl", "prlimit64",
	"ptrace", "rseq", "sched_get_priority_max", "sched_get_priority_min", "sched_getaffinity",
	"sched_getattr", "sched_getparam", "sched_getscheduler", "sched_rr_get_interval",
	"sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler",
	"sched_yield", "set_thread_area", "set_tid_address", "setns", "setpgid", "setpriority",
	"setrlimit", "setsid", "times", "unshare", "uselib", "vfork", "wait4", "waitid", NULL};

static const char *const network[] = {
	"accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt",
	"listen", "recvfrom", "recvmmsg", "recvmsg", "sendmmsg", "sendmsg", "sendto",
	"setsockopt", "shutdown", "socket", "socketpair", NULL};

static const char *const time_[] = {
	"adjtimex", "alarm", "clock_adjtime", "clock_getres", "clock_gettime", "clock_nanosleep",
	"clock_settime", "getitimer", "gettimeofday", "nanosleep", "setitimer", "settimeofday",
	"time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
	"timer_settime", "timerfd_create", "timerfd_gettime", "timerfd_settime", NULL};

static const char *const ipc[] = {
	"eventfd", "eventfd2", "futex", "futex_waitv", "get_robust_list", "mq_getsetattr",
	"mq_notify", "mq_open", "mq_timedreceive", "mq_timedsend", "mq_unlink", "msgctl",
	"msgget", "msgrcv", "msgsnd", "pipe", "pipe2", "semctl", "semget", "semop", "semtimedop",
	"set_robust_list", "shmat", "shmctl", "shmdt", "shmget", NULL};

static const char *const security[] = {
	"add_key", "capget", "capset", "chroot", "getegid", "geteuid", "getgid", "getgroups",
	"getresgid", "getresuid", "getuid", "keyctl", "landlock_add_rule",
	"landlock_create_ruleset", "landlock_restrict_self", "request_key", "seccomp", "setfsgid",
	"setfsuid", "setgid", "setgroups", "setregid", "setresgid", "setresuid", "setreuid",
	"setuid", NULL};

static const char *const signal_[] = {
	"kill", "pause", "pidfd_send_signal", "restart_syscall", "rt_sigaction", "rt_sigpending",
	"rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
	"rt_tgsigqueueinfo", "sigaltstack", "signalfd", "signalfd4", "tgkill", "tkill", NULL};

static const char *const system_[] = {
	"_sysctl", "acct", "bpf", "create_module", "delete_module", "finit_module", "fsconfig",
	"fsmount", "fsopen", "fspick", "get_kernel_syms", "getrandom", "init_module", "ioperm",
	"iopl", "kexec_file_load", "kexec_load", "lookup_dcookie", "mount", "mount_setattr",
	"move_mount", "nfsservctl", "open_tree", "perf_event_open", "pivot_root", "query_module",
	"quotactl", "quotactl_fd", "reboot", "setdomainname", "sethostname", "swapoff", "swapon",
	"sysfs", "sysinfo", "syslog", "umount2", "uname", "vhangup", NULL};

static const char *const other[] = {
	"afs_syscall", "getpmsg", "putpmsg", "security", "tuxcall", "vserver", NULL};
/* clang-format on */

static const char *const *const categories[DN_SC_NCATEGORIES] = {
	[DN_SC_FILE_IO] = file_io,   [DN_SC_MEMORY] = memory,  [DN_SC_PROCESS] = process,
	[DN_SC_NETWORK] = network,   [DN_SC_TIME] = time_,     [DN_SC_IPC] = ipc,
	[DN_SC_SECURITY] = security, [DN_SC_SIGNAL] = signal_, [DN_SC_SYSTEM] = system_,
	[DN_SC_OTHER] = other,
};

/*
 * nr -> category + 1, 0 until first asked. Filled lazily by whichever
 * thread asks; threads that race compute the same value, and the atomics
 * make that race defined.
 */
static _Atomic unsigned char category_cache[DN_SYSCALL_NAMES_MAX];

int dn_syscall_nr_max(void)
{
	return DN_SYSCALL_NAMES_MAX;
}

const char *dn_syscall_name(int nr)
{
	if (nr < 0 || nr >= DN_SYSCALL_NAMES_MAX)
		return NULL;
	return names[nr];
}

const char *dn_syscall_name_or_nr(int nr, char *buf, size_t len)
{
	const char *name = dn_syscall_name(nr);

	if (name)
		return name;
	snprintf(buf, len, "syscall_%d", nr);
	return buf;
}

/* The category a name is listed under; DN_SC_OTHER for one not listed. */
static enum dn_syscall_category lookup_category(const char *name)
{
	for (int c = 0; c < DN_SC_NCATEGORIES; c++)
		for (const char *const *p = categories[c]; *p; p++)
			if (strcmp(*p, name) == 0)
				return (enum dn_syscall_category)c;
	return DN_SC_OTHER;
}

enum dn_syscall_category dn_syscall_category(int nr)
{
	const char *name = dn_syscall_name(nr);
	unsigned char v;

	if (!name)
		return DN_SC_OTHER;
	v = atomic_load_explicit(&category_cache[nr], memory_order_relaxed);
	if (v == 0) {
		v = (unsigned char)(lookup_category(name) + 1);
		atomic_store_explicit(&category_cache[nr], v, memory_order_relaxed);
	}
	return (enum dn_syscall_category)(v - 1);
}

const char *dn_syscall_category_name(enum dn_syscall_category c)
{
	if ((int)c < 0 || c >= DN_SC_NCATEGORIES)
		return NULL;
	return category_names[c];
}

int dn_syscall_by_name(const char *name)
{
	static const char prefix[] = "syscall_";
	const size_t plen = sizeof prefix - 1;

	if (!name)
		return -1;
	for (int nr = 0; nr < DN_SYSCALL_NAMES_MAX; nr++)
		if (names[nr] && strcmp(names[nr], name) == 0)
			return nr;
	if (strncmp(name, prefix, plen) == 0 && name[plen] != '\0') {
		long v = 0;

		for (const char *p = name + plen; *p; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			v = v * 10 + (*p - '0');
			if (v > INT_MAX)
				return -1;
		}
		return (int)v;
	}
	return -1;
}
