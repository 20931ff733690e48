/*
 * lua_syscalls.h — the eBPF syscall tracer in denet.core (lua_syscalls.c).
 */
#ifndef DENET_LUA_SYSCALLS_H
#define DENET_LUA_SYSCALLS_H

#include <lua.h>

/* The "denet.syscalls" class, and syscalls in the denet.core table at idx. */
void dn_lua_open_syscalls(lua_State *L, int core_table_index);

#endif
