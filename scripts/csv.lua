--[[
csv.lua — a command's aggregate metrics as CSV, one row per sample.

usage:
  denet scripts/csv.lua [--columns a,b,c] [--interval MS] -- CMD [ARGS...]
  denet scripts/csv.lua [--columns a,b,c] FILE.jsonl

Live: runs CMD and writes a header, then one CSV row per sample on stdout
as it is taken (flushed, so `| tail -f`-style consumers see rows at once).
The command's stdout goes to stderr (denet.run's stdout = "stderr") so that
stdout is pure CSV. Exits with the command's status; a command that cannot
be run is one error line, exit 127 (126 when not executable), and no CSV.

File: converts the aggregate samples of a recorded JSONL file.

Columns are fields of the aggregate (`aggregated` of each tree record):
ts_ms, cpu_usage, mem_rss_kb, mem_vms_kb, disk_read_bytes,
disk_write_bytes, syscall_read_bytes, syscall_write_bytes,
page_faults_cached, page_faults_disk, sys_net_rx_bytes, sys_net_tx_bytes,
thread_count, process_count, uptime_secs, mem_peak_kb. Default:
ts_ms,cpu_usage,mem_rss_kb,mem_vms_kb,disk_read_bytes,disk_write_bytes,
process_count,thread_count. Rows are made by denet.analysis.to_csv
(RFC 4180 quoting; absent values are empty cells). A column that is not a
field of the samples (a typo) is an error (exit 2) before anything runs;
with a file, a field that the file's own samples have is accepted too.

example:
  denet scripts/csv.lua --columns ts_ms,cpu_usage,mem_rss_kb -- make -j4 > usage.csv
--]]
local denet = require "denet"

local parser = denet.args.parser{
  name = "csv",
  usage = [==[
usage: denet scripts/csv.lua [--columns a,b,c] [--interval MS] -- CMD [ARGS...]
       denet scripts/csv.lua [--columns a,b,c] FILE.jsonl]==],
  { "columns", value = "a,b,c", help = "the fields of the aggregate, in this order" },
  { "interval", value = "MS", type = "number", min = 1, help = "sample every MS ms" },
}
local o, words, dashdash = parser:parse_or_exit(arg)
local columns
if o.columns then
  columns = {}
  for c in o.columns:gmatch("[^,%s]+") do columns[#columns + 1] = c end
  if #columns == 0 then parser:fail("--columns needs at least one column") end
end
if #words == 0 then parser:fail("give a command (after --) or a JSONL file") end

-- An unknown column name would be an empty column: say so instead.
local function unknown_column(name)
  io.stderr:write("denet: csv: unknown column '", name, "' (not a field of the samples; see --help)\n")
  os.exit(2)
end

if not dashdash and #words == 1 and words[1]:match("%.jsonl?$") then
  local it, st = denet.read(words[1])
  if not it then
    io.stderr:write("denet: csv: ", st, "\n")
    os.exit(1)
  end
  local ok, text = pcall(denet.analysis.to_csv, it, columns)
  if not ok then
    local bad = tostring(text):match("unknown column '(.-)': ")
    if bad then unknown_column(bad) end
    error(text, 0)
  end
  io.stdout:write(text)
  if st.skipped > 0 then
    io.stderr:write(("denet: csv: skipped %d malformed lines in %s\n"):format(st.skipped, words[1]))
  end
  os.exit(0)
end

for _, c in ipairs(columns or {}) do
  if not denet.analysis.fields[c] then unknown_column(c) end
end

-- The command's stdout goes to denet's stderr: stdout is the CSV. The
-- command is run as given (no shell around it), so the records name it and
-- a command that cannot run fails here, before any CSV is written.
local spec = { interval = o.interval, stdout = "stderr" }
for k, w in ipairs(words) do spec[k] = w end
local p, msg, code = denet.run(spec)
if not p then
  io.stderr:write("denet: csv: ", msg, "\n")
  os.exit(code == "ENOENT" and 127 or (code == "EACCES" and 126) or 1)
end

local header = true
p:on("sample", function(rec)
  local text = denet.analysis.to_csv({ rec }, columns)
  if not header then text = text:gsub("^[^\n]*\n", "") end
  header = false
  io.stdout:write(text)
  io.stdout:flush()
end)
local status = p:wait()
if header then -- no sample at all: still a valid CSV
  io.stdout:write((denet.analysis.to_csv({}, columns)))
end
os.exit(status or 1)
