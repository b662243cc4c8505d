-- sip.sdp: RFC 8866 parsing and serialization, RFC 3264 offer/answer.
local sdp = require "sip.sdp"

local TORTURE = "../shared/conformance/torture/"
local BENCH = "../shared/bench/corpus/"

-- the SDP body of a SIP message: everything after the first blank line
local function body_of(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  local _, stop = text:find("\r\n\r\n", 1, true)
  return text:sub(stop + 1)
end

local function lf(text) return (text:gsub("\r\n", "\n")) end
local function crlf(text) return (lf(text):gsub("\n", "\r\n")) end

-- a one-stream offer: fmts and the extra lines of the media description
local function offer_with(m_line, lines, session_lines)
  local t = { "v=0", "o=alice 2890844526 2890844526 IN IP4 198.51.100.1", "s=-",
              "c=IN IP4 198.51.100.1", "t=0 0" }
  if session_lines then t[#t + 1] = session_lines end
  t[#t + 1] = m_line
  if lines then t[#t + 1] = lines end
  return crlf(table.concat(t, "\n") .. "\n")
end

local function names(codecs)
  local out = {}
  for _, c in ipairs(codecs) do out[#out + 1] = c.name or ("pt " .. c.pt) end
  return out
end

-- the m-line facts RFC 3264 fixes for an answer
local function m_lines(session)
  local out = {}
  for _, m in ipairs(session.streams) do
    out[#out + 1] = { type = m.type, port = m.port, proto = m.proto, fmts = m.fmts,
                      direction = m.port ~= 0 and m.direction or nil }
  end
  return out
end

local function attribute(stream, name)
  for _, a in ipairs(stream.attributes) do
    if a.name == name then return a.value end
  end
end

-- RFC 3264 §10.1 "Basic Exchange", the four descriptions as printed (LF line ends)
local RFC3264_10_1 = {
  alice_offer = [[
v=0
o=alice 2890844526 2890844526 IN IP4 host.anywhere.com
s=
c=IN IP4 host.anywhere.com
t=0 0
m=audio 49170 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 51372 RTP/AVP 31
a=rtpmap:31 H261/90000
m=video 53000 RTP/AVP 32
a=rtpmap:32 MPV/90000
]],
  bob_answer = [[
v=0
o=bob 2890844730 2890844730 IN IP4 host.example.com
s=
c=IN IP4 host.example.com
t=0 0
m=audio 49920 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 31
m=video 53000 RTP/AVP 32
a=rtpmap:32 MPV/90000
]],
  bob_offer = [[
v=0
o=bob 2890844730 2890844731 IN IP4 host.example.com
s=
c=IN IP4 host.example.com
t=0 0
m=audio 65422 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 31
m=video 53000 RTP/AVP 32
a=rtpmap:32 MPV/90000
m=audio 51434 RTP/AVP 110
a=rtpmap:110 telephone-events/8000
a=recvonly
]],
  alice_answer = [[
v=0
o=alice 2890844526 2890844527 IN IP4 host.anywhere.com
s=
c=IN IP4 host.anywhere.com
t=0 0
m=audio 49170 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 31
a=rtpmap:31 H261/90000
m=video 53000 RTP/AVP 32
a=rtpmap:32 MPV/90000
m=audio 53122 RTP/AVP 110
a=rtpmap:110 telephone-events/8000
a=sendonly
]],
}

-- RFC 3264 §10.2 "One of N Codec Selection"
local RFC3264_10_2 = {
  alice_offer = [[
v=0
o=alice 2890844526 2890844526 IN IP4 host.anywhere.com
s=
c=IN IP4 host.anywhere.com
t=0 0
m=audio 62986 RTP/AVP 0 4 18
a=rtpmap:0 PCMU/8000
a=rtpmap:4 G723/8000
a=rtpmap:18 G729/8000
a=inactive
]],
  bob_answer = [[
v=0
o=bob 2890844730 2890844731 IN IP4 host.example.com
s=
c=IN IP4 host.example.com
t=0 0
m=audio 54344 RTP/AVP 0 4
a=rtpmap:0 PCMU/8000
a=rtpmap:4 G723/8000
a=inactive
]],
  alice_offer2 = [[
v=0
o=alice 2890844526 2890844527 IN IP4 host.anywhere.com
s=
c=IN IP4 host.anywhere.com
t=0 0
m=audio 62986 RTP/AVP 4
a=rtpmap:4 G723/8000
a=sendrecv
]],
  bob_answer2 = [[
v=0
o=bob 2890844730 2890844732 IN IP4 host.example.com
s=
c=IN IP4 host.example.com
t=0 0
m=audio 54344 RTP/AVP 4
a=rtpmap:4 G723/8000
a=sendrecv
]],
}

-- every line type of RFC 8866 §5, in order, plus an unknown line type in each part
local FULL = crlf [[
v=0
o=jdoe 0003724394400 3724394405 IN IP4 198.51.100.1
s=Seminar on session description
i=A session with every field
u=http://www.example.com/seminars/sdp.pdf
e=j.doe@example.com (Jane Doe)
e=Jane Doe <jane@example.com>
p=+1 617 555-6011
c=IN IP4 233.252.0.1/127/3
b=CT:1024
b=AS:512
t=2873397496 2873404696
r=7d 1h 0 25h
r=604800 3600 0 90000
t=0 0
z=2882844526 -1h 2898848070 0
k=prompt
a=recvonly
a=tool:lua-sip
a=charset:
x=an unknown line type
m=audio 49170/2 RTP/AVP 0 101
i=voice
c=IN IP4 233.252.0.2/64
c=IN IP4 233.252.0.3/64
b=AS:64
k=clear:secret
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
y=unknown in media
m=video 51372 RTP/AVP 99
c=IN IP6 ff15::101/3
a=rtpmap:99 h263-1998/90000
a=sendrecv
m=application 5000 TCP/MSRP *
c=IN IP6 2001:db8::2
a=accept-types:text/plain
]]

describe("sip.sdp", function()

  describe("parse (RFC 8866)", function()
    local cases = {
      { file = TORTURE .. "ipv6-in-sdp.clfixed.sip", name = "RFC 5118 §4.6 ipv6-in-sdp body",
        origin = { "assistant", "971731711378798081", "0", "IP6", "2001:db8::20" },
        session_c = "2001:db8::20",
        streams = {
          { "audio", 6000, { "G726-32" }, "IP6", "2001:db8::20" },
          { "video", 6024, { "H263-1998" }, "IP6", "2001:db8::20" } } },
      { file = TORTURE .. "mult-ip-in-sdp.clfixed.sip", name = "RFC 5118 §4.8 mult-ip-in-sdp body",
        origin = { "bob", "280744730", "28977631", "IP4", "host.example.com" },
        streams = {
          { "audio", 22334, { "PCMU" }, "IP4", "192.0.2.1" },
          { "video", 6024, { "H263-1998" }, "IP6", "2001:db8::1" } } },
      { file = TORTURE .. "ipv4-mapped-ipv6.clfixed.sip", name = "RFC 5118 §4.9 ipv4-mapped-ipv6 body",
        origin = { "assistant", "971731711378798081", "0", "IP6", "::ffff:192.0.2.2" },
        session_c = "::ffff:192.0.2.2",
        streams = {
          { "audio", 6000, { "G726-32" }, "IP6", "::ffff:192.0.2.2" },
          { "video", 6024, { "H263-1998" }, "IP6", "::ffff:192.0.2.2" } } },
      { file = TORTURE .. "sdp01.sip", name = "RFC 4475 §3.3.15 sdp01 body",
        origin = { "mhandley", "29739", "7272939", "IP4", "192.0.2.5" },
        session_c = "192.0.2.5",
        streams = {
          { "audio", 49217, { "PCMU", "QCELP" }, "IP4", "192.0.2.5" },
          { "video", 3227, { "LPC" }, "IP4", "192.0.2.5" } } },
      { file = TORTURE .. "wsinv.sip", name = "RFC 4475 §3.1.1.1 wsinv body",
        origin = { "mhandley", "29739", "7272939", "IP4", "192.0.2.3" },
        session_c = "192.0.2.4",
        streams = {
          { "audio", 49217, { "PCMU", "QCELP" }, "IP4", "192.0.2.4" },
          { "video", 3227, { "LPC" }, "IP4", "192.0.2.4" } } },
      { file = BENCH .. "invite-sdp.sip", name = "bench corpus invite-sdp body",
        origin = { "alice", "2890844526", "2890844526", "IP4", "client.atlanta.example.com" },
        session_c = "192.0.2.101",
        streams = { { "audio", 49172, { "PCMA", "PCMU", "G729", "telephone-event" }, "IP4",
                      "192.0.2.101" } } },
    }
    for _, case in ipairs(cases) do
      it(case.name .. " parses", function()
        local s, err = sdp.parse(body_of(case.file))
        assert.is_nil(err)
        local o = s.origin
        assert.same(case.origin, { o.username, o.sess_id, o.sess_version, o.addrtype, o.address })
        assert.equal(0, s.version)
        assert.equal(case.session_c, s.connection_info and s.connection_info.address)
        assert.equal(#case.streams, #s.streams)
        for i, want in ipairs(case.streams) do
          local m = s:media(i)
          assert.equal(want[1], m.type)
          assert.equal(want[2], m.port)
          assert.equal("RTP/AVP", m.proto)
          assert.same(want[3], names(m.codecs))
          assert.equal("sendrecv", m.direction)
          assert.equal(want[4], s:connection(i).addrtype)
          assert.equal(want[5], s:connection(i).address)
        end
      end)

      it(case.name .. " round-trips byte for byte and table for table", function()
        local body = body_of(case.file)
        local s = assert(sdp.parse(body))
        assert.equal(body, sdp.build(s))
        assert.equal(body, tostring(s))
        assert.same(s, sdp.parse(tostring(s)))
      end)
    end

    it("derives static payload types without rtpmap (RFC 3551 §6)", function()
      local s = assert(sdp.parse(offer_with("m=audio 4000 RTP/AVP 0 8 18 9 3 4 13")))
      local got = {}
      for _, c in ipairs(s.streams[1].codecs) do got[#got + 1] = c.pt .. " " .. c.name .. "/" .. c.rate end
      assert.same({ "0 PCMU/8000", "8 PCMA/8000", "18 G729/8000", "9 G722/8000", "3 GSM/8000",
                    "4 G723/8000", "13 CN/8000" }, got)
    end)

    it("derives codecs from rtpmap and fmtp in m-line order (RFC 8866 §6.6, §6.15)", function()
      local s = assert(sdp.parse(offer_with("m=audio 4000 RTP/AVP 111 0 101 96",
        "a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\na=rtpmap:111 opus/48000/2\n"
        .. "a=fmtp:111 minptime=10;useinbandfec=1")))
      assert.same({
        { pt = 111, name = "opus", rate = 48000, channels = 2, fmtp = "minptime=10;useinbandfec=1" },
        { pt = 0, name = "PCMU", rate = 8000, channels = 1 },
        { pt = 101, name = "telephone-event", rate = 8000, channels = 1, fmtp = "0-16" },
        { pt = 96 }, -- dynamic and never described: known only by number
      }, s.streams[1].codecs)
    end)

    it("keeps attributes in order, flags with a nil value (RFC 8866 §5.13)", function()
      local s = assert(sdp.parse(FULL))
      assert.same({ { name = "recvonly" }, { name = "tool", value = "lua-sip" },
                    { name = "charset", value = "" } }, s.attributes)
      assert.same({ { name = "rtpmap", value = "99 h263-1998/90000" }, { name = "sendrecv" } },
        s.streams[2].attributes)
    end)

    it("reads every line type of RFC 8866 §5", function()
      local s = assert(sdp.parse(FULL))
      assert.equal("0003724394400", s.origin.sess_id)
      assert.equal("Seminar on session description", s.name)
      assert.equal("A session with every field", s.info)
      assert.equal("http://www.example.com/seminars/sdp.pdf", s.uri)
      assert.same({ "j.doe@example.com (Jane Doe)", "Jane Doe <jane@example.com>" }, s.emails)
      assert.same({ "+1 617 555-6011" }, s.phones)
      assert.same({ nettype = "IN", addrtype = "IP4", address = "233.252.0.1", ttl = 127, count = 3 },
        s.connection_info)
      assert.same({ { type = "CT", value = 1024 }, { type = "AS", value = 512 } }, s.bandwidths)
      assert.same({
        { start = 2873397496, stop = 2873404696, repeats = {
          { interval = "7d", duration = "1h", offsets = { "0", "25h" } },
          { interval = "604800", duration = "3600", offsets = { "0", "90000" } } } },
        { start = 0, stop = 0, repeats = {} } }, s.times)
      assert.same({ { time = 2882844526, offset = "-1h" }, { time = 2898848070, offset = "0" } }, s.zones)
      assert.equal("prompt", s.key)
      assert.same({ { type = "x", value = "an unknown line type" } }, s.unknown)
      local audio = s.streams[1]
      assert.equal(2, audio.port_count)
      assert.equal("voice", audio.info)
      assert.same({ nettype = "IN", addrtype = "IP4", address = "233.252.0.2", ttl = 64 }, audio.connection_info)
      assert.same({ { nettype = "IN", addrtype = "IP4", address = "233.252.0.3", ttl = 64 } },
        audio.extra_connections)
      assert.same({ { type = "AS", value = 64 } }, audio.bandwidths)
      assert.equal("clear:secret", audio.key)
      assert.same({ { type = "y", value = "unknown in media" } }, audio.unknown)
      assert.equal("recvonly", audio.direction) -- from the session level
      assert.equal("sendrecv", s.streams[2].direction) -- the media level wins
      assert.same({ nettype = "IN", addrtype = "IP6", address = "ff15::101", count = 3 },
        s.streams[2].connection_info)
      assert.same({ "*" }, s.streams[3].fmts)
      assert.same({}, s.streams[3].codecs) -- not RTP: formats are not payload types
    end)

    it("round-trips every line type byte for byte", function()
      local s = assert(sdp.parse(FULL))
      assert.equal(FULL, tostring(s))
      assert.same(s, sdp.parse(tostring(s)))
    end)

    it("accepts LF line ends and writes CRLF", function()
      local s = assert(sdp.parse(lf(FULL)))
      assert.equal(FULL, tostring(s))
      assert.same(assert(sdp.parse(FULL)), s)
    end)

    it("accepts a body without a final line end", function()
      local s = assert(sdp.parse(FULL:sub(1, -3)))
      assert.equal(FULL, tostring(s))
    end)

    local directions = {
      { "none", nil, nil, "sendrecv" },
      { "session sendonly", "a=sendonly", nil, "sendonly" },
      { "media recvonly", nil, "a=recvonly", "recvonly" },
      { "media inactive over session sendonly", "a=sendonly", "a=inactive", "inactive" },
      { "media sendrecv over session recvonly", "a=recvonly", "a=sendrecv", "sendrecv" },
    }
    for _, d in ipairs(directions) do
      it("derives the direction (RFC 8866 §6.7): " .. d[1], function()
        local s = assert(sdp.parse(offer_with("m=audio 4000 RTP/AVP 0", d[3], d[2])))
        assert.equal(d[4], s.streams[1].direction)
      end)
    end

    local addresses = {
      { "IN IP4 192.0.2.1", { address = "192.0.2.1" } },
      { "IN IP4 host.example.com", { address = "host.example.com" } },
      { "IN IP4 224.2.1.1/127", { address = "224.2.1.1", ttl = 127 } },
      { "IN IP4 224.2.1.1/127/3", { address = "224.2.1.1", ttl = 127, count = 3 } },
      { "IN IP6 2001:db8::1", { address = "2001:db8::1" } },
      { "IN IP6 ::", { address = "::" } },
      { "IN IP6 ::ffff:192.0.2.2", { address = "::ffff:192.0.2.2" } },
      { "IN IP6 1:2:3:4:5:6:7:8", { address = "1:2:3:4:5:6:7:8" } },
      { "IN IP6 FF1E:03AD::7F2E:172A:1E24/3", { address = "FF1E:03AD::7F2E:172A:1E24", count = 3 } },
      { "ATM NSAP 47.0005.80FFE1", { address = "47.0005.80FFE1" } },
    }
    for _, a in ipairs(addresses) do
      it("reads connection data (RFC 8866 §5.7): c=" .. a[1], function()
        local s = assert(sdp.parse(offer_with("m=audio 4000 RTP/AVP 0", "c=" .. a[1])))
        local c = s:connection(1)
        local nettype, addrtype = a[1]:match("^(%S+) (%S+)")
        a[2].nettype, a[2].addrtype = nettype, addrtype
        assert.same(a[2], c)
        assert.equal("c=" .. a[1], tostring(s):match("m=[^\r]*\r\n(c=[^\r]*)"))
      end)
    end
  end)

  describe("parse errors name the line and the problem", function()
    local V, O, S, C, T = "v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0"
    local function doc(...) return table.concat({ ... }, "\r\n") .. "\r\n" end
    local cases = {
      { "", "^line 1: empty session description" },
      { "\r\n", "^line 1: empty session description" },
      { doc(O, V, S, T), "^line 1: a session description starts with 'v='" },
      { doc("v=1", O, S, T), "^line 1: unsupported SDP version '1'" },
      { doc("v = 0", O, S, T), "^line 1: no blanks allowed around '='" },
      { doc(V, "V=0"), "^line 2: expected '<type>=<value>'" },
      { doc(V, "hello"), "^line 2: expected '<type>=<value>', got 'hello'" },
      { doc(V, "o=- 1 1 IN IP4"), "^line 2: o= needs 6 fields" },
      { doc(V, "o=- x 1 IN IP4 h"), "^line 2: sess%-id 'x' is not a number" },
      { doc(V, "o=-  1 1 IN IP4 h"), "^line 2: fields must be separated by single spaces" },
      { doc(V, O, T), "^line 3: missing 's=' %(session name%) before 't='" },
      { doc(V, S), "^line 2: missing 'o=' %(origin%) before 's='" },
      { doc(V, O, S), "^line 4: missing 't=' %(timing%) at end of input" },
      { doc(V, O, S, "m=audio 4000 RTP/AVP 0"), "^line 4: missing 't=' %(timing%) before 'm='" },
      { doc(V, O, S, S, T), "^line 4: more than one 's='" },
      { doc(V, O, S, T, C), "^line 5: 'c=' out of order" },
      { doc(V, O, S, "a=x", T), "^line 4: missing 't=' %(timing%) before 'a='" },
      { doc(V, O, S, T, "k=prompt", "z=0 0"), "^line 6: 'z=' out of order" },
      { doc(V, O, S, "", C, T), "^line 4: empty line" },
      { doc(V, O, S, "c=IN IP4 300.1.1.1", T), "^line 4: bad IP4 address '300.1.1.1'" },
      { doc(V, O, S, "c=IN IP4 1.2.3", T), "^line 4: bad IP4 address '1.2.3'" },
      { doc(V, O, S, "c=IN IP4 224.2.1.1/300", T), "^line 4: TTL 300 out of range" },
      { doc(V, O, S, "c=IN IP6 2001:db8:::1", T), "^line 4: bad IP6 address" },
      { doc(V, O, S, "c=IN IP6 1:2:3:4:5:6:7:8:9", T), "^line 4: bad IP6 address" },
      { doc(V, O, S, "c=IN IP6 1::2::3", T), "^line 4: bad IP6 address" },
      { doc(V, O, S, "c=IN IP4", T), "^line 4: c= needs 3 fields" },
      { doc(V, O, S, C, "b=AS", T), "^line 5: b= must be <bwtype>:<bandwidth>" },
      { doc(V, O, S, C, "t=now 0"), "^line 5: t= must be <start%-time> <stop%-time>" },
      { doc(V, O, S, C, "r=7d 1h 0"), "^line 5: 'r=' must follow a 't=' line" },
      { doc(V, O, S, C, T, "r=7d 1h"), "^line 6: r= needs" },
      { doc(V, O, S, C, T, "r=7w 1h 0"), "^line 6: bad typed time '7w'" },
      { doc(V, O, S, C, T, "z=2882844526"), "^line 6: z= needs pairs" },
      { doc(V, O, S, C, T, "a=:x"), "^line 6: bad attribute name ''" },
      { doc(V, O, S, C, T, "a=bad name"), "^line 6: bad attribute name 'bad name'" },
      { doc(V, O, S, C, T, "m=audio 4000 RTP/AVP"), "^line 6: m= needs" },
      { doc(V, O, S, C, T, "m=audio 70000 RTP/AVP 0"), "^line 6: bad port '70000'" },
      { doc(V, O, S, C, T, "m=audio 4000/0 RTP/AVP 0"), "^line 6: number of ports must be at least 1" },
      { doc(V, O, S, C, T, "m=audio 4000 RTP//AVP 0"), "^line 6: bad transport protocol" },
      { doc(V, O, S, C, T, "m=audio 4000 RTP/AVP 0", "o=- 1 1 IN IP4 h"),
        "^line 7: 'o=' is not allowed in a media description" },
      { doc(V, O, S, C, T, "m=audio 4000 RTP/AVP 0", "a=sendrecv", "c=IN IP4 192.0.2.2"),
        "^line 8: 'c=' out of order in media description" },
      { doc(V, O, S, C, T, "m=audio 4000 RTP/AVP 0", "i=a", "i=b"),
        "^line 8: more than one 'i=' in a media description" },
      { doc(V, O, S, T, "m=audio 4000 RTP/AVP 0", "m=audio 4002 RTP/AVP 0", C),
        "^line 5: media description 1 has no 'c=' and the session has none" },
      { doc(V, O, "s=a\0b", T), "^line 3: NUL or CR inside a line" },
      { doc(V, O, "s=a\rb", T), "^line 3: NUL or CR inside a line" },
    }
    for i, case in ipairs(cases) do
      local what = case[2]:gsub("^%^", ""):gsub("%%", "")
      it(string.format("rejects (RFC 8866 §5), case %d: %s", i, what), function()
        local s, err = sdp.parse(case[1])
        assert.is_nil(s)
        assert.is_string(err)
        assert.matches(case[2], err)
      end)
    end

    it("opts.lenient accepts order, blanks and missing t= or c= (leniency is opt-in)", function()
      local text = doc(V, O, S, "a=tool:x  ", "", T, C, "m=audio  4000 RTP/AVP 0", "a=sendrecv",
        "b=AS:64")
      assert.is_nil(sdp.parse(text))
      local s = assert(sdp.parse(text, { lenient = true }))
      assert.equal("x", attribute(s, "tool"))
      assert.equal(4000, s.streams[1].port)
      assert.same({ { type = "AS", value = 64 } }, s.streams[1].bandwidths)
      assert.truthy(sdp.parse(doc(V, O, S, "m=audio 4000 RTP/AVP 0"), { lenient = true }))
      -- and what it writes is strict
      assert.truthy(sdp.parse(tostring(s)))
    end)
  end)

  describe("garbage never raises", function()
    local bodies = { FULL, body_of(BENCH .. "invite-sdp.sip"), body_of(TORTURE .. "mult-ip-in-sdp.clfixed.sip") }
    local caps = {
      { address = "192.0.2.9", port = 4000, codecs = { "PCMU", "PCMA" }, telephone_event = true },
      { address = "2001:db8::9", ports = { audio = 4000, video = { 5000 }, application = 6000 },
        codecs = { audio = { "FOO", "LPC", "telephone-event", "CN" }, video = { "H261", "LPC" },
                   application = { "x" } }, protos = { "RTP/AVP", "TCP/MSRP" } },
    }

    -- a deterministic generator, so a failure can be replayed
    local seed = 12345
    local function rand(n)
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n + 1
    end
    local ALPHABET = "v=o0 \r\n:/a=mc.tIP4IP6RTP/AVP1234567890\0\255abc-*"
    local function mutate(text)
      for _ = 1, rand(2) do
        local at, op = rand(#text + 1), rand(4)
        if op == 1 then text = text:sub(1, at - 1) .. text:sub(at + rand(8))
        elseif op == 2 then
          local k = rand(#ALPHABET)
          text = text:sub(1, at - 1) .. ALPHABET:sub(k, k) .. text:sub(at)
        elseif op == 3 then text = text:sub(1, at)
        else
          local k = rand(#text)
          text = text:sub(1, at - 1) .. text:sub(k, k + rand(20)) .. text:sub(at)
        end
      end
      return text
    end

    it("random bytes and mutated bodies give a session or nil, 'line N: ...'", function()
      local parsed = 0
      for i = 1, 4000 do
        local input
        if i % 3 == 0 then
          local t = {}
          for j = 1, rand(200) do t[j] = string.char(rand(256) - 1) end
          input = table.concat(t)
        else
          input = mutate(bodies[rand(#bodies)])
        end
        local ok, s, err = pcall(sdp.parse, input)
        assert(ok, s)
        if s then
          parsed = parsed + 1
          -- whatever parses builds, re-parses to the same tables, and can be answered
          local again = assert(sdp.parse(tostring(s)))
          if not require("luassert.util").deepcompare(s, again, true) then
            error("round trip differs for " .. string.format("%q", input))
          end
          for _, c in ipairs(caps) do
            local aok, answer = pcall(sdp.answer, s, c)
            assert(aok, answer)
            if answer then assert.same(answer, sdp.parse(tostring(answer))) end
          end
          assert(pcall(sdp.negotiated, s, s))
        else
          assert(type(err) == "string" and err:match("^line %d+: "), err)
        end
      end
      assert.is_true(parsed > 500) -- the mutations must reach the code past the first line
    end)
  end)

  describe("build", function()
    it("writes lines in RFC 8866 §5 order from a plain table", function()
      local text = sdp.build {
        streams = { { type = "audio", port = 4000, proto = "RTP/AVP", fmts = { "0" },
                      attributes = { { name = "sendonly" } }, info = "first" } },
        attributes = { { name = "tool", value = "x" } },
        times = { { start = 0, stop = 0 } },
        connection_info = { address = "192.0.2.1" },
        name = "call",
        origin = { username = "u", sess_id = 1, sess_version = "2", address = "192.0.2.1" },
      }
      assert.equal(crlf [[
v=0
o=u 1 2 IN IP4 192.0.2.1
s=call
c=IN IP4 192.0.2.1
t=0 0
a=tool:x
m=audio 4000 RTP/AVP 0
i=first
a=sendonly
]], text)
    end)

    local misuse = {
      { "not a table", "x", "expected a session table" },
      { "no origin", {}, "origin %(o=%) missing" },
      { "CRLF injection", { origin = { sess_id = "1", sess_version = "1", address = "h" },
          name = "a\r\nm=audio 1 RTP/AVP 0" }, "name contains NUL, CR or LF" },
      { "no formats", { origin = { sess_id = "1", sess_version = "1", address = "h" },
          streams = { { type = "audio", port = 1, proto = "RTP/AVP", fmts = {} } } },
        "streams%[1%] needs at least one format" },
      { "fractional port", { origin = { sess_id = "1", sess_version = "1", address = "h" },
          streams = { { type = "audio", port = 1.5, proto = "RTP/AVP", fmts = { "0" } } } },
        "streams%[1%]%.port must be an integer" },
    }
    for _, case in ipairs(misuse) do
      it("raises on misuse: " .. case[1], function()
        local ok, err = pcall(sdp.build, case[2])
        assert.is_false(ok)
        assert.matches("sdp%.build: " .. case[3], err)
      end)
    end
  end)

  describe("new: an offer for one audio stream", function()
    it("lists the codecs in order with rtpmap, telephone-event at 101 with fmtp 0-16", function()
      local s = sdp.new { address = "192.0.2.10", port = 4000,
                          codecs = { "PCMA", "PCMU", "G729", "telephone-event" } }
      local m = s:media(1)
      assert.same({ "8", "0", "18", "101" }, m.fmts)
      assert.same({ "PCMA", "PCMU", "G729", "telephone-event" }, names(m.codecs))
      assert.equal("0-16", m.codecs[4].fmtp)
      assert.equal("sendrecv", m.direction)
      local text = tostring(s)
      assert.matches("\r\nc=IN IP4 192%.0%.2%.10\r\n", text)
      assert.matches("\r\nm=audio 4000 RTP/AVP 8 0 18 101\r\n", text)
      assert.matches("\r\na=rtpmap:101 telephone%-event/8000\r\na=fmtp:101 0%-16\r\n", text)
      assert.matches("^v=0\r\no=%- (%d+) %1 IN IP4 192%.0%.2%.10\r\n", text)
      assert.same(s, sdp.parse(text))
    end)

    it("writes IN IP6 for an IPv6 address", function()
      local s = sdp.new { address = "2001:db8::10", port = 5004, codecs = { "PCMU" } }
      assert.equal("IP6", s.origin.addrtype)
      assert.equal("IP6", s:connection().addrtype)
      assert.matches("\r\nc=IN IP6 2001:db8::10\r\n", tostring(s))
      assert.same(s, sdp.parse(tostring(s)))
    end)

    it("assigns dynamic payload types and takes rates, channels and options", function()
      local s = sdp.new { address = "192.0.2.10", port = 4000, codecs = { "opus", "L16/16000", "PCMU" },
                          telephone_event = true, ptime = 20, direction = "recvonly",
                          username = "alice", session_name = "talk" }
      assert.same({
        { pt = 96, name = "opus", rate = 48000, channels = 2 },
        { pt = 97, name = "L16", rate = 16000, channels = 1 },
        { pt = 0, name = "PCMU", rate = 8000, channels = 1 },
        { pt = 101, name = "telephone-event", rate = 8000, channels = 1, fmtp = "0-16" },
      }, s:media(1).codecs)
      assert.equal("20", attribute(s:media(1), "ptime"))
      assert.equal("recvonly", s:media(1).direction)
      assert.equal("alice", s.origin.username)
      assert.equal("talk", s.name)
      assert.matches("a=rtpmap:96 opus/48000/2\r\n", tostring(s))
    end)

    it("gives every session its own numeric id, the version starting equal (RFC 8866 §5.2)", function()
      local a = sdp.new { address = "192.0.2.1", port = 4000 }
      local b = sdp.new { address = "192.0.2.1", port = 4000 }
      assert.matches("^%d+$", a.origin.sess_id)
      assert.equal(a.origin.sess_id, a.origin.sess_version)
      assert.is_true(a.origin.sess_id ~= b.origin.sess_id)
    end)

    local misuse = {
      { "no options", nil, "expected an options table" },
      { "no address", { port = 4000 }, "address %(our media address%) is required" },
      { "bad port", { address = "192.0.2.1", port = 70000 }, "port must be an integer 0%.%.65535" },
      { "unknown codec", { address = "192.0.2.1", port = 1, codecs = { "FOO" } },
        "unknown codec 'FOO', give its rate as 'FOO/8000'" },
      { "bad direction", { address = "192.0.2.1", port = 1, direction = "up" }, "direction must be" },
      { "empty codecs", { address = "192.0.2.1", port = 1, codecs = {} }, "codecs must be a non%-empty list" },
    }
    for _, case in ipairs(misuse) do
      it("raises on misuse at the caller: " .. case[1], function()
        local ok, err = pcall(function() sdp.new(case[2]) end)
        assert.is_false(ok)
        assert.matches("sdp_spec%.lua:%d+: sdp%.new: " .. case[3], err)
      end)
    end
  end)

  describe("session methods", function()
    local bumps = {
      { "1", "2" }, { "9", "10" }, { "2890844526", "2890844527" }, { "0099", "0100" },
      { "18446744073709551615", "18446744073709551616" }, { 41, 42 },
    }
    for _, b in ipairs(bumps) do
      it("bump: sess-version " .. b[1] .. " -> " .. b[2] .. " (RFC 3264 §8)", function()
        local s = assert(sdp.parse(body_of(BENCH .. "invite-sdp.sip")))
        s.origin.sess_version = b[1]
        assert.equal(s, s:bump())
        assert.equal(b[2], s.origin.sess_version)
        assert.equal("2890844526", s.origin.sess_id)
      end)
    end

    it("hold sets sendonly and bumps; resume sets sendrecv and bumps (RFC 3264 §8.4)", function()
      local s = sdp.new { address = "192.0.2.1", port = 4000, codecs = { "PCMU" }, ptime = 20 }
      local v = tonumber(s.origin.sess_version)
      s:hold()
      assert.equal("sendonly", s:media(1).direction)
      assert.is_true(s:is_on_hold(1))
      assert.equal(tostring(v + 1), s.origin.sess_version)
      assert.matches("a=ptime:20\r\na=sendonly\r\n$", tostring(s))
      local again = assert(sdp.parse(tostring(s)))
      assert.equal("sendonly", again:media(1).direction)
      s:resume()
      assert.equal("sendrecv", s:media(1).direction)
      assert.is_false(s:is_on_hold(1))
      assert.equal(tostring(v + 2), s.origin.sess_version)
      assert.matches("a=ptime:20\r\na=sendrecv\r\n$", tostring(s))
    end)

    it("hold replaces a session-level direction so one place says it", function()
      local s = assert(sdp.parse(offer_with("m=audio 4000 RTP/AVP 0", nil, "a=recvonly")))
      s:hold()
      assert.same({}, s.attributes)
      assert.same({ { name = "sendonly" } }, s:media(1).attributes)
      assert.equal("sendonly", sdp.parse(tostring(s)):media(1).direction)
    end)

    it("hold(i) holds one stream only", function()
      local s = assert(sdp.parse(FULL))
      s:hold(2)
      assert.equal("recvonly", s:media(1).direction)
      assert.equal("sendonly", s:media(2).direction)
    end)

    it("media(i) and connection(i): the media c= over the session c=", function()
      local s = assert(sdp.parse(body_of(TORTURE .. "mult-ip-in-sdp.clfixed.sip")))
      assert.equal(s.streams[1], s:media())
      assert.equal(s.streams[2], s:media(2))
      assert.is_nil(s:media(3))
      assert.is_nil(s:connection())
      assert.equal("192.0.2.1", s:connection(1).address)
      assert.equal("2001:db8::1", s:connection(2).address)
      assert.is_nil(s:connection(3))
      local t = assert(sdp.parse(body_of(TORTURE .. "ipv6-in-sdp.clfixed.sip")))
      assert.equal(t.connection_info, t:connection(2))
    end)

    it("is_on_hold sees sendonly, inactive and c=0.0.0.0", function()
      local cases = {
        { nil, nil, false }, { "a=sendonly", nil, true }, { "a=inactive", nil, true },
        { "a=recvonly", nil, false }, { nil, "c=IN IP4 0.0.0.0", true },
      }
      for _, c in ipairs(cases) do
        local s = assert(sdp.parse(offer_with("m=audio 4000 RTP/AVP 0",
          (c[2] and c[2] .. "\n" or "") .. (c[1] or ""))))
        assert.equal(c[3], s:is_on_hold(1))
      end
    end)

    it("raises on misuse", function()
      local s = sdp.new { address = "192.0.2.1", port = 4000 }
      assert.has_error(function() s:set_direction("sideways") end,
        "session:set_direction: direction must be sendrecv, sendonly, recvonly or inactive, got sideways")
      assert.has_error(function() s:media("x") end)
      assert.has_error(function() s:set_direction("inactive", 5) end)
      assert.has_error(function() sdp.parse(nil) end)
      assert.has_error(function() sdp.parse("v=0", "lenient") end)
    end)
  end)

  describe("answer (RFC 3264 §6)", function()
    it("§10.1 basic exchange: Bob rejects the first video stream", function()
      local offer = assert(sdp.parse(RFC3264_10_1.alice_offer))
      local answer = assert(sdp.answer(offer, { address = "host.example.com", username = "bob",
        ports = { audio = 49920, video = 53000 }, codecs = { audio = { "PCMU" }, video = { "MPV" } } }))
      local rfc = assert(sdp.parse(RFC3264_10_1.bob_answer))
      assert.same(m_lines(rfc), m_lines(answer))
      assert.same(rfc.connection_info, answer.connection_info)
      assert.same(rfc.times, answer.times)
      assert.same(assert(sdp.negotiated(offer, rfc)), assert(sdp.negotiated(offer, answer)))
    end)

    it("§10.1 second offer: Alice answers the added recvonly stream sendonly", function()
      local first = assert(sdp.parse(RFC3264_10_1.alice_offer))
      local offer = assert(sdp.parse(RFC3264_10_1.bob_offer))
      local answer = assert(sdp.answer(offer, { address = "host.anywhere.com", username = "alice",
        ports = { audio = { 49170, 53122 }, video = { 51372, 53000 } },
        codecs = { audio = { "PCMU", "telephone-events" }, video = { "H261", "MPV" } },
        previous = first }))
      local rfc = assert(sdp.parse(RFC3264_10_1.alice_answer))
      assert.same(m_lines(rfc), m_lines(answer))
      assert.same(rfc.origin, answer.origin) -- same o= with the version one higher
      assert.equal("sendonly", answer:media(4).direction)
    end)

    it("§10.2 one of N codec selection: inactive offer, then lock-down", function()
      local offer = assert(sdp.parse(RFC3264_10_2.alice_offer))
      local bob = { address = "host.example.com", username = "bob", port = 54344,
                    codecs = { "PCMU", "G723" } }
      local answer = assert(sdp.answer(offer, bob))
      local rfc = assert(sdp.parse(RFC3264_10_2.bob_answer))
      assert.same(m_lines(rfc), m_lines(answer))
      assert.equal("inactive", answer:media(1).direction)

      bob.previous = rfc
      local answer2 = assert(sdp.answer(RFC3264_10_2.alice_offer2, bob))
      local rfc2 = assert(sdp.parse(RFC3264_10_2.bob_answer2))
      assert.same(m_lines(rfc2), m_lines(answer2))
      assert.same(rfc2.origin, answer2.origin)
      assert.equal("G723", sdp.negotiated(RFC3264_10_2.alice_offer2, answer2)[1].name)
    end)

    local orders = {
      { "8 0 18", { "PCMU", "PCMA" }, { "PCMA", "PCMU" } },
      { "0 8 18", { "G729", "PCMA" }, { "PCMA", "G729" } },
      { "18 8 0", { "pcmu", "pcma", "g729" }, { "G729", "PCMA", "PCMU" } },
      { "8 0 18", { "PCMU/8000" }, { "PCMU" } },
      { "9 0", { "G722/16000", "PCMU" }, { "PCMU" } }, -- G722's RTP clock is 8000 (RFC 3551 §4.5.2)
      { "0 13 8", { "PCMA", "CN", "PCMU" }, { "PCMU", "CN", "PCMA" } },
    }
    for _, o in ipairs(orders) do
      it("keeps the offerer's codec order: offer " .. o[1] .. ", ours "
         .. table.concat(o[2], " ") .. " (§6.1)", function()
        local answer = assert(sdp.answer(offer_with("m=audio 4000 RTP/AVP " .. o[1]),
          { address = "192.0.2.9", port = 5000, codecs = o[2] }))
        assert.same(o[3], names(answer:media(1).codecs))
        assert.equal(5000, answer:media(1).port)
      end)
    end

    it("answers the bench offer PCMA PCMU G729 with PCMA first, telephone-event at 101", function()
      local offer = body_of(BENCH .. "invite-sdp.sip")
      local answer = assert(sdp.answer(offer, { address = "192.0.2.9", port = 5000,
        codecs = { "PCMU", "PCMA" }, telephone_event = true }))
      assert.same({ "8", "0", "101" }, answer:media(1).fmts)
      local got = assert(sdp.negotiated(offer, answer))
      assert.equal("PCMA", got[1].name)
      assert.equal(8, got[1].pt)
      assert.equal(101, got[1].telephone_event.pt)
      assert.same(answer, sdp.parse(tostring(answer)))
    end)

    local events = {
      { "offer pt 101 with 0-16", "8 101", "a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16",
        true, { 101, "0-16" } },
      { "offer pt 96 with 0-15", "0 96", "a=rtpmap:96 telephone-event/8000\na=fmtp:96 0-15",
        true, { 96, "0-15" } },
      { "no fmtp", "0 100", "a=rtpmap:100 telephone-event/8000", true, { 100 } },
      { "the rate of the chosen codec", "111 0 110 101",
        "a=rtpmap:111 opus/48000/2\na=rtpmap:110 telephone-event/48000\n"
        .. "a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16", true, { 101, "0-16" } },
      { "telephone_event = false", "8 101", "a=rtpmap:101 telephone-event/8000", false, nil },
    }
    for _, e in ipairs(events) do
      it("keeps the offerer's telephone-event payload type (RFC 4733 §7.1.1): " .. e[1], function()
        local answer = assert(sdp.answer(offer_with("m=audio 4000 RTP/AVP " .. e[2], e[3]),
          { address = "192.0.2.9", port = 5000, codecs = { "PCMU", "PCMA" }, telephone_event = e[4] }))
        local te
        for _, c in ipairs(answer:media(1).codecs) do
          if c.name == "telephone-event" then assert.is_nil(te); te = c end
        end
        if e[5] then
          assert.equal(e[5][1], te.pt)
          assert.equal(e[5][2], te.fmtp)
          local text = tostring(answer)
          assert.matches("a=rtpmap:" .. te.pt .. " telephone%-event/8000\r\n", text)
          if te.fmtp then assert.matches("a=fmtp:" .. te.pt .. " " .. te.fmtp:gsub("%-", "%%-"), text) end
        else
          assert.is_nil(te)
        end
      end)
    end

    local directions = {
      { "sendrecv", nil, nil, "sendrecv" },
      { "sendonly", nil, nil, "recvonly" },
      { "recvonly", nil, nil, "sendonly" },
      { "inactive", nil, nil, "inactive" },
      { "sendrecv", "recvonly", nil, "recvonly" },
      { "sendrecv", "sendonly", nil, "sendonly" },
      { "sendrecv", "inactive", nil, "inactive" },
      { "sendonly", "sendonly", nil, "inactive" },
      { "recvonly", "recvonly", nil, "inactive" },
      { "sendrecv", nil, "c=IN IP4 0.0.0.0", "recvonly" },     -- §8.4 legacy hold
      { "sendonly", nil, "c=IN IP4 0.0.0.0", "recvonly" },
      { "recvonly", nil, "c=IN IP4 0.0.0.0", "inactive" },
    }
    for _, d in ipairs(directions) do
      it(string.format("§6.1 direction: offer %s%s, ours %s -> %s", d[1], d[3] and " with " .. d[3] or "",
        d[2] or "default", d[4]), function()
        local lines = (d[3] and d[3] .. "\n" or "") .. "a=" .. d[1]
        local answer = assert(sdp.answer(offer_with("m=audio 4000 RTP/AVP 0", lines),
          { address = "192.0.2.9", port = 5000, codecs = { "PCMU" }, direction = d[2] }))
        assert.equal(d[4], answer:media(1).direction)
        assert.equal(5000, answer:media(1).port) -- held, not rejected
        assert.matches("a=" .. d[4] .. "\r\n", tostring(answer))
      end)
    end

    it("answers a hold made with a session-level a=sendonly with recvonly", function()
      local answer = assert(sdp.answer(offer_with("m=audio 4000 RTP/AVP 0", nil, "a=sendonly"),
        { address = "192.0.2.9", port = 5000, codecs = { "PCMU" } }))
      assert.equal("recvonly", answer:media(1).direction)
    end)

    it("answers a hold made by our own session:hold()", function()
      local offer = sdp.new { address = "192.0.2.1", port = 4000, codecs = { "PCMA" } }:hold()
      local answer = assert(sdp.answer(offer, { address = "192.0.2.9", port = 5000, codecs = { "PCMA" } }))
      assert.equal("recvonly", answer:media(1).direction)
    end)

    local rejections = {
      { "video we do not do", { "m=audio 4000 RTP/AVP 0", "m=video 4002 RTP/AVP 31" },
        { 5000, 0 }, { { "0" }, { "31" } } },
      { "a transport we do not do", { "m=audio 4000 RTP/SAVP 0", "m=audio 4002 RTP/AVP 0" },
        { 0, 5002 }, { { "0" }, { "0" } } },
      { "a stream the offer disabled with port 0", { "m=audio 0 RTP/AVP 0", "m=audio 4002 RTP/AVP 8" },
        { 0, 5002 }, { { "0" }, { "8" } } },
      { "no common codec in one stream", { "m=audio 4000 RTP/AVP 18", "m=audio 4002 RTP/AVP 8 18" },
        { 0, 5002 }, { { "18" }, { "8" } } },
      { "T.38 fax", { "m=audio 4000 RTP/AVP 0", "m=image 4002 udptl t38" },
        { 5000, 0 }, { { "0" }, { "t38" } } },
    }
    for _, r in ipairs(rejections) do
      it("rejects with port 0 and keeps a valid format list: " .. r[1], function()
        local text = offer_with(table.concat(r[2], "\n"))
        local answer = assert(sdp.answer(text, { address = "192.0.2.9", port = 5000, codecs = { "PCMU", "PCMA" } }))
        assert.equal(#r[2], #answer.streams) -- one m-line per offered m-line, same order
        for i, m in ipairs(answer.streams) do
          assert.equal(r[3][i], m.port)
          assert.same(r[4][i], m.fmts)
          assert.equal(assert(sdp.parse(text)).streams[i].type, m.type)
        end
        assert.same(answer, sdp.parse(tostring(answer)))
      end)
    end

    local failures = {
      { "no common codec", { "m=audio 4000 RTP/AVP 18 4" }, "no common codec" },
      { "only telephone-event in common", { "m=audio 4000 RTP/AVP 18 101" }, "no common codec",
        "a=rtpmap:101 telephone-event/8000" },
      { "only video offered", { "m=video 4000 RTP/AVP 31" }, "unsupported media type video" },
      { "only SRTP offered", { "m=audio 4000 RTP/SAVP 0" }, "unsupported transport RTP/SAVP" },
    }
    for _, f in ipairs(failures) do
      it("returns nil, why, 488 when nothing can be accepted: " .. f[1], function()
        local answer, err, code = sdp.answer(offer_with(table.concat(f[2], "\n"), f[4]),
          { address = "192.0.2.9", port = 5000, codecs = { "PCMU", "PCMA" }, telephone_event = true })
        assert.is_nil(answer)
        assert.equal(f[3], err)
        assert.equal(488, code)
      end)
    end

    it("answers an offer whose streams are all disabled with all ports 0", function()
      local answer = assert(sdp.answer(offer_with("m=audio 0 RTP/AVP 0"), { address = "192.0.2.9", port = 5000 }))
      assert.equal(0, answer:media(1).port)
    end)

    it("returns nil, why, 400 for an offer that does not parse", function()
      local answer, err, code = sdp.answer("v=0\r\nbogus\r\n", { address = "192.0.2.9", port = 5000 })
      assert.is_nil(answer)
      assert.matches("^bad offer: line 2: ", err)
      assert.equal(400, code)
    end)

    it("copies the offer's t= and answers from our address, IPv6 too", function()
      local offer = assert(sdp.parse(FULL))
      local answer = assert(sdp.answer(offer, { address = "2001:db8::9", port = 5000,
        codecs = { "PCMU" }, telephone_event = true }))
      assert.same({ { start = 2873397496, stop = 2873404696, repeats = {
          { interval = "7d", duration = "1h", offsets = { "0", "25h" } },
          { interval = "604800", duration = "3600", offsets = { "0", "90000" } } } },
        { start = 0, stop = 0, repeats = {} } }, answer.times)
      assert.equal("IN IP6 2001:db8::9", answer:connection(1).nettype .. " " .. answer:connection(1).addrtype
        .. " " .. answer:connection(1).address)
      assert.same({ "0", "101" }, answer:media(1).fmts)
      assert.equal("sendonly", answer:media(1).direction) -- the session offered recvonly
      assert.same({ 5000, 0, 0 }, { answer.streams[1].port, answer.streams[2].port, answer.streams[3].port })
    end)

    it("answers the RFC 4475 sdp01 offer, keeping its rate-less 'a=rtpmap:31 LPC' as written", function()
      local offer = body_of(TORTURE .. "sdp01.sip")
      local answer = assert(sdp.answer(offer, { address = "192.0.2.9", ports = { audio = 5000, video = 5002 },
        codecs = { audio = { "PCMU" }, video = { "LPC" } } }))
      assert.same({ { "0" }, { "31" } }, { answer.streams[1].fmts, answer.streams[2].fmts })
      assert.matches("\r\nm=video 5002 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n", tostring(answer))
      assert.same(answer, sdp.parse(tostring(answer)))
    end)

    it("raises on misuse", function()
      local offer = body_of(BENCH .. "invite-sdp.sip")
      assert.has_error(function() sdp.answer(offer) end)
      assert.has_error(function() sdp.answer(offer, { port = 5000 }) end)
      assert.has_error(function() sdp.answer(offer, { address = "192.0.2.9" }) end,
        "sdp.answer: port or ports (our media ports) is required")
      assert.has_error(function() sdp.answer(nil, { address = "192.0.2.9", port = 5000 }) end)
      assert.has_error(function() sdp.answer(offer, { address = "192.0.2.9", port = "5000" }) end)
      local ok, err = pcall(function()
        sdp.answer(offer, { address = "192.0.2.9", port = 5000, codecs = { 42 } })
      end)
      assert.is_false(ok)
      assert.matches("sdp_spec%.lua:%d+: sdp%.answer: a codec is", err)
    end)
  end)

  describe("negotiated", function()
    it("gives the codec each stream settled on, false for a rejected stream", function()
      local got = assert(sdp.negotiated(RFC3264_10_1.alice_offer, RFC3264_10_1.bob_answer))
      assert.equal(3, #got)
      assert.equal("PCMU", got[1].name)
      assert.is_false(got[2])
      assert.equal("MPV", got[3].name)
    end)

    it("skips telephone-event and CN when picking", function()
      local offer = offer_with("m=audio 4000 RTP/AVP 101 13 8", "a=rtpmap:101 telephone-event/8000")
      local answer = assert(sdp.answer(offer, { address = "192.0.2.9", port = 5000,
        codecs = { "PCMA", "CN" }, telephone_event = true }))
      assert.same({ "telephone-event", "CN", "PCMA" }, names(answer:media(1).codecs))
      local got = assert(sdp.negotiated(offer, answer))
      assert.equal("PCMA", got[1].name)
      assert.equal(101, got[1].telephone_event.pt)
    end)

    it("returns nil, err for text that does not parse", function()
      local got, err = sdp.negotiated("garbage", RFC3264_10_1.bob_answer)
      assert.is_nil(got)
      assert.matches("^line 1:", err)
    end)
  end)
end)
