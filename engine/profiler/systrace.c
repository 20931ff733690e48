/*
 * systrace.c — the syscall tracker's drain (see systrace.h).
 *
 * Owns: the state of each (tgid, syscall) key read at the last drain (the
 * kernel's cumulative sums then, and the figures handed out), indexed by
 * open addressing and rebuilt at every drain from the keys the kernel
 * holds; the tree's figures per syscall number; the read buffers.
 *
 * Garbage: a key whose tgid has left the kernel's tracked set can gain no
 * more syscalls (the set drops a tgid when its last thread exits), so the
 * drain that finds it gone reads it a last time and deletes it from the
 * kernel map. The check is the set's membership bit, read in the mmap'ed
 * .bss (dn_offcpu_is_tracked): no syscall per key. A pid reused by a new
 * tracked process before that drain only continues its (cumulative)
 * counts.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "../../bpf/syscalls.h"
#include "clock.h"
#include "offcpu.h"
#include "systrace.h"

_Static_assert(DN_SYSTRACE_HIST == DN_SYSCALL_HIST, "user and kernel buckets differ");

#define NR_LIMIT 4096 /* syscall numbers kept apart; above: the last slot */
#define TOP	 10

struct key_state {
	struct dn_syscall_key k;
	/* the kernel's sums over the CPUs at the last read (buckets mod 2^32) */
	uint64_t count, errors, time_ns, max_ns;
	uint32_t hist[DN_SYSCALL_HIST];
	struct dn_systrace_entry e;
	bool gone; /* its tgid left the tracked set: deleted after this read */
};

struct dn_systrace {
	struct dn_offcpu *bpf;
	int fd;
	int ncpu;
	size_t valsz; /* one CPU's value, rounded up to 8 as the kernel copies it */
	/* keys of the last drain and their index (slot = position + 1) */
	struct key_state *keys, *next;
	size_t nkeys, capkeys, capnext;
	uint32_t *index;
	size_t capindex;
	/* window entries handed out (pairs with syscalls in the window) */
	struct dn_systrace_entry *win;
	size_t nwin, capwin;
	/* per syscall number over the tree */
	struct dn_systrace_fig *nr_total, *nr_window;
	int nr_cap;
	uint64_t start_ns, drain_ns, prev_drain_ns; /* monotonic */
	/* read buffers */
	struct dn_syscall_key *rk;
	uint8_t *rv;
	size_t rcap;
	bool no_batch;
};

struct dn_systrace *dn_systrace_new(struct dn_offcpu *p)
{
	int fd = dn_offcpu_syscall_map(p);
	if (fd < 0) {
		errno = EINVAL;
		return NULL;
	}
	struct dn_systrace *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->bpf = p;
	t->fd = fd;
	t->ncpu = libbpf_num_possible_cpus();
	if (t->ncpu <= 0)
		t->ncpu = 1;
	t->valsz = (sizeof(struct dn_syscall_val) + 7) & ~(size_t)7;
	t->start_ns = t->drain_ns = t->prev_drain_ns = dn_mono_ns();
	int n = dn_syscall_nr_max();
	t->nr_cap = n > 0 && n < NR_LIMIT ? n : NR_LIMIT;
	t->nr_total = calloc((size_t)t->nr_cap, sizeof *t->nr_total);
	t->nr_window = calloc((size_t)t->nr_cap, sizeof *t->nr_window);
	if (!t->nr_total || !t->nr_window) {
		dn_systrace_free(t);
		errno = ENOMEM;
		return NULL;
	}
	return t;
}

void dn_systrace_free(struct dn_systrace *t)
{
	if (!t)
		return;
	free(t->keys);
	free(t->next);
	free(t->index);
	free(t->win);
	free(t->nr_total);
	free(t->nr_window);
	free(t->rk);
	free(t->rv);
	free(t);
}

/* ---- the index of the last drain's keys ---- */

static size_t slot_of(const struct dn_syscall_key *k, size_t cap)
{
	uint64_t h = ((uint64_t)k->tgid << 32 | k->nr) * 0x9e3779b97f4a7c15ULL;
	return (size_t)(h >> 20) & (cap - 1);
}

static int reindex(struct dn_systrace *t)
{
	size_t want = 16;
	while (want < t->nkeys * 2)
		want *= 2;
	if (want != t->capindex) {
		uint32_t *ni = malloc(want * sizeof *ni);
		if (!ni)
			return -ENOMEM;
		free(t->index);
		t->index = ni;
		t->capindex = want;
	}
	memset(t->index, 0, t->capindex * sizeof *t->index);
	for (size_t i = 0; i < t->nkeys; i++) {
		size_t s = slot_of(&t->keys[i].k, t->capindex);
		while (t->index[s])
			s = (s + 1) & (t->capindex - 1);
		t->index[s] = (uint32_t)i + 1;
	}
	return 0;
}

static struct key_state *find_prev(struct dn_systrace *t, const struct dn_syscall_key *k)
{
	if (!t->capindex)
		return NULL;
	for (size_t s = slot_of(k, t->capindex); t->index[s]; s = (s + 1) & (t->capindex - 1)) {
		struct key_state *ks = &t->keys[t->index[s] - 1];
		if (ks->k.tgid == k->tgid && ks->k.nr == k->nr)
			return ks;
	}
	return NULL;
}

/* ---- reading the kernel map ---- */

/* The read buffers, grown to n keys; new parts zeroed for valgrind, which
 * cannot see the kernel write them (BPF_MAP_LOOKUP_BATCH). */
static int grow_read(struct dn_systrace *t, size_t n)
{
	if (n <= t->rcap)
		return 0;
	struct dn_syscall_key *rk = realloc(t->rk, n * sizeof *rk);
	if (!rk)
		return -ENOMEM;
	memset(rk + t->rcap, 0, (n - t->rcap) * sizeof *rk);
	t->rk = rk;
	size_t per = t->valsz * (size_t)t->ncpu;
	uint8_t *rv = realloc(t->rv, n * per);
	if (!rv)
		return -ENOMEM;
	memset(rv + t->rcap * per, 0, (n - t->rcap) * per);
	t->rv = rv;
	t->rcap = n;
	return 0;
}

static int push_next(struct dn_systrace *t, const struct dn_syscall_key *k, const uint8_t *v);

/* Every key of the map with its per-CPU values, through push_next. Batched
 * where the kernel has it (5.6+), one key at a time otherwise. */
static int read_map(struct dn_systrace *t)
{
	if (grow_read(t, 256) < 0)
		return -ENOMEM;
	if (!t->no_batch) {
		__u64 token = 0;
		void *in = NULL;
		for (;;) {
			__u32 n = (__u32)t->rcap;
			int r = bpf_map_lookup_batch(t->fd, in, &token, t->rk, t->rv, &n, NULL);
			int e = r ? errno : 0;
			if (r && e == ENOSPC && n == 0) { /* a bucket larger than the buffer */
				if (grow_read(t, t->rcap * 2) < 0)
					return -ENOMEM;
				continue;
			}
			if (r && e != ENOENT) {
				if (!in && (e == EINVAL || e == ENOTSUP || e == EOPNOTSUPP)) {
					t->no_batch = true;
					break;
				}
				return -e;
			}
			for (__u32 i = 0; i < n; i++)
				if (push_next(t, &t->rk[i],
					      t->rv + (size_t)i * t->valsz * (size_t)t->ncpu) < 0)
					return -ENOMEM;
			if (r) /* ENOENT: the end */
				return 0;
			in = &token;
		}
	}
	struct dn_syscall_key k, next, *prev = NULL;
	while (bpf_map_get_next_key(t->fd, prev, &next) == 0) {
		if (bpf_map_lookup_elem(t->fd, &next, t->rv) == 0 && push_next(t, &next, t->rv) < 0)
			return -ENOMEM;
		k = next;
		prev = &k;
	}
	return 0;
}

static int nr_slot(const struct dn_systrace *t, uint32_t nr)
{
	return nr < (uint32_t)t->nr_cap ? (int)nr : t->nr_cap - 1;
}

static uint64_t bucket_bound(int b)
{
	return b <= 0 ? 0 : b >= 64 ? UINT64_MAX : (uint64_t)1 << b;
}

static void add_fig(struct dn_systrace_fig *to, const struct dn_systrace_fig *d)
{
	to->count += d->count;
	to->errors += d->errors;
	to->time_ns += d->time_ns;
	if (d->max_ns > to->max_ns)
		to->max_ns = d->max_ns;
	for (int b = 0; b < DN_SYSTRACE_HIST; b++)
		to->hist[b] += d->hist[b];
}

/* One key as read now: its sums over the CPUs, the difference from its
 * last read (the window), into the next key table. */
static int push_next(struct dn_systrace *t, const struct dn_syscall_key *k, const uint8_t *v)
{
	if (t->nkeys >= t->capnext) { /* next is sized by the caller; grow if the map grew */
		size_t cap = t->capnext ? t->capnext * 2 : 64;
		struct key_state *nn = realloc(t->next, cap * sizeof *nn);
		if (!nn)
			return -ENOMEM;
		t->next = nn;
		t->capnext = cap;
	}
	struct key_state *ks = &t->next[t->nkeys];
	memset(ks, 0, sizeof *ks);
	ks->k = *k;
	for (int c = 0; c < t->ncpu; c++) {
		const struct dn_syscall_val *cv = (const void *)(v + (size_t)c * t->valsz);
		ks->count += cv->count;
		ks->errors += cv->errors;
		ks->time_ns += cv->time_ns;
		if (cv->max_ns > ks->max_ns)
			ks->max_ns = cv->max_ns;
		for (int b = 0; b < DN_SYSCALL_HIST; b++)
			ks->hist[b] += cv->hist[b];
	}
	const struct key_state *old = find_prev(t, k);
	struct dn_systrace_fig *w = &ks->e.window;
	w->count = ks->count - (old ? old->count : 0);
	w->errors = ks->errors - (old ? old->errors : 0);
	w->time_ns = ks->time_ns - (old ? old->time_ns : 0);
	int top = -1;
	for (int b = 0; b < DN_SYSCALL_HIST; b++) {
		w->hist[b] = (uint32_t)(ks->hist[b] - (old ? old->hist[b] : 0));
		if (w->hist[b])
			top = b;
	}
	/* the window's max is not in the kernel (its max is the run's): the
	 * bound of the window's highest bucket, or the run's max if lower */
	w->max_ns = top < 0 ? 0 : bucket_bound(top);
	if (w->max_ns > ks->max_ns)
		w->max_ns = ks->max_ns;
	ks->e.tgid = (pid_t)k->tgid;
	ks->e.nr = (int)k->nr;
	if (old)
		ks->e.total = old->e.total;
	add_fig(&ks->e.total, w);
	ks->e.total.max_ns = ks->max_ns;
	t->nkeys++;
	return 0;
}

/* Marks the keys of tgids that left the tracked set. */
static void find_gone(struct dn_systrace *t)
{
	for (size_t i = 0; i < t->nkeys; i++)
		t->next[i].gone = !dn_offcpu_is_tracked(t->bpf, (pid_t)t->next[i].k.tgid);
}

int dn_systrace_drain(struct dn_systrace *t)
{
	/* the index still points into keys: read into next, then swap */
	if (t->capnext < t->nkeys + 64) {
		size_t cap = t->nkeys + t->nkeys / 2 + 64;
		struct key_state *nn = realloc(t->next, cap * sizeof *nn);
		if (!nn)
			return -ENOMEM;
		t->next = nn;
		t->capnext = cap;
	}
	size_t nprev = t->nkeys;
	t->nkeys = 0;
	uint64_t now = dn_mono_ns();
	int r = read_map(t);
	if (r < 0) {
		t->nkeys = nprev; /* the last drain's state stays */
		return r;
	}
	t->prev_drain_ns = t->drain_ns;
	t->drain_ns = now;
	find_gone(t);
	/* the window's entries and the tree's figures per syscall */
	memset(t->nr_window, 0, (size_t)t->nr_cap * sizeof *t->nr_window);
	t->nwin = 0;
	size_t keep = 0;
	for (size_t i = 0; i < t->nkeys; i++) {
		struct key_state *ks = &t->next[i];
		struct dn_systrace_fig *w = &ks->e.window;
		if (w->count || w->errors || w->time_ns) {
			if (t->nwin == t->capwin) {
				size_t cap = t->capwin ? t->capwin * 2 : 64;
				struct dn_systrace_entry *nw = realloc(t->win, cap * sizeof *nw);
				if (!nw)
					return -ENOMEM;
				t->win = nw;
				t->capwin = cap;
			}
			t->win[t->nwin++] = ks->e;
			int s = nr_slot(t, ks->k.nr);
			add_fig(&t->nr_window[s], w);
			add_fig(&t->nr_total[s], w);
			if (ks->max_ns > t->nr_total[s].max_ns)
				t->nr_total[s].max_ns = ks->max_ns;
		}
		if (ks->gone) {
			bpf_map_delete_elem(t->fd, &ks->k);
			continue;
		}
		if (keep != i)
			t->next[keep] = *ks;
		keep++;
	}
	t->nkeys = keep;
	struct key_state *tmp = t->keys;
	size_t tmpcap = t->capkeys;
	t->keys = t->next;
	t->capkeys = t->capnext;
	t->next = tmp;
	t->capnext = tmpcap;
	return reindex(t);
}

size_t dn_systrace_window(const struct dn_systrace *t, const struct dn_systrace_entry **v)
{
	*v = t->win;
	return t->nwin;
}

void dn_systrace_times(const struct dn_systrace *t, double *elapsed_s, double *window_s)
{
	*elapsed_s = (double)(t->drain_ns - t->start_ns) / 1e9;
	*window_s = (double)(t->drain_ns - t->prev_drain_ns) / 1e9;
}

double dn_systrace_rate(const struct dn_systrace *t, int nr)
{
	double elapsed, window;
	dn_systrace_times(t, &elapsed, &window);
	if (window <= 0)
		return 0;
	struct dn_systrace_fig all;
	const struct dn_systrace_fig *f = &all;
	if (nr < 0)
		dn_systrace_sum(t, true, &all);
	else if (!(f = dn_systrace_nr(t, nr, true)))
		return 0;
	return (double)f->count / window;
}

int dn_systrace_nr_cap(const struct dn_systrace *t)
{
	return t->nr_cap;
}

const struct dn_systrace_fig *dn_systrace_nr(const struct dn_systrace *t, int nr, bool window)
{
	if (nr < 0 || nr >= t->nr_cap)
		return NULL;
	return window ? &t->nr_window[nr] : &t->nr_total[nr];
}

void dn_systrace_sum(const struct dn_systrace *t, bool window, struct dn_systrace_fig *out)
{
	memset(out, 0, sizeof *out);
	for (int nr = 0; nr < t->nr_cap; nr++)
		add_fig(out, window ? &t->nr_window[nr] : &t->nr_total[nr]);
}

uint64_t dn_systrace_lost(const struct dn_systrace *t)
{
	struct dn_offcpu_syscall_losses l;
	dn_offcpu_syscall_losses(t->bpf, &l);
	return l.agg_full;
}

uint64_t dn_systrace_untimed(const struct dn_systrace *t)
{
	struct dn_offcpu_syscall_losses l;
	dn_offcpu_syscall_losses(t->bpf, &l);
	return l.start_full;
}

uint64_t dn_systrace_quantile(const struct dn_systrace_fig *f, double q)
{
	uint64_t n = 0;
	for (int b = 0; b < DN_SYSTRACE_HIST; b++)
		n += f->hist[b];
	if (!n)
		return 0;
	/* the rank of the quantile, 1-based: the smallest r with r >= q * n */
	uint64_t rank = (uint64_t)(q * (double)n);
	if ((double)rank < q * (double)n)
		rank++;
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (int b = 0; b < DN_SYSTRACE_HIST; b++) {
		seen += f->hist[b];
		if (seen >= rank) {
			uint64_t v = bucket_bound(b);
			return f->max_ns && v > f->max_ns ? f->max_ns : v;
		}
	}
	return f->max_ns;
}

/* ---- output ---- */

struct ranked {
	int nr;
	uint64_t key;
};

static int by_key_desc(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? 1 : -1;
	return (x->nr > y->nr) - (x->nr < y->nr);
}

static void write_syscall(struct dn_json *j, int nr, const struct dn_systrace_fig *f)
{
	char buf[32];
	dn_json_obj_begin(j);
	dn_json_key(j, "name");
	dn_json_str(j, dn_syscall_name_or_nr(nr, buf, sizeof buf));
	dn_json_key(j, "category");
	dn_json_str(j, dn_syscall_category_name(dn_syscall_category(nr)));
	dn_json_key(j, "count");
	dn_json_uint(j, f->count);
	dn_json_key(j, "errors");
	dn_json_uint(j, f->errors);
	dn_json_key(j, "time_ns");
	dn_json_uint(j, f->time_ns);
	dn_json_key(j, "p50_ns");
	dn_json_uint(j, dn_systrace_quantile(f, 0.5));
	dn_json_key(j, "p99_ns");
	dn_json_uint(j, dn_systrace_quantile(f, 0.99));
	dn_json_key(j, "max_ns");
	dn_json_uint(j, f->max_ns);
	dn_json_obj_end(j);
}

/* The top TOP syscall numbers of figs by count (by_time: by time_ns). */
static void write_top(struct dn_json *j, const struct dn_systrace_fig *figs, int n, bool by_time)
{
	struct ranked top[TOP];
	int ntop = 0;
	for (int nr = 0; nr < n; nr++) {
		uint64_t key = by_time ? figs[nr].time_ns : figs[nr].count;
		if (!figs[nr].count)
			continue;
		struct ranked r = {nr, key};
		if (ntop < TOP) {
			top[ntop++] = r;
		} else if (by_key_desc(&r, &top[TOP - 1]) < 0) {
			top[TOP - 1] = r;
		} else {
			continue;
		}
		qsort(top, (size_t)ntop, sizeof *top, by_key_desc);
	}
	dn_json_arr_begin(j);
	for (int i = 0; i < ntop; i++)
		write_syscall(j, top[i].nr, &figs[top[i].nr]);
	dn_json_arr_end(j);
}

static void write_figures(struct dn_json *j, const struct dn_systrace *t, bool window, double secs)
{
	const struct dn_systrace_fig *figs = window ? t->nr_window : t->nr_total;
	uint64_t cat[DN_SC_NCATEGORIES] = {0};
	struct dn_systrace_fig sum;
	dn_systrace_sum(t, window, &sum);
	for (int nr = 0; nr < t->nr_cap; nr++)
		cat[dn_syscall_category(nr)] += figs[nr].count;
	dn_json_key(j, "total");
	dn_json_uint(j, sum.count);
	dn_json_key(j, "errors");
	dn_json_uint(j, sum.errors);
	dn_json_key(j, "time_ns");
	dn_json_uint(j, sum.time_ns);
	dn_json_key(j, window ? "rate_per_sec" : "syscall_rate_per_sec");
	dn_json_fixed(j, secs > 0 ? (double)sum.count / secs : 0, 2);
	dn_json_key(j, "by_category");
	dn_json_obj_begin(j);
	for (int c = 0; c < DN_SC_NCATEGORIES; c++) {
		dn_json_key(j, dn_syscall_category_name((enum dn_syscall_category)c));
		dn_json_uint(j, cat[c]);
	}
	dn_json_obj_end(j);
	dn_json_key(j, "top_syscalls");
	write_top(j, figs, t->nr_cap, false);
	dn_json_key(j, "top_by_time");
	write_top(j, figs, t->nr_cap, true);
	if (window)
		return;
	/* upstream's shares, 0..1 of the syscalls since tracing began */
	double n = sum.count ? (double)sum.count : 1;
	dn_json_key(j, "analysis");
	dn_json_obj_begin(j);
	dn_json_key(j, "syscall_rate_per_sec");
	dn_json_fixed(j, secs > 0 ? (double)sum.count / secs : 0, 2);
	dn_json_key(j, "io_intensity");
	dn_json_fixed(j, (double)cat[DN_SC_FILE_IO] / n, 4);
	dn_json_key(j, "memory_intensity");
	dn_json_fixed(j, (double)cat[DN_SC_MEMORY] / n, 4);
	dn_json_key(j, "cpu_intensity");
	dn_json_fixed(j, (double)(cat[DN_SC_PROCESS] + cat[DN_SC_TIME]) / n, 4);
	dn_json_key(j, "network_intensity");
	dn_json_fixed(j, (double)cat[DN_SC_NETWORK] / n, 4);
	dn_json_obj_end(j);
}

void dn_systrace_write_upstream(struct dn_json *j, const struct dn_systrace *t)
{
	double elapsed_s, window_s;
	dn_systrace_times(t, &elapsed_s, &window_s);
	dn_json_obj_begin(j);
	write_figures(j, t, false, elapsed_s);
	dn_json_key(j, "lost");
	dn_json_uint(j, dn_systrace_lost(t));
	dn_json_key(j, "untimed");
	dn_json_uint(j, dn_systrace_untimed(t));
	dn_json_key(j, "window");
	dn_json_obj_begin(j);
	dn_json_key(j, "secs");
	dn_json_fixed(j, window_s, 3);
	write_figures(j, t, true, window_s);
	dn_json_obj_end(j);
	dn_json_obj_end(j);
}
