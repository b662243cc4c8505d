/* lsip_build.c: the builders of sip.core: sip.response, sip.ack, sip.cancel, header_lines, and
 * the identifiers (branch, tag, Call-ID) and reason phrases they use, over sip_build.c. */
#include "lsip.h"
#include "sip_build.h"
#include "sip_rand.h"

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
  sip_build_response(&b, req, (int)status, reason, to_tag, &fix,
                     extra, ctype, body, blen);
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

int lsip_open_build(lua_State *L) {
  luaL_Reg fns[] = {{"response", l_response}, {"ack", l_ack},       {"cancel", l_cancel},
                    {"branch", l_branch},     {"tag", l_tag},       {"callid", l_callid},
                    {"reason_phrase", l_reason}, {"header_lines", l_header_lines}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  return 0;
}
