/*
 * procevents.h — the kernel's fork/exec/exit events from the netlink proc
 * connector (CONFIG_PROC_EVENTS), for a run's exact membership and counts.
 *
 * The connector is system-wide: every fork, exec and exit on the machine
 * arrives; the caller filters them to its tree. Events are queued in the
 * socket by the forking task itself, before the child runs, so a child's
 * fork event always precedes its own children's. When the socket's queue
 * overflows the kernel drops events and the next read fails with ENOBUFS:
 * the caller has then lost events and must rescan.
 *
 * Errors are values (0 / -errno, NULL + errno). Nothing prints.
 */
#ifndef DENET_PROCEVENTS_H
#define DENET_PROCEVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum dn_procevent_kind { DN_PROCEV_FORK = 1, DN_PROCEV_EXEC, DN_PROCEV_EXIT };

struct dn_procevent {
	enum dn_procevent_kind kind;
	/* FORK: the new task (pid) of thread group tgid, made by
	 * parent_pid/parent_tgid; pid != tgid is a new thread.
	 * EXEC, EXIT: the task pid of tgid. EXIT of pid == tgid is the
	 * group leader: the process is ending. */
	pid_t pid, tgid;
	pid_t parent_pid, parent_tgid;
	uint64_t boot_ns; /* when it happened, ns since boot */
};

struct dn_procevents;

/* Subscribes to the proc connector (non-blocking, close-on-exec socket;
 * its receive queue enlarged where privilege allows). NULL + errno, with
 * a one-line reason in `why` (e.g. no CONFIG_PROC_EVENTS, no netlink in
 * this sandbox). */
struct dn_procevents *dn_procevents_open(char *why, size_t whylen);
/* For the event loop: readable when events are queued. */
int dn_procevents_fd(const struct dn_procevents *pe);
/* Reads every queued event and calls fn for each, in order. Returns the
 * number of events, or -ENOBUFS when the kernel dropped events since the
 * previous read (the events read before are still delivered; the caller
 * must rescan), or another -errno. */
int dn_procevents_drain(struct dn_procevents *pe,
			void (*fn)(const struct dn_procevent *ev, void *ctx), void *ctx);
/* Unsubscribes and closes. NULL is a no-op. */
void dn_procevents_close(struct dn_procevents *pe);

/* The parser: one datagram of netlink messages (as recv() returned it)
 * to events. Fork, exec and exit are delivered; other kinds and foreign
 * messages are skipped; a truncated message ends the parse. Returns the
 * events delivered. Exposed for tests and the fuzzer. */
int dn_procevents_parse(const void *buf, size_t len,
			void (*fn)(const struct dn_procevent *ev, void *ctx), void *ctx);

#endif
