/*
 * procmaps.c — process mappings to modules, file offsets and ELF handles.
 *
 * Owns: the module cache (a hash by device and inode, plus a list of
 * modules outside it: [vdso] images and fuzzing inputs), the interned
 * strings (map and module paths, valid until dn_pm_free), and each
 * module's fd, image, Elf, segments and CFI. The arrays of held maps are
 * the caller's, released through dn_pm_release.
 *
 * Address translation: runtime address -> file offset (mapping start and
 * pgoff) -> ELF virtual address (the PT_LOAD segment holding that file
 * offset).
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "procfs.h"
#include "procmaps.h"

#define HASH_BUCKETS 256
#define STR_BUCKETS  1024

struct istr {
	struct istr *next;
	size_t n;
	char s[];
};

struct dn_procmaps {
	struct dn_pm_module *mods[HASH_BUCKETS];
	struct dn_pm_module *extra; /* outside the hash: [vdso] images, fuzz inputs */
	struct dn_pm_module *vdso_own;
	struct istr *strs[STR_BUCKETS];
	unsigned long clock;
	void (*priv_free)(void *priv);
};

/* ---- strings and files ---- */

const char *dn_pm_intern(struct dn_procmaps *c, const char *str, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)str[i]) * 16777619u;
	struct istr **b = &c->strs[h % STR_BUCKETS];
	for (struct istr *i = *b; i; i = i->next)
		if (i->n == n && memcmp(i->s, str, n) == 0)
			return i->s;
	struct istr *i = malloc(sizeof *i + n + 1);
	if (!i)
		return NULL;
	memcpy(i->s, str, n);
	i->s[n] = '\0';
	i->n = n;
	i->next = *b;
	*b = i;
	return i->s;
}

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

int dn_pm_read_file(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	int rc = read_fd_all(fd, out, len);
	close(fd);
	return rc;
}

/* ---- modules ---- */

static struct dn_pm_module *module_new(void)
{
	struct dn_pm_module *m = calloc(1, sizeof *m);

	if (m)
		m->fd = -1;
	return m;
}

/* What was loaded from the module's file: dropped when the file is opened
 * anew (a module first met unreadable). */
static void module_unload(struct dn_procmaps *c, struct dn_pm_module *m)
{
	if (m->priv && c->priv_free)
		c->priv_free(m->priv);
	m->priv = NULL;
	if (m->cfi)
		dwarf_cfi_end(m->cfi);
	m->cfi = NULL;
	m->cfi_state = 0;
	elf_end(m->elf);
	m->elf = NULL;
	m->elf_state = 0;
	free(m->segs);
	m->segs = NULL;
	m->nsegs = 0;
}

static void module_free(struct dn_procmaps *c, struct dn_pm_module *m)
{
	module_unload(c, m);
	if (m->fd >= 0)
		close(m->fd);
	free(m->image);
	free(m);
}

void dn_pm_touch(struct dn_procmaps *c, struct dn_pm_module *m)
{
	m->used = ++c->clock;
}

Elf *dn_pm_elf(struct dn_pm_module *m)
{
	if (m->elf_state)
		return m->elf;
	m->elf_state = -ENOEXEC;
	if (m->image)
		m->elf = elf_memory(m->image, m->image_len);
	else if (m->fd >= 0)
		m->elf = elf_begin(m->fd, ELF_C_READ_MMAP, NULL);
	else {
		m->elf_state = m->open_err ? m->open_err : -EBADF;
		return NULL;
	}
	if (!m->elf || elf_kind(m->elf) != ELF_K_ELF) {
		elf_end(m->elf);
		m->elf = NULL;
		return NULL;
	}
	size_t np = 0;
	if (elf_getphdrnum(m->elf, &np) == 0 && np) {
		m->segs = calloc(np, sizeof *m->segs);
		for (size_t i = 0; m->segs && i < np; i++) {
			GElf_Phdr ph;
			if (gelf_getphdr(m->elf, (int)i, &ph) && ph.p_type == PT_LOAD)
				m->segs[m->nsegs++] = (struct dn_pm_seg){ph.p_offset, ph.p_filesz,
									 ph.p_vaddr, ph.p_memsz};
		}
	}
	m->elf_state = 1;
	return m->elf;
}

bool dn_pm_vaddr(struct dn_pm_module *m, uint64_t fileoff, uint64_t *vaddr)
{
	if (!dn_pm_elf(m))
		return false;
	/* file bytes first; then the zero-filled tail (.bss) */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < m->nsegs; i++) {
			const struct dn_pm_seg *g = &m->segs[i];
			uint64_t len = pass ? g->memsz : g->filesz;
			if (fileoff >= g->off && fileoff - g->off < len) {
				*vaddr = fileoff - g->off + g->vaddr;
				return true;
			}
		}
	return false;
}

Dwarf_CFI *dn_pm_cfi(struct dn_pm_module *m)
{
	if (!m->cfi_state) {
		Elf *e = dn_pm_elf(m);
		m->cfi = e ? dwarf_getcfi_elf(e) : NULL;
		m->cfi_state = m->cfi ? 1 : -1;
	}
	return m->cfi;
}

/* Opens the file a mapping of pid shows, preferring map_files (the very
 * file mapped, even deleted or in another mount namespace). fd or -errno. */
static int open_mapped(pid_t pid, const struct dn_pm_map *mp)
{
	char p[PATH_MAX + 64];
	snprintf(p, sizeof p, "/proc/%d/map_files/%llx-%llx", (int)pid,
		 (unsigned long long)mp->start, (unsigned long long)mp->end);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	size_t n = strlen(mp->path);
	if (n > 10 && strcmp(mp->path + n - 10, " (deleted)") == 0)
		return -ENOENT;
	if (n >= PATH_MAX)
		return -ENAMETOOLONG;
	snprintf(p, sizeof p, "/proc/%d/root%s", (int)pid, mp->path);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fd = open(mp->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* a replaced file at the same path is another file: nothing from it */
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_ino != mp->ino) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

static struct dn_pm_module *module_get(struct dn_procmaps *c, pid_t pid, const struct dn_pm_map *mp)
{
	size_t h = ((size_t)mp->ino * 31u + (size_t)mp->dev) % HASH_BUCKETS;
	struct dn_pm_module *m;

	for (m = c->mods[h]; m; m = m->next)
		if (m->dev == mp->dev && m->ino == mp->ino)
			break;
	if (!m) {
		m = module_new();
		if (!m)
			return NULL;
		m->dev = mp->dev;
		m->ino = mp->ino;
		m->path = mp->path;
		m->next = c->mods[h];
		c->mods[h] = m;
	}
	dn_pm_touch(c, m);
	/* met unreadable before (another process, another namespace): retry */
	if (m->fd < 0) {
		int fd = open_mapped(pid, mp);
		if (fd >= 0) {
			module_unload(c, m);
			m->fd = fd;
			m->open_err = 0;
		} else
			m->open_err = fd;
	}
	return m;
}

/* ---- [vdso] ---- */

struct span {
	uint64_t start, end;
	bool found;
};

static int vdso_span_of(void *ctx, const struct dn_maps_entry *e)
{
	struct span *s = ctx;

	if (e->pathlen == 6 && memcmp(e->path, "[vdso]", 6) == 0) {
		s->start = e->start;
		s->end = e->end;
		s->found = true;
		return 1;
	}
	return 0;
}

/* The vdso image of pid: ours when the mapping has the same size (same
 * kernel), else read from /proc/PID/mem (another ABI). */
static struct dn_pm_module *vdso_module(struct dn_procmaps *c, pid_t pid,
					const struct dn_pm_map *mp)
{
	if (!c->vdso_own) {
		struct dn_pm_module *m = module_new();
		if (!m)
			return NULL;
		m->path = mp->path;
		m->pinned = true;
		unsigned long base = getauxval(AT_SYSINFO_EHDR);
		struct span sp = {0};
		char *maps;
		size_t len;
		if (base && dn_pm_read_file("/proc/self/maps", &maps, &len) == 0) {
			dn_proc_parse_maps(maps, len, vdso_span_of, &sp);
			if (sp.found && sp.start == base &&
			    (m->image = malloc(sp.end - sp.start))) {
				memcpy(m->image, (void *)base, sp.end - sp.start);
				m->image_len = sp.end - sp.start;
			}
			free(maps);
		}
		if (!m->image)
			m->open_err = -ENOENT;
		m->next = c->extra;
		c->extra = m;
		c->vdso_own = m;
	}
	if (c->vdso_own->image_len == mp->end - mp->start)
		return c->vdso_own;
	struct dn_pm_module *m = module_new();
	if (!m)
		return NULL;
	m->path = mp->path;
	m->next = c->extra;
	c->extra = m;
	char p[64];
	snprintf(p, sizeof p, "/proc/%d/mem", (int)pid);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	size_t n = mp->end - mp->start;
	if (fd >= 0 && n < (64u << 20) && (m->image = malloc(n)) &&
	    pread(fd, m->image, n, (off_t)mp->start) == (ssize_t)n)
		m->image_len = n;
	else
		m->open_err = -ENOENT;
	if (fd >= 0)
		close(fd);
	return m;
}

/* ---- maps ---- */

struct parse_ctx {
	struct dn_procmaps *c;
	pid_t pid;
	struct dn_pm_map *v;
	size_t n, cap;
};

static int add_map(void *ctx, const struct dn_maps_entry *e)
{
	struct parse_ctx *pc = ctx;

	if (pc->n == pc->cap) {
		size_t nc = pc->cap ? pc->cap * 2 : 64;
		struct dn_pm_map *nv = realloc(pc->v, nc * sizeof *nv);
		if (!nv)
			return -ENOMEM;
		pc->v = nv;
		pc->cap = nc;
	}
	struct dn_pm_map *mp = &pc->v[pc->n];
	*mp = (struct dn_pm_map){.start = e->start,
				 .end = e->end,
				 .pgoff = e->pgoff,
				 .dev = makedev(e->dev_major, e->dev_minor),
				 .ino = (ino_t)e->inode,
				 .kind = DN_PM_ANON,
				 .exec = e->perms[2] == 'x'};
	if (e->path) {
		mp->path = dn_pm_intern(pc->c, e->path, e->pathlen);
		if (!mp->path)
			return -ENOMEM;
	}
	if (mp->path && strcmp(mp->path, "[vdso]") == 0) {
		mp->kind = DN_PM_VDSO;
		mp->mod = vdso_module(pc->c, pc->pid, mp);
	} else if (e->inode && mp->path && mp->path[0] == '/') {
		mp->kind = DN_PM_FILE;
		if (mp->exec)
			mp->mod = module_get(pc->c, pc->pid, mp);
	}
	if (mp->mod)
		mp->mod->refs++;
	pc->n++;
	return 0;
}

static int map_cmp(const void *a, const void *b)
{
	const struct dn_pm_map *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

int dn_pm_parse(struct dn_procmaps *c, pid_t pid, const char *buf, size_t len,
		struct dn_pm_maps *out)
{
	struct parse_ctx pc = {.c = c, .pid = pid};
	int r = dn_proc_parse_maps(buf, len, add_map, &pc);

	*out = (struct dn_pm_maps){.pid = pid, .v = pc.v, .n = pc.n};
	if (r < 0) {
		dn_pm_release(c, out);
		return r;
	}
	/* the kernel writes them in order; text from elsewhere may not be */
	for (size_t i = 1; i < out->n; i++)
		if (out->v[i].start < out->v[i - 1].start) {
			qsort(out->v, out->n, sizeof *out->v, map_cmp);
			break;
		}
	return 0;
}

int dn_pm_read(struct dn_procmaps *c, pid_t pid, struct dn_pm_maps *out)
{
	char path[64], *buf;
	size_t len;

	*out = (struct dn_pm_maps){.pid = pid};
	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	int rc = dn_pm_read_file(path, &buf, &len);
	if (rc == 0) {
		/* a zombie or a kernel thread has empty maps */
		rc = len == 0 && kill(pid, 0) != 0 ? -ESRCH : dn_pm_parse(c, pid, buf, len, out);
		free(buf);
	} else if (rc == -EPERM)
		rc = -EACCES;
	else if (rc != -ENOMEM && rc != -EACCES)
		rc = -ESRCH;
	return rc;
}

void dn_pm_release(struct dn_procmaps *c, struct dn_pm_maps *m)
{
	(void)c;
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].mod && m->v[i].mod->refs)
			m->v[i].mod->refs--;
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

const struct dn_pm_map *dn_pm_find(const struct dn_pm_maps *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (addr < m->v[mid].start)
			hi = mid;
		else if (addr >= m->v[mid].end)
			lo = mid + 1;
		else
			return &m->v[mid];
	}
	return NULL;
}

/* ---- the cache ---- */

struct dn_procmaps *dn_pm_new(void (*priv_free)(void *priv))
{
	if (elf_version(EV_CURRENT) == EV_NONE) {
		errno = ENOTSUP;
		return NULL;
	}
	struct dn_procmaps *c = calloc(1, sizeof *c);
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->priv_free = priv_free;
	return c;
}

void dn_pm_free(struct dn_procmaps *c)
{
	if (!c)
		return;
	for (size_t i = 0; i <= HASH_BUCKETS; i++) {
		struct dn_pm_module **head = i < HASH_BUCKETS ? &c->mods[i] : &c->extra;
		for (struct dn_pm_module *m = *head, *n; m; m = n) {
			n = m->next;
			module_free(c, m);
		}
	}
	for (size_t i = 0; i < STR_BUCKETS; i++)
		for (struct istr *x = c->strs[i], *n; x; x = n) {
			n = x->next;
			free(x);
		}
	free(c);
}

/* Is m one no held maps point at, used at or before `cutoff`? */
static bool stale(const struct dn_pm_module *m, unsigned long cutoff)
{
	return !m->pinned && m->refs == 0 && m->used <= cutoff;
}

static int ulong_cmp(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

size_t dn_pm_trim(struct dn_procmaps *c, size_t keep)
{
	size_t nunused = 0, nfreed = 0, k = 0;

	for (size_t i = 0; i <= HASH_BUCKETS; i++)
		for (struct dn_pm_module *m = i < HASH_BUCKETS ? c->mods[i] : c->extra; m;
		     m = m->next)
			nunused += stale(m, ULONG_MAX);
	if (nunused <= keep)
		return 0;
	/* the cutoff: keep the `keep` most recently used */
	unsigned long *v = malloc(nunused * sizeof *v);
	if (!v)
		return 0;
	for (size_t i = 0; i <= HASH_BUCKETS; i++)
		for (struct dn_pm_module *m = i < HASH_BUCKETS ? c->mods[i] : c->extra; m;
		     m = m->next)
			if (stale(m, ULONG_MAX))
				v[k++] = m->used;
	qsort(v, k, sizeof *v, ulong_cmp);
	unsigned long cutoff = v[k - keep - 1];
	free(v);
	for (size_t i = 0; i <= HASH_BUCKETS; i++) {
		struct dn_pm_module **mp = i < HASH_BUCKETS ? &c->mods[i] : &c->extra;
		while (*mp) {
			struct dn_pm_module *m = *mp;
			if (!stale(m, cutoff)) {
				mp = &m->next;
				continue;
			}
			*mp = m->next;
			module_free(c, m);
			nfreed++;
		}
	}
	return nfreed;
}

void dn_pm_count(const struct dn_procmaps *c, size_t *modules, size_t *unused)
{
	*modules = *unused = 0;
	for (size_t i = 0; i <= HASH_BUCKETS; i++)
		for (const struct dn_pm_module *m = i < HASH_BUCKETS ? c->mods[i] : c->extra; m;
		     m = m->next) {
			(*modules)++;
			*unused += !m->pinned && m->refs == 0;
		}
}

#ifdef DN_FUZZING
struct dn_pm_module *dn_pm_open_file(struct dn_procmaps *c, const char *path)
{
	struct dn_pm_module *m = module_new();

	if (!m)
		return NULL;
	m->path = dn_pm_intern(c, path, strlen(path));
	m->fd = open(path, O_RDONLY | O_CLOEXEC);
	m->open_err = m->fd < 0 ? -errno : 0;
	m->next = c->extra;
	c->extra = m;
	return m;
}
#endif
