/* memhog.c — test helper: allocate and touch memory, then hold it.
 * usage: memhog MIB SECS
 * Allocates MIB MiB, writes to every page (so it is resident), then sleeps
 * SECS seconds before exiting. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 100;
	double secs = argc > 2 ? atof(argv[2]) : 1.0;
	size_t n = mib << 20;
	char *p = malloc(n);
	if (!p) return 1;
	for (size_t i = 0; i < n; i += 4096) p[i] = (char)(i >> 12) | 1;
	struct timespec ts = { (time_t)secs, (long)((secs - (time_t)secs) * 1e9) };
	nanosleep(&ts, NULL);
	/* use the memory so the compiler keeps it */
	volatile char sink = p[n / 2];
	(void)sink;
	free(p);
	return 0;
}
