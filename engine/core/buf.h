/*
 * buf.h — a growable byte buffer, the one place engine code builds text.
 *
 * Allocation failure is sticky: appends after a failed grow do nothing and
 * `oom` stays set, so a record builder checks once at the end instead of
 * after every append.
 */
#ifndef DENET_BUF_H
#define DENET_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct dn_buf {
	char *data; /* always NUL-terminated when len > 0 or after any append */
	size_t len;
	size_t cap;
	bool oom;
};

/* Ensure room for `extra` more bytes plus a NUL; 0 or -ENOMEM (sets oom). */
int dn_buf_reserve(struct dn_buf *b, size_t extra);
void dn_buf_puts(struct dn_buf *b, const char *s);
void dn_buf_printf(struct dn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dn_buf_vprintf(struct dn_buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/*
 * The two appends every record makes hundreds of times per sample are
 * inline: when the room is there (always, once the line buffer has grown
 * to a record's size) they are two tests and a copy. A buffer that failed
 * to grow may still have room, so `oom` is tested too (it stays sticky).
 */
static inline void dn_buf_append(struct dn_buf *b, const void *p, size_t n)
{
	if (b->oom || n >= b->cap - b->len) {
		if (dn_buf_reserve(b, n) < 0)
			return;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static inline void dn_buf_putc(struct dn_buf *b, char c)
{
	if (b->oom || b->cap - b->len < 2) {
		if (dn_buf_reserve(b, 1) < 0)
			return;
	}
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

/* Forget the contents, keep the memory (and clear oom). */
void dn_buf_reset(struct dn_buf *b);
void dn_buf_free(struct dn_buf *b);

#endif
