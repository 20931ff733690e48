/* forkstorm.c — test and bench helper: forks N children that exit at
 * once, as fast as the machine allows, reaping each; with -d, each child
 * double-forks first (its own child outlives it for MS ms, reparented).
 * usage: forkstorm N [-d MS] */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000;
	int daemon_ms = argc > 3 && strcmp(argv[2], "-d") == 0 ? atoi(argv[3]) : -1;

	for (int i = 0; i < n; i++) {
		pid_t kid = fork();
		if (kid < 0)
			return 1;
		if (kid == 0) {
			if (daemon_ms >= 0 && fork() == 0) {
				struct timespec ts = {daemon_ms / 1000, (daemon_ms % 1000) * 1000000L};
				nanosleep(&ts, NULL);
			}
			_exit(0);
		}
		while (waitpid(kid, NULL, 0) < 0)
			;
	}
	return 0;
}
