-- counters_spec.lua — `--counters` (denet.run{counters = true}): the
-- kernel's perf counters of the run (docs/data-format.md, "Perf
-- counters"), on real workloads: a ping-pong's context switches, a 100 MiB
-- toucher's page faults, a 1 s CPU burn's task clock against the cgroup's
-- CPU time, the windows of the tree records adding up to the exit record's
-- totals, --exclude-children counting the command alone, the hardware
-- counters' capability, and nothing of it without the option.

local S = require "support"
package.path = S.root .. "/lua/?/init.lua;" .. package.path
local denet = require "denet"
local json = require "denet.json"

local SW = { "context_switches", "cpu_migrations", "page_faults", "task_clock_ns" }

-- The records of `denet --counters ARGS...` (JSONL on stdout), the exit
-- record, and the denet result.
local function run(args)
  local words = { "-q", "-o", "-" }
  for _, a in ipairs(args) do words[#words + 1] = a end
  local r = S.denet(words)
  assert.equal(0, r.code, r.err)
  local recs = S.records(r.out)
  local e = recs[#recs]
  assert.equal("exit", e.kind)
  return recs, e, r
end

-- Why perf counters cannot be tested here, or nil (from a run's metadata).
local function no_counters(meta)
  local c = meta.capabilities.counters
  if not c.ok then return "no perf counters here: " .. tostring(c.reason) end
end

-- The windows' counters summed over the records of a kind.
local function window_sums(recs, kind)
  local sum, n = {}, 0
  for _, r in ipairs(S.of_kind(recs, kind)) do
    local c = kind == "tree" and r.aggregated.counters or r.counters
    assert.is_table(c, "a " .. kind .. " record without counters")
    for k, v in pairs(c) do sum[k] = (sum[k] or 0) + v end
    n = n + 1
  end
  return sum, n
end

describe("--counters", function()
  it("counts a ping-pong's context switches, and the windows add up to the total", function()
    -- 10000 round trips on one CPU: each process leaves it once per trip;
    -- then 0.3 s of sleep, so that the last windows are quiet
    local recs, e = run { "--counters", "-i", "50", "-m", "50", "run",
      S.helper("pingpong"), "10000", "0.3" }
    local why = no_counters(recs[1])
    if why then return pending(why) end
    assert.is_table(e.counters, "no counters in the exit record")
    for _, k in ipairs(SW) do
      assert.is_true(math.type(e.counters[k]) == "integer" and e.counters[k] >= 0, k)
    end
    assert.is_true(e.counters.context_switches >= 20000,
      "context switches: " .. e.counters.context_switches)
    local sum, n = window_sums(recs, "tree")
    assert.is_true(n >= 3, "tree records: " .. n)
    -- Each window is the difference of two readings of the whole tree
    -- (live processes included): they add up to the reading of the last
    -- tree record. The exit record's reading is later (after the command
    -- was reaped): it adds what the process did after the last record —
    -- here, waking from its sleep and exiting: a switch or two at most.
    for _, k in ipairs(SW) do
      assert.is_true(sum[k] <= e.counters[k], k .. ": windows " .. sum[k] .. " > total")
    end
    assert.is_true(e.counters.context_switches - sum.context_switches <= 10,
      ("windows %d, total %d"):format(sum.context_switches, e.counters.context_switches))
    assert.is_true(sum.context_switches >= 20000)
  end)

  it("counts an orphan of the run (re-parented to denet) while the command waits", function()
    -- the subshell exits at once: its ping-pong is orphaned and runs
    -- under denet (the subreaper) while sh sleeps
    local recs, e = run { "--counters", "run", "sh", "-c",
      "(" .. S.q(S.helper("pingpong")) .. " 5000 &); sleep 1" }
    local why = no_counters(recs[1])
    if why then return pending(why) end
    assert.is_true(e.counters.context_switches >= 10000,
      "context switches: " .. e.counters.context_switches)
  end)

  it("counts the page faults of a command touching 100 MiB", function()
    local thp = S.slurp("/sys/kernel/mm/transparent_hugepage/enabled") or ""
    if thp:find("%[always%]") then
      return pending("transparent huge pages always on: 2 MiB per fault")
    end
    local recs, e = run { "--counters", "run", S.helper("memhog"), "100", "0.2" }
    local why = no_counters(recs[1])
    if why then return pending(why) end
    -- one fault per 4 KiB page at least: 25600
    assert.is_true(e.counters.page_faults >= 25600, "page faults: " .. e.counters.page_faults)
  end)

  it("has the task clock of a 1 s CPU burn, as the cgroup's CPU time", function()
    local recs, e = run { "--counters", "run", S.helper("cpuburn"), "1" }
    local why = no_counters(recs[1])
    if why then return pending(why) end
    local ns = e.counters.task_clock_ns
    assert.is_true(ns >= 0.95e9 and ns <= 1.3e9, "task clock: " .. ns)
    if e.totals and e.totals.source:match("^cgroup") then
      local cg = e.totals.cpu_secs * 1e9
      assert.is_true(math.abs(ns - cg) <= 0.02 * cg,
        ("task clock %d ns, cgroup %.0f ns"):format(ns, cg))
    end
  end)

  it("says in the capabilities why there are no hardware counters", function()
    local recs, e = run { "--counters", "run", "true" }
    local why = no_counters(recs[1])
    if why then return pending(why) end
    local hw = recs[1].capabilities.hw_counters
    assert.is_table(hw)
    if hw.ok then
      assert.is_true(e.counters.cycles > 0 and e.counters.instructions > 0)
    else
      -- e.g. "no PMU: perf_event_open(cycles): No such file or directory"
      assert.truthy(tostring(hw.reason):find("perf_event_open(cycles)", 1, true), hw.reason)
      assert.is_nil(e.counters.cycles)
      assert.is_nil(e.counters.instructions)
    end
  end)

  it("counts the command alone with --exclude-children (flat samples carry them)", function()
    local recs, e = run { "--counters", "--exclude-children", "-i", "50", "-m", "50", "run",
      S.helper("pingpong"), "10000", "0.3" }
    local why = no_counters(recs[1])
    if why then return pending(why) end
    local sum, n = window_sums(recs, "sample")
    assert.is_true(n >= 3, "sample records: " .. n)
    -- the parent leaves the CPU once per round trip; its child's 10000
    -- switches are not counted
    local cs = e.counters.context_switches
    assert.is_true(cs >= 10000 and cs < 15000, "context switches: " .. cs)
    assert.is_true(sum.context_switches <= cs)
  end)

  it("denet stats and denet report carry the exit record's counters", function()
    local file = S.tmpname(".jsonl")
    -- 0.3 s of sleep: a report needs a sample
    local r = S.denet { "--counters", "-q", "-o", file, "run", S.helper("pingpong"), "2000", "0.3" }
    assert.equal(0, r.code, r.err)
    local recs = S.records(S.slurp(file))
    local why = no_counters(recs[1])
    if why then
      os.remove(file)
      return pending(why)
    end
    local js = S.denet { "stats", "--json", file }
    local txt = S.denet { "stats", file }
    local hfile = S.tmpname(".html")
    local html = S.denet { "report", "-o", hfile, file }
    html.out = S.slurp(hfile) or ""
    os.remove(hfile)
    os.remove(file)
    assert.equal(0, html.code, html.err)
    assert.truthy(html.out:find('<table class="kv counters"><caption>Perf counters of the run</caption>', 1, true))
    assert.truthy(html.out:find(('<tr data-field="counters.context_switches"><th>context switches</th><td>%s</td>')
      :format(require("denet.report").fmt_num(recs[#recs].counters.context_switches)), 1, true), html.out)
    assert.equal(0, js.code, js.err)
    local e = recs[#recs]
    assert.same(e.counters, json.decode(js.out).exit.counters)
    assert.truthy(txt.out:find(("counters%%s+context_switches %d, cpu_migrations %d, page_faults %d, "
      .. "task_clock_ns %d\n"):format(e.counters.context_switches, e.counters.cpu_migrations,
      e.counters.page_faults, e.counters.task_clock_ns)), txt.out)
  end)

  it("without privileges (perf_event_paranoid >= 2): the reason, one warning, the run goes on", function()
    if not S.is_root() then return pending("needs root to drop it") end
    local level = tonumber((S.slurp("/proc/sys/kernel/perf_event_paranoid") or ""):match("%-?%d+"))
    if not level or level < 2 then
      return pending("kernel.perf_event_paranoid is " .. tostring(level) .. ": users may count")
    end
    local bin, remove = S.denet_for_nobody()
    local r = S.sh(("cd / && setpriv --reuid=nobody --regid=nogroup --clear-groups %s --counters "
      .. "-q -o - run sleep 0.2"):format(S.q(bin)))
    remove()
    assert.equal(0, r.code, r.err)
    -- one warning, naming the reason the capability gives
    assert.equal(1, S.count(r.err, "denet: %-%-counters: perf_event_open%(context_switches%): "
      .. "Permission denied %(kernel.perf_event_paranoid=" .. level), r.err)
    local recs = S.records(r.out)
    local caps = recs[1].capabilities
    assert.is_false(caps.counters.ok)
    assert.equal("perf_event_open(context_switches): Permission denied (kernel.perf_event_paranoid="
      .. level .. ": needs root, CAP_PERFMON, or paranoid <= 1)", caps.counters.reason)
    assert.same({ ok = false, reason = "no software counters either" }, caps.hw_counters)
    assert.is_nil(recs[#recs].counters)
  end)

  it("writes nothing of it without the option", function()
    local r = S.denet { "-q", "-o", "-", "run", S.helper("pingpong"), "100" }
    assert.equal(0, r.code, r.err)
    assert.falsy(r.out:find("\"counters\"", 1, true), r.out)
    assert.falsy(r.out:find("\"hw_counters\"", 1, true), r.out)
  end)

  it("is for run: attached, the capability says why and no record has them", function()
    local pid = S.capture("sleep 5 >/dev/null 2>&1 & echo $!"):match("%d+")
    local r = S.denet { "--counters", "-q", "-o", "-", "-d", "0.3", "attach", pid }
    os.execute("kill " .. pid .. " 2>/dev/null")
    assert.equal(0, r.code, r.err)
    local recs = S.records(r.out)
    local c = recs[1].capabilities.counters
    assert.is_false(c.ok)
    assert.truthy(c.reason:find("attached", 1, true), c.reason)
    assert.truthy(r.err:find("--counters: counters are for `denet run`", 1, true), r.err)
    for i = 2, #recs do
      assert.is_nil(recs[i].counters)
      assert.is_nil(recs[i].aggregated and recs[i].aggregated.counters)
    end
  end)

  it("in Lua: denet.run{counters = true} gives totals.counters", function()
    local out = S.tmpname(".jsonl")
    local p = assert(denet.run { S.helper("pingpong"), "20000", "0.2", counters = true,
      out = out, interval = 50, max_interval = 50 })
    local seen = {}
    p:on("sample", function(rec) seen[#seen + 1] = rec.aggregated.counters end)
    local status, totals = p:wait()
    local recs = S.records(S.slurp(out))
    os.remove(out)
    assert.equal(0, status)
    local why = no_counters(recs[1])
    if why then return pending(why) end
    assert.same(totals.counters, recs[#recs].counters) -- the exit record's
    -- a sample hook's record has the line's window, as every other field
    local trees = S.of_kind(recs, "tree")
    assert.equal(#trees, #seen)
    for i, r in ipairs(trees) do assert.same(r.aggregated.counters, seen[i]) end
    assert.is_true(totals.counters.context_switches >= 40000,
      "context switches: " .. tostring(totals.counters.context_switches))
    assert.is_true(totals.counters.task_clock_ns > 0)
    assert.has_error(function() denet.attach(1, { counters = true }) end,
      "denet.attach: unknown option 'counters'")
  end)

  it("in Lua: a finished run holds no perf fds while its p is kept", function()
    -- a script running command after command: the counters close with
    -- the exit record, not when the script drops p
    local function perf_fds()
      -- this process (io.open is in-process; a popen'ed shell is not)
      local pid = S.slurp("/proc/self/stat"):match("^(%d+)")
      return S.count(S.sh("ls -l /proc/" .. pid .. "/fd").out, "perf_event")
    end
    local kept = {}
    local p
    for i = 1, 3 do
      p = assert(denet.run { "true", counters = true, interval = 50 })
      p:wait()
      kept[i] = p
    end
    assert.equal(3, #kept)
    assert.equal(0, perf_fds())
  end)
end)
