-- membership_spec.lua — the process tree from the kernel (issue 13): every
-- process the run starts is counted exactly (the proc connector's fork
-- events: `totals.processes`, `processes_source`, `threads`, and
-- `processes_started` per window), with and without the run's cgroup;
-- a double-forked daemon is followed; an attached tree's grandchild whose
-- parent exited stays in the tree; the tree is signalled by checked pidfd.

local S = require "support"

local function exit_of(text)
  local recs = S.records(text)
  local e = recs[#recs]
  assert.equal("exit", e.kind, text)
  return e, recs
end

local function started_sum(recs)
  local n = 0
  for _, r in ipairs(S.of_kind(recs, "tree")) do
    n = n + r.aggregated.processes_started
  end
  return n
end

-- N runs of /bin/true from one shell: N + 1 processes (no other command).
local function loop_of_true(n)
  return ("i=0; while [ $i -lt %d ]; do /bin/true; i=$((i+1)); done"):format(n)
end

describe("exact process counts from fork events", function()
  it("500 short-lived children count 501 with the run's cgroup", function()
    local r = S.denet { "--json", "run", "sh", "-c", loop_of_true(500) }
    assert.equal(0, r.code, r.err)
    local e, recs = exit_of(r.out)
    assert.equal(501, e.totals.processes)
    assert.equal("proc_connector", e.totals.processes_source)
    assert.equal(501, e.totals.threads)
    -- the samples saw a handful: the count is not theirs
    local most = 0
    for _, t in ipairs(S.of_kind(recs, "tree")) do
      most = math.max(most, t.aggregated.process_count)
    end
    assert.is_true(most < 50, "max process_count " .. most)
  end)

  it("500 short-lived children count 501 without a cgroup", function()
    local r = S.denet { "--json", "--no-cgroup", "run", "sh", "-c", loop_of_true(500) }
    assert.equal(0, r.code, r.err)
    local e = exit_of(r.out)
    assert.equal(501, e.totals.processes)
    assert.equal("proc_connector", e.totals.processes_source)
  end)

  it("a fork storm is counted exactly", function()
    local n = S.valgrind and 300 or 5000
    for _, cg in ipairs { {}, { "--no-cgroup" } } do
      local args = { "--json" }
      for _, a in ipairs(cg) do args[#args + 1] = a end
      for _, a in ipairs { "run", S.helper("forkstorm"), tostring(n) } do args[#args + 1] = a end
      local r = S.denet(args)
      assert.equal(0, r.code, r.err)
      local e = exit_of(r.out)
      assert.equal(n + 1, e.totals.processes, table.concat(cg, " "))
      assert.equal("proc_connector", e.totals.processes_source)
    end
  end)

  it("processes_started sums, window by window, to the exit record's count", function()
    -- children between samples (interval 200 ms) and after the first
    local r = S.denet { "--json", "-i", "200", "-m", "200", "run", "sh", "-c",
      "sleep 0.3; " .. loop_of_true(20) .. "; sleep 0.5" }
    assert.equal(0, r.code, r.err)
    local e, recs = exit_of(r.out)
    assert.equal(23, e.totals.processes) -- sh, 2 sleeps, 20 trues
    local first = S.of_kind(recs, "tree")[1]
    assert.is_true(first.aggregated.processes_started >= 2, "the command and its first sleep")
    -- the last window's forks may fall after the last record
    local sum = started_sum(recs)
    assert.is_true(sum >= 22 and sum <= 23, "sum " .. sum)
    -- the trues (from 300 ms on, ~1 ms each, too short for most samples
    -- to see) in the windows they ran in
    local later = sum - first.aggregated.processes_started
    assert.is_true(later >= 20, "started after the first window: " .. later)
  end)

  it("the sampled CPU of a tree that keeps forking is the cgroup's, not 3 times it", function()
    -- each window has ~30 children born in it; the aggregate once summed
    -- their rates over their own short lives as if over the whole window
    local r = S.denet { "--json", "-i", "1000", "-m", "1000", "run", "sh", "-c",
      "i=0; while [ $i -lt 60 ]; do (sleep 0.5) & sleep 0.03; i=$((i+1)); done; wait" }
    assert.equal(0, r.code, r.err)
    local e = exit_of(r.out)
    assert.is_truthy(e.totals.source:match("^cgroup"), "needs the run's cgroup: " .. e.totals.source)
    local exact, sampled = e.totals.cpu_secs, e.sampled.cpu_secs
    assert.is_true(math.abs(sampled - exact) <= 0.15 * exact + 0.03,
      ("sampled %.3f s, exact %.3f s"):format(sampled, exact))
  end)

  it("a fork that exits between two samples is counted, and its reap reaches Lua", function()
    local script = S.tmpfile([[
local denet = require "denet"
local reaped, spawned = {}, {}
local p = denet.run({ "sh", "-c", "sleep 0.2; /bin/sleep 0.05; sleep 1.2" },
                    { interval = 1000, max_interval = 1000 })
p:on("spawn", function(c) spawned[c.pid] = c.command end)
p:on("reap", function(g)
  -- every reap follows its spawn
  reaped[#reaped + 1] = (spawned[g.pid] == g.command and "" or "unborn:") .. g.command
end)
local _, totals = p:wait()
print(totals.processes, totals.processes_source, table.concat(reaped, ","))
]], ".lua")
    local r = S.denet { script }
    assert.equal(0, r.code, r.err)
    local n, src, reaped = r.out:match("^(%d+)\t(%S+)\t(.*)\n")
    assert.equal("4", n, r.out)
    assert.equal("proc_connector", src)
    -- `/bin/sleep 0.05` lived between two 1 s samples: the fork event
    -- opened it, its exec event named it, its spawn and reap are reported
    assert.is_truthy(reaped:match("/bin/sleep 0%.05"), "reaped: " .. reaped)
    assert.is_falsy(reaped:match("unborn"), "reaped: " .. reaped)
  end)

  it("a double-forked daemon is followed and counted (--wait-all)", function()
    for _, cg in ipairs { {}, { "--no-cgroup" } } do
      local args = { "--json", "-i", "50", "--wait-all" }
      for _, a in ipairs(cg) do args[#args + 1] = a end
      for _, a in ipairs { "run", S.helper("forkstorm"), "3", "-d", "400" } do
        args[#args + 1] = a
      end
      local r = S.denet(args)
      assert.equal(0, r.code, r.err)
      local e, recs = exit_of(r.out)
      assert.equal(7, e.totals.processes, table.concat(cg, " ")) -- root, 3 + 3 daemons
      assert.is_nil(e.survivors)
      -- after the root's exit, the daemons were sampled
      local last = S.of_kind(recs, "tree")
      last = last[#last]
      assert.is_true(#last.children + 1 >= 1)
      assert.is_true(e.duration_secs >= 0.35, "waited for the daemons: " .. e.duration_secs)
    end
  end)

  it("attached: a grandchild whose parent exited stays in the tree", function()
    -- The shell double-forks a sleeper, which is reparented away from the
    -- tree (to init, or the suite's subreaper): a children walk from the
    -- shell can no longer find it; the fork events do.
    local pidfile = S.tmpname(".pid")
    local h = io.popen(("sh -c 'echo $$ > %s; exec sh -c \"sleep 0.4; (sleep 1.6 &); sleep 1.2\"'")
      :format(pidfile), "r")
    local pid
    for _ = 1, 100 do
      pid = tonumber(S.slurp(pidfile) or "")
      if pid then break end
      S.sh("sleep 0.02")
    end
    assert.is_number(pid)
    local r = S.denet { "--json", "-i", "100", "attach", tostring(pid) }
    h:close()
    os.remove(pidfile)
    assert.equal(0, r.code, r.err)
    local e, recs = exit_of(r.out)
    local orphan_seen = false
    for _, t in ipairs(S.of_kind(recs, "tree")) do
      for _, c in ipairs(t.children) do
        if c.command == "sleep 1.6" and c.ppid ~= pid then orphan_seen = true end
      end
    end
    assert.is_true(orphan_seen, "the reparented sleep 1.6 was not sampled")
    -- attach: sh's own 3 forks (sleep, subshell, sleep) and the sleep the
    -- subshell made; the shell itself was there before
    assert.equal("proc_connector", e.totals and e.totals.processes_source or "proc_connector")
    assert.is_true(started_sum(recs) >= 3, "started: " .. started_sum(recs))
    S.sh("pkill -f '^sleep 1.6$' 2>/dev/null")
  end)
end)

describe("without fork events (--no-fork-events)", function()
  it("says so in the capabilities and counts what the samples saw", function()
    local r = S.denet { "--json", "--no-fork-events", "run", "sh", "-c", loop_of_true(50) }
    assert.equal(0, r.code, r.err)
    local e, recs = exit_of(r.out)
    assert.same({ ok = false, reason = "disabled" }, recs[1].capabilities.fork_events)
    assert.equal("sampled", e.totals.processes_source)
    assert.is_nil(e.totals.threads)
    assert.is_true(e.totals.processes >= 1 and e.totals.processes <= 51, e.totals.processes)
  end)

  it("in a child pid namespace: none (the kernel would not serve them), the children walk finds the tree", function()
    if not S.is_root() then pending("unshare needs root") return end
    local r = S.sh(("unshare -pf --mount-proc %s --json --no-cgroup run sh -c %s"):format(
      S.q(S.bin), S.q("sleep 0.4 & sleep 0.4 & /bin/true; wait")))
    assert.equal(0, r.code, r.err)
    local e, recs = exit_of(r.out)
    assert.is_false(recs[1].capabilities.fork_events.ok)
    assert.is_truthy(recs[1].capabilities.fork_events.reason:match("pid namespace"))
    assert.equal("sampled", e.totals.processes_source)
    assert.equal(3, S.max_agg(recs, "process_count"), "sh and its two sleeps")
  end)

  it("denet.features.fork_events says whether a run will have them, and why not", function()
    local script = S.tmpfile([[
local denet = require "denet"
print(denet.features.fork_events, denet.features.reason.fork_events)
]], ".lua")
    local r = S.denet { script }
    assert.equal(0, r.code, r.err)
    assert.equal("true\tnil\n", r.out)
    if not S.is_root() then return end
    r = S.sh(("unshare -pf --mount-proc %s %s"):format(S.q(S.bin), S.q(script)))
    assert.equal(0, r.code, r.err)
    assert.equal("false\ta child pid namespace (the proc connector serves the initial one only)\n", r.out)
  end)

  it("is on by default", function()
    local r = S.denet { "--json", "run", "true" }
    local _, recs = exit_of(r.out)
    assert.same({ ok = true }, recs[1].capabilities.fork_events)
  end)

  -- The other sources of members: the run's cgroup.procs, and the
  -- children files (with denet as subreaper, an orphan comes to denet).
  for _, cg in ipairs { {}, { "--no-cgroup" } } do
    it("a double-forked daemon is still followed " .. (cg[1] or "with the cgroup"), function()
      local args = { "--json", "-i", "50", "--wait-all", "--no-fork-events" }
      for _, a in ipairs(cg) do args[#args + 1] = a end
      for _, a in ipairs { "run", S.helper("forkstorm"), "2", "-d", "500" } do
        args[#args + 1] = a
      end
      local r = S.denet(args)
      assert.equal(0, r.code, r.err)
      local e, recs = exit_of(r.out)
      assert.is_nil(e.survivors)
      local daemons = 0
      for _, t in ipairs(S.of_kind(recs, "tree")) do
        local n = 0
        for _, c in ipairs(t.children) do
          if c.command:match("forkstorm") then n = n + 1 end
        end
        daemons = math.max(daemons, n)
      end
      assert.equal(2, daemons, "the 2 daemons in one sample")
      assert.is_true(e.duration_secs >= 0.45, "waited for the daemons: " .. e.duration_secs)
    end)
  end
end)

describe("signals reach the run, never a stranger", function()
  it("--timeout ends a tree whose members ignore SIGTERM and keep forking", function()
    -- every member ignores TERM; the grace ends in SIGKILL through the
    -- cgroup and checked pidfds, children forked after the last sample too
    local r = S.denet { "--json", "-i", "1000", "--timeout", "0.5",
      "run", "sh", "-c", "trap '' TERM; while :; do sh -c \"trap '' TERM; sleep 30\" & sleep 0.05; done" }
    local e = exit_of(r.out)
    assert.equal(124, r.code, r.err)
    assert.equal(9, e.signal)
    assert.is_nil(e.survivors)
    assert.equal("", S.capture("pgrep -f \"[t]rap '' TERM; sleep 30\" || true"))
  end)

  it("p:signal counts the processes it reached", function()
    local script = S.tmpfile([[
local denet = require "denet"
local p = denet.run({ "sh", "-c", "sleep 5 & sleep 5 & wait" }, { interval = 50 })
denet.after(300, function() print("sent", p:signal("TERM")) end)
p:wait()
]], ".lua")
    local r = S.denet { script }
    assert.equal(0, r.code, r.err)
    assert.equal("sent\t3\n", r.out)
  end)
end)
