/*
 * lua_offcpu.h — the off-CPU profiler and the symbolizer in denet.core
 * (lua_offcpu.c).
 */
#ifndef DENET_LUA_OFFCPU_H
#define DENET_LUA_OFFCPU_H

#include <stdbool.h>

#include <lua.h>

/* Can this process load the off-CPU eBPF program? Probed once (a load and
 * close) and cached; *why (may be NULL) gets the reason when not. */
bool dn_lua_ebpf_probe(const char **why);
/* The "denet.offcpu" and "denet.symbolizer" classes, and offcpu,
 * symbolizer, symbolize and ebpf_probe in the denet.core table at idx. */
void dn_lua_open_offcpu(lua_State *L, int core_table_index);

#endif
