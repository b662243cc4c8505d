--- sip.route: where a request goes next (RFC 3261 §8.1.2; RFC 3263 plugs in here).
-- Every layer asks this module to turn a URI (a Request-URI, a Route, a Contact, an outbound
-- proxy) or a request into destinations, so the rule lives once:
--
--   route.resolve(uri)      -> list of destinations, in the order to try | nil, err
--   route.hop(uri)          -> the first destination | nil, err
--   route.target(req)       -> the URI text the next hop comes from (§8.1.2: the first Route
--                              if it is a loose router, else the Request-URI)
--   route.resolve_request(req) -> route.resolve(route.target(req))
--   route.next_hop(req)     -> the first destination of req | nil, err
--   route.default_port(proto) -> 5060 (udp, tcp), 5061 (tls), 80 (ws), 443 (wss) | nil for a
--                              transport we lack
--
-- uri: text or sip.uri. A destination is a plain table {proto = "udp"|"tcp"|"tls"|"ws"|"wss",
-- host =, port =}: host without IPv6 brackets (maddr wins over the host part), proto from the
-- transport parameter (sips: tls, and ws secured is wss, RFC 7118 §5.2; else udp), port from the
-- URI or the default of proto.
-- err is a sentence ("cannot route to a tel URI", "unsupported transport sctp"); a URI that is
-- not sip: or sips: is refused this way, never raised. Today the list holds one destination and
-- nothing yields; with RFC 3263 (NAPTR, SRV, A/AAAA, failover in list order) resolve and what
-- calls it will yield for DNS, so callers run in coroutines.
local core = require "sip.core"

local M = {}

local type, tostring = type, tostring
local uri_parse = core.uri

local DEFAULT_PORT = { udp = 5060, tcp = 5060, tls = 5061, ws = 80, wss = 443 }

function M.default_port(proto) return DEFAULT_PORT[proto] end

function M.resolve(uri)
  local u = uri
  if type(uri) == "string" then u = uri_parse(uri) end
  if not u then return nil, "cannot route to " .. tostring(uri) end
  if u.scheme ~= "sip" and u.scheme ~= "sips" then return nil, "cannot route to a " .. u.scheme .. " URI" end
  local proto = u.transport or (u.scheme == "sips" and "tls" or "udp")
  if proto == "ws" and u.scheme == "sips" then proto = "wss" end
  local port = DEFAULT_PORT[proto]
  if not port then return nil, "unsupported transport " .. proto end
  local host = u:param("maddr") or u.host
  return { { proto = proto, host = (host:gsub("^%[(.*)%]$", "%1")), port = u.port or port } }
end

function M.hop(uri)
  local list, err = M.resolve(uri)
  if not list then return nil, err end
  return list[1]
end

function M.target(req)
  local r = req:header("Route") and req:addrs("Route")[1]
  if r then
    local u = uri_parse(r.uri)
    if not u or u:param("lr") then return r.uri end
    -- a strict router is already the Request-URI (§12.2.1.1, §16.6 step 6)
  end
  return req.uri
end

function M.resolve_request(req) return M.resolve(M.target(req)) end

function M.next_hop(req) return M.hop(M.target(req)) end

return M
