/*
 * selfcpu.c — run a command and report the CPU of that process alone,
 * apart from the children it waited for: what a monitor costs while its
 * workload (a fork storm, a build) burns CPU in its children.
 *
 * wait4's rusage folds the reaped children into the parent's. Here the
 * command is waited for with WNOWAIT: it stays a zombie while its
 * /proc/PID/stat still holds its final utime+stime (its own, all threads)
 * and cutime+cstime (the children it reaped) as separate fields, and its
 * schedstat the main thread's exact on-CPU ns. Then it is reaped and the
 * whole rusage is printed beside them, as a check (self + children =
 * total, to a clock tick per field).
 *
 * usage: selfcpu CMD [ARGS...]
 * Prints on stderr, after the command ends:
 *   self_cpu_secs=U+S self_sched_secs=NS/1e9 children_cpu_secs=CU+CS
 *   total_cpu_secs=RUSAGE wall_secs=W maxrss_kb=K status=S
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static ssize_t slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, cap - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: selfcpu CMD [ARGS...]\n");
		return 2;
	}
	double t0 = now();
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	siginfo_t si;
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) != 0)
		return 1;
	double wall = now() - t0;

	char path[64], buf[4096];
	double tck = (double)sysconf(_SC_CLK_TCK);
	double self = -1, kids = -1, sched = -1;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (slurp(path, buf, sizeof buf) > 0) {
		/* fields after comm: 3 state ... 14 utime 15 stime 16 cutime 17 cstime */
		char *p = strrchr(buf, ')');
		unsigned long long ut, st;
		long long cut, cst;
		if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld",
				&ut, &st, &cut, &cst) == 4) {
			self = (double)(ut + st) / tck;
			kids = (double)(cut + cst) / tck;
		}
	}
	snprintf(path, sizeof path, "/proc/%d/schedstat", (int)pid);
	if (slurp(path, buf, sizeof buf) > 0)
		sched = strtod(buf, NULL) / 1e9;

	int status;
	struct rusage ru;
	if (wait4(pid, &status, 0, &ru) != pid)
		return 1;
	double total = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	fprintf(stderr,
		"self_cpu_secs=%.3f self_sched_secs=%.6f children_cpu_secs=%.3f "
		"total_cpu_secs=%.6f wall_secs=%.3f maxrss_kb=%ld status=%d\n",
		self, sched, kids, total, wall, ru.ru_maxrss,
		WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}
