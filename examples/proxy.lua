#!/usr/bin/env lua5.4
-- proxy.lua: a registrar and stateful proxy for one domain (RFC 3261 §10.3, §16). The options and
-- what they do: --help (the spec below). Ctrl-C or SIGTERM stops it.
dofile((arg[0]:match("^.*/") or "") .. "paths.lua")
local sip = require "sip"
local cli = require "sip.cli"
-- A free-block cache in front of Lua's allocator (csrc/lsip_alloc.c): a server allocates and
-- frees the same small objects at a high rate. Asked for here; require changes no allocator.
sip.core.install_alloc_cache()
-- The collector, set here (require leaves it alone): incremental, a cycle once the heap is 1.5x
-- what the last one left. In generational mode transactions outlive the minor collections
-- (Timer J/L, 32 s), majors free too little, and each then waits for the heap to double: RSS
-- kept growing. Numbers: csrc/bench/soak.py (RSS, Lua heap and CPU per call over minutes).
collectgarbage("incremental", 150, 200)

local LIMITS = "total, tcp, tls, ws, per_source (connections), idle, first_message, message, handshake (seconds)"
local SPEC = {
  name = "proxy.lua",
  description = "A registrar and stateful proxy for one domain (RFC 3261 §10.3, §16). With --users "
    .. "(lines user:password) REGISTER is challenged (401), and calls and messages from our users too "
    .. "(407); without it nobody authenticates.",
  options = {
    { "--listen", "PROTO:HOST:PORT", "list", default = { "udp:127.0.0.1:5060" },
      help = "a transport to listen on: udp, tcp, tls, ws or wss (ws:HOST:PORT/PATH serves one path only)" },
    { "--realm", "DOMAIN", help = "our domain and digest realm (default example.com with --users)" },
    { "--users", "FILE", help = "digest users, one user:password a line" },
    { "--location", "memory|sqlite:PATH", default = "memory", help = "where bindings live",
      check = function(v) return v == "memory" or v:find("^sqlite:.") ~= nil, "memory or sqlite:PATH" end },
    { "--log", "LEVEL", one_of = { "error", "warn", "info", "debug" }, default = "warn",
      help = "info: one line per transaction on stderr; warn reports only trouble" },
    { "--trace", help = "print every message in and out" },
    { "--cert", "FILE", help = "TLS certificate (with --key)" },
    { "--key", "FILE", help = "TLS private key (with --cert)" },
    { "--domain", "NAME", "list", help = "another name of our domain" },
    { "--relay", "POLICY", one_of = { "local", "all", "none" }, default = "local",
      help = "what goes to other domains: local (our authenticated users' requests), all (anything: an open "
        .. "relay), none" },
    { "--algorithms", "LIST", default = "MD5", help = "digest algorithms offered, most preferred first "
      .. "(MD5 is what SIPp and most phones compute; SHA-256,MD5 offers RFC 8760's first)" },
    { "--register-policy", "POLICY", one_of = { "own", "own-or-free" }, default = "own",
      help = "own: a user registers its own address only; own-or-free: also addresses of the domain that "
        .. "belong to no user" },
    { "--secret-file", "FILE", help = "the key of the Record-Route tokens (16 bytes or more), the same for "
      .. "every proxy sharing the dialogs (default: random at each start)" },
    { "--limit", "KEY=N", "list", help = "a connection limit of sip.endpoint: " .. LIMITS,
      check = function(v) return v:find("^[%w_]+=%-?[%d.]+$") ~= nil, "KEY=NUMBER" end },
    { "--quiet", help = "print nothing at start" },
  },
  check = function(v)
    if (not v.cert) ~= (not v.key) then return nil, "--cert and --key go together" end
    return true
  end,
}
local o = cli.parse(SPEC, arg)
local RELAY = { ["local"] = "local", all = true, none = false }
local limits
for _, kv in ipairs(o.limit) do
  local k, v = kv:match("^([%w_]+)=(.*)$")
  limits = limits or {}
  limits[k] = math.tointeger(tonumber(v)) or tonumber(v)
end
local secret
if o.secret_file then
  local f, ferr = io.open(o.secret_file, "rb")
  secret = f and f:read("a"):gsub("%s+$", "")
  if f then f:close() end
  if not secret or #secret < 16 then
    cli.fail(SPEC, "--secret-file: " .. (ferr or "the secret needs 16 bytes or more"))
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
  domains = o.domain, relay = RELAY[o.relay], log = log, log_level = o.log, trace = trace, algorithms = algorithms,
  tls_cert = o.cert, tls_key = o.key, register_policy = o.register_policy, secret = secret, limits = limits,
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
    local shown = l.host:find(":", 1, true) and "[" .. l.host .. "]" or l.host
    print(("listening on %s:%s:%d%s"):format(l.proto, shown, l.port, l.path or ""))
    if l.proto == "ws" or l.proto == "wss" then
      print(("  browsers (JsSIP, SIP.js): %s://%s:%d%s, subprotocol sip"):format(l.proto, shown, l.port, l.path or "/"))
    end
  end
  local host, port = px.ep:sent_by(px.ep.listeners[1].proto)
  local domain = o.realm or host
  print(("domain %s, %s, location %s"):format(domain,
    o.users and ("users from " .. o.users .. " (digest, realm " .. o.realm .. ")") or "no authentication",
    o.location or "memory"))
  print(("point a softphone at %s:%d (registrar and outbound proxy), account USER@%s%s;"):format(
    host, port, domain, o.users and (", password from " .. o.users) or ""))
  if o.users then
    print(("or SIPp: sipp %s:%d -sf spec/support/sipp/register_auth.xml -s alice -au alice -ap PASSWORD -m 1")
      :format(host, port))
  else
    print(("or SIPp: sipp %s:%d -sf ../shared/bench/sipp/reg.xml -inf ../shared/bench/sipp/users.csv -m 10")
      :format(host, port))
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
