/*
 * lua_features.h — denet.features and the cgroup probe (lua_features.c).
 */
#ifndef DENET_LUA_FEATURES_H
#define DENET_LUA_FEATURES_H

#include <stdbool.h>

#include <lua.h>

/* Can this process give a run a cgroup of its own (as denet.run does)?
 * Probed once (a cgroup made and removed) and cached; *why (may be NULL)
 * gets the reason when not. */
bool dn_lua_cgroup_probe(const char **why);
/* features in the denet.core table at idx. */
void dn_lua_open_features(lua_State *L, int core_table_index);

#endif
