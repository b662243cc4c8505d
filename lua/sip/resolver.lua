--- sip.resolver: the process's DNS resolver and its configuration. c-ares runs inside the libev
-- loop (sip.core.resolver, csrc/sip_resolve.c); answers are cached by their TTL, negative ones
-- too, in a bounded table. A lookup the cache answers returns at once; any other yields the
-- calling coroutine until the answer comes, and never blocks the loop. Outside any coroutine
-- (a script's setup, before sip.run) the loop runs until the answer is there.
--
--   resolver.configure{servers = {"127.0.0.1:5353", "[::1]:53"}, timeout = 2, tries = 2,
--                      cache = 4096, max_ttl = 86400, neg_ttl = 300, fail_ttl = 5,
--                      per_source = 8}
--       servers: name servers as host:port (default: the system's resolv.conf); timeout: seconds
--       for a query's first try; tries: per server; cache: names kept; *_ttl: caps in seconds
--       on positive, negative and failed answers; per_source: lookups one source address may
--       have in flight. Unknown keys raise. Lookups in flight finish on the old configuration.
--   resolver.query(name, type[, source]) -> records, ttl | nil, err, kind
--       type "A", "AAAA" (records: address strings), "SRV" ({priority=, weight=, port=,
--       target=}), "NAPTR" ({order=, preference=, flags=, service=, replacement=}); kind
--       "noname" (NXDOMAIN), "nodata", "fail" (timeout, server failure, malformed answer) or
--       "busy": source (any string, e.g. the address a request came from) already has
--       per_source lookups in flight, and this one was not asked.
--   resolver.stats() -> {entries=, inflight=, hits=, misses=, queries=, evicted=}
-- @module sip.resolver
local core = require "sip.core"
local loop = require "sip.loop"
local argerror = require("sip.args").error

local M = {}

local type, pairs, ipairs, concat, tostring = type, pairs, ipairs, table.concat, tostring
local isyieldable = coroutine.isyieldable

local current        -- the sip.resolver userdata, made on first use
local settings = nil -- what core.resolver was given
local per_source = 8
local inflight = {}  -- source -> lookups in flight

local OPTIONS = { servers = true, timeout = true, tries = true, cache = true, max_ttl = true,
  neg_ttl = true, fail_ttl = true, per_source = true }

local function server_text(s, i)
  if type(s) ~= "string" or not (s:match("^%[[%x:.]+%]:%d+$") or s:match("^[%w.%-]+:%d+$")
      or s:match("^%[[%x:.]+%]$") or s:match("^[%w.%-]+$")) then
    argerror(1, "resolver", ("servers[%d] must be host:port (got %s)"):format(i, tostring(s)), 1)
  end
  return s
end

--- Set the resolver's configuration; lookups in flight finish on the old one.
-- @tparam table opts `servers` (list of "host:port", default: resolv.conf), `timeout` (seconds
-- for a query's first try), `tries` (per server), `cache` (names kept), `max_ttl`, `neg_ttl`,
-- `fail_ttl` (caps in seconds on positive, negative (RFC 2308) and failed answers), `per_source`
-- (lookups one source may have in flight)
-- @raise on an unknown key or a value of the wrong type, naming the option
function M.configure(opts)
  if type(opts) ~= "table" then argerror(1, "resolver", "table expected") end
  for k in pairs(opts) do
    if not OPTIONS[k] then argerror(1, "resolver", "unknown option " .. tostring(k)) end
  end
  local t = {}
  local servers = opts.servers
  if type(servers) == "string" then servers = { servers } end
  if servers ~= nil then
    if type(servers) ~= "table" then argerror(1, "resolver", "servers must be a list of host:port") end
    local list = {}
    for i, s in ipairs(servers) do list[i] = server_text(s, i) end
    t.servers = concat(list, ",")
  end
  for _, k in ipairs { "timeout", "tries", "cache", "max_ttl", "neg_ttl", "fail_ttl", "per_source" } do
    local v = opts[k]
    if v ~= nil and (type(v) ~= "number" or v <= 0) then
      argerror(1, "resolver", k .. " must be a positive number")
    end
    t[k] = v
  end
  per_source = t.per_source or 8
  t.per_source = nil
  local r, err = core.resolver(t)
  if not r then argerror(1, "resolver", err) end
  current, settings = r, t
end

local function get()
  if not current then current = assert(core.resolver(settings)) end
  return current
end

local function wake(w, ...) w:wake(...) end

--- Look a name up; yields the calling coroutine unless the cache answers.
-- @tparam string name the domain name
-- @tparam string qtype "A", "AAAA" (records: address strings), "SRV" (`{priority, weight, port,
-- target}`, RFC 2782) or "NAPTR" (`{order, preference, flags, service, replacement}`, RFC 3403)
-- @tparam[opt] string source who asks (e.g. the address a request came from): at most
-- `per_source` lookups of one source are in flight
-- @treturn table the records
-- @treturn number their TTL in seconds
-- @return[2] nil
-- @treturn[2] string what failed, naming the name
-- @treturn[2] string kind: "noname" (NXDOMAIN), "nodata", "fail" (timeout, server failure,
-- malformed answer) or "busy" (source has too many lookups in flight; not asked)
-- @raise on a bad name or type
function M.query(name, qtype, source)
  local r = get()
  local recs, a, b = r:query(name, qtype)
  if recs ~= false then return recs, a, b end
  if source then
    local n = inflight[source] or 0
    if n >= per_source then
      return nil, "too many DNS lookups in flight from " .. tostring(source), "busy"
    end
    inflight[source] = n + 1
  end
  if isyieldable() then
    local w = loop.waiter()
    recs, a, b = r:query(name, qtype, wake, w)
    if recs == false then recs, a, b = w:block() end
  else -- a script's setup, before sip.run: the loop runs here until the answer comes
    local got
    recs, a, b = r:query(name, qtype, function(_, ...) got = table.pack(...) end, false)
    while recs == false and not got do
      local ok, err = core.run(true) -- raises inside a loop callback: that needs a coroutine
      if not ok then error(err, 0) end
    end
    if got then recs, a, b = got[1], got[2], got[3] end
  end
  if source then
    local n = inflight[source] - 1
    inflight[source] = n > 0 and n or nil
  end
  return recs, a, b
end

--- The resolver's counters.
-- @treturn table `{entries, inflight, hits, misses, queries, evicted}`
function M.stats() return get():stats() end

return M
