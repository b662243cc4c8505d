-- doc/testing.md: its example spec runs as it stands, with busted, and every test in it passes
-- with no socket bound.
local peers = require "support.peers"

describe("doc/testing.md", function()
  it("has an example spec that passes as written", function()
    local doc = peers.slurp("doc/testing.md")
    local code = doc:match("\n```lua\n(.-)\n```\n")
    assert.truthy(code, "no lua block in doc/testing.md")
    local file = os.tmpname() .. "_spec.lua"
    local f = assert(io.open(file, "w"))
    f:write(code)
    f:close()
    local p = assert(io.popen(("lua5.4 /usr/bin/busted -o TAP %s 2>&1"):format(peers.quote(file))))
    local out = p:read("a")
    p:close()
    os.remove(file)
    assert.matches("\n1%.%.3\n", "\n" .. out, nil, out)
    assert.is_nil(out:find("not ok", 1, true), out)
  end)
end)
