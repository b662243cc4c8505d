-- sip.location: the location service contract (RFC 3261 §10.3), the same for every backend:
-- memory and SQLite (a file that survives a restart). A fake clock drives expiry and sweeping.
local location = require "sip.location"

local have_sqlite = pcall(require, "luasql.sqlite3")

local function tmpdb()
  local p = os.tmpname()
  os.remove(p)
  return p .. ".db"
end

local function remove_db(path)
  for _, suffix in ipairs { "", "-wal", "-shm" } do os.remove(path .. suffix) end
end

local function binding(contact, expires, extra)
  local b = { contact = contact, expires = expires, call_id = "c1@host", cseq = 1, updated = 0 }
  for k, v in pairs(extra or {}) do b[k] = v end
  return b
end

-- What a backend must keep of a binding.
local function fields(b)
  local s = b.source and { proto = b.source.proto, host = b.source.host, port = b.source.port } or nil
  return { contact = b.contact, expires = b.expires, q = b.q, call_id = b.call_id, cseq = b.cseq,
    params = b.params, path = b.path, source = s, nat = b.nat or nil, user_agent = b.user_agent }
end

local function all_fields(list)
  local out = {}
  for i, b in ipairs(list) do out[i] = fields(b) end
  return out
end

describe("sip.location", function()
  describe("aor() canonical form (§10.3 step 5)", function()
    local cases = {
      { "sip:alice@example.com", "sip:alice@example.com" },
      { "sip:alice@EXAMPLE.com;transport=tcp", "sip:alice@example.com" },
      { "sip:%61lice@example.com;user=phone", "sip:alice@example.com" },
      { "sips:alice@example.com", "sips:alice@example.com" },
      { "sip:alice@example.com:5070", "sip:alice@example.com:5070" },
      { "sip:example.com", "sip:example.com" },
      { "sip:null-%00-null@example.com", "sip:null-%00-null@example.com" },
      { "sip:a%20b@example.com", "sip:a%20b@example.com" },
      { "sip:+1-212-555-1212;npdi@example.com", "sip:+1-212-555-1212;npdi@example.com" },
    }
    for _, c in ipairs(cases) do
      it(c[1] .. " -> " .. c[2], function() assert.equal(c[2], location.aor(c[1])) end)
    end
    it("keeps case in the user part", function()
      assert.are_not.equal(location.aor("sip:Alice@example.com"), location.aor("sip:alice@example.com"))
    end)
    it("refuses what is not a SIP or SIPS URI", function()
      assert.is_nil(location.aor("isbn:2983792873"))
      assert.is_nil(location.aor("tel:+12125551212"))
      assert.is_nil(location.aor("not a uri"))
    end)
  end)

  it("open() raises on misuse and answers nil, err for what fails outside", function()
    assert.has_error(function() location.open("redis:whatever") end)
    assert.has_error(function() location.open(42) end)
    assert.has_error(function() location.open({ get = function() end }) end)
    local store = { get = function() end, put = function() end, sweep = function() end, close = function() end }
    assert.equal(store, location.open(store))
    if have_sqlite then
      local s, err = location.open("sqlite:/nonexistent-dir/x/y.db")
      assert.is_nil(s)
      assert.matches("sqlite", err)
    end
  end)

  local backends = { "memory" }
  if have_sqlite then backends[2] = "sqlite" end

  for _, kind in ipairs(backends) do
    describe(kind .. " backend", function()
      local now, path, store
      local function clock() return now end
      local function open()
        return assert(location.open(kind == "memory" and "memory" or ("sqlite:" .. path), { clock = clock }))
      end
      before_each(function()
        now = 1000
        path = tmpdb()
        store = open()
      end)
      after_each(function()
        store:close()
        remove_db(path)
      end)

      it("an unknown AOR has no bindings", function()
        assert.same({}, store:get("sip:nobody@example.com"))
      end)

      it("put replaces every binding of an AOR at once; get returns them in order", function()
        local a = binding("sip:a@192.0.2.1", 2000, { q = 1 })
        local b = binding("sip:b@192.0.2.2:5070", 3000, { q = 0.5, params = ";+sip.instance=\"<urn:x>\"" })
        assert.is_true(store:put("sip:alice@example.com", { a, b }))
        assert.same(all_fields { a, b }, all_fields(store:get("sip:alice@example.com")))
        assert.is_true(store:put("sip:alice@example.com", { b }))
        assert.same(all_fields { b }, all_fields(store:get("sip:alice@example.com")))
        assert.same({ "sip:alice@example.com" }, store:aors())
      end)

      it("an empty list removes the AOR", function()
        store:put("sip:alice@example.com", { binding("sip:a@192.0.2.1", 2000) })
        store:put("sip:alice@example.com", {})
        assert.same({}, store:get("sip:alice@example.com"))
        assert.same({}, store:aors())
      end)

      it("keeps Path, the source address, NAT flag and user agent (RFC 3327, RFC 3581)", function()
        local b = binding("sip:a@10.0.0.5:5060", 2000, {
          path = { "<sip:edge1.example.com;lr>", "<sip:edge2.example.com;lr>" },
          source = { proto = "udp", host = "203.0.113.9", port = 40123 }, nat = true, user_agent = "phone/1.0",
        })
        store:put("sip:alice@example.com", { b })
        assert.same(all_fields { b }, all_fields(store:get("sip:alice@example.com")))
      end)

      it("hides expired bindings; sweep() removes them and counts them", function()
        store:put("sip:alice@example.com", { binding("sip:a@192.0.2.1", 1100), binding("sip:b@192.0.2.2", 5000) })
        store:put("sip:bob@example.com", { binding("sip:c@192.0.2.3", 1200) })
        now = 1150
        local got = store:get("sip:alice@example.com")
        assert.equal(1, #got)
        assert.equal("sip:b@192.0.2.2", got[1].contact)
        now = 1300
        assert.equal(2, store:sweep())
        assert.same({ "sip:alice@example.com" }, store:aors())
        assert.equal(0, store:sweep())
      end)

      it("keeps AORs apart, escapes and NULs included (RFC 4475 §3.1.1.4)", function()
        store:put("sip:null-%00-null@example.com", { binding("sip:%00@host5.example.com", 2000) })
        store:put("sip:null-%00%00-null@example.com", { binding("sip:%00%00@host5.example.com", 2000) })
        assert.equal("sip:%00@host5.example.com", store:get("sip:null-%00-null@example.com")[1].contact)
        assert.equal("sip:%00%00@host5.example.com", store:get("sip:null-%00%00-null@example.com")[1].contact)
      end)

      it("takes values with quotes and raw NULs", function()
        local b = binding("sip:o'brien@192.0.2.1", 2000, { call_id = "it's\0odd", user_agent = "'; DROP TABLE bindings; --" })
        store:put("sip:o'brien@example.com", { b })
        assert.same(all_fields { b }, all_fields(store:get("sip:o'brien@example.com")))
      end)

      if kind == "sqlite" then
        it("bindings survive a restart, and expired ones stay gone", function()
          local list = {}
          for i = 1, 50 do
            list[i] = binding(("sip:u%d@192.0.2.%d"):format(i, i), 1000 + i * 10, { q = i / 100, cseq = i })
          end
          store:put("sip:many@example.com", list)
          store:put("sip:short@example.com", { binding("sip:s@192.0.2.200", 1001) })
          store:close()
          now = 1100
          store = open()
          local got = store:get("sip:many@example.com")
          assert.equal(40, #got) -- the first 10 expired while we were down (1010 .. 1100)
          assert.same(all_fields { table.unpack(list, 11) }, all_fields(got))
          assert.same({}, store:get("sip:short@example.com"))
        end)

        it("a committed put is on disk before it returns (a second reader sees it)", function()
          store:put("sip:alice@example.com", { binding("sip:a@192.0.2.1", 2000) })
          local other = open()
          assert.equal(1, #other:get("sip:alice@example.com"))
          other:close()
        end)

        it("a put on a closed store raises; a failing statement answers nil, err", function()
          local other = open()
          other:close()
          assert.has_error(function() other:put("sip:x@example.com", {}) end)
          assert.has_error(function() store:put(42, {}) end)
          -- a read-only file: the write fails and nothing changes in memory
          store:put("sip:alice@example.com", { binding("sip:a@192.0.2.1", 2000) })
          store:close()
          os.execute("chmod 0444 '" .. path .. "'; rm -f '" .. path .. "-wal' '" .. path .. "-shm'")
          store = open()
          local ok, err = store:put("sip:alice@example.com", {})
          if ok == nil then -- root may write anyway
            assert.matches("sqlite", err)
            assert.equal(1, #store:get("sip:alice@example.com"))
          end
          os.execute("chmod 0644 '" .. path .. "'")
        end)
      end
    end)
  end

  describe("memory backend: the bindings in C (sip.core.location_table)", function()
    local now, store
    before_each(function()
      now = 1000
      store = location.open("memory", { clock = function() return now end })
    end)
    after_each(function() store:close() end)

    it("keeps 20,000 AORs out of the Lua heap (the collector never walks them)", function()
      collectgarbage()
      local before = collectgarbage("count")
      for i = 1, 20000 do
        store:put("sip:u" .. i .. "@example.com", { binding("sip:u" .. i .. "@192.0.2.1:5060", 5000 + i, {
          call_id = "call-" .. i .. "@192.0.2.1", source = { proto = "udp", host = "192.0.2.1", port = 5060 } }) })
      end
      collectgarbage()
      local aors, bytes = store:count()
      assert.equal(20000, aors)
      assert.is_true(bytes > 20000 * 100) -- contact, Call-ID, source: in C
      assert.is_true(collectgarbage("count") - before < 512) -- KiB: the hot lists at most
      assert.equal("call-777@192.0.2.1", store:get("sip:u777@example.com")[1].call_id)
      assert.equal(10000, store:sweep(5000 + 10000))
      assert.equal(10000, (store:count()))
    end)

    it("does not keep a reader's caches (fields named _x), and refuses what it cannot keep", function()
      store:put("sip:a@example.com", { binding("sip:a@192.0.2.1", 2000, { _target = { uri = "x" } }) })
      assert.is_nil(store:get("sip:a@example.com")[1]._target)
      assert.has_error(function() store:put("sip:a@example.com", { binding("sip:a@h", 2000, { f = print }) }) end,
        "put: binding 1: field f is a function (strings, numbers, booleans and tables are kept)")
      assert.has_error(function() store:put("sip:a@example.com", { { contact = "sip:a@h" } }) end,
        "put: binding 1 has no number expires")
      assert.equal(1, #store:get("sip:a@example.com")) -- a refused put changed nothing
    end)

    it("gives the same list again until a put or the first expiry, so readers' caches last", function()
      store:put("sip:a@example.com", { binding("sip:a@192.0.2.1", 2000), binding("sip:b@192.0.2.1", 3000) })
      local l1 = store:get("sip:a@example.com")
      assert.equal(l1, store:get("sip:a@example.com"))
      now = 2000 -- the first binding expires: a new list without it
      local l2 = store:get("sip:a@example.com")
      assert.are_not.equal(l1, l2)
      assert.same({ "sip:b@192.0.2.1" }, { l2[1].contact })
      store:put("sip:a@example.com", { binding("sip:c@192.0.2.1", 4000) })
      assert.equal("sip:c@192.0.2.1", store:get("sip:a@example.com")[1].contact)
    end)
  end)
end)
