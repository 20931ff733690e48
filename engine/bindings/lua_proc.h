/*
 * lua_proc.h — process objects ("denet.process", lua_proc.c): what the
 * loop (lua_loop.c), the monitor's hooks (lua_hooks.c) and p:watch
 * (lua_rules.c) share about them.
 */
#ifndef DENET_LUA_PROC_H
#define DENET_LUA_PROC_H

#include <stdbool.h>

#include <lua.h>

#include "monitor.h"
#include "rules.h"

struct dn_lua_ctx;

struct lproc {
	struct dn_monitor *own;		 /* run/attach's own monitor, or NULL */
	struct dn_monitor *mon;		 /* own, or the CLI's (borrowed) */
	struct dn_monitor_hooks chained; /* the CLI's hooks, called first */
	lua_State *L;
	struct dn_lua_ctx *ctx;
	int ref_self; /* LUA_NOREF unless the monitor runs */
	int out_fd, stdout_fd, stderr_fd;
	struct dn_rules rules;
	struct dn_exit_info totals; /* once ended: what p:wait() returns */
	bool borrowed, started, ended, exit_called;
	bool reaped; /* a command that ran on after monitoring, reaped */
};

/* The process object at idx (raises if it is not one). */
struct lproc *dn_lua_check_proc(lua_State *L, int idx);
/* Its monitoring ended (the monitor's on_end): the `out` file is closed
 * and, unless its command is still denet's unreaped child, the object
 * leaves the state's list and becomes collectable. */
void dn_lua_proc_monitor_ended(struct lproc *p);
/* SIGCHLD: commands that ran on after their monitoring ended and have
 * exited are reaped; their objects become collectable. */
void dn_lua_procs_reap(struct dn_lua_ctx *c);
/* Wrap the CLI's monitor (not started yet) as a process object and push
 * it; dn_lua_cli_started once the monitor has started. */
void dn_lua_push_cli_process(lua_State *L, struct dn_monitor *m);
void dn_lua_cli_started(lua_State *L);
/* The "denet.process" class, and run and attach in the denet.core table
 * at idx. */
void dn_lua_open_proc(lua_State *L, int core_table_index);

#endif
