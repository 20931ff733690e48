/*
 * procmaps.h — an address in a process to the module that maps it, the
 * file offset and the ELF virtual address there, and the module's ELF
 * handle and CFI; with the cache of modules those lookups share.
 *
 * A module is one mapped file, keyed by the (device, inode) that
 * /proc/PID/maps shows, so every process mapping a file shares it; it holds
 * an open fd (through /proc/PID/map_files: deleted or replaced files and
 * other mount namespaces keep working), or an in-memory image for [vdso].
 * A process's mappings (struct dn_pm_maps) are read by the caller when it
 * wants and hold a reference on each module they point at; modules that no
 * held maps point at stay cached until dn_pm_trim. The maps text itself is
 * parsed by dn_proc_parse_maps (engine/core/procfs.c).
 *
 * Used by the symbolizer (names) and by offcpu's frame recovery (CFI), each
 * with its own instance. Not thread-safe. Link with: -ldw -lelf
 */
#ifndef DENET_PROCMAPS_H
#define DENET_PROCMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <elfutils/libdw.h>
#include <libelf.h>

struct dn_procmaps;

/* A PT_LOAD segment: file offset and size, virtual address and size. */
struct dn_pm_seg {
	uint64_t off, filesz, vaddr, memsz;
};

struct dn_pm_module {
	struct dn_pm_module *next; /* the cache's chain */
	dev_t dev;
	ino_t ino;
	const char *path; /* interned: valid until dn_pm_free */
	int fd;		  /* the mapped file, -1 when it could not be opened */
	int open_err;	  /* -errno of the last failed open, else 0 */
	void *image;	  /* an in-memory ELF ([vdso]) instead of fd */
	size_t image_len;
	bool pinned;	    /* never trimmed (this process's own [vdso]) */
	size_t refs;	    /* held maps that point at it */
	unsigned long used; /* the cache's clock at its last use */
	void *priv;	    /* the user's data about the module (freed by the
			       cache's priv_free when the module goes) */
	/* lazily, by dn_pm_elf / dn_pm_vaddr / dn_pm_cfi */
	int elf_state; /* 0 not tried, 1 open, <0 -errno */
	Elf *elf;
	struct dn_pm_seg *segs;
	size_t nsegs;
	int cfi_state;
	Dwarf_CFI *cfi; /* .eh_frame */
};

enum dn_pm_kind { DN_PM_ANON, DN_PM_FILE, DN_PM_VDSO };

/* One mapping of a process. mod is set for executable mappings of files
 * and for [vdso] (when its image could be had); NULL otherwise. */
struct dn_pm_map {
	uint64_t start, end, pgoff;
	dev_t dev;
	ino_t ino;
	const char *path; /* interned, as the maps show it (" (deleted)"
			     included); NULL for anonymous memory */
	enum dn_pm_kind kind;
	bool exec;
	struct dn_pm_module *mod;
};

/* The mappings of one process, sorted by address. */
struct dn_pm_maps {
	pid_t pid;
	struct dn_pm_map *v;
	size_t n;
};

/* NULL with errno on failure. priv_free (may be NULL) frees a module's
 * priv when the module is freed or its file is opened anew. */
struct dn_procmaps *dn_pm_new(void (*priv_free)(void *priv));
/* Frees every module; held maps must be released before. */
void dn_pm_free(struct dn_procmaps *c);

/* Reads /proc/PID/maps now into *out (which the caller releases), opening
 * the modules of executable mappings. 0 (a zombie or a kernel thread has
 * no mappings), -ESRCH (gone), -EACCES, -ENOMEM. */
int dn_pm_read(struct dn_procmaps *c, pid_t pid, struct dn_pm_maps *out);
/* The same from maps text (buf, len) said to be pid's. */
int dn_pm_parse(struct dn_procmaps *c, pid_t pid, const char *buf, size_t len,
		struct dn_pm_maps *out);
/* Drops out's references and frees its array; *m is empty after. */
void dn_pm_release(struct dn_procmaps *c, struct dn_pm_maps *m);
/* The mapping holding addr, or NULL. */
const struct dn_pm_map *dn_pm_find(const struct dn_pm_maps *m, uint64_t addr);

/* Marks m as just used (the order dn_pm_trim keeps). */
void dn_pm_touch(struct dn_procmaps *c, struct dn_pm_module *m);
/* The module's ELF handle, NULL if it is not a readable ELF file. */
Elf *dn_pm_elf(struct dn_pm_module *m);
/* File offset in the module -> ELF virtual address, through the PT_LOAD
 * segment holding it (the file offset itself is wrong for non-PIE and
 * lld-linked binaries). false when no segment holds it. */
bool dn_pm_vaddr(struct dn_pm_module *m, uint64_t fileoff, uint64_t *vaddr);
/* The module's .eh_frame CFI, NULL if it has none. */
Dwarf_CFI *dn_pm_cfi(struct dn_pm_module *m);

/* Frees the modules no held maps point at, but the `keep` most recently
 * used (and pinned ones). Returns how many were freed. */
size_t dn_pm_trim(struct dn_procmaps *c, size_t keep);
/* Modules cached, and of those the ones no held maps point at. */
void dn_pm_count(const struct dn_procmaps *c, size_t *modules, size_t *unused);

/* A string kept until dn_pm_free (one copy per distinct string); NULL on
 * ENOMEM. */
const char *dn_pm_intern(struct dn_procmaps *c, const char *s, size_t n);
/* Reads a whole file (also a /proc file of unknown size) into a malloc'd,
 * NUL-terminated buffer. 0 or -errno. */
int dn_pm_read_file(const char *path, char **out, size_t *len);

#ifdef DN_FUZZING
/* The ELF file at path as a module outside the (device, inode) cache,
 * freed with c. */
struct dn_pm_module *dn_pm_open_file(struct dn_procmaps *c, const char *path);
#endif

#endif
