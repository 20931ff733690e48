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

local USAGE = [[
usage: denet scripts/mem-alert.lua --limit SIZE [--for MS] [--action stop|term|kill]
                                   [--interval MS] [--out FILE] -- CMD [ARGS...]
  SIZE: 512M, 2G, 1.5G (powers of 1024) or a number of kB]]

local function usage(msg)
  if msg then io.stderr:write("denet: mem-alert: ", msg, "\n") end
  io.stderr:write(USAGE, "\n")
  os.exit(2)
end

-- "153.2 MiB" / "2.0 GiB" from kB.
local function human_kb(kb)
  local mib = kb / 1024
  if mib >= 1024 then return ("%.1f GiB"):format(mib / 1024) end
  return ("%.1f MiB"):format(mib)
end

local function parse_args(argv)
  local o, i = {}, 1
  local function value(name)
    i = i + 1
    local v = argv[i]
    if v == nil then usage(name .. " needs a value") end
    return v
  end
  while i <= #argv do
    local a = argv[i]
    local name, inline = a:match("^(%-%-[%w-]+)=(.*)$")
    if name then
      a = name
      table.insert(argv, i + 1, inline)
    end
    if a == "--" then
      i = i + 1
      break
    elseif a == "-h" or a == "--help" then
      io.stdout:write(USAGE, "\n")
      os.exit(0)
    elseif a == "--limit" then
      o.limit = value(a)
    elseif a == "--for" then
      o.for_ms = tonumber(value(a))
      if not o.for_ms or o.for_ms < 0 then usage("--for takes a number of milliseconds >= 0") end
    elseif a == "--interval" then
      o.interval = tonumber(value(a))
      if not o.interval or o.interval < 1 then usage("--interval takes a number of milliseconds >= 1") end
    elseif a == "--action" then
      o.action = value(a)
      if o.action ~= "stop" and o.action ~= "term" and o.action ~= "kill" then
        usage("--action must be stop, term or kill, not '" .. o.action .. "'")
      end
    elseif a == "--out" then
      o.out = value(a)
    elseif a:sub(1, 1) == "-" then
      usage("unknown option '" .. a .. "'")
    else
      break -- the command starts here (a "--" is recommended)
    end
    i = i + 1
  end
  o.cmd = table.move(argv, i, #argv, 1, {})
  if not o.limit then usage("--limit is required") end
  local ok, kb = pcall(denet.size, o.limit, "mem_rss_kb")
  if not ok or kb <= 0 then usage("--limit '" .. o.limit .. "' is not a size (e.g. 512M, 2G)") end
  o.limit_kb = kb
  if #o.cmd == 0 then usage("the command is missing (after --)") end
  return o
end

local o = parse_args({ table.unpack(arg) })

local spec = { interval = o.interval, out = o.out }
for i, w in ipairs(o.cmd) do spec[i] = w end
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
