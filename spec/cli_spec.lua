-- sip.cli: a script's options declared once; the usage, the parsing and the checks follow.
local cli = require "sip.cli"

local SPEC = {
  name = "tool.lua",
  description = "Answers every request with one code. A test peer.",
  options = {
    { "--listen", "ADDR", "list", help = "a transport to listen on", default = { "udp:127.0.0.1:5090" } },
    { "--code", "N", "integer", help = "the final code", default = 200, min = 200, max = 699 },
    { "--t1", "S", "number", help = "the RTT estimate" },
    { "--user", "NAME", "string", default = "uas" },
    { "--log", "LEVEL", one_of = { "error", "warn", "info" }, default = "warn" },
    { "--message", "URI TEXT", 2, help = "send TEXT to URI" },
    { "--register-policy", "POLICY", one_of = { "own", "own-or-free" } },
    { "--proxy", "URI", check = function(v) return v:find("^sips?:") ~= nil, "not a SIP URI" end },
    { "--quiet", kind = "flag", help = "print nothing" },
  },
}

local function parse(...) return cli.parse(SPEC, { ... }, { exit = false }) end

describe("sip.cli", function()
  describe("each kind", function()
    it("with no arguments, every option has its default (flags false, lists a fresh copy)", function()
      local o = assert(parse())
      assert.same({ "udp:127.0.0.1:5090" }, o.listen)
      assert.equal(200, o.code)
      assert.is_nil(o.t1)
      assert.equal("uas", o.user)
      assert.equal("warn", o.log)
      assert.is_nil(o.message)
      assert.is_false(o.quiet)
      o.listen[1] = "changed"
      assert.same({ "udp:127.0.0.1:5090" }, assert(parse()).listen)
    end)

    local cases = {
      { "a flag is true when given", { "--quiet" }, "quiet", true },
      { "a string", { "--user", "alice" }, "user", "alice" },
      { "a string may look like an option", { "--user", "--quiet" }, "user", "--quiet" },
      { "a number", { "--t1", "0.05" }, "t1", 0.05 },
      { "an integer", { "--code", "486" }, "code", 486 },
      { "an integer written as a float", { "--code", "486.0" }, "code", 486 },
      { "a list collects every value given, in order", { "--listen", "udp:a:1", "--listen", "tcp:b:2" },
        "listen", { "udp:a:1", "tcp:b:2" } },
      { "n values come as an array", { "--message", "sip:bob@example.com", "user2, come here." },
        "message", { "sip:bob@example.com", "user2, come here." } },
      { "--name=value is the same as --name value", { "--user=bob" }, "user", "bob" },
      { "a dash in the name is an underscore in the key", { "--register-policy", "own-or-free" },
        "register_policy", "own-or-free" },
      { "a string option given twice keeps the last", { "--user", "a", "--user", "b" }, "user", "b" },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        local o = assert(parse(table.unpack(c[2])))
        assert.same(c[4], o[c[3]])
      end)
    end

    it("a list given on the command line replaces its default", function()
      assert.same({ "tcp:b:2" }, assert(parse("--listen", "tcp:b:2")).listen)
    end)
  end)

  describe("what is wrong, and the exit status 2", function()
    local cases = {
      { "an unknown option", { "--nope" }, "unknown option --nope" },
      { "a word that is no option", { "stray" }, "unexpected argument 'stray'" },
      { "a missing value", { "--user" }, "--user needs a value (NAME)" },
      { "one of n values missing", { "--message", "sip:bob@example.com" }, "--message needs URI TEXT" },
      { "a bad number", { "--t1", "soon" }, "--t1 needs a number, not 'soon'" },
      { "a number where a whole one is needed", { "--code", "2.5" }, "--code needs a whole number, not '2.5'" },
      { "a number out of range", { "--code", "700" }, "--code must be from 200 to 699, not 700" },
      { "a value not one of those allowed", { "--log", "loud" }, "--log must be one of error|warn|info, not 'loud'" },
      { "a value its check refuses", { "--proxy", "http://x" }, "--proxy http://x: not a SIP URI" },
      { "a value given to a flag", { "--quiet=yes" }, "--quiet takes no value" },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        local o, err, status = parse(table.unpack(c[2]))
        assert.is_nil(o)
        assert.equal(c[3], err)
        assert.equal(2, status)
      end)
    end

    it("a required option missing", function()
      local spec = { name = "r.lua", options = { { "--registrar", "URI", required = true } } }
      assert.same({ nil, "missing --registrar URI", 2 }, { cli.parse(spec, {}, { exit = false }) })
      assert.equal("sip:x", cli.parse(spec, { "--registrar", "sip:x" }).registrar)
    end)

    it("the spec's own check sees every value, defaults included", function()
      local spec = { name = "c.lua", options = { { "--call", "URI" }, { "--message", "URI TEXT", 2 } },
        check = function(o)
          if (not o.call) == (not o.message) then return nil, "give exactly one of --call and --message" end
          return true
        end }
      assert.same({ nil, "give exactly one of --call and --message", 2 }, { cli.parse(spec, {}, { exit = false }) })
      assert.equal("sip:b", cli.parse(spec, { "--call", "sip:b" }, { exit = false }).call)
    end)
  end)

  it("cli.sip_uri accepts sip: and sips: URIs only", function()
    for _, c in ipairs { { "sip:bob@example.com", true }, { "sips:127.0.0.1:5061;lr", true },
      { "tel:+15551234", false }, { "http://example.com", false }, { "example.com", false } } do
      local ok, why = cli.sip_uri(c[1])
      assert.equal(c[2], ok == true, c[1])
      if not ok then assert.equal("not a sip: or sips: URI", why) end
    end
  end)

  describe("the usage text, built from the spec", function()
    local usage = cli.usage(SPEC)

    it("starts with the synopsis and the description", function()
      assert.matches("^usage: tool%.lua %[options%]\n\nAnswers every request with one code%. A test peer%.\n", usage)
    end)

    local lines = {
      { "metavar, help, repeatable, default", "  --listen ADDR             a transport to listen on (repeatable; default\n" ..
        "                            udp:127.0.0.1:5090)\n" },
      { "range and default", "  --code N                  the final code (200 to 699; default 200)\n" },
      { "the values allowed", "  --log LEVEL               (one of error|warn|info; default warn)\n" },
      { "n values", "  --message URI TEXT        send TEXT to URI\n" },
      { "a flag", "  --quiet                   print nothing\n" },
      { "--help", "  -h, --help                print this and exit\n" },
    }
    for _, l in ipairs(lines) do
      it("lists each option: " .. l[1], function()
        assert.truthy(usage:find(l[2], 1, true), usage)
      end)
    end

    it("names the required options in the synopsis", function()
      local spec = { name = "r.lua", options = { { "--registrar", "URI", required = true }, { "--once" } } }
      assert.matches("^usage: r%.lua %-%-registrar URI %[options%]\n", cli.usage(spec))
    end)

    it("-h and --help give it back with status 0", function()
      for _, h in ipairs { "-h", "--help" } do
        assert.same({ nil, usage, 0 }, { parse("--user", "x", h) })
      end
    end)
  end)

  describe("as a script sees it", function()
    local function run(args)
      local script = os.tmpname()
      local f = assert(io.open(script, "w"))
      f:write([[
        local cli = require "sip.cli"
        local o = cli.parse({ name = "s.lua", options = { { "--n", "N", "number" } } }, arg)
        print("n=" .. tostring(o.n))
      ]])
      f:close()
      local p = assert(io.popen("lua5.4 " .. script .. " " .. args .. " 2>&1"))
      local out = p:read("a")
      local _, _, status = p:close()
      os.remove(script)
      return status, out
    end

    it("a bad option: 'NAME: what is wrong' and the usage on stderr, exit 2", function()
      local status, out = run("--n x")
      assert.equal(2, status)
      assert.matches("^s%.lua: %-%-n needs a number, not 'x'\nusage: s%.lua %[options%]\n", out)
    end)

    it("--help: the usage on stdout, exit 0", function()
      local status, out = run("--help")
      assert.equal(0, status)
      assert.matches("^usage: s%.lua", out)
    end)

    it("good options: the script goes on", function()
      assert.same({ 0, "n=3\n" }, { run("--n 3") })
    end)
  end)

  describe("misuse raises", function()
    local cases = {
      { "a name without dashes", { name = "x", options = { { "listen", "ADDR" } } }, "the name must look like %-%-word" },
      { "an unknown kind", { name = "x", options = { { "--a", "A", "date" } } }, "kind must be" },
      { "a value without a metavar", { name = "x", options = { { "--a", nil, "string" } } }, "a metavar" },
      { "a metavar naming too few values", { name = "x", options = { { "--a", "URI", 2 } } }, "names 2 values" },
      { "an option declared twice", { name = "x", options = { { "--a" }, { "--a" } } }, "declared twice" },
      { "--help declared", { name = "x", options = { { "--help" } } }, "built in" },
      { "min on a string", { name = "x", options = { { "--a", "A", min = 1 } } }, "min and max are for numbers" },
      { "no script name", { options = {} }, "spec.name" },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        assert.error_matches(function() cli.parse(c[2], {}) end, "bad argument #1 to 'cli.parse' %(.*" .. c[3])
      end)
    end

    it("argv that is not a table", function()
      assert.error_matches(function() cli.parse(SPEC, "--quiet") end, "bad argument #2 to 'cli.parse'")
    end)
  end)
end)
