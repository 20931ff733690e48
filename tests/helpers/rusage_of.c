/* rusage_of.c — test helper: run a command, wait for it, and print the
 * CPU the kernel accounted to it and everything it waited for, as
 * "cpu_secs=U+S maxrss_kb=N status=S" on stderr (an independent referee
 * for denet's exact totals, like GNU time).
 * usage: rusage_of CMD [ARGS...] */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: rusage_of CMD [ARGS...]\n");
		return 2;
	}
	pid_t pid = fork();
	if (pid == 0) {
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	int status;
	struct rusage ru;
	if (wait4(pid, &status, 0, &ru) != pid)
		return 1;
	double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
		     ru.ru_stime.tv_usec / 1e6;
	fprintf(stderr, "cpu_secs=%.6f maxrss_kb=%ld status=%d\n", cpu, ru.ru_maxrss,
		WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}
