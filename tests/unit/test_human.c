/*
 * test_human.c — unit tests of the human-mode terminal output (human.c):
 * byte formatting, the plain per-sample line, the in-place status line
 * (including truncation to a real pseudo-terminal's width), colour on and
 * off, the end-of-run summary table, and that a closed reader costs
 * nothing (no SIGPIPE death).
 *
 * Output is captured through a pipe and compared as text.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "human.h"
#include "summary.h"
#include "unit.h"

/* --- capture ----------------------------------------------------------- */

struct cap {
	int r, w;
	char text[8192];
};

static int cap_open(struct cap *c)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	c->r = p[0];
	c->w = p[1];
	c->text[0] = '\0';
	return 0;
}

/* Everything written so far (and not read yet), as a string. */
static const char *cap_read(struct cap *c)
{
	size_t n = 0;
	for (;;) {
		ssize_t k = read(c->r, c->text + n, sizeof c->text - 1 - n);
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	c->text[n] = '\0';
	return c->text;
}

static void cap_close(struct cap *c)
{
	if (c->r >= 0)
		close(c->r);
	if (c->w >= 0)
		close(c->w);
}

static struct dn_human *open_human(struct cap *c, bool in_place, bool color)
{
	if (cap_open(c) < 0)
		return NULL;
	struct dn_human_opts o = { .fd = c->w, .in_place = in_place, .color = color };
	return dn_human_new(&o);
}

/* Columns that s takes on screen: escape sequences and '\r' take none. */
static size_t visible_len(const char *s)
{
	size_t n = 0;
	for (; *s; s++) {
		if (*s == '\033') {
			s++;
			if (*s == '[')
				s++;
			while (*s && !(*s >= 0x40 && *s <= 0x7e))
				s++;
			if (!*s)
				break;
			continue;
		}
		if (*s != '\r')
			n++;
	}
	return n;
}

static size_t count_char(const char *s, char ch)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == ch;
	return n;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static const char *fmt_bytes(uint64_t v)
{
	static char buf[64];
	dn_human_bytes(buf, sizeof buf, v);
	return buf;
}

static const char *fmt_kb(uint64_t v)
{
	static char buf[64];
	dn_human_kb(buf, sizeof buf, v);
	return buf;
}

static struct dn_metrics sample_metrics(void)
{
	struct dn_metrics m;
	memset(&m, 0, sizeof m);
	m.cpu_core = -1;
	m.cpu_usage = 100.0;
	m.mem_rss_kb = 1258291; /* 1.2 GiB */
	m.process_count = 3;
	m.thread_count = 17;
	m.disk_read_bytes = 0;
	m.disk_write_bytes = 1048576;
	m.sys_net_rx_bytes = 512;
	m.sys_net_tx_bytes = 1536;
	return m;
}

/* --- formatting -------------------------------------------------------- */

static void test_bytes(void)
{
	CHECK_STR(fmt_bytes(0), "0 B");
	CHECK_STR(fmt_bytes(1), "1 B");
	CHECK_STR(fmt_bytes(512), "512 B");
	CHECK_STR(fmt_bytes(1023), "1023 B");
	CHECK_STR(fmt_bytes(1024), "1.0 KiB");
	CHECK_STR(fmt_bytes(1536), "1.5 KiB");
	CHECK_STR(fmt_bytes(12288), "12.0 KiB");
	CHECK_STR(fmt_bytes(1048575), "1.0 MiB"); /* not "1024.0 KiB" */
	CHECK_STR(fmt_bytes(1048576), "1.0 MiB");
	CHECK_STR(fmt_bytes(200ull << 20), "200.0 MiB");
	CHECK_STR(fmt_bytes(3435973837ull), "3.2 GiB");
	CHECK_STR(fmt_bytes(5ull << 40), "5.0 TiB");
	CHECK_STR(fmt_bytes(UINT64_MAX), "16.0 EiB");

	char small[4] = "xyz";
	dn_human_bytes(small, sizeof small, 1536);
	CHECK_STR(small, "1.5");
	char untouched[2] = "q";
	dn_human_bytes(untouched, 0, 1536);
	CHECK_STR(untouched, "q");
}

static void test_kb(void)
{
	CHECK_STR(fmt_kb(0), "0 B");
	CHECK_STR(fmt_kb(1), "1.0 KiB");
	CHECK_STR(fmt_kb(1023), "1023.0 KiB");
	CHECK_STR(fmt_kb(1024), "1.0 MiB");
	CHECK_STR(fmt_kb(206131), "201.3 MiB");
	CHECK_STR(fmt_kb(UINT64_MAX), "16.0 EiB"); /* saturates, no wrap */
}

static void test_new_errors(void)
{
	errno = 0;
	CHECK(dn_human_new(NULL) == NULL);
	CHECK_INT(errno, EINVAL);
	struct dn_human_opts o = { .fd = -1 };
	errno = 0;
	CHECK(dn_human_new(&o) == NULL);
	CHECK_INT(errno, EINVAL);
	dn_human_free(NULL);
	/* NULL handles are ignored rather than crashing. */
	struct dn_metrics m = sample_metrics();
	dn_human_sample(NULL, &m, 1.0);
	dn_human_clear(NULL);
	dn_human_end(NULL, NULL, NULL);
}

/* --- plain lines ------------------------------------------------------- */

static void test_plain_line(void)
{
	struct cap c;
	struct dn_human *h = open_human(&c, false, false);
	CHECK(h != NULL);
	if (!h)
		return;
	struct dn_metrics m = sample_metrics();
	dn_human_sample(h, &m, 1.23);
	const char *out = cap_read(&c);
	CHECK_STR(out, "[  1.2s]  CPU 100.0%  RSS 1.2 GiB  3 procs 17 thr  "
		       "disk r 0 B w 1.0 MiB  net rx 512 B tx 1.5 KiB\n");
	CHECK(strstr(out, "CPU 100.0%") != NULL);
	CHECK(strstr(out, "\033[") == NULL);
	CHECK(strchr(out, '\r') == NULL);

	/* A flat sample (process_count 0) is one process. */
	m.process_count = 0;
	m.thread_count = 1;
	m.cpu_usage = 0;
	dn_human_sample(h, &m, 0);
	out = cap_read(&c);
	CHECK(strncmp(out, "[  0.0s]  CPU 0.0%  ", 20) == 0);
	CHECK(strstr(out, "  1 proc 1 thr  ") != NULL);

	dn_human_clear(h); /* nothing to clear in plain mode */
	CHECK_STR(cap_read(&c), "");
	dn_human_free(h);
	cap_close(&c);
}

static void test_plain_elapsed(void)
{
	struct cap c;
	struct dn_human *h = open_human(&c, false, false);
	CHECK(h != NULL);
	if (!h)
		return;
	struct dn_metrics m = sample_metrics();
	dn_human_sample(h, &m, 12.34);
	dn_human_sample(h, &m, 123.0);
	dn_human_sample(h, &m, 3723.9);
	dn_human_sample(h, &m, -5.0);
	const char *out = cap_read(&c);
	CHECK_INT(count_char(out, '\n'), 4);
	CHECK(strncmp(out, "[ 12.3s]  ", 10) == 0);
	CHECK(strstr(out, "\n[  2:03]  ") != NULL);
	CHECK(strstr(out, "\n[1:02:03]  ") != NULL);
	CHECK(strstr(out, "\n[  0.0s]  ") != NULL);
	dn_human_free(h);
	cap_close(&c);
}

/* --- the in-place status line ------------------------------------------ */

static void test_in_place(void)
{
	struct cap c;
	struct dn_human *h = open_human(&c, true, false);
	CHECK(h != NULL);
	if (!h)
		return;
	struct dn_metrics m = sample_metrics();
	const char spin[] = "|/-\\|";
	for (int i = 0; i < 5; i++) {
		dn_human_sample(h, &m, 2.0);
		const char *out = cap_read(&c);
		CHECK(out[0] == '\r');
		CHECK(out[1] == spin[i]);
		CHECK(strstr(out, "\033[K") != NULL);
		CHECK(ends_with(out, "\033[K"));
		CHECK(strchr(out, '\n') == NULL);
		CHECK(strstr(out, "CPU 100.0%") != NULL);
		/* The only escape without colour is the clear-to-EOL. */
		const char *esc = strstr(out, "\033[");
		CHECK(esc != NULL && strcmp(esc, "\033[K") == 0);
	}
	CHECK_STR(cap_read(&c), "");
	dn_human_free(h);
	cap_close(&c);
}

static struct dn_metrics huge_metrics(void)
{
	struct dn_metrics m = sample_metrics();
	m.cpu_usage = 12345.6;
	m.mem_rss_kb = 1073636966; /* 1023.9 GiB */
	m.process_count = 12345;
	m.thread_count = 123456;
	m.disk_read_bytes = m.disk_write_bytes = 1099404443238ull;
	m.sys_net_rx_bytes = m.sys_net_tx_bytes = 1099404443238ull;
	return m;
}

/* A pipe has no window size: the status line fits 80 columns. */
static void test_in_place_truncates(void)
{
	for (int color = 0; color <= 1; color++) {
		struct cap c;
		struct dn_human *h = open_human(&c, true, color);
		CHECK(h != NULL);
		if (!h)
			return;
		struct dn_metrics m = huge_metrics();
		dn_human_sample(h, &m, 3723.0);
		const char *out = cap_read(&c);
		CHECK_INT(visible_len(out), 79);
		CHECK(out[0] == '\r');
		CHECK(ends_with(out, color ? "\033[0m\033[K" : "\033[K"));
		CHECK(strstr(out, "1:02:03") != NULL);

		dn_human_free(h);
		cap_close(&c);
	}
}

/* The real thing: a pseudo-terminal 30 columns wide. */
static void test_in_place_pty_width(void)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0)
		UNIT_SKIP("posix_openpt: %s", strerror(errno));
	const char *name = NULL;
	if (grantpt(master) < 0 || unlockpt(master) < 0 || !(name = ptsname(master))) {
		close(master);
		UNIT_SKIP("pty setup: %s", strerror(errno));
	}
	int slave = open(name, O_RDWR | O_NOCTTY);
	if (slave < 0) {
		close(master);
		UNIT_SKIP("open %s: %s", name, strerror(errno));
	}
	struct dn_human_opts o = { .fd = slave, .in_place = true, .color = true };
	struct dn_human *h = dn_human_new(&o);
	CHECK(h != NULL);
	/* The width is read at every sample, so a resize takes effect. */
	for (int i = 0; h && i < 2; i++) {
		struct winsize ws = { .ws_row = 24, .ws_col = i == 0 ? 30 : 200 };
		CHECK(ioctl(slave, TIOCSWINSZ, &ws) == 0);
		struct dn_metrics m = sample_metrics();
		dn_human_sample(h, &m, 1.0);
		char out[4096];
		size_t n = 0;
		struct pollfd p = { .fd = master, .events = POLLIN };
		while (n < sizeof out - 1 && poll(&p, 1, 200) > 0) {
			ssize_t k = read(master, out + n, sizeof out - 1 - n);
			if (k <= 0)
				break;
			n += (size_t)k;
			if (n >= 3 && memcmp(out + n - 3, "\033[K", 3) == 0)
				break;
		}
		out[n] = '\0';
		CHECK(n > 0);
		CHECK(out[0] == '\r');
		CHECK(ends_with(out, "\033[0m\033[K"));
		if (i == 0) {
			CHECK_INT(visible_len(out), 29);
		} else {
			/* Wide enough: the whole line, net tx last. */
			CHECK(visible_len(out) < 199);
			CHECK(ends_with(out, "1.5 KiB\033[0m\033[K"));
		}
	}
	dn_human_free(h);
	close(slave);
	close(master);
}

static void test_clear(void)
{
	struct cap c;
	struct dn_human *h = open_human(&c, true, false);
	CHECK(h != NULL);
	if (!h)
		return;
	dn_human_clear(h); /* nothing shown yet */
	CHECK_STR(cap_read(&c), "");
	struct dn_metrics m = sample_metrics();
	dn_human_sample(h, &m, 1.0);
	cap_read(&c);
	dn_human_clear(h);
	CHECK_STR(cap_read(&c), "\r\033[K");
	dn_human_clear(h); /* already cleared */
	CHECK_STR(cap_read(&c), "");
	dn_human_free(h);
	cap_close(&c);
}

/* --- colour ------------------------------------------------------------ */

static void test_color(void)
{
	struct cap c;
	struct dn_human *h = open_human(&c, false, true);
	CHECK(h != NULL);
	if (!h)
		return;
	struct dn_metrics m = sample_metrics();
	m.cpu_usage = 1.0;
	dn_human_sample(h, &m, 1.0);
	const char *out = cap_read(&c);
	CHECK(strstr(out, "\033[") != NULL);
	CHECK(strstr(out, "\033[1m1.2 GiB\033[0m") != NULL); /* bold value */
	CHECK(strstr(out, "\033[2mCPU\033[0m") != NULL);     /* dim label */
	CHECK(strstr(out, "\033[1;33m") == NULL);
	CHECK(ends_with(out, "\033[0m\n"));
	CHECK_INT(count_char(out, '\n'), 1);

	/* Above 80% of every core: yellow. */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	m.cpu_usage = 80.0 * (double)ncpu + 5.0;
	dn_human_sample(h, &m, 1.0);
	out = cap_read(&c);
	CHECK(strstr(out, "\033[1;33m") != NULL);
	dn_human_free(h);
	cap_close(&c);
}

/* --- the summary ------------------------------------------------------- */

static struct dn_summary example_summary(void)
{
	struct dn_summary s;
	dn_summary_init(&s);
	s.first_ts_ms = 1000;
	s.last_ts_ms = 3500;
	s.sample_count = 30;
	s.max_processes = 4;
	s.max_threads = 17;
	s.total_disk_write_bytes = 1048576;
	s.total_syscall_read_bytes = 12288;
	s.total_syscall_write_bytes = 1048576;
	s.peak_mem_rss_kb = 206131;
	s.cpu_usage_sum = 98.7 * 30;
	return s;
}

static struct dn_exit_info example_exit(void)
{
	struct dn_exit_info e;
	memset(&e, 0, sizeof e);
	e.known = true;
	e.exit_code = 0;
	e.duration_secs = 3.02;
	e.source = "rusage";
	e.cpu_user_secs = 2.95;
	e.cpu_system_secs = 0.04;
	e.mem_peak_kb = 206336;
	e.processes = 4;
	e.sampled_cpu_secs = 2.97;
	e.sampled_mem_peak_kb = 206131;
	e.samples = 30;
	return e;
}

static const char *run_end(const struct dn_summary *s, const struct dn_exit_info *e,
			   bool color)
{
	static struct cap c;
	struct dn_human *h = open_human(&c, false, color);
	CHECK(h != NULL);
	if (!h)
		return "";
	dn_human_end(h, s, e);
	dn_human_free(h);
	cap_read(&c);
	cap_close(&c);
	return c.text;
}

static void test_summary_full(void)
{
	struct dn_summary s = example_summary();
	struct dn_exit_info e = example_exit();
	const char *out = run_end(&s, &e, false);
	CHECK_STR(out,
		  "denet: command exited with status 0 after 3.02 s\n"
		  "  CPU      avg 98.7 %    user 2.95 s   sys 0.04 s   (kernel: rusage)   sampled 2.97 s\n"
		  "  Memory   peak RSS 201.3 MiB (kernel 201.5 MiB)\n"
		  "  Disk     read 0 B   write 1.0 MiB      syscalls read 12.0 KiB write 1.0 MiB\n"
		  "  Net      rx 0 B   tx 0 B   (namespace-wide)\n"
		  "  Tree     4 processes max (4 seen), 17 threads max, 30 samples\n");
}

/* --counters: a line of the exit record's counters; IPC only with the
 * hardware ones. */
static void test_summary_counters(void)
{
	struct dn_summary s = example_summary();
	struct dn_exit_info e = example_exit();
	e.has_counters = true;
	for (int c = 0; c < DN_PERF_FIRST_HW; c++)
		e.counters.have[c] = true;
	e.counters.v[DN_PERF_CONTEXT_SWITCHES] = 40044;
	e.counters.v[DN_PERF_CPU_MIGRATIONS] = 3;
	e.counters.v[DN_PERF_PAGE_FAULTS] = 82;
	e.counters.v[DN_PERF_TASK_CLOCK] = 2990000000ull;
	const char *out = run_end(&s, &e, false);
	CHECK(strstr(out, "  Tree     4 processes max (4 seen), 17 threads max, 30 samples\n"
			  "  Counters 40044 context switches, 3 migrations, 82 page faults, "
			  "task clock 2.99 s\n") != NULL);
	e.counters.have[DN_PERF_CYCLES] = e.counters.have[DN_PERF_INSTRUCTIONS] = true;
	e.counters.v[DN_PERF_CYCLES] = 4000;
	e.counters.v[DN_PERF_INSTRUCTIONS] = 5000;
	CHECK(strstr(run_end(&s, &e, false), "task clock 2.99 s, IPC 1.25\n") != NULL);
	e.has_counters = false;
	CHECK(strstr(run_end(&s, &e, false), "Counters") == NULL);
}

/* With NVML figures (devices > 0): the GPU part of the status line and the
 * GPU row of the summary; peaks merged over samples. */
static void test_gpu(void)
{
	struct cap c;
	struct dn_human *h = open_human(&c, false, false);
	CHECK(h != NULL);
	if (!h)
		return;
	struct dn_metrics m = sample_metrics();
	struct dn_human_gpu run = {0};
	/* the tree on a GPU, with per-process utilization */
	struct dn_human_gpu g = {.devices = 2,
				 .has_sys_util = true,
				 .sys_util = 37,
				 .has_proc_util = true,
				 .proc_util = 55,
				 .tree_procs = true,
				 .tree_mem_bytes = 2ull << 30,
				 .used_bytes = 10ull << 30,
				 .total_bytes = 80ull << 30};
	dn_human_gpu_merge(&run, &g);
	dn_human_set_gpu(h, &g, NULL);
	dn_human_sample(h, &m, 1.23);
	CHECK(strstr(cap_read(&c), "net rx 512 B tx 1.5 KiB  GPU 55% 2.0 GiB\n") != NULL);
	/* none of the tree's processes on it: the device's (sys) */
	struct dn_human_gpu g2 = {.devices = 2,
				  .has_sys_util = true,
				  .sys_util = 80,
				  .used_bytes = 12ull << 30,
				  .total_bytes = 80ull << 30};
	dn_human_gpu_merge(&run, &g2);
	dn_human_set_gpu(h, &g2, NULL);
	dn_human_sample(h, &m, 1.5);
	CHECK(strstr(cap_read(&c), "tx 1.5 KiB  GPU 80% (sys)\n") != NULL);
	/* no GPU: no GPU part */
	struct dn_human_gpu none = {0};
	dn_human_set_gpu(h, &none, NULL);
	dn_human_sample(h, &m, 1.6);
	CHECK(strstr(cap_read(&c), "GPU") == NULL);
	struct dn_summary s = example_summary();
	struct dn_exit_info e = example_exit();
	dn_human_set_gpu(h, NULL, &run);
	dn_human_end(h, &s, &e);
	CHECK(strstr(cap_read(&c), "  Tree     4 processes max (4 seen), 17 threads max, 30 samples\n"
				   "  GPU      2 devices, max util 80 %, peak used 12.0 GiB of 80.0 GiB"
				   "   tree: peak 2.0 GiB, max util 55 %\n") != NULL);
	dn_human_free(h);
	cap_close(&c);
}

static void test_summary_exit_code(void)
{
	struct dn_summary s = example_summary();
	struct dn_exit_info e = example_exit();
	e.exit_code = 3;
	const char *out = run_end(&s, &e, false);
	CHECK(strncmp(out, "denet: command exited with status 3 after 3.02 s\n", 49) == 0);
	CHECK(strstr(out, "\033[") == NULL);

	/* Colour marks a failure in red and success in green. */
	out = run_end(&s, &e, true);
	CHECK(strstr(out, "\033[31mcommand exited with status 3\033[0m") != NULL);
	e.exit_code = 0;
	out = run_end(&s, &e, true);
	CHECK(strstr(out, "\033[32mcommand exited with status 0\033[0m") != NULL);
}

static void test_summary_signal(void)
{
	struct dn_summary s = example_summary();
	struct dn_exit_info e = example_exit();
	e.exit_code = 137;
	e.signal = 9;
	const char *out = run_end(&s, &e, false);
	CHECK(strstr(out, "SIGKILL") != NULL);
	CHECK(strncmp(out, "denet: command killed by signal 9 (SIGKILL) after 3.02 s\n", 57) == 0);
	e.signal = SIGTERM;
	CHECK(strstr(run_end(&s, &e, false), "signal 15 (SIGTERM)") != NULL);
	e.signal = SIGSEGV;
	CHECK(strstr(run_end(&s, &e, false), "(SIGSEGV)") != NULL);
	e.signal = SIGRTMIN + 2;
	CHECK(strstr(run_end(&s, &e, false), "(SIGRTMIN+2)") != NULL);
	e.signal = 200;
	CHECK(strstr(run_end(&s, &e, false), "signal 200 (unknown signal)") != NULL);
}

static void test_summary_null_exit(void)
{
	struct dn_summary s = example_summary();
	const char *out = run_end(&s, NULL, false);
	CHECK(strncmp(out, "denet: monitoring ended after 2.50 s\n", 37) == 0);
	CHECK(strstr(out, "kernel") == NULL);
	CHECK(strstr(out, "sampled") == NULL);
	CHECK(strstr(out, "seen") == NULL);
	CHECK(strstr(out, "  CPU      avg 98.7 %\n") != NULL);
	CHECK(strstr(out, "  Memory   peak RSS 201.3 MiB\n") != NULL);
	CHECK(strstr(out, "  Tree     4 processes max, 17 threads max, 30 samples\n") != NULL);

	/* Attach mode: an exit record that is not our child's status. */
	struct dn_exit_info e = example_exit();
	e.known = false;
	e.source = NULL;
	e.duration_secs = 3723.5;
	out = run_end(&s, &e, false);
	CHECK(strncmp(out, "denet: monitoring ended after 3723.50 s (1:02:03)\n", 50) == 0);
	CHECK(strstr(out, "kernel") == NULL);
	CHECK(strstr(out, "sampled 2.97 s") != NULL);

	/* Nothing at all: no summary, no exit. */
	out = run_end(NULL, NULL, false);
	CHECK(strncmp(out, "denet: monitoring ended after 0.00 s\n", 37) == 0);
	CHECK(strstr(out, "0 processes max, 0 threads max, 0 samples\n") != NULL);
}

static void test_summary_no_kernel(void)
{
	struct dn_summary s = example_summary();
	struct dn_exit_info e = example_exit();
	e.source = NULL;
	e.processes = 0;
	s.max_processes = 1;
	s.max_threads = 1;
	s.sample_count = 1;
	const char *out = run_end(&s, &e, false);
	CHECK(strstr(out, "kernel") == NULL);
	CHECK(strstr(out, "user") == NULL);
	CHECK(strstr(out, "  CPU      avg ") != NULL);
	CHECK(strstr(out, "   sampled 2.97 s\n") != NULL);
	CHECK(strstr(out, "1 process max, 1 thread max, 1 sample\n") != NULL);
}

static void test_end_clears_status(void)
{
	struct cap c;
	struct dn_human *h = open_human(&c, true, false);
	CHECK(h != NULL);
	if (!h)
		return;
	struct dn_metrics m = sample_metrics();
	dn_human_sample(h, &m, 1.0);
	cap_read(&c);
	struct dn_summary s = example_summary();
	dn_human_end(h, &s, NULL);
	const char *out = cap_read(&c);
	CHECK(strncmp(out, "\r\033[Kdenet: monitoring ended", 27) == 0);
	CHECK(ends_with(out, "samples\n"));
	dn_human_free(h);
	cap_close(&c);
}

/* --- a reader that went away ------------------------------------------- */

static void test_closed_reader(void)
{
	/* Default disposition: an unguarded write would kill this process. */
	void (*prev)(int) = signal(SIGPIPE, SIG_DFL);
	struct cap c;
	struct dn_human *h = open_human(&c, true, true);
	CHECK(h != NULL);
	if (h) {
		close(c.r);
		c.r = -1;
		struct dn_metrics m = sample_metrics();
		errno = 1234;
		dn_human_sample(h, &m, 1.0);
		CHECK_INT(errno, 1234); /* left as the caller had it */
		dn_human_clear(h);
		struct dn_summary s = example_summary();
		dn_human_end(h, &s, NULL);
		sigset_t pending;
		sigpending(&pending);
		CHECK(!sigismember(&pending, SIGPIPE));
		dn_human_free(h);
	}
	cap_close(&c);

	/* A closed descriptor: EBADF, ignored. */
	int p[2];
	if (pipe(p) == 0) {
		struct dn_human_opts o = { .fd = p[1] };
		h = dn_human_new(&o);
		close(p[0]);
		close(p[1]);
		CHECK(h != NULL);
		struct dn_metrics m = sample_metrics();
		dn_human_sample(h, &m, 1.0);
		dn_human_end(h, NULL, NULL);
		dn_human_free(h);
	}
	signal(SIGPIPE, prev);
}

int main(void)
{
	RUN(test_bytes);
	RUN(test_kb);
	RUN(test_new_errors);
	RUN(test_plain_line);
	RUN(test_plain_elapsed);
	RUN(test_in_place);
	RUN(test_in_place_truncates);
	RUN(test_in_place_pty_width);
	RUN(test_clear);
	RUN(test_color);
	RUN(test_summary_full);
	RUN(test_summary_counters);
	RUN(test_summary_exit_code);
	RUN(test_summary_signal);
	RUN(test_summary_null_exit);
	RUN(test_summary_no_kernel);
	RUN(test_end_clears_status);
	RUN(test_closed_reader);
	RUN(test_gpu);
	return unit_done();
}
