#!/usr/bin/env lua5.4
-- uas.lua --listen udp:127.0.0.1:5094 [--register URI --domain D --password P]: takes calls.
-- The options and what they do: --help (the spec below).
local paths = loadfile((arg[0]:match("^.*/") or "") .. "paths.lua") -- none when installed by the rock
if paths then paths() end
local sip = require "sip"
local cli = require "sip.cli"
local listener_text = require("sip.endpoint").listener_text

local o = cli.parse({
  name = "uas.lua",
  description = "A user agent that takes calls: 180 Ringing, then (after --ring seconds) 200 OK with "
    .. "an SDP answer (PCMA, PCMU, G729, telephone-event); it hangs up when the caller sends BYE, and "
    .. "answers MESSAGE and OPTIONS with 200. With --register it registers first (digest answered), "
    .. "keeps the binding fresh and removes it on exit. Ctrl-C or SIGTERM stops it. A test peer too.",
  options = cli.flow_options(cli.tls_options {
    { "--listen", "PROTO:HOST:PORT", "list", required = true, help = "a transport to listen on" },
    { "--ring", "S", "number", default = 0, min = 0, help = "seconds between 180 and 200" },
    { "--user", "NAME", default = "uas", help = "our user name" },
    { "--register", "URI", check = cli.sip_uri, help = "the registrar to register with" },
    { "--proxy", "URI", check = cli.sip_uri, help = "the outbound proxy every request goes through" },
    { "--domain", "DOMAIN", help = "our domain (default: the registrar's host)" },
    { "--password", "P", help = "the digest password" },
    { "--expires", "N", "integer", default = 3600, min = 1, help = "the registration's lifetime in seconds" },
    { "--t1", "S", "number", help = "the RTT estimate T1 in seconds (RFC 3261 §17)" },
    { "--quiet", help = "print nothing" },
  }),
}, arg)

local function say(fmt, ...)
  if not o.quiet then
    print(fmt:format(...))
    io.stdout:flush()
  end
end

local ok, err = pcall(sip.run, function()
  local ua, uerr = sip.ua(cli.with_tls(o, {
    listen = o.listen, user = o.user, domain = o.domain, password = o.password,
    registrar = o.register, outbound_proxy = o.proxy, t1 = o.t1,
    keepalive = o.keepalive, idle_timeout = o.idle_timeout,
  }))
  if not ua then
    io.stderr:write("uas.lua: ", uerr, "\n")
    os.exit(1)
  end
  for _, l in ipairs(ua.ep.listeners) do say("listening on %s", listener_text(l)) end

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

  if o.register then
    local rerr, code
    reg, rerr, code = ua:register { expires = o.expires }
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
