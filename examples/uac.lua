#!/usr/bin/env lua5.4
-- uac.lua (--call URI [--duration S] | --message URI TEXT) [--proxy URI]: one call or one MESSAGE.
-- The options and what they do: --help (the spec below).
local paths = loadfile((arg[0]:match("^.*/") or "") .. "paths.lua") -- none when installed by the rock
if paths then paths() end
local sip = require "sip"
local cli = require "sip.cli"

local o = cli.parse({
  name = "uac.lua",
  synopsis = "(--call URI [--duration S] | --message URI TEXT [--type MIME]) [options]",
  description = "Places one call (INVITE, ACK, waits --duration seconds, then BYE) or sends one MESSAGE, "
    .. "printing each step; exits 0 on success, 1 on failure. With --registrar it registers first "
    .. "(digest answered) and unregisters at the end; --password alone answers challenges of the call "
    .. "or MESSAGE. With --proxy every request goes through that outbound proxy (a phone registered "
    .. "there is called by its address of record). For a TCP target give a tcp: listener and a "
    .. ";transport=tcp URI. Over TCP or TLS the connection stays open --linger seconds after the last "
    .. "transaction, as a peer reusing connections expects (RFC 3261 §18).",
  options = cli.flow_options(cli.tls_options {
    { "--listen", "ADDR", "list", default = { "udp:127.0.0.1:0" }, help = "a transport to listen on" },
    { "--call", "URI", check = cli.sip_uri, help = "call URI" },
    { "--duration", "S", "number", default = 1, min = 0, help = "seconds the call lasts before our BYE" },
    { "--message", "URI TEXT", 2, check = function(m) return cli.sip_uri(m[1]) end,
      help = "send TEXT to URI in a MESSAGE (RFC 3428)" },
    { "--type", "MIME", default = "text/plain", help = "the MESSAGE's Content-Type" },
    { "--proxy", "URI", check = cli.sip_uri, help = "the outbound proxy every request goes through" },
    { "--registrar", "URI", check = cli.sip_uri, help = "register there first" },
    { "--user", "U", default = "uac", help = "our user name" },
    { "--password", "P", help = "the digest password" },
    { "--domain", "D", help = "our domain (default: the registrar's host)" },
    { "--timeout", "S", "number", default = 32, min = 0, help = "how long a request may wait for its answer" },
    { "--t1", "S", "number", help = "the RTT estimate T1 in seconds (RFC 3261 §17)" },
    { "--linger", "S", "number", min = 0, help = "seconds a TCP or TLS connection stays open at the end "
      .. "(default 5 with a tcp: or tls: listener, else 0)" },
    { "--quiet", help = "print only failures" },
  }),
  check = function(v)
    if (not v.call) == (not v.message) then return nil, "give exactly one of --call and --message" end
    return true
  end,
}, arg)
if o.message then o.message, o.text = o.message[1], o.message[2] end
if not o.linger then
  o.linger = 0
  for _, l in ipairs(o.listen) do
    if l:match("^tcp:") or l:match("^tls:") then o.linger = 5 end
  end
end

local function say(fmt, ...)
  if not o.quiet then
    print(fmt:format(...))
    io.stdout:flush()
  end
end

local function fail(fmt, ...)
  io.stderr:write("uac.lua: ", fmt:format(...), "\n")
  return false
end

local function main()
  local ua, err = sip.ua(cli.with_tls(o, {
    listen = o.listen, user = o.user, password = o.password, domain = o.domain,
    registrar = o.registrar, outbound_proxy = o.proxy, t1 = o.t1,
    keepalive = o.keepalive, idle_timeout = o.idle_timeout,
  }))
  if not ua then return fail("%s", err) end
  local ok = true
  local reg
  if o.registrar then
    local code
    reg, err, code = ua:register { expires = 300, refresh = false }
    if not reg then
      ua:close()
      return fail("REGISTER failed: %s (%s)", tostring(err), tostring(code))
    end
    say("REGISTER: %d, %s bound for %d s", reg.response.status, ua.aor, reg.expires)
  end

  if o.message then
    say("MESSAGE %s: %s", o.message, o.text)
    local rsp, merr, code = ua:message(o.message, o.text, o.type, { timeout = o.timeout })
    if rsp then
      say("MESSAGE: %d %s", rsp.status, rsp.reason)
    else
      ok = fail("MESSAGE failed: %s (%s)", tostring(merr), tostring(code))
    end
  else
    say("INVITE %s", o.call)
    local call, cerr, code = ua:call(o.call, {
      timeout = o.timeout,
      on_progress = function(_, rsp) say("%d %s", rsp.status, rsp.reason) end,
    })
    if not call then
      ok = fail("call failed: %s (%s)", tostring(cerr), tostring(code))
    else
      say("%d %s, ACK sent; codec %s", call.status, "answered", call.codec and call.codec.name or "none")
      local reason = call:wait_end(o.duration)
      if reason then
        say("the other side hung up (%s)", reason)
      else
        say("BYE")
        local rsp, berr, bcode = call:bye()
        if rsp then
          say("BYE: %d %s", rsp.status, rsp.reason)
        else
          ok = fail("BYE failed: %s (%s)", tostring(berr), tostring(bcode))
        end
      end
    end
  end

  if reg then
    local rsp, uerr = reg:unregister()
    say("unregister: %s", rsp and (rsp.status .. " " .. rsp.reason) or tostring(uerr))
    if not rsp then ok = false end
  end
  if o.linger > 0 then sip.sleep(o.linger) end -- the peer may still read from our connection
  ua:close()
  return ok
end

local result
local ok, err = pcall(sip.run, function() result = main() end)
if not ok then
  io.stderr:write("uac.lua: ", tostring(err), "\n")
  os.exit(1)
end
os.exit(result and 0 or 1)
