/* lsip_loc.c: sip.core.location_table(), the memory location store's bindings in C (sip_loc.h),
 * out of the collector's sight. A binding (a plain table, lua/sip/location.lua's header) is
 * written into the record as its fields; get makes fresh tables from them. Fields whose names
 * start with "_" are the reader's caches and are not stored.
 *
 * A binding's body:  u16 nfields, then per field: key, value
 *   key:   1..NAMES-1 a known name | 0, varint len, bytes (another name) | 0xff, i64 (an index)
 *   value: 's' varint len, bytes | 'i' i64 | 'f' f64 | 't' | 'F' | 'T' body (a table) */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lsip.h"
#include "sip_buf.h"
#include "sip_loc.h"

#define LSIP_LOC "sip.location.table"
#define MAX_DEPTH 4      /* binding, source or path, one more for what a later field needs */
#define MAX_FIELDS 65535 /* per table */

/* The fields of location.lua's interface, and of the peer table in source: one byte each. */
#define N(s) \
  { s, sizeof s - 1 }
static const struct {
  const char *s;
  size_t n;
} NAMES[] = {
  {NULL, 0}, N("contact"), N("expires"),  N("q"),       N("call_id"),    N("cseq"),   N("params"),
  N("path"), N("source"),  N("nat"),      N("updated"), N("user_agent"), N("proto"),  N("host"),
  N("port"), N("conn"),    N("listener"), N("flow"),    N("instance"),   N("reg_id"),
};
#undef N
#define NNAMES (sizeof NAMES / sizeof *NAMES)
enum { KEY_NAME = 0, KEY_INDEX = 0xff };

typedef struct loc_ud {
  sip_loc *l; /* NULL once closed */
  sip_buf b;  /* where put writes a record, kept between puts (also when one raises) */
} loc_ud;

static loc_ud *checkud(lua_State *L) {
  loc_ud *u = luaL_checkudata(L, 1, LSIP_LOC);
  if (!u->l) luaL_error(L, "location table is closed");
  return u;
}
static sip_loc *checkloc(lua_State *L) { return checkud(L)->l; }

/* ---- writing ---- */

static void put_varint(sip_buf *b, size_t v) {
  char t[10];
  int n = 0;
  do {
    t[n++] = (char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v);
  sip_buf_put(b, t, n);
}

static int name_code(const char *s, size_t n) {
  for (unsigned i = 1; i < NNAMES; i++)
    if (NAMES[i].n == n && NAMES[i].s[0] == s[0] && memcmp(NAMES[i].s, s, n) == 0) return (int)i;
  return KEY_NAME;
}

static void put_table(lua_State *L, sip_buf *b, int t, int depth, int nb);

/* The value at the top of the stack, for the field key (named in errors). */
static void put_value(lua_State *L, sip_buf *b, int depth, int nb, const char *key) {
  size_t n;
  switch (lua_type(L, -1)) {
  case LUA_TSTRING: {
    const char *s = lua_tolstring(L, -1, &n);
    sip_buf_putc(b, 's');
    put_varint(b, n);
    sip_buf_put(b, s, n);
    break;
  }
  case LUA_TNUMBER:
    if (lua_isinteger(L, -1)) {
      lua_Integer i = lua_tointeger(L, -1);
      sip_buf_putc(b, 'i');
      sip_buf_put(b, &i, sizeof i);
    } else {
      lua_Number f = lua_tonumber(L, -1);
      sip_buf_putc(b, 'f');
      sip_buf_put(b, &f, sizeof f);
    }
    break;
  case LUA_TBOOLEAN: sip_buf_putc(b, lua_toboolean(L, -1) ? 't' : 'F'); break;
  case LUA_TTABLE:
    if (depth >= MAX_DEPTH) luaL_error(L, "put: binding %d: tables nested too deep at %s", nb, key);
    sip_buf_putc(b, 'T');
    put_table(L, b, lua_gettop(L), depth + 1, nb);
    break;
  default:
    luaL_error(L,
               "put: binding %d: field %s is a %s (strings, numbers, booleans and tables are kept)",
               nb, key, luaL_typename(L, -1));
  }
}

static void put_table(lua_State *L, sip_buf *b, int t, int depth, int nb) {
  size_t at = b->n;
  uint16_t nf = 0;
  sip_buf_put(b, &nf, sizeof nf); /* the count, written when known */
  lua_pushnil(L);
  while (lua_next(L, t)) {
    char kbuf[32];
    const char *kname;
    if (lua_type(L, -2) == LUA_TSTRING) {
      size_t kn;
      const char *k = lua_tolstring(L, -2, &kn);
      if (kn && k[0] == '_') { /* a reader's cache */
        lua_pop(L, 1);
        continue;
      }
      int code = name_code(k, kn);
      sip_buf_putc(b, (char)code);
      if (code == KEY_NAME) {
        put_varint(b, kn);
        sip_buf_put(b, k, kn);
      }
      kname = k;
    } else if (lua_isinteger(L, -2)) {
      lua_Integer i = lua_tointeger(L, -2);
      sip_buf_putc(b, (char)KEY_INDEX);
      sip_buf_put(b, &i, sizeof i);
      snprintf(kbuf, sizeof kbuf, "[%lld]", (long long)i);
      kname = kbuf;
    } else {
      luaL_error(L, "put: binding %d: a %s key (string and integer keys are kept)", nb,
                 luaL_typename(L, -2));
      return;
    }
    if (nf == MAX_FIELDS) luaL_error(L, "put: binding %d: more than %d fields", nb, MAX_FIELDS);
    nf++;
    put_value(L, b, depth, nb, kname);
    lua_pop(L, 1);
  }
  if (!b->oom) memcpy(b->p + at, &nf, sizeof nf);
}

/* The list at idx as a record (sip_loc.h). */
static void put_list(lua_State *L, sip_buf *b, int list) {
  lua_Integer n = luaL_len(L, list);
  if (n < 0 || n > 0xffff) luaL_error(L, "put: %d bindings", (int)n);
  uint32_t count = (uint32_t)n;
  sip_buf_put(b, &count, sizeof count);
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_geti(L, list, i) != LUA_TTABLE) luaL_error(L, "put: binding %d is not a table", (int)i);
    int bt = lua_gettop(L);
    lua_getfield(L, bt, "expires");
    if (!lua_isnumber(L, -1)) luaL_error(L, "put: binding %d has no number expires", (int)i);
    double expires = lua_tonumber(L, -1);
    lua_pop(L, 1);
    size_t at = b->n;
    uint32_t body = 0;
    sip_buf_put(b, &body, sizeof body);
    sip_buf_put(b, &expires, sizeof expires);
    put_table(L, b, bt, 1, (int)i);
    if (b->oom) luaL_error(L, "out of memory");
    body = (uint32_t)(b->n - at - SIP_LOC_BINDING);
    memcpy(b->p + at, &body, sizeof body);
    lua_pop(L, 1);
  }
  if (b->oom) luaL_error(L, "out of memory");
}

/* ---- reading (records we wrote: the framing was checked by sip_loc_put) ---- */

typedef struct rd {
  const char *p, *end;
} rd;

static size_t get_varint(rd *r) {
  size_t v = 0;
  int shift = 0;
  while (r->p < r->end) {
    unsigned char c = (unsigned char)*r->p++;
    v |= (size_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) break;
    shift += 7;
  }
  return v;
}

static void push_bytes(lua_State *L, rd *r) {
  size_t n = get_varint(r);
  lua_pushlstring(L, r->p, n);
  r->p += n;
}

static lua_Integer get_int(rd *r) {
  lua_Integer v;
  memcpy(&v, r->p, sizeof v);
  r->p += sizeof v;
  return v;
}

static lua_Number get_num(rd *r) {
  lua_Number v;
  memcpy(&v, r->p, sizeof v);
  r->p += sizeof v;
  return v;
}

static void get_table(lua_State *L, rd *r) {
  uint16_t nf;
  memcpy(&nf, r->p, sizeof nf);
  r->p += sizeof nf;
  int array = nf && (unsigned char)*r->p == KEY_INDEX;
  lua_createtable(L, array ? nf : 0, array ? 0 : nf);
  for (unsigned i = 0; i < nf; i++) {
    unsigned char k = (unsigned char)*r->p++;
    if (k == KEY_INDEX) lua_pushinteger(L, get_int(r));
    else if (k == KEY_NAME) push_bytes(L, r);
    else lua_pushlstring(L, NAMES[k].s, NAMES[k].n);
    switch (*r->p++) {
    case 's': push_bytes(L, r); break;
    case 'i': lua_pushinteger(L, get_int(r)); break;
    case 'f': lua_pushnumber(L, get_num(r)); break;
    case 't': lua_pushboolean(L, 1); break;
    case 'F': lua_pushboolean(L, 0); break;
    default: get_table(L, r); break; /* 'T' */
    }
    lua_rawset(L, -3);
  }
}

/* ---- methods ---- */

/* t:put(aor, list) -> true: every binding of aor replaced (an empty list removes the AOR). */
static int l_put(lua_State *L) {
  loc_ud *u = checkud(L);
  size_t klen;
  const char *key = luaL_checklstring(L, 2, &klen);
  luaL_checktype(L, 3, LUA_TTABLE);
  sip_buf *b = &u->b;
  b->n = 0;
  b->oom = 0;
  put_list(L, b, 3);
  size_t n = b->n;
  int rc = sip_loc_put(u->l, key, klen, b->p, n);
  if (b->cap > 65536) sip_buf_free(b); /* a rare big AOR: its buffer is not kept */
  if (rc == SIP_LOC_ENOMEM) return luaL_error(L, "out of memory");
  if (rc != SIP_LOC_OK) return luaL_error(L, "put: a record of %d bytes is too large", (int)n);
  lua_pushboolean(L, 1);
  return 1;
}

/* t:get(aor, now) -> list, first: fresh tables of the bindings expiring after now (maybe none),
 * and the earliest of their expiries (math.huge when none): the list holds until then. */
static int l_get(lua_State *L) {
  sip_loc *l = checkloc(L);
  size_t klen, rlen;
  const char *key = luaL_checklstring(L, 2, &klen);
  lua_Number now = luaL_checknumber(L, 3);
  const char *rec = sip_loc_get(l, key, klen, &rlen);
  lua_Number first = HUGE_VAL;
  if (!rec) {
    lua_createtable(L, 0, 0);
    lua_pushnumber(L, first);
    return 2;
  }
  uint32_t count;
  memcpy(&count, rec, sizeof count);
  lua_createtable(L, (int)count, 0);
  rd r = {rec + SIP_LOC_HEAD, rec + rlen};
  int n = 0;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t body;
    double expires;
    memcpy(&body, r.p, sizeof body);
    memcpy(&expires, r.p + 4, sizeof expires);
    r.p += SIP_LOC_BINDING;
    const char *next = r.p + body;
    if (expires > now) { /* hidden now, removed by sweep */
      get_table(L, &r);
      lua_rawseti(L, -2, ++n);
      if (expires < first) first = expires;
    }
    r.p = next;
  }
  lua_pushnumber(L, first);
  return 2;
}

/* t:sweep(now) -> number of bindings removed (those expiring at or before now) */
static int l_sweep(lua_State *L) {
  sip_loc *l = checkloc(L);
  lua_pushinteger(L, (lua_Integer)sip_loc_sweep(l, luaL_checknumber(L, 2)));
  return 1;
}

/* t:aors() -> list of AORs, in no order */
static int l_aors(lua_State *L) {
  sip_loc *l = checkloc(L);
  size_t n = sip_loc_count(l);
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    size_t klen;
    const char *k = sip_loc_key(l, i, &klen);
    lua_pushlstring(L, k, klen);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* t:stats() -> aors, bytes: how many AORs, and the bytes the table holds */
static int l_stats(lua_State *L) {
  sip_loc *l = checkloc(L);
  lua_pushinteger(L, (lua_Integer)sip_loc_count(l));
  lua_pushinteger(L, (lua_Integer)sip_loc_bytes(l));
  return 2;
}

static int l_close(lua_State *L) {
  loc_ud *u = luaL_checkudata(L, 1, LSIP_LOC);
  sip_loc_free(u->l);
  u->l = NULL;
  sip_buf_free(&u->b);
  return 0;
}

/* sip.core.location_table() -> an empty table */
static int l_new(lua_State *L) {
  loc_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
  memset(u, 0, sizeof *u);
  luaL_setmetatable(L, LSIP_LOC);
  u->l = sip_loc_new();
  if (!u->l) return luaL_error(L, "location_table: out of memory or no random source");
  return 1;
}

int lsip_open_loc(lua_State *L) {
  static const luaL_Reg methods[] = {{"put", l_put},   {"get", l_get},     {"sweep", l_sweep},
                                     {"aors", l_aors}, {"stats", l_stats}, {"close", l_close},
                                     {NULL, NULL}};
  lsip_class(L, LSIP_LOC, methods, l_close);
  lua_pop(L, 1);
  lua_pushcfunction(L, l_new);
  lua_setfield(L, -2, "location_table");
  return 0;
}
