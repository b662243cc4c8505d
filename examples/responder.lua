#!/usr/bin/env lua5.4
-- responder.lua --listen udp:127.0.0.1:5090 [--code 200]: answers every request with one code.
-- The options and what they do: --help (the spec below).
local paths = loadfile((arg[0]:match("^.*/") or "") .. "paths.lua") -- none when installed by the rock
if paths then paths() end
local sip = require "sip"
local cli = require "sip.cli"
local listener_text = require("sip.endpoint").listener_text

local o = cli.parse({
  name = "responder.lua",
  description = "Answers every request with one final code through the transaction layer "
    .. "(retransmissions are absorbed in C). The smallest server, and a test peer. Ctrl-C or SIGTERM stops it.",
  options = cli.flow_options(cli.tls_options {
    { "--listen", "PROTO:HOST:PORT", "list", required = true, help = "a transport to listen on" },
    { "--code", "N", "integer", default = 200, min = 200, max = 699, help = "the final code of every answer" },
    { "--t1", "S", "number", help = "the RTT estimate T1 in seconds (RFC 3261 §17)" },
    { "--quiet", help = "print nothing" },
  }, { ua = false }),
}, arg)
local code = o.code

local contact
local ep, err = sip.endpoint(cli.with_tls(o, {
  listen = o.listen, t1 = o.t1, idle_timeout = o.idle_timeout,
  handler = function(req)
    if req.method == "ACK" then return end -- the ACK of a 2xx has no transaction to answer
    local opts
    if req.method == "INVITE" and code < 300 then opts = { headers = { Contact = contact } } end
    req:reply(code, nil, opts)
  end,
}))
if not ep then
  io.stderr:write("responder.lua: ", err, "\n")
  os.exit(1)
end
local host, port = ep:sent_by(ep.listeners[1].proto)
contact = ("<sip:responder@%s:%d>"):format(host, port)
for _, l in ipairs(ep.listeners) do
  if not o.quiet then print(("listening on %s, answering %d"):format(listener_text(l), code)) end
end
io.stdout:flush()
sip.on_signals(function()
  ep:close()
  sip.stop()
end)
sip.run()
