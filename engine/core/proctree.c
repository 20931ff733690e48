/*
 * proctree.c — the process tree (see proctree.h). Owns every dn_proc, its
 * kept /proc fds and its baselines, the scratch read buffer, and the list
 * of processes gone in the latest scan.
 *
 * Cost model (measured on the development machine): pread on a kept fd is 1-3 us where
 * open+read+close is 4-10 us, so a 100-process tree costs a few hundred us
 * a sample. `stat` carries CPU ticks, RSS, VMS, threads and faults; `io`
 * the byte counters; `schedstat` the exact on-CPU ns of a single-threaded
 * process (stat ticks move in 10 ms steps).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "pidfd.h"
#include "clock.h"
#include "proctree.h"

#define INITIAL_BUCKETS 64

/* ---- reading ------------------------------------------------------------ */

static int open_proc_file(pid_t pid, const char *name)
{
	char path[160];
	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* Read a whole /proc file through a kept fd into t->rdbuf. Returns the
 * length, or -errno (ESRCH once the process is reaped). Loops because
 * some files (children) hand out ~4 KiB per read. */
static ssize_t pread_all(struct dn_tree *t, int fd)
{
	size_t len = 0;
	for (;;) {
		if (t->rdcap - len < 4096) {
			size_t ncap = t->rdcap ? t->rdcap * 2 : 8192;
			char *nb = realloc(t->rdbuf, ncap);
			if (!nb)
				return -ENOMEM;
			t->rdbuf = nb;
			t->rdcap = ncap;
		}
		ssize_t r = pread(fd, t->rdbuf + len, t->rdcap - len - 1, (off_t)len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		/* seq_file hands out at least a page per read unless it ran out:
		 * a short read is the end, and saves the second syscall that
		 * would return 0 (half the cost of a sample). */
		if (r < 2048)
			break;
	}
	t->rdbuf[len] = '\0';
	return (ssize_t)len;
}

static char *read_command(struct dn_tree *t, struct dn_proc *p);

/* Replaces p's command line (taking `line`) and drops the JSON text
 * records.c cached for the old one. */
static void set_command(struct dn_proc *p, char *line)
{
	free(p->command);
	free(p->command_json);
	p->command = line;
	p->command_json = NULL;
	p->command_json_len = 0;
}

/* A new reading of p's stat (from /proc or from the source). */
static void apply_stat(struct dn_tree *t, struct dn_proc *p, const struct dn_stat *stp)
{
	struct dn_stat st = *stp;
	/* comm changes on exec: the command line did too (wrappers such as
	 * env, nice or sh -c exec the real program). */
	bool execd = p->command && strcmp(p->comm, st.comm) != 0;
	p->st = st;
	p->ppid = st.ppid;
	p->state = st.state;
	memcpy(p->comm, st.comm, sizeof p->comm);
	p->stat_gen = t->gen;
	p->execd = execd;
	/* An exec seen between its new comm and its new argv reads an empty
	 * command line: read it again on the next few samples until it is
	 * there (a few only: a process may really have an empty one, and this
	 * read must not stay on the hot path for it). */
	if (execd ||
	    (p->command_is_comm && p->command_retries < DN_COMMAND_RETRIES && st.state != 'Z')) {
		p->command_retries = execd ? 0 : p->command_retries + 1;
		set_command(p, read_command(t, p));
	}
}

static int read_stat(struct dn_tree *t, struct dn_proc *p)
{
	ssize_t n = pread_all(t, p->fd_stat);
	if (n <= 0)
		return n < 0 ? (int)n : -ESRCH;
	struct dn_stat st;
	if (dn_proc_parse_stat(t->rdbuf, (size_t)n, &st) < 0)
		return -EINVAL;
	p->reading = NULL;
	apply_stat(t, p, &st);
	return 0;
}

/* The source's reading of p in this scan's sample, if it has p: the same
 * pid with the same start time (else the pid's holder changed, and p's
 * kept stat fd tells whether p is gone). */
static const struct dn_task_reading *sampled(const struct dn_tree *t, const struct dn_proc *p)
{
	if (!t->snap)
		return NULL;
	const struct dn_task_reading *r = dn_tasksnap_find(t->snap, p->pid);
	return r && r->st.starttime == p->start_ticks ? r : NULL;
}

/* Re-read p for this scan: from the source's sample, or /proc. */
static int refresh_proc(struct dn_tree *t, struct dn_proc *p)
{
	const struct dn_task_reading *r = sampled(t, p);
	if (!r) {
		t->src_misses += t->snap != NULL;
		return read_stat(t, p);
	}
	t->src_hits++;
	p->reading = r;
	apply_stat(t, p, &r->st);
	return 0;
}

static void close_fd(int *fd);

/* Gives back what open_reading_fds and the children walk opened. */
static void close_reading_fds(struct dn_proc *p)
{
	close_fd(&p->fd_io);
	close_fd(&p->fd_sched);
	close_fd(&p->fd_children);
	p->fds_open = false;
}

/* io and schedstat: opened with the process unless a source reads it;
 * then only when the source misses it. -1 when they cannot be opened. */
static void open_reading_fds(struct dn_proc *p)
{
	if (p->fds_open)
		return;
	p->fds_open = true;
	/* io is unreadable for other users' processes without privilege; the
	 * byte counters then stay 0 rather than failing the sample. */
	p->fd_io = open_proc_file(p->pid, "io");
	p->fd_sched = open_proc_file(p->pid, "schedstat");
}

struct join_ctx {
	char *out;
	size_t len, cap;
};

static void join_arg(void *ctx, const char *arg, size_t n)
{
	struct join_ctx *j = ctx;
	if (j->len + n + 2 > j->cap) {
		size_t ncap = (j->len + n + 2) * 2;
		char *nb = realloc(j->out, ncap);
		if (!nb)
			return;
		j->out = nb;
		j->cap = ncap;
	}
	if (j->len)
		j->out[j->len++] = ' ';
	memcpy(j->out + j->len, arg, n);
	j->len += n;
	j->out[j->len] = '\0';
}

/* pid's command line joined by spaces, or NULL when it reads empty (a
 * kernel thread, a zombie, mid-exec) or cannot be read. */
static char *read_cmdline(struct dn_tree *t, pid_t pid)
{
	int fd = open_proc_file(pid, "cmdline");
	struct join_ctx j = {0};
	if (fd >= 0) {
		ssize_t n = pread_all(t, fd);
		close(fd);
		if (n > 0)
			dn_proc_split_cmdline(t->rdbuf, (size_t)n, join_arg, &j);
	}
	if (j.out && j.len == 0) {
		free(j.out);
		j.out = NULL;
	}
	return j.out;
}

/* The command line, read when the process is first seen and after an
 * exec (again while it reads empty). A process that has not exec'd yet
 * shows its parent's; that is what it runs. */
static char *read_command(struct dn_tree *t, struct dn_proc *p)
{
	char *line = read_cmdline(t, p->pid);
	p->command_is_comm = !line;
	return line ? line : strdup(p->comm);
}

/* ---- the table ---------------------------------------------------------- */

static size_t bucket_of(const struct dn_tree *t, pid_t pid)
{
	return ((size_t)pid * 2654435761u) & (t->nbuckets - 1);
}

struct dn_proc *dn_tree_find(const struct dn_tree *t, pid_t pid)
{
	for (struct dn_proc *p = t->buckets[bucket_of(t, pid)]; p; p = p->hnext)
		if (p->pid == pid)
			return p;
	return NULL;
}

static int grow_buckets(struct dn_tree *t)
{
	size_t nb = t->nbuckets * 2;
	struct dn_proc **b = calloc(nb, sizeof *b);
	if (!b)
		return -ENOMEM;
	struct dn_proc **old = t->buckets;
	size_t oldn = t->nbuckets;
	t->buckets = b;
	t->nbuckets = nb;
	for (size_t i = 0; i < oldn; i++) {
		for (struct dn_proc *p = old[i], *next; p; p = next) {
			next = p->hnext;
			size_t k = bucket_of(t, p->pid);
			p->hnext = b[k];
			b[k] = p;
		}
	}
	free(old);
	return 0;
}

static void hash_remove(struct dn_tree *t, struct dn_proc *p)
{
	if (t->src.follow)
		t->src.follow(t->src.ctx, p->pid, false);
	for (struct dn_proc **pp = &t->buckets[bucket_of(t, p->pid)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == p) {
			*pp = p->hnext;
			return;
		}
	}
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void proc_free(struct dn_proc *p)
{
	close_fd(&p->fd_stat);
	close_fd(&p->fd_io);
	close_fd(&p->fd_sched);
	close_fd(&p->fd_children);
	free(p->command);
	free(p->command_json);
	free(p);
}

/* Open a process and read its stat. NULL + errno (ESRCH when it is gone). */
static struct dn_proc *proc_open(struct dn_tree *t, pid_t pid)
{
	struct dn_proc *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->pid = pid;
	p->fd_io = p->fd_sched = p->fd_children = -1;
	p->fd_stat = open_proc_file(pid, "stat");
	if (p->fd_stat < 0) {
		int e = errno == ENOENT ? ESRCH : errno;
		free(p);
		errno = e;
		return NULL;
	}
	int r = read_stat(t, p);
	if (r < 0) {
		proc_free(p);
		errno = -r;
		return NULL;
	}
	p->start_ticks = p->st.starttime;
	if (!t->src.refresh)
		open_reading_fds(p);
	/* the children file is opened by the first walk that needs it: with
	 * a better source of members there is none */
	p->command = read_command(t, p);
	return p;
}

static int tree_insert(struct dn_tree *t, struct dn_proc *p)
{
	if (t->nprocs == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;
		struct dn_proc **np = realloc(t->procs, ncap * sizeof *np);
		if (!np)
			return -ENOMEM;
		t->procs = np;
		t->cap = ncap;
	}
	if (t->nprocs + 1 > t->nbuckets * 2 && grow_buckets(t) < 0)
		return -ENOMEM;
	size_t k = bucket_of(t, p->pid);
	p->hnext = t->buckets[k];
	t->buckets[k] = p;
	if (t->src.follow)
		t->src.follow(t->src.ctx, p->pid, true);
	t->procs[t->nprocs++] = p;
	return 0;
}

/* A process first seen after monitoring began did all its I/O and faults
 * under monitoring: its baseline is 0. One found at start (attach) counts
 * from its first reading (the priming scan's, compute_metrics), unless
 * --since-process-start. */
static void set_baseline(struct dn_tree *t, struct dn_proc *p, bool existing)
{
	memset(&p->io_base, 0, sizeof p->io_base);
	p->minflt_base = p->majflt_base = 0;
	p->base_pending = existing && !t->opts.since_process_start;
}

/* Whether p is still the process the tree knew: its kept stat fd reads
 * (it fails once p is reaped, and only then can its pid be reused) and
 * shows the start time recorded when p was first read. Reads into rdbuf;
 * p's own readings are left as they are. */
static bool identity_holds(struct dn_tree *t, const struct dn_proc *p)
{
	ssize_t n = pread_all(t, p->fd_stat);
	struct dn_stat st;
	return n > 0 && dn_proc_parse_stat(t->rdbuf, (size_t)n, &st) == 0 &&
	       st.starttime == p->start_ticks;
}

static void record_gone(struct dn_tree *t, struct dn_proc *p, bool birth_unreported);

/* p ended between two scans and its pid is taken again: it leaves now,
 * reported as gone by the next scan. The root stays first. */
static void retire(struct dn_tree *t, struct dn_proc *p)
{
	size_t i = 0;
	while (i < t->nprocs && t->procs[i] != p)
		i++;
	if (i == t->nprocs)
		return;
	memmove(&t->procs[i], &t->procs[i + 1], (t->nprocs - i - 1) * sizeof *t->procs);
	t->nprocs--;
	hash_remove(t, p);
	/* between scans: its birth was reported unless it was adopted
	 * since the latest scan (is_new is that scan's news, told) */
	record_gone(t, p, p->adopted);
	proc_free(p);
}

/* Adds pid. Inside a scan it is new at once; between scans (an adoption)
 * it is new in the next scan. 0 (also when it came and went, or is known),
 * -EEXIST from an adoption of a process already known, or -errno. */
static int add_child(struct dn_tree *t, pid_t pid, bool in_scan)
{
	struct dn_proc *known = dn_tree_find(t, pid);
	if (known) {
		/* Inside a scan the old holder of a reused pid is swept when
		 * its fd fails, and the newcomer found by the next scan; an
		 * adoption names the newcomer itself, so it checks now. */
		if (in_scan || identity_holds(t, known))
			return in_scan ? 0 : -EEXIST;
		retire(t, known);
	}
	struct dn_proc *p = proc_open(t, pid);
	if (!p)
		return errno == ESRCH ? 0 : -errno; /* came and went: fine */
	p->is_new = in_scan;
	p->adopted = !in_scan;
	if (in_scan)
		p->reading = sampled(t, p); /* read like the others this scan */
	set_baseline(t, p, !t->primed);
	int r = tree_insert(t, p);
	if (r < 0)
		proc_free(p);
	else if (in_scan)
		t->nspawned++;
	return r;
}

/* Add the pids listed in a children file. The text is in rdbuf, which
 * add_child reuses: every pid is parsed out before the first add. */
static void children_from_text(struct dn_tree *t, const char *text, size_t len)
{
	pid_t small[256], *pids = small;
	int n = dn_proc_parse_children(text, len, small, 256);
	if (n > 256) {
		pids = malloc((size_t)n * sizeof *pids);
		if (!pids)
			return;
		n = dn_proc_parse_children(text, len, pids, (size_t)n);
	}
	for (int i = 0; i < n; i++)
		add_child(t, pids[i], true);
	if (pids != small)
		free(pids);
}

static void children_from_fd(struct dn_tree *t, int fd)
{
	ssize_t n = pread_all(t, fd);
	if (n > 0)
		children_from_text(t, t->rdbuf, (size_t)n);
}

static void discover_children(struct dn_tree *t, struct dn_proc *p)
{
	if (p->st.num_threads <= 1 && p->fd_children < 0) {
		char name[64];
		snprintf(name, sizeof name, "task/%d/children", (int)p->pid);
		p->fd_children = open_proc_file(p->pid, name);
	}
	if (p->st.num_threads <= 1 && p->fd_children >= 0) {
		children_from_fd(t, p->fd_children);
		return;
	}
	/* Threads other than the leader can fork too: each has its own
	 * children file. */
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)p->pid);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		char name[96];
		snprintf(name, sizeof name, "task/%.32s/children", de->d_name);
		int fd = open_proc_file(p->pid, name);
		if (fd < 0)
			continue;
		children_from_fd(t, fd);
		close(fd);
	}
	closedir(d);
}

/* The sample's processes whose parent is in the tree (read in this scan)
 * are its new descendants: the parent links stand in for the children
 * files. Repeated for grandchildren born in the same window. */
static void children_from_sample(struct dn_tree *t)
{
	for (int pass = 0; pass < 64; pass++) {
		size_t before = t->nprocs;
		for (size_t i = 0; i < t->snap->n; i++) {
			const struct dn_task_reading *r = &t->snap->r[i];
			const struct dn_proc *parent = dn_tree_find(t, r->st.ppid);
			if (parent && parent->stat_gen == t->gen && !dn_tree_find(t, r->st.pid))
				add_child(t, r->st.pid, true);
		}
		if (t->nprocs == before)
			return;
	}
}

/* ---- metrics ------------------------------------------------------------ */

static void read_net(struct dn_tree *t, uint64_t *rx, uint64_t *tx)
{
	*rx = *tx = 0;
	if (t->fd_netdev < 0)
		return;
	ssize_t n = pread_all(t, t->fd_netdev);
	if (n > 0)
		dn_proc_parse_net_dev(t->rdbuf, (size_t)n, rx, tx);
}

static uint64_t sub0(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

static void compute_metrics(struct dn_tree *t, struct dn_proc *p, uint64_t now_boot,
			    uint64_t wall_ms)
{
	struct dn_metrics *m = &p->m;
	const struct dn_stat *st = &p->st;
	uint64_t ns_per_tick = 1000000000ull / (uint64_t)t->clk_tck;
	uint64_t tick_ns = (st->utime + st->stime) * ns_per_tick;
	struct dn_schedstat ss = {0};
	struct dn_io io = {0};
	/* What ss.run_ns measures: the whole process's on-CPU ns exactly
	 * (the source's sum of every thread, live and gone; or schedstat of
	 * a single-threaded process, the leader's own), or nothing usable
	 * (threads: stat's group-wide ticks are the truth). A delta is taken
	 * between two readings of the same kind only. */
	enum { SCHED_NONE, SCHED_LEADER, SCHED_GROUP } kind = SCHED_NONE;
	if (p->reading) {
		ss.run_ns = p->reading->run_ns;
		kind = SCHED_GROUP;
		if (p->reading->io_ok)
			io = p->reading->io;
	} else {
		open_reading_fds(p);
		if (p->fd_sched >= 0) {
			ssize_t n = pread_all(t, p->fd_sched);
			if (n > 0 && dn_proc_parse_schedstat(t->rdbuf, (size_t)n, &ss) == 0 &&
			    st->num_threads == 1)
				kind = SCHED_LEADER;
		}
		if (p->fd_io >= 0) {
			ssize_t n = pread_all(t, p->fd_io);
			if (n > 0)
				dn_proc_parse_io(t->rdbuf, (size_t)n, &io);
		}
	}

	/* CPU over the window since the previous reading. */
	double cpu = 0.0;
	p->window_cpu_ns = 0;
	uint64_t start_boot = st->starttime * ns_per_tick;
	if (p->has_prev) {
		uint64_t d;
		if (kind != SCHED_NONE && kind == p->prev_sched_kind)
			d = sub0(ss.run_ns, p->prev_sched_ns);
		else
			d = sub0(tick_ns, p->prev_tick_ns);
		uint64_t win = sub0(now_boot, p->prev_boot_ns);
		if (win)
			cpu = 100.0 * (double)d / (double)win;
		p->window_cpu_ns = (double)d;
	} else if (t->primed) {
		/* First seen mid-run: everything it ran, it ran since it was
		 * born, which (within a tick) is inside this window. A rate
		 * over the window like everyone's (not over its short life),
		 * so the aggregate is the sum of the rows. */
		uint64_t total = kind != SCHED_NONE ? ss.run_ns : tick_ns;
		uint64_t win = sub0(now_boot, t->last_boot_ns);
		if (win)
			cpu = 100.0 * (double)total / (double)win;
		p->window_cpu_ns = (double)total;
	}
	/* The same CPU as a running total, so the tree total stays
	 * consistent when the source (schedstat/ticks) changes. */
	if (p->has_prev) {
		uint64_t win = sub0(now_boot, p->prev_boot_ns);
		p->own_cum_ns += (uint64_t)(cpu / 100.0 * (double)win);
	} else {
		p->own_cum_ns = kind != SCHED_NONE ? ss.run_ns : tick_ns;
		/* CPU, I/O and faults count from when monitoring started,
		 * unless it was born since (then all of it is inside the run) */
		p->cpu_base_ns = p->base_pending ? p->own_cum_ns : 0;
		if (p->base_pending) {
			p->io_base = io;
			p->minflt_base = st->minflt;
			p->majflt_base = st->majflt;
		}
		p->base_pending = false;
	}
	p->cchild_ns =
		(uint64_t)((st->cutime > 0 ? st->cutime : 0) + (st->cstime > 0 ? st->cstime : 0)) *
		ns_per_tick;
	p->has_prev = true;
	p->prev_sched_kind = (uint8_t)kind;
	p->prev_sched_ns = ss.run_ns;
	p->prev_tick_ns = tick_ns;
	p->prev_boot_ns = now_boot;

	m->ts_ms = wall_ms;
	m->cpu_usage = cpu;
	m->mem_rss_kb = (st->rss > 0 ? (uint64_t)st->rss : 0) * t->page_kb;
	m->mem_vms_kb = st->vsize / 1024;
	m->disk_read_bytes = sub0(io.read_bytes, p->io_base.read_bytes);
	m->disk_write_bytes = sub0(io.write_bytes, p->io_base.write_bytes);
	m->syscall_read_bytes = sub0(io.rchar, p->io_base.rchar);
	m->syscall_write_bytes = sub0(io.wchar, p->io_base.wchar);
	m->page_faults_cached = sub0(st->minflt, p->minflt_base);
	m->page_faults_disk = sub0(st->majflt, p->majflt_base);
	m->thread_count = st->num_threads > 0 ? (uint64_t)st->num_threads : 0;
	m->uptime_secs = sub0(now_boot, start_boot) / 1000000000ull;
	m->cpu_core = st->processor;
	m->cpu_secs = (double)sub0(p->own_cum_ns, p->cpu_base_ns) / 1e9;
}

/* ---- scan --------------------------------------------------------------- */

/* Frees the first n entries of gone[] and keeps the rest. */
static void clear_gone(struct dn_tree *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(t->gone[i].command);
	if (t->ngone > n) /* (memmove takes no NULL, as an empty gone[] has) */
		memmove(t->gone, t->gone + n, (t->ngone - n) * sizeof *t->gone);
	t->ngone -= n;
	t->ngone_reported = 0;
}

static void record_gone(struct dn_tree *t, struct dn_proc *p, bool birth_unreported)
{
	if (t->ngone == t->gone_cap) {
		size_t ncap = t->gone_cap ? t->gone_cap * 2 : 16;
		struct dn_proc_gone *ng = realloc(t->gone, ncap * sizeof *ng);
		if (!ng)
			return;
		t->gone = ng;
		t->gone_cap = ncap;
	}
	struct dn_proc_gone *g = &t->gone[t->ngone++];
	g->pid = p->pid;
	g->ppid = p->ppid;
	g->birth_unreported = birth_unreported;
	g->start_ticks = p->start_ticks;
	g->command = p->command;
	p->command = NULL;
	g->last = p->m;
}

static int scan(struct dn_tree *t, uint64_t wall_ms, bool compute)
{
	t->gen++;
	clear_gone(t, t->ngone_reported); /* keeps those gone since */
	t->nspawned = 0;
	for (size_t i = 0; i < t->nprocs; i++) {
		struct dn_proc *p = t->procs[i];
		p->is_new = p->adopted;
		p->execd = p->adopted = false;
		t->nspawned += p->is_new;
	}
	bool walk = t->opts.children && (t->walk_children || t->walk_once);
	t->walk_once = false;
	for (size_t i = 0; i < t->nprocs; i++)
		t->procs[i]->reading = NULL;
	t->snap = NULL;
	if (t->src.refresh && (t->read_mode == DN_READ_SOURCE_ALWAYS ||
			       dn_read_through_source(&t->costs, t->nprocs))) {
		if (t->src.descendants)
			t->src.descendants(t->src.ctx, walk);
		t->snap = t->src.refresh(t->src.ctx);
		if (!t->snap && (errno == EMFILE || errno == ENFILE)) {
			/* The /proc way's kept fds (3 a process) took the
			 * last ones the iterator's needs: give them back;
			 * reading /proc again reopens them. */
			for (size_t i = 0; i < t->nprocs; i++)
				close_reading_fds(t->procs[i]);
			t->snap = t->src.refresh(t->src.ctx);
		}
	}

	/* Mark: re-read everyone known (new ones are appended as they are
	 * found and read on insertion, so this is a breadth-first walk). */
	for (size_t i = 0; i < t->nprocs; i++) {
		struct dn_proc *p = t->procs[i];
		if (p->stat_gen != t->gen && refresh_proc(t, p) < 0)
			continue; /* gone: swept below */
		if (walk && !t->snap)
			discover_children(t, p);
	}
	if (walk && t->snap)
		children_from_sample(t);

	uint64_t now_boot = dn_boot_ns();
	uint64_t rx = 0, tx = 0;
	read_net(t, &rx, &tx);
	if (!t->primed) {
		t->net_rx0 = t->opts.since_process_start ? 0 : rx;
		t->net_tx0 = t->opts.since_process_start ? 0 : tx;
	}

	/* Sweep, and compute what is left. */
	struct dn_metrics agg = {0};
	agg.cpu_core = -1;
	agg.ts_ms = wall_ms;
	agg.mem_peak_kb = t->agg.mem_peak_kb;
	size_t w = 0;
	for (size_t i = 0; i < t->nprocs; i++) {
		struct dn_proc *p = t->procs[i];
		if (p->stat_gen != t->gen) {
			hash_remove(t, p);
			/* adopted since the previous scan and gone before
			 * this one read it: nobody heard of its birth */
			record_gone(t, p, p->is_new);
			if (p->is_new)
				t->nspawned--;
			proc_free(p);
			continue;
		}
		t->procs[w++] = p;
		if (compute) {
			compute_metrics(t, p, now_boot, wall_ms);
			p->m.sys_net_rx_bytes = sub0(rx, t->net_rx0);
			p->m.sys_net_tx_bytes = sub0(tx, t->net_tx0);
			dn_metrics_accumulate(&agg, &p->m);
		} else {
			p->has_prev = false;
			compute_metrics(t, p, now_boot, wall_ms); /* sets prev */
		}
	}
	t->nprocs = w;
	/* The tree's CPU in this window: from an exact source when the
	 * monitor has one (cgroup), else from the running totals of the
	 * processes plus what their parents (or denet) reaped. The part
	 * beyond the live processes is CPU of processes that ended. */
	uint64_t total = t->reaped_by_denet_ns;
	for (size_t i = 0; i < t->nprocs; i++)
		total += t->procs[i]->own_cum_ns + t->procs[i]->cchild_ns;
	agg.cpu_source = "proc";
	if (compute && t->primed) {
		uint64_t win = sub0(now_boot, t->last_boot_ns);
		double window_ns;
		if (t->exact_total_ns && t->prev_exact_total_ns) {
			window_ns = (double)sub0(t->exact_total_ns, t->prev_exact_total_ns);
			agg.cpu_source = "cgroup";
		} else {
			window_ns = (double)sub0(total, t->prev_total_ns);
		}
		/* Tick rounding makes the per-process sum run ahead of the
		 * total in one window and behind in the next: carry the
		 * difference over (a credit) instead of adding only the
		 * positive side, which would count the rounding twice. */
		/* The live processes' CPU as an amount (the same as the sum
		 * of their rates over the window, without its rounding). */
		double live_ns = 0;
		for (size_t i = 0; i < t->nprocs; i++)
			live_ns += t->procs[i]->window_cpu_ns;
		if (win)
			agg.cpu_usage = 100.0 * live_ns / (double)win;
		t->cpu_residue_ns += window_ns - live_ns;
		if (t->cpu_residue_ns > 0 && win) {
			double exited = 100.0 * t->cpu_residue_ns / (double)win;
			t->cpu_residue_ns = 0;
			if (exited > 0.005) {
				agg.cpu_usage_exited = exited;
				agg.cpu_usage += exited;
			}
		}
		t->agg_cpu_ns += agg.cpu_usage / 100.0 * (double)win;
	}
	agg.cpu_secs = t->agg_cpu_ns / 1e9;
	t->prev_total_ns = total;
	t->prev_exact_total_ns = t->exact_total_ns;
	agg.sys_net_rx_bytes = sub0(rx, t->net_rx0);
	agg.sys_net_tx_bytes = sub0(tx, t->net_tx0);
	agg.ts_ms = wall_ms;
	if (agg.mem_rss_kb > agg.mem_peak_kb)
		agg.mem_peak_kb = agg.mem_rss_kb;
	t->agg = agg;
	t->last_boot_ns = now_boot;
	t->ngone_reported = t->ngone;
	return (int)t->nprocs;
}

/* The cheaper way by the measurements (each measured twice first). */
static bool cheaper_through_source(const struct dn_read_costs *c, size_t nprocs)
{
	if (c->src_n < 2)
		return true;
	if (c->proc_n < 2)
		return false;
	if (nprocs > 2 * c->src_nprocs || 2 * nprocs < c->src_nprocs)
		return true; /* the tree changed size since the source's was measured */
	return c->src_ns < c->proc_pp_ns * (double)(nprocs ? nprocs : 1);
}

bool dn_read_through_source(const struct dn_read_costs *c, size_t nprocs)
{
	bool src = cheaper_through_source(c, nprocs);
	if (c->src_n < 2 || c->proc_n < 2)
		return src;
	/* Try the other way again after DN_READ_PROBE_EVERY scans times how
	 * much dearer it was (at most 16 times), so that the trials cost
	 * ~1/64 of the sampling whatever the gap. */
	double proc = c->proc_pp_ns * (double)(nprocs ? nprocs : 1);
	double ratio = src ? proc / c->src_ns : c->src_ns / proc;
	if (ratio > 16)
		ratio = 16;
	if (ratio < 1)
		ratio = 1;
	return (double)c->since_probe >= DN_READ_PROBE_EVERY * ratio ? !src : src;
}

/* Folds a scan's cost into the measurement of the way it read. */
static void account_scan(struct dn_tree *t, bool through_source, uint64_t ns, size_t nprocs)
{
	struct dn_read_costs *c = &t->costs;
	bool probe = through_source != cheaper_through_source(c, nprocs);
	double v = (double)ns;
	/* the latest measurements weigh most: a trial every few hundred
	 * scans must be able to turn the choice */
	if (through_source) {
		/* the first pass of a new iterator pays for faulting its
		 * program and maps in: of the first two, the cheaper */
		if (c->src_n == 0)
			c->src_ns = v;
		else if (c->src_n == 1)
			c->src_ns = v < c->src_ns ? v : c->src_ns;
		else
			c->src_ns = 0.5 * c->src_ns + 0.5 * v;
		c->src_n++;
		c->src_nprocs = nprocs;
	} else {
		v /= (double)(nprocs ? nprocs : 1);
		c->proc_pp_ns = c->proc_pp_ns > 0 ? 0.5 * c->proc_pp_ns + 0.5 * v : v;
		c->proc_n++;
	}
	c->since_probe = probe ? 0 : c->since_probe + 1;
}

int dn_tree_scan(struct dn_tree *t, uint64_t wall_ms)
{
	size_t before = t->nprocs;
	uint64_t t0 = dn_mono_ns();
	int n = scan(t, wall_ms, true);
	if (t->src.refresh)
		account_scan(t, t->snap != NULL, dn_mono_ns() - t0,
			     before > t->nprocs ? before : t->nprocs);
	return n;
}

int dn_tree_init(struct dn_tree *t, const struct dn_tree_opts *o)
{
	memset(t, 0, sizeof *t);
	t->opts = *o;
	t->fd_netdev = -1;
	t->clk_tck = sysconf(_SC_CLK_TCK);
	if (t->clk_tck <= 0)
		t->clk_tck = 100;
	long ps = sysconf(_SC_PAGESIZE);
	t->page_kb = ps > 0 ? (uint64_t)ps / 1024 : 4;
	t->walk_children = o->children;
	if (o->source)
		t->src = *o->source;
	t->nbuckets = INITIAL_BUCKETS;
	t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
	if (!t->buckets)
		return -ENOMEM;
	struct dn_proc *root = proc_open(t, o->root);
	if (!root) {
		int e = errno;
		dn_tree_free(t);
		return -e;
	}
	int r = tree_insert(t, root);
	if (r < 0) {
		proc_free(root);
		dn_tree_free(t);
		return r;
	}
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/net/dev", (int)o->root);
	t->fd_netdev = open(path, O_RDONLY | O_CLOEXEC);
	t->t0_boot_ns = dn_boot_ns();
	set_baseline(t, root, true);
	/* The priming scan: baselines for everything already running, and a
	 * previous reading so the first sample's CPU covers a real window. */
	scan(t, dn_wall_ms(), false);
	for (size_t i = 0; i < t->nprocs; i++)
		t->procs[i]->is_new = false;
	t->nspawned = 0;
	t->primed = true;
	return 0;
}

int dn_tree_adopt(struct dn_tree *t, pid_t pid)
{
	int r = add_child(t, pid, false);
	return r < 0 ? r : (dn_tree_find(t, pid) ? 0 : -ESRCH);
}

void dn_tree_walk_children(struct dn_tree *t, bool on)
{
	t->walk_children = on && t->opts.children;
}

void dn_tree_walk_once(struct dn_tree *t)
{
	t->walk_once = true;
}

int dn_tree_signal(struct dn_tree *t, int sig, pid_t skip)
{
	int sent = 0;
	for (size_t i = 0; i < t->nprocs; i++) {
		struct dn_proc *p = t->procs[i];
		if (p->pid == skip)
			continue;
		int pfd = dn_pidfd_open(p->pid);
		if (pfd < 0 && errno != ENOSYS)
			continue; /* gone */
		/* Checked after the open: if the pid had passed to a newcomer
		 * by then, our process was reaped and its kept fd fails. */
		bool ours = identity_holds(t, p);
		if (pfd >= 0) {
			if (ours && dn_pidfd_signal(pfd, sig) == 0)
				sent++;
			close(pfd);
		} else if (ours && kill(p->pid, sig) == 0) {
			/* no pidfds (before Linux 5.3): the check and the
			 * signal are a few instructions apart */
			sent++;
		}
	}
	return sent;
}

void dn_tree_reread_command(struct dn_tree *t, pid_t pid)
{
	struct dn_proc *p = dn_tree_find(t, pid);
	if (!p)
		return;
	set_command(p, read_command(t, p));
}

void dn_tree_exec_seen(struct dn_tree *t, pid_t pid)
{
	struct dn_proc *p = dn_tree_find(t, pid);
	char *line = p ? read_cmdline(t, pid) : NULL;
	if (!line)
		return;
	set_command(p, line);
	p->command_is_comm = false;
}

struct dn_proc *dn_tree_root(const struct dn_tree *t)
{
	if (t->nprocs && t->procs[0]->pid == t->opts.root)
		return t->procs[0];
	return NULL;
}

void dn_tree_free(struct dn_tree *t)
{
	for (size_t i = 0; i < t->nprocs; i++)
		proc_free(t->procs[i]);
	clear_gone(t, t->ngone);
	free(t->gone);
	free(t->procs);
	free(t->buckets);
	free(t->rdbuf);
	if (t->fd_netdev >= 0)
		close(t->fd_netdev);
	memset(t, 0, sizeof *t);
	t->fd_netdev = -1;
}
