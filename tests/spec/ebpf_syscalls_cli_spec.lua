-- ebpf_syscalls_cli_spec.lua — the eBPF syscall tracker through the CLI
-- (--enable-ebpf, --no-offcpu, --no-syscalls) on the real kernel, with
-- tests/helpers/sysmix: exactly 10 000 getppid, 1 000 fsync (after as many
-- one-byte writes), 100 failing open()s and one nanosleep of SLEEP_MS, and
-- with --children N, N children making 100 getppid each.
-- Needs root (CI runs as root); otherwise pending with the reason.
local S = require "support"

local CATEGORIES = { "file_io", "memory", "process", "network", "time", "ipc", "security", "signal",
  "system", "other" }

-- denet --enable-ebpf EXTRA run sysmix --wait-stdin ARGS, released once
-- denet has started; returns the result with its records.
local function traced(extra, args)
  local out = S.tmpname(".jsonl")
  local cmd = ("{ (sleep 0.05; echo go) | %s -q -o %s --enable-ebpf %s run %s --wait-stdin %s; }"):format(
    S.q(S.bin), S.q(out), extra or "", S.q(S.helper("sysmix")), args or "")
  local r = S.sh(cmd)
  r.recs = S.records(S.slurp(out) or "")
  os.remove(out)
  assert.is_truthy(r.out:find("sysmix getppid=10000", 1, true), r.out .. r.err)
  return r
end

-- The syscalls object of the exit record (every syscall of the run).
local function final(r)
  local last = r.recs[#r.recs]
  assert.are.equal("exit", last.kind, r.err)
  assert.is_table(last.ebpf, "the exit record has no ebpf: " .. r.err)
  return last.ebpf.syscalls
end

local function find(list, name)
  for _, s in ipairs(list) do if s.name == name then return s end end
end

describe("--enable-ebpf syscall tracking", function()
  local root = S.is_root()
  local run = root and it or function(name) it(name, function() pending("eBPF needs root here") end) end

  run("counts the helper's syscalls exactly, with errors, categories and latency", function()
    local r = traced("--no-offcpu", "50")
    assert.are.equal(0, r.code, r.err)
    assert.is_true(r.recs[1].capabilities.ebpf.ok, r.err)
    local sc = final(r)
    local getppid = find(sc.top_syscalls, "getppid")
    assert.is_table(getppid, "getppid not among the top syscalls")
    assert.are.equal(10000, getppid.count)
    assert.are.equal(0, getppid.errors)
    assert.are.equal("process", getppid.category)
    local fsync = find(sc.top_syscalls, "fsync")
    assert.are.equal(1000, fsync.count)
    assert.are.equal("file_io", fsync.category)
    local open = find(sc.top_syscalls, "open")
    assert.are.equal(100, open.count)
    assert.are.equal(100, open.errors)
    -- the sleep: 50 ms lies in the log2 bucket [2^25, 2^26) ns; p50 is
    -- that bucket's bound or the max, whichever is lower
    local sleep = find(sc.top_by_time, "nanosleep")
    assert.is_table(sleep, "nanosleep not among the top by time")
    assert.are.equal(1, sleep.count)
    assert.are.equal("time", sleep.category)
    assert.is_true(sleep.max_ns >= 50e6 and sleep.max_ns < 2 ^ 26, "max " .. sleep.max_ns)
    assert.are.equal(sleep.max_ns, sleep.p50_ns)
    assert.is_true(sleep.time_ns >= 50e6)
    -- the totals hold every category, and add up
    local sum = 0
    for _, c in ipairs(CATEGORIES) do
      assert.is_number(sc.by_category[c], c)
      sum = sum + sc.by_category[c]
    end
    assert.are.equal(sc.total, sum)
    assert.is_true(sc.total >= 10000 + 2000 + 100 + 1)
    assert.is_true(sc.errors >= 100)
    assert.is_true(sc.by_category.process >= 10000)
    assert.is_true(sc.by_category.file_io >= 2100)
    -- upstream's analysis: shares of the total
    local a = sc.analysis
    assert.is_true(a.syscall_rate_per_sec > 0)
    for _, k in ipairs { "io_intensity", "memory_intensity", "cpu_intensity", "network_intensity" } do
      assert.is_true(a[k] >= 0 and a[k] <= 1, k .. " " .. tostring(a[k]))
    end
    assert.is_true(math.abs(a.io_intensity - sc.by_category.file_io / sc.total) < 1e-3)
    assert.are.equal(0, sc.lost)
    -- top lists: at most 10, by count (by time) descending
    assert.is_true(#sc.top_syscalls <= 10 and #sc.top_by_time <= 10)
    for i = 2, #sc.top_syscalls do assert.is_true(sc.top_syscalls[i - 1].count >= sc.top_syscalls[i].count) end
    for i = 2, #sc.top_by_time do assert.is_true(sc.top_by_time[i - 1].time_ns >= sc.top_by_time[i].time_ns) end
  end)

  run("tree records: cumulative totals whose differences are each window's", function()
    local r = traced("--no-offcpu -i 20", "300")
    assert.are.equal(0, r.code, r.err)
    local trees = S.of_kind(r.recs, "tree")
    assert.is_true(#trees >= 5, "tree records: " .. #trees)
    local prev = 0
    for _, t in ipairs(trees) do
      local sc = t.aggregated.ebpf.syscalls
      assert.is_nil(t.aggregated.ebpf.offcpu) -- --no-offcpu
      assert.are.equal(sc.total - prev, sc.window.total)
      assert.is_true(sc.window.secs > 0)
      prev = sc.total
    end
    -- the exit record has what the last window did not
    assert.is_true(final(r).total >= prev)
    assert.are.equal(0, #S.of_kind(r.recs, "offcpu"))
  end)

  run("counts short-lived children: 10 000 + 100 per child getppid", function()
    local r = traced("--no-offcpu", "--children 20 10")
    assert.are.equal(0, r.code, r.err)
    assert.are.equal(12000, find(final(r).top_syscalls, "getppid").count)
  end)

  run("does not count a process outside the tree", function()
    local out = S.tmpname(".jsonl")
    -- the bystander runs its 10 000 getppid while denet traces a sleep
    local r = S.sh(("%s -q --enable-ebpf --no-offcpu -o %s run sleep 0.6 & sleep 0.2; %s 1 >/dev/null; wait"):format(
      S.q(S.bin), S.q(out), S.q(S.helper("sysmix"))))
    assert.are.equal(0, r.code, r.err)
    local recs = S.records(S.slurp(out))
    os.remove(out)
    local sc = recs[#recs].ebpf.syscalls
    assert.is_nil(find(sc.top_syscalls, "getppid"))
    assert.is_true(sc.total < 1000, "the sleep made " .. sc.total .. " syscalls")
  end)

  run("--no-syscalls: the off-CPU profile alone", function()
    local r = traced("--no-syscalls", "10")
    assert.are.equal(0, r.code, r.err)
    local trees = S.of_kind(r.recs, "tree")
    assert.is_table(trees[#trees].aggregated.ebpf.offcpu)
    assert.is_nil(trees[#trees].aggregated.ebpf.syscalls)
    assert.is_nil(r.recs[#r.recs].ebpf)
  end)

  run("--enable-ebpf alone: both", function()
    local r = traced("", "10")
    assert.are.equal(0, r.code, r.err)
    local trees = S.of_kind(r.recs, "tree")
    assert.is_table(trees[#trees].aggregated.ebpf.offcpu)
    assert.is_table(trees[#trees].aggregated.ebpf.syscalls)
    assert.are.equal(10000, find(final(r).top_syscalls, "getppid").count)
  end)

  run("the example of docs/cli.md runs, and stats shows the helper's 10 000 getppid", function()
    local text = assert(S.slurp(S.root .. "/docs/cli.md"))
    local block = text:match("\n```\n(%$ sudo denet %-q %-%-enable%-ebpf %-%-no%-offcpu[^`]-)```")
    assert.is_string(block, "the example is gone from docs/cli.md")
    local dir = S.tmpname("-cli-example")
    assert.is_true(os.execute("mkdir -p " .. S.q(dir)))
    local outputs = {}
    for line in block:gmatch("%$ ([^\n]+)") do
      -- the command as a user types it, with this build's paths
      local cmd = line:gsub("^sudo ", ""):gsub("^denet ", S.q(S.bin) .. " ")
        :gsub("build/helpers/", S.q(S.helpers) .. "/")
      local r = S.sh("cd " .. S.q(dir) .. " && " .. cmd)
      assert.are.equal(0, r.code, line .. "\n" .. r.err)
      outputs[#outputs + 1] = r.out
    end
    os.execute("rm -rf " .. S.q(dir))
    assert.are.equal(2, #outputs)
    assert.is_truthy(outputs[2]:find("getppid%s+process%s+10000%s+0%s"), outputs[2])
    assert.is_truthy(outputs[2]:find("fsync%s+file_io%s+1000%s+0%s"), outputs[2])
    assert.is_truthy(outputs[2]:find("open%s+file_io%s+100%s+100%s"), outputs[2])
  end)

  run("without privileges: one warning naming syscall tracking, the run goes on", function()
    local bin, remove = S.denet_for_nobody()
    local r = S.sh(("cd / && setpriv --reuid=nobody --regid=nogroup --clear-groups %s --json --enable-ebpf --no-offcpu run sleep 0.3"):format(S.q(bin)))
    remove()
    assert.are.equal(0, r.code, r.err)
    assert.are.equal(1, S.count(r.err, "denet: eBPF unavailable %(syscall tracking%): [^\n]*root"), r.err)
    local recs = S.records(r.out)
    assert.is_false(recs[1].capabilities.ebpf.ok)
    for _, t in ipairs(S.of_kind(recs, "tree")) do assert.is_nil(t.aggregated.ebpf) end
    assert.are.equal("exit", recs[#recs].kind)
    assert.is_nil(recs[#recs].ebpf)
  end)
end)

describe("--no-offcpu / --no-syscalls misuse", function()
  for _, case in ipairs {
    { "--no-offcpu run true", "%-%-no%-offcpu chooses what %-%-enable%-ebpf traces" },
    { "--no-syscalls run true", "%-%-no%-syscalls chooses what %-%-enable%-ebpf traces" },
    { "--enable-ebpf --no-offcpu --no-syscalls run true", "nothing to trace" },
    { "--no-offcpu --offcpu-out /dev/null run true", "drop %-%-no%-offcpu" },
  } do
    it("denet " .. case[1] .. ": one line, exit 2", function()
      local r = S.sh(S.q(S.bin) .. " " .. case[1])
      assert.are.equal(2, r.code)
      assert.are.equal(1, S.count(r.err, case[2]), r.err)
    end)
  end
end)
