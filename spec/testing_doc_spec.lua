-- doc/testing.md and the README's "Testing your script": their examples run as they stand (the
-- guide's with busted, every test in it passing), so the pages cannot fall behind the library.
local peers = require "support.peers"

-- The first ```lua block of file after the line `heading` (from the top when nil).
local function example(file, heading)
  local text = peers.slurp(file)
  local from = heading and select(2, text:find("\n" .. heading .. "\n", 1, true)) or 1
  assert.truthy(from, heading and (heading .. " not in " .. file))
  local code = text:match("\n```lua\n(.-)\n```\n", from)
  assert.truthy(code, "no lua block in " .. file)
  return code
end

-- Run code saved as a file by command (a format with one %s); its output.
local function run(code, command)
  local file = os.tmpname() .. "_spec.lua"
  local f = assert(io.open(file, "w"))
  f:write(code)
  f:close()
  local p = assert(io.popen(command:format(peers.quote(file)) .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  os.remove(file)
  return out, ok
end

describe("the testing guide", function()
  it("doc/testing.md: the example spec passes as written", function()
    local out = run(example("doc/testing.md"), "lua5.4 /usr/bin/busted -o TAP %s")
    assert.matches("\n1%.%.3\n", "\n" .. out, nil, out)
    assert.is_nil(out:find("not ok", 1, true), out)
  end)

  it("README.md: the example under 'Testing your script' runs as written", function()
    local out, ok = run(example("README.md", "### Testing your script"), "lua5.4 %s")
    assert.is_true(ok, out)
  end)
end)
