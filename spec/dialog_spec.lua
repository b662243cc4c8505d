-- sip.dialog: dialog state and the requests within it (RFC 3261 §12), without a network.
local sip = require "sip"
local dialog = require "sip.dialog"

local function invite(extra)
  return sip.parse(table.concat {
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n",
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKinv1\r\n",
    "Max-Forwards: 70\r\n",
    "From: \"Alice\" <sip:alice@atlanta.example.com>;tag=atag\r\n",
    "To: Bob <sip:bob@biloxi.example.com>\r\n",
    "Call-ID: cid-1\r\n",
    "CSeq: 314 INVITE\r\n",
    "Contact: <sip:alice@192.0.2.1:5060>\r\n",
    extra or "",
    "Content-Length: 0\r\n\r\n",
  })
end

local function response(status, extra)
  return sip.parse(table.concat {
    "SIP/2.0 ", status, " X\r\n",
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKinv1\r\n",
    extra or "",
    "From: \"Alice\" <sip:alice@atlanta.example.com>;tag=atag\r\n",
    "To: Bob <sip:bob@biloxi.example.com>;tag=btag\r\n",
    "Call-ID: cid-1\r\n",
    "CSeq: 314 INVITE\r\n",
    "Contact: <sip:bob@192.0.2.4:5062;transport=tcp>\r\n",
    "Content-Length: 0\r\n\r\n",
  })
end

local function routes(msg) return msg:headers("Route") end

describe("sip.dialog", function()
  describe("§12.1.2 UAC side", function()
    it("takes the route set from Record-Route reversed, the target from Contact, CSeq from the INVITE", function()
      local d = dialog.uac(invite(), response(200, "Record-Route: <sip:p1.example.com;lr>\r\nRecord-Route: <sip:p2.example.com;lr>\r\n"))
      assert.equal("cid-1", d.call_id)
      assert.equal("atag", d.local_tag)
      assert.equal("btag", d.remote_tag)
      assert.same({ "<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>" }, d.route_set)
      assert.equal("sip:bob@192.0.2.4:5062;transport=tcp", d.remote_target)
      assert.equal(314, d.local_seq)
      assert.is_nil(d.remote_seq)
      assert.equal("confirmed", d.state)
      assert.equal(dialog.key("cid-1", "atag", "btag"), d:key())
    end)

    it("a 1xx with a To tag makes an early dialog; the INVITE's 2xx confirms it and recomputes the route set (§13.2.2.4)", function()
      local d = dialog.uac(invite(), response(180, "Record-Route: <sip:old.example.com;lr>\r\n"))
      assert.equal("early", d.state)
      d:update_from_response(response(200, "Record-Route: <sip:new.example.com;lr>\r\n"))
      assert.equal("confirmed", d.state)
      assert.same({ "<sip:new.example.com;lr>" }, d.route_set)
    end)
  end)

  describe("§25.1 name-addr values through the C parser", function()
    it("a quoted '<' in a display name is text: the route set, the hop and the Route still hold", function()
      local rr = '"edge <a> proxy" <sip:p1.example.com:5070;lr>;x=1'
      local d = dialog.uac(invite(), response(200, "Record-Route: " .. rr .. "\r\n"))
      assert.same({ rr }, d.route_set)
      local req, dest = d:request("BYE")
      assert.same({ proto = "udp", host = "p1.example.com", port = 5070 }, dest)
      assert.same({ rr }, routes(req))
      assert.equal("sip:bob@192.0.2.4:5062;transport=tcp", req.uri)
    end)

    it("sip.addr reads one value: name-addr, addr-spec, nil and err for the rest", function()
      assert.equal("sip:p1;lr", sip.addr('"a <b" <sip:p1;lr>;x=1').uri)
      assert.equal("a <b", sip.addr('"a <b" <sip:p1;lr>').display)
      assert.equal("sip:c@h", sip.addr("sip:c@h;expires=3").uri)
      assert.is_nil((sip.addr("<sip:a")))
      assert.is_nil((sip.addr("<sip:a>, <sip:b>")))
      assert.is_nil((sip.addr("<sip:a>\r\nX: y")))
      assert.has_error(function() sip.addr(5) end, "bad argument #1 to 'addr' (string expected)")
    end)
  end)

  describe("§19.3 tags through the C parser", function()
    it("a tag= URI parameter inside <> is not the From tag: sip.request adds one", function()
      local r = sip.request { method = "OPTIONS", uri = "sip:b@example.com", to = "<sip:b@example.com>",
        from = "<sip:a@example.com;tag=x>" }
      assert.is_string(r.from.tag)
      assert.not_equal("x", r.from.tag)
      assert.equal("x", sip.request { method = "OPTIONS", uri = "sip:b@example.com", to = "<sip:b@example.com>",
        from = "<sip:a@example.com>;tag=x" }.from.tag)
    end)
    it("sip.tag_of: a value, or a message's To or From", function()
      assert.is_nil(sip.tag_of("<sip:a@example.com;tag=x>"))
      assert.equal("y", sip.tag_of('"tag=z" <sip:a@example.com>;tag=y'))
      local m = invite()
      assert.equal("atag", sip.tag_of(m, "From"))
      assert.is_nil(sip.tag_of(m, "To"))
      assert.equal("btag", sip.tag_of(response(200), "To"))
    end)
  end)

  describe("§12.1.1 UAS side", function()
    it("keeps Record-Route in order, the caller's Contact as target, its CSeq as remote sequence", function()
      local d = dialog.uas(invite("Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"), "btag",
        "<sip:bob@192.0.2.4>")
      assert.same({ "<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>" }, d.route_set)
      assert.equal("sip:alice@192.0.2.1:5060", d.remote_target)
      assert.equal(314, d.remote_seq)
      assert.is_nil(d.local_seq)
      assert.equal("btag", d.local_tag)
      assert.equal("atag", d.remote_tag)
      assert.equal(dialog.key_of_request(sip.parse(table.concat {
        "BYE sip:bob@192.0.2.4 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKb\r\nMax-Forwards: 70\r\n",
        "From: <sip:alice@atlanta.example.com>;tag=atag\r\nTo: <sip:bob@biloxi.example.com>;tag=btag\r\n",
        "Call-ID: cid-1\r\nCSeq: 315 BYE\r\nContent-Length: 0\r\n\r\n" })), d:key())
    end)

    it("§12.2.1.1 picks a first local CSeq of its own when it sends the first request", function()
      local d = dialog.uas(invite(), "btag", "<sip:bob@192.0.2.4>")
      local bye = d:request("BYE")
      assert.is_true(bye.cseq >= 2 and bye.cseq < 2 ^ 31)
      assert.equal(bye.cseq + 1, d:request("INFO").cseq)
      assert.equal("<sip:alice@atlanta.example.com>;tag=atag", bye:header("To"):gsub('"Alice" ', ""))
    end)
  end)

  describe("§12.2.1.1 requests within the dialog", function()
    local cases = {
      {
        name = "no route set: the Request-URI is the remote target, no Route",
        rr = "", uri = "sip:bob@192.0.2.4:5062;transport=tcp", routes = {},
        hop = { proto = "tcp", host = "192.0.2.4", port = 5062 },
      },
      {
        name = "loose routing: the Request-URI is the remote target, Route is the route set",
        rr = "Record-Route: <sip:p1.example.com;lr>\r\nRecord-Route: <sip:192.0.2.9:5070;lr>\r\n",
        uri = "sip:bob@192.0.2.4:5062;transport=tcp",
        routes = { "<sip:192.0.2.9:5070;lr>", "<sip:p1.example.com;lr>" },
        hop = { proto = "udp", host = "192.0.2.9", port = 5070 },
      },
      {
        name = "strict routing: the first route is the Request-URI (without method or headers), the target goes last",
        rr = "Record-Route: <sip:p1.example.com;lr>\r\nRecord-Route: <sip:192.0.2.9:5070;method=INVITE?x=y>\r\n",
        uri = "sip:192.0.2.9:5070",
        routes = { "<sip:p1.example.com;lr>", "<sip:bob@192.0.2.4:5062;transport=tcp>" },
        hop = { proto = "udp", host = "192.0.2.9", port = 5070 },
      },
    }
    for _, c in ipairs(cases) do
      it(c.name, function()
        local d = dialog.uac(invite(), response(200, c.rr))
        local bye, hop = d:request("BYE")
        assert.equal("BYE", bye.method)
        assert.equal(c.uri, bye.uri)
        assert.same(c.routes, routes(bye))
        assert.same(c.hop, hop)
        assert.equal(315, bye.cseq)
        assert.equal("atag", bye.from.tag)
        assert.equal("btag", bye.to.tag)
        assert.equal("Alice", bye.from.display)
        assert.equal("cid-1", bye.call_id)
        assert.is_nil(bye:header("Contact")) -- BYE is no target refresh
      end)
    end

    it("ACK reuses the INVITE's CSeq number; target refresh requests carry our Contact", function()
      local d = dialog.uac(invite(), response(200))
      local ack = d:request("ACK", { cseq = 314 })
      assert.equal(314, ack.cseq)
      assert.equal("ACK", ack.cseq_method)
      assert.equal(314, d.local_seq)
      local reinv = d:request("INVITE", { body = "v=0\r\n", content_type = "application/sdp" })
      assert.equal(315, reinv.cseq)
      assert.equal("<sip:alice@192.0.2.1:5060>", reinv:header("Contact"))
      assert.equal("application/sdp", reinv.content_type)
    end)
  end)

  describe("§12.2.2 requests received within the dialog", function()
    local function req(method, cseq, contact)
      return sip.parse(table.concat {
        method, " sip:alice@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK", method, cseq, "\r\n",
        "Max-Forwards: 70\r\nFrom: <sip:bob@biloxi.example.com>;tag=btag\r\n",
        "To: <sip:alice@atlanta.example.com>;tag=atag\r\nCall-ID: cid-1\r\nCSeq: ", cseq, " ", method, "\r\n",
        contact and ("Contact: " .. contact .. "\r\n") or "", "Content-Length: 0\r\n\r\n" })
    end

    it("rejects a CSeq lower than the last with 500 and takes higher ones", function()
      local d = dialog.uac(invite(), response(200))
      assert.is_true(d:receive(req("INFO", 10)))
      assert.equal(10, d.remote_seq)
      local ok, code = d:receive(req("INFO", 9))
      assert.is_nil(ok)
      assert.equal(500, code)
      assert.is_true(d:receive(req("BYE", 11)))
    end)

    it("a target refresh (INVITE, UPDATE) moves the remote target; other methods do not", function()
      local d = dialog.uac(invite(), response(200))
      d:receive(req("INFO", 1, "<sip:elsewhere@192.0.2.77>"))
      assert.equal("sip:bob@192.0.2.4:5062;transport=tcp", d.remote_target)
      d:receive(req("UPDATE", 2, "<sip:moved@192.0.2.78>"))
      assert.equal("sip:moved@192.0.2.78", d.remote_target)
      d:receive(req("INVITE", 3, "<sip:again@192.0.2.79>"))
      assert.equal("sip:again@192.0.2.79", d.remote_target)
    end)
  end)

  describe("§8.1.2 next hop of a URI", function()
    local cases = {
      { "sip:p.example.com", { proto = "udp", host = "p.example.com", port = 5060 } },
      { "sip:p.example.com:5070;transport=TCP", { proto = "tcp", host = "p.example.com", port = 5070 } },
      { "sips:p.example.com", { proto = "tls", host = "p.example.com", port = 5061, name = "p.example.com" } },
      { "sip:u@[::1]:5062", { proto = "udp", host = "::1", port = 5062 } },
      { "sip:u@p.example.com;maddr=192.0.2.5", { proto = "udp", host = "192.0.2.5", port = 5060 } },
    }
    for _, c in ipairs(cases) do
      it(c[1], function() assert.same(c[2], dialog.hop(c[1])) end)
    end
    it("refuses what it cannot route", function()
      assert.is_nil(dialog.hop("tel:+15551234"))
      assert.is_nil(dialog.hop("sip:x@y;transport=sctp"))
    end)
  end)
end)
