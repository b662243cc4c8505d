-- Flows, transports by size and addresses by family, between sip.ua, sip.endpoint and sip.proxy
-- in one process (RFC 5626 §3.3, §4.4.1; RFC 3261 §18.1.1; issue #18). Everything on loopback,
-- timeouts short (an idle timeout of 0.3 s), about 6 s in all.
local sip = require "sip"
local loop = require "sip.loop"
local peers = require "support.peers"

local T1 = 0.05

local function merge(a, b)
  local t = {}
  for k, v in pairs(a or {}) do t[k] = v end
  for k, v in pairs(b or {}) do t[k] = v end
  return t
end

local function run(fn)
  sip.run(function()
    sip.sleep(0)
    fn()
  end)
end

local function new_ua(o)
  return assert(sip.ua(merge({ listen = { "udp:127.0.0.1:0" }, t1 = T1, domain = "example.com" }, o)))
end

local function new_proxy(o)
  return assert(sip.proxy(merge({ listen = { "udp:[::1]:0", "tcp:[::1]:0" }, realm = "example.com",
    sweep_interval = 0, t1 = T1 }, o)))
end

-- the proxy's address over proto, as a URI
local function at(px, proto, family)
  local l = px.ep:listener_for(proto, { host = family == "4" and "127.0.0.1" or "::1" })
  local host = l.host:find(":", 1, true) and ("[" .. l.host .. "]") or l.host
  return ("sip:%s:%d%s"):format(host, l.port, proto == "udp" and "" or (";transport=" .. proto))
end

local function top_via(req) return req:vias()[1] end

describe("flows (RFC 5626) through sip.proxy", function()
  after_each(function() assert.equal(0, loop.active()) end)

  -- bob registers over TCP on [::1] with a proxy whose connections idle out after 0.3 s
  local function with_tcp_bob(fn, bob_opts)
    run(function()
      local px <close> = new_proxy { idle_timeout = 0.3 }
      local bob <close> = new_ua(merge({ user = "bob", listen = { "tcp:[::1]:0" }, idle_timeout = 0.3,
        registrar = at(px, "tcp") }, bob_opts))
      local alice <close> = new_ua { user = "alice", listen = { "udp:[::1]:0" }, outbound_proxy = at(px, "udp") }
      local heard = {}
      bob:on("message", function(req)
        heard[#heard + 1] = req
        return 200
      end)
      local changes = {}
      local reg = assert(bob:register { expires = 60, on_change = function(_, what) changes[#changes + 1] = what end })
      assert.is_number(reg.flow)
      fn { px = px, bob = bob, alice = alice, reg = reg, heard = heard, changes = changes }
    end)
  end

  it("§3.3: a phone on TCP idle longer than the idle timeout is still called, over the flow it registered",
    function()
      with_tcp_bob(function(env)
        sip.sleep(1) -- more than three idle timeouts
        local rsp = assert(env.alice:message("sip:bob@example.com", "still there?"))
        assert.equal(200, rsp.status)
        assert.equal(1, #env.heard)
        assert.equal("tcp", env.heard[1].source.proto)
        assert.equal(env.reg.flow, env.heard[1].source.conn) -- bob's own connection, no new one
        assert.equal(0, env.px.ep:stats().idle_closed)
        assert.equal(0, env.bob.ep:stats().accepted)
      end, { keepalive = false })
    end)

  it("§4.4.1: the UA pings its flow at the keepalive interval and the proxy pongs", function()
    with_tcp_bob(function(env)
      local t0 = loop.now()
      while env.px.ep:stats().keepalives < 3 and loop.now() < t0 + 5 do sip.sleep(0.05) end
      assert.equal(3, math.min(3, env.px.ep:stats().keepalives)) -- every 0.24 to 0.3 s
      assert.is_true(env.bob.ep:heard(env.reg.flow) > t0)
      sip.sleep(0.1) -- the last pong's wait is over
      assert.same({}, env.changes) -- every pong came in time
    end, { keepalive = 0.3 })
  end)

  it("§4.4.1: when its flow dies the UA registers again at once, over a new one", function()
    with_tcp_bob(function(env)
      local binding = env.px.location:get("sip:bob@example.com")[1]
      local old = env.reg.flow
      assert(env.px.ep:drop(binding.source.conn))
      local deadline = loop.now() + 3
      while #env.changes < 2 and loop.now() < deadline do sip.sleep(0.02) end
      assert.same({ "flow-failed", "refreshed" }, env.changes)
      assert.is_number(env.reg.flow)
      assert.are_not.equal(old, env.reg.flow)
      assert.equal(200, assert(env.alice:message("sip:bob@example.com", "again")).status)
      assert.equal(env.reg.flow, env.heard[1].source.conn)
    end, { keepalive = false })
  end)
end)

describe("§18.1.1 transport by size", function()
  after_each(function() assert.equal(0, loop.active()) end)

  local BIG = string.rep("x", 1800)

  -- an endpoint on one port over UDP and (when tcp) TCP, recording what it gets
  local function sink(tcp)
    local port = peers.free_port()
    local got = {}
    local listen = { "udp:127.0.0.1:" .. port }
    if tcp then listen[2] = "tcp:127.0.0.1:" .. port end
    local ep = assert(sip.endpoint { listen = listen, t1 = T1, handler = function(req)
      got[#got + 1] = req
      if req.method ~= "ACK" then req:reply(req.method == "INVITE" and 486 or 200) end
    end })
    return ep, got, port
  end

  for _, case in ipairs { { true, "tcp" }, { false, "udp" } } do
    local tcp, proto = case[1], case[2]
    it(("a 1,800-byte MESSAGE and INVITE from a UA go over %s%s"):format(proto:upper(),
      tcp and "" or " when TCP is refused"), function()
      run(function()
        local _ <close>, got, port = sink(tcp)
        local alice <close> = new_ua { user = "alice" }
        local rsp = assert(alice:message(("sip:x@127.0.0.1:%d"):format(port), BIG))
        assert.equal(200, rsp.status)
        local call = alice:call(("sip:x@127.0.0.1:%d"):format(port), { headers = { { "X-Pad", BIG } } })
        assert.is_nil(call) -- 486
        assert.equal("MESSAGE", got[1].method)
        assert.equal(proto, got[1].source.proto)
        assert.equal(proto:upper(), top_via(got[1]).transport)
        assert.equal("INVITE", got[2].method)
        assert.equal(proto, got[2].source.proto)
        assert.equal(proto:upper(), top_via(got[2]).transport)
        local small = assert(alice:message(("sip:x@127.0.0.1:%d"):format(port), "small"))
        assert.equal(200, small.status)
        assert.equal("udp", got[#got].source.proto)
      end)
    end)

    it(("the proxy relays a 1,800-byte MESSAGE to a UDP binding over %s%s"):format(proto:upper(),
      tcp and "" or " when TCP is refused"), function()
      run(function()
        local px <close> = new_proxy { listen = { "udp:127.0.0.1:0", "tcp:127.0.0.1:0" } }
        local _ <close>, got, port = sink(tcp)
        px.location:put("sip:bob@example.com", { { contact = ("sip:bob@127.0.0.1:%d"):format(port),
          expires = os.time() + 60, q = 1 } })
        local alice <close> = new_ua { user = "alice", outbound_proxy = at(px, "udp", "4") }
        assert.equal(200, assert(alice:message("sip:bob@example.com", BIG)).status)
        assert.equal(proto, got[1].source.proto)
        assert.equal(proto:upper(), top_via(got[1]).transport)
        assert.equal(2, #got[1]:vias())
      end)
    end)
  end
end)

describe("§18.1.1 through the proxy to phones", function()
  after_each(function() assert.equal(0, loop.active()) end)

  for _, case in ipairs { { "udp", "UDP" }, { "tcp", "TCP" } } do
    it(("a 1,800-byte INVITE through the proxy to a phone on UDP%s: answered, ACKed, ended"):format(
      case[1] == "tcp" and " and TCP (over TCP)" or " only (over UDP after all)"), function()
      run(function()
        local px <close> = new_proxy { listen = { "udp:127.0.0.1:0", "tcp:127.0.0.1:0" } }
        local port = peers.free_port()
        local listen = { "udp:127.0.0.1:" .. port }
        if case[1] == "tcp" then listen[2] = "tcp:127.0.0.1:" .. port end
        local bob <close> = new_ua { user = "bob", listen = listen, registrar = at(px, "udp", "4") }
        local alice <close> = new_ua { user = "alice", outbound_proxy = at(px, "udp", "4") }
        local invite, answered
        bob:on("call", function(call)
          invite = call.invite
          answered = call
          call:answer()
        end)
        assert(bob:register { expires = 60 })
        local call = assert(alice:call("sip:bob@example.com", { headers = { { "X-Pad", string.rep("x", 1800) } } }))
        assert.equal(case[1], invite.source.proto)
        assert.equal(case[2], top_via(invite).transport)
        if case[1] == "udp" then assert.is_true(px.ep:stats().connect_failed >= 1) end -- TCP was tried
        local deadline = loop.now() + 3
        while not answered.acked and loop.now() < deadline do sip.sleep(0.02) end
        assert.is_true(answered.acked)
        assert(call:bye())
      end)
    end)
  end
end)

describe("addresses by family and listener (issue #18)", function()
  after_each(function() assert.equal(0, loop.active()) end)

  it("a UA on 127.0.0.1 and [::1] names the listener of the destination's family in Via and Contact",
    function()
      run(function()
        local got = {}
        local ep <close> = assert(sip.endpoint { listen = { "udp:[::1]:0" }, t1 = T1, handler = function(req)
          got[#got + 1] = req
          req:reply(486)
        end })
        local alice <close> = new_ua { user = "alice", listen = { "udp:127.0.0.1:0", "udp:[::1]:0" } }
        local v6 = alice.ep.listeners[2].port
        alice:call(("sip:x@[::1]:%d"):format(ep.listeners[1].port))
        local via = top_via(got[1])
        assert.equal("[::1]", via.host)
        assert.equal(v6, via.port)
        assert.equal(("sip:alice@[::1]:%d"):format(v6), got[1]:addrs("Contact")[1].uri)
      end)
    end)

  it("a wildcard listener names the address its datagrams leave from", function()
    run(function()
      local got = {}
      local ep <close> = assert(sip.endpoint { listen = { "udp:[::1]:0" }, t1 = T1, handler = function(req)
        got[#got + 1] = req
        req:reply(200)
      end })
      local alice <close> = new_ua { user = "alice", listen = { "udp:[::]:0" } }
      assert(alice:message(("sip:x@[::1]:%d"):format(ep.listeners[1].port), "hi"))
      assert.equal("[::1]", top_via(got[1]).host)
    end)
  end)

  it("start-up lines print IPv6 listeners in brackets", function()
    local text = require("sip.endpoint").listener_text
    assert.equal("udp:[::1]:5060", text { proto = "udp", host = "::1", port = 5060 })
    assert.equal("tcp:127.0.0.1:5062", text { proto = "tcp", host = "127.0.0.1", port = 5062 })
  end)
end)
