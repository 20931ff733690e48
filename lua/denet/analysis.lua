--[[
denet.analysis — analysis of recorded or live records (the public
`denet.analysis`; `denet stats FILE` prints analysis.summary).

Owns: the `stats` summary with upstream denet 0.6.1's arithmetic, and small
tools over the aggregate time series: series, peaks, resample, to_csv.

Every function takes `recs`: an array of records, or an iterator function
returning one record per call and nil at the end (e.g. `denet.read(path)`;
it is called without arguments). Records are the JSONL kinds of docs/data-format.md.

"Samples" are the aggregate metrics of the run, one per sampling instant:
  - the `aggregated` object of each `tree` record (an untagged record with
    an `aggregated` field counts as a tree; when the aggregate has no ts_ms,
    a copy with the record's ts_ms is used), if there is at least one;
  - otherwise the flat `sample` records, and kind-less tables (such as the
    output of resample) taken as they are.
  Other kinds (metadata, exit, alert, mark, env, offcpu) are not samples.
A metric name may be a dotted path into a sample ("ebpf.offcpu.total_time_ns").
Missing values and json.null count as absent. A metric or column name that
is neither a field of denet's samples (analysis.fields) nor present in any
of the samples given is a mistake (a typo): series, peaks and to_csv raise
"bad argument #2 to 'series' (unknown metric 'cpu_usgae': ...)" instead
of returning nothing.

  analysis.fields: set of the names samples have ({ cpu_usage = true,
      ["ebpf.offcpu.total_time_ns"] = true, ... }): the metrics of
      docs/data-format.md, the aggregate's extra fields and the documented
      ebpf.offcpu, ebpf.syscalls and psi paths
      ("psi.cgroup.memory.some.window_pct").

  analysis.samples(recs) -> list of samples (as above)

  analysis.summary(recs) -> table with upstream's fields:
      total_time_secs  = (last.ts_ms - first.ts_ms) / 1000   (float)
      sample_count     = number of samples
      max_processes    = max process_count (a sample without one, or with 0,
                         counts as 1 process: flat samples give 1)
      max_threads      = max thread_count
      total_disk_read_bytes, total_disk_write_bytes, total_syscall_read_bytes,
      total_syscall_write_bytes, total_sys_net_rx_bytes, total_sys_net_tx_bytes
                       = the LAST sample's value (0 if absent)
      peak_page_faults_cached, peak_page_faults_disk, peak_mem_rss_kb = max
      avg_cpu_usage    = mean of cpu_usage, rounded to 2 decimals as the
                         samples and the live summary are (float; 0.0
                         without samples)
    and, when an `exit` record is present (the last one wins):
      exit = { exit_code, signal, duration_secs, totals, sampled }
             copied from it (signal may be json.null, as decoded).
    Counters keep their Lua type (integers stay integers).
    `skipped_lines` is the caller's to add (see denet.read's state).

  analysis.syscalls(recs) -> summary | nil, windows
      The syscall figures of an eBPF run (docs/data-format.md), or nil when
      the records have none (older files, runs without --enable-ebpf): a
      `syscalls` object that is not a table or has no numeric `total` is
      taken as absent. The summary is of the exit record's ebpf.syscalls
      (complete: the last drain is at the exit) when there is one, else of
      the last sample's ebpf.syscalls:
        source       = "exit" | "sample"
        total, errors, time_ns, syscall_rate_per_sec, lost, untimed
                     = as recorded (cumulative since tracing began; 0 when absent)
        by_category  = { file_io = N, ... } as recorded (numbers only)
        shares       = { file_io = 0.6561, ... }: by_category / total, 4
                       decimals, for the categories with a count > 0
        top_syscalls, top_by_time = lists of { name, category, count,
                       errors, time_ns, p50_ns, p99_ns, max_ns } (entries
                       without a name or a count left out; other fields
                       nil when absent), by count / by time_ns, largest first
        peak_rate_per_sec = the highest window rate (absent without windows)
      windows: one { ts_ms, secs, total, errors, time_ns, by_category } per
      sample whose ebpf.syscalls.window has a positive `secs`, in order.

  analysis.gpu(recs) -> summary | nil, windows
      The GPU figures of a run with NVML (docs/data-format.md), or nil when
      the samples have no `gpu` object. The summary has upstream 0.6.1's
      GpuSummary fields and arithmetic: enabled (true), device_count (the
      most devices a sample lists), total_memory_gb (the last device's
      memory_total, GiB), peak_used_memory_gb (the highest memory_used of
      one device, GiB), max_system_gpu_utilization (%),
      max_process_gpu_utilization (%, nil when no process had a
      utilization sample), process_memory_usage_gb (the largest memory of
      one process of the tree, GiB); and, new, peak_tree_memory_bytes (the
      highest sum of the tree's processes' memory_usage in one sample).
      windows: one { ts_ms, devices, utilization (busiest device, %, nil
      when unknown), used_bytes and total_bytes (summed over the devices),
      tree_memory_bytes, process_utilization (%, nil when unknown) } per
      sample with a gpu object, in order.

  analysis.human_ns(ns, micro, none) -> "128 ns", "18.9 us", "2.72 ms",
      "1.44 s": a syscall time as stats and report show it; micro (optional)
      is the microsecond unit ("us"; the report's HTML gives "µs"), none
      (optional) what a missing value reads as ("-").

  analysis.syscall_categories: the categories in the records' order
      ("file_io", "memory", "process", "network", "time", "ipc",
      "security", "signal", "system", "other").

  analysis.series(recs, metric) -> ts_list, value_list
      ts_ms and value of every sample whose metric is a number.

  analysis.peaks(recs, metric [, opts]) -> list of { ts_ms = T, value = V }
      Local maxima of the metric's series. A peak is a run of equal values
      (a plateau; reported at its first sample) strictly greater than the
      samples just before and after it; the ends of the series count as
      lower than anything, so a rising series peaks at its last sample and a
      constant series has one peak at its first sample.
      opts.min_value = V : keep peaks with value >= V
      opts.top = N       : keep the N largest, sorted by value descending
                           (ties: earlier first); without `top`, peaks are in
                           time order.
      Unknown option keys are errors.

  analysis.resample(recs, ms) -> list of samples on a regular grid
      Buckets of `ms` milliseconds starting at the first sample's ts_ms:
      bucket k holds the samples with t0 + k*ms <= ts_ms < t0 + (k+1)*ms.
      Each output sample is a shallow copy of the last sample observed up to
      the end of its bucket (last observation carried forward, so counters,
      memory and counts keep their fields), with
        ts_ms     = t0 + k*ms (the bucket's start), and
        cpu_usage = the mean cpu_usage of the samples inside the bucket,
                    rounded to 2 decimals as samples are (an empty bucket
                    carries the last observed cpu_usage).
      One output per bucket from the first sample's to the last sample's.

  analysis.to_csv(recs [, columns]) -> CSV text
      A header line then one line per sample, "\n" line ends (also after the
      last line). Default columns: ts_ms, cpu_usage, mem_rss_kb, mem_vms_kb,
      disk_read_bytes, disk_write_bytes, process_count, thread_count.
      Cells: integers exactly, floats shortest round-trip (as denet.json),
      booleans true/false, tables as JSON text, absent -> empty. A cell or
      header containing a comma, quote, CR or LF is quoted, with quotes
      doubled (RFC 4180).
--]]

local json = require "denet.json"

local null = json.null
local mtype, huge, floor = math.type, math.huge, math.floor
local find, gsub, format = string.find, string.gsub, string.format
local concat, sort = table.concat, table.sort

local analysis = {}

-- Figures keep the precision the records have: cpu_usage 2 decimals.
local function round2(x)
  if x >= 0 then return math.floor(x * 100 + 0.5) / 100 end
  return -(math.floor(-x * 100 + 0.5) / 100)
end

local FIELDS = {}
for _, f in ipairs {
  "ts_ms", "cpu_usage", "mem_rss_kb", "mem_vms_kb", "disk_read_bytes", "disk_write_bytes",
  "syscall_read_bytes", "syscall_write_bytes", "page_faults_cached", "page_faults_disk",
  "sys_net_rx_bytes", "sys_net_tx_bytes", "thread_count", "uptime_secs", "cpu_core",
  "process_count", "processes_started", "mem_peak_kb", "cpu_usage_exited", "cpu_source", "cpu_secs", "pid", "kind",
  "ebpf", "ebpf.offcpu", "ebpf.offcpu.total_time_ns", "ebpf.offcpu.total_events",
  "ebpf.offcpu.avg_time_ns", "ebpf.offcpu.max_time_ns", "ebpf.offcpu.min_time_ns",
  "ebpf.offcpu.top_blocking_threads", "ebpf.offcpu.thread_stats",
  "ebpf.syscalls", "ebpf.syscalls.total", "ebpf.syscalls.errors", "ebpf.syscalls.time_ns",
  "ebpf.syscalls.syscall_rate_per_sec", "ebpf.syscalls.by_category", "ebpf.syscalls.top_syscalls",
  "ebpf.syscalls.top_by_time", "ebpf.syscalls.analysis", "ebpf.syscalls.lost", "ebpf.syscalls.untimed",
  "ebpf.syscalls.window", "ebpf.syscalls.window.secs", "ebpf.syscalls.window.total",
  "ebpf.syscalls.window.errors", "ebpf.syscalls.window.time_ns", "ebpf.syscalls.window.rate_per_sec",
  "ebpf.syscalls.window.by_category",
  "gpu", "gpu.system_metrics", "gpu.process_data", "gpu.has_process_data", "gpu.collection_method",
  "gpu.errors",
} do FIELDS[f] = true end
-- aggregated.psi (docs/data-format.md): psi.SCOPE.RES.LINE.FIGURE
FIELDS.psi, FIELDS["psi.window_ms"] = true, true
for _, scope in ipairs { "cgroup", "system" } do
  FIELDS["psi." .. scope] = true
  for _, res in ipairs { "cpu", "memory", "io" } do
    FIELDS["psi." .. scope .. "." .. res] = true
    for _, line in ipairs { "some", "full" } do
      local l = "psi." .. scope .. "." .. res .. "." .. line
      FIELDS[l] = true
      for _, fig in ipairs { "avg10", "total_us", "delta_us", "window_pct" } do FIELDS[l .. "." .. fig] = true end
    end
  end
end
analysis.fields = FIELDS

local function check_recs(recs, fname)
  local t = type(recs)
  if t ~= "table" and t ~= "function" then
    error("bad argument #1 to '" .. fname .. "' (table or iterator function expected, got "
      .. t .. ")", 3)
  end
end

-- Calls fn(rec) for each record of recs (array or iterator).
local function each(recs, fn)
  if type(recs) == "function" then
    for rec in recs do fn(rec) end
  else
    for i = 1, #recs do fn(recs[i]) end
  end
end
analysis.each = each

local function kind_of(rec)
  local k = rec.kind
  if k ~= nil then return k end
  if rec.aggregated ~= nil then return "tree" end
  if rec.cmd ~= nil and rec.pid ~= nil and rec.t0_ms ~= nil then return "metadata" end
  return nil
end

-- The aggregate of a tree record (with ts_ms filled in from the record).
local function tree_sample(rec)
  local agg = rec.aggregated
  if type(agg) ~= "table" or agg == null then return nil end
  if agg.ts_ms == nil and rec.ts_ms ~= nil then
    local c = {}
    for k, v in pairs(agg) do c[k] = v end
    c.ts_ms = rec.ts_ms
    agg = c
  end
  return agg
end

-- Classifies a record: returns "tree", sample | "flat", sample | nil.
local function classify(rec)
  if type(rec) ~= "table" then return nil end
  local k = kind_of(rec)
  if k == "tree" then
    local s = tree_sample(rec)
    if s then return "tree", s end
  elseif k == "sample" or k == nil then
    return "flat", rec
  end
  return nil
end

function analysis.samples(recs)
  check_recs(recs, "samples")
  local tree, flat = {}, {}
  each(recs, function(rec)
    local which, s = classify(rec)
    if which == "tree" then tree[#tree + 1] = s
    elseif which == "flat" and #tree == 0 then flat[#flat + 1] = s end
  end)
  if #tree > 0 then return tree end
  return flat
end
local samples = analysis.samples

-- A field's raw value in a sample (a dotted name walks into tables).
local function raw_getter(col)
  if not find(col, ".", 1, true) then
    return function(s) return s[col] end
  end
  local parts = {}
  for p in col:gmatch("[^.]+") do parts[#parts + 1] = p end
  return function(s)
    local v = s
    for i = 1, #parts do
      if type(v) ~= "table" then return nil end
      v = v[parts[i]]
    end
    return v
  end
end

-- Raises (blaming the user's line: `level` as for error()) unless `name`
-- is a field samples have or one of `list` has it: a typo must not read as
-- "no data".
local function check_name(name, get, list, fname, argn, what, level)
  if FIELDS[name] then return end
  for i = 1, #list do
    local v = get(list[i])
    if v ~= nil and v ~= null then return end
  end
  error(("bad argument #%d to '%s' (unknown %s '%s': neither a field of denet's samples "
    .. "nor in any of the %d samples given)"):format(argn, fname, what, name, #list), level + 1)
end

-- A metric's value in a sample, as a number or nil.
local function getter(metric, fname, level)
  if type(metric) ~= "string" then
    error("bad argument #2 to '" .. fname .. "' (metric name expected, got " .. type(metric) .. ")",
      level + 1)
  end
  local get = raw_getter(metric)
  return function(s)
    local v = get(s)
    if type(v) == "number" then return v end
    return nil
  end, get
end

local function num(v)
  if type(v) == "number" then return v end
  return nil
end

----------------------------------------------------------------------------
-- summary
----------------------------------------------------------------------------

local function new_acc()
  return {
    n = 0, first = nil, last_ts = nil, last = nil,
    max_processes = 0, max_threads = 0,
    peak_page_faults_cached = 0, peak_page_faults_disk = 0, peak_mem_rss_kb = 0,
    cpu_sum = 0.0,
  }
end

local function max_of(a, b)
  if b ~= nil and b > a then return b end
  return a
end

local function acc_add(acc, s)
  local ts = num(s.ts_ms)
  if ts then
    if acc.first == nil then acc.first = ts end
    acc.last_ts = ts
  end
  acc.n = acc.n + 1
  acc.last = s
  local pc = num(s.process_count)
  if pc == nil or pc == 0 then pc = 1 end
  acc.max_processes = max_of(acc.max_processes, pc)
  acc.max_threads = max_of(acc.max_threads, num(s.thread_count))
  acc.peak_page_faults_cached = max_of(acc.peak_page_faults_cached, num(s.page_faults_cached))
  acc.peak_page_faults_disk = max_of(acc.peak_page_faults_disk, num(s.page_faults_disk))
  acc.peak_mem_rss_kb = max_of(acc.peak_mem_rss_kb, num(s.mem_rss_kb))
  acc.cpu_sum = acc.cpu_sum + (num(s.cpu_usage) or 0)
end

local LAST_FIELDS = {
  { "total_disk_read_bytes", "disk_read_bytes" },
  { "total_disk_write_bytes", "disk_write_bytes" },
  { "total_syscall_read_bytes", "syscall_read_bytes" },
  { "total_syscall_write_bytes", "syscall_write_bytes" },
  { "total_sys_net_rx_bytes", "sys_net_rx_bytes" },
  { "total_sys_net_tx_bytes", "sys_net_tx_bytes" },
}

function analysis.summary(recs)
  check_recs(recs, "summary")
  local tree, flat = new_acc(), new_acc()
  local exit_rec
  each(recs, function(rec)
    local which, s = classify(rec)
    if which == "tree" then acc_add(tree, s)
    elseif which == "flat" then acc_add(flat, s)
    elseif type(rec) == "table" and rec.kind == "exit" then exit_rec = rec end
  end)
  local acc = tree.n > 0 and tree or flat
  local r = {
    total_time_secs = (acc.first and acc.last_ts) and (acc.last_ts - acc.first) / 1000 or 0.0,
    sample_count = acc.n,
    max_processes = acc.max_processes,
    max_threads = acc.max_threads,
    peak_page_faults_cached = acc.peak_page_faults_cached,
    peak_page_faults_disk = acc.peak_page_faults_disk,
    peak_mem_rss_kb = acc.peak_mem_rss_kb,
    avg_cpu_usage = acc.n > 0 and round2(acc.cpu_sum / acc.n) or 0.0,
  }
  for _, f in ipairs(LAST_FIELDS) do
    r[f[1]] = acc.last and num(acc.last[f[2]]) or 0
  end
  if exit_rec then
    r.exit = {
      exit_code = exit_rec.exit_code,
      signal = exit_rec.signal,
      duration_secs = exit_rec.duration_secs,
      totals = exit_rec.totals,
      sampled = exit_rec.sampled,
      gap = exit_rec.gap,
      overhead = exit_rec.overhead,
      counters = exit_rec.counters, -- --counters only
    }
  end
  return r
end

----------------------------------------------------------------------------
-- syscalls
----------------------------------------------------------------------------

function analysis.human_ns(ns, micro, none)
  if type(ns) ~= "number" or ns ~= ns then return none or "-" end
  if ns < 1e3 then return format("%d ns", floor(ns + 0.5)) end
  if ns < 1e6 then return format("%.3g %s", ns / 1e3, micro or "us") end
  if ns < 1e9 then return format("%.3g ms", ns / 1e6) end
  return format("%.2f s", ns / 1e9)
end

analysis.syscall_categories = { "file_io", "memory", "process", "network", "time", "ipc",
  "security", "signal", "system", "other" }

local function count_of(v)
  if type(v) == "number" and v >= 0 and v < huge then return v end
  return nil
end

local function is_table(v) return type(v) == "table" and v ~= null end

-- The ebpf.syscalls object of an aggregate or exit record, if usable.
local function syscalls_in(t)
  local e = is_table(t) and t.ebpf
  local sc = is_table(e) and e.syscalls
  if is_table(sc) and count_of(sc.total) then return sc end
  return nil
end

local function categories(t)
  local out = {}
  if is_table(t) then
    for k, v in pairs(t) do
      if type(k) == "string" and count_of(v) then out[k] = v end
    end
  end
  return out
end

local TOP_FIELDS = { "errors", "time_ns", "p50_ns", "p99_ns", "max_ns" }

local function top_list(list, key)
  local out = setmetatable({}, json.array_mt)
  if not is_table(list) then return out end
  for _, e in ipairs(list) do
    if is_table(e) and type(e.name) == "string" and count_of(e.count) then
      local r = { name = e.name, count = e.count,
        category = type(e.category) == "string" and e.category or nil }
      for _, f in ipairs(TOP_FIELDS) do r[f] = count_of(e[f]) end
      out[#out + 1] = r
    end
  end
  -- recorded largest first; sorted again (stably by name) for files written by hand
  sort(out, function(a, b)
    local x, y = a[key] or -1, b[key] or -1
    if x ~= y then return x > y end
    return a.name < b.name
  end)
  return out
end

function analysis.syscalls(recs)
  check_recs(recs, "syscalls")
  -- as samples(): the tree aggregates when there are any, else the flat samples
  local from = { tree = { windows = {} }, flat = { windows = {} } }
  local at_exit
  each(recs, function(rec)
    local which, s = classify(rec)
    local sc = which and syscalls_in(s)
    if sc then
      local acc = from[which]
      acc.last = sc
      local w = sc.window
      if is_table(w) and type(w.secs) == "number" and w.secs > 0 and w.secs < huge then
        acc.windows[#acc.windows + 1] = { ts_ms = num(s.ts_ms), secs = w.secs,
          total = count_of(w.total) or 0, errors = count_of(w.errors) or 0,
          time_ns = count_of(w.time_ns) or 0, by_category = categories(w.by_category) }
      end
    elseif type(rec) == "table" and rec.kind == "exit" then
      at_exit = syscalls_in(rec) or at_exit
    end
  end)
  local acc = from.tree.last and from.tree or from.flat
  local windows, sc = acc.windows, at_exit or acc.last
  if not sc then return nil, windows end
  local r = { source = at_exit and "exit" or "sample", total = sc.total }
  for _, f in ipairs { "errors", "time_ns", "syscall_rate_per_sec", "lost", "untimed" } do
    r[f] = count_of(sc[f]) or 0
  end
  r.by_category = categories(sc.by_category)
  r.shares = {}
  for k, v in pairs(r.by_category) do
    if v > 0 and sc.total > 0 then r.shares[k] = floor(v / sc.total * 10000 + 0.5) / 10000 end
  end
  r.top_syscalls = top_list(sc.top_syscalls, "count")
  r.top_by_time = top_list(sc.top_by_time, "time_ns")
  local peak
  for _, w in ipairs(windows) do peak = max_of(peak or 0, w.total / w.secs) end
  r.peak_rate_per_sec = peak and round2(peak)
  return r, windows
end

-- The gpu object of an aggregate or a flat sample, if usable.
local function gpu_in(t)
  local g = is_table(t) and t.gpu
  if is_table(g) and is_table(g.system_metrics) then return g end
  return nil
end

local GIB = 1024 * 1024 * 1024

function analysis.gpu(recs)
  check_recs(recs, "gpu")
  -- as samples(): the tree aggregates when there are any, else the flat samples
  local from = { tree = { windows = {} }, flat = { windows = {} } }
  each(recs, function(rec)
    local which, s = classify(rec)
    local g = which and gpu_in(s)
    if g then
      local w = { ts_ms = num(s.ts_ms), devices = 0, used_bytes = 0, total_bytes = 0,
        tree_memory_bytes = 0 }
      for _, d in ipairs(g.system_metrics) do
        if is_table(d) then
          w.devices = w.devices + 1
          local u = count_of(d.system_utilization_gpu)
          if u then w.utilization = max_of(w.utilization or 0, u) end
          w.used_bytes = w.used_bytes + (count_of(d.memory_used) or 0)
          w.total_bytes = w.total_bytes + (count_of(d.memory_total) or 0)
          w.last_total = count_of(d.memory_total) or w.last_total
          local used = count_of(d.memory_used)
          if used then w.peak_device_used = max_of(w.peak_device_used or 0, used) end
        end
      end
      for _, p in ipairs(is_table(g.process_data) and g.process_data or {}) do
        if is_table(p) then
          local m = count_of(p.memory_usage)
          if m then
            w.tree_memory_bytes = w.tree_memory_bytes + m
            w.max_process_memory = max_of(w.max_process_memory or 0, m)
          end
          local u = count_of(p.gpu_utilization)
          if u then w.process_utilization = max_of(w.process_utilization or 0, u) end
        end
      end
      from[which].windows[#from[which].windows + 1] = w
    end
  end)
  local windows = #from.tree.windows > 0 and from.tree.windows or from.flat.windows
  if #windows == 0 then return nil, windows end
  -- upstream's GpuSummary, with its arithmetic (GiB as "gb"; total: the
  -- last device's memory_total, peak used: the highest of one device)
  local r = { enabled = true, device_count = 0, total_memory_gb = 0.0, peak_used_memory_gb = 0.0,
    max_system_gpu_utilization = 0, process_memory_usage_gb = 0.0, peak_tree_memory_bytes = 0 }
  local max_proc_mem = 0
  for _, w in ipairs(windows) do
    r.device_count = max_of(r.device_count, w.devices)
    if w.last_total then r.total_memory_gb = w.last_total / GIB end
    if w.peak_device_used then r.peak_used_memory_gb = max_of(r.peak_used_memory_gb, w.peak_device_used / GIB) end
    if w.utilization then r.max_system_gpu_utilization = max_of(r.max_system_gpu_utilization, w.utilization) end
    if w.process_utilization then
      r.max_process_gpu_utilization = max_of(r.max_process_gpu_utilization or 0, w.process_utilization)
    end
    max_proc_mem = max_of(max_proc_mem, w.max_process_memory or 0)
    r.peak_tree_memory_bytes = max_of(r.peak_tree_memory_bytes, w.tree_memory_bytes)
  end
  r.process_memory_usage_gb = max_proc_mem / GIB
  return r, windows
end

----------------------------------------------------------------------------
-- series, peaks
----------------------------------------------------------------------------

-- level: of the user's call, as seen from here (for error()).
local function series(recs, metric, fname, level)
  local get, raw = getter(metric, fname, level + 1)
  local list = samples(recs)
  check_name(metric, raw, list, fname, 2, "metric", level + 1)
  local ts, vals, n = {}, {}, 0
  for _, s in ipairs(list) do
    local v = get(s)
    if v ~= nil then
      n = n + 1
      ts[n] = num(s.ts_ms) or json.null
      vals[n] = v
    end
  end
  return ts, vals
end

function analysis.series(recs, metric)
  check_recs(recs, "series")
  local ts, vals = series(recs, metric, "series", 2) -- not a tail call: error levels count frames
  return ts, vals
end

local PEAK_OPTS = { min_value = "number", top = "number" }

function analysis.peaks(recs, metric, opts)
  check_recs(recs, "peaks")
  opts = opts or {}
  if type(opts) ~= "table" then
    error("bad argument #3 to 'peaks' (table expected, got " .. type(opts) .. ")", 2)
  end
  for k, v in pairs(opts) do
    local want = PEAK_OPTS[k]
    if not want then error("peaks: unknown option '" .. tostring(k) .. "'", 2) end
    if type(v) ~= want then
      error("peaks: option '" .. k .. "' must be a " .. want .. ", got " .. type(v), 2)
    end
  end
  if opts.top and (opts.top < 0 or mtype(opts.top) ~= "integer") then
    error("peaks: option 'top' must be a non-negative integer", 2)
  end
  local ts, v = series(recs, metric, "peaks", 2)
  local n, out = #v, {}
  local i = 1
  while i <= n do
    local j = i
    while j < n and v[j + 1] == v[i] do j = j + 1 end
    local left = i > 1 and v[i - 1] or -huge
    local right = j < n and v[j + 1] or -huge
    if v[i] > left and v[i] > right
      and (opts.min_value == nil or v[i] >= opts.min_value) then
      out[#out + 1] = { ts_ms = ts[i], value = v[i], _i = i }
    end
    i = j + 1
  end
  if opts.top then
    sort(out, function(a, b)
      if a.value ~= b.value then return a.value > b.value end
      return a._i < b._i
    end)
    for k = #out, opts.top + 1, -1 do out[k] = nil end
  end
  for _, p in ipairs(out) do p._i = nil end
  return out
end

----------------------------------------------------------------------------
-- resample
----------------------------------------------------------------------------

function analysis.resample(recs, ms)
  check_recs(recs, "resample")
  -- not (ms > 0): NaN is refused too
  if type(ms) ~= "number" or not (ms > 0) or ms == huge then -- luacheck: ignore 581
    error("bad argument #2 to 'resample' (positive number of ms expected)", 2)
  end
  local list = samples(recs)
  local out = {}
  local t0, k_cur, sum, cnt, last
  local function emit(k)
    local row = {}
    for key, val in pairs(last) do row[key] = val end
    local t = t0 + k * ms
    row.ts_ms = math.tointeger(t) or t
    if cnt > 0 then row.cpu_usage = round2(sum / cnt) end
    out[#out + 1] = row
    sum, cnt = 0.0, 0
  end
  for _, s in ipairs(list) do
    local ts = num(s.ts_ms)
    if ts then
      if t0 == nil then t0, k_cur, sum, cnt = ts, 0, 0.0, 0 end
      local k = (ts - t0) // ms
      while k > k_cur do
        emit(k_cur)
        k_cur = k_cur + 1
      end
      local c = num(s.cpu_usage)
      if c then sum, cnt = sum + c, cnt + 1 end
      last = s
    end
  end
  if last then emit(k_cur) end
  return out
end

----------------------------------------------------------------------------
-- to_csv
----------------------------------------------------------------------------

analysis.csv_columns = {
  "ts_ms", "cpu_usage", "mem_rss_kb", "mem_vms_kb",
  "disk_read_bytes", "disk_write_bytes", "process_count", "thread_count",
}

local function csv_quote(s)
  if find(s, '[,"\r\n]') then return '"' .. gsub(s, '"', '""') .. '"' end
  return s
end

local function csv_cell(v)
  local t = type(v)
  if v == nil or v == null then return "" end
  if t == "number" then
    if mtype(v) == "integer" then return format("%d", v) end
    if v ~= v then return "nan" end
    if v == huge then return "inf" end
    if v == -huge then return "-inf" end
    local s = format("%.14g", v)
    if tonumber(s) ~= v then s = format("%.17g", v) end
    return s
  elseif t == "string" then
    return csv_quote(v)
  elseif t == "boolean" then
    return v and "true" or "false"
  elseif t == "table" then
    local ok, s = pcall(json.encode, v)
    return csv_quote(ok and s or tostring(v))
  end
  return csv_quote(tostring(v))
end

function analysis.to_csv(recs, columns)
  check_recs(recs, "to_csv")
  columns = columns or analysis.csv_columns
  if type(columns) ~= "table" or #columns == 0 then
    error("bad argument #2 to 'to_csv' (non-empty list of column names expected)", 2)
  end
  local gets, header = {}, {}
  for i, c in ipairs(columns) do
    if type(c) ~= "string" then
      error("bad argument #2 to 'to_csv' (column " .. i .. " is not a string)", 2)
    end
    gets[i] = raw_getter(c)
    header[i] = csv_quote(c)
  end
  local list = samples(recs)
  for i, c in ipairs(columns) do check_name(c, gets[i], list, "to_csv", 2, "column", 2) end
  local lines = { concat(header, ",") }
  local row = {}
  for _, s in ipairs(list) do
    for i = 1, #gets do row[i] = csv_cell(gets[i](s)) end
    lines[#lines + 1] = concat(row, ",", 1, #gets)
  end
  return concat(lines, "\n") .. "\n"
end

return analysis
