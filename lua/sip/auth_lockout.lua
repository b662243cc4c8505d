--- sip.auth_lockout: how fast passwords may be guessed (RFC 7616 §5.7, online dictionary
-- attacks). sip.auth.server asks before it checks a password and reports how the check went;
-- this file holds the counting and nothing of SIP.
--
--   local lk = lockout.new { user_free = 5, ... }   -- or sip.auth.lockout{...}
--   lk:refused(user, source, now) -> nil (check the password) | wait, "user" | "source"
--   lk:failed(user, source, now)  -> wait | nil (this failure started or lengthened a backoff)
--   lk:succeeded(user, source, now) -> true when a backoff was running for that user
--
-- Failures are counted per user (any source) and per source (any user; an IPv6 source by its /64). Past the free ones,
-- each further failure doubles the wait, up to `max`; a count is forgotten `forget` seconds
-- after its last failure. Successes do not reset a count (an attacker with one account of its
-- own could reset it at will); instead a source a user authenticated from is trusted for that
-- user for `remember` seconds: its user's own phone gets in while others are refused, until
-- it fails user_free times itself. Every table is bounded (`tracked` entries).
local type, pairs, ipairs, setmetatable, format = type, pairs, ipairs, setmetatable, string.format
local min, max, tointeger = math.min, math.max, math.tointeger

local M = {}

local DEFAULTS = {
  user_free = 5,       -- failures per user, from any source, before a backoff
  source_free = 20,    -- failures per source, for any user, before a backoff (a NAT has many users)
  base = 1,            -- the first wait, seconds; each further failure doubles it
  max = 3600,          -- the longest wait, seconds
  forget = 86400,      -- a count is forgotten this long after its last failure
  remember = 7 * 86400, -- a (user, source) success is trusted this long
  tracked = 10000,     -- entries per table (users, sources, trusted pairs)
}

-- Two generations of at most cap/2 entries each: bounded memory, recently used keys survive.
local Bounded = {}
Bounded.__index = Bounded
Bounded.__name = "sip.auth.bounded"
function Bounded:__tostring() return ("sip.auth.bounded (%d of %d)"):format(self.n, self.half * 2) end

function M.bounded(cap)
  return setmetatable({ cur = {}, old = {}, n = 0, half = max(1, cap // 2) }, Bounded)
end

function Bounded:get(k)
  local v = self.cur[k]
  if v == nil then
    v = self.old[k]
    if v ~= nil then self:set(k, v) end
  end
  return v
end

function Bounded:set(k, v)
  if self.cur[k] == nil then
    if self.n >= self.half then
      self.old, self.cur, self.n = self.cur, {}, 0
    end
    self.n = self.n + 1
  end
  self.cur[k] = v
end

function Bounded:delete(k)
  if self.cur[k] ~= nil then self.n = self.n - 1 end
  self.cur[k], self.old[k] = nil, nil
end

--- The number of entries (both generations), for tests and statistics.
function Bounded:count()
  local n = 0
  for _ in pairs(self.cur) do n = n + 1 end
  for k in pairs(self.old) do
    if self.cur[k] == nil then n = n + 1 end
  end
  return n
end

local Lockout = {}
Lockout.__index = Lockout
Lockout.__name = "sip.auth.lockout"
function Lockout:__tostring() return "sip.auth.lockout" end

-- depth: the wrappers between the caller and new (sip.auth's), so the error names the caller.
local args = require "sip.args"

--- lockout.new{user_free=, source_free=, base=, max=, forget=, remember=, tracked=} -> lockout
-- Each key is optional (DEFAULTS above); an unknown key or a bad value raises.
function M.new(t, fname, depth)
  fname, depth = fname or "new", depth or 0
  if t ~= nil and type(t) ~= "table" then
    args.error(1, fname, "lockout must be a table of thresholds or false", depth)
  end
  local o = {}
  for k, v in pairs(t or {}) do
    if DEFAULTS[k] == nil then args.error(1, fname, format("unknown lockout option '%s'", tostring(k)), depth) end
    local n = tointeger(v)
    local least = (k == "user_free" or k == "source_free") and 0 or 1
    if not n or n < least then args.error(1, fname, format("lockout.%s must be an integer >= %d", k, least), depth) end
    o[k] = n
  end
  for k, v in pairs(DEFAULTS) do
    if o[k] == nil then o[k] = v end
  end
  if o.max < o.base then args.error(1, fname, "lockout.max must be >= lockout.base", depth) end
  o.users, o.sources, o.trusted = M.bounded(o.tracked), M.bounded(o.tracked), M.bounded(o.tracked)
  return setmetatable(o, Lockout)
end

function M.is(v) return getmetatable(v) == Lockout end

-- A count still remembered at now, or nil.
local function count(self, tbl, key, now)
  local e = tbl:get(key)
  if e and now - e.last > self.forget then
    tbl:delete(key)
    return nil
  end
  return e
end

-- Seconds of backoff left for key, or nil.
local function waiting(self, tbl, key, now)
  local e = count(self, tbl, key, now)
  if e and e.till > now then return e.till - now end
  return nil
end

-- One more failure for key; the wait it starts, or nil while still free.
local function add(self, tbl, key, free, now)
  local e = count(self, tbl, key, now) or { n = 0, till = 0 }
  e.n, e.last = e.n + 1, now
  tbl:set(key, e)
  local extra = e.n - free -- 1 for the first failure past the free ones
  if extra <= 0 then return nil, e.n end
  local wait = extra > 40 and self.max or min(self.max, self.base * (1 << (extra - 1)))
  e.till = max(e.till, now + wait)
  return e.till - now, e.n
end

-- The network a source address stands for: an IPv4 address itself (a NAT's users share it
-- anyway), an IPv6 address its /64, since one host picks its addresses from a whole /64
-- (RFC 4291 §2.5.1, RFC 8981). Text that is no address is its own key.
local function network(addr)
  local a = addr:gsub("^%[(.*)%]$", "%1"):gsub("%%.*$", "")
  if not a:find(":", 1, true) then return a end
  local v4 = a:lower():match("^::ffff:(%d+%.%d+%.%d+%.%d+)$")
  if v4 then return v4 end
  local function groups(part, out)
    for g in part:gmatch("[^:]+") do
      if g:find(".", 1, true) then -- a dotted IPv4 tail is two groups
        out[#out + 1], out[#out + 1] = "0", "0"
      else
        out[#out + 1] = g
      end
    end
    return out
  end
  local head, tail = a:match("^(.-)::(.*)$")
  local g
  if head then
    local h, t = groups(head, {}), groups(tail, {})
    if #h + #t > 7 then return a end
    g = h
    for _ = 1, 8 - #h - #t do g[#g + 1] = "0" end
    for _, v in ipairs(t) do g[#g + 1] = v end
  else
    g = groups(a, {})
  end
  if #g ~= 8 then return a end
  local out = {}
  for i = 1, 4 do
    local n = tonumber(g[i], 16)
    if not n or #g[i] > 4 then return a end
    out[i] = format("%x", n)
  end
  return table.concat(out, ":") .. "::/64"
end
M.network = network

local function pair(user, source) return user .. "\0" .. source end

-- Is source trusted for user (a success within remember, fewer than user_free failures since)?
local function trusted(self, key, now)
  local e = self.trusted:get(key)
  if not e then return false end
  if now - e.at > self.remember then
    self.trusted:delete(key)
    return false
  end
  return true
end

function Lockout:refused(user, source, now)
  source = network(source)
  if trusted(self, pair(user, source), now) then return nil end
  local wu = waiting(self, self.users, user, now)
  local ws = waiting(self, self.sources, source, now)
  if not wu and not ws then return nil end
  if (wu or 0) >= (ws or 0) then return wu, "user" end
  return ws, "source"
end

--- A wrong password (or an unknown user: counted alike, so the lockout tells nobody who exists).
-- Returns the wait this failure imposes on others (nil while free), the user's and the source's
-- failure counts.
function Lockout:failed(user, source, now)
  source = network(source)
  local key = pair(user, source)
  local t = self.trusted:get(key)
  if t then -- the trusted source fails too: after user_free, it is a stranger again
    t.fails = t.fails + 1
    if t.fails >= max(1, self.user_free) then self.trusted:delete(key) end
  end
  local wu, nu = add(self, self.users, user, self.user_free, now)
  local ws, ns = add(self, self.sources, source, self.source_free, now)
  local wait = (wu or ws) and max(wu or 0, ws or 0) or nil
  return wait, nu, ns
end

function Lockout:succeeded(user, source, now)
  source = network(source)
  self.trusted:set(pair(user, source), { at = now, fails = 0 })
  return waiting(self, self.users, user, now) ~= nil
end

return M
