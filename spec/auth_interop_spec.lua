-- Digest authentication against software we did not write: examples/register.lua registering
-- with Kamailio (Debian's package, started here on 127.0.0.1) challenging with MD5 and with
-- SHA-256 (RFC 7616, RFC 8760), over UDP and TCP.
local peers = require "support.peers"

local function run(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"rc=$?\"")
  local out = p:read("a")
  p:close()
  return tonumber(out:match("rc=(%d+)%s*$")), out
end

local function register(k, user, password, transport)
  local registrar = k.uri .. (transport and (";transport=" .. transport) or "")
  return run(("timeout 30 lua5.4 examples/register.lua --registrar '%s' --domain example.com --user %s --password '%s' --expires 60 --once --t1 0.1")
    :format(registrar, user, password))
end

describe("digest with Kamailio as the registrar", function()
  teardown(peers.cleanup)

  for _, alg in ipairs({ "MD5", "SHA-256" }) do
    describe("challenging with " .. alg, function()
      local k
      setup(function() k = peers.kamailio { cfg = "registrar", users = { alice = "secret" }, algorithm = alg } end)
      teardown(function() k:stop() end)

      for _, transport in ipairs({ "udp", "tcp" }) do
        it("register.lua --once registers and unregisters over " .. transport, function()
          local rc, out = register(k, "alice", "secret", transport)
          assert.equal(0, rc, out)
          assert.matches("alice", out)
        end)
      end

      it("a wrong password ends with an error, not a retry loop", function()
        local rc, out = register(k, "alice", "wrong", "udp")
        assert.is_not.equal(0, rc, out)
        assert.matches("401", out)
        assert.is_true(#out < 4000, "too much output: a retry loop?")
      end)
    end)
  end
end)
