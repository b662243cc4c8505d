/* lsip_resolve.c: sip.resolver userdata over sip_resolve.c. A lookup answered from the cache
 * returns at once; otherwise its callback runs later from the loop (lua/sip/resolver.lua turns
 * that into a yield of the calling coroutine). A lookup in flight anchors the resolver and its
 * callback in the registry and counts as loop work. */
#include <arpa/inet.h>
#include <ev.h>
#include <stdlib.h>
#include <string.h>

#include "lsip.h"
#include "sip_resolve.h"

#define LSIP_RESOLVER "sip.resolver"

typedef struct lsip_resolver {
  sip_resolver *r;
  lsip_loop *lp;
  lua_State *L; /* the state inside a call into the resolver, for answers given at once */
} lsip_resolver;

typedef struct pending {
  lsip_resolver *lr;
  int fn, arg, self; /* registry refs: the callback, its first argument, the resolver */
} pending;

static const char *const TYPES[] = {"A", "AAAA", "SRV", "NAPTR", NULL};
static const int TYPE_CODES[] = {SIP_DNS_A, SIP_DNS_AAAA, SIP_DNS_SRV, SIP_DNS_NAPTR};

static const char *kind(int status) {
  switch (status) {
  case SIP_RES_NONAME: return "noname";
  case SIP_RES_NODATA: return "nodata";
  case SIP_RES_CLOSED: return "closed";
  default: return "fail";
  }
}

static void setint(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

/* records, ttl | nil, err, kind: the answer as Lua sees it. */
static int push_result(lua_State *L, lsip_loop *lp, const sip_resolve_result *res) {
  if (res->status != SIP_RES_OK) {
    lua_pushnil(L);
    lua_pushstring(L, res->err ? res->err : "lookup failed");
    lua_pushstring(L, kind(res->status));
    return 3;
  }
  lua_createtable(L, (int)res->n, 0);
  for (unsigned i = 0; i < res->n; i++) {
    const sip_dns_rr *r = &res->rr[i];
    char text[64];
    switch (r->type) {
    case SIP_DNS_A:
    case SIP_DNS_AAAA:
      inet_ntop(r->type == SIP_DNS_A ? AF_INET : AF_INET6, r->addr, text, sizeof text);
      lua_pushstring(L, text);
      break;
    case SIP_DNS_SRV:
      lua_createtable(L, 0, 4);
      setint(L, "priority", r->prio);
      setint(L, "weight", r->weight);
      setint(L, "port", r->port);
      lua_pushstring(L, res->pool + r->name);
      lua_setfield(L, -2, "target");
      break;
    default: /* NAPTR */
      lua_createtable(L, 0, 5);
      setint(L, "order", r->prio);
      setint(L, "preference", r->weight);
      lua_pushstring(L, r->flags);
      lua_setfield(L, -2, "flags");
      lua_pushstring(L, r->service);
      lua_setfield(L, -2, "service");
      lua_pushstring(L, res->pool + r->name);
      lua_setfield(L, -2, "replacement");
      break;
    }
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  double ttl = res->expires - ev_now(lp->loop);
  lua_pushnumber(L, ttl > 0 ? ttl : 0);
  return 2;
}

static void unref(lua_State *L, pending *p) {
  luaL_unref(L, LUA_REGISTRYINDEX, p->fn);
  luaL_unref(L, LUA_REGISTRYINDEX, p->arg);
  luaL_unref(L, LUA_REGISTRYINDEX, p->self);
}

static void answered(void *ud, const sip_resolve_result *res) {
  pending *p = ud;
  lsip_resolver *lr = p->lr;
  lua_State *L = lr->L ? lr->L : lr->lp->L;
  lr->lp->active--;
  if (L && res->status != SIP_RES_CLOSED) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, p->fn);
    lua_rawgeti(L, LUA_REGISTRYINDEX, p->arg);
    int n = push_result(L, lr->lp, res);
    lsip_pcall(lr->lp, L, n + 1);
  }
  if (L) unref(L, p); /* closed: nobody is called from a closing resolver, the refs just go */
  free(p);
}

static lsip_resolver *checkres(lua_State *L) {
  lsip_resolver *lr = luaL_checkudata(L, 1, LSIP_RESOLVER);
  if (!lr->r) luaL_error(L, "resolver is closed");
  return lr;
}

/* resolver:query(name, "A"|"AAAA"|"SRV"|"NAPTR"[, fn, arg]) -> records, ttl (cached) |
 * nil, err, kind (cached negative, or a name that cannot be asked) | false: not cached, and then
 * (with fn) fn(arg, records, ttl) or fn(arg, nil, err, kind) runs later from the loop; without fn
 * nothing is asked. kind: "noname", "nodata", "fail". */
static int r_query(lua_State *L) {
  lsip_resolver *lr = checkres(L);
  const char *name = luaL_checkstring(L, 2);
  int type = TYPE_CODES[luaL_checkoption(L, 3, NULL, TYPES)];
  int ask = !lua_isnoneornil(L, 4);
  if (ask) luaL_checktype(L, 4, LUA_TFUNCTION);
  pending *p = NULL;
  if (ask) {
    if (!(p = malloc(sizeof *p))) return luaL_error(L, "out of memory");
    p->lr = lr;
    lua_pushvalue(L, 4);
    p->fn = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, 5);
    p->arg = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, 1);
    p->self = luaL_ref(L, LUA_REGISTRYINDEX);
    lr->lp->active++; /* before: an answer given at once (a c-ares failure) takes it back */
  }
  sip_resolve_result now;
  lua_State *prev = lr->L;
  lr->L = L;
  int rc = sip_resolve(lr->r, name, type, ask ? answered : NULL, p, &now);
  lr->L = prev;
  if (rc == 0) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (p) {
    lr->lp->active--;
    unref(L, p);
    free(p);
  }
  return push_result(L, lr->lp, &now);
}

/* resolver:stats() -> {entries=, inflight=, hits=, misses=, queries=, evicted=} */
static int r_stats(lua_State *L) {
  lsip_resolver *lr = checkres(L);
  sip_resolver_stats st;
  sip_resolver_get_stats(lr->r, &st);
  lua_createtable(L, 0, 6);
  setint(L, "entries", st.entries);
  setint(L, "inflight", st.inflight);
  setint(L, "hits", (lua_Integer)st.hits);
  setint(L, "misses", (lua_Integer)st.misses);
  setint(L, "queries", (lua_Integer)st.queries);
  setint(L, "evicted", (lua_Integer)st.evicted);
  return 1;
}

static int r_close(lua_State *L) {
  lsip_resolver *lr = luaL_checkudata(L, 1, LSIP_RESOLVER);
  if (!lr->r) return 0;
  lr->L = L;
  sip_resolver_free(lr->r);
  lr->r = NULL;
  lr->L = NULL;
  return 0;
}

static double optnum(lua_State *L, int t, const char *k) {
  lua_getfield(L, t, k);
  double v = luaL_optnumber(L, -1, 0);
  lua_pop(L, 1);
  if (v < 0) luaL_error(L, "resolver option %s must be >= 0", k);
  return v;
}

/* sip.core.resolver{servers = "host:port,...", timeout =, tries =, cache =, max_ttl =, neg_ttl =,
 * fail_ttl =} -> resolver | nil, err (a server list that does not parse) */
static int l_resolver(lua_State *L) {
  lsip_loop *lp = lsip_getloop(L);
  sip_resolver_config c;
  memset(&c, 0, sizeof c);
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "servers");
    c.servers = luaL_optstring(L, -1, NULL);
    lua_pop(L, 1); /* the table keeps the string */
    c.timeout = optnum(L, 1, "timeout");
    c.tries = (int)optnum(L, 1, "tries");
    c.max_entries = (unsigned)optnum(L, 1, "cache");
    c.max_ttl = (unsigned)optnum(L, 1, "max_ttl");
    c.neg_ttl = (unsigned)optnum(L, 1, "neg_ttl");
    c.fail_ttl = (unsigned)optnum(L, 1, "fail_ttl");
  }
  lsip_resolver *lr = lua_newuserdatauv(L, sizeof *lr, 0);
  memset(lr, 0, sizeof *lr);
  lr->lp = lp;
  luaL_setmetatable(L, LSIP_RESOLVER);
  const char *err = "cannot make a resolver";
  if (!(lr->r = sip_resolver_new(lp->loop, &c, &err))) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  return 1;
}

int lsip_open_resolve(lua_State *L) {
  const luaL_Reg methods[] = {
    {"query", r_query}, {"stats", r_stats}, {"close", r_close}, {NULL, NULL}};
  lsip_class(L, LSIP_RESOLVER, methods, r_close);
  lua_pop(L, 1);
  lua_pushcfunction(L, l_resolver);
  lua_setfield(L, -2, "resolver");
  return 0;
}
