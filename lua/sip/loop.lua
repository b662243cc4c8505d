--- sip.loop: coroutines over the libev loop. Application code runs in coroutines started here; a
-- call that waits yields its coroutine and the loop resumes it. resume() below is the one place
-- that calls coroutine.resume.
-- @module sip.loop
local core = require "sip.core"
local args = require "sip.args"

local create, resume_co, running, yield, status =
  coroutine.create, coroutine.resume, coroutine.running, coroutine.yield, coroutine.status
local traceback = debug.traceback

local M = {}

local failure      -- the first unhandled error, re-raised by run()
local on_error     -- a user handler, if set
-- What run() closes when it ends by an error: the coroutines started and the objects opened
-- (endpoints, user agents, proxies: M.opened) since the previous run ended, by generation: those
-- spawned or made before a run (sip.spawn(f); sip.run(), or sip.test's t:run) are that run's too.
local generation = 0 -- bumped when a run ends
local live = setmetatable({}, { __mode = "k" })   -- coroutine -> generation
local opened = setmetatable({}, { __mode = "k" }) -- object with :close() -> generation

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
-- @tparam function fn the job
-- @param ... its arguments
-- @treturn thread the coroutine
-- @raise when fn is not a function
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
  live[co] = generation
  resume(co, fn, ...)
  return co
end

local function current(what)
  local co, main = running()
  if main then error(what .. " must be called from a coroutine started by sip.spawn or sip.run", 3) end
  return co
end

-- A waiter: block() yields until wake(...) or the timeout; wake() after that is ignored.
local Waiter = {}
Waiter.__index = Waiter
Waiter.__name = "sip.waiter"
function Waiter:__tostring()
  return "sip.waiter (" .. (self.done and "woken" or self.waiting and "waiting" or "new") .. ")"
end

--- A waiter for the calling coroutine: `w:block(timeout)` yields until `w:wake(...)` or the
-- timeout; a wake after that is ignored.
-- @treturn Waiter the waiter
-- @raise outside a coroutine started by sip.spawn or sip.run
function M.waiter()
  -- every field a waiter takes, in its constructor: the table is made at its final size
  return setmetatable({ co = current("a wait"), waiting = false, done = false, early = nil }, Waiter)
end

local function woken(self, ...)
  self.waiting = false
  return ...
end

--- Yield until woken; returns what wake() passed, or nil, "timeout" after timeout seconds.
-- A waiter woken before it blocks returns those values at once.
-- @tparam[opt] number timeout seconds (nil: no limit)
-- @return what wake() passed, or nil, "timeout"
-- @raise from a coroutine other than the one that made the waiter
function Waiter:block(timeout)
  if self.early then
    local r = self.early
    self.early = nil
    return table.unpack(r, 1, r.n)
  end
  if self.co ~= running() then error("a waiter blocks only the coroutine that made it", 2) end
  -- closed on return, and by coroutine.close when run() gives up this coroutine
  local _ <close> = timeout and core.timer(timeout, 0, function() self:wake(nil, "timeout") end) or nil
  self.waiting = true
  return woken(self, yield())
end

--- Wake the waiter with values for its block(); only the first wake counts.
-- @param ... what block() returns
-- @treturn boolean true, or false when it was woken (or timed out) already
function Waiter:wake(...)
  if self.done then return false end
  self.done = true
  if self.waiting then
    -- a coroutine that run() closed while it waited (close_since) has nothing left to wake
    if status(self.co) == "dead" then return false end
    resume(self.co, ...)
  else
    self.early = table.pack(...)
  end
  return true
end

--- Wait s seconds (yields the calling coroutine).
-- @tparam number s seconds, >= 0
-- @raise on a negative or missing s, or outside a coroutine
function M.sleep(s)
  if type(s) ~= "number" or s < 0 then args.error(1, "sleep", "seconds >= 0 expected") end
  M.waiter():block(s)
end

-- (An error stopped the loop.) Close the coroutines left waiting since generation gen (their
-- <close> variables, their waits' timers) and the objects opened since then, so nothing of a
-- failed run holds a port or fires in the next one.
local function close_since(gen)
  idle, nidle = {}, 0 -- parked workers are among the coroutines closed
  local cos, objs = {}, {}
  for co, g in pairs(live) do
    if g >= gen and co ~= running() and status(co) == "suspended" then cos[#cos + 1] = co end
  end
  for obj, g in pairs(opened) do
    if g >= gen then objs[#objs + 1] = obj end
  end
  for _, co in ipairs(cos) do
    live[co] = nil
    coroutine.close(co)
  end
  for _, obj in ipairs(objs) do
    opened[obj] = nil
    pcall(obj.close, obj)
  end
end

--- Run the loop until nothing is left to do or stop() is called; with fn, spawn it first.
-- An error in any coroutine or callback stops the loop and is raised here with its traceback
-- (unless on_error handles it), after everything started or opened since the previous run ended
-- is closed: the coroutines still waiting (with their <close> variables) and every endpoint, UA
-- and proxy.
function M.run(fn, ...)
  local gen = generation
  if fn then M.spawn(fn, ...) end
  if not failure then
    local ok, err = core.run()
    if not ok and not failure then failure = err end
  end
  generation = gen + 1
  local f = failure
  failure = nil
  if f then
    close_since(gen)
    error(f, 0)
  end
  return true
end

--- Track obj (a table with an idempotent :close()) so that a run() ending by an error closes
-- it. Returns obj.
function M.opened(obj)
  opened[obj] = generation
  return obj
end

--- Stop the loop: run() returns once the current callback ends.
function M.stop() core.stop() end

--- The loop's clock in seconds (virtual under sip.test); monotonic, updated once per loop turn.
-- @treturn number seconds
function M.now() return core.now() end

--- A deadline timeout seconds from now, for a call that waits more than once (challenges,
-- retries): a function giving the seconds left, 0 once it has passed (nil timeout: nil, none).
function M.deadline(timeout)
  if timeout == nil then return function() return nil end end
  local at = core.now() + timeout
  return function()
    local left = at - core.now()
    return left > 0 and left or 0
  end
end

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

--- Resume a coroutine of the library (the one place coroutine.resume is called): an error in it
-- is reported as by report() and the coroutine is closed.
-- @function resume
-- @tparam thread co the coroutine
-- @param ... what its yield returns
-- @treturn boolean false when it raised
M.resume = resume

--- Report an error of a callback: to the on_error handler, else it stops the loop and run()
-- raises it.
-- @function report
-- @param err the error
M.report = report

--- Whether a coroutine has finished (or died by an error).
-- @function is_dead
-- @tparam thread co the coroutine
-- @treturn boolean
M.is_dead = function(co) return status(co) == "dead" end

M._internal = { Waiter = Waiter }

return M
