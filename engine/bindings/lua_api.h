/*
 * lua_api.h — what the CLI needs from the Lua side, without Lua headers:
 * running a script, loading `-s` hooks onto a CLI monitor, and the
 * Lua-implemented subcommands (stats, report).
 */
#ifndef DENET_LUA_API_H
#define DENET_LUA_API_H

#include <stdbool.h>

struct dn_loop;
struct dn_monitor;
struct dn_lua;

/* `denet SCRIPT.lua ARGS...`: argv[0..argc) is the whole command line,
 * script at index script_idx. Returns denet's exit status. */
int dn_lua_run_script(int argc, char **argv, int script_idx);

/* `denet stats FILE`: the summary of a recorded file, as text or JSON
 * (to stdout), optionally also written to stats_out. Exit status. */
int dn_lua_stats(const char *file, bool json, const char *stats_out);

/* `denet report FILE [-o OUT]`: a self-contained HTML report of a recorded
 * file, written to out (NULL: FILE with .jsonl replaced by .html). */
int dn_lua_report(const char *file, const char *out);

/* `run -s FILE` / `attach -s FILE`: a Lua state bound to the CLI's loop
 * and monitor, loaded and run before dn_monitor_start (the command is
 * held, not started); the script gets the process object as `...`. NULL
 * with the error printed on failure: the monitor's hooks are the CLI's
 * again, and main exits 1 without starting the command. After an os.exit
 * in the file's body, dn_lua_hooks_ended is true at once: main exits with
 * its status, without starting the command. */
struct dn_lua *dn_lua_hooks_load(const char *file, struct dn_loop *loop, struct dn_monitor *m);
/* After dn_monitor_start (and the `env` record): the process object is
 * live; marks the hooks file made while loading are written now. */
void dn_lua_hooks_started(struct dn_lua *L);
/* Must the run end because of the hooks: one raised (reported), or the
 * file or a hook called os.exit? Then the CLI ends a command it started
 * (SIGTERM, SIGKILL after the grace) and exits dn_lua_exit_status. */
bool dn_lua_hooks_ended(const struct dn_lua *L);
/* Exit status the hooks ask for: os.exit's, else 1 (a failure). */
int dn_lua_exit_status(const struct dn_lua *L);
/* Closes the state; the monitor gets the CLI's own hooks back. NULL is a
 * no-op. */
void dn_lua_close(struct dn_lua *L);

#endif
