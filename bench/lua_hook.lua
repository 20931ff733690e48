-- lua_hook.lua — the cost of Lua on the sample path, side by side in one
-- denet process: four monitors attached to the same tree, sampled in
-- turn with p:sample() (which runs rules and hooks as a timed sample
-- does); the only differences are an on("sample") hook (p1), a hundred watch
-- rules (p2) and a hook that reads two fields of the aggregate (p3). CPU
-- time per sample from os.clock, so the difference is the hook's (building
-- the record table and calling it) or the rules' cost.
--
-- usage: denet bench/lua_hook.lua PID ITERS
-- prints: "none_us=X hook_us=Y rules100_us=Z hook2_us=W"
local denet = require "denet"
local pid, iters = tonumber(arg[1]), tonumber(arg[2] or "1000")
local opts = { interval = 3600000, max_interval = 3600000 }
local p0 = assert(denet.attach(pid, opts))
local p1 = assert(denet.attach(pid, opts))
local p2 = assert(denet.attach(pid, opts))
local p3 = assert(denet.attach(pid, opts))
local calls, sum = 0, 0
p1:on("sample", function() calls = calls + 1 end)
p3:on("sample", function(rec)
  local a = rec.aggregated
  sum = sum + a.mem_rss_kb + a.cpu_usage
end)
for i = 1, 100 do
  -- never fires: evaluated in C on every sample, Lua never entered
  p2:watch{ metric = "mem_rss_kb", above = "1T", name = "r" .. i }
end
local t = { 0, 0, 0, 0 }
local ps = { p0, p1, p2, p3 }
for _ = 1, 3 do for k = 1, 4 do assert(ps[k]:sample()) end end -- warm-up
for _ = 1, iters do
  for k = 1, 4 do
    local c0 = os.clock()
    ps[k]:sample()
    t[k] = t[k] + (os.clock() - c0)
  end
end
assert(calls >= iters and sum > 0)
print(("none_us=%.2f hook_us=%.2f rules100_us=%.2f hook2_us=%.2f"):format(
  t[1] * 1e6 / iters, t[2] * 1e6 / iters, t[3] * 1e6 / iters, t[4] * 1e6 / iters))
denet.stop()
os.exit(0)
