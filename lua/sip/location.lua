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
local core = require "sip.core"
local args = require "sip.args"

local M = {}

local type, setmetatable, pairs, ipairs, tostring = type, setmetatable, pairs, ipairs, tostring
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

--- Memory backend ------------------------------------------------------------------------------

local Memory = {}
Memory.__index = Memory
Memory.__name = "sip.location.memory"

local function new_memory(opts)
  return setmetatable({ map = {}, clock = opts.clock or require("sip.loop").time, kind = "memory" }, Memory)
end

-- Drop the expired bindings of one AOR; returns the list left (nil when none) and the count.
local function prune(self, aor, list, now)
  local keep, dropped = nil, 0
  for i = 1, #list do
    local b = list[i]
    if b.expires > now then
      if keep then keep[#keep + 1] = b end
    else
      if not keep then
        keep = {}
        for j = 1, i - 1 do keep[j] = list[j] end
      end
      dropped = dropped + 1
    end
  end
  if not keep then return list, 0 end
  if #keep == 0 then keep = nil end
  self.map[aor] = keep
  return keep, dropped
end

function Memory:get(aor)
  local list = self.map[aor]
  if not list then return {} end
  local now = self.clock()
  for i = 1, #list do
    if list[i].expires <= now then -- hidden now, removed by sweep()
      local keep = {}
      for _, b in ipairs(list) do
        if b.expires > now then keep[#keep + 1] = b end
      end
      return keep
    end
  end
  return list
end

function Memory:put(aor, list)
  if type(aor) ~= "string" or type(list) ~= "table" then error("put(aor, list): a string and a table expected", 2) end
  self.map[aor] = #list > 0 and list or nil
  return true
end

function Memory:sweep(now)
  now = now or self.clock()
  local n = 0
  for aor, list in pairs(self.map) do
    local _, d = prune(self, aor, list, now)
    n = n + d
  end
  return n
end

function Memory:aors()
  local out = {}
  for aor in pairs(self.map) do out[#out + 1] = aor end
  table.sort(out)
  return out
end

function Memory:close() self.map = {} end

--- location.open(spec[, opts]) -> store | nil, err
-- spec: "memory" (default), "sqlite:PATH", or an object with the methods above (returned as is).
-- opts: clock = fn() -> seconds (default sip.loop.time: os.time, or the virtual clock of sip.test).
function M.open(spec, opts)
  opts = opts or {}
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
