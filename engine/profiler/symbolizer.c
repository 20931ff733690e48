/*
 * symbolizer.c — addresses to names, in process, for off-CPU stacks and Lua.
 *
 * Owns: the module cache (one entry per mapped ELF file, keyed by the
 * device and inode that /proc/PID/maps shows, holding an open fd so
 * deleted or replaced binaries and other mount namespaces keep working),
 * the per-pid maps (captured, so exited processes still symbolize), the
 * kernel symbol table, JIT perf maps, interned strings, and a direct-mapped
 * result cache. Paths (interned) live until dn_sym_free; symbol names and
 * source files until the dn_sym_trim that frees their module.
 *
 * Lifetime: a process's maps are held until dn_sym_prune after a
 * dn_sym_mark_gone that found it gone (the caller symbolizes the stacks it
 * left in between). A module counts the maps that reference it; the ones
 * no held process maps stay cached, UNUSED_MODULES of them at most (the
 * most recently used: a workload that keeps starting the same programs
 * does not reload them), the rest are freed by dn_sym_trim.
 *
 * Address translation: runtime address -> file offset (mapping start and
 * pgoff) -> ELF virtual address (the PT_LOAD segment holding that file
 * offset). Using the file offset as the address is wrong for non-PIE and
 * lld-linked binaries. Symbols come from .symtab and .dynsym, or from a
 * separate debug file when the binary is stripped. libdw is used only for
 * file:line and CFI, never libdwfl: no debuginfod, no subprocess.
 */
#include "symbolizer.h"

#include <elfutils/libdw.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#ifndef DW_OP_bregx
#define DW_OP_bregx 0x92
#endif
#ifndef DW_OP_call_frame_cfa
#define DW_OP_call_frame_cfa 0x9c
#endif
#ifndef DW_OP_plus_uconst
#define DW_OP_plus_uconst 0x23
#endif

/* DWARF register number of the stack pointer. */
#if defined(__x86_64__)
#define DN_DWARF_SP 7
#elif defined(__aarch64__)
#define DN_DWARF_SP 31
#elif defined(__i386__)
#define DN_DWARF_SP 4
#else
#define DN_DWARF_SP -1
#endif

#define RCACHE_BITS  12
#define HASH_BUCKETS 256
/* Modules kept open while no held process maps them. */
#define UNUSED_MODULES 32
/* Re-read the live maps of a pid on a miss at most this often. */
#define REFRESH_NS 50000000ll

struct sym {
	uint64_t start, end;
	const char *name;
};

struct seg {
	uint64_t off, filesz, vaddr, memsz;
};

struct module {
	struct module *next;
	dev_t dev;
	ino_t ino;
	const char *path; /* interned */
	int fd;		  /* the mapped file, -1 when not (yet) opened */
	int state;	  /* 0 not loaded, 1 loaded, <0 -errno of the load */
	bool has_symtab, has_debug_info;
	struct seg *segs;
	size_t nsegs;
	struct sym *syms;
	size_t nsyms;
	char *names;
	char *debug_path; /* separate debug file or NULL */
	void *image;	  /* in-memory ELF ([vdso]) instead of fd */
	size_t image_len;
	/* lazily, for CFI and lines */
	Elf *elf;
	int dw_state;
	int dw_fd;
	Elf *dw_elf;
	Dwarf *dw;
	int cfi_state;
	Dwarf_CFI *cfi_eh;
	size_t refs;	    /* maps of held processes that map it */
	unsigned long used; /* s->clock at its last use */
};

enum { MAP_FILE, MAP_VDSO, MAP_ANON };

struct map {
	uint64_t start, end, pgoff;
	const char *name; /* interned path, "[heap]", or NULL for anonymous */
	struct module *mod;
	int kind;
};

struct perfmap {
	struct perfmap *next;
	const char *path;
	struct sym *syms;
	size_t nsyms;
	char *names;
	time_t mtime;
	off_t size;
	bool used; /* scratch of dn_sym_trim */
};

struct proc {
	struct proc *next;
	pid_t pid;
	bool captured;
	bool gone; /* found gone by the last dn_sym_mark_gone */
	uint32_t gen;
	struct map *maps;
	size_t nmaps;
	long long refreshed_ns;
	struct perfmap *perf;
	long long perf_checked_ns;
};

struct rentry {
	uint64_t addr;
	uint32_t gen;
	int rc;
	struct dn_frame f;
};

struct istr {
	struct istr *next;
	char s[];
};

struct dn_symbolizer {
	struct module *mods[HASH_BUCKETS];
	struct module *extra; /* modules not in the hash: [vdso] images */
	struct module *vdso_own;
	struct proc *procs[HASH_BUCKETS];
	struct perfmap *perfmaps; /* all ever loaded: their names stay valid */
	struct istr *strs[1024];
	uint32_t gen;
	unsigned long clock; /* module use order */
	bool lines;
	int kstate; /* 0 not loaded, 1 loaded, <0 -errno */
	struct sym *ksyms;
	size_t nksyms;
	char *knames;
	struct rentry rcache[1u << RCACHE_BITS];
};

/* ---- small helpers ---- */

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* Read a whole file (also /proc files of unknown size) into a NUL-terminated
   malloc'd buffer. 0 or -errno. */
static int read_fd_all(int fd, char **out, size_t *outlen)
{
	size_t cap = 16384, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + len, cap - len - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = -errno;
			free(buf);
			return e;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

static int read_file_all(const char *path, char **out, size_t *outlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = read_fd_all(fd, out, outlen);
	close(fd);
	return rc;
}

static const char *intern(struct dn_symbolizer *s, const char *str)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)str; *p; p++)
		h = (h ^ *p) * 16777619u;
	struct istr **b = &s->strs[h % (sizeof s->strs / sizeof s->strs[0])];
	for (struct istr *i = *b; i; i = i->next)
		if (strcmp(i->s, str) == 0)
			return i->s;
	size_t n = strlen(str);
	struct istr *i = malloc(sizeof *i + n + 1);
	if (!i)
		return NULL;
	memcpy(i->s, str, n + 1);
	i->next = *b;
	*b = i;
	return i->s;
}

/* The innermost symbol containing addr; NULL if none. */
static const struct sym *sym_find(const struct sym *v, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* lo = first with start > addr; a few steps back cover nested symbols */
	for (size_t i = lo, k = 0; i > 0 && k < 8; i--, k++)
		if (addr < v[i - 1].end)
			return &v[i - 1];
	return NULL;
}

/* ---- ELF symbols ---- */

struct rawsym {
	uint64_t start, size, cap; /* cap: end of the symbol's section, 0 unknown */
	const char *name;
	int rank; /* lower is preferred at the same address */
	size_t seq;
};

struct symvec {
	struct rawsym *v;
	size_t n, cap;
};

static int rawsym_cmp(const void *a, const void *b)
{
	const struct rawsym *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank - y->rank;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int symvec_push(struct symvec *sv, const struct rawsym *r)
{
	if (sv->n == sv->cap) {
		size_t nc = sv->cap ? sv->cap * 2 : 1024;
		struct rawsym *nv = realloc(sv->v, nc * sizeof *nv);
		if (!nv)
			return -ENOMEM;
		sv->v = nv;
		sv->cap = nc;
	}
	sv->v[sv->n] = *r;
	sv->v[sv->n].seq = sv->n;
	sv->n++;
	return 0;
}

/* Append the FUNC/IFUNC symbols of e's symbol tables of type `type` (SHT_SYMTAB or SHT_DYNSYM). */
static int collect_syms(Elf *e, Elf64_Word type, struct symvec *sv, bool *found)
{
	size_t shnum;
	if (elf_getshdrnum(e, &shnum) != 0)
		return 0;
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != type || sh.sh_entsize == 0)
			continue;
		Elf_Data *d = elf_getdata(scn, NULL);
		if (!d)
			continue;
		*found = true;
		size_t n = sh.sh_size / sh.sh_entsize;
		for (size_t i = 1; i < n; i++) {
			GElf_Sym st;
			if (!gelf_getsym(d, (int)i, &st))
				break;
			int t = GELF_ST_TYPE(st.st_info), b = GELF_ST_BIND(st.st_info);
			if ((t != STT_FUNC && t != STT_GNU_IFUNC) || st.st_shndx == SHN_UNDEF ||
			    st.st_shndx >= SHN_LORESERVE || st.st_value == 0)
				continue;
			const char *name = elf_strptr(e, sh.sh_link, st.st_name);
			if (!name || !*name)
				continue;
			struct rawsym r = {.start = st.st_value, .size = st.st_size, .name = name};
			GElf_Shdr ts;
			Elf_Scn *tscn = elf_getscn(e, st.st_shndx);
			if (tscn && gelf_getshdr(tscn, &ts) && ts.sh_addr <= st.st_value)
				r.cap = ts.sh_addr + ts.sh_size;
			/* at one address: sized before size 0, global before weak before
			   local, then a public name before a reserved "_x" one */
			r.rank = (st.st_size ? 0 : 8) +
				 (b == STB_GLOBAL ? 0
				  : b == STB_WEAK ? 2
						  : 4) +
				 (name[0] == '_');
			int rc = symvec_push(sv, &r);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* Sort, keep one symbol per address, give size-0 symbols an end, copy names into one arena. */
static int finish_syms(struct symvec *sv, struct sym **out, size_t *nout, char **arena)
{
	*out = NULL;
	*nout = 0;
	*arena = NULL;
	if (sv->n == 0)
		return 0;
	qsort(sv->v, sv->n, sizeof *sv->v, rawsym_cmp);
	size_t k = 0, bytes = 0;
	for (size_t i = 0; i < sv->n; i++) {
		if (k && sv->v[k - 1].start == sv->v[i].start)
			continue;
		sv->v[k++] = sv->v[i];
		bytes += strlen(sv->v[i].name) + 1;
	}
	struct sym *v = malloc(k * sizeof *v);
	char *a = malloc(bytes);
	if (!v || !a) {
		free(v);
		free(a);
		return -ENOMEM;
	}
	char *p = a;
	for (size_t i = 0; i < k; i++) {
		const struct rawsym *r = &sv->v[i];
		uint64_t end;
		if (r->size)
			end = r->start + r->size;
		else {
			end = i + 1 < k ? sv->v[i + 1].start : r->start + 1;
			if (r->cap && r->cap < end)
				end = r->cap;
		}
		size_t len = strlen(r->name) + 1;
		memcpy(p, r->name, len);
		v[i] = (struct sym){.start = r->start, .end = end, .name = p};
		p += len;
	}
	*out = v;
	*nout = k;
	*arena = a;
	return 0;
}

/* The section named want, if it has contents in the file. */
static Elf_Scn *find_section(Elf *e, const char *want)
{
	size_t shstrndx;
	if (elf_getshdrstrndx(e, &shstrndx) != 0)
		return NULL;
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh))
			continue;
		const char *n = elf_strptr(e, shstrndx, sh.sh_name);
		if (n && strcmp(n, want) == 0 && sh.sh_type != SHT_NOBITS)
			return scn;
	}
	return NULL;
}

static bool has_section(Elf *e, const char *want)
{
	return find_section(e, want) != NULL;
}

static Elf_Data *section_data(Elf *e, const char *want)
{
	Elf_Scn *scn = find_section(e, want);
	return scn ? elf_getdata(scn, NULL) : NULL;
}

/* GNU build-id; its length, 0 if none. */
static size_t build_id(Elf *e, const unsigned char **id)
{
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		Elf_Data *d = elf_getdata(scn, NULL);
		if (!d)
			continue;
		size_t off = 0, noff, doff;
		GElf_Nhdr nh;
		while ((off = gelf_getnote(d, off, &nh, &noff, &doff)) > 0) {
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
			    memcmp((char *)d->d_buf + noff, "GNU", 4) == 0 && nh.n_descsz > 0) {
				*id = (const unsigned char *)d->d_buf + doff;
				return nh.n_descsz;
			}
		}
	}
	return 0;
}

static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
	static uint32_t table[256];
	if (!table[1])
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	crc = ~crc;
	while (n--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static bool file_crc_is(const char *path, uint32_t want)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	unsigned char buf[65536];
	uint32_t crc = 0;
	ssize_t r;
	while ((r = read(fd, buf, sizeof buf)) > 0)
		crc = crc32_update(crc, buf, (size_t)r);
	close(fd);
	return r == 0 && crc == want;
}

/* Does the ELF at path carry this build-id (or can't we tell)? */
static bool debug_file_matches(const char *path, const unsigned char *id, size_t idlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool ok = false;
	Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (e && elf_kind(e) == ELF_K_ELF) {
		const unsigned char *did;
		size_t dlen = build_id(e, &did);
		ok = !idlen || (dlen == idlen && memcmp(did, id, idlen) == 0);
	}
	elf_end(e);
	close(fd);
	return ok;
}

/* Find a separate debug file: by build-id, then by .gnu_debuglink. malloc'd path or NULL. */
static char *find_debug_file(Elf *e, const char *modpath)
{
	char path[2 * PATH_MAX + 64];
	const unsigned char *id = NULL;
	size_t idlen = build_id(e, &id);
	if (idlen >= 2) {
		int n = snprintf(path, sizeof path, "/usr/lib/debug/.build-id/%02x/", id[0]);
		for (size_t i = 1; i < idlen && n < (int)sizeof path - 8; i++)
			n += snprintf(path + n, sizeof path - (size_t)n, "%02x", id[i]);
		snprintf(path + n, sizeof path - (size_t)n, ".debug");
		if (access(path, R_OK) == 0 && debug_file_matches(path, id, idlen))
			return strdup(path);
	}
	Elf_Data *d = section_data(e, ".gnu_debuglink");
	if (!d || !d->d_buf || d->d_size < 8 || !modpath)
		return NULL;
	const char *name = d->d_buf;
	size_t nlen = strnlen(name, d->d_size);
	if (nlen == 0 || nlen >= d->d_size || strchr(name, '/'))
		return NULL;
	uint32_t crc;
	size_t crc_off = (nlen + 4) & ~(size_t)3;
	if (crc_off + 4 > d->d_size)
		return NULL;
	memcpy(&crc, (const char *)d->d_buf + crc_off, 4);
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", modpath);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	for (int i = 0; i < 3; i++) {
		int n = snprintf(path, sizeof path, "%s%s%s/%s", i == 2 ? "/usr/lib/debug" : "",
				 dir, i == 1 ? "/.debug" : "", name);
		if (n < 0 || n >= PATH_MAX)
			continue;
		if (strcmp(path, modpath) == 0 || access(path, R_OK) != 0)
			continue;
		/* with a build-id, it must match; without one, the CRC must */
		if (idlen ? debug_file_matches(path, id, idlen) : file_crc_is(path, crc))
			return strdup(path);
	}
	return NULL;
}

static Elf *module_open_elf(struct module *m)
{
	if (m->image)
		return elf_memory(m->image, m->image_len);
	if (m->fd < 0)
		return NULL;
	return elf_begin(m->fd, ELF_C_READ_MMAP, NULL);
}

/* Load program headers and symbols of m once. */
static void module_load(struct module *m)
{
	if (m->state)
		return;
	Elf *e = module_open_elf(m);
	if (!e || elf_kind(e) != ELF_K_ELF) {
		elf_end(e);
		m->state = m->fd < 0 && !m->image ? -EBADF : -ENOEXEC;
		return;
	}
	size_t np = 0;
	if (elf_getphdrnum(e, &np) == 0 && np) {
		m->segs = calloc(np, sizeof *m->segs);
		for (size_t i = 0; m->segs && i < np; i++) {
			GElf_Phdr ph;
			if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_LOAD)
				m->segs[m->nsegs++] = (struct seg){ph.p_offset, ph.p_filesz,
								   ph.p_vaddr, ph.p_memsz};
		}
	}
	struct symvec sv = {0};
	bool found_symtab = false, found_dyn = false;
	/* .dynsym first: on full ties its exported names win */
	int rc = collect_syms(e, SHT_DYNSYM, &sv, &found_dyn);
	if (!rc)
		rc = collect_syms(e, SHT_SYMTAB, &sv, &found_symtab);
	m->has_symtab = found_symtab;
	m->has_debug_info = has_section(e, ".debug_info");
	if (!rc && !m->image && (!found_symtab || !m->has_debug_info))
		m->debug_path = find_debug_file(e, m->path);
	if (!rc && !found_symtab && m->debug_path) {
		int dfd = open(m->debug_path, O_RDONLY | O_CLOEXEC);
		Elf *de = dfd >= 0 ? elf_begin(dfd, ELF_C_READ_MMAP, NULL) : NULL;
		if (de && elf_kind(de) == ELF_K_ELF) {
			bool f = false;
			rc = collect_syms(de, SHT_SYMTAB, &sv, &f);
			m->has_symtab = f;
			/* names point into de: copy them before closing it */
			if (!rc)
				rc = finish_syms(&sv, &m->syms, &m->nsyms, &m->names);
		}
		elf_end(de);
		if (dfd >= 0)
			close(dfd);
		if (de)
			goto done;
	}
	if (!rc)
		rc = finish_syms(&sv, &m->syms, &m->nsyms, &m->names);
done:
	free(sv.v);
	elf_end(e);
	m->state = rc ? rc : 1;
}

/* Runtime file offset -> ELF virtual address through PT_LOAD; false if no segment holds it. */
static bool module_vaddr(const struct module *m, uint64_t fileoff, uint64_t *vaddr)
{
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < m->nsegs; i++) {
			const struct seg *g = &m->segs[i];
			uint64_t len = pass ? g->memsz : g->filesz;
			if (fileoff >= g->off && fileoff - g->off < len) {
				*vaddr = fileoff - g->off + g->vaddr;
				return true;
			}
		}
	return false;
}

static Dwarf *module_dwarf(struct module *m)
{
	if (m->dw_state)
		return m->dw;
	m->dw_state = -1;
	m->dw_fd = -1;
	if (m->has_debug_info || !m->debug_path) {
		if (!m->elf)
			m->elf = module_open_elf(m);
		if (m->elf)
			m->dw = dwarf_begin_elf(m->elf, DWARF_C_READ, NULL);
	}
	if (!m->dw && m->debug_path) {
		m->dw_fd = open(m->debug_path, O_RDONLY | O_CLOEXEC);
		if (m->dw_fd >= 0)
			m->dw_elf = elf_begin(m->dw_fd, ELF_C_READ_MMAP, NULL);
		if (m->dw_elf)
			m->dw = dwarf_begin_elf(m->dw_elf, DWARF_C_READ, NULL);
	}
	if (m->dw)
		m->dw_state = 1;
	return m->dw;
}

static void module_line(struct module *m, uint64_t vaddr, struct dn_frame *f)
{
	Dwarf *dw = module_dwarf(m);
	Dwarf_Die cu;
	if (!dw || !dwarf_addrdie(dw, vaddr, &cu))
		return;
	Dwarf_Line *l = dwarf_getsrc_die(&cu, vaddr);
	int line = 0;
	if (!l || dwarf_lineno(l, &line) != 0)
		return;
	f->file = dwarf_linesrc(l, NULL, NULL);
	f->line = f->file ? line : 0;
}

static void module_free(struct module *m)
{
	if (m->cfi_eh)
		dwarf_cfi_end(m->cfi_eh);
	if (m->dw)
		dwarf_end(m->dw);
	elf_end(m->dw_elf);
	if (m->dw_state && m->dw_fd >= 0)
		close(m->dw_fd);
	elf_end(m->elf);
	if (m->fd >= 0)
		close(m->fd);
	free(m->segs);
	free(m->syms);
	free(m->names);
	free(m->debug_path);
	free(m->image);
	free(m);
}

static struct module *module_new(void)
{
	struct module *m = calloc(1, sizeof *m);
	if (m) {
		m->fd = -1;
		m->dw_fd = -1;
	}
	return m;
}

/* Open the file a mapping of pid shows, preferring map_files (exact file, even deleted). */
static int open_mapped(pid_t pid, const struct map *mp, ino_t ino)
{
	char p[PATH_MAX + 64];
	snprintf(p, sizeof p, "/proc/%d/map_files/%llx-%llx", (int)pid,
		 (unsigned long long)mp->start, (unsigned long long)mp->end);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s", mp->name);
	size_t n = strlen(path);
	if (n > 10 && strcmp(path + n - 10, " (deleted)") == 0)
		return -ENOENT;
	snprintf(p, sizeof p, "/proc/%d/root%s", (int)pid, path);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* a replaced file at the same path is another file: no names from it */
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_ino != ino) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

static struct module *module_get(struct dn_symbolizer *s, pid_t pid, const struct map *mp,
				 dev_t dev, ino_t ino)
{
	size_t h = ((size_t)ino * 31u + (size_t)dev) % HASH_BUCKETS;
	struct module *m;
	for (m = s->mods[h]; m; m = m->next)
		if (m->dev == dev && m->ino == ino)
			break;
	if (!m) {
		m = module_new();
		if (!m)
			return NULL;
		m->dev = dev;
		m->ino = ino;
		m->path = mp->name;
		m->next = s->mods[h];
		s->mods[h] = m;
	}
	m->used = ++s->clock;
	if (m->fd < 0 && m->state <= 0) {
		int fd = open_mapped(pid, mp, ino);
		if (fd >= 0) {
			m->fd = fd;
			m->state = 0;
		} else if (!m->state)
			m->state = fd;
	}
	return m;
}

/* ---- [vdso] ---- */

static int vdso_span(const char *maps, uint64_t *start, uint64_t *end)
{
	const char *p = strstr(maps, "[vdso]");
	if (!p)
		return -ENOENT;
	while (p > maps && p[-1] != '\n')
		p--;
	unsigned long long a, b;
	if (sscanf(p, "%llx-%llx", &a, &b) != 2)
		return -EINVAL;
	*start = a;
	*end = b;
	return 0;
}

/* The vdso image of pid: ours when the mapping has the same size (same kernel), else from
   /proc/PID/mem (another ABI). */
static struct module *vdso_module(struct dn_symbolizer *s, pid_t pid, const struct map *mp)
{
	if (!s->vdso_own) {
		struct module *m = module_new();
		if (!m)
			return NULL;
		m->path = intern(s, "[vdso]");
		unsigned long base = getauxval(AT_SYSINFO_EHDR);
		char *maps;
		size_t len;
		uint64_t a, b;
		if (base && read_file_all("/proc/self/maps", &maps, &len) == 0) {
			if (vdso_span(maps, &a, &b) == 0 && a == base && b > a &&
			    (m->image = malloc(b - a))) {
				memcpy(m->image, (void *)base, b - a);
				m->image_len = b - a;
			}
			free(maps);
		}
		if (!m->image)
			m->state = -ENOENT;
		m->next = s->extra;
		s->extra = m;
		s->vdso_own = m;
	}
	if (s->vdso_own->image_len == mp->end - mp->start)
		return s->vdso_own;
	struct module *m = module_new();
	if (!m)
		return NULL;
	m->path = s->vdso_own->path;
	m->next = s->extra;
	s->extra = m;
	char p[64];
	snprintf(p, sizeof p, "/proc/%d/mem", (int)pid);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	size_t n = mp->end - mp->start;
	if (fd >= 0 && n < (64u << 20) && (m->image = malloc(n)) &&
	    pread(fd, m->image, n, (off_t)mp->start) == (ssize_t)n)
		m->image_len = n;
	else
		m->state = -ENOENT;
	if (fd >= 0)
		close(fd);
	return m;
}

/* ---- processes ---- */

/* The modules of maps v[0..n) lose the reference of these maps. */
static void maps_release(struct map *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].mod && v[i].mod->refs)
			v[i].mod->refs--;
}

/* Parse /proc/PID/maps text (buf NUL-terminated, modified) into p->maps, opening modules. */
static int parse_maps(struct dn_symbolizer *s, struct proc *p, char *buf, size_t len)
{
	size_t cap = 64, n = 0;
	struct map *v = malloc(cap * sizeof *v);
	if (!v)
		return -ENOMEM;
	char *line = buf, *end = buf + len;
	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		if (nl)
			*nl = '\0';
		unsigned long long a, b, off, inode;
		unsigned maj, min;
		char perms[8];
		int pos = 0;
		if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &a, &b, perms, &off, &maj,
			   &min, &inode, &pos) == 7 &&
		    b > a) {
			if (n == cap) {
				struct map *nv = realloc(v, cap * 2 * sizeof *v);
				if (!nv) {
					maps_release(v, n);
					free(v);
					return -ENOMEM;
				}
				v = nv;
				cap *= 2;
			}
			const char *name = pos ? line + pos : "";
			struct map *mp = &v[n++];
			*mp = (struct map){.start = a, .end = b, .pgoff = off, .kind = MAP_ANON};
			mp->name = *name ? intern(s, name) : NULL;
			bool exec = perms[2] == 'x';
			if (strcmp(name, "[vdso]") == 0) {
				mp->kind = MAP_VDSO;
				mp->mod = vdso_module(s, p->pid, mp);
			} else if (inode && name[0] == '/' && mp->name) {
				mp->kind = MAP_FILE;
				if (exec)
					mp->mod = module_get(s, p->pid, mp, makedev(maj, min),
							     (ino_t)inode);
			}
			if (mp->mod)
				mp->mod->refs++;
		}
		line = nl ? nl + 1 : end;
	}
	maps_release(p->maps, p->nmaps);
	free(p->maps);
	p->maps = v;
	p->nmaps = n;
	p->gen = ++s->gen ? s->gen : ++s->gen;
	p->refreshed_ns = now_ns();
	return 0;
}

static int proc_read_maps(struct dn_symbolizer *s, struct proc *p)
{
	char path[64], *buf;
	size_t len;
	snprintf(path, sizeof path, "/proc/%d/maps", (int)p->pid);
	int rc = read_file_all(path, &buf, &len);
	if (rc == 0) {
		/* a zombie or a kernel thread has empty maps */
		rc = len == 0 && kill(p->pid, 0) != 0 ? -ESRCH : parse_maps(s, p, buf, len);
		free(buf);
	} else if (rc == -EPERM)
		rc = -EACCES;
	else if (rc != -ENOMEM && rc != -EACCES)
		rc = -ESRCH;
	return rc;
}

static struct proc **proc_slot(struct dn_symbolizer *s, pid_t pid)
{
	struct proc **pp = &s->procs[(unsigned)pid % HASH_BUCKETS];
	while (*pp && (*pp)->pid != pid)
		pp = &(*pp)->next;
	return pp;
}

static int proc_get(struct dn_symbolizer *s, pid_t pid, bool capture, struct proc **out)
{
	struct proc **pp = proc_slot(s, pid);
	if (*pp && !capture) {
		*out = *pp;
		return 0;
	}
	struct proc *p = *pp;
	bool fresh = !p;
	if (fresh) {
		p = calloc(1, sizeof *p);
		if (!p)
			return -ENOMEM;
		p->pid = pid;
	}
	int rc = proc_read_maps(s, p);
	if (rc) {
		if (fresh)
			free(p);
		return rc;
	}
	if (capture)
		p->captured = true;
	p->gone = false; /* read now: there (maybe a new process under that pid) */
	if (fresh)
		*pp = p;
	*out = p;
	return 0;
}

static const struct map *map_find(const struct proc *p, uint64_t addr)
{
	size_t lo = 0, hi = p->nmaps;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (addr < p->maps[mid].start)
			hi = mid;
		else if (addr >= p->maps[mid].end)
			lo = mid + 1;
		else
			return &p->maps[mid];
	}
	return NULL;
}

/* The mapping of addr; a live process whose maps changed is re-read (rate-limited). */
static const struct map *proc_map(struct dn_symbolizer *s, struct proc *p, uint64_t addr)
{
	const struct map *mp = map_find(p, addr);
	if (mp || now_ns() - p->refreshed_ns < REFRESH_NS || kill(p->pid, 0) != 0)
		return mp;
	uint32_t gen = p->gen;
	struct map *old = p->maps;
	size_t nold = p->nmaps;
	p->maps = NULL; /* keep the old maps if the process is gone meanwhile */
	p->nmaps = 0;
	if (proc_read_maps(s, p) != 0) {
		maps_release(p->maps, p->nmaps);
		free(p->maps);
		p->maps = old;
		p->nmaps = nold;
		p->gen = gen;
		p->refreshed_ns = now_ns();
		return NULL;
	}
	maps_release(old, nold);
	free(old);
	return map_find(p, addr);
}

/* ---- JIT perf maps ---- */

static struct perfmap *perfmap_load(struct dn_symbolizer *s, const char *path,
				    const struct stat *st)
{
	char *buf;
	size_t len;
	if (read_file_all(path, &buf, &len) != 0)
		return NULL;
	struct perfmap *pm = calloc(1, sizeof *pm);
	struct symvec sv = {0};
	if (!pm)
		goto fail;
	pm->path = intern(s, path);
	pm->mtime = st->st_mtime;
	pm->size = st->st_size;
	for (char *line = buf, *nl; line < buf + len; line = nl + 1) {
		nl = memchr(line, '\n', (size_t)(buf + len - line));
		if (!nl)
			nl = buf + len;
		*nl = '\0';
		char *e1, *e2;
		unsigned long long a = strtoull(line, &e1, 16);
		unsigned long long sz = strtoull(e1, &e2, 16);
		if (e1 == line || e2 == e1 || *e2 != ' ')
			continue;
		/* later entries win at the same address (re-JIT) */
		struct rawsym r = {.start = a, .size = sz ? sz : 1, .name = e2 + 1, .rank = 0};
		if (symvec_push(&sv, &r))
			goto fail;
		sv.v[sv.n - 1].seq = SIZE_MAX - sv.n;
	}
	if (finish_syms(&sv, &pm->syms, &pm->nsyms, &pm->names))
		goto fail;
	free(sv.v);
	free(buf);
	pm->next = s->perfmaps;
	s->perfmaps = pm;
	return pm;
fail:
	free(sv.v);
	free(buf);
	free(pm);
	return NULL;
}

static struct perfmap *proc_perfmap(struct dn_symbolizer *s, struct proc *p)
{
	long long t = now_ns();
	if (p->perf_checked_ns && t - p->perf_checked_ns < REFRESH_NS)
		return p->perf;
	p->perf_checked_ns = t;
	char path[64];
	snprintf(path, sizeof path, "/tmp/perf-%d.map", (int)p->pid);
	struct stat st;
	if (stat(path, &st) != 0)
		return p->perf;
	if (p->perf && p->perf->mtime == st.st_mtime && p->perf->size == st.st_size)
		return p->perf;
	struct perfmap *pm = perfmap_load(s, path, &st);
	if (pm)
		p->perf = pm; /* the old one stays in s->perfmaps: its names remain valid */
	return p->perf;
}

/* ---- public API ---- */

struct dn_symbolizer *dn_sym_new(void)
{
	if (elf_version(EV_CURRENT) == EV_NONE) {
		errno = ENOTSUP;
		return NULL;
	}
	struct dn_symbolizer *s = calloc(1, sizeof *s);
	if (!s)
		errno = ENOMEM;
	return s;
}

void dn_sym_free(struct dn_symbolizer *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < HASH_BUCKETS; i++) {
		for (struct module *m = s->mods[i], *n; m; m = n) {
			n = m->next;
			module_free(m);
		}
		for (struct proc *p = s->procs[i], *n; p; p = n) {
			n = p->next;
			free(p->maps);
			free(p);
		}
	}
	for (struct module *m = s->extra, *n; m; m = n) {
		n = m->next;
		module_free(m);
	}
	for (struct perfmap *pm = s->perfmaps, *n; pm; pm = n) {
		n = pm->next;
		free(pm->syms);
		free(pm->names);
		free(pm);
	}
	for (size_t i = 0; i < sizeof s->strs / sizeof s->strs[0]; i++)
		for (struct istr *x = s->strs[i], *n; x; x = n) {
			n = x->next;
			free(x);
		}
	free(s->ksyms);
	free(s->knames);
	free(s);
}

int dn_sym_capture(struct dn_symbolizer *s, pid_t pid)
{
	struct proc *p;
	return proc_get(s, pid, true, &p);
}

void dn_sym_forget(struct dn_symbolizer *s, pid_t pid)
{
	struct proc **pp = proc_slot(s, pid);
	struct proc *p = *pp;
	if (!p)
		return;
	*pp = p->next;
	maps_release(p->maps, p->nmaps);
	free(p->maps);
	free(p);
}

size_t dn_sym_mark_gone(struct dn_symbolizer *s)
{
	size_t n = 0;
	for (size_t i = 0; i < HASH_BUCKETS; i++)
		for (struct proc *p = s->procs[i]; p; p = p->next) {
			/* a zombie is there (kill succeeds) until it is reaped */
			p->gone = kill(p->pid, 0) != 0 && errno == ESRCH;
			n += p->gone;
		}
	return n;
}

size_t dn_sym_prune(struct dn_symbolizer *s)
{
	size_t n = 0;
	for (size_t i = 0; i < HASH_BUCKETS; i++)
		for (struct proc **pp = &s->procs[i]; *pp;) {
			struct proc *p = *pp;
			if (!p->gone) {
				pp = &p->next;
				continue;
			}
			*pp = p->next;
			maps_release(p->maps, p->nmaps);
			free(p->maps);
			free(p);
			n++;
		}
	return n;
}

static int ulong_cmp(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
	return x < y ? -1 : x > y;
}

/* Is m a module no held process maps, used at or before `cutoff`? */
static bool module_stale(const struct dn_symbolizer *s, const struct module *m,
			 unsigned long cutoff)
{
	return m != s->vdso_own && m->refs == 0 && m->used <= cutoff;
}

size_t dn_sym_trim(struct dn_symbolizer *s)
{
	size_t nunused = 0, nfreed = 0;
	for (size_t i = 0; i < HASH_BUCKETS; i++)
		for (struct module *m = s->mods[i]; m; m = m->next)
			nunused += module_stale(s, m, ULONG_MAX);
	for (struct module *m = s->extra; m; m = m->next)
		nunused += module_stale(s, m, ULONG_MAX);
	if (nunused > UNUSED_MODULES) {
		/* the cutoff: keep the UNUSED_MODULES most recently used */
		unsigned long *v = malloc(nunused * sizeof *v);
		size_t k = 0;
		if (v) {
			for (size_t i = 0; i < HASH_BUCKETS; i++)
				for (struct module *m = s->mods[i]; m; m = m->next)
					if (module_stale(s, m, ULONG_MAX))
						v[k++] = m->used;
			for (struct module *m = s->extra; m; m = m->next)
				if (module_stale(s, m, ULONG_MAX))
					v[k++] = m->used;
			qsort(v, k, sizeof *v, ulong_cmp);
			unsigned long cutoff = v[k - UNUSED_MODULES - 1];
			free(v);
			for (size_t i = 0; i <= HASH_BUCKETS; i++) {
				struct module **mp = i < HASH_BUCKETS ? &s->mods[i] : &s->extra;
				while (*mp) {
					struct module *m = *mp;
					if (!module_stale(s, m, cutoff)) {
						mp = &m->next;
						continue;
					}
					*mp = m->next;
					module_free(m);
					nfreed++;
				}
			}
		}
	}
	/* JIT maps no held process uses (older versions of a live one too) */
	for (struct perfmap *pm = s->perfmaps; pm; pm = pm->next)
		pm->used = false;
	for (size_t i = 0; i < HASH_BUCKETS; i++)
		for (struct proc *p = s->procs[i]; p; p = p->next)
			if (p->perf)
				p->perf->used = true;
	for (struct perfmap **pp = &s->perfmaps; *pp;) {
		struct perfmap *pm = *pp;
		if (pm->used) {
			pp = &pm->next;
			continue;
		}
		*pp = pm->next;
		free(pm->syms);
		free(pm->names);
		free(pm);
		nfreed++;
	}
	if (nfreed) /* results pointing into what was freed */
		memset(s->rcache, 0, sizeof s->rcache);
	return nfreed;
}

void dn_sym_get_stats(const struct dn_symbolizer *s, struct dn_sym_stats *st)
{
	memset(st, 0, sizeof *st);
	for (size_t i = 0; i < HASH_BUCKETS; i++) {
		for (const struct proc *p = s->procs[i]; p; p = p->next)
			st->procs++;
		for (const struct module *m = s->mods[i]; m; m = m->next) {
			st->modules++;
			st->modules_unused += m->refs == 0;
		}
	}
	for (const struct module *m = s->extra; m; m = m->next) {
		st->modules++;
		st->modules_unused += m != s->vdso_own && m->refs == 0;
	}
	for (const struct perfmap *pm = s->perfmaps; pm; pm = pm->next)
		st->perfmaps++;
}

void dn_sym_set_lines(struct dn_symbolizer *s, bool enable)
{
	if (s->lines != enable)
		memset(s->rcache, 0, sizeof s->rcache);
	s->lines = enable;
}

static struct rentry *rcache_slot(struct dn_symbolizer *s, uint32_t gen, uint64_t addr)
{
	uint64_t h = (addr ^ ((uint64_t)gen << 40)) * 0x9E3779B97F4A7C15ull;
	return &s->rcache[h >> (64 - RCACHE_BITS)];
}

static int resolve_map(struct dn_symbolizer *s, struct proc *p, const struct map *mp, uint64_t addr,
		       struct dn_frame *out)
{
	uint64_t fileoff = addr - mp->start + mp->pgoff;
	if (mp->kind == MAP_ANON) {
		struct perfmap *pm = proc_perfmap(s, p);
		const struct sym *sy = pm ? sym_find(pm->syms, pm->nsyms, addr) : NULL;
		if (sy) {
			out->name = sy->name;
			out->offset = addr - sy->start;
			out->module = pm->path;
		} else {
			out->module = mp->name ? mp->name : intern(s, "[anon]");
			out->offset = addr - mp->start;
		}
		return 0;
	}
	out->module = mp->name ? mp->name : intern(s, "[vdso]");
	out->offset = fileoff;
	struct module *m = mp->mod;
	if (!m)
		return 0;
	m->used = ++s->clock;
	module_load(m);
	uint64_t vaddr;
	if (m->state != 1 || !module_vaddr(m, fileoff, &vaddr))
		return 0;
	out->offset = vaddr;
	const struct sym *sy = sym_find(m->syms, m->nsyms, vaddr);
	if (sy) {
		out->name = sy->name;
		out->offset = vaddr - sy->start;
	}
	if (s->lines)
		module_line(m, vaddr, out);
	return 0;
}

int dn_sym_resolve(struct dn_symbolizer *s, pid_t pid, uint64_t addr, struct dn_frame *out)
{
	*out = (struct dn_frame){.addr = addr, .offset = addr};
	struct proc *p;
	int rc = proc_get(s, pid, false, &p);
	if (rc) {
		out->module = intern(s, "[unknown]");
		return rc;
	}
	struct rentry *e = rcache_slot(s, p->gen, addr);
	if (e->gen == p->gen && e->addr == addr) {
		*out = e->f;
		return e->rc;
	}
	const struct map *mp = proc_map(s, p, addr);
	if (mp)
		rc = resolve_map(s, p, mp, addr, out);
	else {
		/* JIT code may live where no mapping is left (exited process) */
		struct perfmap *pm = proc_perfmap(s, p);
		const struct sym *sy = pm ? sym_find(pm->syms, pm->nsyms, addr) : NULL;
		if (sy) {
			out->name = sy->name;
			out->offset = addr - sy->start;
			out->module = pm->path;
			rc = 0;
		} else {
			out->module = intern(s, "[unknown]");
			rc = -ENOENT;
		}
	}
	if (!out->module)
		return -ENOMEM;
	e = rcache_slot(s, p->gen, addr); /* p->gen may have changed on a refresh */
	*e = (struct rentry){.addr = addr, .gen = p->gen, .rc = rc, .f = *out};
	return rc;
}

/* ---- kernel ---- */

static int kallsyms_load(struct dn_symbolizer *s)
{
	char *buf;
	size_t len;
	int rc = read_file_all("/proc/kallsyms", &buf, &len);
	if (rc)
		return rc;
	struct symvec sv = {0};
	bool nonzero = false;
	for (char *line = buf, *nl; line < buf + len; line = nl + 1) {
		nl = memchr(line, '\n', (size_t)(buf + len - line));
		if (!nl)
			nl = buf + len;
		*nl = '\0';
		char *e;
		unsigned long long a = strtoull(line, &e, 16);
		if (e == line || e[0] != ' ' || !e[1] || e[2] != ' ')
			continue;
		char t = e[1];
		if (a)
			nonzero = true;
		if (t != 'T' && t != 't' && t != 'W' && t != 'w')
			continue;
		char *name = e + 3, *tab = strchr(name, '\t');
		if (tab)
			*tab = '\0'; /* "\t[module]" */
		struct rawsym r = {.start = a,
				   .name = name,
				   .rank = (t == 'T'   ? 0
					    : t == 'W' ? 2
						       : 4) +
					   (name[0] == '_')};
		if ((rc = symvec_push(&sv, &r)) != 0)
			break;
	}
	if (!rc && !nonzero)
		rc = -EACCES;
	if (!rc)
		rc = finish_syms(&sv, &s->ksyms, &s->nksyms, &s->knames);
	/* a kernel symbol extends to the next one; the last one is one page */
	for (size_t i = 0; !rc && i < s->nksyms; i++)
		s->ksyms[i].end =
			i + 1 < s->nksyms ? s->ksyms[i + 1].start : s->ksyms[i].start + 4096;
	free(sv.v);
	free(buf);
	return rc;
}

int dn_sym_resolve_kernel(struct dn_symbolizer *s, uint64_t addr, struct dn_frame *out)
{
	*out = (struct dn_frame){.addr = addr, .offset = addr, .module = intern(s, "[kernel]")};
	if (!s->kstate) {
		int rc = kallsyms_load(s);
		s->kstate = rc ? rc : 1;
	}
	if (s->kstate < 0)
		return s->kstate;
	const struct sym *sy = sym_find(s->ksyms, s->nksyms, addr);
	if (!sy)
		return -ENOENT;
	out->name = sy->name;
	out->offset = addr - sy->start;
	return 0;
}

/* ---- formatting ---- */

void dn_sym_format(const struct dn_frame *f, char *buf, size_t len)
{
	if (!len)
		return;
	const char *base = f->name;
	if (!base) {
		const char *m = f->module ? f->module : "[unknown]";
		const char *sl = m[0] == '/' ? strrchr(m, '/') : NULL;
		base = sl && sl[1] ? sl + 1 : m;
	}
	snprintf(buf, len, "%s+0x%llx", base, (unsigned long long)f->offset);
	for (char *c = buf; *c; c++)
		if (*c == ';')
			*c = ':';
		else if (*c == '\n' || *c == '\r' || *c == '\t')
			*c = ' ';
}

/* ---- CFI ---- */

static bool find_frame(Dwarf_CFI *cfi, uint64_t vaddr, Dwarf_Frame **fr)
{
	return cfi && dwarf_cfi_addrframe(cfi, vaddr, fr) == 0;
}

static int module_ra_offset(struct module *m, uint64_t vaddr, int64_t *ra_off_from_sp);

int dn_sym_ra_offset(struct dn_symbolizer *s, pid_t pid, uint64_t addr, int64_t *ra_off_from_sp)
{
	if (DN_DWARF_SP < 0)
		return -ENOTSUP;
	struct proc *p;
	int rc = proc_get(s, pid, false, &p);
	if (rc)
		return rc == -ESRCH ? -ENOENT : rc;
	const struct map *mp = proc_map(s, p, addr);
	struct module *m = mp ? mp->mod : NULL;
	if (!m)
		return -ENOENT;
	module_load(m);
	uint64_t vaddr;
	if (m->state != 1 || !module_vaddr(m, addr - mp->start + mp->pgoff, &vaddr))
		return -ENOENT;
	return module_ra_offset(m, vaddr, ra_off_from_sp);
}

/* The CFI half of dn_sym_ra_offset, at an ELF virtual address of a loaded module. */
static int module_ra_offset(struct module *m, uint64_t vaddr, int64_t *ra_off_from_sp)
{
	int rc;
	if (!m->cfi_state) {
		m->cfi_state = -1;
		if (!m->elf)
			m->elf = module_open_elf(m);
		if (m->elf && (m->cfi_eh = dwarf_getcfi_elf(m->elf)))
			m->cfi_state = 1;
	}
	Dwarf_Frame *fr = NULL;
	if (!find_frame(m->cfi_eh, vaddr, &fr)) {
		Dwarf *dw = module_dwarf(m);
		if (!find_frame(dw ? dwarf_getcfi(dw) : NULL, vaddr, &fr))
			return -ENOENT;
	}
	rc = -ENOTSUP;
	Dwarf_Op *ops, mem[3];
	size_t nops;
	int ra = dwarf_frame_info(fr, NULL, NULL, NULL);
	if (ra >= 0 && dwarf_frame_cfa(fr, &ops, &nops) == 0 && nops == 1 &&
	    ops[0].atom == DW_OP_bregx && ops[0].number == DN_DWARF_SP) {
		int64_t cfa = (int64_t)ops[0].number2;
		if (dwarf_frame_register(fr, ra, mem, &ops, &nops) == 0 && ops && nops >= 1 &&
		    nops <= 2 && ops[0].atom == DW_OP_call_frame_cfa) {
			if (nops == 1) {
				*ra_off_from_sp = cfa;
				rc = 0;
			} else if (ops[1].atom == DW_OP_plus_uconst) {
				*ra_off_from_sp = cfa + (int64_t)ops[1].number;
				rc = 0;
			}
		}
	}
	free(fr);
	return rc;
}

#ifdef DN_FUZZING
/* ---- fuzzing entry points (tests/fuzz; built only with -DDN_FUZZING) ---- */

/* Load the ELF file at path as a module and resolve names, lines and CFI at
   the addresses it names (symbol starts, segments, a few fixed ones). */
int dn_sym_fuzz_file(const char *path)
{
	struct dn_symbolizer *s = dn_sym_new();
	struct module *m = s ? module_new() : NULL;
	if (!m) {
		dn_sym_free(s);
		return -ENOMEM;
	}
	m->path = intern(s, path);
	m->fd = open(path, O_RDONLY | O_CLOEXEC);
	module_load(m);
	int found = 0;
	if (m->state == 1) {
		uint64_t probe[64 + 3] = {0, 0x1000, UINT64_MAX};
		size_t np = 3;
		for (size_t i = 0; i < m->nsyms && np < 40; i++)
			probe[np++] = m->syms[i].start + (i & 1);
		for (size_t i = 0; i < m->nsegs && np < 64 + 3; i++)
			probe[np++] = m->segs[i].off + m->segs[i].filesz / 2;
		for (size_t i = 0; i < np; i++) {
			uint64_t vaddr;
			if (!module_vaddr(m, probe[i], &vaddr))
				vaddr = probe[i];
			struct dn_frame f = {.addr = probe[i], .module = m->path};
			const struct sym *sy = sym_find(m->syms, m->nsyms, vaddr);
			if (sy) {
				f.name = sy->name;
				f.offset = vaddr - sy->start;
				found++;
			}
			module_line(m, vaddr, &f);
			char buf[256];
			dn_sym_format(&f, buf, sizeof buf);
			int64_t ra;
			module_ra_offset(m, vaddr, &ra);
		}
	}
	module_free(m);
	dn_sym_free(s);
	return found;
}

/* Parse /proc/PID/maps text for a pid that does not exist, then look up addresses. */
int dn_sym_fuzz_maps(const char *text, size_t len)
{
	struct dn_symbolizer *s = dn_sym_new();
	struct proc *p = s ? calloc(1, sizeof *p) : NULL;
	char *buf = p ? malloc(len + 1) : NULL;
	if (!buf) {
		free(p);
		dn_sym_free(s);
		return -ENOMEM;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	p->pid = INT_MAX; /* above pid_max: no /proc entry */
	int rc = parse_maps(s, p, buf, len);
	free(buf);
	int hits = 0;
	for (size_t i = 0; !rc && i < p->nmaps && i < 16; i++) {
		const struct map *mp = map_find(p, p->maps[i].start);
		struct dn_frame f = {0};
		if (mp && resolve_map(s, p, mp, mp->start, &f) == 0)
			hits++;
	}
	*proc_slot(s, p->pid) = p; /* freed with s */
	dn_sym_free(s);
	return rc ? rc : hits;
}
#endif
