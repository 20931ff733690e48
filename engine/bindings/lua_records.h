/*
 * lua_records.h — records as Lua tables (lua_records.c): what the sample,
 * spawn, reap and exit callbacks, p:sample(), p:wait() and p:summary()
 * get. Each pushes one new table.
 */
#ifndef DENET_LUA_RECORDS_H
#define DENET_LUA_RECORDS_H

#include <lua.h>

#include "monitor.h"
#include "rules.h"

/* The monitor's latest sample: a `sample` record (one process) or a
 * `tree` record (children = true), as the JSONL line. */
void dn_lua_push_record(lua_State *L, struct dn_monitor *m);
/* A process that appeared ({pid, ppid, command, metrics}) or went
 * ({pid, command, metrics}). */
void dn_lua_push_proc(lua_State *L, const struct dn_proc *pr);
void dn_lua_push_gone(lua_State *L, const struct dn_proc_gone *g);
/* The fields of an `alert` record. */
void dn_lua_push_alert(lua_State *L, const struct dn_alert *a);
/* The totals of the `exit` record (with `sampled`). */
void dn_lua_push_totals(lua_State *L, const struct dn_exit_info *e);
/* The summary record's fields. */
void dn_lua_push_summary(lua_State *L, const struct dn_summary *s);

#endif
