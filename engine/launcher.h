/*
 * launcher.h — start a command without a start-up race.
 *
 * The child is forked and waits on a pipe until the monitor is ready
 * (tree filters, cgroup) and only then execs; an exec failure comes back
 * through a close-on-exec pipe, so the caller knows before it writes a
 * single record whether the command runs. The caller becomes a child
 * subreaper (dn_launcher_become_subreaper) so orphaned grandchildren
 * stay in the tree and are reaped by denet.
 */
#ifndef DENET_LAUNCHER_H
#define DENET_LAUNCHER_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

struct dn_launch_opts {
	char *const *argv;          /* argv[0] searched in PATH like execvp */
	const sigset_t *child_mask; /* signal mask the command starts with */
	int stdout_fd;              /* -1: inherit; else dup2'ed onto 1 */
	int stderr_fd;              /* -1: inherit; else dup2'ed onto 2 */
};

struct dn_launch {
	pid_t pid;
	int pidfd;      /* -1 if pidfd_open is unavailable */
	int ready_fd;   /* write end: close it to let the child exec */
	int errpipe_fd; /* read end: EOF = exec succeeded, else an errno */
};

/* Fork the child, stopped before exec. 0 or -errno. */
int dn_launch_prepare(const struct dn_launch_opts *o, struct dn_launch *l);
/* Let the child exec and wait for the outcome: 0 when exec succeeded,
 * else -errno of the failed exec (the child is then reaped). */
int dn_launch_release(struct dn_launch *l);
/* Kill and reap a prepared child that will never be released. */
void dn_launch_abort(struct dn_launch *l);

int dn_launcher_become_subreaper(void);

/* The exit code a shell reports for a failed exec: 127 not found, 126
 * otherwise (as GNU timeout and env do). */
int dn_launch_exec_failure_code(int err);

/* Resolve argv0 in PATH as execvp would, into buf. 0 or -errno. */
int dn_launch_which(const char *argv0, char *buf, size_t len);

#endif
