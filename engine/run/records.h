/*
 * records.h — the JSONL records denet writes (docs/data-format.md), each built as
 * one complete line ending in "\n" so a writer emits it with one write().
 */
#ifndef DENET_RECORDS_H
#define DENET_RECORDS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "overhead.h"
#include "perfcount.h"
#include "proctree.h"

struct dn_profile;
struct dn_psi;
struct dn_gpu_sample;

/* One optional data source and whether it opened (capabilities). */
struct dn_capability {
	const char *name;
	bool ok;
	const char *reason; /* why not, when !ok */
};

/* The exit record lists at most this many survivors; its count is exact. */
#define DN_SURVIVORS_LISTED 16

/* A process of the run still alive when the command exited. */
struct dn_survivor {
	pid_t pid;
	char command[DN_COMM_MAX]; /* its comm, NUL-terminated */
};

struct dn_exit_info {
	uint64_t ts_ms;
	pid_t pid;
	bool known;    /* false in attach mode: not our child */
	bool detached; /* monitoring ended by dn_monitor_detach: it runs on */
	int exit_code; /* 0-255, 128+N when killed by signal N */
	int signal;    /* 0 = none */
	double duration_secs;
	/* totals from the kernel (wait4 rusage of the tree) */
	const char *source; /* "rusage", or NULL when there are none */
	double cpu_user_secs, cpu_system_secs;
	uint64_t mem_peak_kb;
	/* processes (threads) the run started, the command included: from
	 * the fork events ("proc_connector", or "proc_connector (events
	 * lost)" for a lower bound), else those the samples saw ("sampled";
	 * threads then unknown) */
	uint64_t processes, threads;
	const char *processes_source;
	bool has_io, has_oom;
	uint64_t disk_read_bytes, disk_write_bytes, oom_kills;
	/* the same figures integrated from the samples */
	double sampled_cpu_secs;
	uint64_t sampled_mem_peak_kb;
	uint64_t sampled_disk_read_bytes, sampled_disk_write_bytes;
	uint64_t samples;
	/* processes of the run alive when the command exited: the count is
	 * exact, the first DN_SURVIVORS_LISTED are named; survivors_source
	 * says where they were read ("cgroup" or "tree"), NULL = none */
	uint64_t survivors;
	const char *survivors_source;
	int nsurvivors_listed;
	struct dn_survivor survivor[DN_SURVIVORS_LISTED];
	/* what watching cost (denet's own figures) */
	struct dn_overhead_info overhead;
	/* with syscall tracking: the run's syscalls, every one of them (the
	 * last drain reads the command as a zombie); only while writing */
	const struct dn_profile *prof;
	/* with pressure stall information: the run's stalls, from the
	 * reading at its start to the one at its end; only while writing */
	const struct dn_psi *psi;
	/* with --counters: the run's perf counters (`counters`), read when
	 * the record was written */
	bool has_counters;
	struct dn_perf_values counters;
};

void dn_record_metadata(struct dn_buf *b, pid_t pid, char *const *argv, int argc,
			const char *executable, uint64_t t0_ms, const struct dn_capability *caps,
			int ncaps);
/* A `tree` record, or a flat `sample` of the root when flat is set. With a
 * profile, the aggregate carries upstream's `ebpf.offcpu` object; with a
 * GPU reading, the parent (the flat sample) and the aggregate carry
 * upstream's `gpu` object, with the root's and the tree's processes. */
void dn_record_tree(struct dn_buf *b, const struct dn_tree *t, bool flat,
		    const struct dn_profile *prof, const struct dn_gpu_sample *gpu);
/* The same, with the window's perf counters (--counters) as a `counters`
 * object in the aggregate (in the flat sample: at its top level), and the
 * pressure stalls as the aggregate's `psi` object (the flat sample has
 * none); NULL: none, as dn_record_tree. */
void dn_record_tree_ext(struct dn_buf *b, const struct dn_tree *t, bool flat,
			const struct dn_profile *prof, const struct dn_gpu_sample *gpu,
			const struct dn_perf_values *counters, const struct dn_psi *psi);
/* The aggregate's `ebpf` object of a profile: "offcpu" unless it has no
 * stacks, "syscalls" when it tracks syscalls. */
void dn_record_ebpf(struct dn_buf *b, const struct dn_profile *prof);
void dn_record_exit(struct dn_buf *b, const struct dn_exit_info *e);
void dn_record_mark(struct dn_buf *b, uint64_t ts_ms, const char *label);

#endif
