/*
 * lua_timer.h — timers on the state's loop (lua_timer.c).
 */
#ifndef DENET_LUA_TIMER_H
#define DENET_LUA_TIMER_H

#include <lua.h>

/* The "denet.timer" class, and every and after in the denet.core table
 * at idx. */
void dn_lua_open_timer(lua_State *L, int core_table_index);

#endif
