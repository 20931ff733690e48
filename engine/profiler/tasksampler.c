/*
 * tasksampler.c — loads the task-iterator program and reads its samples
 * (see tasksampler.h). Owns the light skeleton (its maps, program and
 * link fds), the read buffer and the snapshot.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include <linux/bpf.h>
#include <linux/types.h>

/* skel_internal.h uses errno and syscall() without including their headers */
#include "tasks.lskel.h"
#include "bpfstats.h"

#include "../../bpf/tasks.h"
#include "tasksampler.h"

struct dn_tasksampler {
	struct tasks_bpf *skel;
	int follow_fd, link_fd;
	char *buf;
	size_t cap;
	long clk_tck, page_size;
	struct dn_tasksnap snap;
	struct dn_tasksampler_stats st;
};

static int sys_bpf(int cmd, union bpf_attr *a)
{
	return (int)syscall(__NR_bpf, cmd, a, sizeof *a);
}

static int iter_create(int link_fd)
{
	union bpf_attr a;
	memset(&a, 0, sizeof a);
	a.iter_create.link_fd = (__u32)link_fd;
	return sys_bpf(BPF_ITER_CREATE, &a);
}

static int map_update(int fd, const void *key, const void *val)
{
	union bpf_attr a;
	memset(&a, 0, sizeof a);
	a.map_fd = (__u32)fd;
	a.key = (__u64)(uintptr_t)key;
	a.value = (__u64)(uintptr_t)val;
	a.flags = BPF_ANY;
	return sys_bpf(BPF_MAP_UPDATE_ELEM, &a);
}

static int map_delete(int fd, const void *key)
{
	union bpf_attr a;
	memset(&a, 0, sizeof a);
	a.map_fd = (__u32)fd;
	a.key = (__u64)(uintptr_t)key;
	return sys_bpf(BPF_MAP_DELETE_ELEM, &a);
}

/* The program reads the kernel's (initial namespace) pids; the iterator
 * walks the reader's namespace: the two agree in the initial one only,
 * whose inode number is fixed (PROC_PID_INIT_INO). */
static bool in_initial_pid_ns(void)
{
	char link[64];
	ssize_t n = readlink("/proc/self/ns/pid", link, sizeof link - 1);
	if (n <= 0)
		return true; /* no /proc/self/ns: nothing says otherwise */
	link[n] = '\0';
	return strcmp(link, "pid:[4026531836]") == 0;
}

struct dn_tasksampler *dn_tasksampler_open(char *why, size_t whylen)
{
	if (!in_initial_pid_ns()) {
		snprintf(why, whylen, "denet runs in a child pid namespace");
		errno = EPERM;
		return NULL;
	}
	struct dn_tasksampler *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	s->follow_fd = s->link_fd = -1;
	s->clk_tck = sysconf(_SC_CLK_TCK);
	s->page_size = sysconf(_SC_PAGESIZE);
	if (s->clk_tck <= 0)
		s->clk_tck = 100;
	if (s->page_size <= 0)
		s->page_size = 4096;
	s->skel = tasks_bpf__open();
	if (!s->skel) {
		int e = errno;
		snprintf(why, whylen, "cannot open the task iterator program: %s", strerror(e));
		free(s);
		errno = e;
		return NULL;
	}
	if (tasks_bpf__load(s->skel) != 0) {
		int e = errno ? errno : EINVAL;
		snprintf(why, whylen, "cannot load the task iterator program: %s%s", strerror(e),
			 e == EPERM ? " (needs root, or CAP_BPF and CAP_PERFMON)" : "");
		dn_tasksampler_close(s);
		errno = e;
		return NULL;
	}
	s->follow_fd = s->skel->maps.follow.map_fd;
	s->link_fd = tasks_bpf__dn_tasks__attach(s->skel);
	if (s->link_fd < 0) {
		int e = errno ? errno : EINVAL;
		snprintf(why, whylen, "cannot attach the task iterator: %s", strerror(e));
		dn_tasksampler_close(s);
		errno = e;
		return NULL;
	}
	return s;
}

void dn_tasksampler_close(struct dn_tasksampler *s)
{
	if (!s)
		return;
	if (s->skel)
		tasks_bpf__destroy(s->skel); /* closes the link, program and maps */
	free(s->buf);
	dn_tasksnap_free(&s->snap);
	free(s);
}

int dn_tasksampler_follow(struct dn_tasksampler *s, pid_t pid, bool on)
{
	__u32 key = (__u32)pid;
	__u8 one = 1;
	if (pid <= 0)
		return -EINVAL;
	int r = on ? map_update(s->follow_fd, &key, &one) : map_delete(s->follow_fd, &key);
	if (r < 0 && !(errno == ENOENT && !on))
		return -errno;
	return 0;
}

void dn_tasksampler_descendants(struct dn_tasksampler *s, bool on)
{
	s->skel->bss->descendants = on;
}

static void source_descendants(void *ctx, bool on)
{
	dn_tasksampler_descendants(ctx, on);
}

void dn_tasksampler_follow_all(struct dn_tasksampler *s, bool on)
{
	s->skel->bss->follow_all = on;
}

/* One pass of the iterator into s->buf. The length, or -errno. */
static ssize_t read_sample(struct dn_tasksampler *s)
{
	int fd = iter_create(s->link_fd);
	if (fd < 0)
		return -errno;
	size_t len = 0;
	ssize_t r;
	for (;;) {
		if (s->cap - len < 16384) {
			size_t ncap = s->cap ? s->cap * 2 : 65536;
			char *nb = realloc(s->buf, ncap);
			if (!nb) {
				close(fd);
				return -ENOMEM;
			}
			s->buf = nb;
			s->cap = ncap;
		}
		r = read(fd, s->buf + len, s->cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	int e = r < 0 ? errno : 0;
	close(fd);
	return e ? -e : (ssize_t)len;
}

const struct dn_tasksnap *dn_tasksampler_sample(struct dn_tasksampler *s)
{
	ssize_t n = read_sample(s);
	int r = n < 0 ? (int)n
		      : dn_tasksnap_build(&s->snap, s->buf, (size_t)n, s->clk_tck, s->page_size);
	s->st.samples++;
	if (r < 0) {
		s->st.failures++;
		errno = -r;
		return NULL;
	}
	return &s->snap;
}

static const struct dn_tasksnap *source_refresh(void *ctx)
{
	return dn_tasksampler_sample(ctx);
}

static void source_follow(void *ctx, pid_t pid, bool on)
{
	dn_tasksampler_follow(ctx, pid, on);
}

struct dn_tree_source dn_tasksampler_source(struct dn_tasksampler *s)
{
	struct dn_tree_source src = {.ctx = s,
				     .refresh = source_refresh,
				     .follow = source_follow,
				     .descendants = source_descendants};
	return src;
}

void dn_tasksampler_stats(const struct dn_tasksampler *s, struct dn_tasksampler_stats *out)
{
	*out = s->st;
}

void dn_tasksampler_bpf_cost(const struct dn_tasksampler *s, struct dn_bpf_cost *c)
{
	int fd = s->skel->progs.dn_tasks.prog_fd;
	dn_bpf_cost_add(c, &fd, 1);
}
