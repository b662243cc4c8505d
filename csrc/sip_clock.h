/* sip_clock.h: the one clock every timer of the library runs on. In service that is libev's;
 * under a test it is a virtual clock that stands still until the test's loop moves it to the
 * next alarm, so 32 seconds of Timer B pass at once (sip.test). An alarm is the only timer type:
 * the stack's transaction timer and the Lua timers (lsip_loop.c) are alarms, so a clock swapped
 * here moves all of them together. */
#ifndef SIP_CLOCK_H
#define SIP_CLOCK_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sip_clock sip_clock; /* a virtual clock; NULL stands for libev's */
typedef struct sip_alarm sip_alarm;
typedef void (*sip_alarm_fn)(sip_alarm *a);

/* Embed it; every field is the clock's. */
struct sip_alarm {
  ev_timer ev; /* first: the alarm on libev's clock */
  struct ev_loop *loop;
  sip_clock *clock;
  sip_alarm_fn fn;
  double at, repeat; /* virtual: when it fires, then every repeat seconds (0: once) */
  size_t pos;        /* virtual: 1 + its index in the clock's heap, 0 when stopped */
  uint64_t seq;      /* virtual: alarms due at the same time fire in the order they were set */
};

/* Seconds on the clock (libev's: ev_now, cached per loop iteration). */
double sip_clock_now(struct ev_loop *loop, const sip_clock *c);

void sip_alarm_init(sip_alarm *a, struct ev_loop *loop, sip_clock *c, sip_alarm_fn fn);
/* (Re)start: fn(a) after `after` seconds, then every `repeat` seconds when repeat > 0. 0, or -1
 * when out of memory (a virtual clock's heap grows). */
int sip_alarm_start(sip_alarm *a, double after, double repeat);
void sip_alarm_stop(sip_alarm *a); /* idempotent */
int sip_alarm_active(const sip_alarm *a);
double sip_alarm_repeat(const sip_alarm *a);

/* A virtual clock reading `start`; NULL when out of memory. Free it once no alarm is on it. */
sip_clock *sip_clock_new(double start);
void sip_clock_free(sip_clock *c);
/* When the earliest alarm is due (HUGE_VAL: none is set). */
double sip_clock_next(const sip_clock *c);
/* Move the clock to the earliest alarm (never back) and fire it: 1, or 0 when none is set. */
int sip_clock_step(sip_clock *c);
/* Move the clock forward to t without firing anything (t before now: no change). */
void sip_clock_set(sip_clock *c, double t);

#endif
