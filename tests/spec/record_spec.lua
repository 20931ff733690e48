-- record_spec.lua — the record a sample hook (and p:sample()) gets, as
-- docs/lua-api.md promises it: the JSONL line's fields and values, in
-- plain Lua tables. The record is built lazily (lua_records.c: its
-- metrics objects and children list fill themselves on first use from a
-- copy taken at the sample), so these check what that must not change: a
-- record kept past its hook still holds its own sample's values, pairs,
-- ipairs and # see every field, writes stick, json.encode gives the line.
-- Driven in-process through the C module, against the run's own JSONL file.

local S = require "support"
package.path = S.root .. "/lua/?/init.lua;" .. package.path
local denet = require "denet"
local json = require "denet.json"

-- The file's null is the tables' false (parent, cpu_core).
local function unnull(v)
  if v == json.null then return false end
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = unnull(x) end
  return t
end

-- A plain copy through pairs: what a script walking the record sees.
local function walk(v)
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = walk(x) end
  return t
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

-- A tree whose values move between samples: memory grows, a child ends.
local function tree_cmd()
  return { "sh", "-c", S.q(S.helper("memsteps")) .. " 4:150 24:250 & sleep 0.25 & wait",
    interval = 50, stdout = "/dev/null" }
end

-- Runs cmd with `out`, calling hook(rec, i) on every sample; returns the
-- file's records of `kind`, by ts_ms.
local function run_with(cmd, kind, hook)
  local out = S.tmpname(".jsonl")
  cmd.out = out
  local p = assert(denet.run(cmd))
  local i = 0
  p:on("sample", function(rec)
    i = i + 1
    hook(rec, i)
  end)
  assert.equal(0, (p:wait()))
  local by_ts, n = {}, 0
  for _, r in ipairs(S.of_kind(S.records(S.slurp(out)), kind)) do
    by_ts[r.ts_ms] = unnull(r)
    n = n + 1
  end
  os.remove(out)
  assert.is_true(n >= 4, "only " .. n .. " records")
  assert.equal(n, i)
  return by_ts
end

describe("a sample hook's record", function()
  local file, kept, touched, two

  setup(function()
    kept, touched, two = {}, {}, {}
    file = run_with(tree_cmd(), "tree", function(rec, i)
      kept[i] = rec -- not touched in the hook: read after the run
      if i % 2 == 0 then
        -- two fields, nothing else
        two[#two + 1] = { ts = rec.ts_ms, rss = rec.aggregated.mem_rss_kb,
          cpu = rec.aggregated.cpu_usage }
      end
      touched[i] = { ts = rec.ts_ms, copy = walk(rec) }
    end)
  end)

  it("is a table of tables", function()
    local rec = kept[#kept]
    assert.equal("table", type(rec))
    assert.equal("table", type(rec.parent))
    assert.equal("table", type(rec.aggregated))
    assert.equal("table", type(rec.children))
    assert.equal("tree", rec.kind)
  end)

  it("kept after its hook holds its own sample's values, as the file has them", function()
    local distinct = {}
    for _, rec in ipairs(kept) do
      local line = assert(file[rec.ts_ms], "no line for ts " .. tostring(rec.ts_ms))
      assert.same(line, walk(rec))
      distinct[rec.aggregated.mem_rss_kb] = true
    end
    assert.is_true(count(distinct) >= 2, "the samples did not differ")
  end)

  it("walked in the hook with pairs gives every field of the line", function()
    for _, t in ipairs(touched) do
      assert.same(file[t.ts], t.copy)
    end
  end)

  it("read two fields in the hook: the line's values", function()
    assert.is_true(#two >= 2)
    for _, t in ipairs(two) do
      assert.equal(file[t.ts].aggregated.mem_rss_kb, t.rss)
      assert.equal(file[t.ts].aggregated.cpu_usage, t.cpu)
    end
  end)

  it("children: #, ipairs, nested fields, table functions", function()
    local seen = 0
    for _, rec in ipairs(kept) do
      local line = file[rec.ts_ms]
      assert.equal(#line.children, #rec.children)
      local n = 0
      for j, c in ipairs(rec.children) do
        n = n + 1
        assert.equal(line.children[j].pid, c.pid)
        assert.equal(line.children[j].command, c.command)
        assert.equal(line.children[j].metrics.mem_rss_kb, c.metrics.mem_rss_kb)
      end
      assert.equal(#line.children, n)
      seen = math.max(seen, n)
    end
    assert.is_true(seen >= 2, "no sample saw both children")
    -- an untouched list, sorted and unpacked before anything else reads it
    local rec = kept[1]
    local pids = {}
    for _, c in ipairs(file[rec.ts_ms].children) do pids[#pids + 1] = c.pid end
    table.sort(pids)
    table.sort(rec.children, function(x, y) return x.pid < y.pid end)
    local first = table.unpack(kept[1].children)
    assert.equal(pids[1], first and first.pid)
    assert.equal(#pids, #rec.children)
  end)

  it("pairs lists all fields of each object, also as the first use", function()
    local rec = kept[#kept - 1]
    local line = file[rec.ts_ms]
    assert.equal(count(line.aggregated), count(rec.aggregated))
    assert.equal(count(line.parent), count(rec.parent))
    assert.equal(count(line), count(rec))
    assert.is_true(count(line.aggregated) >= 15)
  end)

  it("json.encode of an untouched record is the line", function()
    local rec = kept[#kept - 2]
    assert.same(file[rec.ts_ms], unnull(json.decode(json.encode(rec))))
  end)
end)

describe("writing to a sample's record", function()
  it("keeps what the script wrote, before or after the first read", function()
    local checked = 0
    local p = assert(denet.run(tree_cmd()))
    p:on("sample", function(rec)
      local agg = rec.aggregated
      local ts = rec.ts_ms
      -- writes first: they must survive the fill of the other fields
      agg.mem_rss_kb = -1
      agg.cpu_usage = nil
      agg.mine = "x"
      rawset(rec.parent, "raw", 7)
      assert.equal(-1, agg.mem_rss_kb)
      assert.is_nil(agg.cpu_usage)
      assert.equal("x", agg.mine)
      assert.equal(ts, agg.ts_ms)
      assert.equal(7, rec.parent.raw)
      assert.is_number(rec.parent.mem_rss_kb)
      local keys = {}
      for k in pairs(agg) do keys[k] = true end
      assert.is_nil(keys.cpu_usage)
      assert.is_true(keys.mine and keys.mem_peak_kb and true)
      -- a write after reads, and to the list
      local rss = rec.parent.mem_rss_kb
      rec.parent.mem_rss_kb = rss + 1
      assert.equal(rss + 1, rec.parent.mem_rss_kb)
      local n = #rec.children
      rec.children[n + 1] = { pid = 0 }
      assert.equal(n + 1, #rec.children)
      rec.extra = true
      checked = checked + 1
    end)
    assert.equal(0, (p:wait()))
    assert.is_true(checked >= 3)
  end)

  it("a write to one record does not reach another", function()
    local p = assert(denet.run{ "sleep", "0.3", interval = 50 })
    local got = {}
    p:on("sample", function(rec) rec.aggregated.mem_rss_kb = 0 end)
    p:on("sample", function(rec) got[#got + 1] = rec.aggregated.mem_rss_kb end)
    assert.equal(0, (p:wait()))
    assert.is_true(#got >= 2)
    for _, v in ipairs(got) do assert.is_true(v > 0) end
  end)
end)

describe("a child's metrics table", function()
  it("kept alone, after its record and list were collected, fills with its own values", function()
    local kept = {}
    local file = run_with(tree_cmd(), "tree", function(rec)
      local n = #rec.children -- fills the list, not the metrics
      if n >= 2 then
        -- the last child first, then the first: any order
        kept[#kept + 1] = { ts = rec.ts_ms, pid = rec.children[n].pid, m = rec.children[n].metrics }
        kept[#kept + 1] = { ts = rec.ts_ms, pid = rec.children[1].pid, m = rec.children[1].metrics }
      end
    end)
    collectgarbage()
    collectgarbage()
    assert.is_true(#kept >= 4)
    for _, k in ipairs(kept) do
      local want
      for _, c in ipairs(file[k.ts].children) do
        if c.pid == k.pid then want = c.metrics end
      end
      assert.same(want, walk(k.m))
    end
  end)
end)

describe("a flat record (children = false)", function()
  it("kept past its hook holds its sample's values; pairs sees them all", function()
    local kept = {}
    local cmd = tree_cmd()
    cmd.children = false
    local file = run_with(cmd, "sample", function(rec, i)
      kept[i] = rec
      if i == 1 then
        assert.equal("table", type(rec))
        assert.equal("sample", rec.kind)
      end
    end)
    for _, rec in ipairs(kept) do
      local line = file[rec.ts_ms]
      assert.same(line, walk(rec))
    end
    local last = kept[#kept]
    assert.equal(count(file[last.ts_ms]), count(last))
  end)
end)

describe("p:sample()", function()
  it("returns the same lazily filled record, kept with its values", function()
    local p = assert(denet.run{ "sleep", "0.5", interval = 1000 })
    local a = assert(p:sample())
    os.execute("sleep 0.05")
    local b = assert(p:sample())
    assert.is_true(b.ts_ms > a.ts_ms)
    assert.equal(a.ts_ms, a.aggregated.ts_ms)
    assert.equal(b.ts_ms, b.aggregated.ts_ms)
    assert.equal(a.ts_ms, a.parent.ts_ms)
    assert.equal(a.ts_ms, json.decode(json.encode(a)).aggregated.ts_ms)
    p:signal("KILL")
    p:wait()
  end)
end)
