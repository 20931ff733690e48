/*
 * tasksnap.c — builds the per-process readings of one task-iterator sample
 * (see tasksnap.h). The sums follow the kernel's own:
 *   CPU    thread_group_cputime(): signal->sum_sched_runtime (threads gone)
 *          + se.sum_exec_runtime of every live thread
 *   faults do_task_stat(): signal->min_flt/maj_flt + every thread's
 *   I/O    do_io_accounting(): signal->ioac + every thread's ioac
 * and the conversions /proc applies: nsec_to_clock_t() for start time and
 * cutime/cstime, pages for rss, bytes for vsize.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <linux/types.h>

#include "../../bpf/tasks.h" /* the record layout shared with the BPF program */
#include "tasksnap.h"

char dn_task_state_letter(uint32_t state)
{
	static const char letters[] = "RSDTtXZPI";
	const uint32_t report = 0x7f, idle = 0x402, rtlock = 0x1000, frozen = 0x8000;
	uint32_t s = state & report;

	if ((state & idle) == idle)
		s = report + 1; /* TASK_REPORT_IDLE */
	if (state & (rtlock | frozen))
		s = 2; /* shown as uninterruptible */
	int i = s ? 32 - __builtin_clz(s) : 0;
	return i < (int)sizeof letters - 1 ? letters[i] : '?';
}

/* The kernel's PID_MAX_LIMIT on 64-bit (include/linux/threads.h). */
#define DN_PID_MAX_LIMIT (4u * 1024 * 1024)

static size_t slot_of(const struct dn_tasksnap *s, uint32_t pid)
{
	return (size_t)((pid * 2654435761u) & (s->nindex - 1));
}

/* The reading of tgid, created empty when absent. NULL on ENOMEM. */
static struct dn_task_reading *reading_for(struct dn_tasksnap *s, uint32_t tgid)
{
	size_t k = slot_of(s, tgid);
	while (s->index[k]) {
		struct dn_task_reading *r = &s->r[s->index[k] - 1];
		if ((uint32_t)r->st.pid == tgid)
			return r;
		k = (k + 1) & (s->nindex - 1);
	}
	if (s->n == s->cap)
		return NULL; /* sized for the worst case by the caller */
	struct dn_task_reading *r = &s->r[s->n++];
	memset(r, 0, sizeof *r);
	r->st.pid = (pid_t)tgid;
	r->st.state = 0; /* no leader yet */
	s->index[k] = (uint32_t)s->n;
	return r;
}

static void add_io(struct dn_io *d, const struct dn_task_io *s)
{
	d->rchar += s->rchar;
	d->wchar += s->wchar;
	d->syscr += s->syscr;
	d->syscw += s->syscw;
	d->read_bytes += s->read_bytes;
	d->write_bytes += s->write_bytes;
	d->cancelled_write_bytes += s->cancelled_write_bytes;
}

static uint64_t ns_to_ticks(uint64_t ns, long clk_tck)
{
	return ns / (1000000000ull / (uint64_t)clk_tck);
}

static void add_thread(struct dn_task_reading *r, const struct dn_task_rec *t, long clk_tck,
		       long page_size)
{
	r->nthreads_seen++;
	r->run_ns += t->sum_exec_runtime;
	r->st.minflt += t->min_flt;
	r->st.majflt += t->maj_flt;
	add_io(&r->io, &t->io);
	if (t->flags & DN_TASK_NO_IOACCT)
		r->io_ok = false;
	if (!(t->flags & DN_TASK_LEADER))
		return;
	struct dn_stat *st = &r->st;
	size_t n = strnlen(t->comm, sizeof t->comm);
	memcpy(st->comm, t->comm, n);
	st->comm[n] = '\0';
	st->state = dn_task_state_letter(t->state);
	st->ppid = (pid_t)t->ppid;
	st->processor = t->processor;
	st->num_threads = t->nr_threads;
	st->starttime = ns_to_ticks(t->start_boottime, clk_tck);
	if (t->flags & DN_TASK_HAS_MM) {
		st->vsize = t->total_vm * (uint64_t)page_size;
		st->rss = (int64_t)t->rss;
	}
	r->run_ns += t->sig_sum_sched_runtime;
	st->minflt += t->sig_min_flt;
	st->majflt += t->sig_maj_flt;
	st->cminflt = t->sig_cmin_flt;
	st->cmajflt = t->sig_cmaj_flt;
	st->cutime = (int64_t)ns_to_ticks(t->sig_cutime, clk_tck);
	st->cstime = (int64_t)ns_to_ticks(t->sig_cstime, clk_tck);
	add_io(&r->io, &t->sig_io);
}

static int reserve(struct dn_tasksnap *s, size_t nrec)
{
	if (nrec > s->cap) {
		size_t cap = s->cap ? s->cap : 64;
		while (cap < nrec)
			cap *= 2;
		struct dn_task_reading *r = realloc(s->r, cap * sizeof *r);
		if (!r)
			return -ENOMEM;
		s->r = r;
		s->cap = cap;
	}
	size_t ni = s->nindex ? s->nindex : 128;
	while (ni <= 2 * s->cap)
		ni *= 2;
	if (ni != s->nindex) {
		uint32_t *ix = malloc(ni * sizeof *ix);
		if (!ix)
			return -ENOMEM;
		free(s->index);
		s->index = ix;
		s->nindex = ni;
	}
	memset(s->index, 0, s->nindex * sizeof *s->index);
	return 0;
}

int dn_tasksnap_build(struct dn_tasksnap *s, const void *buf, size_t len, long clk_tck,
		      long page_size)
{
	const unsigned char *p = buf;
	size_t off = 0;

	s->n = 0;
	s->records = 0;
	s->torn = 0;
	if (clk_tck <= 0 || clk_tck > 1000000000L || page_size <= 0)
		return -EINVAL;
	/* at most one process a thread record: room for that many */
	int e = reserve(s, len / DN_TASK_THREAD_REC_SIZE);
	if (e < 0)
		return e;
	while (off < len) {
		struct dn_task_rec t = {0};
		size_t left = len - off, size;
		if (left < DN_TASK_THREAD_REC_SIZE)
			break;
		memcpy(&t, p + off, DN_TASK_THREAD_REC_SIZE); /* buf need not be aligned */
		size = t.flags & DN_TASK_LEADER ? sizeof t : DN_TASK_THREAD_REC_SIZE;
		if (left < size)
			break;
		memcpy(&t, p + off, size);
		off += size;
		s->records++;
		if (t.tgid == 0 || t.tgid > DN_PID_MAX_LIMIT)
			continue; /* not a pid (the idle task has none to look up) */
		struct dn_task_reading *r = reading_for(s, t.tgid);
		if (!r)
			return -ENOMEM; /* cannot happen: one reading a record at most */
		if (r->nthreads_seen == 0)
			r->io_ok = true;
		add_thread(r, &t, clk_tck, page_size);
	}
	s->torn = len - off;
	/* a process whose leader was not in the sample has no identity
	 * (start time) nor the group's totals: leave it out */
	size_t w = 0;
	for (size_t i = 0; i < s->n; i++) {
		struct dn_task_reading *r = &s->r[i];
		if (!r->st.state)
			continue;
		r->st.utime = ns_to_ticks(r->run_ns, clk_tck);
		r->st.stime = 0;
		s->r[w++] = *r;
	}
	if (w != s->n) {
		s->n = w;
		memset(s->index, 0, s->nindex * sizeof *s->index);
		for (size_t i = 0; i < s->n; i++) {
			size_t k = slot_of(s, (uint32_t)s->r[i].st.pid);
			while (s->index[k])
				k = (k + 1) & (s->nindex - 1);
			s->index[k] = (uint32_t)i + 1;
		}
	}
	return s->torn ? -EINVAL : 0;
}

const struct dn_task_reading *dn_tasksnap_find(const struct dn_tasksnap *s, pid_t pid)
{
	if (!s->nindex || pid <= 0)
		return NULL;
	size_t k = slot_of(s, (uint32_t)pid);
	while (s->index[k]) {
		const struct dn_task_reading *r = &s->r[s->index[k] - 1];
		if (r->st.pid == pid)
			return r;
		k = (k + 1) & (s->nindex - 1);
	}
	return NULL;
}

void dn_tasksnap_free(struct dn_tasksnap *s)
{
	free(s->r);
	free(s->index);
	memset(s, 0, sizeof *s);
}
