--- sip.dialog: the dialog state of RFC 3261 §12 and the requests sent within it.
-- A dialog is a plain object without I/O: it is made from the request and response that create
-- it (§12.1), builds the requests sent inside it (§12.2.1.1, loose and strict routing), checks
-- the requests received inside it (§12.2.2) and learns from target refresh responses
-- (§12.2.1.2). The UA (sip.ua) sends and receives; this file only keeps the state straight.
-- @module sip.dialog
local sip = require "sip"
local route = require "sip.route"
local argerror = require("sip.args").error

local M = {}
local Dialog = {}
Dialog.__index = Dialog
Dialog.__name = "sip.dialog"
function Dialog:__tostring()
  return ("sip.dialog (%s, Call-ID %s)"):format(self.state or "?", tostring(self.call_id))
end

-- The methods whose Contact replaces the remote target (§12.2: INVITE; RFC 3311 §5: UPDATE;
-- RFC 6665 §4.1: SUBSCRIBE and NOTIFY).
local TARGET_REFRESH = { INVITE = true, UPDATE = true, SUBSCRIBE = true, NOTIFY = true, REFER = true }
M.TARGET_REFRESH = TARGET_REFRESH

--- The dialog ID as one string: Call-ID, local tag, remote tag (§12).
function M.key(call_id, local_tag, remote_tag)
  return call_id .. "\0" .. (local_tag or "") .. "\0" .. (remote_tag or "")
end

--- The key of the dialog a received request belongs to (To tag is ours, From tag theirs).
function M.key_of_request(req)
  local to, from = req.to, req.from
  return M.key(req.call_id or "", to and to.tag, from and from.tag)
end

--- The key of the dialog a response to our request belongs to (From tag ours, To tag theirs).
function M.key_of_response(rsp)
  local to, from = rsp.to, rsp.from
  return M.key(rsp.call_id or "", from and from.tag, to and to.tag)
end

--- Where a request goes when this URI is its next hop: sip.route.hop, {proto=, host=, port=} or
-- nil, err.
M.hop = route.hop

-- "<sip:p1;lr>" -> the URI inside a name-addr value (sip.addr, the C parser), if it parses
local function uri_of(value)
  local a = sip.addr(value)
  local u = a and a.uri
  return u and sip.uri(u) and u or nil
end

local function is_loose(value)
  return sip.uri(uri_of(value)):param("lr") ~= nil
end

-- §12.2.1.1: a strict router's URI goes into the Request-URI without what a Request-URI may not
-- carry (§19.1.1: the method parameter and URI headers).
local function request_uri_from_route(value)
  local uri = uri_of(value):gsub("%?.*$", "")
  uri = uri:gsub(";[Mm][Ee][Tt][Hh][Oo][Dd]=[^;]*", "")
  return uri
end

-- The Contact URI of a message, or nil (a target refresh without a usable Contact keeps the old
-- target).
local function contact_uri(msg)
  local list = msg:header("Contact") and msg:addrs("Contact")
  local c = list and list[1]
  if c and not c.star and c.uri and sip.uri(c.uri) then return c.uri end
  return nil
end

-- The Record-Route values in order (each value a name-addr string, parameters kept); values
-- whose URI does not parse cannot be routed to and are left out.
local function record_route(msg)
  local out = {}
  for _, v in ipairs(msg:headers("Record-Route")) do
    if uri_of(v) then out[#out + 1] = v end
  end
  return out
end

local function reversed(t)
  local out = {}
  for i = #t, 1, -1 do out[#out + 1] = t[i] end
  return out
end

local function is_secure(req)
  local u = req.uri and sip.uri(req.uri)
  local src = req.source
  return u ~= nil and u.scheme == "sips" and (src == nil or src.proto == "tls")
end

-- A first local CSeq for a dialog we did not start (§8.1.1.5: below 2^31, chosen at random).
local function initial_seq()
  return math.random(1, 0x7fff)
end

local function addr(a)
  return { uri = a.uri, display = a.display }
end

--- The UAC side of a dialog (§12.1.2) from the request we sent and a response carrying a To tag
-- (a 101-199 makes it early, a 2xx confirmed).
function M.uac(req, rsp)
  if type(req) ~= "userdata" or not req.is_request then argerror(1, "uac", "a request expected") end
  if type(rsp) ~= "userdata" or not rsp.is_response then argerror(2, "uac", "a response expected") end
  local from, to = req.from, rsp.to
  return setmetatable({
    role = "uac",
    call_id = req.call_id,
    local_tag = from.tag,
    remote_tag = to.tag,
    local_addr = addr(from),
    remote_addr = addr(req.to),
    local_seq = req.cseq,
    remote_seq = nil,
    route_set = reversed(record_route(rsp)),
    remote_target = contact_uri(rsp) or req.uri,
    secure = is_secure(req),
    state = rsp.status < 200 and "early" or "confirmed",
    local_contact = req:header("Contact"),
  }, Dialog)
end

--- The UAS side of a dialog (§12.1.1) from the request received and our To tag. contact: the
-- Contact we put in our responses.
function M.uas(req, local_tag, contact)
  if type(req) ~= "userdata" or not req.is_request then argerror(1, "uas", "a request expected") end
  if type(local_tag) ~= "string" then argerror(2, "uas", "tag expected") end
  return setmetatable({
    role = "uas",
    call_id = req.call_id,
    local_tag = local_tag,
    remote_tag = req.from.tag,
    local_addr = addr(req.to),
    remote_addr = addr(req.from),
    local_seq = nil,
    remote_seq = req.cseq,
    route_set = record_route(req),
    remote_target = contact_uri(req),
    secure = is_secure(req),
    state = "early",
    local_contact = contact,
  }, Dialog)
end

--- The dialog's key (Call-ID, local and remote tags, §12): what a UA finds it by.
function Dialog:key() return M.key(self.call_id, self.local_tag, self.remote_tag) end

--- §13.2.2.4: a 2xx confirms the dialog and its route set is recomputed from it (UAC side). A
-- provisional response with a Contact moves the remote target of an early dialog.
function Dialog:update_from_response(rsp)
  local status = rsp.status
  if status >= 200 and status < 300 and self.state == "early" and rsp.cseq_method == "INVITE" then
    self.state = "confirmed"
    if self.role == "uac" then self.route_set = reversed(record_route(rsp)) end
  end
  if status < 300 and status > 100 then
    self.remote_target = contact_uri(rsp) or self.remote_target
  end
end

--- Build a request within the dialog (§12.2.1.1). method: any; opts: cseq (for ACK and CANCEL,
-- which reuse the INVITE's number), headers, body, content_type, contact (default: ours on
-- target refresh requests). Returns the request and the next hop {proto=, host=, port=} (or
-- nil, err when the target cannot be routed).
function Dialog:request(method, opts)
  opts = opts or {}
  if type(method) ~= "string" then argerror(1, "request", "method expected") end
  local cseq = opts.cseq
  if method ~= "ACK" and method ~= "CANCEL" then
    self.local_seq = (self.local_seq or initial_seq()) + 1
    cseq = self.local_seq
  end
  cseq = cseq or self.local_seq
  local uri, routes = self.remote_target, {}
  local hop_uri -- where the request goes first: the first Route if loose, else the Request-URI
  local rs = self.route_set
  if #rs > 0 and is_loose(rs[1]) then
    for i, r in ipairs(rs) do routes[i] = r end
    hop_uri = uri_of(rs[1])
  elseif #rs > 0 then -- strict routing: the first route is the Request-URI, the target goes last
    uri = request_uri_from_route(rs[1])
    for i = 2, #rs do routes[#routes + 1] = rs[i] end
    routes[#routes + 1] = "<" .. self.remote_target .. ">"
    hop_uri = uri
  else
    hop_uri = uri
  end
  local contact = opts.contact
  if contact == nil and TARGET_REFRESH[method] then contact = self.local_contact end
  local la, ra = self.local_addr, self.remote_addr
  if not uri then return nil, nil, "the dialog has no remote target" end
  -- the dialog's values came from the network: a request they cannot make is an error, not a raise
  local ok, req = pcall(sip.request, {
    method = method, uri = uri, route = routes,
    from = { uri = la.uri, display = la.display, tag = self.local_tag },
    to = { uri = ra.uri, display = ra.display, tag = self.remote_tag },
    call_id = self.call_id, cseq = cseq, contact = contact or nil,
    headers = opts.headers, body = opts.body, content_type = opts.content_type,
  })
  if not ok then return nil, nil, tostring(req) end
  local dest, err = M.hop(hop_uri)
  return req, dest, err
end

--- Check a request received within the dialog (§12.2.2): true, or nil, status, reason for the
-- answer (500 for a CSeq lower than the last one). A target refresh moves the remote target.
function Dialog:receive(req)
  local method = req.method
  if method ~= "ACK" and method ~= "CANCEL" then
    local cseq = req.cseq
    if self.remote_seq and cseq < self.remote_seq then
      return nil, 500, "CSeq Out Of Order"
    end
    self.remote_seq = cseq
  end
  if TARGET_REFRESH[method] then self.remote_target = contact_uri(req) or self.remote_target end
  return true
end

M.Dialog = Dialog
return M
