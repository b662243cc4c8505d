/* test_txn.c: the transaction layer (RFC 3261 §17, RFC 6026) on a fake clock and a fake transport
 * that records what is sent. Each test builds its own layer and checks nothing is left. */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "sip_gate.h"
#include "sip_txn.h"
#include "unit.h"

/* ---- the fake transport and TU ---- */

enum { E_REQ = 1, E_ACK, E_RSP, E_STRAY, E_ERR, E_TERM };

typedef struct ev {
  int type;
  sip_txn *t;
  int status; /* responses */
  int code;   /* on_error */
  sip_method_id method;
} ev;

typedef struct sent {
  sip_peer to;
  char *buf;
  size_t len;
} sent;

#define MAXREC 512
static struct {
  sent s[MAXREC];
  int ns;
  ev e[MAXREC];
  int ne;
  int fail_send;    /* the next send fails (counts down) */
  int auto_status;  /* on_request answers with this at once */
  sip_txn *last_st; /* last server transaction given to the TU */
  uint64_t now;
} F;

static void reset(void) {
  for (int i = 0; i < F.ns; i++) free(F.s[i].buf);
  memset(&F, 0, sizeof F);
}

static int fake_send(void *ud, const sip_peer *to, const char *buf, size_t len) {
  if (F.fail_send) {
    F.fail_send--;
    return -1;
  }
  if (F.ns < MAXREC) {
    F.s[F.ns].to = *to;
    F.s[F.ns].buf = malloc(len + 1);
    memcpy(F.s[F.ns].buf, buf, len);
    F.s[F.ns].buf[len] = 0;
    F.s[F.ns].len = len;
    F.ns++;
  }
  return 0;
}

static void record(int type, sip_txn *t, int status, int code, sip_method_id m) {
  if (F.ne < MAXREC) F.e[F.ne++] = (ev){type, t, status, code, m};
}

static int respond(sip_txn *t, int status, uint64_t now);

static void on_request(void *ud, sip_txn *st, const sip_msg *req, const sip_peer *from) {
  record(st ? E_REQ : E_ACK, st, 0, 0, req->method_id);
  if (st) F.last_st = st;
  if (st && F.auto_status) respond(st, F.auto_status, F.now);
}
static void on_response(void *ud, sip_txn *ct, const sip_msg *rsp, const sip_peer *from) {
  record(E_RSP, ct, rsp->status, 0, rsp->cseq_method_id);
}
static void on_stray(void *ud, const sip_msg *rsp, const sip_peer *from) {
  record(E_STRAY, NULL, rsp->status, 0, rsp->cseq_method_id);
}
static void on_error(void *ud, sip_txn *t, int code, const char *what) {
  record(E_ERR, t, 0, code, SIP_M_OTHER);
}
static void on_terminated(void *ud, sip_txn *t) { record(E_TERM, t, 0, 0, SIP_M_OTHER); }

static const sip_txl_handler handler = {NULL,     fake_send, on_request,   on_response,
                                        on_stray, on_error,  on_terminated};

static sip_txl *layer(unsigned t1, unsigned t2, unsigned t4) {
  reset();
  sip_txl_config c = {t1, t2, t4, 0, 0, NULL};
  return sip_txl_new(&c, &handler);
}

static sip_peer peer(sip_proto proto, const char *ip, int port, uint32_t conn) {
  sip_peer p;
  memset(&p, 0, sizeof p);
  p.proto = proto;
  p.conn = conn;
  if (strchr(ip, ':')) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&p.addr;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    inet_pton(AF_INET6, ip, &a->sin6_addr);
    p.addrlen = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&p.addr;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &a->sin_addr);
    p.addrlen = sizeof *a;
  }
  return p;
}

static int port_of(const sip_peer *p) {
  return p->addr.ss_family == AF_INET ? ntohs(((const struct sockaddr_in *)&p->addr)->sin_port)
                                      : ntohs(((const struct sockaddr_in6 *)&p->addr)->sin6_port);
}

static const char *ip_of(const sip_peer *p) {
  static char b[64];
  if (p->addr.ss_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)&p->addr)->sin_addr, b, sizeof b);
  else inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&p->addr)->sin6_addr, b, sizeof b);
  return b;
}

/* ---- messages ---- */

static char msgbuf[4096];

/* A request from 10.0.0.1 (the UAC) to bob. via: the whole top Via value. */
static const char *req(const char *method, const char *via, unsigned cseq, const char *cseq_method,
                       const char *to_tag) {
  snprintf(msgbuf, sizeof msgbuf,
           "%s sip:bob@example.com SIP/2.0\r\n"
           "Via: %s\r\n"
           "Max-Forwards: 70\r\n"
           "From: Alice <sip:alice@example.com>;tag=ft1\r\n"
           "To: Bob <sip:bob@example.com>%s%s\r\n"
           "Call-ID: cid1@10.0.0.1\r\n"
           "CSeq: %u %s\r\n"
           "Contact: <sip:alice@10.0.0.1>\r\n"
           "Content-Length: 0\r\n\r\n",
           method, via, to_tag ? ";tag=" : "", to_tag ? to_tag : "", cseq,
           cseq_method ? cseq_method : method);
  return msgbuf;
}

static const char *rsp(int status, const char *via, unsigned cseq, const char *cseq_method,
                       const char *to_tag) {
  snprintf(msgbuf, sizeof msgbuf,
           "SIP/2.0 %d Whatever\r\n"
           "Via: %s\r\n"
           "From: Alice <sip:alice@example.com>;tag=ft1\r\n"
           "To: Bob <sip:bob@example.com>%s%s\r\n"
           "Call-ID: cid1@10.0.0.1\r\n"
           "CSeq: %u %s\r\n"
           "Content-Length: 0\r\n\r\n",
           status, via, to_tag ? ";tag=" : "", to_tag ? to_tag : "", cseq, cseq_method);
  return msgbuf;
}

#define VIA_C "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKclient1"
#define VIA_S "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKserver1"

static sip_txl_rx rx(sip_txl *x, const char *m, const sip_peer *from, uint64_t now) {
  F.now = now;
  return sip_txl_receive(x, m, strlen(m), from, now);
}

static sip_txn *start(sip_txl *x, const char *m, const sip_peer *to, uint64_t now) {
  const char *err = NULL;
  sip_txn *t = sip_txl_request(x, m, strlen(m), to, NULL, now, &err);
  if (!t) printf("# sip_txl_request: %s\n", err);
  return t;
}

/* The TU answers a server transaction the way a UA does: sip_build_response with the via fix. */
static int respond(sip_txn *t, int status, uint64_t now) {
  sip_msg m;
  sip_hdr h[64];
  size_t ln;
  const char *last = sip_txn_last_response(t, &ln);
  if (!sip_txn_request(t, NULL) && last && ln > 12 && ln < 4096) {
    /* the request went with the final response: the last one, with this status, tells what the
     * state machine says to another (nothing can build one from the request now) */
    char buf[4096];
    memcpy(buf, last, ln);
    buf[8] = (char)('0' + status / 100);
    buf[9] = (char)('0' + status / 10 % 10);
    buf[10] = (char)('0' + status % 10);
    return sip_txn_respond(t, buf, ln, now);
  }
  if (sip_txn_parse_request(t, &m, h, 64) != 0) return -100;
  sip_buf b = SIP_BUF_INIT;
  sip_build_response(&b, &m, status, NULL, "tt1", sip_txn_via_fix(t), NULL, NULL, NULL, 0);
  int rc = sip_txn_respond(t, b.p, b.n, now);
  sip_buf_free(&b);
  return rc;
}

static int count_ev(int type) {
  int n = 0;
  for (int i = 0; i < F.ne; i++) n += F.e[i].type == type;
  return n;
}

static const ev *last_ev(void) {
  static const ev none = {0, NULL, 0, 0, 0};
  return F.ne ? &F.e[F.ne - 1] : &none;
}

static int sent_has(int i, const char *s) { return i >= 0 && i < F.ns && strstr(F.s[i].buf, s); }
static int sent_starts(int i, const char *s) {
  return i >= 0 && i < F.ns && strncmp(F.s[i].buf, s, strlen(s)) == 0;
}

static unsigned live(sip_txl *x) {
  sip_txl_stats st;
  sip_txl_get_stats(x, &st);
  return st.live_total;
}

static sip_txl_stats stats(sip_txl *x) {
  sip_txl_stats st;
  sip_txl_get_stats(x, &st);
  return st;
}

/* Advance to each time in turn (the glue fires at every deadline). */
static void run_until(sip_txl *x, uint64_t end) {
  for (;;) {
    uint64_t d = sip_txl_next_deadline(x);
    if (d > end) break;
    sip_txl_advance(x, d);
  }
  sip_txl_advance(x, end);
}

static void done(sip_txl *x) {
  sip_txl_free(x);
  reset();
}

/* ---- client INVITE (§17.1.1) ---- */

TEST(client_invite_timer_a_doubles_without_cap_then_timer_b_408) {
  sip_txl *x = layer(0, 0, 0); /* defaults: T1 500, T2 4 s */
  sip_peer to = peer(SIP_PROTO_UDP, "192.0.2.10", 5060, 0);
  sip_txn *t = start(x, req("INVITE", VIA_C, 1, NULL, NULL), &to, 0);
  CHECK(t != NULL);
  CHECK_EQ_INT(sip_txn_kind_of(t), SIP_TXN_CLIENT_INVITE);
  CHECK_EQ_INT(sip_txn_state_of(t), SIP_TXN_CALLING);
  CHECK_EQ_INT(F.ns, 1);
  CHECK_EQ_INT(port_of(&F.s[0].to), 5060);
  /* A: 500, 1000, 2000, 4000, 8000, 16000 (no T2 cap): sends at 500 1500 3500 7500 15500 31500 */
  static const uint64_t at[] = {500, 1500, 3500, 7500, 15500, 31500};
  for (int i = 0; i < 6; i++) {
    CHECK_EQ_INT(sip_txl_next_deadline(x), at[i]);
    sip_txl_advance(x, at[i] - 1);
    CHECK_EQ_INT(F.ns, 1 + i);
    sip_txl_advance(x, at[i]);
    CHECK_EQ_INT(F.ns, 2 + i);
    CHECK(sent_starts(F.ns - 1, "INVITE sip:bob@example.com SIP/2.0"));
  }
  CHECK_EQ_INT(sip_txl_next_deadline(x), 32000); /* B = 64*T1 */
  sip_txl_advance(x, 32000);
  CHECK_EQ_INT(F.ns, 7);
  CHECK_EQ_INT(count_ev(E_ERR), 1);
  CHECK_EQ_INT(F.e[0].code, 408);
  CHECK(F.e[0].t == t);
  CHECK_EQ_INT(last_ev()->type, E_TERM);
  CHECK_EQ_INT(live(x), 0);
  CHECK_EQ_INT(stats(x).retransmitted, 6);
  CHECK_EQ_INT(stats(x).timeouts, 1);
  CHECK_EQ_INT(sip_txl_next_deadline(x), UINT64_MAX);
  done(x);
}

TEST(client_invite_t1_is_settable) {
  sip_txl *x = layer(100, 400, 500);
  sip_peer to = peer(SIP_PROTO_UDP, "192.0.2.10", 5060, 0);
  CHECK(start(x, req("INVITE", VIA_C, 1, NULL, NULL), &to, 1000) != NULL);
  CHECK_EQ_INT(sip_txl_next_deadline(x), 1100);
  run_until(x, 1000 + 6400);
  CHECK_EQ_INT(count_ev(E_ERR), 1);
  CHECK_EQ_INT(F.e[0].code, 408);
  CHECK_EQ_INT(F.ns, 7); /* 100 200 400 800 1600 3200: six retransmissions before 6400 */
  CHECK_EQ_INT(live(x), 0);
  done(x);
}

TEST(client_invite_reliable_has_no_timer_a) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer to = peer(SIP_PROTO_TCP, "192.0.2.10", 5060, 7);
  CHECK(start(x, req("INVITE", "SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKclient1", 1, NULL, NULL),
              &to, 0) != NULL);
  CHECK_EQ_INT(sip_txl_next_deadline(x), 32000); /* only B */
  run_until(x, 40000);
  CHECK_EQ_INT(F.ns, 1);
  CHECK_EQ_INT(count_ev(E_ERR), 1);
  CHECK_EQ_INT(live(x), 0);
  done(x);
}

TEST(client_invite_1xx_stops_a_and_b_then_486_is_acked_by_the_transaction) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer to = peer(SIP_PROTO_UDP, "192.0.2.10", 5070, 0);
  sip_peer from = peer(SIP_PROTO_UDP, "192.0.2.10", 5070, 0);
  sip_txn *t = start(x, req("INVITE", VIA_C, 7, NULL, NULL), &to, 0);
  CHECK_EQ_INT(rx(x, rsp(180, VIA_C, 7, "INVITE", "bt"), &from, 100), SIP_RX_RESPONSE);
  CHECK_EQ_INT(sip_txn_state_of(t), SIP_TXN_PROCEEDING);
  CHECK_EQ_INT(last_ev()->type, E_RSP);
  CHECK_EQ_INT(last_ev()->status, 180);
  CHECK_EQ_INT(sip_txl_next_deadline(x), UINT64_MAX); /* Proceeding: no A, no B */
  sip_txl_advance(x, 100000);
  CHECK_EQ_INT(F.ns, 1);
  CHECK_EQ_INT(rx(x, rsp(486, VIA_C, 7, "INVITE", "bt"), &from, 200000), SIP_RX_RESPONSE);
  CHECK_EQ_INT(sip_txn_state_of(t), SIP_TXN_COMPLETED);
  CHECK_EQ_INT(last_ev()->status, 486);
  CHECK_EQ_INT(F.ns, 2); /* §17.1.1.3 ACK */
  CHECK(sent_starts(1, "ACK sip:bob@example.com SIP/2.0\r\n"));
  CHECK(sent_has(1, "branch=z9hG4bKclient1"));
  CHECK(sent_has(1, "CSeq: 7 ACK"));
  CHECK(sent_has(1, "tag=bt"));
  CHECK_EQ_INT(port_of(&F.s[1].to), 5070);
  /* the final again: the ACK again, the TU sees nothing */
  int ne = F.ne;
  CHECK_EQ_INT(rx(x, rsp(486, VIA_C, 7, "INVITE", "bt"), &from, 200500), SIP_RX_ABSORBED);
  CHECK_EQ_INT(F.ns, 3);
  CHECK(sent_starts(2, "ACK "));
  CHECK_EQ_INT(F.ne, ne);
  CHECK_EQ_INT(stats(x).absorbed, 1);
  /* Timer D: 32 s over UDP */
  CHECK_EQ_INT(sip_txl_next_deadline(x), 232000);
  sip_txl_advance(x, 231999);
  CHECK_EQ_INT(live(x), 1);
  sip_txl_advance(x, 232000);
  CHECK_EQ_INT(live(x), 0);
  CHECK_EQ_INT(last_ev()->type, E_TERM);
  CHECK(last_ev()->t == t);
  /* after D the final is stray */
  CHECK_EQ_INT(rx(x, rsp(486, VIA_C, 7, "INVITE", "bt"), &from, 240000), SIP_RX_STRAY);
  done(x);
}

TEST(client_invite_final_in_calling_and_timer_d_zero_over_tcp) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer to = peer(SIP_PROTO_TCP, "192.0.2.10", 5060, 3);
  const char *via = "SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKtcp1";
  sip_txn *t = start(x, req("INVITE", via, 1, NULL, NULL), &to, 0);
  CHECK_EQ_INT(rx(x, rsp(603, via, 1, "INVITE", "x"), &to, 50), SIP_RX_RESPONSE);
  CHECK_EQ_INT(sip_txn_state_of(t), SIP_TXN_COMPLETED);
  CHECK(sent_starts(1, "ACK "));
  CHECK_EQ_INT(F.s[1].to.conn, 3);
  CHECK_EQ_INT(sip_txl_next_deadline(x), 50); /* D = 0 */
  sip_txl_advance(x, 50);
  CHECK_EQ_INT(live(x), 0);
  done(x);
}

TEST(client_invite_accepted_passes_2xx_retransmissions_and_forks_up_rfc6026) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer to = peer(SIP_PROTO_UDP, "192.0.2.10", 5060, 0);
  sip_txn *t = start(x, req("INVITE", VIA_C, 1, NULL, NULL), &to, 0);
  CHECK_EQ_INT(rx(x, rsp(200, VIA_C, 1, "INVITE", "b1"), &to, 300), SIP_RX_RESPONSE);
  CHECK_EQ_INT(sip_txn_state_of(t), SIP_TXN_ACCEPTED);
  CHECK_EQ_INT(F.ns, 1); /* no ACK from the transaction for a 2xx */
  CHECK_EQ_INT(rx(x, rsp(200, VIA_C, 1, "INVITE", "b1"), &to, 800), SIP_RX_RESPONSE);
  CHECK_EQ_INT(rx(x, rsp(200, VIA_C, 1, "INVITE", "b2"), &to, 900), SIP_RX_RESPONSE); /* a fork */
  CHECK_EQ_INT(count_ev(E_RSP), 3);
  CHECK_EQ_INT(rx(x, rsp(180, VIA_C, 1, "INVITE", "b3"), &to, 950), SIP_RX_ABSORBED);
  CHECK_EQ_INT(rx(x, rsp(486, VIA_C, 1, "INVITE", "b3"), &to, 960), SIP_RX_ABSORBED);
  CHECK_EQ_INT(count_ev(E_RSP), 3);
  CHECK_EQ_INT(F.ns, 1);
  sip_txl_advance(x, 1000); /* no retransmission after a response */
  CHECK_EQ_INT(F.ns, 1);
  CHECK_EQ_INT(sip_txl_next_deadline(x), 300 + 32000); /* Timer M */
  sip_txl_advance(x, 32300);
  CHECK_EQ_INT(live(x), 0);
  /* after M, the UA core gets them as strays (it re-ACKs) */
  CHECK_EQ_INT(rx(x, rsp(200, VIA_C, 1, "INVITE", "b1"), &to, 40000), SIP_RX_STRAY);
  CHECK_EQ_INT(last_ev()->type, E_STRAY);
  CHECK_EQ_INT(last_ev()->status, 200);
  CHECK_EQ_INT(stats(x).stray, 1);
  done(x);
}

TEST(client_transport_errors_fail_the_request_or_give_503) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer to = peer(SIP_PROTO_UDP, "192.0.2.10", 5060, 0);
  const char *err = NULL;
  F.fail_send = 1;
  const char *m = req("INVITE", VIA_C, 1, NULL, NULL);
  CHECK(sip_txl_request(x, m, strlen(m), &to, NULL, 0, &err) == NULL);
  CHECK(err && strcmp(err, "transport error") == 0);
  CHECK_EQ_INT(live(x), 0);
  CHECK_EQ_INT(F.ne, 0);
  sip_txn *t = start(x, req("OPTIONS", VIA_C, 2, NULL, NULL), &to, 0);
  CHECK(t != NULL);
  F.fail_send = 1; /* the retransmission fails */
  sip_txl_advance(x, 500);
  CHECK_EQ_INT(count_ev(E_ERR), 1);
  CHECK_EQ_INT(F.e[0].code, 503);
  CHECK(F.e[0].t == t);
  CHECK_EQ_INT(last_ev()->type, E_TERM); /* reaped in the same advance: t is gone now */
  CHECK(last_ev()->t == t);
  CHECK_EQ_INT(live(x), 0);
  done(x);
}

TEST(client_refuses_ack_duplicates_and_missing_branch) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer to = peer(SIP_PROTO_UDP, "192.0.2.10", 5060, 0);
  const char *err = NULL;
  const char *m = req("ACK", VIA_C, 1, NULL, "b");
  CHECK(sip_txl_request(x, m, strlen(m), &to, NULL, 0, &err) == NULL);
  CHECK(err && strstr(err, "ACK"));
  CHECK(start(x, req("INVITE", VIA_C, 1, NULL, NULL), &to, 0) != NULL);
  m = req("INVITE", VIA_C, 1, NULL, NULL);
  err = NULL;
  CHECK(sip_txl_request(x, m, strlen(m), &to, NULL, 0, &err) == NULL);
  CHECK(err && strstr(err, "exists"));
  m = req("OPTIONS", "SIP/2.0/UDP 10.0.0.1:5060", 1, NULL, NULL);
  err = NULL;
  CHECK(sip_txl_request(x, m, strlen(m), &to, NULL, 0, &err) == NULL);
  CHECK(err != NULL);
  m = rsp(200, VIA_C, 1, "INVITE", NULL);
  CHECK(sip_txl_request(x, m, strlen(m), &to, NULL, 0, &err) == NULL);
  CHECK_EQ_INT(live(x), 1);
  done(x);
}

TEST(client_cancel_is_its_own_transaction_matched_by_cseq_method) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer to = peer(SIP_PROTO_UDP, "192.0.2.10", 5060, 0);
  int tu_data = 42;
  const char *m = req("INVITE", VIA_C, 5, NULL, NULL);
  sip_txn *inv = sip_txl_request(x, m, strlen(m), &to, &tu_data, 0, NULL);
  CHECK(inv != NULL);
  CHECK(sip_txn_data(inv) == &tu_data);
  CHECK_EQ_INT(rx(x, rsp(180, VIA_C, 5, "INVITE", "bt"), &to, 100), SIP_RX_RESPONSE);
  sip_buf b = SIP_BUF_INIT;
  CHECK_EQ_INT(sip_txn_build_cancel(inv, &b), 0);
  CHECK(b.n > 7 && memcmp(b.p, "CANCEL sip:bob@example.com SIP/2.0", 34) == 0);
  sip_txn *can = sip_txl_request(x, b.p, b.n, &to, NULL, 200, NULL);
  sip_buf_free(&b);
  CHECK(can != NULL && can != inv);
  CHECK_EQ_INT(sip_txn_kind_of(can), SIP_TXN_CLIENT_NONINVITE);
  CHECK(sent_starts(F.ns - 1, "CANCEL "));
  CHECK(sent_has(F.ns - 1, "branch=z9hG4bKclient1"));
  CHECK_EQ_INT(rx(x, rsp(200, VIA_C, 5, "CANCEL", "bt"), &to, 300), SIP_RX_RESPONSE);
  CHECK(last_ev()->t == can);
  CHECK_EQ_INT(sip_txn_state_of(can), SIP_TXN_COMPLETED);
  CHECK_EQ_INT(sip_txn_state_of(inv), SIP_TXN_PROCEEDING);
  CHECK_EQ_INT(rx(x, rsp(487, VIA_C, 5, "INVITE", "bt"), &to, 310), SIP_RX_RESPONSE);
  CHECK(last_ev()->t == inv);
  CHECK_EQ_INT(last_ev()->status, 487);
  CHECK(sent_starts(F.ns - 1, "ACK "));
  run_until(x, 100000);
  CHECK_EQ_INT(live(x), 0);
  CHECK_EQ_INT(count_ev(E_TERM), 2);
  done(x);
}

/* ---- client non-INVITE (§17.1.2) ---- */

TEST(client_non_invite_timer_e_doubles_up_to_t2_then_timer_f_408) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer to = peer(SIP_PROTO_UDP, "192.0.2.10", 5060, 0);
  sip_txn *t = start(x, req("OPTIONS", VIA_C, 1, NULL, NULL), &to, 0);
  CHECK_EQ_INT(sip_txn_state_of(t), SIP_TXN_TRYING);
  static const uint64_t at[] = {500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500};
  for (int i = 0; i < 10; i++) {
    CHECK_EQ_INT(sip_txl_next_deadline(x), at[i]);
    sip_txl_advance(x, at[i]);
    CHECK_EQ_INT(F.ns, 2 + i);
  }
  sip_txl_advance(x, 32000);
  CHECK_EQ_INT(F.ns, 11);
  CHECK_EQ_INT(count_ev(E_ERR), 1);
  CHECK_EQ_INT(F.e[0].code, 408);
  CHECK_EQ_INT(live(x), 0);
  done(x);
}

TEST(client_non_invite_proceeding_retransmits_every_t2) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer to = peer(SIP_PROTO_UDP, "192.0.2.10", 5060, 0);
  sip_txn *t = start(x, req("REGISTER", VIA_C, 1, NULL, NULL), &to, 0);
  CHECK_EQ_INT(rx(x, rsp(100, VIA_C, 1, "REGISTER", NULL), &to, 100), SIP_RX_RESPONSE);
  CHECK_EQ_INT(sip_txn_state_of(t), SIP_TXN_PROCEEDING);
  sip_txl_advance(x, 500); /* the pending E fires, then E = T2 */
  CHECK_EQ_INT(F.ns, 2);
  CHECK_EQ_INT(sip_txl_next_deadline(x), 4500);
  sip_txl_advance(x, 4500);
  CHECK_EQ_INT(sip_txl_next_deadline(x), 8500);
  CHECK_EQ_INT(rx(x, rsp(200, VIA_C, 1, "REGISTER", "r"), &to, 5000), SIP_RX_RESPONSE);
  CHECK_EQ_INT(sip_txn_state_of(t), SIP_TXN_COMPLETED);
  CHECK_EQ_INT(count_ev(E_RSP), 2);
  /* Completed: retransmissions absorbed; K = T4 */
  CHECK_EQ_INT(rx(x, rsp(200, VIA_C, 1, "REGISTER", "r"), &to, 6000), SIP_RX_ABSORBED);
  CHECK_EQ_INT(count_ev(E_RSP), 2);
  CHECK_EQ_INT(sip_txl_next_deadline(x), 10000);
  sip_txl_advance(x, 9999);
  CHECK_EQ_INT(live(x), 1);
  sip_txl_advance(x, 10000);
  CHECK_EQ_INT(live(x), 0);
  CHECK_EQ_INT(F.ns, 3);
  done(x);
}

TEST(client_non_invite_over_tcp_timer_k_is_zero) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer to = peer(SIP_PROTO_TLS, "192.0.2.10", 5061, 9);
  const char *via = "SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKtls1";
  sip_txn *t = start(x, req("OPTIONS", via, 1, NULL, NULL), &to, 0);
  CHECK_EQ_INT(sip_txl_next_deadline(x), 32000); /* F only */
  CHECK_EQ_INT(rx(x, rsp(200, via, 1, "OPTIONS", "r"), &to, 10), SIP_RX_RESPONSE);
  CHECK_EQ_INT(sip_txn_state_of(t), SIP_TXN_COMPLETED);
  CHECK_EQ_INT(sip_txl_next_deadline(x), 10);
  sip_txl_advance(x, 10);
  CHECK_EQ_INT(live(x), 0);
  CHECK_EQ_INT(F.ns, 1);
  done(x);
}

/* ---- server INVITE (§17.2.1, RFC 6026) ---- */

TEST(server_invite_sends_100_trying_after_200ms_and_absorbs_retransmissions) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer from = peer(SIP_PROTO_UDP, "10.0.0.1", 5060, 0);
  CHECK_EQ_INT(rx(x, req("INVITE", VIA_S, 1, NULL, NULL), &from, 1000), SIP_RX_REQUEST);
  CHECK_EQ_INT(F.ne, 1);
  CHECK_EQ_INT(F.e[0].type, E_REQ);
  CHECK_EQ_INT(F.e[0].method, SIP_M_INVITE);
  sip_txn *st = F.last_st;
  CHECK_EQ_INT(sip_txn_kind_of(st), SIP_TXN_SERVER_INVITE);
  CHECK_EQ_INT(sip_txn_state_of(st), SIP_TXN_PROCEEDING);
  CHECK(sip_txn_via_fix(st)->received == NULL); /* sent-by is the source */
  sip_txl_advance(x, 1199);
  CHECK_EQ_INT(F.ns, 0);
  sip_txl_advance(x, 1200);
  CHECK_EQ_INT(F.ns, 1);
  CHECK(sent_starts(0, "SIP/2.0 100 Trying\r\n"));
  CHECK(!sent_has(0, "tag=tt1"));
  CHECK(sent_has(0, "branch=z9hG4bKserver1"));
  CHECK_EQ_INT(port_of(&F.s[0].to), 5060);
  CHECK(strcmp(ip_of(&F.s[0].to), "10.0.0.1") == 0);
  /* a retransmission gets the 100 again, the TU sees nothing */
  CHECK_EQ_INT(rx(x, req("INVITE", VIA_S, 1, NULL, NULL), &from, 1500), SIP_RX_ABSORBED);
  CHECK_EQ_INT(F.ns, 2);
  CHECK(sent_starts(1, "SIP/2.0 100 Trying"));
  CHECK_EQ_INT(F.ne, 1);
  /* the TU's 180 replaces it */
  CHECK_EQ_INT(respond(st, 180, 1600), SIP_TXN_OK);
  CHECK_EQ_INT(rx(x, req("INVITE", VIA_S, 1, NULL, NULL), &from, 2000), SIP_RX_ABSORBED);
  CHECK(sent_starts(F.ns - 1, "SIP/2.0 180 "));
  CHECK_EQ_INT(stats(x).absorbed, 2);
  CHECK_EQ_INT(sip_txl_next_deadline(x), UINT64_MAX); /* Proceeding has no timer: the TU decides */
  sip_txn_terminate(st, 3000);
  sip_txl_advance(x, 3000);
  CHECK_EQ_INT(live(x), 0);
  done(x);
}

TEST(server_invite_no_100_when_the_tu_answers_within_200ms) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer from = peer(SIP_PROTO_UDP, "10.0.0.1", 5060, 0);
  F.auto_status = 180;
  CHECK_EQ_INT(rx(x, req("INVITE", VIA_S, 1, NULL, NULL), &from, 0), SIP_RX_REQUEST);
  CHECK_EQ_INT(F.ns, 1);
  CHECK(sent_starts(0, "SIP/2.0 180 "));
  CHECK(sent_has(0, "tag=tt1"));
  sip_txl_advance(x, 1000);
  CHECK_EQ_INT(F.ns, 1);
  CHECK_EQ_INT(sip_txn_state_of(F.last_st), SIP_TXN_PROCEEDING);
  done(x); /* freed with a live transaction: ASan checks nothing leaks */
}

TEST(server_invite_non_2xx_timer_g_up_to_t2_then_timer_h_408) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer from = peer(SIP_PROTO_UDP, "10.0.0.1", 5060, 0);
  F.auto_status = 486;
  rx(x, req("INVITE", VIA_S, 1, NULL, NULL), &from, 0);
  sip_txn *st = F.last_st;
  CHECK_EQ_INT(sip_txn_state_of(st), SIP_TXN_COMPLETED);
  CHECK_EQ_INT(F.ns, 1);
  CHECK(sent_starts(0, "SIP/2.0 486 "));
  /* G: 500, 1000, 2000, 4000, 4000 ... */
  static const uint64_t at[] = {500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500};
  for (int i = 0; i < 10; i++) {
    CHECK_EQ_INT(sip_txl_next_deadline(x), at[i]);
    sip_txl_advance(x, at[i]);
    CHECK_EQ_INT(F.ns, 2 + i);
    CHECK(sent_starts(F.ns - 1, "SIP/2.0 486 "));
  }
  CHECK_EQ_INT(sip_txl_next_deadline(x), 32000);
  sip_txl_advance(x, 32000);
  CHECK_EQ_INT(count_ev(E_ERR), 1);
  CHECK_EQ_INT(F.e[1].code, 408);
  CHECK(F.e[1].t == st);
  CHECK_EQ_INT(last_ev()->type, E_TERM);
  CHECK_EQ_INT(live(x), 0);
  CHECK_EQ_INT(stats(x).retransmitted, 10);
  done(x);
}

TEST(server_invite_ack_confirms_and_timer_i_ends_it) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer from = peer(SIP_PROTO_UDP, "10.0.0.1", 5060, 0);
  rx(x, req("INVITE", VIA_S, 1, NULL, NULL), &from, 0);
  sip_txn *st = F.last_st;
  CHECK_EQ_INT(respond(st, 486, 10), SIP_TXN_OK);
  CHECK_EQ_INT(respond(st, 200, 20), SIP_TXN_EREFUSED); /* after the final */
  CHECK_EQ_INT(respond(st, 180, 20), SIP_TXN_EREFUSED);
  CHECK_EQ_INT(F.ns, 1);
  /* the INVITE again: the 486 again */
  CHECK_EQ_INT(rx(x, req("INVITE", VIA_S, 1, NULL, NULL), &from, 100), SIP_RX_ABSORBED);
  CHECK_EQ_INT(F.ns, 2);
  CHECK(sent_starts(1, "SIP/2.0 486 "));
  /* the ACK (same branch: §17.1.1.3) matches the INVITE transaction */
  CHECK_EQ_INT(rx(x, req("ACK", VIA_S, 1, NULL, "tt1"), &from, 200), SIP_RX_ABSORBED);
  CHECK_EQ_INT(sip_txn_state_of(st), SIP_TXN_CONFIRMED);
  CHECK_EQ_INT(count_ev(E_ACK), 0);
  CHECK_EQ_INT(rx(x, req("ACK", VIA_S, 1, NULL, "tt1"), &from, 300), SIP_RX_ABSORBED);
  CHECK_EQ_INT(rx(x, req("INVITE", VIA_S, 1, NULL, NULL), &from, 310), SIP_RX_ABSORBED);
  sip_txl_advance(x, 4000); /* G stopped */
  CHECK_EQ_INT(F.ns, 2);
  CHECK_EQ_INT(sip_txl_next_deadline(x), 5200); /* I = T4 */
  sip_txl_advance(x, 5200);
  CHECK_EQ_INT(live(x), 0);
  CHECK_EQ_INT(count_ev(E_ERR), 0);
  CHECK_EQ_INT(F.ne, 2); /* the INVITE, the end */
  done(x);
}

TEST(server_invite_over_tcp_no_timer_g_and_timer_i_zero) {
  sip_txl *x = layer(0, 0, 0);
  const char *via = "SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKtcps";
  sip_peer from = peer(SIP_PROTO_TCP, "10.0.0.1", 40123, 11);
  F.auto_status = 404;
  rx(x, req("INVITE", via, 1, NULL, NULL), &from, 0);
  sip_txn *st = F.last_st;
  CHECK_EQ_INT(F.ns, 1);
  CHECK_EQ_INT(F.s[0].to.conn, 11);
  CHECK_EQ_INT(F.s[0].to.proto, SIP_PROTO_TCP);
  CHECK_EQ_INT(sip_txl_next_deadline(x), 32000); /* H only */
  CHECK_EQ_INT(rx(x, req("ACK", via, 1, NULL, "tt1"), &from, 50), SIP_RX_ABSORBED);
  CHECK_EQ_INT(sip_txn_state_of(st), SIP_TXN_CONFIRMED);
  CHECK_EQ_INT(sip_txl_next_deadline(x), 50);
  sip_txl_advance(x, 50);
  CHECK_EQ_INT(live(x), 0);
  done(x);
}

TEST(server_invite_accepted_absorbs_invites_forwards_tu_2xx_and_passes_ack_rfc6026) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer from = peer(SIP_PROTO_UDP, "10.0.0.1", 5060, 0);
  rx(x, req("INVITE", VIA_S, 1, NULL, NULL), &from, 0);
  sip_txn *st = F.last_st;
  CHECK_EQ_INT(respond(st, 200, 100), SIP_TXN_OK);
  CHECK_EQ_INT(sip_txn_state_of(st), SIP_TXN_ACCEPTED);
  CHECK_EQ_INT(F.ns, 1);
  sip_txl_advance(x, 600); /* no G for 2xx */
  CHECK_EQ_INT(F.ns, 1);
  /* INVITE retransmission: absorbed, not answered (the TU retransmits the 2xx itself) */
  CHECK_EQ_INT(rx(x, req("INVITE", VIA_S, 1, NULL, NULL), &from, 600), SIP_RX_ABSORBED);
  CHECK_EQ_INT(F.ns, 1);
  CHECK_EQ_INT(F.ne, 1);
  CHECK_EQ_INT(respond(st, 200, 700), SIP_TXN_OK); /* the TU's retransmission goes through */
  CHECK_EQ_INT(F.ns, 2);
  CHECK(sent_starts(1, "SIP/2.0 200 "));
  CHECK_EQ_INT(respond(st, 486, 700), SIP_TXN_EREFUSED);
  CHECK_EQ_INT(respond(st, 180, 700), SIP_TXN_EREFUSED);
  /* the 2xx ACK: its own branch, no transaction: to the TU */
  CHECK_EQ_INT(
    rx(x, req("ACK", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKack2", 1, NULL, "tt1"), &from, 800),
    SIP_RX_ACK);
  CHECK_EQ_INT(last_ev()->type, E_ACK);
  CHECK(last_ev()->t == NULL);
  /* an ACK reusing the INVITE's branch while Accepted also belongs to the TU */
  CHECK_EQ_INT(rx(x, req("ACK", VIA_S, 1, NULL, "tt1"), &from, 900), SIP_RX_ACK);
  CHECK_EQ_INT(count_ev(E_ACK), 2);
  CHECK_EQ_INT(sip_txl_next_deadline(x), 100 + 32000); /* Timer L */
  sip_txl_advance(x, 32100);
  CHECK_EQ_INT(live(x), 0);
  CHECK_EQ_INT(count_ev(E_ERR), 0);
  done(x);
}

TEST(server_transport_error_on_respond_terminates) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer from = peer(SIP_PROTO_UDP, "10.0.0.1", 5060, 0);
  rx(x, req("OPTIONS", VIA_S, 1, NULL, NULL), &from, 0);
  sip_txn *st = F.last_st;
  F.fail_send = 1;
  CHECK_EQ_INT(respond(st, 200, 10), SIP_TXN_ETRANSPORT);
  CHECK_EQ_INT(sip_txn_state_of(st), SIP_TXN_TERMINATED);
  CHECK_EQ_INT(respond(st, 200, 10), SIP_TXN_EREFUSED);
  sip_txl_advance(x, 10);
  CHECK_EQ_INT(last_ev()->type, E_TERM);
  CHECK_EQ_INT(live(x), 0);
  CHECK(strcmp(sip_txn_strerror(SIP_TXN_ETRANSPORT), "transport error") == 0);
  done(x);
}

TEST(server_respond_rejects_requests_and_garbage) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer from = peer(SIP_PROTO_UDP, "10.0.0.1", 5060, 0);
  rx(x, req("OPTIONS", VIA_S, 1, NULL, NULL), &from, 0);
  sip_txn *st = F.last_st;
  const char *m = req("OPTIONS", VIA_S, 1, NULL, NULL);
  CHECK_EQ_INT(sip_txn_respond(st, m, strlen(m), 0), SIP_TXN_EINVAL);
  CHECK_EQ_INT(sip_txn_respond(st, "hello", 5, 0), SIP_TXN_EINVAL);
  CHECK_EQ_INT(F.ns, 0);
  /* a client transaction is not answered */
  sip_peer to = peer(SIP_PROTO_UDP, "192.0.2.10", 5060, 0);
  sip_txn *ct = start(x, req("OPTIONS", VIA_C, 1, NULL, NULL), &to, 0);
  m = rsp(200, VIA_C, 1, "OPTIONS", NULL);
  CHECK_EQ_INT(sip_txn_respond(ct, m, strlen(m), 0), SIP_TXN_EREFUSED);
  done(x);
}

/* ---- server non-INVITE (§17.2.2) ---- */

TEST(server_non_invite_trying_proceeding_completed_timer_j) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer from = peer(SIP_PROTO_UDP, "10.0.0.1", 5060, 0);
  CHECK_EQ_INT(rx(x, req("OPTIONS", VIA_S, 1, NULL, NULL), &from, 0), SIP_RX_REQUEST);
  sip_txn *st = F.last_st;
  CHECK_EQ_INT(sip_txn_kind_of(st), SIP_TXN_SERVER_NONINVITE);
  CHECK_EQ_INT(sip_txn_state_of(st), SIP_TXN_TRYING);
  size_t n = 0;
  CHECK_EQ_INT(sip_txl_next_deadline(x), UINT64_MAX); /* no 100 for non-INVITE */
  /* Trying: a retransmission is absorbed with no answer */
  CHECK_EQ_INT(rx(x, req("OPTIONS", VIA_S, 1, NULL, NULL), &from, 500), SIP_RX_ABSORBED);
  CHECK_EQ_INT(F.ns, 0);
  CHECK_EQ_INT(respond(st, 100, 600), SIP_TXN_OK);
  CHECK_EQ_INT(sip_txn_state_of(st), SIP_TXN_PROCEEDING);
  CHECK_EQ_INT(rx(x, req("OPTIONS", VIA_S, 1, NULL, NULL), &from, 1500), SIP_RX_ABSORBED);
  CHECK_EQ_INT(F.ns, 2);
  CHECK(sent_starts(1, "SIP/2.0 100 "));
  size_t held = stats(x).bytes, reqlen;
  CHECK(sip_txn_request(st, &reqlen) != NULL && held >= sip_txn_overhead() + reqlen);
  CHECK_EQ_INT(respond(st, 200, 2000), SIP_TXN_OK);
  CHECK_EQ_INT(sip_txn_state_of(st), SIP_TXN_COMPLETED);
  CHECK(sip_txn_request(st, &n) == NULL && n == 0); /* nothing needs it after the final */
  /* Timer J keeps what absorbs a retransmission: the struct, its key and the last response */
  CHECK_EQ_INT(stats(x).bytes, held - reqlen - F.s[1].len + F.s[2].len);
  CHECK_EQ_INT(respond(st, 500, 2000), SIP_TXN_EREFUSED);
  CHECK_EQ_INT(rx(x, req("OPTIONS", VIA_S, 1, NULL, NULL), &from, 3500), SIP_RX_ABSORBED);
  CHECK_EQ_INT(F.ns, 4);
  CHECK(sent_starts(3, "SIP/2.0 200 "));
  CHECK(sip_txn_last_response(st, &n) != NULL && n == F.s[3].len);
  CHECK_EQ_INT(F.ne, 1);
  CHECK_EQ_INT(stats(x).absorbed, 3);
  CHECK_EQ_INT(sip_txl_next_deadline(x), 2000 + 32000); /* J = 64*T1 */
  sip_txl_advance(x, 34000);
  CHECK_EQ_INT(live(x), 0);
  CHECK_EQ_INT(stats(x).bytes, 0);
  /* after J the same request is a new transaction */
  CHECK_EQ_INT(rx(x, req("OPTIONS", VIA_S, 1, NULL, NULL), &from, 40000), SIP_RX_REQUEST);
  done(x);
}

TEST(server_non_invite_over_tcp_timer_j_zero) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer from = peer(SIP_PROTO_TCP, "10.0.0.1", 40000, 5);
  F.auto_status = 200;
  F.now = 77;
  rx(x, req("REGISTER", "SIP/2.0/TCP 10.0.0.1;branch=z9hG4bKreg", 1, NULL, NULL), &from, 77);
  CHECK_EQ_INT(F.ns, 1);
  CHECK_EQ_INT(F.s[0].to.conn, 5);
  CHECK_EQ_INT(port_of(&F.s[0].to), 5060); /* no rport: the sent-by port (default) */
  CHECK_EQ_INT(sip_txl_next_deadline(x), 77);
  sip_txl_advance(x, 77);
  CHECK_EQ_INT(live(x), 0);
  done(x);
}

/* ---- matching (§17.1.3, §17.2.3, §9.2) ---- */

TEST(server_matching_by_branch_sent_by_and_method) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer from = peer(SIP_PROTO_UDP, "10.0.0.1", 5060, 0);
  CHECK_EQ_INT(rx(x, req("INVITE", VIA_S, 1, NULL, NULL), &from, 0), SIP_RX_REQUEST);
  sip_txn *inv = F.last_st;
  /* same branch, other method: another transaction */
  CHECK_EQ_INT(rx(x, req("CANCEL", VIA_S, 1, NULL, NULL), &from, 10), SIP_RX_REQUEST);
  sip_txn *can = F.last_st;
  CHECK(can != inv);
  CHECK_EQ_INT(sip_txn_kind_of(can), SIP_TXN_SERVER_NONINVITE);
  CHECK(sip_txn_cancelled_invite(can) == inv);
  CHECK(sip_txn_cancelled_invite(inv) == NULL);
  CHECK_EQ_INT(rx(x, req("CANCEL", VIA_S, 1, NULL, NULL), &from, 20), SIP_RX_ABSORBED);
  /* same branch, other sent-by: another transaction; host compared case-insensitively */
  CHECK_EQ_INT(
    rx(x, req("INVITE", "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKserver1", 1, NULL, NULL), &from,
       30),
    SIP_RX_REQUEST);
  CHECK_EQ_INT(
    rx(x, req("INVITE", "SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKserver1", 1, NULL, NULL), &from,
       30),
    SIP_RX_REQUEST);
  CHECK_EQ_INT(rx(x, req("OPTIONS", "SIP/2.0/UDP Host.Example:5060;branch=z9hG4bKh", 1, NULL, NULL),
                  &from, 40),
               SIP_RX_REQUEST);
  CHECK_EQ_INT(rx(x, req("OPTIONS", "SIP/2.0/UDP host.example:5060;branch=z9hG4bKh", 1, NULL, NULL),
                  &from, 40),
               SIP_RX_ABSORBED);
  /* a CANCEL for an unknown INVITE */
  CHECK_EQ_INT(
    rx(x, req("CANCEL", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKnone", 1, NULL, NULL), &from, 50),
    SIP_RX_REQUEST);
  CHECK(sip_txn_cancelled_invite(F.last_st) == NULL);
  CHECK_EQ_INT(count_ev(E_REQ), 6);
  CHECK_EQ_INT(stats(x).live[SIP_TXN_SERVER_INVITE], 3);
  CHECK_EQ_INT(stats(x).live[SIP_TXN_SERVER_NONINVITE], 3);
  /* after the INVITE is answered and gone, the CANCEL no longer finds it */
  F.now = 60;
  CHECK_EQ_INT(respond(inv, 487, 60), SIP_TXN_OK);
  CHECK(sip_txn_cancelled_invite(can) == inv); /* Completed still matches */
  sip_txn_terminate(inv, 70);
  CHECK(sip_txn_cancelled_invite(can) == NULL);
  done(x);
}

TEST(server_rfc2543_fallback_matching) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer from = peer(SIP_PROTO_UDP, "10.0.0.1", 5060, 0);
  const char *via = "SIP/2.0/UDP 10.0.0.1:5060;branch=oldstyle1";
  CHECK_EQ_INT(rx(x, req("INVITE", via, 3, NULL, NULL), &from, 0), SIP_RX_REQUEST);
  sip_txn *st = F.last_st;
  CHECK_EQ_INT(rx(x, req("INVITE", via, 3, NULL, NULL), &from, 500), SIP_RX_ABSORBED);
  /* no branch at all */
  const char *via0 = "SIP/2.0/UDP 10.0.0.1:5060";
  CHECK_EQ_INT(rx(x, req("INVITE", via0, 3, NULL, NULL), &from, 600), SIP_RX_REQUEST);
  CHECK(F.last_st != st);
  CHECK_EQ_INT(rx(x, req("INVITE", via0, 3, NULL, NULL), &from, 700), SIP_RX_ABSORBED);
  /* another CSeq, another To tag: new transactions */
  CHECK_EQ_INT(rx(x, req("INVITE", via, 4, NULL, NULL), &from, 800), SIP_RX_REQUEST);
  CHECK_EQ_INT(rx(x, req("INVITE", via, 3, NULL, "other"), &from, 900), SIP_RX_REQUEST);
  /* a CANCEL finds its INVITE by the same fields */
  CHECK_EQ_INT(rx(x, req("CANCEL", via, 3, NULL, NULL), &from, 1000), SIP_RX_REQUEST);
  CHECK(sip_txn_cancelled_invite(F.last_st) == st);
  /* the ACK matches with the To tag of our response */
  CHECK_EQ_INT(respond(st, 486, 1100), SIP_TXN_OK);
  CHECK_EQ_INT(rx(x, req("ACK", via, 3, NULL, "wrong"), &from, 1200), SIP_RX_ACK);
  CHECK_EQ_INT(sip_txn_state_of(st), SIP_TXN_COMPLETED);
  CHECK_EQ_INT(rx(x, req("ACK", via, 3, NULL, "tt1"), &from, 1300), SIP_RX_ABSORBED);
  CHECK_EQ_INT(sip_txn_state_of(st), SIP_TXN_CONFIRMED);
  done(x);
}

TEST(client_matching_needs_branch_and_cseq_method) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer to = peer(SIP_PROTO_UDP, "192.0.2.10", 5060, 0);
  sip_txn *t = start(x, req("OPTIONS", VIA_C, 1, NULL, NULL), &to, 0);
  CHECK_EQ_INT(rx(x, rsp(200, VIA_C, 1, "INFO", NULL), &to, 10), SIP_RX_STRAY);
  CHECK_EQ_INT(
    rx(x, rsp(200, "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKother", 1, "OPTIONS", NULL), &to, 10),
    SIP_RX_STRAY);
  CHECK_EQ_INT(rx(x, rsp(200, "SIP/2.0/UDP 10.0.0.1:5060", 1, "OPTIONS", NULL), &to, 10),
               SIP_RX_STRAY);
  CHECK_EQ_INT(count_ev(E_STRAY), 3);
  CHECK_EQ_INT(sip_txn_state_of(t), SIP_TXN_TRYING);
  CHECK_EQ_INT(rx(x, rsp(200, VIA_C, 1, "OPTIONS", NULL), &to, 10), SIP_RX_RESPONSE);
  CHECK_EQ_INT(stats(x).stray, 3);
  done(x);
}

/* ---- malformed input (§8.2, §16.3, §21.4.x) ---- */

TEST(malformed_request_gets_400_naming_the_problem) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer from = peer(SIP_PROTO_UDP, "10.0.0.1", 5099, 0);
  const char *m =
    "OPTIONS sip:bob@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKbad1\r\n"
    "From: <sip:alice@example.com>;tag=1\r\n"
    "To: <sip:bob@example.com>\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "Content-Length: 0\r\n\r\n";
  CHECK_EQ_INT(rx(x, m, &from, 0), SIP_RX_BAD);
  CHECK_EQ_INT(F.ne, 0);
  CHECK_EQ_INT(F.ns, 1);
  CHECK(sent_starts(0, "SIP/2.0 400 "));
  /* the reason phrase names the problem: "400 Missing Call-ID header" */
  const char *eol = F.ns ? strstr(F.s[0].buf, "\r\n") : NULL;
  CHECK(eol && memmem(F.s[0].buf, (size_t)(eol - F.s[0].buf), "Call-ID", 7) != NULL);
  if (eol) printf("# %.*s\n", (int)(eol - F.s[0].buf), F.s[0].buf);
  CHECK(sent_has(0, "branch=z9hG4bKbad1"));
  CHECK(sent_has(0, "tag="));
  CHECK_EQ_INT(port_of(&F.s[0].to), 5099); /* back where it came from */
  CHECK_EQ_INT(live(x), 0);
  CHECK_EQ_INT(stats(x).bad_requests, 1);
  done(x);
}

TEST(cseq_method_mismatch_gets_400) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer from = peer(SIP_PROTO_UDP, "10.0.0.1", 5060, 0);
  CHECK_EQ_INT(rx(x, req("INVITE", VIA_S, 1, "OPTIONS", NULL), &from, 0), SIP_RX_BAD);
  CHECK_EQ_INT(F.ns, 1);
  CHECK(sent_starts(0, "SIP/2.0 400 "));
  CHECK_EQ_INT(F.ne, 0);
  done(x);
}

TEST(unknown_version_gets_505) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer from = peer(SIP_PROTO_UDP, "10.0.0.1", 5060, 0);
  const char *m =
    "OPTIONS sip:bob@example.com SIP/7.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKv7\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:alice@example.com>;tag=1\r\n"
    "To: <sip:bob@example.com>\r\n"
    "Call-ID: v7@10.0.0.1\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "Content-Length: 0\r\n\r\n";
  CHECK_EQ_INT(rx(x, m, &from, 0), SIP_RX_BAD);
  CHECK_EQ_INT(F.ns, 1);
  CHECK(sent_starts(0, "SIP/2.0 505 "));
  CHECK(sent_has(0, "branch=z9hG4bKv7"));
  CHECK_EQ_INT(F.ne, 0);
  done(x);
}

TEST(bad_request_line_is_still_answered_from_the_headers) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer from = peer(SIP_PROTO_UDP, "10.0.0.1", 5060, 0);
  const char *m =
    "INVITE <sip:bob@example.com> SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKruri\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:alice@example.com>;tag=1\r\n"
    "To: <sip:bob@example.com>\r\n"
    "Call-ID: ruri@10.0.0.1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Content-Length: 0\r\n\r\n";
  CHECK_EQ_INT(rx(x, m, &from, 0), SIP_RX_BAD);
  CHECK_EQ_INT(F.ns, 1);
  CHECK(sent_starts(0, "SIP/2.0 400 "));
  CHECK(sent_has(0, "branch=z9hG4bKruri"));
  CHECK(sent_has(0, "CSeq: 1 INVITE"));
  CHECK(sent_has(0, "Call-ID: ruri@10.0.0.1"));
  CHECK_EQ_INT(F.ne, 0);
  CHECK_EQ_INT(live(x), 0);
  done(x);
}

TEST(stream_request_without_content_length_gets_400_on_its_connection) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer from = peer(SIP_PROTO_TCP, "10.0.0.1", 41000, 4);
  const char *m =
    "OPTIONS sip:bob@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKnocl\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:alice@example.com>;tag=1\r\n"
    "To: <sip:bob@example.com>\r\n"
    "Call-ID: nocl@10.0.0.1\r\n"
    "CSeq: 1 OPTIONS\r\n\r\n";
  CHECK_EQ_INT(rx(x, m, &from, 0), SIP_RX_BAD);
  CHECK_EQ_INT(F.ns, 1);
  CHECK(sent_starts(0, "SIP/2.0 400 "));
  CHECK(sent_has(0, "Content-Length"));
  CHECK_EQ_INT(F.s[0].to.conn, 4);
  CHECK_EQ_INT(F.ne, 0);
  done(x);
}

TEST(malformed_ack_and_requests_without_via_are_not_answered) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer from = peer(SIP_PROTO_UDP, "10.0.0.1", 5060, 0);
  const char *ack =
    "ACK sip:bob@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\r\n"
    "From: <sip:alice@example.com>;tag=1\r\n"
    "To: <sip:bob@example.com>;tag=2\r\n"
    "CSeq: 1 ACK\r\n"
    "Content-Length: 0\r\n\r\n";
  CHECK_EQ_INT(rx(x, ack, &from, 0), SIP_RX_BAD);
  const char *novia =
    "OPTIONS sip:bob@example.com SIP/2.0\r\n"
    "From: <sip:alice@example.com>;tag=1\r\n"
    "To: <sip:bob@example.com>\r\n"
    "Call-ID: nv@10.0.0.1\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "Content-Length: 0\r\n\r\n";
  CHECK_EQ_INT(rx(x, novia, &from, 0), SIP_RX_BAD);
  CHECK_EQ_INT(rx(x, "\r\n\r\n", &from, 0), SIP_RX_IGNORED); /* keepalive */
  CHECK_EQ_INT(F.ns, 0);
  CHECK_EQ_INT(F.ne, 0);
  CHECK_EQ_INT(stats(x).bad_requests, 2);
  done(x);
}

TEST(malformed_responses_are_dropped_silently) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer to = peer(SIP_PROTO_UDP, "192.0.2.10", 5060, 0);
  sip_txn *t = start(x, req("OPTIONS", VIA_C, 1, NULL, NULL), &to, 0);
  static const char *bad[] = {
    "SIP/2.0 2000 OK\r\nVia: " VIA_C "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    "SIP/2.0 abc OK\r\nVia: " VIA_C "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    "SIP/2.0 200 OK\r\nVia: " VIA_C "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 99\r\n\r\n",
    "garbage",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_EQ_INT(rx(x, bad[i], &to, 10), SIP_RX_BAD);
  CHECK_EQ_INT(F.ns, 1);
  CHECK_EQ_INT(F.ne, 0);
  CHECK_EQ_INT(sip_txn_state_of(t), SIP_TXN_TRYING);
  CHECK(stats(x).bad_responses >= 3); /* "garbage" may count as neither */
  done(x);
}

/* ---- RFC 3581 and §18.2.2 ---- */

TEST(rport_and_received_recorded_and_used_rfc3581) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer from = peer(SIP_PROTO_UDP, "192.0.2.1", 40000, 0);
  rx(x, req("INVITE", "SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bKnat", 1, NULL, NULL), &from,
     0);
  sip_txn *st = F.last_st;
  const sip_via_fix *fx = sip_txn_via_fix(st);
  CHECK(fx->received && strcmp(fx->received, "192.0.2.1") == 0);
  CHECK_EQ_INT(fx->rport, 40000);
  sip_txl_advance(x, 200); /* the 100 carries them */
  CHECK_EQ_INT(F.ns, 1);
  CHECK(sent_has(0, "received=192.0.2.1"));
  CHECK(sent_has(0, "rport=40000"));
  CHECK_EQ_INT(port_of(&F.s[0].to), 40000);
  CHECK(strcmp(ip_of(&F.s[0].to), "192.0.2.1") == 0);
  /* without rport: received, and the sent-by port (§18.2.2) */
  rx(x, req("OPTIONS", "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKnat2", 1, NULL, NULL), &from, 0);
  st = F.last_st;
  fx = sip_txn_via_fix(st);
  CHECK(fx->received && strcmp(fx->received, "192.0.2.1") == 0);
  CHECK_EQ_INT(fx->rport, 0);
  CHECK_EQ_INT(respond(st, 200, 10), SIP_TXN_OK);
  CHECK_EQ_INT(port_of(&F.s[1].to), 5070);
  CHECK(sent_has(1, "received=192.0.2.1"));
  /* sent-by is the source: nothing to add; IPv6 compared without brackets */
  sip_peer from6 = peer(SIP_PROTO_UDP, "2001:db8::1", 5060, 0);
  rx(x, req("OPTIONS", "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK6", 1, NULL, NULL), &from6, 0);
  CHECK(sip_txn_via_fix(F.last_st)->received == NULL);
  rx(x, req("OPTIONS", "SIP/2.0/UDP [2001:db8::1];rport;branch=z9hG4bK7", 1, NULL, NULL), &from6,
     0);
  CHECK(sip_txn_via_fix(F.last_st)->received &&
        strcmp(sip_txn_via_fix(F.last_st)->received, "2001:db8::1") == 0);
  CHECK_EQ_INT(sip_txn_via_fix(F.last_st)->rport, 5060);
  done(x);
}

/* ---- the gate (sip_gate.h, §8.2.7) ---- */

static sip_gate *register_gate(void) {
  sip_digest_challenge ch;
  memset(&ch, 0, sizeof ch);
  ch.realm = SIP_STR_LIT("example.com");
  ch.alg = SIP_DIGEST_MD5;
  static const sip_str host = SIP_STR_LIT("example.com");
  sip_gate_config c = {1u << SIP_M_REGISTER,
                       401,
                       NULL,
                       "WWW-Authenticate",
                       SIP_H_AUTHORIZATION,
                       "k",
                       1,
                       &ch,
                       1,
                       &host,
                       1};
  const char *err;
  return sip_gate_new(&c, &err);
}

TEST(gate_answers_a_new_request_without_a_transaction_along_the_via) {
  sip_txl *x = layer(0, 0, 0);
  sip_txl_set_gate(x, register_gate());
  sip_peer from = peer(SIP_PROTO_UDP, "192.0.2.1", 40000, 0);
  /* RFC 3581: a bare rport, so the answer goes to the source port, with received and rport */
  CHECK_EQ_INT(rx(x, req("REGISTER", VIA_C ";rport", 1, NULL, NULL), &from, 1000), SIP_RX_GATED);
  CHECK_EQ_INT(F.ns, 1);
  CHECK(sent_starts(0, "SIP/2.0 401 Unauthorized\r\n"));
  CHECK(sent_has(0, ";received=192.0.2.1;rport=40000\r\n"));
  CHECK(sent_has(0, "WWW-Authenticate: Digest realm=\"example.com\", nonce=\""));
  CHECK_EQ_INT(port_of(&F.s[0].to), 40000);
  CHECK_EQ_INT(F.ne, 0); /* the TU saw nothing */
  CHECK_EQ_INT(live(x), 0);
  CHECK_EQ_INT(stats(x).created, 0);
  CHECK_EQ_INT(stats(x).gated, 1);
  /* without rport, to the sent-by port (§18.2.2) */
  CHECK_EQ_INT(rx(x, req("REGISTER", VIA_S, 1, NULL, NULL), &from, 1000), SIP_RX_GATED);
  CHECK_EQ_INT(port_of(&F.s[1].to), 5060);
  /* with credentials the TU decides; other methods are the TU's */
  F.auto_status = 200;
  const char *withcred = req("REGISTER", VIA_C "x", 2, NULL, NULL);
  static char b[4096];
  snprintf(b, sizeof b, "%.*sAuthorization: Digest username=\"bob\"\r\n%s",
           (int)(strstr(withcred, "Content-Length") - withcred), withcred,
           strstr(withcred, "Content-Length"));
  CHECK_EQ_INT(rx(x, b, &from, 1000), SIP_RX_REQUEST);
  CHECK_EQ_INT(rx(x, req("OPTIONS", VIA_C "y", 1, NULL, NULL), &from, 1000), SIP_RX_REQUEST);
  CHECK_EQ_INT(stats(x).gated, 2);
  /* removed: the TU gets every request */
  sip_txl_set_gate(x, NULL);
  CHECK_EQ_INT(rx(x, req("REGISTER", VIA_C "z", 1, NULL, NULL), &from, 1000), SIP_RX_REQUEST);
  CHECK_EQ_INT(stats(x).gated, 2);
  run_until(x, 100000);
  done(x);
}

/* ---- lifetime, scale, memory ---- */

TEST(free_with_transactions_in_every_state_leaks_nothing) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer peer_c = peer(SIP_PROTO_UDP, "192.0.2.10", 5060, 0);
  sip_peer from = peer(SIP_PROTO_UDP, "10.0.0.1", 5060, 0);
  start(x, req("INVITE", VIA_C, 1, NULL, NULL), &peer_c, 0);
  start(x, req("OPTIONS", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKo", 1, NULL, NULL), &peer_c, 0);
  rx(x, rsp(486, VIA_C, 1, "INVITE", "t"), &peer_c, 0); /* Completed with an ACK stored */
  rx(x, req("INVITE", VIA_S, 1, NULL, NULL), &from, 0);
  respond(F.last_st, 500, 0);
  rx(x, req("BYE", VIA_S, 1, NULL, NULL), &from, 0);
  sip_txn_terminate(F.last_st, 0); /* terminated, waiting to be reaped */
  CHECK_EQ_INT(live(x), 4);
  sip_txl_free(x); /* no callbacks */
  CHECK_EQ_INT(count_ev(E_TERM), 0);
  reset();
}

TEST(many_transactions_grow_the_table_and_all_end) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer to = peer(SIP_PROTO_UDP, "192.0.2.10", 5060, 0);
  sip_peer from = peer(SIP_PROTO_UDP, "10.0.0.1", 5060, 0);
  char via[128];
  int ok = 1;
  static sip_txn *server[1500];
  for (int i = 0; i < 3000; i++) {
    snprintf(via, sizeof via, "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKmany%d", i);
    if (i % 2) {
      ok &= start(x, req("OPTIONS", via, 1, NULL, NULL), &to, (uint64_t)i) != NULL;
    } else {
      ok &= rx(x, req("MESSAGE", via, 1, NULL, NULL), &from, (uint64_t)i) == SIP_RX_REQUEST;
      server[i / 2] = F.last_st;
    }
  }
  CHECK(ok);
  CHECK_EQ_INT(live(x), 3000);
  /* every one is still found */
  for (int i = 0; i < 3000; i++) {
    snprintf(via, sizeof via, "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKmany%d", i);
    if (i % 2) ok &= rx(x, rsp(200, via, 1, "OPTIONS", NULL), &to, 5000) == SIP_RX_RESPONSE;
    else ok &= rx(x, req("MESSAGE", via, 1, NULL, NULL), &from, 5000) == SIP_RX_ABSORBED;
  }
  CHECK(ok);
  /* server ones never answered: end them */
  for (int i = 0; i < 1500; i++) sip_txn_terminate(server[i], 6000);
  uint64_t prev = 0;
  int ordered = 1;
  while (sip_txl_next_deadline(x) != UINT64_MAX) {
    uint64_t d = sip_txl_next_deadline(x);
    ordered &= d >= prev;
    prev = d;
    sip_txl_advance(x, d);
  }
  CHECK(ordered);
  CHECK_EQ_INT(live(x), 0);
  printf("# sizeof(sip_txn) = %zu bytes (+ key + request + last response)\n", sip_txn_overhead());
  CHECK(sip_txn_overhead() <= 2048);
  done(x);
}

TEST(callbacks_may_start_transactions_and_terminate_from_inside) {
  sip_txl *x = layer(0, 0, 0);
  sip_peer from = peer(SIP_PROTO_UDP, "10.0.0.1", 5060, 0);
  F.auto_status = 200; /* respond from inside on_request */
  CHECK_EQ_INT(rx(x, req("INVITE", VIA_S, 1, NULL, NULL), &from, 0), SIP_RX_REQUEST);
  CHECK_EQ_INT(sip_txn_state_of(F.last_st), SIP_TXN_ACCEPTED);
  CHECK_EQ_INT(F.ns, 1);
  sip_txl_advance(x, 1000);
  CHECK_EQ_INT(F.ns, 1); /* the 100 timer was stopped by the 2xx */
  CHECK(strcmp(sip_txn_state_name(SIP_TXN_ACCEPTED), "accepted") == 0);
  CHECK(strcmp(sip_txn_kind_name(SIP_TXN_SERVER_INVITE), "server-invite") == 0);
  size_t n;
  /* Accepted keeps no request: the TU retransmits its 2xx from its own bytes (§13.3.1.4) */
  CHECK(sip_txn_request(F.last_st, &n) == NULL && n == 0);
  CHECK(sip_txn_peer(F.last_st)->proto == SIP_PROTO_UDP);
  done(x);
}

int main(void) {
  RUN(client_invite_timer_a_doubles_without_cap_then_timer_b_408);
  RUN(client_invite_t1_is_settable);
  RUN(client_invite_reliable_has_no_timer_a);
  RUN(client_invite_1xx_stops_a_and_b_then_486_is_acked_by_the_transaction);
  RUN(client_invite_final_in_calling_and_timer_d_zero_over_tcp);
  RUN(client_invite_accepted_passes_2xx_retransmissions_and_forks_up_rfc6026);
  RUN(client_transport_errors_fail_the_request_or_give_503);
  RUN(client_refuses_ack_duplicates_and_missing_branch);
  RUN(client_cancel_is_its_own_transaction_matched_by_cseq_method);
  RUN(client_non_invite_timer_e_doubles_up_to_t2_then_timer_f_408);
  RUN(client_non_invite_proceeding_retransmits_every_t2);
  RUN(client_non_invite_over_tcp_timer_k_is_zero);
  RUN(server_invite_sends_100_trying_after_200ms_and_absorbs_retransmissions);
  RUN(server_invite_no_100_when_the_tu_answers_within_200ms);
  RUN(server_invite_non_2xx_timer_g_up_to_t2_then_timer_h_408);
  RUN(server_invite_ack_confirms_and_timer_i_ends_it);
  RUN(server_invite_over_tcp_no_timer_g_and_timer_i_zero);
  RUN(server_invite_accepted_absorbs_invites_forwards_tu_2xx_and_passes_ack_rfc6026);
  RUN(server_transport_error_on_respond_terminates);
  RUN(server_respond_rejects_requests_and_garbage);
  RUN(server_non_invite_trying_proceeding_completed_timer_j);
  RUN(server_non_invite_over_tcp_timer_j_zero);
  RUN(server_matching_by_branch_sent_by_and_method);
  RUN(server_rfc2543_fallback_matching);
  RUN(client_matching_needs_branch_and_cseq_method);
  RUN(malformed_request_gets_400_naming_the_problem);
  RUN(cseq_method_mismatch_gets_400);
  RUN(unknown_version_gets_505);
  RUN(bad_request_line_is_still_answered_from_the_headers);
  RUN(stream_request_without_content_length_gets_400_on_its_connection);
  RUN(malformed_ack_and_requests_without_via_are_not_answered);
  RUN(malformed_responses_are_dropped_silently);
  RUN(rport_and_received_recorded_and_used_rfc3581);
  RUN(gate_answers_a_new_request_without_a_transaction_along_the_via);
  RUN(free_with_transactions_in_every_state_leaks_nothing);
  RUN(many_transactions_grow_the_table_and_all_end);
  RUN(callbacks_may_start_transactions_and_terminate_from_inside);
  return unit_done();
}
