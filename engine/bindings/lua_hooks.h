/*
 * lua_hooks.h — a process object's hooks on its monitor (lua_hooks.c).
 */
#ifndef DENET_LUA_HOOKS_H
#define DENET_LUA_HOOKS_H

struct lproc;

/* The object's monitor calls the object from now on; the hooks it had
 * (the CLI's, for a borrowed monitor) are kept in p->chained and called
 * first. */
void dn_lua_install_hooks(struct lproc *p);

#endif
