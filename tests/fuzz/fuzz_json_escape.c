/*
 * fuzz_json_escape.c — libFuzzer harness for dn_json_escape (engine/core/json.h).
 * Property: whatever the bytes, the output is valid UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF), holds no raw control byte (< 0x20),
 * and every '"' and '\' in it is part of an escape, so '"' + output + '"'
 * is one JSON string. The escapes themselves are checked for their form.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Checks s[0..n) is the inside of a JSON string in valid UTF-8. */
static void check_json_string_body(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		CHECK(c >= 0x20 && c != '"');
		if (c == '\\') {
			CHECK(i + 1 < n);
			unsigned char e = s[i + 1];
			if (e == 'u') {
				CHECK(i + 5 < n);
				for (int k = 2; k < 6; k++)
					CHECK(hexval(s[i + k]) >= 0);
				i += 6;
			} else {
				CHECK(strchr("\"\\/bfnrt", e) && e);
				i += 2;
			}
			continue;
		}
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t len;
		uint32_t cp;
		if (c >= 0xC2 && c <= 0xDF)
			len = 2, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			len = 3, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			len = 4, cp = c & 0x07;
		else
			abort(); /* stray continuation byte, C0/C1 or F5..FF */
		CHECK(i + len <= n);
		for (size_t k = 1; k < len; k++) {
			CHECK((s[i + k] & 0xC0) == 0x80);
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		CHECK(!(len == 3 && cp < 0x800));		 /* overlong */
		CHECK(!(len == 4 && (cp < 0x10000 || cp > 0x10FFFF)));
		CHECK(!(cp >= 0xD800 && cp <= 0xDFFF));	 /* surrogate */
		i += len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dn_buf b = {0};
	dn_json_escape(&b, (const char *)data, size);
	if (!b.oom)
		check_json_string_body((const unsigned char *)b.data, b.len);
	/* the same through the writer, as records use it */
	dn_buf_reset(&b);
	struct dn_json j;
	dn_json_init(&j, &b);
	dn_json_obj_begin(&j);
	dn_json_key(&j, "comm");
	dn_json_strn(&j, (const char *)data, size);
	dn_json_obj_end(&j);
	if (!b.oom) {
		CHECK(b.len >= 11 && memcmp(b.data, "{\"comm\":\"", 9) == 0 &&
		      memcmp(b.data + b.len - 2, "\"}", 2) == 0);
		check_json_string_body((const unsigned char *)b.data + 9, b.len - 11);
	}
	dn_buf_free(&b);
	return 0;
}
