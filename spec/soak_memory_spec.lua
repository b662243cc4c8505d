-- Memory under load (issue 25): examples/proxy.lua relays registrations, MESSAGEs and calls
-- from SIPp at once (csrc/bench/soak.py, 40 s at a third of its rates), and what the load adds to
-- its RSS stays within twice what the load adds to the live memory: the Lua heap just after a
-- full collection plus the C core's share (malloc's bytes in use less the allocator's free-block
-- cache), sampled every 5 s from 20 s on, each over the first sample (before any load: the
-- process's code and libraries, some 9 MiB of RSS, would weigh as much as this short soak's
-- heap). About 45 s. The 10-minute soak at the full
-- rates is csrc/bench/soak.py itself; this is the short one that fails when the ratio regresses.
local peers = require "support.peers"

local function has(cmd) return os.execute("command -v " .. cmd .. " >/dev/null 2>&1") == true end

describe("examples/proxy.lua under a mixed SIPp load", function()
  it("keeps RSS growth within 2x of the live memory's (Lua live + C core) while the load goes through", function()
    assert.is_true(has("sipp"), "sip-tester (sipp) is a test dependency: make test installs it")
    local port
    repeat port = peers.free_port() until port <= 39970 -- soak.py uses port .. port+22
    local cmd = ("python3 csrc/bench/soak.py --seconds 40 --port %d --reg-rate 35 --msg-rate 100 "
      .. "--call-rate 60 --env SOAK_LIVE_EVERY=5 2>&1"):format(port)
    local out = io.popen(cmd):read("a")
    local line = out:match("(%b{})%s*$")
    assert.is_not_nil(line, out)
    local function num(k) return tonumber(line:match('"' .. k .. '": ([%d.]+)')) end
    local ratio = num("max_rss_growth_over_live_growth")
    assert.is_not_nil(ratio, line)
    assert.is_true(ratio <= 2, "RSS growth / live growth reached " .. ratio .. ": " .. line)
    -- the load went through: every kind completed (a SIPp starved on a busy machine may time
    -- out a few calls: at most 2%)
    for _, k in ipairs { "reg", "message", "call" } do
      local ok, failed = line:match('"' .. k .. '": {"ok": (%d+), "failed": (%d+)}')
      ok, failed = tonumber(ok), tonumber(failed)
      assert.is_true(ok > 0 and failed <= 0.02 * (ok + failed), k .. ": " .. line)
    end
  end)
end)
