--- sip.loop: coroutines over the libev loop. Application code runs in coroutines started here; a
-- call that waits yields its coroutine and the loop resumes it. resume() below is the one place
-- that calls coroutine.resume.
local core = require "sip.core"
local args = require "sip.args"

local create, resume_co, running, yield, status =
  coroutine.create, coroutine.resume, coroutine.running, coroutine.yield, coroutine.status
local traceback = debug.traceback

local M = {}

local failure      -- the first unhandled error, re-raised by run()
local on_error     -- a user handler, if set

local function report(err)
  if on_error then
    local ok, e2 = pcall(on_error, err)
    if ok then return end
    err = "error in the error handler: " .. tostring(e2) .. "\nwhile handling: " .. tostring(err)
  end
  if not failure then failure = err end
  core.stop()
end

local function resume(co, ...)
  local ok, err = resume_co(co, ...)
  if not ok then
    report(traceback(co, tostring(err)))
    -- Lua closes a dead coroutine's pending <close> variables only on coroutine.close: without
    -- it an error leaves them open (endpoints, timers) and the loop waits on them for ever
    coroutine.close(co)
  end
  return ok
end

-- Finished coroutines wait here for the next spawn: creating a coroutine per request is most of
-- the cost of a small handler. A worker runs one job, then parks itself in `idle` until spawn
-- resumes it with the next; a job that raises kills its worker (and is reported).
local idle, nidle = {}, 0
local MAX_IDLE = 256
local PARKED = {}

local function run_job(fn, ...) fn(...) end

local function worker(fn, ...)
  fn(...)
  while nidle < MAX_IDLE do
    nidle = nidle + 1
    idle[nidle] = running()
    run_job(yield(PARKED))
  end
end

--- Start fn(...) in a coroutine now; it runs until it first waits. The coroutine of a finished
-- job may be reused for a later one.
function M.spawn(fn, ...)
  if type(fn) ~= "function" then args.error(1, "spawn", "function expected") end
  local co
  if nidle > 0 then
    co = idle[nidle]
    idle[nidle] = nil
    nidle = nidle - 1
  else
    co = create(worker)
  end
  resume(co, fn, ...)
  return co
end

local function current(what)
  local co, main = running()
  if main then error(what .. " must be called from a coroutine started by sip.spawn or sip.run", 3) end
  return co
end

--- A waiter: block() yields until wake(...) or the timeout; wake() after that is ignored.
local Waiter = {}
Waiter.__index = Waiter

function M.waiter()
  -- every field a waiter takes, in its constructor: the table is made at its final size
  return setmetatable({ co = current("a wait"), waiting = false, done = false, early = nil }, Waiter)
end

local function woken(self, t, ...)
  self.waiting = false
  if t then t:close() end
  return ...
end

--- Yield until woken; returns what wake() passed, or nil, "timeout" after timeout seconds.
-- A waiter woken before it blocks returns those values at once.
function Waiter:block(timeout)
  if self.early then
    local r = self.early
    self.early = nil
    return table.unpack(r, 1, r.n)
  end
  if self.co ~= running() then error("a waiter blocks only the coroutine that made it", 2) end
  local t
  if timeout then
    t = core.timer(timeout, 0, function() self:wake(nil, "timeout") end)
  end
  self.waiting = true
  return woken(self, t, yield())
end

function Waiter:wake(...)
  if self.done then return false end
  self.done = true
  if self.waiting then
    resume(self.co, ...)
  else
    self.early = table.pack(...)
  end
  return true
end

--- Wait s seconds.
function M.sleep(s)
  if type(s) ~= "number" or s < 0 then args.error(1, "sleep", "seconds >= 0 expected") end
  local w = M.waiter()
  core.timer(s, 0, function() w:wake() end)
  w:block()
end

--- Run the loop until nothing is left to do or stop() is called; with fn, spawn it first.
-- An error in any coroutine or callback stops the loop and is raised here with its traceback
-- (unless on_error handles it).
function M.run(fn, ...)
  if fn then M.spawn(fn, ...) end
  if not failure then
    local ok, err = core.run()
    if not ok and not failure then failure = err end
  end
  local f = failure
  failure = nil
  if f then error(f, 0) end
  return true
end

function M.stop() core.stop() end

function M.now() return core.now() end

--- Whole seconds on the loop's clock, on os.time's scale (virtual under sip.test): the default
-- clock of the location service, the registrar and the proxy, so a spec can expire bindings.
function M.time() return math.floor(core.now()) end

--- Set a handler for errors in coroutines and callbacks (nil: run() raises them).
function M.on_error(fn) on_error = fn end

--- Call fn on SIGINT and SIGTERM (default: stop the loop cleanly). Returns the two watchers.
function M.on_signals(fn)
  fn = fn or function() core.stop() end
  return core.signal(core.SIGINT, fn), core.signal(core.SIGTERM, fn)
end

--- Number of active watchers held by the library (tests check it returns to 0).
function M.active() return core.active() end

M.resume = resume
M.report = report
M.is_dead = function(co) return status(co) == "dead" end

return M
