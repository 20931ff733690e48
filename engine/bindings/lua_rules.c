/*
 * lua_rules.c — p:watch{...}: a rule's options checked and turned into a
 * struct dn_rule (engine/run/rules.h), which rules.c then evaluates in C
 * on every sample; the rule's on_fire / on_clear callbacks are kept in the
 * process object's user value table as fire<i> / clear<i> (lua_hooks.c
 * calls them). Also denet.parse_size, the size strings rules accept.
 * Owns nothing: the rule set is the process object's.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "lua_aux.h"
#include "lua_proc.h"
#include "lua_rules.h"
#include "metrics.h"
#include "rules.h"

/* Sizes: numbers, or strings "512K", "100M", "2G", "1T" (powers of 1024),
 * converted to the metric's own unit (kB for *_kb, bytes for *_bytes). */
static double check_size(lua_State *L, int tidx, const char *key, const char *metric)
{
	lua_getfield(L, tidx, key);
	double v;
	if (lua_type(L, -1) == LUA_TNUMBER) {
		v = lua_tonumber(L, -1);
	} else if (lua_type(L, -1) == LUA_TSTRING) {
		const char *s = lua_tostring(L, -1);
		int r = dn_rules_parse_size(s, metric, &v);
		if (r < 0)
			luaL_error(L, "p:watch: %s = '%s' is not a size for %s (use a number%s)",
				   key, s, metric,
				   r == -ERANGE ? ""
						: ", or e.g. \"512M\", \"2G\" for *_kb/*_bytes");
	} else if (lua_isnil(L, -1)) {
		v = NAN;
	} else {
		luaL_error(L, "p:watch: %s must be a number or a size string", key);
		v = NAN;
	}
	lua_pop(L, 1);
	return v;
}

static const struct dn_lua_opt watch_opts[] = {
	{"metric", LUA_TSTRING},
	{"above", -1},
	{"below", -1},
	{"for_ms", LUA_TNUMBER},
	{"clear_below", -1},
	{"clear_above", -1},
	{"name", LUA_TSTRING},
	{"on_fire", LUA_TFUNCTION},
	{"on_clear", LUA_TFUNCTION},
	{"action", LUA_TSTRING},
	{"scope", LUA_TSTRING},
	{"syscall", LUA_TSTRING},
	{NULL, 0},
};

/* The metrics scope = "any" takes, from the schema (metrics_schema.h). */
static void any_scope_error(lua_State *L, const char *metric)
{
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	size_t last = 0;
	for (size_t i = 0; i < dn_metric_count; i++)
		if (dn_metric_schema[i].watch == DN_METRIC_ANY)
			last = i;
	for (size_t i = 0, k = 0; i < dn_metric_count; i++)
		if (dn_metric_schema[i].watch == DN_METRIC_ANY) {
			if (k++)
				luaL_addstring(&b, i == last ? " and " : ", ");
			luaL_addstring(&b, dn_metric_schema[i].name);
		}
	luaL_pushresult(&b);
	luaL_error(L, "p:watch: scope = \"any\" works for %s, not '%s'", lua_tostring(L, -1),
		   metric);
}

int dn_lua_proc_watch(lua_State *L)
{
	struct lproc *p = dn_lua_check_proc(L, 1);
	luaL_checktype(L, 2, LUA_TTABLE);
	/* keys: checked by hand since sizes take two types */
	lua_pushnil(L);
	while (lua_next(L, 2)) {
		const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
		const struct dn_lua_opt *s = watch_opts;
		while (k && s->name && strcmp(s->name, k) != 0)
			s++;
		if (!k || !s->name)
			luaL_error(L, "p:watch: unknown option '%s'", k ? k : luaL_typename(L, -2));
		if (s->type >= 0 && lua_type(L, -1) != s->type)
			luaL_error(L, "p:watch: option '%s' must be a %s, got %s", k,
				   lua_typename(L, s->type), luaL_typename(L, -1));
		lua_pop(L, 1);
	}
	struct dn_rule r;
	memset(&r, 0, sizeof r);
	const char *metric = dn_lua_opt_str(L, 2, "metric");
	if (!metric)
		luaL_error(L, "p:watch: 'metric' is required (e.g. metric = \"mem_rss_kb\")");
	const char *scope = dn_lua_opt_str(L, 2, "scope");
	bool any = false;
	if (scope && strcmp(scope, "any") == 0)
		any = true;
	else if (scope && strcmp(scope, "tree") != 0)
		luaL_error(L, "p:watch: scope must be \"tree\" or \"any\", got '%s'", scope);
	int e = dn_rules_set_metric(&r, metric, any);
	if (e == -ENOENT)
		luaL_error(L, "p:watch: unknown metric '%s'", metric);
	if (e == -EINVAL)
		any_scope_error(L, metric);
	const char *syscall = dn_lua_opt_str(L, 2, "syscall");
	if (syscall && !r.syscall_rate)
		luaL_error(L, "p:watch: 'syscall' goes with metric = \"syscall_rate\"");
	if (r.syscall_rate) {
		if (dn_rules_set_syscall(&r, syscall) < 0)
			luaL_error(L, "p:watch: unknown syscall '%s'", syscall);
		/* asked for (it may open later, or fail with a warning: the
		 * rate then reads 0) */
		const struct dn_monitor_opts *mo = p->mon ? dn_monitor_opts(p->mon) : NULL;
		if (!mo || !mo->offcpu || !mo->offcpu_opts.syscalls)
			luaL_error(L, "p:watch: syscall_rate needs the run's syscall tracking "
				      "(denet.run{syscalls = true, ...} or --enable-ebpf)");
	}
	double above = check_size(L, 2, "above", metric);
	double below = check_size(L, 2, "below", metric);
	if (isnan(above) == isnan(below))
		luaL_error(L, "p:watch: give exactly one of 'above' or 'below'");
	r.above = !isnan(above);
	r.threshold = r.above ? above : below;
	double cb = check_size(L, 2, "clear_below", metric);
	double ca = check_size(L, 2, "clear_above", metric);
	if (!isnan(cb) && !r.above)
		luaL_error(L, "p:watch: clear_below goes with above (use clear_above with below)");
	if (!isnan(ca) && r.above)
		luaL_error(L, "p:watch: clear_above goes with below (use clear_below with above)");
	r.clear_level = r.above ? (isnan(cb) ? r.threshold : cb) : (isnan(ca) ? r.threshold : ca);
	if (r.above && r.clear_level > r.threshold)
		luaL_error(L, "p:watch: clear_below must be <= above");
	if (!r.above && r.clear_level < r.threshold)
		luaL_error(L, "p:watch: clear_above must be >= below");
	double for_ms = dn_lua_opt_num(L, 2, "for_ms", 0);
	if (for_ms < 0)
		luaL_error(L, "p:watch: for_ms must be >= 0");
	r.for_ms = (uint64_t)for_ms;
	const char *action = dn_lua_opt_str(L, 2, "action");
	if (dn_rules_set_action(&r, action) < 0)
		luaL_error(L, "p:watch: action must be \"stop\", \"term\" or \"kill\", got '%s'",
			   action);
	/* A stall share above a threshold: the kernel can tell when it
	 * happens (a PSI trigger brings the next sample forward). Without
	 * one the rule is judged on the scheduled samples alone. */
	const char *name = dn_lua_opt_str(L, 2, "name");
	int idx = dn_rules_add(&p->rules, &r, name);
	if (idx < 0)
		return luaL_error(L, "p:watch: out of memory");
	/* (only for a rule that exists: an error above leaves no trigger
	 * bringing samples forward for nothing) */
	if (r.psi && r.above && !r.psi_avg10 && p->mon)
		dn_monitor_psi_trigger(p->mon, r.psi_system, r.psi_res, r.psi_full, r.threshold);
	/* callbacks live in the user value table as fire<i>/clear<i> lists */
	const char *cbn[2] = {"on_fire", "on_clear"};
	const char *ev[2] = {"fire", "clear"};
	for (int i = 0; i < 2; i++) {
		lua_getfield(L, 2, cbn[i]);
		if (lua_isfunction(L, -1)) {
			lua_getiuservalue(L, 1, 1);
			lua_createtable(L, 1, 0);
			lua_pushvalue(L, -3);
			lua_rawseti(L, -2, 1);
			char key[32];
			snprintf(key, sizeof key, "%s%d", ev[i], idx);
			lua_setfield(L, -2, key);
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	lua_pushinteger(L, idx);
	return 1;
}

static int l_parse_size(lua_State *L)
{
	const char *s = luaL_checkstring(L, 1);
	const char *metric = luaL_optstring(L, 2, "x_bytes");
	double v;
	if (dn_rules_parse_size(s, metric, &v) < 0)
		return luaL_argerror(L, 1, lua_pushfstring(L, "'%s' is not a size", s));
	lua_pushnumber(L, v);
	return 1;
}

void dn_lua_open_rules(lua_State *L, int core_table_index)
{
	static const luaL_Reg funcs[] = {
		{"parse_size", l_parse_size},
		{NULL, NULL},
	};
	dn_lua_add_funcs(L, core_table_index, funcs);
}
