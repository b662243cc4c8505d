-- sips: by name, end to end (RFC 3263 §4 with RFC 5922 §7): dnsmasq serves a test zone (NAPTR
-- SIPS+D2T, SRV _sips._tcp, A) on 127.0.0.1, and the examples run as processes the way a user
-- runs them: `uac.lua --dns 127.0.0.1:PORT --tls-ca ca.pem --message sips:bob@DOMAIN TEXT`. The
-- TLS servers are responder.lua over tls: (a certificate from support.pki) and openssl s_server
-- (to see the SNI). The certificate names the URI's domain, never the SRV target: the name TLS
-- checks is the one the user asked for, through NAPTR, SRV, failover and the proxy alike.
-- Every process runs under timeout; the whole spec takes a few seconds.
local peers = require "support.peers"
local pki = require "support.pki"

local ca, cert, other, proxy_cert, dns, responder, sserver
local RESP, DEAD = peers.free_port(), peers.free_port() -- responder.lua's tls: port; nothing on DEAD

-- The NAPTR -> SRV -> A chain of a sips: domain whose SRV targets are (target, port, priority).
local function zone(lines, domain, targets)
  lines[#lines + 1] = ("naptr-record=%s,10,10,S,SIPS+D2T,,_sips._tcp.%s"):format(domain, domain)
  for _, t in ipairs(targets) do
    lines[#lines + 1] = ("srv-host=_sips._tcp.%s,%s,%d,%d,0"):format(domain, t[1], t[2], t[3] or 0)
  end
end

local function uac(domain, extra)
  local args = { "--dns", dns.addr, "--tls-ca", ca.ca, "--timeout", "3" }
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  args[#args + 1] = "--message"
  args[#args + 1] = "sips:bob@" .. domain
  args[#args + 1] = "hello"
  local h = peers.example("uac.lua", args, 15)
  return h.wait()
end

describe("sips: by name over a real DNS server and TLS", function()
  setup(function()
    ca = pki.ca()
    -- the domains of the URIs, never sip.example.test (the SRV target)
    cert = ca:issue("example.test", { dns = { "example.test", "fo.test", "sni.test" } })
    other = ca:issue("other.test", { dns = { "other.test" } })
    proxy_cert = ca:issue("proxy.test", { dns = { "proxy.test" } })
    sserver = { port = peers.free_port() }
    local lines = { "local=/test/", "host-record=sip.example.test,127.0.0.1",
      "host-record=proxy.test,127.0.0.1" }
    zone(lines, "example.test", { { "sip.example.test", RESP } })
    zone(lines, "wrong.test", { { "sip.example.test", RESP } }) -- served by a certificate for example.test
    zone(lines, "fo.test", { { "sip.example.test", DEAD, 10 }, { "sip.example.test", RESP, 20 } })
    zone(lines, "sni.test", { { "sip.example.test", sserver.port } })
    dns = peers.dnsmasq { lines = lines, lifetime = 60 }
    responder = peers.example("responder.lua", { "--listen", "tls:127.0.0.1:" .. RESP, "--cert", cert.cert,
      "--key", cert.key }, 60)
    assert(peers.wait_port(RESP, "tcp", 5, responder.pid), responder.output())
  end)
  teardown(function()
    if responder then responder.stop() end
    peers.cleanup()
    if ca then ca:close() end
  end)

  it("uac.lua --dns --tls-ca --message sips:bob@example.test: NAPTR, SRV, A, TLS, delivered", function()
    local code, out = uac("example.test")
    assert.equal(0, code, out)
    assert.matches("MESSAGE: 200 OK", out, 1, true)
    local log = dns:log()
    for _, q in ipairs { "query[NAPTR] example.test", "query[SRV] _sips._tcp.example.test", "query[A] sip.example.test" } do
      assert.matches(q, log, 1, true)
    end
  end)

  it("§7.2 sends the URI's domain as SNI (not the SRV target) and is served the certificate for it", function()
    -- s_server's default certificate names other.test; only SNI sni.test switches to one for it
    local words = { "openssl", "s_server", "-accept", "127.0.0.1:" .. sserver.port, "-cert", other.cert, "-key",
      other.key, "-servername", "sni.test", "-cert2", cert.cert, "-key2", cert.key }
    for i, w in ipairs(words) do words[i] = peers.quote(w) end
    local srv <close> = peers.process { argv = { "sh", "-c", "sleep 30 | exec " .. table.concat(words, " ") },
      port = sserver.port, lifetime = 30 }
    local code, out = uac("sni.test", { "--timeout", "1" })
    assert.equal(1, code, out) -- s_server reads SIP but never answers: a timeout, after delivery
    assert.matches("MESSAGE failed: timeout", out, 1, true)
    assert(srv:wait_for("MESSAGE sips:bob@sni.test SIP/2.0", 5), srv:log())
    assert.matches("Switching server context", srv:log(), 1, true)
  end)

  it("§7.2 refuses a certificate that does not name the URI's domain, naming the peer and why", function()
    local code, out = uac("wrong.test")
    assert.equal(1, code, out)
    assert.matches(("MESSAGE failed: MESSAGE to 127.0.0.1:%d (wrong.test) over tls: certificate name mismatch (503)")
      :format(RESP), out, 1, true)
  end)

  it("§4.3 fails over to the second SRV target when the first refuses the connection", function()
    local code, out = uac("fo.test")
    assert.equal(0, code, out)
    assert.matches("MESSAGE: 200 OK", out, 1, true)
  end)

  it("proxy.lua relays to a sips: name over TLS, verifying the domain", function()
    local pport = peers.free_port()
    local px = peers.example("proxy.lua", { "--listen", "tls:127.0.0.1:" .. pport, "--cert", proxy_cert.cert,
      "--key", proxy_cert.key, "--domain", "proxy.test", "--relay", "all", "--dns", dns.addr, "--tls-ca", ca.ca, "--quiet" }, 30)
    assert(peers.wait_port(pport, "tcp", 5, px.pid), px.output())
    local proxy = ("sips:proxy.test:%d"):format(pport) -- an A record, the port given (§4.2)
    local code, out = uac("example.test", { "--proxy", proxy })
    local wcode, wout = uac("wrong.test", { "--proxy", proxy })
    local fcode, fout = uac("fo.test", { "--proxy", proxy }) -- and the proxy fails over too (§4.3)
    local _, pout = px.stop()
    assert.equal(0, code, out .. pout)
    assert.matches("MESSAGE: 200 OK", out, 1, true)
    assert.equal(1, wcode, wout .. pout)
    assert.matches(("MESSAGE failed: 500 Next Hop Unreachable (MESSAGE to 127.0.0.1:%d (wrong.test) over tls: "
      .. "certificate name mismatch) (500)"):format(RESP), wout, 1, true)
    assert.equal(0, fcode, fout .. pout)
    assert.matches("MESSAGE: 200 OK", fout, 1, true)
  end)
end)
