-- sip.proxy with a route function of the user's: what the stack does around it. Requests within
-- a dialog are routed by the stack (Kamailio's has_totag() + loose_route() as the default) unless
-- the route asks for them; the log line of each transaction shows the status that went upstream,
-- whoever answered. Endpoints on 127.0.0.1 port 0, T1 50 ms.
local sip = require "sip"

local T1 = 0.05
local USERS = { alice = "alice-secret", bob = "bob-secret" }

-- A proxy with route (and more options), bob's and alice's UAs through it; fn(env) in the loop.
local function with_proxy(route, popts, fn)
  sip.run(function()
    local lines, seen = {}, {}
    local o = { listen = "udp:127.0.0.1:0", realm = "example.com", users = USERS, t1 = T1, sweep_interval = 0,
      log = function(_, line) lines[#lines + 1] = line end,
      route = function(req, px)
        seen[#seen + 1] = req.method .. (req.to_tag and " in dialog" or "")
        return route(req, px)
      end }
    for k, v in pairs(popts) do o[k] = v end
    local px <close> = assert(sip.proxy(o))
    local proxy_uri = "sip:127.0.0.1:" .. px.ep.listeners[1].port
    local function ua(user)
      return assert(sip.ua { listen = "udp:127.0.0.1:0", user = user, domain = "example.com", t1 = T1,
        password = USERS[user], registrar = "sip:example.com", outbound_proxy = proxy_uri })
    end
    local bob <close> = ua("bob")
    local alice <close> = ua("alice")
    fn { px = px, bob = bob, alice = alice, lines = lines, seen = seen }
  end)
end

local function lookup_route(req, px)
  if req.method == "REGISTER" then return px.registrar:handle(req) end
  local targets = px:lookup(req.uri)
  if #targets == 0 then return px:reply(req, 404) end
  px:relay(req, targets)
end

-- bob registers and answers; alice calls him and hangs up. Returns bob's call.
local function call_and_hang_up(env)
  assert(env.bob:register { expires = 60, refresh = false })
  local incoming
  env.bob:on("call", function(c)
    incoming = c
    c:answer()
  end)
  local call = assert(env.alice:call("sip:bob@example.com", { timeout = 5 }))
  local rsp, err, code = call:bye { timeout = 5 }
  return incoming, rsp, err, code
end

local function find(lines, pattern)
  for _, l in ipairs(lines) do
    if l:find(pattern) then return l end
  end
end

describe("sip.proxy around a route function", function()
  it("routes the ACK and BYE of a call itself: the route sees only the requests outside dialogs", function()
    with_proxy(lookup_route, {}, function(env)
      local incoming, rsp = call_and_hang_up(env)
      assert.truthy(rsp, "BYE answered")
      assert.equal(200, rsp.status)
      assert.equal("bye", incoming:wait_end(5))
      assert.is_true(incoming.acked)
      for _, s in ipairs(env.seen) do assert.is_nil(s:find("in dialog", 1, true), s) end
      assert.truthy(find(env.lines, "^BYE sip:bob@127%.0%.0%.1:%d+ from udp:.* %-> 200"), table.concat(env.lines, "\n"))
    end)
  end)

  it("route_in_dialog = true hands them to the route as well", function()
    local function route(req, px)
      if req.to_tag then return px:relay(req) end -- along the Route, as the stack would
      return lookup_route(req, px)
    end
    with_proxy(route, { route_in_dialog = true }, function(env)
      local _, rsp = call_and_hang_up(env)
      assert.equal(200, rsp.status)
      local saw_bye = false
      for _, s in ipairs(env.seen) do saw_bye = saw_bye or s == "BYE in dialog" end
      assert.is_true(saw_bye)
    end)
  end)

  it("a request with a To tag that did not come along our Record-Route meets the relay policy", function()
    with_proxy(lookup_route, {}, function(env)
      local heard = 0
      local sink <close> = assert(sip.endpoint { listen = "udp:127.0.0.1:0", handler = function(req)
        heard = heard + 1
        req:reply(200)
      end })
      local target = "sip:x@127.0.0.1:" .. sink.listeners[1].port
      local bye = sip.request { method = "BYE", uri = target, from = "<sip:mallory@evil.example>;tag=m1",
        to = "<" .. target .. ">;tag=x1" }
      local stranger <close> = assert(sip.endpoint { listen = "udp:127.0.0.1:0" })
      local rsp = assert(stranger:request(bye, { dest = { proto = "udp", host = "127.0.0.1",
        port = env.px.ep.listeners[1].port }, timeout = 2 }))
      assert.equal(403, rsp.status)
      assert.equal(0, heard)
    end)
  end)

  it("logs the status the route answered with, for REGISTER (401, 200) and for req:reply", function()
    local function route(req, px)
      if req.method == "REGISTER" then return px.registrar:handle(req) end
      req:reply(486)
    end
    with_proxy(route, {}, function(env)
      assert(env.bob:register { expires = 60, refresh = false })
      assert.is_nil(env.alice:message("sip:bob@example.com", "hi", nil, { timeout = 5 }))
      local all = table.concat(env.lines, "\n")
      assert.truthy(find(env.lines, "^REGISTER sip:example%.com from udp:[%d.:]+ %-> 401"), all)
      assert.truthy(find(env.lines, "^REGISTER sip:example%.com from udp:[%d.:]+ %-> 200"), all)
      assert.truthy(find(env.lines, "^MESSAGE sip:bob@example%.com from udp:[%d.:]+ %-> 486"), all)
      assert.is_nil(all:find("answered", 1, true), all)
    end)
  end)
end)
