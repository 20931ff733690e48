/*
 * survivors.c — which processes of a run are still alive when its command
 * exits (the `exit` record's `survivors`). The run's cgroup is the
 * authority when denet made one: nothing in it is missed, whatever its
 * parent. Without one, the last tree scan is all denet knows.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "survivors.h"

/* Its comm from /proc/PID/comm: false when the process is gone. */
static bool read_comm(pid_t pid, char *out, size_t outlen)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n;
	do
		n = read(fd, out, outlen - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return false;
	if (out[n - 1] == '\n') /* the kernel's, not the name's */
		n--;
	out[n] = '\0';
	return true;
}

static void add(struct dn_exit_info *e, pid_t pid)
{
	int i = e->nsurvivors_listed;
	if (i < DN_SURVIVORS_LISTED &&
	    read_comm(pid, e->survivor[i].command, sizeof e->survivor[i].command)) {
		e->survivor[i].pid = pid;
		e->nsurvivors_listed++;
	}
}

void dn_survivors_collect(struct dn_exit_info *e, struct dn_cgroup *cg, const struct dn_tree *t,
			  pid_t root)
{
	e->survivors = 0;
	e->nsurvivors_listed = 0;
	e->survivors_source = NULL;
	if (cg) {
		pid_t pids[DN_SURVIVORS_LISTED + 1];
		size_t n = dn_cgroup_pids(cg, pids, DN_SURVIVORS_LISTED + 1);
		size_t listed = n < DN_SURVIVORS_LISTED + 1 ? n : DN_SURVIVORS_LISTED + 1;
		for (size_t i = 0; i < listed; i++) {
			if (pids[i] == root) {
				n--; /* a zombie leader whose threads run on */
				continue;
			}
			add(e, pids[i]);
		}
		e->survivors = n;
		e->survivors_source = "cgroup";
		return;
	}
	for (size_t i = 0; t && i < t->nprocs; i++) {
		const struct dn_proc *p = t->procs[i];
		if (p->pid == root || p->state == 'Z' || p->state == 'X' || kill(p->pid, 0) < 0)
			continue;
		e->survivors++;
		add(e, p->pid);
	}
	e->survivors_source = "tree";
}

void dn_survivors_adopt(struct dn_cgroup *cg, struct dn_tree *t)
{
	enum { MAX_ADOPT = 4096 };
	static pid_t pids[MAX_ADOPT]; /* one loop thread; 16 KiB off the stack */
	if (!cg)
		return;
	size_t n = dn_cgroup_pids(cg, pids, MAX_ADOPT);
	for (size_t i = 0; i < n && i < MAX_ADOPT; i++)
		if (!dn_tree_find(t, pids[i]))
			dn_tree_adopt(t, pids[i]);
}
