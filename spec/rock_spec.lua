-- The rock installs the way outside checks install it, and require "sip" works from that tree.
local docs = require "support.docs"
local peers = require "support.peers"

describe("the rockspec", function()
  it("README's rock lines, as pasted: it installs, sip loads from the tree, the examples run", function()
    local b = assert(docs.block_with("README.md", "sh", "luarocks"))
    local home = os.tmpname()
    os.remove(home)
    local script = home .. ".sh"
    local f = assert(io.open(script, "w"))
    -- the block, then what it promises: sip from the tree (not the checkout), a command's --help
    f:write("set -e\nmkdir -p \"$HOME\"\n", b.text,
      [[cd /tmp && lua5.4 -e 'local sip = require "sip"; ]] ..
      [[local m = assert(sip.parse("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n")); ]] ..
      [[assert(m.method == "OPTIONS"); assert(sip.sdp and sip.core.digest); ]] ..
      [[assert(package.searchpath("sip", package.path):find(os.getenv("HOME"), 1, true)); print("loaded")']] .. "\n",
      "lua-sip-proxy --help\n")
    f:close()
    local p = io.popen(("env -u LUA_PATH -u LUA_CPATH HOME=%s timeout 300 sh %s 2>&1; echo \"exit $?\"")
      :format(peers.quote(home), peers.quote(script)))
    local out = p:read("a")
    p:close()
    os.execute("rm -rf " .. peers.quote(home) .. " " .. peers.quote(script))
    assert.matches("exit 0", out, 1, true)
    assert.matches("demo: every step as expected", out, 1, true)
    assert.matches("loaded", out, 1, true)
    assert.matches("--listen", out, 1, true)
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
