/* lsip.h: the Lua binding's shared declarations. Only lsip_*.c include lua.h. */
#ifndef LSIP_H
#define LSIP_H

#include <lauxlib.h>
#include <lua.h>

#include "sip_msg.h"
#include "sip_transport.h"

#define LSIP_MESSAGE "sip.message"
#define LSIP_URI "sip.uri"

/* The libev loop of a Lua state (lsip_loop.c). L is the state running the loop, NULL when idle. */
struct ev_loop;
struct sip_clock;
struct sip_vnet;
typedef struct lsip_loop {
  struct ev_loop *loop;
  lua_State *L;
  int err;    /* registry ref of the first callback error, LUA_NOREF when none */
  int active; /* watchers and objects holding the loop busy */
  int signals;
  int stop;                /* stop() was called: the virtual loop ends */
  struct sip_clock *clock; /* under sip.test: the virtual clock (lsip_vnet.c), else NULL */
  struct sip_vnet *vnet;   /* and the virtual network */
  int tap;                 /* registry ref of the network's tap, LUA_NOREF when none */
} lsip_loop;

lsip_loop *lsip_getloop(lua_State *L);
/* Call the function below nargs arguments under a traceback handler; an error is kept for run()
 * and stops the loop. Pops function and arguments; returns the lua_pcall code. */
int lsip_pcall(lsip_loop *lp, lua_State *L, int nargs);

/* sip.core.install_alloc_cache(): a free-block cache in front of the state's allocator when it is
 * lauxlib's (lsip_alloc.c); pushes whether it is there. */
int lsip_install_alloc(lua_State *L);
int lsip_alloc_cached(lua_State *L); /* sip.core.alloc_cache() */
int lsip_trim_memory(lua_State *L);  /* sip.core.trim_memory() */

/* Leave on the stack the metatable `name` of a handle class, made on first use: its methods as
 * __index, and close (idempotent) as both __gc and __close. */
void lsip_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction close);
/* Set registry[key] to a new empty table weak by mode ("k", "v"). */
void lsip_weak_table(lua_State *L, const void *key, const char *mode);

/* Each pushes a table of functions (or registers metatables) for sip.core. */
int lsip_open_message(lua_State *L); /* sets fields on the table at the top */
int lsip_open_build(lua_State *L);   /* sets fields on the table at the top */
/* For the builders: the message at index i (raises when it is not one); a built message parsed
 * and pushed (raises when out of memory; nil, err, status when it does not parse); the check of
 * text a caller puts into a message (raises naming what, when it holds CR, LF or NUL). */
const sip_msg *lsip_checkmsg(lua_State *L, int i);
struct sip_buf;
int lsip_pushbuilt(lua_State *L, struct sip_buf *b);
void lsip_checktext(lua_State *L, int i, const char *what, const char *v, size_t n);
/* Push the header lines of the headers table at idx (lsip_build.c: one documented order). */
int lsip_format_headers(lua_State *L, int idx);
int lsip_open_uri(lua_State *L);    /* sets fields on the table at the top */
int lsip_open_digest(lua_State *L); /* pushes the digest table */
/* Fill c from a challenge table at index t (realm=, nonce=, algorithm=, qop=, opaque=, domain=,
 * charset=, stale=, userhash=), as digest.make_challenge reads it; raises on a bad field. The
 * slices point into the table's strings. */
struct sip_digest_challenge;
void lsip_challenge_fields(lua_State *L, int t, struct sip_digest_challenge *c);
int lsip_open_loop(lua_State *L); /* sets fields on the table at the top */
/* The virtual network and clock (lsip_vnet.c): sip.core.virtual, vnet_tap, vnet_stats. */
int lsip_open_vnet(lua_State *L); /* sets fields on the table at the top */
/* Under the virtual clock: remember the object at idx (a timer, a stack), which leaving the
 * virtual network closes. No-op on libev's clock. */
void lsip_virtual_track(lua_State *L, lsip_loop *lp, int idx);
/* run() on the virtual clock: deliver, then fire the next alarm, until stop() or nothing is
 * left to happen. */
void lsip_run_virtual(lsip_loop *lp, int once);
int lsip_open_token(lua_State *L); /* sets fields on the table at the top */
/* sip.core.resolver (lsip_resolve.c): sets fields on the table at the top */
int lsip_open_resolve(lua_State *L);
int lsip_open_loc(lua_State *L); /* sets fields on the table at the top */

/* Push a slice as a string (nil when .p is NULL). */
void lsip_pushstr(lua_State *L, sip_str s);
/* Push a header value with line folding replaced by single spaces (RFC 3261 §7.3.1). */
void lsip_pushvalue(lua_State *L, sip_str v, int folded);
/* Push a message parsed from a C buffer (copied); nil (and 0) when it does not parse. */
int lsip_pushmsg(lua_State *L, const char *buf, size_t len);
/* Push a message the C stack parsed (no second parse); never fails. */
void lsip_pushparsed(lua_State *L, const sip_msg *m);
/* Attach a server transaction (at txn, or nil) and the source address to a received message. */
struct sip_peer;
void lsip_msg_attach(lua_State *L, int msg, int txn, const struct sip_peer *from);
/* Set the table at the top (popped) as the source of the received message at msg (instead of
 * one made from its peer on first use). */
void lsip_msg_set_source(lua_State *L, int msg);
/* Push a peer as {proto=, host=, port=, conn=, listener=}. */
void lsip_pushpeer(lua_State *L, const struct sip_peer *p);
/* Respond on the transaction handle at index txn with code, reason, opts at arg, arg+1, arg+2;
 * req (may be NULL: the stored request is parsed) is the request to build from. */
int lsip_txn_respond(lua_State *L, int txn, int arg, const sip_msg *req);
int lsip_open_reply(lua_State *L);
/* Raise on bad text in a response's opts table at index o (not a table: nothing): to_tag not a
 * token, CR, LF or NUL in received or content_type, headers that are not well-formed lines. */
void lsip_check_reply_opts(lua_State *L, int o);
/* The bytes of the argument at idx: a string, or a sip.message serialized in its place. */
const char *lsip_tobytes(lua_State *L, int idx, size_t *len);
int lsip_open_stack(lua_State *L); /* sets fields on the table at the top */
/* A stack (lsip_stack.c) and the handles of its transactions, class sip.txn (lsip_txn.c). */
#define LSIP_TXN "sip.txn"
struct sip_stack;
struct sip_txn;
typedef struct lsip_txn lsip_txn;
typedef struct lsip_stack {
  struct sip_stack *s;
  lsip_txn *live; /* handles of live transactions, invalidated by close */
  lsip_loop *lp;
  lua_State *Lcall;     /* the state of a binding call in progress (callbacks may run inside it) */
  int self;             /* registry ref while open */
  int cbs;              /* registry ref of the callback table {request=, stray=, conn=} */
  int tracing;          /* a "trace" callback is set: only then is every message passed up */
  sip_tls_settings tls; /* the stack's own, under those a peer or listener names (strings
                           anchored in uservalue 1) */
} lsip_stack;
struct lsip_txn {
  struct sip_txn *t; /* NULL once terminated */
  lsip_stack *st;
  int self; /* strong registry ref while pinned, else LUA_NOREF */
  lsip_txn *prev, *next;
};
void lsip_txn_detach(lsip_txn *x);              /* off the stack's list, and stale */
void lsip_txn_unpin(lua_State *L, lsip_txn *x); /* the handle may be collected */
int lsip_pushtxn(lua_State *L, lsip_txn *x);    /* the handle (nil when collected); its type */
/* Start a client transaction for buf to `to` with the event callback at index fn: pushes its
 * handle, or nil, err, 503. */
int lsip_stack_start_client(lua_State *L, lsip_stack *st, const char *buf, size_t len,
                            const struct sip_peer *to, const char *sni, int fn);
const char *lsip_optstr(lua_State *L, int t, const char *k); /* field k of table t, or NULL */
void lsip_open_txn(lua_State *L);                            /* registers the sip.txn metatable */

/* Push a parsed URI as a sip.uri userdata that copies text (the URI keeps its own copy). */
void lsip_pushuri(lua_State *L, const char *text, size_t n, const sip_uri *parsed);

#endif
