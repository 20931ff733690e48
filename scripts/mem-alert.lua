--[[
mem-alert.lua — alert when a command's memory crosses a limit.

usage:
  denet scripts/mem-alert.lua --limit SIZE [--for MS] [--action stop|term|kill]
                              [--interval MS] [--out FILE] -- CMD [ARGS...]

Runs CMD under denet and watches the resident memory (RSS) of its whole
process tree (the command and all its descendants, summed). When it goes
above SIZE (e.g. 512M, 2G, 1.5G; powers of 1024; a plain number is kB) --
and stays above for MS milliseconds with --for -- one line goes to stderr:

  denet: mem-alert: RSS 153.2 MiB > limit 100.0 MiB (pid 1234)

When it falls back below 90 % of the limit, a "clear" line follows; a
new crossing after that alerts again. The rule is evaluated in C on every
sample; it samples every --interval ms (100 by default).

  --action stop   SIGSTOP the tree at the alert (resume it with kill -CONT)
  --action term   SIGTERM the tree, SIGKILL after a grace period
  --action kill   SIGKILL the tree at once
  --out FILE      write the run as JSONL (tree samples, `alert` records for
                  each fire and clear, and the `exit` record)

Exit status: the command's (128+N when killed by signal N, so 137 after
--action kill); 127/126 when CMD is not found / cannot be executed; 2 for
bad arguments (with a usage message on stderr).

example:
  denet scripts/mem-alert.lua --limit 2G --action kill --out run.jsonl -- python3 train.py
--]]
local denet = require "denet"

local parser = denet.args.parser{
  name = "mem-alert",
  usage = [[
usage: denet scripts/mem-alert.lua --limit SIZE [--for MS] [--action stop|term|kill]
                                   [--interval MS] [--out FILE] -- CMD [ARGS...]
  SIZE: 512M, 2G, 1.5G (powers of 1024) or a number of kB]],
  { "limit", value = "SIZE", help = "alert when the tree's RSS goes above SIZE (required)" },
  { "for", value = "MS", key = "for_ms", type = "number", min = 0, help = "only when above for MS ms" },
  { "action", value = "ACTION", choices = { "stop", "term", "kill" }, help = "what to do at the alert" },
  { "interval", value = "MS", type = "number", min = 1, help = "sample every MS ms (default 100)" },
  { "out", value = "FILE", help = "write the run as JSONL" },
}

-- "153.2 MiB" / "2.0 GiB" from kB.
local function human_kb(kb)
  local mib = kb / 1024
  if mib >= 1024 then return ("%.1f GiB"):format(mib / 1024) end
  return ("%.1f MiB"):format(mib)
end

local o, cmd = parser:parse_or_exit(arg)
if not o.limit then parser:fail("--limit is required") end
do
  local ok, kb = pcall(denet.size, o.limit, "mem_rss_kb")
  if not ok or kb <= 0 then parser:fail("--limit '" .. o.limit .. "' is not a size (e.g. 512M, 2G)") end
  o.limit_kb = kb
end
if #cmd == 0 then parser:fail("the command is missing (after --)") end

local spec = { interval = o.interval, out = o.out }
for i, w in ipairs(cmd) do spec[i] = w end
local p, msg, code = denet.run(spec)
if not p then
  io.stderr:write("denet: mem-alert: ", msg, "\n")
  if msg:find("cannot write", 1, true) then os.exit(1) end
  os.exit(code == "ENOENT" and 127 or (code == "EACCES" or code == "ENOEXEC") and 126 or 1)
end

local doing = {
  stop = "; stopping the command (SIGSTOP): resume it with kill -CONT -- " .. p.pid,
  term = "; terminating the command (SIGTERM)",
  kill = "; killing the command (SIGKILL)",
}

p:watch{
  metric = "mem_rss_kb",
  above = o.limit_kb,
  clear_below = o.limit_kb * 0.9,
  for_ms = o.for_ms,
  action = o.action,
  name = "mem-alert",
  on_fire = function(a)
    io.stderr:write(("denet: mem-alert: RSS %s > limit %s (pid %d)%s\n"):format(
      human_kb(a.value), human_kb(a.threshold), a.pid, doing[o.action] or ""))
  end,
  on_clear = function(a)
    io.stderr:write(("denet: mem-alert: RSS %s back below %s (pid %d)\n"):format(
      human_kb(a.value), human_kb(a.threshold), a.pid))
  end,
}

local status = p:wait()
os.exit(status or 1)
