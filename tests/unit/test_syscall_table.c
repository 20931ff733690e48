/*
 * test_syscall_table.c — engine/profiler/syscall_table.c against the
 * kernel's table ($(BUILD)/gen/syscall_names.h): every number the kernel
 * names has a name and exactly one category; the reviewed category table
 * names no syscall twice and none the kernel lacks, each list in order;
 * names and numbers round-trip. The source is included, not linked, to
 * reach its static category lists; libdenet.a's copy is then never
 * pulled in.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "syscall_table.c"
#include "unit.h"

/* The number of category lists that hold name. */
static int lists_holding(const char *name)
{
	int k = 0;

	for (int c = 0; c < DN_SC_NCATEGORIES; c++)
		for (const char *const *p = categories[c]; *p; p++)
			k += strcmp(*p, name) == 0;
	return k;
}

static void test_every_name_has_one_category(void)
{
	int named = 0;

	CHECK(dn_syscall_nr_max() == DN_SYSCALL_NAMES_MAX);
	CHECK(dn_syscall_nr_max() > 0);
	CHECK(dn_syscall_name(dn_syscall_nr_max() - 1) != NULL);
	for (int nr = 0; nr < DN_SYSCALL_NAMES_MAX; nr++) {
		const char *name = names[nr];
		int k;

		if (!name) {
			CHECK_INT(dn_syscall_category(nr), DN_SC_OTHER);
			continue;
		}
		named++;
		CHECK_STR(dn_syscall_name(nr), name);
		k = lists_holding(name);
		if (k != 1)
			printf("#   %d %s is in %d category lists\n", nr, name, k);
		CHECK_INT(k, 1);
		CHECK(dn_syscall_category_name(dn_syscall_category(nr)) != NULL);
	}
	printf("# %d syscalls named, numbers 0..%d\n", named, DN_SYSCALL_NAMES_MAX - 1);
	CHECK(named > 0);
}

/* No list names a syscall the kernel lacks, or one twice. The table is
 * reviewed against x86_64's header; elsewhere, names only x86_64 has are
 * expected and only counted (the check above still catches what is new). */
static void test_no_stale_or_duplicate_entry(void)
{
	int stale = 0, listed = 0;

	for (int c = 0; c < DN_SC_NCATEGORIES; c++)
		for (const char *const *p = categories[c]; *p; p++) {
			int nr = dn_syscall_by_name(*p);

			listed++;
			if (p != categories[c] && strcmp(p[-1], *p) >= 0)
				printf("#   %s before %s: not in order\n", p[-1], *p);
			CHECK(p == categories[c] || strcmp(p[-1], *p) < 0);
			if (nr < 0 || strcmp(dn_syscall_name(nr), *p) != 0) {
				printf("#   %s (%s) is not a syscall of this header\n", *p,
				       category_names[c]);
				stale++;
			} else
				CHECK_INT(dn_syscall_category(nr), c);
			if (lists_holding(*p) != 1)
				printf("#   %s is listed %d times\n", *p, lists_holding(*p));
			CHECK_INT(lists_holding(*p), 1);
			for (const char *const *q = p + 1; *q; q++)
				CHECK(strcmp(*p, *q) != 0);
		}
	printf("# %d names in the category table\n", listed);
#ifdef __x86_64__
	CHECK_INT(stale, 0);
#endif
}

static void test_spot_checks(void)
{
	static const struct {
		const char *name;
		enum dn_syscall_category c;
	} spots[] = {
		{"getppid", DN_SC_PROCESS},    {"fsync", DN_SC_FILE_IO},
		{"uname", DN_SC_SYSTEM},       {"fcntl", DN_SC_FILE_IO},
		{"getdents64", DN_SC_FILE_IO}, {"futex", DN_SC_IPC},
		{"nanosleep", DN_SC_TIME},     {"openat", DN_SC_FILE_IO},
		{"socket", DN_SC_NETWORK},     {"kill", DN_SC_SIGNAL},
		{"mmap", DN_SC_MEMORY},	       {"setuid", DN_SC_SECURITY},
		{"pipe2", DN_SC_IPC},	       {"eventfd2", DN_SC_IPC},
		{"fchmodat", DN_SC_FILE_IO},   {"getrandom", DN_SC_SYSTEM},
		{"close", DN_SC_FILE_IO},      {"exit_group", DN_SC_PROCESS},
	};

	for (size_t i = 0; i < sizeof spots / sizeof spots[0]; i++) {
		int nr = dn_syscall_by_name(spots[i].name);

		CHECK(nr >= 0);
		if (nr < 0) {
			printf("#   %s: no such syscall here\n", spots[i].name);
			continue;
		}
		CHECK_STR(dn_syscall_name(nr), spots[i].name);
		CHECK_STR(dn_syscall_category_name(dn_syscall_category(nr)),
			  dn_syscall_category_name(spots[i].c));
	}
#ifdef __x86_64__
	CHECK_STR(dn_syscall_name(0), "read");
	CHECK_STR(dn_syscall_name(1), "write");
	CHECK_STR(dn_syscall_name(63), "uname");
	CHECK_STR(dn_syscall_name(74), "fsync");
	CHECK_STR(dn_syscall_name(202), "futex");
	CHECK_INT(dn_syscall_by_name("getppid"), 110);
	CHECK_INT(dn_syscall_category(0), DN_SC_FILE_IO);
	CHECK_INT(dn_syscall_category(72), DN_SC_FILE_IO);  /* fcntl: upstream said ipc */
	CHECK_INT(dn_syscall_category(217), DN_SC_FILE_IO); /* getdents64: likewise */
#endif
}

static void test_by_name(void)
{
	char buf[32];

	for (int nr = 0; nr < dn_syscall_nr_max(); nr++) {
		const char *name = dn_syscall_name_or_nr(nr, buf, sizeof buf);

		CHECK_INT(dn_syscall_by_name(name), nr);
	}
	CHECK_INT(dn_syscall_by_name("syscall_42"), 42);
	CHECK_INT(dn_syscall_by_name("syscall_0"), 0);
	CHECK_INT(dn_syscall_by_name("syscall_2147483647"), INT_MAX);
	CHECK_INT(dn_syscall_by_name("syscall_2147483648"), -1);
	CHECK_INT(dn_syscall_by_name("syscall_99999999999999999999"), -1);
	CHECK_INT(dn_syscall_by_name("syscall_"), -1);
	CHECK_INT(dn_syscall_by_name("syscall_-1"), -1);
	CHECK_INT(dn_syscall_by_name("syscall_4x"), -1);
	CHECK_INT(dn_syscall_by_name("syscall_ 4"), -1);
	CHECK_INT(dn_syscall_by_name("syscall"), -1);
	CHECK_INT(dn_syscall_by_name("no_such_syscall"), -1);
	CHECK_INT(dn_syscall_by_name(""), -1);
	CHECK_INT(dn_syscall_by_name("READ"), -1);
	CHECK_INT(dn_syscall_by_name("read "), -1);
	CHECK_INT(dn_syscall_by_name(NULL), -1);
}

static void test_name_or_nr(void)
{
	char buf[24];
	int gap = -1;

	for (int nr = 0; nr < dn_syscall_nr_max() && gap < 0; nr++)
		if (!dn_syscall_name(nr))
			gap = nr;
#ifdef __x86_64__
	CHECK_INT(gap, 335); /* 335..423: unused since the numbers were unified at 424 */
#endif
	if (gap >= 0) {
		char want[24];

		snprintf(want, sizeof want, "syscall_%d", gap);
		CHECK_STR(dn_syscall_name_or_nr(gap, buf, sizeof buf), want);
		CHECK_INT(dn_syscall_category(gap), DN_SC_OTHER);
	}
	CHECK(dn_syscall_name(-1) == NULL);
	CHECK(dn_syscall_name(dn_syscall_nr_max()) == NULL);
	CHECK(dn_syscall_name(INT_MAX) == NULL);
	CHECK(dn_syscall_name(INT_MIN) == NULL);
	CHECK_STR(dn_syscall_name_or_nr(-1, buf, sizeof buf), "syscall_-1");
	CHECK_STR(dn_syscall_name_or_nr(INT_MIN, buf, sizeof buf), "syscall_-2147483648");
	CHECK_STR(dn_syscall_name_or_nr(INT_MAX, buf, sizeof buf), "syscall_2147483647");
	CHECK_STR(dn_syscall_name_or_nr(100000, buf, sizeof buf), "syscall_100000");
	CHECK_INT(dn_syscall_category(-1), DN_SC_OTHER);
	CHECK_INT(dn_syscall_category(INT_MAX), DN_SC_OTHER);
	CHECK_INT(dn_syscall_category(dn_syscall_nr_max()), DN_SC_OTHER);
	/* a name, not the buffer */
	CHECK(dn_syscall_name_or_nr(dn_syscall_by_name("close"), buf, sizeof buf) != buf);
}

static void test_category_names(void)
{
	static const char *const want[] = {"file_io", "memory",	  "process", "network", "time",
					   "ipc",     "security", "signal",  "system",	"other"};

	CHECK_INT(DN_SC_NCATEGORIES, 10);
	for (int c = 0; c < DN_SC_NCATEGORIES; c++)
		CHECK_STR(dn_syscall_category_name((enum dn_syscall_category)c), want[c]);
	CHECK(dn_syscall_category_name(DN_SC_NCATEGORIES) == NULL);
	CHECK(dn_syscall_category_name((enum dn_syscall_category) - 1) == NULL);
}

int main(void)
{
	RUN(test_every_name_has_one_category);
	RUN(test_no_stale_or_duplicate_entry);
	RUN(test_spot_checks);
	RUN(test_by_name);
	RUN(test_name_or_nr);
	RUN(test_category_names);
	return unit_done();
}
