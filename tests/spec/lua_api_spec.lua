-- lua_api_spec.lua — the public Lua API (docs/lua-api.md), driven in-process
-- through the C module (require "denet" loads lua/denet/init.lua, which
-- loads build/lua/denet/core.so through LUA_CPATH), and through the real
-- binary for what ends a state for good (errors in hooks, hook budgets)
-- and for `denet run -s hooks.lua`.
--
-- The memory patterns come from tests/helpers/memsteps.c: each "MIB:MS"
-- step makes exactly MIB MiB resident and holds it MS ms.

local S = require "support"
-- tests/run.sh's LUA_PATH has lua/?.lua but not lua/?/init.lua
package.path = S.root .. "/lua/?/init.lua;" .. package.path
local denet = require "denet"
local json = require "denet.json"

local function run_script(text, args, opts)
  local path = S.tmpname(".lua")
  S.write(path, text)
  local words = { path }
  for _, a in ipairs(args or {}) do words[#words + 1] = a end
  local r = S.denet(words, opts)
  r.script = path
  return r
end

-- Alerts of a rule over a memory pattern, collected in-process, and the
-- aggregate samples of the same run.
local function alerts_for(steps, rule)
  local cmd = { S.helper("memsteps"), interval = 50, stdout = "/dev/null" }
  for _, s in ipairs(steps) do cmd[#cmd + 1] = s end
  local p = assert(denet.run(cmd))
  local got, samples = {}, {}
  rule.metric = "mem_rss_kb"
  rule.on_fire = function(a) got[#got + 1] = a end
  rule.on_clear = function(a) got[#got + 1] = a end
  p:watch(rule)
  p:on("sample", function(rec) samples[#samples + 1] = rec.aggregated end)
  local status = p:wait()
  assert.equal(0, status)
  local fires, clears = {}, {}
  for _, a in ipairs(got) do
    if a.state == "fire" then fires[#fires + 1] = a else clears[#clears + 1] = a end
  end
  return fires, clears, samples
end

describe("denet module", function()
  it("has a version and a features table", function()
    assert.matches("^%d+%.%d+%.%d+$", denet.version)
    assert.is_table(denet.features)
    assert.is_boolean(denet.features.ebpf)
    assert.is_table(denet.features.reason)
    if not denet.features.ebpf then assert.is_string(denet.features.reason.ebpf) end
  end)

  it("features.cgroup tells whether a run gets a cgroup of its own", function()
    local out = S.tmpname(".jsonl")
    local p = assert(denet.run{ "true", out = out })
    p:wait()
    local cap = S.records(S.slurp(out))[1].capabilities.cgroup
    os.remove(out)
    assert.equal(cap.ok, denet.features.cgroup)
    if not cap.ok then assert.is_string(denet.features.reason.cgroup) end
    -- and as a user who may not make one, with the reason
    if S.is_root() then
      local script = S.tmpname(".lua")
      S.write(script, [[
local denet = require "denet"
print(denet.features.cgroup, denet.features.reason.cgroup)
local p = assert(denet.run{ "true", out = arg[1] })
p:wait()
]])
      os.execute("chmod 644 " .. S.q(script))
      local dir = S.sh("mktemp -d").out:match("[^\n]+")
      os.execute("chmod 777 " .. S.q(dir))
      local r = S.sh(("cd / && setpriv --reuid=65534 --regid=65534 --clear-groups %s %s %s")
        :format(S.q(S.bin), S.q(script), S.q(dir .. "/o.jsonl")))
      local recs = S.records(S.slurp(dir .. "/o.jsonl") or "")
      os.execute("rm -rf " .. S.q(dir) .. " " .. S.q(script))
      assert.equal(0, r.code, r.err)
      assert.is_false(recs[1].capabilities.cgroup.ok)
      assert.equal("false\t" .. recs[1].capabilities.cgroup.reason:gsub("denet%-%d+%-%d+", "denet-X") .. "\n",
        (r.out:gsub("denet%-%d+%-%d+", "denet-X")))
    else
      print("# skip: the non-root half needs root to drop to nobody")
    end
  end)

  it("denet.size converts to the metric's unit", function()
    assert.equal(2 * 1024 * 1024, denet.size("2G", "mem_rss_kb"))
    assert.equal(512 * 1024 * 1024, denet.size("512M"))
    assert.equal(1536, denet.size("1.5M", "mem_rss_kb"))
    assert.has_error(function() denet.size("lots") end)
  end)
end)

describe("errors at the Lua boundary", function()
  it("unknown option keys raise an error naming the key", function()
    local ok, err = pcall(denet.run, { "true", intervall = 10 })
    assert.is_false(ok)
    assert.matches("unknown option 'intervall'", err)
    ok, err = pcall(denet.attach, 1, { colour = "red" })
    assert.is_false(ok)
    assert.matches("unknown option 'colour'", err)
    local p = assert(denet.run{ "sleep", "5" })
    ok, err = pcall(p.watch, p, { metric = "mem_rss_kb", above = 1, treshold = 3 })
    assert.is_false(ok)
    assert.matches("unknown option 'treshold'", err)
    ok, err = pcall(p.watch, p, { metric = "mem_rss_kb" })
    assert.is_false(ok)
    assert.matches("exactly one of 'above' or 'below'", err)
    ok, err = pcall(p.watch, p, { metric = "rss", above = 1 })
    assert.is_false(ok)
    assert.matches("unknown metric 'rss'", err)
    ok, err = pcall(p.watch, p, { metric = "mem_vms_kb", scope = "any", above = 1 })
    assert.is_false(ok)
    assert.matches("scope = \"any\" works for cpu_usage and mem_rss_kb, not 'mem_vms_kb'", err, 1, true)
    ok, err = pcall(p.on, p, "tick", print)
    assert.is_false(ok)
    assert.matches("invalid option 'tick'", err)
    ok, err = pcall(denet.run, { "true", interval = "fast" })
    assert.is_false(ok)
    assert.matches("option 'interval' must be a number", err)
    assert.equal(1, p:signal("KILL"))
    assert.equal(137, (p:wait()))
  end)

  it("errors name the script's line and say each thing once", function()
    -- an assignment to denet.hook_budget_ms blames the line that assigns
    local ok, err = pcall(function() denet.hook_budget_ms = -5 end)
    assert.is_false(ok)
    assert.matches("^[^:]*lua_api_spec%.lua:%d+: denet%.hook_budget_ms must be a number of ms >= 0 "
      .. "%(0 = no limit%), got %-5$", err)
    ok, err = pcall(function() denet.hook_budget_ms = "fast" end)
    assert.is_false(ok)
    assert.matches("lua_api_spec%.lua:%d+: .*got fast$", err)
    assert.equal(1000, denet.hook_budget_ms)
    -- p:on is a method: the event is argument #1, as docs/lua-api.md says
    local p = assert(denet.run{ "true" })
    ok, err = pcall(function() p:on("tick", print) end)
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'on' %(invalid option 'tick'%)", err)
    assert.equal(0, (p:wait()))
    local none, msg, code = p:mark("late")
    assert.is_nil(none)
    assert.equal("ESRCH", code)
    assert.equal("ESRCH: the process has ended: no record can follow its exit", msg)
    none, msg, code = p:signal("TERM")
    assert.is_nil(none)
    assert.equal("ESRCH", code)
    assert.equal("ESRCH: the process has ended", msg)
  end)

  it("a nonexistent command returns nil, message, ENOENT", function()
    local p, msg, code = denet.run{ "/nonexistent/denet-test-cmd" }
    assert.is_nil(p)
    assert.equal("ENOENT", code)
    assert.matches("^ENOENT: cannot run '/nonexistent/denet%-test%-cmd'", msg)
  end)

  it("attach to a PID that does not exist returns nil, message, ESRCH", function()
    local p, msg, code = denet.attach(999999)
    assert.is_nil(p)
    assert.equal("ESRCH", code)
    assert.matches("999999", msg)
  end)

  it("an unwritable out path returns nil, message, code before the command starts", function()
    local p, msg, code = denet.run{ "true", out = "/nonexistent-dir/x.jsonl" }
    assert.is_nil(p)
    assert.equal("ENOENT", code)
    assert.matches("cannot write '/nonexistent%-dir/x.jsonl'", msg)
  end)
end)

describe("process objects", function()
  it("p:on('sample') sees the values written to the JSONL file", function()
    local out = S.tmpname(".jsonl")
    local p = assert(denet.run{ S.helper("memsteps"), "20:150", "60:150", "10:150", interval = 40, out = out,
      stdout = "/dev/null" })
    local seen = {}
    p:on("sample", function(rec) seen[#seen + 1] = rec end)
    local status, totals = p:wait()
    assert.equal(0, status)
    local trees = S.of_kind(S.records(S.slurp(out)), "tree")
    assert.is_true(#seen >= 8, "only " .. #seen .. " samples")
    assert.equal(#seen, #trees)
    assert.equal(#seen, totals.sampled.samples)
    local fields = { "ts_ms", "mem_rss_kb", "mem_vms_kb", "thread_count", "process_count",
      "disk_read_bytes", "syscall_read_bytes", "page_faults_cached", "mem_peak_kb" }
    local max_rss = 0
    for i, rec in ipairs(seen) do
      local a, b = rec.aggregated, trees[i].aggregated
      assert.equal(trees[i].ts_ms, rec.ts_ms)
      for _, f in ipairs(fields) do
        assert.equal(b[f], a[f], ("sample %d field %s"):format(i, f))
      end
      assert.near(b.cpu_usage, a.cpu_usage, 0.0101)
      assert.equal(#trees[i].children, #rec.children)
      max_rss = math.max(max_rss, a.mem_rss_kb)
    end
    assert.is_true(max_rss > 55 * 1024 and max_rss < 70 * 1024, "peak " .. max_rss)
    os.remove(out)
  end)

  it("a sample callback gets the record the file gets: the same keys, and cpu_secs", function()
    local function keys(t)
      local ks = {}
      for k in pairs(t) do ks[#ks + 1] = k end
      table.sort(ks)
      return table.concat(ks, ",")
    end
    for _, children in ipairs{ true, false } do
      local out = S.tmpname(".jsonl")
      local p = assert(denet.run{ "sh", "-c", S.q(S.helper("busy")) .. " 0.4 & sleep 0.2; wait",
        interval = 50, out = out, children = children })
      local seen = {}
      p:on("sample", function(rec) seen[#seen + 1] = rec end)
      local _, totals = p:wait()
      local recs = S.of_kind(S.records(S.slurp(out)), children and "tree" or "sample")
      assert.equal(#recs, #seen)
      assert.is_true(#recs >= 4)
      for i, rec in ipairs(recs) do
        local got = seen[i]
        assert.equal(keys(rec), keys(got))
        if children then
          assert.equal(keys(rec.aggregated), keys(got.aggregated))
          assert.matches("cpu_usage_exited", keys(got.aggregated))
          assert.equal(rec.aggregated.cpu_source, got.aggregated.cpu_source)
          assert.equal(rec.aggregated.cpu_usage_exited, got.aggregated.cpu_usage_exited)
          assert.equal(rec.aggregated.cpu_secs, got.aggregated.cpu_secs)
          if rec.parent ~= require("denet.json").null then
            assert.equal(keys(rec.parent), keys(got.parent))
            assert.equal(rec.parent.cpu_secs, got.parent.cpu_secs)
          end
          assert.equal(#rec.children, #got.children)
          for k, c in ipairs(rec.children) do
            assert.equal(keys(c), keys(got.children[k]))
            assert.equal(keys(c.metrics), keys(got.children[k].metrics))
            assert.equal(c.metrics.cpu_secs, got.children[k].metrics.cpu_secs)
          end
        else
          assert.equal(rec.cpu_secs, got.cpu_secs)
        end
      end
      -- cumulative CPU: never decreasing; `sampled` adds the reading at the exit
      local last = recs[#recs]
      if children then
        local busy
        for _, rec in ipairs(recs) do
          for _, c in ipairs(rec.children) do
            if c.command:match("busy") then
              assert.is_true(busy == nil or c.metrics.cpu_secs >= busy)
              busy = c.metrics.cpu_secs
            end
          end
        end
        assert.is_true(busy > 0.1, "busy's cpu_secs " .. tostring(busy))
        assert.is_true(last.aggregated.cpu_secs >= busy)
        -- sampled also counts the final reading at the exit, of which no
        -- record is written (it would describe an exited process)
        assert.is_true(totals.sampled.cpu_secs >= last.aggregated.cpu_secs - 1e-6,
          ("sampled %.6f < last aggregate %.6f"):format(totals.sampled.cpu_secs, last.aggregated.cpu_secs))
        assert.is_true(totals.sampled.cpu_secs <= last.aggregated.cpu_secs + 0.5)
      end
      os.remove(out)
    end
  end)

  it("p:sample, p:summary, p:mark, p:signal and the exit hook", function()
    local out = S.tmpname(".jsonl")
    local p = assert(denet.run{ "sleep", "10", out = out, interval = 50 })
    assert.is_number(p.pid)
    assert.same({ "sleep", "10" }, p.cmd)
    assert.is_true(p.running)
    assert.equal(p, p:mark("stage one"))
    local exit_args, rec
    p:on("exit", function(status, totals) exit_args = { status, totals } end)
    local sent = false
    denet.after(150, function() rec = p:sample() end)
    denet.after(200, function() sent = p:signal("TERM") end)
    local status, totals = p:wait()
    assert.equal("tree", rec.kind)
    assert.equal(1, rec.aggregated.process_count)
    assert.is_true(rec.parent.mem_rss_kb > 0)
    assert.equal("sleep 10", rec.children and #rec.children == 0 and "sleep 10")
    assert.equal(1, sent)
    assert.equal(143, status)
    assert.equal(15, totals.signal)
    assert.equal(143, exit_args[1])
    assert.is_true(totals.duration_secs >= 0.19 and totals.duration_secs < 2)
    assert.is_false(p.running)
    assert.is_nil(p:sample())
    local nil_, _, code = p:signal("TERM")
    assert.is_nil(nil_)
    assert.equal("ESRCH", code)
    local sum = p:summary()
    assert.is_true(sum.sample_count >= 3)
    assert.is_true(sum.peak_mem_rss_kb > 0)
    local recs = S.records(S.slurp(out))
    local marks = S.of_kind(recs, "mark")
    assert.equal(1, #marks)
    assert.equal("stage one", marks[1].label)
    assert.equal("exit", recs[#recs].kind)
    assert.equal(143, recs[#recs].exit_code)
    os.remove(out)
  end)

  it("spawn and reap hooks see the children", function()
    local p = assert(denet.run{ "sh", "-c", "sleep 0.2 & sleep 0.4; wait", interval = 30 })
    local spawned, reaped = {}, {}
    p:on("spawn", function(c) spawned[#spawned + 1] = c end)
    p:on("reap", function(c) reaped[#reaped + 1] = c end)
    assert.equal(0, (p:wait()))
    assert.equal(2, #spawned)
    for _, c in ipairs(spawned) do
      assert.equal(p.pid, c.ppid)
      assert.is_table(c.metrics)
    end
    assert.is_true(#reaped >= 1)
    assert.matches("sleep", reaped[1].command)
  end)
end)

describe("p:watch rules", function()
  it("for_ms: an excess fires once it has lasted for_ms, a shorter one does not", function()
    local limit = 100 * 1024
    local fires, _, samples = alerts_for({ "150:200", "5:500", "150:900", "5:200" },
      { above = "100M", for_ms = 500 })
    -- The excesses as the samples saw them: [first sample above, first
    -- below). The spike lasts 200 ms plus the time to fault in 50 MiB,
    -- which a loaded machine stretches past 500 ms (then firing is right).
    local runs, i = {}, 1
    while i <= #samples do
      if samples[i].mem_rss_kb > limit then
        local j = i
        while samples[j + 1] and samples[j + 1].mem_rss_kb > limit do j = j + 1 end
        runs[#runs + 1] = { first = i, last = j }
        i = j + 1
      else
        i = i + 1
      end
    end
    assert.equal(2, #runs)
    -- a rule with for_ms fires at the first sample that has been above for
    -- 500 ms, not one sample earlier, and only once per excess
    local expected = {}
    for _, run in ipairs(runs) do
      local t0 = samples[run.first].ts_ms
      for k = run.first, run.last do
        if samples[k].ts_ms - t0 >= 500 then
          expected[#expected + 1] = samples[k].ts_ms
          break
        end
      end
    end
    assert.equal(#expected, #fires)
    assert.is_true(#fires >= 1, "the 900 ms excess did not fire")
    for n, f in ipairs(fires) do
      assert.equal(expected[n], f.ts_ms)
      assert.equal(limit, f.threshold)
      assert.is_true(f.value > limit)
    end
    -- the same pattern without for_ms fires on the spike too
    local fires0 = alerts_for({ "150:200", "5:500", "150:900", "5:200" }, { above = "100M" })
    assert.equal(2, #fires0)
  end)

  it("hysteresis: fires and clears once over an up-down-up pattern inside the band", function()
    local steps = { "150:300", "80:300", "150:300", "80:300", "30:300" }
    local fires, clears = alerts_for(steps, { above = "100M", clear_below = "60M", name = "band" })
    assert.equal(1, #fires)
    assert.equal(1, #clears)
    assert.equal("band", clears[1].rule)
    assert.equal(60 * 1024, clears[1].threshold)
    assert.is_true(clears[1].value < 60 * 1024)
    -- without hysteresis every dip to 80 MiB clears and every rise fires
    local f2, c2 = alerts_for(steps, { above = "100M" })
    assert.equal(2, #f2)
    assert.equal(2, #c2)
  end)

  it("action = 'kill' ends the tree and writes the alert record", function()
    local out = S.tmpname(".jsonl")
    local p = assert(denet.run{ S.helper("memsteps"), "150:3000", interval = 50, out = out,
      stdout = "/dev/null" })
    p:watch{ metric = "mem_rss_kb", above = "100M", action = "kill", name = "cap" }
    local status, totals = p:wait()
    assert.equal(137, status)
    assert.equal(9, totals.signal)
    assert.is_true(totals.duration_secs < 2)
    local alerts = S.of_kind(S.records(S.slurp(out)), "alert")
    assert.equal(1, #alerts)
    assert.equal("cap", alerts[1].rule)
    assert.equal("fire", alerts[1].state)
    assert.equal("mem_rss_kb", alerts[1].metric)
    os.remove(out)
  end)
end)

describe("timers and the loop", function()
  it("every(50) ticks 8..11 times in ~500 ms; after() fires once", function()
    local ticks, once = 0, 0
    local t0 = os.clock()
    local h = denet.every(50, function() ticks = ticks + 1 end)
    denet.after(520, function() h:cancel() end)
    denet.after(100, function() once = once + 1 end)
    denet.loop()
    assert.is_true(ticks >= 8 and ticks <= 11, ticks .. " ticks")
    assert.equal(1, once)
    assert.is_true(os.clock() - t0 < 0.3, "the loop should sleep, not spin")
  end)

  it("denet.stop() ends the loop", function()
    local n = 0
    local h = denet.every(10, function() n = n + 1; if n == 5 then denet.stop() end end)
    denet.loop()
    assert.equal(5, n)
    h:cancel()
    denet.loop() -- nothing left: returns at once
    assert.equal(5, n)
  end)

  it("rejects bad timer arguments", function()
    assert.has_error(function() denet.every(0, function() end) end)
    assert.has_error(function() denet.after(10) end)
    assert.has_error(function() denet.hook_budget_ms = -1 end)
  end)
end)

describe("denet.read", function()
  it("returns the good records of a file with garbage lines", function()
    local path = S.tmpname(".jsonl")
    S.write(path, '{"kind":"mark","ts_ms":1,"label":"a"}\nnot json\n{"kind":"mark","ts_ms":2,'
      .. '"label":"b"}\n[1,2]\n{"broken":\n\n{"kind":"mark","ts_ms":3,"label":"c"}\n')
    local it, st = denet.read(path)
    local labels = {}
    for rec in it, st do labels[#labels + 1] = rec.label end
    assert.same({ "a", "b", "c" }, labels)
    assert.equal(3, st.skipped)
    local none, msg = denet.read("/nonexistent/file.jsonl")
    assert.is_nil(none)
    assert.matches("No such file", msg)
    os.remove(path)
  end)
end)

describe("through the binary", function()
  it("an error in on('sample') reports file:line, exits 1, ends the command, keeps the file valid", function()
    local out = S.tmpname(".jsonl")
    local r = run_script([[
local denet = require "denet"
local p = denet.run{ "sleep", "30", interval = 50, out = arg[1] }
io.stderr:write("PID ", p.pid, "\n")
local n = 0
p:on("sample", function(rec)
  n = n + 1
  io.stderr:write("SAMPLE ", rec.ts_ms, "\n")
  if n == 4 then error("bad sample") end
end)
]], { out })
    assert.equal(1, r.code)
    assert.matches("%.lua:8: bad sample", r.err)
    assert.matches("stack traceback", r.err)
    local pid = tonumber(r.err:match("PID (%d+)"))
    assert.is_false(S.alive(pid))
    local recs = S.records(S.slurp(out)) -- asserts every line parses
    local trees = S.of_kind(recs, "tree")
    local hook_ts = {}
    for ts in r.err:gmatch("SAMPLE (%d+)") do hook_ts[#hook_ts + 1] = tonumber(ts) end
    assert.equal(4, #hook_ts)
    assert.equal(4, #trees)
    for i = 1, 4 do assert.equal(hook_ts[i], trees[i].ts_ms) end
    assert.equal("exit", recs[#recs].kind)
    os.remove(out)
  end)

  it("a hook exceeding denet.hook_budget_ms is interrupted with an error", function()
    local t0 = os.time()
    local r = run_script([[
local denet = require "denet"
denet.hook_budget_ms = 100
denet.after(10, function() while true do end end)
]])
    assert.equal(1, r.code)
    assert.matches("hook ran for more than 100 ms %(denet.hook_budget_ms%)", r.err)
    assert.matches("%.lua:3", r.err)
    assert.is_true(os.time() - t0 <= 3)
  end)

  it("a script's exit status is os.exit's, and denet.stop() in the main chunk ends it", function()
    local r = run_script([[
local denet = require "denet"
denet.every(10, function() print("tick") end)
denet.stop()
print("args", select("#", ...), arg[1], arg[2])
]], { "a", "b c" })
    assert.equal(0, r.code)
    assert.equal("args\t2\ta\tb c\n", r.out)
    r = run_script('require "denet"; os.exit(7)')
    assert.equal(7, r.code)
  end)

  it("denet run -s hooks.lua: p:watch, p:on('sample') and p:mark", function()
    local hooks = S.tmpname(".lua")
    S.write(hooks, [[
local p = ...
local n = 0
p:on("sample", function(rec)
  n = n + 1
  if n == 3 then p:mark("third sample") end
end)
p:watch{ metric = "mem_rss_kb", above = "50M", name = "big",
         on_fire = function(a) io.stderr:write("FIRE ", a.rule, " ", a.value, "\n") end }
p:on("exit", function(status) io.stderr:write("EXIT ", status, " after ", n, " samples\n") end)
]])
    local out = S.tmpname(".jsonl")
    local r = S.denet{ "-q", "-i", "50", "-o", out, "run", "-s", hooks, "--",
      S.helper("memsteps"), "10:200", "80:300" }
    assert.equal(0, r.code)
    local recs = S.records(S.slurp(out))
    local trees = S.of_kind(recs, "tree")
    local n = tonumber(r.err:match("EXIT 0 after (%d+) samples"))
    assert.equal(#trees, n)
    local marks = S.of_kind(recs, "mark")
    assert.equal(1, #marks)
    assert.equal("third sample", marks[1].label)
    -- marked from the third sample's hook: after it, before the fourth
    assert.is_true(marks[1].ts_ms >= trees[3].ts_ms and marks[1].ts_ms <= trees[4].ts_ms)
    local alerts = S.of_kind(recs, "alert")
    assert.equal(1, #alerts)
    assert.equal("big", alerts[1].rule)
    assert.matches("FIRE big %d+", r.err)
    os.remove(hooks)
    os.remove(out)
  end)
end)

describe("prof:folded()", function()
  it("has every stack since the profiler started, without a prof:drain() before", function()
    if not denet.features.ebpf then
      return pending("eBPF unavailable: " .. tostring(denet.features.reason.ebpf))
    end
    local prof = assert(denet.offcpu{ min_us = 1000 })
    local p = assert(denet.run{ "sh", "-c", "sleep 0.2; sleep 0.2", interval = 50 })
    assert(prof:track(p.pid))
    assert.equal(0, (p:wait()))
    local folded = prof:folded()
    local us = 0
    for n in folded:gmatch("\nsleep;[^\n]* (%d+)") do us = us + tonumber(n) end
    for n in folded:gmatch("^sleep;[^\n]* (%d+)") do us = us + tonumber(n) end
    assert.is_true(us >= 350000, "sleep's folded off-CPU time: " .. us .. " us\n" .. folded)
    -- a drain after it still gets those stacks
    local ns = 0
    for _, st in ipairs(assert(prof:drain())) do
      if st.comm == "sleep" then ns = ns + st.off_ns end
    end
    assert.is_true(ns >= 350e6, "drained " .. ns)
    prof:close()
  end)
end)

describe("-s hooks with --enable-ebpf", function()
  it("the hook's aggregate has the file's ebpf.offcpu object", function()
    local hooks = S.tmpname(".lua")
    S.write(hooks, [[
local json = require "denet.json"
local p = ...
p:on("sample", function(rec)
  io.stderr:write("AGG ", json.encode(rec.aggregated.ebpf or false), "\n")
end)
]])
    local out = S.tmpname(".jsonl")
    local r = S.denet{ "--enable-ebpf", "-q", "-i", "50", "-o", out, "run", "-s", hooks, "--",
      "sh", "-c", "sleep 0.1; sleep 0.1; sleep 0.1" }
    local recs = S.records(S.slurp(out))
    os.remove(hooks)
    os.remove(out)
    if not recs[1].capabilities.ebpf.ok then
      print("# skip: eBPF unavailable: " .. tostring(recs[1].capabilities.ebpf.reason))
      return
    end
    assert.equal(0, r.code, r.err)
    local trees, i = S.of_kind(recs, "tree"), 0
    for line in r.err:gmatch("AGG ([^\n]*)") do
      i = i + 1
      assert.same(trees[i].aggregated.ebpf, json.decode(line))
    end
    assert.equal(#trees, i)
    assert.is_table(trees[#trees].aggregated.ebpf.offcpu)
  end)
end)

describe("signals to a script", function()
  it("SIGTERM to denet reaches the command the script launched", function()
    local path = S.tmpname(".lua")
    S.write(path, [[
local denet = require "denet"
local p = assert(denet.run{ "sleep", "10" })
local status, totals = p:wait()
print("status", status, "signal", totals.signal)
]])
    local t0 = os.time()
    local r = S.sh(("{ %s %s & pid=$!; sleep 0.5; kill -TERM $pid; wait $pid; }"):format(S.q(S.bin), S.q(path)))
    os.remove(path)
    assert.are.equal(0, r.code, r.err)
    -- sleep died of the forwarded SIGTERM: 128 + 15
    assert.matches("status\t143\tsignal\t15", r.out)
    assert.is_true(os.time() - t0 < 5)
  end)
end)
