/*
 * test_tasksampler.c — the BPF task-iterator sampler against /proc.
 *
 * tasksnap: the sums and conversions on records built by hand. Live (root,
 * eBPF): a still tree (tests/helpers/iomix: I/O, faults, memory, threads
 * gone and blocked) read by the iterator and by /proc must agree field by
 * field: I/O, faults, threads, start time, state, vsize and RSS exactly
 * (nothing moves while every thread sleeps), CPU within one tick; the
 * in-kernel filter; and a process tree reading through the sampler must
 * compute the same metrics as one reading /proc.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/types.h>

#include "../../bpf/tasks.h"
#include "procfs.h"
#include "proctree.h"
#include "tasksampler.h"
#include "tasksnap.h"
#include "unit.h"

static const char *build_dir(void)
{
	const char *b = getenv("BUILD");
	return b && *b ? b : "build";
}

/* ---- tasksnap on records built by hand ---------------------------------- */

static void test_state_letters(void)
{
	CHECK_INT(dn_task_state_letter(0), 'R');
	CHECK_INT(dn_task_state_letter(1), 'S');
	CHECK_INT(dn_task_state_letter(2), 'D');
	CHECK_INT(dn_task_state_letter(4), 'T');
	CHECK_INT(dn_task_state_letter(8), 't');
	CHECK_INT(dn_task_state_letter(0x10), 'X');
	CHECK_INT(dn_task_state_letter(0x80 | 0x20), 'Z'); /* TASK_DEAD | EXIT_ZOMBIE */
	CHECK_INT(dn_task_state_letter(0x40), 'P');
	CHECK_INT(dn_task_state_letter(0x402), 'I');  /* TASK_IDLE */
	CHECK_INT(dn_task_state_letter(0x1000), 'D'); /* TASK_RTLOCK_WAIT */
	CHECK_INT(dn_task_state_letter(0x8001), 'D'); /* frozen */
}

static struct dn_task_rec rec(__u32 pid, __u32 tgid)
{
	struct dn_task_rec r;
	memset(&r, 0, sizeof r);
	r.pid = pid;
	r.tgid = tgid;
	r.state = 1;
	r.sum_exec_runtime = 1000000 * (__u64)pid;
	r.min_flt = 10;
	r.maj_flt = 1;
	r.io.rchar = 100;
	r.io.write_bytes = 4096;
	if (pid == tgid) {
		r.flags = DN_TASK_LEADER | DN_TASK_HAS_MM;
		r.ppid = 1;
		r.nr_threads = 2;
		r.start_boottime = 123456789012ull; /* 12345 ticks and a bit */
		r.total_vm = 1000;
		r.rss = 250;
		r.sig_sum_sched_runtime = 7000000;
		r.sig_min_flt = 5;
		r.sig_cutime = 30000000; /* 3 ticks */
		r.sig_cstime = 19999999; /* 1 tick: truncated as nsec_to_clock_t does */
		r.sig_io.rchar = 1;
		r.sig_io.read_bytes = 512;
		memcpy(r.comm, "lead\"er\n", 8);
	}
	return r;
}

/* Records as the program writes them: a thread's ends before ppid. */
static size_t pack(const struct dn_task_rec *recs, int n, unsigned char *out)
{
	size_t len = 0;
	for (int i = 0; i < n; i++) {
		size_t size =
			recs[i].flags & DN_TASK_LEADER ? sizeof recs[i] : DN_TASK_THREAD_REC_SIZE;
		memcpy(out + len, &recs[i], size);
		len += size;
	}
	return len;
}

static void test_snapshot_sums_threads_like_proc(void)
{
	static unsigned char buf[5000 * sizeof(struct dn_task_rec)];
	struct dn_task_rec recs[5] = {rec(100, 100), rec(101, 100), rec(102, 100), rec(201, 200),
				      rec(300, 300)};
	struct dn_tasksnap s = {0};
	recs[4].flags |= DN_TASK_NO_IOACCT;
	size_t len = pack(recs, 5, buf);
	CHECK_INT(len, 2 * sizeof recs[0] + 3 * DN_TASK_THREAD_REC_SIZE);
	CHECK_INT(dn_tasksnap_build(&s, buf, len, 100, 4096), 0);
	CHECK_INT(s.records, 5);
	CHECK_INT(s.n, 2); /* 200's leader is not in the sample: left out */
	const struct dn_task_reading *r = dn_tasksnap_find(&s, 100);
	CHECK(r != NULL);
	if (r) {
		CHECK_INT(r->nthreads_seen, 3);
		CHECK_INT(r->run_ns, (100 + 101 + 102) * 1000000ull + 7000000);
		CHECK_INT(r->st.utime, 31); /* 310 ms */
		CHECK_INT(r->st.stime, 0);
		CHECK_INT(r->st.minflt, 3 * 10 + 5);
		CHECK_INT(r->st.majflt, 3);
		CHECK_INT(r->st.cutime, 3);
		CHECK_INT(r->st.cstime, 1);
		CHECK_INT(r->st.starttime, 12345);
		CHECK_INT(r->st.vsize, 1000 * 4096);
		CHECK_INT(r->st.rss, 250);
		CHECK_INT(r->st.num_threads, 2);
		CHECK_INT(r->st.ppid, 1);
		CHECK_INT(r->st.state, 'S');
		CHECK_STR(r->st.comm, "lead\"er\n");
		CHECK_INT(r->io.rchar, 301);
		CHECK_INT(r->io.write_bytes, 3 * 4096);
		CHECK_INT(r->io.read_bytes, 512);
		CHECK(r->io_ok);
	}
	CHECK(dn_tasksnap_find(&s, 200) == NULL);
	CHECK(dn_tasksnap_find(&s, 101) == NULL); /* a thread id is not a process */
	r = dn_tasksnap_find(&s, 300);
	CHECK(r != NULL && !r->io_ok);
	/* a torn read keeps the whole records */
	CHECK_INT(dn_tasksnap_build(&s, buf, len - 3, 100, 4096), -EINVAL);
	CHECK(dn_tasksnap_find(&s, 100) != NULL);
	CHECK_INT(s.records, 4);
	CHECK_INT(s.torn, sizeof recs[0] - 3); /* the last record, 300's */
	CHECK_INT(dn_tasksnap_build(&s, buf, len, 0, 4096), -EINVAL);
	/* empty, then many: the index grows, every process is found */
	CHECK_INT(dn_tasksnap_build(&s, NULL, 0, 100, 4096), 0);
	CHECK_INT(s.n, 0);
	static struct dn_task_rec many[5000];
	for (int i = 0; i < 5000; i++)
		many[i] = rec((__u32)(1000 + i * 7), (__u32)(1000 + i * 7));
	CHECK_INT(dn_tasksnap_build(&s, many, sizeof many, 100, 4096), 0); /* all leaders */
	int found = 0;
	for (int i = 0; i < 5000; i++)
		found += dn_tasksnap_find(&s, 1000 + i * 7) != NULL;
	CHECK_INT(found, 5000);
	CHECK(dn_tasksnap_find(&s, 1001) == NULL);
	/* what no kernel writes (the fuzzer's finds): no pid, beyond PID_MAX_LIMIT */
	struct dn_task_rec odd[2] = {rec(0, 0), rec(0xffffffffu, 0xffffffffu)};
	CHECK_INT(dn_tasksnap_build(&s, odd, sizeof odd, 100, 4096), 0);
	CHECK_INT(s.records, 2);
	CHECK_INT(s.n, 0);
	dn_tasksnap_free(&s);
}

/* ---- live: the iterator against /proc ------------------------------------ */

struct tree {
	pid_t root;
	FILE *out;
	pid_t pid[8];
	int n;
};

static bool start_iomix(struct tree *t)
{
	char cmd[512];
	memset(t, 0, sizeof t[0]);
	snprintf(cmd, sizeof cmd, "exec %s/helpers/iomix /tmp 3", build_dir());
	t->out = popen(cmd, "r");
	if (!t->out)
		return false;
	int root;
	if (fscanf(t->out, "ready %d", &root) != 1)
		return false;
	t->root = root;
	return true;
}

/* The root says ready once every process wrote its "done"; wait until
 * each thread of the tree is asleep (state S in /proc/PID/task/TID/stat,
 * in two passes in a row), so nothing moves between the readings
 * compared. */
static bool all_asleep(pid_t root)
{
	pid_t tree[16] = {root};
	int n = 1;
	bool asleep = true;
	for (int pass = 0; pass < 3; pass++) {
		DIR *d = opendir("/proc");
		struct dirent *de;
		while (d && (de = readdir(d))) {
			char path[300], buf[1024];
			struct dn_stat st;
			int fd, pid = atoi(de->d_name);
			if (pid <= 0)
				continue;
			snprintf(path, sizeof path, "/proc/%d/stat", pid);
			fd = open(path, O_RDONLY);
			ssize_t len = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
			if (fd >= 0)
				close(fd);
			if (len <= 0 || dn_proc_parse_stat(buf, (size_t)len, &st) < 0)
				continue;
			bool in = false, parent_in = false;
			for (int k = 0; k < n; k++) {
				in |= tree[k] == pid;
				parent_in |= tree[k] == st.ppid;
			}
			if (parent_in && !in && n < 16)
				tree[n++] = pid;
		}
		if (d)
			closedir(d);
	}
	for (int k = 0; k < n; k++) {
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/task", (int)tree[k]);
		DIR *d = opendir(path);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			char tpath[300], buf[1024];
			struct dn_stat st;
			if (atoi(de->d_name) <= 0)
				continue;
			snprintf(tpath, sizeof tpath, "/proc/%d/task/%s/stat", (int)tree[k],
				 de->d_name);
			int fd = open(tpath, O_RDONLY);
			ssize_t len = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
			if (fd >= 0)
				close(fd);
			if (len > 0 && dn_proc_parse_stat(buf, (size_t)len, &st) == 0 &&
			    st.state != 'S')
				asleep = false;
		}
		if (d)
			closedir(d);
	}
	return asleep && n == 5;
}

static void wait_still(pid_t root)
{
	int still = 0;
	for (int k = 0; k < 300 && still < 2; k++) {
		still = all_asleep(root) ? still + 1 : 0;
		usleep(20000);
	}
}

static void stop_iomix(struct tree *t)
{
	if (t->root > 0)
		kill(t->root, SIGTERM);
	if (t->out)
		pclose(t->out);
}

static ssize_t read_file(pid_t pid, const char *name, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

static struct dn_tasksampler *open_or_skip(char *why, size_t len)
{
	if (geteuid() != 0) {
		snprintf(why, len, "needs root for eBPF");
		return NULL;
	}
	return dn_tasksampler_open(why, len);
}

/* The sampler and a still iomix tree, or NULL with why the test skips. */
static struct dn_tasksampler *open_with_iomix(struct tree *t, char *why, size_t len)
{
	char reason[180];
	struct dn_tasksampler *s = open_or_skip(reason, sizeof reason);
	if (!s) {
		snprintf(why, len, "no BPF task iterator: %s", reason);
		return NULL;
	}
	if (!start_iomix(t)) {
		stop_iomix(t);
		dn_tasksampler_close(s);
		snprintf(why, len, "cannot start %s/helpers/iomix", build_dir());
		return NULL;
	}
	wait_still(t->root);
	return s;
}

/* Every process of the sample whose ancestry reaches root. */
static int tree_of(const struct dn_tasksnap *s, pid_t root, pid_t *out, int max)
{
	int n = 0;
	out[n++] = root;
	for (int pass = 0; pass < 4; pass++)
		for (size_t i = 0; i < s->n; i++) {
			pid_t p = s->r[i].st.pid, pp = s->r[i].st.ppid;
			bool have = false, parent = false;
			for (int k = 0; k < n; k++) {
				have |= out[k] == p;
				parent |= out[k] == pp;
			}
			if (parent && !have && n < max)
				out[n++] = p;
		}
	return n;
}

static void test_iterator_agrees_with_proc(void)
{
	char why[250];
	struct tree t;
	struct dn_tasksampler *s = open_with_iomix(&t, why, sizeof why);
	if (!s)
		UNIT_SKIP("%s", why);
	CHECK_INT(dn_tasksampler_follow(s, t.root, true), 0);
	dn_tasksampler_descendants(s, true);
	const struct dn_tasksnap *snap = dn_tasksampler_sample(s);
	CHECK(snap != NULL);
	pid_t pids[8];
	int n = snap ? tree_of(snap, t.root, pids, 8) : 0;
	CHECK_INT(n, 5); /* root, 3 children, 1 grandchild: found by ancestry */
	long tck = sysconf(_SC_CLK_TCK);
	for (int i = 0; i < n; i++) {
		const struct dn_task_reading *r = dn_tasksnap_find(snap, pids[i]);
		char buf[4096];
		struct dn_stat st;
		struct dn_io io = {0};
		struct dn_schedstat ss = {0};
		CHECK(r != NULL);
		ssize_t len = read_file(pids[i], "stat", buf, sizeof buf);
		CHECK(len > 0 && dn_proc_parse_stat(buf, (size_t)len, &st) == 0);
		len = read_file(pids[i], "io", buf, sizeof buf);
		CHECK(len > 0 && dn_proc_parse_io(buf, (size_t)len, &io) == 0);
		len = read_file(pids[i], "schedstat", buf, sizeof buf);
		CHECK(len > 0 && dn_proc_parse_schedstat(buf, (size_t)len, &ss) == 0);
		if (!r || len <= 0)
			continue;
		uint64_t ticks = r->run_ns / (1000000000ull / (uint64_t)tck);
		printf("# pid %d: %s threads %lld rss %lld vsize %llu minflt %llu majflt %llu "
		       "wbytes %llu rchar %llu cpu %llu ns (stat %llu+%llu ticks, leader's "
		       "schedstat %llu ns)\n",
		       (int)pids[i], r->st.comm, (long long)r->st.num_threads,
		       (long long)r->st.rss, (unsigned long long)r->st.vsize,
		       (unsigned long long)r->st.minflt, (unsigned long long)r->st.majflt,
		       (unsigned long long)r->io.write_bytes, (unsigned long long)r->io.rchar,
		       (unsigned long long)r->run_ns, (unsigned long long)st.utime,
		       (unsigned long long)st.stime, (unsigned long long)ss.run_ns);
		CHECK_STR(r->st.comm, st.comm);
		CHECK_INT(r->st.state, st.state);
		CHECK_INT(r->st.ppid, st.ppid);
		CHECK_INT(r->st.starttime, st.starttime);
		CHECK_INT(r->st.num_threads, st.num_threads);
		CHECK_INT(r->st.num_threads, 2); /* the main thread and the blocked one */
		CHECK_INT(r->st.vsize, st.vsize);
		CHECK_INT(r->st.rss, st.rss);
		CHECK(r->st.rss * 4 >= 8 * 1024); /* the 8+ MiB it touched */
		CHECK_INT(r->st.minflt, st.minflt);
		CHECK_INT(r->st.majflt, st.majflt);
		CHECK_INT(r->st.cminflt, st.cminflt);
		CHECK_INT(r->st.cutime, st.cutime);
		CHECK_INT(r->st.cstime, st.cstime);
		CHECK_INT(r->io.rchar, io.rchar);
		CHECK_INT(r->io.wchar, io.wchar);
		CHECK_INT(r->io.syscr, io.syscr);
		CHECK_INT(r->io.syscw, io.syscw);
		CHECK_INT(r->io.read_bytes, io.read_bytes);
		CHECK_INT(r->io.write_bytes, io.write_bytes);
		CHECK_INT(r->io.cancelled_write_bytes, io.cancelled_write_bytes);
		CHECK(r->io.write_bytes >= 256 * 1024); /* fsync'd */
		CHECK(r->io.wchar >= 256 * 1024);
		/* CPU: the kernel's utime and stime are each rounded down to
		 * a tick; their sum is the same on-CPU time (within 1 tick) */
		uint64_t proc_ticks = st.utime + st.stime;
		CHECK(ticks + 1 >= proc_ticks && proc_ticks + 1 >= ticks);
		/* three threads spun 30 ms each; two are done: more than the
		 * leader's own schedstat shows */
		CHECK(r->run_ns >= 90000000ull);
		CHECK(r->run_ns > ss.run_ns);
	}
	stop_iomix(&t);
	dn_tasksampler_close(s);
}

static void test_filter_follows_the_tree_only(void)
{
	char why[200];
	struct dn_tasksampler *s = open_or_skip(why, sizeof why);
	if (!s)
		UNIT_SKIP("no BPF task iterator: %s", why);
	const struct dn_tasksnap *snap = dn_tasksampler_sample(s);
	CHECK(snap != NULL && snap->n == 0); /* nothing followed: nothing written */
	CHECK_INT(dn_tasksampler_follow(s, getpid(), true), 0);
	snap = dn_tasksampler_sample(s);
	CHECK(snap && snap->n == 1 && dn_tasksnap_find(snap, getpid()));
	CHECK(snap && !dn_tasksnap_find(snap, getppid()));
	CHECK_INT(dn_tasksampler_follow(s, getpid(), false), 0);
	CHECK_INT(dn_tasksampler_follow(s, getpid(), false), 0); /* twice: fine */
	CHECK_INT(dn_tasksampler_follow(s, 0, true), -EINVAL);
	snap = dn_tasksampler_sample(s);
	CHECK(snap && snap->n == 0);
	dn_tasksampler_follow_all(s, true);
	snap = dn_tasksampler_sample(s);
	CHECK(snap && snap->n > 10);
	CHECK(snap && dn_tasksnap_find(snap, getppid()));
	printf("# every process of the machine: %zu in one read\n", snap ? snap->n : 0);
	struct dn_tasksampler_stats st;
	dn_tasksampler_stats(s, &st);
	CHECK_INT(st.samples, 4);
	CHECK_INT(st.failures, 0);
	dn_tasksampler_close(s);
	dn_tasksampler_close(NULL);
}

/* The same still tree read by a process tree through the sampler and by
 * one reading /proc: the same metrics, process by process. */
static void test_tree_reads_the_same_through_the_sampler(void)
{
	char why[250];
	struct tree t;
	struct dn_tasksampler *s = open_with_iomix(&t, why, sizeof why);
	if (!s)
		UNIT_SKIP("%s", why);
	struct dn_tree_source src = dn_tasksampler_source(s);
	struct dn_tree_opts o = {t.root, true, true, NULL}, ob = {t.root, true, true, &src};
	struct dn_tree a, b;
	CHECK_INT(dn_tree_init(&a, &o), 0);
	CHECK_INT(dn_tree_init(&b, &ob), 0); /* the source from the priming scan on */
	b.read_mode = DN_READ_SOURCE_ALWAYS; /* not the cheaper: the one under test */
	for (int k = 0; k < 2; k++) {
		CHECK_INT(dn_tree_scan(&a, 1000 + (uint64_t)k), 5);
		CHECK_INT(dn_tree_scan(&b, 1000 + (uint64_t)k), 5);
	}
	CHECK(b.snap != NULL);
	CHECK_INT(b.src_misses, 0);
	CHECK(b.src_hits >= 10);
	for (size_t i = 0; i < a.nprocs; i++) {
		const struct dn_proc *pa = a.procs[i], *pb = dn_tree_find(&b, pa->pid);
		CHECK(pb != NULL);
		if (!pb)
			continue;
		CHECK(pb->reading != NULL);
		CHECK(!pb->fds_open && pb->fd_io < 0 && pb->fd_sched < 0 && pb->fd_children < 0);
		CHECK(pa->fds_open && pa->fd_io >= 0);
		CHECK_STR(pb->command, pa->command);
		CHECK_INT(pb->m.mem_rss_kb, pa->m.mem_rss_kb);
		CHECK_INT(pb->m.mem_vms_kb, pa->m.mem_vms_kb);
		CHECK_INT(pb->m.disk_read_bytes, pa->m.disk_read_bytes);
		CHECK_INT(pb->m.disk_write_bytes, pa->m.disk_write_bytes);
		CHECK_INT(pb->m.syscall_read_bytes, pa->m.syscall_read_bytes);
		CHECK_INT(pb->m.syscall_write_bytes, pa->m.syscall_write_bytes);
		CHECK_INT(pb->m.page_faults_cached, pa->m.page_faults_cached);
		CHECK_INT(pb->m.page_faults_disk, pa->m.page_faults_disk);
		CHECK_INT(pb->m.thread_count, pa->m.thread_count);
		CHECK_INT(pb->m.uptime_secs, pa->m.uptime_secs);
		CHECK(pb->m.cpu_usage == 0.0 && pa->m.cpu_usage == 0.0); /* all asleep */
		CHECK(pb->m.disk_write_bytes >= 256 * 1024);
	}
	CHECK_INT(b.agg.mem_rss_kb, a.agg.mem_rss_kb);
	CHECK_INT(b.agg.disk_write_bytes, a.agg.disk_write_bytes);
	/* the tree's processes go: both trees see them go */
	stop_iomix(&t);
	size_t gone_a = 0, gone_b = 0;
	int left_a = 1, left_b = 1;
	for (int k = 0; k < 200 && (left_a || left_b); k++) {
		usleep(10000); /* killed children are reaped by init, not at once */
		left_a = dn_tree_scan(&a, 2000 + (uint64_t)k);
		left_b = dn_tree_scan(&b, 2000 + (uint64_t)k);
		gone_a += a.ngone;
		gone_b += b.ngone;
	}
	CHECK_INT(left_a, 0);
	CHECK_INT(left_b, 0);
	CHECK_INT(gone_a, 5);
	CHECK_INT(gone_b, 5);
	dn_tree_free(&a);
	dn_tree_free(&b);
	dn_tasksampler_close(s);
}

/* A child born after the tree took the sampler as its source is found
 * from the sample's parent links (no children file) and read from it: no
 * /proc fd opened but its stat (kept for its identity). */
static void test_new_child_found_in_the_sample(void)
{
	char why[200];
	struct dn_tasksampler *s = open_or_skip(why, sizeof why);
	if (!s)
		UNIT_SKIP("no BPF task iterator: %s", why);
	int go[2];
	CHECK(pipe(go) == 0);
	pid_t c = fork();
	if (c == 0) {
		char b;
		close(go[1]);
		if (read(go[0], &b, 1) == 1 && fork() == 0) {
			execlp("sleep", "sleep", "30", (char *)NULL);
			_exit(127);
		}
		pause();
		_exit(0);
	}
	close(go[0]);
	struct dn_tree_source src = dn_tasksampler_source(s);
	struct dn_tree_opts o = {c, true, false, &src};
	struct dn_tree t;
	CHECK_INT(dn_tree_init(&t, &o), 0);
	t.read_mode = DN_READ_SOURCE_ALWAYS;
	CHECK_INT(dn_tree_scan(&t, 1), 1);
	CHECK(write(go[1], "g", 1) == 1);
	int n = 1;
	for (int k = 0; k < 200 && n < 2; k++) {
		usleep(10000);
		n = dn_tree_scan(&t, 2 + (uint64_t)k);
	}
	CHECK_INT(n, 2);
	const struct dn_proc *g = t.nprocs == 2 ? t.procs[1] : NULL;
	CHECK(g != NULL);
	if (g) {
		CHECK_INT(g->ppid, c);
		CHECK(g->is_new);
		CHECK(!g->fds_open);
		CHECK(g->fd_io < 0 && g->fd_sched < 0 && g->fd_children < 0);
		n = dn_tree_scan(&t, 1000);
		CHECK(g->reading != NULL);
		CHECK_INT(t.src_misses, 0);
		kill(g->pid, SIGKILL);
	}
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	close(go[1]);
	dn_tree_free(&t);
	dn_tasksampler_close(s);
}

/* A /proc scan keeps io and schedstat fds; when they leave the iterator no
 * fd for its sample (EMFILE), the tree gives them back and the sample is
 * taken. The limit is set to the lowest free fd: no new fd can be had
 * until some are closed. */
static void test_iterator_gets_fds_back(void)
{
	char why[250];
	struct tree t;
	struct dn_tasksampler *s = open_with_iomix(&t, why, sizeof why);
	if (!s)
		UNIT_SKIP("%s", why);
	struct dn_tree_source src = dn_tasksampler_source(s);
	struct dn_tree_opts o = {t.root, true, false, &src};
	struct dn_tree tr;
	CHECK_INT(dn_tree_init(&tr, &o), 0);
	/* costs that make the next scan read /proc */
	tr.costs = (struct dn_read_costs){.src_ns = 1e9, .proc_pp_ns = 1, .src_n = 2, .proc_n = 2,
					  .src_nprocs = tr.nprocs};
	CHECK_INT(dn_tree_scan(&tr, 1), 5);
	CHECK(tr.snap == NULL);
	size_t kept = 0;
	for (size_t i = 0; i < tr.nprocs; i++)
		kept += tr.procs[i]->fds_open && tr.procs[i]->fd_io >= 0;
	CHECK_INT(kept, 5);
	struct rlimit old, low;
	int probe = open("/dev/null", O_RDONLY);
	CHECK(probe >= 0 && getrlimit(RLIMIT_NOFILE, &old) == 0);
	close(probe);
	low = old;
	low.rlim_cur = (rlim_t)probe; /* the lowest free fd: none left */
	CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
	CHECK(open("/dev/null", O_RDONLY) < 0 && errno == EMFILE);
	if (dn_tasksampler_sample(s)) {
		/* valgrind emulates the limit for the calls it knows, not bpf() */
		setrlimit(RLIMIT_NOFILE, &old);
		dn_tree_free(&tr);
		stop_iomix(&t);
		dn_tasksampler_close(s);
		UNIT_SKIP("the fd limit does not reach bpf() here (valgrind?)");
	}
	tr.read_mode = DN_READ_SOURCE_ALWAYS;
	int n = dn_tree_scan(&tr, 2);
	setrlimit(RLIMIT_NOFILE, &old);
	CHECK_INT(n, 5);
	CHECK(tr.snap != NULL);
	for (size_t i = 0; i < tr.nprocs; i++) {
		CHECK(!tr.procs[i]->fds_open && tr.procs[i]->fd_io < 0);
		CHECK(tr.procs[i]->reading != NULL);
	}
	dn_tree_free(&tr);
	stop_iomix(&t);
	dn_tasksampler_close(s);
}

/* The choice between the iterator and /proc: each measured twice first,
 * then the cheaper, the other retried after 64 scans times how much
 * dearer it was (at most 16), and the iterator again when the tree has
 * doubled or halved since its cost was measured. */
static void test_read_choice(void)
{
	struct dn_read_costs c = {0};
	CHECK(dn_read_through_source(&c, 10)); /* the iterator's cost first */
	c.src_n = 2;
	c.src_ns = 500e3;
	c.src_nprocs = 10;
	CHECK(!dn_read_through_source(&c, 10)); /* then /proc's */
	c.proc_n = 2;
	c.proc_pp_ns = 10e3; /* 10 processes: 100 us by /proc, 500 by the iterator */
	CHECK(!dn_read_through_source(&c, 10));
	CHECK(dn_read_through_source(&c, 100)); /* 1000 us: the iterator (also: 10x bigger) */
	c.src_nprocs = 60;
	CHECK(dn_read_through_source(&c, 60)); /* 600 us vs 500 */
	CHECK(!dn_read_through_source(&c, 40));
	/* the trial of the dearer way: after 64 x 1.25 scans */
	c.src_nprocs = 40;
	c.since_probe = 79;
	CHECK(!dn_read_through_source(&c, 40));
	c.since_probe = 80;
	CHECK(dn_read_through_source(&c, 40));
	/* 50x dearer: tried after 64 x 16 scans, not 64 x 50 */
	c.src_ns = 20e6;
	c.since_probe = 1023;
	CHECK(!dn_read_through_source(&c, 40));
	c.since_probe = 1024;
	CHECK(dn_read_through_source(&c, 40));
	/* the tree halved since the iterator was measured: measure it again */
	c.since_probe = 0;
	CHECK(dn_read_through_source(&c, 19));
}

/* A tree left to choose: on a small tree it reads /proc most of the time
 * and tries the iterator now and then; every scan is counted. */
static void test_tree_chooses_and_counts(void)
{
	char why[200];
	struct dn_tasksampler *s = open_or_skip(why, sizeof why);
	if (!s)
		UNIT_SKIP("no BPF task iterator: %s", why);
	struct dn_tree_source src = dn_tasksampler_source(s);
	struct dn_tree_opts o = {getpid(), true, false, &src};
	struct dn_tree t;
	CHECK_INT(dn_tree_init(&t, &o), 0);
	/* every scan goes the way the policy says for the costs measured so
	 * far; trials of the way not preferred are rare (every 64+ scans) */
	int off_policy = 0, trials = 0;
	for (int i = 0; i < 300; i++) {
		struct dn_read_costs before = t.costs;
		bool way = dn_read_through_source(&before, t.nprocs);
		CHECK_INT(dn_tree_scan(&t, (uint64_t)i), 1);
		off_policy += (t.snap != NULL) != way;
		if (before.src_n >= 2 && before.proc_n >= 2) {
			double src_cost = before.src_ns, proc_cost = before.proc_pp_ns;
			trials += way != (src_cost < proc_cost);
		}
	}
	printf("# one process, 300 scans: %llu through the iterator (%.0f us), %llu through /proc "
	       "(%.0f us), %d trials of the dearer way\n",
	       (unsigned long long)t.costs.src_n, t.costs.src_ns / 1e3,
	       (unsigned long long)t.costs.proc_n, t.costs.proc_pp_ns / 1e3, trials);
	CHECK_INT(off_policy, 0);
	CHECK_INT(t.costs.src_n + t.costs.proc_n, 300); /* every scan measured */
	CHECK(t.costs.src_n >= 2 && t.costs.proc_n >= 2);
	CHECK(trials <= 300 / DN_READ_PROBE_EVERY + 1);
	dn_tree_free(&t);
	dn_tasksampler_close(s);
}

int main(void)
{
	RUN(test_state_letters);
	RUN(test_snapshot_sums_threads_like_proc);
	RUN(test_iterator_agrees_with_proc);
	RUN(test_filter_follows_the_tree_only);
	RUN(test_tree_reads_the_same_through_the_sampler);
	RUN(test_new_child_found_in_the_sample);
	RUN(test_iterator_gets_fds_back);
	RUN(test_read_choice);
	RUN(test_tree_chooses_and_counts);
	return unit_done();
}
