/*
 * loop.h — denet's single event loop: one epoll over a timerfd (absolute
 * CLOCK_MONOTONIC deadlines, so the cost of a sample never stretches the
 * period), a signalfd and any other fds (pidfds, ring buffers).
 *
 * One thread owns the loop. Timers are few (one per monitor plus script
 * timers), so they live in an array and the earliest is found by a scan.
 */
#ifndef DENET_LOOP_H
#define DENET_LOOP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/signalfd.h>

struct dn_loop;
struct dn_timer;

typedef void (*dn_loop_fd_fn)(struct dn_loop *loop, int fd, uint32_t events, void *ctx);
typedef void (*dn_loop_timer_fn)(struct dn_loop *loop, struct dn_timer *t, void *ctx);
typedef void (*dn_loop_signal_fn)(struct dn_loop *loop, const struct signalfd_siginfo *si,
				  void *ctx);

/* NULL + errno on failure. `signals` are blocked in the calling thread and
 * delivered through `on_signal` (NULL set: no signalfd). */
struct dn_loop *dn_loop_new(const sigset_t *signals, dn_loop_signal_fn on_signal, void *ctx);
void dn_loop_free(struct dn_loop *loop);

int dn_loop_add_fd(struct dn_loop *loop, int fd, uint32_t events, dn_loop_fd_fn fn, void *ctx);
int dn_loop_del_fd(struct dn_loop *loop, int fd);

/* A timer starts disarmed. Deadlines are CLOCK_MONOTONIC ns. */
struct dn_timer *dn_loop_timer_new(struct dn_loop *loop, dn_loop_timer_fn fn, void *ctx);
void dn_loop_timer_arm(struct dn_timer *t, uint64_t deadline_ns);
void dn_loop_timer_disarm(struct dn_timer *t);
bool dn_loop_timer_armed(const struct dn_timer *t);
uint64_t dn_loop_timer_deadline(const struct dn_timer *t);
void dn_loop_timer_free(struct dn_timer *t);
/* Timers that are armed and "ref"ed keep dn_loop_run going. */
void dn_loop_timer_set_ref(struct dn_timer *t, bool ref);

/* Wait for and dispatch one batch of events. 0, or -errno: epoll_wait
 * failed, or a timer could not be armed (timerfd_settime; sticky: every
 * later call returns it too, as no timer would fire any more). */
int dn_loop_run_once(struct dn_loop *loop);
/* How many armed ref'ed timers are there. */
int dn_loop_active_timers(const struct dn_loop *loop);
/* The signal mask children start with: the one in force before
 * dn_loop_new, minus the signals the loop handles. */
const sigset_t *dn_loop_saved_sigmask(const struct dn_loop *loop);

#endif
