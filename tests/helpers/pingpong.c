/* pingpong.c — test helper: two processes pass a byte through two pipes N
 * times, both pinned to one CPU, so that every round trip is at least two
 * context switches (each process must leave the CPU for the other to run).
 * usage: pingpong N [SLEEP_SECS]
 * The parent forks the child, they play N round trips, the child exits and
 * is reaped; then the parent sleeps SLEEP_SECS (0: none) and exits 0. */
#include <sched.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The first CPU this process may run on (a cpuset may exclude CPU 0). */
static void pin_to_one_cpu(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) != 0)
		return;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set)) {
			CPU_ZERO(&set);
			CPU_SET(c, &set);
			sched_setaffinity(0, sizeof set, &set);
			return;
		}
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10000;
	double secs = argc > 2 ? atof(argv[2]) : 0;
	int ab[2], ba[2];
	char c = 'x';
	if (pipe(ab) < 0 || pipe(ba) < 0)
		return 1;
	pin_to_one_cpu(); /* before the fork: the child inherits it */
	pid_t k = fork();
	if (k < 0)
		return 1;
	if (k == 0) {
		for (long i = 0; i < n; i++)
			if (read(ab[0], &c, 1) != 1 || write(ba[1], &c, 1) != 1)
				_exit(1);
		_exit(0);
	}
	for (long i = 0; i < n; i++)
		if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1)
			return 1;
	int st;
	if (waitpid(k, &st, 0) != k || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 1;
	struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
	if (secs > 0)
		nanosleep(&ts, NULL);
	return 0;
}
