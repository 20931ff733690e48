-- exit_paths_spec.lua — every way a run can end loses nothing (issue 7):
-- SIGINT, SIGTERM and SIGHUP to denet (forwarded to the command: a `kill`
-- is SI_USER, unlike a terminal's ^C), the command killed by SIGKILL, the
-- command exiting while samples are taken, --duration and --timeout expiry,
-- a Lua error in a -s hook, and denet itself killed with SIGKILL. Each
-- --out file must be valid JSONL ending in a newline with the metadata
-- record first, an exit record last (except --duration and SIGKILL of
-- denet), and the last sample before the event present: the ts_ms of the
-- last tree record within about one interval of the event.
-- Also: a full disk during the run (a 32 KiB tmpfs, as root).

local S = require "support"
local json = require "denet.json"

local INTERVAL = 50
-- one interval, plus what a loaded CI machine may add to a wake-up
local SLACK = INTERVAL + 250

-- Checks the file as a whole; returns its records.
local function check_jsonl(path, want_exit)
  local text = S.slurp(path)
  assert.is_truthy(text, "no file " .. path)
  assert.is_true(#text > 0, "empty file")
  assert.are.equal("\n", text:sub(-1), "the file does not end in a newline")
  local recs = {}
  for line in text:gmatch("([^\n]*)\n") do
    local rec, err = json.decode(line)
    assert(rec, ("line %d does not parse: %s: %s"):format(#recs + 1, tostring(err), line))
    recs[#recs + 1] = rec
  end
  assert.are.equal("metadata", recs[1].kind)
  if want_exit then
    assert.are.equal("exit", recs[#recs].kind)
  end
  return recs
end

local function last_tree(recs)
  local trees = S.of_kind(recs, "tree")
  assert.is_true(#trees > 0, "no tree record")
  return trees[#trees]
end

-- The last sample is at most one interval (plus slack) before event_ms,
-- and not after it by more than the slack.
local function assert_last_sample_near(recs, event_ms)
  local t = last_tree(recs).ts_ms
  local before = event_ms - t
  assert.is_true(before <= SLACK, ("last sample %d ms before the event"):format(before))
  assert.is_true(before >= -SLACK, ("last sample %d ms after the event"):format(-before))
end

describe("exit paths: signals to denet", function()
  for _, c in ipairs { { "INT", 2 }, { "TERM", 15 }, { "HUP", 1 } } do
    local name, num = c[1], c[2]
    it(("SIG%s is forwarded; the file is complete, exit record last"):format(name), function()
      local out = S.tmpname(".jsonl")
      local res = S.capture(("%s -q -i %d --out %s run sleep 10 </dev/null >/dev/null 2>&1 & d=$!; "
        .. "sleep 0.6; date +%%s%%3N; kill -%s $d; wait $d; echo $?")
        :format(S.q(S.bin), INTERVAL, S.q(out), name), true)
      local event_ms, status = res:match("^(%d+)\n(%d+)")
      assert.are.equal(128 + num, tonumber(status))
      local recs = check_jsonl(out, true)
      assert.are.equal(num, recs[#recs].signal)
      assert_last_sample_near(recs, tonumber(event_ms))
      os.remove(out)
    end)
  end
end)

describe("exit paths: the command", function()
  it("killed by SIGKILL: exit record with signal 9, last sample present", function()
    local out = S.tmpname(".jsonl")
    local r = S.denet { "-q", "-i", tostring(INTERVAL), "--out", out, "run", "sh", "-c",
      "sleep 0.5; date +%s%3N >&2; kill -9 $$" }
    assert.are.equal(128 + 9, r.code)
    local event_ms = tonumber(r.err:match("(%d%d%d%d%d%d%d%d%d%d%d%d%d)"))
    local recs = check_jsonl(out, true)
    assert.are.equal(9, recs[#recs].signal)
    assert_last_sample_near(recs, event_ms)
    os.remove(out)
  end)

  it("exiting while samples are taken (1 ms interval, short-lived children)", function()
    for round = 1, 3 do
      local out = S.tmpname(".jsonl")
      local r = S.denet { "-q", "-i", "1", "--out", out, "run", "sh", "-c",
        "i=0; while [ $i -lt 40 ]; do /bin/true; i=$((i+1)); done; exit " .. round }
      assert.are.equal(round, r.code)
      local recs = check_jsonl(out, true)
      assert.are.equal(round, recs[#recs].exit_code)
      os.remove(out)
    end
  end)
end)

describe("exit paths: --duration and --timeout", function()
  it("--duration: monitoring stops, the file is complete, the command runs on", function()
    local out = S.tmpname(".jsonl")
    local r = S.denet { "-q", "-i", tostring(INTERVAL), "--duration", "0.5", "--out", out,
      "run", "sleep", "3" }
    assert.are.equal(0, r.code)
    local recs = check_jsonl(out, false)
    local meta = recs[1]
    assert_last_sample_near(recs, meta.t0_ms + 500)
    if meta.pid and S.alive(meta.pid) then os.execute("kill " .. meta.pid) end
    os.remove(out)
  end)

  it("--timeout: the command is ended, status 124, exit record last", function()
    local out = S.tmpname(".jsonl")
    local r = S.denet { "-q", "-i", tostring(INTERVAL), "--timeout", "0.5", "--out", out,
      "run", "sleep", "10" }
    assert.are.equal(124, r.code)
    local recs = check_jsonl(out, true)
    assert.are.equal(15, recs[#recs].signal)
    assert_last_sample_near(recs, recs[1].t0_ms + 500)
    os.remove(out)
  end)
end)

describe("exit paths: a Lua error in a hook", function()
  it("stops the run with status 1; the records so far and an exit record are there", function()
    local out = S.tmpname(".jsonl")
    local hooks = S.tmpname(".lua")
    S.write(hooks, [[
local p = ...
local n = 0
p:on("sample", function(rec)
	n = n + 1
	if n == 5 then
		io.stderr:write("EVENT ", rec.ts_ms, "\n")
		error("boom in hook")
	end
end)
]])
    local r = S.denet { "-q", "-i", tostring(INTERVAL), "--out", out, "run", "-s", hooks,
      "--", "sleep", "10" }
    assert.are.equal(1, r.code)
    assert.matches("boom in hook", r.err)
    local recs = check_jsonl(out, true)
    -- the sample the hook failed on is there (a final one taken as the
    -- command ends may follow it)
    local trees = S.of_kind(recs, "tree")
    assert.is_true(#trees == 5 or #trees == 6, #trees .. " tree records")
    local event_ms = tonumber(r.err:match("EVENT (%d+)"))
    assert.are.equal(event_ms, trees[5].ts_ms)
    os.remove(out)
    os.remove(hooks)
  end)

  it("a hooks file that fails to load removes the empty output it made, never a device", function()
    local out = S.tmpname(".jsonl")
    local hooks = S.tmpfile("error('no load')\n", ".lua")
    local r = S.denet { "-q", "-o", out, "run", "-s", hooks, "--", "true" }
    assert.are.equal(1, r.code)
    assert.is_nil(S.slurp(out), "the empty output is left behind")
    if S.is_root() then
      -- as root, removing `-o /dev/null` would remove the device for everyone
      r = S.denet { "-q", "-o", "/dev/null", "run", "-s", hooks, "--", "true" }
      local kind = S.sh("stat -c %F /dev/null").out
      if not kind:match("character") then
        os.execute("rm -f /dev/null && mknod -m 666 /dev/null c 1 3") -- put it back
      end
      assert.are.equal(1, r.code)
      assert.matches("^character special file", kind)
    end
    os.remove(hooks)
  end)
end)

describe("exit paths: denet killed with SIGKILL", function()
  it("leaves only complete lines", function()
    for _, delay in ipairs { "0.35", "0.6", "0.83" } do
      local out = S.tmpname(".jsonl")
      local res = S.capture(("%s -q -i 1 --out %s run %s 5 </dev/null >/dev/null 2>&1 & d=$!; "
        .. "sleep %s; date +%%s%%3N; kill -KILL $d; wait $d; echo $?")
        :format(S.q(S.bin), S.q(out), S.q(S.helper("busy")), delay), true)
      local event_ms, status = res:match("^(%d+)\n(%d+)")
      assert.are.equal(137, tonumber(status))
      local recs = check_jsonl(out, false)
      assert.are_not.equal("exit", recs[#recs].kind)
      -- at 1 ms the last sample is close to the kill
      assert_last_sample_near(recs, tonumber(event_ms))
      -- the command, orphaned, is still ours to end
      if recs[1].pid and S.alive(recs[1].pid) then os.execute("kill -9 " .. recs[1].pid) end
      os.remove(out)
    end
  end)
end)

describe("bad outputs: a full disk during the run", function()
  local is_root = S.is_root()
  local dir

  before_each(function()
    if not is_root then return end
    dir = S.tmpname(".tmpfs")
    os.execute("mkdir -p " .. S.q(dir))
    if not os.execute("mount -t tmpfs -o size=32k tmpfs " .. S.q(dir) .. " 2>/dev/null") then
      os.execute("rmdir " .. S.q(dir))
      dir = nil
    end
  end)

  after_each(function()
    if dir then
      os.execute("umount " .. S.q(dir) .. " && rmdir " .. S.q(dir))
      dir = nil
    end
  end)

  local function full_disk_run(cmd_status)
    if not dir then
      pending("needs root and a tmpfs mount")
      return
    end
    local out = dir .. "/f.jsonl"
    local marker = S.tmpname(".ran")
    local r = S.denet { "-q", "-i", "10", "--out", out, "run", "sh", "-c",
      "sleep 1; echo ran > " .. S.q(marker) .. "; exit " .. cmd_status }
    -- the command is not harmed: it ran to its end
    assert.are.equal("ran\n", S.slurp(marker))
    os.remove(marker)
    -- one clear error line
    local n = 0
    for line in r.err:gmatch("[^\n]+") do
      if line:match("^denet: ") then
        n = n + 1
        assert.matches("No space left on device", line)
      end
    end
    assert.are.equal(1, n)
    -- every line written is complete: the file ends at a line boundary
    local text = S.slurp(out)
    assert.is_true(#text > 1000)
    assert.are.equal("\n", text:sub(-1))
    for line in text:gmatch("([^\n]*)\n") do
      assert.is_truthy(json.decode(line), "a partial line: " .. line:sub(1, 80))
    end
    assert.are.equal("metadata", json.decode(text:match("^[^\n]*")).kind)
    return r
  end

  it("one error, the command unharmed, whole lines only, exit 1 after success", function()
    local r = full_disk_run(0)
    if r then assert.are.equal(1, r.code) end
  end)

  it("keeps the command's own failure status", function()
    local r = full_disk_run(3)
    if r then assert.are.equal(3, r.code) end
  end)
end)
