/*
 * bpfstats.h — what denet's own BPF programs cost: the kernel's run-time
 * statistics of a program (bpf_prog_info.run_time_ns and run_cnt). The
 * kernel keeps them only while statistics are on: the sysctl
 * kernel.bpf_stats_enabled, or a BPF_ENABLE_STATS fd held by someone.
 * denet does not turn them on itself: that times every BPF program on the
 * machine (two clock reads per run), not only denet's.
 */
#ifndef DENET_BPFSTATS_H
#define DENET_BPFSTATS_H

#include <stdbool.h>
#include <stdint.h>

struct dn_bpf_cost {
	uint64_t run_ns;  /* summed run time of the programs */
	uint64_t run_cnt; /* and how many times they ran */
	int progs;	  /* programs whose info could be read */
};

/* Add the statistics of the programs whose fds are `fds` (n of them;
 * negative fds are skipped) to *c. */
void dn_bpf_cost_add(struct dn_bpf_cost *c, const int *fds, int n);
/* Whether the sysctl kernel.bpf_stats_enabled reads 1 (false also when it
 * cannot be read). A BPF_ENABLE_STATS fd held elsewhere also counts, but
 * no file shows it: a non-zero run_cnt does. */
bool dn_bpf_stats_sysctl(void);

#endif
