/*
 * test_symbolizer.c — the symbolizer against real processes and binaries:
 * build/helpers/symtarget (PIE, -g), and variants built here with cc into a
 * temporary directory (non-PIE, lld, stripped, stripped with .gnu_debuglink,
 * a shared library), the [vdso], /proc/kallsyms and a JIT perf map; and
 * that what exited processes leave is freed (maps, then unused modules).
 */
#include "cfi.h"
#include "procmaps.h"
#include "symbolizer.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct target {
	pid_t pid;
	FILE *out;
	uint64_t alpha, beta, rd, so;
	int alpha_line;
};

static char tmpdir[64];
static int have_cc = -1;

static const char *helpers_dir(void)
{
	const char *d = getenv("DENET_HELPERS");
	return d ? d : "build/helpers";
}

/* Absolute, because the variants are built from inside tmpdir. */
static const char *root_dir(void)
{
	static char buf[4096];
	const char *d = getenv("DENET_ROOT");
	if (!realpath(d ? d : ".", buf))
		return ".";
	return buf;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = s ? strlen(s) : 0, b = strlen(suffix);
	return s && a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Start BIN [SO SYM], read its address lines up to "ready". 0 or -1. */
static int target_start(struct target *t, const char *bin, const char *so, const char *sym)
{
	memset(t, 0, sizeof *t);
	int fds[2];
	if (access(bin, X_OK) != 0 || pipe(fds) != 0)
		return -1;
	t->pid = fork();
	if (t->pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		if (so)
			execl(bin, bin, so, sym, (char *)NULL);
		else
			execl(bin, bin, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	t->out = fdopen(fds[0], "r");
	char key[32];
	unsigned long long v;
	while (t->out && fscanf(t->out, "%31s %lli", key, &v) == 2) {
		if (!strcmp(key, "alpha"))
			t->alpha = v;
		else if (!strcmp(key, "beta"))
			t->beta = v;
		else if (!strcmp(key, "read"))
			t->rd = v;
		else if (!strcmp(key, "so"))
			t->so = v;
		else if (!strcmp(key, "alpha_line"))
			t->alpha_line = (int)v;
		else if (!strcmp(key, "ready"))
			return t->alpha ? 0 : -1;
	}
	return -1;
}

static void target_stop(struct target *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGKILL);
		waitpid(t->pid, NULL, 0);
	}
	if (t->out)
		fclose(t->out);
	t->pid = 0;
	t->out = NULL;
}

/* st_value of a .symtab symbol of the ELF file at path, 0 if absent. */
static uint64_t elf_sym_value(const char *path, const char *name)
{
	uint64_t v = 0;
	int fd = open(path, O_RDONLY);
	elf_version(EV_CURRENT);
	Elf *e = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
	Elf_Scn *scn = NULL;
	while (e && !v && (scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize)
			continue;
		Elf_Data *d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym st;
			const char *n;
			if (gelf_getsym(d, (int)i, &st) && (n = elf_strptr(e, sh.sh_link, st.st_name)) &&
			    strcmp(n, name) == 0) {
				v = st.st_value;
				break;
			}
		}
	}
	elf_end(e);
	if (fd >= 0)
		close(fd);
	return v;
}

static int sh(const char *cmd)
{
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Build the variants once into tmpdir; false (with reason) if no compiler. */
static bool build_variants(void)
{
	if (have_cc >= 0)
		return have_cc;
	have_cc = 0;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/dn-symtest-XXXXXX");
	if (!mkdtemp(tmpdir) || sh("command -v cc >/dev/null 2>&1") != 0)
		return false;
	char cmd[12288];
	const char *src = root_dir();
	snprintf(cmd, sizeof cmd,
		 "set -e; cd %s; S=%s/tests/helpers/symtarget.c;"
		 "cc -std=c11 -D_GNU_SOURCE -O1 -g -no-pie -fno-pie -o nopie $S;"
		 "cc -std=c11 -D_GNU_SOURCE -O1 -g -o pie $S;"
		 "cp pie stripped; strip stripped;"
		 "cp pie linked; objcopy --only-keep-debug linked linked.debug;"
		 "strip --strip-all linked; objcopy --add-gnu-debuglink=linked.debug linked;"
		 "printf 'int so_function_gamma(int x){volatile int y=x;return y*7+1;}\\n' > so.c;"
		 "cc -O1 -g -fPIC -shared -o libsymso.so so.c;"
		 "cp libsymso.so libsymso-del.so",
		 tmpdir, src);
	if (sh(cmd) != 0)
		return false;
	/* lld is optional */
	snprintf(cmd, sizeof cmd,
		 "cd %s && cc -std=c11 -D_GNU_SOURCE -O1 -g -fuse-ld=lld -o lld %s/tests/helpers/symtarget.c "
		 ">/dev/null 2>&1",
		 tmpdir, src);
	sh(cmd);
	have_cc = 1;
	return true;
}

static void check_target(struct dn_symbolizer *s, const struct target *t, const char *modsuffix)
{
	struct dn_frame f;
	CHECK_INT(dn_sym_resolve(s, t->pid, t->alpha, &f), 0);
	CHECK_STR(f.name, "known_function_alpha");
	CHECK_INT(f.offset, 0);
	CHECK(ends_with(f.module, modsuffix));
	CHECK_INT(dn_sym_resolve(s, t->pid, t->alpha + 5, &f), 0);
	CHECK_STR(f.name, "known_function_alpha");
	CHECK_INT(f.offset, 5);
	CHECK_INT(dn_sym_resolve(s, t->pid, t->beta, &f), 0);
	CHECK_STR(f.name, "known_function_beta");
	CHECK_INT(f.offset, 0);
	CHECK_INT(dn_sym_resolve(s, t->pid, t->rd + 3, &f), 0);
	CHECK_STR(f.name, "read");
	CHECK_INT(f.offset, 3);
	CHECK(ends_with(f.module, "libc.so.6"));
}

static void test_pie_and_after_exit(void)
{
	char bin[512];
	snprintf(bin, sizeof bin, "%s/symtarget", helpers_dir());
	struct target t;
	if (target_start(&t, bin, NULL, NULL) != 0) {
		target_stop(&t);
		UNIT_SKIP("helper symtarget not built (make build/helpers/symtarget)");
	}
	struct dn_symbolizer *s = dn_sym_new();
	CHECK(s != NULL);
	CHECK_INT(dn_sym_capture(s, t.pid), 0);
	check_target(s, &t, "/symtarget");
	pid_t pid = t.pid;
	target_stop(&t);
	t.pid = pid; /* captured maps still symbolize after the process is gone */
	check_target(s, &t, "/symtarget");
	struct dn_frame f;
	CHECK_INT(dn_sym_resolve(s, pid, 0x10, &f), -ENOENT);
	CHECK_STR(f.module, "[unknown]");
	CHECK(f.name == NULL);
	dn_sym_forget(s, pid);
	CHECK_INT(dn_sym_resolve(s, pid, t.alpha, &f), -ESRCH);
	CHECK_INT(dn_sym_capture(s, pid), -ESRCH);
	dn_sym_free(s);
}

static void test_live_without_capture(void)
{
	char bin[512];
	snprintf(bin, sizeof bin, "%s/symtarget", helpers_dir());
	struct target t;
	if (target_start(&t, bin, NULL, NULL) != 0) {
		target_stop(&t);
		UNIT_SKIP("helper symtarget not built (make build/helpers/symtarget)");
	}
	struct dn_symbolizer *s = dn_sym_new();
	check_target(s, &t, "/symtarget");
	/* warm: the result cache returns the same frame */
	struct dn_frame f;
	for (int i = 0; i < 3; i++) {
		CHECK_INT(dn_sym_resolve(s, t.pid, t.beta + 2, &f), 0);
		CHECK_STR(f.name, "known_function_beta");
		CHECK_INT(f.offset, 2);
	}
	target_stop(&t);
	dn_sym_free(s);
}

static void test_lines(void)
{
	char bin[512];
	snprintf(bin, sizeof bin, "%s/symtarget", helpers_dir());
	struct target t;
	if (target_start(&t, bin, NULL, NULL) != 0) {
		target_stop(&t);
		UNIT_SKIP("helper symtarget not built (make build/helpers/symtarget)");
	}
	struct dn_symbolizer *s = dn_sym_new();
	struct dn_frame f;
	CHECK_INT(dn_sym_resolve(s, t.pid, t.alpha, &f), 0);
	CHECK(f.file == NULL);
	dn_sym_set_lines(s, true);
	CHECK_INT(dn_sym_resolve(s, t.pid, t.alpha, &f), 0);
	CHECK_STR(f.name, "known_function_alpha");
	CHECK(ends_with(f.file, "symtarget.c"));
	CHECK(f.line >= t.alpha_line - 1 && f.line <= t.alpha_line + 2);
	if (f.line < t.alpha_line - 1 || f.line > t.alpha_line + 2)
		printf("#   line %d, alpha_line %d\n", f.line, t.alpha_line);
	/* libc's lines come from its separate debug file, found by build-id (libc6-dbg) */
	CHECK_INT(dn_sym_resolve(s, t.pid, t.rd, &f), 0);
	CHECK_STR(f.name, "read");
	if (access("/usr/lib/debug/.build-id", F_OK) == 0) {
		if (!f.file)
			printf("#   no file:line for libc read (libc6-dbg missing?)\n");
		else
			CHECK(strstr(f.file, "read") != NULL);
	}
	target_stop(&t);
	dn_sym_free(s);
}

static void variant(const char *name, const char *modsuffix, bool stripped)
{
	if (!build_variants())
		UNIT_SKIP("no C compiler to build test binaries");
	char bin[256];
	snprintf(bin, sizeof bin, "%s/%s", tmpdir, name);
	struct target t;
	if (target_start(&t, bin, NULL, NULL) != 0) {
		target_stop(&t);
		UNIT_SKIP("%s could not be built or run", name);
	}
	struct dn_symbolizer *s = dn_sym_new();
	CHECK_INT(dn_sym_capture(s, t.pid), 0);
	if (!stripped) {
		check_target(s, &t, modsuffix);
	} else {
		/* module+offset, the offset being the ELF address of the function in
		   the unstripped twin (strip keeps the code where it was) */
		char ubin[256];
		snprintf(ubin, sizeof ubin, "%s/pie", tmpdir);
		uint64_t want_off = elf_sym_value(ubin, "known_function_alpha");
		CHECK(want_off != 0);
		struct dn_frame f;
		CHECK_INT(dn_sym_resolve(s, t.pid, t.alpha, &f), 0);
		CHECK(f.name == NULL);
		CHECK(ends_with(f.module, "/stripped"));
		CHECK_INT(f.offset, want_off);
		char buf[256], want[64];
		dn_sym_format(&f, buf, sizeof buf);
		snprintf(want, sizeof want, "stripped+0x%llx", (unsigned long long)want_off);
		CHECK_STR(buf, want);
		CHECK_INT(dn_sym_resolve(s, t.pid, t.beta, &f), 0);
		CHECK(f.name == NULL);
		/* libc still symbolizes in a stripped program */
		CHECK_INT(dn_sym_resolve(s, t.pid, t.rd, &f), 0);
		CHECK_STR(f.name, "read");
	}
	target_stop(&t);
	dn_sym_free(s);
}

static void test_nonpie(void)
{
	variant("nopie", "/nopie", false);
}

static void test_lld(void)
{
	if (!build_variants())
		UNIT_SKIP("no C compiler to build test binaries");
	char bin[256];
	snprintf(bin, sizeof bin, "%s/lld", tmpdir);
	if (access(bin, X_OK) != 0)
		UNIT_SKIP("ld.lld not available");
	variant("lld", "/lld", false);
}

static void test_stripped(void)
{
	variant("stripped", "/stripped", true);
}

static void test_debuglink(void)
{
	/* stripped, names from linked.debug through .gnu_debuglink */
	variant("linked", "/linked", false);
}

static void test_shared_library_deleted(void)
{
	if (!build_variants())
		UNIT_SKIP("no C compiler to build test binaries");
	char bin[512], so[256];
	snprintf(bin, sizeof bin, "%s/symtarget", helpers_dir());
	snprintf(so, sizeof so, "%s/libsymso-del.so", tmpdir);
	struct target t;
	if (target_start(&t, bin, so, "so_function_gamma") != 0 || !t.so) {
		target_stop(&t);
		UNIT_SKIP("helper symtarget not built (make build/helpers/symtarget)");
	}
	/* the library is deleted while mapped: read through /proc/PID/map_files */
	unlink(so);
	struct dn_symbolizer *s = dn_sym_new();
	CHECK_INT(dn_sym_capture(s, t.pid), 0);
	pid_t pid = t.pid;
	target_stop(&t);
	struct dn_frame f;
	CHECK_INT(dn_sym_resolve(s, pid, t.so + 2, &f), 0);
	CHECK_STR(f.name, "so_function_gamma");
	CHECK_INT(f.offset, 2);
	CHECK(strstr(f.module, "libsymso-del.so") != NULL);
	dn_sym_free(s);
}

static void test_shared_library(void)
{
	if (!build_variants())
		UNIT_SKIP("no C compiler to build test binaries");
	char bin[512], so[256];
	snprintf(bin, sizeof bin, "%s/symtarget", helpers_dir());
	snprintf(so, sizeof so, "%s/libsymso.so", tmpdir);
	struct target t;
	if (target_start(&t, bin, so, "so_function_gamma") != 0 || !t.so) {
		target_stop(&t);
		UNIT_SKIP("helper symtarget not built (make build/helpers/symtarget)");
	}
	struct dn_symbolizer *s = dn_sym_new();
	struct dn_frame f;
	CHECK_INT(dn_sym_resolve(s, t.pid, t.so, &f), 0);
	CHECK_STR(f.name, "so_function_gamma");
	CHECK_INT(f.offset, 0);
	CHECK(ends_with(f.module, "/libsymso.so"));
	check_target(s, &t, "/symtarget");
	target_stop(&t);
	dn_sym_free(s);
}

static void test_kernel(void)
{
	FILE *k = fopen("/proc/kallsyms", "r");
	if (!k)
		UNIT_SKIP("no /proc/kallsyms");
	unsigned long long addr = 0, a;
	char type, name[256];
	while (fscanf(k, "%llx %c %255s%*[^\n]", &a, &type, name) == 3)
		if (strcmp(name, "schedule") == 0 && (type == 'T' || type == 't')) {
			addr = a;
			break;
		}
	fclose(k);
	if (!addr)
		UNIT_SKIP("kallsyms shows no address for schedule (not root or kptr_restrict)");
	struct dn_symbolizer *s = dn_sym_new();
	struct dn_frame f;
	CHECK_INT(dn_sym_resolve_kernel(s, addr, &f), 0);
	CHECK_STR(f.name, "schedule");
	CHECK_INT(f.offset, 0);
	CHECK_STR(f.module, "[kernel]");
	CHECK_INT(dn_sym_resolve_kernel(s, addr + 7, &f), 0);
	CHECK_STR(f.name, "schedule");
	CHECK_INT(f.offset, 7);
	char buf[64];
	dn_sym_format(&f, buf, sizeof buf);
	CHECK_STR(buf, "schedule+0x7");
	CHECK_INT(dn_sym_resolve_kernel(s, 16, &f), -ENOENT);
	dn_sym_free(s);
}

/* Names found by walking the vdso mapping of pid. */
static void check_vdso(struct dn_symbolizer *s, pid_t pid)
{
	char path[64], line[512];
	unsigned long base = 0, a, b;
	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	FILE *m = fopen(path, "r");
	while (m && fgets(line, sizeof line, m))
		if (strstr(line, "[vdso]") && sscanf(line, "%lx-%lx", &a, &b) == 2)
			base = a;
	if (m)
		fclose(m);
	CHECK(base != 0);
	int named = 0, gettime = 0;
	for (uint64_t off = 0; off < 8192; off += 4) {
		struct dn_frame f;
		uint64_t addr = base + off;
		if (dn_sym_resolve(s, pid, addr, &f) != 0 || strcmp(f.module, "[vdso]") != 0)
			continue;
		if (f.name) {
			named++;
			if (strstr(f.name, "clock_gettime") && f.offset == 0)
				gettime++;
		}
	}
	CHECK(named > 0);
	CHECK(gettime > 0);
}

static void test_vdso(void)
{
	if (!getauxval(AT_SYSINFO_EHDR))
		UNIT_SKIP("no vdso");
	struct dn_symbolizer *s = dn_sym_new();
	check_vdso(s, getpid());
	/* another process: its own vdso address, the same kernel image */
	char bin[512];
	snprintf(bin, sizeof bin, "%s/symtarget", helpers_dir());
	struct target t;
	if (target_start(&t, bin, NULL, NULL) == 0)
		check_vdso(s, t.pid);
	target_stop(&t);
	dn_sym_free(s);
}

static void test_perf_map(void)
{
	size_t len = 1 << 16, page = 4096;
	/* Between two PROT_NONE guard pages: the kernel must not merge it with
	 * a neighbouring anonymous mapping of the same protection (under
	 * valgrind one sits right before it), or "past every entry" would
	 * be counted from that neighbour's start. */
	char *area = mmap(NULL, len + 2 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		UNIT_SKIP("no anonymous mapping");
	void *jit = area + page;
	if (mprotect(jit, len, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) {
		munmap(area, len + 2 * page);
		UNIT_SKIP("no anonymous executable mapping");
	}
	char path[64];
	snprintf(path, sizeof path, "/tmp/perf-%d.map", (int)getpid());
	FILE *pm = fopen(path, "w");
	if (!pm) {
		munmap(area, len + 2 * page);
		UNIT_SKIP("cannot write %s", path);
	}
	uintptr_t b = (uintptr_t)jit;
	fprintf(pm, "%lx 100 jitted_first\n%lx 80 LJ::trace 7 (with spaces)\n", (unsigned long)b,
		(unsigned long)(b + 0x100));
	fclose(pm);
	struct dn_symbolizer *s = dn_sym_new();
	struct dn_frame f;
	CHECK_INT(dn_sym_resolve(s, getpid(), b + 0x10, &f), 0);
	CHECK_STR(f.name, "jitted_first");
	CHECK_INT(f.offset, 0x10);
	CHECK_STR(f.module, path);
	CHECK_INT(dn_sym_resolve(s, getpid(), b + 0x104, &f), 0);
	CHECK_STR(f.name, "LJ::trace 7 (with spaces)");
	CHECK_INT(f.offset, 4);
	/* past every entry: anonymous memory, no name */
	CHECK_INT(dn_sym_resolve(s, getpid(), b + 0x1000, &f), 0);
	CHECK(f.name == NULL);
	CHECK_INT(f.offset, 0x1000);
	dn_sym_free(s);
	unlink(path);
	munmap(area, len + 2 * page);
}

/* The CFI rule at a runtime address of pid: procmaps' translation, then the
 * one CFI lookup (the one offcpu's frame recovery uses). */
static int cfi_at(struct dn_procmaps *pm, pid_t pid, uint64_t addr, struct dn_cfi_rule *r)
{
	struct dn_pm_maps maps;
	const struct dn_pm_map *mp;
	uint64_t vaddr;
	int rc = dn_pm_read(pm, pid, &maps);

	if (rc)
		return rc;
	mp = dn_pm_find(&maps, addr);
	if (!mp || !mp->mod || !dn_pm_vaddr(mp->mod, addr - mp->start + mp->pgoff, &vaddr))
		rc = -ENOENT;
	else
		rc = dn_cfi_rule(dn_pm_cfi(mp->mod), vaddr, r);
	dn_pm_release(pm, &maps);
	return rc;
}

static void test_cfi_rule(void)
{
	char bin[512];
	snprintf(bin, sizeof bin, "%s/symtarget", helpers_dir());
	struct target t;
	if (target_start(&t, bin, NULL, NULL) != 0) {
		target_stop(&t);
		UNIT_SKIP("helper symtarget not built (make build/helpers/symtarget)");
	}
	struct dn_procmaps *pm = dn_pm_new(NULL);
	struct dn_cfi_rule r;
	CHECK(pm != NULL);
	/* first instruction: the return address is at the stack pointer */
	CHECK_INT(cfi_at(pm, t.pid, t.alpha, &r), 0);
	CHECK_INT(r.ra, 0);
	CHECK_INT(r.cfa, 8);
	/* libc read (no frame pointer): 0 at entry, a small positive offset once it has
	   pushed or reserved stack */
	for (int d = 0; d < 64; d++) {
		r.ra = -1;
		int rc = cfi_at(pm, t.pid, t.rd + (uint64_t)d, &r);
		if (d == 0) {
			CHECK_INT(rc, 0);
			CHECK_INT(r.ra, 0);
		}
		if (rc == 0)
			CHECK(r.ra >= 0 && r.ra < 256 && r.ra < r.cfa);
		else
			CHECK(rc == -EOPNOTSUPP || rc == -ENOENT);
	}
	CHECK_INT(cfi_at(pm, t.pid, 0x10, &r), -ENOENT);
	target_stop(&t);
	dn_pm_free(pm);
}

/* 40 processes, each running its own copy of a binary (40 ELF files),
 * come and go: their maps are held until a mark/prune pair after they
 * are gone (and still symbolize in between), then freed; of the modules
 * no process maps any more, the 32 most recently used stay open. */
static void test_gone_and_trim(void)
{
	enum { N = 40 };
	struct dn_sym_stats st;
	struct dn_frame f;
	struct target t;
	pid_t pids[N];
	uint64_t alpha[N];
	char bin[600], cmd[1400];

	if (!build_variants())
		UNIT_SKIP("no C compiler to build the test binaries");
	snprintf(cmd, sizeof cmd, "cd %s && for i in $(seq %d); do cp pie churn$i; done", tmpdir, N);
	CHECK_INT(sh(cmd), 0);
	struct dn_symbolizer *s = dn_sym_new();
	dn_sym_get_stats(s, &st);
	size_t base = st.modules;
	for (int i = 0; i < N; i++) {
		snprintf(bin, sizeof bin, "%s/churn%d", tmpdir, i + 1);
		if (target_start(&t, bin, NULL, NULL) != 0) {
			target_stop(&t);
			CHECK(!"target did not start");
			break;
		}
		CHECK_INT(dn_sym_capture(s, t.pid), 0);
		pids[i] = t.pid;
		alpha[i] = t.alpha;
		target_stop(&t);
	}
	dn_sym_get_stats(s, &st);
	CHECK_INT(st.procs, N);
	CHECK(st.modules >= base + N);
	CHECK_INT(dn_sym_mark_gone(s), N);
	/* between the two steps the stacks they left still symbolize */
	CHECK_INT(dn_sym_resolve(s, pids[0], alpha[0], &f), 0);
	CHECK_STR(f.name, "known_function_alpha");
	CHECK_INT(dn_sym_prune(s), N);
	dn_sym_get_stats(s, &st);
	CHECK_INT(st.procs, 0);
	CHECK(st.modules_unused >= N);
	size_t before = st.modules, unused = st.modules_unused;
	CHECK_INT(dn_sym_trim(s), unused - 32);
	dn_sym_get_stats(s, &st);
	CHECK_INT(st.modules_unused, 32);
	CHECK_INT(st.modules, before - (unused - 32));
	CHECK_INT(dn_sym_trim(s), 0); /* nothing more to free */
	/* a process of a binary still cached, and one of a binary closed */
	for (int i = N; i >= 1; i -= N - 1) {
		snprintf(bin, sizeof bin, "%s/churn%d", tmpdir, i);
		CHECK_INT(target_start(&t, bin, NULL, NULL), 0);
		CHECK_INT(dn_sym_resolve(s, t.pid, t.alpha, &f), 0);
		CHECK_STR(f.name, "known_function_alpha");
		target_stop(&t);
	}
	CHECK_INT(dn_sym_mark_gone(s), 2);
	CHECK_INT(dn_sym_prune(s), 2);
	dn_sym_free(s);
	snprintf(cmd, sizeof cmd, "rm -f %s/churn*", tmpdir);
	sh(cmd);
}

static void test_format(void)
{
	char buf[64];
	struct dn_frame f = {.addr = 1, .name = "main", .offset = 0x1a, .module = "/bin/x"};
	dn_sym_format(&f, buf, sizeof buf);
	CHECK_STR(buf, "main+0x1a");
	f.name = NULL;
	f.module = "/usr/lib/libfoo;1.so";
	f.offset = 0x1234;
	dn_sym_format(&f, buf, sizeof buf);
	CHECK_STR(buf, "libfoo:1.so+0x1234");
	f.module = "[vdso]";
	dn_sym_format(&f, buf, sizeof buf);
	CHECK_STR(buf, "[vdso]+0x1234");
	dn_sym_format(&f, buf, 4);
	CHECK_STR(buf, "[vd");
}

int main(void)
{
	RUN(test_pie_and_after_exit);
	RUN(test_live_without_capture);
	RUN(test_lines);
	RUN(test_nonpie);
	RUN(test_lld);
	RUN(test_stripped);
	RUN(test_debuglink);
	RUN(test_shared_library);
	RUN(test_shared_library_deleted);
	RUN(test_kernel);
	RUN(test_vdso);
	RUN(test_perf_map);
	RUN(test_cfi_rule);
	RUN(test_format);
	RUN(test_gone_and_trim);
	if (tmpdir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
		sh(cmd);
	}
	return unit_done();
}
