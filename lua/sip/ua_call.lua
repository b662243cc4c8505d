--- sip.ua_call: calls of a UA, the INVITE dialogs of RFC 3261 §12-15 with RFC 3262 (PRACK),
-- RFC 3311 (UPDATE) and the offer/answer model of RFC 3264 (sip.sdp).
--
-- Outgoing: ua:dial(target, opts) sends the INVITE and returns the call at once; ua:call() also
-- waits for the answer. Provisional responses make early dialogs (one per To tag) and are
-- acknowledged with PRACK when sent reliably; the UA core ACKs every 2xx (§13.2.2.4), again for
-- each retransmission, and ACKs then BYEs the 2xx of any fork but the first. Incoming: the UA's
-- "call" handler gets the call and rings, answers or rejects it; the 2xx goes out again until its
-- ACK arrives (§13.3.1.4), and a call without ACK after 64*T1 ends with BYE.
--
-- The transaction callbacks below never yield: what has to wait (PRACK, BYE of a fork, handlers)
-- runs in a coroutine of its own.
local sip = require "sip"
local loop = require "sip.loop"
local dialog = require "sip.dialog"
local sdp = require "sip.sdp"

local format = string.format

local M = {}
local Call = {}
Call.__index = Call
Call.__name = "sip.call"

-- states where an INVITE still waits for its final response
local PENDING = { calling = true, incoming = true, early = true }

local function media_type(msg)
  local t = msg.content_type and msg.content_type:match("^%s*([^;%s]+)")
  return t and t:lower() or nil
end

local function has_sdp(msg)
  return #msg.body > 0 and media_type(msg) == "application/sdp"
end

local function parse_sdp(text)
  return sdp.parse(text, { lenient = true })
end

-- A session from SDP text or a session table (always our own copy). Misuse raises.
local function to_session(s, fname)
  local parsed, err
  if type(s) == "string" then
    parsed, err = parse_sdp(s)
  elseif type(s) == "table" and type(s.streams) == "table" then
    parsed, err = parse_sdp(sdp.build(s))
  else
    error(format("%s: sdp must be SDP text or a session", fname), 3)
  end
  if not parsed then error(format("%s: bad SDP: %s", fname, err), 3) end
  return parsed
end

local function copy_session(s) return parse_sdp(sdp.build(s)) end

local function option_tags(msg, name)
  local set = {}
  for _, v in ipairs(msg:headers(name)) do
    for tag in v:gmatch("[^,%s]+") do set[tag:lower()] = true end
  end
  return set
end

local function header_list(out, h)
  if type(h) == "table" then
    for _, pair in ipairs(h) do out[#out + 1] = pair end
    local keys = {}
    for k in pairs(h) do if type(k) == "string" then keys[#keys + 1] = k end end
    table.sort(keys)
    for _, k in ipairs(keys) do out[#out + 1] = { k, h[k] } end
  end
  return out
end

-- §13.2.2.4: the ACK carries the INVITE's credentials.
local function credentials(inv)
  local out = {}
  for _, name in ipairs { "Authorization", "Proxy-Authorization" } do
    for _, v in ipairs(inv:headers(name)) do out[#out + 1] = { name, v } end
  end
  return out
end

local function failure(rsp)
  return format("%d %s", rsp.status, rsp.reason or ""), rsp.status, rsp
end

local function new_call(ua, role)
  local self = setmetatable({
    ua = ua, role = role, state = role == "uac" and "calling" or "incoming",
    early = {}, acks = {}, waiters = {}, handlers = {}, t1 = ua.t1, t2 = ua.t2,
  }, Call)
  ua.calls[self] = true
  return self
end

---------------------------------------------------------------------------------------------------
-- Waiting and events

-- Wake everything waiting on this call; each waiter checks its own condition again.
function Call:_notify()
  local list = self.waiters
  if #list == 0 then return end
  self.waiters = {}
  for _, w in ipairs(list) do w:wake() end
end

-- Yield until pred() holds (true) or timeout seconds pass (false).
function Call:_wait(pred, timeout)
  local deadline = timeout and loop.now() + timeout
  while not pred() do
    local remaining
    if deadline then
      remaining = deadline - loop.now()
      if remaining <= 0 then return false end
    end
    local w = loop.waiter()
    self.waiters[#self.waiters + 1] = w
    local _, e = w:block(remaining)
    if e == "timeout" then return pred() and true or false end
  end
  return true
end

function Call:_emit(event, ...)
  local fn = self.handlers[event]
  if fn then loop.spawn(fn, self, ...) end
end

--- Set a callback: "progress" fn(call, rsp), "answered" fn(call, rsp), "media" fn(call) (the
-- session changed), "end" fn(call, reason, code), "offer" fn(call, offer, req) -> answer | nil,
-- status (an offer in a re-INVITE or UPDATE; default: sip.sdp.answer with the UA's media), or a
-- method name ("INFO", ...) fn(call, req) for requests within the dialog.
function Call:on(event, fn)
  if type(event) ~= "string" then error("bad argument #1 to 'on' (event name expected)", 2) end
  if fn ~= nil and type(fn) ~= "function" then error("bad argument #2 to 'on' (function expected)", 2) end
  local lower = event:lower()
  if lower == "progress" or lower == "answered" or lower == "media" or lower == "end" or lower == "offer" then
    self.handlers[lower] = fn
  else
    self.handlers[event:upper()] = fn
  end
  return self
end

--- Wait for the call to end: the reason ("bye", "hangup", "cancelled", "rejected", "timeout",
-- "no-ack", "gone", "failed", "closed"), or nil, "timeout".
function Call:wait_end(timeout)
  if self:_wait(function() return self.state == "ended" end, timeout) then
    return self.end_reason, self.end_code
  end
  return nil, "timeout"
end

--- Wait until an outgoing call is answered: the call, or nil, err, code when it failed.
function Call:wait_answer(timeout)
  local ok = self:_wait(function() return not PENDING[self.state] end, timeout)
  if not ok then return nil, "timeout", 408 end
  if self.state == "confirmed" then return self end
  return nil, self.end_text, self.end_code
end

--- True while an INVITE of ours (or to us) waits for its final response.
function Call:is_pending() return PENDING[self.state] == true end

function Call:_wait_final()
  self:_wait(function() return not PENDING[self.state] end)
end

-- What the session settled on: the first codec of the first stream (sip.sdp.negotiated).
function Call:_settle(offer, answer)
  local ok, res = pcall(sdp.negotiated, offer, answer)
  self.codec = ok and res and res[1] or nil
end

-- Our answer to an offer: the "offer" callback, else sip.sdp.answer with the UA's media.
function Call:_answer_offer(offer, req)
  local fn = self.handlers.offer
  if fn then
    local ans, code = fn(self, offer, req)
    if not ans then return nil, "offer refused", code or 488 end
    return to_session(ans, "offer callback")
  end
  local m = self.ua.media
  return sdp.answer(offer, {
    address = m.address, port = m.port, codecs = m.codecs, telephone_event = m.telephone_event,
    ptime = m.ptime, previous = self.local_sdp, direction = self.local_hold and "sendonly" or "sendrecv",
  })
end

---------------------------------------------------------------------------------------------------
-- Ending

function Call:_stop_timers()
  local ua = self.ua
  if self.unacked then ua:_cancel_timer(self.unacked.timer); self.unacked = nil end
  if self.rel_pending then ua:_cancel_timer(self.rel_pending.timer); self.rel_pending = nil end
  if self.cancel_timer then ua:_cancel_timer(self.cancel_timer); self.cancel_timer = nil end
  if self.expire_timer then ua:_cancel_timer(self.expire_timer); self.expire_timer = nil end
end

function Call:_end(reason, code, text)
  if self.state == "ended" then return end
  local ua = self.ua
  self.state = "ended"
  self.end_reason, self.end_code, self.end_text = reason, code, text or reason
  self.ended_at = loop.now()
  self:_stop_timers()
  if self.dialog then ua:_unbind(self, self.dialog) end
  for _, d in pairs(self.early) do ua:_unbind(self, d) end
  if self.txn then ua.by_txn[self.txn] = nil end
  ua.calls[self] = nil
  if self.leg then
    -- late 2xx retransmissions still get their ACK for a while (§13.2.2.4)
    if ua.closed then
      ua.legs[self.leg] = nil
    else
      ua:_timer(64 * self.t1, function()
        if ua.legs[self.leg] == self then ua.legs[self.leg] = nil end
      end)
    end
  end
  self:_emit("end", reason, code)
  self:_notify()
end

---------------------------------------------------------------------------------------------------
-- Sending within the dialog

-- A request within dialog d and its final response, answering 401/407 (§22.2). Returns the
-- response (< 300) or nil, err, code[, response].
function Call:_send_in_dialog(d, req, dest, opts)
  local ua = self.ua
  if not dest then return nil, "no route to the remote target", 503 end
  for _ = 1, 4 do
    local rsp, err, code = ua.ep:request(req, { dest = dest, timeout = opts and opts.timeout })
    if not rsp then return nil, err, code end
    local st = rsp.status
    if (st == 401 or st == 407) and ua.auth then
      local n, aerr = ua.auth:authorize(req, rsp)
      if not n then return nil, aerr, st, rsp end
      req = n
      if d.local_seq and n.cseq > d.local_seq then d.local_seq = n.cseq end
    elseif st >= 300 then
      return nil, failure(rsp)
    else
      return rsp
    end
  end
  return nil, "authentication failed", 401
end

-- §12.2.1.2: 481 or 408 to a request within the dialog ends it.
function Call:_check_gone(code)
  if code == 481 or code == 408 then self:_end("gone", code, "the dialog is gone") end
end

-- §14.1: the pause before retrying after 491: 2.1-4 s when we chose the Call-ID, else 0-2 s.
function Call:_glare_delay()
  local owner = self.role == "uac"
  if self.ua.glare_delay then return self.ua.glare_delay(owner) end
  if owner then return math.random(210, 400) / 100 end
  return math.random(0, 200) / 100
end

---------------------------------------------------------------------------------------------------
-- Outgoing calls (UAC)

--- ua:dial(target, opts): send the INVITE; the call comes back at once. opts: sdp (offer: SDP
-- text or a session; default an offer from the UA's media; false for an INVITE without offer),
-- timeout (s: CANCEL when no answer came by then), headers, prack (default true: Supported:
-- 100rel), require_100rel, on_progress = fn(call, rsp), on_end = fn(call, reason, code).
function M.dial(ua, target, opts)
  target = tostring(target)
  if not sip.uri(target) then error("bad argument #1 to 'dial' (not a URI: " .. target .. ")", 3) end
  if opts.timeout ~= nil and (type(opts.timeout) ~= "number" or opts.timeout <= 0) then
    error("bad argument #2 to 'dial' (timeout must be a positive number)", 3)
  end
  local self = new_call(ua, "uac")
  self.opts = opts
  self.handlers.progress = opts.on_progress
  self.handlers["end"] = opts.on_end
  local offer
  if opts.sdp == nil then offer = ua:_offer()
  elseif opts.sdp ~= false then offer = to_session(opts.sdp, "dial") end
  self.local_sdp = offer
  self.offer_state = offer and "local" or nil
  local hop = dialog.hop(ua.outbound_proxy or target)
  self.contact = ua:contact(hop and hop.proto or "udp")
  local headers = { { "Allow", ua:allow() } }
  if opts.prack ~= false then headers[#headers + 1] = { "Supported", ua:supported() } end
  if opts.require_100rel then headers[#headers + 1] = { "Require", "100rel" } end
  header_list(headers, opts.headers)
  local body = offer and sdp.build(offer) or nil
  local inv = ua:new_request("INVITE", target, {
    contact = self.contact, headers = headers, body = body, content_type = body and "application/sdp",
  })
  self.invite = inv
  self.id = inv.call_id
  self.local_tag = inv.from.tag
  self.remote_uri = target
  self.leg = self.id .. "\0" .. self.local_tag
  ua.legs[self.leg] = self
  if ua.closed then
    self:_end("closed", 503, "the user agent is closed")
  else
    loop.spawn(Call._run_uac, self)
  end
  return self
end

--- ua:call(target, opts): dial and wait for the answer. The call, or nil, err, code, call.
function M.call(ua, target, opts)
  local self = M.dial(ua, target, opts)
  local ok, err, code = self:wait_answer()
  if not ok then return nil, err, code, self end
  return self
end

-- The driver of an outgoing call: the INVITE, again with credentials after 401/407.
function Call:_run_uac()
  local ua = self.ua
  local deadline = self.opts.timeout and loop.now() + self.opts.timeout
  local inv = self.invite
  local rsp, err, code
  for _ = 1, 4 do
    local dest
    dest, err = ua:_next_hop(inv)
    if not dest then
      rsp, code = nil, 503
      break
    end
    rsp, err, code = self:_invite_txn(inv, dest, true, deadline)
    if not (rsp and (rsp.status == 401 or rsp.status == 407) and ua.auth and not self.cancel_requested
        and self.state ~= "ended") then
      break
    end
    local n, aerr = ua.auth:authorize(inv, rsp)
    if not n then
      err, code = aerr, rsp.status
      break
    end
    inv = n
    self.invite = n
    for _, d in pairs(self.early) do ua:_unbind(self, d) end
    self.early = {}
  end
  if self.cancel_timer then ua:_cancel_timer(self.cancel_timer); self.cancel_timer = nil end
  if not PENDING[self.state] then return end
  local st = rsp and rsp.status or code or 500
  local text = rsp and format("%d %s", st, rsp.reason or "") or err
  if self.timed_out then
    self:_end("timeout", 408, "no answer before the timeout")
  elseif self.cancel_requested then
    self:_end("cancelled", 487, text)
  elseif rsp then
    self:_end("rejected", st, text)
  else
    self:_end("failed", st, text)
  end
end

-- One INVITE client transaction (the initial INVITE or a re-INVITE): the final response, or nil,
-- err, code. Provisional responses and every 2xx are handled as they arrive.
function Call:_invite_txn(inv, dest, initial, deadline)
  local ua = self.ua
  if not inv.branch then ua:_via(inv, dest) end
  local final
  local txn, err, code = ua.ep.stack:request(tostring(inv), dest, function(_, ev, a, b)
    if ev == "response" then
      local st = a.status
      if st < 200 then
        if not final then self:_on_provisional(inv, a, initial) end
      else
        if st < 300 then self:_on_2xx(inv, a, initial) end
        if not final then
          final = { a }
          self:_notify()
        end
      end
    elseif ev == "error" and not final then
      final = { nil, b, a }
      self:_notify()
    elseif ev == "terminated" and not final then
      final = { nil, "transaction ended without a final response", 500 }
      self:_notify()
    end
  end)
  if not txn then return nil, err, code end
  if initial then self.client_txn = txn end
  local function done() return final ~= nil or self.state == "ended" end
  if deadline and not self:_wait(done, math.max(0, deadline - loop.now())) then
    self.timed_out = true
    self:cancel()
  end
  self:_wait(done) -- bounded by Timer B, or by the 64*T1 after a CANCEL
  if not final then
    if txn.state ~= "terminated" then txn:terminate() end
    return nil, self.end_text or "call ended", self.end_code or 487
  end
  return final[1], final[2], final[3]
end

--- Cancel an outgoing call that has no final response yet (§9.1). The CANCEL goes once a
-- provisional response has come; the call ends with the 487 (wait_end()).
function Call:cancel()
  if self.role ~= "uac" or not PENDING[self.state] then return nil, "no pending INVITE to cancel" end
  self.cancel_requested = true
  self:_send_cancel()
  return true
end

function Call:_send_cancel()
  local txn = self.client_txn
  if self.cancel_sent or not txn or txn.state ~= "proceeding" then return end
  self.cancel_sent = true
  txn:cancel(function() end)
  -- §9.1: without a final response 64*T1 after the CANCEL, the INVITE transaction ends
  self.cancel_timer = self.ua:_timer(64 * self.t1, function()
    self.cancel_timer = nil
    if txn.state == "calling" or txn.state == "proceeding" then txn:terminate() end
  end)
end

-- RFC 3262 §7.1: RSeq is 1*DIGIT, below 2^32
local function rseq_of(rsp)
  local v = rsp:header("RSeq")
  local n = v and v:match("^%s*(%d+)%s*$") and math.tointeger(tonumber(v))
  return n and n < 2 ^ 32 and n or nil
end

local function is_reliable(rsp)
  return rsp.status > 100 and rsp:header("RSeq") ~= nil and option_tags(rsp, "Require")["100rel"] == true
end

-- RFC 3262 §4: only the next RSeq of a request is processed (and PRACKed).
local function accept_rseq(d, rsp)
  local rseq = rseq_of(rsp)
  if not rseq then return false end
  local last = d.rack
  if last and last.cseq == rsp.cseq and rseq ~= last.rseq + 1 then return false end
  d.rack = { cseq = rsp.cseq, rseq = rseq }
  return true
end

function Call:_on_provisional(inv, rsp, initial)
  local st = rsp.status
  local tag = rsp.to and rsp.to.tag
  local d
  if initial then
    self.status = st
    if st > 100 and tag and self.state ~= "ended" then
      d = self.early[tag]
      if d then
        d:update_from_response(rsp)
      else
        d = dialog.uac(inv, rsp) -- §12.1.2: an early dialog per To tag
        self.early[tag] = d
        self.ua:_bind(self, d)
      end
      if not self.answered_tag then
        self.dialog = d
        if self.state == "calling" then self.state = "early" end
      end
    end
  elseif st > 100 then
    d = self.dialog
  end
  if d and d.remote_tag == tag then
    local reliable = is_reliable(rsp)
    if not reliable or accept_rseq(d, rsp) then
      if has_sdp(rsp) then self:_sdp_in_1xx(inv, d, rsp, reliable) end
      if reliable then self:_prack(d, rsp) end
    end
  end
  if initial then
    if self.cancel_requested then self:_send_cancel() end
    self:_emit("progress", rsp)
    self:_notify()
  end
end

-- A session description in a provisional response: the answer to our offer (early media; final
-- only when sent reliably), or an offer in a reliable one (answered in the PRACK, RFC 3262 §5).
function Call:_sdp_in_1xx(inv, d, rsp, reliable)
  local s = parse_sdp(rsp.body)
  if not s then return end
  if self.offer_state == "local" then
    self.remote_sdp = s
    self:_settle(self.local_sdp, s)
    if reliable then self.offer_state = nil end
    self:_emit("media")
  elseif reliable and not has_sdp(inv) and not self.remote_sdp then
    local ans = self:_answer_offer(s, rsp)
    if ans then
      self.remote_sdp, self.local_sdp = s, ans
      self:_settle(s, ans)
      d.prack_body = sdp.build(ans)
      self:_emit("media")
    end
  end
end

-- RFC 3262 §7.1: PRACK with RAck: RSeq, CSeq number and method of the response.
function Call:_prack(d, rsp)
  local body = d.prack_body
  d.prack_body = nil
  local rack = format("%d %d %s", rseq_of(rsp), rsp.cseq, rsp.cseq_method)
  loop.spawn(function()
    local req, dest = d:request("PRACK", { headers = { { "RAck", rack } }, body = body,
      content_type = body and "application/sdp" })
    self:_send_in_dialog(d, req, dest)
  end)
end

-- A session description in a 2xx: the answer to our offer, or (INVITE without offer) an offer
-- whose answer goes in the ACK. Returns the ACK body, if any.
function Call:_sdp_in_2xx(inv, rsp)
  if not has_sdp(rsp) then return nil end
  local s = parse_sdp(rsp.body)
  if not s then return nil end
  if has_sdp(inv) then
    if self.offer_state == "local" then
      self.remote_sdp = s
      self.offer_state = nil
      self:_settle(self.local_sdp, s)
      self:_emit("media")
    end
    return nil
  end
  if self.offer_state ~= nil or (inv == self.invite and self.remote_sdp) then return nil end
  local ans = self:_answer_offer(s, rsp)
  if not ans then return nil end
  self.remote_sdp, self.local_sdp = s, ans
  self:_settle(s, ans)
  self:_emit("media")
  return sdp.build(ans)
end

-- Every 2xx to an INVITE of ours: ACK it from the UA core (§13.2.2.4), the same ACK for a
-- retransmission; the 2xx of a second fork, or one that comes after we gave up, is ACKed and
-- its dialog ended with BYE.
function Call:_on_2xx(inv, rsp, initial)
  local ua = self.ua
  local tag = rsp.to and rsp.to.tag or ""
  local key = tag .. "\0" .. rsp.cseq
  local sent = self.acks[key]
  if sent then
    ua.ep:send(sent.bytes, sent.dest)
    return
  end
  local d
  if initial then
    d = self.early[tag]
    if d then
      d:update_from_response(rsp)
    else
      d = dialog.uac(inv, rsp)
      self.early[tag] = d
    end
  else
    d = self.dialog
    d:update_from_response(rsp) -- §12.2.1.2: a target refresh
  end
  local unwanted = initial and ((self.answered_tag and self.answered_tag ~= tag) or self.cancel_requested
    or self.state == "ended")
  local body
  if not unwanted then
    body = self:_sdp_in_2xx(inv, rsp)
  elseif has_sdp(rsp) and not has_sdp(inv) then
    local offer = parse_sdp(rsp.body) -- the ACK must answer it even when a BYE follows
    local ans = offer and self:_answer_offer(offer, rsp)
    body = ans and sdp.build(ans) or nil
  end
  local ack, dest = d:request("ACK", { cseq = inv.cseq, headers = credentials(inv), body = body,
    content_type = body and "application/sdp" })
  if dest then
    ua:_via(ack, dest)
    local bytes = tostring(ack)
    self.acks[key] = { bytes = bytes, dest = dest }
    ua.ep:send(bytes, dest)
  end
  if unwanted then
    ua:_unbind(self, d)
    loop.spawn(function()
      local bye, bdest = d:request("BYE")
      self:_send_in_dialog(d, bye, bdest)
    end)
    return
  end
  if initial then
    self.answered_tag = tag
    self.dialog = d
    ua:_bind(self, d)
    for t, e in pairs(self.early) do
      if t ~= tag then ua:_unbind(self, e) end
    end
    self.status = rsp.status
    self.state = "confirmed"
    self.answered_at = loop.now()
    self:_emit("answered", rsp)
    self:_notify()
  end
end

-- A 2xx that no transaction took any more (after Timer M): the same ACK again, or a late fork.
function Call:_stray_2xx(rsp)
  local key = (rsp.to and rsp.to.tag or "") .. "\0" .. rsp.cseq
  local sent = self.acks[key]
  if sent then
    self.ua.ep:send(sent.bytes, sent.dest)
  elseif self.role == "uac" and self.invite and rsp.cseq == self.invite.cseq then
    self:_on_2xx(self.invite, rsp, true)
  end
end

---------------------------------------------------------------------------------------------------
-- Incoming calls (UAS)

-- A new call from an INVITE outside any dialog; nil when it was answered already (bad SDP).
function M.incoming(ua, req)
  local self = new_call(ua, "uas")
  self.invite = req
  self.txn = req.txn
  self.peer = req.txn and req.txn.peer
  self.id = req.call_id
  self.local_tag = sip.tag()
  self.remote_uri = req.from.uri
  self.remote_display = req.from.display
  self.local_uri = req.to.uri
  self.contact = ua:contact(req.source and req.source.proto)
  local c = req:header("Contact") and req:addrs("Contact")
  if not (c and c[1] and c[1].uri and sip.uri(c[1].uri)) then
    -- §8.1.1.8: an INVITE names where the dialog's requests go
    ua.calls[self] = nil
    req:reply(400, "Missing or Bad Contact")
    return nil
  end
  if option_tags(req, "Require")["100rel"] then self.peer_100rel = "required"
  elseif option_tags(req, "Supported")["100rel"] then self.peer_100rel = "supported" end
  if has_sdp(req) then
    local s, err = parse_sdp(req.body)
    if not s then
      ua.calls[self] = nil
      req:reply(400, "Bad Session Description: " .. err:gsub("[\r\n]", " "))
      return nil
    end
    self.remote_sdp = s
    self.offer_state = "remote"
  end
  self.dialog = dialog.uas(req, self.local_tag, self.contact)
  ua:_bind(self, self.dialog)
  if self.txn then ua.by_txn[self.txn] = self end
  local expires = req.expires
  if expires then
    -- §13.3.1: an INVITE that expires unanswered gets 487
    self.expire_timer = ua:_timer(expires, function()
      self.expire_timer = nil
      if PENDING[self.state] then
        self:_final(487)
        self:_end("expired", 487, "the INVITE expired")
      end
    end)
  end
  return self
end

-- A response of ours to req (the INVITE or a request within the dialog). Responses that create
-- or refresh the dialog carry Contact; those to the initial INVITE copy its Record-Route
-- (§12.1.1).
function Call:_response(req, code, reason, o)
  o = o or {}
  local hdrs = {}
  local m = req.method
  if code > 100 and code < 300 and (m == "INVITE" or m == "UPDATE") then
    hdrs[#hdrs + 1] = { "Contact", self.contact }
    if req == self.invite then
      for _, v in ipairs(req:headers("Record-Route")) do hdrs[#hdrs + 1] = { "Record-Route", v } end
    end
    hdrs[#hdrs + 1] = { "Allow", self.ua:allow() }
    hdrs[#hdrs + 1] = { "Supported", self.ua:supported() }
  end
  header_list(hdrs, o.headers)
  local txn = req.txn
  return sip.response(req, code, reason, {
    to_tag = self.local_tag, headers = hdrs, body = o.body,
    content_type = o.body and (o.content_type or "application/sdp") or nil,
    received = txn and txn.received, rport = txn and txn.rport,
  })
end

-- Send response bytes on the server transaction, or straight to the peer once it is gone (a 2xx
-- retransmitted after Timer L).
function Call:_send_bytes(txn, peer, bytes)
  if txn and txn.state ~= "terminated" then return txn:send(bytes) end
  if peer then return self.ua.ep:send(bytes, peer) end
  return nil, "no way back to the peer"
end

function Call:_stop_reliable()
  local p = self.rel_pending
  if p then
    self.ua:_cancel_timer(p.timer)
    self.rel_pending = nil
  end
end

-- RFC 3262 §3: a reliable provisional response goes again after T1, 2*T1, 4*T1 ... until its
-- PRACK; after 64*T1 without one the INVITE gets a 5xx.
function Call:_send_reliable(rsp, rseq, with_sdp)
  local p = { rseq = rseq, cseq = self.invite.cseq, bytes = tostring(rsp), has_sdp = with_sdp,
    started = loop.now() }
  self.rel_pending = p
  local interval = self.t1
  p.timer = self.ua:_timer(interval, function(t)
    if self.rel_pending ~= p then return end
    if loop.now() - p.started >= 64 * self.t1 then
      self.rel_pending = nil
      if PENDING[self.state] then
        self:_final(500, "No PRACK")
        self:_end("failed", 500, "no PRACK for a reliable provisional response")
      end
      return
    end
    self:_send_bytes(self.txn, self.peer, p.bytes)
    interval = interval * 2
    t:again(interval)
  end)
end

-- A final response to the initial INVITE.
function Call:_final(code, reason, o)
  self:_stop_reliable()
  local rsp = self:_response(self.invite, code, reason, o)
  self:_send_bytes(self.txn, self.peer, tostring(rsp))
  return rsp
end

-- The SDP of a provisional response (ring{sdp = ...}): the answer to the INVITE's offer (early
-- media; again in the 2xx unless sent reliably), or our offer in a reliable one when the INVITE
-- had none.
function Call:_provisional_sdp(given, reliable)
  if self.offer_state == "remote" then
    local ans = self.pending_answer
    if not ans then
      if given ~= true then ans = to_session(given, "ring")
      else ans = self:_answer_offer(self.remote_sdp, self.invite) end
    end
    if not ans then return nil end
    self.pending_answer = ans
    self.local_sdp = ans
    self:_settle(self.remote_sdp, ans)
    if reliable then self.offer_state = nil end
    return sdp.build(ans)
  elseif self.offer_state == nil and not self.remote_sdp and not self.local_sdp and reliable then
    local offer = given ~= true and to_session(given, "ring") or self.ua:_offer()
    self.local_sdp = offer
    self.offer_state = "local"
    return sdp.build(offer)
  end
  return nil
end

--- Tell the caller we are ringing. opts: status (default 180), reason, reliable (RFC 3262: sent
-- reliably when the INVITE requires it, may be when it supports it), sdp (true or a session:
-- early media), headers. Returns true, or nil, err, code when the call is no longer pending.
function Call:ring(opts)
  opts = opts or {}
  if self.role ~= "uas" then error("ring: not an incoming call", 2) end
  local code = opts.status or 180
  if math.type(code) ~= "integer" or code <= 100 or code >= 200 then error("ring: status must be 101..199", 2) end
  if not PENDING[self.state] then return nil, "the call is " .. self.state, 481 end
  local reliable = opts.reliable and true or false
  if self.peer_100rel == "required" then reliable = true
  elseif not self.peer_100rel then reliable = false end -- RFC 3262 §3: not unless the INVITE allows it
  if reliable and self.rel_pending then
    -- RFC 3262 §3: one unacknowledged reliable provisional response at a time
    self:_wait(function() return not self.rel_pending or not PENDING[self.state] end, 64 * self.t1)
    if not PENDING[self.state] then return nil, "the call is " .. self.state, 481 end
  end
  local body = opts.sdp and self:_provisional_sdp(opts.sdp, reliable) or nil
  local hdrs = {}
  local rseq
  if reliable then
    -- RFC 3262 §3: the first RSeq is random in 1 .. 2^31-1, then one more each time
    rseq = self.rseq and self.rseq + 1 or math.random(1, 0x3fffffff)
    self.rseq = rseq
    hdrs[#hdrs + 1] = { "Require", "100rel" }
    hdrs[#hdrs + 1] = { "RSeq", tostring(rseq) }
  end
  header_list(hdrs, opts.headers)
  local rsp = self:_response(self.invite, code, opts.reason, { headers = hdrs, body = body })
  self.state = "early"
  self:_send_bytes(self.txn, self.peer, tostring(rsp))
  if reliable then self:_send_reliable(rsp, rseq, body ~= nil) end
  if body then self:_emit("media") end
  self:_notify()
  return true
end

--- Answer the call with 200 (§13.3.1.4). opts: sdp (our answer, or our offer when the INVITE had
-- none; default from the UA's media by sip.sdp.answer), headers, reason. A call whose offer we
-- cannot answer is rejected with 488. Returns true or nil, err, code.
function Call:answer(opts)
  opts = opts or {}
  if self.role ~= "uas" then error("answer: not an incoming call", 2) end
  if not PENDING[self.state] then return nil, "the call is " .. self.state, 481 end
  if self.answering then return nil, "already answering", 491 end
  self.answering = true
  local body
  if self.offer_state == "remote" then
    local ans, err, code
    if opts.sdp then
      ans = to_session(opts.sdp, "answer")
    else
      ans = self.pending_answer
      if not ans then ans, err, code = self:_answer_offer(self.remote_sdp, self.invite) end
    end
    if not ans then
      self.answering = nil
      code = code or 488
      self:reject(code, code == 488 and "Not Acceptable Here" or nil,
        { headers = { { "Warning", format('304 lua-sip "%s"', tostring(err):gsub('"', "'")) } } })
      return nil, err, code
    end
    self.local_sdp = ans
    self.offer_state = nil
    self:_settle(self.remote_sdp, ans)
    body = sdp.build(ans)
  elseif self.offer_state == nil and not self.local_sdp then
    -- §13.2.1: an INVITE without offer: ours goes in the 2xx, the answer comes in the ACK
    local offer = opts.sdp and to_session(opts.sdp, "answer") or self.ua:_offer()
    self.local_sdp = offer
    self.offer_state = "local"
    body = sdp.build(offer)
  end
  if self.rel_pending and self.rel_pending.has_sdp then
    -- RFC 3262 §3: no 2xx before the PRACK of a reliable provisional response with SDP
    self:_wait(function() return not self.rel_pending or not PENDING[self.state] end, 64 * self.t1)
  end
  if not PENDING[self.state] then
    self.answering = nil
    return nil, "the call is " .. self.state, self.end_code or 487
  end
  self:_stop_reliable()
  if self.expire_timer then self.ua:_cancel_timer(self.expire_timer); self.expire_timer = nil end
  local rsp = self:_response(self.invite, 200, opts.reason, { headers = opts.headers, body = body })
  self.state = "confirmed"
  self.dialog.state = "confirmed"
  self.answered_at = loop.now()
  self:_send_bytes(self.txn, self.peer, tostring(rsp))
  self:_retransmit_2xx(self.invite, rsp)
  self.answering = nil
  if body then self:_emit("media") end
  self:_notify()
  return true
end

--- Reject the call with a final response (default 486 Busy Here). opts: headers, contact (for
-- 3xx). Returns true or nil, err, code.
function Call:reject(code, reason, opts)
  code = code or 486
  if self.role ~= "uas" then error("reject: not an incoming call", 2) end
  if math.type(code) ~= "integer" or code < 300 or code > 699 then error("reject: status must be 300..699", 2) end
  if not PENDING[self.state] then return nil, "the call is " .. self.state, 481 end
  opts = opts or {}
  local hdrs = {}
  if opts.contact then hdrs[1] = { "Contact", opts.contact } end
  header_list(hdrs, opts.headers)
  self:_final(code, reason, { headers = hdrs })
  self:_end("rejected", code, format("%d %s", code, reason or sip.reason_phrase(code)))
  return true
end

-- §13.3.1.4: the 2xx goes again after T1, 2*T1 ... (at most T2 apart) until the ACK; after
-- 64*T1 without one the session ends with BYE.
function Call:_retransmit_2xx(req, rsp)
  local ua = self.ua
  if self.unacked then ua:_cancel_timer(self.unacked.timer) end
  local u = { cseq = req.cseq, bytes = tostring(rsp), txn = req.txn, peer = req.txn and req.txn.peer,
    started = loop.now() }
  self.unacked = u
  local interval = self.t1
  u.timer = ua:_timer(interval, function(t)
    if self.unacked ~= u then return end
    if loop.now() - u.started >= 64 * self.t1 then
      self.unacked = nil
      self:_notify()
      loop.spawn(function() self:bye { reason = "no-ack" } end)
      return
    end
    self:_send_bytes(u.txn, u.peer, u.bytes)
    interval = math.min(interval * 2, self.t2)
    t:again(interval)
  end)
end

-- The ACK of one of our 2xx: retransmissions stop; it may carry the answer to our offer.
function Call:_on_ack(ack)
  local u = self.unacked
  if not u or ack.cseq ~= u.cseq then return end
  self.ua:_cancel_timer(u.timer)
  self.unacked = nil
  if self.offer_state == "local" then
    self.offer_state = nil
    local s = has_sdp(ack) and parse_sdp(ack.body)
    if s then
      self.remote_sdp = s
      self:_settle(self.local_sdp, s)
      self:_emit("media")
    end
  end
  self.acked = true
  self:_notify()
end

-- §9.2: the caller cancelled: 487 for the INVITE unless it has its final response.
function Call:_on_cancel()
  if self.role == "uas" and PENDING[self.state] then
    self:_final(487)
    self:_end("cancelled", 487, "cancelled by the caller")
  end
end

---------------------------------------------------------------------------------------------------
-- Requests within the dialog (§12.2.2)

function Call:_dialog_of(req)
  local key = dialog.key_of_request(req)
  if self.dialog and self.dialog:key() == key then return self.dialog end
  for _, d in pairs(self.early) do
    if d:key() == key then return d end
  end
  return nil
end

function Call:_request(req)
  local d = self:_dialog_of(req)
  if not d then return req:reply(481, "Call/Transaction Does Not Exist") end
  local ok, code, reason = d:receive(req)
  if not ok then return req:reply(code, reason) end
  local m = req.method
  if m == "BYE" then return self:_on_bye(req)
  elseif m == "INVITE" then return self:_on_reinvite(req, d)
  elseif m == "UPDATE" then return self:_on_update(req, d)
  elseif m == "PRACK" then return self:_on_prack(req)
  end
  local ua = self.ua
  local h = self.handlers[m]
  if h then return ua:_run_handler(function(r) return h(self, r) end, req) end
  h = ua.handlers[m]
  if h then return ua:_run_handler(h, req, self) end
  if m == "OPTIONS" then return req:reply(200, nil, { headers = ua:capabilities() }) end
  return ua:_reply_405(req)
end

-- §15.1.2: BYE ends the call; a pending INVITE of the same dialog gets 487.
function Call:_on_bye(req)
  req:reply(200)
  if self.role == "uas" and PENDING[self.state] then self:_final(487) end
  self:_end("bye", nil, "the other side hung up")
end

-- A re-INVITE (§14.2): 491 while our own INVITE is in progress, 500 with Retry-After while we
-- still owe the final response to another; else the offer is answered (or, without offer, ours
-- goes in the 2xx) and the 2xx is retransmitted until its ACK.
function Call:_on_reinvite(req, d)
  if self.invite_out or (self.role == "uac" and PENDING[self.state]) then
    return req:reply(491, "Request Pending")
  end
  if self.invite_in or PENDING[self.state] then
    return req:reply(500, "Server Internal Error", { headers = { { "Retry-After", tostring(math.random(0, 10)) } } })
  end
  local body
  if has_sdp(req) then
    local offer = parse_sdp(req.body)
    if not offer then return req:reply(400, "Bad Session Description") end
    self.invite_in = req
    local ans, err, code = self:_answer_offer(offer, req)
    if not ans then
      self.invite_in = nil
      return req:reply(code or 488, nil, { headers = { { "Warning", format('304 lua-sip "%s"', tostring(err):gsub('"', "'")) } } })
    end
    self.remote_sdp, self.local_sdp = offer, ans
    self.remote_hold = offer:is_on_hold()
    self:_settle(offer, ans)
    body = sdp.build(ans)
  else
    self.invite_in = req
    local offer = self.local_sdp and copy_session(self.local_sdp):bump() or self.ua:_offer()
    self.local_sdp = offer
    self.offer_state = "local"
    body = sdp.build(offer)
  end
  if self.state == "ended" then
    self.invite_in = nil
    return req:reply(481, "Call/Transaction Does Not Exist")
  end
  local rsp = self:_response(req, 200, nil, { body = body })
  self:_send_bytes(req.txn, req.txn and req.txn.peer, tostring(rsp))
  self:_retransmit_2xx(req, rsp)
  self.invite_in = nil
  self:_emit("media")
end

-- RFC 3311 §5.2: an UPDATE with an offer: 491 while ours is unanswered, 500 with Retry-After
-- while theirs is; else answered in the 2xx. Without offer it only refreshes the target.
function Call:_on_update(req)
  if not has_sdp(req) then
    return req:reply(200, nil, { headers = { { "Contact", self.contact } } })
  end
  if self.offer_state == "local" then return req:reply(491, "Request Pending") end
  if self.offer_state == "remote" then
    return req:reply(500, "Server Internal Error", { headers = { { "Retry-After", tostring(math.random(0, 10)) } } })
  end
  local offer = parse_sdp(req.body)
  if not offer then return req:reply(400, "Bad Session Description") end
  local ans, err, code = self:_answer_offer(offer, req)
  if not ans then
    return req:reply(code or 488, nil, { headers = { { "Warning", format('304 lua-sip "%s"', tostring(err):gsub('"', "'")) } } })
  end
  self.remote_sdp, self.local_sdp = offer, ans
  self.remote_hold = offer:is_on_hold()
  self:_settle(offer, ans)
  req:reply(200, nil, { headers = { { "Contact", self.contact } }, body = sdp.build(ans),
    content_type = "application/sdp" })
  self:_emit("media")
end

-- RFC 3262 §3: the PRACK of our reliable provisional response stops its retransmissions; it may
-- carry the answer to the offer in it, or a new offer (answered in the 200, §5).
function Call:_on_prack(req)
  local rack = req:header("RAck")
  local rseq, cseq, method
  if rack then rseq, cseq, method = rack:match("^%s*(%d+)%s+(%d+)%s+(%S+)") end
  local p = self.rel_pending
  if not p or tonumber(rseq) ~= p.rseq or tonumber(cseq) ~= p.cseq or method ~= "INVITE" then
    return req:reply(481, "No Matching Provisional Response")
  end
  self:_stop_reliable()
  local body
  if has_sdp(req) then
    local s = parse_sdp(req.body)
    if s and self.offer_state == "local" then
      self.remote_sdp = s
      self.offer_state = nil
      self:_settle(self.local_sdp, s)
      self:_emit("media")
    elseif s and self.offer_state == nil then
      local ans, _, code = self:_answer_offer(s, req)
      if not ans then
        self:_notify()
        return req:reply(code or 488)
      end
      self.remote_sdp, self.local_sdp = s, ans
      self:_settle(s, ans)
      body = sdp.build(ans)
      self:_emit("media")
    end
  end
  req:reply(200, nil, body and { body = body, content_type = "application/sdp" } or nil)
  self:_notify()
end

---------------------------------------------------------------------------------------------------
-- Changing and ending the session

--- Send a re-INVITE with a new offer (SDP text or a session; default our last one, version
-- bumped) and wait for the outcome (§14.1). 491 (glare) is retried after the §14.1 pause. On a
-- non-2xx the session stays as it was. Returns the 2xx or nil, err, code.
function Call:reinvite(offer, opts)
  opts = opts or {}
  if self.state ~= "confirmed" then return nil, "the call is " .. self.state, 481 end
  if self.unacked then
    self:_wait(function() return not self.unacked or self.state == "ended" end, 64 * self.t1)
  end
  if self.invite_out or self.invite_in then return nil, "an INVITE is in progress", 491 end
  local s = offer and to_session(offer, "reinvite")
    or (self.local_sdp and copy_session(self.local_sdp):bump()) or self.ua:_offer()
  local old = self.local_sdp
  self.invite_out = true
  local rsp, err, code
  local req, dest
  for attempt = 1, 5 do
    if not req then
      local headers = { { "Allow", self.ua:allow() }, { "Supported", self.ua:supported() } }
      header_list(headers, opts.headers)
      req, dest, err = self.dialog:request("INVITE", { headers = headers, body = sdp.build(s),
        content_type = "application/sdp" })
      if not dest then rsp, code = nil, 503; break end
    end
    self.local_sdp, self.offer_state = s, "local"
    rsp, err, code = self:_invite_txn(req, dest, false)
    local st = rsp and rsp.status
    if not st or st >= 300 then
      self.local_sdp, self.offer_state = old, nil
    end
    if st == 491 and attempt < 5 then
      -- §14.1: our transaction is over; theirs may go ahead while we pause
      req = nil
      self.invite_out = nil
      local slept = self.ua:_sleep(self:_glare_delay())
      self:_wait(function() return not self.invite_in and not self.unacked or self.state == "ended" end, 64 * self.t1)
      if not slept or self.state ~= "confirmed" or self.invite_out then break end
      self.invite_out = true
    elseif (st == 401 or st == 407) and self.ua.auth and attempt < 5 then
      local n = self.ua.auth:authorize(req, rsp)
      if not n then break end
      req = n
      if n.cseq > (self.dialog.local_seq or 0) then self.dialog.local_seq = n.cseq end
    else
      break
    end
  end
  self.invite_out = nil
  if rsp and rsp.status < 300 then
    self.local_hold = s:is_on_hold()
    return rsp
  end
  if rsp then
    self:_check_gone(rsp.status)
    return nil, failure(rsp)
  end
  self:_check_gone(code)
  return nil, err, code
end

--- Put the call on hold (a=sendonly, RFC 3264 §8.4) by re-INVITE.
function Call:hold()
  if not self.local_sdp then return nil, "no session to hold", 488 end
  return self:reinvite(copy_session(self.local_sdp):hold())
end

--- Take the call off hold (a=sendrecv).
function Call:resume()
  if not self.local_sdp then return nil, "no session to resume", 488 end
  return self:reinvite(copy_session(self.local_sdp):resume())
end

--- Send UPDATE with a new offer (RFC 3311), in an early or confirmed dialog, and wait for the
-- answer. Returns the 2xx or nil, err, code.
function Call:update(offer, opts)
  opts = opts or {}
  if self.state ~= "confirmed" and self.state ~= "early" then return nil, "the call is " .. self.state, 481 end
  if self.offer_state then return nil, "an offer is pending", 491 end
  local s = offer and to_session(offer, "update")
    or (self.local_sdp and copy_session(self.local_sdp):bump()) or self.ua:_offer()
  local old = self.local_sdp
  for attempt = 1, 5 do
    local d = self.dialog
    local headers = { { "Supported", self.ua:supported() } }
    header_list(headers, opts.headers)
    self.local_sdp, self.offer_state = s, "local"
    local req, dest = d:request("UPDATE", { headers = headers, body = sdp.build(s),
      content_type = "application/sdp" })
    local rsp, err, code, r = self:_send_in_dialog(d, req, dest)
    self.offer_state = nil
    if rsp then
      d:update_from_response(rsp)
      local a = has_sdp(rsp) and parse_sdp(rsp.body)
      if a then
        self.remote_sdp = a
        self:_settle(s, a)
        self:_emit("media")
      end
      self.local_hold = s:is_on_hold()
      return rsp
    end
    self.local_sdp = old
    if code == 491 and attempt < 5 then
      if not self.ua:_sleep(self:_glare_delay()) then return nil, err, code, r end
    else
      self:_check_gone(code)
      return nil, err, code, r
    end
  end
end

--- Send a request of any method within the dialog (INFO, MESSAGE, ...) and wait for its final
-- response. opts: headers, body, content_type, timeout.
function Call:request(method, opts)
  opts = opts or {}
  if type(method) ~= "string" then error("bad argument #1 to 'request' (method expected)", 2) end
  if method == "INVITE" or method == "ACK" or method == "CANCEL" or method == "BYE" then
    error("bad argument #1 to 'request' (use reinvite, bye or cancel)", 2)
  end
  if self.state ~= "confirmed" and self.state ~= "early" then return nil, "the call is " .. self.state, 481 end
  local d = self.dialog
  local req, dest = d:request(method, { headers = opts.headers, body = opts.body,
    content_type = opts.body and (opts.content_type or "text/plain") or nil })
  local rsp, err, code, r = self:_send_in_dialog(d, req, dest, opts)
  if not rsp then self:_check_gone(code) end
  return rsp, err, code, r
end

--- End a confirmed call with BYE (§15.1.1); the callee waits for the ACK of its 2xx first.
-- Returns the response or nil, err, code (the call is ended either way).
function Call:bye(opts)
  opts = opts or {}
  if self.state == "ended" then return nil, "the call has ended", 481 end
  if self.state ~= "confirmed" then return nil, "the call is not answered", 481 end
  if self.unacked then
    self:_wait(function() return not self.unacked or self.state == "ended" end, 64 * self.t1)
    if self.state == "ended" then return nil, "the call has ended", 481 end
  end
  local d = self.dialog
  self:_end(opts.reason or "hangup", nil, "hung up")
  local req, dest = d:request("BYE", { headers = opts.headers })
  return self:_send_in_dialog(d, req, dest, opts)
end

--- Hang up whatever the state: BYE when answered, CANCEL when calling out, 603 when ringing in.
function Call:hangup(opts)
  if self.state == "ended" then return true end
  if self.state == "confirmed" then return self:bye(opts) end
  if self.role == "uac" then
    local ok, err = self:cancel()
    if ok then self:wait_end() end
    return ok, err
  end
  return self:reject(603, "Decline")
end

M.Call = Call
return M
