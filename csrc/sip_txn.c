/* sip_txn.c: the transaction layer (RFC 3261 §17, RFC 6026). One function per state per kind,
 * over one enum of inputs (received messages, TU responses, timers); a hash table for matching
 * (§17.1.3, §17.2.3) keyed with SipHash under a random key, and one binary min-heap of timers. */
#include "sip_txn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "sip_gate.h"
#include "sip_hash.h"
#include "sip_rand.h"

#define TXL_MAXHDR 256
#define NOIDX UINT32_MAX

/* Timer names double as FSM inputs. Slot 0 paces retransmissions (A, E, G, the 100 of §17.2.1),
 * slot 1 bounds the state (B, F, H, D, I, J, K, L, M) or reaps a terminated transaction. */
typedef enum txn_in {
  IN_RECV_REQ, /* a retransmitted request */
  IN_RECV_ACK,
  IN_RECV_1XX,
  IN_RECV_2XX,
  IN_RECV_FINAL, /* 300-699 */
  IN_SEND_1XX,   /* from the TU */
  IN_SEND_2XX,
  IN_SEND_FINAL,
  IN_TIMER_A,
  IN_TIMER_B,
  IN_TIMER_D,
  IN_TIMER_E,
  IN_TIMER_F,
  IN_TIMER_G,
  IN_TIMER_H,
  IN_TIMER_I,
  IN_TIMER_J,
  IN_TIMER_K,
  IN_TIMER_L,
  IN_TIMER_M,
  IN_TIMER_100,
  IN_TIMER_REAP
} txn_in;

enum { SLOT_RETX = 0, SLOT_LIFE = 1 };

typedef struct sip_timer {
  uint64_t at;
  sip_txn *t;
  uint32_t idx; /* position in the heap, NOIDX when idle */
  uint8_t name; /* txn_in */
} sip_timer;

struct sip_txn {
  sip_txl *x;
  sip_txn *hnext;
  uint64_t hash;
  sip_timer tm[2];
  void *data;
  char *aux; /* server: the last response sent; client INVITE: the ACK */
  size_t aux_len;
  uint64_t totag_req; /* RFC 2543 matching: hashes of the request's To tag and */
  uint64_t totag_rsp; /* of the one we answered with (the ACK carries it) */
  uint32_t retx;      /* current interval of timer A, E or G */
  uint32_t key_len, req_len;
  char *req; /* the request, until the final response (sip_txn_request) */
  uint8_t kind, state, reliable, hashed, rfc2543;
  sip_peer peer;
  sip_via_fix fix;
  char received[48]; /* INET6_ADDRSTRLEN */
  char block[];      /* the key */
};

struct sip_txl {
  sip_txl_handler h;
  uint32_t t1, t2, t4, td, t100;
  const sip_limits *lim;
  uint8_t hkey[16];
  sip_txn **tab;
  size_t tabmask, count;
  sip_timer **heap;
  size_t hn, hcap;
  sip_txl_stats st;
  sip_gate *gate; /* owned; NULL: none */
};

static uint64_t tag_hash(const sip_txl *x, sip_str tag) {
  return tag.p ? sip_siphash(x->hkey, tag.p, tag.n) | 1 : 0; /* 0: no tag */
}

/* ---- keys ---------------------------------------------------------------------------------------
 * Client (§17.1.3):  "C" branch 01 CSeq-method
 * Server (§17.2.3):  "S" branch 01 sent-by-host(lower) 01 port 01 method   (ACK counts as INVITE)
 * RFC 2543 requests: "R" Request-URI 01 From-tag 01 Call-ID 01 CSeq-number 01 top-Via 01 method,
 *                    the To tag checked apart (an ACK carries the tag of our response).
 * The method comes last, so the INVITE a CANCEL targets is the same key with "INVITE" (§9.2). */

typedef struct keyb {
  char *p;
  size_t n, cap;
  int oom;
  char sbuf[320];
} keyb;

static void kb_init(keyb *k) {
  k->p = k->sbuf;
  k->n = 0;
  k->cap = sizeof k->sbuf;
  k->oom = 0;
}
static void kb_free(keyb *k) {
  if (k->p != k->sbuf) free(k->p);
}

static void kb_put(keyb *k, const void *s, size_t n) {
  if (k->oom) return;
  if (k->cap - k->n < n) {
    size_t cap = k->cap * 2;
    while (cap - k->n < n) cap *= 2;
    char *p = k->p == k->sbuf ? malloc(cap) : realloc(k->p, cap);
    if (!p) {
      k->oom = 1;
      return;
    }
    if (k->p == k->sbuf) memcpy(p, k->sbuf, k->n);
    k->p = p;
    k->cap = cap;
  }
  if (n) memcpy(k->p + k->n, s, n);
  k->n += n;
}
static void kb_str(keyb *k, sip_str s) { kb_put(k, s.p, s.n); }
static void kb_c(keyb *k, char c) { kb_put(k, &c, 1); }
static void kb_u(keyb *k, unsigned long v) {
  char t[24];
  int i = sizeof t;
  do {
    t[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  kb_put(k, t + i, sizeof t - i);
}

static int has_cookie(sip_str b) { return b.p && b.n >= 7 && memcmp(b.p, "z9hG4bK", 7) == 0; }

static sip_str method_of_request(const sip_msg *m) {
  return m->method_id == SIP_M_ACK ? SIP_STR_LIT("INVITE") : m->method;
}

/* Returns 1 when the request uses RFC 2543 matching. */
static int server_key(keyb *k, const sip_msg *m) {
  if (has_cookie(m->via.branch)) {
    kb_c(k, 'S');
    kb_str(k, m->via.branch);
    kb_c(k, 1);
    for (size_t i = 0; i < m->via.host.n; i++)
      kb_c(k, (char)sip_lower((unsigned char)m->via.host.p[i]));
    kb_c(k, 1);
    kb_u(k, (unsigned long)m->via.port);
    kb_c(k, 1);
    kb_str(k, method_of_request(m));
    return 0;
  }
  kb_c(k, 'R');
  kb_str(k, m->ruri);
  kb_c(k, 1);
  if (m->from.tag.p) {
    kb_c(k, '=');
    kb_str(k, m->from.tag);
  }
  kb_c(k, 1);
  kb_str(k, m->call_id);
  kb_c(k, 1);
  kb_u(k, m->cseq);
  kb_c(k, 1);
  if (m->count[SIP_H_VIA]) kb_str(k, m->hdr[m->first[SIP_H_VIA]].value);
  kb_c(k, 1);
  kb_str(k, method_of_request(m));
  return 1;
}

static void client_key(keyb *k, sip_str branch, sip_str method) {
  kb_c(k, 'C');
  kb_str(k, branch);
  kb_c(k, 1);
  kb_str(k, method);
}

/* ---- hash table ---- */

static sip_txn *lookup(sip_txl *x, const char *key, size_t n, uint64_t h, int tagcheck,
                       uint64_t tagh, int is_ack) {
  for (sip_txn *t = x->tab[h & x->tabmask]; t; t = t->hnext) {
    if (t->hash != h || t->key_len != n || memcmp(t->block, key, n) != 0) continue;
    if (tagcheck && t->rfc2543 &&
        !(tagh == t->totag_req || (is_ack && t->totag_rsp && tagh == t->totag_rsp)))
      continue;
    return t;
  }
  return NULL;
}

static void hash_insert(sip_txl *x, sip_txn *t) {
  if (x->count + 1 > x->tabmask + 1) {
    size_t nsz = (x->tabmask + 1) * 2;
    sip_txn **nt = calloc(nsz, sizeof *nt);
    if (nt) {
      for (size_t i = 0; i <= x->tabmask; i++)
        for (sip_txn *c = x->tab[i], *nx; c; c = nx) {
          nx = c->hnext;
          c->hnext = nt[c->hash & (nsz - 1)];
          nt[c->hash & (nsz - 1)] = c;
        }
      free(x->tab);
      x->tab = nt;
      x->tabmask = nsz - 1;
    } /* else keep the old table: longer chains, still correct */
  }
  sip_txn **b = &x->tab[t->hash & x->tabmask];
  t->hnext = *b;
  *b = t;
  t->hashed = 1;
  x->count++;
}

static void hash_remove(sip_txl *x, sip_txn *t) {
  if (!t->hashed) return;
  for (sip_txn **p = &x->tab[t->hash & x->tabmask]; *p; p = &(*p)->hnext)
    if (*p == t) {
      *p = t->hnext;
      break;
    }
  t->hashed = 0;
  t->hnext = NULL;
  x->count--;
}

/* ---- timer heap ---- */

static void heap_place(sip_txl *x, size_t i, sip_timer *tm) {
  x->heap[i] = tm;
  tm->idx = (uint32_t)i;
}

static void heap_up(sip_txl *x, size_t i) {
  sip_timer *tm = x->heap[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (x->heap[p]->at <= tm->at) break;
    heap_place(x, i, x->heap[p]);
    i = p;
  }
  heap_place(x, i, tm);
}

static void heap_down(sip_txl *x, size_t i) {
  sip_timer *tm = x->heap[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= x->hn) break;
    if (c + 1 < x->hn && x->heap[c + 1]->at < x->heap[c]->at) c++;
    if (x->heap[c]->at >= tm->at) break;
    heap_place(x, i, x->heap[c]);
    i = c;
  }
  heap_place(x, i, tm);
}

static void timer_stop(sip_txn *t, int slot) {
  sip_txl *x = t->x;
  sip_timer *tm = &t->tm[slot];
  if (tm->idx == NOIDX) return;
  size_t i = tm->idx;
  tm->idx = NOIDX;
  x->hn--;
  if (i == x->hn) return;
  heap_place(x, i, x->heap[x->hn]);
  if (i > 0 && x->heap[(i - 1) / 2]->at > x->heap[i]->at) heap_up(x, i);
  else heap_down(x, i);
}

/* The heap only grows in txn_alloc (two slots per transaction are reserved there), so arming a
 * timer never fails. */
static void timer_set(sip_txn *t, int slot, txn_in name, uint64_t at) {
  sip_txl *x = t->x;
  sip_timer *tm = &t->tm[slot];
  timer_stop(t, slot);
  tm->at = at;
  tm->name = (uint8_t)name;
  heap_place(x, x->hn++, tm);
  heap_up(x, tm->idx);
}

static int heap_reserve(sip_txl *x, size_t need) {
  if (x->hcap >= need) return 0;
  size_t cap = x->hcap ? x->hcap * 2 : 64;
  while (cap < need) cap *= 2;
  sip_timer **h = realloc(x->heap, cap * sizeof *h);
  if (!h) return -1;
  x->heap = h;
  x->hcap = cap;
  return 0;
}

/* ---- transactions ---- */

static sip_txn *txn_alloc(sip_txl *x, sip_txn_kind kind, const char *key, size_t klen,
                          const char *req, size_t rlen) {
  if (heap_reserve(x, 2 * (x->st.live_total + 1))) return NULL;
  sip_txn *t = malloc(sizeof *t + klen);
  if (!t) return NULL;
  memset(t, 0, sizeof *t);
  t->req = malloc(rlen ? rlen : 1);
  if (!t->req) {
    free(t);
    return NULL;
  }
  t->x = x;
  t->kind = (uint8_t)kind;
  t->tm[0].t = t->tm[1].t = t;
  t->tm[0].idx = t->tm[1].idx = NOIDX;
  t->key_len = (uint32_t)klen;
  t->req_len = (uint32_t)rlen;
  memcpy(t->block, key, klen);
  memcpy(t->req, req, rlen);
  t->hash = sip_siphash(x->hkey, key, klen);
  x->st.live[kind]++;
  x->st.live_total++;
  x->st.created++;
  return t;
}

static void txn_free(sip_txn *t) {
  sip_txl *x = t->x;
  timer_stop(t, 0);
  timer_stop(t, 1);
  hash_remove(x, t);
  x->st.live[t->kind]--;
  x->st.live_total--;
  free(t->aux);
  free(t->req);
  free(t);
}

static const char *txn_req(const sip_txn *t) { return t->req; }

/* The final response is sent or received: nothing resends, parses or cancels the request any
 * more (a server INVITE's 2xx keeps it: the TU may respond again in Accepted). Under load most
 * transactions are in this state, for Timer J, K, D, H or M (up to 32 s over UDP): their
 * requests, several hundred bytes each, go now. */
static void req_drop(sip_txn *t) {
  free(t->req);
  t->req = NULL;
  t->req_len = 0;
}

static int parse_flags(const sip_peer *p) {
  return sip_proto_whole_messages(p->proto) ? SIP_PARSE_DGRAM : SIP_PARSE_STREAM;
}

/* Terminated: out of the table at once (a new request with the same key starts a new
 * transaction), freed by the reap timer so that no caller's pointer dies under it. */
static void txn_terminate(sip_txn *t, uint64_t now) {
  if (t->state == SIP_TXN_TERMINATED) return;
  t->state = SIP_TXN_TERMINATED;
  hash_remove(t->x, t);
  timer_stop(t, SLOT_RETX);
  timer_set(t, SLOT_LIFE, IN_TIMER_REAP, now);
}

static void txn_fail(sip_txn *t, int code, const char *what, uint64_t now) {
  sip_txl *x = t->x;
  if (t->state == SIP_TXN_TERMINATED) return;
  txn_terminate(t, now);
  if (code == 503) x->st.transport_errors++;
  else x->st.timeouts++;
  if (x->h.on_error) x->h.on_error(x->h.ud, t, code, what);
}

static int txn_send(sip_txn *t, const char *buf, size_t len) {
  sip_txl *x = t->x;
  return x->h.send(x->h.ud, &t->peer, buf, len) == 0 ? 0 : -1;
}

/* Store what we send into aux (the last response, or the ACK). */
static int aux_set(sip_txn *t, const char *buf, size_t len) {
  if (len > t->aux_len || !t->aux) {
    char *p = realloc(t->aux, len ? len : 1);
    if (!p) return -1;
    t->aux = p;
  }
  memcpy(t->aux, buf, len);
  t->aux_len = len;
  return 0;
}

static void aux_take(sip_txn *t, sip_buf *b) {
  free(t->aux);
  t->aux = b->p;
  t->aux_len = b->n;
  b->p = NULL;
  b->n = b->cap = 0;
}

int sip_txn_parse_request(const sip_txn *t, sip_msg *m, sip_hdr *hdr, unsigned maxhdr) {
  if (!t->req) return -1;
  return sip_parse(txn_req(t), t->req_len, m, hdr, maxhdr, t->x->lim, parse_flags(&t->peer));
}

typedef struct txn_ev {
  const sip_msg *m; /* received message, or the TU's response */
  const char *buf;  /* its bytes */
  size_t len;
  const sip_peer *from; /* received messages */
  uint64_t now;
} txn_ev;

typedef int (*txn_state_fn)(sip_txn *t, txn_in in, const txn_ev *e);

static void tu_response(sip_txn *t, const txn_ev *e) {
  sip_txl *x = t->x;
  if (x->h.on_response) x->h.on_response(x->h.ud, t, e->m, e->from);
}

static void retransmit_request(sip_txn *t, uint64_t now) {
  t->x->st.retransmitted++;
  if (txn_send(t, txn_req(t), t->req_len)) txn_fail(t, 503, "transport error", now);
}

/* A retransmitted request or response answered with what we sent last (maybe nothing). */
static int resend_aux(sip_txn *t, uint64_t now) {
  if (t->aux && txn_send(t, t->aux, t->aux_len)) txn_fail(t, 503, "transport error", now);
  return SIP_RX_ABSORBED;
}

static uint64_t t64(const sip_txl *x) { return 64 * (uint64_t)x->t1; }

/* ---- client INVITE (§17.1.1, RFC 6026 §8.4) ---- */

static int ci_proceeding(sip_txn *t, txn_in in, const txn_ev *e);

static int ci_final(sip_txn *t, const txn_ev *e) {
  sip_txl *x = t->x;
  timer_stop(t, SLOT_RETX);
  if (e->m->status < 300) {
    /* RFC 6026: Accepted; the 2xx goes up, its ACK is the TU's. */
    t->state = SIP_TXN_ACCEPTED;
    timer_set(t, SLOT_LIFE, IN_TIMER_M, e->now + t64(x));
    req_drop(t);
    tu_response(t, e);
    return SIP_RX_RESPONSE;
  }
  /* §17.1.1.3: the ACK of a non-2xx is ours: same branch, sent where the INVITE went. */
  t->state = SIP_TXN_COMPLETED;
  timer_set(t, SLOT_LIFE, IN_TIMER_D, e->now + (t->reliable ? 0 : x->td));
  sip_msg inv;
  sip_hdr hdr[TXL_MAXHDR];
  sip_buf b = SIP_BUF_INIT;
  int sent = -1;
  if (sip_txn_parse_request(t, &inv, hdr, TXL_MAXHDR) == 0 && sip_build_ack(&b, &inv, e->m) == 0 &&
      !b.oom) {
    aux_take(t, &b);
    sent = txn_send(t, t->aux, t->aux_len);
  }
  sip_buf_free(&b);
  req_drop(t);
  tu_response(t, e);
  if (sent) txn_fail(t, 503, "transport error sending ACK", e->now);
  return SIP_RX_RESPONSE;
}

static int ci_calling(sip_txn *t, txn_in in, const txn_ev *e) {
  switch (in) {
  case IN_TIMER_A: /* §17.1.1.2: the interval doubles, without the T2 cap of timer E */
    t->retx *= 2;
    timer_set(t, SLOT_RETX, IN_TIMER_A, e->now + t->retx);
    retransmit_request(t, e->now);
    return 0;
  case IN_TIMER_B: txn_fail(t, 408, "Request Timeout (Timer B)", e->now); return 0;
  case IN_RECV_1XX:
    /* Timer B only runs in Calling: past it, Timer C of a proxy or the TU decides */
    t->state = SIP_TXN_PROCEEDING;
    timer_stop(t, SLOT_RETX);
    timer_stop(t, SLOT_LIFE);
    tu_response(t, e);
    return SIP_RX_RESPONSE;
  default: return ci_proceeding(t, in, e);
  }
}

static int ci_proceeding(sip_txn *t, txn_in in, const txn_ev *e) {
  switch (in) {
  case IN_RECV_1XX: tu_response(t, e); return SIP_RX_RESPONSE;
  case IN_RECV_2XX:
  case IN_RECV_FINAL: return ci_final(t, e);
  default: return SIP_RX_ABSORBED;
  }
}

static int ci_completed(sip_txn *t, txn_in in, const txn_ev *e) {
  switch (in) {
  case IN_RECV_FINAL: return resend_aux(t, e->now); /* the final again: our ACK again */
  case IN_TIMER_D: txn_terminate(t, e->now); return 0;
  default: return SIP_RX_ABSORBED;
  }
}

static int ci_accepted(sip_txn *t, txn_in in, const txn_ev *e) {
  switch (in) {
  case IN_RECV_2XX: tu_response(t, e); return SIP_RX_RESPONSE; /* the TU ACKs each one */
  case IN_TIMER_M: txn_terminate(t, e->now); return 0;
  default: return SIP_RX_ABSORBED;
  }
}

/* ---- client non-INVITE (§17.1.2) ---- */

static int cn_final(sip_txn *t, const txn_ev *e) {
  t->state = SIP_TXN_COMPLETED;
  timer_stop(t, SLOT_RETX);
  req_drop(t);
  timer_set(t, SLOT_LIFE, IN_TIMER_K, e->now + (t->reliable ? 0 : t->x->t4));
  tu_response(t, e);
  return SIP_RX_RESPONSE;
}

static int cn_trying(sip_txn *t, txn_in in, const txn_ev *e) {
  sip_txl *x = t->x;
  switch (in) {
  case IN_TIMER_E: /* §17.1.2.2: min(2*E, T2) in Trying, T2 in Proceeding */
    t->retx = t->state == SIP_TXN_TRYING ? (2 * t->retx < x->t2 ? 2 * t->retx : x->t2) : x->t2;
    timer_set(t, SLOT_RETX, IN_TIMER_E, e->now + t->retx);
    retransmit_request(t, e->now);
    return 0;
  case IN_TIMER_F: txn_fail(t, 408, "Request Timeout (Timer F)", e->now); return 0;
  case IN_RECV_1XX:
    t->state = SIP_TXN_PROCEEDING;
    tu_response(t, e);
    return SIP_RX_RESPONSE;
  case IN_RECV_2XX:
  case IN_RECV_FINAL: return cn_final(t, e);
  default: return SIP_RX_ABSORBED;
  }
}

static int cn_proceeding(sip_txn *t, txn_in in, const txn_ev *e) {
  return cn_trying(t, in, e); /* same moves; timer E reads the state */
}

static int cn_completed(sip_txn *t, txn_in in, const txn_ev *e) {
  if (in == IN_TIMER_K) txn_terminate(t, e->now);
  return SIP_RX_ABSORBED;
}

/* ---- server side ---- */

/* Store and send the TU's response. */
static int srv_send(sip_txn *t, const txn_ev *e) {
  if (aux_set(t, e->buf, e->len)) return SIP_TXN_ENOMEM;
  if (txn_send(t, t->aux, t->aux_len)) {
    t->x->st.transport_errors++;
    txn_terminate(t, e->now); /* the TU learns it from the return value */
    return SIP_TXN_ETRANSPORT;
  }
  return SIP_TXN_OK;
}

/* §17.2.1: a 100 Trying (no To tag added) when the TU stays silent, to quench retransmissions. */
static void send_100(sip_txn *t, uint64_t now) {
  sip_msg req;
  sip_hdr hdr[TXL_MAXHDR];
  sip_buf b = SIP_BUF_INIT;
  timer_stop(t, SLOT_RETX);
  if (sip_txn_parse_request(t, &req, hdr, TXL_MAXHDR) == 0 &&
      sip_build_response(&b, &req, 100, NULL, NULL, &t->fix, NULL, NULL, NULL, 0) == 0 && !b.oom) {
    aux_take(t, &b);
    if (txn_send(t, t->aux, t->aux_len)) txn_fail(t, 503, "transport error", now);
  }
  sip_buf_free(&b);
}

/* ---- server INVITE (§17.2.1, RFC 6026 §8.5-8.7) ---- */

static int si_proceeding(sip_txn *t, txn_in in, const txn_ev *e) {
  sip_txl *x = t->x;
  int rc;
  switch (in) {
  case IN_RECV_REQ: /* the latest provisional again, or our 100 now */
    if (!t->aux) {
      send_100(t, e->now);
      return SIP_RX_ABSORBED;
    }
    return resend_aux(t, e->now);
  case IN_TIMER_100:
    if (!t->aux) send_100(t, e->now);
    return 0;
  case IN_SEND_1XX: timer_stop(t, SLOT_RETX); return srv_send(t, e);
  case IN_SEND_2XX:
    if ((rc = srv_send(t, e)) != SIP_TXN_OK) return rc;
    timer_stop(t, SLOT_RETX);
    t->state = SIP_TXN_ACCEPTED;
    timer_set(t, SLOT_LIFE, IN_TIMER_L, e->now + t64(x));
    return rc;
  case IN_SEND_FINAL:
    if ((rc = srv_send(t, e)) != SIP_TXN_OK) return rc;
    t->state = SIP_TXN_COMPLETED;
    req_drop(t);
    timer_stop(t, SLOT_RETX);
    if (!t->reliable) {
      t->retx = x->t1;
      timer_set(t, SLOT_RETX, IN_TIMER_G, e->now + t->retx);
    }
    timer_set(t, SLOT_LIFE, IN_TIMER_H, e->now + t64(x));
    return rc;
  default: /* an ACK before any final: nothing to acknowledge */
    return in < IN_SEND_1XX ? SIP_RX_ABSORBED : SIP_TXN_EREFUSED;
  }
}

static int si_completed(sip_txn *t, txn_in in, const txn_ev *e) {
  sip_txl *x = t->x;
  switch (in) {
  case IN_RECV_REQ: return resend_aux(t, e->now);
  case IN_RECV_ACK:
    t->state = SIP_TXN_CONFIRMED;
    timer_stop(t, SLOT_RETX);
    timer_set(t, SLOT_LIFE, IN_TIMER_I, e->now + (t->reliable ? 0 : x->t4));
    return SIP_RX_ABSORBED;
  case IN_TIMER_G:
    t->retx = 2 * t->retx < x->t2 ? 2 * t->retx : x->t2;
    timer_set(t, SLOT_RETX, IN_TIMER_G, e->now + t->retx);
    x->st.retransmitted++;
    resend_aux(t, e->now);
    return 0;
  case IN_TIMER_H: txn_fail(t, 408, "no ACK for the final response (Timer H)", e->now); return 0;
  default: return in < IN_SEND_1XX ? SIP_RX_ABSORBED : SIP_TXN_EREFUSED;
  }
}

static int si_confirmed(sip_txn *t, txn_in in, const txn_ev *e) {
  if (in == IN_TIMER_I) txn_terminate(t, e->now);
  return in < IN_SEND_1XX ? SIP_RX_ABSORBED : SIP_TXN_EREFUSED;
}

static int si_accepted(sip_txn *t, txn_in in, const txn_ev *e) {
  sip_txl *x = t->x;
  switch (in) {
  case IN_RECV_REQ: return SIP_RX_ABSORBED; /* RFC 6026 §8.7: not to the TU, not answered */
  case IN_RECV_ACK:
    if (x->h.on_request) x->h.on_request(x->h.ud, NULL, e->m, e->from);
    return SIP_RX_ACK;
  case IN_SEND_2XX: return srv_send(t, e); /* the TU's own 2xx retransmissions (§13.3.1.4) */
  case IN_TIMER_L: txn_terminate(t, e->now); return 0;
  default: return in < IN_SEND_1XX ? SIP_RX_ABSORBED : SIP_TXN_EREFUSED;
  }
}

/* ---- server non-INVITE (§17.2.2) ---- */

static int sn_trying(sip_txn *t, txn_in in, const txn_ev *e) {
  sip_txl *x = t->x;
  int rc;
  switch (in) {
  case IN_RECV_REQ: /* Trying: nothing to resend yet; Proceeding: the last provisional */
    return t->state == SIP_TXN_TRYING ? SIP_RX_ABSORBED : resend_aux(t, e->now);
  case IN_SEND_1XX:
    if ((rc = srv_send(t, e)) == SIP_TXN_OK) t->state = SIP_TXN_PROCEEDING;
    return rc;
  case IN_SEND_2XX:
  case IN_SEND_FINAL:
    if ((rc = srv_send(t, e)) != SIP_TXN_OK) return rc;
    t->state = SIP_TXN_COMPLETED;
    req_drop(t);
    timer_set(t, SLOT_LIFE, IN_TIMER_J, e->now + (t->reliable ? 0 : t64(x)));
    return rc;
  default: return in < IN_SEND_1XX ? SIP_RX_ABSORBED : SIP_TXN_EREFUSED;
  }
}

static int sn_proceeding(sip_txn *t, txn_in in, const txn_ev *e) { return sn_trying(t, in, e); }

static int sn_completed(sip_txn *t, txn_in in, const txn_ev *e) {
  switch (in) {
  case IN_RECV_REQ: return resend_aux(t, e->now);
  case IN_TIMER_J: txn_terminate(t, e->now); return 0;
  default: return in < IN_SEND_1XX ? SIP_RX_ABSORBED : SIP_TXN_EREFUSED;
  }
}

static int st_terminated(sip_txn *t, txn_in in, const txn_ev *e) {
  return in < IN_SEND_1XX ? SIP_RX_ABSORBED : SIP_TXN_EREFUSED;
}

/* [kind][state]; NULL where a kind never is in that state. */
static const txn_state_fn fsm[SIP_TXN__KINDS][SIP_TXN_TERMINATED + 1] = {
  [SIP_TXN_CLIENT_INVITE] = {[SIP_TXN_CALLING] = ci_calling,
                             [SIP_TXN_PROCEEDING] = ci_proceeding,
                             [SIP_TXN_COMPLETED] = ci_completed,
                             [SIP_TXN_ACCEPTED] = ci_accepted,
                             [SIP_TXN_TERMINATED] = st_terminated},
  [SIP_TXN_CLIENT_NONINVITE] = {[SIP_TXN_TRYING] = cn_trying,
                                [SIP_TXN_PROCEEDING] = cn_proceeding,
                                [SIP_TXN_COMPLETED] = cn_completed,
                                [SIP_TXN_TERMINATED] = st_terminated},
  [SIP_TXN_SERVER_INVITE] = {[SIP_TXN_PROCEEDING] = si_proceeding,
                             [SIP_TXN_COMPLETED] = si_completed,
                             [SIP_TXN_CONFIRMED] = si_confirmed,
                             [SIP_TXN_ACCEPTED] = si_accepted,
                             [SIP_TXN_TERMINATED] = st_terminated},
  [SIP_TXN_SERVER_NONINVITE] = {[SIP_TXN_TRYING] = sn_trying,
                                [SIP_TXN_PROCEEDING] = sn_proceeding,
                                [SIP_TXN_COMPLETED] = sn_completed,
                                [SIP_TXN_TERMINATED] = st_terminated},
};

static int dispatch(sip_txn *t, txn_in in, const txn_ev *e) {
  txn_state_fn f = fsm[t->kind][t->state];
  return f ? f(t, in, e) : (in < IN_SEND_1XX ? SIP_RX_ABSORBED : SIP_TXN_EREFUSED);
}

/* ---- the layer ---- */

sip_txl *sip_txl_new(const sip_txl_config *cfg, const sip_txl_handler *h) {
  if (!h || !h->send) return NULL;
  sip_txl *x = calloc(1, sizeof *x);
  if (!x) return NULL;
  x->h = *h;
  x->t1 = cfg && cfg->t1 ? cfg->t1 : 500;
  x->t2 = cfg && cfg->t2 ? cfg->t2 : 4000;
  x->t4 = cfg && cfg->t4 ? cfg->t4 : 5000;
  x->td = cfg && cfg->timer_d ? cfg->timer_d : 32000;
  x->t100 = cfg && cfg->trying_delay ? cfg->trying_delay : 200;
  x->lim = cfg && cfg->limits ? cfg->limits : &sip_default_limits;
  x->tabmask = 63;
  x->tab = calloc(x->tabmask + 1, sizeof *x->tab);
  if (!x->tab || sip_rand_bytes(x->hkey, sizeof x->hkey) != 0) {
    free(x->tab);
    free(x);
    return NULL;
  }
  return x;
}

void sip_txl_free(sip_txl *x) {
  if (!x) return;
  /* terminated transactions are out of the table, waiting for their reap timer (their only one) */
  for (size_t i = 0; i < x->hn; i++) {
    sip_txn *t = x->heap[i]->t;
    if (!t->hashed) {
      free(t->aux);
      free(t->req);
      free(t);
    }
  }
  for (size_t i = 0; i <= x->tabmask; i++)
    for (sip_txn *t = x->tab[i], *nx; t; t = nx) {
      nx = t->hnext;
      free(t->aux);
      free(t->req);
      free(t);
    }
  free(x->tab);
  free(x->heap);
  sip_gate_free(x->gate);
  free(x);
}

void sip_txl_set_gate(sip_txl *x, sip_gate *g) {
  sip_gate_free(x->gate);
  x->gate = g;
}

void sip_txl_get_stats(const sip_txl *x, sip_txl_stats *st) { *st = x->st; }

uint64_t sip_txl_next_deadline(const sip_txl *x) { return x->hn ? x->heap[0]->at : UINT64_MAX; }

void sip_txl_advance(sip_txl *x, uint64_t now) {
  while (x->hn && x->heap[0]->at <= now) {
    sip_timer *tm = x->heap[0];
    sip_txn *t = tm->t;
    txn_in name = (txn_in)tm->name;
    timer_stop(t, tm == &t->tm[0] ? 0 : 1);
    if (name == IN_TIMER_REAP) {
      if (x->h.on_terminated) x->h.on_terminated(x->h.ud, t);
      txn_free(t);
      continue;
    }
    txn_ev e = {NULL, NULL, 0, NULL, now};
    dispatch(t, name, &e);
  }
}

/* §18.2.2, RFC 3581 §4: to the source address; to the source port when the client asked with
 * rport, else to the sent-by port (its transport's default). Streams stay on the same connection. */
static void response_dest(sip_peer *out, const sip_msg *m, const sip_peer *from) {
  *out = *from;
  if (m->via.rport >= 0) return;
  int port = m->via.port ? m->via.port : sip_proto_default_port(from->proto);
  if (out->addr.ss_family == AF_INET)
    ((struct sockaddr_in *)&out->addr)->sin_port = htons((uint16_t)port);
  else if (out->addr.ss_family == AF_INET6)
    ((struct sockaddr_in6 *)&out->addr)->sin6_port = htons((uint16_t)port);
}

static int peer_ip(const sip_peer *p, char *out, size_t cap, int *port) {
  return sip_tp_addr_str(&p->addr, out, cap, port);
}

void sip_via_fix_for(const sip_via *v, const sip_peer *from, char ip[48], sip_via_fix *fix) {
  int port;
  if (peer_ip(from, ip, 48, &port)) return;
  sip_str host = v->host;
  if (host.n >= 2 && host.p[0] == '[') {
    host.p++;
    host.n -= 2;
  }
  if (v->rport == 0 || !sip_str_ieq(host, ip)) fix->received = ip;
  if (v->rport == 0) fix->rport = port;
}

static void fix_of(const sip_msg *m, const sip_peer *from, char ip[48], sip_via_fix *fix) {
  sip_via_fix_for(&m->via, from, ip, fix);
}

/* A request the gate answers (sip_gate.h): no transaction; the answer goes where the TU's
 * would (response_dest), with the same received and rport. 1 when answered. */
static int gated(sip_txl *x, const sip_msg *m, const sip_peer *from, uint64_t now) {
  char ip[48];
  sip_via_fix fix = {NULL, 0};
  fix_of(m, from, ip, &fix);
  sip_buf b = SIP_BUF_INIT;
  int rc = sip_gate_answer(x->gate, m, &fix, now / 1000, &b);
  if (rc == 1) {
    sip_peer to;
    response_dest(&to, m, from);
    x->h.send(x->h.ud, &to, b.p, b.n);
    x->st.gated++;
  }
  sip_buf_free(&b);
  return rc == 1;
}

static int all_crlf(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != '\r' && p[i] != '\n') return 0;
  return 1;
}

/* A request we will not process: answered statelessly with the status the parser asked for and a
 * reason naming the problem ("400 Missing Call-ID header"), when there is a Via to answer along;
 * never an ACK (§17). idx is the message whose header index the response is built from. */
static sip_txl_rx bad_request(sip_txl *x, const sip_msg *idx, const sip_peer *from, int status,
                              const char *what) {
  x->st.bad_requests++;
  if (status < 300 || status > 699 || idx->count[SIP_H_VIA] == 0) return SIP_RX_BAD;
  char reason[128];
  const char *rp = NULL;
  if (status == 400 && what && *what) {
    size_t n = 0;
    for (; n < sizeof reason - 1 && what[n]; n++) {
      unsigned char c = (unsigned char)what[n];
      reason[n] = (char)(c < 0x20 || c == 0x7f ? ' ' : c);
    }
    reason[n] = 0;
    if (reason[0] >= 'a' && reason[0] <= 'z') reason[0] = (char)(reason[0] - 32);
    rp = reason;
  }
  char tag[SIP_TAG_LEN + 1];
  sip_buf b = SIP_BUF_INIT;
  if (sip_build_response(&b, idx, status, rp, sip_stateless_tag(idx, tag) == 0 ? tag : NULL, NULL,
                         NULL, NULL, NULL, 0) == 0 &&
      !b.oom)
    x->h.send(x->h.ud, from, b.p, b.n);
  sip_buf_free(&b);
  return SIP_RX_BAD;
}

/* sip_parse stops at a bad request line (505 for another SIP version, a bad Request-URI) before
 * indexing the headers; they may still be fine, so index them under a stand-in request line
 * to answer with the original error. */
static sip_txl_rx bad_request_line(sip_txl *x, const sip_msg *m, size_t len, const sip_peer *from) {
  static const char stand_in[] = "OPTIONS sip:invalid SIP/2.0";
  const char *p = m->buf, *end = m->buf + len;
  const char *le = NULL;
  for (const char *q = p; q + 1 < end; q++)
    if (q[0] == '\r' && q[1] == '\n') {
      le = q;
      break;
    }
  if (!le) {
    x->st.bad_requests++;
    return SIP_RX_BAD;
  }
  size_t rest = (size_t)(end - le), n = sizeof stand_in - 1 + rest;
  char *copy = malloc(n);
  if (!copy) {
    x->st.bad_requests++;
    return SIP_RX_NOMEM;
  }
  memcpy(copy, stand_in, sizeof stand_in - 1);
  memcpy(copy + sizeof stand_in - 1, le, rest);
  sip_msg m2;
  sip_hdr hdr[TXL_MAXHDR];
  memset(&m2, 0, sizeof m2);
  sip_parse(copy, n, &m2, hdr, TXL_MAXHDR, x->lim, parse_flags(from));
  sip_txl_rx rc = bad_request(x, &m2, from, m->err.status, m->err.what);
  free(copy);
  return rc;
}

static sip_txl_rx rx_request(sip_txl *x, const sip_msg *m, const sip_peer *from, uint64_t now) {
  keyb k;
  kb_init(&k);
  int is2543 = server_key(&k, m);
  if (k.oom) {
    kb_free(&k);
    return SIP_RX_NOMEM;
  }
  int is_ack = m->method_id == SIP_M_ACK;
  uint64_t h = sip_siphash(x->hkey, k.p, k.n);
  uint64_t tagh = is2543 ? tag_hash(x, m->to.tag) : 0;
  sip_txn *t = lookup(x, k.p, k.n, h, 1, tagh, is_ack);
  sip_txl_rx rc;
  if (t) {
    txn_ev e = {m, m->buf, m->len, from, now};
    rc = (sip_txl_rx)dispatch(t, is_ack ? IN_RECV_ACK : IN_RECV_REQ, &e);
    if (rc == SIP_RX_ABSORBED) x->st.absorbed++;
  } else if (is_ack) { /* the ACK of a 2xx is a transaction of its own, without a response */
    if (x->h.on_request) x->h.on_request(x->h.ud, NULL, m, from);
    rc = SIP_RX_ACK;
  } else if (x->gate && gated(x, m, from, now)) {
    rc = SIP_RX_GATED;
  } else {
    int inv = m->method_id == SIP_M_INVITE;
    t = txn_alloc(x, inv ? SIP_TXN_SERVER_INVITE : SIP_TXN_SERVER_NONINVITE, k.p, k.n, m->buf,
                  m->len);
    if (!t) {
      kb_free(&k);
      return SIP_RX_NOMEM;
    }
    t->rfc2543 = (uint8_t)is2543;
    t->totag_req = tagh;
    t->reliable = from->proto != SIP_PROTO_UDP;
    response_dest(&t->peer, m, from);
    fix_of(m, from, t->received, &t->fix);
    hash_insert(x, t);
    if (inv) {
      t->state = SIP_TXN_PROCEEDING;
      timer_set(t, SLOT_RETX, IN_TIMER_100, now + x->t100);
    } else {
      t->state = SIP_TXN_TRYING;
    }
    if (x->h.on_request) x->h.on_request(x->h.ud, t, m, from);
    rc = SIP_RX_REQUEST;
  }
  kb_free(&k);
  return rc;
}

static sip_txl_rx rx_response(sip_txl *x, const sip_msg *m, const sip_peer *from, uint64_t now) {
  sip_txn *t = NULL;
  if (m->via.branch.p) {
    keyb k;
    kb_init(&k);
    client_key(&k, m->via.branch, m->cseq_method);
    if (k.oom) {
      kb_free(&k);
      return SIP_RX_NOMEM;
    }
    t = lookup(x, k.p, k.n, sip_siphash(x->hkey, k.p, k.n), 0, 0, 0);
    kb_free(&k);
  }
  if (!t) {
    x->st.stray++;
    if (x->h.on_stray_response) x->h.on_stray_response(x->h.ud, m, from);
    return SIP_RX_STRAY;
  }
  txn_ev e = {m, m->buf, m->len, from, now};
  txn_in in = m->status < 200 ? IN_RECV_1XX : m->status < 300 ? IN_RECV_2XX : IN_RECV_FINAL;
  sip_txl_rx rc = (sip_txl_rx)dispatch(t, in, &e);
  if (rc == SIP_RX_ABSORBED) x->st.absorbed++;
  return rc;
}

sip_txl_rx sip_txl_receive(sip_txl *x, const char *buf, size_t len, const sip_peer *from,
                           uint64_t now) {
  if (all_crlf(buf, len)) return SIP_RX_IGNORED; /* keepalives (RFC 5626 §3.5.1) */
  sip_msg m;
  sip_hdr hdr[TXL_MAXHDR];
  memset(&m, 0, sizeof m);
  if (sip_parse(buf, len, &m, hdr, TXL_MAXHDR, x->lim, parse_flags(from)) != 0) {
    if (!m.is_request) {
      x->st.bad_responses++; /* a response we cannot read is dropped (§18.1.2) */
      return SIP_RX_BAD;
    }
    if (m.method_id == SIP_M_ACK) {
      x->st.bad_requests++;
      return SIP_RX_BAD;
    } /* never answered */
    if (m.nhdr == 0 && m.buf) return bad_request_line(x, &m, len - (size_t)(m.buf - buf), from);
    return bad_request(x, &m, from, m.err.status, m.err.what);
  }
  if (!m.is_request) return rx_response(x, &m, from, now);
  sip_error e;
  if (sip_msg_check_request(&m, &e) != 0) {
    if (m.method_id == SIP_M_ACK) {
      x->st.bad_requests++;
      return SIP_RX_BAD;
    }
    return bad_request(x, &m, from, e.status ? e.status : 400, e.what);
  }
  if (!sip_str_eq(m.cseq_method, m.method)) /* RFC 4475 §3.1.2.16 */
    return bad_request(x, &m, from, 400, "CSeq method does not match the request method");
  return rx_request(x, &m, from, now);
}

/* ---- the TU's side ---- */

sip_txn *sip_txl_request(sip_txl *x, const char *buf, size_t len, const sip_peer *to, void *tu_data,
                         uint64_t now, const char **err) {
  const char *dummy;
  if (!err) err = &dummy;
  sip_msg m;
  sip_hdr hdr[TXL_MAXHDR];
  memset(&m, 0, sizeof m);
  if (sip_parse(buf, len, &m, hdr, TXL_MAXHDR, x->lim, parse_flags(to)) != 0) {
    *err = m.err.what ? m.err.what : "malformed request";
    return NULL;
  }
  if (!m.is_request) {
    *err = "not a request";
    return NULL;
  }
  if (m.method_id == SIP_M_ACK) {
    *err = "an ACK has no client transaction: send it directly";
    return NULL;
  }
  if (!m.via.branch.p || !m.via.branch.n) {
    *err = "the top Via has no branch";
    return NULL;
  }
  keyb k;
  kb_init(&k);
  client_key(&k, m.via.branch, m.method);
  sip_txn *t = NULL;
  if (k.oom) {
    *err = "out of memory";
  } else if (lookup(x, k.p, k.n, sip_siphash(x->hkey, k.p, k.n), 0, 0, 0)) {
    *err = "a transaction with this branch and method exists";
  } else if (!(t = txn_alloc(
                 x, m.method_id == SIP_M_INVITE ? SIP_TXN_CLIENT_INVITE : SIP_TXN_CLIENT_NONINVITE,
                 k.p, k.n, m.buf, m.len))) {
    *err = "out of memory";
  }
  kb_free(&k);
  if (!t) return NULL;
  t->data = tu_data;
  t->peer = *to;
  t->reliable = to->proto != SIP_PROTO_UDP;
  hash_insert(x, t);
  int inv = t->kind == SIP_TXN_CLIENT_INVITE;
  t->state = inv ? SIP_TXN_CALLING : SIP_TXN_TRYING;
  if (!t->reliable) {
    t->retx = x->t1;
    timer_set(t, SLOT_RETX, inv ? IN_TIMER_A : IN_TIMER_E, now + t->retx);
  }
  timer_set(t, SLOT_LIFE, inv ? IN_TIMER_B : IN_TIMER_F, now + t64(x));
  if (txn_send(t, txn_req(t), t->req_len)) {
    x->st.transport_errors++;
    txn_free(t);
    *err = "transport error";
    return NULL;
  }
  return t;
}

int sip_txn_respond(sip_txn *t, const char *buf, size_t len, uint64_t now) {
  if (!t || t->kind < SIP_TXN_SERVER_INVITE || t->state == SIP_TXN_TERMINATED)
    return SIP_TXN_EREFUSED;
  sip_msg m;
  sip_hdr hdr[TXL_MAXHDR];
  memset(&m, 0, sizeof m);
  if (sip_parse(buf, len, &m, hdr, TXL_MAXHDR, t->x->lim, parse_flags(&t->peer)) != 0 ||
      m.is_request)
    return SIP_TXN_EINVAL;
  txn_ev e = {&m, m.buf, m.len, NULL, now};
  txn_in in = m.status < 200 ? IN_SEND_1XX : m.status < 300 ? IN_SEND_2XX : IN_SEND_FINAL;
  int rc = dispatch(t, in, &e);
  if (rc == SIP_TXN_OK && t->rfc2543 && m.to.tag.p) t->totag_rsp = tag_hash(t->x, m.to.tag);
  return rc;
}

const char *sip_txn_strerror(int rc) {
  switch (rc) {
  case SIP_TXN_OK: return "ok";
  case SIP_TXN_EREFUSED: return "not allowed in this transaction state";
  case SIP_TXN_EINVAL: return "not a well-formed response";
  case SIP_TXN_ETRANSPORT: return "transport error";
  case SIP_TXN_ENOMEM: return "out of memory";
  default: return "unknown error";
  }
}

int sip_txn_build_cancel(sip_txn *t, sip_buf *out) {
  if (t->kind > SIP_TXN_CLIENT_NONINVITE) return -1;
  sip_msg m;
  sip_hdr hdr[TXL_MAXHDR];
  if (sip_txn_parse_request(t, &m, hdr, TXL_MAXHDR) != 0) return -1;
  return sip_build_cancel(out, &m) == 0 && !out->oom ? 0 : -1;
}

sip_txn *sip_txn_cancelled_invite(sip_txn *c) {
  static const char cancel[] = "\001CANCEL";
  const size_t cn = sizeof cancel - 1;
  if (c->kind != SIP_TXN_SERVER_NONINVITE || c->key_len < cn ||
      memcmp(c->block + c->key_len - cn, cancel, cn) != 0)
    return NULL;
  keyb k;
  kb_init(&k);
  kb_put(&k, c->block, c->key_len - cn);
  kb_put(&k, "\001INVITE", 7);
  sip_txn *t = NULL;
  if (!k.oom) t = lookup(c->x, k.p, k.n, sip_siphash(c->x->hkey, k.p, k.n), 1, c->totag_req, 0);
  kb_free(&k);
  return t;
}

void sip_txn_terminate(sip_txn *t, uint64_t now) { txn_terminate(t, now); }

static int same_addr(const sip_peer *a, const sip_peer *b) {
  if (a->proto != b->proto || a->addr.ss_family != b->addr.ss_family) return 0;
  if (a->addr.ss_family == AF_INET) {
    const struct sockaddr_in *x = (const void *)&a->addr, *y = (const void *)&b->addr;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a->addr.ss_family == AF_INET6) {
    const struct sockaddr_in6 *x = (const void *)&a->addr, *y = (const void *)&b->addr;
    return x->sin6_port == y->sin6_port &&
           !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr);
  }
  return 0;
}

unsigned sip_txl_fail_peer(sip_txl *x, const sip_peer *peer, int code, const char *what,
                           uint64_t now) {
  /* collect first: failing runs the TU, which may start transactions and grow the table */
  size_t n = 0, cap = 0;
  sip_txn **v = NULL;
  for (size_t i = 0; i <= x->tabmask; i++)
    for (sip_txn *t = x->tab[i]; t; t = t->hnext) {
      if (t->kind > SIP_TXN_CLIENT_NONINVITE || t->state >= SIP_TXN_COMPLETED) continue;
      if ((peer->conn && t->peer.conn == peer->conn) || same_addr(&t->peer, peer)) {
        if (n == cap) {
          size_t nc = cap ? cap * 2 : 8;
          sip_txn **nv = realloc(v, nc * sizeof *nv);
          if (!nv) break;
          v = nv;
          cap = nc;
        }
        v[n++] = t;
      }
    }
  for (size_t i = 0; i < n; i++) txn_fail(v[i], code, what, now);
  free(v);
  return (unsigned)n;
}

void *sip_txn_data(const sip_txn *t) { return t->data; }
void sip_txn_set_data(sip_txn *t, void *data) { t->data = data; }
sip_txn_kind sip_txn_kind_of(const sip_txn *t) { return (sip_txn_kind)t->kind; }
sip_txn_state sip_txn_state_of(const sip_txn *t) { return (sip_txn_state)t->state; }

const char *sip_txn_state_name(sip_txn_state s) {
  static const char *const names[] = {"calling",   "trying",   "proceeding", "completed",
                                      "confirmed", "accepted", "terminated"};
  return (unsigned)s <= SIP_TXN_TERMINATED ? names[s] : "?";
}

const char *sip_txn_kind_name(sip_txn_kind k) {
  static const char *const names[] = {"client-invite", "client-non-invite", "server-invite",
                                      "server-non-invite"};
  return (unsigned)k < SIP_TXN__KINDS ? names[k] : "?";
}

const char *sip_txn_request(const sip_txn *t, size_t *len) {
  if (len) *len = t->req_len;
  return txn_req(t);
}

const char *sip_txn_last_response(const sip_txn *t, size_t *len) {
  if (t->kind < SIP_TXN_SERVER_INVITE || !t->aux) return NULL;
  if (len) *len = t->aux_len;
  return t->aux;
}

const sip_peer *sip_txn_peer(const sip_txn *t) { return &t->peer; }
const sip_via_fix *sip_txn_via_fix(const sip_txn *t) { return &t->fix; }
size_t sip_txn_overhead(void) { return sizeof(sip_txn); }
