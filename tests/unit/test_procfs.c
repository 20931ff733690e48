/*
 * test_procfs.c — unit tests of engine/core/procfs.c on real /proc text.
 *
 * Three sources: fixtures recorded from a live kernel by
 * tests/fixtures/proc/record.sh (including processes with hostile names),
 * literal buffers for cases the kernel rarely shows, and this process's own
 * /proc files read live. Every buffer handed to a parser is a malloc of
 * exactly its length with no NUL after it, so ASan or valgrind flags any
 * read past `len`. Fixture assertions stick to what survives re-recording.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "procfs.h"
#include "unit.h"

static const char *self_argv0;

/* A copy of n bytes in a block of exactly n bytes (1 if n is 0). */
static char *exact(const void *src, size_t n)
{
	char *p = malloc(n ? n : 1);

	if (p && n)
		memcpy(p, src, n);
	return p;
}

/* A literal in an exact-size block; sets the caller's `n` to its length. */
#define DUP(s) (n = sizeof(s) - 1, exact((s), n))

static char *read_path(const char *path, size_t *len)
{
	char tmp[65536], *out;
	size_t n = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	while (n < sizeof tmp && (r = read(fd, tmp + n, sizeof tmp - n)) > 0)
		n += (size_t)r;
	close(fd);
	out = exact(tmp, n);
	*len = n;
	return out;
}

/* A fixture from $DENET_ROOT/tests/fixtures/proc; NULL (and a diagnostic)
 * if missing — fixtures are committed, so that is a failure, not a skip. */
static char *fixture(const char *name, size_t *len)
{
	const char *root = getenv("DENET_ROOT");
	char path[4096];
	char *buf;

	snprintf(path, sizeof path, "%s/tests/fixtures/proc/%s",
		 root && *root ? root : ".", name);
	buf = read_path(path, len);
	if (!buf) {
		/* Counted here, so no caller can pass by returning early. */
		unit_cur_failed++;
		printf("#   cannot read fixture %s: %s\n", path, strerror(errno));
	}
	return buf;
}

/* Parses NAME-stat and NAME-status and checks they describe one process. */
static int load_pair(const char *name, struct dn_stat *st, struct dn_status *ss)
{
	char fn[256];
	size_t n1, n2;
	char *b1, *b2;
	int ok = 1;

	snprintf(fn, sizeof fn, "%s-stat", name);
	b1 = fixture(fn, &n1);
	snprintf(fn, sizeof fn, "%s-status", name);
	b2 = fixture(fn, &n2);
	if (!b1 || !b2) {
		ok = 0; /* fixture() has counted the failure */
	} else {
		int r1 = dn_proc_parse_stat(b1, n1, st);
		int r2 = dn_proc_parse_status(b2, n2, ss);
		CHECK_INT(r1, 0);
		CHECK_INT(r2, 0);
		ok = r1 == 0 && r2 == 0;
		if (ok) {
			CHECK_INT(st->pid, ss->pid);
			CHECK_INT(st->ppid, ss->ppid);
			CHECK_STR(st->comm, ss->name);
			CHECK_INT(st->num_threads, ss->threads);
			CHECK_INT(st->state, ss->state);
		}
	}
	free(b1);
	free(b2);
	return ok;
}

/* ---- stat / status from recorded fixtures ---- */

static void test_stat_self_fixture(void)
{
	struct dn_stat st;
	struct dn_status ss;

	if (!load_pair("self", &st, &ss))
		return;
	CHECK_STR(st.comm, "holder");
	CHECK_INT(st.state, 'R');
	CHECK(st.pid > 0);
	CHECK(st.ppid > 0);
	CHECK_INT(st.num_threads, 1);
	CHECK(st.vsize > 0);
	CHECK(st.rss > 0);
	CHECK(st.starttime > 0);
	CHECK(st.minflt > 0);
	CHECK(st.processor >= 0);
	CHECK_INT(ss.tgid, ss.pid);
	CHECK(ss.vm_size_kb > 0);
	CHECK(ss.vm_peak_kb >= ss.vm_size_kb);
	CHECK(ss.vm_rss_kb > 0);
	CHECK(ss.vm_hwm_kb >= ss.vm_rss_kb);
	/* stat's vsize is bytes, status's VmSize kB: same mm, same moment */
	CHECK_INT(st.vsize / 1024, ss.vm_size_kb);
}

static void test_stat_kthread_fixture(void)
{
	struct dn_stat st;
	struct dn_status ss;

	if (!load_pair("kthread", &st, &ss))
		return;
	CHECK_INT(st.pid, 2);
	CHECK_INT(st.ppid, 0);
	CHECK_STR(st.comm, "kthreadd");
	CHECK_INT(st.vsize, 0);
	CHECK_INT(st.rss, 0);
	CHECK(st.processor >= 0);
	CHECK_INT(ss.tgid, 2);
	CHECK_INT(ss.uid, 0);
	/* no mm, so no Vm* lines: they stay 0 */
	CHECK_INT(ss.vm_peak_kb, 0);
	CHECK_INT(ss.vm_size_kb, 0);
	CHECK_INT(ss.vm_hwm_kb, 0);
	CHECK_INT(ss.vm_rss_kb, 0);
	CHECK_INT(ss.vm_swap_kb, 0);
	CHECK(ss.voluntary_ctxt_switches > 0);
}

static void test_stat_kthread_long_name(void)
{
	struct dn_stat st;
	struct dn_status ss;

	if (!load_pair("kthread-long", &st, &ss))
		return;
	/* kernel threads report names past TASK_COMM_LEN (16) */
	CHECK(strlen(st.comm) > 15);
	CHECK(strlen(st.comm) < DN_COMM_MAX);
	CHECK_INT(st.ppid, 2);
}

static void test_stat_threads_fixture(void)
{
	struct dn_stat st;
	struct dn_status ss;

	if (!load_pair("threads", &st, &ss))
		return;
	CHECK_STR(st.comm, "holder");
	CHECK_INT(st.state, 'S');
	CHECK_INT(st.num_threads, 4);
	CHECK_INT(ss.threads, 4);
	CHECK(ss.vm_size_kb > 0);
}

static void test_stat_zombie_fixture(void)
{
	struct dn_stat st;
	struct dn_status ss;
	pid_t kids[8];
	size_t n;
	char *b;
	int found = 0, r;

	if (!load_pair("zombie", &st, &ss))
		return;
	CHECK_STR(st.comm, "dn-zombie");
	CHECK_INT(st.state, 'Z');
	CHECK_INT(st.vsize, 0);
	CHECK_INT(ss.vm_rss_kb, 0); /* a zombie's mm is gone: no Vm* lines */
	/* its unreaped pid is still in the parent's children list */
	b = fixture("children", &n);
	if (!b)
		return;
	r = dn_proc_parse_children(b, n, kids, 8);
	CHECK_INT(r, 3);
	for (int i = 0; i < r && i < 8; i++)
		found += kids[i] == st.pid;
	CHECK_INT(found, 1);
	free(b);
}

static void hostile(const char *label, const char *want)
{
	struct dn_stat st;
	struct dn_status ss;

	if (!load_pair(label, &st, &ss))
		return;
	CHECK_STR(st.comm, want);
	CHECK_STR(ss.name, want);
	CHECK_INT(st.state, 'S');
	CHECK_INT(st.num_threads, 1);
	CHECK(st.ppid > 1);
	CHECK(st.vsize > 0);
	CHECK(st.starttime > 0);
	CHECK(st.processor >= 0);
}

static void test_hostile_paren(void) { hostile("hostile-paren", "a) (b"); }
static void test_hostile_fields(void) { hostile("hostile-fields", "x) R 1 2 3 ("); }
static void test_hostile_closeparen(void) { hostile("hostile-closeparen", ")"); }
static void test_hostile_newline(void) { hostile("hostile-newline", "x\ny"); }
static void test_hostile_quote(void) { hostile("hostile-quote", "q\"uote"); }
static void test_hostile_bytes(void) { hostile("hostile-bytes", "\xff\xfe"); }
static void test_hostile_backslash(void) { hostile("hostile-backslash", "b\\s\\n"); }
static void test_hostile_space(void) { hostile("hostile-space", " lead trail "); }
/* PR_SET_NAME keeps 15 bytes */
static void test_hostile_long(void) { hostile("hostile-long", "0123456789abcde"); }

/* ---- stat from literal buffers ---- */

#define STAT_TAIL                                                              \
	" S 7 8 9 0 -1 4194560 10 11 12 13 14 15 -16 -17 20 0 21 0 22 23 "    \
	"24 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 5 0 0 0 0 0"

static void test_stat_literal_fields(void)
{
	struct dn_stat st;
	char *b;
	size_t n;

	b = DUP("42 (sh)" STAT_TAIL);
	CHECK_INT(dn_proc_parse_stat(b, n, &st), 0);
	CHECK_INT(st.pid, 42);
	CHECK_STR(st.comm, "sh");
	CHECK_INT(st.state, 'S');
	CHECK_INT(st.ppid, 7);
	CHECK_INT(st.minflt, 10);
	CHECK_INT(st.cminflt, 11);
	CHECK_INT(st.majflt, 12);
	CHECK_INT(st.cmajflt, 13);
	CHECK_INT(st.utime, 14);
	CHECK_INT(st.stime, 15);
	CHECK_INT(st.cutime, -16);
	CHECK_INT(st.cstime, -17);
	CHECK_INT(st.num_threads, 21);
	CHECK_INT(st.starttime, 22);
	CHECK_INT(st.vsize, 23);
	CHECK_INT(st.rss, 24);
	CHECK_INT(st.processor, 5);
	free(b);
}

static void test_stat_literal_edges(void)
{
	struct dn_stat st;
	char *b;
	size_t n;

	/* comm ")" only: first '(' to last ')' */
	b = DUP("1 ())" STAT_TAIL);
	CHECK_INT(dn_proc_parse_stat(b, n, &st), 0);
	CHECK_STR(st.comm, ")");
	CHECK_INT(st.ppid, 7);
	free(b);

	/* empty comm */
	b = DUP("1 ()" STAT_TAIL);
	CHECK_INT(dn_proc_parse_stat(b, n, &st), 0);
	CHECK_STR(st.comm, "");
	free(b);

	/* truncated: no ')' at all */
	b = DUP("1234 (trunc");
	CHECK_INT(dn_proc_parse_stat(b, n, &st), -EINVAL);
	free(b);

	/* empty buffer; NULL with 0 */
	b = exact("", 0);
	CHECK_INT(dn_proc_parse_stat(b, 0, &st), -EINVAL);
	free(b);
	CHECK_INT(dn_proc_parse_stat(NULL, 0, &st), -EINVAL);

	/* stops at rss (field 24): processor absent -> -1 */
	b = DUP("5 (a) R 1 0 0 0 -1 0 1 2 3 4 5 6 7 8 20 0 3 0 99 4096 77");
	CHECK_INT(dn_proc_parse_stat(b, n, &st), 0);
	CHECK_INT(st.processor, -1);
	CHECK_INT(st.rss, 77);
	CHECK_INT(st.num_threads, 3);
	free(b);

	/* stops before rss: not a stat line */
	b = DUP("5 (a) R 1 0 0 0 -1 0 1 2 3 4 5 6 7 8 20 0 3 0 99 4096");
	CHECK_INT(dn_proc_parse_stat(b, n, &st), -EINVAL);
	free(b);

	/* state must be one char; numbers must be numbers and fit */
	b = DUP("5 (a) RR 1 0 0 0 -1 0 1 2 3 4 5 6 7 8 20 0 3 0 99 4096 77");
	CHECK_INT(dn_proc_parse_stat(b, n, &st), -EINVAL);
	free(b);
	b = DUP("5 (a) R 1 0 0 0 -1 0 1x 2 3 4 5 6 7 8 20 0 3 0 99 4096 77");
	CHECK_INT(dn_proc_parse_stat(b, n, &st), -EINVAL);
	free(b);
	b = DUP("5 (a) R 1 0 0 0 -1 0 18446744073709551616 2 3 4 5 6 7 8 20 0 3 0 99 4096 77");
	CHECK_INT(dn_proc_parse_stat(b, n, &st), -EINVAL);
	free(b);
	b = DUP("5 (a) R 99999999999 0 0 0 -1 0 1 2 3 4 5 6 7 8 20 0 3 0 99 4096 77");
	CHECK_INT(dn_proc_parse_stat(b, n, &st), -EINVAL);
	free(b);

	/* no pid, or no space between ')' and state */
	b = DUP("(a) R 1 0 0 0 -1 0 1 2 3 4 5 6 7 8 20 0 3 0 99 4096 77");
	CHECK_INT(dn_proc_parse_stat(b, n, &st), -EINVAL);
	free(b);
	b = DUP("5 (a)R 1 0 0 0 -1 0 1 2 3 4 5 6 7 8 20 0 3 0 99 4096 77");
	CHECK_INT(dn_proc_parse_stat(b, n, &st), -EINVAL);
	free(b);
}

static void test_stat_comm_truncated(void)
{
	char text[512], want[DN_COMM_MAX];
	struct dn_stat st;
	size_t n;
	char *b;

	memset(want, 'c', DN_COMM_MAX - 1);
	want[DN_COMM_MAX - 1] = '\0';
	n = (size_t)snprintf(text, sizeof text, "9 (%s%s)%s", want, "zzzz", STAT_TAIL);
	b = exact(text, n);
	CHECK_INT(dn_proc_parse_stat(b, n, &st), 0);
	CHECK_STR(st.comm, want);
	CHECK_INT(st.rss, 24);
	free(b);
}

/* Every prefix of every stat fixture, in an exact-size block: no prefix
 * may read past its end, and short ones that cut the fields must fail. */
static void test_stat_every_prefix(void)
{
	static const char *const names[] = {
		"self-stat", "kthread-stat", "zombie-stat", "hostile-fields-stat",
		"hostile-newline-stat", "hostile-closeparen-stat",
	};
	struct dn_stat st;

	for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
		size_t n;
		char *full = fixture(names[k], &n);

		if (!full) {
			unit_cur_failed++;
			continue;
		}
		for (size_t len = 0; len <= n; len++) {
			char *b = exact(full, len);
			int r = dn_proc_parse_stat(b, len, &st);
			CHECK(r == 0 || r == -EINVAL);
			CHECK(strlen(st.comm) < DN_COMM_MAX);
			free(b);
		}
		CHECK_INT(dn_proc_parse_stat(full, 8, &st), -EINVAL);
		free(full);
	}
}

/* ---- status from literal buffers ---- */

static void test_status_literal(void)
{
	static const char text[] = "Name:\tdenet\n"
				   "Umask:\t0022\n"
				   "State:\tD (disk sleep)\n"
				   "Tgid:\t100\n"
				   "Pid:\t101\n"
				   "PPid:\t1\n"
				   "Uid:\t1000\t0\t0\t0\n"
				   "Threads:\t3\n"
				   "VmPeak:\t   12345 kB\n"
				   "VmSize:\t   12000 kB\n"
				   "VmHWM:\t    4000 kB\n"
				   "VmRSS:\t    3999 kB\n"
				   "VmSwap:\t       7 kB\n"
				   "voluntary_ctxt_switches:\t55\n"
				   "nonvoluntary_ctxt_switches:\t66"; /* no final \n */
	struct dn_status ss;
	char *b = exact(text, sizeof text - 1);

	CHECK_INT(dn_proc_parse_status(b, sizeof text - 1, &ss), 0);
	CHECK_STR(ss.name, "denet");
	CHECK_INT(ss.state, 'D');
	CHECK_INT(ss.tgid, 100);
	CHECK_INT(ss.pid, 101);
	CHECK_INT(ss.ppid, 1);
	CHECK_INT(ss.uid, 1000);
	CHECK_INT(ss.threads, 3);
	CHECK_INT(ss.vm_peak_kb, 12345);
	CHECK_INT(ss.vm_size_kb, 12000);
	CHECK_INT(ss.vm_hwm_kb, 4000);
	CHECK_INT(ss.vm_rss_kb, 3999);
	CHECK_INT(ss.vm_swap_kb, 7);
	CHECK_INT(ss.voluntary_ctxt_switches, 55);
	CHECK_INT(ss.nonvoluntary_ctxt_switches, 66);
	free(b);
}

static void test_status_escapes_and_edges(void)
{
	struct dn_status ss;
	char text[512];
	size_t n;
	char *b;

	/* a \\ n b \ n c  ->  a \ n b <LF> c ; an unknown escape stays */
	b = DUP("Name:\ta\\\\nb\\nc\\t\nPid:\t3\n");
	CHECK_INT(dn_proc_parse_status(b, n, &ss), 0);
	CHECK_STR(ss.name, "a\\nb\nc\\t");
	CHECK_INT(ss.pid, 3);
	free(b);

	/* a trailing lone backslash is kept; tabs inside Name are data */
	b = DUP("Name:\t\tx\\");
	CHECK_INT(dn_proc_parse_status(b, n, &ss), 0);
	CHECK_STR(ss.name, "\tx\\");
	free(b);

	/* missing fields stay 0 */
	b = DUP("Name:\tk\nState:\tI (idle)\n");
	CHECK_INT(dn_proc_parse_status(b, n, &ss), 0);
	CHECK_INT(ss.state, 'I');
	CHECK_INT(ss.pid, 0);
	CHECK_INT(ss.vm_rss_kb, 0);
	CHECK_INT(ss.threads, 0);
	free(b);

	/* a long escaped name is cut at DN_COMM_MAX-1 bytes */
	n = (size_t)snprintf(text, sizeof text, "Name:\t");
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, "\\n");
	text[n++] = '\n';
	b = exact(text, n);
	CHECK_INT(dn_proc_parse_status(b, n, &ss), 0);
	CHECK_INT(strlen(ss.name), DN_COMM_MAX - 1);
	CHECK(ss.name[0] == '\n' && ss.name[DN_COMM_MAX - 2] == '\n');
	free(b);

	/* no Name line, empty, or a malformed number */
	b = DUP("Pid:\t3\n");
	CHECK_INT(dn_proc_parse_status(b, n, &ss), -EINVAL);
	free(b);
	b = exact("", 0);
	CHECK_INT(dn_proc_parse_status(b, 0, &ss), -EINVAL);
	free(b);
	b = DUP("Name:\tx\nVmRSS:\t  abc kB\n");
	CHECK_INT(dn_proc_parse_status(b, n, &ss), -EINVAL);
	free(b);
	b = DUP("Name:\tx\nPid:\t\n");
	CHECK_INT(dn_proc_parse_status(b, n, &ss), -EINVAL);
	free(b);
}

static void test_status_every_prefix(void)
{
	static const char *const names[] = {"self-status", "hostile-newline-status",
					    "hostile-backslash-status"};
	struct dn_status ss;

	for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
		size_t n;
		char *full = fixture(names[k], &n);

		if (!full) {
			unit_cur_failed++;
			continue;
		}
		for (size_t len = 0; len <= n; len++) {
			char *b = exact(full, len);
			int r = dn_proc_parse_status(b, len, &ss);
			CHECK(r == 0 || r == -EINVAL);
			free(b);
		}
		free(full);
	}
}

/* ---- io, statm, schedstat ---- */

static void test_io(void)
{
	struct dn_io io;
	size_t n;
	char *b = fixture("self-io", &n);

	if (b) {
		CHECK_INT(dn_proc_parse_io(b, n, &io), 0);
		CHECK(io.rchar > 0);
		CHECK(io.syscr > 0);
		free(b);
	}
	b = DUP("rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 5\n"
		      "write_bytes: 6\ncancelled_write_bytes: 7");
	CHECK_INT(dn_proc_parse_io(b, n, &io), 0);
	CHECK_INT(io.rchar, 1);
	CHECK_INT(io.wchar, 2);
	CHECK_INT(io.syscr, 3);
	CHECK_INT(io.syscw, 4);
	CHECK_INT(io.read_bytes, 5);
	CHECK_INT(io.write_bytes, 6);
	CHECK_INT(io.cancelled_write_bytes, 7);
	free(b);

	/* missing fields stay 0; unknown keys are ignored */
	b = DUP("wchar: 18446744073709551615\nfuture_key: 9\n");
	CHECK_INT(dn_proc_parse_io(b, n, &io), 0);
	CHECK(io.wchar == UINT64_MAX);
	CHECK_INT(io.rchar, 0);
	free(b);

	b = exact("", 0);
	CHECK_INT(dn_proc_parse_io(b, 0, &io), -EINVAL);
	free(b);
	b = DUP("rchar: x\n");
	CHECK_INT(dn_proc_parse_io(b, n, &io), -EINVAL);
	free(b);
	b = DUP("rchar 1\n");
	CHECK_INT(dn_proc_parse_io(b, n, &io), -EINVAL);
	free(b);
}

static void test_statm(void)
{
	struct dn_statm sm;
	size_t n;
	char *b = fixture("self-statm", &n);

	if (b) {
		CHECK_INT(dn_proc_parse_statm(b, n, &sm), 0);
		CHECK(sm.size > 0);
		CHECK(sm.resident > 0 && sm.resident <= sm.size);
		CHECK(sm.text > 0);
		free(b);
	}
	b = DUP("765 427 398 5 0 123 0\n");
	CHECK_INT(dn_proc_parse_statm(b, n, &sm), 0);
	CHECK_INT(sm.size, 765);
	CHECK_INT(sm.resident, 427);
	CHECK_INT(sm.shared, 398);
	CHECK_INT(sm.text, 5);
	CHECK_INT(sm.data, 123);
	free(b);
	b = DUP("765 427 398 5 0");
	CHECK_INT(dn_proc_parse_statm(b, n, &sm), -EINVAL);
	free(b);
}

static void test_schedstat(void)
{
	struct dn_schedstat ss;
	size_t n;
	char *b = fixture("self-schedstat", &n);

	if (b) {
		CHECK_INT(dn_proc_parse_schedstat(b, n, &ss), 0);
		CHECK(ss.run_ns > 0);
		CHECK(ss.slices > 0);
		free(b);
	}
	b = DUP("129893 114045 2\n");
	CHECK_INT(dn_proc_parse_schedstat(b, n, &ss), 0);
	CHECK_INT(ss.run_ns, 129893);
	CHECK_INT(ss.wait_ns, 114045);
	CHECK_INT(ss.slices, 2);
	free(b);
	/* not NUL-terminated and ending inside the last number */
	b = DUP("1 2 34");
	CHECK_INT(dn_proc_parse_schedstat(b, n - 1, &ss), 0);
	CHECK_INT(ss.slices, 3);
	free(b);
	b = DUP("1 2");
	CHECK_INT(dn_proc_parse_schedstat(b, n, &ss), -EINVAL);
	free(b);
	b = exact("", 0);
	CHECK_INT(dn_proc_parse_schedstat(b, 0, &ss), -EINVAL);
	free(b);
}

/* ---- children ---- */

static void test_children(void)
{
	pid_t out[4];
	pid_t *small;
	char *b, *text;
	size_t n = 0;

	b = DUP("10 20 30 ");
	CHECK_INT(dn_proc_parse_children(b, n, out, 4), 3);
	CHECK_INT(out[0], 10);
	CHECK_INT(out[2], 30);
	free(b);

	b = DUP("7");
	CHECK_INT(dn_proc_parse_children(b, n, out, 4), 1);
	CHECK_INT(out[0], 7);
	free(b);

	b = exact("", 0);
	CHECK_INT(dn_proc_parse_children(b, 0, out, 4), 0);
	free(b);
	b = DUP(" ");
	CHECK_INT(dn_proc_parse_children(b, n, out, 4), 0);
	free(b);
	b = DUP("1 x 2");
	CHECK_INT(dn_proc_parse_children(b, n, out, 4), -EINVAL);
	free(b);

	/* 1000 pids, room for 10: count all, store 10, write no further */
	text = malloc(8 * 1000);
	n = 0;
	for (int i = 0; i < 1000; i++)
		n += (size_t)sprintf(text + n, "%d ", 1000 + i);
	b = exact(text, n);
	small = malloc(10 * sizeof *small);
	CHECK_INT(dn_proc_parse_children(b, n, small, 10), 1000);
	CHECK_INT(small[0], 1000);
	CHECK_INT(small[9], 1009);
	CHECK_INT(dn_proc_parse_children(b, n, NULL, 0), 1000);
	free(small);
	free(b);
	free(text);
}

/* ---- net/dev ---- */

static void test_net_dev_fixture(void)
{
	uint64_t rx = 1, tx = 1;
	size_t n;
	char *b = fixture("net-dev", &n);

	if (!b)
		return;
	/* The recorded machine: lo is left out (upstream's rule), ifb0/ifb1
	 * are idle, eth0 carried everything. */
	CHECK_INT(dn_proc_parse_net_dev(b, n, &rx, &tx), 0);
	CHECK_INT(rx, 27652412);
	CHECK_INT(tx, 52824);
	free(b);
}

static void test_net_dev_literal(void)
{
	static const char text[] =
		"Inter-|   Receive                                                |  Transmit\n"
		" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
		"    lo:    3267      29    0    0    0     0          0         0     3267      29    0    0    0     0       0          0\n"
		"  eth0: 1000     916    0    0    0     0          0         0    200     675    0    0    0     0       0          0\n"
		"veth0123456789a:12345678901 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n"
		"lo0: 1 0 0 0 0 0 0 0 2 0 0 0 0 0 0 0"; /* "lo0" is not "lo"; no \n */
	uint64_t rx, tx;
	size_t n;
	char *b = exact(text, sizeof text - 1);

	CHECK_INT(dn_proc_parse_net_dev(b, sizeof text - 1, &rx, &tx), 0);
	CHECK_INT(rx, 1000 + 12345678901ULL + 1);
	CHECK_INT(tx, 200 + 5 + 2);
	free(b);

	/* headers only: no interfaces, zero */
	n = (size_t)(strchr(strchr(text, '\n') + 1, '\n') + 1 - text);
	b = exact(text, n);
	CHECK_INT(dn_proc_parse_net_dev(b, n, &rx, &tx), 0);
	CHECK_INT(rx, 0);
	CHECK_INT(tx, 0);
	free(b);

	/* missing header, truncated line, line without colon */
	b = DUP("Inter-|\n");
	CHECK_INT(dn_proc_parse_net_dev(b, n, &rx, &tx), -EINVAL);
	free(b);
	b = DUP("h1\nh2\n  eth0: 1 2 3 4\n");
	CHECK_INT(dn_proc_parse_net_dev(b, n, &rx, &tx), -EINVAL);
	free(b);
	b = DUP("h1\nh2\n  eth0 1 2 3 4 5 6 7 8 9\n");
	CHECK_INT(dn_proc_parse_net_dev(b, n, &rx, &tx), -EINVAL);
	free(b);
	b = exact("", 0);
	CHECK_INT(dn_proc_parse_net_dev(b, 0, &rx, &tx), -EINVAL);
	free(b);
}

/* ---- cmdline ---- */

struct args {
	int n;
	char v[8][64];
};

static void collect(void *ctx, const char *arg, size_t n)
{
	struct args *a = ctx;

	if (a->n < 8 && n < 64) {
		memcpy(a->v[a->n], arg, n);
		a->v[a->n][n] = '\0';
	}
	a->n++;
}

static void test_cmdline(void)
{
	struct args a;
	size_t n;
	char *b = fixture("threads-cmdline", &n);

	if (b) {
		memset(&a, 0, sizeof a);
		CHECK_INT(dn_proc_split_cmdline(b, n, collect, &a), 5);
		CHECK_INT(a.n, 5);
		CHECK_STR(a.v[0], "dn-holder");
		CHECK_STR(a.v[1], "threads");
		CHECK_STR(a.v[2], "4");
		CHECK_STR(a.v[3], "");
		CHECK_STR(a.v[4], "two words");
		free(b);
	}

	/* no trailing NUL still yields the last argument */
	memset(&a, 0, sizeof a);
	b = exact("ab\0cd", 5);
	CHECK_INT(dn_proc_split_cmdline(b, 5, collect, &a), 2);
	CHECK_STR(a.v[1], "cd");
	free(b);

	memset(&a, 0, sizeof a);
	b = exact("", 0);
	CHECK_INT(dn_proc_split_cmdline(b, 0, collect, &a), 0);
	CHECK_INT(a.n, 0);
	free(b);

	/* a lone NUL is one empty argument; fn may be NULL to just count */
	memset(&a, 0, sizeof a);
	b = exact("\0", 1);
	CHECK_INT(dn_proc_split_cmdline(b, 1, collect, &a), 1);
	CHECK_STR(a.v[0], "");
	CHECK_INT(dn_proc_split_cmdline(b, 1, NULL, NULL), 1);
	free(b);
}

/* ---- this process, live ---- */

static void test_live_self(void)
{
	struct dn_stat st;
	struct dn_status ss;
	struct dn_schedstat sch;
	struct dn_statm sm;
	struct args a;
	size_t n;
	char *b;

	b = read_path("/proc/self/stat", &n);
	if (!b)
		UNIT_SKIP("/proc/self/stat unreadable: %s", strerror(errno));
	CHECK_INT(dn_proc_parse_stat(b, n, &st), 0);
	CHECK_INT(st.pid, getpid());
	CHECK_INT(st.ppid, getppid());
	CHECK_INT(st.state, 'R');
	CHECK_INT(st.num_threads, 1);
	free(b);

	b = read_path("/proc/self/status", &n);
	CHECK(b != NULL);
	if (b) {
		CHECK_INT(dn_proc_parse_status(b, n, &ss), 0);
		CHECK_INT(ss.pid, getpid());
		CHECK_INT(ss.uid, getuid());
		CHECK_STR(ss.name, st.comm);
		CHECK(ss.vm_rss_kb > 0);
		free(b);
	}

	b = read_path("/proc/self/statm", &n);
	CHECK(b != NULL);
	if (b) {
		CHECK_INT(dn_proc_parse_statm(b, n, &sm), 0);
		CHECK(sm.resident > 0);
		free(b);
	}

	/* schedstat needs CONFIG_SCHED_INFO; its absence is not a failure */
	b = read_path("/proc/self/schedstat", &n);
	if (b) {
		CHECK_INT(dn_proc_parse_schedstat(b, n, &sch), 0);
		CHECK(sch.run_ns > 0);
		free(b);
	}

	b = read_path("/proc/self/cmdline", &n);
	CHECK(b != NULL);
	if (b) {
		memset(&a, 0, sizeof a);
		CHECK_INT(dn_proc_split_cmdline(b, n, collect, &a), 1);
		if (strlen(self_argv0) < 64)
			CHECK_STR(a.v[0], self_argv0);
		free(b);
	}
}

/* ---- /proc/PID/maps ---- */

/* Finds addr among the executable file mappings. */
struct maps_hit {
	uintptr_t addr;
	int found;
};

static int maps_find_cb(void *ctx, const struct dn_maps_entry *e)
{
	struct maps_hit *h = ctx;

	if (h->addr >= e->start && h->addr < e->end && e->perms[2] == 'x' && e->inode &&
	    e->path && e->path[0] == '/')
		h->found++;
	return 0;
}

struct maps_got {
	struct dn_maps_entry e[8];
	char path[8][128];
	int n;
	int stop_at; /* return 7 from this call (1-based), 0: never */
};

static int maps_collect(void *ctx, const struct dn_maps_entry *e)
{
	struct maps_got *g = ctx;

	if (g->n < 8) {
		g->e[g->n] = *e;
		snprintf(g->path[g->n], sizeof g->path[0], "%.*s", (int)e->pathlen,
			 e->path ? e->path : "");
	}
	g->n++;
	return g->stop_at && g->n == g->stop_at ? 7 : 0;
}

static int maps_parse(const char *lit, size_t len, struct maps_got *g)
{
	char *b = exact(lit, len);
	int r;

	memset(g, 0, sizeof *g);
	r = dn_proc_parse_maps(b, len, maps_collect, g);
	free(b);
	return r;
}
#define MAPS(lit, g) maps_parse((lit), sizeof(lit) - 1, (g))

static void test_maps_literal(void)
{
	struct maps_got g;

	CHECK_INT(MAPS("55d0c0a00000-55d0c0a02000 r--p 00000000 fd:01 1234567                    "
		       "/usr/bin/cat\n"
		       "7f3a1c000000-7f3a1c021000 rw-p 00000000 00:00 0 \n"
		       "7f3a1c400000-7f3a1c428000 r-xp 00028000 08:11 42    /opt/my app/lib x.so\n"
		       "7ffd5e3f0000-7ffd5e3f2000 r-xp 00000000 00:00 0                  [vdso]\n"
		       "7f0000000000-7f0000001000 r-xp 00001000 103:02 9 /tmp/gone (deleted)\n"
		       "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]\n",
		       &g),
		  6);
	CHECK_INT(g.e[0].start, 0x55d0c0a00000ULL);
	CHECK_INT(g.e[0].end, 0x55d0c0a02000ULL);
	CHECK_STR(g.e[0].perms, "r--p");
	CHECK_INT(g.e[0].dev_major, 0xfd);
	CHECK_INT(g.e[0].dev_minor, 1);
	CHECK_INT(g.e[0].inode, 1234567);
	CHECK_STR(g.path[0], "/usr/bin/cat");
	CHECK(!g.e[0].deleted);
	/* anonymous: no path, even with the trailing space older kernels write */
	CHECK(g.e[1].path == NULL);
	CHECK_INT(g.e[1].pathlen, 0);
	CHECK_INT(g.e[1].inode, 0);
	/* spaces inside the path are the path's */
	CHECK_STR(g.path[2], "/opt/my app/lib x.so");
	CHECK_INT(g.e[2].pgoff, 0x28000);
	CHECK_STR(g.e[2].perms, "r-xp");
	CHECK_STR(g.path[3], "[vdso]");
	CHECK_STR(g.path[4], "/tmp/gone (deleted)");
	CHECK(g.e[4].deleted);
	CHECK_INT(g.e[4].dev_major, 0x103);
	CHECK_INT(g.e[5].start, 0xffffffffff600000ULL);
	CHECK_STR(g.path[5], "[vsyscall]");
}

static void test_maps_hostile(void)
{
	struct maps_got g;
	size_t n;
	char *b;

	/* no trailing newline: the last line still counts */
	CHECK_INT(MAPS("1000-2000 r-xp 00000000 08:01 5 /bin/a", &g), 1);
	CHECK_STR(g.path[0], "/bin/a");
	/* a file named " (deleted)" alone is not a deleted file */
	CHECK_INT(MAPS("1000-2000 r-xp 00000000 08:01 5  (deleted)\n", &g), 1);
	CHECK(!g.e[0].deleted);
	/* a read cut mid-line: the cut line is skipped, the ones before stay */
	CHECK_INT(MAPS("1000-2000 r-xp 00000000 08:01 5 /bin/a\n3000-4000 r-", &g), 1);
	CHECK_INT(MAPS("1000-2000 r-xp 00000000 08:01 5 /bin/a\n3000-", &g), 1);
	CHECK_INT(MAPS("1000-2000 r-xp 00000000 08:0", &g), 0);
	/* garbage, empty lines, a bad line between good ones */
	CHECK_INT(MAPS("\n\nhello world\n1000-2000 r-xp 0 1:2 3 /x\n\n", &g), 1);
	CHECK_STR(g.path[0], "/x");
	CHECK_INT(MAPS("", &g), 0);
	/* end not above start; a 17-digit address; bad perms; inode not decimal;
	   a field missing; overflowed device numbers */
	CHECK_INT(MAPS("2000-1000 r-xp 00000000 08:01 5 /a\n", &g), 0);
	CHECK_INT(MAPS("2000-2000 r-xp 00000000 08:01 5 /a\n", &g), 0);
	CHECK_INT(MAPS("10000000000000000-10000000000000001 r-xp 0 08:01 5 /a\n", &g), 0);
	CHECK_INT(MAPS("1000-2000 r-x 00000000 08:01 5 /a\n", &g), 0);
	CHECK_INT(MAPS("1000-2000 r-xpp 00000000 08:01 5 /a\n", &g), 0);
	CHECK_INT(MAPS("1000-2000 r-xp 00000000 08:01 5x /a\n", &g), 0);
	CHECK_INT(MAPS("1000-2000 r-xp 00000000 08:01 99999999999999999999 /a\n", &g), 0);
	CHECK_INT(MAPS("1000-2000 r-xp 08:01 5 /a\n", &g), 0);
	CHECK_INT(MAPS("1000-2000 r-xp 0 123456789:1 5 /a\n", &g), 0);
	CHECK_INT(MAPS("1000-2000 r-xp 0 1:2 3 /a\n", &g), 1);
	CHECK_INT(MAPS("ffffffffffffffff-ffffffffffffffff r-xp 0 1:2 3\n", &g), 0);
	/* a NUL inside the path is the path's (the length says where it ends) */
	CHECK_INT(MAPS("1000-2000 r-xp 0 1:2 3 /a\0b\n", &g), 1);
	CHECK_INT(g.e[0].pathlen, 4);
	/* the callback stops the walk and its value is returned */
	b = DUP("1000-2000 r-xp 0 1:2 3 /a\n3000-4000 r-xp 0 1:2 3 /b\n5000-6000 ---p 0 0:0 0\n");
	memset(&g, 0, sizeof g);
	g.stop_at = 2;
	CHECK_INT(dn_proc_parse_maps(b, n, maps_collect, &g), 7);
	CHECK_INT(g.n, 2);
	free(b);
	/* a huge line: a 1 MiB path, then a normal line */
	{
		const char head[] = "1000-2000 r-xp 00000000 08:01 5 /";
		const char tail[] = "\n3000-4000 r-xp 0 1:2 3 /b";
		size_t plen = 1 << 20, len = sizeof head - 1 + plen + sizeof tail - 1;
		char *h = malloc(len);

		CHECK(h != NULL);
		if (h) {
			memcpy(h, head, sizeof head - 1);
			memset(h + sizeof head - 1, 'p', plen);
			memcpy(h + sizeof head - 1 + plen, tail, sizeof tail - 1);
			memset(&g, 0, sizeof g);
			CHECK_INT(dn_proc_parse_maps(h, len, maps_collect, &g), 2);
			CHECK_INT(g.e[0].pathlen, plen + 1);
			CHECK_STR(g.path[1], "/b");
			free(h);
		}
	}
}

/* Every prefix of a valid text parses without reading past its end (the
 * buffers are exact-size, for ASan), and never yields more lines than the
 * whole text. */
static void test_maps_every_prefix(void)
{
	static const char text[] = "1000-2000 r-xp 00001000 08:01 5 /bin/a b\n"
				   "3000-4000 rw-p 00000000 00:00 0 \n"
				   "5000-6000 r-xp 00000000 00:00 0 [vdso]\n";
	struct maps_got g;

	for (size_t k = 0; k <= sizeof text - 1; k++) {
		int r = maps_parse(text, k, &g);

		CHECK(r >= 0 && r <= 3);
	}
}

static void test_maps_live_self(void)
{
	struct maps_hit h = {(uintptr_t)&test_maps_live_self, 0};
	size_t n;
	char *b = read_path("/proc/self/maps", &n);

	if (!b)
		UNIT_SKIP("/proc/self/maps unreadable: %s", strerror(errno));
	/* this function lies in one executable file mapping of ours */
	CHECK(dn_proc_parse_maps(b, n, maps_find_cb, &h) > 3);
	CHECK_INT(h.found, 1);
	free(b);
}

int main(int argc, char **argv)
{
	(void)argc;
	self_argv0 = argv[0];
	RUN(test_stat_self_fixture);
	RUN(test_stat_kthread_fixture);
	RUN(test_stat_kthread_long_name);
	RUN(test_stat_threads_fixture);
	RUN(test_stat_zombie_fixture);
	RUN(test_hostile_paren);
	RUN(test_hostile_fields);
	RUN(test_hostile_closeparen);
	RUN(test_hostile_newline);
	RUN(test_hostile_quote);
	RUN(test_hostile_bytes);
	RUN(test_hostile_backslash);
	RUN(test_hostile_space);
	RUN(test_hostile_long);
	RUN(test_stat_literal_fields);
	RUN(test_stat_literal_edges);
	RUN(test_stat_comm_truncated);
	RUN(test_stat_every_prefix);
	RUN(test_status_literal);
	RUN(test_status_escapes_and_edges);
	RUN(test_status_every_prefix);
	RUN(test_io);
	RUN(test_statm);
	RUN(test_schedstat);
	RUN(test_children);
	RUN(test_net_dev_fixture);
	RUN(test_net_dev_literal);
	RUN(test_cmdline);
	RUN(test_live_self);
	RUN(test_maps_literal);
	RUN(test_maps_hostile);
	RUN(test_maps_every_prefix);
	RUN(test_maps_live_self);
	return unit_done();
}
