-- stats_cli.lua — `denet stats FILE` (alias `summary`): upstream 0.6.1's
-- summary of a recorded JSONL file, with the exact totals of its `exit`
-- record when there is one.
--
-- Owns what counts as a well-formed record here. As upstream's typed
-- reader does, a line is skipped (and counted in skipped_lines) when it is
-- not JSON, not an object, or when a field it has holds the wrong type:
-- a string for a number, a float or a negative number or 1e999 for a
-- counter, an `aggregated` that is not an object. Fields denet does not
-- know are left alone; missing ones count as absent. The field names of
-- older denet files are read as today's (net_rx_bytes -> sys_net_rx_bytes).
-- A recording with eBPF syscall figures gets a `syscalls` summary
-- (analysis.syscalls) after upstream's fields, one with NVML figures
-- upstream's `gpu` summary (analysis.gpu); one without is printed as
-- upstream prints it.
local json = require "denet.json"
local recording = require "denet.recording"
local analysis = require "denet.analysis"

local null, array_mt = json.null, json.array_mt
local mtype, huge = math.type, math.huge

local function is_u64(v)
  if mtype(v) == "integer" then return v >= 0 end
  -- above 2^63 the decoder gives floats: still a u64 up to 2^64
  return mtype(v) == "float" and v >= 0x1p63 and v < 0x1p64 and v == math.floor(v)
end

local function is_finite(v)
  return type(v) == "number" and v == v and v ~= huge and v ~= -huge
end

local function is_object(v)
  return type(v) == "table" and v ~= null and getmetatable(v) ~= array_mt
end

local function is_array(v)
  return type(v) == "table" and getmetatable(v) == array_mt
end

local CHECK = {
  u64 = is_u64,
  number = is_finite,
  string = function(v) return type(v) == "string" end,
  core = function(v) return v == null or (mtype(v) == "integer" and v >= 0 and v < 0x100000000) end,
  int_or_null = function(v) return v == null or mtype(v) == "integer" end,
  object_or_null = function(v) return v == null or is_object(v) end,
}

-- The metrics of a process, an aggregate or a flat sample.
local METRICS = {
  ts_ms = "u64", cpu_usage = "number", mem_rss_kb = "u64", mem_vms_kb = "u64",
  disk_read_bytes = "u64", disk_write_bytes = "u64",
  syscall_read_bytes = "u64", syscall_write_bytes = "u64",
  page_faults_cached = "u64", page_faults_disk = "u64",
  sys_net_rx_bytes = "u64", sys_net_tx_bytes = "u64",
  net_rx_bytes = "u64", net_tx_bytes = "u64",
  thread_count = "u64", process_count = "u64", processes_started = "u64", uptime_secs = "u64",
  mem_peak_kb = "u64", cpu_usage_exited = "number", cpu_source = "string", cpu_secs = "number",
  cpu_core = "core", pid = "u64",
}

local function fields_ok(t, schema)
  for k, want in pairs(schema) do
    local v = t[k]
    if v ~= nil and not CHECK[want](v) then return false end
  end
  return true
end

-- Upstream 0.6.1 (and older denet) wrote net_rx_bytes / net_tx_bytes.
local function legacy_names(m)
  if m.sys_net_rx_bytes == nil then m.sys_net_rx_bytes = m.net_rx_bytes end
  if m.sys_net_tx_bytes == nil then m.sys_net_tx_bytes = m.net_tx_bytes end
end

local function metrics_ok(m)
  if not is_object(m) or not fields_ok(m, METRICS) then return false end
  legacy_names(m)
  return true
end

local TREE = { ts_ms = "u64", parent = "object_or_null", aggregated = "object_or_null" }
local METADATA = { pid = "u64", t0_ms = "u64", executable = "string" }
local EXIT = {
  ts_ms = "u64", pid = "u64", exit_code = "int_or_null", signal = "int_or_null",
  duration_secs = "number", totals = "object_or_null", sampled = "object_or_null",
}

local function tree_ok(r)
  if not fields_ok(r, TREE) then return false end
  if is_object(r.parent) and not metrics_ok(r.parent) then return false end
  if is_object(r.aggregated) and not metrics_ok(r.aggregated) then return false end
  if r.children ~= nil then
    if not is_array(r.children) then return false end
    for _, c in ipairs(r.children) do
      if not is_object(c) or not fields_ok(c, { pid = "u64", ppid = "u64" })
        or (c.metrics ~= nil and not metrics_ok(c.metrics)) then
        return false
      end
    end
  end
  return true
end

-- Whether a record read from the file has the types its kind promises.
local function well_typed(r)
  local k = r.kind
  if k == "tree" then return tree_ok(r)
  elseif k == "sample" then return metrics_ok(r)
  elseif k == "metadata" then
    return fields_ok(r, METADATA) and (r.cmd == nil or is_array(r.cmd))
  elseif k == "exit" then return fields_ok(r, EXIT)
  elseif k == nil then return metrics_ok(r) -- untagged: taken as a flat sample
  end
  return true -- mark, alert, env, offcpu: not read here
end

local ORDER = {
  "total_time_secs", "sample_count", "max_processes", "max_threads",
  "total_disk_read_bytes", "total_disk_write_bytes",
  "total_syscall_read_bytes", "total_syscall_write_bytes",
  "peak_page_faults_cached", "peak_page_faults_disk",
  "total_sys_net_rx_bytes", "total_sys_net_tx_bytes",
  "peak_mem_rss_kb", "avg_cpu_usage",
}

local dur = analysis.human_ns

local function count_text(v)
  if v == nil then return "-" end
  return math.tointeger(v) and ("%d"):format(v) or ("%.0f"):format(v)
end

local function write_syscalls(sc)
  local err_share = sc.total > 0 and (" (%.2f%%)"):format(sc.errors / sc.total * 100) or ""
  io.write(("  %-28s %s, %s errors%s, %.2f/s%s; from the %s\n"):format("syscalls",
    count_text(sc.total), count_text(sc.errors), err_share, sc.syscall_rate_per_sec,
    sc.peak_rate_per_sec and (" (peak window %.2f/s)"):format(sc.peak_rate_per_sec) or "",
    sc.source == "exit" and "exit record (complete)" or "last sample"))
  io.write(("  %-28s %s (summed over threads)\n"):format("syscall_time", dur(sc.time_ns)))
  local cats = {}
  for k, v in pairs(sc.shares) do cats[#cats + 1] = { k, v } end
  table.sort(cats, function(a, b)
    if a[2] ~= b[2] then return a[2] > b[2] end
    return a[1] < b[1]
  end)
  for i, c in ipairs(cats) do
    cats[i] = c[2] < 0.00005 and c[1] .. " <0.01%" or ("%s %.2f%%"):format(c[1], c[2] * 100)
  end
  io.write(("  %-28s %s\n"):format("syscall_categories", #cats > 0 and table.concat(cats, ", ") or "-"))
  if sc.lost > 0 or sc.untimed > 0 then
    io.write(("  %-28s %s not counted (map full), %s without a time\n"):format("syscalls_missed",
      count_text(sc.lost), count_text(sc.untimed)))
  end
  for _, t in ipairs { { "count", sc.top_syscalls }, { "time", sc.top_by_time } } do
    if #t[2] > 0 then
      io.write(("  top syscalls by %s:\n"):format(t[1]))
      io.write(("    %-20s %-9s %10s %8s %9s %9s %9s %9s\n"):format("name", "category", "count", "errors",
        "time", "p50", "p99", "max"))
      for _, e in ipairs(t[2]) do
        io.write(("    %-20s %-9s %10s %8s %9s %9s %9s %9s\n"):format(e.name, e.category or "-",
          count_text(e.count), count_text(e.errors), dur(e.time_ns), dur(e.p50_ns), dur(e.p99_ns),
          dur(e.max_ns)))
      end
    end
  end
end

-- upstream's GPU summary rows, and the tree's own GPU memory
local function write_gpu(g)
  local function gib(x) return ("%.2f GiB"):format(x) end
  io.write(("  %-28s %d\n"):format("gpu_devices", g.device_count))
  io.write(("  %-28s %s of %s\n"):format("gpu_peak_used_memory", gib(g.peak_used_memory_gb),
    gib(g.total_memory_gb)))
  io.write(("  %-28s %.0f%%\n"):format("gpu_max_utilization", g.max_system_gpu_utilization))
  if g.max_process_gpu_utilization then
    io.write(("  %-28s %.0f%%\n"):format("gpu_max_process_utilization", g.max_process_gpu_utilization))
  end
  io.write(("  %-28s %s (peak; largest process %s)\n"):format("gpu_tree_memory",
    gib(g.peak_tree_memory_bytes / (1024 * 1024 * 1024)), gib(g.process_memory_usage_gb)))
end

return function(file, as_json, stats_out)
  local recs, skipped = recording.load(file, well_typed)
  if not recs then return 1 end
  local s = analysis.summary(recs)
  s.skipped_lines = skipped
  s.syscalls = analysis.syscalls(recs)
  s.gpu = analysis.gpu(recs)
  -- two decimals, as the live summary (summary.c) writes it
  s.avg_cpu_usage = math.floor(s.avg_cpu_usage * 100 + 0.5) / 100
  if (s.sample_count or 0) == 0 then
    if not s.exit then
      io.stderr:write("denet: no samples in '", file, "'\n")
      return 1
    end
    -- A command that ended before the first sample: no sample describes
    -- it, but its exit record holds the kernel's exact totals.
    io.stderr:write("denet: no samples in '", file, "' (the command ended before the first); "
      .. "the exit record's totals follow\n")
  end
  local text = json.encode(s)
  if stats_out then
    local f, err = io.open(stats_out, "w")
    if not f then
      io.stderr:write("denet: cannot write '", stats_out, "': ", err, "\n")
      return 1
    end
    f:write(text, "\n")
    f:close()
  end
  if as_json then
    io.write(text, "\n")
  else
    io.write(("Summary of %s\n"):format(file))
    for _, k in ipairs(ORDER) do
      local v = s[k]
      if v ~= nil then
        if math.type(v) == "float" then v = ("%.2f"):format(v) end
        io.write(("  %-28s %s\n"):format(k, tostring(v)))
      end
    end
    if s.exit then
      local e = s.exit
      io.write(("  %-28s %s\n"):format("exit_code", tostring(e.exit_code)))
      local t, sm, gap = e.totals, e.sampled, e.gap
      if type(t) == "table" then
        -- exact (kernel) and sampled side by side, and what sampling missed
        local function field(tbl, k) return type(tbl) == "table" and tostring(tbl[k]) or "-" end
        io.write(("  %-28s exact %s (%s), sampled %s, gap %s\n"):format("cpu_secs",
          field(t, "cpu_secs"), field(t, "source"), field(sm, "cpu_secs"), field(gap, "cpu_secs")))
        io.write(("  %-28s exact %s, sampled %s, gap %s\n"):format("mem_peak_kb",
          field(t, "mem_peak_kb"), field(sm, "mem_peak_kb"), field(gap, "mem_peak_kb")))
        if t.oom_kills ~= nil then
          io.write(("  %-28s %s\n"):format("oom_kills", tostring(t.oom_kills)))
        end
      end
      local c = e.counters
      if type(c) == "table" then
        -- --counters: the run's perf counters, in the record's order
        local parts = {}
        for _, k in ipairs { "context_switches", "cpu_migrations", "page_faults", "task_clock_ns",
          "cycles", "instructions" } do
          if c[k] ~= nil then parts[#parts + 1] = k .. " " .. tostring(c[k]) end
        end
        io.write(("  %-28s %s\n"):format("counters", table.concat(parts, ", ")))
      end
      local o = e.overhead
      if type(o) == "table" then
        -- what watching cost (denet's own figures)
        local bpf = type(o.bpf_secs) == "number" and (", bpf %.3f s"):format(o.bpf_secs) or ""
        io.write(("  %-28s cpu %.3f s, peak rss %s kB, sampling %.3f s, hooks %.3f s%s\n"):format(
          "overhead", o.cpu_secs or 0, tostring(o.peak_rss_kb), o.sampling_secs or 0,
          o.hooks_secs or 0, bpf))
        io.write(("  %-28s %s late, %s missed of %s (latest %.1f ms)\n"):format("samples",
          tostring(o.samples_late), tostring(o.samples_missed), tostring(o.samples_timed),
          o.max_late_ms or 0))
      end
    end
    if s.syscalls then write_syscalls(s.syscalls) end
    if s.gpu then write_gpu(s.gpu) end
    if skipped > 0 then
      io.write(("  %-28s %d\n"):format("skipped_lines", skipped))
    end
  end
  return 0
end
