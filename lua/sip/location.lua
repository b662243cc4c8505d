--- sip.location: the location service (RFC 3261 §10, §16.5): address-of-record -> bindings.
-- One interface, several backends: "memory" (the default, this file) and "sqlite:PATH"
-- (sip.location_sqlite: a file; bindings survive a restart). A backend is any table with these
-- methods; each may yield (a networked store such as Redis answers over a socket), so callers
-- run in coroutines, and each returns nil, err when the store fails:
--
--   loc:get(aor)          -> list of current bindings (may be empty) | nil, err
--   loc:put(aor, list)    -> true | nil, err   replaces every binding of aor at once (an empty
--                            list removes the AOR): the registrar commits all changes of one
--                            REGISTER or none (§10.3 step 7)
--   loc:sweep([now])      -> number of expired bindings removed
--   loc:aors()            -> list of AORs with bindings
--   loc:close()           idempotent
--
-- A binding is a plain record, owned by the store once put (treat lists from get as read-only):
--   contact  the Contact URI as registered (text)      expires  absolute time (seconds, clock())
--   q        0..1 or nil                               call_id, cseq  of the REGISTER (§10.3)
--   params   other contact params, ";a=b;c" or nil     path     list of Path values (RFC 3327)
--   source   {proto=, host=, port=, conn=} the REGISTER came from   nat  true: reach it there
--   updated  time of the last change                   user_agent  or nil
-- Fields whose names start with "_" are caches of the process that read the binding (the proxy
-- keeps its forwarding target there); a store never needs to keep them.
-- Keys are canonical AORs from location.aor(): a shared store keyed the same way lets several
-- proxy processes serve one domain.
-- @module sip.location
local core = require "sip.core"
local args = require "sip.args"

local M = {}

local type, setmetatable, ipairs, tostring = type, setmetatable, ipairs, tostring
local format, byte = string.format, string.byte

-- §19.1.2 user-unreserved and unreserved characters stay as they are; everything else is escaped,
-- so the key never holds raw NULs or separators.
local function escape_user(s)
  if not s:find("[^%w%.%-_]") then return s end -- the common case, checked with a short class
  return (s:gsub("[^%w%-_%.!~%*'%(%)&=%+%$,;%?/]", function(c) return format("%%%02X", byte(c)) end))
end

--- The canonical form of an address-of-record (§10.3 step 5): URI parameters removed, escapes
-- decoded (and re-encoded uniformly), host lower-cased. uri: text or sip.uri. domain: the name
-- that stands for the host and port (a registrar's one domain for all its own host names).
-- Returns the key, or nil, err for anything that is not a sip: or sips: URI.
function M.aor(uri, domain)
  local u = uri
  if type(uri) ~= "userdata" then
    local err
    u, err = core.uri(tostring(uri))
    if not u then return nil, err end
  end
  local scheme = u.scheme
  if scheme ~= "sip" and scheme ~= "sips" then return nil, "not a SIP URI" end
  local user, host, port = u.user, u.host, u.port
  if domain then
    host, port = domain, nil
  elseif host:find("%u") then
    host = host:lower()
  end
  if port then host = host .. ":" .. port end
  if user and user ~= "" then return scheme .. ":" .. escape_user(user) .. "@" .. host end
  return scheme .. ":" .. host
end

-- ---- Memory backend ----------------------------------------------------------------------------
-- The bindings live in C (sip.core.location_table, csrc/sip_loc.c): one block per AOR, outside
-- the Lua heap, so the collector never walks a million of them, and an expiry heap that lets a
-- sweep touch only what is due. get makes fresh tables; the lists last read are kept (HOT of
-- them, each until its first binding expires or a put) so that a proxy relaying to the same
-- users reuses them and their "_" caches.

local HOT = 256

local Memory = {}
Memory.__index = Memory
Memory.__name = "sip.location.memory"
function Memory:__tostring() return "sip.location.memory" end

local function new_memory(opts)
  return setmetatable({ tab = core.location_table(), clock = opts.clock or require("sip.loop").time, kind = "memory",
    hot = {}, nhot = 0 }, Memory)
end

function Memory:get(aor)
  local now = self.clock()
  local h = self.hot[aor]
  if h and now < h.till then return h.list end
  local list, till = self.tab:get(aor, now)
  if not h then
    if self.nhot >= HOT then self.hot, self.nhot = {}, 0 end
    self.nhot = self.nhot + 1
    self.hot[aor] = { till = till, list = list }
  else
    h.till, h.list = till, list
  end
  return list
end

function Memory:put(aor, list)
  if type(aor) ~= "string" or type(list) ~= "table" then error("put(aor, list): a string and a table expected", 2) end
  self.tab:put(aor, list)
  local h = self.hot[aor]
  if h then h.till = -math.huge end
  return true
end

function Memory:sweep(now)
  return self.tab:sweep(now or self.clock())
end

function Memory:aors()
  local out = self.tab:aors()
  table.sort(out)
  return out
end

--- count() -> AORs, bytes: how many AORs have bindings, and the bytes the C table holds.
function Memory:count() return self.tab:stats() end

function Memory:close()
  self.tab:close()
  self.hot, self.nhot = {}, 0
end

local OPTIONS = require("sip.options").schema("open", { clock = "function" })
--- location.open(spec[, opts]) -> store | nil, err
-- spec: "memory" (default), "sqlite:PATH", or an object with the methods above (returned as is).
-- opts: clock = fn() -> seconds (default sip.loop.time: os.time, or the virtual clock of sip.test).
function M.open(spec, opts)
  opts = OPTIONS:check(opts, 2)
  if spec == nil or spec == "memory" then return new_memory(opts) end
  if type(spec) == "table" then
    for _, m in ipairs { "get", "put", "sweep", "close" } do
      if type(spec[m]) ~= "function" then args.error(1, "open", "a location store needs " .. m) end
    end
    return spec
  end
  if type(spec) ~= "string" then
    args.error(1, "open", "\"memory\", \"sqlite:PATH\" or a store expected")
  end
  local path = spec:match("^sqlite:(.+)$")
  if path then return require("sip.location_sqlite").open(path, opts) end
  args.error(1, "open", "unknown location store " .. spec)
end

return M
