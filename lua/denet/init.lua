-- denet — the public Lua API (docs/lua-api.md). `require "denet"` returns this
-- table. Process control, timers and the loop come from the C module
-- denet.core; output and analysis are the Lua modules beside this file.
-- Keep every public name here: scripts must never depend on globals.
local core = require "denet.core"
local json = require "denet.json"
local jsonl = require "denet.jsonl"
local read = require "denet.read"
local analysis = require "denet.analysis"
local args = require "denet.args"

local denet = {
  version = core.version,
  features = core.features(),
  json = json,
  jsonl = jsonl,
  read = read,
  analysis = analysis,
  args = args,
  run = core.run,
  attach = core.attach,
  every = core.every,
  after = core.after,
  loop = core.loop,
  stop = core.stop,
  size = core.parse_size,
}

-- off-CPU profiling (eBPF) and symbolization (docs/ebpf.md): when eBPF
-- is unavailable denet.offcpu returns nil, message, code and
-- denet.features.ebpf is false with denet.features.reason.ebpf.
denet.offcpu = core.offcpu
denet.symbolizer = core.symbolizer
denet.symbolize = core.symbolize
-- syscall tracing (eBPF): the same failure convention as denet.offcpu
denet.syscalls = core.syscalls

-- denet.hook_budget_ms is a setting that C must see: forward writes.
local settings = { hook_budget_ms = 1000 }
return setmetatable(denet, {
  __index = function(t, k)
    -- denet.report (the HTML report builder) is loaded on first use
    if k == "report" then
      local r = require "denet.report"
      rawset(t, "report", r)
      return r
    end
    return settings[k]
  end,
  __newindex = function(t, k, v)
    if k == "hook_budget_ms" then
      -- level 2: the error names the script's line that assigns
      -- not (v >= 0): NaN is refused too
      if math.type(v) == nil or not (v >= 0) then -- luacheck: ignore 581
        error(("denet.hook_budget_ms must be a number of ms >= 0 (0 = no limit), got %s")
          :format(tostring(v)), 2)
      end
      core.set_hook_budget(v)
      settings[k] = v
    else
      rawset(t, k, v)
    end
  end,
})
