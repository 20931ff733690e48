/*
 * test_systrace.c — the syscall tracker on the real kernel: bpf/syscalls.bpf.h
 * (loaded with offcpu.bpf.c's object) and its drain, engine/profiler/systrace.c.
 *
 * Children of this test make known syscalls once told to (a byte on a
 * pipe): exactly N getppid, K failing open()s (the legacy SYS_open, which
 * glibc never uses itself) and a 20 ms nanosleep. Checked: the exact counts
 * and errors, the sleep's log2 bucket, the window arithmetic over two drains,
 * a bystander not counted, a child forked by a tracked process followed in
 * the kernel, the keys of an exited process gone from the kernel map while
 * its figures stay in the totals, and the quantiles of a histogram.
 * Needs root (or CAP_BPF+CAP_PERFMON): skipped with the reason otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "offcpu.h"
#include "syscall_table.h"
#include "systrace.h"
#include "unit.h"

#define N_GETPPID 5000
#define K_OPEN	  25

struct kid {
	pid_t pid;
	int go; /* write end: one byte starts the mix */
};

/* The mix, in a child: fork first (with_child) to a grandchild doing the
 * same getppid count, wait for it, then the calls. */
static void mix(bool with_child)
{
	if (with_child) {
		pid_t g = fork();
		if (g == 0) {
			for (int i = 0; i < N_GETPPID; i++)
				syscall(SYS_getppid);
			_exit(0);
		}
		waitpid(g, NULL, 0);
	}
	for (int i = 0; i < N_GETPPID; i++)
		syscall(SYS_getppid);
	for (int i = 0; i < K_OPEN; i++)
		syscall(SYS_open, "/nonexistent/denet-test-systrace", O_RDONLY);
	struct timespec ts = {0, 20 * 1000 * 1000};
	syscall(SYS_nanosleep, &ts, NULL);
}

static struct kid spawn(bool with_child)
{
	struct kid k = {-1, -1};
	int p[2];
	if (pipe(p) < 0)
		return k;
	k.pid = fork();
	if (k.pid == 0) {
		char c;
		close(p[1]);
		if (read(p[0], &c, 1) == 1)
			mix(with_child);
		_exit(0);
	}
	close(p[0]);
	k.go = p[1];
	return k;
}

static void run_to_end(struct kid *k)
{
	if (write(k->go, "x", 1) != 1)
		perror("write");
	close(k->go);
	waitpid(k->pid, NULL, 0);
}

static struct dn_offcpu *open_tracer(void)
{
	char why[256];
	const char *vg = getenv("VALGRIND");
	if (vg && strcmp(vg, "1") == 0) {
		/* its bpf(2) model checks fields libbpf's attrs do not have
		 * (attr->flags of GET_NEXT_KEY...): false reports */
		printf("# valgrind does not model bpf(2)\n");
		return NULL;
	}
	struct dn_offcpu_opts o = {.no_offcpu = true, .syscalls = true};
	struct dn_offcpu *p = dn_offcpu_open(&o, why, sizeof why);
	if (!p)
		printf("# eBPF unavailable: %s\n", why);
	return p;
}

/* The figures of (tgid, nr) in the last window, or NULL. */
static const struct dn_systrace_entry *entry(struct dn_systrace *t, pid_t tgid, int nr)
{
	const struct dn_systrace_entry *v;
	size_t n = dn_systrace_window(t, &v);
	for (size_t i = 0; i < n; i++)
		if (v[i].tgid == tgid && v[i].nr == nr)
			return &v[i];
	return NULL;
}

static void test_exact_counts(void)
{
	if (geteuid() != 0)
		UNIT_SKIP("needs root for eBPF");
	/* the children first: they hold no copy of what the test allocates */
	struct kid traced = spawn(false), bystander = spawn(false);
	struct dn_offcpu *p = open_tracer();
	if (!p) {
		run_to_end(&traced);
		run_to_end(&bystander);
		UNIT_SKIP("eBPF unavailable here (see the line above)");
	}
	struct dn_systrace *t = dn_systrace_new(p);
	CHECK(t != NULL);
	CHECK_INT(dn_offcpu_track(p, traced.pid), 0);
	run_to_end(&bystander);
	run_to_end(&traced);
	CHECK_INT(dn_systrace_drain(t), 0);
	const struct dn_systrace_entry *e = entry(t, traced.pid, SYS_getppid);
	CHECK(e != NULL);
	if (e) {
		CHECK_INT(e->window.count, N_GETPPID);
		CHECK_INT(e->window.errors, 0);
		CHECK_INT(e->total.count, N_GETPPID);
	}
	e = entry(t, traced.pid, SYS_open);
	CHECK(e != NULL);
	if (e) {
		CHECK_INT(e->window.count, K_OPEN);
		CHECK_INT(e->window.errors, K_OPEN);
	}
	/* 20 ms = 2^24.25 ns: bucket 25 holds [2^24, 2^25) ns (16.8..33.6 ms) */
	e = entry(t, traced.pid, SYS_nanosleep);
	CHECK(e != NULL);
	if (e) {
		CHECK_INT(e->window.count, 1);
		CHECK_INT(e->window.hist[25], 1);
		CHECK(e->total.max_ns >= 20 * 1000 * 1000);
		CHECK(e->total.time_ns >= 20 * 1000 * 1000);
		uint64_t p50 = dn_systrace_quantile(&e->total, 0.5);
		CHECK(p50 >= 20 * 1000 * 1000 && p50 <= e->total.max_ns);
	}
	/* exit_group never returns: counted at entry */
	e = entry(t, traced.pid, SYS_exit_group);
	CHECK(e != NULL && e->window.count == 1);
	CHECK(entry(t, bystander.pid, SYS_getppid) == NULL);
	/* the tree's per-syscall figures */
	const struct dn_systrace_fig *f = dn_systrace_nr(t, SYS_getppid, false);
	CHECK(f && f->count == N_GETPPID);
	/* the process is gone: its keys left the kernel map at that drain,
	 * the next window is empty, the totals stay */
	CHECK_INT(dn_systrace_drain(t), 0);
	const struct dn_systrace_entry *v;
	CHECK_INT(dn_systrace_window(t, &v), 0);
	f = dn_systrace_nr(t, SYS_getppid, false);
	CHECK(f && f->count == N_GETPPID);
	struct {
		uint32_t tgid, nr; /* struct dn_syscall_key */
	} k, next;
	int fd = dn_offcpu_syscall_map(p), keys = 0;
	while (bpf_map_get_next_key(fd, keys ? &k : NULL, &next) == 0 && keys < 100000) {
		if (next.tgid == (uint32_t)traced.pid)
			printf("#   key (%u, %u) left behind\n", next.tgid, next.nr);
		CHECK(next.tgid != (uint32_t)traced.pid);
		k = next;
		keys++;
	}
	dn_systrace_free(t);
	dn_offcpu_close(p);
}

static void test_windows_add_up(void)
{
	if (geteuid() != 0)
		UNIT_SKIP("needs root for eBPF");
	struct kid a = spawn(false), b = spawn(false);
	struct dn_offcpu *p = open_tracer();
	if (!p) {
		run_to_end(&a);
		run_to_end(&b);
		UNIT_SKIP("eBPF unavailable here (see the line above)");
	}
	struct dn_systrace *t = dn_systrace_new(p);
	dn_offcpu_track(p, a.pid);
	dn_offcpu_track(p, b.pid);
	run_to_end(&a);
	CHECK_INT(dn_systrace_drain(t), 0);
	const struct dn_systrace_fig *w = dn_systrace_nr(t, SYS_getppid, true);
	CHECK(w && w->count == N_GETPPID);
	run_to_end(&b);
	CHECK_INT(dn_systrace_drain(t), 0);
	w = dn_systrace_nr(t, SYS_getppid, true);
	CHECK(w && w->count == N_GETPPID); /* b's only: no double count */
	const struct dn_systrace_fig *tot = dn_systrace_nr(t, SYS_getppid, false);
	CHECK(tot && tot->count == 2 * N_GETPPID);
	struct dn_systrace_fig all;
	dn_systrace_sum(t, false, &all);
	CHECK(all.count >= 2 * (N_GETPPID + K_OPEN + 2));
	CHECK(all.errors >= 2 * K_OPEN);
	CHECK_INT(dn_systrace_lost(t), 0);
	dn_systrace_free(t);
	dn_offcpu_close(p);
}

/* A child forked by a tracked process is followed by the kernel from its
 * first syscall, though user space never named it. */
static void test_forked_child_followed(void)
{
	if (geteuid() != 0)
		UNIT_SKIP("needs root for eBPF");
	struct kid k = spawn(true);
	struct dn_offcpu *p = open_tracer();
	if (!p) {
		run_to_end(&k);
		UNIT_SKIP("eBPF unavailable here (see the line above)");
	}
	struct dn_systrace *t = dn_systrace_new(p);
	dn_offcpu_track(p, k.pid);
	run_to_end(&k);
	CHECK_INT(dn_systrace_drain(t), 0);
	const struct dn_systrace_fig *f = dn_systrace_nr(t, SYS_getppid, false);
	CHECK(f && f->count == 2 * N_GETPPID);
	const struct dn_systrace_entry *v;
	size_t n = dn_systrace_window(t, &v);
	int pids_with_getppid = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].nr == SYS_getppid) {
			pids_with_getppid++;
			CHECK_INT(v[i].window.count, N_GETPPID);
		}
	CHECK_INT(pids_with_getppid, 2);
	dn_systrace_free(t);
	dn_offcpu_close(p);
}

/* Keys left in the kernel map, and those of tgid. */
static int kernel_keys(struct dn_offcpu *p, pid_t tgid, int *of_tgid)
{
	struct {
		uint32_t tgid, nr; /* struct dn_syscall_key */
	} k, next;
	int fd = dn_offcpu_syscall_map(p), keys = 0;
	*of_tgid = 0;
	while (bpf_map_get_next_key(fd, keys ? &k : NULL, &next) == 0 && keys < 100000) {
		*of_tgid += next.tgid == (uint32_t)tgid;
		k = next;
		keys++;
	}
	return keys;
}

/* 200 children of a tracked process come and go: the drains forget their
 * keys (their membership bits are clear at the first drain after), the
 * totals keep them. */
static void test_gone_keys_collected(void)
{
	if (geteuid() != 0)
		UNIT_SKIP("needs root for eBPF");
	int go[2], done[2];
	if (pipe(go) < 0 || pipe(done) < 0)
		UNIT_SKIP("pipe: %s", strerror(errno));
	pid_t parent = fork();
	if (parent == 0) {
		char c;
		close(go[1]);
		close(done[0]);
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		for (int i = 0; i < 200; i++) {
			pid_t k = fork();
			if (k == 0) {
				for (int j = 0; j < 10; j++)
					syscall(SYS_getppid);
				_exit(0);
			}
			waitpid(k, NULL, 0);
		}
		if (write(done[1], "d", 1) != 1)
			_exit(1);
		(void)read(go[0], &c, 1); /* until the test closes it */
		_exit(0);
	}
	close(go[0]);
	close(done[1]);
	struct dn_offcpu *p = open_tracer();
	struct dn_systrace *t = p ? dn_systrace_new(p) : NULL;
	if (t)
		dn_offcpu_track(p, parent);
	char c;
	if (write(go[1], "g", 1) != 1 || read(done[0], &c, 1) != 1)
		printf("# the parent did not run\n");
	if (!t) {
		close(go[1]);
		waitpid(parent, NULL, 0);
		UNIT_SKIP("eBPF unavailable here (see the line above)");
	}
	CHECK_INT(dn_systrace_drain(t), 0); /* one drain reads and forgets them */
	int of_parent, keys = kernel_keys(p, parent, &of_parent);
	CHECK_INT(keys, of_parent); /* only the live parent's */
	CHECK(of_parent > 0);
	const struct dn_systrace_fig *f = dn_systrace_nr(t, SYS_getppid, false);
	CHECK(f && f->count == 2000);
	f = dn_systrace_nr(t, SYS_clone, false);
	CHECK(f && f->count == 200);
	close(go[1]);
	close(done[0]);
	waitpid(parent, NULL, 0);
	dn_systrace_free(t);
	dn_offcpu_close(p);
}

static void test_quantiles(void)
{
	struct dn_systrace_fig f = {0};
	CHECK_INT(dn_systrace_quantile(&f, 0.5), 0);
	/* 90 calls in [64, 128) ns, 10 in [2^20, 2^21) ns; max 1.5 ms */
	f.hist[7] = 90;
	f.hist[21] = 10;
	f.max_ns = 1500000;
	CHECK_INT(dn_systrace_quantile(&f, 0.5), 128);
	CHECK_INT(dn_systrace_quantile(&f, 0.9), 128);
	CHECK_INT(dn_systrace_quantile(&f, 0.91), 1500000); /* bound 2^21, capped at the max */
	CHECK_INT(dn_systrace_quantile(&f, 0.99), 1500000);
	f.hist[0] = 1000; /* 0 ns calls: bucket 0 */
	CHECK_INT(dn_systrace_quantile(&f, 0.5), 0);
}

static void test_not_syscalls(void)
{
	if (geteuid() != 0)
		UNIT_SKIP("needs root for eBPF");
	if (getenv("VALGRIND") && strcmp(getenv("VALGRIND"), "1") == 0)
		UNIT_SKIP("valgrind does not model bpf(2)");
	char why[200];
	struct dn_offcpu_opts o = {.kernel_stacks = true, .user_stacks = true};
	struct dn_offcpu *p = dn_offcpu_open(&o, why, sizeof why);
	if (!p)
		UNIT_SKIP("eBPF unavailable: %s", why);
	errno = 0;
	CHECK(dn_systrace_new(p) == NULL);
	CHECK_INT(errno, EINVAL);
	CHECK_INT(dn_offcpu_syscall_map(p), -1);
	dn_offcpu_close(p);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	RUN(test_quantiles);
	RUN(test_exact_counts);
	RUN(test_windows_add_up);
	RUN(test_forked_child_followed);
	RUN(test_gone_keys_collected);
	RUN(test_not_syscalls);
	return unit_done();
}
