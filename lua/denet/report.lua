--[[
denet.report — a self-contained HTML report of a recorded run (the public
`denet.report`; `denet report FILE [-o OUT.html]` writes report.build(FILE)).

Owns: turning records (the kinds of docs/data-format.md: metadata, env, tree, sample, exit,
alert, mark, offcpu; the eBPF syscall figures) into one HTML page with inline CSS, inline SVG charts
and a few lines of inline JavaScript for hover values. No external fonts,
scripts, images or network access.

  report.build(recs_or_path [, opts]) -> html
      recs_or_path: an array of records, an iterator (as denet.read returns)
      or the path of a JSONL file (read with denet.read; malformed lines are
      skipped). Errors when a path cannot be read.
      opts (all optional):
        title       = page title (default "denet report: <command>")
        top         = processes drawn on their own in the per-process charts
                      (default 8; the rest are summed as "others")
        max_points  = most points drawn per series (default 1000: longer
                      series are cut into max_points/2 time buckets, each
                      drawn by its minimum and maximum, so peaks stay)
        width, height = size of a time chart in SVG units (1100 x 220)
        top_stacks  = rows of the top blocking stacks table (default 15)
        sections    = list of section names or functions(model, opts) ->
                      html, in page order (default report.default_sections)
        css, js     = replace the inline style sheet / script
        extra_html  = appended at the end of the body

  report.render(model [, opts]) -> html   (build = model + render)

  report.model(recs_or_path) -> model
      The records sorted into: meta, env, exit (last one), trees (tree
      records), samples (aggregates as analysis.samples), alerts, marks,
      offcpu (records), summary (analysis.summary), syscalls and
      syscall_windows (analysis.syscalls), gpu and gpu_windows
      (analysis.gpu), t0/t1 (time axis, ms),
      skipped (malformed lines, when read from a path), source (the path).

  Section builders, each (model, opts) -> html ("" when there is nothing
  to show, e.g. no offcpu records: the flame graph section is left out):
      report.sections.header, .summary, .events, .charts, .gpu (the NVML
      figures: utilization and memory charts), .processes, .syscalls, .offcpu
  report.default_sections = { "header", "summary", "charts", "gpu",
                              "processes", "events", "syscalls", "offcpu" }

  Building blocks:
      report.line_chart{ title=, series={ {name=, ts={}, v={}, color=} ... },
          t0=, t1=, unit="%"|"KiB"|"B/s"|"/s"|"count", events=model.events,
          width=, height=, max_points=, id=, stacked= } -> <svg> html
        Series values may be `false` for a hole (a process not alive).
        stacked=true: filled bands stacked in series order, all series on
        series[1].ts (holes count as 0); more points than max_points are
        averaged over max_points/2 buckets (min/max would not add up).
        The SVG carries data-t0/data-t1 (ms) and data-x0/data-x1 (the plot
        area's x range in SVG units): x = x0 + (ts - t0)/(t1 - t0)*(x1 - x0).
      report.downsample(ts, v, max_points) -> ts2, v2 (min/max per bucket)
      report.rates(ts, v) -> ts, per-second rates of a cumulative counter
      report.syscall_series(model) -> ts, series: per-second syscalls of
        each category, one point per sample window (the Syscalls chart)
      report.flame_graph(model.offcpu, opts) -> <svg> html, or "" if empty
      report.merge_stacks(offcpu_records) -> list of merged stacks, largest first
      report.page(title, body, opts) -> the complete html document
      report.escape(s) -> s with & < > " ' escaped
      report.human_bytes(n), report.human_kib(n), report.human_ns(n), report.fmt_num(n)
      report.short_command(cmd, width, ellipsis) -> text of at most
        `width` bytes (optional, default 60): a command line (a string,
        or an argv list joined with spaces) that is too long loses the
        directory of its program first ("/very/long/path/busy 0.3" ->
        ".../busy 0.3": the program's name is what a reader needs), then
        its tail is cut and ends with `ellipsis` (optional, default
        "..."). Never cuts inside a UTF-8 character.

A user script can build its own variant, e.g.

  local report = require("denet").report
  local html = report.build("run.jsonl", {
    top = 4,
    sections = { "header", function(m) return "<p>nightly run</p>" end,
                 "charts", "offcpu" } })
--]]

local json = require "denet.json"
local read = require "denet.read"
local analysis = require "denet.analysis"

local null = json.null
local format, concat, sort = string.format, table.concat, table.sort
local floor, max, min, huge = math.floor, math.max, math.min, math.huge

local report = {}

----------------------------------------------------------------------------
-- small helpers
----------------------------------------------------------------------------

local function v_(x) if x == null then return nil end return x end
local function num(x) if type(x) == "number" and x == x and x ~= huge and x ~= -huge then return x end end

local ESC = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }
local function esc(s)
  if s == nil or s == null then return "" end
  return (tostring(s):gsub("[&<>\"']", ESC))
end
report.escape = esc

local function fmt_num(n)
  if n == nil or n == null then return "–" end
  if type(n) ~= "number" then return esc(n) end
  if math.type(n) == "integer" then
    local s = tostring(n)
    local neg = s:sub(1, 1) == "-"
    if neg then s = s:sub(2) end
    s = s:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
    return (neg and "-" or "") .. s
  end
  if n ~= n then return "NaN" end
  local a = math.abs(n)
  if a >= 100 then return format("%.1f", n) end
  if a >= 1 then return format("%.2f", n) end
  if a == 0 then return "0" end
  return format("%.3g", n)
end
report.fmt_num = fmt_num

local function human_bytes(n)
  n = num(n)
  if not n then return "–" end
  local units = { "B", "KiB", "MiB", "GiB", "TiB" }
  local i, a = 1, math.abs(n)
  while a >= 1024 and i < #units do a, i = a / 1024, i + 1 end
  if i == 1 then return format("%d B", floor(n + 0.5)) end
  local s = a >= 100 and format("%.0f", a) or a >= 10 and format("%.1f", a) or format("%.2f", a)
  return (n < 0 and "-" or "") .. s .. " " .. units[i]
end
report.human_bytes = human_bytes
report.human_kib = function(kib) return num(kib) and human_bytes(kib * 1024) or "–" end

local function short_command(cmd, width, ell)
  width, ell = width or 60, ell or "..."
  if type(cmd) == "table" then
    local words = {}
    for i, a in ipairs(cmd) do words[i] = tostring(v_(a) or "") end
    cmd = concat(words, " ")
  end
  cmd = tostring(cmd)
  if #cmd <= width then return cmd end
  local prog, rest = cmd:match("^(%S+)(.*)$")
  local base = prog and prog:match("([^/]+)/*$")
  if base and base ~= prog and #ell + 1 + #base < #prog then cmd = ell .. "/" .. base .. rest end
  if #cmd <= width then return cmd end
  local cut = math.max(0, width - #ell)
  while cut > 0 and (cmd:byte(cut + 1) or 0) & 0xC0 == 0x80 do cut = cut - 1 end
  return cmd:sub(1, cut) .. ell
end
report.short_command = short_command

local function human_secs(s)
  s = num(s)
  if not s then return "–" end
  if s < 1 then return format("%.0f ms", s * 1000) end
  if s < 120 then return format("%.2f s", s) end
  if s < 7200 then return format("%d min %02d s", floor(s / 60), floor(s % 60)) end
  return format("%d h %02d min", floor(s / 3600), floor(s % 3600 / 60))
end
report.human_secs = human_secs

-- A duration in ns: "128 ns", "18.9 µs", "2.72 ms", "1.44 s" (analysis.human_ns).
local function human_ns(ns)
  return analysis.human_ns(num(ns), "µs", "–")
end
report.human_ns = human_ns

local function iso_utc(ms)
  ms = num(ms)
  if not ms then return "–" end
  return os.date("!%Y-%m-%d %H:%M:%S", floor(ms / 1000)) .. format(".%03d UTC", floor(ms % 1000))
end

-- Shell-like rendering of an argv list.
local function argv_text(cmd)
  if type(cmd) ~= "table" then return tostring(v_(cmd) or "") end
  local out = {}
  for i, a in ipairs(cmd) do
    a = tostring(v_(a) or "")
    if a == "" or a:find("[^%w%-_./=:,+@%%]") then a = "'" .. a:gsub("'", "'\\''") .. "'" end
    out[i] = a
  end
  return concat(out, " ")
end

----------------------------------------------------------------------------
-- model
----------------------------------------------------------------------------

local function load_records(src)
  if type(src) == "string" then
    local it, st = read(src)
    if not it then error("cannot read '" .. src .. "': " .. tostring(st), 3) end
    local recs = {}
    for rec in it, st do recs[#recs + 1] = rec end
    return recs, st.skipped, src
  elseif type(src) == "function" then
    local recs = {}
    for rec in src do recs[#recs + 1] = rec end
    return recs, 0
  elseif type(src) == "table" then
    return src, 0
  end
  error("bad argument #1 to 'build' (records, iterator or path expected, got " .. type(src) .. ")", 3)
end

function report.model(src)
  local recs, skipped, path = load_records(src)
  local m = { trees = {}, alerts = {}, marks = {}, offcpu = {}, events = {},
    skipped = skipped, source = path, records = recs }
  for _, rec in ipairs(recs) do
    if type(rec) == "table" then
      local k = rec.kind
      if k == nil then read.infer_kind(rec); k = rec.kind end
      if k == "metadata" then m.meta = m.meta or rec
      elseif k == "env" then m.env = m.env or rec
      elseif k == "exit" then m.exit = rec
      elseif k == "tree" and type(rec.aggregated) == "table" then m.trees[#m.trees + 1] = rec
      elseif k == "alert" then m.alerts[#m.alerts + 1] = rec
      elseif k == "mark" then m.marks[#m.marks + 1] = rec
      elseif k == "offcpu" and type(rec.stacks) == "table" then m.offcpu[#m.offcpu + 1] = rec
      end
    end
  end
  m.samples = analysis.samples(recs)
  m.summary = analysis.summary(recs)
  m.syscalls, m.syscall_windows = analysis.syscalls(recs)
  m.gpu, m.gpu_windows = analysis.gpu(recs)
  -- the time axis: from the start of monitoring to the last thing seen
  local t0, t1 = huge, -huge
  local function see(t) t = num(t); if t then t0 = min(t0, t); t1 = max(t1, t) end end
  if m.meta then see(m.meta.t0_ms) end
  for _, s in ipairs(m.samples) do see(s.ts_ms) end
  for _, a in ipairs(m.alerts) do see(a.ts_ms) end
  for _, a in ipairs(m.marks) do see(a.ts_ms) end
  if m.exit then see(m.exit.ts_ms) end
  if t0 == huge then t0, t1 = 0, 1 end
  if t1 <= t0 then t1 = t0 + 1000 end
  m.t0, m.t1 = t0, t1
  for _, a in ipairs(m.alerts) do
    if num(a.ts_ms) then
      m.events[#m.events + 1] = { ts_ms = a.ts_ms, kind = "alert", state = v_(a.state),
        label = tostring(v_(a.rule) or "?") .. (a.state == "clear" and " clear" or " fire"),
        title = format("alert %s %s: %s = %s (threshold %s)", esc(v_(a.rule)), esc(v_(a.state)),
          esc(v_(a.metric)), fmt_num(v_(a.value)), fmt_num(v_(a.threshold))) }
    end
  end
  for _, a in ipairs(m.marks) do
    if num(a.ts_ms) then
      m.events[#m.events + 1] = { ts_ms = a.ts_ms, kind = "mark", label = tostring(v_(a.label) or ""),
        title = "mark: " .. esc(v_(a.label)) }
    end
  end
  sort(m.events, function(a, b) return a.ts_ms < b.ts_ms end)
  return m
end

----------------------------------------------------------------------------
-- series tools
----------------------------------------------------------------------------

-- Downsamples (ts, v) to at most max_points points: max_points/2 buckets
-- of equal time, each kept as its min and max points in time order. Holes
-- (false) are kept, one per run of holes.
function report.downsample(ts, v, max_points)
  max_points = max_points or 1000
  local n = #ts
  if n <= max_points then return ts, v end
  local nb = max(1, max_points // 2)
  local ta, tb = ts[1], ts[n]
  local span = (tb - ta)
  if span <= 0 then span = 1 end
  local ots, ov = {}, {}
  local function push(t, x) ots[#ots + 1] = t; ov[#ov + 1] = x end
  local i = 1
  while i <= n do
    local b = min(nb - 1, floor((ts[i] - ta) / span * nb))
    local lo_i, hi_i, hole = nil, nil, false
    local j = i
    while j <= n and min(nb - 1, floor((ts[j] - ta) / span * nb)) == b do
      local x = v[j]
      if x == false then
        -- flush what we have, then the hole
        if lo_i then
          if lo_i < hi_i then push(ts[lo_i], v[lo_i]); if hi_i ~= lo_i then push(ts[hi_i], v[hi_i]) end
          else push(ts[hi_i], v[hi_i]); if hi_i ~= lo_i then push(ts[lo_i], v[lo_i]) end end
          lo_i, hi_i = nil, nil
        end
        if not hole then push(ts[j], false) end
        hole = true
      else
        hole = false
        if not lo_i or x < v[lo_i] then lo_i = j end
        if not hi_i or x > v[hi_i] then hi_i = j end
      end
      j = j + 1
    end
    if lo_i then
      local a, c = min(lo_i, hi_i), max(lo_i, hi_i)
      push(ts[a], v[a])
      if c ~= a then push(ts[c], v[c]) end
    end
    i = j
  end
  return ots, ov
end

-- Per-second rates of a cumulative counter (negative steps, e.g. when a
-- process leaves the sum, count as 0). The first point's rate is 0.
function report.rates(ts, v)
  local out = {}
  for i = 1, #ts do
    if i == 1 or v[i] == false or v[i - 1] == false then
      out[i] = (v[i] == false) and false or 0
    else
      local dt = (ts[i] - ts[i - 1]) / 1000
      local d = v[i] - v[i - 1]
      out[i] = (dt > 0 and d > 0) and d / dt or 0
    end
  end
  return ts, out
end

local function agg_series(samples, field, running_max)
  local ts, v = {}, {}
  local peak = -huge
  for _, s in ipairs(samples) do
    local t = num(s.ts_ms)
    if t then
      local x = num(s[field])
      if running_max and x == nil then
        local r = num(s[running_max])
        if r then peak = max(peak, r); x = peak end
      end
      ts[#ts + 1] = t
      v[#v + 1] = x or 0
    end
  end
  return ts, v
end

----------------------------------------------------------------------------
-- charts
----------------------------------------------------------------------------

report.palette = { "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#2f4b7c", "#a0cbe8", "#8cd17d" }
report.others_color = "#9a9a9a"

local function nice_step(range, ticks)
  local raw = range / ticks
  local mag = 10 ^ floor(math.log(raw, 10))
  local r = raw / mag
  local step = r <= 1 and 1 or r <= 2 and 2 or r <= 2.5 and 2.5 or r <= 5 and 5 or 10
  return step * mag
end

local function byte_step(range, ticks)
  -- powers of two steps look better for memory
  local raw = range / ticks
  local s = 1
  while s * 2 <= raw do s = s * 2 end
  if s >= raw then return s end
  return s * 2
end

local function time_label(sec, span)
  if span >= 600 then
    return format("%d:%02d", floor(sec / 60), floor(sec % 60 + 0.5))
  end
  if span < 2 then return format("%.2fs", sec) end
  if span < 20 then return format("%.1fs", sec) end
  return format("%.0fs", sec)
end

local function y_label(y, unit)
  if unit == "KiB" then return report.human_kib(y)
  elseif unit == "B/s" then return human_bytes(y) .. "/s"
  elseif unit == "%" then return fmt_num(math.tointeger(y) or y) .. "%"
  elseif unit == "/s" then return fmt_num(math.tointeger(y) or y) .. "/s"
  end
  return fmt_num(math.tointeger(y) or y)
end

local stack_series, stacked_areas -- (stacked charts, below)

local function p1(x) -- one decimal, no trailing ".0"
  local s = format("%.1f", x)
  return (s:gsub("%.0$", ""))
end

-- Draws the event lines (alerts, marks) of a chart.
local function event_lines(events, X, top, bottom)
  if not events or #events == 0 then return "" end
  local out = { '<g class="events">' }
  for i, e in ipairs(events) do
    local x = X(e.ts_ms)
    local color = e.kind == "mark" and "#6a3d9a" or (e.state == "clear" and "#2ca02c" or "#d62728")
    local dash = e.kind == "mark" and ' stroke-dasharray="4 3"'
      or (e.state == "clear" and ' stroke-dasharray="2 2"' or "")
    local ly = top + 10 + ((i - 1) % 3) * 11
    local label = e.label
    if #label > 24 then label = label:sub(1, 22) .. "…" end
    out[#out + 1] = format(
      '<g class="event %s" data-ts="%s"><title>%s at %s s</title>'
      .. '<line class="event-line" x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s" stroke-width="1.5"%s/>'
      .. '<text x="%s" y="%s" fill="%s" class="event-label">%s</text></g>',
      e.kind == "mark" and "mark" or "alert", tostring(e.ts_ms), e.title,
      format("%.3f", (e.ts_ms - (X.t0 or 0)) / 1000), p1(x), p1(x), p1(top), p1(bottom),
      color, dash, p1(x + 3), p1(ly), color, esc(label))
  end
  out[#out + 1] = "</g>"
  return concat(out)
end

-- The series of a stacked chart, which share series[1].ts: each { ts, v,
-- lo, hi } with lo/hi the band's bottom and top (holes count as 0). A
-- longer series than max_points is averaged over max_points/2 buckets of
-- equal time (each at its last point's time): min/max per series, as
-- downsample keeps, would no longer add up.
stack_series = function(series, max_points)
  local ts = series[1] and series[1].ts or {}
  local n = #ts
  local nb = n > max_points and max(1, max_points // 2) or n
  local span = n > 0 and ts[n] - ts[1] or 0
  if span <= 0 then span = 1 end
  local bucket_of, bts = {}, {}
  for i = 1, n do
    local b = nb == n and i or min(nb - 1, floor((ts[i] - ts[1]) / span * nb)) + 1
    bucket_of[i] = b
    bts[b] = ts[i]
  end
  local order = {} -- the buckets that hold points, in time order
  for b = 1, nb do if bts[b] then order[#order + 1] = b end end
  local out, lo = {}, {}
  for j = 1, #order do lo[j] = 0 end
  for k, s in ipairs(series) do
    local sum, cnt = {}, {}
    for i = 1, n do
      local b = bucket_of[i]
      sum[b] = (sum[b] or 0) + (num(s.v[i]) or 0)
      cnt[b] = (cnt[b] or 0) + 1
    end
    local d = { ts = {}, v = {}, lo = {}, hi = {} }
    for j, b in ipairs(order) do
      local x = sum[b] / cnt[b]
      d.ts[j], d.v[j], d.lo[j], d.hi[j] = bts[b], x, lo[j], lo[j] + x
      lo[j] = lo[j] + x
    end
    out[k] = d
  end
  return out
end

-- The bands of a stacked chart: one filled path per series that is not
-- all zero, from its top edge forwards and its bottom edge back.
stacked_areas = function(series, drawn, X, Y, unit)
  local out = {}
  for i, s in ipairs(series) do
    local d = drawn[i]
    local vmx, vsum = 0, 0
    for _, x in ipairs(d.v) do vmx = max(vmx, x); vsum = vsum + x end
    if vmx > 0 then
      local pts = {}
      for j = 1, #d.ts do pts[#pts + 1] = (j == 1 and "M" or "L") .. p1(X(d.ts[j])) .. " " .. p1(Y(d.hi[j])) end
      for j = #d.ts, 1, -1 do pts[#pts + 1] = "L" .. p1(X(d.ts[j])) .. " " .. p1(Y(d.lo[j])) end
      out[#out + 1] = format('<path class="area" d="%sZ" fill="%s" fill-opacity="0.85"><title>%s — max %s, '
        .. 'mean %s</title></path>', concat(pts), s.color or report.palette[(i - 1) % #report.palette + 1],
        esc(s.name), esc(y_label(vmx, unit)), esc(y_label(vsum / #d.v, unit)))
    end
  end
  return concat(out)
end

local chart_seq = 0

function report.line_chart(o)
  chart_seq = chart_seq + 1
  local W, H = o.width or 1100, o.height or 220
  local ml, mr, mt, mb = 78, 16, 12, 26
  local x0, x1, y0, y1 = ml, W - mr, mt, H - mb -- plot area (y0 top)
  local t0, t1 = o.t0, o.t1
  if not t0 or not t1 then
    t0, t1 = huge, -huge
    for _, s in ipairs(o.series) do
      if #s.ts > 0 then t0 = min(t0, s.ts[1]); t1 = max(t1, s.ts[#s.ts]) end
    end
    if t0 == huge then t0, t1 = 0, 1 end
  end
  if t1 <= t0 then t1 = t0 + 1 end
  local function X(t) return x0 + (t - t0) / (t1 - t0) * (x1 - x0) end
  local Xt = setmetatable({ t0 = t0 }, { __call = function(_, t) return X(t) end })
  -- y range over the drawn points
  local vmax = 0
  local drawn = {}
  if o.stacked then
    drawn = stack_series(o.series, o.max_points or 1000)
    local top = drawn[#drawn]
    for _, x in ipairs(top and top.hi or {}) do if x > vmax then vmax = x end end
  else
    for i, s in ipairs(o.series) do
      local ts, v = report.downsample(s.ts, s.v, o.max_points or 1000)
      drawn[i] = { ts = ts, v = v }
      for _, x in ipairs(v) do if x and x > vmax then vmax = x end end
    end
  end
  if o.min_max and vmax < o.min_max then vmax = o.min_max end
  if vmax <= 0 then vmax = 1 end
  local ticks = 4
  local step = (o.unit == "KiB" or o.unit == "B/s") and byte_step(vmax, ticks) or nice_step(vmax, ticks)
  if o.unit == "count" and step < 1 then step = 1 end
  local ytop = step * math.ceil(vmax / step - 1e-9)
  if ytop <= 0 then ytop = step end
  local function Y(v) return y1 - v / ytop * (y1 - y0) end

  local out = {}
  out[#out + 1] = format('<svg class="chart" id="%s" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" '
    .. 'width="%d" height="%d" data-t0="%s" data-t1="%s" data-x0="%s" data-x1="%s" data-y0="%s" data-y1="%s" '
    .. 'data-ymax="%s" data-unit="%s" role="img" aria-label="%s">',
    esc(o.id or ("chart" .. chart_seq)), W, H, W, H, tostring(t0), tostring(t1), p1(x0), p1(x1), p1(y0), p1(y1),
    tostring(ytop), esc(o.unit or ""), esc(o.title or ""))
  -- grid and axes
  out[#out + 1] = '<g class="grid">'
  local k = 0
  while k * step <= ytop + 1e-9 do
    local y = Y(k * step)
    out[#out + 1] = format('<line x1="%s" x2="%s" y1="%s" y2="%s"/><text class="ylab" x="%s" y="%s">%s</text>',
      p1(x0), p1(x1), p1(y), p1(y), p1(x0 - 6), p1(y + 4), esc(y_label(k * step, o.unit)))
    k = k + 1
  end
  local span = (t1 - t0) / 1000
  local tstep = nice_step(span, 10)
  if span >= 600 then -- whole minutes / nice seconds
    for _, c in ipairs { 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400 } do
      if span / c <= 12 then tstep = c; break end
      tstep = c
    end
  end
  local tk = 0
  while tk * tstep <= span + 1e-9 do
    local x = X(t0 + tk * tstep * 1000)
    out[#out + 1] = format('<line x1="%s" x2="%s" y1="%s" y2="%s"/><text class="xlab" x="%s" y="%s">%s</text>',
      p1(x), p1(x), p1(y0), p1(y1 + 4), p1(x), p1(y1 + 16), esc(time_label(tk * tstep, span)))
    tk = tk + 1
  end
  out[#out + 1] = format('</g><rect class="frame" x="%s" y="%s" width="%s" height="%s"/>',
    p1(x0), p1(y0), p1(x1 - x0), p1(y1 - y0))
  -- series
  out[#out + 1] = '<g class="series">'
  if o.stacked then out[#out + 1] = stacked_areas(o.series, drawn, X, Y, o.unit) end
  for i, s in ipairs(o.stacked and {} or o.series) do
    local d, pen = {}, false
    local ts, v = drawn[i].ts, drawn[i].v
    local vmx, vmean, cnt = -huge, 0, 0
    for j = 1, #ts do
      local x = v[j]
      if x == false or x == nil then
        pen = false
      else
        d[#d + 1] = (pen and "L" or "M") .. p1(X(ts[j])) .. " " .. p1(Y(x))
        pen = true
      end
    end
    for _, x in ipairs(s.v) do if x then vmx = max(vmx, x); vmean = vmean + x; cnt = cnt + 1 end end
    if #d > 0 then
      local color = s.color or report.palette[(i - 1) % #report.palette + 1]
      out[#out + 1] = format('<path class="line" d="%s" stroke="%s"%s><title>%s — max %s, mean %s</title></path>',
        concat(d), color, s.dash and (' stroke-dasharray="' .. s.dash .. '"') or "", esc(s.name),
        esc(y_label(vmx, o.unit)), esc(y_label(cnt > 0 and vmean / cnt or 0, o.unit)))
    end
  end
  out[#out + 1] = "</g>"
  out[#out + 1] = event_lines(o.events, Xt, y0, y1)
  -- hover data for the inline script: times in s from t0 and values
  if o.hover ~= false then
    local hs = {}
    for i, s in ipairs(o.series) do
      local ts, v = drawn[i].ts, drawn[i].v
      local tt, vv = {}, {}
      for j = 1, #ts do
        tt[j] = format("%.3f", (ts[j] - t0) / 1000)
        vv[j] = v[j] == false and "null" or format("%.6g", v[j])
      end
      hs[i] = format('{"n":%s,"c":"%s","t":[%s],"v":[%s]}', json.encode(s.name),
        s.color or report.palette[(i - 1) % #report.palette + 1], concat(tt, ","), concat(vv, ","))
    end
    out[#out + 1] = '<script type="application/json" class="hover-data">['
      .. concat(hs, ","):gsub("</", "<\\/") .. ']</script>'
  end
  out[#out + 1] = "</svg>"
  return concat(out)
end

local function legend(series)
  local out = { '<div class="legend">' }
  for i, s in ipairs(series) do
    local color = s.color or report.palette[(i - 1) % #report.palette + 1]
    out[#out + 1] = format('<span><i style="background:%s"></i>%s</span>', color, esc(s.name))
  end
  out[#out + 1] = "</div>"
  return concat(out)
end

local function chart_box(title, o, note)
  local svg = report.line_chart(o)
  return format('<section class="chart-box"><h3>%s</h3>%s%s%s</section>', esc(title),
    note and ('<p class="note">' .. note .. '</p>') or "", svg, legend(o.series))
end
report.chart_box = chart_box

----------------------------------------------------------------------------
-- sections
----------------------------------------------------------------------------

local sections = {}
report.sections = sections

local function command_of(m)
  if m.meta and m.meta.cmd then return argv_text(m.meta.cmd) end
  return "(unknown command)"
end

function sections.header(m, _opts)
  local rows = {}
  local function row(k, v) rows[#rows + 1] = "<tr><th>" .. esc(k) .. "</th><td>" .. v .. "</td></tr>" end
  row("command", "<code>" .. esc(command_of(m)) .. "</code>")
  if m.meta then
    row("pid", esc(v_(m.meta.pid)))
    if v_(m.meta.executable) then row("executable", "<code>" .. esc(m.meta.executable) .. "</code>") end
    row("started", esc(iso_utc(m.meta.t0_ms)))
  end
  -- the machine it was recorded on: the env record (--write-env), else
  -- the metadata record (denet writes `host` there too)
  local host = (m.env and v_(m.env.host)) or (m.meta and v_(m.meta.host))
  if host then row("host", esc(host)) end
  if m.env then
    local e = m.env
    local bits = {}
    if v_(e.kernel) then bits[#bits + 1] = esc(e.kernel) end
    if v_(e.arch) then bits[#bits + 1] = esc(e.arch) end
    if #bits > 0 then row("kernel", concat(bits, " · ")) end
    local cpu = {}
    if v_(e.cpu_model) then cpu[#cpu + 1] = esc(e.cpu_model) end
    if v_(e.cpus_online) then cpu[#cpu + 1] = esc(e.cpus_online) .. " CPUs online" end
    if v_(e.mem_total_kb) then cpu[#cpu + 1] = esc(report.human_kib(e.mem_total_kb)) .. " RAM" end
    if #cpu > 0 then row("machine", concat(cpu, " · ")) end
  end
  local dur = m.exit and num(m.exit.duration_secs) or (m.t1 - m.t0) / 1000
  row("duration", esc(human_secs(dur)) .. (m.exit and "" or " (no exit record: monitoring ended first)"))
  if m.exit then
    local e = m.exit
    local how = "exit code " .. esc(v_(e.exit_code) or "unknown")
    if v_(e.signal) then how = how .. ", killed by signal " .. esc(e.signal) end
    row("ended", how)
  end
  row("samples", fmt_num(#m.samples) .. (m.skipped and m.skipped > 0
    and format(" (%d malformed lines skipped)", m.skipped) or ""))
  if #m.alerts + #m.marks > 0 then
    row("events", format("%d alert%s, %d mark%s", #m.alerts, #m.alerts == 1 and "" or "s",
      #m.marks, #m.marks == 1 and "" or "s"))
  end
  return format('<header><h1>denet report</h1><table class="kv">%s</table></header>', concat(rows))
end

local STATS = {
  { "total_time_secs", "sampled time", function(x) return human_secs(x) end },
  { "sample_count", "samples" },
  { "max_processes", "max processes" },
  { "max_threads", "max threads" },
  { "avg_cpu_usage", "average CPU", function(x) return format("%.2f %%", x) end },
  { "peak_mem_rss_kb", "peak RSS", report.human_kib },
  { "total_disk_read_bytes", "disk read", human_bytes },
  { "total_disk_write_bytes", "disk written", human_bytes },
  { "total_syscall_read_bytes", "read() bytes", human_bytes },
  { "total_syscall_write_bytes", "write() bytes", human_bytes },
  { "peak_page_faults_cached", "page faults (minor)" },
  { "peak_page_faults_disk", "page faults (major)" },
  { "total_sys_net_rx_bytes", "network received (namespace)", human_bytes },
  { "total_sys_net_tx_bytes", "network sent (namespace)", human_bytes },
}
report.stats_fields = STATS

local function fmt_total(k, x)
  if x == nil or x == null then return "–" end
  if type(x) ~= "number" then return esc(x) end
  if k:find("_kb$") then return esc(report.human_kib(x)) .. ' <span class="raw">' .. fmt_num(x) .. " KiB</span>" end
  if k:find("_bytes$") then return esc(human_bytes(x)) .. ' <span class="raw">' .. fmt_num(x) .. "</span>" end
  if k:find("_secs$") then return fmt_num(x) .. " s" end
  return fmt_num(x)
end

function sections.summary(m, _opts)
  local s = m.summary
  local rows = {}
  for _, f in ipairs(STATS) do
    local x = s[f[1]]
    if x ~= nil then
      local shown = f[3] and f[3](x) or fmt_num(x)
      local raw = ""
      if f[3] and math.type(x) == "integer" then raw = ' <span class="raw">' .. fmt_num(x) .. "</span>" end
      rows[#rows + 1] = format('<tr data-field="%s"><th>%s</th><td>%s%s</td></tr>', f[1], esc(f[2]), esc(shown), raw)
    end
  end
  local out = { '<section class="summary"><h2>Summary</h2><div class="cols"><table class="kv stats">',
    concat(rows), "</table>" }
  local e = m.exit
  if e and (type(v_(e.totals)) == "table" or type(v_(e.sampled)) == "table") then
    local t, sm, gap = v_(e.totals) or {}, v_(e.sampled) or {}, v_(e.gap) or {}
    local keys, seen = {}, {}
    local order = { "cpu_secs", "cpu_user_secs", "cpu_system_secs", "mem_peak_kb", "disk_read_bytes",
      "disk_write_bytes", "processes", "samples", "oom_kills" }
    local function add(k) if not seen[k] and k ~= "source" then seen[k] = true; keys[#keys + 1] = k end end
    for _, k in ipairs(order) do if t[k] ~= nil or sm[k] ~= nil or gap[k] ~= nil then add(k) end end
    local extra = {}
    for _, tb in ipairs { t, sm, gap } do
      for k in pairs(tb) do
        if not seen[k] and k ~= "source" then extra[#extra + 1] = k end
      end
    end
    sort(extra)
    for _, k in ipairs(extra) do add(k) end
    local trs = {}
    for _, k in ipairs(keys) do
      trs[#trs + 1] = format('<tr data-field="%s"><th>%s</th><td>%s</td><td>%s</td><td>%s</td></tr>',
        esc(k), esc(k), fmt_total(k, t[k]), fmt_total(k, sm[k]), fmt_total(k, gap[k]))
    end
    out[#out + 1] = format('<table class="exact"><caption>Exact totals (source: %s) vs sampled</caption>'
      .. '<tr><th></th><th>exact</th><th>sampled</th><th>gap</th></tr>%s</table>',
      esc(v_(t.source) or (v_(e.totals) and "kernel" or "none: not denet's child")), concat(trs))
  end
  local o = e and v_(e.overhead)
  if type(o) == "table" then
    -- what watching cost: the exit record's overhead, as it is
    local trs = {}
    local function row(k, label, html) -- html: fmt_total's, escaped already
      trs[#trs + 1] = format('<tr data-field="overhead.%s"><th>%s</th><td>%s</td></tr>', esc(k), esc(label), html)
    end
    row("cpu_secs", "denet CPU", fmt_total("cpu_secs", v_(o.cpu_secs)))
    row("peak_rss_kb", "denet peak RSS", fmt_total("peak_rss_kb", v_(o.peak_rss_kb)))
    row("sampling_secs", "in samples", fmt_total("sampling_secs", v_(o.sampling_secs)))
    row("hooks_secs", "in hooks", fmt_total("hooks_secs", v_(o.hooks_secs)))
    if v_(o.bpf_secs) ~= nil then
      row("bpf_secs", "in BPF programs", fmt_total("bpf_secs", v_(o.bpf_secs)))
    elseif v_(o.bpf_stats) ~= nil then
      row("bpf_stats", "in BPF programs", esc("unknown: " .. tostring(v_(o.bpf_stats))))
    end
    row("samples_late", "samples late / missed", esc(format("%s / %s of %s", fmt_num(v_(o.samples_late)),
      fmt_num(v_(o.samples_missed)), fmt_num(v_(o.samples_timed)))))
    out[#out + 1] = format('<table class="kv overhead"><caption>What watching cost</caption>%s</table>',
      concat(trs))
  end
  local c = e and v_(e.counters)
  if type(c) == "table" then
    -- --counters: the run's perf counters, as the exit record has them
    local trs = {}
    for _, f in ipairs { { "context_switches", "context switches" }, { "cpu_migrations", "CPU migrations" },
      { "page_faults", "page faults" }, { "task_clock_ns", "task clock (ns)" }, { "cycles", "cycles" },
      { "instructions", "instructions" } } do
      local x = v_(c[f[1]])
      if x ~= nil then
        trs[#trs + 1] = format('<tr data-field="counters.%s"><th>%s</th><td>%s</td></tr>', f[1], esc(f[2]),
          esc(fmt_num(x)))
      end
    end
    out[#out + 1] = format('<table class="kv counters"><caption>Perf counters of the run</caption>%s</table>',
      concat(trs))
  end
  out[#out + 1] = "</div></section>"
  return concat(out)
end

function sections.events(m, _opts)
  if #m.events == 0 then return "" end
  local rows = {}
  for _, a in ipairs(m.alerts) do
    rows[#rows + 1] = { ts = num(a.ts_ms) or 0, html = format(
      '<tr class="alert %s"><td>%s</td><td>alert</td><td>%s</td><td>%s %s: %s = %s (threshold %s)</td></tr>',
      esc(v_(a.state)), format("%.3f s", ((num(a.ts_ms) or m.t0) - m.t0) / 1000), esc(v_(a.rule)),
      esc(v_(a.metric)), esc(v_(a.state)), esc(v_(a.metric)), fmt_num(v_(a.value)), fmt_num(v_(a.threshold))) }
  end
  for _, a in ipairs(m.marks) do
    rows[#rows + 1] = { ts = num(a.ts_ms) or 0, html = format(
      '<tr class="mark"><td>%s</td><td>mark</td><td>%s</td><td></td></tr>',
      format("%.3f s", ((num(a.ts_ms) or m.t0) - m.t0) / 1000), esc(v_(a.label))) }
  end
  sort(rows, function(a, b) return a.ts < b.ts end)
  local h = {}
  for i, r in ipairs(rows) do h[i] = r.html end
  return '<section class="events"><h2>Alerts and marks</h2><table class="list"><tr><th>time</th><th>kind</th>'
    .. '<th>rule / label</th><th>detail</th></tr>' .. concat(h) .. "</table></section>"
end

local function chart_opts(m, opts, t)
  t.t0, t.t1 = m.t0, m.t1
  t.events = m.events
  t.width, t.height = opts.width, opts.height
  t.max_points = opts.max_points
  return t
end

function sections.charts(m, opts)
  local S = m.samples
  if #S == 0 then return '<section class="charts"><h2>Whole tree</h2><p>No samples.</p></section>' end
  local out = { '<section class="charts"><h2>Whole tree</h2>' }
  local ts, cpu = agg_series(S, "cpu_usage")
  out[#out + 1] = chart_box("CPU (% of one core)", chart_opts(m, opts,
    { id = "chart-cpu", unit = "%", series = { { name = "CPU %", ts = ts, v = cpu } } }))
  local _, rss = agg_series(S, "mem_rss_kb")
  local peak, pk = {}, -huge
  for i, s in ipairs(S) do
    local x = num(s.mem_peak_kb)
    pk = max(pk, x or rss[i] or 0)
    peak[i] = pk
  end
  out[#out + 1] = chart_box("Memory", chart_opts(m, opts, { id = "chart-mem", unit = "KiB", series = {
    { name = "RSS", ts = ts, v = rss },
    { name = "peak RSS (mem_peak_kb)", ts = ts, v = peak, color = "#e15759", dash = "5 3" } } }))
  local _, dr = agg_series(S, "disk_read_bytes")
  local _, dw = agg_series(S, "disk_write_bytes")
  local _, sr = agg_series(S, "syscall_read_bytes")
  local _, sw = agg_series(S, "syscall_write_bytes")
  local _, rdr = report.rates(ts, dr)
  local _, rdw = report.rates(ts, dw)
  local _, rsr = report.rates(ts, sr)
  local _, rsw = report.rates(ts, sw)
  out[#out + 1] = chart_box("Disk I/O rate", chart_opts(m, opts, { id = "chart-disk", unit = "B/s", series = {
    { name = "disk read", ts = ts, v = rdr }, { name = "disk write", ts = ts, v = rdw, color = "#f28e2b" } } }))
  out[#out + 1] = chart_box("Syscall I/O rate (read()/write() bytes)", chart_opts(m, opts, { id = "chart-syscall",
    unit = "B/s", series = {
      { name = "syscall read", ts = ts, v = rsr, color = "#59a14f" },
      { name = "syscall write", ts = ts, v = rsw, color = "#b07aa1" } } }))
  local _, pc = agg_series(S, "process_count")
  for i, s in ipairs(S) do if num(s.process_count) == nil then pc[i] = 1 end end
  local _, tc = agg_series(S, "thread_count")
  out[#out + 1] = chart_box("Processes and threads", chart_opts(m, opts, { id = "chart-counts", unit = "count",
    series = { { name = "processes", ts = ts, v = pc }, { name = "threads", ts = ts, v = tc, color = "#76b7b2" } } }))
  out[#out + 1] = "</section>"
  return concat(out)
end

-- Per-process series from the tree records: { [pid] = { name, cpu = {}, rss = {}, cpu_secs, rss_max } }
-- over the common time base (one slot per tree record; false when absent).
function report.process_series(m)
  local trees = m.trees
  local ts, procs, order = {}, {}, {}
  local root_pid = m.meta and v_(m.meta.pid)
  for i, rec in ipairs(trees) do
    ts[i] = num(rec.ts_ms) or num(rec.aggregated.ts_ms) or (ts[i - 1] or m.t0)
    local function add(pid, name, met)
      if type(met) ~= "table" then return end
      local key = tostring(pid)
      local p = procs[key]
      if not p then
        p = { pid = pid, name = name, cpu = {}, rss = {}, cpu_secs = 0, rss_max = 0, first = i }
        procs[key] = p
        order[#order + 1] = p
      end
      local c, r = num(met.cpu_usage) or 0, num(met.mem_rss_kb) or 0
      p.cpu[i], p.rss[i] = c, r
      local dt = i > 1 and (ts[i] - ts[i - 1]) / 1000 or 0
      p.cpu_secs = p.cpu_secs + c / 100 * dt
      if r > p.rss_max then p.rss_max = r end
    end
    if type(rec.parent) == "table" then
      add(root_pid or "root", m.meta and argv_text(m.meta.cmd) or "root", rec.parent)
    end
    if type(rec.children) == "table" then
      for _, ch in ipairs(rec.children) do
        if type(ch) == "table" then add(v_(ch.pid) or "?", v_(ch.command) or "?", ch.metrics) end
      end
    end
  end
  for _, p in ipairs(order) do
    for i = 1, #trees do if p.cpu[i] == nil then p.cpu[i] = false; p.rss[i] = false end end
  end
  return ts, order
end

local function top_chart(m, opts, ts, procs, field, rank, title, id, unit, aggfield)
  local N = opts.top or 8
  local sorted = {}
  for i, p in ipairs(procs) do sorted[i] = p end
  sort(sorted, function(a, b)
    if a[rank] ~= b[rank] then return a[rank] > b[rank] end
    return a.first < b.first
  end)
  local series, top = {}, {}
  for i = 1, min(N, #sorted) do
    local p = sorted[i]
    top[i] = p
    local pid = tostring(p.pid)
    local name = pid .. " " .. short_command(p.name, 59 - #pid, "…")
    series[i] = { name = name, ts = ts, v = p[field] }
  end
  if #sorted > N then
    local others = {}
    for i, rec in ipairs(m.trees) do
      local total = num(rec.aggregated[aggfield]) or 0
      local sum = 0
      for _, p in ipairs(top) do sum = sum + (p[field][i] or 0) end
      others[i] = max(0, total - sum)
    end
    series[#series + 1] = { name = format("others (%d processes)", #sorted - N), ts = ts, v = others,
      color = report.others_color, dash = "4 2" }
  end
  local note = format("%d processes seen; %s.", #procs, #procs > N
    and format("the top %d by %s are drawn, the rest summed as \"others\"", N,
      rank == "cpu_secs" and "CPU time" or "peak RSS")
    or "all are drawn")
  return chart_box(title, chart_opts(m, opts, { id = id, unit = unit, series = series }), esc(note))
end

function sections.processes(m, opts)
  if #m.trees == 0 then return "" end
  local ts, procs = report.process_series(m)
  if #procs == 0 then return "" end
  return '<section class="charts procs"><h2>Top processes</h2>'
    .. top_chart(m, opts, ts, procs, "cpu", "cpu_secs", "CPU per process (% of one core)",
      "chart-proc-cpu", "%", "cpu_usage")
    .. top_chart(m, opts, ts, procs, "rss", "rss_max", "RSS per process", "chart-proc-rss", "KiB", "mem_rss_kb")
    .. "</section>"
end

----------------------------------------------------------------------------
-- off-CPU
----------------------------------------------------------------------------

local function frame_label(f)
  if type(f) ~= "table" then return "?" end
  local name = v_(f.name)
  if name and name ~= "" then return tostring(name) end
  local mod = v_(f.module)
  local off = num(f.offset)
  if mod then
    local base = tostring(mod):match("([^/]+)$") or tostring(mod)
    return off and format("[%s+0x%x]", base, off) or "[" .. base .. "]"
  end
  return tostring(v_(f.addr) or "?")
end
report.frame_label = frame_label

local function is_kernel(f) return type(f) == "table" and f.module == "[kernel]" end

-- Merges the stacks of offcpu records: same comm, state and frames -> one
-- entry { comm, state, pids = {..}, tids = n, off_ns, count, frames } (frames
-- innermost first, as recorded), largest off_ns first.
function report.merge_stacks(offcpu)
  local by, list = {}, {}
  for _, rec in ipairs(offcpu) do
    for _, st in ipairs(rec.stacks) do
      if type(st) == "table" and num(st.off_ns) then
        local labels = {}
        local frames = type(st.frames) == "table" and st.frames or {}
        for i, f in ipairs(frames) do labels[i] = frame_label(f) end
        local key = tostring(v_(st.comm)) .. "\0" .. tostring(v_(st.state)) .. "\0" .. concat(labels, "\0")
        local e = by[key]
        if not e then
          e = { comm = tostring(v_(st.comm) or "?"), state = v_(st.state), off_ns = 0, count = 0,
            frames = frames, labels = labels, pids = {}, tids = {} }
          by[key] = e
          list[#list + 1] = e
        end
        e.off_ns = e.off_ns + st.off_ns
        e.count = e.count + (num(st.count) or 1)
        if v_(st.pid) then e.pids[st.pid] = true end
        if v_(st.tid) then e.tids[st.tid] = true end
      end
    end
  end
  sort(list, function(a, b) return a.off_ns > b.off_ns end)
  return list
end

local function hash(s)
  local h = 5381
  for i = 1, #s do h = (h * 33 + s:byte(i)) % 4294967296 end
  return h
end

local function frame_color(label, kernel)
  local h = hash(label)
  if kernel then -- reddish
    return format("rgb(%d,%d,%d)", 215 + h % 40, 90 + (h // 40) % 50, 60 + (h // 2000) % 30)
  end -- yellow-orange
  return format("rgb(%d,%d,%d)", 235 + h % 20, 165 + (h // 20) % 60, 40 + (h // 1200) % 50)
end

-- The flame graph of merged stacks: the root at the bottom, then comm, then
-- frames from the outermost to the innermost; widths by off-CPU time.
function report.flame_graph(offcpu, opts)
  opts = opts or {}
  local stacks = opts.merged or report.merge_stacks(offcpu)
  local root = { name = "all", value = 0, kids = {}, order = {} }
  local function child(n, name, kernel)
    local c = n.kids[name]
    if not c then
      c = { name = name, value = 0, kids = {}, order = {}, kernel = kernel }
      n.kids[name] = c
      n.order[#n.order + 1] = c
    end
    return c
  end
  local maxdepth = 1
  for _, st in ipairs(stacks) do
    root.value = root.value + st.off_ns
    local n = child(root, st.comm .. (st.state == "D" and " [D]" or ""), false)
    n.value = n.value + st.off_ns
    n.is_comm = true
    local depth = 2
    for i = #st.labels, 1, -1 do
      n = child(n, st.labels[i], is_kernel(st.frames[i]))
      n.value = n.value + st.off_ns
      depth = depth + 1
    end
    if depth > maxdepth then maxdepth = depth end
  end
  if root.value <= 0 then return "" end
  local W = opts.width or 1100
  local rowh = 17
  local H = maxdepth * rowh + 4
  local total = root.value
  local minw = opts.flame_min_px or 0.3
  local out = {}
  out[#out + 1] = format('<svg class="flame" id="flame" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" '
    .. 'width="%d" height="%d" data-total-ns="%s">', W, H, W, H, tostring(total))
  local nframes = 0
  local function draw(n, x, depth)
    local w = n.value / total * W
    if w < minw then return end
    nframes = nframes + 1
    local y = H - (depth + 1) * rowh
    local share = n.value / total * 100
    local fill = depth == 0 and "#c8c8c8" or n.is_comm and "#e8b04a" or frame_color(n.name, n.kernel)
    local label = ""
    local chars = floor((w - 6) / 6.4)
    if chars >= 3 then
      label = n.name
      if #label > chars then label = label:sub(1, chars - 1) .. "…" end
      label = format('<text x="%s" y="%s">%s</text>', p1(x + 3), p1(y + 12), esc(label))
    end
    out[#out + 1] = format('<g class="fr"><title>%s — %s ms off-CPU (%.2f%%)</title>'
      .. '<rect x="%s" y="%s" width="%s" height="%d" fill="%s" rx="2"/>%s</g>',
      esc(n.name), format("%.3f", n.value / 1e6), share, p1(x), p1(y), p1(max(w - 0.5, 0.1)),
      rowh - 1, fill, label)
    local cx = x
    local kids = {}
    for i, c in ipairs(n.order) do kids[i] = c end
    sort(kids, function(a, b) return a.name < b.name end)
    for _, c in ipairs(kids) do
      draw(c, cx, depth + 1)
      cx = cx + c.value / total * W
    end
  end
  draw(root, 0, 0)
  out[#out + 1] = "</svg>"
  return concat(out), nframes
end

function sections.offcpu(m, opts)
  if #m.offcpu == 0 then return "" end
  local merged = report.merge_stacks(m.offcpu)
  local total = 0
  for _, st in ipairs(merged) do total = total + st.off_ns end
  if total <= 0 then return "" end
  local svg = report.flame_graph(m.offcpu, { merged = merged, width = opts.width, flame_min_px = opts.flame_min_px })
  local out = { '<section class="offcpu" id="offcpu"><h2>Off-CPU time</h2>' }
  -- the cumulative figures of the last aggregate (upstream's fields)
  local last
  for i = #m.trees, 1, -1 do
    local e = m.trees[i].aggregated.ebpf
    if type(e) == "table" and type(e.offcpu) == "table" then last = e.offcpu; break end
  end
  local p = format("%s off-CPU in %s blocking events (%d distinct stacks), from %d windows.",
    human_secs(total / 1e9), fmt_num(#merged > 0 and (function() local c = 0
      for _, s in ipairs(merged) do c = c + s.count end return c end)() or 0), #merged, #m.offcpu)
  if last and num(last.total_events) then
    p = p .. format(" Profiler totals: %s events, max %s, avg %s.", fmt_num(last.total_events),
      human_secs((num(last.max_time_ns) or 0) / 1e9), human_secs((num(last.avg_time_ns) or 0) / 1e9))
  end
  out[#out + 1] = '<p class="note">' .. esc(p) .. ' Hover a frame for its time and share; the root is at the bottom, '
    .. 'then the command, then frames from the outermost to the innermost '
    .. '(kernel frames reddish, user frames yellow).</p>'
  out[#out + 1] = '<div class="flame-box">' .. svg .. "</div>"
  -- top blocking stacks
  local n = opts.top_stacks or 15
  local rows = {}
  for i = 1, min(n, #merged) do
    local st = merged[i]
    local fr = {}
    for j = 1, #st.labels do
      fr[#fr + 1] = (is_kernel(st.frames[j]) and '<span class="k">' or "<span>") .. esc(st.labels[j]) .. "</span>"
    end
    local pids = {}
    for pid in pairs(st.pids) do pids[#pids + 1] = pid end
    sort(pids)
    local ntid = 0
    for _ in pairs(st.tids) do ntid = ntid + 1 end
    rows[#rows + 1] = format('<tr><td class="num">%s ms</td><td class="num">%.1f%%</td><td class="num">%s</td>'
      .. '<td>%s</td><td>%s</td><td>%s</td><td class="stack">%s</td></tr>',
      format("%.3f", st.off_ns / 1e6), st.off_ns / total * 100, fmt_num(st.count), esc(st.state or ""),
      esc(st.comm), esc(concat(pids, ",") .. (ntid > 0 and format(" (%d thr)", ntid) or "")), concat(fr, " ← "))
  end
  out[#out + 1] = '<h3>Top blocking stacks</h3><table class="list stacks"><tr><th>off-CPU</th><th>share</th>'
    .. '<th>blocks</th><th>state</th><th>comm</th><th>pid</th><th>stack (innermost first)</th></tr>'
    .. concat(rows) .. "</table></section>"
  return concat(out)
end

----------------------------------------------------------------------------
-- syscalls
----------------------------------------------------------------------------

-- One colour per category, the same in every report.
report.category_colors = { file_io = "#4e79a7", memory = "#f28e2b", process = "#e15759",
  network = "#76b7b2", time = "#59a14f", ipc = "#edc948", security = "#b07aa1", signal = "#ff9da7",
  system = "#9c755f", other = report.others_color }

-- The categories seen (recorded order, then unknown ones by name) with
-- their colours: { { name, color } ... }.
local function category_list(m)
  local seen = {}
  for k in pairs(m.syscalls and m.syscalls.by_category or {}) do seen[k] = true end
  for _, w in ipairs(m.syscall_windows or {}) do
    for k in pairs(w.by_category) do seen[k] = true end
  end
  local list, extra = {}, {}
  for _, c in ipairs(analysis.syscall_categories) do
    if seen[c] then list[#list + 1] = c; seen[c] = nil end
  end
  for c in pairs(seen) do extra[#extra + 1] = c end
  sort(extra)
  for i, c in ipairs(extra) do list[#list + 1] = c; extra[i] = nil end
  local spare = 10
  for i, c in ipairs(list) do
    local color = report.category_colors[c]
    if not color then
      color = report.palette[(spare - 1) % #report.palette + 1]
      spare = spare + 1
    end
    list[i] = { name = c, color = color }
  end
  return list
end

local function calls_table(list, by)
  local rows = {}
  for _, e in ipairs(list) do
    rows[#rows + 1] = format('<tr data-syscall="%s"><td>%s</td><td>%s</td><td class="num">%s</td>'
      .. '<td class="num">%s</td><td class="num">%s</td><td class="num">%s</td><td class="num">%s</td>'
      .. '<td class="num">%s</td></tr>', esc(e.name), esc(e.name), esc(e.category or "–"), fmt_num(e.count),
      fmt_num(e.errors), human_ns(e.time_ns), human_ns(e.p50_ns), human_ns(e.p99_ns), human_ns(e.max_ns))
  end
  return format('<table class="list calls" data-by="%s"><tr><th>syscall</th><th>category</th><th>count</th>'
    .. '<th>errors</th><th>total time</th><th>p50</th><th>p99</th><th>max</th></tr>%s</table>', by, concat(rows))
end

-- Per-second calls of each category, one point per window at its end.
function report.syscall_series(m)
  local ts, series = {}, {}
  local cats = category_list(m)
  for k, c in ipairs(cats) do series[k] = { name = c.name, color = c.color, ts = ts, v = {} } end
  for i, w in ipairs(m.syscall_windows or {}) do
    ts[i] = w.ts_ms or (ts[i - 1] or m.t0)
    for k, c in ipairs(cats) do series[k].v[i] = (w.by_category[c.name] or 0) / w.secs end
  end
  return ts, series
end

-- A rate: whole numbers with thousands separators from 100/s up.
local function rate_text(r)
  if r >= 100 then return fmt_num(floor(r + 0.5)) end
  return fmt_num(r)
end

function sections.syscalls(m, opts)
  local sc = m.syscalls
  if not sc then return "" end
  local out = { '<section class="syscalls" id="syscalls"><h2>Syscalls</h2>' }
  local p = format("%s syscalls, %s errors%s, at %s/s on average%s; %s spent in syscalls (summed over threads). "
    .. "Figures of %s.", fmt_num(sc.total), fmt_num(sc.errors),
    sc.total > 0 and format(" (%.2f%%)", sc.errors / sc.total * 100) or "", rate_text(sc.syscall_rate_per_sec),
    sc.peak_rate_per_sec and (", " .. rate_text(sc.peak_rate_per_sec) .. "/s in the busiest window") or "",
    human_ns(sc.time_ns), sc.source == "exit" and "the exit record (complete)" or "the last sample")
  if sc.lost > 0 or sc.untimed > 0 then
    p = p .. format(" The tracer's maps were full at times: %s syscalls not counted, %s without a time.",
      fmt_num(sc.lost), fmt_num(sc.untimed))
  end
  out[#out + 1] = '<p class="note">' .. esc(p) .. "</p>"
  -- the category shares, whole run
  local cats, rows = {}, {}
  for _, c in ipairs(category_list(m)) do
    local n = sc.by_category[c.name]
    if n and n > 0 then cats[#cats + 1] = { name = c.name, color = c.color, n = n } end
  end
  sort(cats, function(a, b)
    if a.n ~= b.n then return a.n > b.n end
    return a.name < b.name
  end)
  for _, c in ipairs(cats) do
    local share = c.n / max(sc.total, 1) * 100
    rows[#rows + 1] = format('<tr data-category="%s"><td class="cat"><i style="background:%s"></i>%s</td>'
      .. '<td class="num">%s</td><td class="num">%s</td></tr>', esc(c.name), c.color, esc(c.name),
      fmt_num(c.n), share < 0.005 and "&lt;0.01%" or format("%.2f%%", share))
  end
  if #rows > 0 then
    out[#out + 1] = '<h3>Categories</h3><table class="list calls cats"><tr><th>category</th><th>calls</th>'
      .. "<th>share</th></tr>" .. concat(rows) .. "</table>"
  end
  local ts, series = report.syscall_series(m)
  local drawn = {}
  for _, s in ipairs(series) do
    for _, x in ipairs(s.v) do if x > 0 then drawn[#drawn + 1] = s; break end end
  end
  if #ts > 0 and #drawn > 0 then
    out[#out + 1] = chart_box("Syscalls per second by category (stacked)", chart_opts(m, opts,
      { id = "chart-syscalls", unit = "/s", stacked = true, series = drawn }),
      "Each sample window's syscalls of a category divided by the window's length; the bands are stacked, "
      .. "so the top edge is the whole tree's syscall rate.")
  end
  if #sc.top_syscalls > 0 then
    out[#out + 1] = "<h3>Top syscalls by count</h3>" .. calls_table(sc.top_syscalls, "count")
  end
  if #sc.top_by_time > 0 then
    out[#out + 1] = "<h3>Top syscalls by time</h3>" .. calls_table(sc.top_by_time, "time")
  end
  out[#out + 1] = "</section>"
  return concat(out)
end

----------------------------------------------------------------------------
-- GPU (NVML)
----------------------------------------------------------------------------

function sections.gpu(m, opts)
  local g, windows = m.gpu, m.gpu_windows
  if not g then return "" end
  local out = { '<section class="gpu" id="gpu"><h2>GPU</h2>' }
  local p = format("%d device%s (NVML); the busiest at %.0f%% utilization at most, %s of %s memory used at most "
    .. "(one device). The tree's processes: %s of GPU memory at most%s.", g.device_count,
    g.device_count == 1 and "" or "s", g.max_system_gpu_utilization,
    human_bytes(floor(g.peak_used_memory_gb * 1024 ^ 3 + 0.5)), human_bytes(floor(g.total_memory_gb * 1024 ^ 3 + 0.5)),
    human_bytes(g.peak_tree_memory_bytes),
    g.max_process_gpu_utilization and format(", %.0f%% utilization at most", g.max_process_gpu_utilization) or "")
  out[#out + 1] = '<p class="note">' .. esc(p) .. "</p>"
  local ts, util, putil, used, tree = {}, {}, {}, {}, {}
  local any_putil = false
  for i, w in ipairs(windows) do
    ts[i] = w.ts_ms
    util[i] = w.utilization or false
    putil[i] = w.process_utilization or false
    any_putil = any_putil or w.process_utilization ~= nil
    used[i] = w.used_bytes / 1024
    tree[i] = w.tree_memory_bytes / 1024
  end
  local us = { { name = "busiest device", ts = ts, v = util } }
  if any_putil then us[2] = { name = "tree's busiest process", ts = ts, v = putil, color = "#f28e2b" } end
  out[#out + 1] = chart_box("GPU utilization (%)", chart_opts(m, opts, { id = "chart-gpu-util", unit = "%",
    series = us }), "NVML's utilization of each sample: the busiest device's, and the busiest process of the tree's "
    .. "(per-process samples, where the driver has them).")
  out[#out + 1] = chart_box("GPU memory", chart_opts(m, opts, { id = "chart-gpu-mem", unit = "KiB", series = {
    { name = "used (all devices)", ts = ts, v = used },
    { name = "the tree's processes", ts = ts, v = tree, color = "#e15759" } } }))
  out[#out + 1] = "</section>"
  return concat(out)
end

report.default_sections = { "header", "summary", "charts", "gpu", "processes", "events", "syscalls", "offcpu" }

----------------------------------------------------------------------------
-- page
----------------------------------------------------------------------------

report.css = [[
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0 auto;padding:16px 24px;max-width:1180px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:22px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}
header h2{border:0;font-size:15px;margin:0 0 8px;word-break:break-all}h3{font-size:15px;margin:14px 0 4px}
code{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:13px}
table{border-collapse:collapse}td,th{padding:2px 10px 2px 0;text-align:left;vertical-align:top}
table.kv th{font-weight:600;color:#555;white-space:nowrap}
.cols{display:flex;flex-wrap:wrap;gap:32px;align-items:flex-start}
table.exact td,table.exact th,table.list td,table.list th{border-bottom:1px solid #eee;padding:3px 10px}
table.exact caption{text-align:left;font-weight:600;padding-bottom:4px}
.raw{color:#888;font-size:12px}.note{color:#555;font-size:13px;margin:2px 0 6px}
svg.chart{width:100%;height:auto;display:block;overflow:visible}
svg.chart .grid line{stroke:#e6e6e6;stroke-width:1}svg.chart .frame{fill:none;stroke:#bbb}
svg.chart text{font-size:11px;fill:#555}svg.chart .ylab{text-anchor:end}svg.chart .xlab{text-anchor:middle}
svg.chart path.line{fill:none;stroke-width:1.6;stroke-linejoin:round}
svg.chart text.event-label{font-size:10.5px;font-weight:600}
.legend{font-size:12px;color:#444;margin:2px 0 8px 78px}.legend span{margin-right:14px;white-space:nowrap}
.legend i{display:inline-block;width:12px;height:3px;vertical-align:middle;margin-right:4px}
.flame-box{overflow-x:auto}svg.flame{width:100%;height:auto;display:block}
svg.flame text{font:11px ui-monospace,"DejaVu Sans Mono",monospace;fill:#222;pointer-events:none}
svg.flame g.fr:hover rect{stroke:#000;stroke-width:.8}
table.stacks td.stack{font:12px ui-monospace,"DejaVu Sans Mono",monospace;word-break:break-all}
table.stacks span.k{color:#a0522d}table.calls td.cat i{display:inline-block;width:10px;height:10px;margin-right:5px;vertical-align:-1px}td.num{text-align:right;white-space:nowrap}
tr.alert.fire td:nth-child(2){color:#d62728}tr.alert.clear td:nth-child(2){color:#2ca02c}tr.mark td:nth-child(2){color:#6a3d9a}
#tip{position:fixed;pointer-events:none;background:rgba(255,255,255,.96);border:1px solid #999;border-radius:3px;padding:4px 7px;font-size:12px;display:none;z-index:9;white-space:nowrap}
#tip b{display:inline-block;width:9px;height:9px;margin-right:4px}
footer{color:#888;font-size:12px;margin-top:24px;border-top:1px solid #eee;padding-top:6px}
]]

report.js = [[
(function(){
var tip=document.getElementById('tip');
function fmt(v,u){if(v===null)return '–';var a=Math.abs(v),s;
 if(u==='KiB'){v*=1024;u='B';a=Math.abs(v)}
 if(u==='B'||u==='B/s'){var k=['B','KiB','MiB','GiB','TiB'],i=0;while(a>=1024&&i<4){a/=1024;v/=1024;i++}
  return (i?v.toFixed(a>=100?0:a>=10?1:2):Math.round(v))+' '+k[i]+(u==='B/s'?'/s':'')}
 s=a>=100?v.toFixed(1):a>=1?v.toFixed(2):v.toPrecision(3);return s+(u==='%'?'%':u==='/s'?'/s':'')}
function near(t,x){var lo=0,hi=t.length-1;if(hi<0)return -1;while(hi-lo>1){var m=(lo+hi)>>1;if(t[m]<x)lo=m;else hi=m}
 return Math.abs(t[lo]-x)<=Math.abs(t[hi]-x)?lo:hi}
document.querySelectorAll('svg.chart').forEach(function(svg){
 var el=svg.querySelector('script.hover-data');if(!el)return;var data;try{data=JSON.parse(el.textContent)}catch(e){return}
 var d=svg.dataset,t0=+d.t0,t1=+d.t1,x0=+d.x0,x1=+d.x1,u=d.unit,vb=svg.viewBox.baseVal;
 var cur=document.createElementNS('http://www.w3.org/2000/svg','line');cur.setAttribute('y1',d.y0);cur.setAttribute('y2',d.y1);
 cur.setAttribute('stroke','#888');cur.setAttribute('stroke-width','0.8');cur.style.display='none';svg.appendChild(cur);
 svg.addEventListener('mousemove',function(ev){var r=svg.getBoundingClientRect(),px=(ev.clientX-r.left)*vb.width/r.width;
  if(px<x0||px>x1){tip.style.display='none';cur.style.display='none';return}
  var ts=(t1-t0)/1000*(px-x0)/(x1-x0),h='<div>t = '+ts.toFixed(2)+' s</div>';
  data.forEach(function(s){var i=near(s.t,ts);if(i<0)return;h+='<div><b style="background:'+s.c+'"></b>'+
   s.n.replace(/[&<>]/g,function(c){return {'&':'&amp;','<':'&lt;','>':'&gt;'}[c]})+': '+fmt(s.v[i],u)+'</div>'});
  tip.innerHTML=h;tip.style.display='block';tip.style.left=Math.min(ev.clientX+14,innerWidth-tip.offsetWidth-4)+'px';
  tip.style.top=(ev.clientY+14)+'px';cur.setAttribute('x1',px);cur.setAttribute('x2',px);cur.style.display=''});
 svg.addEventListener('mouseleave',function(){tip.style.display='none';cur.style.display='none'});
});
})();
]]

function report.page(title, body, opts)
  opts = opts or {}
  return concat {
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width,initial-scale=1">',
    '<meta name="generator" content="denet report">',
    "<title>", esc(title), "</title><style>", opts.css or report.css, "</style></head>\n<body>\n",
    body,
    '\n<div id="tip"></div><footer>Generated by <code>denet report</code>',
    opts.generated and (" · " .. esc(opts.generated)) or "", "</footer>\n",
    "<script>", opts.js or report.js, "</script>\n",
    opts.extra_html or "", "</body></html>\n",
  }
end

-- The page of a model (report.model's result): what build does after reading.
function report.render(m, opts)
  opts = opts or {}
  local parts = {}
  for _, s in ipairs(opts.sections or report.default_sections) do
    local fn = s
    if type(s) == "string" then
      fn = sections[s]
      if not fn then error("report: unknown section '" .. s .. "'", 2) end
    end
    local html = fn(m, opts)
    if html and html ~= "" then parts[#parts + 1] = html end
  end
  local title = opts.title or ("denet report: " .. command_of(m))
  return report.page(title, concat(parts, "\n"), {
    css = opts.css, js = opts.js, extra_html = opts.extra_html,
    generated = m.source and ("from " .. m.source) or nil,
  })
end

function report.build(src, opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("bad argument #2 to 'build' (table expected, got " .. type(opts) .. ")", 2) end
  local m = report.model(src)
  return report.render(m, opts), m
end

return report
