-- The rock installs the way outside checks install it, and require "sip" works from that tree.
describe("the rockspec", function()
  it("builds and installs with luarocks make, and the module loads from the tree", function()
    local tree = os.tmpname()
    os.remove(tree)
    local log = tree .. ".log"
    local ok = os.execute(("luarocks --lua-version 5.4 make --tree %s rockspec/lua-sip-scm-1.rockspec >%s 2>&1")
      :format(tree, log))
    local f = io.open(log)
    local out = f and f:read("a") or ""
    if f then f:close() end
    assert.is_true(ok == true, out)
    local cmd = ([[LUA_PATH='%s/share/lua/5.4/?.lua;%s/share/lua/5.4/?/init.lua' LUA_CPATH='%s/lib/lua/5.4/?.so' ]] ..
      [[lua5.4 -e 'local sip = require "sip"; local m = assert(sip.parse("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n")); ]] ..
      [[assert(m.method == "OPTIONS"); assert(sip.sdp and sip.core.digest); print("loaded")']]):format(tree, tree, tree)
    local p = io.popen(cmd .. " 2>&1")
    local res = p:read("a")
    p:close()
    os.execute("rm -rf " .. tree .. " " .. log)
    assert.matches("loaded", res)
  end)

  it("lists every C source and every Lua module", function()
    local f = assert(io.open("rockspec/lua-sip-scm-1.rockspec"))
    local spec = f:read("a")
    f:close()
    local p = io.popen("ls csrc/*.c lua/sip/*.lua")
    for file in p:lines() do
      assert.truthy(spec:find('"' .. file .. '"', 1, true), file .. " missing from the rockspec")
    end
    p:close()
  end)
end)
