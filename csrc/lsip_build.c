/* lsip_build.c: the builders of sip.core: sip.response, sip.ack, sip.cancel, header_lines, and
 * the identifiers (branch, tag, Call-ID) and reason phrases they use, over sip_build.c. */
#include "lsip.h"
#include "sip_build.h"
#include "sip_rand.h"

#include <stdlib.h>
#include <string.h>

/* sip.response(req, status[, reason[, opts]]) -> message (§8.2.6)
 * opts: to_tag, headers (raw lines), body, content_type, received, rport */
static int l_response(lua_State *L) {
  const sip_msg *req = lsip_checkmsg(L, 1);
  lua_Integer status = luaL_checkinteger(L, 2);
  size_t rl;
  const char *reason = luaL_optlstring(L, 3, NULL, &rl);
  luaL_argcheck(L, status >= 100 && status <= 699, 2, "status must be 100..699");
  luaL_argcheck(L, req->is_request, 1, "not a request");
  if (reason) lsip_checktext(L, 3, "reason phrase", reason, rl);
  int o = 4;
  lsip_check_reply_opts(L, o);
  const char *to_tag = NULL, *ctype = NULL, *body = NULL;
  size_t blen = 0;
  sip_via_fix fix = {NULL, 0};
  const char *extra = NULL;
  char tag[SIP_TAG_LEN + 1];
  if (!lua_isnoneornil(L, o)) {
    luaL_checktype(L, o, LUA_TTABLE);
    lua_getfield(L, o, "to_tag");
    to_tag = luaL_optstring(L, -1, NULL);
    lua_getfield(L, o, "content_type");
    ctype = luaL_optstring(L, -1, NULL);
    lua_getfield(L, o, "body");
    body = luaL_optlstring(L, -1, NULL, &blen);
    lua_getfield(L, o, "received");
    fix.received = luaL_optstring(L, -1, NULL);
    lua_getfield(L, o, "rport");
    fix.rport = (int)luaL_optinteger(L, -1, 0);
    lua_getfield(L, o, "headers"); /* raw "Name: value\r\n" lines (sip.lua formats tables) */
    extra = luaL_optstring(L, -1, NULL);
  }
  if (!to_tag && status > 100) {
    if (sip_rand_tag(tag)) return luaL_error(L, "random source failed");
    to_tag = tag;
  }
  sip_buf b = SIP_BUF_INIT;
  sip_build_response(&b, req, (int)status, reason, to_tag, &fix, extra, ctype, body, blen);
  return lsip_pushbuilt(L, &b);
}

/* sip.core.header_lines(lines) -> the lines without Content-Length | nil, err: preformatted
 * header lines checked (sip_check_header_lines) for a builder written in Lua (sip.request) */
static int l_header_lines(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  sip_str name;
  const char *what;
  if (sip_check_header_lines(s, n, &name, &what)) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s%s%s", lua_pushlstring(L, name.p, name.n), name.n ? ": " : "", what);
    lua_remove(L, -2); /* stack: nil, message */
    return 2;
  }
  sip_buf b = SIP_BUF_INIT;
  sip_put_header_lines(&b, s, n);
  if (b.oom) {
    sip_buf_free(&b);
    return luaL_error(L, "out of memory");
  }
  lua_pushlstring(L, b.p ? b.p : "", b.n);
  sip_buf_free(&b);
  return 1;
}

/* sip.ack(invite, response) -> ACK for a non-2xx final (§17.1.1.3) */
static int l_ack(lua_State *L) {
  const sip_msg *inv = lsip_checkmsg(L, 1), *rsp = lsip_checkmsg(L, 2);
  sip_buf b = SIP_BUF_INIT;
  if (sip_build_ack(&b, inv, rsp)) {
    sip_buf_free(&b);
    return luaL_error(L, "ack: the INVITE lacks Via, From, Call-ID or CSeq, or the response To");
  }
  return lsip_pushbuilt(L, &b);
}

/* sip.cancel(request) -> CANCEL for it (§9.1) */
static int l_cancel(lua_State *L) {
  const sip_msg *rq = lsip_checkmsg(L, 1);
  sip_buf b = SIP_BUF_INIT;
  if (sip_build_cancel(&b, rq)) {
    sip_buf_free(&b);
    return luaL_error(L, "cancel: the request lacks Via, From, To, Call-ID or CSeq");
  }
  return lsip_pushbuilt(L, &b);
}

static int l_branch(lua_State *L) {
  char s[SIP_BRANCH_LEN + 1];
  if (sip_rand_branch(s)) return luaL_error(L, "random source failed");
  lua_pushstring(L, s);
  return 1;
}

static int l_tag(lua_State *L) {
  char s[SIP_TAG_LEN + 1];
  if (sip_rand_tag(s)) return luaL_error(L, "random source failed");
  lua_pushstring(L, s);
  return 1;
}

static int l_callid(lua_State *L) {
  char s[SIP_CALLID_LEN + 1];
  if (sip_rand_callid(s)) return luaL_error(L, "random source failed");
  lua_pushstring(L, s);
  return 1;
}

static int l_reason(lua_State *L) {
  lua_pushstring(L, sip_reason_phrase((int)luaL_checkinteger(L, 1)));
  return 1;
}

/* Headers tables ---------------------------------------------------------------------------
 * The one order of a headers table's lines (sip.format_headers, req:reply, sip.response and
 * sip.request all use it): its {name, value} pairs as listed, then its name = value fields
 * sorted by name (bytewise); a value is a string, a number or a list of them (a line each). */

/* Append "name: value\r\n" to the lines table at index lines (n: lines so far). */
static void put_line(lua_State *L, int lines, int *n, int name, int value) {
  size_t nl, vl;
  if (lua_type(L, name) != LUA_TSTRING) luaL_error(L, "header name must be a string");
  const char *nm = lua_tolstring(L, name, &nl);
  if (!sip_is_token(nm, nl)) luaL_error(L, "header name must be a token: %s", nm);
  if (lua_type(L, value) != LUA_TSTRING && lua_type(L, value) != LUA_TNUMBER)
    luaL_error(L, "header value must be a string");
  lua_pushvalue(L, value);
  const char *v = lua_tolstring(L, -1, &vl); /* a number becomes its text, on the copy */
  if (sip_bad_text_byte(v, vl)) luaL_error(L, "header value must not contain CR, LF or NUL");
  lua_pushvalue(L, name);
  lua_pushliteral(L, ": ");
  lua_pushvalue(L, -3);
  lua_pushliteral(L, "\r\n");
  lua_concat(L, 4);
  lua_rawseti(L, lines, ++*n);
  lua_pop(L, 1);
}

static void put_field(lua_State *L, int lines, int *n, int name, int value) {
  if (lua_type(L, value) != LUA_TTABLE) {
    put_line(L, lines, n, name, value);
    return;
  }
  for (lua_Integer i = 1; lua_rawgeti(L, value, i) != LUA_TNIL; i++) {
    put_line(L, lines, n, name, lua_gettop(L));
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

static int name_cmp(const void *a, const void *b) {
  const sip_str *x = a, *y = b;
  int c = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);
  return c ? c : (x->n > y->n) - (x->n < y->n);
}

int lsip_format_headers(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  luaL_checktype(L, idx, LUA_TTABLE);
  int base = lua_gettop(L);
  size_t nnames = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) == LUA_TSTRING) nnames++;
    lua_pop(L, 1);
  }
  /* the names stay alive as the table's keys while it is being read */
  sip_str *names = lua_newuserdatauv(L, (nnames ? nnames : 1) * sizeof *names, 0);
  size_t k = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) == LUA_TSTRING && k < nnames) {
      names[k].p = lua_tolstring(L, -2, &names[k].n);
      k++;
    }
    lua_pop(L, 1);
  }
  if (k > 1) qsort(names, k, sizeof *names, name_cmp);
  lua_newtable(L);
  int lines = lua_gettop(L), n = 0;
  for (lua_Integer i = 1; lua_rawgeti(L, idx, i) != LUA_TNIL; i++) {
    int pair = lua_gettop(L);
    if (lua_type(L, pair) != LUA_TTABLE)
      luaL_error(L, "headers: entry %d must be a {name, value} pair", (int)i);
    lua_rawgeti(L, pair, 1);
    lua_rawgeti(L, pair, 2);
    put_field(L, lines, &n, pair + 1, pair + 2);
    lua_pop(L, 3);
  }
  lua_pop(L, 1);
  for (size_t j = 0; j < k; j++) {
    lua_pushlstring(L, names[j].p, names[j].n);
    lua_pushvalue(L, -1);
    lua_rawget(L, idx);
    put_field(L, lines, &n, lua_gettop(L) - 1, lua_gettop(L));
    lua_pop(L, 2);
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, lines, i);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  lua_replace(L, base + 1); /* over the names */
  lua_settop(L, base + 1);
  return 1;
}

/* sip.core.format_headers(t) -> the header lines of a headers table, in the order above */
static int l_format_headers(lua_State *L) { return lsip_format_headers(L, 1); }

int lsip_open_build(lua_State *L) {
  luaL_Reg fns[] = {{"response", l_response},
                    {"ack", l_ack},
                    {"cancel", l_cancel},
                    {"branch", l_branch},
                    {"tag", l_tag},
                    {"callid", l_callid},
                    {"reason_phrase", l_reason},
                    {"header_lines", l_header_lines},
                    {"format_headers", l_format_headers},
                    {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  return 0;
}
