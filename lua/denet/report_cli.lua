-- report_cli.lua — `denet report FILE [-o OUT.html]`: a self-contained HTML
-- report of a recorded JSONL file (built by denet.report), written to OUT,
-- by default beside FILE with .jsonl replaced by .html. Prints the path
-- written. Malformed lines are skipped and counted, as `denet stats` does.
-- Exit status: 0 written; 1 unreadable input, no samples, or unwritable OUT.
local recording = require "denet.recording"
local report = require "denet.report"

local function default_out(file)
  local base = file:gsub("%.jsonl$", "")
  if base == file then base = file:gsub("%.json$", "") end
  return base .. ".html"
end

return function(file, out)
  local recs, skipped = recording.load(file)
  if not recs then return 1 end
  local m = report.model(recs)
  if #m.samples == 0 then
    io.stderr:write("denet: no samples in '", file, "'\n")
    return 1
  end
  out = out or default_out(file)
  m.source, m.skipped = file, skipped
  local ok, html = pcall(report.render, m)
  if not ok then
    io.stderr:write("denet: report: ", tostring(html), "\n")
    return 1
  end
  local f, err = io.open(out, "wb")
  if not f then
    io.stderr:write("denet: cannot write '", out, "': ", tostring(err), "\n")
    return 1
  end
  local wok, werr = f:write(html)
  local cok, cerr = f:close()
  if not wok or not cok then
    io.stderr:write("denet: cannot write '", out, "': ", tostring(werr or cerr), "\n")
    return 1
  end
  io.write(out, "\n")
  return 0
end
