/*
 * test_record_text.c — the text of a record written without printf and
 * from caches (issue 14): it must be byte for byte what it was before.
 *
 *   - dn_json_fixed against snprintf("%.*f") — the format the records used
 *     — over every magnitude, the values next to a rounding boundary,
 *     ties, signed zeros, huge and tiny values; NaN and infinities stay null;
 *   - dn_json_uint / dn_json_int against printf up to UINT64_MAX;
 *   - dn_json_key_quoted against dn_json_key;
 *   - the escaped command cached per process: hostile bytes escaped as
 *     dn_json_escape does, and a new text after an exec (seen by the scan,
 *     by an exec event, by a reread).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "json.h"
#include "proctree.h"
#include "records.h"
#include "unit.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* dn_json_fixed of v as its own top-level value. */
static const char *fixed(struct dn_buf *b, double v, int decimals)
{
	struct dn_json j;
	dn_buf_reset(b);
	dn_json_init(&j, b);
	dn_json_fixed(&j, v, decimals);
	return b->data;
}

/* 1 when dn_json_fixed differs from what the old writer printed. */
static int fixed_differs(struct dn_buf *b, double v, int decimals)
{
	char want[512];
	if (!isfinite(v))
		snprintf(want, sizeof want, "null");
	else
		snprintf(want, sizeof want, "%.*f", decimals, v);
	const char *got = fixed(b, v, decimals);
	if (strcmp(got, want) == 0)
		return 0;
	printf("#   %.17g with %d decimals: \"%s\", printf \"%s\"\n", v, decimals, got, want);
	return 1;
}

static void test_fixed_matches_printf(void)
{
	struct dn_buf b = {0};
	int bad = 0;
	static const double fixed_values[] = {
		0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 0.005, 0.015, 0.125, 0.375, 2.675, 1.005,
		99.995, 99.999, 100.0, 1e-300, -1e-300, 5e-324, 1e300, -1e300,
		1.7976931348623157e308, 0x1p50, 0x1p50 - 1, 0x1p53, 0x1p64, 1e15, 1e16,
		1125899906842.62, 11258999068426.2, 4503599627370495.5, 0.0049999999999999,
		0.00499999999999999999, 123456.789, -0.001, -0.004999, 150.456, 1.2345675,
	};
	for (size_t i = 0; i < sizeof fixed_values / sizeof fixed_values[0]; i++)
		for (int d = 0; d <= 12; d++)
			bad += fixed_differs(&b, fixed_values[i], d);
	/* Random finite bit patterns: every exponent, both signs. */
	for (int t = 0; t < 200000; t++) {
		uint64_t bits = rng();
		double v;
		memcpy(&v, &bits, sizeof v);
		if (!isfinite(v))
			continue;
		bad += fixed_differs(&b, v, (int)(rng() % 10));
	}
	/* Values people see: percentages and seconds of every size. */
	for (int t = 0; t < 300000; t++) {
		double mag = pow(10.0, (double)(rng() % 26) - 8.0);
		double v = (double)(rng() >> 11) / 0x1p53 * mag;
		if (rng() & 1)
			v = -v;
		bad += fixed_differs(&b, v, (int)(rng() % 10));
	}
	/* Next to every rounding boundary: k/10^d + half a unit, a few ulps
	 * either way (ties that printf breaks to even among them). */
	for (int t = 0; t < 100000; t++) {
		int d = (int)(rng() % 7);
		double k = (double)(rng() % 2000000);
		double v = (k + 0.5) / pow(10.0, d);
		int steps = (int)(rng() % 9) - 4;
		for (int s = 0; s < abs(steps); s++)
			v = nextafter(v, steps < 0 ? 0.0 : INFINITY);
		bad += fixed_differs(&b, v, d);
		bad += fixed_differs(&b, -v, d);
	}
	/* Every value with few bits, where exact ties live. */
	for (int k = 0; k < 4096; k++)
		for (int d = 0; d <= 6; d++)
			bad += fixed_differs(&b, k / 1024.0, d);
	CHECK_INT(bad, 0);
	/* NaN and infinities stay null; a nonsense precision is 0 decimals. */
	CHECK_STR(fixed(&b, NAN, 2), "null");
	CHECK_STR(fixed(&b, -NAN, 6), "null");
	CHECK_STR(fixed(&b, INFINITY, 2), "null");
	CHECK_STR(fixed(&b, -INFINITY, 0), "null");
	CHECK_STR(fixed(&b, 2.5, -1), "2");
	CHECK_STR(fixed(&b, -0.0, 2), "-0.00");
	CHECK_STR(fixed(&b, -0.001, 2), "-0.00");
	dn_buf_free(&b);
}

static const char *uint_text(struct dn_buf *b, uint64_t v)
{
	struct dn_json j;
	dn_buf_reset(b);
	dn_json_init(&j, b);
	dn_json_uint(&j, v);
	return b->data;
}

static const char *int_text(struct dn_buf *b, int64_t v)
{
	struct dn_json j;
	dn_buf_reset(b);
	dn_json_init(&j, b);
	dn_json_int(&j, v);
	return b->data;
}

static void test_integers_match_printf(void)
{
	struct dn_buf b = {0};
	char want[32];
	int bad = 0;
	/* Every digit count and its boundaries: 10^k - 1, 10^k, 10^k + 1,
	 * 2^k - 1, 2^k, and both ends of both types. */
	uint64_t p10 = 1;
	for (int k = 0; k < 20; k++, p10 *= 10) {
		uint64_t vals[] = {p10 - 1, p10, p10 + 1, p10 * 5 - 1};
		for (size_t i = 0; i < 4; i++) {
			snprintf(want, sizeof want, "%" PRIu64, vals[i]);
			bad += strcmp(uint_text(&b, vals[i]), want) != 0;
		}
	}
	for (int k = 0; k < 64; k++) {
		uint64_t vals[] = {(1ull << k) - 1, 1ull << k};
		for (size_t i = 0; i < 2; i++) {
			snprintf(want, sizeof want, "%" PRIu64, vals[i]);
			bad += strcmp(uint_text(&b, vals[i]), want) != 0;
			snprintf(want, sizeof want, "%" PRId64, -(int64_t)(vals[i] >> 1));
			bad += strcmp(int_text(&b, -(int64_t)(vals[i] >> 1)), want) != 0;
		}
	}
	for (int t = 0; t < 200000; t++) {
		uint64_t u = rng() >> (rng() % 64);
		snprintf(want, sizeof want, "%" PRIu64, u);
		bad += strcmp(uint_text(&b, u), want) != 0;
		snprintf(want, sizeof want, "%" PRId64, (int64_t)u);
		bad += strcmp(int_text(&b, (int64_t)u), want) != 0;
	}
	CHECK_INT(bad, 0);
	CHECK_STR(uint_text(&b, UINT64_MAX), "18446744073709551615");
	CHECK_STR(int_text(&b, INT64_MIN), "-9223372036854775808");
	CHECK_STR(int_text(&b, INT64_MAX), "9223372036854775807");
	CHECK_STR(uint_text(&b, 0), "0");
	dn_buf_free(&b);
}

static void test_key_quoted(void)
{
	struct dn_buf a = {0}, b = {0};
	struct dn_json ja, jb;
	dn_json_init(&ja, &a);
	dn_json_init(&jb, &b);
	dn_json_obj_begin(&ja);
	dn_json_obj_begin(&jb);
	dn_json_key(&ja, "ts_ms");
	dn_json_key_quoted(&jb, "\"ts_ms\":", 8);
	dn_json_uint(&ja, 1);
	dn_json_uint(&jb, 1);
	dn_json_key(&ja, "x");
	dn_json_key_quoted(&jb, "\"x\":", 4);
	dn_json_null(&ja);
	dn_json_null(&jb);
	/* a key that needs escaping still goes through the escaper */
	dn_json_key(&ja, "a\"b\n\xff");
	dn_json_key_quoted(&jb, "\"a\\\"b\\n\xEF\xBF\xBD\":", 12);
	dn_json_bool(&ja, true);
	dn_json_bool(&jb, true);
	dn_json_obj_end(&ja);
	dn_json_obj_end(&jb);
	CHECK_STR(a.data, "{\"ts_ms\":1,\"x\":null,\"a\\\"b\\n\xEF\xBF\xBD\":true}");
	CHECK_STR(b.data, a.data);
	dn_buf_free(&a);
	dn_buf_free(&b);
}

/* ---- the command cache ---- */

/* The text of one record of t. */
static const char *tree_record(struct dn_buf *b, struct dn_tree *t)
{
	dn_buf_reset(b);
	dn_record_tree(b, t, false, NULL, NULL);
	return b->data;
}

/* `"command":` and the escape of s, as dn_json_str writes it. */
static const char *command_field(struct dn_buf *b, const char *s)
{
	dn_buf_reset(b);
	dn_buf_puts(b, "\"command\":\"");
	dn_json_escape(b, s, strlen(s));
	dn_buf_putc(b, '"');
	return b->data;
}

/* No control character in a line but its final newline. */
static bool json_free_of_raw_bytes(const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i + 1 < n; i++)
		if ((unsigned char)s[i] < 0x20)
			return false;
	return n > 0 && s[n - 1] == '\n';
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Scans t until its record holds `field` (2 s at most). */
static bool scan_until(struct dn_tree *t, struct dn_buf *rec, const char *field)
{
	for (int i = 0; i < 200; i++) {
		dn_tree_scan(t, (uint64_t)i);
		if (strstr(tree_record(rec, t), field))
			return true;
		sleep_ms(10);
	}
	return false;
}

static void test_command_cache(void)
{
	/* The root (a child that waits) and its child: a shell with hostile
	 * arguments (a quote, a backslash, a newline, a control character,
	 * invalid UTF-8, a valid multibyte character), which execs sleep
	 * once a line arrives on its stdin. */
	static const char hostile[] = "na\"me\\ \n\t\x01\x7f \xff\xc3\x28 \xc3\xa9 \xed\xa0\x80";
	int go[2];
	if (pipe(go) < 0)
		UNIT_SKIP("pipe: %s", strerror(errno));
	pid_t root = fork();
	if (root < 0)
		UNIT_SKIP("fork: %s", strerror(errno));
	if (root == 0) {
		pid_t c = fork();
		if (c == 0) {
			dup2(go[0], 0);
			close(go[0]);
			close(go[1]);
			execl("/bin/sh", "sh", "-c", "read x; exec sleep 30", hostile, "tail",
			      (char *)NULL);
			_exit(127);
		}
		close(go[0]);
		close(go[1]);
		waitpid(c, NULL, 0);
		_exit(0);
	}
	close(go[0]);

	struct dn_tree t;
	struct dn_tree_opts o = {.root = root, .children = true};
	struct dn_buf rec = {0}, want = {0};
	CHECK_INT(dn_tree_init(&t, &o), 0);

	/* sh runs with its hostile command line ($0 is the hostile one) */
	char line[256];
	snprintf(line, sizeof line, "sh -c read x; exec sleep 30 %s tail", hostile);
	bool seen = scan_until(&t, &rec, command_field(&want, line));
	CHECK(seen);
	struct dn_proc *sh = NULL;
	for (size_t i = 0; i < t.nprocs; i++)
		if (t.procs[i]->pid != root)
			sh = t.procs[i];
	CHECK(sh != NULL);
	if (sh) {
		/* cached: the escape of the command, quoted */
		CHECK(sh->command_json != NULL);
		command_field(&want, sh->command);
		CHECK(sh->command_json && strlen(sh->command_json) == sh->command_json_len);
		CHECK_STR(sh->command_json, want.data + strlen("\"command\":"));
		/* the next record, from the cache, is the same text */
		CHECK(strstr(tree_record(&rec, &t), want.data) != NULL);
		CHECK(json_free_of_raw_bytes(rec.data));
	}

	/* The shell execs sleep: the scan sees the new comm, reads the new
	 * command line, and the record says it. */
	CHECK(write(go[1], "\n", 1) == 1);
	CHECK(scan_until(&t, &rec, "\"command\":\"sleep 30\""));
	CHECK(strstr(rec.data, "na\\\"me") == NULL);

	/* An exec event and a reread drop the cache as well. */
	if (sh && dn_tree_find(&t, sh->pid) == sh) {
		tree_record(&rec, &t);
		CHECK(sh->command_json != NULL);
		dn_tree_exec_seen(&t, sh->pid);
		CHECK(sh->command_json == NULL);
		CHECK(strstr(tree_record(&rec, &t), "\"command\":\"sleep 30\"") != NULL);
		CHECK(sh->command_json != NULL);
		dn_tree_reread_command(&t, sh->pid);
		CHECK(sh->command_json == NULL);
		CHECK(strstr(tree_record(&rec, &t), "\"command\":\"sleep 30\"") != NULL);
	}

	close(go[1]);
	if (sh)
		kill(sh->pid, SIGKILL);
	waitpid(root, NULL, 0);
	dn_tree_free(&t);
	dn_buf_free(&rec);
	dn_buf_free(&want);
}

int main(void)
{
	RUN(test_fixed_matches_printf);
	RUN(test_integers_match_printf);
	RUN(test_key_quoted);
	RUN(test_command_cache);
	return unit_done();
}
