/*
 * offcpu.c — loader of bpf/offcpu.bpf.c: open/attach, the tracked tgid set,
 * leaf-frame recovery rules (.eh_frame CFI through libdw) and the drain of
 * the in-kernel aggregate.
 *
 * Owns: the skeleton, a cache of opened ELF files (by device and inode) with
 * their CFI, and a cache of computed leaf offsets (device, inode, ELF
 * address). Symbolization is not done here.
 *
 * Drain: the aggregate key carries a generation; the kernel writes into
 * bss.gen and the drain flips it, waits for programs already running to
 * finish, then reads and deletes the old generation, which nobody writes
 * any more. So no interval is lost and no element is deleted while the
 * kernel adds to it (a lookup-and-delete per key would race with the
 * kernel's atomic add into the element being freed).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>
#include <libelf.h>

#include "../bpf/offcpu.h"
#include "offcpu.h"
#include "offcpu.skel.h"

#define MOD_CACHE    16
#define LEAF_CACHE   4096 /* power of two */
#define DWARF_REG_SP 7	  /* x86_64 DWARF register numbers */
#define DWARF_REG_RA 16

struct mod {
	dev_t dev;
	ino_t ino;
	int fd;
	Elf *elf;
	Dwarf_CFI *cfi;	    /* NULL: no .eh_frame */
	unsigned long used; /* LRU clock */
};

struct leaf_ent {
	dev_t dev;
	ino_t ino;
	uint64_t addr;
	int off; /* >=0 offset; <0 -errno */
	bool valid;
};

/* /proc/PID/maps of one process, read once per drain. */
struct maps {
	pid_t pid;
	char *text;
	size_t len;
};

struct dn_offcpu {
	struct offcpu_bpf *skel;
	struct dn_offcpu_opts opts;
	bool btf_tp;
	struct mod mods[MOD_CACHE];
	unsigned long clock;
	struct leaf_ent *leaves;
	struct maps maps;
	uint64_t leaves_resolved, snap_recovered;
	/* drain scratch */
	struct entry *ents;
	size_t nents, capents;
};

/* ---- libbpf messages: kept, never printed ---- */

static char last_msg[256];

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
	if (n)
		memcpy(last_msg, line, n + 1);
	return 0;
}

static void set_why(char *why, size_t len, int err, const char *what)
{
	if (!why || !len)
		return;
	if (err == EPERM || err == EACCES)
		snprintf(why, len, "eBPF needs root or CAP_BPF+CAP_PERFMON (%s %s)",
			 strerrorname_np(err) ? strerrorname_np(err) : "EPERM", what);
	else if (err == ENOSYS)
		snprintf(why, len, "kernel without bpf() (ENOSYS %s)", what);
	else
		snprintf(why, len, "%s failed: %s%s%s", what, strerror(err),
			 last_msg[0] ? "; libbpf: " : "", last_msg);
}

static struct offcpu_bpf *load(const struct dn_offcpu_opts *o, bool btf, int *err,
			       const char **what)
{
	struct offcpu_bpf *s = offcpu_bpf__open();

	if (!s) {
		*err = errno ? errno : EINVAL;
		*what = "opening offcpu.bpf.o";
		return NULL;
	}
	s->rodata->kernel_stacks = o->kernel_stacks;
	s->rodata->user_stacks = o->user_stacks;
	s->rodata->recover_leaf = o->user_stacks;
	s->rodata->min_ns = o->min_us ? o->min_us * 1000 : 1;
	s->rodata->max_ns = o->max_us ? o->max_us * 1000 : ~0ULL;
	bpf_program__set_autoload(s->progs.dn_switch_btf, btf);
	bpf_program__set_autoload(s->progs.dn_switch_raw, !btf);
	*err = -offcpu_bpf__load(s);
	if (*err) {
		*what = "loading offcpu.bpf.o";
		offcpu_bpf__destroy(s);
		return NULL;
	}
	*err = -offcpu_bpf__attach(s);
	if (*err) {
		*what = "attaching sched_switch";
		offcpu_bpf__destroy(s);
		return NULL;
	}
	return s;
}

struct dn_offcpu *dn_offcpu_open(const struct dn_offcpu_opts *o, char *why, size_t whylen)
{
	libbpf_print_fn_t old = libbpf_set_print(quiet_print);
	struct dn_offcpu *p;
	const char *what = "";
	int err = 0;

	last_msg[0] = '\0';
	if (why && whylen)
		why[0] = '\0';
	p = calloc(1, sizeof *p);
	if (p)
		p->leaves = calloc(LEAF_CACHE, sizeof *p->leaves);
	if (!p || !p->leaves) {
		free(p);
		libbpf_set_print(old);
		set_why(why, whylen, ENOMEM, "allocating");
		errno = ENOMEM;
		return NULL;
	}
	p->opts = *o;
	for (int i = 0; i < MOD_CACHE; i++)
		p->mods[i].fd = -1;
	elf_version(EV_CURRENT);
	/* tp_btf where the kernel takes it, raw_tp otherwise */
	if (!o->force_raw_tp)
		p->skel = load(o, true, &err, &what);
	p->btf_tp = p->skel != NULL;
	if (!p->skel && err != EPERM && err != EACCES)
		p->skel = load(o, false, &err, &what);
	libbpf_set_print(old);
	if (!p->skel) {
		set_why(why, whylen, err, what);
		free(p->leaves);
		free(p);
		errno = err;
		return NULL;
	}
	return p;
}

int dn_offcpu_track(struct dn_offcpu *p, pid_t tgid)
{
	__u32 key = (__u32)tgid;
	__u64 aspace;

	if (!p || tgid <= 0)
		return -EINVAL;
	/* Keep the id if already tracked (children added by the kernel) */
	if (bpf_map_lookup_elem(bpf_map__fd(p->skel->maps.tgids), &key, &aspace) == 0)
		return 0;
	aspace = __atomic_add_fetch(&p->skel->bss->aspace_seq, 1, __ATOMIC_SEQ_CST);
	if (bpf_map_update_elem(bpf_map__fd(p->skel->maps.tgids), &key, &aspace, BPF_ANY))
		return -errno;
	return 0;
}

void dn_offcpu_get_stats(const struct dn_offcpu *p, struct dn_offcpu_stats *st)
{
	const struct dn_offcpu_counters *c = &p->skel->bss->counters;

	memset(st, 0, sizeof *st);
	st->switches_out = c->switches_out;
	st->recorded = c->recorded;
	st->recovered = c->recovered;
	st->unknown_leaf = c->unknown_leaf;
	st->ustack_err = c->ustack_err;
	st->kstack_err = c->kstack_err;
	st->agg_full = c->agg_full;
	st->start_full = c->start_full;
	st->leaves_resolved = p->leaves_resolved;
	st->snap_recovered = p->snap_recovered;
	st->btf_tracepoint = p->btf_tp;
}

/* ---- leaf rules from .eh_frame ---- */

static int maps_load(struct dn_offcpu *p, pid_t pid)
{
	char path[64];
	size_t cap = 0, n = 0;
	char *buf = NULL;
	ssize_t r;
	int fd;

	if (p->maps.pid == pid && p->maps.text)
		return 0;
	free(p->maps.text);
	p->maps.text = NULL;
	p->maps.pid = 0;
	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	for (;;) {
		if (cap - n < 4096) {
			char *nb = realloc(buf, cap ? cap * 2 : 16384);

			if (!nb) {
				free(buf);
				close(fd);
				return -ENOMEM;
			}
			buf = nb;
			cap = cap ? cap * 2 : 16384;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (!n) {
		free(buf);
		return -ESRCH; /* exited (or a kernel thread) */
	}
	buf[n] = '\0';
	p->maps.text = buf;
	p->maps.len = n;
	p->maps.pid = pid;
	return 0;
}

struct mapping {
	uint64_t start, end, pgoff;
	dev_t dev;
	ino_t ino;
	bool exec;
};

static int maps_find(const struct maps *m, uint64_t ip, struct mapping *out)
{
	const char *s = m->text, *end = m->text + m->len;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		unsigned long long a, b, off, ino;
		unsigned int maj, min;
		char perms[5];

		if (!nl)
			nl = end;
		if (sscanf(s, "%llx-%llx %4s %llx %x:%x %llu", &a, &b, perms, &off, &maj, &min,
			   &ino) == 7 &&
		    ip >= a && ip < b) {
			out->start = a;
			out->end = b;
			out->pgoff = off;
			out->dev = makedev(maj, min);
			out->ino = (ino_t)ino;
			out->exec = perms[2] == 'x';
			return ino ? 0 : -ENOENT; /* anonymous, [vdso]... */
		}
		s = nl + 1;
	}
	return -ENOENT;
}

static struct mod *mod_get(struct dn_offcpu *p, pid_t pid, const struct mapping *mp)
{
	struct mod *m, *victim = &p->mods[0];
	char path[96];
	int fd;

	for (int i = 0; i < MOD_CACHE; i++) {
		m = &p->mods[i];
		if (m->fd >= 0 && m->dev == mp->dev && m->ino == mp->ino) {
			m->used = ++p->clock;
			return m;
		}
		if (m->fd < 0 || m->used < victim->used)
			victim = m;
	}
	/* map_files names the very file mapped, even deleted or in another
	 * mount namespace */
	snprintf(path, sizeof path, "/proc/%d/map_files/%llx-%llx", (int)pid,
		 (unsigned long long)mp->start, (unsigned long long)mp->end);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	m = victim;
	if (m->fd >= 0) {
		if (m->cfi)
			dwarf_cfi_end(m->cfi);
		elf_end(m->elf);
		close(m->fd);
	}
	m->fd = fd;
	m->dev = mp->dev;
	m->ino = mp->ino;
	m->elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	m->cfi = m->elf ? dwarf_getcfi_elf(m->elf) : NULL;
	m->used = ++p->clock;
	return m;
}

/* File offset -> ELF virtual address through the PT_LOAD headers. */
static int elf_addr_of(Elf *e, uint64_t foff, uint64_t *addr)
{
	size_t n;

	if (elf_getphdrnum(e, &n))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (foff >= ph.p_offset && foff < ph.p_offset + ph.p_filesz) {
			*addr = foff - ph.p_offset + ph.p_vaddr;
			return 0;
		}
	}
	return -ENOENT;
}

static int cfi_offset(Dwarf_CFI *cfi, uint64_t addr)
{
	Dwarf_Op ops_mem[3], *ops;
	Dwarf_Frame *fr = NULL;
	int64_t cfa, ra = -8;
	size_t nops;
	int ret = -ENOENT;

	if (dwarf_cfi_addrframe(cfi, addr, &fr) != 0)
		return -ENOENT;
	if (dwarf_frame_cfa(fr, &ops, &nops) != 0 || nops != 1 || ops[0].atom != DW_OP_bregx)
		goto out;
	if (ops[0].number != DWARF_REG_SP) {
		ret = -EOPNOTSUPP; /* rbp-based: the FP walk has the caller */
		goto out;
	}
	cfa = (int64_t)ops[0].number2;
	if (dwarf_frame_register(fr, DWARF_REG_RA, ops_mem, &ops, &nops) == 0 && nops >= 1 &&
	    ops[0].atom == DW_OP_call_frame_cfa) {
		if (nops == 1)
			ra = 0;
		else if (nops == 2 && ops[1].atom == DW_OP_plus_uconst)
			ra = (int64_t)ops[1].number;
		else if (nops == 3 && ops[1].atom == DW_OP_consts && ops[2].atom == DW_OP_plus)
			ra = (int64_t)ops[1].number;
	}
	if (cfa + ra < 0 || cfa + ra > 65535)
		ret = -ERANGE;
	else
		ret = (int)(cfa + ra);
out:
	free(fr);
	return ret;
}

/* As dn_offcpu_leaf_offset, with the maps read once per drain. */
static int leaf_offset(struct dn_offcpu *p, pid_t pid, uint64_t ip, int *off)
{
	struct mapping mp;
	struct leaf_ent *le;
	uint64_t addr, h;
	struct mod *m;
	int r;

	if (!p || !off)
		return -EINVAL;
	r = maps_load(p, pid);
	if (r)
		return r;
	r = maps_find(&p->maps, ip, &mp);
	if (r)
		return r;
	m = mod_get(p, pid, &mp);
	if (!m)
		return errno == ENOENT ? -ESRCH : -errno;
	if (!m->elf)
		return -ENOEXEC;
	r = elf_addr_of(m->elf, ip - mp.start + mp.pgoff, &addr);
	if (r)
		return r;
	h = (addr * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)mp.ino ^ ((uint64_t)mp.dev << 20);
	le = &p->leaves[(h >> 20) & (LEAF_CACHE - 1)];
	if (!(le->valid && le->addr == addr && le->ino == mp.ino && le->dev == mp.dev)) {
		le->valid = true;
		le->addr = addr;
		le->ino = mp.ino;
		le->dev = mp.dev;
		le->off = m->cfi ? cfi_offset(m->cfi, addr) : -ENOENT;
	}
	if (le->off < 0)
		return le->off;
	*off = le->off;
	return 0;
}

int dn_offcpu_leaf_offset(struct dn_offcpu *p, pid_t pid, uint64_t ip, int *off)
{
	if (!p || !off)
		return -EINVAL;
	p->maps.pid = 0; /* the maps may have changed since */
	return leaf_offset(p, pid, ip, off);
}

/* Resolves the leaves the kernel met without a rule. */
static void resolve_unknown(struct dn_offcpu *p)
{
	int ufd = bpf_map__fd(p->skel->maps.leaf_unknown);
	int cfd = bpf_map__fd(p->skel->maps.leaf_cfa);
	int tfd = bpf_map__fd(p->skel->maps.tgids);
	struct dn_offcpu_leaf_key k, next, *prev = NULL;
	struct dn_offcpu_leaf_who who;

	/* Deleting while iterating restarts the walk: collect first. */
	struct dn_offcpu_leaf_key keys[256];
	size_t n = 0;

	while (n < 256 && bpf_map_get_next_key(ufd, prev, &next) == 0) {
		keys[n++] = next;
		k = next;
		prev = &k;
	}
	for (size_t i = 0; i < n; i++) {
		__u64 cur;
		__s32 v = DN_OFFCPU_NO_RECOVERY;
		int off, r;

		if (bpf_map_lookup_elem(ufd, &keys[i], &who) == 0 &&
		    bpf_map_lookup_elem(tfd, &who.tgid, &cur) == 0 && cur == keys[i].aspace) {
			r = leaf_offset(p, (pid_t)who.tgid, keys[i].ip, &off);
			if (r == 0)
				v = off;
			if (r != -ESRCH && r != -ENOMEM) {
				bpf_map_update_elem(cfd, &keys[i], &v, BPF_ANY);
				p->leaves_resolved++;
			}
		}
		bpf_map_delete_elem(ufd, &keys[i]);
	}
}

/* ---- drain ---- */

struct entry {
	struct dn_offcpu_key k;
	struct dn_offcpu_val v;
	uint64_t ret; /* recovered return address (kernel or snapshot) */
};

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

#define CMP(f)            \
	if (x->f != y->f) \
	return x->f < y->f ? -1 : 1
	CMP(k.tgid);
	CMP(k.tid);
	CMP(k.state);
	CMP(k.user_stack_id);
	CMP(k.kern_stack_id);
	CMP(ret);
#undef CMP
	return 0;
}

static void snap_recover(struct dn_offcpu *p, struct entry *e)
{
	int tfd = bpf_map__fd(p->skel->maps.tgids);
	int cfd = bpf_map__fd(p->skel->maps.leaf_cfa);
	const struct dn_offcpu_val *v = &e->v;
	struct dn_offcpu_leaf_key lk = {v->snap_aspace, v->snap_ip};
	__s32 rule;
	__u64 cur;
	uint64_t ret;
	int off;

	if (e->ret || !v->snap_sp)
		return;
	/* A rule learnt for this image works after the process is gone;
	 * else ask the live process, if it still runs the same image. */
	if (bpf_map_lookup_elem(cfd, &lk, &rule) == 0)
		off = rule;
	else if (bpf_map_lookup_elem(tfd, &e->k.tgid, &cur) || cur != v->snap_aspace ||
		 leaf_offset(p, (pid_t)e->k.tgid, v->snap_ip, &off))
		return;
	if (off < 0 || (size_t)off + 8 > sizeof v->snap ||
	    v->snap_sp + (uint64_t)off == v->snap_bp + 8)
		return;
	memcpy(&ret, v->snap + off, sizeof ret);
	if (ret && ret < 0x800000000000ULL) {
		e->ret = ret;
		p->snap_recovered++;
	}
}

static int stack_read(int fd, __s32 id, uint64_t *out, int skip_first)
{
	__u64 ips[DN_OFFCPU_MAX_DEPTH];
	int n = 0;

	(void)skip_first;
	if (id < 0 || bpf_map_lookup_elem(fd, &id, ips))
		return 0;
	while (n < DN_OFFCPU_MAX_DEPTH && ips[n])
		out[n] = ips[n], n++;
	return n;
}

int dn_offcpu_drain(struct dn_offcpu *p, void (*fn)(const struct dn_offcpu_stack *s, void *ctx),
		    void *ctx)
{
	int afd, sfd, nout = 0;
	struct dn_offcpu_key k, next, *prev = NULL;
	struct dn_offcpu_stack st;
	struct timespec ts = {0, 200000};
	__u32 old;
	size_t i, j;

	if (!p)
		return -EINVAL;
	afd = bpf_map__fd(p->skel->maps.agg);
	sfd = bpf_map__fd(p->skel->maps.stacks);
	p->maps.pid = 0; /* read each process's maps again */
	resolve_unknown(p);

	old = __atomic_load_n(&p->skel->bss->gen, __ATOMIC_RELAXED);
	__atomic_store_n(&p->skel->bss->gen, old ^ 1, __ATOMIC_SEQ_CST);
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

	for (i = 0; i < p->nents; i++) {
		p->ents[i].ret = p->ents[i].k.recovered_ret;
		snap_recover(p, &p->ents[i]);
	}
	/* the first sample of a leaf (recovered from its stack copy) and
	 * the later ones (recovered in the kernel) are one stack */
	qsort(p->ents, p->nents, sizeof *p->ents, entry_cmp);
	for (i = 0; i < p->nents; i = j) {
		struct entry *e = &p->ents[i];

		memset(&st, 0, sizeof st);
		st.tgid = (pid_t)e->k.tgid;
		st.tid = (pid_t)e->k.tid;
		memcpy(st.comm, e->v.comm, sizeof st.comm);
		st.comm[sizeof st.comm - 1] = '\0';
		st.state = (char)e->k.state;
		for (j = i; j < p->nents && entry_cmp(e, &p->ents[j]) == 0; j++) {
			st.off_ns += p->ents[j].v.total_ns;
			st.count += p->ents[j].v.count;
			if (p->ents[j].v.max_ns > st.max_ns)
				st.max_ns = p->ents[j].v.max_ns;
		}
		st.nuser = stack_read(sfd, e->k.user_stack_id, st.user, 0);
		if (e->ret && st.nuser >= 1) {
			int n = st.nuser < DN_OFFCPU_FRAMES ? st.nuser : DN_OFFCPU_FRAMES - 1;

			memmove(&st.user[2], &st.user[1], (size_t)(n - 1) * sizeof st.user[0]);
			st.user[1] = e->ret;
			st.nuser = n + 1;
			st.recovered = true;
		}
		st.nkernel = stack_read(sfd, e->k.kern_stack_id, st.kernel, 0);
		if (fn)
			fn(&st, ctx);
		nout++;
	}
	return nout;
}

void dn_offcpu_close(struct dn_offcpu *p)
{
	if (!p)
		return;
	offcpu_bpf__destroy(p->skel);
	for (int i = 0; i < MOD_CACHE; i++) {
		if (p->mods[i].fd >= 0) {
			if (p->mods[i].cfi)
				dwarf_cfi_end(p->mods[i].cfi);
			elf_end(p->mods[i].elf);
			close(p->mods[i].fd);
		}
	}
	free(p->maps.text);
	free(p->leaves);
	free(p->ents);
	free(p);
}
