--- sip.auth_common: what the server (sip.auth_server) and the client (sip.auth_client) of
-- sip.auth share: HA1 records by algorithm, the realm of a header value, argument checks.
local type = type

local M = {}

-- HA1 of a -sess algorithm is the base hash; the session part is added per request.
local function base_alg(alg) return (alg:gsub("%-sess$", "")) end

local argerror = require("sip.args").error

local function check_request(req, fname)
  if type(req) ~= "userdata" or not req.is_request then argerror(1, fname, "a request message expected") end
end

-- The realm of a header value that did not parse, to tell ours from another hop's.
local function realm_in(v)
  return v:match('[Rr][Ee][Aa][Ll][Mm]%s*=%s*"([^"]*)"') or v:match("[Rr][Ee][Aa][Ll][Mm]%s*=%s*([^%s,]+)")
end

-- An HA1 record: ha1 as { MD5 = hex, ["SHA-256"] = hex, ... } or one hex string (MD5).
local function ha1_for(ha1, alg)
  if type(ha1) == "string" then return base_alg(alg) == "MD5" and ha1 or nil end
  if type(ha1) ~= "table" then return nil end
  local base = base_alg(alg)
  return ha1[base] or ha1[alg] or ha1[base:lower()] or ha1[alg:lower()]
end

M.base_alg, M.ha1_for, M.realm_in = base_alg, ha1_for, realm_in
M.argerror, M.check_request = argerror, check_request

return M
