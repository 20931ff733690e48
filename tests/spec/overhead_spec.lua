-- overhead_spec.lua — the exit record's `overhead`: what watching cost,
-- checked against an outside measurement of denet (rusage_of, which waits
-- for denet and reads the kernel's account of it and what it waited for).
local S = require "support"
local json = require "denet.json"

local function exit_of(path)
  local recs = S.records(S.slurp(path))
  local ex = S.of_kind(recs, "exit")
  return ex[#ex], recs
end

describe("overhead", function()
  it("is in every exit record, with sane figures", function()
    local out = S.tmpname(".jsonl")
    local r = S.denet({ "-q", "-o", out, "run", "--", "sleep", "0.4" })
    assert.are.equal(0, r.code, r.err)
    local ex = exit_of(out)
    local o = assert(ex.overhead, "no overhead in the exit record")
    assert.is_true(o.cpu_secs > 0)
    assert.is_near(o.cpu_user_secs + o.cpu_system_secs, o.cpu_secs, 2e-6)
    assert.is_true(o.peak_rss_kb > 1000, "peak_rss_kb " .. o.peak_rss_kb)
    assert.is_true(o.sampling_secs > 0)
    assert.is_true(o.sampling_secs < ex.duration_secs)
    assert.is_true(o.hooks_secs >= 0)
    -- a 0.4 s command at 100 ms: about 4 samples on the timer
    assert.is_true(o.samples_timed >= 2 and o.samples_timed <= 6, "timed " .. o.samples_timed)
    assert.is_true(o.samples_late <= o.samples_timed)
    assert.is_true(o.max_late_ms >= 0)
    os.remove(out)
  end)

  it("matches an outside measurement of denet's CPU and peak RSS within 10 %", function()
    -- denet made busy: 100 processes read every 2 ms for 2 s. The
    -- command's own CPU (its exact total) is taken out of what rusage_of
    -- saw of denet and everything it waited for.
    local out = S.tmpname(".jsonl")
    -- (under ASan the leak check at exit is no part of denet's run: it
    -- would add its own memory to what the kernel sees after the record)
    local r = S.sh('ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" ' ..
      S.q(S.helper("rusage_of")) .. " " .. S.q(S.bin) .. " -q -o " .. S.q(out) ..
      " -i 2 -m 2 run -- sh -c 'for i in $(seq 100); do sleep 2 & done; wait'")
    local cpu, maxrss = r.err:match("cpu_secs=([%d.]+) maxrss_kb=(%d+)")
    assert.is_not_nil(cpu, r.err)
    local ex = exit_of(out)
    local o = ex.overhead
    local outside = tonumber(cpu) - ex.totals.cpu_secs
    assert.is_true(o.cpu_secs > 0.05, "denet was not busy: " .. o.cpu_secs)
    assert.is_true(math.abs(o.cpu_secs - outside) <= 0.10 * outside,
      string.format("overhead.cpu_secs %.4f, outside %.4f", o.cpu_secs, outside))
    -- the command's processes (sh, sleep) are far smaller than denet:
    -- the largest of them all is denet
    assert.is_true(math.abs(o.peak_rss_kb - tonumber(maxrss)) <= 0.10 * tonumber(maxrss),
      string.format("overhead.peak_rss_kb %d, outside %d", o.peak_rss_kb, tonumber(maxrss)))
    os.remove(out)
  end)

  it("counts the time in hooks apart from sampling", function()
    -- each sample's hook spins 30 ms of CPU
    local hooks = S.tmpfile([[
local p = ...
p:on("sample", function() local t = os.clock(); while os.clock() - t < 0.03 do end end)
]], ".lua")
    local out = S.tmpname(".jsonl")
    local r = S.denet({ "-q", "-s", hooks, "-o", out, "run", "--", "sleep", "0.6" })
    assert.are.equal(0, r.code, r.err)
    local ex, recs = exit_of(out)
    local o = ex.overhead
    local n = #S.of_kind(recs, "tree")
    assert.is_true(n >= 3, "samples " .. n)
    assert.is_true(o.hooks_secs >= 0.03 * n * 0.9,
      string.format("hooks_secs %.4f for %d samples", o.hooks_secs, n))
    assert.is_true(o.sampling_secs < o.hooks_secs,
      string.format("sampling %.4f counted the hooks (%.4f)", o.sampling_secs, o.hooks_secs))
    os.remove(out)
    os.remove(hooks)
  end)

  it("counts missed samples when a hook stalls the loop", function()
    -- a 150 ms hook at a 50 ms period: the next deadlines pass unserved
    -- (the next sample is armed after the hook: it is missed, not late)
    local hooks = S.tmpfile([[
local p = ...
p:on("sample", function() local t = os.clock(); while os.clock() - t < 0.15 do end end)
]], ".lua")
    local out = S.tmpname(".jsonl")
    local r = S.denet({ "-q", "-s", hooks, "-o", out, "-i", "50", "-m", "50", "run", "--",
      "sleep", "0.8" })
    assert.are.equal(0, r.code, r.err)
    local o = exit_of(out).overhead
    assert.is_true(o.samples_missed >= 3, "missed " .. o.samples_missed)
    os.remove(out)
    os.remove(hooks)
  end)

  it("counts a late sample when denet itself is stopped past a deadline", function()
    -- a stalled machine, as SIGSTOP makes one: the armed deadline passes
    -- while denet cannot run, and its sample comes ~200 ms late
    local out = S.tmpname(".jsonl")
    local r = S.sh(S.q(S.bin) .. " -q -o " .. S.q(out) .. " -i 50 -m 50 run -- sleep 1.2 & d=$!; " ..
      "sleep 0.4; kill -STOP $d; sleep 0.25; kill -CONT $d; wait $d")
    assert.are.equal(0, r.code, r.err)
    local o = exit_of(out).overhead
    assert.is_true(o.samples_late >= 1, "late " .. o.samples_late)
    assert.is_true(o.max_late_ms >= 150, "max_late_ms " .. o.max_late_ms)
    os.remove(out)
  end)
end)

describe("overhead in Lua", function()
  it("is in the totals of p:wait() and of the exit callback", function()
    local script = S.tmpfile([[
local denet = require "denet"
local p = denet.run{ "sleep", "0.3" }
local seen
p:on("exit", function(status, totals) seen = totals.overhead end)
local status, totals = p:wait()
local o = totals.overhead
assert(seen and seen.cpu_secs == o.cpu_secs, "exit callback without the overhead")
assert(o.cpu_secs > 0 and o.peak_rss_kb > 1000 and o.sampling_secs > 0, "figures")
assert(o.samples_timed >= 1 and o.samples_late >= 0 and o.samples_missed >= 0, "samples")
assert(math.abs(o.cpu_user_secs + o.cpu_system_secs - o.cpu_secs) < 1e-9, "sum")
print("ok", status)
]], ".lua")
    local r = S.denet({ script })
    assert.are.equal(0, r.code, r.err)
    assert.matches("ok\t0", r.out)
    os.remove(script)
  end)
end)

describe("overhead with nested hooks", function()
  it("a hook that samples (p:sample in a spawn hook) is counted once, as the hook's", function()
    -- the nested sample runs the 50 ms sample hook again: that is hook
    -- time, and once (it wrapped sampling_secs to 1.8e10 s before)
    local script = S.tmpfile([[
local denet = require "denet"
local p = assert(denet.run{ "sh", "-c", "sleep 0.3; (sleep 0.3 &) ; sleep 0.5", interval = 100 })
local n = 0
p:on("spawn", function() n = n + 1; if n < 3 then p:sample() end end)
p:on("sample", function() local t = os.clock() + 0.05 while os.clock() < t do end end)
local st, t = p:wait()
local o = t.overhead
print(("%.6f %.6f %.6f"):format(o.sampling_secs, o.hooks_secs, t.duration_secs))
]], ".lua")
    local r = S.denet({ script })
    assert.are.equal(0, r.code, r.err)
    local sampling, hooks, duration = r.out:match("([%d.]+) ([%d.]+) ([%d.]+)")
    sampling, hooks, duration = tonumber(sampling), tonumber(hooks), tonumber(duration)
    assert.is_true(sampling < duration, ("sampling %s of a %s s run"):format(sampling, duration))
    assert.is_true(hooks <= duration, ("hooks %s of a %s s run"):format(hooks, duration))
    assert.is_true(hooks >= 0.2, "hooks " .. hooks) -- 4+ samples x 50 ms at least
    os.remove(script)
  end)
end)

describe("overhead of BPF programs", function()
  local sysctl = "/proc/sys/kernel/bpf_stats_enabled"

  it("is null with the reason while the kernel keeps no statistics", function()
    if not S.is_root() then return pending("needs root (BPF)") end
    if (S.slurp(sysctl) or "0"):match("^1") then return pending("bpf_stats_enabled is on here") end
    local out = S.tmpname(".jsonl")
    local r = S.denet({ "-q", "--enable-ebpf", "-o", out, "run", "--", "sleep", "0.3" })
    assert.are.equal(0, r.code, r.err)
    local o = exit_of(out).overhead
    assert.are.equal(json.null, o.bpf_secs)
    assert.are.equal(json.null, o.bpf_runs)
    assert.are.equal("off (sysctl kernel.bpf_stats_enabled=0)", o.bpf_stats)
    os.remove(out)
  end)

  it("gives the run time of denet's programs with kernel.bpf_stats_enabled=1", function()
    if not S.is_root() then return pending("needs root (BPF)") end
    local before = S.slurp(sysctl)
    if not before then return pending("no " .. sysctl) end
    S.write(sysctl, "1\n")
    local out = S.tmpname(".jsonl")
    local ok, err = pcall(function()
      local r = S.denet({ "-q", "--enable-ebpf", "-o", out, "run", "--",
        S.helper("sysloop"), "20000", "0" })
      assert.are.equal(0, r.code, r.err)
      local o = exit_of(out).overhead
      assert.is_number(o.bpf_secs)
      assert.is_true(o.bpf_secs > 0, "bpf_secs " .. tostring(o.bpf_secs))
      assert.is_true(o.bpf_runs > 100, "bpf_runs " .. tostring(o.bpf_runs))
      assert.is_nil(o.bpf_stats)
    end)
    S.write(sysctl, before)
    os.remove(out)
    assert(ok, err)
  end)
end)
