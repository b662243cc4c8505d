--- support.pki: a test certificate authority made by `openssl` in a temp dir of the spec's own.
--
--   local pki = require "support.pki"
--   local ca <close> = pki.ca()                          -- ca.ca: the CA certificate's path
--   local srv = ca:issue("sip.example.test", { dns = { "sip.example.test" },
--     uri = { "sip:sip.example.test" } })               -- srv.cert, srv.key: paths
--   local ip = ca:issue("loopback", { ip = { "127.0.0.1" } })
--
-- Keys are P-256, certificates valid for two days, for server and client use both (RFC 5922
-- §7.1 names come from subjectAltName: URI, DNS and IP entries; cn sets the subject's Common
-- Name, the name itself by default). ca:close() removes the dir (also at garbage collection).
local pki = {}

local CA = {}
CA.__index = CA
CA.__name = "pki.ca"

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1", "r"))
  local out = p:read("a")
  local ok = p:close()
  if not ok then error("openssl failed: " .. cmd .. "\n" .. out, 3) end
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local KEY = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"

--- A new CA; o.name: its Common Name (default "lua-sip test CA").
function pki.ca(o)
  o = o or {}
  local p = assert(io.popen("mktemp -d /tmp/lua-sip-pki.XXXXXX"))
  local dir = p:read("l")
  p:close()
  local self = setmetatable({ dir = dir, ca = dir .. "/ca.pem", key = dir .. "/ca.key", serial = 0 }, CA)
  run(("openssl req -x509 %s -keyout %s -out %s -days 2 -subj %s -addext %s -addext %s"):format(KEY,
    q(self.key), q(self.ca), q("/CN=" .. (o.name or "lua-sip test CA")), q("basicConstraints=critical,CA:TRUE"),
    q("keyUsage=critical,keyCertSign,cRLSign")))
  return self
end

--- A certificate and key signed by this CA: {cert =, key =, name =} (paths in the CA's dir).
-- o: dns, uri, ip (lists for subjectAltName), cn (default name; false: none).
function CA:issue(name, o)
  o = o or {}
  self.serial = self.serial + 1
  local base = ("%s/%d-%s"):format(self.dir, self.serial, name:gsub("[^%w%.%-]", "_"))
  local san = {}
  for _, d in ipairs(o.dns or {}) do san[#san + 1] = "DNS:" .. d end
  for _, u in ipairs(o.uri or {}) do san[#san + 1] = "URI:" .. u end
  for _, i in ipairs(o.ip or {}) do san[#san + 1] = "IP:" .. i end
  local ext = { "basicConstraints=CA:FALSE", "keyUsage=digitalSignature,keyEncipherment",
    "extendedKeyUsage=serverAuth,clientAuth" }
  if #san > 0 then ext[#ext + 1] = "subjectAltName=" .. table.concat(san, ",") end
  write(base .. ".ext", table.concat(ext, "\n") .. "\n")
  local cn = o.cn == nil and name or o.cn
  local subj = cn and ("/CN=" .. cn) or "/O=lua-sip tests"
  run(("openssl req -new %s -keyout %s -out %s -subj %s"):format(KEY, q(base .. ".key"), q(base .. ".csr"), q(subj)))
  run(("openssl x509 -req -in %s -CA %s -CAkey %s -set_serial %d -out %s -days 2 -extfile %s"):format(
    q(base .. ".csr"), q(self.ca), q(self.key), self.serial + 1000, q(base .. ".pem"), q(base .. ".ext")))
  return { cert = base .. ".pem", key = base .. ".key", name = name }
end

--- A self-signed certificate outside this CA (for "who does not trust it").
function CA:self_signed(name, o)
  o = o or {}
  self.serial = self.serial + 1
  local base = ("%s/%d-self-%s"):format(self.dir, self.serial, name)
  local san = {}
  for _, d in ipairs(o.dns or { name }) do san[#san + 1] = "DNS:" .. d end
  run(("openssl req -x509 %s -keyout %s -out %s -days 2 -subj %s -addext %s"):format(KEY, q(base .. ".key"),
    q(base .. ".pem"), q("/CN=" .. name), q("subjectAltName=" .. table.concat(san, ","))))
  return { cert = base .. ".pem", key = base .. ".key", name = name }
end

function CA:close()
  if self.dir and self.dir:find("^/tmp/lua%-sip%-pki%.") then os.execute("rm -rf " .. q(self.dir)) end
  self.dir = nil
end

CA.__close = CA.close
CA.__gc = CA.close

return pki
