/* shortlived.c — test helper: blocks N × MS ms in wait_here_short (a
 * nanosleep) and exits at once. usage: shortlived [N [MS]] (3 × 50). */
#include <stdlib.h>
#include <time.h>

__attribute__((noinline)) int wait_here_short(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	int r = nanosleep(&ts, NULL);
	__asm__ volatile("" ::: "memory"); /* keep the call a call */
	return r;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 3, ms = argc > 2 ? atoi(argv[2]) : 50;

	for (int i = 0; i < n; i++)
		wait_here_short(ms);
	return 0;
}
