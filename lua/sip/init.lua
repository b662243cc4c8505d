--- lua-sip: a SIP (RFC 3261) stack for Lua 5.4.
-- require "sip" returns this table. The C core (sip.core) parses, builds and matches; this file is
-- the front: message builders and lazily loaded layers (sdp, ...).
-- @module sip
local core = require "sip.core"

--- The functions of the C core, under their names in this table.
-- @section core

--- Parse one message. opts: stream (a message from a byte stream: its Content-Length is
-- required), max_size, max_headers, max_line. Returns the message (fields method, uri, status,
-- reason, body, call_id, cseq, cseq_method, branch, from, to, max_forwards, expires,
-- content_type, stateless_tag; methods header, headers, via, vias, addrs, request_uri, check,
-- add_header, set_header, remove_header, push_via, pop_via, decrement_max_forwards, set_body,
-- set_uri, set_status), or nil, "what is wrong at byte N", status to answer (400, 505, 513 ...).
-- @function parse
-- @string bytes
-- @tab[opt] opts

--- Frame a stream (RFC 3261 §18.3): the length of the first whole message and the bytes to skip
-- before it (CRLF keep-alives), 0 when more bytes are needed, or nil, err.
-- @function frame
-- @string bytes
-- @int[opt] max_size

--- The ACK of a non-2xx final response to invite (§17.1.1.3).
-- @function ack

--- The CANCEL of a pending request (§9.1).
-- @function cancel

--- The reason phrase of a status code ("Not Found" for 404).
-- @function reason_phrase

--- Parse a URI: sip, sips, tel or absolute; compared with == by §19.1.4. Returns the URI
-- (fields scheme, user, password, host, port, transport; methods param, header, tostring) or
-- nil, "what at byte N".
-- @function uri
-- @string text

--- Undo %-escapes (§19.1.2).
-- @function unescape

--- A fresh branch for a Via (§8.1.1.7: starts with z9hG4bK), from OpenSSL's CSPRNG.
-- @function branch

--- A fresh From or To tag (§19.3).
-- @function tag

--- A fresh Call-ID (§8.1.1.4).
-- @function callid

--- Coroutines over the event loop (sip.loop). A call that waits yields its coroutine; the
-- loop resumes it.
-- @section loop

--- Start fn(...) in a coroutine now; it runs until it first waits. Returns the coroutine.
-- @function spawn

--- Wait s seconds (in a coroutine).
-- @function sleep

--- Run the loop until nothing is left to do or stop() is called, starting fn(...) first. An
-- error in any coroutine or callback stops the loop and is raised here with its traceback, after
-- the coroutines and the endpoints, UAs and proxies of this run are closed.
-- @function run

--- Stop the loop: run() returns.
-- @function stop

--- The loop's clock, in seconds.
-- @function now

--- A waiter: w:block([timeout]) yields until w:wake(...) (returning its values) or the timeout
-- (nil, "timeout").
-- @function waiter

--- Handle errors of coroutines and callbacks with fn(err) instead of stopping run(); nil
-- restores that.
-- @function on_error

--- Call fn on SIGINT and SIGTERM (default: stop the loop cleanly). Returns the two watchers.
-- @function on_signals

--- Messages, and the layers: sip.endpoint, sip.ua, sip.proxy, sip.registrar, sip.location,
-- sip.sdp, sip.auth, sip.dialog (each loaded on first use).
-- @section messages

local sip = {
  _VERSION = "lua-sip " .. core.version,
  core = core,
  -- messages (sip.core, lsip_msg.c)
  parse = core.parse,         -- sip.parse(bytes[, {stream=, max_size=, max_headers=, max_line=}])
  frame = core.frame,         -- sip.frame(bytes[, max_size]) -> length, skip | 0 | nil, err
  ack = core.ack,             -- sip.ack(invite, non2xx_response)
  cancel = core.cancel,       -- sip.cancel(request)
  reason_phrase = core.reason_phrase,
  -- URIs (lsip_uri.c)
  uri = core.uri,             -- sip.uri(text) -> uri | nil, err
  unescape = core.unescape,
  -- identifiers from OpenSSL's CSPRNG (§8.1.1.4, §8.1.1.7, §19.3)
  branch = core.branch,
  tag = core.tag,
  callid = core.callid,
}

local format, concat, type = string.format, table.concat, type

local argerror = require("sip.args").error

local function check_value(v, what)
  if type(v) ~= "string" and type(v) ~= "number" then
    error(format("%s must be a string", what), 4)
  end
  v = tostring(v)
  if v:find("[\r\n%z]") then error(format("%s must not contain CR, LF or NUL", what), 4) end
  return v
end

-- Headers come as { {name, value}, ... }, { Name = value } or both in one table (a value may be
-- a list of values). Their one order, whichever API takes them: the pairs first, as listed,
-- then the named ones sorted by name.
local function sorted_names(h)
  local names = {}
  for k in pairs(h) do
    if type(k) == "string" then names[#names + 1] = k end
  end
  table.sort(names)
  return names
end

--- Append the {name, value} pairs of a headers table h (in the order above, which is
-- sip.core.format_headers' for lines) to out; anything
-- but a table adds nothing. Returns out.
function sip.header_pairs(out, h)
  if type(h) == "table" then
    for _, pair in ipairs(h) do out[#out + 1] = pair end
    for _, k in ipairs(sorted_names(h)) do out[#out + 1] = { k, h[k] } end
  end
  return out
end

-- Header lines from a headers table (or raw lines), checked, appended to out. A table's lines
-- come from the C core (sip.core.format_headers: the one order, the one check).
local function header_lines(h, out)
  out = out or {}
  if h == nil then return out end
  if type(h) == "string" then out[#out + 1] = h; return out end
  if type(h) ~= "table" then error("headers must be a table or a string", 3) end
  out[#out + 1] = core.format_headers(h)
  return out
end

--- One Contact, Route, From ... value, read by the C parser (what msg:addrs gives for each
-- value): {uri=, display=, tag=, params=, star=, value=}, or nil, err when it does not parse or
-- holds more than one value. A quoted "<" in a display name is just text here.
function sip.addr(value)
  if type(value) ~= "string" then argerror(1, "addr", "string expected") end
  if value:find("[\r\n%z]") then return nil, "bad address: CR, LF or NUL" end
  return core.addr(value)
end

--- The items of a list header (Require, Supported, Accept ...; RFC 3261 §7.3.1) in order: the
-- C parser splits the values on commas and trims them; empty ones are left out.
function sip.values(msg, name)
  local out = {}
  for _, v in ipairs(msg:headers(name)) do
    if v ~= "" then out[#out + 1] = v end
  end
  return out
end

--- The tag parameter of a From or To (§19.3), or nil: v is a header value, or a message and name
-- "To" or "From". Read by the C parser, never by a pattern (a "tag=" inside <> is a URI's).
function sip.tag_of(v, name)
  if type(v) == "string" then
    local a = sip.addr(v)
    return a and a.tag
  end
  -- From and To: the parser's own field; another name: the raw value answers for nearly every
  -- message, and a "tag" that could sit in a display name or a URI is checked with the parser
  local lname = name:lower()
  if lname == "to" then return v.to_tag elseif lname == "from" then return v.from_tag end
  local raw = v:header(name)
  if not raw or not raw:find("tag", 1, true) then return nil end
  local a = v[lname]
  return a and a.tag
end

-- A name-addr from a string (used as is) or {uri=, display=, tag=, params={...}}.
local function name_addr(v, what)
  if type(v) == "string" then return check_value(v, what) end
  if type(v) ~= "table" or not v.uri then error(what .. " must be a string or a table with uri", 3) end
  local s = "<" .. check_value(tostring(v.uri), what .. ".uri") .. ">"
  if v.display then
    s = '"' .. check_value(v.display, what .. ".display"):gsub('[\\"]', "\\%0") .. '" ' .. s
  end
  if v.tag then s = s .. ";tag=" .. check_value(v.tag, what .. ".tag") end
  for k, p in pairs(v.params or {}) do
    s = s .. ";" .. check_value(k, what .. ".params") .. (p == true and "" or "=" .. check_value(p, what .. ".params"))
  end
  return s
end

local REQUEST_FIELDS = require("sip.options").schema("request", {
  method = "string", uri = "string|userdata", from = "string|table", to = "string|table",
  via = "string|table", route = "table", max_forwards = "integer", call_id = "string",
  cseq = "integer", contact = "string|table", expires = "integer", headers = "table|string",
  body = "string", content_type = "string",
})
--- Build a request (RFC 3261 §8.1.1). Required: method, uri, from, to. Defaults: a random
-- Call-ID and From tag, CSeq 1, Max-Forwards 70, a Via with a fresh branch when via is a table
-- ({transport=, host=, port=, rport=true}) or absent (then the message has no Via: the transport
-- layer adds it). Returns the message; raises on misuse.
function sip.request(t)
  if type(t) ~= "table" then argerror(1, "request", "table expected") end
  REQUEST_FIELDS:check(t)
  local method = t.method
  if type(method) ~= "string" or not method:find("^[%w%-%.!%%%*_%+`'~]+$") then
    argerror(1, "request", "method must be a token")
  end
  local uri = t.uri and tostring(t.uri)
  if not uri then argerror(1, "request", "uri missing") end
  local ok, err = sip.uri(uri)
  if not ok then argerror(1, "request", "bad uri: " .. err) end
  if not t.from or not t.to then argerror(1, "request", "from and to are required") end
  local from = t.from
  if type(from) == "table" and not from.tag then
    from = setmetatable({ tag = sip.tag() }, { __index = from })
  end
  local lines = { method .. " " .. uri .. " SIP/2.0\r\n" }
  local via = t.via
  if type(via) == "table" then
    local v = format("SIP/2.0/%s %s%s;branch=%s", check_value(via.transport or "UDP", "via.transport"):upper(),
      check_value(via.host or "0.0.0.0", "via.host"), via.port and (":" .. check_value(via.port, "via.port")) or "",
      check_value(via.branch or sip.branch(), "via.branch"))
    if via.rport then v = v .. ";rport" end
    lines[#lines + 1] = "Via: " .. v .. "\r\n"
  elseif type(via) == "string" then
    lines[#lines + 1] = "Via: " .. check_value(via, "via") .. "\r\n"
  end
  lines[#lines + 1] = "Max-Forwards: " .. math.tointeger(t.max_forwards or 70) .. "\r\n"
  for _, r in ipairs(t.route or {}) do lines[#lines + 1] = "Route: " .. name_addr(r, "route") .. "\r\n" end
  local fromv = name_addr(from, "from")
  if type(from) == "string" and not sip.tag_of(fromv) then fromv = fromv .. ";tag=" .. sip.tag() end
  lines[#lines + 1] = "From: " .. fromv .. "\r\n"
  lines[#lines + 1] = "To: " .. name_addr(t.to, "to") .. "\r\n"
  lines[#lines + 1] = "Call-ID: " .. check_value(t.call_id or sip.callid(), "call_id") .. "\r\n"
  local cseq = math.tointeger(t.cseq or 1)
  if not cseq or cseq < 0 or cseq >= 2 ^ 31 then argerror(1, "request", "cseq must be an integer below 2^31") end
  lines[#lines + 1] = "CSeq: " .. cseq .. " " .. method .. "\r\n"
  if t.contact then lines[#lines + 1] = "Contact: " .. name_addr(t.contact, "contact") .. "\r\n" end
  if t.expires then lines[#lines + 1] = "Expires: " .. math.tointeger(t.expires) .. "\r\n" end
  -- checked in C, and without a Content-Length: the body gives it (§20.14)
  local extra, herr = core.header_lines(concat(header_lines(t.headers)))
  if not extra then argerror(1, "request", "headers: " .. herr) end
  lines[#lines + 1] = extra
  local body = t.body or ""
  if #body > 0 then
    lines[#lines + 1] = "Content-Type: " .. check_value(t.content_type or "application/sdp", "content_type") .. "\r\n"
  end
  lines[#lines + 1] = "Content-Length: " .. #body .. "\r\n\r\n"
  lines[#lines + 1] = body
  local msg, perr = sip.parse(concat(lines))
  if not msg then error("request: the result does not parse: " .. perr, 2) end
  return msg
end

--- Build a response to req (RFC 3261 §8.2.6): copies Via, From, To, Call-ID and CSeq, adds a To
-- tag (opts.to_tag, or a random one) to every response but 100. opts: to_tag, headers (table or
-- raw lines), body, content_type, received, rport.
function sip.response(req, status, reason, opts)
  if opts and opts.headers and type(opts.headers) ~= "string" then
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    o.headers = concat(header_lines(opts.headers))
    opts = o
  end
  if opts and opts.body and #opts.body > 0 and not opts.content_type then
    error("response: a body needs content_type", 2)
  end
  return core.response(req, status, reason, opts)
end

--- A headers table (or raw lines) as the text of its header lines, in the order above.
function sip.format_headers(h) return concat(header_lines(h)) end

-- coroutines over the event loop (lua/sip/loop.lua)
local loop = require "sip.loop"
sip.spawn, sip.sleep, sip.run, sip.stop, sip.now = loop.spawn, loop.sleep, loop.run, loop.stop, loop.now
sip.waiter, sip.on_error, sip.on_signals = loop.waiter, loop.on_error, loop.on_signals

--- sip.endpoint{listen = {...}, handler = fn(req), ...}: transports and transactions (sip.endpoint)
function sip.endpoint(opts) return require("sip.endpoint").new(opts) end

--- sip.resolve(uri[, {source=}]) -> the destinations of uri in the order to try (RFC 3263:
-- NAPTR, SRV, A/AAAA; {proto=, host=, port=, target=, domain=}) | nil, err (sip.route)
function sip.resolve(uri, opts) return require("sip.route").resolve(uri, opts) end
--- sip.resolver{servers = {"host:port", ...}, timeout =, ...}: the process's DNS (sip.resolver)
function sip.resolver(opts) return require("sip.resolver").configure(opts) end

-- Layers load on first use: sip.sdp, sip.auth, ...
local lazy = { sdp = "sip.sdp", auth = "sip.auth", proxy = "sip.proxy", registrar = "sip.registrar",
  location = "sip.location", dialog = "sip.dialog", ua = "sip.ua" }
return setmetatable(sip, {
  __index = function(t, k)
    local name = lazy[k]
    if name then
      local m = require(name)
      rawset(t, k, m)
      return m
    end
  end,
})
