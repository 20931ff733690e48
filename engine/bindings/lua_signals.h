/*
 * lua_signals.h — the signals of a script, owned by one state per process
 * (lua_signals.c).
 */
#ifndef DENET_LUA_SIGNALS_H
#define DENET_LUA_SIGNALS_H

#include <stdbool.h>

#include <lua.h>

struct dn_lua_ctx;

/* denet SCRIPT.lua and -s hooks: INT/TERM/HUP/QUIT get a handler that
 * hands them to the loop (the signal policy, through the state's process
 * objects) and, when Lua code keeps running instead of returning to the
 * loop, interrupts it (as lua.c does). The loop must not have them in its
 * signalfd. Released when the state closes. 0 or -errno. */
int dn_lua_own_signals(lua_State *L);
/* The state is closing: signals get their default actions back. A no-op
 * for a state that does not own them. */
void dn_lua_release_signals(struct dn_lua_ctx *c);
/* The loop (created after dn_lua_own_signals) watches the handler's pipe.
 * 0 or -errno. */
int dn_lua_watch_signal_pipe(struct dn_lua_ctx *c);
/* Signals that came meanwhile get the policy now, as if from the loop. */
void dn_lua_take_signals(struct dn_lua_ctx *c);
/* For the state's hook: is a signal waiting for the loop? Has one waited
 * longer than the grace (its number, else 0)? */
bool dn_lua_signal_pending(void);
int dn_lua_signal_overdue(void);

#endif
