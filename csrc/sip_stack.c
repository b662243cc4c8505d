/* sip_stack.c: transports -> transaction layer -> transaction user, on one libev loop. */
#include "sip_stack.h"

#include <ev.h>
#include <stdlib.h>
#include <string.h>

struct sip_stack {
  struct ev_loop *loop;
  sip_tp *tp;
  sip_txl *txl;
  ev_timer timer;    /* the earliest transaction deadline */
  uint64_t armed;    /* the deadline the timer is set for, UINT64_MAX when stopped */
  sip_stack_handler h;
};

uint64_t sip_stack_now(const sip_stack *s) { return (uint64_t)(ev_now(s->loop) * 1000.0); }

/* Re-arm the one timer when the earliest deadline moved. */
static void reschedule(sip_stack *s) {
  uint64_t d = sip_txl_next_deadline(s->txl);
  if (d == s->armed) return;
  ev_timer_stop(s->loop, &s->timer);
  s->armed = d;
  if (d == UINT64_MAX) return;
  uint64_t now = sip_stack_now(s);
  ev_timer_set(&s->timer, d > now ? (double)(d - now) / 1000.0 : 0.0, 0.0);
  ev_timer_start(s->loop, &s->timer);
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents) {
  sip_stack *s = (sip_stack *)((char *)t - offsetof(sip_stack, timer));
  s->armed = UINT64_MAX;
  sip_txl_advance(s->txl, sip_stack_now(s));
  reschedule(s);
}

static void on_recv(void *ud, const char *buf, size_t len, const sip_peer *from) {
  sip_stack *s = ud;
  sip_txl_receive(s->txl, buf, len, from, sip_stack_now(s));
  reschedule(s);
}

static void on_event(void *ud, uint32_t conn, int err, const char *what) {
  sip_stack *s = ud;
  if (s->h.on_conn) s->h.on_conn(s->h.ud, conn, err, what);
}

static int tx(void *ud, const sip_peer *to, const char *buf, size_t len) {
  sip_stack *s = ud;
  const char *err;
  return sip_tp_send(s->tp, to, NULL, buf, len, &err);
}

/* The transaction layer's callbacks go straight to the TU. */
static void t_request(void *ud, sip_txn *st, const sip_msg *req, const sip_peer *from) {
  sip_stack *s = ud;
  s->h.on_request(s->h.ud, st, req, from);
}
static void t_response(void *ud, sip_txn *ct, const sip_msg *rsp, const sip_peer *from) {
  sip_stack *s = ud;
  s->h.on_response(s->h.ud, ct, rsp, from);
}
static void t_stray(void *ud, const sip_msg *rsp, const sip_peer *from) {
  sip_stack *s = ud;
  if (s->h.on_stray_response) s->h.on_stray_response(s->h.ud, rsp, from);
}
static void t_error(void *ud, sip_txn *t, int code, const char *what) {
  sip_stack *s = ud;
  if (s->h.on_error) s->h.on_error(s->h.ud, t, code, what);
}
static void t_terminated(void *ud, sip_txn *t) {
  sip_stack *s = ud;
  if (s->h.on_terminated) s->h.on_terminated(s->h.ud, t);
}

sip_stack *sip_stack_new(struct ev_loop *loop, const sip_stack_config *cfg, const sip_stack_handler *h) {
  sip_stack *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->loop = loop;
  s->h = *h;
  s->armed = UINT64_MAX;
  ev_timer_init(&s->timer, on_timer, 0.0, 0.0);
  sip_txl_handler th = {s, tx, t_request, t_response, t_stray, t_error, t_terminated};
  s->tp = sip_tp_new(loop, cfg ? &cfg->tp : NULL, on_recv, on_event, s);
  s->txl = sip_txl_new(cfg ? &cfg->txl : NULL, &th);
  if (!s->tp || !s->txl) {
    sip_stack_free(s);
    return NULL;
  }
  return s;
}

void sip_stack_free(sip_stack *s) {
  if (!s) return;
  ev_timer_stop(s->loop, &s->timer);
  if (s->txl) sip_txl_free(s->txl);
  if (s->tp) sip_tp_free(s->tp);
  free(s);
}

sip_tp *sip_stack_tp(sip_stack *s) { return s->tp; }
sip_txl *sip_stack_txl(sip_stack *s) { return s->txl; }

sip_txn *sip_stack_request(sip_stack *s, const char *buf, size_t len, const sip_peer *to, void *data,
                           const char **err) {
  sip_txn *t = sip_txl_request(s->txl, buf, len, to, data, sip_stack_now(s), err);
  reschedule(s);
  return t;
}

int sip_stack_respond(sip_stack *s, sip_txn *st, const char *buf, size_t len) {
  int rc = sip_txn_respond(st, buf, len, sip_stack_now(s));
  reschedule(s);
  return rc;
}

int sip_stack_send(sip_stack *s, const sip_peer *to, const char *buf, size_t len, const char **err) {
  return sip_tp_send(s->tp, to, NULL, buf, len, err);
}

void sip_stack_terminate(sip_stack *s, sip_txn *t) {
  sip_txn_terminate(t, sip_stack_now(s));
  reschedule(s);
}
