--- A raw WebSocket client for specs (RFC 6455), over a non-blocking LuaSocket socket, written
-- byte by byte so a spec can send what no library would: unmasked frames, reserved bits, bad
-- lengths, fragments, a handshake without the sip subprotocol. Waiting polls the socket between
-- sip.sleep calls, so the server in the same loop keeps running. Every wait has a deadline.
local sip = require "sip"
local socket = require "socket"

local M = {}
local Client = {}
Client.__index = Client

local char, byte, concat = string.char, string.byte, table.concat

-- A key of 16 bytes in base64 (§4.1): fixed, the spec's checks do not depend on it.
M.KEY = "dGhlIHNhbXBsZSBub25jZQ=="
M.ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" -- its answer, RFC 6455 §1.3

--- Connect to host:port (no handshake yet). -> client
function M.connect(host, port)
  local s = assert(socket.tcp())
  s:settimeout(2)
  assert(s:connect(host, port))
  s:settimeout(0)
  return setmetatable({ s = s, buf = "" }, Client)
end

--- The Upgrade request, with o = {path =, protocol = (nil: "sip"; false: none), origin =,
-- version =, key =, extra = "Header: v\r\n"}.
function M.request(o)
  o = o or {}
  local t = {
    ("GET %s HTTP/1.1\r\n"):format(o.path or "/"), "Host: 127.0.0.1\r\n",
    "Upgrade: websocket\r\n", "Connection: Upgrade\r\n",
    ("Sec-WebSocket-Key: %s\r\n"):format(o.key or M.KEY),
    ("Sec-WebSocket-Version: %s\r\n"):format(o.version or "13"),
  }
  if o.protocol ~= false then t[#t + 1] = ("Sec-WebSocket-Protocol: %s\r\n"):format(o.protocol or "sip") end
  if o.origin then t[#t + 1] = ("Origin: %s\r\n"):format(o.origin) end
  t[#t + 1] = o.extra or ""
  t[#t + 1] = "\r\n"
  return concat(t)
end

function Client:send(bytes)
  local i = 1
  local deadline = sip.now() + 5
  while i <= #bytes do
    local n, err, partial = self.s:send(bytes, i)
    n = n or partial
    if n and n >= i then i = n + 1 end
    if err == "closed" then return nil, "closed" end
    if i <= #bytes then
      if sip.now() > deadline then return nil, "timeout" end
      sip.sleep(0.005)
    end
  end
  return true
end

-- Read what is there into self.buf; false once the peer closed.
function Client:fill()
  local data, err, partial = self.s:receive(65536)
  data = data or partial
  if data and #data > 0 then self.buf = self.buf .. data end
  if err == "closed" then self.eof = true end
  return not self.eof
end

-- Wait until pred(self.buf) returns non-nil, the peer closes, or timeout (s, default 3).
function Client:wait(pred, timeout)
  local deadline = sip.now() + (timeout or 3)
  while true do
    self:fill()
    local r = pred(self.buf)
    if r ~= nil then return r end
    if self.eof then return nil, "closed" end
    if sip.now() > deadline then return nil, "timeout" end
    sip.sleep(0.005)
  end
end

--- Read an HTTP answer head: status, head text | nil, err.
function Client:read_http(timeout)
  local head = self:wait(function(b)
    local e = b:find("\r\n\r\n", 1, true)
    if e then return b:sub(1, e + 3) end
  end, timeout)
  if not head then return nil, "no HTTP answer" end
  self.buf = self.buf:sub(#head + 1)
  return tonumber(head:match("^HTTP/1%.1 (%d%d%d)")), head
end

--- The handshake: 101 checked. o as for M.request. -> head | raises
function Client:handshake(o)
  assert(self:send(M.request(o)))
  local status, head = self:read_http()
  assert(status == 101, "handshake answered " .. tostring(head))
  return head
end

local function be(n, bytes)
  local t = {}
  for i = bytes, 1, -1 do
    t[i] = char(n % 256)
    n = n // 256
  end
  return concat(t)
end

--- A frame's bytes. o = {fin = (default true), rsv = (bits 4-6), mask = (default a fixed key;
-- false: none), len = (the length to claim), len_form = 16|64 (force a longer length)}
function M.frame(opcode, payload, o)
  o = o or {}
  payload = payload or ""
  local n = o.len or #payload
  local b0 = (o.fin == false and 0 or 0x80) | (o.rsv or 0) << 4 | opcode
  local m = o.mask == false and 0 or 0x80
  local t = { char(b0) }
  if n < 126 and not o.len_form then
    t[2] = char(m | n)
  elseif n <= 0xffff and o.len_form ~= 64 then
    t[2] = char(m | 126) .. be(n, 2)
  else
    t[2] = char(m | 127) .. be(n, 8)
  end
  if m ~= 0 then
    local key = o.mask or "\x12\x34\x56\x78"
    t[3] = key
    local out = {}
    for i = 1, #payload do
      out[i] = char(byte(payload, i) ~ byte(key, (i - 1) % 4 + 1))
    end
    t[4] = concat(out)
  else
    t[3] = payload
  end
  return concat(t)
end

function Client:send_frame(opcode, payload, o) return self:send(M.frame(opcode, payload, o)) end

-- One frame from the start of b: opcode, payload, fin, size | nil (incomplete). The server
-- never masks; a masked frame is returned with masked = true in a 5th value.
local function parse(b)
  if #b < 2 then return nil end
  local b0, b1 = byte(b, 1, 2)
  local n, h = b1 & 0x7f, 2
  if n == 126 then
    if #b < 4 then return nil end
    n, h = byte(b, 3) << 8 | byte(b, 4), 4
  elseif n == 127 then
    if #b < 10 then return nil end
    n = 0
    for i = 3, 10 do n = n << 8 | byte(b, i) end
    h = 10
  end
  local masked = b1 & 0x80 ~= 0
  if masked then h = h + 4 end
  if #b < h + n then return nil end
  return b0 & 0x0f, b:sub(h + 1, h + n), b0 & 0x80 ~= 0, h + n, masked
end

--- The next frame: opcode, payload, fin, masked | nil, "closed"|"timeout"
function Client:read_frame(timeout)
  local r, err = self:wait(function(b)
    local op, payload, fin, size, masked = parse(b)
    if op then return { op, payload, fin, size, masked } end
  end, timeout)
  if not r then return nil, err end
  self.buf = self.buf:sub(r[4] + 1)
  return r[1], r[2], r[3], r[5]
end

--- The code of a close frame's payload.
function M.close_code(payload)
  if #payload < 2 then return nil end
  return byte(payload, 1) << 8 | byte(payload, 2)
end

--- Has the server closed the connection (within timeout)?
function Client:closed(timeout)
  local deadline = sip.now() + (timeout or 3)
  while not self.eof do
    self:fill()
    if self.eof then break end
    if sip.now() > deadline then return false end
    sip.sleep(0.005)
  end
  return true
end

function Client:close() self.s:close() end
Client.__close = Client.close

return M
