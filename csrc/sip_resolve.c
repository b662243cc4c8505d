/* sip_resolve.c: c-ares on the libev loop, and the answer cache (see sip_resolve.h). c-ares is
 * the right tool for the wire part (retries, server rotation, TCP on truncation, resolv.conf);
 * the answers themselves are read by sip_dns.c, which also gives the TTLs c-ares' parsers drop. */
#include "sip_resolve.h"

#include <ares.h>
#include <ev.h>
#include <stdlib.h>
#include <string.h>

typedef struct waiter {
  sip_resolve_cb cb;
  void *ud;
  struct waiter *next;
} waiter;

typedef struct entry {
  struct entry *hnext;       /* hash chain */
  struct entry *prev, *next; /* LRU list of answered entries, most recent first */
  sip_resolver *r;
  uint32_t hash;
  int type;
  int pending; /* a query in flight: waiters wait, not in the LRU list */
  int busy;    /* its waiters are being called: never evicted */
  double expires;
  int status;
  const char *err;
  unsigned n;
  sip_dns_rr *rr; /* n records, then the pool (one allocation) */
  const char *pool;
  waiter *waiters;
  char name[];
} entry;

typedef struct sock_watch {
  ev_io io;
  sip_resolver *r;
  struct sock_watch *next;
} sock_watch;

struct sip_resolver {
  struct ev_loop *loop;
  ares_channel ch;
  ev_timer timer;
  sock_watch *socks;
  entry **tab;
  unsigned tabsize, nentries, ninflight;
  entry *lru_head, *lru_tail;
  sip_resolver_config cfg;
  int closing;
  sip_resolver_stats st;
};

static int lib_ready;

static uint32_t hash_name(const char *s, int type) {
  uint32_t h = 2166136261u ^ (uint32_t)type;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

/* ---- the loop's watchers for c-ares ------------------------------------------------------- */

static void reschedule(sip_resolver *r) {
  struct timeval tv, *t = ares_timeout(r->ch, NULL, &tv);
  ev_timer_stop(r->loop, &r->timer);
  if (!t) return;
  ev_timer_set(&r->timer, (double)t->tv_sec + t->tv_usec / 1e6, 0);
  ev_timer_start(r->loop, &r->timer);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents) {
  sock_watch *s = (sock_watch *)w;
  sip_resolver *r = s->r;
  int fd = w->fd;
  ares_process_fd(r->ch, (revents & EV_READ) ? fd : ARES_SOCKET_BAD,
                  (revents & EV_WRITE) ? fd : ARES_SOCKET_BAD);
  reschedule(r);
}

static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  sip_resolver *r = (sip_resolver *)((char *)t - offsetof(sip_resolver, timer));
  ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  reschedule(r);
}

static void sock_stop(sip_resolver *r, sock_watch *s) {
  if (!ev_is_active(&s->io)) return;
  ev_ref(r->loop); /* the sockets never hold the loop: the timer does while a query runs */
  ev_io_stop(r->loop, &s->io);
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable) {
  sip_resolver *r = data;
  sock_watch **pp = &r->socks, *s;
  while ((s = *pp) && s->io.fd != fd) pp = &s->next;
  if (!readable && !writable) {
    if (!s) return;
    sock_stop(r, s);
    *pp = s->next;
    free(s);
    return;
  }
  if (!s) {
    if (!(s = calloc(1, sizeof *s))) return; /* c-ares times the query out */
    s->r = r;
    s->next = r->socks;
    r->socks = s;
    ev_io_init(&s->io, io_cb, fd, 0);
  }
  sock_stop(r, s);
  ev_io_set(&s->io, fd, (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
  ev_io_start(r->loop, &s->io);
  ev_unref(r->loop);
}

/* ---- the cache ---------------------------------------------------------------------------- */

static void lru_unlink(sip_resolver *r, entry *e) {
  if (e->prev) e->prev->next = e->next;
  else if (r->lru_head == e) r->lru_head = e->next;
  if (e->next) e->next->prev = e->prev;
  else if (r->lru_tail == e) r->lru_tail = e->prev;
  e->prev = e->next = NULL;
}

static void lru_front(sip_resolver *r, entry *e) {
  lru_unlink(r, e);
  e->next = r->lru_head;
  if (r->lru_head) r->lru_head->prev = e;
  r->lru_head = e;
  if (!r->lru_tail) r->lru_tail = e;
}

static void entry_free(sip_resolver *r, entry *e) {
  entry **pp = &r->tab[e->hash & (r->tabsize - 1)];
  while (*pp && *pp != e) pp = &(*pp)->hnext;
  if (*pp) *pp = e->hnext;
  lru_unlink(r, e);
  r->nentries--;
  free(e->rr);
  free(e);
}

/* Past the cap, the least recently used answered entries go (pending and busy ones stay). */
static void evict(sip_resolver *r) {
  entry *e = r->lru_tail;
  while (r->nentries > r->cfg.max_entries && e) {
    entry *prev = e->prev;
    if (!e->busy) {
      entry_free(r, e);
      r->st.evicted++;
    }
    e = prev;
  }
}

static void fill(const entry *e, sip_resolve_result *res) {
  res->status = e->status;
  res->err = e->err;
  res->n = e->n;
  res->rr = e->rr;
  res->pool = e->pool;
  res->expires = e->expires;
}

static const char *ares_reason(int st) {
  switch (st) {
  case ARES_ETIMEOUT: return "timeout";
  case ARES_ESERVFAIL: return "server failure";
  case ARES_EREFUSED: return "query refused";
  case ARES_ECONNREFUSED: return "name server refused the connection";
  case ARES_EBADRESP: return "malformed answer";
  default: return ares_strerror(st);
  }
}

/* The answer in abuf (or the failure st) into e: records, status and expiry. */
static void settle(entry *e, int st, const unsigned char *abuf, int alen) {
  sip_resolver *r = e->r;
  const sip_resolver_config *c = &r->cfg;
  static sip_dns_answer a; /* 40 KB; the loop is single-threaded and settle never nests */
  const char *err = NULL;
  double now = ev_now(r->loop);
  int parsed = abuf && alen > 0 &&
               (st == ARES_SUCCESS || st == ARES_ENODATA || st == ARES_ENOTFOUND) &&
               sip_dns_parse(abuf, (size_t)alen, e->name, e->type, &a, &err) == 0;
  free(e->rr);
  e->rr = NULL;
  e->n = 0;
  e->pool = NULL;
  if (parsed && a.n > 0) {
    size_t sz = a.n * sizeof a.rr[0];
    if (!(e->rr = malloc(sz + a.pool_used + 1))) {
      e->status = SIP_RES_FAIL;
      e->err = "out of memory";
      e->expires = now;
      return;
    }
    memcpy(e->rr, a.rr, sz);
    memcpy((char *)e->rr + sz, a.pool, a.pool_used);
    e->pool = (char *)e->rr + sz;
    e->n = a.n;
    uint32_t ttl = c->max_ttl;
    for (unsigned i = 0; i < a.n; i++)
      if (a.rr[i].ttl < ttl) ttl = a.rr[i].ttl;
    e->status = SIP_RES_OK;
    e->err = NULL;
    e->expires = now + ttl;
    return;
  }
  if (parsed || (st == ARES_ENODATA || st == ARES_ENOTFOUND)) {
    e->status = st == ARES_ENOTFOUND || (parsed && a.rcode == 3) ? SIP_RES_NONAME : SIP_RES_NODATA;
    e->err = e->status == SIP_RES_NONAME ? "no such domain" : "no records of that type";
    uint32_t ttl = parsed && a.neg_ttl < c->neg_ttl ? a.neg_ttl : c->neg_ttl;
    e->expires = now + ttl;
    return;
  }
  e->status = st == ARES_EDESTRUCTION || st == ARES_ECANCELLED ? SIP_RES_CLOSED : SIP_RES_FAIL;
  e->err = err ? err : e->status == SIP_RES_CLOSED ? "resolver closed" : ares_reason(st);
  e->expires = now + c->fail_ttl;
}

static void query_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen) {
  entry *e = arg;
  sip_resolver *r = e->r;
  r->ninflight--;
  e->pending = 0;
  settle(e, status, abuf, alen);
  waiter *w = e->waiters;
  e->waiters = NULL;
  if (r->closing || e->status == SIP_RES_CLOSED) e->status = SIP_RES_CLOSED;
  else lru_front(r, e);
  sip_resolve_result res;
  e->busy = 1;
  while (w) {
    waiter *next = w->next;
    fill(e, &res); /* again for each: a callback may have looked this name up and renewed it */
    w->cb(w->ud, &res);
    free(w);
    w = next;
  }
  e->busy = 0;
  if (e->status == SIP_RES_CLOSED) entry_free(r, e);
  else evict(r);
}

/* A name c-ares may be asked: letters, digits, '-', '_', dots between labels. */
static int lower_name(const char *in, char *out) {
  size_t n = strlen(in);
  if (n && in[n - 1] == '.') n--;
  if (n == 0 || n > SIP_DNS_NAME_MAX) return -1;
  size_t label = 0;
  for (size_t i = 0; i < n; i++) {
    char c = in[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c == '.') {
      if (!label) return -1;
      label = 0;
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
      if (++label > 63) return -1;
    } else {
      return -1;
    }
    out[i] = c;
  }
  if (!label) return -1;
  out[n] = 0;
  return 0;
}

int sip_resolve(sip_resolver *r, const char *name, int type, sip_resolve_cb cb, void *ud,
                sip_resolve_result *now) {
  char key[SIP_DNS_NAME_MAX + 1];
  memset(now, 0, sizeof *now);
  now->status = SIP_RES_FAIL;
  if (r->closing) return now->err = "resolver closed", -1;
  if (type != SIP_DNS_A && type != SIP_DNS_AAAA && type != SIP_DNS_SRV && type != SIP_DNS_NAPTR)
    return now->err = "unsupported record type", -1;
  if (lower_name(name, key)) return now->err = "not a DNS name", -1;
  uint32_t h = hash_name(key, type);
  entry *e = r->tab[h & (r->tabsize - 1)];
  while (e && !(e->hash == h && e->type == type && !strcmp(e->name, key))) e = e->hnext;
  if (e && !e->pending && e->expires > ev_now(r->loop)) {
    r->st.hits++;
    if (r->lru_head != e) lru_front(r, e);
    fill(e, now);
    return 1;
  }
  if (!cb) return 0; /* only a look at the cache */
  waiter *w = malloc(sizeof *w);
  if (!w) return now->err = "out of memory", -1;
  w->cb = cb;
  w->ud = ud;
  r->st.misses++;
  if (e && e->pending) { /* one query serves every lookup of the name while it runs */
    w->next = e->waiters;
    e->waiters = w;
    return 0;
  }
  if (!e) {
    size_t n = strlen(key) + 1;
    if (!(e = calloc(1, sizeof *e + n))) {
      free(w);
      return now->err = "out of memory", -1;
    }
    memcpy(e->name, key, n);
    e->r = r;
    e->hash = h;
    e->type = type;
    e->hnext = r->tab[h & (r->tabsize - 1)];
    r->tab[h & (r->tabsize - 1)] = e;
    r->nentries++;
  }
  lru_unlink(r, e);
  e->pending = 1;
  w->next = NULL;
  e->waiters = w;
  r->ninflight++;
  r->st.queries++;
  ares_query(r->ch, key, 1 /* C_IN */, type, query_cb, e); /* may answer at once (an error) */
  reschedule(r);
  evict(r);
  return 0;
}

sip_resolver *sip_resolver_new(struct ev_loop *loop, const sip_resolver_config *cfg,
                               const char **err) {
  const char *dummy;
  if (!err) err = &dummy;
  if (!lib_ready) {
    if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
      return *err = "cannot initialise c-ares", NULL;
    lib_ready = 1;
  }
  sip_resolver *r = calloc(1, sizeof *r);
  if (!r) return *err = "out of memory", NULL;
  r->loop = loop;
  if (cfg) r->cfg = *cfg;
  sip_resolver_config *c = &r->cfg;
  if (c->timeout <= 0) c->timeout = 2;
  if (c->tries <= 0) c->tries = 2;
  if (!c->max_entries) c->max_entries = 4096;
  if (!c->max_ttl) c->max_ttl = 86400;
  if (!c->neg_ttl) c->neg_ttl = 300;
  if (!c->fail_ttl) c->fail_ttl = 5;
  c->servers = NULL; /* not kept */
  r->tabsize = 64;
  while (r->tabsize < c->max_entries && r->tabsize < (1u << 20)) r->tabsize <<= 1;
  if (!(r->tab = calloc(r->tabsize, sizeof *r->tab))) {
    free(r);
    return *err = "out of memory", NULL;
  }
  struct ares_options o;
  memset(&o, 0, sizeof o);
  o.sock_state_cb = sock_state_cb;
  o.sock_state_cb_data = r;
  o.timeout = (int)(c->timeout * 1000);
  if (o.timeout < 1) o.timeout = 1;
  o.tries = c->tries;
  o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
  int rc = ares_init_options(
    &r->ch, &o, ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS);
  if (rc != ARES_SUCCESS) {
    free(r->tab);
    free(r);
    return *err = ares_strerror(rc), NULL;
  }
  if (cfg && cfg->servers && *cfg->servers &&
      ares_set_servers_ports_csv(r->ch, cfg->servers) != ARES_SUCCESS) {
    ares_destroy(r->ch);
    free(r->tab);
    free(r);
    return *err = "bad name server list (host:port, comma separated)", NULL;
  }
  ev_init(&r->timer, timer_cb);
  return r;
}

void sip_resolver_free(sip_resolver *r) {
  if (!r) return;
  r->closing = 1;
  ares_destroy(r->ch); /* every query in flight ends: their waiters get SIP_RES_CLOSED */
  ev_timer_stop(r->loop, &r->timer);
  while (r->socks) {
    sock_watch *s = r->socks;
    r->socks = s->next;
    sock_stop(r, s);
    free(s);
  }
  for (unsigned i = 0; i < r->tabsize; i++)
    while (r->tab[i]) entry_free(r, r->tab[i]);
  free(r->tab);
  free(r);
}

void sip_resolver_get_stats(const sip_resolver *r, sip_resolver_stats *st) {
  *st = r->st;
  st->entries = r->nentries;
  st->inflight = r->ninflight;
}
