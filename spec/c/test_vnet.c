/* test_vnet.c: the virtual clock (alarms in deadline order, repeats, stops from a callback) and
 * the virtual network (bind, port 0, address in use, wildcards, UDP loss, stream refusal, the
 * tap), and a sip_tp on it: no socket is ever opened. */
#include "unit.h"
#include "sip_clock.h"
#include "sip_transport.h"
#include "sip_vnet.h"

#include <math.h>

/* ---- the clock ------------------------------------------------------------------------------ */

static char order[32];
static size_t norder;
typedef struct named {
  sip_alarm a;
  char name;
  int stop_after; /* a repeating alarm stops itself after this many runs */
} named;

static void note(sip_alarm *a) {
  named *n = (named *)a;
  if (norder < sizeof order - 1) order[norder++] = n->name;
  if (n->stop_after && --n->stop_after == 0) sip_alarm_stop(a);
}

TEST(alarms_fire_in_deadline_order) {
  sip_clock *c = sip_clock_new(100);
  named x[5];
  const double after[5] = {3, 1, 2, 1, 0.5};
  norder = 0;
  for (int i = 0; i < 5; i++) {
    sip_alarm_init(&x[i].a, NULL, c, note);
    x[i].name = (char)('a' + i);
    x[i].stop_after = 0;
    CHECK_EQ_INT(sip_alarm_start(&x[i].a, after[i], 0), 0);
  }
  CHECK(sip_clock_next(c) == 100.5);
  sip_alarm_stop(&x[2].a); /* c never fires */
  while (sip_clock_step(c)) {}
  order[norder] = 0;
  CHECK(strcmp(order, "ebda") == 0); /* b before d: the same deadline, set first */
  CHECK(sip_clock_now(NULL, c) == 103);
  CHECK(!sip_alarm_active(&x[0].a));
  CHECK(isinf(sip_clock_next(c)));
  sip_clock_free(c);
}

TEST(a_repeating_alarm_runs_until_it_stops_itself) {
  sip_clock *c = sip_clock_new(0);
  named r;
  sip_alarm_init(&r.a, NULL, c, note);
  r.name = 'r';
  r.stop_after = 3;
  norder = 0;
  sip_alarm_start(&r.a, 1, 2);
  CHECK(sip_alarm_repeat(&r.a) == 2);
  while (sip_clock_step(c)) {}
  CHECK_EQ_INT(norder, 3);
  CHECK(sip_clock_now(NULL, c) == 5); /* 1, 3, 5 */
  sip_clock_set(c, 4);                /* never back */
  CHECK(sip_clock_now(NULL, c) == 5);
  sip_clock_free(c);
}

TEST(a_restarted_alarm_moves) {
  sip_clock *c = sip_clock_new(0);
  named a, b;
  sip_alarm_init(&a.a, NULL, c, note);
  sip_alarm_init(&b.a, NULL, c, note);
  a.name = 'a', b.name = 'b', a.stop_after = b.stop_after = 0;
  norder = 0;
  sip_alarm_start(&a.a, 1, 0);
  sip_alarm_start(&b.a, 2, 0);
  sip_alarm_start(&a.a, 3, 0);
  while (sip_clock_step(c)) {}
  order[norder] = 0;
  CHECK(strcmp(order, "ba") == 0);
  sip_clock_free(c);
}

/* ---- the network ---------------------------------------------------------------------------- */

typedef struct got {
  int n;
  char last[64];
  sip_peer from;
} got;

static void on_recv(void *ud, const char *buf, size_t len, const sip_peer *from) {
  got *g = ud;
  g->n++;
  snprintf(g->last, sizeof g->last, "%.*s", (int)len, buf);
  g->from = *from;
}

static int taps, lost;
static void on_tap(void *ud, const char *buf, size_t len, const sip_peer *from, const sip_peer *to,
                   int delivered) {
  taps++;
  if (!delivered) lost++;
}

static sip_peer at(const char *host, int port, sip_proto proto) {
  sip_peer p;
  const char *err;
  memset(&p, 0, sizeof p);
  CHECK_EQ_INT(sip_tp_resolve(host, port, proto, &p, &err), 0);
  return p;
}

TEST(ports_bind_send_and_receive) {
  sip_vnet *n = sip_vnet_new();
  got ga = {0}, gb = {0};
  sip_vport *a = sip_vport_new(n, on_recv, &ga), *b = sip_vport_new(n, on_recv, &gb);
  const char *err = NULL;
  sip_peer pa = at("192.0.2.1", 5060, SIP_PROTO_UDP), pb = at("0.0.0.0", 0, SIP_PROTO_UDP);
  CHECK_EQ_INT(sip_vport_listen(a, &pa, &err), 1);
  CHECK_EQ_INT(sip_vport_listen(b, &pa, &err), -1);
  CHECK(strcmp(err, "address already in use") == 0);
  int lb = sip_vport_listen(b, &pb, &err); /* a wildcard, port 0: the first ephemeral port */
  CHECK_EQ_INT(lb, 1);
  struct sockaddr_storage ss;
  socklen_t sl;
  char host[64];
  int port = 0;
  CHECK_EQ_INT(sip_vport_local(b, 1, &ss, &sl), 0);
  sip_tp_addr_str(&ss, host, sizeof host, &port);
  CHECK_EQ_INT(port, 49152);
  sip_vnet_tap(n, on_tap, NULL);
  taps = lost = 0;
  /* to b through its wildcard, at any address */
  sip_peer to = at("198.51.100.7", 49152, SIP_PROTO_UDP);
  CHECK_EQ_INT(sip_vport_send(a, &to, "hello", 5, &err), 0);
  CHECK_EQ_INT(sip_vnet_queued(n), 1);
  CHECK_EQ_INT(gb.n, 0); /* queued until the loop delivers */
  CHECK_EQ_INT(sip_vnet_deliver(n), 1);
  CHECK_EQ_INT(gb.n, 1);
  CHECK(strcmp(gb.last, "hello") == 0);
  sip_tp_addr_str(&gb.from.addr, host, sizeof host, &port);
  CHECK(strcmp(host, "192.0.2.1") == 0 && port == 5060);
  CHECK_EQ_INT(gb.from.listener, 1);
  /* UDP to nobody is lost on arrival; a stream to nobody is refused at once */
  sip_peer nobody = at("192.0.2.9", 5060, SIP_PROTO_UDP);
  CHECK_EQ_INT(sip_vport_send(a, &nobody, "x", 1, &err), 0);
  CHECK_EQ_INT(sip_vnet_deliver(n), 1);
  CHECK_EQ_INT(sip_vnet_deliver(n), 0);
  CHECK_EQ_INT(taps, 2);
  CHECK_EQ_INT(lost, 1);
  nobody.proto = SIP_PROTO_TCP;
  CHECK_EQ_INT(sip_vport_send(a, &nobody, "x", 1, &err), -1);
  CHECK(strcmp(err, "connection refused") == 0);
  /* a closed port's queued messages are lost */
  CHECK_EQ_INT(sip_vport_send(b, &pa, "bye", 3, &err), 0);
  sip_vport_free(a);
  CHECK_EQ_INT(sip_vnet_deliver(n), 1);
  CHECK_EQ_INT(ga.n, 0);
  CHECK_EQ_INT(sip_vnet_bound(n), 1);
  sip_vport_free(b);
  CHECK_EQ_INT(sip_vnet_bound(n), 0);
  sip_vnet_free(n);
}

TEST(a_stream_send_takes_an_ephemeral_address_the_answer_comes_back_to) {
  sip_vnet *n = sip_vnet_new();
  got ga = {0}, gb = {0};
  sip_vport *a = sip_vport_new(n, on_recv, &ga), *b = sip_vport_new(n, on_recv, &gb);
  const char *err;
  sip_peer ua = at("10.0.0.1", 5060, SIP_PROTO_UDP), srv = at("10.0.0.2", 5060, SIP_PROTO_TCP);
  sip_vport_listen(a, &ua, &err);
  sip_vport_listen(b, &srv, &err);
  CHECK_EQ_INT(sip_vport_send(a, &srv, "req", 3, &err), 0);
  sip_vnet_deliver(n);
  CHECK_EQ_INT(gb.n, 1);
  CHECK_EQ_INT(gb.from.proto, SIP_PROTO_TCP);
  CHECK_EQ_INT(sip_vport_listeners(a), 1); /* the ephemeral one is no listener */
  CHECK_EQ_INT(sip_vport_send(b, &gb.from, "rsp", 3, &err), 0);
  sip_vnet_deliver(n);
  CHECK_EQ_INT(ga.n, 1);
  CHECK(strcmp(ga.last, "rsp") == 0);
  sip_vnet_free(n); /* ports still on it are cut off */
  CHECK_EQ_INT(sip_vport_send(a, &srv, "req", 3, &err), -1);
  sip_vport_free(a);
  sip_vport_free(b);
}

/* ---- a transport on it ---------------------------------------------------------------------- */

TEST(a_transport_on_the_network_opens_no_socket) {
  sip_vnet *n = sip_vnet_new();
  sip_tp_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.vnet = n;
  got g = {0};
  sip_tp *tp = sip_tp_new(NULL, &cfg, on_recv, NULL, &g); /* no loop: nothing may touch one */
  const char *err;
  int id = sip_tp_listen(tp, SIP_PROTO_UDP, "127.0.0.1", 5060, &err);
  CHECK_EQ_INT(id, 1);
  sip_peer self = at("127.0.0.1", 5060, SIP_PROTO_UDP);
  CHECK_EQ_INT(sip_tp_send(tp, &self, NULL, "ping", 4, &err), 0);
  sip_vnet_deliver(n);
  CHECK_EQ_INT(g.n, 1);
  sip_tp_stats st;
  sip_tp_get_stats(tp, &st);
  CHECK_EQ_INT(st.listeners, 1);
  CHECK_EQ_INT(st.rx_msgs, 1);
  CHECK_EQ_INT(st.tx_msgs, 1);
  sip_tp_free(tp);
  CHECK_EQ_INT(sip_vnet_bound(n), 0);
  sip_vnet_free(n);
}

int main(void) {
  RUN(alarms_fire_in_deadline_order);
  RUN(a_repeating_alarm_runs_until_it_stops_itself);
  RUN(a_restarted_alarm_moves);
  RUN(ports_bind_send_and_receive);
  RUN(a_stream_send_takes_an_ephemeral_address_the_answer_comes_back_to);
  RUN(a_transport_on_the_network_opens_no_socket);
  return unit_done();
}
