/*
 * lua_loop.c — the loop of a state: created on first use (with SIGCHLD;
 * a script's INT/TERM/HUP/QUIT come through lua_signals.c), run by
 * denet.loop(), p:wait() and the CLI; ended by denet.stop(), by the state
 * ending, or when nothing is left to wait for. Signals the loop takes get
 * the policy through the state's process objects; and at the end of a
 * script, dn_lua_end_all ends what the script leaves.
 *
 * The loop and the process objects use each other (the loop runs their
 * monitors; p:wait runs the loop): this file reads the objects' monitors
 * (lua_proc.h) and owns nothing of them. The loop itself is the
 * context's (lua_ctx.c frees it).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "launcher.h"
#include "loop.h"
#include "lua_aux.h"
#include "lua_call.h"
#include "lua_ctx.h"
#include "lua_loop.h"
#include "lua_proc.h"
#include "lua_signals.h"
#include "monitor.h"

void dn_lua_on_loop_signal(struct dn_lua_ctx *c, const struct signalfd_siginfo *si)
{
	int sig = (int)si->ssi_signo;
	if (sig == SIGCHLD) {
		dn_lua_procs_reap(c);
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
		delivered |= dn_monitor_running(m) && dn_monitor_launched(m) &&
			     !dn_monitor_command_done(m);
		dn_monitor_on_signal(m, si);
	}
	/* nothing launched to end: the signal ends the script's loop */
	if (!delivered)
		c->stop = true;
}

static void on_loop_signal(struct dn_loop *loop, const struct signalfd_siginfo *si, void *ctx)
{
	(void)loop;
	dn_lua_on_loop_signal(ctx, si);
}

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
		if (c->own_signals && dn_lua_watch_signal_pipe(c) < 0)
			luaL_error(L, "denet: cannot watch signals: %s", strerror(errno));
		dn_launcher_become_subreaper();
	}
	return c->loop;
}

static bool anything_left(struct dn_lua_ctx *c)
{
	for (int i = 0; i < c->nprocs; i++)
		if (dn_monitor_running(c->procs[i]->mon))
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
		dn_lua_release_signals(c);
		return;
	}
	/* signals that came meanwhile get the policy first (forwarded to
	 * the commands), and later ones too while the commands end */
	dn_lua_take_signals(c);
	/* backwards: a monitor that stops leaves the list */
	for (int i = c->nprocs - 1; i >= 0; i--) {
		struct lproc *p = c->procs[i];
		if (p->borrowed || !dn_monitor_running(p->mon))
			continue;
		if (dn_monitor_launched(p->mon))
			dn_monitor_terminate(p->mon);
		else
			dn_monitor_stop(p->mon);
	}
	c->stop = false;
	for (;;) {
		bool left = false;
		for (int i = 0; i < c->nprocs; i++)
			if (dn_monitor_running(c->procs[i]->mon) && !c->procs[i]->borrowed)
				left = true;
		if (!left || dn_loop_run_once(c->loop) < 0)
			break;
	}
	dn_lua_release_signals(c);
}

static int l_loop(lua_State *L)
{
	dn_lua_loop(L);
	dn_lua_run_loop(L, NULL);
	if (dn_lua_ending(dn_lua_ctx(L)))
		return dn_lua_raise_abort(L);
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

void dn_lua_open_loop(lua_State *L, int core_table_index)
{
	static const luaL_Reg funcs[] = {
		{"loop", l_loop},
		{"stop", l_stop},
		{NULL, NULL},
	};
	dn_lua_add_funcs(L, core_table_index, funcs);
}
