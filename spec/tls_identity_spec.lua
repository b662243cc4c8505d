-- TLS identities (RFC 5922, RFC 8446): the client sends SNI and verifies the SIP domain it asked
-- for, whatever address serves it; mutual TLS both ways; what a server learns of its client.
-- Real peers: openssl s_server, and our own endpoints. Certificates come from a test CA made by
-- openssl in a temp dir (support.pki). Names map to 127.0.0.1 through the destination (host =
-- the address, domain = the domain) or a URI's maddr, the way a resolver's answer would.
local sip = require "sip"
local peers = require "support.peers"
local pki = require "support.pki"

local ca, good, uri_only, other, wildcard, alice, stranger

local function options(uri)
  return sip.request { method = "OPTIONS", uri = uri or "sips:sip.example.test", from = "<sip:a@example.test>",
    to = "<sip:x@example.test>" }
end

-- openssl s_server on a free port; its stdin stays open (at EOF it would stop serving). It serves
-- one connection at a time: each case closes its endpoint before the next connects.
local function s_server(args)
  local port = peers.free_port()
  local words = { "openssl", "s_server", "-accept", "127.0.0.1:" .. port }
  for _, a in ipairs(args) do words[#words + 1] = a end
  local cmd = {}
  for i, w in ipairs(words) do cmd[i] = peers.quote(w) end
  local srv = peers.process { argv = { "sh", "-c", "sleep 60 | exec " .. table.concat(cmd, " ") }, port = port,
    lifetime = 60 }
  srv.port = port
  return srv
end

-- One OPTIONS to the s_server at port: s_server never answers SIP, so arriving is a 408 after
-- the (short) timeout, with the request in its log; a refusal is at once, nil, err, 503.
local function probe(ep, dest, uri)
  return ep:request(options(uri), { timeout = 1, dest = dest })
end

local function dest(port, name, tls)
  return { proto = "tls", host = "127.0.0.1", port = port, domain = name, tls = tls }
end

describe("TLS identities (RFC 5922)", function()
  setup(function()
    ca = pki.ca()
    good = ca:issue("sip.example.test", { dns = { "sip.example.test" }, uri = { "sip:sip.example.test" } })
    uri_only = ca:issue("uri.example.test", { uri = { "sip:uri.example.test" }, cn = "someone else" })
    other = ca:issue("other.example.test", { dns = { "other.example.test" } })
    wildcard = ca:issue("wildcard", { dns = { "*.example.test" }, cn = "*.example.test" })
    alice = ca:issue("alice", { uri = { "sip:alice@example.test" }, cn = "alice" })
    stranger = ca:self_signed("sip.example.test")
  end)
  teardown(function()
    peers.cleanup()
    ca:close()
  end)

  describe("a client", function()
    it("§7.2 sends SNI and verifies the domain asked for, not the address it reaches", function()
      -- the default certificate names another domain: only a client that sent SNI gets the right one
      local srv <close> = s_server { "-cert", other.cert, "-key", other.key, "-servername", "sip.example.test",
        "-cert2", good.cert, "-key2", good.key }
      sip.run(function()
        local ep <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" }, tls_ca = ca.ca })
        local rsp, err, code = probe(ep, dest(srv.port, "sip.example.test"))
        assert.same({ nil, "timeout", 408 }, { rsp, err, code }) -- delivered; s_server does not answer
      end)
      assert(srv:wait_for("OPTIONS sips:sip.example.test SIP/2.0", 5))
      assert.matches("Switching server context", srv:log(), 1, true)
    end)

    it("§7.2 refuses a certificate for another name at once, naming the peer and the reason", function()
      local srv <close> = s_server { "-cert", other.cert, "-key", other.key }
      sip.run(function()
        local ep <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" }, tls_ca = ca.ca })
        local t0 = sip.now()
        local rsp, err, code = probe(ep, dest(srv.port, "sip.example.test"))
        assert.is_nil(rsp)
        assert.equal(503, code)
        assert.equal(("OPTIONS to 127.0.0.1:%d (sip.example.test) over tls: certificate name mismatch"):format(srv.port), err)
        assert.is_true(sip.now() - t0 < 1, "at once, not at a timer")
      end)
      assert.not_matches("OPTIONS", srv:log())
    end)

    it("§7.1 takes a subjectAltName URI sip:domain as an identity, the Common Name aside", function()
      local srv <close> = s_server { "-cert", uri_only.cert, "-key", uri_only.key }
      sip.run(function()
        local ep <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" }, tls_ca = ca.ca })
        local _, err = probe(ep, dest(srv.port, "uri.example.test"))
        assert.equal("timeout", err)
      end)
      assert(srv:wait_for("OPTIONS sips:", 5))
    end)

    it("§7.2 accepts no wildcard", function()
      local srv <close> = s_server { "-cert", wildcard.cert, "-key", wildcard.key }
      sip.run(function()
        local ep <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" }, tls_ca = ca.ca })
        local _, err, code = probe(ep, dest(srv.port, "sip.example.test"))
        assert.equal(503, code)
        assert.matches("certificate name mismatch", err, 1, true)
      end)
    end)

    it("verifies against the system store by default; a destination may bring its own CA or none", function()
      local srv <close> = s_server { "-cert", good.cert, "-key", good.key }
      sip.run(function()
        local ep <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" } })
        local _, err, code = probe(ep, dest(srv.port, "sip.example.test"))
        assert.equal(503, code)
        assert.matches("(sip.example.test) over tls: unable to get local issuer certificate", err, 1, true)
      end)
      sip.run(function()
        local ep <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" } })
        local _, err = probe(ep, dest(srv.port, "sip.example.test", { ca = ca.ca }))
        assert.equal("timeout", err)
      end)
      assert(srv:wait_for("OPTIONS sips:", 5))
    end)

    it("takes a CA directory (hashed) and a destination with verification off", function()
      local srv <close> = s_server { "-cert", stranger.cert, "-key", stranger.key }
      local dir = ca.dir .. "/store"
      assert(os.execute(("mkdir -p %s && cp %s %s/ && openssl rehash %s >/dev/null 2>&1"):format(dir, ca.ca, dir, dir)))
      sip.run(function()
        local ep <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" }, tls_ca = dir })
        local _, err, code = probe(ep, dest(srv.port, "sip.example.test"))
        assert.equal(503, code)
        assert.matches("self%-signed certificate", err)
      end)
      sip.run(function()
        local ep <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" }, tls_ca = dir })
        local _, err = probe(ep, dest(srv.port, "sip.example.test", { verify = false }))
        assert.equal("timeout", err)
      end)
    end)

    it("mutual TLS: presents its certificate to s_server -Verify; without one it is refused", function()
      local srv <close> = s_server { "-cert", good.cert, "-key", good.key, "-Verify", "2", "-CAfile", ca.ca,
        "-verify_return_error" }
      sip.run(function()
        local ep <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" }, tls_ca = ca.ca })
        local _, err, code = probe(ep, dest(srv.port, "sip.example.test"))
        assert.equal(503, code, err)
      end)
      sip.run(function()
        local ep <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" }, tls_ca = ca.ca })
        local _, err = probe(ep, dest(srv.port, "sip.example.test", { cert = alice.cert, key = alice.key }))
        assert.equal("timeout", err)
      end)
      assert(srv:wait_for("OPTIONS sips:", 5))
      assert.matches("CN = alice", srv:log(), 1, true)
    end)
  end)

  describe("a server", function()
    -- A server of ours with listeners {spec, tls = ...}; fn(server, port of listener i) runs in the loop.
    local function with_server(opts, fn)
      local seen = {}
      sip.run(function()
        opts.handler = function(req)
          seen[#seen + 1] = req.tls or false
          req:reply(200)
        end
        local server <close> = assert(sip.endpoint(opts))
        fn(server, seen)
      end)
      return seen
    end

    it("requires a client certificate that verifies, and shows who the client is in req.tls", function()
      with_server({ listen = { "tls:127.0.0.1:0" }, tls_cert = good.cert, tls_key = good.key, tls_ca = ca.ca,
        tls_clients = "require" }, function(server, seen)
        local port = server.listeners[1].port
        local uri = ("sips:sip.example.test:%d;maddr=127.0.0.1"):format(port)
        local phone <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" }, tls_ca = ca.ca,
          tls_cert = alice.cert, tls_key = alice.key })
        local rsp = assert(phone:request(options(uri), { timeout = 3 })) -- name from the URI: sip.route's
        assert.equal(200, rsp.status)
        assert.is_true(seen[1].verified)
        assert.is_true(seen[1].certificate)
        assert.same({ "sip:alice@example.test" }, seen[1].names)
        assert.matches("^TLSv1%.[23]$", seen[1].version)
        local bare <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" }, tls_ca = ca.ca })
        local none, err, code = bare:request(options(uri), { timeout = 3 })
        assert.is_nil(none)
        assert.equal(503, code, err)
        local self <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" }, tls_ca = ca.ca,
          tls_cert = stranger.cert, tls_key = stranger.key })
        none, err, code = self:request(options(uri), { timeout = 3 })
        assert.is_nil(none)
        assert.equal(503, code, err)
        assert.equal(1, #seen)
      end)
    end)

    it("a listener of its own requests certificates and shows what came, verified or not", function()
      with_server({ listen = { "udp:127.0.0.1:0", { "tls:127.0.0.1:0", tls = { cert = good.cert, key = good.key,
        ca = ca.ca, clients = "request" } } } }, function(server, seen)
        local port = server.listeners[2].port
        local uri = ("sips:sip.example.test:%d;maddr=127.0.0.1"):format(port)
        for _, who in ipairs { alice, stranger, false } do
          local ep <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" }, tls_ca = ca.ca,
            tls_cert = who and who.cert or nil, tls_key = who and who.key or nil })
          assert.equal(200, assert(ep:request(options(uri), { timeout = 3 })).status)
        end
        assert.same({ true, true, { "sip:alice@example.test" } }, { seen[1].verified, seen[1].certificate, seen[1].names })
        assert.same({ false, true, { "sip.example.test" } }, { seen[2].verified, seen[2].certificate, seen[2].names })
        assert.same({ false, false, {} }, { seen[3].verified, seen[3].certificate, seen[3].names })
      end)
    end)

    it("gives req.tls only to requests that came over TLS", function()
      local seen = with_server({ listen = { "udp:127.0.0.1:0" } }, function(server)
        local ep <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" } })
        local uri = ("sip:x@127.0.0.1:%d"):format(server.listeners[1].port)
        assert.equal(200, assert(ep:request(options(uri), { timeout = 3 })).status)
      end)
      assert.same({ false }, seen)
    end)

    it("misused TLS options raise, naming the option", function()
      assert.has_error(function() sip.endpoint { tls_clients = "always" } end,
        [[bad argument #1 to 'endpoint' (option 'tls_clients' must be "none", "request" or "require")]])
      assert.has_error(function() sip.endpoint { tls_verify = "no" } end, [[bad argument #1 to 'endpoint' (option 'tls_verify' must be a boolean, got "no")]])
      sip.run(function()
        local ep <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" } })
        assert.has_error(function() ep:request(options(), { dest = dest(5061, "x.test", { ca = 1 }) }) end,
          "tls ca must be a file name")
      end)
    end)

    it("a listener without a certificate is refused with a clear error", function()
      local ep, err = sip.endpoint { listen = { "tls:127.0.0.1:0" } }
      assert.is_nil(ep)
      assert.matches("needs tls_cert and tls_key", err)
      assert.has_error(function() sip.endpoint { listen = { { "udp:127.0.0.1:0", tls = {} } } } end,
        "bad argument #1 to 'endpoint' (option 'listen' [1] option tls must be a table of TLS settings, on a tls: or wss: listener)")
    end)
  end)
end)
