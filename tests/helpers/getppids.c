/* getppids.c — test helper: a known syscall mix for the syscall reports.
 * usage: getppids [N [MS]]
 * Makes exactly N (default 5000) getppid system calls through syscall(2),
 * so libc can neither cache nor skip one, then sleeps MS milliseconds
 * (default 0: a run that lasts a few samples) and exits 0. Nothing else
 * it does is a getppid, so a tracer of its tree counts N exactly. */
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 5000;
	long ms = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	if (ms > 0) {
		struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return 0;
}
