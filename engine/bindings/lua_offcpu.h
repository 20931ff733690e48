/*
 * lua_offcpu.h — the off-CPU profiler and the symbolizer in denet.core
 * (lua_offcpu.c).
 */
#ifndef DENET_LUA_OFFCPU_H
#define DENET_LUA_OFFCPU_H

#include <stdbool.h>
#include <sys/types.h>

#include <lua.h>

struct dn_profile;

/* Can this process load the off-CPU eBPF program? Probed once (a load and
 * close) and cached; *why (may be NULL) gets the reason when not. */
bool dn_lua_ebpf_probe(const char **why);
/* A pid argument at idx: a positive integer, else raises naming fname. */
pid_t dn_lua_check_pid(lua_State *L, int idx, const char *fname);
/* Tracks pid in p and, with children, the descendants it has now (the
 * kernel follows those forked from then on). Shared with denet.syscalls
 * (lua_syscalls.c). 0 or -errno (-ESRCH: no such process). */
int dn_lua_profile_track(struct dn_profile *p, pid_t pid, bool children);
/* The "denet.offcpu" and "denet.symbolizer" classes, and offcpu,
 * symbolizer, symbolize and ebpf_probe in the denet.core table at idx. */
void dn_lua_open_offcpu(lua_State *L, int core_table_index);

#endif
