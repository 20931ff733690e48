/*
 * launcher.c — fork, hold, exec (see launcher.h). Owns the two pipes of
 * the handshake until release/abort closes them; the pidfd passes to the
 * caller.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pidfd.h"
#include "launcher.h"

static void child_fail(int errpipe, int err)
{
	/* Best effort: if the parent vanished there is nobody to tell. */
	ssize_t r = write(errpipe, &err, sizeof err);
	(void)r;
	_exit(dn_launch_exec_failure_code(err));
}

int dn_launch_prepare(const struct dn_launch_opts *o, struct dn_launch *l)
{
	int ready[2], errp[2];
	l->pid = -1;
	l->pidfd = l->ready_fd = l->errpipe_fd = -1;
	if (pipe2(ready, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(errp, O_CLOEXEC) < 0) {
		int e = errno;
		close(ready[0]);
		close(ready[1]);
		return -e;
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(ready[0]);
		close(ready[1]);
		close(errp[0]);
		close(errp[1]);
		return -e;
	}
	if (pid == 0) {
		close(ready[1]);
		close(errp[0]);
		/* Signals denet handles through its signalfd must reach the
		 * command with their default actions. */
		for (int s = 1; s < NSIG; s++)
			if (s != SIGKILL && s != SIGSTOP)
				signal(s, SIG_DFL);
		/* Inherited blocked, SIGINT/SIGTERM would never reach the
		 * command: better not to run it at all. */
		if (o->child_mask && sigprocmask(SIG_SETMASK, o->child_mask, NULL) < 0)
			child_fail(errp[1], errno);
		if (o->stdout_fd >= 0 && dup2(o->stdout_fd, 1) < 0)
			child_fail(errp[1], errno);
		if (o->stderr_fd >= 0 && dup2(o->stderr_fd, 2) < 0)
			child_fail(errp[1], errno);
		char c;
		ssize_t r;
		do
			r = read(ready[0], &c, 1);
		while (r < 0 && errno == EINTR);
		if (r != 0) /* the parent gave up: abort quietly */
			_exit(127);
		close(ready[0]);
		/* Drop to the user last: denet has moved us into the cgroup. */
		if (o->creds && o->creds->set &&
		    (setgroups((size_t)o->creds->ngroups, o->creds->groups) < 0 ||
		     setgid(o->creds->gid) < 0 || setuid(o->creds->uid) < 0))
			child_fail(errp[1], errno);
		execvp(o->argv[0], o->argv);
		child_fail(errp[1], errno);
	}
	close(ready[0]);
	close(errp[1]);
	l->pid = pid;
	l->ready_fd = ready[1];
	l->errpipe_fd = errp[0];
	l->pidfd = dn_pidfd_open(pid);
	return 0;
}

int dn_launch_release(struct dn_launch *l)
{
	close(l->ready_fd);
	l->ready_fd = -1;
	int err = 0;
	ssize_t r;
	do
		r = read(l->errpipe_fd, &err, sizeof err);
	while (r < 0 && errno == EINTR);
	close(l->errpipe_fd);
	l->errpipe_fd = -1;
	if (r == (ssize_t)sizeof err) {
		waitpid(l->pid, NULL, 0);
		if (l->pidfd >= 0)
			close(l->pidfd);
		l->pidfd = -1;
		return -err;
	}
	return 0;
}

void dn_launch_abort(struct dn_launch *l)
{
	if (l->pid > 0) {
		kill(l->pid, SIGKILL);
		waitpid(l->pid, NULL, 0);
	}
	if (l->ready_fd >= 0)
		close(l->ready_fd);
	if (l->errpipe_fd >= 0)
		close(l->errpipe_fd);
	if (l->pidfd >= 0)
		close(l->pidfd);
	l->pid = -1;
	l->ready_fd = l->errpipe_fd = l->pidfd = -1;
}

int dn_launcher_become_subreaper(void)
{
	return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0 ? -errno : 0;
}

int dn_launch_exec_failure_code(int err)
{
	return (err == ENOENT || err == ENOTDIR) ? 127 : 126;
}

int dn_launch_which(const char *argv0, char *buf, size_t len)
{
	if (strchr(argv0, '/')) {
		if (!realpath(argv0, buf) || strlen(buf) >= len)
			return -errno;
		return 0;
	}
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *end = strchrnul(path, ':');
		/* an empty entry means the current directory, as for execvp */
		int n = end == path ? snprintf(buf, len, "./%s", argv0)
				    : snprintf(buf, len, "%.*s/%s", (int)(end - path), path, argv0);
		struct stat st;
		if (n > 0 && (size_t)n < len && stat(buf, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(buf, X_OK) == 0)
			return 0;
		path = *end ? end + 1 : end;
	}
	return -ENOENT;
}

/* A uid from digits, or -1. */
static long parse_id(const char *s)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	return errno || *end || v < 0 || v > (long)INT_MAX ? -1 : v;
}

int dn_launch_creds_resolve(const char *user, struct dn_launch_creds *c, char *why, size_t whylen)
{
	memset(c, 0, sizeof *c);
	uid_t euid = geteuid();
	long uid, gid = -1;
	if (user) {
		struct passwd *pw = getpwnam(user);
		if (!pw && parse_id(user) >= 0)
			pw = getpwuid((uid_t)parse_id(user));
		if (!pw) {
			snprintf(why, whylen, "--user %s: no such user", user);
			return -ENOENT;
		}
		uid = pw->pw_uid;
	} else {
		/* sudo: the command gets the invoking user back */
		uid = euid == 0 ? parse_id(getenv("SUDO_UID")) : -1;
		if (uid <= 0)
			return 0;
		gid = parse_id(getenv("SUDO_GID"));
	}
	if ((uid_t)uid == euid && (user || euid != 0))
		return 0; /* already that user: nothing to drop */
	if (euid != 0) {
		snprintf(why, whylen, "--user %s: running the command as another user needs root",
			 user);
		return -EPERM;
	}
	struct passwd *pw = getpwuid((uid_t)uid);
	if (gid < 0)
		gid = pw ? (long)pw->pw_gid : uid;
	c->set = true;
	c->uid = (uid_t)uid;
	c->gid = (gid_t)gid;
	c->groups[0] = c->gid;
	c->ngroups = 1;
	if (pw) {
		snprintf(c->name, sizeof c->name, "%s", pw->pw_name);
		int n = DN_LAUNCH_MAX_GROUPS;
		if (getgrouplist(pw->pw_name, c->gid, c->groups, &n) < 0)
			n = DN_LAUNCH_MAX_GROUPS; /* more than fit: the first ones */
		c->ngroups = n;
	} else
		snprintf(c->name, sizeof c->name, "%ld", uid);
	return 0;
}
