-- report_spec.lua — `denet report FILE [-o OUT]` and lua/denet/report.lua
-- (denet.report): fixtures recorded by the real binary (a short tree run
-- with a mark and an alert; an --enable-ebpf run of the blocker when root),
-- the structure of the HTML (sections, SVG counts, the alert line at its
-- time, no flame graph without off-CPU records, no external resources),
-- the module's building blocks, a rendering in headless Chromium (console
-- errors, SVGs rasterised to non-blank pixels, a screenshot kept as
-- build/report-screenshot.png) and the must-hold: a 10-minute, 50-process
-- run gives a report under 2 MB that renders in under 2 s.
local S = require "support"
local json = require "denet.json"
local report = require "denet.report"

local BUILD = os.getenv("BUILD") or "build"
local ARTEFACT_DIR = S.root .. "/" .. BUILD

-- Attributes of the first tag matching `open_pat` (e.g. '<svg[^>]-id="chart%-cpu"[^>]*>').
local function attrs(tag)
  local t = {}
  for k, v in tag:gmatch('([%w%-]+)="([^"]*)"') do t[k] = v end
  return t
end

local function file_size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local n = f:seek("end")
  f:close()
  return n
end

local function mktempdir()
  return (S.sh("mktemp -d").out:gsub("%s+$", ""))
end

----------------------------------------------------------------------------
-- fixtures
----------------------------------------------------------------------------

local fixture_dir, tree_jsonl, tree_recs

-- A ~1 s tree run: 3 spinning children, then a 40 MiB memhog; a mark at
-- 300 ms from a -s hook and an RSS alert (threshold 20000 KiB).
local function record_tree_fixture()
  if tree_jsonl then return end
  fixture_dir = mktempdir()
  tree_jsonl = fixture_dir .. "/run.jsonl"
  local hooks = fixture_dir .. "/hooks.lua"
  S.write(hooks, [[
local p = ...
denet = require "denet"
denet.after(300, function() p:mark("half") end)
p:watch{ metric = "mem_rss_kb", above = 20000, name = "rss-20M" }
]])
  local r = S.denet({ "-q", "--write-env", "-s", hooks, "-o", tree_jsonl, "run", "--", "sh", "-c",
    ("%s 3 0.4; %s 40 0.4"):format(S.q(S.helper("spawner")), S.q(S.helper("memhog"))) })
  assert(r.code == 0, "recording failed: " .. r.err)
  tree_recs = S.records(S.slurp(tree_jsonl))
end

-- 10 minutes at 1 s, 50 children of changing load, mark and alert.
local function synthetic_long_run(path)
  local f = assert(io.open(path, "wb"))
  local t0 = 1700000000000
  f:write(json.encode({ kind = "metadata", pid = 1000, cmd = { "make", "-j50" }, executable = "/usr/bin/make",
    t0_ms = t0, capabilities = {} }), "\n")
  local function metrics(ts, cpu, rss, io, threads)
    return ('{"ts_ms":%d,"cpu_usage":%.2f,"mem_rss_kb":%d,"mem_vms_kb":%d,"disk_read_bytes":%d,'
      .. '"disk_write_bytes":%d,"syscall_read_bytes":%d,"syscall_write_bytes":%d,"page_faults_cached":%d,'
      .. '"page_faults_disk":0,"sys_net_rx_bytes":0,"sys_net_tx_bytes":0,"thread_count":%d,"uptime_secs":%d,"cpu_core":1}')
      :format(ts, cpu, rss, rss * 3, io, io // 2, io * 2, io, io // 4096, threads, (ts - t0) // 1000)
  end
  local wio = {}
  for k = 1, 600 do
    local ts = t0 + k * 1000
    local kids, scpu, srss, sio, sthr = {}, 0, 0, 0, 1
    for c = 1, 50 do
      local cpu = (math.sin(k / 30 + c) + 1) * 40 + (k == 300 and c == 7 and 500 or 0)
      local rss = 20000 + c * 1000 + (k * c) % 5000
      wio[c] = (wio[c] or 0) + c * 1000
      kids[c] = ('{"pid":%d,"ppid":1000,"command":"cc1 -O2 file%d.c","metrics":%s}')
        :format(2000 + c, c, metrics(ts, cpu, rss, wio[c], 1))
      scpu, srss, sio, sthr = scpu + cpu, srss + rss, sio + wio[c], sthr + 1
    end
    f:write(('{"kind":"tree","ts_ms":%d,"parent":%s,"children":[%s],"aggregated":{"ts_ms":%d,"cpu_usage":%.2f,'
      .. '"mem_rss_kb":%d,"mem_vms_kb":%d,"disk_read_bytes":%d,"disk_write_bytes":%d,"syscall_read_bytes":%d,'
      .. '"syscall_write_bytes":%d,"page_faults_cached":0,"page_faults_disk":0,"sys_net_rx_bytes":0,'
      .. '"sys_net_tx_bytes":0,"thread_count":%d,"process_count":51,"uptime_secs":%d,"mem_peak_kb":%d}}\n')
      :format(ts, metrics(ts, 0.5, 3000, 0, 1), table.concat(kids, ","), ts, scpu, srss + 3000, srss * 3,
        sio, sio // 2, sio * 2, sio, sthr, k, srss + 3000))
    if k == 120 then f:write(json.encode({ kind = "mark", ts_ms = ts, label = "link" }), "\n") end
    if k == 300 then
      f:write(json.encode({ kind = "alert", ts_ms = ts, rule = "cpu", metric = "cpu_usage", state = "fire",
        value = 2500, threshold = 2000, pid = 1000 }), "\n")
    end
  end
  f:write(json.encode({ kind = "exit", ts_ms = t0 + 600500, pid = 1000, exit_code = 0, signal = json.null,
    duration_secs = 600.5, totals = { source = "rusage", cpu_secs = 12000.5, mem_peak_kb = 30000 },
    sampled = { cpu_secs = 11990.1, mem_peak_kb = 1400000, samples = 600 },
    gap = { cpu_secs = 10.4 } }), "\n")
  f:close()
end

----------------------------------------------------------------------------
-- Chromium
----------------------------------------------------------------------------

local CHROMIUM_FLAGS = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
  .. "--disable-background-networking --disable-component-update --disable-sync"

local function chromium()
  local r = S.sh("{ command -v chromium || command -v chromium-browser; }")
  if r.code ~= 0 then return nil end
  return (r.out:gsub("%s+$", ""))
end

local function now()
  local r = S.sh("date +%s.%N")
  return tonumber(r.out)
end

-- Runs chromium headless on a file; mode = "--screenshot=PNG" or "--dump-dom".
-- Returns the result (stdout = the DOM with --dump-dom) and the wall time.
local function run_chromium(bin, file, mode, extra)
  local profile = mktempdir()
  local t = now()
  local r = S.sh(("%s %s --user-data-dir=%s --enable-logging=stderr --v=0 %s %s %s"):format(
    S.q(bin), CHROMIUM_FLAGS, S.q(profile), extra or "", mode, S.q("file://" .. file)))
  r.secs = now() - t
  S.sh("rm -rf " .. S.q(profile))
  return r
end

-- Appended to a report for the render check: once loaded, rasterises each
-- SVG (with the page's style sheet) on a canvas, counts the coloured and
-- non-white pixels and the drawn elements, and appends the result as JSON
-- in <pre id="render-check">.
local CHECK_JS = [[
<script>
window.addEventListener('load', function () {
  var css = document.querySelector('style').textContent, res = { charts: [], load_ms: 0 }, pending = 0;
  var nav = performance.getEntriesByType('navigation')[0];
  res.load_ms = nav ? nav.loadEventStart : -1;
  var svgs = document.querySelectorAll('svg.chart, svg.flame');
  function done() {
    if (--pending > 0) return;
    var pre = document.createElement('pre'); pre.id = 'render-check';
    pre.textContent = JSON.stringify(res); document.body.appendChild(pre);
  }
  pending = svgs.length + 1;
  svgs.forEach(function (svg) {
    var box = svg.getBoundingClientRect(), vb = svg.viewBox.baseVal;
    var e = { id: svg.id, cls: svg.getAttribute('class'), w: box.width, h: box.height,
      lines: svg.querySelectorAll('path.line').length, events: svg.querySelectorAll('line.event-line').length,
      frames: svg.querySelectorAll('g.fr rect').length, colored: -1, nonwhite: -1 };
    res.charts.push(e);
    var clone = svg.cloneNode(true), st = document.createElementNS('http://www.w3.org/2000/svg', 'style');
    st.textContent = css; clone.insertBefore(st, clone.firstChild);
    clone.querySelectorAll('script').forEach(function (s) { s.remove(); });
    var img = new Image();
    img.onload = function () {
      var c = document.createElement('canvas'); c.width = vb.width; c.height = vb.height;
      var ctx = c.getContext('2d'); ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, c.width, c.height);
      ctx.drawImage(img, 0, 0);
      var d = ctx.getImageData(0, 0, c.width, c.height).data, col = 0, nw = 0;
      for (var i = 0; i < d.length; i += 4) {
        var mx = Math.max(d[i], d[i + 1], d[i + 2]), mn = Math.min(d[i], d[i + 1], d[i + 2]);
        if (mx - mn > 60) col++;
        if (mn < 235) nw++;
      }
      e.colored = col; e.nonwhite = nw; done();
    };
    img.onerror = function () { e.colored = -2; done(); };
    img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(new XMLSerializer().serializeToString(clone));
  });
  done();
});
</script>
]]

local function render_check(bin, recs_or_path, opts)
  local dir = mktempdir()
  local page = dir .. "/check.html"
  opts = opts or {}
  opts.extra_html = CHECK_JS
  S.write(page, (report.build(recs_or_path, opts)))
  local r = run_chromium(bin, page, "--dump-dom", "--virtual-time-budget=5000")
  S.sh("rm -rf " .. S.q(dir))
  local js = r.out:match('<pre id="render%-check">(.-)</pre>')
  assert(js, "no render-check output; stderr: " .. r.err:sub(1, 2000))
  js = js:gsub("&quot;", '"'):gsub("&lt;", "<"):gsub("&gt;", ">"):gsub("&amp;", "&")
  return json.decode(js), r
end

local function uncaught(stderr)
  local out = {}
  for line in stderr:gmatch("[^\n]+") do
    if line:find("Uncaught", 1, true) or line:find("CONSOLE", 1, true) and line:find("rror", 1, true) then
      out[#out + 1] = line
    end
  end
  return out
end

----------------------------------------------------------------------------
-- specs
----------------------------------------------------------------------------

describe("denet report (CLI)", function()
  setup(record_tree_fixture)

  it("writes FILE.html beside the input by default, prints the path, exits 0", function()
    local r = S.denet({ "report", tree_jsonl })
    assert.are.equal(0, r.code, r.err)
    local out = fixture_dir .. "/run.html"
    assert.are.equal(out .. "\n", r.out)
    local html = assert(S.slurp(out))
    assert.truthy(html:find("^<!DOCTYPE html>"))
    assert.truthy(html:find("</html>\n$"))
  end)

  it("honours -o and reports errors with exit status 1", function()
    local out = fixture_dir .. "/custom-name.html"
    local r = S.denet({ "report", tree_jsonl, "-o", out })
    assert.are.equal(0, r.code, r.err)
    assert.are.equal(out .. "\n", r.out)
    assert.truthy(file_size(out) > 1000)
    r = S.denet({ "report", fixture_dir .. "/missing.jsonl" })
    assert.are.equal(1, r.code)
    assert.truthy(r.err:find("cannot read", 1, true))
    local empty = fixture_dir .. "/nosamples.jsonl"
    S.write(empty, '{"kind":"metadata","pid":1,"cmd":["x"],"executable":"/x","t0_ms":1}\nnot json\n')
    r = S.denet({ "report", empty })
    assert.are.equal(1, r.code)
    assert.truthy(r.err:find("no samples", 1, true))
    assert.truthy(r.err:find("skipped 1 malformed", 1, true))
    r = S.denet({ "report", tree_jsonl, "-o", fixture_dir .. "/no/such/dir/x.html" })
    assert.are.equal(1, r.code)
    assert.truthy(r.err:find("cannot write", 1, true))
  end)

  it("has the header, summary, charts, process charts and events; no flame graph without off-CPU data", function()
    local html = S.slurp(fixture_dir .. "/run.html")
    local meta = S.of_kind(tree_recs, "metadata")[1]
    local env = S.of_kind(tree_recs, "env")[1]
    assert.truthy(html:find("<h1>denet report</h1>", 1, true))
    assert.truthy(html:find(report.escape(env.host), 1, true), "host from the env record")
    assert.truthy(html:find("spawner", 1, true), "the command")
    -- summary: the stats fields and the exact / sampled / gap table
    for _, f in ipairs { "total_time_secs", "sample_count", "max_processes", "peak_mem_rss_kb",
      "avg_cpu_usage", "total_disk_write_bytes" } do
      assert.truthy(html:find('data-field="' .. f .. '"', 1, true), f)
    end
    assert.truthy(html:find('<table class="exact">', 1, true))
    assert.truthy(html:find("<th>gap</th>", 1, true))
    -- what watching cost: the exit record's overhead, its CPU as recorded
    local ov = S.of_kind(tree_recs, "exit")[1].overhead
    assert.truthy(html:find('<table class="kv overhead">', 1, true))
    assert.truthy(html:find('data-field="overhead.cpu_secs"><th>denet CPU</th><td>' ..
      report.fmt_num(ov.cpu_secs) .. " s", 1, true), "denet CPU " .. ov.cpu_secs)
    assert.truthy(html:find('data-field="overhead.samples_late"', 1, true))
    -- 5 whole-tree charts + 2 per-process charts
    assert.are.equal(7, S.count(html, '<svg class="chart"'))
    for _, id in ipairs { "chart-cpu", "chart-mem", "chart-disk", "chart-syscall", "chart-counts",
      "chart-proc-cpu", "chart-proc-rss" } do
      assert.truthy(html:find('id="' .. id .. '"', 1, true), id)
    end
    assert.truthy(S.count(html, '<path class="line"') >= 11)
    -- every chart carries every alert and mark as a labelled line
    local nev = #S.of_kind(tree_recs, "alert") + #S.of_kind(tree_recs, "mark")
    assert.truthy(#S.of_kind(tree_recs, "alert") >= 1, "the fixture has an alert")
    assert.are.equal(1, #S.of_kind(tree_recs, "mark"))
    assert.are.equal(7 * nev, S.count(html, '<line class="event%-line"'))
    assert.truthy(html:find(">half</text>", 1, true))
    assert.truthy(html:find(">rss%-20M fire</text>"))
    assert.truthy(html:find("<h2>Alerts and marks</h2>", 1, true))
    -- no off-CPU records: no flame graph section at all
    assert.is_nil(html:find("Off-CPU", 1, true))
    assert.is_nil(html:find('class="flame"', 1, true))
    -- nor syscall figures (no --enable-ebpf): no Syscalls section
    assert.is_nil(html:find('id="syscalls"', 1, true))
    assert.is_nil(html:find("chart-syscalls", 1, true))
    -- the header names the monitored process, its executable and start
    assert.truthy(html:find("<tr><th>pid</th><td>" .. meta.pid .. "</td></tr>", 1, true), "pid " .. meta.pid)
    assert.truthy(html:find("<tr><th>executable</th><td><code>" .. report.escape(meta.executable)
      .. "</code></td></tr>", 1, true), "executable")
  end)

  it("shows the host the run was recorded on, also without --write-env", function()
    local f = assert(io.open("/proc/sys/kernel/hostname"))
    local host = f:read("l")
    f:close()
    local jsonl = fixture_dir .. "/noenv.jsonl"
    -- (a command that lasts a few samples: one that ends before the first
    -- has no tree record, and a report needs samples)
    local r = S.denet({ "-q", "-i", "50", "-o", jsonl, "run", "--", "sleep", "0.3" })
    assert.are.equal(0, r.code, r.err)
    local meta = S.of_kind(S.records(S.slurp(jsonl)), "metadata")[1]
    assert.are.equal(host, meta.host)
    assert.are.equal(0, #S.of_kind(S.records(S.slurp(jsonl)), "env"))
    r = S.denet({ "report", jsonl })
    assert.are.equal(0, r.code, r.err)
    local html = S.slurp(fixture_dir .. "/noenv.html")
    assert.truthy(html:find("<tr><th>host</th><td>" .. report.escape(host) .. "</td></tr>", 1, true))
    -- the env record, when there is one, is the machine's description
    local recs = { { kind = "metadata", pid = 1, cmd = { "x" }, t0_ms = 0, host = "meta-host" },
      { kind = "tree", ts_ms = 100, aggregated = { ts_ms = 100, cpu_usage = 1 } } }
    assert.truthy(report.build(recs):find("<tr><th>host</th><td>meta-host</td></tr>", 1, true))
    table.insert(recs, 2, { kind = "env", ts_ms = 0, host = "env-host" })
    assert.truthy(report.build(recs):find("<tr><th>host</th><td>env-host</td></tr>", 1, true))
  end)

  it("draws the alert line at its time on the time axis", function()
    local html = S.slurp(fixture_dir .. "/run.html")
    local meta = S.of_kind(tree_recs, "metadata")[1]
    local exit = S.of_kind(tree_recs, "exit")[1]
    local alert = S.of_kind(tree_recs, "alert")[1]
    for _, id in ipairs { "chart-cpu", "chart-mem", "chart-proc-rss" } do
      local svg = html:match('<svg class="chart" id="' .. id:gsub("%-", "%%-") .. '".-</svg>')
      local a = attrs(svg:match("^<svg[^>]*>"))
      -- the axis runs from the start of monitoring to the exit record
      assert.are.equal(meta.t0_ms, tonumber(a["data-t0"]))
      assert.are.equal(exit.ts_ms, tonumber(a["data-t1"]))
      local x0, x1 = tonumber(a["data-x0"]), tonumber(a["data-x1"])
      local expect = x0 + (alert.ts_ms - meta.t0_ms) / (exit.ts_ms - meta.t0_ms) * (x1 - x0)
      local line = svg:match('<g class="event alert" data%-ts="' .. alert.ts_ms .. '">.-(<line[^>]*>)')
      assert.truthy(line, "alert line in " .. id)
      local lx = tonumber(attrs(line).x1)
      assert.truthy(math.abs(lx - expect) <= 1.5, ("%s: alert at x=%s, expected %.1f"):format(id, lx, expect))
      -- and the x axis tick at 0 s sits at x0
      local tick0 = svg:match('<line x1="([%d.]+)"[^>]*/><text class="xlab"[^>]*>0%.?0*s?<')
      assert.are.equal(x0, tonumber(tick0))
    end
  end)

  it("is self-contained: no external scripts, styles, fonts or images", function()
    local html = S.slurp(fixture_dir .. "/run.html")
    assert.is_nil(html:find("<link", 1, true))
    assert.is_nil(html:find("<img", 1, true))
    assert.is_nil(html:find("<script[^>]*src="))
    assert.is_nil(html:find("@import", 1, true))
    assert.is_nil(html:find("url%("))
    local stripped = html:gsub('xmlns="http://www%.w3%.org/2000/svg"', "")
      :gsub("'http://www%.w3%.org/2000/svg'", "")
    assert.is_nil(stripped:find("https?://"))
    assert.truthy(file_size(fixture_dir .. "/run.html") < 300 * 1024)
  end)
end)

describe("denet.report (module)", function()
  setup(record_tree_fixture)

  it("builds from a path, records or an iterator; sections can be chosen and added", function()
    local a = report.build(tree_jsonl)
    local b = report.build(tree_recs)
    assert.are.equal(7, S.count(a, '<svg class="chart"'))
    assert.are.equal(7, S.count(b, '<svg class="chart"'))
    local read = require "denet.read"
    local c = report.build(read(tree_jsonl))
    assert.are.equal(7, S.count(c, '<svg class="chart"'))
    local v = report.build(tree_recs, { title = "nightly", sections = { "header",
      function(m) return "<p id=custom>" .. #m.samples .. " samples</p>" end, "charts" } })
    assert.truthy(v:find("<title>nightly</title>", 1, true))
    assert.truthy(v:find("<p id=custom>%d+ samples</p>"))
    assert.are.equal(5, S.count(v, '<svg class="chart"'))
    assert.is_nil(v:find("Top processes", 1, true))
    assert.has_error(function() report.build(tree_recs, { sections = { "nope" } }) end)
    assert.has_error(function() report.build("/nonexistent/file.jsonl") end)
  end)

  it("downsample keeps at most max_points points and the extremes", function()
    local ts, v = {}, {}
    for i = 1, 100000 do ts[i] = i * 10; v[i] = i % 97 end
    v[54321] = 1e6
    v[77777] = -5
    local t2, v2 = report.downsample(ts, v, 1000)
    assert.truthy(#t2 <= 1000, #t2)
    local mx, mn = -math.huge, math.huge
    for i, x in ipairs(v2) do
      mx, mn = math.max(mx, x), math.min(mn, x)
      if i > 1 then assert.truthy(t2[i] >= t2[i - 1]) end
    end
    assert.are.equal(1e6, mx)
    assert.are.equal(-5, mn)
    -- short series are untouched
    local t3 = report.downsample({ 1, 2, 3 }, { 4, 5, 6 }, 1000)
    assert.are.same({ 1, 2, 3 }, t3)
  end)

  it("rates are per-second derivatives of the cumulative counters", function()
    local _, r = report.rates({ 1000, 1500, 2500, 3000 }, { 0, 500, 500, 100 })
    assert.are.same({ 0, 1000, 0, 0 }, r)
  end)

  it("draws the top N processes and the rest as others", function()
    local recs = {}
    recs[1] = { kind = "metadata", pid = 1, cmd = { "top" }, t0_ms = 0 }
    for k = 1, 5 do
      local kids, sum = {}, 1
      for c = 1, 12 do
        kids[c] = { pid = 100 + c, command = "w" .. c, metrics = { cpu_usage = c, mem_rss_kb = 1000 * c } }
        sum = sum + c
      end
      recs[#recs + 1] = { kind = "tree", ts_ms = k * 100, parent = { cpu_usage = 1, mem_rss_kb = 10 },
        children = kids, aggregated = { ts_ms = k * 100, cpu_usage = sum, mem_rss_kb = 78010, process_count = 13 } }
    end
    local html = report.build(recs, { top = 3 })
    local cpu = html:match('<svg class="chart" id="chart%-proc%-cpu".-</svg>')
    assert.are.equal(4, S.count(cpu, '<path class="line"'))
    assert.truthy(cpu:find("112 w12", 1, true))
    assert.truthy(cpu:find("110 w10", 1, true))
    assert.is_nil(cpu:find("109 w9", 1, true))
    assert.truthy(html:find("others (10 processes)", 1, true))
  end)

  it("shortens a long command to its program's name, not to the start of its path", function()
    local long = "/tmp/" .. ("0123456789abcdef"):rep(4) .. "/build/helpers/busy"
    assert.are.equal(".../busy 0.3", report.short_command(long .. " 0.3"))
    assert.are.equal("busy 0.3", report.short_command("busy 0.3"))
    assert.are.equal(".../busy 0.3", report.short_command({ long, "0.3" }))
    local cut = report.short_command(long .. " " .. ("x"):rep(80), 30)
    assert.are.equal(".../busy " .. ("x"):rep(18) .. "...", cut)
    assert.are.equal(30, #cut)
    -- never inside a UTF-8 character
    assert.are.equal(("é"):rep(8) .. "...", report.short_command(("é"):rep(40), 20))
    local recs = { { kind = "metadata", pid = 1, cmd = { "sh" }, t0_ms = 0 } }
    for k = 1, 3 do
      recs[#recs + 1] = { kind = "tree", ts_ms = k * 100, parent = { cpu_usage = 1, mem_rss_kb = 10 },
        children = { { pid = 2, command = long .. " 0.3", metrics = { cpu_usage = 90, mem_rss_kb = 100 } } },
        aggregated = { ts_ms = k * 100, cpu_usage = 91, mem_rss_kb = 110, process_count = 2 } }
    end
    local cpu = report.build(recs):match('<svg class="chart" id="chart%-proc%-cpu".-</svg>')
    assert.truthy(cpu:find("2 …/busy 0.3", 1, true))
  end)

  it("merges off-CPU stacks into a flame graph with widths by off-CPU time", function()
    local function st(names, off, tid)
      local frames = {}
      for i, n in ipairs(names) do frames[i] = { name = n, module = i == 1 and "[kernel]" or "/bin/app", addr = "0x1", offset = 1 } end
      return { pid = 7, tid = tid or 7, comm = "app", state = "S", off_ns = off, count = 1, frames = frames }
    end
    local recs = {
      { kind = "tree", ts_ms = 0, aggregated = { ts_ms = 0, cpu_usage = 0 } },
      { kind = "offcpu", ts_ms = 100, window_ms = 100, stacks = {
        st({ "schedule", "read", "main" }, 3e6), st({ "schedule", "poll", "main" }, 1e6, 8) } },
      { kind = "offcpu", ts_ms = 200, window_ms = 100, stacks = { st({ "schedule", "read", "main" }, 4e6) } },
    }
    local merged = report.merge_stacks({ recs[2], recs[3] })
    assert.are.equal(2, #merged)
    assert.are.equal(7e6, merged[1].off_ns)
    assert.are.equal(2, merged[1].count)
    local html = report.build(recs, { width = 1000 })
    assert.truthy(html:find("<h2>Off-CPU time</h2>", 1, true))
    assert.truthy(html:find("<h3>Top blocking stacks</h3>", 1, true))
    local svg = html:match('<svg class="flame".-</svg>')
    -- all, app, main, read, poll, schedule x2
    assert.are.equal(7, S.count(svg, "<rect "))
    -- read: 7 of 8 ms -> 875 units wide (less the 0.5 gap); hover text with ms and share
    local w = svg:match("<title>read — 7%.000 ms off%-CPU %(87%.50%%%)</title><rect [^>]-width=\"([%d.]+)\"")
    assert.truthy(w, "read's frame")
    assert.truthy(math.abs(tonumber(w) - 874.5) < 0.2, w)
    -- main is the outermost frame: right above the comm, below read
    local function y_of(name)
      return tonumber(svg:match("<title>" .. name .. " — .-<rect [^>]-y=\"([%d.]+)\""))
    end
    assert.truthy(y_of("all") > y_of("app") and y_of("app") > y_of("main") and y_of("main") > y_of("read"))
  end)
end)

describe("denet report of an --enable-ebpf run", function()
  it("has the flame graph and the top blocking stacks", function()
    if not S.is_root() then
      pending("needs root for --enable-ebpf")
      return
    end
    local dir = mktempdir()
    local jsonl = dir .. "/ebpf.jsonl"
    local r = S.sh(("{ (sleep 0.05; echo go) | %s --json --enable-ebpf --out %s run %s >/dev/null; }"):format(
      S.q(S.bin), S.q(jsonl), S.q(S.helper("blocker"))))
    local recs = S.records(S.slurp(jsonl) or "")
    if #S.of_kind(recs, "offcpu") == 0 then
      pending("no offcpu records (eBPF unavailable here?): " .. r.err:sub(1, 200))
      return
    end
    r = S.denet({ "report", jsonl })
    assert.are.equal(0, r.code, r.err)
    local html = S.slurp(dir .. "/ebpf.html")
    assert.truthy(html:find("<h2>Off-CPU time</h2>", 1, true))
    assert.are.equal(1, S.count(html, '<svg class="flame"'))
    assert.truthy(html:find(">wait_here_on_pipe<", 1, true) or html:find("<title>wait_here_on_pipe ", 1, true))
    assert.truthy(html:find("<h3>Top blocking stacks</h3>", 1, true))
    assert.truthy(S.count(html, "<tr><td class=\"num\">") >= 2)
    local c = chromium()
    if c then
      local res, cr = render_check(c, jsonl)
      assert.are.same({}, uncaught(cr.err))
      local flame
      for _, e in ipairs(res.charts) do if e.cls == "flame" then flame = e end end
      assert.truthy(flame and flame.frames >= 10 and flame.colored > 5000, json.encode(flame))
    end
    S.sh("rm -rf " .. S.q(dir))
  end)
end)

describe("denet report of a syscall-traced run in headless Chromium", function()
  it("draws the category bands", function()
    if not S.is_root() then
      pending("needs root for --enable-ebpf")
      return
    end
    local c = chromium()
    if not c then
      pending("chromium is not installed (tools/deps.sh installs Debian's chromium)")
      return
    end
    local dir = mktempdir()
    local jsonl = dir .. "/calls.jsonl"
    local r = S.denet({ "--enable-ebpf", "--no-offcpu", "-q", "-i", "50", "-o", jsonl, "run", "--",
      S.helper("getppids"), "5000", "300" })
    assert.are.equal(0, r.code, r.err)
    local html = report.build(jsonl)
    if not html:find('id="chart-syscalls"', 1, true) then
      pending("no syscall figures (eBPF unavailable here?): " .. r.err:sub(1, 200))
      return
    end
    local res, cr = render_check(c, jsonl)
    assert.are.same({}, uncaught(cr.err))
    local calls
    for _, e in ipairs(res.charts) do if e.id == "chart-syscalls" then calls = e end end
    assert.truthy(calls, "chart-syscalls not rendered")
    assert.truthy(calls.w > 500 and calls.h > 100, json.encode(calls))
    -- the bands are filled areas: many coloured pixels
    assert.truthy(calls.colored > 1000, json.encode(calls))
    S.sh("rm -rf " .. S.q(dir))
  end)
end)

describe("denet report in headless Chromium", function()
  setup(record_tree_fixture)

  it("loads without console errors, draws every chart, and leaves a screenshot", function()
    local c = chromium()
    if not c then
      pending("chromium is not installed (tools/deps.sh installs Debian's chromium)")
      return
    end
    local res, r = render_check(c, tree_jsonl)
    assert.are.same({}, uncaught(r.err))
    assert.are.equal(7, #res.charts)
    for _, e in ipairs(res.charts) do
      assert.truthy(e.w > 500 and e.h > 100, json.encode(e))
      assert.truthy(e.lines >= 1 and e.events >= 2, json.encode(e))
      -- series lines, event lines and labels are coloured pixels
      assert.truthy(e.colored > 300, json.encode(e))
      assert.truthy(e.nonwhite > 3000, json.encode(e))
    end
    -- the screenshot of the real report (no check script), kept as an artefact
    local html = fixture_dir .. "/run.html"
    assert.are.equal(0, S.denet({ "report", tree_jsonl, "-o", html }).code)
    local png = ARTEFACT_DIR .. "/report-screenshot.png"
    os.remove(png)
    local s = run_chromium(c, html, "--screenshot=" .. S.q(png), "--window-size=1280,2000")
    assert.are.same({}, uncaught(s.err))
    local data = S.slurp(png)
    assert.truthy(data, "no screenshot: " .. s.err:sub(1, 500))
    assert.are.equal("\137PNG", data:sub(1, 4))
    local w = string.unpack(">I4", data, 17)
    local h = string.unpack(">I4", data, 21)
    assert.are.equal(1280, w)
    assert.are.equal(2000, h)
    assert.truthy(#data > 20 * 1024, #data)
  end)
end)

describe("denet report of a 10-minute, 50-process run", function()
  it("weighs under 2 MB and renders in Chromium in under 2 s", function()
    local dir = mktempdir()
    local jsonl = dir .. "/long.jsonl"
    synthetic_long_run(jsonl)
    local r = S.denet({ "report", jsonl })
    assert.are.equal(0, r.code, r.err)
    local html_path = dir .. "/long.html"
    local size = file_size(html_path)
    assert.truthy(size < 2 * 1024 * 1024, "report is " .. tostring(size) .. " bytes")
    local html = S.slurp(html_path)
    assert.are.equal(7, S.count(html, '<svg class="chart"'))
    assert.truthy(html:find("others (43 processes)", 1, true))
    assert.is_nil(html:find('class="flame"', 1, true))
    -- the whole tree's CPU peak (a child's spike at k = 300) sets the y range
    local ymax = tonumber(html:match('<svg class="chart" id="chart%-cpu"[^>]-data%-ymax="([^"]+)"'))
    assert.truthy(ymax >= 2500, ymax)
    local c = chromium()
    if not c then
      pending("chromium is not installed")
      return
    end
    local blank = dir .. "/blank.html"
    S.write(blank, "<!DOCTYPE html><html><body></body></html>")
    -- warm up, then time the report against a blank page, best of 2
    run_chromium(c, blank, "--screenshot=" .. S.q(dir .. "/b.png"), "--window-size=1280,2000")
    local best = math.huge
    for _ = 1, 2 do
      local b = run_chromium(c, blank, "--screenshot=" .. S.q(dir .. "/b.png"), "--window-size=1280,2000")
      local s = run_chromium(c, html_path, "--screenshot=" .. S.q(dir .. "/r.png"), "--window-size=1280,2000")
      assert.are.same({}, uncaught(s.err))
      best = math.min(best, s.secs - b.secs)
    end
    assert.truthy(best < 2.0, ("rendering took %.2f s more than a blank page"):format(best))
    local res = render_check(c, jsonl)
    assert.truthy(res.load_ms >= 0 and res.load_ms < 2000, "load event at " .. tostring(res.load_ms) .. " ms")
    for _, e in ipairs(res.charts) do assert.truthy(e.colored > 300, json.encode(e)) end
    S.sh("rm -rf " .. S.q(dir))
  end)
end)
