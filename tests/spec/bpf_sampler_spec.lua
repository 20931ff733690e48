-- bpf_sampler_spec.lua — the BPF task-iterator sampler (issue 14): a run
-- read through the iterator writes the same records as one read from
-- /proc (a still tree whose every counter is set: tests/helpers/iomix);
-- the `bpf_sampler` capability says whether it could load and why not;
-- --sampler chooses, and asking for `bpf` where it cannot load is a
-- one-line error before anything starts.

local S = require "support"

-- The still tree: its root's pid once every process sleeps.
local function start_iomix()
  local p = assert(io.popen("exec " .. S.q(S.helper("iomix")) .. " /tmp 3"))
  local pid = tonumber(p:read("l"):match("^ready (%d+)$"))
  os.execute("sleep 0.3") -- the last ones reach pause()
  return pid, p
end

local function stop_iomix(pid, p)
  os.execute("kill " .. pid)
  p:close()
end

local function last_tree(text)
  local trees = S.of_kind(S.records(text), "tree")
  return trees[#trees]
end

local exact = {
  "mem_rss_kb", "mem_vms_kb", "disk_read_bytes", "disk_write_bytes", "syscall_read_bytes",
  "syscall_write_bytes", "page_faults_cached", "page_faults_disk", "thread_count",
}

local function sampled(pid, mode)
  local r = S.denet { "--json", "-i", "100", "-d", "0.5", "--since-process-start",
    "--sampler", mode, "attach", tostring(pid) }
  assert.equal(0, r.code, r.err)
  return last_tree(r.out), S.records(r.out)[1]
end

describe("the BPF task-iterator sampler", function()
  it("writes the same tree records as /proc", function()
    if not S.is_root() then return pending("eBPF needs root") end
    local pid, p = start_iomix()
    local via_bpf, meta_bpf = sampled(pid, "bpf")
    local via_proc, meta_proc = sampled(pid, "proc")
    stop_iomix(pid, p)
    assert.same({ ok = true }, meta_bpf.capabilities.bpf_sampler)
    assert.same({ ok = false, reason = "disabled" }, meta_proc.capabilities.bpf_sampler)
    assert.equal(3 + 1, #via_bpf.children) -- 3 children and a grandchild
    assert.equal(#via_proc.children, #via_bpf.children)
    local by_pid = {}
    for _, c in ipairs(via_proc.children) do by_pid[c.pid] = c end
    local rows = { { via_bpf.parent, via_proc.parent } }
    for _, c in ipairs(via_bpf.children) do
      local o = by_pid[c.pid]
      assert.is_table(o, "pid " .. c.pid .. " only through the iterator")
      assert.equal(o.ppid, c.ppid)
      assert.equal(o.command, c.command)
      rows[#rows + 1] = { c.metrics, o.metrics }
    end
    for _, row in ipairs(rows) do
      local b, o = row[1], row[2]
      for _, k in ipairs(exact) do assert.equal(o[k], b[k], k) end
      assert.is_true(b.disk_write_bytes >= 256 * 1024) -- fsync'd: not a zero compared to a zero
      assert.is_true(b.mem_rss_kb >= 8 * 1024)
      assert.equal(2, b.thread_count)
      -- three threads spun 30 ms each. /proc gives utime and stime each
      -- rounded down to a tick (10 ms), the iterator the exact sum: /proc
      -- is below it by less than two ticks, never above
      assert.is_true(b.cpu_secs >= 0.09, "cpu_secs " .. b.cpu_secs)
      assert.is_true(o.cpu_secs <= b.cpu_secs + 0.0005 and b.cpu_secs - o.cpu_secs < 0.02,
        b.cpu_secs .. " vs " .. o.cpu_secs)
    end
    for _, k in ipairs(exact) do
      assert.equal(via_proc.aggregated[k], via_bpf.aggregated[k], k)
    end
  end)

  it("counts a fork storm the same through the iterator", function()
    if not S.is_root() then return pending("eBPF needs root") end
    local r = S.denet { "--json", "-i", "20", "--sampler", "bpf", "run", "sh", "-c",
      "i=0; while [ $i -lt 300 ]; do /bin/true; i=$((i+1)); done; sleep 0.2" }
    assert.equal(0, r.code, r.err)
    local recs = S.records(r.out)
    assert.equal(302, recs[#recs].totals.processes) -- sh, 300 true, sleep
    assert.same({ ok = true }, recs[1].capabilities.bpf_sampler)
  end)

  it("--no-bpf-sampler and --sampler proc read /proc", function()
    for _, opt in ipairs { { "--no-bpf-sampler" }, { "--sampler", "proc" } } do
      local args = { "--json" }
      for _, a in ipairs(opt) do args[#args + 1] = a end
      args[#args + 1] = "run"
      args[#args + 1] = "true"
      local r = S.denet(args)
      assert.equal(0, r.code, r.err)
      assert.same({ ok = false, reason = "disabled" }, S.records(r.out)[1].capabilities.bpf_sampler)
    end
  end)

  it("every capability a run reports has its row in docs/data-format.md", function()
    local r = S.denet { "--json", "--enable-ebpf", "run", "true" }
    assert.equal(0, r.code, r.err)
    local doc = assert(S.slurp(S.root .. "/docs/data-format.md"))
    local n = 0
    for name in pairs(S.records(r.out)[1].capabilities) do
      n = n + 1
      assert.truthy(doc:find("\n| `" .. name .. "` |", 1, true), name .. " has no row")
    end
    assert.equal(8, n) -- schedstat io exit_status cgroup fork_events bpf_sampler ebpf gpu
  end)

  it("--sampler takes auto, bpf or proc only", function()
    local r = S.denet { "--sampler", "fast", "run", "true" }
    assert.equal(2, r.code)
    assert.equal("denet: --sampler takes auto, bpf or proc, not 'fast'\n", r.err:match("[^\n]*\n"))
  end)

  it("without privilege: auto reads /proc and says why, bpf is refused", function()
    if not S.is_root() then return pending("needs root to drop it") end
    local drop = "setpriv --reuid=65534 --regid=65534 --clear-groups"
    local r = S.sh(drop .. " " .. S.q(S.bin) .. " --json run true")
    assert.equal(0, r.code, r.err)
    local cap = S.records(r.out)[1].capabilities.bpf_sampler
    assert.is_false(cap.ok)
    assert.truthy(cap.reason:match("needs root, or CAP_BPF and CAP_PERFMON"), cap.reason)
    r = S.sh(drop .. " " .. S.q(S.bin) .. " --sampler bpf run true")
    assert.equal(1, r.code)
    assert.equal("", r.out)
    assert.truthy(r.err:match("^denet: %-%-sampler bpf: cannot load the task iterator program: "
      .. "Operation not permitted %(needs root, or CAP_BPF and CAP_PERFMON%)\n$"), r.err)
  end)
end)
