/*
 * lua_call.h — calling user Lua from C, protected, with the state's hook
 * (lua_call.c).
 */
#ifndef DENET_LUA_CALL_H
#define DENET_LUA_CALL_H

#include <lua.h>

struct dn_lua_ctx;

/* Call a Lua function (below its nargs args) protected, with traceback and
 * the hook budget; on error print it, mark the context failed. 0 or -1. */
int dn_lua_call_hook(lua_State *L, int nargs);
/* The traceback message handler for lua_pcall. */
int dn_lua_traceback(lua_State *L);
/* Print an error object (string or other) with "denet: " in front. */
void dn_lua_report_error(lua_State *L, int idx);
/* Unwind the running Lua code of a state that is ending (what ended it
 * was reported already). Does not return. */
int dn_lua_raise_abort(lua_State *L);
/* The state's hook, and the hook a thread needs now (set_watch) or every
 * thread that may run Lua once the state is ending (watch_all). */
void dn_lua_watch_hook(lua_State *L, lua_Debug *ar);
void dn_lua_set_watch(lua_State *L, struct dn_lua_ctx *c);
void dn_lua_watch_all(lua_State *L, struct dn_lua_ctx *c);
/* No hook left on the state's threads (before closing it). */
void dn_lua_clear_hooks(lua_State *L);
/* Replace os.exit: it ends the state as an error would (the script's
 * commands are ended and their records written), then denet exits with
 * its status (dn_lua_ctx(L)->exiting, exit_status). Marks the state as
 * denet's own (unwind). */
void dn_lua_install_exit(lua_State *L);
/* Adds set_hook_budget and failed to the denet.core table at idx. */
void dn_lua_open_call(lua_State *L, int core_table_index);

#endif
