/*
 * lua_records.c — records as Lua tables: a sample (the `sample` or `tree`
 * record, with the aggregate's off-CPU profile), a process that appeared
 * or went, an alert, the totals p:wait() and exit callbacks get, and the
 * summary. The tables carry the same values the JSONL lines carry
 * (docs: DESIGN.md), rounded alike. Owns nothing: every table is Lua's.
 *
 * A sample's record is built lazily, because a hook runs on every sample
 * and most read a few fields of a record of hundreds (a tree of 10
 * children has ~250): its metrics objects and its children list start as
 * empty tables with a shared metatable, each paired (in a weak-keyed
 * registry table) with a userdata holding a copy of its values taken when
 * the record was pushed. The first index, write, `#` or `pairs` of such
 * a table fills it with all its fields at once and drops the metatable:
 * from then on it is a plain table. The copy makes a stored record keep
 * its sample's values; filling all at once keeps the table an ordinary
 * one for everything after the first touch.
 */
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "buf.h"
#include "gpu.h"
#include "json.h"
#include "lua_aux.h"
#include "lua_records.h"
#include "metrics.h"
#include "monitor.h"
#include "psi.h"
#include "records.h"
#include "rules.h"

/* ---- lazy tables ---------------------------------------------------------- */

enum lazy_tag { LAZY_METRICS, LAZY_CHILDREN };

/* What a lazy metrics object becomes: a process's or the aggregate's
 * metrics, or (flat) a whole `sample` record. */
struct lazy_metrics {
	enum lazy_tag tag;
	bool agg, flat;
	bool has_psi; /* the aggregate of a run reading PSI: psi[0] follows */
	int64_t pid;  /* flat: the record's pid */
	struct dn_metrics m;
	struct dn_psi psi[]; /* a copy: a stored record keeps its sample's */
};

struct lazy_child {
	int64_t pid, ppid;
	size_t cmd_off, cmd_len; /* into the pool after the entries */
	const void *metrics;	 /* its lazy metrics table, once the list is filled */
	struct dn_metrics m;
};

/* What a lazy children list becomes: { {pid, ppid, command, metrics}... }.
 * The children's metrics tables are lazy too and share this userdata (one
 * allocation per record, not per child): the map pairs each with it, and
 * a table's address (unique while it lives, and the map keeps this alive
 * as long as one of them is lazy) tells which child it is. */
struct lazy_children {
	enum lazy_tag tag;
	size_t n, hint;	       /* hint: where to look first (ipairs order) */
	struct lazy_child c[]; /* then the commands, back to back */
};

/* Registry key of { [1] = table -> userdata (weak keys), [2] = metatable }. */
static const char lazy_key = 0;

static void fill_metrics(lua_State *L, int t, const struct lazy_metrics *lm, bool keep);

/* The child whose metrics table is `tbl`, or n (then `tbl` is the list). */
static size_t child_of(struct lazy_children *lc, const void *tbl)
{
	for (size_t k = 0; k < lc->n; k++) {
		size_t i = (lc->hint + k) % lc->n;
		if (lc->c[i].metrics == tbl) {
			lc->hint = i + 1;
			return i;
		}
	}
	return lc->n;
}

/* Fill a children list: its entries, each with a lazy metrics table
 * paired with the list's userdata (at ud). */
static void fill_children(lua_State *L, int t, int map, int ud, bool keep)
{
	struct lazy_children *lc = lua_touserdata(L, ud);
	const char *pool = (const char *)&lc->c[lc->n];
	lua_rawgetp(L, LUA_REGISTRYINDEX, &lazy_key);
	lua_rawgeti(L, -1, 2); /* the metatable, for the metrics tables */
	int mt = lua_gettop(L);
	for (size_t i = 0; i < lc->n; i++) {
		if (keep && lua_rawgeti(L, t, (lua_Integer)i + 1) != LUA_TNIL) {
			lua_pop(L, 1);
			continue;
		}
		if (keep)
			lua_pop(L, 1);
		struct lazy_child *c = &lc->c[i];
		lua_createtable(L, 0, 4);
		lua_pushinteger(L, c->pid);
		lua_setfield(L, -2, "pid");
		lua_pushinteger(L, c->ppid);
		lua_setfield(L, -2, "ppid");
		lua_pushlstring(L, pool + c->cmd_off, c->cmd_len);
		lua_setfield(L, -2, "command");
		lua_createtable(L, 0, (int)dn_metric_count);
		c->metrics = lua_topointer(L, -1);
		lua_pushvalue(L, -1);
		lua_pushvalue(L, ud);
		lua_rawset(L, map);
		lua_pushvalue(L, mt);
		lua_setmetatable(L, -2);
		lua_setfield(L, -2, "metrics");
		lua_rawseti(L, t, (lua_Integer)i + 1);
	}
	lua_settop(L, ud);
}

/* Fill the lazy table at t with its fields, if it is still lazy (its pair
 * in the map at `map`), and make it a plain table. Fields already set in
 * it (rawset, which the metatable does not see) are kept. */
static void lazy_fill(lua_State *L, int t, int map)
{
	lua_pushvalue(L, t);
	if (lua_rawget(L, map) != LUA_TUSERDATA) {
		lua_pop(L, 1);
		return;
	}
	int ud = lua_gettop(L);
	lua_pushnil(L); /* before the fields: the metamethods see none of them */
	lua_setmetatable(L, t);
	lua_pushvalue(L, t);
	lua_pushnil(L);
	lua_rawset(L, map);
	lua_pushnil(L);
	bool keep = lua_next(L, t) != 0;
	lua_settop(L, ud);
	if (*(const enum lazy_tag *)lua_touserdata(L, ud) == LAZY_METRICS) {
		fill_metrics(L, t, lua_touserdata(L, ud), keep);
	} else {
		struct lazy_children *lc = lua_touserdata(L, ud);
		size_t i = child_of(lc, lua_topointer(L, t));
		if (i < lc->n) {
			struct lazy_metrics lm = {.tag = LAZY_METRICS, .m = lc->c[i].m};
			fill_metrics(L, t, &lm, keep);
		} else {
			fill_children(L, t, map, ud, keep);
		}
	}
	lua_settop(L, ud - 1);
}

/* Metamethods of lazy tables; upvalue 1 is the map. */
static int lazy_index(lua_State *L)
{
	lazy_fill(L, 1, lua_upvalueindex(1));
	lua_settop(L, 2);
	lua_rawget(L, 1);
	return 1;
}

static int lazy_newindex(lua_State *L)
{
	lazy_fill(L, 1, lua_upvalueindex(1));
	lua_settop(L, 3);
	lua_rawset(L, 1);
	return 0;
}

static int lazy_len(lua_State *L)
{
	lazy_fill(L, 1, lua_upvalueindex(1));
	lua_pushinteger(L, (lua_Integer)lua_rawlen(L, 1));
	return 1;
}

static int lazy_pairs(lua_State *L)
{
	lazy_fill(L, 1, lua_upvalueindex(1));
	lua_pushcfunction(L, dn_lua_next);
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	return 3;
}

/* Push the map and the metatable of lazy tables (made the first time). */
static void push_lazy_state(lua_State *L)
{
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &lazy_key) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_createtable(L, 2, 0);
		lua_newtable(L); /* the map */
		lua_createtable(L, 0, 1);
		lua_pushliteral(L, "k");
		lua_setfield(L, -2, "__mode");
		lua_setmetatable(L, -2);
		lua_createtable(L, 0, 4); /* the metatable */
		static const luaL_Reg mm[] = {
			{"__index", lazy_index},
			{"__newindex", lazy_newindex},
			{"__len", lazy_len},
			{"__pairs", lazy_pairs},
			{NULL, NULL},
		};
		lua_pushvalue(L, -2);
		luaL_setfuncs(L, mm, 1);
		lua_rawseti(L, -3, 2);
		lua_rawseti(L, -2, 1);
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &lazy_key);
	}
	lua_rawgeti(L, -1, 1);
	lua_rawgeti(L, -2, 2);
	lua_remove(L, -3);
}

/* A new lazy table paired with a new userdata of `size` bytes (returned,
 * for the caller to fill); the table is left on the stack. `nrec`,
 * `narr`: the size the filled table will need, allocated now. */
static void *new_lazy(lua_State *L, int map, int mt, size_t size, int narr, int nrec)
{
	lua_createtable(L, narr, nrec);
	void *ud = lua_newuserdatauv(L, size, 0);
	lua_pushvalue(L, -2);
	lua_insert(L, -2);
	lua_rawset(L, map);
	lua_pushvalue(L, mt);
	lua_setmetatable(L, -2);
	return ud;
}

static void new_lazy_metrics(lua_State *L, int map, int mt, const struct dn_metrics *m, bool agg,
			     const struct dn_psi *psi)
{
	struct lazy_metrics *lm = new_lazy(L, map, mt, sizeof *lm + (psi ? sizeof *psi : 0), 0,
					   (int)dn_metric_count + (psi != NULL));
	lm->tag = LAZY_METRICS;
	lm->agg = agg;
	lm->flat = false;
	lm->has_psi = psi != NULL;
	lm->pid = 0;
	lm->m = *m;
	if (psi)
		lm->psi[0] = *psi;
}

/* One scope of the `psi` object, as dn_psi_write_json writes it. */
static void push_psi_scope(lua_State *L, const struct dn_psi *p, bool cgroup)
{
	static const char *const line[2] = {"some", "full"};
	lua_createtable(L, 0, DN_PSI_NRES);
	for (int r = 0; r < DN_PSI_NRES; r++) {
		struct dn_psi_figures f;
		if (!dn_psi_figures(p, cgroup, (enum dn_psi_res)r, false, &f))
			continue;
		lua_createtable(L, 0, 2);
		for (int full = 0; full < 2; full++) {
			if (full && !dn_psi_figures(p, cgroup, (enum dn_psi_res)r, true, &f))
				break;
			lua_createtable(L, 0, 4);
			lua_pushnumber(L, f.avg10);
			lua_setfield(L, -2, "avg10");
			lua_pushinteger(L, (lua_Integer)f.total_us);
			lua_setfield(L, -2, "total_us");
			lua_pushinteger(L, (lua_Integer)f.delta_us);
			lua_setfield(L, -2, "delta_us");
			lua_pushnumber(L, f.window_pct);
			lua_setfield(L, -2, "window_pct");
			lua_setfield(L, -2, line[full]);
		}
		lua_setfield(L, -2, dn_psi_res_name((enum dn_psi_res)r));
	}
}

/* The aggregate's `psi` object (docs/data-format.md) on the stack. */
static void push_psi(lua_State *L, const struct dn_psi *p)
{
	lua_createtable(L, 0, 3);
	lua_pushinteger(L, (lua_Integer)dn_psi_window_ms(p));
	lua_setfield(L, -2, "window_ms");
	if (dn_psi_scope_ok(p, true)) {
		push_psi_scope(L, p, true);
		lua_setfield(L, -2, "cgroup");
	}
	if (dn_psi_scope_ok(p, false)) {
		push_psi_scope(L, p, false);
		lua_setfield(L, -2, "system");
	}
}

/* ---- records ------------------------------------------------------------- */

/* One schema field's value as the JSONL line has it: doubles rounded to
 * the file's decimals, a missing cpu_core false (null in the file, as
 * parent's `false`). */
static void push_metric_value(lua_State *L, const struct dn_metrics *m,
			      const struct dn_metric_info *f)
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
}

/* Set t[k] = the value on top (popped), unless `keep` and t has k. */
static void set_kept(lua_State *L, int t, const char *k, bool keep)
{
	if (keep && lua_getfield(L, t, k) != LUA_TNIL) {
		lua_pop(L, 2);
		return;
	}
	if (keep)
		lua_pop(L, 1);
	lua_setfield(L, t, k);
}

/* The fields of a lazy metrics object (t has no metatable by now). */
static void fill_metrics(lua_State *L, int t, const struct lazy_metrics *lm, bool keep)
{
	for (size_t i = 0; i < dn_metric_count; i++) {
		const struct dn_metric_info *f = &dn_metric_schema[i];
		if (!dn_metric_in(f, lm->agg))
			continue;
		push_metric_value(L, &lm->m, f);
		set_kept(L, t, f->name, keep);
	}
	if (lm->has_psi) {
		push_psi(L, lm->psi);
		set_kept(L, t, "psi", keep);
	}
	if (lm->flat) {
		lua_pushliteral(L, "sample");
		set_kept(L, t, "kind", keep);
		lua_pushinteger(L, lm->pid);
		set_kept(L, t, "pid", keep);
	}
}

/* The same fields and values the JSONL line carries (metrics_schema.h),
 * at once: for the spawn and reap records and an aggregate with eBPF. */
static void push_metrics(lua_State *L, const struct dn_metrics *m, bool agg)
{
	struct lazy_metrics lm = {.tag = LAZY_METRICS, .agg = agg, .m = *m};
	lua_createtable(L, 0, (int)dn_metric_count);
	fill_metrics(L, lua_gettop(L), &lm, false);
}

/* With an eBPF profile (the CLI's --enable-ebpf, denet.run{syscalls =
 * true}), the aggregate has the file's `ebpf` object: `offcpu` unless the
 * profile has no stacks, `syscalls` when it tracks syscalls), decoded
 * from the same JSON text as the record's (dn_record_ebpf; by
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
		dn_record_ebpf(&b, prof);
		bool ok = !b.oom && b.len;
		if (ok)
			lua_pushlstring(L, b.data, b.len);
		dn_buf_free(&b);
		if (ok && lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1))
			lua_setfield(L, agg, "ebpf");
	}
	lua_settop(L, agg);
}

static bool gpu_is_root(pid_t pid, const void *ctx)
{
	return pid == *(const pid_t *)ctx;
}

static bool gpu_in_tree(pid_t pid, const void *ctx)
{
	return dn_tree_find(ctx, pid) != NULL;
}

/* With NVML, the table at idx (the parent, a flat sample or the
 * aggregate) gets upstream's `gpu` object, decoded (denet.json) from the
 * same text the record has, so that the two cannot differ. */
static void push_gpu(lua_State *L, const struct dn_monitor *m, int idx, dn_gpu_pid_filter in,
		     const void *ctx)
{
	const struct dn_gpu_sample *gpu = dn_monitor_gpu(m, NULL);
	if (!gpu)
		return;
	idx = lua_absindex(L, idx);
	int top = lua_gettop(L);
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	if (lua_getfield(L, -1, "denet.json") == LUA_TTABLE &&
	    lua_getfield(L, -1, "decode") == LUA_TFUNCTION) {
		struct dn_buf b = {0};
		struct dn_json j;
		dn_json_init(&j, &b);
		dn_gpu_write_json(&j, gpu, in, ctx);
		bool ok = !b.oom && b.len;
		if (ok)
			lua_pushlstring(L, b.data, b.len);
		dn_buf_free(&b);
		if (ok && lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1))
			lua_setfield(L, idx, "gpu"); /* fills a lazy table first */
	}
	lua_settop(L, top);
}

/* The children of a tree record, but its root, as a lazy list. */
static void push_children(lua_State *L, int map, int mt, const struct dn_tree *t,
			  const struct dn_proc *root)
{
	size_t n = 0, pool = 0;
	for (size_t i = 0; i < t->nprocs; i++) {
		const struct dn_proc *p = t->procs[i];
		if (p == root)
			continue;
		n++;
		pool += strlen(p->command ? p->command : p->comm);
	}
	if (!n) {
		lua_createtable(L, 0, 0);
		return;
	}
	struct lazy_children *lc =
		new_lazy(L, map, mt, sizeof *lc + n * sizeof lc->c[0] + pool, (int)n, 0);
	lc->tag = LAZY_CHILDREN;
	lc->n = n;
	lc->hint = 0;
	char *dst = (char *)&lc->c[n];
	size_t k = 0, off = 0;
	for (size_t i = 0; i < t->nprocs; i++) {
		const struct dn_proc *p = t->procs[i];
		if (p == root)
			continue;
		const char *cmd = p->command ? p->command : p->comm;
		struct lazy_child *c = &lc->c[k++];
		c->pid = p->pid;
		c->ppid = p->ppid;
		c->metrics = NULL;
		c->cmd_off = off;
		c->cmd_len = strlen(cmd);
		memcpy(dst + off, cmd, c->cmd_len);
		off += c->cmd_len;
		c->m = p->m;
	}
}

/* A `counters` object (a window's, or the run's) as a table of integers. */
static void push_counters(lua_State *L, const struct dn_perf_values *v)
{
	lua_createtable(L, 0, DN_PERF_NCOUNTERS);
	for (int c = 0; c < DN_PERF_NCOUNTERS; c++)
		if (v->have[c])
			set_int(L, dn_perf_counter_name(c), v->v[c]);
}

void dn_lua_push_record(lua_State *L, struct dn_monitor *m)
{
	const struct dn_perf_values *counters = dn_monitor_counters(m);
	const struct dn_tree *t = dn_monitor_tree(m);
	const struct dn_proc *root = dn_tree_root(t);
	push_lazy_state(L);
	int map = lua_gettop(L) - 1, mt = map + 1;
	if (!dn_monitor_opts(m)->children) {
		struct lazy_metrics *lm =
			new_lazy(L, map, mt, sizeof *lm, 0, (int)dn_metric_count + 2);
		lm->tag = LAZY_METRICS;
		lm->agg = false;
		lm->flat = true;
		lm->has_psi = false; /* flat samples carry none */
		lm->pid = t->opts.root;
		lm->m = root ? root->m : t->agg;
		push_gpu(L, m, -1, gpu_is_root, &t->opts.root);
		if (counters) { /* a write fills the lazy table first */
			push_counters(L, counters);
			lua_setfield(L, -2, "counters");
		}
	} else {
		lua_createtable(L, 0, 5);
		lua_pushliteral(L, "tree");
		lua_setfield(L, -2, "kind");
		set_int(L, "ts_ms", t->agg.ts_ms);
		if (root) {
			new_lazy_metrics(L, map, mt, &root->m, false, NULL);
			push_gpu(L, m, -1, gpu_is_root, &t->opts.root);
		} else {
			lua_pushboolean(L, 0);
		}
		lua_setfield(L, -2, "parent");
		push_children(L, map, mt, t, root);
		lua_setfield(L, -2, "children");
		const struct dn_psi *psi = dn_monitor_psi(m);
		if (dn_monitor_profile(m, NULL) || counters) {
			push_metrics(L, &t->agg, true);
			if (dn_monitor_profile(m, NULL))
				push_ebpf(L, m);
			if (counters) {
				push_counters(L, counters);
				lua_setfield(L, -2, "counters");
			}
			if (psi) {
				push_psi(L, psi);
				lua_setfield(L, -2, "psi");
			}
		} else {
			new_lazy_metrics(L, map, mt, &t->agg, true, psi);
		}
		push_gpu(L, m, -1, gpu_in_tree, t);
		lua_setfield(L, -2, "aggregated");
	}
	lua_replace(L, map);
	lua_settop(L, map);
}

/* The exit record's `overhead` (overhead.c writes the JSON): the same
 * fields, a null one absent. */
static void push_overhead(lua_State *L, const struct dn_overhead_info *o)
{
	const struct {
		const char *name;
		double v;
	} secs[] = {
		{"cpu_user_secs", o->cpu_user_secs},
		{"cpu_system_secs", o->cpu_system_secs},
		{"cpu_secs", o->cpu_user_secs + o->cpu_system_secs},
		{"sampling_secs", (double)o->t.sampling_ns / 1e9},
		{"hooks_secs", (double)o->t.hooks_ns / 1e9},
		{"max_late_ms", (double)o->t.max_late_ns / 1e6},
	};
	lua_createtable(L, 0, 14);
	for (size_t i = 0; i < sizeof secs / sizeof secs[0]; i++) {
		lua_pushnumber(L, secs[i].v);
		lua_setfield(L, -2, secs[i].name);
	}
	set_int(L, "peak_rss_kb", o->peak_rss_kb);
	set_int(L, "samples_timed", o->t.timed);
	set_int(L, "samples_late", o->t.late);
	set_int(L, "samples_missed", o->t.missed);
	if (o->bpf && o->bpf_stats) {
		lua_pushnumber(L, (double)o->c.run_ns / 1e9);
		lua_setfield(L, -2, "bpf_secs");
		set_int(L, "bpf_runs", o->c.run_cnt);
	} else if (o->bpf) {
		lua_pushstring(L, DN_BPF_STATS_OFF);
		lua_setfield(L, -2, "bpf_stats");
	}
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
	if (e->has_counters) {
		/* as in the exit record (--counters, denet.run{counters = true}) */
		push_counters(L, &e->counters);
		lua_setfield(L, -2, "counters");
	}
	push_overhead(L, &e->overhead);
	lua_setfield(L, -2, "overhead");
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
