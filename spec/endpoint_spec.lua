-- sip.endpoint: requests and answers through the transaction layer on 127.0.0.1 (RFC 3261 §17,
-- §18; RFC 3581). Every test binds port 0 and leaves no watcher active.
local sip = require "sip"
local loop = require "sip.loop"

local function message(ep_to, proto, extra)
  local l = ep_to.by_proto[proto]
  local t = {
    method = "MESSAGE", uri = ("sip:bob@127.0.0.1:%d;transport=%s"):format(l.port, proto),
    from = "<sip:alice@example.com>", to = "<sip:bob@example.com>",
    body = "user2, come here.", content_type = "text/plain",
  }
  for k, v in pairs(extra or {}) do t[k] = v end
  return sip.request(t)
end

-- run fn(server, client) in the loop with two endpoints, then close both
local function with_pair(handler, fn, sopts, copts)
  sip.run(function()
    local so = { listen = { "udp:127.0.0.1:0", "tcp:127.0.0.1:0" }, handler = handler }
    for k, v in pairs(sopts or {}) do so[k] = v end
    local co = { listen = { "udp:127.0.0.1:0" } }
    for k, v in pairs(copts or {}) do co[k] = v end
    local server <close> = assert(sip.endpoint(so))
    local client <close> = assert(sip.endpoint(co))
    fn(server, client)
  end)
end

describe("sip.endpoint", function()
  after_each(function() assert.equal(0, loop.active()) end)

  for _, proto in ipairs({ "udp", "tcp" }) do
    it("§17 sends a MESSAGE over " .. proto .. " and gets the handler's answer", function()
      local seen, txn_proto
      with_pair(function(req)
        seen, txn_proto = req, req.txn.peer.proto
        req:reply(200, nil, { headers = { ["X-Body"] = req.body } })
      end, function(server, client)
        local rsp, err = client:request(message(server, proto), { timeout = 2 })
        assert.is_not_nil(rsp, err)
        assert.equal(200, rsp.status)
        assert.equal("user2, come here.", rsp:header("X-Body"))
        assert.equal(proto, seen.source.proto)
        assert.equal(proto, txn_proto)
      end)
    end)
  end

  it("RFC 3581 §4 puts received and rport in the top Via of the response", function()
    with_pair(function(req) req:reply(202) end, function(server, client)
      local rsp = assert(client:request(message(server, "udp"), { timeout = 2 }))
      local v = rsp:via()
      assert.equal("127.0.0.1", v.received)
      assert.equal(client.listeners[1].port, v.rport)
    end)
  end)

  it("passes provisional responses up as they arrive", function()
    local got = {}
    with_pair(function(req)
      req:reply(180)
      sip.sleep(0.02)
      req:reply(486)
    end, function(server, client)
      local inv = message(server, "udp", { method = "INVITE", body = "" })
      local rsp = assert(client:request(inv, { timeout = 2, provisional = function(r) got[#got + 1] = r.status end }))
      assert.equal(486, rsp.status)
    end)
    assert.same({ 180 }, got)
  end)

  it("answers 500 for a request its handler leaves unanswered", function()
    with_pair(function() end, function(server, client)
      local rsp = assert(client:request(message(server, "udp"), { timeout = 2 }))
      assert.equal(500, rsp.status)
    end)
  end)

  it("answers 500 and raises out of run when a handler fails", function()
    local ok, err = pcall(with_pair, function() error("handler broke") end, function(server, client)
      local rsp = assert(client:request(message(server, "udp"), { timeout = 2 }))
      assert.equal(500, rsp.status)
      sip.sleep(0.01)
    end)
    assert.is_false(ok)
    assert.matches("handler broke", err)
    sip.run() -- the error stopped the loop mid-request: let the client finish and close up
  end)

  it("§17.1.2.2 Timer F: a request nobody answers ends with 408", function()
    with_pair(function() sip.sleep(1) end, function(server, client)
      local t0 = sip.now()
      local rsp, err, code = client:request(message(server, "udp"))
      assert.is_nil(rsp)
      assert.equal(408, code)
      assert.is_string(err)
      assert.is_true(sip.now() - t0 < 1.5) -- 64*T1 with T1 = 10 ms
    end, nil, { t1 = 0.01, t2 = 0.04 })
  end)

  it("returns nil, 'timeout', 408 when the caller's own timeout passes first", function()
    with_pair(function() sip.sleep(0.5) end, function(server, client)
      local rsp, err, code = client:request(message(server, "udp"), { timeout = 0.05 })
      assert.is_nil(rsp)
      assert.equal("timeout", err)
      assert.equal(408, code)
    end)
  end)

  it("§17.1.2.2 completes transactions over a path losing 30% of datagrams, by retransmission", function()
    local handled = 0
    with_pair(function(req) handled = handled + 1; req:reply(200) end, function(server, client)
      local ok = 0
      for _ = 1, 30 do
        local rsp = client:request(message(server, "udp"), { timeout = 3 })
        if rsp and rsp.status == 200 then ok = ok + 1 end
      end
      assert.equal(30, ok)
      assert.is_true(client:stats().retransmitted > 0)
      assert.is_true(server:stats().absorbed > 0)
    end, { loss = 0.3, t1 = 0.01, t2 = 0.04 }, { loss = 0.3, t1 = 0.01, t2 = 0.04 })
    assert.equal(30, handled) -- retransmitted requests never reached the handler twice
  end)

  it("§17.2.2 lets Lua drop an answered transaction while the core still absorbs its retransmissions", function()
    local handles = setmetatable({}, { __mode = "k" })
    local handled = 0
    with_pair(function(req)
      handled = handled + 1
      handles[req.txn] = true
      req:reply(200, nil, { headers = { ["X-N"] = tostring(handled) } })
    end, function(server, client)
      local port = client.listeners[1].port
      local raw = "MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" .. port ..
        ";branch=z9hG4bKkeep1\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n" ..
        "Call-ID: keep1@example.com\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
      local got = {}
      local w = sip.waiter()
      client.on_stray = function(rsp)
        got[#got + 1] = rsp
        if #got == 2 then w:wake() end
      end
      local dest = { proto = "udp", host = "127.0.0.1", port = server.by_proto.udp.port }
      assert(client:send(raw, dest))
      sip.sleep(0.05)
      collectgarbage()
      collectgarbage()
      assert.is_nil(next(handles)) -- the handle went with the garbage; the transaction did not
      assert(client:send(raw, dest)) -- a retransmission of the request (§17.2.2: Completed)
      w:block(2)
      assert.equal(2, #got)
      assert.equal("1", got[2]:header("X-N")) -- the stored response again, not a new one
      assert.equal(1, server:stats().absorbed)
    end)
    assert.equal(1, handled)
  end)

  it("§18.1.1 sends a request over 1300 bytes by TCP", function()
    local proto
    with_pair(function(req) proto = req.source.proto; req:reply(200) end, function(server, client)
      local big = message(server, "udp", { body = string.rep("x", 1400) })
      -- the server's TCP listener shares nothing with its UDP port, so address it explicitly
      big:set_uri(("sip:bob@127.0.0.1:%d"):format(server.by_proto.tcp.port))
      assert(client:request(big, { timeout = 2 }))
    end)
    assert.equal("tcp", proto)
  end)

  it("answers malformed requests with 400 naming the problem, and keeps serving", function()
    with_pair(function(req) req:reply(200) end, function(server, client)
      local bad = "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" .. client.listeners[1].port ..
        ";branch=z9hG4bKbad1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
      local w = sip.waiter()
      client.on_stray = function(rsp) w:wake(rsp) end
      assert(client:send(bad, { proto = "udp", host = "127.0.0.1", port = server.by_proto.udp.port }))
      local rsp = assert(w:block(2))
      assert.equal(400, rsp.status)
      assert.matches("Call%-ID", rsp.reason)
      assert.equal(200, assert(client:request(message(server, "udp"), { timeout = 2 })).status)
    end)
  end)

  it("§26.2 sends over TLS with a verified certificate and SNI/hostname check", function()
    local dir, remove_dir = require("support.peers").self_signed()
    local seen
    sip.run(function()
      local server = assert(sip.endpoint { listen = { "tls:127.0.0.1:0" }, tls_cert = dir .. "/cert.pem",
        tls_key = dir .. "/key.pem", handler = function(req) seen = req.source.proto; req:reply(200) end })
      local client = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" }, tls_ca = dir .. "/cert.pem" })
      local req = message(server, "tls")
      local rsp, err = client:request(req, { timeout = 3 })
      assert.is_not_nil(rsp, err)
      assert.equal(200, rsp.status)
      -- a client that trusts another CA refuses the server
      local other = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" }, tls_ca = "/etc/ssl/certs/ca-certificates.crt" })
      local t0 = sip.now()
      local bad, berr, code = other:request(message(server, "tls"), { timeout = 3 })
      assert.is_nil(bad)
      assert.equal(503, code, tostring(berr)) -- at once, not at Timer F
      assert.is_true(sip.now() - t0 < 1)
      server:close(); client:close(); other:close()
    end)
    remove_dir()
    assert.equal("tls", seen)
  end)

  it("§8.1.3.1 a refused TCP connection fails the request with 503 at once", function()
    sip.run(function()
      local client = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" } })
      local req = sip.request { method = "OPTIONS", uri = "sip:x@127.0.0.1:9;transport=tcp", from = "<sip:a@b>", to = "<sip:x@y>" }
      local t0 = sip.now()
      local rsp, err, code = client:request(req, { timeout = 5 })
      assert.is_nil(rsp)
      assert.equal(503, code, err)
      assert.is_true(sip.now() - t0 < 1)
      client:close()
    end)
  end)

  it("§17.1.2.2 lets Lua drop a non-INVITE client transaction at its final response; the core keeps it for Timer K", function()
    with_pair(function(req) req:reply(200) end, function(server, client)
      local seen = setmetatable({}, { __mode = "k" })
      local function send() -- in a frame of its own: no register of the test keeps the handle
        return assert(client:request(message(server, "udp"), { timeout = 2, on_txn = function(t) seen[t] = true end })).status
      end
      assert.equal(200, send())
      client.last_txn = nil
      sip.sleep(0.02)
      collectgarbage("collect")
      collectgarbage("collect")
      assert.is_nil(next(seen)) -- no handle, no callback kept by the binding
      assert.equal(1, client:stats().transactions) -- Completed, absorbing retransmissions (Timer K)
    end)
  end)

  it("§8.2.7 the stack's gate challenges a REGISTER without credentials itself, over UDP and TCP", function()
    local seen = 0
    with_pair(function(req)
      seen = seen + 1
      req:reply(200)
    end, function(server, client)
      local st = server.stack
      local secret = "s3cret"
      assert.is_true(st:gate { method = "REGISTER", secret = secret, hosts = "example.com",
        challenges = { { realm = "example.com", algorithm = "SHA-256" } } })
      for _, proto in ipairs { "udp", "tcp" } do
        local function register(headers)
          local req = sip.request { method = "REGISTER", uri = "sip:example.com", from = "<sip:a@example.com>",
            to = "<sip:a@example.com>", headers = headers }
          local l = server.by_proto[proto]
          return assert(client:request(req, { dest = { proto = proto, host = "127.0.0.1", port = l.port }, timeout = 2 }))
        end
        local rsp = register()
        assert.equal(401, rsp.status)
        local ch = assert(require("sip.core").digest.parse_challenge(rsp:header("WWW-Authenticate")))
        assert.equal("SHA-256", ch.algorithm)
        assert.equal("valid", require("sip.core").digest.nonce_check(secret, "example.com", ch.nonce, 60))
        assert.equal(200, register({ Authorization = 'Digest username="a", realm="example.com", nonce="n", uri="sip:example.com", response="0"' }).status)
      end
      assert.equal(2, server:stats().gated)
      assert.equal(2, seen) -- the handler saw only the requests with credentials
      st:gate(nil)
      local req = sip.request { method = "REGISTER", uri = "sip:example.com", from = "<sip:a@example.com>", to = "<sip:a@example.com>" }
      assert.equal(200, assert(client:request(req, { dest = { proto = "udp", host = "127.0.0.1", port = server.by_proto.udp.port }, timeout = 2 })).status)
      -- misuse raises; a setup the gate cannot answer with is nil, err
      assert.has_error(function() st:gate { secret = "s", hosts = {}, challenges = { { realm = "r" } } } end, "field 'method' must be a list")
      assert.has_error(function() st:gate { method = "ACK", secret = "s", hosts = {}, challenges = { { realm = "r" } } } end)
      assert.has_error(function() st:gate { method = "REGISTER", hosts = {}, challenges = { { realm = "r" } } } end, "field 'secret' must be a string")
      assert.has_error(function() st:gate { method = "REGISTER", secret = "s", hosts = {}, challenges = {} } end)
      local ok, err = st:gate { method = "REGISTER", status = 403, secret = "s", hosts = {}, challenges = { { realm = "r" } } }
      assert.is_nil(ok)
      assert.equal("status must be 401 or 407", err)
    end)
  end)

  it("raises on misuse", function()
    assert.has_error(function() sip.endpoint { listen = { "bogus" } } end)
    assert.has_error(function() sip.endpoint { listen = { "sctp:1.2.3.4:5" } } end)
    sip.run(function()
      local ep = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" } })
      assert.has_error(function() ep:request("not a message") end)
      ep:close()
    end)
  end)
end)
