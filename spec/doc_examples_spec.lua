-- Documentation that cannot rot: every ```lua block of README.md and doc/*.md runs here, as
-- written but for its ports (each 127.0.0.1:5xxx becomes a free port, the same one wherever the
-- block repeats it). A whole script (sip.run, or sip.test's t:run) runs as it is, a spec of
-- sip.test (doc/testing.md's) under busted in testing_doc_spec; a fragment (a block that builds
-- an object for the reader to use) is run by the check below that names it, which then uses the
-- object as the text around the block says. A block that is neither fails here.
local sip = require "sip"
local peers = require "support.peers"
local docs = require "support.docs"

local function all_blocks()
  local list = {}
  for _, path in ipairs(docs.files()) do
    for _, b in ipairs(docs.blocks(path, "lua")) do list[#list + 1] = b end
  end
  return list
end

-- The block with free ports in place of the documented ones.
local function with_free_ports(text)
  local map = {}
  return (text:gsub("127%.0%.0%.1:(5%d%d%d)", function(port)
    map[port] = map[port] or peers.free_port()
    return "127.0.0.1:" .. map[port]
  end))
end

-- The block as a function (extra: code appended, e.g. "return px"); print goes to `printed`.
local function compile(b, extra)
  local printed = {}
  local env = setmetatable({ sip = sip, print = function(...)
    local t = table.pack(...)
    for i = 1, t.n do t[i] = tostring(t[i]) end
    printed[#printed + 1] = table.concat(t, "\t")
  end }, { __index = _G })
  local fn = assert(load(with_free_ports(b.text) .. (extra or ""), "=" .. b.file .. ":" .. b.line, "t", env))
  return fn, printed
end

-- A call through the README's router: alice calls bob, who registered; bob answers; alice hangs
-- up. The BYE and the ACK of the 200 must reach bob through the proxy.
local function call_through(px)
  local port = px.ep.listeners[1].port
  local proxy_uri = "sip:127.0.0.1:" .. port
  local bob <close> = assert(sip.ua { listen = "udp:127.0.0.1:0", user = "bob", domain = "example.com",
    password = "bob-secret", registrar = "sip:example.com", outbound_proxy = proxy_uri })
  local alice <close> = assert(sip.ua { listen = "udp:127.0.0.1:0", user = "alice", domain = "example.com",
    password = "alice-secret", outbound_proxy = proxy_uri })
  assert(bob:register { expires = 60, refresh = false })
  local incoming
  bob:on("call", function(c)
    incoming = c
    c:answer()
  end)
  local call = assert(alice:call("sip:bob@example.com", { timeout = 10 }))
  assert.truthy(incoming)
  assert.truthy(incoming:_wait(function() return incoming.acked end, 10), "the ACK reached bob")
  assert(call:bye { timeout = 10 })
  assert.equal("bye", incoming:wait_end(10), "the BYE reached bob")
end

-- Fragments, by a line that only they have: how each is run and what it must do.
-- Blocks on sip.test's virtual network (no port opened) run in spec/testing_doc_spec.lua.
local function on_sip_test() end

local FRAGMENTS = {
  ['require("sip.test")'] = on_sip_test,
  ['require "sip.test"'] = on_sip_test,
  ["route = function(req, px)"] = function(b)
    local fn = compile(b, "\nreturn px")
    sip.run(function()
      local px <close> = assert(fn())
      call_through(px)
    end)
  end,
}

describe("the examples of README.md and doc/", function()
  for _, b in ipairs(all_blocks()) do
    local name = ("%s:%d"):format(b.file, b.line)
    it(name .. " runs as written", function()
      if b.text:find("describe(", 1, true) then -- a spec of sip.test: busted runs it there
        assert.equal("doc/testing.md", b.file, name .. ": a spec in the docs needs its check in testing_doc_spec")
        return
      end
      -- a script runs the loop itself, or sip.test's t:run (on its virtual network) does
      local whole = b.text:find("sip.run(", 1, true) or b.text:find("t:run(", 1, true)
      for marker, run in pairs(FRAGMENTS) do
        if not whole and b.text:find(marker, 1, true) then return run(b) end
      end
      assert.truthy(whole or not b.text:find("listen", 1, true),
        name .. ": a fragment that opens a port needs its check in FRAGMENTS")
      local fn = compile(b)
      fn()
    end)
  end

  it("README has its router (run above)", function()
    assert.truthy(docs.block_with("README.md", "lua", "route = function(req, px)"))
  end)

  it("README's setup lines for the checkout work as pasted: sip and the system's modules load", function()
    local b = assert(docs.block_with("README.md", "sh", 'export LUA_PATH="$PWD'))
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write("set -e\n", b.text, "lua5.4 -e 'require \"luasql.sqlite3\"; print(\"system modules found\")'\n")
    f:close()
    local p = io.popen("env -u LUA_PATH -u LUA_CPATH sh " .. script .. " 2>&1; echo \"exit $?\"")
    local out = p:read("a")
    p:close()
    os.remove(script)
    assert.matches("exit 0", out, 1, true)
    assert.matches(sip._VERSION, out, 1, true)
    assert.matches("system modules found", out, 1, true)
    assert.matches(" 0 failures / 0 errors", out, 1, true) -- busted under Lua 5.4, by .busted
  end)
end)
