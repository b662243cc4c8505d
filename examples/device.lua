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
local paths = loadfile((arg[0]:match("^.*/") or "") .. "paths.lua") -- none when installed by the rock
if paths then paths() end
local sip = require "sip"
local cli = require "sip.cli"

local SPEC = {
  name = "device.lua",
  description = "A GB/T 28181-style camera: registers with digest, sends a MANSCDP keepalive MESSAGE "
    .. "every --interval seconds, answers the server's queries, and unregisters on Ctrl-C, SIGTERM or "
    .. "after --count keepalives.",
  options = cli.flow_options(cli.tls_options {
    { "--registrar", "URI", required = true, check = cli.sip_uri, help = "the platform (sip:[SERVERID@]HOST[:PORT])" },
    { "--domain", "DOMAIN", required = true, help = "the domain (a 10-digit GB/T 28181 domain, e.g. 3402000000)" },
    { "--user", "DEVICEID", required = true, help = "the device's 20-digit ID" },
    { "--password", "P", required = true, help = "the digest password" },
    { "--server", "SERVERID", help = "the platform's ID (default: the registrar URI's user, else the domain)" },
    { "--interval", "S", "number", default = 60, check = function(v) return v > 0, "must be positive" end,
      help = "seconds between keepalives" },
    { "--expires", "N", "integer", default = 3600, min = 1, help = "the registration's lifetime, in seconds" },
    { "--count", "N", "integer", min = 1, help = "keepalives to send before unregistering" },
    { "--listen", "ADDR", "list", help = "a transport to listen on (default: the registrar's on 0.0.0.0, port 0)" },
    { "--advertise", "HOST", help = "the address to put in Via and Contact" },
    { "--t1", "S", "number", help = "the RTT estimate T1 in seconds (RFC 3261 §17)" },
    { "--quiet", help = "print nothing" },
  }),
}
local o = cli.parse(SPEC, arg)
local reg_uri = sip.uri(o.registrar)
local hop = sip.dialog.hop(o.registrar)
local MANSCDP = "Application/MANSCDP+xml"
if #o.listen == 0 then o.listen[1] = hop.proto .. ":0.0.0.0:0" end
-- GB/T 28181 §9.3: the server is its ID at the platform's address, as devices write it
-- (sip:34020000002000000001@192.0.2.1:5060; a registrar that serves both names as one domain
-- finds it there), in the To its ID in the domain. The domain is no name to look up (an all-digit
-- one would even read as an IPv4 number).
local server_id = o.server or reg_uri.user or o.domain
local server_aor = ("sip:%s@%s"):format(server_id, o.domain)
local target = ("sip:%s@%s%s%s"):format(server_id, reg_uri.host, reg_uri.port and (":" .. reg_uri.port) or "",
  hop.proto ~= "udp" and (";transport=" .. hop.proto) or "")

-- a MESSAGE to the server: the response (2xx) | nil, err, code[, the final answer of 300 or more]
local function to_server(ua, body)
  return ua:request("MESSAGE", target, { body = body, content_type = MANSCDP, dest = hop, to = { uri = server_aor } })
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
  local ua, uerr = sip.ua(cli.with_tls(o, {
    listen = o.listen, advertise = o.advertise, user = o.user, domain = o.domain, password = o.password,
    registrar = o.registrar, t1 = o.t1, user_agent = "lua-sip device",
    keepalive = o.keepalive, idle_timeout = o.idle_timeout,
  }))
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
