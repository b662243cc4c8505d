#!/usr/bin/env lua5.4
-- device.lua --registrar sip:HOST[:PORT] --domain DOMAIN --user DEVICEID --password P
--            [--server SERVERID] [--interval S] [--expires N] [--count N] [--listen ADDR]
--            [--advertise HOST] [--t1 S] [--quiet]
-- A device in the style of a GB/T 28181 camera: it registers with digest, then sends a
-- keepalive MESSAGE (Application/MANSCDP+xml, CmdType Keepalive) to the server every --interval
-- seconds (default 60), registering again when three keepalives in a row fail (no answer, or
-- one that is not 2xx). Queries the server sends by MESSAGE (DeviceInfo, DeviceStatus, Catalog)
-- get 200 and a Response MESSAGE. On Ctrl-C or SIGTERM, or after --count keepalives, it
-- unregisters and exits (0 on success). Device and server are 20-digit IDs in a 10-digit domain:
--   device.lua --registrar sip:34020000002000000001@192.0.2.1:5060 --domain 3402000000 \
--     --user 34020000001320000001 --password P
-- prints "registered ...", then "keepalive N: STATUS REASON" per answer ("keepalive N: no
-- answer: ..." otherwise).
-- run from a checkout: its lua/ and build/ come first; an installed rock is found otherwise
local here = arg[0]:match("^(.*)/examples/[^/]*$") or "."
package.path = here .. "/lua/?.lua;" .. here .. "/lua/?/init.lua;" .. package.path
package.cpath = here .. "/build/?.so;" .. package.cpath
local sip = require "sip"

local function usage(msg)
  if msg then io.stderr:write("device.lua: ", msg, "\n") end
  io.stderr:write("usage: device.lua --registrar sip:HOST[:PORT] --domain DOMAIN --user DEVICEID --password P ",
    "[--server SERVERID] [--interval S] [--expires N] [--count N] [--listen ADDR] [--advertise HOST] ",
    "[--t1 S] [--quiet]\n")
  os.exit(2)
end

local o = { interval = 60, expires = 3600, listen = {} }
local i = 1
while arg[i] do
  local a, v = arg[i], arg[i + 1]
  if a == "--registrar" and v then o.registrar = v; i = i + 2
  elseif a == "--domain" and v then o.domain = v; i = i + 2
  elseif a == "--user" and v then o.user = v; i = i + 2
  elseif a == "--password" and v then o.password = v; i = i + 2
  elseif a == "--server" and v then o.server = v; i = i + 2
  elseif a == "--interval" and tonumber(v) then o.interval = tonumber(v); i = i + 2
  elseif a == "--expires" and math.tointeger(tonumber(v)) then o.expires = math.tointeger(tonumber(v)); i = i + 2
  elseif a == "--count" and math.tointeger(tonumber(v)) then o.count = math.tointeger(tonumber(v)); i = i + 2
  elseif a == "--listen" and v then o.listen[#o.listen + 1] = v; i = i + 2
  elseif a == "--advertise" and v then o.advertise = v; i = i + 2
  elseif a == "--t1" and tonumber(v) then o.t1 = tonumber(v); i = i + 2
  elseif a == "--quiet" then o.quiet = true; i = i + 1
  else usage("unknown or incomplete option " .. a) end
end
if not (o.registrar and o.domain and o.user and o.password) then
  usage("--registrar, --domain, --user and --password are required")
end
local reg_uri = sip.uri(o.registrar)
if not reg_uri or (reg_uri.scheme ~= "sip" and reg_uri.scheme ~= "sips") then usage("--registrar must be a SIP URI") end
if o.interval <= 0 then usage("--interval must be positive") end
local hop = sip.dialog.hop(o.registrar)
local MANSCDP = "Application/MANSCDP+xml"
if #o.listen == 0 then o.listen[1] = hop.proto .. ":0.0.0.0:0" end
-- GB/T 28181 §9.3: the server is addressed by its ID in the domain (sip:34020000002000000001@
-- 3402000000), reached at the registrar's address: the domain is no name to look up (an all-digit
-- one would even read as an IPv4 number)
local server_id = o.server or reg_uri.user or o.domain
local server_aor = ("sip:%s@%s"):format(server_id, o.domain)

-- a MESSAGE to the server: the response (2xx) | nil, err, code[, the final answer of 300 or more]
local function to_server(ua, body)
  return ua:request("MESSAGE", server_aor, { body = body, content_type = MANSCDP, dest = hop })
end

local function say(fmt, ...)
  if not o.quiet then
    print(fmt:format(...))
    io.stdout:flush()
  end
end

local function xml(root, fields)
  local out = { '<?xml version="1.0" encoding="GB2312"?>', "<" .. root .. ">" }
  for _, f in ipairs(fields) do out[#out + 1] = ("<%s>%s</%s>"):format(f[1], f[2], f[1]) end
  out[#out + 1] = "</" .. root .. ">"
  return table.concat(out, "\r\n") .. "\r\n"
end

local function field(body, name) return body:match("<" .. name .. ">%s*(.-)%s*</" .. name .. ">") end

local status = 1
local ok, err = pcall(sip.run, function()
  local ua, uerr = sip.ua {
    listen = o.listen, advertise = o.advertise, user = o.user, domain = o.domain, password = o.password,
    registrar = o.registrar, t1 = o.t1, user_agent = "lua-sip device",
  }
  if not ua then
    io.stderr:write("device.lua: ", uerr, "\n")
    return
  end
  local sn = 0
  local function next_sn() sn = sn + 1; return sn end

  -- queries from the server: 200 at once, the answer in a MESSAGE of our own
  ua:on("message", function(req)
    local body = req.body
    local cmd, qsn = field(body, "CmdType"), field(body, "SN")
    say("MESSAGE from %s: %s", req.from.uri, cmd or req.content_type or "?")
    if not body:find("<Query>", 1, true) or not cmd then return 200 end
    local fields = { { "CmdType", cmd }, { "SN", qsn or "0" }, { "DeviceID", o.user } }
    if cmd == "DeviceInfo" then
      fields[#fields + 1] = { "Result", "OK" }
      fields[#fields + 1] = { "Manufacturer", "lua-sip" }
      fields[#fields + 1] = { "Model", "example" }
    elseif cmd == "DeviceStatus" then
      fields[#fields + 1] = { "Result", "OK" }
      fields[#fields + 1] = { "Online", "ONLINE" }
      fields[#fields + 1] = { "Status", "OK" }
    elseif cmd == "Catalog" then
      fields[#fields + 1] = { "SumNum", "0" }
    else
      return 200
    end
    req:reply(200)
    to_server(ua, xml("Response", fields))
  end)

  local reg, rerr, code = ua:register { expires = o.expires }
  if not reg then
    io.stderr:write(("device.lua: registration failed: %s (%s)\n"):format(tostring(rerr), tostring(code)))
    ua:close()
    return
  end
  say("registered %s at %s for %d s", ua.aor, o.registrar, reg.expires)

  local stopping = false
  local function finish()
    if stopping then return end
    stopping = true
    local rsp, e2, c2 = reg:unregister()
    if rsp then
      say("unregistered: %d %s", rsp.status, rsp.reason)
      status = 0
    else
      io.stderr:write(("device.lua: unregister failed: %s (%s)\n"):format(tostring(e2), tostring(c2)))
    end
    ua:close()
    sip.stop()
  end
  sip.on_signals(function() sip.spawn(finish) end)

  local sent, failures = 0, 0
  while not stopping do
    local n = next_sn()
    local rsp, merr, mcode, answer = to_server(ua, xml("Notify", {
      { "CmdType", "Keepalive" }, { "SN", n }, { "DeviceID", o.user }, { "Status", "OK" },
    }))
    if stopping then break end
    sent = sent + 1
    local got = rsp or answer
    if got then say("keepalive %d: %d %s%s", n, got.status, got.reason, rsp and "" or (" (" .. tostring(merr) .. ")"))
    else say("keepalive %d: no answer: %s (%s)", n, tostring(merr), tostring(mcode)) end
    if rsp then
      failures = 0
    else
      failures = failures + 1
      if failures >= 3 then
        -- the server lost us: register again
        local r2 = reg:refresh_now()
        say("registered again: %s", r2 and r2.status or "failed")
        failures = 0
      end
    end
    if o.count and sent >= o.count then break end
    if not ua:sleep(o.interval) then break end
  end
  finish()
end)
if not ok then
  io.stderr:write("device.lua: ", tostring(err), "\n")
  os.exit(1)
end
os.exit(status)
