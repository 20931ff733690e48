/*
 * iomix — a small tree whose every counter is non-zero and then still:
 * the workload of the sampler agreement tests (tests/unit/test_tasksampler.c,
 * tests/spec/bpf_sampler_spec.lua).
 *
 *   iomix DIR NCHILD
 *
 * The root and NCHILD children (one of them with a child of its own) each
 * write 256 KiB to DIR/iomix.PID with fsync (disk write bytes), read it
 * back, touch 8 MiB plus 1 MiB per child index of fresh memory, and run two
 * threads that spin 30 ms each: one exits (its CPU, faults and I/O then live
 * in the process's signal_struct), one stays blocked. Then every process
 * blocks in pause(). The root prints "ready PID" on stdout once the whole
 * tree is still; SIGTERM to the root kills the tree. The files are
 * unlinked as soon as they are open.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *dir;
static volatile int stayer_spun;

static void spin_ms(int ms)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	do
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

static void *spinner(void *arg)
{
	spin_ms(30);
	if (arg) {
		__atomic_store_n(&stayer_spun, 1, __ATOMIC_RELEASE);
		for (;;)
			pause();
	}
	return NULL;
}

static void work(int idx)
{
	char path[4096], buf[65536];
	snprintf(path, sizeof path, "%s/iomix.%d", dir, (int)getpid());
	memset(buf, 'x', sizeof buf);
	int fd = open(path, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	unlink(path); /* the data stays until close: nothing is left behind */
	for (int i = 0; i < 4; i++)
		if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
			exit(1);
	fsync(fd);
	lseek(fd, 0, SEEK_SET);
	while (read(fd, buf, sizeof buf) > 0)
		;
	close(fd);
	size_t len = (size_t)(8 + idx) << 20;
	char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		exit(1);
	for (size_t i = 0; i < len; i += 4096)
		mem[i] = 1;
	pthread_t a, b;
	pthread_create(&a, NULL, spinner, NULL);
	pthread_create(&b, NULL, spinner, "stay");
	pthread_join(a, NULL);
	while (!__atomic_load_n(&stayer_spun, __ATOMIC_ACQUIRE))
		usleep(1000);
	spin_ms(30);
}

static void cleanup(int sig)
{
	(void)sig;
	kill(0, SIGKILL); /* our process group: the children (and us) */
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: iomix DIR NCHILD\n");
		return 2;
	}
	dir = argv[1];
	int n = atoi(argv[2]);
	int ready[2];
	if (pipe(ready) < 0)
		return 1;
	setpgid(0, 0);
	for (int i = 0; i < n; i++) {
		if (fork() == 0) {
			if (i == 0 && fork() == 0) {
				work(n + 1);
				if (write(ready[1], "g", 1) != 1)
					_exit(1);
				for (;;)
					pause();
			}
			work(i + 1);
			if (write(ready[1], "c", 1) != 1)
				_exit(1);
			for (;;)
				pause();
		}
	}
	work(0);
	char c;
	for (int i = 0; i < n + (n > 0); i++)
		if (read(ready[0], &c, 1) != 1)
			return 1;
	signal(SIGTERM, cleanup);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	for (;;)
		pause();
}
