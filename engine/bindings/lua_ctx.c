/*
 * lua_ctx.c — the context of a state (lua_ctx.h): its creation, its end
 * (the __gc of the registry userdata: the script's signals are given back,
 * an owned loop is freed), the list of running process objects, and what
 * the state's ending means for callbacks and the exit status.
 *
 * Ownership: the context owns its loop when it created it (own_loop; the
 * CLI's is borrowed; the run cgroups waiting on an owned loop are flushed
 * before it is freed) and the array of the process list, not the objects in
 * it (the registry holds those, see lua_proc.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>

#include "cgroup_reaper.h"
#include "loop.h"
#include "lua_ctx.h"
#include "lua_signals.h"

#define CTX_KEY "denet.ctx"

static int ctx_gc(lua_State *L)
{
	struct dn_lua_ctx *c = lua_touserdata(L, 1);
	dn_lua_release_signals(c);
	free(c->procs);
	c->procs = NULL;
	/* The state is closing (its process objects were finalized first:
	 * their run cgroups are with the reaper, timed on this loop): the
	 * last, bounded wait for them, then the loop can go. */
	if (c->own_loop && c->loop) {
		dn_cgroup_reaper_flush(c->loop);
		dn_loop_free(c->loop);
	}
	c->loop = NULL;
	return 0;
}

struct dn_lua_ctx *dn_lua_ctx(lua_State *L)
{
	lua_getfield(L, LUA_REGISTRYINDEX, CTX_KEY);
	struct dn_lua_ctx *c = lua_touserdata(L, -1);
	lua_pop(L, 1);
	if (c)
		return c;
	c = lua_newuserdatauv(L, sizeof *c, 0);
	memset(c, 0, sizeof *c);
	lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
	c->L = lua_tothread(L, -1);
	lua_pop(L, 1);
	c->hook_budget_ms = 1000;
	lua_newtable(L);
	lua_pushcfunction(L, ctx_gc);
	lua_setfield(L, -2, "__gc");
	lua_setmetatable(L, -2);
	lua_setfield(L, LUA_REGISTRYINDEX, CTX_KEY);
	return c;
}

void dn_lua_set_loop(lua_State *L, struct dn_loop *loop)
{
	struct dn_lua_ctx *c = dn_lua_ctx(L);
	c->loop = loop;
	c->own_loop = false;
}

int dn_lua_ctx_add_proc(struct dn_lua_ctx *c, struct lproc *p)
{
	if (c->nprocs == c->cap) {
		int ncap = c->cap ? c->cap * 2 : 8;
		struct lproc **np = realloc(c->procs, (size_t)ncap * sizeof *np);
		if (!np)
			return -ENOMEM;
		c->procs = np;
		c->cap = ncap;
	}
	c->procs[c->nprocs++] = p;
	return 0;
}

void dn_lua_ctx_remove_proc(struct dn_lua_ctx *c, struct lproc *p)
{
	for (int i = 0; i < c->nprocs; i++)
		if (c->procs[i] == p) {
			c->procs[i] = c->procs[--c->nprocs];
			return;
		}
}

bool dn_lua_ending(const struct dn_lua_ctx *c)
{
	return c->failed || c->exiting || c->interrupted;
}

bool dn_lua_may_run(const struct dn_lua_ctx *c)
{
	return !dn_lua_ending(c) && !c->teardown;
}

int dn_lua_status(const struct dn_lua_ctx *c, int ok)
{
	if (c->exiting)
		return c->exit_status;
	if (c->interrupted)
		return 128 + c->interrupted;
	return c->failed ? 1 : ok;
}

/* The thread callbacks run on: the one that entered C and runs the loop
 * (or takes a sample) now; else (the CLI's loop, for -s hooks) the main
 * thread. Never the thread that created an object: a coroutine may be
 * suspended or dead by then. */
lua_State *dn_lua_cb_thread(const struct dn_lua_ctx *c)
{
	return c->cur ? c->cur : c->L;
}
