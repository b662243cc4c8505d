-- The runtime against software we did not write: SIPp on 127.0.0.1 in both roles, over UDP and
-- TCP (RFC 3261 §17, §18), plus malformed traffic that must get the RFC's answer.
local sip = require "sip"
local peers = require "support.peers"
local loop = require "sip.loop"

local TORTURE = "../shared/conformance/torture/"

-- Start examples/responder.lua on a free port; returns port and a stop function.
local function responder(code)
  local port = peers.free_port("udp")
  local cmd = ("lua5.4 examples/responder.lua --listen udp:127.0.0.1:%d --listen tcp:127.0.0.1:%d --code %d --quiet" ..
    " >/tmp/lua-sip-responder-%d.log 2>&1 & echo $!"):format(port, port, code or 200, port)
  local p = io.popen(cmd)
  local pid = p:read("n")
  p:close()
  assert(peers.wait_port(port, "udp", 5))
  assert(peers.wait_port(port, "tcp", 5))
  return port, function() os.execute("kill " .. pid .. " 2>/dev/null") end
end

describe("the runtime with SIPp", function()
  teardown(peers.cleanup)
  after_each(function() assert.equal(0, loop.active()) end)

  for _, t in ipairs({ { "UDP", "u1" }, { "TCP", "t1" } }) do
    it("answers SIPp's built-in uac over " .. t[1] .. " (INVITE, ACK, BYE through the transaction layer)", function()
      local port, stop = responder(200)
      local r = peers.sipp_run { scenario = "uac", remote = "127.0.0.1:" .. port, transport = t[2], calls = 10, rate = 50 }
      stop()
      assert.equal(10, r.ok, r.out)
      assert.equal(0, r.failed)
    end)
  end

  it("answers 20 MESSAGEs at once over UDP with no failure", function()
    local port, stop = responder(202)
    local r = peers.sipp_run { sf = "../shared/bench/sipp/uac_message.xml", remote = "127.0.0.1:" .. port,
      service = "bob", calls = 200, rate = 1000, extra = { "-l", "20" } }
    stop()
    -- the scenario expects 200: a 202 counts as unexpected, so expect failures, not timeouts
    assert.equal(200, r.ok + r.failed, r.out)
  end)

  for _, t in ipairs({ { "UDP", "u1", "udp" }, { "TCP", "t1", "tcp" } }) do
    it("sends requests to a SIPp UAS over " .. t[1] .. " and gets its answers", function()
      local uas = peers.sipp { sf = "../shared/bench/sipp/uas_message.xml", transport = t[2], calls = 5 }
      sip.run(function()
        -- closed also on failure: an open endpoint would keep every later run() waiting
        local ep <close> = assert(sip.endpoint { listen = { t[3] .. ":127.0.0.1:0" } })
        for i = 1, 5 do
          local req = sip.request { method = "MESSAGE", uri = ("sip:sipp@127.0.0.1:%d;transport=%s"):format(uas.port, t[3]),
            from = "<sip:alice@example.com>", to = "<sip:sipp@example.com>", body = "hello " .. i,
            content_type = "text/plain" }
          local rsp, rerr = ep:request(req, { timeout = 5 })
          assert.is_not_nil(rsp, rerr)
          assert.equal(200, rsp.status)
        end
      end)
      local r = uas:wait()
      assert.equal(5, r.ok, r.out)
    end)
  end
end)

describe("malformed traffic (RFC 4475) to a running responder", function()
  local port, stop
  setup(function() port, stop = responder(200) end)
  teardown(function() stop() end)

  local function read(f)
    local h = assert(io.open(TORTURE .. f, "rb"))
    local s = h:read("a")
    h:close()
    return s
  end

  -- §3.1.2 / §3.3: what the transaction layer answers by itself, before any handler runs. The
  -- answer copies the request's (broken) headers, so it is read as raw bytes.
  local cases = {
    { "badvers.sip", 505 }, { "mismatch01.sip", 400 }, { "mismatch02.sip", 501 }, { "clerr.sip", 400 },
    { "insuf.sip", 400 }, { "multi01.sip", 400 }, { "ncl.sip", 400 }, { "scalar02.sip", 400 },
    { "badinv01.sip", 400 }, { "mcl01.sip", 400 }, { "quotbal.sip", 400 }, { "ipv6-bad.sip", 400 },
  }
  for _, c in ipairs(cases) do
    it(c[1] .. " over UDP gets " .. c[2] .. " with a reason, and the responder keeps serving", function()
      local rsp, err = peers.udp_exchange { port = port, data = read(c[1]), timeout = 2 }
      assert.is_not_nil(rsp, err)
      assert.equal(tostring(c[2]), rsp:match("^SIP/2%.0 (%d+) "))
      local ok = peers.udp_exchange { port = port, timeout = 2, data = tostring(sip.request {
        method = "OPTIONS", uri = "sip:x@127.0.0.1:" .. port, from = "<sip:a@b>", to = "<sip:x@y>",
        via = { host = "127.0.0.1", port = 9, rport = true } }) }
      assert.is_not_nil(ok)
      assert.matches("^SIP/2%.0 200 ", ok)
    end)
  end

  it("drops bad responses (scalarlg, bigcode) silently", function()
    for _, f in ipairs({ "scalarlg.sip", "bigcode.sip" }) do
      local rsp, err = peers.udp_exchange { port = port, data = read(f), timeout = 0.5 }
      assert.is_nil(rsp)
      assert.equal("timeout", err)
    end
  end)
end)
