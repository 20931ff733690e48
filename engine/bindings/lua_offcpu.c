/*
 * lua_offcpu.c — the off-CPU profiler and the symbolizer in `denet.core`:
 * core.offcpu{...} (a "denet.offcpu" object over engine/profiler/profile.h),
 * core.symbolizer(pid) (a "denet.symbolizer" object owning a
 * dn_symbolizer), core.symbolize(pid, addrs), and the eBPF probe behind
 * core.ebpf_probe() and denet.features.ebpf (lua_features.c).
 * luaopen_denet_core (lua_core.c) adds these through dn_lua_open_offcpu.
 *
 * Ownership: a profiler object owns its dn_profile (the loaded BPF program,
 * its maps and its symbolizer); a symbolizer object owns its dn_symbolizer.
 * Both are released by :close(), `<close>` or garbage collection, whichever
 * comes first. Frame strings are copied into Lua strings, so nothing handed
 * to Lua points into C memory.
 *
 * Errors follow lua_aux.h: a bad argument raises; an environmental failure
 * (no permission for BPF, PID gone) returns nil, "ENAME: message", "ENAME".
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <lauxlib.h>
#include <lua.h>

#include "buf.h"
#include "loop.h"
#include "lua_aux.h"
#include "lua_loop.h"
#include "lua_offcpu.h"
#include "proctree.h"
#include "profile.h"
#include "symbolizer.h"

#define OFFCPU_MT     "denet.offcpu"
#define SYMBOLIZER_MT "denet.symbolizer"

/* User space ends below this on every 64-bit Linux we run on. */
#define KERNEL_START 0xffff800000000000ULL

struct lprof {
	struct dn_profile *p; /* NULL once closed */
	pid_t pid;
	bool stacks;
	struct dn_loop *loop; /* where the profile's process events are watched */
	int efd;
};

/* exec/fork/first-block events: capture maps at once (see profile.h) */
static void on_prof_events(struct dn_loop *loop, int fd, uint32_t events, void *ctx)
{
	(void)loop;
	(void)fd;
	(void)events;
	struct lprof *lp = ctx;
	if (lp->p)
		dn_profile_poll_events(lp->p);
}

/* The closed state, set before anything can fail: lprof_close is then
 * safe on every path (a zero-filled efd would be fd 0). */
static void lprof_init(struct lprof *lp)
{
	memset(lp, 0, sizeof *lp);
	lp->efd = -1;
}

/* The one close path of :close(), <close> and __gc: idempotent. */
static void lprof_close(struct lprof *lp)
{
	if (lp->efd >= 0 && lp->loop)
		dn_loop_del_fd(lp->loop, lp->efd);
	lp->efd = -1;
	if (lp->p)
		dn_profile_close(lp->p);
	lp->p = NULL;
}

struct lsym {
	struct dn_symbolizer *s; /* NULL once closed */
	pid_t pid;
};

pid_t dn_lua_check_pid(lua_State *L, int idx, const char *fname)
{
	if (!lua_isinteger(L, idx))
		luaL_error(L, "%s: pid must be an integer, got %s", fname, luaL_typename(L, idx));
	lua_Integer pid = lua_tointeger(L, idx);
	if (pid <= 0 || pid > 0x7fffffff)
		luaL_error(L, "%s: pid must be a positive integer, got %I", fname, pid);
	return (pid_t)pid;
}

/* An address: an integer (kernel addresses are negative as Lua integers,
 * two's complement) or a string Lua converts to one ("0xffffffff81..."). */
static uint64_t check_addr(lua_State *L, int idx)
{
	int ok = 0;
	lua_Integer a = lua_tointegerx(L, idx, &ok);
	if (!ok)
		luaL_argerror(L, idx,
			      lua_pushfstring(L, "an address (integer) expected, got %s",
					      luaL_typename(L, idx)));
	return (uint64_t)a;
}

/* { addr, name, offset, module, file, line, kernel } of one frame. */
static void push_frame(lua_State *L, uint64_t addr, const struct dn_frame *f, bool kernel)
{
	lua_createtable(L, 0, 7);
	set_int(L, "addr", addr);
	dn_lua_set_str(L, "name", f->name);
	set_int(L, "offset", f->offset);
	dn_lua_set_str(L, "module", f->module ? f->module : "[unknown]");
	dn_lua_set_str(L, "file", f->file);
	if (f->line > 0)
		set_int(L, "line", (uint64_t)f->line);
	lua_pushboolean(L, kernel);
	lua_setfield(L, -2, "kernel");
}

static void resolve_push(lua_State *L, struct dn_symbolizer *s, pid_t pid, uint64_t addr)
{
	struct dn_frame f;
	memset(&f, 0, sizeof f);
	bool kernel = addr >= KERNEL_START;
	if (kernel)
		dn_sym_resolve_kernel(s, addr, &f);
	else
		dn_sym_resolve(s, pid, addr, &f);
	push_frame(L, addr, &f, kernel);
}

/* ---- options ------------------------------------------------------------ */

/* A non-negative whole number of microseconds; -1 when absent. */
static int64_t opt_us(lua_State *L, int idx, const char *k, const char *fname)
{
	lua_getfield(L, idx, k);
	int64_t v = -1;
	if (!lua_isnil(L, -1)) {
		lua_Number n = lua_tonumber(L, -1);
		if (!(n >= 0 && n <= 1e15))
			luaL_error(L, "%s: %s must be a number of microseconds >= 0", fname, k);
		v = (int64_t)n;
	}
	lua_pop(L, 1);
	return v;
}

/* ---- the eBPF probe (denet.features.ebpf) -------------------------------- */

static int probe_state; /* 0 not probed, 1 available, -1 not */
static char probe_why[256];

bool dn_lua_ebpf_probe(const char **why)
{
	if (!probe_state) {
		struct dn_profile_opts o = {.kernel_stacks = false, .min_us = 1000};
		char w[sizeof probe_why] = "";
		struct dn_profile *p = dn_profile_open(&o, w, sizeof w);
		if (p) {
			dn_profile_close(p);
			probe_state = 1;
		} else {
			int e = errno;
			probe_state = -1;
			if (!w[0])
				snprintf(w, sizeof w, "cannot load the eBPF program: %s",
					 strerror(e));
			snprintf(probe_why, sizeof probe_why, "%s", w);
		}
	}
	if (why)
		*why = probe_state > 0 ? NULL : probe_why;
	return probe_state > 0;
}

/* ---- profiler objects ----------------------------------------------------- */

static struct lprof *check_prof(lua_State *L, int idx)
{
	return luaL_checkudata(L, idx, OFFCPU_MT);
}

static struct lprof *open_prof(lua_State *L, int idx, const char *fname)
{
	struct lprof *lp = check_prof(L, idx);
	if (!lp->p)
		luaL_error(L, "%s: the profiler is closed", fname);
	return lp;
}

static bool exists(pid_t pid)
{
	return kill(pid, 0) == 0 || errno != ESRCH;
}

/* Track the descendants pid already has (the caller tracked pid, so what
 * it forks from now on is followed by the kernel). The tree walk is the
 * sampler's; a second scan catches children forked by a descendant while
 * the first one was being tracked. */
static void track_descendants(struct dn_profile *p, pid_t pid)
{
	struct dn_tree t;
	struct dn_tree_opts o = {.root = pid, .children = true};
	if (dn_tree_init(&t, &o) < 0)
		return;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < t.nprocs; i++)
			if (t.procs[i]->pid != pid)
				dn_profile_track(p, t.procs[i]->pid);
		if (pass == 0)
			dn_tree_scan(&t, 0);
	}
	dn_tree_free(&t);
}

int dn_lua_profile_track(struct dn_profile *p, pid_t pid, bool children)
{
	int r = exists(pid) ? dn_profile_track(p, pid) : -ESRCH;
	if (r == 0 && children)
		track_descendants(p, pid);
	return r;
}

static const struct dn_lua_opt offcpu_opts[] = {
	{"pid", LUA_TNUMBER},	  {"children", LUA_TBOOLEAN},
	{"min_us", LUA_TNUMBER},  {"max_us", LUA_TNUMBER},
	{"stacks", LUA_TBOOLEAN}, {"kernel_stacks", LUA_TBOOLEAN},
	{"lines", LUA_TBOOLEAN},  {NULL, 0},
};

static int l_offcpu(lua_State *L)
{
	const char *fname = "denet.offcpu";
	luaL_checktype(L, 1, LUA_TTABLE);
	dn_lua_check_opts(L, 1, offcpu_opts, false, fname);
	/* without pid nothing is tracked until prof:track(pid): the program
	 * can be loaded before the command starts */
	lua_getfield(L, 1, "pid");
	pid_t pid = lua_isnil(L, -1) ? 0 : dn_lua_check_pid(L, -1, fname);
	lua_pop(L, 1);
	bool children = dn_lua_opt_bool(L, 1, "children", true);
	bool stacks = dn_lua_opt_bool(L, 1, "stacks", true);
	int64_t min_us = opt_us(L, 1, "min_us", fname);
	int64_t max_us = opt_us(L, 1, "max_us", fname);
	if (min_us < 0)
		min_us = 1000;
	if (max_us == 0 || (max_us > 0 && max_us < min_us))
		luaL_error(L, "%s: max_us must be > 0 and >= min_us (%d)", fname, (int)min_us);
	struct dn_profile_opts o = {
		.kernel_stacks = stacks && dn_lua_opt_bool(L, 1, "kernel_stacks", true),
		.min_us = (uint64_t)min_us,
		.max_us = max_us > 0 ? (uint64_t)max_us : 0,
		.lines = stacks && dn_lua_opt_bool(L, 1, "lines", false),
	};

	struct lprof *lp = lua_newuserdatauv(L, sizeof *lp, 0);
	lprof_init(lp);
	luaL_setmetatable(L, OFFCPU_MT);
	char why[256] = "";
	errno = 0;
	lp->p = dn_profile_open(&o, why, sizeof why);
	if (!lp->p) {
		int e = errno ? errno : EIO;
		if (!why[0])
			snprintf(why, sizeof why, "cannot load the eBPF program: %s", strerror(e));
		return dn_lua_push_fail_why(L, e, why);
	}
	lp->pid = pid;
	lp->stacks = stacks;
	lp->loop = dn_lua_loop(L);
	int efd = dn_profile_event_fd(lp->p);
	if (efd >= 0 && dn_loop_add_fd(lp->loop, efd, EPOLLIN, on_prof_events, lp) == 0)
		lp->efd = efd;
	if (!pid)
		return 1;
	int r = dn_lua_profile_track(lp->p, pid, children);
	if (r < 0) {
		lprof_close(lp);
		char what[64];
		snprintf(what, sizeof what, "cannot profile PID %d", (int)pid);
		return dn_lua_push_fail(L, -r, what);
	}
	return 1;
}

static int prof_track(lua_State *L)
{
	struct lprof *lp = open_prof(L, 1, "prof:track");
	pid_t pid = dn_lua_check_pid(L, 2, "prof:track");
	bool children = lua_isnoneornil(L, 3) ? true : lua_toboolean(L, 3);
	int r = dn_lua_profile_track(lp->p, pid, children);
	if (r < 0) {
		char what[64];
		snprintf(what, sizeof what, "cannot profile PID %d", (int)pid);
		return dn_lua_push_fail(L, -r, what);
	}
	if (!lp->pid)
		lp->pid = pid;
	lua_settop(L, 1);
	return 1;
}

static void push_stack(lua_State *L, const struct dn_profile_stack *s, bool stacks)
{
	lua_createtable(L, 0, 10);
	set_int(L, "pid", (uint64_t)s->pid);
	set_int(L, "tid", (uint64_t)s->tid);
	lua_pushlstring(L, s->comm, strnlen(s->comm, sizeof s->comm));
	lua_setfield(L, -2, "comm");
	char st[2] = {s->state ? s->state : 'S', '\0'};
	lua_pushstring(L, st);
	lua_setfield(L, -2, "state");
	set_int(L, "off_ns", s->off_ns);
	set_int(L, "count", s->count);
	set_int(L, "max_ns", s->max_ns);
	if (!stacks)
		return;
	lua_createtable(L, s->nframes, 0);
	for (int i = 0; i < s->nframes; i++) {
		lua_pushinteger(L, (lua_Integer)s->frames[i].addr);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "stack");
	lua_createtable(L, s->nframes, 0);
	for (int i = 0; i < s->nframes; i++) {
		push_frame(L, s->frames[i].addr, &s->frames[i].f, s->frames[i].kernel);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "frames");
}

/* stacks = false: one entry per (pid, tid, state), stacks summed. */
static int merge_index(const struct dn_profile_stack *all, const int *out, int nout,
		       const struct dn_profile_stack *s)
{
	for (int i = 0; i < nout; i++) {
		const struct dn_profile_stack *o = &all[out[i]];
		if (o->pid == s->pid && o->tid == s->tid && o->state == s->state)
			return i;
	}
	return -1;
}

static int prof_drain(lua_State *L)
{
	struct lprof *lp = open_prof(L, 1, "prof:drain");
	int r = dn_profile_drain(lp->p);
	if (r < 0)
		return dn_lua_push_fail(L, -r, "cannot drain the off-CPU profile");
	const struct dn_profile_stack *st = NULL;
	size_t n = dn_profile_window(lp->p, &st);
	if (n > 0x7fffffff)
		n = 0x7fffffff;
	if (lp->stacks) {
		lua_createtable(L, (int)n, 0);
		for (size_t i = 0; i < n; i++) {
			push_stack(L, &st[i], true);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
	} else {
		int *first = n ? malloc(n * sizeof *first) : NULL;
		struct dn_profile_stack *sum = n ? calloc(n, sizeof *sum) : NULL;
		if (n && (!first || !sum)) {
			free(first);
			free(sum);
			dn_profile_reset_window(lp->p);
			return luaL_error(L, "prof:drain: out of memory");
		}
		int nout = 0;
		for (size_t i = 0; i < n; i++) {
			int j = merge_index(st, first, nout, &st[i]);
			if (j < 0) {
				first[nout] = (int)i;
				sum[nout] = st[i];
				sum[nout].frames = NULL;
				sum[nout].nframes = 0;
				nout++;
				continue;
			}
			sum[j].off_ns += st[i].off_ns;
			sum[j].count += st[i].count;
			if (st[i].max_ns > sum[j].max_ns)
				sum[j].max_ns = st[i].max_ns;
		}
		lua_createtable(L, nout, 0);
		for (int i = 0; i < nout; i++) {
			push_stack(L, &sum[i], false);
			lua_rawseti(L, -2, i + 1);
		}
		free(first);
		free(sum);
	}
	dn_profile_reset_window(lp->p);
	return 1;
}

/* Every stack since the profiler started, those still in the kernel's
 * aggregate too: drained first (they stay in the window, so the next
 * prof:drain() still returns them). */
static int prof_folded(lua_State *L)
{
	struct lprof *lp = open_prof(L, 1, "prof:folded");
	int r = dn_profile_drain(lp->p);
	if (r < 0)
		return dn_lua_push_fail(L, -r, "cannot drain the off-CPU profile");
	struct dn_buf b = {0};
	dn_profile_folded(lp->p, &b);
	if (b.oom) {
		dn_buf_free(&b);
		return luaL_error(L, "prof:folded: out of memory");
	}
	lua_pushlstring(L, b.data ? b.data : "", b.len);
	dn_buf_free(&b);
	return 1;
}

static int prof_close(lua_State *L)
{
	struct lprof *lp = check_prof(L, 1);
	lprof_close(lp);
	return 0;
}

static int prof_index(lua_State *L)
{
	struct lprof *lp = check_prof(L, 1);
	const char *k = luaL_checkstring(L, 2);
	if (strcmp(k, "pid") == 0) {
		lua_pushinteger(L, lp->pid);
		return 1;
	}
	if (strcmp(k, "closed") == 0) {
		lua_pushboolean(L, lp->p == NULL);
		return 1;
	}
	return dn_lua_index_method(L);
}

static int prof_tostring(lua_State *L)
{
	struct lprof *lp = check_prof(L, 1);
	lua_pushfstring(L, "denet.offcpu(pid %d%s)", (int)lp->pid, lp->p ? "" : ", closed");
	return 1;
}

/* ---- symbolizer objects -------------------------------------------------- */

static struct lsym *check_sym(lua_State *L, int idx)
{
	return luaL_checkudata(L, idx, SYMBOLIZER_MT);
}

static struct lsym *open_sym(lua_State *L, int idx, const char *fname)
{
	struct lsym *ls = check_sym(L, idx);
	if (!ls->s)
		luaL_error(L, "%s: the symbolizer is closed", fname);
	return ls;
}

static const struct dn_lua_opt sym_opts[] = {
	{"lines", LUA_TBOOLEAN},
	{NULL, 0},
};

/* Options of denet.symbolizer / denet.symbolize at idx (may be none). */
static bool sym_lines(lua_State *L, int idx, const char *fname)
{
	if (lua_isnoneornil(L, idx))
		return true;
	luaL_checktype(L, idx, LUA_TTABLE);
	dn_lua_check_opts(L, idx, sym_opts, false, fname);
	return dn_lua_opt_bool(L, idx, "lines", true);
}

/* A new symbolizer with pid's maps captured; pushes the failure triple
 * and returns NULL when the maps cannot be read. */
static struct dn_symbolizer *new_captured(lua_State *L, pid_t pid, bool lines, int *nret)
{
	struct dn_symbolizer *s = dn_sym_new();
	if (!s) {
		*nret = luaL_error(L, "denet: out of memory");
		return NULL;
	}
	dn_sym_set_lines(s, lines);
	int r = dn_sym_capture(s, pid);
	if (r < 0) {
		dn_sym_free(s);
		char what[64];
		snprintf(what, sizeof what, "cannot read the maps of PID %d", (int)pid);
		*nret = dn_lua_push_fail(L, -r, what);
		return NULL;
	}
	return s;
}

static int l_symbolizer(lua_State *L)
{
	pid_t pid = dn_lua_check_pid(L, 1, "denet.symbolizer");
	bool lines = sym_lines(L, 2, "denet.symbolizer");
	struct lsym *ls = lua_newuserdatauv(L, sizeof *ls, 0);
	memset(ls, 0, sizeof *ls);
	luaL_setmetatable(L, SYMBOLIZER_MT);
	ls->pid = pid;
	int nret = 0;
	ls->s = new_captured(L, pid, lines, &nret);
	return ls->s ? 1 : nret;
}

static int sym_resolve(lua_State *L)
{
	struct lsym *ls = open_sym(L, 1, "sym:resolve");
	uint64_t addr = check_addr(L, 2);
	resolve_push(L, ls->s, ls->pid, addr);
	return 1;
}

/* Read the maps again (after an exec): true, or nil, err, code. */
static int sym_capture(lua_State *L)
{
	struct lsym *ls = open_sym(L, 1, "sym:capture");
	int r = dn_sym_capture(ls->s, ls->pid);
	if (r < 0) {
		char what[64];
		snprintf(what, sizeof what, "cannot read the maps of PID %d", (int)ls->pid);
		return dn_lua_push_fail(L, -r, what);
	}
	lua_pushboolean(L, 1);
	return 1;
}

static int sym_close(lua_State *L)
{
	struct lsym *ls = check_sym(L, 1);
	if (ls->s) {
		dn_sym_free(ls->s);
		ls->s = NULL;
	}
	return 0;
}

static int sym_index(lua_State *L)
{
	struct lsym *ls = check_sym(L, 1);
	const char *k = luaL_checkstring(L, 2);
	if (strcmp(k, "pid") == 0) {
		lua_pushinteger(L, ls->pid);
		return 1;
	}
	return dn_lua_index_method(L);
}

static int sym_tostring(lua_State *L)
{
	struct lsym *ls = check_sym(L, 1);
	lua_pushfstring(L, "denet.symbolizer(pid %d%s)", (int)ls->pid, ls->s ? "" : ", closed");
	return 1;
}

/* A one-off symbolizer, dropped before returning (its strings are copied). */
static int l_symbolize(lua_State *L)
{
	pid_t pid = dn_lua_check_pid(L, 1, "denet.symbolize");
	luaL_checktype(L, 2, LUA_TTABLE);
	bool lines = sym_lines(L, 3, "denet.symbolize");
	lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
	/* the addresses first: a bad one raises before anything is allocated */
	for (lua_Integer i = 1; i <= n; i++) {
		lua_rawgeti(L, 2, i);
		int ok = 0;
		lua_tointegerx(L, -1, &ok);
		if (!ok)
			luaL_error(L, "denet.symbolize: address %I must be an integer, got %s", i,
				   luaL_typename(L, -1));
		lua_pop(L, 1);
	}
	int nret = 0;
	struct dn_symbolizer *s = new_captured(L, pid, lines, &nret);
	if (!s)
		return nret;
	lua_createtable(L, n > 0x7fffffff ? 0 : (int)n, 0);
	for (lua_Integer i = 1; i <= n; i++) {
		lua_rawgeti(L, 2, i);
		uint64_t addr = (uint64_t)lua_tointeger(L, -1);
		lua_pop(L, 1);
		resolve_push(L, s, pid, addr);
		lua_rawseti(L, -2, i);
	}
	dn_sym_free(s);
	return 1;
}

/* core.ebpf_probe() --> true | false, reason */
static int l_ebpf_probe(lua_State *L)
{
	const char *why = NULL;
	bool ok = dn_lua_ebpf_probe(&why);
	lua_pushboolean(L, ok);
	if (ok)
		return 1;
	lua_pushstring(L, why);
	return 2;
}

/* ---- registration ---------------------------------------------------------- */

static const luaL_Reg offcpu_funcs[] = {
	{"offcpu", l_offcpu},
	{"symbolizer", l_symbolizer},
	{"symbolize", l_symbolize},
	{"ebpf_probe", l_ebpf_probe},
	{NULL, NULL},
};

static const luaL_Reg prof_methods[] = {
	{"drain", prof_drain}, {"folded", prof_folded},
	{"close", prof_close}, {"track", prof_track},
	{NULL, NULL},
};

static const luaL_Reg sym_methods[] = {
	{"resolve", sym_resolve},
	{"capture", sym_capture},
	{"close", sym_close},
	{NULL, NULL},
};

void dn_lua_open_offcpu(lua_State *L, int core_table_index)
{
	static const struct dn_lua_class classes[] = {
		{OFFCPU_MT, prof_methods, prof_index, prof_close, prof_close, prof_tostring},
		{SYMBOLIZER_MT, sym_methods, sym_index, sym_close, sym_close, sym_tostring},
	};
	for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
		dn_lua_new_class(L, &classes[i]);
	dn_lua_add_funcs(L, core_table_index, offcpu_funcs);
}
