/*
 * offcpu.c — loader of bpf/offcpu.bpf.c (with the syscall tracker's
 * programs, bpf/syscalls.bpf.h, attached when asked; systrace.c drains
 * those): open/attach, the tracked tgid set and its membership bitmap,
 * frame-recovery rules (.eh_frame CFI through libdw), the exec/fork event
 * ring buffer and the drain of the in-kernel aggregate.
 *
 * Loading: through a light skeleton (bpftool gen skeleton -L): the object is
 * loaded by an in-kernel loader program (BPF_PROG_TYPE_SYSCALL) and its CO-RE
 * relocations done by the kernel, so no vmlinux BTF is parsed here (libbpf's
 * parse of it was most of denet's peak RSS). A light skeleton loads every
 * program of its object, hence two: sched_switch as tp_btf, else as raw_tp.
 * libbpf is only used on the loaded fds (maps, ring buffer).
 *
 * Owns: the skeleton, a procmaps instance (the ELF files mapped by the
 * processes met, by device and inode, with their CFI), the maps of the
 * process being unwound, and a cache of computed unwind rules (device,
 * inode, ELF address). Symbolization is not done here.
 *
 * Recovery: for each frame without frame pointer (glibc's), user space puts
 * in leaf_cfa the CFA, return-address and saved-rbp offsets from the frame's
 * sp; the kernel unwinds up to DN_OFFCPU_MAX_RECOVER such frames, then
 * follows the frame-pointer chain from the restored rbp. Frames met without
 * a rule are announced (leaf_unknown, an internal ring-buffer event) with a
 * copy of the user stack above them; the drain unwinds those copies.
 *
 * Stacks live in a hash keyed by content hash | generation bit. After a
 * drain, the drained generation's stacks that no pending interval and no
 * entry of the current generation use are deleted: the map holds about two
 * drain windows of stacks, however many garbage stacks a binary without
 * frame pointers produces.
 *
 * Drain: the aggregate key carries a generation; the kernel writes into
 * bss.gen and the drain flips it, waits for programs already running to
 * finish, then reads and deletes the old generation, which nobody writes
 * any more. So no interval is lost and no element is deleted while the
 * kernel adds to it (a lookup-and-delete per key would race with the
 * kernel's atomic add into the element being freed).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h> /* before skel_internal.h, which needs both */
#include <sys/utsname.h>
#include <time.h>

#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "../../bpf/offcpu.h" /* the layout shared with the BPF program */
#include "../../bpf/syscalls.h"
#include "arch.h"
#include "cfi.h"
#include "offcpu.h"
#include "bpfstats.h"
#include "offcpu_btf.lskel.h"
#include "offcpu_raw.lskel.h"
#include "procmaps.h"

#define MOD_CACHE  16		/* ELF files kept open that no held maps use */
#define LEAF_CACHE 4096		/* power of two */
#define ANNOUNCED  (1ULL << 63) /* tgids value: first wait announced */

struct leaf_ent {
	dev_t dev;
	ino_t ino;
	uint64_t addr; /* ELF address the CFI was looked up at */
	int err;       /* 0: rule valid; <0 -errno */
	struct dn_offcpu_rule rule;
	bool valid;
};

#define DN_OFFCPU_PROGS 6 /* fork, exec, exit, switch, sys_enter, sys_exit */

/* The fds and .bss fields of whichever skeleton loaded (both have the same
 * maps and programs, as two distinct C types). */
struct skel {
	void *obj;
	void (*destroy)(void *obj);
	int tgids, start, agg, stacks, leaf_cfa, leaf_unknown, snaps, events, sys_agg;
	int progs[DN_OFFCPU_PROGS]; /* for their run-time statistics */
	__u32 *gen;
	__u64 *aspace_seq;
	__u64 *tracked_bits;
	const struct dn_offcpu_counters *counters;
	const struct dn_syscall_counters *sys_counters;
};

/* Entries of the syscall aggregate: its values are per CPU, so fewer on a
 * machine with many (at most 32 MiB of them). */
static __u32 syscall_keys(void)
{
	long ncpu = libbpf_num_possible_cpus();
	size_t per = sizeof(struct dn_syscall_val) * (size_t)(ncpu > 0 ? ncpu : 1);
	size_t n = ((size_t)32 << 20) / per;

	return n < DN_SYSCALL_MAX_KEYS ? (__u32)(n > 256 ? n : 256) : DN_SYSCALL_MAX_KEYS;
}

struct dn_offcpu {
	struct skel sk;
	struct dn_offcpu_opts opts;
	bool btf_tp;
	struct dn_procmaps *pm;
	struct leaf_ent *leaves;
	struct dn_pm_maps maps; /* of maps.pid (0: none), read once per drain */
	uint64_t leaves_resolved, snap_recovered;
	uint64_t stacks_live, stacks_freed, events;
	/* drain scratch */
	struct entry *ents;
	size_t nents, capents;
	uint64_t *frames; /* user frames of the entries */
	size_t capframes;
	uint64_t *keep; /* stack keys kept by the GC */
	size_t nkeep, capkeep;
	/* exec/fork events */
	struct ring_buffer *rb;
	void (*ev_fn)(pid_t tgid, int kind, void *ctx);
	void *ev_ctx;
	bool ev_leaf;
};

/* ---- libbpf's and the verifier's messages: kept, never printed ---- */

static char last_msg[256];
static const char *last_who = "libbpf"; /* whose message last_msg is */

static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[sizeof last_msg];
	size_t n;

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(line, sizeof line, fmt, ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
		line[--n] = '\0';
	if (n) {
		memcpy(last_msg, line, n + 1);
		last_who = "libbpf";
	}
	return 0;
}

/* Keeps the last line of a verifier log that is not its statistics
 * ("processed N insns ..."): the reason of a refusal. */
static void keep_log_tail(const char *log)
{
	const char *end = log + strlen(log), *b;

	for (;;) {
		while (end > log && (end[-1] == '\n' || end[-1] == ' '))
			end--;
		for (b = end; b > log && b[-1] != '\n'; b--)
			;
		if (end == b)
			return;
		if (strncmp(b, "processed ", 10) != 0)
			break;
		end = b;
	}
	snprintf(last_msg, sizeof last_msg, "%.*s", (int)(end - b), b);
	last_who = "verifier";
}

static void set_why(char *why, size_t len, int err, const char *what)
{
	if (!why || !len)
		return;
	if ((err == EPERM || err == EACCES) && !last_msg[0])
		snprintf(why, len, "eBPF needs root or CAP_BPF+CAP_PERFMON (%s %s)",
			 strerrorname_np(err) ? strerrorname_np(err) : "EPERM", what);
	else if (err == ENOSYS)
		snprintf(why, len, "kernel without bpf() (ENOSYS %s)", what);
	else
		snprintf(why, len, "%s failed: %s%s%s%s%s", what, strerror(err),
			 last_msg[0] ? "; " : "", last_msg[0] ? last_who : "",
			 last_msg[0] ? ": " : "", last_msg);
}

static int on_event(void *ctx, void *data, size_t size);

/* For light skeleton type T: destroy_T; open_T, which opens it and sets the
 * .rodata knobs; load_T, which loads, attaches and fills *sk (0 or -errno,
 * *what set; after a refused load, the verifier's last line in last_msg). */
#define SKEL_LOADER(T)                                                                          \
	static void destroy_##T(void *obj)                                                      \
	{                                                                                       \
		T##__destroy(obj);                                                              \
	}                                                                                       \
	static struct T *open_##T(const struct dn_offcpu_opts *o)                               \
	{                                                                                       \
		struct T *s = T##__open();                                                      \
                                                                                                \
		if (s) {                                                                        \
			s->rodata->kernel_stacks = o->kernel_stacks;                            \
			s->rodata->user_stacks = o->user_stacks;                                \
			s->rodata->recover_leaf = o->user_stacks;                               \
			s->rodata->min_ns = o->min_us ? o->min_us * 1000 : 1;                   \
			s->rodata->max_ns = o->max_us ? o->max_us * 1000 : ~0ULL;               \
			/* what stays unattached gets minimal maps */                           \
			if (o->no_offcpu) {                                                     \
				s->maps.start.max_entries = 64;                                 \
				s->maps.agg.max_entries = 64;                                   \
				s->maps.stacks.max_entries = 64;                                \
				s->maps.leaf_cfa.max_entries = 64;                              \
				s->maps.leaf_unknown.max_entries = 64;                          \
				s->maps.snaps.max_entries = 64;                                 \
			}                                                                       \
			s->maps.sys_agg.max_entries = o->syscalls ? syscall_keys() : 1;         \
		}                                                                               \
		return s;                                                                       \
	}                                                                                       \
	/* Loads again with a log, only to say why the kernel refused it. */                    \
	static void why_refused_##T(const struct dn_offcpu_opts *o)                             \
	{                                                                                       \
		size_t sz = 1 << 20;                                                            \
		char *log = calloc(1, sz);                                                      \
		struct T *s = log ? open_##T(o) : NULL;                                         \
                                                                                                \
		if (s) {                                                                        \
			s->ctx.log_level = 1;                                                   \
			s->ctx.log_size = (__u32)sz;                                            \
			s->ctx.log_buf = (__u64)(uintptr_t)log;                                 \
			if (T##__load(s))                                                       \
				keep_log_tail(log);                                             \
			T##__destroy(s);                                                        \
		}                                                                               \
		free(log);                                                                      \
	}                                                                                       \
	static int load_##T(const struct dn_offcpu_opts *o, struct skel *sk, const char **what) \
	{                                                                                       \
		struct T *s = open_##T(o);                                                      \
		int r;                                                                          \
                                                                                                \
		if (!s) {                                                                       \
			*what = "opening offcpu.bpf.o";                                         \
			return errno ? -errno : -ENOMEM;                                        \
		}                                                                               \
		r = T##__load(s);                                                               \
		if (r) {                                                                        \
			*what = "loading offcpu.bpf.o";                                         \
			T##__destroy(s);                                                        \
			if (r != -EPERM)                                                        \
				why_refused_##T(o);                                             \
			return r < 0 ? r : -EINVAL;                                             \
		}                                                                               \
		*what = "attaching sched_process_fork/exec/exit";                               \
		r = T##__dn_fork__attach(s);                                                    \
		r = r < 0 ? r : T##__dn_exec__attach(s);                                        \
		r = r < 0 ? r : T##__dn_exit__attach(s);                                        \
		if (r >= 0 && !o->no_offcpu) {                                                  \
			*what = "attaching sched_switch";                                       \
			r = T##__dn_switch__attach(s);                                          \
		}                                                                               \
		if (r >= 0 && o->syscalls) {                                                    \
			*what = "attaching sys_enter/sys_exit";                                 \
			r = T##__dn_sys_enter__attach(s);                                       \
			r = r < 0 ? r : T##__dn_sys_exit__attach(s);                            \
		}                                                                               \
		if (r < 0) {                                                                    \
			T##__destroy(s);                                                        \
			return r;                                                               \
		}                                                                               \
		*sk = (struct skel){                                                            \
			.obj = s,                                                               \
			.destroy = destroy_##T,                                                 \
			.tgids = s->maps.tgids.map_fd,                                          \
			.start = s->maps.start.map_fd,                                          \
			.agg = s->maps.agg.map_fd,                                              \
			.stacks = s->maps.stacks.map_fd,                                        \
			.leaf_cfa = s->maps.leaf_cfa.map_fd,                                    \
			.leaf_unknown = s->maps.leaf_unknown.map_fd,                            \
			.snaps = s->maps.snaps.map_fd,                                          \
			.events = s->maps.events.map_fd,                                        \
			.sys_agg = o->syscalls ? s->maps.sys_agg.map_fd : -1,                   \
			.progs = {s->progs.dn_fork.prog_fd, s->progs.dn_exec.prog_fd,           \
				  s->progs.dn_exit.prog_fd, s->progs.dn_switch.prog_fd,         \
				  s->progs.dn_sys_enter.prog_fd, s->progs.dn_sys_exit.prog_fd}, \
			.gen = &s->bss->gen,                                                    \
			.aspace_seq = &s->bss->aspace_seq,                                      \
			.tracked_bits = s->bss->tracked_bits,                                   \
			.counters = &s->bss->counters,                                          \
			.sys_counters = &s->bss->sys_counters,                                  \
		};                                                                              \
		return 0;                                                                       \
	}

SKEL_LOADER(offcpu_btf)
SKEL_LOADER(offcpu_raw)

static void skel_destroy(struct skel *sk)
{
	if (sk->obj)
		sk->destroy(sk->obj);
	sk->obj = NULL;
}

/* A hint for a load that failed with err: the light skeleton's loader is a
 * BPF_PROG_TYPE_SYSCALL program (Linux 5.14+) that needs the kernel to do
 * the CO-RE relocations (5.17+); older kernels refuse it. */
static const char *old_kernel_hint(int err)
{
	struct utsname u;
	int major = 0, minor = 0;

	if (err == EPERM || err == EACCES || err == ENOMEM)
		return "";
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SYSCALL, NULL) == 0)
		return " (the kernel has no BPF_PROG_TYPE_SYSCALL: denet's eBPF loader needs "
		       "Linux 5.17+)";
	if (uname(&u) == 0 && sscanf(u.release, "%d.%d", &major, &minor) == 2 &&
	    (major < 5 || (major == 5 && minor < 17)))
		return " (denet's eBPF loader needs kernel-side CO-RE: Linux 5.17+)";
	return "";
}

struct dn_offcpu *dn_offcpu_open(const struct dn_offcpu_opts *o, char *why, size_t whylen)
{
	libbpf_print_fn_t old = libbpf_set_print(quiet_print);
	struct dn_offcpu *p;
	const char *what = "";
	int err;

	last_msg[0] = '\0';
	last_who = "libbpf";
	if (why && whylen)
		why[0] = '\0';
	p = calloc(1, sizeof *p);
	if (p)
		p->leaves = calloc(LEAF_CACHE, sizeof *p->leaves);
	if (p && p->leaves)
		p->pm = dn_pm_new(NULL);
	if (!p || !p->leaves || !p->pm) {
		if (p)
			free(p->leaves);
		free(p);
		libbpf_set_print(old);
		set_why(why, whylen, ENOMEM, "allocating");
		errno = ENOMEM;
		return NULL;
	}
	p->opts = *o;
	/* tp_btf where the kernel takes it, raw_tp otherwise */
	err = -EINVAL;
	if (!o->force_raw_tp)
		err = load_offcpu_btf(o, &p->sk, &what);
	p->btf_tp = err == 0;
	if (err && err != -EPERM && err != -EACCES)
		err = load_offcpu_raw(o, &p->sk, &what);
	err = -err;
	if (!err) {
		p->rb = ring_buffer__new(p->sk.events, on_event, p, NULL);
		if (!p->rb) {
			err = errno ? errno : ENOMEM;
			what = "creating the event ring buffer";
			skel_destroy(&p->sk);
		}
	}
	libbpf_set_print(old);
	if (err) {
		set_why(why, whylen, err, what);
		if (why && whylen && strcmp(what, "loading offcpu.bpf.o") == 0) {
			size_t n = strlen(why);

			snprintf(why + n, whylen - n, "%s", old_kernel_hint(err));
		}
		dn_pm_free(p->pm);
		free(p->leaves);
		free(p);
		errno = err;
		return NULL;
	}
	return p;
}

/* The set's membership bit of tgid (bpf/offcpu.bpf.c's tracked_bits, in
 * the mmap'ed .bss), changed with the `tgids` entry. */
static void set_tracked_bit(struct dn_offcpu *p, __u32 tgid, bool on)
{
	__u64 *w = &p->sk.tracked_bits[(tgid >> 6) & (DN_TRACKED_WORDS - 1)];
	__u64 bit = 1ULL << (tgid & 63);

	if (on)
		__atomic_fetch_or(w, bit, __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_and(w, ~bit, __ATOMIC_SEQ_CST);
}

int dn_offcpu_track(struct dn_offcpu *p, pid_t tgid)
{
	__u32 key = (__u32)tgid;
	__u64 aspace;

	if (!p || tgid <= 0)
		return -EINVAL;
	/* Keep the id if already tracked (children added by the kernel) */
	if (bpf_map_lookup_elem(p->sk.tgids, &key, &aspace) == 0)
		return 0;
	aspace = __atomic_add_fetch(p->sk.aspace_seq, 1, __ATOMIC_SEQ_CST);
	if (bpf_map_update_elem(p->sk.tgids, &key, &aspace, BPF_ANY))
		return -errno;
	set_tracked_bit(p, key, true);
	return 0;
}

void dn_offcpu_get_stats(const struct dn_offcpu *p, struct dn_offcpu_stats *st)
{
	const struct dn_offcpu_counters *c = p->sk.counters;

	memset(st, 0, sizeof *st);
	st->switches_out = c->switches_out;
	st->recorded = c->recorded;
	st->recovered = c->recovered;
	st->unknown_leaf = c->unknown_leaf;
	st->ustack_err = c->ustack_err;
	st->kstack_err = c->kstack_err;
	st->agg_full = c->agg_full;
	st->start_full = c->start_full;
	st->events_lost = c->events_lost;
	st->fp_cut = c->fp_cut;
	st->rec_frames = c->rec_frames;
	st->leaves_resolved = p->leaves_resolved;
	st->snap_recovered = p->snap_recovered;
	st->stacks_live = p->stacks_live;
	st->stacks_freed = p->stacks_freed;
	st->btf_tracepoint = p->btf_tp;
	int fd = p->sk.tgids;
	__u32 k, next, *prev = NULL;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		st->tgids++;
		k = next;
		prev = &k;
	}
}

int dn_offcpu_sweep(struct dn_offcpu *p)
{
	int fd, n = 0;
	__u32 k, next, *prev = NULL, gone[256];
	size_t ngone = 0;

	if (!p)
		return -EINVAL;
	fd = p->sk.tgids;
	while (ngone < sizeof gone / sizeof gone[0] && bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (kill((pid_t)next, 0) != 0 && errno == ESRCH)
			gone[ngone++] = next;
		k = next;
		prev = &k;
	}
	/* delete after the walk: deleting the current key restarts it */
	for (size_t i = 0; i < ngone; i++) {
		set_tracked_bit(p, gone[i], false);
		n += bpf_map_delete_elem(fd, &gone[i]) == 0;
	}
	return n;
}

/* ---- leaf rules from .eh_frame ---- */

/* The maps of pid, read once per drain (maps.pid = 0 forces a read). */
static int maps_load(struct dn_offcpu *p, pid_t pid)
{
	int r;

	if (p->maps.pid == pid && p->maps.n)
		return 0;
	dn_pm_release(p->pm, &p->maps);
	p->maps.pid = 0;
	r = dn_pm_read(p->pm, pid, &p->maps);
	if (r)
		return r;
	if (!p->maps.n)
		return -ESRCH; /* exited (a zombie), or a kernel thread */
	return 0;
}

/* The rule of the frame at ip in pid (ret: ip is a return address, look
 * at the call before it), with the maps read once per drain. */
static int rule_of(struct dn_offcpu *p, pid_t pid, uint64_t ip, bool ret,
		   struct dn_offcpu_rule *rule)
{
	const struct dn_pm_map *mp;
	struct dn_pm_module *m;
	struct leaf_ent *le;
	uint64_t at = ip - (ret ? 1 : 0), addr, h;
	int r;

	r = maps_load(p, pid);
	if (r)
		return r;
	mp = dn_pm_find(&p->maps, at);
	/* anonymous memory, [vdso]: no file to take CFI from */
	if (!mp || mp->kind != DN_PM_FILE || !mp->mod)
		return -ENOENT;
	m = mp->mod;
	if (m->fd < 0)
		return m->open_err == -ENOENT ? -ESRCH : m->open_err;
	dn_pm_touch(p->pm, m);
	if (!dn_pm_elf(m))
		return -ENOEXEC;
	if (!dn_pm_vaddr(m, at - mp->start + mp->pgoff, &addr))
		return -ENOENT;
	h = (addr * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)mp->ino ^ ((uint64_t)mp->dev << 20);
	le = &p->leaves[(h >> 20) & (LEAF_CACHE - 1)];
	if (!(le->valid && le->addr == addr && le->ino == mp->ino && le->dev == mp->dev)) {
		struct dn_cfi_rule cr;

		le->valid = true;
		le->addr = addr;
		le->ino = mp->ino;
		le->dev = mp->dev;
		le->err = dn_cfi_rule(dn_pm_cfi(m), addr, &cr);
		if (le->err == 0)
			le->rule = (struct dn_offcpu_rule){
				.cfa = cr.cfa,
				.ra = cr.ra,
				.bp = cr.bp == DN_CFI_BP_SAME ? DN_OFFCPU_BP_SAME : cr.bp,
			};
	}
	if (le->err < 0)
		return le->err;
	*rule = le->rule;
	return 0;
}

int dn_offcpu_leaf_offset(struct dn_offcpu *p, pid_t pid, uint64_t ip, int *off)
{
	struct dn_offcpu_rule rule;
	int r;

	if (!p || !off)
		return -EINVAL;
	p->maps.pid = 0; /* the maps may have changed since */
	r = rule_of(p, pid, ip, false, &rule);
	if (r == 0)
		*off = rule.ra;
	return r;
}

static uint64_t tgid_aspace(struct dn_offcpu *p, uint32_t tgid, bool *ok)
{
	__u64 cur = 0;

	*ok = bpf_map_lookup_elem(p->sk.tgids, &tgid, &cur) == 0;
	return cur & ~ANNOUNCED;
}

/* The rule for a leaf key: from leaf_cfa (valid after the process exited),
 * else computed from the live process if it still runs that image, and
 * then installed for the kernel. 0, or -errno (-ENOENT: no rule). */
static int get_rule(struct dn_offcpu *p, uint32_t tgid, const struct dn_offcpu_leaf_key *k,
		    struct dn_offcpu_rule *rule)
{
	int cfd = p->sk.leaf_cfa;
	uint64_t ip = k->ip & ~DN_OFFCPU_RET_BIT;
	bool ok;
	int r;

	if (bpf_map_lookup_elem(cfd, k, rule) == 0)
		return 0;
	if (tgid_aspace(p, tgid, &ok) != k->aspace || !ok)
		return -ENOENT;
	r = rule_of(p, (pid_t)tgid, ip, (k->ip & DN_OFFCPU_RET_BIT) != 0, rule);
	if (r == -ESRCH || r == -ENOMEM)
		return r;
	if (r) {
		memset(rule, 0, sizeof *rule);
		rule->ra = DN_OFFCPU_NO_RECOVERY;
		rule->bp = DN_OFFCPU_BP_SAME;
	}
	bpf_map_update_elem(cfd, k, rule, BPF_ANY);
	p->leaves_resolved++;
	return 0;
}

static bool snap_word(const struct dn_offcpu_snap *sn, uint64_t at, uint64_t *v)
{
	if (at < sn->sp || at - sn->sp + 8 > sn->len || sn->len > sizeof sn->data)
		return false;
	memcpy(v, sn->data + (at - sn->sp), sizeof *v);
	return true;
}

/* Unwinds the frames of a stack copy the kernel had no rules for (the
 * kernel's algorithm on the copy), putting the rules met in leaf_cfa.
 * out[] gets the return addresses; *tail_ok tells whether the kernel's
 * frame-pointer tail (walked from sn->bp) still follows; when the rbp of
 * the last frame changed and its FP chain lies in the copy, that chain is
 * appended to out[] too. Returns the number of frames in out[]. */
static int snap_unwind(struct dn_offcpu *p, const struct dn_offcpu_snap *sn, uint64_t *out, int max,
		       bool *tail_ok, int *ncfi)
{
	struct dn_offcpu_leaf_key k = {sn->aspace, sn->ip};
	struct dn_offcpu_rule rule;
	uint64_t sp = sn->sp, bp = sn->bp, ret;
	int n = 0, i, room = DN_OFFCPU_MAX_RECOVER - (int)sn->depth;
	bool fp_frame = false;

	*tail_ok = true;
	for (i = 0; i <= room && n < max; i++) {
		if (get_rule(p, sn->tgid, &k, &rule))
			break; /* unknown: as the kernel did */
		if (rule.ra < 0) {
			fp_frame = true;
			break;
		}
		if (i == room) {
			*tail_ok = false; /* as the kernel: rbp is no frame pointer */
			break;
		}
		if (sp + (uint64_t)rule.ra == bp + 8) {
			fp_frame = true;
			break;
		}
		if (!snap_word(sn, sp + (uint64_t)rule.ra, &ret) || !ret ||
		    ret > DN_ARCH_USER_TOP) {
			*tail_ok = false;
			break;
		}
		if (rule.bp != DN_OFFCPU_BP_SAME && !snap_word(sn, sp + (uint64_t)rule.bp, &bp)) {
			*tail_ok = false;
			out[n++] = ret;
			break;
		}
		sp += (uint64_t)rule.cfa;
		out[n++] = ret;
		k.ip = ret | DN_OFFCPU_RET_BIT;
	}
	*ncfi = n;
	if (bp != sn->bp) {
		/* the kernel walked the chain of another rbp: use the copy */
		*tail_ok = false;
		while (fp_frame && n < max && bp >= sp && (bp & 7) == 0) {
			uint64_t next;

			if (!snap_word(sn, bp + 8, &ret) || !snap_word(sn, bp, &next) ||
			    ret < 4096 || ret > DN_ARCH_USER_TOP)
				break;
			out[n++] = ret;
			sp = bp + 16;
			bp = next;
		}
	}
	return n;
}

/* Resolves the frames the kernel met without a rule (and, with the stack
 * copy of that stack, the frames above them). */
static void resolve_unknown(struct dn_offcpu *p)
{
	int ufd = p->sk.leaf_unknown;
	int sfd = p->sk.snaps;
	struct dn_offcpu_leaf_key k, next, *prev = NULL;
	struct dn_offcpu_leaf_who who;
	struct dn_offcpu_snap sn;
	struct dn_offcpu_rule rule;
	uint64_t frames[DN_OFFCPU_MAX_RECOVER + 1];
	bool tail_ok;
	int ncfi;

	/* Deleting while iterating restarts the walk: collect first. */
	struct dn_offcpu_leaf_key keys[256];
	size_t n = 0;

	while (n < 256 && bpf_map_get_next_key(ufd, prev, &next) == 0) {
		keys[n++] = next;
		k = next;
		prev = &k;
	}
	p->maps.pid = 0;
	for (size_t i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(ufd, &keys[i], &who) == 0) {
			(void)get_rule(p, who.tgid, &keys[i], &rule);
			if (who.ustack && bpf_map_lookup_elem(sfd, &who.ustack, &sn) == 0)
				(void)snap_unwind(p, &sn, frames, DN_OFFCPU_MAX_RECOVER + 1,
						  &tail_ok, &ncfi);
		}
		bpf_map_delete_elem(ufd, &keys[i]);
	}
	dn_pm_trim(p->pm, MOD_CACHE);
}

/* ---- events ---- */

static int on_event(void *ctx, void *data, size_t size)
{
	struct dn_offcpu *p = ctx;
	const struct dn_offcpu_event *e = data;

	if (size < sizeof *e)
		return 0;
	if (e->kind == DN_OFFCPU_EV_LEAF) {
		p->ev_leaf = true;
		return 0;
	}
	if (e->kind == DN_OFFCPU_EV_EXEC && p->maps.pid == (pid_t)e->tgid)
		p->maps.pid = 0;
	p->events++;
	if (p->ev_fn)
		p->ev_fn((pid_t)e->tgid, (int)e->kind, p->ev_ctx);
	return 0;
}

int dn_offcpu_event_fd(struct dn_offcpu *p)
{
	if (!p || !p->rb)
		return -EINVAL;
	return ring_buffer__epoll_fd(p->rb);
}

int dn_offcpu_poll_events(struct dn_offcpu *p, void (*fn)(pid_t tgid, int kind, void *ctx),
			  void *ctx)
{
	uint64_t before;
	int r;

	if (!p || !p->rb)
		return -EINVAL;
	before = p->events;
	p->ev_fn = fn;
	p->ev_ctx = ctx;
	p->ev_leaf = false;
	r = ring_buffer__consume(p->rb);
	p->ev_fn = NULL;
	p->ev_ctx = NULL;
	if (r < 0)
		return r;
	/* a new frame without rule: resolve it while its process waits */
	if (p->ev_leaf)
		resolve_unknown(p);
	return (int)(p->events - before);
}

/* ---- drain ---- */

struct entry {
	struct dn_offcpu_key k;
	struct dn_offcpu_val v;
	uint64_t kkey;	 /* kernel stack content hash (no generation) */
	size_t uoff;	 /* frames in p->frames */
	int nuser, nrec; /* nrec: frames recovered (kernel + copy) */
};

static int entry_cmp(const void *a, const void *b, void *ctx)
{
	const struct entry *x = a, *y = b;
	const uint64_t *frames_pool = ctx;

#define CMP(f)            \
	if (x->f != y->f) \
	return x->f < y->f ? -1 : 1
	CMP(k.tgid);
	CMP(k.tid);
	CMP(k.state);
	CMP(kkey);
	CMP(nuser);
#undef CMP
	return memcmp(frames_pool + x->uoff, frames_pool + y->uoff,
		      (size_t)x->nuser * sizeof(uint64_t));
}

static int frames_read(int fd, __u64 key, struct dn_offcpu_frames *f)
{
	if (!key || bpf_map_lookup_elem(fd, &key, f))
		return -1;
	if (f->n > DN_OFFCPU_MAX_DEPTH)
		f->n = DN_OFFCPU_MAX_DEPTH;
	if (f->nrec >= f->n)
		f->nrec = f->n ? f->n - 1 : 0;
	return 0;
}

/* The user frames of e into the pool: the stored stack, with the frames
 * of its stack copy (if the kernel had no rule yet) unwound here. */
static void user_frames(struct dn_offcpu *p, struct entry *e, uint64_t *out)
{
	int sfd = p->sk.stacks;
	int nfd = p->sk.snaps;
	struct dn_offcpu_frames f;
	struct dn_offcpu_snap sn;
	uint64_t rec[DN_OFFCPU_MAX_DEPTH];
	int n = 0, nr, d, ncfi = 0;
	bool tail_ok;

	e->nuser = 0;
	e->nrec = 0;
	if (frames_read(sfd, e->k.ustack, &f))
		return;
	if (bpf_map_lookup_elem(nfd, &e->k.ustack, &sn) == 0 && sn.depth < f.n &&
	    (nr = snap_unwind(p, &sn, rec, DN_OFFCPU_MAX_DEPTH, &tail_ok, &ncfi)) > 0) {
		d = (int)sn.depth + 1;
		memcpy(out, f.ips, (size_t)d * sizeof *out);
		n = d;
		for (int i = 0; i < nr && n < DN_OFFCPU_FRAMES; i++)
			out[n++] = rec[i];
		for (int i = d; tail_ok && i < (int)f.n && n < DN_OFFCPU_FRAMES; i++)
			out[n++] = f.ips[i];
		e->nrec = (int)sn.depth + ncfi;
		p->snap_recovered++;
	} else {
		memcpy(out, f.ips, (size_t)f.n * sizeof *out);
		n = (int)f.n;
		e->nrec = (int)f.nrec;
	}
	e->nuser = n;
}

static int keep_add(struct dn_offcpu *p, uint64_t key)
{
	if (!key)
		return 0;
	if (p->nkeep == p->capkeep) {
		size_t nc = p->capkeep ? p->capkeep * 2 : 1024;
		uint64_t *nk = realloc(p->keep, nc * sizeof *nk);

		if (!nk)
			return -ENOMEM;
		p->keep = nk;
		p->capkeep = nc;
	}
	p->keep[p->nkeep++] = key;
	return 0;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Is key among the sorted kept keys? With none kept, p->keep may still be
 * NULL (nothing was ever added), and bsearch's array must not be NULL even
 * for zero elements. */
static bool kept(const struct dn_offcpu *p, uint64_t key)
{
	return p->nkeep && bsearch(&key, p->keep, p->nkeep, sizeof *p->keep, u64_cmp);
}

/* Deletes the stacks of generation `old` that neither a pending interval
 * (start) nor an entry of the current generation uses. Runs after the flip:
 * the kernel stores no stack of `old` any more. start is read before agg:
 * an interval that ends in between is seen in one or the other. */
static void stacks_gc(struct dn_offcpu *p, uint32_t old)
{
	int tfd = p->sk.start;
	int afd = p->sk.agg;
	int sfd = p->sk.stacks;
	int nfd = p->sk.snaps;
	uint64_t oldbit = old & 1 ? DN_OFFCPU_GEN_BIT : 0, live = 0;
	struct dn_offcpu_start s;
	struct dn_offcpu_key ak, anext, *aprev = NULL;
	__u32 tk, tnext, *tprev = NULL;
	__u64 sk, snext, *sprev = NULL;
	uint64_t *dead = NULL;
	size_t ndead = 0, capdead = 0;

	p->nkeep = 0;
	while (bpf_map_get_next_key(tfd, tprev, &tnext) == 0) {
		tk = tnext;
		tprev = &tk;
		if (bpf_map_lookup_elem(tfd, &tk, &s) == 0 && s.ts &&
		    (keep_add(p, s.key.ustack) || keep_add(p, s.key.kstack)))
			return;
	}
	while (bpf_map_get_next_key(afd, aprev, &anext) == 0) {
		ak = anext;
		aprev = &ak;
		if (ak.gen != old && (keep_add(p, ak.ustack) || keep_add(p, ak.kstack)))
			return;
	}
	if (p->nkeep) /* qsort's array must not be NULL, even when empty */
		qsort(p->keep, p->nkeep, sizeof *p->keep, u64_cmp);
	while (bpf_map_get_next_key(sfd, sprev, &snext) == 0) {
		sk = snext;
		sprev = &sk;
		live++;
		if ((sk & DN_OFFCPU_GEN_BIT) != oldbit || kept(p, sk))
			continue;
		if (ndead == capdead) {
			size_t nc = capdead ? capdead * 2 : 1024;
			uint64_t *nd = realloc(dead, nc * sizeof *nd);

			if (!nd)
				break;
			dead = nd;
			capdead = nc;
		}
		dead[ndead++] = sk;
	}
	/* delete after the walk: deleting the current key restarts it */
	for (size_t i = 0; i < ndead; i++) {
		if (bpf_map_delete_elem(sfd, &dead[i]) == 0) {
			p->stacks_freed++;
			live--;
		}
		bpf_map_delete_elem(nfd, &dead[i]);
	}
	p->stacks_live = live;
	free(dead);
}

int dn_offcpu_drain(struct dn_offcpu *p, void (*fn)(const struct dn_offcpu_stack *s, void *ctx),
		    void *ctx)
{
	int afd, sfd, nout = 0;
	struct dn_offcpu_key k, next, *prev = NULL;
	struct dn_offcpu_frames kf;
	struct dn_offcpu_stack st;
	struct timespec ts = {0, 200000};
	__u32 old;
	size_t i, j;

	if (!p)
		return -EINVAL;
	afd = p->sk.agg;
	sfd = p->sk.stacks;
	p->maps.pid = 0; /* read each process's maps again */
	resolve_unknown(p);

	old = __atomic_load_n(p->sk.gen, __ATOMIC_RELAXED);
	__atomic_store_n(p->sk.gen, old ^ 1, __ATOMIC_SEQ_CST);
	/* A program that read the old generation finishes within
	 * microseconds (it runs with preemption off); give it 200 us. */
	nanosleep(&ts, NULL);

	p->nents = 0;
	while (bpf_map_get_next_key(afd, prev, &next) == 0) {
		k = next;
		prev = &k;
		if (next.gen != old)
			continue;
		if (p->nents == p->capents) {
			size_t nc = p->capents ? p->capents * 2 : 256;
			struct entry *ne = realloc(p->ents, nc * sizeof *ne);

			if (!ne)
				return -ENOMEM;
			p->ents = ne;
			p->capents = nc;
		}
		struct entry *e = &p->ents[p->nents];

		e->k = next;
		if (bpf_map_lookup_elem(afd, &next, &e->v))
			continue;
		p->nents++;
	}
	/* delete after the walk: deleting the current key restarts it */
	for (i = 0; i < p->nents; i++)
		bpf_map_delete_elem(afd, &p->ents[i].k);

	if (p->nents * DN_OFFCPU_MAX_DEPTH > p->capframes) {
		size_t nc = p->nents * DN_OFFCPU_MAX_DEPTH;
		uint64_t *nf = realloc(p->frames, nc * sizeof *nf);

		if (!nf)
			return -ENOMEM;
		p->frames = nf;
		p->capframes = nc;
	}
	for (i = 0; i < p->nents; i++) {
		struct entry *e = &p->ents[i];

		e->uoff = i * DN_OFFCPU_MAX_DEPTH;
		user_frames(p, e, p->frames + e->uoff);
		e->kkey = e->k.kstack & ~DN_OFFCPU_GEN_BIT;
	}
	/* the first samples of a frame (unwound here from the stack copy)
	 * and the later ones (unwound in the kernel) are one stack */
	if (p->nents) /* qsort_r's array must not be NULL, even when empty */
		qsort_r(p->ents, p->nents, sizeof *p->ents, entry_cmp, p->frames);
	for (i = 0; i < p->nents; i = j) {
		struct entry *e = &p->ents[i];

		memset(&st, 0, sizeof st);
		st.tgid = (pid_t)e->k.tgid;
		st.tid = (pid_t)e->k.tid;
		memcpy(st.comm, e->v.comm, sizeof st.comm);
		st.comm[sizeof st.comm - 1] = '\0';
		st.state = (char)e->k.state;
		for (j = i; j < p->nents && entry_cmp(e, &p->ents[j], p->frames) == 0; j++) {
			st.off_ns += p->ents[j].v.total_ns;
			st.count += p->ents[j].v.count;
			if (p->ents[j].v.max_ns > st.max_ns)
				st.max_ns = p->ents[j].v.max_ns;
		}
		memcpy(st.user, p->frames + e->uoff, (size_t)e->nuser * sizeof st.user[0]);
		st.nuser = e->nuser;
		st.nrecovered = e->nrec;
		st.recovered = e->nrec > 0;
		if (frames_read(sfd, e->k.kstack, &kf) == 0) {
			memcpy(st.kernel, kf.ips, kf.n * sizeof st.kernel[0]);
			st.nkernel = (int)kf.n;
		}
		if (fn)
			fn(&st, ctx);
		nout++;
	}
	stacks_gc(p, old);
	return nout;
}

bool dn_offcpu_is_tracked(const struct dn_offcpu *p, pid_t tgid)
{
	__u32 t = (__u32)tgid;

	if (!p || tgid <= 0)
		return false;
	return __atomic_load_n(&p->sk.tracked_bits[(t >> 6) & (DN_TRACKED_WORDS - 1)],
			       __ATOMIC_RELAXED) &
	       (1ULL << (t & 63));
}

int dn_offcpu_syscall_map(const struct dn_offcpu *p)
{
	return p ? p->sk.sys_agg : -1;
}

void dn_offcpu_syscall_losses(const struct dn_offcpu *p, struct dn_offcpu_syscall_losses *l)
{
	memset(l, 0, sizeof *l);
	if (!p || p->sk.sys_agg < 0)
		return;
	l->agg_full = p->sk.sys_counters->agg_full;
	l->start_full = p->sk.sys_counters->start_full;
}

void dn_offcpu_bpf_cost(const struct dn_offcpu *p, struct dn_bpf_cost *c)
{
	/* a program left unattached never runs: its figures stay 0 */
	dn_bpf_cost_add(c, p->sk.progs, DN_OFFCPU_PROGS);
}

void dn_offcpu_close(struct dn_offcpu *p)
{
	if (!p)
		return;
	ring_buffer__free(p->rb);
	skel_destroy(&p->sk);
	dn_pm_release(p->pm, &p->maps);
	dn_pm_free(p->pm);
	free(p->leaves);
	free(p->ents);
	free(p->keep);
	free(p->frames);
	free(p);
}
