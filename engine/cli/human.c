/*
 * human.c — denet's human-mode terminal output (see human.h).
 *
 * Owns the status line's state (shown or not, spinner position) and one
 * reusable text buffer. Every update is built whole in that buffer and
 * handed to write() once, so a status line is never half drawn and a
 * plain line is never split between two writes. Output errors are
 * swallowed, SIGPIPE included: a terminal that went away must not end the
 * monitoring of a command that is still running.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "human.h"

#define SGR_RESET  "\033[0m"
#define SGR_BOLD   "\033[1m"
#define SGR_DIM	   "\033[2m"
#define SGR_RED	   "\033[31m"
#define SGR_GREEN  "\033[32m"
#define SGR_YELLOW "\033[1;33m"
#define CLEAR_EOL  "\033[K"

#define DEFAULT_COLS 80

struct dn_human {
	int fd;
	bool in_place, color;
	bool shown;			  /* a status line is on screen now */
	unsigned spin;			  /* spinner position */
	long ncpu;			  /* online CPUs, for the CPU colour threshold */
	struct dn_buf buf;		  /* reused for every update */
	struct dn_human_gpu gpu, gpu_run; /* devices 0: no GPU */
};

/* --- output ------------------------------------------------------------ */

/* Write all of p[0..n) to fd, ignoring failures. SIGPIPE is held back
 * during the write and a SIGPIPE this write raised is consumed, so a closed
 * pipe costs an EPIPE rather than the process, whatever the caller's
 * disposition. A SIGPIPE that was already pending is left alone. */
static void put_all(int fd, const char *p, size_t n)
{
	int saved_errno = errno;
	sigset_t pipe_set, old, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	bool was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
	bool blocked = sigprocmask(SIG_BLOCK, &pipe_set, &old) == 0;
	bool epipe = false;

	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			epipe = errno == EPIPE;
			break; /* EAGAIN, EIO, EBADF...: drop the rest */
		}
		if (w == 0)
			break;
		p += w;
		n -= (size_t)w;
	}

	if (epipe && blocked && !was_pending) {
		const struct timespec zero = {0, 0};
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	if (blocked)
		sigprocmask(SIG_SETMASK, &old, NULL);
	errno = saved_errno;
}

static void flush(struct dn_human *h)
{
	if (!h->buf.oom && h->buf.len > 0)
		put_all(h->fd, h->buf.data, h->buf.len);
	dn_buf_reset(&h->buf);
}

/* Append printf-formatted text, wrapped in `sgr` ... reset when colour is
 * on and sgr is not NULL. */
static void span(struct dn_human *h, const char *sgr, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void span(struct dn_human *h, const char *sgr, const char *fmt, ...)
{
	bool on = h->color && sgr;
	if (on)
		dn_buf_puts(&h->buf, sgr);
	va_list ap;
	va_start(ap, fmt);
	dn_buf_vprintf(&h->buf, fmt, ap);
	va_end(ap);
	if (on)
		dn_buf_puts(&h->buf, SGR_RESET);
}

static void lbl(struct dn_human *h, const char *s)
{
	span(h, SGR_DIM, "%s", s);
}

static void val(struct dn_human *h, const char *s)
{
	span(h, SGR_BOLD, "%s", s);
}

/* --- formatting helpers ------------------------------------------------ */

void dn_human_bytes(char *buf, size_t len, uint64_t bytes)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	if (!buf || len == 0)
		return;
	if (bytes < 1024) {
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
		return;
	}
	double v = (double)bytes / 1024.0;
	size_t i = 0;
	/* 1023.95 would print as "1024.0": move up a unit instead. */
	while (v >= 1023.95 && i + 1 < sizeof units / sizeof units[0]) {
		v /= 1024.0;
		i++;
	}
	snprintf(buf, len, "%.1f %s", v, units[i]);
}

void dn_human_kb(char *buf, size_t len, uint64_t kb)
{
	dn_human_bytes(buf, len, kb > UINT64_MAX / 1024 ? UINT64_MAX : kb * 1024);
}

/* "12.3s" under a minute, "2:03" under an hour, "1:02:03" past it. */
static void fmt_elapsed(char *buf, size_t len, double secs)
{
	if (!(secs >= 0)) /* negative or NaN */
		secs = 0;
	if (secs < 59.95) {
		snprintf(buf, len, "%.1fs", secs);
		return;
	}
	if (secs > 1e9)
		secs = 1e9;
	unsigned long t = (unsigned long)secs;
	if (t < 3600)
		snprintf(buf, len, "%lu:%02lu", t / 60, t % 60);
	else
		snprintf(buf, len, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
}

static const char *signal_name(int sig, char *buf, size_t len)
{
	static const char *const names[] = {
		[SIGHUP] = "SIGHUP",	   [SIGINT] = "SIGINT",	  [SIGQUIT] = "SIGQUIT",
		[SIGILL] = "SIGILL",	   [SIGTRAP] = "SIGTRAP", [SIGABRT] = "SIGABRT",
		[SIGBUS] = "SIGBUS",	   [SIGFPE] = "SIGFPE",	  [SIGKILL] = "SIGKILL",
		[SIGUSR1] = "SIGUSR1",	   [SIGSEGV] = "SIGSEGV", [SIGUSR2] = "SIGUSR2",
		[SIGPIPE] = "SIGPIPE",	   [SIGALRM] = "SIGALRM", [SIGTERM] = "SIGTERM",
#ifdef SIGSTKFLT
		[SIGSTKFLT] = "SIGSTKFLT",
#endif
		[SIGCHLD] = "SIGCHLD",	   [SIGCONT] = "SIGCONT", [SIGSTOP] = "SIGSTOP",
		[SIGTSTP] = "SIGTSTP",	   [SIGTTIN] = "SIGTTIN", [SIGTTOU] = "SIGTTOU",
		[SIGURG] = "SIGURG",	   [SIGXCPU] = "SIGXCPU", [SIGXFSZ] = "SIGXFSZ",
		[SIGVTALRM] = "SIGVTALRM", [SIGPROF] = "SIGPROF", [SIGWINCH] = "SIGWINCH",
		[SIGIO] = "SIGIO",
#ifdef SIGPWR
		[SIGPWR] = "SIGPWR",
#endif
		[SIGSYS] = "SIGSYS",
	};
	if (sig > 0 && (size_t)sig < sizeof names / sizeof names[0] && names[sig])
		return names[sig];
	if (sig >= SIGRTMIN && sig <= SIGRTMAX) {
		if (sig == SIGRTMIN)
			snprintf(buf, len, "SIGRTMIN");
		else
			snprintf(buf, len, "SIGRTMIN+%d", sig - SIGRTMIN);
		return buf;
	}
	snprintf(buf, len, "unknown signal");
	return buf;
}

/* Columns of the terminal behind fd, or DEFAULT_COLS when it is not one. */
static unsigned term_cols(int fd)
{
	struct winsize ws;
	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return DEFAULT_COLS;
}

/* Cut the text from `start` on to at most `cols` visible characters; SGR
 * escape sequences take no columns. All the text is ASCII, so one byte is
 * one column. True when something was cut. */
static bool truncate_visible(struct dn_buf *b, size_t start, size_t cols)
{
	size_t seen = 0;
	for (size_t i = start; i < b->len; i++) {
		if (b->data[i] == '\033') {
			/* ESC [ params final-byte */
			i++;
			while (i < b->len && b->data[i] == '[')
				i++;
			while (i < b->len && !(b->data[i] >= 0x40 && b->data[i] <= 0x7e))
				i++;
			continue;
		}
		if (seen == cols) {
			b->len = i;
			b->data[i] = '\0';
			return true;
		}
		seen++;
	}
	return false;
}

/* --- lifecycle --------------------------------------------------------- */

struct dn_human *dn_human_new(const struct dn_human_opts *o)
{
	if (!o || o->fd < 0) {
		errno = EINVAL;
		return NULL;
	}
	struct dn_human *h = calloc(1, sizeof *h);
	if (!h) {
		errno = ENOMEM;
		return NULL;
	}
	h->fd = o->fd;
	h->in_place = o->in_place;
	h->color = o->color;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	h->ncpu = n > 0 ? n : 1;
	return h;
}

void dn_human_free(struct dn_human *h)
{
	if (!h)
		return;
	dn_buf_free(&h->buf);
	free(h);
}

/* --- live output ------------------------------------------------------- */

void dn_human_gpu_merge(struct dn_human_gpu *run, const struct dn_human_gpu *g)
{
	if (g->devices > run->devices)
		run->devices = g->devices;
	if (g->has_sys_util && (!run->has_sys_util || g->sys_util > run->sys_util))
		run->sys_util = g->sys_util;
	run->has_sys_util |= g->has_sys_util;
	if (g->has_proc_util && (!run->has_proc_util || g->proc_util > run->proc_util))
		run->proc_util = g->proc_util;
	run->has_proc_util |= g->has_proc_util;
	run->tree_procs |= g->tree_procs;
	if (g->tree_mem_bytes > run->tree_mem_bytes)
		run->tree_mem_bytes = g->tree_mem_bytes;
	if (g->used_bytes > run->used_bytes)
		run->used_bytes = g->used_bytes;
	if (g->total_bytes > run->total_bytes)
		run->total_bytes = g->total_bytes;
}

void dn_human_set_gpu(struct dn_human *h, const struct dn_human_gpu *sample,
		      const struct dn_human_gpu *run)
{
	if (!h)
		return;
	if (sample)
		h->gpu = *sample;
	if (run)
		h->gpu_run = *run;
}

/* The status line's GPU part: the tree's processes' utilization and
 * memory when it has any on the GPUs, else the devices' (sys). */
static void gpu_status(struct dn_human *h)
{
	const struct dn_human_gpu *g = &h->gpu;
	char x[32];
	if (!g->devices)
		return;
	dn_buf_puts(&h->buf, "  ");
	lbl(h, "GPU ");
	if (g->tree_procs) {
		if (g->has_proc_util)
			span(h, SGR_BOLD, "%u%% ", g->proc_util);
		dn_human_bytes(x, sizeof x, g->tree_mem_bytes);
		val(h, x);
	} else if (g->has_sys_util) {
		span(h, SGR_BOLD, "%u%%", g->sys_util);
		lbl(h, " (sys)");
	} else {
		lbl(h, "idle");
	}
}

void dn_human_sample(struct dn_human *h, const struct dn_metrics *agg, double elapsed_secs)
{
	static const char spinner[] = "|/-\\";
	if (!h || !agg)
		return;
	int saved_errno = errno; /* the ioctl fails with ENOTTY on a pipe */
	struct dn_buf *b = &h->buf;
	char t[32], x[32], y[32];
	size_t start;

	dn_buf_reset(b);
	fmt_elapsed(t, sizeof t, elapsed_secs);
	if (h->in_place) {
		dn_buf_putc(b, '\r');
		start = b->len;
		dn_buf_putc(b, spinner[h->spin++ % 4]);
		dn_buf_putc(b, ' ');
		val(h, t);
	} else {
		start = b->len;
		span(h, SGR_DIM, "[%6s]", t);
	}

	bool hot = agg->cpu_usage > 80.0 * (double)h->ncpu;
	dn_buf_puts(b, "  ");
	lbl(h, "CPU");
	dn_buf_putc(b, ' ');
	span(h, hot ? SGR_YELLOW : SGR_BOLD, "%.1f%%", agg->cpu_usage);

	dn_buf_puts(b, "  ");
	lbl(h, "RSS");
	dn_buf_putc(b, ' ');
	dn_human_kb(x, sizeof x, agg->mem_rss_kb);
	val(h, x);

	uint64_t procs = agg->process_count ? agg->process_count : 1;
	dn_buf_puts(b, "  ");
	span(h, SGR_BOLD, "%llu", (unsigned long long)procs);
	lbl(h, procs == 1 ? " proc " : " procs ");
	span(h, SGR_BOLD, "%llu", (unsigned long long)agg->thread_count);
	lbl(h, " thr");

	dn_buf_puts(b, "  ");
	dn_human_bytes(x, sizeof x, agg->disk_read_bytes);
	dn_human_bytes(y, sizeof y, agg->disk_write_bytes);
	lbl(h, "disk r ");
	val(h, x);
	lbl(h, " w ");
	val(h, y);

	dn_buf_puts(b, "  ");
	dn_human_bytes(x, sizeof x, agg->sys_net_rx_bytes);
	dn_human_bytes(y, sizeof y, agg->sys_net_tx_bytes);
	lbl(h, "net rx ");
	val(h, x);
	lbl(h, " tx ");
	val(h, y);
	gpu_status(h);

	if (h->in_place) {
		/* One column short of the width: writing the last column
		 * leaves some terminals with a pending wrap. */
		unsigned cols = term_cols(h->fd);
		bool cut = truncate_visible(b, start, cols > 1 ? cols - 1 : 1);
		if (cut && h->color) /* the cut may fall inside a coloured span */
			dn_buf_puts(b, SGR_RESET);
		dn_buf_puts(b, CLEAR_EOL);
		h->shown = true;
	} else {
		dn_buf_putc(b, '\n');
	}
	flush(h);
	errno = saved_errno;
}

void dn_human_clear(struct dn_human *h)
{
	if (!h || !h->shown)
		return;
	put_all(h->fd, "\r" CLEAR_EOL, sizeof("\r" CLEAR_EOL) - 1);
	h->shown = false;
}

/* --- summary ----------------------------------------------------------- */

static void section(struct dn_human *h, const char *name)
{
	dn_buf_puts(&h->buf, "  ");
	span(h, SGR_BOLD, "%-9s", name);
}

static void headline(struct dn_human *h, const struct dn_summary *s, const struct dn_exit_info *e)
{
	char sig[32], t[32];
	double dur = e ? e->duration_secs : dn_summary_total_time_secs(s);
	if (!(dur >= 0))
		dur = 0;

	lbl(h, "denet:");
	dn_buf_putc(&h->buf, ' ');
	if (e && e->known && e->signal != 0)
		span(h, SGR_RED, "command killed by signal %d (%s)", e->signal,
		     signal_name(e->signal, sig, sizeof sig));
	else if (e && e->known)
		span(h, e->exit_code == 0 ? SGR_GREEN : SGR_RED, "command exited with status %d",
		     e->exit_code);
	else
		dn_buf_puts(&h->buf, "monitoring ended");
	dn_buf_puts(&h->buf, " after ");
	span(h, SGR_BOLD, "%.2f s", dur);
	if (dur >= 60) {
		fmt_elapsed(t, sizeof t, dur);
		span(h, SGR_DIM, " (%s)", t);
	}
	dn_buf_putc(&h->buf, '\n');
}

void dn_human_end(struct dn_human *h, const struct dn_summary *s, const struct dn_exit_info *e)
{
	if (!h)
		return;
	struct dn_summary none;
	if (!s) {
		dn_summary_init(&none);
		s = &none;
	}
	bool kernel = e && e->source;
	char x[32], y[32];

	dn_human_clear(h);
	dn_buf_reset(&h->buf);
	headline(h, s, e);

	section(h, "CPU");
	lbl(h, "avg ");
	span(h, SGR_BOLD, "%.1f %%", dn_summary_avg_cpu(s));
	if (kernel) {
		lbl(h, "    user ");
		span(h, SGR_BOLD, "%.2f s", e->cpu_user_secs);
		lbl(h, "   sys ");
		span(h, SGR_BOLD, "%.2f s", e->cpu_system_secs);
		span(h, SGR_DIM, "   (kernel: %s)", e->source);
	}
	if (e) {
		lbl(h, "   sampled ");
		span(h, SGR_BOLD, "%.2f s", e->sampled_cpu_secs);
	}
	dn_buf_putc(&h->buf, '\n');

	uint64_t peak = s->peak_mem_rss_kb;
	if (e && e->sampled_mem_peak_kb > peak)
		peak = e->sampled_mem_peak_kb;
	section(h, "Memory");
	lbl(h, "peak RSS ");
	dn_human_kb(x, sizeof x, peak);
	val(h, x);
	if (kernel && e->mem_peak_kb) {
		dn_human_kb(y, sizeof y, e->mem_peak_kb);
		span(h, SGR_DIM, " (kernel %s)", y);
	}
	dn_buf_putc(&h->buf, '\n');

	section(h, "Disk");
	lbl(h, "read ");
	dn_human_bytes(x, sizeof x, s->total_disk_read_bytes);
	val(h, x);
	lbl(h, "   write ");
	dn_human_bytes(x, sizeof x, s->total_disk_write_bytes);
	val(h, x);
	lbl(h, "      syscalls read ");
	dn_human_bytes(x, sizeof x, s->total_syscall_read_bytes);
	val(h, x);
	lbl(h, " write ");
	dn_human_bytes(x, sizeof x, s->total_syscall_write_bytes);
	val(h, x);
	dn_buf_putc(&h->buf, '\n');

	section(h, "Net");
	lbl(h, "rx ");
	dn_human_bytes(x, sizeof x, s->total_sys_net_rx_bytes);
	val(h, x);
	lbl(h, "   tx ");
	dn_human_bytes(x, sizeof x, s->total_sys_net_tx_bytes);
	val(h, x);
	lbl(h, "   (namespace-wide)");
	dn_buf_putc(&h->buf, '\n');

	section(h, "Tree");
	span(h, SGR_BOLD, "%llu", (unsigned long long)s->max_processes);
	lbl(h, s->max_processes == 1 ? " process max" : " processes max");
	/* counted from fork events: all it started; else what samples saw */
	if (e && e->processes)
		span(h, SGR_DIM, " (%llu %s)", (unsigned long long)e->processes,
		     e->processes_source && strncmp(e->processes_source, "proc_connector", 14) == 0
			     ? "started"
			     : "seen");
	lbl(h, ", ");
	span(h, SGR_BOLD, "%llu", (unsigned long long)s->max_threads);
	lbl(h, s->max_threads == 1 ? " thread max, " : " threads max, ");
	span(h, SGR_BOLD, "%llu", (unsigned long long)s->sample_count);
	lbl(h, s->sample_count == 1 ? " sample" : " samples");
	dn_buf_putc(&h->buf, '\n');

	const struct dn_human_gpu *g = &h->gpu_run;
	if (g->devices) {
		section(h, "GPU");
		span(h, SGR_BOLD, "%u", g->devices);
		lbl(h, g->devices == 1 ? " device" : " devices");
		if (g->has_sys_util) {
			lbl(h, ", max util ");
			span(h, SGR_BOLD, "%u %%", g->sys_util);
		}
		lbl(h, ", peak used ");
		dn_human_bytes(x, sizeof x, g->used_bytes);
		val(h, x);
		dn_human_bytes(y, sizeof y, g->total_bytes);
		lbl(h, " of ");
		val(h, y);
		if (g->tree_procs) {
			lbl(h, "   tree: peak ");
			dn_human_bytes(x, sizeof x, g->tree_mem_bytes);
			val(h, x);
			if (g->has_proc_util) {
				lbl(h, ", max util ");
				span(h, SGR_BOLD, "%u %%", g->proc_util);
			}
		}
		dn_buf_putc(&h->buf, '\n');
	}

	if (e && e->has_counters) { /* --counters: the exit record's */
		const uint64_t *v = e->counters.v;
		section(h, "Counters");
		span(h, SGR_BOLD, "%llu", (unsigned long long)v[DN_PERF_CONTEXT_SWITCHES]);
		lbl(h, " context switches, ");
		span(h, SGR_BOLD, "%llu", (unsigned long long)v[DN_PERF_CPU_MIGRATIONS]);
		lbl(h, " migrations, ");
		span(h, SGR_BOLD, "%llu", (unsigned long long)v[DN_PERF_PAGE_FAULTS]);
		lbl(h, " page faults, task clock ");
		span(h, SGR_BOLD, "%.2f s", (double)v[DN_PERF_TASK_CLOCK] / 1e9);
		if (e->counters.have[DN_PERF_CYCLES] && v[DN_PERF_CYCLES]) {
			lbl(h, ", IPC ");
			span(h, SGR_BOLD, "%.2f",
			     (double)v[DN_PERF_INSTRUCTIONS] / (double)v[DN_PERF_CYCLES]);
		}
		dn_buf_putc(&h->buf, '\n');
	}

	if (e && e->overhead.peak_rss_kb > 0) {
		/* what watching cost: the exit record's `overhead` */
		const struct dn_overhead_info *o = &e->overhead;
		section(h, "denet");
		lbl(h, "CPU ");
		span(h, SGR_BOLD, "%.2f s", o->cpu_user_secs + o->cpu_system_secs);
		lbl(h, "   peak RSS ");
		dn_human_kb(x, sizeof x, o->peak_rss_kb);
		val(h, x);
		lbl(h, "   ");
		span(h, SGR_BOLD, "%llu", (unsigned long long)(o->t.late + o->t.missed));
		lbl(h, o->t.late + o->t.missed == 1 ? " sample late or missed"
						    : " samples late or missed");
		dn_buf_putc(&h->buf, '\n');
	}

	if (e && e->survivors > 0) {
		/* pids only: names are arbitrary bytes, the exit record has them */
		section(h, "Left");
		span(h, SGR_BOLD, "%llu", (unsigned long long)e->survivors);
		lbl(h, e->survivors == 1 ? " process runs on, unmonitored (pid"
					 : " processes run on, unmonitored (pids");
		for (int i = 0; i < e->nsurvivors_listed && i < 4; i++)
			span(h, SGR_BOLD, " %d", (int)e->survivor[i].pid);
		if (e->survivors > 4 || (uint64_t)e->nsurvivors_listed < e->survivors)
			lbl(h, " ...");
		lbl(h, "); --wait-all follows them");
		dn_buf_putc(&h->buf, '\n');
	}

	flush(h);
}
