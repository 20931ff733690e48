--[[
report.lua — a readable Markdown report of a run, recorded or live.

usage:
  denet scripts/report.lua FILE.jsonl
  denet scripts/report.lua [--interval MS] [--out FILE.jsonl]
                           [--watch METRIC>VALUE]... -- CMD [ARGS...]

With a file: reads a JSONL recording (`denet -o FILE run ...`, or any
script's `out = FILE`; bad lines are skipped and counted) and prints the
report on stdout.

With a command: runs it under denet, collects every sample through
p:on("sample"), and prints the report when it ends. The command's stdout
goes to stderr (denet.run's stdout = "stderr") so that stdout holds only
the report. A command that cannot be run is one error line, exit 127 (126
when not executable), and no report. --out also records
the run as JSONL; --watch adds an alert rule (e.g. --watch mem_rss_kb>2G,
--watch cpu_usage>150) whose fires and clears are listed in the report.
The exit status is the command's.

The report: command, host (of the recording: its `env` or `metadata`
record), duration, exit status and kernel totals; CPU and memory peaks
and averages; the top processes by CPU time and by peak memory (from the
`children` of tree records, the command itself included); I/O totals;
alerts; marks. A process's CPU time is its
cpu_usage integrated over the sample intervals, so a helper seen busy in
one sample does not outrank a worker busy for the whole run.

example:
  denet scripts/report.lua -- make -j8 > build-report.md
  denet scripts/report.lua run.jsonl
--]]
local denet = require "denet"

local parser = denet.args.parser{
  name = "report",
  usage = [==[
usage: denet scripts/report.lua FILE.jsonl
       denet scripts/report.lua [--interval MS] [--out FILE.jsonl] [--watch METRIC>VALUE]... -- CMD [ARGS...]]==],
  { "interval", value = "MS", type = "number", min = 1, help = "sample every MS ms" },
  { "out", value = "FILE", help = "also record the run as JSONL" },
  { "watch", value = "METRIC>VALUE", many = true, help = "an alert rule, e.g. mem_rss_kb>2G" },
}

local null = denet.json.null
local function num(v)
  if type(v) == "number" then return v end
  return nil
end

local function human_bytes(b)
  b = b or 0
  local units = { "B", "KiB", "MiB", "GiB", "TiB" }
  local i = 1
  while b >= 1024 and i < #units do
    b = b / 1024
    i = i + 1
  end
  return i == 1 and ("%d B"):format(b) or ("%.1f %s"):format(b, units[i])
end

local function human_kb(kb) return human_bytes((kb or 0) * 1024) end

-- A table cell: one line, at most 60 bytes before escaping. A long
-- command keeps its program's name (".../busy 0.3"), not the start of a path.
local short_command = denet.report.short_command
local function md_escape(s)
  s = short_command((tostring(s):gsub("[\r\n]", " ")), 60)
  return (s:gsub("|", "\\|"))
end

-- Whether a process's newly seen command line should replace the one it
-- had: yes after its exec (a child is first seen with its parent's), but
-- not for the bare name (comm, at most 15 bytes) a zombie shows at the end.
local function better_command(old, new)
  if not new or new == "" then return false end
  if not old or old == "" then return true end
  local prog = old:match("^(%S+)") or ""
  local base = prog:match("([^/]+)$") or prog
  return not (#new <= 15 and not new:find(" ", 1, true) and base:sub(1, #new) == new)
end

-- Everything the report needs, fed one record at a time.
local function new_collector()
  local c = { samples = {}, procs = {}, alerts = {}, marks = {}, meta = nil, exit = nil }
  function c.add(rec)
    local kind = rec.kind
    if kind == "metadata" then
      c.meta = rec
    elseif kind == "env" then
      c.env = rec
    elseif kind == "exit" then
      c.exit = rec
    elseif kind == "alert" then
      c.alerts[#c.alerts + 1] = rec
    elseif kind == "mark" then
      c.marks[#c.marks + 1] = rec
    elseif kind == "tree" or kind == "sample" then
      local agg = kind == "tree" and rec.aggregated or rec
      if type(agg) ~= "table" then return end
      agg = setmetatable({ ts_ms = agg.ts_ms or rec.ts_ms }, { __index = agg })
      c.samples[#c.samples + 1] = agg
      -- the window this sample's cpu_usage covers: since the previous
      -- sample (the first: since monitoring started)
      local ts = num(agg.ts_ms)
      local since = c.prev_ts or (c.meta and num(c.meta.t0_ms))
      local dt = (ts and since and ts > since) and (ts - since) / 1000 or 0
      if ts then c.prev_ts = ts end
      -- per-process figures: the command itself and each child
      local function seen(pid, command, m)
        if type(m) ~= "table" or not pid then return end
        local pr = c.procs[pid]
        if not pr then
          pr = { pid = pid, command = command, cpu_sum = 0, cpu_secs = 0, n = 0, cpu_peak = 0, rss_peak = 0 }
          c.procs[pid] = pr
        end
        if better_command(pr.command, command) then pr.command = command end
        local cpu, rss = num(m.cpu_usage) or 0, num(m.mem_rss_kb) or 0
        pr.cpu_sum, pr.n = pr.cpu_sum + cpu, pr.n + 1
        pr.cpu_secs = pr.cpu_secs + cpu / 100 * dt
        if cpu > pr.cpu_peak then pr.cpu_peak = cpu end
        if rss > pr.rss_peak then pr.rss_peak = rss end
      end
      if kind == "tree" then
        local root = c.meta and c.meta.pid or c.root_pid
        local cmd = c.meta and type(c.meta.cmd) == "table" and table.concat(c.meta.cmd, " ")
        if type(rec.parent) == "table" then seen(root or 0, cmd or "(command)", rec.parent) end
        for _, ch in ipairs(type(rec.children) == "table" and rec.children or {}) do
          seen(ch.pid, ch.command, ch.metrics)
        end
      else
        seen(rec.pid or (c.meta and c.meta.pid) or 0, nil, rec)
      end
    end
  end
  return c
end

local function stats(samples, metric)
  local peak, peak_ts, sum, n = nil, nil, 0, 0
  for _, s in ipairs(samples) do
    local v = num(s[metric])
    if v then
      if not peak or v > peak then peak, peak_ts = v, s.ts_ms end
      sum, n = sum + v, n + 1
    end
  end
  return peak, peak_ts, n > 0 and sum / n or nil
end

local function render(c, source)
  local out = {}
  local function w(...) out[#out + 1] = table.concat({ ... }) end
  local s = c.samples
  local t0 = (c.meta and num(c.meta.t0_ms)) or (s[1] and s[1].ts_ms) or 0
  local function rel(ts) return ts and ("+%.1f s"):format((ts - t0) / 1000) or "-" end
  local cmd = c.meta and type(c.meta.cmd) == "table" and table.concat(c.meta.cmd, " ") or "(unknown)"
  w("# denet report: `", md_escape(cmd), "`")
  w("")
  w("- Source: ", source)
  local host = (c.env and c.env.host ~= null and c.env.host) or (c.meta and c.meta.host ~= null and c.meta.host)
  if host then w("- Host: ", md_escape(host)) end
  if c.meta then w("- PID: ", tostring(c.meta.pid)) end
  local dur = c.exit and num(c.exit.duration_secs)
    or (#s > 1 and (s[#s].ts_ms - s[1].ts_ms) / 1000) or 0
  w(("- Duration: %.2f s, %d samples"):format(dur, #s))
  if c.exit then
    local sig = c.exit.signal
    w("- Exit status: ", tostring(c.exit.exit_code),
      (num(sig) and (" (killed by signal " .. sig .. ")") or ""))
    local t = c.exit.totals
    if type(t) == "table" and t.source and t.source ~= null then
      w(("- Kernel totals (%s): CPU %.2f s (user %.2f s, system %.2f s), peak RSS %s, %s processes")
        :format(t.source, num(t.cpu_secs) or 0, num(t.cpu_user_secs) or 0,
          num(t.cpu_system_secs) or 0, human_kb(num(t.mem_peak_kb)), tostring(t.processes or "?")))
    end
  else
    w("- Exit status: unknown (no `exit` record)")
  end
  if c.skipped and c.skipped > 0 then w("- Skipped malformed lines: ", c.skipped) end
  w("")

  w("## CPU and memory")
  w("")
  w("| metric | peak | at | average |")
  w("|---|---:|---:|---:|")
  local pk, pts, avg = stats(s, "cpu_usage")
  w(("| CPU (100 %% = one core) | %.1f %% | %s | %.1f %% |"):format(pk or 0, rel(pts), avg or 0))
  pk, pts, avg = stats(s, "mem_rss_kb")
  w(("| RSS | %s | %s | %s |"):format(human_kb(pk), rel(pts), human_kb(avg)))
  pk, pts, avg = stats(s, "mem_vms_kb")
  w(("| VMS | %s | %s | %s |"):format(human_kb(pk), rel(pts), human_kb(avg)))
  pk, pts = stats(s, "process_count")
  w(("| processes | %d | %s | %.1f |"):format(pk or 1, rel(pts), select(3, stats(s, "process_count")) or 1))
  pk, pts, avg = stats(s, "thread_count")
  w(("| threads | %d | %s | %.1f |"):format(pk or 0, rel(pts), avg or 0))
  w("")

  local procs = {}
  for _, pr in pairs(c.procs) do procs[#procs + 1] = pr end
  local function top(title, key)
    table.sort(procs, function(a, b)
      if a[key] ~= b[key] then return a[key] > b[key] end
      return a.pid < b.pid
    end)
    w("## Top processes by ", title)
    w("")
    if #procs == 0 then
      w("(no per-process data)")
    else
      w("| pid | command | CPU time | peak CPU | avg CPU | peak RSS | samples |")
      w("|---:|---|---:|---:|---:|---:|---:|")
      for i = 1, math.min(5, #procs) do
        local pr = procs[i]
        w(("| %s | `%s` | %.2f s | %.1f %% | %.1f %% | %s | %d |"):format(tostring(pr.pid),
          md_escape(pr.command or "?"), pr.cpu_secs, pr.cpu_peak, pr.cpu_sum / pr.n,
          human_kb(pr.rss_peak), pr.n))
      end
    end
    w("")
  end
  top("CPU time", "cpu_secs")
  top("memory", "rss_peak")

  local last = s[#s] or {}
  w("## I/O (totals over the run)")
  w("")
  w("| | read | write |")
  w("|---|---:|---:|")
  w(("| disk | %s | %s |"):format(human_bytes(num(last.disk_read_bytes)), human_bytes(num(last.disk_write_bytes))))
  w(("| syscalls | %s | %s |"):format(human_bytes(num(last.syscall_read_bytes)),
    human_bytes(num(last.syscall_write_bytes))))
  w(("| network (namespace-wide) | %s rx | %s tx |"):format(human_bytes(num(last.sys_net_rx_bytes)),
    human_bytes(num(last.sys_net_tx_bytes))))
  w("")

  w("## Alerts")
  w("")
  if #c.alerts == 0 then
    w("none")
  else
    w("| at | rule | metric | state | value | threshold | pid |")
    w("|---:|---|---|---|---:|---:|---:|")
    for _, a in ipairs(c.alerts) do
      w(("| %s | %s | %s | %s | %s | %s | %s |"):format(rel(num(a.ts_ms)), md_escape(a.rule),
        md_escape(a.metric), md_escape(a.state), tostring(a.value), tostring(a.threshold), tostring(a.pid)))
    end
  end
  w("")
  w("## Marks")
  w("")
  if #c.marks == 0 then
    w("none")
  else
    w("| at | label |")
    w("|---:|---|")
    for _, m in ipairs(c.marks) do w(("| %s | %s |"):format(rel(num(m.ts_ms)), md_escape(m.label))) end
  end
  return table.concat(out, "\n") .. "\n"
end

-- arguments
if #arg == 0 then parser:fail() end
local opts, cmd, dashdash = parser:parse_or_exit(arg)

if #arg == 1 and cmd[1] == "-" then parser:fail("name the recording: '-' (stdin) is not read") end
if #arg == 1 and #cmd == 1 and not dashdash then
  -- a recorded file
  local path = cmd[1]
  local c = new_collector()
  local it, st = denet.read(path)
  if not it then
    io.stderr:write("denet: report: ", st, "\n")
    os.exit(1)
  end
  for rec in it, st do c.add(rec) end
  c.skipped = st.skipped
  io.stdout:write(render(c, "`" .. md_escape(path) .. "`"))
  os.exit(0)
end

local watches = {}
for _, w in ipairs(opts.watch) do
  local metric, op, value = w:match("^([%w_]+)%s*([<>])%s*(.+)$")
  if not metric then parser:fail("--watch takes METRIC>VALUE or METRIC<VALUE, e.g. mem_rss_kb>2G") end
  watches[#watches + 1] = { metric = metric, op = op, value = value }
end
if #cmd == 0 then parser:fail("the command is missing (after --)") end

-- The command's stdout goes to denet's stderr: stdout carries the report.
-- The command is run as given (no shell around it): the records name it.
local spec = { interval = opts.interval, out = opts.out, stdout = "stderr" }
for k, w in ipairs(cmd) do spec[k] = w end
local c = new_collector()
local p, msg, code = denet.run(spec)
if not p then
  io.stderr:write("denet: report: ", msg, "\n")
  os.exit(code == "ENOENT" and 127 or (code == "EACCES" and 126) or 1)
end
c.root_pid = p.pid
c.meta = { kind = "metadata", pid = p.pid, cmd = table.move(cmd, 1, #cmd, 1, {}), t0_ms = nil }
do -- a live run is on this machine
  local f = io.open("/proc/sys/kernel/hostname")
  if f then
    c.meta.host = f:read("l")
    f:close()
  end
end
for _, wt in ipairs(watches) do
  local rule = { metric = wt.metric, name = wt.metric .. wt.op .. wt.value,
    on_fire = c.add, on_clear = c.add }
  rule[wt.op == ">" and "above" or "below"] = tonumber(wt.value) or wt.value
  local ok, err = pcall(p.watch, p, rule)
  if not ok then
    p:signal("KILL")
    parser:fail(err)
  end
end
p:on("sample", function(rec)
  -- the first sample comes one interval after the start
  if not c.meta.t0_ms then c.meta.t0_ms = rec.ts_ms - (opts.interval or 100) end
  c.add(rec)
end)
local status, totals = p:wait()
if totals then
  c.add({ kind = "exit", exit_code = status, signal = totals.signal, duration_secs = totals.duration_secs,
    totals = totals })
end
if c.meta.cmd[1] == nil then c.meta.cmd = { "(command)" } end
io.stdout:write(render(c, "live run"))
io.stdout:flush()
os.exit(status or 1)
