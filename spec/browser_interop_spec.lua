-- The browser harness against Kamailio's WebSocket transport (RFC 7118): two webphone pages
-- (examples/webphone/, JsSIP in headless chromium) register with digest over WS, one calls the
-- other with fake media, both RTCPeerConnections reach "connected", and BYE ends the call.
-- Everything on 127.0.0.1, bounded in time.
local peers = require "support.peers"
local browser = require "support.browser"

local USERS = { alice = "alice-secret", bob = "bob-secret" }

local function account(server, user)
  return { server = server, uri = ("sip:%s@example.com"):format(user), password = USERS[user] }
end

describe("webphone pages with Kamailio over WebSocket", function()
  local missing = browser.missing()
  if missing then
    pending("needs " .. missing)
    return
  end
  teardown(peers.cleanup)

  it("RFC 7118: alice calls bob, both peer connections connect, alice hangs up (BYE)", function()
    local k = peers.kamailio { cfg = "ws", users = USERS, lifetime = 120 }
    local ws = "ws://" .. k.addr
    local b = browser.phones { a = account(ws, "alice"), b = account(ws, "bob") }
    b:call_and_hang_up("a", "b", "sip:bob@example.com", "sip:alice@example.com")
    local r = b:run()
    assert(r.ok, r.out .. "\n" .. k:log():sub(-3000))
    assert(browser.on_loopback(r, 2))
  end)
end)
