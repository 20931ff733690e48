/* memsteps.c — test helper: resident memory in a timed pattern.
 * usage: memsteps MIB:MS [MIB:MS...]
 * For each step, make exactly MIB MiB of an anonymous mapping resident
 * (writing to every page when growing, MADV_DONTNEED on the tail when
 * shrinking, so RSS follows at once) and hold it for MS milliseconds.
 * Before holding, prints "step I MIB WALL_MS" on stdout (wall-clock ms,
 * the clock of denet's ts_ms) so a test can line alerts up with steps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static long long wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	size_t max = 0;
	for (int i = 1; i < argc; i++) {
		size_t mib = strtoul(argv[i], NULL, 10);
		if (mib > max)
			max = mib;
	}
	size_t cap = (max ? max : 1) << 20;
	char *mem = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("memsteps: mmap");
		return 1;
	}
	size_t cur = 0;
	for (int i = 1; i < argc; i++) {
		char *colon = strchr(argv[i], ':');
		size_t want = strtoul(argv[i], NULL, 10) << 20;
		long ms = colon ? strtol(colon + 1, NULL, 10) : 0;
		if (want > cur) {
			for (size_t off = cur; off < want; off += 4096)
				mem[off] = 1;
		} else if (want < cur) {
			madvise(mem + want, cur - want, MADV_DONTNEED);
		}
		cur = want;
		printf("step %d %zu %lld\n", i, want >> 20, wall_ms());
		fflush(stdout);
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
		while (nanosleep(&ts, &ts) != 0)
			;
	}
	return 0;
}
