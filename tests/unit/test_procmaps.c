/*
 * test_procmaps.c — engine/profiler/procmaps.c and cfi.c on this process and
 * on maps text: an address to its mapping, module, file offset and ELF
 * virtual address; modules shared by (device, inode) and counted by the
 * maps that hold them, then trimmed; the CFI rule at a function's entry.
 */
#include <errno.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cfi.h"
#include "procmaps.h"
#include "unit.h"

__attribute__((noinline)) int probe_fn(int x);
__attribute__((noinline)) int probe_fn(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 1;
}

/* The load bias of the main program (dl_iterate_phdr lists it first). */
static int first_bias(struct dl_phdr_info *info, size_t size, void *ctx)
{
	(void)size;
	*(uintptr_t *)ctx = info->dlpi_addr;
	return 1;
}

static void test_self(void)
{
	struct dn_procmaps *c = dn_pm_new(NULL);
	struct dn_pm_maps a, b;
	const struct dn_pm_map *mp;
	uintptr_t fn = (uintptr_t)&probe_fn, bias = 0;
	uint64_t vaddr = 0;
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	size_t mods, unused;

	CHECK(c != NULL && n > 0);
	if (!c || n <= 0)
		return;
	exe[n] = '\0';
	dl_iterate_phdr(first_bias, &bias);
	CHECK_INT(dn_pm_read(c, getpid(), &a), 0);
	CHECK_INT(a.pid, getpid());
	CHECK(a.n > 3);
	for (size_t i = 1; i < a.n; i++)
		CHECK(a.v[i - 1].start < a.v[i].start);
	mp = dn_pm_find(&a, fn);
	CHECK(mp != NULL);
	if (!mp)
		goto out;
	CHECK_INT(mp->kind, DN_PM_FILE);
	CHECK(mp->exec);
	CHECK_STR(mp->path, exe);
	CHECK(mp->mod != NULL && mp->mod->fd >= 0);
	/* boundaries: start inclusive, end exclusive */
	CHECK(dn_pm_find(&a, mp->start) == mp);
	CHECK(dn_pm_find(&a, mp->end) != mp);
	CHECK(dn_pm_find(&a, 0) == NULL);
	/* runtime address -> file offset -> ELF virtual address */
	CHECK(dn_pm_vaddr(mp->mod, fn - mp->start + mp->pgoff, &vaddr));
	CHECK_INT(vaddr, fn - bias);
	CHECK(dn_pm_elf(mp->mod) != NULL);
	/* at a function's first instruction the return address is at sp,
	   the CFA one word above */
	struct dn_cfi_rule r = {0};
	CHECK_INT(dn_cfi_rule(dn_pm_cfi(mp->mod), vaddr, &r), 0);
	CHECK_INT(r.ra, 0);
	CHECK_INT(r.cfa, 8);
	CHECK_INT(r.bp, DN_CFI_BP_SAME);
	CHECK_INT(dn_cfi_rule(NULL, vaddr, &r), -ENOENT);
	CHECK_INT(dn_cfi_rule(dn_pm_cfi(mp->mod), 0, &r), -ENOENT);

	/* a second read shares the modules: one per (device, inode) */
	CHECK_INT(dn_pm_read(c, getpid(), &b), 0);
	const struct dn_pm_map *mq = dn_pm_find(&b, fn);
	CHECK(mq && mq->mod == mp->mod);
	CHECK(mq && mq->path == mp->path); /* interned */
	if (mq)
		CHECK_INT(mq->mod->refs, 2);
	dn_pm_count(c, &mods, &unused);
	CHECK(mods >= 2);
	CHECK_INT(unused, 0);
	dn_pm_release(c, &b);
	CHECK(b.v == NULL && b.n == 0);
	CHECK_INT(mp->mod->refs, 1);
	CHECK_INT(dn_pm_trim(c, 0), 0); /* all held */
out:
	dn_pm_release(c, &a);
	dn_pm_count(c, &mods, &unused);
	CHECK(unused >= 2);
	/* unused modules beyond `keep` go, the most recently used stay; our
	   [vdso] is pinned */
	CHECK_INT(dn_pm_trim(c, 1), unused - 1);
	dn_pm_count(c, &mods, &unused);
	CHECK_INT(unused, 1);
	dn_pm_trim(c, 0);
	dn_pm_count(c, &mods, &unused);
	CHECK_INT(unused, 0);
	/* the pinned [vdso]; valgrind runs a program without one */
	CHECK_INT(mods, getauxval(AT_SYSINFO_EHDR) ? 1 : 0);
	dn_pm_free(c);
}

static void test_text(void)
{
	static const char text[] =
		"7f0000002000-7f0000003000 r-xp 00001000 08:01 77 /nonexistent/lib x.so (deleted)\n"
		"1000-2000 r-xp 00000000 08:01 77 /nonexistent/lib x.so\n"
		"3000-4000 rw-p 00000000 00:00 0 [heap]\n"
		"5000-6000 rw-p 00000000 00:00 0\n"
		"6000-7000 r--p 00000000 08:01 78 /nonexistent/data\n"
		"garbage\n"
		"8000-9000 r-x";
	struct dn_procmaps *c = dn_pm_new(NULL);
	struct dn_pm_maps m;
	const struct dn_pm_map *mp;
	uint64_t v;

	CHECK(c != NULL);
	if (!c)
		return;
	/* a pid above pid_max: nothing under /proc opens */
	CHECK_INT(dn_pm_parse(c, 0x7fffffff, text, sizeof text - 1, &m), 0);
	CHECK_INT(m.n, 5);
	/* sorted by address, though the text was not */
	CHECK_INT(m.v[0].start, 0x1000);
	mp = dn_pm_find(&m, 0x1800);
	CHECK(mp && mp->kind == DN_PM_FILE && mp->exec && mp->mod);
	CHECK(mp && mp->dev == makedev(8, 1) && mp->ino == 77);
	if (mp && mp->mod) {
		/* the file cannot be opened: no ELF, no address, no CFI */
		CHECK(mp->mod->fd < 0 && mp->mod->open_err < 0);
		CHECK(dn_pm_elf(mp->mod) == NULL);
		CHECK(!dn_pm_vaddr(mp->mod, 0, &v));
		CHECK(dn_pm_cfi(mp->mod) == NULL);
		/* the deleted one is the same file: the same module */
		const struct dn_pm_map *del = dn_pm_find(&m, 0x7f0000002800);
		CHECK(del && del->mod == mp->mod);
		CHECK(del && strcmp(del->path, "/nonexistent/lib x.so (deleted)") == 0);
		CHECK_INT(mp->mod->refs, 2);
	}
	mp = dn_pm_find(&m, 0x3000);
	CHECK(mp && mp->kind == DN_PM_ANON && mp->mod == NULL);
	CHECK(mp && strcmp(mp->path, "[heap]") == 0);
	mp = dn_pm_find(&m, 0x5fff);
	CHECK(mp && mp->kind == DN_PM_ANON && mp->path == NULL);
	/* a file mapped without exec: a file mapping, no module */
	mp = dn_pm_find(&m, 0x6000);
	CHECK(mp && mp->kind == DN_PM_FILE && mp->mod == NULL);
	CHECK(dn_pm_find(&m, 0x8000) == NULL); /* the torn last line */
	dn_pm_release(c, &m);
	CHECK_INT(dn_pm_parse(c, 0x7fffffff, "", 0, &m), 0);
	CHECK_INT(m.n, 0);
	CHECK(dn_pm_find(&m, 0x1000) == NULL);
	dn_pm_release(c, &m);
	dn_pm_free(c);
}

static void test_intern(void)
{
	struct dn_procmaps *c = dn_pm_new(NULL);
	const char *a, *b, *d;

	CHECK(c != NULL);
	if (!c)
		return;
	a = dn_pm_intern(c, "/usr/lib/x.so", 13);
	b = dn_pm_intern(c, "/usr/lib/x.so and more", 13);
	d = dn_pm_intern(c, "/usr/lib/x.s", 12);
	CHECK(a && a == b);
	CHECK_STR(a, "/usr/lib/x.so");
	CHECK(d && d != a);
	CHECK_STR(d, "/usr/lib/x.s");
	/* a NUL inside: its length tells it apart */
	CHECK(dn_pm_intern(c, "a\0b", 3) != dn_pm_intern(c, "a\0c", 3));
	dn_pm_free(c);
}

int main(void)
{
	RUN(test_self);
	RUN(test_text);
	RUN(test_intern);
	return unit_done();
}
