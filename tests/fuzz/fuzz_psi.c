/*
 * fuzz_psi.c — libFuzzer harness for the pressure-file parser
 * (engine/core/psi.h dn_psi_parse) and the resource names of rules
 * (dn_psi_res_by_name): any text, not NUL-terminated. A parse that succeeds
 * has a `some` line, and every average it read is a finite, non-negative
 * number.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "psi.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

static void check_line(const struct dn_psi_line *l)
{
	CHECK(isfinite(l->avg10) && l->avg10 >= 0);
	CHECK(isfinite(l->avg60) && l->avg60 >= 0);
	CHECK(isfinite(l->avg300) && l->avg300 >= 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct dn_psi_file f;
	if (dn_psi_parse(buf, size, &f) == 0) {
		CHECK(f.some.present);
		check_line(&f.some);
		check_line(&f.full);
	}
	enum dn_psi_res r = dn_psi_res_by_name(buf, size < 16 ? size : 16);
	CHECK(r <= DN_PSI_NRES);
	return 0;
}
