/*
 * symbolizer.h — in-process symbolization of user and kernel addresses.
 *
 * One struct dn_symbolizer per denet process. It owns the memory maps of
 * each pid (captured so stacks of exited processes still symbolize, freed
 * by dn_sym_prune once they are gone), the symbols of the ELF modules they
 * map (the modules, keyed by the (device, inode) of the mapped file and
 * shared by every pid that maps it, are its procmaps instance's), and a
 * small per-address result cache. Sources: ELF .symtab/.dynsym (FUNC and
 * IFUNC), separate debug files (build-id under /usr/lib/debug/.build-id, .gnu_debuglink), the
 * [vdso] image, /proc/kallsyms, /tmp/perf-PID.map for JIT code, and optionally file:line from DWARF
 * through libdw. Never spawns a process and never contacts debuginfod. Not thread-safe: one thread
 * uses one instance.
 *
 * Link with: -ldw -lelf
 */
#ifndef DENET_SYMBOLIZER_H
#define DENET_SYMBOLIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct dn_symbolizer;

/* NULL with errno = ENOMEM on failure. */
struct dn_symbolizer *dn_sym_new(void);
void dn_sym_free(struct dn_symbolizer *s);

/*
 * Capture the maps of pid now (so its stacks symbolize after it exits) and
 * open the files it maps; call again after exec. 0, -ESRCH (gone), -EACCES.
 */
int dn_sym_capture(struct dn_symbolizer *s, pid_t pid);
/* Drop the maps of pid (module caches stay, they are shared). */
void dn_sym_forget(struct dn_symbolizer *s, pid_t pid);

/*
 * Freeing what exited processes leave, in two steps around the use of
 * their maps: dn_sym_mark_gone notes which of the processes whose maps are
 * held are gone now (returns their number); dn_sym_prune frees the maps of
 * those (unless captured again since: a new process under the pid) and
 * returns their number. Between the two, symbolize what they left.
 * dn_sym_trim frees the modules no held process maps beyond the most
 * recently used few, and the JIT maps no held process uses; the names and
 * source files of every dn_frame resolved before are invalid afterwards
 * (module paths stay valid). Returns the number of objects freed.
 */
size_t dn_sym_mark_gone(struct dn_symbolizer *s);
size_t dn_sym_prune(struct dn_symbolizer *s);
size_t dn_sym_trim(struct dn_symbolizer *s);

/* What the symbolizer holds, for tests and diagnostics. */
struct dn_sym_stats {
	size_t procs;	       /* processes whose maps are held */
	size_t modules;	       /* ELF files open */
	size_t modules_unused; /* of which no held process maps */
	size_t perfmaps;       /* JIT perf maps loaded */
};
void dn_sym_get_stats(const struct dn_symbolizer *s, struct dn_sym_stats *st);

struct dn_frame {
	uint64_t addr;
	const char *name;   /* symbol name or NULL; owned by the symbolizer, valid until
			       the dn_sym_trim that frees its module (or dn_sym_free) */
	uint64_t offset;    /* addr - symbol start; when name is NULL the module offset: the ELF
			       virtual address when the file could be read (what addr2line -e takes),
			       else the file offset; for anonymous memory, addr - mapping start */
	const char *module; /* path of the mapped file, "[kernel]", "[vdso]", "[unknown]",
			       "[heap]"/"[anon]"..., or the perf map path for JIT code */
	const char *file;   /* source file or NULL (only with dn_sym_set_lines) */
	int line;	    /* 0 if unknown */
};

/*
 * Resolve a user address of pid: its captured maps, else its live maps
 * (read now and kept; re-read when an address misses while pid lives).
 * 0; -ENOENT when addr is in no mapping (module "[unknown]"); -ESRCH when
 * pid was never captured and is gone. *out is always filled.
 */
int dn_sym_resolve(struct dn_symbolizer *s, pid_t pid, uint64_t addr, struct dn_frame *out);

/* Kernel addresses from /proc/kallsyms (loaded once). 0, -ENOENT, -EACCES (addresses hidden). */
int dn_sym_resolve_kernel(struct dn_symbolizer *s, uint64_t addr, struct dn_frame *out);

/* file:line through libdw (off by default: DWARF loading costs 16-43 ms per module). */
void dn_sym_set_lines(struct dn_symbolizer *s, bool enable);

/* "name+0xoff", or "module+0xoffset" (module base name) when name is NULL; ';' and
   whitespace control characters are replaced so the result is one folded-stack frame. */
void dn_sym_format(const struct dn_frame *f, char *buf, size_t len);

#ifdef DN_FUZZING
/* Fuzzing entry points (tests/fuzz), compiled only with -DDN_FUZZING: load the
   ELF file at path and resolve names, lines and CFI in it; maps text through
   procmaps, then resolve in each mapping. */
int dn_sym_fuzz_file(const char *path);
int dn_sym_fuzz_maps(const char *text, size_t len);
#endif

#endif
