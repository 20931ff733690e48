/* busy.c — test helper: spin on the CPU.
 * usage: busy SECS [THREADS]
 * Without THREADS (or 0) the main thread spins for SECS seconds; with
 * THREADS=T, T extra threads spin while the main thread waits (so the
 * process has T+1 threads and uses up to T cores). */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static double secs;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *spin(void *arg)
{
	volatile unsigned long x = 0;
	double end = now() + secs;
	(void)arg;
	while (now() < end)
		for (int i = 0; i < 100000; i++) x += i;
	return NULL;
}

int main(int argc, char **argv)
{
	secs = argc > 1 ? atof(argv[1]) : 1.0;
	int n = argc > 2 ? atoi(argv[2]) : 0;
	if (n <= 0) {
		spin(NULL);
		return 0;
	}
	pthread_t *t = calloc(n, sizeof *t);
	for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, spin, NULL);
	for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
	free(t);
	return 0;
}
