-- cli_metrics_spec.lua — end-to-end specs of the figures the real denet
-- binary reports: CPU of a busy loop and of a multi-threaded process, the
-- process tree (children, grandchildren, orphans) and its aggregation,
-- memory and disk I/O. They run the helpers in tests/helpers (built into
-- build/helpers) under `denet --json run`. The machine may have only 2
-- cores and be shared, so CPU levels are checked on the median sample.

local S = require "support"

-- Runs denet --json run on the words; returns the result and its records.
local function run_json(words, extra)
  local args = { "--json" }
  for _, w in ipairs(extra or {}) do args[#args + 1] = w end
  args[#args + 1] = "run"
  for _, w in ipairs(words) do args[#args + 1] = w end
  local r = S.denet(args)
  return r, S.records(r.out)
end

-- Aggregate CPU of the tree records after the first one.
local function cpu_after_first(trees)
  local xs = {}
  for i = 2, #trees do xs[#xs + 1] = trees[i].aggregated.cpu_usage end
  return xs
end

local function has_pid(children, pid)
  for _, c in ipairs(children) do
    if c.pid == pid then return true end
  end
  return false
end

describe("denet run (metrics)", function()
  it("reads a one-thread busy loop as 100 % CPU (median after the first sample)", function()
    local r, recs = run_json({ S.helper("busy"), "3" })
    assert.are.equal(0, r.code, r.err)
    local trees = S.of_kind(recs, "tree")
    assert.is_true(#trees >= 6, "too few samples: " .. #trees)
    local ex = S.of_kind(recs, "exit")[1]
    assert.are.equal(0, ex.exit_code)
    -- The share of a core the loop really had, from the kernel's exact
    -- CPU time: ~100 % on a quiet machine, less on a loaded one (where a
    -- reading of 100 % would be wrong). The samples must read that.
    local share = 100 * ex.totals.cpu_secs / ex.duration_secs
    assert.is_true(share <= 105, ("exact share %.1f %% of one core for one thread"):format(share))
    local xs = cpu_after_first(trees)
    local m = S.median(xs)
    assert.is_true(math.abs(m - share) <= 15,
      ("median CPU %.2f not in %.1f ± 15 %% (the exact share)"):format(m, share))
    local inband = 0
    for _, x in ipairs(xs) do
      if math.abs(x - share) <= 15 then inband = inband + 1 end
    end
    assert.is_true(inband * 2 >= #xs, ("only %d of %d samples in %.1f ± 15 %%: %s")
      :format(inband, #xs, share, table.concat(xs, " ")))
    for _, t in ipairs(trees) do
      assert.are.equal(1, t.aggregated.process_count)
      assert.are.equal(0, #t.children)
    end
    -- the sampled CPU time adds up to the kernel's figure
    assert.is_true(math.abs(ex.sampled.cpu_secs - ex.totals.cpu_secs) <= 0.1 * ex.totals.cpu_secs,
      ("sampled %.3f vs exact %.3f cpu_secs"):format(ex.sampled.cpu_secs, ex.totals.cpu_secs))
  end)

  it("reads 4 busy threads as several cores, with threads and no children", function()
    local r, recs = run_json({ S.helper("busy"), "1.5", "4" })
    assert.are.equal(0, r.code, r.err)
    local trees = S.of_kind(recs, "tree")
    assert.is_true(#trees >= 5, "too few samples: " .. #trees)
    local xs = cpu_after_first(trees)
    local m = S.median(xs)
    -- 4 threads on this machine's cores: what the kernel says they had
    -- (~200 % on 2 quiet cores, less under load), at most what the
    -- cores can give (nproc × 100, with 10 % jitter)
    local ex = S.of_kind(recs, "exit")[1]
    local share = 100 * ex.totals.cpu_secs / ex.duration_secs
    local cores = tonumber(io.popen("nproc"):read("l"))
    assert.is_true(m >= share * 0.8,
      ("median CPU %.2f, exact share %.1f: %s"):format(m, share, table.concat(xs, " ")))
    assert.is_true(m <= math.min(4, cores) * 110, ("median CPU %.2f above the cores"):format(m))
    if share >= 0.9 * math.min(4, cores) * 100 then -- a quiet machine: several cores
      assert.is_true(m >= math.min(150, cores * 100 * 0.75), ("median CPU %.2f"):format(m))
    end
    local maxthreads = 0
    for _, t in ipairs(trees) do
      assert.are.equal(0, #t.children)
      assert.are.equal(1, t.aggregated.process_count)
      maxthreads = math.max(maxthreads, t.aggregated.thread_count)
    end
    assert.is_true(maxthreads >= 5, "thread_count " .. maxthreads)
  end)

  it("aggregates a parent and its 3 busy children", function()
    local r, recs = run_json({ S.helper("spawner"), "3", "1.5" })
    assert.are.equal(0, r.code, r.err)
    local kids = {}
    for pid in r.err:gmatch("child=(%d+)") do kids[#kids + 1] = tonumber(pid) end
    assert.are.equal(3, #kids, r.err)
    local trees = S.of_kind(recs, "tree")
    assert.is_true(#trees >= 5, "too few samples: " .. #trees)
    assert.are.equal(4, S.max_agg(recs, "process_count"))
    local full, cpu = 0, {}
    for _, t in ipairs(trees) do
      -- the aggregate also counts processes that ended inside the
      -- window (cpu_usage_exited), which no longer have a row
      local sum = t.parent.cpu_usage + t.aggregated.cpu_usage_exited
      for _, c in ipairs(t.children) do sum = sum + c.metrics.cpu_usage end
      assert.is_true(math.abs(t.aggregated.cpu_usage - sum) <= 0.1,
        ("ts %d: aggregated %.2f ~= parent+children+exited %.2f"):format(t.ts_ms, t.aggregated.cpu_usage, sum))
      assert.are.equal(1 + #t.children, t.aggregated.process_count)
      if t.aggregated.process_count == 4 then
        full = full + 1
        for _, k in ipairs(kids) do assert.is_true(has_pid(t.children, k), "child " .. k .. " missing") end
        cpu[#cpu + 1] = t.aggregated.cpu_usage
      end
    end
    assert.is_true(full >= 4, "records with all 4 processes: " .. full)
    -- While all 3 spin, the tree uses at least its average share over
    -- the whole run (exact, from the kernel; start and end spin less);
    -- on a quiet machine with 2+ cores that is more than one core.
    local ex = S.of_kind(recs, "exit")[1]
    local share = 100 * ex.totals.cpu_secs / ex.duration_secs
    assert.is_true(S.median(cpu) >= 0.9 * share,
      ("median aggregate CPU %.2f, exact share %.1f"):format(S.median(cpu), share))
    if share >= 100 then -- more than a core on average: so while all spin
      assert.is_true(S.median(cpu) >= 90, "median aggregate CPU " .. S.median(cpu))
    end
    -- the sampled CPU time adds up to the kernel's figure for the tree
    assert.is_true(math.abs(ex.sampled.cpu_secs - ex.totals.cpu_secs) <= 0.25 * ex.totals.cpu_secs,
      ("sampled %.3f vs exact %.3f cpu_secs"):format(ex.sampled.cpu_secs, ex.totals.cpu_secs))
  end)

  it("counts grandchildren", function()
    local r, recs = run_json({ S.helper("spawner"), "2", "1" , "grand" })
    assert.are.equal(0, r.code, r.err)
    local kids = {}
    for pid in r.err:gmatch("child=(%d+)") do kids[tonumber(pid)] = true end
    assert.are.equal(5, S.max_agg(recs, "process_count"))
    local seen_grand = false
    for _, t in ipairs(S.of_kind(recs, "tree")) do
      assert.are.equal(1 + #t.children, t.aggregated.process_count)
      for _, c in ipairs(t.children) do
        if not kids[c.pid] then seen_grand = true end
      end
    end
    assert.is_true(seen_grand, "no grandchild among the children")
  end)

  it("still counts a grandchild whose parent exited", function()
    local r, recs = run_json({ S.helper("spawner"), "1", "1.5", "orphan" })
    assert.are.equal(0, r.code, r.err)
    local mid, grand = r.err:match("middle=(%d+) grandchild=(%d+)")
    assert.is_truthy(mid, r.err)
    mid, grand = tonumber(mid), tonumber(grand)
    local before, after = 0, 0
    for _, t in ipairs(S.of_kind(recs, "tree")) do
      if has_pid(t.children, mid) and has_pid(t.children, grand) then
        before = before + 1
        assert.are.equal(3, t.aggregated.process_count)
      elseif has_pid(t.children, grand) then
        after = after + 1
        assert.are.equal(2, t.aggregated.process_count)
      end
    end
    assert.is_true(before >= 1, "never saw the middle child with the grandchild")
    assert.is_true(after >= 3, "grandchild counted in only " .. after .. " records after its parent exited")
  end)

  it("reads 200 MiB allocated and touched as >= 190 MiB RSS at peak", function()
    local r, recs = run_json({ S.helper("memhog"), "200", "0.6" })
    assert.are.equal(0, r.code, r.err)
    local peak = S.max_agg(recs, "mem_rss_kb")
    assert.is_true(peak >= 194560, "peak mem_rss_kb " .. tostring(peak))
    assert.is_true(peak <= 260 * 1024, "peak mem_rss_kb " .. tostring(peak) .. " far above 200 MiB")
    local ex = S.of_kind(recs, "exit")[1]
    assert.is_true(ex.totals.mem_peak_kb >= 194560, "totals.mem_peak_kb " .. tostring(ex.totals.mem_peak_kb))
  end)

  it("reads 1 MiB written by dd in the last tree record", function()
    local tmp = S.tmpname(".dd")
    -- the shell outlives dd (a command that exits before the first
    -- sample has no tree record: its end is the exit record), and
    -- once it has waited for dd its counters hold dd's I/O
    local r, recs = run_json({ "sh", "-c", '"$@"; sleep 0.3', "sh",
      "dd", "if=/dev/zero", "of=" .. tmp, "bs=64k", "count=16", "conv=fsync" })
    os.remove(tmp)
    assert.are.equal(0, r.code, r.err)
    local trees = S.of_kind(recs, "tree")
    assert.is_true(#trees >= 1, "no tree record")
    local last = trees[#trees].aggregated
    assert.is_true(last.disk_write_bytes >= 1048576 or last.syscall_write_bytes >= 1048576,
      ("disk_write_bytes %d, syscall_write_bytes %d"):format(last.disk_write_bytes, last.syscall_write_bytes))
    assert.is_true(last.syscall_write_bytes >= 1048576, "syscall_write_bytes " .. last.syscall_write_bytes)
  end)
end)
