/*
 * test_membership.c — the process tree from the kernel: the proc connector
 * (parser and the real socket), the pid set, the checked signals of the
 * tree (a pid reused between a scan and a signal is not signalled), and a
 * run's membership and exact counts on real process trees.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "membership.h"
#include "pidset.h"
#include "procevents.h"
#include "proctree.h"
#include "unit.h"

struct seen {
	struct dn_procevent ev[64];
	int n;
};

static void collect(const struct dn_procevent *ev, void *ctx)
{
	struct seen *s = ctx;
	if (s->n < 64)
		s->ev[s->n++] = *ev;
}

/* One connector message as the kernel sends it. */
static size_t put_event(char *buf, uint32_t what, pid_t a, pid_t b, pid_t c, pid_t d)
{
	struct proc_event ev;
	memset(&ev, 0, sizeof ev);
	ev.what = what;
	ev.timestamp_ns = 12345;
	if (what == PROC_EVENT_FORK) {
		ev.event_data.fork.parent_pid = a;
		ev.event_data.fork.parent_tgid = b;
		ev.event_data.fork.child_pid = c;
		ev.event_data.fork.child_tgid = d;
	} else {
		ev.event_data.exit.process_pid = a;
		ev.event_data.exit.process_tgid = b;
	}
	struct cn_msg cn = {.id = {CN_IDX_PROC, CN_VAL_PROC}, .len = sizeof ev};
	struct nlmsghdr nh = {.nlmsg_len = NLMSG_LENGTH(sizeof cn + sizeof ev),
			      .nlmsg_type = NLMSG_DONE};
	memset(buf, 0, NLMSG_ALIGN(nh.nlmsg_len));
	memcpy(buf, &nh, sizeof nh);
	memcpy(buf + NLMSG_HDRLEN, &cn, sizeof cn);
	memcpy(buf + NLMSG_HDRLEN + sizeof cn, &ev, sizeof ev);
	return NLMSG_ALIGN(nh.nlmsg_len);
}

static void parser_reads_fork_exec_exit_and_skips_the_rest(void)
{
	static char buf[4096] __attribute__((aligned(8)));
	size_t len = 0;
	len += put_event(buf + len, PROC_EVENT_FORK, 10, 10, 11, 11);
	len += put_event(buf + len, PROC_EVENT_FORK, 11, 11, 12, 11); /* a thread */
	len += put_event(buf + len, PROC_EVENT_UID, 11, 11, 0, 0);    /* skipped */
	len += put_event(buf + len, PROC_EVENT_EXEC, 11, 11, 0, 0);
	len += put_event(buf + len, PROC_EVENT_EXIT, 12, 11, 0, 0);
	struct seen s = {0};
	CHECK_INT(dn_procevents_parse(buf, len, collect, &s), 4);
	CHECK_INT(s.n, 4);
	CHECK_INT(s.ev[0].kind, DN_PROCEV_FORK);
	CHECK_INT(s.ev[0].parent_tgid, 10);
	CHECK_INT(s.ev[0].pid, 11);
	CHECK_INT(s.ev[0].tgid, 11);
	CHECK_INT(s.ev[0].boot_ns, 12345);
	CHECK_INT(s.ev[1].pid, 12);
	CHECK_INT(s.ev[1].tgid, 11);
	CHECK_INT(s.ev[2].kind, DN_PROCEV_EXEC);
	CHECK_INT(s.ev[3].kind, DN_PROCEV_EXIT);
	CHECK_INT(s.ev[3].pid, 12);
	/* cut anywhere: never read past the end, whole messages only */
	for (size_t cut = 0; cut < len; cut++) {
		char *copy = malloc(cut ? cut : 1);
		memcpy(copy, buf, cut);
		struct seen t = {0};
		int n = dn_procevents_parse(copy, cut, collect, &t);
		CHECK(n >= 0 && n <= 4);
		free(copy);
	}
	/* a foreign connector message, and a length that lies */
	struct seen u = {0};
	size_t one = put_event(buf, PROC_EVENT_FORK, 1, 1, 2, 2);
	struct cn_msg cn;
	memcpy(&cn, buf + NLMSG_HDRLEN, sizeof cn);
	cn.id.idx = CN_IDX_PROC + 1;
	memcpy(buf + NLMSG_HDRLEN, &cn, sizeof cn);
	CHECK_INT(dn_procevents_parse(buf, one, collect, &u), 0);
	struct nlmsghdr nh;
	memcpy(&nh, buf, sizeof nh);
	nh.nlmsg_len = 1000000;
	memcpy(buf, &nh, sizeof nh);
	CHECK_INT(dn_procevents_parse(buf, one, collect, &u), 0);
}

struct watch {
	pid_t parent, child;
	bool fork_seen, exec_seen, exit_seen;
};

static void watch_event(const struct dn_procevent *ev, void *ctx)
{
	struct watch *w = ctx;
	if (ev->kind == DN_PROCEV_FORK && ev->parent_tgid == w->parent && ev->tgid == w->child &&
	    ev->pid == w->child)
		w->fork_seen = true;
	if (ev->kind == DN_PROCEV_EXEC && ev->tgid == w->child)
		w->exec_seen = true;
	if (ev->kind == DN_PROCEV_EXIT && ev->tgid == w->child && ev->pid == w->child)
		w->exit_seen = true;
}

static void connector_sees_a_real_fork_exec_and_exit(void)
{
	char why[160] = "";
	struct dn_procevents *pe = dn_procevents_open(why, sizeof why);
	if (!pe)
		UNIT_SKIP("no proc connector here: %s", why);
	CHECK(dn_procevents_fd(pe) >= 0);
	struct watch w = {.parent = getpid()};
	w.child = fork();
	if (w.child == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	waitpid(w.child, NULL, 0);
	/* the events were queued before the child was reaped */
	int n = dn_procevents_drain(pe, watch_event, &w);
	CHECK(n >= 3);
	CHECK(w.fork_seen);
	CHECK(w.exec_seen);
	CHECK(w.exit_seen);
	/* nothing more queued: a second drain returns at once */
	struct watch none = {.parent = -1};
	CHECK(dn_procevents_drain(pe, watch_event, &none) >= 0);
	dn_procevents_close(pe);
	dn_procevents_close(NULL);
}

static void pidset_matches_a_reference_under_random_adds_and_removes(void)
{
	enum { SPACE = 3000 };
	static bool ref[SPACE];
	struct dn_pidset s = {0};
	unsigned seed = 7;
	size_t n = 0;
	for (int i = 0; i < 200000; i++) {
		seed = seed * 1103515245u + 12345u;
		pid_t pid = (pid_t)((seed >> 8) % SPACE) + 1;
		if ((seed >> 4) & 1) {
			int r = dn_pidset_add(&s, pid);
			CHECK_INT(r, ref[pid - 1] ? 0 : 1);
			n += !ref[pid - 1];
			ref[pid - 1] = true;
		} else {
			CHECK_INT(dn_pidset_remove(&s, pid), ref[pid - 1]);
			n -= ref[pid - 1];
			ref[pid - 1] = false;
		}
		if (unit_cur_failed)
			break;
	}
	CHECK_INT(s.n, n);
	for (pid_t p = 1; p <= SPACE; p++)
		CHECK_INT(dn_pidset_has(&s, p), ref[p - 1]);
	CHECK_INT(dn_pidset_add(&s, 0), -EINVAL);
	CHECK(!dn_pidset_has(&s, 0));
	dn_pidset_clear(&s);
	CHECK(!dn_pidset_has(&s, 1));
	CHECK_INT(s.n, 0);
	dn_pidset_free(&s);
	CHECK(!dn_pidset_has(&s, 1)); /* usable after free */
	CHECK_INT(dn_pidset_add(&s, 5), 1);
	dn_pidset_free(&s);
}

static pid_t spawn_sleeper(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		execl("/bin/sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Forks a sleeper that gets `want` as its pid: ns_last_pid (root only)
 * names the pid before it. -1 when the kernel gave another. */
static pid_t spawn_sleeper_as(pid_t want)
{
	for (int tries = 0; tries < 20; tries++) {
		int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return -1;
		char s[24];
		int len = snprintf(s, sizeof s, "%d", (int)want - 1);
		ssize_t w = write(fd, s, (size_t)len);
		close(fd);
		if (w != len)
			return -1;
		pid_t pid = spawn_sleeper();
		if (pid == want)
			return pid;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return -1;
}

static bool alive(pid_t pid)
{
	siginfo_t si = {0};
	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == 0;
}

/* The Done-when of issue 13: a pid reused between a scan and a signal is
 * never signalled; the newcomer is adopted only as itself. */
static void a_reused_pid_is_not_signalled(void)
{
	if (geteuid() != 0)
		UNIT_SKIP("needs root to choose a pid (ns_last_pid)");
	pid_t a = spawn_sleeper();
	struct dn_tree t;
	struct dn_tree_opts o = {.root = a, .children = false};
	CHECK_INT(dn_tree_init(&t, &o), 0);
	CHECK_INT(dn_tree_scan(&t, 1), 1);
	uint64_t a_start = t.procs[0]->start_ticks;
	/* a ends and is reaped (by us, its parent): the tree still lists it */
	kill(a, SIGKILL);
	waitpid(a, NULL, 0);
	usleep(20000); /* a start time one tick later */
	pid_t b = spawn_sleeper_as(a);
	if (b < 0) {
		dn_tree_free(&t);
		UNIT_SKIP("could not get pid %d again", (int)a);
	}
	CHECK_INT(t.nprocs, 1);
	CHECK_INT(t.procs[0]->pid, b); /* the stale entry, same pid */
	CHECK_INT(dn_tree_signal(&t, SIGTERM, 0), 0);
	usleep(50000);
	CHECK(alive(b)); /* the newcomer was not touched */
	/* adopting the pid now names the newcomer: the old entry goes */
	CHECK_INT(dn_tree_adopt(&t, b), 0);
	CHECK_INT(t.nprocs, 1);
	CHECK_INT(t.ngone, 1);
	CHECK(t.procs[0]->start_ticks != a_start);
	CHECK_INT(dn_tree_adopt(&t, b), -EEXIST);
	CHECK_INT(dn_tree_scan(&t, 2), 1);
	CHECK_INT(t.ngone, 1); /* reported by this scan */
	CHECK(t.procs[0]->is_new);
	CHECK_INT(t.nspawned, 1);
	CHECK_INT(dn_tree_signal(&t, SIGTERM, 0), 1);
	int st = 0;
	CHECK_INT(waitpid(b, &st, 0), b);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
	CHECK_INT(dn_tree_scan(&t, 3), 0);
	CHECK_INT(t.ngone, 1);
	dn_tree_free(&t);
}

/* A root that waits for a byte on fd `go`, then forks `kids` children
 * that exit at once and one double-forked daemon that outlives its
 * parent by `daemon_ms`, then waits for them and exits. */
static pid_t spawn_forker(int go, int kids, int daemon_ms)
{
	pid_t root = fork();
	if (root != 0)
		return root;
	char c;
	if (read(go, &c, 1) != 1)
		_exit(1);
	for (int i = 0; i < kids; i++) {
		pid_t k = fork();
		if (k == 0)
			_exit(0);
		waitpid(k, NULL, 0);
	}
	pid_t mid = fork();
	if (mid == 0) {
		if (fork() == 0) {
			setsid();
			struct timespec ts = {0, daemon_ms * 1000000L};
			nanosleep(&ts, NULL);
			_exit(0);
		}
		_exit(0);
	}
	waitpid(mid, NULL, 0);
	_exit(0);
}

static void membership_counts_every_fork_of_the_tree_exactly(void)
{
	int go[2];
	CHECK_INT(pipe(go), 0);
	pid_t root = spawn_forker(go[0], 300, 400);
	close(go[0]);
	struct dn_tree t;
	struct dn_tree_opts o = {.root = root, .children = true};
	CHECK_INT(dn_tree_init(&t, &o), 0);
	struct dn_membership mb;
	dn_membership_init(&mb);
	dn_membership_start(&mb, &t, false, true);
	if (!mb.pe) {
		dn_membership_free(&mb);
		dn_tree_free(&t);
		kill(root, SIGKILL);
		waitpid(root, NULL, 0);
		close(go[1]);
		UNIT_SKIP("no proc connector: %s", mb.why);
	}
	/* the walk stays until an event of the tree shows that the connector
	 * serves this process (it ignores a child namespace without a word) */
	CHECK(t.walk_children);
	CHECK(dn_membership_source(&mb) == NULL);
	/* unrelated forks of this process are not the tree's */
	pid_t other = spawn_sleeper();
	CHECK_INT(write(go[1], "x", 1), 1);
	close(go[1]);
	/* Drained while the tree forks, as denet's loop does when the socket
	 * is readable: the connector is system-wide, and a queue left unread
	 * through 300 forks can overflow when the rest of the machine forks
	 * too (events lost: the counts become a lower bound). */
	int st = 0;
	pid_t w;
	while ((w = waitpid(root, &st, WNOHANG)) == 0) {
		dn_membership_poll(&mb);
		usleep(1000);
	}
	CHECK_INT(w, root);
	/* the root is a zombie no more; its daemon sleeps on (reparented) */
	dn_membership_sync(&mb, NULL);
	dn_tree_scan(&t, 1);
	CHECK(!t.walk_children); /* the events replace the children walk */
	CHECK_INT(mb.processes, 1 + 300 + 2);
	CHECK_INT(mb.threads, 1 + 300 + 2);
	CHECK_STR(dn_membership_source(&mb), "proc_connector");
	/* the daemon, whose parent is gone, is still a member: in the tree */
	CHECK_INT(t.nprocs, 1);
	CHECK(!dn_tree_find(&t, other));
	/* a second sync changes no count */
	dn_membership_sync(&mb, NULL);
	CHECK_INT(mb.processes, 303);
	kill(other, SIGKILL);
	waitpid(other, NULL, 0);
	dn_membership_free(&mb);
	dn_membership_free(&mb); /* idempotent */
	dn_tree_free(&t);
	/* the daemon ends by itself; it is not our child */
	usleep(450000);
}

int main(void)
{
	RUN(parser_reads_fork_exec_exit_and_skips_the_rest);
	RUN(connector_sees_a_real_fork_exec_and_exit);
	RUN(pidset_matches_a_reference_under_random_adds_and_removes);
	RUN(a_reused_pid_is_not_signalled);
	RUN(membership_counts_every_fork_of_the_tree_exactly);
	return unit_done();
}
