--- sip.egress: the way a request leaves (RFC 3261 §18.1.1), so the rule lives once for the
-- endpoint, the UA and the proxy:
--
--   egress.family(host)          -> "4" | "6" | "" (a name: its family is the resolver's)
--   egress.threshold(mtu)        -> the largest request UDP carries: mtu - 200 (1300 for 1500)
--   egress.by_size(dest, n, mtu) -> dest, or a TCP destination for a request of n bytes that is
--                                   too large for UDP; its .udp is dest, the fallback when TCP
--                                   is refused (§18.1.1)
--   egress.retransport_via(req, proto, sent_by) -> rewrites the top Via (ours) for proto
--   egress.fallback_via(req, sent_by) -> the same for UDP, the branch made new (a transaction of
--                                   its own: the refused one may linger)
--
-- A destination is sip.route's {proto=, host=, port=, ...}.
-- @module sip.egress
local M = {}

local find = string.find

--- The address family of a host.
-- @tparam string host an IP address or a name
-- @treturn string "4", "6", or "" for a name (its family is the resolver's)
function M.family(host)
  host = tostring(host)
  if find(host, ":", 1, true) then return "6" end
  if find(host, "^%d+%.%d+%.%d+%.%d+$") then return "4" end
  return ""
end

--- The path MTU assumed when none is given (bytes).
M.MTU = 1500

--- The largest request UDP carries (RFC 3261 §18.1.1): 200 bytes under the path MTU.
-- @tparam[opt=MTU] int mtu the path MTU
-- @treturn int mtu - 200 (1300 for 1500)
function M.threshold(mtu) return (mtu or M.MTU) - 200 end

--- The destination for a request of `n` bytes (RFC 3261 §18.1.1): a request within 200 bytes
-- of the path MTU goes over a congestion-controlled transport (TCP); a response keeps the
-- transport its request came on (§18.2.2).
-- @tparam table dest a destination of sip.route
-- @tparam int n the request's size in bytes
-- @tparam[opt=MTU] int mtu the path MTU
-- @treturn table dest, or a TCP copy of it whose `udp` is dest (the fallback when TCP is refused)
function M.by_size(dest, n, mtu)
  if dest.proto ~= "udp" or n <= M.threshold(mtu) then return dest end
  return { proto = "tcp", host = dest.host, port = dest.port, target = dest.target, domain = dest.domain,
    next = dest.next, udp = dest }
end

--- Rewrite the top Via of a request about to leave (ours) for another transport; its
-- parameters stay.
-- @tparam sip.message req the request
-- @tparam string proto the transport ("udp", "tcp", ...)
-- @tparam string sent_by host[:port] of the new sent-by
-- @tparam[opt] string branch_suffix appended to the branch (a new transaction)
function M.retransport_via(req, proto, sent_by, branch_suffix)
  local via = req:pop_via()
  local params = via:match("^SIP%s*/%s*2%.0%s*/%s*%w+%s+[^;]*(.*)$") or ""
  if branch_suffix then params = params:gsub("(;%s*branch%s*=%s*[^;%s]+)", "%1" .. branch_suffix, 1) end
  req:push_via("SIP/2.0/" .. proto:upper() .. " " .. sent_by .. params)
end

--- Rewrite the top Via for the UDP fallback of §18.1.1, with a new branch (a transaction of its
-- own: the refused one may linger).
-- @tparam sip.message req the request
-- @tparam string sent_by host[:port] of the UDP sent-by
function M.fallback_via(req, sent_by) M.retransport_via(req, "udp", sent_by, "u") end

return M
