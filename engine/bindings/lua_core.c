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
 *   lua_syscalls.c  syscalls
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
#include "lua_syscalls.h"
#include "lua_timer.h"
#include "version.h"

static int l_now_ms(lua_State *L)
{
	lua_pushnumber(L, (double)dn_mono_ns() / 1e6);
	return 1;
}

/* os.exit(code [, close]) in a host's state (lua5.4, busted): the host's
 * own os.exit, always with close = true. Without it exit() skips the
 * state's finalizers: commands still monitored would be orphaned in their
 * run cgroups and the cgroups left behind. Closing the state ends them as
 * the end of a state does (lua_proc.c) and removes their cgroups (the
 * context's __gc flushes the reaper). Upvalue: the host's os.exit. */
static int l_host_exit(lua_State *L)
{
	lua_settop(L, 1);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_pushboolean(L, 1);
	lua_call(L, 2, 0);
	return 0;
}

static void wrap_host_exit(lua_State *L)
{
	/* denet's own states have their os.exit (dn_lua_install_exit) */
	if (dn_lua_ctx(L)->unwind)
		return;
	lua_getglobal(L, "os");
	if (lua_istable(L, -1)) {
		lua_getfield(L, -1, "exit");
		if (lua_isfunction(L, -1)) {
			lua_pushcclosure(L, l_host_exit, 1);
			lua_setfield(L, -2, "exit");
		} else {
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
}

int luaopen_denet_core(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{"now_ms", l_now_ms},
		{NULL, NULL},
	};
	dn_lua_ctx(L);
	wrap_host_exit(L);
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
	dn_lua_open_syscalls(L, core);
	return 1;
}
