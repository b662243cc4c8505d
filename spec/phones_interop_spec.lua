-- examples/proxy.lua between real phones and test agents (issue #18): SIPp's built-in uac calling
-- SIPp's built-in uas through it (every ACK reaches the UAS once), and baresip and linphonec
-- registering and calling each other through it on [::1] over UDP and TCP. Loopback only; every
-- peer bounded in time.
local peers = require "support.peers"

local BENCH = "../shared/bench/sipp/"
local q, slurp = peers.quote, peers.slurp

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- Wait (up to seconds) until fn() is true; returns whether it became so.
local function until_true(fn, seconds)
  for _ = 1, (seconds or 10) * 10 do
    if fn() then return true end
    os.execute("sleep 0.1")
  end
  return false
end

-- A phone as a process driven through its stdin, in a config dir of its own (removed by stop).
local Phone = {}
Phone.__index = Phone

local function phone(name, dir, argv, env)
  local log = dir .. "/out.log"
  local cmd = ("cd %s && %s exec setsid timeout -k 2 60 %s >%s 2>&1"):format(q(dir), env or "", argv, q(log))
  local self = setmetatable({ name = name, dir = dir, log = log, pipe = assert(io.popen(cmd, "w")) }, Phone)
  return self
end

function Phone:say(line)
  self.pipe:write(line, "\n")
  self.pipe:flush()
end

function Phone:output() return slurp(self.log) end

function Phone:wait_for(text, seconds)
  return until_true(function() return self:output():find(text, 1, true) ~= nil end, seconds)
end

function Phone:stop(quit)
  if self.pipe then
    pcall(self.say, self, quit)
    self.pipe:close() -- waits for it: bounded by its timeout
    self.pipe = nil
    os.execute("rm -rf " .. q(self.dir))
  end
end

local function tmpdir()
  local p = assert(io.popen("mktemp -d /tmp/lua-sip-phone-XXXXXX"))
  local d = p:read("l")
  p:close()
  return d
end

-- baresip as user at the proxy on [::1]:proxy_port over proto, answering calls itself; no audio
-- device: aubridge for both directions.
local function baresip(user, proto, proxy_port)
  local dir = tmpdir()
  local port = peers.free_port()
  write(dir .. "/config", table.concat({
    "poll_method epoll", ("sip_listen [::1]:%d"):format(port), "sip_transports udp,tcp",
    "audio_player aubridge,nil", "audio_source aubridge,nil", "audio_alert aubridge,nil",
    "module_path /usr/lib/baresip/modules", "module stdio.so", "module g711.so", "module aubridge.so",
    "module_app account.so", "module_app menu.so", "answermode auto", "" }, "\n"))
  write(dir .. "/accounts", ('<sip:%s@example.com;transport=%s>;outbound="sip:[::1]:%d;transport=%s";regint=60;'
    .. "answermode=auto\n"):format(user, proto, proxy_port, proto))
  local p = phone("baresip", dir, "baresip -f " .. q(dir))
  p.port = port
  return p
end

-- linphonec as user at the proxy over proto, auto-answering; sound from and to files.
local function linphonec(user, proto, proxy_port)
  local dir = tmpdir()
  local port = peers.free_port()
  os.execute("mkdir -p " .. q(dir .. "/.local/share/linphone"))
  local proxy = ("sip:[::1]:%d;transport=%s"):format(proxy_port, proto)
  write(dir .. "/linphonerc", table.concat({
    "[sip]", ("sip_port=%d"):format(proto == "udp" and port or -1),
    ("sip_tcp_port=%d"):format(proto == "tcp" and port or -1), "use_ipv6=1", "default_proxy=0",
    "[rtp]", ("audio_rtp_port=%d"):format(peers.free_port("udp")),
    "[proxy_0]", ("reg_proxy=<%s>"):format(proxy), ("reg_route=<%s;lr>"):format(proxy),
    ("reg_identity=sip:%s@example.com"):format(user), "reg_expires=60", "reg_sendregister=1", "publish=0", "" }, "\n"))
  local p = phone("linphonec", dir, "linphonec -a -c " .. q(dir .. "/linphonerc"), "HOME=" .. q(dir))
  p:say("soundcard use files")
  p:say("ipv6 enable")
  p.port = port
  return p
end

-- examples/proxy.lua on one free port; returns the handle and the port
local function start_proxy(listen, extra)
  local port = peers.free_port()
  local args = {}
  for _, l in ipairs(listen) do
    args[#args + 1] = "--listen"
    args[#args + 1] = l:format(port)
  end
  for _, a in ipairs { "--realm", "example.com", "--log", "info" } do args[#args + 1] = a end
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  local px = peers.example("proxy.lua", args, 60)
  assert(px.wait_for("Ctrl-C stops it.", 10), px.output())
  return px, port
end

local function count(text, pattern)
  local n = 0
  for _ in text:gmatch(pattern) do n = n + 1 end
  return n
end

describe("baresip and linphonec through examples/proxy.lua on [::1], the proxy on both families", function()
  teardown(peers.cleanup)

  for _, proto in ipairs { "udp", "tcp" } do
    it(("call each other over %s: 180, 200, ACK and BYE pass the proxy, the call ends on both%s"):format(
      proto:upper(), proto == "tcp" and "; idle past the idle timeout, still called" or ""), function()
      local px, port = start_proxy({ "udp:[::1]:%d", "tcp:[::1]:%d", "udp:127.0.0.1:%d", "tcp:127.0.0.1:%d" },
        { "--trace", "--idle-timeout", "1" })
      local bob = linphonec("bob", proto, port)
      local alice = baresip("alice", proto, port)
      local ok, err = pcall(function()
        assert(until_true(function() return count(px.output(), "%-> 200 %[1 binding%]") >= 2 end, 15), px.output())
        if proto == "tcp" then os.execute("sleep 2.5") end -- both flows idle past two idle timeouts
        -- alice (baresip) calls bob (linphonec, -a answers), then hangs up
        alice:say("/dial sip:bob@example.com")
        assert(bob:wait_for("Media streams established", 15), bob:output())
        assert(alice:wait_for("Call established", 10), alice:output())
        alice:say("/hangup")
        assert(bob:wait_for("ended", 10), bob:output())
        assert(alice:wait_for("terminate", 10), alice:output()) -- "terminate call ..."
        -- bob calls alice (answermode auto), then hangs up
        bob:say("call sip:alice@example.com")
        assert(until_true(function() return count(alice:output(), "Call established") >= 2 end, 15), alice:output())
        bob:say("terminate")
        assert(alice:wait_for("session closed", 10), alice:output()) -- the BYE came
        assert(until_true(function() return count(bob:output(), "ended") >= 2 end, 10), bob:output())
      end)
      alice:stop("/quit")
      bob:stop("quit")
      local _, log = px.stop()
      assert(ok, tostring(err) .. "\n" .. log)
      -- each phone registered over proto (its address: where that REGISTER came from); what the
      -- proxy sent on to each (a request over 1,300 bytes goes over TCP, §18.1.1: both phones
      -- listen on TCP too)
      local at = {}
      for pos, src in log:gmatch("()<<< " .. proto .. ":::1:(%d+) %(%d+ bytes%) REGISTER") do
        local head = log:sub(pos, (log:find("\n\n", pos, true) or #log))
        local user = head:match("\nFrom:[^\n]-sip:(%w+)@")
        if user then at[user] = tonumber(src) end
      end
      assert.is_number(at.alice, log)
      assert.is_number(at.bob, log)
      for _, t in ipairs {
        { "bob", "INVITE sip:bob@" }, { "alice", "SIP/2.0 180" }, { "alice", "SIP/2.0 200" },
        { "bob", "ACK sip:bob@" }, { "bob", "BYE sip:bob@" },
        { "alice", "INVITE sip:alice" }, { "bob", "SIP/2.0 180" }, { "bob", "SIP/2.0 200" },
        { "alice", "ACK sip:alice" }, { "alice", "BYE sip:alice" },
      } do
        local line = (">>> %%a+:::1:%d %%(%%d+ bytes%%) "):format(at[t[1]]) .. t[2]:gsub("%p", "%%%0")
        assert.is_true(log:find(line) ~= nil, proto .. ": not relayed: " .. t[2] .. " to " .. t[1] .. "\n" .. log)
      end
    end)
  end
end)

describe("SIPp through examples/proxy.lua", function()
  teardown(peers.cleanup)

  it("the built-in uac calls the built-in uas at bob: every ACK reaches the UAS once, none loops", function()
    local px, port = start_proxy { "udp:127.0.0.1:%d" }
    local calls = 10
    local uas = peers.sipp { scenario = "uas", calls = calls, trace = true, timeout = 20 }
    local reg = peers.sipp_run { sf = BENCH .. "reg_contact.xml", remote = port, inf = { { "bob", "secret" } },
      calls = 1, key = { contact_port = uas.port }, timeout = 10 }
    assert.equal(1, reg.ok, reg.out)
    -- the built-in uac's ACK and BYE: Request-URI bob@proxy, no Route
    local r = peers.sipp_run { scenario = "uac", remote = port, service = "bob", calls = calls, rate = 20, timeout = 20 }
    local u = uas:wait()
    local _, log = px.stop()
    assert.equal(calls, r.ok, r.out .. log)
    assert.equal(calls, u.ok, u.out)
    local msgs = u.messages or ""
    assert.equal(calls, count(msgs, "\nACK sip:"), msgs:sub(1, 3000))
    assert.equal(calls, count(msgs, "\nBYE sip:"))
  end)
end)
