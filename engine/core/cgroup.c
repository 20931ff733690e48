/*
 * cgroup.c — the per-run cgroup declared in cgroup.h: finding the
 * hierarchies, making and removing the leaves, reading their counters.
 *
 * Owns the leaf directories it creates (removed by dn_cgroup_try_remove) and
 * the heap strings naming them; holds no file descriptors between calls.
 * Every control file is opened, read or written, and closed on the spot, so
 * a cgroup that vanished shows as ENOENT, which callers treat as an event.
 *
 * Parsers take (buf, len) and are bounded by an end pointer: recorded
 * mountinfo and control files test them exactly like live reads.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pidfd.h"
#include "cgroup.h"
#include "procfs.h"

#define DN_CG_MAX_V1	4
#define DN_CG_MAX_DEPTH 32

/* v1 hierarchies a run may join, each with the cgroup2 controller that
 * makes it unnecessary (NULL: cgroup2's always-present cpu.stat does). */
static const struct {
	const char *v1, *v2;
} v1_ctrls[DN_CG_MAX_V1] = {
	{"memory", "memory"},
	{"pids", "pids"},
	{"blkio", "io"},
	{"cpuacct", NULL},
};

struct dn_cg_v1 {
	const char *ctrl; /* static string from v1_ctrls */
	char *path;
};

struct dn_cgroup {
	bool owned;   /* created by us: dn_cgroup_try_remove removes the leaves */
	char *v2;     /* cgroup2 directory, or NULL */
	char *v2_top; /* where stragglers go (the parent), owned only */
	struct dn_cg_v1 v1[DN_CG_MAX_V1];
	char *v1_top[DN_CG_MAX_V1];
	/* leaves already removed: later tries skip them (two v1 controllers
	 * mounted together share one leaf; the second sees ENOENT: gone) */
	bool v2_gone, v1_gone[DN_CG_MAX_V1];
	int nv1;
	uint64_t peak_kb; /* largest memory figure read so far */
	bool v2_no_mem;	  /* cgroup2 has no memory files here: not read */
	char source[96];
};

static atomic_uint leaf_seq;

__attribute__((format(printf, 3, 4))) static void say(char *why, size_t whylen, const char *fmt,
						      ...)
{
	va_list ap;

	if (!why || !whylen)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* ---- parsers ---------------------------------------------------------- */

struct tok {
	const char *p;
	size_t n;
};

static bool tok_is(struct tok t, const char *s)
{
	size_t n = strlen(s);

	return t.n == n && memcmp(t.p, s, n) == 0;
}

static int tok_u64(struct tok t, uint64_t *v)
{
	uint64_t x = 0;

	if (!t.n)
		return -EINVAL;
	for (size_t i = 0; i < t.n; i++) {
		unsigned d = (unsigned)(t.p[i] - '0');

		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return -EINVAL;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

/* Splits [p, end) at `sep` and tabs into at most max tokens. */
static size_t split(const char *p, const char *end, char sep, struct tok *out, size_t max)
{
	size_t n = 0;

	while (p < end && n < max) {
		const char *s;

		while (p < end && (*p == sep || *p == '\t'))
			p++;
		if (p >= end)
			break;
		s = p;
		while (p < end && *p != sep && *p != '\t')
			p++;
		out[n].p = s;
		out[n].n = (size_t)(p - s);
		n++;
	}
	return n;
}

static const char *line_end(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl ? nl : end;
}

/* Is `word` one of the comma-separated items of t? */
static bool has_item(struct tok t, const char *word, char sep)
{
	size_t n = strlen(word);
	const char *p = t.p, *end = t.p + t.n;

	while (p < end) {
		const char *q = memchr(p, sep, (size_t)(end - p));

		if (!q)
			q = end;
		if ((size_t)(q - p) == n && memcmp(p, word, n) == 0)
			return true;
		p = q + 1;
	}
	return false;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static int unescape(struct tok t, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < t.n; i++) {
		char c = t.p[i];

		if (c == '\\' && i + 3 < t.n && t.p[i + 1] >= '0' && t.p[i + 1] <= '3' &&
		    t.p[i + 2] >= '0' && t.p[i + 2] <= '7' && t.p[i + 3] >= '0' &&
		    t.p[i + 3] <= '7') {
			c = (char)((t.p[i + 1] - '0') * 64 + (t.p[i + 2] - '0') * 8 +
				   (t.p[i + 3] - '0'));
			i += 3;
		}
		if (o + 1 >= outlen)
			return -ENAMETOOLONG;
		out[o++] = c;
	}
	if (!outlen)
		return -ENAMETOOLONG;
	out[o] = '\0';
	return 0;
}

int dn_cgroup_parse_mount(const char *buf, size_t len, const char *controller, char *mnt,
			  size_t mntlen, char *root, size_t rootlen)
{
	const char *p = buf, *end = buf + len;

	while (p < end) {
		const char *e = line_end(p, end);
		struct tok t[40];
		size_t n = split(p, e, ' ', t, 40), dash = 0;
		int rc;

		p = e + 1;
		for (size_t i = 6; i < n; i++)
			if (tok_is(t[i], "-")) {
				dash = i;
				break;
			}
		if (!dash || dash + 3 >= n)
			continue;
		if (controller) {
			if (!tok_is(t[dash + 1], "cgroup") ||
			    !has_item(t[dash + 3], controller, ','))
				continue;
		} else if (!tok_is(t[dash + 1], "cgroup2")) {
			continue;
		}
		rc = unescape(t[4], mnt, mntlen);
		if (rc == 0)
			rc = unescape(t[3], root, rootlen);
		return rc;
	}
	return -ENOENT;
}

int dn_cgroup_parse_proc(const char *buf, size_t len, const char *controller, char *path,
			 size_t pathlen)
{
	const char *p = buf, *end = buf + len;

	while (p < end) {
		const char *e = line_end(p, end), *c1, *c2;
		struct tok ids, ctrls;
		size_t n;

		c1 = memchr(p, ':', (size_t)(e - p));
		c2 = c1 ? memchr(c1 + 1, ':', (size_t)(e - c1 - 1)) : NULL;
		ids.p = p;
		ids.n = c1 ? (size_t)(c1 - p) : 0;
		p = e + 1;
		if (!c2)
			continue;
		ctrls.p = c1 + 1;
		ctrls.n = (size_t)(c2 - c1 - 1);
		if (controller ? !has_item(ctrls, controller, ',')
			       : !(tok_is(ids, "0") && ctrls.n == 0))
			continue;
		n = (size_t)(e - c2 - 1);
		if (n + 1 > pathlen)
			return -ENAMETOOLONG;
		memcpy(path, c2 + 1, n);
		path[n] = '\0';
		return 0;
	}
	return -ENOENT;
}

int dn_cgroup_parse_kv(const char *buf, size_t len, const char *key, uint64_t *val)
{
	const char *p = buf, *end = buf + len;

	while (p < end) {
		const char *e = line_end(p, end);
		struct tok t[2];
		size_t n = split(p, e, ' ', t, 2);

		p = e + 1;
		if (n == 2 && tok_is(t[0], key))
			return tok_u64(t[1], val);
	}
	return -ENOENT;
}

int dn_cgroup_parse_io_stat(const char *buf, size_t len, uint64_t *rbytes, uint64_t *wbytes)
{
	const char *p = buf, *end = buf + len;
	uint64_t r = 0, w = 0;

	while (p < end) {
		const char *e = line_end(p, end);
		struct tok t[16];
		size_t n = split(p, e, ' ', t, 16);

		p = e + 1;
		for (size_t i = 1; i < n; i++) {
			const char *eq = memchr(t[i].p, '=', t[i].n);
			struct tok k, v;
			uint64_t x;

			if (!eq)
				return -EINVAL;
			k.p = t[i].p;
			k.n = (size_t)(eq - t[i].p);
			v.p = eq + 1;
			v.n = t[i].n - k.n - 1;
			if (tok_is(k, "rbytes") || tok_is(k, "wbytes")) {
				if (tok_u64(v, &x))
					return -EINVAL;
				*(tok_is(k, "rbytes") ? &r : &w) += x;
			}
		}
	}
	*rbytes = r;
	*wbytes = w;
	return 0;
}

int dn_cgroup_parse_blkio(const char *buf, size_t len, uint64_t *rbytes, uint64_t *wbytes)
{
	const char *p = buf, *end = buf + len;
	uint64_t r = 0, w = 0;
	int lines = 0;

	while (p < end) {
		const char *e = line_end(p, end);
		struct tok t[4];
		size_t n = split(p, e, ' ', t, 4);
		uint64_t x;

		p = e + 1;
		if (n != 3 || !(tok_is(t[1], "Read") || tok_is(t[1], "Write")))
			continue;
		if (tok_u64(t[2], &x))
			return -EINVAL;
		*(tok_is(t[1], "Read") ? &r : &w) += x;
		lines++;
	}
	*rbytes = r;
	*wbytes = w;
	return lines;
}

/* ---- files ------------------------------------------------------------ */

static int pjoin(char *out, size_t n, const char *a, const char *b)
{
	int k = snprintf(out, n, "%s/%s", a, b);

	return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

/* The whole of a (pseudo) file, NUL-terminated; NULL and errno. */
static char *slurp(const char *path, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap), *nb;
	int fd, e;

	if (!buf)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto fail;
	for (;;) {
		ssize_t r;

		if (n + 1 >= cap) {
			nb = realloc(buf, cap * 2);
			if (!nb)
				goto fail;
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	free(buf);
	errno = e;
	return NULL;
}

/* A small control file into buf; its length or -errno. */
static ssize_t read_small(const char *dir, const char *name, char *buf, size_t size)
{
	char path[PATH_MAX];
	ssize_t r, n = 0;
	int fd;

	if (pjoin(path, sizeof path, dir, name))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while ((size_t)n < size - 1) {
		r = read(fd, buf + n, size - 1 - (size_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			r = -errno;
			close(fd);
			return r;
		}
		if (r == 0)
			break;
		n += r;
	}
	close(fd);
	buf[n] = '\0';
	return n;
}

static int read_u64(const char *dir, const char *name, uint64_t *v)
{
	char buf[64];
	ssize_t n = read_small(dir, name, buf, sizeof buf);
	struct tok t;

	if (n < 0)
		return (int)n;
	if (!split(buf, buf + n, ' ', &t, 1))
		return -EINVAL;
	if (t.n && t.p[t.n - 1] == '\n')
		t.n--;
	return tok_u64(t, v);
}

static int write_str(const char *dir, const char *name, const char *s)
{
	char path[PATH_MAX];
	size_t n = strlen(s);
	ssize_t r;
	int fd;

	if (pjoin(path, sizeof path, dir, name))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		r = write(fd, s, n);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		r = -errno;
	else if ((size_t)r != n)
		r = -EIO;
	else
		r = 0;
	close(fd);
	return (int)r;
}

/* Calls fn for each pid in dir's cgroup.procs and in the cgroups below it,
 * until fn returns nonzero (which is returned). A cgroup that vanished
 * under us has no pids. */
static int for_each_pid(const char *dir, int (*fn)(pid_t, void *), void *arg, int depth)
{
	char path[PATH_MAX];
	size_t len;
	char *buf, *p, *end;
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (depth > DN_CG_MAX_DEPTH || pjoin(path, sizeof path, dir, "cgroup.procs"))
		return 0;
	buf = slurp(path, &len);
	if (buf) {
		for (p = buf, end = buf + len; p < end && !rc;) {
			char *e = (char *)line_end(p, end);
			struct tok t = {p, (size_t)(e - p)};
			uint64_t v;

			if (tok_u64(t, &v) == 0 && v > 0 && v <= INT_MAX)
				rc = fn((pid_t)v, arg);
			p = e + 1;
		}
		free(buf);
	}
	if (rc)
		return rc;
	d = opendir(dir);
	if (!d)
		return 0;
	while (!rc && (de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (pjoin(path, sizeof path, dir, de->d_name) == 0)
			rc = for_each_pid(path, fn, arg, depth + 1);
	}
	closedir(d);
	return rc;
}

static int count_one(pid_t pid, void *arg)
{
	(void)pid;
	++*(uint64_t *)arg;
	return 0;
}

/* The pids of one listing of a cgroup (and the cgroups below it), in an
 * array that grows. */
struct pid_vec {
	pid_t *pid;
	size_t n, cap;
};

static int vec_one(pid_t pid, void *arg)
{
	struct pid_vec *l = arg;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;
		pid_t *np = realloc(l->pid, ncap * sizeof *np);
		if (!np)
			return -ENOMEM;
		l->pid = np;
		l->cap = ncap;
	}
	l->pid[l->n++] = pid;
	return 0;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	return (x > y) - (x < y);
}

/* (qsort and bsearch take no NULL, which an empty vector holds) */
static void sort_pids(struct pid_vec *v)
{
	if (v->n)
		qsort(v->pid, v->n, sizeof *v->pid, cmp_pid);
}

static bool has_pid(const struct pid_vec *v, pid_t pid)
{
	return v->n && bsearch(&pid, v->pid, v->n, sizeof *v->pid, cmp_pid);
}

static int evict_one(pid_t pid, void *arg)
{
	char s[24];

	snprintf(s, sizeof s, "%d", (int)pid);
	write_str(arg, "cgroup.procs", s);
	return 0;
}

/* Removes dir and any cgroups made inside it, deepest first: 0 or -errno of
 * dir's own rmdir (ENOENT counts as done). */
static int rmdir_tree(const char *dir, int depth)
{
	char path[PATH_MAX];
	DIR *d;
	struct dirent *de;

	if (depth > DN_CG_MAX_DEPTH)
		return -ELOOP;
	d = opendir(dir);
	if (d) {
		while ((de = readdir(d))) {
			if (de->d_type != DT_DIR || de->d_name[0] == '.')
				continue;
			if (pjoin(path, sizeof path, dir, de->d_name) == 0)
				rmdir_tree(path, depth + 1);
		}
		closedir(d);
	}
	if (rmdir(dir) == 0 || errno == ENOENT)
		return 0;
	return -errno;
}

/* ---- hierarchies ------------------------------------------------------ */

static const char *const blkio_files[] = {
	"blkio.throttle.io_service_bytes_recursive",
	"blkio.throttle.io_service_bytes",
	"blkio.io_service_bytes_recursive",
};

/* Does v1 blkio count anything? Recent kernels account blk-throttle bytes
 * only for devices with a throttle rule, and the CFQ files are gone: then
 * the hierarchy's root lists no device at all, and a leaf would read 0
 * bytes that are not true. */
static bool blkio_live(const char *mi, size_t milen)
{
	char mnt[PATH_MAX], root[PATH_MAX], buf[4096];
	uint64_t r, w;

	if (dn_cgroup_parse_mount(mi, milen, "blkio", mnt, sizeof mnt, root, sizeof root))
		return false;
	for (size_t i = 0; i < sizeof blkio_files / sizeof blkio_files[0]; i++) {
		ssize_t n = read_small(mnt, blkio_files[i], buf, sizeof buf);

		if (n >= 0 && dn_cgroup_parse_blkio(buf, (size_t)n, &r, &w) > 0)
			return true;
	}
	return false;
}

/* The directory of the cgroup that `proccg` (text of /proc/PID/cgroup)
 * names in the hierarchy of `controller` (NULL: cgroup2). *is_root says
 * whether it is the hierarchy's root cgroup. */
static int cgroup_dir(const char *mi, size_t milen, const char *proccg, size_t cglen,
		      const char *controller, char *out, size_t outlen, bool *is_root)
{
	char mnt[PATH_MAX], root[PATH_MAX], rel[PATH_MAX];
	const char *tail;
	size_t rl;
	int rc, k;

	rc = dn_cgroup_parse_mount(mi, milen, controller, mnt, sizeof mnt, root, sizeof root);
	if (rc == 0)
		rc = dn_cgroup_parse_proc(proccg, cglen, controller, rel, sizeof rel);
	if (rc)
		return rc;
	/* The mount shows the hierarchy from `root` down; a cgroup outside it
	 * (e.g. above a cgroup namespace) cannot be reached through it. */
	rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
	if (strncmp(rel, root, rl) != 0 || (rel[rl] != '/' && rel[rl] != '\0'))
		return -ENOENT;
	tail = rel + rl;
	if (strcmp(tail, "/..") == 0 || strncmp(tail, "/../", 4) == 0)
		return -ENOENT;
	while (*tail == '/')
		tail++;
	if (is_root)
		*is_root = *tail == '\0';
	k = *tail ? snprintf(out, outlen, "%s/%s", mnt, tail) : snprintf(out, outlen, "%s", mnt);
	return k < 0 || (size_t)k >= outlen ? -ENAMETOOLONG : 0;
}

/* Enables in parent/cgroup.subtree_control those of cpu, memory, io and pids
 * it offers. Failure (EBUSY when the parent holds processes and is not the
 * root, EACCES without delegation) only means fewer files to read. */
static void enable_controllers(const char *parent)
{
	static const char *const want[] = {"cpu", "memory", "io", "pids"};
	char avail[512], on[512], cmd[16];
	ssize_t na = read_small(parent, "cgroup.controllers", avail, sizeof avail);
	ssize_t no = read_small(parent, "cgroup.subtree_control", on, sizeof on);

	if (na <= 0 || no < 0)
		return;
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		struct tok ta = {avail, (size_t)na}, to = {on, (size_t)no};

		while (ta.n && ta.p[ta.n - 1] == '\n')
			ta.n--;
		while (to.n && to.p[to.n - 1] == '\n')
			to.n--;
		if (!has_item(ta, want[i], ' ') || has_item(to, want[i], ' '))
			continue;
		snprintf(cmd, sizeof cmd, "+%s", want[i]);
		write_str(parent, "cgroup.subtree_control", cmd);
	}
}

/* Is pid a live process that may own a leaf named after it? denet names a
 * leaf by getpid(), a thread-group leader; a pid that now names a thread
 * of another process is a reuse, not the owner (kill(2) would signal it
 * all the same). */
static bool owner_alive(int pid)
{
	char path[64], buf[1024];
	struct tok t[2];
	const char *p, *e;
	uint64_t tgid;
	ssize_t n;

	snprintf(path, sizeof path, "/proc/%d", pid);
	n = read_small(path, "status", buf, sizeof buf);
	if (n == -ENOENT || n == -ESRCH)
		return false;
	if (n < 0)
		return true; /* unreadable: assume the owner is there */
	p = strstr(buf, "\nTgid:");
	if (!p)
		return true;
	p++;
	e = line_end(p, buf + n);
	if (split(p, e, ' ', t, 2) != 2 || tok_u64(t[1], &tgid))
		return true;
	return tgid == (uint64_t)pid;
}

/* Leaves of a denet that could not remove them (it was SIGKILLed, the
 * machine lost power, or a task of the run took longer to exit than the
 * run's end waited): denet-PID-N whose PID is gone, in this parent. Each
 * hierarchy is swept on its own because the parents differ: on a hybrid
 * layout denet's cgroup2 parent may be shared by every session while its
 * v1 memory parent is per session, so a v1 leaf is only ever found by a
 * later denet of the same v1 cgroup. rmdir only removes an empty cgroup,
 * so a leaf still holding the orphaned command stays until a later run
 * finds it empty. A PID taken again by another process (as a process, not
 * as a thread: owner_alive) keeps its leaf for now. 0, or the count of
 * leaves removed. */
static int sweep_stale(const char *parent)
{
	char path[PATH_MAX];
	DIR *d = opendir(parent);
	struct dirent *de;
	int removed = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		int pid, n = 0;
		unsigned seq;

		if (de->d_type != DT_DIR ||
		    sscanf(de->d_name, "denet-%d-%u%n", &pid, &seq, &n) != 2 ||
		    de->d_name[n] != '\0' || pid <= 0 || pid == (int)getpid())
			continue;
		if (owner_alive(pid))
			continue;
		if (pjoin(path, sizeof path, parent, de->d_name) == 0 && rmdir_tree(path, 0) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

/* mkdir parent/denet-PID-N; the new path (malloc) in *out. */
static int make_leaf(const char *parent, char **out, char *why, size_t whylen)
{
	char path[PATH_MAX];

	sweep_stale(parent);
	for (int tries = 0; tries < 100; tries++) {
		int k = snprintf(path, sizeof path, "%s/denet-%d-%u", parent, (int)getpid(),
				 atomic_fetch_add(&leaf_seq, 1));

		if (k < 0 || (size_t)k >= sizeof path) {
			say(why, whylen, "cgroup path too long under %s", parent);
			return -ENAMETOOLONG;
		}
		if (mkdir(path, 0755) == 0) {
			*out = strdup(path);
			if (*out)
				return 0;
			rmdir(path);
			say(why, whylen, "out of memory");
			return -ENOMEM;
		}
		if (errno != EEXIST) {
			int e = errno;

			say(why, whylen, "cannot create %s: %s", path, strerror(e));
			return -e;
		}
	}
	say(why, whylen, "cannot create a cgroup under %s: names taken", parent);
	return -EEXIST;
}

static bool leaf_has(const char *dir, const char *ctrl)
{
	char buf[512];
	ssize_t n = read_small(dir, "cgroup.controllers", buf, sizeof buf);
	struct tok t = {buf, n > 0 ? (size_t)n : 0};

	while (t.n && t.p[t.n - 1] == '\n')
		t.n--;
	return n > 0 && has_item(t, ctrl, ' ');
}

static void set_source(struct dn_cgroup *cg)
{
	size_t o = 0;

	cg->source[0] = '\0';
	if (cg->v2)
		o = (size_t)snprintf(cg->source, sizeof cg->source, "cgroup2");
	for (int i = 0; i < cg->nv1 && o < sizeof cg->source; i++)
		o += (size_t)snprintf(cg->source + o, sizeof cg->source - o, "%s%s-v1",
				      o ? "+" : "", cg->v1[i].ctrl);
}

static void free_cg(struct dn_cgroup *cg)
{
	free(cg->v2);
	free(cg->v2_top);
	for (int i = 0; i < cg->nv1; i++) {
		free(cg->v1[i].path);
		free(cg->v1_top[i]);
	}
	free(cg);
}

struct dn_cgroup *dn_cgroup_create(char *why, size_t whylen)
{
	char parent[PATH_MAX];
	size_t milen, cglen;
	char *mi = NULL, *self = NULL;
	struct dn_cgroup *cg = calloc(1, sizeof *cg);
	int rc = 0;

	if (!cg) {
		say(why, whylen, "out of memory");
		return NULL;
	}
	cg->owned = true;
	mi = slurp("/proc/self/mountinfo", &milen);
	if (!mi) {
		rc = -errno;
		say(why, whylen, "cannot read /proc/self/mountinfo: %s", strerror(errno));
		goto fail;
	}
	self = slurp("/proc/self/cgroup", &cglen);
	if (!self) {
		rc = -errno;
		say(why, whylen, "cannot read /proc/self/cgroup: %s", strerror(errno));
		goto fail;
	}
	rc = cgroup_dir(mi, milen, self, cglen, NULL, parent, sizeof parent, NULL);
	if (rc == 0) {
		enable_controllers(parent);
		rc = make_leaf(parent, &cg->v2, why, whylen);
		if (rc)
			goto fail;
		cg->v2_top = strdup(parent);
	} else if (rc != -ENOENT) {
		say(why, whylen, "cannot locate denet's cgroup2 directory: %s", strerror(-rc));
		goto fail;
	}
	for (size_t i = 0; i < DN_CG_MAX_V1; i++) {
		char lwhy[PATH_MAX + 64];
		char *leaf = NULL;
		int j;

		if (cg->v2 && (!v1_ctrls[i].v2 || leaf_has(cg->v2, v1_ctrls[i].v2)))
			continue;
		if (strcmp(v1_ctrls[i].v1, "blkio") == 0 && !blkio_live(mi, milen))
			continue;
		if (cgroup_dir(mi, milen, self, cglen, v1_ctrls[i].v1, parent, sizeof parent, NULL))
			continue;
		/* Controllers mounted together share one directory. */
		for (j = 0; j < cg->nv1; j++)
			if (cg->v1_top[j] && strcmp(cg->v1_top[j], parent) == 0)
				break;
		if (j < cg->nv1)
			leaf = strdup(cg->v1[j].path);
		else if (make_leaf(parent, &leaf, lwhy, sizeof lwhy))
			continue; /* a v1 extra: without it, fewer figures */
		if (!leaf)
			continue;
		cg->v1[cg->nv1].ctrl = v1_ctrls[i].v1;
		cg->v1[cg->nv1].path = leaf;
		cg->v1_top[cg->nv1] = strdup(parent);
		cg->nv1++;
	}
	if (!cg->v2 && !cg->nv1) {
		rc = -ENOENT;
		say(why, whylen, "cgroup2 not mounted and no usable cgroup v1 hierarchy");
		goto fail;
	}
	set_source(cg);
	free(mi);
	free(self);
	return cg;
fail:
	free(mi);
	free(self);
	/* Nothing was moved in yet: the leaves made so far are empty and go
	 * at the first rmdir. */
	dn_cgroup_try_remove(cg, false);
	free_cg(cg);
	errno = rc < 0 ? -rc : EIO;
	return NULL;
}

const char *dn_cgroup_path(const struct dn_cgroup *cg, const char *controller)
{
	if (!cg)
		return NULL;
	if (!controller)
		return cg->v2;
	for (int i = 0; i < cg->nv1; i++)
		if (strcmp(cg->v1[i].ctrl, controller) == 0)
			return cg->v1[i].path;
	return NULL;
}

int dn_cgroup_add(struct dn_cgroup *cg, pid_t pid)
{
	char s[24];
	int rc;

	if (!cg || pid <= 0)
		return -EINVAL;
	snprintf(s, sizeof s, "%d", (int)pid);
	if (cg->v2 && (rc = write_str(cg->v2, "cgroup.procs", s)))
		return rc;
	for (int i = 0; i < cg->nv1; i++)
		if ((rc = write_str(cg->v1[i].path, "cgroup.procs", s)))
			return rc;
	return 0;
}

static const char *primary(const struct dn_cgroup *cg)
{
	return cg->v2 ? cg->v2 : cg->nv1 ? cg->v1[0].path : NULL;
}

static void read_v2(const char *dir, struct dn_cgroup_stats *st, uint64_t *peak, bool *no_mem,
		    bool full)
{
	char buf[4096];
	ssize_t n;
	uint64_t v;

	n = read_small(dir, "cpu.stat", buf, sizeof buf);
	if (n >= 0 && dn_cgroup_parse_kv(buf, (size_t)n, "usage_usec", &st->usage_usec) == 0) {
		st->has_cpu = true;
		dn_cgroup_parse_kv(buf, (size_t)n, "user_usec", &st->user_usec);
		dn_cgroup_parse_kv(buf, (size_t)n, "system_usec", &st->system_usec);
	}
	/* A sample needs the peak alone (the aggregate's mem_peak_kb), and
	 * memory.peak (Linux 5.19) is never below memory.current: current
	 * is read only without a peak file, or for a full reading. Where
	 * neither exists (a hybrid layout keeps memory on v1) that is
	 * remembered, not asked again on every sample. */
	if (!*no_mem) {
		int r = read_u64(dir, "memory.peak", &v);
		if (r == 0) {
			st->has_mem = true;
			if (v / 1024 > *peak)
				*peak = v / 1024;
		}
		if (r < 0 || full) {
			int c = read_u64(dir, "memory.current", &v);
			if (c == 0) {
				st->has_mem = true;
				st->mem_current_kb = v / 1024;
			} else if (r == -ENOENT && c == -ENOENT) {
				*no_mem = true;
			}
		}
	}
	if (!full)
		return;
	n = read_small(dir, "memory.events", buf, sizeof buf);
	if (n >= 0 && dn_cgroup_parse_kv(buf, (size_t)n, "oom_kill", &st->oom_kills) == 0)
		st->has_oom = true;
	n = read_small(dir, "io.stat", buf, sizeof buf);
	if (n >= 0 &&
	    dn_cgroup_parse_io_stat(buf, (size_t)n, &st->io_read_bytes, &st->io_write_bytes) == 0)
		st->has_io = true;
	if (read_u64(dir, "pids.current", &st->pids_current) == 0)
		st->has_pids = true;
}

static void read_v1(const struct dn_cg_v1 *h, struct dn_cgroup_stats *st, uint64_t *peak, bool full)
{
	char buf[4096];
	ssize_t n;
	uint64_t v;

	if (strcmp(h->ctrl, "memory") == 0) {
		/* as on v2: the peak, the usage only without it */
		int r = read_u64(h->path, "memory.max_usage_in_bytes", &v);
		if (r == 0) {
			st->has_mem = true;
			if (v / 1024 > *peak)
				*peak = v / 1024;
		}
		if ((r < 0 || full) && read_u64(h->path, "memory.usage_in_bytes", &v) == 0) {
			st->has_mem = true;
			st->mem_current_kb = v / 1024;
		}
		if (!full)
			return;
		n = read_small(h->path, "memory.oom_control", buf, sizeof buf);
		if (n >= 0 && dn_cgroup_parse_kv(buf, (size_t)n, "oom_kill", &st->oom_kills) == 0)
			st->has_oom = true;
	} else if (!full && strcmp(h->ctrl, "cpuacct") != 0) {
		return; /* pids and blkio: only for a full reading */
	} else if (strcmp(h->ctrl, "pids") == 0) {
		if (read_u64(h->path, "pids.current", &st->pids_current) == 0)
			st->has_pids = true;
	} else if (strcmp(h->ctrl, "blkio") == 0) {
		for (size_t i = 0; i < sizeof blkio_files / sizeof blkio_files[0]; i++) {
			n = read_small(h->path, blkio_files[i], buf, sizeof buf);
			if (n >= 0 && dn_cgroup_parse_blkio(buf, (size_t)n, &st->io_read_bytes,
							    &st->io_write_bytes) >= 0) {
				st->has_io = true;
				break;
			}
		}
	} else if (strcmp(h->ctrl, "cpuacct") == 0 && !st->has_cpu) {
		if (read_u64(h->path, "cpuacct.usage", &v))
			return;
		st->has_cpu = true;
		st->usage_usec = v / 1000;
		if (read_u64(h->path, "cpuacct.usage_user", &v) == 0) {
			st->user_usec = v / 1000;
			if (read_u64(h->path, "cpuacct.usage_sys", &v) == 0)
				st->system_usec = v / 1000;
		} else {
			/* Older kernels: only ticks of USER_HZ in cpuacct.stat. */
			long hz = sysconf(_SC_CLK_TCK);

			n = read_small(h->path, "cpuacct.stat", buf, sizeof buf);
			if (n >= 0 && hz > 0) {
				if (dn_cgroup_parse_kv(buf, (size_t)n, "user", &v) == 0)
					st->user_usec = v * (1000000 / (uint64_t)hz);
				if (dn_cgroup_parse_kv(buf, (size_t)n, "system", &v) == 0)
					st->system_usec = v * (1000000 / (uint64_t)hz);
			}
		}
	}
}

static int read_stats(struct dn_cgroup *cg, struct dn_cgroup_stats *st, bool full)
{
	const char *dir;

	memset(st, 0, sizeof *st);
	if (!cg)
		return -EINVAL;
	st->source = cg->source;
	if (cg->v2)
		read_v2(cg->v2, st, &cg->peak_kb, &cg->v2_no_mem, full);
	for (int i = 0; i < cg->nv1; i++)
		read_v1(&cg->v1[i], st, &cg->peak_kb, full);
	if (st->has_mem) {
		if (st->mem_current_kb > cg->peak_kb)
			cg->peak_kb = st->mem_current_kb;
		st->mem_peak_kb = cg->peak_kb;
	}
	if (!st->has_cpu && !st->has_mem && !st->has_io && !st->has_pids && !st->has_oom)
		return -ENOENT;
	dir = primary(cg);
	if (full && dir)
		for_each_pid(dir, count_one, &st->procs_now, 0);
	return 0;
}

int dn_cgroup_read(struct dn_cgroup *cg, struct dn_cgroup_stats *st)
{
	return read_stats(cg, st, true);
}

int dn_cgroup_read_sample(struct dn_cgroup *cg, struct dn_cgroup_stats *st)
{
	return read_stats(cg, st, false);
}

struct pid_list {
	pid_t *pids;
	size_t max, n;
};

static int list_one(pid_t pid, void *arg)
{
	struct pid_list *l = arg;

	if (l->n < l->max)
		l->pids[l->n] = pid;
	l->n++;
	return 0;
}

size_t dn_cgroup_pids(struct dn_cgroup *cg, pid_t *pids, size_t max)
{
	struct pid_list l = {pids, max, 0};
	const char *dir = cg ? primary(cg) : NULL;

	if (dir)
		for_each_pid(dir, list_one, &l, 0);
	return l.n;
}

bool dn_cgroup_kills_atomically(const struct dn_cgroup *cg)
{
	char path[PATH_MAX];
	struct stat sb;

	return cg && cg->v2 && pjoin(path, sizeof path, cg->v2, "cgroup.kill") == 0 &&
	       stat(path, &sb) == 0;
}

int dn_cgroup_kill(struct dn_cgroup *cg)
{
	struct stat sb;
	char path[PATH_MAX];

	if (!cg)
		return -EINVAL;
	if (cg->v2 && pjoin(path, sizeof path, cg->v2, "cgroup.kill") == 0 && stat(path, &sb) == 0)
		return write_str(cg->v2, "cgroup.kill", "1");
	return dn_cgroup_kill_each(cg);
}

/* One round: list, open a pidfd on each, list again; a pid in both lists
 * whose pidfd's process is still alive after the second listing was in the
 * cgroup while the pidfd named it (a pid is reused only after its process
 * is gone), so the SIGKILL goes to that process, never to a newcomer that
 * took a pid from the first listing. Pids in `done` (sorted) were killed
 * by an earlier round and may still be listed, exiting: they are left
 * alone; the ones killed now are added. Returns how many were killed. */
#define NO_PIDFDS  (-2) /* pidfd_open is ENOSYS */
#define KILL_CHUNK 256

/* A pidfd, -1 (gone), or NO_PIDFDS. */
static int open_pidfd(pid_t pid)
{
	int fd = dn_pidfd_open(pid);
	return fd >= 0 ? fd : errno == ENOSYS ? NO_PIDFDS : -1;
}

static int kill_round(const char *dir, struct pid_vec *done)
{
	struct pid_vec a = {0}, b = {0};
	int killed = 0;

	for_each_pid(dir, vec_one, &a, 0);
	int *pfd = malloc((a.n ? a.n : 1) * sizeof *pfd);
	if (!pfd) {
		free(a.pid);
		return -ENOMEM;
	}
	/* at most KILL_CHUNK pidfds open at once (RLIMIT_NOFILE): the rest
	 * wait for the next round */
	size_t opened = 0;
	for (size_t i = 0; i < a.n; i++)
		pfd[i] = has_pid(done, a.pid[i]) || opened >= KILL_CHUNK
				 ? -1
				 : (opened++, open_pidfd(a.pid[i]));
	for_each_pid(dir, vec_one, &b, 0);
	sort_pids(&b);
	for (size_t i = 0; i < a.n; i++) {
		bool hit = false;
		/* Before Linux 5.3 (and under valgrind) there are no pidfds:
		 * a pid still listed now, signalled at once. */
		if (pfd[i] == NO_PIDFDS)
			hit = has_pid(&b, a.pid[i]) && kill(a.pid[i], SIGKILL) == 0;
		else if (pfd[i] >= 0)
			hit = has_pid(&b, a.pid[i]) && dn_pidfd_signal(pfd[i], 0) == 0 &&
			      dn_pidfd_signal(pfd[i], SIGKILL) == 0;
		if (hit) {
			killed++;
			vec_one(a.pid[i], done);
		}
		if (pfd[i] >= 0)
			close(pfd[i]);
	}
	sort_pids(done);
	free(pfd);
	free(a.pid);
	free(b.pid);
	return killed;
}

int dn_cgroup_kill_each(struct dn_cgroup *cg)
{
	const char *dir = cg ? primary(cg) : NULL;

	if (!dir)
		return -ENOENT;
	if (access(dir, F_OK))
		return -errno;
	/* A fork can slip between a listing and the signals: rounds back to
	 * back until one kills nobody new (no pause: this runs in the event
	 * loop; processes killed in a round may still be listed, exiting, in
	 * the next, and are skipped). Best effort: a fork racing the last
	 * round survives it (dn_cgroup_kills_atomically says so). */
	struct pid_vec done = {0};
	int total = 0;
	for (int round = 0; round < 64; round++) {
		int k = kill_round(dir, &done);
		if (k <= 0) {
			total = k < 0 ? k : total;
			break;
		}
		total += k;
	}
	free(done.pid);
	return total;
}

/* One rmdir of a leaf still there (cgroups made inside it first), after
 * moving what still runs in it to `top` when asked. EBUSY while a task is
 * between exit and its release from the cgroup: the caller tries again
 * later; nothing here waits. */
static int remove_leaf(const char *dir, const char *top, bool evict, bool *gone)
{
	int rc;

	if (*gone)
		return 0;
	if (evict && top)
		for_each_pid(dir, evict_one, (void *)top, 0);
	rc = rmdir_tree(dir, 0);
	if (rc == 0)
		*gone = true;
	return rc;
}

int dn_cgroup_try_remove(struct dn_cgroup *cg, bool evict)
{
	int rc = 0, r;

	if (!cg || !cg->owned)
		return 0;
	if (cg->v2 && (r = remove_leaf(cg->v2, cg->v2_top, evict, &cg->v2_gone)) && rc != -EBUSY)
		rc = r;
	for (int i = 0; i < cg->nv1; i++)
		if ((r = remove_leaf(cg->v1[i].path, cg->v1_top[i], evict, &cg->v1_gone[i])) &&
		    rc != -EBUSY)
			rc = r;
	return rc;
}

int dn_cgroup_evict(struct dn_cgroup *cg)
{
	if (!cg || !cg->owned)
		return 0;
	if (cg->v2 && !cg->v2_gone)
		for_each_pid(cg->v2, evict_one, cg->v2_top, 0);
	for (int i = 0; i < cg->nv1; i++)
		if (!cg->v1_gone[i])
			for_each_pid(cg->v1[i].path, evict_one, cg->v1_top[i], 0);
	return 0;
}

void dn_cgroup_free(struct dn_cgroup *cg)
{
	if (cg)
		free_cg(cg);
}

int dn_cgroup_set_memory_limit(struct dn_cgroup *cg, uint64_t bytes)
{
	char s[32];
	const char *dir;
	int rc;

	if (!cg)
		return -EINVAL;
	snprintf(s, sizeof s, "%llu", (unsigned long long)bytes);
	if (cg->v2 && leaf_has(cg->v2, "memory")) {
		rc = write_str(cg->v2, "memory.max", s);
		if (rc == 0)
			write_str(cg->v2, "memory.swap.max", "0");
		return rc;
	}
	dir = dn_cgroup_path(cg, "memory");
	if (!dir)
		return -ENOENT;
	rc = write_str(dir, "memory.limit_in_bytes", s);
	/* memsw is memory + swap and must not be below the memory limit. */
	if (rc == 0)
		write_str(dir, "memory.memsw.limit_in_bytes", s);
	return rc;
}

/* ---- attach ----------------------------------------------------------- */

struct tree_check {
	pid_t root, stranger;
};

static bool descends_from(pid_t q, pid_t root, bool *gone)
{
	char path[64], buf[1024];
	struct dn_stat stt;

	*gone = false;
	for (int steps = 0; steps < 4096; steps++) {
		ssize_t n;
		int fd;

		if (q == root)
			return true;
		if (q <= 1)
			return false;
		snprintf(path, sizeof path, "/proc/%d/stat", (int)q);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			*gone = true;
			return false;
		}
		n = read(fd, buf, sizeof buf);
		close(fd);
		if (n <= 0 || dn_proc_parse_stat(buf, (size_t)n, &stt)) {
			*gone = true;
			return false;
		}
		q = stt.ppid;
	}
	return false;
}

static int check_one(pid_t pid, void *arg)
{
	struct tree_check *tc = arg;
	bool gone;

	/* A process that exited while we looked no longer shares anything. */
	if (descends_from(pid, tc->root, &gone) || gone)
		return 0;
	tc->stranger = pid;
	return 1;
}

/* Is dir (with the cgroups below it) exactly pid's tree? 0, or -EBUSY with
 * the first stranger in *stranger. */
static int exact_tree(const char *dir, pid_t pid, pid_t *stranger)
{
	struct tree_check tc = {pid, 0};

	if (for_each_pid(dir, check_one, &tc, 0)) {
		*stranger = tc.stranger;
		return -EBUSY;
	}
	return 0;
}

struct dn_cgroup *dn_cgroup_of_tree(pid_t pid, char *why, size_t whylen)
{
	char path[PATH_MAX], dir[PATH_MAX];
	size_t milen, cglen;
	char *mi = NULL, *pcg = NULL;
	struct dn_cgroup *cg = calloc(1, sizeof *cg);
	bool is_root, have_v2;
	pid_t stranger = 0;
	int rc;

	if (!cg) {
		say(why, whylen, "out of memory");
		return NULL;
	}
	snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
	pcg = slurp(path, &cglen);
	if (!pcg) {
		rc = errno == ENOENT ? -ESRCH : -errno;
		say(why, whylen, "cannot read %s: %s", path, strerror(-rc));
		goto fail;
	}
	mi = slurp("/proc/self/mountinfo", &milen);
	if (!mi) {
		rc = -errno;
		say(why, whylen, "cannot read /proc/self/mountinfo: %s", strerror(-rc));
		goto fail;
	}
	rc = cgroup_dir(mi, milen, pcg, cglen, NULL, dir, sizeof dir, &is_root);
	have_v2 = rc != -ENOENT;
	if (have_v2) {
		if (rc) {
			say(why, whylen, "cannot locate the cgroup2 directory of %d: %s", (int)pid,
			    strerror(-rc));
			goto fail;
		}
		if (is_root) {
			rc = -EBUSY;
			say(why, whylen, "pid %d is in the root cgroup", (int)pid);
			goto fail;
		}
		if ((rc = exact_tree(dir, pid, &stranger))) {
			say(why, whylen, "cgroup %s also holds pid %d, not of the tree", dir,
			    (int)stranger);
			goto fail;
		}
		if (!(cg->v2 = strdup(dir))) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	for (size_t i = 0; i < DN_CG_MAX_V1; i++) {
		if (have_v2 && (!v1_ctrls[i].v2 || leaf_has(cg->v2, v1_ctrls[i].v2)))
			continue;
		if (strcmp(v1_ctrls[i].v1, "blkio") == 0 && !blkio_live(mi, milen))
			continue;
		if (cgroup_dir(mi, milen, pcg, cglen, v1_ctrls[i].v1, dir, sizeof dir, &is_root) ||
		    is_root || exact_tree(dir, pid, &stranger))
			continue;
		if (!(cg->v1[cg->nv1].path = strdup(dir))) {
			rc = -ENOMEM;
			goto fail;
		}
		cg->v1[cg->nv1++].ctrl = v1_ctrls[i].v1;
	}
	if (!cg->v2 && !cg->nv1) {
		rc = -EBUSY;
		say(why, whylen, "no cgroup of pid %d holds just its tree", (int)pid);
		goto fail;
	}
	set_source(cg);
	free(mi);
	free(pcg);
	return cg;
fail:
	free(mi);
	free(pcg);
	free_cg(cg);
	errno = -rc;
	return NULL;
}
