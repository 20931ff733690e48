/* pingpong.c — context-switch benchmark: two processes bounce a byte over
 * two pipes, pinned to one CPU, so every round trip is two switches.
 * usage: pingpong [SECS [DELAY_MS [CPU]]]
 * Prints "pid P" at once, waits DELAY_MS (time to attach a monitor to P;
 * the second process is forked after the delay, so a monitor that follows
 * forks sees it), then runs SECS seconds and prints round trips/s and
 * microseconds per round trip. Standalone: cc -O2 -o pingpong pingpong.c */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
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
	double secs = argc > 1 ? atof(argv[1]) : 3;
	int delay = argc > 2 ? atoi(argv[2]) : 0;
	int cpu = argc > 3 ? atoi(argv[3]) : 0;
	int ab[2], ba[2];
	char c = 'x';
	cpu_set_t set;
	long n = 0;
	pid_t kid;
	double t0, t;

	printf("pid %d\n", (int)getpid());
	fflush(stdout);
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set))
		perror("sched_setaffinity");
	if (delay > 0)
		usleep((useconds_t)delay * 1000);
	if (pipe(ab) || pipe(ba))
		return 1;
	kid = fork();
	if (kid == 0) {
		close(ab[1]);
		close(ba[0]);
		while (read(ab[0], &c, 1) == 1)
			if (write(ba[1], &c, 1) != 1)
				break;
		_exit(0);
	}
	close(ab[0]);
	close(ba[1]);
	t0 = now();
	do {
		for (int i = 0; i < 1000; i++) {
			if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1)
				return 1;
		}
		n += 1000;
		t = now();
	} while (t - t0 < secs);
	close(ab[1]);
	waitpid(kid, NULL, 0);
	printf("%.0f round trips/s, %.3f us per round trip (%ld in %.2f s)\n", n / (t - t0),
	       (t - t0) / n * 1e6, n, t - t0);
	return 0;
}
