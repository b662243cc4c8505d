-- Stream connections bounded per source and in time (sip.endpoint's limits, csrc/sip_transport.c):
-- attacks from 127.0.0.2-4 (raw LuaSocket sockets bound there) against an endpoint while a client
-- on 127.0.0.1 registers over TCP and TLS and is served throughout. Deadlines are short so the
-- whole file runs in a few seconds; every socket is closed and no watcher is left.
local sip = require "sip"
local loop = require "sip.loop"
local socket = require "socket"
local peers = require "support.peers"

local dir, remove_dir -- the server's self-signed certificate (IP:127.0.0.1), made once

local function register(server, proto, extra)
  local l = server.by_proto[proto]
  local t = {
    method = "REGISTER", uri = ("sip:127.0.0.1:%d;transport=%s"):format(l.port, proto),
    from = "<sip:alice@example.com>", to = "<sip:alice@example.com>",
    contact = "<sip:alice@127.0.0.1>", expires = 60,
  }
  for k, v in pairs(extra or {}) do t[k] = v end
  return sip.request(t)
end

-- A TCP connection from `from` (another source on 127/8) to the server's listener for proto,
-- connected (the kernel completes the handshake from the backlog) and then non-blocking.
local function attacker(server, proto, from)
  local s = assert(socket.tcp())
  assert(s:bind(from, 0))
  s:settimeout(1)
  assert(s:connect("127.0.0.1", server.by_proto[proto].port))
  s:settimeout(0)
  return s
end

-- Has the server closed s? (it never sends an attacker anything we need)
local function closed(s)
  local data, err = s:receive("*a")
  return data ~= nil or err ~= "timeout"
end

local function close_all(list)
  for _, s in ipairs(list) do s:close() end
end

-- Run fn(server, client, seen) in the loop: a server on TCP and TLS with limits, answering every
-- request with 200 (and trusting the connection of a request that says "X-Auth: ok", as a proxy
-- does once a request authenticated), and a client on 127.0.0.1 that trusts its certificate.
-- seen: the connection of every request in order, and what each trust call returned.
local function with_server(limits, fn)
  sip.run(function()
    local server
    local seen = { conn = {}, trusted = {} }
    server = assert(sip.endpoint {
      listen = { "tcp:127.0.0.1:0", "tls:127.0.0.1:0" }, tls_cert = dir .. "/cert.pem",
      tls_key = dir .. "/key.pem", limits = limits,
      handler = function(req)
        seen.conn[#seen.conn + 1] = req.source.conn
        if req:header("X-Auth") == "ok" then seen.trusted[#seen.trusted + 1] = server:trust(req) end
        req:reply(200)
      end,
    })
    local _ <close> = server
    local client <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" }, tls_ca = dir .. "/cert.pem" })
    fn(server, client, seen)
  end)
end

describe("sip.endpoint limits", function()
  setup(function()
    dir, remove_dir = peers.self_signed()
  end)
  teardown(function() remove_dir() end)
  after_each(function() assert.equal(0, loop.active()) end)

  it("refuses unknown limits and values of the wrong type, naming them", function()
    local cases = {
      { { limits = { tpc = 10 } }, "unknown limit 'tpc'" },
      { { limits = { per_source = 0 } }, "limits.per_source must be an integer >= 1" },
      { { limits = { total = 1.5 } }, "limits.total must be an integer >= 1" },
      { { limits = { handshake = "10" } }, "limits.handshake must be seconds > 0" },
      { { limits = { idle = 0 } }, "limits.idle must be seconds > 0" },
      { { limits = 64 }, "'limits' must be a table" },
      { { max_conns = 10, limits = { total = 20 } }, "max_conns and limits.total disagree" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(sip.endpoint, c[1])
      assert.is_false(ok)
      assert.matches(c[2], err, 1, true)
    end
    sip.run(function()
      local ep = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" }, max_conns = 10,
        limits = { total = 10, tcp = 8, tls = 8, ws = 2, per_source = 4, idle = 60, first_message = -1,
          message = 5, handshake = 5 } })
      assert.equal(0, ep:stats().conns_tcp)
      assert.has_error(function() ep:trust("REGISTER") end, "bad argument #1 to 'trust' (a received request expected)")
      assert.is_false(ep:trust(register({ by_proto = { udp = { port = 5060 } } }, "udp"))) -- not received
      ep:close()
    end)
  end)

  it("(a) a Slowloris from one source fills its per_source cap and times out per message; another source registers over TCP and TLS throughout", function()
    local served, failed = { tcp = 0, tls = 0 }, {}
    with_server({ per_source = 8, total = 32, first_message = 2, message = 0.5, idle = 5 }, function(server, client)
      local socks, opened = {}, 0
      local stop = false
      sip.spawn(function() -- the attacker: 12 sockets, one byte each every 0.2 s, reopened when closed
        local bytes = tostring(register(server, "tcp"))
        local pos = {}
        while not stop do
          for i = 1, 12 do
            if not socks[i] or closed(socks[i]) then
              if socks[i] then socks[i]:close() end
              socks[i] = attacker(server, "tcp", "127.0.0.2")
              opened = opened + 1
              pos[i] = 1
            end
            socks[i]:send(bytes, pos[i], pos[i]) -- never more than a tenth of the message in time
            pos[i] = pos[i] % (#bytes - 1) + 1
          end
          sip.sleep(0.2)
        end
      end)
      for round = 1, 10 do
        for _, proto in ipairs { "tcp", "tls" } do
          local rsp, err = client:request(register(server, proto, { cseq = round }), { timeout = 2 })
          if rsp and rsp.status == 200 then served[proto] = served[proto] + 1
          else failed[#failed + 1] = proto .. ": " .. tostring(err) end
        end
        sip.sleep(0.2)
      end
      stop = true
      local st = server:stats()
      close_all(socks)
      assert.is_true(st.refused_source > 0, "refused_source")
      assert.is_true(st.timeout_message >= 8, "timeout_message " .. st.timeout_message)
      assert.is_true(opened > 20, "the attacker reconnected")
      assert.equal(0, st.evicted) -- the total was never reached: one source stays within its share
      assert.is_true(st.untrusted <= 8 + 2)
    end)
    assert.same({}, failed)
    assert.same({ tcp = 10, tls = 10 }, served)
  end)

  it("(b) stalled TLS handshakes are closed at the handshake deadline and lock out neither TLS nor TCP", function()
    local served = { tcp = 0, tls = 0 }
    with_server({ per_source = 8, tls = 12, total = 24, handshake = 0.5 }, function(server, client)
      -- 24 stalls from three sources: silent ones, and ones that send part of a ClientHello
      local socks = {}
      local t0 = sip.now()
      for i = 1, 24 do
        local s = attacker(server, "tls", "127.0.0." .. (2 + i % 3))
        if i % 2 == 0 then s:send("\22\3\1\2\0\1\0\1\252\3\3") end -- a record of 512 bytes, 11 sent
        socks[i] = s
      end
      sip.sleep(0.1)
      for round = 1, 4 do
        for _, proto in ipairs { "tls", "tcp" } do
          local rsp = client:request(register(server, proto, { cseq = round }), { timeout = 2 })
          if rsp and rsp.status == 200 then served[proto] = served[proto] + 1 end
        end
      end
      local open = 0
      while sip.now() - t0 < 1.5 do
        open = 0
        for _, s in ipairs(socks) do if not closed(s) then open = open + 1 end end
        if open == 0 then break end
        sip.sleep(0.1)
      end
      local st = server:stats()
      close_all(socks)
      assert.equal(0, open)
      assert.is_true(sip.now() - t0 >= 0.5)
      assert.is_true(st.timeout_handshake > 0, "timeout_handshake")
      assert.is_true(st.evicted > 0, "evicted") -- 24 stalls for 12 TLS slots
      assert.equal(st.evicted + st.timeout_handshake, 24 + 0) -- every stall went one way or the other
      assert.equal(1, st.conns_tls) -- the client's
    end)
    assert.same({ tcp = 4, tls = 4 }, served)
  end)

  it("(c) a cap full of idle untrusted connections evicts the oldest for a new client; a trusted one stays", function()
    with_server({ total = 4, per_source = 64, first_message = 5 }, function(server, client, seen)
      -- the first client authenticates over TCP: its connection is trusted
      local rsp = assert(client:request(register(server, "tcp", { headers = { { "X-Auth", "ok" } } }), { timeout = 2 }))
      assert.equal(200, rsp.status)
      assert.same({ true }, seen.trusted)
      assert.equal(1, server:stats().conns_tcp)
      assert.equal(0, server:stats().untrusted)
      -- idle connections that never say anything fill the rest, then four more arrive
      local socks = {}
      for i = 1, 7 do -- one at a time, so their age is their order
        socks[i] = attacker(server, "tcp", "127.0.0.2")
        local t0 = sip.now()
        while server:stats().accepted < 1 + i and sip.now() - t0 < 2 do sip.sleep(0.01) end
      end
      assert.equal(4, server:stats().conns)
      assert.equal(4, server:stats().evicted)
      for i = 1, 7 do assert.equal(i <= 4, closed(socks[i]), "socket " .. i) end -- the oldest went
      -- a new client gets in, evicting the oldest idle one
      local other = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" } })
      local r2 = other:request(register(server, "tcp", { from = "<sip:bob@example.com>", to = "<sip:bob@example.com>" }), { timeout = 2 })
      other:close()
      assert.equal(200, r2 and r2.status)
      assert.equal(5, server:stats().evicted)
      assert.is_true(closed(socks[5]))
      -- and the trusted connection is still the one the first client uses
      local r3 = assert(client:request(register(server, "tcp", { cseq = 2 }), { timeout = 2 }))
      assert.equal(200, r3.status)
      assert.equal(seen.conn[1], seen.conn[3]) -- alice's, bob's, alice's again
      assert.equal(0, server:stats().refused_cap)
      close_all(socks)
    end)
  end)

  it("sip.proxy: a phone that registered with digest keeps its connection when strangers fill the cap", function()
    sip.run(function()
      local users = { bob = "builder" }
      local px = assert(require("sip.proxy").new { listen = { "udp:127.0.0.1:0", "tcp:127.0.0.1:0" },
        realm = "example.com", users = users, limits = { total = 3 }, sweep_interval = 0 })
      local got = {}
      local bob = assert(sip.endpoint { listen = { "tcp:127.0.0.1:0" }, handler = function(req)
        got[#got + 1] = req
        req:reply(200)
      end })
      local pdest = { proto = "tcp", host = "127.0.0.1", port = px.ep.by_proto.tcp.port }
      local reg = sip.request { method = "REGISTER", uri = "sip:example.com;transport=tcp", from = "<sip:bob@example.com>",
        to = "<sip:bob@example.com>", contact = ("<sip:bob@127.0.0.1:%d;transport=tcp>"):format(bob.by_proto.tcp.port),
        expires = 600 }
      local r = assert(bob:request(reg, { dest = pdest, timeout = 2 }))
      assert.equal(401, r.status)
      r = assert(bob:request(assert(require("sip.auth").client { user = "bob", password = users.bob }:authorize(reg, r)),
        { dest = pdest, timeout = 2 }))
      assert.equal(200, r.status)
      assert.equal(0, px.ep:stats().untrusted) -- its credentials made the connection bob's
      local socks = {}
      for i = 1, 5 do
        socks[i] = attacker(px.ep, "tcp", "127.0.0.2")
        local t0 = sip.now()
        while px.ep:stats().accepted < 1 + i and sip.now() - t0 < 2 do sip.sleep(0.01) end
      end
      assert.is_true(px.ep:stats().evicted >= 3)
      -- a caller's MESSAGE for bob goes over bob's own connection, still open
      local caller = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" } })
      local msg = sip.request { method = "MESSAGE", uri = "sip:bob@example.com", from = "<sip:carol@elsewhere.test>",
        to = "<sip:bob@example.com>", body = "hi", content_type = "text/plain" }
      local rsp = caller:request(msg, { dest = { proto = "udp", host = "127.0.0.1", port = px.ep.by_proto.udp.port },
        timeout = 2 })
      assert.equal(200, rsp and rsp.status)
      assert.equal(1, #got)
      assert.equal(0, bob:stats().accepted) -- it came over bob's own connection, not a new one to bob
      close_all(socks)
      caller:close()
      bob:close()
      px:close()
    end)
  end)
end)
