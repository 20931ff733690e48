/*
 * lua_syscalls.c — the syscall tracer in `denet.core`: core.syscalls{...},
 * a "denet.syscalls" object over a dn_profile opened with no off-CPU
 * stacks and the syscall tracker (profile.h, systrace.h), the same
 * profile the CLI's --enable-ebpf --no-offcpu and denet.run{syscalls =
 * true} open. luaopen_denet_core (lua_core.c) adds it through
 * dn_lua_open_syscalls.
 *
 * Ownership: a tracer object owns its dn_profile (the loaded BPF program,
 * its maps and the systrace drain); :close(), `<close>` or garbage
 * collection releases it, whichever comes first. Everything handed to Lua
 * is copied (names are static strings of syscall_table.c), and the one
 * temporary of a drain, its sort order, is a userdata: a Lua error half
 * way leaks nothing.
 *
 * Errors follow lua_aux.h: a bad argument raises; an environmental failure
 * (no permission for BPF, PID gone) returns nil, "ENAME: message", "ENAME".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "lua_aux.h"
#include "lua_offcpu.h"
#include "lua_syscalls.h"
#include "profile.h"
#include "syscall_table.h"
#include "systrace.h"

#define SYSCALLS_MT "denet.syscalls"

struct ltrace {
	struct dn_profile *p;  /* NULL once closed */
	struct dn_systrace *t; /* p's, NULL once closed */
	pid_t pid;	       /* the first tracked pid, 0 before */
};

/* The one close path of :close(), <close> and __gc: idempotent. */
static void ltrace_close(struct ltrace *lt)
{
	if (lt->p)
		dn_profile_close(lt->p);
	lt->p = NULL;
	lt->t = NULL;
}

static struct ltrace *check_trace(lua_State *L, int idx)
{
	return luaL_checkudata(L, idx, SYSCALLS_MT);
}

static struct ltrace *open_trace(lua_State *L, int idx, const char *fname)
{
	struct ltrace *lt = check_trace(L, idx);
	if (!lt->p)
		luaL_error(L, "%s: the syscall tracer is closed", fname);
	return lt;
}

/* ---- figures as tables ---------------------------------------------------- */

/* { name, category, count, errors, time_ns, max_ns, p50_ns, p99_ns, hist }
 * into the table on top: hist is the DN_SYSTRACE_HIST buckets, all of them
 * (hist[1] = 0 ns, hist[b] = [2^(b-2), 2^(b-1)) ns), so ipairs and # work. */
static void set_fig(lua_State *L, int nr, const struct dn_systrace_fig *f)
{
	char buf[32];
	set_int(L, "nr", (uint64_t)nr);
	dn_lua_set_str(L, "name", dn_syscall_name_or_nr(nr, buf, sizeof buf));
	dn_lua_set_str(L, "category", dn_syscall_category_name(dn_syscall_category(nr)));
	set_int(L, "count", f->count);
	set_int(L, "errors", f->errors);
	set_int(L, "time_ns", f->time_ns);
	set_int(L, "max_ns", f->max_ns);
	set_int(L, "p50_ns", dn_systrace_quantile(f, 0.5));
	set_int(L, "p99_ns", dn_systrace_quantile(f, 0.99));
	lua_createtable(L, DN_SYSTRACE_HIST, 0);
	for (int b = 0; b < DN_SYSTRACE_HIST; b++) {
		lua_pushinteger(L, (lua_Integer)f->hist[b]);
		lua_rawseti(L, -2, b + 1);
	}
	lua_setfield(L, -2, "hist");
}

static bool fig_empty(const struct dn_systrace_fig *f)
{
	return !f->count && !f->errors && !f->time_ns;
}

/* ---- denet.syscalls{ pid, children } --------------------------------------- */

static const struct dn_lua_opt syscalls_opts[] = {
	{"pid", LUA_TNUMBER},
	{"children", LUA_TBOOLEAN},
	{NULL, 0},
};

static int push_track_fail(lua_State *L, int err, pid_t pid)
{
	char what[64];
	snprintf(what, sizeof what, "cannot trace PID %d", (int)pid);
	return dn_lua_push_fail(L, err, what);
}

static int l_syscalls(lua_State *L)
{
	const char *fname = "denet.syscalls";
	luaL_checktype(L, 1, LUA_TTABLE);
	dn_lua_check_opts(L, 1, syscalls_opts, false, fname);
	/* without pid nothing is tracked until tr:track(pid): the program
	 * can be loaded before the command starts */
	lua_getfield(L, 1, "pid");
	pid_t pid = lua_isnil(L, -1) ? 0 : dn_lua_check_pid(L, -1, fname);
	lua_pop(L, 1);
	bool children = dn_lua_opt_bool(L, 1, "children", true);
	struct dn_profile_opts o = {.no_offcpu = true, .syscalls = true};

	struct ltrace *lt = lua_newuserdatauv(L, sizeof *lt, 0);
	memset(lt, 0, sizeof *lt); /* closed: safe to collect from here on */
	luaL_setmetatable(L, SYSCALLS_MT);
	char why[256] = "";
	errno = 0;
	lt->p = dn_profile_open(&o, why, sizeof why);
	if (!lt->p) {
		int e = errno ? errno : EIO;
		if (!why[0])
			snprintf(why, sizeof why, "cannot load the eBPF program: %s", strerror(e));
		return dn_lua_push_fail_why(L, e, why);
	}
	lt->t = dn_profile_systrace(lt->p);
	if (!lt->t) { /* opened with syscalls: cannot happen, but never a NULL drain */
		ltrace_close(lt);
		return dn_lua_push_fail(L, EINVAL, "cannot open the syscall tracker");
	}
	if (!pid)
		return 1;
	int r = dn_lua_profile_track(lt->p, pid, children);
	if (r < 0) {
		ltrace_close(lt);
		return push_track_fail(L, -r, pid);
	}
	lt->pid = pid;
	return 1;
}

/* tr:track(pid [, children]) --> tr | nil, msg, code */
static int tr_track(lua_State *L)
{
	struct ltrace *lt = open_trace(L, 1, "tr:track");
	pid_t pid = dn_lua_check_pid(L, 2, "tr:track");
	bool children = lua_isnoneornil(L, 3) ? true : lua_toboolean(L, 3);
	int r = dn_lua_profile_track(lt->p, pid, children);
	if (r < 0)
		return push_track_fail(L, -r, pid);
	if (!lt->pid)
		lt->pid = pid;
	lua_settop(L, 1);
	return 1;
}

/* The window's entries by pid, then syscall number. */
static int by_pid_nr(const void *a, const void *b)
{
	const struct dn_systrace_entry *x = *(const struct dn_systrace_entry *const *)a;
	const struct dn_systrace_entry *y = *(const struct dn_systrace_entry *const *)b;
	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	return (x->nr > y->nr) - (x->nr < y->nr);
}

/* tr:drain() --> { {pid, nr, name, category, count, ...}... } | nil, msg, code */
static int tr_drain(lua_State *L)
{
	struct ltrace *lt = open_trace(L, 1, "tr:drain");
	int r = dn_profile_drain(lt->p);
	dn_profile_reset_window(lt->p); /* no stacks (no_offcpu): nothing kept */
	if (r < 0)
		return dn_lua_push_fail(L, -r, "cannot drain the syscall tracker");
	const struct dn_systrace_entry *v = NULL;
	size_t n = dn_systrace_window(lt->t, &v);
	if (n > 0x7fffffff)
		n = 0x7fffffff;
	/* the order lives in a userdata: collected if a push below raises */
	const struct dn_systrace_entry **ord = lua_newuserdatauv(L, (n ? n : 1) * sizeof *ord, 0);
	for (size_t i = 0; i < n; i++)
		ord[i] = &v[i];
	qsort(ord, n, sizeof *ord, by_pid_nr);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_createtable(L, 0, 11);
		set_int(L, "pid", (uint64_t)ord[i]->tgid);
		set_fig(L, ord[i]->nr, &ord[i]->window);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

/* tr:totals() --> { [name] = {nr, name, category, count, ...}... }: the
 * tree's figures per syscall since the tracer opened, up to the last
 * drain (no drain of its own: the next tr:drain() would miss it). */
static int tr_totals(lua_State *L)
{
	struct ltrace *lt = open_trace(L, 1, "tr:totals");
	int cap = dn_systrace_nr_cap(lt->t);
	lua_newtable(L);
	for (int nr = 0; nr < cap; nr++) {
		const struct dn_systrace_fig *f = dn_systrace_nr(lt->t, nr, false);
		if (!f || fig_empty(f))
			continue;
		char buf[32];
		lua_createtable(L, 0, 10);
		set_fig(L, nr, f);
		lua_setfield(L, -2, dn_syscall_name_or_nr(nr, buf, sizeof buf));
	}
	return 1;
}

static int tr_close(lua_State *L)
{
	ltrace_close(check_trace(L, 1));
	return 0;
}

static int tr_index(lua_State *L)
{
	struct ltrace *lt = check_trace(L, 1);
	const char *k = luaL_checkstring(L, 2);
	if (strcmp(k, "pid") == 0) {
		lua_pushinteger(L, lt->pid);
		return 1;
	}
	if (strcmp(k, "closed") == 0) {
		lua_pushboolean(L, lt->p == NULL);
		return 1;
	}
	if (strcmp(k, "lost") == 0 || strcmp(k, "untimed") == 0) {
		if (!lt->t)
			luaL_error(L, "tr.%s: the syscall tracer is closed", k);
		lua_pushinteger(L, (lua_Integer)(k[0] == 'l' ? dn_systrace_lost(lt->t)
							     : dn_systrace_untimed(lt->t)));
		return 1;
	}
	if (strcmp(k, "elapsed_s") == 0 || strcmp(k, "window_s") == 0) {
		if (!lt->p)
			luaL_error(L, "tr.%s: the syscall tracer is closed", k);
		double elapsed, window; /* 0 before the first drain */
		dn_systrace_times(lt->t, &elapsed, &window);
		lua_pushnumber(L, k[0] == 'e' ? elapsed : window);
		return 1;
	}
	return dn_lua_index_method(L);
}

static int tr_tostring(lua_State *L)
{
	struct ltrace *lt = check_trace(L, 1);
	lua_pushfstring(L, "denet.syscalls(pid %d%s)", (int)lt->pid, lt->p ? "" : ", closed");
	return 1;
}

/* ---- registration ---------------------------------------------------------- */

static const luaL_Reg syscalls_funcs[] = {
	{"syscalls", l_syscalls},
	{NULL, NULL},
};

static const luaL_Reg tr_methods[] = {
	{"drain", tr_drain}, {"totals", tr_totals}, {"track", tr_track},
	{"close", tr_close}, {NULL, NULL},
};

void dn_lua_open_syscalls(lua_State *L, int core_table_index)
{
	static const struct dn_lua_class cls = {
		SYSCALLS_MT, tr_methods, tr_index, tr_close, tr_close, tr_tostring,
	};
	dn_lua_new_class(L, &cls);
	dn_lua_add_funcs(L, core_table_index, syscalls_funcs);
}
