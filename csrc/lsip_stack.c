/* lsip_stack.c: sip.stack userdata: transports and transactions from Lua. A stack is anchored
 * while open. It makes, finds and pins the handles of its transactions (sip.txn, whose methods
 * are lsip_txn.c's): a handle is anchored while its transaction lives and goes stale (every
 * method refuses) after its "terminated" event. Callbacks run under lsip_pcall: an error stops
 * the loop and comes back out of run(). */
#include <errno.h>
#include <limits.h>
#include <ev.h>
#include <stdlib.h>
#include <string.h>

#include "lsip.h"
#include "sip_build.h"
#include "sip_gate.h"
#include "sip_rand.h"
#include "sip_stack.h"
#include "sip_ws.h"

#define LSIP_STACK "sip.stack"

/* A transaction's handle is found from C through a weak table (registry[&HANDLES][x] = handle).
 * It is also pinned (a strong registry ref) while Lua may still be called about it: until the
 * final response of a server transaction without an event callback, else until it terminates.
 * An answered server transaction lingers in C for Timer J or I (32 s over UDP) absorbing
 * retransmissions; unpinned, its handle is garbage as soon as Lua drops it, so a busy server
 * does not keep hundreds of thousands of handles for the collector to traverse. */
static const char HANDLES = 'h';

void lsip_txn_detach(lsip_txn *x) {
  if (x->prev) x->prev->next = x->next;
  else if (x->st->live == x) x->st->live = x->next;
  if (x->next) x->next->prev = x->prev;
  x->prev = x->next = NULL;
  x->t = NULL;
}

void lsip_txn_unpin(lua_State *L, lsip_txn *x) {
  if (x->self != LUA_NOREF) {
    luaL_unref(L, LUA_REGISTRYINDEX, x->self);
    x->self = LUA_NOREF;
  }
}

static void txn_unlink(lua_State *L, lsip_txn *x) {
  lsip_txn_detach(x);
  lsip_txn_unpin(L, x);
}

/* Push the handle of x (nil when it was collected); returns its type. */
int lsip_pushtxn(lua_State *L, lsip_txn *x) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &HANDLES);
  int ty = lua_rawgetp(L, -1, x);
  lua_remove(L, -2);
  return ty;
}

static lua_State *cbstate(lsip_stack *st) { return st->lp->L ? st->lp->L : st->Lcall; }

static const char *const PROTO_NAMES[] = {"udp", "tcp", "tls", "ws", "wss", NULL};

static const char *proto_name(sip_proto p) {
  return p >= SIP_PROTO_UDP && p <= SIP_PROTO_WSS ? PROTO_NAMES[p - 1] : "udp";
}

static sip_proto check_proto(lua_State *L, int idx) {
  return (sip_proto)(luaL_checkoption(L, idx, NULL, PROTO_NAMES) + 1);
}

void lsip_pushpeer(lua_State *L, const sip_peer *p) {
  char host[64];
  int port = 0;
  lua_createtable(L, 0, 5);
  lua_pushstring(L, proto_name(p->proto));
  lua_setfield(L, -2, "proto");
  if (sip_tp_addr_str(&p->addr, host, sizeof host, &port) == 0) {
    lua_pushstring(L, host);
    lua_setfield(L, -2, "host");
    lua_pushinteger(L, port);
    lua_setfield(L, -2, "port");
  }
  if (p->conn) {
    lua_pushinteger(L, p->conn);
    lua_setfield(L, -2, "conn");
  }
  lua_pushinteger(L, p->listener);
  lua_setfield(L, -2, "listener");
}

/* A peer table {proto=, host=, port=[, conn=][, listener=]} to a sip_peer. Misuse raises;
 * an unresolvable host returns -1 with *err. */
static int topeer(lua_State *L, int idx, sip_peer *p, const char **err) {
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_getfield(L, idx, "proto");
  sip_proto proto = lua_isnil(L, -1) ? SIP_PROTO_UDP : check_proto(L, -1);
  lua_getfield(L, idx, "host");
  const char *host = luaL_checkstring(L, -1);
  lua_getfield(L, idx, "port");
  lua_Integer port = luaL_optinteger(L, -1, sip_proto_default_port(proto));
  lua_getfield(L, idx, "conn");
  lua_Integer conn = luaL_optinteger(L, -1, 0);
  lua_getfield(L, idx, "listener");
  lua_Integer listener = luaL_optinteger(L, -1, 0);
  lua_pop(L, 5);
  if (port < 1 || port > 65535) luaL_error(L, "peer port must be 1..65535");
  if (sip_tp_resolve(host, (int)port, proto, p, err)) return -1;
  p->conn = (uint32_t)conn;
  p->listener = (uint32_t)listener;
  return 0;
}

static lsip_stack *checkstack(lua_State *L, int i) {
  lsip_stack *st = luaL_checkudata(L, i, LSIP_STACK);
  if (!st->s) luaL_error(L, "stack is closed");
  return st;
}

/* ---- transaction handles ------------------------------------------------------------------ */

static lsip_txn *newtxn(lua_State *L, lsip_stack *st, sip_txn *t) {
  lsip_txn *x = lua_newuserdatauv(L, sizeof *x, 2); /* 1: event callback, 2: stack */
  x->t = t;
  x->st = st;
  x->prev = NULL;
  x->next = st->live;
  if (st->live) st->live->prev = x;
  st->live = x;
  lua_rawgeti(L, LUA_REGISTRYINDEX, st->self);
  lua_setiuservalue(L, -2, 2);
  luaL_setmetatable(L, LSIP_TXN);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &HANDLES);
  lua_pushvalue(L, -2);
  lua_rawsetp(L, -2, x);
  lua_pop(L, 1);
  lua_pushvalue(L, -1);
  x->self = luaL_ref(L, LUA_REGISTRYINDEX);
  sip_txn_set_data(t, x);
  return x;
}

/* Push the handle of t and its callback; 0 when there is no callback. */
static int pushtxnfn(lua_State *L, sip_txn *t) {
  lsip_txn *x = sip_txn_data(t);
  if (!x) return 0;
  if (lsip_pushtxn(L, x) == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  if (lua_getiuservalue(L, -1, 1) != LUA_TFUNCTION) {
    lua_pop(L, 2);
    return 0;
  }
  lua_insert(L, -2); /* fn, handle */
  return 1;
}

static int getcb(lua_State *L, lsip_stack *st, const char *name) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, st->cbs);
  int t = lua_getfield(L, -1, name);
  lua_remove(L, -2);
  if (t != LUA_TFUNCTION) {
    lua_pop(L, 1);
    return 0;
  }
  return 1;
}

static void cb_request(void *ud, sip_txn *t, const sip_msg *req, const sip_peer *from) {
  lsip_stack *st = ud;
  lua_State *L = cbstate(st);
  if (!L) return;
  if (!getcb(L, st, "request")) {
    if (t) { /* no request handler: the stack serves nobody (§21.5.4) */
      sip_buf b = SIP_BUF_INIT;
      char tag[SIP_TAG_LEN + 1];
      if (sip_rand_tag(tag) == 0 &&
          sip_build_response(&b, req, 503, NULL, tag, sip_txn_via_fix(t), NULL, NULL, NULL, 0) == 0)
        sip_stack_respond(st->s, t, b.p, b.n);
      sip_buf_free(&b);
    }
    return;
  }
  if (t) newtxn(L, st, t);
  else lua_pushnil(L);
  lsip_pushparsed(L, req); /* the stack's parse, moved onto the Lua string: no second parse */
  lsip_msg_attach(L, -1, -2, from);
  lsip_pcall(st->lp, L, 2);
}

/* Push a received response (the stack's parse) with the address it came from. */
static void pushresponse(lua_State *L, const sip_msg *rsp, const sip_peer *from) {
  lsip_pushparsed(L, rsp);
  lua_pushnil(L); /* no server transaction */
  lsip_msg_attach(L, -2, -1, from);
  lua_pop(L, 1);
}

static void cb_response(void *ud, sip_txn *t, const sip_msg *rsp, const sip_peer *from) {
  lsip_stack *st = ud;
  lua_State *L = cbstate(st);
  if (!L || !pushtxnfn(L, t)) return;
  lua_pushliteral(L, "response");
  pushresponse(L, rsp, from);
  lsip_pcall(st->lp, L, 3);
}

static void cb_stray(void *ud, const sip_msg *rsp, const sip_peer *from) {
  lsip_stack *st = ud;
  lua_State *L = cbstate(st);
  if (!L || !getcb(L, st, "stray")) return;
  pushresponse(L, rsp, from);
  lsip_pcall(st->lp, L, 1);
}

static void cb_error(void *ud, sip_txn *t, int code, const char *what) {
  lsip_stack *st = ud;
  lua_State *L = cbstate(st);
  if (!L || !pushtxnfn(L, t)) return;
  lua_pushliteral(L, "error");
  lua_pushinteger(L, code);
  lua_pushstring(L, what ? what : "");
  lsip_pcall(st->lp, L, 4);
}

static void cb_terminated(void *ud, sip_txn *t) {
  lsip_stack *st = ud;
  lua_State *L = cbstate(st);
  lsip_txn *x = sip_txn_data(t);
  if (!x) return;
  if (L && pushtxnfn(L, t)) {
    lua_pushliteral(L, "terminated");
    lsip_pcall(st->lp, L, 2);
  }
  sip_txn_set_data(t, NULL);
  if (L) txn_unlink(L, x);
  else x->t = NULL;
}

static void cb_conn(void *ud, uint32_t conn, int err, const char *what) {
  lsip_stack *st = ud;
  lua_State *L = cbstate(st);
  if (!L || !getcb(L, st, "conn")) return;
  lua_pushinteger(L, conn);
  lua_pushinteger(L, err);
  lua_pushstring(L, what ? what : "");
  lsip_pcall(st->lp, L, 3);
}

static void cb_trace(void *ud, int out, const char *buf, size_t len, const sip_peer *peer) {
  lsip_stack *st = ud;
  lua_State *L = st->tracing ? cbstate(st) : NULL;
  if (!L || !getcb(L, st, "trace")) return;
  if (out) lua_pushliteral(L, "out");
  else lua_pushliteral(L, "in");
  lua_pushlstring(L, buf, len);
  lsip_pushpeer(L, peer);
  lsip_pcall(st->lp, L, 3);
}

/* ---- the stack ---------------------------------------------------------------------------- */

static double optnum(lua_State *L, int t, const char *k, double def) {
  lua_getfield(L, t, k);
  double v = luaL_optnumber(L, -1, def);
  lua_pop(L, 1);
  return v;
}

const char *lsip_optstr(lua_State *L, int t, const char *k) {
  lua_getfield(L, t, k);
  const char *v = luaL_optstring(L, -1, NULL);
  lua_pop(L, 1); /* still referenced by the table */
  return v;
}

/* A connection cap: absent 0 (the transport's default), else at least 1, at most UINT_MAX. */
static unsigned optcap(lua_State *L, int t, const char *k) {
  double v = optnum(L, t, k, 0);
  if (!(v >= 0)) luaL_error(L, "%s must be a positive integer", k);
  return v > UINT_MAX ? UINT_MAX : (unsigned)v;
}

/* sip.core.stack{t1=, t2=, t4=, timer_d=, trying_delay= (ms), max_msg=, max_conns=, max_tcp=,
 *   max_tls=, max_ws=, max_per_source=, idle_timeout=, first_message_timeout=,
 *   message_timeout=, handshake_timeout= (s; negative: never), tls_cert=, tls_key=, tls_ca=,
 *   tls_verify=false|true} -> stack (absent limits: the transport's defaults) */
static int l_stack(lua_State *L) {
  lsip_loop *lp = lsip_getloop(L);
  if (lua_isnoneornil(L, 1)) lua_newtable(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  sip_stack_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.txl.t1 = (unsigned)optnum(L, 1, "t1", 0);
  cfg.txl.t2 = (unsigned)optnum(L, 1, "t2", 0);
  cfg.txl.t4 = (unsigned)optnum(L, 1, "t4", 0);
  cfg.txl.timer_d = (unsigned)optnum(L, 1, "timer_d", 0);
  cfg.txl.trying_delay = (unsigned)optnum(L, 1, "trying_delay", 0);
  cfg.tp.max_msg = (size_t)optnum(L, 1, "max_msg", 65536);
  cfg.tp.max_conns = optcap(L, 1, "max_conns");
  cfg.tp.max_tcp = optcap(L, 1, "max_tcp");
  cfg.tp.max_tls = optcap(L, 1, "max_tls");
  cfg.tp.max_ws = optcap(L, 1, "max_ws");
  cfg.tp.max_per_source = optcap(L, 1, "max_per_source");
  cfg.tp.idle_timeout = optnum(L, 1, "idle_timeout", 0);
  cfg.tp.first_message_timeout = optnum(L, 1, "first_message_timeout", 0);
  cfg.tp.message_timeout = optnum(L, 1, "message_timeout", 0);
  cfg.tp.handshake_timeout = optnum(L, 1, "handshake_timeout", 0);
  cfg.tp.tls_cert = lsip_optstr(L, 1, "tls_cert");
  cfg.tp.tls_key = lsip_optstr(L, 1, "tls_key");
  cfg.tp.tls_ca = lsip_optstr(L, 1, "tls_ca");
  cfg.loss = optnum(L, 1, "loss", 0);
  luaL_argcheck(L, cfg.loss >= 0 && cfg.loss < 1, 1, "loss must be in [0, 1)");
  lua_getfield(L, 1,
               "tls_verify"); /* false turns verification off (tests with self-signed certs) */
  cfg.tp.tls_verify = (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) ? -1 : 1;
  lua_pop(L, 1);
  lsip_stack *st = lua_newuserdatauv(L, sizeof *st, 1);
  memset(st, 0, sizeof *st);
  st->lp = lp;
  st->self = st->cbs = LUA_NOREF;
  luaL_setmetatable(L, LSIP_STACK);
  sip_stack_handler h = {st,       cb_request,    cb_response, cb_stray,
                         cb_error, cb_terminated, cb_conn,     cb_trace};
  st->s = sip_stack_new(lp->loop, &cfg, &h);
  if (!st->s) {
    lua_pushnil(L);
    lua_pushliteral(L,
                    "cannot create the stack (TLS certificate or key unusable, or out of memory)");
    return 2;
  }
  lua_newtable(L);
  st->cbs = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, -1);
  st->self = luaL_ref(L, LUA_REGISTRYINDEX);
  lp->active++;
  return 1;
}

/* stack:on(event, fn) -- event "request" fn(txn|nil, req), "stray" fn(rsp) (msg.source says
 * where they came from),
 * "conn" fn(conn, errno, what), "trace" fn("in"|"out", bytes, peer) (every message, for
 * logs; it must not yield); fn nil removes it */
static int s_on(lua_State *L) {
  lsip_stack *st = checkstack(L, 1);
  static const char *const events[] = {"request", "stray", "conn", "trace", NULL};
  int e = luaL_checkoption(L, 2, NULL, events);
  if (!lua_isnil(L, 3)) luaL_checktype(L, 3, LUA_TFUNCTION);
  lua_rawgeti(L, LUA_REGISTRYINDEX, st->cbs);
  lua_pushvalue(L, 3);
  lua_setfield(L, -2, events[e]);
  if (e == 3) st->tracing = !lua_isnil(L, 3);
  return 0;
}

/* stack:listen(proto, host, port[, path]) -> listener, host, port | nil, err
 * path: ws and wss only, the resource name the listener serves (nil: any) */
static int s_listen(lua_State *L) {
  lsip_stack *st = checkstack(L, 1);
  sip_proto proto = check_proto(L, 2);
  const char *host = luaL_checkstring(L, 3);
  lua_Integer port = luaL_checkinteger(L, 4);
  const char *path = luaL_optstring(L, 5, NULL);
  luaL_argcheck(L, port >= 0 && port <= 65535, 4, "port must be 0..65535");
  luaL_argcheck(L, !path || ((proto == SIP_PROTO_WS || proto == SIP_PROTO_WSS) && path[0] == '/'),
                5, "a path ('/...') is for ws and wss listeners only");
  const char *err = "listen failed";
  int id = sip_tp_listen(sip_stack_tp(st->s), proto, host, (int)port, &err);
  if (id >= 0 && path && sip_tp_listen_path(sip_stack_tp(st->s), (uint32_t)id, path) < 0)
    return luaL_error(L, "out of memory");
  if (id < 0) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s:%s:%d: %s", proto_name(proto), host, (int)port, err);
    return 2;
  }
  struct sockaddr_storage a;
  socklen_t al = sizeof a;
  char h[64];
  int p = 0;
  lua_pushinteger(L, id);
  if (sip_tp_local(sip_stack_tp(st->s), (uint32_t)id, &a, &al) == 0 &&
      sip_tp_addr_str(&a, h, sizeof h, &p) == 0) {
    lua_pushstring(L, h);
    lua_pushinteger(L, p);
    return 3;
  }
  return 1;
}

/* Start a client transaction for buf to `to` with the event callback at index fn: pushes its
 * handle, or nil, err, 503. */
int lsip_stack_start_client(lua_State *L, lsip_stack *st, const char *buf, size_t len,
                            const sip_peer *to, int fn) {
  const char *err = "request failed";
  lua_State *prev = st->Lcall;
  st->Lcall = L;
  sip_txn *t = sip_stack_request(st->s, buf, len, to, NULL, &err);
  st->Lcall = prev;
  if (!t) {
    lua_pushnil(L);
    lua_pushstring(L, err ? err : "request failed");
    lua_pushinteger(L, 503);
    return 3;
  }
  newtxn(L, st, t);
  lua_pushvalue(L, fn);
  lua_setiuservalue(L, -2, 1);
  return 1;
}

/* stack:request(msg|bytes, peer, fn) -> txn | nil, err, code
 * fn(txn, "response", rsp) | fn(txn, "error", code, what) | fn(txn, "terminated") */
static int s_request(lua_State *L) {
  lsip_stack *st = checkstack(L, 1);
  size_t len;
  const char *buf = lsip_tobytes(L, 2, &len);
  luaL_checktype(L, 4, LUA_TFUNCTION);
  sip_peer to;
  const char *err = "bad destination";
  if (topeer(L, 3, &to, &err)) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    lua_pushinteger(L, 503);
    return 3;
  }
  return lsip_stack_start_client(L, st, buf, len, &to, 4);
}

/* stack:send(msg|bytes, peer) -> true | nil, err: without a transaction (ACK of a 2xx, stateless) */
static int s_send(lua_State *L) {
  lsip_stack *st = checkstack(L, 1);
  size_t len;
  const char *buf = lsip_tobytes(L, 2, &len);
  sip_peer to;
  const char *err = "send failed";
  int bad = topeer(L, 3, &to, &err);
  if (!bad) {
    lua_State *prev = st->Lcall;
    st->Lcall = L;
    bad = sip_stack_send(st->s, &to, buf, len, &err);
    st->Lcall = prev;
  }
  if (bad) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    lua_pushinteger(L, 503);
    return 3;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* stack:websocket(conn) -> path, origin|nil: of an accepted WebSocket connection's Upgrade
 * request | nil when conn is none (closed, or not WebSocket) */
static int s_websocket(lua_State *L) {
  lsip_stack *st = checkstack(L, 1);
  lua_Integer conn = luaL_checkinteger(L, 2);
  const char *path, *origin;
  if (conn < 1 || conn > UINT32_MAX ||
      sip_ws_request(sip_stack_tp(st->s), (uint32_t)conn, &path, &origin) < 0) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushstring(L, path);
  if (origin) lua_pushstring(L, origin);
  else lua_pushnil(L);
  return 2;
}

/* stack:peer(conn) -> peer of an open stream connection | nil */
static int s_peer(lua_State *L) {
  lsip_stack *st = checkstack(L, 1);
  lua_Integer conn = luaL_checkinteger(L, 2);
  sip_peer p;
  if (conn < 1 || conn > UINT32_MAX ||
      sip_tp_conn_peer(sip_stack_tp(st->s), (uint32_t)conn, &p) < 0) {
    lua_pushnil(L);
    return 1;
  }
  lsip_pushpeer(L, &p);
  return 1;
}

/* stack:resolve(host, port, proto) -> peer | nil, err */
static int s_resolve(lua_State *L) {
  checkstack(L, 1);
  const char *host = luaL_checkstring(L, 2);
  lua_Integer port = luaL_checkinteger(L, 3);
  sip_proto proto = lua_isnoneornil(L, 4) ? SIP_PROTO_UDP : check_proto(L, 4);
  sip_peer p;
  const char *err = "cannot resolve";
  memset(&p, 0, sizeof p);
  if (sip_tp_resolve(host, (int)port, proto, &p, &err)) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", host, err);
    return 2;
  }
  lsip_pushpeer(L, &p);
  return 1;
}

/* stack:stats() -> table of transport and transaction counters */
static int s_stats(lua_State *L) {
  lsip_stack *st = checkstack(L, 1);
  sip_tp_stats ts;
  sip_txl_stats xs;
  sip_tp_get_stats(sip_stack_tp(st->s), &ts);
  sip_txl_get_stats(sip_stack_txl(st->s), &xs);
  lua_createtable(L, 0, 32);
#define F(name, v) (lua_pushinteger(L, (lua_Integer)(v)), lua_setfield(L, -2, name))
  F("listeners", ts.listeners);
  F("conns", ts.conns);
  F("rx_msgs", ts.rx_msgs);
  F("tx_msgs", ts.tx_msgs);
  F("framing_errors", ts.framing_errors);
  F("conns_tcp", ts.conns_tcp);
  F("conns_tls", ts.conns_tls);
  F("conns_ws", ts.conns_ws);
  F("untrusted", ts.untrusted);
  F("accepted", ts.accepted);
  F("refused_cap", ts.refused_cap);
  F("refused_source", ts.refused_source);
  F("evicted", ts.evicted);
  F("timeout_handshake", ts.timeout_handshake);
  F("timeout_first", ts.timeout_first);
  F("timeout_message", ts.timeout_message);
  F("idle_closed", ts.idle_closed);
  F("keepalives", ts.keepalives);
  F("connect_failed", ts.connect_failed);
  F("tls_failed", ts.tls_failed);
  F("transactions", xs.live_total);
  F("created", xs.created);
  F("absorbed", xs.absorbed);
  F("retransmitted", xs.retransmitted);
  F("stray", xs.stray);
  F("bad_requests", xs.bad_requests);
  F("bad_responses", xs.bad_responses);
  F("timeouts", xs.timeouts);
  F("gated", xs.gated);
#undef F
  return 1;
}

/* stack:trust(conn) -> true, or false when there is no such connection (closed, or 0 for UDP):
 * the layer above vouches for it (sip_tp_trust). */
static int s_trust(lua_State *L) {
  lsip_stack *st = checkstack(L, 1);
  lua_Integer c = luaL_checkinteger(L, 2);
  lua_pushboolean(L,
                  c > 0 && c <= UINT32_MAX && sip_tp_trust(sip_stack_tp(st->s), (uint32_t)c) == 0);
  return 1;
}

/* Push field k of the table at t, a list: its length, or -1 when it is one string instead. */
static int list_len(lua_State *L, int t, const char *k) {
  int ty = lua_getfield(L, t, k);
  if (ty == LUA_TSTRING) return -1; /* one */
  if (ty != LUA_TTABLE) return luaL_error(L, "field '%s' must be a list", k);
  return (int)luaL_len(L, -1);
}

/* Push item i of the list at idx whose list_len was n (the string itself when n is -1); the
 * string's text, or NULL when the item is not a string. */
static const char *list_str(lua_State *L, int idx, int n, int i, size_t *len) {
  if (n >= 0) lua_rawgeti(L, idx, i);
  else lua_pushvalue(L, idx);
  return lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, len) : NULL;
}

/* stack:gate{method=, status=, reason=, header=, credentials=, secret=, challenges=, hosts=}
 * | stack:gate(nil) -> true | nil, err. Requests answered statelessly before a transaction
 * (sip_gate.h): a new request of method (a name or a list) without a credentials header, for
 * one of hosts, gets status with one header per challenge (tables as digest.make_challenge
 * takes, nonces fresh from secret). nil removes the gate. */
static int s_gate(lua_State *L) {
  lsip_stack *st = checkstack(L, 1);
  if (lua_isnoneornil(L, 2)) {
    sip_txl_set_gate(sip_stack_txl(st->s), NULL);
    lua_pushboolean(L, 1);
    return 1;
  }
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  sip_gate_config c;
  memset(&c, 0, sizeof c);
  int n = list_len(L, 2, "method"); /* at 3 */
  for (int i = 1; i <= (n < 0 ? 1 : n); i++) {
    size_t ml;
    const char *m = list_str(L, 3, n, i, &ml);
    sip_method_id id = m ? sip_method_lookup(m, ml) : SIP_M_OTHER;
    if (id == SIP_M_OTHER || id == SIP_M_ACK || id == SIP_M_CANCEL)
      return luaL_error(L, "field 'method': %s cannot be challenged", m ? m : "a non-string");
    c.methods |= 1u << id;
    lua_pop(L, 1);
  }
  lua_getfield(L, 2, "status"); /* at 4 */
  c.status = (int)luaL_optinteger(L, 4, 401);
  lua_getfield(L, 2, "reason"); /* at 5 */
  c.reason = luaL_optstring(L, 5, NULL);
  lua_getfield(L, 2, "header"); /* at 6 */
  c.header = luaL_optstring(L, 6, c.status == 407 ? "Proxy-Authenticate" : "WWW-Authenticate");
  lua_getfield(L, 2, "credentials"); /* at 7 */
  size_t cl;
  const char *cred =
    luaL_optlstring(L, 7, c.status == 407 ? "Proxy-Authorization" : "Authorization", &cl);
  c.credentials = sip_hdr_lookup(cred, cl);
  if (c.credentials != SIP_H_AUTHORIZATION && c.credentials != SIP_H_PROXY_AUTHORIZATION)
    return luaL_error(L, "field 'credentials' must be Authorization or Proxy-Authorization");
  lua_getfield(L, 2, "secret"); /* at 8 */
  if (lua_type(L, 8) != LUA_TSTRING) return luaL_error(L, "field 'secret' must be a string");
  c.secret = lua_tolstring(L, 8, &c.secret_len);
  int nch = list_len(L, 2, "challenges"); /* at 9 */
  if (nch <= 0 || nch > 16) return luaL_error(L, "field 'challenges' must list 1 to 16 tables");
  sip_digest_challenge ch[16];
  luaL_checkstack(L, nch + 4, "gate");
  for (int i = 1; i <= nch; i++) {
    if (lua_rawgeti(L, 9, i) != LUA_TTABLE)
      return luaL_error(L, "field 'challenges' must list tables");
    lsip_challenge_fields(L, lua_gettop(L), &ch[i - 1]); /* the table stays on the stack */
  }
  c.challenges = ch;
  c.nchallenges = (size_t)nch;
  int nh = list_len(L, 2, "hosts");
  int hi = lua_gettop(L);
  if (nh > 256) return luaL_error(L, "field 'hosts' must list at most 256 names");
  sip_str hosts[256];
  for (int i = 1; i <= (nh < 0 ? 1 : nh); i++) {
    size_t hl;
    const char *h = list_str(L, hi, nh, i, &hl);
    if (!h) return luaL_error(L, "field 'hosts' must list strings");
    hosts[i - 1] = sip_str_make(h, hl); /* anchored in the hosts field */
    lua_pop(L, 1);
  }
  c.hosts = hosts;
  c.nhosts = (size_t)(nh < 0 ? 1 : nh);
  const char *err;
  sip_gate *g = sip_gate_new(&c, &err);
  if (!g) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  sip_txl_set_gate(sip_stack_txl(st->s), g);
  lua_pushboolean(L, 1);
  return 1;
}

static int s_close(lua_State *L) {
  lsip_stack *st = luaL_checkudata(L, 1, LSIP_STACK);
  if (!st->s) return 0;
  sip_stack *s = st->s;
  st->s = NULL;
  while (st->live) txn_unlink(L, st->live); /* their transactions go with the stack */
  sip_stack_free(s);                        /* frees every transaction without callbacks */
  luaL_unref(L, LUA_REGISTRYINDEX, st->cbs);
  st->cbs = LUA_NOREF;
  if (st->self != LUA_NOREF) {
    luaL_unref(L, LUA_REGISTRYINDEX, st->self);
    st->self = LUA_NOREF;
    st->lp->active--;
  }
  return 0;
}

int lsip_open_stack(lua_State *L) {
  const luaL_Reg stack_m[] = {
    {"on", s_on},           {"listen", s_listen},       {"request", s_request}, {"send", s_send},
    {"resolve", s_resolve}, {"websocket", s_websocket}, {"peer", s_peer},       {"stats", s_stats},
    {"gate", s_gate},       {"trust", s_trust},         {"close", s_close},     {NULL, NULL}};
  lsip_class(L, LSIP_STACK, stack_m, s_close);
  lua_pop(L, 1);
  lsip_open_txn(L);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &HANDLES) == LUA_TNIL) {
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "v");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &HANDLES);
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, l_stack);
  lua_setfield(L, -2, "stack");
  return 0;
}
