--- sip.proxy: a transaction-stateful proxy (RFC 3261 §16) with a registrar (§10.3), routed by Lua.
--
--   local px = sip.proxy {
--     listen = {"udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"}, realm = "example.com",
--     users = {alice = "secret"} | "users.txt" | fn,   -- digest: 401 for REGISTER, 407 for
--                                                       -- requests from local users
--     location = "memory" | "sqlite:PATH" | store, record_route = true, relay = "local",
--     secret = "16 or more bytes",                     -- the Record-Route tokens' key (default:
--                                                       -- random per process; give the same
--                                                       -- one to every process of a cluster)
--     route = function(req, px) ... end,               -- default: proxy.default_route
--     route_in_dialog = false,                         -- true: the route also gets requests
--                                                       -- within dialogs (default: the stack
--                                                       -- relays them, proxy.dialog_route)
--     log = function(level, line) end, trace = function(dir, bytes, peer) end }
--
-- The route function runs in a coroutine per request outside dialogs (requests with a To tag go
-- to proxy.dialog_route unless route_in_dialog = true), after the §16.3 checks and the §16.4 route
-- preprocessing; it may look at and change req, answer it (px:reply), look up the location
-- service (px:lookup) and relay it (px:relay), which forwards provisional and 2xx responses
-- upstream as they come and returns the best final response (§16.7) without sending it, so the
-- route can try something else; when the route returns, the best response goes upstream.
-- ACK for a 2xx and 2xx responses matching no transaction are forwarded statelessly; CANCEL is
-- answered and cancels the pending branches (§16.10).
--
-- The relay policy (what keeps the proxy from being an open relay) holds for every route
-- function, in px:relay: a request goes to a foreign target (its own Request-URI, a Route it
-- brought, a URI the route names) only when it came along a Route this proxy recorded for its
-- dialog (the Record-Route's token checks out), when px:authorize proved it comes from one of
-- our users (relay = "local"), or when relay = true; targets from the location service are
-- always allowed. px:relay(req, targets, {trust = true}) relaxes it for one request, explicitly.
-- An ACK for a 2xx is relayed along such a Route, or when it matches a 2xx we relayed.
--
--   px:relay(req[, targets[, {parallel=, timeout=, trust=}]]) -> best final response (message or table)
--   px:reply(req, code[, reason[, opts]])     px:lookup(uri) -> targets (highest q first)
--   px:authorize(req) -> true | false (answered 407/403)   px:is_local(uri)   px:close()
--   px.registrar (sip.registrar), px.location (the store), px.ep (sip.endpoint)
--   proxy.default_route(req, px): the routing used without a route function, to fall back on
-- @module sip.proxy
require "sip" -- req:reply formats tables of headers through it
local core = require "sip.core"
local loop = require "sip.loop"
local endpoint = require "sip.endpoint"
local location = require "sip.location"
local registrar = require "sip.registrar"
local sip_route = require "sip.route"
local egress = require "sip.egress"

local M = {}

local type, tostring, ipairs, pairs, setmetatable, pcall, xpcall, select =
  type, tostring, ipairs, pairs, setmetatable, pcall, xpcall, select
local format, concat, floor = string.format, table.concat, math.floor
local uri_parse, next_hop, timer = core.uri, sip_route.next_hop, core.timer
local traceback = debug.traceback

local Proxy = {}
Proxy.__index = Proxy
Proxy.__name = "sip.proxy"
function Proxy:__tostring()
  return ("sip.proxy (%s, %s)"):format(self.domain or "no domain", self.ep and self.ep:where() or "closed")
end

local PENDING = { trying = true, proceeding = true }
local NO_OPTS = {}
local token, token_check = core.token, core.token_check
local RR_METHODS = { INVITE = true, SUBSCRIBE = true, REFER = true, NOTIFY = true }
-- §16.7 step 6: among 4xx, those that let the client resubmit come first
local RESUBMIT = { [401] = true, [407] = true, [415] = true, [420] = true, [484] = true }
local LEVELS = { error = 1, warn = 2, info = 3, debug = 4 }
local ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, REGISTER, SUBSCRIBE, NOTIFY, REFER, INFO, UPDATE, PRACK"

local argerror = require("sip.args").raiser("proxy")

local function strip_brackets(h)
  if h:byte(1) == 91 then return h:sub(2, -2) end -- "[v6]"
  return h
end

-- "6" for an IPv6 address, "4" for an IPv4 one, "" for a name (its family is the resolver's).
local family_of = egress.family

-- The key of self.via and self.rr for a destination or a source: by transport and family,
-- kept in the table (a binding's destination serves every request to it).
local function side(p)
  local k = p.side
  if not k then
    k = p.proto .. family_of(p.host)
    p.side = k
  end
  return k
end

-- A peer {proto=, host=, port=} as the log shows it.
local function peer_text(p)
  if not p then return "?" end
  local h = tostring(p.host)
  if h:find(":", 1, true) and h:byte(1) ~= 91 then h = "[" .. h .. "]" end
  return p.proto .. ":" .. h .. ":" .. tostring(p.port)
end

local function check_level(v)
  if LEVELS[v] then return true end
  return false, "must be \"error\", \"warn\", \"info\" or \"debug\", got " .. tostring(v)
end
local OPTIONS = require("sip.options").schema("proxy", {
  realm = "string", domains = "table", users = "table|string|function", algorithms = "table",
  location = "string|table", route = "function", route_in_dialog = "boolean",
  record_route = "boolean|string|function", relay = "string|boolean", secret = "string",
  register_policy = "string|function", timer_c = "seconds", sweep_interval = "number",
  min_expires = "integer", max_expires = "integer", default_expires = "integer", clock = "function",
  log = "function", log_level = check_level, trace = "function", fast_challenges = "boolean",
  lockout = "table|boolean", replay_slots = "integer", nonce_ttl = "number",
}, endpoint.TRANSPORT_OPTIONS)

--- sip.proxy{...} -> proxy | nil, err (a listener or the users file). See the top of this file;
-- more options: domains (names served besides realm), algorithms (digest, default
-- {"SHA-256", "MD5"}), register_policy ("own-or-free" | "own" | fn(user, to_uri)), timer_c (s,
-- 180), min_expires/max_expires/default_expires, sweep_interval (s, 60; 0: none), clock,
-- the transport options of sip.endpoint (t1/t2/t4, tls_*, advertise ...), log_level ("info"), fast_challenges
-- (true: the C stack sends the 401 of a REGISTER without credentials, see gate_challenges;
-- a route function set on px.route after this call does not turn it off: pass it here), limits
-- (the endpoint's connection limits), lockout (sip.auth's limits on failed guesses: a table of
-- thresholds, an auth.lockout{} object, or false), nonce_ttl (s a nonce is good for, 300),
-- replay_slots (nonces tracked against replay, 65536), idle_timeout and mtu (the endpoint's).
function M.new(t)
  t = OPTIONS:check(t)
  if t.secret ~= nil and (type(t.secret) ~= "string" or #t.secret < 16) then
    argerror("secret must be a string of at least 16 bytes")
  end
  if t.route ~= nil and type(t.route) ~= "function" then argerror("route must be a function") end
  if t.log ~= nil and type(t.log) ~= "function" then argerror("log must be a function") end
  if t.trace ~= nil and type(t.trace) ~= "function" then argerror("trace must be a function") end
  local relay = t.relay == nil and "local" or t.relay
  if relay ~= "local" and relay ~= true and relay ~= false then argerror("relay must be \"local\", true or false") end
  local self = setmetatable({
    route = t.route,
    route_in_dialog = t.route_in_dialog or false,
    realm = t.realm,
    record_route = t.record_route == nil and true or t.record_route,
    relay_policy = relay,
    timer_c = t.timer_c or 180,
    t1 = t.t1 or 0.5,
    clock = t.clock or loop.time,
    log_fn = t.log,
    log_level = LEVELS[t.log_level or "info"] or 3,
    contexts = setmetatable({}, { __mode = "k" }), -- server txn -> context of the request
    ucache = {}, ucount = 0,
    loop_cur = {}, loop_old = {}, loop_n = 0, branch_n = 0, branch_prefix = core.branch():sub(8, 19) .. ".",
    secret = t.secret or assert(core.digest.random_hex(32)),
    acks_cur = {}, acks_old = {}, acks_n = 0, tokens_cur = {}, tokens_old = {}, tokens_n = 0,
    via_for = nil,
  }, Proxy)
  self.log_on = self.log_fn ~= nil
  -- our Via for a branch failing over to another destination (RFC 3263 §4.3): one closure
  self.via_for = function(d) return self:new_branch(d) end
  loop.opened(self) -- a run() that ends by an error closes it

  -- the users, read here so the registration policy knows who owns which address
  local users = t.users
  if type(users) == "string" then
    local u, err = require("sip.auth").read_users_file(users)
    if not u then return nil, err end
    users = u
  end
  self.users = users
  if users ~= nil then
    if type(users) ~= "table" and type(users) ~= "function" then
      argerror("users must be a table, a file name or a function")
    end
    if not self.realm then argerror("users need a realm") end
    local auth = require "sip.auth"
    -- §10.3 step 4 (registrar.policy), checked by sip.auth once the credentials hold
    local may_register, perr = registrar.policy(t.register_policy or "own", function(name)
      if type(users) == "table" then return users[name] ~= nil end
      return users(name, self.realm) ~= nil
    end)
    if not may_register then argerror(perr) end
    -- the nonce-count table holds every nonce answered within nonce_ttl: past its size,
    -- answers on nonces it had to forget come back stale (RFC 7616 §3.4); 65536 is 2 MB
    -- one count of failed guesses for both servers (the 401 and the 407 of a user are one
    -- attack), logged with the proxy's own logger
    local common = { realm = self.realm, users = users, algorithms = t.algorithms, may_register = may_register,
      replay_slots = t.replay_slots or 65536, nonce_ttl = t.nonce_ttl,
      lockout = t.lockout ~= false and auth.lockout(t.lockout) or false,
      log = function(level, line) self:log(level, "%s", line) end }
    self.auth_www = auth.server(common)
    common.proxy = true
    self.auth_proxy = auth.server(common)
  end

  local eopts = endpoint.TRANSPORT_OPTIONS:pick(t)
  eopts.handler = function(req) return self:serve(req) end
  local ep, err = endpoint.new(eopts)
  if not ep then return nil, err end
  self.ep = ep
  ep.on_stray = function(rsp)
    local ok, serr = pcall(self.stray, self, rsp)
    if not ok then self:log("error", "stray response: %s", serr) end
  end
  if t.trace then ep.stack:on("trace", t.trace) end
  self:learn_addresses(t.domains)

  local loc = t.location
  if loc == nil or type(loc) == "string" then
    local lerr
    loc, lerr = location.open(loc, { clock = self.clock })
    if not loc then
      ep:close()
      return nil, lerr
    end
    self.own_location = true
  end
  self.location = loc
  self.registrar = assert(registrar.new {
    location = loc, auth = self.auth_www, clock = self.clock,
    domains = function(host) return self:is_local_host(host) end, domain = self.domain,
    -- a connection that carried valid credentials is its user's: the connection limits keep it
    on_authenticated = function(req) self.ep:trust(req) end,
    on_flow = function(conn, seconds) self.ep:hold(conn, seconds) end, -- RFC 5626: not idled out
    min_expires = t.min_expires, max_expires = t.max_expires, default_expires = t.default_expires,
  })
  self:gate_challenges(t)
  local every = t.sweep_interval == nil and 60 or t.sweep_interval
  if every > 0 then
    self.sweeper = timer(every, every, function()
      local n = loc:sweep(self.clock())
      if n > 0 then self:log("debug", "swept %d expired binding%s", n, n == 1 and "" or "s") end
    end)
  end
  return self
end

-- RFC 3261 §8.2.7: a REGISTER for our domain without credentials gets its 401 from the C stack
-- (stack:gate), with the challenge sip.auth would send and nothing else, so the flood of first
-- REGISTERs costs no transaction and no call into Lua. Only while Lua would add nothing: the
-- default route, no line logged per transaction, challenges answered statelessly, our own
-- nonces; the gate leaves to Lua whatever §16.3, §16.4 and §10.3 might answer otherwise (Route,
-- Proxy-Require, Require, Max-Forwards 0, several Vias, another domain, any credentials).
function Proxy:gate_challenges(t)
  if not self.auth_www or t.fast_challenges == false or self.route then return end
  if (self.log_on and self.log_level >= 3) or not self.registrar.stateless_challenges then return end
  local g = self.auth_www:gate_config("REGISTER")
  if not g then return end
  local hosts = {}
  for h in pairs(self.names) do hosts[#hosts + 1] = h end
  for h in pairs(self.hosts) do hosts[#hosts + 1] = h end
  g.hosts = hosts
  assert(self.ep.stack:gate(g))
  self.gated = true
end

-- Our addresses: what a Route or Request-URI naming us looks like, the Via sent-by per
-- transport, the Record-Route values.
-- Keyed by transport and by transport and family ("udp", "udp6"): a message leaves from the
-- listener of its destination's family, and names that one.
function Proxy:learn_addresses(domains)
  local me, hosts, ports, names = {}, {}, {}, {}
  self.via, self.rr, self.sent_by = {}, {}, {}
  for _, l in ipairs(self.ep.listeners) do
    local host, port = self.ep.advertise or l.host, l.port
    if host == "0.0.0.0" then host = "127.0.0.1" elseif host == "::" then host = "::1" end
    if host:find(":", 1, true) and host:byte(1) ~= 91 then host = "[" .. host .. "]" end
    local bare = strip_brackets(host):lower()
    for _, h in ipairs { bare, strip_brackets(l.host):lower() } do
      if h == "0.0.0.0" then h = "127.0.0.1" elseif h == "::" then h = "::1" end
      me[h .. ":" .. l.port] = true
      hosts[h] = true
    end
    ports[l.port] = true
    local key = l.proto .. family_of(l.host)
    if not self.via[key] then
      local sb = host .. ":" .. port
      self.sent_by[#self.sent_by + 1] = sb
      self.via[key] = "SIP/2.0/" .. l.proto:upper() .. " " .. sb .. ";branch=z9hG4bK"
      self.rr[key] = "<sip:" .. sb .. (l.proto == "udp" and "" or ";transport=" .. l.proto) .. ";lr"
      if not self.via[l.proto] then self.via[l.proto], self.rr[l.proto] = self.via[key], self.rr[key] end
    end
  end
  if self.realm then names[self.realm:lower()] = true end
  for _, d in ipairs(domains or {}) do names[d:lower()] = true end
  -- one domain for all our host names: its users' addresses are one address-of-record each
  self.domain = self.realm and self.realm:lower() or (domains and domains[1] and domains[1]:lower())
  self.me, self.hosts, self.ports, self.names = me, hosts, ports, names
end

-- The port a URI without one means (§19.1.2: by its scheme, or its transport)
local function default_port(u)
  return sip_route.default_port(u.scheme == "sips" and "tls" or (u.transport or "udp")) or 5060
end

--- Is host one of ours (a served domain or one of our addresses)?
function Proxy:is_local_host(host)
  host = strip_brackets(host):lower()
  return self.names[host] == true or self.hosts[host] == true
end

--- Is uri in a domain we serve (its users are in our location service)? uri: text or sip.uri.
function Proxy:is_local(u)
  if type(u) ~= "userdata" then u = uri_parse(tostring(u)) end
  if not u or (u.scheme ~= "sip" and u.scheme ~= "sips") then return false end
  local host = strip_brackets(u.host):lower()
  if self.names[host] then return true end
  return self.me[host .. ":" .. (u.port or default_port(u))] == true
end

--- Does uri (a sip.uri) name this proxy itself (a Route we put, one of our addresses)?
function Proxy:is_me(u)
  if not u or (u.user and u.user ~= "") then return false end
  local host = strip_brackets(u.host):lower()
  local port = u.port
  if self.names[host] then return port == nil or self.ports[port] == true end
  return self.me[host .. ":" .. (port or default_port(u))] == true
end

-- What routing needs to know of a Request-URI, by its text: parsed once, kept in a bounded
-- cache (the same few URIs come again and again: our domain's users, our own address).
local FACTS_MAX = 4096
function Proxy:facts(text)
  local f = self.ucache[text]
  if f then return f end
  local u = uri_parse(text)
  if not u then return nil end
  local scheme = u.scheme
  local sipish = scheme == "sip" or scheme == "sips"
  f = { u = u, sip = sipish }
  if sipish then
    f.me = self:is_me(u)
    f.is_local = self:is_local(u)
    f.aor = location.aor(u, f.is_local and self.domain or nil)
    f.user = u.user
    f.lr = u:param("lr") and true or false
    f.host = u.host
    f.host_local = self:is_local_host(u.host)
  end
  if self.ucount >= FACTS_MAX then self.ucache, self.ucount = {}, 0 end
  self.ucache[text] = f
  self.ucount = self.ucount + 1
  return f
end

--- Log a line through the log option, at level "error", "warn", "info" or "debug" (string.format
-- of fmt and the rest); nothing below log_level.
function Proxy:log(level, fmt, ...)
  if self.log_on and (LEVELS[level] or 3) <= self.log_level then
    self.log_fn(level, select("#", ...) > 0 and format(fmt, ...) or fmt)
  end
end

--- Answer req (a request being served) ourselves.
function Proxy:reply(req, code, reason, opts)
  local ctx = self.contexts[req.txn]
  if ctx then ctx.status = code end
  return req:reply(code, reason, opts)
end

-- Where a request for a registered contact goes when no Route says otherwise (§8.1.2 with the
-- contact as Request-URI); nil leaves it to the route set.
local contact_dest = sip_route.hop

-- -------------------------------------------------------------------------------------------------
-- §16.3 request validation, §16.4 route information preprocessing

-- Loop detection (§16.3 step 4) compares what stays the same when a request comes back to us
-- (§16.6 step 8 lists the fields). Rather than a hash carried in our branch, we remember the
-- keys of the requests we forwarded lately (two generations, bounded): a request that carries
-- one of our Vias and whose key we forwarded has looped; a spiral has another Request-URI, so
-- another key. req.loop_key is that key, a keyed hash of Request-URI, From, To, Call-ID and
-- CSeq computed in C. The top Via is left out: it changes on every hop. Proxy-Require and
-- Proxy-Authorization too: a resubmission with credentials has a new CSeq anyway.

-- Is there a To tag? (sip.tag_of)
local tag_of = require("sip").tag_of
local function has_to_tag(req) return tag_of(req, "To") ~= nil end

local LOOP_KEYS = 16384
function Proxy:remember(key)
  local cur = self.loop_cur
  if cur[key] then return end
  if self.loop_n >= LOOP_KEYS then
    self.loop_old, cur, self.loop_n = cur, {}, 0
    self.loop_cur = cur
  end
  cur[key] = true
  self.loop_n = self.loop_n + 1
end

-- Our Via for a request to dest, with a branch unique in space and time (§8.1.1.7): a random
-- per-proxy prefix and a counter.
function Proxy:new_branch(dest)
  local n = self.branch_n + 1
  self.branch_n = n
  return (self.via[side(dest)] or self.via[dest.proto]) .. self.branch_prefix .. n
end

local function unsupported(req, name)
  return concat(require("sip").values(req, name), ", ")
end

-- §16.3: returns the parsed Request-URI, or nil after answering.
function Proxy:validate(req, ctx)
  local f = self:facts(req.uri)
  if not f then
    self:reply(req, 400, "Bad Request-URI")
    return nil
  end
  if not f.sip then -- step 2
    self:reply(req, 416, "Unsupported URI Scheme")
    return nil
  end
  if req.max_forwards == 0 then -- step 3
    self:reply(req, 483, "Too Many Hops")
    return nil
  end
  if req:via(2) then -- step 4: a Via of ours below the top one, and the same request as then
    for _, v in ipairs(req:headers("Via")) do
      for _, sb in ipairs(self.sent_by) do
        if v:find(sb, 1, true) then
          local key = req.loop_key
          if self.loop_cur[key] or self.loop_old[key] then
            self:reply(req, 482, "Loop Detected")
            return nil
          end
          ctx.key = key
          if not self:check_proxy_require(req) then return nil end
          return f
        end
      end
    end
  end
  if not self:check_proxy_require(req) then return nil end
  return f
end

-- step 5: we support no extension as a proxy
function Proxy:check_proxy_require(req)
  if req:header("Proxy-Require") then
    self:reply(req, 420, "Bad Extension", { headers = "Unsupported: " .. unsupported(req, "Proxy-Require") .. "\r\n" })
    return false
  end
  return true
end

-- Remove the first Route value (values split at commas are entries of their own).
local function pop_route(msg, addrs)
  msg:remove_header("Route")
  for i = 2, #addrs do msg:add_header("Route", addrs[i].value) end
end

-- The token of our Record-Route for req's dialog, over its Call-ID and the caller's tag: the
-- requests of the dialog bring it back from either side (§12.2.1.1: their From and To tags are
-- the two ends' tags, swapped on the callee's side), and nobody else can make it.
-- The tokens made lately are kept (two generations of a bounded count, by Call-ID and tag), so
-- the ACK and BYE of a dialog are checked by a table look-up, not a MAC each; a token not found
-- there (made before a restart, by another process of the cluster) is checked by its MAC.
local TOKENS = 16384
function Proxy:dialog_token(call_id, tag)
  local key = call_id .. "\n" .. tag
  local tok = self.tokens_cur[key] or self.tokens_old[key]
  if tok then return tok end
  tok = token(self.secret, call_id, tag)
  if self.tokens_n >= TOKENS then
    self.tokens_old, self.tokens_cur, self.tokens_n = self.tokens_cur, {}, 0
  end
  self.tokens_cur[key] = tok
  self.tokens_n = self.tokens_n + 1
  return tok
end

local function made_by(self, tok, call_id, tag)
  local key = call_id .. "\n" .. tag
  local known = self.tokens_cur[key] or self.tokens_old[key]
  if known then return known == tok end -- short strings: interned, compared by address
  return token_check(self.secret, tok, call_id, tag)
end

-- Does u (a Route value naming us, or the Request-URI a strict router put there) carry the token
-- of req's dialog? Only an in-dialog request can: the caller's tag is its From tag (a request
-- from the caller's side, the usual case, tried first) or its To tag (from the callee's side).
function Proxy:our_route(req, u)
  local tok = u:param("rrt")
  if type(tok) ~= "string" then return false end
  local to_tag = req.to_tag
  if not to_tag then return false end
  local cid, from_tag = req.call_id or "", req.from_tag
  if from_tag and made_by(self, tok, cid, from_tag) then return true end
  return made_by(self, tok, cid, to_tag)
end

-- RFC 7118 §5: a UA on a WebSocket is reached over its connection, never at its Contact (a
-- .invalid host). Our Record-Route on a WebSocket side names that connection (flow=), so the
-- requests of the dialog find it again when they come back along the route.
local WS = { ws = true, wss = true }
local function flow_param(p)
  if WS[p.proto] and p.conn then return ";flow=" .. p.conn end
  return ""
end

-- The connection a Route value of ours names, when it is not the one req came on.
local function flow_of(req, u)
  local v = u:param("flow")
  local conn = type(v) == "string" and math.tointeger(tonumber(v))
  local src = req.source
  if conn and not (src and src.conn == conn) then return conn end
end

--- The destination of a flow (a WebSocket connection's id) while it is open, or nil.
function Proxy:flow_dest(conn)
  return conn and self.ep.stack:peer(conn) or nil
end

-- §16.4: a strict router before us put our Record-Route URI in the Request-URI: the real one is
-- the last Route. Then our own Route values go (two when we record-routed twice). Returns the
-- facts of the Request-URI, whether the request came along a route we recorded for its
-- dialog (the relay policy trusts those, and only those, to go where their route leads), whether
-- a Route is left, and the flow (a connection) that route names, if any.
function Proxy:preprocess(req, f)
  if not req:header("Route") then return f, false, false end
  local recorded, flow = false, nil
  if f and f.me and f.lr then
    local addrs = req:addrs("Route")
    if addrs and #addrs > 0 then
      recorded = self:our_route(req, f.u)
      flow = flow_of(req, f.u)
      local last = addrs[#addrs]
      req:remove_header("Route")
      for i = 1, #addrs - 1 do req:add_header("Route", addrs[i].value) end
      if pcall(req.set_uri, req, last.uri) then f = self:facts(req.uri) or f end
    end
  end
  for _ = 1, 2 do
    if not req:header("Route") then break end
    local addrs = req:addrs("Route")
    local first = addrs and addrs[1] and uri_parse(addrs[1].uri)
    if not first or not self:is_me(first) then break end
    recorded = recorded or self:our_route(req, first)
    flow = flow or flow_of(req, first)
    pop_route(req, addrs)
  end
  return f, recorded, req:header("Route") ~= nil, recorded and flow or nil
end

-- §16.6 step 6: when the next hop is a strict router, it gets the Request-URI as its Route and
-- the request goes to it with its URI as the Request-URI.
local function strict_postprocess(msg)
  if not msg:header("Route") then return end
  local addrs = msg:addrs("Route")
  local first = addrs and addrs[1]
  local u = first and uri_parse(first.uri)
  if not u or u:param("lr") then return end
  local ruri = msg.uri
  pop_route(msg, addrs)
  msg:add_header("Route", "<" .. ruri .. ">")
  msg:set_uri(first.uri)
  return true
end

-- -------------------------------------------------------------------------------------------------
-- Serving a request

local function final_of(status, reason, headers)
  return { status = status, reason = reason, headers = headers }
end

-- §16.9: our own failure to send counts as a 503; it goes up as 500 (§16.7 step 6) saying why.
local function unreachable(why)
  local r = final_of(503, "Service Unavailable")
  r.why = "Next Hop Unreachable (" .. tostring(why or "transport error"):gsub("[%c]", " ") .. ")"
  return r
end

-- Send the chosen final response upstream (a relayed message, or one we make).
function Proxy:send_final(ctx, rsp)
  local txn = ctx.txn
  if not PENDING[txn.state] then return false end
  ctx.status = rsp.status
  if type(rsp) == "userdata" then return txn:send(rsp) end
  return txn:respond(rsp.status, rsp.reason, rsp.headers and { headers = rsp.headers } or nil)
end

-- Nothing a request carries may stop the proxy: an error anywhere in its handling is logged and
-- answered with 500 (the endpoint would report it out of run()).
function Proxy:serve(req)
  local ok, err = xpcall(self.handle, traceback, self, req)
  if not ok then
    self:log("error", "%s %s: %s", tostring(req.method), tostring(req.uri), err)
    local txn = req.txn
    if txn then
      self.contexts[txn] = nil
      if PENDING[txn.state] then txn:respond(500, "Server Internal Error") end
    end
  end
end

function Proxy:handle(req)
  local txn = req.txn
  if not txn then return self:forward_ack(req) end
  local method = req.method
  if method == "CANCEL" then return self:on_cancel(req) end
  -- the fields a relayed request's context takes, in its constructor: made at its final size
  local ctx = { txn = txn, req = req, t0 = self.log_on and loop.now(), facts = nil, ruri = nil, key = nil, rr = nil,
    relaying = nil, in_place = nil, branches = nil, remembered = nil, answered = nil, status = nil, best = nil,
    note = nil, trying = nil, recorded = nil, authorized = nil, foreign_route = nil, rr_token = nil, ack_key = nil,
    flow = nil }
  self.contexts[txn] = ctx
  local f = self:validate(req, ctx)
  if f then
    local recorded, routed
    f, recorded, routed, ctx.flow = self:preprocess(req, f)
    -- a Route left after ours is one the sender brought, unless the dialog's route set has it
    ctx.recorded, ctx.foreign_route = recorded, routed and not recorded
    ctx.facts = f
    if self.log_on then ctx.ruri = req.uri end
    local route = self.route
    -- in a dialog the stack routes first (loose routing along our Record-Route), unless the route
    -- function asked for those requests: Kamailio's has_totag() + loose_route() as the default
    if route and not self.route_in_dialog and (recorded or req.to_tag) then route = M.dialog_route end
    local ok, err = xpcall(route or M.default_route, traceback, req, self, f.u)
    if not ok then
      self:log("error", "route failed for %s %s: %s", method, req.uri, err)
      if PENDING[txn.state] then self:send_final(ctx, final_of(500, "Server Internal Error")) end
    end
  end
  if PENDING[txn.state] then
    self:send_final(ctx, ctx.best or final_of(500, "No Response From Route"))
  end
  self.contexts[txn] = nil
  if self.log_on and self.log_level >= 3 then -- one line per transaction, built cheaply
    -- what went upstream: ours (ctx), else what the route answered with req:reply (the txn's)
    self.log_fn("info", method .. " " .. (ctx.ruri or req.uri) .. " from " .. peer_text(req.source) .. " -> " ..
      (ctx.status or txn.status or "answered") .. (ctx.note or "") .. " (" ..
      floor((loop.now() - ctx.t0) * 1000 + 0.5) .. " ms)")
  end
end

-- The ACK of a 2xx is a transaction of its own (§13.2.2.4): we remember, for a while, each 2xx
-- of an INVITE we relayed (its Call-ID, CSeq number and caller's tag; the Contact it gave; the
-- branch it came from), two generations of a bounded count, like the loop keys.
local ACKS = 16384
local function ack_key(req)
  return (req.call_id or "") .. "\n" .. tostring(req.cseq) .. "\n" .. (req.from_tag or "")
end

function Proxy:expect_ack(key, rsp, dest)
  local cur = self.acks_cur
  local e = cur[key]
  if not e then
    if self.acks_n >= ACKS then
      self.acks_old, cur, self.acks_n = cur, {}, 0
      self.acks_cur = cur
    end
    e = { dest = dest, contact = nil, contacts = {} }
    cur[key] = e
    self.acks_n = self.acks_n + 1
  end
  local c = rsp.contact_uri
  if c then
    e.contacts[c] = dest
    e.contact = e.contact or c
  end
end

-- Route it (§16.4, §16.6) and send it on without state, when the relay policy lets it go: along
-- a route we recorded for its dialog, or as the ACK of a 2xx we relayed, to where that 2xx came
-- from. Any other ACK is dropped before its Request-URI is looked at further (no lookup of a
-- name for a stranger). One that names only us goes nowhere.
function Proxy:forward_ack(req)
  if req.max_forwards == 0 then return end
  local f = self:facts(req.uri)
  if not f or not f.sip then return end
  local recorded, routed, flow
  f, recorded, routed, flow = self:preprocess(req, f)
  local dest = not routed and self:flow_dest(flow) or nil
  if not recorded and self.relay_policy ~= true then
    local key = ack_key(req)
    local e = self.acks_cur[key] or self.acks_old[key]
    if not e then
      if self.log_level >= 4 then
        self:log("debug", "ACK %s from %s dropped: no 2xx of ours to acknowledge", req.uri, peer_text(req.source))
      end
      return
    end
    if not e.contacts[req.uri] then
      -- sent to us rather than to the Contact (SIPp's built-in uac does so): to the branch
      -- whose 2xx it acknowledges, not to us again
      if not e.contact or not pcall(req.set_uri, req, e.contact) then return end
      dest = e.dest
    end
  elseif not req:header("Route") and f.me then
    return
  end
  req:decrement_max_forwards()
  if not dest then
    local by = { source = req.source.host }
    if strict_postprocess(req) then dest = contact_dest(req.uri, by) else dest = next_hop(req, by) end
  end
  if not dest then return end
  if not self.via[dest.proto] then return end
  -- never to ourselves: it would come back until Max-Forwards ran out
  if self.me[strip_brackets(tostring(dest.host)):lower() .. ":" .. tostring(dest.port)] then return end
  req:push_via(self:new_branch(dest))
  local ok, err = self.ep:send(req, dest)
  if not ok then self:log("warn", "ACK %s not forwarded: %s", req.uri, err) end
  if self.log_level >= 4 then self:log("debug", "ACK %s -> %s:%s:%s", req.uri, dest.proto, dest.host, dest.port) end
end

-- A 2xx to an INVITE matching no client transaction (a retransmission after ours ended, RFC 6026
-- §8.4) goes upstream statelessly along the Vias; anything else stray is dropped.
function Proxy:stray(rsp)
  local status = rsp.status
  if status < 200 or status >= 300 or rsp.cseq_method ~= "INVITE" then return end
  local v = rsp:via()
  if not v then return end
  local ours = false
  for _, sb in ipairs(self.sent_by) do
    if v.value:find(sb, 1, true) then ours = true end
  end
  -- only a 2xx of an INVITE we relayed: a forged one is not reflected to the Via it names
  local key = ack_key(rsp)
  if not ours or not (self.acks_cur[key] or self.acks_old[key]) then return end
  rsp:pop_via()
  self:stray_up(rsp)
end

-- -------------------------------------------------------------------------------------------------
-- §16.10 CANCEL

local function cancel_branch(self, br)
  if br.cancelled or br.done then return end
  br.cancelled = true
  local t = br.txn
  if not t or t.state == "terminated" then return end
  if br.provisional then
    -- §9.1: a CANCEL once something came back; the INVITE then ends with 487 (or Timer C)
    local ok, err = t:cancel(function() end)
    if not ok then self:log("warn", "CANCEL of branch %s failed: %s", br.uri, err) end
    if br.timer then br.timer:again(64 * self.t1) end
  else
    t:terminate() -- nothing answered yet: §9.1 forbids a CANCEL now; give the branch up
  end
end

local function cancel_all(self, ctx, except)
  for _, br in ipairs(ctx.branches or {}) do
    if br ~= except then cancel_branch(self, br) end
  end
end

function Proxy:on_cancel(req)
  local inv = req.txn:cancelled_invite()
  if not inv then
    if self.log_on then self:log("info", "CANCEL %s -> 481 (no such transaction)", req.uri) end
    return req:reply(481, "Call/Transaction Does Not Exist")
  end
  req:reply(200)
  local ctx = self.contexts[inv]
  if ctx then
    ctx.cancelled = true
    cancel_all(self, ctx)
  end
  if PENDING[inv.state] and not (ctx and ctx.relaying) then inv:respond(487, "Request Terminated") end
  if self.log_on then self:log("info", "CANCEL %s -> 200%s", req.uri, ctx and " (branches cancelled)" or "") end
end

-- -------------------------------------------------------------------------------------------------
-- Forwarding (§16.6) and responses (§16.7)

-- The target of a binding, made once per binding (a stored binding never changes: a REGISTER
-- replaces it).
local function binding_target(b)
  local t = b._target
  if t then return t end
  -- headers in a registered Contact are not forwarded as header fields (§19.1.5)
  local uri = b.contact
  if uri:find("?", 1, true) then uri = uri:gsub("%?.*$", "") end
  local dest
  if not b.path then dest = b.nat and b.source or contact_dest(uri) end
  t = { uri = uri, q = b.q, path = b.path, dest = dest, binding = true }
  b._target = t
  return t
end

-- A target from the location service or the caller: {uri=, dest=, path=, q=}.
local function as_target(x)
  if type(x) == "string" then return { uri = x } end
  if type(x) == "userdata" then return { uri = tostring(x) } end
  if type(x) == "table" and x.uri then return x end
  if type(x) == "table" and x.contact then return binding_target(x) end -- a binding
  error("bad target: a URI, a binding or {uri=, dest=, path=} expected", 3)
end

--- The targets for uri from the location service (§16.5), highest q first: a list (maybe empty)
-- | nil, err.
function Proxy:lookup(uri)
  local aor, list, err
  if type(uri) == "string" then
    local f = self:facts(uri)
    aor = f and f.aor
  end
  if aor then list, err = self.location:get(aor) else list, err = self.registrar:lookup(uri) end
  if not list then return nil, err end
  if #list == 1 and self:reachable(list[1]) then return { binding_target(list[1]) } end
  local out, keep = {}, {}
  for _, b in ipairs(list) do
    if self:reachable(b) then
      keep[#keep + 1] = b
      out[#out + 1] = binding_target(b)
    end
  end
  -- the store forgets the others too (RFC 5626 §5.3: a dead flow's bindings go)
  if aor and #keep < #list then self.location:put(aor, keep) end
  return out
end

--- Whether a binding can still be reached: one registered over a WebSocket only over its own
-- connection while it is open (RFC 7118 §5: a WebSocket client accepts no connection, so its
-- Contact's address leads nowhere, or to a stranger).
function Proxy:reachable(b)
  local src = b.source
  if not (src and WS[src.proto]) then return true end
  return self:flow_dest(src.conn) ~= nil
end

local function forward_up(ctx, rsp)
  local txn = ctx.txn
  if txn.state == "terminated" then return false end
  return txn:send(rsp)
end

--- Choose the best final response (§16.7 step 6) and merge the challenges (step 7): of a list
-- of responses (messages or {status=, reason=, headers=}), the one px:relay returns.
-- @function best_response
local function best_response(responses)
  local best, bclass
  for _, r in ipairs(responses) do
    local s = r.status
    if s >= 600 then
      best = r
      break
    end
    local c = s // 100
    if not best or c < bclass or (c == 4 and c == bclass and RESUBMIT[s] and not RESUBMIT[best.status]) then
      best, bclass = r, c
    end
  end
  if not best then return final_of(408, "Request Timeout") end
  local s = best.status
  if (s == 401 or s == 407) and #responses > 1 then
    local add = {}
    for _, r in ipairs(responses) do
      if r ~= best and (r.status == 401 or r.status == 407) and type(r) == "userdata" then
        for _, name in ipairs { "WWW-Authenticate", "Proxy-Authenticate" } do
          for _, v in ipairs(r:headers(name)) do add[#add + 1] = { name, v } end
        end
      end
    end
    if #add > 0 then
      if type(best) ~= "userdata" then best = final_of(s, best.reason, best.headers) end
      for _, h in ipairs(add) do
        if type(best) == "userdata" then best:add_header(h[1], h[2]) end
      end
    end
  elseif s == 503 then -- §16.7 step 6: a 503 would stop the client from using us: 500
    if type(best) == "userdata" then best:set_status(500, "Server Internal Error")
    else best = final_of(500, best.why or "Server Internal Error") end
  end
  return best
end
M.best_response = best_response

local OUR_LINES = 300 -- bytes a branch may add: a Via, two Record-Route values

-- One branch: copy, retarget, route, Via, send; returns its final response (a message, or a
-- table for what failed here).
function Proxy:branch(ctx, req, target, opts)
  -- every field a branch takes, in its constructor: the table is made at its final size
  local br = { uri = target.uri, dest = nil, done = false, txn = nil, timer = nil, provisional = nil,
    cancelled = nil, timed_out = nil }
  local brs = ctx.branches
  if brs then brs[#brs + 1] = br else ctx.branches = { br } end
  if not ctx.remembered then
    ctx.key = ctx.key or req.loop_key
    self:remember(ctx.key)
    ctx.remembered = true
  end
  local msg = ctx.in_place and req or req:clone()
  if target.uri ~= msg.uri then
    local ok, err = pcall(msg.set_uri, msg, target.uri)
    if not ok then
      self:log("warn", "bad target %s: %s", target.uri, err)
      br.done = true
      return final_of(500, "Bad Target URI")
    end
  end
  msg:decrement_max_forwards()
  if target.path then -- RFC 3327 §5.3: the Path of the binding becomes the route to it
    for i = #target.path, 1, -1 do msg:add_header("Route", target.path[i], "top") end
  end
  local routed = msg:header("Route") ~= nil
  local strict = routed and strict_postprocess(msg)
  local dest = target.dest
  if dest and not target.path and routed then dest = nil end -- a route set leads
  if not dest and not routed and ctx.flow then
    dest = self:flow_dest(ctx.flow)
    if not dest then
      br.done = true
      return unreachable("the WebSocket connection of the dialog is closed")
    end
  end
  if not dest then
    local err
    -- lookups in flight are bounded per source address (sip.resolver), after the relay policy
    local by = { source = req.source.host }
    if strict then dest, err = contact_dest(msg.uri, by) else dest, err = next_hop(msg, by) end
    if not dest then
      self:log("warn", "cannot forward to %s: %s", target.uri, err)
      br.done = true
      return unreachable(err)
    end
  end
  -- §18.1.1: too large for UDP (the request as it came, and room for our Via and Record-Route),
  -- over TCP, so our Via and Record-Route name TCP; ep:request goes over UDP after all when TCP
  -- is refused
  if dest.proto == "udp" and self.via.tcp then
    dest = egress.by_size(dest, #tostring(req) + OUR_LINES, self.ep.mtu)
  end
  local proto = dest.proto
  if not self.via[proto] then -- no listener for that transport
    self:log("warn", "no %s listener to reach %s", proto, target.uri)
    br.done = true
    return unreachable("no " .. proto .. " listener")
  end
  if ctx.rr then -- §16.6 step 4; two values when the transport changes here
    local tok = ctx.rr_token
    -- the side it came in on and the side it leaves from, by transport and family (RFC 5658)
    local src = req.source
    local rr_in = (self.rr[side(src)] or self.rr[src.proto]) .. flow_param(src) .. ";rrt="
    local rr_out = (self.rr[side(dest)] or self.rr[proto]) .. flow_param(dest) .. ";rrt="
    if rr_in ~= rr_out then msg:add_header("Record-Route", rr_in .. tok, "top") end
    msg:add_header("Record-Route", rr_out .. tok, "top")
  end
  msg:fix_via(req) -- RFC 3581 §4: received/rport as we saw the sender, in the Via we pass on
  msg:push_via(self:new_branch(dest))
  br.dest = dest

  local invite = req.method == "INVITE"
  local limit = invite and self.timer_c or nil
  if opts.timeout and (not limit or opts.timeout < limit) then limit = opts.timeout end
  if limit then
    -- Timer C (§16.6 step 11, §16.8): reset by provisional responses; when it fires the branch is
    -- cancelled, or given up when nothing came back
    br.timer = timer(limit, 0, function()
      br.timed_out = true
      if invite and br.provisional and not br.cancelled then
        cancel_branch(self, br)
      elseif br.txn and br.txn.state ~= "terminated" then
        br.txn:terminate()
      end
    end)
  end
  local _ <close> = br.timer -- closed too when a run() that failed closes this coroutine
  local ropts = {
    dest = dest,
    via = self.via_for, -- §4.3 failover: a new branch of ours
    provisional = function(r)
      br.provisional = true
      if br.cancelled or r.status == 100 then return end
      if br.timer and not br.cancelled and invite then br.timer:again(limit) end
      r:pop_via()
      forward_up(ctx, r) -- §16.7 step 5: at once
    end,
  }
  if invite or limit then ropts.on_txn = function(t) br.txn = t end end -- to CANCEL or end it
  if invite then
    -- further 2xx of the INVITE (forks, retransmissions) for Timer M (32 s over UDP) after the
    -- request is done: this holds the server transaction and the ACK key, not ctx (the request,
    -- its branches and responses: 6400 calls' worth at 200 calls/s)
    local up, akey = ctx.txn, ctx.ack_key
    ropts.on_2xx = function(r)
      self:expect_ack(akey, r, dest)
      r:pop_via()
      if up.state == "terminated" or not up:send(r) then self:stray_up(r) end
    end
  end
  local rsp, err, code = self.ep:_request(msg, ropts)
  br.done = true
  if br.timer then br.timer:close() end
  -- TCP by size was refused and UDP answered: the ACK of a 2xx goes there too
  if dest.udp and rsp and rsp.source and rsp.source.proto == "udp" then dest = dest.udp end
  if rsp then
    rsp:pop_via()
    local s = rsp.status
    if s < 300 then
      ctx.answered = true
      ctx.status = s
      if invite then self:expect_ack(ctx.ack_key, rsp, dest) end
      forward_up(ctx, rsp)
      if invite then cancel_all(self, ctx, br) end -- §16.7 step 10
    elseif s >= 600 then
      ctx.got6xx = true
      if invite then cancel_all(self, ctx, br) end
    end
    return rsp
  elseif br.cancelled then
    return final_of(487, "Request Terminated")
  elseif br.timed_out then
    return final_of(408, "Request Timeout")
  end
  -- §16.9: a transport error counts as 503; Timer B/F as 408
  self:log("warn", "%s to %s via %s failed: %s", req.method, target.uri, peer_text(dest), tostring(err))
  if code == 408 then return final_of(408, "Request Timeout") end
  return unreachable(err)
end

-- A 2xx after the server transaction is gone: along the Vias, statelessly.
function Proxy:stray_up(rsp)
  local nv = rsp:via()
  if not nv then return end
  local host = strip_brackets(nv.received or nv.host)
  if host == "255.255.255.255" then return end -- never to the broadcast address
  local port = math.type(nv.rport) == "integer" and nv.rport or nv.port
  local proto = (nv.transport or "udp"):lower()
  local default = sip_route.default_port(proto)
  if not default then return end
  local dest = { proto = proto, host = host, port = port or default }
  if family_of(host) == "" then
    -- RFC 3263 §5: a sent-by name without received: SRV (no port) or A/AAAA, as for requests
    -- (in a coroutine of its own: a stray response comes straight from the loop)
    local uri = "sip:" .. host .. (port and (":" .. port) or "") .. ";transport=" .. proto
    return loop.spawn(function()
      local d = sip_route.hop(uri, { source = rsp.source and rsp.source.host })
      if d and self.ep.stack then self.ep:send(rsp, d) end
    end)
  end
  self.ep:send(rsp, dest)
end

-- Run a group of targets in parallel and wait for all of them.
function Proxy:fork(ctx, req, group, opts, responses)
  if #group == 1 then
    responses[#responses + 1] = self:branch(ctx, req, group[1], opts)
    return
  end
  local w = loop.waiter()
  local left = #group
  for _, target in ipairs(group) do
    loop.spawn(function()
      local ok, r = xpcall(self.branch, traceback, self, ctx, req, target, opts)
      if ok then
        responses[#responses + 1] = r
      else
        responses[#responses + 1] = final_of(500, "Server Internal Error")
        self:log("error", "branch to %s failed: %s", tostring(target.uri), r)
      end
      left = left - 1
      if left == 0 then w:wake() end
    end)
  end
  if left > 0 then w:block() end
end

-- Targets grouped for forking: opts.parallel true (all at once), false (one by one), or by q
-- (§16.6: equal q in parallel, groups in decreasing q one after the other).
local function groups_of(targets, parallel)
  if parallel == true then return { targets } end
  local groups = {}
  for _, t in ipairs(targets) do
    local g = groups[#groups]
    if parallel == false or not g or (g[1].q or 1) ~= (t.q or 1) then
      groups[#groups + 1] = { t }
    else
      g[#g + 1] = t
    end
  end
  return groups
end

-- Every refusal of the relay policy is logged at warn (the default level of examples/proxy.lua),
-- with what and from where: what a log watcher (fail2ban and the like) needs.
function Proxy:refused(req, ctx, why)
  self:log("warn", "relay refused: %s %s from %s: %s", req.method, req.uri, peer_text(req.source), why)
  if ctx and self.log_on then ctx.note = " [relay refused: " .. why .. "]" end
end

-- The relay policy (see the top of this file): why req may not go to these targets, or nil.
-- Checked before any lookup of a name, so a stranger's request costs no DNS query.
function Proxy:refusal(ctx, list)
  local policy = self.relay_policy
  if policy == true or ctx.recorded or (policy == "local" and ctx.authorized) then return nil end
  if ctx.foreign_route then return "a Route it brought" end
  for _, t in ipairs(list) do
    if not t.binding and not self:is_local(t.uri) then
      return (ctx.authorized and "relaying to other domains is off: " or "not from our users: ") .. tostring(t.uri)
    end
  end
  return nil
end

local RELAY_OPTIONS = require("sip.options").schema("relay", {
  parallel = "boolean", timeout = "seconds", trust = "boolean", in_place = "boolean",
})
--- Relay req to targets (default: its Request-URI, routed by its Route set) and wait for the
-- outcome. targets: a URI, a binding, {uri=, dest=, path=, q=}, or a list of them (px:lookup).
-- opts: parallel (true, false or nil: by q), timeout (s per branch, for ring limits), trust (true:
-- skip the relay policy for this request, which then goes wherever targets and Route say).
-- Provisional responses (but 100) and every 2xx go upstream as they arrive; the return value is
-- the best final response (§16.7), a message or {status=, reason=}; not yet sent unless 2xx.
function Proxy:relay(req, targets, opts)
  if opts == nil then opts = NO_OPTS else RELAY_OPTIONS:check(opts, 3) end
  local txn = req.txn
  local ctx = self.contexts[txn]
  if not ctx then error("relay: not a request this proxy is serving", 2) end
  local state = txn.state
  if ctx.cancelled or not PENDING[state] then
    ctx.best = final_of(487, "Request Terminated")
    return ctx.best
  end
  local list
  if targets == nil then
    list = { { uri = req.uri } }
  elseif type(targets) == "table" and targets.uri == nil and targets.contact == nil then
    if #targets == 1 then
      list = { as_target(targets[1]) }
    else
      list = {}
      for i, x in ipairs(targets) do list[i] = as_target(x) end
    end
  else
    list = { as_target(targets) }
  end
  local n = #list
  if n == 0 then
    ctx.best = final_of(480, "Temporarily Unavailable")
    return ctx.best
  end
  if not opts.trust then
    local why = self:refusal(ctx, list)
    if why then
      self:refused(req, ctx, why)
      ctx.best = final_of(403, "Relaying Forbidden")
      return ctx.best
    end
  end
  local method = req.method
  local rr = self.record_route
  if rr == "all" then ctx.rr = true
  elseif type(rr) == "function" then ctx.rr = rr(req) and true or false
  else ctx.rr = rr and RR_METHODS[method] and not has_to_tag(req) or false end
  -- what the branches need of the request's From tag
  if ctx.rr or method == "INVITE" then
    local tag = req.from_tag or ""
    if ctx.rr then ctx.rr_token = self:dialog_token(req.call_id or "", tag) .. ">" end
    if method == "INVITE" then ctx.ack_key = ack_key(req) end
  end
  -- §16.2: an INVITE gets its 100 (Trying) now, so the caller stops retransmitting over UDP
  if method == "INVITE" and state == "proceeding" and not ctx.trying then
    ctx.trying = true
    txn:respond(100)
  end
  ctx.relaying = true
  -- one target and a caller done with req (the default route): forward req itself, no copy
  ctx.in_place = opts.in_place and n == 1
  local responses
  if n == 1 then
    responses = { self:branch(ctx, req, list[1], opts) }
  else
    responses = {}
    for _, group in ipairs(groups_of(list, opts.parallel)) do
      self:fork(ctx, req, group, opts, responses)
      if ctx.answered or ctx.got6xx or ctx.cancelled or not PENDING[txn.state] then break end
    end
    ctx.note = " [" .. n .. " targets]"
  end
  ctx.relaying = false
  local best = best_response(responses)
  if ctx.cancelled and not ctx.answered then best = final_of(487, "Request Terminated") end
  ctx.best = best
  return best
end

-- -------------------------------------------------------------------------------------------------
-- Authentication and the default routing

local function from_local(self, req)
  local from = req.from
  local u = from and uri_parse(from.uri)
  return u ~= nil and (u.scheme == "sip" or u.scheme == "sips") and self:is_local_host(u.host), u
end

-- Our realm's credentials are consumed here; other realms' go on (§22.3).
local function consume_credentials(self, req)
  local vals = req:headers("Proxy-Authorization")
  if #vals == 0 then return end
  local keep = {}
  local parse = core.digest.parse_credentials
  for _, v in ipairs(vals) do
    local c = parse(v)
    if not c or c.realm ~= self.realm then keep[#keep + 1] = v end
  end
  if #keep == #vals then return end
  req:remove_header("Proxy-Authorization")
  for _, v in ipairs(keep) do req:add_header("Proxy-Authorization", v) end
end

--- Is name one of our users (the users table or function)?
function Proxy:has_user(name)
  local users = self.users
  if type(users) == "table" then return users[name] ~= nil end
  if type(users) == "function" then return users(name, self.realm) ~= nil end
  return false
end

--- Requests from our own users must prove who they are (407, §22.3) when users are configured.
-- Returns true (go on), or false after answering.
function Proxy:authorize(req)
  if not self.auth_proxy then return true end
  local is_local, from = from_local(self, req)
  if not is_local then return true end
  local ok, r = self.auth_proxy:check(req)
  if not ok then
    self:reply(req, r.status, r.reason, { headers = registrar.header_lines(r.headers) })
    return false
  end
  if r and from.user ~= r then
    self:reply(req, 403, "Forbidden: From does not match the authenticated user")
    return false
  end
  consume_credentials(self, req)
  local ctx = self.contexts[req.txn]
  if ctx then ctx.authorized = true end
  self.ep:trust(req)
  return true
end

-- The routing when none is given: REGISTER for our domain to the registrar; requests with a
-- Route set or in a dialog along it; our users through the location service (parallel or
-- sequential forking by q); other domains by the Request-URI, for our users ("local" relay).
local IN_PLACE = { in_place = true }

-- relay = true: anything; "local": what our own users send; false: nothing foreign
local function relay_allowed(px, req)
  local policy = px.relay_policy
  return policy == true or (policy == "local" and (from_local(px, req)))
end

--- The routing of requests within a dialog (a To tag), which runs instead of a route function
-- unless route_in_dialog = true: along the Record-Route we put for the dialog wherever it leads
-- (§16.4, §16.12), else as proxy.default_route would (the relay policy holds).
function M.dialog_route(req, px)
  local ctx = px.contexts[req.txn]
  if ctx and ctx.recorded then return px:relay(req, nil, IN_PLACE) end
  return M.default_route(req, px)
end

--- The routing when none is given (also what proxy.dialog_route falls back on): REGISTER for our
-- domain to the registrar; requests along the route we recorded wherever it leads; our users
-- through the location service (forking by q; 404, 480 as §16.5 says); other domains by the
-- Request-URI, for our authenticated users only (relay = "local").
function M.default_route(req, px)
  local method = req.method
  local ctx = px.contexts[req.txn]
  local f = ctx and ctx.facts or px:facts(req.uri)
  if method == "REGISTER" and f.host_local then
    local status, _, list = px.registrar:handle(req)
    if ctx then
      ctx.status = status
      if list and px.log_on then ctx.note = #list == 1 and " [1 binding]" or (" [" .. #list .. " bindings]") end
    end
    return
  end
  -- along the route we recorded for its dialog: wherever it leads
  if ctx and ctx.recorded then return px:relay(req, nil, IN_PLACE) end
  local route = req:header("Route")
  local in_dialog = has_to_tag(req)
  if f.is_local and not route then
    if not f.user or f.user == "" then
      if method == "OPTIONS" then
        return px:reply(req, 200, nil, { headers = "Allow: " .. ALLOW .. "\r\nAccept: application/sdp\r\n" })
      end
      return px:reply(req, 404, "Not Found")
    end
    -- a request in a dialog addressed to a user of our domain is looked up like others
    if not in_dialog and not px:authorize(req) then return end
    local targets = px:lookup(req.uri)
    if not targets then return px:reply(req, 500, "Location Service Failure") end
    if #targets == 0 then
      -- §16.5: 404 for a user we do not have, 480 for one without bindings; without users we
      -- know of nobody (404). A stranger learns nothing of who exists: to all but our own
      -- authenticated users, an unknown user is one offline.
      if px.users == nil then return px:reply(req, 404, "Not Found") end
      if ctx and ctx.authorized and not px:has_user(f.user) then return px:reply(req, 404, "Not Found") end
      return px:reply(req, 480, "Temporarily Unavailable")
    end
    return px:relay(req, targets, #targets == 1 and IN_PLACE or nil)
  end
  if not route and f.me then return px:reply(req, 404, "Not Here") end
  -- anything else leaves our domain (its Request-URI, a Route it brought): our own users only,
  -- with credentials; px:relay's policy says the last word
  if not relay_allowed(px, req) then
    px:refused(req, ctx, route and "a Route it brought" or "not from our users")
    return px:reply(req, 403, "Relaying Forbidden")
  end
  if not px:authorize(req) then return end
  return px:relay(req, nil, IN_PLACE)
end

--- Close listeners, connections, the sweep timer and (when we opened it) the location store.
function Proxy:close()
  if self.sweeper then
    self.sweeper:close()
    self.sweeper = nil
  end
  if self.ep then
    self.ep:close()
    self.ep = nil
  end
  if self.own_location and self.location then
    self.location:close()
    self.own_location = nil
  end
  if self.auth_www then self.auth_www:close() end
  if self.auth_proxy then self.auth_proxy:close() end
end
Proxy.__close = Proxy.close
Proxy.__gc = Proxy.close

M.Proxy = Proxy
M.OPTIONS = OPTIONS
-- sip.proxy{...} is proxy.new{...}
return setmetatable(M, { __call = function(_, t) return M.new(t) end })
