-- The relay policy of sip.proxy: the tricks that turned it into an open relay, over UDP and TCP,
-- each aimed at a listening sink that must hear nothing; and beside them the requests the
-- policy must still let through (a dialog along the route we recorded, our own users with
-- credentials, a stranger calling one of our users). Endpoints on 127.0.0.1 port 0, T1 50 ms,
-- on the virtual network and clock of sip.test (no socket; streams carry messages there, without
-- connections).
local sip = require "sip"
local test = require "sip.test"
local auth = require "sip.auth"
local proxy = require "sip.proxy"

local T1 = 0.05
local USERS = { alice = "wonderland", bob = "builder" }
-- A to-be-closed value that calls fn when its scope ends (also when it ends by an error).
local function closing(fn) return setmetatable({}, { __close = fn }) end

local SDP = "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n"

-- A proxy for example.com (users alice and bob), a sink that answers and keeps all it hears,
-- bob's phone (registered), and a stranger's endpoint; fn(env) runs in the loop.
local function with_setup(fn, popts)
  local net <close> = test.new()
  net:run(function()
    local o = { listen = { "udp:127.0.0.1:0", "tcp:127.0.0.1:0" }, realm = "example.com", users = USERS, t1 = T1,
      sweep_interval = 0 }
    for k, v in pairs(popts or {}) do o[k] = v end
    local px <close> = assert(proxy.new(o))
    local env = { px = px, heard = {}, bob_heard = {} }
    local function endpoint(handler)
      return assert(sip.endpoint { listen = { "udp:127.0.0.1:0", "tcp:127.0.0.1:0" }, handler = handler, t1 = T1 })
    end
    env.sink = endpoint(function(req)
      env.heard[#env.heard + 1] = req
      if req.method ~= "ACK" then req:reply(200) end
    end)
    env.bob = endpoint(function(req)
      env.bob_heard[#env.bob_heard + 1] = req
      if req.method == "INVITE" then
        req:reply(200, nil, { headers = { Contact = ("<sip:bob@127.0.0.1:%d>"):format(env.bob.by_proto.udp.port),
          ["Record-Route"] = req:headers("Record-Route") }, body = SDP, content_type = "application/sdp" })
      elseif req.method ~= "ACK" then
        req:reply(200)
      end
    end)
    env.evil = endpoint()
    local _ <close> = closing(function()
      env.sink:close()
      env.bob:close()
      env.evil:close()
    end)
    env.at = function(proto) return { proto = proto, host = "127.0.0.1", port = px.ep.by_proto[proto].port } end
    env.me = function(proto)
      return ("127.0.0.1:%d%s"):format(px.ep.by_proto[proto].port, proto == "udp" and "" or ";transport=" .. proto)
    end
    env.sink_uri = function(user, proto)
      return ("sip:%s@127.0.0.1:%d%s"):format(user or "anything", env.sink.by_proto[proto].port,
        proto == "udp" and "" or ";transport=" .. proto)
    end
    -- bob registers (with digest) from his phone
    local reg = sip.request { method = "REGISTER", uri = "sip:example.com", from = "<sip:bob@example.com>",
      to = "<sip:bob@example.com>", contact = ("<sip:bob@127.0.0.1:%d>"):format(env.bob.by_proto.udp.port), expires = 600 }
    local r = assert(env.bob:request(reg, { dest = env.at("udp"), timeout = 2 }))
    r = assert(env.bob:request(assert(auth.client { user = "bob", password = USERS.bob }:authorize(reg, r)),
      { dest = env.at("udp"), timeout = 2 }))
    assert.equal(200, r.status)
    local _ <close> = closing(function()
      if coroutine.isyieldable() then sip.sleep(0.03) end -- not when a failed run is closed
    end)
    fn(env)
  end)
end

-- A request as a stranger writes it: sip.request's fields, From evil@attacker.test by default.
local function forge(env, proto, t)
  local r = {
    method = t.method or "INVITE", uri = t.uri, from = t.from or "<sip:evil@attacker.test>;tag=e1",
    to = t.to or ("<" .. t.uri .. ">"), call_id = t.call_id, cseq = t.cseq,
    contact = ("<sip:evil@127.0.0.1:%d>"):format(env.evil.by_proto[proto].port), route = t.route,
    headers = t.headers, via = { host = "127.0.0.1", port = env.evil.by_proto[proto].port, transport = proto:upper() },
  }
  if r.method == "INVITE" or t.body then r.body, r.content_type = t.body or SDP, "application/sdp" end
  return sip.request(r)
end

-- A stranger's INVITE for bob (forge's fields t), through the proxy over UDP: answered 200.
local function call_bob(env, t)
  t.uri = "sip:bob@example.com"
  local inv = forge(env, "udp", t)
  local rsp = env.evil:request(inv, { dest = env.at("udp"), timeout = 2 })
  assert.equal(200, rsp.status)
  return inv, rsp
end

local function send(env, proto, req)
  if req.method == "ACK" then
    assert(env.evil:send(req, env.at(proto)))
    sip.sleep(0.15)
    return nil
  end
  local rsp = env.evil:request(req, { dest = env.at(proto), timeout = 2 })
  return rsp and rsp.status
end

describe("the relay policy of sip.proxy", function()
  for _, proto in ipairs { "udp", "tcp" } do
    describe("over " .. proto:upper() .. ", a stranger's request reaches no foreign host", function()
      local tricks = {
        { "an initial request with a preloaded Route past us (403)", 403, function(env)
          return { uri = env.sink_uri("anything", proto), route = { "<sip:" .. env.me(proto) .. ";lr>",
            "<" .. env.sink_uri(nil, proto):gsub("anything@", "") .. ";lr>" } }
        end },
        { "an initial request for our user with a preloaded Route past us (403)", 403, function(env)
          return { uri = "sip:bob@example.com", route = { "<sip:" .. env.me(proto) .. ";lr>",
            "<" .. env.sink_uri(nil, proto):gsub("anything@", "") .. ";lr>" } }
        end },
        { "an INVITE with any To tag and a Route naming us (403)", 403, function(env)
          return { uri = env.sink_uri("anything", proto), to = "<sip:anything@example.com>;tag=t1",
            route = { "<sip:" .. env.me(proto) .. ";lr>" } }
        end },
        { "a MESSAGE with any To tag and a Route naming us (403)", 403, function(env)
          return { method = "MESSAGE", body = "hi", uri = env.sink_uri("premium", proto), to = "<sip:x@example.com>;tag=t1",
            route = { "<sip:" .. env.me(proto) .. ";lr>" } }
        end },
        { "a To tag and a Route naming us with a token of its own making (403)", 403, function(env)
          return { uri = env.sink_uri("anything", proto), to = "<sip:x@example.com>;tag=t1",
            route = { "<sip:" .. env.me(proto) .. ";lr;rrt=" .. ("0"):rep(32) .. ">" } }
        end },
        { "a spoofed From of our user with a To tag and no Route (407: credentials first)", 407, function(env)
          return { uri = env.sink_uri("anything", proto), from = "<sip:alice@example.com>;tag=a1",
            to = "<sip:x@elsewhere.test>;tag=t1" }
        end },
        { "an initial request for another domain (403)", 403, function(env)
          return { uri = env.sink_uri("anything", proto) }
        end },
        { "an ACK with a body, to any target (dropped)", nil, function(env)
          return { method = "ACK", body = SDP, uri = env.sink_uri("anything", proto), to = "<sip:x@y.test>;tag=t1" }
        end },
        { "an ACK along a Route naming us, then the sink (dropped)", nil, function(env)
          return { method = "ACK", uri = env.sink_uri("anything", proto), to = "<sip:x@y.test>;tag=t1",
            route = { "<sip:" .. env.me(proto) .. ";lr>", "<" .. env.sink_uri(nil, proto):gsub("anything@", "") .. ";lr>" } }
        end },
      }
      for _, t in ipairs(tricks) do
        it(t[1], function()
          with_setup(function(env)
            assert.equal(t[2], send(env, proto, forge(env, proto, t[3](env))))
            sip.sleep(0.05)
            assert.equal(0, #env.heard)
          end)
        end)
      end
    end)
  end

  it("the token of one dialog does not open another: a new Call-ID with it is refused", function()
    with_setup(function(env)
      local _, rsp = call_bob(env, { call_id = "d1@evil" })
      local rr = rsp:addrs("Record-Route")[1].value
      assert.matches(";rrt=%x+", rr)
      -- the token of d1, reused on another dialog aimed at the sink
      local fake = forge(env, "udp", { method = "MESSAGE", body = "x", uri = env.sink_uri("premium", "udp"),
        call_id = "d2@evil", to = "<sip:bob@example.com>;tag=zz", route = { rr } })
      assert.equal(403, send(env, "udp", fake))
      assert.equal(0, #env.heard)
    end)
  end)

  it("a stranger's call to our user is relayed; its ACK and BYE go along the recorded route", function()
    with_setup(function(env)
      local inv, rsp = call_bob(env, { call_id = "call-1@evil", cseq = 1 })
      local route = { rsp:addrs("Record-Route")[1].value }
      local ack = sip.request { method = "ACK", uri = rsp:addrs("Contact")[1].uri, from = inv:header("From"),
        to = rsp:header("To"), call_id = inv.call_id, cseq = 1, route = route,
        via = { host = "127.0.0.1", port = env.evil.by_proto.udp.port } }
      assert(env.evil:send(ack, env.at("udp")))
      local bye = sip.request { method = "BYE", uri = rsp:addrs("Contact")[1].uri, from = inv:header("From"),
        to = rsp:header("To"), call_id = inv.call_id, cseq = 2, route = route }
      assert.equal(200, (env.evil:request(bye, { dest = env.at("udp"), timeout = 2 })).status)
      local methods = {}
      for _, r in ipairs(env.bob_heard) do methods[#methods + 1] = r.method end
      assert.same({ "INVITE", "ACK", "BYE" }, methods)
    end)
  end)

  it("bob's requests back to the caller bring the token from the other side (From and To tags swapped)", function()
    with_setup(function(env)
      local inv = forge(env, "udp", { uri = "sip:bob@example.com", call_id = "call-2@evil", cseq = 1,
        from = "<sip:carol@elsewhere.test>;tag=c1" })
      -- the caller is the sink this time: bob's BYE goes to its Contact
      local contact = ("<sip:carol@127.0.0.1:%d>"):format(env.sink.by_proto.udp.port)
      inv:set_header("Contact", contact)
      local rsp = env.evil:request(inv, { dest = env.at("udp"), timeout = 2 })
      assert.equal(200, rsp.status)
      local bob_inv = env.bob_heard[1]
      local rr = bob_inv:addrs("Record-Route")
      local bye = sip.request { method = "BYE", uri = bob_inv:addrs("Contact")[1].uri, from = rsp:header("To"),
        to = bob_inv:header("From"), call_id = bob_inv.call_id, cseq = 1, route = { rr[1].value } }
      assert.equal(200, (env.bob:request(bye, { dest = env.at("udp"), timeout = 2 })).status)
      assert.equal(1, #env.heard)
      assert.equal("BYE", env.heard[1].method)
    end)
  end)

  it("the ACK of a 2xx sent to the proxy's own address reaches the branch that answered, once", function()
    with_setup(function(env)
      local inv, rsp = call_bob(env, { call_id = "call-3@evil", cseq = 1 })
      -- as SIPp's built-in uac: the Request-URI is user@proxy, no Route
      local ack = sip.request { method = "ACK", uri = "sip:bob@" .. env.me("udp"), from = inv:header("From"),
        to = rsp:header("To"), call_id = inv.call_id, cseq = 1,
        via = { host = "127.0.0.1", port = env.evil.by_proto.udp.port } }
      assert(env.evil:send(ack, env.at("udp")))
      sip.sleep(0.2)
      local acks = 0
      for _, r in ipairs(env.bob_heard) do if r.method == "ACK" then acks = acks + 1 end end
      assert.equal(1, acks)
    end)
  end)

  it("our own user, with credentials, may call another domain; without them gets 407", function()
    with_setup(function(env)
      local req = forge(env, "udp", { method = "MESSAGE", body = "hi", uri = env.sink_uri("carol", "udp"),
        from = "<sip:alice@example.com>;tag=a2" })
      local rsp = env.evil:request(req, { dest = env.at("udp"), timeout = 2 })
      assert.equal(407, rsp.status)
      assert.equal(0, #env.heard)
      local again = assert(auth.client { user = "alice", password = USERS.alice }:authorize(req, rsp))
      assert.equal(200, (env.evil:request(again, { dest = env.at("udp"), timeout = 2 })).status)
      assert.equal(1, #env.heard)
    end)
  end)

  it("relay = false: not even our own users reach another domain", function()
    with_setup(function(env)
      local req = forge(env, "udp", { method = "MESSAGE", body = "hi", uri = env.sink_uri("carol", "udp"),
        from = "<sip:alice@example.com>;tag=a3" })
      assert.equal(403, send(env, "udp", req))
      assert.equal(0, #env.heard)
    end, { relay = false })
  end)

  it("a route function's px:relay keeps the policy; {trust = true} relaxes it for one request", function()
    local function route(req, px)
      if req.method == "REGISTER" then return px.registrar:handle(req) end
      return px:relay(req, nil, { trust = req:header("X-Trust") == "yes" })
    end
    with_setup(function(env)
      local req = forge(env, "udp", { method = "MESSAGE", body = "hi", uri = env.sink_uri("x", "udp") })
      assert.equal(403, send(env, "udp", req))
      assert.equal(0, #env.heard)
      req = forge(env, "udp", { method = "MESSAGE", body = "hi", uri = env.sink_uri("x", "udp"),
        headers = { ["X-Trust"] = "yes" } })
      assert.equal(200, send(env, "udp", req))
      assert.equal(1, #env.heard)
    end, { route = route })
  end)

  it("logs each refusal with the request and its source", function()
    local lines = {}
    with_setup(function(env)
      send(env, "udp", forge(env, "udp", { uri = env.sink_uri("anything", "udp"), to = "<sip:x@example.com>;tag=t",
        route = { "<sip:" .. env.me("udp") .. ";lr>" } }))
    end, { log = function(_, line) lines[#lines + 1] = line end, log_level = "info" })
    local found
    for _, l in ipairs(lines) do
      if l:find("relay refused: INVITE sip:anything@", 1, true) and l:find("from udp:127.0.0.1:", 1, true) then found = l end
    end
    assert.is_not_nil(found, table.concat(lines, "\n"))
  end)

  it("a secret shorter than 16 bytes is refused", function()
    assert.has_error(function() proxy.new { listen = { "udp:127.0.0.1:0" }, secret = "short" } end,
      "bad argument #1 to 'proxy' (secret must be a string of at least 16 bytes)")
  end)
end)
