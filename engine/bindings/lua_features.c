/*
 * lua_features.c — denet.features: what this kernel and this process can
 * do (btf, psi, schedstat at once; ebpf and cgroup probed on first use,
 * so that loading denet costs no BPF load and makes no cgroup), with the
 * reason of each missing one in features.reason.
 *
 * Ownership: the cached answers of the two probes (process-wide statics);
 * the probes release what they made before returning.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "cgroup.h"
#include "cgroup_reaper.h"
#include "lua_aux.h"
#include "lua_features.h"
#include "lua_offcpu.h"
#include "procevents.h"

bool dn_lua_cgroup_probe(const char **why)
{
	static int state; /* 0 not probed, 1 available, -1 not */
	static char reason[160];
	if (!state) {
		struct dn_cgroup *cg = dn_cgroup_create(reason, sizeof reason);
		state = cg ? 1 : -1;
		if (!cg && !reason[0])
			snprintf(reason, sizeof reason, "cannot create a cgroup: %s",
				 strerror(errno));
		dn_cgroup_reaper_add(NULL, cg, false); /* empty: goes at once */
	}
	if (why)
		*why = state > 0 ? NULL : reason;
	return state > 0;
}

/* Whether the kernel's fork events can be had here (the `fork_events`
 * capability of a run): a subscription made and dropped. */
static bool fork_events_probe(const char **why)
{
	static int state;
	static char reason[160];
	if (!state) {
		struct dn_procevents *pe = dn_procevents_open(reason, sizeof reason);
		state = pe ? 1 : -1;
		dn_procevents_close(pe);
	}
	if (why)
		*why = state > 0 ? NULL : reason;
	return state > 0;
}

/* denet.features.ebpf and .cgroup without a BPF load and a cgroup made at
 * every `require "denet"`: the features table and its reason table get
 * these entries on first use (reading either, or pairs() over the
 * features). Upvalues: features, reasons. */
static const struct {
	const char *name;
	bool (*probe)(const char **why);
} lazy_features[] = {{"ebpf", dn_lua_ebpf_probe},
		     {"cgroup", dn_lua_cgroup_probe},
		     {"fork_events", fork_events_probe}};

static void materialize(lua_State *L)
{
	for (size_t i = 0; i < sizeof lazy_features / sizeof lazy_features[0]; i++) {
		const char *why = NULL;
		bool ok = lazy_features[i].probe(&why);
		lua_pushboolean(L, ok);
		lua_setfield(L, lua_upvalueindex(1), lazy_features[i].name);
		if (!ok) {
			lua_pushstring(L, why);
			lua_setfield(L, lua_upvalueindex(2), lazy_features[i].name);
		}
	}
}

static int features_index(lua_State *L)
{
	for (size_t i = 0; i < sizeof lazy_features / sizeof lazy_features[0]; i++)
		if (lua_type(L, 2) == LUA_TSTRING &&
		    strcmp(lua_tostring(L, 2), lazy_features[i].name) == 0) {
			materialize(L);
			lua_rawget(L, 1);
			return 1;
		}
	return 0;
}

static int features_pairs(lua_State *L)
{
	materialize(L);
	lua_pushcfunction(L, dn_lua_next);
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	return 3;
}

static void lazy_probes(lua_State *L, int features_idx, int reasons_idx)
{
	int ft = lua_absindex(L, features_idx), rt = lua_absindex(L, reasons_idx);
	static const char *const fields[] = {"__index", "__pairs"};
	lua_CFunction fns[] = {features_index, features_pairs};
	for (int t = 0; t < 2; t++) {
		lua_newtable(L);
		for (int i = 0; i < 2; i++) {
			lua_pushvalue(L, ft);
			lua_pushvalue(L, rt);
			lua_pushcclosure(L, fns[i], 2);
			lua_setfield(L, -2, fields[i]);
		}
		lua_setmetatable(L, t == 0 ? ft : rt);
	}
}

static void set_feature(lua_State *L, int reasons, const char *name, bool ok, const char *why)
{
	lua_pushboolean(L, ok);
	lua_setfield(L, -2, name);
	if (!ok) {
		lua_pushstring(L, why);
		lua_setfield(L, reasons, name);
	}
}

static int l_features(lua_State *L)
{
	lua_newtable(L);
	int reasons = lua_gettop(L);
	lua_newtable(L);
	/* ebpf and cgroup: probed (a load of the program, a cgroup made and
	 * removed) on first use */
	lazy_probes(L, -1, reasons);
	set_feature(L, reasons, "btf", access("/sys/kernel/btf/vmlinux", R_OK) == 0,
		    "/sys/kernel/btf/vmlinux is missing");
	set_feature(L, reasons, "psi", access("/proc/pressure/cpu", R_OK) == 0,
		    "/proc/pressure is missing (kernel without CONFIG_PSI)");
	set_feature(L, reasons, "schedstat", access("/proc/self/schedstat", R_OK) == 0,
		    "/proc/PID/schedstat is missing");
	lua_pushvalue(L, reasons);
	lua_setfield(L, -2, "reason");
	return 1;
}

void dn_lua_open_features(lua_State *L, int core_table_index)
{
	static const luaL_Reg funcs[] = {
		{"features", l_features},
		{NULL, NULL},
	};
	dn_lua_add_funcs(L, core_table_index, funcs);
}
