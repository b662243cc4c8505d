-- sip.spawn / sip.sleep / sip.run: coroutines over the libev loop.
local sip = require "sip"
local loop = require "sip.loop"

describe("the loop", function()
  after_each(function() assert.equal(0, loop.active()) end)

  it("runs straight-line code that sleeps, many coroutines at once", function()
    local order = {}
    sip.run(function()
      for i = 1, 3 do
        sip.spawn(function()
          sip.sleep(0.01 * (4 - i))
          order[#order + 1] = i
        end)
      end
    end)
    assert.same({ 3, 2, 1 }, order)
  end)

  it("keeps thousands of waiting coroutines cheap", function()
    local done = 0
    sip.run(function()
      for _ = 1, 5000 do
        sip.spawn(function() sip.sleep(0.001); done = done + 1 end)
      end
    end)
    assert.equal(5000, done)
  end)

  it("returns the error of a coroutine out of run, with its traceback", function()
    local ok, err = pcall(sip.run, function()
      sip.sleep(0.001)
      error("boom")
    end)
    assert.is_false(ok)
    assert.matches("boom", err)
    assert.matches("traceback", err)
  end)

  it("returns the error of a timer callback out of run", function()
    local t = sip.core.timer(0.001, 0, function() error("tick failed") end)
    local ok, err = pcall(sip.run)
    assert.is_false(ok)
    assert.matches("tick failed", err)
    t:close()
  end)

  it("passes errors to a handler when one is set", function()
    local seen
    sip.on_error(function(e) seen = e end)
    sip.run(function() error("handled") end)
    sip.on_error(nil)
    assert.matches("handled", seen)
  end)

  it("wakes a waiter with values, or times it out", function()
    local got, timeout
    sip.run(function()
      local w = sip.waiter()
      sip.core.timer(0.001, 0, function() w:wake("a", 2) end)
      got = { w:block(1) }
      local w2 = sip.waiter()
      timeout = { w2:block(0.01) }
      assert.is_false(w2:wake("late"))
    end)
    assert.same({ "a", 2 }, got)
    assert.same({ nil, "timeout" }, timeout)
  end)

  it("repeating timers stop and close idempotently", function()
    local n = 0
    local t
    t = sip.core.timer(0.001, 0.001, function() n = n + 1; if n == 3 then t:stop() end end)
    sip.run()
    assert.equal(3, n)
    t:close(); t:close()
  end)

  it("keeps time across blocking work done between runs", function()
    os.execute("sleep 0.3")
    local t0 = sip.now()
    local slept
    sip.run(function()
      local a = sip.now()
      sip.sleep(0.1)
      slept = sip.now() - a
    end)
    assert.is_true(slept >= 0.09, "slept only " .. slept)
    assert.is_true(sip.now() - t0 >= 0.09)
  end)

  it("raises when a wait is used outside a coroutine", function()
    assert.has_error(function() sip.sleep(0.1) end)
    assert.has_error(function() sip.sleep(-1) end)
  end)

  it("stops cleanly on SIGTERM", function()
    local a, b = sip.on_signals()
    local t = sip.core.timer(5, 0, function() end)
    sip.spawn(function() end)
    sip.core.timer(0.01, 0, function() os.execute("kill -TERM " .. io.open("/proc/self/stat"):read("n")) end)
    local t0 = sip.now()
    sip.run()
    assert.is_true(sip.now() - t0 < 4)
    t:close(); a:close(); b:close()
  end)
end)
