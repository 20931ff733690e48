-- args_spec.lua — denet.args (lua/denet/args.lua), the option parser of
-- scripts: in-process for parse(), usage() and help(); through the real
-- binary for what a script's user sees (parse_or_exit, fail: stdout or
-- stderr, exit status 0 or 2) and for --opt=value in each shipped script.

local S = require "support"
local args = require "denet.args"

local function parser()
  return args.parser{
    name = "demo",
    usage = "usage: denet demo.lua [--out FILE] [--interval MS] -- CMD",
    { "out", value = "FILE", help = "write here" },
    { "interval", value = "MS", type = "number", min = 1, help = "sample every MS ms" },
    { "top", value = "N", type = "integer", min = 0, default = 5 },
    { "every", value = "SECS", type = "number", above = 0 },
    { "action", value = "ACTION", choices = { "stop", "term", "kill" } },
    { "watch", value = "RULE", many = true },
    { "no-kernel", help = "user stacks only" },
  }
end

describe("denet.args parse", function()
  it("--opt value and --opt=value give the same options", function()
    local a, wa = parser():parse{ "--out", "x.jsonl", "--interval", "50", "--", "make", "-j4" }
    local b, wb = parser():parse{ "--out=x.jsonl", "--interval=50", "--", "make", "-j4" }
    assert.same(a, b)
    assert.same(wa, wb)
    assert.equal("x.jsonl", a.out)
    assert.equal(50, a.interval)
    assert.same({ "make", "-j4" }, wa)
  end)

  it("a value may be empty (--out=) or start with '-' (--out -x)", function()
    assert.equal("", parser():parse{ "--out=", "--", "true" }.out)
    assert.equal("-x", parser():parse{ "--out", "-x", "--", "true" }.out)
    assert.equal("a=b", parser():parse{ "--out=a=b", "--", "true" }.out)
  end)

  it("-- ends the options: words after it are the command, options or not", function()
    local o, words, dashdash = parser():parse{ "--top", "3", "--", "--out", "y", "--" }
    assert.equal(3, o.top)
    assert.is_nil(o.out)
    assert.same({ "--out", "y", "--" }, words)
    assert.is_true(dashdash)
  end)

  it("the first word that is not an option starts the command; a lone - is a word", function()
    local o, words, dashdash = parser():parse{ "--no-kernel", "sh", "-c", "--out x" }
    assert.is_true(o.no_kernel)
    assert.same({ "sh", "-c", "--out x" }, words)
    assert.is_false(dashdash)
    local _, w2 = parser():parse{ "-", "--out" }
    assert.same({ "-", "--out" }, w2)
  end)

  it("defaults, repeated options, flags and the keys (- as _)", function()
    local o = parser():parse{ "--watch", "a>1", "--watch=b<2", "--", "true" }
    assert.equal(5, o.top)
    assert.same({ "a>1", "b<2" }, o.watch)
    assert.is_nil(o.no_kernel)
    assert.same({}, parser():parse{}.watch)
    local k = args.parser{ { "for", value = "MS", type = "number", key = "for_ms" } }:parse{ "--for=7" }
    assert.equal(7, k.for_ms)
  end)

  it("numbers: integer, min, above; the result is a number", function()
    assert.equal(math.tointeger(1000), parser():parse{ "--top", "1e3" }.top)
    assert.equal("integer", math.type(parser():parse{ "--top", "1e3" }.top))
    assert.equal(0.5, parser():parse{ "--every", "0.5" }.every)
    assert.equal(1, parser():parse{ "--interval", "1" }.interval)
  end)

  it("-h and --help set help and stop there", function()
    for _, h in ipairs{ "-h", "--help" } do
      local o, words = parser():parse{ "--out", "x", h, "--bogus" }
      assert.is_true(o.help)
      assert.same({}, words)
    end
  end)

  it("errors are one line naming the option", function()
    local cases = {
      { { "--bogus", "--", "true" }, "unknown option '--bogus'" },
      { { "--bogus=1" }, "unknown option '--bogus'" },
      { { "-x" }, "unknown option '-x'" },
      { { "--out" }, "--out needs a value (FILE)" },
      { { "--interval", "0" }, "--interval takes a number >= 1, not '0'" },
      { { "--interval=soon" }, "--interval takes a number >= 1, not 'soon'" },
      { { "--top", "1.5" }, "--top takes a whole number >= 0, not '1.5'" },
      { { "--every", "0" }, "--every takes a number > 0, not '0'" },
      { { "--every", "1e999" }, "--every takes a number > 0, not '1e999'" },
      { { "--interval=nan" }, "--interval takes a number >= 1, not 'nan'" },
      { { "--action", "nuke" }, "--action must be stop, term or kill, not 'nuke'" },
      { { "--no-kernel=yes" }, "--no-kernel takes no value" },
    }
    for _, c in ipairs(cases) do
      local o, msg = parser():parse(c[1])
      assert.is_nil(o, table.concat(c[1], " "))
      assert.equal(c[2], msg)
      assert.is_nil(msg:find("\n"))
    end
  end)

  it("only arg[1..#arg] is read (not the script at arg[0] or the interpreter before it)", function()
    local argv = { [-1] = "denet", [0] = "x.lua", "--out", "f", "cmd" }
    local o, words = parser():parse(argv)
    assert.equal("f", o.out)
    assert.same({ "cmd" }, words)
  end)

  it("a mistaken declaration is the script's error, at once", function()
    assert.has_error(function() args.parser{ { "out", type = "number" } } end)
    assert.has_error(function() args.parser{ { "x", value = "N", type = "float" } } end)
    assert.has_error(function() args.parser{ { "x" }, { "x" } } end)
    assert.has_error(function() args.parser{ { "help" } } end)
  end)
end)

describe("denet.args usage and help", function()
  it("usage is the script's synopsis; help adds one line per option", function()
    local p = parser()
    assert.equal("usage: denet demo.lua [--out FILE] [--interval MS] -- CMD", p:usage())
    local h = p:help()
    assert.equal(1, select(2, h:gsub("usage: denet demo%.lua", "")))
    assert.matches("\n  %-%-out FILE%s+write here\n", h)
    assert.matches("\n  %-%-top N%s+default 5\n", h)
    assert.matches("\n  %-%-action ACTION%s+%(stop|term|kill%)\n", h)
    assert.matches("\n  %-%-watch RULE%s+may be repeated\n", h)
    assert.matches("\n  %-%-no%-kernel%s+user stacks only\n", h)
    assert.matches("\n  %-h, %-%-help%s+this help$", h)
  end)

  it("without a synopsis, one is made from the options", function()
    local p = args.parser{ name = "x", { "out", value = "FILE" }, { "quiet" } }
    assert.matches("^usage: denet .* %[%-%-out FILE%] %[%-%-quiet%]$", p:usage())
  end)
end)

describe("denet.args in a script run by denet", function()
  local path
  setup(function()
    path = S.tmpname(".lua")
    S.write(path, [[
local denet = require "denet"
local p = denet.args.parser{
  name = "tool",
  usage = "usage: denet tool.lua [--n N] -- CMD",
  { "n", value = "N", type = "integer", min = 1, default = 1 },
}
local o, cmd = p:parse_or_exit(arg)
if #cmd == 0 then p:fail("the command is missing (after --)") end
print(o.n, table.concat(cmd, " "))
]])
  end)
  teardown(function() os.remove(path) end)

  it("parses arg as denet gives it to the script", function()
    local r = S.denet{ path, "--n=3", "--", "echo", "hi" }
    assert.equal(0, r.code, r.err)
    assert.equal("3\techo hi\n", r.out)
  end)

  it("--help: the help on stdout, exit 0", function()
    local r = S.denet{ path, "--help" }
    assert.equal(0, r.code)
    assert.equal("", r.err)
    assert.matches("^usage: denet tool%.lua %[%-%-n N%] %-%- CMD\n\noptions:\n  %-%-n N", r.out)
  end)

  it("a bad option: its message and the usage on stderr, exit 2", function()
    for _, words in ipairs{ { "--n", "0", "--", "true" }, { "--m", "--", "true" }, { "--n" }, { "--n", "2" } } do
      local r = S.denet{ path, table.unpack(words) }
      assert.equal(2, r.code, table.concat(words, " "))
      assert.equal("", r.out)
      assert.matches("^denet: tool: [^\n]+\nusage: denet tool%.lua %[%-%-n N%] %-%- CMD\n$", r.err)
    end
  end)
end)

describe("the shipped scripts take --opt=value", function()
  local function script(name) return S.root .. "/scripts/" .. name .. ".lua" end

  it("every script: -h prints its usage and exits 0, an unknown option exits 2", function()
    for _, name in ipairs{ "csv", "mem-alert", "offcpu", "report", "stages" } do
      local r = S.denet{ script(name), "-h" }
      assert.equal(0, r.code, name)
      assert.matches("^usage: denet scripts/" .. name:gsub("%-", "%%-") .. "%.lua", r.out)
      r = S.denet{ script(name), "--frobnicate=1", "--", "true" }
      assert.equal(2, r.code, name)
      assert.matches("denet: " .. name:gsub("%-", "%%-") .. ": unknown option '%-%-frobnicate'", r.err)
    end
  end)

  it("csv and stages run with --interval=MS", function()
    local r = S.denet{ script("csv"), "--interval=50", "--columns=ts_ms,process_count", "--", "sleep", "0.3" }
    assert.equal(0, r.code, r.err)
    assert.matches("^ts_ms,process_count\n%d+,1\n", r.out)
    r = S.denet{ script("stages"), "--every=0.2", "--interval=50", "--", "sleep", "0.3" }
    assert.equal(0, r.code, r.err)
    assert.matches("t%+0%.2s", r.err)
  end)

  it("a bad value with = is the same error as with a space", function()
    local a = S.denet{ script("mem-alert"), "--limit", "1G", "--action", "nuke", "--", "true" }
    local b = S.denet{ script("mem-alert"), "--limit=1G", "--action=nuke", "--", "true" }
    assert.equal(2, a.code)
    assert.equal(a.code, b.code)
    assert.equal(a.err, b.err)
    assert.matches("%-%-action must be stop, term or kill, not 'nuke'", b.err)
  end)
end)
