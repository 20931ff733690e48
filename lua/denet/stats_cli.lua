-- stats_cli.lua — `denet stats FILE` (alias `summary`): upstream 0.6.1's
-- summary of a recorded JSONL file, with the exact totals of its `exit`
-- record when there is one. Malformed lines are skipped and counted.
local json = require "denet.json"
local read = require "denet.read"
local analysis = require "denet.analysis"

local ORDER = {
  "total_time_secs", "sample_count", "max_processes", "max_threads",
  "total_disk_read_bytes", "total_disk_write_bytes",
  "total_syscall_read_bytes", "total_syscall_write_bytes",
  "peak_page_faults_cached", "peak_page_faults_disk",
  "total_sys_net_rx_bytes", "total_sys_net_tx_bytes",
  "peak_mem_rss_kb", "avg_cpu_usage",
}

return function(file, as_json, stats_out)
  local it, st = read(file)
  if not it then
    io.stderr:write("denet: cannot read '", file, "': ", tostring(st), "\n")
    return 1
  end
  local recs = {}
  for rec in it, st do recs[#recs + 1] = rec end
  if st.skipped > 0 then
    io.stderr:write(("denet: skipped %d malformed lines in %s\n"):format(st.skipped, file))
  end
  local s = analysis.summary(recs)
  s.skipped_lines = st.skipped
  -- two decimals, as the live summary (summary.c) writes it
  s.avg_cpu_usage = math.floor(s.avg_cpu_usage * 100 + 0.5) / 100
  if (s.sample_count or 0) == 0 then
    io.stderr:write("denet: no samples in '", file, "'\n")
    return 1
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
    end
    if st.skipped > 0 then
      io.write(("  %-28s %d\n"):format("skipped_lines", st.skipped))
    end
  end
  return 0
end
