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
      local t = e.totals
      if type(t) == "table" then
        io.write(("  %-28s %s (%s)\n"):format("exact cpu_secs", tostring(t.cpu_secs), tostring(t.source)))
        io.write(("  %-28s %s\n"):format("exact mem_peak_kb", tostring(t.mem_peak_kb)))
      end
    end
    if st.skipped > 0 then
      io.write(("  %-28s %d\n"):format("skipped_lines", st.skipped))
    end
  end
  return 0
end
