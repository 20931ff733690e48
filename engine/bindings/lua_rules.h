/*
 * lua_rules.h — p:watch and denet.parse_size (lua_rules.c).
 */
#ifndef DENET_LUA_RULES_H
#define DENET_LUA_RULES_H

#include <lua.h>

/* p:watch{metric=..., above|below=..., ...} --> the rule's index. A
 * method of "denet.process". */
int dn_lua_proc_watch(lua_State *L);
/* parse_size in the denet.core table at idx. */
void dn_lua_open_rules(lua_State *L, int core_table_index);

#endif
