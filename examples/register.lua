#!/usr/bin/env lua5.4
-- register.lua --registrar URI --domain D --user U --password P [--once]: registers with digest.
-- The options and what they do: --help (the spec below).
local paths = loadfile((arg[0]:match("^.*/") or "") .. "paths.lua") -- none when installed by the rock
if paths then paths() end
local sip = require "sip"
local cli = require "sip.cli"

local SPEC = {
  name = "register.lua",
  description = "Registers U@DOMAIN with the registrar (digest challenges answered: MD5, SHA-256, "
    .. "SHA-512-256), prints the bindings the registrar returns, refreshes before expiry and unregisters "
    .. "(Expires: 0) on Ctrl-C or SIGTERM. With --once it registers, unregisters and exits: 0 on success, "
    .. "1 on failure. With --proxy the REGISTERs go through that outbound proxy.",
  options = cli.flow_options(cli.tls_options {
    { "--registrar", "URI", required = true, check = cli.sip_uri, help = "the registrar (sip:HOST[:PORT])" },
    { "--domain", "DOMAIN", required = true, help = "the domain of our address of record" },
    { "--user", "U", required = true, help = "our user name" },
    { "--password", "P", required = true, help = "the digest password" },
    { "--expires", "N", "integer", default = 3600, min = 1, help = "the lifetime asked for, in seconds" },
    { "--once", help = "register, unregister, exit" },
    { "--proxy", "URI", check = cli.sip_uri, help = "the outbound proxy the REGISTERs go through" },
    { "--listen", "ADDR", "list", help = "a transport to listen on (default: the transport of the "
      .. "proxy or registrar on 0.0.0.0, port 0)" },
    { "--advertise", "HOST", help = "the address to put in Via and Contact" },
    { "--t1", "S", "number", help = "the RTT estimate T1 in seconds (RFC 3261 §17)" },
  }),
}
local o = cli.parse(SPEC, arg)
local hop = sip.dialog.hop(o.proxy or o.registrar)
if not hop then cli.fail(SPEC, "no next hop for " .. (o.proxy or o.registrar)) end
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
  local ua, uerr = sip.ua(cli.with_tls(o, {
    listen = o.listen, advertise = o.advertise, user = o.user, domain = o.domain, password = o.password,
    registrar = o.registrar, outbound_proxy = o.proxy, t1 = o.t1,
    keepalive = o.keepalive, idle_timeout = o.idle_timeout,
  }))
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
