/* blocker.c — test helper for off-CPU profiling: a thread blocks reading a
 * pipe, in a known function, a known number of times.
 * usage: blocker [N [MS]]      (default 10 × 100 ms)
 *        blocker busy SECS     (spin, never block)
 * Prints, one per line, "NAME 0xADDR 0xSIZE" for libc's read (from its
 * dynamic symbol) and "NAME 0xADDR" for wait_here_on_pipe and
 * caller_of_wait (runtime addresses; the test finds their sizes in the
 * binary's symtab), then "tid T" of the blocking thread and "ready"; waits
 * for a line on stdin before it starts, so the caller can set up first. */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int pfd[2];
static sem_t start;
static int rounds = 10, ms = 100;
static volatile pid_t blocker_tid;

__attribute__((noinline)) ssize_t wait_here_on_pipe(int fd, char *buf)
{
	ssize_t r = read(fd, buf, 1);
	__asm__ volatile("" ::: "memory"); /* keep the call a call */
	return r;
}

__attribute__((noinline)) int caller_of_wait(int fd)
{
	char c;
	int n = 0;
	for (int i = 0; i < rounds; i++)
		n += wait_here_on_pipe(fd, &c) == 1;
	__asm__ volatile("" ::: "memory");
	return n;
}

static void *blocker(void *arg)
{
	(void)arg;
	blocker_tid = gettid();
	/* the interval counted starts with "go", not before tracking */
	while (sem_wait(&start) != 0)
		;
	return (void *)(long)caller_of_wait(pfd[0]);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void print_dyn(const char *name)
{
	void *a = dlsym(RTLD_DEFAULT, name);
	Dl_info info;
	const ElfW(Sym) *sym = NULL;

	if (a && dladdr1(a, &info, (void **)&sym, RTLD_DL_SYMENT) && sym)
		printf("%s %p 0x%lx\n", name, a, (unsigned long)sym->st_size);
}

int main(int argc, char **argv)
{
	char line[64];
	pthread_t t;

	if (argc > 2 && strcmp(argv[1], "busy") == 0) {
		volatile unsigned long x = 0;
		double end;

		printf("ready\n");
		fflush(stdout);
		if (!fgets(line, sizeof line, stdin))
			return 1;
		end = now() + atof(argv[2]);
		while (now() < end)
			for (int i = 0; i < 100000; i++)
				x += i;
		return 0;
	}
	if (argc > 1)
		rounds = atoi(argv[1]);
	if (argc > 2)
		ms = atoi(argv[2]);
	print_dyn("read");
	printf("wait_here_on_pipe %p\n", (void *)wait_here_on_pipe);
	printf("caller_of_wait %p\n", (void *)caller_of_wait);
	if (pipe(pfd))
		return 1;
	sem_init(&start, 0, 0);
	pthread_create(&t, NULL, blocker, NULL);
	while (!blocker_tid)
		usleep(1000);
	printf("tid %d\nready\n", (int)blocker_tid);
	fflush(stdout);
	if (!fgets(line, sizeof line, stdin))
		return 1;
	sem_post(&start);
	for (int i = 0; i < rounds; i++) {
		struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		if (write(pfd[1], "x", 1) != 1)
			return 1;
	}
	pthread_join(t, NULL);
	return 0;
}
