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

#define DN_LAUNCH_MAX_GROUPS 256

/* Who the command runs as, when not as denet (see dn_launch_creds_resolve). */
struct dn_launch_creds {
	bool set; /* false: the command keeps denet's identity */
	uid_t uid;
	gid_t gid;
	int ngroups; /* supplementary groups, as initgroups would set them */
	gid_t groups[DN_LAUNCH_MAX_GROUPS];
	char name[64];
};

/* Resolve who the command runs as. user (a name or a uid) from --user;
 * NULL means the default: as root under sudo, the invoking user (SUDO_UID,
 * SUDO_GID and that user's groups), else denet's own identity. "--user" of
 * denet's own user (root included) keeps denet's identity. Other users need
 * root: -EPERM otherwise. 0 or -errno, with a one-line reason in `why`. */
int dn_launch_creds_resolve(const char *user, struct dn_launch_creds *c, char *why, size_t whylen);

struct dn_launch_opts {
	char *const *argv; /* argv[0] searched in PATH like execvp */
	/* NULL or !set: denet's identity; else setgroups, setgid, setuid in
	 * the child after the handshake, just before exec */
	const struct dn_launch_creds *creds;
	const sigset_t *child_mask; /* signal mask the command starts with */
	int stdout_fd;		    /* -1: inherit; else dup2'ed onto 1 */
	int stderr_fd;		    /* -1: inherit; else dup2'ed onto 2 */
};

struct dn_launch {
	pid_t pid;
	int pidfd;	/* -1 if pidfd_open is unavailable */
	int ready_fd;	/* write end: close it to let the child exec */
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
