/* pagethrash.c — test helper: memory pressure without swap, for the PSI
 * tests. usage: pagethrash LIMIT_MIB FILE_MIB SECS DIR
 *
 * Moves itself into a new memory cgroup below its own (cgroup2 when the
 * memory controller is there, else the v1 memory hierarchy) capped at
 * LIMIT_MIB (0: no cgroup, no cap), writes a FILE_MIB file in DIR (a disk,
 * not tmpfs: page cache must be reclaimable) and reads it over and over for
 * SECS seconds. A file larger than the cap cannot stay cached: every round
 * reclaims and refaults it, which the kernel counts as memory stall of the
 * cgroup and of every cgroup above it (the run's). Staying below its own
 * cgroup keeps it in the run's cgroup on both layouts.
 * Prints "rounds N" at the end. Exit 77 when the cap cannot be set (the
 * spec then skips with the message). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	int e = errno;
	close(fd);
	errno = e;
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* The mount point of cgroup2 (want_v2) or of the v1 hierarchy with the
 * memory controller. */
static int find_mount(int want_v2, char *mnt, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -1;
	char line[4096];
	int found = -1;
	while (found < 0 && fgets(line, sizeof line, f)) {
		char root[1024], point[1024], fstype[64], super[1024];
		char *dash = strstr(line, " - ");
		if (!dash || sscanf(line, "%*s %*s %*s %1023s %1023s", root, point) != 2 ||
		    sscanf(dash + 3, "%63s %*s %1023s", fstype, super) != 2)
			continue;
		if (want_v2 && strcmp(fstype, "cgroup2") == 0)
			found = 0;
		if (!want_v2 && strcmp(fstype, "cgroup") == 0) {
			for (char *t = strtok(super, ","); t; t = strtok(NULL, ","))
				if (strcmp(t, "memory") == 0)
					found = 0;
		}
		if (found == 0)
			snprintf(mnt, len, "%s", point);
	}
	fclose(f);
	return found;
}

/* This process's cgroup path: the "0::" line, or the v1 line with memory. */
static int own_cgroup(int want_v2, char *path, size_t len)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -1;
	char line[4096];
	int found = -1;
	while (found < 0 && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		const char *ctrl = c1 + 1;
		int match = want_v2 ? *ctrl == '\0' : 0;
		if (!want_v2) {
			char tmp[256];
			snprintf(tmp, sizeof tmp, "%s", ctrl);
			for (char *t = strtok(tmp, ","); t; t = strtok(NULL, ","))
				if (strcmp(t, "memory") == 0)
					match = 1;
		}
		if (match) {
			snprintf(path, len, "%s", c2 + 1);
			found = 0;
		}
	}
	fclose(f);
	return found;
}

static int v2_has_memory(const char *mnt)
{
	char p[4200], buf[512] = {0};
	snprintf(p, sizeof p, "%s/cgroup.controllers", mnt);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	return n > 0 && strstr(buf, "memory") != NULL;
}

static char leaf[8400]; /* the capped cgroup, for the clean-up */

static int cap_memory(unsigned long mib)
{
	char mnt[1024], own[4096], p[8500], num[32], pid[32];
	int v2 = find_mount(1, mnt, sizeof mnt) == 0 && v2_has_memory(mnt);
	if (!v2 && find_mount(0, mnt, sizeof mnt) < 0) {
		fprintf(stderr, "pagethrash: no memory controller mounted\n");
		return -1;
	}
	if (own_cgroup(v2, own, sizeof own) < 0) {
		fprintf(stderr, "pagethrash: own cgroup not found\n");
		return -1;
	}
	snprintf(leaf, sizeof leaf, "%s%s/pagethrash-%d", mnt, strcmp(own, "/") ? own : "",
		 (int)getpid());
	snprintf(num, sizeof num, "%lu", mib << 20);
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	if (mkdir(leaf, 0755) < 0) {
		fprintf(stderr, "pagethrash: mkdir %s: %s\n", leaf, strerror(errno));
		leaf[0] = '\0';
		return -1;
	}
	if (v2) {
		/* in first: the parent may then enable memory for its
		 * children (no processes of its own) */
		snprintf(p, sizeof p, "%s/cgroup.procs", leaf);
		if (write_file(p, pid) < 0)
			goto fail;
		snprintf(p, sizeof p, "%s%s/cgroup.subtree_control", mnt, own);
		write_file(p, "+memory"); /* may be on already */
		snprintf(p, sizeof p, "%s/memory.max", leaf);
		if (write_file(p, num) < 0)
			goto fail;
		snprintf(p, sizeof p, "%s/memory.swap.max", leaf);
		write_file(p, "0"); /* no swap file here anyway */
	} else {
		snprintf(p, sizeof p, "%s/memory.limit_in_bytes", leaf);
		if (write_file(p, num) < 0)
			goto fail;
		snprintf(p, sizeof p, "%s/cgroup.procs", leaf);
		if (write_file(p, pid) < 0)
			goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "pagethrash: %s: %s\n", p, strerror(errno));
	return -1;
}

/* Back to the parent and the capped cgroup removed (v1; on cgroup2 the
 * parent may refuse processes now, and denet removes what the run made). */
static void uncap(void)
{
	if (!leaf[0])
		return;
	char parent[8400], p[8500], pid[32];
	snprintf(parent, sizeof parent, "%s", leaf);
	*strrchr(parent, '/') = '\0';
	snprintf(p, sizeof p, "%s/cgroup.procs", parent);
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	if (write_file(p, pid) == 0)
		rmdir(leaf);
}

static double now_secs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: pagethrash LIMIT_MIB FILE_MIB SECS DIR\n");
		return 2;
	}
	unsigned long limit = strtoul(argv[1], NULL, 10), size = strtoul(argv[2], NULL, 10);
	double secs = atof(argv[3]);
	if (limit > 0 && cap_memory(limit) < 0) {
		if (leaf[0])
			rmdir(leaf);
		return 77;
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/pagethrash.%d", argv[4], (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "pagethrash: %s: %s\n", path, strerror(errno));
		uncap();
		return 1;
	}
	unlink(path); /* gone with the fd, whatever happens */
	static char block[1 << 20];
	for (size_t i = 0; i < sizeof block; i++)
		block[i] = (char)(i * 7 + 1);
	int rc = 0;
	for (unsigned long i = 0; i < size && rc == 0; i++)
		if (write(fd, block, sizeof block) != (ssize_t)sizeof block)
			rc = 1;
	if (rc == 0 && fsync(fd) < 0)
		rc = 1;
	unsigned long rounds = 0;
	double end = now_secs() + secs;
	while (rc == 0 && now_secs() < end) {
		for (unsigned long i = 0; i < size; i++)
			if (pread(fd, block, sizeof block, (off_t)(i << 20)) < 0) {
				rc = 1;
				break;
			}
		rounds++;
	}
	if (rc)
		fprintf(stderr, "pagethrash: %s: %s\n", path, strerror(errno));
	close(fd);
	uncap();
	printf("rounds %lu\n", rounds);
	return rc;
}
