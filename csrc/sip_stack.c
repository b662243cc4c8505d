/* sip_stack.c: transports -> transaction layer -> transaction user, on one libev loop. */
#include "sip_stack.h"

#include "sip_clock.h"

#include <ev.h>
#include <stdlib.h>
#include <string.h>

struct sip_stack {
  struct ev_loop *loop;
  sip_tp *tp;
  sip_txl *txl;
  sip_alarm timer; /* the earliest transaction deadline */
  sip_clock *clock;
  uint64_t armed; /* the deadline the timer is set for, UINT64_MAX when stopped */
  sip_stack_handler h;
  int busy;         /* calls in progress: the TU may free the stack from inside a callback */
  int closing;      /* freed while busy: no more callbacks, destroyed when busy drops to 0 */
  uint32_t loss;    /* drop threshold out of 2^32 for outgoing UDP (tests) */
  uint64_t lossrng; /* xorshift state: the same drops on every run */
};

static void destroy(sip_stack *s);

/* Every entry point brackets its work with enter/leave so a free from a callback waits. */
static void enter(sip_stack *s) { s->busy++; }
static void leave(sip_stack *s) {
  if (--s->busy == 0 && s->closing) destroy(s);
}

uint64_t sip_stack_now(const sip_stack *s) {
  return (uint64_t)(sip_clock_now(s->loop, s->clock) * 1000.0);
}

/* Re-arm the one timer when the earliest deadline moved. */
static void reschedule(sip_stack *s) {
  uint64_t d = sip_txl_next_deadline(s->txl);
  if (d == s->armed) return;
  sip_alarm_stop(&s->timer);
  s->armed = d;
  if (d == UINT64_MAX) return;
  uint64_t now = sip_stack_now(s);
  if (sip_alarm_start(&s->timer, d > now ? (double)(d - now) / 1000.0 : 0.0, 0.0) < 0)
    s->armed = UINT64_MAX; /* out of memory: the next event sets it again */
}

static void on_timer(sip_alarm *t) {
  sip_stack *s = (sip_stack *)((char *)t - offsetof(sip_stack, timer));
  enter(s);
  s->armed = UINT64_MAX;
  sip_txl_advance(s->txl, sip_stack_now(s));
  if (!s->closing) reschedule(s);
  leave(s);
}

static void on_recv(void *ud, const char *buf, size_t len, const sip_peer *from) {
  sip_stack *s = ud;
  if (s->closing) return;
  enter(s);
  if (s->h.on_trace) s->h.on_trace(s->h.ud, 0, buf, len, from);
  sip_txl_receive(s->txl, buf, len, from, sip_stack_now(s));
  if (!s->closing) reschedule(s);
  leave(s);
}

static void on_event(void *ud, uint32_t conn, int err, const char *what) {
  sip_stack *s = ud;
  if (s->closing) return;
  enter(s);
  /* requests waiting on a connection that failed or closed get 503 now (§8.1.3.1) */
  sip_peer p;
  if (sip_tp_conn_peer(s->tp, conn, &p) == 0) {
    p.conn = conn;
    sip_txl_fail_peer(s->txl, &p, 503, what && *what ? what : "connection closed",
                      sip_stack_now(s));
    if (!s->closing) reschedule(s);
  }
  if (!s->closing && s->h.on_conn) s->h.on_conn(s->h.ud, conn, err, what);
  leave(s);
}

static int tx(void *ud, const sip_peer *to, const char *buf, size_t len) {
  sip_stack *s = ud;
  const char *err;
  if (s->closing) return -1;
  if (s->loss && to->proto == SIP_PROTO_UDP) {
    s->lossrng ^= s->lossrng << 13;
    s->lossrng ^= s->lossrng >> 7;
    s->lossrng ^= s->lossrng << 17;
    if ((uint32_t)s->lossrng < s->loss) return 0; /* lost on the way */
  }
  if (s->h.on_trace) s->h.on_trace(s->h.ud, 1, buf, len, to);
  return sip_tp_send(s->tp, to, NULL, buf, len, &err);
}

/* The transaction layer's callbacks go straight to the TU, until the TU closes the stack. */
static void t_request(void *ud, sip_txn *st, const sip_msg *req, const sip_peer *from) {
  sip_stack *s = ud;
  if (!s->closing) s->h.on_request(s->h.ud, st, req, from);
}
static void t_response(void *ud, sip_txn *ct, const sip_msg *rsp, const sip_peer *from) {
  sip_stack *s = ud;
  if (!s->closing) s->h.on_response(s->h.ud, ct, rsp, from);
}
static void t_stray(void *ud, const sip_msg *rsp, const sip_peer *from) {
  sip_stack *s = ud;
  if (!s->closing && s->h.on_stray_response) s->h.on_stray_response(s->h.ud, rsp, from);
}
static void t_error(void *ud, sip_txn *t, int code, const char *what) {
  sip_stack *s = ud;
  if (!s->closing && s->h.on_error) s->h.on_error(s->h.ud, t, code, what);
}
static void t_terminated(void *ud, sip_txn *t) {
  sip_stack *s = ud;
  if (!s->closing && s->h.on_terminated) s->h.on_terminated(s->h.ud, t);
}

sip_stack *sip_stack_new(struct ev_loop *loop, const sip_stack_config *cfg,
                         const sip_stack_handler *h) {
  sip_stack *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->loop = loop;
  s->h = *h;
  s->armed = UINT64_MAX;
  if (cfg && cfg->loss > 0) {
    s->loss = cfg->loss >= 1 ? UINT32_MAX : (uint32_t)(cfg->loss * 4294967296.0);
    s->lossrng = 0x9E3779B97F4A7C15ull;
  }
  s->clock = cfg ? cfg->clock : NULL;
  sip_alarm_init(&s->timer, loop, s->clock, on_timer);
  sip_txl_handler th = {s, tx, t_request, t_response, t_stray, t_error, t_terminated};
  s->tp = sip_tp_new(loop, cfg ? &cfg->tp : NULL, on_recv, on_event, s);
  s->txl = sip_txl_new(cfg ? &cfg->txl : NULL, &th);
  if (!s->tp || !s->txl) {
    sip_stack_free(s);
    return NULL;
  }
  return s;
}

static void destroy(sip_stack *s) {
  sip_alarm_stop(&s->timer);
  if (s->txl) sip_txl_free(s->txl);
  if (s->tp) sip_tp_free(s->tp);
  free(s);
}

void sip_stack_free(sip_stack *s) {
  if (!s) return;
  if (s->busy) { /* inside one of our callbacks: finish when it returns */
    s->closing = 1;
    sip_alarm_stop(&s->timer);
    return;
  }
  destroy(s);
}

sip_tp *sip_stack_tp(sip_stack *s) { return s->tp; }
sip_txl *sip_stack_txl(sip_stack *s) { return s->txl; }

sip_txn *sip_stack_request(sip_stack *s, const char *buf, size_t len, const sip_peer *to,
                           void *data, const char **err) {
  if (s->closing) {
    *err = "stack is closed";
    return NULL;
  }
  enter(s);
  sip_txn *t = sip_txl_request(s->txl, buf, len, to, data, sip_stack_now(s), err);
  if (!s->closing) reschedule(s);
  leave(s);
  return t;
}

int sip_stack_respond(sip_stack *s, sip_txn *st, const char *buf, size_t len) {
  if (s->closing) return SIP_TXN_EREFUSED;
  enter(s);
  int rc = sip_txn_respond(st, buf, len, sip_stack_now(s));
  if (!s->closing) reschedule(s);
  leave(s);
  return rc;
}

int sip_stack_send(sip_stack *s, const sip_peer *to, const char *buf, size_t len,
                   const char **err) {
  if (s->h.on_trace && !s->closing) s->h.on_trace(s->h.ud, 1, buf, len, to);
  return sip_tp_send(s->tp, to, NULL, buf, len, err);
}

void sip_stack_terminate(sip_stack *s, sip_txn *t) {
  if (s->closing) return;
  enter(s);
  sip_txn_terminate(t, sip_stack_now(s));
  if (!s->closing) reschedule(s);
  leave(s);
}
