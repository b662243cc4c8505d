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
local M = {}

local find = string.find

function M.family(host)
  host = tostring(host)
  if find(host, ":", 1, true) then return "6" end
  if find(host, "^%d+%.%d+%.%d+%.%d+$") then return "4" end
  return ""
end

M.MTU = 1500

function M.threshold(mtu) return (mtu or M.MTU) - 200 end

-- §18.1.1: a request within 200 bytes of the path MTU goes over a congestion-controlled
-- transport (TCP); a response keeps the transport its request came on (§18.2.2).
function M.by_size(dest, n, mtu)
  if dest.proto ~= "udp" or n <= M.threshold(mtu) then return dest end
  return { proto = "tcp", host = dest.host, port = dest.port, target = dest.target, domain = dest.domain,
    next = dest.next, udp = dest }
end

-- The top Via (ours, about to leave) names another transport and sent-by; its params stay.
function M.retransport_via(req, proto, sent_by, branch_suffix)
  local via = req:pop_via()
  local params = via:match("^SIP%s*/%s*2%.0%s*/%s*%w+%s+[^;]*(.*)$") or ""
  if branch_suffix then params = params:gsub("(;%s*branch%s*=%s*[^;%s]+)", "%1" .. branch_suffix, 1) end
  req:push_via("SIP/2.0/" .. proto:upper() .. " " .. sent_by .. params)
end

function M.fallback_via(req, sent_by) M.retransport_via(req, "udp", sent_by, "u") end

return M
