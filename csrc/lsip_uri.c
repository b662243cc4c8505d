/* lsip_uri.c: sip.uri userdata: a parsed URI that owns a copy of its text. */
#include <stdlib.h>
#include <string.h>

#include "lsip.h"

typedef struct lsip_uri {
  sip_uri u; /* slices into text */
  size_t n;
  char text[];
} lsip_uri;

void lsip_pushstr(lua_State *L, sip_str s) {
  if (s.p) lua_pushlstring(L, s.p, s.n);
  else lua_pushnil(L);
}

/* Push s with %HH unescaped once (RFC 3261 §19.1.2); falls back to the raw text on a bad escape. */
static void push_unescaped(lua_State *L, sip_str s) {
  if (!s.p) {
    lua_pushnil(L);
    return;
  }
  if (!memchr(s.p, '%', s.n)) {
    lua_pushlstring(L, s.p, s.n);
    return;
  }
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, s.n);
  long k = sip_unescape(s.p, s.n, out);
  if (k < 0) {
    memcpy(out, s.p, s.n);
    k = (long)s.n;
  }
  luaL_pushresultsize(&b, (size_t)k);
}

/* The parse runs over the userdata's copy, so that the slices point into it; on an error, *off is
 * the offending byte's offset in the text (the copy is gone by then). */
static lsip_uri *newuri(lua_State *L, const char *text, size_t n, const char **err, size_t *off) {
  lsip_uri *u = lua_newuserdatauv(L, sizeof *u + n + 1, 0);
  memcpy(u->text, text, n);
  u->text[n] = 0;
  u->n = n;
  const char *at = u->text;
  if (sip_uri_parse(u->text, n, &u->u, err, &at) != 0) {
    *off = (size_t)(at - u->text);
    lua_pop(L, 1);
    return NULL;
  }
  luaL_setmetatable(L, LSIP_URI);
  return u;
}

void lsip_pushuri(lua_State *L, const char *text, size_t n, const sip_uri *parsed) {
  const char *err;
  size_t off;
  (void)parsed;
  if (!newuri(L, text, n, &err, &off)) lua_pushnil(L);
}

/* sip.uri(text) -> uri | nil, "what at byte N" (N counts from 1, like string.sub) */
static int l_uri(lua_State *L) {
  size_t n, off = 0;
  const char *s = luaL_checklstring(L, 1, &n);
  const char *err = "bad URI";
  if (!newuri(L, s, n, &err, &off)) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s at byte %I", err, (lua_Integer)off + 1);
    return 2;
  }
  return 1;
}

static const char *scheme_name(const sip_uri *u) {
  switch (u->scheme) {
  case SIP_URI_SIP: return "sip";
  case SIP_URI_SIPS: return "sips";
  case SIP_URI_TEL: return "tel";
  default: return NULL;
  }
}

/* Push a ";a=b;c" or "a=b&c=d" list as a table (names lower-cased, values unescaped, flags true). */
static void push_params(lua_State *L, sip_str s, char sep) {
  lua_newtable(L);
  const char *p = s.p, *end = s.p ? s.p + s.n : NULL;
  while (p && p < end) {
    const char *q = memchr(p, sep, (size_t)(end - p));
    if (!q) q = end;
    const char *eq = memchr(p, '=', (size_t)(q - p));
    sip_str name = sip_str_make(p, (size_t)((eq ? eq : q) - p));
    if (name.n) {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (size_t i = 0; i < name.n; i++)
        luaL_addchar(&b, (char)sip_lower((unsigned char)name.p[i]));
      luaL_pushresult(&b);
      if (eq) push_unescaped(L, sip_str_make(eq + 1, (size_t)(q - eq - 1)));
      else lua_pushboolean(L, 1);
      lua_rawset(L, -3);
    }
    p = q + 1;
  }
}

static int uri_index(lua_State *L) {
  lsip_uri *u = luaL_checkudata(L, 1, LSIP_URI);
  const char *k = luaL_checkstring(L, 2);
  const sip_uri *x = &u->u;
  if (!strcmp(k, "scheme")) {
    const char *s = scheme_name(x);
    if (s) lua_pushstring(L, s);
    else {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (size_t i = 0; i < x->scheme_str.n; i++)
        luaL_addchar(&b, (char)sip_lower((unsigned char)x->scheme_str.p[i]));
      luaL_pushresult(&b);
    }
  } else if (!strcmp(k, "user")) push_unescaped(L, x->user);
  else if (!strcmp(k, "password")) {
    if (x->has_password) push_unescaped(L, x->password);
    else lua_pushnil(L);
  } else if (!strcmp(k, "host")) lsip_pushstr(L, x->host);
  else if (!strcmp(k, "is_ip")) /* an address, no name to look up (RFC 3263 §4.1) */
    lua_pushboolean(L, x->host_type == SIP_HOST_IPV4 || x->host_type == SIP_HOST_IPV6);
  else if (!strcmp(k, "port")) {
    if (x->port) lua_pushinteger(L, x->port);
    else lua_pushnil(L);
  } else if (!strcmp(k, "params")) push_params(L, x->params, ';');
  else if (!strcmp(k, "headers")) push_params(L, x->headers, '&');
  else if (!strcmp(k, "opaque")) lsip_pushstr(L, x->opaque);
  else if (!strcmp(k, "transport")) {
    sip_str v;
    if (sip_uri_param(x, "transport", &v) && v.n) {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (size_t i = 0; i < v.n; i++) luaL_addchar(&b, (char)sip_lower((unsigned char)v.p[i]));
      luaL_pushresult(&b);
    } else lua_pushnil(L);
  } else { /* a method: from the table in upvalue 1, by a raw get of the (interned) key */
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
  }
  return 1;
}

/* uri:param(name) -> value | true (flag) | nil */
static int uri_param(lua_State *L) {
  lsip_uri *u = luaL_checkudata(L, 1, LSIP_URI);
  const char *name = luaL_checkstring(L, 2);
  sip_str v;
  if (!sip_uri_param(&u->u, name, &v)) return 0;
  if (v.n == 0) lua_pushboolean(L, 1);
  else push_unescaped(L, v);
  return 1;
}

/* uri:equals(other) -- RFC 3261 §19.1.4; other may be a string */
static int uri_equals(lua_State *L) {
  lsip_uri *a = luaL_checkudata(L, 1, LSIP_URI);
  lsip_uri *b = luaL_testudata(L, 2, LSIP_URI);
  if (!b) {
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    const char *err;
    size_t off;
    b = newuri(L, s, n, &err, &off);
    if (!b) {
      lua_pushboolean(L, 0);
      return 1;
    }
  }
  lua_pushboolean(L, sip_uri_equal(&a->u, &b->u));
  return 1;
}

static int uri_tostring(lua_State *L) {
  lsip_uri *u = luaL_checkudata(L, 1, LSIP_URI);
  lua_pushlstring(L, u->text, u->n);
  return 1;
}

/* uri:format() -- the canonical serialization of sip_uri_format */
static int uri_format(lua_State *L) {
  lsip_uri *u = luaL_checkudata(L, 1, LSIP_URI);
  size_t need = sip_uri_format(&u->u, NULL, 0);
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, need + 1);
  sip_uri_format(&u->u, out, need + 1);
  luaL_pushresultsize(&b, need);
  return 1;
}

static int l_unescape(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, n + 1);
  long k = sip_unescape(s, n, out);
  if (k < 0) {
    luaL_pushresultsize(&b, 0);
    lua_pushnil(L);
    lua_pushstring(L, "bad %-escape");
    return 2;
  }
  luaL_pushresultsize(&b, (size_t)k);
  return 1;
}

int lsip_open_uri(lua_State *L) {
  if (luaL_newmetatable(L, LSIP_URI)) {
    lua_pushcfunction(L, uri_equals);
    lua_setfield(L, -2, "__eq");
    lua_pushcfunction(L, uri_tostring);
    lua_setfield(L, -2, "__tostring");
    luaL_Reg methods[] = {{"param", uri_param},
                          {"equals", uri_equals},
                          {"format", uri_format},
                          {"tostring", uri_tostring},
                          {NULL, NULL}};
    luaL_newlib(L, methods);
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, uri_index, 1);
    lua_setfield(L, -3, "__index");
    lua_setfield(L, -2, "methods");
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, l_uri);
  lua_setfield(L, -2, "uri");
  lua_pushcfunction(L, l_unescape);
  lua_setfield(L, -2, "unescape");
  return 0;
}
