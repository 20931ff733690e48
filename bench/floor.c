/*
 * floor.c — the physical floor of sampling a process tree: the same /proc
 * files denet reads (stat, io, schedstat, task/PID/children) for the same
 * pids, through fds kept open, with pread at offset 0, parsing nothing.
 * The tree is discovered once, before timing (no new-process discovery in
 * the loop: a real sampler cannot do less).
 *
 * usage: floor PID ITERS [REPS [FILES]]
 *   FILES: a comma list of stat,io,schedstat,children (default all four)
 * Prints one line per repetition: "us_per_sample=X procs=N".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char buf[1 << 16];

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int open_file(int pid, const char *name)
{
	char path[96];
	if (strcmp(name, "children") == 0)
		snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
	else
		snprintf(path, sizeof path, "/proc/%d/%s", pid, name);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* Read a file whole; children hands out ~4 KiB per read (proc_tid_children: loop to EOF). */
static ssize_t read_all(int fd)
{
	ssize_t len = 0, r;
	while ((r = pread(fd, buf + len, sizeof buf - (size_t)len, len)) > 0) {
		len += r;
		if (r < 2048)
			break;
	}
	return len;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: floor PID ITERS [REPS [FILES]]\n");
		return 2;
	}
	int root = atoi(argv[1]), iters = atoi(argv[2]);
	int reps = argc > 3 ? atoi(argv[3]) : 1;
	const char *want = argc > 4 ? argv[4] : "stat,io,schedstat,children";
	static const char *names[] = { "stat", "io", "schedstat", "children" };
	int use[4];
	for (int k = 0; k < 4; k++)
		use[k] = strstr(want, names[k]) != NULL;

	/* discover the tree once, breadth first */
	size_t cap = 1024, n = 0;
	int *pids = malloc(cap * sizeof *pids);
	pids[n++] = root;
	for (size_t i = 0; i < n; i++) {
		int fd = open_file(pids[i], "children");
		if (fd < 0)
			continue;
		ssize_t len = read_all(fd);
		close(fd);
		buf[len > 0 ? len : 0] = '\0';
		for (char *p = buf, *e; *p; p = e) {
			long v = strtol(p, &e, 10);
			if (e == p)
				break;
			if (n == cap)
				pids = realloc(pids, (cap *= 2) * sizeof *pids);
			pids[n++] = (int)v;
		}
	}
	int(*fds)[4] = malloc(n * sizeof *fds);
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 4; k++)
			fds[i][k] = use[k] ? open_file(pids[i], names[k]) : -1;

	long sink = 0;
	for (int rep = -1; rep < reps; rep++) { /* rep -1: warm-up */
		double t0 = now();
		for (int it = 0; it < iters; it++)
			for (size_t i = 0; i < n; i++)
				for (int k = 0; k < 4; k++)
					if (fds[i][k] >= 0)
						sink += read_all(fds[i][k]);
		double t1 = now();
		if (rep >= 0)
			printf("us_per_sample=%.2f procs=%zu\n", (t1 - t0) * 1e6 / iters, n);
	}
	return sink < 0;
}
