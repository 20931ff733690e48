/*
 * fuzz_cgroup.c — libFuzzer harness for the cgroup text parsers
 * (engine/core/cgroup.h dn_cgroup_parse_*): mountinfo, /proc/PID/cgroup, "key
 * value" files, io.stat and blkio. The first input byte picks the parser and
 * the size of the output buffers (to reach -ENAMETOOLONG); the rest is the
 * text, not NUL-terminated. Results must be NUL-terminated within their
 * buffers.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

static const char *const controllers[] = {NULL, "memory", "pids", "blkio", "cpuacct", "cpu"};
static const char *const keys[] = {"usage_usec", "user_usec", "oom_kill", "user", "oom_kill_disable"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned sel = data[0];
	const char *buf = (const char *)data + 1;
	size_t len = size - 1;
	size_t outlen = (sel & 0x40) ? 1 + (sel & 0x7) : 4096;
	char *a = malloc(outlen), *b = malloc(outlen);
	if (!a || !b)
		abort();
	const char *ctl = controllers[(sel >> 3) % 6];
	uint64_t v, r, w;
	int rc;
	switch (sel % 5) {
	case 0:
		rc = dn_cgroup_parse_mount(buf, len, ctl, a, outlen, b, outlen);
		if (rc == 0)
			CHECK(memchr(a, '\0', outlen) && memchr(b, '\0', outlen));
		break;
	case 1:
		rc = dn_cgroup_parse_proc(buf, len, ctl, a, outlen);
		if (rc == 0)
			CHECK(memchr(a, '\0', outlen));
		break;
	case 2:
		dn_cgroup_parse_kv(buf, len, keys[(sel >> 3) % 5], &v);
		break;
	case 3:
		rc = dn_cgroup_parse_io_stat(buf, len, &r, &w);
		CHECK(rc == 0 || rc == -EINVAL);
		break;
	default:
		rc = dn_cgroup_parse_blkio(buf, len, &r, &w);
		CHECK(rc >= 0 || rc == -EINVAL);
		break;
	}
	free(a);
	free(b);
	return 0;
}
