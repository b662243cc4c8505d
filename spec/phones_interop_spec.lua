-- examples/proxy.lua between real phones and test agents (issue #18): SIPp's built-in uac calling
-- SIPp's built-in uas through it (every ACK reaches the UAS once), and baresip and linphonec
-- registering and calling each other through it on [::1] over UDP and TCP. Loopback only; every
-- peer bounded in time.
local peers = require "support.peers"

local BENCH = "../shared/bench/sipp/"

-- examples/proxy.lua on one free port; returns the handle and the port
local function start_proxy(listen, extra)
  local port = peers.free_port()
  local args = {}
  for _, l in ipairs(listen) do
    args[#args + 1] = "--listen"
    args[#args + 1] = l:format(port)
  end
  for _, a in ipairs { "--realm", "example.com", "--log", "info" } do args[#args + 1] = a end
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  local px = peers.example("proxy.lua", args, 60)
  assert(px.wait_for("Ctrl-C stops it.", 10), px.output())
  return px, port
end

local function count(text, pattern)
  local n = 0
  for _ in text:gmatch(pattern) do n = n + 1 end
  return n
end

describe("SIPp through examples/proxy.lua", function()
  teardown(peers.cleanup)

  it("the built-in uac calls the built-in uas at bob: every ACK reaches the UAS once, none loops", function()
    local px, port = start_proxy { "udp:127.0.0.1:%d" }
    local calls = 10
    local uas = peers.sipp { scenario = "uas", calls = calls, trace = true, timeout = 20 }
    local reg = peers.sipp_run { sf = BENCH .. "reg_contact.xml", remote = port, inf = { { "bob", "secret" } },
      calls = 1, key = { contact_port = uas.port }, timeout = 10 }
    assert.equal(1, reg.ok, reg.out)
    -- the built-in uac's ACK and BYE: Request-URI bob@proxy, no Route
    local r = peers.sipp_run { scenario = "uac", remote = port, service = "bob", calls = calls, rate = 20, timeout = 20 }
    local u = uas:wait()
    local _, log = px.stop()
    assert.equal(calls, r.ok, r.out .. log)
    assert.equal(calls, u.ok, u.out)
    local msgs = u.messages or ""
    assert.equal(calls, count(msgs, "\nACK sip:"), msgs:sub(1, 3000))
    assert.equal(calls, count(msgs, "\nBYE sip:"))
  end)
end)
