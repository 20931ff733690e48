/*
 * monitor.c — the life of one monitored command (see monitor.h). Owns the
 * tree, the timers, the pidfd, the copy of argv and the record buffer.
 *
 * End of a launched command: its pidfd becomes readable when it exits;
 * denet takes a last sample while it is a zombie (its CPU counters are
 * still readable), reaps it with wait4 for the exact rusage, and writes
 * the `exit` record, which is always the last line of the monitor.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pidfd.h"
#include "cgroup_reaper.h"
#include "clock.h"
#include "monitor_private.h"
#include "survivors.h"

static void on_sample_timer(struct dn_loop *loop, struct dn_timer *t, void *ctx);
static void on_pidfd(struct dn_loop *loop, int fd, uint32_t events, void *ctx);

/* Every call of a hook goes through here: the time in them is the
 * overhead's hooks_secs, and not its sampling_secs. Only the outermost
 * hook is timed: a hook may sample (p:sample()) or write a record
 * (p:mark()), which calls hooks again, and that time is the hook's. */
#define TIMED_HOOK(m, call)                                             \
	do {                                                            \
		uint64_t hook_began_ = dn_mono_ns();                    \
		(m)->hook_depth++;                                      \
		call;                                                   \
		if (--(m)->hook_depth == 0)                             \
			(m)->ov.hooks_ns += dn_mono_ns() - hook_began_; \
	} while (0)
static void on_duration(struct dn_loop *loop, struct dn_timer *t, void *ctx);

static void on_profile_events(struct dn_loop *loop, int fd, uint32_t events, void *ctx)
{
	(void)loop;
	(void)fd;
	(void)events;
	struct dn_monitor *m = ctx;
	if (m->prof)
		dn_profile_poll_events(m->prof);
}
static void on_timeout(struct dn_loop *loop, struct dn_timer *t, void *ctx);
static void on_kill_grace(struct dn_loop *loop, struct dn_timer *t, void *ctx);

static void add_cap(struct dn_monitor *m, const char *name, bool ok, const char *reason)
{
	if (m->ncaps < (int)(sizeof m->caps / sizeof m->caps[0]))
		m->caps[m->ncaps++] = (struct dn_capability){name, ok, reason};
}

/* Monitors of this process that launched a command, so that one run
 * never takes another's command or processes for its own orphans. One
 * loop thread: a plain list. */
static struct dn_monitor *launched_head;

static void register_launched(struct dn_monitor *m)
{
	m->next_launched = launched_head;
	launched_head = m;
}

static void unregister_launched(struct dn_monitor *m)
{
	for (struct dn_monitor **pp = &launched_head; *pp; pp = &(*pp)->next_launched)
		if (*pp == m) {
			*pp = m->next_launched;
			break;
		}
	m->next_launched = NULL;
}

void dn_monitor_init(struct dn_monitor *m)
{
	memset(m, 0, sizeof *m);
	m->pidfd = -1;
	m->prof_event_fd = -1;
	m->tree.fd_netdev = -1;
	dn_membership_init(&m->mb);
	m->mb_fd = -1;
	dn_psi_init(&m->psi);
	dn_perfcount_init(&m->pc);
}

static void on_membership_events(struct dn_loop *loop, int fd, uint32_t events, void *ctx)
{
	(void)loop;
	(void)fd;
	(void)events;
	struct dn_monitor *m = ctx;
	if (m->running && !m->in_hooks) /* a hook running the loop: later */
		dn_membership_poll(&m->mb);
}

static int common_init(struct dn_monitor *m, struct dn_loop *loop, const struct dn_monitor_opts *o)
{
	dn_monitor_init(m);
	m->o = *o;
	if (m->o.kill_grace_secs <= 0)
		m->o.kill_grace_secs = 5;
	m->loop = loop;
	dn_summary_init(&m->summary);
	/* Every timer now, while a failure costs nothing: once the command
	 * runs, a --timeout that cannot be set would let it run forever. */
	m->sample_timer = dn_loop_timer_new(loop, on_sample_timer, m);
	m->duration_timer = dn_loop_timer_new(loop, on_duration, m);
	m->timeout_timer = dn_loop_timer_new(loop, on_timeout, m);
	m->kill_timer = dn_loop_timer_new(loop, on_kill_grace, m);
	if (!m->sample_timer || !m->duration_timer || !m->timeout_timer || !m->kill_timer)
		return -ENOMEM;
	/* NVML, once per run, also before the command starts: the library
	 * is dlopen'ed here, not linked at build time, and nvmlInit_v2 can
	 * take a while on a real driver. Without it the records carry no
	 * `gpu`, and capabilities.gpu says why. */
	m->gpu = dn_gpu_open(m->gpu_why, sizeof m->gpu_why);
	/* The BPF task iterator, loaded before the tree exists (the tree's
	 * processes then keep no io/schedstat fds, and a tree of thousands
	 * cannot have taken the fds loading needs) and before a command is
	 * started (~10 ms: a script that starts a run and then tracks it
	 * must not find the command already forking). Asked for by name
	 * (--sampler bpf), it is there or nothing starts. */
	if (m->o.sampler == DN_SAMPLER_PROC) {
		snprintf(m->sampler_why, sizeof m->sampler_why, "disabled");
	} else {
		m->sampler = dn_tasksampler_open(m->sampler_why, sizeof m->sampler_why);
		if (!m->sampler && m->o.sampler == DN_SAMPLER_BPF)
			return errno ? -errno : -EINVAL;
	}
	return 0;
}

static int copy_argv(struct dn_monitor *m, char *const *argv, int argc)
{
	m->argv = calloc((size_t)argc + 1, sizeof *m->argv);
	if (!m->argv)
		return -ENOMEM;
	for (int i = 0; i < argc; i++) {
		m->argv[i] = strdup(argv[i]);
		if (!m->argv[i])
			return -ENOMEM;
	}
	m->argc = argc;
	return 0;
}

int dn_monitor_launch(struct dn_monitor *m, struct dn_loop *loop, const struct dn_monitor_opts *o,
		      char *const *argv, int argc, const struct dn_launch_opts *lo)
{
	int r = common_init(m, loop, o);
	if (r < 0)
		return r;
	r = copy_argv(m, argv, argc);
	if (r < 0)
		return r;
	if (dn_launch_which(argv[0], m->executable, sizeof m->executable) < 0)
		snprintf(m->executable, sizeof m->executable, "%s", argv[0]);
	struct dn_launch *pl = calloc(1, sizeof *pl);
	if (!pl)
		return -ENOMEM;
	struct dn_launch_opts lo2 = *lo;
	lo2.argv = m->argv;
	r = dn_launch_prepare(&lo2, pl);
	if (r < 0) {
		free(pl);
		return r;
	}
	m->launched = true;
	register_launched(m);
	m->pid = pl->pid;
	m->pidfd = pl->pidfd;
	m->exit.pid = m->pid;
	m->pending = pl;
	return 0;
}

static struct dn_launch *take_pending(struct dn_monitor *m)
{
	struct dn_launch *pl = m->pending;
	m->pending = NULL;
	return pl;
}

/* Whether the command's /proc/PID/NAME opens (the capabilities: with the
 * BPF sampler the tree keeps no such fd to ask). */
static bool proc_file_opens(pid_t pid, const char *name)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* --counters on the held child, enabled by its exec: the command from its
 * first instruction, and (following descendants) every process and thread
 * it starts, counted by the kernel itself, not sampled. Not fatal: the
 * capabilities say why there are none. */
static void open_counters(struct dn_monitor *m)
{
	struct dn_perfcount_opts po = {.descendants = m->o.children, .on_exec = true};
	m->pc_open = dn_perfcount_open(&m->pc, m->pid, &po, m->pc_why, sizeof m->pc_why,
				       m->pc_hw_why, sizeof m->pc_hw_why) == 0;
}

/* The tree's source of readings: the BPF task iterator common_init loaded,
 * or NULL (/proc only). */
static const struct dn_tree_source *sampler_source(struct dn_monitor *m, struct dn_tree_source *src)
{
	if (!m->sampler)
		return NULL;
	*src = dn_tasksampler_source(m->sampler);
	return src;
}

int dn_monitor_attach(struct dn_monitor *m, struct dn_loop *loop, const struct dn_monitor_opts *o,
		      pid_t pid)
{
	int r = common_init(m, loop, o);
	if (r < 0)
		return r;
	char path[64], buf[8192];
	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	/* argv from cmdline: NUL-separated */
	int argc = 0;
	char *args[256];
	if (n > 0) {
		buf[n] = '\0';
		for (ssize_t i = 0; i < n && argc < 255;) {
			args[argc++] = buf + i;
			i += (ssize_t)strlen(buf + i) + 1;
		}
	}
	r = copy_argv(m, args, argc);
	if (r < 0)
		return r;
	snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
	ssize_t l = readlink(path, m->executable, sizeof m->executable - 1);
	m->executable[l > 0 ? l : 0] = '\0';
	m->pid = pid;
	m->pidfd = dn_pidfd_open(pid);
	if (m->pidfd < 0 && errno == ESRCH)
		return -ESRCH;
	struct dn_tree_source src;
	struct dn_tree_opts to = {pid, o->children, o->since_process_start,
				  sampler_source(m, &src)};
	r = dn_tree_init(&m->tree, &to);
	return r;
}

int dn_monitor_add_output(struct dn_monitor *m, int fd)
{
	if (m->noutputs == DN_MONITOR_MAX_OUTPUTS)
		return -ENOSPC;
	struct stat st;
	off_t pos = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? lseek(fd, 0, SEEK_CUR) : -1;
	m->out_base[m->noutputs] = pos;
	m->out_bytes[m->noutputs] = 0;
	m->out_failed[m->noutputs] = false;
	m->outputs[m->noutputs++] = fd;
	return 0;
}

bool dn_monitor_outputs_gone(const struct dn_monitor *m)
{
	for (int i = 0; i < m->noutputs; i++)
		if (!m->out_failed[i])
			return false;
	return m->noutputs > 0;
}

/* After a failed write to output i (e.g. ENOSPC part-way through a record):
 * cut a regular file back to its last complete line, if nothing but our own
 * partial write lies beyond it, so the file holds only whole records. */
static void drop_partial_record(struct dn_monitor *m, int i)
{
	int fd = m->outputs[i];
	if (m->out_base[i] < 0)
		return;
	off_t good = (off_t)(m->out_base[i] + (int64_t)m->out_bytes[i]);
	off_t pos = lseek(fd, 0, SEEK_CUR);
	struct stat st;
	if (pos < good || fstat(fd, &st) != 0 || st.st_size != pos || pos == good)
		return;
	if (ftruncate(fd, good) == 0)
		lseek(fd, good, SEEK_SET);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

void dn_monitor_emit(struct dn_monitor *m, const char *line, size_t len)
{
	for (int i = 0; i < m->noutputs; i++) {
		if (m->out_failed[i])
			continue;
		int r = write_all(m->outputs[i], line, len);
		if (r == -EPIPE) {
			m->reader_gone = true;
			m->out_failed[i] = true;
		} else if (r < 0) {
			if (!m->write_error)
				m->write_error = r;
			m->out_failed[i] = true;
			drop_partial_record(m, i);
		} else
			m->out_bytes[i] += len;
	}
	if (m->hooks.on_record)
		TIMED_HOOK(m, m->hooks.on_record(m, line, len, m->hooks.ctx));
}

static void emit_line(struct dn_monitor *m)
{
	if (m->line.oom)
		return;
	dn_monitor_emit(m, m->line.data, m->line.len);
}

static void arm_next(struct dn_monitor *m)
{
	bool fast = false;
	if (m->hooks.want_fast)
		TIMED_HOOK(m, fast = m->hooks.want_fast(m, m->hooks.ctx));
	uint64_t next = dn_schedule_next(&m->sched, dn_mono_ns(), fast);
	dn_loop_timer_arm(m->sample_timer, next);
}

/* Pressure stalls: the system's, and the run's cgroup's (cgroup2 only),
 * with the triggers rules want. The first window starts here: for a
 * launched command before it is released, so its cgroup's first reading
 * is the cgroup's start (0) and the windows add up to its total. */
static void open_psi(struct dn_monitor *m)
{
	dn_psi_open(&m->psi, m->cg ? dn_cgroup_path(m->cg, NULL) : NULL, dn_mono_ns(), m->psi_why,
		    sizeof m->psi_why);
	dn_monitor_psi_triggers_start(m);
}

int dn_monitor_start(struct dn_monitor *m)
{
	if (m->launched) {
		struct dn_launch *pl = take_pending(m);
		/* The tree starts at the held child: nothing it does can be
		 * missed, because it has not done anything yet. */
		/* Its own cgroup, joined before exec: exact CPU, peak memory
		 * and OOM kills of the whole tree, short-lived children too. */
		if (!m->o.no_cgroup) {
			m->cg = dn_cgroup_create(m->cg_why, sizeof m->cg_why);
			if (m->cg && dn_cgroup_add(m->cg, m->pid) < 0) {
				snprintf(m->cg_why, sizeof m->cg_why,
					 "cannot move the command into its cgroup: %s",
					 strerror(errno));
				/* the held child may be in some leaves: out */
				dn_cgroup_reaper_add(m->loop, m->cg, true);
				m->cg = NULL;
			}
		} else {
			snprintf(m->cg_why, sizeof m->cg_why, "disabled");
		}
		struct dn_tree_source src;
		struct dn_tree_opts to = {m->pid, m->o.children, m->o.since_process_start,
					  sampler_source(m, &src)};
		int r = dn_tree_init(&m->tree, &to);
		if (r < 0) {
			dn_launch_abort(pl);
			free(pl);
			m->pidfd = -1;
			return r;
		}
		/* Members and counts from the first fork on: the connector
		 * is subscribed before the child runs. */
		dn_membership_start(&m->mb, &m->tree, m->cg != NULL, !m->o.no_fork_events);
		/* Tracked before exec: the kernel follows every fork from the
		 * first instruction on. */
		if (m->o.offcpu) {
			m->prof =
				dn_profile_open(&m->o.offcpu_opts, m->prof_why, sizeof m->prof_why);
			if (m->prof)
				dn_profile_track(m->prof, m->pid);
		}
		open_psi(m);
		if (m->o.counters)
			open_counters(m);
		m->t0_ms = dn_wall_ms();
		r = dn_launch_release(pl);
		m->pidfd = pl->pidfd;
		free(pl);
		if (r < 0)
			return r;
		/* The tree opened the child before exec: its command line was
		 * denet's. Exec has succeeded now (the error pipe closed). */
		dn_tree_reread_command(&m->tree, m->pid);
	} else {
		m->t0_ms = dn_wall_ms();
		/* Attached: the process's cgroup counts only when it holds
		 * nothing but this tree. */
		if (!m->o.no_cgroup)
			m->cg = dn_cgroup_of_tree(m->pid, m->cg_why, sizeof m->cg_why);
		open_psi(m);
		dn_membership_start(&m->mb, &m->tree, m->cg != NULL, !m->o.no_fork_events);
		/* inherit reaches only the children a task forks after the
		 * open: a running tree's existing processes would be missed */
		snprintf(m->pc_why, sizeof m->pc_why,
			 "attached: counters are for a command denet runs (perf inherit misses "
			 "the processes already running)");
	}
	/* The BPF task iterator reads every process of the tree in one pass;
	 * the tree falls back to /proc for whatever a sample lacks. */
	if (m->sampler && m->o.sampler == DN_SAMPLER_BPF)
		m->tree.read_mode = DN_READ_SOURCE_ALWAYS;
	int mfd = dn_membership_fd(&m->mb);
	/* unwatched, the events are read at each sample (dn_membership_sync) */
	if (mfd >= 0 && dn_loop_add_fd(m->loop, mfd, EPOLLIN, on_membership_events, m) == 0)
		m->mb_fd = mfd;
	if (m->o.offcpu && !m->prof) {
		/* Attached: everything already in the tree; launched: the held
		 * child was tracked before exec (see below). */
		m->prof = dn_profile_open(&m->o.offcpu_opts, m->prof_why, sizeof m->prof_why);
		for (size_t i = 0; m->prof && i < m->tree.nprocs; i++)
			dn_profile_track(m->prof, m->tree.procs[i]->pid);
	}
	m->prof_window_ms = m->t0_ms;
	if (m->prof) {
		/* If the loop cannot watch it, the events are read at each
		 * sample instead (dn_monitor_sample_now). */
		int efd = dn_profile_event_fd(m->prof);
		if (efd >= 0 && dn_loop_add_fd(m->loop, efd, EPOLLIN, on_profile_events, m) == 0)
			m->prof_event_fd = efd;
	}
	if (m->cg) {
		m->cgs_ok = dn_cgroup_read_sample(m->cg, &m->cgs) == 0;
		m->tree.prev_exact_total_ns = m->tree.exact_total_ns =
			m->cgs_ok && m->cgs.has_cpu ? m->cgs.usage_usec * 1000ull + 1 : 0;
	}
	m->running = true;
	m->processes_seen = m->tree.nprocs;
	/* a launched command was born in the first window; an attached
	 * tree's processes were there before */
	m->started_before = m->launched			   ? 0
			    : dn_membership_source(&m->mb) ? m->mb.processes
							   : m->processes_seen;
	m->start_mono_ns = dn_mono_ns();
	add_cap(m, "schedstat", proc_file_opens(m->pid, "schedstat"),
		"/proc/PID/schedstat unreadable (CONFIG_SCHEDSTATS off?)");
	add_cap(m, "io", proc_file_opens(m->pid, "io"),
		"/proc/PID/io unreadable (another user's process?)");
	add_cap(m, "exit_status", m->launched, "attached: not denet's child");
	add_cap(m, "cgroup", m->cg != NULL, m->cg_why[0] ? m->cg_why : "unavailable");
	add_cap(m, "fork_events", m->mb.pe != NULL, m->mb.why[0] ? m->mb.why : "unavailable");
	add_cap(m, "bpf_sampler", m->sampler != NULL,
		m->sampler_why[0] ? m->sampler_why : "unavailable");
	add_cap(m, "psi", m->psi.has_system || m->psi.has_cgroup,
		m->psi_why[0] ? m->psi_why : "unavailable");
	if (m->npsi_want > 0) /* p:watch rules on psi, set before the start */
		add_cap(m, "psi_triggers", m->psi_trig_why[0] == '\0', m->psi_trig_why);
	if (m->o.offcpu)
		add_cap(m, "ebpf", m->prof != NULL, m->prof_why[0] ? m->prof_why : "unavailable");
	add_cap(m, "gpu", m->gpu != NULL, m->gpu_why[0] ? m->gpu_why : "unavailable");
	if (m->o.counters) {
		add_cap(m, "counters", m->pc_open, m->pc_why[0] ? m->pc_why : "unavailable");
		add_cap(m, "hw_counters", dn_perfcount_has_hw(&m->pc),
			!m->pc_open	  ? "no software counters either"
			: m->pc_hw_why[0] ? m->pc_hw_why
					  : "unavailable");
	}
	dn_buf_reset(&m->line);
	dn_record_metadata(&m->line, m->pid, m->argv, m->argc, m->executable, m->t0_ms, m->caps,
			   m->ncaps);
	emit_line(m);
	if (m->pidfd >= 0 && dn_loop_add_fd(m->loop, m->pidfd, EPOLLIN, on_pidfd, m) < 0) {
		/* Unwatched, the pidfd would hide the exit for ever (the tree
		 * never empties while the command is an unreaped zombie): go
		 * without it, as on kernels without pidfds. A launched
		 * command's exit then comes with SIGCHLD
		 * (dn_monitor_reap_orphans), an attached one's with the scan
		 * that finds it gone. */
		close(m->pidfd);
		m->pidfd = -1;
	}
	dn_schedule_init(&m->sched, m->o.interval_ms, m->o.max_interval_ms, m->start_mono_ns);
	dn_loop_timer_arm(m->sample_timer, m->sched.deadline_ns);
	if (m->o.duration_secs > 0)
		dn_loop_timer_arm(m->duration_timer,
				  m->start_mono_ns + (uint64_t)(m->o.duration_secs * 1e9));
	if (m->o.timeout_secs > 0 && m->launched)
		dn_loop_timer_arm(m->timeout_timer,
				  m->start_mono_ns + (uint64_t)(m->o.timeout_secs * 1e9));
	return 0;
}

/* The off-CPU stacks drained since the previous window, as an `offcpu`
 * record (after the tree record of the same sample). */
static void emit_profile_window(struct dn_monitor *m, uint64_t ts_ms)
{
	if (!m->prof)
		return;
	const struct dn_profile_stack *st;
	if (dn_profile_window(m->prof, &st)) {
		dn_buf_reset(&m->line);
		dn_profile_write_record(&m->line, m->prof, ts_ms, ts_ms - m->prof_window_ms);
		emit_line(m);
	}
	dn_profile_reset_window(m->prof);
	m->prof_window_ms = ts_ms;
}

/* Whether this scan's reading of the root describes a process that has
 * exited or is exiting: a zombie, or one whose address space is already
 * gone (RSS and VSZ read 0 from then on). Such a reading is no sample of
 * the command; its end is the `exit` record's. */
static bool root_ended(struct dn_monitor *m)
{
	const struct dn_proc *root = dn_tree_root(&m->tree);
	if (!root)
		return true; /* reaped already (attached: by its own parent) */
	if (root->st.num_threads > 1)
		return false; /* only the leader exited: its threads run on */
	if (root->st.vsize > 0) {
		m->root_had_mm = true; /* a kernel thread never has one */
		return root->state == 'Z' || root->state == 'X';
	}
	return m->root_had_mm || root->state == 'Z' || root->state == 'X';
}

/* A GPU process of the run (dn_gpu_proc_memory's filter). */
static bool gpu_in_tree(pid_t pid, const void *ctx)
{
	return dn_tree_find(ctx, pid) != NULL;
}

static int sample(struct dn_monitor *m)
{
	uint64_t began = dn_mono_ns();
	if (m->cg) {
		m->cgs_ok = dn_cgroup_read_sample(m->cg, &m->cgs) == 0;
		/* +1: 0 means "no exact source" to the tree */
		m->tree.exact_total_ns =
			m->cgs_ok && m->cgs.has_cpu ? m->cgs.usage_usec * 1000ull + 1 : 0;
	}
	if (m->psi.has_system || m->psi.has_cgroup)
		dn_psi_read(&m->psi, dn_mono_ns());
	dn_membership_sync(&m->mb, m->cg);
	/* (following descendants, the sync adopted the cgroup's members) */
	if (m->waiting_survivors && !m->o.children)
		dn_survivors_adopt(m->cg, &m->tree);
	int n = dn_tree_scan(&m->tree, dn_wall_ms());
	if (m->cgs_ok && m->cgs.has_mem && m->cgs.mem_peak_kb > m->tree.agg.mem_peak_kb)
		m->tree.agg.mem_peak_kb = m->cgs.mem_peak_kb; /* a spike between samples */
	/* the last reading's cumulative CPU: at the exit, that of a reading
	 * no record describes (it would describe an exited process) */
	m->sampled_cpu_secs = m->tree.agg.cpu_secs;
	m->processes_seen += m->tree.nspawned;
	/* the window's births: every fork event, else those first sampled */
	uint64_t started = dn_membership_source(&m->mb) ? m->mb.processes : m->processes_seen;
	m->tree.agg.processes_started = started - m->started_before;
	m->started_before = started;
	/* The hooks may signal the tree (p:signal, a rule's kill): while
	 * they run, the tree stays as this scan left it (no membership
	 * sync adopts or retires under their feet, nor under ours). */
	m->in_hooks = true;
	for (size_t i = 0; i < m->tree.ngone; i++) {
		const struct dn_proc_gone *g = &m->tree.gone[i];
		if (g->birth_unreported && m->hooks.on_spawn) {
			/* born and gone between two samples: its birth first */
			struct dn_proc born = {.pid = g->pid, .ppid = g->ppid, .m = g->last};
			born.command = g->command;
			born.fd_io = born.fd_sched = born.fd_stat = born.fd_children = -1;
			TIMED_HOOK(m, m->hooks.on_spawn(m, &born, m->hooks.ctx));
		}
		if (m->hooks.on_reap)
			TIMED_HOOK(m, m->hooks.on_reap(m, g, m->hooks.ctx));
	}
	if (m->hooks.on_spawn)
		for (size_t i = 0; i < m->tree.nprocs; i++)
			if (m->tree.procs[i]->is_new)
				TIMED_HOOK(m, m->hooks.on_spawn(m, m->tree.procs[i], m->hooks.ctx));
	m->in_hooks = false;
	if (m->prof && m->prof_event_fd < 0 && dn_profile_event_fd(m->prof) >= 0)
		dn_profile_poll_events(m->prof); /* the loop could not watch them */
	if (m->prof) {
		/* maps of new and exec'd processes now, so their stacks still
		 * symbolize after they exit; then the window's stacks */
		for (size_t i = 0; i < m->tree.nprocs; i++)
			if (m->tree.procs[i]->is_new || m->tree.procs[i]->execd)
				dn_profile_capture(m->prof, m->tree.procs[i]->pid);
		dn_profile_drain(m->prof);
	}
	/* After the command's exit (wait_all), its survivors are the run:
	 * it ends when none is left. */
	if (n <= 0 || (!m->waiting_survivors && root_ended(m))) {
		/* The window's CPU counts in the sampled total (above), and
		 * its off-CPU stacks go out; the reading itself is no sample:
		 * a process that has exited has no memory, no threads. */
		emit_profile_window(m, m->tree.agg.ts_ms);
		return -ESRCH;
	}
	dn_summary_add(&m->summary, &m->tree.agg);
	if (m->gpu) {
		m->gpu_s = dn_gpu_read(m->gpu);
		m->gpu_tree_mem_bytes = dn_gpu_proc_memory(m->gpu_s, gpu_in_tree, &m->tree);
	}
	/* the counters' window is the record's: from the previous record's
	 * reading to this one's (a reading no record describes, at the
	 * exit, is left to the exit record's totals) */
	struct dn_perf_values pc_now;
	m->pc_win_ok = m->pc_open && dn_perfcount_read(&m->pc, &pc_now) == 0;
	if (m->pc_win_ok) {
		dn_perf_values_delta(&pc_now, &m->pc_prev, &m->pc_win);
		m->pc_prev = pc_now;
	}
	dn_buf_reset(&m->line);
	dn_record_tree_ext(&m->line, &m->tree, !m->o.children, m->prof, m->gpu_s,
			   m->pc_win_ok ? &m->pc_win : NULL, dn_monitor_psi(m));
	emit_line(m);
	emit_profile_window(m, m->tree.agg.ts_ms);
	m->last_sample_cost_ns = dn_mono_ns() - began;
	if (m->hooks.on_sample) {
		m->in_hooks = true;
		TIMED_HOOK(m, m->hooks.on_sample(m, m->hooks.ctx));
		m->in_hooks = false;
	}
	return 0;
}

int dn_monitor_sample_now(struct dn_monitor *m)
{
	uint64_t began = dn_mono_ns(), hooks_before = m->ov.hooks_ns;
	int r = sample(m);
	/* a sample a hook asked for is the hook's time (TIMED_HOOK) */
	if (m->hook_depth == 0) {
		uint64_t spent = dn_mono_ns() - began, in_hooks = m->ov.hooks_ns - hooks_before;
		m->ov.sampling_ns += spent > in_hooks ? spent - in_hooks : 0;
	}
	return r;
}

static void disarm_all(struct dn_monitor *m)
{
	if (m->mb_fd >= 0) {
		dn_loop_del_fd(m->loop, m->mb_fd);
		m->mb_fd = -1;
	}
	if (m->prof_event_fd >= 0) {
		dn_loop_del_fd(m->loop, m->prof_event_fd);
		m->prof_event_fd = -1;
	}
	dn_loop_timer_disarm(m->sample_timer);
	dn_loop_timer_disarm(m->duration_timer);
	dn_loop_timer_disarm(m->timeout_timer);
	dn_loop_timer_disarm(m->kill_timer);
	if (m->pidfd >= 0) {
		dn_loop_del_fd(m->loop, m->pidfd);
		close(m->pidfd);
		m->pidfd = -1;
	}
}

static void end_monitoring(struct dn_monitor *m)
{
	if (!m->running)
		return;
	m->running = false;
	disarm_all(m);
	dn_membership_stop_events(&m->mb); /* the counts are written */
	dn_monitor_psi_triggers_stop(m);
	dn_psi_close(&m->psi); /* before the cgroup goes to the reaper */
	/* NVML's device fds and library, as soon as no sample can come */
	m->gpu_s = NULL;
	dn_gpu_close(m->gpu);
	m->gpu = NULL;
	if (m->cg && m->command_done) {
		/* Gone with the command (with --wait-all, with its last
		 * survivor): survivors known to be alive move to denet's own
		 * cgroup and run on; the leaves go now, or as soon as their
		 * exiting tasks have left (the reaper's timer, not a wait
		 * here). After --duration the command keeps its cgroup until
		 * the monitor is freed. */
		dn_cgroup_reaper_add(m->loop, m->cg, m->exit.survivors > 0);
		m->cg = NULL;
	}
	if (m->hooks.on_end)
		TIMED_HOOK(m, m->hooks.on_end(m, m->hooks.ctx));
}

void dn_monitor_stop(struct dn_monitor *m)
{
	end_monitoring(m);
}

static double tv_secs(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* processes (and threads) the run started: from the fork events when
 * the connector was there, else what the samples saw. */
static void set_counts(struct dn_monitor *m, struct dn_exit_info *e)
{
	dn_membership_poll(&m->mb); /* forks not read yet */
	e->processes_source = dn_membership_source(&m->mb);
	if (e->processes_source) {
		e->processes = m->mb.processes;
		e->threads = m->mb.threads;
	} else {
		e->processes = m->processes_seen;
		e->processes_source = "sampled";
	}
}

void dn_monitor_overhead(const struct dn_monitor *m, struct dn_overhead_info *info)
{
	struct dn_overhead ov = m->ov;
	ov.missed = m->sched.missed;
	struct dn_bpf_cost bpf = {0};
	if (m->prof)
		dn_profile_bpf_cost(m->prof, &bpf);
	if (m->sampler)
		dn_tasksampler_bpf_cost(m->sampler, &bpf);
	dn_overhead_collect(info, &ov, m->prof || m->sampler ? &bpf : NULL);
}

static void write_exit(struct dn_monitor *m, int status, bool known)
{
	struct dn_exit_info *e = &m->exit;
	e->ts_ms = dn_wall_ms();
	e->pid = m->pid;
	e->known = known;
	if (known) {
		if (WIFSIGNALED(status)) {
			e->signal = WTERMSIG(status);
			e->exit_code = 128 + e->signal;
		} else {
			e->exit_code = WEXITSTATUS(status);
		}
		e->source = "rusage";
		e->cpu_user_secs = tv_secs(m->ru.ru_utime) + tv_secs(m->orphans_ru.ru_utime);
		e->cpu_system_secs = tv_secs(m->ru.ru_stime) + tv_secs(m->orphans_ru.ru_stime);
		long peak = m->ru.ru_maxrss > m->orphans_ru.ru_maxrss ? m->ru.ru_maxrss
								      : m->orphans_ru.ru_maxrss;
		e->mem_peak_kb = peak > 0 ? (uint64_t)peak : 0;
	}
	set_counts(m, e);
	if (m->cg && dn_cgroup_read(m->cg, &m->cgs) == 0) {
		/* The cgroup saw every process of the tree, however short. */
		if (m->cgs.has_cpu) {
			/* a copy: the cgroup (and its name) goes at the end */
			snprintf(m->exit_source, sizeof m->exit_source, "%s", m->cgs.source);
			e->source = m->exit_source;
			e->cpu_user_secs = (double)m->cgs.user_usec / 1e6;
			e->cpu_system_secs = (double)m->cgs.system_usec / 1e6;
		}
		if (m->cgs.has_mem && m->cgs.mem_peak_kb > e->mem_peak_kb)
			e->mem_peak_kb = m->cgs.mem_peak_kb;
		e->has_io = m->cgs.has_io;
		e->disk_read_bytes = m->cgs.io_read_bytes;
		e->disk_write_bytes = m->cgs.io_write_bytes;
		e->has_oom = m->cgs.has_oom;
		e->oom_kills = m->cgs.oom_kills;
		if (!e->source)
			e->source = "rusage";
	}
	e->duration_secs = (double)(dn_mono_ns() - m->start_mono_ns) / 1e9;
	e->sampled_cpu_secs = m->sampled_cpu_secs;
	e->sampled_mem_peak_kb = m->summary.peak_mem_rss_kb; /* what the samples saw */
	/* the last counters sampled, the reading at the exit included
	 * (max: a reading after a child left can be lower) */
	e->sampled_disk_read_bytes =
		max_u64(m->summary.total_disk_read_bytes, m->tree.agg.disk_read_bytes);
	e->sampled_disk_write_bytes =
		max_u64(m->summary.total_disk_write_bytes, m->tree.agg.disk_write_bytes);
	e->samples = m->summary.sample_count;
	if (!e->detached)
		m->command_done = true;
	/* the whole run's counts: exited processes' are in the reading (the
	 * kernel adds them up as they exit), survivors' so far */
	e->has_counters = m->pc_open && dn_perfcount_read(&m->pc, &e->counters) == 0;
	/* the last reading: a script running command after command must
	 * not keep 4-6 perf fds per finished run until it drops p */
	dn_perfcount_close(&m->pc);
	m->pc_open = false;
	dn_monitor_overhead(m, &e->overhead);
	/* the run's stalls up to its end (the last window's too) */
	if (dn_monitor_psi(m))
		dn_psi_read(&m->psi, dn_mono_ns());
	dn_buf_reset(&m->line);
	e->prof = m->prof;
	e->psi = dn_monitor_psi(m);
	dn_record_exit(&m->line, e);
	e->prof = NULL;
	e->psi = NULL;
	emit_line(m);
}

#define DENETS_CHILDREN_MAX 4096

/* denet's own children (the commands it launched, and the orphans of their
 * trees: denet is their subreaper), at most DENETS_CHILDREN_MAX. */
static int denets_children(pid_t *pids)
{
	static char buf[65536];
	char path[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	size_t len = 0;
	ssize_t r;
	while (len < sizeof buf - 1 && (r = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	int np = dn_proc_parse_children(buf, len, pids, DENETS_CHILDREN_MAX);
	return np > DENETS_CHILDREN_MAX ? DENETS_CHILDREN_MAX : np;
}

/* denet's children that are no monitor's command and in no monitor's tree:
 * orphans of a run (denet is their subreaper), adopted into m's tree, not
 * reaped (their reaper is dn_monitor_reap_orphans). With several monitors
 * and neither cgroups nor fork events, one of them might be another run's
 * orphan: nothing tells whose. */
static void adopt_denets_orphans(struct dn_monitor *m)
{
	static pid_t pids[DENETS_CHILDREN_MAX]; /* one loop thread */
	int np = denets_children(pids);
	for (int i = 0; i < np; i++) {
		bool known = false;
		for (struct dn_monitor *o = launched_head; o && !known; o = o->next_launched)
			known = o->pid == pids[i] || dn_tree_find(&o->tree, pids[i]);
		if (!known)
			dn_tree_adopt(&m->tree, pids[i]);
	}
}

static void on_command_exit(struct dn_monitor *m)
{
	/* A last reading while the command is a zombie: its CPU counters
	 * are final, so the sampled CPU total reaches its end. It writes no
	 * record (see root_ended): the `exit` record is the end. */
	dn_monitor_sample_now(m);
	int status = 0;
	bool known = false;
	if (m->launched) {
		pid_t r;
		do
			r = wait4(m->pid, &status, 0, &m->ru);
		while (r < 0 && errno == EINTR);
		known = r == m->pid;
	}
	/* Without a cgroup or fork events, the run's orphans that no sample
	 * saw are known only as denet's children (it is their subreaper):
	 * adopted now, so they are survivors. */
	if (!m->cg && !dn_membership_source(&m->mb) && m->launched)
		adopt_denets_orphans(m);
	/* Before the cgroup goes (end_monitoring): what outlives the
	 * command runs on, unmonitored; the record names it. */
	dn_survivors_collect(&m->exit, m->cg, &m->tree, m->pid);
	if (m->run_killed) {
		/* cgroup.kill reached every member, forks in flight too: what
		 * the cgroup still lists is dying, and survives nothing */
		m->exit.survivors = 0;
		m->exit.nsurvivors_listed = 0;
		m->exit.survivors_source = NULL;
	}
	if (m->o.wait_all && m->exit.survivors > 0) {
		/* Follow the survivors; the exit record waits for the last. The
		 * root's pidfd stays readable once it is reaped: out of the
		 * loop. The sample timer goes on. */
		m->waiting_survivors = true;
		m->root_known = known;
		m->root_status = status;
		if (m->pidfd >= 0) {
			dn_loop_del_fd(m->loop, m->pidfd);
			close(m->pidfd);
			m->pidfd = -1;
		}
		dn_survivors_adopt(m->cg, &m->tree);
		return;
	}
	write_exit(m, status, known);
	end_monitoring(m);
}

/* The end of a wait_all run: the exit record with the command's own
 * status. `list` names who is still alive (monitoring was cut short by
 * --duration, a detach or an abort); else the tree is empty. */
static void finish_survivors(struct dn_monitor *m, bool list)
{
	m->waiting_survivors = false;
	if (list)
		dn_survivors_collect(&m->exit, m->cg, &m->tree, m->pid);
	else
		m->exit.survivors = 0;
	write_exit(m, m->root_status, m->root_known);
	end_monitoring(m);
}

static void on_pidfd(struct dn_loop *loop, int fd, uint32_t events, void *ctx)
{
	(void)loop;
	(void)fd;
	(void)events;
	struct dn_monitor *m = ctx;
	if (m->running)
		on_command_exit(m);
}

static void on_sample_timer(struct dn_loop *loop, struct dn_timer *t, void *ctx)
{
	(void)loop;
	(void)t;
	struct dn_monitor *m = ctx;
	if (!m->running)
		return;
	const struct dn_schedule *sc = &m->sched;
	dn_overhead_sample_start(&m->ov, sc->deadline_ns, dn_mono_ns(),
				 dn_schedule_interval(sc, sc->deadline_ns - sc->start_ns));
	int r = dn_monitor_sample_now(m);
	if (r == -ESRCH && m->waiting_survivors) {
		finish_survivors(m, false);
		return;
	}
	if (r == -ESRCH && m->pidfd < 0) {
		/* No pidfd to tell us: the tree is empty, the process is gone.
		 * With wait_all and survivors, monitoring goes on: the next
		 * sample is still this timer's (it went unarmed before, and a
		 * run without pidfds — valgrind, Linux < 5.3 — hung). */
		on_command_exit(m);
		if (m->running)
			arm_next(m);
		return;
	}
	if (m->running)
		arm_next(m);
}

static void on_duration(struct dn_loop *loop, struct dn_timer *t, void *ctx)
{
	(void)loop;
	(void)t;
	struct dn_monitor *m = ctx;
	if (m->waiting_survivors)
		finish_survivors(m, true); /* the command's exit is known */
	else
		end_monitoring(m);
}

int dn_monitor_detach(struct dn_monitor *m)
{
	if (!m->running || m->command_done)
		return -ESRCH;
	if (m->waiting_survivors) {
		/* the command has exited: its record, naming who runs on */
		finish_survivors(m, true);
		return 0;
	}
	if (m->prof) { /* the off-CPU intervals up to now */
		dn_profile_drain(m->prof);
		emit_profile_window(m, dn_wall_ms());
	}
	m->exit.detached = true;
	write_exit(m, 0, false);
	/* It runs on, in the cgroup denet runs in: the run's own cgroup
	 * would otherwise hold it until it exits (or be left behind). */
	dn_cgroup_reaper_add(m->loop, m->cg, true); /* attached: only freed */
	m->cg = NULL;
	end_monitoring(m);
	return 0;
}

/* The command denet launched, while it is denet's unreaped child: by its
 * pidfd, or by pid where there is none (a pid is not reused before its
 * parent reaps it, and denet is that parent). 0 or -errno; -ESRCH once
 * it is reaped (wait_all) or when it is not denet's. */
static int signal_command(struct dn_monitor *m, int sig)
{
	if (!m->launched || m->pid <= 0 || m->command_done || m->waiting_survivors)
		return -ESRCH;
	int r = m->pidfd >= 0 ? dn_pidfd_signal(m->pidfd, sig) : kill(m->pid, sig);
	return r == 0 ? 0 : -errno;
}

int dn_monitor_signal_tree(struct dn_monitor *m, int sig)
{
	/* Who is in the run now, not at the last sample: queued fork events
	 * and the cgroup's list join the tree first. */
	if (m->running && !m->in_hooks)
		dn_membership_sync(&m->mb, m->cg);
	int sent = signal_command(m, sig) == 0;
	/* everyone else by a checked pidfd (proctree.h) */
	sent += dn_tree_signal(&m->tree, sig, sent ? m->pid : 0);
	/* SIGKILL reaches what forked since, too: the kernel kills the
	 * cgroup's members atomically (cgroup.kill). */
	if (sig == SIGKILL && m->cg && m->running && dn_cgroup_kill(m->cg) == 0 &&
	    dn_cgroup_kills_atomically(m->cg))
		m->run_killed = true;
	return sent;
}

static void on_kill_grace(struct dn_loop *loop, struct dn_timer *t, void *ctx)
{
	(void)loop;
	(void)t;
	struct dn_monitor *m = ctx;
	if (!m->command_done)
		dn_monitor_signal_tree(m, SIGKILL);
}

void dn_monitor_terminate(struct dn_monitor *m)
{
	dn_monitor_signal_tree(m, SIGTERM);
	dn_loop_timer_arm(m->kill_timer, dn_mono_ns() + (uint64_t)(m->o.kill_grace_secs * 1e9));
}

void dn_monitor_abort(struct dn_monitor *m)
{
	if (!m->running)
		return;
	if (m->waiting_survivors) {
		dn_monitor_signal_tree(m, SIGKILL);
		finish_survivors(m, true);
	} else if (m->launched && !m->command_done) {
		/* no loop to time a grace period with: SIGKILL, then reap it
		 * as on any exit (blocking wait4), the exit record included */
		dn_monitor_signal_tree(m, SIGKILL);
		siginfo_t si;
		while (waitid(P_PID, (id_t)m->pid, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
			; /* a zombie now: the last reading sees its end */
		on_command_exit(m);
	} else {
		end_monitoring(m);
	}
}

static void on_timeout(struct dn_loop *loop, struct dn_timer *t, void *ctx)
{
	(void)loop;
	(void)t;
	struct dn_monitor *m = ctx;
	m->timed_out = true;
	dn_monitor_terminate(m);
}

void dn_monitor_on_signal(struct dn_monitor *m, const struct signalfd_siginfo *si)
{
	int sig = (int)si->ssi_signo;
	if (!m->running)
		return;
	if (!m->launched) {
		dn_monitor_stop(m); /* attached: leave the process alone */
		return;
	}
	/* A terminal's ^C (or ^\) already reached the whole foreground
	 * process group, the command included: forwarding it would deliver
	 * it twice. */
	if (si->ssi_code == SI_KERNEL && (sig == SIGINT || sig == SIGQUIT))
		return;
	if (m->waiting_survivors)
		dn_monitor_signal_tree(m, sig); /* the command is gone: to them */
	else
		signal_command(m, sig);
}

int dn_monitor_mark(struct dn_monitor *m, const char *label)
{
	/* `exit` is the last line of a monitor, and `metadata` the first. */
	if (m->command_done || m->exit.detached || !m->t0_ms)
		return -ESRCH;
	dn_buf_reset(&m->line);
	dn_record_mark(&m->line, dn_wall_ms(), label);
	emit_line(m);
	return 0;
}

static void add_rusage(struct rusage *acc, const struct rusage *r)
{
	acc->ru_utime.tv_sec += r->ru_utime.tv_sec;
	acc->ru_utime.tv_usec += r->ru_utime.tv_usec;
	acc->ru_stime.tv_sec += r->ru_stime.tv_sec;
	acc->ru_stime.tv_usec += r->ru_stime.tv_usec;
	if (r->ru_maxrss > acc->ru_maxrss)
		acc->ru_maxrss = r->ru_maxrss;
}

void dn_monitor_reap_orphans(struct dn_monitor **mons, int n)
{
	static pid_t pids[DENETS_CHILDREN_MAX]; /* one loop thread */
	int np = denets_children(pids);
	for (int i = 0; i < np; i++) {
		pid_t pid = pids[i];
		struct dn_monitor *cmd_of = NULL;
		for (int k = 0; k < n; k++)
			if (mons[k]->launched && mons[k]->pid == pid)
				cmd_of = mons[k];
		if (cmd_of) {
			/* Its monitor reaps it after the last sample; without a
			 * pidfd (old kernels, valgrind) this is where it learns
			 * that the command exited. */
			siginfo_t si = {0};
			if (cmd_of->pidfd < 0 && cmd_of->running && !cmd_of->command_done &&
			    !cmd_of->waiting_survivors &&
			    waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
			    si.si_pid == pid)
				on_command_exit(cmd_of);
			continue;
		}
		/* Whose is it? The monitor that knew it, else the first one
		 * that launched a command and still runs (orphans only come
		 * from trees denet launched). */
		struct dn_monitor *owner = NULL;
		for (int k = 0; k < n && !owner; k++)
			if (dn_tree_find(&mons[k]->tree, pid))
				owner = mons[k];
		for (int k = 0; k < n && !owner; k++)
			if (mons[k]->launched && mons[k]->running)
				owner = mons[k];
		siginfo_t si = {0};
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid == pid) {
			struct rusage ru;
			if (wait4(pid, NULL, WNOHANG, &ru) == pid && owner) {
				add_rusage(&owner->orphans_ru, &ru);
				owner->tree.reaped_by_denet_ns +=
					(uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) *
						1000000000ull +
					(uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) *
						1000ull;
			}
		} else if (owner && owner->running && !dn_tree_find(&owner->tree, pid)) {
			/* Alive and unknown: its parent died between two scans. */
			dn_tree_adopt(&owner->tree, pid);
		}
	}
}

void dn_monitor_free(struct dn_monitor *m)
{
	if (!m)
		return;
	unregister_launched(m);
	struct dn_launch *pl = take_pending(m);
	if (pl) {
		dn_launch_abort(pl);
		free(pl);
		m->pidfd = -1;
	}
	if (m->pidfd >= 0) {
		if (m->loop)
			dn_loop_del_fd(m->loop, m->pidfd);
		close(m->pidfd);
	}
	/* A command still running in it (after --duration, or a monitor
	 * freed early) runs on in denet's cgroup; exiting tasks are waited
	 * for by the reaper, not here. */
	dn_cgroup_reaper_add(m->loop, m->cg, true);
	m->cg = NULL;
	if (m->mb_fd >= 0 && m->loop)
		dn_loop_del_fd(m->loop, m->mb_fd);
	dn_membership_free(&m->mb);
	dn_monitor_psi_triggers_stop(m);
	dn_psi_close(&m->psi);
	if (m->prof_event_fd >= 0 && m->loop)
		dn_loop_del_fd(m->loop, m->prof_event_fd);
	dn_profile_close(m->prof);
	dn_loop_timer_free(m->sample_timer);
	dn_loop_timer_free(m->duration_timer);
	dn_loop_timer_free(m->timeout_timer);
	dn_loop_timer_free(m->kill_timer);
	dn_tree_free(&m->tree);
	dn_tasksampler_close(m->sampler); /* after the tree, which follows through it */
	dn_gpu_close(m->gpu);		  /* nvmlShutdown, dlclose */
	m->gpu_s = NULL;
	dn_perfcount_close(&m->pc);
	/* NULL-terminated (calloc): also frees a copy that failed half-way */
	for (int i = 0; m->argv && m->argv[i]; i++)
		free(m->argv[i]);
	free(m->argv);
	dn_buf_free(&m->line);
	dn_monitor_init(m);
}
