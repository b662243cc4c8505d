#!/usr/bin/env lua5.4
-- proxy.lua: a registrar and stateful proxy for one domain (RFC 3261 §10.3, §16).
--   lua5.4 examples/proxy.lua [--listen udp:127.0.0.1:5060 ...] [--realm example.com]
--     [--users FILE] [--location memory|sqlite:PATH] [--log error|warn|info|debug] [--trace]
--     [--cert FILE --key FILE] [--domain NAME ...] [--relay local|all|none]
--     [--algorithms MD5,SHA-256] [--register-policy own|own-or-free] [--secret-file FILE]
--     [--limit KEY=VALUE]... [--quiet]
-- --users: lines "user:password"; REGISTER is then challenged (401) and calls and messages from
-- our users too (407). Without it nobody authenticates. --log info: one line per transaction on
-- stderr (the default, warn, reports only trouble); --trace prints every message in and out.
-- Ctrl-C or SIGTERM stops it.
-- run from a checkout: its lua/ and build/ come first; an installed rock is found otherwise
local here = arg[0]:match("^(.*)/examples/[^/]*$") or "."
package.path = here .. "/lua/?.lua;" .. here .. "/lua/?/init.lua;" .. package.path
package.cpath = here .. "/build/?.so;" .. package.cpath
local sip = require "sip"
-- A free-block cache in front of Lua's allocator (csrc/lsip_alloc.c): a server allocates and
-- frees the same small objects at a high rate. Asked for here; require changes no allocator.
sip.core.install_alloc_cache()
-- The collector, set here (require leaves it alone): incremental, a cycle once the heap is 1.5x
-- what the last one left. In generational mode transactions outlive the minor collections
-- (Timer J/L, 32 s), majors free too little, and each then waits for the heap to double: RSS
-- kept growing. Numbers: csrc/bench/soak.py (RSS, Lua heap and CPU per call over minutes).
collectgarbage("incremental", 150, 200)

local USAGE = [[
usage: proxy.lua [--listen PROTO:HOST:PORT]... [--realm DOMAIN] [--users FILE]
                 [--location memory|sqlite:PATH] [--log LEVEL] [--trace] [--cert FILE --key FILE]
                 [--domain NAME]... [--relay local|all|none] [--algorithms LIST]
                 [--register-policy own|own-or-free] [--secret-file FILE] [--limit KEY=VALUE]...
                 [--quiet]
  --log: error, warn (default), info (one line per transaction), debug
  --relay: what goes to other domains: local (our authenticated users' requests, the default),
  all (anything: an open relay), none (nothing)
  --register-policy: own (a user registers its own address only, the default) or own-or-free
  (also addresses of the domain that belong to no user)
  --secret-file: the key of the Record-Route tokens (16 bytes or more), the same for every
  proxy that shares the dialogs; default: random at each start
  --limit: a connection limit (sip.endpoint's limits): total, tcp, tls, ws, per_source
  (connections), idle, first_message, message, handshake (seconds); e.g. --limit per_source=16
  --algorithms: digest algorithms offered, most preferred first (default MD5: what SIPp and
  most phones compute; SHA-256,MD5 offers RFC 8760's first)
]]

local o = { listen = {}, domains = {}, realm = nil, log = "warn", relay = "local", limits = nil }
local i = 1
local function value()
  local v = arg[i + 1]
  if not v then
    io.stderr:write("proxy.lua: ", arg[i], " needs a value\n", USAGE)
    os.exit(2)
  end
  i = i + 2
  return v
end
while arg[i] do
  local a = arg[i]
  if a == "--listen" then o.listen[#o.listen + 1] = value()
  elseif a == "--realm" then o.realm = value()
  elseif a == "--users" then o.users = value()
  elseif a == "--location" then o.location = value()
  elseif a == "--log" then o.log = value()
  elseif a == "--cert" then o.cert = value()
  elseif a == "--key" then o.key = value()
  elseif a == "--domain" then o.domains[#o.domains + 1] = value()
  elseif a == "--relay" then o.relay = value()
  elseif a == "--algorithms" then o.algorithms = value()
  elseif a == "--register-policy" then o.register_policy = value()
  elseif a == "--secret-file" then o.secret_file = value()
  elseif a == "--limit" then
    local kv = value()
    local k, v = kv:match("^([%w_]+)=(%-?[%d.]+)$")
    if not k then
      io.stderr:write("proxy.lua: --limit takes KEY=NUMBER, not ", kv, "\n")
      os.exit(2)
    end
    o.limits = o.limits or {}
    o.limits[k] = math.tointeger(tonumber(v)) or tonumber(v)
  elseif a == "--trace" then o.trace = true; i = i + 1
  elseif a == "--quiet" then o.quiet = true; i = i + 1
  elseif a == "--help" or a == "-h" then io.stdout:write(USAGE); os.exit(0)
  else
    io.stderr:write("proxy.lua: unknown option ", a, "\n", USAGE)
    os.exit(2)
  end
end
if #o.listen == 0 then o.listen = { "udp:127.0.0.1:5060" } end
local LEVELS = { error = 1, warn = 2, info = 3, debug = 4 }
if not LEVELS[o.log] then
  io.stderr:write("proxy.lua: --log must be error, warn, info or debug\n")
  os.exit(2)
end
local RELAY = { ["local"] = "local", all = true, none = false }
if RELAY[o.relay] == nil then
  io.stderr:write("proxy.lua: --relay must be local, all or none\n")
  os.exit(2)
end
if o.register_policy and o.register_policy ~= "own" and o.register_policy ~= "own-or-free" then
  io.stderr:write("proxy.lua: --register-policy must be own or own-or-free\n")
  os.exit(2)
end
local secret
if o.secret_file then
  local f, ferr = io.open(o.secret_file, "rb")
  secret = f and f:read("a"):gsub("%s+$", "")
  if f then f:close() end
  if not secret or #secret < 16 then
    io.stderr:write("proxy.lua: --secret-file: ", ferr or "the secret needs 16 bytes or more", "\n")
    os.exit(2)
  end
end
if o.users and not o.realm then o.realm = "example.com" end
local algorithms = {}
for a in (o.algorithms or "MD5"):gmatch("[^,%s]+") do algorithms[#algorithms + 1] = a end

local stderr = io.stderr
stderr:setvbuf("line")
local stamp_at, stamp = -1, ""
local UPPER = { error = "ERROR ", warn = "WARN ", info = "INFO ", debug = "DEBUG " }
local function log(level, line)
  local now = os.time()
  if now ~= stamp_at then stamp_at, stamp = now, os.date("%Y-%m-%d %H:%M:%S ", now) end
  stderr:write(stamp, UPPER[level] or level, line, "\n")
end

local trace
if o.trace then
  trace = function(dir, bytes, peer)
    local head = bytes:match("^[^\r\n]*") or ""
    stderr:write(("%s %s %s:%s:%s (%d bytes) %s\n"):format(os.date("%H:%M:%S"), dir == "in" and "<<<" or ">>>",
      peer.proto, peer.host or "?", peer.port or "?", #bytes, head))
    stderr:write(bytes:gsub("\r\n", "\n"), bytes:sub(-4) == "\r\n\r\n" and "" or "\n")
  end
end

-- a bad option value (a limit, the secret) raises: said as a usage error
local made, px, err = pcall(sip.proxy, {
  listen = o.listen, realm = o.realm, users = o.users, location = o.location or "memory",
  domains = o.domains, relay = RELAY[o.relay], log = log, log_level = o.log, trace = trace, algorithms = algorithms,
  tls_cert = o.cert, tls_key = o.key, register_policy = o.register_policy, secret = secret, limits = o.limits,
})
if not made then
  stderr:write("proxy.lua: ", (tostring(px):gsub("^.-bad argument #1 to 'proxy' %((.*)%)$", "%1")), "\n")
  os.exit(2)
end
if not px then
  stderr:write("proxy.lua: ", tostring(err), "\n")
  os.exit(1)
end

if not o.quiet then
  for _, l in ipairs(px.ep.listeners) do
    print(("listening on %s:%s:%d"):format(l.proto, l.host:find(":", 1, true) and "[" .. l.host .. "]" or l.host, l.port))
  end
  local host, port = px.ep:sent_by(px.ep.listeners[1].proto)
  local domain = o.realm or host
  print(("domain %s, %s, location %s"):format(domain,
    o.users and ("users from " .. o.users .. " (digest, realm " .. o.realm .. ")") or "no authentication",
    o.location or "memory"))
  print(("point a softphone at %s:%d (registrar and outbound proxy), account USER@%s%s;"):format(
    host, port, domain, o.users and (", password from " .. o.users) or ""))
  if o.users then
    print(("or SIPp: sipp %s:%d -sf spec/support/sipp/register_auth.xml -s alice -au alice -ap PASSWORD -m 1"):format(host, port))
  else
    print(("or SIPp: sipp %s:%d -sf ../shared/bench/sipp/reg.xml -inf ../shared/bench/sipp/users.csv -m 10"):format(host, port))
  end
  print("Ctrl-C stops it.")
  io.stdout:flush()
end

-- an error in a callback is logged; the proxy goes on serving
sip.on_error(function(e) log("error", tostring(e)) end)
local sigs
sigs = { sip.on_signals(function()
  log("info", "stopping")
  px:close()
  for _, s in ipairs(sigs) do s:close() end
  sip.stop()
end) }
local ok, rerr = pcall(sip.run)
if not ok then
  log("error", tostring(rerr))
  px:close()
  os.exit(1)
end
