/*
 * metrics_schema.h — the one list of a sample's metrics. Everything that
 * names the fields of a sample is derived from DN_METRICS below:
 *
 *   - the fields of struct dn_metrics (metrics.h),
 *   - the JSON object of a `tree` record's parent / children[].metrics /
 *     aggregated and of a flat `sample` record (dn_metrics_write_json),
 *   - the sum of a tree's samples into its aggregate (dn_metrics_accumulate),
 *   - which metrics a threshold rule may watch (p:watch, rules.c),
 *   - the Lua table a hook receives (push_metrics in the bindings).
 *
 * Each row: X(name, type, scope, agg, watch, unit, doc)
 *   name   the JSON key, the Lua key and the C field;
 *   type   U64 (integer), PCT (double, 2 decimals), SECS (double,
 *          6 decimals), CORE (int, null in JSON / false in Lua when < 0),
 *          SRC (const char *, "proc" when NULL);
 *   scope  PROC (per process only), AGG (aggregate only) or BOTH;
 *   agg    how dn_metrics_accumulate folds a process into the aggregate:
 *          SUM, MAX, FIRST (keep the first non-zero), COUNT (+1 per
 *          process) or NONE (the caller sets it);
 *   watch  NO, TREE (p:watch on the aggregate) or ANY (also scope "any":
 *          the largest value of one process);
 *   unit, doc   what docs/data-format.md's metrics table says, in short.
 *
 * The row order is the JSON order, which is upstream denet's (Metrics /
 * AggregatedMetrics) so that records diff cleanly against upstream's
 * output: a per-process object is the BOTH and PROC rows in order, an
 * aggregate the BOTH and AGG rows. Fields new in denet come last.
 *
 * Adding a metric is one row here plus the code that reads it (procfs.c /
 * proctree.c fill the struct field). For example a count of system calls:
 *
 *   X(syscall_count, U64, BOTH, SUM, TREE, "count", "system calls, a delta")
 *
 * placed before cpu_secs, then `m->syscall_count = ...` in the reader. The
 * JSON, the aggregate, p:watch and the Lua tables follow; add its line to
 * docs/data-format.md's metrics table (tests/spec/schema_spec.lua checks
 * that the records, the Lua tables and that table agree).
 */
#ifndef DENET_METRICS_SCHEMA_H
#define DENET_METRICS_SCHEMA_H

/* clang-format off */
#define DN_METRICS(X) \
	X(ts_ms,               U64,  BOTH, FIRST, NO,   "ms since epoch", "wall clock when it was read") \
	X(cpu_usage,           PCT,  BOTH, SUM,   ANY,  "% of one CPU",   "CPU in the window since the previous sample; 100 = one core") \
	X(mem_rss_kb,          U64,  BOTH, SUM,   ANY,  "KiB",            "resident set size") \
	X(mem_vms_kb,          U64,  BOTH, SUM,   TREE, "KiB",            "virtual memory size") \
	X(disk_read_bytes,     U64,  BOTH, SUM,   TREE, "bytes",          "/proc/PID/io read_bytes, a delta") \
	X(disk_write_bytes,    U64,  BOTH, SUM,   TREE, "bytes",          "/proc/PID/io write_bytes, a delta") \
	X(syscall_read_bytes,  U64,  BOTH, SUM,   TREE, "bytes",          "/proc/PID/io rchar, a delta") \
	X(syscall_write_bytes, U64,  BOTH, SUM,   TREE, "bytes",          "/proc/PID/io wchar, a delta") \
	X(page_faults_cached,  U64,  BOTH, SUM,   TREE, "count",          "minor page faults (stat minflt), a delta") \
	X(page_faults_disk,    U64,  BOTH, SUM,   TREE, "count",          "major page faults (stat majflt), a delta") \
	/* Namespace-wide: every process of a network namespace reports the \
	 * same counters, so a sum would count the traffic once per process. */ \
	X(sys_net_rx_bytes,    U64,  BOTH, MAX,   TREE, "bytes",          "received by the namespace's interfaces but lo, a delta") \
	X(sys_net_tx_bytes,    U64,  BOTH, MAX,   TREE, "bytes",          "sent by the namespace's interfaces but lo, a delta") \
	X(thread_count,        U64,  BOTH, SUM,   TREE, "count",          "threads") \
	X(process_count,       U64,  AGG,  COUNT, TREE, "count",          "processes in this sample") \
	/* From the fork events, so a process that lived between two samples \
	 * counts; the caller sets it (without events: those first sampled). */ \
	X(processes_started,   U64,  AGG,  NONE,  TREE, "count",          "processes the run started in the window, ended ones included") \
	/* The tree has been up as long as its oldest member. */ \
	X(uptime_secs,         U64,  BOTH, MAX,   TREE, "s",              "time since the process started") \
	/* A peak across samples, not processes: the caller keeps it. */ \
	X(mem_peak_kb,         U64,  AGG,  NONE,  TREE, "KiB",            "running peak of the aggregated RSS") \
	X(cpu_usage_exited,    PCT,  AGG,  NONE,  NO,   "% of one CPU",   "the part of cpu_usage from processes that ended in the window") \
	X(cpu_source,          SRC,  AGG,  NONE,  NO,   "",               "where cpu_usage came from: \"cgroup\" or \"proc\"") \
	X(cpu_core,            CORE, PROC, NONE,  NO,   "int",            "the CPU the process last ran on; -1 for none") \
	/* Of a process: since monitoring started (since it started with \
	 * since_process_start); of an aggregate: of the whole tree, ended \
	 * processes included, so the caller sets it. */ \
	X(cpu_secs,            SECS, BOTH, NONE,  NO,   "s",              "CPU time since monitoring started")
/* clang-format on */

/* C types of the `type` column (struct dn_metrics' fields). */
#define DN_METRIC_CTYPE_U64  uint64_t
#define DN_METRIC_CTYPE_PCT  double
#define DN_METRIC_CTYPE_SECS double
#define DN_METRIC_CTYPE_CORE int
#define DN_METRIC_CTYPE_SRC  const char *

#endif
