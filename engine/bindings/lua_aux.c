/*
 * lua_aux.c — the helpers of lua_aux.h: options tables, the failure
 * convention (luv's nil, "ENAME: msg", "ENAME"), table fields and userdata
 * classes. Owns nothing: no state, no resource.
 */
#include <string.h>

#include "lua_aux.h"

/* Unknown keys are errors (a typo must not pass silently); so are wrong
 * types. */
void dn_lua_check_opts(lua_State *L, int idx, const struct dn_lua_opt *spec, bool allow_array,
		       const char *fname)
{
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		if (lua_type(L, -2) == LUA_TNUMBER && allow_array) {
			if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
				luaL_error(L, "%s: command word %d must be a string", fname,
					   (int)lua_tointeger(L, -2));
			lua_pop(L, 1);
			continue;
		}
		const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
		const struct dn_lua_opt *s = spec;
		while (k && s->name && strcmp(s->name, k) != 0)
			s++;
		if (!k || !s->name)
			luaL_error(L, "%s: unknown option '%s'", fname,
				   k ? k : luaL_typename(L, -2));
		if (s->type >= 0 && lua_type(L, -1) != s->type)
			luaL_error(L, "%s: option '%s' must be a %s, got %s", fname, k,
				   lua_typename(L, s->type), luaL_typename(L, -1));
		lua_pop(L, 1);
	}
}

lua_Number dn_lua_opt_num(lua_State *L, int idx, const char *k, lua_Number dflt)
{
	lua_getfield(L, idx, k);
	lua_Number v = lua_isnil(L, -1) ? dflt : lua_tonumber(L, -1);
	lua_pop(L, 1);
	return v;
}

bool dn_lua_opt_bool(lua_State *L, int idx, const char *k, bool dflt)
{
	lua_getfield(L, idx, k);
	bool v = lua_isnil(L, -1) ? dflt : lua_toboolean(L, -1);
	lua_pop(L, 1);
	return v;
}

const char *dn_lua_opt_str(lua_State *L, int idx, const char *k)
{
	lua_getfield(L, idx, k);
	const char *v = lua_tostring(L, -1);
	lua_pop(L, 1); /* still referenced by the table */
	return v;
}

/* Environmental failure: nil, "ENAME: msg", "ENAME" (luv's convention). */
int dn_lua_push_fail(lua_State *L, int err, const char *what)
{
	const char *name = strerrorname_np(err);
	lua_pushnil(L);
	lua_pushfstring(L, "%s: %s: %s", name ? name : "EIO", what, strerror(err));
	lua_pushstring(L, name ? name : "EIO");
	return 3;
}

/* The same for a reason that says it all: strerror would repeat it
 * ("the process has ended: No such process"). */
int dn_lua_push_fail_why(lua_State *L, int err, const char *why)
{
	const char *name = strerrorname_np(err);
	lua_pushnil(L);
	lua_pushfstring(L, "%s: %s", name ? name : "EIO", why);
	lua_pushstring(L, name ? name : "EIO");
	return 3;
}

void dn_lua_set_str(lua_State *L, const char *k, const char *v)
{
	if (!v)
		return;
	lua_pushstring(L, v);
	lua_setfield(L, -2, k);
}

void dn_lua_add_funcs(lua_State *L, int idx, const luaL_Reg *funcs)
{
	int t = lua_absindex(L, idx);
	for (const luaL_Reg *r = funcs; r->name; r++) {
		lua_pushcfunction(L, r->func);
		lua_setfield(L, t, r->name);
	}
}

static void set_cfunction(lua_State *L, const char *k, lua_CFunction f)
{
	if (!f)
		return;
	lua_pushcfunction(L, f);
	lua_setfield(L, -2, k);
}

void dn_lua_new_class(lua_State *L, const struct dn_lua_class *cls)
{
	luaL_newmetatable(L, cls->name);
	lua_newtable(L);
	luaL_setfuncs(L, cls->methods, 0);
	lua_setfield(L, -2, cls->index ? "__methods" : "__index");
	set_cfunction(L, "__index", cls->index);
	set_cfunction(L, "__gc", cls->gc);
	set_cfunction(L, "__close", cls->close);
	set_cfunction(L, "__tostring", cls->tostring);
	lua_pop(L, 1);
}

int dn_lua_index_method(lua_State *L)
{
	lua_getmetatable(L, 1);
	lua_getfield(L, -1, "__methods");
	lua_getfield(L, -1, luaL_checkstring(L, 2));
	return 1;
}

int dn_lua_next(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 2);
	if (lua_next(L, 1))
		return 2;
	lua_pushnil(L);
	return 1;
}
