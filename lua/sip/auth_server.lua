--- sip.auth_server: the server side of sip.auth (class sip.auth.server): challenges and
-- verifies requests for registrars, UAS and proxies (RFC 3261 §22, RFC 7616, RFC 8760), with
-- the users file it reads and the lockout (sip.auth_lockout) that limits guessing.
-- @module sip.auth
local sip = require "sip"
local digest = require("sip.core").digest
local lockout = require "sip.auth_lockout"
local common = require "sip.auth_common"
local credentials = digest.credentials

local type, pairs, ipairs, tostring, setmetatable = type, pairs, ipairs, tostring, setmetatable
local format, floor = string.format, math.floor
local bounded = lockout.bounded
local base_alg, ha1_for, realm_in = common.base_alg, common.ha1_for, common.realm_in
local argerror, check_request = common.argerror, common.check_request

local M = {}

-- RFC 7616 §6.1 and RFC 8760 §2: the algorithms the core computes, by canonical name.
local ALGORITHMS = {}
for _, name in ipairs { "MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess" } do
  ALGORITHMS[name:upper()] = name
end

local function canonical_alg(name)
  return type(name) == "string" and ALGORITHMS[name:upper()] or nil
end

-- A secret from a user lookup: a password string (kept as it is: no table per request),
-- {password=} or {ha1=}; anything else is unknown.
local function as_record(v)
  if type(v) == "string" then return v end
  if type(v) == "table" and (type(v.password) == "string" or v.ha1 ~= nil) then return v end
  return nil
end

local function can_answer(rec, alg)
  return type(rec) == "string" or rec.password ~= nil or ha1_for(rec.ha1, alg) ~= nil
end

-- The password, or else the HA1 for alg, of a record can_answer accepted.
local function secret_of(rec, alg)
  if type(rec) == "string" then return rec, nil end
  if rec.password then return rec.password, nil end
  return nil, ha1_for(rec.ha1, alg)
end

local Server = {}
Server.__index = Server
Server.__name = "sip.auth.server"
function Server:__tostring()
  return ("sip.auth.server (%s%s)"):format(tostring(self.realm), self.proxy and ", proxy" or "")
end

--- Read a file of `user:password` lines (blank lines and # comments skipped): a table, or nil, err
-- naming the file and line. Shared with sip.proxy's --users.
local function read_users_file(path)
  local f, err = io.open(path, "r")
  if not f then return nil, "cannot read users file: " .. err end
  local t, ln = {}, 0
  for line in f:lines() do
    ln = ln + 1
    line = line:gsub("\r$", "")
    if not line:find("^%s*$") and not line:find("^%s*#") then
      local user, password = line:match("^%s*([^:%s]+):(.*)$")
      if not user then
        f:close()
        return nil, format("%s:%d: expected user:password", path, ln)
      end
      t[user] = password
    end
  end
  f:close()
  return t
end

--- Read a users file (lines user:password, # comments): a table user -> password, or nil, err.
-- @function read_users_file
M.read_users_file = read_users_file

--- auth.lockout{user_free=, source_free=, base=, max=, forget=, remember=, tracked=} -> a
-- lockout to pass as the lockout= of several servers (a registrar's 401 and a proxy's 407 count
-- the same guesses). Given a lockout, returns it: a caller's option can be passed on as it is.
function M.lockout(t)
  if lockout.is(t) then return t end
  return lockout.new(t, "lockout", 1)
end

local function qop_list(q, fname)
  if q == nil then return { "auth" } end
  if q == false then return false end
  local list, seen = {}, {}
  local items = type(q) == "table" and q or { q }
  for _, s in ipairs(items) do
    if type(s) ~= "string" then argerror(1, fname, "qop must be a string, a list or false") end
    for tok in s:gmatch("[^,%s]+") do
      tok = tok:lower()
      if tok ~= "auth" and tok ~= "auth-int" then argerror(1, fname, "unsupported qop '" .. tok .. "'") end
      if not seen[tok] then
        seen[tok] = true
        list[#list + 1] = tok
      end
    end
  end
  if #list == 0 then return false end
  return list
end

-- The options of auth.server, and those it no longer takes with what replaced them.
-- (sip.options: the one check of options tables; the functions' own checks follow below.)
local SERVER_OPTIONS = require("sip.options").schema("server", {
  realm = "string", secret = "string", algorithms = "table", qop = "string|table", nonce_ttl = "number",
  users = "table|string|function", proxy = "boolean", lockout = "any", log = "function",
  replay_slots = "integer", check_to = "boolean", check_uri = "boolean", may_register = "function",
  userhash = "boolean", userhash_lookup = "function", opaque = "string", clock = "function",
  nonce_new = "function", nonce_check = "function",
})
local REPLACED = {
  max_failures = "lockout.user_free (failures per user from any source) and lockout.source_free",
  failure_window = "lockout.forget (seconds a failure count is kept) and lockout.max (the longest wait)",
  max_tracked = "lockout.tracked",
}

--- auth.server{realm=, users=, secret=, algorithms=, qop=, nonce_ttl=, proxy=, lockout=, log=,
-- replay_slots=, check_to=, check_uri=, may_register=, userhash=, userhash_lookup=, opaque=, clock=,
-- nonce_new=, nonce_check=} -> server | nil, err (users file)
-- lockout: thresholds for sip.auth_lockout ({user_free=, source_free=, base=, max=, forget=,
-- remember=, tracked=}), a lockout object (auth.lockout{...}, to share one between servers) or
-- false (no limit). log: fn(level, line), told of every refusal and failure. check_uri=false
-- accepts credentials computed for another Request-URI (a leniency, off by default).
function M.server(t)
  if type(t) ~= "table" then argerror(1, "server", "table expected") end
  for k in pairs(t) do
    if REPLACED[k] then argerror(1, "server", format("%s was replaced by %s", k, REPLACED[k])) end
  end
  SERVER_OPTIONS:check(t)
  local realm = t.realm
  if type(realm) ~= "string" or realm == "" then argerror(1, "server", "realm must be a non-empty string") end
  local algs, algset = {}, {}
  for _, a in ipairs(t.algorithms or { "SHA-256", "MD5" }) do
    local c = canonical_alg(a)
    if not c then argerror(1, "server", "unsupported algorithm '" .. tostring(a) .. "'") end
    if not algset[c] then
      algset[c] = true
      algs[#algs + 1] = c
    end
  end
  if #algs == 0 then argerror(1, "server", "algorithms must not be empty") end
  local secret = t.secret or digest.random_hex(32)
  if type(secret) ~= "string" or secret == "" then argerror(1, "server", "secret must be a non-empty string") end
  local users = t.users
  if type(users) ~= "table" and type(users) ~= "string" and type(users) ~= "function" then
    argerror(1, "server", "users must be a table, a file name or a function")
  end
  for _, k in ipairs { "may_register", "userhash_lookup", "clock", "nonce_new", "nonce_check", "log" } do
    if t[k] ~= nil and type(t[k]) ~= "function" then argerror(1, "server", k .. " must be a function") end
  end
  local lk = t.lockout
  if lk ~= false and not lockout.is(lk) then lk = lockout.new(lk, "server", 1) end
  local self = setmetatable({
    realm = realm,
    secret = secret,
    algorithms = algs,
    algset = algset,
    qop = qop_list(t.qop, "server"),
    nonce_ttl = math.tointeger(t.nonce_ttl or 300) or argerror(1, "server", "nonce_ttl must be an integer"),
    users = users,
    proxy = t.proxy and true or false,
    lockout = lk or nil,
    log = t.log,
    quiet = bounded(1024), -- user and source -> {second, refusals not logged}
    check_to = t.check_to ~= false,
    check_uri = t.check_uri ~= false,
    may_register = t.may_register,
    userhash = t.userhash and true or false,
    userhash_lookup = t.userhash_lookup,
    opaque = t.opaque,
    clock = t.clock or os.time,
    nonce_new_fn = t.nonce_new,
    nonce_check_fn = t.nonce_check,
    replay = digest.replay_new(t.replay_slots or 4096),
    to_users = bounded(65536),
    templates = {},
    verified = setmetatable({}, { __mode = "k" }), -- req -> what authentication_info needs
  }, Server)
  self.ch_header = self.proxy and "Proxy-Authenticate" or "WWW-Authenticate"
  self.cr_header = self.proxy and "Proxy-Authorization" or "Authorization"
  self.status = self.proxy and 407 or 401
  self.reason = self.proxy and "Proxy Authentication Required" or "Unauthorized"
  -- refuse a realm or opaque that cannot go into a header, now rather than per request
  local ok, err = digest.make_challenge { realm = realm, nonce = "x", opaque = self.opaque }
  if not ok then argerror(1, "server", "realm/opaque: " .. err) end
  if type(users) == "string" then
    local loaded, lerr = self:reload()
    if not loaded then return nil, lerr end
  end
  return self
end

--- Read the users file again (a table or function lookup has nothing to reload). true | nil, err;
-- on failure the previous users stay in use.
function Server:reload()
  if type(self.users) ~= "string" then return true end
  local u, err = read_users_file(self.users)
  if not u then return nil, err end
  self.file_users, self.hashes = u, nil
  return true
end

--- The server's clock (the clock option), in whole seconds.
function Server:now() return floor(self.clock()) end

-- The state of the nonce of credentials: "valid", "stale" or anything else (refused).
local function nonce_status(self, cred, now)
  if self.nonce_check_fn then return self.nonce_check_fn(cred.nonce, self.realm, now, self.nonce_ttl) end
  return cred:nonce_status(self.secret, self.realm, self.nonce_ttl, now)
end

-- The fields of one challenge, kept per algorithm and stale flag: with our own nonces the core
-- puts a fresh one in (make_challenge with the secret), so nothing is built per request.
local function template(self, alg, stale)
  local key = stale and (alg .. " stale") or alg
  local t = self.templates[key]
  if not t then
    t = { realm = self.realm, algorithm = alg, qop = self.qop, opaque = self.opaque, stale = stale,
      userhash = self.userhash }
    self.templates[key] = t
  end
  return t
end

--- A 401 (407 with proxy=true) with one challenge per algorithm, fresh nonces, in preference
-- order (RFC 8760 §2.4). stale=true tells the client its password was right (RFC 7616 §3.3).
function Server:challenge(_, stale, algs) -- (the request: the challenge depends on nothing in it)
  local now = self:now()
  local headers = {}
  stale = stale and true or false
  for _, alg in ipairs(algs or self.algorithms) do
    local value
    if self.nonce_new_fn then -- nonces of the caller's making: a table of their own
      value = digest.make_challenge {
        realm = self.realm, nonce = self.nonce_new_fn(self.realm, now), algorithm = alg, qop = self.qop,
        opaque = self.opaque, stale = stale, userhash = self.userhash,
      }
    else
      value = digest.make_challenge(template(self, alg, stale), self.secret, now)
    end
    headers[#headers + 1] = { self.ch_header, assert(value) }
  end
  return { status = self.status, reason = self.reason, headers = headers }
end

--- The stack gate's setup (stack:gate) that sends challenge(req)'s answer to requests of
-- methods that carry no credentials, from C, with nonces of this server's secret: nil when
-- nonces or the clock are the caller's (nonce_new, clock), which C cannot call.
function Server:gate_config(methods)
  if self.nonce_new_fn or self.clock ~= os.time then return nil end
  local challenges = {}
  for i, alg in ipairs(self.algorithms) do challenges[i] = template(self, alg, false) end
  return { method = methods, status = self.status, reason = self.reason, header = self.ch_header,
    credentials = self.cr_header, secret = self.secret, challenges = challenges }
end

local function reject(status, reason) return { status = status, reason = reason, headers = {} } end

local function malformed(self, what)
  return reject(400, format("Malformed %s header: %s", self.cr_header, (what:gsub(" at byte %d+$", ""))))
end

local function lookup(self, user)
  local u = self.users
  if type(u) == "function" then
    local v, err = u(user, self.realm) -- may yield (a database query): no pcall, no wrapper
    if v == nil and err ~= nil then return nil, err end
    return as_record(v)
  end
  if type(u) == "string" then u = self.file_users end
  return as_record(u[user])
end

-- RFC 7616 §3.4.4: userhash = H(user ":" realm); a table or file lookup is searched, a function
-- lookup needs userhash_lookup(hash, algorithm, realm).
local function unhash(self, hash, alg)
  hash = hash:lower()
  if self.userhash_lookup then return self.userhash_lookup(hash, alg, self.realm) end
  if type(self.users) == "function" then return nil end
  local base = base_alg(alg)
  self.hashes = self.hashes or {}
  local map = self.hashes[base]
  if not map then
    map = {}
    for user in pairs(type(self.users) == "string" and self.file_users or self.users) do
      if type(user) == "string" then map[digest.userhash(base, user, self.realm)] = user end
    end
    self.hashes[base] = map
  end
  return map[hash]
end

-- Where the request came from: the packet's source, which the top Via's received (or host)
-- names too; a message built locally has only its Via.
local function source_of(req)
  local src = req.source
  if src and src.host then return src.host end
  local v = req:via()
  return v and (v.received or v.host) or "?"
end

-- A name or address from the network, fit for a log line: odd bytes %-escaped, 64 at most.
local function printable(v)
  v = tostring(v)
  if #v > 64 then v = v:sub(1, 61) .. "..." end
  return (v:gsub("[^%w%.%-_@+:%[%]]", function(c) return format("%%%02X", c:byte()) end))
end

local function say(self, level, fmt, ...)
  if self.log then self.log(level, format(fmt, ...)) end
end

-- RFC 3261 §21.5.4, §20.33: while a backoff runs the answer is 503 with Retry-After, the
-- status that header is defined for: "try again in N seconds", which is true. A 403 would
-- tell the client never to repeat the request (§21.4.4), and does not take Retry-After.
local function backoff(wait)
  return { status = 503, reason = "Service Unavailable: too many failed authentication attempts",
    headers = { { "Retry-After", tostring(wait) } } }
end

-- A refusal while a backoff runs; logged at most once a second per user and source, the
-- refusals not logged counted in the next line.
local function refuse(self, user, source, wait, why, now)
  if self.log then
    local key = user .. "\0" .. source
    local q = self.quiet:get(key)
    if q and q.at == now then
      q.n = q.n + 1
    else
      say(self, "warn", "auth: refused user %s from %s without checking the password: backoff of the %s, "
        .. "retry after %d s%s", printable(user), printable(source), why, wait,
        q and q.n > 0 and format(" (%d more refused since the last line)", q.n) or "")
      self.quiet:set(key, { at = now, n = 0 })
    end
  end
  return false, backoff(wait)
end

-- A wrong password, or an unknown user (the same answer: RFC 7616 §5.7 wants no hint of who
-- exists): a fresh challenge, or 503 when this failure starts a backoff.
local function failed(self, req, user, known, source, now)
  local what = known and "wrong password for user" or "unknown user"
  if not self.lockout then
    say(self, "info", "auth: %s %s from %s", what, printable(user), printable(source))
    return false, self:challenge(req)
  end
  local wait, nu, ns = self.lockout:failed(user, source, now)
  say(self, wait and "warn" or "info", "auth: %s %s from %s (failures: %d of the user, %d from the source)%s",
    what, printable(user), printable(source), nu, ns, wait and format(": backoff %d s", wait) or "")
  if wait then return false, backoff(wait) end
  return false, self:challenge(req)
end

-- RFC 7616 §3.4.6, RFC 2617 §3.2.2.5: the credentials are for the resource of the Request-Line.
-- As SIP URIs (RFC 3261 §19.1.4) when both parse, else as text.
local function same_resource(cred_uri, req_uri)
  if cred_uri == req_uri then return true end
  local a, b = sip.uri(cred_uri), sip.uri(req_uri)
  if a and b then return a == b end
  return false
end

-- The user part of the To URI ("" when it has none, false when it does not parse): a UA's
-- REGISTERs repeat the URI, so it is parsed once and kept in a bounded cache (sized for a
-- registrar's whole population: the users refresh in turn).
local function to_user(self, req)
  local text = req.to_uri
  if not text then return false end
  local user = self.to_users:get(text)
  if user == nil then
    local uri = sip.uri(text)
    user = uri and (uri.user or "") or false
    self.to_users:set(text, user)
  end
  return user
end

-- RFC 3261 §10.3 step 4: may this user change the bindings of the To address-of-record?
-- may_register(user, to_uri, to_user) decides when given; to_user as to_user() above.
local function may_register(self, req, user)
  if self.may_register then return self.may_register(user, req.to_uri, to_user(self, req)) end
  if not self.check_to then return true end
  return to_user(self, req) == user
end

--- Verify the credentials of req for our realm (RFC 3261 §22.4, RFC 7616 §3.4).
-- Returns true, user | false, {status=, reason=, headers=} (ready for sip.response): 401/407
-- (a challenge), 400 (malformed, or for another Request-URI), 503 with Retry-After (a backoff
-- of the lockout), 403 (REGISTER of an address the user may not change), 500 (lookup failed).
-- source: the peer address the lockout counts (default: the address the request came from).
function Server:check(req, source)
  check_request(req, "check")
  if source ~= nil and type(source) ~= "string" then argerror(2, "check", "source must be a string") end
  local method = req.method
  -- §22.1: ACK and CANCEL cannot be resubmitted, so they are never challenged
  if method == "ACK" or method == "CANCEL" then return true, nil end

  -- each value parsed into a credentials object: fields read on demand, hashes from the parse
  local cred, bad, badalg
  for _, v in ipairs(req:headers(self.cr_header)) do
    local c, msg, code = credentials(v)
    if c then
      if c.realm == self.realm then
        cred = c
        break
      end
    elseif code ~= "scheme" then -- Basic or unknown schemes count as absent (RFC 4475 §3.3.7)
      local r = realm_in(v)
      if r == nil or r == self.realm then
        if code == "algorithm" then badalg = true else bad = bad or msg end
      end
    end
  end
  if not cred then
    if bad and not badalg then return false, malformed(self, bad) end
    return false, self:challenge(req)
  end
  local alg = cred.algorithm
  if not self.algset[alg] then return false, self:challenge(req) end
  local qop = cred.qop
  if self.qop then
    -- RFC 7616 §3.4: a client offered qop must use one of them
    if not qop then return false, malformed(self, "missing qop") end
    local offered = false
    for _, q in ipairs(self.qop) do offered = offered or q == qop end
    if not offered then return false, malformed(self, "qop " .. qop .. " was not offered") end
  end

  local src = source or source_of(req)
  -- RFC 7616 §3.4.6, RFC 2617 §3.2.2.5: credentials for another resource are a 400, SHOULD, with
  -- no password checked: a response computed for one Request-URI is never spent on another
  local curi = cred.uri
  if self.check_uri and not same_resource(curi, req.uri) then
    say(self, "info", "auth: credentials of user %s from %s are for %s, the request for %s: 400",
      printable(cred.username), printable(src), printable(curi), printable(req.uri))
    return false, reject(400, "Bad Request: the digest uri is not the Request-URI")
  end

  local sent = cred.username
  local user = sent
  if cred.userhash then user = unhash(self, sent, alg) end
  -- the counts' key: names past 128 bytes share a count (only an attacker sends such names)
  local who = (user or sent):sub(1, 128)
  local now = self:now()
  local lk = self.lockout
  if lk then -- refused while a backoff runs, before any hash: no answer says if the password was right
    local wait, why = lk:refused(who, src, now)
    if wait then return refuse(self, who, src, wait, why, now) end
  end

  local status = nonce_status(self, cred, now)
  if status ~= "valid" and status ~= "stale" then return false, self:challenge(req) end
  local rec, lerr
  if user then rec, lerr = lookup(self, user) end
  if lerr then return false, reject(500, "Server Internal Error: user lookup failed") end
  if rec and not can_answer(rec, alg) then
    -- only HA1s of other hashes are stored: offer just those (none: a user who cannot log in,
    -- answered as one who does not exist)
    local algs = {}
    for _, a in ipairs(self.algorithms) do
      if can_answer(rec, a) then algs[#algs + 1] = a end
    end
    if #algs > 0 then return false, self:challenge(req, false, algs) end
    rec = nil
  end
  local body = qop == "auth-int" and req.body or nil
  local ok = false
  if rec then
    local password, ha1 = secret_of(rec, alg)
    local pok, res = pcall(cred.verify, cred, method, body, password, ha1, user) -- a bad stored HA1 must not raise
    ok = pok and res
  else -- an unknown user costs the same hashing, so the timing does not tell who exists
    pcall(cred.verify, cred, method, body, self.secret, nil, sent)
  end
  if not ok then return failed(self, req, who, rec ~= nil, src, now) end

  -- RFC 7616 §3.3: stale only with a right response on an old nonce
  if status == "stale" then return false, self:challenge(req, true) end
  if qop then
    -- RFC 7616 §3.4: nc must grow per nonce; an evicted nonce is stale, never accepted
    local fresh = self.replay:check(cred)
    if not fresh then return false, self:challenge(req, true) end
  end
  -- a success on a fresh nonce only: a replayed (stale) answer proves nothing of its source
  if lk and lk:succeeded(who, src, now) then
    say(self, "info", "auth: user %s from %s admitted during its backoff (a source it authenticated from before)",
      printable(who), printable(src))
  end
  if method == "REGISTER" and not may_register(self, req, user) then
    return false, reject(403, "Forbidden: user may not register this address")
  end
  self.verified[req] = cred
  return true, user
end

--- The Authentication-Info value for a response to a request check() accepted with qop
-- (RFC 7616 §3.5, RFC 2617 §3.2.3): rspauth proves the server knows the secret too.
-- body: the response body, for auth-int. nil when there is nothing to say.
function Server:authentication_info(req, user, body)
  local cred = self.verified[req]
  if not cred or not cred.qop then return nil end
  local alg, real = cred.algorithm, cred.username
  if cred.userhash then real = unhash(self, real, alg) end
  if not real or (user ~= nil and user ~= real) then return nil end
  local rec = lookup(self, real)
  if not rec or not can_answer(rec, alg) then return nil end
  local password, ha1 = secret_of(rec, alg)
  local ok, rspauth = pcall(cred.rspauth, cred, body or "", password, ha1, real)
  if not ok or not rspauth then return nil end
  return digest.make_info { qop = cred.qop, rspauth = rspauth, cnonce = cred.cnonce, nc = cred.nc_hex }
end

--- Free the replay table now rather than at collection. Idempotent.
function Server:close() self.replay:close() end

return M
