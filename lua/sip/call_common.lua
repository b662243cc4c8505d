--- sip.call_common: what the files of sip.call share (lua-http's connection_common is the
-- model): the class's metatable, the helpers, waiting and events, ending, and sending within the
-- dialog.
-- @module sip.call
local sip = require "sip"
local loop = require "sip.loop"
local sdp = require "sip.sdp"
local args = require "sip.args"

local M = {}
local Call = {}
Call.__index = Call
Call.__name = "sip.call"
function Call:__tostring()
  return ("sip.call (%s %s, %s)"):format(self.role == "uac" and "to" or "from",
    tostring(self.remote_uri or "?"), self.state)
end

local format = string.format

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

-- The option tags of a list header (Require, Supported: sip.values splits it) as a set.
local function option_tags(msg, name)
  local set = {}
  for _, tag in ipairs(sip.values(msg, name)) do set[tag:lower()] = true end
  return set
end

-- {name, value} pairs of a headers table appended to out, in the one order (sip.header_pairs).
local header_list = sip.header_pairs

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

-- -------------------------------------------------------------------------------------------------
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
  if type(event) ~= "string" then args.error(1, "on", "event name expected") end
  if fn ~= nil and type(fn) ~= "function" then args.error(2, "on", "function expected") end
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

-- -------------------------------------------------------------------------------------------------
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

-- -------------------------------------------------------------------------------------------------
-- Sending within the dialog

-- A request within dialog d and its final response, answering 401/407 (§22.2). Returns the
-- response (< 300) or nil, err, code[, response].
function Call:_send_in_dialog(d, req, dest, opts)
  if not dest then return nil, "no route to the remote target", 503 end
  -- the UA's own loop (ua:send); each resubmission takes the dialog's next CSeq
  return self.ua:send(req, { dest = dest, timeout = opts and opts.timeout, resubmitted = function(n)
    if d.local_seq and n.cseq > d.local_seq then d.local_seq = n.cseq end
  end })
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

-- The helpers, for the other files of sip.call; not an API.
M._internal = {
  PENDING = PENDING, has_sdp = has_sdp, parse_sdp = parse_sdp, to_session = to_session,
  copy_session = copy_session, option_tags = option_tags, header_list = header_list,
  failure = failure, new_call = new_call,
}
M.Call = Call

return M
