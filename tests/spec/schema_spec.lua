-- schema_spec.lua — the metrics of a sample are named once
-- (engine/core/metrics_schema.h); this spec checks that everything that
-- shows them names the same fields: the JSON `tree` record's `parent` and
-- `aggregated` objects, the flat `sample` record (--exclude-children), the
-- tables a Lua `p:on("sample")` hook receives, docs/data-format.md's
-- metrics table, the metrics docs/lua-api.md says p:watch takes, and
-- denet.analysis's list of sample fields.

local S = require "support"
-- tests/run.sh's LUA_PATH has lua/?.lua but not lua/?/init.lua
package.path = S.root .. "/lua/?/init.lua;" .. package.path
local denet = require "denet"
local json = require "denet.json"

local function set_of(t, drop)
  local s = {}
  for k in pairs(t) do
    if not (drop and drop[k]) then s[k] = true end
  end
  return s
end

local function list(s)
  local l = {}
  for k in pairs(s) do l[#l + 1] = k end
  table.sort(l)
  return table.concat(l, ",")
end

local function union(a, b)
  local s = {}
  for k in pairs(a) do s[k] = true end
  for k in pairs(b) do s[k] = true end
  return s
end

local function minus(a, b)
  local s = {}
  for k in pairs(a) do
    if not b[k] then s[k] = true end
  end
  return s
end

-- The rows of the `## metrics` table of docs/data-format.md: the set of
-- field names, and the set of those whose meaning starts "`aggregated` only".
local function documented_metrics()
  local text = assert(S.slurp(S.root .. "/docs/data-format.md"))
  local section = assert(text:match("\n## metrics\n(.-)\n## "), "no '## metrics' section")
  local names, agg_only = {}, {}
  for name, meaning in section:gmatch("\n| `([%w_]+)` |[^|]*| ([^\n]*)") do
    names[name] = true
    if meaning:find("^`aggregated` only") then agg_only[name] = true end
  end
  return names, agg_only
end

-- One run with children (tree records) or without (flat samples): the
-- JSONL records of kind `kind` and the records the sample hook got.
local function run(children)
  local out = S.tmpname(".jsonl")
  local p = assert(denet.run{ "sh", "-c", "sleep 0.1 & sleep 0.3; wait", interval = 50, out = out,
    children = children, stdout = "/dev/null" })
  local seen = {}
  p:on("sample", function(rec) seen[#seen + 1] = rec end)
  assert.equal(0, (p:wait()))
  local recs = S.of_kind(S.records(S.slurp(out)), children and "tree" or "sample")
  os.remove(out)
  assert.is_true(#recs >= 3, "only " .. #recs .. " records")
  assert.equal(#recs, #seen)
  return recs, seen
end

describe("the metrics schema", function()
  local tree_recs, tree_seen, flat_recs, flat_seen
  local proc, agg, all -- the fields of a process, of an aggregate, of either

  setup(function()
    tree_recs, tree_seen = run(true)
    flat_recs, flat_seen = run(false)
    local rec = tree_recs[1]
    assert.is_true(rec.parent ~= json.null, "the root could not be read")
    proc = set_of(rec.parent)
    agg = set_of(rec.aggregated, { ebpf = true })
    all = union(proc, agg)
  end)

  it("the JSON: a child's metrics, the flat sample and parent have the same fields", function()
    for _, r in ipairs(tree_recs) do
      assert.equal(list(proc), list(set_of(r.parent)))
      assert.equal(list(agg), list(set_of(r.aggregated, { ebpf = true })))
      for _, c in ipairs(r.children) do
        assert.equal(list(proc), list(set_of(c.metrics)))
      end
    end
    for _, r in ipairs(flat_recs) do
      assert.equal(list(proc), list(set_of(r, { kind = true, pid = true })))
    end
  end)

  it("the Lua tables of a sample hook have the JSON's fields", function()
    for i, got in ipairs(tree_seen) do
      assert.equal(list(set_of(tree_recs[i].parent)), list(set_of(got.parent)))
      assert.equal(list(set_of(tree_recs[i].aggregated)), list(set_of(got.aggregated)))
      for j, c in ipairs(got.children) do
        assert.equal(list(set_of(tree_recs[i].children[j].metrics)), list(set_of(c.metrics)))
      end
    end
    for i, got in ipairs(flat_seen) do
      assert.equal(list(set_of(flat_recs[i])), list(set_of(got)))
    end
  end)

  it("docs/data-format.md's metrics table names the same fields", function()
    local doc_names, doc_agg_only = documented_metrics()
    assert.equal(list(all), list(minus(doc_names, { ebpf = true })))
    -- Its "`aggregated` only" rows are the aggregate's fields a process lacks.
    assert.equal(list(minus(agg, proc)), list(minus(doc_agg_only, { ebpf = true })))
  end)

  it("p:watch takes the metrics docs/lua-api.md lists, and no other", function()
    local text = assert(S.slurp(S.root .. "/docs/lua-api.md"))
    local row = assert(text:match("\n| `metric` %(required%) | ([^\n]*)"), "no 'metric' row")
    local listed = {}
    for name in row:gmatch("`([%w_]+)`") do listed[name] = true end
    local p = assert(denet.run{ "sleep", "0.2", stdout = "/dev/null" })
    local takes = {}
    for name in pairs(all) do
      local ok, err = pcall(p.watch, p, { metric = name, above = 1e15 })
      if ok then
        takes[name] = true
      else
        assert.matches("unknown metric", err)
      end
    end
    p:wait()
    -- syscall_rate is no field of a sample: the syscall tracker's, on a
    -- run with syscalls = true (accepted even where eBPF is unavailable)
    local q = assert(denet.run{ "sleep", "0.1", syscalls = true })
    if pcall(q.watch, q, { metric = "syscall_rate", above = 1e15 }) then takes.syscall_rate = true end
    -- gpu_memory_bytes neither: NVML's, on every run (0 without a GPU)
    if pcall(q.watch, q, { metric = "gpu_memory_bytes", above = "70G" }) then takes.gpu_memory_bytes = true end
    q:wait()
    assert.equal(list(listed), list(takes))
  end)

  it("denet.analysis knows every field of a sample", function()
    local fields = require("denet.analysis").fields
    local missing = {}
    for name in pairs(all) do
      if not fields[name] then missing[name] = true end
    end
    assert.equal("", list(missing))
  end)
end)
