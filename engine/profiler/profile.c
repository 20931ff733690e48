/*
 * profile.c — an off-CPU profile of a process tree (see profile.h). Owns
 * the eBPF loader, the symbolizer, the window's symbolized stacks, the
 * per-thread statistics and the folded-stack table.
 *
 * Stacks are symbolized when they are drained, while the maps captured for
 * their process are still at hand; the folded table keys on the symbol
 * names (not addresses), so one function's stacks add up however many
 * offsets inside it blocked.
 *
 * Bounded however many threads come and go: the thread table holds the
 * threads that are alive or had an interval in the current window. Each
 * drain first notes which of them (and which processes the symbolizer
 * holds maps of) are gone; a gone thread cannot add an interval after the
 * drain's generation flip, so once that drain found nothing more of it, it
 * is retired into the TOP_EXITED exited threads with the most off-CPU time
 * or, beyond those, one aggregate; the maps of gone processes are freed
 * after the drain that symbolized their last stacks.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "offcpu.h"
#include "profile.h"
#include "systrace.h"

/* Off-CPU intervals summed: the whole profile's, and each thread's. */
struct interval_stats {
	uint64_t total_ns, count, max_ns, min_ns;
};

struct thread_stat {
	pid_t pid, tid;
	struct interval_stats s;
	uint64_t drain; /* the last drain that added to it */
	bool gone;	/* found gone before the current drain */
};

/* Exited threads kept one by one: the most off-CPU time first. */
#define TOP_EXITED DN_PROFILE_TOP_EXITED

struct folded_entry {
	char *key; /* "comm;outer;...;inner" */
	uint64_t us;
};

struct dn_profile {
	struct dn_profile_opts o;
	struct dn_offcpu *bpf;
	struct dn_systrace *sys;
	struct dn_symbolizer *sym;
	struct dn_profile_stack *win;
	size_t nwin, capwin;
	struct interval_stats all;
	uint64_t drains;
	/* threads alive or active in the window; index: open addressing,
	 * slot = position in threads + 1, 0 empty; rebuilt when threads go */
	struct thread_stat *threads;
	size_t nthreads, capthreads;
	uint32_t *tindex;
	size_t capindex;
	/* exited threads: the top ones, then everything else summed */
	struct thread_stat top_exited[TOP_EXITED];
	size_t ntop_exited;
	struct interval_stats rest_exited;
	uint64_t nrest_exited;
	struct folded_entry *folded; /* open addressing, power-of-two size */
	size_t nfolded, capfolded;
};

struct dn_profile *dn_profile_open(const struct dn_profile_opts *o, char *why, size_t whylen)
{
	struct dn_profile *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->o = *o;
	struct dn_offcpu_opts bo = {
		.kernel_stacks = o->kernel_stacks,
		.user_stacks = true,
		.min_us = o->min_us,
		.max_us = o->max_us,
		.no_offcpu = o->no_offcpu,
		.syscalls = o->syscalls,
	};
	p->bpf = dn_offcpu_open(&bo, why, whylen);
	if (!p->bpf) {
		int e = errno;
		free(p);
		errno = e;
		return NULL;
	}
	p->sym = dn_sym_new();
	if (p->sym && o->syscalls)
		p->sys = dn_systrace_new(p->bpf);
	if (!p->sym || (o->syscalls && !p->sys)) {
		dn_sym_free(p->sym);
		dn_offcpu_close(p->bpf);
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	dn_sym_set_lines(p->sym, o->lines);
	return p;
}

int dn_profile_track(struct dn_profile *p, pid_t tgid)
{
	int r = dn_offcpu_track(p->bpf, tgid);
	if (r == 0)
		dn_profile_capture(p, tgid);
	return r;
}

void dn_profile_capture(struct dn_profile *p, pid_t pid)
{
	if (!p->o.no_offcpu) /* maps are for symbolizing stacks */
		dn_sym_capture(p->sym, pid);
}

int dn_profile_event_fd(struct dn_profile *p)
{
	return dn_offcpu_event_fd(p->bpf);
}

static void on_event(pid_t tgid, int kind, void *ctx)
{
	(void)kind;
	dn_profile_capture(ctx, tgid);
}

int dn_profile_poll_events(struct dn_profile *p)
{
	return dn_offcpu_poll_events(p->bpf, on_event, p);
}

struct dn_systrace *dn_profile_systrace(const struct dn_profile *p)
{
	return p->sys;
}

void dn_profile_bpf_cost(const struct dn_profile *p, struct dn_bpf_cost *c)
{
	dn_offcpu_bpf_cost(p->bpf, c);
}

bool dn_profile_offcpu(const struct dn_profile *p)
{
	return !p->o.no_offcpu;
}

struct dn_symbolizer *dn_profile_symbolizer(struct dn_profile *p)
{
	return p->sym;
}

/* ---- statistics ---------------------------------------------------------- */

static size_t thread_slot(const struct dn_profile *p, pid_t pid, pid_t tid)
{
	uint64_t h = ((uint64_t)(uint32_t)pid << 32 | (uint32_t)tid) * 0x9E3779B97F4A7C15ull;
	return (size_t)(h >> 32) & (p->capindex - 1);
}

/* Rebuilds the index of p->threads, at least twice as large as needed. */
static int index_rebuild(struct dn_profile *p, size_t want)
{
	size_t cap = p->capindex ? p->capindex : 64;
	while (cap < want * 2)
		cap *= 2;
	if (cap != p->capindex) {
		uint32_t *ni = calloc(cap, sizeof *ni);
		if (!ni)
			return -ENOMEM;
		free(p->tindex);
		p->tindex = ni;
		p->capindex = cap;
	} else {
		memset(p->tindex, 0, cap * sizeof *p->tindex);
	}
	for (size_t i = 0; i < p->nthreads; i++) {
		size_t k = thread_slot(p, p->threads[i].pid, p->threads[i].tid);
		while (p->tindex[k])
			k = (k + 1) & (p->capindex - 1);
		p->tindex[k] = (uint32_t)i + 1;
	}
	return 0;
}

static struct thread_stat *thread_of(struct dn_profile *p, pid_t pid, pid_t tid)
{
	/* room for one more, in the array and in the index */
	if (p->nthreads == p->capthreads) {
		size_t ncap = p->capthreads ? p->capthreads * 2 : 16;
		struct thread_stat *nt = realloc(p->threads, ncap * sizeof *nt);
		if (!nt)
			return NULL;
		p->threads = nt;
		p->capthreads = ncap;
	}
	if ((p->nthreads + 1) * 2 > p->capindex && index_rebuild(p, p->nthreads + 1) < 0)
		return NULL;
	size_t k = thread_slot(p, pid, tid);
	for (; p->tindex[k]; k = (k + 1) & (p->capindex - 1)) {
		struct thread_stat *t = &p->threads[p->tindex[k] - 1];
		if (t->tid == tid && t->pid == pid)
			return t;
	}
	struct thread_stat *t = &p->threads[p->nthreads];
	memset(t, 0, sizeof *t);
	t->pid = pid;
	t->tid = tid;
	p->tindex[k] = (uint32_t)++p->nthreads;
	return t;
}

/* The kernel keeps sums and maxima per stack; the smallest single interval
 * is not kept, so min is the smallest per-stack mean (exact for stacks that
 * blocked once). */
static void stats_add(struct interval_stats *st, const struct dn_offcpu_stack *s)
{
	uint64_t mean = s->count ? s->off_ns / s->count : 0;
	st->total_ns += s->off_ns;
	st->count += s->count;
	if (s->max_ns > st->max_ns)
		st->max_ns = s->max_ns;
	if (s->count && (!st->min_ns || mean < st->min_ns))
		st->min_ns = mean;
}

static void account(struct dn_profile *p, const struct dn_offcpu_stack *s)
{
	stats_add(&p->all, s);
	struct thread_stat *t = thread_of(p, s->tgid, s->tid);
	if (t) {
		stats_add(&t->s, s);
		t->drain = p->drains;
	}
}

static void stats_merge(struct interval_stats *into, const struct interval_stats *st)
{
	into->total_ns += st->total_ns;
	into->count += st->count;
	if (st->max_ns > into->max_ns)
		into->max_ns = st->max_ns;
	if (st->min_ns && (!into->min_ns || st->min_ns < into->min_ns))
		into->min_ns = st->min_ns;
}

/* An exited thread leaves the table: into the top exited threads, the one
 * with the least off-CPU time there (or t itself) into the aggregate. */
static void retire(struct dn_profile *p, const struct thread_stat *t)
{
	struct thread_stat out = *t;
	if (p->ntop_exited < TOP_EXITED) {
		p->top_exited[p->ntop_exited++] = *t;
		return;
	}
	size_t least = 0;
	for (size_t i = 1; i < TOP_EXITED; i++)
		if (p->top_exited[i].s.total_ns < p->top_exited[least].s.total_ns)
			least = i;
	if (p->top_exited[least].s.total_ns < t->s.total_ns) {
		out = p->top_exited[least];
		p->top_exited[least] = *t;
	}
	stats_merge(&p->rest_exited, &out.s);
	p->nrest_exited++;
}

/* Is the thread there (a zombie counts: it can still be reaped and read)?
 * Only ESRCH says it is gone; EPERM (another user's) says it is there. */
static bool thread_alive(pid_t pid, pid_t tid)
{
	return syscall(SYS_tgkill, pid, tid, 0) == 0 || errno != ESRCH;
}

/* Before the drain's generation flip: which threads are gone now. */
static void mark_gone(struct dn_profile *p)
{
	for (size_t i = 0; i < p->nthreads; i++)
		p->threads[i].gone = !thread_alive(p->threads[i].pid, p->threads[i].tid);
	dn_sym_mark_gone(p->sym);
}

/* After the drain: a thread gone before the flip that this drain found
 * nothing of has no interval left anywhere; retire it. Processes gone
 * before the flip had their last stacks symbolized: free their maps. */
static void sweep_gone(struct dn_profile *p)
{
	size_t k = 0;
	for (size_t i = 0; i < p->nthreads; i++) {
		struct thread_stat *t = &p->threads[i];
		if (t->gone && t->drain != p->drains)
			retire(p, t);
		else
			p->threads[k++] = *t;
	}
	if (k != p->nthreads) {
		p->nthreads = k;
		if (index_rebuild(p, k) < 0) {
			/* thread_of builds it again before its next lookup */
			free(p->tindex);
			p->tindex = NULL;
			p->capindex = 0;
		}
	}
	dn_sym_prune(p->sym);
	dn_offcpu_sweep(p->bpf);
}

/* ---- folded stacks --------------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static int folded_grow(struct dn_profile *p)
{
	size_t ncap = p->capfolded ? p->capfolded * 2 : 256;
	struct folded_entry *nf = calloc(ncap, sizeof *nf);
	if (!nf)
		return -ENOMEM;
	for (size_t i = 0; i < p->capfolded; i++) {
		if (!p->folded[i].key)
			continue;
		size_t k = hash_str(p->folded[i].key) & (ncap - 1);
		while (nf[k].key)
			k = (k + 1) & (ncap - 1);
		nf[k] = p->folded[i];
	}
	free(p->folded);
	p->folded = nf;
	p->capfolded = ncap;
	return 0;
}

static void folded_add(struct dn_profile *p, const char *key, uint64_t us)
{
	if ((p->nfolded + 1) * 2 > p->capfolded && folded_grow(p) < 0)
		return;
	size_t k = hash_str(key) & (p->capfolded - 1);
	while (p->folded[k].key) {
		if (strcmp(p->folded[k].key, key) == 0) {
			p->folded[k].us += us;
			return;
		}
		k = (k + 1) & (p->capfolded - 1);
	}
	p->folded[k].key = strdup(key);
	if (!p->folded[k].key)
		return;
	p->folded[k].us = us;
	p->nfolded++;
}

/* One frame as folded text: the function name when known (offsets would
 * split a function into many boxes), else module+0xoffset; `;` and
 * whitespace cannot appear in a folded frame. A user address in no known
 * mapping is just [unknown]: its value differs in every process (ASLR), so
 * with it the table would grow by a line per such process. */
static void folded_frame(struct dn_buf *b, const struct dn_profile_frame *fr)
{
	char tmp[512];
	if (fr->f.name)
		snprintf(tmp, sizeof tmp, "%s%s", fr->f.name, fr->kernel ? "_[k]" : "");
	else if (!fr->kernel && fr->f.module && strcmp(fr->f.module, "[unknown]") == 0)
		snprintf(tmp, sizeof tmp, "[unknown]");
	else
		dn_sym_format(&fr->f, tmp, sizeof tmp);
	for (char *c = tmp; *c; c++)
		if (*c == ';' || *c == ' ' || *c == '\t' || *c == '\n')
			*c = *c == ';' ? ':' : '_';
	dn_buf_puts(b, tmp);
}

static void fold_stack(struct dn_profile *p, const struct dn_profile_stack *st)
{
	struct dn_buf b = {0};
	char comm[sizeof st->comm + 1];
	memcpy(comm, st->comm, sizeof st->comm);
	comm[sizeof st->comm] = '\0';
	for (char *c = comm; *c; c++)
		if (*c == ';' || *c == ' ' || *c == '\n' || *c == '\t')
			*c = '_';
	dn_buf_puts(&b, comm[0] ? comm : "?");
	for (int i = st->nframes - 1; i >= 0; i--) { /* outermost first */
		dn_buf_putc(&b, ';');
		folded_frame(&b, &st->frames[i]);
	}
	if (!b.oom && b.data)
		folded_add(p, b.data, (st->off_ns + 500) / 1000);
	dn_buf_free(&b);
}

/* ---- drain --------------------------------------------------------------- */

static void resolve(struct dn_profile *p, pid_t pid, uint64_t addr, bool kernel,
		    struct dn_profile_frame *out)
{
	out->addr = addr;
	out->kernel = kernel;
	memset(&out->f, 0, sizeof out->f);
	int r = kernel ? dn_sym_resolve_kernel(p->sym, addr, &out->f)
		       : dn_sym_resolve(p->sym, pid, addr, &out->f);
	if (r < 0 && !out->f.module) {
		out->f.addr = addr;
		out->f.name = NULL;
		out->f.module = kernel ? "[kernel]" : "[unknown]";
		out->f.offset = addr;
	}
}

static void on_stack(const struct dn_offcpu_stack *s, void *ctx)
{
	struct dn_profile *p = ctx;
	account(p, s);
	if (p->nwin == p->capwin) {
		size_t ncap = p->capwin ? p->capwin * 2 : 64;
		struct dn_profile_stack *nw = realloc(p->win, ncap * sizeof *nw);
		if (!nw)
			return;
		p->win = nw;
		p->capwin = ncap;
	}
	struct dn_profile_stack *st = &p->win[p->nwin];
	memset(st, 0, sizeof *st);
	st->pid = s->tgid;
	st->tid = s->tid;
	memcpy(st->comm, s->comm, sizeof st->comm);
	st->state = s->state;
	st->off_ns = s->off_ns;
	st->count = s->count;
	st->max_ns = s->max_ns;
	int n = s->nkernel + s->nuser;
	st->frames = n ? calloc((size_t)n, sizeof *st->frames) : NULL;
	if (n && !st->frames)
		return;
	for (int i = 0; i < s->nkernel; i++)
		resolve(p, s->tgid, s->kernel[i], true, &st->frames[st->nframes++]);
	for (int i = 0; i < s->nuser; i++)
		resolve(p, s->tgid, s->user[i], false, &st->frames[st->nframes++]);
	p->nwin++;
	fold_stack(p, st);
}

int dn_profile_drain(struct dn_profile *p)
{
	/* the frames handed out before are gone with the window: modules no
	 * live process maps may go too */
	if (!p->nwin)
		dn_sym_trim(p->sym);
	mark_gone(p);
	p->drains++;
	int r = dn_offcpu_drain(p->bpf, on_stack, p);
	sweep_gone(p);
	if (p->sys) {
		int rs = dn_systrace_drain(p->sys);
		if (r >= 0 && rs < 0)
			r = rs;
	}
	return r < 0 ? r : 0;
}

size_t dn_profile_window(const struct dn_profile *p, const struct dn_profile_stack **stacks)
{
	*stacks = p->win;
	return p->nwin;
}

void dn_profile_reset_window(struct dn_profile *p)
{
	for (size_t i = 0; i < p->nwin; i++)
		free(p->win[i].frames);
	p->nwin = 0;
}

/* ---- output ---------------------------------------------------------------- */

static int by_total_desc(const void *a, const void *b)
{
	const struct thread_stat *x = *(const struct thread_stat *const *)a;
	const struct thread_stat *y = *(const struct thread_stat *const *)b;
	return x->s.total_ns < y->s.total_ns ? 1 : x->s.total_ns > y->s.total_ns ? -1 : 0;
}

/* Upstream's field names; the count is "total_events" for the whole
 * profile and "count" per thread. */
static void write_stats(struct dn_json *j, const struct interval_stats *st, const char *count_key)
{
	dn_json_key(j, "total_time_ns");
	dn_json_uint(j, st->total_ns);
	dn_json_key(j, count_key);
	dn_json_uint(j, st->count);
	dn_json_key(j, "avg_time_ns");
	dn_json_uint(j, st->count ? st->total_ns / st->count : 0);
	dn_json_key(j, "max_time_ns");
	dn_json_uint(j, st->max_ns);
	dn_json_key(j, "min_time_ns");
	dn_json_uint(j, st->min_ns);
}

static void write_thread(struct dn_json *j, const struct thread_stat *t)
{
	char key[32];
	snprintf(key, sizeof key, "%d:%d", (int)t->pid, (int)t->tid);
	dn_json_key(j, key);
	dn_json_obj_begin(j);
	dn_json_key(j, "tid");
	dn_json_int(j, t->tid);
	write_stats(j, &t->s, "count");
	dn_json_obj_end(j);
}

void dn_profile_write_upstream(struct dn_json *j, const struct dn_profile *p)
{
	dn_json_obj_begin(j);
	write_stats(j, &p->all, "total_events");
	/* top 10 threads by off-CPU time: among the listed ones (an exited
	 * thread outside the top exited has less than 10 others) */
	size_t nlisted = p->nthreads + p->ntop_exited;
	const struct thread_stat **order = nlisted ? malloc(nlisted * sizeof *order) : NULL;
	size_t n = order ? nlisted : 0;
	for (size_t i = 0; i < n; i++)
		order[i] = i < p->nthreads ? &p->threads[i] : &p->top_exited[i - p->nthreads];
	if (n)
		qsort(order, n, sizeof *order, by_total_desc);
	dn_json_key(j, "top_blocking_threads");
	dn_json_arr_begin(j);
	for (size_t i = 0; i < n && i < 10; i++) {
		dn_json_obj_begin(j);
		dn_json_key(j, "pid");
		dn_json_int(j, order[i]->pid);
		dn_json_key(j, "tid");
		dn_json_int(j, order[i]->tid);
		dn_json_key(j, "time_ms");
		dn_json_fixed(j, (double)order[i]->s.total_ns / 1e6, 3);
		dn_json_key(j, "percentage");
		dn_json_fixed(j,
			      p->all.total_ns ? 100.0 * (double)order[i]->s.total_ns /
							(double)p->all.total_ns
					      : 0.0,
			      2);
		dn_json_obj_end(j);
	}
	dn_json_arr_end(j);
	free(order);
	dn_json_key(j, "thread_stats");
	dn_json_obj_begin(j);
	for (size_t i = 0; i < p->nthreads; i++)
		write_thread(j, &p->threads[i]);
	for (size_t i = 0; i < p->ntop_exited; i++)
		write_thread(j, &p->top_exited[i]);
	dn_json_obj_end(j);
	dn_json_key(j, "exited_threads");
	dn_json_obj_begin(j);
	dn_json_key(j, "threads");
	dn_json_uint(j, p->nrest_exited);
	write_stats(j, &p->rest_exited, "count");
	dn_json_obj_end(j);
	dn_json_obj_end(j);
}

void dn_profile_write_record(struct dn_buf *b, const struct dn_profile *p, uint64_t ts_ms,
			     uint64_t window_ms)
{
	struct dn_json j;
	dn_json_init(&j, b);
	dn_json_obj_begin(&j);
	dn_json_key(&j, "kind");
	dn_json_str(&j, "offcpu");
	dn_json_key(&j, "ts_ms");
	dn_json_uint(&j, ts_ms);
	dn_json_key(&j, "window_ms");
	dn_json_uint(&j, window_ms);
	dn_json_key(&j, "stacks");
	dn_json_arr_begin(&j);
	for (size_t i = 0; i < p->nwin; i++) {
		const struct dn_profile_stack *st = &p->win[i];
		dn_json_obj_begin(&j);
		dn_json_key(&j, "pid");
		dn_json_int(&j, st->pid);
		dn_json_key(&j, "tid");
		dn_json_int(&j, st->tid);
		dn_json_key(&j, "comm");
		dn_json_strn(&j, st->comm, strnlen(st->comm, sizeof st->comm));
		dn_json_key(&j, "state");
		dn_json_strn(&j, st->state == 'D' ? "D" : "S", 1);
		dn_json_key(&j, "off_ns");
		dn_json_uint(&j, st->off_ns);
		dn_json_key(&j, "count");
		dn_json_uint(&j, st->count);
		dn_json_key(&j, "frames");
		dn_json_arr_begin(&j);
		for (int k = 0; k < st->nframes; k++) {
			const struct dn_profile_frame *fr = &st->frames[k];
			char addr[24];
			snprintf(addr, sizeof addr, "0x%llx", (unsigned long long)fr->addr);
			dn_json_obj_begin(&j);
			dn_json_key(&j, "addr");
			dn_json_str(&j, addr);
			dn_json_key(&j, "name");
			dn_json_str(&j, fr->f.name);
			dn_json_key(&j, "module");
			dn_json_str(&j, fr->f.module);
			dn_json_key(&j, "offset");
			dn_json_uint(&j, fr->f.offset);
			if (fr->f.file) {
				dn_json_key(&j, "file");
				dn_json_str(&j, fr->f.file);
				dn_json_key(&j, "line");
				dn_json_int(&j, fr->f.line);
			}
			dn_json_obj_end(&j);
		}
		dn_json_arr_end(&j);
		dn_json_obj_end(&j);
	}
	dn_json_arr_end(&j);
	dn_json_obj_end(&j);
	dn_buf_putc(b, '\n');
}

static int by_key(const void *a, const void *b)
{
	const struct folded_entry *x = *(const struct folded_entry *const *)a;
	const struct folded_entry *y = *(const struct folded_entry *const *)b;
	return strcmp(x->key, y->key);
}

void dn_profile_folded(const struct dn_profile *p, struct dn_buf *out)
{
	const struct folded_entry **v = p->nfolded ? malloc(p->nfolded * sizeof *v) : NULL;
	size_t n = 0;
	for (size_t i = 0; v && i < p->capfolded; i++)
		if (p->folded[i].key)
			v[n++] = &p->folded[i];
	if (n)
		qsort(v, n, sizeof *v, by_key); /* stable output for diffs */
	for (size_t i = 0; i < n; i++)
		dn_buf_printf(out, "%s %llu\n", v[i]->key, (unsigned long long)v[i]->us);
	free(v);
}

void dn_profile_close(struct dn_profile *p)
{
	if (!p)
		return;
	dn_profile_reset_window(p);
	free(p->win);
	free(p->threads);
	free(p->tindex);
	for (size_t i = 0; i < p->capfolded; i++)
		free(p->folded[i].key);
	free(p->folded);
	dn_systrace_free(p->sys);
	dn_offcpu_close(p->bpf);
	dn_sym_free(p->sym);
	free(p);
}
