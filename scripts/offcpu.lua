--[[
offcpu.lua — where does a command wait? Off-CPU stacks of its process tree
(eBPF), as a folded-stacks file and a short list of the top blocking stacks.

usage:
  denet scripts/offcpu.lua [--out FILE] [--min-us N] [--max-us N] [--top N]
                           [--interval MS] [--no-kernel] -- CMD [ARGS...]

Loads the off-CPU profiler, runs CMD, and records every interval (of at
least N microseconds, 1000 by default) that a thread of CMD or of its
descendants spends blocked (sleeping, S, or uninterruptible, D), with the
stack it blocked in: kernel frames, then user frames. The kernel aggregates
per stack; denet drains it on every sample (every --interval ms, 100 by
default) and symbolizes the addresses in-process. At the end:

  - FILE (offcpu.folded by default) gets the folded stacks,
    "comm;outer;...;inner MICROSECONDS" per line, for flamegraph.pl
    (flamegraph.pl --countname=us FILE > offcpu.svg) or speedscope;
  - the top N (5) stacks by off-CPU time go to stderr, innermost frame
    first, e.g.

      denet: offcpu: 1 stack(s), 1001.3 ms off-CPU in total; top 1:
        1. 1001.3 ms in 10 waits (max 100.2 ms)  blocker pid 812 tid 813 S
             [k] anon_pipe_read
                 read  (libc.so.6)
                 wait_here_on_pipe  (blocker)
                 caller_of_wait  (blocker)

  --no-kernel     user stacks only (cheaper: no kernel stack per switch)
  --max-us N      ignore intervals longer than N microseconds

eBPF needs root (or CAP_BPF and CAP_PERFMON) and a kernel with BTF; see
docs/ebpf.md. Without them one line says why ("denet: offcpu: eBPF is not
available: ...") and the command still runs, unprofiled.

Exit status: the command's (128+N when killed by signal N); 127/126 when
CMD is not found / cannot be executed; 2 for bad arguments; 1 when FILE
cannot be written.

example:
  sudo denet scripts/offcpu.lua --out build.folded -- make -j8
--]]
local denet = require "denet"

local parser = denet.args.parser{
  name = "offcpu",
  usage = [==[
usage: denet scripts/offcpu.lua [--out FILE] [--min-us N] [--max-us N] [--top N]
                                [--interval MS] [--no-kernel] -- CMD [ARGS...]]==],
  { "out", value = "FILE", default = "offcpu.folded", help = "the folded stacks" },
  { "min-us", value = "N", type = "integer", min = 0, default = 1000, help = "ignore intervals shorter than N us" },
  { "max-us", value = "N", type = "integer", min = 1, help = "ignore intervals longer than N us" },
  { "top", value = "N", type = "integer", min = 0, default = 5, help = "list the top N stacks on stderr" },
  { "interval", value = "MS", type = "integer", min = 1, help = "drain and sample every MS ms (default 100)" },
  { "no-kernel", help = "user stacks only" },
}

local function say(...)
  io.stderr:write("denet: offcpu: ", ...)
  io.stderr:write("\n")
end

local o, cmd = parser:parse_or_exit(arg)
if #cmd == 0 then parser:fail("the command is missing (after --)") end
if o.max_us and o.max_us < o.min_us then parser:fail("--max-us must be >= --min-us") end
o.kernel = not o.no_kernel

-- The program is loaded before the command starts, so tracking its pid
-- right after the launch misses (almost) nothing.
local prof, err = denet.offcpu{ min_us = o.min_us, max_us = o.max_us, kernel_stacks = o.kernel }
if not prof then
  say("eBPF is not available (", err, "); running the command without off-CPU profiling")
end

local spec = { interval = o.interval }
for i, w in ipairs(cmd) do spec[i] = w end
local p, msg, code = denet.run(spec)
if not p then
  say(msg)
  os.exit(code == "ENOENT" and 127 or (code == "EACCES" or code == "ENOEXEC") and 126 or 1)
end
if not prof then
  os.exit(p:wait() or 1)
end

local ok, terr = prof:track(p.pid)
if not ok then say("cannot profile pid ", p.pid, ": ", terr) end

-- Totals per (pid, tid, state, stack) over every window.
local stacks, order = {}, {}
local function add(list)
  for _, s in ipairs(list) do
    local key = table.concat({ s.pid, s.tid, s.state, table.concat(s.stack, ",") }, ":")
    local t = stacks[key]
    if not t then
      t = { pid = s.pid, tid = s.tid, comm = s.comm, state = s.state, frames = s.frames,
            off_ns = 0, count = 0, max_ns = 0 }
      stacks[key] = t
      order[#order + 1] = t
    end
    t.off_ns = t.off_ns + s.off_ns
    t.count = t.count + s.count
    if (s.max_ns or 0) > t.max_ns then t.max_ns = s.max_ns end
  end
end

local function drain()
  local list, derr = prof:drain()
  if list then add(list) else say("drain failed: ", derr) end
end

p:on("sample", drain)
local status = p:wait()
drain()

local folded = prof:folded()
prof:close()
local f, ferr = io.open(o.out, "w")
if not f then
  say("cannot write the folded stacks: ", ferr)
  os.exit(1)
end
f:write(folded)
f:close()

-- The top stacks, readable: kernel frames marked [k], scheduler frames
-- (the same in every stack) left out.
local boring = { __schedule = true, schedule = true, schedule_hrtimeout_range = true,
                 schedule_hrtimeout_range_clock = true, schedule_timeout = true,
                 entry_SYSCALL_64_after_hwframe = true, do_syscall_64 = true,
                 preempt_schedule_common = true }

local function basename(path)
  return (path or "?"):match("([^/]+)$") or path
end

local function frame_text(fr)
  if fr.kernel then
    return "[k] " .. (fr.name or ("0x%x"):format(fr.addr))
  end
  local where = basename(fr.module)
  if fr.name then
    local src = fr.file and ("  " .. basename(fr.file) .. ":" .. (fr.line or "?")) or ""
    return ("    %s  (%s)%s"):format(fr.name, where, src)
  end
  return ("    %s+0x%x"):format(where, fr.offset or 0)
end

table.sort(order, function(a, b) return a.off_ns > b.off_ns end)
local total = 0
for _, t in ipairs(order) do total = total + t.off_ns end
local n = math.min(o.top, #order)
say(("%d stack(s), %.1f ms off-CPU in total; folded stacks in %s%s"):format(
  #order, total / 1e6, o.out, n > 0 and ("; top " .. n .. ":") or ""))
for i = 1, n do
  local t = order[i]
  io.stderr:write(("  %d. %.1f ms in %d wait%s (max %.1f ms)  %s pid %d tid %d %s\n"):format(
    i, t.off_ns / 1e6, t.count, t.count == 1 and "" or "s", t.max_ns / 1e6, t.comm, t.pid,
    t.tid, t.state))
  local shown = 0
  for _, fr in ipairs(t.frames or {}) do
    if not (fr.kernel and boring[fr.name]) then
      shown = shown + 1
      if shown > 10 then
        io.stderr:write("       ...\n")
        break
      end
      io.stderr:write("       ", frame_text(fr), "\n")
    end
  end
end

os.exit(status or 1)
