-- lua-indent.lua — denet's one indentation style for Lua files: two spaces
-- per level. Rewrites each leading tab as two spaces, on every line that
-- begins in code; a line that begins inside a string or a comment that
-- spans lines ([[ ]], [==[ ]==], --[[ ]], a "...\<newline>" string) is
-- content, and is left byte for byte as it is.
--
--   lua5.4 tools/lua-indent.lua FILE...           rewrite the files in place
--   lua5.4 tools/lua-indent.lua --check FILE...   change nothing; name each
--                                                 file that would change, exit 1
--
-- Only the leading white space of a line is looked at: a tab after the
-- first non-blank character stays (it may be inside a string).
local find, sub, byte = string.find, string.sub, string.byte

local function usage()
  io.stderr:write("usage: lua5.4 tools/lua-indent.lua [--check] FILE...\n")
  os.exit(2)
end

-- The level of a long bracket "[" "="* "[" at i, or nil.
local function long_open(src, i)
  local s, e = find(src, "^%[=*%[", i)
  if not s then return nil end
  return e - s - 1, e
end

-- The text with the leading tabs of each code line as two spaces.
local function reindent(src)
  local out, n = {}, 0
  local i, len = 1, #src
  local state, level, quote = "code", 0, nil -- code | short | long | linecomment
  local line_start = true
  while i <= len do
    if line_start then
      line_start = false
      if state == "code" then
        local _, e = find(src, "^[ \t]*", i)
        if e >= i then
          local ws = sub(src, i, e)
          n = n + 1
          out[n] = (ws:gsub("\t", "  "))
          i = e + 1
        end
        if i > len then break end
      end
    end
    local c = byte(src, i)
    if c == 10 then -- "\n"
      if state == "linecomment" then state = "code" end
      n = n + 1
      out[n] = "\n"
      i = i + 1
      line_start = true
    elseif state == "code" then
      local lvl, e
      if c == 45 and byte(src, i + 1) == 45 then -- "--"
        lvl, e = long_open(src, i + 2)
        if lvl then
          state, level = "long", lvl
          n = n + 1
          out[n] = sub(src, i, e)
          i = e + 1
        else
          state = "linecomment"
          n = n + 1
          out[n] = "--"
          i = i + 2
        end
      elseif c == 91 then -- "["
        lvl, e = long_open(src, i)
        if lvl then
          state, level = "long", lvl
          n = n + 1
          out[n] = sub(src, i, e)
          i = e + 1
        else
          n = n + 1
          out[n] = "["
          i = i + 1
        end
      elseif c == 34 or c == 39 then -- a quote
        state, quote = "short", c
        n = n + 1
        out[n] = sub(src, i, i)
        i = i + 1
      else
        n = n + 1
        out[n] = sub(src, i, i)
        i = i + 1
      end
    elseif state == "short" then
      if c == 92 then -- "\": the next byte (a newline too) is escaped
        n = n + 1
        out[n] = sub(src, i, i + 1)
        i = i + 2
        -- an escaped newline continues the string: the next line is content
      elseif c == quote then
        state = "code"
        n = n + 1
        out[n] = sub(src, i, i)
        i = i + 1
      else
        n = n + 1
        out[n] = sub(src, i, i)
        i = i + 1
      end
    elseif state == "long" then
      local close = "]" .. ("="):rep(level) .. "]"
      local s, e = find(src, close, i, true)
      local nl = find(src, "\n", i, true)
      if s and (not nl or s < nl) then
        n = n + 1
        out[n] = sub(src, i, e)
        i = e + 1
        state = "code"
      elseif nl then
        n = n + 1
        out[n] = sub(src, i, nl - 1)
        i = nl -- the newline is handled above; the next line stays as it is
      else
        n = n + 1
        out[n] = sub(src, i)
        i = len + 1
      end
    else -- linecomment: to the end of the line
      local nl = find(src, "\n", i, true) or len + 1
      n = n + 1
      out[n] = sub(src, i, nl - 1)
      i = nl
    end
  end
  return table.concat(out, "", 1, n)
end

local check, files = false, {}
for _, a in ipairs(arg) do
  if a == "--check" then
    check = true
  elseif a:sub(1, 1) == "-" then
    usage()
  else
    files[#files + 1] = a
  end
end
if #files == 0 then usage() end

local changed = 0
for _, path in ipairs(files) do
  local f = assert(io.open(path, "rb"))
  local src = f:read("a")
  f:close()
  local new = reindent(src)
  if new ~= src then
    changed = changed + 1
    if check then
      io.stderr:write("lua-indent: ", path, ": tabs in the indentation (run tools/lua-indent.lua)\n")
    else
      local w = assert(io.open(path, "wb"))
      assert(w:write(new))
      assert(w:close())
      io.stderr:write("lua-indent: reindented ", path, "\n")
    end
  end
end
if check and changed > 0 then os.exit(1) end
