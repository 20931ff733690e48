/*
 * syscall_table.h — the names and categories of this architecture's system
 * calls. Names come from the kernel's own table (the installed
 * asm/unistd_64.h, turned into $(BUILD)/gen/syscall_names.h at build time
 * by tools/gen-syscall-names.sh); categories from the one reviewed table in
 * syscall_table.c. tests/unit/test_syscall_table.c checks that every number
 * the kernel names has a name and exactly one category.
 */
#ifndef DENET_SYSCALL_TABLE_H
#define DENET_SYSCALL_TABLE_H

#include <stddef.h>

/* upstream 0.6.1's category names, in this order (dn_syscall_category_name) */
enum dn_syscall_category {
	DN_SC_FILE_IO,
	DN_SC_MEMORY,
	DN_SC_PROCESS,
	DN_SC_NETWORK,
	DN_SC_TIME,
	DN_SC_IPC,
	DN_SC_SECURITY,
	DN_SC_SIGNAL,
	DN_SC_SYSTEM,
	DN_SC_OTHER,
	DN_SC_NCATEGORIES
};

/* One more than the highest syscall number the table names. */
int dn_syscall_nr_max(void);
/* nr's name ("read"), or NULL when the table has none (a gap in the
 * numbering, a negative nr, or a syscall newer than the build's headers). */
const char *dn_syscall_name(int nr);
/* nr's name, or "syscall_N" written into buf (len >= 24) for one without. */
const char *dn_syscall_name_or_nr(int nr, char *buf, size_t len);
/* nr's category; DN_SC_OTHER for a number without a name. */
enum dn_syscall_category dn_syscall_category(int nr);
/* "file_io", "memory", ...; NULL out of range. */
const char *dn_syscall_category_name(enum dn_syscall_category c);
/* The number of a name ("fsync"; "syscall_N" gives N), or -1. */
int dn_syscall_by_name(const char *name);

#endif
