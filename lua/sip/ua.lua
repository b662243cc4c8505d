--- sip.ua: a user agent (RFC 3261 §8, §10, §12-15) over sip.endpoint.
-- A UA listens on one or more transports under one identity (user@domain, display name,
-- password). Out of dialogs it sends REGISTER (sip.ua_register), MESSAGE (RFC 3428), OPTIONS and
-- any request, answering digest challenges on the way; it places and takes calls (INVITE
-- dialogs, sip.call). Incoming requests get the checks of §8.2 here (405/501, 416, 420, 415,
-- 482, 481), then reach a handler in a coroutine of their own. Calls that wait yield; failures
-- of the outside world come back as nil, err, code.
-- @module sip.ua
local sip = require "sip"
local core = require "sip.core"
local loop = require "sip.loop"
local endpoint = require "sip.endpoint"
local dialog = require "sip.dialog"
local sip_route = require "sip.route"
local Call = require "sip.call"
local Registration = require "sip.ua_register"

local format, concat = string.format, table.concat

local M = {}
local UA = {}
UA.__index = UA
UA.__name = "sip.ua"
function UA:__tostring()
  return ("sip.ua (%s, %s)"):format(self.aor, self.closed and "closed" or self.ep:where())
end

-- Option tags we understand (§8.2.2.3): RFC 3262.
M.SUPPORTED = { ["100rel"] = true }
-- What every UA takes; handlers set with ua:on add their methods.
local BASE_METHODS = { "INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "PRACK", "UPDATE" }
-- Methods of other RFCs: a UA without a handler answers 405 with Allow; anything else gets 501
-- (§8.2.1, RFC 4475 §3.1.1.5).
local KNOWN_METHODS = {
  REGISTER = true, MESSAGE = true, INFO = true, SUBSCRIBE = true, NOTIFY = true, REFER = true,
  PUBLISH = true,
}
for _, m in ipairs(BASE_METHODS) do KNOWN_METHODS[m] = true end
-- Requests whose body must be a session description (RFC 3261 §13, RFC 3262, RFC 3311).
local SDP_METHODS = { INVITE = true, UPDATE = true, PRACK = true }

local argerror = require("sip.args").error

local values = sip.values -- a list header's items, split by the C parser

--- The media type of a message body, lower case without parameters ("application/sdp").
function M.media_type(msg)
  local t = msg.content_type and msg.content_type:match("^%s*([^;%s]+)")
  return t and t:lower() or nil
end

local options = require "sip.options"
local OPTIONS = options.schema("ua", {
  endpoint = "table", user = "string", domain = "string", password = "string", auth_user = "string",
  display = "string", registrar = "string", outbound_proxy = "string", contact = "string",
  user_agent = "string", glare_delay = "function",
  keepalive = function(v)
    if v == false or (type(v) == "number" and v >= 0) then return true end
    return false, "must be seconds >= 0, or false"
  end,
  media = options.schema("ua", { address = "string", port = "integer", codecs = "table",
    telephone_event = "boolean", ptime = "number" }),
}, endpoint.TRANSPORT_OPTIONS)

--- sip.ua{ listen = {"udp:127.0.0.1:0", ...} | endpoint = ep, user =, domain =, password =,
--   auth_user =, display =, registrar =, outbound_proxy =, contact = (URI to advertise),
--   media = {address=, port=, codecs=, telephone_event=}, user_agent =, glare_delay = fn(owner)
--   -> seconds, keepalive = seconds between the CRLF pings on a registration's TCP or TLS flow
--   (RFC 5626 §4.4.1; default 90, false or 0: none; sip.ua_flow), and the transport options of
--   sip.endpoint (t1 =, t2 =, t4 =, advertise =, limits =, idle_timeout =, mtu =, tls_* ...) }
-- Returns the UA, or nil, err when a transport cannot be opened. Misuse raises.
function M.new(opts)
  opts = OPTIONS:check(opts)
  if opts.registrar and not sip.uri(opts.registrar) then argerror(1, "ua", "registrar is not a URI") end
  if opts.outbound_proxy and not sip.uri(opts.outbound_proxy) then argerror(1, "ua", "outbound_proxy is not a URI") end
  local keepalive = opts.keepalive
  if keepalive == nil then keepalive = 90 elseif keepalive == false then keepalive = 0 end
  local ep, err = opts.endpoint
  local owned = not ep
  if owned then
    local eopts = endpoint.TRANSPORT_OPTIONS:pick(opts)
    eopts.listen = eopts.listen or { "udp:0.0.0.0:0" }
    ep, err = endpoint.new(eopts)
    if not ep then return nil, err end
  end
  local self = setmetatable({
    ep = ep, owns_endpoint = owned,
    user = opts.user or "anonymous", display = opts.display, password = opts.password,
    t1 = opts.t1 or 0.5, t2 = opts.t2 or 4,
    user_agent = opts.user_agent or sip._VERSION,
    contact_uri = opts.contact,
    handlers = {},
    dialogs = {},       -- dialog key -> call
    legs = {},          -- Call-ID NUL local tag -> call (our INVITEs, for late 2xx from forks)
    by_txn = setmetatable({}, { __mode = "k" }), -- INVITE server transaction -> call (CANCEL)
    calls = {},         -- live calls (set)
    registrations = {}, -- live registrations (set)
    timers = {},        -- our libev timers (closed by close())
    sleepers = {},      -- waiters of interruptible sleeps
    merged = {},        -- §8.2.2.2: From tag, Call-ID, CSeq -> branch, time
    reg_call_ids = {},  -- registrar -> Call-ID (§10.2: one per registrar and boot)
    glare_delay = opts.glare_delay,
    keepalive = keepalive,
  }, UA)
  loop.opened(self) -- a run() that ends by an error closes it
  local host = ep:sent_by((ep.listeners[1] or {}).proto or "udp")
  local reg_host = opts.registrar and sip.uri(opts.registrar).host
  self.domain = opts.domain or reg_host or host
  self.aor = format("sip:%s@%s", self.user, self.domain)
  self.registrar = opts.registrar or ("sip:" .. self.domain)
  if opts.outbound_proxy then
    local p = opts.outbound_proxy
    if not sip.uri(p):param("lr") then p = p .. ";lr" end
    self.outbound_proxy = p
  end
  if self.password then
    self.auth = sip.auth.client { user = opts.auth_user or self.user, password = self.password }
  end
  local media = opts.media or {}
  self.media = {
    address = media.address or (host:gsub("^%[(.*)%]$", "%1")),
    port = media.port or 40000,
    codecs = media.codecs or { "PCMA", "PCMU", "G729" },
    telephone_event = media.telephone_event ~= false,
    ptime = media.ptime,
  }
  local prev_stray = ep.on_stray
  ep:on_request(function(req) self:_incoming(req) end)
  ep.on_stray = function(rsp)
    if not self:_stray(rsp) and prev_stray then prev_stray(rsp) end
  end
  return self
end

-- -------------------------------------------------------------------------------------------------
-- Identity, capabilities, helpers for the call and registration modules

--- Our Contact (a name-addr) for requests and responses over proto to or from peer ({host=},
-- optional): the listener of that transport and address family (sip.endpoint's listener_for).
function UA:contact(proto, peer)
  if self.contact_uri then return "<" .. self.contact_uri .. ">" end
  local ep = self.ep
  local l = ep:listener_for(proto or "udp", peer)
  local lproto = l and l.proto or "udp"
  local host, port = ep:sent_by(lproto, peer)
  return format("<sip:%s@%s%s%s>", self.user, host, port and (":" .. port) or "",
    lproto ~= "udp" and (";transport=" .. lproto) or "")
end

--- The methods we take, for Allow (§20.5).
function UA:allow()
  local list, seen = {}, {}
  for _, m in ipairs(BASE_METHODS) do list[#list + 1] = m; seen[m] = true end
  local extra = {}
  for m in pairs(self.handlers) do
    if not seen[m] then extra[#extra + 1] = m end
  end
  table.sort(extra)
  for _, m in ipairs(extra) do list[#list + 1] = m end
  return concat(list, ", ")
end

--- Does the UA take method outside dialogs (its own, or one with a handler set by ua:on)?
function UA:allows(method)
  for _, m in ipairs(BASE_METHODS) do if m == method then return true end end
  return self.handlers[method] ~= nil
end

--- The option tags for Supported (§20.37): "100rel".
function UA:supported()
  return "100rel"
end

--- Set the handler of incoming requests: "call" (or "invite") fn(call) for new calls; a method
-- name ("message", "INFO", ...) fn(req) for requests of that method outside dialogs (inside
-- dialogs too, unless the call has its own). The handler may answer with req:reply(...) or
-- return a status [, reason [, opts]]; returning nothing answers 200. fn nil removes it.
function UA:on(event, fn)
  if type(event) ~= "string" then argerror(1, "on", "event name expected") end
  if fn ~= nil and type(fn) ~= "function" then argerror(2, "on", "function expected") end
  local name = event:upper()
  if name == "CALL" then name = "INVITE" end
  if name == "ACK" or name == "CANCEL" then argerror(1, "on", name .. " is handled by the UA") end
  if not name:find("^[%w%-%.!%%%*_%+`'~]+$") then argerror(1, "on", "not a method name") end
  self.handlers[name] = fn
  return self
end

-- A timer the UA closes on close(): fn(timer) after `after` seconds; fn may re-arm it.
function UA:_timer(after, fn)
  local timers = self.timers
  local t
  t = core.timer(after, 0, function()
    fn(t)
    if not t:is_active() then timers[t] = nil end
  end)
  timers[t] = true
  return t
end

function UA:_cancel_timer(t)
  if t then
    self.timers[t] = nil
    t:close()
  end
end

--- Sleep s seconds in the current coroutine; close() cuts it short. Returns true, or false when
-- the UA was closed meanwhile.
function UA:sleep(s)
  if self.closed then return false end
  local w = loop.waiter()
  self.sleepers[w] = true
  w:block(s)
  self.sleepers[w] = nil
  return not self.closed
end
UA._sleep = UA.sleep

-- An offer from our media settings (sip.sdp.new).
function UA:_offer()
  local m = self.media
  return sip.sdp.new { address = m.address, port = m.port, codecs = m.codecs,
    telephone_event = m.telephone_event, ptime = m.ptime }
end

-- Put our Via (a fresh branch, rport) on a request about to leave for dest (§8.1.1.7, RFC 3581).
function UA:_via(req, dest)
  local host, port = self.ep:sent_by(dest.proto, dest)
  req:push_via(format("SIP/2.0/%s %s%s;branch=%s;rport", dest.proto:upper(), host,
    port and (":" .. port) or "", sip.branch()))
end

-- Where an out-of-dialog request goes (first Route, or the Request-URI).
function UA:_next_hop(req)
  return sip_route.next_hop(req)
end

-- {{name, value}, ...} from several sources, in sip.header_pairs' order
local function header_list(t, ...)
  local out = t or {}
  for i = 1, select("#", ...) do sip.header_pairs(out, (select(i, ...))) end
  return out
end

--- A request outside any dialog from us (§8.1.1). opts: to, call_id, cseq, contact, expires,
-- headers, body, content_type, route (default: the outbound proxy).
function UA:new_request(method, uri, opts)
  opts = opts or {}
  local route = opts.route
  if route == nil and self.outbound_proxy then route = { "<" .. self.outbound_proxy .. ">" } end
  local headers = header_list({ { "User-Agent", self.user_agent } }, opts.headers)
  return sip.request {
    method = method, uri = uri, route = route,
    from = { uri = self.aor, display = self.display, tag = opts.from_tag },
    to = opts.to or { uri = uri },
    call_id = opts.call_id, cseq = opts.cseq, contact = opts.contact, expires = opts.expires,
    headers = headers, body = opts.body, content_type = opts.content_type,
  }
end

local function failure(rsp)
  return format("%d %s", rsp.status, rsp.reason or ""), rsp.status, rsp
end

local SEND_OPTIONS = options.schema("send", {
  timeout = "number", dest = "table", provisional = "function", resubmitted = "function",
})
--- Send a request and wait for its final response, answering 401/407 with our credentials
-- (§22.2). opts: timeout, dest, provisional, resubmitted = fn(req) (told of each request sent
-- again with credentials: a dialog counts its CSeq). Returns the 2xx (or 1xx-less final below
-- 300), or nil, err, code[, response] (a final response of 300 or more, or a transport failure).
function UA:send(req, opts)
  return self:_send(req, SEND_OPTIONS:check(opts, 2))
end

-- ua:send for options already checked (a superset of SEND_OPTIONS).
function UA:_send(req, opts)
  local left = loop.deadline(opts.timeout) -- one deadline for the request and its resubmissions
  for _ = 1, 4 do
    local t = left()
    if t == 0 then return nil, "timeout", 408 end
    local rsp, err, code = self.ep:_request(req, { timeout = t, dest = opts.dest,
      provisional = opts.provisional })
    if not rsp then return nil, err, code end
    local st = rsp.status
    if (st == 401 or st == 407) and self.auth then
      local nreq, aerr = self.auth:authorize(req, rsp)
      if not nreq then return nil, aerr, st, rsp end
      req = nreq
      if opts.resubmitted then opts.resubmitted(nreq) end
    elseif st >= 300 then
      return nil, failure(rsp)
    else
      return rsp
    end
  end
  return nil, "authentication failed", 401
end

local REQUEST_OPTIONS = options.schema("request", {
  to = "string|table", call_id = "string", cseq = "integer", contact = "string|table", expires = "integer",
  headers = "table|string", body = "string", content_type = "string", route = "table", from_tag = "string",
}, SEND_OPTIONS)
--- Any request outside dialogs: ua:request(method, uri, {headers=, body=, content_type=,
-- timeout=}) -> response | nil, err, code[, response]
function UA:request(method, uri, opts)
  if type(method) ~= "string" then argerror(1, "request", "method expected") end
  if method == "INVITE" or method == "ACK" or method == "CANCEL" then
    argerror(1, "request", method .. " belongs to calls: use ua:call")
  end
  opts = REQUEST_OPTIONS:check(opts, 3)
  local req = self:new_request(method, tostring(uri), opts)
  return self:_send(req, opts)
end

local MESSAGE_OPTIONS = options.schema("message", { headers = "table|string", timeout = "number", to = "string|table" })
--- A MESSAGE in pager mode (RFC 3428 §4): body of any MIME type (default text/plain), no
-- Contact. One MESSAGE whatever its size: over 1,300 bytes (the endpoint's mtu - 200) it goes
-- over TCP instead of UDP (RFC 3261 §18.1.1); larger content belongs in a session (MSRP).
-- opts: headers, timeout, to (a To other than the Request-URI). Returns the 2xx (200
-- delivered, 202 accepted for later delivery) or nil, err, code.
function UA:message(uri, body, content_type, opts)
  if type(body) ~= "string" then argerror(2, "message", "body must be a string") end
  if content_type ~= nil and type(content_type) ~= "string" then
    argerror(3, "message", "content type must be a string")
  end
  opts = MESSAGE_OPTIONS:check(opts, 4)
  local o = { headers = opts.headers, timeout = opts.timeout, body = body, to = opts.to,
    content_type = content_type or "text/plain" }
  return self:request("MESSAGE", uri, o)
end

local OPTIONS_OPTIONS = options.schema("options", { headers = "table|string", timeout = "number" })
--- OPTIONS (§11): the peer's capabilities. Returns the response or nil, err, code.
function UA:options(uri, opts)
  opts = OPTIONS_OPTIONS:check(opts, 2)
  local o = { timeout = opts.timeout, headers = header_list({ { "Accept", "application/sdp" } }, opts.headers) }
  return self:request("OPTIONS", uri, o)
end

--- Register (RFC 3261 §10.2); waits for the outcome. See sip.ua_register.
function UA:register(opts)
  return Registration.register(self, opts or {})
end

--- Remove bindings without a registration object: {all = true} sends Contact: * (§10.2.2);
-- otherwise our Contact with Expires: 0. Returns the response or nil, err, code.
function UA:unregister(opts)
  return Registration.unregister(self, opts or {})
end

--- Place a call and wait for its answer: the call, or nil, err, code, call. See sip.call.
function UA:call(target, opts)
  return Call.call(self, target, opts or {})
end

--- Start a call without waiting: the call (call:wait_answer(), call:cancel(), ...).
function UA:dial(target, opts)
  return Call.dial(self, target, opts or {})
end

-- -------------------------------------------------------------------------------------------------
-- Incoming requests (§8.2)

-- §8.2.2.3: the option tags of Require we do not know.
local function unsupported(req)
  local bad = {}
  for _, tag in ipairs(values(req, "Require")) do
    if not M.SUPPORTED[tag:lower()] then bad[#bad + 1] = tag end
  end
  return #bad > 0 and bad or nil
end

-- §8.2.3: bodies we cannot read. nil, or status, reason, headers.
local function content_problem(req)
  local enc = req:header("Content-Encoding")
  if enc then
    for _, e in ipairs(values(req, "Content-Encoding")) do
      if e:lower() ~= "identity" then
        return 415, "Unsupported Media Type", { { "Accept-Encoding", "identity" } }
      end
    end
  end
  if SDP_METHODS[req.method] and #req.body > 0 and M.media_type(req) ~= "application/sdp" then
    return 415, "Unsupported Media Type", { { "Accept", "application/sdp" } }
  end
  if req.method == "INVITE" and req:header("Accept") then
    -- §8.2.3, RFC 4475 §3.3.15: our answer will carry SDP; an Accept without it cannot take it
    local ok = false
    for _, a in ipairs(values(req, "Accept")) do
      local t = (a:match("^([^;%s]+)") or ""):lower()
      if t == "application/sdp" or t == "application/*" or t == "*/*" then ok = true end
    end
    if not ok then
      return 406, "Not Acceptable", { { "Accept", "application/sdp" },
        { "Warning", '399 lua-sip "only application/sdp session descriptions"' } }
    end
  end
  return nil
end

-- §8.2.2.2: a request without To tag whose From tag, Call-ID and CSeq match one in progress
-- but that came by another branch is a loop through forking: 482.
function UA:_merged(req)
  local now = loop.now()
  local key = concat({ req.from.tag or "", req.call_id, req.cseq, req.method }, "\0")
  local seen = self.merged[key]
  local branch = req.branch or ""
  if seen and now - seen.at < 64 * self.t1 and seen.branch ~= branch then return true end
  if not seen then
    -- a small bounded table: forget what is older than a transaction's life
    self.merged_count = (self.merged_count or 0) + 1
    if self.merged_count > 1000 then
      for k, v in pairs(self.merged) do if now - v.at >= 64 * self.t1 then self.merged[k] = nil end end
      self.merged_count = 0
    end
    self.merged[key] = { at = now, branch = branch }
  end
  return false
end

function UA:_reply_405(req)
  if KNOWN_METHODS[req.method] then
    return req:reply(405, nil, { headers = { { "Allow", self:allow() } } })
  end
  return req:reply(501, nil, { headers = { { "Allow", self:allow() } } })
end

--- The capabilities for OPTIONS answers (§11.2).
function UA:capabilities()
  return { { "Allow", self:allow() }, { "Accept", "application/sdp" }, { "Accept-Encoding", "identity" },
    { "Supported", self:supported() }, { "Contact", self:contact() } }
end

-- Run a request handler: it answers, or returns a status, or returns nothing (200).
function UA:_run_handler(h, req, ...)
  local r = table.pack(h(req, ...))
  local txn = req.txn
  if txn and (txn.state == "trying" or txn.state == "proceeding") then
    local code = r[1]
    if math.type(code) == "integer" then
      req:reply(code, r[2], r[3])
    else
      req:reply(200)
    end
  end
end

-- Every request the endpoint passes up, in its own coroutine.
function UA:_incoming(req)
  local method = req.method
  if method == "ACK" then return self:_ack(req) end
  if self.closed then return req:reply(503, "Service Unavailable") end
  if method == "CANCEL" then return self:_cancel(req) end
  local to_tag = req.to and req.to.tag
  -- §8.2.1: methods (in dialogs a call may take more)
  if not to_tag and not self:allows(method) then return self:_reply_405(req) end
  -- §8.2.2.1: the Request-URI scheme
  local u = req:request_uri()
  if not u or (u.scheme ~= "sip" and u.scheme ~= "sips") then
    return req:reply(416, "Unsupported URI Scheme")
  end
  -- §8.2.2.3: extensions
  local bad = unsupported(req)
  if bad then
    return req:reply(420, "Bad Extension", { headers = { { "Unsupported", concat(bad, ", ") } } })
  end
  -- §8.2.3: content
  local code, reason, hdrs = content_problem(req)
  if code then return req:reply(code, reason, { headers = hdrs }) end
  if to_tag then
    -- §12.2.2: within a dialog
    local call = self.dialogs[dialog.key_of_request(req)]
    if not call then return req:reply(481, "Call/Transaction Does Not Exist") end
    return call:_request(req)
  end
  if self:_merged(req) then return req:reply(482, "Loop Detected") end
  local own = UA.outside_dialog[method]
  if own then return own(self, req) end
  local h = self.handlers[method]
  if not h then
    local default = UA.defaults[method]
    if default then return default(self, req) end
    return self:_reply_405(req)
  end
  return self:_run_handler(h, req)
end

-- §15.1.2, RFC 3262 §3, RFC 3311 §5.2: these only make sense inside a dialog
local function no_dialog(_, req) return req:reply(481, "Call/Transaction Does Not Exist") end

-- Requests outside a dialog that the UA itself takes, by method (a new method, such as
-- SUBSCRIBE or REFER, joins here); then the handlers set with ua:on; then the defaults of a
-- method nobody handles.
UA.outside_dialog = {
  INVITE = function(self, req) return self:_invite(req) end,
  BYE = no_dialog, PRACK = no_dialog, UPDATE = no_dialog,
}
UA.defaults = {
  OPTIONS = function(self, req) return req:reply(200, nil, { headers = self:capabilities() }) end, -- §11.2
}

-- A new INVITE: a call, given to the "call" handler; this coroutine (and the server transaction)
-- stays until the call has its final answer.
function UA:_invite(req)
  local call = Call.incoming(self, req)
  if not call then return end
  local h = self.handlers.INVITE
  if not h then
    call:reject(480, "Temporarily Unavailable")
    return
  end
  local ok, err = xpcall(h, debug.traceback, call)
  if not ok then
    if call:is_pending() then call:reject(500, "Server Internal Error") end
    error(err, 0)
  end
  call:_wait_final()
end

-- §13.3.1.4: the ACK of a 2xx goes to its dialog; others are the transaction layer's.
function UA:_ack(req)
  local call = self.dialogs[dialog.key_of_request(req)]
  if call then call:_on_ack(req) end
end

-- §9.2: CANCEL of a pending INVITE: 200 for the CANCEL, 487 for the INVITE.
function UA:_cancel(req)
  local txn = req.txn
  local inv = txn and txn:cancelled_invite()
  local call = inv and self.by_txn[inv]
  if not call then return req:reply(481, "Call/Transaction Does Not Exist") end
  req:reply(200)
  call:_on_cancel(req)
end

-- Responses no transaction wanted: 2xx of INVITEs retransmitted after Timer M, or late forks.
function UA:_stray(rsp)
  if rsp.cseq_method ~= "INVITE" or rsp.status < 200 or rsp.status >= 300 then return false end
  local from = rsp.from
  local call = self.dialogs[dialog.key_of_response(rsp)]
    or (from and from.tag and self.legs[(rsp.call_id or "") .. "\0" .. from.tag])
  if not call then return false end
  call:_stray_2xx(rsp)
  return true
end

-- The Call-ID of our registrations with one registrar (§10.2: the same for all of them).
function UA:_reg_call_id(registrar)
  local id = self.reg_call_ids[registrar]
  if not id then
    id = sip.callid()
    self.reg_call_ids[registrar] = id
  end
  return id
end

function UA:_bind(call, d)
  self.dialogs[d:key()] = call
end

function UA:_unbind(call, d)
  local k = d:key()
  if self.dialogs[k] == call then self.dialogs[k] = nil end
end

--- Close: registrations stop refreshing (without unregistering), calls end without signalling,
-- timers stop, the endpoint closes when the UA opened it. Idempotent.
function UA:close()
  if self.closed then return end
  self.closed = true
  for reg in pairs(self.registrations) do reg:stop() end
  local calls = {}
  for c in pairs(self.calls) do calls[#calls + 1] = c end
  for _, c in ipairs(calls) do
    if c.role == "uas" and c:is_pending() then c:_final(503, "Service Unavailable") end
    c:_end("closed", 503, "the user agent closed")
  end
  for t in pairs(self.timers) do t:close() end
  self.timers = {}
  local sleepers = {}
  for w in pairs(self.sleepers) do sleepers[#sleepers + 1] = w end
  for _, w in ipairs(sleepers) do w:wake(nil, "closed") end
  if self.owns_endpoint and self.ep then self.ep:close() end
end
UA.__close = UA.close

M.UA = UA
M.OPTIONS = OPTIONS
return setmetatable(M, { __call = function(_, opts) return M.new(opts) end })
