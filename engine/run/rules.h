/*
 * rules.h — threshold rules evaluated in C on every sample (p:watch):
 * a metric of the aggregate (or, with scope "any", the largest value of
 * one process), above/below a threshold, held for for_ms, with
 * hysteresis, an optional action on the tree, and an `alert` record for
 * each fire and clear. Lua is entered only through the callback, when a
 * rule changes state.
 */
#ifndef DENET_RULES_H
#define DENET_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct dn_monitor;

enum dn_rule_action { DN_ACTION_NONE, DN_ACTION_STOP, DN_ACTION_TERM, DN_ACTION_KILL };

struct dn_rule {
	char metric[48];
	size_t offset;	/* into struct dn_metrics */
	bool is_double; /* cpu_usage */
	bool scope_any; /* the largest value among single processes */
	/* metric "syscall_rate": the tree's syscalls per second in the last
	 * window (eBPF syscall tracking), of syscall_nr or, -1, of all */
	bool syscall_rate;
	int syscall_nr;
	/* metric "gpu_memory_bytes": the GPU memory (NVML) of the tree's
	 * processes at the latest sample, bytes */
	bool gpu_memory;
	bool above; /* fire when value > threshold (else < threshold) */
	double threshold;
	double clear_level; /* clears when back below (above) this */
	uint64_t for_ms;
	enum dn_rule_action action;
	/* state */
	char name[64];
	int index; /* 1-based */
	bool firing;
	uint64_t holding_since_ms; /* 0: condition not holding */
	double value, prev_value;
	uint64_t ts_ms, prev_ts_ms;
	bool have_prev;
};

struct dn_rules {
	struct dn_rule *v;
	int n, cap;
};

struct dn_alert {
	uint64_t ts_ms;
	const char *rule_name;
	int rule_index;
	const char *metric;
	bool fire;
	double value, threshold;
	pid_t pid;
};

typedef void (*dn_alert_fn)(const struct dn_alert *a, void *ctx);

void dn_rules_init(struct dn_rules *rs);
void dn_rules_free(struct dn_rules *rs);
/* 0, -ENOENT (no such metric), -EINVAL (scope any for an aggregate-only
 * metric). */
int dn_rules_set_metric(struct dn_rule *r, const char *metric, bool scope_any);
/* The syscall a "syscall_rate" rule counts, by name ("fsync"); NULL: all.
 * 0, -ENOENT (no such syscall) or -EINVAL (the metric is another). */
int dn_rules_set_syscall(struct dn_rule *r, const char *name);
/* NULL = none; "stop", "term", "kill". 0 or -EINVAL. */
int dn_rules_set_action(struct dn_rule *r, const char *action);
/* Adds a copy; returns its 1-based index or -ENOMEM. name NULL = index. */
int dn_rules_add(struct dn_rules *rs, const struct dn_rule *r, const char *name);
/* "512M" for a *_kb metric -> 524288; for *_bytes -> 536870912; plain
 * numbers pass through. 0, -EINVAL (not a size) or -ERANGE (a unit on a
 * metric that is not a size). */
int dn_rules_parse_size(const char *s, const char *metric, double *out);
/* Evaluate every rule on the monitor's latest sample: writes `alert`
 * records, applies actions, calls fn for each change. */
void dn_rules_eval(struct dn_rules *rs, struct dn_monitor *m, dn_alert_fn fn, void *ctx);
/* Threshold-aware sampling: should the next sample come at the base
 * interval? (a rule is firing, within 20 % of its threshold, or rising
 * fast enough to cross it before the next scheduled sample) */
bool dn_rules_want_fast(const struct dn_rules *rs, const struct dn_monitor *m);

#endif
