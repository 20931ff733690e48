-- support.lua — the one helper module of the busted specs (tests/spec/):
-- run the real denet binary (under valgrind when DENET_VALGRIND=1) or a
-- shell line and capture stdout/stderr/exit status, parse JSONL output,
-- make temp files, build the test helper programs, and the small checks
-- several specs need (root? a pid alive? a median, a count). A helper
-- wanted by two specs lives here, not in a copy in each.
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

-- A new temp file holding text; returns its path.
function M.tmpfile(text, suffix)
  local path = M.tmpname(suffix)
  M.write(path, text)
  return path
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
  local _, how, code = os.execute(cmd)
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
  local _, how, code = os.execute(("%s >%s 2>%s </dev/null"):format(cmdline, outp, errp))
  local r = { out = M.slurp(outp) or "", err = M.slurp(errp) or "", cmd = cmdline }
  os.remove(outp)
  os.remove(errp)
  if how == "exit" then r.code = code else r.code = 128 + (code or 0) end
  return r
end

-- The stdout of a shell script read through a pipe (stdin is not
-- redirected: the script says where its commands' goes; stderr is
-- dropped when quiet). Unlike M.sh, a `cmd & ...` list needs no braces.
function M.capture(script, quiet)
  if quiet then script = "{ " .. script .. "; } 2>/dev/null" end
  local p = assert(io.popen(script))
  local out = p:read("a")
  p:close()
  return out
end

-- Whether a process exists (kill -0).
function M.alive(pid)
  return os.execute("kill -0 " .. pid .. " 2>/dev/null") == true
end

-- Whether the specs run as root (what eBPF, privilege drops and deps.sh need).
local root
function M.is_root()
  if root == nil then root = M.sh("id -u").out:match("^0%s") ~= nil end
  return root
end

-- How many times a Lua pattern occurs in a text.
function M.count(text, pat)
  local n = 0
  for _ in text:gmatch(pat) do n = n + 1 end
  return n
end

-- The median of a list of numbers (nil for none); the list is not changed.
function M.median(xs)
  local t = table.move(xs, 1, #xs, 1, {})
  table.sort(t)
  local n = #t
  if n == 0 then return nil end
  if n % 2 == 1 then return t[(n + 1) // 2] end
  return (t[n // 2] + t[n // 2 + 1]) / 2
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

-- The path of a helper program (tests/helpers/NAME.c), built as the
-- Makefile builds it (frame pointers and -g, for the stack specs) when
-- `make all` ran but not `make spec`.
function M.helper(name)
  local path = M.helpers .. "/" .. name
  local f = io.open(path, "r")
  if f then
    f:close()
  else
    os.execute(("mkdir -p %s && cc -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -fno-omit-frame-pointer "
      .. "-o %s %s/tests/helpers/%s.c -lpthread"):format(M.q(M.helpers), M.q(path), M.q(M.root), name))
  end
  return path
end

-- Wait up to secs (5) for the file at path to match pat; its text, or an
-- error naming what was awaited.
function M.wait_for(path, pat, secs)
  local deadline = os.time() + (secs or 5)
  repeat
    local text = M.slurp(path) or ""
    if text:find(pat) then return text end
    os.execute("sleep 0.01")
  until os.time() > deadline
  error(("timed out waiting for %q in %s: %s"):format(pat, path, M.slurp(path) or ""))
end

-- Why `what` (an eBPF feature) cannot be tested here, or nil: not root,
-- or denet (the module) says eBPF is unavailable.
function M.no_ebpf(denet, what)
  if not M.is_root() then return what .. " needs root here (CI runs as root)" end
  if not denet.features.ebpf then
    return "eBPF unavailable: " .. tostring(denet.features.reason.ebpf)
  end
end

-- A copy of the denet binary that user nobody can run (a build tree under
-- /root is not theirs to enter); returns its path and a function that
-- removes it.
function M.denet_for_nobody()
  local dir = M.tmpname("-nobody")
  assert(os.execute("mkdir -p " .. M.q(dir) .. " && cp " .. M.q(M.bin) .. " " .. M.q(dir) ..
    "/denet && chmod -R a+rx " .. M.q(dir)))
  return dir .. "/denet", function() os.execute("rm -rf " .. M.q(dir)) end
end

return M
