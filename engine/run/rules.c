/*
 * rules.c — threshold rules (see rules.h). Owns the rule array; the
 * monitor it evaluates against is borrowed.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "json.h"
#include "metrics.h"
#include "monitor_private.h"
#include "rules.h"
#include "syscall_table.h"
#include "systrace.h"

void dn_rules_init(struct dn_rules *rs)
{
	memset(rs, 0, sizeof *rs);
}

void dn_rules_free(struct dn_rules *rs)
{
	free(rs->v);
	memset(rs, 0, sizeof *rs);
}

/* The watchable metrics and which of them scope "any" takes are the
 * schema's `watch` column (metrics_schema.h). */
int dn_rules_set_metric(struct dn_rule *r, const char *metric, bool scope_any)
{
	if (strcmp(metric, "syscall_rate") == 0) {
		/* from the syscall tracker, not the sample: the tree's only */
		if (scope_any)
			return -EINVAL;
		snprintf(r->metric, sizeof r->metric, "%s", metric);
		r->syscall_rate = true;
		r->syscall_nr = -1;
		r->is_double = true;
		return 0;
	}
	if (strcmp(metric, "gpu_memory_bytes") == 0) {
		/* from NVML, not the sample: the tree's processes only */
		if (scope_any)
			return -EINVAL;
		snprintf(r->metric, sizeof r->metric, "%s", metric);
		r->gpu_memory = true;
		return 0;
	}
	const struct dn_metric_info *f = dn_metrics_find(metric);
	if (!f || f->watch == DN_METRIC_NO)
		return -ENOENT;
	if (scope_any && f->watch != DN_METRIC_ANY)
		return -EINVAL;
	snprintf(r->metric, sizeof r->metric, "%s", metric);
	r->offset = f->offset;
	r->is_double = f->type == DN_METRIC_PCT || f->type == DN_METRIC_SECS;
	r->scope_any = scope_any;
	return 0;
}

int dn_rules_set_syscall(struct dn_rule *r, const char *name)
{
	if (!r->syscall_rate)
		return -EINVAL;
	if (!name) {
		r->syscall_nr = -1;
		return 0;
	}
	int nr = dn_syscall_by_name(name);
	if (nr < 0)
		return -ENOENT;
	r->syscall_nr = nr;
	return 0;
}

int dn_rules_set_action(struct dn_rule *r, const char *action)
{
	if (!action)
		r->action = DN_ACTION_NONE;
	else if (strcmp(action, "stop") == 0)
		r->action = DN_ACTION_STOP;
	else if (strcmp(action, "term") == 0)
		r->action = DN_ACTION_TERM;
	else if (strcmp(action, "kill") == 0)
		r->action = DN_ACTION_KILL;
	else
		return -EINVAL;
	return 0;
}

int dn_rules_add(struct dn_rules *rs, const struct dn_rule *r, const char *name)
{
	if (rs->n == rs->cap) {
		int ncap = rs->cap ? rs->cap * 2 : 4;
		struct dn_rule *nv = realloc(rs->v, (size_t)ncap * sizeof *nv);
		if (!nv)
			return -ENOMEM;
		rs->v = nv;
		rs->cap = ncap;
	}
	struct dn_rule *d = &rs->v[rs->n++];
	*d = *r;
	d->index = rs->n;
	if (name)
		snprintf(d->name, sizeof d->name, "%s", name);
	else
		snprintf(d->name, sizeof d->name, "%d", d->index);
	d->firing = false;
	d->holding_since_ms = 0;
	d->have_prev = false;
	return d->index;
}

int dn_rules_parse_size(const char *s, const char *metric, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno || !isfinite(v))
		return -EINVAL;
	while (*end == ' ')
		end++;
	double mult = 1;
	if (*end) {
		switch (*end) {
		case 'k':
		case 'K': mult = 1024.0; break;
		case 'm':
		case 'M': mult = 1024.0 * 1024; break;
		case 'g':
		case 'G': mult = 1024.0 * 1024 * 1024; break;
		case 't':
		case 'T': mult = 1024.0 * 1024 * 1024 * 1024; break;
		case 'b':
		case 'B': mult = 1; break;
		default: return -EINVAL;
		}
		end++;
		if ((*end == 'i' || *end == 'I') && (end[1] == 'B' || end[1] == 'b'))
			end += 2;
		else if (*end == 'B' || *end == 'b')
			end++;
		if (*end)
			return -EINVAL;
		size_t ml = strlen(metric);
		bool is_kb = ml > 3 && strcmp(metric + ml - 3, "_kb") == 0;
		bool is_bytes = ml > 6 && strcmp(metric + ml - 6, "_bytes") == 0;
		if (is_kb)
			mult /= 1024.0;
		else if (!is_bytes)
			return -ERANGE;
	}
	*out = v * mult;
	return 0;
}

static double field(const struct dn_metrics *m, const struct dn_rule *r)
{
	const char *p = (const char *)m + r->offset;
	/* cpu_usage as the sample records carry it (2 decimals), so a rule
	 * judges, and an alert reports, the figure the user sees. */
	if (r->is_double)
		return dn_metrics_round(*(const double *)(const void *)p, 2);
	return (double)*(const uint64_t *)(const void *)p;
}

/* Syscalls per second of the last window (2 decimals, as written); 0
 * without syscall tracking. */
static double syscall_rate(const struct dn_rule *r, const struct dn_monitor *m)
{
	const struct dn_systrace *sys = m->prof ? dn_profile_systrace(m->prof) : NULL;
	return sys ? dn_metrics_round(dn_systrace_rate(sys, r->syscall_nr), 2) : 0;
}

/* The rule's value on the latest sample, and the process it belongs to. */
static double rule_value(const struct dn_rule *r, const struct dn_monitor *m, pid_t *pid)
{
	const struct dn_tree *t = &m->tree;
	*pid = m->pid;
	if (r->syscall_rate)
		return syscall_rate(r, m);
	if (r->gpu_memory) /* 0 without NVML */
		return (double)m->gpu_tree_mem_bytes;
	if (!r->scope_any)
		return field(&t->agg, r);
	double best = 0;
	for (size_t i = 0; i < t->nprocs; i++) {
		double v = field(&t->procs[i]->m, r);
		if (i == 0 || v > best) {
			best = v;
			*pid = t->procs[i]->pid;
		}
	}
	return best;
}

static void write_alert(struct dn_monitor *m, const struct dn_alert *a)
{
	struct dn_buf b = {0};
	struct dn_json j;
	dn_json_init(&j, &b);
	dn_json_obj_begin(&j);
	dn_json_key(&j, "kind");
	dn_json_str(&j, "alert");
	dn_json_key(&j, "ts_ms");
	dn_json_uint(&j, a->ts_ms);
	dn_json_key(&j, "rule");
	dn_json_str(&j, a->rule_name);
	dn_json_key(&j, "metric");
	dn_json_str(&j, a->metric);
	dn_json_key(&j, "state");
	dn_json_str(&j, a->fire ? "fire" : "clear");
	dn_json_key(&j, "value");
	dn_json_double(&j, a->value);
	dn_json_key(&j, "threshold");
	dn_json_double(&j, a->threshold);
	dn_json_key(&j, "pid");
	dn_json_int(&j, a->pid);
	dn_json_obj_end(&j);
	dn_buf_putc(&b, '\n');
	if (!b.oom)
		dn_monitor_emit(m, b.data, b.len);
	dn_buf_free(&b);
}

static void act(struct dn_monitor *m, enum dn_rule_action action)
{
	switch (action) {
	case DN_ACTION_STOP: dn_monitor_signal_tree(m, SIGSTOP); break;
	case DN_ACTION_TERM: dn_monitor_terminate(m); break;
	case DN_ACTION_KILL: dn_monitor_signal_tree(m, SIGKILL); break;
	case DN_ACTION_NONE: break;
	}
}

void dn_rules_eval(struct dn_rules *rs, struct dn_monitor *m, dn_alert_fn fn, void *ctx)
{
	uint64_t ts = m->tree.agg.ts_ms;
	/* The last sample, taken while the command is a zombie, carries its
	 * final counters but no memory any more (RSS 0): judging rules on it
	 * would clear alerts (or fire `below` ones) only because it ended. */
	const struct dn_proc *root = dn_tree_root(&m->tree);
	if (root && (root->state == 'Z' || root->st.vsize == 0))
		return; /* exiting: its address space is gone (vsize 0) before it is a zombie */
	for (int i = 0; i < rs->n; i++) {
		struct dn_rule *r = &rs->v[i];
		pid_t pid;
		double v = rule_value(r, m, &pid);
		r->prev_value = r->have_prev ? r->value : v;
		r->prev_ts_ms = r->have_prev ? r->ts_ms : ts;
		r->value = v;
		r->ts_ms = ts;
		bool change = false;
		if (!r->firing) {
			bool holds = r->above ? v > r->threshold : v < r->threshold;
			if (!holds) {
				r->holding_since_ms = 0;
			} else {
				if (!r->holding_since_ms)
					r->holding_since_ms = ts ? ts : 1;
				if (ts - r->holding_since_ms >= r->for_ms) {
					r->firing = true;
					change = true;
				}
			}
		} else {
			bool clears = r->above ? v < r->clear_level : v > r->clear_level;
			if (clears) {
				r->firing = false;
				r->holding_since_ms = 0;
				change = true;
			}
		}
		if (change) {
			struct dn_alert a = {ts,
					     r->name,
					     r->index,
					     r->metric,
					     r->firing,
					     v,
					     r->firing ? r->threshold : r->clear_level,
					     pid};
			write_alert(m, &a);
			if (r->firing)
				act(m, r->action);
			if (fn)
				fn(&a, ctx);
		}
		r->have_prev = true;
	}
}

bool dn_rules_want_fast(const struct dn_rules *rs, const struct dn_monitor *m)
{
	uint64_t elapsed = m->sched.deadline_ns - m->sched.start_ns;
	double next_ms = (double)dn_schedule_interval(&m->sched, elapsed) / 1e6;
	for (int i = 0; i < rs->n; i++) {
		const struct dn_rule *r = &rs->v[i];
		if (r->firing || r->holding_since_ms)
			return true;
		double v = r->value, th = r->threshold;
		if (r->above ? v >= 0.8 * th : v <= 1.2 * th)
			return true;
		/* Moving fast enough to cross before the next scheduled
		 * sample? (slope over the last window, extrapolated) */
		if (r->ts_ms > r->prev_ts_ms) {
			double slope = (v - r->prev_value) / (double)(r->ts_ms - r->prev_ts_ms);
			double predicted = v + slope * next_ms;
			if (r->above ? predicted >= th : predicted <= th)
				return true;
		}
	}
	return false;
}
