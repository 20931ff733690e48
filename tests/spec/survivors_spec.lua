-- survivors_spec.lua — when the command exits and its children live on
-- (docs/cli.md, "When the command exits"): by default monitoring follows
-- the command and the `exit` record names the survivors; --wait-all (Lua
-- wait_all = true) monitors them until the run is empty.

local S = require "support"
package.path = S.root .. "/lua/?/init.lua;" .. package.path
local denet = require "denet"

-- Wall-clock milliseconds (os.clock is CPU time).
local function now_ms()
  return tonumber(S.capture("date +%s%3N"))
end

-- The orphan left behind by a run is killed here, so the suite leaves
-- nothing: only when its pid is still a `sleep` (its command line says so).
local function kill_sleep(pid)
  local cmdline = S.slurp("/proc/" .. pid .. "/cmdline")
  if cmdline and cmdline:match("^sleep%z") then
    os.execute("kill -9 " .. pid .. " 2>/dev/null")
  end
end

local function exit_of(text)
  local recs = S.records(text)
  local e = recs[#recs]
  assert.equal("exit", e.kind)
  return e, recs
end

-- Whether a tree record after ts shows a `sleep` child.
local function sleep_sampled_after(recs, ts)
  for _, r in ipairs(S.of_kind(recs, "tree")) do
    if r.ts_ms > ts then
      for _, c in ipairs(r.children) do
        if c.command:match("^sleep") then return true end
      end
    end
  end
  return false
end

describe("a command that exits while its children live on", function()
  -- `sleep 0.3` first: the background child has exec'd `sleep` by then
  -- (before, its name is still `sh`)
  local CMD = "sleep 2 & sleep 0.3; exit 0"

  it("ends monitoring with the command by default and names the survivor", function()
    local t0 = now_ms()
    local r = S.denet { "--json", "run", "sh", "-c", CMD }
    local took = now_ms() - t0
    local e = exit_of(r.out)
    if e.survivors then
      for _, p in ipairs(e.survivors.processes) do kill_sleep(p.pid) end
    end
    assert.equal(0, r.code, r.err)
    assert.is_true(took < 1500, "denet waited for the orphan: " .. took .. " ms")
    assert.equal(0, e.exit_code)
    assert.is_table(e.survivors, "no survivors in " .. r.out)
    assert.equal(1, e.survivors.count)
    assert.equal(1, #e.survivors.processes)
    assert.equal("sleep", e.survivors.processes[1].command)
    assert.is_truthy(e.survivors.source == "cgroup" or e.survivors.source == "tree")
  end)

  it("names survivors found by the last scan without a cgroup", function()
    local r = S.denet { "--json", "--no-cgroup", "run", "sh", "-c", CMD }
    local e = exit_of(r.out)
    if e.survivors then
      for _, p in ipairs(e.survivors.processes) do kill_sleep(p.pid) end
    end
    assert.equal(0, r.code, r.err)
    assert.is_table(e.survivors, "no survivors in " .. r.out)
    assert.equal("tree", e.survivors.source)
    assert.equal(1, e.survivors.count)
    assert.equal("sleep", e.survivors.processes[1].command)
  end)

  it("the human summary counts the survivors", function()
    local out = S.tmpname(".jsonl")
    local r = S.denet { "-o", out, "run", "sh", "-c", CMD }
    local e = exit_of(S.slurp(out))
    os.remove(out)
    for _, p in ipairs(e.survivors and e.survivors.processes or {}) do kill_sleep(p.pid) end
    assert.equal(0, r.code, r.err)
    assert.is_truthy(r.err:find("1 process runs on, unmonitored (pid "
      .. e.survivors.processes[1].pid .. ")", 1, true), r.err)
  end)

  it("has no survivors when the tree ends with the command", function()
    local r = S.denet { "--json", "run", "sh", "-c", "sleep 0.2 & wait" }
    assert.equal(0, r.code, r.err)
    assert.is_nil(exit_of(r.out).survivors)
  end)

  it("--wait-all monitors the survivors until none is left", function()
    for _, nocg in ipairs { false, true } do
      local t0 = now_ms()
      local args = { "--json", "--wait-all", "run", "sh", "-c", "sleep 2 & exit 3" }
      if nocg then
        -- without a cgroup the fork events name it (a scan, without them)
        args = { "--json", "--wait-all", "--no-cgroup", "-i", "50", "run", "sh", "-c",
          "sleep 2 & sleep 0.3; exit 3" }
      end
      local r = S.denet(args)
      local took = now_ms() - t0
      local e, recs = exit_of(r.out)
      assert.equal(3, r.code, r.err)
      assert.equal(3, e.exit_code, "the command's own status")
      assert.is_true(took >= 1500, "returned after " .. took .. " ms")
      assert.is_true(e.duration_secs >= 1.5, r.out)
      assert.is_nil(e.survivors)
      -- the command exited at once (or after 0.3 s): tree records go on,
      -- showing the sleep, well after it
      assert.is_true(sleep_sampled_after(recs, e.ts_ms - 1000), "no sample of the survivor")
    end
  end)

  it("--wait-all with --exclude-children still waits for the survivors", function()
    -- flat records: the survivors join from the run's cgroup at each
    -- sample, not from the membership of a followed tree; the survivor
    -- hands over to a child of its own 0.2 s in and exits
    local r = S.denet { "--json", "-i", "50", "--wait-all", "--exclude-children", "run", "sh",
      "-c", "(sleep 0.2; sleep 0.8 &) & exit 4" }
    local e = exit_of(r.out)
    assert.equal(4, r.code, r.err)
    assert.is_nil(e.survivors)
    assert.is_true(e.duration_secs >= 0.9, "ended after " .. e.duration_secs .. " s")
  end)

  it("--wait-all with --timeout ends at the timeout and kills the survivors", function()
    local t0 = now_ms()
    local r = S.denet { "--json", "--wait-all", "--timeout", "0.5", "run", "sh", "-c",
      "sleep 30 & echo $! >&2; sleep 0.2; exit 0" }
    local took = now_ms() - t0
    local pid = tonumber(r.err:match("^(%d+)"))
    assert.is_number(pid, r.err)
    local alive = S.alive(pid)
    if alive then kill_sleep(pid) end
    assert.equal(124, r.code, r.err)
    assert.is_true(took < 10000, "returned after " .. took .. " ms")
    assert.is_false(alive, "the survivor outlived the run")
    local e = exit_of(r.out)
    assert.equal(0, e.exit_code)
  end)

  it("writes valid JSON for survivors with hostile names", function()
    -- namer renames itself and its child with ) \n " \ tab and 0xff;
    -- run in the background, both survive the shell
    local r = S.denet { "--json", "run", "sh", "-c",
      S.q(S.helper("namer")) .. " 2 & sleep 0.5; exit 0" }
    local e = exit_of(r.out) -- every line decodes
    local hostile = 0
    for _, p in ipairs(e.survivors and e.survivors.processes or {}) do
      local cmdline = S.slurp("/proc/" .. p.pid .. "/cmdline") or ""
      if cmdline:find("namer", 1, true) or cmdline:find("a) (b", 1, true) then
        os.execute("kill -9 " .. p.pid .. " 2>/dev/null")
      end
      if p.command:find("\"", 1, true) or p.command:find("\n", 1, true) then
        hostile = hostile + 1
      end
    end
    assert.equal(0, r.code, r.err)
    assert.is_true(e.survivors.count >= 2, r.out)
    assert.is_true(hostile >= 1, r.out)
    for l in r.out:gmatch("[^\n]+") do
      assert.is_nil(l:find("[\0-\31\xfe\xff]"), "raw control or invalid byte in " .. l)
    end
  end)
end)

describe("denet.run wait_all", function()
  it("waits for the survivors and reports none in the totals", function()
    local t0 = now_ms()
    local p = assert(denet.run { "sh", "-c", "sleep 2 & exit 0", wait_all = true, interval = 50 })
    local saw_sleep = false
    p:on("sample", function(rec)
      for _, c in ipairs(rec.children or {}) do
        if c.command:match("^sleep") then saw_sleep = true end
      end
    end)
    local status, totals = p:wait()
    local took = now_ms() - t0
    assert.equal(0, status)
    assert.is_true(took >= 1500, "returned after " .. took .. " ms")
    assert.is_true(totals.duration_secs >= 1.5)
    assert.is_nil(totals.survivors)
    assert.is_true(saw_sleep, "the survivor was never sampled")
  end)

  it("without it, the totals name the survivor", function()
    local p = assert(denet.run { "sh", "-c", "sleep 2 & sleep 0.3; exit 0" })
    local status, totals = p:wait()
    local sv = totals.survivors
    if sv then
      for _, s in ipairs(sv.processes) do kill_sleep(s.pid) end
    end
    assert.equal(0, status)
    assert.is_table(sv)
    assert.equal(1, sv.count)
    assert.equal("sleep", sv.processes[1].command)
  end)

  it("refuses a wait_all that is not a boolean", function()
    assert.is_false(pcall(denet.run, { "true", wait_all = "yes" }))
  end)
end)
