#!/usr/bin/env lua5.4
-- uas.lua --listen udp:127.0.0.1:5094 [--listen tcp:127.0.0.1:5094] [--ring S] [--user NAME]
--         [--register sip:HOST[:PORT] --domain DOMAIN --password P [--expires N]] [--t1 S] [--quiet]
-- A user agent that takes calls: 180 Ringing, then (after --ring seconds, default 0) 200 OK with
-- an SDP answer (PCMA, PCMU, G729, telephone-event); it hangs up when the caller sends BYE, and
-- answers MESSAGE and OPTIONS with 200. With --register it registers first (digest answered),
-- keeps the binding fresh and removes it on exit. Ctrl-C or SIGTERM stops it. A test peer too.
-- run from a checkout: its lua/ and build/ come first; an installed rock is found otherwise
local here = arg[0]:match("^(.*)/examples/[^/]*$") or "."
package.path = here .. "/lua/?.lua;" .. here .. "/lua/?/init.lua;" .. package.path
package.cpath = here .. "/build/?.so;" .. package.cpath
local sip = require "sip"

local function usage(msg)
  if msg then io.stderr:write("uas.lua: ", msg, "\n") end
  io.stderr:write("usage: uas.lua --listen PROTO:HOST:PORT ... [--ring S] [--user NAME] [--register URI ",
    "--domain D --password P [--expires N]] [--t1 S] [--quiet]\n")
  os.exit(2)
end

local o = { listen = {}, ring = 0, user = "uas" }
local i = 1
while arg[i] do
  local a, v = arg[i], arg[i + 1]
  if a == "--listen" and v then o.listen[#o.listen + 1] = v; i = i + 2
  elseif a == "--ring" and tonumber(v) then o.ring = tonumber(v); i = i + 2
  elseif a == "--user" and v then o.user = v; i = i + 2
  elseif a == "--register" and v then o.registrar = v; i = i + 2
  elseif a == "--domain" and v then o.domain = v; i = i + 2
  elseif a == "--password" and v then o.password = v; i = i + 2
  elseif a == "--expires" and tonumber(v) then o.expires = math.tointeger(tonumber(v)); i = i + 2
  elseif a == "--t1" and tonumber(v) then o.t1 = tonumber(v); i = i + 2
  elseif a == "--quiet" then o.quiet = true; i = i + 1
  else usage("unknown or incomplete option " .. a) end
end
if #o.listen == 0 then usage("need at least one --listen") end
if o.registrar and not sip.uri(o.registrar) then usage("--register needs a SIP URI") end

local function say(fmt, ...)
  if not o.quiet then
    print(fmt:format(...))
    io.stdout:flush()
  end
end

local ok, err = pcall(sip.run, function()
  local ua, uerr = sip.ua {
    listen = o.listen, user = o.user, domain = o.domain, password = o.password,
    registrar = o.registrar, t1 = o.t1,
  }
  if not ua then
    io.stderr:write("uas.lua: ", uerr, "\n")
    os.exit(1)
  end
  for _, l in ipairs(ua.ep.listeners) do say("listening on %s:%s:%d", l.proto, l.host, l.port) end

  local calls = 0
  ua:on("call", function(call)
    calls = calls + 1
    local n = calls
    say("call %d: INVITE from %s (Call-ID %s)", n, call.remote_uri, call.id)
    call:ring()
    say("call %d: 180 Ringing", n)
    if o.ring > 0 then sip.sleep(o.ring) end
    local answered, aerr, code = call:answer()
    if not answered then
      say("call %d: not answered: %s (%s)", n, tostring(aerr), tostring(code))
      return
    end
    say("call %d: 200 OK, codec %s", n, call.codec and call.codec.name or "none")
    -- the handler returns now; the call lives on until the caller's BYE
    call:on("end", function(_, reason) say("call %d: ended (%s)", n, reason) end)
  end)
  ua:on("message", function(req)
    say("MESSAGE from %s (%s): %s", req.from.uri, req.content_type or "no type", req.body)
    return 200
  end)

  local reg
  local function shutdown()
    sip.spawn(function()
      if reg then
        local r, rerr = reg:unregister()
        say("unregistered: %s", r and r.status or tostring(rerr))
      end
      ua:close()
      sip.stop()
    end)
  end
  sip.on_signals(shutdown)

  if o.registrar then
    local rerr, code
    reg, rerr, code = ua:register { expires = o.expires or 3600 }
    if not reg then
      io.stderr:write(("uas.lua: registration failed: %s (%s)\n"):format(tostring(rerr), tostring(code)))
      ua:close()
      os.exit(1)
    end
    say("registered %s for %d s", ua.aor, reg.expires)
  end
  say("ready")
end)
if not ok then
  io.stderr:write("uas.lua: ", tostring(err), "\n")
  os.exit(1)
end
