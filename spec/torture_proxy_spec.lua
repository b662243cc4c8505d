-- Every RFC 4475 / RFC 5118 torture message, sent over UDP to a running examples/proxy.lua
-- (domain example.com, no relaying to other domains), gets the answer ../shared/conformance/
-- torture/INDEX.md names for it, or silence for responses; the proxy keeps serving after.
--
-- One change to the bytes: ";rport" is added to the top Via (RFC 3581), so the answer comes
-- back to the test's socket rather than to port 5060 of the Via's (made-up) host. Everything
-- else is sent as in the file. Answers are read as raw bytes: they copy the request's broken
-- headers.
local peers = require "support.peers"

local DIR = "../shared/conformance/torture/"

local function read(f)
  local h = assert(io.open(DIR .. f, "rb"))
  local s = h:read("a")
  h:close()
  return s
end

-- ";rport" at the end of the first value of the first Via header (folded lines included)
local function with_rport(data)
  local _, e = data:find("\r\n[Vv][Ii][Aa][ \t]*:")
  if not e then _, e = data:find("\r\n[Vv][ \t]*:") end
  if not e then return data end
  local eol = e
  repeat
    local nl = data:find("\r\n", eol + 1, true)
    if not nl then return data end
    eol = nl
  until not data:sub(nl + 2, nl + 2):find("^[ \t]")
  local comma = data:sub(e + 1, eol - 1):find(",", 1, true)
  local at = comma and (e + comma) or eol
  return data:sub(1, at - 1) .. ";rport" .. data:sub(at)
end

-- What the proxy answers, file by file, and why. "silent": a response, dropped (§18.1.2) or not
-- ours to forward (RFC 4475 §3.3.10). Where INDEX.md leaves the answer to the element's role,
-- the proxy role decides: 404 for a user of our domain nobody registered, 403 for another
-- domain (this proxy relays for nobody), 200 for REGISTER of our domain.
local EXPECT = {
  -- §3.1.1 valid messages
  ["wsinv.sip"] = { 403, "INVITE to another domain" },
  ["intmeth.sip"] = { 404, "a proxy forwards it if the URI is known, otherwise 404" },
  ["esc01.sip"] = { 403, "INVITE to example.net" },
  ["escnull.sip"] = { 200, "REGISTER: two distinct bindings" },
  ["esc02.sip"] = { 403, "unknown method: a proxy forwards or rejects by Request-URI (another domain)" },
  ["lwsdisp.sip"] = { 404, "OPTIONS to an unregistered user of our domain" },
  ["longreq.sip"] = { 404, "INVITE to an unregistered user" },
  ["dblreq.sip"] = { 200, "the REGISTER only; the trailing INVITE is noise" },
  ["semiuri.sip"] = { 404, "user 'user;par=u@example.net' is not registered" },
  ["transports.sip"] = { 404, "OPTIONS to an unregistered user" },
  ["mpart01.sip"] = { 403, "MESSAGE to another domain" },
  ["unreason.sip"] = { "silent", "a response matching nothing" },
  ["noreason.sip"] = { "silent", "a response matching nothing" },
  -- §3.1.2 invalid messages
  ["badinv01.sip"] = { 400 }, ["clerr.sip"] = { 400 }, ["ncl.sip"] = { 400 }, ["scalar02.sip"] = { 400 },
  ["scalarlg.sip"] = { "silent", "a bad response is discarded" },
  ["quotbal.sip"] = { 400 }, ["ltgtruri.sip"] = { 400 }, ["lwsruri.sip"] = { 400 }, ["lwsstart.sip"] = { 400 },
  ["trws.sip"] = { 400 }, ["escruri.sip"] = { 400 },
  ["baddate.sip"] = { 404, "Date plays no part: processed (an unregistered user)" },
  ["regbadct.sip"] = { 400 }, ["badaspec.sip"] = { 400 }, ["baddn.sip"] = { 400 },
  ["baddn.crlf-terminated.sip"] = { 400 }, ["badvers.sip"] = { 505 }, ["mismatch01.sip"] = { 400 },
  ["mismatch02.sip"] = { 501 }, ["bigcode.sip"] = { "silent", "a bad response is discarded" },
  -- §3.2-3.4
  ["badbranch.sip"] = { 404, "RFC 2543 matching; then routed (an unregistered user)" },
  ["insuf.sip"] = { 400 }, ["unkscm.sip"] = { 416 }, ["novelsc.sip"] = { 416 },
  ["unksm2.sip"] = { 400, "a registrar needs a SIP or SIPS To" },
  ["bext01.sip"] = { 420, "Proxy-Require names what no proxy supports" },
  ["invut.sip"] = { 404, "a proxy handles it as usual (415 is an endpoint's answer)" },
  ["regaut01.sip"] = { 200, "a registrar without authentication ignores the unknown scheme" },
  ["multi01.sip"] = { 400 }, ["mcl01.sip"] = { 400 },
  ["bcast.sip"] = { "silent", "never forwarded to the broadcast Via" },
  ["zeromf.sip"] = { 483 },
  ["cparam01.sip"] = { 200 }, ["cparam02.sip"] = { 200 }, ["regescrt.sip"] = { 200 },
  ["sdp01.sip"] = { 404, "a proxy routes it (406 is an endpoint's answer)" },
  ["inv2543.sip"] = { 404, "RFC 2543 syntax accepted; an unregistered user" },
  ["test.sip"] = { "400 or silent", "no SIP version, a header without a colon: 400 or drop it" },
  -- RFC 5118 §4
  ["ipv6-good.sip"] = { 403, "REGISTER for another domain ([2001:db8::10])" },
  ["ipv6-bad.sip"] = { 400 },
  ["port-ambiguous.sip"] = { 403, "REGISTER for another host" },
  ["port-unambiguous.sip"] = { 403, "REGISTER for another host" },
  ["via-received-param-with-delim.sip"] = { 403, "BYE to another host, no Route through us" },
  ["via-received-param-no-delim.sip"] = { 403, "OPTIONS to another host" },
  ["ipv6-in-sdp.sip"] = { 400, "the printed Content-Length exceeds the body" },
  ["ipv6-in-sdp.clfixed.sip"] = { 403, "INVITE to another host" },
  ["mult-ip-in-header.sip"] = { 403, "BYE to another host, no Route through us" },
  ["mult-ip-in-sdp.sip"] = { 403 }, ["mult-ip-in-sdp.clfixed.sip"] = { 403 },
  ["ipv4-mapped-ipv6.sip"] = { 404, "INVITE to an unregistered user of our domain" },
  ["ipv4-mapped-ipv6.clfixed.sip"] = { 404, "INVITE to an unregistered user of our domain" },
  ["ipv6-bug-abnf-3-colons.sip"] = { 400, "strict: not an IPv6 address" },
  ["ipv6-correct-abnf-2-colons.sip"] = { 403, "OPTIONS to another host" },
}

local n_options = 0
local function options(port)
  n_options = n_options + 1
  return table.concat {
    "OPTIONS sip:127.0.0.1:", port, " SIP/2.0\r\n", "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKafter", n_options,
    ";rport\r\nMax-Forwards: 70\r\nFrom: <sip:tester@example.com>;tag=1\r\nTo: <sip:127.0.0.1>\r\n",
    "Call-ID: after-torture-", n_options, "@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
  }
end

-- Files that share a top Via and method are one transaction to a proxy (§17.2.3), and a
-- REGISTER leaves bindings behind: after those, the next file meets a fresh proxy.
local function txn_key(data)
  local via = data:match("\r\n[Vv][Ii][Aa][ \t]*:([^\r\n]*)") or data:match("\r\n[Vv][ \t]*:([^\r\n]*)") or ""
  local branch = via:match("[Bb][Rr][Aa][Nn][Cc][Hh]%s*=%s*([^;,%s]*)") or ""
  local host = via:match("^%s*SIP%s*/%s*2%.0%s*/%s*%a+%s+([^;,%s]+)") or via
  local method = data:match("^(%S+)")
  return (method == "ACK" and "INVITE" or method) .. " " .. branch .. " " .. host:lower()
end

describe("torture messages to the proxy over UDP (RFC 4475, RFC 5118)", function()
  local port, pid
  local seen, dirty = {}, true

  local function stop()
    if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
    if port then os.remove(("/tmp/lua-sip-torture-proxy-%d.log"):format(port)) end
    pid = nil
  end
  local function start()
    stop()
    seen, dirty = {}, false
    port = peers.free_port("udp")
    local p = assert(io.popen(("lua5.4 examples/proxy.lua --listen udp:127.0.0.1:%d --realm example.com --relay none" ..
      " --log warn --quiet >/tmp/lua-sip-torture-proxy-%d.log 2>&1 & echo $!"):format(port, port)))
    pid = p:read("n")
    p:close()
    assert(peers.wait_port(port, "udp", 5))
  end
  teardown(stop)

  it("has an expected answer for every file", function()
    local p = assert(io.popen("ls " .. DIR))
    for f in p:lines() do
      if f:match("%.sip$") then assert.is_table(EXPECT[f], f .. " has no expected answer") end
    end
    p:close()
  end)

  local files = {}
  for f in pairs(EXPECT) do files[#files + 1] = f end
  table.sort(files)
  for _, f in ipairs(files) do
    local want, why = EXPECT[f][1], EXPECT[f][2]
    it(("%s: %s%s"):format(f, want == "silent" and "silence" or tostring(want), why and (" (" .. why .. ")") or ""), function()
      local data = read(f)
      local key = txn_key(data)
      if dirty or seen[key] then start() end
      seen[key] = true
      local quiet = want == "silent" or want == "400 or silent"
      local rsp, err = peers.udp_exchange { port = port, data = with_rport(data), timeout = quiet and 0.5 or 3 }
      dirty = data:find("^REGISTER ") ~= nil and rsp ~= nil and rsp:find("^SIP/2%.0 2") ~= nil
      if want == "400 or silent" then
        if rsp then assert.matches("^SIP/2%.0 400 ", rsp) end
      elseif want == "silent" then
        assert.is_nil(rsp)
        assert.equal("timeout", err)
      else
        assert.is_not_nil(rsp, f .. ": " .. tostring(err))
        assert.equal(tostring(want), rsp:match("^SIP/2%.0 (%d+) "), rsp)
      end
      -- and it keeps serving
      local ok = peers.udp_exchange { port = port, data = options(port), timeout = 3 }
      assert.is_not_nil(ok, "no answer to OPTIONS after " .. f)
      assert.matches("^SIP/2%.0 200 ", ok)
    end)
  end

end)
