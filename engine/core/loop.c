/*
 * loop.c — the event loop (see loop.h): epoll + timerfd + signalfd.
 * It owns the epoll fd, the timerfd, the signalfd and the timer array;
 * callers own the fds they register.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "clock.h"
#include "loop.h"

struct dn_fd_watch {
	int fd;
	dn_loop_fd_fn fn;
	void *ctx;
	struct dn_fd_watch *next;
};

struct dn_timer {
	struct dn_loop *loop;
	dn_loop_timer_fn fn;
	void *ctx;
	uint64_t deadline;
	bool armed;
	bool ref;
};

struct dn_loop {
	int epfd, tfd, sfd;
	dn_loop_signal_fn on_signal;
	void *signal_ctx;
	sigset_t saved_mask;
	sigset_t child_mask; /* saved_mask without the signals the loop takes */
	struct dn_fd_watch *watches;
	struct dn_timer **timers;
	size_t ntimers, cap;
	uint64_t armed_for; /* deadline the timerfd holds, 0 = none */
	int error;	    /* first -errno of arming the timerfd: the loop is broken */
};

/* epoll data for our own fds: tagged pointers would be cute; a sentinel
 * is clearer. */
static struct dn_fd_watch timer_tag, signal_tag;

struct dn_loop *dn_loop_new(const sigset_t *signals, dn_loop_signal_fn on_signal, void *ctx)
{
	struct dn_loop *loop = calloc(1, sizeof *loop);
	if (!loop)
		return NULL;
	loop->epfd = loop->tfd = loop->sfd = -1;
	if (sigprocmask(SIG_SETMASK, NULL, &loop->saved_mask) < 0) {
		free(loop);
		return NULL;
	}
	/* Children get the mask denet started with, minus the signals the
	 * loop handles: those must reach a command with their default
	 * actions even when denet itself inherited them blocked (e.g. from
	 * another denet running it). */
	loop->child_mask = loop->saved_mask;
	for (int s = 1; signals && s < NSIG; s++)
		if (sigismember(signals, s) == 1)
			sigdelset(&loop->child_mask, s);
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		goto fail;
	loop->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (loop->tfd < 0)
		goto fail;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &timer_tag};
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->tfd, &ev) < 0)
		goto fail;
	if (signals) {
		if (sigprocmask(SIG_BLOCK, signals, NULL) < 0)
			goto fail;
		loop->sfd = signalfd(-1, signals, SFD_CLOEXEC | SFD_NONBLOCK);
		if (loop->sfd < 0)
			goto fail;
		ev.data.ptr = &signal_tag;
		if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->sfd, &ev) < 0)
			goto fail;
		loop->on_signal = on_signal;
		loop->signal_ctx = ctx;
	}
	return loop;
fail : {
	int e = errno;
	dn_loop_free(loop);
	errno = e;
	return NULL;
}
}

void dn_loop_free(struct dn_loop *loop)
{
	if (!loop)
		return;
	if (loop->sfd >= 0) {
		close(loop->sfd);
		/* Teardown: if the old mask cannot be restored there is nothing
		 * left to do about it (denet is about to exit). */
		(void)sigprocmask(SIG_SETMASK, &loop->saved_mask, NULL);
	}
	if (loop->tfd >= 0)
		close(loop->tfd);
	if (loop->epfd >= 0)
		close(loop->epfd);
	while (loop->watches) {
		struct dn_fd_watch *w = loop->watches;
		loop->watches = w->next;
		free(w);
	}
	for (size_t i = 0; i < loop->ntimers; i++)
		loop->timers[i]->loop = NULL; /* owners free them */
	free(loop->timers);
	free(loop);
}

const sigset_t *dn_loop_saved_sigmask(const struct dn_loop *loop)
{
	return &loop->child_mask;
}

int dn_loop_add_fd(struct dn_loop *loop, int fd, uint32_t events, dn_loop_fd_fn fn, void *ctx)
{
	struct dn_fd_watch *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->fn = fn;
	w->ctx = ctx;
	struct epoll_event ev = {.events = events, .data.ptr = w};
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;
		free(w);
		return -e;
	}
	w->next = loop->watches;
	loop->watches = w;
	return 0;
}

int dn_loop_del_fd(struct dn_loop *loop, int fd)
{
	for (struct dn_fd_watch **p = &loop->watches; *p; p = &(*p)->next) {
		if ((*p)->fd == fd) {
			struct dn_fd_watch *w = *p;
			*p = w->next;
			epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
			/* A watch may be freed while its event is pending in the
			 * current batch: mark instead of free when dispatching
			 * would still see it. Simplest safe rule: poison. */
			w->fn = NULL;
			w->next = NULL;
			free(w);
			return 0;
		}
	}
	return -ENOENT;
}

struct dn_timer *dn_loop_timer_new(struct dn_loop *loop, dn_loop_timer_fn fn, void *ctx)
{
	if (loop->ntimers == loop->cap) {
		size_t ncap = loop->cap ? loop->cap * 2 : 8;
		struct dn_timer **nt = realloc(loop->timers, ncap * sizeof *nt);
		if (!nt)
			return NULL;
		loop->timers = nt;
		loop->cap = ncap;
	}
	struct dn_timer *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->loop = loop;
	t->fn = fn;
	t->ctx = ctx;
	t->ref = true;
	loop->timers[loop->ntimers++] = t;
	return t;
}

static void rearm(struct dn_loop *loop)
{
	uint64_t earliest = 0;
	for (size_t i = 0; i < loop->ntimers; i++) {
		struct dn_timer *t = loop->timers[i];
		if (t->armed && (!earliest || t->deadline < earliest))
			earliest = t->deadline;
	}
	if (earliest == loop->armed_for)
		return;
	struct itimerspec its = {0};
	if (earliest) {
		/* 0 would disarm: a deadline of exactly 0 cannot happen on a
		 * monotonic clock that has run since boot. */
		its.it_value.tv_sec = (time_t)(earliest / 1000000000ull);
		its.it_value.tv_nsec = (long)(earliest % 1000000000ull);
	}
	if (timerfd_settime(loop->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
		/* No timer would ever fire again: sampling, --duration and
		 * --timeout would stop without a word. Sticky: the next
		 * dn_loop_run_once reports it. */
		if (!loop->error)
			loop->error = -errno;
		return;
	}
	loop->armed_for = earliest;
}

void dn_loop_timer_arm(struct dn_timer *t, uint64_t deadline_ns)
{
	t->deadline = deadline_ns ? deadline_ns : 1;
	t->armed = true;
	if (t->loop)
		rearm(t->loop);
}

void dn_loop_timer_disarm(struct dn_timer *t)
{
	t->armed = false;
	if (t->loop)
		rearm(t->loop);
}

bool dn_loop_timer_armed(const struct dn_timer *t)
{
	return t->armed;
}

uint64_t dn_loop_timer_deadline(const struct dn_timer *t)
{
	return t->deadline;
}

void dn_loop_timer_set_ref(struct dn_timer *t, bool ref)
{
	t->ref = ref;
}

void dn_loop_timer_free(struct dn_timer *t)
{
	if (!t)
		return;
	struct dn_loop *loop = t->loop;
	if (loop) {
		for (size_t i = 0; i < loop->ntimers; i++) {
			if (loop->timers[i] == t) {
				loop->timers[i] = loop->timers[--loop->ntimers];
				break;
			}
		}
		t->armed = false;
		rearm(loop);
	}
	free(t);
}

int dn_loop_active_timers(const struct dn_loop *loop)
{
	int n = 0;
	for (size_t i = 0; i < loop->ntimers; i++)
		n += loop->timers[i]->armed && loop->timers[i]->ref;
	return n;
}

static void fire_timers(struct dn_loop *loop)
{
	uint64_t expirations;
	while (read(loop->tfd, &expirations, sizeof expirations) > 0)
		;
	loop->armed_for = 0;
	uint64_t now = dn_mono_ns();
	/* Callbacks may arm, disarm or free timers (their own or others'):
	 * rescan from the start after each call instead of holding indexes. */
	for (;;) {
		struct dn_timer *due = NULL;
		for (size_t i = 0; i < loop->ntimers; i++) {
			struct dn_timer *t = loop->timers[i];
			if (t->armed && t->deadline <= now && (!due || t->deadline < due->deadline))
				due = t;
		}
		if (!due)
			break;
		due->armed = false;
		due->fn(loop, due, due->ctx);
	}
	rearm(loop);
}

static void drain_signals(struct dn_loop *loop)
{
	struct signalfd_siginfo si;
	while (read(loop->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (loop->on_signal)
			loop->on_signal(loop, &si, loop->signal_ctx);
	}
}

static bool watch_alive(struct dn_loop *loop, struct dn_fd_watch *w)
{
	for (struct dn_fd_watch *p = loop->watches; p; p = p->next)
		if (p == w)
			return true;
	return false;
}

int dn_loop_run_once(struct dn_loop *loop)
{
	struct epoll_event evs[16];
	if (loop->error)
		return loop->error;
	int n = epoll_wait(loop->epfd, evs, 16, -1);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		void *p = evs[i].data.ptr;
		if (p == &timer_tag)
			fire_timers(loop);
		else if (p == &signal_tag)
			drain_signals(loop);
		else if (watch_alive(loop, p)) /* an earlier callback may have removed it */
			((struct dn_fd_watch *)p)
				->fn(loop, ((struct dn_fd_watch *)p)->fd, evs[i].events,
				     ((struct dn_fd_watch *)p)->ctx);
	}
	return loop->error;
}
