/*
 * psi.c — pressure stall information (see psi.h). Owns the six fds of a
 * reader (three system files, three of the cgroup); the parser is a pure
 * function of the text.
 *
 * Cost: a pressure file is short (two lines) and a pread of a kept fd costs
 * about what a /proc/PID/statm read costs; reading it also brings the
 * kernel's totals up to date (psi_show collects the per-CPU times first),
 * so `total` is exact at the time of the read, not as of the kernel's last
 * 2-second averaging.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "psi.h"

static const char *const res_name[DN_PSI_NRES] = {"cpu", "memory", "io"};

enum dn_psi_res dn_psi_res_by_name(const char *name, size_t len)
{
	for (int r = 0; r < DN_PSI_NRES; r++)
		if (strlen(res_name[r]) == len && memcmp(res_name[r], name, len) == 0)
			return (enum dn_psi_res)r;
	return DN_PSI_NRES;
}

/* "12.34" (the kernel writes LOAD_INT.LOAD_FRAC), without strtod: the text
 * has no NUL and the locale must not matter. A share is at most 100: more
 * than 15 integer digits is no average (and could overflow to inf). */
static int parse_decimal(const char *s, size_t n, double *out)
{
	size_t i = 0;
	double v = 0;
	if (n == 0)
		return -EINVAL;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		v = v * 10 + (s[i] - '0');
	if (i == 0 || i > 15)
		return -EINVAL;
	if (i < n && s[i] == '.') {
		double scale = 0.1;
		size_t start = ++i;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, scale /= 10)
			v += (s[i] - '0') * scale;
		if (i == start)
			return -EINVAL;
	}
	if (i != n)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* The key=value fields after "some"/"full", up to the end of the line. */
static int parse_fields(const char *s, size_t n, struct dn_psi_line *l)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && s[i] == ' ')
			i++;
		size_t tok = i;
		while (i < n && s[i] != ' ')
			i++;
		if (i == tok)
			break;
		const char *eq = memchr(s + tok, '=', i - tok);
		if (!eq)
			return -EINVAL;
		size_t klen = (size_t)(eq - (s + tok));
		const char *val = eq + 1;
		size_t vlen = (size_t)(s + i - val);
		int r = 0;
		if (klen == 5 && memcmp(s + tok, "avg10", 5) == 0)
			r = parse_decimal(val, vlen, &l->avg10);
		else if (klen == 5 && memcmp(s + tok, "avg60", 5) == 0)
			r = parse_decimal(val, vlen, &l->avg60);
		else if (klen == 6 && memcmp(s + tok, "avg300", 6) == 0)
			r = parse_decimal(val, vlen, &l->avg300);
		else if (klen == 5 && memcmp(s + tok, "total", 5) == 0)
			r = parse_u64(val, vlen, &l->total_us);
		if (r < 0)
			return r;
	}
	return 0;
}

int dn_psi_parse(const char *buf, size_t len, struct dn_psi_file *out)
{
	memset(out, 0, sizeof *out);
	size_t i = 0;
	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - buf) : len;
		const char *s = buf + i;
		size_t n = end - i;
		i = end + 1;
		if (n == 0)
			continue;
		struct dn_psi_line *l;
		if (n >= 4 && memcmp(s, "some", 4) == 0)
			l = &out->some;
		else if (n >= 4 && memcmp(s, "full", 4) == 0)
			l = &out->full;
		else
			return -EINVAL;
		if (n > 4 && s[4] != ' ')
			return -EINVAL;
		memset(l, 0, sizeof *l);
		if (parse_fields(s + 4, n - 4, l) < 0)
			return -EINVAL;
		l->present = true;
	}
	return out->some.present ? 0 : -EINVAL;
}

void dn_psi_init(struct dn_psi *p)
{
	memset(p, 0, sizeof *p);
	for (int r = 0; r < DN_PSI_NRES; r++)
		p->sys.fd[r] = p->cg.fd[r] = -1;
	for (int i = 0; i < DN_PSI_MAX_TRIGGERS; i++)
		p->trig[i].fd = -1;
}

static void scope_close(struct dn_psi_scope *sc)
{
	for (int r = 0; r < DN_PSI_NRES; r++) {
		if (sc->fd[r] >= 0)
			close(sc->fd[r]);
		sc->fd[r] = -1;
		sc->ok[r] = false;
	}
}

void dn_psi_close(struct dn_psi *p)
{
	scope_close(&p->sys);
	scope_close(&p->cg);
	for (int i = 0; i < p->ntrig; i++)
		if (p->trig[i].fd >= 0)
			close(p->trig[i].fd);
	dn_psi_init(p);
}

/* Reads one file into sc->now[r]. 0 or -errno (-EINVAL: unparsable). */
static int read_one(struct dn_psi_scope *sc, int r)
{
	char buf[256];
	ssize_t n = pread(sc->fd[r], buf, sizeof buf, 0);
	if (n < 0)
		return -errno;
	struct dn_psi_file f;
	if (dn_psi_parse(buf, (size_t)n, &f) < 0)
		return -EINVAL;
	sc->now[r] = f;
	return 0;
}

/* Opens dir/<res>.pressure (or dir/<res> under /proc/pressure) for every
 * resource and reads each once. The number that read, or the first -errno
 * when none did. */
static int scope_open(struct dn_psi_scope *sc, const char *dir, const char *suffix)
{
	int n = 0, first_err = 0;
	for (int r = 0; r < DN_PSI_NRES; r++) {
		char path[4096];
		int e = 0;
		if (snprintf(path, sizeof path, "%s/%s%s", dir, res_name[r], suffix) >=
		    (int)sizeof path)
			e = -ENAMETOOLONG;
		/* O_RDONLY: a trigger needs its own fd (one trigger per open
		 * file), so these stay plain readers */
		if (!e && (sc->fd[r] = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			e = -errno;
		if (!e)
			e = read_one(sc, r);
		if (e) {
			if (sc->fd[r] >= 0)
				close(sc->fd[r]);
			sc->fd[r] = -1;
			if (!first_err)
				first_err = e;
			continue;
		}
		sc->ok[r] = true;
		sc->prev[r] = sc->start[r] = sc->now[r];
		n++;
	}
	return n > 0 ? n : first_err;
}

int dn_psi_open(struct dn_psi *p, const char *cgroup_dir, uint64_t now_ns, char *why, size_t whylen)
{
	dn_psi_close(p);
	int rs = scope_open(&p->sys, "/proc/pressure", "");
	p->has_system = rs > 0;
	int rc = 0;
	if (cgroup_dir) {
		rc = scope_open(&p->cg, cgroup_dir, ".pressure");
		p->has_cgroup = rc > 0;
	}
	p->now_ns = p->prev_ns = p->start_ns = now_ns;
	if (p->has_system || p->has_cgroup)
		return 0;
	int e = rs < 0 ? rs : rc < 0 ? rc : -ENOENT;
	if (why && whylen) {
		if (e == -ENOENT)
			snprintf(why, whylen,
				 "/proc/pressure: %s (a kernel without CONFIG_PSI, "
				 "or booted with psi=0)",
				 strerror(-e));
		else
			snprintf(why, whylen, "/proc/pressure: %s", strerror(-e));
	}
	return e;
}

/* Opens path and writes the trigger; the fd or -errno. */
static int open_trigger(const char *path, bool full, uint64_t stall_us, uint64_t window_us)
{
	int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char spec[64];
	int n = snprintf(spec, sizeof spec, "%s %llu %llu", full ? "full" : "some",
			 (unsigned long long)stall_us, (unsigned long long)window_us);
	/* the kernel takes the string with its NUL */
	if (write(fd, spec, (size_t)n + 1) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

int dn_psi_trigger_add(struct dn_psi *p, const char *cgroup_dir, enum dn_psi_res res, bool full,
		       double pct)
{
	if (res >= DN_PSI_NRES || !(pct > 0 && pct < 100))
		return -EINVAL;
	if (p->ntrig >= DN_PSI_MAX_TRIGGERS)
		return -ENOSPC;
	char path[4096];
	if (snprintf(path, sizeof path, "%s/%s%s", cgroup_dir ? cgroup_dir : "/proc/pressure",
		     res_name[res], cgroup_dir ? ".pressure" : "") >= (int)sizeof path)
		return -ENAMETOOLONG;
	/* 1 s: the event comes within a second of the stall; the kernel
	 * takes 500 ms..10 s, and from unprivileged writers (Linux 6.4)
	 * only multiples of 2 s */
	static const uint64_t windows_us[] = {1000000, 2000000};
	int fd = -EINVAL;
	uint64_t window_us = 0, stall_us = 0;
	for (size_t i = 0; i < sizeof windows_us / sizeof windows_us[0]; i++) {
		window_us = windows_us[i];
		stall_us = (uint64_t)((double)window_us * pct / 100.0);
		if (stall_us == 0)
			stall_us = 1;
		fd = open_trigger(path, full, stall_us, window_us);
		if (fd != -EINVAL && fd != -EPERM)
			break;
	}
	if (fd < 0)
		return fd;
	p->trig[p->ntrig++] =
		(struct dn_psi_trigger){fd, cgroup_dir != NULL, full, res, stall_us, window_us};
	return fd;
}

static int scope_read(struct dn_psi_scope *sc)
{
	int n = 0;
	for (int r = 0; r < DN_PSI_NRES; r++) {
		if (sc->fd[r] < 0 || !sc->ok[r])
			continue;
		sc->prev[r] = sc->now[r];
		if (read_one(sc, r) < 0) {
			sc->ok[r] = false; /* its cgroup is gone: no window */
			continue;
		}
		n++;
	}
	return n;
}

int dn_psi_read(struct dn_psi *p, uint64_t now_ns)
{
	p->prev_ns = p->now_ns;
	p->now_ns = now_ns;
	int n = scope_read(&p->sys) + scope_read(&p->cg);
	return n > 0 ? 0 : -ENODEV;
}

static const struct dn_psi_line *line_of(const struct dn_psi *p, bool cgroup, enum dn_psi_res res,
					 bool full, const struct dn_psi_line **prev)
{
	const struct dn_psi_scope *sc = cgroup ? &p->cg : &p->sys;
	if (res >= DN_PSI_NRES || !sc->ok[res])
		return NULL;
	const struct dn_psi_line *l = full ? &sc->now[res].full : &sc->now[res].some;
	if (!l->present)
		return NULL;
	if (prev)
		*prev = full ? &sc->prev[res].full : &sc->prev[res].some;
	return l;
}

static uint64_t delta_us(const struct dn_psi_line *now, const struct dn_psi_line *prev)
{
	/* a line that appeared since (prev absent) starts its window now */
	if (!prev->present || now->total_us < prev->total_us)
		return 0;
	return now->total_us - prev->total_us;
}

static double pct_of(uint64_t d_us, uint64_t window_ns)
{
	if (window_ns == 0)
		return 0;
	double pct = (double)d_us * 1000.0 * 100.0 / (double)window_ns;
	/* the kernel's clock and ours differ by the time a read takes */
	return pct > 100.0 ? 100.0 : pct;
}

double dn_psi_window_pct(const struct dn_psi *p, bool cgroup, enum dn_psi_res res, bool full)
{
	const struct dn_psi_line *prev = NULL;
	const struct dn_psi_line *l = line_of(p, cgroup, res, full, &prev);
	return l ? pct_of(delta_us(l, prev), p->now_ns - p->prev_ns) : 0;
}

static double round2(double v)
{
	return (double)(int64_t)(v * 100.0 + 0.5) / 100.0;
}

bool dn_psi_figures(const struct dn_psi *p, bool cgroup, enum dn_psi_res res, bool full,
		    struct dn_psi_figures *out)
{
	const struct dn_psi_line *prev = NULL;
	const struct dn_psi_line *l = line_of(p, cgroup, res, full, &prev);
	memset(out, 0, sizeof *out);
	if (!l)
		return false;
	out->avg10 = round2(l->avg10);
	out->total_us = l->total_us;
	out->delta_us = delta_us(l, prev);
	out->window_pct = round2(pct_of(out->delta_us, p->now_ns - p->prev_ns));
	return true;
}

uint64_t dn_psi_window_ms(const struct dn_psi *p)
{
	return (p->now_ns - p->prev_ns + 500000) / 1000000;
}

bool dn_psi_scope_ok(const struct dn_psi *p, bool cgroup)
{
	const struct dn_psi_scope *sc = cgroup ? &p->cg : &p->sys;
	for (int r = 0; r < DN_PSI_NRES; r++)
		if (sc->ok[r])
			return true;
	return false;
}

const char *dn_psi_res_name(enum dn_psi_res res)
{
	return res < DN_PSI_NRES ? res_name[res] : "";
}

static void write_line(struct dn_json *j, const struct dn_psi_figures *f)
{
	dn_json_obj_begin(j);
	dn_json_key(j, "avg10");
	dn_json_fixed(j, f->avg10, 2);
	dn_json_key(j, "total_us");
	dn_json_uint(j, f->total_us);
	dn_json_key(j, "delta_us");
	dn_json_uint(j, f->delta_us);
	dn_json_key(j, "window_pct");
	dn_json_fixed(j, f->window_pct, 2);
	dn_json_obj_end(j);
}

static void write_scope(struct dn_json *j, const struct dn_psi *p, bool cgroup)
{
	dn_json_obj_begin(j);
	for (int r = 0; r < DN_PSI_NRES; r++) {
		struct dn_psi_figures f;
		if (!dn_psi_figures(p, cgroup, (enum dn_psi_res)r, false, &f))
			continue;
		dn_json_key(j, res_name[r]);
		dn_json_obj_begin(j);
		dn_json_key(j, "some");
		write_line(j, &f);
		if (dn_psi_figures(p, cgroup, (enum dn_psi_res)r, true, &f)) {
			dn_json_key(j, "full");
			write_line(j, &f);
		}
		dn_json_obj_end(j);
	}
	dn_json_obj_end(j);
}

void dn_psi_write_json(struct dn_json *j, const struct dn_psi *p)
{
	dn_json_obj_begin(j);
	dn_json_key(j, "window_ms");
	dn_json_uint(j, dn_psi_window_ms(p));
	if (dn_psi_scope_ok(p, true)) {
		dn_json_key(j, "cgroup");
		write_scope(j, p, true);
	}
	if (dn_psi_scope_ok(p, false)) {
		dn_json_key(j, "system");
		write_scope(j, p, false);
	}
	dn_json_obj_end(j);
}

static void write_run_line(struct dn_json *j, const char *us_key, const char *pct_key,
			   const struct dn_psi_line *now, const struct dn_psi_line *start,
			   uint64_t span_ns)
{
	if (!now->present)
		return;
	uint64_t d = delta_us(now, start);
	dn_json_key(j, us_key);
	dn_json_uint(j, d);
	dn_json_key(j, pct_key);
	dn_json_fixed(j, pct_of(d, span_ns), 2);
}

static void write_run_scope(struct dn_json *j, const struct dn_psi_scope *sc, uint64_t span_ns)
{
	dn_json_obj_begin(j);
	for (int r = 0; r < DN_PSI_NRES; r++) {
		if (sc->fd[r] < 0 || !sc->ok[r])
			continue;
		dn_json_key(j, res_name[r]);
		dn_json_obj_begin(j);
		write_run_line(j, "some_us", "some_pct", &sc->now[r].some, &sc->start[r].some,
			       span_ns);
		write_run_line(j, "full_us", "full_pct", &sc->now[r].full, &sc->start[r].full,
			       span_ns);
		dn_json_obj_end(j);
	}
	dn_json_obj_end(j);
}

void dn_psi_write_run_json(struct dn_json *j, const struct dn_psi *p)
{
	uint64_t span_ns = p->now_ns - p->start_ns;
	dn_json_obj_begin(j);
	dn_json_key(j, "secs");
	dn_json_fixed(j, (double)span_ns / 1e9, 3);
	if (dn_psi_scope_ok(p, true)) {
		dn_json_key(j, "cgroup");
		write_run_scope(j, &p->cg, span_ns);
	}
	if (dn_psi_scope_ok(p, false)) {
		dn_json_key(j, "system");
		write_run_scope(j, &p->sys, span_ns);
	}
	dn_json_obj_end(j);
}
