-- sip.parse, the message object, builders and URIs from Lua (RFC 3261 §7, §8, §19, §20).
local sip = require "sip"

local CRLF = "\r\n"
local function msg(lines, body)
  return table.concat(lines, CRLF) .. CRLF .. CRLF .. (body or "")
end

local INVITE = msg({
  "INVITE sip:bob@biloxi.example.com SIP/2.0",
  "Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport",
  "v: SIP/2.0/TCP proxy.example.com;branch=z9hG4bK1, SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK2;received=192.0.2.7",
  "Max-Forwards: 70",
  "To: Bob <sip:bob@biloxi.example.com>",
  'f: "Alice A." <sip:alice@atlanta.example.com>;tag=1928301774',
  "i: a84b4c76e66710@pc33.atlanta.example.com",
  "CSeq: 314159 INVITE",
  "m: <sip:alice@pc33.atlanta.example.com>;expires=60;q=0.5, sip:alice@192.0.2.4",
  "Subject: folded",
  "  across lines",
  "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>",
  "c: application/sdp",
  "l: 4",
}, "v=0\n")

describe("sip messages", function()
  describe("sip.parse", function()
    it("§7.1 exposes the request line", function()
      local m = assert(sip.parse(INVITE))
      assert.equal("INVITE", m.method)
      assert.equal("sip:bob@biloxi.example.com", m.uri)
      assert.is_true(m.is_request)
      assert.is_nil(m.status)
    end)

    it("§7.2 exposes the status line", function()
      local m = assert(sip.parse("SIP/2.0 180 Ringing" .. CRLF .. "Content-Length: 0" .. CRLF .. CRLF))
      assert.equal(180, m.status)
      assert.equal("Ringing", m.reason)
      assert.is_nil(m.method)
      assert.is_true(m.is_response)
    end)

    it("§7.3.1 finds headers case-insensitively and by compact form", function()
      local m = assert(sip.parse(INVITE))
      assert.equal("a84b4c76e66710@pc33.atlanta.example.com", m:header("Call-ID"))
      assert.equal("a84b4c76e66710@pc33.atlanta.example.com", m:header("call-id"))
      assert.equal("a84b4c76e66710@pc33.atlanta.example.com", m:header("i"))
      assert.equal("application/sdp", m:header("Content-Type"))
      assert.equal("application/sdp", m.content_type)
      assert.is_nil(m:header("Nope"))
    end)

    it("§7.3.1 unfolds folded values to one space", function()
      local m = assert(sip.parse(INVITE))
      assert.equal("folded across lines", m:header("Subject"))
    end)

    it("§7.3.1 splits comma-separated lists into values, in order", function()
      local m = assert(sip.parse(INVITE))
      local v = m:headers("Via")
      assert.equal(3, #v)
      assert.matches("^SIP/2.0/TCP proxy", v[2])
      assert.equal(2, #m:headers("Route"))
      assert.equal(2, #m:headers("Contact"))
    end)

    it("lists every header in order with headers()", function()
      local all = assert(sip.parse(INVITE)):headers()
      assert.equal("Via", all[1].name)
      assert.equal("v", all[2].name)
      assert.equal("v", all[3].name)
      assert.equal("Max-Forwards", all[4].name)
    end)

    it("§20.42 parses Via: transport, sent-by, branch, received, rport", function()
      local m = assert(sip.parse(INVITE))
      local top = m:via()
      assert.equal("SIP/2.0", top.protocol)
      assert.equal("UDP", top.transport)
      assert.equal("pc33.atlanta.example.com", top.host)
      assert.equal(5060, top.port)
      assert.equal("z9hG4bK776asdhds", top.branch)
      assert.is_true(top.rport)
      assert.equal("z9hG4bK776asdhds", m.branch)
      local third = m:via(3)
      assert.equal("192.0.2.7", third.received)
      assert.equal(5062, third.port)
      assert.equal(3, #m:vias())
    end)

    it("§20.20 and §20.39 parse From and To with display name and tag", function()
      local m = assert(sip.parse(INVITE))
      assert.equal("Alice A.", m.from.display)
      assert.equal("sip:alice@atlanta.example.com", m.from.uri)
      assert.equal("1928301774", m.from.tag)
      assert.equal("Bob", m.to.display)
      assert.is_nil(m.to.tag)
    end)

    it("§20.39 gives the To URI alone as to_uri, also after an edit", function()
      local m = assert(sip.parse(INVITE))
      assert.equal("sip:bob@biloxi.example.com", m.to_uri)
      assert.equal(m.to.uri, m.to_uri)
      m:set_header("To", "sip:carol@chicago.example.com;tag=5")
      assert.equal("sip:carol@chicago.example.com", m.to_uri)
      m:remove_header("To")
      assert.is_nil(m.to_uri)
    end)

    it("§20.16 parses CSeq and Call-ID", function()
      local m = assert(sip.parse(INVITE))
      assert.equal(314159, m.cseq)
      assert.equal("INVITE", m.cseq_method)
    end)

    it("§20.10 parses Contacts with expires and q", function()
      local c = assert(sip.parse(INVITE)):addrs("Contact")
      assert.equal("sip:alice@pc33.atlanta.example.com", c[1].uri)
      assert.equal(60, c[1].expires)
      assert.equal(0.5, c[1].q)
      assert.equal("sip:alice@192.0.2.4", c[2].uri)
      assert.is_false(c[2].bracketed)
    end)

    it("§10.2.2 parses Contact: *", function()
      local m = assert(sip.parse(msg({
        "REGISTER sip:example.com SIP/2.0", "Via: SIP/2.0/UDP h;branch=z9hG4bKx", "To: <sip:a@example.com>",
        "From: <sip:a@example.com>;tag=1", "Call-ID: 1", "CSeq: 2 REGISTER", "Contact: *", "Expires: 0",
        "Content-Length: 0" })))
      assert.is_true(m:addrs("Contact")[1].star)
      assert.equal(0, m.expires)
    end)

    it("§20.34 parses the Route set", function()
      local r = assert(sip.parse(INVITE)):addrs("Route")
      assert.equal("sip:p1.example.com;lr", r[1].uri)
      assert.equal("sip:p2.example.com;lr", r[2].uri)
    end)

    it("exposes the body by Content-Length", function()
      assert.equal("v=0\n", assert(sip.parse(INVITE)).body)
    end)

    it("§18.3 drops octets past Content-Length in a datagram", function()
      local m = assert(sip.parse(INVITE .. "garbage"))
      assert.equal("v=0\n", m.body)
      assert.equal(INVITE, tostring(m))
    end)

    it("§18.3 rejects a body shorter than Content-Length", function()
      local m, err, code = sip.parse(INVITE:sub(1, -2))
      assert.is_nil(m)
      assert.matches("at byte %d+", err)
      assert.equal(400, code)
    end)

    it("names the problem and the byte offset", function()
      local m, err, code = sip.parse("INVITE sip:a@b SIP/2.0\r\nCSeq: x INVITE\r\n\r\n")
      assert.is_nil(m)
      assert.matches("CSeq", err)
      assert.matches("at byte %d+", err)
      assert.equal(400, code)
    end)

    it("§20.22 rejects a Max-Forwards above 255", function()
      local bad = INVITE:gsub("Max%-Forwards: 70", "Max-Forwards: 256")
      assert.is_nil((sip.parse(bad)))
    end)

    it("§8.1.1.5 rejects a CSeq number of 2^31 or more", function()
      local bad = INVITE:gsub("314159", "2147483648")
      assert.is_nil((sip.parse(bad)))
    end)

    it("§21.5.6 answers an unknown version with 505", function()
      local _, _, code = sip.parse("OPTIONS sip:a@b SIP/3.0\r\nContent-Length: 0\r\n\r\n")
      assert.equal(505, code)
    end)

    it("rejects status codes outside 100..699", function()
      assert.is_nil((sip.parse("SIP/2.0 700 Odd\r\nContent-Length: 0\r\n\r\n")))
      assert.is_nil((sip.parse("SIP/2.0 99 Odd\r\nContent-Length: 0\r\n\r\n")))
    end)

    it("enforces the configured limits with clear errors", function()
      local _, err = sip.parse(INVITE, { max_size = 100 })
      assert.matches("large", err)
      local _, err2 = sip.parse(INVITE, { max_headers = 4 })
      assert.matches("header", err2)
      local _, err3 = sip.parse(INVITE, { max_line = 40 })
      assert.matches("long", err3)
    end)

    it("§18.3 requires Content-Length on streams", function()
      local noclen = INVITE:gsub("l: 4\r\n", "")
      assert.is_not_nil(sip.parse(noclen))
      assert.is_nil((sip.parse(noclen, { stream = true })))
    end)

    it("never raises on garbage", function()
      for _, s in ipairs({ "", "\r\n", "INVITE", "SIP/2.0", string.rep("a", 70000), "\0\1\2", "A B C\r\n\r\n" }) do
        local ok, m = pcall(sip.parse, s)
        assert.is_true(ok)
        assert.is_nil(m)
      end
    end)

    it("raises on misuse", function()
      assert.has_error(function() sip.parse() end)
      assert.has_error(function() sip.parse({}) end)
      assert.has_error(function() sip.parse("x", 5) end)
    end)
  end)

  describe("sip.frame (streams)", function()
    it("§18.3 frames by Content-Length: need more, one message, pipelined", function()
      assert.equal(0, sip.frame(INVITE:sub(1, 50)))
      assert.equal(#INVITE, sip.frame(INVITE))
      local n, skip = sip.frame("\r\n\r\n" .. INVITE .. INVITE)
      assert.equal(4, skip)
      assert.equal(#INVITE, n)
    end)
    it("§18.3 a stream message without Content-Length is an error", function()
      local n, err = sip.frame((INVITE:gsub("l: 4\r\n", "")))
      assert.is_nil(n)
      assert.matches("Content%-Length", err)
    end)
  end)

  describe("editing", function()
    it("§16.6 pushes and pops Via, keeping order", function()
      local m = assert(sip.parse(INVITE))
      m:push_via("SIP/2.0/UDP proxy.example.org;branch=z9hG4bKnew")
      assert.equal("z9hG4bKnew", m.branch)
      assert.equal(4, #m:vias())
      assert.equal("SIP/2.0/UDP proxy.example.org;branch=z9hG4bKnew", m:pop_via())
      assert.equal("z9hG4bK776asdhds", m.branch)
      local again = assert(sip.parse(tostring(m)))
      assert.equal(3, #again:vias())
    end)

    it("§16.6 step 3 decrements Max-Forwards", function()
      local m = assert(sip.parse(INVITE))
      assert.equal(69, m:decrement_max_forwards())
      assert.equal(69, assert(sip.parse(tostring(m))).max_forwards)
    end)

    it("adds, replaces and removes headers", function()
      local m = assert(sip.parse(INVITE))
      m:add_header("X-Test", "one")
      m:add_header("X-Test", "zero", "top")
      assert.same({ "zero", "one" }, m:headers("x-test"))
      m:set_header("X-Test", "only")
      assert.same({ "only" }, m:headers("X-Test"))
      assert.equal(1, m:remove_header("x-test"))
      assert.is_nil(m:header("X-Test"))
      m:set_header("Subject", "plain")
      assert.equal("plain", assert(sip.parse(tostring(m))):header("Subject"))
    end)

    it("§20.14 set_body keeps Content-Length right", function()
      local m = assert(sip.parse(INVITE))
      m:set_body("hello world", "text/plain")
      local again = assert(sip.parse(tostring(m), { stream = true }))
      assert.equal("hello world", again.body)
      assert.equal("text/plain", again.content_type)
      assert.equal("11", again:header("Content-Length"))
    end)

    it("rejects header injection", function()
      local m = assert(sip.parse(INVITE))
      assert.has_error(function() m:add_header("X", "a\r\nVia: evil") end)
      assert.has_error(function() m:add_header("Bad Name", "a") end)
      assert.has_error(function() m:push_via("not a via") end)
    end)

    -- A CR or LF would end the line early: the rest would pass as headers, or after an empty line
    -- as a second message on a stream. A NUL ends the text for C.
    for _, bad in ipairs({ { "CRLF", "0\r\n\r\nINVITE sip:x SIP/2.0" }, { "LF", "a\nVia: evil" },
                           { "CR", "a\rb" }, { "NUL", "a\0b" } }) do
      it("§7.3 refuses a " .. bad[1] .. " in a value, naming the header, for every edit", function()
        local m = assert(sip.parse(INVITE))
        local before = tostring(m)
        local function refused(fn, what)
          local ok, err = pcall(fn)
          assert.is_false(ok)
          assert.matches(what .. " must not contain CR, LF or NUL", err, 1, true)
        end
        refused(function() m:set_header("Subject", bad[2]) end, "Subject value")
        refused(function() m:add_header("X-Copied", bad[2]) end, "X-Copied value")
        refused(function() m:add_header("X-Copied", bad[2], "top") end, "X-Copied value")
        refused(function() m:push_via("SIP/2.0/UDP p.example;branch=z9hG4bK1" .. bad[2]) end, "Via value")
        refused(function() m:set_body("x", "text/plain" .. bad[2]) end, "Content-Type value")
        refused(function() m:set_uri("sip:bob@example.com" .. bad[2]) end, "Request-URI")
        local rsp = sip.response(m, 200)
        refused(function() rsp:set_status(200, "OK" .. bad[2]) end, "reason phrase")
        refused(function() sip.response(m, 200, "OK" .. bad[2]) end, "reason phrase")
        assert.equal(before, tostring(m)) -- nothing changed
      end)
    end

    it("§25.1 refuses a header name that is not a token", function()
      local m = assert(sip.parse(INVITE))
      for _, name in ipairs({ "Bad Name", "X:Y", "", "X\r\nY", "X\0" }) do
        local ok, err = pcall(m.set_header, m, name, "v")
        assert.is_false(ok)
        assert.matches("header name must be a token", err, 1, true)
        assert.has_error(function() m:add_header(name, "v") end)
      end
    end)

    it("§20.14 writes the body's length whatever Content-Length a script set", function()
      for _, edit in ipairs({ function(m) m:set_header("Content-Length", "0") end,
                              function(m) m:set_header("l", "99999") end,
                              function(m) m:add_header("Content-Length", "1", "top") end,
                              function(m) m:remove_header("Content-Length") end }) do
        local m = assert(sip.parse(INVITE))
        edit(m)
        local bytes = tostring(m)
        assert.equal(#bytes, (sip.frame(bytes))) -- one message on a stream, all of the bytes
        local again = assert(sip.parse(bytes, { stream = true }))
        assert.equal("v=0\n", again.body)
        assert.same({ "4" }, again:headers("Content-Length"))
      end
    end)

    it("§18.3 a datagram goes on as one message: extra octets cut, a missing length written", function()
      local smuggled = "MESSAGE sip:bob@example.com SIP/2.0\r\nContent-Length: 0\r\n\r\n"
      local m = assert(sip.parse(INVITE .. smuggled))
      assert.equal(INVITE, tostring(m))
      local nolen = assert(sip.parse((INVITE:gsub("l: 4\r\n", "")) .. smuggled))
      local bytes = tostring(nolen)
      assert.equal(#bytes, (sip.frame(bytes)))
      assert.equal("v=0\n" .. smuggled, assert(sip.parse(bytes, { stream = true })).body)
    end)

    it("§7.3.1 keeps the values of a list line on one line after an edit, as they came", function()
      local m = assert(sip.parse(INVITE))
      m:decrement_max_forwards()
      m:push_via("SIP/2.0/UDP proxy.example.org;branch=z9hG4bKnew")
      local out = tostring(m)
      assert.truthy(out:find("\r\nVia: SIP/2.0/UDP proxy.example.org;branch=z9hG4bKnew\r\n", 1, true))
      assert.truthy(out:find("\r\nv: SIP/2.0/TCP proxy.example.com;branch=z9hG4bK1, SIP/2.0/UDP 10.0.0.1:5062;"
        .. "branch=z9hG4bK2;received=192.0.2.7\r\n", 1, true))
      assert.truthy(out:find("\r\nm: <sip:alice@pc33.atlanta.example.com>;expires=60;q=0.5, sip:alice@192.0.2.4\r\n",
        1, true))
      -- the first Route taken away (a loose router's own): the rest of its line stays
      local r = assert(sip.parse(INVITE))
      local routes = r:headers("Route")
      r:remove_header("Route")
      r:add_header("Route", routes[2])
      r:add_header("Supported", "100rel")
      r:add_header("Supported", "path")
      local again = tostring(r)
      assert.truthy(again:find("\r\nRoute: <sip:p2.example.com;lr>\r\nSupported: 100rel\r\nSupported: path\r\n", 1, true))
      assert.equal(4, #assert(sip.parse(out)):vias())
    end)

    it("serializes an untouched message as its original bytes", function()
      assert.equal(INVITE, tostring(assert(sip.parse(INVITE))))
    end)
  end)

  describe("building", function()
    local function req()
      return sip.request {
        method = "REGISTER", uri = "sip:registrar.biloxi.com",
        from = { uri = "sip:bob@biloxi.com", display = "Bob" }, to = "<sip:bob@biloxi.com>",
        via = { host = "192.0.2.4", port = 5060, rport = true },
        contact = "<sip:bob@192.0.2.4>", expires = 7200,
        headers = { { "User-Agent", "lua-sip" } },
      }
    end

    it("§8.2.7 a stateless answer's To tag is the same for a retransmission, another for another request", function()
      local a = req()
      local again = assert(sip.parse(tostring(a)))
      assert.matches("^%x+$", a.stateless_tag)
      assert.equal(16, #a.stateless_tag)
      assert.equal(a.stateless_tag, again.stateless_tag)
      assert.not_equal(a.stateless_tag, req().stateless_tag) -- another branch, Call-ID and From tag
    end)

    it("§16.3 step 4 a request's loop key: the same when it comes back, another on a spiral", function()
      local a = req()
      local back = assert(sip.parse(tostring(a)))
      back:push_via("SIP/2.0/UDP 192.0.2.99;branch=z9hG4bKother") -- Vias play no part
      assert.equal("integer", math.type(a.loop_key))
      assert.equal(a.loop_key, back.loop_key)
      back:set_uri("sip:bob@192.0.2.4") -- retargeted: a spiral, not a loop
      assert.not_equal(a.loop_key, back.loop_key)
      assert.not_equal(a.loop_key, req().loop_key)
      assert.is_nil(sip.response(a, 200).loop_key)
    end)

    it("§8.1.1 a request has the mandatory headers and fresh identifiers", function()
      local r = req()
      assert.equal("REGISTER", r.method)
      assert.equal(1, r.cseq)
      assert.equal("REGISTER", r.cseq_method)
      assert.equal(70, r.max_forwards)
      assert.matches("^z9hG4bK", r.branch)
      assert.is_string(r.from.tag)
      assert.is_string(r.call_id)
      assert.equal("Bob", r.from.display)
      assert.equal(7200, r.expires)
      assert.equal("lua-sip", r:header("User-Agent"))
      assert.is_true(r:check())
      assert.are_not.equal(req().call_id, r.call_id)
      assert.are_not.equal(req().branch, r.branch)
    end)

    it("§8.2.6.2 a response copies Via, From, To, Call-ID, CSeq and adds a To tag", function()
      local r = req()
      local resp = sip.response(r, 200, nil, { headers = { Contact = "<sip:bob@192.0.2.4>;expires=7200" } })
      assert.equal(200, resp.status)
      assert.equal("OK", resp.reason)
      assert.equal(r.branch, resp.branch)
      assert.equal(r.from.tag, resp.from.tag)
      assert.equal(r.call_id, resp.call_id)
      assert.equal(r.cseq, resp.cseq)
      assert.is_string(resp.to.tag)
      assert.equal("<sip:bob@192.0.2.4>;expires=7200", resp:header("Contact"))
    end)

    it("§8.2.6.2 a 100 gets no To tag; an explicit to_tag is used", function()
      assert.is_nil(sip.response(req(), 100).to.tag)
      assert.equal("abc", sip.response(req(), 486, "Busy Here", { to_tag = "abc" }).to.tag)
    end)

    it("RFC 3581 §4 received and rport go into the top Via of the response", function()
      local resp = sip.response(req(), 200, nil, { received = "198.51.100.1", rport = 40000 })
      local v = resp:via()
      assert.equal("198.51.100.1", v.received)
      assert.equal(40000, v.rport)
    end)

    it("a response carries a body with its type", function()
      local resp = sip.response(req(), 200, "OK", { body = "v=0\r\n", content_type = "application/sdp" })
      assert.equal("v=0\r\n", resp.body)
      assert.equal("application/sdp", resp.content_type)
    end)

    it("§17.1.1.3 ACK for a non-2xx and §9.1 CANCEL", function()
      local inv = sip.request { method = "INVITE", uri = "sip:bob@b.example", from = "<sip:a@a.example>",
        to = "<sip:bob@b.example>", via = { host = "a.example" }, route = { "<sip:p.example;lr>" } }
      local busy = sip.response(inv, 486)
      local ack = sip.ack(inv, busy)
      assert.equal("ACK", ack.method)
      assert.equal(inv.branch, ack.branch)
      assert.equal(busy.to.tag, ack.to.tag)
      assert.equal("ACK", ack.cseq_method)
      assert.equal(inv.cseq, ack.cseq)
      assert.equal("<sip:p.example;lr>", ack:header("Route"))
      local cancel = sip.cancel(inv)
      assert.equal("CANCEL", cancel.method)
      assert.equal(inv.branch, cancel.branch)
      assert.equal(inv.uri, cancel.uri)
    end)

    it("§7.3 refuses CR, LF or NUL in the header tables, strings and fields of the builders", function()
      local function refused(fn, what)
        local ok, err = pcall(fn)
        assert.is_false(ok)
        assert.matches(what, err, 1, true)
      end
      local r = req()
      local base = { method = "OPTIONS", uri = "sip:a@b", from = "<sip:a@b>", to = "<sip:a@b>" }
      local function request(extra)
        local t = {}
        for k, v in pairs(base) do t[k] = v end
        for k, v in pairs(extra) do t[k] = v end
        return sip.request(t)
      end
      for _, bad in ipairs({ "a\r\nVia: evil", "a\nb", "a\rb", "a\0b" }) do
        refused(function() request { headers = { ["X-A"] = bad } } end, "header value must not contain CR, LF or NUL")
        if not bad:find("\r\n", 1, true) then -- a CRLF in a string of lines is one more line
          refused(function() request { headers = "X-A: " .. bad .. "\r\n" } end, "X-A: value must not contain CR, LF or NUL")
          refused(function() sip.response(r, 200, nil, { headers = "X-A: " .. bad .. "\r\n" }) end,
            "headers: X-A: value must not contain CR, LF or NUL")
        end
        refused(function() request { via = { host = bad } } end, "via.host must not contain")
        refused(function() request { from = { uri = "sip:a@b", params = { [bad] = true } } } end, "from.params")
        refused(function() sip.response(r, 200, nil, { headers = { ["X-A"] = bad } }) end, "header value must not contain")
        refused(function() sip.response(r, 200, nil, { to_tag = bad }) end, "to_tag must be a token")
        refused(function() sip.response(r, 200, nil, { received = bad }) end, "received must not contain")
        refused(function() sip.response(r, 200, nil, { body = "x", content_type = "text/plain" .. bad }) end,
          "content_type must not contain")
      end
      refused(function() sip.response(r, 200, nil, { headers = "X-A: 1\r\n\r\nSIP/2.0 200 OK\r\n" }) end,
        "empty line (it would end the header section)")
      refused(function() sip.response(r, 200, nil, { headers = "X-A: 1" }) end, "header line must end in CRLF")
    end)

    it("§20.14 a Content-Length among a builder's headers gives way to the body's", function()
      local q = sip.request { method = "MESSAGE", uri = "sip:a@b", from = "<sip:a@b>", to = "<sip:a@b>",
        headers = "X-A: 1\r\nl: 0\r\n", body = "hello", content_type = "text/plain" }
      local rsp = sip.response(q, 200, nil, { headers = { ["Content-Length"] = "0", ["X-B"] = "2" },
        body = "body!", content_type = "text/plain" })
      for _, m in ipairs({ q, rsp }) do
        local bytes = tostring(m)
        assert.equal(#bytes, (sip.frame(bytes)))
        assert.equal(1, #m:headers("Content-Length"))
      end
      assert.equal("hello", q.body)
      assert.equal("body!", rsp.body)
    end)

    it("raises on misuse", function()
      assert.has_error(function() sip.request {} end)
      assert.has_error(function() sip.request { method = "A B", uri = "sip:x", from = "<sip:a@b>", to = "<sip:a@b>" } end)
      assert.has_error(function() sip.request { method = "OPTIONS", uri = "not a uri", from = "<sip:a@b>", to = "<sip:a@b>" } end)
      assert.has_error(function() sip.response(req(), 99) end)
    end)

    it("gives random identifiers from OpenSSL", function()
      assert.matches("^z9hG4bK%w+$", sip.branch())
      assert.equal(16, #sip.tag())
      assert.are_not.equal(sip.callid(), sip.callid())
    end)
  end)

  describe("on the wire", function()
    it("§18.3 a datagram a proxy relays over TCP stays one message, whatever its script set", function()
      local proxy = require "sip.proxy"
      local loop = require "sip.loop"
      local got = {}
      sip.run(function()
        local bob = assert(sip.endpoint { listen = { "tcp:127.0.0.1:0" },
          handler = function(req) got[#got + 1] = req; req:reply(200) end })
        local px = assert(proxy.new { listen = { "udp:127.0.0.1:0", "tcp:127.0.0.1:0" }, realm = "example.com",
          sweep_interval = 0,
          route = function(req, p)
            if req.method ~= "REGISTER" then req:set_header("Content-Length", "0") end -- a copied untrusted value
            return proxy.default_route(req, p)
          end })
        local client = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" } })
        local dest = { proto = "udp", host = "127.0.0.1", port = px.ep.by_proto.udp.port }
        local reg = sip.request { method = "REGISTER", uri = "sip:example.com", from = "<sip:bob@example.com>",
          to = "<sip:bob@example.com>", contact = ("<sip:bob@127.0.0.1:%d;transport=tcp>"):format(bob.by_proto.tcp.port),
          expires = 60 }
        assert.equal(200, assert(client:request(reg, { dest = dest, timeout = 2 })).status)
        -- Content-Length 5, then octets a stream would take for a second request (§18.3 drops them)
        local smuggled = "MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKs\r\n" ..
          "From: <sip:eve@example.com>;tag=e\r\nTo: <sip:bob@example.com>\r\nCall-ID: s\r\nCSeq: 1 MESSAGE\r\n" ..
          "Content-Length: 0\r\n\r\n"
        local m = sip.request { method = "MESSAGE", uri = "sip:bob@example.com", from = "<sip:alice@example.com>",
          to = "<sip:bob@example.com>", body = "hello", content_type = "text/plain",
          via = { host = "127.0.0.1", port = client.by_proto.udp.port } }
        assert(client:send(tostring(m) .. smuggled, dest))
        for _ = 1, 100 do
          if #got > 0 then break end
          sip.sleep(0.02)
        end
        sip.sleep(0.2) -- room for a second message, were there one
        client:close(); px:close(); bob:close()
      end)
      assert.equal(1, #got)
      assert.equal("hello", got[1].body)
      assert.equal("alice", got[1].from.uri:match("sip:(%w+)@"))
      assert.equal(0, loop.active())
    end)
  end)

  describe("URIs", function()
    it("§19.1.1 parses the parts", function()
      local u = assert(sip.uri("sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=hi%20there"))
      assert.equal("sips", u.scheme)
      assert.equal("alice", u.user)
      assert.equal("secret", u.password)
      assert.equal("[2001:db8::1]", u.host)
      assert.equal(5061, u.port)
      assert.equal("tcp", u.transport)
      assert.is_true(u:param("lr"))
      assert.equal("hi there", u.headers.subject)
    end)
    it("§19.1.4 compares by the RFC rules", function()
      assert.is_true(sip.uri("sip:%61lice@atlanta.com;transport=TCP") == sip.uri("sip:alice@AtLanTa.CoM;Transport=tcp"))
      assert.is_false(sip.uri("sip:alice@atlanta.com") == sip.uri("sip:alice@atlanta.com:5060"))
      assert.is_false(sip.uri("SIP:ALICE@AtLanTa.CoM;Transport=udp") == sip.uri("sip:alice@AtLanTa.CoM;Transport=UDP"))
      assert.is_true(sip.uri("sip:bob@biloxi.com"):equals("sip:bob@biloxi.com"))
    end)
    it("parses tel and other schemes, rejects garbage with a position", function()
      assert.equal("tel", sip.uri("tel:+1-201-555-0123").scheme)
      assert.equal("urn", sip.uri("urn:service:sos").scheme)
      local u, err = sip.uri("sip:")
      assert.is_nil(u)
      assert.matches("at byte", err)
      assert.is_nil((sip.uri("sip:a b@c")))
    end)
    it("unescapes once", function()
      assert.equal("value%41", sip.unescape("v%61lue%25%34%31"))
    end)
  end)
end)

describe("sip messages from real devices", function()
  describe("GB/T 28181", function()
    -- every device and platform is a 20-digit ID in a 10-digit domain
    local KEEPALIVE = msg({
      "MESSAGE sip:34020000002000000001@3402000000 SIP/2.0",
      "Via: SIP/2.0/UDP 192.168.1.93:5060;rport;branch=z9hG4bK-3d09000-2a2b21b",
      "From: <sip:34020000001320000001@3402000000>;tag=UL61Qycy",
      "To: <sip:34020000002000000001@3402000000>",
      "Call-ID: 5be796e4-b5ab-592e-cc13-64f34ea57528@192.168.1.93",
      "CSeq: 35 MESSAGE",
      "Contact: <sip:34020000001320000001@192.168.1.93:5060>",
      "Content-Type: Application/MANSCDP+xml",
      "Max-Forwards: 70",
      "Content-Length: 8",
    }, "<Notify>")

    it("a keepalive MESSAGE to the platform's ID parses, its domain a hostname", function()
      local m = assert(sip.parse(KEEPALIVE))
      assert.equal("MESSAGE", m.method)
      local u = m:request_uri()
      assert.equal("34020000002000000001", u.user)
      assert.equal("3402000000", u.host)
      assert.equal("3402000000", sip.uri(m.from.uri).host)
      assert.equal("UL61Qycy", m.from.tag)
    end)

    it("all-digit hosts are names unless they are four dotted labels (then IPv4 or nothing)", function()
      for _, host in ipairs { "3402000000", "3402000000.", "192.0.2", "192.0.2.1.5", "0" } do
        assert.equal(host, assert(sip.uri("sip:u@" .. host)).host)
      end
      assert.equal("192.0.2.1", sip.uri("sip:u@192.0.2.1").host)
      for _, host in ipairs { "192.0.2.256", "1234.0.2.1", "192.0.2.1.", "a.3402000000", "3402-" } do
        assert.is_nil((sip.uri("sip:u@" .. host)))
      end
    end)

    it("§19.1.4 compares all-digit names as text", function()
      assert.is_true(sip.uri("sip:34020000001320000001@3402000000") == sip.uri("sip:34020000001320000001@3402000000"))
      assert.is_false(sip.uri("sip:u@3402000000") == sip.uri("sip:u@03402000000"))
      assert.is_false(sip.uri("sip:u@3402000000") == sip.uri("sip:u@202.198.102.128"))
    end)
  end)

  describe("RFC 3428 §4, the MESSAGE example as printed", function()
    -- F1 to F4, continuation lines and the RFC's stray ";;" included
    local BODY = "Watson, come here."
    local F1 = msg({
      "MESSAGE sip:user2@domain.com SIP/2.0",
      "Via: SIP/2.0/TCP user1pc.domain.com;branch=z9hG4bK776sgdkse",
      "Max-Forwards: 70",
      "From: sip:user1@domain.com;tag=49583",
      "To: sip:user2@domain.com",
      "Call-ID: asd88asd77a@1.2.3.4",
      "CSeq: 1 MESSAGE",
      "Content-Type: text/plain",
      "Content-Length: 18",
    }, BODY)
    local F2 = msg({
      "MESSAGE sip:user2@domain.com SIP/2.0",
      "Via: SIP/2.0/TCP proxy.domain.com;branch=z9hG4bK123dsghds",
      "Via: SIP/2.0/TCP user1pc.domain.com;branch=z9hG4bK776sgdkse;",
      "   received=1.2.3.4",
      "Max-Forwards: 69",
      "From: sip:user1@domain.com;tag=49394",
      "To: sip:user2@domain.com",
      "Call-ID: asd88asd77a@1.2.3.4",
      "CSeq: 1 MESSAGE",
      "Content-Type: text/plain",
      "Content-Length: 18",
    }, BODY)
    local F3 = msg({
      "SIP/2.0 200 OK",
      "Via: SIP/2.0/TCP proxy.domain.com;branch=z9hG4bK123dsghds;",
      "   received=192.0.2.1",
      "Via: SIP/2.0/TCP user1pc.domain.com;;branch=z9hG4bK776sgdkse;",
      "   received=1.2.3.4",
      "From: sip:user1@domain.com;tag=49394",
      "To: sip:user2@domain.com;tag=ab8asdasd9",
      "Call-ID: asd88asd77a@1.2.3.4",
      "CSeq: 1 MESSAGE",
      "Content-Length: 0",
    })
    local F4 = msg({
      "SIP/2.0 200 OK",
      "Via: SIP/2.0/TCP user1pc.domain.com;branch=z9hG4bK776sgdkse;",
      "   received=1.2.3.4",
      "From: sip:user1@domain.com;;tag=49394",
      "To: sip:user2@domain.com;tag=ab8asdasd9",
      "Call-ID: asd88asd77a@1.2.3.4",
      "CSeq: 1 MESSAGE",
      "Content-Length: 0",
    })

    it("F1 and F2: the MESSAGE, sent and relayed, parse", function()
      local m1 = assert(sip.parse(F1))
      assert.same({ "MESSAGE", "z9hG4bK776sgdkse", "49583", BODY }, { m1.method, m1.branch, m1.from.tag, m1.body })
      local m2 = assert(sip.parse(F2))
      assert.equal("z9hG4bK123dsghds", m2.branch)
      local vias = m2:vias()
      assert.same({ "z9hG4bK776sgdkse", "1.2.3.4" }, { vias[2].branch, vias[2].received })
      assert.equal(69, m2.max_forwards)
    end)

    it("F3: the 200 OK, whose second Via has ';;branch=', parses; the empty param is skipped", function()
      local m = assert(sip.parse(F3))
      assert.equal(200, m.status)
      assert.same({ "z9hG4bK123dsghds", "192.0.2.1" }, { m.branch, m:via().received })
      local v = m:vias()[2]
      assert.same({ "user1pc.domain.com", "z9hG4bK776sgdkse", "1.2.3.4" }, { v.host, v.branch, v.received })
      assert.same({ branch = "z9hG4bK776sgdkse", received = "1.2.3.4" }, v.params)
      assert.equal("ab8asdasd9", m.to.tag)
    end)

    it("F4: the 200 OK that reaches user1, its From with ';;tag=', parses", function()
      local m = assert(sip.parse(F4))
      assert.same({ "49394", "z9hG4bK776sgdkse", "1.2.3.4" }, { m.from.tag, m.branch, m:via().received })
    end)

    it("the same on one line each (the fast path), in Via, From and the Request-URI", function()
      local m = assert(sip.parse(msg({
        "MESSAGE sip:user2@domain.com;;transport=tcp SIP/2.0",
        "Via: SIP/2.0/TCP 192.0.2.1:5060;;rport;;branch=z9hG4bK776sgdkse",
        "From: <sip:user1@domain.com;;transport=tcp>;;tag=49583",
        "To: sip:user2@domain.com",
        "Call-ID: asd88asd77a@1.2.3.4",
        "CSeq: 1 MESSAGE",
        "Max-Forwards: 70",
        "Content-Length: 0",
      })))
      assert.same({ "z9hG4bK776sgdkse", "49583", "tcp" }, { m.branch, m.from.tag, m:request_uri().transport })
      assert.is_true(m:via().rport)
      assert.equal("tcp", sip.uri(m.from.uri).transport)
    end)

    it("RFC 4475 §3.1.2.1 still holds: a final ';' is no param, ';;,;,,' no Via", function()
      for _, line in ipairs {
        "Via: SIP/2.0/UDP 192.0.2.15;;,;,,",
        "Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bK1;;",
        "Contact: \"Joe\" <sip:joe@example.org>;;;;",
      } do
        local m, err, code = sip.parse(msg({
          "OPTIONS sip:user@example.com SIP/2.0", line,
          "Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bK2",
          "From: <sip:a@example.com>;tag=1", "To: <sip:b@example.com>", "Call-ID: x", "CSeq: 1 OPTIONS",
          "Max-Forwards: 70", "Content-Length: 0",
        }))
        assert.is_nil(m, line)
        assert.equal(400, code)
        assert.matches("at byte %d+", err)
      end
    end)
  end)

  describe("sip.uri errors", function()
    it("name the offending byte, counted from 1 in the text given", function()
      for _, c in ipairs {
        { "sip:h.com;=x", "empty URI parameter", "=" },
        { "sip:alice@atlanta.com:5060;transport=tcp;lr=", "empty URI parameter value", nil },
        { "sip:bob@192.0.2.256", "invalid IPv4 address in URI", "1" },
        { "sip:carol@chicago.com?subject", "missing '=' in URI header", nil },
      } do
        local text, what, char = c[1], c[2], c[3]
        local u, err = sip.uri(text)
        assert.is_nil(u)
        local n = assert(tonumber(err:match("^" .. what .. " at byte (%d+)$")), err)
        if char then assert.equal(char, text:sub(n, n)) else assert.equal(#text + 1, n) end
      end
    end)
  end)
end)

describe("headers tables (sip.core.format_headers, the one order)", function()
  local core = require "sip.core"
  it("gives pairs as listed, then named headers sorted by name; lists give a line each", function()
    local lines = core.format_headers { { "X-B", "1" }, { "Via", { "a", "b" } }, Zed = "z", Alpha = 5, Mid = { "m1", "m2" } }
    assert.equal("X-B: 1\r\nVia: a\r\nVia: b\r\nAlpha: 5\r\nMid: m1\r\nMid: m2\r\nZed: z\r\n", lines)
  end)
  it("refuses names that are no token and values with CR, LF or NUL, naming the problem", function()
    assert.has_error(function() core.format_headers { ["Bad Name"] = "x" } end, "header name must be a token: Bad Name")
    assert.has_error(function() core.format_headers { X = "a\r\nb" } end, "header value must not contain CR, LF or NUL")
    assert.has_error(function() core.format_headers { "nope" } end, "headers: entry 1 must be a {name, value} pair")
  end)
  it("serves req:reply without the Lua front: a script that requires only sip.endpoint", function()
    local out = io.popen([[lua5.4 -e '
      local loop, endpoint, core = require "sip.loop", require "sip.endpoint", require "sip.core"
      loop.run(function()
        local s = assert(endpoint.new { listen = { "udp:127.0.0.1:0" },
          handler = function(r) r:reply(200, nil, { headers = { X = "y" } }) end })
        local c = assert(endpoint.new { listen = { "udp:127.0.0.1:0" } })
        local req = core.parse("OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\n" ..
          "Call-ID: q\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        local r = c:request(req, { dest = { proto = "udp", host = "127.0.0.1", port = s.listeners[1].port }, timeout = 2 })
        io.write(tostring(r and r.status), " ", tostring(r and r:header("X")))
        s:close(); c:close()
      end)' 2>&1]]):read("a")
    assert.equal("200 y", out)
  end)
end)

describe("sip.core.addr (one name-addr value, as msg:addrs reads each)", function()
  local core = require "sip.core"
  it("reads a display name with a quoted '<', the URI, the tag and the params", function()
    local a = core.addr('"x<" <sip:a@b;lr>;tag=1;q=0.5')
    assert.equal("x<", a.display)
    assert.equal("sip:a@b;lr", a.uri)
    assert.equal("1", a.tag)
    assert.equal(0.5, a.q)
  end)
  it("refuses two values and a broken one, saying why", function()
    local a, err = core.addr("<sip:a@b>, <sip:c@d>")
    assert.is_nil(a)
    assert.matches("^bad address", err)
    assert.matches("missing '>'", select(2, core.addr("garbage <")))
  end)
end)
