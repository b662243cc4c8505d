-- sip.call_dialog: the requests within a call's dialog (RFC 3261 §12.2.2), dispatched by method
-- through the table M.methods.
local dialog = require "sip.dialog"
local sdp = require "sip.sdp"
local common = require "sip.call_common"

local Call = common.Call
local shared = common._internal
local PENDING, has_sdp, parse_sdp = shared.PENDING, shared.has_sdp, shared.parse_sdp
local copy_session = shared.copy_session
local format = string.format

local M = {}

-- ------------------------------------------------------------------------------------------
-- Requests within the dialog (§12.2.2)

function Call:_dialog_of(req)
  local key = dialog.key_of_request(req)
  if self.dialog and self.dialog:key() == key then return self.dialog end
  for _, d in pairs(self.early) do
    if d:key() == key then return d end
  end
  return nil
end

-- The methods the call itself answers within its dialog: method -> fn(call, req, d). A method
-- the call takes on (REFER, SUBSCRIBE, NOTIFY ...) joins with an entry here; the entries are set
-- at the end of this file, once their functions exist. Other methods go to the call's handlers,
-- then the UA's, else OPTIONS gets 200 and the rest 405.
local methods = {}
M.methods = methods

function Call:_request(req)
  local d = self:_dialog_of(req)
  if not d then return req:reply(481, "Call/Transaction Does Not Exist") end
  local ok, code, reason = d:receive(req)
  if not ok then return req:reply(code, reason) end
  local m = req.method
  local on = methods[m]
  if on then return on(self, req, d) end
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

-- RFC 3261 §20.43: 304 Incompatible media format, with why (its quotes turned to apostrophes)
local function warning(err)
  return format('304 lua-sip "%s"', (tostring(err):gsub('"', "'")))
end

-- A re-INVITE (§14.2): 491 while our own INVITE is in progress, 500 with Retry-After while we
-- still owe the final response to another; else the offer is answered (or, without offer, ours
-- goes in the 2xx) and the 2xx is retransmitted until its ACK.
function Call:_on_reinvite(req, _) -- the dialog (every method of the table gets it)
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
      return req:reply(code or 488, nil, { headers = { { "Warning", warning(err) } } })
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
    return req:reply(code or 488, nil, { headers = { { "Warning", warning(err) } } })
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

methods.BYE = Call._on_bye
methods.INVITE = Call._on_reinvite
methods.UPDATE = Call._on_update
methods.PRACK = Call._on_prack

return M
