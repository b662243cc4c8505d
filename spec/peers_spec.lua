-- support.peers: the harness that runs SIPp and Kamailio next to the specs. These tests prove it
-- works (and keep working on this machine) before interop specs rely on it.
local peers = require "support.peers"
local sip = require "sip"
local digest = sip.core.digest

local function capture(cmd)
  local p = io.popen(cmd, "r")
  local s = p:read("a")
  p:close()
  return s
end

-- The live processes of process group pgid (each peer leads its own session and group).
local function group(pgid)
  return table.concat(peers.group_alive(pgid), " ")
end

local function dir_exists(d)
  return os.execute("test -d '" .. d .. "'") == true
end

-- REGISTER over a raw UDP socket, answering one digest challenge with sip.core.digest (this is
-- how SHA-256 gets tested: SIPp 3.6 only computes MD5). Returns the final response (parsed), the
-- challenge value seen (or nil) and the raw 401. o: user, password, expires, lport (the socket),
-- contact_port (default lport).
local function register(k, o)
  local lport = o.lport or peers.free_port("udp")
  local ruri = "sip:127.0.0.1:" .. k.port
  local call_id, cseq = sip.callid(), o.cseq or 1
  local function send(auth)
    local req = sip.request {
      method = "REGISTER", uri = ruri, call_id = call_id, cseq = cseq,
      from = { uri = "sip:" .. o.user .. "@example.com", tag = "reg" }, to = "<sip:" .. o.user .. "@example.com>",
      via = { host = "127.0.0.1", port = lport, rport = true },
      contact = "<sip:" .. o.user .. "@127.0.0.1:" .. (o.contact_port or lport) .. ">", expires = o.expires or 60,
      headers = auth and { Authorization = auth } or nil,
    }
    cseq = cseq + 1
    local raw, err = peers.udp_exchange { port = k.port, lport = lport, data = req }
    assert(raw, "no answer from kamailio: " .. tostring(err))
    return assert(sip.parse(raw)), raw
  end
  local resp, raw = send()
  if resp.status ~= 401 then return resp end
  local challenge = resp:header("WWW-Authenticate")
  local cred = digest.make_credentials {
    challenge = challenge, username = o.user, password = o.password, method = "REGISTER", uri = ruri,
  }
  return send(cred), challenge, raw
end

describe("support.peers", function()
  -- whatever a failing test left running goes here
  after_each(peers.cleanup)

  describe("free_port", function()
    it("gives distinct ports on which nothing listens, outside the ephemeral range", function()
      local seen = {}
      for _ = 1, 20 do
        local p = peers.free_port()
        assert.is_nil(seen[p])
        seen[p] = true
        assert.is_true(p >= 20000 and p <= 40000)
        assert.is_nil(peers.wait_port(p, "udp", 0))
        assert.is_nil(peers.wait_port(p, "tcp", 0))
      end
      assert.has_error(function() peers.free_port("sctp") end)
    end)
  end)

  describe("sipp", function()
    it("built-in uas and uac: 3 calls, all successful", function()
      local uas = peers.sipp { scenario = "uas", calls = 3 }
      assert.is_true(peers.wait_port(uas.port, "udp", 0))
      local uac = peers.sipp_run { scenario = "uac", remote = uas.addr, calls = 3, rate = 50 }
      assert.same({ 3, 0, 0 }, { uac.ok, uac.failed, uac.rc }, uac.out)
      assert.equal(3, uac.stat["OutgoingCall(C)"])
      -- the built-in uas keeps each call 4 s after its BYE (timewait) before counting it
      local r = uas:wait()
      assert.same({ 3, 0, 0 }, { r.ok, r.failed, r.rc }, r.out)
      assert.equal(3, r.stat["IncomingCall(C)"])
      assert.is_false(dir_exists(uas.dir))
      assert.equal("", group(uas.pid))
    end)

    it("reports failed calls and the exit code when nobody answers", function()
      local r = peers.sipp_run {
        scenario = "uac", remote = peers.free_port("udp"), calls = 1, recv_timeout = 0.6, timeout = 5,
      }
      assert.same({ 0, 1, 1, false }, { r.ok, r.failed, r.rc, r.timed_out }, r.out)
      assert.equal(1, r.stat["FailedTimeoutOnRecv(C)"])
    end)

    it("kill() ends SIPp and everything in its process group", function()
      local uas = peers.sipp { scenario = "uas" }
      assert.is_true(peers.wait_port(uas.port, "udp", 0))
      assert.are_not.equal("", group(uas.pid))
      local r = uas:kill()
      assert.equal(r, uas:kill()) -- idempotent
      assert.equal("", group(uas.pid))
      assert.is_nil(peers.wait_port(uas.port, "udp", 0))
    end)

    it("raises on misuse and when SIPp cannot start", function()
      assert.has_error(function() peers.sipp() end)
      assert.has_error(function() peers.sipp { scenario = "uac", sf = "x.xml" } end)
      assert.has_error(function() peers.sipp { sf = "no_such_scenario" } end)
      assert.error_matches(function() peers.sipp { scenario = "no_such_builtin" } end, "sipp did not start")
      local uas = peers.sipp { scenario = "uas" }
      assert.error_matches(function() peers.sipp { scenario = "uas", port = uas.port } end,
        "did not start %(rc 254%).*Address already in use")
      uas:kill()
    end)

    it("leaves nothing behind when the Lua process dies without cleaning up", function()
      local specdir = package.searchpath("support.peers", package.path):match("^(.*)/support/peers%.lua$")
      local script = [[
        package.path = "]] .. specdir .. [[/?.lua;" .. package.path
        local peers = require "support.peers"
        local uas = peers.sipp { scenario = "uas", timeout = 60 }
        print(uas.pid, uas.dir)
        io.stdout:flush()
        os.exit(0, false)
      ]]
      local out = capture("lua5.4 -e '" .. script:gsub("'", "'\\''") .. "'")
      local pid, dir = out:match("^(%d+)%s+(%S+)")
      assert(pid, out)
      -- the watchdog polls once a second, then removes the temp dir half a second after the kill
      local gone = false
      for _ = 1, 40 do
        if group(pid) == "" and not dir_exists(dir) then gone = true; break end
        os.execute("sleep 0.1")
      end
      assert.is_true(gone, "process group " .. pid .. " or " .. dir .. " outlived its Lua process")
    end)
  end)

  describe("kamailio registrar.cfg", function()
    for _, transport in ipairs { "u1", "t1" } do
      it(("MD5 over %s: SIPp registers alice with digest auth, then unregisters her (RFC 3261 §10.2, §22)")
          :format(transport), function()
        local k = peers.kamailio { cfg = "registrar", users = { alice = "secret", bob = 'pa"ss\\word' } }
        local r = peers.sipp_run {
          sf = "register_auth", remote = k.addr, service = "alice", auth = { user = "alice", password = "secret" },
          calls = 1, transport = transport,
        }
        assert.same({ 1, 0, 0 }, { r.ok, r.failed, r.rc }, r.out .. "\n" .. (r.errors or ""))
        assert.matches("challenged: algorithm=MD5", r.log)
        assert.matches("registered: expires=60", r.log)
        assert.matches("unregistered", r.log)
        -- a password that needs escaping in the generated users.inc
        local resp = register(k, { user = "bob", password = 'pa"ss\\word' })
        assert.equal(200, resp.status)
        k:stop()
        assert.equal("", group(k.pid))
        assert.is_false(dir_exists(k.dir))
      end)
    end

    it("MD5: a wrong password is challenged again and the call fails", function()
      local k = peers.kamailio { cfg = "registrar", users = { alice = "secret" } }
      local r = peers.sipp_run {
        sf = "register_auth", remote = k.addr, service = "alice", auth = { user = "alice", password = "wrong" },
        calls = 1,
      }
      assert.same({ 0, 1, 1 }, { r.ok, r.failed, r.rc }, r.out)
      assert.equal(1, r.stat["FailedUnexpectedMessage(C)"])
      assert.matches("challenge REGISTER from sip:alice@example.com %(auth user 'alice'%)", k:log())
    end)

    it("SHA-256 (RFC 8760): challenges with algorithm=SHA-256 and accepts SHA-256 credentials", function()
      local k = peers.kamailio { cfg = "registrar", users = { alice = "secret" }, algorithm = "SHA-256" }
      -- SIPp sees the challenge (it cannot answer it: SIPp 3.6 does MD5 and AKAv1-MD5 only)
      local r = peers.sipp_run { sf = "register_challenge", remote = k.addr, service = "alice", calls = 1 }
      assert.same({ 1, 0 }, { r.ok, r.rc }, r.out)
      assert.matches('WWW%-Authenticate: Digest realm="example.com", nonce="[^"]+", qop="auth", algorithm=SHA%-256',
        r.log)
      -- the rest through a raw socket and sip.core.digest
      local lport = peers.free_port("udp")
      local resp, challenge = register(k, { user = "alice", password = "secret", lport = lport })
      assert.equal("SHA-256", assert(digest.parse_challenge(challenge)).algorithm)
      assert.equal(200, resp.status)
      local contacts = resp:addrs("Contact")
      assert.equal(1, #contacts)
      assert.equal("sip:alice@127.0.0.1:" .. lport, contacts[1].uri)
      assert.equal(60, contacts[1].expires)
      -- Expires: 0 removes the binding: the 200 lists no Contact (RFC 3261 §10.3 step 8)
      resp = register(k, { user = "alice", password = "secret", lport = lport, expires = 0 })
      assert.equal(200, resp.status)
      assert.is_nil(resp:header("Contact"))
      -- a wrong password gets a fresh challenge, never a 200
      resp = register(k, { user = "alice", password = "nope" })
      assert.equal(401, resp.status)
    end)

    it("fails with Kamailio's log when it cannot start", function()
      local bad = os.tmpname()
      local f = assert(io.open(bad, "w"))
      f:write('#!KAMAILIO\nloadmodule "no_such_module.so"\nrequest_route { exit; }\n')
      f:close()
      local ok, err = pcall(peers.kamailio, { cfg = bad, start_timeout = 3 })
      os.remove(bad)
      assert.is_false(ok)
      assert.matches("kamailio did not start", err)
      assert.matches("no_such_module", err)
    end)
  end)

  describe("kamailio proxy.cfg", function()
    it("relays a call to a registered contact, with Record-Route for ACK and BYE (§16.6)", function()
      local k = peers.kamailio { cfg = "proxy" }
      local uas = peers.sipp { sf = "uas_call", calls = 2 }
      local resp = register(k, { user = "bob", contact_port = uas.port })
      assert.equal(200, resp.status)
      local uac = peers.sipp_run { sf = "uac_call", remote = k.addr, service = "bob", calls = 2, rate = 20 }
      assert.same({ 2, 0, 0 }, { uac.ok, uac.failed, uac.rc }, uac.out .. (uac.errors or ""))
      local r = uas:wait()
      assert.same({ 2, 0, 0 }, { r.ok, r.failed, r.rc }, r.out)
      k:stop()
    end)
  end)
end)
