-- syscalls_report_spec.lua — the syscall figures of an --enable-ebpf run in
-- `denet stats` (text and --json) and in `denet report`'s Syscalls section:
-- hand-written JSONL fixtures for the edge cases (no root needed), and
-- recordings by the real binary of the getppids helper, whose 5000
-- getppid calls must show up exactly. A recording without syscall figures
-- must give upstream's stats output and no Syscalls section.
local S = require "support"
local json = require "denet.json"
local report = require "denet.report"

-- A recording of denet before syscall tracking (an offcpu object, no syscalls).
local NO_SYSCALLS = [[
{"kind":"metadata","pid":42,"cmd":["job"],"executable":"/bin/job","t0_ms":1000}
{"kind":"tree","ts_ms":1100,"parent":null,"children":[],"aggregated":{"ts_ms":1100,"cpu_usage":10.0,"mem_rss_kb":100,"thread_count":2,"process_count":1,"disk_read_bytes":0,"disk_write_bytes":10}}
{"kind":"tree","ts_ms":1600,"parent":null,"children":[],"aggregated":{"ts_ms":1600,"cpu_usage":30.5,"mem_rss_kb":300,"thread_count":5,"process_count":3,"disk_read_bytes":4096,"disk_write_bytes":20,"ebpf":{"offcpu":{"total_events":3}}}}
{"kind":"exit","ts_ms":1700,"pid":42,"exit_code":0,"signal":null,"duration_secs":0.7,"totals":{"source":"rusage","cpu_secs":0.61,"mem_peak_kb":310},"sampled":{"cpu_secs":0.6,"mem_peak_kb":300,"samples":2},"gap":{"cpu_secs":0.01,"mem_peak_kb":10}}
]]

-- `denet stats` of NO_SYSCALLS before syscall tracking existed (denet at 8949867).
local NO_SYSCALLS_STATS = [[
  total_time_secs              0.50
  sample_count                 2
  max_processes                3
  max_threads                  5
  total_disk_read_bytes        4096
  total_disk_write_bytes       20
  total_syscall_read_bytes     0
  total_syscall_write_bytes    0
  peak_page_faults_cached      0
  peak_page_faults_disk        0
  total_sys_net_rx_bytes       0
  total_sys_net_tx_bytes       0
  peak_mem_rss_kb              300
  avg_cpu_usage                20.25
  exit_code                    0
  cpu_secs                     exact 0.61 (rusage), sampled 0.6, gap 0.01
  mem_peak_kb                  exact 310, sampled 300, gap 10
]]
local NO_SYSCALLS_JSON = '{"avg_cpu_usage":20.25,"exit":{"duration_secs":0.7,"exit_code":0,"gap":{"cpu_secs":0.01,'
  .. '"mem_peak_kb":10},"sampled":{"cpu_secs":0.6,"mem_peak_kb":300,"samples":2},"signal":null,"totals":'
  .. '{"cpu_secs":0.61,"mem_peak_kb":310,"source":"rusage"}},"max_processes":3,"max_threads":5,'
  .. '"peak_mem_rss_kb":300,"peak_page_faults_cached":0,"peak_page_faults_disk":0,"sample_count":2,'
  .. '"skipped_lines":0,"total_disk_read_bytes":4096,"total_disk_write_bytes":20,"total_sys_net_rx_bytes":0,'
  .. '"total_sys_net_tx_bytes":0,"total_syscall_read_bytes":0,"total_syscall_write_bytes":0,"total_time_secs":0.5}\n'

-- Syscall figures with the edge cases: a window of length 0, a sample with
-- a `syscalls` that is not an object, a category this denet does not know
-- ("future"), top entries without a name or with a string count, a name
-- to escape, an exit record with the complete figures (and lost/untimed).
local WITH_SYSCALLS = [[
{"kind":"metadata","pid":7,"cmd":["job","--fast"],"executable":"/bin/job","t0_ms":1000}
{"kind":"tree","ts_ms":1100,"parent":null,"children":[],"aggregated":{"ts_ms":1100,"cpu_usage":5.0,"mem_rss_kb":100,"thread_count":1,"process_count":1,"ebpf":{"syscalls":{"total":40,"errors":2,"time_ns":40000,"syscall_rate_per_sec":400.0,"by_category":{"file_io":30,"memory":10,"process":0},"top_syscalls":[{"name":"read","category":"file_io","count":30,"errors":2,"time_ns":30000,"p50_ns":512,"p99_ns":1024,"max_ns":4096},{"name":"mmap","category":"memory","count":10,"errors":0,"time_ns":10000,"p50_ns":1024,"p99_ns":1024,"max_ns":1500}],"top_by_time":[],"lost":0,"untimed":0,"window":{"secs":0.1,"total":40,"errors":2,"time_ns":40000,"rate_per_sec":400.0,"by_category":{"file_io":30,"memory":10,"process":0}}}}}}
{"kind":"tree","ts_ms":1200,"parent":null,"children":[],"aggregated":{"ts_ms":1200,"cpu_usage":7.0,"mem_rss_kb":120,"thread_count":1,"process_count":1,"ebpf":{"syscalls":{"total":40,"errors":2,"time_ns":40000,"syscall_rate_per_sec":200.0,"by_category":{"file_io":30,"memory":10},"window":{"secs":0,"total":0,"by_category":{}}}}}}
{"kind":"tree","ts_ms":1300,"parent":null,"children":[],"aggregated":{"ts_ms":1300,"cpu_usage":9.0,"mem_rss_kb":130,"thread_count":1,"process_count":1,"ebpf":{"syscalls":"garbage"}}}
{"kind":"tree","ts_ms":1500,"parent":null,"children":[],"aggregated":{"ts_ms":1500,"cpu_usage":3.0,"mem_rss_kb":110,"thread_count":2,"process_count":2,"ebpf":{"syscalls":{"total":100,"errors":2,"time_ns":90000,"syscall_rate_per_sec":200.0,"by_category":{"file_io":60,"memory":10,"future":30},"top_syscalls":[{"name":"read","category":"file_io","count":60,"errors":2,"time_ns":60000,"p50_ns":512,"p99_ns":1024,"max_ns":4096},{"count":5},{"name":"odd","count":"x"},{"name":"new<call>","category":"future","count":30,"errors":0,"time_ns":20000,"p50_ns":256,"p99_ns":2048,"max_ns":2100}],"window":{"secs":0.2,"total":60,"errors":0,"time_ns":50000,"rate_per_sec":300.0,"by_category":{"file_io":30,"future":30}}}}}}
{"kind":"exit","ts_ms":1550,"pid":7,"exit_code":0,"signal":null,"duration_secs":0.55,"totals":{"source":"rusage","cpu_secs":0.03,"mem_peak_kb":130},"ebpf":{"syscalls":{"total":130,"errors":3,"time_ns":2000000000,"syscall_rate_per_sec":236.36,"by_category":{"file_io":89,"memory":10,"future":30,"time":1},"top_syscalls":[{"name":"read","category":"file_io","count":89,"errors":3,"time_ns":90000,"p50_ns":512,"p99_ns":1024,"max_ns":4096},{"name":"new<call>","category":"future","count":30,"errors":0,"time_ns":20000,"p50_ns":256,"p99_ns":2048,"max_ns":2100},{"name":"mmap","category":"memory","count":10,"errors":0,"time_ns":10000,"p50_ns":1024,"p99_ns":1024,"max_ns":1500},{"name":"nanosleep","category":"time","count":1,"errors":0,"time_ns":1999880000,"p50_ns":1999880000,"p99_ns":1999880000,"max_ns":1999880000}],"top_by_time":[{"name":"nanosleep","category":"time","count":1,"errors":0,"time_ns":1999880000,"p50_ns":1999880000,"p99_ns":1999880000,"max_ns":1999880000},{"name":"read","category":"file_io","count":89,"errors":3,"time_ns":90000,"p50_ns":512,"p99_ns":1024,"max_ns":4096}],"lost":2,"untimed":1}}}
]]

local WITH_SYSCALLS_BLOCK = [[
  syscalls                     130, 3 errors (2.31%), 236.36/s (peak window 400.00/s); from the exit record (complete)
  syscall_time                 2.00 s (summed over threads)
  syscall_categories           file_io 68.46%, future 23.08%, memory 7.69%, time 0.77%
  syscalls_missed              2 not counted (map full), 1 without a time
  top syscalls by count:
    name                 category       count   errors      time       p50       p99       max
    read                 file_io           89        3     90 us    512 ns   1.02 us    4.1 us
    new<call>            future            30        0     20 us    256 ns   2.05 us    2.1 us
    mmap                 memory            10        0     10 us   1.02 us   1.02 us    1.5 us
    nanosleep            time               1        0    2.00 s    2.00 s    2.00 s    2.00 s
  top syscalls by time:
    name                 category       count   errors      time       p50       p99       max
    nanosleep            time               1        0    2.00 s    2.00 s    2.00 s    2.00 s
    read                 file_io           89        3     90 us    512 ns   1.02 us    4.1 us
]]

-- The records of a JSONL text with every ebpf.syscalls removed.
local function strip_syscalls(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do
    local rec = assert(json.decode(line))
    local holders = { rec, type(rec.aggregated) == "table" and rec.aggregated or nil }
    for _, h in ipairs(holders) do
      if type(h.ebpf) == "table" then
        h.ebpf.syscalls = nil
        if next(h.ebpf) == nil then h.ebpf = nil end
      end
    end
    out[#out + 1] = json.encode(rec)
  end
  return table.concat(out, "\n") .. "\n"
end

-- The stats text without its first line (it names the file).
local function stats_body(path, ...)
  local r = S.denet({ "stats", path, ... })
  assert.are.equal(0, r.code, r.err)
  return (r.out:gsub("^Summary of [^\n]*\n", "")), r
end

-- The decoded hover data of a chart: { { n = name, c = color, t = {..}, v = {..} } ... }.
local function hover_data(svg)
  return assert(json.decode(svg:match('<script type="application/json" class="hover%-data">(.-)</script>')))
end

local function chart(html, id)
  return html:match('<svg class="chart" id="' .. id:gsub("%-", "%%-") .. '".-</svg>')
end

describe("denet stats with syscall figures", function()
  it("prints upstream's summary, unchanged, for a recording without them", function()
    local path = S.tmpfile(NO_SYSCALLS, ".jsonl")
    assert.are.equal(NO_SYSCALLS_STATS, stats_body(path))
    local r = S.denet({ "stats", "--json", path })
    assert.are.equal(NO_SYSCALLS_JSON, r.out)
    os.remove(path)
  end)

  it("summarises the exit record's figures after upstream's, the rest unchanged", function()
    local path = S.tmpfile(WITH_SYSCALLS, ".jsonl")
    local bare = S.tmpfile(strip_syscalls(WITH_SYSCALLS), ".jsonl")
    local with, without = stats_body(path), stats_body(bare)
    assert.are.equal(without .. WITH_SYSCALLS_BLOCK, with)
    local s = json.decode(S.denet({ "stats", "--json", path }).out)
    local sc = s.syscalls
    assert.are.equal("exit", sc.source)
    assert.are.equal(130, sc.total)
    assert.are.equal(2000000000, sc.time_ns)
    assert.are.same({ file_io = 0.6846, future = 0.2308, memory = 0.0769, time = 0.0077 }, sc.shares)
    assert.are.equal(400.0, sc.peak_rate_per_sec)
    assert.are.same({ "read", "new<call>", "mmap", "nanosleep" }, { sc.top_syscalls[1].name,
      sc.top_syscalls[2].name, sc.top_syscalls[3].name, sc.top_syscalls[4].name })
    -- the rest of the JSON is the file's without syscalls
    s.syscalls = nil
    assert.are.same(json.decode(S.denet({ "stats", "--json", bare }).out), s)
    os.remove(path)
    os.remove(bare)
  end)

  it("falls back to the last sample's figures without an exit record", function()
    local text = WITH_SYSCALLS:gsub('{"kind":"exit"[^\n]*\n', "")
    local path = S.tmpfile(text, ".jsonl")
    local out = stats_body(path)
    assert.truthy(out:find("  syscalls                     100, 2 errors (2.00%), 200.00/s (peak window "
      .. "400.00/s); from the last sample\n", 1, true), out)
    assert.truthy(out:find("  syscall_categories           file_io 60.00%, future 30.00%, memory 10.00%\n", 1, true))
    assert.is_nil(out:find("syscalls_missed", 1, true))
    assert.is_nil(out:find("top syscalls by time", 1, true))
    os.remove(path)
  end)
end)

describe("denet report's Syscalls section", function()
  it("is left out for a recording without syscall figures", function()
    local html = report.build(S.records(NO_SYSCALLS))
    assert.is_nil(html:find("Syscalls", 1, true))
    assert.is_nil(html:find("chart-syscalls", 1, true))
    assert.are.equal(report.build(S.records(strip_syscalls(WITH_SYSCALLS))),
      report.build(S.records(WITH_SYSCALLS), { sections = { "header", "summary", "charts", "processes",
        "events", "offcpu" } }))
  end)

  it("has the tables by count and by time and a stacked band per category", function()
    local html = report.build(S.records(WITH_SYSCALLS))
    local sec = html:match('<section class="syscalls" id="syscalls">.-</table></section>')
    assert.truthy(sec, "no Syscalls section")
    assert.truthy(sec:find("<h2>Syscalls</h2>", 1, true))
    assert.truthy(sec:find("130 syscalls, 3 errors (2.31%), at 236/s on average, 400/s in the busiest window; "
      .. "2.00 s spent in syscalls", 1, true))
    assert.truthy(sec:find("2 syscalls not counted, 1 without a time", 1, true))
    local by_count = sec:match('<table class="list calls" data%-by="count">.-</table>')
    local by_time = sec:match('<table class="list calls" data%-by="time">.-</table>')
    assert.are.equal(4, S.count(by_count, "<tr data%-syscall="))
    assert.are.equal(2, S.count(by_time, "<tr data%-syscall="))
    assert.truthy(by_count:find('<tr data-syscall="read"><td>read</td><td>file_io</td><td class="num">89</td>'
      .. '<td class="num">3</td><td class="num">90 µs</td><td class="num">512 ns</td><td class="num">1.02 µs</td>'
      .. '<td class="num">4.1 µs</td></tr>', 1, true))
    assert.truthy(by_count:find("<td>new&lt;call&gt;</td>", 1, true))
    assert.is_nil(html:find("new<call>", 1, true))
    assert.truthy(by_time:find('^.-<tr data%-syscall="nanosleep"><td>nanosleep</td><td>time</td>'
      .. '<td class="num">1</td><td class="num">0</td><td class="num">2%.00 s</td>'))
    -- the category shares of the whole run, largest first
    local cats = {}
    for c, share in sec:gmatch('<tr data%-category="([^"]+)">.-<td class="num">([^<]+)</td></tr>') do
      cats[#cats + 1] = c .. " " .. share
    end
    assert.are.same({ "file_io 68.46%", "future 23.08%", "memory 7.69%", "time 0.77%" }, cats)
    -- a band per category with calls in a window (time has none), in the
    -- records' order, the unknown category last; the bands add up to the
    -- windows' rates (the window of length 0 is left out)
    local svg = chart(html, "chart-syscalls")
    assert.truthy(svg, "no category chart")
    assert.are.equal(3, S.count(svg, '<path class="area"'))
    assert.are.equal(0, S.count(svg, '<path class="line"'))
    local data = hover_data(svg)
    assert.are.same({ "file_io", "memory", "future" }, { data[1].n, data[2].n, data[3].n })
    assert.are.same({ 300, 150 }, data[1].v)
    assert.are.same({ 100, 0 }, data[2].v)
    assert.are.same({ 0, 150 }, data[3].v)
    assert.are.same({ 0.1, 0.5 }, data[1].t)
    assert.are.equal("/s", svg:match('data%-unit="([^"]*)"'))
    assert.truthy(svg:find('<text class="ylab" x="[%d.]+" y="[%d.]+">400/s</text>'))
    assert.truthy(html:find('<span><i style="background:#4e79a7"></i>file_io</span>', 1, true))
  end)

  it("averages a long run's windows into buckets whose bands still add up", function()
    local recs = { { kind = "metadata", pid = 1, cmd = { "long" }, t0_ms = 0 } }
    local total = 0
    for k = 1, 3000 do
      local w = { file_io = 10 + k % 7, memory = 20, process = k == 1500 and 3000 or 30 }
      local n = w.file_io + w.memory + w.process
      total = total + n
      recs[#recs + 1] = { kind = "tree", ts_ms = k * 100, aggregated = { ts_ms = k * 100, cpu_usage = 1.0,
        ebpf = { syscalls = { total = total, by_category = {}, window = { secs = 0.1, total = n,
          by_category = w } } } } }
    end
    local html = report.build(recs)
    local svg = chart(html, "chart-syscalls")
    local data = hover_data(svg)
    assert.are.equal(3, #data)
    local points = #data[1].v
    assert.truthy(points <= 500 and points >= 490, points)
    local mean_sum = 0
    for j = 1, points do
      local sum = data[1].v[j] + data[2].v[j] + data[3].v[j]
      assert.are.equal(200, data[2].v[j])
      mean_sum = mean_sum + sum
    end
    -- the whole run's mean rate is kept (the buckets hold 6 windows each)
    local mean = total / 3000 / 0.1
    assert.truthy(math.abs(mean_sum / points - mean) < 0.01 * mean, mean_sum / points .. " vs " .. mean)
    -- the spike is averaged over its bucket, not lost
    local peak = 0
    for j = 1, points do peak = math.max(peak, data[3].v[j]) end
    assert.truthy(peak > 3000 and peak < 30000, peak)
    assert.truthy(#html < 400 * 1024, #html)
  end)
end)

-- A recording of the getppids helper by the real binary, with eBPF.
local traced
local function record_traced()
  if traced ~= nil then return traced end
  traced = false
  if not S.is_root() then return false end
  local dir = (S.sh("mktemp -d").out:gsub("%s+$", ""))
  local jsonl = dir .. "/calls.jsonl"
  local r = S.denet({ "--enable-ebpf", "--no-offcpu", "-q", "-i", "50", "-o", jsonl, "run", "--",
    S.helper("getppids"), "5000", "300" })
  assert.are.equal(0, r.code, r.err)
  local recs = S.records(S.slurp(jsonl))
  local exit = S.of_kind(recs, "exit")[1]
  if not (exit and exit.ebpf and exit.ebpf.syscalls) then
    traced = { skip = "no syscall figures (eBPF unavailable here?): " .. r.err:sub(1, 200) }
    return traced
  end
  traced = { dir = dir, jsonl = jsonl, recs = recs }
  return traced
end

local function need_traced()
  local t = record_traced()
  if not t then
    pending("needs root for --enable-ebpf")
    return nil
  end
  if t.skip then
    pending(t.skip)
    return nil
  end
  return t
end

describe("the syscall figures of a real run (getppids 5000)", function()
  teardown(function()
    if traced and traced.dir then S.sh("rm -rf " .. S.q(traced.dir)) end
  end)

  it("denet stats shows getppid with its exact count", function()
    local t = need_traced()
    if not t then return end
    local out = stats_body(t.jsonl)
    local line = out:match("  top syscalls by count:\n.-\n(    getppid [^\n]*)\n")
    assert.truthy(line, out)
    local name, cat, count, errors = line:match("^    (%S+)%s+(%S+)%s+(%d+)%s+(%d+)%s")
    assert.are.same({ "getppid", "process", "5000", "0" }, { name, cat, count, errors })
    assert.truthy(out:find("from the exit record (complete)", 1, true))
    local sc = json.decode(S.denet({ "stats", "--json", t.jsonl }).out).syscalls
    assert.are.equal("exit", sc.source)
    local g = sc.top_syscalls[1]
    assert.are.same({ "getppid", "process", 5000, 0 }, { g.name, g.category, g.count, g.errors })
    assert.truthy(g.p50_ns > 0 and g.p50_ns <= g.p99_ns and g.p99_ns <= g.max_ns, json.encode(g))
    assert.truthy(sc.by_category.process >= 5000)
    local sum = 0
    for _, n in pairs(sc.by_category) do sum = sum + n end
    assert.are.equal(sc.total, sum)
    -- everything else is what the same file without syscall figures gives
    local bare = t.dir .. "/bare.jsonl"
    S.write(bare, strip_syscalls(S.slurp(t.jsonl)))
    local stripped = stats_body(bare)
    assert.are.equal(stripped, out:sub(1, #stripped))
    assert.truthy(out:sub(#stripped + 1):find("^  syscalls  "))
  end)

  it("denet report has the Syscalls section with getppid and a band per category", function()
    local t = need_traced()
    if not t then return end
    local r = S.denet({ "report", t.jsonl })
    assert.are.equal(0, r.code, r.err)
    local html = S.slurp(t.dir .. "/calls.html")
    assert.truthy(html:find("<h2>Syscalls</h2>", 1, true))
    local by_count = html:match('<table class="list calls" data%-by="count">.-</table>')
    assert.truthy(by_count:find('^.-<tr data%-syscall="getppid"><td>getppid</td><td>process</td>'
      .. '<td class="num">5,000</td><td class="num">0</td>'), by_count)
    -- the categories with calls in some window: one band each, adding up
    -- to each window's rate
    local present, windows = {}, {}
    for _, rec in ipairs(S.of_kind(t.recs, "tree")) do
      local w = rec.aggregated.ebpf.syscalls.window
      if w.secs > 0 then
        windows[#windows + 1] = w
        for c, n in pairs(w.by_category) do if n > 0 then present[c] = true end end
      end
    end
    assert.truthy(present.process, "getppid's window")
    local svg = chart(html, "chart-syscalls")
    local names = {}
    for _, s in ipairs(hover_data(svg)) do names[#names + 1] = s.n end
    local want = {}
    for c in pairs(present) do want[#want + 1] = c end
    table.sort(names)
    table.sort(want)
    assert.are.same(want, names)
    assert.are.equal(#want, S.count(svg, '<path class="area"'))
    local data = hover_data(svg)
    assert.are.equal(#windows, #data[1].v)
    for j, w in ipairs(windows) do
      local sum = 0
      for _, s in ipairs(data) do sum = sum + s.v[j] end
      local rate = w.total / w.secs
      assert.truthy(math.abs(sum - rate) <= 1e-4 * math.max(rate, 1), ("window %d: %s vs %s"):format(j, sum, rate))
    end
  end)
end)
