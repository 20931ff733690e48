/*
 * json.c — the streaming JSON writer of json.h.
 *
 * Owns comma placement and the escaping rules: whatever bytes a string held,
 * the output is valid UTF-8 JSON. It runs for every sample, so integers are
 * written by hand and plain ASCII runs are copied in bulk.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/*
 * Comma state per depth. Levels deeper than DN_JSON_MAX_DEPTH share the last
 * slot, which is still correct: a slot is cleared when a container opens and
 * set after every value, and closing a child is itself a value of the
 * parent, so the parent's slot is always rightly "true" when we get back.
 */
static bool *comma_slot(struct dn_json *j)
{
	int d = j->depth < DN_JSON_MAX_DEPTH ? j->depth : DN_JSON_MAX_DEPTH;
	return &j->need_comma[d];
}

/* Called before every value and key: writes the separating comma. Top-level
 * values get none; a JSONL writer puts its newline between them. */
static void before_value(struct dn_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	bool *c = comma_slot(j);
	if (j->depth > 0 && *c)
		dn_buf_putc(j->out, ',');
}

static void after_value(struct dn_json *j)
{
	*comma_slot(j) = true;
}

void dn_json_init(struct dn_json *j, struct dn_buf *out)
{
	memset(j, 0, sizeof *j);
	j->out = out;
}

static void open_container(struct dn_json *j, char c)
{
	before_value(j);
	dn_buf_putc(j->out, c);
	j->depth++;
	*comma_slot(j) = false;
}

static void close_container(struct dn_json *j, char c)
{
	dn_buf_putc(j->out, c);
	j->after_key = false;
	if (j->depth > 0)
		j->depth--;
	after_value(j);
}

void dn_json_obj_begin(struct dn_json *j)
{
	open_container(j, '{');
}

void dn_json_obj_end(struct dn_json *j)
{
	close_container(j, '}');
}

void dn_json_arr_begin(struct dn_json *j)
{
	open_container(j, '[');
}

void dn_json_arr_end(struct dn_json *j)
{
	close_container(j, ']');
}

static void put_quoted(struct dn_buf *b, const char *s, size_t n)
{
	dn_buf_putc(b, '"');
	dn_json_escape(b, s, n);
	dn_buf_putc(b, '"');
}

/* Bytes copied as they are inside a JSON string: printable ASCII but the
 * quote and the backslash. (DEL is kept, as docs/data-format.md says.) */
/* clang-format off */
static const unsigned char plain[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 00 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 10 */
	1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 20 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 30 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 40 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 50 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 60 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 70 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 80 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 90 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* a0 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* b0 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* c0 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* d0 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* e0 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* f0 */
};
/* clang-format on */

void dn_json_key(struct dn_json *j, const char *key)
{
	before_value(j);
	/* Keys are the record's own names, plain ASCII: one pass finds the
	 * length and that nothing needs escaping, then one copy. */
	const unsigned char *k = (const unsigned char *)key;
	size_t n = 0;
	while (plain[k[n]])
		n++;
	if (k[n] == '\0' && dn_buf_reserve(j->out, n + 3) == 0) {
		char *d = j->out->data + j->out->len;
		d[0] = '"';
		memcpy(d + 1, key, n);
		d[n + 1] = '"';
		d[n + 2] = ':';
		d[n + 3] = '\0';
		j->out->len += n + 3;
	} else {
		put_quoted(j->out, key, strlen(key));
		dn_buf_putc(j->out, ':');
	}
	j->after_key = true;
}

void dn_json_key_quoted(struct dn_json *j, const char *quoted, size_t n)
{
	before_value(j);
	dn_buf_append(j->out, quoted, n);
	j->after_key = true;
}

void dn_json_str(struct dn_json *j, const char *s)
{
	if (!s) {
		dn_json_null(j);
		return;
	}
	dn_json_strn(j, s, strlen(s));
}

void dn_json_strn(struct dn_json *j, const char *s, size_t n)
{
	before_value(j);
	put_quoted(j->out, s, n);
	after_value(j);
}

/* Digits of v, right to left into the end of tmp; returns the first. Two
 * at a time: half the divisions (a ts_ms has 13 digits, every process). */
static char *u64_digits(char *end, uint64_t v)
{
	static const char pairs[] = "00010203040506070809101112131415161718192021222324"
				    "25262728293031323334353637383940414243444546474849"
				    "50515253545556575859606162636465666768697071727374"
				    "75767778798081828384858687888990919293949596979899";
	char *p = end;
	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);
		v /= 100;
		*--p = pairs[2 * r + 1];
		*--p = pairs[2 * r];
	}
	if (v >= 10) {
		*--p = pairs[2 * v + 1];
		*--p = pairs[2 * v];
	} else {
		*--p = (char)('0' + v);
	}
	return p;
}

void dn_json_uint(struct dn_json *j, uint64_t v)
{
	char tmp[24];
	char *end = tmp + sizeof tmp;
	char *p = u64_digits(end, v);
	before_value(j);
	dn_buf_append(j->out, p, (size_t)(end - p));
	after_value(j);
}

void dn_json_int(struct dn_json *j, int64_t v)
{
	char tmp[24];
	char *end = tmp + sizeof tmp;
	/* Negate in unsigned arithmetic so INT64_MIN does not overflow. */
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	char *p = u64_digits(end, mag);
	if (v < 0)
		*--p = '-';
	before_value(j);
	dn_buf_append(j->out, p, (size_t)(end - p));
	after_value(j);
}

/* A locale set from a script (os.setlocale) may turn the decimal point into
 * a comma; JSON only knows '.'. */
static void fix_decimal_point(char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == ',')
			s[i] = '.';
}

void dn_json_double(struct dn_json *j, double v)
{
	if (!isfinite(v)) {
		dn_json_null(j);
		return;
	}
	/* %.17g always round-trips but prints 0.1 as 0.10000000000000001;
	 * %.15g is exact for most values people look at, so try it first. */
	char tmp[40];
	int n = snprintf(tmp, sizeof tmp, "%.15g", v);
	if (n <= 0 || (size_t)n >= sizeof tmp || strtod(tmp, NULL) != v)
		n = snprintf(tmp, sizeof tmp, "%.17g", v);
	if (n <= 0 || (size_t)n >= sizeof tmp) {
		dn_json_null(j); /* cannot happen for a finite double */
		return;
	}
	fix_decimal_point(tmp, (size_t)n);
	before_value(j);
	dn_buf_append(j->out, tmp, (size_t)n);
	after_value(j);
}

/*
 * printf's "%.*f" of a finite v without printf (it runs for every double of
 * every process on every sample), into out (32 bytes), or 0 when this path
 * cannot be sure of printf's digits and the caller must ask printf.
 *
 * printf rounds the exact binary value of v to `decimals` places. Scaled by
 * an exact power of ten, |v| * 10^d is off the exact product by at most half
 * an ulp; its distance to the nearest integer decides the rounding unless
 * the fraction lies within that error of one half (ties included, which
 * printf breaks to even): those, values of 2^50 and more once scaled, and
 * more than 9 decimals go to printf. dn_metrics_round uses the same test,
 * so a Lua hook sees the number the JSON says. The sign is printed whenever
 * it is set, as printf does ("-0.00" for -0.001 or -0.0).
 */
static int fixed_fast(char *out, double v, int decimals)
{
	static const double scale[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
	if (decimals > 9)
		return 0;
	double s = fabs(v) * scale[decimals];
	if (!(s < 0x1p50))
		return 0;
	double whole = floor(s), frac = s - whole;
	if (fabs(frac - 0.5) <= s * 0x1p-46 + 0x1p-30)
		return 0;
	uint64_t u = (uint64_t)whole + (frac > 0.5);
	/* digits right to left: the decimals, the point, the integer part
	 * (at least one digit) */
	char tmp[32];
	char *end = tmp + sizeof tmp, *p = end;
	for (int i = 0; i < decimals; i++) {
		*--p = (char)('0' + u % 10);
		u /= 10;
	}
	if (decimals > 0)
		*--p = '.';
	p = u64_digits(p, u);
	if (signbit(v))
		*--p = '-';
	size_t n = (size_t)(end - p);
	memcpy(out, p, n);
	return (int)n;
}

void dn_json_fixed(struct dn_json *j, double v, int decimals)
{
	if (!isfinite(v)) {
		dn_json_null(j);
		return;
	}
	if (decimals < 0)
		decimals = 0;
	before_value(j);
	char tmp[32];
	int n = fixed_fast(tmp, v, decimals);
	if (n > 0) {
		dn_buf_append(j->out, tmp, (size_t)n);
		after_value(j);
		return;
	}
	size_t start = j->out->len;
	dn_buf_printf(j->out, "%.*f", decimals, v);
	if (!j->out->oom)
		fix_decimal_point(j->out->data + start, j->out->len - start);
	after_value(j);
}

void dn_json_bool(struct dn_json *j, bool v)
{
	before_value(j);
	if (v)
		dn_buf_append(j->out, "true", 4);
	else
		dn_buf_append(j->out, "false", 5);
	after_value(j);
}

void dn_json_null(struct dn_json *j)
{
	before_value(j);
	dn_buf_append(j->out, "null", 4);
	after_value(j);
}

void dn_json_raw(struct dn_json *j, const char *text, size_t n)
{
	before_value(j);
	dn_buf_append(j->out, text, n);
	after_value(j);
}

/*
 * Length of the valid UTF-8 sequence starting at s[0] (a byte >= 0x80), or,
 * when it is invalid, minus the length of its maximal subpart: the longest
 * prefix that could start a valid sequence (at least 1). Following Unicode
 * §3.9 "U+FFFD substitution of maximal subparts", as Python and ICU do, each
 * subpart becomes one U+FFFD and the byte after it is examined afresh, so a
 * broken sequence never swallows the character that follows it.
 */
static int utf8_seq(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	int len;
	unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the 2nd byte */

	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0; /* no overlongs */
		else if (c == 0xED)
			hi = 0x9F; /* no UTF-16 surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90; /* no overlongs */
		else if (c == 0xF4)
			hi = 0x8F; /* nothing above U+10FFFF */
	} else {
		return -1; /* continuation byte, C0/C1, F5..FF */
	}

	if (avail < 2 || s[1] < lo || s[1] > hi)
		return -1;
	for (int i = 2; i < len; i++)
		if ((size_t)i >= avail || (s[i] & 0xC0) != 0x80)
			return -i;
	return len;
}

void dn_json_escape(struct dn_buf *out, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		/* Copy the longest run that needs no change in one append. */
		size_t run = i;
		while (run < n) {
			unsigned char c = s[run];
			if (plain[c]) {
				run++;
			} else if (c < 0x80) {
				break;
			} else {
				int l = utf8_seq(s + run, n - run);
				if (l < 0)
					break;
				run += (size_t)l;
			}
		}
		if (run > i) {
			dn_buf_append(out, s + i, run - i);
			i = run;
			if (i >= n)
				break;
		}

		unsigned char c = s[i];
		if (c >= 0x80) {
			int l = utf8_seq(s + i, n - i); /* < 0 here */
			dn_buf_append(out, "\xEF\xBF\xBD", 3);
			i += (size_t)-l;
			continue;
		}
		char e[6] = {'\\', 0, 0, 0, 0, 0};
		size_t elen = 2;
		switch (c) {
		case '"': e[1] = '"'; break;
		case '\\': e[1] = '\\'; break;
		case '\b': e[1] = 'b'; break;
		case '\f': e[1] = 'f'; break;
		case '\n': e[1] = 'n'; break;
		case '\r': e[1] = 'r'; break;
		case '\t': e[1] = 't'; break;
		default:
			e[1] = 'u';
			e[2] = '0';
			e[3] = '0';
			e[4] = hex[c >> 4];
			e[5] = hex[c & 0xF];
			elen = 6;
			break;
		}
		dn_buf_append(out, e, elen);
		i++;
	}
	/* An empty string still leaves a NUL-terminated buffer behind. */
	if (n == 0)
		dn_buf_append(out, "", 0);
}
