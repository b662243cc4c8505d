#!/usr/bin/env lua5.4
-- demo.lua: the whole story through the registrar/proxy, as a ladder (make demo).
-- What it shows and its options: --help (the spec below).
local paths = loadfile((arg[0]:match("^.*/") or "") .. "paths.lua") -- none when installed by the rock
if paths then paths() end
local sip = require "sip"
local cli = require "sip.cli"

local o = cli.parse({
  name = "demo.lua",
  description = "The whole story through the registrar/proxy, in one process on 127.0.0.1, with a "
    .. "ladder diagram of every message the proxy receives and sends: alice and bob register (401, then "
    .. "200 with credentials); alice sends bob a MESSAGE \"user2, come here.\" (RFC 3428 pager mode); "
    .. "alice calls bob (INVITE, 100, 180, 200 with the SDP answer choosing PCMA, ACK); then BYE and 200. "
    .. "Exits 0 when every step got the answer it should, 1 otherwise.",
  options = {
    { "--messages", help = "after the ladder, print every message in full" },
  },
}, arg)

local ladder = {}   -- {from, to, label, bytes, token} in the order the proxy saw them
local names = {}    -- "port" -> "alice" | "bob"
local COL = { alice = 1, proxy = 2, bob = 3 }

-- The arrow's label and the token the checks below look for: "401 Unauthorized (REGISTER)", "401"
local function label(bytes)
  local m, err = sip.parse(bytes)
  if not m then return "unparsable: " .. tostring(err), "?" end
  if m.status then return ("%d %s (%s)"):format(m.status, m.reason, m.cseq_method or "?"), tostring(m.status) end
  return m.method, m.method
end

local function trace(dir, bytes, peer)
  local who = names[tostring(peer.port)] or ("?" .. tostring(peer.port))
  local text, token = label(bytes)
  if dir == "in" then ladder[#ladder + 1] = { who, "proxy", text, bytes, token }
  else ladder[#ladder + 1] = { "proxy", who, text, bytes, token } end
end

local WIDTH = 40
local function draw()
  local function cell(s, w) return s .. string.rep(" ", w - #s) end
  print(cell("alice", WIDTH) .. cell("proxy (example.com)", WIDTH) .. "bob")
  for _, e in ipairs(ladder) do
    local a, b, text = COL[e[1]], COL[e[2]], e[3]
    if not a or not b then
      print("  (" .. e[1] .. " -> " .. e[2] .. ") " .. text)
    else
      local lo, hi = math.min(a, b), math.max(a, b)
      local line = {}
      for c = 1, 3 do
        if c < lo or c >= hi then
          line[#line + 1] = c == 3 and "|" or cell("|", WIDTH)
        else
          local span = WIDTH - 1
          local t = " " .. text .. " "
          if #t > span - 2 then t = t:sub(1, span - 2) end
          local pad = span - 1 - #t
          local l, r = pad // 2, pad - pad // 2
          local arrow = a < b and ("|" .. string.rep("-", l) .. t .. string.rep("-", r) .. ">")
            or ("|<" .. string.rep("-", l) .. t .. string.rep("-", r))
          line[#line + 1] = arrow
        end
      end
      print(table.concat(line))
    end
  end
end

local failures = 0
local function check(what, cond, detail)
  if cond then print("ok    " .. what)
  else
    failures = failures + 1
    print("FAIL  " .. what .. (detail and (": " .. tostring(detail)) or ""))
  end
end

local ok, err = pcall(sip.run, function()
  local px = assert(sip.proxy { listen = { "udp:127.0.0.1:0" }, realm = "example.com", sweep_interval = 0,
    users = { alice = "alice-secret", bob = "bob-secret" }, algorithms = { "MD5" }, trace = trace })
  local proxy = "sip:127.0.0.1:" .. px.ep.listeners[1].port
  local function ua(user, codecs)
    local u = assert(sip.ua { listen = { "udp:127.0.0.1:0" }, user = user, domain = "example.com",
      password = user .. "-secret", registrar = proxy, outbound_proxy = proxy .. ";lr",
      media = { address = "127.0.0.1", port = user == "alice" and 40000 or 42000, codecs = codecs } })
    names[tostring(u.ep.listeners[1].port)] = user
    return u
  end
  local alice = ua("alice", { "PCMU", "PCMA" })
  local bob = ua("bob", { "PCMA" }) -- bob's phone does only PCMA: the answer must choose it
  local done = pcall(function()
    local said
    bob:on("message", function(req) said = req.body end)
    bob:on("call", function(call)
      call:ring()
      sip.sleep(0.05)
      call:answer()
    end)
    check("alice registers (401, then 200)", alice:register { expires = 600 } ~= nil)
    check("bob registers (401, then 200)", bob:register { expires = 600 } ~= nil)
    local rsp = alice:message("sip:bob@example.com", "user2, come here.")
    check("alice's MESSAGE reaches bob: 200", rsp and rsp.status == 200, rsp and rsp.status)
    check('bob reads "user2, come here."', said == "user2, come here.", said)
    local call, cerr = alice:call("sip:bob@example.com")
    check("alice calls bob: 200 with an SDP answer", call ~= nil, cerr)
    if call then
      check("the answer chose PCMA", call.codec and call.codec.name == "PCMA", call.codec and call.codec.name)
      sip.sleep(0.1) -- the ACK is on its way
      local bye = call:bye()
      check("BYE: 200", bye and bye.status == 200, bye and bye.status)
    end
  end)
  sip.sleep(0.05)
  alice:close()
  bob:close()
  px:close()
  if not done then failures = failures + 1 end
end)
if not ok then
  failures = failures + 1
  print("FAIL  " .. tostring(err))
end

print()
draw()
print()
if o.messages then
  for n, e in ipairs(ladder) do
    print(("-- %d: %s -> %s"):format(n, e[1], e[2]))
    print((e[4]:gsub("\r\n", "\n")))
  end
end
-- what the seeds' scenario needs to see in the ladder, in order
local want = { "REGISTER", "401", "REGISTER", "200", "MESSAGE", "407", "MESSAGE", "MESSAGE", "200", "200",
  "INVITE", "100", "INVITE", "180", "180", "200", "200", "ACK", "ACK", "BYE", "BYE", "200", "200" }
local i = 1
for _, e in ipairs(ladder) do
  if i <= #want and e[5] == want[i] then i = i + 1 end
end
check("the ladder shows REGISTER/401/200, MESSAGE/200, INVITE/100/180/200/ACK, BYE/200", i > #want,
  "stopped before " .. tostring(want[i]))
print(failures == 0 and "demo: every step as expected" or ("demo: " .. failures .. " step(s) failed"))
os.exit(failures == 0 and 0 or 1)
