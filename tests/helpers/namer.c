/* namer.c — test helper: a process tree with hostile names.
 * usage: namer SECS
 * Re-executes itself with an argv[0] and argument holding ')', '\n', '"',
 * '\\', a tab and an invalid UTF-8 byte 0xff, sets the same kind of bytes
 * as its comm with prctl(PR_SET_NAME), forks one child that does likewise,
 * and both sleep SECS seconds. */
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HOSTILE "a) (b\n\"c\\\t\xff\xfe"

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "--stage2") == 0) {
		double secs = atof(argv[2]);
		struct timespec ts = { (time_t)secs, (long)((secs - (time_t)secs) * 1e9) };
		prctl(PR_SET_NAME, HOSTILE, 0, 0, 0);
		pid_t c = fork();
		if (c == 0) {
			prctl(PR_SET_NAME, "\xff)\n\")", 0, 0, 0);
			nanosleep(&ts, NULL);
			_exit(0);
		}
		nanosleep(&ts, NULL);
		waitpid(c, NULL, 0);
		return 0;
	}
	char *args[] = { HOSTILE, "--stage2", argc > 1 ? argv[1] : "1", HOSTILE "\x80", NULL };
	execv("/proc/self/exe", args);
	return 127;
}
