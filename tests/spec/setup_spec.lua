-- setup_spec.lua — the README's promise on a fresh machine: in an export of
-- the work tree (what `git archive` gives a newcomer, with the changes not
-- yet committed), `make demo` works at the first attempt although the
-- packages are "missing" when make starts, and plain `make` builds
-- build/denet.
--
-- A prepared machine cannot fool it: pkg-config and the dependency step are
-- replaced in the export by stand-ins that fail until "the packages are
-- installed" (a marker file the stand-in deps.sh creates). So a Makefile that
-- asks pkg-config before its dependency step builds without Lua's headers
-- and fails, exactly as on a bare Debian machine.
local S = require "support"

local function export_tree()
  local dir = S.tmpname("-export")
  local r = S.sh(("cd %s && git rev-parse --is-inside-work-tree"):format(S.q(S.root)))
  if r.code ~= 0 then return nil, "not a git checkout: nothing to export" end
  assert(os.execute("mkdir -p " .. S.q(dir)))
  -- (files deleted but not yet committed are listed and skipped)
  -- (in braces: S.sh's </dev/null must not replace the pipe into tar -x)
  r = S.sh(("{ cd %s && git ls-files -z --cached --others --exclude-standard "
    .. "| tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -x -C %s; }")
    :format(S.q(S.root), S.q(dir)))
  assert(r.code == 0, r.err)
  return dir
end

-- Stand-ins for the package system: dpkg-query and pkg-config know no
-- package until apt-get "installs" them (touches the marker). The real
-- tools/deps.sh and Makefile run unchanged. Needs root, as deps.sh installs
-- only as root.
local function bare_machine(dir)
  local marker = dir .. "/.installed"
  local bin = dir .. "/.fakebin"
  assert(os.execute("mkdir -p " .. S.q(bin)))
  S.write(bin .. "/pkg-config", ([[#!/bin/sh
[ -e %s ] || exit 1
exec /usr/bin/pkg-config "$@"
]]):format(S.q(marker)))
  S.write(bin .. "/dpkg-query", ([[#!/bin/sh
[ -e %s ] || exit 1
exec /usr/bin/dpkg-query "$@"
]]):format(S.q(marker)))
  S.write(bin .. "/apt-get", ([[#!/bin/sh
case "$1" in install) echo "apt-get $*" >>%s.log; touch %s ;; esac
]]):format(S.q(marker), S.q(marker)))
  assert(os.execute(("chmod +x %s/*"):format(S.q(bin))))
  os.remove(marker)
  -- the suite's own build settings (BUILD=build/asan, SAN=...) stay out
  return ("cd %s && env -u BUILD -u SAN -u OPT -u CFLAGS -u LDFLAGS -u MAKEFLAGS -u MAKELEVEL "
    .. "-u MFLAGS PATH=%s:\"$PATH\" "):format(S.q(dir), S.q(bin))
end

local is_root = S.is_root()

describe("set-up on a fresh machine", function()
  local dir, why

  setup(function() dir, why = export_tree() end)
  teardown(function() if dir then os.execute("rm -rf " .. S.q(dir)) end end)

  it("plain make on a bare machine says which packages are missing, in one line each", function()
    if not dir then return pending(why) end
    local env = bare_machine(dir)
    local r = S.sh(env .. "make")
    assert.are_not.equal(0, r.code)
    assert.matches("missing Debian packages: build%-essential pkg%-config libbpf%-dev", r.err)
    assert.matches("run 'make deps'", r.err)
    assert.is_nil(r.err:find("No such file or directory", 1, true), r.err)
    assert.is_nil(S.slurp(dir .. "/.installed.log")) -- plain make installs nothing
  end)

  it("make demo works at the first attempt, then plain make builds build/denet", function()
    if not dir then return pending(why) end
    if not is_root then return pending("tools/deps.sh installs only as root") end
    local env = bare_machine(dir)
    local r = S.sh(env .. "make -j2 demo")
    assert.are.equal(0, r.code, r.out .. r.err)
    -- what the demo needs was installed, and no more (not the test tools)
    local log = S.slurp(dir .. "/.installed.log") or ""
    assert.matches("install .*liblua5%.4%-dev", log)
    assert.is_nil(log:find("busted", 1, true), log)
    -- the demo ran: denet's summary of its recording, and the recording
    assert.matches("demo: the recording is build/demo.jsonl", r.out)
    local recs = S.records(S.slurp(dir .. "/build/demo.jsonl"))
    assert.are.equal("metadata", recs[1].kind)
    assert.are.equal("exit", recs[#recs].kind)
    assert.are.equal(0, recs[#recs].exit_code)
    -- the default goal is the binary, not whatever an included file defines first
    assert.is_true(os.remove(dir .. "/build/denet"))
    r = S.sh(env .. "make")
    assert.are.equal(0, r.code, r.out .. r.err)
    r = S.sh(S.q(dir .. "/build/denet") .. " --version")
    assert.are.equal(0, r.code, r.err)
  end)
end)
