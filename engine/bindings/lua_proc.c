/*
 * lua_proc.c — process objects ("denet.process"): denet.run{cmd...} and
 * denet.attach(pid) create them, the CLI lends its monitor to one for -s
 * hooks; their methods (sample, on, signal, mark, wait, detach, summary;
 * watch is lua_rules.c's) and fields (pid, cmd, running).
 *
 * Ownership: a process object owns its monitor (or borrows the CLI's, for
 * -s hooks) and the fds of its `out`, `stdout` and `stderr` files; its
 * user value table holds the Lua callbacks. While its monitor runs (and,
 * for a launched command, until it is reaped), the registry holds a
 * reference and the state's list (lua_ctx.h) a pointer, so it cannot be
 * collected. Every object starts closed and has one idempotent close, for
 * __gc and the end of the state.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "lua_aux.h"
#include "lua_call.h"
#include "lua_ctx.h"
#include "lua_hooks.h"
#include "lua_loop.h"
#include "lua_proc.h"
#include "lua_records.h"
#include "lua_rules.h"
#include "monitor.h"

#define PROCESS_MT "denet.process"
/* in a process's callback table: marks made before its monitor started */
#define PENDING_MARKS "pending_marks"

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* A launched command that runs on after its monitoring ended (p:detach,
 * `duration`) is still denet's child: its object stays in the list (and
 * uncollectable) until it exits and is reaped here, so that the orphan
 * reaper neither reaps it for another monitor nor adopts it into one. */
static bool unreaped(const struct lproc *p)
{
	return !p->borrowed && !p->reaped && dn_monitor_launched(p->mon) &&
	       !dn_monitor_running(p->mon) && !dn_monitor_command_done(p->mon) &&
	       dn_monitor_pid(p->mon) > 0;
}

static void release_ref(struct lproc *p)
{
	if (p->ref_self != LUA_NOREF) {
		int ref = p->ref_self;
		p->ref_self = LUA_NOREF;
		luaL_unref(p->L, LUA_REGISTRYINDEX, ref);
	}
}

void dn_lua_procs_reap(struct dn_lua_ctx *c)
{
	for (int i = c->nprocs - 1; i >= 0; i--) {
		struct lproc *p = c->procs[i];
		if (!unreaped(p))
			continue;
		pid_t pid = dn_monitor_pid(p->mon);
		pid_t r = waitpid(pid, NULL, WNOHANG);
		if (r == pid || (r < 0 && errno == ECHILD)) {
			p->reaped = true;
			dn_lua_ctx_remove_proc(c, p);
			release_ref(p);
		}
	}
}

/* ---- the object ---------------------------------------------------------- */

/* The closed state: no fd, no monitor, no hooks, no registry reference.
 * Set before anything can fail, so every path may close it. */
static void lproc_init(struct lproc *p, lua_State *L)
{
	memset(p, 0, sizeof *p);
	p->ctx = dn_lua_ctx(L);
	p->L = p->ctx->L;
	p->ref_self = LUA_NOREF;
	p->out_fd = p->stdout_fd = p->stderr_fd = -1;
	dn_rules_init(&p->rules);
}

/* The one close path (__gc, and the end of a state): idempotent. A command
 * still running when its object goes (only when the state closes: a
 * running monitor is held by the registry) is killed, not orphaned. A
 * borrowed monitor (the CLI's, for -s hooks) gets its own hooks back:
 * nothing may call into this state once it is gone. */
static void lproc_close(struct lproc *p)
{
	if (p->borrowed) {
		if (p->mon && dn_monitor_get_hooks(p->mon)->ctx == p)
			dn_monitor_set_hooks(p->mon, &p->chained);
		p->borrowed = false;
	} else if (p->own) {
		if (dn_monitor_running(p->own) && dn_monitor_launched(p->own)) {
			dn_monitor_signal_tree(p->own, SIGKILL);
			waitpid(dn_monitor_pid(p->own), NULL, 0);
		}
		dn_monitor_destroy(p->own);
		p->own = NULL;
	}
	p->mon = NULL;
	if (p->ctx)
		dn_lua_ctx_remove_proc(p->ctx, p);
	dn_rules_free(&p->rules);
	close_fd(&p->out_fd);
	close_fd(&p->stdout_fd);
	close_fd(&p->stderr_fd);
}

static struct lproc *new_lproc(lua_State *L)
{
	struct lproc *p = lua_newuserdatauv(L, sizeof *p, 1);
	lproc_init(p, L);
	luaL_setmetatable(L, PROCESS_MT);
	lua_newtable(L); /* callbacks by event */
	lua_setiuservalue(L, -2, 1);
	return p;
}

/* run and attach: a monitor of the object's own (the CLI lends its own
 * for -s hooks instead). Raises when out of memory; the object, closed
 * until then, is collected. */
static void own_monitor(lua_State *L, struct lproc *p)
{
	p->own = dn_monitor_new();
	if (!p->own)
		luaL_error(L, "denet: out of memory");
	p->mon = p->own;
}

/* A closed object (collected, or its monitor could not be made) has no
 * monitor: only resurrected by a finalizer could Lua still reach it. */
struct lproc *dn_lua_check_proc(lua_State *L, int idx)
{
	struct lproc *p = luaL_checkudata(L, idx, PROCESS_MT);
	if (!p->mon)
		luaL_error(L, "denet.process: the object is closed");
	return p;
}

static int proc_gc(lua_State *L)
{
	lproc_close(luaL_checkudata(L, 1, PROCESS_MT));
	return 0;
}

void dn_lua_proc_monitor_ended(struct lproc *p)
{
	close_fd(&p->out_fd);
	if (unreaped(p))
		return; /* still denet's child: kept until reaped */
	dn_lua_ctx_remove_proc(p->ctx, p);
	release_ref(p); /* collectable once the script drops it */
}

static const struct dn_lua_opt run_opts[] = {
	{"interval", LUA_TNUMBER},
	{"max_interval", LUA_TNUMBER},
	{"children", LUA_TBOOLEAN},
	{"since_process_start", LUA_TBOOLEAN},
	{"stdout", LUA_TSTRING},
	{"stderr", LUA_TSTRING},
	{"out", LUA_TSTRING},
	{"timeout", LUA_TNUMBER},
	{"duration", LUA_TNUMBER},
	{"wait_all", LUA_TBOOLEAN},
	{"syscalls", LUA_TBOOLEAN},
	{"counters", LUA_TBOOLEAN},
	{NULL, 0},
};

static void read_monitor_opts(lua_State *L, int idx, struct dn_monitor_opts *o, const char *fname)
{
	lua_Number iv = dn_lua_opt_num(L, idx, "interval", 100);
	lua_Number mx = dn_lua_opt_num(L, idx, "max_interval", iv > 1000 ? iv : 1000);
	if (!(iv >= 1 && iv <= 86400000))
		luaL_error(L, "%s: interval must be between 1 and 86400000 ms", fname);
	if (!(mx >= iv))
		luaL_error(L, "%s: max_interval must be >= interval", fname);
	o->interval_ms = (unsigned)iv;
	o->max_interval_ms = (unsigned)mx;
	o->children = dn_lua_opt_bool(L, idx, "children", true);
	o->since_process_start = dn_lua_opt_bool(L, idx, "since_process_start", false);
	o->timeout_secs = dn_lua_opt_num(L, idx, "timeout", 0);
	o->duration_secs = dn_lua_opt_num(L, idx, "duration", 0);
	o->wait_all = dn_lua_opt_bool(L, idx, "wait_all", false);
	/* perf counters: denet.run only (not in attach_opts, so an attach
	 * asking for them raises, as an unknown option) */
	o->counters = dn_lua_opt_bool(L, idx, "counters", false);
	/* eBPF syscall tracking of the run (no off-CPU stacks: denet.offcpu
	 * has those); when eBPF is unavailable the run goes on without */
	if (dn_lua_opt_bool(L, idx, "syscalls", false)) {
		o->offcpu = true;
		o->offcpu_opts = (struct dn_profile_opts){.no_offcpu = true, .syscalls = true};
	}
	if (o->timeout_secs < 0 || o->duration_secs < 0)
		luaL_error(L, "%s: timeout and duration must be >= 0", fname);
}

static int open_out(lua_State *L, const char *path, int *fd, bool append)
{
	*fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
	if (*fd < 0) {
		char what[512];
		snprintf(what, sizeof what, "cannot write '%s'", path);
		return dn_lua_push_fail(L, errno, what);
	}
	return 0;
}

/* Keep a running process object alive and known to the state (signals,
 * teardown). Out of memory raises; the object's close then ends it. */
static void hold(lua_State *L, struct lproc *p, int idx)
{
	if (dn_lua_ctx_add_proc(p->ctx, p) < 0)
		luaL_error(L, "denet: out of memory");
	lua_pushvalue(L, idx);
	p->ref_self = luaL_ref(L, LUA_REGISTRYINDEX);
}

static int l_run(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	dn_lua_check_opts(L, 1, run_opts, true, "denet.run");
	int argc = (int)lua_rawlen(L, 1);
	if (argc < 1)
		luaL_argerror(L, 1, "the command is missing: denet.run{ \"cmd\", \"arg\"... }");
	struct dn_monitor_opts o = {0};
	read_monitor_opts(L, 1, &o, "denet.run");
	struct dn_loop *loop = dn_lua_loop(L);
	struct lproc *p = new_lproc(L);
	int pidx = lua_gettop(L);
	own_monitor(L, p);
	const char *out = dn_lua_opt_str(L, 1, "out"), *so = dn_lua_opt_str(L, 1, "stdout"),
		   *se = dn_lua_opt_str(L, 1, "stderr");
	if (out && open_out(L, out, &p->out_fd, false))
		return 3;
	/* stdout = "stderr": the command's stdout joins denet's stderr, for
	 * scripts whose own stdout is data (CSV, a report) */
	bool so_err = so && strcmp(so, "stderr") == 0;
	if (so && !so_err && open_out(L, so, &p->stdout_fd, false))
		return 3;
	if (se && open_out(L, se, &p->stderr_fd, false))
		return 3;
	char **argv = lua_newuserdatauv(L, ((size_t)argc + 1) * sizeof *argv, 0);
	for (int i = 0; i < argc; i++) {
		lua_rawgeti(L, 1, i + 1);
		argv[i] = (char *)lua_tostring(L, -1);
		lua_pop(L, 1); /* the strings stay in the table */
	}
	argv[argc] = NULL;
	struct dn_launch_opts lo = {
		.child_mask = dn_loop_saved_sigmask(loop),
		.stdout_fd = so_err ? STDERR_FILENO : p->stdout_fd,
		.stderr_fd = p->stderr_fd,
	};
	int r = dn_monitor_launch(p->own, loop, &o, argv, argc, &lo);
	if (r < 0)
		return dn_lua_push_fail(L, -r, "cannot start the command");
	if (p->out_fd >= 0)
		dn_monitor_add_output(p->own, p->out_fd);
	dn_lua_install_hooks(p);
	r = dn_monitor_start(p->own);
	if (r < 0) {
		char what[512];
		snprintf(what, sizeof what, "cannot run '%s'", argv[0]);
		return dn_lua_push_fail(L, -r, what);
	}
	p->started = true;
	close_fd(&p->stdout_fd);
	close_fd(&p->stderr_fd);
	hold(L, p, pidx);
	lua_settop(L, pidx);
	return 1;
}

static const struct dn_lua_opt attach_opts[] = {
	{"interval", LUA_TNUMBER},
	{"max_interval", LUA_TNUMBER},
	{"children", LUA_TBOOLEAN},
	{"since_process_start", LUA_TBOOLEAN},
	{"out", LUA_TSTRING},
	{"duration", LUA_TNUMBER},
	{"wait_all", LUA_TBOOLEAN},
	{"syscalls", LUA_TBOOLEAN},
	{NULL, 0},
};

static int l_attach(lua_State *L)
{
	lua_Integer pid = luaL_checkinteger(L, 1);
	luaL_argcheck(L, pid > 0 && pid <= 0x7fffffff, 1, "a PID must be a positive integer");
	if (lua_isnoneornil(L, 2)) {
		lua_settop(L, 1);
		lua_newtable(L);
	}
	luaL_checktype(L, 2, LUA_TTABLE);
	dn_lua_check_opts(L, 2, attach_opts, false, "denet.attach");
	struct dn_monitor_opts o = {0};
	read_monitor_opts(L, 2, &o, "denet.attach");
	struct dn_loop *loop = dn_lua_loop(L);
	struct lproc *p = new_lproc(L);
	int pidx = lua_gettop(L);
	own_monitor(L, p);
	const char *out = dn_lua_opt_str(L, 2, "out");
	if (out && open_out(L, out, &p->out_fd, false))
		return 3;
	int r = dn_monitor_attach(p->own, loop, &o, (pid_t)pid);
	if (r < 0) {
		char what[64];
		snprintf(what, sizeof what, "cannot attach to PID %d", (int)pid);
		return dn_lua_push_fail(L, -r, what);
	}
	if (p->out_fd >= 0)
		dn_monitor_add_output(p->own, p->out_fd);
	dn_lua_install_hooks(p);
	dn_monitor_start(p->own);
	p->started = true;
	hold(L, p, pidx);
	lua_settop(L, pidx);
	return 1;
}

void dn_lua_push_cli_process(lua_State *L, struct dn_monitor *m)
{
	struct lproc *p = new_lproc(L);
	p->mon = m;
	p->borrowed = true;
	dn_lua_install_hooks(p);
	hold(L, p, lua_gettop(L));
}

void dn_lua_cli_started(lua_State *L)
{
	struct dn_lua_ctx *c = dn_lua_ctx(L);
	for (int i = 0; i < c->nprocs; i++) {
		struct lproc *p = c->procs[i];
		if (!p->borrowed || p->started || p->ref_self == LUA_NOREF)
			continue;
		p->started = true;
		lua_rawgeti(L, LUA_REGISTRYINDEX, p->ref_self);
		lua_getiuservalue(L, -1, 1);
		if (lua_getfield(L, -1, PENDING_MARKS) == LUA_TTABLE) {
			lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
			for (lua_Integer k = 1; k <= n; k++) {
				lua_rawgeti(L, -1, k);
				dn_monitor_mark(p->mon, lua_tostring(L, -1));
				lua_pop(L, 1);
			}
		}
		lua_pop(L, 1);
		lua_pushnil(L);
		lua_setfield(L, -2, PENDING_MARKS);
		lua_pop(L, 2);
	}
}

static int proc_index(lua_State *L)
{
	struct lproc *p = dn_lua_check_proc(L, 1);
	const char *k = luaL_checkstring(L, 2);
	if (strcmp(k, "pid") == 0) {
		lua_pushinteger(L, dn_monitor_pid(p->mon));
		return 1;
	}
	if (strcmp(k, "cmd") == 0) {
		int argc;
		char *const *argv = dn_monitor_argv(p->mon, &argc);
		lua_createtable(L, argc, 0);
		for (int i = 0; i < argc; i++) {
			lua_pushstring(L, argv[i]);
			lua_rawseti(L, -2, i + 1);
		}
		return 1;
	}
	if (strcmp(k, "running") == 0) {
		lua_pushboolean(L, dn_monitor_running(p->mon));
		return 1;
	}
	return dn_lua_index_method(L);
}

static int proc_sample(lua_State *L)
{
	struct lproc *p = dn_lua_check_proc(L, 1);
	if (!dn_monitor_running(p->mon) || !p->started) {
		lua_pushnil(L);
		return 1;
	}
	/* sample callbacks run on this thread, inside this call */
	lua_State *saved = p->ctx->cur;
	p->ctx->cur = L;
	int r = dn_monitor_sample_now(p->mon);
	p->ctx->cur = saved;
	if (r < 0) {
		lua_pushnil(L);
		return 1;
	}
	dn_lua_push_record(L, p->mon);
	return 1;
}

static int proc_on(lua_State *L)
{
	struct lproc *p = dn_lua_check_proc(L, 1);
	static const char *const events[] = {"sample", "exit", "spawn", "reap", NULL};
	int ev = luaL_checkoption(L, 2, NULL, events);
	luaL_checktype(L, 3, LUA_TFUNCTION);
	(void)p;
	lua_getiuservalue(L, 1, 1);
	lua_getfield(L, -1, events[ev]);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_pushvalue(L, -1);
		lua_setfield(L, -3, events[ev]);
	}
	lua_pushvalue(L, 3);
	lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	lua_settop(L, 1);
	return 1; /* chainable */
}

static int parse_signal(lua_State *L, int idx)
{
	if (lua_type(L, idx) == LUA_TNUMBER) {
		lua_Integer s = lua_tointeger(L, idx);
		luaL_argcheck(L, s > 0 && s < NSIG, idx, "not a signal number");
		return (int)s;
	}
	const char *name = luaL_checkstring(L, idx);
	if (strncmp(name, "SIG", 3) == 0)
		name += 3;
	static const struct {
		const char *n;
		int s;
	} sigs[] = {{"TERM", SIGTERM}, {"KILL", SIGKILL}, {"STOP", SIGSTOP}, {"CONT", SIGCONT},
		    {"INT", SIGINT},   {"HUP", SIGHUP},	  {"QUIT", SIGQUIT}, {"USR1", SIGUSR1},
		    {"USR2", SIGUSR2}, {"TSTP", SIGTSTP}, {"ALRM", SIGALRM}, {"WINCH", SIGWINCH}};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		if (strcmp(sigs[i].n, name) == 0)
			return sigs[i].s;
	return luaL_argerror(L, idx, lua_pushfstring(L, "unknown signal '%s'", name));
}

static int proc_signal(lua_State *L)
{
	struct lproc *p = dn_lua_check_proc(L, 1);
	int sig = parse_signal(L, 2);
	if (!dn_monitor_running(p->mon))
		return dn_lua_push_fail_why(L, ESRCH, "the process has ended");
	int n = dn_monitor_signal_tree(p->mon, sig);
	if (n == 0)
		return dn_lua_push_fail(L, ESRCH, "no process of the tree could be signalled");
	lua_pushinteger(L, n);
	return 1;
}

static int proc_mark(lua_State *L)
{
	struct lproc *p = dn_lua_check_proc(L, 1);
	const char *label = luaL_checkstring(L, 2);
	if (p->borrowed && !p->started) {
		/* a -s hooks file loading: the command has not started, and
		 * `metadata` must stay the first line; written at the start */
		lua_getiuservalue(L, 1, 1);
		if (lua_getfield(L, -1, PENDING_MARKS) != LUA_TTABLE) {
			lua_pop(L, 1);
			lua_newtable(L);
			lua_pushvalue(L, -1);
			lua_setfield(L, -3, PENDING_MARKS);
		}
		lua_pushvalue(L, 2);
		lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
		lua_settop(L, 1);
		return 1;
	}
	if (dn_monitor_mark(p->mon, label) < 0)
		return dn_lua_push_fail_why(L, ESRCH,
					    "the process has ended: no record can follow its exit");
	lua_settop(L, 1);
	return 1;
}

static int proc_wait(lua_State *L)
{
	struct lproc *p = dn_lua_check_proc(L, 1);
	if (p->borrowed)
		return luaL_error(
			L, "p:wait() cannot be used in a -s hooks script (denet runs the loop)");
	dn_lua_run_loop(L, &p->ended);
	if (dn_lua_ending(p->ctx))
		return dn_lua_raise_abort(L);
	struct dn_exit_info now;
	const struct dn_exit_info *e = &p->totals;
	if (!p->ended) { /* denet.stop(): this wait ends, the command runs on */
		dn_monitor_sampled_totals(p->mon, &now);
		e = &now;
	}
	if (e->known)
		lua_pushinteger(L, e->exit_code);
	else
		lua_pushnil(L);
	dn_lua_push_totals(L, e);
	return 2;
}

/* Monitoring ends, the command runs on: a final `exit` record with
 * "detached": true; exit callbacks run with (nil, totals). Returns the
 * totals, or nil, msg, "ESRCH" when it is not monitored any more. */
static int proc_detach(lua_State *L)
{
	struct lproc *p = dn_lua_check_proc(L, 1);
	if (!dn_monitor_running(p->mon) || !p->started)
		return dn_lua_push_fail_why(L, ESRCH,
					    "not monitored: the process has ended or was detached");
	int r = dn_monitor_detach(p->mon);
	if (r < 0)
		return dn_lua_push_fail(L, -r, "cannot detach");
	dn_lua_push_totals(L, &p->totals);
	return 1;
}

static int proc_summary(lua_State *L)
{
	struct lproc *p = dn_lua_check_proc(L, 1);
	dn_lua_push_summary(L, dn_monitor_summary(p->mon));
	return 1;
}

static int proc_tostring(lua_State *L)
{
	struct lproc *p = dn_lua_check_proc(L, 1);
	lua_pushfstring(L, "denet.process(pid %d%s)", (int)dn_monitor_pid(p->mon),
			dn_monitor_running(p->mon) ? "" : ", ended");
	return 1;
}

static const luaL_Reg proc_methods[] = {
	{"sample", proc_sample},   {"on", proc_on},	    {"watch", dn_lua_proc_watch},
	{"signal", proc_signal},   {"mark", proc_mark},	    {"wait", proc_wait},
	{"summary", proc_summary}, {"detach", proc_detach}, {NULL, NULL},
};

void dn_lua_open_proc(lua_State *L, int core_table_index)
{
	static const luaL_Reg funcs[] = {
		{"run", l_run},
		{"attach", l_attach},
		{NULL, NULL},
	};
	static const struct dn_lua_class cls = {
		.name = PROCESS_MT,
		.methods = proc_methods,
		.index = proc_index,
		.gc = proc_gc,
		.tostring = proc_tostring,
	};
	dn_lua_new_class(L, &cls);
	dn_lua_add_funcs(L, core_table_index, funcs);
}
