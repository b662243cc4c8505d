/* sip_transport.c: UDP, and the stream transports over libev (RFC 3261 §18): the connections
 * and what bounds them, above the two seams of sip_transport.h; below them, the plain byte stream
 * and SIP's own framing. TLS is sip_tls.c, WebSocket sip_ws.c.
 *
 * Memory: one shared 64 KiB receive buffer serves every datagram and every stream read; a stream
 * keeps bytes of its own only while a message is incomplete, and a write queue only while the
 * socket is full, so an idle connection is its struct (plus its byte stream's state: for TLS an
 * SSL object, whose record buffers SSL_MODE_RELEASE_BUFFERS frees).
 *
 * Bounds: every connection counts toward its transport's cap and the total, an untrusted inbound
 * one also toward its source's count (a small hash table of addresses), and sits in its
 * transport's list of untrusted connections, least recently active first: the one a full cap
 * evicts. One timer per connection is set to its earliest deadline; activity only moves a time
 * stamp and the list position, and the timer re-arms itself when it fires early.
 *
 * Reentrancy: callbacks may call anything, sip_tp_free included. A closed connection is unlinked
 * at once but freed (and reported) only when the outermost handler returns, so no pointer held
 * by a handler dangles. */
#define _GNU_SOURCE
#include "sip_transport.h"
#include "sip_msg.h"
#include "sip_tls.h"
#include "sip_ws.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ev.h>

#define RXBUF_SIZE 65536 /* a datagram can be up to 65527 bytes (IPv6), so one buffer fits all */
#define UDP_BUDGET 64    /* datagrams per wakeup, so one busy socket cannot starve the rest */
#define ACCEPT_BUDGET 64
#define READ_BUDGET 16 /* reads per stream per wakeup */
#define RBUF_MIN 2048
#define NKIND 3   /* stream transports with caps of their own: TCP, TLS, WebSocket */
#define NEVER 1e9 /* a deadline this far is none */

typedef union sip_sa {
  struct sockaddr sa;
  struct sockaddr_in in4;
  struct sockaddr_in6 in6;
} sip_sa;

enum { ST_CONNECTING, ST_HANDSHAKE, ST_OPEN };
enum { K_TCP, K_TLS, K_WS };
enum { DL_NONE, DL_HANDSHAKE, DL_FIRST, DL_MESSAGE, DL_IDLE };

/* ---- the stream transports: a byte stream under a framing (sip_transport.h) ------------------ */

static const sip_stream_ops plain_stream;
static const sip_framing_ops sip_framing;

enum { L_PLAIN, L_TLS, NLAYER };
static const sip_stream_ops *const layers[NLAYER] = {&plain_stream, &sip_tls_stream};

typedef struct stream_kind {
  uint8_t kind;  /* the cap it counts toward (K_*) */
  uint8_t layer; /* its byte stream (L_*) */
  const sip_framing_ops *framing;
} stream_kind;

static const stream_kind streams[] = {
  [SIP_PROTO_TCP] = {K_TCP, L_PLAIN, &sip_framing},
  [SIP_PROTO_TLS] = {K_TLS, L_TLS, &sip_framing},
  [SIP_PROTO_WS] = {K_WS, L_PLAIN, &sip_ws_framing},
  [SIP_PROTO_WSS] = {K_WS, L_TLS, &sip_ws_framing},
};

/* NULL for UDP and unknown protocols. */
static const stream_kind *stream_of(int proto) {
  if (proto < 0 || (size_t)proto >= sizeof streams / sizeof *streams) return NULL;
  return streams[proto].framing ? &streams[proto] : NULL;
}

/* An address connections come from: IPv4, or the /64 of IPv6 (an end site gets at least a /64,
 * RFC 6177 §2), with how many untrusted inbound connections it has open. */
typedef struct src src;
struct src {
  src *next;
  uint32_t hash;
  unsigned n;
  sa_family_t fam;
  unsigned char ip[8]; /* IPv4 in the first 4 bytes, or the IPv6 prefix */
};

typedef struct sip_conn conn;
struct sip_conn {
  ev_io io;    /* io.fd is the socket */
  ev_timer tm; /* the earliest deadline (due) */
  sip_tp *tp;
  conn *id_next;             /* chain in by_id; in the graveyard, the graveyard's link */
  conn *addr_next;           /* chain in by_addr */
  conn *lru_prev, *lru_next; /* in its transport's untrusted list (when not trusted) */
  src *src;                  /* its source's count, while untrusted and inbound */
  uint32_t id, listener, hash;
  uint8_t proto, state, kind;
  uint8_t dead : 1, report : 1, outbound : 1;
  /* the byte stream waits for the other socket event: in the handshake, for a write, a read */
  uint8_t hs_want_write : 1, wr_want_read : 1, rd_want_write : 1;
  uint8_t trusted : 1, got_msg : 1;
  uint8_t rd_msg : 1;  /* the current read delivered a message */
  ev_tstamp born;      /* accepted or opened */
  ev_tstamp last;      /* last activity: a complete message either way, or a ping */
  ev_tstamp msg_start; /* first byte of the message now half received (rlen > 0) */
  ev_tstamp due;       /* when tm fires */
  sip_sa addr;
  socklen_t addrlen;
  char *rbuf; /* an incomplete message, or NULL */
  uint32_t rlen, rcap;
  char *wbuf; /* queued output, or NULL */
  size_t woff, wlen, wcap;
  sip_stream st; /* the byte stream; st.err and st.what also say why c closed */
  const sip_framing_ops *fr;
  uintptr_t framing; /* the framing's own state (SIP: CR/LF bytes seen between messages) */
  char *sni;         /* outbound, a layer that checks names: the name it was verified for */
};

typedef struct listener {
  ev_io io;
  sip_tp *tp;
  uint32_t id;
  sip_proto proto;
  int paused; /* accept hit EMFILE: retried by the sweep */
  char *path; /* WebSocket: the resource name it serves, or NULL for any */
  sip_sa addr;
  socklen_t addrlen;
} listener;

struct sip_tp {
  struct ev_loop *loop;
  sip_tp_recv_cb recv;
  sip_tp_event_cb event;
  void *ud;
  size_t max_msg, max_queue;
  unsigned max_conns, cap[NKIND], per_source;
  double idle, first, message, handshake;
  void *layer[NLAYER]; /* the byte streams' shared state */
  sip_limits lim;

  char *rxbuf;
  listener **lst;
  unsigned nlst;

  conn **by_id, **by_addr;
  src **by_src;
  unsigned nbuckets, nconns, nkind[NKIND], nuntrusted;
  conn *lru_head[NKIND], *lru_tail[NKIND];
  uint32_t next_id;
  conn *graveyard;
  conn *reporting; /* the connection being reported to the event callback */

  ev_timer sweep;
  ev_idle reaper; /* reaps the graveyard when a close happened outside any handler */
  int depth, freed;

  sip_tp_stats st;
};

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static listener *lst_get(sip_tp *tp, uint32_t id);
static int conn_flush(conn *c);
static void conn_update_io(conn *c);

/* ---- handler bracketing and the graveyard --------------------------------------------------- */

static void tp_destroy(sip_tp *tp);

static void reap(sip_tp *tp) {
  conn *c;
  while ((c = tp->graveyard)) {
    tp->graveyard = c->id_next;
    if (c->report && tp->event && !tp->freed) {
      tp->reporting = c;
      tp->event(tp->ud, c->id, c->st.err, c->st.what);
      tp->reporting = NULL;
    }
    if (c->fr->release) c->fr->release(c);
    if (c->st.ops->release) c->st.ops->release(&c->st);
    free(c->rbuf);
    free(c->wbuf);
    free(c->sni);
    free(c);
  }
  ev_idle_stop(tp->loop, &tp->reaper);
}

static void enter(sip_tp *tp) { tp->depth++; }

/* Must be the last thing a handler does: it may free tp. */
static void leave(sip_tp *tp) {
  if (tp->depth == 1) reap(tp); /* runs the event callbacks at depth 1, so a free there waits */
  if (--tp->depth == 0 && tp->freed) tp_destroy(tp);
}

static void reaper_cb(struct ev_loop *loop, ev_idle *w, int revents) {
  sip_tp *tp = w->data;
  enter(tp);
  leave(tp);
}

/* ---- connection tables ---------------------------------------------------------------------- */

static uint32_t addr_hash(int proto, const sip_sa *a) {
  uint32_t h = 2166136261u;
  const unsigned char *p;
  size_t n;
  if (a->sa.sa_family == AF_INET6) {
    p = (const void *)&a->in6.sin6_addr;
    n = 16;
  } else {
    p = (const void *)&a->in4.sin_addr;
    n = 4;
  }
  h = (h ^ (uint32_t)proto) * 16777619u;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  uint16_t port = a->sa.sa_family == AF_INET6 ? a->in6.sin6_port : a->in4.sin_port;
  h = (h ^ (port & 0xff)) * 16777619u;
  h = (h ^ (port >> 8)) * 16777619u;
  return h;
}

static int addr_eq(const sip_sa *a, const sip_sa *b) {
  if (a->sa.sa_family != b->sa.sa_family) return 0;
  if (a->sa.sa_family == AF_INET)
    return a->in4.sin_port == b->in4.sin_port && a->in4.sin_addr.s_addr == b->in4.sin_addr.s_addr;
  if (a->sa.sa_family == AF_INET6)
    return a->in6.sin6_port == b->in6.sin6_port && a->in6.sin6_scope_id == b->in6.sin6_scope_id &&
           !memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16);
  return 0;
}

/* Sources are at most as many as connections, so they share the tables' size. */
static int tables_grow(sip_tp *tp) {
  unsigned n = tp->nbuckets ? tp->nbuckets * 2 : 64;
  conn **id = calloc(n, sizeof *id), **ad = calloc(n, sizeof *ad);
  src **sr = calloc(n, sizeof *sr);
  if (!id || !ad || !sr) {
    free(id);
    free(ad);
    free(sr);
    return -1;
  }
  for (unsigned i = 0; i < tp->nbuckets; i++) {
    for (src *e = tp->by_src[i], *nx; e; e = nx) {
      nx = e->next;
      e->next = sr[e->hash & (n - 1)];
      sr[e->hash & (n - 1)] = e;
    }
    for (conn *c = tp->by_id[i], *nx; c; c = nx) {
      nx = c->id_next;
      c->id_next = id[c->id & (n - 1)];
      id[c->id & (n - 1)] = c;
    }
    for (conn *c = tp->by_addr[i], *nx; c; c = nx) {
      nx = c->addr_next;
      c->addr_next = ad[c->hash & (n - 1)];
      ad[c->hash & (n - 1)] = c;
    }
  }
  free(tp->by_id);
  free(tp->by_addr);
  free(tp->by_src);
  tp->by_id = id;
  tp->by_addr = ad;
  tp->by_src = sr;
  tp->nbuckets = n;
  return 0;
}

/* ---- per-source counts and the untrusted lists ---------------------------------------------- */

static uint32_t src_key(const sip_sa *a, sa_family_t *fam, unsigned char ip[8]) {
  memset(ip, 0, 8);
  *fam = a->sa.sa_family;
  if (*fam == AF_INET6) memcpy(ip, &a->in6.sin6_addr, 8);
  else memcpy(ip, &a->in4.sin_addr, 4);
  uint32_t h = 2166136261u;
  for (int i = 0; i < 8; i++) h = (h ^ ip[i]) * 16777619u;
  return h ^ *fam;
}

/* The entry of a's source, created with create (NULL when out of memory or absent). */
static src *src_get(sip_tp *tp, const sip_sa *a, int create) {
  sa_family_t fam;
  unsigned char ip[8];
  uint32_t h = src_key(a, &fam, ip);
  src **head = &tp->by_src[h & (tp->nbuckets - 1)];
  for (src *e = *head; e; e = e->next)
    if (e->hash == h && e->fam == fam && !memcmp(e->ip, ip, 8)) return e;
  if (!create) return NULL;
  src *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->hash = h;
  e->fam = fam;
  memcpy(e->ip, ip, 8);
  e->next = *head;
  *head = e;
  return e;
}

static void src_release(sip_tp *tp, conn *c) {
  src *e = c->src;
  if (!e) return;
  c->src = NULL;
  if (--e->n) return;
  for (src **pp = &tp->by_src[e->hash & (tp->nbuckets - 1)]; *pp; pp = &(*pp)->next)
    if (*pp == e) {
      *pp = e->next;
      break;
    }
  free(e);
}

static void lru_unlink(sip_tp *tp, conn *c) {
  if (c->trusted) return;
  if (c->lru_prev) c->lru_prev->lru_next = c->lru_next;
  else tp->lru_head[c->kind] = c->lru_next;
  if (c->lru_next) c->lru_next->lru_prev = c->lru_prev;
  else tp->lru_tail[c->kind] = c->lru_prev;
  c->lru_prev = c->lru_next = NULL;
}

static void lru_append(sip_tp *tp, conn *c) {
  c->lru_next = NULL;
  c->lru_prev = tp->lru_tail[c->kind];
  if (c->lru_prev) c->lru_prev->lru_next = c;
  else tp->lru_head[c->kind] = c;
  tp->lru_tail[c->kind] = c;
}

/* A complete message went either way, or a ping came: the idle deadline moves (lazily: the timer
 * finds out when it fires) and an untrusted connection goes to the end of its list. */
static void conn_active(conn *c) {
  sip_tp *tp = c->tp;
  c->last = ev_now(tp->loop);
  if (!c->trusted && tp->lru_tail[c->kind] != c) {
    lru_unlink(tp, c);
    lru_append(tp, c);
  }
}

static conn *conn_by_id(sip_tp *tp, uint32_t id) {
  if (!tp->nbuckets || !id) return NULL;
  for (conn *c = tp->by_id[id & (tp->nbuckets - 1)]; c; c = c->id_next)
    if (c->id == id) return c;
  return NULL;
}

static conn *conn_by_addr(sip_tp *tp, int proto, const sip_sa *a, const char *sni) {
  if (!tp->nbuckets) return NULL;
  uint32_t h = addr_hash(proto, a);
  for (conn *c = tp->by_addr[h & (tp->nbuckets - 1)]; c; c = c->addr_next)
    if (c->hash == h && c->proto == proto && addr_eq(&c->addr, a) &&
        /* a connection verified for one name (TLS) is not reused for another */
        (!sni || !c->sni || !strcasecmp(sni, c->sni)))
      return c;
  return NULL;
}

static void unlink_chain(conn **head, conn *c, int by_addr) {
  for (conn **pp = head; *pp; pp = by_addr ? &(*pp)->addr_next : &(*pp)->id_next)
    if (*pp == c) {
      *pp = by_addr ? c->addr_next : c->id_next;
      return;
    }
}

static void sweep_start(sip_tp *tp) {
  if (!ev_is_active(&tp->sweep)) ev_timer_again(tp->loop, &tp->sweep);
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* trusted: we opened it. The caller sets the state, then arms the timer (conn_arm). */
static conn *conn_new(sip_tp *tp, int fd, int proto, const sip_sa *a, socklen_t alen,
                      uint32_t listener_id, int trusted) {
  if (tp->nconns >= tp->nbuckets && tables_grow(tp) < 0) return NULL;
  conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  do { /* skip 0 and ids still in use after a wrap */
    c->id = ++tp->next_id;
  } while (!c->id || conn_by_id(tp, c->id));
  c->tp = tp;
  c->proto = (uint8_t)proto;
  c->listener = listener_id;
  memcpy(&c->addr, a, alen);
  c->addrlen = alen;
  c->hash = addr_hash(proto, a);
  const stream_kind *k = stream_of(proto);
  c->kind = k->kind;
  c->st.ops = layers[k->layer];
  c->st.fd = fd;
  c->fr = k->framing;
  c->born = c->last = ev_now(tp->loop);
  c->trusted = trusted ? 1 : 0;
  ev_io_init(&c->io, conn_io_cb, fd, 0);
  c->io.data = c;
  ev_init(&c->tm, conn_timer_cb);
  c->tm.data = c;
  unsigned b = tp->nbuckets - 1;
  c->id_next = tp->by_id[c->id & b];
  tp->by_id[c->id & b] = c;
  c->addr_next = tp->by_addr[c->hash & b];
  tp->by_addr[c->hash & b] = c;
  tp->nconns++;
  tp->nkind[c->kind]++;
  if (!c->trusted) {
    lru_append(tp, c);
    tp->nuntrusted++;
  }
  return c;
}

/* Close now: unlink, stop, close the socket; the memory goes to the graveyard. */
static void conn_kill(conn *c, int err, const char *what, int report) {
  sip_tp *tp = c->tp;
  if (c->dead) return;
  c->dead = 1;
  c->report = report ? 1 : 0;
  c->st.err = err;
  c->st.what = what;
  ev_io_stop(tp->loop, &c->io);
  ev_timer_stop(tp->loop, &c->tm);
  if (c->state == ST_OPEN && c->st.ops->shutdown) c->st.ops->shutdown(&c->st);
  close(c->io.fd);
  unsigned b = tp->nbuckets - 1;
  unlink_chain(&tp->by_id[c->id & b], c, 0);
  unlink_chain(&tp->by_addr[c->hash & b], c, 1);
  tp->nconns--;
  tp->nkind[c->kind]--;
  if (!c->trusted) {
    lru_unlink(tp, c);
    tp->nuntrusted--;
  }
  src_release(tp, c);
  c->id_next = tp->graveyard;
  tp->graveyard = c;
  if (!tp->depth && !tp->freed) ev_idle_start(tp->loop, &tp->reaper);
}

/* ---- deadlines and eviction ----------------------------------------------------------------- */

static void earliest(ev_tstamp *d, int *why, ev_tstamp t, int w) {
  if (*d == 0 || t < *d) {
    *d = t;
    *why = w;
  }
}

/* The earliest deadline of c, and in *why which one; 0 when it has none. While a message is
 * half received its own deadline stands in for the idle one (which a trickle no longer resets). */
static ev_tstamp conn_deadline(const conn *c, int *why) {
  const sip_tp *tp = c->tp;
  ev_tstamp d = 0;
  *why = DL_NONE;
  if (c->state == ST_HANDSHAKE && tp->handshake > 0)
    earliest(&d, why, c->born + tp->handshake, DL_HANDSHAKE);
  if (!c->trusted && !c->got_msg && tp->first > 0) earliest(&d, why, c->born + tp->first, DL_FIRST);
  if (c->rlen && tp->message > 0) earliest(&d, why, c->msg_start + tp->message, DL_MESSAGE);
  else if (tp->idle > 0) earliest(&d, why, c->last + tp->idle, DL_IDLE);
  return d;
}

static void conn_arm(conn *c) {
  sip_tp *tp = c->tp;
  int why;
  ev_timer_stop(tp->loop, &c->tm);
  if (c->dead || !(c->due = conn_deadline(c, &why))) return;
  ev_tstamp in = c->due - ev_now(tp->loop);
  ev_timer_set(&c->tm, in > 0 ? in : 0, 0);
  ev_timer_start(tp->loop, &c->tm);
}

/* Fires at c->due; deadlines that moved later since (activity, trust, a finished handshake)
 * only re-arm it. */
static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  conn *c = w->data;
  sip_tp *tp = c->tp;
  int why;
  enter(tp);
  ev_tstamp d = conn_deadline(c, &why);
  if (d && d <= ev_now(loop) + 0.001) {
    static const char *const what[] = {NULL, "TLS handshake timeout", "no message in time",
                                       "message not complete in time", "idle timeout"};
    uint64_t *n[] = {NULL, &tp->st.timeout_handshake, &tp->st.timeout_first,
                     &tp->st.timeout_message, &tp->st.idle_closed};
    (*n[why])++;
    conn_kill(c, ETIMEDOUT, what[why], 1);
  } else {
    conn_arm(c);
  }
  leave(tp);
}

/* The least recently active untrusted connection of any kind, or NULL. */
static conn *oldest_untrusted(sip_tp *tp) {
  conn *v = NULL;
  for (int i = 0; i < NKIND; i++) {
    conn *h = tp->lru_head[i];
    if (h && (!v || h->last < v->last)) v = h;
  }
  return v;
}

static void evict(sip_tp *tp, conn *v) {
  tp->st.evicted++;
  conn_kill(v, ECONNABORTED, "evicted for a new connection", 1);
}

/* Room for one more connection of kind k, by evicting the least recently active untrusted one
 * where a cap is reached. 0, or -1 when a cap is reached by trusted connections alone. */
static int make_room(sip_tp *tp, int k) {
  conn *v = NULL;
  if (tp->nkind[k] >= tp->cap[k]) {
    if (!(v = tp->lru_head[k])) return -1;
  } else if (tp->nconns >= tp->max_conns) {
    if (!(v = oldest_untrusted(tp))) return -1;
  }
  if (v) evict(tp, v);
  return tp->nconns < tp->max_conns && tp->nkind[k] < tp->cap[k] ? 0 : -1;
}

/* ---- the plain byte stream ------------------------------------------------------------------ */

static long plain_read(sip_stream *s, char *dst, size_t room) {
  for (;;) {
    ssize_t n = recv(s->fd, dst, room, 0);
    if (n > 0) return n;
    if (n == 0) {
      s->err = 0;
      s->what = "closed by peer";
      return SIP_IO_FAIL;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return SIP_IO_WANT_READ;
    s->err = errno;
    s->what = "read failed";
    return SIP_IO_FAIL;
  }
}

static long plain_write(sip_stream *s, const char *p, size_t n) {
  for (;;) {
    ssize_t r = send(s->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return SIP_IO_WANT_WRITE;
    s->err = errno;
    s->what = "write failed";
    return SIP_IO_FAIL;
  }
}

static const sip_stream_ops plain_stream = {
  .name = "plain",
  .read = plain_read,
  .write = plain_write,
};

/* ---- stream I/O ----------------------------------------------------------------------------- */

static void conn_read(conn *c);

static void conn_handshake(conn *c) {
  int r = c->st.ops->handshake(&c->st);
  if (r == 0) {
    c->state = ST_OPEN;
    c->hs_want_write = 0;
    if (conn_flush(c) < 0) return;
    conn_read(c); /* application data may have come with the last handshake flight */
    return;
  }
  if (r == SIP_IO_WANT_READ) c->hs_want_write = 0;
  else if (r == SIP_IO_WANT_WRITE) c->hs_want_write = 1;
  else {
    c->tp->st.tls_failed++; /* the one byte stream with a handshake */
    conn_kill(c, c->st.err, c->st.what, 1);
  }
}

/* > 0 bytes, -1 nothing now, -2 the connection was closed. */
static long io_read(conn *c, char *dst, size_t room) {
  long n = c->st.ops->read(&c->st, dst, room);
  if (n > 0) return n;
  if (n == SIP_IO_WANT_READ) return -1;
  if (n == SIP_IO_WANT_WRITE) {
    c->rd_want_write = 1;
    return -1;
  }
  conn_kill(c, c->st.err, c->st.what, 1);
  return -2;
}

/* Bytes written (>= 0), or -1 after closing the connection. Sets wr_want_read. */
static long io_write(conn *c, const char *p, size_t n) {
  long r = c->st.ops->write(&c->st, p, n);
  if (r > 0) {
    c->wr_want_read = 0;
    return r;
  }
  if (r == 0 || r == SIP_IO_WANT_WRITE) return 0;
  if (r == SIP_IO_WANT_READ) {
    c->wr_want_read = 1;
    return 0;
  }
  conn_kill(c, c->st.err, c->st.what, 1);
  return -1;
}

static int queue_put(conn *c, const char *p, size_t n) {
  if (c->woff && c->wcap - c->wlen < n) { /* slide the unsent part down first */
    memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
    c->wlen -= c->woff;
    c->woff = 0;
  }
  if (c->wcap - c->wlen < n) {
    size_t cap = c->wcap ? c->wcap : 4096;
    while (cap - c->wlen < n) cap *= 2;
    char *nb = realloc(c->wbuf, cap);
    if (!nb) return -1;
    c->wbuf = nb;
    c->wcap = cap;
  }
  memcpy(c->wbuf + c->wlen, p, n);
  c->wlen += n;
  return 0;
}

/* Write what is queued. 0, or -1 after closing the connection. */
static int conn_flush(conn *c) {
  if (c->state != ST_OPEN) return 0;
  while (c->woff < c->wlen) {
    long r = io_write(c, c->wbuf + c->woff, c->wlen - c->woff);
    if (r < 0) return -1;
    if (r == 0) break;
    c->woff += (size_t)r;
  }
  if (c->woff == c->wlen) { /* idle connections keep no queue */
    free(c->wbuf);
    c->wbuf = NULL;
    c->woff = c->wlen = c->wcap = 0;
  }
  conn_update_io(c);
  return 0;
}

/* Write now what the socket takes, queue the rest. 0, or -1 with *err. */
static int conn_write(conn *c, const char *p, size_t n, const char **err) {
  sip_tp *tp = c->tp;
  if (c->wlen - c->woff + n > tp->max_queue) {
    *err = "send queue full";
    return -1;
  }
  conn_active(c); /* sending is use too: a server that only pushes keeps its flow */
  if (c->state == ST_OPEN && c->woff == c->wlen && !c->wr_want_read) {
    long r = io_write(c, p, n);
    if (r < 0) {
      *err = "connection failed";
      return -1;
    }
    p += r;
    n -= (size_t)r;
  }
  if (n && queue_put(c, p, n) < 0) {
    *err = "out of memory";
    return -1;
  }
  conn_update_io(c);
  return 0;
}

static void conn_update_io(conn *c) {
  if (c->dead) return;
  int ev = EV_READ;
  if (c->state == ST_CONNECTING) ev = EV_WRITE;
  else if (c->state == ST_HANDSHAKE) {
    if (c->hs_want_write) ev |= EV_WRITE;
  } else if ((c->wlen > c->woff && !c->wr_want_read) || c->rd_want_write) ev |= EV_WRITE;
  if ((c->io.events & (EV_READ | EV_WRITE)) != ev || !ev_is_active(&c->io)) {
    ev_io_stop(c->tp->loop, &c->io);
    ev_io_set(&c->io, c->io.fd, ev);
    ev_io_start(c->tp->loop, &c->io);
  }
}

/* ---- what a framing may do (sip_transport.h) ------------------------------------------------ */

/* Inline for the framing of this file: it runs for every message. */
static inline int conn_deliver(conn *c, const char *msg, size_t len) {
  sip_tp *tp = c->tp;
  c->got_msg = 1;
  /* once per read is enough, but before the handler: a connection it opens must not evict the
   * one its message came on */
  if (!c->rd_msg) {
    c->rd_msg = 1;
    conn_active(c);
  }
  sip_peer from;
  from.proto = (sip_proto)c->proto;
  memset(&from.addr, 0, sizeof from.addr);
  memcpy(&from.addr, &c->addr, c->addrlen);
  from.addrlen = c->addrlen;
  from.conn = c->id;
  from.listener = c->listener;
  tp->st.rx_msgs++;
  if (tp->recv) tp->recv(tp->ud, msg, len, &from);
  return c->dead || tp->freed ? -1 : 0;
}

int sip_conn_deliver(sip_conn *c, const char *msg, size_t len) { return conn_deliver(c, msg, len); }

int sip_conn_write(sip_conn *c, const char *p, size_t n, const char **err) {
  return conn_write(c, p, n, err);
}

void sip_conn_keepalive(sip_conn *c) {
  c->tp->st.keepalives++;
  conn_active(c);
}

void sip_conn_fail(sip_conn *c, int err, const char *what) { conn_kill(c, err, what, 1); }

void sip_conn_framing_error(sip_conn *c, const char *what) {
  if (c->dead) return;
  c->tp->st.framing_errors++;
  conn_kill(c, EPROTO, what, 1);
}

uintptr_t *sip_conn_framing(sip_conn *c) { return &c->framing; }

void sip_conn_peer(const sip_conn *c, sip_peer *out) {
  memset(out, 0, sizeof *out);
  out->proto = (sip_proto)c->proto;
  memcpy(&out->addr, &c->addr, c->addrlen);
  out->addrlen = c->addrlen;
  out->conn = c->id;
  out->listener = c->listener;
}

const char *sip_conn_listen_path(const sip_conn *c) {
  const listener *l = lst_get(c->tp, c->listener);
  return l ? l->path : NULL;
}

sip_conn *sip_tp_conn(sip_tp *tp, uint32_t id) {
  conn *c = conn_by_id(tp, id);
  if (!c && tp->reporting && tp->reporting->id == id) c = tp->reporting;
  return c;
}

const struct sip_limits *sip_conn_limits(const sip_conn *c) { return &c->tp->lim; }

static inline uintptr_t *conn_framing(conn *c) { return &c->framing; }

/* ---- SIP's own framing: Content-Length, and CRLF keepalives --------------------------------- */

static long sip_frame_input(sip_conn *c, const char *p, size_t n) {
  uintptr_t *crlf = conn_framing(c); /* CR/LF bytes seen between messages */
  const sip_limits *lim = &c->tp->lim;
  size_t off = 0;
  while (off < n) {
    size_t skip = 0;
    while (off + skip < n && (p[off + skip] == '\r' || p[off + skip] == '\n')) skip++;
    if (skip) {
      /* RFC 5626 §3.5.1: a CRLFCRLF ping gets a CRLF pong. */
      off += skip;
      unsigned ka = (unsigned)*crlf + (unsigned)(skip > 255 ? 255 : skip);
      for (; ka >= 4; ka -= 4) {
        const char *e;
        sip_conn_keepalive(c);
        if (sip_conn_write(c, "\r\n", 2, &e) < 0) {
          sip_conn_fail(c, ENOBUFS, e);
          return -1;
        }
      }
      *crlf = ka;
      continue;
    }
    sip_error e = {0, 0, NULL};
    size_t pskip = 0;
    long m = sip_frame_stream(p + off, n - off, lim, &pskip, &e);
    if (m < 0) {
      /* A bad Content-Length leaves no way to find the next message (RFC 3261 §18.3). */
      sip_conn_framing_error(c, e.what ? e.what : "framing error");
      return -1;
    }
    if (m == 0 || pskip + (size_t)m > n - off) break;
    off += pskip;
    *crlf = 0;
    if (conn_deliver(c, p + off, (size_t)m) < 0) return -1;
    off += (size_t)m;
  }
  return (long)off;
}

static int sip_frame_output(sip_conn *c, const char *msg, size_t len, const char **err) {
  return sip_conn_write(c, msg, len, err);
}

static const sip_framing_ops sip_framing = {
  .name = "sip",
  .input = sip_frame_input,
  .output = sip_frame_output,
};

static void conn_read(conn *c) {
  sip_tp *tp = c->tp;
  int i;
  c->rd_want_write = 0;
  for (i = 0; i < READ_BUDGET; i++) {
    int shared = c->rlen == 0;
    char *dst;
    size_t room;
    if (shared) { /* nothing pending: read into the shared buffer, keep only a leftover */
      dst = tp->rxbuf;
      room = RXBUF_SIZE;
    } else {
      if (c->rcap - c->rlen < RBUF_MIN && c->rcap < tp->max_msg) {
        size_t cap = c->rcap * 2;
        if (cap > tp->max_msg) cap = tp->max_msg;
        char *nb = realloc(c->rbuf, cap);
        if (!nb) {
          conn_kill(c, ENOMEM, "out of memory", 1);
          return;
        }
        c->rbuf = nb;
        c->rcap = (uint32_t)cap;
      }
      dst = c->rbuf + c->rlen;
      room = c->rcap - c->rlen;
    }
    long n = io_read(c, dst, room);
    if (n == -2) return;
    if (n == -1) break;
    const char *base = shared ? dst : c->rbuf;
    size_t have = shared ? (size_t)n : c->rlen + (size_t)n;
    c->rd_msg = 0;
    long used = c->fr->input(c, base, have);
    if (used < 0) return;
    size_t left = have - (size_t)used;
    if (left >= tp->max_msg) {
      tp->st.framing_errors++;
      conn_kill(c, EMSGSIZE, "message too large", 1);
      return;
    }
    if (shared) {
      if (left) {
        size_t cap = left * 2 < RBUF_MIN ? RBUF_MIN : left * 2;
        if (cap > tp->max_msg) cap = tp->max_msg;
        if (!(c->rbuf = malloc(cap))) {
          conn_kill(c, ENOMEM, "out of memory", 1);
          return;
        }
        memcpy(c->rbuf, base + used, left);
        c->rcap = (uint32_t)cap;
      }
    } else if (left == 0) {
      free(c->rbuf);
      c->rbuf = NULL;
      c->rcap = 0;
    } else if (used) {
      memmove(c->rbuf, c->rbuf + used, left);
    }
    c->rlen = (uint32_t)left;
    if (left &&
        (shared || c->rd_msg)) { /* a message began: its deadline may come before the timer */
      c->msg_start = ev_now(tp->loop);
      if (tp->message > 0 && (!ev_is_active(&c->tm) || c->msg_start + tp->message < c->due))
        conn_arm(c);
    }
    if (!c->st.ops->pending && (size_t)n < room) break; /* a short read drained the socket */
  }
  if (c->st.ops->pending && c->st.ops->pending(&c->st)) /* bytes wait, the socket may stay quiet */
    ev_feed_event(tp->loop, &c->io, EV_READ);
  conn_update_io(c);
}

static void conn_connected(conn *c) {
  int e = 0;
  socklen_t len = sizeof e;
  if (getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0) e = errno;
  if (e) {
    c->tp->st.connect_failed++;
    conn_kill(c, e, "connect failed", 1);
    return;
  }
  if (c->st.ops->handshake) {
    c->state = ST_HANDSHAKE;
    conn_handshake(c);
  } else {
    c->state = ST_OPEN;
    conn_flush(c);
  }
}

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents) {
  conn *c = w->data;
  sip_tp *tp = c->tp;
  enter(tp);
  if (c->state == ST_CONNECTING) {
    if (revents & (EV_WRITE | EV_READ)) conn_connected(c);
  } else if (c->state == ST_HANDSHAKE) {
    conn_handshake(c);
  } else {
    if ((revents & EV_READ) || (c->rd_want_write && (revents & EV_WRITE))) conn_read(c);
    if (!c->dead && !tp->freed && c->wlen > c->woff &&
        ((revents & EV_WRITE) || (c->wr_want_read && (revents & EV_READ))))
      conn_flush(c);
  }
  conn_update_io(c);
  leave(tp);
}

/* ---- listeners ------------------------------------------------------------------------------ */

static listener *lst_get(sip_tp *tp, uint32_t id) {
  return id >= 1 && id <= tp->nlst ? tp->lst[id - 1] : NULL;
}

static void udp_cb(struct ev_loop *loop, ev_io *w, int revents) {
  listener *l = w->data;
  sip_tp *tp = l->tp;
  enter(tp);
  for (int i = 0; i < UDP_BUDGET && !tp->freed; i++) {
    sip_peer from;
    from.addrlen = sizeof from.addr;
    ssize_t n = recvfrom(w->fd, tp->rxbuf, RXBUF_SIZE, MSG_TRUNC, (struct sockaddr *)&from.addr,
                         &from.addrlen);
    if (n < 0) {
      if (errno == EINTR) continue;
      break; /* EAGAIN, or an ICMP error queued on the socket: nothing to deliver */
    }
    if (n > RXBUF_SIZE) continue; /* truncated: cannot be a whole message */
    size_t k = 0;
    while (k < (size_t)n && (tp->rxbuf[k] == '\r' || tp->rxbuf[k] == '\n')) k++;
    if (k == (size_t)n) {
      tp->st.keepalives++;
      continue;
    } /* CRLF keepalive, or empty */
    from.proto = SIP_PROTO_UDP;
    from.conn = 0;
    from.listener = l->id;
    tp->st.rx_msgs++;
    if (tp->recv) tp->recv(tp->ud, tp->rxbuf, (size_t)n, &from);
  }
  leave(tp);
}

static void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents) {
  listener *l = w->data;
  sip_tp *tp = l->tp;
  enter(tp);
  for (int i = 0; i < ACCEPT_BUDGET && !tp->freed; i++) {
    sip_sa a;
    socklen_t alen = sizeof a;
    int fd = accept4(w->fd, &a.sa, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      /* Out of descriptors is a full cap too: an untrusted connection makes way, if one waits
       * (accept says EMFILE before it looks at the queue). */
      conn *v;
      struct pollfd pf = {w->fd, POLLIN, 0};
      if ((errno == EMFILE || errno == ENFILE) && (v = oldest_untrusted(tp)) &&
          poll(&pf, 1, 0) == 1) {
        evict(tp, v);
        continue;
      }
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        /* the pending connection keeps the socket readable: pause, or we would spin */
        ev_io_stop(loop, &l->io);
        l->paused = 1;
        sweep_start(tp);
      }
      break;
    }
    /* A source at its cap is refused, not let evict: one address cannot push the others out. */
    src *e = src_get(tp, &a, 0);
    if (e && e->n >= tp->per_source) {
      close(fd);
      tp->st.refused_source++;
      continue;
    }
    const stream_kind *k = stream_of(l->proto);
    if (make_room(tp, k->kind) < 0) {
      close(fd);
      tp->st.refused_cap++;
      continue;
    }
    set_nodelay(fd);
    conn *c = conn_new(tp, fd, l->proto, &a, alen, l->id, 0);
    if (!c || !(c->src = src_get(tp, &a, 1))) { /* the eviction may have freed e */
      if (c) conn_kill(c, ENOMEM, "out of memory", 0);
      else close(fd);
      continue;
    }
    c->src->n++;
    tp->st.accepted++;
    const char *err;
    c->state = c->st.ops->handshake ? ST_HANDSHAKE : ST_OPEN;
    if (c->st.ops->attach &&
        c->st.ops->attach(tp->layer[k->layer], &c->st, 1, NULL, &c->addr.sa, &err) < 0) {
      conn_kill(c, ENOMEM, err, 0);
      continue;
    }
    conn_arm(c);
    conn_update_io(c);
  }
  leave(tp);
}

/* Listeners paused by EMFILE and the like listen again. */
static void sweep_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  sip_tp *tp = w->data;
  enter(tp);
  for (unsigned i = 0; i < tp->nlst; i++)
    if (tp->lst[i]->paused) {
      tp->lst[i]->paused = 0;
      ev_io_start(loop, &tp->lst[i]->io);
    }
  ev_timer_stop(loop, w);
  leave(tp);
}

/* ---- API ------------------------------------------------------------------------------------ */

/* A configured deadline: 0 the default, negative (or NaN, or beyond NEVER) none. */
static double deadline(double v, double dflt) {
  if (v == 0) return dflt;
  return v > 0 && v < NEVER ? v : -1;
}

static void layers_teardown(sip_tp *tp) {
  for (int i = 0; i < NLAYER; i++)
    if (tp->layer[i]) layers[i]->teardown(tp->layer[i]);
}

sip_tp *sip_tp_new(struct ev_loop *loop, const sip_tp_config *cfg, sip_tp_recv_cb recv,
                   sip_tp_event_cb event, void *ud) {
  sip_tp_config d;
  memset(&d, 0, sizeof d);
  if (!cfg) cfg = &d;
  sip_tp *tp = calloc(1, sizeof *tp);
  if (!tp) return NULL;
  tp->loop = loop;
  tp->recv = recv;
  tp->event = event;
  tp->ud = ud;
  tp->max_msg = cfg->max_msg ? cfg->max_msg : 65536;
  if (tp->max_msg > UINT32_MAX / 2) tp->max_msg = UINT32_MAX / 2;
  tp->max_queue = cfg->max_queue ? cfg->max_queue : 1u << 20;
  /* Defaults for a server on the internet: the deadlines are far beyond what a client on a slow
   * link needs, and 64 untrusted connections from one address fill a sixteenth of the slots. */
  tp->max_conns = cfg->max_conns ? cfg->max_conns : 1024;
  const unsigned caps[NKIND] = {cfg->max_tcp, cfg->max_tls, cfg->max_ws};
  for (int k = 0; k < NKIND; k++) tp->cap[k] = caps[k] ? caps[k] : tp->max_conns;
  tp->per_source = cfg->max_per_source ? cfg->max_per_source : 64;
  tp->idle = deadline(cfg->idle_timeout, 120);
  tp->first = deadline(cfg->first_message_timeout, 20);
  tp->message = deadline(cfg->message_timeout, 30);
  tp->handshake = deadline(cfg->handshake_timeout, 10);
  tp->lim = sip_default_limits;
  tp->lim.max_msg = tp->max_msg;
  tp->rxbuf = malloc(RXBUF_SIZE);
  int ok = tp->rxbuf && tables_grow(tp) == 0;
  for (int i = 0; i < NLAYER && ok; i++)
    if (layers[i]->setup && !(tp->layer[i] = layers[i]->setup(cfg))) ok = 0;
  if (!ok) {
    layers_teardown(tp);
    free(tp->rxbuf);
    free(tp->by_id);
    free(tp->by_addr);
    free(tp->by_src);
    free(tp);
    return NULL;
  }
  ev_init(&tp->sweep, sweep_cb);
  tp->sweep.repeat = 1;
  tp->sweep.data = tp;
  ev_idle_init(&tp->reaper, reaper_cb);
  tp->reaper.data = tp;
  return tp;
}

static void close_all(sip_tp *tp) {
  for (unsigned b = 0; b < tp->nbuckets; b++)
    while (tp->by_id[b]) conn_kill(tp->by_id[b], 0, NULL, 0);
  for (unsigned i = 0; i < tp->nlst; i++) {
    listener *l = tp->lst[i];
    if (l->io.fd >= 0) {
      ev_io_stop(tp->loop, &l->io);
      close(l->io.fd);
      l->io.fd = -1;
    }
  }
  ev_timer_stop(tp->loop, &tp->sweep);
  ev_idle_stop(tp->loop, &tp->reaper);
}

static void tp_destroy(sip_tp *tp) {
  close_all(tp);
  tp->freed = 1; /* graveyard: free without reporting */
  reap(tp);
  for (unsigned i = 0; i < tp->nlst; i++) {
    free(tp->lst[i]->path);
    free(tp->lst[i]);
  }
  free(tp->lst);
  free(tp->by_id);
  free(tp->by_addr);
  free(tp->by_src);
  free(tp->rxbuf);
  layers_teardown(tp);
  free(tp);
}

void sip_tp_free(sip_tp *tp) {
  if (!tp || tp->freed) return;
  tp->freed = 1;
  close_all(tp);
  if (!tp->depth) tp_destroy(tp); /* else the outermost handler's leave() does it */
}

static const char *bind_err(int e) {
  switch (e) {
  case EADDRINUSE: return "address already in use";
  case EADDRNOTAVAIL: return "address not available";
  case EACCES: return "permission denied";
  case EAFNOSUPPORT: return "address family not supported";
  default: return "cannot bind";
  }
}

int sip_tp_listen(sip_tp *tp, sip_proto proto, const char *host, int port, const char **err) {
  const char *dummy;
  if (!err) err = &dummy;
  const stream_kind *k = stream_of(proto);
  if (proto != SIP_PROTO_UDP && !k) {
    *err = "unknown transport";
    return -1;
  }
  sip_peer p;
  if (sip_tp_resolve(host ? host : "0.0.0.0", port, proto, &p, err) < 0) return -1;
  if (k && layers[k->layer]->prepare && layers[k->layer]->prepare(tp->layer[k->layer], 1, err) < 0)
    return -1;
  listener **nl = realloc(tp->lst, (tp->nlst + 1) * sizeof *nl);
  if (!nl) {
    *err = "out of memory";
    return -1;
  }
  tp->lst = nl;
  listener *l = calloc(1, sizeof *l);
  if (!l) {
    *err = "out of memory";
    return -1;
  }
  int type = proto == SIP_PROTO_UDP ? SOCK_DGRAM : SOCK_STREAM;
  int fd = socket(p.addr.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = bind_err(errno);
    free(l);
    return -1;
  }
  int one = 1;
  if (p.addr.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  /* Not on UDP: there, Linux lets a second socket bind the same port and split the traffic. */
  if (type == SOCK_STREAM) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  /* A server's UDP socket takes bursts from many clients between two loop iterations: the
   * kernel's default queue (about 200 KiB) overflows and costs retransmissions. The kernel caps
   * this at net.core.rmem_max. */
  if (type == SOCK_DGRAM) {
    int rcv = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  }
  if (bind(fd, (struct sockaddr *)&p.addr, p.addrlen) < 0 ||
      (type == SOCK_STREAM && listen(fd, SOMAXCONN) < 0)) {
    *err = bind_err(errno);
    close(fd);
    free(l);
    return -1;
  }
  l->addrlen = sizeof l->addr;
  getsockname(fd, &l->addr.sa, &l->addrlen);
  l->tp = tp;
  l->proto = proto;
  l->id = tp->nlst + 1;
  ev_io_init(&l->io, proto == SIP_PROTO_UDP ? udp_cb : accept_cb, fd, EV_READ);
  l->io.data = l;
  ev_io_start(tp->loop, &l->io);
  tp->lst[tp->nlst++] = l;
  return (int)l->id;
}

int sip_tp_listen_path(sip_tp *tp, uint32_t id, const char *path) {
  listener *l = lst_get(tp, id);
  const stream_kind *k = l ? stream_of(l->proto) : NULL;
  char *p = NULL;
  if (!k || k->framing != &sip_ws_framing || (path && !(p = strdup(path)))) return -1;
  free(l->path);
  l->path = p;
  return 0;
}

int sip_tp_local(sip_tp *tp, uint32_t id, struct sockaddr_storage *addr, socklen_t *len) {
  listener *l = lst_get(tp, id);
  if (!l || l->io.fd < 0) return -1;
  memset(addr, 0, sizeof *addr);
  memcpy(addr, &l->addr, l->addrlen);
  *len = l->addrlen;
  return 0;
}

static int udp_send(sip_tp *tp, const sip_peer *to, const char *buf, size_t len, const char **err) {
  int fam = to->addr.ss_family;
  listener *l = lst_get(tp, to->listener);
  if (!l || l->proto != SIP_PROTO_UDP || l->addr.sa.sa_family != fam || l->io.fd < 0) {
    l = NULL;
    for (unsigned i = 0; i < tp->nlst && !l; i++)
      if (tp->lst[i]->proto == SIP_PROTO_UDP && tp->lst[i]->addr.sa.sa_family == fam &&
          tp->lst[i]->io.fd >= 0)
        l = tp->lst[i];
  }
  if (!l) {
    *err = "no UDP listener for this address family";
    return -1;
  }
  for (;;) {
    ssize_t r = sendto(l->io.fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL,
                       (const struct sockaddr *)&to->addr, to->addrlen);
    if (r >= 0) return 0;
    if (errno == EINTR) continue;
    switch (errno) {
    case EAGAIN: *err = "socket buffer full"; break;
    case EMSGSIZE: *err = "message too large for UDP"; break;
    case ENETUNREACH: *err = "network unreachable"; break;
    case EHOSTUNREACH: *err = "host unreachable"; break;
    default: *err = "send failed"; break;
    }
    return -1;
  }
}

static conn *stream_connect(sip_tp *tp, const sip_peer *to, const char *sni, const char **err) {
  const stream_kind *k = stream_of(to->proto);
  const sip_stream_ops *ops = layers[k->layer];
  if (make_room(tp, k->kind) < 0) {
    *err = "connection limit reached";
    return NULL;
  }
  int fam = to->addr.ss_family;
  if ((fam != AF_INET && fam != AF_INET6) || to->addrlen == 0 || to->addrlen > sizeof(sip_sa)) {
    *err = "no address to connect to";
    return NULL;
  }
  if (ops->prepare && ops->prepare(tp->layer[k->layer], 0, err) < 0) return NULL;
  int fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) {
    *err = "cannot create socket";
    return NULL;
  }
  set_nodelay(fd);
  int r = connect(fd, (const struct sockaddr *)&to->addr, to->addrlen);
  if (r < 0 && errno != EINPROGRESS) {
    switch (errno) {
    case ECONNREFUSED: *err = "connection refused"; break;
    case ENETUNREACH: *err = "network unreachable"; break;
    case EHOSTUNREACH: *err = "host unreachable"; break;
    default: *err = "connect failed"; break;
    }
    tp->st.connect_failed++;
    close(fd);
    return NULL;
  }
  sip_sa a;
  memset(&a, 0, sizeof a);
  memcpy(&a, &to->addr, to->addrlen);
  conn *c = conn_new(tp, fd, to->proto, &a, to->addrlen, 0, 1);
  if (!c) {
    close(fd);
    *err = "out of memory";
    return NULL;
  }
  c->outbound = 1;
  c->state = ST_CONNECTING;
  if (ops->attach && ops->attach(tp->layer[k->layer], &c->st, 0, sni, &c->addr.sa, err) < 0) {
    conn_kill(c, ENOMEM, *err, 0);
    return NULL;
  }
  if (sni && ops->checks_name && !(c->sni = strdup(sni))) {
    *err = "out of memory";
    conn_kill(c, ENOMEM, *err, 0);
    return NULL;
  }
  if (c->fr->open && c->fr->open(c, sni, err) < 0) {
    conn_kill(c, ENOMEM, *err, 0);
    return NULL;
  }
  if (r == 0) { /* loopback may connect at once */
    c->state = ops->handshake ? ST_HANDSHAKE : ST_OPEN;
    if (ops->handshake) {
      conn_handshake(c);
      if (c->dead) {
        c->report = 0;
        *err = c->st.what;
        return NULL;
      } /* said here, not twice */
    }
  }
  conn_arm(c);
  conn_update_io(c);
  return c;
}

int sip_tp_send_conn(sip_tp *tp, const sip_peer *to, const char *sni, const char *buf, size_t len,
                     uint32_t *conn_out, const char **err) {
  const char *dummy;
  if (!err) err = &dummy;
  if (conn_out) *conn_out = 0;
  if (tp->freed) {
    *err = "transport closed";
    return -1;
  }
  if (to->proto == SIP_PROTO_UDP) {
    if (udp_send(tp, to, buf, len, err) < 0) return -1;
    tp->st.tx_msgs++;
    return 0;
  }
  const stream_kind *k = stream_of(to->proto);
  if (!k) {
    *err = "unknown transport";
    return -1;
  }
  if (len > tp->max_queue) {
    *err = "message too large";
    return -1;
  }
  conn *c = conn_by_id(tp, to->conn);
  if (c && c->proto != to->proto) c = NULL;
  if (!c && to->addrlen && to->addrlen <= sizeof(sip_sa)) {
    sip_sa a;
    memset(&a, 0, sizeof a);
    memcpy(&a, &to->addr, to->addrlen);
    if (a.sa.sa_family == AF_INET || a.sa.sa_family == AF_INET6)
      c = conn_by_addr(tp, to->proto, &a, layers[k->layer]->checks_name ? sni : NULL);
  }
  if (!c) {
    if (!to->addrlen) {
      *err = "connection closed";
      return -1;
    }
    if (!(c = stream_connect(tp, to, sni, err))) return -1;
  }
  if (c->fr->output(c, buf, len, err) < 0) return -1;
  if (conn_out) *conn_out = c->id;
  tp->st.tx_msgs++;
  return 0;
}

int sip_tp_send(sip_tp *tp, const sip_peer *to, const char *sni, const char *buf, size_t len,
                const char **err) {
  return sip_tp_send_conn(tp, to, sni, buf, len, NULL, err);
}

int sip_tp_conn_peer(sip_tp *tp, uint32_t id, sip_peer *out) {
  conn *c = sip_tp_conn(tp, id);
  if (!c) return -1;
  sip_conn_peer(c, out);
  return 0;
}

int sip_tp_close(sip_tp *tp, uint32_t id) {
  conn *c = conn_by_id(tp, id);
  if (!c) return -1;
  conn_kill(c, 0, NULL, 0);
  return 0;
}

int sip_tp_trust(sip_tp *tp, uint32_t id) {
  conn *c = conn_by_id(tp, id);
  if (!c) return -1;
  if (c->trusted) return 0;
  lru_unlink(tp, c);
  tp->nuntrusted--;
  c->trusted = 1; /* the first-message deadline goes: the timer finds out when it fires */
  src_release(tp, c);
  return 0;
}

int sip_tp_resolve(const char *host, int port, sip_proto proto, sip_peer *out, const char **err) {
  const char *dummy;
  if (!err) err = &dummy;
  memset(out, 0, sizeof *out);
  out->proto = proto;
  if (!host || !*host) {
    *err = "no host";
    return -1;
  }
  if (port < 0 || port > 65535) {
    *err = "bad port";
    return -1;
  }
  char tmp[256];
  size_t n = strlen(host);
  if (host[0] == '[') { /* IPv6 reference as written in URIs (RFC 3261 §25.1) */
    if (n < 3 || host[n - 1] != ']' || n - 2 >= sizeof tmp) {
      *err = "bad IPv6 reference";
      return -1;
    }
    memcpy(tmp, host + 1, n - 2);
    tmp[n - 2] = 0;
    host = tmp;
  }
  struct sockaddr_in *s4 = (struct sockaddr_in *)&out->addr;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->addr;
  if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    out->addrlen = sizeof *s4;
    return 0;
  }
  if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    out->addrlen = sizeof *s6;
    return 0;
  }
  /* A name of digits and dots only (a GB/T 28181 domain such as 3402000000) is a name to the
   * parser, but getaddrinfo reads inet_aton's forms as IPv4 numbers (3402000000 is
   * 202.198.102.128, 0x7f.1 is 127.0.0.1): never send to an address nobody wrote. */
  struct in_addr aton;
  if (inet_aton(host, &aton)) {
    *err = "unknown host (not a dotted-quad address, and no name)";
    return -1;
  }
  /* Names, and scoped IPv6 literals ("fe80::1%eth0"). Blocks. */
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = proto == SIP_PROTO_UDP ? SOCK_DGRAM : SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  int r = getaddrinfo(host, NULL, &hints, &res);
  if (r != 0 || !res) {
    *err = r == EAI_NONAME  ? "unknown host"
           : r == EAI_AGAIN ? "temporary DNS failure"
                            : "cannot resolve host";
    if (res) freeaddrinfo(res);
    return -1;
  }
  if (res->ai_addrlen > sizeof out->addr ||
      (res->ai_family != AF_INET && res->ai_family != AF_INET6)) {
    freeaddrinfo(res);
    *err = "unsupported address family";
    return -1;
  }
  memcpy(&out->addr, res->ai_addr, res->ai_addrlen);
  out->addrlen = (socklen_t)res->ai_addrlen;
  if (res->ai_family == AF_INET) s4->sin_port = htons((uint16_t)port);
  else s6->sin6_port = htons((uint16_t)port);
  freeaddrinfo(res);
  return 0;
}

/* Dotted quad without the printf machinery inet_ntop uses: it runs for every request. */
static int ipv4_str(const struct in_addr *in, char *out, size_t cap) {
  const unsigned char *b = (const unsigned char *)&in->s_addr;
  char t[16];
  size_t n = 0;
  for (int i = 0; i < 4; i++) {
    unsigned v = b[i];
    if (v >= 100) t[n++] = (char)('0' + v / 100);
    if (v >= 10) t[n++] = (char)('0' + v / 10 % 10);
    t[n++] = (char)('0' + v % 10);
    t[n++] = i < 3 ? '.' : 0;
  }
  if (n > cap) return -1;
  memcpy(out, t, n);
  return 0;
}

int sip_tp_addr_str(const struct sockaddr_storage *a, char *host, size_t hostlen, int *port) {
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in *s = (const struct sockaddr_in *)a;
    if (ipv4_str(&s->sin_addr, host, hostlen)) return -1;
    if (port) *port = ntohs(s->sin_port);
    return 0;
  }
  if (a->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)a;
    if (!inet_ntop(AF_INET6, &s->sin6_addr, host, (socklen_t)hostlen)) return -1;
    if (port) *port = ntohs(s->sin6_port);
    return 0;
  }
  return -1;
}

void sip_tp_get_stats(const sip_tp *tp, sip_tp_stats *st) {
  *st = tp->st;
  st->listeners = 0;
  for (unsigned i = 0; i < tp->nlst; i++)
    if (tp->lst[i]->io.fd >= 0) st->listeners++;
  st->conns = tp->nconns;
  st->conns_tcp = tp->nkind[K_TCP];
  st->conns_tls = tp->nkind[K_TLS];
  st->conns_ws = tp->nkind[K_WS];
  st->untrusted = tp->nuntrusted;
}
