--- sip.endpoint: transports and transactions for straight-line Lua.
-- An endpoint listens on one or more transports; each incoming request runs its handler in a
-- coroutine of its own, which answers with req:reply(code, ...); ep:request(msg) sends a request
-- and waits for its final response (provisional ones are passed to a callback on the way).
-- @module sip.endpoint
local core = require "sip.core"
local loop = require "sip.loop"
local route = require "sip.route"
local egress = require "sip.egress"
local argerror = require("sip.args").error
local options = require "sip.options"

local M = {}
local Endpoint = {}
Endpoint.__index = Endpoint
Endpoint.__name = "sip.endpoint"

--- "udp:127.0.0.1:5060, tcp:127.0.0.1:5060" (the listeners), or "closed".
function Endpoint:where()
  if not self.stack then return "closed" end
  local out = {}
  for i, l in ipairs(self.listeners) do
    local h = l.host:find(":", 1, true) and "[" .. l.host .. "]" or l.host
    out[i] = l.proto .. ":" .. h .. ":" .. l.port
  end
  return #out > 0 and table.concat(out, ", ") or "no listener"
end
function Endpoint:__tostring() return "sip.endpoint (" .. self:where() .. ")" end

-- "udp:127.0.0.1:5060", "tcp:[::1]:5062", "tls:0.0.0.0:5061", "ws:127.0.0.1:8080/ws",
-- "wss:[::1]:8443" -> proto, host, port, nil, path (WebSocket only: the resource name served,
-- nil for any) | nil, why; or { "tls:0.0.0.0:5061", tls = { cert =, key =, ca =, clients = } }:
-- a TLS or WSS listener's own TLS settings -> proto, host, port, tls, path
local function listen_spec(spec)
  if type(spec) == "table" then
    local proto, host, port, _, path = listen_spec(spec[1])
    if not proto then return nil, host end
    if spec.tls ~= nil and (type(spec.tls) ~= "table" or (proto ~= "tls" and proto ~= "wss")) then
      return nil, "option tls must be a table of TLS settings, on a tls: or wss: listener"
    end
    return proto, host, port, spec.tls, path
  end
  if type(spec) ~= "string" then return nil, "must be a string like udp:127.0.0.1:5060" end
  local proto, rest = spec:match("^(%a+):(.+)$")
  proto = proto and proto:lower()
  if not route.default_port(proto) then return nil, "needs udp:, tcp:, tls:, ws: or wss: (" .. spec .. ")" end
  local path
  if proto == "ws" or proto == "wss" then rest, path = rest:match("^([^/]*)(/?.*)$") end
  if path == "" then path = nil end
  local host, port = rest:match("^%[([%x:%.]+)%]:?(%d*)$")
  if not host then host, port = rest:match("^([^:]+):?(%d*)$") end
  if not host then return nil, "is not PROTO:HOST[:PORT] (" .. spec .. ")" end
  port = tonumber(port) or route.default_port(proto)
  return proto, host, port, nil, path
end

--- A listen spec (as listen_spec above) -> proto, host, port, tls, path; raises on a bad one.
function M.parse_listen(spec)
  local proto, host, port, tls, path = listen_spec(spec)
  if not proto then error("listen spec " .. host, 3) end
  return proto, host, port, tls, path
end

-- listen = "udp:..." or a list of them: the list.
local function listen_list(v)
  if type(v) == "string" or (type(v) == "table" and type(v[1]) == "string" and v.tls ~= nil) then return { v } end
  return v or {}
end

-- The listen option: one spec or a list of them, each well formed.
local function check_listen(v)
  if type(v) ~= "string" and type(v) ~= "table" then return false, "must be a string or a list of them" end
  for i, spec in ipairs(listen_list(v)) do
    local ok, why = listen_spec(spec)
    if not ok then return false, (type(v) == "table" and "[" .. i .. "] " or "") .. why end
  end
  return true
end

--- The options of the transports and transactions, which sip.ua and sip.proxy take too.
M.TRANSPORT_OPTIONS = options.schema("endpoint", {
  listen = check_listen, t1 = "seconds", t2 = "seconds", t4 = "seconds", timer_d = "number",
  advertise = "string", max_msg = "integer", loss = "number",
  tls_cert = "string", tls_key = "string", tls_ca = "string", tls_verify = "boolean",
  tls_clients = function(v)
    if v == "none" or v == "request" or v == "require" then return true end
    return false, 'must be "none", "request" or "require"'
  end,
  limits = "table", max_conns = "integer", idle_timeout = "number",
  mtu = function(v)
    if math.type(v) == "integer" and v >= 576 then return true end
    return false, "must be an integer >= 576"
  end,
})
local OPTIONS = options.schema("endpoint", { handler = "function" }, M.TRANSPORT_OPTIONS)

local function ms(s) return s and math.floor(s * 1000 + 0.5) or nil end

-- limits = {...}: each key, the sip.core.stack option it sets, and whether it is a cap (an
-- integer >= 1) or a deadline (seconds > 0, or negative for never). The defaults and what each
-- one bounds are the transport's (csrc/sip_transport.h).
local LIMITS = {
  total = { "max_conns", "cap" }, tcp = { "max_tcp", "cap" }, tls = { "max_tls", "cap" },
  ws = { "max_ws", "cap" }, per_source = { "max_per_source", "cap" },
  idle = { "idle_timeout", "deadline" }, first_message = { "first_message_timeout", "deadline" },
  message = { "message_timeout", "deadline" }, handshake = { "handshake_timeout", "deadline" },
}
local LIMIT_NAMES = "total, tcp, tls, ws, per_source, idle, first_message, message, handshake"

-- opts.limits (and the older max_conns, idle_timeout) into the stack's options in cfg.
local function limits(opts, cfg)
  local l = opts.limits
  if l == nil then l = {} end
  if type(l) ~= "table" then error("endpoint option 'limits' must be a table", 3) end
  for k, v in pairs(l) do
    local o = LIMITS[k]
    if not o then error(("unknown limit '%s' (known: %s)"):format(tostring(k), LIMIT_NAMES), 3) end
    if o[2] == "cap" then
      if math.type(v) ~= "integer" or v < 1 then
        error(("limits.%s must be an integer >= 1 (got %s)"):format(k, tostring(v)), 3)
      end
    elseif type(v) ~= "number" or v ~= v or v == 0 then
      error(("limits.%s must be seconds > 0, or negative for never (got %s)"):format(k, tostring(v)), 3)
    end
    cfg[o[1]] = v
  end
  for old, new in pairs { max_conns = "total", idle_timeout = "idle" } do -- the older names
    local v = opts[old]
    if v ~= nil then
      if l[new] ~= nil and l[new] ~= v then
        error(("endpoint options %s and limits.%s disagree"):format(old, new), 3)
      end
      cfg[LIMITS[new][1]] = v
    end
  end
end

--- sip.endpoint{ listen = {"udp:127.0.0.1:5060", ...}, handler = fn(req), t1 =, t2 =, t4 =, timer_d = (s),
--   advertise = "host" (address for Via/Contact when listening on a wildcard), max_msg =,
--   tls_cert =, tls_key = (PEM files: a TLS server's certificate, and a client's when a server
--   asks), tls_ca = (CA file or hashed directory verifying peers; default the system store),
--   tls_verify = (false: servers are not verified), tls_clients = "none"|"request"|"require"
--   (client certificates a TLS listener asks for; what came is req.tls),
--   limits = { total =, tcp =, tls =, ws =, per_source = (connections), idle =, first_message =,
--   message =, handshake = (s) } (stream connections; see ep:trust), max_conns = (limits.total),
--   idle_timeout = (limits.idle), mtu = (bytes, default 1500: a request over mtu - 200 leaves over
--   TCP instead of UDP, §18.1.1), loss = share of outgoing UDP datagrams to drop (tests only) }
function M.new(opts)
  opts = OPTIONS:check(opts) -- misuse raises before anything opens
  local cfg = {
    t1 = ms(opts.t1), t2 = ms(opts.t2), t4 = ms(opts.t4), timer_d = ms(opts.timer_d),
    max_msg = opts.max_msg,
    tls_cert = opts.tls_cert, tls_key = opts.tls_key, tls_ca = opts.tls_ca, tls_verify = opts.tls_verify,
    tls_clients = opts.tls_clients, loss = opts.loss,
  }
  limits(opts, cfg)
  local st, err = core.stack(cfg)
  if not st then return nil, err end
  local ep = loop.opened(setmetatable({ stack = st, listeners = {}, by_proto = {}, by_side = {},
    handler = opts.handler, advertise = opts.advertise, mtu = opts.mtu, watched = {}, sources = {}, nsources = 0 },
    Endpoint))
  st:on("request", function(txn, req) ep:dispatch(txn, req) end)
  st:on("conn", function(conn, errno, what) ep:_conn_closed(conn, errno, what) end)
  st:on("stray", function(rsp) if ep.on_stray then ep.on_stray(rsp) end end)
  for _, l in ipairs(listen_list(opts.listen)) do
    local ok, lerr = ep:listen(l)
    if not ok then
      st:close()
      return nil, lerr
    end
  end
  return ep
end

--- A listener as a listen spec reads: "udp:127.0.0.1:5060", "tcp:[::1]:5062" (IPv6 in brackets).
function M.listener_text(l)
  local h = l.host
  if h:find(":", 1, true) then h = "[" .. h .. "]" end
  return l.proto .. ":" .. h .. ":" .. l.port
end

--- Add a listener; returns {proto=, host=, port=, id=} or nil, err.
function Endpoint:listen(spec)
  local proto, host, port, tls, path = M.parse_listen(spec)
  local id, h, p = self.stack:listen(proto, host, port, tls, path)
  if not id then return nil, h end
  local l = { proto = proto, host = h, port = p, id = id, path = path }
  self.listeners[#self.listeners + 1] = l
  self.by_proto[proto] = self.by_proto[proto] or l
  local side = proto .. egress.family(h)
  self.by_side[side] = self.by_side[side] or l
  return l
end

--- Set the handler of incoming requests: fn(req) in a coroutine per request.
function Endpoint:on_request(fn) self.handler = fn end

--- The listener a message to dest ({host=}, or nil: any) leaves from over proto: the first of
-- that transport and of dest's address family, else the first of that transport.
function Endpoint:listener_for(proto, dest)
  local fam = dest and egress.family(dest.host) or ""
  return fam ~= "" and self.by_side[proto .. fam] or self.by_proto[proto] or self.listeners[1]
end

local WILDCARD = { ["0.0.0.0"] = "127.0.0.1", ["::"] = "::1" }
local MAX_SOURCES = 256

-- The address a wildcard listener names toward dest: the interface the kernel would send from
-- (sip_tp_source_for), kept per host; loopback when dest is a name or of the other family.
function Endpoint:_source_for(wild, dest)
  local host = dest and dest.host
  local fam = host and egress.family(host)
  if not fam or fam == "" or fam ~= egress.family(wild) then return WILDCARD[wild] end
  local src = self.sources[host]
  if src then return src end
  src = self.stack:source_for { proto = "udp", host = host, port = dest.port or 5060 } or WILDCARD[wild]
  if self.nsources >= MAX_SOURCES then self.sources, self.nsources = {}, 0 end
  self.sources[host], self.nsources = src, self.nsources + 1
  return src
end

--- The sent-by host, port for Via and Contact on a transport (§18.1.1), of the listener a
-- message to dest leaves from (see listener_for); IPv6 in brackets.
function Endpoint:sent_by(proto, dest)
  local l = self:listener_for(proto, dest)
  if not l then return (self.advertise or "127.0.0.1"), nil end
  local host = self.advertise or l.host
  if WILDCARD[host] then host = self:_source_for(host, dest) end
  if host:find(":", 1, true) then host = "[" .. host .. "]" end
  return host, l.port
end

local FINAL_PENDING = { trying = true, proceeding = true }

-- A new request: the handler runs in its own coroutine; a request it leaves without a final
-- response gets 500, and an error in it gets 500 and is reported out of run().
local traceback = debug.traceback
local function serve(h, txn, req)
  local ok, err = xpcall(h, traceback, req)
  if txn and FINAL_PENDING[txn.state] then
    txn:respond(500, ok and "No Response From Handler" or "Server Internal Error")
  end
  if not ok then loop.report(err) end
end

function Endpoint:dispatch(txn, req)
  local h = self.handler
  if not h then
    if txn then txn:respond(503, "No Handler") end
    return
  end
  loop.spawn(serve, h, txn, req)
end

-- §8.1.2 (sip.route): the first Route if it is a loose router, else the Request-URI.
local next_hop = route.next_hop

-- A transport failure as the caller reads it, naming the peer (and for TLS the domain it must
-- prove): "INVITE to 127.0.0.1:5070 over tcp: connection refused", "MESSAGE to 127.0.0.1:5061
-- (sip.example.test) over tls: certificate name mismatch".
local function peer_error(req, dest, err)
  local host = tostring(dest.host)
  if host:find(":", 1, true) and host:byte(1) ~= 91 then host = "[" .. host .. "]" end
  return ("%s to %s:%s%s over %s: %s"):format(req.method, host, tostring(dest.port or route.default_port(dest.proto)),
    dest.domain and (" (" .. dest.domain .. ")") or "", dest.proto, tostring(err))
end

-- Our Via for req about to leave for dest, with a fresh branch (§8.1.1.7, RFC 3581 rport).
function Endpoint:_push_via(req, dest)
  local host, port = self:sent_by(dest.proto, dest)
  req:push_via(("SIP/2.0/%s %s%s;branch=%s;rport"):format(dest.proto:upper(), host,
    port and (":" .. port) or "", core.branch()))
end

-- One attempt at dest: the request by size (§18.1.1: too large for UDP, so over TCP), over UDP
-- after all when TCP is refused; the final response or nil, err, code, and whether the caller's
-- own timeout ended it.
function Endpoint:_attempt(req, dest, opts)
  local bytes = tostring(req)
  local big = egress.by_size(dest, #bytes, self.mtu)
  if big ~= dest then
    egress.retransport_via(req, "tcp", self:sent_by_text("tcp", big))
    dest, bytes = big, tostring(req)
  end
  local udp = dest.udp -- chosen by size, here or by the caller (a proxy's Record-Route)
  local r, e, c, mine = self:_exchange(req, bytes, dest, opts)
  if not udp or r or c ~= 503 then return r, e, c, mine end
  egress.fallback_via(req, self:sent_by_text("udp", udp)) -- TCP refused: over UDP after all
  return self:_exchange(req, tostring(req), udp, opts)
end

--- sent_by as Via text: "host:port" (or "host" when there is no listener).
function Endpoint:sent_by_text(proto, dest)
  local host, port = self:sent_by(proto, dest)
  return port and (host .. ":" .. port) or host
end

-- One client transaction for bytes (req's text) to dest; the rest of request().
function Endpoint:_exchange(req, bytes, dest, opts)
  local w = loop.waiter()
  local final
  local invite = req.method == "INVITE"
  -- the callback holds these, not opts: it may live on after the final response (an INVITE's
  -- handle, for Timer M), and opts of a proxy's branch reach its whole context
  local provisional, on_2xx = opts.provisional, opts.on_2xx
  local txn, err, code = self.stack:request(bytes, dest, function(t, ev, a, b)
    if ev == "response" then
      if a.status < 200 then
        if provisional and not final then loop.spawn(provisional, a) end
      elseif not final then
        final = true
        provisional = nil
        -- nothing more to say but the further 2xx of an INVITE: the handle and this closure need
        -- not live on for Timer K, D or M (5, 32, 32 s over UDP) while the core absorbs
        -- retransmitted responses (and ACKs a non-2xx itself)
        if not (invite and on_2xx and a.status < 300) then t:on(nil) end
        w:wake(a)
      elseif on_2xx and a.status < 300 then
        loop.spawn(on_2xx, a)
      end
    elseif ev == "error" and not final then
      final = true
      w:wake(nil, peer_error(req, dest, b), a)
    elseif ev == "terminated" and not final then
      final = true
      w:wake(nil, "transaction ended without a final response", 500)
    end
  end)
  if not txn then return nil, peer_error(req, dest, err), code end
  self.last_txn = txn
  if opts.on_txn then opts.on_txn(txn) end -- e.g. a proxy keeps it to CANCEL the branch (§16.10)
  local r, e, c = w:block(opts.timeout)
  if r == nil and e == "timeout" and c == nil then
    final = true
    if txn.state ~= "terminated" then txn:terminate() end
    return nil, "timeout", 408, true
  end
  return r, e, c
end

local REQUEST_OPTIONS = options.schema("request", {
  dest = "table", timeout = "number", provisional = "function", on_2xx = "function", on_txn = "function",
  via = "function", source = "string",
})
--- Send a request and wait for its final response.
-- opts: dest (peer {proto=, host=, port=[, domain=][, tls=]} instead of routing by
-- Route/Request-URI: domain is the name TLS verifies (sip.route's; RFC 5922), tls = {ca=,
-- verify=, cert=, key=} settings of its own for a new connection, over the endpoint's),
-- timeout (s), provisional = fn(rsp) for 1xx (runs in a coroutine of its own), on_2xx = fn(rsp)
-- for further 2xx of an INVITE (forks, retransmissions), on_txn = fn(txn) called with the client
-- transaction as soon as it exists (it must not yield), via = fn(dest) -> the Via to put on top for a new
-- destination (a proxy's own branch; default ours), source = text (bounds DNS lookups per
-- source, sip.resolver). Returns the final response, or nil, err, code (408 timeout, 503
-- transport trouble). A request without Via gets ours with a fresh branch.
-- RFC 3263 §4.3: a transport error, Timer B/F or a 503 moves the request, as a new transaction
-- (a new branch), to the destination's next one (sip.route's dest.next); one that failed stays
-- remembered as dead for a while (sip.route.mark_dead). The caller's timeout ends it all.
function Endpoint:request(req, opts)
  if not req or not req.is_request then argerror(1, "request", "a request expected") end
  return self:_request(req, REQUEST_OPTIONS:check(opts, 2))
end

-- ep:request without the checks, for the layers above whose options are their own.
function Endpoint:_request(req, opts)
  local dest = opts.dest
  if not dest then
    local err
    dest, err = next_hop(req, opts.source and { source = opts.source })
    if not dest then return nil, err, 503 end
  end
  if not req.branch then self:_push_via(req, dest) end
  while true do
    local r, e, c, mine = self:_attempt(req, dest, opts)
    local nxt = dest.next
    local failed = (r == nil and (c == 503 or c == 408) and not mine) or (r and r.status == 503)
    if not failed or not nxt then return r, e, c end
    if r == nil then route.mark_dead(dest) end
    req:pop_via()
    if opts.via then req:push_via(opts.via(nxt)) else self:_push_via(req, nxt) end
    dest = nxt
  end
end

--- Send without a transaction (the ACK of a 2xx, §13.2.2.4). dest as in request().
function Endpoint:send(msg, dest)
  if not dest then
    local err
    dest, err = next_hop(msg)
    if not dest then return nil, err, 503 end
  end
  return self.stack:send(msg, dest)
end

--- Counters of the transports and transactions: the connection limits' refused_cap,
-- refused_source, evicted, timeout_handshake, timeout_first, timeout_message, idle_closed, and the
-- open conns_tcp, conns_tls, conns_ws, untrusted (see README, Connection limits).
function Endpoint:stats() return self.stack:stats() end

--- The sender of req authenticated: the stream connection it came in on is trusted, so it is
-- never evicted for a newcomer, has no first-message deadline and leaves its address's
-- per_source count. Returns true when a connection was marked; false (and nothing done) for UDP,
-- a connection already closed, a request not received, or a closed endpoint.
function Endpoint:trust(req)
  if type(req) ~= "userdata" or not req.is_request then
    argerror(1, "trust", "a received request expected")
  end
  local src = req.source
  local conn = src and src.conn
  if not conn or not self.stack then return false end
  return self.stack:trust(conn)
end

-- -------------------------------------------------------------------------------------------------
-- Flows (RFC 5626): the connection a registration went over. conn is a message's source.conn
-- (a request received, a response to ours); each call returns false or nil (and does nothing)
-- for a connection already closed.

--- Keep conn open for seconds from now whatever the idle timeout (0: the idle timeout again):
-- a registrar holds a binding's flow until the binding expires, a UA its own.
function Endpoint:hold(conn, seconds)
  if not self.stack then return false end
  return self.stack:hold(conn, seconds)
end

--- Send the client's keepalive ping on conn (CRLFCRLF, §4.4.1): true | nil, err.
function Endpoint:ping(conn)
  if not self.stack then return nil, "endpoint closed" end
  return self.stack:ping(conn)
end

--- When bytes last came on conn (sip.loop.now's clock): a pong after a ping says the flow lives.
function Endpoint:heard(conn)
  if not self.stack then return nil end
  return self.stack:heard(conn)
end

--- Close conn now (a flow that failed), without its "closed" report.
function Endpoint:drop(conn)
  if not self.stack then return false end
  return self.stack:drop(conn)
end

--- fn(conn, errno, what) runs (in a coroutine of its own) once conn closes or fails; fn nil
-- stops watching.
function Endpoint:watch(conn, fn)
  self.watched[conn] = fn
end

function Endpoint:_conn_closed(conn, errno, what)
  local fn = self.watched[conn]
  if fn then
    self.watched[conn] = nil
    loop.spawn(fn, conn, errno, what)
  end
end

--- Close every listener and connection; pending transactions end without callbacks.
function Endpoint:close()
  if self.stack then
    self.stack:close()
    self.stack = nil
  end
end
Endpoint.__close = Endpoint.close
Endpoint.__gc = Endpoint.close

--- Where a request goes (§8.1.2): the first Route if it is a loose router, else the
-- Request-URI, as {proto=, host=, port=} (sip.route.next_hop).
-- @function next_hop
M.next_hop = next_hop
M.Endpoint = Endpoint
M.OPTIONS = OPTIONS
return M
