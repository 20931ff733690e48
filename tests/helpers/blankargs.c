/* blankargs.c — test helper: a command line that reads empty for a while,
 * as a process's does in the middle of its exec (new comm, argv not set up).
 * usage: blankargs SECS1 SECS2
 * Zeroes its argv strings (so /proc/PID/cmdline is empty and readers fall
 * back to comm) for SECS1 seconds, restores them, then sleeps SECS2. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void sleep_secs(double secs)
{
	struct timespec ts = {(time_t)secs, (long)((secs - (time_t)secs) * 1e9)};
	while (nanosleep(&ts, &ts) != 0)
		;
}

int main(int argc, char **argv)
{
	double s1 = argc > 1 ? atof(argv[1]) : 0.3, s2 = argc > 2 ? atof(argv[2]) : 0.3;
	/* argv strings are contiguous: save the area, zero it, put it back */
	size_t len = (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) + 1 - argv[0]);
	char *saved = malloc(len);
	if (!saved)
		return 1;
	memcpy(saved, argv[0], len);
	memset(argv[0], 0, len);
	sleep_secs(s1);
	memcpy(argv[0], saved, len);
	free(saved);
	sleep_secs(s2);
	return 0;
}
