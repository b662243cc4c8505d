local sip = require "sip"
local route = require "sip.route"

local function req(uri, routes)
  return sip.request { method = "OPTIONS", uri = uri, from = "<sip:a@example.com>",
    to = "<sip:b@example.com>", route = routes }
end

describe("sip.route", function()
  describe("§8.1.2 the next hop of a URI", function()
    local cases = {
      { "sip:p.example.com", { proto = "udp", host = "p.example.com", port = 5060 } },
      { "sip:p.example.com;transport=tcp", { proto = "tcp", host = "p.example.com", port = 5060 } },
      { "sip:p.example.com:5070;transport=TCP", { proto = "tcp", host = "p.example.com", port = 5070 } },
      { "sip:p.example.com;transport=tls", { proto = "tls", host = "p.example.com", port = 5061, name = "p.example.com" } },
      { "sips:p.example.com", { proto = "tls", host = "p.example.com", port = 5061, name = "p.example.com" } },
      { "sips:p.example.com:5081", { proto = "tls", host = "p.example.com", port = 5081, name = "p.example.com" } },
      { "sip:u@[::1]:5062", { proto = "udp", host = "::1", port = 5062 } },
      { "sip:u@[2001:db8::1]", { proto = "udp", host = "2001:db8::1", port = 5060 } },
      { "sip:u@p.example.com;maddr=192.0.2.5", { proto = "udp", host = "192.0.2.5", port = 5060 } },
      { "sip:u@p.example.com:5080;maddr=[::2]", { proto = "udp", host = "::2", port = 5080 } },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        assert.same(c[2], route.hop(c[1]))
        assert.same({ c[2] }, route.resolve(c[1]))
        assert.same(c[2], route.hop(sip.uri(c[1])))
      end)
    end
    it("refuses a URI that is not sip: or sips: with nil, err", function()
      local d, err = route.hop("tel:+15551234")
      assert.is_nil(d)
      assert.equal("cannot route to a tel URI", err)
      d, err = route.resolve("mailto:a@example.com")
      assert.is_nil(d)
      assert.matches("mailto", err)
    end)
    it("refuses a transport it lacks and what does not parse", function()
      local d, err = route.hop("sip:x@y;transport=sctp")
      assert.is_nil(d)
      assert.equal("unsupported transport sctp", err)
      d, err = route.hop("not a uri")
      assert.is_nil(d)
      assert.equal("cannot route to not a uri", err)
    end)
    it("default ports", function()
      assert.equal(5060, route.default_port("udp"))
      assert.equal(5060, route.default_port("tcp"))
      assert.equal(5061, route.default_port("tls"))
      assert.is_nil(route.default_port("sctp"))
    end)
  end)

  describe("§8.1.2 the next hop of a request", function()
    it("without Route: the Request-URI", function()
      local r = req("sip:bob@192.0.2.7:5070")
      assert.equal("sip:bob@192.0.2.7:5070", route.target(r))
      assert.same({ proto = "udp", host = "192.0.2.7", port = 5070 }, route.next_hop(r))
    end)
    it("a loose router first: the first Route", function()
      local r = req("sip:bob@192.0.2.7", { "<sip:p1.example.com;lr;transport=tcp>", "<sip:p2.example.com;lr>" })
      assert.equal("sip:p1.example.com;lr;transport=tcp", route.target(r))
      assert.same({ proto = "tcp", host = "p1.example.com", port = 5060 }, route.next_hop(r))
      assert.same({ { proto = "tcp", host = "p1.example.com", port = 5060 } }, route.resolve_request(r))
    end)
    it("§12.2.1.1 a strict router first: the Request-URI, which holds it", function()
      local r = req("sip:p1.example.com:5071", { "<sip:p2.example.com;lr>", "<sip:bob@192.0.2.7>" })
      r:remove_header("Route")
      r:add_header("Route", "<sip:bob@192.0.2.7>")
      assert.equal("sip:p1.example.com:5071", route.target(r))
      assert.same({ proto = "udp", host = "p1.example.com", port = 5071 }, route.next_hop(r))
    end)
    it("a Route that is not a sip: URI: nil, err", function()
      local d, err = route.next_hop(req("sip:bob@192.0.2.7", { "<tel:+15551234;lr>" }))
      assert.is_nil(d)
      assert.equal("cannot route to a tel URI", err)
    end)
  end)
end)
