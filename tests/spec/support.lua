-- support.lua — shared helpers for the busted specs that drive the real
-- denet binary: run it (under valgrind when DENET_VALGRIND=1), capture
-- stdout/stderr/exit status, parse JSONL output, make temp files.
local json = require "denet.json"

local M = {}

M.root = os.getenv("DENET_ROOT") or "."
M.bin = os.getenv("DENET_BIN") or (M.root .. "/build/denet")
M.helpers = os.getenv("DENET_HELPERS") or (M.root .. "/build/helpers")
M.valgrind = os.getenv("DENET_VALGRIND") == "1"

function M.tmpname(suffix)
  local p = os.tmpname()
  if suffix then
    os.remove(p)
    p = p .. suffix
  end
  return p
end

function M.slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function M.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- Shell-quote one word.
function M.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Run denet with a list of words (or a raw shell string); returns
-- { code = exit status, out = stdout text, err = stderr text }.
-- opts.env: "VAR=val ..." prefix; opts.stdin: file path; opts.raw: string
-- appended unquoted (redirections, &).
function M.denet(args, opts)
  opts = opts or {}
  local words = {}
  if type(args) == "string" then
    words[1] = args
  else
    for i, a in ipairs(args) do words[i] = M.q(a) end
  end
  local outp, errp = os.tmpname(), os.tmpname()
  local prefix = M.valgrind
      and "valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --trace-children=no "
      or ""
  local cmd = ("%s %s%s %s %s >%s 2>%s </dev/null"):format(
    opts.env or "", prefix, M.q(M.bin), table.concat(words, " "), opts.raw or "", outp, errp)
  local ok, how, code = os.execute(cmd)
  local r = { out = M.slurp(outp) or "", err = M.slurp(errp) or "" }
  os.remove(outp)
  os.remove(errp)
  if how == "exit" then r.code = code else r.code = 128 + (code or 0) end
  r.cmd = cmd
  return r
end

-- Run a raw shell command line; same result shape as M.denet.
function M.sh(cmdline)
  local outp, errp = os.tmpname(), os.tmpname()
  local ok, how, code = os.execute(("%s >%s 2>%s </dev/null"):format(cmdline, outp, errp))
  local r = { out = M.slurp(outp) or "", err = M.slurp(errp) or "", cmd = cmdline }
  os.remove(outp)
  os.remove(errp)
  if how == "exit" then r.code = code else r.code = 128 + (code or 0) end
  return r
end

-- Every line of a JSONL text decoded (asserting each parses).
function M.records(text)
  local recs = {}
  for line in text:gmatch("[^\n]+") do
    local rec, err = json.decode(line)
    assert(rec, ("line %d does not parse: %s: %s"):format(#recs + 1, tostring(err), line))
    recs[#recs + 1] = rec
  end
  return recs
end

function M.of_kind(recs, kind)
  local out = {}
  for _, r in ipairs(recs) do
    if r.kind == kind then out[#out + 1] = r end
  end
  return out
end

-- The largest value of an aggregate metric over the tree records.
function M.max_agg(recs, metric)
  local best = nil
  for _, r in ipairs(M.of_kind(recs, "tree")) do
    local v = r.aggregated[metric]
    if best == nil or v > best then best = v end
  end
  return best
end

function M.helper(name)
  return M.helpers .. "/" .. name
end

return M
