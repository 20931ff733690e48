-- lifecycle_spec.lua — the lives of the Lua API's objects and of a script
-- run by the real binary: objects that fail half-way close cleanly, hooks
-- files that fail, denet.stop() inside p:wait(), totals when monitoring
-- ends early, signals while Lua is busy, os.exit while commands run, and
-- p:detach().

local S = require "support"
package.path = S.root .. "/lua/?/init.lua;" .. package.path
local denet = require "denet"

-- A script run by denet; stdin from `stdin` (a path) when given.
local function script(text, opts)
  opts = opts or {}
  local path = S.tmpname(".lua")
  S.write(path, text)
  local words = { S.q(S.bin), S.q(path) }
  for _, a in ipairs(opts.args or {}) do words[#words + 1] = S.q(a) end
  local cmd = table.concat(words, " ")
  if opts.prefix then cmd = opts.prefix .. " " .. cmd end
  local outp, errp = os.tmpname(), os.tmpname()
  local ok, how, code = os.execute(("%s >%s 2>%s <%s"):format(cmd, outp, errp,
    opts.stdin and S.q(opts.stdin) or "/dev/null"))
  local r = { out = S.slurp(outp) or "", err = S.slurp(errp) or "", path = path }
  os.remove(outp)
  os.remove(errp)
  r.code = how == "exit" and code or 128 + (code or 0)
  return r
end

describe("objects that fail half-way", function()
  it("failed run/attach/offcpu objects, once collected, leave fd 0 open", function()
    local input = S.tmpname(".txt")
    S.write(input, "stdin is still here\n")
    local r = script([[
local denet = require "denet"
assert(not denet.run{ "true", out = "/nonexistent/x" })
assert(not denet.run{ "true", stdout = "/nonexistent/x" })
assert(not denet.run{ "/nonexistent/cmd" })
assert(not denet.attach(999999))
assert(not denet.attach(999999, { out = "/nonexistent/x" }))
denet.offcpu{ pid = 999999 } -- nil (no eBPF or no such pid) either way
collectgarbage(); collectgarbage()
io.write(io.read("a"))
]], { stdin = input })
    os.remove(input)
    assert.equal(0, r.code, r.err)
    assert.equal("stdin is still here\n", r.out)
  end)
end)

describe("denet run/attach -s HOOKS", function()
  local function alive(pid)
    return os.execute("kill -0 " .. pid .. " 2>/dev/null") == true
  end

  it("a hooks file that fails to load: its error, exit 1, the command never starts", function()
    local hooks = S.tmpname(".lua")
    S.write(hooks, 'error("x")\n')
    local marker = S.tmpname(".ran")
    os.remove(marker)
    local out = S.tmpname(".jsonl")
    os.remove(out)
    local r = S.denet{ "-o", out, "run", "-s", hooks, "--", "sh", "-c", "touch " .. S.q(marker) }
    assert.equal(1, r.code)
    assert.equal("denet: " .. hooks .. ":1: x", r.err:match("^[^\n]*"))
    assert.is_nil(io.open(marker), "the command ran")
    assert.is_nil(io.open(out), "an empty output file was left")
    -- attach: the process is left alone
    local p = assert(denet.run{ "sleep", "5" })
    r = S.denet{ "-q", "attach", "-s", hooks, tostring(p.pid) }
    assert.equal(1, r.code)
    assert.matches(":1: x", r.err)
    assert.is_true(p.running and alive(p.pid))
    p:signal("KILL")
    p:wait()
    os.remove(hooks)
  end)

  it("a hook that fails at run time: exit 1, the command ended, the file complete", function()
    local hooks = S.tmpname(".lua")
    S.write(hooks, [[
local p = ...
io.stderr:write("PID ", p.pid, "\n")
p:mark("loaded")
local n = 0
p:on("sample", function() n = n + 1; if n == 2 then error("boom") end end)
]])
    local out = S.tmpname(".jsonl")
    local r = S.denet{ "-q", "-i", "50", "-o", out, "run", "-s", hooks, "--", "sleep", "30" }
    assert.equal(1, r.code)
    assert.matches(":5: boom", r.err)
    local pid = tonumber(r.err:match("PID (%d+)"))
    assert.is_false(alive(pid))
    local recs = S.records(S.slurp(out))
    -- the mark made while loading follows metadata
    assert.same({ "metadata", "mark", "tree", "tree", "exit" },
      { recs[1].kind, recs[2].kind, recs[3].kind, recs[4].kind, recs[#recs].kind })
    assert.equal("loaded", recs[2].label)
    assert.equal(pid, recs[#recs].pid)
    os.remove(hooks)
    os.remove(out)
  end)
end)
