-- The UA examples together through examples/proxy.lua, as processes on 127.0.0.1: uas.lua
-- registers bob at the proxy (digest, the user's own address), uac.lua --proxy calls bob's
-- address of record through it (407 answered, INVITE/200/ACK/BYE). Every process under timeout.
local peers = require "support.peers"

-- `lua5.4 examples/SCRIPT args` in the background under timeout (20 s unless said)
local function start(script, args, lifetime) return peers.example(script, args, lifetime or 20) end

describe("the UA examples through examples/proxy.lua", function()
  it("uas.lua registers at the proxy; uac.lua --proxy calls it there: INVITE/200/ACK/BYE", function()
    local users = os.tmpname()
    local f = assert(io.open(users, "w"))
    f:write("alice:alice-secret\nbob:bob-secret\n")
    f:close()
    local pport, bport = peers.free_port(), peers.free_port()
    local proxy_uri = "sip:127.0.0.1:" .. pport
    local px = start("proxy.lua", { "--listen", "udp:127.0.0.1:" .. pport, "--realm", "example.com",
      "--users", users, "--quiet" })
    local uas, code, out
    local ok, err = pcall(function()
      os.execute("sleep 0.3")
      uas = start("uas.lua", { "--listen", "udp:127.0.0.1:" .. bport, "--user", "bob", "--domain", "example.com",
        "--password", "bob-secret", "--register", "sip:example.com", "--proxy", proxy_uri, "--expires", "60" })
      assert(uas.wait_for("ready"), uas.output() .. px.output())
      local uac = start("uac.lua", { "--call", "sip:bob@example.com", "--proxy", proxy_uri, "--user", "alice",
        "--domain", "example.com", "--password", "alice-secret", "--duration", "0.2", "--timeout", "5" }, 15)
      for _ = 1, 200 do
        if uac.output():find("BYE: ", 1, true) or uac.output():find("failed", 1, true) then break end
        os.execute("sleep 0.05")
      end
      os.execute("sleep 0.2")
      code, out = uac.stop()
    end)
    local ucode, uout
    if uas then ucode, uout = uas.stop() end
    local _, pout = px.stop()
    os.remove(users)
    assert(ok, err)
    assert.equal(0, code, out .. "\n" .. tostring(uout) .. "\n" .. pout)
    assert.matches("INVITE sip:bob@example.com", out)
    assert.matches("200 answered, ACK sent", out)
    assert.matches("BYE: 200", out)
    assert.equal(0, ucode, uout)
    assert.matches("registered sip:bob@example.com", uout)
    assert.matches("call 1: ended %(bye%)", uout)
    assert.matches("unregistered: 200", uout)
  end)

  it("register.lua --proxy --once registers at sip:example.com by way of the proxy", function()
    local users = os.tmpname()
    local f = assert(io.open(users, "w"))
    f:write("alice:alice-secret\n")
    f:close()
    local pport = peers.free_port()
    local px = start("proxy.lua", { "--listen", "udp:127.0.0.1:" .. pport, "--realm", "example.com",
      "--users", users, "--quiet" })
    os.execute("sleep 0.3")
    local reg = start("register.lua", { "--registrar", "sip:example.com", "--proxy", "sip:127.0.0.1:" .. pport,
      "--domain", "example.com", "--user", "alice", "--password", "alice-secret", "--once", "--listen",
      "udp:127.0.0.1:0" }, 15)
    reg.wait_for("unregistered", 10)
    local code, out = reg.stop()
    local _, pout = px.stop()
    os.remove(users)
    assert.equal(0, code, out .. "\n" .. pout)
    assert.matches("registered sip:alice@example.com: 200 OK", out)
    assert.matches("unregistered: 200 OK", out)
  end)
end)
