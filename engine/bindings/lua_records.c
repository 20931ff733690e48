/*
 * lua_records.c — records as Lua tables: a sample (the `sample` or `tree`
 * record, with the aggregate's off-CPU profile), a process that appeared
 * or went, an alert, the totals p:wait() and exit callbacks get, and the
 * summary. The tables carry the same values the JSONL lines carry
 * (docs: DESIGN.md), rounded alike. Owns nothing: every table is Lua's.
 */
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "buf.h"
#include "json.h"
#include "lua_aux.h"
#include "lua_records.h"
#include "metrics.h"
#include "monitor.h"
#include "rules.h"

/* One schema field as the JSONL line has it: doubles rounded to the
 * file's decimals, a missing cpu_core false (null in the file, as
 * parent's `false`). */
static void push_metric(lua_State *L, const struct dn_metrics *m, const struct dn_metric_info *f)
{
	switch (f->type) {
	case DN_METRIC_U64: lua_pushinteger(L, (lua_Integer)dn_metric_u64(m, f)); break;
	case DN_METRIC_PCT:
	case DN_METRIC_SECS:
		lua_pushnumber(L, dn_metrics_round(dn_metric_double(m, f), dn_metric_decimals(f)));
		break;
	case DN_METRIC_CORE:
		if (dn_metric_core(m, f) >= 0)
			lua_pushinteger(L, dn_metric_core(m, f));
		else
			lua_pushboolean(L, 0);
		break;
	case DN_METRIC_SRC: lua_pushstring(L, dn_metric_src(m, f)); break;
	}
	lua_setfield(L, -2, f->name);
}

/* The same fields and values the JSONL line carries (metrics_schema.h). */
static void push_metrics(lua_State *L, const struct dn_metrics *m, bool agg)
{
	lua_createtable(L, 0, (int)dn_metric_count);
	for (size_t i = 0; i < dn_metric_count; i++)
		if (dn_metric_in(&dn_metric_schema[i], agg))
			push_metric(L, m, &dn_metric_schema[i]);
}

/* With an off-CPU profile (the CLI's --enable-ebpf), the aggregate has the
 * file's `ebpf.offcpu` object: decoded from the same JSON text (by
 * denet.json, loaded with denet), so that the two cannot differ. */
static void push_ebpf(lua_State *L, const struct dn_monitor *m)
{
	const struct dn_profile *prof = dn_monitor_profile(m, NULL);
	if (!prof)
		return;
	int agg = lua_gettop(L); /* the aggregate's table */
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	if (lua_getfield(L, -1, "denet.json") == LUA_TTABLE &&
	    lua_getfield(L, -1, "decode") == LUA_TFUNCTION) {
		struct dn_buf b = {0};
		struct dn_json j;
		dn_json_init(&j, &b);
		dn_profile_write_upstream(&j, prof);
		bool ok = !b.oom && b.len;
		if (ok)
			lua_pushlstring(L, b.data, b.len);
		dn_buf_free(&b);
		if (ok && lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1)) {
			lua_createtable(L, 0, 1);
			lua_insert(L, -2);
			lua_setfield(L, -2, "offcpu");
			lua_setfield(L, agg, "ebpf");
		}
	}
	lua_settop(L, agg);
}

void dn_lua_push_record(lua_State *L, struct dn_monitor *m)
{
	const struct dn_tree *t = dn_monitor_tree(m);
	const struct dn_proc *root = dn_tree_root(t);
	if (!dn_monitor_opts(m)->children) {
		struct dn_metrics mm = root ? root->m : t->agg;
		push_metrics(L, &mm, false);
		lua_pushstring(L, "sample");
		lua_setfield(L, -2, "kind");
		set_int(L, "pid", (uint64_t)t->opts.root);
		return;
	}
	lua_createtable(L, 0, 5);
	lua_pushstring(L, "tree");
	lua_setfield(L, -2, "kind");
	set_int(L, "ts_ms", t->agg.ts_ms);
	if (root)
		push_metrics(L, &root->m, false);
	else
		lua_pushboolean(L, 0);
	lua_setfield(L, -2, "parent");
	lua_createtable(L, (int)t->nprocs, 0);
	int k = 0;
	for (size_t i = 0; i < t->nprocs; i++) {
		const struct dn_proc *p = t->procs[i];
		if (p == root)
			continue;
		lua_createtable(L, 0, 4);
		set_int(L, "pid", (uint64_t)p->pid);
		set_int(L, "ppid", (uint64_t)p->ppid);
		lua_pushstring(L, p->command ? p->command : p->comm);
		lua_setfield(L, -2, "command");
		push_metrics(L, &p->m, false);
		lua_setfield(L, -2, "metrics");
		lua_rawseti(L, -2, ++k);
	}
	lua_setfield(L, -2, "children");
	push_metrics(L, &t->agg, true);
	push_ebpf(L, m);
	lua_setfield(L, -2, "aggregated");
}

void dn_lua_push_totals(lua_State *L, const struct dn_exit_info *e)
{
	lua_createtable(L, 0, 8);
	if (e->source) {
		lua_pushstring(L, e->source);
		lua_setfield(L, -2, "source");
		lua_pushnumber(L, e->cpu_user_secs);
		lua_setfield(L, -2, "cpu_user_secs");
		lua_pushnumber(L, e->cpu_system_secs);
		lua_setfield(L, -2, "cpu_system_secs");
		lua_pushnumber(L, e->cpu_user_secs + e->cpu_system_secs);
		lua_setfield(L, -2, "cpu_secs");
		set_int(L, "mem_peak_kb", e->mem_peak_kb);
		set_int(L, "processes", e->processes);
		lua_pushstring(L, e->processes_source ? e->processes_source : "sampled");
		lua_setfield(L, -2, "processes_source");
		if (e->processes_source && strcmp(e->processes_source, "sampled") != 0)
			set_int(L, "threads", e->threads);
	}
	lua_pushnumber(L, e->duration_secs);
	lua_setfield(L, -2, "duration_secs");
	if (e->detached) {
		lua_pushboolean(L, 1);
		lua_setfield(L, -2, "detached");
	}
	if (e->known) {
		set_int(L, "exit_code", (uint64_t)e->exit_code);
		if (e->signal)
			set_int(L, "signal", (uint64_t)e->signal);
	}
	lua_createtable(L, 0, 5);
	lua_pushnumber(L, e->sampled_cpu_secs);
	lua_setfield(L, -2, "cpu_secs");
	set_int(L, "mem_peak_kb", e->sampled_mem_peak_kb);
	set_int(L, "disk_read_bytes", e->sampled_disk_read_bytes);
	set_int(L, "disk_write_bytes", e->sampled_disk_write_bytes);
	set_int(L, "samples", e->samples);
	lua_setfield(L, -2, "sampled");
	if (e->survivors > 0) {
		/* as in the exit record: {count, source, processes = {{pid, command}}} */
		lua_createtable(L, 0, 3);
		set_int(L, "count", e->survivors);
		lua_pushstring(L, e->survivors_source ? e->survivors_source : "tree");
		lua_setfield(L, -2, "source");
		lua_createtable(L, e->nsurvivors_listed, 0);
		for (int i = 0; i < e->nsurvivors_listed && i < DN_SURVIVORS_LISTED; i++) {
			lua_createtable(L, 0, 2);
			set_int(L, "pid", (uint64_t)e->survivor[i].pid);
			lua_pushstring(L, e->survivor[i].command);
			lua_setfield(L, -2, "command");
			lua_rawseti(L, -2, i + 1);
		}
		lua_setfield(L, -2, "processes");
		lua_setfield(L, -2, "survivors");
	}
}

void dn_lua_push_summary(lua_State *L, const struct dn_summary *s)
{
	lua_createtable(L, 0, 14);
	lua_pushnumber(L, dn_summary_total_time_secs(s));
	lua_setfield(L, -2, "total_time_secs");
	set_int(L, "sample_count", s->sample_count);
	set_int(L, "max_processes", s->max_processes);
	set_int(L, "max_threads", s->max_threads);
	set_int(L, "total_disk_read_bytes", s->total_disk_read_bytes);
	set_int(L, "total_disk_write_bytes", s->total_disk_write_bytes);
	set_int(L, "total_syscall_read_bytes", s->total_syscall_read_bytes);
	set_int(L, "total_syscall_write_bytes", s->total_syscall_write_bytes);
	set_int(L, "peak_page_faults_cached", s->peak_page_faults_cached);
	set_int(L, "peak_page_faults_disk", s->peak_page_faults_disk);
	set_int(L, "total_sys_net_rx_bytes", s->total_sys_net_rx_bytes);
	set_int(L, "total_sys_net_tx_bytes", s->total_sys_net_tx_bytes);
	set_int(L, "peak_mem_rss_kb", s->peak_mem_rss_kb);
	lua_pushnumber(L, dn_metrics_round(dn_summary_avg_cpu(s), 2)); /* as the file */
	lua_setfield(L, -2, "avg_cpu_usage");
}

/* A process that appeared: { pid, ppid, command, metrics }. */
void dn_lua_push_proc(lua_State *L, const struct dn_proc *pr)
{
	lua_createtable(L, 0, 4);
	set_int(L, "pid", (uint64_t)pr->pid);
	set_int(L, "ppid", (uint64_t)pr->ppid);
	lua_pushstring(L, pr->command ? pr->command : pr->comm);
	lua_setfield(L, -2, "command");
	push_metrics(L, &pr->m, false);
	lua_setfield(L, -2, "metrics");
}

/* A process that went: { pid, command, metrics } (its last sample). */
void dn_lua_push_gone(lua_State *L, const struct dn_proc_gone *g)
{
	lua_createtable(L, 0, 3);
	set_int(L, "pid", (uint64_t)g->pid);
	lua_pushstring(L, g->command ? g->command : "");
	lua_setfield(L, -2, "command");
	push_metrics(L, &g->last, false);
	lua_setfield(L, -2, "metrics");
}

/* A rule that fired or cleared: the fields of its `alert` record. */
void dn_lua_push_alert(lua_State *L, const struct dn_alert *a)
{
	lua_createtable(L, 0, 8);
	lua_pushstring(L, "alert");
	lua_setfield(L, -2, "kind");
	set_int(L, "ts_ms", a->ts_ms);
	lua_pushstring(L, a->rule_name);
	lua_setfield(L, -2, "rule");
	lua_pushstring(L, a->metric);
	lua_setfield(L, -2, "metric");
	lua_pushstring(L, a->fire ? "fire" : "clear");
	lua_setfield(L, -2, "state");
	lua_pushnumber(L, a->value);
	lua_setfield(L, -2, "value");
	lua_pushnumber(L, a->threshold);
	lua_setfield(L, -2, "threshold");
	set_int(L, "pid", (uint64_t)a->pid);
}
