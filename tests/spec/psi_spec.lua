-- psi_spec.lua — pressure stall information in the `tree` records'
-- aggregate (docs/data-format.md, `psi`) and p:watch rules on it
-- (docs/lua-api.md), on real workloads under the real kernel: a file read
-- over and over in a memory cgroup too small to cache it
-- (tests/helpers/pagethrash.c) stalls on memory; `sleep` does not.

local S = require "support"

-- A directory on a disk, not tmpfs: the page cache must be reclaimable
-- (tmpfs pages are not, without swap).
local DISK_DIR = "/var/tmp"

local function psi_why(recs)
  local meta = recs[1]
  local cap = meta and meta.capabilities and meta.capabilities.psi
  if not cap then return "no psi capability entry" end
  if not cap.ok then return "PSI unavailable: " .. tostring(cap.reason) end
end

-- The run's psi objects, and why they cannot be tested (or nil).
local function run_psi(args)
  local out = S.tmpname(".jsonl")
  local words = { "-q", "-o", out }
  for _, a in ipairs(args) do words[#words + 1] = a end
  local r = S.denet(words)
  local recs = S.records(S.slurp(out) or "")
  os.remove(out)
  r.recs = recs
  if r.err:match("pagethrash: ") and r.code ~= 0 then
    return r, "pagethrash could not cap its memory: " .. r.err
  end
  local why = psi_why(recs)
  if why then return r, why end
  local psis = {}
  for _, t in ipairs(S.of_kind(recs, "tree")) do psis[#psis + 1] = t.aggregated.psi end
  r.psis = psis
  return r
end

local function check_line(l, where)
  assert.is_table(l, where)
  for _, k in ipairs { "avg10", "total_us", "delta_us", "window_pct" } do
    assert.is_number(l[k], where .. "." .. k)
    assert.is_true(l[k] >= 0, where .. "." .. k)
  end
  assert.is_true(l.avg10 <= 100 and l.window_pct <= 100, where)
  assert.is_true(l.delta_us <= l.total_us, where)
end

describe("psi in tree records", function()
  it("has the system's and the run's cgroup's stalls, with the documented fields", function()
    if not S.is_root() then return pending("the run's cgroup needs root") end
    local r, why = run_psi { "-i", "200", "run", "sleep", "1" }
    if why then return pending(why) end
    assert.equal(0, r.code, r.err)
    assert.is_true(#r.psis >= 3, "psi in " .. #r.psis .. " tree records")
    local prev
    for i, p in ipairs(r.psis) do
      -- the window is the time since the previous reading (~ the interval)
      assert.is_true(p.window_ms >= 150 and p.window_ms <= 1000, "window_ms " .. p.window_ms)
      for _, scope in ipairs { "system", "cgroup" } do
        assert.is_table(p[scope], scope .. " in record " .. i)
        for _, res in ipairs { "cpu", "memory", "io" } do
          local where = ("%s.%s"):format(scope, res)
          check_line(p[scope][res].some, where .. ".some")
          if res ~= "cpu" or p[scope][res].full then
            check_line(p[scope][res].full, where .. ".full")
          end
          -- delta_us is the growth of total_us since the previous record
          if prev then
            assert.equal(p[scope][res].some.total_us - prev[scope][res].some.total_us,
              p[scope][res].some.delta_us, where)
          end
        end
      end
      prev = p
    end
    -- an idle run: no memory stall in its cgroup, not a microsecond
    for i, p in ipairs(r.psis) do
      local m = p.cgroup.memory
      assert.equal(0, m.some.delta_us, "memory.some.delta_us in record " .. i)
      assert.equal(0, m.full.delta_us, "memory.full.delta_us in record " .. i)
      assert.equal(0, m.some.avg10, "memory.some.avg10 in record " .. i)
      assert.equal(0, m.some.total_us, "memory.some.total_us in record " .. i)
    end
    -- the exit record: the run's stalls from its start to its end
    local ex = S.of_kind(r.recs, "exit")[1]
    assert.is_table(ex.psi, "no psi in the exit record")
    assert.is_true(ex.psi.secs >= 0.9 and ex.psi.secs <= ex.duration_secs + 0.1, "secs " .. ex.psi.secs)
    assert.same({ some_us = 0, some_pct = 0, full_us = 0, full_pct = 0 }, ex.psi.cgroup.memory)
    -- the system's: at least what the records' windows add up to
    local sys_cpu = 0
    for _, p in ipairs(r.psis) do sys_cpu = sys_cpu + p.system.cpu.some.delta_us end
    assert.is_true(ex.psi.system.cpu.some_us >= sys_cpu,
      ("exit %d us, windows %d us"):format(ex.psi.system.cpu.some_us, sys_cpu))
  end)

  it("a file read over and over in a too-small memory cgroup shows memory pressure", function()
    if not S.is_root() then return pending("a memory cgroup needs root") end
    -- 64 MiB read again and again under a 16 MiB cap for 4 s: every round
    -- reclaims and refaults it. avg10 is updated every 2 s by the kernel.
    local r, why = run_psi { "-i", "500", "run", S.helper("pagethrash"), "16", "64", "4", DISK_DIR }
    if why then return pending(why) end
    assert.equal(0, r.code, r.err)
    assert.is_true(#r.psis >= 6, #r.psis .. " tree records")
    if not r.psis[1].cgroup then return pending("the run's cgroup has no cgroup2 pressure files") end
    local stall, max_avg10, max_pct, window = 0, 0, 0, 0
    for _, p in ipairs(r.psis) do
      local m = p.cgroup.memory.some
      stall = stall + m.delta_us
      window = window + p.window_ms
      if m.avg10 > max_avg10 then max_avg10 = m.avg10 end
      if m.window_pct > max_pct then max_pct = m.window_pct end
      -- the share is the delta over the window
      local expect = m.delta_us / (p.window_ms * 10)
      assert.is_true(math.abs(m.window_pct - math.min(expect, 100)) < 1,
        ("window_pct %.2f, delta_us %d, window_ms %d"):format(m.window_pct, m.delta_us, p.window_ms))
    end
    print(("# cgroup memory some: %d us stalled in %d ms (%.1f %%), max window %.1f %%, max avg10 %.2f")
      :format(stall, window, stall / window / 10, max_pct, max_avg10))
    assert.is_true(stall >= 100000, "memory stall " .. stall .. " us")
    assert.is_true(max_pct >= 2, "max window_pct " .. max_pct)
    assert.is_true(max_avg10 > 0, "avg10 never above 0")
    -- its total is the cgroup's own: it started at 0 with the run
    local last = r.psis[#r.psis].cgroup.memory.some
    assert.equal(stall, last.total_us)
    -- the exit record has the whole run's: the windows and the last,
    -- partial one (no tree record describes it)
    local ex = S.of_kind(r.recs, "exit")[1].psi.cgroup.memory
    assert.is_true(ex.some_us >= stall, ("exit %d us, windows %d us"):format(ex.some_us, stall))
    local secs = S.of_kind(r.recs, "exit")[1].psi.secs
    assert.is_true(math.abs(ex.some_pct - math.min(ex.some_us / (secs * 1e4), 100)) < 0.1,
      ("some_pct %.2f for %d us in %.3f s"):format(ex.some_pct, ex.some_us, secs))
  end)

  it("--no-cgroup: the system's pressure only", function()
    local r, why = run_psi { "-i", "200", "--no-cgroup", "run", "sleep", "0.5" }
    if why then return pending(why) end
    assert.equal(0, r.code, r.err)
    assert.is_true(#r.psis >= 1)
    for _, p in ipairs(r.psis) do
      assert.is_nil(p.cgroup)
      check_line(p.system.memory.some, "system.memory.some")
    end
  end)

  it("--exclude-children: the flat sample records carry no psi", function()
    local out = S.tmpname(".jsonl")
    local r = S.denet { "-q", "-i", "200", "-o", out, "--exclude-children", "run", "sleep", "0.5" }
    assert.equal(0, r.code, r.err)
    local recs = S.records(S.slurp(out))
    os.remove(out)
    local samples = S.of_kind(recs, "sample")
    assert.is_true(#samples >= 1)
    for _, s in ipairs(samples) do assert.is_nil(s.psi) end
  end)
end)

describe("psi in the records Lua hooks get", function()
  it("rec.aggregated.psi has the figures of the record's line (lazy and with eBPF)", function()
    local json = require "denet.json"
    local script = S.tmpfile([[
local p = ...
local json = require "denet.json"
p:on("sample", function(rec)
  io.stderr:write("PSI ", rec.ts_ms, " ", json.encode(rec.aggregated.psi), "\n")
end)
]], ".lua")
    for _, extra in ipairs { {}, { "--enable-ebpf" } } do
      if extra[1] and S.valgrind then
        -- valgrind reports the bpf syscall's attributes as uninitialised
        print("# --enable-ebpf half skipped: valgrind does not know bpf(2)")
        break
      end
      local args = { "-i", "100" }
      for _, a in ipairs(extra) do args[#args + 1] = a end
      for _, a in ipairs { "run", "-s", script, "--", "sleep", "0.6" } do args[#args + 1] = a end
      local r, why = run_psi(args)
      if why then
        os.remove(script)
        return pending(why)
      end
      assert.equal(0, r.code, r.err)
      local ebpf_cap = r.recs[1].capabilities.ebpf
      if extra[1] and not (ebpf_cap and ebpf_cap.ok) then
        print("# --enable-ebpf half skipped: " .. tostring(ebpf_cap and ebpf_cap.reason))
        break
      end
      local trees, n = S.of_kind(r.recs, "tree"), 0
      for ts, text in r.err:gmatch("PSI (%d+) ([^\n]+)") do
        local from_hook = json.decode(text)
        for _, t in ipairs(trees) do
          if t.ts_ms == tonumber(ts) then
            n = n + 1
            assert.same(t.aggregated.psi, from_hook)
          end
        end
      end
      assert.is_true(n >= 1 and n == #trees, n .. " of " .. #trees .. " records compared")
    end
    os.remove(script)
  end)
end)

describe("p:watch on psi", function()
  local function hooks(text)
    local path = S.tmpname(".lua")
    S.write(path, text)
    return path
  end

  it("psi.memory.some fires on a memory-pressure workload, not on sleep", function()
    if not S.is_root() then return pending("a memory cgroup needs root") end
    local script = hooks [[
local p = ...
p:watch{ metric = "psi.memory.some", above = 1, for_ms = 500, name = "mem-stall",
         on_fire = function(a) io.stderr:write("FIRE ", a.metric, " ", a.value, "\n") end }
p:watch{ metric = "psi.system.memory.some.avg10", above = 1000000, name = "never" }
]]
    local r, why = run_psi { "-i", "250", "run", "-s", script, "--",
      S.helper("pagethrash"), "16", "64", "3", DISK_DIR }
    if why then
      os.remove(script)
      return pending(why)
    end
    assert.equal(0, r.code, r.err)
    if not r.psis[1].cgroup then return pending("the run's cgroup has no cgroup2 pressure files") end
    local alerts = S.of_kind(r.recs, "alert")
    assert.is_true(#alerts >= 1, "no alert: " .. r.err)
    local a = alerts[1]
    assert.equal("mem-stall", a.rule)
    assert.equal("psi.memory.some", a.metric)
    assert.equal("fire", a.state)
    assert.is_true(a.value > 1, "value " .. a.value)
    assert.matches("FIRE psi.memory.some [%d.]+", r.err)
    -- the value is the window_pct of the record of that sample
    local found = false
    for _, t in ipairs(S.of_kind(r.recs, "tree")) do
      if t.ts_ms == a.ts_ms then
        found = true
        assert.equal(t.aggregated.psi.cgroup.memory.some.window_pct, a.value)
      end
    end
    assert.is_true(found, "no tree record at the alert's ts_ms " .. a.ts_ms)
    for _, al in ipairs(alerts) do assert.are_not.equal("never", al.rule) end

    local idle = run_psi { "-i", "100", "run", "-s", script, "--", "sleep", "1" }
    assert.equal(0, idle.code, idle.err)
    assert.equal(0, #S.of_kind(idle.recs, "alert"))
    os.remove(script)
  end)

  it("a kernel trigger brings the sample forward: the stall is judged before the next scheduled sample", function()
    if not S.is_root() then return pending("a memory cgroup needs root") end
    local script = hooks [[
local p = ...
p:watch{ metric = "psi.memory.some", above = 1, name = "mem-stall" }
]]
    -- samples every 6 s: without a trigger the first would come at 6 s,
    -- after the 5 s workload
    local r, why = run_psi { "-i", "6000", "run", "-s", script, "--",
      S.helper("pagethrash"), "16", "64", "5", DISK_DIR }
    os.remove(script)
    if why then return pending(why) end
    assert.equal(0, r.code, r.err)
    local meta = r.recs[1]
    if not (meta.capabilities.psi_triggers or {}).ok then
      return pending("no PSI triggers: " .. tostring((meta.capabilities.psi_triggers or {}).reason))
    end
    -- without the trigger, no sample would come before the end
    local first = S.of_kind(r.recs, "tree")[1]
    assert.is_table(first, "no tree record: the trigger never brought a sample forward")
    -- the kernel reports within its window (1 s, or 2 s without
    -- CAP_SYS_RESOURCE) of the stall, which starts at once
    local after = first.ts_ms - meta.t0_ms
    assert.is_true(after < 4000, "first sample " .. after .. " ms after the start")
    assert.is_true(first.aggregated.psi.cgroup.memory.some.window_pct > 1)
    local alerts = S.of_kind(r.recs, "alert")
    assert.is_true(#alerts >= 1)
    assert.equal(first.ts_ms, alerts[1].ts_ms)
  end)

  it("in-process: a rule added to a running run sets its trigger at once", function()
    if not S.is_root() then return pending("a memory cgroup needs root") end
    -- can the kernel set triggers for a run here? (the CLI's capability says)
    local probe = hooks 'local p = ...\np:watch{ metric = "psi.memory.some", above = 1 }\n'
    local pr = run_psi { "run", "-s", probe, "--", "true" }
    os.remove(probe)
    local cap = pr.recs[1] and pr.recs[1].capabilities.psi_triggers
    if not (cap and cap.ok) then return pending("no PSI triggers: " .. tostring(cap and cap.reason)) end
    package.path = S.root .. "/lua/?/init.lua;" .. package.path
    local denet = require "denet"
    local out = S.tmpname(".jsonl")
    local p = assert(denet.run{ S.helper("pagethrash"), "16", "64", "5", DISK_DIR, interval = 6000,
      out = out, stdout = "/dev/null" })
    local alerts = {}
    p:watch{ metric = "psi.memory.some", above = 1, name = "mem",
             on_fire = function(a) alerts[#alerts + 1] = a end }
    local status = p:wait()
    local recs = S.records(S.slurp(out))
    os.remove(out)
    if status == 77 then return pending("pagethrash could not cap its memory") end
    assert.equal(0, status)
    local why = psi_why(recs)
    if why then return pending(why) end
    if not recs[1].capabilities.cgroup.ok then return pending("no cgroup: " .. recs[1].capabilities.cgroup.reason) end
    local trees = S.of_kind(recs, "tree")
    -- without the trigger, no sample would come before the end
    assert.is_table(trees[1], "no tree record: the trigger never brought a sample forward")
    if not trees[1].aggregated.psi.cgroup then return pending("no cgroup2 pressure files") end
    local after = trees[1].ts_ms - recs[1].t0_ms
    assert.is_true(after < 4000, "first sample " .. after .. " ms after the start")
    assert.is_true(#alerts >= 1)
    assert.equal(trees[1].ts_ms, alerts[1].ts_ms)
  end)

  it("psi_triggers is a capability only when a psi rule wants one", function()
    local r = run_psi { "-i", "200", "run", "true" }
    assert.is_nil(r.recs[1].capabilities.psi_triggers)
  end)

  it("rejects an unknown psi metric and scope any", function()
    for _, bad in ipairs { "psi.memory", "psi.memory.sum", "psi.disk.some", "psi.memory.some.avg60",
      "psi.system.cpu" } do
      local script = hooks(("local p = ...\np:watch{ metric = %q, above = 1 }\n"):format(bad))
      local r = S.denet { "-q", "-o", S.tmpname(".jsonl"), "run", "-s", script, "--", "true" }
      os.remove(script)
      assert.are_not.equal(0, r.code, bad)
      assert.matches("unknown metric '" .. bad:gsub("%.", "%%.") .. "'", r.err)
    end
    local script = hooks 'local p = ...\np:watch{ metric = "psi.io.full", above = 1, scope = "any" }\n'
    local r = S.denet { "-q", "-o", S.tmpname(".jsonl"), "run", "-s", script, "--", "true" }
    os.remove(script)
    assert.are_not.equal(0, r.code)
    assert.matches("psi%.io%.full", r.err)
  end)
end)
