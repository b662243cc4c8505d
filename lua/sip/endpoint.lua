--- sip.endpoint: transports and transactions for straight-line Lua.
-- An endpoint listens on one or more transports; each incoming request runs its handler in a
-- coroutine of its own, which answers with req:reply(code, ...); ep:request(msg) sends a request
-- and waits for its final response (provisional ones are passed to a callback on the way).
local core = require "sip.core"
local loop = require "sip.loop"
local route = require "sip.route"
local argerror = require("sip.args").error

local M = {}
local Endpoint = {}
Endpoint.__index = Endpoint

--- "udp:127.0.0.1:5060", "tcp:[::1]:5062", "tls:0.0.0.0:5061", "ws:127.0.0.1:8080/ws",
-- "wss:[::1]:8443" -> proto, host, port, path (WebSocket only: the resource name served, nil for
-- any)
function M.parse_listen(spec)
  if type(spec) ~= "string" then error("listen spec must be a string like udp:127.0.0.1:5060", 3) end
  local proto, rest = spec:match("^(%a+):(.+)$")
  proto = proto and proto:lower()
  if not route.default_port(proto) then
    error("listen spec needs udp:, tcp:, tls:, ws: or wss: (" .. spec .. ")", 3)
  end
  local path
  if proto == "ws" or proto == "wss" then rest, path = rest:match("^([^/]*)(/?.*)$") end
  if path == "" then path = nil end
  local host, port = rest:match("^%[([%x:%.]+)%]:?(%d*)$")
  if not host then host, port = rest:match("^([^:]+):?(%d*)$") end
  if not host then error("bad listen spec " .. spec, 3) end
  port = tonumber(port) or route.default_port(proto)
  return proto, host, port, path
end

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

--- sip.endpoint{ listen = {"udp:127.0.0.1:5060", ...}, handler = fn(req), t1 =, t2 =, t4 = (s),
--   advertise = "host" (address for Via/Contact when listening on a wildcard), tls_cert =,
--   tls_key =, tls_ca =, tls_verify =, max_msg =,
--   limits = { total =, tcp =, tls =, ws =, per_source = (connections), idle =, first_message =,
--   message =, handshake = (s) } (stream connections; see ep:trust), max_conns = (limits.total),
--   idle_timeout = (limits.idle), loss = share of outgoing UDP datagrams to drop (tests only) }
function M.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then argerror(1, "endpoint", "table expected") end
  for _, l in ipairs(opts.listen or {}) do M.parse_listen(l) end -- misuse raises before anything opens
  local cfg = {
    t1 = ms(opts.t1), t2 = ms(opts.t2), t4 = ms(opts.t4), timer_d = ms(opts.timer_d),
    max_msg = opts.max_msg,
    tls_cert = opts.tls_cert, tls_key = opts.tls_key, tls_ca = opts.tls_ca, tls_verify = opts.tls_verify,
    loss = opts.loss,
  }
  limits(opts, cfg)
  local st, err = core.stack(cfg)
  if not st then return nil, err end
  local ep = setmetatable({ stack = st, listeners = {}, by_proto = {}, handler = opts.handler,
    advertise = opts.advertise }, Endpoint)
  st:on("request", function(txn, req) ep:dispatch(txn, req) end)
  st:on("stray", function(rsp) if ep.on_stray then ep.on_stray(rsp) end end)
  for _, l in ipairs(opts.listen or {}) do
    local ok, lerr = ep:listen(l)
    if not ok then
      st:close()
      return nil, lerr
    end
  end
  return ep
end

--- Add a listener; returns {proto=, host=, port=, id=} or nil, err.
function Endpoint:listen(spec)
  local proto, host, port, path = M.parse_listen(spec)
  local id, h, p = self.stack:listen(proto, host, port, path)
  if not id then return nil, h end
  local l = { proto = proto, host = h, port = p, id = id, path = path }
  self.listeners[#self.listeners + 1] = l
  self.by_proto[proto] = self.by_proto[proto] or l
  return l
end

function Endpoint:on_request(fn) self.handler = fn end

--- The sent-by host:port for Via and Contact on a transport (§18.1.1).
function Endpoint:sent_by(proto)
  local l = self.by_proto[proto] or self.listeners[1]
  if not l then return (self.advertise or "127.0.0.1"), nil end
  local host = self.advertise or l.host
  if host == "0.0.0.0" then host = "127.0.0.1" elseif host == "::" then host = "::1" end
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

--- Send a request and wait for its final response.
-- opts: dest (peer {proto=, host=, port=} instead of routing by Route/Request-URI), timeout (s),
-- provisional = fn(rsp) for 1xx (runs in a coroutine of its own), on_2xx = fn(rsp) for further
-- 2xx of an INVITE (forks, retransmissions), on_txn = fn(txn) called with the client transaction
-- as soon as it exists (it must not yield). Returns the final response, or nil, err, code
-- (408 timeout, 503 transport trouble). A request without Via gets ours with a fresh branch.
function Endpoint:request(req, opts)
  opts = opts or {}
  if not req or not req.is_request then argerror(1, "request", "a request expected") end
  local dest = opts.dest
  if not dest then
    local err
    dest, err = next_hop(req)
    if not dest then return nil, err, 503 end
  end
  if not req.branch then
    local host, port = self:sent_by(dest.proto)
    req:push_via(("SIP/2.0/%s %s%s;branch=%s;rport"):format(dest.proto:upper(), host,
      port and (":" .. port) or "", core.branch()))
  end
  local bytes = tostring(req)
  -- §18.1.1: a request over 1300 bytes goes over a congestion-controlled transport
  if dest.proto == "udp" and #bytes > 1300 and not opts.dest then
    local via = req:pop_via()
    req:push_via((via:gsub("^SIP/2%.0/UDP", "SIP/2.0/TCP")))
    dest = { proto = "tcp", host = dest.host, port = dest.port }
    bytes = tostring(req)
  end
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
      w:wake(nil, b, a)
    elseif ev == "terminated" and not final then
      final = true
      w:wake(nil, "transaction ended without a final response", 500)
    end
  end)
  if not txn then return nil, err, code end
  self.last_txn = txn
  if opts.on_txn then opts.on_txn(txn) end -- e.g. a proxy keeps it to CANCEL the branch (§16.10)
  local r, e, c = w:block(opts.timeout)
  if r == nil and e == "timeout" and c == nil then
    final = true
    if txn.state ~= "terminated" then txn:terminate() end
    return nil, "timeout", 408
  end
  return r, e, c
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

--- Close every listener and connection; pending transactions end without callbacks.
function Endpoint:close()
  if self.stack then
    self.stack:close()
    self.stack = nil
  end
end
Endpoint.__close = Endpoint.close
Endpoint.__gc = Endpoint.close

M.next_hop = next_hop
return M
