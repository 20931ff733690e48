/*
 * lua_core.c — the `denet.core` Lua module: process objects (run, attach,
 * sample, on, watch, signal, mark, wait, detach, summary), timers, the
 * loop, and the life of a state that runs a script: its signals, os.exit
 * and the teardown that ends what a script leaves. The public `denet`
 * table (lua/denet/init.lua) wraps it.
 *
 * Ownership: a process object (userdata "denet.process") owns its monitor
 * (or borrows the CLI's, for -s hooks) and the fd of its `out` file; its
 * user value table holds the Lua callbacks. While its monitor runs (and,
 * for a launched command, until it is reaped), the registry holds a
 * reference so it cannot be collected. Every object starts closed and has
 * one idempotent close for __gc, __close and the end of the state. Rules
 * (p:watch) are evaluated in C on every sample; Lua runs only when one
 * fires or clears. Every call into Lua goes through dn_lua_call_hook.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "clock.h"
#include "json.h"
#include "lua_core.h"
#include "monitor.h"
#include "rules.h"
#include "version.h"

#define PROCESS_MT "denet.process"
#define TIMER_MT   "denet.timer"
#define CTX_KEY	   "denet.ctx"
/* in a process's callback table: marks made before its monitor started */
#define PENDING_MARKS "pending_marks"

struct lproc {
	struct dn_monitor own;
	struct dn_monitor *mon;		 /* &own, or the CLI's */
	struct dn_monitor_hooks chained; /* the CLI's hooks, called first */
	lua_State *L;
	struct dn_lua_ctx *ctx;
	int ref_self; /* LUA_NOREF unless the monitor runs */
	int out_fd, stdout_fd, stderr_fd;
	struct dn_rules rules;
	struct dn_exit_info totals; /* once ended: what p:wait() returns */
	bool borrowed, started, ended, exit_called;
	bool reaped; /* a command that ran on after monitoring, reaped */
};

/* ---- context ------------------------------------------------------------ */

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void release_signals(struct dn_lua_ctx *c);

static int ctx_gc(lua_State *L)
{
	struct dn_lua_ctx *c = lua_touserdata(L, 1);
	release_signals(c);
	free(c->procs);
	c->procs = NULL;
	if (c->own_loop && c->loop)
		dn_loop_free(c->loop);
	c->loop = NULL;
	return 0;
}

struct dn_lua_ctx *dn_lua_ctx(lua_State *L)
{
	lua_getfield(L, LUA_REGISTRYINDEX, CTX_KEY);
	struct dn_lua_ctx *c = lua_touserdata(L, -1);
	lua_pop(L, 1);
	if (c)
		return c;
	c = lua_newuserdatauv(L, sizeof *c, 0);
	memset(c, 0, sizeof *c);
	lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
	c->L = lua_tothread(L, -1);
	lua_pop(L, 1);
	c->hook_budget_ms = 1000;
	lua_newtable(L);
	lua_pushcfunction(L, ctx_gc);
	lua_setfield(L, -2, "__gc");
	lua_setmetatable(L, -2);
	lua_setfield(L, LUA_REGISTRYINDEX, CTX_KEY);
	return c;
}

void dn_lua_set_loop(lua_State *L, struct dn_loop *loop)
{
	struct dn_lua_ctx *c = dn_lua_ctx(L);
	c->loop = loop;
	c->own_loop = false;
}

static void on_loop_signal(struct dn_loop *loop, const struct signalfd_siginfo *si, void *ctx);
static int watch_signal_pipe(struct dn_lua_ctx *c);

struct dn_loop *dn_lua_loop(lua_State *L)
{
	struct dn_lua_ctx *c = dn_lua_ctx(L);
	if (!c->loop) {
		/* INT/TERM/HUP/QUIT of a script come through the handler of
		 * dn_lua_own_signals (so that busy Lua code can be stopped);
		 * in a plain lua5.4 with denet.core they are the host's. */
		sigset_t sigs;
		sigemptyset(&sigs);
		sigaddset(&sigs, SIGCHLD);
		c->loop = dn_loop_new(&sigs, on_loop_signal, c);
		if (!c->loop)
			luaL_error(L, "denet: cannot create the event loop: %s", strerror(errno));
		c->own_loop = true;
		if (c->own_signals && watch_signal_pipe(c) < 0)
			luaL_error(L, "denet: cannot watch signals: %s", strerror(errno));
		dn_launcher_become_subreaper();
	}
	return c->loop;
}

static int ctx_add_proc(struct dn_lua_ctx *c, struct lproc *p)
{
	if (c->nprocs == c->cap) {
		int ncap = c->cap ? c->cap * 2 : 8;
		struct lproc **np = realloc(c->procs, (size_t)ncap * sizeof *np);
		if (!np)
			return -ENOMEM;
		c->procs = np;
		c->cap = ncap;
	}
	c->procs[c->nprocs++] = p;
	return 0;
}

static void ctx_remove_proc(struct dn_lua_ctx *c, struct lproc *p)
{
	for (int i = 0; i < c->nprocs; i++)
		if (c->procs[i] == p) {
			c->procs[i] = c->procs[--c->nprocs];
			return;
		}
}

/* A launched command that runs on after its monitoring ended (p:detach,
 * `duration`) is still denet's child: its object stays in the list (and
 * uncollectable) until it exits and is reaped here, so that the orphan
 * reaper neither reaps it for another monitor nor adopts it into one. */
static bool unreaped(const struct lproc *p)
{
	return !p->borrowed && !p->reaped && p->mon->launched && !p->mon->running &&
	       !p->mon->command_done && p->mon->pid > 0;
}

static void release_ref(struct lproc *p)
{
	if (p->ref_self != LUA_NOREF) {
		int ref = p->ref_self;
		p->ref_self = LUA_NOREF;
		luaL_unref(p->L, LUA_REGISTRYINDEX, ref);
	}
}

static void reap_unmonitored(struct dn_lua_ctx *c)
{
	for (int i = c->nprocs - 1; i >= 0; i--) {
		struct lproc *p = c->procs[i];
		if (!unreaped(p))
			continue;
		pid_t r = waitpid(p->mon->pid, NULL, WNOHANG);
		if (r == p->mon->pid || (r < 0 && errno == ECHILD)) {
			p->reaped = true;
			ctx_remove_proc(c, p);
			release_ref(p);
		}
	}
}

static void on_loop_signal(struct dn_loop *loop, const struct signalfd_siginfo *si, void *ctx)
{
	(void)loop;
	struct dn_lua_ctx *c = ctx;
	int sig = (int)si->ssi_signo;
	if (sig == SIGCHLD) {
		reap_unmonitored(c);
		struct dn_monitor *mons[64];
		int n = 0;
		for (int i = 0; i < c->nprocs && n < 64; i++)
			mons[n++] = c->procs[i]->mon;
		dn_monitor_reap_orphans(mons, n);
		return;
	}
	bool delivered = false;
	/* backwards: a monitor that stops leaves the list (swapped out) */
	for (int i = c->nprocs - 1; i >= 0; i--) {
		struct dn_monitor *m = c->procs[i]->mon;
		delivered |= m->running && m->launched && !m->command_done;
		dn_monitor_on_signal(m, si);
	}
	/* nothing launched to end: the signal ends the script's loop */
	if (!delivered)
		c->stop = true;
}

bool dn_lua_ending(const struct dn_lua_ctx *c)
{
	return c->failed || c->exiting || c->interrupted;
}

/* May Lua callbacks still run? Not once the state is ending, nor while
 * it ends what is left. */
static bool lua_may_run(const struct dn_lua_ctx *c)
{
	return !dn_lua_ending(c) && !c->teardown;
}

int dn_lua_status(const struct dn_lua_ctx *c, int ok)
{
	if (c->exiting)
		return c->exit_status;
	if (c->interrupted)
		return 128 + c->interrupted;
	return c->failed ? 1 : ok;
}

/* The thread callbacks run on: the one that entered C and runs the loop
 * (or takes a sample) now; else (the CLI's loop, for -s hooks) the main
 * thread. Never the thread that created an object: a coroutine may be
 * suspended or dead by then. */
static lua_State *cb_thread(const struct dn_lua_ctx *c)
{
	return c->cur ? c->cur : c->L;
}

/* ---- signals of a script ------------------------------------------------- */

/* One state per process owns the signals (denet SCRIPT.lua), so the
 * handler's view of it is static. The handler only records the signal,
 * writes it to a pipe the loop watches (the loop applies the signal
 * policy, as for any signal) and sets the Lua hook, the only Lua call a
 * handler may make. If Lua code is still running SIG_GRACE_NS later
 * instead of returning to the loop, the hook interrupts it. A signal that
 * finds the previous one untaken after SIG_STUCK_NS (denet stuck in a
 * system call: no Lua ran to see the hook) ends denet by its default
 * action, as a second ^C ends lua.c; signals closer together (`timeout`
 * sends one to denet and one to its process group) are one request. */
#define SIG_GRACE_NS 100000000ull
#define SIG_STUCK_NS 1000000000ull

struct pending_sig {
	int signo, code;
	pid_t pid;
};

static struct {
	struct dn_lua_ctx *c; /* NULL: no state owns the signals */
	int pipe[2];
	volatile sig_atomic_t raised, taken; /* counts: pending while unequal */
	volatile sig_atomic_t first;	     /* the oldest pending signal */
	volatile uint64_t first_ns;	     /* when it came */
} sigst = {.pipe = {-1, -1}};

static const int owned_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

static void watch_hook(lua_State *L, lua_Debug *ar);

static void on_async_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	int saved = errno;
	uint64_t now = dn_mono_ns();
	if (sigst.raised != sigst.taken && now - sigst.first_ns >= SIG_STUCK_NS) {
		/* Neither the loop nor the hook took the previous one: denet
		 * is stuck in a system call. This one ends it. */
		signal(sig, SIG_DFL);
		raise(sig);
		errno = saved;
		return;
	}
	struct pending_sig ps = {sig, si ? si->si_code : 0, si ? si->si_pid : 0};
	if (write(sigst.pipe[1], &ps, sizeof ps) == (ssize_t)sizeof ps) {
		if (sigst.raised == sigst.taken) {
			sigst.first = sig;
			sigst.first_ns = now;
		}
		sigst.raised++;
	}
	struct dn_lua_ctx *c = sigst.c;
	if (c) {
		lua_sethook(c->L, watch_hook, LUA_MASKCOUNT, 1000);
		lua_State *cur = c->cur;
		if (cur && cur != c->L)
			lua_sethook(cur, watch_hook, LUA_MASKCOUNT, 1000);
	}
	errno = saved;
}

static void install_handlers(void)
{
	for (size_t i = 0; i < sizeof owned_signals / sizeof owned_signals[0]; i++) {
		struct sigaction sa, old;
		if (sigaction(owned_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN &&
		    !(old.sa_flags & SA_SIGINFO))
			continue; /* ignored (nohup, a background job): stays so */
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = on_async_signal;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaction(owned_signals[i], &sa, NULL);
	}
}

/* Has a signal waited for the loop longer than the grace? */
static bool signal_overdue(void)
{
	return sigst.c && sigst.raised != sigst.taken &&
	       dn_mono_ns() - sigst.first_ns >= SIG_GRACE_NS;
}

static bool signal_pending(void)
{
	return sigst.c && sigst.raised != sigst.taken;
}

static void set_watch(lua_State *L, struct dn_lua_ctx *c);

/* The loop's side of the pipe: each signal gets the policy, as if it had
 * come through the loop's signalfd. */
static void take_signals(struct dn_lua_ctx *c)
{
	struct pending_sig ps;
	bool any = false;
	while (sigst.pipe[0] >= 0 && read(sigst.pipe[0], &ps, sizeof ps) == (ssize_t)sizeof ps) {
		sigst.taken++;
		any = true;
		struct signalfd_siginfo si;
		memset(&si, 0, sizeof si);
		si.ssi_signo = (uint32_t)ps.signo;
		si.ssi_code = ps.code;
		si.ssi_pid = (uint32_t)ps.pid;
		on_loop_signal(c->loop, &si, c);
	}
	if (!any)
		return;
	set_watch(c->L, c);
	if (c->cur && c->cur != c->L)
		set_watch(c->cur, c);
}

static void on_signal_pipe(struct dn_loop *loop, int fd, uint32_t events, void *ctx)
{
	(void)loop;
	(void)fd;
	(void)events;
	take_signals(ctx);
}

static int watch_signal_pipe(struct dn_lua_ctx *c)
{
	if (sigst.c != c || sigst.pipe[0] < 0)
		return 0;
	return dn_loop_add_fd(c->loop, sigst.pipe[0], EPOLLIN, on_signal_pipe, c);
}

int dn_lua_own_signals(lua_State *L)
{
	struct dn_lua_ctx *c = dn_lua_ctx(L);
	if (sigst.c)
		return -EBUSY;
	if (pipe2(sigst.pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	c->own_signals = true;
	sigst.c = c;
	sigst.raised = sigst.taken = 0;
	install_handlers();
	/* inherited blocked (e.g. from a denet that runs this one): they
	 * must arrive, and commands must start with them unblocked */
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof owned_signals / sizeof owned_signals[0]; i++)
		sigaddset(&set, owned_signals[i]);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	/* a loop that exists already (the CLI's, for -s hooks) */
	if (c->loop && watch_signal_pipe(c) < 0) {
		int e = errno;
		release_signals(c);
		return -e;
	}
	return 0;
}

/* The state is closing: signals get their default actions back. */
static void release_signals(struct dn_lua_ctx *c)
{
	if (sigst.c != c)
		return;
	for (size_t i = 0; i < sizeof owned_signals / sizeof owned_signals[0]; i++) {
		struct sigaction old;
		if (sigaction(owned_signals[i], NULL, &old) == 0 &&
		    old.sa_sigaction == on_async_signal)
			signal(owned_signals[i], SIG_DFL);
	}
	sigst.c = NULL;
	if (c->loop && sigst.pipe[0] >= 0)
		dn_loop_del_fd(c->loop, sigst.pipe[0]); /* a CLI's loop lives on */
	for (int i = 0; i < 2; i++) {
		if (sigst.pipe[i] >= 0)
			close(sigst.pipe[i]);
		sigst.pipe[i] = -1;
	}
}

/* ---- calling Lua -------------------------------------------------------- */

/* Raised to unwind Lua code once the state is ending (a callback failed,
 * os.exit, an interrupt); what ended it was reported when it happened.
 * The hook raises it again at every instruction, so a pcall in the script
 * cannot swallow it. */
static char abort_sentinel;

static int raise_abort(lua_State *L)
{
	lua_pushlightuserdata(L, &abort_sentinel);
	return lua_error(L);
}

int dn_lua_traceback(lua_State *L)
{
	if (lua_touserdata(L, 1) == &abort_sentinel)
		return 1;
	const char *msg = lua_tostring(L, 1);
	if (!msg) {
		if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
			return 1;
		msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
	}
	luaL_traceback(L, L, msg, 1);
	return 1;
}

void dn_lua_report_error(lua_State *L, int idx)
{
	if (lua_touserdata(L, idx) == &abort_sentinel)
		return; /* already reported */
	const char *msg = lua_tostring(L, idx);
	fprintf(stderr, "denet: %s\n", msg ? msg : "(error object is not a string)");
	fflush(stderr);
}

/* "FILE:LINE: " of the running Lua function, or "" */
static void push_where(lua_State *L)
{
	lua_Debug where;
	if (lua_getstack(L, 0, &where) && lua_getinfo(L, "Sl", &where) && where.currentline > 0)
		lua_pushfstring(L, "%s:%d: ", where.short_src, where.currentline);
	else
		lua_pushliteral(L, "");
}

/* The one hook of a state: the budget of a callback, and the end of Lua
 * code once the state is ending or a signal was not taken in time. */
static void watch_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	struct dn_lua_ctx *c = dn_lua_ctx(L);
	if (c->teardown)
		return;
	if (!dn_lua_ending(c) && signal_overdue()) {
		c->interrupted = sigst.first;
		const char *name = sigabbrev_np(sigst.first);
		push_where(L);
		lua_pushfstring(L, "interrupted by SIG%s", name ? name : "?");
		lua_concat(L, 2);
		luaL_traceback(L, L, lua_tostring(L, -1), 0);
		dn_lua_report_error(L, -1);
		lua_pop(L, 2);
	}
	if (dn_lua_ending(c) && c->unwind) {
		lua_sethook(L, watch_hook, LUA_MASKCOUNT, 1);
		raise_abort(L);
	}
	if (!c->in_hook || c->hook_budget_ms <= 0)
		return;
	double ms = (double)(dn_mono_ns() - c->hook_started_ns) / 1e6;
	if (ms > c->hook_budget_ms) {
		/* where the hook was when the budget ran out */
		push_where(L);
		lua_pushfstring(L, "hook ran for more than %d ms (denet.hook_budget_ms)",
				(int)c->hook_budget_ms);
		lua_concat(L, 2);
		lua_error(L);
	}
}

/* The hook a thread needs now: every instruction while the state is
 * ending (to unwind), every 1000 while a signal waits for the loop, every
 * 10000 inside a callback with a budget; else none. Cleared first, so a
 * signal that comes meanwhile sets it again. */
static void set_watch(lua_State *L, struct dn_lua_ctx *c)
{
	lua_sethook(L, NULL, 0, 0);
	int count = 0;
	if (c->teardown)
		count = 0;
	else if (dn_lua_ending(c) && c->unwind)
		count = 1;
	else if (signal_pending())
		count = 1000;
	else if (c->in_hook && c->hook_budget_ms > 0)
		count = 10000;
	if (count)
		lua_sethook(L, watch_hook, LUA_MASKCOUNT, count);
}

/* After the state started ending: the threads that may run Lua unwind. */
static void watch_all(lua_State *L, struct dn_lua_ctx *c)
{
	set_watch(c->L, c);
	if (c->cur && c->cur != c->L)
		set_watch(c->cur, c);
	if (L != c->L && L != c->cur)
		set_watch(L, c);
}

void dn_lua_clear_hooks(lua_State *L)
{
	struct dn_lua_ctx *c = dn_lua_ctx(L);
	lua_sethook(c->L, NULL, 0, 0);
	if (c->cur)
		lua_sethook(c->cur, NULL, 0, 0);
	lua_sethook(L, NULL, 0, 0);
}

int dn_lua_call_hook(lua_State *L, int nargs)
{
	struct dn_lua_ctx *c = dn_lua_ctx(L);
	int base = lua_gettop(L) - nargs;
	lua_pushcfunction(L, dn_lua_traceback);
	lua_insert(L, base);
	bool nested = c->in_hook;
	if (!nested) {
		c->in_hook = true;
		c->hook_started_ns = dn_mono_ns();
		set_watch(L, c);
	}
	int r = lua_pcall(L, nargs, 0, base);
	if (r != LUA_OK) {
		if (!dn_lua_ending(c))
			dn_lua_report_error(L, -1);
		if (lua_touserdata(L, -1) != &abort_sentinel)
			c->failed = true;
		lua_pop(L, 1);
	}
	if (!nested)
		c->in_hook = false;
	if (dn_lua_ending(c))
		watch_all(L, c);
	else if (!nested)
		set_watch(L, c);
	lua_remove(L, base);
	return r == LUA_OK ? 0 : -1;
}

/* os.exit(code [, close]) of a denet state: the state ends as after an
 * error (its commands are ended and their records written); then denet
 * exits with the status. `close` is accepted: the state is always closed. */
static int l_os_exit(lua_State *L)
{
	int status;
	if (lua_isboolean(L, 1))
		status = lua_toboolean(L, 1) ? EXIT_SUCCESS : EXIT_FAILURE;
	else
		status = (int)luaL_optinteger(L, 1, EXIT_SUCCESS);
	struct dn_lua_ctx *c = dn_lua_ctx(L);
	if (!dn_lua_ending(c)) {
		c->exiting = true;
		c->exit_status = status & 0xff;
	}
	watch_all(L, c);
	return raise_abort(L);
}

void dn_lua_install_exit(lua_State *L)
{
	dn_lua_ctx(L)->unwind = true;
	lua_getglobal(L, "os");
	if (lua_istable(L, -1)) {
		lua_pushcfunction(L, l_os_exit);
		lua_setfield(L, -2, "exit");
	}
	lua_pop(L, 1);
}

/* ---- records as Lua tables --------------------------------------------- */

static double round2(double v)
{
	return round(v * 100.0) / 100.0;
}

static void set_int(lua_State *L, const char *k, uint64_t v)
{
	lua_pushinteger(L, (lua_Integer)v);
	lua_setfield(L, -2, k);
}

/* One schema field as the JSONL line has it: doubles rounded to the
 * file's decimals, a missing cpu_core false (null in the file, as
 * parent's `false`). */
static void push_metric(lua_State *L, const struct dn_metrics *m, const struct dn_metric_info *f)
{
	switch (f->type) {
	case DN_METRIC_U64: lua_pushinteger(L, (lua_Integer)dn_metric_u64(m, f)); break;
	case DN_METRIC_PCT:
	case DN_METRIC_SECS:
		lua_pushnumber(L, dn_metrics_round(dn_metric_double(m, f), dn_metric_decimals(f)));
		break;
	case DN_METRIC_CORE:
		if (dn_metric_core(m, f) >= 0)
			lua_pushinteger(L, dn_metric_core(m, f));
		else
			lua_pushboolean(L, 0);
		break;
	case DN_METRIC_SRC: lua_pushstring(L, dn_metric_src(m, f)); break;
	}
	lua_setfield(L, -2, f->name);
}

/* The same fields and values the JSONL line carries (metrics_schema.h). */
static void push_metrics(lua_State *L, const struct dn_metrics *m, bool agg)
{
	lua_createtable(L, 0, (int)dn_metric_count);
	for (size_t i = 0; i < dn_metric_count; i++)
		if (dn_metric_in(&dn_metric_schema[i], agg))
			push_metric(L, m, &dn_metric_schema[i]);
}

/* With an off-CPU profile (the CLI's --enable-ebpf), the aggregate has the
 * file's `ebpf.offcpu` object: decoded from the same JSON text (by
 * denet.json, loaded with denet), so that the two cannot differ. */
static void push_ebpf(lua_State *L, const struct dn_monitor *m)
{
	if (!m->prof)
		return;
	int agg = lua_gettop(L); /* the aggregate's table */
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	if (lua_getfield(L, -1, "denet.json") == LUA_TTABLE &&
	    lua_getfield(L, -1, "decode") == LUA_TFUNCTION) {
		struct dn_buf b = {0};
		struct dn_json j;
		dn_json_init(&j, &b);
		dn_profile_write_upstream(&j, m->prof);
		bool ok = !b.oom && b.len;
		if (ok)
			lua_pushlstring(L, b.data, b.len);
		dn_buf_free(&b);
		if (ok && lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1)) {
			lua_createtable(L, 0, 1);
			lua_insert(L, -2);
			lua_setfield(L, -2, "offcpu");
			lua_setfield(L, agg, "ebpf");
		}
	}
	lua_settop(L, agg);
}

static void push_record(lua_State *L, struct dn_monitor *m)
{
	const struct dn_tree *t = &m->tree;
	const struct dn_proc *root = dn_tree_root(t);
	if (!m->o.children) {
		struct dn_metrics mm = root ? root->m : t->agg;
		push_metrics(L, &mm, false);
		lua_pushstring(L, "sample");
		lua_setfield(L, -2, "kind");
		set_int(L, "pid", (uint64_t)t->opts.root);
		return;
	}
	lua_createtable(L, 0, 5);
	lua_pushstring(L, "tree");
	lua_setfield(L, -2, "kind");
	set_int(L, "ts_ms", t->agg.ts_ms);
	if (root)
		push_metrics(L, &root->m, false);
	else
		lua_pushboolean(L, 0);
	lua_setfield(L, -2, "parent");
	lua_createtable(L, (int)t->nprocs, 0);
	int k = 0;
	for (size_t i = 0; i < t->nprocs; i++) {
		const struct dn_proc *p = t->procs[i];
		if (p == root)
			continue;
		lua_createtable(L, 0, 4);
		set_int(L, "pid", (uint64_t)p->pid);
		set_int(L, "ppid", (uint64_t)p->ppid);
		lua_pushstring(L, p->command ? p->command : p->comm);
		lua_setfield(L, -2, "command");
		push_metrics(L, &p->m, false);
		lua_setfield(L, -2, "metrics");
		lua_rawseti(L, -2, ++k);
	}
	lua_setfield(L, -2, "children");
	push_metrics(L, &t->agg, true);
	push_ebpf(L, m);
	lua_setfield(L, -2, "aggregated");
}

/* What the samples of a monitor that has not seen its command exit add
 * up to so far (exit status and kernel totals unknown). */
static void sampled_totals(const struct dn_monitor *m, struct dn_exit_info *e)
{
	memset(e, 0, sizeof *e);
	e->pid = m->pid;
	e->ts_ms = dn_wall_ms();
	e->duration_secs = m->start_mono_ns ? (double)(dn_mono_ns() - m->start_mono_ns) / 1e9 : 0;
	e->sampled_cpu_secs = m->sampled_cpu_secs;
	e->sampled_mem_peak_kb = m->summary.peak_mem_rss_kb;
	e->sampled_disk_read_bytes = m->summary.total_disk_read_bytes;
	e->sampled_disk_write_bytes = m->summary.total_disk_write_bytes;
	e->samples = m->summary.sample_count;
}

static void push_totals(lua_State *L, const struct dn_exit_info *e)
{
	lua_createtable(L, 0, 8);
	if (e->source) {
		lua_pushstring(L, e->source);
		lua_setfield(L, -2, "source");
		lua_pushnumber(L, e->cpu_user_secs);
		lua_setfield(L, -2, "cpu_user_secs");
		lua_pushnumber(L, e->cpu_system_secs);
		lua_setfield(L, -2, "cpu_system_secs");
		lua_pushnumber(L, e->cpu_user_secs + e->cpu_system_secs);
		lua_setfield(L, -2, "cpu_secs");
		set_int(L, "mem_peak_kb", e->mem_peak_kb);
		set_int(L, "processes", e->processes);
	}
	lua_pushnumber(L, e->duration_secs);
	lua_setfield(L, -2, "duration_secs");
	if (e->detached) {
		lua_pushboolean(L, 1);
		lua_setfield(L, -2, "detached");
	}
	if (e->known) {
		set_int(L, "exit_code", (uint64_t)e->exit_code);
		if (e->signal)
			set_int(L, "signal", (uint64_t)e->signal);
	}
	lua_createtable(L, 0, 5);
	lua_pushnumber(L, e->sampled_cpu_secs);
	lua_setfield(L, -2, "cpu_secs");
	set_int(L, "mem_peak_kb", e->sampled_mem_peak_kb);
	set_int(L, "disk_read_bytes", e->sampled_disk_read_bytes);
	set_int(L, "disk_write_bytes", e->sampled_disk_write_bytes);
	set_int(L, "samples", e->samples);
	lua_setfield(L, -2, "sampled");
}

static void push_summary(lua_State *L, const struct dn_summary *s)
{
	lua_createtable(L, 0, 14);
	lua_pushnumber(L, dn_summary_total_time_secs(s));
	lua_setfield(L, -2, "total_time_secs");
	set_int(L, "sample_count", s->sample_count);
	set_int(L, "max_processes", s->max_processes);
	set_int(L, "max_threads", s->max_threads);
	set_int(L, "total_disk_read_bytes", s->total_disk_read_bytes);
	set_int(L, "total_disk_write_bytes", s->total_disk_write_bytes);
	set_int(L, "total_syscall_read_bytes", s->total_syscall_read_bytes);
	set_int(L, "total_syscall_write_bytes", s->total_syscall_write_bytes);
	set_int(L, "peak_page_faults_cached", s->peak_page_faults_cached);
	set_int(L, "peak_page_faults_disk", s->peak_page_faults_disk);
	set_int(L, "total_sys_net_rx_bytes", s->total_sys_net_rx_bytes);
	set_int(L, "total_sys_net_tx_bytes", s->total_sys_net_tx_bytes);
	set_int(L, "peak_mem_rss_kb", s->peak_mem_rss_kb);
	lua_pushnumber(L, round2(dn_summary_avg_cpu(s)));
	lua_setfield(L, -2, "avg_cpu_usage");
}

/* ---- hooks from the monitor -------------------------------------------- */

/* Push the list of callbacks registered for `event`; false if none. */
static bool push_handlers(lua_State *L, struct lproc *p, const char *event)
{
	if (p->ref_self == LUA_NOREF)
		return false;
	lua_rawgeti(L, LUA_REGISTRYINDEX, p->ref_self);
	lua_getiuservalue(L, -1, 1);
	lua_remove(L, -2);
	lua_getfield(L, -1, event);
	lua_remove(L, -2);
	if (lua_istable(L, -1) && lua_rawlen(L, -1) > 0)
		return true;
	lua_pop(L, 1);
	return false;
}

static void call_each(struct lproc *p, const char *event,
		      void (*push_args)(lua_State *, struct lproc *, void *), int nargs, void *arg)
{
	lua_State *L = cb_thread(p->ctx);
	if (!lua_may_run(p->ctx) || !push_handlers(L, p, event))
		return;
	int list = lua_gettop(L);
	lua_Integer n = (lua_Integer)lua_rawlen(L, list);
	for (lua_Integer i = 1; i <= n && lua_may_run(p->ctx); i++) {
		lua_rawgeti(L, list, i);
		push_args(L, p, arg);
		dn_lua_call_hook(L, nargs);
	}
	lua_settop(L, list - 1);
}

static void args_record(lua_State *L, struct lproc *p, void *arg)
{
	(void)arg;
	push_record(L, p->mon);
}

static void args_proc(lua_State *L, struct lproc *p, void *arg)
{
	(void)p;
	const struct dn_proc *pr = arg;
	lua_createtable(L, 0, 4);
	set_int(L, "pid", (uint64_t)pr->pid);
	set_int(L, "ppid", (uint64_t)pr->ppid);
	lua_pushstring(L, pr->command ? pr->command : pr->comm);
	lua_setfield(L, -2, "command");
	push_metrics(L, &pr->m, false);
	lua_setfield(L, -2, "metrics");
}

static void args_gone(lua_State *L, struct lproc *p, void *arg)
{
	(void)p;
	const struct dn_proc_gone *g = arg;
	lua_createtable(L, 0, 3);
	set_int(L, "pid", (uint64_t)g->pid);
	lua_pushstring(L, g->command ? g->command : "");
	lua_setfield(L, -2, "command");
	push_metrics(L, &g->last, false);
	lua_setfield(L, -2, "metrics");
}

static void args_exit(lua_State *L, struct lproc *p, void *arg)
{
	(void)arg;
	const struct dn_exit_info *e = &p->totals;
	if (e->known)
		lua_pushinteger(L, e->exit_code);
	else
		lua_pushnil(L);
	push_totals(L, e);
}

static void args_alert(lua_State *L, struct lproc *p, void *arg)
{
	(void)p;
	const struct dn_alert *a = arg;
	lua_createtable(L, 0, 8);
	lua_pushstring(L, "alert");
	lua_setfield(L, -2, "kind");
	set_int(L, "ts_ms", a->ts_ms);
	lua_pushstring(L, a->rule_name);
	lua_setfield(L, -2, "rule");
	lua_pushstring(L, a->metric);
	lua_setfield(L, -2, "metric");
	lua_pushstring(L, a->fire ? "fire" : "clear");
	lua_setfield(L, -2, "state");
	lua_pushnumber(L, a->value);
	lua_setfield(L, -2, "value");
	lua_pushnumber(L, a->threshold);
	lua_setfield(L, -2, "threshold");
	set_int(L, "pid", (uint64_t)a->pid);
}

/* A rule fired or cleared: the alert record is written by rules.c; here
 * the rule's Lua callback runs, if it has one. */
static void on_alert(const struct dn_alert *a, void *ctx)
{
	struct lproc *p = ctx;
	char key[32];
	snprintf(key, sizeof key, "%s%d", a->fire ? "fire" : "clear", a->rule_index);
	call_each(p, key, args_alert, 1, (void *)a);
}

static void hook_sample(struct dn_monitor *m, void *ctx)
{
	struct lproc *p = ctx;
	if (p->chained.on_sample)
		p->chained.on_sample(m, p->chained.ctx);
	dn_rules_eval(&p->rules, m, on_alert, p);
	call_each(p, "sample", args_record, 1, NULL);
}

static void hook_spawn(struct dn_monitor *m, const struct dn_proc *pr, void *ctx)
{
	struct lproc *p = ctx;
	if (p->chained.on_spawn)
		p->chained.on_spawn(m, pr, p->chained.ctx);
	call_each(p, "spawn", args_proc, 1, (void *)pr);
}

static void hook_reap(struct dn_monitor *m, const struct dn_proc_gone *g, void *ctx)
{
	struct lproc *p = ctx;
	if (p->chained.on_reap)
		p->chained.on_reap(m, g, p->chained.ctx);
	call_each(p, "reap", args_gone, 1, (void *)g);
}

static void hook_record(struct dn_monitor *m, const char *line, size_t len, void *ctx)
{
	struct lproc *p = ctx;
	if (p->chained.on_record)
		p->chained.on_record(m, line, len, p->chained.ctx);
}

static bool hook_want_fast(struct dn_monitor *m, void *ctx)
{
	struct lproc *p = ctx;
	bool fast = p->chained.want_fast && p->chained.want_fast(m, p->chained.ctx);
	return dn_rules_want_fast(&p->rules, m) || fast;
}

static void hook_end(struct dn_monitor *m, void *ctx)
{
	struct lproc *p = ctx;
	if (p->chained.on_end)
		p->chained.on_end(m, p->chained.ctx);
	p->ended = true;
	/* exited or detached: the final record's figures; else (duration,
	 * an attached process's monitoring stopped) the sampled ones */
	bool final = m->command_done || m->exit.detached;
	if (final)
		p->totals = m->exit;
	else
		sampled_totals(m, &p->totals);
	if (final && !p->exit_called) {
		p->exit_called = true;
		call_each(p, "exit", args_exit, 2, NULL);
	}
	close_fd(&p->out_fd);
	if (unreaped(p))
		return; /* still denet's child: kept until reaped */
	ctx_remove_proc(p->ctx, p);
	release_ref(p); /* collectable once the script drops it */
}

static void install_hooks(struct lproc *p)
{
	p->chained = p->mon->hooks;
	p->mon->hooks = (struct dn_monitor_hooks){
		.on_sample = hook_sample,
		.on_spawn = hook_spawn,
		.on_reap = hook_reap,
		.on_record = hook_record,
		.on_end = hook_end,
		.want_fast = hook_want_fast,
		.ctx = p,
	};
}

/* ---- process objects ---------------------------------------------------- */

/* The closed state: no fd, no monitor, no hooks, no registry reference.
 * Set before anything can fail, so every path may close it. */
static void lproc_init(struct lproc *p, lua_State *L)
{
	memset(p, 0, sizeof *p);
	p->ctx = dn_lua_ctx(L);
	p->L = p->ctx->L;
	p->ref_self = LUA_NOREF;
	p->out_fd = p->stdout_fd = p->stderr_fd = -1;
	dn_monitor_init(&p->own);
	p->mon = &p->own;
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
		if (p->mon && p->mon->hooks.ctx == p)
			p->mon->hooks = p->chained;
		p->mon = &p->own;
		p->borrowed = false;
	} else {
		if (p->own.running && p->own.launched) {
			dn_monitor_signal_tree(&p->own, SIGKILL);
			waitpid(p->own.pid, NULL, 0);
		}
		dn_monitor_free(&p->own);
	}
	if (p->ctx)
		ctx_remove_proc(p->ctx, p);
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

static struct lproc *check_proc(lua_State *L, int idx)
{
	return luaL_checkudata(L, idx, PROCESS_MT);
}

static int proc_gc(lua_State *L)
{
	lproc_close(check_proc(L, 1));
	return 0;
}

static const struct dn_lua_opt run_opts[] = {
	{"interval", LUA_TNUMBER},  {"max_interval", LUA_TNUMBER},
	{"children", LUA_TBOOLEAN}, {"since_process_start", LUA_TBOOLEAN},
	{"stdout", LUA_TSTRING},    {"stderr", LUA_TSTRING},
	{"out", LUA_TSTRING},	    {"timeout", LUA_TNUMBER},
	{"duration", LUA_TNUMBER},  {NULL, 0},
};

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

static lua_Number opt_num(lua_State *L, int idx, const char *k, lua_Number dflt)
{
	lua_getfield(L, idx, k);
	lua_Number v = lua_isnil(L, -1) ? dflt : lua_tonumber(L, -1);
	lua_pop(L, 1);
	return v;
}

static bool opt_bool(lua_State *L, int idx, const char *k, bool dflt)
{
	lua_getfield(L, idx, k);
	bool v = lua_isnil(L, -1) ? dflt : lua_toboolean(L, -1);
	lua_pop(L, 1);
	return v;
}

static const char *opt_str(lua_State *L, int idx, const char *k)
{
	lua_getfield(L, idx, k);
	const char *v = lua_tostring(L, -1);
	lua_pop(L, 1); /* still referenced by the table */
	return v;
}

static void read_monitor_opts(lua_State *L, int idx, struct dn_monitor_opts *o, const char *fname)
{
	lua_Number iv = opt_num(L, idx, "interval", 100);
	lua_Number mx = opt_num(L, idx, "max_interval", iv > 1000 ? iv : 1000);
	if (!(iv >= 1 && iv <= 86400000))
		luaL_error(L, "%s: interval must be between 1 and 86400000 ms", fname);
	if (!(mx >= iv))
		luaL_error(L, "%s: max_interval must be >= interval", fname);
	o->interval_ms = (unsigned)iv;
	o->max_interval_ms = (unsigned)mx;
	o->children = opt_bool(L, idx, "children", true);
	o->since_process_start = opt_bool(L, idx, "since_process_start", false);
	o->timeout_secs = opt_num(L, idx, "timeout", 0);
	o->duration_secs = opt_num(L, idx, "duration", 0);
	if (o->timeout_secs < 0 || o->duration_secs < 0)
		luaL_error(L, "%s: timeout and duration must be >= 0", fname);
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
	if (ctx_add_proc(p->ctx, p) < 0)
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
	const char *out = opt_str(L, 1, "out"), *so = opt_str(L, 1, "stdout"),
		   *se = opt_str(L, 1, "stderr");
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
	int r = dn_monitor_launch(&p->own, loop, &o, argv, argc, &lo);
	if (r < 0)
		return dn_lua_push_fail(L, -r, "cannot start the command");
	if (p->out_fd >= 0)
		dn_monitor_add_output(&p->own, p->out_fd);
	install_hooks(p);
	r = dn_monitor_start(&p->own);
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
	const char *out = opt_str(L, 2, "out");
	if (out && open_out(L, out, &p->out_fd, false))
		return 3;
	int r = dn_monitor_attach(&p->own, loop, &o, (pid_t)pid);
	if (r < 0) {
		char what[64];
		snprintf(what, sizeof what, "cannot attach to PID %d", (int)pid);
		return dn_lua_push_fail(L, -r, what);
	}
	if (p->out_fd >= 0)
		dn_monitor_add_output(&p->own, p->out_fd);
	install_hooks(p);
	dn_monitor_start(&p->own);
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
	install_hooks(p);
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
	struct lproc *p = check_proc(L, 1);
	const char *k = luaL_checkstring(L, 2);
	if (strcmp(k, "pid") == 0) {
		lua_pushinteger(L, p->mon->pid);
		return 1;
	}
	if (strcmp(k, "cmd") == 0) {
		lua_createtable(L, p->mon->argc, 0);
		for (int i = 0; i < p->mon->argc; i++) {
			lua_pushstring(L, p->mon->argv[i]);
			lua_rawseti(L, -2, i + 1);
		}
		return 1;
	}
	if (strcmp(k, "running") == 0) {
		lua_pushboolean(L, p->mon->running);
		return 1;
	}
	lua_getmetatable(L, 1);
	lua_getfield(L, -1, "__methods");
	lua_getfield(L, -1, k);
	return 1;
}

static int proc_sample(lua_State *L)
{
	struct lproc *p = check_proc(L, 1);
	if (!p->mon->running || !p->started) {
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
	push_record(L, p->mon);
	return 1;
}

static int proc_on(lua_State *L)
{
	struct lproc *p = check_proc(L, 1);
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

/* Sizes: numbers, or strings "512K", "100M", "2G", "1T" (powers of 1024),
 * converted to the metric's own unit (kB for *_kb, bytes for *_bytes). */
static double check_size(lua_State *L, int tidx, const char *key, const char *metric)
{
	lua_getfield(L, tidx, key);
	double v;
	if (lua_type(L, -1) == LUA_TNUMBER) {
		v = lua_tonumber(L, -1);
	} else if (lua_type(L, -1) == LUA_TSTRING) {
		const char *s = lua_tostring(L, -1);
		int r = dn_rules_parse_size(s, metric, &v);
		if (r < 0)
			luaL_error(L, "p:watch: %s = '%s' is not a size for %s (use a number%s)",
				   key, s, metric,
				   r == -ERANGE ? ""
						: ", or e.g. \"512M\", \"2G\" for *_kb/*_bytes");
	} else if (lua_isnil(L, -1)) {
		v = NAN;
	} else {
		luaL_error(L, "p:watch: %s must be a number or a size string", key);
		v = NAN;
	}
	lua_pop(L, 1);
	return v;
}

static const struct dn_lua_opt watch_opts[] = {
	{"metric", LUA_TSTRING},
	{"above", -1},
	{"below", -1},
	{"for_ms", LUA_TNUMBER},
	{"clear_below", -1},
	{"clear_above", -1},
	{"name", LUA_TSTRING},
	{"on_fire", LUA_TFUNCTION},
	{"on_clear", LUA_TFUNCTION},
	{"action", LUA_TSTRING},
	{"scope", LUA_TSTRING},
	{NULL, 0},
};

static int proc_watch(lua_State *L)
{
	struct lproc *p = check_proc(L, 1);
	luaL_checktype(L, 2, LUA_TTABLE);
	/* keys: checked by hand since sizes take two types */
	lua_pushnil(L);
	while (lua_next(L, 2)) {
		const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
		const struct dn_lua_opt *s = watch_opts;
		while (k && s->name && strcmp(s->name, k) != 0)
			s++;
		if (!k || !s->name)
			luaL_error(L, "p:watch: unknown option '%s'", k ? k : luaL_typename(L, -2));
		if (s->type >= 0 && lua_type(L, -1) != s->type)
			luaL_error(L, "p:watch: option '%s' must be a %s, got %s", k,
				   lua_typename(L, s->type), luaL_typename(L, -1));
		lua_pop(L, 1);
	}
	struct dn_rule r;
	memset(&r, 0, sizeof r);
	const char *metric = opt_str(L, 2, "metric");
	if (!metric)
		luaL_error(L, "p:watch: 'metric' is required (e.g. metric = \"mem_rss_kb\")");
	const char *scope = opt_str(L, 2, "scope");
	bool any = false;
	if (scope && strcmp(scope, "any") == 0)
		any = true;
	else if (scope && strcmp(scope, "tree") != 0)
		luaL_error(L, "p:watch: scope must be \"tree\" or \"any\", got '%s'", scope);
	int e = dn_rules_set_metric(&r, metric, any);
	if (e == -ENOENT)
		luaL_error(L, "p:watch: unknown metric '%s'", metric);
	if (e == -EINVAL)
		luaL_error(L,
			   "p:watch: scope = \"any\" works for cpu_usage and mem_rss_kb, not '%s'",
			   metric);
	double above = check_size(L, 2, "above", metric);
	double below = check_size(L, 2, "below", metric);
	if (isnan(above) == isnan(below))
		luaL_error(L, "p:watch: give exactly one of 'above' or 'below'");
	r.above = !isnan(above);
	r.threshold = r.above ? above : below;
	double cb = check_size(L, 2, "clear_below", metric);
	double ca = check_size(L, 2, "clear_above", metric);
	if (!isnan(cb) && !r.above)
		luaL_error(L, "p:watch: clear_below goes with above (use clear_above with below)");
	if (!isnan(ca) && r.above)
		luaL_error(L, "p:watch: clear_above goes with below (use clear_below with above)");
	r.clear_level = r.above ? (isnan(cb) ? r.threshold : cb) : (isnan(ca) ? r.threshold : ca);
	if (r.above && r.clear_level > r.threshold)
		luaL_error(L, "p:watch: clear_below must be <= above");
	if (!r.above && r.clear_level < r.threshold)
		luaL_error(L, "p:watch: clear_above must be >= below");
	double for_ms = opt_num(L, 2, "for_ms", 0);
	if (for_ms < 0)
		luaL_error(L, "p:watch: for_ms must be >= 0");
	r.for_ms = (uint64_t)for_ms;
	const char *action = opt_str(L, 2, "action");
	if (dn_rules_set_action(&r, action) < 0)
		luaL_error(L, "p:watch: action must be \"stop\", \"term\" or \"kill\", got '%s'",
			   action);
	const char *name = opt_str(L, 2, "name");
	int idx = dn_rules_add(&p->rules, &r, name);
	if (idx < 0)
		return luaL_error(L, "p:watch: out of memory");
	/* callbacks live in the user value table as fire<i>/clear<i> lists */
	const char *cbn[2] = {"on_fire", "on_clear"};
	const char *ev[2] = {"fire", "clear"};
	for (int i = 0; i < 2; i++) {
		lua_getfield(L, 2, cbn[i]);
		if (lua_isfunction(L, -1)) {
			lua_getiuservalue(L, 1, 1);
			lua_createtable(L, 1, 0);
			lua_pushvalue(L, -3);
			lua_rawseti(L, -2, 1);
			char key[32];
			snprintf(key, sizeof key, "%s%d", ev[i], idx);
			lua_setfield(L, -2, key);
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	lua_pushinteger(L, idx);
	return 1;
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
	struct lproc *p = check_proc(L, 1);
	int sig = parse_signal(L, 2);
	if (!p->mon->running)
		return dn_lua_push_fail_why(L, ESRCH, "the process has ended");
	int n = dn_monitor_signal_tree(p->mon, sig);
	if (n == 0)
		return dn_lua_push_fail(L, ESRCH, "no process of the tree could be signalled");
	lua_pushinteger(L, n);
	return 1;
}

static int proc_mark(lua_State *L)
{
	struct lproc *p = check_proc(L, 1);
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
	struct lproc *p = check_proc(L, 1);
	if (p->borrowed)
		return luaL_error(
			L, "p:wait() cannot be used in a -s hooks script (denet runs the loop)");
	dn_lua_run_loop(L, &p->ended);
	if (dn_lua_ending(p->ctx))
		return raise_abort(L);
	struct dn_exit_info now;
	const struct dn_exit_info *e = &p->totals;
	if (!p->ended) { /* denet.stop(): this wait ends, the command runs on */
		sampled_totals(p->mon, &now);
		e = &now;
	}
	if (e->known)
		lua_pushinteger(L, e->exit_code);
	else
		lua_pushnil(L);
	push_totals(L, e);
	return 2;
}

/* Monitoring ends, the command runs on: a final `exit` record with
 * "detached": true; exit callbacks run with (nil, totals). Returns the
 * totals, or nil, msg, "ESRCH" when it is not monitored any more. */
static int proc_detach(lua_State *L)
{
	struct lproc *p = check_proc(L, 1);
	if (!p->mon->running || !p->started)
		return dn_lua_push_fail_why(L, ESRCH,
					    "not monitored: the process has ended or was detached");
	int r = dn_monitor_detach(p->mon);
	if (r < 0)
		return dn_lua_push_fail(L, -r, "cannot detach");
	push_totals(L, &p->totals);
	return 1;
}

static int proc_summary(lua_State *L)
{
	struct lproc *p = check_proc(L, 1);
	push_summary(L, &p->mon->summary);
	return 1;
}

static int proc_tostring(lua_State *L)
{
	struct lproc *p = check_proc(L, 1);
	lua_pushfstring(L, "denet.process(pid %d%s)", (int)p->mon->pid,
			p->mon->running ? "" : ", ended");
	return 1;
}

/* ---- timers ------------------------------------------------------------- */

struct ltimer {
	struct dn_timer *t;
	lua_State *L;
	uint64_t period_ns; /* 0 for after() */
	int ref_self;
	bool done;
};

static void ltimer_init(struct ltimer *lt, lua_State *L)
{
	memset(lt, 0, sizeof *lt);
	lt->L = dn_lua_ctx(L)->L;
	lt->ref_self = LUA_NOREF;
}

static void timer_release(struct ltimer *lt)
{
	if (lt->ref_self != LUA_NOREF) {
		int ref = lt->ref_self;
		lt->ref_self = LUA_NOREF;
		luaL_unref(lt->L, LUA_REGISTRYINDEX, ref);
	}
}

/* cancel, <close> and __gc: idempotent. `free_timer` (for __gc) also
 * gives the loop's timer back, unless the loop is gone already (a state
 * closing frees it with the context). */
static void ltimer_close(struct ltimer *lt, bool free_timer)
{
	if (lt->t)
		dn_loop_timer_disarm(lt->t);
	lt->done = true;
	timer_release(lt);
	if (free_timer && lt->t) {
		if (dn_lua_ctx(lt->L)->loop)
			dn_loop_timer_free(lt->t);
		lt->t = NULL;
	}
}

static void on_timer(struct dn_loop *loop, struct dn_timer *t, void *ctx)
{
	(void)loop;
	struct ltimer *lt = ctx;
	struct dn_lua_ctx *c = dn_lua_ctx(lt->L);
	if (lt->period_ns)
		dn_loop_timer_arm(t, dn_loop_timer_deadline(t) + lt->period_ns);
	else
		lt->done = true;
	if (lt->ref_self == LUA_NOREF || !lua_may_run(c))
		return;
	lua_State *L = cb_thread(c);
	lua_rawgeti(L, LUA_REGISTRYINDEX, lt->ref_self);
	int self = lua_gettop(L);
	lua_getiuservalue(L, self, 1);
	lua_pushvalue(L, self);
	dn_lua_call_hook(L, 1);
	lua_settop(L, self - 1);
	if (lt->done)
		timer_release(lt); /* collectable now; the callback may have kept it */
}

static int make_timer(lua_State *L, bool repeat)
{
	lua_Number ms = luaL_checknumber(L, 1);
	luaL_argcheck(L, ms >= 0 && (repeat ? ms >= 1 : 1), 1,
		      repeat ? "the period must be >= 1 ms" : "the delay must be >= 0 ms");
	luaL_checktype(L, 2, LUA_TFUNCTION);
	struct dn_loop *loop = dn_lua_loop(L);
	struct ltimer *lt = lua_newuserdatauv(L, sizeof *lt, 1);
	ltimer_init(lt, L);
	luaL_setmetatable(L, TIMER_MT);
	lua_pushvalue(L, 2);
	lua_setiuservalue(L, -2, 1);
	lt->t = dn_loop_timer_new(loop, on_timer, lt);
	if (!lt->t)
		return luaL_error(L, "denet: out of memory");
	uint64_t period = (uint64_t)(ms * 1e6);
	lt->period_ns = repeat ? period : 0;
	dn_loop_timer_arm(lt->t, dn_mono_ns() + (period ? period : 1));
	lua_pushvalue(L, -1);
	lt->ref_self = luaL_ref(L, LUA_REGISTRYINDEX);
	return 1;
}

static int l_every(lua_State *L)
{
	return make_timer(L, true);
}

static int l_after(lua_State *L)
{
	return make_timer(L, false);
}

static int timer_cancel(lua_State *L)
{
	ltimer_close(luaL_checkudata(L, 1, TIMER_MT), false);
	return 0;
}

static int timer_gc(lua_State *L)
{
	ltimer_close(luaL_checkudata(L, 1, TIMER_MT), true);
	return 0;
}

/* ---- the loop ------------------------------------------------------------ */

static bool anything_left(struct dn_lua_ctx *c)
{
	for (int i = 0; i < c->nprocs; i++)
		if (c->procs[i]->mon->running)
			return true;
	return c->loop && dn_loop_active_timers(c->loop) > 0;
}

void dn_lua_run_loop(lua_State *L, const bool *until)
{
	struct dn_lua_ctx *c = dn_lua_ctx(L);
	lua_State *saved = c->cur;
	c->cur = L;
	c->loop_depth++;
	while (!c->stop && !dn_lua_ending(c) && !(until && *until) && anything_left(c)) {
		if (dn_loop_run_once(c->loop) < 0)
			break;
	}
	c->stop = false; /* a stop ends this run only */
	c->loop_depth--;
	c->cur = saved;
}

void dn_lua_end_all(lua_State *L)
{
	struct dn_lua_ctx *c = dn_lua_ctx(L);
	c->teardown = true; /* no Lua runs from here on */
	dn_lua_clear_hooks(L);
	if (!c->loop) {
		release_signals(c);
		return;
	}
	/* signals that came meanwhile get the policy first (forwarded to
	 * the commands), and later ones too while the commands end */
	take_signals(c);
	/* backwards: a monitor that stops leaves the list */
	for (int i = c->nprocs - 1; i >= 0; i--) {
		struct lproc *p = c->procs[i];
		if (p->borrowed || !p->mon->running)
			continue;
		if (p->mon->launched)
			dn_monitor_terminate(p->mon);
		else
			dn_monitor_stop(p->mon);
	}
	c->stop = false;
	for (;;) {
		bool left = false;
		for (int i = 0; i < c->nprocs; i++)
			if (c->procs[i]->mon->running && !c->procs[i]->borrowed)
				left = true;
		if (!left || dn_loop_run_once(c->loop) < 0)
			break;
	}
	release_signals(c);
}

static int l_loop(lua_State *L)
{
	dn_lua_loop(L);
	dn_lua_run_loop(L, NULL);
	if (dn_lua_ending(dn_lua_ctx(L)))
		return raise_abort(L);
	return 0;
}

/* Inside a loop (denet.loop, p:wait, also from a callback they run) it
 * ends that loop; outside any, the loop denet runs after the main chunk
 * is skipped. */
static int l_stop(lua_State *L)
{
	struct dn_lua_ctx *c = dn_lua_ctx(L);
	if (c->loop_depth > 0)
		c->stop = true;
	else
		c->skip_loop = true;
	return 0;
}

static int l_set_hook_budget(lua_State *L)
{
	lua_Number ms = luaL_checknumber(L, 1);
	luaL_argcheck(L, ms >= 0, 1, "the budget must be >= 0 ms (0 = unlimited)");
	dn_lua_ctx(L)->hook_budget_ms = ms;
	return 0;
}

static int l_failed(lua_State *L)
{
	lua_pushboolean(L, dn_lua_ending(dn_lua_ctx(L)));
	return 1;
}

static int l_now_ms(lua_State *L)
{
	lua_pushnumber(L, (double)dn_mono_ns() / 1e6);
	return 1;
}

static int l_parse_size(lua_State *L)
{
	const char *s = luaL_checkstring(L, 1);
	const char *metric = luaL_optstring(L, 2, "x_bytes");
	double v;
	if (dn_rules_parse_size(s, metric, &v) < 0)
		return luaL_argerror(L, 1, lua_pushfstring(L, "'%s' is not a size", s));
	lua_pushnumber(L, v);
	return 1;
}

bool dn_lua_cgroup_probe(const char **why)
{
	static int state; /* 0 not probed, 1 available, -1 not */
	static char reason[160];
	if (!state) {
		struct dn_cgroup *cg = dn_cgroup_create(reason, sizeof reason);
		state = cg ? 1 : -1;
		if (!cg && !reason[0])
			snprintf(reason, sizeof reason, "cannot create a cgroup: %s",
				 strerror(errno));
		dn_cgroup_destroy(cg);
	}
	if (why)
		*why = state > 0 ? NULL : reason;
	return state > 0;
}

static void set_feature(lua_State *L, int reasons, const char *name, bool ok, const char *why)
{
	lua_pushboolean(L, ok);
	lua_setfield(L, -2, name);
	if (!ok) {
		lua_pushstring(L, why);
		lua_setfield(L, reasons, name);
	}
}

static int l_features(lua_State *L)
{
	lua_newtable(L);
	int reasons = lua_gettop(L);
	lua_newtable(L);
	/* ebpf and cgroup: probed (a load of the program, a cgroup made and
	 * removed) on first use, see lua_offcpu.c */
	dn_lua_features_ebpf(L, -1, reasons);
	set_feature(L, reasons, "btf", access("/sys/kernel/btf/vmlinux", R_OK) == 0,
		    "/sys/kernel/btf/vmlinux is missing");
	set_feature(L, reasons, "psi", access("/proc/pressure/cpu", R_OK) == 0,
		    "/proc/pressure is missing (kernel without CONFIG_PSI)");
	set_feature(L, reasons, "schedstat", access("/proc/self/schedstat", R_OK) == 0,
		    "/proc/PID/schedstat is missing");
	lua_pushvalue(L, reasons);
	lua_setfield(L, -2, "reason");
	return 1;
}

static const luaL_Reg core_funcs[] = {
	{"run", l_run},
	{"attach", l_attach},
	{"every", l_every},
	{"after", l_after},
	{"loop", l_loop},
	{"stop", l_stop},
	{"set_hook_budget", l_set_hook_budget},
	{"failed", l_failed},
	{"now_ms", l_now_ms},
	{"parse_size", l_parse_size},
	{"features", l_features},
	{NULL, NULL},
};

static const luaL_Reg proc_methods[] = {
	{"sample", proc_sample},   {"on", proc_on},	    {"watch", proc_watch},
	{"signal", proc_signal},   {"mark", proc_mark},	    {"wait", proc_wait},
	{"summary", proc_summary}, {"detach", proc_detach}, {NULL, NULL},
};

int luaopen_denet_core(lua_State *L)
{
	dn_lua_ctx(L);
	luaL_newmetatable(L, PROCESS_MT);
	lua_pushcfunction(L, proc_index);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, proc_gc);
	lua_setfield(L, -2, "__gc");
	lua_pushcfunction(L, proc_tostring);
	lua_setfield(L, -2, "__tostring");
	luaL_newlib(L, proc_methods);
	lua_setfield(L, -2, "__methods");
	lua_pop(L, 1);

	luaL_newmetatable(L, TIMER_MT);
	lua_newtable(L);
	lua_pushcfunction(L, timer_cancel);
	lua_setfield(L, -2, "cancel");
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, timer_gc);
	lua_setfield(L, -2, "__gc");
	lua_pushcfunction(L, timer_cancel);
	lua_setfield(L, -2, "__close");
	lua_pop(L, 1);

	luaL_newlib(L, core_funcs);
	lua_pushstring(L, DN_VERSION);
	lua_setfield(L, -2, "version");
	dn_lua_open_offcpu(L, -1);
	return 1;
}
