-- sip.proxy: the stateful proxy rules of RFC 3261 §16 (and §10.3 through it), with user agents
-- made of plain endpoints on 127.0.0.1 port 0, on the virtual network and clock of sip.test (no
-- socket; timers pass at once); T1 is 50 ms. Every test leaves no watcher active.
local sip = require "sip"
local loop = require "sip.loop"
local test = require "sip.test"
local auth = require "sip.auth"
local proxy = require "sip.proxy"

local T1 = 0.05
local SDP = "v=0\r\no=bob 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"

-- A scripted user agent server: how it answers INVITE (ring first? which final, after how
-- long), and what it saw. CANCEL is answered 200 and ends the INVITE with 487 (§9.2).
-- Route mechanics (§16.4, §16.6) tested from a stranger need the relay policy off: relay_spec
-- shows that it refuses them otherwise.
local OPEN = { relay = true }

-- A to-be-closed value that calls fn when its scope ends (also when it ends by an error).
local function closing(fn) return setmetatable({}, { __close = fn }) end

local function uas(env, script)
  script = script or {}
  local seen = { requests = {}, acks = {}, cancels = 0, at = {} }
  local ep
  ep = env.endpoint(function(req)
    local m = req.method
    seen.requests[#seen.requests + 1] = req
    seen[m] = req
    seen.at[m] = seen.at[m] or sip.now() -- when the first one came
    if m == "ACK" then
      seen.acks[#seen.acks + 1] = req
    elseif m == "CANCEL" then
      seen.cancels = seen.cancels + 1
      local inv = req.txn:cancelled_invite()
      req:reply(200)
      if inv then inv:respond(487, "Request Terminated") end
    elseif m == "INVITE" then
      local contact = ("<sip:%s@127.0.0.1:%d;transport=%s>"):format(script.user or "bob", ep.by_proto[req.source.proto].port,
        req.source.proto)
      -- §12.1.1: the Record-Route values go back in every response that makes a dialog
      local rr = req:headers("Record-Route")
      if #rr == 0 then rr = nil end
      if script.ring ~= false then req:reply(180, nil, { headers = { Contact = contact, ["Record-Route"] = rr } }) end
      if script.delay then sip.sleep(script.delay) end
      if script.final == nil then -- never answers: the caller cancels, or the test ends
        while req.txn.state ~= "terminated" and not env.closed do sip.sleep(0.02) end
        return
      end
      local code = script.final
      local opts = { headers = { Contact = contact, ["Record-Route"] = rr } }
      if code < 300 then opts.body, opts.content_type = SDP, "application/sdp" end
      if script.headers then for k, v in pairs(script.headers) do opts.headers[k] = v end end
      if req.txn.state ~= "terminated" then req:reply(code, nil, opts) end -- unless cancelled
    else
      req:reply(script.other or 200)
    end
  end, script.listen)
  seen.ep = ep
  return seen
end

local function with_proxy(popts, fn)
  local h <close> = test.new()
  h:run(function()
    local o = { listen = { "udp:127.0.0.1:0", "tcp:127.0.0.1:0" }, realm = "example.com", t1 = T1, sweep_interval = 0 }
    for k, v in pairs(popts or {}) do o[k] = v end
    local px <close> = assert(proxy.new(o))
    local env = { px = px, eps = {} }
    local _ <close> = closing(function() for _, ep in ipairs(env.eps) do ep:close() end end)
    env.dest = { proto = "udp", host = "127.0.0.1", port = px.ep.by_proto.udp.port }
    env.tcp_dest = { proto = "tcp", host = "127.0.0.1", port = px.ep.by_proto.tcp.port }
    env.sent_by = "127.0.0.1:" .. px.ep.by_proto.udp.port
    function env.endpoint(handler, listen)
      local ep = assert(sip.endpoint { listen = listen or { "udp:127.0.0.1:0" }, handler = handler, t1 = T1 })
      env.eps[#env.eps + 1] = ep
      return ep
    end
    env.client = env.endpoint()
    -- register user at the proxy with the given endpoint's address as Contact
    function env.register(ep, user, t)
      t = t or {}
      local proto = t.proto or "udp"
      local contact = t.contact or ("<sip:%s@127.0.0.1:%d%s>%s"):format(user, ep.by_proto[proto].port,
        proto == "udp" and "" or ";transport=" .. proto, t.q and (";q=" .. t.q) or "")
      local req = sip.request { method = "REGISTER", uri = "sip:example.com", from = ("<sip:%s@example.com>"):format(user),
        to = ("<sip:%s@example.com>"):format(user), contact = contact, expires = 600, headers = t.headers }
      local rsp = assert(ep:request(req, { dest = proto == "udp" and env.dest or env.tcp_dest, timeout = 2 }))
      if t.auth then
        rsp = assert(ep:request(assert(t.auth:authorize(req, rsp)), { dest = env.dest, timeout = 2 }))
      end
      assert.equal(200, rsp.status)
      return rsp
    end
    function env.request(method, uri, t)
      t = t or {}
      local r = {
        method = method, uri = uri, from = t.from or "<sip:alice@example.com>", to = t.to or ("<" .. uri .. ">"),
        contact = ("<sip:alice@127.0.0.1:%d>"):format(env.client.listeners[1].port), max_forwards = t.max_forwards,
        headers = t.headers, body = t.body, content_type = t.content_type, route = t.route,
      }
      if method == "INVITE" and not t.body then r.body, r.content_type = SDP, "application/sdp" end
      return sip.request(r)
    end
    -- send from the client through the proxy; collect provisional statuses
    function env.send(req, t)
      t = t or {}
      local prov = {}
      local rsp, err, code = (t.ep or env.client):request(req, {
        dest = t.dest or env.dest, timeout = t.timeout or 3,
        provisional = function(r) prov[#prov + 1] = r.status; if t.on_provisional then t.on_provisional(r) end end,
      })
      return rsp, prov, err, code
    end
    -- the ACK of a 2xx (§13.2.2.4): to the Contact, along the reversed Record-Route
    function env.ack(invite, rsp)
      local routes = {}
      local rr = rsp:addrs("Record-Route")
      for i = #rr, 1, -1 do routes[#routes + 1] = rr[i].value end
      local ack = sip.request { method = "ACK", uri = rsp:addrs("Contact")[1].uri, from = invite:header("From"),
        to = rsp:header("To"), call_id = invite.call_id, cseq = invite.cseq, route = routes,
        via = { host = "127.0.0.1", port = env.client.listeners[1].port } }
      return ack
    end
    function env.in_dialog(method, invite, rsp, cseq)
      local routes = {}
      local rr = rsp:addrs("Record-Route")
      for i = #rr, 1, -1 do routes[#routes + 1] = rr[i].value end
      return sip.request { method = method, uri = rsp:addrs("Contact")[1].uri, from = invite:header("From"),
        to = rsp:header("To"), call_id = invite.call_id, cseq = cseq or (invite.cseq + 1), route = routes }
    end
    local _ <close> = closing(function()
      env.closed = true
      -- agents still waiting see it (not when a failed run is closed: nothing runs then)
      if coroutine.isyieldable() then sip.sleep(0.03) end
    end)
    fn(env)
  end)
end

-- wait until cond() or timeout seconds
local function eventually(cond, timeout)
  local t0 = sip.now()
  while not cond() do
    if sip.now() - t0 > (timeout or 2) then return false end
    sip.sleep(0.01)
  end
  return true
end

describe("sip.proxy", function()
  after_each(function() assert.equal(0, loop.active()) end)

  it("raises on misuse, returns nil, err for what fails outside", function()
    assert.has_error(function() proxy.new(42) end)
    assert.has_error(function() proxy.new { route = 42 } end)
    assert.has_error(function() proxy.new { relay = "sometimes" } end)
    assert.has_error(function() proxy.new { users = { a = "b" } } end) -- users need a realm
    sip.run(function()
      local px, err = proxy.new { listen = { "udp:127.0.0.1:0" }, users = "/nonexistent/users.txt", realm = "x" }
      assert.is_nil(px)
      assert.matches("users", err)
    end)
  end)

  it("is sip.proxy{...}", function()
    sip.run(function()
      local px = assert(sip.proxy { listen = { "udp:127.0.0.1:0" }, sweep_interval = 0 })
      px:close()
    end)
  end)

  describe("§16.3 request validation", function()
    local cases = {
      { "step 2: an unknown Request-URI scheme is 416", "OPTIONS", "nobodyKnowsThisScheme:totallyopaquecontent", {}, 416 },
      { "step 2: a tel URI is 416 (no tel routing here)", "MESSAGE", "tel:+12125551212", {}, 416 },
      { "step 3: Max-Forwards 0 is 483", "OPTIONS", "sip:bob@example.com", { max_forwards = 0 }, 483 },
      { "step 5: Proxy-Require is 420 with Unsupported", "OPTIONS", "sip:bob@example.com",
        { headers = { ["Proxy-Require"] = "noProxiesSupportThis, norDoAnyProxiesSupportThis" } }, 420 },
      { "an unknown user of our domain is 404", "MESSAGE", "sip:nobody@example.com", {}, 404 },
      { "relaying between two other domains is 403", "MESSAGE", "sip:x@other.example.org", { from = "<sip:y@third.example.net>" }, 403 },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        with_proxy(nil, function(env)
          local rsp = env.send(env.request(c[2], c[3], c[4]))
          assert.equal(c[5], rsp.status)
          if c[5] == 420 then
            assert.equal("noProxiesSupportThis, norDoAnyProxiesSupportThis", table.concat(rsp:headers("Unsupported"), ", "))
          end
        end)
      end)
    end

    it("Max-Forwards 1 still goes on, as 0 (§16.6 step 3)", function()
      with_proxy(nil, function(env)
        local bob = uas(env)
        env.register(bob.ep, "bob")
        local rsp = env.send(env.request("MESSAGE", "sip:bob@example.com", { max_forwards = 1 }))
        assert.equal(200, rsp.status)
        assert.equal(0, bob.MESSAGE.max_forwards)
      end)
    end)

    it("step 4: a request that comes back unchanged is a loop (482); a spiral is not", function()
      with_proxy({ route = function(req, px)
        -- every request goes to ourselves at a user of our own address: the first pass is a
        -- spiral (new Request-URI), the second brings back the same request: a loop
        px:relay(req, ("sip:x@%s"):format(px.sent_by[1]))
      end }, function(env)
        local rsp = env.send(env.request("OPTIONS", "sip:x@example.com"))
        assert.equal(482, rsp.status)
      end)
    end)

    it("answers OPTIONS for itself with Allow", function()
      with_proxy(nil, function(env)
        local rsp = env.send(env.request("OPTIONS", "sip:" .. env.sent_by))
        assert.equal(200, rsp.status)
        assert.matches("INVITE", rsp:header("Allow"))
      end)
    end)
  end)

  describe("§16.6 forwarding", function()
    it("decrements Max-Forwards, adds a Via with a unique branch, keeps the rest", function()
      with_proxy(nil, function(env)
        local bob = uas(env)
        env.register(bob.ep, "bob")
        local branches = {}
        for i = 1, 3 do
          local rsp = env.send(env.request("MESSAGE", "sip:bob@example.com", { body = "hi " .. i, content_type = "text/plain",
            headers = { ["X-Odd"] = ";;,,;;,;" } }))
          assert.equal(200, rsp.status)
          local m = bob.MESSAGE
          assert.equal(69, m.max_forwards)
          local vias = m:vias()
          assert.equal(2, #vias)
          assert.equal(env.sent_by, vias[1].host .. ":" .. vias[1].port)
          assert.matches("^z9hG4bK", vias[1].branch)
          branches[vias[1].branch] = true
          assert.equal("hi " .. i, m.body)
          assert.equal(";;,,;;,;", m:header("X-Odd"))
          assert.equal(("sip:bob@127.0.0.1:%d"):format(bob.ep.listeners[1].port), m.uri)
          -- the response has our Via removed (§16.7 step 3)
          assert.equal(1, #rsp:vias())
        end
        local n = 0
        for _ in pairs(branches) do n = n + 1 end
        assert.equal(3, n)
      end)
    end)

    it("step 4: Record-Route on INVITE; the 2xx goes up, its ACK is relayed along the route", function()
      with_proxy(nil, function(env)
        local bob = uas(env, { final = 200 })
        env.register(bob.ep, "bob")
        local inv = env.request("INVITE", "sip:bob@example.com")
        local rsp, prov = env.send(inv)
        assert.equal(200, rsp.status)
        assert.same({ 100, 180 }, prov) -- §16.2 our own 100 at once; §16.7 step 5 the 180 forwarded
        assert.equal(SDP, rsp.body)
        local rr = bob.INVITE:addrs("Record-Route")
        assert.equal(1, #rr)
        -- ours, with the token that lets the dialog's requests back in (the relay policy)
        assert.matches(("^sip:%s;lr;rrt=%%x+$"):format(env.sent_by:gsub("%.", "%%.")), rr[1].uri)
        assert.equal(1, #rsp:addrs("Record-Route"))
        -- ACK and BYE follow the Record-Route (§16.4 loose routing: our Route is removed)
        local ack = env.ack(inv, rsp)
        assert(env.client:send(ack))
        assert.is_true(eventually(function() return #bob.acks == 1 end))
        assert.is_nil(bob.acks[1]:header("Route"))
        assert.equal(2, #bob.acks[1]:vias())
        local bye = env.in_dialog("BYE", inv, rsp)
        local brsp = env.send(bye, { dest = false })
        assert.equal(200, brsp.status)
        assert.is_nil(bob.BYE:header("Route"))
        assert.equal(rsp:addrs("Contact")[1].uri, bob.BYE.uri)
      end)
    end)

    it("step 4: records the route twice when the transport changes (UDP in, TCP out)", function()
      with_proxy(nil, function(env)
        local bob = uas(env, { final = 200, listen = { "tcp:127.0.0.1:0" } })
        env.register(bob.ep, "bob", { proto = "tcp" })
        local inv = env.request("INVITE", "sip:bob@example.com")
        local rsp = env.send(inv)
        assert.equal(200, rsp.status)
        assert.equal("tcp", bob.INVITE.source.proto)
        local rr = bob.INVITE:addrs("Record-Route")
        assert.equal(2, #rr)
        assert.matches("transport=tcp", rr[1].uri)
        assert.not_matches("transport", rr[2].uri)
        -- the BYE from the caller comes in over UDP along both values and leaves over TCP
        local bye = env.in_dialog("BYE", inv, rsp)
        assert.equal(200, (env.send(bye, { dest = false })).status)
        assert.is_nil(bob.BYE:header("Route"))
        assert.equal("tcp", bob.BYE.source.proto)
      end)
    end)

    it("§16.4: a strict router before us put our URI in the Request-URI: the last Route is the target", function()
      with_proxy(OPEN, function(env)
        local bob = uas(env)
        local target = ("sip:bob@127.0.0.1:%d"):format(bob.ep.listeners[1].port)
        local req = env.request("MESSAGE", ("sip:%s;lr"):format(env.sent_by), { to = "<sip:bob@example.com>",
          headers = { { "Route", "<" .. target .. ">" } } })
        local rsp = env.send(req)
        assert.equal(200, rsp.status)
        assert.equal(target, bob.MESSAGE.uri)
        assert.is_nil(bob.MESSAGE:header("Route"))
      end)
    end)

    it("§16.6 step 6: a strict router next: the Request-URI goes last in Route", function()
      with_proxy(OPEN, function(env)
        local bob = uas(env)
        local strict = ("sip:127.0.0.1:%d"):format(bob.ep.listeners[1].port)
        local req = env.request("MESSAGE", "sip:carol@elsewhere.example.org", {
          route = { ("<sip:%s;lr>"):format(env.sent_by), "<" .. strict .. ">" } })
        local rsp = env.send(req)
        assert.equal(200, rsp.status)
        assert.equal(strict, bob.MESSAGE.uri)
        assert.same({ "<sip:carol@elsewhere.example.org>" }, bob.MESSAGE:headers("Route"))
      end)
    end)

    it("§16.4: with a preloaded Route set a request goes to the next Route, Request-URI untouched", function()
      with_proxy(OPEN, function(env)
        local bob = uas(env)
        local next_hop = ("<sip:127.0.0.1:%d;lr>"):format(bob.ep.listeners[1].port)
        local req = env.request("MESSAGE", "sip:carol@elsewhere.example.org", {
          route = { ("<sip:%s;lr>"):format(env.sent_by), next_hop } })
        assert.equal(200, (env.send(req)).status)
        assert.equal("sip:carol@elsewhere.example.org", bob.MESSAGE.uri)
        assert.same({ next_hop }, bob.MESSAGE:headers("Route"))
      end)
    end)

    it("px:relay(req, binding): a binding from the location service is a target", function()
      with_proxy({ route = function(req, px)
        if req.method == "REGISTER" then return px.registrar:handle(req) end
        local list = px.location:get("sip:bob@example.com")
        return px:relay(req, list[1]) -- the stored binding itself, not px:lookup's target
      end }, function(env)
        local bob = uas(env)
        env.register(bob.ep, "bob")
        assert.equal(200, (env.send(env.request("MESSAGE", "sip:bob@example.com"))).status)
        assert.equal("MESSAGE", bob.requests[1].method)
      end)
    end)

    it("RFC 3327: a binding registered with a Path is reached along it", function()
      with_proxy(nil, function(env)
        local edge = uas(env)
        local bob = uas(env)
        local path = ("<sip:127.0.0.1:%d;lr>"):format(edge.ep.listeners[1].port)
        env.register(bob.ep, "bob", { headers = { Path = path, Supported = "path" } })
        assert.equal(200, (env.send(env.request("MESSAGE", "sip:bob@example.com"))).status)
        assert.is_not_nil(edge.MESSAGE)
        assert.is_nil(bob.MESSAGE)
        assert.same({ path }, edge.MESSAGE:headers("Route"))
        assert.equal(("sip:bob@127.0.0.1:%d"):format(bob.ep.listeners[1].port), edge.MESSAGE.uri)
      end)
    end)

    it("RFC 3581: a UA behind a NAT is reached where its REGISTER came from", function()
      with_proxy(nil, function(env)
        local bob = uas(env)
        env.register(bob.ep, "bob", { contact = "<sip:bob@10.0.0.99:5060>" })
        assert.equal(200, (env.send(env.request("MESSAGE", "sip:bob@example.com"))).status)
        assert.is_not_nil(bob.MESSAGE)
        assert.equal("sip:bob@10.0.0.99:5060", bob.MESSAGE.uri)
      end)
    end)
  end)

  describe("forking (§16.5, §16.6) and the best response (§16.7)", function()
    it("equal q: in parallel; the first 2xx wins and the other branch is cancelled", function()
      with_proxy(nil, function(env)
        local slow = uas(env, { final = 200, delay = 1, user = "bob1" })
        local fast = uas(env, { final = 200, delay = 0.05, user = "bob2" })
        env.register(slow.ep, "bob")
        env.register(fast.ep, "bob", { contact = ("<sip:bob@127.0.0.1:%d>"):format(fast.ep.listeners[1].port) })
        local t0 = sip.now()
        local inv = env.request("INVITE", "sip:bob@example.com")
        local rsp = env.send(inv)
        assert.equal(200, rsp.status)
        assert.matches("bob2", rsp:header("Contact"))
        assert.is_true(sip.now() - t0 < 0.8)
        assert.is_true(eventually(function() return slow.cancels == 1 end)) -- §16.7 step 10
        env.client:send(env.ack(inv, rsp))
        assert.is_true(eventually(function() return #fast.acks == 1 end))
      end)
    end)

    it("different q: in sequence, highest first; a 4xx moves on to the next", function()
      with_proxy(nil, function(env)
        -- the first target takes 0.3 s to refuse: in sequence, the second hears nothing before
        local first = uas(env, { final = 486, user = "first", delay = 0.3 })
        local second = uas(env, { final = 200, user = "second" })
        env.register(first.ep, "bob", { q = "0.9" })
        env.register(second.ep, "bob", { q = "0.5" })
        local inv = env.request("INVITE", "sip:bob@example.com")
        local rsp = env.send(inv, { timeout = 5 })
        assert.equal(200, rsp.status)
        assert.matches("second", rsp:header("Contact"))
        assert.is_not_nil(first.INVITE)
        assert.is_not_nil(second.INVITE)
        -- (less a microsecond: sip.now() counts from the epoch, where doubles step by 2^-22 s)
        assert.is_true(second.at.INVITE - first.at.INVITE >= 0.3 - 1e-6, "the branches overlapped")
        assert.equal(0, first.cancels + second.cancels)
        env.client:send(env.ack(inv, rsp))
      end)
    end)

    it("in sequence with a ring limit: a branch that only rings is cancelled and the next tried", function()
      with_proxy({ route = function(req, px)
        if req.method ~= "INVITE" then return proxy.default_route(req, px) end
        px:relay(req, px:lookup(req.uri), { parallel = false, timeout = 0.2 })
      end }, function(env)
        local first = uas(env, { user = "first" }) -- rings forever
        local second = uas(env, { final = 200, user = "second" })
        env.register(first.ep, "bob")
        env.register(second.ep, "bob", { contact = ("<sip:bob@127.0.0.1:%d>"):format(second.ep.listeners[1].port) })
        local inv = env.request("INVITE", "sip:bob@example.com")
        local rsp, prov = env.send(inv)
        assert.equal(200, rsp.status)
        assert.matches("second", rsp:header("Contact"))
        assert.equal(1, first.cancels)
        assert.same({ 100, 180, 180 }, prov)
        env.client:send(env.ack(inv, rsp))
      end)
    end)

    local best = {
      { "a 4xx beats a 5xx", { 503, 486 }, 486 },
      { "a 6xx wins and cancels the rest", { 603, false }, 603 },
      { "a lone 503 goes up as 500 (§16.7 step 6)", { 503 }, 500 },
      { "401 and 407 challenges are merged (step 7)", { 401, 407 }, { 401, 407 } },
    }
    for _, c in ipairs(best) do
      it(c[1], function()
        with_proxy(nil, function(env)
          local agents = {}
          for i, code in ipairs(c[2]) do
            local hdr
            if code == 401 then hdr = { ["WWW-Authenticate"] = 'Digest realm="a.example.com", nonce="1"' } end
            if code == 407 then hdr = { ["Proxy-Authenticate"] = 'Digest realm="b.example.com", nonce="2"' } end
            agents[i] = uas(env, { final = code or nil, delay = code and 0.05 * i or nil, headers = hdr })
            env.register(agents[i].ep, "bob", { contact = ("<sip:bob%d@127.0.0.1:%d>"):format(i, agents[i].ep.listeners[1].port) })
          end
          local rsp = env.send(env.request("INVITE", "sip:bob@example.com"), { timeout = 5 })
          if type(c[3]) == "table" then
            assert.is_true(rsp.status == 401 or rsp.status == 407)
            assert.truthy(rsp:header("WWW-Authenticate"))
            assert.truthy(rsp:header("Proxy-Authenticate"))
          else
            assert.equal(c[3], rsp.status)
          end
          if c[2][2] == false then
            assert.is_true(eventually(function() return agents[2].cancels == 1 end))
          end
        end)
      end)
    end

    it("px:relay returns the best response to the route, which may try elsewhere", function()
      local seen
      with_proxy({ route = function(req, px)
        if req.method ~= "INVITE" then return proxy.default_route(req, px) end
        local rsp = px:relay(req, px:lookup("sip:busy@example.com"))
        seen = rsp.status
        if rsp.status == 486 then px:relay(req, px:lookup("sip:voicemail@example.com")) end
      end }, function(env)
        local busy = uas(env, { final = 486 })
        local vm = uas(env, { final = 200, user = "voicemail" })
        env.register(busy.ep, "busy")
        env.register(vm.ep, "voicemail")
        local inv = env.request("INVITE", "sip:bob@example.com")
        local rsp = env.send(inv)
        assert.equal(486, seen)
        assert.equal(200, rsp.status)
        assert.matches("voicemail", rsp:header("Contact"))
        env.client:send(env.ack(inv, rsp))
      end)
    end)
  end)

  describe("§16.10 CANCEL", function()
    it("answers 200, cancels the branches, and the INVITE ends with 487", function()
      with_proxy(nil, function(env)
        local bob = uas(env, {}) -- rings, never answers
        env.register(bob.ep, "bob")
        local inv = env.request("INVITE", "sip:bob@example.com")
        local cancel_rsp
        local rsp, prov = env.send(inv, { on_provisional = function(r)
          if r.status == 180 then
            local t = env.client.last_txn
            loop.spawn(function()
              local w = sip.waiter()
              assert(t:cancel(function(_, ev, a) if ev == "response" and a.status >= 200 then w:wake(a) end end))
              cancel_rsp = w:block(2)
            end)
          end
        end })
        assert.equal(487, rsp.status)
        assert.same({ 100, 180 }, prov)
        assert.equal(200, cancel_rsp.status)
        assert.equal(1, bob.cancels)
      end)
    end)

    it("a CANCEL matching nothing is 481", function()
      with_proxy(nil, function(env)
        local req = env.request("CANCEL", "sip:bob@example.com")
        assert.equal(481, (env.send(req)).status)
      end)
    end)
  end)

  describe("§16.8 Timer C", function()
    it("cancels a branch that rang but never answered", function()
      with_proxy({ timer_c = 0.3 }, function(env)
        local bob = uas(env, {})
        env.register(bob.ep, "bob")
        local rsp = env.send(env.request("INVITE", "sip:bob@example.com"))
        assert.equal(487, rsp.status)
        assert.equal(1, bob.cancels)
      end)
    end)

    it("gives up a branch where nothing answered: 408", function()
      with_proxy({ timer_c = 0.1 }, function(env)
        -- an agent whose every datagram is lost: nothing ever comes back
        local mute = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" }, loss = 0.99999, handler = function() end })
        env.eps[#env.eps + 1] = mute
        assert(env.px.registrar.location:put("sip:bob@example.com", { {
          contact = ("sip:bob@127.0.0.1:%d"):format(mute.listeners[1].port), expires = os.time() + 600 } }))
        local t0 = sip.now()
        local rsp = env.send(env.request("INVITE", "sip:bob@example.com"))
        assert.equal(408, rsp.status)
        assert.is_true(sip.now() - t0 < 1)
      end)
    end)
  end)

  describe("authentication (§22.3)", function()
    local users = { alice = "wonderland", bob = "builder" }

    -- bob's REGISTER without credentials, t changing its fields, sent by the client: rsp, req
    local function register_bob(env, t)
      local fields = { method = "REGISTER", uri = "sip:example.com", from = "<sip:bob@example.com>",
        to = "<sip:bob@example.com>", contact = "<sip:bob@127.0.0.1:5999>" }
      for k, v in pairs(t or {}) do fields[k] = v end
      local req = sip.request(fields)
      return assert(env.client:request(req, { dest = env.dest, timeout = 2 })), req
    end

    it("REGISTER is challenged with 401; a call from a local user with 407", function()
      with_proxy({ users = users }, function(env)
        local bob = uas(env, { final = 200 })
        env.register(bob.ep, "bob", { auth = auth.client { user = "bob", password = "builder" } })
        local msg = env.request("MESSAGE", "sip:bob@example.com", { body = "user2, come here.", content_type = "text/plain" })
        local rsp = env.send(msg)
        assert.equal(407, rsp.status)
        assert.truthy(rsp:header("Proxy-Authenticate"))
        local again = assert(auth.client { user = "alice", password = "wonderland" }:authorize(msg, rsp))
        rsp = env.send(again)
        assert.equal(200, rsp.status)
        -- our realm's credentials stop here
        assert.is_nil(bob.MESSAGE:header("Proxy-Authorization"))
        assert.equal("user2, come here.", bob.MESSAGE.body)
      end)
    end)

    it("a local user cannot send as another (403); requests from other domains pass", function()
      with_proxy({ users = users }, function(env)
        local bob = uas(env)
        env.register(bob.ep, "bob", { auth = auth.client { user = "bob", password = "builder" } })
        local msg = env.request("MESSAGE", "sip:bob@example.com", { from = "<sip:alice@example.com>" })
        local rsp = env.send(msg)
        local again = assert(auth.client { user = "bob", password = "builder" }:authorize(msg, rsp))
        assert.equal(403, (env.send(again)).status)
        rsp = env.send(env.request("MESSAGE", "sip:bob@example.com", { from = "<sip:carol@elsewhere.example.org>" }))
        assert.equal(200, rsp.status)
      end)
    end)

    it("§10.3 step 4: a user registers its own address only; with own-or-free also addresses nobody owns", function()
      local function register_as(env, ep, user, aor)
        local req = sip.request { method = "REGISTER", uri = "sip:example.com", from = ("<sip:%s@example.com>"):format(user),
          to = ("<%s>"):format(aor), contact = ("<sip:%s@127.0.0.1:%d>"):format(user, ep.listeners[1].port), expires = 600 }
        local rsp = assert(ep:request(req, { dest = env.dest, timeout = 2 }))
        local cl = auth.client { user = user, password = users[user] }
        return assert(ep:request(assert(cl:authorize(req, rsp)), { dest = env.dest, timeout = 2 })).status
      end
      with_proxy({ users = users, register_policy = "own-or-free" }, function(env)
        local ep = env.client
        assert.equal(200, register_as(env, ep, "bob", "sip:bob@example.com"))
        assert.equal(403, register_as(env, ep, "bob", "sip:alice@example.com"))
        assert.equal(200, register_as(env, ep, "bob", "sip:doorbell@example.com")) -- nobody's
        assert.equal(200, register_as(env, ep, "bob", "sip:example.com")) -- no user part: nobody's
      end)
      with_proxy({ users = users }, function(env) -- the default: "own"
        assert.equal(403, register_as(env, env.client, "bob", "sip:doorbell@example.com"))
        assert.equal(403, register_as(env, env.client, "bob", "sip:alice@example.com"))
        assert.equal(200, register_as(env, env.client, "alice", "sip:alice@example.com"))
      end)
    end)

    -- RFC 3261 §8.2.7: the first REGISTER of every registration gets its 401 from the C stack's
    -- gate (sip_gate.h), without a transaction or a call into Lua; it must be the very answer
    -- the registrar gives, and leave to Lua everything another rule might answer otherwise.
    it("the C stack sends a REGISTER without credentials the registrar's own 401, no transaction made", function()
      local function first_401(popts)
        local got
        with_proxy(popts, function(env)
          local rsp, req = register_bob(env, { from = "<sip:bob@example.com>;tag=f1", call_id = "gate-1@127.0.0.1",
            cseq = 7, expires = 600 })
          got = { rsp = rsp, first = env.px.ep:stats() }
          -- its nonce serves the registration that follows
          local again = assert(auth.client { user = "bob", password = "builder" }:authorize(req, rsp))
          got.second = assert(env.client:request(again, { dest = env.dest, timeout = 2 })).status
          got.last = env.px.ep:stats()
        end)
        return got
      end
      local fast = first_401 { users = users, algorithms = { "SHA-256", "MD5" } }
      local lua = first_401 { users = users, algorithms = { "SHA-256", "MD5" }, fast_challenges = false }
      assert.equal(1, fast.first.gated)
      assert.equal(0, fast.first.created)
      assert.equal(0, lua.first.gated)
      assert.equal(1, lua.first.created)
      assert.equal(200, fast.second)
      assert.equal(200, lua.second)
      assert.equal(1, fast.last.created)
      -- byte for byte, but for what is fresh each time: To tag, nonces, branch, the client's port
      local function shape(rsp)
        return (tostring(rsp):gsub("branch=[^;\r\n]+", "branch=*"):gsub('nonce="[^"]*"', 'nonce="*"')
          :gsub("(\r\nTo: [^\r\n]*;tag=)[^;\r\n]+", "%1*"):gsub("127%.0%.0%.1:%d+", "127.0.0.1:*"):gsub("rport=%d+", "rport=*"))
      end
      assert.equal(shape(lua.rsp), shape(fast.rsp))
      assert.equal(2, #fast.rsp:headers("WWW-Authenticate"))
      assert.truthy(fast.rsp:header("WWW-Authenticate"):find('algorithm=SHA-256, qop="auth"', 1, true))
      assert.truthy(shape(fast.rsp):find("\r\nVia: SIP/2.0/UDP 127.0.0.1:*;branch=*;received=127.0.0.1;rport=*\r\n", 1, true))
    end)

    it("leaves to Lua every REGISTER another rule may answer otherwise", function()
      with_proxy({ users = users }, function(env)
        local function status(t) return (register_bob(env, t)).status end
        assert.is_true(env.px.gated)
        assert.equal(420, status { headers = { Require = "foo" } }) -- §10.3 step 2
        assert.equal(420, status { headers = { ["Proxy-Require"] = "foo" } }) -- §16.3 step 5
        assert.equal(483, status { max_forwards = 0 }) -- §16.3 step 3
        assert.equal(407, status { uri = "sip:example.net" }) -- not ours: relayed for a local user
        -- credentials of another realm: the registrar challenges, from Lua
        assert.equal(401, status { headers = { Authorization = 'Digest username="bob", realm="other", nonce="n", uri="sip:example.com", response="00"' } })
        assert.equal(0, env.px.ep:stats().gated)
        assert.equal(401, status {})
        assert.equal(1, env.px.ep:stats().gated)
      end)
    end)

    it("the gate stays off under a route function and with a line logged per transaction", function()
      local function gated(popts)
        local n
        with_proxy(popts, function(env)
          assert.equal(401, (register_bob(env)).status)
          n = env.px.ep:stats().gated
        end)
        return n
      end
      assert.equal(0, gated { users = users, route = proxy.default_route })
      assert.equal(0, gated { users = users, log = function() end, log_level = "info" })
      assert.equal(1, gated { users = users, log = function() end, log_level = "warn" })
    end)

    it("§16.5: to a stranger an unknown user is one offline (480); our own users are told 404", function()
      with_proxy({ users = users }, function(env)
        local from = { from = "<sip:carol@elsewhere.example.org>" }
        assert.equal(480, (env.send(env.request("MESSAGE", "sip:alice@example.com", from))).status)
        assert.equal(480, (env.send(env.request("MESSAGE", "sip:zed@example.com", from))).status)
        local function as_bob(uri)
          local req = env.request("MESSAGE", uri, { from = "<sip:bob@example.com>" })
          local rsp = env.send(req)
          assert.equal(407, rsp.status)
          local again = assert(auth.client { user = "bob", password = users.bob }:authorize(req, rsp))
          return (env.send(again)).status
        end
        assert.equal(480, as_bob("sip:alice@example.com"))
        assert.equal(404, as_bob("sip:zed@example.com"))
      end)
    end)
  end)

  it("RFC 6026: a 2xx of an INVITE we relayed, matching no transaction, goes up statelessly along the Vias", function()
    with_proxy(nil, function(env)
      local bob = uas(env, { final = 200 })
      env.register(bob.ep, "bob")
      local inv = env.request("INVITE", "sip:bob@example.com")
      assert.equal(200, (env.send(inv)).status)
      local w = sip.waiter()
      env.client.on_stray = function(r) w:wake(r) end
      local function raw(call_id)
        return table.concat {
          "SIP/2.0 200 OK\r\n",
          "Via: SIP/2.0/UDP ", env.sent_by, ";branch=z9hG4bKgone.1\r\n",
          "Via: SIP/2.0/UDP 127.0.0.1:", env.client.listeners[1].port, ";branch=z9hG4bKcaller\r\n",
          "From: <sip:alice@example.com>;tag=", inv.from.tag, "\r\nTo: <sip:bob@example.com>;tag=b\r\nCall-ID: ", call_id,
          "\r\nCSeq: ", inv.cseq, " INVITE\r\nContact: <sip:bob@127.0.0.1:9>\r\nContent-Length: 0\r\n\r\n",
        }
      end
      assert(env.client:send(raw(inv.call_id), env.dest))
      local r = w:block(2)
      assert.is_not_nil(r)
      assert.equal(200, r.status)
      assert.equal(1, #r:vias())
      -- a stray response that is not ours is dropped; so is one of an INVITE we never relayed
      local w2 = sip.waiter()
      env.client.on_stray = function(x) w2:wake(x) end
      assert(env.client:send(raw(inv.call_id):gsub(env.sent_by:gsub("%.", "%%."), "192.0.2.1:5060"), env.dest))
      assert(env.client:send(raw("never-relayed@x"), env.dest))
      assert.is_nil((w2:block(0.2)))
    end)
  end)

  it("RFC 3581 §4: the Via it passes on carries received and rport as learnt from the sender", function()
    with_proxy(nil, function(env)
      local bob = uas(env)
      env.register(bob.ep, "bob")
      local req = env.request("MESSAGE", "sip:bob@example.com")
      -- a sent-by that is not the source (a phone behind NAT), asking for rport
      req:pop_via()
      req:push_via("SIP/2.0/UDP 10.9.8.7:5062;rport;branch=z9hG4bKnat1")
      local client = env.client.listeners[1].port
      assert(env.client:send(req, env.dest))
      assert.is_true(eventually(function() return bob.MESSAGE ~= nil end))
      local vias = bob.MESSAGE:vias()
      assert.equal(2, #vias)
      assert.equal("127.0.0.1", vias[2].received)
      assert.equal(client, vias[2].rport)
      assert.equal("z9hG4bKnat1", vias[2].branch)
      assert.equal("10.9.8.7", vias[2].host)
    end)
  end)

  describe("dual-stack (RFC 5658): Via and Record-Route name the listener of each side's family", function()
    local function dual(fn)
      with_proxy({ listen = { "udp:127.0.0.1:0", "tcp:127.0.0.1:0", "udp:[::1]:0" } }, function(env)
        local v6
        for _, l in ipairs(env.px.ep.listeners) do if l.host == "::1" then v6 = l.port end end
        env.dest6 = { proto = "udp", host = "::1", port = v6 }
        env.sent_by6 = "[::1]:" .. v6
        fn(env)
      end)
    end
    -- bob registers over IPv6, his Contact on [::1]
    local function register6(env, bob)
      local reg = sip.request { method = "REGISTER", uri = "sip:example.com", from = "<sip:bob@example.com>",
        to = "<sip:bob@example.com>", contact = ("<sip:bob@[::1]:%d>"):format(bob.ep.listeners[1].port), expires = 600 }
      assert.equal(200, assert(bob.ep:request(reg, { dest = env.dest6, timeout = 2 })).status)
    end
    it("a call entirely on [::1] is recorded and forwarded with [::1] only", function()
      dual(function(env)
        local bob = uas(env, { final = 200, listen = { "udp:[::1]:0" } })
        register6(env, bob)
        local caller = env.endpoint(nil, { "udp:[::1]:0" })
        local inv = env.request("INVITE", "sip:bob@example.com")
        assert.equal(200, (env.send(inv, { ep = caller, dest = env.dest6 })).status)
        local rr = bob.INVITE:addrs("Record-Route")
        assert.equal(1, #rr)
        assert.matches("^sip:%[::1%]:" .. env.dest6.port .. ";lr;rrt=", rr[1].uri)
        assert.equal("::1", bob.INVITE:via().host:gsub("[%[%]]", ""))
      end)
    end)
    it("from 127.0.0.1 to [::1] the route is recorded twice, one value per family", function()
      dual(function(env)
        local bob = uas(env, { final = 200, listen = { "udp:[::1]:0" } })
        register6(env, bob)
        local inv = env.request("INVITE", "sip:bob@example.com")
        local rsp = env.send(inv)
        assert.equal(200, rsp.status)
        local rr = bob.INVITE:addrs("Record-Route")
        assert.equal(2, #rr)
        assert.matches("^sip:%[::1%]:", rr[1].uri)
        assert.matches("^sip:127%.0%.0%.1:", rr[2].uri)
        -- the caller's BYE comes in on IPv4 along both values and reaches bob on IPv6 (the
        -- scripted UAS's Contact names 127.0.0.1: the BYE goes to its registered address)
        local bye = env.in_dialog("BYE", inv, rsp)
        bye:set_uri(("sip:bob@[::1]:%d"):format(bob.ep.listeners[1].port))
        assert.equal(200, (env.send(bye, { dest = false })).status)
        assert.equal("::1", bob.BYE.source.host)
      end)
    end)
  end)

  it("one domain for all its host names: bob@ its address and bob@example.com are one binding", function()
    with_proxy(nil, function(env)
      local bob = uas(env)
      local req = sip.request { method = "REGISTER", uri = "sip:" .. env.sent_by, from = "<sip:bob@" .. env.sent_by .. ">",
        to = "<sip:bob@" .. env.sent_by .. ">", contact = ("<sip:bob@127.0.0.1:%d>"):format(bob.ep.listeners[1].port),
        expires = 600 }
      assert.equal(200, assert(bob.ep:request(req, { dest = env.dest, timeout = 2 })).status)
      assert.same({ "sip:bob@example.com" }, env.px.location:aors())
      assert.equal(200, (env.send(env.request("MESSAGE", "sip:bob@example.com"))).status)
      assert.equal(200, (env.send(env.request("MESSAGE", "sip:bob@" .. env.sent_by))).status)
      assert.equal(2, #bob.requests)
    end)
  end)

  it("sweeps expired bindings on its timer; an expired binding is no target", function()
    local now = os.time()
    with_proxy({ sweep_interval = 0.05, clock = function() return now end }, function(env)
      local bob = uas(env)
      env.register(bob.ep, "bob")
      assert.same({ "sip:bob@example.com" }, env.px.location:aors())
      now = now + 601
      assert.equal(404, (env.send(env.request("MESSAGE", "sip:bob@example.com"))).status)
      assert.is_true(eventually(function() return #env.px.location:aors() == 0 end))
    end)
  end)

  it("logs one line per transaction", function()
    local lines = {}
    with_proxy({ log = function(level, line) lines[#lines + 1] = level .. " " .. line end }, function(env)
      local bob = uas(env)
      env.register(bob.ep, "bob")
      env.send(env.request("MESSAGE", "sip:bob@example.com"))
    end)
    assert.equal(2, #lines)
    assert.matches("^info REGISTER sip:example.com from udp:127%.0%.0%.1:%d+ %-> 200 %[1 binding%]", lines[1])
    assert.matches("^info MESSAGE sip:bob@example.com from udp:127%.0%.0%.1:%d+ %-> 200", lines[2])
  end)

  it("an error in the route answers 500, is logged, and the proxy keeps serving", function()
    local logged
    with_proxy({ route = function(req, px)
      if req.method == "MESSAGE" then error("route broke") end
      px:reply(req, 200)
    end, log = function(level, line) if level == "error" then logged = line end end }, function(env)
      assert.equal(500, (env.send(env.request("MESSAGE", "sip:x@example.com"))).status)
      assert.matches("route broke", logged)
      assert.equal(200, (env.send(env.request("OPTIONS", "sip:x@example.com"))).status)
    end)
  end)
end)
