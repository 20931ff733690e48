/* cpuburn.c — test helper: use SECS seconds of CPU time, then exit.
 * usage: cpuburn SECS
 * Unlike busy (SECS of wall time), the CPU time it uses does not depend
 * on how loaded the machine is: specs can assert on it under load. */
#include <stdlib.h>
#include <time.h>

static double cpu_secs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.0;
	volatile unsigned long x = 0;
	while (cpu_secs() < secs)
		for (int i = 0; i < 100000; i++)
			x += i;
	return 0;
}
