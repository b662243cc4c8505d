--- sip.call_session: changing and ending the session of a call: re-INVITE (RFC 3261 §14.1),
-- hold and resume (RFC 3264 §8.4), UPDATE (RFC 3311), any request within the dialog, BYE
-- (§15.1.1) and hangup. It adds methods to the class and exports nothing.
-- @module sip.call
local sdp = require "sip.sdp"
local common = require "sip.call_common"
local args = require "sip.args"

local Call = common.Call
local shared = common._internal
local has_sdp, parse_sdp, to_session = shared.has_sdp, shared.parse_sdp, shared.to_session
local copy_session, header_list, failure = shared.copy_session, shared.header_list, shared.failure

-- -------------------------------------------------------------------------------------------------
-- Changing and ending the session

local options = require "sip.options"
local REINVITE_OPTIONS = options.schema("reinvite", { headers = "table|string" })
--- Send a re-INVITE with a new offer (SDP text or a session; default our last one, version
-- bumped) and wait for the outcome (§14.1). 491 (glare) is retried after the §14.1 pause. On a
-- non-2xx the session stays as it was. Returns the 2xx or nil, err, code.
function Call:reinvite(offer, opts)
  opts = REINVITE_OPTIONS:check(opts, 2)
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

local UPDATE_OPTIONS = options.schema("update", { headers = "table|string" })
--- Send UPDATE with a new offer (RFC 3311), in an early or confirmed dialog, and wait for the
-- answer. Returns the 2xx or nil, err, code.
function Call:update(offer, opts)
  opts = UPDATE_OPTIONS:check(opts, 2)
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

local REQUEST_OPTIONS = options.schema("request", {
  headers = "table|string", body = "string", content_type = "string", timeout = "number",
})
--- Send a request of any method within the dialog (INFO, MESSAGE, ...) and wait for its final
-- response. opts: headers, body, content_type, timeout.
function Call:request(method, opts)
  opts = REQUEST_OPTIONS:check(opts, 2)
  if type(method) ~= "string" then args.error(1, "request", "method expected") end
  if method == "INVITE" or method == "ACK" or method == "CANCEL" or method == "BYE" then
    args.error(1, "request", "use reinvite, bye or cancel")
  end
  if self.state ~= "confirmed" and self.state ~= "early" then return nil, "the call is " .. self.state, 481 end
  local d = self.dialog
  local req, dest = d:request(method, { headers = opts.headers, body = opts.body,
    content_type = opts.body and (opts.content_type or "text/plain") or nil })
  local rsp, err, code, r = self:_send_in_dialog(d, req, dest, opts)
  if not rsp then self:_check_gone(code) end
  return rsp, err, code, r
end

local BYE_OPTIONS = options.schema("bye", { headers = "table|string", reason = "string", timeout = "number" })
--- End a confirmed call with BYE (§15.1.1); the callee waits for the ACK of its 2xx first.
-- Returns the response or nil, err, code (the call is ended either way).
function Call:bye(opts)
  opts = BYE_OPTIONS:check(opts)
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
