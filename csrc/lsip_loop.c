/* lsip_loop.c: the libev loop under Lua: one loop per Lua state, timers and signal watchers.
 * An active watcher is anchored in the registry so the GC cannot take it; every watcher has one
 * idempotent close serving :close(), __close and __gc. Callbacks run under a protected call with a
 * traceback; an error stops the loop and comes back out of loop:run(). Timers are alarms
 * (sip_clock.h): on libev's clock, or under sip.test on the virtual one that run() then drives
 * (lsip_vnet.c). */
#include <ev.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "lsip.h"
#include "sip_clock.h"

#define LSIP_LOOP "sip.loop"
#define LSIP_TIMER "sip.timer"
#define LSIP_SIGNAL "sip.signal"

static const char LOOP_KEY = 'L'; /* registry key of this state's loop */

typedef struct lsip_watch {
  union {
    sip_alarm timer; /* on the loop's clock, libev's or the virtual one */
    ev_signal sig;
    ev_watcher w;
  } u;
  lsip_loop *lp;
  int self; /* registry ref while active, LUA_NOREF otherwise */
  int closed;
} lsip_watch;

lsip_loop *lsip_getloop(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &LOOP_KEY);
  lsip_loop *lp = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (lp) return lp;
  lp = lua_newuserdatauv(L, sizeof *lp, 0);
  memset(lp, 0, sizeof *lp);
  lp->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV);
  if (!lp->loop) luaL_error(L, "cannot create the event loop");
  lp->err = lp->tap = LUA_NOREF;
  luaL_setmetatable(L, LSIP_LOOP);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &LOOP_KEY);
  return lp;
}

static int msgh(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) msg = luaL_tolstring(L, 1, NULL);
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int lsip_pcall(lsip_loop *lp, lua_State *L, int nargs) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, msgh);
  lua_insert(L, base);
  int rc = lua_pcall(L, nargs, 0, base);
  if (rc != LUA_OK) {
    /* keep the first error; stop the loop so run() can return it */
    if (lp->err == LUA_NOREF) lp->err = luaL_ref(L, LUA_REGISTRYINDEX);
    else lua_pop(L, 1);
    lp->stop = 1;
    if (lp->loop) ev_break(lp->loop, EVBREAK_ALL);
  }
  lua_remove(L, base);
  return rc;
}

static void anchor(lua_State *L, lsip_watch *w, int idx) {
  if (w->self != LUA_NOREF) return;
  lua_pushvalue(L, idx);
  w->self = luaL_ref(L, LUA_REGISTRYINDEX);
  w->lp->active++;
}

static void unanchor(lua_State *L, lsip_watch *w) {
  if (w->self == LUA_NOREF) return;
  luaL_unref(L, LUA_REGISTRYINDEX, w->self);
  w->self = LUA_NOREF;
  w->lp->active--;
}

/* Run the callback stored as the watcher's uservalue, with the watcher as its argument. */
static void fire(lsip_watch *w, int keep) {
  lsip_loop *lp = w->lp;
  lua_State *L = lp->L;
  if (!L || w->self == LUA_NOREF) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, w->self);
  if (!keep) unanchor(L, w); /* a one-shot timer is done: the GC may take it after the call */
  lua_getiuservalue(L, -1, 1);
  lua_insert(L, -2);
  lsip_pcall(lp, L, 1);
}

static void timer_cb(sip_alarm *a) { fire((lsip_watch *)a, sip_alarm_active(a)); }

static void signal_cb(struct ev_loop *loop, ev_signal *s, int revents) { fire((lsip_watch *)s, 1); }

static void watch_close(lua_State *L, lsip_watch *w, int is_timer) {
  if (w->closed) return;
  w->closed = 1;
  if (w->lp->loop) {
    if (is_timer) sip_alarm_stop(&w->u.timer);
    else ev_signal_stop(w->lp->loop, &w->u.sig);
  }
  unanchor(L, w);
}

static lsip_watch *newwatch(lua_State *L, lsip_loop *lp, int fn, const char *mt) {
  luaL_checktype(L, fn, LUA_TFUNCTION);
  lsip_watch *w = lua_newuserdatauv(L, sizeof *w, 1);
  memset(w, 0, sizeof *w);
  w->lp = lp;
  w->self = LUA_NOREF;
  lua_pushvalue(L, fn);
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, mt);
  return w;
}

/* sip.core.timer(after, repeat, fn) -> timer, started: fn(timer) after `after` seconds, then every
 * `repeat` seconds when repeat > 0 */
static int l_timer(lua_State *L) {
  lsip_loop *lp = lsip_getloop(L);
  double after = luaL_checknumber(L, 1), rep = luaL_optnumber(L, 2, 0);
  luaL_argcheck(L, after >= 0, 1, "must be >= 0");
  luaL_argcheck(L, rep >= 0, 2, "must be >= 0");
  lsip_watch *w = newwatch(L, lp, 3, LSIP_TIMER);
  /* libev reads the clock once per iteration: outside run() (or after a blocking call in a
   * callback) its "now" may be seconds old, and the timer would fire that much early */
  if (!lp->L && !lp->clock) ev_now_update(lp->loop);
  sip_alarm_init(&w->u.timer, lp->loop, lp->clock, timer_cb);
  if (sip_alarm_start(&w->u.timer, after, rep) < 0) return luaL_error(L, "out of memory");
  lsip_virtual_track(L, lp, -1);
  anchor(L, w, -1);
  return 1;
}

static lsip_watch *checktimer(lua_State *L) {
  lsip_watch *w = luaL_checkudata(L, 1, LSIP_TIMER);
  if (w->closed) luaL_error(L, "timer is closed");
  return w;
}

static int t_stop(lua_State *L) {
  lsip_watch *w = checktimer(L);
  sip_alarm_stop(&w->u.timer);
  unanchor(L, w);
  return 0;
}

/* timer:again(after[, repeat]) -- restart */
static int t_again(lua_State *L) {
  lsip_watch *w = checktimer(L);
  double after = luaL_checknumber(L, 2);
  double rep = luaL_optnumber(L, 3, sip_alarm_repeat(&w->u.timer));
  luaL_argcheck(L, after >= 0 && rep >= 0, 2, "must be >= 0");
  if (!w->lp->L && !w->lp->clock) ev_now_update(w->lp->loop);
  if (sip_alarm_start(&w->u.timer, after, rep) < 0) return luaL_error(L, "out of memory");
  anchor(L, w, 1);
  return 0;
}

static int t_active(lua_State *L) {
  lsip_watch *w = luaL_checkudata(L, 1, LSIP_TIMER);
  lua_pushboolean(L, !w->closed && sip_alarm_active(&w->u.timer));
  return 1;
}

static int t_close(lua_State *L) {
  watch_close(L, luaL_checkudata(L, 1, LSIP_TIMER), 1);
  return 0;
}

/* sip.core.signal(signum, fn) -> watcher: fn(watcher) on each delivery */
static int l_signal(lua_State *L) {
  lsip_loop *lp = lsip_getloop(L);
  int sig = (int)luaL_checkinteger(L, 1);
  luaL_argcheck(L, sig > 0 && sig < 65, 1, "bad signal number");
  lsip_watch *w = newwatch(L, lp, 2, LSIP_SIGNAL);
  ev_signal_init(&w->u.sig, signal_cb, sig);
  ev_signal_start(lp->loop, &w->u.sig);
  /* signal watchers do not keep the loop alive on their own */
  ev_unref(lp->loop);
  anchor(L, w, -1);
  lp->active--; /* nor count as work left */
  lp->signals++;
  return 1;
}

static int s_close(lua_State *L) {
  lsip_watch *w = luaL_checkudata(L, 1, LSIP_SIGNAL);
  if (!w->closed && w->lp->loop) {
    ev_ref(w->lp->loop);
    w->lp->active++;
    w->lp->signals--;
  }
  watch_close(L, w, 0);
  return 0;
}

/* sip.core.run([once]) -> true | nil, err: run until nothing is active, stop() is called, or a
 * callback raises (then err is that error with its traceback). */
static int l_run(lua_State *L) {
  lsip_loop *lp = lsip_getloop(L);
  int once = lua_toboolean(L, 1);
  if (lp->L) luaL_error(L, "the loop is already running");
  lp->L = L;
  lp->stop = 0;
  if (lp->clock) lsip_run_virtual(lp, once);
  else {
    ev_now_update(lp->loop);
    ev_run(lp->loop, once ? EVRUN_ONCE : 0);
  }
  lp->L = NULL;
  if (lp->err != LUA_NOREF) {
    lua_pushnil(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, lp->err);
    luaL_unref(L, LUA_REGISTRYINDEX, lp->err);
    lp->err = LUA_NOREF;
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int l_stop(lua_State *L) {
  lsip_loop *lp = lsip_getloop(L);
  lp->stop = 1;
  ev_break(lp->loop, EVBREAK_ALL);
  return 0;
}

/* sip.core.now() -> the loop's time in seconds (cached per iteration) */
static int l_now(lua_State *L) {
  lsip_loop *lp = lsip_getloop(L);
  if (!lp->L && !lp->clock) ev_now_update(lp->loop);
  lua_pushnumber(L, sip_clock_now(lp->loop, lp->clock));
  return 1;
}

/* sip.core.active() -> number of active watchers the library holds (0 when all is closed) */
static int l_active(lua_State *L) {
  lsip_loop *lp = lsip_getloop(L);
  lua_pushinteger(L, lp->active);
  return 1;
}

static int loop_gc(lua_State *L) {
  lsip_loop *lp = luaL_checkudata(L, 1, LSIP_LOOP);
  if (lp->loop) {
    ev_loop_destroy(lp->loop);
    lp->loop = NULL;
  }
  return 0;
}

int lsip_open_loop(lua_State *L) {
  luaL_newmetatable(L, LSIP_LOOP);
  lua_pushcfunction(L, loop_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  const luaL_Reg timer_m[] = {{"stop", t_stop},
                              {"again", t_again},
                              {"is_active", t_active},
                              {"close", t_close},
                              {NULL, NULL}};
  lsip_class(L, LSIP_TIMER, timer_m, t_close);
  lua_pop(L, 1);
  const luaL_Reg signal_m[] = {{"close", s_close}, {NULL, NULL}};
  lsip_class(L, LSIP_SIGNAL, signal_m, s_close);
  lua_pop(L, 1);
  luaL_Reg fns[] = {{"timer", l_timer}, {"signal", l_signal}, {"run", l_run}, {"stop", l_stop},
                    {"now", l_now},     {"active", l_active}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  lua_pushinteger(L, SIGINT);
  lua_setfield(L, -2, "SIGINT");
  lua_pushinteger(L, SIGTERM);
  lua_setfield(L, -2, "SIGTERM");
  lsip_getloop(L);
  return 0;
}
