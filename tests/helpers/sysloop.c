/*
 * sysloop.c — a known syscall mix for the syscall tracer's specs
 * (tests/spec/syscalls_spec.lua):
 *
 *   sysloop [--parent] [--wait-stdin] [--child M] [--spread-ms D] [--linger-ms L] N K
 *
 * A round is exactly N syscall(SYS_getppid) and K failing opens
 * (syscall(SYS_open) of a path that does not exist, or SYS_openat where
 * the architecture has no open; the first output line names which).
 * --spread-ms D spreads the N getppid over about D ms, in 10 ms slices,
 * for a steady rate. --child M: the first round starts by forking a child
 * that makes M getppid and exits (waited for). --linger-ms L: sleeps L ms
 * before exiting. --parent: forks at once, before anything else; the
 * parent prints "parent PID" and waits for the child (with waitpid: a
 * shell's `wait` hangs when SIGCHLD comes blocked, as in a process that
 * uses denet's signalfd), which goes on as the sysloop: an existing
 * descendant of PID.
 *
 * Output (flushed at once): "open NAME PID" first; with --wait-stdin then
 * "ready", and a line is read from stdin before the first round; after
 * round i, "done i". With --wait-stdin every further line "N K" is one
 * more round, and end of input ends the program.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef SYS_open
#define OPEN_NAME "open"
static long fail_open(void)
{
	return syscall(SYS_open, "/nonexistent/sysloop", O_RDONLY);
}
#else
#define OPEN_NAME "openat"
static long fail_open(void)
{
	return syscall(SYS_openat, AT_FDCWD, "/nonexistent/sysloop", O_RDONLY);
}
#endif

static long getppids(long n)
{
	long sum = 0;
	for (long i = 0; i < n; i++)
		sum += syscall(SYS_getppid);
	return sum;
}

static void sleep_until(const struct timespec *t)
{
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, t, NULL) == EINTR)
		;
}

static void add_ms(struct timespec *t, long ms)
{
	t->tv_nsec += ms % 1000 * 1000000L;
	t->tv_sec += ms / 1000 + t->tv_nsec / 1000000000L;
	t->tv_nsec %= 1000000000L;
}

static void round_of(long n, long k, long spread_ms)
{
	if (spread_ms >= 10) {
		long slices = spread_ms / 10, done = 0;
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		for (long s = 1; s <= slices; s++) {
			long upto = n * s / slices;
			getppids(upto - done);
			done = upto;
			add_ms(&t, 10);
			sleep_until(&t);
		}
	} else {
		getppids(n);
	}
	for (long i = 0; i < k; i++)
		if (fail_open() >= 0) {
			fprintf(stderr, "sysloop: /nonexistent/sysloop opened\n");
			exit(1);
		}
}

static long num(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < 0) {
		fprintf(stderr, "sysloop: not a count: '%s'\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	int wait_stdin = 0, parent = 0;
	long child = -1, spread = 0, linger = 0;
	int i = 1;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--wait-stdin") == 0)
			wait_stdin = 1;
		else if (strcmp(argv[i], "--parent") == 0)
			parent = 1;
		else if (strcmp(argv[i], "--child") == 0 && i + 1 < argc)
			child = num(argv[++i]);
		else if (strcmp(argv[i], "--spread-ms") == 0 && i + 1 < argc)
			spread = num(argv[++i]);
		else if (strcmp(argv[i], "--linger-ms") == 0 && i + 1 < argc)
			linger = num(argv[++i]);
		else
			break;
	}
	if (argc - i != 2) {
		fprintf(stderr, "usage: sysloop [--parent] [--wait-stdin] [--child M] "
				"[--spread-ms D] [--linger-ms L] N K\n");
		return 2;
	}
	long n = num(argv[i]), k = num(argv[i + 1]);
	char line[128];
	if (parent) {
		printf("parent %d\n", (int)getpid());
		fflush(stdout);
		pid_t c = fork();
		if (c < 0)
			return 4;
		if (c > 0) {
			int st;
			while (waitpid(c, &st, 0) < 0)
				if (errno != EINTR)
					return 4;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
	}
	printf("open %s %d\n", OPEN_NAME, (int)getpid());
	if (wait_stdin) {
		printf("ready\n");
		fflush(stdout);
		if (!fgets(line, sizeof line, stdin))
			return 3;
	}
	fflush(stdout);
	if (child >= 0) {
		pid_t c = fork();
		if (c < 0)
			return 4;
		if (c == 0) {
			getppids(child);
			_exit(0);
		}
		int st;
		while (waitpid(c, &st, 0) < 0 && errno == EINTR)
			;
	}
	int rounds = 1;
	round_of(n, k, spread);
	printf("done %d\n", rounds);
	fflush(stdout);
	while (wait_stdin && fgets(line, sizeof line, stdin)) {
		if (sscanf(line, "%ld %ld", &n, &k) != 2)
			return 5;
		round_of(n, k, spread);
		printf("done %d\n", ++rounds);
		fflush(stdout);
	}
	if (linger > 0) {
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		add_ms(&t, linger);
		sleep_until(&t);
	}
	return 0;
}
