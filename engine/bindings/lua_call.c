/*
 * lua_call.c — every call from C into user Lua, and the one hook of a
 * state: a protected call with a traceback (dn_lua_call_hook), the hook
 * budget of a callback (denet.hook_budget_ms), the unwinding of Lua code
 * once the state is ending (a callback failed, os.exit, a signal that was
 * not taken in time), and the os.exit of a denet state.
 *
 * Ownership: nothing but the hook set on the state's threads, cleared by
 * dn_lua_clear_hooks before the state closes.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "clock.h"
#include "lua_aux.h"
#include "lua_call.h"
#include "lua_ctx.h"
#include "lua_signals.h"

/* Raised to unwind Lua code once the state is ending (a callback failed,
 * os.exit, an interrupt); what ended it was reported when it happened.
 * The hook raises it again at every instruction, so a pcall in the script
 * cannot swallow it. */
static char abort_sentinel;

int dn_lua_raise_abort(lua_State *L)
{
	lua_pushlightuserdata(L, &abort_sentinel);
	return lua_error(L);
}

int dn_lua_traceback(lua_State *L)
{
	if (lua_touserdata(L, 1) == &abort_sentinel)
		return 1;
	const char *msg = lua_tostring(L, 1);
	if (!msg) {
		if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
			return 1;
		msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
	}
	luaL_traceback(L, L, msg, 1);
	return 1;
}

void dn_lua_report_error(lua_State *L, int idx)
{
	if (lua_touserdata(L, idx) == &abort_sentinel)
		return; /* already reported */
	const char *msg = lua_tostring(L, idx);
	fprintf(stderr, "denet: %s\n", msg ? msg : "(error object is not a string)");
	fflush(stderr);
}

/* "FILE:LINE: " of the running Lua function, or "" */
static void push_where(lua_State *L)
{
	lua_Debug where;
	if (lua_getstack(L, 0, &where) && lua_getinfo(L, "Sl", &where) && where.currentline > 0)
		lua_pushfstring(L, "%s:%d: ", where.short_src, where.currentline);
	else
		lua_pushliteral(L, "");
}

/* The one hook of a state: the budget of a callback, and the end of Lua
 * code once the state is ending or a signal was not taken in time. */
void dn_lua_watch_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	struct dn_lua_ctx *c = dn_lua_ctx(L);
	if (c->teardown)
		return;
	int overdue = dn_lua_ending(c) ? 0 : dn_lua_signal_overdue();
	if (overdue) {
		c->interrupted = overdue;
		const char *name = sigabbrev_np(overdue);
		push_where(L);
		lua_pushfstring(L, "interrupted by SIG%s", name ? name : "?");
		lua_concat(L, 2);
		luaL_traceback(L, L, lua_tostring(L, -1), 0);
		dn_lua_report_error(L, -1);
		lua_pop(L, 2);
	}
	if (dn_lua_ending(c) && c->unwind) {
		lua_sethook(L, dn_lua_watch_hook, LUA_MASKCOUNT, 1);
		dn_lua_raise_abort(L);
	}
	if (!c->in_hook || c->hook_budget_ms <= 0)
		return;
	double ms = (double)(dn_mono_ns() - c->hook_started_ns) / 1e6;
	if (ms > c->hook_budget_ms) {
		/* where the hook was when the budget ran out */
		push_where(L);
		lua_pushfstring(L, "hook ran for more than %d ms (denet.hook_budget_ms)",
				(int)c->hook_budget_ms);
		lua_concat(L, 2);
		lua_error(L);
	}
}

void dn_lua_set_watch(lua_State *L, struct dn_lua_ctx *c)
{
	lua_sethook(L, NULL, 0, 0);
	int count = 0;
	if (c->teardown)
		count = 0;
	else if (dn_lua_ending(c) && c->unwind)
		count = 1;
	else if (dn_lua_signal_pending())
		count = 1000;
	else if (c->in_hook && c->hook_budget_ms > 0)
		count = 10000;
	if (count)
		lua_sethook(L, dn_lua_watch_hook, LUA_MASKCOUNT, count);
}

/* After the state started ending: the threads that may run Lua unwind. */
void dn_lua_watch_all(lua_State *L, struct dn_lua_ctx *c)
{
	dn_lua_set_watch(c->L, c);
	if (c->cur && c->cur != c->L)
		dn_lua_set_watch(c->cur, c);
	if (L != c->L && L != c->cur)
		dn_lua_set_watch(L, c);
}

void dn_lua_clear_hooks(lua_State *L)
{
	struct dn_lua_ctx *c = dn_lua_ctx(L);
	lua_sethook(c->L, NULL, 0, 0);
	if (c->cur)
		lua_sethook(c->cur, NULL, 0, 0);
	lua_sethook(L, NULL, 0, 0);
}

int dn_lua_call_hook(lua_State *L, int nargs)
{
	struct dn_lua_ctx *c = dn_lua_ctx(L);
	int base = lua_gettop(L) - nargs;
	lua_pushcfunction(L, dn_lua_traceback);
	lua_insert(L, base);
	bool nested = c->in_hook;
	if (!nested) {
		c->in_hook = true;
		c->hook_started_ns = dn_mono_ns();
		dn_lua_set_watch(L, c);
	}
	int r = lua_pcall(L, nargs, 0, base);
	if (r != LUA_OK) {
		if (!dn_lua_ending(c))
			dn_lua_report_error(L, -1);
		if (lua_touserdata(L, -1) != &abort_sentinel)
			c->failed = true;
		lua_pop(L, 1);
	}
	if (!nested)
		c->in_hook = false;
	if (dn_lua_ending(c))
		dn_lua_watch_all(L, c);
	else if (!nested)
		dn_lua_set_watch(L, c);
	lua_remove(L, base);
	return r == LUA_OK ? 0 : -1;
}

/* os.exit(code [, close]) of a denet state: the state ends as after an
 * error (its commands are ended and their records written); then denet
 * exits with the status. `close` is accepted: the state is always closed. */
static int l_os_exit(lua_State *L)
{
	int status;
	if (lua_isboolean(L, 1))
		status = lua_toboolean(L, 1) ? EXIT_SUCCESS : EXIT_FAILURE;
	else
		status = (int)luaL_optinteger(L, 1, EXIT_SUCCESS);
	struct dn_lua_ctx *c = dn_lua_ctx(L);
	if (!dn_lua_ending(c)) {
		c->exiting = true;
		c->exit_status = status & 0xff;
	}
	dn_lua_watch_all(L, c);
	return dn_lua_raise_abort(L);
}

void dn_lua_install_exit(lua_State *L)
{
	dn_lua_ctx(L)->unwind = true;
	lua_getglobal(L, "os");
	if (lua_istable(L, -1)) {
		lua_pushcfunction(L, l_os_exit);
		lua_setfield(L, -2, "exit");
	}
	lua_pop(L, 1);
}

static int l_set_hook_budget(lua_State *L)
{
	lua_Number ms = luaL_checknumber(L, 1);
	luaL_argcheck(L, ms >= 0, 1, "the budget must be >= 0 ms (0 = unlimited)");
	dn_lua_ctx(L)->hook_budget_ms = ms;
	return 0;
}

static int l_failed(lua_State *L)
{
	lua_pushboolean(L, dn_lua_ending(dn_lua_ctx(L)));
	return 1;
}

void dn_lua_open_call(lua_State *L, int core_table_index)
{
	static const luaL_Reg funcs[] = {
		{"set_hook_budget", l_set_hook_budget},
		{"failed", l_failed},
		{NULL, NULL},
	};
	dn_lua_add_funcs(L, core_table_index, funcs);
}
