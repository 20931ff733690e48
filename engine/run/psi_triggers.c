/*
 * psi_triggers.c — the kernel's PSI triggers for p:watch rules on pressure
 * stalls (metric "psi.RES.some" and the like): the event-driven half of
 * those rules. A rule is still judged on the samples (rules.c, on each
 * window's stall share); a trigger only brings the next sample forward
 * when the kernel reports the stall crossing the rule's threshold, so a
 * stall is judged within the trigger's window (1 s) rather than at the next
 * scheduled sample, which adaptive sampling spaces up to --max-interval.
 *
 * Owns the monitor's list of wanted triggers (psi_want) and their place in
 * the loop; the trigger fds themselves belong to m->psi (psi.c), which
 * closes them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include "clock.h"
#include "monitor_private.h"

static void on_psi_trigger(struct dn_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct dn_monitor *m = ctx;
	if (events & (EPOLLERR | EPOLLHUP)) {
		/* the cgroup went (an attached scope emptied and removed):
		 * kernfs reports an error for ever, and a level-triggered fd
		 * would wake the loop at once, again and again. Its rule goes
		 * on being judged on the samples. */
		dn_loop_del_fd(loop, fd);
		for (int i = 0; i < m->psi.ntrig; i++)
			if (m->psi.trig[i].fd == fd)
				m->psi_trig_in_loop[i] = false;
		return;
	}
	/* a hook running the loop (its p:sleep): the sample it is part of
	 * comes first */
	if (!m->running || m->in_hooks)
		return;
	uint64_t now = dn_mono_ns();
	if (m->sched.deadline_ns <= now)
		return; /* a sample is due anyway */
	/* the schedule goes on from here (deadlines advance from this one) */
	m->sched.deadline_ns = now;
	dn_loop_timer_arm(m->sample_timer, now);
	m->psi_wakeups++;
}

/* Sets one wanted trigger in the kernel and the loop; 0 or -errno. */
static int install(struct dn_monitor *m, const struct dn_psi_want *w)
{
	const char *dir = NULL;
	if (!w->system) {
		if (!m->psi.has_cgroup || !m->cg)
			return -ENOENT; /* no cgroup PSI: the rule reads 0 */
		dir = dn_cgroup_path(m->cg, NULL);
	}
	int fd = dn_psi_trigger_add(&m->psi, dir, (enum dn_psi_res)w->res, w->full, w->pct);
	if (fd < 0)
		return fd;
	/* in the psi's list now, closed with it; unwatched, it is inert */
	int r = dn_loop_add_fd(m->loop, fd, EPOLLPRI, on_psi_trigger, m);
	if (r < 0)
		return r;
	m->psi_trig_in_loop[m->psi.ntrig - 1] = true;
	return 0;
}

int dn_monitor_psi_trigger(struct dn_monitor *m, bool system, int res, bool full, double pct)
{
	if (m->npsi_want >= DN_PSI_MAX_TRIGGERS)
		return -ENOSPC;
	if (!(pct > 0 && pct < 100) || res < 0 || res >= DN_PSI_NRES)
		return -EINVAL;
	struct dn_psi_want *w = &m->psi_want[m->npsi_want++];
	*w = (struct dn_psi_want){system, full, res, pct};
	/* before the start, psi_triggers_start sets it */
	return m->running ? install(m, w) : 0;
}

int dn_monitor_psi_triggers_start(struct dn_monitor *m)
{
	int first = 0;
	for (int i = 0; i < m->npsi_want; i++) {
		int r = install(m, &m->psi_want[i]); /* a failed one leaves its rule polled */
		if (r < 0 && !first) {
			first = r;
			if (r == -ENOENT && !m->psi_want[i].system)
				snprintf(m->psi_trig_why, sizeof m->psi_trig_why,
					 "the run has no cgroup2 pressure files");
			else
				snprintf(m->psi_trig_why, sizeof m->psi_trig_why, "%s: %s",
					 m->psi_want[i].system ? "/proc/pressure" : "cgroup",
					 strerror(-r));
		}
	}
	return first;
}

void dn_monitor_psi_triggers_stop(struct dn_monitor *m)
{
	for (int i = 0; i < DN_PSI_MAX_TRIGGERS; i++) {
		if (m->psi_trig_in_loop[i] && m->loop)
			dn_loop_del_fd(m->loop, m->psi.trig[i].fd);
		m->psi_trig_in_loop[i] = false;
	}
}
