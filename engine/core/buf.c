/*
 * buf.c — the growable byte buffer of buf.h.
 *
 * Owns the buffer's memory and its one failure mode: a failed grow sets
 * `oom`, which stays set (and makes later appends no-ops) until reset, so a
 * record is either complete or visibly failed, never silently truncated in
 * the middle.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* Small enough not to matter, big enough that a typical record line grows
 * a couple of times at most before the buffer is reused for good. */
#define DN_BUF_MIN_CAP 256

int dn_buf_reserve(struct dn_buf *b, size_t extra)
{
	if (b->oom)
		return -ENOMEM;
	if (extra > SIZE_MAX - 1 - b->len)
		goto fail;
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : DN_BUF_MIN_CAP;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	char *p = realloc(b->data, cap);
	if (!p)
		goto fail;
	b->data = p;
	b->cap = cap;
	return 0;
fail:
	b->oom = true;
	return -ENOMEM;
}

void dn_buf_puts(struct dn_buf *b, const char *s)
{
	dn_buf_append(b, s, strlen(s));
}

void dn_buf_vprintf(struct dn_buf *b, const char *fmt, va_list ap)
{
	/* Format straight into the spare room; only an overlong result pays
	 * for a second pass. */
	if (dn_buf_reserve(b, 64) < 0)
		return;
	va_list ap2;
	va_copy(ap2, ap);
	size_t room = b->cap - b->len;
	int n = vsnprintf(b->data + b->len, room, fmt, ap);
	if (n < 0) {
		/* An encoding error: leave the contents as they were. */
		b->data[b->len] = '\0';
		va_end(ap2);
		return;
	}
	if ((size_t)n >= room) {
		if (dn_buf_reserve(b, (size_t)n) < 0) {
			b->data[b->len] = '\0';
			va_end(ap2);
			return;
		}
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
	}
	va_end(ap2);
	b->len += (size_t)n;
}

void dn_buf_printf(struct dn_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	dn_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void dn_buf_reset(struct dn_buf *b)
{
	b->len = 0;
	b->oom = false;
	if (b->data)
		b->data[0] = '\0';
}

void dn_buf_free(struct dn_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->oom = false;
}
