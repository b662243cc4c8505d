-- sip.ua: user agents on 127.0.0.1 talking to each other, to a small registrar and to hand-driven
-- endpoints (RFC 3261 §8-15, RFC 3262, RFC 3311, RFC 3428, RFC 3264), on the virtual network and
-- clock of sip.test: no socket, and timers pass at once (T1 20 ms, so 64*T1 is 1.28 s of virtual
-- time); every test leaves no watcher active.
local sip = require "sip"
local loop = require "sip.loop"
local test = require "sip.test"
local sdp = require "sip.sdp"

local T1, T2 = 0.02, 0.08
local TORTURE = "../shared/conformance/torture/"

local function merge(a, b)
  local t = {}
  for k, v in pairs(a or {}) do t[k] = v end
  for k, v in pairs(b or {}) do t[k] = v end
  return t
end

-- fn in a coroutine on a harness of its own, closed when it ends
local function run(fn)
  local h <close> = test.new()
  h:run(fn)
end

local function new_ua(o)
  return assert(sip.ua(merge({
    listen = { "udp:127.0.0.1:0" }, t1 = T1, t2 = T2,
    glare_delay = function(owner) return owner and 0.15 or 0.02 end,
  }, o)))
end

local function uri_of(ua, proto)
  local l = ua.ep.by_proto[proto or "udp"]
  return ("sip:%s@127.0.0.1:%d%s"):format(ua.user, l.port, (proto and proto ~= "udp") and (";transport=" .. proto) or "")
end

-- run fn(alice, bob) in the loop with two UAs, then close both
local function with_uas(fn, aopts, bopts)
  run(function()
    local alice <close> = new_ua(merge({ user = "alice" }, aopts))
    local bob <close> = new_ua(merge({ user = "bob" }, bopts))
    fn(alice, bob)
  end)
end

-- A bare endpoint for hand-driven exchanges.
local function raw_endpoint(handler, t1)
  return assert(sip.endpoint { listen = { "udp:127.0.0.1:0" }, handler = handler, t1 = t1 or T1, t2 = T2 })
end

local function addr_of(ep) return "127.0.0.1:" .. ep.listeners[1].port end

local OFFER = sdp.build(sdp.new { address = "127.0.0.1", port = 5004, codecs = { "PCMA", "PCMU", "G729" },
  telephone_event = true })

local function codec_names(session, i)
  local out = {}
  for _, c in ipairs(session.streams[i or 1].codecs) do out[#out + 1] = c.name end
  return out
end

-- A small registrar (§10.3) with digest (sip.auth): bindings per AOR, Min-Expires, Contact: *.
local function registrar(opts)
  opts = opts or {}
  local auth = sip.auth.server { realm = "example.com", users = { alice = "secret", bob = "secret" },
    algorithms = opts.algorithms }
  local r = { log = {}, bindings = {} }
  r.ep = raw_endpoint(function(req)
    if req.method ~= "REGISTER" then return req:reply(405, nil, { headers = { Allow = "REGISTER" } }) end
    r.log[#r.log + 1] = req
    local ok, spec = auth:check(req)
    if not ok then return req:reply(spec.status, spec.reason, { headers = spec.headers }) end
    local aor = req.to.uri
    local b = r.bindings[aor] or {}
    r.bindings[aor] = b
    local contacts = req:header("Contact") and req:addrs("Contact") or {}
    local expires = req.expires or 3600
    if contacts[1] and contacts[1].star then
      if expires ~= 0 then return req:reply(400, "Contact * needs Expires 0") end
      r.bindings[aor] = {}
      return req:reply(200)
    end
    for _, c in ipairs(contacts) do
      local e = c.expires or expires
      if e > 0 and opts.min_expires and e < opts.min_expires then
        return req:reply(423, "Interval Too Brief", { headers = { ["Min-Expires"] = opts.min_expires } })
      end
    end
    for _, c in ipairs(contacts) do
      local e = c.expires or expires
      if e == 0 then b[c.uri] = nil else b[c.uri] = math.min(e, opts.max_expires or 7200) end
    end
    local lines = {}
    for uri, e in pairs(b) do lines[#lines + 1] = { "Contact", ("<%s>;expires=%d"):format(uri, e) } end
    req:reply(200, nil, { headers = lines })
  end)
  r.uri = "sip:" .. addr_of(r.ep)
  return r
end

-- every value of a header, comma-separated lists included, as one string
local function hdr(msg, name)
  local v = msg:headers(name)
  return #v > 0 and table.concat(v, ", ") or nil
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

-- Send raw bytes to the UA from a probe endpoint (its address in the top Via) and return the
-- response.
local function probe(ua, bytes)
  local ep = raw_endpoint()
  local w = sip.waiter()
  ep.on_stray = function(rsp) w:wake(rsp) end
  local via = ("Via: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport"):format(addr_of(ep), sip.branch():sub(8))
  local replaced = false
  bytes = bytes:gsub("([^\n]*)\r\n", function(line)
    if not replaced and (line:match("^[Vv][Ii][Aa]%s*:") or line:match("^[Vv]%s*:")) then
      replaced = true
      return via .. "\r\n"
    end
  end, 30)
  assert(ep:send(bytes, { proto = "udp", host = "127.0.0.1", port = ua.ep.listeners[1].port }))
  local rsp = w:block(2)
  ep:close()
  return rsp
end

local function read_torture(name)
  local f = assert(io.open(TORTURE .. name .. ".sip", "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function crafted(method, o)
  o = o or {}
  return tostring(sip.request {
    method = method, uri = "sip:bob@127.0.0.1", via = { host = "127.0.0.1" },
    from = "<sip:probe@127.0.0.1>", to = o.to or "<sip:bob@127.0.0.1>", headers = o.headers,
    body = o.body, content_type = o.content_type,
  })
end

-- the ACK for a 2xx, by hand (§13.2.2.4)
local function raw_ack(ep, inv, rsp)
  local contact = rsp:addrs("Contact")[1].uri
  local ack = sip.request {
    method = "ACK", uri = contact, via = { host = "127.0.0.1", port = ep.listeners[1].port, rport = true },
    from = inv:header("From"), to = rsp:header("To"), call_id = inv.call_id, cseq = inv.cseq,
  }
  assert(ep:send(ack, sip.dialog.hop(contact)))
end

local function raw_invite(ep, target, extra)
  return sip.request {
    method = "INVITE", uri = target, from = "<sip:raw@127.0.0.1>", to = "<" .. target .. ">", cseq = 5,
    contact = "<sip:raw@" .. addr_of(ep) .. ">", body = OFFER, content_type = "application/sdp",
    headers = extra,
  }
end

describe("sip.ua", function()
  after_each(function() assert.equal(0, loop.active()) end)

  describe("registration (§10.2)", function()
    it("§10.2, §22.2: registers through a 401 digest challenge and reports the bindings", function()
      run(function()
        local reg_srv = registrar()
        local ua = new_ua { user = "alice", domain = "example.com", password = "secret", registrar = reg_srv.uri }
        local reg, err, code = ua:register { expires = 600 }
        assert.is_not_nil(reg, tostring(err) .. " " .. tostring(code))
        assert.equal("registered", reg.state)
        assert.equal(600, reg.expires)
        assert.equal(1, #reg.bindings)
        assert.truthy(reg.bindings[1].uri:find("sip:alice@127.0.0.1:", 1, true))
        assert.equal(2, #reg_srv.log)
        local first, second = reg_srv.log[1], reg_srv.log[2]
        assert.is_nil(first:header("Authorization"))
        assert.truthy(second:header("Authorization"))
        assert.equal(first.call_id, second.call_id)
        assert.equal(first.cseq + 1, second.cseq)
        assert.equal("sip:alice@example.com", second.to.uri)
        assert.equal("sip:alice@example.com", second.from.uri)
        assert.equal(1, count(reg_srv.bindings["sip:alice@example.com"]))
        ua:close()
        reg_srv.ep:close()
      end)
    end)

    for _, alg in ipairs { "MD5", "SHA-256", "SHA-512-256" } do
      it("RFC 8760: answers a registrar that challenges with " .. alg .. " only", function()
        run(function()
          local reg_srv = registrar { algorithms = { alg } }
          local ua = new_ua { user = "alice", domain = "example.com", password = "secret", registrar = reg_srv.uri }
          assert(ua:register { expires = 60, refresh = false })
          local cred = reg_srv.log[#reg_srv.log]:header("Authorization")
          assert.truthy(cred:find("algorithm=" .. alg, 1, true), cred)
          ua:close()
          reg_srv.ep:close()
        end)
      end)
    end

    it("§10.2.1: refreshes the binding before it expires, with the same Call-ID and a higher CSeq", function()
      run(function()
        local reg_srv = registrar()
        local ua = new_ua { user = "alice", domain = "example.com", password = "secret", registrar = reg_srv.uri }
        local changes = {}
        local reg = assert(ua:register { expires = 2, on_change = function(_, what) changes[#changes + 1] = what end })
        local n = #reg_srv.log
        sip.sleep(1.3)
        assert.same({ "refreshed" }, changes)
        assert.is_true(#reg_srv.log > n)
        local last = reg_srv.log[#reg_srv.log]
        assert.equal(reg_srv.log[1].call_id, last.call_id)
        assert.is_true(last.cseq > reg_srv.log[n].cseq)
        assert.truthy(last:header("Authorization")) -- the cached nonce, no new challenge needed
        assert.equal("registered", reg.state)
        ua:close()
        reg_srv.ep:close()
      end)
    end)

    it("§10.2.8: 423 Interval Too Brief is retried with the registrar's Min-Expires", function()
      run(function()
        local reg_srv = registrar { min_expires = 60 }
        local ua = new_ua { user = "alice", domain = "example.com", password = "secret", registrar = reg_srv.uri }
        local reg = assert(ua:register { expires = 10, refresh = false })
        assert.equal(60, reg.expires)
        assert.equal(60, reg_srv.log[#reg_srv.log].expires)
        ua:close()
        reg_srv.ep:close()
      end)
    end)

    it("§10.2.2: unregister sends Expires: 0 for our binding, Contact: * for every binding", function()
      run(function()
        local reg_srv = registrar()
        local a1 = new_ua { user = "alice", domain = "example.com", password = "secret", registrar = reg_srv.uri }
        local a2 = new_ua { user = "alice", domain = "example.com", password = "secret", registrar = reg_srv.uri }
        local r1 = assert(a1:register { expires = 300 })
        assert(a2:register { expires = 300 })
        assert.equal(2, count(reg_srv.bindings["sip:alice@example.com"]))
        assert(r1:unregister())
        assert.equal("unregistered", r1.state)
        assert.equal(0, reg_srv.log[#reg_srv.log].expires)
        assert.equal(1, count(reg_srv.bindings["sip:alice@example.com"]))
        assert(a1:unregister { all = true })
        local last = reg_srv.log[#reg_srv.log]
        assert.equal("*", last:header("Contact"))
        assert.equal(0, last.expires)
        assert.equal(0, count(reg_srv.bindings["sip:alice@example.com"]))
        a1:close()
        a2:close()
        reg_srv.ep:close()
      end)
    end)

    it("§22.2: a wrong password ends with nil, 'authentication failed', 401 (no loop)", function()
      run(function()
        local reg_srv = registrar()
        local ua = new_ua { user = "alice", domain = "example.com", password = "wrong", registrar = reg_srv.uri }
        local reg, err, code = ua:register { expires = 60 }
        assert.is_nil(reg)
        assert.equal("authentication failed", err)
        assert.equal(401, code)
        assert.equal(2, #reg_srv.log)
        ua:close()
        reg_srv.ep:close()
      end)
    end)
  end)

  describe("MESSAGE and OPTIONS", function()
    it("RFC 3428: MESSAGE both ways with any MIME body; no Contact in the request or the 200", function()
      local got = {}
      with_uas(function(alice, bob)
        bob:on("message", function(req) got[#got + 1] = req end)
        alice:on("message", function(req) got[#got + 1] = req end)
        local rsp = assert(alice:message(uri_of(bob), "user2, come here.", "text/plain"))
        assert.equal(200, rsp.status)
        assert.is_nil(rsp:header("Contact"))
        assert.equal("", rsp.body)
        local xml = '<?xml version="1.0"?>\r\n<Notify><CmdType>Keepalive</CmdType></Notify>\r\n'
        assert.equal(200, assert(bob:message(uri_of(alice), xml, "Application/MANSCDP+xml")).status)
      end)
      assert.equal(2, #got)
      assert.equal("user2, come here.", got[1].body)
      assert.equal("text/plain", got[1].content_type)
      assert.is_nil(got[1]:header("Contact"))
      assert.equal("sip:alice@127.0.0.1", got[1].from.uri)
      assert.equal("Application/MANSCDP+xml", got[2].content_type)
      assert.matches("Keepalive", got[2].body)
    end)

    it("RFC 3428 §7: a handler's status goes back; without a handler MESSAGE gets 405 with Allow", function()
      with_uas(function(alice, bob)
        local rsp, err, code, r = alice:message(uri_of(bob), "x")
        assert.is_nil(rsp)
        assert.equal(405, code)
        assert.matches("^405", err)
        assert.matches("INVITE", hdr(r, "Allow"))
        bob:on("message", function() return 488, "Not Here" end)
        rsp, err, code = alice:message(uri_of(bob), "x")
        assert.is_nil(rsp)
        assert.equal(488, code)
        assert.equal("488 Not Here", err)
      end)
    end)

    it("§8.1.2: with an outbound proxy, requests outside dialogs go to it with a loose Route", function()
      run(function()
        local got = {}
        local proxy = raw_endpoint(function(req)
          got[#got + 1] = req
          req:reply(200)
        end)
        local ua = new_ua { user = "alice", domain = "example.com", outbound_proxy = "sip:" .. addr_of(proxy) }
        assert(ua:message("sip:bob@nowhere.invalid", "hi"))
        assert.equal("sip:bob@nowhere.invalid", got[1].uri)
        assert.equal("<sip:" .. addr_of(proxy) .. ";lr>", got[1]:header("Route"))
        assert.equal("sip:alice@example.com", got[1].from.uri)
        ua:close()
        proxy:close()
      end)
    end)

    it("§8.2: a request of any method reaches its handler in a coroutine of its own", function()
      local got
      with_uas(function(alice, bob)
        bob:on("NOTIFY", function(req)
          sip.sleep(0.01) -- handlers may wait
          got = req
          return 202, "Accepted"
        end)
        local rsp = assert(alice:request("NOTIFY", uri_of(bob), { headers = { Event = "dialog" },
          body = "<x/>", content_type = "application/dialog-info+xml" }))
        assert.equal(202, rsp.status)
        assert.matches("NOTIFY", hdr(assert(alice:options(uri_of(bob))), "Allow"))
      end)
      assert.equal("dialog", got:header("Event"))
      assert.equal("<x/>", got.body)
    end)

    it("§11.2: OPTIONS is answered with Allow, Accept and Supported", function()
      with_uas(function(alice, bob)
        bob:on("info", function() end)
        local rsp = assert(alice:options(uri_of(bob)))
        assert.equal(200, rsp.status)
        assert.equal("INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO", hdr(rsp, "Allow"))
        assert.equal("application/sdp", rsp:header("Accept"))
        assert.equal("100rel", rsp:header("Supported"))
      end)
    end)
  end)

  describe("§8.2 requests the UA cannot take get the RFC's answer", function()
    local cases = {
      { name = "§8.2.1 an unknown method: 501 with Allow (RFC 4475 §3.1.1.5)",
        msg = function() return crafted("NEWMETHOD") end, status = 501, header = { "Allow", "BYE" } },
      { name = "§8.2.1 a known method the UA does not take: 405 with Allow",
        msg = function() return crafted("SUBSCRIBE", { headers = { Event = "presence" } }) end, status = 405,
        header = { "Allow", "INVITE" } },
      { name = "§8.2.2.1 unkscm: a Request-URI of an unknown scheme: 416 (RFC 4475 §3.3.2)",
        msg = function() return read_torture("unkscm") end, status = 416 },
      { name = "§8.2.2.1 novelsc: a scheme a UA never takes: 416 (RFC 4475 §3.3.3)",
        msg = function() return read_torture("novelsc") end, status = 416 },
      { name = "§8.2.2.3 bext01: unknown Require: 420 with Unsupported listing them (RFC 4475 §3.3.5)",
        msg = function() return read_torture("bext01") end, status = 420,
        header = { "Unsupported", "nothingSupportsThis, nothingSupportsThisEither" } },
      { name = "§8.2.3 invut: an INVITE body of unknown type: 415 with Accept (RFC 4475 §3.3.6)",
        msg = function() return read_torture("invut") end, status = 415, header = { "Accept", "application/sdp" } },
      { name = "§8.2.3 sdp01: an Accept without application/sdp: 406 (RFC 4475 §3.3.15)",
        msg = function() return read_torture("sdp01") end, status = 406, header = { "Accept", "application/sdp" } },
      { name = "§8.2.3 an unknown Content-Encoding: 415 with Accept-Encoding",
        msg = function() return crafted("OPTIONS", { headers = { ["Content-Encoding"] = "gzip" } }) end,
        status = 415, header = { "Accept-Encoding", "identity" } },
      { name = "§8.1.1 insuf: no Call-ID, From, To, Max-Forwards: 400 (RFC 4475 §3.3.1)",
        msg = function() return read_torture("insuf") end, status = 400 },
      { name = "§7.3.1 multi01: duplicated single-value headers: 400 (RFC 4475 §3.3.8)",
        msg = function() return read_torture("multi01") end, status = 400 },
      { name = "§15.1.2 BYE outside any dialog: 481",
        msg = function() return crafted("BYE") end, status = 481 },
      { name = "§12.2.2 a request for a dialog that does not exist: 481",
        msg = function() return crafted("INFO", { to = "<sip:bob@127.0.0.1>;tag=nosuchdialog" }) end, status = 481 },
      { name = "RFC 3262 §3: PRACK outside a dialog: 481",
        msg = function() return crafted("PRACK", { headers = { RAck = "1 1 INVITE" } }) end, status = 481 },
      { name = "§9.2 CANCEL matching no INVITE: 481",
        msg = function() return crafted("CANCEL") end, status = 481 },
    }
    for _, c in ipairs(cases) do
      it(c.name, function()
        with_uas(function(_, bob)
          bob:on("call", function(call) call:reject(603) end)
          local rsp = probe(bob, c.msg())
          assert.is_not_nil(rsp, "no response")
          assert.equal(c.status, rsp.status)
          if c.header then
            local v = hdr(rsp, c.header[1])
            assert.truthy(v, c.header[1] .. " missing")
            assert.truthy(v:find(c.header[2], 1, true), v)
          end
        end)
      end)
    end

    it("§8.2.2.2: the same request arriving by a second branch (a forking loop) gets 482", function()
      with_uas(function(_, bob)
        bob:on("message", function() end)
        local m = crafted("MESSAGE", { body = "hi", content_type = "text/plain" })
        assert.equal(200, probe(bob, m).status)
        assert.equal(482, probe(bob, m).status) -- probe() puts a new branch in
      end)
    end)
  end)

  describe("calls (§13-15)", function()
    it("§13, RFC 3264 §6.1: an offer of PCMA PCMU G729 gets an answer in the offerer's order; both settle on PCMA", function()
      local bob_call
      with_uas(function(alice, bob)
        bob:on("call", function(call)
          bob_call = call
          call:ring()
          call:answer()
        end)
        local call = assert(alice:call(uri_of(bob)))
        assert.equal("confirmed", call.state)
        assert.same({ "PCMA", "PCMU", "G729", "telephone-event" }, codec_names(call.local_sdp))
        assert.same({ "PCMA", "PCMU", "G729", "telephone-event" }, codec_names(call.remote_sdp))
        assert.equal("PCMA", call.codec.name)
        assert.equal("telephone-event", call.codec.telephone_event.name)
        assert.equal("PCMA", bob_call.codec.name)
        assert(call:bye())
        assert.equal("bye", bob_call:wait_end(2))
      end, nil, { media = { codecs = { "G729", "PCMU", "PCMA" } } })
    end)

    it("RFC 3264 §6.1: the answerer's codecs that the offer lacks are left out; the offer's order wins", function()
      with_uas(function(alice, bob)
        bob:on("call", function(call) call:answer() end)
        local call = assert(alice:call(uri_of(bob), {
          sdp = sdp.new { address = "127.0.0.1", port = 4000, codecs = { "G729", "PCMU" }, telephone_event = false } }))
        assert.same({ "G729", "PCMU" }, codec_names(call.remote_sdp))
        assert.equal("G729", call.codec.name)
        call:bye()
      end)
    end)

    it("§13.2.2.1: provisional responses are seen as they arrive, before the 200", function()
      local seen = {}
      with_uas(function(alice, bob)
        bob:on("call", function(call)
          call:ring { status = 183 }
          sip.sleep(0.05)
          call:ring()
          sip.sleep(0.05)
          call:answer()
        end)
        local call = assert(alice:call(uri_of(bob), {
          on_progress = function(c, rsp) seen[#seen + 1] = rsp.status .. " " .. c.state end }))
        seen[#seen + 1] = "answered " .. call.state
        call:bye()
      end)
      assert.same({ "183 early", "180 early", "answered confirmed" }, seen)
    end)

    it("§13.3.1.3: a call rejected with 486 fails with nil, err, 486 on both sides", function()
      local bob_call
      with_uas(function(alice, bob)
        bob:on("call", function(call)
          bob_call = call
          call:ring()
          call:reject(486)
        end)
        local call, err, code, c = alice:call(uri_of(bob))
        assert.is_nil(call)
        assert.equal(486, code)
        assert.equal("486 Busy Here", err)
        assert.equal("rejected", c.end_reason)
      end)
      assert.equal("rejected", bob_call.end_reason)
    end)

    it("§9.1: CANCEL before the answer ends the call with 487 on both sides", function()
      local bob_call
      with_uas(function(alice, bob)
        bob:on("call", function(call)
          bob_call = call
          call:ring()
        end)
        local call = alice:dial(uri_of(bob))
        assert.is_true(call:_wait(function() return call.state == "early" end, 2))
        assert.is_true(call:cancel())
        assert.equal("cancelled", call:wait_end(2))
        assert.equal(487, call.end_code)
        assert.equal("cancelled", bob_call:wait_end(2))
        assert.equal(0, count(bob.dialogs))
      end)
    end)

    it("§9.1: an unanswered call times out: CANCEL, then nil, 'no answer before the timeout', 408", function()
      with_uas(function(alice, bob)
        bob:on("call", function(call) call:ring() end)
        local t0 = sip.now()
        local call, err, code = alice:call(uri_of(bob), { timeout = 0.3 })
        assert.is_nil(call)
        assert.equal(408, code)
        assert.matches("timeout", err)
        assert.is_true(sip.now() - t0 < 1)
      end)
    end)

    for _, who in ipairs { "caller", "callee" } do
      it("§15.1: BYE from the " .. who .. " ends the call on both sides", function()
        with_uas(function(alice, bob)
          local bob_call
          bob:on("call", function(call)
            bob_call = call
            call:answer()
          end)
          local call = assert(alice:call(uri_of(bob)))
          local by, other = call, bob_call
          if who == "callee" then by, other = bob_call, call end
          local rsp = assert(by:bye())
          assert.equal(200, rsp.status)
          assert.equal("hangup", by.end_reason)
          assert.equal("bye", other:wait_end(2))
          assert.equal(0, count(alice.dialogs) + count(bob.dialogs))
          -- §12.2.2: the dialog is gone: a request in it now gets 481
          local _, _, code = other:request("INFO")
          assert.equal(481, code)
        end)
      end)
    end

    it("§14, RFC 3264 §8.4: re-INVITE puts the call on hold (sendonly/recvonly) and resumes it", function()
      with_uas(function(alice, bob)
        local bob_call
        bob:on("call", function(call)
          bob_call = call
          call:answer()
        end)
        local call = assert(alice:call(uri_of(bob)))
        local v1 = call.local_sdp.origin.sess_version
        assert(call:hold())
        assert.equal("sendonly", call.local_sdp.streams[1].direction)
        assert.equal("recvonly", call.remote_sdp.streams[1].direction)
        assert.is_true(bob_call.remote_hold)
        assert.is_true(call.local_sdp.origin.sess_version ~= v1)
        assert(call:resume())
        assert.equal("sendrecv", call.remote_sdp.streams[1].direction)
        assert.is_false(bob_call.remote_hold)
        assert.equal("PCMA", bob_call.codec.name)
        -- the callee re-INVITEs too, with a new offer: only PCMU now
        assert(bob_call:reinvite(sdp.new { address = "127.0.0.1", port = 4100, codecs = { "PCMU" } }))
        assert.equal("PCMU", call.codec.name)
        assert.equal("PCMU", bob_call.codec.name)
        call:bye()
      end)
    end)

    it("§14.2: a re-INVITE without offer gets ours in the 2xx and the answer in the ACK", function()
      with_uas(function(alice, bob)
        local bob_call
        bob:on("call", function(call)
          bob_call = call
          call:answer()
        end)
        local call = assert(alice:call(uri_of(bob)))
        -- an INVITE without offer, by hand, within the dialog
        local d = call.dialog
        local req, dest = d:request("INVITE")
        local media = false
        bob_call:on("media", function() media = true end)
        local rsp = assert(alice.ep:request(req, { dest = dest }))
        assert.equal(200, rsp.status)
        assert.equal("application/sdp", rsp.content_type)
        local ans = sdp.answer(rsp.body, { address = "127.0.0.1", port = 4200, codecs = { "PCMU" } })
        local ack = d:request("ACK", { cseq = req.cseq, body = sdp.build(ans), content_type = "application/sdp" })
        alice:_via(ack, dest)
        alice.ep:send(ack, dest)
        assert.is_true(bob_call:_wait(function() return bob_call.offer_state == nil and media end, 2))
        assert.equal("PCMU", bob_call.codec.name)
        call:bye()
      end)
    end)

    it("§13.2.1: an INVITE without offer gets the offer in the 2xx and the answer in the ACK", function()
      with_uas(function(alice, bob)
        local bob_call
        bob:on("call", function(call)
          bob_call = call
          call:answer()
        end)
        local call = assert(alice:call(uri_of(bob), { sdp = false }))
        assert.equal("PCMA", call.codec.name)
        assert.is_true(bob_call:_wait(function() return bob_call.remote_sdp ~= nil end, 2))
        assert.equal("PCMA", bob_call.codec.name)
        call:bye()
      end)
    end)

    it("§14.1: glare: both sides re-INVITE at once, 491, and both succeed after the pause", function()
      with_uas(function(alice, bob)
        local bob_call
        bob:on("call", function(call)
          bob_call = call
          call:answer()
        end)
        local call = assert(alice:call(uri_of(bob)))
        assert.is_true(bob_call:_wait(function() return bob_call.acked end, 2))
        local results = {}
        local done = 0
        local w = sip.waiter()
        for name, c in pairs { alice = call, bob = bob_call } do
          sip.spawn(function()
            local rsp, _, code = c:hold()
            results[name] = rsp and rsp.status or code
            done = done + 1
            if done == 2 then w:wake() end
          end)
        end
        w:block(5)
        assert.same({ alice = 200, bob = 200 }, results)
        call:bye()
      end)
    end)

    it("§14.2: a re-INVITE while our own INVITE is in progress gets 491", function()
      with_uas(function(alice, bob)
        local bob_call
        bob:on("call", function(call)
          bob_call = call
          call:ring()
        end)
        local call = alice:dial(uri_of(bob))
        assert.is_true(call:_wait(function() return call.state == "early" end, 2))
        -- the callee sends an INVITE within the early dialog: the caller's INVITE is pending
        local req, dest = bob_call.dialog:request("INVITE", { body = OFFER, content_type = "application/sdp" })
        local rsp = assert(bob.ep:request(req, { dest = dest }))
        assert.equal(491, rsp.status)
        call:cancel()
        call:wait_end(2)
      end)
    end)

    it("§12.2.2: a request with a CSeq lower than the dialog's last one gets 500", function()
      with_uas(function(_, bob)
        bob:on("call", function(call) call:answer() end)
        local ep = raw_endpoint()
        local inv = raw_invite(ep, uri_of(bob))
        local rsp = assert(ep:request(inv))
        assert.equal(200, rsp.status)
        raw_ack(ep, inv, rsp)
        local function indialog(method, cseq)
          local contact = rsp:addrs("Contact")[1].uri
          return assert(ep:request(sip.request {
            method = method, uri = contact, from = inv:header("From"), to = rsp:header("To"),
            call_id = inv.call_id, cseq = cseq }, { dest = sip.dialog.hop(contact) }))
        end
        assert.equal(500, indialog("OPTIONS", 3).status)
        assert.equal(200, indialog("OPTIONS", 6).status)
        assert.equal(200, indialog("BYE", 7).status)
        ep:close()
      end)
    end)

    it("§13.3.1.4: the 2xx goes again until the ACK, and stops there", function()
      with_uas(function(_, bob)
        local bob_call
        bob:on("call", function(call)
          bob_call = call
          call:answer()
        end)
        local ep = raw_endpoint()
        local inv = raw_invite(ep, uri_of(bob))
        local extra = 0
        local rsp = assert(ep:request(inv, { on_2xx = function() extra = extra + 1 end }))
        sip.sleep(0.25) -- T1, 2*T1, 4*T1 ...
        assert.is_true(extra >= 3, "retransmissions: " .. extra)
        assert.is_true(bob_call.unacked ~= nil)
        raw_ack(ep, inv, rsp)
        assert.is_true(bob_call:_wait(function() return bob_call.acked end, 1))
        local after = extra
        sip.sleep(0.3)
        assert.equal(after, extra)
        assert.equal("confirmed", bob_call.state)
        bob_call:bye()
        ep:close()
      end)
    end)

    it("§13.3.1.4: without an ACK for 64*T1 the callee ends the call with BYE", function()
      with_uas(function(_, bob)
        local bob_call
        bob:on("call", function(call)
          bob_call = call
          call:answer()
        end)
        local byes = 0
        local ep = raw_endpoint(function(req)
          if req.method == "BYE" then byes = byes + 1 end
          if req.txn then req:reply(200) end
        end)
        local t0 = sip.now()
        assert.equal(200, assert(ep:request(raw_invite(ep, uri_of(bob)))).status)
        assert.equal("no-ack", bob_call:wait_end(3))
        assert.is_true(sip.now() - t0 >= 64 * T1 - 0.05)
        sip.sleep(0.1)
        assert.equal(1, byes)
        ep:close()
      end)
    end)

    it("§13.2.2.4: every retransmitted 2xx gets the same ACK again, also after the transaction ended", function()
      with_uas(function(alice)
        local acks = {}
        local txn_of, rsp_of
        local ep
        ep = raw_endpoint(function(req)
          if req.method == "ACK" then acks[#acks + 1] = req; return end
          if req.method == "INVITE" then
            txn_of = req.txn
            rsp_of = sip.response(req, 200, nil, { to_tag = "uas1", body = OFFER, content_type = "application/sdp",
              headers = { Contact = "<sip:raw@" .. addr_of(ep) .. ">" }, received = req.txn.received,
              rport = req.txn.rport })
            for _ = 1, 3 do
              req.txn:send(rsp_of)
              sip.sleep(0.03)
            end
          elseif req.txn then
            req:reply(200)
          end
        end, 0.2) -- the raw side's transaction outlives alice's Timer M (64*T1)
        local call = assert(alice:call("sip:raw@" .. addr_of(ep)))
        sip.sleep(0.2)
        assert.equal(3, #acks)
        sip.sleep(64 * T1) -- alice's INVITE transaction is gone: the next 2xx is a stray
        txn_of:send(rsp_of)
        sip.sleep(0.1)
        assert.equal(4, #acks)
        for i = 2, 4 do
          assert.equal(tostring(acks[1]), tostring(acks[i]))
        end
        assert.equal(acks[1].cseq, call.invite.cseq)
        call:bye()
        ep:close()
      end)
    end)

    it("§13.2.2.4: forking: the UA ACKs each 2xx and sends BYE to all but the first", function()
      with_uas(function(alice)
        local acks, byes = {}, {}
        local ep
        ep = raw_endpoint(function(req)
          if req.method == "ACK" then acks[#acks + 1] = req.to.tag; return end
          if req.method == "BYE" then byes[#byes + 1] = req.to.tag; return req:reply(200) end
          if req.method == "INVITE" then
            local function answer(tag)
              req.txn:send(sip.response(req, 200, nil, { to_tag = tag, body = OFFER, content_type = "application/sdp",
                headers = { Contact = "<sip:" .. tag .. "@" .. addr_of(ep) .. ">" }, received = req.txn.received,
                rport = req.txn.rport }))
            end
            req.txn:send(sip.response(req, 180, nil, { to_tag = "fork1", received = req.txn.received, rport = req.txn.rport,
              headers = { Contact = "<sip:fork1@" .. addr_of(ep) .. ">" } }))
            sip.sleep(0.02)
            answer("fork1")
            sip.sleep(0.02)
            answer("fork2")
          end
        end, 0.2)
        local call = assert(alice:call("sip:raw@" .. addr_of(ep)))
        assert.equal("fork1", call.dialog.remote_tag)
        sip.sleep(0.3)
        table.sort(acks)
        assert.same({ "fork1", "fork2" }, acks)
        assert.same({ "fork2" }, byes)
        assert.equal("confirmed", call.state)
        call:bye()
        ep:close()
      end)
    end)

    for _, mode in ipairs { "loose", "strict" } do
      it("values from the network that cannot be used never raise: odd RSeq, Contact, Record-Route", function()
      with_uas(function(alice)
        local ep
        ep = raw_endpoint(function(req)
          if req.method ~= "INVITE" then
            if req.txn then req:reply(200) end
            return
          end
          local function send(code, headers, body)
            req.txn:send(sip.response(req, code, nil, { to_tag = "odd", headers = headers, body = body,
              content_type = body and "application/sdp", received = req.txn.received, rport = req.txn.rport }))
          end
          send(180, { { "Require", "100rel" }, { "RSeq", "1.5" }, { "Contact", "<sip:raw@" .. addr_of(ep) .. ">" } })
          send(183, { { "Require", "100rel" }, { "RSeq", "99999999999999999999" },
            { "Contact", "<sip:raw@" .. addr_of(ep) .. ">" } })
          send(200, { { "Contact", "<http://example.com/x>" }, { "Record-Route", "<mailto:x@example.com>" } }, OFFER)
        end)
        local call = assert(alice:call("sip:raw@" .. addr_of(ep)))
        assert.equal("confirmed", call.state)
        local rsp, err = call:bye()
        assert.is_nil(rsp)
        assert.is_string(err)
        assert.equal("ended", call.state)
        ep:close()
      end)
    end)

    it("§8.1.1.8: an INVITE without Contact gets 400", function()
      with_uas(function(_, bob)
        bob:on("call", function(call) call:answer() end)
        local rsp = probe(bob, crafted("INVITE", { body = OFFER, content_type = "application/sdp" }))
        assert.equal(400, rsp.status)
        assert.equal(0, count(bob.dialogs))
      end)
    end)

    it("§12.2.1.1, §16.4: requests within the dialog follow Record-Route through a " .. mode .. " router, both ways", function()
        with_uas(function(alice, bob)
          local seen = {}
          local next_hop = require("sip.endpoint").next_hop
          -- a record-routing proxy: each request forwarded on a transaction of its own
          local proxy
          proxy = raw_endpoint(function(req)
            local me = "sip:" .. addr_of(proxy)
            local fwd = req:clone()
            local routes = fwd:headers("Route")
            local how = "direct"
            local first = fwd:header("Route") and fwd:addrs("Route")[1]
            if first and sip.uri(first.uri).port == proxy.listeners[1].port then
              -- loose routing: our own Route goes
              how = "loose"
              fwd:remove_header("Route")
              for i = 2, #routes do fwd:add_header("Route", routes[i]) end
            elseif sip.uri(req.uri).port == proxy.listeners[1].port and #routes > 0 then
              -- §16.4: a strict router's Request-URI: the last Route value takes its place
              how = "strict"
              local last = fwd:addrs("Route")[#routes]
              fwd:set_uri(last.uri)
              fwd:remove_header("Route")
              for i = 1, #routes - 1 do fwd:add_header("Route", routes[i]) end
            end
            seen[#seen + 1] = req.method .. " " .. how
            if req.method == "INVITE" and not req.to.tag then
              fwd:add_header("Record-Route", "<" .. me .. (mode == "loose" and ";lr" or "") .. ">", "top")
            end
            fwd:decrement_max_forwards()
            local dest = next_hop(fwd)
            fwd:push_via(("SIP/2.0/UDP %s;branch=%s"):format(addr_of(proxy), sip.branch()))
            if req.method == "ACK" then return proxy:send(fwd, dest) end
            local function relay(r)
              r:pop_via()
              req.txn:send(r)
            end
            local rsp = proxy:request(fwd, { dest = dest, provisional = relay, on_2xx = relay })
            if rsp then relay(rsp) end
          end)
          local bob_call
          bob:on("call", function(call)
            bob_call = call
            call:answer()
          end)
          local call = assert(alice:call(uri_of(bob), {
            headers = { Route = "<sip:" .. addr_of(proxy) .. ";lr>" } }))
          local rr = "<sip:" .. addr_of(proxy) .. (mode == "loose" and ";lr" or "") .. ">"
          assert.same({ rr }, call.dialog.route_set)
          assert.same({ rr }, bob_call.dialog.route_set)
          assert.is_true(bob_call:_wait(function() return bob_call.acked end, 2))
          assert(bob_call:request("OPTIONS"))
          assert(call:bye())
          assert.equal("bye", bob_call:wait_end(2))
          assert.same({ "INVITE loose", "ACK " .. mode, "OPTIONS " .. mode, "BYE " .. mode }, seen)
          proxy:close()
        end)
      end)
    end

    it("§13.3.1: an INVITE with Expires gets 487 when it expires unanswered", function()
      with_uas(function(alice, bob)
        local bob_call
        bob:on("call", function(call)
          bob_call = call
          call:ring()
        end)
        local call, err, code = alice:call(uri_of(bob), { headers = { Expires = 1 } })
        assert.is_nil(call)
        assert.equal(487, code, err)
        assert.equal("expired", bob_call.end_reason)
      end)
    end)

    it("RFC 3264 §6: an offered stream the answerer cannot take is rejected with port 0, the rest accepted", function()
      local offer = table.concat {
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n",
        "m=audio 4000 RTP/AVP 18 8\r\na=rtpmap:18 G729/8000\r\na=rtpmap:8 PCMA/8000\r\n",
        "m=video 4002 RTP/AVP 31\r\na=rtpmap:31 H261/90000\r\n",
      }
      with_uas(function(alice, bob)
        bob:on("call", function(call) call:answer() end)
        local call = assert(alice:call(uri_of(bob), { sdp = offer }))
        assert.equal(2, #call.remote_sdp.streams)
        assert.equal(0, call.remote_sdp.streams[2].port)
        assert.same({ "G729", "PCMA" }, codec_names(call.remote_sdp))
        assert.equal("G729", call.codec.name)
        call:bye()
      end)
    end)

    it("RFC 3264 §6: an offer with nothing in common gets 488", function()
      with_uas(function(alice, bob)
        bob:on("call", function(call) call:answer() end)
        local _, _, code = alice:call(uri_of(bob), {
          sdp = sdp.new { address = "127.0.0.1", port = 4000, codecs = { "GSM" }, telephone_event = false } })
        assert.equal(488, code)
      end)
    end)

    it("IPv6: a call between two UAs on ::1 with IP6 session descriptions", function()
      with_uas(function(alice, bob)
        bob:on("call", function(call) call:answer() end)
        local target = ("sip:bob@[::1]:%d"):format(bob.ep.listeners[1].port)
        local call = assert(alice:call(target))
        assert.equal("IP6", call.remote_sdp.connection_info.addrtype)
        assert.equal("::1", call.remote_sdp.connection_info.address)
        assert.equal("PCMA", call.codec.name)
        assert(call:bye())
      end, { listen = { "udp:[::1]:0" } }, { listen = { "udp:[::1]:0" } })
    end)

  end)

  describe("RFC 3262 reliable provisional responses and RFC 3311 UPDATE", function()
    it("RFC 3262: with Require: 100rel the 180 is sent reliably and PRACKed, then the call is answered", function()
      local pracked, rseq
      with_uas(function(alice, bob)
        local bob_call
        bob:on("call", function(call)
          bob_call = call
          call:ring()
          pracked = call:_wait(function() return call.rel_pending == nil end, 2)
          call:answer()
        end)
        local call = assert(alice:call(uri_of(bob), { require_100rel = true,
          on_progress = function(_, rsp) rseq = rsp:header("RSeq") end }))
        assert.is_not_nil(rseq)
        assert.equal("confirmed", call.state)
        assert.equal("PCMA", bob_call.codec.name)
        call:bye()
      end)
      assert.is_true(pracked)
    end)

    it("RFC 3262 §5: a reliable 183 carries the answer (early media); the 200 has no SDP", function()
      with_uas(function(alice, bob)
        bob:on("call", function(call)
          call:ring { status = 183, reliable = true, sdp = true }
          call:answer()
        end)
        local media_at
        local call = alice:dial(uri_of(bob))
        call:on("media", function(c) media_at = media_at or c.state end)
        assert(call:wait_answer(2))
        assert.equal("early", media_at)
        assert.equal("PCMA", call.codec.name)
        assert.is_nil(call.offer_state)
        call:bye()
      end)
    end)

    it("RFC 3262 §5: an INVITE without offer: the offer in the reliable 180, the answer in the PRACK", function()
      with_uas(function(alice, bob)
        local bob_call
        bob:on("call", function(call)
          bob_call = call
          call:ring { sdp = true }
          call:answer()
        end)
        local call = assert(alice:call(uri_of(bob), { sdp = false, require_100rel = true }))
        assert.equal("PCMA", call.codec.name)
        assert.equal("PCMA", bob_call.codec.name)
        assert.is_nil(bob_call.offer_state)
        call:bye()
      end)
    end)

    it("RFC 3262 §3: the reliable 180 goes again (T1, 2*T1, ...) until its PRACK", function()
      with_uas(function(_, bob)
        local bob_call
        bob:on("call", function(call)
          bob_call = call
          call:ring()
        end)
        local ep = raw_endpoint()
        local inv = raw_invite(ep, uri_of(bob), { Require = "100rel" })
        local got = {}
        sip.spawn(function()
          ep:request(inv, { provisional = function(r) got[#got + 1] = r end })
        end)
        sip.sleep(0.2)
        assert.is_true(#got >= 3, "180s: " .. #got)
        assert.equal("100rel", got[1]:header("Require"))
        local r = got[1]
        local contact = r:addrs("Contact")[1].uri
        local prack = assert(ep:request(sip.request {
          method = "PRACK", uri = contact, from = inv:header("From"), to = r:header("To"), call_id = inv.call_id,
          cseq = inv.cseq + 1, headers = { RAck = r:header("RSeq") .. " " .. inv.cseq .. " INVITE" } },
          { dest = sip.dialog.hop(contact) }))
        assert.equal(200, prack.status)
        local n = #got
        sip.sleep(0.2)
        assert.equal(n, #got)
        -- a PRACK for an RSeq that was never sent: 481
        local bad = assert(ep:request(sip.request {
          method = "PRACK", uri = contact, from = inv:header("From"), to = r:header("To"), call_id = inv.call_id,
          cseq = inv.cseq + 2, headers = { RAck = "1 " .. inv.cseq .. " INVITE" } }, { dest = sip.dialog.hop(contact) }))
        assert.equal(481, bad.status)
        bob_call:reject(480)
        sip.sleep(0.05)
        ep:close()
      end)
    end)

    it("RFC 3311: UPDATE changes the session in both directions within a confirmed dialog", function()
      with_uas(function(alice, bob)
        local bob_call
        bob:on("call", function(call)
          bob_call = call
          call:answer()
        end)
        local call = assert(alice:call(uri_of(bob)))
        assert.is_true(bob_call:_wait(function() return bob_call.acked end, 2))
        assert(call:update(sdp.new { address = "127.0.0.1", port = 4300, codecs = { "PCMU" } }))
        assert.equal("PCMU", call.codec.name)
        assert.equal("PCMU", bob_call.codec.name)
        assert.equal(4300, bob_call.remote_sdp.streams[1].port)
        assert(bob_call:update(sdp.new { address = "127.0.0.1", port = 4400, codecs = { "G729", "PCMA" } }))
        assert.equal("G729", call.codec.name)
        assert.equal(4400, call.remote_sdp.streams[1].port)
        call:bye()
      end)
    end)

    it("RFC 3311 §5.1: UPDATE within the early dialog once the offer was answered reliably", function()
      with_uas(function(alice, bob)
        local updated
        bob:on("call", function(call)
          call:ring { reliable = true, sdp = true }
          call:_wait(function() return call.rel_pending == nil end, 2)
          updated = call:update(sdp.new { address = "127.0.0.1", port = 4500, codecs = { "PCMU" } })
          call:answer()
        end)
        local call = assert(alice:call(uri_of(bob), { require_100rel = true }))
        assert.is_not_nil(updated)
        assert.equal("PCMU", call.codec.name)
        assert.equal(4500, call.remote_sdp.streams[1].port)
        call:bye()
      end)
    end)

    it("RFC 3311 §5.2: an UPDATE offer while ours is unanswered gets 491", function()
      with_uas(function(alice, bob)
        local bob_call
        bob:on("call", function(call)
          bob_call = call
          call:ring() -- the INVITE's offer stays unanswered: alice's offer is pending
        end)
        local call = alice:dial(uri_of(bob))
        assert.is_true(call:_wait(function() return call.state == "early" end, 2))
        -- by hand: bob's own UA would not send it (bob owes an answer himself)
        local req, dest = bob_call.dialog:request("UPDATE", { body = OFFER, content_type = "application/sdp" })
        local rsp = assert(bob.ep:request(req, { dest = dest }))
        assert.equal(491, rsp.status)
        local _, _, code = bob_call:update()
        assert.equal(491, code)
        bob_call:reject(486)
        call:wait_end(2)
      end)
    end)
  end)

  it("close() ends calls and registrations without leaving watchers", function()
    run(function()
      local reg_srv = registrar()
      local alice = new_ua { user = "alice", domain = "example.com", password = "secret", registrar = reg_srv.uri }
      local bob = new_ua { user = "bob" }
      bob:on("call", function(call) call:ring() end)
      assert(alice:register { expires = 100 })
      local call = alice:dial(uri_of(bob))
      assert.is_true(call:_wait(function() return call.state == "early" end, 2))
      alice:close()
      bob:close()
      assert.equal("closed", call.end_reason)
      reg_srv.ep:close()
    end)
  end)
end)
