-- read_spec.lua — busted spec of lua/denet/read.lua (denet.read): tolerant
-- reading of JSONL files, skipped-line counting, kind inference for
-- untagged denet 0.6.1 records, and round trips with denet.jsonl.

local S = require "support"
local read = require "denet.read"
local jsonl = require "denet.jsonl"
local json = require "denet.json"

local function collect(path)
  local it, st = assert(read(path))
  local out = {}
  for rec in it, st do out[#out + 1] = rec end
  return out, st
end

describe("denet.read", function()
  local paths = {}
  local function tmp(text)
    local p = S.tmpfile(text)
    paths[#paths + 1] = p
    return p
  end
  teardown(function()
    for _, p in ipairs(paths) do os.remove(p) end
  end)

  it("returns the good records and counts the bad lines", function()
    local p = tmp(table.concat({
      '{"kind":"mark","ts_ms":1,"label":"a"}',
      '',                                  -- blank: ignored, not skipped
      'this is not json',                  -- skipped
      '{"kind":"mark","ts_ms":2,"label":"b"}',
      '   ',                               -- blank
      '{"kind":"mark","ts_ms":3',          -- truncated: skipped
      '[1,2,3]',                           -- not an object: skipped
      '42',                                -- not an object: skipped
      'null',                              -- not an object: skipped
      '{"kind":"mark","ts_ms":4,"label":"c"} trailing', -- skipped
      '{"kind":"mark","ts_ms":5,"label":"d"}',
    }, "\n") .. "\n")
    local recs, st = collect(p)
    assert.are.equal(3, #recs)
    assert.are.same({ 1, 2, 5 }, { recs[1].ts_ms, recs[2].ts_ms, recs[3].ts_ms })
    assert.are.equal("d", recs[3].label)
    assert.are.equal(6, st.skipped)
    assert.are.equal(11, st.lines)
    assert.are.equal(3, st.records)
    assert.matches("^line 3: ", st.first_error)
  end)

  it("works as a plain generic for", function()
    local p = tmp('{"a":1}\n{"a":2}\n{"a":3}')  -- no final newline
    local sum = 0
    for rec in read(p) do sum = sum + rec.a end
    assert.are.equal(6, sum)
  end)

  it("handles CRLF line ends and a missing final newline", function()
    local p = tmp('{"a":1}\r\n\r\n{"a":2}')
    local recs, st = collect(p)
    assert.are.equal(2, #recs)
    assert.are.equal(2, recs[2].a)
    assert.are.equal(0, st.skipped)
    assert.are.equal(3, st.lines)
  end)

  it("counts a truncated last line (a crash mid-write) as skipped", function()
    local p = tmp('{"kind":"mark","ts_ms":1,"label":"a"}\n{"kind":"tree","ts_ms":2,"aggr')
    local recs, st = collect(p)
    assert.are.equal(1, #recs)
    assert.are.equal(1, st.skipped)
  end)

  it("fails as every denet function does: nil, \"ENAME: message\", \"ENAME\"", function()
    local it, msg, code = read("/nonexistent-dir/none.jsonl")
    assert.is_nil(it)
    assert.are.equal("ENOENT: /nonexistent-dir/none.jsonl: No such file or directory", msg)
    assert.are.equal("ENOENT", code)
    -- a directory opens (fopen) but cannot be read: an error now, not
    -- a raise from the first iteration
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. dir))
    it, msg, code = read(dir)
    os.execute("rmdir " .. dir)
    assert.is_nil(it)
    assert.are.equal("EISDIR: " .. dir .. ": Is a directory", msg)
    assert.are.equal("EISDIR", code)
  end)

  it("raises on a non-string path", function()
    assert.has_error(function() read(42) end)
  end)

  it("closes the file at the end and on break", function()
    local p = tmp('{"a":1}\n{"a":2}\n')
    local it, st = read(p)
    for _ in it, st do end
    assert.is_nil(st._file)
    assert.is_nil(it()) -- stays ended
    -- the 4th value is the loop's to-be-closed variable: break closes
    local it1, st1, c1, closer = read(p)
    assert.are.equal(st1, closer)
    for _ in it1, st1, c1, closer do break end -- luacheck: ignore 512 (the break is the test)
    assert.is_nil(st1._file)
    local st2
    it, st2 = read(p)
    assert.are.equal(1, it().a)
    st2:close()
    assert.is_nil(it())
  end)

  it("infers kinds of untagged denet 0.6.1 records", function()
    local p = tmp(table.concat({
      '{"pid":123,"cmd":["sleep","1"],"executable":"/usr/bin/sleep","t0_ms":1700000000000}',
      '{"ts_ms":1700000000100,"parent":{"ts_ms":1700000000100,"cpu_usage":1.5},'
        .. '"children":[],"aggregated":{"ts_ms":1700000000100,"cpu_usage":1.5,"process_count":1}}',
      '{"ts_ms":1700000000200,"cpu_usage":2.0,"mem_rss_kb":10}',
      '{"something":"else"}',
      '{"kind":"exit","ts_ms":5,"exit_code":0}',
    }, "\n") .. "\n")
    local recs, st = collect(p)
    assert.are.equal(5, #recs)
    assert.are.equal("metadata", recs[1].kind)
    assert.are.equal("tree", recs[2].kind)
    assert.are.equal("sample", recs[3].kind)
    assert.is_nil(recs[4].kind)
    assert.are.equal("exit", recs[5].kind)
    assert.are.equal(0, st.skipped)
  end)

  it("reads back what denet.jsonl wrote, types intact", function()
    local p = os.tmpname()
    paths[#paths + 1] = p
    local w = assert(jsonl(p))
    for i = 1, 100 do
      w:write({ kind = "sample", ts_ms = 1700000000000 + i * 100, cpu_usage = i / 4,
        mem_rss_kb = i * 1024, name = "proc\255" .. i })
    end
    w:close()
    local recs, st = collect(p)
    assert.are.equal(100, #recs)
    assert.are.equal(0, st.skipped)
    assert.are.equal("integer", math.type(recs[100].ts_ms))
    assert.are.equal(1700000010000, recs[100].ts_ms)
    assert.are.equal(25.0, recs[100].cpu_usage)
    assert.are.equal("float", math.type(recs[100].cpu_usage))
    assert.are.equal("proc\u{FFFD}100", recs[100].name)
  end)

  it("keeps null values as json.null", function()
    local p = tmp('{"kind":"exit","signal":null,"exit_code":0}\n')
    local recs = collect(p)
    assert.are.equal(json.null, recs[1].signal)
  end)
end)
