/* lsip_token.c: sip.core.token(secret, part...) and sip.core.token_check(secret, token, part...)
 * over sip_token.c. */
#include "lsip.h"
#include "sip_token.h"

#define PARTS_MAX 8

static size_t parts_of(lua_State *L, int first, sip_str *parts) {
  int top = lua_gettop(L);
  if (top - first + 1 > PARTS_MAX) luaL_error(L, "token: at most %d parts", PARTS_MAX);
  size_t n = 0;
  for (int i = first; i <= top; i++, n++) parts[n].p = luaL_checklstring(L, i, &parts[n].n);
  return n;
}

static const char *secret_of(lua_State *L, size_t *len) {
  const char *s = luaL_checklstring(L, 1, len);
  if (*len < SIP_TOKEN_KEY_MIN) luaL_argerror(L, 1, "secret of at least 16 bytes expected");
  return s;
}

static int l_token(lua_State *L) {
  size_t klen;
  const char *key = secret_of(L, &klen);
  sip_str parts[PARTS_MAX];
  size_t n = parts_of(L, 2, parts);
  char out[SIP_TOKEN_LEN + 1];
  if (sip_token(key, klen, parts, n, out)) return luaL_error(L, "token: HMAC failed");
  lua_pushlstring(L, out, SIP_TOKEN_LEN);
  return 1;
}

static int l_token_check(lua_State *L) {
  size_t klen;
  const char *key = secret_of(L, &klen);
  sip_str tok;
  tok.p = luaL_checklstring(L, 2, &tok.n);
  sip_str parts[PARTS_MAX];
  size_t n = parts_of(L, 3, parts);
  lua_pushboolean(L, sip_token_check(key, klen, parts, n, tok));
  return 1;
}

int lsip_open_token(lua_State *L) {
  lua_pushcfunction(L, l_token);
  lua_setfield(L, -2, "token");
  lua_pushcfunction(L, l_token_check);
  lua_setfield(L, -2, "token_check");
  return 0;
}
