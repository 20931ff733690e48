/*
 * procfs.h — parsers for the /proc files denet reads, and nothing else.
 *
 * Every parser takes a buffer and its length (not NUL-terminated
 * necessarily), so recorded fixtures test them exactly as live reads do.
 * They return 0, or -EINVAL when the text is not what the kernel writes.
 * They never allocate, print or touch the file system.
 */
#ifndef DENET_PROCFS_H
#define DENET_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DN_COMM_MAX 64 /* TASK_COMM_LEN is 16; kernel threads can show more */

/* /proc/PID/stat (man 5 proc). comm is between the first '(' and the LAST
 * ')': it may hold spaces, parentheses, newlines, anything but NUL. */
struct dn_stat {
	pid_t pid;
	char comm[DN_COMM_MAX]; /* raw bytes, NUL-terminated, truncated */
	char state;		/* R S D Z T t X I ... */
	pid_t ppid;
	uint64_t minflt, cminflt, majflt, cmajflt;
	uint64_t utime, stime;	/* clock ticks (sysconf(_SC_CLK_TCK)) */
	int64_t cutime, cstime; /* ticks of waited-for children */
	int64_t num_threads;
	uint64_t starttime; /* ticks after boot: with pid, the identity */
	uint64_t vsize;	    /* bytes */
	int64_t rss;	    /* pages */
	int processor;	    /* CPU last run on (field 39), -1 if absent */
};
int dn_proc_parse_stat(const char *buf, size_t len, struct dn_stat *out);

/* /proc/PID/statm: sizes in pages. */
struct dn_statm {
	uint64_t size, resident, shared, text, data;
};
int dn_proc_parse_statm(const char *buf, size_t len, struct dn_statm *out);

/* /proc/PID/io. Fields missing from the text stay 0. */
struct dn_io {
	uint64_t rchar, wchar, syscr, syscw;
	uint64_t read_bytes, write_bytes, cancelled_write_bytes;
};
int dn_proc_parse_io(const char *buf, size_t len, struct dn_io *out);

/* /proc/PID/status: the fields denet uses. Sizes in kB. Absent fields
 * (kernel threads have no Vm* lines) stay 0. Name is unescaped as the
 * kernel escapes it ("\n" -> newline, "\\" -> backslash). */
struct dn_status {
	char name[DN_COMM_MAX];
	char state;
	pid_t tgid, pid, ppid;
	uid_t uid; /* real uid */
	int64_t threads;
	uint64_t vm_peak_kb, vm_size_kb, vm_hwm_kb, vm_rss_kb, vm_swap_kb;
	uint64_t voluntary_ctxt_switches, nonvoluntary_ctxt_switches;
};
int dn_proc_parse_status(const char *buf, size_t len, struct dn_status *out);

/* /proc/PID/task/TID/children: space-separated pids. Stores up to `max`
 * into `out` and returns how many the text holds (which may exceed max),
 * or -EINVAL. */
int dn_proc_parse_children(const char *buf, size_t len, pid_t *out, size_t max);

/* /proc/PID/schedstat: "on-cpu-ns runqueue-wait-ns timeslices". */
struct dn_schedstat {
	uint64_t run_ns, wait_ns, slices;
};
int dn_proc_parse_schedstat(const char *buf, size_t len, struct dn_schedstat *out);

/* /proc/PID/net/dev: bytes summed over every interface but "lo". */
int dn_proc_parse_net_dev(const char *buf, size_t len, uint64_t *rx_bytes, uint64_t *tx_bytes);

/* /proc/PID/cmdline: NUL-separated args. Calls fn for each argument
 * (a trailing NUL ends the list; a missing one still yields the last
 * argument). Returns the number of arguments. */
int dn_proc_split_cmdline(const char *buf, size_t len,
			  void (*fn)(void *ctx, const char *arg, size_t n), void *ctx);

/* One line of /proc/PID/maps:
 *   "start-end perms offset major:minor inode<spaces>path".
 * The path is everything after the padding up to the end of the line: it
 * may hold spaces, and the kernel appends " (deleted)" to files unlinked
 * since they were mapped; anonymous mappings have none, others a pseudo
 * name ("[heap]", "[vdso]", "[anon:name]"). */
struct dn_maps_entry {
	uint64_t start, end; /* [start, end) */
	uint64_t pgoff;	     /* file offset of start */
	unsigned int dev_major, dev_minor;
	uint64_t inode;	  /* 0: not a file */
	char perms[5];	  /* "r-xp", NUL-terminated */
	const char *path; /* into buf, NOT NUL-terminated; NULL when absent */
	size_t pathlen;
	bool deleted; /* path ends with " (deleted)" (which stays in path) */
};
/* Calls fn for each well-formed line, in order. Lines that are not what
 * the kernel writes (garbage, a line cut before its inode) are skipped, so
 * a torn read loses one mapping, not the rest. A last line without its
 * newline is taken as it stands: the caller reads to EOF, and a path cut
 * short by a torn read cannot be told from a whole one. fn returns 0 to go on; any
 * other value stops the walk and is returned. Otherwise returns the number
 * of entries passed to fn. */
int dn_proc_parse_maps(const char *buf, size_t len,
		       int (*fn)(void *ctx, const struct dn_maps_entry *e), void *ctx);

#endif
