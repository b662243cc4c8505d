--- sip.location_sqlite: the location service in an SQLite file (Debian's lua-sql-sqlite3).
-- Write-through: every put() is one SQL transaction committed before it returns (WAL journal,
-- synchronous=NORMAL: a committed REGISTER survives the process being killed), and reads come
-- from the in-memory copy loaded at open. One process owns the file; several proxies sharing
-- bindings want a networked store behind the same interface (see sip.location).
-- @module sip.location_sqlite
local ok_luasql, luasql = pcall(require, "luasql.sqlite3")

local M = {}

local format, concat, type, tostring, tonumber = string.format, table.concat, type, tostring, tonumber
local setmetatable, pairs, ipairs = setmetatable, pairs, ipairs

local SQLite = {}
SQLite.__index = SQLite
SQLite.__name = "sip.location.sqlite"
function SQLite:__tostring() return "sip.location.sqlite (" .. tostring(self.path) .. ")" end

local SCHEMA = {
  [[CREATE TABLE IF NOT EXISTS bindings (
      aor TEXT NOT NULL, pos INTEGER NOT NULL, contact TEXT NOT NULL, expires INTEGER NOT NULL,
      q REAL, call_id TEXT, cseq INTEGER, params TEXT, path TEXT,
      src_proto TEXT, src_host TEXT, src_port INTEGER, src_conn INTEGER, nat INTEGER,
      updated INTEGER, user_agent TEXT, PRIMARY KEY (aor, pos))]],
  "CREATE INDEX IF NOT EXISTS bindings_expires ON bindings (expires)",
}

-- An SQL literal. Text with a NUL cannot go into a TEXT literal: it goes in as a blob, which
-- comes back as the same Lua string.
local function lit(v)
  if v == nil then return "NULL" end
  if type(v) == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "NULL" end
    return math.type(v) == "integer" and tostring(v) or format("%.17g", v)
  end
  if v == true then return "1" end
  if v == false then return "0" end
  v = tostring(v)
  if v:find("\0", 1, true) then
    return "X'" .. v:gsub(".", function(c) return format("%02X", c:byte()) end) .. "'"
  end
  return "'" .. v:gsub("'", "''") .. "'"
end

local function exec(self, sql)
  local r, err = self.conn:execute(sql)
  if r == nil then return nil, "sqlite: " .. tostring(err) end
  return r
end

local function row_to_binding(r)
  local path
  if r.path and r.path ~= "" then
    path = {}
    for p in (r.path .. "\n"):gmatch("([^\n]*)\n") do path[#path + 1] = p end
  end
  local source
  if r.src_proto then
    source = { proto = r.src_proto, host = r.src_host, port = math.tointeger(tonumber(r.src_port)),
      conn = math.tointeger(tonumber(r.src_conn)) }
  end
  return {
    contact = r.contact, expires = math.tointeger(tonumber(r.expires)), q = tonumber(r.q),
    call_id = r.call_id, cseq = math.tointeger(tonumber(r.cseq)), params = r.params, path = path,
    source = source, nat = tonumber(r.nat) == 1 or nil, updated = math.tointeger(tonumber(r.updated)),
    user_agent = r.user_agent,
  }
end

--- Open (or create) the store in an SQLite file and load its live bindings; usually reached
-- through `sip.location.open("sqlite:PATH")`.
-- @tparam string path the file
-- @tparam[opt] table opts `clock` as in sip.location (default sip.loop.time)
-- @treturn SQLite the store
-- @return[2] nil
-- @treturn[2] string why, naming the file (luasql.sqlite3 missing, cannot open, SQL error)
function M.open(path, opts)
  opts = opts or {}
  if not ok_luasql then
    return nil, "sqlite location needs luasql.sqlite3 (Debian: apt-get install lua-sql-sqlite3)"
  end
  local env, eerr = luasql.sqlite3()
  if not env then return nil, "sqlite: " .. tostring(eerr) end
  local conn, cerr = env:connect(path)
  if not conn then
    env:close()
    return nil, "sqlite: cannot open " .. path .. ": " .. tostring(cerr)
  end
  local self = setmetatable({ env = env, conn = conn, path = path, map = {},
    clock = opts.clock or require("sip.loop").time,
    kind = "sqlite" }, SQLite)
  local function fail(err)
    self:close()
    return nil, err
  end
  -- WAL: a commit is one append; NORMAL: durable against a crash of this process
  for _, s in ipairs { "PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=2000" } do
    local cur = conn:execute(s)
    if type(cur) == "userdata" then cur:close() end
  end
  for _, s in ipairs(SCHEMA) do
    local ok, err = exec(self, s)
    if not ok then return fail(err) end
  end
  local cur, err = exec(self, "SELECT * FROM bindings WHERE expires > " .. lit(self.clock()) .. " ORDER BY aor, pos")
  if not cur then return fail(err) end
  local row = cur:fetch({}, "a")
  while row do
    local list = self.map[row.aor]
    if not list then
      list = {}
      self.map[row.aor] = list
    end
    list[#list + 1] = row_to_binding(row)
    row = cur:fetch({}, "a")
  end
  cur:close()
  return self
end

local function check(self)
  if not self.conn then error("location store is closed", 3) end
end

--- The current bindings of an address-of-record (RFC 3261 §10.3), expired ones hidden.
-- @tparam string aor the canonical AOR (sip.location.aor)
-- @treturn table the list of bindings, maybe empty (read it, never change it)
-- @raise when the store is closed
function SQLite:get(aor)
  check(self)
  local list = self.map[aor]
  if not list then return {} end
  local now = self.clock()
  for i = 1, #list do
    if list[i].expires <= now then -- leave the rows to sweep(); hide them now
      local keep = {}
      for _, b in ipairs(list) do
        if b.expires > now then keep[#keep + 1] = b end
      end
      return keep
    end
  end
  return list
end

--- Replace every binding of an AOR at once, in one SQL transaction committed before it returns.
-- @tparam string aor the canonical AOR
-- @tparam table list the bindings (an empty list removes the AOR)
-- @return true
-- @return[2] nil
-- @treturn[2] string the SQL error (nothing was changed)
-- @raise when the store is closed or the arguments are not a string and a table
function SQLite:put(aor, list)
  check(self)
  if type(aor) ~= "string" or type(list) ~= "table" then error("put(aor, list): a string and a table expected", 2) end
  -- luasql runs one statement per execute(): BEGIN, DELETE, INSERT..., COMMIT
  local stmts = { "DELETE FROM bindings WHERE aor = " .. lit(aor) }
  for i, b in ipairs(list) do
    local s = b.source or {}
    stmts[#stmts + 1] = "INSERT INTO bindings VALUES (" .. concat({
      lit(aor), lit(i), lit(b.contact), lit(math.tointeger(b.expires) or 0), lit(b.q), lit(b.call_id),
      lit(b.cseq), lit(b.params), lit(b.path and concat(b.path, "\n") or nil), lit(s.proto), lit(s.host),
      lit(s.port), lit(s.conn), lit(b.nat and 1 or 0), lit(b.updated), lit(b.user_agent),
    }, ", ") .. ")"
  end
  local ok, err = exec(self, "BEGIN IMMEDIATE")
  if not ok then return nil, err end
  for _, s in ipairs(stmts) do
    ok, err = exec(self, s)
    if not ok then break end
  end
  if ok then ok, err = exec(self, "COMMIT") end
  if not ok then
    exec(self, "ROLLBACK")
    return nil, err
  end
  self.map[aor] = #list > 0 and list or nil
  return true
end

--- Remove the expired bindings, from memory and from the file.
-- @tparam[opt] number now the time (default: the store's clock)
-- @treturn int how many bindings were removed
-- @raise when the store is closed
function SQLite:sweep(now)
  check(self)
  now = now or self.clock()
  local n = 0
  for aor, list in pairs(self.map) do
    local keep = {}
    for _, b in ipairs(list) do
      if b.expires > now then keep[#keep + 1] = b else n = n + 1 end
    end
    if #keep < #list then self.map[aor] = #keep > 0 and keep or nil end
  end
  exec(self, "DELETE FROM bindings WHERE expires <= " .. lit(now))
  return n
end

--- The AORs that have bindings, sorted.
-- @treturn {string,...} the AORs
-- @raise when the store is closed
function SQLite:aors()
  check(self)
  local out = {}
  for aor in pairs(self.map) do out[#out + 1] = aor end
  table.sort(out)
  return out
end

--- Close the file; idempotent (also the store's __gc and __close).
function SQLite:close()
  if self.conn then
    self.conn:close()
    self.conn = nil
  end
  if self.env then
    self.env:close()
    self.env = nil
  end
  self.map = {}
end
SQLite.__gc = SQLite.close
SQLite.__close = SQLite.close

M._internal = { SQLite = SQLite }

return M
