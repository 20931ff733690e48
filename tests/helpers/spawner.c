/* spawner.c — test helper: build a process tree.
 * usage: spawner K SECS [MODE]
 *   MODE "flat" (default): fork K children that spin on the CPU for SECS s;
 *        the parent sleeps (waits for them).
 *   MODE "grand": as flat, and each child also forks a grandchild that
 *        sleeps SECS s (so the tree has 1 + 2K processes).
 *   MODE "orphan": fork one middle child that forks a grandchild sleeping
 *        SECS s; the middle child exits after 0.4 s and is reaped, so the
 *        grandchild is reparented while the top process sleeps SECS s.
 * Prints "middle=PID grandchild=PID" (orphan) or "child=PID" lines on
 * stderr so a test can find the pids. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void nap(double secs)
{
	struct timespec ts = { (time_t)secs, (long)((secs - (time_t)secs) * 1e9) };
	while (nanosleep(&ts, &ts) != 0) {}
}

static void spin(double secs)
{
	volatile unsigned long x = 0;
	double end = now() + secs;
	while (now() < end)
		for (int i = 0; i < 100000; i++) x += i;
}

int main(int argc, char **argv)
{
	int k = argc > 1 ? atoi(argv[1]) : 3;
	double secs = argc > 2 ? atof(argv[2]) : 1.0;
	const char *mode = argc > 3 ? argv[3] : "flat";

	if (strcmp(mode, "orphan") == 0) {
		int fds[2];
		if (pipe(fds) != 0) return 1;
		pid_t mid = fork();
		if (mid == 0) {
			close(fds[0]);
			pid_t g = fork();
			if (g == 0) {
				close(fds[1]);
				nap(secs);
				_exit(0);
			}
			if (write(fds[1], &g, sizeof g) != sizeof g) _exit(1);
			nap(0.4);
			_exit(0);
		}
		close(fds[1]);
		pid_t g = 0;
		if (read(fds[0], &g, sizeof g) != sizeof g) return 1;
		fprintf(stderr, "middle=%d grandchild=%d\n", (int)mid, (int)g);
		fflush(stderr);
		waitpid(mid, NULL, 0);
		nap(secs);
		return 0;
	}

	int grand = strcmp(mode, "grand") == 0;
	for (int i = 0; i < k; i++) {
		pid_t c = fork();
		if (c == 0) {
			if (grand && fork() == 0) {
				nap(secs);
				_exit(0);
			}
			spin(secs);
			if (grand) wait(NULL);
			_exit(0);
		}
		fprintf(stderr, "child=%d\n", (int)c);
	}
	fflush(stderr);
	while (wait(NULL) > 0) {}
	return 0;
}
