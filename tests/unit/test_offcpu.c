/*
 * test_offcpu.c — engine/offcpu.c and bpf/offcpu.bpf.c on the real kernel.
 *
 * Drives build/helpers/blocker (a thread blocking 10 × 100 ms on a pipe in
 * wait_here_on_pipe, called from caller_of_wait): its off-CPU total, and a
 * top stack of kernel frames then, in order, libc read, wait_here_on_pipe,
 * caller_of_wait. The function ranges come from the blocker's own printed
 * runtime addresses plus a libelf symtab scan of its binary for the sizes.
 * Also: a busy process is (almost) never off-CPU, an untracked process is
 * not recorded, and the leaf offset of libc's read comes from its CFI.
 * Needs root (or CAP_BPF+CAP_PERFMON): skipped with the reason otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "offcpu.h"
#include "unit.h"

struct range {
	uint64_t lo, hi;
};

struct child {
	pid_t pid, tid;
	FILE *out;
	int in;
	struct range read, wait_fn, caller_fn;
	uint64_t wait_rt, caller_rt;
};

static char helpers[128];

static int blocker_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/blocker", helpers);
	return access(buf, X_OK) == 0 ? 0 : -errno;
}

/* st_value and st_size of a function in the binary's .symtab. */
static int symtab_lookup(const char *path, const char *name, uint64_t *value, uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), found = -ENOENT;
	Elf_Scn *scn = NULL;
	Elf *e;

	if (fd < 0)
		return -errno;
	elf_version(EV_CURRENT);
	e = elf_begin(fd, ELF_C_READ, NULL);
	while (e && (scn = elf_nextscn(e, scn)) != NULL) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB)
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;
			const char *n;

			if (!gelf_getsym(d, (int)i, &s))
				continue;
			n = elf_strptr(e, sh.sh_link, s.st_name);
			if (n && strcmp(n, name) == 0 && s.st_size) {
				*value = s.st_value;
				*size = s.st_size;
				found = 0;
			}
		}
	}
	elf_end(e);
	close(fd);
	return found;
}

/* Starts blocker with args; reads its report up to "ready". */
static int spawn(struct child *c, const char *a1, const char *a2)
{
	int in[2], out[2];
	char path[200], line[256];

	memset(c, 0, sizeof *c);
	if (blocker_path(path, sizeof path) || pipe(in) || pipe(out))
		return -1;
	c->pid = fork();
	if (c->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl(path, "blocker", a1, a2, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	c->in = in[1];
	c->out = fdopen(out[0], "r");
	while (fgets(line, sizeof line, c->out)) {
		unsigned long long a, s;

		if (sscanf(line, "read %llx %llx", &a, &s) == 2)
			c->read = (struct range){a, a + s};
		else if (sscanf(line, "wait_here_on_pipe %llx", &a) == 1)
			c->wait_rt = a;
		else if (sscanf(line, "caller_of_wait %llx", &a) == 1)
			c->caller_rt = a;
		else if (sscanf(line, "tid %llu", &a) == 1)
			c->tid = (pid_t)a;
		else if (strncmp(line, "ready", 5) == 0)
			break;
	}
	if (c->wait_rt) {
		uint64_t v, sz;

		if (symtab_lookup(path, "wait_here_on_pipe", &v, &sz) == 0)
			c->wait_fn = (struct range){c->wait_rt, c->wait_rt + sz};
		if (symtab_lookup(path, "caller_of_wait", &v, &sz) == 0)
			c->caller_fn = (struct range){c->caller_rt, c->caller_rt + sz};
	}
	return 0;
}

static void go(struct child *c)
{
	if (write(c->in, "go\n", 3) != 3)
		perror("write");
}

static int reap(struct child *c)
{
	int st = 0;

	close(c->in);
	if (c->out)
		fclose(c->out);
	waitpid(c->pid, &st, 0);
	return st;
}

/* ---- drain collection ---- */

#define MAXS 256
struct got {
	struct dn_offcpu_stack s[MAXS];
	int n;
};

static void collect(const struct dn_offcpu_stack *s, void *ctx)
{
	struct got *g = ctx;
	int i;

	/* Sum repeated keys across drains */
	for (i = 0; i < g->n; i++) {
		struct dn_offcpu_stack *t = &g->s[i];

		if (t->tid == s->tid && t->state == s->state && t->nuser == s->nuser &&
		    t->nkernel == s->nkernel &&
		    !memcmp(t->user, s->user, sizeof(uint64_t) * (size_t)s->nuser) &&
		    !memcmp(t->kernel, s->kernel, sizeof(uint64_t) * (size_t)s->nkernel)) {
			t->off_ns += s->off_ns;
			t->count += s->count;
			return;
		}
	}
	if (g->n < MAXS)
		g->s[g->n++] = *s;
}

static bool in(struct range r, uint64_t a)
{
	return a >= r.lo && a < r.hi;
}

static bool raw_tp;

/* NULL with the reason in why when this run cannot use BPF. */
/* NULL with the reason in `why` when this run cannot use BPF. */
static struct dn_offcpu *open_or_skip(char *why, size_t len)
{
	struct dn_offcpu_opts o = {
		.kernel_stacks = true, .user_stacks = true, .force_raw_tp = raw_tp};
	const char *vg = getenv("VALGRIND");

	if (vg && strcmp(vg, "1") == 0) {
		/* its bpf(2) model checks fields libbpf's attrs do not have
		 * (attr->flags of GET_NEXT_KEY...): false reports */
		snprintf(why, len, "valgrind does not model bpf(2)");
		return NULL;
	}
	return dn_offcpu_open(&o, why, len);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* With one_drain, one drain while the child lives (after 9 of its 10
 * waits): the frame of those must come from the kernel's copy of the top of
 * the stack, as user space had not seen the leaf before. */
static bool one_drain;

/* Drains every 100 ms until the child exits, then once more. */
static void run_and_drain(struct dn_offcpu *p, struct child *c, struct got *g)
{
	int st;

	go(c);
	if (one_drain) {
		sleep_ms(950);
		dn_offcpu_drain(p, collect, g);
	}
	while (waitpid(c->pid, &st, WNOHANG) == 0) {
		sleep_ms(one_drain ? 10 : 100);
		if (!one_drain)
			dn_offcpu_drain(p, collect, g);
	}
	c->pid = -1;
	dn_offcpu_drain(p, collect, g);
}

static void test_blocker_stack(void)
{
	static struct got g;
	struct dn_offcpu_stats st;
	struct child c, other;
	struct dn_offcpu *p;
	char why[200], path[200];
	uint64_t total = 0;
	int top = -1;

	if (geteuid() != 0)
		UNIT_SKIP("needs root for eBPF");
	if (blocker_path(path, sizeof path))
		UNIT_SKIP("%s not built", path);
	p = open_or_skip(why, sizeof why);
	if (!p)
		UNIT_SKIP("eBPF unavailable: %s", why);
	CHECK(spawn(&c, "10", "100") == 0);
	CHECK(spawn(&other, "20", "50") == 0); /* blocks a lot, untracked */
	CHECK(c.read.lo && c.wait_fn.hi && c.caller_fn.hi && c.tid > 0);
	CHECK_INT(dn_offcpu_track(p, c.pid), 0);
	go(&other);
	g.n = 0;
	run_and_drain(p, &c, &g);
	for (int i = 0; i < g.n; i++) {
		CHECK(g.s[i].tgid != other.pid);
		if (g.s[i].tid != c.tid)
			continue;
		total += g.s[i].off_ns;
		if (top < 0 || g.s[i].off_ns > g.s[top].off_ns)
			top = i;
	}
	printf("# blocker tid %d: off-CPU %.3f s in %d stacks\n", c.tid, total / 1e9, g.n);
	if (getenv("OFFCPU_DEBUG"))
		for (int i = 0; i < g.n; i++) {
			printf("#  tid %d %.3f s x%llu rec %d k%d:", g.s[i].tid, g.s[i].off_ns / 1e9,
			       (unsigned long long)g.s[i].count, g.s[i].nrecovered, g.s[i].nkernel);
			for (int j = 0; j < g.s[i].nuser && j < 8; j++)
				printf(" %#llx", (unsigned long long)g.s[i].user[j]);
			printf("\n");
		}
	CHECK(total > 800000000ULL && total < 1200000000ULL);
	CHECK(top >= 0);
	if (top >= 0) {
		const struct dn_offcpu_stack *s = &g.s[top];

		printf("# top: %.3f s, %llu times, state %c, %d kernel frames, "
		       "user:",
		       s->off_ns / 1e9, (unsigned long long)s->count, s->state, s->nkernel);
		for (int i = 0; i < s->nuser && i < 6; i++)
			printf(" %#llx", (unsigned long long)s->user[i]);
		printf("\n#   read [%#llx,%#llx) wait [%#llx,%#llx) caller [%#llx,%#llx)\n",
		       (unsigned long long)c.read.lo, (unsigned long long)c.read.hi,
		       (unsigned long long)c.wait_fn.lo, (unsigned long long)c.wait_fn.hi,
		       (unsigned long long)c.caller_fn.lo, (unsigned long long)c.caller_fn.hi);
		printf("#   kernel:");
		for (int i = 0; i < s->nkernel && i < 12; i++)
			printf(" %#llx", (unsigned long long)s->kernel[i]);
		printf("\n");
		CHECK(s->nkernel > 0);
		CHECK(s->state == 'S');
		CHECK(s->nuser >= 3);
		if (s->nuser >= 3) {
			CHECK(in(c.read, s->user[0]));
			CHECK(in(c.wait_fn, s->user[1]));
			CHECK(in(c.caller_fn, s->user[2]));
		}
	}
	dn_offcpu_get_stats(p, &st);
	printf("# stats: %s, out %llu recorded %llu recovered(kernel) %llu "
	       "unknown %llu snap %llu leaves %llu ustack_err %llu kstack_err %llu\n",
	       st.btf_tracepoint ? "tp_btf" : "raw_tp", (unsigned long long)st.switches_out,
	       (unsigned long long)st.recorded, (unsigned long long)st.recovered,
	       (unsigned long long)st.unknown_leaf, (unsigned long long)st.snap_recovered,
	       (unsigned long long)st.leaves_resolved, (unsigned long long)st.ustack_err,
	       (unsigned long long)st.kstack_err);
	CHECK(one_drain ? st.snap_recovered > 0 : st.recovered > 0);
	reap(&c);
	reap(&other);
	dn_offcpu_close(p);
}

static void test_busy_not_offcpu(void)
{
	static struct got g;
	struct dn_offcpu *p;
	struct child c;
	char why[200], path[200];
	uint64_t total = 0;

	if (geteuid() != 0)
		UNIT_SKIP("needs root for eBPF");
	if (blocker_path(path, sizeof path))
		UNIT_SKIP("%s not built", path);
	p = open_or_skip(why, sizeof why);
	if (!p)
		UNIT_SKIP("eBPF unavailable: %s", why);
	CHECK(spawn(&c, "busy", "0.5") == 0);
	CHECK_INT(dn_offcpu_track(p, c.pid), 0);
	g.n = 0;
	run_and_drain(p, &c, &g);
	for (int i = 0; i < g.n; i++)
		total += g.s[i].off_ns;
	printf("# busy 0.5 s: off-CPU %.3f ms\n", total / 1e6);
	CHECK(total < 20000000ULL); /* < 20 ms of 500 */
	reap(&c);
	dn_offcpu_close(p);
}

static void test_leaf_offset(void)
{
	struct dn_offcpu *p;
	struct child c;
	char why[200], path[200];
	int off = -1, r;

	if (geteuid() != 0)
		UNIT_SKIP("needs root for eBPF");
	if (blocker_path(path, sizeof path))
		UNIT_SKIP("%s not built", path);
	p = open_or_skip(why, sizeof why);
	if (!p)
		UNIT_SKIP("eBPF unavailable: %s", why);
	CHECK(spawn(&c, "1", "10") == 0);
	/* At its entry a function's return address is at sp + 0 */
	r = dn_offcpu_leaf_offset(p, c.pid, c.read.lo, &off);
	CHECK_INT(r, 0);
	CHECK_INT(off, 0);
	/* A frame-pointer function after its prologue: nothing to recover */
	r = dn_offcpu_leaf_offset(p, c.pid, c.caller_fn.lo + 8, &off);
	CHECK_INT(r, -EOPNOTSUPP);
	CHECK_INT(dn_offcpu_leaf_offset(p, 999999999, c.read.lo, &off), -ESRCH);
	go(&c);
	reap(&c);
	dn_offcpu_close(p);
}

static void test_open_bad_pid(void)
{
	struct dn_offcpu *p;
	char why[200];

	if (geteuid() != 0)
		UNIT_SKIP("needs root for eBPF");
	p = open_or_skip(why, sizeof why);
	if (!p)
		UNIT_SKIP("eBPF unavailable: %s", why);
	CHECK_INT(dn_offcpu_track(p, 0), -EINVAL);
	CHECK_INT(dn_offcpu_drain(p, NULL, NULL), 0);
	dn_offcpu_close(p);
}

int main(void)
{
	const char *h = getenv("DENET_HELPERS");

	snprintf(helpers, sizeof helpers, "%s", h ? h : "build/helpers");
	signal(SIGPIPE, SIG_IGN);
	RUN(test_open_bad_pid);
	RUN(test_leaf_offset);
	RUN(test_blocker_stack);
	raw_tp = true;
	unit_run("test_blocker_stack_raw_tp", test_blocker_stack);
	raw_tp = false;
	one_drain = true;
	unit_run("test_blocker_stack_first_sample", test_blocker_stack);
	one_drain = false;
	RUN(test_busy_not_offcpu);
	return unit_done();
}
