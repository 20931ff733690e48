-- analysis_spec.lua — busted spec of lua/denet/analysis.lua (denet.analysis):
-- summary arithmetic (upstream 0.6.1's) on hand-made records and on an
-- untagged upstream-format file, series, peaks, resample and to_csv.

local S = require "support"
local analysis = require "denet.analysis"
local read = require "denet.read"
local json = require "denet.json"

local function agg(t)
  return t
end

-- Three tree records with known aggregates (figures chosen by hand).
local function tree_records()
  return {
    { kind = "metadata", pid = 42, cmd = { "job" }, executable = "/bin/job", t0_ms = 1000 },
    { kind = "tree", ts_ms = 1000, parent = {}, children = {}, aggregated = agg {
      ts_ms = 1000, cpu_usage = 10.0, mem_rss_kb = 100, mem_vms_kb = 1000, thread_count = 2,
      process_count = 1, disk_read_bytes = 0, disk_write_bytes = 10,
      syscall_read_bytes = 5, syscall_write_bytes = 6, page_faults_cached = 50,
      page_faults_disk = 1, sys_net_rx_bytes = 100, sys_net_tx_bytes = 200 } },
    { kind = "mark", ts_ms = 1200, label = "stage 2" },
    { kind = "tree", ts_ms = 1500, parent = {}, children = {}, aggregated = agg {
      ts_ms = 1500, cpu_usage = 30.5, mem_rss_kb = 300, mem_vms_kb = 3000, thread_count = 5,
      process_count = 3, disk_read_bytes = 4096, disk_write_bytes = 20,
      syscall_read_bytes = 7, syscall_write_bytes = 8, page_faults_cached = 40,
      page_faults_disk = 3, sys_net_rx_bytes = 150, sys_net_tx_bytes = 250 } },
    { kind = "tree", ts_ms = 3250, parent = {}, children = {}, aggregated = agg {
      ts_ms = 3250, cpu_usage = 20.0, mem_rss_kb = 200, mem_vms_kb = 2000, thread_count = 4,
      process_count = 2, disk_read_bytes = 8192, disk_write_bytes = 30,
      syscall_read_bytes = 9, syscall_write_bytes = 10, page_faults_cached = 45,
      page_faults_disk = 2, sys_net_rx_bytes = 175, sys_net_tx_bytes = 300 } },
    { kind = "exit", ts_ms = 3300, pid = 42, exit_code = 137, signal = 9, duration_secs = 2.3,
      totals = { source = "rusage", cpu_secs = 0.61, mem_peak_kb = 310 } },
  }
end

describe("denet.analysis.summary", function()
  it("computes upstream's fields from tree aggregates", function()
    local s = analysis.summary(tree_records())
    assert.are.equal(2.25, s.total_time_secs)       -- (3250 - 1000) / 1000
    assert.are.equal(3, s.sample_count)
    assert.are.equal(3, s.max_processes)
    assert.are.equal(5, s.max_threads)
    -- totals: the last sample's counters
    assert.are.equal(8192, s.total_disk_read_bytes)
    assert.are.equal(30, s.total_disk_write_bytes)
    assert.are.equal(9, s.total_syscall_read_bytes)
    assert.are.equal(10, s.total_syscall_write_bytes)
    assert.are.equal(175, s.total_sys_net_rx_bytes)
    assert.are.equal(300, s.total_sys_net_tx_bytes)
    -- peaks: maxima
    assert.are.equal(50, s.peak_page_faults_cached)
    assert.are.equal(3, s.peak_page_faults_disk)
    assert.are.equal(300, s.peak_mem_rss_kb)
    -- (10 + 30.5 + 20) / 3 = 20.1666...: 2 decimals, as samples and the
    -- live summary have them
    assert.are.equal(20.17, s.avg_cpu_usage)
    assert.are.equal("float", math.type(s.avg_cpu_usage))
    assert.are.equal("integer", math.type(s.total_disk_read_bytes))
    assert.are.equal("integer", math.type(s.sample_count))
    assert.is_nil(s.skipped_lines)
  end)

  it("copies the exit record", function()
    local s = analysis.summary(tree_records())
    assert.are.same({ exit_code = 137, signal = 9, duration_secs = 2.3,
      totals = { source = "rusage", cpu_secs = 0.61, mem_peak_kb = 310 } }, s.exit)
  end)

  it("prefers tree aggregates over flat samples when both exist", function()
    local recs = tree_records()
    table.insert(recs, 2, { kind = "sample", ts_ms = 0, cpu_usage = 1000.0, mem_rss_kb = 99999 })
    local s = analysis.summary(recs)
    assert.are.equal(3, s.sample_count)
    assert.are.equal(300, s.peak_mem_rss_kb)
    assert.are.equal(2.25, s.total_time_secs)
  end)

  it("accepts an iterator function", function()
    local list = tree_records()
    local i = 0
    local s = analysis.summary(function()
      i = i + 1
      return list[i]
    end)
    assert.are.equal(3, s.sample_count)
    assert.are.equal(8192, s.total_disk_read_bytes)
  end)

  it("gives zeros without samples", function()
    local s = analysis.summary({ { kind = "metadata", pid = 1, cmd = { "x" }, t0_ms = 0 } })
    assert.are.equal(0, s.sample_count)
    assert.are.equal(0.0, s.total_time_secs)
    assert.are.equal(0.0, s.avg_cpu_usage)
    assert.are.equal(0, s.total_disk_read_bytes)
    assert.are.equal(0, s.max_processes)
  end)

  it("raises on a bad argument", function()
    assert.has_error(function() analysis.summary(nil) end)
    assert.has_error(function() analysis.summary("file.jsonl") end)
  end)

  it("reads an untagged denet 0.6.1 file of flat samples", function()
    local p = S.tmpfile(table.concat({
      '{"pid":7,"cmd":["python3","x.py"],"executable":"/usr/bin/python3","t0_ms":1700000000000}',
      '{"ts_ms":1700000000100,"cpu_usage":50.0,"mem_rss_kb":1000,"mem_vms_kb":5000,'
        .. '"disk_read_bytes":0,"disk_write_bytes":0,"syscall_read_bytes":100,'
        .. '"syscall_write_bytes":10,"page_faults_cached":7,"page_faults_disk":0,'
        .. '"sys_net_rx_bytes":11,"sys_net_tx_bytes":12,"thread_count":1,"uptime_secs":0}',
      'garbage line',
      '{"ts_ms":1700000000600,"cpu_usage":100.0,"mem_rss_kb":3000,"mem_vms_kb":6000,'
        .. '"disk_read_bytes":512,"disk_write_bytes":1024,"syscall_read_bytes":200,'
        .. '"syscall_write_bytes":20,"page_faults_cached":9,"page_faults_disk":1,'
        .. '"sys_net_rx_bytes":21,"sys_net_tx_bytes":22,"thread_count":3,"uptime_secs":0}',
      '{"ts_ms":1700000001100,"cpu_usage":76.5,"mem_rss_kb":2000,"mem_vms_kb":6000,'
        .. '"disk_read_bytes":1024,"disk_write_bytes":2048,"syscall_read_bytes":300,'
        .. '"syscall_write_bytes":30,"page_faults_cached":8,"page_faults_disk":4,'
        .. '"sys_net_rx_bytes":31,"sys_net_tx_bytes":32,"thread_count":2,"uptime_secs":1}',
    }, "\n") .. "\n")
    local it, st = read(p)
    local s = analysis.summary(it)
    os.remove(p)
    assert.are.equal(1, st.skipped)
    assert.are.equal(1.0, s.total_time_secs)
    assert.are.equal(3, s.sample_count)
    assert.are.equal(1, s.max_processes)
    assert.are.equal(3, s.max_threads)
    assert.are.equal(1024, s.total_disk_read_bytes)
    assert.are.equal(2048, s.total_disk_write_bytes)
    assert.are.equal(300, s.total_syscall_read_bytes)
    assert.are.equal(30, s.total_syscall_write_bytes)
    assert.are.equal(31, s.total_sys_net_rx_bytes)
    assert.are.equal(32, s.total_sys_net_tx_bytes)
    assert.are.equal(9, s.peak_page_faults_cached)
    assert.are.equal(4, s.peak_page_faults_disk)
    assert.are.equal(3000, s.peak_mem_rss_kb)
    assert.are.equal(75.5, s.avg_cpu_usage) -- (50 + 100 + 76.5) / 3
    assert.is_nil(s.exit)
  end)

  it("reads an untagged denet 0.6.1 tree file", function()
    local p = S.tmpfile(
      '{"pid":7,"cmd":["sh"],"executable":"/bin/sh","t0_ms":1}\n'
      .. '{"ts_ms":2000,"parent":null,"children":[],"aggregated":{"ts_ms":2000,'
      .. '"cpu_usage":4.0,"mem_rss_kb":10,"process_count":2,"thread_count":2}}\n'
      .. '{"ts_ms":2600,"parent":null,"children":[],"aggregated":{"ts_ms":2600,'
      .. '"cpu_usage":8.0,"mem_rss_kb":30,"process_count":4,"thread_count":6}}\n')
    local recs = {}
    for r in read(p) do recs[#recs + 1] = r end
    os.remove(p)
    local s = analysis.summary(recs)
    assert.are.equal(0.6, s.total_time_secs)
    assert.are.equal(2, s.sample_count)
    assert.are.equal(4, s.max_processes)
    assert.are.equal(6, s.max_threads)
    assert.are.equal(30, s.peak_mem_rss_kb)
    assert.are.equal(6.0, s.avg_cpu_usage)
    assert.are.equal(0, s.total_disk_read_bytes) -- absent -> 0
  end)

  it("encodes to JSON (exit signal null stays null)", function()
    local recs = tree_records()
    recs[#recs].signal = json.null
    local s = analysis.summary(recs)
    local back = json.decode(json.encode(s))
    assert.are.equal(json.null, back.exit.signal)
    assert.are.equal(3, back.sample_count)
  end)
end)

describe("denet.analysis.series and peaks", function()
  -- cpu: 1, 5, 5, 2, 7, 3, 3, 9 at ts 0, 100, ..., 700
  local vals = { 1, 5, 5, 2, 7, 3, 3, 9 }
  local recs = {}
  for i, v in ipairs(vals) do
    recs[i] = { kind = "sample", ts_ms = (i - 1) * 100, cpu_usage = v + 0.0, mem_rss_kb = v * 10,
      ebpf = { offcpu = { total_time_ns = v * 1000 } } }
  end

  it("series returns the timestamps and values", function()
    local ts, v = analysis.series(recs, "mem_rss_kb")
    assert.are.same({ 0, 100, 200, 300, 400, 500, 600, 700 }, ts)
    assert.are.same({ 10, 50, 50, 20, 70, 30, 30, 90 }, v)
    local _, nested = analysis.series(recs, "ebpf.offcpu.total_time_ns")
    assert.are.equal(9000, nested[8])
  end)

  it("raises on an unknown metric, naming it; fields samples have pass", function()
    -- a typo used to give an empty series, indistinguishable from "no data"
    local ok, err = pcall(function() local t = analysis.series(recs, "cpu_usgae"); return t end)
    assert.is_false(ok)
    assert.matches("^[^:]*analysis_spec%.lua:%d+: bad argument #2 to 'series' %(unknown metric 'cpu_usgae'", err)
    ok, err = pcall(function() local t = analysis.peaks(recs, "mem_rs_kb"); return t end)
    assert.is_false(ok)
    assert.matches("bad argument #2 to 'peaks' %(unknown metric 'mem_rs_kb'", err)
    -- a documented field absent from these samples is no data, not a mistake
    local ts, v = analysis.series(recs, "page_faults_disk")
    assert.are.same({}, ts)
    assert.are.same({}, v)
    ts, v = analysis.series(recs, "ebpf.offcpu.max_time_ns")
    assert.are.same({}, ts)
    assert.are.same({}, v)
    -- a field of the caller's own samples is known by being there
    local mine = { { ts_ms = 1, my_score = 4 }, { ts_ms = 2 } }
    ts, v = analysis.series(mine, "my_score")
    assert.are.same({ 1 }, ts)
    assert.are.same({ 4 }, v)
    assert.is_true(analysis.fields.cpu_usage)
    assert.is_true(analysis.fields["ebpf.offcpu.total_time_ns"])
    assert.is_nil(analysis.fields.cpu_usgae)
  end)

  it("finds local maxima, plateaus at their first sample, the end included", function()
    local p = analysis.peaks(recs, "cpu_usage")
    assert.are.same({
      { ts_ms = 100, value = 5.0 },
      { ts_ms = 400, value = 7.0 },
      { ts_ms = 700, value = 9.0 },
    }, p)
  end)

  it("filters with min_value and sorts with top", function()
    assert.are.same({ { ts_ms = 400, value = 7.0 }, { ts_ms = 700, value = 9.0 } },
      analysis.peaks(recs, "cpu_usage", { min_value = 6 }))
    assert.are.same({ { ts_ms = 700, value = 9.0 }, { ts_ms = 400, value = 7.0 } },
      analysis.peaks(recs, "cpu_usage", { top = 2 }))
    assert.are.same({}, analysis.peaks(recs, "cpu_usage", { top = 0 }))
  end)

  it("handles a constant and a single-sample series", function()
    local flat = { { kind = "sample", ts_ms = 0, cpu_usage = 3 }, { kind = "sample", ts_ms = 1, cpu_usage = 3 } }
    assert.are.same({ { ts_ms = 0, value = 3 } }, analysis.peaks(flat, "cpu_usage"))
    assert.are.same({ { ts_ms = 0, value = 3 } }, analysis.peaks({ flat[1] }, "cpu_usage"))
    assert.are.same({}, analysis.peaks({}, "cpu_usage"))
  end)

  it("uses tree aggregates", function()
    local p = analysis.peaks(tree_records(), "mem_rss_kb")
    assert.are.same({ { ts_ms = 1500, value = 300 } }, p)
  end)

  it("rejects unknown options", function()
    assert.has_error(function() analysis.peaks(recs, "cpu_usage", { minimum = 3 }) end)
    assert.has_error(function() analysis.peaks(recs, "cpu_usage", { top = "3" }) end)
    assert.has_error(function() analysis.peaks(recs, 42) end)
  end)
end)

describe("denet.analysis.resample", function()
  local recs = {
    { kind = "sample", ts_ms = 1000, cpu_usage = 10.0, mem_rss_kb = 100, disk_read_bytes = 1 },
    { kind = "sample", ts_ms = 1100, cpu_usage = 20.0, mem_rss_kb = 110, disk_read_bytes = 2 },
    { kind = "sample", ts_ms = 1250, cpu_usage = 60.0, mem_rss_kb = 120, disk_read_bytes = 3 },
    { kind = "sample", ts_ms = 1900, cpu_usage = 5.0, mem_rss_kb = 90, disk_read_bytes = 4 },
  }

  it("buckets on a regular grid with bucket means and carried-forward values", function()
    local r = analysis.resample(recs, 300)
    assert.are.equal(4, #r)
    assert.are.same({ 1000, 1300, 1600, 1900 }, { r[1].ts_ms, r[2].ts_ms, r[3].ts_ms, r[4].ts_ms })
    assert.are.equal(30.0, r[1].cpu_usage)      -- (10 + 20 + 60) / 3
    assert.are.equal(60.0, r[2].cpu_usage)      -- empty: last observation
    assert.are.equal(60.0, r[3].cpu_usage)
    assert.are.equal(5.0, r[4].cpu_usage)
    assert.are.same({ 120, 120, 120, 90 }, { r[1].mem_rss_kb, r[2].mem_rss_kb, r[3].mem_rss_kb, r[4].mem_rss_kb })
    assert.are.same({ 3, 3, 3, 4 }, { r[1].disk_read_bytes, r[2].disk_read_bytes, r[3].disk_read_bytes, r[4].disk_read_bytes })
    assert.are.equal("sample", r[1].kind)
    assert.are.equal("integer", math.type(r[2].ts_ms))
    -- the input is not modified
    assert.are.equal(60.0, recs[3].cpu_usage)
    assert.are.equal(1250, recs[3].ts_ms)
  end)

  it("rounds the bucket mean of cpu_usage to 2 decimals, as samples are", function()
    local r = analysis.resample({
      { kind = "sample", ts_ms = 0, cpu_usage = 10.0 },
      { kind = "sample", ts_ms = 10, cpu_usage = 20.0 },
      { kind = "sample", ts_ms = 20, cpu_usage = 20.5 },
    }, 100)
    assert.are.equal(16.83, r[1].cpu_usage) -- 50.5 / 3 = 16.8333...
  end)

  it("with a bucket wider than the run gives one mean sample", function()
    local r = analysis.resample(recs, 10000)
    assert.are.equal(1, #r)
    assert.are.equal(23.75, r[1].cpu_usage)       -- (10 + 20 + 60 + 5) / 4
    assert.are.equal(1000, r[1].ts_ms)
    assert.are.equal(90, r[1].mem_rss_kb)
  end)

  it("resamples tree aggregates", function()
    local r = analysis.resample(tree_records(), 1000)
    -- buckets [1000,2000): 1000 and 1500; [2000,3000): empty; [3000,4000): 3250
    assert.are.equal(3, #r)
    assert.are.equal(20.25, r[1].cpu_usage)
    assert.are.equal(300, r[1].mem_rss_kb)
    assert.are.equal(30.5, r[2].cpu_usage)
    assert.are.equal(20.0, r[3].cpu_usage)
    assert.are.equal(3000, r[3].ts_ms)
  end)

  it("rejects a bad bucket size and handles no samples", function()
    assert.has_error(function() analysis.resample(recs, 0) end)
    assert.has_error(function() analysis.resample(recs, -5) end)
    assert.has_error(function() analysis.resample(recs, "1s") end)
    assert.are.same({}, analysis.resample({}, 100))
  end)
end)

describe("denet.analysis.to_csv", function()
  it("writes the default columns from tree aggregates", function()
    local csv = analysis.to_csv(tree_records())
    assert.are.equal(
      "ts_ms,cpu_usage,mem_rss_kb,mem_vms_kb,disk_read_bytes,disk_write_bytes,process_count,thread_count\n"
      .. "1000,10,100,1000,0,10,1,2\n"
      .. "1500,30.5,300,3000,4096,20,3,5\n"
      .. "3250,20,200,2000,8192,30,2,4\n", csv)
  end)

  it("quotes cells with commas, quotes and newlines, and leaves absent cells empty", function()
    local rows = {
      { ts_ms = 1, name = "a,b", note = 'say "hi"', x = 0.1, ["my,col"] = "v" },
      { ts_ms = 2, name = "line1\nline2", note = "plain", x = true },
      { ts_ms = 3, name = "cr\r", note = json.null },
    }
    local csv = analysis.to_csv(rows, { "ts_ms", "name", "note", "x", "my,col" })
    assert.are.equal(
      'ts_ms,name,note,x,"my,col"\n'
      .. '1,"a,b","say ""hi""",0.1,v\n'
      .. '2,"line1\nline2",plain,true,\n'
      .. '3,"cr\r",,,\n', csv)
  end)

  it("writes nested columns and tables as JSON", function()
    local rows = { { ts_ms = 5, ebpf = { offcpu = { total_time_ns = 77 } }, list = { 1, 2 } } }
    assert.are.equal('ts_ms,ebpf.offcpu.total_time_ns,list\n5,77,"[1,2]"\n',
      analysis.to_csv(rows, { "ts_ms", "ebpf.offcpu.total_time_ns", "list" }))
  end)

  it("composes with resample", function()
    local recs = {
      { kind = "sample", ts_ms = 0, cpu_usage = 1.0, mem_rss_kb = 5 },
      { kind = "sample", ts_ms = 50, cpu_usage = 2.0, mem_rss_kb = 6 },
      { kind = "sample", ts_ms = 100, cpu_usage = 4.0, mem_rss_kb = 7 },
    }
    assert.are.equal("ts_ms,cpu_usage,mem_rss_kb\n0,1.5,6\n100,4,7\n",
      analysis.to_csv(analysis.resample(recs, 100), { "ts_ms", "cpu_usage", "mem_rss_kb" }))
  end)

  it("rejects bad columns", function()
    assert.has_error(function() analysis.to_csv({}, {}) end)
    assert.has_error(function() analysis.to_csv({}, { 1 }) end)
  end)

  it("raises on an unknown column, naming it, instead of writing an empty column", function()
    local ok, err = pcall(function() local t = analysis.to_csv(tree_records(), { "ts_ms", "rss" }); return t end)
    assert.is_false(ok)
    assert.matches("^[^:]*analysis_spec%.lua:%d+: bad argument #2 to 'to_csv' %(unknown column 'rss'", err)
    -- documented fields are fine without samples (a header only)
    assert.are.equal("ts_ms,mem_peak_kb\n", analysis.to_csv({}, { "ts_ms", "mem_peak_kb" }))
  end)
end)

describe("denet.analysis.syscalls", function()
  local function sc(total, cats, window, extra)
    local t = { total = total, errors = 1, time_ns = 1000 * total, syscall_rate_per_sec = total * 2.5,
      by_category = cats, lost = 0, untimed = 0, window = window,
      top_syscalls = { { name = "read", category = "file_io", count = cats.file_io or 0, errors = 1,
        time_ns = 500, p50_ns = 256, p99_ns = 512, max_ns = 900 } },
      top_by_time = {} }
    for k, v in pairs(extra or {}) do t[k] = v end
    return t
  end
  local function tree(ts, syscalls)
    return { kind = "tree", ts_ms = ts, aggregated = { ts_ms = ts, cpu_usage = 1.0, ebpf = { syscalls = syscalls } } }
  end

  it("is nil for records without syscall figures (older files, runs without eBPF)", function()
    assert.is_nil(analysis.syscalls(tree_records()))
    assert.is_nil(analysis.syscalls({}))
    -- what is not a syscalls object is taken as absent, not an error
    for _, bad in ipairs { "many", json.null, 5, { total = "5" }, { errors = 3 }, { total = -1 } } do
      local recs = tree_records()
      recs[2].aggregated.ebpf = { syscalls = bad }
      recs[#recs].ebpf = { syscalls = bad }
      assert.is_nil(analysis.syscalls(recs))
    end
    local recs = tree_records()
    recs[#recs].ebpf = json.null
    assert.is_nil(analysis.syscalls(recs))
    assert.has_error(function() analysis.syscalls("run.jsonl") end)
  end)

  it("takes the exit record's figures, else the last sample's; windows from every sample", function()
    local recs = {
      { kind = "metadata", pid = 1, cmd = { "x" }, t0_ms = 0 },
      tree(100, sc(40, { file_io = 30, memory = 10 }, { secs = 0.1, total = 40, errors = 1, time_ns = 7,
        by_category = { file_io = 30, memory = 10 } })),
      tree(200, sc(40, { file_io = 30, memory = 10 }, { secs = 0, total = 0, by_category = {} })),
      tree(300, "not an object"),
      tree(400, sc(100, { file_io = 60, memory = 10, future = 30 }, { secs = 0.2, total = 60,
        by_category = { file_io = 30, future = 30, bogus = "x" } })),
      { kind = "exit", ts_ms = 450, pid = 1, exit_code = 0,
        ebpf = { syscalls = sc(130, { file_io = 89, memory = 10, future = 30, time = 1 }, nil,
          { lost = 2, untimed = 1, top_syscalls = {
            { name = "mmap", category = "memory", count = 10 },
            { count = 5 }, { name = "odd", count = "x" },
            { name = "read", category = "file_io", count = 89, errors = 3, time_ns = 9e3, p50_ns = 256 } },
          top_by_time = { { name = "mmap", count = 10, time_ns = 10 },
            { name = "nanosleep", category = "time", count = 1, time_ns = 1900000000 } } }) } },
    }
    local s, windows = analysis.syscalls(recs)
    assert.are.equal("exit", s.source)
    assert.are.equal(130, s.total)
    assert.are.equal(1, s.errors)
    assert.are.equal(130000, s.time_ns)
    assert.are.equal(2, s.lost)
    assert.are.equal(1, s.untimed)
    assert.are.same({ file_io = 89, memory = 10, future = 30, time = 1 }, s.by_category)
    assert.are.same({ file_io = 0.6846, memory = 0.0769, future = 0.2308, time = 0.0077 }, s.shares)
    -- entries without a name or a count are left out; largest first
    assert.are.same({ "read", "mmap" }, { s.top_syscalls[1].name, s.top_syscalls[2].name })
    assert.are.equal(2, #s.top_syscalls)
    assert.are.same({ name = "read", category = "file_io", count = 89, errors = 3, time_ns = 9e3, p50_ns = 256 },
      s.top_syscalls[1])
    assert.are.same({ "nanosleep", "mmap" }, { s.top_by_time[1].name, s.top_by_time[2].name })
    -- the windows with a positive length, and the busiest one's rate
    assert.are.equal(2, #windows)
    assert.are.same({ ts_ms = 100, secs = 0.1, total = 40, errors = 1, time_ns = 7,
      by_category = { file_io = 30, memory = 10 } }, windows[1])
    assert.are.same({ file_io = 30, future = 30 }, windows[2].by_category)
    assert.are.equal(400.0, s.peak_rate_per_sec)
    -- without the exit record's figures: the last sample's
    recs[#recs].ebpf = nil
    s = analysis.syscalls(recs)
    assert.are.equal("sample", s.source)
    assert.are.equal(100, s.total)
    assert.are.equal(250.0, s.syscall_rate_per_sec)
    assert.are.equal(0, #s.top_by_time)
    assert.are.equal("[]", json.encode(s.top_by_time))
    -- an exit record alone (a command that ended before the first sample)
    s, windows = analysis.syscalls({ { kind = "exit", ts_ms = 1, ebpf = { syscalls = sc(7, { process = 7 }) } } })
    assert.are.equal(7, s.total)
    assert.are.same({ process = 1.0 }, s.shares)
    assert.is_nil(s.peak_rate_per_sec)
    assert.are.same({}, windows)
  end)

  it("names its sample fields, so series can read them", function()
    local recs = { tree(100, sc(40, { file_io = 40 }, { secs = 0.1, total = 40, rate_per_sec = 400.0 })),
      tree(200, sc(70, { file_io = 70 }, { secs = 0.1, total = 30, rate_per_sec = 300.0 })) }
    local ts, v = analysis.series(recs, "ebpf.syscalls.window.rate_per_sec")
    assert.are.same({ 100, 200 }, ts)
    assert.are.same({ 400.0, 300.0 }, v)
    -- a documented field absent from these samples is no typo: no values
    ts = analysis.series(tree_records(), "ebpf.syscalls.total")
    assert.are.same({}, ts)
  end)
end)

describe("denet.analysis.human_ns", function()
  it("writes syscall times as stats and the report do", function()
    local h = analysis.human_ns
    assert.equal("0 ns", h(0))
    assert.equal("128 ns", h(128))
    assert.equal("999 ns", h(999.4))
    assert.equal("2.05 us", h(2048))
    assert.equal("2.05 µs", h(2048, "µs"))
    assert.equal("262 us", h(262144))
    assert.equal("2.72 ms", h(2.72e6))
    assert.equal("1.44 s", h(1.44e9))
    assert.equal("-", h(nil))
    assert.equal("–", h(nil, "µs", "–"))
    assert.equal("-", h(0 / 0))
  end)
end)

describe("alert values", function()
  it("are rounded as the samples they judge (cpu_usage: 2 decimals), in the record and in Lua", function()
    local out, hooks = S.tmpname(".jsonl"), S.tmpname(".lua")
    S.write(hooks, [[
local p = ...
p:watch{ metric = "cpu_usage", above = 1, name = "cpu",
  on_fire = function(a) io.stderr:write(("lua value %.17g\n"):format(a.value)) end }
]])
    local r = S.denet{ "-q", "-i", "50", "-o", out, "run", "-s", hooks, "--", S.helper("busy"), "0.4" }
    assert.equal(0, r.code, r.err)
    local recs = S.records(S.slurp(out))
    os.remove(out)
    os.remove(hooks)
    local alert = S.of_kind(recs, "alert")[1]
    assert.is_truthy(alert, "no alert")
    local function two_decimals(v) return math.abs(v * 100 - math.floor(v * 100 + 0.5)) < 1e-6 end
    assert.is_true(two_decimals(alert.value), "alert value " .. alert.value)
    -- the very figure of the sample that fired it
    local sample
    for _, t in ipairs(S.of_kind(recs, "tree")) do
      if t.ts_ms == alert.ts_ms then sample = t.aggregated end
    end
    assert.is_truthy(sample, "no sample at the alert's ts_ms")
    assert.equal(sample.cpu_usage, alert.value)
    local lua_value = tonumber(r.err:match("lua value (%S+)"))
    assert.equal(alert.value, lua_value)
  end)
end)
