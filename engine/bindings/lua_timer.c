/*
 * lua_timer.c — timers ("denet.timer"): denet.every(ms, fn) and
 * denet.after(ms, fn) on the state's loop; t:cancel(), also as <close>.
 *
 * Ownership: a timer object owns its loop timer; while armed, the registry
 * holds a reference so it cannot be collected; its callback is its user
 * value. cancel, <close> and __gc share one idempotent close.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "clock.h"
#include "loop.h"
#include "lua_aux.h"
#include "lua_call.h"
#include "lua_ctx.h"
#include "lua_loop.h"
#include "lua_timer.h"

#define TIMER_MT "denet.timer"

struct ltimer {
	struct dn_timer *t;
	lua_State *L;
	uint64_t period_ns; /* 0 for after() */
	int ref_self;
	bool done;
};

static void ltimer_init(struct ltimer *lt, lua_State *L)
{
	memset(lt, 0, sizeof *lt);
	lt->L = dn_lua_ctx(L)->L;
	lt->ref_self = LUA_NOREF;
}

static void timer_release(struct ltimer *lt)
{
	if (lt->ref_self != LUA_NOREF) {
		int ref = lt->ref_self;
		lt->ref_self = LUA_NOREF;
		luaL_unref(lt->L, LUA_REGISTRYINDEX, ref);
	}
}

/* cancel, <close> and __gc: idempotent. `free_timer` (for __gc) also
 * gives the loop's timer back, unless the loop is gone already (a state
 * closing frees it with the context). */
static void ltimer_close(struct ltimer *lt, bool free_timer)
{
	if (lt->t)
		dn_loop_timer_disarm(lt->t);
	lt->done = true;
	timer_release(lt);
	if (free_timer && lt->t) {
		if (dn_lua_ctx(lt->L)->loop)
			dn_loop_timer_free(lt->t);
		lt->t = NULL;
	}
}

static void on_timer(struct dn_loop *loop, struct dn_timer *t, void *ctx)
{
	(void)loop;
	struct ltimer *lt = ctx;
	struct dn_lua_ctx *c = dn_lua_ctx(lt->L);
	if (lt->period_ns)
		dn_loop_timer_arm(t, dn_loop_timer_deadline(t) + lt->period_ns);
	else
		lt->done = true;
	if (lt->ref_self == LUA_NOREF || !dn_lua_may_run(c))
		return;
	lua_State *L = dn_lua_cb_thread(c);
	lua_rawgeti(L, LUA_REGISTRYINDEX, lt->ref_self);
	int self = lua_gettop(L);
	lua_getiuservalue(L, self, 1);
	lua_pushvalue(L, self);
	dn_lua_call_hook(L, 1);
	lua_settop(L, self - 1);
	if (lt->done)
		timer_release(lt); /* collectable now; the callback may have kept it */
}

static int make_timer(lua_State *L, bool repeat)
{
	lua_Number ms = luaL_checknumber(L, 1);
	luaL_argcheck(L, ms >= 0 && (repeat ? ms >= 1 : 1), 1,
		      repeat ? "the period must be >= 1 ms" : "the delay must be >= 0 ms");
	luaL_checktype(L, 2, LUA_TFUNCTION);
	struct dn_loop *loop = dn_lua_loop(L);
	struct ltimer *lt = lua_newuserdatauv(L, sizeof *lt, 1);
	ltimer_init(lt, L);
	luaL_setmetatable(L, TIMER_MT);
	lua_pushvalue(L, 2);
	lua_setiuservalue(L, -2, 1);
	lt->t = dn_loop_timer_new(loop, on_timer, lt);
	if (!lt->t)
		return luaL_error(L, "denet: out of memory");
	uint64_t period = (uint64_t)(ms * 1e6);
	lt->period_ns = repeat ? period : 0;
	dn_loop_timer_arm(lt->t, dn_mono_ns() + (period ? period : 1));
	lua_pushvalue(L, -1);
	lt->ref_self = luaL_ref(L, LUA_REGISTRYINDEX);
	return 1;
}

static int l_every(lua_State *L)
{
	return make_timer(L, true);
}

static int l_after(lua_State *L)
{
	return make_timer(L, false);
}

static int timer_cancel(lua_State *L)
{
	ltimer_close(luaL_checkudata(L, 1, TIMER_MT), false);
	return 0;
}

static int timer_gc(lua_State *L)
{
	ltimer_close(luaL_checkudata(L, 1, TIMER_MT), true);
	return 0;
}

void dn_lua_open_timer(lua_State *L, int core_table_index)
{
	static const luaL_Reg funcs[] = {
		{"every", l_every},
		{"after", l_after},
		{NULL, NULL},
	};
	static const luaL_Reg methods[] = {
		{"cancel", timer_cancel},
		{NULL, NULL},
	};
	static const struct dn_lua_class cls = {
		.name = TIMER_MT,
		.methods = methods,
		.gc = timer_gc,
		.close = timer_cancel,
	};
	dn_lua_new_class(L, &cls);
	dn_lua_add_funcs(L, core_table_index, funcs);
}
