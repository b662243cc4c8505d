--- support.peers: run real SIP peers (SIPp, Kamailio) from busted specs, on 127.0.0.1 only.
--
--   local peers = require "support.peers"
--   local uas = peers.sipp { scenario = "uas", calls = 3 }          -- started, port bound
--   local r = peers.sipp_run { scenario = "uac", remote = uas.addr, calls = 3 }
--   assert.equal(3, r.ok, r.out); uas:wait()
--   local k = peers.kamailio { cfg = "registrar", users = { alice = "secret" } }
--   ... k.port, k.addr, k:log() ...; k:stop()
--   teardown(peers.cleanup)                                       -- or after_each
--
-- Every peer runs as `setsid timeout LIFETIME cmd` in its own session and process group, so
-- stopping it kills the whole group (Kamailio's children too), and a watchdog shell in the group
-- kills the group and removes its temp dir within a second when this Lua process goes away (a
-- busted run killed midway, even by SIGKILL, leaves nothing behind).
-- Each peer gets a temp dir (logs, stats, copied configs), removed when it is stopped unless
-- LUA_SIP_KEEP_PEERS=1 is set in the environment (the dir is then named in the error messages).
-- Misuse raises; a peer that fails to start raises with its log tail, since a spec cannot go on.
local peers = {}

local format, concat = string.format, table.concat

local SUPPORT = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "spec/support"
local KEEP = os.getenv("LUA_SIP_KEEP_PEERS") == "1"
local HOST = "127.0.0.1"

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function capture(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

--- The text of a file, or "" when there is none (a log not written yet); a word quoted for sh.
function peers.slurp(path) return read_file(path) or "" end
function peers.quote(s) return q(s) end

local function write_file(path, data)
  local f = assert(io.open(path, "wb"))
  assert(f:write(data))
  f:close()
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  return (os.getenv("PWD") or capture("pwd"):gsub("\n$", "")) .. "/" .. path
end

local function tail(s, n)
  n = n or 3000
  if not s then return "" end
  return #s > n and ("..." .. s:sub(-n)) or s
end

local function sleep(seconds)
  os.execute("sleep " .. seconds)
end

local function mkdtemp()
  local dir = capture("mktemp -d /tmp/lua-sip-peers.XXXXXX"):gsub("%s+$", "")
  assert(dir:find("^/tmp/lua%-sip%-peers%."), "mktemp -d failed")
  return dir
end

local function rmdir(dir)
  if dir and not KEEP and dir:find("^/tmp/lua%-sip%-peers%.") then os.execute("rm -rf " .. q(dir)) end
end

--- A self-signed certificate for 127.0.0.1 (EC P-256, IP SAN) in a fresh directory: dir (with
-- cert.pem and key.pem) and a function that removes it.
function peers.self_signed()
  local dir = mkdtemp()
  assert(os.execute("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " ..
    q(dir .. "/key.pem") .. " -out " .. q(dir .. "/cert.pem") .. " -days 2 -subj /CN=127.0.0.1 " ..
    "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1"), "openssl req failed")
  return dir, function() rmdir(dir) end
end

-- This Lua process: the peers' watchdogs poll it.
local SELF = tonumber(read_file("/proc/self/stat"):match("^(%d+)"))

---------------------------------------------------------------------------------------------------
-- Ports

local handed_out = {}

local function ports_in_use()
  local used = {}
  -- every TCP and UDP socket of this network namespace, listening or not (TIME_WAIT included)
  for line in capture("ss -Hantu 2>/dev/null"):gmatch("[^\n]+") do
    local loc = line:match("^%S+%s+%S+%s+%S+%s+%S+%s+(%S+)")
    local port = loc and tonumber(loc:match(":(%d+)$"))
    if port then used[port] = true end
  end
  return used
end

local function ephemeral_range()
  local s = read_file("/proc/sys/net/ipv4/ip_local_port_range") or ""
  local lo, hi = s:match("(%d+)%s+(%d+)")
  return tonumber(lo) or 32768, tonumber(hi) or 60999
end

--- A port on 127.0.0.1 that no UDP or TCP socket uses now, chosen at random in 20000-40000 outside
-- the kernel's ephemeral range (where port-0 binds of other tests land), never the same twice in
-- this process. proto ("udp", "tcp" or nil for both) is accepted for clarity: both are checked.
function peers.free_port(proto)
  if proto ~= nil and proto ~= "udp" and proto ~= "tcp" then
    error("bad argument #1 to 'free_port' (\"udp\", \"tcp\" or nil expected)", 2)
  end
  local used = ports_in_use()
  local elo, ehi = ephemeral_range()
  for _ = 1, 500 do
    local p = math.random(20000, 40000)
    if not used[p] and not handed_out[p] and (p < elo or p > ehi) then
      handed_out[p] = true
      return p
    end
  end
  error("free_port: no free port found in 20000-40000")
end

local function proc_state(pid)
  local s = read_file("/proc/" .. pid .. "/stat")
  return s and s:match("^%d+ %(.*%) (%a)")
end

local function alive(pid)
  local st = proc_state(pid)
  return st ~= nil and st ~= "Z" and st ~= "X"
end

--- Is process pid running (not gone, not a zombie)?
peers.alive = alive

--- Start `lua5.4 examples/<script> args...` in the background under timeout (lifetime seconds,
-- default 30): a handle with pid, output() (so far), wait_for(text[, seconds]), wait() and stop()
-- (SIGTERM, then wait), the last two giving the exit code and the whole output. setsid gives the
-- example a process group of its own (peers.wait_port looks for the group's socket);
-- --foreground has timeout pass a signal it gets to the example alone: without it, timeout sends
-- the signal again to the whole group, and that second SIGTERM can land after the example has
-- handled the first one, closed its loop and given the signal back to the default action, so a
-- clean exit shows up as 143.
function peers.example(script, args, lifetime)
  local log = os.tmpname()
  local words = {}
  for _, a in ipairs(args) do words[#words + 1] = q(a) end
  local cmd = ("exec setsid timeout --foreground -k 2 %d lua5.4 examples/%s %s >%s 2>&1"):format(lifetime or 30,
    script, table.concat(words, " "), q(log))
  local pipe = assert(io.popen("sh -c " .. q("echo $$; " .. cmd), "r"))
  local pid = tonumber(pipe:read("l"))
  local h = { pid = pid }
  function h.output() return peers.slurp(log) end
  function h.wait_for(text, seconds)
    for _ = 1, (seconds or 5) * 20 do
      if h.output():find(text, 1, true) then return true end
      os.execute("sleep 0.05")
    end
    return false
  end
  function h.wait()
    if h.code == nil then
      local _, how, code = pipe:close()
      h.code = how == "signal" and 128 + code or code
      h.out = peers.slurp(log)
      os.remove(log)
    end
    return h.code, h.out
  end
  function h.stop()
    if h.code == nil and alive(pid) then os.execute("kill -TERM " .. pid .. " 2>/dev/null") end
    return h.wait()
  end
  return h
end

local function pgrp(pid)
  local st = read_file("/proc/" .. pid .. "/stat")
  return st and tonumber(st:match("^%d+ %(.*%) %a %d+ (%d+)"))
end

-- Is a socket bound to port? With pgid: one of that process group's.
local function listening(port, proto, pgid)
  local flag = proto == "tcp" and "-Hltn" or "-Hlun"
  local out = capture(format("ss %s%s 'sport = :%d' 2>/dev/null", flag, pgid and "p" or "", port))
  if not pgid then return out:find("%S") ~= nil end
  for pid in out:gmatch("pid=(%d+)") do
    if pgrp(pid) == pgid then return true end
  end
  return false
end

--- Wait until something listens on 127.0.0.1:port (proto "udp" or "tcp"), up to timeout seconds
-- (default 5). With pid (a peer's process group), the socket must be that group's, and the wait
-- ends as soon as its leader is gone. Returns true or nil, err.
function peers.wait_port(port, proto, timeout, pid)
  local limit, waited, step = timeout or 5, 0, 0.02
  local hard = os.time() + limit + 1 -- in case ss gets slow on a loaded machine
  while true do
    if listening(port, proto, pid) then return true end
    if pid and not alive(pid) then return nil, "process exited" end
    if waited >= limit or os.time() > hard then break end
    sleep(step)
    waited = waited + step + 0.005 -- the sleep and the ss call; os.clock() counts neither
    if waited > 0.5 then step = 0.1 end
  end
  return nil, format("nothing listens on %s %s:%d after %gs", proto or "udp", HOST, port, limit)
end

---------------------------------------------------------------------------------------------------
-- Processes

local live = {} -- handle -> true, for peers.cleanup

-- Start argv in dir as a session leader killed after lifetime seconds, output to logfile.
-- Returns the popen file (its close() reaps and gives the exit status) and the pid (= pgid).
local function spawn(argv, dir, logfile, lifetime, env)
  local words = {}
  for k, v in pairs(env or {}) do words[#words + 1] = q(k .. "=" .. tostring(v)) end
  for _, a in ipairs(argv) do words[#words + 1] = q(a) end
  local script = concat {
    "cd ", q(dir), " || exit 126; echo $$; ",
    -- watchdog: when this Lua process is gone, the group goes too (from outside the group, so
    -- that the temp dir can be removed after)
    "(while kill -0 ", SELF, " 2>/dev/null; do sleep 1; done; exec setsid sh -c \"kill -KILL -$$; ",
    KEEP and "" or ("sleep 0.5; rm -rf " .. dir), "\") </dev/null >/dev/null 2>&1 & ",
    "exec timeout -k 2 ", math.ceil(lifetime), " env ", concat(words, " "), " </dev/null >", q(logfile), " 2>&1",
  }
  -- setsid: a new session and process group whose id is the pid printed by `echo $$`
  local p = assert(io.popen("exec setsid -w sh -c " .. q(script), "r"))
  local pid = tonumber(p:read("l"))
  if not pid then
    p:close()
    error("spawn failed: " .. argv[1])
  end
  return p, pid
end

--- The live (not zombie) processes of process group pgid, as a list of pids.
function peers.group_alive(pgid)
  pgid = math.tointeger(tonumber(pgid))
  local pids = {}
  -- /proc/PID/stat: "pid (comm) state ppid pgrp ..." (no pgrep: procps may not be installed)
  for line in capture("cat /proc/[0-9]*/stat 2>/dev/null"):gmatch("[^\n]+") do
    local pid, state, pg = line:match("^(%d+) %(.*%) (%a) %-?%d+ (%d+)")
    if pid and tonumber(pg) == pgid and state ~= "Z" and state ~= "X" then pids[#pids + 1] = tonumber(pid) end
  end
  return pids
end

-- SIGKILL what is left of the group and wait (up to 2 s) until none of it runs any more.
local function reap_group(pid)
  os.execute(format("kill -KILL -%d 2>/dev/null", pid))
  for _ = 1, 40 do
    if #peers.group_alive(pid) == 0 then return end
    sleep(0.05)
  end
end

-- Terminate a process group politely, then for sure; returns the leader's exit code.
local function terminate(pipe, pid, grace)
  if alive(pid) then
    os.execute(format("kill -TERM -%d 2>/dev/null", pid))
    local t = 0
    while alive(pid) and t < (grace or 3) do
      sleep(0.05); t = t + 0.05
    end
  end
  os.execute(format("kill -KILL -%d 2>/dev/null", pid))
  local _, how, code = pipe:close()
  if how == "signal" then code = 128 + code end
  reap_group(pid)
  return code
end

--- Stop every peer still running (use as `teardown(peers.cleanup)` or in after_each).
function peers.cleanup()
  for h in pairs(live) do
    if h.stop then h:stop() else h:kill() end
  end
end

---------------------------------------------------------------------------------------------------
-- SIPp

local function sipp_scenario(sf)
  if exists(sf) then return absolute(sf) end
  for _, cand in ipairs { SUPPORT .. "/sipp/" .. sf, SUPPORT .. "/sipp/" .. sf .. ".xml" } do
    if exists(cand) then return absolute(cand) end
  end
  error("sipp: scenario file not found: " .. sf, 3)
end

-- -trace_stat CSV: a header line and one line per dump, ';'-separated; the last one is final.
local function parse_stat(text)
  if not text then return nil end
  local lines = {}
  for l in text:gmatch("[^\r\n]+") do lines[#lines + 1] = l end
  if #lines < 2 then return nil end
  local names, stat, i = {}, {}, 0
  for f in (lines[1] .. ";"):gmatch("([^;]*);") do names[#names + 1] = f end
  for f in (lines[#lines] .. ";"):gmatch("([^;]*);") do
    i = i + 1
    if names[i] and names[i] ~= "" then stat[names[i]] = tonumber(f) or f end
  end
  return stat
end

local Sipp = {}
Sipp.__index = Sipp
Sipp.__name = "peers.sipp"

--- Wait for SIPp to end (bounded by its timeout). Returns
-- { ok, failed, rc, out, stat, errors, log, messages, timed_out }: ok/failed are the successful
-- and failed call counts from the final -trace_stat line; rc is SIPp's exit code (0 all calls
-- succeeded, 1 some failed (or a fatal error), 255 its -timeout expired, 254 cannot bind, 99 no
-- call; 124/137 when the watchdog killed it; SIPp 3.6 exits 0 on kill()); out is the tail of its
-- stdout+stderr (SIPp prints its errors and final screen there); errors the
-- unexpected messages (-trace_err), log its <log> actions (-trace_logs), messages the full
-- message trace when started with trace = true.
function Sipp:wait()
  if self.result then return self.result end
  local _, how, code = self.pipe:close()
  if how == "signal" then code = 128 + code end
  return self:_finish(code)
end

--- Kill SIPp now (the whole process group); returns the same table as wait().
function Sipp:kill()
  if self.result then return self.result end
  return self:_finish(terminate(self.pipe, self.pid, 1))
end

function Sipp:_finish(code)
  reap_group(self.pid)
  live[self] = nil
  local d = self.dir
  local stat = parse_stat(read_file(d .. "/stat.csv"))
  local out = read_file(d .. "/out.log") or ""
  local r = {
    rc = code,
    ok = stat and tonumber(stat["SuccessfulCall(C)"]) or 0,
    failed = stat and tonumber(stat["FailedCall(C)"]) or 0,
    stat = stat,
    out = tail(out),
    errors = read_file(d .. "/errors.log"),
    log = read_file(d .. "/log.log"),
    messages = read_file(d .. "/messages.log"),
    timed_out = code == 124 or code == 137,
  }
  if KEEP then r.out = r.out .. "\n[peer files kept in " .. d .. "]" end
  rmdir(d)
  self.result = r
  return r
end

Sipp.__gc = function(self) if not self.result then self:kill() end end
Sipp.__close = Sipp.kill

local TRANSPORT_PROTO = { u1 = "udp", un = "udp", ui = "udp", t1 = "tcp", tn = "tcp", l1 = "tcp", ln = "tcp" }

local function start_sipp(o, sf, port, transport, proto)
  local timeout = o.timeout or 20
  local dir = mkdtemp()
  local a = { "sipp" }
  local function add(...) for _, v in ipairs { ... } do a[#a + 1] = tostring(v) end end
  if o.scenario then add("-sn", o.scenario) else add("-sf", sf) end
  if o.remote then
    local remote = tostring(o.remote)
    add(remote:find(":") and remote or (HOST .. ":" .. remote))
  end
  add("-i", HOST, "-p", port, "-t", transport, "-mi", HOST, "-ci", HOST)
  add("-nostdin", "-timeout", timeout .. "s", "-timeout_error")
  add("-recv_timeout", math.floor((o.recv_timeout or math.min(timeout, 10)) * 1000))
  add("-trace_stat", "-stf", dir .. "/stat.csv", "-fd", 1)
  add("-trace_err", "-error_file", dir .. "/errors.log", "-trace_logs", "-log_file", dir .. "/log.log")
  if o.trace then add("-trace_msg", "-message_file", dir .. "/messages.log") end
  if o.calls then add("-m", o.calls) end
  if o.rate then add("-r", o.rate) end
  if o.service then add("-s", o.service) end
  if o.auth then
    if o.auth.user then add("-au", o.auth.user) end
    if o.auth.password then add("-ap", o.auth.password) end
  end
  if type(o.inf) == "table" then
    local rows = { "SEQUENTIAL" }
    for _, row in ipairs(o.inf) do rows[#rows + 1] = concat(row, ";") .. ";" end
    write_file(dir .. "/inf.csv", concat(rows, "\n") .. "\n")
    add("-inf", dir .. "/inf.csv")
  elseif o.inf then
    add("-inf", absolute(o.inf))
  end
  for k, v in pairs(o.key or {}) do add("-key", k, v) end
  for k, v in pairs(o.set or {}) do add("-set", k, v) end
  for _, v in ipairs(o.extra or {}) do add(v) end
  local pipe, pid = spawn(a, dir, dir .. "/out.log", timeout + 5)
  local h = setmetatable({ pipe = pipe, pid = pid, port = port, addr = HOST .. ":" .. port, dir = dir,
    argv = a }, Sipp)
  live[h] = true
  if o.ready ~= false and not peers.wait_port(port, proto, 5, pid) then
    -- gone already: a quick run that is over (its result waits in h), or a fatal error before
    -- any call (bad arguments or scenario: rc 1 or 255, no stats; cannot bind: rc 254)
    local stuck = alive(pid)
    local r = stuck and h:kill() or h:wait()
    if stuck or r.rc == 254 or not r.stat or (tonumber(r.stat.TotalCallCreated) or 0) == 0 then
      r.argv = a
      return nil, r
    end
  end
  return h
end

--- Start SIPp. o: scenario (built-in name: "uac", "uas", ...) or sf (an XML path, or a name in
-- spec/support/sipp/), remote ("127.0.0.1:PORT" or a port), port (local, default free),
-- transport ("u1", "t1", "un", ...), calls (-m), rate (-r), timeout (seconds, default 20: SIPp's
-- own -timeout with -timeout_error, the watchdog adds 5), recv_timeout (seconds, default
-- min(timeout, 10)), service (-s), auth = {user=, password=} (-au/-ap, for [authentication]),
-- inf (a CSV path, or a list of rows: each a list of fields, written with SEQUENTIAL),
-- key = {name = value} (-key), set = {name = value} (-set), trace (full message trace),
-- extra = {args...}, ready (default true: return once the local port is bound).
-- Returns a handle: fields pid, port, addr ("127.0.0.1:port"), dir; methods wait, kill.
function peers.sipp(o)
  if type(o) ~= "table" then error("bad argument #1 to 'sipp' (table expected)", 2) end
  if (not o.scenario) == (not o.sf) then error("sipp: give exactly one of scenario and sf", 2) end
  local transport = o.transport or "u1"
  local proto = TRANSPORT_PROTO[transport]
  if not proto then error("sipp: unsupported transport " .. tostring(transport), 2) end
  local sf = o.sf and sipp_scenario(o.sf)
  local last
  -- a free port can be taken before SIPp binds it: then SIPp exits 254; retry if it was ours
  for _ = 1, (o.port and 1 or 3) do
    local h, r = start_sipp(o, sf, o.port or peers.free_port(proto), transport, proto)
    if h then return h end
    last = format("sipp did not start (rc %s): %s\n%s", tostring(r.rc), concat(r.argv, " "), r.out)
    if r.rc ~= 254 then break end
  end
  error(last, 2)
end

--- peers.sipp(o):wait() in one call.
function peers.sipp_run(o)
  local ok, h = pcall(peers.sipp, o)
  if not ok then error(h, 2) end
  return h:wait()
end

---------------------------------------------------------------------------------------------------
-- Kamailio

local Kamailio = {}
Kamailio.__index = Kamailio
Kamailio.__name = "peers.kamailio"

--- Kamailio's log so far (stderr, -E).
function Kamailio:log()
  return read_file(self.dir .. "/kamailio.log") or ""
end

--- Stop Kamailio (SIGTERM to the group, SIGKILL after 3 s) and remove its temp dir. Idempotent;
-- returns the exit code.
function Kamailio:stop()
  if self.rc then return self.rc end
  self.rc = terminate(self.pipe, self.pid, 3)
  live[self] = nil
  rmdir(self.dir)
  return self.rc
end

Kamailio.__gc = Kamailio.stop
Kamailio.__close = Kamailio.stop

local function kam_string(s)
  s = tostring(s)
  if s:find("[%c]") then error("kamailio: users must not contain control characters", 4) end
  return '"' .. s:gsub('[\\"]', "\\%0") .. '"'
end

-- route[USERS]: $var(password) for the auth user $au (registrar.cfg calls it).
local function users_inc(users)
  local lines = { "# written by spec/support/peers.lua", "route[USERS] {" }
  local names = {}
  for name in pairs(users or {}) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    lines[#lines + 1] = format("  if ($au == %s) { $var(password) = %s; return; }", kam_string(name),
      kam_string(users[name]))
  end
  lines[#lines + 1] = "  return;"
  lines[#lines + 1] = "}"
  return concat(lines, "\n") .. "\n"
end

local function kam_config(cfg)
  if exists(cfg) then return absolute(cfg) end
  local cand = SUPPORT .. "/kamailio/" .. cfg .. (cfg:find("%.cfg$") and "" or ".cfg")
  if exists(cand) then return absolute(cand) end
  error("kamailio: config not found: " .. cfg, 3)
end

--- Start Kamailio in the foreground (-DD -E) with its own temp dir as working and runtime dir.
-- o: cfg ("registrar", "proxy", or a path; the *.inc files beside it are copied along),
-- port (UDP and TCP on 127.0.0.1; default free, and retried on a bind race), defines (list of
-- -A defines: "WITH_X" or 'NAME="value"'), env (table), users = {name = password} (written
-- to users.inc as route[USERS]), algorithm ("MD5" or "SHA-256": -A AUTH_ALGORITHM), children
-- (-n), lifetime (seconds before the watchdog kills it, default 300), start_timeout (default 5).
-- Returns a handle once both sockets listen: fields port, addr, uri, pid, dir; methods stop, log.
function peers.kamailio(o)
  if type(o) ~= "table" then error("bad argument #1 to 'kamailio' (table expected)", 2) end
  local cfg = kam_config(o.cfg or "proxy")
  local cfgdir, cfgname = cfg:match("^(.*)/([^/]*)$")
  local last
  for _ = 1, (o.port and 1 or 3) do
    local port = o.port or peers.free_port()
    local dir = mkdtemp()
    os.execute(format("cp %s %s/ 2>/dev/null; cp %s %s/", q(cfgdir) .. "/*.inc", q(dir), q(cfg), q(dir)))
    write_file(dir .. "/users.inc", users_inc(o.users))
    local a = { "kamailio", "-f", dir .. "/" .. cfgname, "-DD", "-E", "-w", dir, "-Y", dir,
      "-P", dir .. "/kamailio.pid", "-l", "udp:" .. HOST .. ":" .. port, "-l", "tcp:" .. HOST .. ":" .. port }
    for _, d in ipairs(o.defines or {}) do a[#a + 1] = "-A"; a[#a + 1] = d end
    if o.algorithm then a[#a + 1] = "-A"; a[#a + 1] = format('AUTH_ALGORITHM="%s"', o.algorithm) end
    if o.children then a[#a + 1] = "-n"; a[#a + 1] = tostring(o.children) end
    local pipe, pid = spawn(a, dir, dir .. "/kamailio.log", o.lifetime or 300, o.env)
    local h = setmetatable({ pipe = pipe, pid = pid, port = port, addr = HOST .. ":" .. port,
      uri = "sip:" .. HOST .. ":" .. port, dir = dir, argv = a }, Kamailio)
    live[h] = true
    local limit = o.start_timeout or 5
    local ok, err = peers.wait_port(port, "udp", limit, pid)
    if ok then ok, err = peers.wait_port(port, "tcp", limit, pid) end
    if ok then return h end
    local log = h:log()
    h:stop()
    last = format("kamailio did not start (%s): %s\n%s", err, concat(a, " "), tail(log))
    if not log:find("Address already in use", 1, true) then break end
  end
  error(last, 2)
end

---------------------------------------------------------------------------------------------------
-- A raw UDP exchange, for what SIPp cannot do (e.g. digest with SHA-256, RFC 8760)

local UDP_PY = [[
import re, select, socket, sys, time
dst, lport, tmo = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
data = open(sys.argv[4], 'rb').read()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', lport))
out = sys.stdout.buffer
end = time.monotonic() + tmo
rt, got = 0.5, False
s.sendto(data, ('127.0.0.1', dst))
nxt = time.monotonic() + rt
while True:
    now = time.monotonic()
    if now >= end:
        break
    wait = end - now if got else min(end, nxt) - now
    r, _, _ = select.select([s], [], [], max(wait, 0))
    if r:
        d, _ = s.recvfrom(65535)
        got = True
        out.write(b'%d\n' % len(d) + d)
        m = re.match(rb'SIP/2\.0 ([0-9])', d)
        if m and m.group(1) != b'1':
            break
    elif not got and time.monotonic() >= nxt:
        s.sendto(data, ('127.0.0.1', dst))  # RFC 3261 17.1.2.2 timer E, roughly
        rt = min(rt * 2, 4)
        nxt = time.monotonic() + rt
out.flush()
]]

--- Send one request from 127.0.0.1:lport to 127.0.0.1:port over UDP (retransmitted until
-- something answers) and collect datagrams until a final response or timeout seconds (default 3).
-- o: port, data (a string or a sip message), lport (default free; put it in the Via sent-by, or
-- add rport), timeout. Returns the final response (string) and the list of every datagram, or
-- nil, "timeout", datagrams.
function peers.udp_exchange(o)
  if type(o) ~= "table" or not o.port or not o.data then
    error("bad argument #1 to 'udp_exchange' (table with port and data expected)", 2)
  end
  local dir = mkdtemp()
  write_file(dir .. "/req", tostring(o.data))
  write_file(dir .. "/x.py", UDP_PY)
  local out = capture(format("python3 %s %d %d %g %s", q(dir .. "/x.py"), o.port, o.lport or peers.free_port("udp"),
    o.timeout or 3, q(dir .. "/req")))
  rmdir(dir)
  local got, i = {}, 1
  while i <= #out do
    local n, nl = out:match("^(%d+)\n()", i)
    if not n then break end
    got[#got + 1] = out:sub(nl, nl + tonumber(n) - 1)
    i = nl + tonumber(n)
  end
  local last = got[#got]
  if last and last:find("^SIP/2%.0 [2-6]") then return last, got end
  return nil, "timeout", got
end

return peers
