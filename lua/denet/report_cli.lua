-- report_cli.lua — `denet report FILE [-o OUT.html]`: a self-contained HTML
-- report of a recorded JSONL file (built by denet.report), written to OUT,
-- by default beside FILE with .jsonl replaced by .html. Prints the path
-- written. Malformed lines are skipped and counted, as `denet stats` does.
-- Exit status: 0 written; 1 unreadable input, no samples, or unwritable OUT.
local read = require "denet.read"
local report = require "denet.report"

local function default_out(file)
  local base = file:gsub("%.jsonl$", "")
  if base == file then base = file:gsub("%.json$", "") end
  return base .. ".html"
end

return function(file, out)
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
  local m = report.model(recs)
  if #m.samples == 0 then
    io.stderr:write("denet: no samples in '", file, "'\n")
    return 1
  end
  out = out or default_out(file)
  m.source, m.skipped = file, st.skipped
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
