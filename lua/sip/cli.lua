--- sip.cli: the command line of a script, declared once: usage text, parsing and checks.
--
--   local cli = require "sip.cli"
--   local o = cli.parse({
--     name = "responder.lua",
--     description = "Answers every request with one code.",
--     options = {
--       { "--listen", "ADDR", "list", help = "a transport to listen on", default = { "udp:127.0.0.1:5090" } },
--       { "--code", "N", "integer", help = "the final code", default = 200, min = 200, max = 699 },
--       { "--log", "LEVEL", "string", one_of = { "warn", "info" }, default = "warn" },
--       { "--message", "URI TEXT", 2, help = "send TEXT to URI" },
--       { "--quiet", kind = "flag", help = "print nothing" },
--     },
--     check = function(o) if ... then return nil, "why" end return true end,  -- across options
--   }, arg)
--   -- o.listen = { ... }, o.code = 200, o.log = "warn", o.message = { uri, text }, o.quiet = false
--
-- An option is { name, metavar, kind, help =, default =, required =, one_of =, min =, max =,
-- check = fn(value) -> true | nil, why } (name, metavar and kind also by those keys). Kinds:
-- "flag" (true when given, else false), "string", "number", "integer", "list" (a string, repeatable:
-- an array of every value given) and a count n >= 2 (n strings: an array). The key of a value is
-- the name without its dashes, '-' turned into '_' ("--register-policy" -> register_policy).
-- --help and -h print the usage and exit 0. Anything wrong (an unknown option, a missing or bad
-- value, a failed check) writes "NAME: what is wrong" and the usage to stderr and exits 2; with
-- cli.parse(spec, argv, { exit = false }) it returns nil, what, 2 instead (nil, usage, 0 for --help).
-- A malformed spec is misuse and raises. cli.sip_uri is the check of an option that takes a SIP URI.
-- Every script also takes --dns HOST:PORT (repeatable; built in unless the spec declares it): the
-- name servers sip.resolver asks, set when the command line parses.
-- @module sip.cli
local format, concat, rep = string.format, table.concat, string.rep

local M = {}

local KINDS = { flag = true, string = true, number = true, integer = true, list = true }
local WIDTH = 79

-- Raised without a position; compiled() gives it the caller's.
local function argerror(fname, msg)
  error(format("bad argument #1 to '%s' (%s)", fname, msg), 0)
end

local function key_of(name) return (name:gsub("^%-%-", ""):gsub("%-", "_")) end

local function count_of(o) return math.type(o.kind) == "integer" and o.kind or 1 end

-- One option of the spec, checked, with its fields by name.
local function normalize(o, i, fname)
  if type(o) ~= "table" then argerror(fname, format("options[%d] must be a table", i)) end
  local n = {
    name = o.name or o[1], metavar = o.metavar or o[2], kind = o.kind or o[3], help = o.help,
    default = o.default, required = o.required, one_of = o.one_of, min = o.min, max = o.max, check = o.check,
  }
  local where = format("options[%d]", i)
  if type(n.name) ~= "string" or not n.name:find("^%-%-%w[%w%-]*$") then
    argerror(fname, where .. ": the name must look like --word")
  end
  where = n.name
  if n.name == "--help" then argerror(fname, "--help is built in") end
  if n.kind == nil then n.kind = n.metavar and "string" or "flag" end
  if not KINDS[n.kind] and not (math.type(n.kind) == "integer" and n.kind >= 2) then
    argerror(fname, where .. ": kind must be flag, string, number, integer, list or a count >= 2")
  end
  if n.kind == "flag" then
    if n.metavar ~= nil then argerror(fname, where .. ": a flag takes no metavar") end
    if n.default ~= nil and type(n.default) ~= "boolean" then
      argerror(fname, where .. ": a flag's default is a boolean")
    end
  elseif type(n.metavar) ~= "string" then
    argerror(fname, where .. ": a metavar (the value's name in the usage) is needed")
  end
  local count = count_of(n)
  if count > 1 then
    local words = 0
    for _ in n.metavar:gmatch("%S+") do words = words + 1 end
    if words ~= count then argerror(fname, where .. format(": the metavar names %d values", count)) end
  end
  if n.one_of ~= nil then
    if type(n.one_of) ~= "table" or #n.one_of == 0 then
      argerror(fname, where .. ": one_of must be a list of values")
    end
    if n.kind == "flag" then argerror(fname, where .. ": a flag has no one_of") end
  end
  if (n.min ~= nil or n.max ~= nil) and n.kind ~= "number" and n.kind ~= "integer" then
    argerror(fname, where .. ": min and max are for numbers")
  end
  if n.check ~= nil and type(n.check) ~= "function" then argerror(fname, where .. ": check must be a function") end
  if n.help ~= nil and type(n.help) ~= "string" then argerror(fname, where .. ": help must be a string") end
  if n.kind == "list" and n.default ~= nil and type(n.default) ~= "table" then
    argerror(fname, where .. ": a list's default is a table")
  end
  n.key = key_of(n.name)
  return n
end

-- --dns HOST:PORT: the name servers of sip.resolver (RFC 3263 lookups), for tests and split
-- horizon; without it the system's resolv.conf.
local DNS = { "--dns", "HOST:PORT", "list", help = "a name server to ask instead of resolv.conf",
  check = function(v)
    if v:match("^[%w.%-]+:%d+$") or v:match("^%[[%x:.]+%]:%d+$") then return true end
    return nil, "not HOST:PORT"
  end }
-- The TLS options of every example, appended to a spec's options: cli.tls_options(options)
-- returns options. cli.tls(o) turns their parsed values into sip.endpoint's (and sip.ua's,
-- sip.proxy's) options: { tls_cert =, tls_key =, tls_ca =, tls_verify =, tls_clients = }, or
-- nil, what is wrong (cli.parse checks this itself for a spec with these options);
-- cli.with_tls(o, t) adds them to the constructor options t. A tls:
-- listener (--listen tls:HOST:PORT) needs --cert and --key.
local TLS_OPTIONS = {
  { "--cert", "FILE", help = "TLS certificate chain (PEM): our listeners', and ours when a server asks "
    .. "for one (mutual TLS; with --key)" },
  { "--key", "FILE", help = "the private key of --cert (PEM)" },
  { "--tls-ca", "FILE", help = "CA file, or hashed directory, that TLS peers are verified against "
    .. "(default: the system store)" },
  { "--tls-verify", "MODE", one_of = { "on", "off" }, default = "on",
    help = "verify TLS servers: their certificate, and the name of the sips:/tls URI asked for (RFC 5922)" },
  { "--tls-clients", "MODE", one_of = { "none", "request", "require" }, default = "none",
    help = "client certificates our tls: listeners ask for" },
}

local IS_TLS_OPTION = {}
for _, opt in ipairs(TLS_OPTIONS) do IS_TLS_OPTION[opt] = true end

--- Append the TLS options (--cert, --key, --tls-ca, --tls-verify, --tls-clients) to a spec's
-- options; returns options.
function M.tls_options(options)
  for _, opt in ipairs(TLS_OPTIONS) do options[#options + 1] = opt end
  return options
end

--- The constructor options t with cli.tls(o)'s added; returns t.
function M.with_tls(o, t)
  for k, v in pairs(assert(M.tls(o))) do t[k] = v end
  return t
end

--- The parsed TLS options o as sip.endpoint's (and sip.ua's, sip.proxy's) options: { tls_cert =,
-- tls_key =, tls_ca =, tls_verify =, tls_clients = }, or nil, what is wrong.
function M.tls(o)
  if (not o.cert) ~= (not o.key) then return nil, "--cert and --key go together" end
  for _, l in ipairs(o.listen or {}) do
    local p = l:lower():match("^(%a+):")
    if (p == "tls" or p == "wss") and not o.cert then return nil, "a " .. p .. ": listener needs --cert and --key" end
  end
  return { tls_cert = o.cert, tls_key = o.key, tls_ca = o.tls_ca, tls_verify = o.tls_verify ~= "off",
    tls_clients = o.tls_clients }
end

-- The spec, checked once per table (parse and usage share the result).
local checked = setmetatable({}, { __mode = "k" })
local function compile(spec, fname)
  if type(spec) ~= "table" then argerror(fname, "spec table expected") end
  if checked[spec] then return checked[spec] end
  if type(spec.name) ~= "string" then argerror(fname, "spec.name (the script's name) must be a string") end
  if type(spec.options) ~= "table" then argerror(fname, "spec.options must be a table") end
  if spec.check ~= nil and type(spec.check) ~= "function" then argerror(fname, "spec.check must be a function") end
  local c = { spec = spec, list = {}, by_name = {} }
  for i, o in ipairs(spec.options) do
    local n = normalize(o, i, fname)
    if c.by_name[n.name] then argerror(fname, n.name .. " is declared twice") end
    if IS_TLS_OPTION[o] then c.tls = true end
    c.by_name[n.name] = n
    c.list[#c.list + 1] = n
  end
  if not c.by_name["--dns"] then -- every script reaches names: built in, like --help
    local n = normalize(DNS, #spec.options + 1, fname)
    c.by_name[n.name] = n
    c.list[#c.list + 1] = n
  end
  checked[spec] = c
  return c
end

local function compiled(spec, fname)
  local ok, c = pcall(compile, spec, fname)
  if not ok then error(c, 3) end
  return c
end

-- Words of text in lines of at most width columns, every line after the first indented.
local function wrap(text, width, indent, first_used)
  local lines, line, used = {}, {}, first_used or 0
  for word in text:gmatch("%S+") do
    if #line > 0 and used + 1 + #word > width then
      lines[#lines + 1] = concat(line, " ")
      line, used = {}, indent
    end
    used = used + (#line > 0 and 1 or 0) + #word
    line[#line + 1] = word
  end
  lines[#lines + 1] = concat(line, " ")
  return concat(lines, "\n" .. rep(" ", indent))
end

local function show(v)
  if type(v) == "table" then return concat(v, ", ") end
  return tostring(v)
end

local function synopsis_word(n)
  return n.kind == "flag" and n.name or (n.name .. " " .. n.metavar)
end

--- The usage text built from the spec: synopsis, description, one entry per option.
function M.usage(spec)
  local c = compiled(spec, "cli.usage")
  local out = {}
  local syn = spec.synopsis
  if not syn then
    local words = {}
    for _, n in ipairs(c.list) do
      if n.required then words[#words + 1] = synopsis_word(n) .. (n.kind == "list" and "..." or "") end
    end
    if #words < #c.list then words[#words + 1] = "[options]" end
    syn = concat(words, " ")
  end
  out[1] = wrap("usage: " .. spec.name .. " " .. syn, WIDTH, 8)
  if spec.description then out[#out + 1] = "\n" .. wrap(spec.description, WIDTH, 0) end
  out[#out + 1] = "\noptions:"
  local entries = {}
  local col = #"-h, --help"
  for _, n in ipairs(c.list) do
    local left = synopsis_word(n)
    local notes = {}
    if n.required then notes[#notes + 1] = "required" end
    if n.kind == "list" then notes[#notes + 1] = "repeatable" end
    if n.one_of then notes[#notes + 1] = "one of " .. concat(n.one_of, "|") end
    if n.min and n.max then notes[#notes + 1] = format("%s to %s", n.min, n.max)
    elseif n.min then notes[#notes + 1] = "at least " .. n.min
    elseif n.max then notes[#notes + 1] = "at most " .. n.max end
    if n.default ~= nil and n.kind ~= "flag" and not (type(n.default) == "table" and #n.default == 0) then
      notes[#notes + 1] = "default " .. show(n.default)
    end
    local right = n.help or ""
    if #notes > 0 then right = right .. (right ~= "" and " " or "") .. "(" .. concat(notes, "; ") .. ")" end
    entries[#entries + 1] = { left, right }
    if #left > col then col = #left end
  end
  entries[#entries + 1] = { "-h, --help", "print this and exit" }
  col = math.min(col, 28)
  for _, e in ipairs(entries) do
    local left, right = "  " .. e[1], e[2]
    if #e[1] > col then
      out[#out + 1] = left
      left = rep(" ", col + 2)
    else
      left = left .. rep(" ", col - #e[1])
    end
    out[#out + 1] = left .. "  " .. wrap(right, WIDTH, col + 4, col + 4)
  end
  return concat(out, "\n") .. "\n"
end

-- One value of option n from the word v: the value, or nil and what is wrong.
local function convert(n, v)
  local x = v
  if n.kind == "number" or n.kind == "integer" then
    x = tonumber(v)
    if n.kind == "integer" then x = x and math.tointeger(x) end
    if not x or x ~= x or x == math.huge or x == -math.huge then
      return nil, format("%s needs %s, not '%s'", n.name, n.kind == "integer" and "a whole number" or "a number", v)
    end
    if (n.min and x < n.min) or (n.max and x > n.max) then
      local range = n.min and n.max and format("from %s to %s", n.min, n.max)
        or n.min and ("at least " .. n.min) or ("at most " .. n.max)
      return nil, format("%s must be %s, not %s", n.name, range, v)
    end
  end
  if n.one_of then
    local found = false
    for _, allowed in ipairs(n.one_of) do
      if x == allowed then found = true end
    end
    if not found then
      return nil, format("%s must be one of %s, not '%s'", n.name, concat(n.one_of, "|"), v)
    end
  end
  return x
end

local function run_check(n, value)
  if not n.check then return true end
  local ok, why = n.check(value)
  if ok then return true end
  return nil, format("%s %s: %s", n.name, show(value), why or "not accepted")
end

local function copy(t)
  local out = {}
  for i, v in ipairs(t) do out[i] = v end
  return out
end

-- The values of argv under c: a table, or nil, what is wrong, and the exit status.
local function parse(c, argv)
  local values = {}
  local i, last = 1, argv.n or #argv
  while i <= last do
    local word = argv[i]
    if word == "--help" or word == "-h" then return nil, M.usage(c.spec), 0 end
    local name, inline = word:match("^(%-%-[^=]+)=(.*)$")
    name = name or word
    local n = c.by_name[name]
    if not n then
      if word:sub(1, 1) == "-" then return nil, "unknown option " .. name, 2 end
      return nil, "unexpected argument '" .. word .. "'", 2
    end
    i = i + 1
    if n.kind == "flag" then
      if inline then return nil, n.name .. " takes no value", 2 end
      values[n.key] = true
    else
      local count = count_of(n)
      local words = {}
      if inline then words[1] = inline end
      while #words < count and i <= last do
        words[#words + 1] = argv[i]
        i = i + 1
      end
      if #words < count then
        return nil, format("%s needs %s", n.name, count == 1 and ("a value (" .. n.metavar .. ")") or n.metavar), 2
      end
      local value
      if count > 1 then
        value = words
      else
        local err
        value, err = convert(n, words[1])
        if value == nil then return nil, err, 2 end
      end
      local ok, err = run_check(n, value)
      if not ok then return nil, err, 2 end
      if n.kind == "list" then
        values[n.key] = values[n.key] or {}
        local l = values[n.key]
        l[#l + 1] = value
      else
        values[n.key] = value
      end
    end
  end
  for _, n in ipairs(c.list) do
    if values[n.key] == nil then
      if n.required then return nil, "missing " .. synopsis_word(n), 2 end
      local d = n.default
      if n.kind == "flag" then d = d or false
      elseif n.kind == "list" then d = copy(d or {})
      elseif type(d) == "table" then d = copy(d) end
      values[n.key] = d
    end
  end
  if c.spec.check then
    local ok, why = c.spec.check(values)
    if not ok then return nil, why or "the options do not go together", 2 end
  end
  if c.tls then
    local ok, why = M.tls(values)
    if not ok then return nil, why, 2 end
  end
  return values
end

--- cli.parse(spec, argv[, {exit = false}]): the values of the options in argv (the script's arg).
function M.parse(spec, argv, how)
  local c = compiled(spec, "cli.parse")
  if type(argv) ~= "table" then error("bad argument #2 to 'cli.parse' (argv must be a table: the script's arg)", 2) end
  local values, what, status = parse(c, argv)
  if values then
    if values.dns and #values.dns > 0 then require("sip.resolver").configure { servers = values.dns } end
    return values
  end
  if how and how.exit == false then return nil, what, status end
  if status == 0 then
    io.stdout:write(what)
    io.stdout:flush()
  else
    io.stderr:write(spec.name, ": ", what, "\n", M.usage(spec))
  end
  os.exit(status)
end

--- A check for options that take a SIP URI: a sip: or sips: URI sip.uri can parse.
function M.sip_uri(v)
  local u = require("sip").uri(v)
  if u and (u.scheme == "sip" or u.scheme == "sips") then return true end
  return nil, "not a sip: or sips: URI"
end

-- The options of connection flows (RFC 5626) the examples share: --keepalive S (a UA's CRLF
-- pings on a TCP or TLS registration, 0 none) and --idle-timeout S (connections idle this long
-- close; a flow that carries a live binding stays). cli.flow_options(options[, {ua = false}])
-- appends them to a spec's options (a server takes only --idle-timeout) and returns options;
-- o.keepalive and o.idle_timeout are the options of the same names of sip.ua, sip.endpoint and
-- sip.proxy.
local FLOW_OPTIONS = {
  { "--keepalive", "S", "number", min = 0, ua = true,
    help = "seconds between the keepalive pings of a TCP or TLS registration (RFC 5626; default 90, 0: none)" },
  { "--idle-timeout", "S", "number", check = function(v) return v ~= 0, "seconds > 0, or negative for never" end,
    help = "close a connection idle this long (default 120; a flow that carries a binding stays open)" },
}

--- Append --keepalive S and --idle-timeout S to a spec's options (a server, how = {ua = false},
-- takes only --idle-timeout); returns options.
function M.flow_options(options, how)
  local ua = not (how and how.ua == false)
  for _, opt in ipairs(FLOW_OPTIONS) do
    if ua or not opt.ua then
      options[#options + 1] = { opt[1], opt[2], opt[3], min = opt.min, check = opt.check, help = opt.help }
    end
  end
  return options
end

--- cli.fail(spec, what): for a problem found after parsing; "NAME: what" and the usage, exit 2.
function M.fail(spec, what)
  io.stderr:write(spec.name, ": ", what, "\n", M.usage(spec))
  os.exit(2)
end

return M
