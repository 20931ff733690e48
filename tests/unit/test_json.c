/*
 * test_json.c — unit tests of the byte buffer (buf.c), the JSON writer and
 * its escaping rules (json.c) and the metrics record (metrics.c).
 *
 * The escaping promise is "every line is valid JSON whatever bytes the input
 * held"; besides exact expected bytes for each rule, it is checked on random
 * bytes with a strict UTF-8 validator here and, when python3 is installed,
 * against Python's own JSON parser and UTF-8 decoder as an outside oracle.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "json.h"
#include "metrics.h"
#include "unit.h"

#define FFFD "\xEF\xBF\xBD"

static struct dn_buf g_buf;

/* The escaped form of s[0..n), valid until the next call. */
static const char *esc(const char *s, size_t n)
{
	dn_buf_reset(&g_buf);
	dn_json_escape(&g_buf, s, n);
	return g_buf.data ? g_buf.data : "";
}

#define ESC(lit) esc((lit), sizeof(lit) - 1)

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

/* Strict UTF-8 (RFC 3629): no overlongs, surrogates or > U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		size_t len;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			len = 2;
			cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			len = 3;
			cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			len = 4;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (i + len > n)
			return 0;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += len;
	}
	return 1;
}

/* Is s a well-formed JSON string body: no raw controls or quotes, and only
 * the escapes JSON defines? */
static int json_body_ok(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] == '"')
			return 0;
		if (s[i] != '\\')
			continue;
		if (++i >= n)
			return 0;
		if (memchr("\"\\/bfnrt", s[i], 8))
			continue;
		if (s[i] != 'u' || i + 4 >= n)
			return 0;
		for (int k = 1; k <= 4; k++)
			if (!s[i + k] || !strchr("0123456789abcdefABCDEF", s[i + k]))
				return 0;
		i += 4;
	}
	return 1;
}

/* JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int json_number_ok(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return 0;
	if (*s == '.') {
		s++;
		if (!(*s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

/* ---- buf ---- */

static void test_buf_basics(void)
{
	struct dn_buf b = {0};
	dn_buf_append(&b, "", 0);
	CHECK(b.data != NULL);
	CHECK_STR(b.data, "");
	dn_buf_puts(&b, "abc");
	dn_buf_putc(&b, 'd');
	dn_buf_printf(&b, "-%d-%s", 42, "x");
	CHECK_STR(b.data, "abcd-42-x");
	CHECK_INT(b.len, 9);

	/* A printf longer than the spare room takes the second pass. */
	char big[3000];
	memset(big, 'q', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	dn_buf_printf(&b, "<%s>", big);
	CHECK_INT(b.len, 9 + 2 + 2999);
	CHECK(b.data[9] == '<' && b.data[b.len - 1] == '>');
	CHECK(b.data[b.len] == '\0');
	CHECK(!b.oom);

	size_t cap = b.cap;
	char *mem = b.data;
	dn_buf_reset(&b);
	CHECK_INT(b.len, 0);
	CHECK_STR(b.data, "");
	CHECK(b.cap == cap && b.data == mem);

	/* Many small appends grow correctly. */
	for (int i = 0; i < 10000; i++)
		dn_buf_putc(&b, (char)('a' + i % 26));
	CHECK_INT(b.len, 10000);
	CHECK(b.data[9999] == 'a' + 9999 % 26 && b.data[10000] == '\0');
	dn_buf_free(&b);
	CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
}

static void test_buf_oom_sticky(void)
{
	struct dn_buf b = {0};
	dn_buf_puts(&b, "keep");
	b.oom = true; /* as after a failed grow */
	dn_buf_puts(&b, "lost");
	dn_buf_putc(&b, '!');
	dn_buf_printf(&b, "%d", 7);
	CHECK_INT(dn_buf_reserve(&b, 1), -ENOMEM);
	CHECK_STR(b.data, "keep");
	/* A reservation that cannot be met sets oom. */
	dn_buf_reset(&b);
	CHECK(!b.oom);
	CHECK_INT(dn_buf_reserve(&b, SIZE_MAX), -ENOMEM);
	CHECK(b.oom);
	CHECK_STR(b.data, "");
	dn_buf_reset(&b);
	dn_buf_puts(&b, "again");
	CHECK_STR(b.data, "again");
	dn_buf_free(&b);
}

/* ---- writer structure ---- */

static void test_nesting_and_commas(void)
{
	struct dn_buf b = {0};
	struct dn_json j;
	dn_json_init(&j, &b);
	dn_json_obj_begin(&j);
	dn_json_key(&j, "a");
	dn_json_arr_begin(&j);
	dn_json_int(&j, 1);
	dn_json_uint(&j, 2);
	dn_json_obj_begin(&j);
	dn_json_key(&j, "b");
	dn_json_arr_begin(&j);
	dn_json_arr_end(&j);
	dn_json_obj_end(&j);
	dn_json_arr_begin(&j);
	dn_json_arr_end(&j);
	dn_json_str(&j, "s");
	dn_json_arr_end(&j);
	dn_json_key(&j, "c");
	dn_json_obj_begin(&j);
	dn_json_obj_end(&j);
	dn_json_key(&j, "d");
	dn_json_null(&j);
	dn_json_key(&j, "e");
	dn_json_bool(&j, true);
	dn_json_key(&j, "f");
	dn_json_bool(&j, false);
	dn_json_key(&j, "g");
	dn_json_str(&j, NULL);
	dn_json_key(&j, "h");
	dn_json_raw(&j, "{\"x\":[1]}", 9);
	dn_json_key(&j, "k\"ey\n");
	dn_json_int(&j, 0);
	dn_json_obj_end(&j);
	CHECK_STR(b.data, "{\"a\":[1,2,{\"b\":[]},[],\"s\"],\"c\":{},\"d\":null,"
			  "\"e\":true,\"f\":false,\"g\":null,\"h\":{\"x\":[1]},"
			  "\"k\\\"ey\\n\":0}");
	CHECK_INT(j.depth, 0);

	/* Two top-level records through one writer: no comma between them. */
	dn_buf_reset(&b);
	dn_json_init(&j, &b);
	dn_json_obj_begin(&j);
	dn_json_obj_end(&j);
	dn_json_arr_begin(&j);
	dn_json_int(&j, 1);
	dn_json_arr_end(&j);
	CHECK_STR(b.data, "{}[1]");
	dn_buf_free(&b);
}

static void test_deep_nesting(void)
{
	/* Deeper than DN_JSON_MAX_DEPTH: commas must still be right. */
	enum { D = DN_JSON_MAX_DEPTH * 3 };
	struct dn_buf b = {0}, want = {0};
	struct dn_json j;
	dn_json_init(&j, &b);
	for (int i = 0; i < D; i++) {
		dn_json_arr_begin(&j);
		dn_json_int(&j, i);
		dn_buf_printf(&want, "[%d,", i);
	}
	dn_json_arr_begin(&j);
	dn_json_arr_end(&j);
	dn_buf_puts(&want, "[]");
	for (int i = D - 1; i >= 0; i--) {
		dn_json_int(&j, -i);
		dn_json_obj_begin(&j);
		dn_json_key(&j, "k");
		dn_json_int(&j, i);
		dn_json_key(&j, "l");
		dn_json_int(&j, i);
		dn_json_obj_end(&j);
		dn_json_arr_end(&j);
		dn_buf_printf(&want, ",%d,{\"k\":%d,\"l\":%d}]", -i, i, i);
	}
	CHECK_STR(b.data, want.data);
	CHECK_INT(j.depth, 0);
	dn_buf_free(&b);
	dn_buf_free(&want);
}

/* ---- escaping ---- */

static void test_escapes(void)
{
	CHECK_STR(ESC(""), "");
	CHECK_STR(ESC("plain ascii ~"), "plain ascii ~");
	CHECK_STR(ESC("\""), "\\\"");
	CHECK_STR(ESC("\\"), "\\\\");
	CHECK_STR(ESC("/"), "/");
	CHECK_STR(ESC("\b\f\n\r\t"), "\\b\\f\\n\\r\\t");
	CHECK_STR(ESC("\x7f"), "\x7f"); /* DEL is legal in JSON strings */
	CHECK_STR(ESC("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");

	/* Every other control byte takes the \u00XX form. */
	for (int c = 0; c < 0x20; c++) {
		char in = (char)c, want[8];
		switch (c) {
		case '\b': strcpy(want, "\\b"); break;
		case '\f': strcpy(want, "\\f"); break;
		case '\n': strcpy(want, "\\n"); break;
		case '\r': strcpy(want, "\\r"); break;
		case '\t': strcpy(want, "\\t"); break;
		default: snprintf(want, sizeof want, "\\u%04x", c); break;
		}
		CHECK_STR(esc(&in, 1), want);
	}
	CHECK_STR(ESC("\x1b[31m"), "\\u001b[31m");

	/* Escaping appends: it does not reset what is already there. */
	struct dn_buf b = {0};
	dn_buf_puts(&b, "x=");
	dn_json_escape(&b, "\n", 1);
	CHECK_STR(b.data, "x=\\n");
	dn_buf_free(&b);
}

static void test_nul_in_strn(void)
{
	struct dn_buf b = {0};
	struct dn_json j;
	dn_json_init(&j, &b);
	dn_json_strn(&j, "a\0b", 3);
	CHECK_STR(b.data, "\"a\\u0000b\"");
	dn_buf_reset(&b);
	dn_json_init(&j, &b);
	dn_json_strn(&j, "\0\0", 2);
	CHECK_STR(b.data, "\"\\u0000\\u0000\"");
	dn_buf_reset(&b);
	dn_json_init(&j, &b);
	dn_json_strn(&j, "", 0);
	CHECK_STR(b.data, "\"\"");
	/* strn stops at n even when the bytes go on. */
	dn_buf_reset(&b);
	dn_json_init(&j, &b);
	dn_json_strn(&j, "abcdef", 3);
	CHECK_STR(b.data, "\"abc\"");
	dn_buf_free(&b);
}

static void test_utf8_valid_passthrough(void)
{
	static const char *const ok[] = {
		"\xC3\xA9",                   /* U+00E9 é */
		"\xE2\x82\xAC",               /* U+20AC € */
		"\xF0\x9F\x98\x80",           /* U+1F600 */
		"\xC2\x80", "\xDF\xBF",       /* 2-byte bounds */
		"\xE0\xA0\x80", "\xEF\xBF\xBF", /* 3-byte bounds */
		"\xED\x9F\xBF", "\xEE\x80\x80", /* around the surrogates */
		"\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF", /* 4-byte bounds */
		FFFD,
		"na\xC3\xAFve caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9D\x84\x9E!",
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		CHECK_STR(esc(ok[i], strlen(ok[i])), ok[i]);
	CHECK_STR(ESC("\"\xC3\xA9\"\n"), "\\\"\xC3\xA9\\\"\\n");
}

static void test_utf8_invalid(void)
{
	/* Stray continuation bytes: one U+FFFD each. */
	CHECK_STR(ESC("\x80"), FFFD);
	CHECK_STR(ESC("a\x80z"), "a" FFFD "z");
	CHECK_STR(ESC("\xBF\x80"), FFFD FFFD);
	/* Overlongs: C0/C1 can never start a sequence; E0 80 and F0 80..8F
	 * break at the second byte, so each byte is its own subpart. */
	CHECK_STR(ESC("\xC0\x80"), FFFD FFFD);
	CHECK_STR(ESC("\xC1\xBF"), FFFD FFFD);
	CHECK_STR(ESC("\xE0\x80\x80"), FFFD FFFD FFFD);
	CHECK_STR(ESC("\xE0\x9F\xBF"), FFFD FFFD FFFD);
	CHECK_STR(ESC("\xF0\x80\x80\x80"), FFFD FFFD FFFD FFFD);
	CHECK_STR(ESC("\xF0\x8F\xBF\xBF"), FFFD FFFD FFFD FFFD);
	/* UTF-16 surrogates encoded in UTF-8 (CESU-8). */
	CHECK_STR(ESC("\xED\xA0\x80"), FFFD FFFD FFFD);
	CHECK_STR(ESC("\xED\xBF\xBF"), FFFD FFFD FFFD);
	CHECK_STR(ESC("\xED\xA0\xBD\xED\xB8\x80"),
		  FFFD FFFD FFFD FFFD FFFD FFFD);
	/* Above U+10FFFF, and bytes that never occur in UTF-8. */
	CHECK_STR(ESC("\xF4\x90\x80\x80"), FFFD FFFD FFFD FFFD);
	CHECK_STR(ESC("\xF5\x80\x80\x80"), FFFD FFFD FFFD FFFD);
	CHECK_STR(ESC("\xF8\x88\x80\x80\x80"), FFFD FFFD FFFD FFFD FFFD);
	CHECK_STR(ESC("\xFE\xFF"), FFFD FFFD);
	CHECK_STR(ESC("\xFF"), FFFD);
	/* Truncated at the end of input: the whole stub is one subpart. */
	CHECK_STR(ESC("\xC3"), FFFD);
	CHECK_STR(ESC("\xE2\x82"), FFFD);
	CHECK_STR(ESC("\xE2"), FFFD);
	CHECK_STR(ESC("\xF0\x9F\x98"), FFFD);
	CHECK_STR(ESC("ok\xF0\x9F"), "ok" FFFD);
	/* Truncated in the middle: the next character survives intact. */
	CHECK_STR(ESC("\xE2\x82" "A"), FFFD "A");
	CHECK_STR(ESC("\xF0\x9F\x98\xC3\xA9"), FFFD "\xC3\xA9");
	CHECK_STR(ESC("\xE2\x82\xE2\x82\xAC"), FFFD "\xE2\x82\xAC");
	CHECK_STR(ESC("\xC3\""), FFFD "\\\"");
	CHECK_STR(ESC("\xC3\\"), FFFD "\\\\");
	CHECK_STR(ESC("\xE2\x82\n"), FFFD "\\n");
	CHECK_STR(esc("\xC3\0", 2), FFFD "\\u0000");
	CHECK_STR(ESC("\xF4\x8F\xBF" "x"), FFFD "x");
	/* The example of Unicode §3.9 Table 3-8. */
	CHECK_STR(ESC("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
		  "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d");
}

static void test_random_bytes(void)
{
	/* Random strings, biased toward the bytes that matter for UTF-8. */
	static const unsigned char interesting[] = {
		0x00, 0x0a, 0x1f, '"',  '\\', 0x7f, 0x80, 0x8f, 0x90, 0x9f,
		0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0,
		0xf4, 0xf5, 0xff, 'a',
	};
	unsigned char in[96];
	int bad = 0;
	rng_state = 20240607;
	for (int t = 0; t < 20000; t++) {
		size_t n = (size_t)(rng() % sizeof in);
		for (size_t i = 0; i < n; i++) {
			uint64_t r = rng();
			in[i] = (r & 1) ? (unsigned char)(r >> 8)
					: interesting[(r >> 8) % sizeof interesting];
		}
		const char *out = esc((const char *)in, n);
		size_t olen = g_buf.len;
		int ok = utf8_valid((const unsigned char *)out, olen) &&
			 json_body_ok(out, olen) && strlen(out) == olen;
		/* Input that was already clean must come back unchanged. */
		int clean = utf8_valid(in, n);
		for (size_t i = 0; clean && i < n; i++)
			if (in[i] < 0x20 || in[i] == '"' || in[i] == '\\')
				clean = 0;
		if (clean && (olen != n || memcmp(out, in, n) != 0))
			ok = 0;
		if (!ok && bad++ < 5) {
			printf("#   bad escape of:");
			for (size_t i = 0; i < n; i++)
				printf(" %02x", in[i]);
			printf("\n");
		}
	}
	CHECK_INT(bad, 0);
}

/* ---- numbers ---- */

static const char *one_value(struct dn_buf *b, void (*put)(struct dn_json *, const void *),
			     const void *arg)
{
	struct dn_json j;
	dn_buf_reset(b);
	dn_json_init(&j, b);
	put(&j, arg);
	return b->data;
}

static void put_int(struct dn_json *j, const void *p)
{
	dn_json_int(j, *(const int64_t *)p);
}

static void put_uint(struct dn_json *j, const void *p)
{
	dn_json_uint(j, *(const uint64_t *)p);
}

static void put_double(struct dn_json *j, const void *p)
{
	dn_json_double(j, *(const double *)p);
}

static const char *I(struct dn_buf *b, int64_t v)
{
	return one_value(b, put_int, &v);
}

static const char *U(struct dn_buf *b, uint64_t v)
{
	return one_value(b, put_uint, &v);
}

static const char *D(struct dn_buf *b, double v)
{
	return one_value(b, put_double, &v);
}

static void test_integers(void)
{
	struct dn_buf b = {0};
	CHECK_STR(I(&b, 0), "0");
	CHECK_STR(I(&b, 7), "7");
	CHECK_STR(I(&b, -1), "-1");
	CHECK_STR(I(&b, 10), "10");
	CHECK_STR(I(&b, -1234567890), "-1234567890");
	CHECK_STR(I(&b, INT64_MAX), "9223372036854775807");
	CHECK_STR(I(&b, INT64_MIN), "-9223372036854775808");
	CHECK_STR(U(&b, 0), "0");
	CHECK_STR(U(&b, 1000000), "1000000");
	CHECK_STR(U(&b, UINT64_MAX), "18446744073709551615");
	/* Against printf on random values of every magnitude. */
	char want[32];
	int bad = 0;
	for (int t = 0; t < 5000; t++) {
		uint64_t u = rng() >> (rng() % 64);
		snprintf(want, sizeof want, "%llu", (unsigned long long)u);
		bad += strcmp(U(&b, u), want) != 0;
		int64_t s = (int64_t)u * ((t & 1) ? -1 : 1);
		snprintf(want, sizeof want, "%lld", (long long)s);
		bad += strcmp(I(&b, s), want) != 0;
	}
	CHECK_INT(bad, 0);
	dn_buf_free(&b);
}

static void test_doubles(void)
{
	struct dn_buf b = {0};
	CHECK_STR(D(&b, 0.0), "0");
	CHECK_STR(D(&b, 1.0), "1");
	CHECK_STR(D(&b, 0.1), "0.1"); /* the short form, not 0.10000000000000001 */
	CHECK_STR(D(&b, -2.5), "-2.5");
	CHECK_STR(D(&b, 123456.789), "123456.789");
	CHECK_STR(D(&b, 1e300), "1e+300");
	CHECK_STR(D(&b, 1.0 / 3.0), "0.33333333333333331");
	CHECK(json_number_ok(D(&b, -0.0)));
	CHECK_STR(D(&b, NAN), "null");
	CHECK_STR(D(&b, -NAN), "null");
	CHECK_STR(D(&b, INFINITY), "null");
	CHECK_STR(D(&b, -INFINITY), "null");
	CHECK(json_number_ok(D(&b, 5e-324)));
	CHECK(strtod(D(&b, 5e-324), NULL) == 5e-324);
	CHECK(strtod(D(&b, 1.7976931348623157e308), NULL) == 1.7976931348623157e308);

	/* Random bit patterns: finite ones round-trip exactly as valid JSON
	 * numbers, the rest are null. */
	int bad = 0;
	for (int t = 0; t < 20000; t++) {
		uint64_t bits = rng();
		double v;
		memcpy(&v, &bits, sizeof v);
		const char *s = D(&b, v);
		if (!isfinite(v))
			bad += strcmp(s, "null") != 0;
		else
			bad += !json_number_ok(s) || strtod(s, NULL) != v;
	}
	CHECK_INT(bad, 0);

	/* Inside containers they are values like any other. */
	struct dn_json j;
	dn_buf_reset(&b);
	dn_json_init(&j, &b);
	dn_json_arr_begin(&j);
	dn_json_double(&j, NAN);
	dn_json_double(&j, 0.5);
	dn_json_fixed(&j, INFINITY, 2);
	dn_json_arr_end(&j);
	CHECK_STR(b.data, "[null,0.5,null]");
	dn_buf_free(&b);
}

static void test_fixed(void)
{
	struct dn_buf b = {0};
	struct dn_json j;
	dn_json_init(&j, &b);
	dn_json_arr_begin(&j);
	dn_json_fixed(&j, 0.0, 2);
	dn_json_fixed(&j, 12.5, 2);
	dn_json_fixed(&j, 99.999, 2);
	dn_json_fixed(&j, 12.7, 0);
	dn_json_fixed(&j, 3.14159, 3);
	dn_json_fixed(&j, -1.25, 1);
	dn_json_fixed(&j, NAN, 2);
	dn_json_fixed(&j, -INFINITY, 2);
	dn_json_fixed(&j, 2.0, -3); /* nonsense precision: treated as 0 */
	dn_json_arr_end(&j);
	CHECK_STR(b.data, "[0.00,12.50,100.00,13,3.142,-1.2,null,null,2]");
	/* A huge value is long but still a JSON number. */
	dn_buf_reset(&b);
	dn_json_init(&j, &b);
	dn_json_fixed(&j, 1e300, 2);
	CHECK(b.len > 300 && json_number_ok(b.data));
	dn_buf_free(&b);
}

static void test_numbers_ignore_locale(void)
{
	static const char *const locales[] = {"de_DE.UTF-8", "fr_FR.UTF-8",
					      "de_DE", "C.UTF-8@comma"};
	const char *got = NULL;
	for (size_t i = 0; i < sizeof locales / sizeof locales[0] && !got; i++)
		got = setlocale(LC_NUMERIC, locales[i]);
	if (!got || localeconv()->decimal_point[0] != ',') {
		setlocale(LC_NUMERIC, "C");
		UNIT_SKIP("no locale with a decimal comma is installed");
	}
	struct dn_buf b = {0};
	struct dn_json j;
	dn_json_init(&j, &b);
	dn_json_arr_begin(&j);
	dn_json_double(&j, 0.25);
	dn_json_fixed(&j, 1.5, 2);
	dn_json_arr_end(&j);
	setlocale(LC_NUMERIC, "C");
	CHECK_STR(b.data, "[0.25,1.50]");
	dn_buf_free(&b);
}

/* ---- metrics ---- */

static struct dn_metrics sample_metrics(void)
{
	struct dn_metrics m = {
		.ts_ms = 1700000000123ull,
		.cpu_usage = 150.456,
		.mem_rss_kb = 2,
		.mem_vms_kb = 3,
		.disk_read_bytes = 4,
		.disk_write_bytes = 5,
		.syscall_read_bytes = 6,
		.syscall_write_bytes = 7,
		.page_faults_cached = 8,
		.page_faults_disk = 9,
		.sys_net_rx_bytes = 10,
		.sys_net_tx_bytes = 11,
		.thread_count = 12,
		.uptime_secs = 13,
		.cpu_core = 3,
		.process_count = 14,
		.processes_started = 16,
		.mem_peak_kb = 15,
		.cpu_secs = 1.2345675,
	};
	return m;
}

#define COMMON_FIELDS                                                          \
	"{\"ts_ms\":1700000000123,\"cpu_usage\":150.46,\"mem_rss_kb\":2,"     \
	"\"mem_vms_kb\":3,\"disk_read_bytes\":4,\"disk_write_bytes\":5,"      \
	"\"syscall_read_bytes\":6,\"syscall_write_bytes\":7,"                 \
	"\"page_faults_cached\":8,\"page_faults_disk\":9,"                    \
	"\"sys_net_rx_bytes\":10,\"sys_net_tx_bytes\":11,\"thread_count\":12,"

static void test_metrics_json(void)
{
	struct dn_buf b = {0};
	struct dn_json j;
	struct dn_metrics m = sample_metrics();

	dn_json_init(&j, &b);
	dn_metrics_write_json(&j, &m, false);
	CHECK_STR(b.data, COMMON_FIELDS "\"uptime_secs\":13,\"cpu_core\":3,\"cpu_secs\":1.234568}");

	m.cpu_core = -1;
	dn_buf_reset(&b);
	dn_json_init(&j, &b);
	dn_metrics_write_json(&j, &m, false);
	CHECK_STR(b.data, COMMON_FIELDS "\"uptime_secs\":13,\"cpu_core\":null,\"cpu_secs\":1.234568}");

	dn_buf_reset(&b);
	dn_json_init(&j, &b);
	dn_metrics_write_json(&j, &m, true);
	CHECK_STR(b.data, COMMON_FIELDS "\"process_count\":14,\"processes_started\":16,\"uptime_secs\":13,"
					"\"mem_peak_kb\":15,\"cpu_usage_exited\":0.00,"
					"\"cpu_source\":\"proc\",\"cpu_secs\":1.234568}");

	m.cpu_usage_exited = 12.345;
	m.cpu_source = "cgroup";
	dn_buf_reset(&b);
	dn_json_init(&j, &b);
	dn_metrics_write_json(&j, &m, true);
	CHECK_STR(b.data, COMMON_FIELDS "\"process_count\":14,\"processes_started\":16,\"uptime_secs\":13,"
					"\"mem_peak_kb\":15,\"cpu_usage_exited\":12.35,"
					"\"cpu_source\":\"cgroup\",\"cpu_secs\":1.234568}");

	/* As a value inside a record, after other fields. */
	dn_buf_reset(&b);
	dn_json_init(&j, &b);
	dn_json_obj_begin(&j);
	dn_json_key(&j, "pid");
	dn_json_int(&j, 1);
	dn_json_key(&j, "metrics");
	dn_metrics_write_json(&j, &m, false);
	dn_json_key(&j, "z");
	dn_json_int(&j, 2);
	dn_json_obj_end(&j);
	static const char head[] = "{\"pid\":1,\"metrics\":{\"ts_ms\":";
	CHECK(strncmp(b.data, head, sizeof head - 1) == 0);
	CHECK(strstr(b.data, "\"cpu_core\":null,\"cpu_secs\":1.234568},\"z\":2}") != NULL);
	dn_buf_free(&b);
}

/* Lua tables and rules see the file's figure: printf's rounding of the
 * exact binary value, where round(v * 1e6) / 1e6 rounds a near-half the
 * other way (0.0525355 is 0.052535499999... in binary). */
static void test_metrics_round_as_json(void)
{
	double v = 52535500 / 1e9;
	CHECK(dn_metrics_round(v, 6) == strtod("0.052535", NULL));
	char text[32];
	for (long k = 52530000; k < 52540000; k++) {
		double x = (double)k / 1e9;
		snprintf(text, sizeof text, "%.6f", x);
		if (dn_metrics_round(x, 6) != strtod(text, NULL)) {
			CHECK_STR("", text);
			break;
		}
	}
	CHECK(isnan(dn_metrics_round(NAN, 2)));
	CHECK(isinf(dn_metrics_round(INFINITY, 6)));
	/* the fast path and printf agree everywhere: random figures of every
	   size the records carry, both signs, exact ties (0.125, 2.5) */
	static const double ties[] = {0.125, 2.5, 0.005, 1.0005, 0.0000005, 1e15 + 0.5};
	for (size_t i = 0; i < sizeof ties / sizeof ties[0]; i++)
		for (int d = 0; d <= 6; d++) {
			snprintf(text, sizeof text, "%.*f", d, ties[i]);
			CHECK(dn_metrics_round(ties[i], d) == strtod(text, NULL));
		}
	uint64_t x = 88172645463325252ull; /* xorshift64 */
	int bad = 0;
	for (int i = 0; i < 200000 && !bad; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		double mag = ldexp((double)(x >> 11) / 0x1p53, (int)(x % 60) - 20);
		double y = (x & 1) ? -mag : mag;
		int d = (int)((x >> 8) % 7);
		char t[512];
		snprintf(t, sizeof t, "%.*f", d, y);
		if (dn_metrics_round(y, d) != strtod(t, NULL)) {
			CHECK_STR("", t);
			bad = 1;
		}
	}
}

static void test_metrics_accumulate(void)
{
	struct dn_metrics agg = {.cpu_core = -1, .mem_peak_kb = 77};
	struct dn_metrics a = sample_metrics(), c = sample_metrics();
	c.ts_ms = 1700000000999ull;
	c.cpu_usage = 49.5;
	c.mem_rss_kb = 100;
	c.sys_net_rx_bytes = 1000;
	c.sys_net_tx_bytes = 1; /* smaller than a's: max keeps a's */
	c.uptime_secs = 500;
	c.thread_count = 1;

	dn_metrics_accumulate(&agg, &a);
	dn_metrics_accumulate(&agg, &c);
	CHECK_INT(agg.ts_ms, 1700000000123ull); /* the first one's */
	CHECK(fabs(agg.cpu_usage - (150.456 + 49.5)) < 1e-9);
	CHECK_INT(agg.mem_rss_kb, 102);
	CHECK_INT(agg.mem_vms_kb, 6);
	CHECK_INT(agg.disk_read_bytes, 8);
	CHECK_INT(agg.disk_write_bytes, 10);
	CHECK_INT(agg.syscall_read_bytes, 12);
	CHECK_INT(agg.syscall_write_bytes, 14);
	CHECK_INT(agg.page_faults_cached, 16);
	CHECK_INT(agg.page_faults_disk, 18);
	CHECK_INT(agg.sys_net_rx_bytes, 1000);
	CHECK_INT(agg.sys_net_tx_bytes, 11);
	CHECK_INT(agg.thread_count, 13);
	CHECK_INT(agg.uptime_secs, 500);
	CHECK_INT(agg.process_count, 2);
	CHECK_INT(agg.mem_peak_kb, 77);
	CHECK_INT(agg.cpu_core, -1);
}

/* ---- against an outside parser ---- */

static int have_python3(void)
{
	return system("command -v python3 >/dev/null 2>&1") == 0;
}

/* Run python3 on `file` with `code` (which must use only double quotes);
 * 1 if it exited 0. */
static int python_ok(const char *code, const char *file)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "python3 -c '%s' '%s'", code, file);
	int st = system(cmd);
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int write_file(const char *path, const struct dn_buf *b)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	size_t w = fwrite(b->data, 1, b->len, f);
	return (fclose(f) == 0 && w == b->len) ? 0 : -1;
}

static void hostile_record(struct dn_json *j, const unsigned char *s, size_t n)
{
	dn_json_obj_begin(j);
	dn_json_key(j, "kind");
	dn_json_str(j, "tree");
	dn_json_key(j, "command");
	dn_json_strn(j, (const char *)s, n);
	dn_json_key(j, "cmd");
	dn_json_arr_begin(j);
	dn_json_strn(j, (const char *)s, n / 2);
	dn_json_strn(j, (const char *)s + n / 2, n - n / 2);
	dn_json_arr_end(j);
	dn_json_key(j, (const char *)"k\x01\xff\"\\");
	dn_json_double(j, NAN);
	dn_json_key(j, "big");
	dn_json_uint(j, UINT64_MAX);
	dn_json_key(j, "neg");
	dn_json_int(j, INT64_MIN);
	dn_json_key(j, "d");
	dn_json_double(j, 5e-324);
	dn_json_key(j, "inf");
	dn_json_fixed(j, INFINITY, 2);
	dn_json_obj_end(j);
}

static void test_python_parses_hostile_records(void)
{
	if (!have_python3())
		UNIT_SKIP("python3 is not installed");
	char path[] = "/tmp/denet-test-json-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	close(fd);

	struct dn_buf b = {0};
	struct dn_json j;
	unsigned char all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	dn_json_init(&j, &b);
	hostile_record(&j, all, sizeof all);
	dn_buf_putc(&b, '\n');
	unsigned char rnd[200];
	for (int t = 0; t < 50; t++) {
		for (size_t i = 0; i < sizeof rnd; i++)
			rnd[i] = (unsigned char)rng();
		dn_json_init(&j, &b);
		hostile_record(&j, rnd, sizeof rnd);
		dn_buf_putc(&b, '\n');
	}
	/* Every record is one line: no raw newline inside any of them. */
	size_t lines = 0;
	for (size_t i = 0; i < b.len; i++)
		lines += b.data[i] == '\n';
	CHECK_INT(lines, 51);
	CHECK(write_file(path, &b) == 0);
	CHECK(python_ok("import json,sys; [json.loads(l) for l in "
			"open(sys.argv[1], encoding=\"utf-8\", errors=\"strict\")]",
			path));
	unlink(path);
	dn_buf_free(&b);
}

static void test_python_agrees_on_replacement(void)
{
	if (!have_python3())
		UNIT_SKIP("python3 is not installed");
	char path[] = "/tmp/denet-test-json-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	close(fd);

	/* Python's decoder replaces maximal subparts too; our output must decode
	 * to exactly what it makes of the same bytes. */
	static const unsigned char pool[] = {0x41, 0x0a, 0x22, 0x5c, 0x00, 0x7f,
					     0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2,
					     0xdf, 0xe0, 0xe1, 0xed, 0xef, 0xf0,
					     0xf1, 0xf4, 0xf5, 0xff};
	struct dn_buf b = {0}, hex = {0};
	struct dn_json j;
	unsigned char s[24];
	for (int t = 0; t < 3000; t++) {
		size_t n = (size_t)(rng() % sizeof s);
		dn_buf_reset(&hex);
		for (size_t i = 0; i < n; i++) {
			s[i] = pool[rng() % sizeof pool];
			dn_buf_printf(&hex, "%02x", s[i]);
		}
		dn_json_init(&j, &b);
		dn_json_obj_begin(&j);
		dn_json_key(&j, "hex");
		dn_json_strn(&j, hex.data ? hex.data : "", hex.len);
		dn_json_key(&j, "s");
		dn_json_strn(&j, (const char *)s, n);
		dn_json_obj_end(&j);
		dn_buf_putc(&b, '\n');
	}
	CHECK(write_file(path, &b) == 0);
	CHECK(python_ok("import json,sys\n"
			"for l in open(sys.argv[1], encoding=\"utf-8\"):\n"
			"  r = json.loads(l)\n"
			"  want = bytes.fromhex(r[\"hex\"]).decode(\"utf-8\", \"replace\")\n"
			"  if r[\"s\"] != want: sys.exit(\"differs: \" + r[\"hex\"])\n",
			path));
	unlink(path);
	dn_buf_free(&b);
	dn_buf_free(&hex);
}

int main(void)
{
	RUN(test_buf_basics);
	RUN(test_buf_oom_sticky);
	RUN(test_nesting_and_commas);
	RUN(test_deep_nesting);
	RUN(test_escapes);
	RUN(test_nul_in_strn);
	RUN(test_utf8_valid_passthrough);
	RUN(test_utf8_invalid);
	RUN(test_random_bytes);
	RUN(test_integers);
	RUN(test_doubles);
	RUN(test_fixed);
	RUN(test_numbers_ignore_locale);
	RUN(test_metrics_json);
	RUN(test_metrics_round_as_json);
	RUN(test_metrics_accumulate);
	RUN(test_python_parses_hostile_records);
	RUN(test_python_agrees_on_replacement);
	dn_buf_free(&g_buf);
	return unit_done();
}
