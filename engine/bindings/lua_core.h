/*
 * lua_core.h — the `denet.core` Lua module (lua_core.c). The public
 * `denet` table (lua/denet/init.lua) wraps it; lua_state.c preloads it
 * into the states of the denet binary, and build/lua/denet/core.so is the
 * same module for a plain lua5.4 (busted).
 */
#ifndef DENET_LUA_CORE_H
#define DENET_LUA_CORE_H

#include <lua.h>

int luaopen_denet_core(lua_State *L);

#endif
