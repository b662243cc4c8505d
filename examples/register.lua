#!/usr/bin/env lua5.4
-- register.lua --registrar sip:HOST[:PORT] --domain DOMAIN --user U --password P [--expires N]
--              [--once] [--listen ADDR] [--advertise HOST] [--t1 S]
-- Registers U@DOMAIN with the registrar (digest challenges answered: MD5, SHA-256, SHA-512-256),
-- prints the bindings the registrar returns, refreshes before expiry and unregisters (Expires: 0)
-- on Ctrl-C or SIGTERM. With --once it registers, unregisters and exits: 0 on success, 1 on
-- failure. The listen address defaults to the registrar's transport on 0.0.0.0, port 0.
-- run from a checkout: its lua/ and build/ come first; an installed rock is found otherwise
local here = arg[0]:match("^(.*)/examples/[^/]*$") or "."
package.path = here .. "/lua/?.lua;" .. here .. "/lua/?/init.lua;" .. package.path
package.cpath = here .. "/build/?.so;" .. package.cpath
local sip = require "sip"

local function usage(msg)
  if msg then io.stderr:write("register.lua: ", msg, "\n") end
  io.stderr:write("usage: register.lua --registrar sip:HOST[:PORT] --domain DOMAIN --user U --password P ",
    "[--expires N] [--once] [--listen ADDR] [--advertise HOST] [--t1 S]\n")
  os.exit(2)
end

local o = { expires = 3600, listen = {} }
local i = 1
while arg[i] do
  local a, v = arg[i], arg[i + 1]
  if a == "--registrar" and v then o.registrar = v; i = i + 2
  elseif a == "--domain" and v then o.domain = v; i = i + 2
  elseif a == "--user" and v then o.user = v; i = i + 2
  elseif a == "--password" and v then o.password = v; i = i + 2
  elseif a == "--expires" and math.tointeger(tonumber(v)) then o.expires = math.tointeger(tonumber(v)); i = i + 2
  elseif a == "--once" then o.once = true; i = i + 1
  elseif a == "--listen" and v then o.listen[#o.listen + 1] = v; i = i + 2
  elseif a == "--advertise" and v then o.advertise = v; i = i + 2
  elseif a == "--t1" and tonumber(v) then o.t1 = tonumber(v); i = i + 2
  else usage("unknown or incomplete option " .. a) end
end
if not (o.registrar and o.domain and o.user and o.password) then
  usage("--registrar, --domain, --user and --password are required")
end
local hop = sip.uri(o.registrar) and sip.dialog.hop(o.registrar)
if not hop then usage("--registrar must be a sip: or sips: URI") end
if o.expires < 1 then usage("--expires must be at least 1") end
if #o.listen == 0 then o.listen[1] = hop.proto .. ":0.0.0.0:0" end

local function show(reg, what)
  print(("%s %s: %s, %d binding(s), ours for %d s"):format(what, reg.aor, reg.response.status .. " " ..
    reg.response.reason, #reg.bindings, reg.expires))
  for _, b in ipairs(reg.bindings) do
    print(("  %s%s"):format(b.uri, b.expires and (" expires " .. b.expires) or ""))
  end
  io.stdout:flush()
end

local status = 1
local ok, err = pcall(sip.run, function()
  local ua, uerr = sip.ua {
    listen = o.listen, advertise = o.advertise, user = o.user, domain = o.domain, password = o.password,
    registrar = o.registrar, t1 = o.t1,
  }
  if not ua then
    io.stderr:write("register.lua: ", uerr, "\n")
    return
  end
  local reg, rerr, code = ua:register {
    expires = o.expires, refresh = not o.once,
    on_change = function(r, what, e)
      if what == "refreshed" then show(r, "refreshed") else
        io.stderr:write(("register.lua: refresh failed: %s\n"):format(tostring(e)))
      end
    end,
  }
  if not reg then
    io.stderr:write(("register.lua: registration failed: %s (%s)\n"):format(tostring(rerr), tostring(code)))
    ua:close()
    return
  end
  show(reg, "registered")
  local function finish()
    local rsp, e2, c2 = reg:unregister()
    if rsp then
      print(("unregistered: %d %s, %d binding(s) left"):format(rsp.status, rsp.reason, #reg.bindings))
      status = 0
    else
      io.stderr:write(("register.lua: unregister failed: %s (%s)\n"):format(tostring(e2), tostring(c2)))
    end
    io.stdout:flush()
    ua:close()
    sip.stop()
  end
  if o.once then return finish() end
  local stopping = false
  sip.on_signals(function()
    if stopping then return end
    stopping = true
    sip.spawn(finish)
  end)
end)
if not ok then
  io.stderr:write("register.lua: ", tostring(err), "\n")
  os.exit(1)
end
os.exit(status)
