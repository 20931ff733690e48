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
