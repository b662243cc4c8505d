-- SIPVicious (svwar, svcrack: Debian's sipvicious) against a real examples/proxy.lua on
-- 127.0.0.1: it finds no account among extensions 100-110 (105 and 107 are real), and guessing
-- the password of 105 from one address or from ten at once (a dictionary of 200 words, the right
-- one the 190th) finds nothing, while 105's own phone, registered before the attack from
-- 127.0.0.2, keeps registering during and after it (RFC 7616 §5.7). Every tool run is bounded by
-- timeout(1); each svcrack waits ~10 s for answers that no longer come, which is most of the time.
local peers = require "support.peers"

local PASSWORD = "Tr0ub4dor-105"

local q = peers.quote

local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1", "r"))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

describe("sipvicious against examples/proxy.lua (RFC 7616 §5.7)", function()
  local dir, port, pid

  -- one registration (register, unregister) of 105 from address `from`: true when both got 200
  local function phone(from, password)
    local out, code = run(("timeout 20 lua5.4 examples/register.lua --registrar sip:127.0.0.1:%d --domain example.com"
      .. " --user 105 --password %s --once --listen udp:%s:0 --t1 0.1"):format(port, q(password or PASSWORD), from))
    return code == 0, out
  end

  -- svcrack for user 105 with the dictionary file words, from address `from`
  local function svcrack(words, from)
    return ("timeout 40 svcrack -u105 -d %s -p %d -b %s -x %s -P %d -v 127.0.0.1"):format(q(words), port, from, from,
      peers.free_port("udp"))
  end

  local function cracked(out) return out:find("The password for", 1, true) or out:find(PASSWORD, 1, true) end

  setup(function()
    assert(select(2, run("command -v svcrack && command -v svwar")) == 0, "sipvicious is not installed (tools/deps.sh test)")
    dir = run("mktemp -d /tmp/lua-sip-sipvicious.XXXXXX"):gsub("%s+$", "")
    write(dir .. "/users.txt", "105:" .. PASSWORD .. "\n107:another-secret\nalice:wonderland\n")
    local words = {}
    for i = 1, 200 do words[i] = ("pw%03d"):format(i) end
    words[190] = PASSWORD
    write(dir .. "/dict.txt", table.concat(words, "\n") .. "\n")
    for k = 0, 9 do -- ten slices of twenty words, one per attacking address
      write(("%s/dict%d.txt"):format(dir, k), table.concat(words, "\n", k * 20 + 1, k * 20 + 20) .. "\n")
    end
    port = peers.free_port("udp")
    local p = assert(io.popen(("timeout 300 lua5.4 examples/proxy.lua --listen udp:127.0.0.1:%d --realm example.com"
      .. " --users %s >%s/proxy.log 2>&1 & echo $!"):format(port, q(dir .. "/users.txt"), q(dir))))
    pid = p:read("n")
    p:close()
    assert(peers.wait_port(port, "udp", 10))
  end)

  teardown(function()
    if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
    if dir and dir:find("^/tmp/lua%-sip%-sipvicious%.") then os.execute("rm -rf " .. q(dir)) end
  end)

  it("105's phone registers from 127.0.0.2 before any attack", function()
    local ok, out = phone("127.0.0.2")
    assert.is_true(ok, out)
  end)

  for _, case in ipairs {
    { "REGISTER (svwar's default)", "" },
    { "REGISTER, --force past its sanity check", "--force" },
    { "OPTIONS", "--force -m OPTIONS" },
    { "INVITE", "--force -m INVITE" },
  } do
    it("svwar " .. case[1] .. " over 100-110 lists no extension", function()
      local out = run(("timeout 60 svwar %s -e100-110 -p %d -b 127.0.0.1 -x 127.0.0.1 -P %d 127.0.0.1")
        :format(case[2], port, peers.free_port("udp")))
      assert.matches("found nothing", out)
      assert.is_nil(out:find("| 10[0-9]", 1, true), out) -- the table of extensions it found
    end)
  end

  it("svcrack from one address: 6 guesses answered, then 503 (Retry-After) stops it; nothing found", function()
    local out = run(svcrack(dir .. "/dict.txt", "127.0.0.1") .. " -v")
    assert.is_falsy(cracked(out), out)
    local tried = select(2, out:gsub("trying pw", ""))
    assert.is_true(tried <= 6, out)
  end)

  it("svcrack from ten addresses at once finds nothing; the phone registers during and after", function()
    local cmds = {}
    for k = 0, 9 do
      cmds[#cmds + 1] = svcrack(("%s/dict%d.txt"):format(dir, k), "127.0.0." .. (10 + k)) .. " -v &"
    end
    local attack = assert(io.popen("{ " .. table.concat(cmds, " ") .. " wait; } 2>&1", "r"))
    os.execute("sleep 0.5")
    local during, dout = phone("127.0.0.2") -- while the ten run
    local out = attack:read("a")
    attack:close()
    assert.is_falsy(cracked(out), out)
    assert.is_true(during, dout)
    -- each gives up at its first 503: a handful of the 200 words were sent at all
    assert.matches("SIP/2.0 503 Service Unavailable", out)
    assert.matches("Retry%-After: %d+", out)
    local tried = select(2, out:gsub("trying pw", ""))
    assert.is_true(tried <= 20, tostring(tried))
    local after, aout = phone("127.0.0.2")
    assert.is_true(after, aout)
  end)
end)
