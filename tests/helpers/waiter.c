/* waiter.c — test helper for multi-frame recovery: threads blocked in libc
 * two or more frames deep, below functions with frame pointers.
 * usage: waiter [N [MS]]   (default 10 × 100 ms)
 * Thread A calls usleep(MS ms) N times in wait_here_in_usleep (usleep →
 * nanosleep → clock_nanosleep: three libc frames without frame pointer);
 * thread B waits N times MS ms with pthread_cond_timedwait in
 * wait_here_on_cond (glibc's futex wait clobbers rbp). Prints "NAME 0xADDR"
 * for both functions and their callers, "usleep_tid T", "cond_tid T",
 * "ready", and waits for a line on stdin before it starts. */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int rounds = 10, ms = 100;
static sem_t start;
static volatile pid_t tid_usleep, tid_cond;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

__attribute__((noinline)) int wait_here_in_usleep(unsigned us)
{
	int r = usleep(us);
	__asm__ volatile("" ::: "memory"); /* keep the call a call */
	return r;
}

__attribute__((noinline)) int usleep_caller(void)
{
	int n = 0;
	for (int i = 0; i < rounds; i++)
		n += wait_here_in_usleep((unsigned)ms * 1000) == 0;
	__asm__ volatile("" ::: "memory");
	return n;
}

__attribute__((noinline)) int wait_here_on_cond(const struct timespec *until)
{
	int r;
	pthread_mutex_lock(&mu);
	r = pthread_cond_timedwait(&cv, &mu, until);
	pthread_mutex_unlock(&mu);
	__asm__ volatile("" ::: "memory");
	return r;
}

__attribute__((noinline)) int cond_caller(void)
{
	int n = 0;
	for (int i = 0; i < rounds; i++) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)ms * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		n += wait_here_on_cond(&ts) != 0;
	}
	__asm__ volatile("" ::: "memory");
	return n;
}

static void *thread_usleep(void *arg)
{
	(void)arg;
	tid_usleep = gettid();
	while (sem_wait(&start) != 0)
		;
	return (void *)(long)usleep_caller();
}

static void *thread_cond(void *arg)
{
	(void)arg;
	tid_cond = gettid();
	while (sem_wait(&start) != 0)
		;
	return (void *)(long)cond_caller();
}

int main(int argc, char **argv)
{
	pthread_t a, b;
	char line[64];

	if (argc > 1)
		rounds = atoi(argv[1]);
	if (argc > 2)
		ms = atoi(argv[2]);
	sem_init(&start, 0, 0);
	pthread_create(&a, NULL, thread_usleep, NULL);
	pthread_create(&b, NULL, thread_cond, NULL);
	while (!tid_usleep || !tid_cond)
		usleep(1000);
	printf("wait_here_in_usleep %p\n", (void *)wait_here_in_usleep);
	printf("usleep_caller %p\n", (void *)usleep_caller);
	printf("wait_here_on_cond %p\n", (void *)wait_here_on_cond);
	printf("cond_caller %p\n", (void *)cond_caller);
	printf("usleep_tid %d\ncond_tid %d\nready\n", (int)tid_usleep, (int)tid_cond);
	fflush(stdout);
	if (!fgets(line, sizeof line, stdin))
		return 1;
	sem_post(&start);
	sem_post(&start);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	return 0;
}
