-- syscalls_spec.lua — eBPF syscall tracking from Lua on the real kernel:
-- denet.syscalls (the tracer object), denet.run{syscalls = true} (records
-- with aggregated.ebpf.syscalls and the exit record's ebpf.syscalls), and
-- p:watch{metric = "syscall_rate", syscall = ...}.
--
-- In-process through the C module (require "denet" loads core.so), and
-- through the real binary for the unprivileged run. Tracing needs root and
-- a kernel that loads the program (CI runs as root); otherwise those tests
-- are pending with the reason, never passed.
--
-- tests/helpers/sysloop.c makes exactly N syscall(SYS_getppid) and K
-- failing opens a round; it prints "open NAME PID" (NAME: "open", or
-- "openat" where the architecture has no open), with --wait-stdin
-- "ready" and waits for a line, then "done I" after round I; further
-- lines "N K" are further rounds. --child M forks a child making M
-- getppid first; --spread-ms D spreads a round over D ms; --linger-ms L
-- sleeps before exiting; --parent puts a waiting parent above it.

local S = require "support"
-- tests/run.sh's LUA_PATH has lua/?.lua but not lua/?/init.lua
package.path = S.root .. "/lua/?/init.lua;" .. package.path
local denet = require "denet"

local function no_ebpf() return S.no_ebpf(denet, "syscall tracing") end
local wait_for = S.wait_for

-- A sysloop started waiting for its first line: { pid, open = the name
-- of its failing open, out = its output file, w = its stdin }. With
-- parent, it runs as the child of a sysloop --parent that only waits for
-- it (pid is then the parent's, loop_pid the sysloop's). Not a shell's
-- `cmd & wait`: this process blocks SIGCHLD once denet has run a command
-- (its signalfd), popen's children inherit the mask, and dash's `wait`
-- then never returns.
local function start(args, parent)
  local out = S.tmpname(".out")
  local words = { S.q(S.helper("sysloop")), "--wait-stdin" }
  if parent then words[#words + 1] = "--parent" end
  for _, a in ipairs(args) do words[#words + 1] = S.q(a) end
  local w = assert(io.popen(("exec %s >%s"):format(table.concat(words, " "), S.q(out)), "w"))
  local text = wait_for(out, "ready\n")
  local name, pid = text:match("open (%S+) (%d+)")
  local t = { open = name, loop_pid = math.tointeger(tonumber(pid)), out = out, w = w }
  t.pid = parent and math.tointeger(tonumber(text:match("parent (%d+)"))) or t.loop_pid
  return t
end

-- Sends a line and, with `round`, waits for "done ROUND".
local function send(t, line, round)
  t.w:write(line, "\n")
  t.w:flush()
  if round then wait_for(t.out, "done " .. round .. "\n") end
end

-- Ends its input and waits for it to exit.
local function finish(t)
  t.w:close()
  os.remove(t.out)
end

-- { [pid] = { [name] = entry } } of a drain (asserting one entry per
-- pid and name).
local function by_pid(list)
  local m = {}
  for _, e in ipairs(list) do
    m[e.pid] = m[e.pid] or {}
    assert.is_nil(m[e.pid][e.name], "two entries for " .. e.pid .. " " .. e.name)
    m[e.pid][e.name] = e
  end
  return m
end

local function count_of(list, pid, name)
  local n = 0
  for _, e in ipairs(list) do
    if e.pid == pid and e.name == name then n = n + e.count end
  end
  return n
end

describe("denet.syscalls arguments", function()
  it("unknown options and wrong types raise errors naming them", function()
    local ok, err = pcall(denet.syscalls, { pid = 1, childs = true })
    assert.is_false(ok)
    assert.matches("denet.syscalls: unknown option 'childs'", err)
    ok, err = pcall(denet.syscalls, { pid = "1" })
    assert.is_false(ok)
    assert.matches("option 'pid' must be a number", err)
    ok, err = pcall(denet.syscalls, { pid = 1.5 })
    assert.is_false(ok)
    assert.matches("pid must be an integer", err)
    ok, err = pcall(denet.syscalls, { pid = 0 })
    assert.is_false(ok)
    assert.matches("pid must be a positive integer", err)
    ok, err = pcall(denet.syscalls, { pid = 1, children = 1 })
    assert.is_false(ok)
    assert.matches("option 'children' must be a boolean", err)
    ok, err = pcall(denet.syscalls)
    assert.is_false(ok)
    assert.matches("table expected", err)
  end)

  it("without eBPF returns nil, 'ENAME: reason', 'ENAME'", function()
    if denet.features.ebpf then return pending("eBPF works here (the unprivileged test covers this)") end
    local tr, msg, code = denet.syscalls{ pid = 1 }
    assert.is_nil(tr)
    assert.matches("^E[A-Z]+$", code)
    assert.equal(code, msg:match("^(E[A-Z]+): "))
  end)

  it("a PID that does not exist: nil, message, ESRCH; tr:track the same", function()
    local why = no_ebpf()
    if why then return pending(why) end
    local tr, msg, code = denet.syscalls{ pid = 999999 }
    assert.is_nil(tr)
    assert.equal("ESRCH", code)
    assert.equal("ESRCH: cannot trace PID 999999: No such process", msg)
    tr = assert(denet.syscalls{})
    assert.equal("denet.syscalls(pid 0)", tostring(tr))
    local r
    r, msg, code = tr:track(999999)
    assert.is_nil(r)
    assert.equal("ESRCH", code)
    assert.matches("^ESRCH: cannot trace PID 999999", msg)
    assert.has_error(function() tr:track("x") end)
    assert.same({}, tr:drain())
    assert.same({}, tr:totals())
    tr:close()
  end)

  it("close is idempotent, a closed tracer raises, <close> and __gc release it", function()
    local why = no_ebpf()
    if why then return pending(why) end
    local tr = assert(denet.syscalls{})
    assert.is_false(tr.closed)
    tr:close()
    tr:close()
    assert.is_true(tr.closed)
    assert.equal("denet.syscalls(pid 0, closed)", tostring(tr))
    for _, m in ipairs{ "drain", "totals", "track" } do
      local ok, err = pcall(tr[m], tr, 1)
      assert.is_false(ok, m)
      assert.matches("tr:" .. m .. ": the syscall tracer is closed", err)
    end
    assert.has_error(function() return tr.lost end)
    local kept
    do
      local t2 <close> = assert(denet.syscalls{})
      assert.is_false(t2.closed)
      kept = t2
    end
    assert.is_true(kept.closed)
    -- many dropped unclosed: each is released by the collector (each
    -- holds BPF maps; the kernel would refuse new ones if they leaked)
    for _ = 1, 20 do assert(denet.syscalls{}) end
    collectgarbage()
    collectgarbage()
    local last <close> = assert(denet.syscalls{})
    assert.is_false(last.closed)
  end)
end)

describe("denet.syscalls", function()
  it("counts exactly N getppid and K failing opens of the traced pid, and nothing of a bystander", function()
    local why = no_ebpf()
    if why then return pending(why) end
    local t = start{ "1234", "17" }
    local other = start{ "999", "5" }
    local tr = assert(denet.syscalls{ pid = t.pid })
    assert.equal(t.pid, tr.pid)
    assert.equal(("denet.syscalls(pid %d)"):format(t.pid), tostring(tr))
    send(other, "go", 1)
    send(t, "go", 1)
    finish(t)
    finish(other)
    local list = assert(tr:drain())
    local m = by_pid(list)
    assert.is_nil(m[other.pid], "the bystander was counted")
    for _, e in ipairs(list) do assert.equal(t.pid, e.pid) end
    local g = assert(m[t.pid].getppid, "no getppid entry")
    assert.equal(1234, g.count)
    assert.equal(0, g.errors)
    assert.equal("process", g.category)
    assert.equal("integer", math.type(g.nr))
    local o = assert(m[t.pid][t.open], "no " .. t.open .. " entry")
    assert.equal(17, o.count)
    assert.equal(17, o.errors)
    assert.equal("file_io", o.category)
    -- the shape: times, quantiles and the 40 log2 buckets summing to count
    -- (every getppid returned, so every one was timed)
    assert.is_true(g.time_ns > 0)
    assert.is_true(g.max_ns > 0 and g.max_ns <= g.time_ns)
    assert.is_true(g.p50_ns <= g.p99_ns and g.p99_ns <= g.max_ns, ("p50 %d p99 %d max %d"):format(g.p50_ns, g.p99_ns, g.max_ns))
    assert.equal(40, #g.hist)
    local sum = 0
    for _, n in ipairs(g.hist) do sum = sum + n end
    assert.equal(1234, sum)
    assert.equal(0, tr.lost)
    assert.is_true(tr.window_s > 0)
    assert.is_true(tr.elapsed_s >= tr.window_s)
    tr:close()
  end)

  it("drains windows without double counting; totals are the sum of the windows", function()
    local why = no_ebpf()
    if why then return pending(why) end
    local t = start{ "1000", "3" }
    local tr = assert(denet.syscalls{ pid = t.pid })
    local windows = {}
    send(t, "go", 1)
    windows[1] = assert(tr:drain())
    send(t, "500 2", 2)
    windows[2] = assert(tr:drain())
    -- nothing happened in between
    windows[3] = assert(tr:drain())
    send(t, "0 4", 3)
    finish(t)
    windows[4] = assert(tr:drain())
    assert.same({ 1000, 500, 0, 0 }, {
      count_of(windows[1], t.pid, "getppid"), count_of(windows[2], t.pid, "getppid"),
      count_of(windows[3], t.pid, "getppid"), count_of(windows[4], t.pid, "getppid") })
    assert.same({ 3, 2, 0, 4 }, {
      count_of(windows[1], t.pid, t.open), count_of(windows[2], t.pid, t.open),
      count_of(windows[3], t.pid, t.open), count_of(windows[4], t.pid, t.open) })
    assert.same({}, windows[3])
    -- totals (up to the last drain) = the windows summed, syscall by syscall
    local sums = {}
    for _, w in ipairs(windows) do
      for _, e in ipairs(w) do
        local s = sums[e.name] or { count = 0, errors = 0, time_ns = 0 }
        s.count, s.errors, s.time_ns = s.count + e.count, s.errors + e.errors, s.time_ns + e.time_ns
        sums[e.name] = s
      end
    end
    local totals = tr:totals()
    local got = {}
    for name, f in pairs(totals) do
      assert.equal(name, f.name)
      got[name] = { count = f.count, errors = f.errors, time_ns = f.time_ns }
    end
    assert.same(sums, got)
    assert.equal(1500, totals.getppid.count)
    assert.equal(9, totals[t.open].errors)
    -- and no new drain: totals read twice are the same
    assert.same(totals, tr:totals())
    tr:close()
  end)

  it("children = true: existing descendants and children forked after tracking began", function()
    local why = no_ebpf()
    if why then return pending(why) end
    -- the parent exists with its sysloop child before the tracer; the
    -- sysloop forks its own child (7 getppid) only after "go"
    local t = start({ "--child", "7", "300", "0" }, true)
    assert.are_not.equal(t.pid, t.loop_pid)
    local tr = assert(denet.syscalls{ pid = t.pid, children = true })
    send(t, "go", 1)
    finish(t)
    local list = assert(tr:drain())
    tr:close()
    assert.equal(300, count_of(list, t.loop_pid, "getppid"))
    local kids = {}
    for _, e in ipairs(list) do
      if e.pid ~= t.pid and e.pid ~= t.loop_pid then kids[e.pid] = true end
    end
    local kid = next(kids)
    assert.is_not_nil(kid, "the forked child was not counted")
    assert.is_nil(next(kids, kid), "more than one other process")
    assert.equal(7, count_of(list, kid, "getppid"))
  end)

  it("children = false: the pid alone (its children forked later are followed by the kernel)", function()
    local why = no_ebpf()
    if why then return pending(why) end
    local t = start({ "300", "0" }, true)
    local tr = assert(denet.syscalls{ pid = t.pid, children = false })
    send(t, "go", 1)
    finish(t)
    local list = assert(tr:drain())
    tr:close()
    assert.equal(0, count_of(list, t.loop_pid, "getppid"))
    for _, e in ipairs(list) do assert.equal(t.pid, e.pid) end
  end)

  it("loaded first, then tr:track(pid): counts from then on", function()
    local why = no_ebpf()
    if why then return pending(why) end
    local tr <close> = assert(denet.syscalls{})
    local t = start{ "--child", "11", "222", "1" }
    assert.equal(tr, tr:track(t.pid))
    send(t, "go", 1)
    finish(t)
    local list = assert(tr:drain())
    assert.equal(222, count_of(list, t.pid, "getppid"))
    assert.equal(1, count_of(list, t.pid, t.open))
    local child = 0
    for _, e in ipairs(list) do
      if e.pid ~= t.pid and e.name == "getppid" then child = child + e.count end
    end
    assert.equal(11, child)
    assert.equal(t.pid, tr.pid)
  end)
end)

describe("unprivileged (setpriv to nobody)", function()
  it("denet.syscalls returns nil, a message naming the permission, EPERM", function()
    if not S.is_root() then return pending("needs root to drop to nobody") end
    local dir = S.tmpname("-nobody")
    assert.is_true(os.execute(("mkdir -p %s && cp %s %s/denet && chmod -R a+rX %s")
      :format(S.q(dir), S.q(S.bin), S.q(dir), S.q(dir))))
    S.write(dir .. "/probe.lua", [[
local denet = require "denet"
local tr, msg, code = denet.syscalls{ pid = 1 }
print("syscalls", tr, code, msg)
tr, msg, code = denet.syscalls{}
print("empty", tr, code)
local p = assert(denet.run{ "true", syscalls = true })
print("status", p:wait())
]])
    local r = S.sh(("cd %s && setpriv --reuid=nobody --regid=nogroup --clear-groups ./denet probe.lua")
      :format(S.q(dir)))
    os.execute("rm -rf " .. S.q(dir))
    assert.equal(0, r.code, r.err)
    assert.matches("syscalls\tnil\tEPERM\tEPERM: [^\n]*root or CAP_BPF", r.out)
    assert.matches("empty\tnil\tEPERM\n", r.out)
    assert.matches("status\t0\t", r.out)
  end)
end)

describe("denet.run{ syscalls = true }", function()
  it("tree records carry aggregated.ebpf.syscalls, the exit record ebpf.syscalls, with exact counts", function()
    local why = no_ebpf()
    if why then return pending(why) end
    local out = S.tmpname(".jsonl")
    local p = assert(denet.run{ S.helper("sysloop"), "--spread-ms", "200", "--linger-ms", "300", "4321", "6",
      syscalls = true, interval = 50, out = out, stdout = "/dev/null" })
    -- the hooks' records are the file's, ebpf.syscalls included
    local hooked = {}
    p:on("sample", function(rec)
      local e = rec.aggregated.ebpf
      hooked[#hooked + 1] = e and e.syscalls or false
    end)
    assert.equal(0, (p:wait()))
    local recs = S.records(S.slurp(out) or "")
    os.remove(out)
    local function find(list, name)
      for _, s in ipairs(list) do if s.name == name then return s end end
    end
    local trees = S.of_kind(recs, "tree")
    assert.is_true(#trees >= 3, #trees .. " tree records")
    -- cumulative: the last tree record (the sysloop lingers) has them all
    local last = trees[#trees].aggregated.ebpf.syscalls
    local g = assert(find(last.top_syscalls, "getppid"), "no getppid in the top syscalls")
    assert.equal(4321, g.count)
    assert.equal("process", g.category)
    -- counts never go down from one record to the next
    local prev = 0
    for _, t in ipairs(trees) do
      local s = t.aggregated.ebpf and t.aggregated.ebpf.syscalls
      local c = s and find(s.top_syscalls, "getppid")
      local n = c and c.count or 0
      assert.is_true(n >= prev)
      prev = n
    end
    local exit = S.of_kind(recs, "exit")[1]
    local eg = assert(find(exit.ebpf.syscalls.top_syscalls, "getppid"))
    assert.equal(4321, eg.count)
    assert.is_true(exit.ebpf.syscalls.errors >= 6)
    assert.equal(#trees, #hooked)
    for i, h in ipairs(hooked) do
      assert.same(trees[i].aggregated.ebpf.syscalls, h, "record " .. i)
    end
    assert.is_nil(trees[#trees].aggregated.ebpf.offcpu) -- no stacks asked for
  end)

  it("p:watch{ metric = 'syscall_rate', syscall = 'getppid' } fires with the rate", function()
    local why = no_ebpf()
    if why then return pending(why) end
    local out = S.tmpname(".jsonl")
    -- 25000 getppid over 500 ms: about 50 000/s
    local p = assert(denet.run{ S.helper("sysloop"), "--spread-ms", "500", "25000", "0",
      syscalls = true, interval = 50, out = out, stdout = "/dev/null" })
    local fired, quiet = {}, 0
    p:watch{ metric = "syscall_rate", syscall = "getppid", above = 1000, name = "ppid",
      on_fire = function(a) fired[#fired + 1] = a end }
    -- no fsync at all: never fires
    p:watch{ metric = "syscall_rate", syscall = "fsync", above = 10,
      on_fire = function() quiet = quiet + 1 end }
    assert.equal(0, (p:wait()))
    local recs = S.records(S.slurp(out) or "")
    os.remove(out)
    -- once, unless the sysloop was held up for a whole window (then it
    -- clears and fires again)
    assert.is_true(#fired >= 1, "the rule did not fire")
    local a = fired[1]
    assert.equal("ppid", a.rule)
    assert.equal("syscall_rate", a.metric)
    assert.equal("fire", a.state)
    assert.equal(1000, a.threshold)
    assert.is_true(a.value > 1000 and a.value < 500000, "rate " .. a.value)
    assert.equal(0, quiet)
    local alerts = S.of_kind(recs, "alert")
    assert.equal(#fired, #alerts)
    assert.equal("ppid", alerts[1].rule)
    assert.equal(a.value, alerts[1].value)
    -- the value is the window's getppid count over its length, as the
    -- tree record of that sample has them
    local tree
    for _, r in ipairs(S.of_kind(recs, "tree")) do
      if r.ts_ms == a.ts_ms then tree = r end
    end
    assert.is_not_nil(tree, "no tree record at the alert's ts_ms " .. a.ts_ms)
    local w = tree.aggregated.ebpf.syscalls.window
    local n = 0
    for _, e in ipairs(w.top_syscalls) do if e.name == "getppid" then n = e.count end end
    local rate = n / w.secs
    assert.is_true(math.abs(rate - a.value) <= 0.02 * a.value,
      ("alert %.2f/s, record %d in %.3f s = %.2f/s"):format(a.value, n, w.secs, rate))
  end)

  it("syscall_rate arguments: an unknown syscall, no syscall tracking, syscall with another metric", function()
    local p = assert(denet.run{ "sleep", "0.2", syscalls = true })
    local ok, err = pcall(p.watch, p, { metric = "syscall_rate", syscall = "nosuchcall", above = 1 })
    assert.is_false(ok)
    assert.matches("unknown syscall 'nosuchcall'", err)
    ok, err = pcall(p.watch, p, { metric = "cpu_usage", syscall = "getppid", above = 1 })
    assert.is_false(ok)
    assert.matches("'syscall' goes with metric = \"syscall_rate\"", err)
    -- without a syscall: every syscall of the tree
    assert.is_number(p:watch{ metric = "syscall_rate", above = 1e9 })
    p:wait()
    local q = assert(denet.run{ "sleep", "0.1" })
    ok, err = pcall(q.watch, q, { metric = "syscall_rate", syscall = "getppid", above = 1 })
    assert.is_false(ok)
    assert.matches("syscall_rate needs the run's syscall tracking", err)
    q:wait()
    ok, err = pcall(denet.run, { "true", syscalls = 1 })
    assert.is_false(ok)
    assert.matches("option 'syscalls' must be a boolean", err)
  end)
end)
