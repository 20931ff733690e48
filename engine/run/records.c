/*
 * records.c — builds the JSON lines of docs/data-format.md (see records.h). Field
 * names and units follow upstream denet; `kind` comes first so a reader
 * can dispatch on a prefix.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu.h"
#include "json.h"
#include "profile.h"
#include "psi.h"
#include "records.h"
#include "systrace.h"

static void end_line(struct dn_buf *b)
{
	dn_buf_putc(b, '\n');
}

void dn_record_metadata(struct dn_buf *b, pid_t pid, char *const *argv, int argc,
			const char *executable, uint64_t t0_ms, const struct dn_capability *caps,
			int ncaps)
{
	struct dn_json j;
	dn_json_init(&j, b);
	dn_json_obj_begin(&j);
	dn_json_key(&j, "kind");
	dn_json_str(&j, "metadata");
	dn_json_key(&j, "pid");
	dn_json_int(&j, pid);
	dn_json_key(&j, "cmd");
	dn_json_arr_begin(&j);
	for (int i = 0; i < argc; i++)
		dn_json_str(&j, argv[i]);
	dn_json_arr_end(&j);
	dn_json_key(&j, "executable");
	dn_json_str(&j, executable);
	dn_json_key(&j, "t0_ms");
	dn_json_uint(&j, t0_ms);
	/* Reports name the machine a recording comes from, also without
	 * --write-env (whose `env` record has the rest of the machine). */
	char host[256];
	if (gethostname(host, sizeof host) == 0) {
		host[sizeof host - 1] = '\0';
		dn_json_key(&j, "host");
		dn_json_str(&j, host);
	}
	dn_json_key(&j, "capabilities");
	dn_json_obj_begin(&j);
	for (int i = 0; i < ncaps; i++) {
		dn_json_key(&j, caps[i].name);
		dn_json_obj_begin(&j);
		dn_json_key(&j, "ok");
		dn_json_bool(&j, caps[i].ok);
		if (!caps[i].ok && caps[i].reason) {
			dn_json_key(&j, "reason");
			dn_json_str(&j, caps[i].reason);
		}
		dn_json_obj_end(&j);
	}
	dn_json_obj_end(&j);
	dn_json_obj_end(&j);
	end_line(b);
}

/*
 * A process's command as a JSON string. A command line changes only at an
 * exec, so it is escaped once, kept in p->command_json, and copied on every
 * later sample; proctree.c drops the copy wherever it replaces `command`.
 * (The cache is the one thing a record writes into the tree: it holds no
 * reading, only text derived from one.) Without memory for it, the line is
 * escaped as before.
 */
static void put_command(struct dn_json *j, struct dn_proc *p)
{
	if (!p->command) {
		dn_json_str(j, p->comm);
		return;
	}
	if (!p->command_json) {
		struct dn_buf c = {0};
		dn_buf_putc(&c, '"');
		dn_json_escape(&c, p->command, strlen(p->command));
		dn_buf_putc(&c, '"');
		if (c.oom) {
			dn_buf_free(&c);
			dn_json_str(j, p->command);
			return;
		}
		/* a record's worth of spare room, times a thousand processes:
		 * give it back */
		char *fit = realloc(c.data, c.len + 1);
		p->command_json = fit ? fit : c.data;
		p->command_json_len = c.len;
	}
	dn_json_raw(j, p->command_json, p->command_json_len);
}

/* The GPU's processes a record keeps: the root's (parent, flat sample)
 * or the tree's (aggregate). */
static bool is_root(pid_t pid, const void *ctx)
{
	return pid == *(const pid_t *)ctx;
}

static bool in_tree(pid_t pid, const void *ctx)
{
	return dn_tree_find(ctx, pid) != NULL;
}

/* A metrics object with, spliced in before its closing brace, the
 * aggregate's `ebpf` object (prof) and upstream's `gpu` object (gpu, with
 * the processes `in` keeps), in upstream's order, then the window's perf
 * `counters` (--counters) and the aggregate's pressure stalls `psi`;
 * without any, the metrics as they are. */
static void metrics_with(struct dn_json *j, const struct dn_metrics *m, bool agg,
			 const struct dn_profile *prof, const struct dn_gpu_sample *gpu,
			 dn_gpu_pid_filter in, const void *ctx,
			 const struct dn_perf_values *counters, const struct dn_psi *psi)
{
	if (!prof && !gpu && !counters && !psi) {
		dn_metrics_write_json(j, m, agg);
		return;
	}
	struct dn_buf mb = {0};
	struct dn_json mj;
	dn_json_init(&mj, &mb);
	dn_metrics_write_json(&mj, m, agg);
	if (mb.len > 1 && !mb.oom) {
		struct dn_buf *b = j->out;
		dn_json_raw(j, mb.data, mb.len - 1); /* without the closing brace */
		if (prof) {
			dn_buf_puts(b, ",\"ebpf\":");
			dn_record_ebpf(b, prof);
		}
		if (gpu) {
			struct dn_json gj;
			dn_buf_puts(b, ",\"gpu\":");
			dn_json_init(&gj, b);
			dn_gpu_write_json(&gj, gpu, in, ctx);
		}
		if (counters) {
			struct dn_json cj;
			dn_buf_puts(b, ",\"counters\":");
			dn_json_init(&cj, b);
			dn_perf_values_write_json(&cj, counters);
		}
		if (psi) {
			struct dn_json pj;
			dn_buf_puts(b, ",\"psi\":");
			dn_json_init(&pj, b);
			dn_psi_write_json(&pj, psi);
		}
		dn_buf_putc(b, '}');
	}
	dn_buf_free(&mb);
}

void dn_record_tree(struct dn_buf *b, const struct dn_tree *t, bool flat,
		    const struct dn_profile *prof, const struct dn_gpu_sample *gpu)
{
	dn_record_tree_ext(b, t, flat, prof, gpu, NULL, NULL);
}

void dn_record_tree_ext(struct dn_buf *b, const struct dn_tree *t, bool flat,
			const struct dn_profile *prof, const struct dn_gpu_sample *gpu,
			const struct dn_perf_values *counters, const struct dn_psi *psi)
{
	struct dn_json j;
	const struct dn_proc *root = dn_tree_root(t);
	dn_json_init(&j, b);
	if (flat) {
		/* Upstream's flat sample: the metrics object itself, tagged. */
		struct dn_metrics m = root ? root->m : t->agg;
		dn_json_obj_begin(&j);
		dn_json_key(&j, "kind");
		dn_json_str(&j, "sample");
		dn_json_key(&j, "pid");
		dn_json_int(&j, t->opts.root);
		/* Splice the metrics fields into this object. */
		struct dn_buf mb = {0};
		struct dn_json mj;
		dn_json_init(&mj, &mb);
		if (!root)
			m.cpu_core = -1;
		metrics_with(&mj, &m, false, NULL, gpu, is_root, &t->opts.root, counters, NULL);
		if (mb.len > 2) {
			dn_buf_putc(b, ',');
			dn_buf_append(b, mb.data + 1, mb.len - 1); /* drop '{', keep '}' */
		} else {
			dn_buf_putc(b, '}');
		}
		dn_buf_free(&mb);
		end_line(b);
		return;
	}
	dn_json_obj_begin(&j);
	dn_json_key(&j, "kind");
	dn_json_str(&j, "tree");
	dn_json_key(&j, "ts_ms");
	dn_json_uint(&j, t->agg.ts_ms);
	dn_json_key(&j, "parent");
	if (root)
		metrics_with(&j, &root->m, false, NULL, gpu, is_root, &t->opts.root, NULL, NULL);
	else
		dn_json_null(&j);
	dn_json_key(&j, "children");
	dn_json_arr_begin(&j);
	for (size_t i = 0; i < t->nprocs; i++) {
		struct dn_proc *p = t->procs[i];
		if (p == root)
			continue;
		dn_json_obj_begin(&j);
		dn_json_key(&j, "pid");
		dn_json_int(&j, p->pid);
		dn_json_key(&j, "ppid");
		dn_json_int(&j, p->ppid);
		dn_json_key(&j, "command");
		put_command(&j, p);
		dn_json_key(&j, "metrics");
		dn_metrics_write_json(&j, &p->m, false);
		dn_json_obj_end(&j);
	}
	dn_json_arr_end(&j);
	dn_json_key(&j, "aggregated");
	metrics_with(&j, &t->agg, true, prof, gpu, in_tree, t, counters, psi);
	dn_json_obj_end(&j);
	end_line(b);
}

void dn_record_ebpf(struct dn_buf *b, const struct dn_profile *prof)
{
	struct dn_json j;
	dn_buf_puts(b, "{");
	if (dn_profile_offcpu(prof)) {
		dn_buf_puts(b, "\"offcpu\":");
		dn_json_init(&j, b);
		dn_profile_write_upstream(&j, prof);
	}
	const struct dn_systrace *sys = dn_profile_systrace(prof);
	if (sys) {
		dn_buf_puts(b, dn_profile_offcpu(prof) ? ",\"syscalls\":" : "\"syscalls\":");
		dn_json_init(&j, b);
		dn_systrace_write_upstream(&j, sys);
	}
	dn_buf_puts(b, "}");
}

void dn_record_exit(struct dn_buf *b, const struct dn_exit_info *e)
{
	struct dn_json j;
	dn_json_init(&j, b);
	dn_json_obj_begin(&j);
	dn_json_key(&j, "kind");
	dn_json_str(&j, "exit");
	dn_json_key(&j, "ts_ms");
	dn_json_uint(&j, e->ts_ms);
	dn_json_key(&j, "pid");
	dn_json_int(&j, e->pid);
	dn_json_key(&j, "exit_code");
	if (e->known)
		dn_json_int(&j, e->exit_code);
	else
		dn_json_null(&j);
	dn_json_key(&j, "signal");
	if (e->known && e->signal)
		dn_json_int(&j, e->signal);
	else
		dn_json_null(&j);
	if (e->detached) {
		dn_json_key(&j, "detached");
		dn_json_bool(&j, true);
	}
	dn_json_key(&j, "duration_secs");
	dn_json_fixed(&j, e->duration_secs, 3);
	dn_json_key(&j, "totals");
	if (e->source) {
		dn_json_obj_begin(&j);
		dn_json_key(&j, "source");
		dn_json_str(&j, e->source);
		dn_json_key(&j, "cpu_user_secs");
		dn_json_fixed(&j, e->cpu_user_secs, 6);
		dn_json_key(&j, "cpu_system_secs");
		dn_json_fixed(&j, e->cpu_system_secs, 6);
		dn_json_key(&j, "cpu_secs");
		dn_json_fixed(&j, e->cpu_user_secs + e->cpu_system_secs, 6);
		dn_json_key(&j, "mem_peak_kb");
		dn_json_uint(&j, e->mem_peak_kb);
		dn_json_key(&j, "processes");
		dn_json_uint(&j, e->processes);
		dn_json_key(&j, "processes_source");
		dn_json_str(&j, e->processes_source ? e->processes_source : "sampled");
		if (e->processes_source && strcmp(e->processes_source, "sampled") != 0) {
			dn_json_key(&j, "threads");
			dn_json_uint(&j, e->threads);
		}
		if (e->has_io) {
			dn_json_key(&j, "disk_read_bytes");
			dn_json_uint(&j, e->disk_read_bytes);
			dn_json_key(&j, "disk_write_bytes");
			dn_json_uint(&j, e->disk_write_bytes);
		}
		if (e->has_oom) {
			dn_json_key(&j, "oom_kills");
			dn_json_uint(&j, e->oom_kills);
		}
		dn_json_obj_end(&j);
	} else {
		dn_json_null(&j);
	}
	dn_json_key(&j, "sampled");
	dn_json_obj_begin(&j);
	dn_json_key(&j, "cpu_secs");
	dn_json_fixed(&j, e->sampled_cpu_secs, 6);
	dn_json_key(&j, "mem_peak_kb");
	dn_json_uint(&j, e->sampled_mem_peak_kb);
	dn_json_key(&j, "disk_read_bytes");
	dn_json_uint(&j, e->sampled_disk_read_bytes);
	dn_json_key(&j, "disk_write_bytes");
	dn_json_uint(&j, e->sampled_disk_write_bytes);
	dn_json_key(&j, "samples");
	dn_json_uint(&j, e->samples);
	dn_json_obj_end(&j);
	if (e->source) {
		/* exact minus sampled: what sampling missed (positive) */
		dn_json_key(&j, "gap");
		dn_json_obj_begin(&j);
		dn_json_key(&j, "cpu_secs");
		dn_json_fixed(&j, e->cpu_user_secs + e->cpu_system_secs - e->sampled_cpu_secs, 6);
		dn_json_key(&j, "mem_peak_kb");
		dn_json_int(&j, (int64_t)e->mem_peak_kb - (int64_t)e->sampled_mem_peak_kb);
		dn_json_obj_end(&j);
	}
	if (e->survivors > 0) {
		/* bounded: an exact count, a fixed number of them named */
		dn_json_key(&j, "survivors");
		dn_json_obj_begin(&j);
		dn_json_key(&j, "count");
		dn_json_uint(&j, e->survivors);
		dn_json_key(&j, "source");
		dn_json_str(&j, e->survivors_source ? e->survivors_source : "tree");
		dn_json_key(&j, "processes");
		dn_json_arr_begin(&j);
		for (int i = 0; i < e->nsurvivors_listed && i < DN_SURVIVORS_LISTED; i++) {
			dn_json_obj_begin(&j);
			dn_json_key(&j, "pid");
			dn_json_int(&j, e->survivor[i].pid);
			dn_json_key(&j, "command");
			dn_json_str(&j, e->survivor[i].command);
			dn_json_obj_end(&j);
		}
		dn_json_arr_end(&j);
		dn_json_obj_end(&j);
	}
	dn_json_key(&j, "overhead");
	dn_overhead_write(&j, &e->overhead);
	if (e->has_counters) {
		dn_json_key(&j, "counters");
		dn_perf_values_write_json(&j, &e->counters);
	}
	if (e->psi) {
		dn_json_key(&j, "psi");
		dn_psi_write_run_json(&j, e->psi);
	}
	const struct dn_systrace *sys = e->prof ? dn_profile_systrace(e->prof) : NULL;
	if (sys) {
		dn_json_key(&j, "ebpf");
		dn_json_obj_begin(&j);
		dn_json_key(&j, "syscalls");
		dn_systrace_write_upstream(&j, sys);
		dn_json_obj_end(&j);
	}
	dn_json_obj_end(&j);
	end_line(b);
}

void dn_record_mark(struct dn_buf *b, uint64_t ts_ms, const char *label)
{
	struct dn_json j;
	dn_json_init(&j, b);
	dn_json_obj_begin(&j);
	dn_json_key(&j, "kind");
	dn_json_str(&j, "mark");
	dn_json_key(&j, "ts_ms");
	dn_json_uint(&j, ts_ms);
	dn_json_key(&j, "label");
	dn_json_str(&j, label);
	dn_json_obj_end(&j);
	end_line(b);
}
