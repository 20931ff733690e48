/*
 * monitor_view.c — the monitor's public face (monitor.h): a monitor on
 * the heap for callers outside the run layer, and the accessors through
 * which they read it. Owns nothing of its own: dn_monitor_destroy hands
 * everything to dn_monitor_free (monitor.c) and frees the struct.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "monitor_private.h"

struct dn_monitor *dn_monitor_new(void)
{
	struct dn_monitor *m = malloc(sizeof *m);
	if (!m) {
		errno = ENOMEM;
		return NULL;
	}
	dn_monitor_init(m);
	return m;
}

void dn_monitor_destroy(struct dn_monitor *m)
{
	if (!m)
		return;
	dn_monitor_free(m);
	free(m);
}

const struct dn_monitor_hooks *dn_monitor_get_hooks(const struct dn_monitor *m)
{
	return &m->hooks;
}

void dn_monitor_set_hooks(struct dn_monitor *m, const struct dn_monitor_hooks *h)
{
	m->hooks = *h;
}

const struct dn_monitor_opts *dn_monitor_opts(const struct dn_monitor *m)
{
	return &m->o;
}

pid_t dn_monitor_pid(const struct dn_monitor *m)
{
	return m->pid;
}

char *const *dn_monitor_argv(const struct dn_monitor *m, int *argc)
{
	*argc = m->argc;
	return m->argv;
}

bool dn_monitor_running(const struct dn_monitor *m)
{
	return m->running;
}

bool dn_monitor_launched(const struct dn_monitor *m)
{
	return m->launched;
}

bool dn_monitor_command_done(const struct dn_monitor *m)
{
	return m->command_done;
}

bool dn_monitor_timed_out(const struct dn_monitor *m)
{
	return m->timed_out;
}

const struct dn_tree *dn_monitor_tree(const struct dn_monitor *m)
{
	return &m->tree;
}

double dn_monitor_elapsed_secs(const struct dn_monitor *m)
{
	return m->start_mono_ns ? (double)(dn_mono_ns() - m->start_mono_ns) / 1e9 : 0;
}

bool dn_monitor_capability(const struct dn_monitor *m, const char *name)
{
	for (int i = 0; i < m->ncaps; i++)
		if (strcmp(m->caps[i].name, name) == 0)
			return m->caps[i].ok;
	return false;
}

const char *dn_monitor_capability_reason(const struct dn_monitor *m, const char *name)
{
	for (int i = 0; i < m->ncaps; i++)
		if (strcmp(m->caps[i].name, name) == 0)
			return m->caps[i].ok ? NULL : m->caps[i].reason;
	return NULL;
}

const char *dn_monitor_sampler_error(const struct dn_monitor *m)
{
	return m->o.sampler == DN_SAMPLER_BPF && !m->sampler && m->sampler_why[0] ? m->sampler_why
										  : NULL;
}

uint64_t dn_monitor_sample_cost_ns(const struct dn_monitor *m)
{
	return m->last_sample_cost_ns;
}

const struct dn_summary *dn_monitor_summary(const struct dn_monitor *m)
{
	return &m->summary;
}

const struct dn_exit_info *dn_monitor_exit(const struct dn_monitor *m)
{
	return &m->exit;
}

/* The sampled part of an `exit` record, without the exit: the figures
 * p:wait() and exit callbacks report when monitoring ended otherwise
 * (--duration, an attached process's monitoring stopped, denet.stop()). */
void dn_monitor_sampled_totals(const struct dn_monitor *m, struct dn_exit_info *e)
{
	memset(e, 0, sizeof *e);
	e->pid = m->pid;
	e->ts_ms = dn_wall_ms();
	e->duration_secs = dn_monitor_elapsed_secs(m);
	e->sampled_cpu_secs = m->sampled_cpu_secs;
	e->sampled_mem_peak_kb = m->summary.peak_mem_rss_kb;
	e->sampled_disk_read_bytes = m->summary.total_disk_read_bytes;
	e->sampled_disk_write_bytes = m->summary.total_disk_write_bytes;
	e->samples = m->summary.sample_count;
	dn_monitor_overhead(m, &e->overhead);
}

struct dn_profile *dn_monitor_profile(const struct dn_monitor *m, const char **why)
{
	if (why)
		*why = m->prof ? NULL : m->prof_why;
	return m->prof;
}

const struct dn_psi *dn_monitor_psi(const struct dn_monitor *m)
{
	return m->psi.has_system || m->psi.has_cgroup ? &m->psi : NULL;
}

const struct dn_gpu_sample *dn_monitor_gpu(const struct dn_monitor *m, uint64_t *tree_mem_bytes)
{
	if (tree_mem_bytes)
		*tree_mem_bytes = m->gpu_s ? m->gpu_tree_mem_bytes : 0;
	return m->gpu_s;
}

int dn_monitor_write_error(const struct dn_monitor *m)
{
	return m->write_error;
}

bool dn_monitor_reader_gone(const struct dn_monitor *m)
{
	return m->reader_gone;
}

const struct dn_perf_values *dn_monitor_counters(const struct dn_monitor *m)
{
	return m->pc_win_ok ? &m->pc_win : NULL;
}
