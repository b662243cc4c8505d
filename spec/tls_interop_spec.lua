-- SIP over TLS with real peers (RFC 3261 §26.2, RFC 5922): Kamailio's TLS module as a registrar
-- reached by a sips: URI whose name is verified, and Kamailio calling us back over TLS; baresip
-- registering over TLS with its own certificate to examples/proxy.lua, and called through it.
-- Certificates from a test CA made in a temp dir (support.pki); the domain example.com maps to
-- 127.0.0.1 through the URI's maddr, as a resolver's answer would.
local sip = require "sip"
local peers = require "support.peers"
local pki = require "support.pki"

describe("TLS interop", function()
  local ca, kam_cert, alice, bob, proxy_cert
  setup(function()
    ca = pki.ca()
    kam_cert = ca:issue("example.com", { dns = { "example.com" }, uri = { "sip:example.com" } })
    alice = ca:issue("alice", { uri = { "sip:alice@example.com" }, ip = { "127.0.0.1" } })
    bob = ca:issue("bob", { uri = { "sip:bob@example.com" }, ip = { "127.0.0.1" } })
    proxy_cert = ca:issue("proxy", { dns = { "example.com" }, ip = { "127.0.0.1" } })
  end)
  teardown(function()
    peers.cleanup()
    ca:close()
  end)

  -- Kamailio as registrar for example.com on UDP, TCP and TLS; clients = what it asks of clients.
  local function kamailio(clients)
    local tls_port = peers.free_port()
    local require_cert = clients == "require" and "yes" or "no"
    local k = peers.kamailio {
      cfg = "registrar", users = { alice = "secret-a", bob = "secret-b" }, defines = { "WITH_TLS" },
      listen = { "tls:127.0.0.1:" .. tls_port },
      files = { ["tls.cfg"] = table.concat({
        "[server:default]", "method = TLSv1.2+", "certificate = " .. kam_cert.cert,
        "private_key = " .. kam_cert.key, "ca_list = " .. ca.ca,
        "verify_certificate = " .. require_cert, "require_certificate = " .. require_cert,
        "[client:default]", "method = TLSv1.2+", "certificate = " .. kam_cert.cert,
        "private_key = " .. kam_cert.key, "verify_certificate = yes", "require_certificate = yes",
        "ca_list = " .. ca.ca, "", }, "\n") },
    }
    assert(peers.wait_port(tls_port, "tcp", 5, k.pid))
    k.tls_port = tls_port
    k.registrar = ("sips:example.com:%d;maddr=127.0.0.1"):format(tls_port)
    return k
  end

  local function ua(user, cert, password, k, extra)
    local o = { listen = { "tls:127.0.0.1:0" }, user = user, domain = "example.com", password = password,
      registrar = k.registrar, tls_ca = ca.ca, tls_cert = cert.cert, tls_key = cert.key }
    for key, v in pairs(extra or {}) do o[key] = v end
    return assert(sip.ua(o))
  end

  it("registers with Kamailio over sips:, verifying its name, with a client certificate it requires", function()
    local k <close> = kamailio("require")
    sip.run(function()
      local a <close> = ua("alice", alice, "secret-a", k)
      local reg, err = a:register { refresh = false }
      assert.is_not_nil(reg, tostring(err) .. "\n" .. k:log():sub(-2000))
      assert.equal(200, reg.response.status)
      assert.equal(1, #reg.bindings)
      assert.matches("transport=tls", reg.bindings[1].uri)
    end)
  end)

  it("Kamailio relays a MESSAGE to a registered phone over TLS; req.tls names it, verified", function()
    local k <close> = kamailio("none")
    local got
    sip.run(function()
      local b <close> = ua("bob", bob, "secret-b", k, { tls_clients = "request" })
      b:on("message", function(req)
        got = { body = req.body, tls = req.tls }
        return 200
      end)
      assert(b:register { refresh = false })
      local a <close> = ua("alice", alice, "secret-a", k)
      local rsp, err = a:message(("sips:bob@example.com:%d;maddr=127.0.0.1"):format(k.tls_port), "over TLS", nil,
        { timeout = 5 })
      assert.is_not_nil(rsp, tostring(err) .. "\n" .. k:log():sub(-2000))
      assert.equal(200, rsp.status)
    end)
    assert.equal("over TLS", got.body)
    assert.same({ true, { "sip:example.com", "example.com" } }, { got.tls.verified, got.tls.names })
  end)

  it("refuses a Kamailio whose certificate names another domain", function()
    local k <close> = kamailio("none")
    sip.run(function()
      local a <close> = ua("alice", alice, "secret-a", k,
        { registrar = ("sips:other.example:%d;maddr=127.0.0.1"):format(k.tls_port) })
      local reg, err, code = a:register { refresh = false }
      assert.is_nil(reg)
      assert.equal(503, code)
      assert.equal(("REGISTER to 127.0.0.1:%d (other.example) over tls: certificate name mismatch"):format(k.tls_port), err)
    end)
  end)

  -- baresip with no audio device (aubridge) and a config dir of its own; it answers calls itself.
  local function baresip(port, proxy_port)
    local files = {
      config = table.concat({ "poll_method epoll", "sip_listen 127.0.0.1:" .. port,
        "sip_certificate " .. alice.cert .. ".all", "sip_cafile " .. ca.ca,
        "audio_player aubridge,x", "audio_source aubridge,x", "audio_alert aubridge,x",
        "module_path /usr/lib/baresip/modules", "module g711.so", "module aubridge.so",
        "module_app account.so", "module_app menu.so", "" }, "\n"),
      accounts = ('<sip:alice@example.com;transport=tls>;auth_pass=alice-secret;outbound="sip:127.0.0.1:%d;'
        .. 'transport=tls";regint=60;answermode=auto\n'):format(proxy_port),
    }
    -- baresip takes its certificate and key from one file
    assert(os.execute(("cat %s %s > %s.all"):format(alice.cert, alice.key, alice.cert)))
    return peers.process { argv = function(dir) return { "sh", "-c", "sleep 40 | exec baresip -f " .. dir } end,
      files = files, lifetime = 40 }
  end

  it("baresip registers over TLS to examples/proxy.lua with the certificate it requires, and takes a call", function()
    local users = ca.dir .. "/users"
    local f = assert(io.open(users, "w"))
    f:write("alice:alice-secret\nbob:bob-secret\n")
    f:close()
    local tls_port = peers.free_port()
    local px = peers.example("proxy.lua", { "--listen", "udp:127.0.0.1:" .. peers.free_port(), "--listen",
      "tls:127.0.0.1:" .. tls_port, "--cert", proxy_cert.cert, "--key", proxy_cert.key, "--tls-ca", ca.ca,
      "--tls-clients", "require", "--users", users, "--log", "info" }, 40)
    assert(peers.wait_port(tls_port, "tcp", 5))
    local phone <close> = baresip(peers.free_port(), tls_port)
    local registered, log = phone:wait_for("200 OK () [1 binding]", 10)
    assert(registered, log)
    -- bob calls alice through the proxy, over TLS both ways, each side verified by the test CA
    local uac = peers.example("uac.lua", { "--listen", "tls:127.0.0.1:" .. peers.free_port(), "--cert", bob.cert,
      "--key", bob.key, "--tls-ca", ca.ca, "--user", "bob", "--password", "bob-secret", "--domain", "example.com",
      "--proxy", ("sips:example.com:%d;maddr=127.0.0.1;lr"):format(tls_port), "--call", "sip:alice@example.com",
      "--duration", "1", "--timeout", "10" }, 20)
    local code, out = uac.wait()
    local pcode, pout = px.stop()
    assert.equal(0, code, out .. "\n" .. pout .. "\n" .. phone:log())
    assert.matches("200 answered", out)
    assert.matches("BYE: 200", out) -- baresip's answer, relayed back over TLS
    assert.matches("REGISTER sip:example.com;transport=tls from tls:127.0.0.1:%d+ %-> 200", pout)
    assert.is_true(pcode == 0 or pcode == 143, pout)
  end)

  it("examples/proxy.lua --tls-clients require: phones its CA signed get in, a stranger does not", function()
    local users = ca.dir .. "/users"
    local tls_port = peers.free_port()
    local px = peers.example("proxy.lua", { "--listen", "udp:127.0.0.1:" .. peers.free_port(), "--listen",
      "tls:127.0.0.1:" .. tls_port, "--cert", proxy_cert.cert, "--key", proxy_cert.key, "--tls-ca", ca.ca,
      "--tls-clients", "require", "--users", users, "--log", "info" }, 40)
    assert(peers.wait_port(tls_port, "tcp", 5))
    local proxy_uri = ("sips:example.com:%d;maddr=127.0.0.1;lr"):format(tls_port)
    local stranger = ca:self_signed("127.0.0.1", { dns = { "localhost" } })
    local r = {}
    sip.run(function()
      local function phone(user, cert, password)
        local p = assert(sip.ua { listen = { "tls:127.0.0.1:0" }, user = user, domain = "example.com",
          password = password, registrar = "sips:example.com", outbound_proxy = proxy_uri, tls_ca = ca.ca,
          tls_cert = cert.cert, tls_key = cert.key })
        p:on("message", function() return 200 end)
        return p
      end
      local b <close> = phone("bob", bob, "bob-secret")
      local a <close> = phone("alice", stranger, "alice-secret")
      r.bob = { b:register { refresh = false } }
      r.alice = { a:register { refresh = false } }
      r.msg = { b:message("sip:bob@example.com", "hello", nil, { timeout = 5 }) }
    end)
    local _, pout = px.stop()
    assert.is_not_nil(r.bob[1], tostring(r.bob[2]) .. pout)
    assert.same({ nil, 503 }, { r.alice[1], r.alice[3] })
    assert.matches(("^REGISTER to 127.0.0.1:%d %%(example.com%%) over tls: "):format(tls_port), r.alice[2])
    assert.equal(200, r.msg[1] and r.msg[1].status, tostring(r.msg[2]) .. pout)
  end)
end)
