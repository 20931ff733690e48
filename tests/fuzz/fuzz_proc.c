/*
 * fuzz_proc.c — libFuzzer harness for one /proc parser (engine/core/procfs.h),
 * chosen at compile time with -DFUZZ_PROC_<NAME>: STAT, STATUS, STATM, IO,
 * CHILDREN, SCHEDSTAT, NET_DEV, CMDLINE, MAPS. The input is passed exactly as
 * a live read would be: not NUL-terminated, so ASan sees any over-read.
 * Properties checked beyond "no crash": strings the parsers fill are
 * NUL-terminated inside their arrays; cmdline arguments and maps paths lie
 * inside the input; a maps entry ends above its start and its path, if
 * any, is not empty and holds no newline.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "procfs.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

#ifdef FUZZ_PROC_CMDLINE
struct span {
	const char *lo, *hi;
	size_t n;
};
static void on_arg(void *ctx, const char *arg, size_t n)
{
	struct span *s = ctx;
	CHECK(arg >= s->lo && arg + n <= s->hi);
	s->n++;
}
#endif

#ifdef FUZZ_PROC_MAPS
struct maps_span {
	const char *lo, *hi;
	int n;
};
static int on_map(void *ctx, const struct dn_maps_entry *e)
{
	struct maps_span *s = ctx;
	CHECK(e->end > e->start);
	CHECK(memchr(e->perms, '\0', sizeof e->perms) == e->perms + 4);
	CHECK(!e->path == !e->pathlen);
	if (e->path) {
		CHECK(e->path >= s->lo && e->path + e->pathlen <= s->hi);
		CHECK(!memchr(e->path, '\n', e->pathlen));
	}
	s->n++;
	return s->n == 1000 ? 1 : 0; /* the stop value comes back */
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
#if defined(FUZZ_PROC_STAT)
	struct dn_stat st;
	memset(&st, 0x5a, sizeof st);
	if (dn_proc_parse_stat(buf, size, &st) == 0)
		CHECK(memchr(st.comm, '\0', sizeof st.comm));
#elif defined(FUZZ_PROC_STATUS)
	struct dn_status st;
	memset(&st, 0x5a, sizeof st);
	if (dn_proc_parse_status(buf, size, &st) == 0)
		CHECK(memchr(st.name, '\0', sizeof st.name));
#elif defined(FUZZ_PROC_STATM)
	struct dn_statm st;
	dn_proc_parse_statm(buf, size, &st);
#elif defined(FUZZ_PROC_IO)
	struct dn_io io;
	dn_proc_parse_io(buf, size, &io);
#elif defined(FUZZ_PROC_CHILDREN)
	pid_t pids[8];
	int n = dn_proc_parse_children(buf, size, pids, 8);
	CHECK(n >= -22);
	dn_proc_parse_children(buf, size, NULL, 0);
#elif defined(FUZZ_PROC_SCHEDSTAT)
	struct dn_schedstat ss;
	dn_proc_parse_schedstat(buf, size, &ss);
#elif defined(FUZZ_PROC_NET_DEV)
	uint64_t rx, tx;
	dn_proc_parse_net_dev(buf, size, &rx, &tx);
#elif defined(FUZZ_PROC_CMDLINE)
	struct span s = {buf, buf + size, 0};
	int n = dn_proc_split_cmdline(buf, size, on_arg, &s);
	CHECK(n >= 0 && (size_t)n == s.n);
#elif defined(FUZZ_PROC_MAPS)
	struct maps_span s = {buf, buf + size, 0};
	int n = dn_proc_parse_maps(buf, size, on_map, &s);
	CHECK(s.n == 1000 ? n == 1 : n == s.n);
#else
#error "define one FUZZ_PROC_<NAME>"
#endif
	return 0;
}
