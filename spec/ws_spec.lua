-- SIP over WebSocket (RFC 7118, RFC 6455; csrc/sip_ws.c): the handshake and the framing rules
-- driven byte by byte from a raw client (spec/support/ws_client.lua) against an endpoint in the
-- same loop, then our own WS and WSS client, then a UA on a WebSocket behind sip.proxy with a
-- .invalid Contact, talking to UAs on UDP: examples/uas.lua as a process, and a sip.ua.
-- Deadlines are short so the file runs in a few seconds.
local sip = require "sip"
local loop = require "sip.loop"
local proxy = require "sip.proxy"
local peers = require "support.peers"
local ws = require "support.ws_client"

local OPTIONS = "OPTIONS sip:127.0.0.1 SIP/2.0\r\n" ..
  "Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK%s\r\n" ..
  "From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: %s\r\n" ..
  "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\r\n" -- no Content-Length: a frame is a whole message

local function options(id) return OPTIONS:format(id, id) end

-- An endpoint on ws (path /sip) answering 200 and keeping each request's connection, Upgrade
-- path and Origin; fn(server, seen) runs in the loop with it.
local function with_server(opts, fn)
  sip.run(function()
    local seen = {}
    local server
    local o = { listen = { "ws:127.0.0.1:0/sip" }, handler = function(req)
      local path, origin = server.stack:websocket(req.source.conn)
      seen[#seen + 1] = { call_id = req.call_id, proto = req.source.proto, path = path, origin = origin }
      req:reply(200)
    end }
    for k, v in pairs(opts or {}) do o[k] = v end
    server = assert(sip.endpoint(o))
    local _ <close> = server
    fn(server, seen)
  end)
end

local function connect(server)
  return ws.connect("127.0.0.1", server.listeners[1].port)
end

-- Connected and upgraded to /sip.
local function opened(server)
  local c = connect(server)
  c:handshake { path = "/sip" }
  return c
end

-- A request in a frame, and the response frame: opcode, status line.
local function ask(c, id, o)
  assert(c:send_frame(o and o.opcode or 1, options(id), o))
  local op, payload = c:read_frame()
  return op, payload and payload:match("^[^\r]*")
end

describe("SIP over WebSocket", function()
  after_each(function() assert.equal(0, loop.active()) end)

  describe("the opening handshake (RFC 6455 §4, RFC 7118 §4)", function()
    it("§4.2.2: 101 with the accept key and the sip subprotocol; path and Origin reach Lua", function()
      with_server(nil, function(_, seen)
        local c <close> = connect(_)
        local head = c:handshake { path = "/sip?user=alice", origin = "https://phone.example.com" }
        assert.matches("Sec%-WebSocket%-Accept: " .. ws.ACCEPT:gsub("%p", "%%%0") .. "\r\n", head)
        assert.matches("Sec%-WebSocket%-Protocol: sip\r\n", head)
        assert.matches("Upgrade: websocket\r\n", head)
        local op, line = ask(c, "hs1")
        assert.equal(1, op) -- a text frame
        assert.equal("SIP/2.0 200 OK", line)
        assert.same({ call_id = "hs1", proto = "ws", path = "/sip?user=alice", origin = "https://phone.example.com" },
          seen[1])
      end)
    end)

    it("refuses what is not a SIP WebSocket with an HTTP error, and serves the next connection", function()
      local cases = {
        { "no sip subprotocol (RFC 7118 §4)", ws.request { path = "/sip", protocol = false }, 400 },
        { "another subprotocol only", ws.request { path = "/sip", protocol = "chat, superchat" }, 400 },
        { "another path", ws.request { path = "/other" }, 404 },
        { "a GET without Upgrade", "GET /sip HTTP/1.1\r\nHost: x\r\n\r\n", 426 },
        { "a POST", "POST /sip HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405 },
        { "version 8", ws.request { path = "/sip", version = "8" }, 426 },
        { "a key of 15 bytes", ws.request { path = "/sip", key = "AAAAAAAAAAAAAAAAAAAA" }, 400 },
        { "HTTP/1.0", (ws.request { path = "/sip" }:gsub("HTTP/1%.1", "HTTP/1.0")), 505 },
        { "SIP on the WebSocket port", options("x"), 400 },
        { "a head over 8 KiB", "GET /sip HTTP/1.1\r\nX: " .. ("a"):rep(9000), 431 },
      }
      with_server(nil, function(server)
        for _, case in ipairs(cases) do
          local c <close> = connect(server)
          assert(c:send(case[2]))
          local status, head = c:read_http()
          assert.equal(case[3], status, case[1] .. ": " .. tostring(head))
          if status == 426 then assert.matches("Sec%-WebSocket%-Version: 13", head) end
          assert.is_true(c:closed(), case[1])
        end
        local ok <close> = opened(server)
        assert.equal("SIP/2.0 200 OK", select(2, ask(ok, "after")))
        assert.equal(#cases, server:stats().framing_errors)
      end)
    end)

    it("a listener without a path takes any; a handshake that never ends is closed in time", function()
      with_server({ listen = { "ws:127.0.0.1:0" }, limits = { first_message = 0.3, message = 0.3 } }, function(server)
        local c <close> = connect(server)
        c:handshake { path = "/anything" }
        assert.equal("SIP/2.0 200 OK", select(2, ask(c, "any")))
        local slow <close> = connect(server)
        assert(slow:send(ws.request():sub(1, 40))) -- and nothing more
        assert.is_true(slow:closed(2))
        local st = server:stats()
        assert.equal(1, st.timeout_first + st.timeout_message)
      end)
    end)
  end)

  describe("frames (RFC 6455 §5, RFC 7118 §5)", function()
    it("one SIP message per text or binary frame, several frames in one write", function()
      with_server(nil, function(server, seen)
        local c <close> = opened(server)
        assert(c:send(ws.frame(1, options("f1")) .. ws.frame(2, options("f2"))))
        for _ = 1, 2 do
          local op, payload, fin, masked = c:read_frame()
          assert.equal(1, op)
          assert.is_true(fin)
          assert.is_false(masked) -- §5.1: a server never masks
          assert.matches("^SIP/2.0 200 OK\r\n", payload)
        end
        assert.equal("f1", seen[1].call_id)
        assert.equal("f2", seen[2].call_id)
      end)
    end)

    it("§5.4: fragments make one message; a ping between them is answered at once (§5.5.2)", function()
      with_server(nil, function(server, seen)
        local c <close> = opened(server)
        local m = options("frag")
        assert(c:send(ws.frame(1, m:sub(1, 10), { fin = false }) .. ws.frame(0, m:sub(11, 50), { fin = false })))
        assert(c:send_frame(9, "are you there"))
        local op, payload = c:read_frame()
        assert.equal(10, op)
        assert.equal("are you there", payload)
        assert.equal(0, #seen)
        assert(c:send_frame(0, m:sub(51)))
        op, payload = c:read_frame()
        assert.equal(1, op)
        assert.matches("^SIP/2.0 200 OK", payload)
        assert.equal("frag", seen[1].call_id)
      end)
    end)

    it("RFC 5626 §3.5.1 over WebSocket: a CRLFCRLF frame gets a CRLF frame, and is no message", function()
      with_server(nil, function(server, seen)
        local c <close> = opened(server)
        assert(c:send_frame(1, "\r\n\r\n"))
        local op, payload = c:read_frame()
        assert.equal(1, op)
        assert.equal("\r\n", payload)
        assert.equal(0, #seen)
        assert.equal(1, server:stats().keepalives)
      end)
    end)

    it("§5.5.1: a close is answered with its code and the connection ends", function()
      with_server(nil, function(server)
        local c <close> = opened(server)
        assert(c:send_frame(8, "\x03\xe8bye"))
        local op, payload = c:read_frame()
        assert.equal(8, op)
        assert.equal(1000, ws.close_code(payload))
        assert.is_true(c:closed())
        assert.equal(0, server:stats().conns_ws)
      end)
    end)

    it("§7.4.1: frames that break the rules close that connection with 1002 (1009 when too big)", function()
      local big = { len = 5000, len_form = 16 }
      local cases = {
        { "§5.1 an unmasked frame from a client", ws.frame(1, options("u"), { mask = false }), 1002 },
        { "§5.2 reserved bits", ws.frame(1, options("r"), { rsv = 4 }), 1002 },
        { "§5.2 an unknown opcode", ws.frame(3, "x"), 1002 },
        { "§5.4 a continuation without a message", ws.frame(0, "x"), 1002 },
        { "§5.4 a message inside a fragmented one", ws.frame(1, "a", { fin = false }) .. ws.frame(1, "b"), 1002 },
        { "§5.5 a fragmented ping", ws.frame(9, "x", { fin = false }), 1002 },
        { "§5.5 a ping over 125 bytes", ws.frame(9, ("p"):rep(126)), 1002 },
        { "§5.5.1 a close of one byte", ws.frame(8, "x"), 1002 },
        { "a frame over max_msg, refused on its header", ws.frame(1, "", big), 1009 },
        { "fragments over max_msg together",
          ws.frame(1, ("a"):rep(3000), { fin = false }) .. ws.frame(0, ("b"):rep(1500), { fin = false }), 1009 },
      }
      with_server({ max_msg = 4096 }, function(server)
        local other <close> = opened(server)
        for _, case in ipairs(cases) do
          local c <close> = opened(server)
          assert(c:send(case[2]))
          local op, payload = c:read_frame()
          assert.equal(8, op, case[1])
          assert.equal(case[3], ws.close_code(payload), case[1])
          assert.is_true(c:closed(), case[1])
        end
        -- every other connection keeps working
        assert.equal("SIP/2.0 200 OK", select(2, ask(other, "still")))
      end)
    end)

    it("a connection that only pings is closed at the first-message deadline", function()
      with_server({ limits = { first_message = 0.4 } }, function(server)
        local c <close> = opened(server)
        local t0 = sip.now()
        while not c.eof and sip.now() - t0 < 3 do
          c:send(ws.frame(9, "flood") .. ws.frame(9, "flood"))
          c:fill()
          sip.sleep(0.02)
        end
        assert.is_true(c:closed())
        assert.equal(1, server:stats().timeout_first)
      end)
    end)

    it("WebSocket has its own cap (limits.ws): a full cap evicts the least recently active", function()
      with_server({ limits = { ws = 2 } }, function(server)
        local a <close> = opened(server)
        local b <close> = opened(server)
        local c <close> = opened(server)
        assert.is_true(a:closed())
        assert.equal("SIP/2.0 200 OK", select(2, ask(b, "cap-b")))
        assert.equal("SIP/2.0 200 OK", select(2, ask(c, "cap-c")))
        assert.equal(2, server:stats().conns_ws)
        assert.equal(1, server:stats().evicted)
      end)
    end)
  end)

  describe("our client side", function()
    local dir, remove_dir
    setup(function()
      dir, remove_dir = peers.self_signed()
    end)
    teardown(function() remove_dir() end)

    it("requests to transport=ws and transport=wss open a masked WebSocket (WSS over TLS)", function()
      sip.run(function()
        local vias = {}
        local server <close> = assert(sip.endpoint {
          listen = { "ws:127.0.0.1:0", "wss:127.0.0.1:0" }, tls_cert = dir .. "/cert.pem", tls_key = dir .. "/key.pem",
          handler = function(req)
            vias[#vias + 1] = req:header("Via"):match("^SIP/2%.0/%a+")
            req:reply(200)
          end,
        })
        local client <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" }, tls_ca = dir .. "/cert.pem" })
        for _, l in ipairs(server.listeners) do
          local rsp, err = client:request(sip.request { method = "OPTIONS",
            uri = ("sip:127.0.0.1:%d;transport=%s"):format(l.port, l.proto),
            from = "<sip:a@example.com>", to = "<sip:b@example.com>" }, { timeout = 3 })
          assert(rsp, err)
          assert.equal(200, rsp.status)
          assert.equal(l.proto, rsp.source.proto)
        end
        assert.same({ "SIP/2.0/WS", "SIP/2.0/WSS" }, vias)
        assert.equal(2, client:stats().conns_ws)
      end)
    end)

    it("a server that does not answer 101 with sip fails the request, saying so", function()
      sip.run(function()
        local server <close> = assert(sip.endpoint { listen = { "ws:127.0.0.1:0/only-here" }, handler = function() end })
        local client <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" } })
        local rsp, err, code = client:request(sip.request { method = "OPTIONS",
          uri = ("sip:127.0.0.1:%d;transport=ws"):format(server.listeners[1].port),
          from = "<sip:a@example.com>", to = "<sip:b@example.com>" }, { timeout = 3 })
        assert.is_nil(rsp)
        assert.equal(503, code)
        assert.matches("WebSocket upgrade refused", err)
      end)
    end)
  end)

  describe("sip.proxy between WebSocket and UDP (RFC 7118 §5)", function()
    local users = { alice = "alice-secret", bob = "bob-secret" }

    -- alice: a UA on a WebSocket to the proxy, Contact at a .invalid host
    local function ws_alice(px)
      local wsport = px.ep.by_proto.ws.port
      return assert(sip.ua { listen = { "udp:127.0.0.1:0" }, user = "alice", domain = "example.com",
        password = users.alice, registrar = ("sip:127.0.0.1:%d;transport=ws"):format(wsport),
        outbound_proxy = ("sip:127.0.0.1:%d;transport=ws;lr"):format(wsport),
        contact = "sip:alice@df7jal23ls0d.invalid;transport=ws" })
    end

    it("REGISTER with digest, MESSAGE both ways and calls both ways with a UDP UA; BYE finds the flow", function()
      sip.run(function()
        local traced = {}
        local px <close> = assert(proxy.new { listen = { "udp:127.0.0.1:0", "ws:127.0.0.1:0" }, realm = "example.com",
          users = users, trace = function(dir, bytes, peer)
            traced[#traced + 1] = { dir = dir, proto = peer.proto, bytes = bytes }
          end })
        local udp = px.ep.by_proto.udp.port
        local alice <close> = ws_alice(px)
        local bob <close> = assert(sip.ua { listen = { "udp:127.0.0.1:0" }, user = "bob", domain = "example.com",
          password = users.bob, registrar = "sip:127.0.0.1:" .. udp, outbound_proxy = ("sip:127.0.0.1:%d;lr"):format(udp) })
        assert(alice:register { expires = 60, refresh = false })
        assert(bob:register { expires = 60, refresh = false })
        local binding = px:lookup("sip:alice@example.com")[1]
        assert.equal("ws", binding.dest.proto)
        assert.is_number(binding.dest.conn)

        local got = {}
        alice:on("message", function(req) got[#got + 1] = req.body .. " over " .. req.source.proto end)
        bob:on("message", function(req) got[#got + 1] = req.body .. " over " .. req.source.proto end)
        assert.equal(200, assert(bob:message("sip:alice@example.com", "to alice", "text/plain")).status)
        assert.equal(200, assert(alice:message("sip:bob@example.com", "to bob", "text/plain")).status)
        assert.same({ "to alice over ws", "to bob over udp" }, got)

        local rr
        alice:on("call", function(call)
          rr = call.invite:headers("Record-Route")
          call:ring()
          call:answer()
        end)
        local call = assert(bob:call("sip:alice@example.com"))
        assert.equal("confirmed", call.state)
        -- two Record-Route values: the UDP side, and the WebSocket side naming alice's flow
        assert.equal(2, #rr)
        assert.matches(";transport=ws;lr;flow=%d+;rrt=", rr[1])
        assert.not_matches("transport", rr[2])
        assert.equal(200, assert(call:bye()).status) -- to alice's .invalid Contact: by the flow

        bob:on("call", function(c) c:answer() end)
        call = assert(alice:call("sip:bob@example.com"))
        assert.equal("confirmed", call.state)
        assert.equal(200, assert(call:bye()).status)

        -- the SDP crossed untouched: each INVITE's body out is the body that came in last
        local last_in, out = nil, 0
        for _, t in ipairs(traced) do
          local m = t.bytes:match("^INVITE ") and sip.parse(t.bytes)
          if m and t.dir == "in" then last_in = m.body end
          if m and t.dir == "out" then
            out = out + 1
            assert.equal(last_in, m.body)
            assert.matches("^v=0\r\n", m.body)
          end
        end
        assert.equal(2, out)
      end)
    end)

    it("a WebSocket UA calls examples/uas.lua on UDP: 180, 200, ACK and BYE cross both ways", function()
      local pport, bport = peers.free_port(), peers.free_port()
      local uas
      sip.run(function()
        local px <close> = assert(proxy.new { listen = { "udp:127.0.0.1:" .. pport, "ws:127.0.0.1:0" },
          realm = "example.com", users = users })
        uas = peers.example("uas.lua", { "--listen", "udp:127.0.0.1:" .. bport, "--user", "bob", "--domain",
          "example.com", "--password", users.bob, "--register", "sip:example.com", "--proxy",
          "sip:127.0.0.1:" .. pport, "--expires", "60" }, 20)
        local t0 = sip.now()
        while #px:lookup("sip:bob@example.com") == 0 and sip.now() - t0 < 5 do sip.sleep(0.05) end
        assert.equal(1, #px:lookup("sip:bob@example.com"), uas.output())
        local alice <close> = ws_alice(px)
        local ringing = false
        local call = assert(alice:call("sip:bob@example.com", {
          on_progress = function(_, r) ringing = ringing or r.status == 180 end }))
        assert.equal("confirmed", call.state)
        assert.is_true(ringing)
        assert.equal(200, assert(call:bye()).status)
        -- it unregisters through the proxy on SIGTERM: wait for it here, with the loop running
        os.execute("kill -TERM " .. uas.pid)
        t0 = sip.now()
        while peers.alive(uas.pid) and sip.now() - t0 < 5 do sip.sleep(0.05) end
      end)
      local code, out = uas.wait()
      assert.equal(0, code, out)
      assert.matches("call 1: ended %(bye%)", out)
    end)
  end)
end)
