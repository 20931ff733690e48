/*
 * cgroup.h — a cgroup per run, for totals of the whole process tree that the
 * kernel keeps exactly: CPU of children that lived between two samples,
 * memory peaks between samples, I/O and OOM kills.
 *
 * Two layouts are handled: pure cgroup v2, and the hybrid layout (cgroup2
 * mounted beside v1 hierarchies, with memory, pids and blkio on v1). A run's
 * leaf is created under denet's OWN cgroup in each hierarchy it uses, so root
 * needs no delegation. Without cgroup2, the v1 memory/pids/blkio/cpuacct
 * hierarchies are used alone.
 *
 * Errors are values: 0 / -errno, or NULL with errno set. Nothing prints.
 */
#ifndef DENET_CGROUP_H
#define DENET_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct dn_cgroup;

/* Creates a leaf (named denet-PID-N) for one run under denet's own cgroup:
 * on cgroup2, and on the v1 hierarchies of memory, pids and blkio where
 * cgroup2 does not provide them (cpuacct too when there is no cgroup2;
 * blkio only where the kernel still accounts it: its root lists devices).
 * On pure v2 it enables cpu, memory, io and pids in the parent's
 * cgroup.subtree_control when the kernel allows it (EBUSY under the "no
 * internal processes" rule is not an error: fewer files are then readable).
 * A v1 leaf that cannot be made is left out (dn_cgroup_read's `source`
 * shows what was joined); failing to make the cgroup2 leaf is fatal.
 * Before making a leaf in a parent it sweeps that parent: leaves named
 * denet-PID-N whose PID is no longer a process (a denet that was
 * SIGKILLed) and that are empty are removed.
 * Returns NULL with errno set and a one-line reason in `why` (may be NULL). */
struct dn_cgroup *dn_cgroup_create(char *why, size_t whylen);

/* Moves pid (the whole thread group) into every leaf. Meant for the held
 * child before exec, so all it starts is counted. 0 or the first -errno. */
int dn_cgroup_add(struct dn_cgroup *cg, pid_t pid);

struct dn_cgroup_stats {
	bool has_cpu; /* cpu.stat (v2), or cpuacct (v1) */
	uint64_t usage_usec, user_usec, system_usec;
	bool has_mem; /* memory.current/peak (v2), usage/max_usage_in_bytes (v1) */
	uint64_t mem_current_kb, mem_peak_kb;
	bool has_io; /* io.stat rbytes/wbytes (v2), blkio io_service_bytes (v1) */
	uint64_t io_read_bytes, io_write_bytes;
	bool has_oom; /* memory.events oom_kill (v2), memory.oom_control (v1) */
	uint64_t oom_kills;
	bool has_pids; /* pids.current */
	uint64_t pids_current;
	uint64_t procs_now; /* processes in the cgroup and its descendants */
	const char *source; /* "cgroup2", "cgroup2+memory-v1+pids-v1", ...;
			       owned by cg */
};

/* Reads what the kernel keeps for the cgroup; figures it lacks have their
 * has_* false. Counters survive the exit of the processes. mem_peak_kb is
 * the kernel's peak, or the largest memory.current this cg has read where
 * the kernel keeps no peak. 0, or -errno when nothing could be read (the
 * cgroup is gone). */
int dn_cgroup_read(struct dn_cgroup *cg, struct dn_cgroup_stats *st);
/* The part of a reading a sample needs (CPU and memory only: has_io,
 * has_oom, has_pids and procs_now stay unset); the sampling hot path
 * calls this, the exit record the full dn_cgroup_read. */
int dn_cgroup_read_sample(struct dn_cgroup *cg, struct dn_cgroup_stats *st);

/* The processes in it now (and in the cgroups below it): the first `max`
 * pids go to pids[], the return value counts them all. 0 when the cgroup
 * is gone or empty. */
size_t dn_cgroup_pids(struct dn_cgroup *cg, pid_t *pids, size_t max);

/* Kills everything in it: cgroup.kill where the kernel has it (Linux 5.14:
 * atomic, forks in flight included), else dn_cgroup_kill_each.
 * 0 (or the count killed by the fallback) or -errno. */
int dn_cgroup_kill(struct dn_cgroup *cg);
/* The fallback, exposed for tests: SIGKILL by pidfd to each process
 * listed, checked to be a member while its pidfd named it (listed twice
 * around the pidfd_open, alive after the second listing), at most 256
 * pidfds at a time; rounds back to back until one kills nobody new, never
 * a pause. The count killed, or -errno. */
int dn_cgroup_kill_each(struct dn_cgroup *cg);
/* Whether dn_cgroup_kill is atomic here (cgroup.kill: every member, forks
 * in flight included, is killed), not best-effort rounds. */
bool dn_cgroup_kills_atomically(const struct dn_cgroup *cg);

/* The end of a cgroup, in three steps that never wait (the event loop
 * calls them; engine/run/cgroup_reaper.c is the one caller that retries
 * and frees):
 *
 * dn_cgroup_evict moves every process of the leaves to the cgroup denet
 * runs in (where they would be without denet): for a tree that runs on
 * when monitoring stops (survivors, p:detach). 0.
 *
 * dn_cgroup_try_remove makes one attempt at removing each leaf still
 * there (and cgroups the command made inside it), after moving what still
 * runs in it out to the parent when `evict` is set. 0 when every leaf is
 * gone (or cg is not ours: dn_cgroup_of_tree), -EBUSY while a leaf still
 * holds a task (a task that has exited leaves its cgroup a moment after
 * it is reaped: try again), or the first other -errno. Leaves removed are
 * not tried again.
 *
 * dn_cgroup_free frees cg. A leaf still on disk is left to the stale
 * sweep of a later run (dn_cgroup_create). NULL is a no-op. */
int dn_cgroup_evict(struct dn_cgroup *cg);
int dn_cgroup_try_remove(struct dn_cgroup *cg, bool evict);
void dn_cgroup_free(struct dn_cgroup *cg);

/* For attach: the existing cgroup of pid, if every process in it (and in
 * the cgroups below it) is pid or a descendant of pid. The result reads that
 * cgroup without owning it. On cgroup2 the v2 cgroup decides; v1
 * hierarchies are joined only where they too hold just the tree. NULL and
 * errno: EBUSY when the cgroup holds other processes or is a root cgroup,
 * ESRCH when pid is gone; `why` says which. */
struct dn_cgroup *dn_cgroup_of_tree(pid_t pid, char *why, size_t whylen);

/* The directory of cg's cgroup in one hierarchy: controller NULL for cgroup2
 * (e.g. to open for clone3's CLONE_INTO_CGROUP), or a v1 controller name
 * ("memory", "pids", "blkio", "cpuacct"). NULL if cg has none there. */
const char *dn_cgroup_path(const struct dn_cgroup *cg, const char *controller);

/* Test helper: caps the cgroup's memory (and swap, so the limit is reached
 * rather than swapped around) at `bytes`: memory.max (v2) or
 * memory.limit_in_bytes (v1). 0, or -ENOENT without a memory controller. */
int dn_cgroup_set_memory_limit(struct dn_cgroup *cg, uint64_t bytes);

/* Parsers, exposed for tests on recorded text. Buffers need no NUL. */

/* The mount of cgroup2 (controller NULL) or of the v1 hierarchy holding
 * `controller`, from /proc/self/mountinfo text: mount point and the root of
 * the hierarchy it shows. 0, -ENOENT, -ENAMETOOLONG. */
int dn_cgroup_parse_mount(const char *buf, size_t len, const char *controller, char *mnt,
			  size_t mntlen, char *root, size_t rootlen);

/* The cgroup path in /proc/PID/cgroup text: the "0::" line (controller NULL)
 * or the v1 line listing `controller`. 0, -ENOENT, -ENAMETOOLONG. */
int dn_cgroup_parse_proc(const char *buf, size_t len, const char *controller, char *path,
			 size_t pathlen);

/* The value of `key` in "key value" lines (cpu.stat, memory.events,
 * memory.oom_control, cpuacct.stat). 0, -ENOENT, -EINVAL. */
int dn_cgroup_parse_kv(const char *buf, size_t len, const char *key, uint64_t *val);

/* Bytes read and written, summed over devices: io.stat (v2 "MAJ:MIN rbytes=
 * wbytes= ...", returns 0) and blkio.*io_service_bytes* (v1 "MAJ:MIN Read N",
 * returns the number of Read/Write lines: 0 when only "Total 0" is there,
 * as on kernels that no longer account v1 blkio). -EINVAL on bad text. */
int dn_cgroup_parse_io_stat(const char *buf, size_t len, uint64_t *rbytes, uint64_t *wbytes);
int dn_cgroup_parse_blkio(const char *buf, size_t len, uint64_t *rbytes, uint64_t *wbytes);

#endif
