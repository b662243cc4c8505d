--- sip.auth: Digest authentication for SIP in both roles (RFC 3261 §22, RFC 7616, RFC 8760).
-- The server challenges and verifies requests (registrars, UAS, proxies); the client answers
-- 401/407 challenges and pre-authorizes later requests with cached nonces. The hashing, nonces
-- and replay table are the C core (sip.core.digest), the counting of guesses sip.auth_lockout;
-- these files are the SIP wiring around them.
--
-- This is the front of three files: sip.auth_server (auth.server, auth.lockout, auth.read_users_file),
-- sip.auth_client (auth.client) and sip.auth_common (what the two share).
-- @module sip.auth
local server = require "sip.auth_server"
local client = require "sip.auth_client"

return {
  server = server.server,                   -- auth.server{...} -> server | nil, err
  lockout = server.lockout,                 -- auth.lockout{...} -> a lockout to share between servers
  read_users_file = server.read_users_file, -- shared with sip.proxy's --users
  client = client.client,                   -- auth.client{...} -> client
}
