--- sip.test: a virtual network and a virtual clock for busted specs of SIP scripts.
--
-- While a harness is open, every endpoint, user agent and proxy of the Lua state (the user's
-- own, made by `sip.proxy{...}` as in service) listens and sends on an in-process network (no
-- socket, no port: any address binds, `127.0.0.1:5060` as well as `192.0.2.10:5060`), and every
-- timer, the C transaction layer's included, runs on a virtual clock. The clock stands still
-- while messages are in flight and jumps to the next timer when nothing else is due: Timer B's
-- 32 seconds, a registration's expiry or `t:advance(3600)` pass at once.
--
--     local sip = require "sip"
--     local test = require "sip.test"
--     describe("my router", function()
--       local t
--       before_each(function() t = test.new() end)
--       after_each(function() t:close() end)     -- closes everything, even after a failure
--       it("relays a call", function()
--         t:run(function()
--           t:add(sip.proxy { listen = { "udp:127.0.0.1:5060" }, route = my_route }, "proxy")
--           local alice = t:phone("alice", { proxy = "proxy" })
--           local bob = t:phone("bob", { proxy = "proxy" })
--           assert(alice:register()); assert(bob:register())
--           local call = assert(alice:call("sip:bob@example.com"))
--           call:bye()
--           t:assert_ladder { "proxy -> bob INVITE", "bob -> proxy 200", "* -> bob BYE" }
--         end)
--       end)
--     end)
--
-- The messages every peer received are kept in order (`t:ladder()`, `t:received(name)`) under
-- the names the harness knows them by; an assertion that fails prints the whole ladder.
-- @module sip.test
local sip = require "sip"
local core = require "sip.core"
local loop = require "sip.loop"
local argerror = require("sip.args").error

local format, concat, floor = string.format, table.concat, math.floor

local M = {}

--- The default options of a harness.
-- @table defaults
-- @field horizon virtual seconds a `t:run` may last before it fails as stuck (one day)
-- @field domain the domain of phones that name none ("example.com")
M.defaults = { horizon = 86400, domain = "example.com" }

local Harness = {}
Harness.__index = Harness
Harness.__name = "sip.test"

local Phone = {}
Phone.__name = "sip.test.phone"

local Raw = {}
Raw.__index = Raw
Raw.__name = "sip.test.raw"

local function key(host, port) return host .. ":" .. tostring(port) end

--- Open a harness: from now on the Lua state is on the virtual network and clock.
-- Everything must be closed before (an endpoint or timer still open raises).
-- @tparam[opt] table opts `horizon`, `domain` (see `defaults`)
-- @treturn sip.test the harness; `t:close()` (or `<close>`) ends it
function M.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then argerror(1, "sip.test.new", "table expected") end
  for k in pairs(opts) do
    if M.defaults[k] == nil then argerror(1, "sip.test.new", "unknown option '" .. tostring(k) .. "'") end
  end
  if core.virtual() then error("sip.test.new: a harness is open already (t:close() it first)", 2) end
  core.virtual(true)
  local t = setmetatable({
    horizon = opts.horizon or M.defaults.horizon, domain = opts.domain or M.defaults.domain,
    start = core.now(), objects = {}, names = {}, addrs = {}, log = {}, waits = {}, nhosts = 0,
  }, Harness)
  core.vnet_tap(function(bytes, from, to, delivered) t:_record(bytes, from, to, delivered) end)
  return t
end

function Harness:__tostring()
  return format("sip.test (%d messages, %s)", #self.log, self.closed and "closed" or "open")
end

--- Virtual seconds since the harness opened.
function Harness:now() return core.now() - self.start end

--- A busted test body with a harness of its own: `it("...", test.case(function(t) ... end))`
-- runs fn(t) inside t:run and closes the harness when it ends, failing or not.
function M.case(fn, opts)
  if type(fn) ~= "function" then argerror(1, "sip.test.case", "function expected") end
  return function()
    local t <close> = M.new(opts)
    return t:run(fn, t)
  end
end

-- -------------------------------------------------------------------------------------------------
-- Running

--- Run fn(...) in a coroutine on the virtual network until it returns; returns what it returns.
-- An error in it or in any handler it caused is raised here with its traceback. It fails when
-- fn still waits once nothing is left to happen (a wait without a timeout for what never comes),
-- or after `horizon` virtual seconds.
function Harness:run(fn, ...)
  if type(fn) ~= "function" then argerror(1, "run", "function expected") end
  if self.closed then error("run: the harness is closed", 2) end
  local _, main = coroutine.running()
  if not main then return fn(...) end -- inside t:run already: the loop runs
  local done, res = false, nil
  local horizon = core.timer(self.horizon, 0, function()
    error(format("sip.test: the spec still waits after %g virtual seconds (the horizon; a wait without a " ..
      "timeout for what never comes?)\n%s", self.horizon, self:ladder_text(20)), 0)
  end)
  loop.spawn(function(...)
    res = table.pack(fn(...))
    done = true
    loop.stop()
  end, ...)
  local ok, err = true, nil
  if not done then ok, err = pcall(loop.run) end
  horizon:close()
  if not ok then error(err, 0) end
  if not done then
    error("sip.test: the spec waits, but nothing is left to happen on the virtual network\n" .. self:ladder_text(), 2)
  end
  return table.unpack(res, 1, res.n)
end

--- Let s virtual seconds pass: every message and timer due meanwhile runs, in order. Inside
-- `t:run` it waits in the calling coroutine (as `sip.sleep`); outside, it runs the network for s.
function Harness:advance(s)
  if type(s) ~= "number" or s < 0 then argerror(1, "advance", "seconds >= 0 expected") end
  local _, main = coroutine.running()
  if main then return self:run(loop.sleep, s) end
  loop.sleep(s)
end

--- Close every object the harness made or was given (in reverse order), then everything else
-- still open on the virtual network, and leave it. Idempotent; returns how many stacks and
-- timers were still open once the harness's own objects were closed.
function Harness:close()
  if self.closed then return self.leftover end
  self.closed = true
  for i = #self.objects, 1, -1 do
    local o = self.objects[i]
    local ok, err = pcall(o.close, o)
    if not ok then io.stderr:write("sip.test: closing ", tostring(o), ": ", tostring(err), "\n") end
  end
  for _, w in ipairs(self.waits) do w.waiter:wake(nil, "closed") end
  self.leftover = core.virtual(false)
  return self.leftover
end
Harness.__close = Harness.close

-- -------------------------------------------------------------------------------------------------
-- Names and objects

--- Call the peer at host:port (or every address of host, when port is nil) `name` in ladders.
function Harness:name(name, host, port)
  self.names[port and key(host, port) or host] = name
  self.addrs[name] = self.addrs[name] or { host = host, port = port }
  return name
end

local function listeners_of(obj)
  local ep = type(obj) == "table" and (obj.ep or (obj.listeners and obj)) or nil
  return ep and ep.listeners or {}
end

--- Have the harness close obj (anything with a close method) at t:close(); with name, its
-- listeners are called that in ladders. Returns obj, so `t:add(sip.proxy{...}, "proxy")`.
function Harness:add(obj, name)
  if obj == nil then error("add: nil object (did its constructor fail? it returned " .. tostring(name) .. ")", 2) end
  if type(obj.close) ~= "function" and not (getmetatable(obj) or {}).__close then
    argerror(1, "add", "an object with a close method expected")
  end
  self.objects[#self.objects + 1] = obj
  if name then
    for _, l in ipairs(listeners_of(obj)) do self:name(name, l.host, l.port) end
  end
  return obj
end

-- A fresh host for a peer that names none: 10.0.0.1, 10.0.0.2, ...
function Harness:_host()
  self.nhosts = self.nhosts + 1
  return format("10.0.%d.%d", floor(self.nhosts / 250), self.nhosts % 250)
end

--- The URI ("sip:host:port") of a name the harness knows, or the text itself (a URI).
function Harness:uri_of(who)
  local a = self.addrs[who]
  if not a then return who end
  local host = a.host:find(":", 1, true) and ("[" .. a.host .. "]") or a.host
  return "sip:" .. host .. (a.port and (":" .. a.port) or "")
end

-- -------------------------------------------------------------------------------------------------
-- Virtual peers

Phone.__index = function(self, k)
  local v = Phone[k]
  if v ~= nil then return v end
  local ua = rawget(self, "ua")
  v = ua[k]
  if type(v) ~= "function" then return v end
  -- a method of the UA: phone:register() calls ua:register()
  local f = function(p, ...)
    if p == self then p = ua end
    return v(p, ...)
  end
  rawset(self, k, f)
  return f
end

function Phone:__tostring() return format("sip.test.phone %s (%s)", self.name, self.ua.aor) end

--- A phone: a real `sip.ua` at a virtual address that takes calls by a plan.
-- opts are sip.ua's (user = name, domain = the harness's, password, display, ...) and:
-- `proxy` (a name the harness knows, or a URI: registrar and outbound proxy at once),
-- `host`, `port` (its address; default a fresh 10.0.x.y:5060), `answer` (the status calls get:
-- 200 default, 300..699 rejects, false never answers), `ring` (seconds of 180 before that, 0).
-- Calls taken are in `phone.calls`, in order; `phone:wait_call()` waits for the next. MESSAGE
-- requests get 200 and are kept in `phone.messages`.
-- @treturn sip.test.phone the phone; every method of sip.ua works on it
function Harness:phone(name, opts)
  if type(name) ~= "string" then argerror(1, "phone", "name expected") end
  opts = opts or {}
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  local answer, ring, host, port, proxy = o.answer, o.ring or 0, o.host or self:_host(), o.port or 5060, o.proxy
  o.answer, o.ring, o.host, o.port, o.proxy = nil, nil, nil, nil, nil
  if answer == nil then answer = 200 end
  if answer ~= false and math.type(answer) ~= "integer" then
    argerror(2, "phone", "answer must be a status or false")
  end
  o.user = o.user or name
  o.domain = o.domain or self.domain
  o.listen = o.listen or { "udp:" .. (host:find(":", 1, true) and ("[" .. host .. "]") or host) .. ":" .. port }
  if proxy then
    local uri = self:uri_of(proxy)
    if not sip.uri(uri) then
      argerror(2, "phone", "proxy '" .. tostring(proxy) .. "' is no name the harness knows nor a URI")
    end
    o.registrar = o.registrar or uri
    o.outbound_proxy = o.outbound_proxy or uri
  end
  local ua, err = sip.ua(o)
  if not ua then error("phone " .. name .. ": " .. tostring(err), 2) end
  local p = setmetatable({ ua = ua, name = name, calls = {}, messages = {}, seen = 0, waiting = false, answer = answer,
    ring = ring, harness = self, uri = ua.aor }, Phone)
  ua:on("call", function(call) p:_take(call) end)
  ua:on("message", function(req) p.messages[#p.messages + 1] = req end) -- and 200
  self:name(name, host)
  self:add(p)
  return p
end

function Phone:_take(call)
  self.calls[#self.calls + 1] = call
  if self.waiting then self.waiting:wake() end
  call:ring()
  if self.ring > 0 then loop.sleep(self.ring) end
  if not call:is_pending() then return end
  if self.answer == false then return end
  if self.answer < 300 then call:answer() else call:reject(self.answer) end
end

--- The next incoming call not yet returned by wait_call, waiting for it if none has come
-- (timeout in seconds, default none): the call, or nil, "timeout".
function Phone:wait_call(timeout)
  local i = (self.seen or 0) + 1
  if not self.calls[i] then
    self.waiting = loop.waiter()
    local _, err = self.waiting:block(timeout)
    self.waiting = nil
    if not self.calls[i] then return nil, err end
  end
  self.seen = i
  return self.calls[i]
end

--- Close the phone's UA (its calls end without signalling, as sip.ua's close does).
function Phone:close() return self.ua:close() end

--- A proxy: the real `sip.proxy` at a virtual address (opts as sip.proxy's; `listen` defaults
-- to udp at a fresh host, port 5060; `realm` to the harness's domain), named `name`.
function Harness:proxy(name, opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.listen = o.listen or { "udp:" .. self:_host() .. ":5060" }
  o.realm = o.realm or self.domain
  local px, err = sip.proxy(o)
  if not px then error("proxy " .. tostring(name) .. ": " .. tostring(err), 2) end
  return self:add(px, name)
end

--- A registrar: a proxy that answers REGISTER and refuses the rest (403).
function Harness:registrar(name, opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.route = function(req, px)
    if req.method == "REGISTER" then return px.registrar:handle(req) end
    return px:reply(req, 403, "Only Registrations Here")
  end
  return self:proxy(name, o)
end

local RAW_OPTS = { host = true, port = true, proto = true }

--- A raw sender for malformed input: a bare stack that sends bytes as given and answers
-- nothing. opts: `host`, `port` (default a fresh host, 5060), `proto` ("udp").
function Harness:raw(name, opts)
  opts = opts or {}
  for k in pairs(opts) do
    if not RAW_OPTS[k] then argerror(2, "raw", "unknown option '" .. tostring(k) .. "' (host, port, proto)") end
  end
  local host, port, proto = opts.host or self:_host(), opts.port or 5060, opts.proto or "udp"
  local st = assert(core.stack {})
  st:on("request", function() end)
  assert(st:listen(proto, host, port))
  local r = setmetatable({ stack = st, name = name, proto = proto, harness = self }, Raw)
  self:name(name, host, port)
  return self:add(r)
end

function Raw:__tostring() return "sip.test.raw " .. self.name end

--- Send bytes (a string or a sip.message) to `to`: a name the harness knows, or "host:port".
function Raw:send(bytes, to)
  local a = self.harness.addrs[to]
  local host, port
  if a then
    host, port = a.host, a.port or 5060
  else
    host, port = tostring(to):match("^%[?([^%]]+)%]?:(%d+)$")
    if not host then argerror(2, "send", "a name or host:port expected") end
  end
  return self.stack:send(bytes, { proto = self.proto, host = host, port = tonumber(port) })
end

--- What reached it, as ladder entries.
function Raw:received(what) return self.harness:received(self.name, what) end

--- Close the raw sender's stack.
function Raw:close() self.stack:close() end

-- -------------------------------------------------------------------------------------------------
-- The ladder

function Harness:_label(p)
  return self.names[key(p.host, p.port)] or self.names[p.host] or key(p.host, p.port)
end

-- A ladder entry's description of bytes. What does not parse still shows its method or status
-- when its first line has one (a 400 echoing a bad CSeq), marked bad.
local function describe_msg(bytes)
  local m = sip.parse(bytes)
  if m and m.method then
    return { msg = m, method = m.method, what = m.method, line = m.method .. " " .. tostring(m.uri) }
  end
  if m then
    return { msg = m, status = m.status, method = m.cseq_method, what = tostring(m.status),
      line = format("%d %s (%s)", m.status, m.reason or "", m.cseq_method or "?") }
  end
  local first = (bytes:match("^[^\r\n]*") or ""):sub(1, 60)
  local method = first:match("^([%w%-%.!%%%*_%+`'~]+) %S+ SIP/2%.0$")
  local status = tonumber(first:match("^SIP/2%.0 (%d%d%d) "))
  return { bad = true, method = method, status = status, line = "(bad) " .. first,
    what = method or (status and tostring(status)) or ("(bad) " .. first) }
end

function Harness:_record(bytes, from, to, delivered)
  local e = describe_msg(bytes)
  e.at, e.from, e.to, e.proto, e.lost, e.bytes = self:now(), self:_label(from), self:_label(to), from.proto,
    not delivered, bytes
  self.log[#self.log + 1] = e
  if not delivered then return end
  for i = #self.waits, 1, -1 do
    local w = self.waits[i]
    if w.match(e) then
      table.remove(self.waits, i)
      -- once the receiver has handled it: the timer runs after every message now in flight
      core.timer(0, 0, function() w.waiter:wake(e) end)
    end
  end
end

-- A matcher for entries: what is a method, a status (number or digits), or nil for any.
local function matcher(from, to, what, cseq)
  local status = tonumber(what)
  return function(e)
    if e.lost then return false end
    if from and from ~= "*" and e.from ~= from then return false end
    if to and to ~= "*" and e.to ~= to then return false end
    if what and what ~= "*" then
      if status then
        if e.status ~= status then return false end
      elseif e.status or e.method ~= what then
        return false
      end
    end
    if cseq and cseq ~= "" and e.method ~= cseq then return false end
    return true
  end
end

--- Every message so far, in order of arrival: entries {at, from, to, proto, what (the method,
-- or the status as text), method, status, line, msg (parsed), bad (it does not parse: no msg),
-- bytes, lost (nobody bound its destination)}.
function Harness:ladder() return self.log end

--- The ladder as text, one line a message ("  0.000 alice -> proxy REGISTER sip:example.com");
-- with last, only its last lines.
function Harness:ladder_text(last)
  local out, log = {}, self.log
  for i = last and math.max(1, #log - last + 1) or 1, #log do
    local e = log[i]
    out[#out + 1] = format("%8.3f %s -> %s %s%s", e.at, e.from, e.to, e.line or e.what, e.lost and " (lost)" or "")
  end
  return concat(out, "\n")
end

--- The messages name received (what: a method or a status; nil: all).
function Harness:received(name, what)
  local m, out = matcher(nil, name, what), {}
  for _, e in ipairs(self.log) do
    if m(e) then out[#out + 1] = e end
  end
  return out
end

--- Wait (inside t:run) until name receives a message matching what (a method, a status, or
-- nil) that arrives from now on; it has been handled when this returns. timeout in seconds
-- (default none). Returns the entry, or nil, "timeout".
function Harness:wait_for(name, what, timeout)
  local w = { match = matcher(nil, name, what), waiter = loop.waiter() }
  self.waits[#self.waits + 1] = w
  local e, err = w.waiter:block(timeout)
  for i, x in ipairs(self.waits) do
    if x == w then table.remove(self.waits, i) break end
  end
  return e, err
end

--- Assert that the ladder holds these lines in this order (others may come between). A line
-- is "FROM -> TO WHAT [CSEQ-METHOD]": FROM and TO names or "*", WHAT a method or a status. On a
-- failure the error shows the line not found and the whole ladder.
function Harness:assert_ladder(lines)
  if type(lines) ~= "table" then argerror(1, "assert_ladder", "list of lines expected") end
  local pos = 1
  for _, line in ipairs(lines) do
    local from, to, what, cseq = line:match("^%s*(%S+)%s*%->%s*(%S+)%s+(%S+)%s*(%S*)%s*$")
    if not from then argerror(1, "assert_ladder", "line '" .. line .. "' is not 'FROM -> TO WHAT'") end
    local m, found = matcher(from, to, what, cseq), nil
    for i = pos, #self.log do
      if m(self.log[i]) then
        found = i
        break
      end
    end
    if not found then
      error(format("ladder: no '%s' after message %d; the ladder:\n%s", line, pos - 1, self:ladder_text()), 2)
    end
    pos = found + 1
  end
  return true
end

--- Assert that name received these messages (methods or statuses) in this order, others allowed
-- between: `t:assert_received("bob", {"INVITE", "ACK", "BYE"})`.
function Harness:assert_received(name, whats)
  if type(whats) ~= "table" then argerror(2, "assert_received", "list of methods or statuses expected") end
  local lines = {}
  for i, w in ipairs(whats) do lines[i] = "* -> " .. name .. " " .. tostring(w) end
  local ok, err = pcall(self.assert_ladder, self, lines)
  if not ok then error(err, 2) end
  return true
end

--- The network's counters: {bound = addresses bound, queued = messages in flight}.
function Harness:stats() return core.vnet_stats() end

M.Harness, M.Phone, M.Raw = Harness, Phone, Raw
return M
