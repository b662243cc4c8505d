--- sip.ua_flow: the flow of a registration over TCP or TLS (RFC 5626, the parts a UA needs
-- without full Outbound). The connection a REGISTER's 2xx came back on is the registration's
-- flow: the UA holds it open while the binding lives (no idle close), pings it with CRLFCRLF
-- every ua.keepalive seconds (§4.4.1: 80% to 100% of the interval) and waits for the pong; when
-- the flow closes, fails, or a pong does not come in time, the registration registers again at
-- once (§4.4.1, §4.5), over a new connection.
--
--   flow.track(reg, rsp) -- after each 2xx to a REGISTER of reg
--   flow.stop(reg)       -- the registration ends (stop, unregister)
--   flow.wake(t, key, why) -- wakes the waiter kept in t[key] (a sleep cut short), if any
-- @module sip.ua_flow
local loop = require "sip.loop"

local M = {}

local random, min = math.random, math.min

--- Seconds a pong may take (RFC 5626 §4.4.1); the wait is at most half the keepalive interval.
M.PONG_WAIT = 10 -- §4.4.1: a pong not within 10 s means the flow failed

local function failed(reg, conn, why)
  if reg.flow ~= conn then return end
  M.stop(reg)
  reg.ua.ep:drop(conn)
  reg:_flow_failed(why)
end

-- The pinger of one flow: runs until the flow changes or ends.
local function pinger(reg, conn, every)
  local ep = reg.ua.ep
  while reg.flow == conn do
    local w = loop.waiter()
    reg.flow_sleeper = w
    w:block(every * (0.8 + 0.2 * random()))
    reg.flow_sleeper = nil
    if reg.flow ~= conn then return end
    local sent = loop.now()
    local ok, err = ep:ping(conn)
    if not ok then return failed(reg, conn, "keepalive: " .. tostring(err)) end
    w = loop.waiter()
    reg.flow_sleeper = w
    w:block(min(M.PONG_WAIT, every / 2))
    reg.flow_sleeper = nil
    if reg.flow ~= conn then return end
    local heard = ep:heard(conn)
    if not heard or heard < sent then return failed(reg, conn, "no pong to a keepalive") end
  end
end

--- Make the connection a 2xx to a REGISTER came on the registration's flow (RFC 5626 §4.2):
-- held open while the binding lives, watched, and pinged every `ua.keepalive` seconds. A 2xx
-- over UDP, or one that ends the binding, stops the flow. Called after each 2xx of reg.
-- @tparam sip.ua.Registration reg the registration
-- @tparam sip.message rsp the 2xx
function M.track(reg, rsp)
  local src = rsp.source
  local conn = src and src.proto ~= "udp" and src.conn or nil
  local ua = reg.ua
  local live = conn and (reg.expires or 0) > 0
  if reg.flow and (reg.flow ~= conn or not live) then M.stop(reg) end
  if not live then return end
  ua.ep:hold(conn, reg.expires) -- ours stays open as long as the registrar's
  if reg.flow == conn then return end
  reg.flow = conn
  ua.ep:watch(conn, function(_, _, what) failed(reg, conn, "flow closed: " .. tostring(what or "by the peer")) end)
  local every = ua.keepalive
  if every and every > 0 then loop.spawn(pinger, reg, conn, every) end
end

--- End the registration's flow (the registration stops or unregisters): the connection is no
-- longer held nor watched, and its pinger ends.
-- @tparam sip.ua.Registration reg the registration
function M.stop(reg)
  local conn = reg.flow
  if not conn then return end
  reg.flow = nil
  local ep = reg.ua.ep
  ep:watch(conn, nil)
  ep:hold(conn, 0)
  M.wake(reg, "flow_sleeper", "stopped")
end

--- Wake the waiter kept in t[key] (a sleep the registration may cut short), if any; its block
-- returns nil, why.
-- @tparam table t the holder (a registration)
-- @tparam string key the field holding the waiter (cleared)
-- @tparam string why the reason block() returns
function M.wake(t, key, why)
  local w = t[key]
  if w then
    t[key] = nil
    w:wake(nil, why)
  end
end

return M
