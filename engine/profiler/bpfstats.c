/*
 * bpfstats.c — run-time statistics of BPF programs by fd (see bpfstats.h).
 */
#include <fcntl.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpfstats.h"

static int prog_info(int fd, struct bpf_prog_info *info)
{
	union bpf_attr a;
	memset(&a, 0, sizeof a);
	memset(info, 0, sizeof *info);
	a.info.bpf_fd = (__u32)fd;
	a.info.info_len = sizeof *info;
	a.info.info = (__u64)(uintptr_t)info;
	return (int)syscall(__NR_bpf, BPF_OBJ_GET_INFO_BY_FD, &a, sizeof a);
}

void dn_bpf_cost_add(struct dn_bpf_cost *c, const int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		struct bpf_prog_info info;
		if (fds[i] < 0 || prog_info(fds[i], &info) != 0)
			continue;
		c->run_ns += info.run_time_ns;
		c->run_cnt += info.run_cnt;
		c->progs++;
	}
}

bool dn_bpf_stats_sysctl(void)
{
	char v = '0';
	int fd = open("/proc/sys/kernel/bpf_stats_enabled", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t r = read(fd, &v, 1);
	close(fd);
	return r == 1 && v == '1';
}
