/* failinj.c — test helper: LD_PRELOAD fault injection, so the specs can
 * drive denet's handling of system calls that "never fail" on the real
 * binary. DENET_FAIL is a comma-separated list of:
 *   epoll_pidfd        epoll_ctl(EPOLL_CTL_ADD) of a pidfd fails (ENOSPC,
 *                      as when fs.epoll.max_user_watches is reached)
 *   timerfd_settime    every timerfd_settime fails (EINVAL)
 *   sigprocmask_child  sigprocmask(SIG_SETMASK, set, ...) fails (EINVAL) in
 *                      a process forked from the one that loaded this
 * The library removes LD_PRELOAD from the environment when it loads, so the
 * commands denet runs do not inherit it. */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

static pid_t loader;
static char what[256];

__attribute__((constructor)) static void init(void)
{
	const char *w = getenv("DENET_FAIL");
	snprintf(what, sizeof what, ",%s,", w ? w : "");
	loader = getpid();
	unsetenv("LD_PRELOAD");
}

static int failing(const char *name)
{
	char key[64];
	snprintf(key, sizeof key, ",%s,", name);
	return strstr(what, key) != NULL;
}

static int is_pidfd(int fd)
{
	char path[64], target[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, target, sizeof target - 1);
	if (n < 0)
		return 0;
	target[n] = '\0';
	return strcmp(target, "anon_inode:[pidfd]") == 0;
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	static int (*real)(int, int, int, struct epoll_event *);
	if (!real)
		real = (int (*)(int, int, int, struct epoll_event *))dlsym(RTLD_NEXT, "epoll_ctl");
	if (op == EPOLL_CTL_ADD && failing("epoll_pidfd") && is_pidfd(fd)) {
		errno = ENOSPC;
		return -1;
	}
	return real(epfd, op, fd, ev);
}

int timerfd_settime(int fd, int flags, const struct itimerspec *nv, struct itimerspec *old)
{
	static int (*real)(int, int, const struct itimerspec *, struct itimerspec *);
	if (!real)
		real = (int (*)(int, int, const struct itimerspec *, struct itimerspec *))dlsym(
			RTLD_NEXT, "timerfd_settime");
	if (failing("timerfd_settime")) {
		errno = EINVAL;
		return -1;
	}
	return real(fd, flags, nv, old);
}

int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	static int (*real)(int, const sigset_t *, sigset_t *);
	if (!real)
		real = (int (*)(int, const sigset_t *, sigset_t *))dlsym(RTLD_NEXT, "sigprocmask");
	if (how == SIG_SETMASK && set && failing("sigprocmask_child") && getpid() != loader) {
		errno = EINVAL;
		return -1;
	}
	return real(how, set, old);
}
