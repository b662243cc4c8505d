--- sip.ua_register: registrations of a UA (RFC 3261 §10.2).
-- ua:register{...} sends REGISTER and waits for the outcome: digest challenges are answered
-- (§22), 423 Interval Too Brief is retried with the registrar's Min-Expires (§10.2.8), and the
-- granted expiry is read from our binding in the 2xx (§10.2.4). A background coroutine refreshes
-- the binding before it expires; reg:unregister() removes it (Expires: 0), ua:unregister{all =
-- true} removes every binding of the address-of-record (Contact: *, §10.2.2).
-- @module sip.ua
local sip = require "sip"
local loop = require "sip.loop"
local route = require "sip.route"
local flow = require "sip.ua_flow"

local format = string.format

local M = {}
local Registration = {}
Registration.__index = Registration
Registration.__name = "sip.registration"
function Registration:__tostring()
  return ("sip.registration (%s at %s, %s)"):format(self.aor, self.registrar, self.state)
end

local argerror = require("sip.args").error

-- When to refresh a binding granted for `expires` seconds: a minute before it runs out, or
-- halfway for short ones.
local function refresh_delay(expires)
  return math.max(expires / 2, expires - 60)
end

-- the URI of our Contact value (sip.addr, the C parser), or the value itself
local function uri_of(value)
  local a = sip.addr(value)
  return a and a.uri or value
end

local function new(ua, opts)
  local registrar = opts.registrar or ua.registrar
  if type(registrar) ~= "string" or not sip.uri(registrar) then argerror(1, "register", "registrar must be a URI") end
  local expires = opts.expires or 3600
  if math.type(expires) ~= "integer" or expires < 0 then argerror(1, "register", "expires must be an integer >= 0") end
  local self = setmetatable({
    ua = ua, registrar = registrar, aor = opts.aor or ua.aor, call_id = ua:_reg_call_id(registrar),
    cseq = 0, wanted = expires, expires = nil, bindings = {}, state = "new",
    refresh = opts.refresh ~= false, on_change = opts.on_change, headers = opts.headers,
    timeout = opts.timeout, retry_after = opts.retry_after or 30,
  }, Registration)
  if opts.contact then
    self.contact = opts.contact
  else
    -- the transport of the first hop (a name is looked up only when it is that hop)
    local hop = ua.outbound_proxy and route.hop(ua.outbound_proxy) or route.hop(registrar)
    self.contact = ua:contact(hop and hop.proto or "udp", hop)
  end
  return self
end

-- REGISTER with the next CSeq of our Call-ID (§10.2: CSeq grows by one per REGISTER).
function Registration:_build(expires, contact, preauth)
  local ua = self.ua
  self.cseq = self.cseq + 1
  local req = ua:new_request("REGISTER", self.registrar, {
    to = { uri = self.aor }, call_id = self.call_id, cseq = self.cseq, contact = contact,
    expires = expires, headers = self.headers,
  })
  self.preauthorized = false
  if preauth ~= false and ua.auth and #ua.auth:realms() > 0 then
    ua.auth:preauthorize(req) -- the cached nonce spares a round trip (§22.3)
    self.preauthorized = true
  end
  return req
end

-- Read what the registrar granted (§10.2.4): our binding's expires parameter, else the Expires
-- header, else what we asked for.
function Registration:_learn(rsp, expires)
  local header = rsp.expires
  local list = {}
  local mine
  local ours = sip.uri(uri_of(self.contact))
  for _, c in ipairs(rsp:header("Contact") and rsp:addrs("Contact") or {}) do
    if not c.star then
      local b = { uri = c.uri, expires = c.expires or header, value = c.value, q = c.q }
      list[#list + 1] = b
      local u = sip.uri(c.uri)
      if ours and u and u == ours then mine = b end
    end
  end
  self.bindings = list
  self.response = rsp
  if expires == 0 then
    self.expires = 0
  else
    self.expires = mine and mine.expires or header or expires
  end
  self.registered_at = loop.now()
end

-- One REGISTER exchange with its retries; returns the 2xx or nil, err, code[, response].
function Registration:_exchange(expires, contact)
  local ua = self.ua
  local req = self:_build(expires, contact)
  local fresh = false
  local left = loop.deadline(self.timeout) -- one deadline for the exchange and its retries
  for _ = 1, 6 do
    local t = left()
    if t == 0 then return nil, "timeout", 408 end
    local rsp, err, code = ua.ep:_request(req, { timeout = t })
    if not rsp then return nil, err, code end
    local st = rsp.status
    if (st == 401 or st == 407) and ua.auth then
      local nreq, aerr = ua.auth:authorize(req, rsp)
      if nreq then
        req = nreq
        self.cseq = math.max(self.cseq, req.cseq)
      elseif self.preauthorized and not fresh then
        -- our cached nonce was refused outright: start over once without it
        fresh = true
        ua.auth:reset()
        req = self:_build(expires, contact, false)
      else
        return nil, aerr, st, rsp
      end
    elseif st == 423 and expires > 0 then
      -- §10.2.8: ask again with at least the registrar's minimum
      local v = rsp:header("Min-Expires")
      local min = v and v:match("^%s*(%d+)%s*$") and math.tointeger(tonumber(v))
      if not min or min <= expires or min >= 2 ^ 32 then
        return nil, "423 Interval Too Brief without a usable Min-Expires", st, rsp
      end
      expires = min
      self.wanted = expires
      req = self:_build(expires, contact)
    elseif st >= 300 then
      return nil, format("%d %s", st, rsp.reason or ""), st, rsp
    elseif st >= 200 then
      self:_learn(rsp, expires)
      flow.track(self, rsp)
      return rsp
    end
  end
  return nil, "too many retries", 500
end

function Registration:_changed(what, err)
  local fn = self.on_change
  if fn then loop.spawn(fn, self, what, err) end
end

-- The refresher: sleeps until the binding needs renewing, renews it, repeats.
function Registration:_schedule()
  if self.task or not self.refresh then return end
  self.task = loop.spawn(function()
    while not self.stopped do
      local delay = self.retry_after
      if self.state == "registered" and (self.expires or 0) > 0 then delay = refresh_delay(self.expires) end
      local w = loop.waiter()
      self.sleeper = w
      w:block(delay)
      self.sleeper = nil
      if self.stopped then break end
      local ok, err, code = self:_exchange(self.wanted, self.contact)
      if self.stopped then break end
      if ok then
        self.state = "registered"
        self.error = nil
        self:_changed("refreshed")
      else
        self.state = "failed"
        self.error, self.code = err, code
        self:_changed("failed", err)
      end
    end
    self.task = nil
  end)
end

-- The flow of our binding failed (sip.ua_flow): register again now, over a new connection.
function Registration:_flow_failed(why)
  if self.stopped then return end
  self:_changed("flow-failed", why)
  flow.wake(self, "sleeper", "flow failed")
end

--- Stop refreshing, leaving the binding to expire on its own.
function Registration:stop()
  flow.stop(self)
  self.stopped = true
  self.ua.registrations[self] = nil
  flow.wake(self, "sleeper", "stopped")
end

--- Refresh now; returns the 2xx or nil, err, code.
function Registration:refresh_now()
  local ok, err, code, rsp = self:_exchange(self.wanted, self.contact)
  self.state = ok and "registered" or "failed"
  return ok, err, code, rsp
end

--- Remove our binding (Expires: 0, §10.2.2) and stop refreshing. opts.all: every binding of the
-- address-of-record (Contact: *). Returns the 2xx or nil, err, code.
function Registration:unregister(opts)
  opts = opts or {}
  self:stop()
  local rsp, err, code, r = self:_exchange(0, opts.all and "*" or self.contact)
  if rsp then self.state = "unregistered" end
  return rsp, err, code, r
end

--- Seconds left on the binding (0 when expired or not registered).
function Registration:remaining()
  if self.state ~= "registered" or not self.expires then return 0 end
  return math.max(0, self.expires - (loop.now() - self.registered_at))
end

local OPTIONS = require("sip.options").schema("register", {
  registrar = "string", expires = "integer", aor = "string", headers = "table|string", contact = "string",
  refresh = "boolean", on_change = "function", retry_after = "seconds", timeout = "number",
})
local UNREGISTER_OPTIONS = require("sip.options").schema("unregister", { all = "boolean" }, OPTIONS)

function M.register(ua, opts)
  OPTIONS:check(opts)
  if ua.closed then return nil, "the user agent is closed", 503 end
  local self = new(ua, opts)
  local rsp, err, code, r = self:_exchange(self.wanted, self.contact)
  if not rsp then
    self.state = "failed"
    return nil, err, code, r
  end
  self.state = self.wanted > 0 and "registered" or "unregistered"
  if self.state == "registered" then
    ua.registrations[self] = true
    self:_schedule()
  end
  return self
end

function M.unregister(ua, opts)
  UNREGISTER_OPTIONS:check(opts)
  if ua.closed then return nil, "the user agent is closed", 503 end
  local self = new(ua, opts)
  return self:_exchange(0, opts.all and "*" or self.contact)
end

M.Registration = Registration
return M
