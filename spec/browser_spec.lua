-- Browser softphones through examples/proxy.lua (RFC 7118): webphone pages (examples/webphone/,
-- JsSIP in headless chromium with fake media) register with digest over WS and WSS, call each
-- other with WebRTC, and talk to UDP phones (examples/uas.lua, uac.lua) across the WS-UDP bridge.
-- Everything on 127.0.0.1 (the pages keep only 127.0.0.1 ICE candidates); each process is
-- bounded in time.
local peers = require "support.peers"
local browser = require "support.browser"

local USERS = "examples/users.txt" -- alice:alice-secret, bob:bob-secret
local PASSWORD = { alice = "alice-secret", bob = "bob-secret" }

local function account(server, user)
  return { server = server, uri = ("sip:%s@example.com"):format(user), password = PASSWORD[user] }
end

-- The base64 SHA-256 of a certificate's public key: what chromium's
-- --ignore-certificate-errors-spki-list takes.
local function spki_of(cert)
  local p = assert(io.popen(("openssl x509 -in %s -noout -pubkey | openssl pkey -pubin -outform der | " ..
    "openssl dgst -sha256 -binary | base64"):format(peers.quote(cert))))
  local spki = p:read("l")
  p:close()
  return spki
end

-- examples/proxy.lua listening on UDP, WS (and WSS with cert) on free ports; a handle with
-- udp, ws, wss (ports), uri, output() (so far), stop().
local function start_proxy(cert, key)
  local udp, ws = peers.free_port(), peers.free_port()
  local args = { "--listen", "udp:127.0.0.1:" .. udp, "--listen", "ws:127.0.0.1:" .. ws, "--realm", "example.com",
    "--users", USERS, "--log", "info" }
  local wss
  if cert then
    wss = peers.free_port()
    for _, a in ipairs { "--listen", "wss:127.0.0.1:" .. wss, "--cert", cert, "--key", key } do args[#args + 1] = a end
  end
  local h = peers.example("proxy.lua", args, 90)
  for _, p in ipairs { { udp, "udp" }, { ws, "tcp" }, wss and { wss, "tcp" } } do
    local ok, err = peers.wait_port(p[1], p[2], 5, h.pid)
    if not ok then
      local _, out = h.stop()
      error(("proxy.lua did not start: %s\n%s"):format(err, out))
    end
  end
  return { udp = udp, ws = ws, wss = wss, uri = "sip:127.0.0.1:" .. udp, output = h.output,
    stop = function() return select(2, h.stop()) end }
end

-- examples/uas.lua registered as bob over UDP at the proxy; waits until it is ready.
local function start_bob(px)
  local port = peers.free_port()
  local uas = peers.example("uas.lua", { "--listen", "udp:127.0.0.1:" .. port, "--user", "bob", "--domain",
    "example.com", "--password", PASSWORD.bob, "--register", "sip:example.com", "--proxy", px.uri, "--expires", "60" },
    60)
  assert(uas.wait_for("ready", 10), uas.output())
  return uas
end

-- Two pages register as alice and bob at server; alice calls bob, bob answers, both peer
-- connections connect over loopback, alice hangs up.
local function call_between_pages(server, spki, log)
  local b = browser.phones { a = account(server, "alice"), b = account(server, "bob") }
  b:call_and_hang_up("a", "b", "sip:bob@example.com", "sip:alice@example.com")
  local r = b:run { spki = spki }
  assert(r.ok, r.out .. "\n" .. log())
  assert(browser.on_loopback(r, 2))
end

describe("webphone pages through examples/proxy.lua", function()
  local missing = browser.missing()
  if missing then
    pending("needs " .. missing)
    return
  end
  local spki, px, remove_cert
  setup(function()
    local dir
    dir, remove_cert = peers.self_signed()
    spki = spki_of(dir .. "/cert.pem")
    px = start_proxy(dir .. "/cert.pem", dir .. "/key.pem")
  end)
  teardown(function()
    if px then px.stop() end
    if remove_cert then remove_cert() end
  end)
  local function log() return "proxy.lua:\n" .. px.output():sub(-4000) end
  -- a page registered as alice over WS
  local function alice() return browser.phones { a = account("ws://127.0.0.1:" .. px.ws, "alice") } end

  it("RFC 7118 over WS: digest REGISTER, alice calls bob, both peer connections connect, BYE", function()
    call_between_pages("ws://127.0.0.1:" .. px.ws, nil, log)
  end)

  it("RFC 7118 over WSS: the same with a certificate the browser is told to trust", function()
    call_between_pages("wss://127.0.0.1:" .. px.wss, spki, log)
  end)

  it("WSS: a browser not told to trust the certificate refuses it, and nothing registers", function()
    local b = browser.script()
    b:page("a"):start(account("wss://127.0.0.1:" .. px.wss, "alice"))
    b.a:wait { type = "ws", state = "disconnected" }
    local r = b:run()
    assert(r.ok, r.out .. "\n" .. log())
    assert.matches("ERR_CERT_AUTHORITY_INVALID", r.out, 1, true)
    assert.is_nil(r.out:find('"type":"registered"', 1, true), r.out)
  end)

  it("RFC 3428: a page's MESSAGE reaches uas.lua on UDP, uac.lua's MESSAGE reaches the page", function()
    local bob = start_bob(px)
    local b = alice()
    b.a:message("sip:bob@example.com", "hello bob, from the browser")
    b.a:wait { type = "sent", code = 200 }
    b:say "send"
    b.a:wait { type = "message", from = "sip:bob@example.com", body = "hello alice, from UDP" }
    local uac
    local r = b:run {
      on = {
        send = function()
          uac = peers.example("uac.lua", { "--message", "sip:alice@example.com", "hello alice, from UDP", "--proxy",
            px.uri, "--user", "bob", "--domain", "example.com", "--password", PASSWORD.bob, "--timeout", "5" }, 15)
        end,
      },
    }
    assert(uac, r.out .. "\n" .. log())
    local ucode, uout = uac.wait()
    local _, bout = bob.stop()
    assert(r.ok, r.out .. "\nuac.lua:\n" .. uout .. "\nuas.lua:\n" .. bout .. "\n" .. log())
    assert.equal(0, ucode, uout)
    assert.matches("MESSAGE from sip:alice@example.com %(text/plain%): hello bob, from the browser", bout)
  end)

  it("as a person would: the form registers alice, Send messages bob on UDP, Unregister", function()
    local bob = start_bob(px)
    local b = browser.script()
    b:page "a":fill("server", "ws://127.0.0.1:" .. px.ws):fill("uri", "sip:alice@example.com")
      :fill("password", PASSWORD.alice):click "register"
    b.a:wait { type = "registered", code = 200 }
    b.a:fill("target", "sip:bob@example.com"):fill("text", "typed in the form"):click "send"
    b.a:wait { type = "sent", code = 200 }
    b.a:click "unregister"
    b.a:wait { type = "unregistered" }
    local r = b:run()
    local _, bout = bob.stop()
    assert(r.ok, r.out .. "\nuas.lua:\n" .. bout .. "\n" .. log())
    assert.matches("MESSAGE from sip:alice@example.com %(text/plain%): typed in the form", bout)
  end)

  it("a page calls a SIPp phone on UDP: INVITE and ACK cross to UDP, 180 and 200 back, then the phone's BYE",
    function()
      local uas = peers.sipp { sf = "uas_webrtc.xml", calls = 1, service = "bob", timeout = 40 }
      local reg = peers.sipp_run { sf = "register_contact.xml", remote = px.udp, service = "bob", calls = 1,
        auth = { user = "bob", password = PASSWORD.bob }, key = { contact_port = uas.port }, timeout = 10 }
      assert.equal(1, reg.ok, reg.out)
      local b = alice()
      b.a:call "sip:bob@example.com"
      b.a:wait { type = "progress", code = 180 }
      b.a:wait { type = "confirmed" }
      b.a:wait { type = "ended", originator = "remote", cause = "Terminated" }
      local r = b:run()
      local u = uas:wait()
      assert(r.ok, r.out .. "\nSIPp:\n" .. u.out .. "\n" .. log())
      assert.equal(1, u.ok, u.out)
    end)

  it("a SIPp phone on UDP calls a page: INVITE, ACK and BYE cross to the WebSocket, 180 and 200 back", function()
    local b = alice()
    b:say "registered"
    b.a:wait { type = "incoming", from = "sip:carol@example.net" }
    b.a:answer()
    b.a:wait { type = "confirmed" }
    b.a:wait { type = "ended", originator = "remote", cause = "Terminated" }
    local uac
    local r = b:run {
      on = {
        registered = function()
          uac = peers.sipp { sf = "uac_webrtc.xml", remote = px.udp, service = "alice", calls = 1, timeout = 30 }
        end,
      },
    }
    assert(uac, r.out .. "\n" .. log())
    local u = uac:wait()
    assert(r.ok, r.out .. "\nSIPp:\n" .. u.out .. "\n" .. log())
    assert.equal(1, u.ok, u.out)
  end)
end)
