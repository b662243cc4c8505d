-- RFC 4475 and RFC 5118 torture messages against sip.parse (datagram semantics, RFC 3261 §18.3).
-- Verdicts come from INDEX.md beside the files; the choices this stack makes where the RFC allows
-- either answer are in LENIENT below, each with its reason.
local sip = require "sip"

local DIR = "../shared/conformance/torture/"

local function read(name)
  local f = assert(io.open(DIR .. name, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- file -> verdict, from the tables of INDEX.md
local function verdicts()
  local v = {}
  for line in read("INDEX.md"):gmatch("[^\n]+") do
    local file = line:match("^| ([%w%.%-]+%.sip) |")
    if file then
      for cell in line:gmatch("[^|]+") do
        cell = cell:match("^%s*(.-)%s*$")
        if cell:match("^ACCEPT") or cell:match("^REJECT") then v[file] = cell; break end
      end
    end
  end
  -- The four labelled variants are described in INDEX.md's prose, not its tables: the
  -- crlf-terminated baddn tests the display-name error alone; the clfixed files carry the real
  -- Content-Length, so only their IPv6 content is under test.
  v["baddn.crlf-terminated.sip"] = v["baddn.sip"]
  v["ipv6-in-sdp.clfixed.sip"] = "ACCEPT"
  v["mult-ip-in-sdp.clfixed.sip"] = "ACCEPT"
  v["ipv4-mapped-ipv6.clfixed.sip"] = "ACCEPT"
  return v
end

-- REJECT/lenient messages: RFC 4475 lets an element reject or repair them. We reject all of them
-- with 400 (a proxy must never forward the damage, and rejecting is always allowed); baddate is
-- the exception: the stack never interprets Date, so its bad time zone is not an error.
local LENIENT = {
  ["quotbal.sip"] = "reject", ["ltgtruri.sip"] = "reject", ["lwsruri.sip"] = "reject",
  ["lwsstart.sip"] = "reject", ["trws.sip"] = "reject", ["escruri.sip"] = "reject",
  ["regbadct.sip"] = "reject", ["badaspec.sip"] = "reject", ["baddn.sip"] = "reject",
  ["ipv6-bug-abnf-3-colons.sip"] = "reject", ["baddate.sip"] = "accept",
  ["baddn.crlf-terminated.sip"] = "reject",
}

-- Messages whose verdict depends on the Content-Length note of INDEX.md: as printed, the CL of
-- ipv6-in-sdp is larger than its body, which over UDP is a 400 (§18.3); the others have a CL
-- smaller than the body, so the extra octets are dropped and the message parses.
local CL_NOTE = { ["ipv6-in-sdp.sip"] = "reject", ["mult-ip-in-sdp.sip"] = "accept",
  ["ipv4-mapped-ipv6.sip"] = "accept" }

-- The status each rejected request should be answered with, where the RFC names one.
local STATUS = { ["badvers.sip"] = 505, ["mismatch02.sip"] = 501, ["mismatch01.sip"] = 400,
  ["clerr.sip"] = 400, ["ncl.sip"] = 400, ["scalar02.sip"] = 400, ["badinv01.sip"] = 400,
  ["mcl01.sip"] = 400, ["ipv6-bad.sip"] = 400 }

local function expected(file, verdict)
  if CL_NOTE[file] then return CL_NOTE[file] end
  if verdict:match("^REJECT/lenient") then return LENIENT[file] end
  if verdict:match("^REJECT %(app%)") then return "app" end
  if verdict:match("^REJECT") then return "reject" end
  return "accept"
end

-- Every field a round trip must keep.
local function fields(m)
  local f = {
    method = m.method, uri = m.uri, status = m.status, reason = m.reason, body = m.body,
    call_id = m.call_id, cseq = m.cseq, cseq_method = m.cseq_method, branch = m.branch,
    headers = m:headers(), vias = m:vias(), from = m.from, to = m.to,
  }
  for _, h in ipairs(f.headers) do h.name = h.name:lower() end
  return f
end

describe("torture messages (RFC 4475, RFC 5118)", function()
  local V = verdicts()

  it("are byte-exact: SHA256SUMS holds for every file", function()
    local p = assert(io.popen("cd " .. DIR .. " && sha256sum -c --quiet SHA256SUMS 2>&1; echo rc=$?"))
    local out = p:read("a")
    p:close()
    assert.matches("rc=0", out, 1, true)
  end)

  it("has a verdict for every one of the 66 message files", function()
    local p = assert(io.popen("ls " .. DIR))
    local n = 0
    for f in p:lines() do
      if f:match("%.sip$") then
        n = n + 1
        assert.is_string(V[f], f .. " has no verdict")
      end
    end
    p:close()
    assert.equal(66, n)
  end)

  local files = {}
  for f in pairs(verdicts()) do files[#files + 1] = f end
  table.sort(files)

  for _, file in ipairs(files) do
    local verdict = V[file]
    local want = expected(file, verdict)
    it(file .. " (" .. verdict .. ") is " .. (want == "app" and "parsed, then refused by check()" or want .. "ed"), function()
      local data = read(file)
      local m, err, status = sip.parse(data)
      if want == "reject" then
        assert.is_nil(m, file .. " should not parse")
        assert.is_string(err)
        assert.matches("at byte %d+", err)
        if STATUS[file] then assert.equal(STATUS[file], status, err) end
      else
        assert.is_not_nil(m, file .. ": " .. tostring(err))
        if want == "app" then
          local ok, why, code = m:check()
          assert.is_nil(ok)
          assert.equal(400, code)
          assert.is_string(why)
        else
          -- parse -> serialize (re-written from the index, not the original bytes) -> parse
          m:set_header("X-Roundtrip", "1")
          m:remove_header("X-Roundtrip")
          local again, err2 = sip.parse(tostring(m))
          assert.is_not_nil(again, file .. " round trip: " .. tostring(err2))
          local before, after = fields(sip.parse(data)), fields(again)
          -- a message without Content-Length (RFC 2543 style, inv2543) is written with its
          -- body's (§20.14: what goes on a stream must say its length); the rest stays
          if not sip.parse(data):header("Content-Length") then
            local h = after.headers
            assert.equal("content-length", h[#h].name)
            assert.equal(tostring(#(after.body or "")), h[#h].value)
            h[#h] = nil
          end
          assert.same(before, after)
        end
      end
    end)
  end

  describe("what the application needs for the RFC's answer", function()
    local function P(f) return assert(sip.parse(read(f))) end

    it("§3.1.1.1 wsinv: folded values, leading zeros, the odd unknown header kept opaque", function()
      local m = P("wsinv.sip")
      assert.equal(68, m.max_forwards)
      assert.equal(9, m.cseq)
      assert.equal(";;,,;;,;", m:header("UnknownHeaderWithUnusualValue"))
      assert.equal(150, #m.body)
    end)
    it("§3.1.1.3 esc01: %-escapes are decoded once, never recursively", function()
      local m = P("esc01.sip")
      local u = assert(m:request_uri())
      assert.equal("sips:user@example.com", u.user)
    end)
    it("§3.1.1.5 esc02: RE%47IST%45R is not REGISTER; C%6Fntact is not Contact", function()
      local m = P("esc02.sip")
      assert.equal("RE%47IST%45R", m.method)
      assert.equal(2, #m:headers("Contact"))
    end)
    it("§3.1.1.8 dblreq: the trailing octets are discarded", function()
      local m = P("dblreq.sip")
      assert.equal("REGISTER", m.method)
      assert.equal("", m.body)
      assert.is_nil(tostring(m):find("INVITE", 1, true))
    end)
    it("§3.1.1.9 semiuri: the user part holds ;par=u@example.net", function()
      local u = P("semiuri.sip"):request_uri()
      assert.equal("user;par=u@example.net", u.user)
    end)
    it("§3.1.1.10 transports: every Via transport is kept", function()
      local t = {}
      for _, v in ipairs(P("transports.sip"):vias()) do t[#t + 1] = v.transport end
      assert.same({ "UDP", "SCTP", "TLS", "UNKNOWN", "TCP" }, t)
    end)
    it("§3.1.1.12/13 reason phrases: UTF-8 and empty", function()
      assert.equal(200, P("unreason.sip").status)
      assert.equal("", P("noreason.sip").reason)
    end)
    it("§3.2.1 badbranch: a bare magic cookie is exposed for the RFC 2543 fallback", function()
      assert.equal("z9hG4bK", P("badbranch.sip").branch)
    end)
    it("§3.3.2 unkscm: the unknown scheme is visible (answer 416)", function()
      assert.equal("nobodyknowsthisscheme", P("unkscm.sip"):request_uri().scheme)
    end)
    it("§3.3.3 novelsc: a known but atypical scheme", function()
      assert.equal("soap.beep", P("novelsc.sip"):request_uri().scheme)
    end)
    it("§3.3.4 unksm2: To is not a SIP URI (a registrar answers 400)", function()
      assert.matches("^isbn:", P("unksm2.sip").to.uri)
    end)
    it("§3.3.5 bext01: the Require and Proxy-Require options (answer 420 with Unsupported)", function()
      local m = P("bext01.sip")
      assert.is_true(#m:headers("Require") >= 1)
      assert.is_true(#m:headers("Proxy-Require") >= 1)
    end)
    it("§3.3.6 invut: the unknown Content-Type (answer 415)", function()
      assert.equal("application/unknownformat", P("invut.sip").content_type)
    end)
    it("§3.3.7 regaut01: the unknown authorization scheme is kept as is", function()
      assert.matches("^NoOneKnowsThisScheme", P("regaut01.sip"):header("Authorization"))
    end)
    it("§3.3.10 bcast: the broadcast Via is visible", function()
      assert.equal("255.255.255.255", P("bcast.sip"):via(2).host)
    end)
    it("§3.3.11 zeromf: Max-Forwards 0 (a proxy answers 483)", function()
      local m = P("zeromf.sip")
      assert.equal(0, m.max_forwards)
      local ok, _, code = m:decrement_max_forwards()
      assert.is_nil(ok)
      assert.equal(483, code)
    end)
    it("§3.3.12 cparam01: unknownparam is a contact param, not a URI param", function()
      local c = P("cparam01.sip"):addrs("Contact")[1]
      assert.is_false(c.bracketed)
      assert.is_true(c.params.unknownparam)
      assert.is_nil(sip.uri(c.uri):param("unknownparam"))
    end)
    it("§3.3.13 cparam02: unknownparam stays a URI param", function()
      local c = P("cparam02.sip"):addrs("Contact")[1]
      assert.is_true(sip.uri(c.uri):param("unknownparam"))
    end)
    it("§3.3.14 regescrt: the Contact keeps its escaped header", function()
      local c = P("regescrt.sip"):addrs("Contact")[1]
      assert.matches("Route=", c.uri, 1, true)
    end)
    it("§3.3.15 sdp01: the Accept header says what the UAC takes (answer 406)", function()
      assert.equal("text/nobodyKnowsThis", P("sdp01.sip"):header("Accept"))
    end)
    it("§3.4.1 inv2543: no branch, no From tag, body up to the end of the datagram", function()
      local m = P("inv2543.sip")
      assert.is_nil(m.branch)
      assert.is_nil(m.from.tag)
      assert.is_nil(m:header("Content-Length"))
      assert.is_true(#m.body > 0)
    end)
    it("RFC 5118 §4.3 port-ambiguous: the address has no port", function()
      local u = P("port-ambiguous.sip"):request_uri()
      assert.equal("[2001:db8::10:5070]", u.host)
      assert.is_nil(u.port)
    end)
    it("RFC 5118 §4.4 port-unambiguous: port 5070", function()
      local u = P("port-unambiguous.sip"):request_uri()
      assert.equal("[2001:db8::10]", u.host)
      assert.equal(5070, u.port)
    end)
    it("RFC 5118 §4.5 received with and without brackets", function()
      assert.equal("[2001:db8::9:255]", P("via-received-param-with-delim.sip"):via(1).received)
      assert.equal("2001:db8::9:255", P("via-received-param-no-delim.sip"):via(1).received)
    end)
    it("RFC 5118 §4.7 mixed IPv6 and IPv4 Vias", function()
      local v = P("mult-ip-in-header.sip"):vias()
      assert.equal("[2001:db8::9:1]", v[1].host)
      assert.equal(6050, v[1].port)
    end)
  end)
end)
