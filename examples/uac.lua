#!/usr/bin/env lua5.4
-- uac.lua [--listen ADDR] (--call URI [--duration S] | --message URI TEXT [--type MIME])
--         [--registrar URI --user U --password P [--domain D]] [--timeout S] [--t1 S] [--linger S]
--         [--quiet]
-- Places one call (INVITE, ACK, waits --duration seconds, default 1, then BYE) or sends one
-- MESSAGE, printing each step; exits 0 on success, 1 on failure. With --registrar it registers
-- first (digest answered) and unregisters at the end; --password alone answers challenges of
-- the call or MESSAGE. The listen address defaults to udp:127.0.0.1:0 (for a TCP target, give a
-- tcp: listener and a ;transport=tcp URI). Over TCP or TLS the connection stays open --linger
-- seconds (default 5) after the last transaction, as a peer reusing connections expects (§18).
-- run from a checkout: its lua/ and build/ come first; an installed rock is found otherwise
local here = arg[0]:match("^(.*)/examples/[^/]*$") or "."
package.path = here .. "/lua/?.lua;" .. here .. "/lua/?/init.lua;" .. package.path
package.cpath = here .. "/build/?.so;" .. package.cpath
local sip = require "sip"

local function usage(msg)
  if msg then io.stderr:write("uac.lua: ", msg, "\n") end
  io.stderr:write("usage: uac.lua [--listen ADDR] (--call URI [--duration S] | --message URI TEXT [--type MIME]) ",
    "[--registrar URI --user U --password P [--domain D]] [--timeout S] [--t1 S] [--linger S] [--quiet]\n")
  os.exit(2)
end

local o = { listen = {}, duration = 1, user = "uac", type = "text/plain", timeout = 32 }
local i = 1
while arg[i] do
  local a, v = arg[i], arg[i + 1]
  if a == "--listen" and v then o.listen[#o.listen + 1] = v; i = i + 2
  elseif a == "--call" and v then o.call = v; i = i + 2
  elseif a == "--duration" and tonumber(v) then o.duration = tonumber(v); i = i + 2
  elseif a == "--message" and v and arg[i + 2] then o.message, o.text = v, arg[i + 2]; i = i + 3
  elseif a == "--type" and v then o.type = v; i = i + 2
  elseif a == "--registrar" and v then o.registrar = v; i = i + 2
  elseif a == "--user" and v then o.user = v; i = i + 2
  elseif a == "--password" and v then o.password = v; i = i + 2
  elseif a == "--domain" and v then o.domain = v; i = i + 2
  elseif a == "--timeout" and tonumber(v) then o.timeout = tonumber(v); i = i + 2
  elseif a == "--t1" and tonumber(v) then o.t1 = tonumber(v); i = i + 2
  elseif a == "--linger" and tonumber(v) then o.linger = tonumber(v); i = i + 2
  elseif a == "--quiet" then o.quiet = true; i = i + 1
  else usage("unknown or incomplete option " .. a) end
end
if not o.call == not o.message then usage("give exactly one of --call and --message") end
for _, u in ipairs { o.call or o.message, o.registrar } do
  if not sip.uri(u) then usage("not a SIP URI: " .. u) end
end
if #o.listen == 0 then o.listen[1] = "udp:127.0.0.1:0" end
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
  local ua, err = sip.ua {
    listen = o.listen, user = o.user, password = o.password, domain = o.domain,
    registrar = o.registrar, t1 = o.t1,
  }
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
