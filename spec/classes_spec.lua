-- Every class of the Lua layers has __name (errors and tostring read "sip.<noun>") and a
-- __tostring that says which one it is: checked in the sources, so a new class cannot miss them,
-- and on live objects.
local sip = require "sip"
local peers = require "support.peers"

local function sources()
  local list = {}
  local p = io.popen("ls lua/sip/*.lua")
  for f in p:lines() do list[#list + 1] = f end
  p:close()
  return list
end


describe("the classes", function()
  it("each metatable of lua/sip/ (X.__index = X) sets __name and __tostring", function()
    local n = 0
    for _, path in ipairs(sources()) do
      local text = peers.slurp(path)
      for class in text:gmatch("\n(%u%w*)%.__index = %1\n") do
        n = n + 1
        assert.truthy(text:find("\n" .. class .. '%.__name = "sip%.[%w%._]+"'), path .. ": " .. class .. ".__name")
        assert.truthy(text:find("\nfunction " .. class .. ":__tostring%(") or text:find("\n" .. class .. "%.__tostring = "),
          path .. ": " .. class .. ".__tostring")
      end
    end
    assert.is_true(n >= 15, "found " .. n .. " classes")
  end)

  it("live objects print as what they are", function()
    sip.run(function()
      local ep <close> = assert(sip.endpoint { listen = "udp:127.0.0.1:0" })
      assert.matches("^sip%.endpoint %(udp:127%.0%.0%.1:%d+%)$", tostring(ep))
      local ua <close> = assert(sip.ua { listen = "udp:127.0.0.1:0", user = "alice", domain = "example.com" })
      assert.matches("^sip%.ua %(sip:alice@example%.com, udp:127%.0%.0%.1:%d+%)$", tostring(ua))
      local px <close> = assert(sip.proxy { listen = "udp:127.0.0.1:0", realm = "example.com" })
      assert.matches("^sip%.proxy %(example%.com, udp:127%.0%.0%.1:%d+%)$", tostring(px))
      assert.equal("sip.registrar (example.com)", tostring(px.registrar))
      assert.equal("sip.location.memory", tostring(px.location))
      assert.equal("sip.auth.client (bob)", tostring(sip.auth.client { user = "bob", password = "x" }))
      assert.equal("sip.auth.server (example.com)", tostring(sip.auth.server { realm = "example.com", users = {} }))
      assert.matches("^sip%.waiter %(new%)$", tostring(sip.waiter()))
      local call = ua:dial("sip:bob@127.0.0.1:9", { timeout = 0.05 })
      assert.matches("^sip%.call %(to sip:bob@127%.0%.0%.1:9, calling%)$", tostring(call))
      call:wait_end()
      ep:close()
      assert.equal("sip.endpoint (closed)", tostring(ep))
    end)
  end)
end)
