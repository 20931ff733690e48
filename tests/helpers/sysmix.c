/* sysmix.c — test helper for the eBPF syscall tracker: a known syscall mix.
 * usage: sysmix [--wait-stdin] [--children N] [SLEEP_MS]   (SLEEP_MS 50)
 *
 * In this order:
 *   --wait-stdin   read one line from stdin (a tracer attaches first);
 *   --children N   fork N children that each make exactly 100
 *                  syscall(SYS_getppid) and _exit(0); all reaped with
 *                  waitpid before the mix (short-lived children: the tree
 *                  then makes 10 000 + 100 * N getppid);
 *   exactly 10 000 syscall(SYS_getppid);
 *   exactly 1 000 fsync() on a temporary file (mkstemp in $TMPDIR or /tmp),
 *   each after a one-byte write(): exactly 1 000 writes to that fd too
 *   (the line printed at the end is one more write, to stdout); the file
 *   is unlinked at the end;
 *   exactly 100 failing syscall(SYS_open, "/nonexistent/denet-sysmix-N",
 *   O_RDONLY) (ENOENT). The legacy open (nr 2 on x86_64) because glibc
 *   never calls it itself, so its count and errors are ours alone; where
 *   the architecture has no SYS_open (arm64) it is SYS_openat(AT_FDCWD,
 *   ...), which the loader and libc also use, so "openat" then counts more;
 *   one syscall(SYS_nanosleep) of SLEEP_MS ms (the raw nanosleep, not
 *   glibc's clock_nanosleep, so the tracker can tell it apart; restarted
 *   only if a signal interrupts it);
 * then prints "sysmix getppid=10000 fsync=1000 open_failed=100
 * sleep_ms=50 pid=PID" (the counts it made) and exits 0; 1 if any count
 * came out different, 2 on a bad argument. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_GETPPID 10000
#define N_FSYNC 1000
#define N_OPEN 100
#define N_CHILD_GETPPID 100

static int usage(void)
{
	fprintf(stderr, "usage: sysmix [--wait-stdin] [--children N] [SLEEP_MS]\n");
	return 2;
}

static long failing_open(int i)
{
	char path[64];
	snprintf(path, sizeof path, "/nonexistent/denet-sysmix-%d", i);
#ifdef SYS_open
	return syscall(SYS_open, path, O_RDONLY);
#else
	return syscall(SYS_openat, AT_FDCWD, path, O_RDONLY);
#endif
}

int main(int argc, char **argv)
{
	int wait_stdin = 0, children = 0;
	long sleep_ms = 50;
	int n_getppid = 0, n_fsync = 0, n_open_failed = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--wait-stdin") == 0)
			wait_stdin = 1;
		else if (strcmp(argv[i], "--children") == 0 && i + 1 < argc)
			children = atoi(argv[++i]);
		else if (argv[i][0] >= '0' && argv[i][0] <= '9')
			sleep_ms = atol(argv[i]);
		else
			return usage();
	}
	if (children < 0)
		return usage();

	if (wait_stdin) {
		char line[256];
		if (!fgets(line, sizeof line, stdin))
			return 1;
	}

	for (int c = 0; c < children; c++) {
		pid_t kid = fork();
		if (kid < 0) {
			perror("sysmix: fork");
			return 1;
		}
		if (kid == 0) {
			for (int i = 0; i < N_CHILD_GETPPID; i++)
				syscall(SYS_getppid);
			_exit(0);
		}
	}
	for (int c = 0; c < children; c++) {
		int st;
		if (waitpid(-1, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			return 1;
	}

	for (int i = 0; i < N_GETPPID; i++, n_getppid++)
		syscall(SYS_getppid); /* cannot fail (0 under a pid namespace's init) */

	const char *dir = getenv("TMPDIR");
	char path[4096];
	snprintf(path, sizeof path, "%s/denet-sysmix.XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0) {
		perror("sysmix: mkstemp");
		return 1;
	}
	for (int i = 0; i < N_FSYNC; i++)
		if (write(fd, "x", 1) == 1 && fsync(fd) == 0)
			n_fsync++;
	close(fd);
	unlink(path);

	for (int i = 0; i < N_OPEN; i++)
		if (failing_open(i) < 0 && errno == ENOENT)
			n_open_failed++;

	struct timespec ts = {sleep_ms / 1000, (sleep_ms % 1000) * 1000000L};
	while (syscall(SYS_nanosleep, &ts, &ts) != 0 && errno == EINTR)
		;

	printf("sysmix getppid=%d fsync=%d open_failed=%d sleep_ms=%ld pid=%d\n", n_getppid, n_fsync,
	       n_open_failed, sleep_ms, (int)getpid());
	fflush(stdout);
	return n_getppid == N_GETPPID && n_fsync == N_FSYNC && n_open_failed == N_OPEN ? 0 : 1;
}
