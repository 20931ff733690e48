/*
 * pidfd.h — the two pidfd system calls denet uses, in one place: glibc 2.36
 * has no wrappers for them, and older headers lack the numbers (the same on
 * every architecture since Linux 5.3: 434 and 424).
 *
 * A pidfd names one process for as long as it is open, whoever takes its
 * pid afterwards; sending a signal through it can reach no one else.
 */
#ifndef DENET_PIDFD_H
#define DENET_PIDFD_H

#include <stddef.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* A close-on-exec pidfd for pid, or -1 and errno (ESRCH: no such process;
 * ENOSYS before Linux 5.3). */
static inline int dn_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* sig (0: only whether it is still alive) to the process of pidfd. 0, or
 * -1 and errno (ESRCH once it has exited). */
static inline int dn_pidfd_signal(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

#endif
