/*
 * psi_read.c — the per-sample cost of pressure stall information: one
 * dn_psi_read (engine/core/psi.c: pread of the three /proc/pressure files,
 * and of a cgroup's three *.pressure files when a cgroup2 directory is
 * given), against a pread of /proc/self/statm on a kept fd (the cheapest
 * per-process read, PLATFORM.md) measured alongside.
 *
 * usage: psi_read [CGROUP2_DIR [ITERS]]
 * Prints "us_per_read=X statm_us=Y files=N".
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "clock.h"
#include "psi.h"

int main(int argc, char **argv)
{
	const char *dir = argc > 1 && argv[1][0] ? argv[1] : NULL;
	int iters = argc > 2 ? atoi(argv[2]) : 20000;
	struct dn_psi p;
	char why[160];
	dn_psi_init(&p);
	if (iters <= 0 || dn_psi_open(&p, dir, dn_mono_ns(), why, sizeof why) < 0) {
		fprintf(stderr, "psi_read: %s\n", iters <= 0 ? "bad ITERS" : why);
		return 1;
	}
	int files = 0;
	for (int r = 0; r < DN_PSI_NRES; r++)
		files += (p.sys.fd[r] >= 0) + (p.cg.fd[r] >= 0);
	uint64_t t0 = dn_mono_ns();
	for (int i = 0; i < iters; i++)
		dn_psi_read(&p, dn_mono_ns());
	double us = (double)(dn_mono_ns() - t0) / iters / 1e3;
	dn_psi_close(&p);
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	char buf[256];
	t0 = dn_mono_ns();
	for (int i = 0; fd >= 0 && i < iters; i++)
		if (pread(fd, buf, sizeof buf, 0) < 0)
			break;
	double statm = (double)(dn_mono_ns() - t0) / iters / 1e3;
	if (fd >= 0)
		close(fd);
	printf("us_per_read=%.1f statm_us=%.2f files=%d\n", us, statm, files);
	return 0;
}
