/*
 * fuzz_tasksnap.c — libFuzzer harness for the task-iterator sample parser
 * (engine/core/tasksnap.h dn_tasksnap_build): the bytes read() returned
 * from the iterator, at an odd address. Every reading found must be one
 * the snapshot lists, with a state letter /proc could show, and there are
 * never more readings than records; a second build into the same snapshot
 * (as every sample does) must give the same readings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tasksnap.h"

static void check(const struct dn_tasksnap *s)
{
	if (s->n > s->records)
		abort();
	for (size_t i = 0; i < s->n; i++) {
		const struct dn_task_reading *r = &s->r[i];
		if (dn_tasksnap_find(s, r->st.pid) != r)
			abort();
		if (!strchr("RSDTtXZPI?", r->st.state) || !r->st.state)
			abort();
		if (strlen(r->st.comm) >= sizeof r->st.comm)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dn_tasksnap s = {0};
	uint8_t *buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf + 1, data, size);
	int r1 = dn_tasksnap_build(&s, buf + 1, size, 100, 4096);
	check(&s);
	size_t n = s.n;
	int r2 = dn_tasksnap_build(&s, buf + 1, size, 100, 4096);
	check(&s);
	if (r1 != r2 || n != s.n)
		abort();
	dn_tasksnap_free(&s);
	free(buf);
	return 0;
}
