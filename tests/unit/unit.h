/*
 * unit.h — the tiny test harness of denet's C unit tests.
 *
 * Each test binary prints TAP lines ("ok N - name" / "not ok N - name") and
 * a diagnostic for every failed check; tests/run.sh counts them together
 * with busted's TAP output into the final "N passed, N failed" line.
 * A test that cannot run here calls UNIT_SKIP with its reason: it is
 * reported as skipped ("ok N - name # SKIP reason"), never as passed.
 */
#ifndef DENET_TESTS_UNIT_H
#define DENET_TESTS_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_count, unit_failed_tests, unit_cur_failed, unit_cur_skipped;
static char unit_skip_reason[256];

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			unit_cur_failed++;                                     \
			printf("#   %s:%d: check failed: %s\n", __FILE__,      \
			       __LINE__, #cond);                               \
		}                                                              \
	} while (0)

#define CHECK_INT(a, b)                                                        \
	do {                                                                   \
		long long unit_a_ = (long long)(a), unit_b_ = (long long)(b);  \
		if (unit_a_ != unit_b_) {                                      \
			unit_cur_failed++;                                     \
			printf("#   %s:%d: %s == %lld, expected %s == %lld\n", \
			       __FILE__, __LINE__, #a, unit_a_, #b, unit_b_);  \
		}                                                              \
	} while (0)

#define CHECK_STR(a, b)                                                        \
	do {                                                                   \
		const char *unit_a_ = (a), *unit_b_ = (b);                     \
		if (!unit_a_ || !unit_b_ || strcmp(unit_a_, unit_b_) != 0) {   \
			unit_cur_failed++;                                     \
			printf("#   %s:%d: %s == \"%s\", expected \"%s\"\n",   \
			       __FILE__, __LINE__, #a,                         \
			       unit_a_ ? unit_a_ : "(null)",                   \
			       unit_b_ ? unit_b_ : "(null)");                  \
		}                                                              \
	} while (0)

#define UNIT_SKIP(...)                                                         \
	do {                                                                   \
		unit_cur_skipped = 1;                                          \
		snprintf(unit_skip_reason, sizeof unit_skip_reason,            \
			 __VA_ARGS__);                                         \
		return;                                                        \
	} while (0)

static inline void unit_run(const char *name, void (*fn)(void))
{
	unit_cur_failed = 0;
	unit_cur_skipped = 0;
	fn();
	unit_count++;
	if (unit_cur_skipped)
		printf("ok %d - %s # SKIP %s\n", unit_count, name,
		       unit_skip_reason);
	else if (unit_cur_failed) {
		unit_failed_tests++;
		printf("not ok %d - %s\n", unit_count, name);
	} else
		printf("ok %d - %s\n", unit_count, name);
	fflush(stdout);
}

#define RUN(fn) unit_run(#fn, fn)

static inline int unit_done(void)
{
	printf("1..%d\n", unit_count);
	return unit_failed_tests ? 1 : 0;
}

#endif
