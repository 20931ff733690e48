-- lifecycle_spec.lua — the lives of the Lua API's objects and of a script
-- run by the real binary: objects that fail half-way close cleanly, hooks
-- files that fail, denet.stop() inside p:wait(), totals when monitoring
-- ends early, signals while Lua is busy, os.exit while commands run, and
-- p:detach().

local S = require "support"
package.path = S.root .. "/lua/?/init.lua;" .. package.path
local denet = require "denet"

-- A script run by denet; stdin from `stdin` (a path) when given.
local function script(text, opts)
  opts = opts or {}
  local path = S.tmpname(".lua")
  S.write(path, text)
  local words = { S.q(S.bin), S.q(path) }
  for _, a in ipairs(opts.args or {}) do words[#words + 1] = S.q(a) end
  local cmd = table.concat(words, " ")
  if opts.prefix then cmd = opts.prefix .. " " .. cmd end
  local outp, errp = os.tmpname(), os.tmpname()
  local _, how, code = os.execute(("%s >%s 2>%s <%s"):format(cmd, outp, errp,
    opts.stdin and S.q(opts.stdin) or "/dev/null"))
  local r = { out = S.slurp(outp) or "", err = S.slurp(errp) or "", path = path }
  os.remove(outp)
  os.remove(errp)
  r.code = how == "exit" and code or 128 + (code or 0)
  return r
end

describe("objects that fail half-way", function()
  it("failed run/attach/offcpu objects, once collected, leave fd 0 open", function()
    local input = S.tmpname(".txt")
    S.write(input, "stdin is still here\n")
    local r = script([[
local denet = require "denet"
assert(not denet.run{ "true", out = "/nonexistent/x" })
assert(not denet.run{ "true", stdout = "/nonexistent/x" })
assert(not denet.run{ "/nonexistent/cmd" })
assert(not denet.attach(999999))
assert(not denet.attach(999999, { out = "/nonexistent/x" }))
denet.offcpu{ pid = 999999 } -- nil (no eBPF or no such pid) either way
collectgarbage(); collectgarbage()
io.write(io.read("a"))
]], { stdin = input })
    os.remove(input)
    assert.equal(0, r.code, r.err)
    assert.equal("stdin is still here\n", r.out)
  end)
end)

describe("denet run/attach -s HOOKS", function()
  it("a hooks file that fails to load: its error, exit 1, the command never starts", function()
    local hooks = S.tmpname(".lua")
    S.write(hooks, 'error("x")\n')
    local marker = S.tmpname(".ran")
    os.remove(marker)
    local out = S.tmpname(".jsonl")
    os.remove(out)
    local r = S.denet{ "-o", out, "run", "-s", hooks, "--", "sh", "-c", "touch " .. S.q(marker) }
    assert.equal(1, r.code)
    assert.equal("denet: " .. hooks .. ":1: x", r.err:match("^[^\n]*"))
    assert.is_nil(io.open(marker), "the command ran")
    assert.is_nil(io.open(out), "an empty output file was left")
    -- attach: the process is left alone
    local p = assert(denet.run{ "sleep", "5" })
    r = S.denet{ "-q", "attach", "-s", hooks, tostring(p.pid) }
    assert.equal(1, r.code)
    assert.matches(":1: x", r.err)
    assert.is_true(p.running and S.alive(p.pid))
    p:signal("KILL")
    p:wait()
    os.remove(hooks)
  end)

  it("a hook that fails at run time: exit 1, the command ended, the file complete", function()
    local hooks = S.tmpname(".lua")
    S.write(hooks, [[
local p = ...
io.stderr:write("PID ", p.pid, "\n")
p:mark("loaded")
local n = 0
p:on("sample", function() n = n + 1; if n == 2 then error("boom") end end)
]])
    local out = S.tmpname(".jsonl")
    local r = S.denet{ "-q", "-i", "50", "-o", out, "run", "-s", hooks, "--", "sleep", "30" }
    assert.equal(1, r.code)
    assert.matches(":5: boom", r.err)
    local pid = tonumber(r.err:match("PID (%d+)"))
    assert.is_false(S.alive(pid))
    local recs = S.records(S.slurp(out))
    -- the mark made while loading follows metadata
    assert.same({ "metadata", "mark", "tree", "tree", "exit" },
      { recs[1].kind, recs[2].kind, recs[3].kind, recs[4].kind, recs[#recs].kind })
    assert.equal("loaded", recs[2].label)
    assert.equal(pid, recs[#recs].pid)
    os.remove(hooks)
    os.remove(out)
  end)
end)

-- The cgroup directories a denet process (by PID) made and left behind.
local function cgroups_of(denet_pid)
  local r = S.sh("find /sys/fs/cgroup -name 'denet-" .. denet_pid .. "-*' 2>/dev/null")
  local dirs = {}
  for d in r.out:gmatch("[^\n]+") do dirs[#dirs + 1] = d end
  return dirs
end

-- What every ending of a script leaves: the command ended by signal `sig`
-- (SIGTERM unless a signal denet got was forwarded to it) with its exit
-- record last, and no cgroup directory of that denet.
local function assert_ended_cleanly(r, out, sig)
  local cmd_pid = tonumber(r.err:match("CMD (%d+)"))
  local self_pid = tonumber(r.err:match("SELF (%d+)"))
  assert.is_number(cmd_pid, r.err)
  assert.is_false(S.alive(cmd_pid), "the command was left running")
  local recs = S.records(S.slurp(out))
  local last = recs[#recs]
  assert.equal("exit", last.kind)
  assert.equal(cmd_pid, last.pid)
  assert.equal(sig or 15, last.signal)
  -- every sample taken is in the file (a main chunk busy from the start
  -- lets the loop take none: the exit record is then the only reading)
  assert.equal(last.sampled.samples, #S.of_kind(recs, "tree"))
  assert.same({}, cgroups_of(self_pid))
end

local PRELUDE = [[
local denet = require "denet"
local out = ...
local p = assert(denet.run{ "sleep", "30", interval = 50, out = out })
local f = io.open("/proc/self/stat"); local self = f:read("n"); f:close()
io.stderr:write("CMD ", p.pid, "\nSELF ", self, "\n")
]]

describe("os.exit in -s HOOKS", function()
  it("from a hook: the command is ended, its exit record written, denet exits with the status", function()
    local hooks = S.tmpname(".lua")
    S.write(hooks, [[
local p = ...
io.stderr:write("PID ", p.pid, "\n")
local n = 0
p:on("sample", function() n = n + 1; if n == 2 then os.exit(4) end end)
]])
    local out = S.tmpname(".jsonl")
    local r = S.denet{ "-q", "-i", "50", "-o", out, "run", "-s", hooks, "--", "sleep", "30" }
    assert.equal(4, r.code, r.err)
    assert.is_false(S.alive(tonumber(r.err:match("PID (%d+)"))))
    local recs = S.records(S.slurp(out))
    assert.equal(2, #S.of_kind(recs, "tree"))
    assert.equal("exit", recs[#recs].kind)
    assert.equal(15, recs[#recs].signal)
    -- in the file's body: the command never starts
    S.write(hooks, "os.exit(6)\n")
    local marker = S.tmpname(".ran")
    os.remove(marker)
    r = S.denet{ "-q", "run", "-s", hooks, "--", "sh", "-c", "touch " .. S.q(marker) }
    assert.equal(6, r.code, r.err)
    assert.equal("", r.err)
    assert.is_nil(io.open(marker))
    os.remove(hooks)
    os.remove(out)
  end)
end)

describe("denet.stop() inside p:wait()", function()
  it("ends that wait only: the command runs on, its exit callback and record are kept", function()
    local out = S.tmpname(".jsonl")
    local r = script([[
local denet = require "denet"
local p = assert(denet.run{ "sh", "-c", "sleep 0.6; exit 3", interval = 50, out = ... })
local exits = 0
p:on("exit", function(status) exits = exits + 1; print("exit callback", status) end)
denet.after(200, function() denet.stop() end)
local status, totals = p:wait()
print("first wait", status, p.running, totals.sampled.samples > 0)
status = p:wait()
print("second wait", status, p.running, exits)
denet.after(10, function() print("the loop after the main chunk runs") end)
]], { args = { out } })
    assert.equal(0, r.code, r.err)
    assert.equal("first wait\tnil\ttrue\ttrue\nexit callback\t3\nsecond wait\t3\tfalse\t1\n"
      .. "the loop after the main chunk runs\n", r.out)
    local recs = S.records(S.slurp(out))
    assert.equal("exit", recs[#recs].kind)
    assert.equal(3, recs[#recs].exit_code)
    os.remove(out)
  end)

  it("denet.stop() outside any loop skips the loop after the main chunk, not a p:wait()", function()
    local r = script([[
local denet = require "denet"
local ticks = 0
denet.every(10, function() ticks = ticks + 1 end)
denet.stop()
local p = assert(denet.run{ "sleep", "0.2" })
print(p:wait(), ticks > 0)
]])
    assert.equal(0, r.code, r.err)
    assert.equal("0\ttrue\n", r.out)
  end)
end)

describe("totals when monitoring ends by duration", function()
  it("run: p:wait() returns the sampled totals", function()
    local p = assert(denet.run{ S.helper("busy"), "3", interval = 50, duration = 0.6 })
    local status, totals = p:wait()
    assert.is_nil(status)
    assert.is_true(S.alive(p.pid)) -- it runs on
    os.execute("kill -9 " .. p.pid)
    local s = p:summary()
    assert.is_true(totals.duration_secs >= 0.55 and totals.duration_secs < 2, totals.duration_secs)
    assert.is_true(s.sample_count >= 5)
    assert.equal(s.sample_count, totals.sampled.samples)
    assert.equal(s.peak_mem_rss_kb, totals.sampled.mem_peak_kb)
    assert.is_true(totals.sampled.mem_peak_kb > 0)
    assert.is_true(totals.sampled.cpu_secs > 0.05, totals.sampled.cpu_secs)
  end)

  it("attach: p:wait() returns the sampled totals", function()
    local child = assert(denet.run{ S.helper("busy"), "3", interval = 1000 })
    local p = assert(denet.attach(child.pid, { interval = 50, duration = 0.6 }))
    local status, totals = p:wait()
    assert.is_nil(status)
    assert.is_true(totals.duration_secs >= 0.55, totals.duration_secs)
    assert.is_true(totals.sampled.samples >= 5)
    assert.equal(p:summary().sample_count, totals.sampled.samples)
    assert.is_true(totals.sampled.cpu_secs > 0.05, totals.sampled.cpu_secs)
    child:signal("KILL")
    child:wait()
  end)
end)

describe("signals while Lua code is busy", function()
  it("a busy main chunk is interrupted; the command ends, its record is written, no cgroup left", function()
    local out = S.tmpname(".jsonl")
    local t0 = os.time()
    local r = script(PRELUDE .. [[
local t = os.clock()
while true do if os.clock() - t > 20 then break end end
print("not interrupted")
]], { args = { out }, prefix = "timeout --preserve-status -s TERM -k 10 1" })
    assert.is_true(os.time() - t0 < 8, "needed SIGKILL")
    assert.equal(128 + 15, r.code, r.err)
    assert.matches(":7: interrupted by SIGTERM", r.err)
    assert.equal("", r.out)
    assert_ended_cleanly(r, out)
    os.remove(out)
  end)

  it("a busy callback (hook_budget_ms = 0) is interrupted the same way", function()
    local out = S.tmpname(".jsonl")
    local t0 = os.time()
    local r = script(PRELUDE .. [[
denet.hook_budget_ms = 0
p:on("sample", function() local t = os.clock(); while os.clock() - t < 20 do end end)
p:wait()
print("not interrupted")
]], { args = { out }, prefix = "timeout --preserve-status -s INT -k 10 1" })
    assert.is_true(os.time() - t0 < 8, "needed SIGKILL")
    assert.equal(128 + 2, r.code, r.err)
    assert.matches(":7: interrupted by SIGINT", r.err)
    assert.equal("", r.out)
    assert_ended_cleanly(r, out, 2) -- not from a terminal: forwarded
    os.remove(out)
  end)

  it("a busy -s hook is interrupted too: the command ends with its record, denet exits 128+N", function()
    local hooks = S.tmpname(".lua")
    S.write(hooks, [[
local p = ...
io.stderr:write("CMD ", p.pid, "\n")
require("denet").hook_budget_ms = 0
p:on("sample", function() local t = os.clock(); while os.clock() - t < 20 do end end)
]])
    local out = S.tmpname(".jsonl")
    local t0 = os.time()
    local r = S.sh(("timeout --preserve-status -s TERM -k 10 1 %s -q -i 50 -o %s run -s %s -- sleep 30")
      :format(S.q(S.bin), S.q(out), S.q(hooks)))
    assert.is_true(os.time() - t0 < 8, "needed SIGKILL")
    assert.equal(128 + 15, r.code, r.err)
    assert.matches(":4: interrupted by SIGTERM", r.err)
    local pid = tonumber(r.err:match("CMD (%d+)"))
    assert.is_false(S.alive(pid))
    local recs = S.records(S.slurp(out))
    assert.equal("exit", recs[#recs].kind)
    assert.equal(15, recs[#recs].signal)
    os.remove(hooks)
    os.remove(out)
  end)

  it("a signal while denet waits in its loop still follows the policy: the script goes on", function()
    local r = script([[
local denet = require "denet"
local p = assert(denet.run{ "sleep", "30", interval = 50 })
p:on("sample", function() end)
local status, totals = p:wait()
print("status", status, totals.signal)
]], { prefix = "timeout --preserve-status -s TERM -k 10 0.5" })
    assert.equal(0, r.code, r.err)
    assert.equal("status\t143\t15\n", r.out)
  end)
end)

describe("os.exit and denet.stop() while a command runs", function()
  it("os.exit(5) from a callback, inside pcall: the command ends, records and cgroups too", function()
    local out = S.tmpname(".jsonl")
    local r = script(PRELUDE .. [[
local n = 0
p:on("sample", function()
  n = n + 1
  if n == 3 then pcall(os.exit, 5); print("after os.exit") end
end)
p:wait()
print("after p:wait")
]], { args = { out } })
    assert.equal(5, r.code, r.err)
    assert.equal("", r.out)
    assert_ended_cleanly(r, out)
    assert.equal(3, #S.of_kind(S.records(S.slurp(out)), "tree"))
    os.remove(out)
  end)

  it("os.exit in the main chunk, and a main chunk that ends with denet.stop(), alike", function()
    for _, ending in ipairs{ "os.exit(true)", "denet.stop()" } do
      local out = S.tmpname(".jsonl")
      local r = script(PRELUDE .. [[
-- p:wait() is ended by denet.stop() in a timer: the command still runs
denet.after(200, function() denet.stop() end)
p:wait()
]] .. ending .. "\n", { args = { out } })
      assert.equal(0, r.code, r.err)
      assert_ended_cleanly(r, out)
      os.remove(out)
    end
  end)
end)

describe("p:detach()", function()
  it("ends monitoring, writes a final detached exit record, the process runs on out of the run's cgroup", function()
    local out = S.tmpname(".jsonl")
    local p = assert(denet.run{ "sleep", "30", interval = 50, out = out })
    local cb
    p:on("exit", function(status, totals) cb = { status = status, totals = totals } end)
    local before
    denet.after(300, function()
      before = S.slurp("/proc/" .. p.pid .. "/cgroup")
      local totals = assert(p:detach())
      assert.is_true(totals.detached)
      assert.is_nil(totals.exit_code)
      assert.equal(p:summary().sample_count, totals.sampled.samples)
    end)
    local status, totals = p:wait()
    assert.is_nil(status)
    assert.is_true(totals.detached)
    assert.is_false(p.running)
    assert.is_true(S.alive(p.pid))
    assert.is_nil(cb.status)
    assert.is_true(cb.totals.detached)
    local recs = S.records(S.slurp(out))
    local last = recs[#recs]
    assert.equal("exit", last.kind)
    assert.is_true(last.detached)
    assert.equal(p.pid, last.pid)
    assert.equal(require("denet.json").null, last.exit_code)
    assert.equal(#S.of_kind(recs, "tree"), last.sampled.samples)
    assert.equal(totals.sampled.samples, last.sampled.samples)
    -- nothing more is written, and nothing can be
    local none, _, code = p:mark("late")
    assert.is_nil(none)
    assert.equal("ESRCH", code)
    none, _, code = p:detach()
    assert.is_nil(none)
    assert.equal("ESRCH", code)
    local caps = recs[1].capabilities
    if caps.cgroup.ok then
      local dir = before:match("0::(/[^\n]*denet%-[^\n]*)")
      assert.is_string(dir, before)
      assert.is_nil(S.slurp("/proc/" .. p.pid .. "/cgroup"):match("denet%-"))
      assert.is_nil(io.open("/sys/fs/cgroup" .. dir .. "/cgroup.procs") or
        io.open("/sys/fs/cgroup/unified" .. dir .. "/cgroup.procs"), "the run's cgroup is left")
    else
      print("# skip: cgroup checks: " .. tostring(caps.cgroup.reason))
    end
    os.execute("kill -9 " .. p.pid)
    os.remove(out)
  end)
end)
