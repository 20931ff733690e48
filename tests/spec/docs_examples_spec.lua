-- docs_examples_spec.lua — every ```lua block of docs/lua-api.md whose
-- first line is "-- example" is a complete script: write it to a temp
-- file, run it with the real binary (`denet tmp.lua`), expect exit 0.

local S = require "support"

local function examples(path)
  local text = assert(S.slurp(path), "cannot read " .. path)
  local list, pos = {}, 1
  while true do
    local s, e, body = text:find("```lua\n(.-)\n```", pos)
    if not s then break end
    local _, nl = text:sub(1, s):gsub("\n", "")
    local line_no = nl + 2
    if body:match("^%-%- example\n") or body == "-- example" then
      list[#list + 1] = { line = line_no, code = body }
    end
    pos = e + 1
  end
  return list
end

describe("docs/lua-api.md examples", function()
  local list = examples(S.root .. "/docs/lua-api.md")

  it("has examples to run", function()
    assert.is_true(#list >= 8, "found " .. #list .. " examples")
  end)

  for _, ex in ipairs(list) do
    it("example at line " .. ex.line .. " exits 0", function()
      local path = S.tmpname(".lua")
      S.write(path, ex.code .. "\n")
      -- a bad example must fail, not hang the suite (124 = timed out)
      local r = S.denet({ path }, { env = "timeout -s KILL 20" })
      os.remove(path)
      assert.equal(0, r.code, ("docs/lua-api.md:%d exited %d\nstdout: %s\nstderr: %s")
        :format(ex.line, r.code, r.out, r.err))
    end)
  end
end)
