/*
 * json.h — a streaming JSON writer into a dn_buf.
 *
 * It owns comma placement (so record builders read like the record) and the
 * escaping rules of docs/data-format.md: every string is emitted as valid UTF-8 JSON
 * whatever bytes it held — invalid UTF-8 sequences (overlongs, surrogates,
 * truncated sequences, bytes > 0xF4) become U+FFFD, control characters
 * become \n, \t... or \u00XX, quote and backslash are escaped, DEL is kept.
 * Numbers: integers exactly; doubles with up to 17 significant digits and
 * never as NaN/Infinity (those become null, which JSON can hold).
 */
#ifndef DENET_JSON_H
#define DENET_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define DN_JSON_MAX_DEPTH 32

struct dn_json {
	struct dn_buf *out;
	int depth;
	bool need_comma[DN_JSON_MAX_DEPTH + 1];
	bool after_key;
};

void dn_json_init(struct dn_json *j, struct dn_buf *out);
void dn_json_obj_begin(struct dn_json *j);
void dn_json_obj_end(struct dn_json *j);
void dn_json_arr_begin(struct dn_json *j);
void dn_json_arr_end(struct dn_json *j);
/* Key inside an object; the next value call writes its value. */
void dn_json_key(struct dn_json *j, const char *key);
/* A key already in its JSON form with the colon ("\"name\":", n bytes),
 * as a table of fixed names holds it: copied as it is. */
void dn_json_key_quoted(struct dn_json *j, const char *quoted, size_t n);
void dn_json_str(struct dn_json *j, const char *s); /* NULL -> null */
void dn_json_strn(struct dn_json *j, const char *s, size_t n);
void dn_json_int(struct dn_json *j, int64_t v);
void dn_json_uint(struct dn_json *j, uint64_t v);
void dn_json_double(struct dn_json *j, double v);
/* A double rounded to `decimals` places (for percentages: short lines). */
void dn_json_fixed(struct dn_json *j, double v, int decimals);
void dn_json_bool(struct dn_json *j, bool v);
void dn_json_null(struct dn_json *j);
/* Raw, already-valid JSON text as a value (e.g. a nested record). */
void dn_json_raw(struct dn_json *j, const char *text, size_t n);

/* Append `s[0..n)` to `out` as the inside of a JSON string (no quotes). */
void dn_json_escape(struct dn_buf *out, const char *s, size_t n);

#endif
