/*
 * fuzz_lua_json.c — libFuzzer harness for the Lua JSON decoder that `denet
 * stats` and denet.read use (lua/denet/json.lua), run by the system
 * liblua5.4. The module is loaded from its source file (path in the
 * DENET_JSON_LUA environment variable, default lua/denet/json.lua) and
 * json.decode is called on the input.
 *
 * Property: decode returns a value, or nil and a string message; no Lua error
 * escapes it (json.decode re-raises only what it considers a bug). A value
 * must re-encode, and decode(encode(v)) must succeed.
 *
 * Coverage: liblua5.4 is not instrumented, so a line hook feeds libFuzzer
 * "extra counters" with (previous line, line) pairs of json.lua: the fuzzer
 * then sees the decoder's paths, not only the VM's.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#define NCOUNTERS (1u << 16)
__attribute__((section("__libfuzzer_extra_counters"))) static uint8_t counters[NCOUNTERS];

static lua_State *L;
static int prev_line;

static void line_hook(lua_State *l, lua_Debug *ar)
{
	(void)l;
	unsigned idx = ((unsigned)prev_line * 2654435761u ^ (unsigned)ar->currentline) % NCOUNTERS;
	counters[idx]++;
	prev_line = ar->currentline;
}

static void setup(void)
{
	const char *path = getenv("DENET_JSON_LUA");
	if (!path)
		path = "lua/denet/json.lua";
	L = luaL_newstate();
	luaL_openlibs(L);
	if (luaL_dofile(L, path) != LUA_OK) {
		fprintf(stderr, "fuzz_lua_json: loading %s: %s\n", path, lua_tostring(L, -1));
		exit(1);
	}
	lua_setglobal(L, "json");
	/* decode, re-encode a value and decode that again; "ok" or an error */
	const char *check = "local s = ...\n"
			    "local v, msg = json.decode(s)\n"
			    "if v == nil then\n"
			    "  assert(type(msg) == 'string' and msg:find('^denet.json.decode: '),\n"
			    "         'bad error message: ' .. tostring(msg))\n"
			    "  return\n"
			    "end\n"
			    "local ok, t = pcall(json.encode, v)\n"
			    "if ok then\n"
			    "  local v2, m2 = json.decode(t)\n"
			    "  assert(v2 ~= nil, 're-decode failed: ' .. tostring(m2))\n"
			    "end\n";
	if (luaL_loadstring(L, check) != LUA_OK) {
		fprintf(stderr, "fuzz_lua_json: %s\n", lua_tostring(L, -1));
		exit(1);
	}
	lua_setglobal(L, "check");
	lua_sethook(L, line_hook, LUA_MASKLINE, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!L)
		setup();
	prev_line = 0;
	lua_getglobal(L, "check");
	lua_pushlstring(L, (const char *)data, size);
	if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
		fprintf(stderr, "fuzz_lua_json: Lua error escaped: %s\n", lua_tostring(L, -1));
		abort();
	}
	if (lua_gettop(L) != 0)
		abort();
	/* keep memory bounded across millions of runs */
	lua_gc(L, LUA_GCSTEP, 0);
	return 0;
}
