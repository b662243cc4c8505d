--- sip.sdp: the Session Description Protocol (RFC 8866): the session model, parse and build;
-- the front of the offer/answer model too (RFC 3264: new, answer, negotiated in sip.sdp_offer).
--
-- A session is a plain table (fields below) with methods from a metatable, so a table built by
-- hand serializes too.  Every line of the input is kept: unknown attributes in order, unknown
-- line types in `unknown`, so parse -> build -> parse gives the same tables.
--
--   session = { version=0, origin={username=, sess_id=, sess_version=, nettype=, addrtype=,
--     address=}, name=, info=, uri=, emails={}, phones={}, connection_info=, bandwidths={},
--     times={{start=, stop=, repeats={{interval=, duration=, offsets={}}}}}, zones=, key=,
--     attributes={{name=, value=}}, unknown={{type=, value=}}, streams={stream...} }
--   stream  = { type="audio", port=, port_count=, proto=, fmts={"0","8"}, info=,
--     connection_info=, extra_connections=, bandwidths={}, key=, attributes={}, unknown={},
--     codecs={{pt=, name=, rate=, channels=, fmtp=}}, direction="sendrecv" }
--   connection_info = { nettype="IN", addrtype="IP4", address=, ttl=, count= }
--
-- sess_id and sess_version are kept as decimal strings: they may exceed 2^63 and leading
-- zeros must survive a round trip.  `codecs` and `direction` are views derived from fmts and
-- attributes; build() ignores them, the methods here keep them current.
-- @module sip.sdp

local M = {}

local Session = {}
Session.__index = Session
Session.__name = "sip.sdp.session"

local DIRECTIONS = { sendrecv = true, sendonly = true, recvonly = true, inactive = true }

-- RFC 3551 §6, static payload types: pt -> name, clock rate, channels
local STATIC = {
  [0] = { "PCMU", 8000, 1 },  [3] = { "GSM", 8000, 1 },    [4] = { "G723", 8000, 1 },
  [5] = { "DVI4", 8000, 1 },  [6] = { "DVI4", 16000, 1 },  [7] = { "LPC", 8000, 1 },
  [8] = { "PCMA", 8000, 1 },  [9] = { "G722", 8000, 1 },   [10] = { "L16", 44100, 2 },
  [11] = { "L16", 44100, 1 }, [12] = { "QCELP", 8000, 1 }, [13] = { "CN", 8000, 1 },
  [14] = { "MPA", 90000 },    [15] = { "G728", 8000, 1 },  [16] = { "DVI4", 11025, 1 },
  [17] = { "DVI4", 22050, 1 },[18] = { "G729", 8000, 1 },  [25] = { "CelB", 90000 },
  [26] = { "JPEG", 90000 },   [28] = { "nv", 90000 },      [31] = { "H261", 90000 },
  [32] = { "MPV", 90000 },    [33] = { "MP2T", 90000 },    [34] = { "H263", 90000 },
}

-- -------------------------------------------------------------------------------------------
-- small helpers

local TOKEN = "^[%w!#$%%&'*+%-%.%^_`{|}~]+$"

local function is_token(s) return s ~= nil and s:match(TOKEN) ~= nil end

local function to_int(s)
  local n = s and tonumber(s)
  return n and math.tointeger(n)
end

-- RFC 8866 §5: fields are separated by exactly one space; lenient accepts any blank run.
local function fields(v, lenient)
  local f = {}
  for w in v:gmatch("%S+") do f[#f + 1] = w end
  if not lenient and table.concat(f, " ") ~= v then
    return nil, "fields must be separated by single spaces"
  end
  return f
end

local function is_ipv4(s)
  local a, b, c, d = s:match("^(%d%d?%d?)%.(%d%d?%d?)%.(%d%d?%d?)%.(%d%d?%d?)$")
  if not a then return false end
  for _, o in ipairs { a, b, c, d } do
    if tonumber(o) > 255 then return false end
  end
  return true
end

local function hex_groups(s)
  if s == "" then return 0 end
  local n = 0
  for g in (s .. ":"):gmatch("([^:]*):") do
    if not g:match("^%x%x?%x?%x?$") then return nil end
    n = n + 1
  end
  return n
end

local function is_ipv6(s)
  if not s:find(":", 1, true) or not s:match("^[%x:%.]+$") or s:find(":::", 1, true) then
    return false
  end
  local v4 = s:match(":([%d%.]+)$")
  if v4 and v4:find(".", 1, true) then
    if not is_ipv4(v4) then return false end
    s = s:sub(1, #s - #v4) .. "0:0" -- the embedded IPv4 address counts as two groups
  end
  if s:find(".", 1, true) then return false end
  local left, right = s:match("^(.-)::(.*)$")
  if left then
    if right:find("::", 1, true) then return false end
    local l, r = hex_groups(left), hex_groups(right)
    return l ~= nil and r ~= nil and l + r <= 7
  end
  return hex_groups(s) == 8
end

local function is_fqdn(s)
  return s:match("^[%w%-%.]+$") ~= nil and s:match("%a") ~= nil
end

-- "123" -> "124", for sess-version strings of any length
local function increment(s)
  if math.type(s) == "integer" then return s + 1 end
  s = tostring(s)
  local digits, i = { s:byte(1, -1) }, #s
  while i >= 1 do
    if digits[i] < 57 then digits[i] = digits[i] + 1; return string.char(table.unpack(digits)) end
    digits[i] = 48
    i = i - 1
  end
  return "1" .. string.char(table.unpack(digits))
end

local function copy(t)
  if type(t) ~= "table" then return t end
  local c = {}
  for k, v in pairs(t) do c[k] = copy(v) end
  return c
end

-- -------------------------------------------------------------------------------------------
-- line parsers: each returns the value or nil, "problem"

local function parse_origin(v, lenient)
  local f, err = fields(v, lenient)
  if not f then return nil, err end
  if #f ~= 6 then
    return nil, "o= needs 6 fields (username sess-id sess-version nettype addrtype address)"
  end
  if not f[2]:match("^%d+$") then return nil, "sess-id '" .. f[2] .. "' is not a number" end
  if not f[3]:match("^%d+$") then return nil, "sess-version '" .. f[3] .. "' is not a number" end
  return { username = f[1], sess_id = f[2], sess_version = f[3], nettype = f[4],
           addrtype = f[5], address = f[6] }
end

local function parse_connection(v, lenient)
  local f, err = fields(v, lenient)
  if not f then return nil, err end
  if #f ~= 3 then return nil, "c= needs 3 fields (nettype addrtype connection-address)" end
  local c = { nettype = f[1], addrtype = f[2] }
  local addr = f[3]
  if f[1] == "IN" and f[2] == "IP4" then
    -- RFC 8866 §5.7: <base multicast address>[/<ttl>]/<number of addresses>
    local a, ttl, count = addr:match("^([^/]+)/(%d+)/(%d+)$")
    if not a then a, ttl = addr:match("^([^/]+)/(%d+)$") end
    a = a or addr
    if not (is_ipv4(a) or (is_fqdn(a) and not a:match("^[%d%.]+$"))) then
      return nil, "bad IP4 address '" .. addr .. "'"
    end
    c.address, c.ttl, c.count = a, to_int(ttl), to_int(count)
    if c.ttl and c.ttl > 255 then return nil, "TTL " .. ttl .. " out of range" end
    if c.count and c.count < 1 then return nil, "number of addresses must be at least 1" end
  elseif f[1] == "IN" and f[2] == "IP6" then
    local a, count = addr:match("^([^/]+)/(%d+)$")
    a = a or addr
    if not (is_ipv6(a) or (is_fqdn(a) and not a:find(":", 1, true))) then
      return nil, "bad IP6 address '" .. addr .. "'"
    end
    c.address, c.count = a, to_int(count)
    if c.count and c.count < 1 then return nil, "number of addresses must be at least 1" end
  else
    c.address = addr -- another network or address type: keep it as written
  end
  return c
end

local function parse_bandwidth(v)
  local t, bw = v:match("^([^:]+):(%d+)$")
  if not (t and is_token(t)) then return nil, "b= must be <bwtype>:<bandwidth>" end
  local n = to_int(bw)
  if not n then return nil, "bandwidth '" .. bw .. "' out of range" end
  return { type = t, value = n }
end

local function parse_time(v, lenient)
  local f, err = fields(v, lenient)
  if not f then return nil, err end
  if #f ~= 2 or not f[1]:match("^%d+$") or not f[2]:match("^%d+$") then
    return nil, "t= must be <start-time> <stop-time>"
  end
  local start, stop = to_int(f[1]), to_int(f[2])
  if not (start and stop) then return nil, "time out of range" end
  return { start = start, stop = stop, repeats = {} }
end

local TYPED_TIME = "^%d+[dhms]?$"

local function parse_repeat(v, lenient)
  local f, err = fields(v, lenient)
  if not f then return nil, err end
  if #f < 3 then return nil, "r= needs <repeat interval> <active duration> <offsets>" end
  for _, w in ipairs(f) do
    if not w:match(TYPED_TIME) then return nil, "bad typed time '" .. w .. "'" end
  end
  return { interval = f[1], duration = f[2], offsets = { table.unpack(f, 3) } }
end

local function parse_zones(v, lenient)
  local f, err = fields(v, lenient)
  if not f then return nil, err end
  if #f == 0 or #f % 2 ~= 0 then return nil, "z= needs pairs of <adjustment time> <offset>" end
  local z = {}
  for i = 1, #f, 2 do
    local t = f[i]:match("^%d+$") and to_int(f[i])
    if not t then return nil, "bad adjustment time '" .. f[i] .. "'" end
    if not f[i + 1]:match("^%-?%d+[dhms]?$") then return nil, "bad offset '" .. f[i + 1] .. "'" end
    z[#z + 1] = { time = t, offset = f[i + 1] }
  end
  return z
end

local function parse_attribute(v)
  local name, value = v:match("^([^:]*):(.*)$")
  if not name then name = v end
  if not is_token(name) then return nil, "bad attribute name '" .. name .. "'" end
  return { name = name, value = value }
end

local function parse_media(v, lenient)
  local f, err = fields(v, lenient)
  if not f then return nil, err end
  if #f < 4 then return nil, "m= needs <media> <port> <proto> <fmt> ..." end
  if not is_token(f[1]) then return nil, "bad media type '" .. f[1] .. "'" end
  local port, count = f[2]:match("^(%d+)/(%d+)$")
  port = port or f[2]:match("^%d+$")
  port, count = to_int(port), to_int(count)
  if not port or port > 65535 then return nil, "bad port '" .. f[2] .. "'" end
  if count and count < 1 then return nil, "number of ports must be at least 1" end
  for w in (f[3] .. "/"):gmatch("([^/]*)/") do
    if not is_token(w) then return nil, "bad transport protocol '" .. f[3] .. "'" end
  end
  local fmts = { table.unpack(f, 4) }
  for _, w in ipairs(fmts) do
    if not is_token(w) then return nil, "bad media format '" .. w .. "'" end
  end
  return { type = f[1], port = port, port_count = count, proto = f[3], fmts = fmts,
           bandwidths = {}, attributes = {}, unknown = {} }
end

-- -------------------------------------------------------------------------------------------
-- derived views: codecs (RFC 8866 §6.6 rtpmap, §6.15 fmtp) and direction (§6.7)

local function is_rtp(proto) return proto:find("RTP/", 1, true) ~= nil end

local function direction_of(attributes)
  for _, a in ipairs(attributes) do
    if a.value == nil and DIRECTIONS[a.name] then return a.name end
  end
end

local function derive(stream, session)
  local codecs = {}
  if is_rtp(stream.proto or "") then
    local rtpmap, fmtp = {}, {}
    for _, a in ipairs(stream.attributes or {}) do
      if a.name == "rtpmap" and a.value then
        local pt, enc = a.value:match("^(%d+)%s+(%S+)")
        if pt and not rtpmap[pt] then rtpmap[pt] = enc end
      elseif a.name == "fmtp" and a.value then
        local pt, params = a.value:match("^(%d+)%s*(.*)$")
        if pt and not fmtp[pt] then fmtp[pt] = params end
      end
    end
    for _, fmt in ipairs(stream.fmts or {}) do
      local pt = fmt:match("^%d+$") and to_int(fmt)
      if pt and pt <= 127 then
        local codec, static = { pt = pt }, STATIC[pt]
        local enc = rtpmap[fmt]
        if enc then
          local name, rate, params = enc:match("^([^/]+)/(%d+)/?(.*)$")
          if name then
            codec.name, codec.rate, codec.channels = name, to_int(rate), to_int(params)
          else
            -- "a=rtpmap:31 LPC" (RFC 4475 sdp01) names the codec but not its clock rate
            codec.name = enc
            if static and static[1]:lower() == enc:lower() then codec.rate = static[2] end
          end
          if stream.type == "audio" and not codec.channels then codec.channels = 1 end
        elseif static then
          codec.name, codec.rate, codec.channels = static[1], static[2], static[3]
        end
        codec.fmtp = fmtp[fmt]
        codecs[#codecs + 1] = codec
      end
    end
  end
  stream.codecs = codecs
  stream.direction = direction_of(stream.attributes or {})
    or (session and direction_of(session.attributes or {})) or "sendrecv"
  return stream
end

-- -------------------------------------------------------------------------------------------
-- parse

-- RFC 8866 §5: the order of lines in each part; r= belongs to the t= before it.
local SESSION_RANK = { v = 1, o = 2, s = 3, i = 4, u = 5, e = 6, p = 7, c = 8, b = 9,
                       t = 10, r = 10, z = 11, k = 12, a = 13 }
local MEDIA_RANK = { i = 1, c = 2, b = 3, k = 4, a = 5 }
local REPEATABLE = { e = true, p = true, b = true, t = true, r = true, a = true }
local NAMES = { v = "version", o = "origin", s = "session name", t = "timing" }

--- Parse a session description.  opts.lenient accepts lines out of RFC 8866 order, blank
--- lines, trailing blanks, fields split by several blanks, and a missing t= or c=.
--- Returns the session, or nil, "line N: problem".
function M.parse(text, opts)
  if type(text) ~= "string" then
    error("sdp.parse: expected a string, got " .. type(text), 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("sdp.parse: options must be a table, got " .. type(opts), 2)
  end
  local lenient = opts and opts.lenient or false

  local session = setmetatable({ emails = {}, phones = {}, bandwidths = {}, times = {},
    attributes = {}, unknown = {}, streams = {} }, Session)
  local stream, seen, last, prev = nil, {}, 0, nil
  local media_lines = {}
  local pos, n, len = 1, 0, #text

  local function fail(fmt, ...) return nil, string.format("line %d: " .. fmt, n, ...) end

  -- the required session lines (o, s, t) must come before any line ranked after them
  local function check_required(rank, what)
    for _, r in ipairs { "o", "s", "t" } do
      if not seen[r] and SESSION_RANK[r] < rank and not (lenient and r == "t") then
        return fail("missing '%s=' (%s) before %s", r, NAMES[r], what)
      end
    end
    return true
  end

  while pos <= len do
    local nl = text:find("\n", pos, true)
    local line = text:sub(pos, (nl or len + 1) - 1)
    pos = (nl or len) + 1
    n = n + 1
    if line:sub(-1) == "\r" then line = line:sub(1, -2) end
    if lenient then line = line:gsub("%s+$", "") end
    if line == "" then
      if lenient or not text:find("[^\r\n]", pos) then goto continue end
      return fail("empty line")
    end
    if line:find("[%z\r]") then return fail("NUL or CR inside a line") end

    do
      local typ, v = line:match("^([a-z])=(.*)$")
      if not typ then
        if line:match("^%s+%a%s*=") or line:match("^%a%s+=") then
          return fail("no blanks allowed around '=' in '<type>=<value>'")
        end
        return fail("expected '<type>=<value>', got '%s'", line:sub(1, 40))
      end
      if not seen.v and typ ~= "v" then return fail("a session description starts with 'v='") end

      if typ == "m" then
        local ok, err = check_required(SESSION_RANK.a + 1, "'m='")
        if not ok then return nil, err end
        local m
        m, err = parse_media(v, lenient)
        if not m then return fail("%s", err) end
        stream, last = m, 0
        session.streams[#session.streams + 1] = m
        media_lines[#session.streams] = n
      elseif stream then
        local rank = MEDIA_RANK[typ]
        if not rank then
          if SESSION_RANK[typ] then return fail("'%s=' is not allowed in a media description", typ) end
          stream.unknown[#stream.unknown + 1] = { type = typ, value = v }
          goto continue
        end
        if not lenient then
          if rank < last then return fail("'%s=' out of order in media description", typ) end
          if rank == last and not REPEATABLE[typ] and typ ~= "c" then
            return fail("more than one '%s=' in a media description", typ)
          end
        end
        last = math.max(last, rank)
        local val, err
        if typ == "i" then
          if stream.info and lenient then return fail("more than one 'i=' in a media description") end
          stream.info = v
        elseif typ == "c" then
          val, err = parse_connection(v, lenient)
          if not val then return fail("%s", err) end
          if not stream.connection_info then
            stream.connection_info = val
          else
            -- RFC 8866 §5.7: several c= lines give the addresses of layered multicast
            stream.extra_connections = stream.extra_connections or {}
            stream.extra_connections[#stream.extra_connections + 1] = val
          end
        elseif typ == "b" then
          val, err = parse_bandwidth(v)
          if not val then return fail("%s", err) end
          stream.bandwidths[#stream.bandwidths + 1] = val
        elseif typ == "k" then
          if stream.key and lenient then return fail("more than one 'k=' in a media description") end
          stream.key = v
        else -- a
          val, err = parse_attribute(v)
          if not val then return fail("%s", err) end
          stream.attributes[#stream.attributes + 1] = val
        end
      else
        local rank = SESSION_RANK[typ]
        if not rank then
          session.unknown[#session.unknown + 1] = { type = typ, value = v }
          goto continue
        end
        if not REPEATABLE[typ] and seen[typ] then
          return fail("more than one '%s='", typ)
        end
        if not lenient then
          if rank < last then return fail("'%s=' out of order", typ) end
          local ok, err = check_required(rank, "'" .. typ .. "='")
          if not ok then return nil, err end
        end
        if typ == "r" and prev ~= "t" and prev ~= "r" then
          return fail("'r=' must follow a 't=' line")
        end
        last, prev = math.max(last, rank), typ
        seen[typ] = true
        local val, err
        if typ == "v" then
          if v ~= "0" then return fail("unsupported SDP version '%s'", v:sub(1, 20)) end
          session.version = 0
        elseif typ == "o" then
          val, err = parse_origin(v, lenient)
          if not val then return fail("%s", err) end
          session.origin = val
        elseif typ == "s" then
          session.name = v
        elseif typ == "i" then
          session.info = v
        elseif typ == "u" then
          session.uri = v
        elseif typ == "e" then
          session.emails[#session.emails + 1] = v
        elseif typ == "p" then
          session.phones[#session.phones + 1] = v
        elseif typ == "c" then
          val, err = parse_connection(v, lenient)
          if not val then return fail("%s", err) end
          session.connection_info = val
        elseif typ == "b" then
          val, err = parse_bandwidth(v)
          if not val then return fail("%s", err) end
          session.bandwidths[#session.bandwidths + 1] = val
        elseif typ == "t" then
          val, err = parse_time(v, lenient)
          if not val then return fail("%s", err) end
          session.times[#session.times + 1] = val
        elseif typ == "r" then
          val, err = parse_repeat(v, lenient)
          if not val then return fail("%s", err) end
          local t = session.times[#session.times]
          t.repeats[#t.repeats + 1] = val
        elseif typ == "z" then
          val, err = parse_zones(v, lenient)
          if not val then return fail("%s", err) end
          session.zones = val
        elseif typ == "k" then
          session.key = v
        else -- a
          val, err = parse_attribute(v)
          if not val then return fail("%s", err) end
          session.attributes[#session.attributes + 1] = val
        end
      end
    end
    ::continue::
  end

  if n == 0 or session.version == nil then return nil, "line 1: empty session description" end
  n = n + 1
  for _, r in ipairs { "o", "s", "t" } do
    if not seen[r] and not (lenient and r == "t") then
      return fail("missing '%s=' (%s) at end of input", r, NAMES[r])
    end
  end
  for i, m in ipairs(session.streams) do
    -- RFC 8866 §5.7: a c= in every media description or one at session level
    if not lenient and not m.connection_info and not session.connection_info then
      n = media_lines[i]
      return fail("media description %d has no 'c=' and the session has none", i)
    end
    derive(m, session)
  end
  return session
end

-- -------------------------------------------------------------------------------------------
-- build

local function bad(msg) error("sdp.build: " .. msg, 0) end

local function text_value(v, what)
  if type(v) == "number" then v = tostring(math.tointeger(v) or bad(what .. " must be an integer")) end
  if type(v) ~= "string" then bad(what .. " must be a string, got " .. type(v)) end
  if v:find("[%z\r\n]") then bad(what .. " contains NUL, CR or LF") end
  return v
end

local function int_value(v, what)
  local n = math.tointeger(v)
  if not n then bad(what .. " must be an integer, got " .. tostring(v)) end
  return n
end

local function format_connection(c, what)
  if type(c) ~= "table" then bad(what .. " must be a table") end
  local s = text_value(c.nettype or "IN", what .. ".nettype") .. " "
    .. text_value(c.addrtype or "IP4", what .. ".addrtype") .. " "
    .. text_value(c.address, what .. ".address")
  if c.ttl then s = s .. "/" .. int_value(c.ttl, what .. ".ttl") end
  if c.count then
    if c.addrtype ~= "IP6" and not c.ttl then bad(what .. ": an IP4 address count needs a ttl") end
    s = s .. "/" .. int_value(c.count, what .. ".count")
  end
  return s
end

local function emit_bandwidths(out, part, what)
  for i, b in ipairs(part.bandwidths or {}) do
    out[#out + 1] = "b=" .. (text_value(b.type, what .. ".bandwidths[" .. i .. "].type") .. ":"
      .. int_value(b.value, what .. ".bandwidths[" .. i .. "].value"))
  end
end

local function emit_attributes(out, part, what)
  if part.key then out[#out + 1] = "k=" .. text_value(part.key, what .. ".key") end
  for i, a in ipairs(part.attributes or {}) do
    local name = text_value(a.name, what .. ".attributes[" .. i .. "].name")
    if a.value ~= nil then name = name .. ":" .. text_value(a.value, what .. ".attributes[" .. i .. "].value") end
    out[#out + 1] = "a=" .. name
  end
  for i, u in ipairs(part.unknown or {}) do
    local t = text_value(u.type, what .. ".unknown[" .. i .. "].type")
    if not t:match("^[a-z]$") then bad(what .. ".unknown[" .. i .. "].type must be one letter") end
    out[#out + 1] = t .. "=" .. text_value(u.value, what .. ".unknown[" .. i .. "].value")
  end
end

local function build(s)
  if type(s) ~= "table" then bad("expected a session table, got " .. type(s)) end
  local out = {}
  local function line(t, v) out[#out + 1] = t .. "=" .. v end
  line("v", tostring(int_value(s.version or 0, "version")))
  local o = s.origin
  if type(o) ~= "table" then bad("origin (o=) missing") end
  line("o", table.concat({
    text_value(o.username or "-", "origin.username"),
    text_value(o.sess_id, "origin.sess_id"),
    text_value(o.sess_version, "origin.sess_version"),
    text_value(o.nettype or "IN", "origin.nettype"),
    text_value(o.addrtype or "IP4", "origin.addrtype"),
    text_value(o.address, "origin.address") }, " "))
  line("s", text_value(s.name or "-", "name"))
  if s.info then line("i", text_value(s.info, "info")) end
  if s.uri then line("u", text_value(s.uri, "uri")) end
  for i, e in ipairs(s.emails or {}) do line("e", text_value(e, "emails[" .. i .. "]")) end
  for i, p in ipairs(s.phones or {}) do line("p", text_value(p, "phones[" .. i .. "]")) end
  if s.connection_info then line("c", format_connection(s.connection_info, "connection_info")) end
  emit_bandwidths(out, s, "session")
  local times = s.times
  if not times or #times == 0 then times = { { start = 0, stop = 0 } } end
  for i, t in ipairs(times) do
    line("t", int_value(t.start, "times[" .. i .. "].start") .. " " .. int_value(t.stop, "times[" .. i .. "].stop"))
    for j, r in ipairs(t.repeats or {}) do
      local w = "times[" .. i .. "].repeats[" .. j .. "]"
      local f = { text_value(r.interval, w .. ".interval"), text_value(r.duration, w .. ".duration") }
      for k, off in ipairs(r.offsets or {}) do f[#f + 1] = text_value(off, w .. ".offsets[" .. k .. "]") end
      line("r", table.concat(f, " "))
    end
  end
  if s.zones and #s.zones > 0 then
    local f = {}
    for i, z in ipairs(s.zones) do
      f[#f + 1] = int_value(z.time, "zones[" .. i .. "].time")
      f[#f + 1] = text_value(z.offset, "zones[" .. i .. "].offset")
    end
    line("z", table.concat(f, " "))
  end
  emit_attributes(out, s, "session")
  for i, m in ipairs(s.streams or {}) do
    local w = "streams[" .. i .. "]"
    local port = int_value(m.port, w .. ".port")
    if m.port_count then port = port .. "/" .. int_value(m.port_count, w .. ".port_count") end
    local fmts = m.fmts or {}
    if #fmts == 0 then bad(w .. " needs at least one format (fmts)") end
    local f = { text_value(m.type, w .. ".type"), port, text_value(m.proto, w .. ".proto") }
    for j, fmt in ipairs(fmts) do f[#f + 1] = text_value(fmt, w .. ".fmts[" .. j .. "]") end
    line("m", table.concat(f, " "))
    if m.info then line("i", text_value(m.info, w .. ".info")) end
    if m.connection_info then line("c", format_connection(m.connection_info, w .. ".connection_info")) end
    for j, c in ipairs(m.extra_connections or {}) do
      line("c", format_connection(c, w .. ".extra_connections[" .. j .. "]"))
    end
    emit_bandwidths(out, m, w)
    emit_attributes(out, m, w)
  end
  out[#out + 1] = ""
  return table.concat(out, "\r\n")
end

--- Serialize a session (a parsed one or a plain table) with CRLF, lines in RFC 8866 order.
function M.build(session)
  local ok, res = pcall(build, session)
  if not ok then error(res, 2) end
  return res
end

Session.__tostring = M.build
--- The session as SDP text (sip.sdp.build; tostring gives the same).
-- @function Session:build
Session.build = M.build

-- -------------------------------------------------------------------------------------------
-- session methods

local function check_index(i, what)
  if i == nil then return nil end
  if math.type(i) ~= "integer" then
    error(what .. ": stream index must be an integer, got " .. tostring(i), 3)
  end
  return i
end

--- The i-th media description (stream), or nil.
function Session:media(i)
  return self.streams[check_index(i or 1, "session:media")]
end

--- The connection in effect for stream i (its own c= over the session's); session c= for nil.
function Session:connection(i)
  if check_index(i, "session:connection") == nil then return self.connection_info end
  local m = self.streams[i]
  if not m then return nil end
  return m.connection_info or self.connection_info
end

--- Increment o= sess-version (RFC 3264 §8: every changed offer carries a higher version).
function Session:bump()
  self.origin.sess_version = increment(self.origin.sess_version)
  return self
end

--- Set the direction of stream i, or of every stream when i is nil (RFC 3264 §6.1).
function Session:set_direction(direction, i)
  if not DIRECTIONS[direction] then
    error("session:set_direction: direction must be sendrecv, sendonly, recvonly or inactive, got "
      .. tostring(direction), 2)
  end
  local function set(attributes)
    local at
    for j = #attributes, 1, -1 do
      local a = attributes[j]
      if a.value == nil and DIRECTIONS[a.name] then table.remove(attributes, j); at = j end
    end
    table.insert(attributes, at or #attributes + 1, { name = direction })
  end
  if check_index(i, "session:set_direction") then
    if not self.streams[i] then error("session:set_direction: no stream " .. i, 2) end
    set(self.streams[i].attributes)
  else
    -- a session-level direction would be overridden anyway; drop it so one place says it
    for j = #self.attributes, 1, -1 do
      local a = self.attributes[j]
      if a.value == nil and DIRECTIONS[a.name] then table.remove(self.attributes, j) end
    end
    for _, m in ipairs(self.streams) do set(m.attributes) end
  end
  for _, m in ipairs(self.streams) do derive(m, self) end
  return self
end

--- Put the streams on hold (RFC 3264 §8.4: a=sendonly) and bump the version.
function Session:hold(i)
  return self:set_direction("sendonly", i):bump()
end

--- Take the streams off hold (a=sendrecv) and bump the version.
function Session:resume(i)
  return self:set_direction("sendrecv", i):bump()
end

local function is_unspecified(c)
  return c ~= nil and ((c.addrtype == "IP4" and c.address == "0.0.0.0")
    or (c.addrtype == "IP6" and c.address == "::"))
end

--- True when stream i (default 1) does not want to receive: sendonly, inactive or the
--- legacy c=0.0.0.0 hold (RFC 3264 §8.4).
function Session:is_on_hold(i)
  local m = self:media(i or 1)
  if not m then return false end
  derive(m, self)
  return m.direction == "sendonly" or m.direction == "inactive" or is_unspecified(self:connection(i or 1))
end

-- -------------------------------------------------------------------------------------------
-- offer/answer (RFC 3264): sip.sdp_offer, loaded on first use (it builds on this module)

local offer_answer
local function oa()
  offer_answer = offer_answer or require "sip.sdp_offer"
  return offer_answer
end

--- An offer with one audio stream (sip.sdp_offer.new).
function M.new(opts) return oa().new(opts) end
--- The answer to an offer, or nil, why, 488|400 (sip.sdp_offer.answer).
function M.answer(offer, caps) return oa().answer(offer, caps) end
--- The codec each stream settled on (sip.sdp_offer.negotiated).
function M.negotiated(offer, answer) return oa().negotiated(offer, answer) end

-- for sip.sdp_offer, which builds on the model; not an API
M._internal = { Session = Session, DIRECTIONS = DIRECTIONS, derive = derive, copy = copy,
  increment = increment, to_int = to_int, is_unspecified = is_unspecified }

-- the RFC 3551 static payload types, pt -> { name, clock rate, channels }, for the RTP layer
M.STATIC = STATIC

return M
