/*
 * sampler.c — denet's sampler alone: a dn_tree on a running tree, timed
 * over many samples of dn_tree_scan + dn_record_tree into a buffer (what
 * the monitor does per sample, minus writing the line out).
 *
 * usage: sampler PID ITERS [REPS [bpf|auto]]
 * Prints one line per repetition: "us_per_sample=X procs=N".
 * PID is the root of the tree (bench/sleeptree.c); ITERS samples per rep.
 * With `bpf`, the tree reads through the BPF task iterator
 * (engine/profiler/tasksampler.c) every sample (--sampler bpf); with
 * `auto`, through it or /proc, whichever it measured cheaper (the
 * default); without, each process's /proc files (--sampler proc).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "proctree.h"
#include "records.h"
#include "tasksampler.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: sampler PID ITERS [REPS]\n");
		return 2;
	}
	struct dn_tree_opts o = { .root = atoi(argv[1]), .children = true };
	int iters = atoi(argv[2]);
	int reps = argc > 3 ? atoi(argv[3]) : 1;
	/* the sampler first, as the monitor does: the tree's processes then
	 * keep no io/schedstat fds, and a tree of thousands cannot have taken
	 * the fds its loading needs */
	struct dn_tasksampler *ts = NULL;
	bool via_bpf = argc > 4 && (strcmp(argv[4], "bpf") == 0 || strcmp(argv[4], "auto") == 0);
	if (via_bpf) {
		char why[200];
		ts = dn_tasksampler_open(why, sizeof why);
		if (!ts) {
			fprintf(stderr, "sampler: no BPF sampler: %s\n", why);
			return 1;
		}
	}
	struct dn_tree_source src;
	if (ts) {
		src = dn_tasksampler_source(ts);
		o.source = &src; /* from the priming scan on, as the monitor does */
	}
	struct dn_tree t;
	int r = dn_tree_init(&t, &o);
	if (r < 0) {
		fprintf(stderr, "sampler: dn_tree_init: %d\n", r);
		dn_tasksampler_close(ts);
		return 1;
	}
	if (ts && strcmp(argv[4], "bpf") == 0)
		t.read_mode = DN_READ_SOURCE_ALWAYS;
	struct dn_buf b = { 0 };
	int n = dn_tree_scan(&t, 0); /* warm-up: first sample after priming */
	for (int k = 0; k < reps; k++) {
		double t0 = now();
		for (int i = 0; i < iters; i++) {
			dn_buf_reset(&b);
			n = dn_tree_scan(&t, (uint64_t)i);
			dn_record_tree(&b, &t, false, NULL, NULL);
		}
		double t1 = now();
		printf("us_per_sample=%.2f procs=%d bytes=%zu from_bpf=%llu from_proc=%llu\n",
		       (t1 - t0) * 1e6 / iters, n, b.len, (unsigned long long)t.src_hits,
		       (unsigned long long)t.src_misses);
		if (ts)
			printf("costs: source %.0f us, /proc %.0f us (%u and %u scans measured)\n",
			       t.costs.src_ns / 1e3, t.costs.proc_pp_ns * n / 1e3, t.costs.src_n,
			       t.costs.proc_n);
	}
	dn_buf_free(&b);
	dn_tree_free(&t);
	dn_tasksampler_close(ts);
	return 0;
}
