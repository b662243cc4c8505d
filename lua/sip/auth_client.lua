--- sip.auth_client: the client side of sip.auth (class sip.auth.client): answers 401/407
-- challenges and pre-authorizes later requests with cached nonces (RFC 3261 §22.2, §22.3).
-- @module sip.auth
local sip = require "sip"
local digest = require("sip.core").digest
local common = require "sip.auth_common"

local type, pairs, ipairs, setmetatable = type, pairs, ipairs, setmetatable
local format = string.format
local base_alg, ha1_for, realm_in = common.base_alg, common.ha1_for, common.realm_in
local argerror, check_request = common.argerror, common.check_request

local M = {}

local Client = {}
Client.__index = Client
Client.__name = "sip.auth.client"
function Client:__tostring() return "sip.auth.client (" .. tostring(self.user) .. ")" end

local CLIENT_OPTIONS = require("sip.options").schema("client", {
  user = "string", username = "string", password = "string", ha1 = "table|string", realm = "string",
})
--- auth.client{user=, password= | ha1 = {MD5=, ["SHA-256"]=, ...}, realm = nil (any)} -> client
function M.client(t)
  if type(t) ~= "table" then argerror(1, "client", "table expected") end
  CLIENT_OPTIONS:check(t)
  local user = t.user or t.username
  if type(user) ~= "string" then argerror(1, "client", "user must be a string") end
  if type(t.password) ~= "string" and type(t.ha1) ~= "table" and type(t.ha1) ~= "string" then
    argerror(1, "client", "password (string) or ha1 (table) is required")
  end
  if t.realm ~= nil and type(t.realm) ~= "string" then argerror(1, "client", "realm must be a string") end
  return setmetatable({
    user = user, password = t.password, ha1 = t.password == nil and t.ha1 or nil, realm = t.realm,
    cache = {}, order = {}, -- realm -> {challenge, nonce, nc, header, from_stale}; realms in order
  }, Client)
end

--- Forget the cached challenges and nonces (a refused cached nonce: start over).
function Client:reset()
  self.cache, self.order = {}, {}
end

local function remember(self, realm, st)
  if not self.cache[realm] then self.order[#self.order + 1] = realm end
  self.cache[realm] = st
end

local function forget(self, realm)
  if not self.cache[realm] then return end
  self.cache[realm] = nil
  for i, r in ipairs(self.order) do
    if r == realm then
      table.remove(self.order, i)
      break
    end
  end
end

local function credentials(self, st, req)
  local alg = st.challenge.algorithm
  local args = {
    challenge = st.challenge, username = self.user, method = req.method, uri = req.uri,
    body = req.body, nc = st.nc, cnonce = digest.random_hex(16),
  }
  if self.password then
    args.password = self.password
  else
    args.ha1, args.ha1_algorithm = ha1_for(self.ha1, alg), base_alg(alg)
  end
  return digest.make_credentials(args)
end

-- Replace the values of header `name` whose realm is in `realms` by `values`.
local function put_credentials(msg, name, realms, values)
  local keep = {}
  for _, v in ipairs(msg:headers(name)) do
    local c = digest.parse_credentials(v)
    local r = c and c.realm or realm_in(v)
    if not realms[r] then keep[#keep + 1] = v end
  end
  msg:remove_header(name)
  for _, v in ipairs(keep) do msg:add_header(name, v) end
  for _, v in ipairs(values) do msg:add_header(name, v) end
end

-- Our credentials in req, by realm: { [realm] = parsed credentials }.
local function sent_credentials(req, name)
  local out = {}
  for _, v in ipairs(req:headers(name)) do
    local c = digest.parse_credentials(v)
    if c then out[c.realm] = c end
  end
  return out
end

-- §8.1.3.5, §22.2: the retry is a new transaction: CSeq + 1 and a fresh top Via branch.
local function next_request(req)
  local r = req:clone()
  local cseq, cm = req.cseq, req.cseq_method
  if cseq then r:set_header("CSeq", format("%d %s", cseq + 1, cm)) end
  local via = r:pop_via()
  if via then
    local branch = sip.branch()
    local v, n = via:gsub(";%s*[Bb][Rr][Aa][Nn][Cc][Hh]%s*=%s*[^;,%s]*", ";branch=" .. branch, 1)
    if n == 0 then v = via .. ";branch=" .. branch end
    r:push_via(v)
  end
  return r
end

local HEADERS = {
  [401] = { "WWW-Authenticate", "Authorization" },
  [407] = { "Proxy-Authenticate", "Proxy-Authorization" },
}

--- Answer the challenges of a 401/407 (RFC 3261 §22.2, §22.3): a new request (CSeq + 1, new
-- branch) carrying credentials for every realm challenged, the strongest algorithm per realm
-- (RFC 7616 §3.7). nil, "authentication failed", code when credentials we sent were refused
-- (never loops on a wrong password); nil, "no supported challenge", code when none is usable.
function Client:authorize(req, resp)
  check_request(req, "authorize")
  if type(resp) ~= "userdata" or not resp.is_response or not HEADERS[resp.status] then
    argerror(2, "authorize", "a 401 or 407 response expected")
  end
  local code = resp.status
  local chname, crname = HEADERS[code][1], HEADERS[code][2]

  local groups, realms = {}, {}
  for _, v in ipairs(resp:headers(chname)) do
    local init = 1
    while init do
      local ch = digest.parse_challenge(v, init)
      if not ch then break end -- Basic, unknown algorithms, bad syntax: not for us
      init = ch.next
      local alg = ch.algorithm
      if (self.realm == nil or ch.realm == self.realm)
          and (self.password or ha1_for(self.ha1, alg)) then
        local g = groups[ch.realm]
        if not g then
          g = {}
          groups[ch.realm] = g
          realms[#realms + 1] = ch.realm
        end
        g[#g + 1] = ch
      end
    end
  end
  if #realms == 0 then return nil, "no supported challenge", code end

  local sent = sent_credentials(req, crname)
  local new = next_request(req)
  local values, answered = {}, {}
  for _, realm in ipairs(realms) do
    local g, st = groups[realm], self.cache[realm]
    local value
    while #g > 0 do
      local i = digest.pick(g)
      if not i then break end
      local ch = g[i]
      local prev = sent[realm]
      if not ch.stale then
        -- credentials we sent (or a nonce we answered for this request, in this header) were
        -- refused: a wrong password. The same nonce may come again for another request or in
        -- the other header (Kamailio's nonces are the same within a second): no refusal then.
        if prev or (st and st.nonce == ch.nonce and st.header == crname and st.call_id == req.call_id) then
          forget(self, realm)
          return nil, "authentication failed", code
        end
      elseif prev and st and st.from_stale and prev.nonce == st.nonce and (prev.nc or 1) <= 1 then
        -- stale again on a nonce fresh from a stale challenge: retry only once
        forget(self, realm)
        return nil, "authentication failed", code
      end
      local nst = {
        challenge = ch, nonce = ch.nonce, header = crname, from_stale = ch.stale, call_id = req.call_id,
        nc = (st and st.nonce == ch.nonce) and st.nc + 1 or 1,
      }
      value = credentials(self, nst, new)
      if value then
        remember(self, realm, nst)
        break
      end
      table.remove(g, i) -- e.g. only an unknown qop offered: try the next one
    end
    if value then
      values[#values + 1] = value
      answered[realm] = true
    end
  end
  if #values == 0 then return nil, "no supported challenge", code end
  put_credentials(new, crname, answered, values)

  -- credentials for other realms we carried (a proxy's and the registrar's) go out with the
  -- next nonce-count, since the servers count nc per nonce
  for _, name in ipairs { "Authorization", "Proxy-Authorization" } do
    local refresh, vals = {}, {}
    for realm, c in pairs(sent_credentials(new, name)) do
      local st = self.cache[realm]
      if not answered[realm] and st and st.header == name and st.nonce == c.nonce then
        st.nc = st.nc + 1
        local v = credentials(self, st, new)
        if v then
          refresh[realm] = true
          vals[#vals + 1] = v
        end
      end
    end
    if #vals > 0 then put_credentials(new, name, refresh, vals) end
  end
  return new
end

--- Add credentials for realms we already know (the cached nonce, next nonce-count) to a fresh
-- request, e.g. a REGISTER refresh, sparing a round trip (RFC 3261 §22.3). realm: only that one.
-- Returns req, modified in place.
function Client:preauthorize(req, realm)
  check_request(req, "preauthorize")
  local by = {}
  for _, r in ipairs(self.order) do
    local st = self.cache[r]
    if realm == nil or r == realm then
      st.nc = st.nc + 1
      local v = credentials(self, st, req)
      if v then
        local h = by[st.header] or { realms = {}, values = {} }
        by[st.header] = h
        h.realms[r] = true
        h.values[#h.values + 1] = v
      end
    end
  end
  for name, h in pairs(by) do put_credentials(req, name, h.realms, h.values) end
  return req
end

--- Realms with cached credentials, in the order they were learned.
function Client:realms()
  local out = {}
  for i, r in ipairs(self.order) do out[i] = r end
  return out
end

return M
