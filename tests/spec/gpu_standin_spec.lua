-- gpu_standin_spec.lua — GPUs through NVML, with a stand-in NVML: there is
-- no GPU on the development machines, so these runs load the tests'
-- libnvidia-ml.so.1 (tests/helpers/nvml/nvml_standin.c, built by the
-- Makefile), which answers from a script file the test writes and the
-- monitored command appends to (its own pid, a device lost mid-run). The
-- real denet binary records real commands; the figures asserted are the
-- scripted ones, in NVML's units. Without NVML, a run differs only by
-- the metadata's capabilities.gpu.
local S = require "support"
local json = require "denet.json"

local LIB_DIR = S.helpers .. "/nvml"
local LIB = LIB_DIR .. "/libnvidia-ml.so.1"
local GIB = 1024 * 1024 * 1024

-- Two scripted devices: an A100 and an L4, with a process outside the
-- tree (pid 1) holding memory on the first.
local DEVICES = table.concat({
  "device 37 12 85899345920 10737418240 75161927680 61 245123 NVIDIA A100-SXM4-80GB",
  "device 5 1 24152899584 1073741824 23079157760 40 16250 NVIDIA L4",
  "proc 0 1 4294967296 compute",
  "putil 0 1 90 50",
}, "\n") .. "\n"

local function have_lib()
  local f = io.open(LIB, "r")
  if f then f:close() end
  return f ~= nil
end

-- A run of `sh -c body` with the stand-in; the script file is SCRIPT in
-- the body. Returns the records, the result, the script's path.
local function run_gpu(body, opts)
  opts = opts or {}
  local script = S.tmpfile(opts.devices or DEVICES)
  local out = S.tmpname(".jsonl")
  local env = opts.env or ("DENET_NVML_LIBRARY=" .. S.q(LIB))
  local args = { "-q", "-i", "50", "-m", "50", "-o", out }
  for _, a in ipairs(opts.args or {}) do args[#args + 1] = a end
  for _, a in ipairs { "run", "--", "sh", "-c", (body:gsub("SCRIPT", S.q(script))) } do args[#args + 1] = a end
  local r = S.denet(args, { env = env .. " DENET_NVML_STANDIN_SCRIPT=" .. S.q(script) })
  local text = S.slurp(out) or ""
  os.remove(out)
  return S.records(text), r, script, text
end

local function trees_with_procs(recs)
  local out = {}
  for _, t in ipairs(S.of_kind(recs, "tree")) do
    local g = t.aggregated.gpu
    if g and #g.process_data > 0 then out[#out + 1] = t end
  end
  return out
end

describe("with a stand-in NVML (no GPU here)", function()
  before_each(function()
    if not have_lib() then pending("the stand-in NVML is not built (make spec builds it): " .. LIB) end
  end)

  it("a run writes upstream's gpu fields with the scripted values, in NVML's units", function()
    if not have_lib() then return end
    -- the command (sh) on device 0 (compute, 2 GiB) and device 1
    -- (graphics, 512 MiB), with a utilization sample; its child sleep on
    -- device 0 with 1 GiB
    local recs, r, script = run_gpu([[
      sleep 1 & echo "proc 0 $! 1073741824 compute" >> SCRIPT
      echo "proc 0 $$ 2147483648 compute" >> SCRIPT
      echo "proc 1 $$ 536870912 graphics" >> SCRIPT
      echo "putil 0 $$ 55 20" >> SCRIPT
      wait]])
    os.remove(script)
    assert.equal(0, r.code, r.err)
    local meta = S.of_kind(recs, "metadata")[1]
    assert.same({ ok = true }, meta.capabilities.gpu)
    local trees = trees_with_procs(recs)
    assert.is_true(#trees >= 3, "tree records with the tree's GPU processes: " .. #trees)
    local t = trees[#trees]
    local sh = meta.pid
    -- the parent: the command's own process only
    local pg = t.parent.gpu
    assert.same({
      { device_index = 0, name = "NVIDIA A100-SXM4-80GB", system_utilization_gpu = 37,
        system_utilization_memory = 12, memory_total = 85899345920, memory_used = 10737418240,
        memory_free = 75161927680, temperature = 61, power_usage = 245123 },
      { device_index = 1, name = "NVIDIA L4", system_utilization_gpu = 5, system_utilization_memory = 1,
        memory_total = 24152899584, memory_used = 1073741824, memory_free = 23079157760, temperature = 40,
        power_usage = 16250 },
    }, pg.system_metrics)
    assert.same({ { pid = sh, gpu_utilization = 55, memory_usage = 2147483648 + 536870912,
      memory_utilization_pct = 20 } }, pg.process_data)
    assert.is_true(pg.has_process_data)
    assert.equal("nvml", pg.collection_method)
    assert.is_nil(pg.errors)
    -- the aggregate: the tree's processes, the child's (memory only) too
    local ag = t.aggregated.gpu
    assert.same(pg.system_metrics, ag.system_metrics)
    assert.equal(2, #ag.process_data)
    local child = t.children[1]
    assert.truthy(child, "sleep is in the tree")
    local by_pid = {}
    for _, p in ipairs(ag.process_data) do by_pid[p.pid] = p end
    assert.same(pg.process_data[1], by_pid[sh])
    assert.equal(1073741824, by_pid[child.pid].memory_usage)
    assert.equal(json.null, by_pid[child.pid].gpu_utilization)
    assert.equal(json.null, by_pid[child.pid].memory_utilization_pct)
    -- children carry no gpu object (as upstream's)
    assert.is_nil(child.metrics.gpu)
  end)

  it("keeps only the monitored tree's processes: pid 1's memory is never listed", function()
    if not have_lib() then return end
    local recs, r, script, text = run_gpu([[echo "proc 0 $$ 1048576 compute" >> SCRIPT; sleep 0.4]])
    os.remove(script)
    assert.equal(0, r.code, r.err)
    assert.is_true(#trees_with_procs(recs) >= 2)
    for _, t in ipairs(S.of_kind(recs, "tree")) do
      for _, p in ipairs(t.aggregated.gpu.process_data) do assert.are_not.equal(1, p.pid) end
      for _, p in ipairs(t.parent.gpu.process_data) do assert.are_not.equal(1, p.pid) end
    end
    -- before the command added itself: no process of the tree, said so
    local first = S.of_kind(recs, "tree")[1].aggregated.gpu
    if #first.process_data == 0 then
      assert.is_false(first.has_process_data)
      assert.equal("none", first.collection_method)
    end
    assert.is_nil(text:find('"pid":1,', 1, true))
  end)

  it("a process without a utilization sample is memory-only (upstream's collection_method)", function()
    if not have_lib() then return end
    local recs, r, script = run_gpu([[echo "proc 0 $$ 4096 compute" >> SCRIPT; sleep 0.3]])
    os.remove(script)
    assert.equal(0, r.code, r.err)
    local trees = trees_with_procs(recs)
    assert.is_true(#trees >= 1)
    local g = trees[#trees].aggregated.gpu
    assert.equal("nvml-memory-only", g.collection_method)
    assert.equal(4096, g.process_data[1].memory_usage)
  end)

  it("finds the stand-in by its soname through LD_LIBRARY_PATH, as NVIDIA's tools find the library", function()
    if not have_lib() then return end
    local recs, r, script = run_gpu([[echo "proc 0 $$ 4096 compute" >> SCRIPT; sleep 0.3]],
      { env = "LD_LIBRARY_PATH=" .. S.q(LIB_DIR) })
    os.remove(script)
    assert.equal(0, r.code, r.err)
    assert.same({ ok = true }, S.of_kind(recs, "metadata")[1].capabilities.gpu)
    assert.is_true(#trees_with_procs(recs) >= 1)
  end)

  it("a device lost mid-run: its error is recorded, it is left out, and the run goes on", function()
    if not have_lib() then return end
    local recs, r, script = run_gpu([[
      echo "proc 0 $$ 2147483648 compute" >> SCRIPT
      sleep 0.3; echo "lost 1" >> SCRIPT; sleep 0.4]])
    os.remove(script)
    assert.equal(0, r.code, r.err)
    local trees = S.of_kind(recs, "tree")
    local before, after = 0, 0
    for _, t in ipairs(trees) do
      local g = t.aggregated.gpu
      if g.errors then
        after = after + 1
        assert.same({ "device 1: nvmlDeviceGetHandleByIndex_v2: GPU is lost" }, g.errors)
        assert.same(g.errors, t.parent.gpu.errors)
        assert.equal(1, #g.system_metrics)
        assert.equal(0, g.system_metrics[1].device_index)
        -- the other device's processes and the sample itself go on
        assert.equal(2147483648, g.process_data[1].memory_usage)
        assert.is_number(t.aggregated.mem_rss_kb)
      else
        assert.equal(0, after, "a sample without the error after the loss")
        before = before + 1
        assert.equal(2, #g.system_metrics)
      end
    end
    assert.is_true(before >= 2 and after >= 3, ("samples before %d, after %d"):format(before, after))
    assert.equal(0, S.of_kind(recs, "exit")[1].exit_code)
  end)

  it("a device that stops answering after some readings (lost_after) is reported the same way", function()
    if not have_lib() then return end
    local recs, r, script = run_gpu("sleep 0.5", { devices = DEVICES .. "lost_after 0 3\n" })
    os.remove(script)
    assert.equal(0, r.code, r.err)
    -- the stand-in counts memory readings: the fourth read finds the
    -- device gone half-way (its figures read, its process list failing,
    -- reported once), every later one at its handle
    local lost, halfway = 0, 0
    for _, t in ipairs(S.of_kind(recs, "tree")) do
      local g = t.aggregated.gpu
      if g.errors and #g.system_metrics == 2 then
        halfway = halfway + 1
        assert.same({ "device 0: nvmlDeviceGetComputeRunningProcesses: GPU is lost" }, g.errors)
        assert.equal(0, lost, "a half-way loss after the device was gone")
      elseif g.errors then
        lost = lost + 1
        assert.same({ "device 0: nvmlDeviceGetHandleByIndex_v2: GPU is lost" }, g.errors)
        assert.same({ 1 }, { g.system_metrics[1].device_index })
      end
    end
    assert.equal(1, halfway)
    assert.is_true(lost >= 2, "samples after the loss: " .. lost)
  end)

  it("NVML that fails to initialize, or lists no device: capabilities.gpu says why, no gpu objects", function()
    if not have_lib() then return end
    local recs, r, script, text = run_gpu("sleep 0.2", { devices = "init_error 9\n" })
    os.remove(script)
    assert.equal(0, r.code, r.err)
    assert.same({ ok = false, reason = "nvmlInit_v2: Driver Not Loaded" },
      S.of_kind(recs, "metadata")[1].capabilities.gpu)
    assert.is_nil(text:find('"gpu":{"system', 1, true))
    recs, r, script, text = run_gpu("sleep 0.2", { devices = "# no device\n" })
    os.remove(script)
    assert.equal(0, r.code, r.err)
    assert.same({ ok = false, reason = "no NVIDIA GPU (NVML lists 0 devices)" },
      S.of_kind(recs, "metadata")[1].capabilities.gpu)
    assert.is_nil(text:find('"gpu":{"system', 1, true))
  end)

  it("--exclude-children: the flat sample records carry the command's gpu object", function()
    if not have_lib() then return end
    local recs, r, script = run_gpu([[echo "proc 0 $$ 8192 compute" >> SCRIPT; sleep 0.4]],
      { args = { "--exclude-children" } })
    os.remove(script)
    assert.equal(0, r.code, r.err)
    local pid = S.of_kind(recs, "metadata")[1].pid
    local n = 0
    for _, s in ipairs(S.of_kind(recs, "sample")) do
      assert.equal(2, #s.gpu.system_metrics)
      if #s.gpu.process_data > 0 then
        n = n + 1
        assert.same({ { pid = pid, memory_usage = 8192, gpu_utilization = json.null,
          memory_utilization_pct = json.null } }, s.gpu.process_data)
      end
    end
    assert.is_true(n >= 2, "samples with the command's GPU memory: " .. n)
  end)

  it("denet stats adds upstream's GPU summary, denet report its GPU section and charts", function()
    if not have_lib() then return end
    local _, r, script, text = run_gpu([[
      echo "proc 0 $$ 2147483648 compute" >> SCRIPT
      echo "putil 0 $$ 55 20" >> SCRIPT
      sleep 0.3; echo "proc 1 $$ 1073741824 compute" >> SCRIPT; sleep 0.3]])
    os.remove(script)
    assert.equal(0, r.code, r.err)
    local file = S.tmpfile(text, ".jsonl")
    local js = S.denet { "stats", "--json", file }
    assert.equal(0, js.code, js.err)
    local s = json.decode(js.out)
    assert.same({ enabled = true, device_count = 2, total_memory_gb = 24152899584 / GIB,
      peak_used_memory_gb = 10.0, max_system_gpu_utilization = 37, max_process_gpu_utilization = 55,
      process_memory_usage_gb = 3.0, peak_tree_memory_bytes = 3 * GIB }, s.gpu)
    local st = S.denet { "stats", file }
    assert.equal(0, st.code, st.err)
    assert.matches("\n  gpu_devices                  2\n", st.out, 1, true)
    assert.matches("gpu_peak_used_memory         10.00 GiB of 22.49 GiB\n", st.out, 1, true)
    assert.matches("gpu_max_utilization          37%\n", st.out, 1, true)
    assert.matches("gpu_max_process_utilization  55%\n", st.out, 1, true)
    assert.matches("gpu_tree_memory              3.00 GiB (peak; largest process 3.00 GiB)\n", st.out, 1, true)
    local html = S.tmpname(".html")
    local rp = S.denet { "report", file, "-o", html }
    assert.equal(0, rp.code, rp.err)
    local page = S.slurp(html)
    os.remove(html)
    os.remove(file)
    assert.matches('<section class="gpu" id="gpu"><h2>GPU</h2>', page, 1, true)
    assert.matches("2 devices (NVML); the busiest at 37% utilization at most", page, 1, true)
    assert.matches("The tree&#39;s processes: 3.00 GiB of GPU memory at most, 55% utilization at most.", page, 1,
      true)
    assert.matches('id="chart-gpu-util"', page, 1, true)
    assert.matches('id="chart-gpu-mem"', page, 1, true)
  end)

  it("a Lua rule on gpu_memory_bytes fires above 70 GiB, and sample tables carry gpu", function()
    if not have_lib() then return end
    local script = S.tmpfile(DEVICES)
    local out = S.tmpname(".jsonl")
    local lua = S.tmpfile(([[
      local denet = require "denet"
      local p = assert(denet.run{ "sh", "-c",
        [==[sleep 0.2; echo "proc 0 $$ 80000000000 compute" >> %s; sleep 0.4]==], interval = 50, out = %q })
      local fired, seen = {}, nil
      p:watch{ metric = "gpu_memory_bytes", above = "70G", name = "vram",
        on_fire = function(a) fired[#fired + 1] = a end }
      p:on("sample", function(rec)
        local g = rec.aggregated.gpu
        if g and #g.process_data > 0 then seen = rec end
      end)
      assert(p:wait() == 0)
      print(#fired, fired[1].metric, math.tointeger(fired[1].value), math.tointeger(fired[1].threshold),
        fired[1].pid == p.pid, math.tointeger(seen.aggregated.gpu.process_data[1].memory_usage),
        seen.parent.gpu.system_metrics[2].name, seen.aggregated.gpu.collection_method)
    ]]):format(S.q(script), out), ".lua")
    local r = S.denet({ lua }, { env = "DENET_NVML_LIBRARY=" .. S.q(LIB) .. " DENET_NVML_STANDIN_SCRIPT="
      .. S.q(script) })
    local text = S.slurp(out) or ""
    os.remove(lua)
    os.remove(script)
    os.remove(out)
    assert.equal(0, r.code, r.err)
    assert.equal("1\tgpu_memory_bytes\t80000000000\t75161927680\ttrue\t80000000000\tNVIDIA L4\tnvml-memory-only\n",
      r.out)
    local alerts = S.of_kind(S.records(text), "alert")
    assert.equal(1, #alerts)
    assert.equal("vram", alerts[1].rule)
    assert.equal(80000000000, alerts[1].value)
  end)
end)

describe("without NVML (the default on a machine without an NVIDIA driver)", function()
  it("nothing changes but one capabilities line: capabilities.gpu says why, no gpu keys", function()
    -- a library that is not there, whatever this machine has
    local recs, r, script, text = run_gpu("sleep 0.2", { env = "DENET_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1" })
    os.remove(script)
    assert.equal(0, r.code, r.err)
    local meta = S.of_kind(recs, "metadata")[1]
    assert.is_false(meta.capabilities.gpu.ok)
    assert.matches("^/nonexistent/libnvidia%-ml%.so%.1: cannot open shared object file", meta.capabilities.gpu.reason)
    assert.equal(1, S.count(text, '"gpu"'))
    assert.is_true(#S.of_kind(recs, "tree") >= 2)
    -- the soname itself: absent here, the reason is dlopen's
    recs, r, script, text = run_gpu("sleep 0.1", { env = "" })
    os.remove(script)
    assert.equal(0, r.code, r.err)
    local cap = S.of_kind(recs, "metadata")[1].capabilities.gpu
    if cap.ok then return end -- a machine with NVIDIA's library: nothing more to check
    assert.matches("^libnvidia%-ml%.so%.1: cannot open shared object file", cap.reason)
    assert.equal(1, S.count(text, '"gpu"'))
  end)
end)
