-- sip.auth against password guessing and account enumeration (RFC 7616 §5.7), and digest bound
-- to its request (RFC 7616 §3.4.6, RFC 2617 §3.2.2.5). The server runs on a fake clock, so the
-- backoffs of hours pass without waiting; the last tests go through a real sip.proxy on 127.0.0.1.
local sip = require "sip"
local auth = require "sip.auth"
local proxy = require "sip.proxy"
local digest = require("sip.core").digest

local T0 = 1700000000

-- A to-be-closed value that calls fn when its scope ends (also when it ends by an error).
local function closing(fn) return setmetatable({}, { __close = fn }) end
local USERS = { alice = "wonderland", bob = "builder" }

-- A server on a fake clock (clock.now), its log lines in srv_log as { level, line }.
local function server(opts)
  local clock, lines = { now = T0 }, {}
  local t = { realm = "example.com", users = USERS, clock = function() return clock.now end,
    log = function(level, line) lines[#lines + 1] = { level, line } end }
  for k, v in pairs(opts or {}) do t[k] = v end
  return assert(auth.server(t)), clock, lines
end

local function request(user, opts)
  opts = opts or {}
  return sip.request {
    method = opts.method or "REGISTER", uri = opts.uri or "sip:example.com",
    from = { uri = "sip:" .. user .. "@example.com" }, to = opts.to or ("<sip:" .. user .. "@example.com>"),
    via = { host = "192.0.2.10", port = 5060 }, contact = "<sip:" .. user .. "@192.0.2.10>", expires = 3600,
  }
end

local function respond(req, spec)
  return sip.response(req, spec.status, spec.reason, { headers = spec.headers })
end

-- One guess: challenged, answered with password, checked as coming from source.
-- Returns what check returns.
local function guess(srv, user, password, source, opts)
  local req = request(user, opts)
  local ok, spec = srv:check(req, source)
  assert.is_false(ok)
  if spec.status ~= 401 and spec.status ~= 407 then return ok, spec end
  local again = assert(auth.client { user = user, password = password }:authorize(req, respond(req, spec)))
  return srv:check(again, source)
end

local function retry_after(spec)
  for _, h in ipairs(spec.headers) do
    if h[1] == "Retry-After" then return tonumber(h[2]) end
  end
end

-- A response's shape, its nonces and opaque masked: what an observer can compare.
local function shape(spec)
  local out = { spec.status, spec.reason }
  for _, h in ipairs(spec.headers) do
    out[#out + 1] = h[1] .. ": " .. h[2]:gsub('nonce="[^"]*"', function(n) return 'nonce="' .. ("x"):rep(#n - 8) .. '"' end)
  end
  return out
end

local function logged(lines, level, pattern)
  for _, l in ipairs(lines) do
    if l[1] == level and l[2]:find(pattern) then return l[2] end
  end
  return nil
end

describe("sip.auth against brute force (RFC 7616 §5.7)", function()
  describe("per user, from any number of sources", function()
    it("5 failures are free; then each further one doubles the wait, and the wait is served", function()
      local srv, clock = server { lockout = { user_free = 5, base = 1, max = 3600 } }
      for i = 1, 5 do
        local ok, spec = guess(srv, "alice", "guess" .. i, "127.0.0." .. i)
        assert.is_false(ok)
        assert.equal(401, spec.status)
      end
      local waits = {}
      for i = 6, 20 do
        local ok, spec = guess(srv, "alice", "guess" .. i, "127.0.0." .. i)
        assert.is_false(ok)
        assert.equal(503, spec.status)
        waits[#waits + 1] = retry_after(spec)
        -- refused from every other address until the wait is over
        assert.equal(503, select(2, guess(srv, "alice", "guess", "127.0.1." .. i)).status)
        clock.now = clock.now + retry_after(spec)
      end
      assert.same({ 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3600, 3600, 3600 }, waits)
    end)

    it("200 guesses from 200 addresses: 17 checked in the first hour, the 190th after a week", function()
      local srv, clock = server()
      local checked, found_at = {}, nil
      local function failures() local e = srv.lockout.users:get("alice"); return e and e.n or 0 end
      for i = 1, 200 do -- the attacker waits out every Retry-After, from a new address each time
        local password = i == 190 and "wonderland" or ("guess" .. i)
        for try = 1, 100 do
          local before = failures()
          local ok, spec = guess(srv, "alice", password, ("127.%d.%d.%d"):format(i // 256, i % 256, try))
          if ok then found_at = clock.now - T0 end
          if ok or failures() > before then break end -- checked (a 503 may say so too: no hint)
          clock.now = clock.now + retry_after(spec)
        end
        checked[i] = clock.now - T0
      end
      local first_hour = 0
      for _, t in pairs(checked) do if t < 3600 then first_hour = first_hour + 1 end end
      assert.equal(17, first_hour) -- 5 free, then waits of 1, 2, 4 ... 2048 s
      assert.is_true(found_at > 7 * 86400, tostring(found_at))
      -- past the cap each guess costs an hour: a dictionary of 10,000 takes over a year
      assert.is_true(found_at + (10000 - 190) * 3600 > 365 * 86400)
    end)

    it("while the backoff runs the password is not checked: right and wrong get the same 503", function()
      local srv = server { lockout = { user_free = 2 } }
      guess(srv, "alice", "x1", "198.51.100.1")
      guess(srv, "alice", "x2", "198.51.100.2")
      guess(srv, "alice", "x3", "198.51.100.3") -- the backoff starts
      local _, right = guess(srv, "alice", "wonderland", "198.51.100.4")
      local _, wrong = guess(srv, "alice", "nope", "198.51.100.5")
      assert.equal(503, right.status)
      assert.same(shape(right), shape(wrong))
    end)

    it("Retry-After says the seconds left, decreasing as time passes; at 0 the password is checked", function()
      local srv, clock = server { lockout = { user_free = 0, base = 8 } }
      local _, spec = guess(srv, "alice", "bad", "203.0.113.1")
      assert.same({ 503, "Service Unavailable: too many failed authentication attempts", 8 },
        { spec.status, spec.reason, retry_after(spec) })
      for left = 8, 1, -1 do
        local _, r = guess(srv, "alice", "wonderland", "203.0.113.2")
        assert.same({ 503, left }, { r.status, retry_after(r) })
        clock.now = clock.now + 1
      end
      assert.same({ true, "alice" }, { guess(srv, "alice", "wonderland", "203.0.113.2") })
    end)

    it("a count is forgotten `forget` seconds after its last failure", function()
      local srv, clock = server { lockout = { user_free = 1, forget = 600 } }
      guess(srv, "alice", "bad", "203.0.113.1")
      clock.now = clock.now + 601
      assert.equal(401, select(2, guess(srv, "alice", "bad", "203.0.113.1")).status) -- free again
      assert.equal(503, select(2, guess(srv, "alice", "bad", "203.0.113.1")).status)
    end)
  end)

  describe("per source, across users", function()
    it("one address trying many users is throttled, for every user; other addresses are not", function()
      local srv = server { lockout = { source_free = 20, user_free = 5 } }
      for i = 1, 20 do
        assert.equal(401, select(2, guess(srv, "user" .. i, "pw", "192.0.2.66")).status)
      end
      local _, spec = guess(srv, "user21", "pw", "192.0.2.66")
      assert.same({ 503, 1 }, { spec.status, retry_after(spec) })
      _, spec = guess(srv, "bob", "builder", "192.0.2.66") -- even with the right password
      assert.equal(503, spec.status)
      assert.same({ true, "bob" }, { guess(srv, "bob", "builder", "192.0.2.67") })
    end)
  end)

  describe("IPv6 sources, by their /64 (one host has a whole /64 to pick from)", function()
    it("addresses of one /64 share a source's count; another /64 does not", function()
      local srv = server { lockout = { source_free = 3, user_free = 100 } }
      for i = 1, 3 do guess(srv, "user" .. i, "pw", ("2001:db8:0:1::%x"):format(i)) end
      assert.equal(503, select(2, guess(srv, "user4", "pw", "[2001:DB8:0:1:ffff::9]")).status)
      assert.equal(401, select(2, guess(srv, "user5", "pw", "2001:db8:0:2::1")).status)
    end)

    it("the phone's trust holds across its /64 (privacy addresses change, RFC 8981)", function()
      local srv = server { lockout = { user_free = 1 } }
      assert.is_true(guess(srv, "alice", "wonderland", "2001:db8:0:7::aaaa"))
      guess(srv, "alice", "a", "2001:db8:9::1")
      guess(srv, "alice", "b", "2001:db8:9::2")
      assert.is_true(guess(srv, "alice", "wonderland", "2001:db8:0:7::bbbb"))
      assert.equal(503, select(2, guess(srv, "alice", "wonderland", "2001:db8:0:8::aaaa")).status)
    end)
  end)

  describe("the user's own phone", function()
    it("a source that authenticated as the user keeps getting in during an attack on it", function()
      local srv, clock, lines = server()
      local phone = "10.0.0.2"
      assert.is_true(guess(srv, "alice", "wonderland", phone)) -- registered before the attack
      local wait = 0
      for i = 1, 20 do -- waiting out each backoff: the last ones are the cap, an hour
        clock.now = clock.now + wait
        local _, spec = guess(srv, "alice", "guess" .. i, "127.0.0." .. i)
        wait = retry_after(spec) or 0
      end
      assert.equal(3600, wait)
      local _, stranger = guess(srv, "alice", "wonderland", "127.0.0.99")
      assert.equal(503, stranger.status)
      assert.same({ true, "alice" }, { guess(srv, "alice", "wonderland", phone) })
      assert.truthy(logged(lines, "info", "user alice from 10%.0%.0%.2 admitted during its backoff"))
      -- and stays in after the attack
      clock.now = clock.now + 86400
      assert.is_true(guess(srv, "alice", "wonderland", phone))
    end)

    it("trust is per user and source, lasts `remember` seconds, and ends after user_free failures", function()
      local srv = server { lockout = { user_free = 3, remember = 3600 } }
      local phone = "10.0.0.2"
      assert.is_true(guess(srv, "alice", "wonderland", phone))
      for i = 1, 5 do guess(srv, "alice", "guess" .. i, "127.0.0." .. i) end
      assert.is_true(guess(srv, "alice", "wonderland", phone))
      assert.is_true(guess(srv, "bob", "builder", "127.0.0.9")) -- another user is not touched
      -- an attacker behind the phone's address: its failures end the trust
      for i = 1, 3 do guess(srv, "alice", "nat" .. i, phone) end
      assert.equal(503, select(2, guess(srv, "alice", "wonderland", phone)).status)
      -- past remember, a success long ago no longer counts
      local srv2, clock2 = server { lockout = { user_free = 1, remember = 3600 } }
      assert.is_true(guess(srv2, "alice", "wonderland", phone))
      clock2.now = clock2.now + 3601
      guess(srv2, "alice", "a", "127.0.0.1")
      guess(srv2, "alice", "b", "127.0.0.2")
      assert.equal(503, select(2, guess(srv2, "alice", "wonderland", phone)).status)
    end)
  end)

  describe("the log (log = fn(level, line))", function()
    it("every failure and refusal names the user and the source", function()
      local srv, clock, lines = server { lockout = { user_free = 1 } }
      guess(srv, "alice", "bad", "198.51.100.7")
      assert.truthy(logged(lines, "info", "^auth: wrong password for user alice from 198%.51%.100%.7 %(failures: 1 of the user, 1 from the source%)$"))
      guess(srv, "alice", "bad", "198.51.100.8")
      assert.truthy(logged(lines, "warn", "^auth: wrong password for user alice from 198%.51%.100%.8 .*: backoff 1 s$"))
      guess(srv, "carol", "x", "198.51.100.9")
      assert.truthy(logged(lines, "info", "^auth: unknown user carol from 198%.51%.100%.9 %(failures: 1 of the user, 1 from the source%)$"))
      clock.now = clock.now + 1
      guess(srv, "alice", "bad", "198.51.100.8") -- 3rd: 2 s
      local n = #lines
      guess(srv, "alice", "wonderland", "198.51.100.10")
      assert.equal(n + 1, #lines)
      assert.same({ "warn", "auth: refused user alice from 198.51.100.10 without checking the password: backoff of "
        .. "the user, retry after 2 s" }, lines[#lines])
    end)

    it("a flood of refusals is one line a second per user and source, the rest counted", function()
      local srv, clock, lines = server { lockout = { user_free = 0, base = 60 } }
      guess(srv, "alice", "bad", "198.51.100.7")
      local n = #lines
      for _ = 1, 100 do guess(srv, "alice", "bad", "198.51.100.7") end
      assert.equal(n + 1, #lines)
      clock.now = clock.now + 1
      guess(srv, "alice", "bad", "198.51.100.7")
      assert.matches("retry after 59 s %(99 more refused since the last line%)$", lines[#lines][2])
    end)

    it("names from the network are escaped in the log", function()
      local srv, _, lines = server()
      local req = request("alice")
      local nonce = digest.parse_challenge(respond(req, select(2, srv:check(req))):header("WWW-Authenticate")).nonce
      req:add_header("Authorization", 'Digest username="ev\\"il\tINFO fake", realm="example.com", nonce="'
        .. nonce .. '", uri="sip:example.com", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="1", response="00"')
      assert.is_false(srv:check(req, "198.51.100.7"))
      local line = lines[#lines][2]
      assert.is_nil(line:find("[%c\"]"))
      assert.matches("unknown user ev%%22il%%09INFO%%20fake from 198%.51%.100%.7", line)
    end)
  end)

  describe("options", function()
    it("thresholds are checked; unknown keys raise", function()
      for _, case in ipairs {
        { { surprise = 1 }, "unknown lockout option 'surprise'" },
        { { user_free = -1 }, "lockout.user_free must be an integer >= 0" },
        { { base = 0 }, "lockout.base must be an integer >= 1" },
        { { max = 1.5 }, "lockout.max must be an integer >= 1" },
        { { base = 10, max = 5 }, "lockout.max must be >= lockout.base" },
        { "hard", "lockout must be a table of thresholds or false" },
      } do
        local ok, err = pcall(auth.server, { realm = "example.com", users = USERS, lockout = case[1] })
        assert.is_false(ok)
        assert.equal("bad argument #1 to 'server' (" .. case[2] .. ")", err:gsub("^[^:]*:%d+: ", ""))
        ok, err = pcall(auth.lockout, case[1])
        if type(case[1]) == "table" then
          assert.is_false(ok)
          assert.matches("bad argument #1 to 'lockout'", err)
        end
      end
      assert.has_error(function() auth.server { realm = "example.com", users = USERS, surprise = 1 } end,
        "bad argument #1 to 'server' (unknown option 'surprise')")
      assert.has_error(function() auth.server { realm = "example.com", users = USERS, log = "stderr" } end,
        "bad argument #1 to 'server' (option 'log' must be a function, got \"stderr\")")
      assert.has_error(function() server():check(request("alice"), 127001) end,
        "bad argument #2 to 'check' (source must be a string)")
    end)

    it("lockout = false: no limit (the old behaviour without max_failures)", function()
      local srv = server { lockout = false }
      for i = 1, 50 do assert.equal(401, select(2, guess(srv, "alice", "g" .. i, "127.0.0.1")).status) end
      assert.is_true(guess(srv, "alice", "wonderland", "127.0.0.1"))
    end)

    it("one auth.lockout shared by a registrar's 401 and a proxy's 407 counts their guesses together", function()
      local lk = auth.lockout { user_free = 3 }
      local www = server { lockout = lk }
      local px = server { lockout = lk, proxy = true }
      assert.equal(lk, auth.lockout(lk)) -- passed on as it is
      for i = 1, 3 do guess(www, "alice", "g" .. i, "127.0.0.1") end
      local _, spec = guess(px, "alice", "g4", "127.0.0.2", { method = "MESSAGE", uri = "sip:bob@example.com" })
      assert.equal(503, spec.status)
    end)

    it("every table stays bounded (tracked) under 20,000 names and addresses", function()
      local srv = server { lockout = { tracked = 100 } }
      for i = 1, 20000 do
        local req = request("u" .. i)
        local value = digest.make_credentials { challenge = { realm = "example.com", qop = "auth", algorithm = "MD5",
          nonce = digest.parse_challenge(respond(req, select(2, srv:check(req))):header("WWW-Authenticate")).nonce },
          username = "u" .. i, password = "x", method = "REGISTER", uri = "sip:example.com" }
        req:add_header("Authorization", value)
        srv:check(req, ("10.%d.%d.%d"):format(i // 65536, i // 256 % 256, i % 256))
      end
      local lk = srv.lockout
      assert.is_true(lk.users:count() <= 100 and lk.sources:count() <= 100 and lk.trusted:count() <= 100)
    end)
  end)
end)

describe("sip.auth against account enumeration", function()
  it("a challenge does not depend on the user: same status, headers and nonce form", function()
    local srv = server()
    local _, known = srv:check(request("alice"), "127.0.0.1")
    local _, unknown = srv:check(request("nobody"), "127.0.0.1")
    assert.same(shape(known), shape(unknown))
    assert.are_not.same(known.headers, unknown.headers) -- the nonces themselves are fresh
  end)

  it("credentials of an unknown user get the answer of a wrong password, before and during a backoff", function()
    local srv = server { lockout = { user_free = 2 } }
    local a, b = {}, {}
    for i = 1, 4 do
      a[i] = { guess(srv, "alice", "wrong", "127.0.0.1") }
      b[i] = { guess(srv, "mallory", "wrong", "127.0.0.2") }
      assert.equal(a[i][1], b[i][1])
      assert.same(shape(a[i][2]), shape(b[i][2]))
    end
    assert.same({ 401, 401, 503, 503 }, { a[1][2].status, a[2][2].status, a[3][2].status, a[4][2].status })
  end)

  it("a user with no HA1 for any algorithm offered is answered as one who does not exist", function()
    local users = { dave = { ha1 = { MD5 = digest.ha1("MD5", "dave", "example.com", "pw") } } }
    local srv = server { users = users, algorithms = { "SHA-256" } }
    local _, known = guess(srv, "dave", "pw", "127.0.0.1")
    local _, unknown = guess(srv, "nobody", "pw", "127.0.0.2")
    assert.equal(401, known.status)
    assert.same(shape(known), shape(unknown))
  end)

  it("an unknown user costs a hash too (no early return the timing would show)", function()
    -- the response of a made-up user is checked against the server secret, counted as a failure
    local srv = server()
    local _, spec = guess(srv, "mallory", "x", "127.0.0.1")
    assert.equal(401, spec.status)
    assert.equal(1, srv.lockout.users:get("mallory").n)
  end)
end)

describe("digest bound to the request (RFC 7616 §3.4.6, RFC 2617 §3.2.2.5)", function()
  -- credentials for `uri`, computed right, on a request for req_uri
  local function credentials_for(srv, user, uri, req)
    local _, spec = srv:check(req)
    local name = srv.proxy and "Proxy-Authenticate" or "WWW-Authenticate"
    local ch = assert(digest.parse_challenge(respond(req, spec):header(name)))
    return (digest.make_credentials { challenge = ch, username = user, password = USERS[user], method = req.method, uri = uri })
  end

  for _, case in ipairs {
    { "REGISTER", false, "sip:example.com", "sip:evil.example.net", 400 },
    { "REGISTER", false, "sip:example.com", "sip:EXAMPLE.COM", true }, -- the same URI by §19.1.4
    { "REGISTER", false, "sip:example.com", "sip:example.com:5060", 400 },
    { "MESSAGE", true, "sip:premium@example.com", "sip:bob@example.com", 400 },
    { "MESSAGE", true, "sip:bob@example.com", "sip:bob@example.com;lr", true },
    { "INVITE", true, "sip:bob@example.com", "not a uri", 400 },
  } do
    local method, is_proxy, ruri, curi, want = table.unpack(case)
    it(("%s %s with credentials for %s -> %s"):format(method, ruri, curi, tostring(want)), function()
      local srv = server { proxy = is_proxy }
      local req = request("alice", { method = method, uri = ruri })
      req:add_header(is_proxy and "Proxy-Authorization" or "Authorization", credentials_for(srv, "alice", curi, req))
      local ok, spec = srv:check(req)
      if want == true then
        assert.same({ true, "alice" }, { ok, spec })
      else
        assert.is_false(ok)
        assert.same({ 400, "Bad Request: the digest uri is not the Request-URI" }, { spec.status, spec.reason })
        assert.is_nil(srv.lockout.users:get("alice")) -- no password checked, nothing counted
      end
    end)
  end

  it("check_uri = false is the explicit leniency", function()
    local srv = server { check_uri = false }
    local req = request("alice")
    req:add_header("Authorization", credentials_for(srv, "alice", "sip:evil.example.net", req))
    assert.is_true(srv:check(req))
  end)

  it("through a sip.proxy: a REGISTER for another uri and a MESSAGE replayed to another user are 400", function()
    sip.run(function()
      sip.sleep(0) -- the loop's clock catches up with the seconds the table test above spent
      local px <close> = assert(proxy.new { listen = { "udp:127.0.0.1:0" }, realm = "example.com", users = USERS,
        sweep_interval = 0, t1 = 0.05 })
      local ep <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" }, t1 = 0.05,
        handler = function(r) r:reply(200) end })
      local dest = { proto = "udp", host = "127.0.0.1", port = px.ep.by_proto.udp.port }
      local function send(req) return assert(ep:request(req, { dest = dest, timeout = 5 })) end
      local port = ep.listeners[1].port
      -- REGISTER: the credentials name sip:evil.example.net
      local reg = sip.request { method = "REGISTER", uri = "sip:example.com", from = "<sip:bob@example.com>",
        to = "<sip:bob@example.com>", contact = ("<sip:bob@127.0.0.1:%d>"):format(port), expires = 60 }
      local rsp = send(reg)
      assert.equal(401, rsp.status)
      local evil = reg:clone()
      evil:set_uri("sip:evil.example.net")
      local signed = assert(auth.client { user = "bob", password = "builder" }:authorize(evil, rsp))
      signed:set_uri("sip:example.com")
      rsp = send(signed)
      assert.same({ 400, "Bad Request: the digest uri is not the Request-URI" }, { rsp.status, rsp.reason })
      -- MESSAGE: credentials made for sip:bob@example.com, spent on sip:premium@example.com
      local msg = sip.request { method = "MESSAGE", uri = "sip:bob@example.com", from = "<sip:alice@example.com>",
        to = "<sip:bob@example.com>", body = "hi", content_type = "text/plain" }
      rsp = send(msg)
      assert.equal(407, rsp.status)
      local good = assert(auth.client { user = "alice", password = "wonderland" }:authorize(msg, rsp))
      local replay = sip.request { method = "MESSAGE", uri = "sip:premium@example.com", from = "<sip:alice@example.com>",
        to = "<sip:premium@example.com>", body = "hi", content_type = "text/plain",
        headers = { { "Proxy-Authorization", good:header("Proxy-Authorization") } } }
      rsp = send(replay)
      assert.same({ 400, "Bad Request: the digest uri is not the Request-URI" }, { rsp.status, rsp.reason })
      -- the same credentials on the request they were made for pass the authentication
      local st = send(good).status
      assert.is_true(st ~= 400 and st ~= 407 and st ~= 403, tostring(st))
    end)
  end)
end)

describe("sip.auth in a sip.proxy on 127.0.0.1, its real clock", function()
  it("2 guesses from each of 100 addresses (the attack that found it in 0.04 s): 5 checked, none found; the phone gets in", function()
    sip.run(function()
      local px <close> = assert(proxy.new { listen = { "udp:127.0.0.1:0" }, realm = "example.com", users = USERS,
        sweep_interval = 0, t1 = 0.05 })
      local dest = { proto = "udp", host = "127.0.0.1", port = px.ep.by_proto.udp.port }
      local eps = {}
      local _ <close> = closing(function() for _, ep in ipairs(eps) do ep:close() end end)
      local function endpoint(host)
        local ep = assert(sip.endpoint { listen = { "udp:" .. host .. ":0" }, t1 = 0.05, handler = function(r) r:reply(200) end })
        eps[#eps + 1] = ep
        return ep
      end
      -- one REGISTER of alice from ep with password: the final status, the response
      local function register(ep, password)
        local req = sip.request { method = "REGISTER", uri = "sip:example.com", from = "<sip:alice@example.com>",
          to = "<sip:alice@example.com>", contact = ("<sip:alice@%s:%d>"):format(ep.listeners[1].host, ep.listeners[1].port),
          expires = 60 }
        local rsp = assert(ep:request(req, { dest = dest, timeout = 2 }))
        if rsp.status ~= 401 then return rsp.status, rsp end
        rsp = assert(ep:request(assert(auth.client { user = "alice", password = password }:authorize(req, rsp)),
          { dest = dest, timeout = 2 }))
        return rsp.status, rsp
      end
      local phone = endpoint("127.0.0.2")
      assert.equal(200, register(phone, "wonderland"))
      local counts, n = {}, 0
      for a = 1, 100 do
        local ep = endpoint(("127.0.%d.%d"):format(10 + a // 200, 10 + a % 200))
        for _ = 1, 2 do
          n = n + 1
          local status, rsp = register(ep, n == 190 and "wonderland" or ("guess" .. n))
          counts[status] = (counts[status] or 0) + 1
          if status == 503 then assert.matches("^%d+$", rsp:header("Retry-After")) end
        end
      end
      assert.is_nil(counts[200], "found")
      assert.is_true((counts[401] or 0) <= 10, tostring(counts[401])) -- 5 free, more only if a wait ends
      assert.is_true((counts[503] or 0) >= 190, tostring(counts[503]))
      assert.equal(200, register(phone, "wonderland")) -- the user's own phone, during the backoff
    end)
  end)
end)
