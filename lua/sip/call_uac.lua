--- sip.call_uac: outgoing calls of sip.call: the INVITE and its client transactions, provisional
-- responses (early dialogs, PRACK: RFC 3262), the ACK of every 2xx (RFC 3261 §13.2.2.4) and
-- CANCEL (§9.1).
-- @module sip.call
local sip = require "sip"
local loop = require "sip.loop"
local dialog = require "sip.dialog"
local sdp = require "sip.sdp"
local common = require "sip.call_common"
local egress = require "sip.egress"
local args = require "sip.args"

local Call = common.Call
local shared = common._internal
local PENDING, has_sdp, parse_sdp = shared.PENDING, shared.has_sdp, shared.parse_sdp
local to_session, option_tags = shared.to_session, shared.option_tags
local header_list, new_call = shared.header_list, shared.new_call
local format = string.format

local M = {}

-- §13.2.2.4: the ACK carries the INVITE's credentials.
local function credentials(inv)
  local out = {}
  for _, name in ipairs { "Authorization", "Proxy-Authorization" } do
    for _, v in ipairs(inv:headers(name)) do out[#out + 1] = { name, v } end
  end
  return out
end

-- -------------------------------------------------------------------------------------------------
-- Outgoing calls (UAC)

local DIAL_OPTIONS = require("sip.options").schema("dial", {
  sdp = "string|table|boolean", timeout = "number", headers = "table|string", prack = "boolean",
  require_100rel = "boolean", on_progress = "function", on_end = "function",
})
--- ua:dial(target, opts): send the INVITE; the call comes back at once. opts: sdp (offer: SDP
-- text or a session; default an offer from the UA's media; false for an INVITE without offer),
-- timeout (s: CANCEL when no answer came by then), headers, prack (default true: Supported:
-- 100rel), require_100rel, on_progress = fn(call, rsp), on_end = fn(call, reason, code).
function M.dial(ua, target, opts)
  DIAL_OPTIONS:check(opts, 2, 1)
  target = tostring(target)
  if not sip.uri(target) then args.error(1, "dial", "not a URI: " .. target, 1) end
  if opts.timeout ~= nil and (type(opts.timeout) ~= "number" or opts.timeout <= 0) then
    args.error(2, "dial", "timeout must be a positive number", 1)
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
  self.contact = ua:contact(hop and hop.proto or "udp", hop)
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

-- One INVITE (the initial INVITE or a re-INVITE): the final response, or nil, err, code.
-- §18.1.1: too large for UDP, it goes over TCP; over UDP after all when TCP is refused.
function Call:_invite_txn(inv, dest, initial, deadline)
  local ua = self.ua
  if not inv.branch then ua:_via(inv, dest) end
  local big = egress.by_size(dest, #tostring(inv), ua.ep.mtu)
  if big == dest then return self:_invite_once(inv, dest, initial, deadline) end
  egress.retransport_via(inv, "tcp", ua.ep:sent_by_text("tcp", big))
  local r, e, c = self:_invite_once(inv, big, initial, deadline)
  if r or c ~= 503 or self.state == "ended" then return r, e, c end
  egress.fallback_via(inv, ua.ep:sent_by_text("udp", dest))
  return self:_invite_once(inv, dest, initial, deadline)
end

-- One INVITE client transaction to dest. Provisional responses and every 2xx are handled as
-- they arrive.
function Call:_invite_once(inv, dest, initial, deadline)
  local ua = self.ua
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
    -- the deadline holds whatever the peer does: the call is given up here and now. §9.1: the
    -- CANCEL goes at once after a provisional response, else when one comes (never before);
    -- the transaction lives on without us (Timer B, or 64*T1 after the CANCEL) and a 2xx that
    -- still comes gets its ACK and a BYE (_on_2xx, ua:_stray)
    self.timed_out = true
    self:cancel()
    return nil, "no answer before the timeout", 408
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
  -- §9.1: without a final response 64*T1 after the CANCEL, the INVITE transaction ends (also
  -- after a call given up at its deadline has ended: then the call does not hold the timer)
  local t = self.ua:_timer(64 * self.t1, function()
    self.cancel_timer = nil
    if txn.state == "calling" or txn.state == "proceeding" then txn:terminate() end
  end)
  if not self.timed_out then self.cancel_timer = t end
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
    if self.state ~= "ended" then self:_emit("progress", rsp) end
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

return M
