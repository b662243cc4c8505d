-- bench_resolve.lua PORT: the resolver's cost once answers are cached (make bench, run.sh).
-- A dnsmasq on 127.0.0.1:PORT serves a.bench.test; prints lookups per second from the cache and
-- the CPU a request's next hop costs for a cached name and for an IP literal.
local sip = require "sip"
local route = require "sip.route"
local resolver = require "sip.resolver"

local port = assert(tonumber(arg[1]), "usage: bench_resolve.lua PORT")
resolver.configure { servers = { "127.0.0.1:" .. port } }
local N = tonumber(arg[2]) or 1000000

local function best(fn, n)
  local b = math.huge
  for _ = 1, 5 do
    local t0 = os.clock()
    fn(n)
    local t = os.clock() - t0
    if t < b then b = t end
  end
  return b / n * 1e9 -- ns per call
end

local ok, err = sip.run(function()
  assert(resolver.query("a.bench.test", "A"), "dnsmasq gave no A record for a.bench.test")
  local q = best(function(n) for _ = 1, n do resolver.query("a.bench.test", "A") end end, N)
  local function req(uri)
    return sip.request { method = "MESSAGE", uri = uri, from = "<sip:a@bench.test>", to = "<sip:b@bench.test>" }
  end
  local byname, byip = req("sip:bob@a.bench.test:5060"), req("sip:bob@127.0.0.1:5060")
  assert(route.next_hop(byname).host == "127.0.0.1")
  local hn = best(function(n) for _ = 1, n do route.next_hop(byname) end end, N)
  local hi = best(function(n) for _ = 1, n do route.next_hop(byip) end end, N)
  print(("cached lookups: %.2f M/s (%.0f ns each)"):format(1e3 / q, q))
  print(("next hop: cached name %.0f ns, IP literal %.0f ns per request; added for a name: %.0f ns (goal < 1000)")
    :format(hn, hi, hn - hi))
end)
assert(ok, err)
