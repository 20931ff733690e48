/*
 * lua_loop.h — the loop of a state (lua_loop.c).
 */
#ifndef DENET_LUA_LOOP_H
#define DENET_LUA_LOOP_H

#include <stdbool.h>
#include <sys/signalfd.h>

#include <lua.h>

struct dn_lua_ctx;

/* The state's event loop, created on first use (with SIGCHLD handling). */
struct dn_loop *dn_lua_loop(lua_State *L);
/* Run the loop until nothing is left, denet.stop() or the state is ending
 * (dn_lua_ending); `until` (if not NULL) also ends it once *until is true.
 * A stop ends only this run. */
void dn_lua_run_loop(lua_State *L, const bool *until);
/* A signal for the state, from the loop's signalfd or the script's
 * handler (lua_signals.c): SIGCHLD reaps; others get the signal policy of
 * every monitor, or end the script's loop when no command is running. */
void dn_lua_on_loop_signal(struct dn_lua_ctx *c, const struct signalfd_siginfo *si);
/* The end of a script, whatever ended it: no more Lua; every launched
 * command still monitored is terminated (SIGTERM, SIGKILL after the
 * grace) and waited for, so its `exit` record is written; monitoring of
 * attached processes stops (they run on). */
void dn_lua_end_all(lua_State *L);
/* loop and stop in the denet.core table at idx. */
void dn_lua_open_loop(lua_State *L, int core_table_index);

#endif
