/*
 * lua_core.h — shared between the two Lua binding files (lua_core.c: the
 * `denet.core` module; lua_state.c: states, scripts, the CLI glue). Only
 * binding files include Lua headers.
 */
#ifndef DENET_LUA_CORE_H
#define DENET_LUA_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include <lua.h>

struct dn_loop;
struct dn_monitor;

/* Per-state context (a userdata in the registry). */
struct dn_lua_ctx {
	lua_State *L;	/* the main thread: callbacks run on it, never on a
			   coroutine that happened to create the object */
	lua_State *cur; /* the thread running the loop now, NULL outside */
	struct dn_loop *loop;
	bool own_loop;	  /* created by denet.core (busted, scripts) */
	bool own_signals; /* denet SCRIPT.lua: INT/TERM/HUP/QUIT are denet's */
	int loop_depth;	  /* loops running now (denet.loop, p:wait) */
	bool stop;	  /* denet.stop() in a loop: ends the innermost one */
	bool skip_loop;	  /* denet.stop() outside loops: no loop after the main chunk */
	/* Ending: once one of these is set, no callback runs, every loop
	 * ends and the Lua code still running is unwound. */
	bool failed;  /* a callback raised (reported): exit 1 */
	bool exiting; /* os.exit was called: exit exit_status */
	int exit_status;
	int interrupted; /* the signal that interrupted busy Lua code */
	bool teardown;	 /* ending what is left: no more Lua */
	bool unwind;	 /* a state of denet's own (script, -s hooks): once
			    ending, running Lua is unwound (not in a plain
			    lua5.4 host, which goes on after an error) */
	bool in_hook;
	uint64_t hook_started_ns;
	double hook_budget_ms;
	/* every process object with a live monitor, or with a launched
	 * command that runs on after monitoring ended (until reaped) */
	struct lproc **procs;
	int nprocs, cap;
};

int luaopen_denet_core(lua_State *L);

/* An option of an options table: its name and Lua type (-1: any). */
struct dn_lua_opt {
	const char *name;
	int type;
};
/* Unknown keys and wrong types raise, naming the key; with
 * allow_array, integer keys (a command's words) must be strings. */
void dn_lua_check_opts(lua_State *L, int idx, const struct dn_lua_opt *spec, bool allow_array,
		       const char *fname);
/* lua_offcpu.c: adds offcpu, symbolizer, symbolize and ebpf_probe to the
 * denet.core table at core_table_index (called by luaopen_denet_core). */
void dn_lua_open_offcpu(lua_State *L, int core_table_index);
/* Can this process load the off-CPU eBPF program? Probed once (a load and
 * close) and cached; *why (may be NULL) gets the reason when not. */
bool dn_lua_ebpf_probe(const char **why);
/* Can this process give a run a cgroup of its own (as denet.run does)?
 * Probed once (a cgroup made and removed) and cached; *why as above. */
bool dn_lua_cgroup_probe(const char **why);
/* Give the features table (and its reason table) `ebpf` and `cgroup`
 * entries that run the probes above on first use, so loading denet costs
 * no BPF load and makes no cgroup. */
void dn_lua_features_ebpf(lua_State *L, int features_idx, int reasons_idx);
/* The failure convention of every denet function: pushes nil,
 * "ENAME: what: strerror(err)", "ENAME" and returns 3 (for `return`). */
int dn_lua_push_fail(lua_State *L, int err, const char *what);
/* The same for a reason that says it all (strerror would repeat it):
 * nil, "ENAME: why", "ENAME". */
int dn_lua_push_fail_why(lua_State *L, int err, const char *why);
struct dn_lua_ctx *dn_lua_ctx(lua_State *L);
/* The state's event loop, created on first use (with SIGCHLD handling). */
struct dn_loop *dn_lua_loop(lua_State *L);
/* Install the loop of the CLI (-s hooks) before denet.core is opened. */
void dn_lua_set_loop(lua_State *L, struct dn_loop *loop);
/* Wrap the CLI's monitor (not started yet) as a process object and push
 * it; dn_lua_cli_started once the monitor has started. */
void dn_lua_push_cli_process(lua_State *L, struct dn_monitor *m);
void dn_lua_cli_started(lua_State *L);
/* Call a Lua function (below its nargs args) protected, with traceback and
 * the hook budget; on error print it, mark the context failed. 0 or -1. */
int dn_lua_call_hook(lua_State *L, int nargs);
/* Run the loop until nothing is left, denet.stop() or the state is ending
 * (dn_lua_ending); `until` (if not NULL) also ends it once *until is true.
 * A stop ends only this run. */
void dn_lua_run_loop(lua_State *L, const bool *until);
/* Must the state end (a callback failed, os.exit, an interrupt)? */
bool dn_lua_ending(const struct dn_lua_ctx *c);
/* The end of a script, whatever ended it: no more Lua; every launched
 * command still monitored is terminated (SIGTERM, SIGKILL after the
 * grace) and waited for, so its `exit` record is written; monitoring of
 * attached processes stops (they run on). */
void dn_lua_end_all(lua_State *L);
/* denet SCRIPT.lua and -s hooks: INT/TERM/HUP/QUIT get a handler that
 * hands them to the loop (the signal policy, through the state's process
 * objects) and, when Lua code keeps running instead of returning to the
 * loop, interrupts it (as lua.c does). The loop must not have them in its
 * signalfd. Released when the state closes. 0 or -errno. */
int dn_lua_own_signals(lua_State *L);
/* Replace os.exit: it ends the state as an error would (the script's
 * commands are ended and their records written), then denet exits with
 * its status (dn_lua_ctx(L)->exiting, exit_status). Marks the state as
 * denet's own (unwind). */
void dn_lua_install_exit(lua_State *L);
/* The exit status the state asks for: os.exit's; 128+N after signal N
 * interrupted it; 1 after a failure; else `ok`. */
int dn_lua_status(const struct dn_lua_ctx *c, int ok);
/* No hook left on the state's threads (before closing it). */
void dn_lua_clear_hooks(lua_State *L);
/* Print an error object (string or other) with "denet: " in front. */
void dn_lua_report_error(lua_State *L, int idx);
/* The traceback message handler for lua_pcall. */
int dn_lua_traceback(lua_State *L);

#endif
