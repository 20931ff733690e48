/*
 * lua_signals.c — the signals of a script (denet SCRIPT.lua, -s hooks):
 * INT/TERM/HUP/QUIT get a handler that hands them to the loop, where the
 * signal policy applies to the state's process objects as for any signal
 * (dn_lua_on_loop_signal), and that interrupts Lua code which keeps running
 * instead of returning to the loop (through the state's hook, lua_call.c),
 * as lua.c's SIGINT handler does.
 *
 * Ownership: one state per process owns the signals; this file owns the
 * handlers it installed and the pipe between the handler and the loop,
 * both given back by dn_lua_release_signals (the context's __gc).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <lua.h>

#include "clock.h"
#include "loop.h"
#include "lua_call.h"
#include "lua_ctx.h"
#include "lua_loop.h"
#include "lua_signals.h"

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
		lua_sethook(c->L, dn_lua_watch_hook, LUA_MASKCOUNT, 1000);
		lua_State *cur = c->cur;
		if (cur && cur != c->L)
			lua_sethook(cur, dn_lua_watch_hook, LUA_MASKCOUNT, 1000);
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

/* Has a signal waited for the loop longer than the grace? Its number. */
int dn_lua_signal_overdue(void)
{
	bool overdue = sigst.c && sigst.raised != sigst.taken &&
		       dn_mono_ns() - sigst.first_ns >= SIG_GRACE_NS;
	return overdue ? sigst.first : 0;
}

bool dn_lua_signal_pending(void)
{
	return sigst.c && sigst.raised != sigst.taken;
}

/* The loop's side of the pipe: each signal gets the policy, as if it had
 * come through the loop's signalfd. */
void dn_lua_take_signals(struct dn_lua_ctx *c)
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
		dn_lua_on_loop_signal(c, &si);
	}
	if (!any)
		return;
	dn_lua_set_watch(c->L, c);
	if (c->cur && c->cur != c->L)
		dn_lua_set_watch(c->cur, c);
}

static void on_signal_pipe(struct dn_loop *loop, int fd, uint32_t events, void *ctx)
{
	(void)loop;
	(void)fd;
	(void)events;
	dn_lua_take_signals(ctx);
}

int dn_lua_watch_signal_pipe(struct dn_lua_ctx *c)
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
	if (c->loop && dn_lua_watch_signal_pipe(c) < 0) {
		int e = errno;
		dn_lua_release_signals(c);
		return -e;
	}
	return 0;
}

/* The state is closing: signals get their default actions back. */
void dn_lua_release_signals(struct dn_lua_ctx *c)
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
