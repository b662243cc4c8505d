--- sip.route: where a request goes next (RFC 3261 §8.1.2, RFC 3263 §4).
-- Every layer asks this module to turn a URI (a Request-URI, a Route, a Contact, an outbound
-- proxy) or a request into destinations, so the rule lives once:
--
--   route.resolve(uri[, opts]) -> list of destinations, in the order to try | nil, err
--   route.hop(uri[, opts])     -> the first destination | nil, err
--   route.target(req)          -> the URI text the next hop comes from (§8.1.2: the first Route
--                                 if it is a loose router, else the Request-URI)
--   route.resolve_request(req[, opts]) -> route.resolve(route.target(req), opts)
--   route.next_hop(req[, opts]) -> the first destination of req | nil, err
--   route.default_port(proto)  -> 5060 (udp, tcp), 5061 (tls), 80 (ws), 443 (wss) | nil for a
--                                 transport we lack
--   route.mark_dead(dest[, seconds]) -> remember that dest failed (§4.3): later lists put it last
--   route.dead_seconds         -> how long a dead destination stays remembered (30)
--
-- uri: text or sip.uri. opts: {source = text} bounds the lookups in flight per source (see
-- sip.resolver). A destination is a table {proto = "udp"|"tcp"|"tls"|"ws"|"wss", host = an IP address
-- (without brackets), port =, target = the name it came from (an SRV target or the URI's host;
-- nil for an IP literal), domain = the URI's host name (what TLS checks, RFC 5922; nil for an IP
-- literal), next = the destination to try after it (§4.3 failover), or nil}. Lists are shared
-- with the cache: read them, never change them.
--
-- RFC 3263 §4: an IP literal (or maddr) needs no lookup; a name with a port gets A/AAAA; a name
-- with transport= gets SRV, then A/AAAA; a bare name gets NAPTR (SIP+D2U, SIP+D2T, SIPS+D2T,
-- SIP+D2W, SIPS+D2W: those of our transports), then SRV for each transport, then A/AAAA. SRV
-- targets are ordered by priority and weighted at random (RFC 2782). Lookups yield the calling
-- coroutine unless the cache answers (then nothing yields); the whole list is cached for the
-- shortest TTL in it. err names what was looked up ("no SRV or A record for example.com: no such
-- domain"). A URI that is not sip: or sips: is refused this way, never raised.
-- @module sip.route
local core = require "sip.core"
local resolver = require "sip.resolver"

local M = {}

local type, tostring, ipairs, sort, random = type, tostring, ipairs, table.sort, math.random
local uri_parse, now = core.uri, core.now

local DEFAULT_PORT = { udp = 5060, tcp = 5060, tls = 5061, ws = 80, wss = 443 }
-- RFC 3263 §4.1, RFC 7118 §5: NAPTR services and SRV prefixes of each transport
local SERVICE = { ["SIP+D2U"] = "udp", ["SIP+D2T"] = "tcp", ["SIPS+D2T"] = "tls",
  ["SIP+D2W"] = "ws", ["SIPS+D2W"] = "wss" }
local SRV_PREFIX = { udp = "_sip._udp.", tcp = "_sip._tcp.", tls = "_sips._tcp.",
  ws = "_sip._ws.", wss = "_sips._ws." }
local SECURE = { tls = true, wss = true }
local SRV_ORDER = { sip = { "udp", "tcp", "tls" }, sips = { "tls" } } -- §4.1 without NAPTR
local MAX_LOOKUPS = 24  -- per resolution: a hostile zone cannot make one request ask more
local MAX_DESTS = 16
local MAX_CACHED = 2048 -- resolutions kept (the resolver caches the records themselves)

--- How long, in seconds, a destination given to `mark_dead` stays remembered (RFC 3263 §4.3).
M.dead_seconds = 30

--- The port a transport uses when the URI names none (RFC 3261 §19.1.2, RFC 7118 §5).
-- @tparam string proto "udp", "tcp", "tls", "ws" or "wss"
-- @treturn ?int 5060 (udp, tcp), 5061 (tls), 80 (ws), 443 (wss), or nil for a transport we lack
function M.default_port(proto) return DEFAULT_PORT[proto] end

local function strip(host) return (host:gsub("^%[(.*)%]$", "%1")) end

local function is_ip(host)
  return host:find("^%d+%.%d+%.%d+%.%d+$") ~= nil or host:find(":", 1, true) ~= nil
end

-- ---- one resolution: the state of its lookups -----------------------------------------------

local Walk = {}
Walk.__index = Walk
Walk.__name = "sip.route.walk"
function Walk:__tostring() return "sip.route.walk: " .. tostring(self.domain) end

local function new_walk(domain, opts)
  return setmetatable({ domain = domain, source = opts and opts.source, lookups = 0,
    ttl = math.huge, list = {}, why = nil }, Walk)
end

function Walk:query(name, qtype)
  if self.lookups >= MAX_LOOKUPS then self.why = "too many lookups"; return nil end
  local prev = self.why
  self.why = nil
  self.lookups = self.lookups + 1
  local recs, a, kind = resolver.query(name, qtype, self.source)
  if not recs then
    if kind == "busy" then self.busy = a end
    if not (qtype == "AAAA" and prev) then -- after a failed A, its reason says it for both
      self.why = kind == "nodata" and "no records" or a
    else
      self.why = prev
    end
    return nil
  end
  if a < self.ttl then self.ttl = a end
  return recs
end

function Walk:add(proto, addr, port, target)
  local l = self.list
  if #l >= MAX_DESTS then return end
  l[#l + 1] = { proto = proto, host = addr, port = port, target = target, domain = self.domain }
end

-- A and AAAA of name, each address a destination
function Walk:addresses(name, proto, port)
  local n = #self.list
  for _, qtype in ipairs { "A", "AAAA" } do
    local addrs = self:query(name, qtype)
    for _, a in ipairs(addrs or {}) do self:add(proto, a, port, name) end
    if self.busy then break end
  end
  return #self.list > n
end

-- RFC 2782: by priority; within one, weighted at random (zero weights first in the draw)
local function srv_order(recs)
  local by = {}
  for _, r in ipairs(recs) do
    if r.target ~= "" and r.target ~= "." then -- "." : decidedly not available here
      local p = by[r.priority]
      if not p then p = {}; by[r.priority] = p end
      p[#p + 1] = r
    end
  end
  local prios = {}
  for p in pairs(by) do prios[#prios + 1] = p end
  sort(prios)
  local out = {}
  for _, p in ipairs(prios) do
    local set = by[p]
    sort(set, function(a, b) return a.weight < b.weight end)
    while #set > 0 do
      local sum = 0
      for _, r in ipairs(set) do sum = sum + r.weight end
      local pick, run = 1, 0
      if sum > 0 then
        local x = random(0, sum)
        for i, r in ipairs(set) do
          run = run + r.weight
          if run >= x then pick = i; break end
        end
      end
      out[#out + 1] = table.remove(set, pick)
    end
  end
  return out
end

function Walk:srv(name, proto)
  local recs = self:query(name, "SRV")
  if not recs then return false end
  local n = #self.list
  for _, r in ipairs(srv_order(recs)) do
    self:addresses(r.target, proto, r.port)
    if self.busy then break end
  end
  return #self.list > n
end

-- §4.1: NAPTR records of domain for our transports (sips: secure ones only), in order
function Walk:naptr(name, secure)
  local recs = self:query(name, "NAPTR")
  if not recs then return false end
  local use = {}
  for _, r in ipairs(recs) do
    local proto = SERVICE[r.service]
    if r.flags == "s" and proto and DEFAULT_PORT[proto] and (SECURE[proto] or not secure)
        and r.replacement ~= "" then
      use[#use + 1] = r
    end
  end
  sort(use, function(a, b)
    if a.order ~= b.order then return a.order < b.order end
    return a.preference < b.preference
  end)
  local n = #self.list
  for _, r in ipairs(use) do
    self:srv(r.replacement, SERVICE[r.service])
    if self.busy then break end
  end
  return #self.list > n
end

-- ---- the cache of whole resolutions, and dead destinations ----------------------------------

local cache, ncached = {}, 0
local dead, ndead = {}, 0

local function dest_key(d) return d.proto .. " " .. d.host .. " " .. d.port end

--- Remember that a destination failed (RFC 3263 §4.3): later lists put it after the live ones
-- (it is still tried) until `seconds` have passed.
-- @tparam table d a destination of `resolve` (its proto, host and port are what count)
-- @tparam[opt=dead_seconds] number seconds how long to remember it
function M.mark_dead(d, seconds)
  local k = dest_key(d)
  if not dead[k] then
    if ndead >= MAX_CACHED then dead, ndead = {}, 0 end -- bounded: forgetting early is safe
    ndead = ndead + 1
  end
  dead[k] = now() + (seconds or M.dead_seconds)
end

local function is_dead(d, t)
  local k = dest_key(d)
  local until_ = dead[k]
  if not until_ then return false end
  if until_ > t then return true end
  dead[k] = nil
  ndead = ndead - 1
  return false
end

-- The list in failover order: live destinations first, dead ones after (all are still tried).
local function chain(list)
  for i = 1, #list do list[i].next = list[i + 1] end
  return list
end

local function live_first(list)
  if ndead == 0 then return list end
  local t, dead_here = now(), nil
  for i, d in ipairs(list) do
    if is_dead(d, t) then
      dead_here = dead_here or {}
      dead_here[i] = true
    end
  end
  if not dead_here then return list end
  local live, late = {}, {}
  for i, d in ipairs(list) do
    local c = { proto = d.proto, host = d.host, port = d.port, target = d.target, domain = d.domain }
    if dead_here[i] then late[#late + 1] = c else live[#live + 1] = c end
  end
  for _, d in ipairs(late) do live[#live + 1] = d end
  return chain(live)
end

local function lookup(u, host, proto, secure, opts)
  local w = new_walk(host, opts)
  if u.port then
    w:addresses(host, proto or (secure and "tls" or "udp"), u.port)
  elseif proto then
    if not (SRV_PREFIX[proto] and w:srv(SRV_PREFIX[proto] .. host, proto)) and not w.busy then
      w:addresses(host, proto, DEFAULT_PORT[proto])
    end
  else
    local scheme = secure and "sips" or "sip"
    if not w:naptr(host, secure) and not w.busy then
      for _, p in ipairs(SRV_ORDER[scheme]) do
        w:srv(SRV_PREFIX[p] .. host, p)
        if w.busy then break end
      end
      if #w.list == 0 and not w.busy then
        local p = secure and "tls" or "udp"
        w:addresses(host, p, DEFAULT_PORT[p])
      end
    end
  end
  if #w.list == 0 then
    if w.busy then return nil, w.busy end
    local what = (u.port or proto) and (u.port and "A or AAAA" or "SRV or A") or "NAPTR, SRV or A"
    return nil, ("no %s record for %s%s"):format(what, host, w.why and (": " .. w.why) or "")
  end
  return chain(w.list), w.ttl
end

--- The destinations of a URI, in the order to try (RFC 3263 §4: NAPTR, SRV, then A/AAAA).
-- Yields the calling coroutine while it looks names up, unless the cache answers.
-- @tparam string|sip.uri uri a sip: or sips: URI
-- @tparam[opt] table opts `{source = text}` bounds the lookups in flight per source (sip.resolver)
-- @treturn table the list of destinations `{proto, host, port, target, domain, next}`, shared with
-- the cache (read it, never change it)
-- @return[2] nil
-- @treturn[2] string what was looked up and why it failed; a URI that is not sip: or sips:
-- is refused this way, never raised
function M.resolve(uri, opts)
  local u = uri
  if type(uri) == "string" then u = uri_parse(uri) end
  if not u then return nil, "cannot route to " .. tostring(uri) end
  local scheme = u.scheme
  if scheme ~= "sip" and scheme ~= "sips" then return nil, "cannot route to a " .. scheme .. " URI" end
  local secure = scheme == "sips"
  local proto = u.transport
  if proto then
    if secure and proto == "tcp" then proto = "tls" end -- RFC 3261 §26.2.2: sips over TCP is TLS
    if secure and proto == "ws" then proto = "wss" end -- RFC 7118 §5.2: and over ws, wss
    if not DEFAULT_PORT[proto] then return nil, "unsupported transport " .. proto end
  end
  local maddr = u:param("maddr")
  local host, numeric
  if maddr then
    host = strip(maddr)
    numeric = is_ip(host)
  else
    host, numeric = u.host, u.is_ip
    if numeric then host = strip(host) end
  end
  if numeric then -- §4.1, §4.2: an address needs no lookup
    local p = proto or (secure and "tls" or "udp")
    -- RFC 5922 §7.2: with maddr, TLS still proves the URI's host name
    return { { proto = p, host = host, port = u.port or DEFAULT_PORT[p],
      domain = SECURE[p] and maddr and not u.is_ip and u.host:lower() or nil } }
  end
  host = host:lower()
  local key = (secure and "s " or "  ") .. host .. " " .. (u.port or "") .. " " .. (proto or "")
  local c = cache[key]
  if c and c.expires > now() then return live_first(c.list) end
  local list, ttl = lookup(u, host, proto, secure, opts)
  if not list then return nil, ttl end
  if ttl > 0 then
    if not c then
      if ncached >= MAX_CACHED then cache, ncached = {}, 0 end
      ncached = ncached + 1
    end
    cache[key] = { list = list, expires = now() + ttl }
  end
  return live_first(list)
end

--- The first destination of a URI: `resolve(uri, opts)[1]`.
-- @tparam string|sip.uri uri a sip: or sips: URI
-- @tparam[opt] table opts as for `resolve`
-- @treturn table a destination (its `next` is the one to fail over to)
-- @return[2] nil
-- @treturn[2] string the error of `resolve`
function M.hop(uri, opts)
  local list, err = M.resolve(uri, opts)
  if not list then return nil, err end
  return list[1]
end

--- The URI a request's next hop comes from (RFC 3261 §8.1.2): its first Route if that is a loose
-- router (`;lr`), else its Request-URI (a strict router already is the Request-URI, §12.2.1.1).
-- @tparam sip.message req a request
-- @treturn string the URI text
function M.target(req)
  local r = req:header("Route") and req:addrs("Route")[1]
  if r then
    local u = uri_parse(r.uri)
    if not u or u:param("lr") then return r.uri end
    -- a strict router is already the Request-URI (§12.2.1.1, §16.6 step 6)
  end
  return req.uri
end

--- The destinations of a request: `resolve(target(req), opts)`.
-- @tparam sip.message req a request
-- @tparam[opt] table opts as for `resolve`
-- @treturn table the list of destinations
-- @return[2] nil
-- @treturn[2] string the error
function M.resolve_request(req, opts) return M.resolve(M.target(req), opts) end

--- The first destination of a request: `hop(target(req), opts)`.
-- @tparam sip.message req a request
-- @tparam[opt] table opts as for `resolve`
-- @treturn table a destination
-- @return[2] nil
-- @treturn[2] string the error
function M.next_hop(req, opts) return M.hop(M.target(req), opts) end

return M
