--- sip.call_uas: incoming calls of sip.call: the INVITE outside a dialog, our responses
-- (reliable provisional ones: RFC 3262 §3), ring, answer, reject, the ACK of our 2xx (RFC 3261
-- §13.3.1.4) and CANCEL.
-- @module sip.call
local sip = require "sip"
local loop = require "sip.loop"
local dialog = require "sip.dialog"
local sdp = require "sip.sdp"
local common = require "sip.call_common"

local Call = common.Call
local shared = common._internal
local PENDING, has_sdp, parse_sdp = shared.PENDING, shared.has_sdp, shared.parse_sdp
local to_session, option_tags = shared.to_session, shared.option_tags
local header_list, new_call = shared.header_list, shared.new_call
local format = string.format

local M = {}

-- -------------------------------------------------------------------------------------------------
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
  self.contact = ua:contact(req.source and req.source.proto, req.source)
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

local options = require "sip.options"
local RING_OPTIONS = options.schema("ring", {
  status = "integer", reason = "string", reliable = "boolean", sdp = "string|table|boolean", headers = "table|string",
})
--- Tell the caller we are ringing. opts: status (default 180), reason, reliable (RFC 3262: sent
-- reliably when the INVITE requires it, may be when it supports it), sdp (true or a session:
-- early media), headers. Returns true, or nil, err, code when the call is no longer pending.
function Call:ring(opts)
  opts = RING_OPTIONS:check(opts)
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

local ANSWER_OPTIONS = options.schema("answer", { sdp = "string|table", headers = "table|string", reason = "string" })
--- Answer the call with 200 (§13.3.1.4). opts: sdp (our answer, or our offer when the INVITE had
-- none; default from the UA's media by sip.sdp.answer), headers, reason. A call whose offer we
-- cannot answer is rejected with 488. Returns true or nil, err, code.
function Call:answer(opts)
  opts = ANSWER_OPTIONS:check(opts)
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

local REJECT_OPTIONS = options.schema("reject", { headers = "table|string", contact = "string" })
--- Reject the call with a final response (default 486 Busy Here). opts: headers, contact (for
-- 3xx). Returns true or nil, err, code.
function Call:reject(code, reason, opts)
  code = code or 486
  if self.role ~= "uas" then error("reject: not an incoming call", 2) end
  if math.type(code) ~= "integer" or code < 300 or code > 699 then error("reject: status must be 300..699", 2) end
  if not PENDING[self.state] then return nil, "the call is " .. self.state, 481 end
  opts = REJECT_OPTIONS:check(opts, 3)
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

return M
