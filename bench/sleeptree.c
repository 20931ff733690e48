/*
 * sleeptree.c — the workload of the sampling benchmarks: a tree of N
 * sleeping processes (the root and N-1 children, flat), so every sampler
 * measures the same pids. Prints the root pid on stdout once the whole
 * tree exists; lives SECS seconds (0 = until killed); children die with
 * the root (PR_SET_PDEATHSIG).
 * usage: sleeptree N [SECS]
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int sig)
{
	(void)sig;
	kill(0, SIGKILL); /* our process group: the children (and us) */
	_exit(0);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1;
	unsigned secs = argc > 2 ? (unsigned)atoi(argv[2]) : 0;
	int ready[2];
	char c = 0;

	if (n < 1 || pipe(ready) != 0) {
		fprintf(stderr, "usage: sleeptree N [SECS]\n");
		return 2;
	}
	setpgid(0, 0);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	pid_t root = getpid();
	for (int i = 1; i < n; i++) {
		pid_t k = fork();
		if (k == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != root)
				_exit(0);
			close(ready[0]);
			if (write(ready[1], &c, 1) != 1)
				_exit(1);
			close(ready[1]);
			for (;;)
				pause();
		}
		if (k < 0) {
			perror("fork");
			kill(0, SIGKILL);
		}
	}
	close(ready[1]);
	for (int i = 1; i < n; i++)
		if (read(ready[0], &c, 1) != 1)
			return 1;
	printf("%d\n", (int)root);
	fflush(stdout);
	if (secs) {
		sleep(secs);
		signal(SIGTERM, SIG_IGN);
		kill(0, SIGTERM);
		while (wait(NULL) > 0) {
		}
		return 0;
	}
	for (;;)
		pause();
}
