/*
 * symbolize.c — benchmark of engine/profiler/symbolizer.c against addr2line.
 *
 * Maps a big ELF file into this process (one read+exec mapping of the whole
 * file, so /proc/self/maps shows it like a loaded library), picks N random
 * addresses inside its executable segment, and times:
 *   cold  — a new symbolizer: capture + module load + N resolves
 *   warm  — N other addresses with the module loaded (binary search), and
 *           the same N again (result cache)
 *   addr2line — one process per address (M of them), and one process for
 *           all N addresses on stdin; names are compared with ours.
 *
 * build: cc -std=c11 -D_GNU_SOURCE -O2 -g -Iengine -o build/bench-symbolize \
 *            bench/symbolize.c engine/profiler/symbolizer.c -ldw -lelf
 * usage: build/bench-symbolize [ELF] [N] [M]
 *        (default: the largest of a few big system ELFs, N = 10000, M = 50)
 */
#include "symbolizer.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static const char *pick_default(void)
{
	static const char *cands[] = {
		"/usr/bin/node", "/usr/lib/x86_64-linux-gnu/libLLVM-15.so.1", "/usr/lib/x86_64-linux-gnu/libLLVM-14.so.1",
		"/usr/lib/aarch64-linux-gnu/libLLVM-15.so.1", "/usr/sbin/bpftool", "/usr/bin/bpftool",
		"/lib/x86_64-linux-gnu/libc.so.6"};
	for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++)
		if (access(cands[i], R_OK) == 0)
			return cands[i];
	return NULL;
}

/* Run addr2line -f -e elf with stdin from infile; returns its stdout (malloc'd). */
static char *run_addr2line(const char *elf, const char *infile, char **argv_addrs, int naddrs)
{
	int p[2];
	if (pipe(p) != 0)
		return NULL;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		if (infile) {
			int fd = open(infile, O_RDONLY);
			dup2(fd, 0);
		}
		char a0[] = "addr2line", a1[] = "-f", a2[] = "-e";
		char *argv[8 + 1] = {a0, a1, a2, (char *)elf};
		int k = 4;
		for (int i = 0; i < naddrs && k < 8; i++)
			argv[k++] = argv_addrs[i];
		argv[k] = NULL;
		execvp("addr2line", argv);
		_exit(127);
	}
	close(p[1]);
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	ssize_t r;
	while ((r = read(p[0], buf + len, cap - len - 1)) > 0) {
		len += (size_t)r;
		if (cap - len < 4096)
			buf = realloc(buf, cap *= 2);
	}
	buf[len] = '\0';
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	return buf;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : pick_default();
	int n = argc > 2 ? atoi(argv[2]) : 10000;
	int m = argc > 3 ? atoi(argv[3]) : 50;
	if (!path || n <= 0) {
		fprintf(stderr, "usage: %s [ELF] [N] [M]\n", argv[0]);
		return 2;
	}
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		perror(path);
		return 1;
	}
	/* the executable segment, from the program headers */
	elf_version(EV_CURRENT);
	Elf *e = elf_begin(fd, ELF_C_READ, NULL);
	size_t np = 0;
	uint64_t xoff = 0, xlen = 0, xvaddr = 0;
	if (e && elf_getphdrnum(e, &np) == 0)
		for (size_t i = 0; i < np; i++) {
			GElf_Phdr ph;
			if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_LOAD && (ph.p_flags & PF_X) &&
			    ph.p_filesz > xlen) {
				xoff = ph.p_offset;
				xlen = ph.p_filesz;
				xvaddr = ph.p_vaddr;
			}
		}
	elf_end(e);
	if (!xlen) {
		fprintf(stderr, "%s: no executable PT_LOAD\n", path);
		return 1;
	}
	char *base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
	if (base == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	close(fd);
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	uint64_t *addrs = malloc(2 * (size_t)n * sizeof *addrs);
	for (int i = 0; i < 2 * n; i++)
		addrs[i] = (uint64_t)(uintptr_t)base + xoff + rnd(&seed) % xlen;
	printf("file: %s (%.1f MB), executable segment %.1f MB, N = %d\n", path,
	       st.st_size / 1048576.0, xlen / 1048576.0, n);

	pid_t self = getpid();
	struct dn_frame *fr = malloc((size_t)n * sizeof *fr);
	double t0 = now();
	struct dn_symbolizer *s = dn_sym_new();
	dn_sym_capture(s, self);
	double t1 = now();
	dn_sym_resolve(s, self, addrs[0], &fr[0]);
	double t2 = now();
	for (int i = 1; i < n; i++)
		dn_sym_resolve(s, self, addrs[i], &fr[i]);
	double t3 = now();
	int named = 0;
	for (int i = 0; i < n; i++)
		named += fr[i].name != NULL;
	printf("denet cold: capture %.2f ms, first address (module load) %.2f ms, "
	       "total for %d addresses %.2f ms (%.1f us/address), %d named\n",
	       (t1 - t0) * 1e3, (t2 - t1) * 1e3, n, (t3 - t0) * 1e3, (t3 - t0) * 1e6 / n, named);

	/* warm, result-cache misses: other addresses, module loaded */
	struct dn_frame f;
	int reps = 20;
	double t4 = now();
	for (int r = 0; r < reps; r++)
		for (int i = 0; i < n; i++)
			dn_sym_resolve(s, self, addrs[n + i] + (uint64_t)r, &f);
	double t5 = now();
	printf("denet warm (lookup, cache miss): %.1f ns/address, %.2f M addresses/s\n",
	       (t5 - t4) * 1e9 / ((double)reps * n), (double)reps * n / (t5 - t4) / 1e6);
	/* warm, the same addresses: result cache (4096 entries; N larger thrashes it) */
	int hn = n < 2048 ? n : 2048;
	reps = 200;
	double t6 = now();
	for (int r = 0; r < reps; r++)
		for (int i = 0; i < hn; i++)
			dn_sym_resolve(s, self, addrs[i], &f);
	double t7 = now();
	printf("denet warm (result cache hit, %d addresses): %.1f ns/address, %.2f M addresses/s\n",
	       hn, (t7 - t6) * 1e9 / ((double)reps * hn), (double)reps * hn / (t7 - t6) / 1e6);

	/* addr2line takes ELF addresses */
	char tmpl[] = "/tmp/dn-bench-XXXXXX";
	int tfd = mkstemp(tmpl);
	FILE *tf = fdopen(tfd, "w");
	for (int i = 0; i < n; i++)
		fprintf(tf, "0x%llx\n",
			(unsigned long long)(addrs[i] - (uint64_t)(uintptr_t)base - xoff + xvaddr));
	fclose(tf);
	if (system("command -v addr2line >/dev/null 2>&1") != 0) {
		printf("addr2line: not installed\n");
		unlink(tmpl);
		return 0;
	}
	int mm = m < n ? m : n;
	double t8 = now();
	for (int i = 0; i < mm; i++) {
		char a[32];
		snprintf(a, sizeof a, "0x%llx",
			 (unsigned long long)(addrs[i] - (uint64_t)(uintptr_t)base - xoff + xvaddr));
		char *av[1] = {a};
		free(run_addr2line(path, NULL, av, 1));
	}
	double t9 = now();
	if (mm)
		printf("addr2line, one process per address (%d): %.2f ms/address\n", mm,
		       (t9 - t8) * 1e3 / mm);
	double ta = now();
	char *out = run_addr2line(path, tmpl, NULL, 0);
	double tb = now();
	printf("addr2line, one process for all %d: total %.1f ms (%.2f us/address)\n", n,
	       (tb - ta) * 1e3, (tb - ta) * 1e6 / n);
	/* agreement: addr2line -f prints "function\nfile:line\n" per address */
	int same = 0, differ = 0, a2l_only = 0, denet_only = 0, neither = 0, i = 0;
	for (char *line = strtok(out, "\n"); line && i < n; i++) {
		char *fn = line;
		strtok(NULL, "\n"); /* file:line */
		bool a2l_named = strcmp(fn, "??") != 0;
		const char *why = NULL;
		if (a2l_named && fr[i].name && strcmp(fr[i].name, fn) == 0)
			same++;
		else if (a2l_named && fr[i].name)
			differ++, why = "differ";
		else if (a2l_named)
			a2l_only++, why = "addr2line only";
		else if (fr[i].name)
			denet_only++, why = "denet only";
		else
			neither++;
		if (why && getenv("BENCH_VERBOSE"))
			printf("  %s at 0x%llx: denet %s+0x%llx, addr2line %s\n", why,
			       (unsigned long long)(addrs[i] - (uint64_t)(uintptr_t)base - xoff + xvaddr),
			       fr[i].name ? fr[i].name : "(none)", (unsigned long long)fr[i].offset, fn);
		line = strtok(NULL, "\n");
	}
	printf("names vs addr2line: %d identical, %d different, %d addr2line only, %d denet only, "
	       "%d neither (BENCH_VERBOSE=1 lists them)\n",
	       same, differ, a2l_only, denet_only, neither);
	free(out);
	unlink(tmpl);
	dn_sym_free(s);
	free(fr);
	free(addrs);
	munmap(base, (size_t)st.st_size);
	return 0;
}
