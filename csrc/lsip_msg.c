/* lsip_msg.c: sip.message userdata: parse, read, edit and serialize SIP messages from Lua (the
 * builders are lsip_build.c).
 * A parsed message keeps the Lua string it came from as its uservalue, so its slices stay valid;
 * the header index lives inside the userdata until the first edit moves it to owned storage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsip.h"
#include "sip_build.h"
#include "sip_rand.h"
#include "sip_transport.h"
#include "sip_txn.h"

#define MAX_INDEX 4096

typedef struct lsip_msg {
  sip_emsg e;
  sip_peer src; /* where a received message came from (has_src) */
  int has_src;
  sip_hdr inl[]; /* the parsed index, until the first edit copies it */
} lsip_msg;

/* Two metatables: a parsed message that was never edited owns no memory, so it has no __gc (a
 * finalizer makes every message dearer to collect); the first edit switches it to the owned one. */
static const char MT_PLAIN = 'p', MT_OWNED = 'o';

static lsip_msg *checkmsg(lua_State *L, int i) {
  lsip_msg *u = lua_touserdata(L, i);
  if (u && lua_getmetatable(L, i)) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &MT_PLAIN);
    int ok = lua_rawequal(L, -1, -2);
    if (!ok) {
      lua_pop(L, 1);
      lua_rawgetp(L, LUA_REGISTRYINDEX, &MT_OWNED);
      ok = lua_rawequal(L, -1, -2);
    }
    lua_pop(L, 2);
    if (ok) return u;
  }
  luaL_typeerror(L, i, LSIP_MESSAGE);
  return NULL;
}

/* Before an edit: the message will own memory, so it needs its finalizer from now on. */
static lsip_msg *editable(lua_State *L, int i) {
  lsip_msg *u = checkmsg(L, i);
  lua_getmetatable(L, i);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &MT_PLAIN);
  if (lua_rawequal(L, -1, -2)) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &MT_OWNED);
    lua_setmetatable(L, i);
  }
  lua_pop(L, 2);
  return u;
}

/* Parse buf (held by the Lua string at index sidx) into a new message on the stack. On failure
 * pushes nothing and returns -1 with *err filled. */
static int newmsg(lua_State *L, int sidx, const char *buf, size_t len, const sip_limits *lim,
                  unsigned flags, sip_error *err) {
  sip_hdr stack[256], *tmp = stack;
  unsigned cap = lim->max_headers < MAX_INDEX ? lim->max_headers : MAX_INDEX;
  int top = lua_gettop(L);
  if (cap > 256) /* a larger index than the stack holds: scratch space the GC owns */
    tmp = lua_newuserdatauv(L, cap * sizeof *tmp, 0);
  sip_msg m;
  if (sip_parse(buf, len, &m, tmp, cap, lim, flags) != 0) {
    *err = m.err;
    lua_settop(L, top);
    return -1;
  }
  /* uservalues: 1 the bytes, 2 the server transaction, 3 the source peer */
  lsip_msg *u = lua_newuserdatauv(L, sizeof *u + m.nhdr * sizeof(sip_hdr), 3);
  u->has_src = 0;
  memcpy(u->inl, m.hdr, m.nhdr * sizeof(sip_hdr));
  m.hdr = u->inl;
  sip_emsg_wrap(&u->e, &m);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &MT_PLAIN);
  lua_setmetatable(L, -2);
  lua_pushvalue(L, sidx);
  lua_setiuservalue(L, -2, 1);
  if (tmp != stack) lua_remove(L, -2);
  return 0;
}

static void getlimits(lua_State *L, int idx, sip_limits *lim, unsigned *flags) {
  *lim = sip_default_limits;
  *flags = SIP_PARSE_DGRAM;
  if (lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  if (lua_getfield(L, idx, "stream") != LUA_TNIL && lua_toboolean(L, -1)) *flags = SIP_PARSE_STREAM;
  if (lua_getfield(L, idx, "max_size") != LUA_TNIL) lim->max_msg = (size_t)luaL_checkinteger(L, -1);
  if (lua_getfield(L, idx, "max_headers") != LUA_TNIL)
    lim->max_headers = (unsigned)luaL_checkinteger(L, -1);
  if (lua_getfield(L, idx, "max_line") != LUA_TNIL)
    lim->max_line = (size_t)luaL_checkinteger(L, -1);
  lua_pop(L, 4);
}

static int pusherr(lua_State *L, const sip_error *e) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s at byte %d", e->what ? e->what : "bad message", (int)e->off + 1);
  lua_pushinteger(L, e->status ? e->status : 400);
  return 3;
}

/* sip.parse(bytes[, opts]) -> message | nil, err, status */
static int l_parse(lua_State *L) {
  size_t len;
  const char *buf = luaL_checklstring(L, 1, &len);
  sip_limits lim;
  unsigned flags;
  getlimits(L, 2, &lim, &flags);
  sip_error err;
  if (newmsg(L, 1, buf, len, &lim, flags, &err)) return pusherr(L, &err);
  return 1;
}

/* sip.frame(bytes[, max_size]) -> length, skip | 0 (need more) | nil, err */
static int l_frame(lua_State *L) {
  size_t len, skip = 0;
  const char *buf = luaL_checklstring(L, 1, &len);
  sip_limits lim = sip_default_limits;
  if (!lua_isnoneornil(L, 2)) lim.max_msg = (size_t)luaL_checkinteger(L, 2);
  sip_error e = {0, 0, NULL};
  long n = sip_frame_stream(buf, len, &lim, &skip, &e);
  if (n < 0) return pusherr(L, &e);
  lua_pushinteger(L, n);
  lua_pushinteger(L, (lua_Integer)skip);
  return 2;
}

/* ---- reading -------------------------------------------------------------------------------- */

void lsip_pushvalue(lua_State *L, sip_str v, int folded) {
  if (!folded) {
    lua_pushlstring(L, v.p, v.n);
    return;
  }
  /* §7.3.1: folding (CRLF followed by WS) is equivalent to a single SP */
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < v.n; i++) {
    char c = v.p[i];
    if (c == '\r' || c == '\n') {
      while (i + 1 < v.n && SIP_IS(v.p[i + 1], SIP_C_WS)) i++;
      luaL_addchar(&b, ' ');
    } else luaL_addchar(&b, c);
  }
  luaL_pushresult(&b);
}

static void pushhdr(lua_State *L, const sip_hdr *h) {
  lsip_pushvalue(L, h->value, h->flags & SIP_HF_FOLDED);
}

/* First entry with this name (any form), or NULL. */
static const sip_hdr *findname(const sip_msg *m, const char *name, size_t n) {
  sip_hdr_id id = sip_hdr_lookup(name, n);
  if (id != SIP_H_OTHER) return m->first[id] == SIP_NO_HDR ? NULL : &m->hdr[m->first[id]];
  for (unsigned i = 0; i < m->nhdr; i++)
    if (m->hdr[i].id == SIP_H_OTHER && sip_str_ieq2(m->hdr[i].name, sip_str_make(name, n)))
      return &m->hdr[i];
  return NULL;
}

static int samename(const sip_hdr *h, sip_hdr_id id, const char *name, size_t n) {
  if (id != SIP_H_OTHER) return h->id == id;
  return h->id == SIP_H_OTHER && sip_str_ieq2(h->name, sip_str_make(name, n));
}

static const sip_hdr *first(const sip_msg *m, sip_hdr_id id) {
  return m->first[id] == SIP_NO_HDR ? NULL : &m->hdr[m->first[id]];
}

/* msg:header(name) -> first value | nil */
static int m_header(lua_State *L) {
  lsip_msg *u = checkmsg(L, 1);
  size_t n;
  const char *name = luaL_checklstring(L, 2, &n);
  const sip_hdr *h = findname(&u->e.m, name, n);
  if (!h) return 0;
  pushhdr(L, h);
  return 1;
}

/* msg:headers(name) -> { value, ... }; msg:headers() -> { {name=, value=}, ... } in order */
static int m_headers(lua_State *L) {
  lsip_msg *u = checkmsg(L, 1);
  const sip_msg *m = &u->e.m;
  int k = 0;
  if (lua_isnoneornil(L, 2)) {
    lua_newtable(L);
    for (unsigned i = 0; i < m->nhdr; i++) {
      lua_createtable(L, 0, 2);
      lsip_pushstr(L, m->hdr[i].name);
      lua_setfield(L, -2, "name");
      pushhdr(L, &m->hdr[i]);
      lua_setfield(L, -2, "value");
      lua_rawseti(L, -2, ++k);
    }
    return 1;
  }
  size_t n;
  const char *name = luaL_checklstring(L, 2, &n);
  sip_hdr_id id = sip_hdr_lookup(name, n);
  lua_newtable(L);
  for (unsigned i = 0; i < m->nhdr; i++)
    if (samename(&m->hdr[i], id, name, n)) {
      pushhdr(L, &m->hdr[i]);
      lua_rawseti(L, -2, ++k);
    }
  return 1;
}

/* Push ";a=b;c" header/via params as a table: names lower-cased, quotes kept, flags true. */
static void pushparams(lua_State *L, sip_str params) {
  lua_newtable(L);
  sip_str rest = params, name, val;
  while (rest.p && rest.n && sip_param_next(&rest, &name, &val) == 1) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < name.n; i++) luaL_addchar(&b, (char)sip_lower((unsigned char)name.p[i]));
    luaL_pushresult(&b);
    if (val.p) lua_pushlstring(L, val.p, val.n);
    else lua_pushboolean(L, 1);
    lua_rawset(L, -3);
  }
}

static int pushvia(lua_State *L, const sip_hdr *h) {
  sip_via v;
  const char *err, *at;
  if (sip_parse_via(h->value.p, h->value.n, &v, &err, &at)) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_createtable(L, 0, 10);
  lua_pushlstring(L, v.proto.p, v.proto.n);
  lua_pushliteral(L, "/");
  lua_pushlstring(L, v.version.p, v.version.n);
  lua_concat(L, 3);
  lua_setfield(L, -2, "protocol");
  lsip_pushstr(L, v.transport);
  lua_setfield(L, -2, "transport");
  lsip_pushstr(L, v.host);
  lua_setfield(L, -2, "host");
  if (v.port) {
    lua_pushinteger(L, v.port);
    lua_setfield(L, -2, "port");
  }
  lsip_pushstr(L, v.branch);
  lua_setfield(L, -2, "branch");
  lsip_pushstr(L, v.received);
  lua_setfield(L, -2, "received");
  lsip_pushstr(L, v.maddr);
  lua_setfield(L, -2, "maddr");
  if (v.rport == 0) lua_pushboolean(L, 1);
  else if (v.rport > 0) lua_pushinteger(L, v.rport);
  else lua_pushnil(L);
  lua_setfield(L, -2, "rport");
  if (v.ttl >= 0) {
    lua_pushinteger(L, v.ttl);
    lua_setfield(L, -2, "ttl");
  }
  pushparams(L, v.params);
  lua_setfield(L, -2, "params");
  pushhdr(L, h);
  lua_setfield(L, -2, "value");
  return 1;
}

/* msg:via([i]) -> the i-th Via (1 = top) as a table | nil */
static int m_via(lua_State *L) {
  lsip_msg *u = checkmsg(L, 1);
  lua_Integer i = luaL_optinteger(L, 2, 1);
  const sip_msg *m = &u->e.m;
  for (const sip_hdr *h = first(m, SIP_H_VIA); h; h = sip_msg_next(m, h))
    if (--i == 0) return pushvia(L, h);
  return 0;
}

static int m_vias(lua_State *L) {
  lsip_msg *u = checkmsg(L, 1);
  const sip_msg *m = &u->e.m;
  lua_newtable(L);
  int k = 0;
  for (const sip_hdr *h = first(m, SIP_H_VIA); h; h = sip_msg_next(m, h)) {
    if (pushvia(L, h) == 2) lua_pop(L, 2), lua_pushboolean(L, 0);
    lua_rawseti(L, -2, ++k);
  }
  return 1;
}

static int pushaddr(lua_State *L, const sip_hdr *h) {
  sip_addr a;
  const char *err, *at;
  if (sip_parse_addr(h->value.p, h->value.n, &a, &err, &at)) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_createtable(L, 0, 6);
  if (a.star) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "star");
    return 1;
  }
  if (a.display.p) {
    lsip_pushvalue(L, a.display, h->flags & SIP_HF_FOLDED);
    lua_setfield(L, -2, "display");
  }
  lsip_pushvalue(L, a.uri, h->flags & SIP_HF_FOLDED);
  lua_setfield(L, -2, "uri");
  lsip_pushstr(L, a.tag);
  lua_setfield(L, -2, "tag");
  pushparams(L, a.params); /* stack: addr, params */
  int isnum;
  lua_getfield(L, -1, "q");
  lua_Number q = lua_tonumberx(L, -1, &isnum);
  if (isnum && lua_type(L, -1) == LUA_TSTRING) {
    lua_pushnumber(L, q);
    lua_setfield(L, -4, "q");
  }
  lua_pop(L, 1);
  lua_getfield(L, -1, "expires");
  lua_Integer ex = lua_tointegerx(L, -1, &isnum);
  if (isnum && ex >= 0 && lua_type(L, -1) == LUA_TSTRING) {
    lua_pushinteger(L, ex);
    lua_setfield(L, -4, "expires");
  }
  lua_pop(L, 1);
  lua_setfield(L, -2, "params");
  lua_pushboolean(L, a.bracketed);
  lua_setfield(L, -2, "bracketed");
  pushhdr(L, h);
  lua_setfield(L, -2, "value");
  return 1;
}

/* sip.core.addr(value) -> one name-addr / addr-spec value parsed as msg:addrs gives it | nil, err */
static int l_addr(lua_State *L) {
  sip_hdr h;
  memset(&h, 0, sizeof h);
  h.value.p = luaL_checklstring(L, 1, &h.value.n);
  return pushaddr(L, &h);
}

/* msg:addrs(name) -> every value of a name-addr header parsed: Contact, Route, Path, ... */
static int m_addrs(lua_State *L) {
  lsip_msg *u = checkmsg(L, 1);
  size_t n;
  const char *name = luaL_checklstring(L, 2, &n);
  sip_hdr_id id = sip_hdr_lookup(name, n);
  const sip_msg *m = &u->e.m;
  lua_newtable(L);
  int k = 0;
  for (unsigned i = 0; i < m->nhdr; i++) {
    if (!samename(&m->hdr[i], id, name, n)) continue;
    if (pushaddr(L, &m->hdr[i]) == 2) {
      lua_pop(L, 3);
      lua_pushnil(L);
      lua_pushfstring(L, "bad %s header", name);
      return 2;
    }
    lua_rawseti(L, -2, ++k);
  }
  return 1;
}

static int addr_field(lua_State *L, const sip_msg *m, sip_hdr_id id) {
  const sip_hdr *h = first(m, id);
  if (!h) return 0;
  if (pushaddr(L, h) == 2) {
    lua_pop(L, 2);
    return 0;
  }
  return 1;
}

/* The tag of From or To alone (nil when it has none, or the value does not parse): what dialog
 * and relay decisions read, without the table of req.from / req.to. */
static int tag_field(lua_State *L, const sip_msg *m, int dirty, sip_hdr_id id,
                     const sip_addr *parsed) {
  const sip_hdr *h = first(m, id);
  sip_addr a;
  const char *err, *at;
  if (!h) return 0;
  if (!dirty && parsed->uri.p) a = *parsed;
  else if (sip_parse_addr(h->value.p, h->value.n, &a, &err, &at)) return 0;
  if (!a.tag.p) return 0;
  lsip_pushstr(L, a.tag);
  return 1;
}

static int cseq_of(const sip_msg *m, int dirty, uint32_t *num, sip_str *meth) {
  if (!dirty && m->cseq_method.p) {
    *num = m->cseq;
    *meth = m->cseq_method;
    return 0;
  }
  const sip_hdr *h = first(m, SIP_H_CSEQ);
  const char *err, *at;
  if (!h || sip_parse_cseq(h->value.p, h->value.n, num, meth, &err, &at)) return -1;
  return 0;
}

static int m_index(lua_State *L) {
  /* only Lua calls this, on a message: the metatables are hidden behind __metatable */
  lsip_msg *u = lua_touserdata(L, 1);
  size_t kl;
  const char *k = luaL_checklstring(L, 2, &kl);
  const sip_msg *m = &u->e.m;
  int dirty = u->e.dirty;
  switch (k[0]) {
  case 'b':
    if (!strcmp(k, "body")) {
      lsip_pushstr(L, m->body.p ? m->body : SIP_STR_LIT(""));
      return 1;
    }
    if (!strcmp(k, "branch")) { /* the top Via's branch, the transaction key (§17.2.3) */
      if (!dirty && m->via.branch.p) lsip_pushstr(L, m->via.branch);
      else {
        const sip_hdr *h = first(m, SIP_H_VIA);
        sip_via v;
        const char *err, *at;
        if (!h || sip_parse_via(h->value.p, h->value.n, &v, &err, &at)) return 0;
        lsip_pushstr(L, v.branch);
      }
      return 1;
    }
    break;
  case 'c':
    if (!strcmp(k,
                "contact_uri")) { /* the first Contact's URI text, without the tables of addrs() */
      const sip_hdr *h = first(m, SIP_H_CONTACT);
      sip_addr a;
      const char *err, *at;
      if (!h || sip_parse_addr(h->value.p, h->value.n, &a, &err, &at) || a.star) return 0;
      lsip_pushvalue(L, a.uri, h->flags & SIP_HF_FOLDED);
      return 1;
    }
    if (!strcmp(k, "call_id")) {
      const sip_hdr *h = first(m, SIP_H_CALL_ID);
      if (!h) return 0;
      lsip_pushstr(L, sip_str_trim(h->value));
      return 1;
    }
    if (!strcmp(k, "cseq") || !strcmp(k, "cseq_method")) {
      uint32_t num;
      sip_str meth;
      if (cseq_of(m, dirty, &num, &meth)) return 0;
      if (k[4]) lsip_pushstr(L, meth);
      else lua_pushinteger(L, num);
      return 1;
    }
    if (!strcmp(k, "content_type")) {
      const sip_hdr *h = first(m, SIP_H_CONTENT_TYPE);
      if (!h) return 0;
      pushhdr(L, h);
      return 1;
    }
    break;
  case 'f':
    if (!strcmp(k, "from")) return addr_field(L, m, SIP_H_FROM);
    if (!strcmp(k, "from_tag")) return tag_field(L, m, dirty, SIP_H_FROM, &m->from);
    break;
  case 'i':
    if (!strcmp(k, "is_request")) {
      lua_pushboolean(L, m->is_request);
      return 1;
    }
    if (!strcmp(k, "is_response")) {
      lua_pushboolean(L, !m->is_request);
      return 1;
    }
    break;
  case 'l':
    if (!strcmp(k, "loop_key")) { /* §16.3 step 4: what a proxy remembers to detect loops */
      uint64_t h;
      if (!m->is_request) return 0;
      if (sip_loop_key(m, &h)) return luaL_error(L, "random source failed");
      lua_pushinteger(L, (lua_Integer)h);
      return 1;
    }
    break;
  case 'm':
    if (!strcmp(k, "method")) {
      if (m->is_request) lsip_pushstr(L, m->method);
      else return 0;
      return 1;
    }
    if (!strcmp(k, "max_forwards")) {
      const sip_hdr *h = first(m, SIP_H_MAX_FORWARDS);
      uint64_t v;
      if (!h || sip_parse_uint(h->value.p, h->value.n, 255, &v)) return 0;
      lua_pushinteger(L, (lua_Integer)v);
      return 1;
    }
    break;
  case 'r':
    if (!strcmp(k, "reason")) {
      if (m->is_request) return 0;
      lsip_pushstr(L, m->reason);
      return 1;
    }
    break;
  case 's':
    if (!strcmp(k, "stateless_tag")) { /* §8.2.7: the To tag of a stateless response to it */
      char tag[SIP_TAG_LEN + 1];
      if (sip_stateless_tag(m, tag)) return luaL_error(L, "random source failed");
      lua_pushlstring(L, tag, SIP_TAG_LEN);
      return 1;
    }
    if (!strcmp(k, "source")) { /* where a received message came from, made on first use */
      if (lua_getiuservalue(L, 1, 3) != LUA_TNIL || !u->has_src) return 1;
      lua_pop(L, 1);
      lsip_pushpeer(L, &u->src);
      lua_pushvalue(L, -1);
      lua_setiuservalue(L, 1, 3);
      return 1;
    }
    if (!strcmp(k, "status")) {
      if (m->is_request) return 0;
      lua_pushinteger(L, m->status);
      return 1;
    }
    break;
  case 't':
    if (!strcmp(k, "tls")) { /* what the TLS connection it came on knows of its peer */
      if (lua_getiuservalue(L, 1, 3) != LUA_TTABLE) return 0;
      lua_getfield(L, -1, "tls");
      return 1;
    }
    if (!strcmp(k, "to")) return addr_field(L, m, SIP_H_TO);
    if (!strcmp(k, "to_tag")) return tag_field(L, m, dirty, SIP_H_TO, &m->to);
    if (!strcmp(k, "to_uri")) { /* the To URI's text alone, without the table of req.to */
      const sip_hdr *h = first(m, SIP_H_TO);
      sip_addr a;
      const char *err, *at;
      if (!h) return 0;
      if (!dirty && m->to.uri.p) a = m->to;
      else if (sip_parse_addr(h->value.p, h->value.n, &a, &err, &at)) return 0;
      lsip_pushvalue(L, a.uri, h->flags & SIP_HF_FOLDED);
      return 1;
    }
    if (!strcmp(k, "txn")) { /* the server transaction of a received request */
      lua_getiuservalue(L, 1, 2);
      return 1;
    }
    break;
  case 'u':
    if (!strcmp(k, "uri")) {
      if (!m->is_request) return 0;
      lsip_pushstr(L, m->ruri);
      return 1;
    }
    break;
  case 'v':
    if (!strcmp(k, "version")) {
      lua_pushliteral(L, "SIP/2.0");
      return 1;
    }
    break;
  case 'e':
    if (!strcmp(k, "expires")) {
      const sip_hdr *h = first(m, SIP_H_EXPIRES);
      uint64_t v;
      if (!h || sip_parse_uint(h->value.p, h->value.n, UINT64_MAX, &v)) return 0;
      lua_pushinteger(L, (lua_Integer)(v > 0xffffffffu ? 0xffffffffu : v));
      return 1;
    }
    break;
  }
  /* a method: from the table in upvalue 1, by a raw get of the (interned) key */
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

/* msg:request_uri() -> sip.uri of the Request-URI | nil, err */
static int m_request_uri(lua_State *L) {
  lsip_msg *u = checkmsg(L, 1);
  const sip_msg *m = &u->e.m;
  if (!m->is_request) return 0;
  lsip_pushuri(L, m->ruri.p, m->ruri.n, NULL);
  return 1;
}

/* msg:check() -> true | nil, reason, status: the mandatory headers of a request (§8.1.1, §8.2) */
static int m_check(lua_State *L) {
  lsip_msg *u = checkmsg(L, 1);
  sip_error e = {0, 0, NULL};
  if (!u->e.m.is_request) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (sip_msg_check_request(&u->e.m, &e) == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushnil(L);
  lua_pushstring(L, e.what ? e.what : "bad request");
  lua_pushinteger(L, e.status ? e.status : 400);
  return 3;
}

/* ---- editing -------------------------------------------------------------------------------- */

/* An edit's result: 0 goes on; out of memory and refused text raise. */
static void edited(lua_State *L, int rc) {
  if (rc == SIP_EDIT_REFUSED)
    luaL_error(L, "edit refused: a name that is not a token, or CR, LF or NUL in a value");
  if (rc) luaL_error(L, "out of memory editing a message");
}
#define editfail(L) edited(L, -1)

/* RFC 3261 §7.3, §25.1: a header name is a token. */
static void checkname(lua_State *L, int i, const char *name, size_t n) {
  if (!sip_is_token(name, n)) luaL_argerror(L, i, "header name must be a token (RFC 3261 §25.1)");
}

/* what names the text in the error ("Subject value", "reason phrase"): a CR, LF or NUL would end
 * its line early and turn the rest into headers or a second message (sip_bad_text_byte). */
static void checktext(lua_State *L, int i, const char *what, const char *v, size_t n) {
  const char *bad = sip_bad_text_byte(v, n);
  if (bad)
    luaL_argerror(L, i,
                  lua_pushfstring(L, "%s must not contain CR, LF or NUL (byte %d is %s)", what,
                                  (int)(bad - v) + 1,
                                  *bad == '\r'   ? "CR"
                                  : *bad == '\n' ? "LF"
                                                 : "NUL"));
}

static void checkvalue(lua_State *L, int i, const char *name, size_t nl, const char *v, size_t n) {
  if (sip_bad_text_byte(v, n)) {
    lua_pushfstring(L, "%s value", lua_pushlstring(L, name, nl));
    checktext(L, i, lua_tostring(L, -1), v, n);
  }
}

/* The opts of a response (sip.response, req:reply, txn:respond) at index o, when it is a table:
 * to_tag a token (§19.3), received, and headers (preformatted lines, sip_check_header_lines). */
void lsip_check_reply_opts(lua_State *L, int o) {
  if (!lua_istable(L, o)) return;
  static const char *const known[] = {"to_tag",  "received", "rport", "content_type",
                                      "headers", "body",     NULL};
  o = lua_absindex(L, o);
  lua_pushnil(L);
  while (lua_next(L, o)) { /* stack: key, value */
    lua_pop(L, 1);
    int ok = lua_type(L, -1) == LUA_TSTRING;
    for (int i = 0; ok && known[i]; i++)
      if (!strcmp(lua_tostring(L, -1), known[i])) ok = 2;
    if (ok != 2)
      luaL_argerror(L, o,
                    lua_pushfstring(L,
                                    "unknown option '%s' (known: to_tag, received, rport, "
                                    "content_type, headers, body)",
                                    luaL_tolstring(L, -1, NULL)));
  }
  size_t n;
  const char *s;
  if (lua_getfield(L, o, "to_tag") == LUA_TSTRING && (s = lua_tolstring(L, -1, &n)) &&
      !sip_is_token(s, n))
    luaL_argerror(L, o, "to_tag must be a token (RFC 3261 §19.3)");
  if (lua_getfield(L, o, "received") == LUA_TSTRING && (s = lua_tolstring(L, -1, &n)))
    checktext(L, o, "received", s, n);
  if (lua_getfield(L, o, "content_type") == LUA_TSTRING && (s = lua_tolstring(L, -1, &n)))
    checktext(L, o, "content_type", s, n);
  if (lua_getfield(L, o, "headers") == LUA_TSTRING && (s = lua_tolstring(L, -1, &n))) {
    sip_str name;
    const char *what;
    if (sip_check_header_lines(s, n, &name, &what))
      luaL_argerror(L, o,
                    lua_pushfstring(L, "headers: %s%s%s", lua_pushlstring(L, name.p, name.n),
                                    name.n ? ": " : "", what));
  }
  lua_pop(L, 4);
}

static unsigned first_index_of(const sip_msg *m, sip_hdr_id id, const char *name, size_t n) {
  for (unsigned i = 0; i < m->nhdr; i++)
    if (samename(&m->hdr[i], id, name, n)) return i;
  return m->nhdr;
}

/* msg:add_header(name, value[, "top"]) -- "top" puts it before the others of its name */
static int m_add_header(lua_State *L) {
  lsip_msg *u = editable(L, 1);
  size_t nl, vl;
  const char *name = luaL_checklstring(L, 2, &nl);
  const char *val = luaL_checklstring(L, 3, &vl);
  static const char *const where[] = {"bottom", "top", NULL};
  int top = luaL_checkoption(L, 4, "bottom", where);
  checkname(L, 2, name, nl);
  checkvalue(L, 3, name, nl, val, vl);
  sip_msg *m = &u->e.m;
  unsigned pos = m->nhdr;
  if (top) {
    pos = first_index_of(m, sip_hdr_lookup(name, nl), name, nl);
    if (pos == m->nhdr) pos = 0;
  }
  edited(L, sip_emsg_insert(&u->e, pos, name, nl, val, vl));
  lua_settop(L, 1);
  return 1;
}

/* msg:remove_header(name) -> number removed */
static int m_remove_header(lua_State *L) {
  lsip_msg *u = editable(L, 1);
  size_t nl;
  const char *name = luaL_checklstring(L, 2, &nl);
  sip_hdr_id id = sip_hdr_lookup(name, nl);
  int removed = 0;
  for (unsigned i = u->e.m.nhdr; i-- > 0;)
    if (samename(&u->e.m.hdr[i], id, name, nl)) {
      edited(L, sip_emsg_remove(&u->e, i));
      removed++;
    }
  lua_pushinteger(L, removed);
  return 1;
}

/* msg:set_header(name, value) -- replaces every value of name by one (nil removes) */
static int m_set_header(lua_State *L) {
  lsip_msg *u = editable(L, 1);
  size_t nl, vl;
  const char *name = luaL_checklstring(L, 2, &nl);
  if (lua_isnoneornil(L, 3)) {
    lua_settop(L, 2);
    m_remove_header(L);
    lua_settop(L, 1);
    return 1;
  }
  const char *val = luaL_checklstring(L, 3, &vl);
  checkname(L, 2, name, nl);
  checkvalue(L, 3, name, nl, val, vl);
  sip_hdr_id id = sip_hdr_lookup(name, nl);
  unsigned pos = first_index_of(&u->e.m, id, name, nl);
  if (pos == u->e.m.nhdr) {
    edited(L, sip_emsg_insert(&u->e, pos, name, nl, val, vl));
  } else {
    edited(L, sip_emsg_set_value(&u->e, pos, val, vl));
    for (unsigned i = u->e.m.nhdr; i-- > pos + 1;)
      if (samename(&u->e.m.hdr[i], id, name, nl) && sip_emsg_remove(&u->e, i)) editfail(L);
  }
  lua_settop(L, 1);
  return 1;
}

/* msg:push_via(value) -- a new top Via (§16.6 step 8) */
static int m_push_via(lua_State *L) {
  lsip_msg *u = editable(L, 1);
  size_t vl;
  const char *val = luaL_checklstring(L, 2, &vl);
  checkvalue(L, 2, "Via", 3, val, vl);
  sip_via v;
  const char *err, *at;
  if (sip_parse_via(val, vl, &v, &err, &at)) luaL_argerror(L, 2, err);
  unsigned pos = first_index_of(&u->e.m, SIP_H_VIA, "Via", 3);
  if (pos == u->e.m.nhdr) pos = 0;
  edited(L, sip_emsg_insert(&u->e, pos, "Via", 3, val, vl));
  lua_settop(L, 1);
  return 1;
}

/* msg:fix_via([from]) -> true | false: what a proxy passes on (RFC 3261 §18.2.1, RFC 3581 §4
 * say the server MUST set them): received, and rport when asked, in the top Via, as the
 * transport saw the sender of from (a received request; default msg itself). false when there is
 * nothing to set, no source, or no Via that parses. */
static int m_fix_via(lua_State *L) {
  lsip_msg *u = checkmsg(L, 1);
  lsip_msg *from = lua_isnoneornil(L, 2) ? u : checkmsg(L, 2);
  const sip_msg *m = &u->e.m;
  unsigned i = m->first[SIP_H_VIA];
  sip_via v;
  const char *err, *at;
  char ip[48];
  sip_via_fix fix = {NULL, 0};
  if (from->has_src && i != SIP_NO_HDR &&
      !sip_parse_via(m->hdr[i].value.p, m->hdr[i].value.n, &v, &err, &at))
    sip_via_fix_for(&v, &from->src, ip, &fix);
  if (!fix.received && !fix.rport) {
    lua_pushboolean(L, 0);
    return 1;
  }
  sip_buf b = SIP_BUF_INIT;
  int fixed = sip_build_via_value(&b, m->hdr[i].value, &fix) == 1 && !b.oom;
  u = editable(L, 1);
  if (fixed && (sip_emsg_remove(&u->e, i) || sip_emsg_insert(&u->e, i, "Via", 3, b.p, b.n))) {
    sip_buf_free(&b);
    editfail(L);
  }
  sip_buf_free(&b);
  lua_pushboolean(L, fixed);
  return 1;
}

/* msg:pop_via() -> the removed top Via value | nil (§16.7 step 3) */
static int m_pop_via(lua_State *L) {
  lsip_msg *u = editable(L, 1);
  const sip_msg *m = &u->e.m;
  if (m->first[SIP_H_VIA] == SIP_NO_HDR) return 0;
  unsigned i = m->first[SIP_H_VIA];
  pushhdr(L, &m->hdr[i]);
  edited(L, sip_emsg_remove(&u->e, i));
  return 1;
}

/* msg:decrement_max_forwards() -> new value | nil, "Too Many Hops", 483 (§16.3 step 3, §16.6
 * step 3: a missing Max-Forwards is added as 70) */
static int m_decrement_mf(lua_State *L) {
  lsip_msg *u = checkmsg(L, 1);
  const sip_msg *m = &u->e.m;
  const sip_hdr *h = first(m, SIP_H_MAX_FORWARDS);
  uint64_t v = 70;
  if (h) {
    if (sip_parse_uint(h->value.p, h->value.n, 255, &v)) v = 70;
    else if (v == 0) {
      lua_pushnil(L);
      lua_pushliteral(L, "Too Many Hops");
      lua_pushinteger(L, 483);
      return 3;
    } else v--;
  }
  char num[8];
  int n = snprintf(num, sizeof num, "%u", (unsigned)v);
  lua_pushcfunction(L, m_set_header);
  lua_pushvalue(L, 1);
  lua_pushliteral(L, "Max-Forwards");
  lua_pushlstring(L, num, (size_t)n);
  lua_call(L, 3, 0);
  lua_pushinteger(L, (lua_Integer)v);
  return 1;
}

/* msg:set_body(body[, content_type]) -- also sets Content-Length */
static int m_set_body(lua_State *L) {
  lsip_msg *u = editable(L, 1);
  size_t n;
  const char *body = luaL_optlstring(L, 2, "", &n);
  size_t ctl;
  const char *ct = luaL_optlstring(L, 3, NULL, &ctl);
  if (ct) checkvalue(L, 3, "Content-Type", 12, ct, ctl);
  edited(L, sip_emsg_set_body(&u->e, body, n, ct));
  lua_settop(L, 1);
  return 1;
}

/* msg:set_uri(uri) -- the Request-URI */
static int m_set_uri(lua_State *L) {
  lsip_msg *u = editable(L, 1);
  size_t n;
  const char *s;
  if (luaL_testudata(L, 2, LSIP_URI)) s = lua_tolstring(L, (luaL_tolstring(L, 2, &n), -1), &n);
  else s = luaL_checklstring(L, 2, &n);
  if (!u->e.m.is_request) luaL_error(L, "set_uri: not a request");
  checktext(L, 2, "Request-URI", s, n);
  sip_uri x;
  const char *err, *at;
  if (sip_uri_parse(s, n, &x, &err, &at)) luaL_argerror(L, 2, err);
  edited(L, sip_emsg_set_ruri(&u->e, s, n));
  lua_settop(L, 1);
  return 1;
}

/* msg:set_status(code[, reason]) */
static int m_set_status(lua_State *L) {
  lsip_msg *u = editable(L, 1);
  lua_Integer code = luaL_checkinteger(L, 2);
  size_t rl = 0;
  const char *reason = luaL_optlstring(L, 3, NULL, &rl);
  if (u->e.m.is_request) luaL_error(L, "set_status: not a response");
  luaL_argcheck(L, code >= 100 && code <= 699, 2, "status must be 100..699");
  if (reason) checktext(L, 3, "reason phrase", reason, rl);
  edited(L, sip_emsg_set_status(&u->e, (int)code, reason, rl));
  lua_settop(L, 1);
  return 1;
}

static int m_tostring(lua_State *L) {
  lsip_msg *u = checkmsg(L, 1);
  sip_buf b = SIP_BUF_INIT;
  const char *p;
  size_t n;
  if (sip_emsg_bytes(&u->e, &b, &p,
                     &n)) { /* untouched: the bytes as received, when they frame it */
    sip_buf_free(&b);
    editfail(L);
  }
  lua_pushlstring(L, p, n);
  sip_buf_free(&b);
  return 1;
}

/* msg:clone() -> an independent copy (serialized and parsed again) */
static int m_clone(lua_State *L) {
  checkmsg(L, 1);
  m_tostring(L);
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  sip_error err;
  if (newmsg(L, lua_gettop(L), s, len, &sip_default_limits, SIP_PARSE_DGRAM, &err))
    return pusherr(L, &err);
  return 1;
}

static int m_gc(lua_State *L) {
  lsip_msg *u = lua_touserdata(L, 1);
  if (u && (u->e.blks || u->e.hdr_owned)) sip_emsg_free(&u->e);
  return 0;
}

int lsip_pushbuilt(lua_State *L, sip_buf *b) {
  if (b->oom) {
    sip_buf_free(b);
    return luaL_error(L, "out of memory building a message");
  }
  lua_pushlstring(L, b->p, b->n);
  sip_buf_free(b);
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  sip_error err;
  if (newmsg(L, lua_gettop(L), s, len, &sip_default_limits, SIP_PARSE_DGRAM, &err))
    return pusherr(L, &err);
  return 1;
}

/* Accessors for the builders (lsip_build.c). */
const sip_msg *lsip_checkmsg(lua_State *L, int i) { return &checkmsg(L, i)->e.m; }

void lsip_checktext(lua_State *L, int i, const char *what, const char *v, size_t n) {
  checktext(L, i, what, v, n);
}

int lsip_open_message(lua_State *L) {
  if (luaL_newmetatable(L, LSIP_MESSAGE)) {
    lua_pushcfunction(L, m_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, LSIP_MESSAGE);
    lua_setfield(L, -2, "__metatable");
    luaL_Reg methods[] = {{"header", m_header},
                          {"headers", m_headers},
                          {"via", m_via},
                          {"vias", m_vias},
                          {"addrs", m_addrs},
                          {"request_uri", m_request_uri},
                          {"check", m_check},
                          {"add_header", m_add_header},
                          {"remove_header", m_remove_header},
                          {"set_header", m_set_header},
                          {"push_via", m_push_via},
                          {"pop_via", m_pop_via},
                          {"fix_via", m_fix_via},
                          {"decrement_max_forwards", m_decrement_mf},
                          {"set_body", m_set_body},
                          {"set_uri", m_set_uri},
                          {"set_status", m_set_status},
                          {"serialize", m_tostring},
                          {"clone", m_clone},
                          {NULL, NULL}};
    luaL_newlib(L, methods);
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, m_index, 1);
    lua_setfield(L, -3, "__index");
    lua_setfield(L, -2, "methods");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &MT_PLAIN);
    /* the owned twin: the same fields plus the finalizer */
    lua_createtable(L, 0, 6);
    lua_pushnil(L);
    while (lua_next(L, -3)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, -4);
    }
    lua_pushcfunction(L, m_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, m_gc);
    lua_setfield(L, -2, "__close");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &MT_OWNED);
  }
  lua_getfield(L, -1, "methods");
  lua_setfield(L, -3, "message_methods"); /* sip.lua adds methods written in Lua */
  lua_pop(L, 1);
  luaL_Reg fns[] = {{"parse", l_parse}, {"frame", l_frame}, {"addr", l_addr}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  return 0;
}

/* Push a message parsed from a C buffer (copied into a Lua string), or nil when it does not
 * parse. Used for messages the transaction layer already validated. */
int lsip_pushmsg(lua_State *L, const char *buf, size_t len) {
  lua_pushlstring(L, buf, len);
  const char *s = lua_tostring(L, -1);
  sip_error err;
  if (newmsg(L, lua_gettop(L), s, len, &sip_default_limits, SIP_PARSE_DGRAM, &err)) {
    lua_pop(L, 1);
    lua_pushnil(L);
    return 0;
  }
  lua_remove(L, -2);
  return 1;
}

/* Push a message the stack has parsed: its bytes copied into a Lua string and the parse moved
 * onto them (sip_msg_rebase) instead of parsing the copy again. */
void lsip_pushparsed(lua_State *L, const sip_msg *m) {
  lua_pushlstring(L, m->buf, m->len);
  const char *s = lua_tostring(L, -1);
  lsip_msg *u = lua_newuserdatauv(L, sizeof *u + m->nhdr * sizeof(sip_hdr), 3);
  u->has_src = 0;
  sip_msg c = *m;
  memcpy(u->inl, m->hdr, m->nhdr * sizeof(sip_hdr));
  c.hdr = u->inl;
  sip_msg_rebase(&c, s, m->len);
  sip_emsg_wrap(&u->e, &c);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &MT_PLAIN);
  lua_setmetatable(L, -2);
  lua_insert(L, -2);
  lua_setiuservalue(L, -2, 1);
}

/* The bytes of a message argument: a sip.message (serialized) or a string. */
const char *lsip_tobytes(lua_State *L, int idx, size_t *len) {
  if (lua_type(L, idx) == LUA_TSTRING) return lua_tolstring(L, idx, len);
  checkmsg(L, idx);
  lua_pushcfunction(L, m_tostring);
  lua_pushvalue(L, idx);
  lua_call(L, 1, 1);
  lua_replace(L, idx);
  return lua_tolstring(L, idx, len);
}

/* Attach the server transaction (at txn, may be nil) and the source address to the message at msg. */
void lsip_msg_attach(lua_State *L, int msg, int txn, const sip_peer *from) {
  msg = lua_absindex(L, msg);
  lsip_msg *u = lua_touserdata(L, msg);
  lua_pushvalue(L, txn);
  lua_setiuservalue(L, msg, 2);
  if (from) {
    u->src = *from;
    u->has_src = 1;
  }
}

void lsip_msg_set_source(lua_State *L, int msg) {
  msg = lua_absindex(L, msg);
  lua_setiuservalue(L, msg, 3);
}

/* msg:reply(code[, reason[, opts]]) -> true | nil, err: answer a received request on its server
 * transaction (§8.2.6; received/rport per RFC 3581), built from this message's own index.
 * opts: to_tag, headers (raw lines, or a table formatted by sip.lua), body, content_type. */
static int m_reply(lua_State *L) {
  lsip_msg *u = checkmsg(L, 1);
  lua_settop(L, 4);
  if (lua_getiuservalue(L, 1, 2) != LUA_TUSERDATA)
    return luaL_error(L, "reply: not a received request with a transaction");
  if (lua_istable(L, 4) && lua_getfield(L, 4, "headers") == LUA_TTABLE) {
    /* a table of headers: formatted (and checked) here, into a copy of opts */
    lsip_format_headers(L, -1);
    lua_remove(L, -2);
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, 4)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, -4);
    }
    lua_insert(L, -2);
    lua_setfield(L, -2, "headers");
    lua_replace(L, 4);
  } else if (lua_istable(L, 4)) lua_pop(L, 1);
  return lsip_txn_respond(L, 5, 2, u->e.dirty ? NULL : &u->e.m);
}

int lsip_open_reply(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &MT_PLAIN);
  lua_getfield(L, -1, "methods");
  lua_pushcfunction(L, m_reply);
  lua_setfield(L, -2, "reply");
  lua_pop(L, 2);
  return 0;
}
