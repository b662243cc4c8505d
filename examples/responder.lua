#!/usr/bin/env lua5.4
-- responder.lua --listen udp:127.0.0.1:5090 [--listen tcp:127.0.0.1:5090] [--code 200] [--t1 S]
-- Answers every request with the given code through the transaction layer (retransmissions are
-- absorbed in C). The smallest server, and a test peer. Ctrl-C or SIGTERM stops it.
-- run from a checkout: its lua/ and build/ come first; an installed rock is found otherwise
local here = arg[0]:match("^(.*)/examples/[^/]*$") or "."
package.path = here .. "/lua/?.lua;" .. here .. "/lua/?/init.lua;" .. package.path
package.cpath = here .. "/build/?.so;" .. package.cpath
local sip = require "sip"

local listen, code, t1, quiet = {}, 200, nil, false
local i = 1
while arg[i] do
  local a, v = arg[i], arg[i + 1]
  if a == "--listen" and v then listen[#listen + 1] = v; i = i + 2
  elseif a == "--code" and tonumber(v) then code = math.tointeger(tonumber(v)); i = i + 2
  elseif a == "--t1" and tonumber(v) then t1 = tonumber(v); i = i + 2
  elseif a == "--quiet" then quiet = true; i = i + 1
  else
    io.stderr:write("usage: responder.lua --listen PROTO:HOST:PORT ... [--code N] [--t1 S] [--quiet]\n")
    os.exit(2)
  end
end
if #listen == 0 or not code or code < 200 or code > 699 then
  io.stderr:write("responder.lua: need at least one --listen and a final --code (200..699)\n")
  os.exit(2)
end

local contact
local ep, err = sip.endpoint {
  listen = listen, t1 = t1,
  handler = function(req)
    if req.method == "ACK" then return end -- the ACK of a 2xx has no transaction to answer
    local opts
    if req.method == "INVITE" and code < 300 then opts = { headers = { Contact = contact } } end
    req:reply(code, nil, opts)
  end,
}
if not ep then
  io.stderr:write("responder.lua: ", err, "\n")
  os.exit(1)
end
local host, port = ep:sent_by(ep.listeners[1].proto)
contact = ("<sip:responder@%s:%d>"):format(host, port)
for _, l in ipairs(ep.listeners) do
  if not quiet then print(("listening on %s:%s:%d, answering %d"):format(l.proto, l.host, l.port, code)) end
end
io.stdout:flush()
sip.on_signals(function()
  ep:close()
  sip.stop()
end)
sip.run()
