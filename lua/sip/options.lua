--- sip.options: the one check of every options table of the public API.
-- Each constructor and method that takes options declares its schema once, next to its code:
--
--   local OPTS = options.schema("proxy", { realm = "string", route = "function", ... }, inherited)
--   OPTS:check(t)          -- raises "bad argument #1 to 'proxy' (unknown option 'rout' (did you
--                          -- mean 'route'?))" or "(option 'realm' must be a string, got number)"
--
-- A field's type is a Lua type name ("string", "number", "integer", "boolean", "function",
-- "table", "userdata"), a union of them ("string|table"), "seconds" (a number > 0), "any" (the
-- function checks it itself), a nested
-- schema (a table of options, checked key by key under "name."), or a function(v) -> true |
-- false, why. A new option is one line in its schema; schemas given after the fields are merged
-- in (the endpoint's transport options reach sip.ua and sip.proxy that way).
-- @module sip.options
local argerror = require("sip.args").error

local type, pairs, tostring, format = type, pairs, tostring, string.format
local mtype = math.type

local M = {}
local Schema = {}
Schema.__index = Schema
Schema.__name = "sip.options.schema"
function Schema:__tostring() return "sip.options.schema: " .. self.fname end

local function is_schema(v) return getmetatable(v) == Schema end

--- A schema for the options of the function named fname (as errors name it).
function M.schema(fname, fields, ...)
  local all = {}
  for i = 1, select("#", ...) do
    for k, v in pairs((select(i, ...)).fields) do all[k] = v end
  end
  for k, v in pairs(fields) do all[k] = v end
  return setmetatable({ fname = fname, fields = all }, Schema)
end

--- The options of t that this schema declares, in a new table: what a layer passes down.
function Schema:pick(t)
  local out = {}
  if t then
    for k in pairs(self.fields) do out[k] = t[k] end
  end
  return out
end

-- Levenshtein distance, for suggestions (the names are short).
local function distance(a, b)
  local prev, cur = {}, {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    cur[0] = i
    local ca = a:byte(i)
    for j = 1, #b do
      local cost = ca == b:byte(j) and 0 or 1
      local d = prev[j] + 1
      if cur[j - 1] + 1 < d then d = cur[j - 1] + 1 end
      if prev[j - 1] + cost < d then d = prev[j - 1] + cost end
      cur[j] = d
    end
    prev, cur = cur, prev
  end
  return prev[#b]
end

--- The known name closest to name (at most two edits, fewer than its length), or nil.
function M.suggest(name, known)
  local best, best_d
  for k in pairs(known) do
    local d = distance(name:lower(), k)
    if d <= 2 and d < #name and (not best_d or d < best_d or (d == best_d and k < best)) then
      best, best_d = k, d
    end
  end
  return best
end

local function type_ok(v, want)
  local t = type(v)
  for name in want:gmatch("[^|]+") do
    if name == t or name == "any" or (name == "integer" and mtype(v) == "integer")
        or (name == "seconds" and t == "number" and v > 0) then
      return true
    end
  end
  return false
end

local function article(want)
  local first = want:match("^[^|]+")
  local a = first:find("^[aeiou]") and "an " or "a "
  if want:find("|", 1, true) then return a .. want:gsub("|", " or ") end
  if want == "seconds" then return "a number of seconds > 0" end
  return a .. want
end

local function got(v)
  if type(v) == "string" then return format("%q", v) end
  return type(v) == "table" and "table" or tostring(v)
end

-- The problem with t under this schema, or nil. prefix names a nested table ("media.").
local function problem(schema, t, prefix)
  local fields = schema.fields
  for k, v in pairs(t) do
    if type(k) ~= "string" then
      return format("unexpected value at [%s] (options are named: {%sname = value})", tostring(k), prefix)
    end
    local want = fields[k]
    if want == nil then
      local s = M.suggest(k, fields)
      return format("unknown option '%s%s'%s", prefix, k, s and format(" (did you mean '%s%s'?)", prefix, s) or "")
    end
    local tw = type(want)
    if tw == "string" then
      if not type_ok(v, want) then
        return format("option '%s%s' must be %s, got %s", prefix, k, article(want), got(v))
      end
    elseif is_schema(want) then
      if type(v) ~= "table" then return format("option '%s%s' must be a table, got %s", prefix, k, got(v)) end
      local p = problem(want, v, prefix .. k .. ".")
      if p then return p end
    else
      local ok, why = want(v)
      if not ok then return format("option '%s%s' %s", prefix, k, why) end
    end
  end
  return nil
end

--- Check t (nil is no options) against the schema; raise "bad argument #i to 'fname' (...)"
-- at the caller of the function that called this (depth: levels of helpers in between).
-- Returns t, or an empty table for nil.
function Schema:check(t, i, depth)
  if t == nil then return {} end
  i = i or 1
  if type(t) ~= "table" then argerror(i, self.fname, "options table expected, got " .. got(t), 1 + (depth or 0)) end
  local p = problem(self, t, "")
  if p then argerror(i, self.fname, p, 1 + (depth or 0)) end
  return t
end

--- The problem with t, or nil (for code that reports it its own way).
function Schema:problem(t) return problem(self, t, "") end

return M
