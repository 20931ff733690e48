--[[
denet.json — JSON encoding and decoding in pure Lua 5.4 (RFC 8259).

Owns: how Lua values map to JSON text and back, for the Lua API
(`denet.json.encode/decode`), for `denet.jsonl` writers and for `denet.read`.

  json.encode(v) -> string
      nil / json.null     -> null
      booleans            -> true / false
      integers            -> "%d" (exact, all 64 bits)
      floats              -> the shortest of "%.14g" / "%.17g" that reads back
                             as the same double; a ".0" is added to integral
                             floats (1.0 -> "1.0") so they decode as floats;
                             NaN and +/-inf -> null
      strings             -> valid UTF-8 JSON strings: '"', '\' and control
                             characters are escaped (\n \t \r \b \f, others
                             \u00XX; DEL is kept); invalid UTF-8 (overlongs,
                             surrogates, > U+10FFFF, truncated sequences,
                             stray continuation bytes) becomes U+FFFD, one per
                             maximal ill-formed subpart (as Unicode §3.9,
                             Rust's from_utf8_lossy and Python's "replace")
      tables              -> an array when its keys are exactly 1..n (n >= 1),
                             or when it has the metatable json.array_mt (then
                             t[1..max integer key], holes as null); an empty
                             table without json.array_mt is {}; otherwise an
                             object whose keys are sorted (stable output).
                             Keys are those pairs(t) gives (a __pairs
                             metamethod is honoured), values t[k].
                             Object keys must be strings or numbers (numbers
                             are written as strings).
      anything else (functions, userdata, threads), cycles, and non-string,
      non-number keys raise an error naming the path of the offending value:
      "denet.json.encode: cannot encode a function at .a.b[2]".

  json.decode(s) -> value | nil, "message at byte N"
      A complete RFC 8259 parser that never raises on bad input: malformed
      text, trailing garbage and nesting deeper than json.max_depth (512)
      return nil and a message naming the 1-based byte offset.
      - null (anywhere, also at top level) decodes to the sentinel json.null,
        so arrays keep their length and objects keep their keys; test with
        `v == json.null`.
      - arrays get the metatable json.array_mt, so [] re-encodes as [];
        objects are plain tables.
      - integer literals (no '.', 'e', 'E') that fit in a signed 64-bit
        integer become Lua integers; all other numbers become floats.
      - strings: every escape, \uXXXX surrogate pairs joined into one UTF-8
        character; a lone surrogate escape becomes U+FFFD. Raw bytes inside
        strings are passed through unchanged (unescaped control characters
        are an error, as the RFC says).
      - duplicate object keys: the last one wins.
--]]

local json = {}

local byte, char, find, format, sub, gsub = string.byte, string.char, string.find,
  string.format, string.sub, string.gsub
local concat, sort = table.concat, table.sort
local mtype = math.type
local utf8len, utf8char = utf8.len, utf8.char
local type, tostring, tonumber, getmetatable, setmetatable, error, pcall, pairs =
  type, tostring, tonumber, getmetatable, setmetatable, error, pcall, pairs

-- The null sentinel: a unique, read-only value.
json.null = setmetatable({}, {
  __name = "denet.json.null",
  __tostring = function() return "null" end,
  __newindex = function() error("denet.json.null is read-only", 2) end,
  __metatable = false,
})
local null = json.null

-- Metatable marking a table as a JSON array (empty ones included).
json.array_mt = { __name = "denet.json.array" }
local array_mt = json.array_mt

json.max_depth = 512

----------------------------------------------------------------------------
-- Encoding
----------------------------------------------------------------------------

local escapes = {
  ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t',
}
for i = 0, 31 do
  local c = char(i)
  if not escapes[c] then escapes[c] = format("\\u%04x", i) end
end

local ESC_PAT = '["\\\0-\31]'
local REPL = "\239\191\189" -- U+FFFD

-- Length of the maximal ill-formed subpart starting at byte i (>= 1).
local function bad_len(s, i)
  local b = byte(s, i)
  local need, lo, hi
  if b >= 0xC2 and b <= 0xDF then need, lo, hi = 1, 0x80, 0xBF
  elseif b == 0xE0 then need, lo, hi = 2, 0xA0, 0xBF
  elseif b == 0xED then need, lo, hi = 2, 0x80, 0x9F
  elseif b >= 0xE1 and b <= 0xEF then need, lo, hi = 2, 0x80, 0xBF
  elseif b == 0xF0 then need, lo, hi = 3, 0x90, 0xBF
  elseif b == 0xF4 then need, lo, hi = 3, 0x80, 0x8F
  elseif b >= 0xF1 and b <= 0xF3 then need, lo, hi = 3, 0x80, 0xBF
  else return 1 end
  local n = 1
  for k = 1, need do
    local c = byte(s, i + k)
    if not c or c < lo or c > hi then return n end
    n = n + 1
    lo, hi = 0x80, 0xBF
  end
  return n -- not reached for a sequence utf8.len rejected, but safe
end

-- Replace invalid UTF-8 in s with U+FFFD.
local function fix_utf8(s)
  local out, n, i, len = {}, 0, 1, #s
  while i <= len do
    local ok, bad = utf8len(s, i)
    if ok then
      n = n + 1; out[n] = sub(s, i)
      break
    end
    if bad > i then n = n + 1; out[n] = sub(s, i, bad - 1) end
    n = n + 1; out[n] = REPL
    i = bad + bad_len(s, bad)
  end
  return concat(out)
end
json._fix_utf8 = fix_utf8

local NEEDS_WORK = '["\\\0-\31\128-\255]'

local function encode_string(s)
  if not find(s, NEEDS_WORK) then return '"' .. s .. '"' end
  if find(s, "[\128-\255]") and not utf8len(s) then s = fix_utf8(s) end
  if find(s, ESC_PAT) then s = gsub(s, ESC_PAT, escapes) end
  return '"' .. s .. '"'
end

local function encode_number(v)
  if mtype(v) == "integer" then return format("%d", v) end
  if v ~= v or v == math.huge or v == -math.huge then return "null" end
  local s = format("%.14g", v)
  if tonumber(s) ~= v then s = format("%.17g", v) end
  if not find(s, "[%.eEn]") then s = s .. ".0" end
  return s
end
json._number = encode_number

-- Encoded object keys ('"name":'), cached: records repeat the same keys.
local key_cache, key_cache_n = {}, 0
local function encode_key(k)
  local e = key_cache[k]
  if e then return e end
  e = encode_string(k) .. ":"
  if key_cache_n >= 4096 then key_cache, key_cache_n = {}, 0 end
  key_cache[k] = e
  key_cache_n = key_cache_n + 1
  return e
end

local function path_of(stack, depth)
  local parts = {}
  for d = 1, depth do
    local k = stack[d]
    if mtype(k) == "integer" then parts[d] = "[" .. k .. "]"
    else
      k = tostring(k)
      if find(k, "^[%a_][%w_]*$") then parts[d] = "." .. k
      else parts[d] = "[" .. format("%q", k) .. "]" end
    end
  end
  local p = concat(parts)
  return p == "" and "(root)" or p
end

local function enc_error(what, stack, depth)
  error("denet.json.encode: " .. what .. " at " .. path_of(stack, depth), 0)
end

-- Keys of a non-array table as sorted strings; names[string] = original key.
local function object_keys(keys, nk, stack, depth)
  -- fast path: all keys are strings (sort succeeds and the first is a string)
  if pcall(sort, keys) and type(keys[1]) == "string" then return keys, nil end
  local names, out = {}, {}
  for i = 1, nk do
    local k = keys[i]
    local kt = type(k)
    local name
    if kt == "string" then name = k
    elseif kt == "number" then name = encode_number(k)
    else
      stack[depth + 1] = tostring(k)
      enc_error("cannot encode a " .. kt .. " key", stack, depth + 1)
    end
    out[i] = name
    names[name] = k
  end
  sort(out)
  return out, names
end

local encode_value

-- buf: output pieces; seen: tables on the current path; stack: keys on it.
encode_value = function(v, buf, n, seen, stack, depth)
  local t = type(v)
  if t == "string" then
    n = n + 1; buf[n] = encode_string(v)
  elseif t == "number" then
    local s = tostring(v) -- "%d" or "%.14g" (+".0"): final when it reads back
    if tonumber(s) ~= v then s = encode_number(v) end
    n = n + 1; buf[n] = s
  elseif t == "boolean" then
    n = n + 1; buf[n] = v and "true" or "false"
  elseif v == nil or v == null then
    n = n + 1; buf[n] = "null"
  elseif t == "table" then
    if seen[v] then enc_error("cycle (a table contains itself)", stack, depth) end
    seen[v] = true
    local keys, nk = {}, 0
    -- pairs, not next: a sample record's tables fill themselves on first
    -- use (__pairs), and so may a user's proxy
    for k in pairs(v) do
      nk = nk + 1; keys[nk] = k
    end
    local len = #v
    local is_array = false
    if getmetatable(v) == array_mt then
      is_array = true
      if nk ~= len then -- holes or other keys
        len = 0
        for i = 1, nk do
          local k = keys[i]
          if mtype(k) ~= "integer" or k < 1 then
            stack[depth + 1] = k
            enc_error("a non-index key in a json.array_mt table", stack, depth + 1)
          end
          if k > len then len = k end
        end
      end
    elseif nk == len and nk > 0 then
      is_array = true
      for i = 1, len do
        if v[i] == nil then is_array = false; break end
      end
    end
    if is_array then
      n = n + 1; buf[n] = "["
      for i = 1, len do
        if i > 1 then n = n + 1; buf[n] = "," end
        stack[depth + 1] = i
        n = encode_value(v[i], buf, n, seen, stack, depth + 1)
      end
      n = n + 1; buf[n] = "]"
    elseif nk == 0 then
      n = n + 1; buf[n] = "{}"
    else
      local names
      keys, names = object_keys(keys, nk, stack, depth)
      n = n + 1; buf[n] = "{"
      for i = 1, nk do
        local name = keys[i]
        if i > 1 then n = n + 1; buf[n] = "," end
        n = n + 1; buf[n] = encode_key(name)
        local k = names and names[name] or name
        stack[depth + 1] = k
        n = encode_value(v[k], buf, n, seen, stack, depth + 1)
      end
      n = n + 1; buf[n] = "}"
    end
    seen[v] = nil
  else
    enc_error("cannot encode a " .. t, stack, depth)
  end
  return n
end

--- Encode a Lua value as JSON text (raises on unsupported values).
function json.encode(v)
  local t = type(v)
  if t == "string" then return encode_string(v) end
  if t == "number" then return encode_number(v) end
  local buf = {}
  local n = encode_value(v, buf, 0, {}, {}, 0)
  if n == 1 then return buf[1] end
  return concat(buf, "", 1, n)
end

----------------------------------------------------------------------------
-- Decoding
----------------------------------------------------------------------------

-- Errors inside the parser are raised as a table {msg, pos} and turned
-- into `nil, message` by json.decode.
local ParseError = {}

local function fail(msg, pos)
  error(setmetatable({ msg = msg, pos = pos }, ParseError), 0)
end

local function describe(s, pos)
  local c = sub(s, pos, pos)
  if c == "" then return "end of input" end
  if find(c, "[%w%p ]") then return "'" .. c .. "'" end
  return format("byte 0x%02X", byte(c))
end

local escape_char = {
  [34] = '"', [92] = "\\", [47] = "/", [98] = "\b", [102] = "\f",
  [110] = "\n", [114] = "\r", [116] = "\t",
}

local STR_FAST = '^([^"\\\0-\31]*)"'
local STR_SPECIAL = '["\\\0-\31]'

-- Slow path of a string with escapes (or an error); pos at the opening quote.
local function parse_string_slow(s, pos)
  local buf, n = {}, 0
  local i = pos + 1
  local e = find(s, STR_SPECIAL, i)
  while true do
    if not e then fail("unterminated string", pos) end
    local c = byte(s, e)
    if c == 34 then
      n = n + 1; buf[n] = sub(s, i, e - 1)
      return concat(buf, "", 1, n), e + 1
    elseif c == 92 then
      if e > i then n = n + 1; buf[n] = sub(s, i, e - 1) end
      local x = byte(s, e + 1)
      local simple = escape_char[x]
      if simple then
        n = n + 1; buf[n] = simple
        i = e + 2
      elseif x == 117 then -- \uXXXX
        local hex = sub(s, e + 2, e + 5)
        if not find(hex, "^%x%x%x%x$") then fail("bad \\u escape", e) end
        local cp = tonumber(hex, 16)
        i = e + 6
        if cp >= 0xD800 and cp <= 0xDBFF then
          local lo_hex = byte(s, i) == 92 and byte(s, i + 1) == 117 and sub(s, i + 2, i + 5)
          local lo = lo_hex and find(lo_hex, "^%x%x%x%x$") and tonumber(lo_hex, 16)
          if lo and lo >= 0xDC00 and lo <= 0xDFFF then
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
            i = i + 6
          else
            cp = 0xFFFD -- lone high surrogate
          end
        elseif cp >= 0xDC00 and cp <= 0xDFFF then
          cp = 0xFFFD -- lone low surrogate
        end
        n = n + 1; buf[n] = utf8char(cp)
      else
        fail("bad escape \\" .. (x and char(x) or ""), e)
      end
    else
      fail(format("unescaped control character 0x%02X in string", c), e)
    end
    e = find(s, STR_SPECIAL, i)
  end
end

-- A number; pos at its first byte c ('-' or a digit).
local NUM = "^(-?%d+)(%.?%d*)([eE]?[-+]?%d*)"
local function parse_number(s, pos, c)
  local _, e, int, frac, exp = find(s, NUM, pos)
  if not e then fail("bad number", pos) end
  -- leading zeros ("01", "-01") are not JSON
  local first = c == 45 and byte(int, 2) or c
  if first == 48 and #int > (c == 45 and 2 or 1) then
    fail("bad number (leading zero)", pos)
  end
  if frac == "" and exp == "" then
    -- an integer literal: an integer when it fits 64 bits, else a float
    return tonumber(int), e + 1
  end
  if frac ~= "" and #frac < 2 then
    fail("bad number (digits expected after '.')", pos + #int + 1)
  end
  if exp ~= "" and not find(exp, "^[eE][-+]?%d+$") then
    if byte(exp, 1) == 101 or byte(exp, 1) == 69 then
      fail("bad number (digits expected in exponent)", pos + #int + #frac + 1)
    end
    -- "1+2": the number ends before the sign
    e = pos + #int + #frac - 1
    if frac == "" then return tonumber(int), e + 1 end
  end
  return tonumber(sub(s, pos, e)) + 0.0, e + 1
end

local parse_value

local function skip_ws(s, pos)
  return find(s, "[^ \t\r\n]", pos) or #s + 1
end

-- "key":number then ',' or '}': key, number text, position after the
-- integer digits, terminator (checked for JSON's number grammar after)
local PAIR_NUM = '^"([^"\\\0-\31]*)":(-?%d+%.?%d*)()([,}])'
local POW10 = {}
for i = 0, 400 do POW10[i] = 10.0 ^ i end

-- whitespace bytes
local WS = { [32] = true, [9] = true, [10] = true, [13] = true }

parse_value = function(s, pos, depth)
  local c = byte(s, pos)
  if WS[c] then
    pos = skip_ws(s, pos)
    c = byte(s, pos)
  end
  if c == 34 then
    local _, e, str = find(s, STR_FAST, pos + 1)
    if e then return str, e + 1 end
    return parse_string_slow(s, pos)
  elseif c == 123 then -- {
    if depth >= json.max_depth then fail("nesting too deep", pos) end
    local obj = {}
    pos = pos + 1
    c = byte(s, pos)
    if WS[c] then pos = skip_ws(s, pos); c = byte(s, pos) end
    if c == 125 then return obj, pos + 1 end
    while true do
      -- fast path: "key":number followed by ',' or '}' (compact output)
      local _, e, key, num, p2, term = find(s, PAIR_NUM, pos)
      if e then
        local v = tonumber(num)
        local intlen = p2 - (pos + #key + 3)
        -- a fraction needs digits; no leading zeros (else: slow path)
        local ok = intlen == #num or #num - intlen >= 2
        if ok then
          if v >= 0 then ok = intlen == 1 or v >= POW10[intlen - 1]
          else ok = intlen == 2 or -v >= POW10[intlen - 2] end
        end
        if ok then
          obj[key] = v
          pos = e + 1
          if term == "}" then return obj, pos end
          c = byte(s, pos)
          if WS[c] then pos = skip_ws(s, pos); c = byte(s, pos) end
          goto continue
        end
      end
      if c ~= 34 then
        fail("expected a string key but found " .. describe(s, pos), pos)
      end
      do
      local k, v
      local _, se, str = find(s, STR_FAST, pos + 1)
      if se then k, pos = str, se + 1 else k, pos = parse_string_slow(s, pos) end
      c = byte(s, pos)
      if WS[c] then pos = skip_ws(s, pos); c = byte(s, pos) end
      if c ~= 58 then fail("expected ':' but found " .. describe(s, pos), pos) end
      v, pos = parse_value(s, pos + 1, depth + 1)
      obj[k] = v
      c = byte(s, pos)
      if WS[c] then pos = skip_ws(s, pos); c = byte(s, pos) end
      if c == 125 then return obj, pos + 1 end
      if c ~= 44 then fail("expected ',' or '}' but found " .. describe(s, pos), pos) end
      pos = pos + 1
      c = byte(s, pos)
      if WS[c] then pos = skip_ws(s, pos); c = byte(s, pos) end
      end
      ::continue::
    end
  elseif c == 91 then -- [
    if depth >= json.max_depth then fail("nesting too deep", pos) end
    local arr, n = setmetatable({}, array_mt), 0
    pos = pos + 1
    c = byte(s, pos)
    if WS[c] then pos = skip_ws(s, pos); c = byte(s, pos) end
    if c == 93 then return arr, pos + 1 end
    while true do
      local v
      v, pos = parse_value(s, pos, depth + 1)
      n = n + 1; arr[n] = v
      c = byte(s, pos)
      if WS[c] then pos = skip_ws(s, pos); c = byte(s, pos) end
      if c == 93 then return arr, pos + 1 end
      if c ~= 44 then fail("expected ',' or ']' but found " .. describe(s, pos), pos) end
      pos = pos + 1
    end
  elseif c == 45 or (c and c >= 48 and c <= 57) then
    return parse_number(s, pos, c)
  elseif c == 116 then
    if find(s, "^true", pos) then return true, pos + 4 end
  elseif c == 102 then
    if find(s, "^false", pos) then return false, pos + 5 end
  elseif c == 110 then
    if find(s, "^null", pos) then return null, pos + 4 end
  end
  fail("unexpected " .. describe(s, pos), pos)
end

--- Decode JSON text. Returns the value, or nil and "message at byte N".
function json.decode(s)
  if type(s) ~= "string" then
    error("bad argument #1 to 'decode' (string expected, got " .. type(s) .. ")", 2)
  end
  local ok, v, pos = pcall(parse_value, s, 1, 0)
  if not ok then
    if getmetatable(v) == ParseError then
      return nil, "denet.json.decode: " .. v.msg .. " at byte " .. v.pos
    end
    error(v, 0) -- a bug, not bad input
  end
  pos = skip_ws(s, pos)
  if pos <= #s then
    return nil, "denet.json.decode: trailing garbage (" .. describe(s, pos) .. ") at byte " .. pos
  end
  return v
end

return json
