/*
 * lua_hooks.c — a process object's side of its monitor: the monitor's
 * hooks (sample, spawn, reap, record, end, want_fast) run the object's
 * rules (p:watch) in C on every sample and the Lua callbacks registered
 * with p:on and p:watch. For -s hooks, the CLI's own hooks are chained
 * and called first. Lua runs only through dn_lua_call_hook, on the
 * thread dn_lua_cb_thread names, and never once the state is ending.
 *
 * Ownership: nothing; the callbacks live in the object's user value table
 * (lua_proc.c), keyed by event ("sample", "exit", "spawn", "reap",
 * "fire<i>", "clear<i>").
 */
#include <stdio.h>

#include <lauxlib.h>
#include <lua.h>

#include "lua_call.h"
#include "lua_ctx.h"
#include "lua_hooks.h"
#include "lua_proc.h"
#include "lua_records.h"
#include "monitor.h"
#include "rules.h"

/* Push the list of callbacks registered for `event`; false if none. */
static bool push_handlers(lua_State *L, struct lproc *p, const char *event)
{
	if (p->ref_self == LUA_NOREF)
		return false;
	lua_rawgeti(L, LUA_REGISTRYINDEX, p->ref_self);
	lua_getiuservalue(L, -1, 1);
	lua_remove(L, -2);
	lua_getfield(L, -1, event);
	lua_remove(L, -2);
	if (lua_istable(L, -1) && lua_rawlen(L, -1) > 0)
		return true;
	lua_pop(L, 1);
	return false;
}

static void call_each(struct lproc *p, const char *event,
		      void (*push_args)(lua_State *, struct lproc *, void *), int nargs, void *arg)
{
	lua_State *L = dn_lua_cb_thread(p->ctx);
	if (!dn_lua_may_run(p->ctx) || !push_handlers(L, p, event))
		return;
	int list = lua_gettop(L);
	lua_Integer n = (lua_Integer)lua_rawlen(L, list);
	for (lua_Integer i = 1; i <= n && dn_lua_may_run(p->ctx); i++) {
		lua_rawgeti(L, list, i);
		push_args(L, p, arg);
		dn_lua_call_hook(L, nargs);
	}
	lua_settop(L, list - 1);
}

static void args_record(lua_State *L, struct lproc *p, void *arg)
{
	(void)arg;
	dn_lua_push_record(L, p->mon);
}

static void args_proc(lua_State *L, struct lproc *p, void *arg)
{
	(void)p;
	dn_lua_push_proc(L, arg);
}

static void args_gone(lua_State *L, struct lproc *p, void *arg)
{
	(void)p;
	dn_lua_push_gone(L, arg);
}

static void args_exit(lua_State *L, struct lproc *p, void *arg)
{
	(void)arg;
	const struct dn_exit_info *e = &p->totals;
	if (e->known)
		lua_pushinteger(L, e->exit_code);
	else
		lua_pushnil(L);
	dn_lua_push_totals(L, e);
}

static void args_alert(lua_State *L, struct lproc *p, void *arg)
{
	(void)p;
	dn_lua_push_alert(L, arg);
}

/* A rule fired or cleared: the alert record is written by rules.c; here
 * the rule's Lua callback runs, if it has one. */
static void on_alert(const struct dn_alert *a, void *ctx)
{
	struct lproc *p = ctx;
	char key[32];
	snprintf(key, sizeof key, "%s%d", a->fire ? "fire" : "clear", a->rule_index);
	call_each(p, key, args_alert, 1, (void *)a);
}

static void hook_sample(struct dn_monitor *m, void *ctx)
{
	struct lproc *p = ctx;
	if (p->chained.on_sample)
		p->chained.on_sample(m, p->chained.ctx);
	dn_rules_eval(&p->rules, m, on_alert, p);
	call_each(p, "sample", args_record, 1, NULL);
}

static void hook_spawn(struct dn_monitor *m, const struct dn_proc *pr, void *ctx)
{
	struct lproc *p = ctx;
	if (p->chained.on_spawn)
		p->chained.on_spawn(m, pr, p->chained.ctx);
	call_each(p, "spawn", args_proc, 1, (void *)pr);
}

static void hook_reap(struct dn_monitor *m, const struct dn_proc_gone *g, void *ctx)
{
	struct lproc *p = ctx;
	if (p->chained.on_reap)
		p->chained.on_reap(m, g, p->chained.ctx);
	call_each(p, "reap", args_gone, 1, (void *)g);
}

static void hook_record(struct dn_monitor *m, const char *line, size_t len, void *ctx)
{
	struct lproc *p = ctx;
	if (p->chained.on_record)
		p->chained.on_record(m, line, len, p->chained.ctx);
}

static bool hook_want_fast(struct dn_monitor *m, void *ctx)
{
	struct lproc *p = ctx;
	bool fast = p->chained.want_fast && p->chained.want_fast(m, p->chained.ctx);
	return dn_rules_want_fast(&p->rules, m) || fast;
}

static void hook_end(struct dn_monitor *m, void *ctx)
{
	struct lproc *p = ctx;
	if (p->chained.on_end)
		p->chained.on_end(m, p->chained.ctx);
	p->ended = true;
	/* exited or detached: the final record's figures; else (duration,
	 * an attached process's monitoring stopped) the sampled ones */
	const struct dn_exit_info *e = dn_monitor_exit(m);
	bool final = dn_monitor_command_done(m) || e->detached;
	if (final)
		p->totals = *e;
	else
		dn_monitor_sampled_totals(m, &p->totals);
	if (final && !p->exit_called) {
		p->exit_called = true;
		call_each(p, "exit", args_exit, 2, NULL);
	}
	dn_lua_proc_monitor_ended(p);
}

void dn_lua_install_hooks(struct lproc *p)
{
	p->chained = *dn_monitor_get_hooks(p->mon);
	const struct dn_monitor_hooks hooks = {
		.on_sample = hook_sample,
		.on_spawn = hook_spawn,
		.on_reap = hook_reap,
		.on_record = hook_record,
		.on_end = hook_end,
		.want_fast = hook_want_fast,
		.ctx = p,
	};
	dn_monitor_set_hooks(p->mon, &hooks);
}
