-- Deadlines: a call that waits takes a timeout that holds whatever the peer does (RFC 3261 §9.1:
-- no CANCEL before a provisional response, so a call is given up locally; §15, §13.2.2.4: a 2xx
-- that still comes gets its ACK and a BYE), and sip.run closes what it opened when it ends by an
-- error. The peer is a bare transaction layer (sip.core.stack) that sends nothing unless told
-- (no 100 Trying for a minute). Elapsed times are checked against the deadline plus a second: far
-- below the 32 s of Timer B, and safe on a loaded machine.
local sip = require "sip"
local core = require "sip.core"
local peers = require "support.peers"

local SDP = "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 8\r\n"
local SLACK = 1

-- A silent peer: it records every request (method list) and keeps the INVITE's transaction;
-- answer(txn, req) may answer at once.
local function silent_peer(answer)
  local st = assert(core.stack { trying_delay = 60000 })
  local _, host, port = assert(st:listen("udp", "127.0.0.1", 0))
  local peer = { st = st, heard = {}, uri = ("sip:bob@%s:%d"):format(host, port), port = port }
  st:on("request", function(txn, req)
    peer.heard[#peer.heard + 1] = req.method
    if req.method == "INVITE" then peer.invite = txn end
    if answer then answer(txn, req) end
  end)
  return setmetatable(peer, { __close = function() st:close() end })
end

-- alice calls the peer with a timeout: the call is nil and 408, in time; returns err, the call
local function call_times_out(alice, peer, timeout)
  local t0 = sip.now()
  local call, err, code, late = alice:call(peer.uri, { timeout = timeout })
  local elapsed = sip.now() - t0
  assert.is_nil(call)
  assert.equal(408, code)
  assert.is_true(elapsed >= timeout - 0.01 and elapsed < timeout + SLACK, "returned after " .. elapsed .. " s")
  return err, late
end

local function heard(peer, method)
  for _, m in ipairs(peer.heard) do if m == method then return true end end
  return false
end

describe("deadlines", function()
  it("ua:call to a peer that never answers returns at its timeout, not after Timer B (§9.1)", function()
    sip.run(function()
      local bob <close> = silent_peer()
      local alice <close> = assert(sip.ua { listen = "udp:127.0.0.1:0", user = "alice" })
      assert.matches("timeout", call_times_out(alice, bob, 0.3))
      assert.is_true(heard(bob, "INVITE"))
      assert.is_false(heard(bob, "CANCEL")) -- §9.1: none before a provisional response
    end)
  end)

  it("after a 180 the deadline sends CANCEL and returns at once", function()
    sip.run(function()
      local bob <close> = silent_peer(function(txn, req)
        if req.method == "INVITE" then txn:respond(180) elseif req.method == "CANCEL" then txn:respond(200) end
      end)
      local alice <close> = assert(sip.ua { listen = "udp:127.0.0.1:0", user = "alice" })
      call_times_out(alice, bob, 0.3)
      sip.sleep(0.2)
      assert.is_true(heard(bob, "CANCEL"))
    end)
  end)

  it("a 2xx after the deadline gets its ACK and a BYE (§13.2.2.4, §15)", function()
    sip.run(function()
      local bob <close> = silent_peer(function(txn, req)
        if req.method == "BYE" then txn:respond(200) end
      end)
      local alice <close> = assert(sip.ua { listen = "udp:127.0.0.1:0", user = "alice" })
      local _, late = call_times_out(alice, bob, 0.2)
      assert.equal("timeout", late.end_reason)
      assert(bob.invite:respond(200, nil, { headers = "Contact: " .. "<" .. bob.uri .. ">\r\n", body = SDP,
        content_type = "application/sdp" }))
      for _ = 1, 50 do
        if heard(bob, "BYE") then break end
        sip.sleep(0.05)
      end
      assert.is_true(heard(bob, "ACK"), table.concat(bob.heard, " "))
      assert.is_true(heard(bob, "BYE"), table.concat(bob.heard, " "))
    end)
  end)

  it("ua:message holds its timeout across a digest challenge and its resubmission", function()
    sip.run(function()
      local bob <close> = silent_peer(function(txn, req)
        if req.method == "MESSAGE" and not req:header("Authorization") then
          txn:respond(401, nil, { headers = 'WWW-Authenticate: Digest realm="x", nonce="n", algorithm=MD5\r\n' })
        end
      end)
      local alice <close> = assert(sip.ua { listen = "udp:127.0.0.1:0", user = "alice", password = "p" })
      local t0 = sip.now()
      local rsp, _, code = alice:message(bob.uri, "hi", nil, { timeout = 0.3 })
      local elapsed = sip.now() - t0
      assert.is_nil(rsp)
      assert.equal(408, code)
      assert.is_true(elapsed < 0.3 + SLACK, "returned after " .. elapsed .. " s")
    end)
  end)

  it("sip.run that ends by an error closes what it opened: the port is free again", function()
    local port = peers.free_port()
    local ok, err = pcall(sip.run, function()
      -- no <close> here: run() must close them itself
      local _ = assert(sip.endpoint { listen = "udp:127.0.0.1:" .. port, handler = function() error("boom") end })
      local ua = assert(sip.ua { listen = "udp:127.0.0.1:0" })
      ua:options("sip:127.0.0.1:" .. port, { timeout = 5 })
    end)
    assert.is_false(ok)
    assert.matches("boom", err)
    assert.equal(0, core.active())
    sip.run(function()
      local again <close> = assert(sip.endpoint { listen = "udp:127.0.0.1:" .. port })
      assert.equal(port, again.listeners[1].port)
    end)
  end)

  it("what was opened and spawned before sip.run is that run's: it is closed too", function()
    local port = peers.free_port()
    local _ = assert(sip.endpoint { listen = "udp:127.0.0.1:" .. port })
    local woke = false
    sip.spawn(function()
      sip.sleep(5)
      woke = true
    end)
    local ok, err = pcall(sip.run, function() error("boom") end)
    assert.is_false(ok)
    assert.matches("boom", err)
    assert.equal(0, core.active())
    assert.is_false(woke) -- its coroutine was closed, its sleep's timer with it
    sip.run(function()
      local again <close> = assert(sip.endpoint { listen = "udp:127.0.0.1:" .. port })
      assert.equal(port, again.listeners[1].port)
    end)
  end)
end)
