/* sip_clock.c: alarms on libev's clock or on a virtual one (a binary heap by deadline). */
#include "sip_clock.h"

#include <math.h>
#include <stdlib.h>

struct sip_clock {
  double now;
  sip_alarm **heap;
  size_t n, cap;
  uint64_t seq;
};

static void ev_fired(struct ev_loop *loop, ev_timer *t, int revents) {
  sip_alarm *a = (sip_alarm *)t;
  a->fn(a);
}

double sip_clock_now(struct ev_loop *loop, const sip_clock *c) { return c ? c->now : ev_now(loop); }

void sip_alarm_init(sip_alarm *a, struct ev_loop *loop, sip_clock *c, sip_alarm_fn fn) {
  ev_timer_init(&a->ev, ev_fired, 0.0, 0.0);
  a->loop = loop;
  a->clock = c;
  a->fn = fn;
  a->at = a->repeat = 0;
  a->pos = 0;
  a->seq = 0;
}

/* ---- the virtual clock's heap --------------------------------------------------------------- */

static int before(const sip_alarm *x, const sip_alarm *y) {
  return x->at < y->at || (x->at == y->at && x->seq < y->seq);
}

static void put(sip_clock *c, size_t i, sip_alarm *a) {
  c->heap[i] = a;
  a->pos = i + 1;
}

static void sift_up(sip_clock *c, size_t i) {
  sip_alarm *a = c->heap[i];
  while (i > 0 && before(a, c->heap[(i - 1) / 2])) {
    put(c, i, c->heap[(i - 1) / 2]);
    i = (i - 1) / 2;
  }
  put(c, i, a);
}

static void sift_down(sip_clock *c, size_t i) {
  sip_alarm *a = c->heap[i];
  for (;;) {
    size_t l = 2 * i + 1, m = l;
    if (l >= c->n) break;
    if (l + 1 < c->n && before(c->heap[l + 1], c->heap[l])) m = l + 1;
    if (!before(c->heap[m], a)) break;
    put(c, i, c->heap[m]);
    i = m;
  }
  put(c, i, a);
}

static void heap_remove(sip_clock *c, sip_alarm *a) {
  size_t i = a->pos - 1;
  a->pos = 0;
  if (--c->n == i) return;
  sip_alarm *last = c->heap[c->n];
  put(c, i, last);
  sift_up(c, i);
  sift_down(c, last->pos - 1);
}

static int heap_add(sip_clock *c, sip_alarm *a) {
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 16;
    sip_alarm **h = realloc(c->heap, cap * sizeof *h);
    if (!h) return -1;
    c->heap = h;
    c->cap = cap;
  }
  a->seq = c->seq++;
  put(c, c->n++, a);
  sift_up(c, c->n - 1);
  return 0;
}

/* ---- alarms --------------------------------------------------------------------------------- */

int sip_alarm_start(sip_alarm *a, double after, double repeat) {
  if (!a->clock) {
    ev_timer_stop(a->loop, &a->ev);
    ev_timer_set(&a->ev, after, repeat);
    ev_timer_start(a->loop, &a->ev);
    return 0;
  }
  sip_alarm_stop(a);
  a->at = a->clock->now + after;
  a->repeat = repeat;
  return heap_add(a->clock, a);
}

void sip_alarm_stop(sip_alarm *a) {
  if (!a->clock) ev_timer_stop(a->loop, &a->ev);
  else if (a->pos) heap_remove(a->clock, a);
}

int sip_alarm_active(const sip_alarm *a) { return a->clock ? a->pos != 0 : ev_is_active(&a->ev); }

double sip_alarm_repeat(const sip_alarm *a) { return a->clock ? a->repeat : a->ev.repeat; }

/* ---- the virtual clock ---------------------------------------------------------------------- */

sip_clock *sip_clock_new(double start) {
  sip_clock *c = calloc(1, sizeof *c);
  if (c) c->now = start;
  return c;
}

void sip_clock_free(sip_clock *c) {
  if (!c) return;
  while (c->n) heap_remove(c, c->heap[0]);
  free(c->heap);
  free(c);
}

double sip_clock_next(const sip_clock *c) { return c->n ? c->heap[0]->at : HUGE_VAL; }

int sip_clock_step(sip_clock *c) {
  if (!c->n) return 0;
  sip_alarm *a = c->heap[0];
  if (a->at > c->now) c->now = a->at;
  heap_remove(c, a);
  /* a repeating alarm is set again before it runs, as libev does: fn may stop or restart it */
  if (a->repeat > 0) {
    a->at = c->now + a->repeat;
    if (heap_add(c, a) < 0) a->pos = 0;
  }
  a->fn(a);
  return 1;
}

void sip_clock_set(sip_clock *c, double t) {
  if (t > c->now) c->now = t;
}
