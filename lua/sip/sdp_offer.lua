-- sip.sdp_offer: the offer/answer model (RFC 3264) over sip.sdp's sessions: an offer with one
-- audio stream (§5), the answer to an offer (§6) and the codecs the two settled on. sip.sdp's
-- new, answer and negotiated are these functions.

local sdp = require "sip.sdp"

local model = sdp._internal
local Session, DIRECTIONS, STATIC = model.Session, model.DIRECTIONS, sdp.STATIC
local derive, copy, increment, to_int = model.derive, model.copy, model.increment, model.to_int
local is_unspecified = model.is_unspecified

local M = {}

-- lower "name/rate" -> static pt, and lower name -> first static pt, for building offers
local STATIC_BY_KEY, STATIC_BY_NAME = {}, {}
for pt = 34, 0, -1 do
  local s = STATIC[pt]
  if s then
    STATIC_BY_KEY[s[1]:lower() .. "/" .. s[2]] = pt
    STATIC_BY_NAME[s[1]:lower()] = pt
  end
end

-- Dynamic codecs sdp.new() knows without a rate (RFC 4733 for telephone-event).
local DYNAMIC = {
  ["telephone-event"] = { name = "telephone-event", rate = 8000, fmtp = "0-16" },
  opus = { name = "opus", rate = 48000, channels = 2 },
  ilbc = { name = "iLBC", rate = 8000 },
  speex = { name = "speex", rate = 8000 },
  ["g726-32"] = { name = "G726-32", rate = 8000 },
  amr = { name = "AMR", rate = 8000 },
  ["amr-wb"] = { name = "AMR-WB", rate = 16000 },
  g7221 = { name = "G7221", rate = 16000 },
  h264 = { name = "H264", rate = 90000 },
  vp8 = { name = "VP8", rate = 90000 },
}

-- Payload formats that ride along with a codec but are not one (RFC 4733, RFC 3389).
local AUXILIARY = { ["telephone-event"] = true, cn = true }

-- ------------------------------------------------------------------------------------------
-- building offers

-- "PCMU", "opus/48000/2" or {name=, rate=, channels=, pt=, fmtp=} -> spec table
local function codec_spec(c, who, level)
  if type(c) == "string" then
    local name, rate, ch = c:match("^([^/%s]+)/?(%d*)/?(%d*)$")
    if not name then error(who .. ": bad codec '" .. c .. "'", level) end
    return { name = name, rate = to_int(rate), channels = to_int(ch) }
  elseif type(c) == "table" and type(c.name) == "string" then
    return c
  end
  error(who .. ": a codec is a name like 'PCMU' or 'opus/48000/2' or a table with a name", level)
end

local function address_type(address)
  return address:find(":", 1, true) and "IP6" or "IP4"
end

local function new_id()
  return string.format("%d%06d", os.time(), math.random(0, 999999))
end

-- Resolve codec specs to {pt, name, rate, channels, fmtp}, assigning dynamic payload types.
local function resolve_codecs(list, who)
  local used, out, pending = {}, {}, {}
  for _, c in ipairs(list) do
    local spec = codec_spec(c, who, 4)
    local key = spec.name:lower()
    local codec = { pt = spec.pt, name = spec.name, rate = spec.rate, channels = spec.channels,
                    fmtp = spec.fmtp }
    local static = codec.pt or (codec.rate and STATIC_BY_KEY[key .. "/" .. codec.rate])
      or (not codec.rate and STATIC_BY_NAME[key])
    if static and STATIC[static] and STATIC[static][1]:lower() == key then
      local s = STATIC[static]
      codec.pt, codec.name = static, s[1]
      codec.rate, codec.channels = codec.rate or s[2], codec.channels or s[3]
    else
      local d = DYNAMIC[key]
      if not codec.rate and not d then
        error(who .. ": unknown codec '" .. spec.name .. "', give its rate as '"
          .. spec.name .. "/8000'", 3)
      end
      if d then
        codec.name, codec.rate = d.name, codec.rate or d.rate
        codec.channels, codec.fmtp = codec.channels or d.channels, codec.fmtp or d.fmtp
      end
      if not codec.pt then pending[#pending + 1] = codec end
    end
    if codec.pt then used[codec.pt] = true end
    out[#out + 1] = codec
  end
  -- telephone-event takes 101 by custom; the rest fill 96..127
  for _, codec in ipairs(pending) do
    if codec.name == "telephone-event" and not used[101] then codec.pt = 101; used[101] = true end
  end
  local next_pt = 96
  for _, codec in ipairs(pending) do
    if not codec.pt then
      while used[next_pt] do next_pt = next_pt + 1 end
      if next_pt > 127 then error(who .. ": too many dynamic codecs", 3) end
      codec.pt, used[next_pt] = next_pt, true
    end
  end
  return out
end

-- a stream carrying `codecs` (resolved), with rtpmap/fmtp lines for each
local function make_stream(kind, port, proto, codecs, direction, ptime)
  local m = { type = kind, port = port, proto = proto, fmts = {}, bandwidths = {},
              attributes = {}, unknown = {} }
  for _, c in ipairs(codecs) do
    m.fmts[#m.fmts + 1] = tostring(c.pt)
    local enc = c.name
    if c.rate then enc = enc .. "/" .. c.rate end -- an offer may name a codec without its rate
    if c.rate and c.channels and c.channels ~= 1 then enc = enc .. "/" .. c.channels end
    m.attributes[#m.attributes + 1] = { name = "rtpmap", value = c.pt .. " " .. enc }
    if c.fmtp then m.attributes[#m.attributes + 1] = { name = "fmtp", value = c.pt .. " " .. c.fmtp } end
  end
  if ptime then m.attributes[#m.attributes + 1] = { name = "ptime", value = tostring(ptime) } end
  m.attributes[#m.attributes + 1] = { name = direction }
  return m
end

local function new_session(address, username, session_name, origin)
  local addrtype = address_type(address)
  local id = new_id()
  return setmetatable({
    version = 0,
    origin = origin or { username = username or "-", sess_id = id, sess_version = id,
                         nettype = "IN", addrtype = addrtype, address = address },
    name = session_name or "-",
    emails = {}, phones = {}, bandwidths = {},
    connection_info = { nettype = "IN", addrtype = addrtype, address = address },
    times = { { start = 0, stop = 0, repeats = {} } },
    attributes = {}, unknown = {}, streams = {},
  }, Session)
end

local function check_common(opts, who)
  if type(opts) ~= "table" then error(who .. ": expected an options table, got " .. type(opts), 3) end
  if type(opts.address) ~= "string" or opts.address == "" then
    error(who .. ": address (our media address) is required", 3)
  end
  if opts.direction ~= nil and not DIRECTIONS[opts.direction] then
    error(who .. ": direction must be sendrecv, sendonly, recvonly or inactive", 3)
  end
  if opts.telephone_event ~= nil and type(opts.telephone_event) ~= "boolean" then
    error(who .. ": telephone_event must be a boolean", 3)
  end
end

-- codec list with telephone_event = true/false applied
local function with_telephone_event(list, flag)
  local out, has = {}, false
  for _, c in ipairs(list) do
    local name = type(c) == "table" and c.name or tostring(c):match("^[^/]*")
    local te = type(name) == "string" and name:lower() == "telephone-event"
    if te then has = true end
    if not (te and flag == false) then out[#out + 1] = c end
  end
  if flag and not has then out[#out + 1] = "telephone-event" end
  return out
end

--- An offer with one audio stream.  opts: address, port, codecs (default PCMU PCMA
--- telephone-event), telephone_event, direction, ptime, username, session_name, proto.
function M.new(opts)
  check_common(opts, "sdp.new")
  local port = opts.port
  if math.type(port) ~= "integer" or port < 0 or port > 65535 then
    error("sdp.new: port must be an integer 0..65535, got " .. tostring(port), 2)
  end
  local list = opts.codecs or { "PCMU", "PCMA", "telephone-event" }
  if type(list) ~= "table" or #list == 0 then error("sdp.new: codecs must be a non-empty list", 2) end
  local codecs = resolve_codecs(with_telephone_event(list, opts.telephone_event), "sdp.new")
  local s = new_session(opts.address, opts.username, opts.session_name)
  s.streams[1] = derive(make_stream(opts.media or "audio", port, opts.proto or "RTP/AVP", codecs,
    opts.direction or "sendrecv", opts.ptime), s)
  return s
end

-- ------------------------------------------------------------------------------------------
-- offer/answer (RFC 3264 §6)

local function matches(spec, codec)
  if not codec.name or spec.name:lower() ~= codec.name:lower() then return false end
  if spec.rate and spec.rate ~= codec.rate then return false end
  if spec.channels and spec.channels ~= (codec.channels or 1) then return false end
  return true
end

-- §6.1: the answer's direction from the offered one and what we want
local function answer_direction(offered, mine)
  local they_send = offered == "sendrecv" or offered == "sendonly"
  local they_recv = offered == "sendrecv" or offered == "recvonly"
  local we_send = they_recv and (mine == "sendrecv" or mine == "sendonly")
  local we_recv = they_send and (mine == "sendrecv" or mine == "recvonly")
  return we_send and we_recv and "sendrecv" or we_send and "sendonly"
    or we_recv and "recvonly" or "inactive"
end

-- offered codecs (in the offerer's order, with the offerer's payload types) that we support
local function common_codecs(offered, specs)
  local chosen, events = {}, {}
  for _, c in ipairs(offered) do
    for _, spec in ipairs(specs) do
      if matches(spec, c) then
        if c.name:lower() == "telephone-event" then events[#events + 1] = c
        else chosen[#chosen + 1] = c end
        break
      end
    end
  end
  local real = false
  for _, c in ipairs(chosen) do if not AUXILIARY[c.name:lower()] then real = true end end
  if not real then return nil end
  -- RFC 4733 §7.1.1: telephone-event at the clock rate of the audio codec it goes with
  local rates, kept = {}, {}
  for _, c in ipairs(chosen) do rates[c.rate or 0] = true end
  for _, e in ipairs(events) do if rates[e.rate or 0] then kept[#kept + 1] = e end end
  if #kept == 0 and events[1] then kept[1] = events[1] end
  local inorder = {}
  for _, c in ipairs(offered) do
    for _, k in ipairs(chosen) do if k == c then inorder[#inorder + 1] = c end end
    for _, k in ipairs(kept) do if k == c then inorder[#inorder + 1] = c end end
  end
  return inorder
end

local function caps_for(caps, kind, nth)
  local list = caps.codecs
  if list == nil then list = { "PCMU", "PCMA" } end
  if type(list) ~= "table" then error("sdp.answer: codecs must be a table", 3) end
  if list[1] == nil and next(list) ~= nil then list = list[kind] -- codecs = {audio={..}, video={..}}
  elseif kind ~= "audio" then list = nil end
  local port
  if caps.ports then
    port = caps.ports[kind]
    if type(port) == "table" then port = port[nth] or (port[#port] and port[#port] + 2 * (nth - #port)) end
  elseif kind == "audio" then
    port = caps.port and caps.port + 2 * (nth - 1) -- further audio streams: next RTP/RTCP pair
  end
  if list and kind == "audio" then list = with_telephone_event(list, caps.telephone_event) end
  return list, port
end

local function rejected_stream(offered)
  -- §6: port zero; the formats are ignored but at least one must be listed
  return { type = offered.type, port = 0, proto = offered.proto, fmts = copy(offered.fmts),
           bandwidths = {}, attributes = {}, unknown = {} }
end

--- Answer an offer (a session or SDP text).  caps: address, port or ports={audio=, video=}
--- (a number or a list per stream), codecs (names for audio, or {audio={..}, video={..}}),
--- telephone_event, direction, ptime, protos (default {"RTP/AVP"}), username, session_name,
--- previous (our last SDP in this dialog: its o= is reused with a higher version).
--- Returns the answer, or nil, why, 488 when nothing can be accepted (nil, why, 400 for an
--- offer that does not parse).
function M.answer(offer, caps)
  check_common(caps, "sdp.answer")
  if caps.port ~= nil and (math.type(caps.port) ~= "integer" or caps.port < 0 or caps.port > 65535) then
    error("sdp.answer: port must be an integer 0..65535, got " .. tostring(caps.port), 2)
  end
  if caps.ports ~= nil and type(caps.ports) ~= "table" then error("sdp.answer: ports must be a table", 2) end
  if caps.port == nil and caps.ports == nil then
    error("sdp.answer: port or ports (our media ports) is required", 2)
  end
  if type(offer) == "string" then
    local err
    offer, err = sdp.parse(offer)
    if not offer then return nil, "bad offer: " .. err, 400 end
  elseif type(offer) ~= "table" or type(offer.streams) ~= "table" then
    error("sdp.answer: offer must be SDP text or a parsed session, got " .. type(offer), 2)
  end
  local protos = {}
  for _, p in ipairs(caps.protos or { "RTP/AVP" }) do protos[p] = true end

  local origin
  if caps.previous then
    if type(caps.previous) ~= "table" or type(caps.previous.origin) ~= "table" then
      error("sdp.answer: previous must be a session", 2)
    end
    origin = copy(caps.previous.origin)
    origin.sess_version = increment(origin.sess_version)
  end
  local answer = new_session(caps.address, caps.username, caps.session_name, origin)
  answer.times = copy(offer.times or {}) -- §6: the t= line in the answer equals the offer's
  if #answer.times == 0 then answer.times = { { start = 0, stop = 0, repeats = {} } } end

  local offered_live, accepted, why = 0, 0, nil
  local nth = {}
  for i, m in ipairs(offer.streams) do
    if not m.codecs or not m.direction then derive(m, offer) end
    nth[m.type] = (nth[m.type] or 0) + 1
    local reason
    local specs, port = caps_for(caps, m.type, nth[m.type])
    if m.port == 0 then
      reason = "stream disabled by the offer"
    elseif not protos[m.proto] then
      reason = "unsupported transport " .. m.proto
    elseif not specs or not port then
      reason = "unsupported media type " .. m.type
    end
    local chosen
    if not reason then
      local resolved = {}
      for _, c in ipairs(specs) do resolved[#resolved + 1] = codec_spec(c, "sdp.answer", 3) end
      chosen = common_codecs(m.codecs, resolved)
      if not chosen then reason = "no common codec" end
    end
    if m.port ~= 0 then offered_live = offered_live + 1 end
    if reason then
      if m.port ~= 0 then why = why or reason end
      answer.streams[i] = derive(rejected_stream(m), answer)
    else
      accepted = accepted + 1
      local offered_dir = m.direction
      if is_unspecified(Session.connection(offer, i)) then
        -- §8.4: c=0.0.0.0 is the RFC 2543 hold: the offerer will not receive
        if offered_dir == "sendrecv" then offered_dir = "sendonly"
        elseif offered_dir == "recvonly" then offered_dir = "inactive" end
      end
      local dir = answer_direction(offered_dir, caps.direction or "sendrecv")
      answer.streams[i] = derive(make_stream(m.type, port, m.proto, chosen, dir, caps.ptime), answer)
    end
  end
  if offered_live > 0 and accepted == 0 then return nil, why, 488 end
  return answer
end

--- The codec each stream settled on: for stream i, the first codec of the answer that the
--- offer also has (telephone-event and CN are skipped), with .telephone_event set to the
--- answer's telephone-event at that rate if any; false for a rejected stream.
function M.negotiated(offer, answer)
  local err
  if type(offer) == "string" then offer, err = sdp.parse(offer); if not offer then return nil, err end end
  if type(answer) == "string" then answer, err = sdp.parse(answer); if not answer then return nil, err end end
  if type(offer) ~= "table" or type(answer) ~= "table" then
    error("sdp.negotiated: expected an offer and an answer", 2)
  end
  local result = {}
  for i, a in ipairs(answer.streams) do
    local o = offer.streams[i]
    local pick = false
    if o and a.port ~= 0 and o.port ~= 0 then
      if not a.codecs then derive(a, answer) end
      if not o.codecs then derive(o, offer) end
      for _, c in ipairs(a.codecs) do
        if c.name and not AUXILIARY[c.name:lower()] then
          for _, oc in ipairs(o.codecs) do
            if matches(c, oc) then pick = copy(c); break end
          end
        end
        if pick then break end
      end
      if pick then
        for _, c in ipairs(a.codecs) do
          if c.name and c.name:lower() == "telephone-event" and c.rate == pick.rate then
            pick.telephone_event = copy(c)
            break
          end
        end
      end
    end
    result[i] = pick
  end
  return result
end

return M
