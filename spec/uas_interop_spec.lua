-- The UA examples as processes against real peers on 127.0.0.1: SIPp's built-in uac calling
-- examples/uas.lua over UDP and TCP, examples/uac.lua calling SIPp's uas and sending it a
-- MESSAGE, examples/register.lua and examples/device.lua against Kamailio (digest with MD5 and
-- SHA-256). Every process runs under `timeout`; SIPp and Kamailio under spec/support/peers.lua.
local peers = require "support.peers"
local sip = require "sip"
local loop = require "sip.loop"

local alive, example = peers.alive, peers.example

-- Run an example to its end: exit code and output.
local function run_example(script, args, lifetime)
  return example(script, args, lifetime).wait()
end

describe("UA examples against SIPp and Kamailio", function()
  after_each(peers.cleanup)

  for _, t in ipairs { { "udp", "u1" }, { "tcp", "t1" } } do
    it("SIPp's built-in uac places 5 calls to examples/uas.lua over " .. t[1] .. ", all successful", function()
      local port = peers.free_port()
      local uas = example("uas.lua", { "--listen", "udp:127.0.0.1:" .. port, "--listen", "tcp:127.0.0.1:" .. port })
      local ok, err = peers.wait_port(port, t[1], 5, uas.pid)
      if not ok then
        local _, out = uas.stop()
        error(err .. "\n" .. out)
      end
      local r = peers.sipp_run { scenario = "uac", remote = port, transport = t[2], calls = 5, rate = 10, timeout = 20 }
      local code, out = uas.stop()
      assert.equal(5, r.ok, r.out .. "\n" .. (r.errors or "") .. "\n" .. out)
      assert.equal(0, r.failed)
      assert.equal(0, code, out)
      local answered = 0
      for _ in out:gmatch("200 OK, codec PCMU") do answered = answered + 1 end
      assert.equal(5, answered, out)
      local ended = 0
      for _ in out:gmatch("ended %(bye%)") do ended = ended + 1 end
      assert.equal(5, ended, out)
    end)
  end

  it("examples/uac.lua places a call to SIPp's built-in uas over UDP and exits 0", function()
    local uas = peers.sipp { scenario = "uas", calls = 1, timeout = 20 }
    local code, out = run_example("uac.lua", { "--call", "sip:service@" .. uas.addr, "--duration", "0.3" })
    local r = uas:wait()
    assert.equal(0, code, out)
    assert.matches("180 Ringing", out)
    assert.matches("ACK sent", out)
    assert.matches("BYE: 200 OK", out)
    assert.equal(1, r.ok, r.out)
  end)

  it("examples/uac.lua places a call to SIPp over TCP and exits 0", function()
    -- uas_call.xml: the built-in uas without its 4 s wait, which fails a call whose TCP
    -- connection closes during it
    local uas = peers.sipp { sf = "uas_call.xml", transport = "t1", calls = 1, timeout = 20 }
    local code, out = run_example("uac.lua", { "--listen", "tcp:127.0.0.1:0", "--call",
      "sip:service@" .. uas.addr .. ";transport=tcp", "--duration", "0.3" })
    local r = uas:wait()
    assert.equal(0, code, out)
    assert.matches("BYE: 200 OK", out)
    assert.equal(1, r.ok, r.out)
  end)

  it("examples/uac.lua --message gets 200 from a SIPp MESSAGE answerer; a call nobody takes exits 1", function()
    local uas = peers.sipp { sf = "../shared/bench/sipp/uas_message.xml", calls = 1, timeout = 20 }
    local code, out = run_example("uac.lua", { "--message", "sip:service@" .. uas.addr, "hello from lua-sip" })
    local r = uas:wait()
    assert.equal(0, code, out)
    assert.matches("MESSAGE: 200 OK", out)
    assert.equal(1, r.ok, r.out)
    code, out = run_example("uac.lua", { "--call", "sip:nobody@127.0.0.1:" .. peers.free_port(), "--t1", "0.01" })
    assert.equal(1, code, out)
    assert.matches("call failed", out)
  end)

  for _, alg in ipairs { "MD5", "SHA-256" } do
    it("examples/register.lua --once registers with Kamailio challenging with " .. alg .. " and unregisters", function()
      local k = peers.kamailio { cfg = "registrar", users = { alice = "secret" }, algorithm = alg }
      local code, out = run_example("register.lua", { "--registrar", k.uri, "--domain", "example.com",
        "--user", "alice", "--password", "secret", "--expires", "60", "--once" })
      assert.equal(0, code, out .. k:log())
      assert.matches("registered sip:alice@example.com: 200 OK, 1 binding%(s%), ours for 60 s", out)
      assert.matches("unregistered: 200 OK, 0 binding%(s%) left", out)
      code, out = run_example("register.lua", { "--registrar", k.uri, "--domain", "example.com",
        "--user", "alice", "--password", "wrong", "--once" })
      assert.equal(1, code, out)
      assert.matches("authentication failed", out)
      k:stop()
    end)
  end

  it("examples/register.lua refreshes before expiry and unregisters on SIGTERM", function()
    local k = peers.kamailio { cfg = "registrar", users = { alice = "secret" } }
    local reg = example("register.lua", { "--registrar", k.uri, "--domain", "example.com", "--user", "alice",
      "--password", "secret", "--expires", "2" })
    os.execute("sleep 2.5")
    local code, out = reg.stop()
    assert.equal(0, code, out)
    assert.matches("registered sip:alice@example.com", out)
    assert.matches("refreshed sip:alice@example.com: 200 OK", out)
    assert.matches("unregistered: 200 OK", out)
    k:stop()
  end)

  it("examples/uas.lua --register takes a call routed by Kamailio (407 answered, Record-Route followed)", function()
    local k = peers.kamailio { cfg = "registrar", users = { alice = "secret", uas = "secret" } }
    local port = peers.free_port()
    local uas = example("uas.lua", { "--listen", "udp:127.0.0.1:" .. port, "--register", k.uri,
      "--domain", "example.com", "--user", "uas", "--password", "secret", "--expires", "60" })
    local ready = false
    for _ = 1, 100 do
      ready = uas.output():find("ready", 1, true) ~= nil
      if ready or not alive(uas.pid) then break end
      os.execute("sleep 0.05")
    end
    assert.is_true(ready, uas.output())
    local route_set, status
    sip.run(function()
      sip.sleep(0) -- the loop's clock is stale after the blocking waits above: let it catch up
      local alice = assert(sip.ua { listen = { "udp:127.0.0.1:0" }, user = "alice", domain = "example.com",
        password = "secret", outbound_proxy = k.uri })
      local call, err, code = alice:call("sip:uas@example.com", { timeout = 5 })
      if call then
        route_set = call.dialog.route_set
        local rsp = call:bye()
        status = rsp and rsp.status
      else
        status = tostring(err) .. " " .. tostring(code)
      end
      alice:close()
    end)
    local code, out = uas.stop()
    assert.equal(200, status, out .. k:log())
    assert.equal(1, #route_set)
    assert.matches("sip:127%.0%.0%.1:" .. k.port .. ";lr", route_set[1])
    assert.equal(0, code, out)
    assert.matches("registered sip:uas@example.com", out)
    assert.matches("call 1: ended %(bye%)", out)
    assert.matches("unregistered: 200", out)
    k:stop()
  end)

  it("examples/device.lua registers, sends MANSCDP keepalives through Kamailio to a Lua UA, unregisters", function()
    local device_id, server_id = "34020000001320000001", "34020000002000000001"
    local k = peers.kamailio { cfg = "registrar", users = { [device_id] = "devpass", [server_id] = "srvpass" } }
    local keepalives = {}
    local code, out
    sip.run(function()
      sip.sleep(0) -- the loop's clock is stale after the blocking tests before: let it catch up
      local server = assert(sip.ua { listen = { "udp:127.0.0.1:0" }, user = server_id, domain = "example.com",
        password = "srvpass", registrar = k.uri })
      server:on("message", function(req) keepalives[#keepalives + 1] = req end)
      local reg = assert(server:register { expires = 60 })
      local dev = example("device.lua", { "--registrar", k.uri, "--domain", "example.com", "--user", device_id,
        "--password", "devpass", "--server", server_id, "--interval", "0.2", "--count", "2" })
      for _ = 1, 150 do
        if not alive(dev.pid) then break end
        sip.sleep(0.1)
      end
      code, out = dev.stop()
      reg:unregister()
      server:close()
    end)
    assert.equal(0, loop.active())
    assert.equal(0, code, out .. k:log())
    assert.equal(2, #keepalives, out)
    local ka = keepalives[1]
    assert.equal("Application/MANSCDP+xml", ka.content_type)
    assert.matches("<CmdType>Keepalive</CmdType>", ka.body)
    assert.matches("<DeviceID>" .. device_id .. "</DeviceID>", ka.body)
    assert.equal("sip:" .. device_id .. "@example.com", ka.from.uri)
    assert.matches("registered sip:" .. device_id .. "@example.com", out)
    assert.matches("keepalive 2: 200 OK", out)
    assert.matches("unregistered: 200 OK", out)
    k:stop()
  end)
end)
