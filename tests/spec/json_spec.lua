-- json_spec.lua — busted spec of lua/denet/json.lua (denet.json): encoding
-- rules (types, numbers, strings, UTF-8 repair, errors with paths) and the
-- decoder (RFC 8259 grammar, integers, escapes, error positions), and of
-- lua/denet/jsonl.lua (writers).

local S = require "support"
local json = require "denet.json"
local jsonl = require "denet.jsonl"

describe("denet.json.encode", function()
  it("encodes scalars", function()
    assert.are.equal("null", json.encode(nil))
    assert.are.equal("null", json.encode(json.null))
    assert.are.equal("true", json.encode(true))
    assert.are.equal("false", json.encode(false))
    assert.are.equal("42", json.encode(42))
    assert.are.equal("-7", json.encode(-7))
    assert.are.equal('"hi"', json.encode("hi"))
  end)

  it("writes integers exactly, all 64 bits", function()
    assert.are.equal("9223372036854775807", json.encode(math.maxinteger))
    assert.are.equal("-9223372036854775808", json.encode(math.mininteger))
    assert.are.equal("9007199254740993", json.encode((1 << 53) + 1))
  end)

  it("writes floats shortest-round-trip and marks integral floats", function()
    assert.are.equal("0.1", json.encode(0.1))
    assert.are.equal("1.0", json.encode(1.0))
    assert.are.equal("-2.5", json.encode(-2.5))
    assert.are.equal("0.30000000000000004", json.encode(0.1 + 0.2))
    assert.are.equal("1e+300", json.encode(1e300))
    assert.are.equal("3.1415926535897931", json.encode(math.pi))
    assert.are.equal(math.pi, json.decode(json.encode(math.pi)))
  end)

  it("turns NaN and infinities into null", function()
    assert.are.equal("[null,null,null]", json.encode({ 0 / 0, math.huge, -math.huge }))
  end)

  it("encodes arrays and objects, object keys sorted", function()
    assert.are.equal("[1,2,3]", json.encode({ 1, 2, 3 }))
    assert.are.equal('{"a":1,"b":[true,false],"c":{"d":"e"}}',
      json.encode({ c = { d = "e" }, b = { true, false }, a = 1 }))
    assert.are.equal('{"1":"a","3":"c"}', json.encode({ [1] = "a", [3] = "c" }))
    assert.are.equal('{"1":1,"x":2}', json.encode({ 1, x = 2 }))
  end)

  it("encodes an empty table as {} unless it has json.array_mt", function()
    assert.are.equal("{}", json.encode({}))
    assert.are.equal("[]", json.encode(setmetatable({}, json.array_mt)))
    assert.are.equal("[1,null,3]", json.encode(setmetatable({ 1, nil, 3 }, json.array_mt)))
    assert.are.equal("[1,null,3]", json.encode({ 1, json.null, 3 }))
  end)

  it("escapes quotes, backslashes and control characters, keeps DEL", function()
    assert.are.equal([["a\"b\\c\n\t\r\b\f\u0000\u0001\u001f]] .. "\127" .. [["]],
      json.encode('a"b\\c\n\t\r\b\f\0\1\31\127'))
    assert.are.equal([["/"]], json.encode("/"))
  end)

  it("passes valid UTF-8 through", function()
    local s = "é € 😀 ✓ \u{10FFFF}"
    assert.are.equal('"' .. s .. '"', json.encode(s))
  end)

  it("replaces invalid UTF-8 with U+FFFD", function()
    local R = "\239\191\189"
    local cases = {
      { "\255", R },                         -- never valid
      { "a\128b", "a" .. R .. "b" },         -- stray continuation byte
      { "\192\128", R .. R },                -- overlong NUL (C0 never valid)
      { "\224\128\128", R .. R .. R },       -- overlong 3-byte
      { "\237\160\128", R .. R .. R },       -- surrogate U+D800
      { "\244\144\128\128", R .. R .. R .. R }, -- > U+10FFFF
      { "\226\130", R },                     -- truncated euro sign
      { "x\226\130y", "x" .. R .. "y" },     -- truncated, then ASCII
      { "\240\159\152", R },                 -- truncated 4-byte
      { "ok\226\130\172\255", "ok\226\130\172" .. R }, -- valid then invalid
    }
    for _, c in ipairs(cases) do
      local out = json.encode(c[1])
      assert.are.equal('"' .. c[2] .. '"', out)
      assert.is_truthy(utf8.len(out))
    end
  end)

  it("makes valid JSON from any bytes", function()
    local bytes = {}
    for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
    local s = table.concat(bytes)
    local out = json.encode({ s = s })
    assert.is_truthy(utf8.len(out))
    local back = json.decode(out)
    assert.are.equal(string.sub(s, 1, 128), string.sub(back.s, 1, 128))
    -- 128 invalid bytes -> 128 replacement characters
    assert.are.equal(128 + 128, utf8.len(back.s))
  end)

  it("raises on functions, userdata and cycles, naming the path", function()
    local ok, err = pcall(json.encode, { a = { b = print } })
    assert.is_false(ok)
    assert.are.equal("denet.json.encode: cannot encode a function at .a.b", err)
    ok, err = pcall(json.encode, { list = { 1, 2, io.stdout } })
    assert.is_false(ok)
    assert.are.equal("denet.json.encode: cannot encode a userdata at .list[3]", err)
    ok, err = pcall(json.encode, print)
    assert.is_false(ok)
    assert.are.equal("denet.json.encode: cannot encode a function at (root)", err)
    local t = { x = {} }
    t.x.y = t
    ok, err = pcall(json.encode, t)
    assert.is_false(ok)
    assert.matches("cycle", err)
    assert.matches("at %.x%.y$", err)
    ok, err = pcall(json.encode, { [true] = 1 })
    assert.is_false(ok)
    assert.matches("boolean key", err)
  end)

  it("encodes the same table twice when it is not a cycle", function()
    local shared = { 1 }
    assert.are.equal('{"a":[1],"b":[1]}', json.encode({ a = shared, b = shared }))
  end)
end)

describe("denet.json.decode", function()
  it("round-trips nested values", function()
    local v = { name = "x", list = { 1, 2.5, "three", true, false }, obj = { k = { 1 } } }
    local back = json.decode(json.encode(v))
    assert.are.same(v, back)
    assert.are.equal(json.encode(v), json.encode(back))
  end)

  it("keeps integers integers and floats floats", function()
    local v = json.decode('{"i":12,"n":-3,"z":0,"f":1.0,"e":1e2,"g":2.5E-3}')
    assert.are.equal("integer", math.type(v.i))
    assert.are.equal(12, v.i)
    assert.are.equal("integer", math.type(v.n))
    assert.are.equal("integer", math.type(v.z))
    assert.are.equal("float", math.type(v.f))
    assert.are.equal("float", math.type(v.e))
    assert.are.equal(100.0, v.e)
    assert.are.equal(0.0025, v.g)
  end)

  it("round-trips 2^53+1 and the 64-bit limits exactly", function()
    local big = (1 << 53) + 1
    local back = json.decode(json.encode({ big }))
    assert.are.equal("integer", math.type(back[1]))
    assert.are.equal(9007199254740993, back[1])
    assert.are.equal(math.maxinteger, json.decode("9223372036854775807"))
    assert.are.equal(math.mininteger, json.decode("-9223372036854775808"))
  end)

  it("turns integers beyond 64 bits into floats", function()
    local v = json.decode("18446744073709551615")
    assert.are.equal("float", math.type(v))
    assert.are.equal(1.8446744073709552e19, v)
  end)

  it("checks the number grammar inside objects too", function()
    local v = json.decode('{"a":0,"b":-0,"c":0.5,"d":-0.25,"e":10.75,"f":-3,"g":120}')
    assert.are.same({ a = 0, b = 0, c = 0.5, d = -0.25, e = 10.75, f = -3, g = 120 }, v)
    assert.are.equal("integer", math.type(v.a))
    assert.are.equal("integer", math.type(v.g))
    assert.are.equal("float", math.type(v.e))
    local bad = {
      { '{"a":01}', "leading zero%) at byte 6$" },
      { '{"a":-01}', "leading zero%) at byte 6$" },
      { '{"a":00.5}', "leading zero%) at byte 6$" },
      { '{"a":1.}', "after '%.'%) at byte 8$" },
      { '{"a":1.e3}', "after '%.'%) at byte 8$" },
    }
    for _, c in ipairs(bad) do
      local r, err = json.decode(c[1])
      assert.is_nil(r, c[1])
      assert.matches(c[2], err)
    end
    assert.are.equal(1.5e3, json.decode('{"a":1.5e3}').a)
    assert.are.equal(1, json.decode('{ "a" : 1 }').a)
  end)

  it("decodes null as json.null, keeping array length and object keys", function()
    local v = json.decode('[1,null,3]')
    assert.are.equal(3, #v)
    assert.are.equal(json.null, v[2])
    local o = json.decode('{"a":null}')
    assert.are.equal(json.null, o.a)
    assert.are.equal(json.null, json.decode("null"))
    assert.are.equal('{"a":null}', json.encode(o))
  end)

  it("keeps [] and {} apart on a round trip", function()
    assert.are.equal('{"a":[],"b":{}}', json.encode(json.decode('{"a":[],"b":{}}')))
    assert.are.equal(json.array_mt, getmetatable(json.decode("[1]")))
  end)

  it("decodes every escape", function()
    assert.are.equal('"\\/\b\f\n\r\t', json.decode([["\"\\\/\b\f\n\r\t"]]))
    assert.are.equal("A", json.decode([["\u0041"]]))
    assert.are.equal("é", json.decode([["\u00e9"]]))
    assert.are.equal("€", json.decode([["\u20AC"]]))
    assert.are.equal("\0", json.decode([["\u0000"]]))
  end)

  it("joins \\u surrogate pairs into one UTF-8 character", function()
    local s = json.decode([["\ud83d\ude00"]])
    assert.are.equal("😀", s)
    assert.are.equal("\240\159\152\128", s)
    assert.are.equal("x\u{1F600}y", json.decode([["x\uD83D\uDE00y"]]))
    assert.are.equal("\u{10FFFF}", json.decode([["\udbff\udfff"]]))
  end)

  it("turns lone surrogate escapes into U+FFFD", function()
    assert.are.equal("\u{FFFD}x", json.decode([["\ud800x"]]))
    assert.are.equal("\u{FFFD}", json.decode([["\udc00"]]))
    assert.are.equal("\u{FFFD}A", json.decode([["\ud800\u0041"]]))
  end)

  it("accepts whitespace around tokens", function()
    assert.are.same({ a = { 1, 2 } }, json.decode(' \t\r\n{ "a" : [ 1 , 2 ] } \n'))
  end)

  it("last duplicate key wins", function()
    assert.are.equal(2, json.decode('{"a":1,"a":2}').a)
  end)

  it("returns nil and a message with the byte position on malformed input", function()
    local cases = {
      { "",                 "at byte 1$" },
      { "[1,2",             "at byte 5$" },
      { "[1,]",             "at byte 4$" },
      { '{"a" 1}',          "expected ':'.* at byte 6$" },
      { '{"a":1,}',         "at byte 8$" },
      { "{a:1}",            "string key.* at byte 2$" },
      { '{"a":1} x',        "trailing garbage.* at byte 9$" },
      { "01",               "leading zero.* at byte 1$" },
      { "1.",               "at byte 3$" },
      { "-",                "at byte 1$" },
      { "1e",               "at byte 3$" },
      { ".5",               "at byte 1$" },
      { "+1",               "at byte 1$" },
      { "tru",              "at byte 1$" },
      { "nul",              "at byte 1$" },
      { '"abc',             "unterminated string at byte 1$" },
      { '"a\\x"',           "bad escape.* at byte 3$" },
      { '"\\u12g4"',        "bad \\u escape at byte 2$" },
      { '"a\nb"',           "control character.* at byte 3$" },
      { "[1] [2]",          "trailing garbage.* at byte 5$" },
      { "NaN",              "at byte 1$" },
    }
    for _, c in ipairs(cases) do
      local v, err = json.decode(c[1])
      assert.is_nil(v, c[1])
      assert.is_string(err)
      assert.matches(c[2], err, nil, false, c[1] .. " -> " .. tostring(err))
    end
  end)

  it("fails cleanly on nesting deeper than max_depth", function()
    local deep = string.rep("[", 100000) .. string.rep("]", 100000)
    local v, err = json.decode(deep)
    assert.is_nil(v)
    assert.matches("too deep", err)
    local ok = string.rep("[", 100) .. string.rep("]", 100)
    assert.is_table(json.decode(ok))
  end)

  it("raises on a non-string argument", function()
    assert.has_error(function() json.decode(42) end)
  end)

  it("decodes an array of 20000 records quickly", function()
    local parts = {}
    for i = 1, 20000 do
      parts[i] = string.format(
        '{"ts_ms":%d,"cpu_usage":%.3f,"mem_rss_kb":%d,"cmd":["a","b\\n"],"x":null}',
        1700000000000 + i, i / 7, i * 3)
    end
    local text = "[" .. table.concat(parts, ",") .. "]"
    local t0 = os.clock()
    local v = assert(json.decode(text))
    local dt = os.clock() - t0
    assert.are.equal(20000, #v)
    assert.are.equal(1700000020000, v[20000].ts_ms)
    assert.are.equal("b\n", v[1].cmd[2])
    assert.is_true(dt < 2, "decode took " .. dt .. " s")
  end)
end)

describe("denet.jsonl", function()
  it("writes one flushed line per record and reads back", function()
    local path = os.tmpname()
    local w = assert(jsonl(path))
    assert.are.equal(w, w:write({ kind = "mark", ts_ms = 1, label = "a" }))
    -- flushed: visible before close
    assert.are.equal('{"kind":"mark","label":"a","ts_ms":1}\n', S.slurp(path))
    w:write({ kind = "mark", ts_ms = 2, label = "b\nc" })
    assert.are.equal(2, w.lines)
    assert.is_true(w:close())
    assert.is_true(w:close()) -- idempotent
    assert.are.equal('{"kind":"mark","label":"a","ts_ms":1}\n'
      .. '{"kind":"mark","label":"b\\nc","ts_ms":2}\n', S.slurp(path))
    assert.has_error(function() w:write({}) end)
    os.remove(path)
  end)

  it("appends with mode 'a' and supports jsonl.open", function()
    local path = os.tmpname()
    local w = assert(jsonl.open(path))
    w:write({ n = 1 })
    w:close()
    w = assert(jsonl.open(path, "a"))
    w:write({ n = 2 })
    w:close()
    assert.are.equal('{"n":1}\n{"n":2}\n', S.slurp(path))
    os.remove(path)
  end)

  it("closes on <close>", function()
    local path = os.tmpname()
    local w2
    do
      local w <close> = assert(jsonl(path))
      w:write({ a = 1 })
      w2 = w
    end
    assert.is_true(w2.closed)
    os.remove(path)
  end)

  it("does not write a half record when encoding fails", function()
    local path = os.tmpname()
    local w = assert(jsonl(path))
    w:write({ ok = 1 })
    assert.has_error(function() w:write({ bad = print }) end,
      "denet.json.encode: cannot encode a function at .bad")
    w:write({ ok = 2 })
    w:close()
    assert.are.equal('{"ok":1}\n{"ok":2}\n', S.slurp(path))
    os.remove(path)
  end)

  it("fails as every denet function does: nil, \"ENAME: message\", \"ENAME\"", function()
    local w, msg, code = jsonl("/nonexistent-dir/x/y.jsonl")
    assert.is_nil(w)
    assert.are.equal("ENOENT: /nonexistent-dir/x/y.jsonl: No such file or directory", msg)
    assert.are.equal("ENOENT", code)
    -- a write that fails (a full disk) says so the same way
    w = assert(jsonl("/dev/full"))
    local r
    r, msg, code = w:write({ a = 1 })
    assert.is_nil(r)
    assert.are.equal("ENOSPC: /dev/full: No space left on device", msg)
    assert.are.equal("ENOSPC", code)
    w:close()
  end)
end)
