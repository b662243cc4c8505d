-- SIP over TLS with real peers (RFC 3261 §26.2, RFC 5922): Kamailio's TLS module as a registrar
-- reached by a sips: URI whose name is verified, and Kamailio calling us back over TLS.
-- Certificates from a test CA made in a temp dir (support.pki); the domain example.com maps to
-- 127.0.0.1 through the URI's maddr, as a resolver's answer would.
local sip = require "sip"
local peers = require "support.peers"
local pki = require "support.pki"

describe("TLS interop", function()
  local ca, kam_cert, alice, bob
  setup(function()
    ca = pki.ca()
    kam_cert = ca:issue("example.com", { dns = { "example.com" }, uri = { "sip:example.com" } })
    alice = ca:issue("alice", { uri = { "sip:alice@example.com" }, ip = { "127.0.0.1" } })
    bob = ca:issue("bob", { uri = { "sip:bob@example.com" }, ip = { "127.0.0.1" } })
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
      assert.equal(("tls to 127.0.0.1:%d (other.example): certificate name mismatch"):format(k.tls_port), err)
    end)
  end)
end)
