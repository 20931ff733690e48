--[[
denet.jsonl — JSON Lines writers (the public `denet.jsonl(path)`).

Owns: writing records one per line so that no written record is ever lost
or half-written: each record is encoded first (an unencodable value raises
before anything is written), then written with a single file:write of the
line and "\n", then flushed.

  jsonl.open(path [, mode]) -> writer | nil, "ENAME: message", "ENAME"
      mode is "w" (default: create/truncate) or "a" (append). Failure to
      open returns nil, "ENAME: message", "ENAME" as every denet function
      does (e.g. "EACCES: /x.jsonl: Permission denied", "EACCES").
  jsonl(path [, mode])        the module is callable: same as jsonl.open.

  writer:write(tbl) -> writer | nil, "ENAME: message", "ENAME"
      Encodes tbl with denet.json.encode (raising on unencodable values or a
      non-table argument), writes one line and flushes. Raises if the writer
      is closed. I/O failures return nil, "ENAME: message", "ENAME"
      (a full disk: "ENOSPC").
  writer:flush()    -> writer | nil, "ENAME: message", "ENAME"
  writer:close()    -> true   (idempotent; also run by `<close>` and __gc)
  writer.path, writer.lines (number of records written), writer.closed
--]]

local json = require "denet.json"
local errno = require "denet.errno"

local jsonl = {}

local Writer = {}
Writer.__index = Writer
Writer.__name = "denet.jsonl.writer"

function Writer:write(rec)
  if getmetatable(self) ~= Writer then
    error("bad argument #1 to 'write' (denet.jsonl writer expected)", 2)
  end
  if self.closed then error("denet.jsonl: write to a closed writer (" .. self.path .. ")", 2) end
  if type(rec) ~= "table" then
    error("bad argument #1 to 'write' (table expected, got " .. type(rec) .. ")", 2)
  end
  local line = json.encode(rec) -- raises with the path of a bad value
  local ok, msg, code = self.file:write(line .. "\n")
  if not ok then return errno.fail(self.path .. ": " .. tostring(msg), code) end
  ok, msg, code = self.file:flush()
  if not ok then return errno.fail(self.path .. ": " .. tostring(msg), code) end
  self.lines = self.lines + 1
  return self
end

function Writer:flush()
  if self.closed then return self end
  local ok, msg, code = self.file:flush()
  if not ok then return errno.fail(self.path .. ": " .. tostring(msg), code) end
  return self
end

function Writer:close()
  if not self.closed then
    self.closed = true
    local f = self.file
    self.file = nil
    if f and io.type(f) == "file" then f:close() end
  end
  return true
end

Writer.__close = function(self) self:close() end
Writer.__gc = function(self) self:close() end
Writer.__tostring = function(self)
  return "denet.jsonl.writer(" .. self.path .. (self.closed and ", closed)" or ")")
end

--- Open a JSON Lines file for writing.
function jsonl.open(path, mode)
  if type(path) ~= "string" then
    error("bad argument #1 to 'jsonl' (string expected, got " .. type(path) .. ")", 2)
  end
  mode = mode or "w"
  if mode ~= "w" and mode ~= "a" then
    error("bad argument #2 to 'jsonl' (\"w\" or \"a\" expected, got " .. tostring(mode) .. ")", 2)
  end
  local f, msg, code = io.open(path, mode)
  if not f then return errno.fail(msg, code) end
  return setmetatable({ file = f, path = path, lines = 0, closed = false }, Writer)
end

jsonl.Writer = Writer

return setmetatable(jsonl, {
  __call = function(_, path, mode) return jsonl.open(path, mode) end,
})
