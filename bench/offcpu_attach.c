/* offcpu_attach.c — a denet-less harness for bench/offcpu_overhead.sh: opens
 * the off-CPU profiler (engine/profiler/offcpu.c), tracks PID, drains every 100 ms
 * until SIGINT/SIGTERM, then prints one summary line to stderr.
 * usage: offcpu_attach PID [nokstack]
 * build: cc -O2 -Iengine -Ibuild/gen -o build/bench/offcpu_attach \
 *        bench/offcpu_attach.c build/libdenet.a -lbpf -lelf -ldw -lz */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "offcpu.h"

static volatile sig_atomic_t stop;

static void on_sig(int sig)
{
	(void)sig;
	stop = 1;
}

static void count(const struct dn_offcpu_stack *s, void *ctx)
{
	(void)s;
	++*(unsigned long *)ctx;
}

int main(int argc, char **argv)
{
	struct dn_offcpu_opts o = {.kernel_stacks = true, .user_stacks = true};
	struct timespec ts = {0, 100000000L};
	struct dn_offcpu_stats st;
	struct dn_offcpu *p;
	unsigned long entries = 0, drains = 0;
	char why[256];

	if (argc < 2)
		return 2;
	if (argc > 2 && strcmp(argv[2], "nokstack") == 0)
		o.kernel_stacks = false;
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	p = dn_offcpu_open(&o, why, sizeof why);
	if (!p) {
		fprintf(stderr, "offcpu_attach: %s\n", why);
		return 1;
	}
	if (dn_offcpu_track(p, (pid_t)atoi(argv[1]))) {
		fprintf(stderr, "offcpu_attach: cannot track %s\n", argv[1]);
		return 1;
	}
	printf("attached\n");
	fflush(stdout);
	while (!stop) {
		nanosleep(&ts, NULL);
		dn_offcpu_poll_events(p, NULL, NULL);
		dn_offcpu_drain(p, count, &entries);
		drains++;
	}
	dn_offcpu_drain(p, count, &entries);
	dn_offcpu_get_stats(p, &st);
	fprintf(stderr,
		"offcpu_attach: %lu drains, %lu entries, %llu switch-outs, %llu recorded, "
		"%llu recovered, %llu stacks live, ustack_err %llu kstack_err %llu\n",
		drains, entries, (unsigned long long)st.switches_out,
		(unsigned long long)st.recorded, (unsigned long long)st.recovered,
		(unsigned long long)st.stacks_live, (unsigned long long)st.ustack_err,
		(unsigned long long)st.kstack_err);
	dn_offcpu_close(p);
	return 0;
}
