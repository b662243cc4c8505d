/* lsip_vnet.c: the virtual network and clock under Lua (sip.test). While a Lua state is on them,
 * every stack it makes binds and sends on the network (sip_vnet.h) and every timer, the stack's
 * included, runs on the clock (sip_clock.h); run() delivers what is queued, then moves the clock
 * to the next alarm. Nothing touches a socket, and seconds of timers pass at once. */
#include <ev.h>
#include <stdlib.h>

#include "lsip.h"
#include "sip_clock.h"
#include "sip_vnet.h"

static const char TRACKED = 'V'; /* registry: weak-keyed set of the objects made while virtual */

void lsip_virtual_track(lua_State *L, lsip_loop *lp, int idx) {
  if (!lp->clock) return;
  idx = lua_absindex(L, idx);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &TRACKED);
  lua_pushvalue(L, idx);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

void lsip_run_virtual(lsip_loop *lp, int once) {
  do {
    if (sip_vnet_deliver(lp->vnet)) continue; /* messages in flight arrive before time moves */
    if (!sip_clock_step(lp->clock)) break;
  } while (!lp->stop && !once);
}

/* Every message, to the Lua tap: fn(bytes, from, to, delivered). */
static void tap(void *ud, const char *buf, size_t len, const sip_peer *from, const sip_peer *to,
                int delivered) {
  lsip_loop *lp = ud;
  lua_State *L = lp->L;
  if (!L || lp->tap == LUA_NOREF) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, lp->tap);
  lua_pushlstring(L, buf, len);
  lsip_pushpeer(L, from);
  lsip_pushpeer(L, to);
  lua_pushboolean(L, delivered);
  lsip_pcall(lp, L, 4);
}

/* A fresh, empty set of the objects made on the virtual network. */
static void new_tracked(lua_State *L) { lsip_weak_table(L, &TRACKED, "k"); }

/* Close every object made on the virtual network; returns how many were still active. */
static int close_tracked(lua_State *L, lsip_loop *lp) {
  int open = lp->active;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &TRACKED); /* stack: tracked */
  lua_pushnil(L);
  while (lua_next(L, -2)) { /* stack: tracked, obj, true */
    lua_pop(L, 1);
    if (luaL_getmetafield(L, -1, "__close") != LUA_TNIL) {
      lua_pushvalue(L, -2);
      lua_call(L, 1, 0); /* the idempotent close of a timer or a stack never raises */
    }
  }
  lua_pop(L, 1);
  new_tracked(L);
  return open;
}

static void leave_virtual(lua_State *L, lsip_loop *lp) {
  if (lp->tap != LUA_NOREF) {
    luaL_unref(L, LUA_REGISTRYINDEX, lp->tap);
    lp->tap = LUA_NOREF;
  }
  sip_vnet_free(lp->vnet);
  sip_clock_free(lp->clock);
  lp->vnet = NULL;
  lp->clock = NULL;
}

/* sip.core.virtual(true) -> true: from now on stacks and timers are virtual (nothing may be
 * active: every endpoint and timer closed). sip.core.virtual(false) -> n: every object made on
 * the virtual network closed (n of them were still active) and back to sockets and libev's
 * clock. sip.core.virtual() -> whether the state is on the virtual network. */
static int l_virtual(lua_State *L) {
  lsip_loop *lp = lsip_getloop(L);
  if (lua_isnone(L, 1)) {
    lua_pushboolean(L, lp->clock != NULL);
    return 1;
  }
  int on = lua_toboolean(L, 1);
  if (lp->L)
    return luaL_error(L, "the virtual network cannot be %s while the loop runs",
                      on ? "entered" : "left");
  if (!on) {
    int open = lp->clock ? close_tracked(L, lp) : 0;
    if (lp->clock) leave_virtual(L, lp);
    lua_pushinteger(L, open);
    return 1;
  }
  if (lp->clock) return luaL_error(L, "already on the virtual network");
  if (lp->active)
    return luaL_error(L,
                      "%d endpoints or timers are still open: close them before the virtual "
                      "network starts",
                      lp->active);
  ev_now_update(lp->loop);
  lp->clock = sip_clock_new(ev_now(lp->loop)); /* sip.now() goes on from the real time */
  lp->vnet = sip_vnet_new();
  if (!lp->clock || !lp->vnet) {
    leave_virtual(L, lp);
    return luaL_error(L, "out of memory");
  }
  sip_vnet_tap(lp->vnet, tap, lp);
  new_tracked(L);
  lua_pushboolean(L, 1);
  return 1;
}

/* sip.core.vnet_tap(fn | nil): fn(bytes, from, to, delivered) for every message on the virtual
 * network as it arrives (delivered false: nobody binds its destination). It must not yield. */
static int l_tap(lua_State *L) {
  lsip_loop *lp = lsip_getloop(L);
  if (!lp->clock) return luaL_error(L, "not on the virtual network");
  if (!lua_isnil(L, 1)) luaL_checktype(L, 1, LUA_TFUNCTION);
  luaL_unref(L, LUA_REGISTRYINDEX, lp->tap);
  lp->tap = LUA_NOREF;
  if (!lua_isnil(L, 1)) {
    lua_pushvalue(L, 1);
    lp->tap = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  return 0;
}

/* sip.core.vnet_stats() -> {bound =, queued =} | nil when not on the virtual network */
static int l_stats(lua_State *L) {
  lsip_loop *lp = lsip_getloop(L);
  if (!lp->vnet) return 0;
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, sip_vnet_bound(lp->vnet));
  lua_setfield(L, -2, "bound");
  lua_pushinteger(L, (lua_Integer)sip_vnet_queued(lp->vnet));
  lua_setfield(L, -2, "queued");
  return 1;
}

int lsip_open_vnet(lua_State *L) {
  luaL_Reg fns[] = {
    {"virtual", l_virtual}, {"vnet_tap", l_tap}, {"vnet_stats", l_stats}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  return 0;
}
