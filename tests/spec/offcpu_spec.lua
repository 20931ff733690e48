-- offcpu_spec.lua — off-CPU profiling and symbolization from Lua
-- (denet.offcpu, denet.symbolizer, denet.symbolize, denet.features.ebpf)
-- and scripts/offcpu.lua, on the real kernel.
--
-- In-process through the C module (require "denet" loads core.so), and
-- through the real binary for the shipped script and the unprivileged run.
-- Profiling needs root and a kernel that loads the program (CI runs as
-- root); otherwise those tests are pending with the reason, never passed.
--
-- tests/helpers/blocker.c: a thread blocks 10 x 100 ms reading a pipe in
-- wait_here_on_pipe(), called from caller_of_wait(); it prints libc's read
-- ("read 0xADDR 0xSIZE"), "tid T" and "ready", then waits for a line on
-- stdin. tests/helpers/symtarget.c prints known function addresses.

local S = require "support"
-- tests/run.sh's LUA_PATH has lua/?.lua but not lua/?/init.lua
package.path = S.root .. "/lua/?/init.lua;" .. package.path
local denet = require "denet"

local function no_ebpf() return S.no_ebpf(denet, "off-CPU profiling") end
local wait_for = S.wait_for

local function hex(s) return math.tointeger(tonumber(s)) end

-- The blocker's printed addresses: read = {addr, size}, tid.
local function blocker_info(text)
  local ra, rs = text:match("read (0x%x+) (0x%x+)")
  return {
    read_lo = hex(ra), read_hi = hex(ra) + hex(rs),
    tid = tonumber(text:match("tid (%d+)")),
  }
end

-- Stacks of one tid summed over windows (same path = same stack), largest
-- first, and the tid's total.
local function stacks_of(list, tid)
  local by, out, total = {}, {}, 0
  for _, s in ipairs(list) do
    if s.tid == tid then
      local key = table.concat(s.stack, ",") .. s.state
      local t = by[key]
      if not t then
        t = { frames = s.frames, off_ns = 0, count = 0 }
        by[key] = t
        out[#out + 1] = t
      end
      t.off_ns = t.off_ns + s.off_ns
      t.count = t.count + s.count
      total = total + s.off_ns
    end
  end
  table.sort(out, function(a, b) return a.off_ns > b.off_ns end)
  return out, total
end

local function describe_frames(frames)
  local v = {}
  for _, f in ipairs(frames) do
    v[#v + 1] = (f.name or "?") .. "@" .. tostring(f.module):match("[^/]*$")
  end
  return table.concat(v, " <- ")
end

-- The must-hold: a kernel frame, then libc's read, wait_here_on_pipe and
-- its caller, in order and adjacent (innermost first).
local function check_read_stack(frames, info)
  local desc = describe_frames(frames)
  local iread
  for i, f in ipairs(frames) do
    if not f.kernel and f.addr >= info.read_lo and f.addr < info.read_hi then
      iread = i
      break
    end
  end
  assert.is_not_nil(iread, "no frame inside libc's read: " .. desc)
  assert.is_true(iread > 1, "no kernel frame before read: " .. desc)
  for i = 1, iread - 1 do
    assert.is_true(frames[i].kernel, "frame " .. i .. " is not a kernel frame: " .. desc)
    assert.equal("[kernel]", frames[i].module)
  end
  assert.matches("libc", frames[iread].module)
  assert.is_truthy(frames[iread].name and frames[iread].name:match("read"), desc)
  assert.equal("wait_here_on_pipe", frames[iread + 1] and frames[iread + 1].name, desc)
  assert.equal("caller_of_wait", frames[iread + 2] and frames[iread + 2].name, desc)
end

describe("denet.features.ebpf", function()
  it("is a boolean, with a reason when false", function()
    assert.is_boolean(denet.features.ebpf)
    if denet.features.ebpf then
      assert.is_nil(denet.features.reason.ebpf)
    else
      assert.is_string(denet.features.reason.ebpf)
      assert.is_true(#denet.features.reason.ebpf > 10)
    end
    -- pairs() lists it too (it is probed on first use)
    local seen = false
    for k in pairs(denet.features) do seen = seen or k == "ebpf" end
    assert.is_true(seen)
  end)

  it("is true as root on this kernel", function()
    if not S.is_root() then return pending("not root: eBPF is expected to be unavailable") end
    assert.is_true(denet.features.ebpf, tostring(denet.features.reason.ebpf))
  end)
end)

describe("denet.offcpu arguments", function()
  it("unknown options and wrong types raise errors naming them", function()
    local ok, err = pcall(denet.offcpu, { pid = 1, min_usec = 5 })
    assert.is_false(ok)
    assert.matches("unknown option 'min_usec'", err)
    ok, err = pcall(denet.offcpu, { pid = "1" })
    assert.is_false(ok)
    assert.matches("option 'pid' must be a number", err)
    ok, err = pcall(denet.offcpu, { pid = 1.5 })
    assert.is_false(ok)
    assert.matches("pid must be an integer", err)
    ok, err = pcall(denet.offcpu, { pid = 1, children = 1 })
    assert.is_false(ok)
    assert.matches("option 'children' must be a boolean", err)
    ok, err = pcall(denet.offcpu, { pid = 1, min_us = -1 })
    assert.is_false(ok)
    assert.matches("min_us must be", err)
    ok, err = pcall(denet.offcpu, { pid = 1, min_us = 500, max_us = 100 })
    assert.is_false(ok)
    assert.matches("max_us must be", err)
    ok, err = pcall(denet.offcpu)
    assert.is_false(ok)
    assert.is_string(err)
  end)

  it("without eBPF returns nil, 'ENAME: reason', 'ENAME'", function()
    if denet.features.ebpf then return pending("eBPF works here (the unprivileged test covers this)") end
    local prof, msg, code = denet.offcpu{ pid = 1 }
    assert.is_nil(prof)
    assert.matches("^E[A-Z]+$", code)
    assert.equal(code, msg:match("^(E[A-Z]+): "))
  end)

  it("a PID that does not exist: nil, message, ESRCH; close is idempotent", function()
    local why = no_ebpf()
    if why then return pending(why) end
    local prof, msg, code = denet.offcpu{ pid = 999999 }
    assert.is_nil(prof)
    assert.equal("ESRCH", code)
    assert.matches("999999", msg)
    prof = assert(denet.offcpu{})
    assert.matches("^denet.offcpu", tostring(prof))
    assert.same({}, prof:drain())
    assert.equal("", prof:folded())
    prof:close()
    prof:close()
    assert.is_true(prof.closed)
    local ok, err = pcall(prof.drain, prof)
    assert.is_false(ok)
    assert.matches("closed", err)
    do
      local p2 <close> = assert(denet.offcpu{})
      assert.is_false(p2.closed)
    end
  end)
end)

describe("denet.offcpu", function()
  it("finds the blocker's 1 s in read <- wait_here_on_pipe <- caller_of_wait", function()
    local why = no_ebpf()
    if why then return pending(why) end
    local fifo, out = S.tmpname(".fifo"), S.tmpname(".out")
    assert.is_true(os.execute("mkfifo " .. S.q(fifo)))
    local p = assert(denet.run{ "sh", "-c", ("exec %s <%s"):format(S.q(S.helper("blocker")), S.q(fifo)),
      interval = 100, stdout = out })
    local w = assert(io.open(fifo, "w")) -- meets the shell's open of the fifo
    local info = blocker_info(wait_for(out, "ready\n"))
    -- tracked after "ready" and before "go", as blocker.c intends
    local prof = assert(denet.offcpu{ pid = p.pid, min_us = 1000 })
    w:write("go\n")
    w:close()
    local all = {}
    p:on("sample", function()
      for _, s in ipairs(assert(prof:drain())) do all[#all + 1] = s end
    end)
    assert.equal(0, (p:wait()))
    for _, s in ipairs(assert(prof:drain())) do all[#all + 1] = s end
    local folded = prof:folded()
    prof:close()
    os.remove(fifo)
    os.remove(out)

    local stacks, total = stacks_of(all, info.tid)
    assert.is_true(#stacks > 0, "no stack for tid " .. info.tid)
    assert.is_true(total >= 0.8e9 and total <= 1.2e9, ("off-CPU total of tid %d: %.3f s"):format(info.tid, total / 1e9))
    local top = stacks[1]
    -- (most of) the 10 waits are one stack, not one per interval
    assert.is_true(top.count >= 8, ("the top stack has %d of the 10 waits"):format(top.count))
    check_read_stack(top.frames, info)
    -- the entries are shaped as documented
    local s = all[1]
    for _, k in ipairs{ "pid", "tid", "off_ns", "count" } do assert.is_number(s[k], k) end
    assert.is_string(s.comm)
    assert.is_truthy(s.state == "S" or s.state == "D")
    assert.equal(#s.stack, #s.frames)
    for i, f in ipairs(s.frames) do
      assert.equal(s.stack[i], f.addr)
      assert.is_string(f.module)
      assert.is_number(f.offset)
    end
    -- every recorded pid is the blocker's (sh exec'ed it)
    for _, e in ipairs(all) do assert.equal(p.pid, e.pid) end
    -- folded: outermost first, counts in microseconds
    assert.is_truthy(folded:find("caller_of_wait[^;\n]*;wait_here_on_pipe[^;\n]*;[^;\n]*read[^;\n]*;[^\n]+ %d+\n"),
      "folded stacks lack caller_of_wait;wait_here_on_pipe;read:\n" .. folded)
    for line in folded:gmatch("[^\n]+") do
      assert.matches("^[^;]+;.* %d+$", line)
    end
  end)

  it("follows children: existing ones and those forked later", function()
    local why = no_ebpf()
    if why then return pending(why) end
    -- the subshell exists before the profiler starts (found in
    -- /proc/PID/task/*/children); the sleeps it forks later are followed
    -- by the kernel only because it is tracked
    -- (loaded first: loading takes a while)
    local prof = assert(denet.offcpu{ stacks = false })
    local p = assert(denet.run{ "sh", "-c", "(for i in 1 2 3 4 5 6; do sleep 0.1; done) & wait" })
    os.execute("sleep 0.15")
    assert(prof:track(p.pid, true))
    local all = {}
    p:on("sample", function() for _, s in ipairs(prof:drain()) do all[#all + 1] = s end end)
    assert.equal(0, (p:wait()))
    for _, s in ipairs(prof:drain()) do all[#all + 1] = s end
    prof:close()
    local sleeps, sleep_ns, n = {}, 0, 0
    for _, s in ipairs(all) do
      assert.is_nil(s.frames) -- stacks = false: per-thread totals
      assert.is_nil(s.stack)
      if s.comm == "sleep" then
        sleep_ns = sleep_ns + s.off_ns
        if not sleeps[s.pid] then n = n + 1 end
        sleeps[s.pid] = true
      end
    end
    assert.is_true(n >= 3, "sleep children seen: " .. n)
    assert.is_true(sleep_ns > 0.25e9, ("sleep children off-CPU: %.3f s"):format(sleep_ns / 1e9))
    -- without children, nothing of them
    prof = assert(denet.offcpu{ stacks = false })
    p = assert(denet.run{ "sh", "-c", "(for i in 1 2 3; do sleep 0.1; done) & wait" })
    os.execute("sleep 0.05")
    assert(prof:track(p.pid, false))
    assert.equal(0, (p:wait()))
    for _, s in ipairs(prof:drain()) do assert.equal(p.pid, s.pid) end
    prof:close()
  end)

  it("records near-zero for a busy process and nothing of an unrelated one", function()
    local why = no_ebpf()
    if why then return pending(why) end
    local other = io.popen("for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 0.1; done; echo $$")
    local p = assert(denet.run{ "sh", "-c", "echo go | exec " .. S.q(S.helper("blocker")) .. " busy 1",
      stdout = "/dev/null" })
    local prof = assert(denet.offcpu{ pid = p.pid })
    local all = {}
    p:on("sample", function() for _, s in ipairs(prof:drain()) do all[#all + 1] = s end end)
    assert.equal(0, (p:wait()))
    for _, s in ipairs(prof:drain()) do all[#all + 1] = s end
    prof:close()
    other:close()
    local total = 0
    for _, s in ipairs(all) do
      total = total + s.off_ns
      assert.is_truthy(s.comm == "blocker" or s.comm == "sh", "not of the tree: " .. s.comm .. " pid " .. s.pid)
      assert.equal(p.pid, s.pid)
    end
    assert.is_true(total < 50e6, ("off-CPU of a busy process: %.1f ms"):format(total / 1e6))
  end)
end)

describe("scripts/offcpu.lua", function()
  local script = S.root .. "/scripts/offcpu.lua"

  it("writes folded stacks and lists the blocker's read stack first for its tid", function()
    local why = no_ebpf()
    if why then return pending(why) end
    local folded = S.tmpname(".folded")
    local r = S.denet{ script, "--out", folded, "--top", "50", "--",
      "sh", "-c", "echo go | exec " .. S.q(S.helper("blocker")) }
    local text = S.slurp(folded) or ""
    os.remove(folded)
    assert.equal(0, r.code, r.err)
    local tid = tonumber(r.out:match("tid (%d+)"))
    assert.is_not_nil(tid, r.out)
    -- "  N. 1001.3 ms in 10 waits (max 100.2 ms)  blocker pid P tid T S",
    -- then its frames, innermost first, indented by 7
    local blocks = {}
    for l in r.err:gmatch("[^\n]+") do
      if l:match("^  %d+%. ") then
        blocks[#blocks + 1] = { head = l, frames = {} }
      elseif l:match("^       ") and #blocks > 0 then
        table.insert(blocks[#blocks].frames, l)
      end
    end
    local total, first = 0, nil
    for _, b in ipairs(blocks) do
      local ms, t = b.head:match("^  %d+%. ([%d.]+) ms in %d+ waits?.- tid (%d+) [SD]$")
      if tonumber(t) == tid then
        total = total + tonumber(ms)
        first = first or b
      end
    end
    assert.is_true(total >= 800 and total <= 1200, ("tid %d: %.1f ms\n%s"):format(tid, total, r.err))
    assert.is_not_nil(first, r.err)
    -- kernel frame(s), then read (libc), wait_here_on_pipe, caller_of_wait
    local fr = first.frames
    assert.is_truthy((fr[1] or ""):match("^%s+%[k%] "), r.err)
    local i = 2
    while fr[i] and fr[i]:match("^%s+%[k%] ") do i = i + 1 end
    assert.is_truthy((fr[i] or ""):match("^%s+[%w_]*read%s+%(libc"), r.err)
    assert.is_truthy((fr[i + 1] or ""):match("^%s+wait_here_on_pipe%s+%(blocker%)"), r.err)
    assert.is_truthy((fr[i + 2] or ""):match("^%s+caller_of_wait%s+%(blocker%)"), r.err)
    assert.is_truthy(text:find("caller_of_wait[^;\n]*;wait_here_on_pipe[^;\n]*;[^;\n]*read"), text)
  end)

  it("exits with the command's status and rejects bad arguments", function()
    local folded = S.tmpname(".folded") -- never the default, in the work tree
    local r = S.denet{ script, "--out", folded, "--", "sh", "-c", "exit 3" }
    os.remove(folded)
    assert.equal(3, r.code, r.err)
    r = S.denet{ script, "--top", "x", "--", "true" }
    assert.equal(2, r.code)
    assert.matches("%-%-top takes a whole number", r.err)
    r = S.denet{ script }
    assert.equal(2, r.code)
    assert.matches("the command is missing", r.err)
  end)
end)

describe("unprivileged (setpriv to nobody)", function()
  -- The binary and the scripts copied where nobody can read them.
  local function as_nobody(files, cmdline)
    local dir = S.tmpname("-nobody")
    local cp = {}
    for _, f in ipairs(files) do cp[#cp + 1] = S.q(f[1]) .. " " .. S.q(dir .. "/" .. f[2]) end
    local setup = ("mkdir -p %s && cp %s %s/denet"):format(S.q(dir), S.q(S.bin), S.q(dir))
    for _, c in ipairs(cp) do setup = setup .. " && cp " .. c end
    assert.is_true(os.execute(setup .. " && chmod -R a+rX " .. S.q(dir)))
    local r = S.sh(("cd %s && setpriv --reuid=nobody --regid=nogroup --clear-groups %s")
      :format(S.q(dir), cmdline:gsub("DIR", dir)))
    os.execute("rm -rf " .. S.q(dir))
    return r
  end

  it("reports eBPF unavailable with a reason and still runs", function()
    if not S.is_root() then return pending("needs root to drop to nobody") end
    local probe = S.tmpname(".lua")
    S.write(probe, [[
local denet = require "denet"
print("ebpf", denet.features.ebpf)
print("reason", denet.features.reason.ebpf)
local prof, msg, code = denet.offcpu{ pid = 1 }
print("offcpu", prof, code, msg)
local p = assert(denet.run{ "sh", "-c", "sleep 0.2; exit 0", interval = 50 })
local n = 0
p:on("sample", function(rec) if rec.aggregated.mem_rss_kb > 0 then n = n + 1 end end)
print("status", p:wait(), "samples", n)
]])
    local r = as_nobody({ { probe, "probe.lua" } }, "DIR/denet DIR/probe.lua")
    os.remove(probe)
    assert.equal(0, r.code, r.err)
    assert.matches("ebpf\tfalse\n", r.out)
    local reason = r.out:match("reason\t([^\n]*)")
    assert.is_truthy(reason and reason:find("root or CAP_BPF", 1, true), r.out)
    assert.matches("offcpu\tnil\tEPERM\tEPERM: [^\n]*root or CAP_BPF", r.out)
    local status, samples = r.out:match("status\t(%d+)\tsamples\t(%d+)")
    assert.equal("0", status, r.out)
    assert.is_true(tonumber(samples) >= 1, r.out)
  end)

  it("scripts/offcpu.lua says why in one line, runs the command, keeps its status", function()
    if not S.is_root() then return pending("needs root to drop to nobody") end
    local r = as_nobody({ { S.root .. "/scripts/offcpu.lua", "offcpu.lua" } },
      "DIR/denet DIR/offcpu.lua --out /nonexistent/never.folded -- sh -c 'echo ran; exit 5'")
    assert.equal(5, r.code, r.err)
    assert.equal("ran\n", r.out)
    local lines = {}
    for l in r.err:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal(1, #lines, r.err)
    assert.matches("^denet: offcpu: eBPF is not available %(EPERM: .*root or CAP_BPF.*%); running the command without off%-CPU profiling$", lines[1])
  end)
end)

describe("denet.symbolizer", function()
  local function start_symtarget(exe)
    local out = S.tmpname(".out")
    local p = assert(denet.run{ exe, stdout = out })
    local text = wait_for(out, "ready")
    os.remove(out)
    return p, {
      alpha = hex(text:match("alpha (0x%x+)")),
      beta = hex(text:match("beta (0x%x+)")),
      read = hex(text:match("read (0x%x+)")),
      alpha_line = tonumber(text:match("alpha_line (%d+)")),
    }
  end

  it("resolves known_function_alpha, also after the process exits", function()
    local exe = S.helper("symtarget")
    local p, a = start_symtarget(exe)
    local sym = assert(denet.symbolizer(p.pid))
    local f = sym:resolve(a.alpha)
    assert.equal("known_function_alpha", f.name)
    assert.equal(0, f.offset)
    assert.equal(a.alpha, f.addr)
    assert.equal(exe, f.module)
    f = sym:resolve(a.alpha + 5)
    assert.equal("known_function_alpha", f.name)
    assert.equal(5, f.offset)
    -- a static function (.symtab) and libc (.dynsym)
    assert.equal("known_function_beta", sym:resolve(a.beta).name)
    local r = sym:resolve(a.read)
    assert.matches("read", r.name)
    assert.matches("libc", r.module)
    -- source lines (the helper is built with -g)
    f = sym:resolve(a.alpha)
    if f.file then
      assert.matches("symtarget%.c$", f.file)
      assert.is_true(math.abs(f.line - a.alpha_line) <= 2, "line " .. tostring(f.line))
    end
    -- denet.symbolize: a list of the same
    local list = assert(denet.symbolize(p.pid, { a.alpha, a.beta }))
    assert.equal(2, #list)
    assert.equal("known_function_alpha", list[1].name)
    assert.equal("known_function_beta", list[2].name)
    -- the process ends: the same symbolizer still knows its maps
    p:signal("KILL")
    p:wait()
    f = sym:resolve(a.alpha + 5)
    assert.equal("known_function_alpha", f.name)
    assert.equal(5, f.offset)
    assert.equal("known_function_beta", sym:resolve(a.beta).name)
    -- a new one cannot read them any more
    local none, msg, code = denet.symbolizer(p.pid)
    assert.is_nil(none)
    assert.equal("ESRCH", code)
    assert.matches("^ESRCH: ", msg)
    none, msg, code = denet.symbolize(p.pid, { a.alpha })
    assert.is_nil(none)
    assert.equal("ESRCH", code)
    assert.matches("^ESRCH: ", msg)
    sym:close()
    sym:close()
    assert.has_error(function() sym:resolve(a.alpha) end)
  end)

  it("gives name nil and module + offset for a stripped binary", function()
    local dir = S.tmpname("-strip")
    local full, stripped = dir .. "/symtarget-full", dir .. "/symtarget-stripped"
    local b = S.sh(("mkdir -p %s && cc -std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer -o %s %s/tests/helpers/symtarget.c && cp %s %s && strip %s")
      :format(S.q(dir), S.q(full), S.q(S.root), S.q(full), S.q(stripped), S.q(stripped)))
    assert.equal(0, b.code, b.err)
    -- the ELF address of known_function_alpha, from the unstripped twin
    local nm = S.sh(("nm %s"):format(S.q(full)))
    local vaddr = hex("0x" .. assert(nm.out:match("(%x+) T known_function_alpha\n"), nm.out))
    local p, a = start_symtarget(stripped)
    local sym = assert(denet.symbolizer(p.pid))
    local f = sym:resolve(a.alpha)
    local g = sym:resolve(a.beta)
    p:signal("KILL")
    p:wait()
    os.execute("rm -rf " .. S.q(dir))
    assert.is_nil(f.name)
    assert.equal(stripped, f.module)
    assert.equal(vaddr, f.offset) -- what addr2line -e FILE takes
    assert.is_nil(g.name)
    assert.equal(stripped, g.module)
  end)

  it("resolves kernel addresses through /proc/kallsyms", function()
    local ks = S.slurp("/proc/kallsyms") or ""
    local addr = ks:match("(%x+) [Tt] schedule\n")
    if not addr or tonumber(addr, 16) == 0 then return pending("kernel addresses are hidden here") end
    local self_pid = math.tointeger(tonumber(S.slurp("/proc/self/stat"):match("^%d+")))
    local sym = assert(denet.symbolizer(self_pid))
    local f = sym:resolve(hex("0x" .. addr) + 4)
    assert.equal("schedule", f.name)
    assert.equal(4, f.offset)
    assert.equal("[kernel]", f.module)
    assert.is_true(f.kernel)
  end)

  it("rejects bad arguments", function()
    assert.has_error(function() denet.symbolizer("self") end)
    assert.has_error(function() denet.symbolizer(0) end)
    assert.has_error(function() denet.symbolize(1, { "nope" }) end)
    assert.has_error(function() denet.symbolize(1, 42) end)
    local ok, err = pcall(denet.symbolizer, 1, { line = true })
    assert.is_false(ok)
    assert.matches("unknown option 'line'", err)
  end)
end)
