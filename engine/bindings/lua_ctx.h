/*
 * lua_ctx.h — the context of a Lua state that uses denet.core: one per
 * state, a userdata in the registry, reached from any thread of the state
 * by dn_lua_ctx. It holds what the state's loop, signals, protected calls
 * and process objects share: the loop, how the state is ending, the hook
 * budget, and the list of process objects that are running. Only binding
 * files include Lua headers.
 */
#ifndef DENET_LUA_CTX_H
#define DENET_LUA_CTX_H

#include <stdbool.h>
#include <stdint.h>

#include <lua.h>

struct dn_loop;
struct lproc;

/* Per-state context (a userdata in the registry). */
struct dn_lua_ctx {
	lua_State *L;	/* the main thread: callbacks run on it, never on a
			   coroutine that happened to create the object */
	lua_State *cur; /* the thread running the loop now, NULL outside */
	struct dn_loop *loop;
	bool own_loop;	  /* created by denet.core (busted, scripts) */
	bool own_signals; /* denet SCRIPT.lua: INT/TERM/HUP/QUIT are denet's */
	int loop_depth;	  /* loops running now (denet.loop, p:wait) */
	bool stop;	  /* denet.stop() in a loop: ends the innermost one */
	bool skip_loop;	  /* denet.stop() outside loops: no loop after the main chunk */
	/* Ending: once one of these is set, no callback runs, every loop
	 * ends and the Lua code still running is unwound. */
	bool failed;  /* a callback raised (reported): exit 1 */
	bool exiting; /* os.exit was called: exit exit_status */
	int exit_status;
	int interrupted; /* the signal that interrupted busy Lua code */
	bool teardown;	 /* ending what is left: no more Lua */
	bool unwind;	 /* a state of denet's own (script, -s hooks): once
			    ending, running Lua is unwound (not in a plain
			    lua5.4 host, which goes on after an error) */
	bool in_hook;
	uint64_t hook_started_ns;
	double hook_budget_ms;
	/* every process object with a live monitor, or with a launched
	 * command that runs on after monitoring ended (until reaped) */
	struct lproc **procs;
	int nprocs, cap;
};

/* The state's context, created on first use. */
struct dn_lua_ctx *dn_lua_ctx(lua_State *L);
/* Install the loop of the CLI (-s hooks) before denet.core is opened. */
void dn_lua_set_loop(lua_State *L, struct dn_loop *loop);
/* Must the state end (a callback failed, os.exit, an interrupt)? */
bool dn_lua_ending(const struct dn_lua_ctx *c);
/* May Lua callbacks still run? Not once the state is ending, nor while
 * it ends what is left. */
bool dn_lua_may_run(const struct dn_lua_ctx *c);
/* The exit status the state asks for: os.exit's; 128+N after signal N
 * interrupted it; 1 after a failure; else `ok`. */
int dn_lua_status(const struct dn_lua_ctx *c, int ok);
/* The thread callbacks run on now (see lua_ctx.c). */
lua_State *dn_lua_cb_thread(const struct dn_lua_ctx *c);
/* The list of running process objects: add (0 or -ENOMEM), remove (a
 * no-op when absent). */
int dn_lua_ctx_add_proc(struct dn_lua_ctx *c, struct lproc *p);
void dn_lua_ctx_remove_proc(struct dn_lua_ctx *c, struct lproc *p);

#endif
