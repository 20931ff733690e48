--[[
stages.lua — a per-stage summary of a command, using marks.

usage:
  denet scripts/stages.lua [--every SECS] [--interval MS] [--out FILE.jsonl] -- CMD [ARGS...]

--interval MS samples every MS ms for the whole run (default: denet's
adaptive sampling, 100 ms slowing to 1 s over the first 10 s).

Splits the run into stages and prints one table row per stage on stderr
when the command ends (stdout is left to the command):

  - by default a stage starts whenever the command starts a new direct
    child (the steps of a shell script or of `make`): stage "2: gzip big.txt";
  - with --every SECS, a stage is each SECS-second slice of the run:
    stage "t+10s".

Each stage boundary is also written as a `mark` record (p:mark), so with
--out the stages are in the JSONL file for denet stats/report. For each
stage: start (seconds since the run began), duration, samples, CPU time
(the tree's cpu_usage integrated over the sample intervals, so it counts
the same however loaded the machine is), average and peak CPU (100 % = one
core), peak RSS, and disk bytes read and written during it. A label longer
than 60 bytes keeps the program's name: "3: .../busy 0.4". Exits with the
command's status.

example:
  denet scripts/stages.lua -- sh -c 'make; make test; make install'
--]]
local denet = require "denet"

local parser = denet.args.parser{
  name = "stages",
  usage = [==[
usage: denet scripts/stages.lua [--every SECS] [--interval MS] [--out FILE.jsonl] -- CMD [ARGS...]]==],
  { "every", value = "SECS", type = "number", above = 0, help = "a stage every SECS seconds (default: per child)" },
  { "interval", value = "MS", type = "number", min = 1, help = "sample every MS ms for the whole run" },
  { "out", value = "FILE", help = "write the run, with its marks, as JSONL" },
}
local o, cmd = parser:parse_or_exit(arg)
if #cmd == 0 then parser:fail("the command is missing (after --)") end
local every, interval = o.every, o.interval

-- A given --interval is kept for the whole run (no adaptive slowing): what
-- a stage runs in its last interval is counted in the next stage's first
-- sample, so the interval is the precision of the split.
local spec = { interval = interval, max_interval = interval, out = o.out }
for k, w in ipairs(cmd) do spec[k] = w end
local p, msg, code = denet.run(spec)
if not p then
  io.stderr:write("denet: stages: ", msg, "\n")
  os.exit(code == "ENOENT" and 127 or (code == "EACCES" and 126) or 1)
end

local stages, cur = {}, nil
local t0, last
-- the first sample covers one interval from the start
local step_ms = interval or 100

local function begin(label, pid, command)
  cur = { label = label, pid = pid, command = command, n = 0, cpu_sum = 0, cpu_secs = 0,
    cpu_peak = 0, rss_peak = 0,
    start_ts = last and last.ts_ms or nil, read0 = last and last.disk_read_bytes or 0,
    write0 = last and last.disk_write_bytes or 0 }
  stages[#stages + 1] = cur
  p:mark(label)
end

begin(every and "t+0s" or "1: start")

p:on("sample", function(rec)
  local a = rec.aggregated or rec
  t0 = t0 or a.ts_ms
  cur.start_ts = cur.start_ts or a.ts_ms
  cur.n = cur.n + 1
  cur.cpu_sum = cur.cpu_sum + a.cpu_usage
  local dt = last and (a.ts_ms - last.ts_ms) or step_ms
  cur.cpu_secs = cur.cpu_secs + a.cpu_usage / 100 * dt / 1000
  if a.cpu_usage > cur.cpu_peak then cur.cpu_peak = a.cpu_usage end
  if a.mem_rss_kb > cur.rss_peak then cur.rss_peak = a.mem_rss_kb end
  cur.end_ts = a.ts_ms
  cur.read1, cur.write1 = a.disk_read_bytes, a.disk_write_bytes
  -- a child seen before its exec shows its parent's command: refresh
  -- (but not with the bare name, at most 15 bytes, it shows as a zombie)
  if cur.pid and rec.children then
    for _, ch in ipairs(rec.children) do
      local prog = (cur.command or ""):match("^(%S*)")
      local base = prog:match("([^/]*)$")
      local zombie_name = #ch.command <= 15 and not ch.command:find(" ", 1, true)
        and base:sub(1, #ch.command) == ch.command
      if ch.pid == cur.pid and ch.command ~= "" and not zombie_name then
        cur.command = ch.command
        cur.label = ("%d: %s"):format(#stages, ch.command)
      end
    end
  end
  last = a
end)

if every then
  denet.every(every * 1000, function(h)
    if not p.running then return h:cancel() end
    local secs = #stages * every
    begin(("t+%gs"):format(secs))
  end)
else
  p:on("spawn", function(child)
    if child.ppid == p.pid then
      begin(("%d: %s"):format(#stages + 1, child.command), child.pid, child.command)
    end
  end)
end

local status = p:wait()

local function mib(kb) return ("%.1f MiB"):format(kb / 1024) end
local function bytes(b)
  if b >= 1048576 then return ("%.1f MiB"):format(b / 1048576) end
  if b >= 1024 then return ("%.1f KiB"):format(b / 1024) end
  return ("%d B"):format(b)
end
local e = io.stderr
-- At most 60 bytes; a long command keeps its program's name.
local short_command = denet.report.short_command
for _, s in ipairs(stages) do
  if s.command then
    local prefix = s.label:match("^%d+: ")
    s.label = prefix .. short_command(s.command, 60 - #prefix)
  else
    s.label = short_command(s.label, 60)
  end
end
local width = 5
for _, s in ipairs(stages) do width = math.max(width, #s.label) end
e:write(("%-" .. width .. "s %8s %8s %8s %8s %8s %10s %10s  %s\n"):format("stage", "start", "secs",
  "samples", "cpu time", "avg cpu", "peak cpu", "peak rss", "disk read/write"))
for _, s in ipairs(stages) do
  if s.n > 0 then
    e:write(("%-" .. width .. "s %7.1fs %7.2fs %8d %7.2fs %7.1f%% %9.1f%% %10s  %s\n"):format(s.label,
      (s.start_ts - t0) / 1000, (s.end_ts - s.start_ts) / 1000, s.n, s.cpu_secs, s.cpu_sum / s.n,
      s.cpu_peak, mib(s.rss_peak),
      bytes((s.read1 or 0) - s.read0) .. " / " .. bytes((s.write1 or 0) - s.write0)))
  end
end
os.exit(status or 1)
