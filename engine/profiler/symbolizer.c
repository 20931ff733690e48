/*
 * symbolizer.c — addresses to names, in process, for off-CPU stacks and Lua.
 *
 * Owns: the per-pid maps (captured, so exited processes still symbolize),
 * each module's symbols and debug information (the module's priv; the
 * modules themselves, their files and ELF handles are procmaps'), the
 * kernel symbol table, JIT perf maps, and a direct-mapped result cache.
 * The kernel's symbols are read from /proc/kallsyms in two streaming passes
 * (count, then fill arrays of the exact size): the 6 MB text is never held,
 * which would double denet's peak RSS with --enable-ebpf.
 * Paths (interned by procmaps) live until dn_sym_free; symbol names and
 * source files until the dn_sym_trim that frees their module.
 *
 * Lifetime: a process's maps are held until dn_sym_prune after a
 * dn_sym_mark_gone that found it gone (the caller symbolizes the stacks it
 * left in between). The modules no held process maps stay cached,
 * UNUSED_MODULES of them at most (the most recently used: a workload that
 * keeps starting the same programs does not reload them), the rest are
 * freed by dn_sym_trim.
 *
 * Address translation (runtime address -> file offset -> ELF virtual
 * address) is procmaps'. Symbols come from .symtab and .dynsym, or from a
 * separate debug file when the binary is stripped. libdw is used only for
 * file:line, never libdwfl: no debuginfod, no subprocess.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cfi.h"
#include "procmaps.h"

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

/* What the symbolizer loads from a module (procmaps' module priv). */
struct symmod {
	int state; /* 0 not loaded, 1 loaded, <0 -errno of the load */
	bool has_symtab, has_debug_info;
	struct sym *syms;
	size_t nsyms;
	char *names;
	char *debug_path; /* separate debug file or NULL */
	/* lazily, for lines */
	int dw_state;
	int dw_fd;
	Elf *dw_elf;
	Dwarf *dw;
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
	struct dn_pm_maps maps;
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

struct dn_symbolizer {
	struct dn_procmaps *pm;
	struct proc *procs[HASH_BUCKETS];
	struct perfmap *perfmaps; /* all ever loaded: their names stay valid */
	uint32_t gen;
	bool lines;
	int kstate;	    /* 0 not loaded, 1 loaded, <0 -errno */
	struct ksym *ksyms; /* sorted by start, one per address */
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

static const char *intern(struct dn_symbolizer *s, const char *str)
{
	return dn_pm_intern(s->pm, str, strlen(str));
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

/* The symbols of module m, loaded once (m->priv). NULL on ENOMEM. */
static struct symmod *module_load(struct dn_pm_module *m)
{
	struct symmod *sm = m->priv;
	if (sm)
		return sm;
	sm = calloc(1, sizeof *sm);
	if (!sm)
		return NULL;
	sm->dw_fd = -1;
	m->priv = sm;
	Elf *e = dn_pm_elf(m);
	if (!e) {
		sm->state = m->fd < 0 && !m->image ? -EBADF : -ENOEXEC;
		return sm;
	}
	struct symvec sv = {0};
	bool found_symtab = false, found_dyn = false;
	/* .dynsym first: on full ties its exported names win */
	int rc = collect_syms(e, SHT_DYNSYM, &sv, &found_dyn);
	if (!rc)
		rc = collect_syms(e, SHT_SYMTAB, &sv, &found_symtab);
	sm->has_symtab = found_symtab;
	sm->has_debug_info = has_section(e, ".debug_info");
	if (!rc && !m->image && (!found_symtab || !sm->has_debug_info))
		sm->debug_path = find_debug_file(e, m->path);
	if (!rc && !found_symtab && sm->debug_path) {
		int dfd = open(sm->debug_path, O_RDONLY | O_CLOEXEC);
		Elf *de = dfd >= 0 ? elf_begin(dfd, ELF_C_READ_MMAP, NULL) : NULL;
		if (de && elf_kind(de) == ELF_K_ELF) {
			bool f = false;
			rc = collect_syms(de, SHT_SYMTAB, &sv, &f);
			sm->has_symtab = f;
			/* names point into de: copy them before closing it */
			if (!rc)
				rc = finish_syms(&sv, &sm->syms, &sm->nsyms, &sm->names);
		}
		elf_end(de);
		if (dfd >= 0)
			close(dfd);
		if (de)
			goto done;
	}
	if (!rc)
		rc = finish_syms(&sv, &sm->syms, &sm->nsyms, &sm->names);
done:
	free(sv.v);
	sm->state = rc ? rc : 1;
	return sm;
}

static Dwarf *module_dwarf(struct dn_pm_module *m, struct symmod *sm)
{
	if (sm->dw_state)
		return sm->dw;
	sm->dw_state = -1;
	if (sm->has_debug_info || !sm->debug_path) {
		Elf *e = dn_pm_elf(m);
		if (e)
			sm->dw = dwarf_begin_elf(e, DWARF_C_READ, NULL);
	}
	if (!sm->dw && sm->debug_path) {
		sm->dw_fd = open(sm->debug_path, O_RDONLY | O_CLOEXEC);
		if (sm->dw_fd >= 0)
			sm->dw_elf = elf_begin(sm->dw_fd, ELF_C_READ_MMAP, NULL);
		if (sm->dw_elf)
			sm->dw = dwarf_begin_elf(sm->dw_elf, DWARF_C_READ, NULL);
	}
	if (sm->dw)
		sm->dw_state = 1;
	return sm->dw;
}

static void module_line(struct dn_pm_module *m, struct symmod *sm, uint64_t vaddr,
			struct dn_frame *f)
{
	Dwarf *dw = module_dwarf(m, sm);
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

/* procmaps' priv_free: the module is going (or its file is opened anew). */
static void symmod_free(void *priv)
{
	struct symmod *sm = priv;
	if (sm->dw)
		dwarf_end(sm->dw);
	elf_end(sm->dw_elf);
	if (sm->dw_fd >= 0)
		close(sm->dw_fd);
	free(sm->syms);
	free(sm->names);
	free(sm->debug_path);
	free(sm);
}

/* ---- processes ---- */

static struct proc **proc_slot(struct dn_symbolizer *s, pid_t pid)
{
	struct proc **pp = &s->procs[(unsigned)pid % HASH_BUCKETS];
	while (*pp && (*pp)->pid != pid)
		pp = &(*pp)->next;
	return pp;
}

/* Installs freshly read maps into p (dropping the ones it held). */
static void proc_set_maps(struct dn_symbolizer *s, struct proc *p, struct dn_pm_maps *maps)
{
	dn_pm_release(s->pm, &p->maps);
	p->maps = *maps;
	p->gen = ++s->gen ? s->gen : ++s->gen;
	p->refreshed_ns = now_ns();
}

static void proc_free(struct dn_symbolizer *s, struct proc *p)
{
	dn_pm_release(s->pm, &p->maps);
	free(p);
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
	struct dn_pm_maps maps;
	int rc = dn_pm_read(s->pm, pid, &maps);
	if (rc) {
		if (fresh)
			free(p);
		return rc;
	}
	proc_set_maps(s, p, &maps);
	if (capture)
		p->captured = true;
	p->gone = false; /* read now: there (maybe a new process under that pid) */
	if (fresh)
		*pp = p;
	*out = p;
	return 0;
}

/* The mapping of addr; a live process whose maps changed is re-read (rate-limited). */
static const struct dn_pm_map *proc_map(struct dn_symbolizer *s, struct proc *p, uint64_t addr)
{
	const struct dn_pm_map *mp = dn_pm_find(&p->maps, addr);
	if (mp || now_ns() - p->refreshed_ns < REFRESH_NS || kill(p->pid, 0) != 0)
		return mp;
	struct dn_pm_maps maps;
	if (dn_pm_read(s->pm, p->pid, &maps) != 0) {
		/* keep the old maps: the process is gone meanwhile */
		p->refreshed_ns = now_ns();
		return NULL;
	}
	proc_set_maps(s, p, &maps);
	return dn_pm_find(&p->maps, addr);
}

/* ---- JIT perf maps ---- */

static struct perfmap *perfmap_load(struct dn_symbolizer *s, const char *path,
				    const struct stat *st)
{
	char *buf;
	size_t len;
	if (dn_pm_read_file(path, &buf, &len) != 0)
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
	struct dn_symbolizer *s = calloc(1, sizeof *s);
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->pm = dn_pm_new(symmod_free);
	if (!s->pm) {
		int e = errno;
		free(s);
		errno = e;
		return NULL;
	}
	return s;
}

void dn_sym_free(struct dn_symbolizer *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < HASH_BUCKETS; i++)
		for (struct proc *p = s->procs[i], *n; p; p = n) {
			n = p->next;
			proc_free(s, p);
		}
	for (struct perfmap *pm = s->perfmaps, *n; pm; pm = n) {
		n = pm->next;
		free(pm->syms);
		free(pm->names);
		free(pm);
	}
	dn_pm_free(s->pm);
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
	proc_free(s, p);
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
			proc_free(s, p);
			n++;
		}
	return n;
}

size_t dn_sym_trim(struct dn_symbolizer *s)
{
	size_t nfreed = dn_pm_trim(s->pm, UNUSED_MODULES);
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
	for (size_t i = 0; i < HASH_BUCKETS; i++)
		for (const struct proc *p = s->procs[i]; p; p = p->next)
			st->procs++;
	dn_pm_count(s->pm, &st->modules, &st->modules_unused);
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

static int resolve_map(struct dn_symbolizer *s, struct proc *p, const struct dn_pm_map *mp,
		       uint64_t addr, struct dn_frame *out)
{
	uint64_t fileoff = addr - mp->start + mp->pgoff;
	if (mp->kind == DN_PM_ANON) {
		struct perfmap *pm = proc_perfmap(s, p);
		const struct sym *sy = pm ? sym_find(pm->syms, pm->nsyms, addr) : NULL;
		if (sy) {
			out->name = sy->name;
			out->offset = addr - sy->start;
			out->module = pm->path;
		} else {
			out->module = mp->path ? mp->path : intern(s, "[anon]");
			out->offset = addr - mp->start;
		}
		return 0;
	}
	out->module = mp->path ? mp->path : intern(s, "[vdso]");
	out->offset = fileoff;
	struct dn_pm_module *m = mp->mod;
	if (!m)
		return 0;
	dn_pm_touch(s->pm, m);
	struct symmod *sm = module_load(m);
	uint64_t vaddr;
	if (!sm || sm->state != 1 || !dn_pm_vaddr(m, fileoff, &vaddr))
		return 0;
	out->offset = vaddr;
	const struct sym *sy = sym_find(sm->syms, sm->nsyms, vaddr);
	if (sy) {
		out->name = sy->name;
		out->offset = vaddr - sy->start;
	}
	if (s->lines)
		module_line(m, sm, vaddr, out);
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
	const struct dn_pm_map *mp = proc_map(s, p, addr);
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

/* A kernel text symbol: the next one's start is its end. */
struct ksym {
	uint64_t start;
	uint32_t name;	/* offset in knames */
	uint32_t order; /* rank << 24 | line: lower is preferred at one address */
};

struct kscan {
	size_t n, bytes;       /* counted (pass 1), or filled (pass 2) */
	size_t capn, capbytes; /* pass 2: the arrays' sizes */
	struct ksym *v;
	char *names;
	bool nonzero;
};

/* One line of /proc/kallsyms ("ADDR T name\t[module]", NUL-terminated):
 * count it, or store it while there is room. */
static void kallsyms_line(struct kscan *k, char *line)
{
	char *e;
	unsigned long long a = strtoull(line, &e, 16);

	if (e == line || e[0] != ' ' || !e[1] || e[2] != ' ')
		return;
	char t = e[1];
	if (a)
		k->nonzero = true;
	if (t != 'T' && t != 't' && t != 'W' && t != 'w')
		return;
	char *name = e + 3;
	/* The padding before each function (CONFIG_FUNCTION_PADDING_ALIGNMENT,
	 * kCFI preambles): half of a 6.x kernel's text symbols, and never a
	 * frame of a stack. Left out, the padding counts to the function before. */
	if (strncmp(name, "__pfx_", 6) == 0 || strncmp(name, "__cfi_", 6) == 0)
		return;
	size_t len = strcspn(name, "\t"); /* drop "\t[module]" */
	if (k->v) {
		if (k->n == k->capn || k->bytes + len + 1 > k->capbytes)
			return; /* a module loaded between the passes */
		uint32_t rank = (t == 'T' ? 0 : t == 'W' ? 2 : 4) + (name[0] == '_');
		k->v[k->n] = (struct ksym){.start = a,
					   .name = (uint32_t)k->bytes,
					   .order = rank << 24 | ((uint32_t)k->n & 0xffffff)};
		memcpy(k->names + k->bytes, name, len);
		k->names[k->bytes + len] = '\0';
	}
	k->n++;
	k->bytes += len + 1;
}

/* Reads /proc/kallsyms through a fixed buffer, line by line. */
static int kallsyms_pass(struct kscan *k)
{
	char buf[65536];
	size_t have = 0;
	int fd = open("/proc/kallsyms", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int rc = -errno;
			close(fd);
			return rc;
		}
		have += (size_t)r;
		buf[have] = '\0';
		char *line = buf, *nl;
		while ((nl = memchr(line, '\n', (size_t)(buf + have - line)))) {
			*nl = '\0';
			kallsyms_line(k, line);
			line = nl + 1;
		}
		have -= (size_t)(line - buf);
		if (r == 0 || have == sizeof buf - 1) {
			/* the end, or a line longer than the buffer: take what is there */
			if (have)
				kallsyms_line(k, buf);
			have = 0;
			if (r == 0)
				break;
		}
		memmove(buf, line, have);
	}
	close(fd);
	return 0;
}

static int ksym_cmp(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int kallsyms_load(struct dn_symbolizer *s)
{
	struct kscan k = {0};
	int rc = kallsyms_pass(&k);

	if (rc)
		return rc;
	if (!k.nonzero)
		return -EACCES; /* addresses hidden (kptr_restrict) */
	if (!k.n)
		return -ENOENT;
	k.capn = k.n;
	k.capbytes = k.bytes;
	k.v = malloc(k.capn * sizeof *k.v);
	k.names = malloc(k.capbytes);
	k.n = k.bytes = 0;
	if (!k.v || !k.names)
		rc = -ENOMEM;
	else
		rc = kallsyms_pass(&k);
	if (rc || !k.n) {
		free(k.v);
		free(k.names);
		return rc ? rc : -ENOENT;
	}
	qsort(k.v, k.n, sizeof *k.v, ksym_cmp);
	size_t n = 0;
	for (size_t i = 0; i < k.n; i++)
		if (!n || k.v[n - 1].start != k.v[i].start)
			k.v[n++] = k.v[i];
	s->ksyms = k.v;
	s->nksyms = n;
	s->knames = k.names;
	return 0;
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
	/* the last symbol that starts at or below addr */
	size_t lo = 0, hi = s->nksyms;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->ksyms[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return -ENOENT;
	const struct ksym *sy = &s->ksyms[lo - 1];
	/* the last symbol is taken to be one page long */
	if (lo == s->nksyms && addr - sy->start >= 4096)
		return -ENOENT;
	out->name = s->knames + sy->name;
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

#ifdef DN_FUZZING
/* ---- fuzzing entry points (tests/fuzz; built only with -DDN_FUZZING) ---- */

/* Load the ELF file at path as a module and resolve names, lines and CFI at
   the addresses it names (symbol starts, segments, a few fixed ones). */
int dn_sym_fuzz_file(const char *path)
{
	struct dn_symbolizer *s = dn_sym_new();
	struct dn_pm_module *m = s ? dn_pm_open_file(s->pm, path) : NULL;
	struct symmod *sm = m ? module_load(m) : NULL;
	if (!sm) {
		dn_sym_free(s);
		return -ENOMEM;
	}
	int found = 0;
	if (sm->state == 1) {
		uint64_t probe[64 + 3] = {0, 0x1000, UINT64_MAX};
		size_t np = 3;
		for (size_t i = 0; i < sm->nsyms && np < 40; i++)
			probe[np++] = sm->syms[i].start + (i & 1);
		for (size_t i = 0; i < m->nsegs && np < 64 + 3; i++)
			probe[np++] = m->segs[i].off + m->segs[i].filesz / 2;
		for (size_t i = 0; i < np; i++) {
			uint64_t vaddr;
			if (!dn_pm_vaddr(m, probe[i], &vaddr))
				vaddr = probe[i];
			struct dn_frame f = {.addr = probe[i], .module = m->path};
			const struct sym *sy = sym_find(sm->syms, sm->nsyms, vaddr);
			if (sy) {
				f.name = sy->name;
				f.offset = vaddr - sy->start;
				found++;
			}
			module_line(m, sm, vaddr, &f);
			char buf[256];
			dn_sym_format(&f, buf, sizeof buf);
			struct dn_cfi_rule rule;
			dn_cfi_rule(dn_pm_cfi(m), vaddr, &rule);
		}
	}
	dn_sym_free(s);
	return found;
}

/* Parse /proc/PID/maps text for a pid that does not exist, then look up addresses. */
int dn_sym_fuzz_maps(const char *text, size_t len)
{
	struct dn_symbolizer *s = dn_sym_new();
	struct proc *p = s ? calloc(1, sizeof *p) : NULL;
	if (!p) {
		dn_sym_free(s);
		return -ENOMEM;
	}
	p->pid = INT_MAX; /* above pid_max: no /proc entry */
	int rc = dn_pm_parse(s->pm, p->pid, text, len, &p->maps);
	int hits = 0;
	for (size_t i = 0; !rc && i < p->maps.n && i < 16; i++) {
		const struct dn_pm_map *mp = dn_pm_find(&p->maps, p->maps.v[i].start);
		struct dn_frame f = {0};
		if (mp && resolve_map(s, p, mp, mp->start, &f) == 0)
			hits++;
	}
	*proc_slot(s, p->pid) = p; /* freed with s */
	dn_sym_free(s);
	return rc ? rc : hits;
}
#endif
