/* lsip_digest.c: the Lua face of sip_digest (sip.core.digest). Thin: tables in, strings out.
 * Bad input (header values from the network) returns nil, msg, code; misuse raises. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lsip.h"
#include "sip_digest.h"

#define REPLAY_MT "sip.digest.replay"
#define CRED_MT "sip.digest.credentials"

static uint64_t opt_now(lua_State *L, int idx);
static sip_str check_secret(lua_State *L, int idx);

static sip_str to_str(lua_State *L, int idx) {
  size_t n;
  const char *p = lua_tolstring(L, idx, &n);
  return sip_str_make(p, n);
}

/* Optional string field; the string stays alive in the table after the pop. */
static sip_str opt_field(lua_State *L, int t, const char *k) {
  sip_str s = SIP_STR_NULL;
  int ty = lua_getfield(L, t, k);
  if (ty == LUA_TSTRING) s = to_str(L, -1);
  else if (ty != LUA_TNIL) luaL_error(L, "field '%s' must be a string", k);
  lua_pop(L, 1);
  return s;
}

static sip_str req_field(lua_State *L, int t, const char *k) {
  sip_str s = opt_field(L, t, k);
  if (!s.p) luaL_error(L, "field '%s' is required", k);
  return s;
}

static int opt_bool_field(lua_State *L, int t, const char *k) {
  lua_getfield(L, t, k);
  int b = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return b;
}

static sip_digest_alg check_alg(lua_State *L, sip_str name) {
  sip_digest_alg a = sip_digest_alg_lookup(name);
  if (a == SIP_DIGEST_UNKNOWN) luaL_error(L, "unsupported algorithm '%s'", name.p);
  return a;
}

static sip_digest_alg alg_field(lua_State *L, int t) {
  sip_str s = opt_field(L, t, "algorithm");
  return s.p ? check_alg(L, s) : SIP_DIGEST_MD5;
}

static void push_str(lua_State *L, sip_str s) { lua_pushlstring(L, s.p ? s.p : "", s.n); }

static void set_str(lua_State *L, const char *k, sip_str s) {
  if (!s.p) return;
  push_str(L, s);
  lua_setfield(L, -2, k);
}

static void set_params(lua_State *L, const sip_digest_param *e, unsigned n) {
  lua_createtable(L, 0, (int)n);
  for (unsigned i = 0; i < n; i++) {
    push_str(L, e[i].name);
    push_str(L, e[i].value);
    lua_settable(L, -3);
  }
  lua_setfield(L, -2, "params");
}

static const char *qop_name(unsigned q) {
  return q == SIP_DIGEST_QOP_AUTH ? "auth" : q == SIP_DIGEST_QOP_AUTH_INT ? "auth-int" : NULL;
}

static int push_parse_error(lua_State *L, int rc, const sip_digest_error *e, sip_str scheme) {
  static const char *const codes[] = {"ok",        "syntax",    "scheme", "missing",
                                      "duplicate", "algorithm", "value",  "space"};
  lua_pushnil(L);
  if (rc == SIP_DIGEST_ESCHEME) {
    push_str(L, scheme);
    lua_pushfstring(L, "not a Digest scheme: %s", lua_tostring(L, -1));
    lua_remove(L, -2);
  } else {
    lua_pushfstring(L, "%s at byte %d", e->what ? e->what : "bad value", (int)e->off + 1);
  }
  lua_pushstring(L, codes[-rc < 8 ? -rc : 1]);
  return 3;
}

static char *scratch_for(lua_State *L, size_t n) {
  return (char *)lua_newuserdatauv(L, n ? n : 1, 0);
}

static void push_challenge(lua_State *L, const sip_digest_challenge *c, size_t n) {
  lua_createtable(L, 0, 12);
  set_str(L, "scheme", c->scheme);
  set_str(L, "realm", c->realm);
  set_str(L, "nonce", c->nonce);
  set_str(L, "opaque", c->opaque);
  set_str(L, "domain", c->domain);
  set_str(L, "charset", c->charset);
  lua_pushstring(L, sip_digest_alg_name(c->alg));
  lua_setfield(L, -2, "algorithm");
  if (c->has_qop) {
    lua_createtable(L, 2, 0);
    int i = 0;
    if (c->qop & SIP_DIGEST_QOP_AUTH) {
      lua_pushliteral(L, "auth");
      lua_rawseti(L, -2, ++i);
    }
    if (c->qop & SIP_DIGEST_QOP_AUTH_INT) {
      lua_pushliteral(L, "auth-int");
      lua_rawseti(L, -2, ++i);
    }
    lua_setfield(L, -2, "qop");
  }
  lua_pushboolean(L, c->stale);
  lua_setfield(L, -2, "stale");
  lua_pushboolean(L, c->userhash);
  lua_setfield(L, -2, "userhash");
  set_params(L, c->extra, c->nextra);
  if (c->end < n) { /* another challenge follows in the same value */
    lua_pushinteger(L, (lua_Integer)c->end + 1);
    lua_setfield(L, -2, "next");
  }
}

/* parse_challenge(value [, init]) -> table | nil, msg, code */
static int l_parse_challenge(lua_State *L) {
  size_t n;
  const char *p = luaL_checklstring(L, 1, &n);
  lua_Integer init = luaL_optinteger(L, 2, 1);
  luaL_argcheck(L, init >= 1 && (size_t)init <= n + 1, 2, "out of range");
  p += init - 1;
  n -= (size_t)init - 1;
  char *sc = scratch_for(L, n);
  sip_digest_challenge c;
  sip_digest_error e;
  int rc = sip_digest_parse_challenge(p, n, &c, sc, n, &e);
  if (rc) return push_parse_error(L, rc, &e, c.scheme);
  c.end += (size_t)init - 1; /* "next" is relative to the whole string */
  push_challenge(L, &c, n + (size_t)init - 1);
  return 1;
}

static int l_parse_credentials(lua_State *L) {
  size_t n;
  const char *p = luaL_checklstring(L, 1, &n);
  char *sc = scratch_for(L, n);
  sip_digest_credentials c;
  sip_digest_error e;
  int rc = sip_digest_parse_credentials(p, n, &c, sc, n, &e);
  if (rc) return push_parse_error(L, rc, &e, c.scheme);
  lua_createtable(L, 0, 16);
  set_str(L, "scheme", c.scheme);
  set_str(L, "username", c.username);
  set_str(L, "realm", c.realm);
  set_str(L, "nonce", c.nonce);
  set_str(L, "uri", c.uri);
  set_str(L, "response", c.response);
  set_str(L, "cnonce", c.cnonce);
  set_str(L, "opaque", c.opaque);
  lua_pushstring(L, sip_digest_alg_name(c.alg));
  lua_setfield(L, -2, "algorithm");
  if (c.qop) {
    lua_pushstring(L, qop_name(c.qop));
    lua_setfield(L, -2, "qop");
  }
  if (c.nc_hex.p) {
    lua_pushinteger(L, (lua_Integer)c.nc);
    lua_setfield(L, -2, "nc");
    set_str(L, "nc_hex", c.nc_hex);
  }
  lua_pushboolean(L, c.userhash);
  lua_setfield(L, -2, "userhash");
  lua_pushboolean(L, c.username_ext);
  lua_setfield(L, -2, "username_ext");
  set_params(L, c.extra, c.nextra);
  return 1;
}

static int l_parse_info(lua_State *L) {
  size_t n;
  const char *p = luaL_checklstring(L, 1, &n);
  char *sc = scratch_for(L, n);
  sip_digest_info c;
  sip_digest_error e;
  int rc = sip_digest_parse_info(p, n, &c, sc, n, &e);
  if (rc) return push_parse_error(L, rc, &e, SIP_STR_NULL);
  lua_createtable(L, 0, 8);
  set_str(L, "nextnonce", c.nextnonce);
  set_str(L, "rspauth", c.rspauth);
  set_str(L, "cnonce", c.cnonce);
  if (c.qop) {
    lua_pushstring(L, qop_name(c.qop));
    lua_setfield(L, -2, "qop");
  }
  if (c.nc_hex.p) {
    lua_pushinteger(L, (lua_Integer)c.nc);
    lua_setfield(L, -2, "nc");
    set_str(L, "nc_hex", c.nc_hex);
  }
  set_params(L, c.extra, c.nextra);
  return 1;
}

/* nc as an integer (formatted %08x) or as its 8 hex digits; nc_hex (as parse_credentials gives
 * it, the client's own text) wins, since the hash covers the text as sent. */
static sip_str nc_field(lua_State *L, int t, char buf[9]) {
  int ty = lua_getfield(L, t, "nc_hex");
  if (ty == LUA_TNIL) {
    lua_pop(L, 1);
    ty = lua_getfield(L, t, "nc");
  }
  sip_str s = SIP_STR_NULL;
  if (ty == LUA_TNUMBER) {
    int isnum;
    lua_Integer v = lua_tointegerx(L, -1, &isnum);
    if (!isnum || v < 1 || v > 0xffffffffLL) luaL_error(L, "field 'nc' must be in 1..0xffffffff");
    snprintf(buf, 9, "%08lx", (unsigned long)v);
    s = sip_str_make(buf, 8);
  } else if (ty == LUA_TSTRING) {
    s = to_str(L, -1);
    if (s.n != 8 || strspn(s.p, "0123456789abcdefABCDEF") < 8)
      luaL_error(L, "field 'nc' must be 8 hex digits");
  } else if (ty != LUA_TNIL) {
    luaL_error(L, "field 'nc' must be an integer or 8 hex digits");
  }
  lua_pop(L, 1);
  return s;
}

static unsigned qop_field(lua_State *L, int t) {
  sip_str q = opt_field(L, t, "qop");
  if (!q.p || q.n == 0) return SIP_DIGEST_QOP_NONE;
  if (sip_str_ieq(q, "auth")) return SIP_DIGEST_QOP_AUTH;
  if (sip_str_ieq(q, "auth-int")) return SIP_DIGEST_QOP_AUTH_INT;
  luaL_error(L, "field 'qop' must be \"auth\" or \"auth-int\"");
  return 0;
}

/* The table of response{} / rspauth{} / verify{}. */
static void read_input(lua_State *L, int t, sip_digest_input *in, char nc[9], int need_method) {
  luaL_checktype(L, t, LUA_TTABLE);
  memset(in, 0, sizeof *in);
  in->alg = alg_field(L, t);
  in->username = opt_field(L, t, "username");
  in->realm = opt_field(L, t, "realm");
  in->password = opt_field(L, t, "password");
  in->ha1 = opt_field(L, t, "ha1");
  if (!in->ha1.p && !in->password.p) luaL_error(L, "field 'password' or 'ha1' is required");
  if (in->password.p && (!in->username.p || !in->realm.p))
    luaL_error(L, "fields 'username' and 'realm' are required with 'password'");
  in->method = need_method ? req_field(L, t, "method") : SIP_STR_NULL;
  in->uri = req_field(L, t, "uri");
  in->nonce = req_field(L, t, "nonce");
  in->cnonce = opt_field(L, t, "cnonce");
  in->qop = qop_field(L, t);
  in->body = opt_field(L, t, "body");
  in->nc_hex = nc_field(L, t, nc);
  if (in->qop && !in->nc_hex.p) in->nc_hex = sip_str_make("00000001", 8);
  if ((in->qop || sip_digest_alg_is_sess(in->alg)) && !in->cnonce.p)
    luaL_error(L, "field 'cnonce' is required with qop or a -sess algorithm");
}

static int push_hex_or_fail(lua_State *L, int n, const char *hex) {
  if (n < 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "cannot compute the digest (bad ha1?)");
    return 2;
  }
  lua_pushlstring(L, hex, (size_t)n);
  return 1;
}

static int l_response(lua_State *L) {
  sip_digest_input in;
  char nc[9], out[SIP_DIGEST_HEX_MAX];
  read_input(L, 1, &in, nc, 1);
  return push_hex_or_fail(L, sip_digest_response(&in, out), out);
}

static int l_rspauth(lua_State *L) {
  sip_digest_input in;
  char nc[9], out[SIP_DIGEST_HEX_MAX];
  read_input(L, 1, &in, nc, 0);
  return push_hex_or_fail(L, sip_digest_rspauth(&in, out), out);
}

/* verify{... as response{}, response = hex} -> boolean (constant-time, case-insensitive hex) */
static int l_verify(lua_State *L) {
  sip_digest_input in;
  char nc[9];
  read_input(L, 1, &in, nc, 1);
  sip_str got = req_field(L, 1, "response");
  lua_pushboolean(L, sip_digest_verify(&in, got));
  return 1;
}

static int l_ha1(lua_State *L) {
  luaL_checkstring(L, 1);
  sip_digest_alg a = check_alg(L, to_str(L, 1));
  luaL_checkstring(L, 2);
  luaL_checkstring(L, 3);
  luaL_checkstring(L, 4);
  char out[SIP_DIGEST_HEX_MAX];
  return push_hex_or_fail(L, sip_digest_ha1_base(a, to_str(L, 2), to_str(L, 3), to_str(L, 4), out),
                          out);
}

static int l_userhash(lua_State *L) {
  luaL_checkstring(L, 1);
  sip_digest_alg a = check_alg(L, to_str(L, 1));
  luaL_checkstring(L, 2);
  luaL_checkstring(L, 3);
  char out[SIP_DIGEST_HEX_MAX];
  return push_hex_or_fail(L, sip_digest_userhash(a, to_str(L, 2), to_str(L, 3), out), out);
}

/* qop as nil (default), false, "auth", "auth-int", "auth,auth-int" or a list of those. */
static unsigned qop_set(lua_State *L, int t, unsigned dflt) {
  int ty = lua_getfield(L, t, "qop");
  unsigned q = 0;
  if (ty == LUA_TNIL) {
    q = dflt;
  } else if (ty == LUA_TBOOLEAN) {
    q = lua_toboolean(L, -1) ? dflt : 0;
  } else if (ty == LUA_TSTRING || ty == LUA_TTABLE) {
    int n = ty == LUA_TTABLE ? (int)luaL_len(L, -1) : 1;
    for (int i = 1; i <= n; i++) {
      if (ty == LUA_TTABLE) lua_rawgeti(L, -1, i);
      else lua_pushvalue(L, -1);
      sip_str s = to_str(L, -1);
      if (!s.p) luaL_error(L, "field 'qop' must hold strings");
      size_t a = 0;
      while (a < s.n) { /* a comma list as in the header */
        size_t b = a;
        while (b < s.n && s.p[b] != ',') b++;
        sip_str tok = sip_str_trim(sip_str_make(s.p + a, b - a));
        if (sip_str_ieq(tok, "auth")) q |= SIP_DIGEST_QOP_AUTH;
        else if (sip_str_ieq(tok, "auth-int")) q |= SIP_DIGEST_QOP_AUTH_INT;
        else if (tok.n) luaL_error(L, "unsupported qop '%s'", lua_tostring(L, -1));
        a = b + 1;
      }
      lua_pop(L, 1);
    }
  } else {
    luaL_error(L, "field 'qop' must be a string, a list or false");
  }
  lua_pop(L, 1);
  return q;
}

static int push_buf(lua_State *L, sip_buf *b, int rc, const char *why) {
  if (rc) {
    sip_buf_free(b);
    lua_pushnil(L);
    lua_pushstring(L, why);
    return 2;
  }
  lua_pushlstring(L, b->p ? b->p : "", b->n);
  sip_buf_free(b);
  return 1;
}

/* The fields of a challenge table (make_challenge's, below); the strings stay in the table. */
void lsip_challenge_fields(lua_State *L, int t, sip_digest_challenge *c) {
  memset(c, 0, sizeof *c);
  c->realm = req_field(L, t, "realm");
  c->nonce = opt_field(L, t, "nonce");
  c->alg = alg_field(L, t);
  c->qop = qop_set(L, t, SIP_DIGEST_QOP_AUTH);
  c->has_qop = c->qop != 0;
  c->opaque = opt_field(L, t, "opaque");
  c->domain = opt_field(L, t, "domain");
  c->charset = opt_field(L, t, "charset");
  c->stale = opt_bool_field(L, t, "stale");
  c->userhash = opt_bool_field(L, t, "userhash");
}

/* make_challenge{realm=, nonce=, algorithm=, qop=, opaque=, stale=, userhash=, domain=, charset=}
 * [, secret [, now]]: without a nonce field and with a secret, a fresh stateless nonce
 * (nonce_new(secret, realm, now)) goes in, so a server keeps one table per challenge it sends. */
static int l_make_challenge(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  sip_digest_challenge c;
  lsip_challenge_fields(L, 1, &c);
  char fresh[SIP_DIGEST_NONCE_LEN + 1];
  if (!c.nonce.p && !lua_isnoneornil(L, 2)) {
    sip_str secret = check_secret(L, 2);
    if (sip_digest_nonce_new(secret.p, secret.n, c.realm, opt_now(L, 3), fresh)) {
      lua_pushnil(L);
      lua_pushliteral(L, "random number generator failed");
      return 2;
    }
    c.nonce = sip_str_make(fresh, SIP_DIGEST_NONCE_LEN);
  }
  if (!c.nonce.p) luaL_error(L, "field 'nonce' is required");
  sip_buf b = SIP_BUF_INIT;
  return push_buf(L, &b, sip_digest_write_challenge(&b, &c),
                  "value cannot be written (control characters?)");
}

/* make_info{nextnonce=, qop=, rspauth=, cnonce=, nc=} */
static int l_make_info(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  sip_digest_info c;
  char nc[9];
  memset(&c, 0, sizeof c);
  c.nextnonce = opt_field(L, 1, "nextnonce");
  c.rspauth = opt_field(L, 1, "rspauth");
  c.cnonce = opt_field(L, 1, "cnonce");
  c.qop = qop_field(L, 1);
  c.nc_hex = nc_field(L, 1, nc);
  sip_buf b = SIP_BUF_INIT;
  return push_buf(L, &b, sip_digest_write_info(&b, &c),
                  "value cannot be written (control characters?)");
}

/* make_credentials{challenge = value or parsed table, username=, password= | ha1= [ha1_algorithm=],
 *                  method=, uri=, body=, nc=, cnonce=} -> value, cnonce | nil, msg, code */
static int l_make_credentials(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  sip_digest_challenge c;
  int ty = lua_getfield(L, 1, "challenge");
  int chi = lua_gettop(L);
  if (ty == LUA_TSTRING) {
    size_t n;
    const char *p = lua_tolstring(L, chi, &n);
    char *sc = scratch_for(L, n);
    sip_digest_error e;
    int rc = sip_digest_parse_challenge(p, n, &c, sc, n, &e);
    if (rc) return push_parse_error(L, rc, &e, c.scheme);
  } else if (ty == LUA_TTABLE) {
    memset(&c, 0, sizeof c);
    c.realm = req_field(L, chi, "realm");
    c.nonce = req_field(L, chi, "nonce");
    c.opaque = opt_field(L, chi, "opaque");
    c.alg = alg_field(L, chi);
    lua_getfield(L, chi, "qop");
    c.has_qop = !lua_isnil(L, -1);
    lua_pop(L, 1);
    c.qop = qop_set(L, chi, 0);
    c.userhash = opt_bool_field(L, chi, "userhash");
  } else {
    return luaL_error(L, "field 'challenge' must be a string or a table");
  }
  sip_digest_client cl;
  memset(&cl, 0, sizeof cl);
  cl.username = req_field(L, 1, "username");
  cl.password = opt_field(L, 1, "password");
  cl.ha1 = opt_field(L, 1, "ha1");
  if (!cl.password.p && !cl.ha1.p) return luaL_error(L, "field 'password' or 'ha1' is required");
  sip_str ha1alg = opt_field(L, 1, "ha1_algorithm");
  cl.ha1_alg = ha1alg.p ? check_alg(L, ha1alg) : c.alg;
  cl.method = req_field(L, 1, "method");
  cl.uri = req_field(L, 1, "uri");
  cl.body = opt_field(L, 1, "body");
  cl.cnonce = opt_field(L, 1, "cnonce");
  lua_getfield(L, 1, "nc");
  lua_Integer nc = luaL_optinteger(L, -1, 1);
  lua_pop(L, 1);
  if (nc < 1 || nc > 0xffffffffLL) return luaL_error(L, "field 'nc' must be in 1..0xffffffff");
  cl.nc = (uint32_t)nc;
  char cn[SIP_DIGEST_HEX_MAX];
  const char *err = NULL;
  sip_buf b = SIP_BUF_INIT;
  if (sip_digest_client_credentials(&b, &c, &cl, cn, &err)) {
    sip_buf_free(&b);
    lua_pushnil(L);
    lua_pushstring(L, err ? err : "cannot build the credentials");
    lua_pushstring(L, c.alg == SIP_DIGEST_UNKNOWN ? "algorithm" : "value");
    return 3;
  }
  lua_pushlstring(L, b.p, b.n);
  sip_buf_free(&b);
  if (cn[0]) lua_pushstring(L, cn);
  else lua_pushnil(L);
  return 2;
}

/* pick{challenge tables} -> index of the strongest supported | nil */
static int l_pick(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer n = luaL_len(L, 1), best = 0;
  int rank = 0;
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i);
    if (lua_istable(L, -1)) {
      lua_getfield(L, -1, "algorithm");
      sip_digest_alg a = lua_isnil(L, -1)                 ? SIP_DIGEST_MD5
                         : lua_type(L, -1) == LUA_TSTRING ? sip_digest_alg_lookup(to_str(L, -1))
                                                          : SIP_DIGEST_UNKNOWN;
      int k = sip_digest_alg_strength(a);
      if (k > rank) {
        rank = k;
        best = i;
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  if (best) lua_pushinteger(L, best);
  else lua_pushnil(L);
  return 1;
}

static uint64_t opt_now(lua_State *L, int idx) {
  lua_Integer now = luaL_optinteger(L, idx, (lua_Integer)time(NULL));
  luaL_argcheck(L, now >= 0, idx, "must not be negative");
  return (uint64_t)now;
}

static sip_str check_secret(lua_State *L, int idx) {
  size_t n;
  const char *p = luaL_checklstring(L, idx, &n);
  luaL_argcheck(L, n > 0, idx, "secret must not be empty");
  return sip_str_make(p, n);
}

/* nonce_new(secret, realm [, now]) */
static int l_nonce_new(lua_State *L) {
  sip_str secret = check_secret(L, 1);
  luaL_checkstring(L, 2);
  uint64_t now = opt_now(L, 3);
  char out[SIP_DIGEST_NONCE_LEN + 1];
  if (sip_digest_nonce_new(secret.p, secret.n, to_str(L, 2), now, out)) {
    lua_pushnil(L);
    lua_pushliteral(L, "random number generator failed");
    return 2;
  }
  lua_pushlstring(L, out, SIP_DIGEST_NONCE_LEN);
  return 1;
}

/* The state of nonce as a server sees it, from the arguments secret (at si), realm (si + 1),
 * max_age (ai) and now (ai + 1, optional). Pushes "valid", "stale" or "invalid". */
static int push_nonce_status(lua_State *L, int si, int ai, sip_str nonce) {
  static const char *const names[] = {"valid", "stale", "invalid"};
  sip_str secret = check_secret(L, si);
  luaL_checkstring(L, si + 1);
  lua_Integer max_age = luaL_checkinteger(L, ai);
  luaL_argcheck(L, max_age >= 0, ai, "must not be negative");
  uint64_t now = opt_now(L, ai + 1);
  int rc =
    sip_digest_nonce_check(secret.p, secret.n, to_str(L, si + 1), nonce, (uint64_t)max_age, now);
  lua_pushstring(L, names[rc]);
  return 1;
}

/* nonce_check(secret, realm, nonce, max_age [, now]) -> "valid" | "stale" | "invalid" */
static int l_nonce_check(lua_State *L) {
  check_secret(L, 1);
  luaL_checkstring(L, 2);
  luaL_checkstring(L, 3);
  return push_nonce_status(L, 1, 4, to_str(L, 3));
}

/* nonce_time(nonce) -> issue time | nil (not of our format; not authenticated) */
static int l_nonce_time(lua_State *L) {
  luaL_checkstring(L, 1);
  uint64_t t;
  if (sip_digest_nonce_time(to_str(L, 1), &t) || t > (uint64_t)LUA_MAXINTEGER) lua_pushnil(L);
  else lua_pushinteger(L, (lua_Integer)t);
  return 1;
}

static int l_random_hex(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n >= 1 && n <= 32, 1, "must be in 1..32");
  char out[SIP_DIGEST_HEX_MAX];
  if (sip_digest_random_hex((size_t)n, out)) {
    lua_pushnil(L);
    lua_pushliteral(L, "random number generator failed");
    return 2;
  }
  lua_pushlstring(L, out, (size_t)n * 2);
  return 1;
}

static int l_equal(lua_State *L) {
  luaL_checkstring(L, 1);
  luaL_checkstring(L, 2);
  lua_pushboolean(L, sip_digest_equal(to_str(L, 1), to_str(L, 2)));
  return 1;
}

/* Credentials objects ------------------------------------------------------------------------------
 * credentials(value) parses as parse_credentials does, into a userdata that keeps the value (its
 * uservalue) and the slices into it: a server checks a request reading the few fields it needs and
 * verifying from the parsed form, with no table and no strings for the fields it never reads. */

typedef struct lcred {
  sip_digest_credentials c;
  char scratch[]; /* rewritten quoted values; as long as the value */
} lcred;

static lcred *check_cred(lua_State *L, int idx) {
  return (lcred *)luaL_checkudata(L, idx, CRED_MT);
}

/* credentials(value) -> object | nil, msg, code */
static int l_credentials(lua_State *L) {
  size_t n;
  luaL_checklstring(L, 1, &n);
  lcred *u = (lcred *)lua_newuserdatauv(L, offsetof(lcred, scratch) + (n ? n : 1), 1);
  const char *p = lua_tostring(L, 1);
  sip_digest_error e;
  int rc = sip_digest_parse_credentials(p, n, &u->c, u->scratch, n, &e);
  if (rc) return push_parse_error(L, rc, &e, u->c.scheme);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_setmetatable(L, -2);
  return 1;
}

/* The fields of parse_credentials' table, made on each read; then the methods (upvalue 1). */
static int cred_index(lua_State *L) {
  const sip_digest_credentials *c = &check_cred(L, 1)->c;
  size_t kl;
  const char *k = lua_tolstring(L, 2, &kl);
  if (!k) return 0;
#define IS(lit) (kl == sizeof(lit) - 1 && memcmp(k, lit, kl) == 0)
  if (IS("realm")) lsip_pushstr(L, c->realm);
  else if (IS("username")) lsip_pushstr(L, c->username);
  else if (IS("nonce")) lsip_pushstr(L, c->nonce);
  else if (IS("algorithm")) lua_pushstring(L, sip_digest_alg_name(c->alg));
  else if (IS("qop")) lua_pushstring(L, qop_name(c->qop)); /* NULL pushes nil */
  else if (IS("userhash")) lua_pushboolean(L, c->userhash);
  else if (IS("uri")) lsip_pushstr(L, c->uri);
  else if (IS("response")) lsip_pushstr(L, c->response);
  else if (IS("cnonce")) lsip_pushstr(L, c->cnonce);
  else if (IS("nc_hex")) lsip_pushstr(L, c->nc_hex);
  else if (IS("nc")) {
    if (c->nc_hex.p) lua_pushinteger(L, (lua_Integer)c->nc);
    else lua_pushnil(L);
  } else if (IS("opaque")) lsip_pushstr(L, c->opaque);
  else if (IS("scheme")) lsip_pushstr(L, c->scheme);
  else if (IS("username_ext")) lua_pushboolean(L, c->username_ext);
  else if (IS("params")) {
    lua_createtable(L, 0, 0);
    set_params(L, c->extra, c->nextra); /* sets t.params on the table below it */
    lua_getfield(L, -1, "params");
  } else {
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
  }
#undef IS
  return 1;
}

/* The input of a hash over these credentials, from the arguments at i: body (auth-int; nil for
 * none), the secret as a password or a stored HA1 (one a string, the other nil), and the real
 * username when it differs from the one sent (userhash). */
static void cred_input(lua_State *L, const sip_digest_credentials *c, sip_digest_input *in,
                       sip_str method, int i) {
  size_t n;
  const char *p;
  sip_str body = SIP_STR_NULL;
  if ((p = luaL_optlstring(L, i, NULL, &n))) body = sip_str_make(p, n);
  sip_digest_input_from(in, c, method, body);
  if ((p = luaL_optlstring(L, i + 1, NULL, &n))) in->password = sip_str_make(p, n);
  if ((p = luaL_optlstring(L, i + 2, NULL, &n))) in->ha1 = sip_str_make(p, n);
  if (!in->password.p && !in->ha1.p) luaL_error(L, "a password or an HA1 is required");
  if ((p = luaL_optlstring(L, i + 3, NULL, &n))) in->username = sip_str_make(p, n);
  if (in->qop && !in->nc_hex.p) in->nc_hex = sip_str_make("00000001", 8);
}

/* cred:verify(method, body, password, ha1 [, username]) -> boolean (constant-time compare) */
static int cred_verify(lua_State *L) {
  lcred *u = check_cred(L, 1);
  sip_digest_input in;
  size_t n;
  const char *m = luaL_checklstring(L, 2, &n);
  cred_input(L, &u->c, &in, sip_str_make(m, n), 3);
  lua_pushboolean(L, sip_digest_verify(&in, u->c.response));
  return 1;
}

/* cred:rspauth(body, password, ha1 [, username]) -> hex | nil, err (RFC 2617 §3.2.3) */
static int cred_rspauth(lua_State *L) {
  lcred *u = check_cred(L, 1);
  sip_digest_input in;
  cred_input(L, &u->c, &in, SIP_STR_NULL, 2);
  char out[SIP_DIGEST_HEX_MAX];
  return push_hex_or_fail(L, sip_digest_rspauth(&in, out), out);
}

/* cred:nonce_status(secret, realm, max_age [, now]) -> "valid" | "stale" | "invalid", for a nonce
 * of nonce_new's making */
static int cred_nonce_status(lua_State *L) {
  return push_nonce_status(L, 2, 4, check_cred(L, 1)->c.nonce);
}

static int cred_tostring(lua_State *L) {
  lcred *u = check_cred(L, 1);
  lua_pushfstring(L, "sip.digest.credentials (%s, realm \"%s\")", sip_digest_alg_name(u->c.alg),
                  lua_pushlstring(L, u->c.realm.p ? u->c.realm.p : "", u->c.realm.n));
  return 1;
}

/* Replay tracker ------------------------------------------------------------------------------------*/

typedef struct lreplay {
  sip_digest_replay *r;
} lreplay;

static int l_replay_new(lua_State *L) {
  lua_Integer slots = luaL_optinteger(L, 1, 4096);
  luaL_argcheck(L, slots >= 1 && slots <= (1 << 22), 1, "must be in 1..4194304");
  lreplay *u = (lreplay *)lua_newuserdatauv(L, sizeof *u, 0);
  u->r = NULL;
  luaL_setmetatable(L, REPLAY_MT);
  u->r = sip_digest_replay_new((size_t)slots);
  if (!u->r) return luaL_error(L, "cannot allocate the replay table");
  return 1;
}

static sip_digest_replay *check_replay(lua_State *L) {
  lreplay *u = (lreplay *)luaL_checkudata(L, 1, REPLAY_MT);
  if (!u->r) luaL_error(L, "attempt to use a closed replay table");
  return u->r;
}

/* :check(nonce, nc [, issued]) -> true | false, "replay" | "stale". nc: integer or 8 hex digits;
 * issued defaults to the time inside a nonce of ours, else 0 (unknown). :check(credentials) takes
 * the nonce and nc of a credentials object. */
static int l_replay_check(lua_State *L) {
  sip_digest_replay *r = check_replay(L);
  lcred *cr = (lcred *)luaL_testudata(L, 2, CRED_MT);
  sip_str nonce;
  uint32_t nc = 0;
  if (cr) {
    nonce = cr->c.nonce;
    nc = cr->c.nc_hex.p ? cr->c.nc : 1; /* qop without nc counts as the first use */
    lua_settop(L, 2);
  } else {
    luaL_checkstring(L, 2);
    nonce = to_str(L, 2);
    if (lua_type(L, 3) == LUA_TSTRING) {
      sip_str s = to_str(L, 3);
      luaL_argcheck(L, s.n == 8 && strspn(s.p, "0123456789abcdefABCDEF") == 8, 3,
                    "8 hex digits expected");
      nc = (uint32_t)strtoul(s.p, NULL, 16);
    } else {
      lua_Integer v = luaL_checkinteger(L, 3);
      luaL_argcheck(L, v >= 0 && v <= 0xffffffffLL, 3, "out of range");
      nc = (uint32_t)v;
    }
  }
  uint64_t issued = 0;
  if (lua_isnoneornil(L, 4)) {
    if (sip_digest_nonce_time(nonce, &issued)) issued = 0;
  } else {
    lua_Integer v = luaL_checkinteger(L, 4);
    luaL_argcheck(L, v >= 0, 4, "must not be negative");
    issued = (uint64_t)v;
  }
  int rc = sip_digest_replay_check(r, nonce, issued, nc);
  if (rc == SIP_REPLAY_OK) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  lua_pushstring(L, rc == SIP_REPLAY_STALE ? "stale" : "replay");
  return 2;
}

/* one idempotent close for :close(), __close and __gc */
static int l_replay_close(lua_State *L) {
  lreplay *u = (lreplay *)luaL_checkudata(L, 1, REPLAY_MT);
  sip_digest_replay_free(u->r);
  u->r = NULL;
  return 0;
}

static int l_replay_tostring(lua_State *L) {
  lreplay *u = (lreplay *)luaL_checkudata(L, 1, REPLAY_MT);
  if (u->r) lua_pushfstring(L, "sip.digest.replay (%p)", (void *)u->r);
  else lua_pushliteral(L, "sip.digest.replay (closed)");
  return 1;
}

static const luaL_Reg replay_methods[] = {
  {"check", l_replay_check},
  {"close", l_replay_close},
  {NULL, NULL},
};

static const luaL_Reg funcs[] = {
  {"parse_challenge", l_parse_challenge},
  {"parse_credentials", l_parse_credentials},
  {"parse_info", l_parse_info},
  {"response", l_response},
  {"rspauth", l_rspauth},
  {"verify", l_verify},
  {"ha1", l_ha1},
  {"userhash", l_userhash},
  {"make_challenge", l_make_challenge},
  {"make_credentials", l_make_credentials},
  {"make_info", l_make_info},
  {"pick", l_pick},
  {"nonce_new", l_nonce_new},
  {"nonce_check", l_nonce_check},
  {"nonce_time", l_nonce_time},
  {"replay_new", l_replay_new},
  {"random_hex", l_random_hex},
  {"equal", l_equal},
  {NULL, NULL},
};

static const luaL_Reg cred_methods[] = {
  {"verify", cred_verify},
  {"rspauth", cred_rspauth},
  {"nonce_status", cred_nonce_status},
  {NULL, NULL},
};

int lsip_open_digest(lua_State *L) {
  lsip_class(L, REPLAY_MT, replay_methods, l_replay_close);
  lua_pushcfunction(L, l_replay_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  /* credentials objects: fields and methods through one __index (methods in its upvalue) */
  luaL_newmetatable(L, CRED_MT);
  lua_newtable(L);
  luaL_setfuncs(L, cred_methods, 0);
  lua_pushcclosure(L, cred_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, cred_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushcclosure(L, l_credentials, 1);
  lua_setfield(L, -2, "credentials");
  return 1;
}
