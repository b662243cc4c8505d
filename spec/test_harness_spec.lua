-- sip.test: a user's router and phones on the virtual network and clock. The README's router
-- (with its in-dialog requests relayed) takes a registration, a call, a hang-up, a 32-second
-- timeout and an expiry, with no socket bound and in well under a second of wall time.
local sip = require "sip"
local test = require "sip.test"

-- The sockets this process holds, as ss sees them (the pid read by Lua itself, not a shell).
local function my_sockets()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("a"):match("^(%d+)")
  f:close()
  local p = assert(io.popen("ss -H -anp 2>/dev/null"))
  local n = 0
  for line in p:lines() do
    if line:find("pid=" .. pid .. ",", 1, true) then n = n + 1 end
  end
  p:close()
  return n
end

-- The README's router, with the in-dialog rule it needs: a request with a To tag follows its
-- Route (px:relay without targets), the rest goes to the callee's bindings.
local function route(req, px)
  if req.method == "REGISTER" then return px.registrar:handle(req) end
  if req.to.tag then return px:relay(req) end
  local targets = px:lookup(req.uri)
  if #targets == 0 then return px:reply(req, 404) end
  px:relay(req, targets, { parallel = true })
end

-- When the first message `what` went, in whole virtual seconds.
local function first_at(ladder, what)
  for _, e in ipairs(ladder) do
    if e.what == what then return math.floor(e.at + 0.5) end
  end
end

local USERS = { alice = "alice-secret", bob = "bob-secret", carol = "carol-secret" }

describe("sip.test", function()
  local t
  before_each(function() t = test.new() end)
  after_each(function() t:close() end)

  local function router()
    return t:add(assert(sip.proxy { listen = { "udp:127.0.0.1:5060" }, realm = "example.com", users = USERS,
      route = route }), "proxy")
  end

  local function phone(name, opts)
    opts = opts or {}
    opts.password, opts.proxy = USERS[name], "proxy"
    return t:phone(name, opts)
  end

  it("runs the README's router through a registration, a call, a hang-up, a timeout and an expiry", function()
    local sockets_before = my_sockets()
    local wall = os.clock()
    t:run(function()
      router()
      local alice, bob = phone("alice"), phone("bob")
      assert(alice:register())
      assert(bob:register())
      -- a call and its hang-up, through the proxy both ways
      local call = assert(alice:call("sip:bob@example.com"))
      assert.equal("PCMA", call.codec.name)
      t:advance(60)
      assert(call:bye())
      t:assert_ladder {
        "alice -> proxy REGISTER", "proxy -> alice 401", "alice -> proxy REGISTER", "proxy -> alice 200",
        "alice -> proxy INVITE", "proxy -> bob INVITE", "bob -> proxy 180", "bob -> proxy 200",
        "proxy -> alice 200 INVITE", "alice -> proxy ACK", "proxy -> bob ACK",
        "alice -> proxy BYE", "proxy -> bob BYE", "bob -> proxy 200 BYE", "proxy -> alice 200 BYE",
      }
      assert.equal(1, #bob.calls)
      assert.equal(60, first_at(t:ladder(), "BYE"))
      -- bob's phone goes away without unregistering: Timer B (64*T1 = 32 s) at the proxy
      bob:close()
      local t0 = t:now()
      local c2, err, code = alice:call("sip:bob@example.com")
      assert.is_nil(c2)
      assert.equal(408, code, err)
      assert.equal(32, t:now() - t0)
      -- past its 3600 s the binding has expired: 404, while alice's refreshed one still holds
      t:advance(3600)
      local _, _, code3 = alice:call("sip:bob@example.com")
      assert.equal(404, code3)
      assert.is_true(#t:received("alice", "200") >= 4) -- her refreshes were answered
    end)
    assert.is_true(t:now() > 3600)
    assert.is_true(os.clock() - wall < 1, "took " .. (os.clock() - wall) .. " s of CPU")
    assert.equal(sockets_before, my_sockets())
  end)

  it("waits for what a peer receives, and matches ladders line by line", function()
    t:run(function()
      router()
      local alice = phone("alice")
      local bob = phone("bob", { ring = 5 })
      assert(alice:register())
      assert(bob:register())
      local call = alice:dial("sip:bob@example.com")
      local e = assert(t:wait_for("bob", "INVITE", 1))
      assert.equal("INVITE", e.msg.method)
      assert.equal("bob", e.to)
      assert(bob:wait_call(1))
      assert(call:wait_answer(10))
      assert.equal(5, math.floor(t:now() + 0.5))
      assert(call:bye()) -- it waits for the 200: bob had the BYE before it returns
      assert.equal(1, #t:received("bob", "BYE"))
      t:assert_received("bob", { "INVITE", "ACK", "BYE" })
      assert.has_error(function() t:assert_received("bob", { "BYE", "INVITE" }) end)
      local ok, msg = pcall(t.assert_ladder, t, { "bob -> alice INVITE" })
      assert.is_false(ok)
      assert.matches("no 'bob %-> alice INVITE'", msg)
      assert.matches("alice %-> proxy INVITE sip:bob@example.com", msg) -- the ladder comes with it
    end)
  end)

  it("phones reject and never answer as told; the caller's timeout holds on the virtual clock", function()
    t:run(function()
      router()
      local alice, bob, carol = phone("alice"), phone("bob", { answer = 486 }), phone("carol", { answer = false })
      for _, p in ipairs { alice, bob, carol } do assert(p:register()) end
      local _, _, code = alice:call("sip:bob@example.com")
      assert.equal(486, code)
      assert.equal(200, assert(alice:message("sip:bob@example.com", "user2, come here.", "text/plain")).status)
      assert.equal("user2, come here.", bob.messages[1].body)
      local t0 = t:now()
      local _, _, code2 = alice:call("sip:carol@example.com", { timeout = 20 })
      assert.equal(408, code2) -- given up at its deadline, at once: the CANCEL is still on its way
      assert.equal(20, math.floor(t:now() - t0 + 0.5))
      -- §9.1: the CANCEL goes at the deadline, after the 180 came; the INVITE ends with 487, ACKed
      assert(t:wait_for("alice", "487", 1))
      t:assert_ladder { "proxy -> bob INVITE", "bob -> proxy 486", "proxy -> carol INVITE", "proxy -> alice 180",
        "alice -> proxy CANCEL", "proxy -> carol CANCEL", "carol -> proxy 487", "proxy -> alice 487",
        "alice -> proxy ACK" }
      assert.equal(20, first_at(t:ladder(), "CANCEL") - t0)
    end)
  end)

  it("a raw sender's malformed request gets 400 from the router without reaching its route", function()
    local routed = 0
    t:run(function()
      t:add(assert(sip.proxy { listen = { "udp:127.0.0.1:5060" }, route = function(req, px)
        routed = routed + 1
        return px:reply(req, 200)
      end }), "proxy")
      local raw = t:raw("raw")
      assert(raw:send("OPTIONS sip:proxy@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n" ..
        "From: <sip:x@y>;tag=1\r\nTo: <sip:proxy@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: one OPTIONS\r\n" ..
        "Content-Length: 0\r\n\r\n", "proxy"))
      assert(raw:send("garbage\r\n\r\n", "127.0.0.1:5060"))
      local e = assert(t:wait_for("raw", "400", 1))
      assert.is_true(e.bad) -- it echoes the bad CSeq
      assert.matches("400 Bad CSeq header", e.line)
    end)
    assert.equal(0, routed)
    assert.equal("(bad) garbage", t:ladder()[2].what)
  end)

  it("closes what a failing test left open, and the next harness starts clean", function()
    local ok, err = pcall(t.run, t, function()
      router()
      phone("alice")
      error("the spec failed here")
    end)
    assert.is_false(ok)
    assert.matches("the spec failed here", err)
    assert.equal(0, t:close())
    assert.equal(0, require("sip.loop").active())
    t = test.new()
    t:run(function() router() end) -- 127.0.0.1:5060 binds again
  end)

  it("a test that fails mid-call leaves nothing to wake or raise in the next", function()
    local resumed = false
    local ok, err = pcall(t.run, t, function()
      router()
      local alice, carol = phone("alice"), phone("carol", { answer = false })
      assert(alice:register())
      assert(carol:register())
      alice:dial("sip:carol@example.com")
      sip.spawn(function()
        t:wait_for("alice", "BYE")
        resumed = true
      end)
      assert(t:wait_for("carol", "INVITE", 1))
      error("the spec failed mid-call")
    end)
    assert.is_false(ok)
    assert.matches("the spec failed mid%-call", err)
    assert.equal(0, t:close())
    assert.is_false(resumed) -- its coroutine was closed with the failed run, not woken by close
    t = test.new()
    t:run(function()
      router()
      t:advance(100)
    end)
  end)

  it("says so when the spec waits for what never comes", function()
    local ok, err = pcall(t.run, t, function()
      local w = sip.waiter()
      w:block()
    end)
    assert.is_false(ok)
    assert.matches("the spec still waits after 86400 virtual seconds", err)
  end)

  it("misuse raises, naming what is wrong", function()
    assert.has_error(function() t:phone("x", { proxy = "nobody" }) end,
      "bad argument #2 to 'phone' (proxy 'nobody' is no name the harness knows nor a URI)")
    assert.has_error(function() t:raw("r", { prot = "udp" }) end,
      "bad argument #2 to 'raw' (unknown option 'prot' (host, port, proto))")
    assert.has_error(function() t:run(42) end, "bad argument #1 to 'run' (function expected)")
  end)

  it("refuses a second harness and objects left open before it", function()
    assert.has_error(function() test.new() end, "sip.test.new: a harness is open already (t:close() it first)")
    assert.has_error(function() test.new { horizn = 1 } end)
  end)
end)

describe("sip.test.case", function()
  it("runs a test body on a harness of its own", test.case(function(t)
    local srv = t:add(assert(sip.endpoint { listen = { "udp:127.0.0.1:5060" }, handler = function(req) req:reply(200) end }),
      "srv")
    assert.equal(1, #srv.listeners)
    local a = t:phone("a")
    assert.equal(200, assert(a:options("sip:127.0.0.1:5060")).status)
    t:run(function() t:advance(1) end) -- nested: it just runs
    assert.equal(1, t:now())
  end))

  it("and closed it", function()
    assert.is_false(require("sip.core").virtual())
    assert.equal(0, require("sip.loop").active())
  end)
end)

