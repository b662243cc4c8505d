/* lsip_txn.c: sip.txn userdata, the handle of a transaction: respond, send, cancel, events.
 * The stack (lsip_stack.c) makes, finds and pins handles; a handle goes stale (every method
 * refuses) after its "terminated" event. */
#include <string.h>

#include "lsip.h"
#include "sip_build.h"
#include "sip_rand.h"
#include "sip_stack.h"

static lsip_txn *checktxn(lua_State *L, int i) {
  lsip_txn *x = luaL_checkudata(L, i, LSIP_TXN);
  if (!x->t) luaL_error(L, "transaction is terminated");
  return x;
}

/* The handle at idx goes unpinned once no callback waits for its events and, for a server
 * transaction, its final response is sent. */
static void txn_maybe_unpin(lua_State *L, int idx, lsip_txn *x) {
  if (!x->t || x->self == LUA_NOREF) return;
  if (sip_txn_kind_of(x->t) >= SIP_TXN_SERVER_INVITE) {
    sip_txn_state state = sip_txn_state_of(x->t);
    if (state == SIP_TXN_TRYING || state == SIP_TXN_PROCEEDING) return;
  }
  if (lua_getiuservalue(L, idx, 1) == LUA_TNIL) lsip_txn_unpin(L, x);
  lua_pop(L, 1);
}

int lsip_txn_respond(lua_State *L, int txn, int arg, const sip_msg *req) {
  lsip_txn *x = checktxn(L, txn);
  lua_Integer code = luaL_checkinteger(L, arg);
  luaL_argcheck(L, code >= 100 && code <= 699, arg, "status must be 100..699");
  const char *reason = luaL_optstring(L, arg + 1, NULL);
  const char *to_tag = NULL, *extra = NULL, *ctype = NULL, *body = NULL;
  size_t blen = 0;
  int o = arg + 2;
  if (!lua_isnoneornil(L, o)) {
    luaL_checktype(L, o, LUA_TTABLE);
    lsip_check_reply_opts(L, o); /* lsip_msg.c: no CR/LF/NUL smuggled into the response */
    to_tag = lsip_optstr(L, o, "to_tag");
    extra = lsip_optstr(L, o, "headers");
    ctype = lsip_optstr(L, o, "content_type");
    lua_getfield(L, o, "body");
    body = luaL_optlstring(L, -1, NULL, &blen);
    lua_pop(L, 1);
  }
  if (reason && strpbrk(reason, "\r\n"))
    luaL_argerror(L, arg + 1, "reason must not contain CR or LF");
  if (ctype && strpbrk(ctype, "\r\n"))
    luaL_argerror(L, o, "content_type must not contain CR or LF");
  if (body && blen && !ctype) luaL_argerror(L, o, "a body needs content_type");
  if (sip_txn_kind_of(x->t) < SIP_TXN_SERVER_INVITE)
    luaL_error(L, "respond: not a server transaction");
  sip_hdr hdr[256];
  sip_msg stored;
  if (!req) {
    if (!sip_txn_request(x->t, NULL)) { /* dropped at the final response: too late to answer */
      lua_pushnil(L);
      lua_pushstring(L, sip_txn_strerror(SIP_TXN_EREFUSED));
      return 2;
    }
    if (sip_txn_parse_request(x->t, &stored, hdr, 256))
      luaL_error(L, "respond: the stored request does not parse");
    req = &stored;
  }
  char tag[SIP_TAG_LEN + 1];
  if (!to_tag && code > 100) {
    if (sip_rand_tag(tag)) return luaL_error(L, "random source failed");
    to_tag = tag;
  }
  sip_buf b = SIP_BUF_INIT;
  sip_build_response(&b, req, (int)code, reason, to_tag, sip_txn_via_fix(x->t), extra, ctype, body,
                     blen);
  if (b.oom) {
    sip_buf_free(&b);
    return luaL_error(L, "out of memory");
  }
  lua_State *prev = x->st->Lcall;
  x->st->Lcall = L;
  int rc = sip_stack_respond(x->st->s, x->t, b.p, b.n);
  x->st->Lcall = prev;
  sip_buf_free(&b);
  if (rc != SIP_TXN_OK) {
    lua_pushnil(L);
    lua_pushstring(L, sip_txn_strerror(rc));
    return 2;
  }
  txn_maybe_unpin(L, txn, x);
  lua_pushboolean(L, 1);
  return 1;
}

/* txn:respond(code[, reason[, opts]]) -> true | nil, err: a response built from the stored
 * request (§8.2.6) with received/rport (RFC 3581). opts: to_tag, headers (raw lines), body,
 * content_type */
static int x_respond(lua_State *L) { return lsip_txn_respond(L, 1, 2, NULL); }

/* txn:send(response) -> true | nil, err: a response the caller built (a proxy's relayed one) */
static int x_send(lua_State *L) {
  lsip_txn *x = checktxn(L, 1);
  size_t len;
  const char *buf = lsip_tobytes(L, 2, &len);
  lua_State *prev = x->st->Lcall;
  x->st->Lcall = L;
  int rc = sip_stack_respond(x->st->s, x->t, buf, len);
  x->st->Lcall = prev;
  if (rc != SIP_TXN_OK) {
    lua_pushnil(L);
    lua_pushstring(L, sip_txn_strerror(rc));
    return 2;
  }
  txn_maybe_unpin(L, 1, x);
  lua_pushboolean(L, 1);
  return 1;
}

/* txn:cancel(fn) -> the CANCEL's client transaction | nil, err, code (§9.1) */
static int x_cancel(lua_State *L) {
  lsip_txn *x = checktxn(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  sip_buf b = SIP_BUF_INIT;
  if (sip_txn_build_cancel(x->t, &b)) {
    sip_buf_free(&b);
    lua_pushnil(L);
    lua_pushliteral(L, "cannot cancel this transaction");
    return 2;
  }
  /* copy out: starting the CANCEL may run callbacks, and b must be freed whatever happens */
  lua_pushlstring(L, b.p, b.n);
  sip_buf_free(&b);
  size_t len;
  const char *buf = lua_tolstring(L, -1, &len);
  sip_peer to = *sip_txn_peer(x->t);
  return lsip_stack_start_client(L, x->st, buf, len, &to, NULL, 2); /* its INVITE's connection */
}

/* txn:on(fn | nil) -- the event callback of a transaction (a server's "error", "terminated"; a
 * client's as stack:request's). nil: no more events; a client transaction whose final response
 * came lets Lua drop its handle then, while the core absorbs retransmissions (Timer K). */
static int x_on(lua_State *L) {
  lsip_txn *x = checktxn(L, 1);
  if (!lua_isnil(L, 2)) luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, 1, 1);
  if (lua_isnil(L, 2)) txn_maybe_unpin(L, 1, x);
  else if (x->self == LUA_NOREF) { /* events will come: keep the handle until it terminates */
    lua_pushvalue(L, 1);
    x->self = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  return 0;
}

/* A handle collected while its transaction lingers in C: the transaction forgets it. The stack
 * is alive (the handle's uservalue holds it), so its list of live handles can be updated. */
static int x_gc(lua_State *L) {
  lsip_txn *x = lua_touserdata(L, 1);
  if (x->t) sip_txn_set_data(x->t, NULL);
  lsip_txn_detach(x); /* also when a termination outside the loop left it listed */
  return 0;
}

static int x_request(lua_State *L) {
  lsip_txn *x = checktxn(L, 1);
  size_t len;
  const char *buf = sip_txn_request(x->t, &len);
  if (!buf) return 0;
  lsip_pushmsg(L, buf, len);
  return 1;
}

static int x_cancelled_invite(lua_State *L) {
  lsip_txn *x = checktxn(L, 1);
  sip_txn *inv = sip_txn_cancelled_invite(x->t);
  lsip_txn *h = inv ? sip_txn_data(inv) : NULL;
  if (!h) return 0;
  if (lsip_pushtxn(L, h) == LUA_TNIL) return 0;
  return 1;
}

static int x_terminate(lua_State *L) {
  lsip_txn *x = luaL_checkudata(L, 1, LSIP_TXN);
  if (x->t) sip_stack_terminate(x->st->s, x->t);
  return 0;
}

static int x_index(lua_State *L) {
  lsip_txn *x = luaL_checkudata(L, 1, LSIP_TXN);
  const char *k = luaL_checkstring(L, 2);
  if (!strcmp(k, "state")) {
    lua_pushstring(L, x->t ? sip_txn_state_name(sip_txn_state_of(x->t)) : "terminated");
    return 1;
  }
  if (!strcmp(k, "status")) { /* of the last response sent on a server transaction */
    size_t n;
    const char *r = x->t ? sip_txn_last_response(x->t, &n) : NULL;
    if (!r || n < 12 || memcmp(r, "SIP/2.0 ", 8)) return 0;
    lua_pushinteger(L, (r[8] - '0') * 100 + (r[9] - '0') * 10 + (r[10] - '0'));
    return 1;
  }
  if (!strcmp(k, "kind")) {
    if (!x->t) return 0;
    lua_pushstring(L, sip_txn_kind_name(sip_txn_kind_of(x->t)));
    return 1;
  }
  if (!strcmp(k, "peer")) {
    if (!x->t) return 0;
    lsip_pushpeer(L, sip_txn_peer(x->t));
    return 1;
  }
  if (!strcmp(k, "received") || !strcmp(k, "rport")) {
    const sip_via_fix *f = x->t ? sip_txn_via_fix(x->t) : NULL;
    if (!f) return 0;
    if (k[1] == 'e') {
      if (!f->received) return 0;
      lua_pushstring(L, f->received);
    } else {
      if (!f->rport) return 0;
      lua_pushinteger(L, f->rport);
    }
    return 1;
  }
  /* a method: from the table in upvalue 1, by a raw get of the (interned) key */
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

void lsip_open_txn(lua_State *L) {
  if (luaL_newmetatable(L, LSIP_TXN)) {
    luaL_Reg m[] = {{"respond", x_respond},     {"send", x_send},
                    {"cancel", x_cancel},       {"on", x_on},
                    {"request", x_request},     {"cancelled_invite", x_cancelled_invite},
                    {"terminate", x_terminate}, {NULL, NULL}};
    luaL_newlib(L, m);
    lua_pushcclosure(L, x_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, x_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
}
