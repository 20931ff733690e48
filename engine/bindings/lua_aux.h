/*
 * lua_aux.h — what every binding file needs and none owns, as lauxlib.h is
 * to Lua's own libraries: options tables, the failure convention, table
 * fields, and classes of userdata (a metatable, its methods and an __index
 * that falls back to them). No state and nothing of denet: every other
 * binding file may include this one, and it includes none of them.
 */
#ifndef DENET_LUA_AUX_H
#define DENET_LUA_AUX_H

#include <stdbool.h>
#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>

/* ---- options tables ---- */

/* An option of an options table: its name and Lua type (-1: any). */
struct dn_lua_opt {
	const char *name;
	int type;
};
/* Unknown keys and wrong types raise, naming the key; with
 * allow_array, integer keys (a command's words) must be strings. */
void dn_lua_check_opts(lua_State *L, int idx, const struct dn_lua_opt *spec, bool allow_array,
		       const char *fname);
/* Field k of the options table at idx; absent (nil) gives dflt / NULL.
 * The types were checked by dn_lua_check_opts. A string stays referenced
 * by the table. */
lua_Number dn_lua_opt_num(lua_State *L, int idx, const char *k, lua_Number dflt);
bool dn_lua_opt_bool(lua_State *L, int idx, const char *k, bool dflt);
const char *dn_lua_opt_str(lua_State *L, int idx, const char *k);

/* ---- failures ---- */

/* The failure convention of every denet function: pushes nil,
 * "ENAME: what: strerror(err)", "ENAME" and returns 3 (for `return`). */
int dn_lua_push_fail(lua_State *L, int err, const char *what);
/* The same for a reason that says it all (strerror would repeat it):
 * nil, "ENAME: why", "ENAME". */
int dn_lua_push_fail_why(lua_State *L, int err, const char *why);

/* ---- table fields ---- */

/* t.k = v for the table on top of the stack. Records are built field by
 * field, so the integer setter keeps the short name every record builder
 * (lua_records.c, lua_offcpu.c) has always called; static inline, so no
 * unprefixed symbol is exported. */
static inline void set_int(lua_State *L, const char *k, uint64_t v)
{
	lua_pushinteger(L, (lua_Integer)v);
	lua_setfield(L, -2, k);
}
/* t.k = v, nothing when v is NULL. */
void dn_lua_set_str(lua_State *L, const char *k, const char *v);
/* Adds funcs to the table at idx (the denet.core table). */
void dn_lua_add_funcs(lua_State *L, int idx, const luaL_Reg *funcs);

/* ---- classes of userdata ---- */

/* A userdata class: its metatable is registered under `name`. With an
 * `index` function, __index is that function and the methods are in
 * __methods (the function answers the object's fields, then calls
 * dn_lua_index_method); without, __index is the methods table. gc, close
 * and tostring may be NULL. */
struct dn_lua_class {
	const char *name;
	const luaL_Reg *methods;
	lua_CFunction index, gc, close, tostring;
};
void dn_lua_new_class(lua_State *L, const struct dn_lua_class *cls);
/* The end of a class's __index(obj, key): the method `key`, or nil. */
int dn_lua_index_method(lua_State *L);
/* `next` of the base library, for a __pairs that returns it: a script
 * may have replaced the global. */
int dn_lua_next(lua_State *L);

#endif
