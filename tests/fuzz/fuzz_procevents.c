/*
 * fuzz_procevents.c — libFuzzer harness for the proc connector's parser
 * (engine/core/procevents.h dn_procevents_parse): one netlink datagram as
 * recv() returned it, copied to an odd address so that no message is
 * aligned. Every event delivered must be a fork, exec or exit, and no more
 * events than whole messages fit in the input.
 */
#include <linux/netlink.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "procevents.h"

static void check(const struct dn_procevent *ev, void *ctx)
{
	(void)ctx;
	if (ev->kind != DN_PROCEV_FORK && ev->kind != DN_PROCEV_EXEC && ev->kind != DN_PROCEV_EXIT)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf + 1, data, size);
	int n = dn_procevents_parse(buf + 1, size, check, NULL);
	if (n < 0 || (size_t)n > size / NLMSG_HDRLEN)
		abort();
	free(buf);
	return 0;
}
