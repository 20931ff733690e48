-- privilege_spec.lua — who the command runs as (docs/security.md): --user
-- NAME, and under sudo the invoking user (SUDO_UID/SUDO_GID and that user's
-- supplementary groups); --user root keeps root; --user needs root.

local S = require "support"

local is_root = S.is_root()

local function id_of(args, env)
  local r = S.denet(args, { env = env })
  return r, r.out
end

describe("least privilege", function()
  it("--user NAME runs the command as NAME with its groups", function()
    if not is_root then return pending("needs root") end
    local want = S.sh("id nobody").out
    local r, out = id_of { "-q", "--user", "nobody", "run", "--", "id" }
    assert.are.equal(0, r.code)
    assert.are.equal(want, out)
    -- numeric uids are accepted too
    r, out = id_of { "-q", "-u", "65534", "run", "--", "id", "-u" }
    assert.are.equal(0, r.code)
    assert.are.equal("65534\n", out)
  end)

  it("gives the user its supplementary groups (initgroups)", function()
    if not is_root then return pending("needs root") end
    -- a user that has supplementary groups in the group database
    local user
    for line in io.lines("/etc/group") do
      user = user or line:match("^[^:]*:[^:]*:%d+:([^,:\n]+)")
    end
    if not user then return pending("no user with supplementary groups") end
    local want = S.sh("id -G " .. S.q(user)).out
    local r, out = id_of { "-q", "--user", user, "run", "--", "id", "-G" }
    assert.are.equal(0, r.code)
    assert.are.equal(want, out)
    assert.is_truthy(want:match("%d+ %d+"), "expected several groups: " .. want)
  end)

  it("under sudo runs the command as the invoking user", function()
    if not is_root then return pending("needs root") end
    local r, out = id_of({ "-q", "run", "--", "sh", "-c", "echo $(id -u):$(id -g)" }, "SUDO_UID=65534 SUDO_GID=65534")
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("65534:65534\n", out)
  end)

  it("under sudo, --user root keeps root", function()
    if not is_root then return pending("needs root") end
    local r, out = id_of({ "-q", "--user", "root", "run", "--", "id", "-u" }, "SUDO_UID=65534 SUDO_GID=65534")
    assert.are.equal(0, r.code)
    assert.are.equal("0\n", out)
  end)

  it("the run is still monitored and recorded as the other user", function()
    if not is_root then return pending("needs root") end
    local out = S.tmpname(".jsonl")
    local r = S.denet { "-q", "-i", "20", "--user", "nobody", "--out", out, "run", "--", "sleep", "0.2" }
    assert.are.equal(0, r.code)
    local recs = S.records(S.slurp(out))
    assert.are.equal("metadata", recs[1].kind)
    assert.are.equal("exit", recs[#recs].kind)
    assert.is_true(#S.of_kind(recs, "tree") >= 3)
    os.remove(out)
  end)

  it("an unknown user is a clear error before anything runs", function()
    local r = S.denet { "-q", "--user", "no-such-user-xyz", "run", "--", "true" }
    assert.are.equal(1, r.code)
    assert.matches("denet: %-%-user no%-such%-user%-xyz: no such user", r.err)
  end)

  it("--user of another user needs root", function()
    if not is_root then
      local r = S.denet { "-q", "--user", "root", "run", "--", "true" }
      assert.are.equal(1, r.code)
      assert.matches("needs root", r.err)
      return
    end
    local r = S.sh(("setpriv --reuid=65534 --regid=65534 --clear-groups %s -q --user root run -- true")
      :format(S.q(S.bin)))
    assert.are.equal(1, r.code)
    assert.matches("denet: %-%-user root: running the command as another user needs root", r.err)
  end)
end)

describe("attach to another user's process", function()
  it("says clearly that its I/O cannot be read (EPERM) and still monitors it", function()
    if not S.is_root() then
      return pending("needs root to drop to nobody")
    end
    local dir = S.tmpname("-nobody-attach")
    assert.is_true(os.execute("mkdir -p " .. S.q(dir) .. " && cp " .. S.q(S.bin) .. " " .. S.q(dir) ..
      "/denet && chmod -R a+rx " .. S.q(dir)))
    local sleeper = S.sh("sleep 5 >/dev/null 2>&1 & echo $!")
    local pid = sleeper.out:match("(%d+)")
    local r = S.sh(("cd / && setpriv --reuid=nobody --regid=nogroup --clear-groups %s/denet --json --duration 0.4 attach %s")
      :format(S.q(dir), pid))
    os.execute("kill " .. pid .. " 2>/dev/null; rm -rf " .. S.q(dir))
    assert.are.equal(0, r.code, r.err)
    local lines = 0
    for line in r.err:gmatch("[^\n]+") do
      if line:find("EPERM", 1, true) and line:find("/proc/" .. pid .. "/io", 1, true) then lines = lines + 1 end
    end
    assert.are.equal(1, lines, r.err)
    local recs = S.records(r.out)
    assert.is_false(recs[1].capabilities.io.ok)
    assert.is_true(#S.of_kind(recs, "tree") >= 1)
  end)
end)
