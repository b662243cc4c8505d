-- examples/proxy.lua with real peers: SIPp registering with digest (RFC 3261 §10, §22), SIPp
-- calls and MESSAGEs relayed between a SIPp UAC and a SIPp UAS (§16, Record-Route), and Lua
-- user agents (sip.ua) registering, messaging and calling each other through sip.proxy.
-- Everything on 127.0.0.1; every peer bounded in time.
local sip = require "sip"
local loop = require "sip.loop"
local peers = require "support.peers"

local BENCH = "../shared/bench/sipp/"

-- examples/proxy.lua on a free UDP port; returns the port and a stop function (kills by pid)
local function start_proxy(args)
  local port = peers.free_port("udp")
  local log = ("/tmp/lua-sip-proxy-interop-%d.log"):format(port)
  local p = assert(io.popen(("lua5.4 examples/proxy.lua --listen udp:127.0.0.1:%d --realm example.com --quiet %s" ..
    " >%s 2>&1 & echo $!"):format(port, args or "", log)))
  local pid = p:read("n")
  p:close()
  assert(peers.wait_port(port, "udp", 5))
  return port, function()
    os.execute("kill " .. pid .. " 2>/dev/null")
    local f = io.open(log)
    local text = f and f:read("a") or ""
    if f then f:close() end
    os.remove(log)
    return text
  end
end

describe("the proxy with SIPp", function()
  teardown(peers.cleanup)

  it("§10.2, §22: SIPp registers with digest, then unregisters (register_auth.xml)", function()
    local port, stop = start_proxy("--users examples/users.txt")
    local r = peers.sipp_run { sf = "register_auth.xml", remote = port, service = "alice", calls = 1,
      auth = { user = "alice", password = "alice-secret" }, timeout = 15 }
    local log = stop()
    assert.equal(1, r.ok, r.out .. "\n" .. log)
    assert.equal(0, r.failed)
    assert.matches("challenged: algorithm=MD5", r.log or "", 1, true)
    assert.matches("registered: expires=60", r.log or "", 1, true)
  end)

  it("the benchmark's REGISTER with digest: user bench registers user0..user19 (own-or-free policy)", function()
    local port, stop = start_proxy("--users ../shared/bench/users.txt --register-policy own-or-free")
    local r = peers.sipp_run { sf = BENCH .. "reg.xml", remote = port, inf = BENCH .. "users.csv", calls = 20, rate = 100,
      timeout = 15 }
    local log = stop()
    assert.equal(20, r.ok, r.out .. "\n" .. log)
    assert.equal(0, r.failed)
  end)

  local function relay_case(what, uas_sf, uac_sf, calls, rate)
    it(what, function()
      local port, stop = start_proxy()
      local uas = peers.sipp { sf = BENCH .. uas_sf, calls = calls, timeout = 20 }
      -- bob's binding points at the UAS; the REGISTER comes from another SIPp (as in sipload.py)
      local reg = peers.sipp_run { sf = BENCH .. "reg_contact.xml", remote = port, inf = { { "bob", "secret" } },
        calls = 1, key = { contact_port = uas.port }, timeout = 10 }
      assert.equal(1, reg.ok, reg.out)
      local r = peers.sipp_run { sf = BENCH .. uac_sf, remote = port, service = "bob", calls = calls, rate = rate,
        timeout = 20 }
      local u = uas:wait()
      local log = stop()
      assert.equal(calls, r.ok, r.out .. "\n" .. log)
      assert.equal(0, r.failed)
      assert.equal(calls, u.ok, u.out)
    end)
  end
  it("--location sqlite: bindings survive a restart of the proxy", function()
    local db = os.tmpname()
    os.remove(db)
    db = db .. ".db"
    local port, stop = start_proxy("--location sqlite:" .. db)
    local uas = peers.sipp { sf = BENCH .. "uas_message.xml", calls = 5, timeout = 20 }
    local reg = peers.sipp_run { sf = BENCH .. "reg_contact.xml", remote = port, inf = { { "bob", "secret" } },
      calls = 1, key = { contact_port = uas.port }, timeout = 10 }
    assert.equal(1, reg.ok, reg.out)
    stop()
    -- a new process on another port, the same file: bob is still there
    port, stop = start_proxy("--location sqlite:" .. db)
    local r = peers.sipp_run { sf = BENCH .. "uac_message.xml", remote = port, service = "bob", calls = 5, rate = 50,
      timeout = 15 }
    local u = uas:wait()
    local log = stop()
    for _, suffix in ipairs { "", "-wal", "-shm" } do os.remove(db .. suffix) end
    assert.equal(5, r.ok, r.out .. "\n" .. log)
    assert.equal(5, u.ok, u.out)
  end)

  relay_case("§16: calls from a SIPp UAC to a registered SIPp UAS, Record-Route, ACK and BYE along it",
    "uas_call.xml", "uac_call.xml", 10, 20)
  relay_case("RFC 3428: MESSAGEs from a SIPp UAC to a registered SIPp UAS", "uas_message.xml", "uac_message.xml", 30, 50)
end)

describe("Lua user agents through sip.proxy", function()
  after_each(function() assert.equal(0, loop.active()) end)

  it("register with digest, send a MESSAGE, call with SDP (PCMA chosen), and hang up", function()
    local log = {}
    sip.run(function()
      local px <close> = assert(sip.proxy { listen = { "udp:127.0.0.1:0" }, realm = "example.com", sweep_interval = 0,
        users = { alice = "alice-secret", bob = "bob-secret" }, algorithms = { "MD5" },
        log = function(level, line) log[#log + 1] = level .. " " .. line end })
      local proxy = "sip:127.0.0.1:" .. px.ep.listeners[1].port
      local function ua(user, codecs)
        return assert(sip.ua { listen = { "udp:127.0.0.1:0" }, user = user, domain = "example.com",
          password = user .. "-secret", registrar = proxy, outbound_proxy = proxy .. ";lr",
          media = { address = "127.0.0.1", port = 40000, codecs = codecs } })
      end
      local alice <close> = ua("alice", { "PCMU", "PCMA" })
      local bob <close> = ua("bob", { "PCMA" })
      local got
      bob:on("message", function(req) got = req.body end)
      bob:on("call", function(call)
        call:ring()
        sip.sleep(0.02)
        call:answer()
      end)
      assert(alice:register { expires = 600 })
      assert(bob:register { expires = 600 })
      local rsp = assert(alice:message("sip:bob@example.com", "user2, come here."))
      assert.equal(200, rsp.status)
      assert.equal("user2, come here.", got)
      local call = assert(alice:call("sip:bob@example.com"))
      assert.equal("PCMA", call.codec and call.codec.name) -- bob takes only PCMA (RFC 3264)
      assert(call:bye())
    end)
    local text = table.concat(log, "\n")
    assert.matches("REGISTER [^\n]* %-> 401", text)
    assert.matches("MESSAGE sip:bob@example.com [^\n]* %-> 407", text)
    assert.matches("MESSAGE sip:bob@example.com [^\n]* %-> 200", text)
    assert.matches("INVITE sip:bob@example.com [^\n]* %-> 200", text)
    assert.matches("BYE [^\n]* %-> 200", text)
  end)
end)
