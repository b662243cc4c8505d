-- The free-block cache in front of the Lua allocator (csrc/lsip_alloc.c): installed over the
-- standard allocator when asked, never by require, bounded, and invisible to Lua's semantics.
local core = require "sip.core"

-- n small tables made, then freed and collected: what the cache holds after.
local function churn(n)
  do
    local big = {}
    for i = 1, n do big[i] = { i } end
    assert.equal(n, #big)
  end
  collectgarbage()
  collectgarbage()
  return core.alloc_cache()
end

describe("the allocator's free-block cache", function()
  it("is not installed by require, only by sip.core.install_alloc_cache()", function()
    local out = io.popen([[lua5.4 -e 'local c = require "sip.core"; io.write(tostring(c.alloc_cache()), " ",
      tostring(c.install_alloc_cache()), " ", math.type(c.alloc_cache()), " ", tostring(c.install_alloc_cache()))']]):read("a")
    assert.equal("nil true integer true", out)
  end)

  it("is installed over lauxlib's allocator", function()
    assert.is_true(core.install_alloc_cache())
    assert.is_number(core.alloc_cache())
  end)

  it("reports what malloc has handed out and holds free, for the memory benchmarks", function()
    local cached, used, free = core.alloc_cache()
    assert.is_number(cached)
    assert.is_true(math.type(used) == "integer" and used > cached)
    assert.is_true(math.type(free) == "integer" and free >= 0)
    local keep = {}
    for i = 1, 20000 do keep[i] = string.rep("x", 200) .. i end -- about 4.5 MB more
    local _, more = core.alloc_cache()
    assert.is_true(more > used + 2 * 1024 * 1024)
    assert.equal(20000, #keep) -- still held while measured
  end)

  it("hands freed blocks out again without mixing contents, for every size class", function()
    for round = 1, 3 do
      do -- the blocks go back to the cache when keep goes out of scope
        local keep = {}
        for n = 1, 1100, 7 do -- strings and tables from a few bytes to past the largest class
          local s = string.rep(string.char(65 + n % 26), n) .. round
          keep[#keep + 1] = { s = s, n = n, t = { n, n + 1, n + 2 } }
        end
        collectgarbage()
        for _, e in ipairs(keep) do
          assert.equal(e.n + #tostring(round), #e.s)
          assert.equal(string.char(65 + e.n % 26), e.s:sub(1, 1))
          assert.same({ e.n, e.n + 1, e.n + 2 }, e.t)
        end
      end
      collectgarbage()
    end
  end)

  it("gives blocks back on trim_memory(keep): the cache down to keep bytes, malloc's free pages", function()
    local held = churn(100000)
    assert.is_true(held > 2 * 1024 * 1024)
    local given = core.trim_memory(1024 * 1024)
    assert.is_true(given >= held - 1024 * 1024 - 4096) -- what Lua took in between aside
    assert.is_true(core.alloc_cache() <= 1024 * 1024 + 4096)
    assert.is_true(math.type(core.trim_memory()) == "integer") -- default: down to 4 MiB
    assert.has_error(function() core.trim_memory(-1) end)
  end)

  it("keeps what it holds bounded (16 MiB)", function()
    local held = churn(200000) -- about 12 MiB of small tables
    assert.is_true(held > 0)
    assert.is_true(held <= 16 * 1024 * 1024)
  end)
end)
