-- layers_spec.lua — the engine's layers (docs/architecture.md) hold in the
-- build, not only in the folder names: each folder's objects are compiled
-- with the include path of their layer, Lua's headers reach the bindings
-- alone, and no source includes a header of a layer above its own.
local S = require "support"

-- Lower layers first; a file may include headers of its own layer and of
-- the layers before it. The CLI sees the bindings' public header only.
local RANK = { core = 1, profiler = 2, run = 3, bindings = 4, cli = 4 }
local LAYERS = { "core", "profiler", "run", "bindings", "cli" }

local function lines_of(cmd)
  local r = S.sh(cmd)
  assert(r.code == 0, cmd .. ": " .. r.err)
  local t = {}
  for l in r.out:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

local function sources(layer)
  return lines_of(("cd %s && ls engine/%s/*.c engine/%s/*.h"):format(S.q(S.root), layer, layer))
end

-- Which layer a quoted include names: the folder that holds the header.
local header_layer = {}
for _, layer in ipairs(LAYERS) do
  for _, f in ipairs(sources(layer)) do
    local name = f:match("([^/]+%.h)$")
    if name then
      assert(not header_layer[name], "two layers hold " .. name)
      header_layer[name] = layer
    end
  end
end

local lua_inc = S.sh("pkg-config --cflags lua5.4").out:match("%-I(%S+)")

-- The commands a full build would run, nothing built. The suite itself runs
-- under make (make asan sets BUILD=build/asan on its command line, which
-- reaches us through MAKEFLAGS): drop the parent's flags and name the build
-- directory the suite was built in.
local BUILD = os.getenv("BUILD") or "build"
local function make_n(targets)
  return lines_of(("cd %s && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -n -B BUILD=%s %s")
    :format(S.q(S.root), S.q(BUILD), targets))
end

describe("the engine's layers", function()
  it("the include path of each layer's objects: Lua's for the bindings alone", function()
    assert.truthy(lua_inc, "pkg-config knows lua5.4")
    local objs = {}
    for _, layer in ipairs(LAYERS) do
      for _, f in ipairs(sources(layer)) do
        if f:match("%.c$") then objs[#objs + 1] = BUILD .. "/" .. f:gsub("%.c$", ".o") end
      end
    end
    local out = make_n(table.concat(objs, " "))
    local seen = 0
    for _, cmd in ipairs(out) do
      local src = cmd:match("%-c %-o %S+ (engine/%S+%.c)")
      if src then
        seen = seen + 1
        local layer = src:match("^engine/([^/]+)/")
        local has_lua = cmd:find("-I" .. lua_inc, 1, true) ~= nil
        assert.are.equal(layer == "bindings", has_lua, src .. " compiled with: " .. cmd)
        -- no -I of a layer above this one
        for inc in cmd:gmatch("%-Iengine/([%w_]+)") do
          assert.truthy(RANK[inc] <= RANK[layer] or (layer == "cli" and inc == "bindings"),
            src .. " sees engine/" .. inc)
        end
      end
    end
    assert.are.equal(#objs, seen, "a compile command for every engine source")
  end)

  it("no source includes a header of a layer above its own; only the bindings include Lua", function()
    local wrong = {}
    for _, layer in ipairs(LAYERS) do
      for _, f in ipairs(sources(layer)) do
        local text = S.slurp(S.root .. "/" .. f)
        for h in text:gmatch('#include%s+"([^"]+)"') do
          local hl = header_layer[h:match("[^/]+$")]
          local ok = hl == nil -- generated headers (build/gen) and ../../bpf
            or RANK[hl] < RANK[layer] or hl == layer
            or (layer == "cli" and h == "lua_api.h")
          if not ok then wrong[#wrong + 1] = f .. " includes " .. h .. " (" .. hl .. ")" end
        end
        if layer ~= "bindings" and text:find("#include%s*<l%a*%.h>") then
          for h in text:gmatch("#include%s*<(l%a*%.h)>") do
            if h == "lua.h" or h == "lauxlib.h" or h == "lualib.h" then
              wrong[#wrong + 1] = f .. " includes <" .. h .. ">"
            end
          end
        end
      end
    end
    assert.are.same({}, wrong)
  end)

  it("struct dn_monitor's fields (monitor_private.h) reach the run layer alone", function()
    -- monitor.h is the public face (accessors); the unit test of the
    -- monitor's closed state is the one white-box reader outside.
    local files = lines_of(("(cd %s && ls engine/*/*.[ch] tests/unit/*.c bench/*.c tests/fuzz/*.c 2>/dev/null; true)")
      :format(S.q(S.root)))
    assert.truthy(#files > 50, "the sources listed")
    local wrong = {}
    for _, f in ipairs(files) do
      local text = S.slurp(S.root .. "/" .. f)
      if text:find('#include%s+"monitor_private%.h"') and not f:match("^engine/run/")
        and f ~= "tests/unit/test_monitor.c" then
        wrong[#wrong + 1] = f
      end
    end
    assert.are.same({}, wrong)
  end)

  it("a core file that includes <lua.h> does not compile", function()
    local dir = S.tmpname("-layer")
    assert(os.execute("mkdir -p " .. S.q(dir)))
    S.write(dir .. "/probe.c", "#include <lua.h>\nint probe(void);\nint probe(void) { return LUA_OK; }\n")
    local flags = make_n(BUILD .. "/engine/core/json.o")
    local cmd
    for _, l in ipairs(flags) do
      if l:find("engine/core/json.c", 1, true) then cmd = l end
    end
    assert.truthy(cmd, "make prints the compile of engine/core/json.c")
    cmd = cmd:gsub("%-MMD %-MP ", ""):gsub("%-o %S+ engine/core/json%.c",
      "-o " .. S.q(dir .. "/probe.o") .. " " .. S.q(dir .. "/probe.c"))
    local r = S.sh(("cd %s && %s"):format(S.q(S.root), cmd))
    os.execute("rm -rf " .. S.q(dir))
    assert.are_not.equal(0, r.code)
    assert.truthy(r.err:find("lua.h", 1, true), r.err)
  end)
end)
