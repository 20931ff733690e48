/*
 * procfs.c — the parsers declared in procfs.h: text of /proc files in,
 * structs out. Owns no memory and no file descriptors; the reading of
 * files is someone else's job, so fixtures and live reads take one path.
 *
 * Buffers are (buf, len) and need not be NUL-terminated, so nothing here
 * uses the str* functions or sscanf on them: every scan is bounded by an
 * explicit end pointer.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "procfs.h"

/* One whitespace-delimited token inside [buf, buf+len). */
struct tok {
	const char *p;
	size_t n;
};

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

/* Whole token must be decimal digits; overflow is not what the kernel
 * writes, so it is an error rather than a silent wrap. */
static int tok_u64(struct tok t, uint64_t *v)
{
	uint64_t x = 0;

	if (t.n == 0)
		return -EINVAL;
	for (size_t i = 0; i < t.n; i++) {
		unsigned d = (unsigned char)t.p[i] - '0';
		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return -EINVAL;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

static int tok_i64(struct tok t, int64_t *v)
{
	uint64_t x;
	int neg = t.n > 0 && t.p[0] == '-';

	if (neg) {
		t.p++;
		t.n--;
	}
	if (tok_u64(t, &x) < 0)
		return -EINVAL;
	if (neg) {
		if (x > (uint64_t)INT64_MAX + 1)
			return -EINVAL;
		/* -(INT64_MAX+1) computed without signed overflow */
		*v = x == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)x;
	} else {
		if (x > INT64_MAX)
			return -EINVAL;
		*v = (int64_t)x;
	}
	return 0;
}

static int tok_pid(struct tok t, pid_t *v)
{
	uint64_t x;

	if (tok_u64(t, &x) < 0 || x > INT_MAX)
		return -EINVAL;
	*v = (pid_t)x;
	return 0;
}

/* Next token at or after *pos, stopping at end. Returns 0 when none. */
static int next_tok(const char **pos, const char *end, struct tok *t)
{
	const char *p = *pos;

	while (p < end && is_space(*p))
		p++;
	if (p == end) {
		*pos = p;
		return 0;
	}
	t->p = p;
	while (p < end && !is_space(*p))
		p++;
	t->n = (size_t)(p - t->p);
	*pos = p;
	return 1;
}

/* The line starting at *pos (without its '\n'); advances past it. */
static int next_line(const char **pos, const char *end, struct tok *line)
{
	const char *p = *pos, *nl;

	if (p >= end)
		return 0;
	nl = memchr(p, '\n', (size_t)(end - p));
	line->p = p;
	line->n = (size_t)((nl ? nl : end) - p);
	*pos = nl ? nl + 1 : end;
	return 1;
}

/* If line is "key:..." returns the value (after the colon), else n=0/p=NULL. */
static int line_key(struct tok line, const char *key, struct tok *val)
{
	size_t k = strlen(key);

	if (line.n <= k || memcmp(line.p, key, k) != 0 || line.p[k] != ':')
		return 0;
	val->p = line.p + k + 1;
	val->n = line.n - k - 1;
	return 1;
}

/* First token of a "key:\t  123 kB" value. */
static int val_u64(struct tok val, uint64_t *v)
{
	const char *p = val.p;
	struct tok t;

	if (!next_tok(&p, val.p + val.n, &t))
		return -EINVAL;
	return tok_u64(t, v);
}

/*
 * The fields after ')' are numbered from 3 (state) as in man 5 proc; we
 * keep the tokens up to the last field we read (39, processor).
 */
#define STAT_FIRST    3
#define STAT_LAST     39
#define STAT_REQUIRED 24 /* through rss; older or odd kernels may stop later */

int dn_proc_parse_stat(const char *buf, size_t len, struct dn_stat *out)
{
	struct tok f[STAT_LAST - STAT_FIRST + 1];
	const char *end = buf + len, *p = buf, *open, *close;
	struct tok t;
	size_t nf = 0, n;
	int64_t i;
	int bad = 0;

	memset(out, 0, sizeof *out);
	out->processor = -1;
	if (!buf || len == 0)
		return -EINVAL;

	/* "PID (" — the first '(' opens comm. */
	open = memchr(buf, '(', len);
	if (!open || open - buf < 2 || open[-1] != ' ')
		return -EINVAL;
	t.p = buf;
	t.n = (size_t)(open - 1 - buf);
	if (tok_pid(t, &out->pid) < 0)
		return -EINVAL;

	/* The last ')' closes it: comm may contain ')' but no later field can. */
	close = memrchr(open + 1, ')', (size_t)(end - open - 1));
	if (!close)
		return -EINVAL;
	n = (size_t)(close - open - 1);
	if (n > DN_COMM_MAX - 1)
		n = DN_COMM_MAX - 1;
	memcpy(out->comm, open + 1, n);
	out->comm[n] = '\0';

	p = close + 1;
	if (p == end || *p != ' ')
		return -EINVAL;
	while (nf < STAT_LAST - STAT_FIRST + 1 && next_tok(&p, end, &f[nf]))
		nf++;
	if (nf < STAT_REQUIRED - STAT_FIRST + 1)
		return -EINVAL;

#define F(k) f[(k)-STAT_FIRST]
	if (F(3).n != 1)
		return -EINVAL;
	out->state = F(3).p[0];
	bad |= tok_pid(F(4), &out->ppid);
	bad |= tok_u64(F(10), &out->minflt);
	bad |= tok_u64(F(11), &out->cminflt);
	bad |= tok_u64(F(12), &out->majflt);
	bad |= tok_u64(F(13), &out->cmajflt);
	bad |= tok_u64(F(14), &out->utime);
	bad |= tok_u64(F(15), &out->stime);
	bad |= tok_i64(F(16), &out->cutime);
	bad |= tok_i64(F(17), &out->cstime);
	bad |= tok_i64(F(20), &out->num_threads);
	bad |= tok_u64(F(22), &out->starttime);
	bad |= tok_u64(F(23), &out->vsize);
	bad |= tok_i64(F(24), &out->rss);
	if (nf >= 39 - STAT_FIRST + 1) {
		if (tok_i64(F(39), &i) < 0 || i < INT_MIN || i > INT_MAX)
			bad = -EINVAL;
		else
			out->processor = (int)i;
	}
#undef F
	return bad ? -EINVAL : 0;
}

int dn_proc_parse_statm(const char *buf, size_t len, struct dn_statm *out)
{
	uint64_t v[6];
	const char *p = buf, *end = buf + len;
	struct tok t;

	memset(out, 0, sizeof *out);
	if (!buf)
		return -EINVAL;
	/* size resident shared text lib data [dt]; lib is always 0 since 2.6 */
	for (size_t k = 0; k < 6; k++)
		if (!next_tok(&p, end, &t) || tok_u64(t, &v[k]) < 0)
			return -EINVAL;
	out->size = v[0];
	out->resident = v[1];
	out->shared = v[2];
	out->text = v[3];
	out->data = v[5];
	return 0;
}

int dn_proc_parse_io(const char *buf, size_t len, struct dn_io *out)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{"rchar", offsetof(struct dn_io, rchar)},
		{"wchar", offsetof(struct dn_io, wchar)},
		{"syscr", offsetof(struct dn_io, syscr)},
		{"syscw", offsetof(struct dn_io, syscw)},
		{"read_bytes", offsetof(struct dn_io, read_bytes)},
		{"write_bytes", offsetof(struct dn_io, write_bytes)},
		{"cancelled_write_bytes", offsetof(struct dn_io, cancelled_write_bytes)},
	};
	const char *p = buf, *end = buf + len;
	struct tok line, val;
	int found = 0;

	memset(out, 0, sizeof *out);
	if (!buf)
		return -EINVAL;
	while (next_line(&p, end, &line)) {
		if (line.n == 0)
			continue;
		if (!memchr(line.p, ':', line.n))
			return -EINVAL;
		for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
			if (!line_key(line, keys[k].key, &val))
				continue;
			if (val_u64(val, (uint64_t *)((char *)out + keys[k].off)) < 0)
				return -EINVAL;
			found++;
			break;
		}
	}
	/* An empty or alien text is a failed read, not a process with no I/O. */
	return found ? 0 : -EINVAL;
}

/*
 * The kernel writes Name with seq_escape_str(..., "\n\\"): only newline
 * and backslash are escaped, as "\n" and "\\". Anything else after a
 * backslash is kept as written, so older kernels' forms survive verbatim.
 */
static void unescape_name(struct tok v, char *dst, size_t cap)
{
	size_t o = 0;

	for (size_t k = 0; k < v.n && o + 1 < cap; k++) {
		char c = v.p[k];
		if (c == '\\' && k + 1 < v.n && (v.p[k + 1] == 'n' || v.p[k + 1] == '\\')) {
			c = v.p[k + 1] == 'n' ? '\n' : '\\';
			k++;
		}
		dst[o++] = c;
	}
	dst[o] = '\0';
}

int dn_proc_parse_status(const char *buf, size_t len, struct dn_status *out)
{
	static const struct {
		const char *key;
		size_t off;
	} u64s[] = {
		{"VmPeak", offsetof(struct dn_status, vm_peak_kb)},
		{"VmSize", offsetof(struct dn_status, vm_size_kb)},
		{"VmHWM", offsetof(struct dn_status, vm_hwm_kb)},
		{"VmRSS", offsetof(struct dn_status, vm_rss_kb)},
		{"VmSwap", offsetof(struct dn_status, vm_swap_kb)},
		{"voluntary_ctxt_switches", offsetof(struct dn_status, voluntary_ctxt_switches)},
		{"nonvoluntary_ctxt_switches",
		 offsetof(struct dn_status, nonvoluntary_ctxt_switches)},
	};
	const char *p = buf, *end = buf + len;
	struct tok line, val, t;
	uint64_t u;
	int64_t i;
	int have_name = 0;

	memset(out, 0, sizeof *out);
	if (!buf)
		return -EINVAL;
	while (next_line(&p, end, &line)) {
		const char *vp;

		if (line_key(line, "Name", &val)) {
			/* exactly one tab: a comm may itself start with spaces */
			if (val.n > 0 && val.p[0] == '\t') {
				val.p++;
				val.n--;
			}
			unescape_name(val, out->name, sizeof out->name);
			have_name = 1;
		} else if (line_key(line, "State", &val)) {
			vp = val.p;
			if (!next_tok(&vp, val.p + val.n, &t))
				return -EINVAL;
			out->state = t.p[0];
		} else if (line_key(line, "Tgid", &val)) {
			vp = val.p;
			if (!next_tok(&vp, val.p + val.n, &t) || tok_pid(t, &out->tgid) < 0)
				return -EINVAL;
		} else if (line_key(line, "Pid", &val)) {
			vp = val.p;
			if (!next_tok(&vp, val.p + val.n, &t) || tok_pid(t, &out->pid) < 0)
				return -EINVAL;
		} else if (line_key(line, "PPid", &val)) {
			vp = val.p;
			if (!next_tok(&vp, val.p + val.n, &t) || tok_pid(t, &out->ppid) < 0)
				return -EINVAL;
		} else if (line_key(line, "Uid", &val)) {
			/* real, effective, saved, fs: the first is the owner */
			if (val_u64(val, &u) < 0 || u > UINT32_MAX)
				return -EINVAL;
			out->uid = (uid_t)u;
		} else if (line_key(line, "Threads", &val)) {
			vp = val.p;
			if (!next_tok(&vp, val.p + val.n, &t) || tok_i64(t, &i) < 0)
				return -EINVAL;
			out->threads = i;
		} else {
			for (size_t k = 0; k < sizeof u64s / sizeof u64s[0]; k++) {
				if (!line_key(line, u64s[k].key, &val))
					continue;
				if (val_u64(val, (uint64_t *)((char *)out + u64s[k].off)) < 0)
					return -EINVAL;
				break;
			}
		}
	}
	/* The kernel always writes Name first; without it this is not status. */
	return have_name ? 0 : -EINVAL;
}

int dn_proc_parse_children(const char *buf, size_t len, pid_t *out, size_t max)
{
	const char *p = buf, *end = buf + len;
	struct tok t;
	size_t count = 0;
	pid_t pid;

	if (!buf && len)
		return -EINVAL;
	while (next_tok(&p, end, &t)) {
		if (tok_pid(t, &pid) < 0)
			return -EINVAL;
		if (count < max)
			out[count] = pid;
		if (count == INT_MAX)
			return -EINVAL;
		count++;
	}
	return (int)count;
}

int dn_proc_parse_schedstat(const char *buf, size_t len, struct dn_schedstat *out)
{
	const char *p = buf, *end = buf + len;
	struct tok t;

	memset(out, 0, sizeof *out);
	if (!buf)
		return -EINVAL;
	if (!next_tok(&p, end, &t) || tok_u64(t, &out->run_ns) < 0 || !next_tok(&p, end, &t) ||
	    tok_u64(t, &out->wait_ns) < 0 || !next_tok(&p, end, &t) || tok_u64(t, &out->slices) < 0)
		return -EINVAL;
	return 0;
}

/*
 * Lines are "%6s:%8llu %7llu ...": a name up to IFNAMSIZ-1 (15) chars
 * pushes the colon right, and a counter wider than its column touches
 * the colon, so split at ':' rather than on whitespace.
 */
int dn_proc_parse_net_dev(const char *buf, size_t len, uint64_t *rx_bytes, uint64_t *tx_bytes)
{
	const char *p = buf, *end = buf + len;
	struct tok line, t;
	uint64_t rx = 0, tx = 0;

	*rx_bytes = 0;
	*tx_bytes = 0;
	if (!buf)
		return -EINVAL;
	for (int k = 0; k < 2; k++)
		if (!next_line(&p, end, &line))
			return -EINVAL;
	while (next_line(&p, end, &line)) {
		const char *colon, *lp, *name, *lend = line.p + line.n;
		uint64_t v[9];
		size_t nlen;

		lp = line.p;
		while (lp < lend && is_space(*lp))
			lp++;
		if (lp == lend)
			continue;
		colon = memchr(lp, ':', (size_t)(lend - lp));
		if (!colon || colon == lp)
			return -EINVAL;
		name = lp;
		nlen = (size_t)(colon - lp);
		lp = colon + 1;
		for (size_t k = 0; k < 9; k++)
			if (!next_tok(&lp, lend, &t) || tok_u64(t, &v[k]) < 0)
				return -EINVAL;
		if (nlen == 2 && memcmp(name, "lo", 2) == 0)
			continue;
		rx += v[0];
		tx += v[8];
	}
	*rx_bytes = rx;
	*tx_bytes = tx;
	return 0;
}

int dn_proc_split_cmdline(const char *buf, size_t len,
			  void (*fn)(void *ctx, const char *arg, size_t n), void *ctx)
{
	const char *p = buf, *end = buf + len;
	int count = 0;

	if (!buf)
		return len ? -EINVAL : 0;
	while (p < end && count < INT_MAX) {
		const char *nul = memchr(p, '\0', (size_t)(end - p));
		const char *stop = nul ? nul : end;

		if (fn)
			fn(ctx, p, (size_t)(stop - p));
		count++;
		p = nul ? nul + 1 : end;
	}
	return count;
}

/* Hex digits at *pos up to `end`, at most 16 (a u64): the number and the
 * position after it, or -EINVAL. */
static int scan_hex(const char **pos, const char *end, uint64_t *v)
{
	const char *p = *pos;
	uint64_t x = 0;
	int n = 0;

	for (; p < end; p++, n++) {
		unsigned char c = (unsigned char)*p;
		unsigned d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			break;
		if (n == 16)
			return -EINVAL;
		x = x << 4 | d;
	}
	if (n == 0)
		return -EINVAL;
	*v = x;
	*pos = p;
	return 0;
}

static int expect(const char **pos, const char *end, char c)
{
	if (*pos >= end || **pos != c)
		return -EINVAL;
	(*pos)++;
	return 0;
}

/* One line (without its newline) into e; -EINVAL if it is not a maps line. */
static int maps_line(const char *p, const char *end, struct dn_maps_entry *e)
{
	static const char deleted[] = " (deleted)";
	const size_t ndel = sizeof deleted - 1;
	uint64_t maj, min;
	struct tok t;

	memset(e, 0, sizeof *e);
	if (scan_hex(&p, end, &e->start) || expect(&p, end, '-') || scan_hex(&p, end, &e->end) ||
	    expect(&p, end, ' ') || e->end <= e->start)
		return -EINVAL;
	if (end - p < 5 || p[4] != ' ')
		return -EINVAL;
	for (int i = 0; i < 4; i++) {
		if (is_space(p[i]) || p[i] == '\0')
			return -EINVAL;
		e->perms[i] = p[i];
	}
	p += 5;
	if (scan_hex(&p, end, &e->pgoff) || expect(&p, end, ' ') || scan_hex(&p, end, &maj) ||
	    expect(&p, end, ':') || scan_hex(&p, end, &min) || expect(&p, end, ' ') ||
	    maj > UINT_MAX || min > UINT_MAX)
		return -EINVAL;
	e->dev_major = (unsigned int)maj;
	e->dev_minor = (unsigned int)min;
	t.p = p;
	while (p < end && *p != ' ')
		p++;
	t.n = (size_t)(p - t.p);
	if (tok_u64(t, &e->inode))
		return -EINVAL;
	while (p < end && *p == ' ')
		p++;
	if (p < end) {
		e->path = p;
		e->pathlen = (size_t)(end - p);
		e->deleted = e->pathlen > ndel && !memcmp(end - ndel, deleted, ndel);
	}
	return 0;
}

int dn_proc_parse_maps(const char *buf, size_t len,
		       int (*fn)(void *ctx, const struct dn_maps_entry *e), void *ctx)
{
	const char *p = buf, *end = buf + len;
	struct dn_maps_entry e;
	int n = 0, r;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;

		if (maps_line(p, eol, &e) == 0) {
			if ((r = fn(ctx, &e)) != 0)
				return r;
			if (n < INT_MAX)
				n++;
		}
		p = nl ? nl + 1 : end;
	}
	return n;
}
