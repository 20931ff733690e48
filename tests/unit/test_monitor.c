/*
 * test_monitor.c — the monitor's life cycle (engine/run/monitor.c) on the paths
 * where nothing is monitored: an initialised monitor owns no fd, and every
 * failed launch or attach, freed once or twice, closes only what it opened.
 * Standard input is a pipe during these tests, so closing fd 0 by mistake
 * (a zero-filled struct reads as "fd 0") shows as a broken pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loop.h"
#include "monitor_private.h" /* white-box: the closed state's fields */
#include "unit.h"

static int pipe_w = -1; /* the write end of the pipe on fd 0 */

/* fd 0 is still the pipe: what goes in comes out. */
static void check_stdin_intact(void)
{
	CHECK(fcntl(0, F_GETFD) != -1);
	char c = 0;
	CHECK(write(pipe_w, "x", 1) == 1);
	CHECK(read(0, &c, 1) == 1);
	CHECK_INT(c, 'x');
}

static int count_open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) != -1;
	return n;
}

static void test_init_owns_no_fd(void)
{
	struct dn_monitor m;
	memset(&m, 0, sizeof m); /* what calloc or `= {0}` would give */
	dn_monitor_init(&m);
	CHECK_INT(m.pidfd, -1);
	CHECK_INT(m.prof_event_fd, -1);
	CHECK_INT(m.tree.fd_netdev, -1);
	for (int i = 0; i < DN_PSI_NRES; i++)
		CHECK(m.psi.sys.fd[i] == -1 && m.psi.cg.fd[i] == -1);
	for (int i = 0; i < DN_PSI_MAX_TRIGGERS; i++)
		CHECK(m.psi.trig[i].fd == -1 && !m.psi_trig_in_loop[i]);
	int before = count_open_fds();
	dn_monitor_free(&m);
	dn_monitor_free(&m); /* idempotent */
	CHECK_INT(count_open_fds(), before);
	check_stdin_intact();
}

static void test_failed_attach_and_launch(void)
{
	/* a pid that existed a moment ago and is gone now (forked before
	 * anything is allocated: valgrind checks the child's leaks too) */
	pid_t gone = fork();
	if (gone == 0)
		_exit(0);
	waitpid(gone, NULL, 0);

	struct dn_loop *loop = dn_loop_new(NULL, NULL, NULL);
	CHECK(loop != NULL);
	if (!loop)
		return;
	int before = count_open_fds();
	struct dn_monitor_opts o = {
		.interval_ms = 100, .max_interval_ms = 1000, .children = true, .no_cgroup = true};
	struct dn_monitor m;
	dn_monitor_init(&m);
	CHECK_INT(dn_monitor_attach(&m, loop, &o, gone), -ESRCH);
	dn_monitor_free(&m);
	dn_monitor_free(&m);
	CHECK_INT(count_open_fds(), before);
	check_stdin_intact();

	/* exec fails: the launch is fine, the start reports it */
	static char cmd[] = "/nonexistent/denet-test-command";
	char *argv[] = {cmd, NULL};
	struct dn_launch_opts lo = {.stdout_fd = -1, .stderr_fd = -1};
	dn_monitor_init(&m);
	CHECK_INT(dn_monitor_launch(&m, loop, &o, argv, 1, &lo), 0);
	CHECK_INT(dn_monitor_start(&m), -ENOENT);
	dn_monitor_free(&m);
	dn_monitor_free(&m);
	CHECK_INT(count_open_fds(), before);
	check_stdin_intact();

	/* launched, never started: the held child is killed and reaped */
	dn_monitor_init(&m);
	CHECK_INT(dn_monitor_launch(&m, loop, &o, argv, 1, &lo), 0);
	pid_t child = m.pid;
	dn_monitor_free(&m);
	CHECK(kill(child, 0) == -1 && errno == ESRCH);
	CHECK_INT(count_open_fds(), before);
	check_stdin_intact();
	dn_loop_free(loop);
}

int main(void)
{
	int p[2];
	if (pipe(p) < 0 || dup2(p[0], 0) < 0)
		return 2;
	close(p[0]);
	pipe_w = p[1];
	signal(SIGPIPE, SIG_IGN);
	RUN(test_init_owns_no_fd);
	RUN(test_failed_attach_and_launch);
	return unit_done();
}
