/* forker.c — test helper: waits for a line on stdin, forks a child that
 * execs PROG [ARGS...], prints "child PID", waits for it and exits.
 * usage: forker PROG [ARGS...] */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char line[64];
	pid_t kid;
	int st = 0;

	if (argc < 2)
		return 2;
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof line, stdin))
		return 1;
	kid = fork();
	if (kid == 0) {
		execv(argv[1], argv + 1);
		_exit(127);
	}
	printf("child %d\n", (int)kid);
	fflush(stdout);
	waitpid(kid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
