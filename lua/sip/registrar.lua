--- sip.registrar: REGISTER processing (RFC 3261 §10.3) over a location store (sip.location).
--
--   local reg = registrar.new{ location = store, domains = fn(host) | {"example.com", ...},
--     domain = "example.com" (the one name of every host domains accepts: bob@127.0.0.1 and
--     bob@example.com are then one address-of-record),
--     auth = sip.auth server | nil, min_expires = 60, max_expires = 7200, default_expires = 3600,
--     max_contacts = nil, path = true, auth_info = false (Authentication-Info with rspauth in the
--     200, RFC 3261 §20.6), stateless_challenges = true (§8.2.7), clock = sip.loop.time,
--     on_authenticated = fn(req, user) (called when a REGISTER's credentials check out) }
--   reg:handle(req)      -- answers the REGISTER (200 listing every binding, or the error)
--   reg:process(req)     -- the same decision without answering: status, reason, opts
--   reg:lookup(uri)      -- the current bindings of an address-of-record
--
-- NAT (RFC 3581): each binding keeps the address the REGISTER came from; when the UA sits behind
-- a NAT (its Contact names another address than the packet's source, it asked with rport from
-- elsewhere, or it registered over a connection) binding.nat is set and requests for it go to
-- that source, so the NAT binding the UA keeps open is the way in.
local sip = require "sip"
local location = require "sip.location"
local loop_time = require("sip.loop").time

local M = {}

local type, tostring, ipairs, pairs, setmetatable = type, tostring, ipairs, pairs, setmetatable
local format, concat, sort, floor, byte = string.format, table.concat, table.sort, math.floor, string.byte
local uri_parse = sip.uri

local Registrar = {}
Registrar.__index = Registrar
Registrar.__name = "sip.registrar"

local SUPPORTED = { path = true } -- option tags we support as a registrar (§10.3 step 2)

local argerror = require("sip.args").raiser("registrar")

-- domains: nil (any), a list of names, a set, or a function(host) -> boolean
local function domain_check(d)
  if d == nil then return function() return true end end
  if type(d) == "function" then return d end
  if type(d) ~= "table" then argerror("domains must be a list or a function") end
  local set = {}
  for k, v in pairs(d) do
    if type(k) == "number" then set[tostring(v):lower()] = true else set[tostring(k):lower()] = true end
  end
  return function(host) return set[host:lower()] == true end
end

--- §10.3 step 4, who may change the bindings of an address-of-record. policy: "own" (a user only
-- its own address), "own-or-free" (also the addresses of our domain that belong to no user,
-- known(name) false: devices, services, test agents) or fn(user, to_uri, to_user) deciding
-- itself. Returns the decision fn(user, to_uri, to_user) -> boolean, the form sip.auth's
-- may_register option takes (to_user: the To URI's user part, "" none, false unparsable; parsed
-- from to_uri when nil), or nil, err for any other policy.
function M.policy(policy, known)
  if type(policy) == "function" then return policy end
  if policy ~= "own" and policy ~= "own-or-free" then
    return nil, "register_policy must be \"own\", \"own-or-free\" or a function"
  end
  local free = policy == "own-or-free"
  return function(user, to, to_user)
    if to_user == nil then
      local u = to and sip.uri(to)
      to_user = u and (u.user or "") or false
    end
    if not to_user then return false end
    if to_user == user then return true end
    return free and not known(to_user)
  end
end

function M.new(t)
  t = t or {}
  if type(t) ~= "table" then argerror("table expected") end
  if t.domain ~= nil and type(t.domain) ~= "string" then argerror("domain must be a string") end
  if t.on_authenticated ~= nil and type(t.on_authenticated) ~= "function" then
    argerror("on_authenticated must be a function")
  end
  local loc = t.location
  if loc == nil or type(loc) == "string" then
    local err
    loc, err = location.open(loc, { clock = t.clock })
    if not loc then return nil, err end
  end
  local self = setmetatable({
    location = loc,
    is_domain = domain_check(t.domains),
    domain = t.domain and t.domain:lower(),
    auth = t.auth,
    min_expires = t.min_expires or 60,
    max_expires = t.max_expires or 7200,
    default_expires = t.default_expires or 3600,
    max_contacts = t.max_contacts,
    path = t.path ~= false,
    auth_info = t.auth_info and true or false,
    stateless_challenges = t.stateless_challenges ~= false,
    clock = t.clock or loop_time,
    on_authenticated = t.on_authenticated,
    aor_cache = {}, aor_count = 0,
  }, Registrar)
  if self.min_expires > self.default_expires or self.default_expires > self.max_expires then
    argerror("need min_expires <= default_expires <= max_expires")
  end
  return self
end

-- §20.17 Date, RFC 1123 form in GMT; built once per second
local date_at, date_value = -1, nil
local function date_header(now)
  if now ~= date_at then
    date_at, date_value = now, os.date("!%a, %d %b %Y %H:%M:%S GMT", now)
  end
  return date_value
end

-- Contact params other than expires and q, as ";a=b;c" (kept with the binding and shown back).
local function other_params(params)
  local out
  for k, v in pairs(params) do
    if k ~= "expires" and k ~= "q" then
      out = out or {}
      out[#out + 1] = v == true and (";" .. k) or (";" .. k .. "=" .. v)
    end
  end
  if not out then return nil end
  sort(out)
  return concat(out)
end

local function bare(host)
  if byte(host, 1) == 91 then return host:sub(2, -2) end -- "[v6]"
  return host
end

-- Is the UA behind a NAT (or on a connection it opened)? Then requests go to the source.
local function behind_nat(req, contact_uri, src)
  if not src then return false end
  if src.proto ~= "udp" then return true end
  if bare(contact_uri.host) ~= src.host then return true end
  local top = req:header("Via")
  if top and top:find("rport", 1, true) then
    local v = req:via()
    if v and v.rport == true and (bare(v.host) ~= src.host or (v.port or 5060) ~= src.port) then return true end
  end
  return false
end

local function q_of(b) return b.q or 1 end

-- Highest q first (§16.6: targets in q order); registration order among equals.
local function sort_bindings(list)
  for i, b in ipairs(list) do b._i = i end
  sort(list, function(a, b)
    local qa, qb = q_of(a), q_of(b)
    if qa ~= qb then return qa > qb end
    return a._i < b._i
  end)
  for _, b in ipairs(list) do b._i = nil end
end

--- The Contact values of a 200 (§10.3 step 8): every binding with the seconds it has left.
local function contact_line(b, now)
  local left = b.expires - now
  if left < 0 then left = 0 end
  local q = b.q
  if q then
    return "Contact: <" .. b.contact .. ">" .. (b.params or "") .. ";q=" ..
      (q == floor(q) and format("%d", q) or format("%.3g", q)) .. ";expires=" .. left .. "\r\n"
  end
  return "Contact: <" .. b.contact .. ">" .. (b.params or "") .. ";expires=" .. left .. "\r\n"
end

function M.contact_lines(list, now)
  if #list == 1 then return contact_line(list[1], now) end
  local out = {}
  for i, b in ipairs(list) do out[i] = contact_line(b, now) end
  return concat(out)
end

--- A list of {name, value} (sip.auth's challenges) as header lines (sip.format_headers).
M.header_lines = sip.format_headers

local function fail(status, reason, headers)
  return status, reason, headers and { headers = headers } or nil
end

-- The AOR of a To URI text: {sip=, ours=, aor=}, kept in a bounded cache (UAs refresh; 65536
-- entries, a few MB, hold a large registrar's whole population, which refreshes in turn).
function Registrar:aor_of(text)
  local cache = self.aor_cache
  local a = cache[text]
  if a then return a end
  local u = uri_parse(text)
  if u and (u.scheme == "sip" or u.scheme == "sips") then
    local ours = self.is_domain(u.host)
    a = { sip = true, ours = ours, aor = location.aor(u, ours and self.domain or nil) }
  else
    a = { sip = false }
  end
  if self.aor_count >= 65536 then
    cache = {}
    self.aor_cache, self.aor_count = cache, 0
  end
  cache[text] = a
  self.aor_count = self.aor_count + 1
  return a
end

--- Decide the answer to a REGISTER (§10.3 steps 2-8) and commit its binding changes.
-- Returns status, reason, opts (for req:reply) and, on success, the bindings now current.
function Registrar:process(req)
  local now = self.clock()
  -- step 2: Require names extensions we must understand
  local require_h = req:header("Require")
  if require_h then
    local unsupported = {}
    for _, tag in ipairs(sip.values(req, "Require")) do
      if not SUPPORTED[tag:lower()] then unsupported[#unsupported + 1] = tag end
    end
    if #unsupported > 0 then
      return fail(420, "Bad Extension", "Unsupported: " .. concat(unsupported, ", ") .. "\r\n")
    end
  end
  -- steps 3, 4: who is asking, and may they change this address-of-record?
  local user
  if self.auth then
    local ok, r = self.auth:check(req)
    if not ok then return r.status, r.reason, { headers = M.header_lines(r.headers) } end
    user = r
    if self.on_authenticated then self.on_authenticated(req, user) end
  end
  -- step 5: the AOR, from To, in canonical form
  local a = self:aor_of(req.to_uri or "")
  if not a.sip then return fail(400, "Invalid AOR: To must be a SIP or SIPS URI") end
  if not a.ours then return fail(404, "Not Found (not our domain)") end
  local aor = a.aor
  -- step 6: Contact
  local contacts = req:addrs("Contact")
  if not contacts then return fail(400, "Bad Contact header") end
  local expires_h = req.expires
  if expires_h == nil and req:header("Expires") then expires_h = self.default_expires end
  local call_id, cseq = req.call_id, req.cseq
  local has_path = req:header("Path") ~= nil
  local loc = self.location
  local current, gerr = loc:get(aor)
  if not current then return fail(500, "Location Service Failure: " .. tostring(gerr)) end

  local star = false
  for _, c in ipairs(contacts) do if c.star then star = true end end
  local list
  if star then
    if #contacts > 1 or expires_h ~= 0 then
      return fail(400, "Invalid Contact: * needs Expires: 0 and no other Contact")
    end
    -- step 7 for "*": a binding of another Call-ID goes; of this one only with a higher CSeq
    for _, b in ipairs(current) do
      if b.call_id == call_id and b.cseq and cseq <= b.cseq then return fail(400, "Out Of Order CSeq") end
    end
    list = {}
  elseif #contacts == 0 then
    list = current -- a query: nothing changes
  else
    -- step 7: every expiry first, so nothing is applied when one is refused (the tables that
    -- only several Contacts need are made for them alone)
    local many = #contacts > 1
    local ex = many and {} or nil
    local e1
    for i, c in ipairs(contacts) do
      local e = c.expires
      if e == nil then
        e = (c.params.expires == nil) and expires_h or nil
        e = e or self.default_expires
      end
      if e > 0 and e < self.min_expires then
        return fail(423, "Interval Too Brief", "Min-Expires: " .. self.min_expires .. "\r\n")
      end
      if e > self.max_expires then e = self.max_expires end
      if many then ex[i] = e else e1 = e end
    end
    list = {}
    local parsed -- the stored Contacts parsed so far, by index; made at the first need
    for i, b in ipairs(current) do list[i] = b end
    local fresh = many and {} or nil -- bindings this request made: a repeated Contact replaces them
    local src = req.source
    local path
    if self.path and has_path then path = req:headers("Path") end
    local ua = req:header("User-Agent")
    for i, c in ipairs(contacts) do
      local cu = uri_parse(c.uri)
      if not cu then return fail(400, "Bad Contact URI") end
      -- §10.3 step 7: the binding with an equal URI (§19.1.4); equal text is the common case
      local j
      for k = 1, #list do
        local other = list[k].contact
        if other == c.uri then
          j = k
          break
        end
        parsed = parsed or {}
        local pk = parsed[k]
        if pk == nil then
          pk = uri_parse(other) or false
          parsed[k] = pk
        end
        if pk and pk == cu then
          j = k
          break
        end
      end
      local e = many and ex[i] or e1
      if j and not (fresh and fresh[list[j]]) then
        local b = list[j]
        if b.call_id == call_id and b.cseq and cseq <= b.cseq then return fail(400, "Out Of Order CSeq") end
      end
      local nb
      if e > 0 then
        nb = {
          contact = c.uri, expires = now + e, q = c.q, call_id = call_id, cseq = cseq,
          params = other_params(c.params), path = path, source = src,
          nat = behind_nat(req, cu, src) or nil, updated = now, user_agent = ua,
        }
        if fresh then fresh[nb] = true end
      end
      if j then
        if nb then
          list[j] = nb
        else
          table.remove(list, j)
          if parsed then
            for k = j, #list + 1 do parsed[k] = parsed[k + 1] end
          end
        end
      elseif nb then
        list[#list + 1] = nb
        if parsed then parsed[#list] = cu end
      end
    end
    if self.max_contacts and #list > self.max_contacts then
      return fail(403, "Too Many Contacts (at most " .. self.max_contacts .. ")")
    end
    if #list > 1 then sort_bindings(list) end
  end
  if list ~= current then
    local ok, perr = loc:put(aor, list)
    if not ok then return fail(500, "Location Service Failure: " .. tostring(perr)) end
  end
  -- step 8: every current binding, with Date; Path back to a UA that supports it (RFC 3327 §5.3)
  local h = M.contact_lines(list, now) .. "Date: " .. date_header(now) .. "\r\n"
  if self.path and has_path then
    local sup = req:header("Supported")
    if sup and concat(req:headers("Supported"), ","):lower():find("%f[%w]path%f[^%w]") then
      h = h .. "Path: " .. concat(req:headers("Path"), ", ") .. "\r\n"
    end
  end
  if self.auth_info and self.auth and user then -- §20.6: MAY; it costs a digest per REGISTER
    local info = self.auth:authentication_info(req, user)
    if info then h = h .. "Authentication-Info: " .. info .. "\r\n" end
  end
  return 200, nil, { headers = h }, list, aor, user
end

--- Answer a REGISTER. Returns the status sent, and the AOR and bindings on success.
-- RFC 3261 §8.2.7: a challenge is answered as a stateless UAS would, so a flood of
-- unauthenticated requests leaves no transaction behind (its server transaction would otherwise
-- keep request and response for Timer J, 32 s over UDP). A retransmitted REGISTER whose 401 was
-- lost just gets a fresh challenge.
function Registrar:handle(req)
  local status, reason, opts, list, aor = self:process(req)
  local stateless = status == 401 and self.stateless_challenges
  if stateless then -- §8.2.7: the To tag of a stateless answer is the same for a retransmission
    opts = opts or {}
    opts.to_tag = req.stateless_tag
  end
  req:reply(status, reason, opts)
  if stateless then
    local txn = req.txn
    if txn and txn.state ~= "terminated" then txn:terminate() end
  end
  return status, aor, list
end

--- The bindings of an address-of-record (uri: text or sip.uri): a list | nil, err.
function Registrar:lookup(uri)
  local u = uri
  if type(u) ~= "userdata" then u = uri_parse(tostring(uri)) end
  local aor, err = location.aor(u or tostring(uri), u and self.domain and self.is_domain(u.host) and self.domain or nil)
  if not aor then return nil, err end
  return self.location:get(aor)
end

--- Remove expired bindings now; returns how many went.
function Registrar:sweep() return self.location:sweep(self.clock()) end

return M
