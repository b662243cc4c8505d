-- examples/device.lua, a GB/T 28181 camera, at examples/proxy.lua serving the platform's 10-digit
-- domain: every device and the platform are 20-digit IDs in it (sip:34020000001320000001@3402000000).
-- The camera registers with digest (401, then 200, realm 3402000000) and sends MANSCDP keepalives
-- (MESSAGE, Application/MANSCDP+xml) to the platform's ID; the platform, a sip.ua registered at
-- the same proxy, answers them 200. Both scripts run as subprocesses on 127.0.0.1, bounded in time.
local sip = require "sip"
local loop = require "sip.loop"
local peers = require "support.peers"

local DOMAIN = "3402000000"
local CAMERA, CAMERA_PW = "34020000001320000001", "camera-secret"
local PLATFORM, PLATFORM_PW = "34020000002000000001", "platform-secret"

local read = peers.slurp

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  assert(f:write(data))
  f:close()
end

describe("a GB/T 28181 device (examples/device.lua) at examples/proxy.lua", function()
  local port, pid, users, proxy_log
  local files = {}
  local function tmp()
    files[#files + 1] = os.tmpname()
    return files[#files]
  end

  setup(function()
    users, proxy_log = tmp(), tmp()
    write(users, ("%s:%s\n%s:%s\n"):format(CAMERA, CAMERA_PW, PLATFORM, PLATFORM_PW))
    port = peers.free_port("udp")
    local p = assert(io.popen(("timeout 30 lua5.4 examples/proxy.lua --listen udp:127.0.0.1:%d --realm %s" ..
      " --users %s --log info --quiet >%s 2>&1 & echo $!"):format(port, DOMAIN, users, proxy_log)))
    pid = p:read("n")
    p:close()
    assert(peers.wait_port(port, "udp", 5), read(proxy_log))
  end)

  teardown(function()
    if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
    for _, f in ipairs(files) do os.remove(f) end
  end)

  after_each(function() assert.equal(0, loop.active()) end)

  it("registers with digest (401, then 200) and its keepalive MESSAGEs reach the platform, answered 200", function()
    local out, bodies = tmp(), {}
    sip.run(function()
      local platform <close> = assert(sip.ua { listen = { "udp:127.0.0.1:0" }, user = PLATFORM, domain = DOMAIN,
        password = PLATFORM_PW, registrar = ("sip:127.0.0.1:%d"):format(port), t1 = 0.1 })
      platform:on("message", function(req)
        bodies[#bodies + 1] = req.body
        return 200
      end)
      local reg = assert(platform:register { expires = 60 })
      -- the camera: two keepalives, then it unregisters and exits; "exit N" ends its output
      os.execute(("(timeout 10 lua5.4 examples/device.lua --registrar sip:%s@127.0.0.1:%d --domain %s" ..
        " --user %s --password %s --interval 0.2 --count 2 --t1 0.1; echo \"exit $?\") >%s 2>&1 &")
        :format(PLATFORM, port, DOMAIN, CAMERA, CAMERA_PW, out))
      local deadline = sip.now() + 12
      while not read(out):find("exit %d+") and sip.now() < deadline do sip.sleep(0.1) end
      assert(reg:unregister())
    end)
    local text, log = read(out), read(proxy_log)
    local diag = "\ndevice:\n" .. text .. "\nproxy:\n" .. log
    assert.matches("exit 0", text, 1, true, diag)
    assert.matches(("registered sip:%s@%s"):format(CAMERA, DOMAIN), text, 1, true, diag)
    assert.matches("keepalive 1: 200 OK", text, 1, true, diag)
    assert.matches("keepalive 2: 200 OK", text, 1, true, diag)
    assert.matches("unregistered: 200", text, 1, true, diag)
    -- the camera's REGISTER (to the platform's ID at the proxy): challenged, then bound
    local reg = ("REGISTER sip:%s@127.0.0.1:%d from [^\n]* %%-> "):format(PLATFORM, port)
    local c401, c200 = log:find(reg .. "401"), log:find(reg .. "200 %[1 binding%]")
    assert.is_truthy(c401, diag)
    assert.is_truthy(c200 and c200 > c401, diag)
    -- the keepalives the platform got: MANSCDP Notify, CmdType Keepalive, from the camera's ID
    assert.is_true(#bodies >= 2, diag)
    for _, body in ipairs(bodies) do
      assert.matches("<CmdType>Keepalive</CmdType>", body, 1, true)
      assert.matches("<DeviceID>" .. CAMERA .. "</DeviceID>", body, 1, true)
    end
  end)
end)
