/*
 * lua_core.c — the `denet.core` module: its table, put together from the
 * binding files, each of which adds its functions and classes through its
 * dn_lua_open_* (as linit.c puts Lua's libraries together):
 *
 *   lua_proc.c      run, attach; process objects ("denet.process")
 *   lua_rules.c     p:watch, parse_size
 *   lua_timer.c     every, after; timers ("denet.timer")
 *   lua_loop.c      loop, stop
 *   lua_call.c      set_hook_budget, failed
 *   lua_features.c  features
 *   lua_offcpu.c    offcpu, symbolizer, symbolize, ebpf_probe
 *
 * and here: version, now_ms. The rest of the bindings: lua_aux.c (helpers
 * every file uses), lua_ctx.c (the context of a state), lua_signals.c (a
 * script's signals), lua_hooks.c (a process object's monitor hooks),
 * lua_records.c (records as tables), lua_state.c (the CLI's states).
 */
#include <lauxlib.h>
#include <lua.h>

#include "clock.h"
#include "lua_call.h"
#include "lua_core.h"
#include "lua_ctx.h"
#include "lua_features.h"
#include "lua_loop.h"
#include "lua_offcpu.h"
#include "lua_proc.h"
#include "lua_rules.h"
#include "lua_timer.h"
#include "version.h"

static int l_now_ms(lua_State *L)
{
	lua_pushnumber(L, (double)dn_mono_ns() / 1e6);
	return 1;
}

int luaopen_denet_core(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{"now_ms", l_now_ms},
		{NULL, NULL},
	};
	dn_lua_ctx(L);
	luaL_newlib(L, funcs);
	int core = lua_gettop(L);
	dn_lua_open_proc(L, core);
	dn_lua_open_rules(L, core);
	dn_lua_open_timer(L, core);
	dn_lua_open_loop(L, core);
	dn_lua_open_call(L, core);
	dn_lua_open_features(L, core);
	lua_pushstring(L, DN_VERSION);
	lua_setfield(L, core, "version");
	dn_lua_open_offcpu(L, core);
	return 1;
}
