-- soak_proxy.lua: examples/proxy.lua with a memory sampler, for csrc/bench/soak.py.
--   SOAK_SAMPLES=FILE lua5.4 csrc/bench/soak_proxy.lua [proxy.lua's options]
-- Every second one line goes to FILE:
--   seconds rss_kib heap_kib cache_kib malloc_used_kib malloc_free_kib txn_kib loc_kib [live_kib]
-- rss from /proc/self/statm, heap is collectgarbage("count") (what the Lua heap holds, garbage
-- not yet collected included), cache what the allocator's free-block cache holds (lsip_alloc.c),
-- malloc's used and free bytes from mallinfo2 (the whole process: Lua's blocks, the cache's and
-- the C core's), txn and loc what the C core's transactions and location table hold (their own
-- counts of the bytes they allocated). The proxy itself runs unchanged (dofile of examples/proxy.lua, its own GC
-- setting included).
local here = arg[0]:match("^(.*)/csrc/bench/[^/]*$") or "."
package.path = here .. "/lua/?.lua;" .. here .. "/lua/?/init.lua;" .. package.path
package.cpath = here .. "/build/?.so;" .. package.cpath
local sip = require "sip"

local path = assert(os.getenv("SOAK_SAMPLES"), "soak_proxy.lua: set SOAK_SAMPLES=FILE")
local out = assert(io.open(path, "w"))
out:setvbuf("line")
local page = 4 -- KiB; Linux on x86-64
local function rss_kib()
  local f = io.open("/proc/self/statm")
  if not f then return 0 end
  local _, res = f:read("n", "n")
  f:close()
  return (res or 0) * page
end

-- SOAK_LIVE_EVERY=N: every N seconds a full collection first, and a last column: the live heap
-- (what the heap holds just after it). It perturbs the collector: for diagnosis, not the soak.
local live_every = tonumber(os.getenv("SOAK_LIVE_EVERY") or "")
-- The proxy that examples/proxy.lua makes, for the C core's share: its transactions' bytes
-- (stack:stats().txn_bytes) and its location table's (location:count()).
local px
local make_proxy = sip.proxy
sip.proxy = function(...)
  local p, err = make_proxy(...)
  px = p
  return p, err
end
local function c_kib()
  if not px then return 0, 0 end
  local loc = px.location.count and select(2, px.location:count()) or 0
  return px.ep:stats().txn_bytes / 1024, loc / 1024
end

local t0, n = sip.now(), 0
local function sample()
  n = n + 1
  local heap, live = collectgarbage("count"), nil
  if live_every and n % live_every == 0 then
    collectgarbage("collect")
    live = collectgarbage("count")
  end
  local cached, used, free = sip.core.alloc_cache()
  local txn, loc = c_kib()
  out:write(("%.1f %d %.0f %.0f %.0f %.0f %.0f %.0f%s\n"):format(sip.now() - t0, rss_kib(), heap, (cached or 0) / 1024,
    used / 1024, free / 1024, txn, loc, live and (" %.0f"):format(live) or ""))
end

-- SOAK_GC="incremental,PAUSE,STEPMUL" or "generational,MINOR,MAJOR", or several joined by ';'
-- (in order: "incremental,200;generational" is generational with Lua's default pause): another
-- collector setting than proxy.lua's own, set when the loop starts (after proxy.lua made its
-- choice), for A/B runs.
local gc = os.getenv("SOAK_GC")
local run = sip.run
sip.run = function(...)
  for step in (gc or ""):gmatch("[^;]+") do
    local mode, a, b = step:match("^(%a+),?(%d*),?(%d*)$")
    collectgarbage(mode, tonumber(a), tonumber(b))
  end
  sip.spawn(function()
    while true do
      sample()
      sip.sleep(1)
    end
  end)
  return run(...)
end

arg[0] = here .. "/examples/proxy.lua"
dofile(arg[0])
