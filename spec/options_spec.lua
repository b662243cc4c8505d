-- sip.options: every options table of the public API is checked; a mistake raises, naming the
-- option, with a suggestion for a misspelled one.
local sip = require "sip"
local options = require "sip.options"
local peers = require "support.peers"

local function raises(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok)
  assert.matches(pattern, tostring(err), 1, true)
  return err
end

describe("sip.options", function()
  describe("a schema", function()
    local S = options.schema("thing", { route = "function", timeout = "seconds", name = "string|table",
      media = options.schema("thing", { port = "integer" }) })

    it("takes nil and the declared options", function()
      assert.same({}, S:check(nil))
      local t = { route = print, timeout = 2, name = {}, media = { port = 4000 } }
      assert.equal(t, S:check(t))
    end)

    it("refuses an unknown option with the closest known name", function()
      raises("bad argument #1 to 'thing' (unknown option 'rout' (did you mean 'route'?))", S.check, S, { rout = print })
      raises("unknown option 'tiemout' (did you mean 'timeout'?)", S.check, S, { tiemout = 1 })
      raises("unknown option 'media.prot' (did you mean 'media.port'?)", S.check, S, { media = { prot = 1 } })
    end)

    it("suggests nothing for a name far from every known one", function()
      local err = raises("unknown option 'zzzzzz'", S.check, S, { zzzzzz = 1 })
      assert.is_nil(err:find("did you mean", 1, true))
    end)

    it("refuses a wrong type, naming the option, what it must be and what it got", function()
      raises("option 'route' must be a function, got 5", S.check, S, { route = 5 })
      raises("option 'timeout' must be a number of seconds > 0, got -1", S.check, S, { timeout = -1 })
      raises("option 'name' must be a string or table, got true", S.check, S, { name = true })
      raises("option 'media.port' must be an integer, got 1.5", S.check, S, { media = { port = 1.5 } })
    end)

    it("refuses positional values and a non-table", function()
      raises("unexpected value at [1] (options are named", S.check, S, { "udp:127.0.0.1:0" })
      raises("options table expected, got \"x\"", S.check, S, "x")
    end)

    it("names the line that called the function taking the options", function()
      local function api(t) S:check(t) end
      local line = debug.getinfo(1, "l").currentline + 1
      raises("options_spec.lua:" .. line .. ":", function() api({ rout = 1 }) end)
    end)
  end)

  describe("the constructors", function()
    it("sip.proxy: 'rout' is not 'route'", function()
      raises("bad argument #1 to 'proxy' (unknown option 'rout' (did you mean 'route'?))", sip.proxy,
        { listen = "udp:127.0.0.1:0", rout = function() end })
    end)

    it("sip.ua, sip.endpoint, sip.registrar, location.open", function()
      raises("bad argument #1 to 'ua' (unknown option 'pasword' (did you mean 'password'?))", sip.ua, { pasword = "x" })
      raises("option 'media.prot' (did you mean 'media.port'?)", sip.ua, { media = { prot = 1 } })
      raises("bad argument #1 to 'endpoint' (unknown option 'handle' (did you mean 'handler'?))", sip.endpoint,
        { handle = print })
      raises("bad argument #1 to 'registrar' (option 'min_expires' must be an integer", sip.registrar.new,
        { min_expires = "60" })
      raises("bad argument #2 to 'open' (unknown option 'clok' (did you mean 'clock'?))", sip.location.open,
        "memory", { clok = os.time })
    end)

    it("the transport options reach sip.ua and sip.proxy through one schema", function()
      raises("bad argument #1 to 'ua' (option 't1' must be a number of seconds > 0", sip.ua, { t1 = 0 })
      raises("bad argument #1 to 'proxy' (option 'limits' must be a table", sip.proxy, { limits = 5 })
    end)

    it("listen is a spec or a list of them, each well formed", function()
      raises("option 'listen' needs udp:, tcp:, tls:, ws: or wss: (upd:127.0.0.1:0)", sip.endpoint, { listen = "upd:127.0.0.1:0" })
      raises("option 'listen' [2] must be a string like udp:127.0.0.1:5060", sip.endpoint,
        { listen = { "udp:127.0.0.1:0", 5060 } })
      local ep <close> = assert(sip.endpoint { listen = "udp:127.0.0.1:0" })
      assert.equal(1, #ep.listeners)
      local px <close> = assert(sip.proxy { listen = "udp:127.0.0.1:0" })
      assert.equal(1, #px.ep.listeners)
    end)

    it("sip.request and sip.response", function()
      local base = { method = "OPTIONS", uri = "sip:a@example.com", from = "<sip:b@example.com>",
        to = "<sip:a@example.com>" }
      base.cseqq = 2
      raises("bad argument #1 to 'request' (unknown option 'cseqq' (did you mean 'cseq'?))", sip.request, base)
      base.cseqq = nil
      local req = sip.request(base)
      raises("unknown option 'header' (known: to_tag, received, rport, content_type, headers, body)",
        sip.response, req, 200, nil, { header = "X: y\r\n" })
    end)
  end)

  describe("the methods", function()
    it("of a user agent and its calls, and px:relay", function()
      sip.run(function()
        local ua <close> = assert(sip.ua { listen = "udp:127.0.0.1:0" })
        raises("bad argument #4 to 'message' (unknown option 'timout' (did you mean 'timeout'?))",
          ua.message, ua, "sip:x@127.0.0.1:9", "hi", nil, { timout = 1 })
        raises("bad argument #3 to 'request' (option 'cseq' must be an integer", ua.request, ua, "INFO",
          "sip:x@127.0.0.1:9", { cseq = "1" })
        raises("bad argument #2 to 'options' (unknown option 'header'", ua.options, ua, "sip:x@127.0.0.1:9",
          { header = {} })
        raises("bad argument #1 to 'register' (unknown option 'expire' (did you mean 'expires'?))", ua.register, ua,
          { expire = 60 })
        raises("bad argument #2 to 'dial' (option 'on_end' must be a function", ua.dial, ua, "sip:x@127.0.0.1:9",
          { on_end = true })
        local px <close> = assert(sip.proxy { listen = "udp:127.0.0.1:0" })
        raises("bad argument #3 to 'relay' (unknown option 'paralel' (did you mean 'parallel'?))", px.relay, px,
          nil, nil, { paralel = true })
      end)
    end)
  end)

  describe("transport errors", function()
    it("name the peer and the transport", function()
      sip.run(function()
        local port = peers.free_port("tcp")
        local ua <close> = assert(sip.ua { listen = "udp:127.0.0.1:0" })
        local rsp, err, code = ua:message("sip:bob@127.0.0.1:" .. port .. ";transport=tcp", "hi")
        assert.is_nil(rsp)
        assert.equal(503, code)
        assert.equal("MESSAGE to 127.0.0.1:" .. port .. " over tcp: connection refused", err)
      end)
    end)
  end)
end)
