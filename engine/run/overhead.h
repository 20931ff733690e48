/*
 * overhead.h — what watching cost: denet's own CPU and peak RSS, the time
 * its samples and the run's hooks took, what its BPF programs ran for, and
 * how punctual the samples were. The monitor keeps the tallies; the exit
 * record's `overhead` object (docs/data-format.md) is written from them.
 */
#ifndef DENET_OVERHEAD_H
#define DENET_OVERHEAD_H

#include <stdbool.h>
#include <stdint.h>

#include "bpfstats.h"
#include "json.h"

/* The monitor's running tallies (monotonic wall time, ns). */
struct dn_overhead {
	uint64_t sampling_ns; /* in samples: reading, records, drains; hooks excluded */
	uint64_t hooks_ns;    /* in the run's hooks (Lua callbacks and rules, the CLI's) */
	uint64_t timed;	      /* timer-driven samples: the ones that have a deadline */
	uint64_t late;	      /* of those, begun more than DN_LATE_FRACTION of the period late */
	uint64_t missed;      /* deadlines skipped: no sample was taken for them */
	uint64_t max_late_ns; /* the latest start after a deadline */
};

/* A sample is late when it starts more than a tenth of its period after
 * its deadline: a timer fires within microseconds on an idle machine, and
 * a tenth of the window shifted is where a sample stops describing the
 * window it is stamped with. */
#define DN_LATE_FRACTION 10

/* A timer-driven sample begins at now_ns for a deadline of deadline_ns,
 * with `period_ns` the period in force. */
void dn_overhead_sample_start(struct dn_overhead *o, uint64_t deadline_ns, uint64_t now_ns,
			      uint64_t period_ns);

/* `bpf_stats` when the kernel keeps no statistics of BPF programs. */
#define DN_BPF_STATS_OFF "off (sysctl kernel.bpf_stats_enabled=0)"

/* The figures of the exit record, gathered at its writing. */
struct dn_overhead_info {
	double cpu_user_secs, cpu_system_secs; /* getrusage(RUSAGE_SELF) */
	uint64_t peak_rss_kb;		       /* its ru_maxrss */
	struct dn_overhead t;
	bool bpf;	      /* BPF programs of denet's ran for this run */
	bool bpf_stats;	      /* and the kernel kept their statistics */
	struct dn_bpf_cost c; /* their cost, when bpf_stats */
};

/* Fill *info: denet's rusage now, the tallies, the BPF cost `c` (NULL: no
 * BPF in this run). */
void dn_overhead_collect(struct dn_overhead_info *info, const struct dn_overhead *o,
			 const struct dn_bpf_cost *c);
/* The `overhead` object. */
void dn_overhead_write(struct dn_json *j, const struct dn_overhead_info *info);

#endif
