--[[
denet.read — a tolerant reader of recorded JSONL files (the public
`denet.read(path)`, also used by `denet stats` and `denet report`).

Owns: turning a JSONL file (denet HEAD with "kind" tags, or untagged denet
0.6.1 output) into a stream of record tables.

  read(path) -> iter, state, nil, state | nil, "ENAME: message", "ENAME"
      (as every denet function fails: e.g. nil, "ENOENT: run.jsonl: No
      such file or directory", "ENOENT"; a directory gives "EISDIR")
      iter() returns the next record (a decoded JSON object), or nil at the
      end of the file (the file is then closed). It ignores its arguments,
      so both forms work:

        for rec in read(p) do ... end     -- closes the file even on break
                                          -- (state is the loop's to-be-closed value)
        local it, st = read(p)
        for rec in it, st do ... end
        print(st.skipped)

      state = {
        path    = path,
        lines   = lines read so far (blank ones included),
        records = records returned so far,
        skipped = non-blank lines skipped so far: malformed JSON or a JSON
                  value that is not an object,
        first_error = "line N: message" for the first skipped line, or nil,
      }
      state:close() closes the file early (idempotent).

  Blank lines (only whitespace) are ignored; a trailing "\r" is dropped.
  Records without a "kind" (denet 0.6.1 files) get one inferred:
      has "aggregated"                 -> "tree"
      has "cmd", "pid" and "t0_ms"     -> "metadata"
      has "ts_ms" and "cpu_usage"      -> "sample"
  otherwise they are returned without a kind.

  read.open(path)  the same as read(path).
  read.infer_kind(rec) -> rec   sets rec.kind as above when it is missing.
--]]

local json = require "denet.json"
local errno = require "denet.errno"

local decode, find, byte = json.decode, string.find, string.byte

local read = {}

local function infer_kind(rec)
  if rec.kind == nil then
    if rec.aggregated ~= nil then
      rec.kind = "tree"
    elseif rec.cmd ~= nil and rec.pid ~= nil and rec.t0_ms ~= nil then
      rec.kind = "metadata"
    elseif rec.ts_ms ~= nil and rec.cpu_usage ~= nil then
      rec.kind = "sample"
    end
  end
  return rec
end
read.infer_kind = infer_kind

local State = {}
State.__index = State
State.__name = "denet.read.state"

function State:close()
  local f = self._file
  if f then
    self._file = nil
    if io.type(f) == "file" then f:close() end
  end
  return true
end
State.__close = function(self) self:close() end
State.__gc = function(self) self:close() end

local function open(path)
  if type(path) ~= "string" then
    error("bad argument #1 to 'read' (string expected, got " .. type(path) .. ")", 2)
  end
  local f, msg, code = io.open(path, "rb")
  if not f then return errno.fail(msg, code) end
  -- fopen accepts a directory; the first read fails: say so now
  local probe, perr, pcode = f:read(0)
  if probe == nil and pcode then
    f:close()
    return errno.fail(path .. ": " .. tostring(perr), pcode)
  end
  local st = setmetatable({ path = path, lines = 0, records = 0, skipped = 0, _file = f }, State)
  local next_line = f:lines("L") -- keeps "\n" so a final line without one is seen as such

  local function iter()
    local file = st._file
    if not file then return nil end
    while true do
      local line = next_line()
      if line == nil then
        st:close()
        return nil
      end
      st.lines = st.lines + 1
      -- strip the line end
      local n = #line
      if byte(line, n) == 10 then n = n - 1 end
      if n > 0 and byte(line, n) == 13 then n = n - 1 end
      if n < #line then line = line:sub(1, n) end
      if find(line, "[^ \t\r\n]") then
        local rec, err = decode(line)
        if type(rec) == "table" and rec ~= json.null
          and getmetatable(rec) ~= json.array_mt then
          st.records = st.records + 1
          return infer_kind(rec)
        end
        st.skipped = st.skipped + 1
        if not st.first_error then
          st.first_error = "line " .. st.lines .. ": "
            .. (err or "not a JSON object")
        end
      end
    end
  end

  return iter, st, nil, st
end
read.open = open

return setmetatable(read, {
  __call = function(_, path) return open(path) end,
})
