--[[
denet.args — command-line options for scripts (`denet SCRIPT.lua ARGS...`),
the shipped ones in scripts/ and users' own (docs/lua-api.md).

Owns: what an option looks like on the command line and what is wrong with
one. A script declares its options once; the parser gives back a table of
values and the words left over (the command to run, or a file), and writes
the usage and help texts from the same declarations.

  local p = args.parser{
    name = "mem-alert",                       -- errors say "denet: mem-alert: ..."
    usage = "usage: denet scripts/mem-alert.lua --limit SIZE -- CMD [ARGS...]",
    { "limit", value = "SIZE", help = "alert above SIZE (512M, 2G)" },
    { "interval", value = "MS", type = "number", min = 1, help = "sample every MS ms" },
    { "action", value = "ACTION", choices = { "stop", "term", "kill" } },
    { "watch", value = "RULE", many = true },  -- repeatable: a list
    { "no-kernel", help = "a flag: no value" },
  }
  local o, words, dashdash = p:parse(arg)   -- or nil, "one-line error"
  local o, words, dashdash = p:parse_or_exit(arg)
  p:fail(msg)                                -- msg and usage on stderr, exit 2

An option is a flag (true when given) unless it has `value` (a name for its
value in the help text). `type` is "string" (default), "number" or
"integer" (finite: nan and inf are refused); numbers may have `min`
(>= min) or `above` (> above). `default`
is the value when the option is absent. The key in the result is the name
with "-" as "_" (o.no_kernel), or `key`.

On the command line: `--name value` and `--name=value`; `-h` and `--help`
set o.help (the rest is not parsed); `--` ends the options; so does the
first word that does not start with "-" (a lone "-" is a word). A value is
taken as it is, even when it starts with "-".
--]]

local args = {}

local Parser = {}
Parser.__index = Parser

local TYPES = { string = true, number = true, integer = true }

-- The declarations are checked when the script starts, not when a user
-- happens to give the option: a typo in a script is the script's error.
function args.parser(spec)
  assert(type(spec) == "table", "args.parser takes a table")
  local p = setmetatable({ name = spec.name, synopsis = spec.usage, list = {}, by_name = {} }, Parser)
  if p.name == nil and type(arg) == "table" and type(arg[0]) == "string" then
    p.name = (arg[0]:match("([^/]+)$") or arg[0]):gsub("%.lua$", "")
  end
  for i, o in ipairs(spec) do
    local name = o[1] or o.name
    assert(type(name) == "string" and name:match("^[%w][%w_-]*$"),
      ("args.parser: option %d needs a name such as \"out\""):format(i))
    assert(not p.by_name[name] and name ~= "help", ("args.parser: option '%s' declared twice"):format(name))
    local d = {
      name = name, flag = "--" .. name, key = o.key or name:gsub("-", "_"),
      value = o.value, type = o.type or "string", min = o.min, above = o.above,
      choices = o.choices, many = o.many, default = o.default, help = o.help,
    }
    assert(TYPES[d.type], ("args.parser: option '%s': type must be string, number or integer"):format(name))
    if d.value == nil then
      assert(o.type == nil and not o.many and not o.choices,
        ("args.parser: option '%s' takes a value: give it value = \"NAME\""):format(name))
    end
    p.list[#p.list + 1] = d
    p.by_name[name] = d
  end
  return p
end

local function choice_list(choices)
  if #choices == 1 then return choices[1] end
  return table.concat(choices, ", ", 1, #choices - 1) .. " or " .. choices[#choices]
end

-- The value of one option from its text, or nil and why not.
local function convert(d, text)
  if d.type == "string" then
    if d.choices then
      for _, c in ipairs(d.choices) do
        if c == text then return text end
      end
      return nil, ("%s must be %s, not '%s'"):format(d.flag, choice_list(d.choices), text)
    end
    return text
  end
  local v = tonumber(text)
  if d.type == "integer" and v then v = math.tointeger(v) end
  -- not nan, not inf (1e999): a figure no option can mean
  local ok = v ~= nil and v == v and v ~= math.huge and v ~= -math.huge
    and (d.min == nil or v >= d.min) and (d.above == nil or v > d.above)
  if ok then return v end
  local what = d.type == "integer" and "a whole number" or "a number"
  if d.min then
    what = ("%s >= %s"):format(what, d.min)
  elseif d.above then
    what = ("%s > %s"):format(what, d.above)
  end
  return nil, ("%s takes %s, not '%s'"):format(d.flag, what, text)
end

-- argv: the script's `arg` table (arg[1] .. arg[#arg]; arg[0] and the
-- negative indices are not looked at). Returns the options, the words
-- after them (a new list) and whether "--" ended the options; or nil and
-- a one-line message naming the option at fault.
function Parser:parse(argv)
  local o = {}
  for _, d in ipairs(self.list) do
    if d.many then
      o[d.key] = {}
    elseif d.default ~= nil then
      o[d.key] = d.default
    end
  end
  local i, n, dashdash = 1, #argv, false
  while i <= n do
    local a = argv[i]
    if a == "--" then
      dashdash = true
      i = i + 1
      break
    elseif a == "-h" or a == "--help" then
      o.help = true
      return o, {}, false
    elseif a:sub(1, 1) ~= "-" or a == "-" then
      break -- the command (or a file) starts here
    end
    local name, inline = a:match("^%-%-([^=]+)=(.*)$")
    name = name or a:match("^%-%-(.+)$")
    local d = name and self.by_name[name]
    if not d then
      return nil, ("unknown option '%s'"):format(name and "--" .. name or a)
    end
    if not d.value then
      if inline then return nil, ("%s takes no value"):format(d.flag) end
      o[d.key] = true
    else
      local text = inline
      if text == nil then
        i = i + 1
        text = argv[i]
        if text == nil then return nil, ("%s needs a value (%s)"):format(d.flag, d.value) end
      end
      local v, err = convert(d, text)
      if v == nil then return nil, err end
      if d.many then
        local list = o[d.key]
        list[#list + 1] = v
      else
        o[d.key] = v
      end
    end
    i = i + 1
  end
  return o, table.move(argv, i, n, 1, {}), dashdash
end

-- The synopsis the script gave (or one made from the options).
function Parser:usage()
  if self.synopsis then return self.synopsis end
  local parts = { "usage: denet " .. (arg and arg[0] or "SCRIPT.lua") }
  for _, d in ipairs(self.list) do
    parts[#parts + 1] = ("[%s%s]"):format(d.flag, d.value and " " .. d.value or "")
  end
  return table.concat(parts, " ")
end

-- The synopsis and one line per option (what -h/--help prints).
function Parser:help()
  local lines, width = { self:usage(), "", "options:" }, 0
  local heads = {}
  for i, d in ipairs(self.list) do
    heads[i] = d.flag .. (d.value and " " .. d.value or "")
    width = math.max(width, #heads[i])
  end
  heads[#heads + 1] = "-h, --help"
  width = math.max(width, #heads[#heads])
  for i, d in ipairs(self.list) do
    local text = d.help or ""
    if d.choices then text = text .. (text ~= "" and " " or "") .. "(" .. table.concat(d.choices, "|") .. ")" end
    if d.many then text = text .. (text ~= "" and "; " or "") .. "may be repeated" end
    if d.default ~= nil then text = text .. (text ~= "" and "; " or "") .. "default " .. tostring(d.default) end
    lines[#lines + 1] = ("  %-" .. width .. "s  %s"):format(heads[i], text):gsub("%s+$", "")
  end
  lines[#lines + 1] = ("  %-" .. width .. "s  %s"):format(heads[#heads], "this help")
  return table.concat(lines, "\n")
end

-- A bad command line: the message (when given) and the usage on stderr,
-- exit status 2.
function Parser:fail(msg)
  if msg then io.stderr:write("denet: ", self.name or "script", ": ", msg, "\n") end
  io.stderr:write(self:usage(), "\n")
  os.exit(2)
end

-- parse, with what every script does next: -h/--help prints the help on
-- stdout and exits 0; an error is fail(msg).
function Parser:parse_or_exit(argv)
  local o, words, dashdash = self:parse(argv)
  if not o then self:fail(words) end
  if o.help then
    io.stdout:write(self:help(), "\n")
    os.exit(0)
  end
  return o, words, dashdash
end

return args
