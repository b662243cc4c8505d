-- sip.registrar: REGISTER processing (RFC 3261 §10.3, RFC 3327 Path, RFC 3581 source addresses)
-- through a real endpoint on the virtual network of sip.test (127.0.0.1, port 0, no socket),
-- its bindings expiring on the virtual clock. Every case leaves no watcher active.
local sip = require "sip"
local loop = require "sip.loop"
local test = require "sip.test"
local registrar = require "sip.registrar"
local location = require "sip.location"
local auth = require "sip.auth"

local AOR = "sip:alice@example.com"

-- run fn(ctx) with a registrar behind an endpoint and a client endpoint
local function with_registrar(opts, fn)
  opts = opts or {}
  local ctx = {}
  local net <close> = test.new()
  ctx.advance = function(s) net:advance(s) end
  net:run(function()
    local loc = location.open("memory")
    local o = { location = loc, domains = { "example.com" } }
    for k, v in pairs(opts) do o[k] = v end
    local reg = assert(registrar.new(o))
    local server = net:add(assert(sip.endpoint { listen = { "udp:127.0.0.1:0" },
      handler = function(req) reg:handle(req) end }))
    local client = net:add(assert(sip.endpoint { listen = { "udp:127.0.0.1:0" } }))
    ctx.reg, ctx.loc, ctx.client = reg, loc, client
    ctx.dest = { proto = "udp", host = "127.0.0.1", port = server.listeners[1].port }
    ctx.call_id = sip.callid()
    ctx.cseq = 0
    -- REGISTER with contacts (a list of header values), expires (header) and extra headers
    function ctx.register(contacts, expires, t)
      t = t or {}
      ctx.cseq = ctx.cseq + 1
      local headers = {}
      for _, c in ipairs(contacts or {}) do headers[#headers + 1] = { "Contact", c } end
      for _, h in ipairs(t.headers or {}) do headers[#headers + 1] = h end
      local req = sip.request {
        method = "REGISTER", uri = "sip:example.com", from = "<" .. (t.aor or AOR) .. ">",
        to = t.to or ("<" .. (t.aor or AOR) .. ">"), call_id = t.call_id or ctx.call_id,
        cseq = t.cseq or ctx.cseq, expires = expires, headers = headers,
      }
      if t.credentials then req = t.credentials(req) end
      local rsp, err = client:request(req, { dest = ctx.dest, timeout = 2 })
      assert(rsp, err)
      return rsp, req
    end
    -- the Contact URIs with expires of a 200, in order
    function ctx.listed(rsp)
      local out = {}
      for _, c in ipairs(rsp:addrs("Contact")) do out[#out + 1] = { c.uri, c.expires, c.q } end
      return out
    end
    fn(ctx)
  end)
end

describe("sip.registrar", function()
  after_each(function() assert.equal(0, loop.active()) end)

  it("raises on misuse", function()
    assert.has_error(function() registrar.new(42) end)
    assert.has_error(function() registrar.new { min_expires = 100, default_expires = 50 } end)
    assert.has_error(function() registrar.new { domains = 42 } end)
  end)

  describe("§10.3 step 4: registrar.policy", function()
    local function known(name) return name == "alice" or name == "bob" end
    local cases = { -- policy, user, To URI, allowed
      { "own", "alice", "sip:alice@example.com", true },
      { "own", "alice", "sip:bob@example.com", false },
      { "own", "alice", "sip:door@example.com", false },
      { "own-or-free", "alice", "sip:door@example.com", true },
      { "own-or-free", "alice", "sip:bob@example.com", false },
      { "own-or-free", "alice", "not a uri", false },
    }
    for _, c in ipairs(cases) do
      it(("%s: %s for %s -> %s"):format(c[1], c[2], c[3], tostring(c[4])), function()
        assert.equal(c[4], registrar.policy(c[1], known)(c[2], c[3]))
      end)
    end
    it("takes to_user as sip.auth gives it, a function as it is, nil, err for the rest", function()
      assert.is_true(registrar.policy("own", known)("alice", nil, "alice"))
      assert.is_false(registrar.policy("own-or-free", known)("alice", nil, false))
      local fn = function() return true end
      assert.equal(fn, registrar.policy(fn, known))
      local p, err = registrar.policy("anyone", known)
      assert.is_nil(p)
      assert.equal('register_policy must be "own", "own-or-free" or a function', err)
    end)
  end)

  it("formats headers in the one order of sip.header_pairs: pairs as listed, then names sorted", function()
    local h = { { "X-B", "1" }, { "X-A", "2" }, ["X-Z"] = "3", ["X-C"] = { "4", "5" } }
    local lines = "X-B: 1\r\nX-A: 2\r\nX-C: 4\r\nX-C: 5\r\nX-Z: 3\r\n"
    assert.equal(lines, registrar.header_lines(h))
    assert.equal(lines, sip.format_headers(h))
    assert.same({ { "X-B", "1" }, { "X-A", "2" }, { "X-C", { "4", "5" } }, { "X-Z", "3" } }, sip.header_pairs({}, h))
    local req = sip.request { method = "OPTIONS", uri = "sip:b@example.com", from = "<sip:a@example.com>",
      to = "<sip:b@example.com>", headers = h }
    assert.same({ "1", "2", "4", "5", "3" }, { req:header("X-B"), req:header("X-A"), req:headers("X-C")[1],
      req:headers("X-C")[2], req:header("X-Z") })
    assert.truthy(tostring(req):find(lines, 1, true))
    assert.truthy(tostring(sip.response(req, 200, nil, { headers = h })):find(lines, 1, true))
  end)

  it("§10.3 step 7-8: adds a binding; the 200 lists it with its expiry, and a Date", function()
    with_registrar(nil, function(t)
      local rsp = t.register({ "<sip:alice@192.0.2.10:5060>" }, 1800)
      assert.equal(200, rsp.status)
      assert.same({ { "sip:alice@192.0.2.10:5060", 1800 } }, t.listed(rsp))
      assert.matches("^%a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d GMT$", rsp:header("Date"))
      assert.equal(1, #t.reg:lookup(AOR))
    end)
  end)

  local expiry_cases = {
    { "no Expires anywhere: the default", {}, nil, 3600 },
    { "the Expires header", {}, 600, 600 },
    { "the contact param wins over the header", { ";expires=900" }, 600, 900 },
    { "above max_expires: cut to it", {}, 999999, 7200 },
    { "a contact expires that is no number: the header", { ";expires=soon" }, 300, 3600 },
  }
  for _, c in ipairs(expiry_cases) do
    it("§10.3 step 7 expiry: " .. c[1], function()
      with_registrar(nil, function(t)
        local rsp = t.register({ "<sip:alice@192.0.2.10>" .. (c[2][1] or "") }, c[3])
        assert.equal(200, rsp.status)
        assert.equal(c[4], t.listed(rsp)[1][2])
      end)
    end)
  end

  it("§10.3 step 7: 423 with Min-Expires below min_expires, and nothing changes", function()
    with_registrar(nil, function(t)
      t.register({ "<sip:alice@192.0.2.10>" }, 3600)
      local rsp = t.register({ "<sip:alice@192.0.2.11>", "<sip:alice@192.0.2.12>;expires=10" }, 3600)
      assert.equal(423, rsp.status)
      assert.equal("60", rsp:header("Min-Expires"))
      assert.equal(1, #t.reg:lookup(AOR))
      -- 0 is never too brief
      assert.equal(200, t.register({ "<sip:alice@192.0.2.10>" }, 0).status)
    end)
  end)

  it("§10.3 step 7: a refresh (same Call-ID, higher CSeq) updates the binding", function()
    with_registrar(nil, function(t)
      t.register({ "<sip:alice@192.0.2.10>" }, 600)
      t.advance(100)
      local rsp = t.register({ "<sip:alice@192.0.2.10>" }, 600)
      assert.same({ { "sip:alice@192.0.2.10", 600 } }, t.listed(rsp))
    end)
  end)

  it("§10.3 step 7: the same Call-ID with a CSeq not higher is refused", function()
    with_registrar(nil, function(t)
      t.register({ "<sip:alice@192.0.2.10>" }, 600, { cseq = 5 })
      local rsp = t.register({ "<sip:alice@192.0.2.10>" }, 0, { cseq = 5 })
      assert.equal(400, rsp.status)
      assert.equal(1, #t.reg:lookup(AOR))
      rsp = t.register({ "<sip:alice@192.0.2.10>" }, 0, { cseq = 4 })
      assert.equal(400, rsp.status)
    end)
  end)

  it("§10.3 step 7: another Call-ID replaces a binding of the same URI (§19.1.4 comparison)", function()
    with_registrar(nil, function(t)
      t.register({ "<sip:alice@192.0.2.10>" }, 600, { cseq = 50 })
      local rsp = t.register({ "<sip:%61lice@192.0.2.10;transport=udp>" }, 900, { call_id = "other@x", cseq = 1 })
      assert.equal(200, rsp.status)
      -- transport=udp makes it a different URI from one without (§19.1.4: params in one only)
      assert.equal(2, #t.listed(rsp))
      rsp = t.register({ "<sip:%61lice@192.0.2.10>" }, 900, { call_id = "third@x", cseq = 1 })
      local l = t.listed(rsp)
      assert.equal(2, #l)
      local b = t.reg:lookup(AOR)
      local found
      for _, x in ipairs(b) do if x.call_id == "third@x" then found = x end end
      assert.is_table(found)
    end)
  end)

  it("§10.3 step 7: a Contact repeated in one REGISTER makes one binding, the last one's", function()
    with_registrar(nil, function(t)
      local rsp = t.register({ "<sip:alice@192.0.2.10>;expires=300", "<sip:%61lice@192.0.2.10>;expires=500" }, nil)
      assert.equal(200, rsp.status)
      assert.same({ { "sip:%61lice@192.0.2.10", 500 } }, t.listed(rsp))
    end)
  end)

  it("§10.3 step 7: expires 0 removes one binding; the 200 lists the others", function()
    with_registrar(nil, function(t)
      t.register({ "<sip:alice@192.0.2.10>", "<sip:alice@192.0.2.11>" }, 600)
      local rsp = t.register({ "<sip:alice@192.0.2.10>;expires=0" }, nil)
      assert.same({ { "sip:alice@192.0.2.11", 600 } }, t.listed(rsp))
    end)
  end)

  it("§10.3 step 6: Contact * with Expires 0 removes every binding", function()
    with_registrar(nil, function(t)
      t.register({ "<sip:alice@192.0.2.10>", "<sip:alice@192.0.2.11>" }, 600)
      local rsp = t.register({ "*" }, 0)
      assert.equal(200, rsp.status)
      assert.same({}, t.listed(rsp))
      assert.same({}, t.reg:lookup(AOR))
    end)
  end)

  local star_bad = {
    { "with Expires other than 0", { "*" }, 600 },
    { "without Expires", { "*" }, nil },
    { "beside another Contact", { "*", "<sip:alice@192.0.2.10>" }, 0 },
  }
  for _, c in ipairs(star_bad) do
    it("§10.3 step 6: Contact * " .. c[1] .. " is a 400", function()
      with_registrar(nil, function(t)
        assert.equal(400, t.register(c[2], c[3]).status)
      end)
    end)
  end

  it("§10.3 step 6: Contact * keeps a binding of the same Call-ID with a higher CSeq", function()
    with_registrar(nil, function(t)
      t.register({ "<sip:alice@192.0.2.10>" }, 600, { cseq = 10 })
      assert.equal(400, t.register({ "*" }, 0, { cseq = 3 }).status)
      assert.equal(200, t.register({ "*" }, 0, { cseq = 11 }).status)
    end)
  end)

  it("§10.2.3: a REGISTER without Contact queries the bindings and changes nothing", function()
    with_registrar(nil, function(t)
      t.register({ "<sip:alice@192.0.2.10>" }, 600)
      t.advance(60)
      local rsp = t.register({}, nil)
      assert.same({ { "sip:alice@192.0.2.10", 540 } }, t.listed(rsp))
    end)
  end)

  it("§10.2.1.2: q-values order the bindings and come back in the 200", function()
    with_registrar(nil, function(t)
      local rsp = t.register({ "<sip:a@192.0.2.1>;q=0.1", "<sip:b@192.0.2.2>;q=0.9", "<sip:c@192.0.2.3>" }, 600)
      assert.same({ { "sip:c@192.0.2.3", 600 }, { "sip:b@192.0.2.2", 600, 0.9 }, { "sip:a@192.0.2.1", 600, 0.1 } },
        t.listed(rsp))
    end)
  end)

  it("expired bindings are no longer listed nor found", function()
    with_registrar(nil, function(t)
      t.register({ "<sip:alice@192.0.2.10>;expires=100", "<sip:alice@192.0.2.11>;expires=1000" }, nil)
      t.advance(150)
      assert.same({ { "sip:alice@192.0.2.11", 850 } }, t.listed(t.register({}, nil)))
      assert.equal(1, t.reg:sweep())
    end)
  end)

  it("§10.3 step 2: Unsupported lists every unknown tag of Require lines, in order (§7.3.1)", function()
    with_registrar(nil, function(t)
      local rsp = t.register({ "<sip:alice@192.0.2.10>" }, 600,
        { headers = { { "Require", "path, x1 ,x2" }, { "Require", "x3" } } })
      assert.equal(420, rsp.status)
      assert.same({ "x1", "x2", "x3" }, rsp:headers("Unsupported"))
    end)
  end)

  local refused = {
    { "RFC 4475 §3.3.4: To not a SIP URI", { to = "isbn:2983792873" }, 400 },
    { "§10.3 step 5: To in another domain", { aor = "sip:alice@elsewhere.example.org" }, 404 },
    { "§10.3 step 2: Require of an unknown extension", { headers = { { "Require", "nothingSupportsThis" } } }, 420 },
  }
  for _, c in ipairs(refused) do
    it(c[1] .. " -> " .. c[3], function()
      with_registrar(nil, function(t)
        local rsp = t.register({ "<sip:alice@192.0.2.10>" }, 600, c[2])
        assert.equal(c[3], rsp.status)
        if c[3] == 420 then assert.equal("nothingSupportsThis", rsp:header("Unsupported")) end
      end)
    end)
  end

  it("RFC 3327 §5.3: stores Path with the binding and returns it to a UA that supports path", function()
    with_registrar(nil, function(t)
      local path = "<sip:edge.example.com;lr>"
      local rsp = t.register({ "<sip:alice@10.0.0.5>" }, 600,
        { headers = { { "Path", path }, { "Supported", "path" }, { "Require", "path" } } })
      assert.equal(200, rsp.status)
      assert.equal(path, rsp:header("Path"))
      assert.same({ path }, t.reg:lookup(AOR)[1].path)
      -- without Supported: path, stored but not echoed
      rsp = t.register({ "<sip:alice@10.0.0.6>" }, 600, { headers = { { "Path", path } } })
      assert.is_nil(rsp:header("Path"))
    end)
  end)

  it("RFC 3581: keeps the source of the REGISTER; a Contact behind a NAT is reached there", function()
    with_registrar(nil, function(t)
      t.register({ "<sip:alice@10.0.0.5:5060>" }, 600) -- a private address: not where it came from
      local b = t.reg:lookup(AOR)[1]
      assert.equal("127.0.0.1", b.source.host)
      assert.equal(t.client.listeners[1].port, b.source.port)
      assert.is_true(b.nat)
      local port = t.client.listeners[1].port
      t.register({ ("<sip:alice@127.0.0.1:%d>"):format(port) }, 600, { aor = "sip:bob@example.com" })
      assert.is_nil(t.reg:lookup("sip:bob@example.com")[1].nat) -- reachable as it says
    end)
  end)

  it("RFC 4475 §3.3.12-14: contact params stay params, URI params and escaped headers stay in the URI", function()
    with_registrar(nil, function(t)
      local rsp = t.register({ "sip:+19725552222@gw1.example.net;unknownparam" }, 600)
      assert.equal(200, rsp.status)
      local c = rsp:addrs("Contact")[1]
      assert.equal("sip:+19725552222@gw1.example.net", c.uri)
      assert.is_true(c.params.unknownparam)
      rsp = t.register({ "<sip:user@example.com?Route=%3Csip:sip.example.com%3E>" }, 600)
      local uris = {}
      for _, a in ipairs(rsp:addrs("Contact")) do uris[#uris + 1] = a.uri end
      assert.truthy(table.concat(uris, " "):find("?Route=%3Csip:sip.example.com%3E", 1, true))
    end)
  end)

  describe("with digest (§10.3 steps 3-4, §22)", function()
    local users = { alice = "wonderland", bob = "builder" }
    local function server() return auth.server { realm = "example.com", users = users } end

    it("challenges with 401, then takes the credentials", function()
      with_registrar({ auth = server() }, function(t)
        local rsp, req = t.register({ "<sip:alice@192.0.2.10>" }, 600)
        assert.equal(401, rsp.status)
        assert.truthy(rsp:header("WWW-Authenticate"))
        local c = auth.client { user = "alice", password = "wonderland" }
        local rsp2 = assert(t.client:request(assert(c:authorize(req, rsp)), { dest = t.dest, timeout = 2 }))
        assert.equal(200, rsp2.status)
        assert.equal(1, #t.reg:lookup(AOR))
      end)
    end)

    it("§8.2.7 challenges statelessly: the 401 leaves no server transaction behind", function()
      local txns = {}
      with_registrar({ auth = server() }, function(t)
        local handler = t.reg.handle
        t.reg.handle = function(self, req)
          txns[#txns + 1] = req.txn
          return handler(self, req)
        end
        local rsp, req = t.register({ "<sip:alice@192.0.2.10>" }, 600)
        assert.equal(401, rsp.status)
        assert.equal("terminated", txns[1].state)
        assert.equal(req.stateless_tag, rsp.to.tag) -- a retransmission would get the same To tag
        local c = auth.client { user = "alice", password = "wonderland" }
        assert.equal(200, assert(t.client:request(assert(c:authorize(req, rsp)), { dest = t.dest, timeout = 2 })).status)
        assert.equal("completed", txns[2].state) -- the 200 is kept for retransmissions (§17.2.2)
      end)
      with_registrar({ auth = server(), stateless_challenges = false }, function(t)
        local handler = t.reg.handle
        t.reg.handle = function(self, req)
          txns[#txns + 1] = req.txn
          return handler(self, req)
        end
        assert.equal(401, t.register({ "<sip:alice@192.0.2.10>" }, 600).status)
        assert.equal("completed", txns[3].state)
      end)
    end)

    it("answers 403 to a user changing another user's bindings", function()
      with_registrar({ auth = server() }, function(t)
        local rsp, req = t.register({ "<sip:alice@192.0.2.10>" }, 600)
        local c = auth.client { user = "bob", password = "builder" }
        local rsp2 = assert(t.client:request(assert(c:authorize(req, rsp)), { dest = t.dest, timeout = 2 }))
        assert.equal(403, rsp2.status)
        assert.same({}, t.reg:lookup(AOR))
      end)
    end)

    it("RFC 4475 §3.3.7: an unknown authorization scheme gets a challenge, not 416", function()
      with_registrar({ auth = server() }, function(t)
        local rsp = t.register({ "<sip:alice@192.0.2.10>" }, 600,
          { headers = { { "Authorization", "NoOneKnowsThisScheme opaque-data=here" } } })
        assert.equal(401, rsp.status)
      end)
    end)
  end)
end)
