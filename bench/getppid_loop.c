/* getppid_loop.c — syscall benchmark: a tight syscall(SYS_getppid) loop,
 * the cheapest round trip into the kernel, so a tracer's cost per syscall
 * (sys_enter + sys_exit) shows against little else.
 * usage: getppid_loop [--wait-stdin] [SECS [CPU [ITERS]]]   (default 3 1 0)
 * Prints "pid P" at once and pins itself to CPU (-1: no pinning); with
 * --wait-stdin it then waits for a line on stdin (time to attach a tracer
 * to P). Then calls getppid for SECS seconds, or exactly ITERS times when
 * ITERS > 0, and prints calls/s and nanoseconds per call. The clock is read
 * through the vDSO every 4096 calls: no other syscall in the loop.
 * Standalone: cc -O2 -o getppid_loop getppid_loop.c */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int wait_stdin = argc > 1 && strcmp(argv[1], "--wait-stdin") == 0;
	char **a = argv + wait_stdin;
	int na = argc - wait_stdin;
	double secs = na > 1 ? atof(a[1]) : 3;
	int cpu = na > 2 ? atoi(a[2]) : 1;
	long iters = na > 3 ? atol(a[3]) : 0;
	long n = 0;
	double t0, t;

	printf("pid %d\n", (int)getpid());
	fflush(stdout);
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof set, &set))
			perror("sched_setaffinity");
	}
	if (wait_stdin) {
		char line[64];
		if (!fgets(line, sizeof line, stdin))
			return 1;
	}
	t0 = now();
	if (iters > 0) {
		for (n = 0; n < iters; n++)
			syscall(SYS_getppid);
		t = now();
	} else {
		do {
			for (int i = 0; i < 4096; i++)
				syscall(SYS_getppid);
			n += 4096;
			t = now();
		} while (t - t0 < secs);
	}
	printf("%.0f calls/s, %.1f ns per call (%ld in %.2f s)\n", n / (t - t0), (t - t0) / n * 1e9, n,
	       t - t0);
	return 0;
}
