-- Our WebSocket client (csrc/sip_ws.c, RFC 7118) against a real WebSocket server: Kamailio's
-- websocket module (spec/support/kamailio/ws_registrar.cfg). A sip.ua on a WebSocket to Kamailio
-- registers with digest under a .invalid Contact, then a MESSAGE from a UA on UDP reaches it
-- over that connection (Kamailio routes by where the REGISTER came from).
local sip = require "sip"
local loop = require "sip.loop"
local peers = require "support.peers"

describe("sip over WebSocket with Kamailio", function()
  local k
  setup(function()
    k = peers.kamailio { cfg = "ws_registrar", users = { alice = "alice-secret" } }
  end)
  teardown(function() if k then k:stop() end end)
  after_each(function() assert.equal(0, loop.active()) end)

  it("RFC 7118: registers over ws with digest and a .invalid Contact, and is reached over that connection", function()
    sip.run(function()
      local ws_uri = ("sip:%s;transport=ws"):format(k.addr)
      local alice <close> = assert(sip.ua { listen = { "udp:127.0.0.1:0" }, user = "alice", domain = "example.com",
        password = "alice-secret", registrar = ws_uri, outbound_proxy = ws_uri .. ";lr",
        contact = "sip:alice@df7jal23ls0d.invalid;transport=ws" })
      local reg, err = alice:register { expires = 60, refresh = false }
      assert(reg, tostring(err) .. "\n" .. k:log())
      assert.equal(1, alice.ep:stats().conns_ws)
      local got
      alice:on("message", function(req)
        got = req.body .. " over " .. req.source.proto
      end)
      local bob <close> = assert(sip.ua { listen = { "udp:127.0.0.1:0" }, user = "bob", domain = "example.com" })
      local rsp, merr = bob:request("MESSAGE", "sip:alice@example.com", {
        dest = { proto = "udp", host = "127.0.0.1", port = k.port }, body = "hello over ws",
        content_type = "text/plain" })
      assert(rsp, tostring(merr) .. "\n" .. k:log())
      assert.equal(200, rsp.status)
      assert.equal("hello over ws over ws", got)
    end)
  end)
end)
