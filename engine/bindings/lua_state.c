/*
 * lua_state.c — Lua states for the denet binary: the embedded modules of
 * lua/denet/ as a package searcher, `denet SCRIPT.lua` run like the
 * standalone interpreter, `-s` hooks for a CLI run, and the subcommands
 * written in Lua (stats). Owns the lua_State of each of these.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "lua_api.h"
#include "lua_call.h"
#include "lua_core.h"
#include "lua_ctx.h"
#include "lua_loop.h"
#include "lua_proc.h"
#include "lua_signals.h"
#include "lua_embedded.h"

struct dn_lua {
	lua_State *L;
};

/* package.searchers entry: modules compiled into the binary. Files on
 * LUA_PATH still win for "denet.*" only if the embedded one is missing, so
 * an installed denet behaves the same everywhere. */
static int embedded_searcher(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	for (const struct dn_lua_module *m = dn_lua_embedded; m->name; m++) {
		if (strcmp(m->name, name) != 0)
			continue;
		if (luaL_loadbuffer(L, m->source, m->len, m->chunkname) != LUA_OK)
			return lua_error(L);
		lua_pushstring(L, m->chunkname + 1);
		return 2;
	}
	lua_pushfstring(L, "no embedded module '%s'", name);
	return 1;
}

static lua_State *new_state(void)
{
	lua_State *L = luaL_newstate();
	if (!L)
		return NULL;
	luaL_openlibs(L);
	/* denet.core is linked in */
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushcfunction(L, luaopen_denet_core);
	lua_setfield(L, -2, "denet.core");
	lua_pop(L, 1);
	/* embedded modules right after preload, before the file searchers */
	lua_getglobal(L, "package");
	lua_getfield(L, -1, "searchers");
	lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
	for (lua_Integer i = n; i >= 2; i--) {
		lua_rawgeti(L, -1, i);
		lua_rawseti(L, -2, i + 1);
	}
	lua_pushcfunction(L, embedded_searcher);
	lua_rawseti(L, -2, 2);
	lua_pop(L, 2);
	return L;
}

/* Call the function below nargs args with a traceback; print on error. */
static int pcall_main(lua_State *L, int nargs, int nresults)
{
	int base = lua_gettop(L) - nargs;
	lua_pushcfunction(L, dn_lua_traceback);
	lua_insert(L, base);
	int r = lua_pcall(L, nargs, nresults, base);
	lua_remove(L, base);
	if (r != LUA_OK) {
		dn_lua_report_error(L, -1);
		lua_pop(L, 1);
	}
	return r;
}

static int require_denet(lua_State *L)
{
	lua_getglobal(L, "require");
	lua_pushstring(L, "denet");
	return pcall_main(L, 1, 1);
}

int dn_lua_run_script(int argc, char **argv, int script_idx)
{
	lua_State *L = new_state();
	if (!L) {
		fprintf(stderr, "denet: cannot create a Lua state: out of memory\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	int r = dn_lua_own_signals(L);
	if (r < 0) {
		fprintf(stderr, "denet: cannot handle signals: %s\n", strerror(-r));
		lua_close(L);
		return 1;
	}
	dn_lua_install_exit(L);
	/* arg, as lua.c builds it: script at 0, its args at 1.., the
	 * interpreter and options before at negative indices. */
	lua_createtable(L, argc - script_idx - 1, script_idx + 1);
	for (int i = 0; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i - script_idx);
	}
	lua_setglobal(L, "arg");
	const char *file = argv[script_idx];
	if (luaL_loadfile(L, file) != LUA_OK) {
		const char *msg = lua_tostring(L, -1);
		fprintf(stderr, "denet: %s\n", msg ? msg : "cannot load the script");
		dn_lua_end_all(L);
		lua_close(L);
		return 1;
	}
	int nargs = argc - script_idx - 1;
	luaL_checkstack(L, nargs + 4, "too many arguments");
	for (int i = script_idx + 1; i < argc; i++)
		lua_pushstring(L, argv[i]);
	struct dn_lua_ctx *c = dn_lua_ctx(L);
	r = pcall_main(L, nargs, 0);
	/* then the loop, as node.js runs its event loop after the script,
	 * unless denet.stop() was called outside a loop */
	if (r == LUA_OK && !dn_lua_ending(c) && !c->skip_loop && c->loop)
		dn_lua_run_loop(L, NULL);
	int status = dn_lua_status(c, r == LUA_OK ? 0 : 1);
	/* whatever ended the script (its end, denet.stop(), os.exit, an
	 * error, a signal): nothing it started is left behind unrecorded */
	dn_lua_end_all(L);
	lua_close(L);
	return status;
}

/* A subcommand written in Lua: require(module) returns a function; call it
 * with the arguments push_args pushes; it returns the exit status. */
static int run_lua_subcommand(const char *module, int (*push_args)(lua_State *, const void *),
			      const void *args)
{
	lua_State *L = new_state();
	if (!L) {
		fprintf(stderr, "denet: cannot create a Lua state: out of memory\n");
		return 1;
	}
	int status = 1;
	lua_getglobal(L, "require");
	lua_pushstring(L, module);
	if (pcall_main(L, 1, 1) == LUA_OK) {
		int nargs = push_args(L, args);
		if (pcall_main(L, nargs, 1) == LUA_OK)
			status = (int)lua_tointeger(L, -1);
	}
	lua_close(L);
	return status;
}

static void push_opt_string(lua_State *L, const char *s)
{
	if (s)
		lua_pushstring(L, s);
	else
		lua_pushnil(L);
}

struct stats_args {
	const char *file;
	bool json;
	const char *stats_out;
};

static int push_stats_args(lua_State *L, const void *p)
{
	const struct stats_args *a = p;
	lua_pushstring(L, a->file);
	lua_pushboolean(L, a->json);
	push_opt_string(L, a->stats_out);
	return 3;
}

int dn_lua_stats(const char *file, bool json, const char *stats_out)
{
	struct stats_args a = {file, json, stats_out};
	return run_lua_subcommand("denet.stats_cli", push_stats_args, &a);
}

struct report_args {
	const char *file, *out;
};

static int push_report_args(lua_State *L, const void *p)
{
	const struct report_args *a = p;
	lua_pushstring(L, a->file);
	push_opt_string(L, a->out);
	return 2;
}

int dn_lua_report(const char *file, const char *out)
{
	struct report_args a = {file, out};
	return run_lua_subcommand("denet.report_cli", push_report_args, &a);
}

struct dn_lua *dn_lua_hooks_load(const char *file, struct dn_loop *loop, struct dn_monitor *m)
{
	struct dn_lua *h = calloc(1, sizeof *h);
	if (!h || !(h->L = new_state())) {
		free(h);
		fprintf(stderr, "denet: cannot create a Lua state: out of memory\n");
		return NULL;
	}
	lua_State *L = h->L;
	dn_lua_set_loop(L, loop);
	dn_lua_install_exit(L);
	int r = dn_lua_own_signals(L); /* a busy hook can be interrupted */
	if (r < 0) {
		fprintf(stderr, "denet: cannot handle signals: %s\n", strerror(-r));
		goto fail;
	}
	lua_createtable(L, 1, 0);
	lua_pushstring(L, file);
	lua_rawseti(L, -2, 0);
	lua_setglobal(L, "arg");
	if (require_denet(L) != LUA_OK)
		goto fail;
	lua_pop(L, 1);
	if (luaL_loadfile(L, file) != LUA_OK) {
		const char *msg = lua_tostring(L, -1);
		fprintf(stderr, "denet: %s\n", msg ? msg : "cannot load the script");
		goto fail;
	}
	dn_lua_push_cli_process(L, m);
	/* os.exit in the body: main exits with its status (dn_lua_hooks_ended) */
	if (pcall_main(L, 1, 0) != LUA_OK && !dn_lua_ctx(L)->exiting)
		goto fail;
	return h;
fail:
	dn_lua_close(h);
	return NULL;
}

void dn_lua_hooks_started(struct dn_lua *h)
{
	dn_lua_cli_started(h->L);
}

bool dn_lua_hooks_ended(const struct dn_lua *h)
{
	return dn_lua_ending(dn_lua_ctx(h->L));
}

int dn_lua_exit_status(const struct dn_lua *h)
{
	return dn_lua_status(dn_lua_ctx(h->L), 1);
}

void dn_lua_close(struct dn_lua *h)
{
	if (!h)
		return;
	if (h->L) {
		/* no hook may fire in a finalizer that runs Lua */
		dn_lua_ctx(h->L)->teardown = true;
		dn_lua_clear_hooks(h->L);
		lua_close(h->L);
	}
	free(h);
}
