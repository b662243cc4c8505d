-- sip.core.digest: Digest authentication (RFC 2617, RFC 7616, RFC 8760) through the Lua API.
local digest = require("sip.core").digest

local R7 = {
  realm = "http-auth@example.org",
  nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
  cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
  opaque = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
  uri = "/dir/index.html",
}

local ALGORITHMS = { "MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess" }

describe("sip.core.digest", function()
  describe("worked examples", function()
    it("RFC 2617 §3.5: Mufasa / Circle Of Life", function()
      assert.equal("6629fae49393a05397450978507c4ef1", digest.response {
        username = "Mufasa", realm = "testrealm@host.com", password = "Circle Of Life",
        method = "GET", uri = "/dir/index.html", nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        cnonce = "0a4f113b", nc = 1, qop = "auth",
      })
    end)

    for _, case in ipairs {
      { "MD5", "8ca523f5e9506fed4657c9700eebdbec" },
      { "SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1" },
      -- not in the RFC: cross-checked with `openssl dgst -sha512-256`
      { "SHA-512-256", "430d05014cecc49cab6fbe03176d41a1da86cbfe24a16580e22aaad928d960d0" },
    } do
      local alg, want = case[1], case[2]
      it("RFC 7616 §3.9.1 with " .. alg .. ": client builds it, server verifies it", function()
        local challenge = ('Digest realm="%s", qop="auth, auth-int", algorithm=%s, nonce="%s", opaque="%s"')
          :format(R7.realm, alg, R7.nonce, R7.opaque)
        local value, cnonce = digest.make_credentials {
          challenge = challenge, username = "Mufasa", password = "Circle of Life",
          method = "GET", uri = R7.uri, cnonce = R7.cnonce, nc = 1,
        }
        assert.equal(R7.cnonce, cnonce)
        local cred = assert(digest.parse_credentials(value))
        assert.equal(want, cred.response)
        assert.same({ "Mufasa", alg, "auth", 1, "00000001", R7.opaque },
          { cred.username, cred.algorithm, cred.qop, cred.nc, cred.nc_hex, cred.opaque })
        cred.password, cred.method = "Circle of Life", "GET"
        assert.is_true(digest.verify(cred))
        cred.password = "Circle Of Life" -- RFC 7616 erratum 4495: lowercase "of"
        assert.is_false(digest.verify(cred))
      end)
    end

    it("RFC 7616 §3.9.2: SHA-512-256 userhash (the RFC's printed hash is wrong, erratum 4897)", function()
      assert.equal("793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b",
        digest.userhash("SHA-512-256", "J\u{e4}s\u{f8}n Doe", "api@example.org"))
      local ch = assert(digest.parse_challenge('Digest realm="api@example.org", qop="auth", '
        .. 'algorithm=SHA-512-256, nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", '
        .. 'opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS", charset=UTF-8, userhash=true'))
      assert.same({ "SHA-512-256", "UTF-8", true, { "auth" } }, { ch.algorithm, ch.charset, ch.userhash, ch.qop })
      local cred = assert(digest.parse_credentials(assert(digest.make_credentials {
        challenge = ch, username = "J\u{e4}s\u{f8}n Doe", password = "Secret, or not?",
        method = "GET", uri = "/doe.json",
      })))
      assert.is_true(cred.userhash)
      assert.equal("793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b", cred.username)
      -- the server maps the hash back to the user; the response is over the real name
      cred.username, cred.password, cred.method = "J\u{e4}s\u{f8}n Doe", "Secret, or not?", "GET"
      assert.is_true(digest.verify(cred))
    end)
  end)

  describe("challenge / credentials round trips", function()
    for _, alg in ipairs(ALGORITHMS) do
      for _, qop in ipairs { "auth", "auth-int", false } do
        it(("%s, qop %s"):format(alg, tostring(qop)), function()
          local secret, realm = "server secret", "example.com"
          local nonce = digest.nonce_new(secret, realm)
          local value = assert(digest.make_challenge {
            realm = realm, nonce = nonce, algorithm = alg, qop = qop, opaque = "op\"aque",
          })
          local ch = assert(digest.parse_challenge(value))
          assert.same({ realm, nonce, alg, "op\"aque", false },
            { ch.realm, ch.nonce, ch.algorithm, ch.opaque, ch.stale })
          assert.same(qop and { qop } or nil, ch.qop)

          local body = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"
          local cvalue, cnonce = assert(digest.make_credentials {
            challenge = ch, username = "alice", password = "pa\"ss", method = "INVITE",
            uri = "sip:bob@example.com", body = body, nc = 7,
          })
          local cred = assert(digest.parse_credentials(cvalue))
          assert.equal(alg, cred.algorithm)
          assert.equal(qop or nil, cred.qop)
          assert.equal(qop and 7 or nil, cred.nc)
          assert.equal(cnonce, cred.cnonce)
          assert.equal("op\"aque", cred.opaque)
          assert.equal("valid", digest.nonce_check(secret, realm, cred.nonce, 30))

          -- the server, with the password and with the stored HA1
          cred.method, cred.body = "INVITE", body
          cred.password = "pa\"ss"
          assert.is_true(digest.verify(cred))
          cred.password, cred.ha1 = nil, digest.ha1(alg, "alice", realm, "pa\"ss")
          assert.is_true(digest.verify(cred))
          assert.equal(cred.response, digest.response(cred))
          if qop == "auth-int" then
            cred.body = body .. "tampered"
            assert.is_false(digest.verify(cred))
            cred.body = body
          end

          -- Authentication-Info: the server proves it knows the secret too
          local rspauth = assert(digest.rspauth(cred))
          local info = assert(digest.parse_info(assert(digest.make_info {
            nextnonce = nonce, qop = cred.qop, rspauth = rspauth, cnonce = cred.cnonce, nc = cred.nc,
          })))
          assert.equal(rspauth, info.rspauth)
          assert.equal(nonce, info.nextnonce)

          -- the same server work on a credentials object: no table, the hashes from the parse
          local obj = assert(digest.credentials(cvalue))
          for _, k in ipairs { "username", "realm", "nonce", "uri", "response", "cnonce", "opaque",
            "algorithm", "qop", "nc", "nc_hex", "userhash", "scheme" } do
            assert.equal(cred[k], obj[k], k)
          end
          assert.equal("valid", obj:nonce_status(secret, realm, 30))
          assert.is_true(obj:verify("INVITE", body, "pa\"ss"))
          assert.is_true(obj:verify("INVITE", body, nil, cred.ha1))
          assert.is_false(obj:verify("INVITE", body, "wrong"))
          assert.is_false(obj:verify("BYE", body, "pa\"ss"))
          if qop == "auth-int" then assert.is_false(obj:verify("INVITE", body .. "tampered", "pa\"ss")) end
          assert.equal(rspauth, obj:rspauth(body, "pa\"ss"))
        end)
      end
    end

    it("answers with the client's stored HA1 and refuses one of another hash", function()
      local ch = ('Digest realm="%s", qop="auth", algorithm=MD5, nonce="%s"'):format(R7.realm, R7.nonce)
      local args = {
        challenge = ch, username = "Mufasa", ha1 = digest.ha1("MD5", "Mufasa", R7.realm, "Circle of Life"),
        method = "GET", uri = R7.uri, cnonce = R7.cnonce,
      }
      local cred = digest.parse_credentials(assert(digest.make_credentials(args)))
      assert.equal("8ca523f5e9506fed4657c9700eebdbec", cred.response)
      args.challenge = ch:gsub("MD5", "SHA-256")
      local v, err = digest.make_credentials(args)
      assert.is_nil(v)
      assert.matches("HA1", err)
    end)

    it("uses auth-int only when it is the only qop offered, and RFC 2069 without qop", function()
      local base = { username = "u", password = "p", method = "MESSAGE", uri = "sip:x@y", body = "hi" }
      base.challenge = 'Digest realm="r", nonce="n", qop="auth-int"'
      assert.equal("auth-int", digest.parse_credentials(digest.make_credentials(base)).qop)
      base.challenge = 'Digest realm="r", nonce="n", qop="auth-int,auth"'
      assert.equal("auth", digest.parse_credentials(digest.make_credentials(base)).qop)
      base.challenge = 'Digest realm="r", nonce="n"'
      local cred = digest.parse_credentials(digest.make_credentials(base))
      assert.is_nil(cred.qop)
      assert.is_nil(cred.cnonce)
      assert.is_nil(cred.nc)
    end)

    it("writes stale=true and userhash=true when asked", function()
      local v = digest.make_challenge { realm = "r", nonce = "n", algorithm = "SHA-256", stale = true, userhash = true }
      assert.equal('Digest realm="r", nonce="n", stale=true, algorithm=SHA-256, qop="auth", userhash=true', v)
      local ch = digest.parse_challenge(v)
      assert.is_true(ch.stale)
      assert.is_true(ch.userhash)
      assert.same({ "auth", "auth-int" },
        digest.parse_challenge(digest.make_challenge { realm = "r", nonce = "n", qop = "auth,auth-int" }).qop)
    end)

    it("puts a fresh nonce of its own in when given the server secret and no nonce", function()
      local fields = { realm = "example.com", algorithm = "MD5" }
      local a = digest.parse_challenge(assert(digest.make_challenge(fields, "s3cret", 1700000000)))
      local b = digest.parse_challenge(assert(digest.make_challenge(fields, "s3cret", 1700000000)))
      assert.is_nil(fields.nonce) -- the table is left as it was, ready for the next challenge
      assert.are_not.equal(a.nonce, b.nonce)
      assert.equal("valid", digest.nonce_check("s3cret", "example.com", a.nonce, 300, 1700000010))
      assert.equal(1700000000, digest.nonce_time(a.nonce))
      assert.has_error(function() digest.make_challenge { realm = "r" } end) -- no nonce, no secret
    end)

    it("refuses to write a value that would break the header", function()
      local v, err = digest.make_challenge { realm = "r\r\nVia: evil", nonce = "n" }
      assert.is_nil(v)
      assert.is_string(err)
    end)
  end)

  describe("parsing", function()
    local cases = {
      -- value, code (nil = parses)
      { 'Digest realm="r", nonce="n"' },
      { 'dIGEST NONCE=n,REALM=r,unknown="x y"' },
      { 'Basic realm="WallyWorld"', "scheme" },
      { "NoOneKnowsThisScheme opaque-data=here", "scheme" }, -- RFC 4475 §3.3.7 regaut01
      { 'Digest realm="r"', "missing" },
      { 'Digest nonce="n"', "missing" },
      { 'Digest realm="r", nonce="n", realm="s"', "duplicate" },
      { 'Digest realm="r", nonce="n", algorithm=SHA-1', "algorithm" },
      { 'Digest realm="r, nonce="n"', "syntax" },
      { 'Digest realm="r" nonce="n"', "syntax" },
      { "", "syntax" },
    }
    for _, c in ipairs(cases) do
      it(("challenge %q -> %s"):format(c[1], c[2] or "ok"), function()
        local t, msg, code = digest.parse_challenge(c[1])
        if c[2] then
          assert.is_nil(t)
          assert.is_string(msg)
          assert.equal(c[2], code)
        else
          assert.is_table(t)
          assert.same({ "r", "n" }, { t.realm, t.nonce })
        end
      end)
    end

    it("unescapes quoted-pairs, unfolds folded values and keeps unknown params", function()
      local t = assert(digest.parse_challenge('Digest realm="a\\"b\\\\c",\r\n nonce="x\r\n y", ipv6=yes'))
      assert.equal('a"b\\c', t.realm)
      assert.equal("x y", t.nonce)
      assert.equal("yes", t.params.ipv6)
      assert.equal("MD5", t.algorithm) -- the default (RFC 7616 §3.3)
    end)

    it("finds the next challenge in the same value", function()
      local v = 'Digest realm="r", nonce="n", algorithm=SHA-256, Digest realm="r", nonce="m"'
      local a = assert(digest.parse_challenge(v))
      assert.is_number(a.next)
      local b = assert(digest.parse_challenge(v, a.next))
      assert.equal("m", b.nonce)
      assert.equal(1, digest.pick { a, b })
      assert.equal(2, digest.pick { b, a })
      assert.is_nil(digest.pick {})
    end)

    it("picks the strongest challenge (RFC 7616 §3.7)", function()
      local chs = {}
      for i, alg in ipairs { "MD5", "SHA-256-sess", "SHA-512-256", "SHA-256" } do
        chs[i] = digest.parse_challenge(('Digest realm="r", nonce="%d", algorithm=%s'):format(i, alg))
      end
      assert.equal(3, digest.pick(chs))
    end)

    it("reports credentials that lack what the server needs", function()
      for _, c in ipairs {
        { 'Digest realm="r", nonce="n", uri="u", response="x"', "missing" },
        { 'Digest username="u", realm="r", nonce="n", uri="u", response="x", qop=auth, nc=00000001', "missing" },
        { 'Digest username="u", realm="r", nonce="n", uri="u", response="x", qop=auth, cnonce="c", nc=1', "value" },
        { "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "scheme" },
      } do
        local t, msg, code = digest.parse_credentials(c[1])
        assert.is_nil(t)
        assert.is_string(msg)
        assert.equal(c[2], code)
      end
      local t = assert(digest.parse_credentials(
        "Digest username*=UTF-8''J%C3%A4s%C3%B8n%20Doe, realm=r, nonce=n, uri=u, response=x"))
      assert.equal("J\u{e4}s\u{f8}n Doe", t.username)
      assert.is_true(t.username_ext)
    end)

    it("verifies with the nonce-count text as the client wrote it", function()
      local args = { username = "u", realm = "r", password = "p", method = "REGISTER", uri = "sip:r",
        nonce = "n", cnonce = "c", qop = "auth", nc = "0000001A" }
      local resp = digest.response(args)
      local cred = assert(digest.parse_credentials(('Digest username="u", realm="r", nonce="n", '
        .. 'uri="sip:r", response="%s", qop=auth, nc=0000001A, cnonce="c"'):format(resp:upper())))
      assert.equal(26, cred.nc)
      cred.password, cred.method = "p", "REGISTER"
      assert.is_true(digest.verify(cred))
    end)
  end)

  describe("credentials objects", function()
    local secret, realm, t0 = "k3y", "example.com", 1700000000

    it("read like parse_credentials' table and check a request without one", function()
      local nonce = digest.nonce_new(secret, realm, t0)
      local args = { username = "alice", realm = realm, password = "pw", method = "REGISTER",
        uri = "sip:example.com", nonce = nonce, cnonce = "c0ffee", qop = "auth", nc = "0000000b" }
      local value = ('Digest username="alice", realm="%s", nonce="%s", uri="sip:example.com", '
        .. 'response="%s", qop=auth, nc=0000000b, cnonce="c0ffee", x-extra="y"'):format(realm, nonce,
        digest.response(args))
      local c = assert(digest.credentials(value))
      assert.matches("^sip.digest.credentials %(MD5, realm \"example.com\"%)$", tostring(c))
      assert.same({ ["x-extra"] = "y" }, c.params)
      assert.is_false(c.username_ext)
      assert.equal(11, c.nc)
      assert.is_nil(c.nothing)
      assert.equal("valid", c:nonce_status(secret, realm, 300, t0 + 300))
      assert.equal("stale", c:nonce_status(secret, realm, 300, t0 + 301))
      assert.equal("invalid", c:nonce_status("other", realm, 300, t0))
      assert.equal("invalid", c:nonce_status(secret, "other.example", 300, t0))
      assert.is_true(c:verify("REGISTER", nil, "pw"))
      assert.is_true(c:verify("REGISTER", nil, nil, digest.ha1("MD5", "alice", realm, "pw")))
      -- userhash: the hash was sent, the server hashes with the real name
      assert.is_false(c:verify("REGISTER", nil, "pw", nil, "bob"))
      -- the replay table takes the nonce and nc of the object
      local r <close> = digest.replay_new(64)
      assert.is_true(r:check(c))
      assert.same({ false, "replay" }, { r:check(c) })
      assert.is_true(r:check(nonce, 12))
    end)

    it("refuse bad values as parse_credentials does, and raise on misuse", function()
      for _, v in ipairs {
        'Digest realm="r", nonce="n", uri="u", response="x"',
        'Digest username="u", realm="r", nonce="n", uri="u", response="x", qop=auth, cnonce="c", nc=1',
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        'Digest username="u", realm="r", nonce="n", uri="u", response="x", algorithm=SHA-1',
        "",
      } do
        assert.same({ digest.parse_credentials(v) }, { digest.credentials(v) })
      end
      local c = assert(digest.credentials('Digest username="u", realm="r", nonce="n", uri="u", response="x"'))
      assert.equal("invalid", c:nonce_status(secret, "r", 300, t0)) -- not a nonce of ours
      assert.has_error(function() c:verify("REGISTER") end, "a password or an HA1 is required")
      assert.has_error(function() c:verify(nil, nil, "pw") end)
      assert.has_error(function() c.verify({}, "REGISTER", nil, "pw") end)
      assert.has_error(function() digest.credentials() end)
      assert.is_false(c:verify("REGISTER", nil, "pw")) -- RFC 2069 form, wrong response
    end)
  end)

  describe("server nonces", function()
    local secret, realm, t0 = "k3y", "example.com", 1700000000

    it("are valid while young, stale when old, invalid when forged", function()
      local n = digest.nonce_new(secret, realm, t0)
      assert.equal(64, #n)
      assert.matches("^[%w%-_]+$", n)
      assert.equal(t0, digest.nonce_time(n))
      assert.equal("valid", digest.nonce_check(secret, realm, n, 300, t0 + 300))
      assert.equal("stale", digest.nonce_check(secret, realm, n, 300, t0 + 301))
      assert.equal("invalid", digest.nonce_check(secret, "other.example", n, 300, t0))
      assert.equal("invalid", digest.nonce_check("other secret", realm, n, 300, t0))
      local forged = n:sub(1, 10) .. (n:sub(11, 11) == "A" and "B" or "A") .. n:sub(12)
      assert.equal("invalid", digest.nonce_check(secret, realm, forged, 300, t0))
      assert.equal("invalid", digest.nonce_check(secret, realm, R7.nonce, 300, t0))
      assert.is_nil(digest.nonce_time(R7.nonce))
      assert.are_not.equal(n, digest.nonce_new(secret, realm, t0))
    end)
  end)

  describe("replay tracking", function()
    it("accepts each nonce-count once and only upwards", function()
      local r = digest.replay_new(4096)
      assert.is_true(r:check("n1", 1))
      assert.same({ false, "replay" }, { r:check("n1", 1) })
      assert.is_true(r:check("n1", "00000002"))
      assert.is_true(r:check("n1", 9))
      assert.same({ false, "replay" }, { r:check("n1", 3) })
      assert.is_true(r:check("n2", 1))
      r:close()
      r:close() -- idempotent
      assert.has_error(function() r:check("n1", 10) end)
    end)

    it("reports an evicted nonce as stale, never accepting a replay", function()
      local r <close> = digest.replay_new(16)
      local first = digest.nonce_new("s", "r", 1000)
      assert.is_true(r:check(first, 1))
      for i = 1, 400 do -- newer nonces push the oldest out of the small table
        assert.is_true(r:check(digest.nonce_new("s", "r", 1000 + i), 1))
      end
      assert.same({ false, "stale" }, { r:check(first, 1) })
      assert.same({ false, "stale" }, { r:check(first, 2) })
      assert.matches("sip.digest.replay", tostring(r))
    end)
  end)

  describe("helpers and misuse", function()
    it("random_hex and equal", function()
      assert.matches("^%x+$", digest.random_hex(16))
      assert.equal(32, #digest.random_hex(16))
      assert.is_true(digest.equal("abc", "abc"))
      assert.is_false(digest.equal("abc", "abd"))
      assert.is_false(digest.equal("abc", "ab"))
    end)

    it("raises on wrong arguments", function()
      assert.has_error(function() digest.random_hex(0) end)
      assert.has_error(function() digest.ha1("SHA-1", "u", "r", "p") end)
      assert.has_error(function() digest.response { algorithm = "MD5", uri = "u", nonce = "n" } end)
      assert.has_error(function() digest.response { username = "u", realm = "r", password = "p", method = "GET",
        uri = "u", nonce = "n", qop = "auth" } end) -- cnonce missing
      assert.has_error(function() digest.parse_challenge(nil) end)
      assert.has_error(function() digest.nonce_new("", "r") end)
      assert.has_error(function() digest.replay_new(0) end)
      assert.has_error(function() digest.make_challenge { realm = "r" } end)
    end)
  end)
end)
