/* test_transport.c: the transport layer over a real libev loop on 127.0.0.1 and ::1 (RFC 3261
 * §18, RFC 5626 §3.5.1, RFC 4475 §3.1.2). Every wait is bounded by a watchdog timer, every test
 * ends with sip_tp_free and checks that the loop has no active watcher left. The TLS
 * certificates are made here with the OpenSSL API, in a fresh directory under /tmp. */
#define _GNU_SOURCE
#include "unit.h"
#include "sip_transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

static struct ev_loop *L;
static int have_v6;
static char dir[64], cert_ok[96], key_ok[96], cert_other[96], key_other[96];

/* ---- loop helpers --------------------------------------------------------------------------- */

static int timed_out;
static void wd_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  timed_out = 1;
  ev_break(loop, EVBREAK_ONE);
}

/* Run the loop until cond holds or secs pass; the value is cond. */
#define WAIT(cond, secs)                                 \
  ({                                                     \
    ev_timer wd_;                                        \
    timed_out = 0;                                       \
    ev_timer_init(&wd_, wd_cb, (secs), 0);               \
    ev_timer_start(L, &wd_);                             \
    while (!(cond) && !timed_out) ev_run(L, EVRUN_ONCE); \
    ev_timer_stop(L, &wd_);                              \
    (cond);                                              \
  })

static void run_for(double secs) { (void)WAIT(0, secs); }

/* After sip_tp_free: nothing may keep the loop alive. */
#define CHECK_LOOP_CLEAN() CHECK(ev_run(L, EVRUN_NOWAIT) == 0)

/* ---- a recording user of the transport ------------------------------------------------------- */

#define MAXM 64
#define MAXE 16
typedef struct rec {
  sip_tp *tp;
  int nmsg;
  char *msg[MAXM];
  size_t len[MAXM];
  sip_peer from[MAXM];
  int nev;
  uint32_t ev_conn[MAXE];
  int ev_err[MAXE];
  const char *ev_what[MAXE];
  const char *reply;       /* answer every message with this, over the connection it came on */
  int free_in_recv;        /* sip_tp_free from inside the callback */
  int free_in_event;       /* sip_tp_free from inside the event callback */
  int nostore;             /* count only (memory measurements) */
  int ev_errs;             /* events with err != 0 */
  int close_in_recv;       /* sip_tp_close the connection from inside the callback */
  const sip_peer *forward; /* send every message on to there too (as a proxy does) */
} rec;

static void rec_recv(void *ud, const char *buf, size_t len, const sip_peer *from) {
  rec *r = ud;
  if (r->nmsg < MAXM && !r->nostore) {
    r->msg[r->nmsg] = malloc(len + 1);
    memcpy(r->msg[r->nmsg], buf, len);
    r->msg[r->nmsg][len] = 0;
    r->len[r->nmsg] = len;
    r->from[r->nmsg] = *from;
  }
  r->nmsg++;
  if (r->reply) {
    const char *e;
    if (sip_tp_send(r->tp, from, NULL, r->reply, strlen(r->reply), &e) < 0)
      printf("# reply failed: %s\n", e);
  }
  if (r->forward) {
    const char *e;
    if (sip_tp_send(r->tp, r->forward, NULL, buf, len, &e) < 0) printf("# forward failed: %s\n", e);
  }
  if (r->close_in_recv) sip_tp_close(r->tp, from->conn);
  if (r->free_in_recv) {
    sip_tp_free(r->tp);
    r->tp = NULL;
  }
}

static void rec_event(void *ud, uint32_t conn, int err, const char *what) {
  rec *r = ud;
  if (r->nev < MAXE) {
    r->ev_conn[r->nev] = conn;
    r->ev_err[r->nev] = err;
    r->ev_what[r->nev] = what;
  }
  r->nev++;
  if (err) r->ev_errs++;
  if (r->free_in_event) {
    sip_tp_free(r->tp);
    r->tp = NULL;
  }
}

static sip_tp *rec_tp(rec *r, const sip_tp_config *cfg) {
  memset(r, 0, sizeof *r);
  r->tp = sip_tp_new(L, cfg, rec_recv, rec_event, r);
  return r->tp;
}

static void rec_done(rec *r) {
  for (int i = 0; i < r->nmsg && i < MAXM && !r->nostore; i++) free(r->msg[i]);
  if (r->tp) sip_tp_free(r->tp);
  memset(r, 0, sizeof *r);
}

static sip_peer listener_peer(sip_tp *tp, int lid, sip_proto proto) {
  sip_peer p;
  memset(&p, 0, sizeof p);
  p.proto = proto;
  sip_tp_local(tp, (uint32_t)lid, &p.addr, &p.addrlen);
  return p;
}

static int port_of(const struct sockaddr_storage *a) {
  char h[64];
  int port = -1;
  sip_tp_addr_str(a, h, sizeof h, &port);
  return port;
}

static sip_tp_stats stats(sip_tp *tp) {
  sip_tp_stats s;
  sip_tp_get_stats(tp, &s);
  return s;
}

/* ---- a raw TCP client, to write exactly the bytes a test wants ------------------------------- */

typedef struct raw {
  int fd;
  ev_io io;
  char buf[4096];
  size_t n;
  int eof;
} raw;

static void raw_cb(struct ev_loop *loop, ev_io *w, int revents) {
  raw *r = w->data;
  for (;;) {
    ssize_t k = recv(r->fd, r->buf + r->n, sizeof r->buf - 1 - r->n, 0);
    if (k > 0) {
      r->n += (size_t)k;
      r->buf[r->n] = 0;
      if (r->n == sizeof r->buf - 1) r->n = 0;
      continue;
    }
    if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
      r->eof = 1;
      ev_io_stop(loop, w);
    }
    return;
  }
}

/* from: the IPv4 address to connect from (another source on 127/8), or NULL. */
static int raw_open_from(raw *r, const sip_peer *to, const char *from) {
  memset(r, 0, sizeof *r);
  r->fd = socket(to->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (r->fd >= 0 && from) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    inet_pton(AF_INET, from, &a.sin_addr);
    if (bind(r->fd, (struct sockaddr *)&a, sizeof a) < 0) return -1;
  }
  /* loopback: the kernel completes the handshake from the backlog, before any accept */
  if (r->fd < 0 || connect(r->fd, (const struct sockaddr *)&to->addr, to->addrlen) < 0) return -1;
  fcntl(r->fd, F_SETFL, O_NONBLOCK);
  ev_io_init(&r->io, raw_cb, r->fd, EV_READ);
  r->io.data = r;
  ev_io_start(L, &r->io);
  return 0;
}

static int raw_open(raw *r, const sip_peer *to) { return raw_open_from(r, to, NULL); }

static void raw_send(raw *r, const char *p, size_t n) {
  for (int spins = 0; n && spins < 100000; spins++) {
    ssize_t k = send(r->fd, p, n, MSG_NOSIGNAL);
    if (k > 0) {
      p += k;
      n -= (size_t)k;
    } else if (k < 0 && errno == EAGAIN) ev_run(L, EVRUN_NOWAIT); /* let the server drain */
    else break;
  }
}

static void raw_close(raw *r) {
  ev_io_stop(L, &r->io);
  if (r->fd >= 0) close(r->fd);
  r->fd = -1;
}

/* ---- messages ------------------------------------------------------------------------------- */

static const char REQ[] =
  "OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n"
  "Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK.1\r\n"
  "From: <sip:alice@127.0.0.1>;tag=1\r\n"
  "To: <sip:bob@127.0.0.1>\r\n"
  "Call-ID: c1@127.0.0.1\r\n"
  "CSeq: 1 OPTIONS\r\n"
  "Content-Length: 0\r\n\r\n";

static const char MSG_BODY[] =
  "MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\n"
  "Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK.2\r\n"
  "Call-ID: c2@127.0.0.1\r\n"
  "CSeq: 2 MESSAGE\r\n"
  "l: 11\r\n\r\n"
  "hello world";

static const char RSP[] =
  "SIP/2.0 200 OK\r\n"
  "Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK.1\r\n"
  "Call-ID: c1@127.0.0.1\r\n"
  "CSeq: 1 OPTIONS\r\n"
  "Content-Length: 0\r\n\r\n";

/* A request with a body of n bytes of a pattern, so a mangled byte shows. */
static char *big_msg(size_t body, int seq, size_t *len) {
  char head[256];
  int h = snprintf(head, sizeof head,
                   "MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\nCSeq: %d MESSAGE\r\n"
                   "Content-Length: %zu\r\n\r\n",
                   seq, body);
  char *m = malloc((size_t)h + body);
  memcpy(m, head, (size_t)h);
  for (size_t i = 0; i < body; i++) m[h + i] = (char)('a' + (i + (size_t)seq) % 26);
  *len = (size_t)h + body;
  return m;
}

/* ---- tests: no network ---------------------------------------------------------------------- */

TEST(source_for_loopback) {
  sip_peer to;
  const char *err;
  struct sockaddr_storage a;
  socklen_t al;
  char h[64];
  CHECK(sip_tp_resolve("127.0.0.1", 5060, SIP_PROTO_UDP, &to, &err) == 0);
  CHECK(sip_tp_source_for(&to, &a, &al) == 0 && sip_tp_addr_str(&a, h, sizeof h, NULL) == 0);
  CHECK(!strcmp(h, "127.0.0.1"));
  if (have_v6) {
    CHECK(sip_tp_resolve("::1", 5060, SIP_PROTO_UDP, &to, &err) == 0);
    CHECK(sip_tp_source_for(&to, &a, &al) == 0 && sip_tp_addr_str(&a, h, sizeof h, NULL) == 0);
    CHECK(!strcmp(h, "::1"));
  }
}

TEST(resolve_and_format) {
  sip_peer p;
  const char *err = NULL;
  char h[64];
  int port;
  CHECK(sip_tp_resolve("127.0.0.1", 5060, SIP_PROTO_UDP, &p, &err) == 0);
  CHECK(p.addr.ss_family == AF_INET && p.addrlen == sizeof(struct sockaddr_in));
  CHECK(sip_tp_addr_str(&p.addr, h, sizeof h, &port) == 0);
  CHECK(!strcmp(h, "127.0.0.1") && port == 5060);
  CHECK(sip_tp_resolve("[2001:db8::1]", 5061, SIP_PROTO_TLS, &p, &err) == 0);
  CHECK(p.addr.ss_family == AF_INET6 && p.proto == SIP_PROTO_TLS);
  CHECK(sip_tp_addr_str(&p.addr, h, sizeof h, &port) == 0);
  CHECK(!strcmp(h, "2001:db8::1") && port == 5061);
  CHECK(sip_tp_resolve("::1", 0, SIP_PROTO_TCP, &p, &err) == 0 && p.addr.ss_family == AF_INET6);
  /* names are the resolver's (sip_resolve.c): the transport never blocks on DNS */
  CHECK(sip_tp_resolve("localhost", 5060, SIP_PROTO_UDP, &p, &err) == -1 && strstr(err, "name"));
  CHECK(sip_tp_resolve("[::1", 5060, SIP_PROTO_UDP, &p, &err) == -1 && err);
  CHECK(sip_tp_resolve("1.2.3.4", 70000, SIP_PROTO_UDP, &p, &err) == -1);
  CHECK(sip_tp_resolve("", 1, SIP_PROTO_UDP, &p, &err) == -1);
  /* all-digit names (GB/T 28181 domains) are names, never inet_aton's IPv4 numbers */
  err = NULL;
  CHECK(sip_tp_resolve("3402000000", 5060, SIP_PROTO_UDP, &p, &err) == -1 && err);
  CHECK(sip_tp_resolve("192.0.2", 5060, SIP_PROTO_UDP, &p, &err) == -1);
  CHECK(sip_tp_resolve("0x7f.1", 5060, SIP_PROTO_UDP, &p, &err) ==
        -1); /* a name, and no such host */
}

/* ---- UDP ------------------------------------------------------------------------------------ */

static void udp_exchange(const char *host) {
  rec a, b;
  const char *err = NULL;
  rec_tp(&a, NULL);
  rec_tp(&b, NULL);
  b.reply = RSP;
  int la = sip_tp_listen(a.tp, SIP_PROTO_UDP, host, 0, &err);
  int lb = sip_tp_listen(b.tp, SIP_PROTO_UDP, host, 0, &err);
  CHECK(la > 0 && lb > 0);
  sip_peer to = listener_peer(b.tp, lb, SIP_PROTO_UDP);
  sip_peer me = listener_peer(a.tp, la, SIP_PROTO_UDP);
  to.listener = (uint32_t)la;
  /* a CRLF keepalive datagram is not a message (RFC 5626 §3.5.1) */
  CHECK(sip_tp_send(a.tp, &to, NULL, "\r\n\r\n", 4, &err) == 0);
  CHECK(sip_tp_send(a.tp, &to, NULL, REQ, sizeof REQ - 1, &err) == 0);
  CHECK(WAIT(a.nmsg == 1, 3));
  CHECK_EQ_INT(b.nmsg, 1);
  if (b.nmsg == 1 && a.nmsg == 1) {
    CHECK(b.len[0] == sizeof REQ - 1 && !memcmp(b.msg[0], REQ, b.len[0]));
    CHECK(b.from[0].proto == SIP_PROTO_UDP && b.from[0].conn == 0);
    CHECK_EQ_INT(b.from[0].listener, lb);
    CHECK_EQ_INT(port_of(&b.from[0].addr), port_of(&me.addr)); /* sent from A's listener */
    CHECK(!strcmp(a.msg[0], RSP));
    CHECK_EQ_INT(port_of(&a.from[0].addr), port_of(&to.addr)); /* answered from B's listener */
  }
  CHECK_EQ_INT(stats(b.tp).keepalives, 1);
  CHECK_EQ_INT(stats(b.tp).rx_msgs, 1);
  CHECK_EQ_INT(stats(a.tp).tx_msgs, 2);
  /* no UDP listener of the other family: an error, not a crash */
  sip_peer other;
  const char *other_host = to.addr.ss_family == AF_INET ? "::1" : "127.0.0.1";
  sip_tp_resolve(other_host, 9, SIP_PROTO_UDP, &other, &err);
  err = NULL;
  CHECK(sip_tp_send(a.tp, &other, NULL, REQ, sizeof REQ - 1, &err) == -1 && err);
  rec_done(&a);
  rec_done(&b);
  CHECK_LOOP_CLEAN();
}

TEST(udp_exchange_v4) { udp_exchange("127.0.0.1"); }

TEST(udp_exchange_v6) {
  if (!have_v6) {
    printf("# skip udp_exchange_v6: ::1 unavailable\n");
    return;
  }
  udp_exchange("::1");
}

/* ---- TCP ------------------------------------------------------------------------------------ */

/* RFC 3261 §18.2.2 / §18.1.1: the response goes back over the request's connection, later
 * sends to the same address reuse it, in both directions. */
static void tcp_reuse(const char *host) {
  rec s, c;
  const char *err = NULL;
  rec_tp(&s, NULL);
  rec_tp(&c, NULL);
  s.reply = RSP;
  int ls = sip_tp_listen(s.tp, SIP_PROTO_TCP, host, 0, &err);
  CHECK(ls > 0);
  sip_peer to = listener_peer(s.tp, ls, SIP_PROTO_TCP);
  uint32_t cid = 0, cid2 = 0, sid = 0;
  CHECK(sip_tp_send_conn(c.tp, &to, NULL, REQ, sizeof REQ - 1, &cid, &err) == 0);
  CHECK(cid != 0);
  CHECK(WAIT(c.nmsg == 1, 3));
  if (c.nmsg >= 1 && s.nmsg >= 1) {
    CHECK_EQ_INT(c.from[0].conn, cid);
    CHECK(!strcmp(c.msg[0], RSP));
    CHECK(s.from[0].conn != 0 && s.from[0].proto == SIP_PROTO_TCP);
    CHECK_EQ_INT(s.from[0].listener, ls);
    sid = s.from[0].conn;
  }
  CHECK(sip_tp_send_conn(c.tp, &to, NULL, MSG_BODY, sizeof MSG_BODY - 1, &cid2, &err) == 0);
  CHECK_EQ_INT(cid2, cid);
  CHECK(WAIT(c.nmsg == 2, 3));
  /* the server sends a request to the client's address: the inbound connection is reused */
  sip_peer back = s.from[0];
  back.conn = 0;
  s.reply = NULL;
  uint32_t used = 0;
  CHECK(sip_tp_send_conn(s.tp, &back, NULL, REQ, sizeof REQ - 1, &used, &err) == 0);
  CHECK_EQ_INT(used, sid);
  CHECK(WAIT(c.nmsg == 3, 3));
  if (c.nmsg >= 3) CHECK_EQ_INT(c.from[2].conn, cid);
  CHECK_EQ_INT(stats(s.tp).accepted, 1);
  CHECK_EQ_INT(stats(s.tp).conns, 1);
  CHECK_EQ_INT(stats(c.tp).conns, 1);
  sip_peer pp;
  CHECK(sip_tp_conn_peer(c.tp, cid, &pp) == 0 && port_of(&pp.addr) == port_of(&to.addr));
  CHECK(sip_tp_conn_peer(c.tp, cid + 1000, &pp) == -1);
  /* the client hangs up: the server hears "closed by peer" for that connection */
  CHECK(sip_tp_close(c.tp, cid) == 0);
  CHECK(WAIT(s.nev == 1, 3));
  if (s.nev >= 1) {
    CHECK_EQ_INT(s.ev_conn[0], sid);
    CHECK_EQ_INT(s.ev_err[0], 0);
  }
  CHECK_EQ_INT(c.nev, 0); /* sip_tp_close is not reported */
  CHECK_EQ_INT(stats(s.tp).conns, 0);
  /* a closed conn id with no address to fall back on */
  sip_peer gone;
  memset(&gone, 0, sizeof gone);
  gone.proto = SIP_PROTO_TCP;
  gone.conn = sid;
  CHECK(sip_tp_send(s.tp, &gone, NULL, REQ, sizeof REQ - 1, &err) == -1);
  rec_done(&s);
  rec_done(&c);
  CHECK_LOOP_CLEAN();
}

TEST(tcp_response_same_connection_v4) { tcp_reuse("127.0.0.1"); }

TEST(tcp_response_same_connection_v6) {
  if (!have_v6) {
    printf("# skip tcp_response_same_connection_v6: ::1 unavailable\n");
    return;
  }
  tcp_reuse("[::1]");
}

/* RFC 3261 §18.3: messages are framed by Content-Length whatever the segmentation. */
TEST(tcp_pipelined_and_split) {
  rec s;
  raw r;
  const char *err;
  rec_tp(&s, NULL);
  int ls = sip_tp_listen(s.tp, SIP_PROTO_TCP, "127.0.0.1", 0, &err);
  sip_peer to = listener_peer(s.tp, ls, SIP_PROTO_TCP);
  CHECK(raw_open(&r, &to) == 0);
  char three[2048];
  int n = snprintf(three, sizeof three, "%s%s%s", REQ, MSG_BODY, REQ);
  raw_send(&r, three, (size_t)n);
  CHECK(WAIT(s.nmsg == 3, 3));
  CHECK(s.nmsg >= 2 && !strcmp(s.msg[0], REQ) && !strcmp(s.msg[1], MSG_BODY));
  /* one message in three pieces: nothing until the last byte of the body */
  size_t len = sizeof MSG_BODY - 1;
  raw_send(&r, MSG_BODY, 10);
  run_for(0.02);
  CHECK_EQ_INT(s.nmsg, 3);
  raw_send(&r, MSG_BODY + 10, len - 13);
  run_for(0.02);
  CHECK_EQ_INT(s.nmsg, 3);
  raw_send(&r, MSG_BODY + len - 3, 3);
  CHECK(WAIT(s.nmsg == 4, 3));
  if (s.nmsg == 4) {
    CHECK(!strcmp(s.msg[3], MSG_BODY));
    CHECK(s.from[3].conn == s.from[0].conn);
  }
  CHECK_EQ_INT(stats(s.tp).framing_errors, 0);
  raw_close(&r);
  rec_done(&s);
  CHECK_LOOP_CLEAN();
}

/* RFC 5626 §3.5.1: CRLFCRLF ping, CRLF pong; keepalives are not messages. */
TEST(tcp_crlf_keepalive) {
  rec s;
  raw r;
  const char *err;
  rec_tp(&s, NULL);
  int ls = sip_tp_listen(s.tp, SIP_PROTO_TCP, "127.0.0.1", 0, &err);
  sip_peer to = listener_peer(s.tp, ls, SIP_PROTO_TCP);
  CHECK(raw_open(&r, &to) == 0);
  raw_send(&r, "\r\n\r\n", 4);
  CHECK(WAIT(r.n >= 2, 3));
  CHECK(!strcmp(r.buf, "\r\n"));
  /* a ping split in two, then a message with a ping in front of it */
  r.n = 0;
  raw_send(&r, "\r\n", 2);
  run_for(0.02);
  CHECK_EQ_INT(r.n, 0); /* half a ping is no ping */
  raw_send(&r, "\r\n", 2);
  CHECK(WAIT(r.n >= 2, 3));
  char buf[1024];
  int n = snprintf(buf, sizeof buf, "\r\n\r\n%s", REQ);
  raw_send(&r, buf, (size_t)n);
  CHECK(WAIT(s.nmsg == 1, 3));
  CHECK(WAIT(r.n >= 4, 3));
  CHECK(s.nmsg == 1 && !strcmp(s.msg[0], REQ));
  CHECK_EQ_INT(stats(s.tp).keepalives, 3);
  raw_close(&r);
  rec_done(&s);
  CHECK_LOOP_CLEAN();
}

/* RFC 4475 §3.1.2.{8,11,12} (clerr, ncl, mcl01): a bad or missing Content-Length on a stream
 * loses the framing; that connection closes, the others carry on. */
TEST(tcp_framing_error_closes_one) {
  rec s;
  raw r1, r2, r3, r4;
  const char *err;
  rec_tp(&s, NULL);
  int ls = sip_tp_listen(s.tp, SIP_PROTO_TCP, "127.0.0.1", 0, &err);
  sip_peer to = listener_peer(s.tp, ls, SIP_PROTO_TCP);
  CHECK(raw_open(&r1, &to) == 0 && raw_open(&r2, &to) == 0);
  CHECK(raw_open(&r3, &to) == 0 && raw_open(&r4, &to) == 0);
  static const char bad_cl[] =
    "OPTIONS sip:x SIP/2.0\r\nCSeq: 1 OPTIONS\r\nContent-Length: abc\r\n\r\n";
  static const char no_cl[] = "OPTIONS sip:x SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n";
  static const char huge_cl[] = "OPTIONS sip:x SIP/2.0\r\nContent-Length: 9999999999\r\n\r\n";
  raw_send(&r1, bad_cl, sizeof bad_cl - 1);
  raw_send(&r3, no_cl, sizeof no_cl - 1);
  raw_send(&r4, huge_cl, sizeof huge_cl - 1);
  CHECK(WAIT(s.nev == 3 && r1.eof && r3.eof && r4.eof, 3));
  for (int i = 0; i < s.nev && i < MAXE; i++) {
    CHECK_EQ_INT(s.ev_err[i], EPROTO);
    printf("# conn %u closed: %s\n", s.ev_conn[i], s.ev_what[i]);
  }
  CHECK(!r2.eof);
  raw_send(&r2, REQ, sizeof REQ - 1);
  CHECK(WAIT(s.nmsg == 1, 3));
  CHECK_EQ_INT(s.nmsg, 1);
  CHECK_EQ_INT(stats(s.tp).framing_errors, 3);
  CHECK_EQ_INT(stats(s.tp).conns, 1);
  if (s.nmsg == 1 && s.nev >= 3)
    for (int i = 0; i < 3; i++) CHECK(s.ev_conn[i] != s.from[0].conn);
  raw_close(&r1);
  raw_close(&r2);
  raw_close(&r3);
  raw_close(&r4);
  rec_done(&s);
  CHECK_LOOP_CLEAN();
}

/* Headers that never end: the read buffer stops at max_msg. */
TEST(tcp_message_too_large) {
  rec s;
  raw r;
  const char *err;
  sip_tp_config cfg = {0};
  cfg.max_msg = 4096;
  rec_tp(&s, &cfg);
  int ls = sip_tp_listen(s.tp, SIP_PROTO_TCP, "127.0.0.1", 0, &err);
  sip_peer to = listener_peer(s.tp, ls, SIP_PROTO_TCP);
  CHECK(raw_open(&r, &to) == 0);
  char line[128];
  memset(line, 'x', sizeof line);
  memcpy(line, "X-Pad: ", 7);
  line[126] = '\r';
  line[127] = '\n';
  raw_send(&r, "OPTIONS sip:x SIP/2.0\r\n", 23);
  for (int i = 0; i < 40 && !r.eof; i++) {
    raw_send(&r, line, sizeof line);
    run_for(0.002);
  }
  CHECK(WAIT(s.nev == 1 && r.eof, 3));
  CHECK_EQ_INT(s.nmsg, 0);
  if (s.nev == 1) printf("# closed: %s\n", s.ev_what[0]);
  raw_close(&r);
  rec_done(&s);
  CHECK_LOOP_CLEAN();
}

/* The callback closes the connection a message came on: the rest of the batch is dropped. */
TEST(tcp_close_and_free_inside_callback) {
  rec s;
  raw r;
  const char *err;
  rec_tp(&s, NULL);
  s.close_in_recv = 1;
  int ls = sip_tp_listen(s.tp, SIP_PROTO_TCP, "127.0.0.1", 0, &err);
  sip_peer to = listener_peer(s.tp, ls, SIP_PROTO_TCP);
  CHECK(raw_open(&r, &to) == 0);
  char three[2048];
  int n = snprintf(three, sizeof three, "%s%s%s", REQ, REQ, REQ);
  raw_send(&r, three, (size_t)n);
  CHECK(WAIT(r.eof, 3));
  CHECK_EQ_INT(s.nmsg, 1);
  CHECK_EQ_INT(s.nev, 0);
  raw_close(&r);
  /* and sip_tp_free from inside the callback, with a batch and a second connection pending */
  s.close_in_recv = 0;
  s.free_in_recv = 1;
  raw r2;
  CHECK(raw_open(&r, &to) == 0 && raw_open(&r2, &to) == 0);
  raw_send(&r2, REQ, sizeof REQ - 1);
  raw_send(&r, three, (size_t)n);
  CHECK(WAIT(s.tp == NULL, 3));
  CHECK(WAIT(r.eof && r2.eof, 3));
  CHECK_EQ_INT(s.nmsg, 2);
  raw_close(&r);
  raw_close(&r2);
  rec_done(&s);
  CHECK_LOOP_CLEAN();
}

TEST(tcp_idle_timeout) {
  rec s;
  raw r1, r2;
  const char *err;
  sip_tp_config cfg = {0};
  cfg.idle_timeout = 0.2;
  rec_tp(&s, &cfg);
  int ls = sip_tp_listen(s.tp, SIP_PROTO_TCP, "127.0.0.1", 0, &err);
  sip_peer to = listener_peer(s.tp, ls, SIP_PROTO_TCP);
  ev_now_update(L);
  ev_tstamp t0 = ev_now(L);
  CHECK(raw_open(&r1, &to) == 0 && raw_open(&r2, &to) == 0);
  /* r2 pings every 0.1 s: traffic keeps it open while r1 times out */
  for (int i = 0; i < 4; i++) {
    run_for(0.1);
    raw_send(&r2, "\r\n\r\n", 4);
  }
  CHECK(WAIT(s.nev == 1 && r1.eof, 3));
  ev_now_update(L);
  double took = ev_now(L) - t0;
  CHECK(took >= 0.2 && took < 1.5);
  CHECK(!r2.eof);
  if (s.nev >= 1) CHECK_EQ_INT(s.ev_err[0], ETIMEDOUT);
  CHECK(WAIT(s.nev == 2 && r2.eof, 3)); /* and once r2 is quiet, it goes too */
  CHECK_EQ_INT(stats(s.tp).idle_closed, 2);
  CHECK_EQ_INT(stats(s.tp).conns, 0);
  raw_close(&r1);
  raw_close(&r2);
  rec_done(&s);
  CHECK_LOOP_CLEAN();
}

/* RFC 5626: a held flow outlives the idle timeout on both sides; the client's CRLFCRLF ping gets
 * one CRLF pong, which the client does not answer; released, the flow idles out as before. */
TEST(tcp_flow_held_and_pinged) {
  rec s, c;
  const char *err;
  sip_tp_config cfg = {0};
  cfg.idle_timeout = 0.2;
  rec_tp(&s, &cfg);
  rec_tp(&c, &cfg);
  int ls = sip_tp_listen(s.tp, SIP_PROTO_TCP, "127.0.0.1", 0, &err);
  sip_peer to = listener_peer(s.tp, ls, SIP_PROTO_TCP);
  uint32_t cid = 0;
  CHECK(sip_tp_send_conn(c.tp, &to, NULL, REQ, strlen(REQ), &cid, &err) == 0 && cid);
  CHECK(WAIT(s.nmsg == 1, 3));
  uint32_t sid = s.from[0].conn;
  CHECK(sip_tp_hold(s.tp, sid, 5) == 0 && sip_tp_hold(c.tp, cid, 5) == 0);
  CHECK(sip_tp_hold(s.tp, 9999, 5) == -1);
  run_for(0.5); /* past the idle timeout */
  CHECK_EQ_INT(stats(s.tp).conns, 1);
  CHECK_EQ_INT(stats(c.tp).conns, 1);
  double before = 0, after = 0;
  CHECK(sip_tp_heard(c.tp, cid, &before) == 0);
  run_for(0.05);
  CHECK(sip_tp_ping(c.tp, cid, &err) == 0);
  CHECK(
    WAIT(stats(s.tp).keepalives == 1 && sip_tp_heard(c.tp, cid, &after) == 0 && after > before, 3));
  run_for(0.1);
  CHECK_EQ_INT(stats(s.tp).keepalives, 1); /* the pong was not answered */
  CHECK_EQ_INT(stats(c.tp).keepalives, 0);
  CHECK(s.nmsg == 1 && c.nmsg == 0);
  CHECK(sip_tp_hold(s.tp, sid, 0) == 0); /* released: the idle timeout applies again */
  CHECK(WAIT(s.nev == 1, 3));
  CHECK_EQ_INT(s.ev_err[0], ETIMEDOUT);
  CHECK(WAIT(c.nev == 1, 3)); /* the client sees its flow die */
  CHECK(sip_tp_ping(c.tp, cid, &err) == -1 && sip_tp_heard(c.tp, cid, &after) == -1);
  rec_done(&c);
  rec_done(&s);
  CHECK_LOOP_CLEAN();
}

/* Two connections time out in one sweep; the first report frees the transport. */
TEST(tcp_free_inside_event) {
  rec s;
  raw r1, r2;
  const char *err;
  sip_tp_config cfg = {0};
  cfg.idle_timeout = 0.05;
  rec_tp(&s, &cfg);
  s.free_in_event = 1;
  int ls = sip_tp_listen(s.tp, SIP_PROTO_TCP, "127.0.0.1", 0, &err);
  sip_peer to = listener_peer(s.tp, ls, SIP_PROTO_TCP);
  CHECK(raw_open(&r1, &to) == 0 && raw_open(&r2, &to) == 0);
  CHECK(WAIT(s.tp == NULL, 3));
  CHECK(WAIT(r1.eof && r2.eof, 3));
  CHECK_EQ_INT(s.nev, 1);
  raw_close(&r1);
  raw_close(&r2);
  rec_done(&s);
  CHECK_LOOP_CLEAN();
}

/* A full cap evicts the least recently active untrusted connection; trusted ones stay, and
 * when only they are left the newcomer is refused. */
TEST(tcp_connection_cap_evicts_untrusted) {
  rec s, c;
  raw r1, r2, r3, r4, r5;
  const char *err;
  sip_tp_config cfg = {0};
  cfg.max_conns = 2;
  rec_tp(&s, &cfg);
  rec_tp(&c, &cfg);
  int ls = sip_tp_listen(s.tp, SIP_PROTO_TCP, "127.0.0.1", 0, &err);
  sip_peer to = listener_peer(s.tp, ls, SIP_PROTO_TCP);
  CHECK(raw_open(&r1, &to) == 0 && raw_open(&r2, &to) == 0);
  CHECK(WAIT(stats(s.tp).accepted == 2, 3));
  CHECK(raw_open(&r3, &to) == 0);
  CHECK(WAIT(r1.eof && s.nev == 1, 3));
  CHECK_EQ_INT(stats(s.tp).evicted, 1);
  CHECK_EQ_INT(stats(s.tp).refused_cap, 0);
  if (s.nev == 1) CHECK_EQ_INT(s.ev_err[0], ECONNABORTED);
  CHECK_EQ_INT(stats(s.tp).conns, 2);
  /* r2 sends a message: r3 is now the least recently active */
  raw_send(&r2, REQ, sizeof REQ - 1);
  CHECK(WAIT(s.nmsg == 1, 3));
  CHECK(raw_open(&r4, &to) == 0);
  CHECK(WAIT(r3.eof, 3));
  CHECK(!r2.eof);
  CHECK_EQ_INT(stats(s.tp).evicted, 2);
  /* both trusted: the next one is refused */
  raw_send(&r4, REQ, sizeof REQ - 1);
  CHECK(WAIT(s.nmsg == 2, 3));
  CHECK(sip_tp_trust(s.tp, s.from[0].conn) == 0 && sip_tp_trust(s.tp, s.from[1].conn) == 0);
  CHECK(sip_tp_trust(s.tp, s.from[1].conn) == 0); /* idempotent */
  CHECK(sip_tp_trust(s.tp, 0) == -1 && sip_tp_trust(s.tp, 99999) == -1);
  CHECK_EQ_INT(stats(s.tp).untrusted, 0);
  CHECK(raw_open(&r5, &to) == 0);
  CHECK(WAIT(stats(s.tp).refused_cap == 1 && r5.eof, 3));
  CHECK(!r2.eof && !r4.eof);
  CHECK_EQ_INT(stats(s.tp).evicted, 2);
  /* outbound: ours are trusted, so the cap refuses a third connection with an error */
  int l2 = sip_tp_listen(s.tp, SIP_PROTO_TCP, "127.0.0.1", 0, &err);
  int l3 = sip_tp_listen(s.tp, SIP_PROTO_TCP, "127.0.0.1", 0, &err);
  sip_peer t1 = listener_peer(s.tp, ls, SIP_PROTO_TCP), t2 = listener_peer(s.tp, l2, SIP_PROTO_TCP);
  sip_peer t3 = listener_peer(s.tp, l3, SIP_PROTO_TCP);
  CHECK(sip_tp_send(c.tp, &t1, NULL, REQ, sizeof REQ - 1, &err) == 0);
  CHECK(sip_tp_send(c.tp, &t2, NULL, REQ, sizeof REQ - 1, &err) == 0);
  CHECK_EQ_INT(stats(c.tp).untrusted, 0);
  err = NULL;
  CHECK(sip_tp_send(c.tp, &t3, NULL, REQ, sizeof REQ - 1, &err) == -1);
  CHECK(err && strstr(err, "limit"));
  raw_close(&r1);
  raw_close(&r2);
  raw_close(&r3);
  raw_close(&r4);
  raw_close(&r5);
  rec_done(&s);
  rec_done(&c);
  CHECK_LOOP_CLEAN();
}

/* Out of file descriptors (EMFILE) is a full cap too: the oldest untrusted connection makes way
 * instead of the listener pausing while the attackers hold every descriptor. */
TEST(tcp_out_of_descriptors_evicts_untrusted) {
  rec s;
  raw r1, r2, r3;
  const char *err;
  rec_tp(&s, NULL);
  int ls = sip_tp_listen(s.tp, SIP_PROTO_TCP, "127.0.0.1", 0, &err);
  sip_peer to = listener_peer(s.tp, ls, SIP_PROTO_TCP);
  CHECK(raw_open(&r1, &to) == 0 && raw_open(&r2, &to) == 0);
  CHECK(WAIT(stats(s.tp).accepted == 2, 3));
  CHECK(raw_open(&r3, &to) == 0);
  struct rlimit old, low;
  getrlimit(RLIMIT_NOFILE, &old);
  int next = dup(0); /* the lowest free descriptor: every one below it is taken */
  close(next);
  low = old;
  low.rlim_cur = (rlim_t)next;
  CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
  CHECK(WAIT(stats(s.tp).accepted == 3, 3));
  setrlimit(RLIMIT_NOFILE, &old);
  CHECK(WAIT(r1.eof, 3));
  CHECK_EQ_INT(stats(s.tp).evicted, 1);
  CHECK(!r2.eof && !r3.eof);
  CHECK_EQ_INT(stats(s.tp).conns, 2);
  raw_close(&r1);
  raw_close(&r2);
  raw_close(&r3);
  rec_done(&s);
  CHECK_LOOP_CLEAN();
}

/* The connection a forward opens evicts an untrusted one, never the one whose message it forwards:
 * that one is the most recently active from before the handler runs. */
TEST(tcp_forward_keeps_its_own_connection) {
  rec s, peer;
  raw r1, r2;
  const char *err;
  sip_tp_config cfg = {0};
  cfg.max_conns = 2;
  rec_tp(&s, &cfg);
  rec_tp(&peer, NULL);
  int ls = sip_tp_listen(s.tp, SIP_PROTO_TCP, "127.0.0.1", 0, &err);
  int lp = sip_tp_listen(peer.tp, SIP_PROTO_TCP, "127.0.0.1", 0, &err);
  sip_peer to = listener_peer(s.tp, ls, SIP_PROTO_TCP),
           tp2 = listener_peer(peer.tp, lp, SIP_PROTO_TCP);
  s.forward = &tp2;
  CHECK(raw_open(&r1, &to) == 0);
  CHECK(WAIT(stats(s.tp).accepted == 1, 3));
  CHECK(raw_open(&r2, &to) == 0);
  CHECK(WAIT(stats(s.tp).accepted == 2, 3));
  raw_send(&r1, REQ, sizeof REQ - 1); /* r1, the older, sends: r2 makes way for the forward */
  CHECK(WAIT(peer.nmsg == 1 && r2.eof, 3));
  CHECK(!r1.eof);
  CHECK_EQ_INT(stats(s.tp).evicted, 1);
  raw_close(&r1);
  raw_close(&r2);
  rec_done(&s);
  rec_done(&peer);
  CHECK_LOOP_CLEAN();
}

/* An outbound connection may evict an untrusted inbound one too: a proxy can always forward. */
TEST(tcp_outbound_evicts_untrusted) {
  rec s, peer;
  raw r1;
  const char *err;
  sip_tp_config cfg = {0};
  cfg.max_conns = 1;
  rec_tp(&s, &cfg);
  rec_tp(&peer, NULL);
  int ls = sip_tp_listen(s.tp, SIP_PROTO_TCP, "127.0.0.1", 0, &err);
  int lp = sip_tp_listen(peer.tp, SIP_PROTO_TCP, "127.0.0.1", 0, &err);
  sip_peer to = listener_peer(s.tp, ls, SIP_PROTO_TCP),
           tp2 = listener_peer(peer.tp, lp, SIP_PROTO_TCP);
  CHECK(raw_open(&r1, &to) == 0);
  CHECK(WAIT(stats(s.tp).accepted == 1, 3));
  CHECK(sip_tp_send(s.tp, &tp2, NULL, REQ, sizeof REQ - 1, &err) == 0);
  CHECK(WAIT(peer.nmsg == 1 && r1.eof, 3));
  CHECK_EQ_INT(stats(s.tp).evicted, 1);
  raw_close(&r1);
  rec_done(&s);
  rec_done(&peer);
  CHECK_LOOP_CLEAN();
}

TEST(tcp_connect_failure_reported) {
  rec c;
  const char *err = NULL;
  rec_tp(&c, NULL);
  /* a port that is bound but not listening refuses */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  bind(fd, (struct sockaddr *)&a, sizeof a);
  getsockname(fd, (struct sockaddr *)&a, &alen);
  sip_peer to;
  memset(&to, 0, sizeof to);
  to.proto = SIP_PROTO_TCP;
  memcpy(&to.addr, &a, sizeof a);
  to.addrlen = sizeof a;
  uint32_t cid = 0;
  int r = sip_tp_send_conn(c.tp, &to, NULL, REQ, sizeof REQ - 1, &cid, &err);
  if (r == 0) { /* the usual case: the connect is in progress, its failure comes as an event */
    CHECK(WAIT(c.nev == 1, 3));
    if (c.nev == 1) {
      CHECK_EQ_INT(c.ev_conn[0], cid);
      CHECK_EQ_INT(c.ev_err[0], ECONNREFUSED);
    }
  } else {
    CHECK(err != NULL);
  }
  CHECK_EQ_INT(stats(c.tp).connect_failed, 1);
  CHECK_EQ_INT(stats(c.tp).conns, 0);
  close(fd);
  rec_done(&c);
  CHECK_LOOP_CLEAN();
}

static double since(ev_tstamp t0) {
  ev_now_update(L);
  return ev_now(L) - t0;
}

/* One address may hold max_per_source untrusted connections; its next is closed at once (no
 * eviction), other addresses are not affected, and a trusted connection leaves the count. */
TEST(tcp_per_source_cap) {
  rec s;
  raw a1, a2, a3, a4, b1;
  const char *err;
  sip_tp_config cfg = {0};
  cfg.max_per_source = 2;
  cfg.max_conns = 3;
  rec_tp(&s, &cfg);
  int ls = sip_tp_listen(s.tp, SIP_PROTO_TCP, "0.0.0.0", 0, &err);
  sip_peer to = listener_peer(s.tp, ls, SIP_PROTO_TCP);
  ((struct sockaddr_in *)&to.addr)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(raw_open_from(&a1, &to, "127.0.0.2") == 0 && raw_open_from(&a2, &to, "127.0.0.2") == 0);
  CHECK(raw_open_from(&a3, &to, "127.0.0.2") == 0);
  CHECK(WAIT(stats(s.tp).refused_source == 1 && a3.eof, 3));
  CHECK(!a1.eof && !a2.eof);
  /* the total cap (3) is not reached by one source alone: another gets in without evicting */
  CHECK(raw_open_from(&b1, &to, "127.0.0.1") == 0);
  raw_send(&b1, REQ, sizeof REQ - 1);
  CHECK(WAIT(s.nmsg == 1, 3));
  CHECK_EQ_INT(stats(s.tp).evicted, 0);
  CHECK_EQ_INT(stats(s.tp).conns, 3);
  /* a1 authenticates: 127.0.0.2 has room for one more, which evicts b1 (the total is full,
   * and b1 is the least recently active untrusted connection after a2) */
  raw_send(&a1, REQ, sizeof REQ - 1);
  CHECK(WAIT(s.nmsg == 2, 3));
  CHECK(sip_tp_trust(s.tp, s.from[1].conn) == 0);
  CHECK(raw_open_from(&a4, &to, "127.0.0.2") == 0);
  CHECK(WAIT(stats(s.tp).evicted == 1 && a2.eof, 3));
  CHECK(!a4.eof && !a1.eof && !b1.eof);
  CHECK_EQ_INT(stats(s.tp).refused_source, 1);
  CHECK_EQ_INT(stats(s.tp).conns, 3);
  raw_close(&a1);
  raw_close(&a2);
  raw_close(&a3);
  raw_close(&a4);
  raw_close(&b1);
  rec_done(&s);
  CHECK_LOOP_CLEAN();
}

/* IPv6 sources are counted by their /64 (here ::1, twice). */
TEST(tcp_per_source_cap_v6) {
  if (!have_v6) {
    printf("# no IPv6 loopback\n");
    return;
  }
  rec s;
  raw a1, a2;
  const char *err;
  sip_tp_config cfg = {0};
  cfg.max_per_source = 1;
  rec_tp(&s, &cfg);
  int ls = sip_tp_listen(s.tp, SIP_PROTO_TCP, "::1", 0, &err);
  sip_peer to = listener_peer(s.tp, ls, SIP_PROTO_TCP);
  CHECK(raw_open(&a1, &to) == 0 && raw_open(&a2, &to) == 0);
  CHECK(WAIT(stats(s.tp).refused_source == 1 && a2.eof, 3));
  CHECK(!a1.eof);
  CHECK_EQ_INT(stats(s.tp).conns, 1);
  raw_close(&a1);
  raw_close(&a2);
  rec_done(&s);
  CHECK_LOOP_CLEAN();
}

/* An untrusted connection must bring a whole message within first_message_timeout of the
 * accept; pings (RFC 5626 §3.5.1) keep it from idling but do not count as that message. */
TEST(tcp_first_message_deadline) {
  rec s;
  raw r1, r2, r3;
  const char *err;
  sip_tp_config cfg = {0};
  cfg.first_message_timeout = 0.3;
  cfg.idle_timeout = 0.2;
  rec_tp(&s, &cfg);
  int ls = sip_tp_listen(s.tp, SIP_PROTO_TCP, "127.0.0.1", 0, &err);
  sip_peer to = listener_peer(s.tp, ls, SIP_PROTO_TCP);
  ev_now_update(L);
  ev_tstamp t0 = ev_now(L);
  CHECK(raw_open(&r1, &to) == 0 && raw_open(&r2, &to) == 0 && raw_open(&r3, &to) == 0);
  raw_send(&r2, REQ, sizeof REQ - 1);
  CHECK(WAIT(s.nmsg == 1, 3));
  CHECK(sip_tp_trust(s.tp, s.from[0].conn) == 0);
  raw_send(&r3, REQ, sizeof REQ - 1);
  CHECK(WAIT(s.nmsg == 2, 3));
  /* r1 pings, r2 (trusted) and r3 (one message) ping too: pings hold off the idle deadline */
  for (int i = 0; i < 5 && !r1.eof; i++) {
    run_for(0.08);
    raw_send(&r1, "\r\n\r\n", 4);
    raw_send(&r2, "\r\n\r\n", 4);
    raw_send(&r3, "\r\n\r\n", 4);
  }
  CHECK(WAIT(r1.eof, 3));
  double took = since(t0);
  CHECK(took >= 0.3 && took < 1.0);
  CHECK_EQ_INT(stats(s.tp).timeout_first, 1);
  CHECK_EQ_INT(stats(s.tp).idle_closed, 0);
  CHECK(!r2.eof && !r3.eof);
  if (s.nev >= 1) CHECK(!strcmp(s.ev_what[0], "no message in time") && s.ev_err[0] == ETIMEDOUT);
  CHECK(WAIT(r2.eof && r3.eof, 3)); /* quiet now: both idle out */
  CHECK_EQ_INT(stats(s.tp).idle_closed, 2);
  CHECK_EQ_INT(stats(s.tp).timeout_first, 1);
  raw_close(&r1);
  raw_close(&r2);
  raw_close(&r3);
  rec_done(&s);
  CHECK_LOOP_CLEAN();
}

/* Slowloris: a message trickled a byte at a time is closed message_timeout after its first
 * byte, whatever the bytes; without a message deadline the idle one is not reset by them. */
static void trickle(double message, double idle, const char *what, int timeouts) {
  rec s;
  raw r1, r2;
  const char *err;
  sip_tp_config cfg = {0};
  cfg.message_timeout = message;
  cfg.idle_timeout = idle;
  rec_tp(&s, &cfg);
  int ls = sip_tp_listen(s.tp, SIP_PROTO_TCP, "127.0.0.1", 0, &err);
  sip_peer to = listener_peer(s.tp, ls, SIP_PROTO_TCP);
  CHECK(raw_open(&r1, &to) == 0 && raw_open(&r2, &to) == 0);
  /* r2: one message, then a second in two halves while r1 trickles, then pings */
  raw_send(&r2, REQ, sizeof REQ - 1);
  CHECK(WAIT(s.nmsg == 1, 3));
  run_for(0.1);
  ev_now_update(L);
  ev_tstamp t0 = ev_now(L);
  size_t i;
  for (i = 0; i < sizeof REQ - 1 && !r1.eof; i++) {
    raw_send(&r1, REQ + i, 1);
    if (i == 3) raw_send(&r2, REQ, 30);
    if (i == 5) raw_send(&r2, REQ + 30, sizeof REQ - 1 - 30);
    if (i > 5 && i % 5 == 0) raw_send(&r2, "\r\n\r\n", 4); /* r2 stays active */
    run_for(0.02);
  }
  CHECK(WAIT(r1.eof, 3));
  double took = since(t0);
  double limit = message > 0 ? message : idle;
  CHECK(took >= limit - 0.1 && took < limit + 0.6);
  CHECK(i < sizeof REQ - 1);
  CHECK_EQ_INT(s.nmsg, 2);
  CHECK(!r2.eof);
  CHECK_EQ_INT(timeouts == 1 ? stats(s.tp).timeout_message : stats(s.tp).idle_closed, 1);
  if (s.nev >= 1) CHECK(!strcmp(s.ev_what[0], what));
  raw_close(&r1);
  raw_close(&r2);
  rec_done(&s);
  CHECK_LOOP_CLEAN();
}
TEST(tcp_message_deadline) { trickle(0.3, 5, "message not complete in time", 1); }
TEST(tcp_idle_not_reset_by_bytes) { trickle(-1, 0.3, "idle timeout", 2); }

/* Messages larger than the socket buffers: partial writes, the queue, a growing read buffer. */
static void bulk(sip_proto proto, int count) {
  rec s, c;
  const char *err = NULL;
  sip_tp_config scfg = {0}, ccfg = {0};
  scfg.max_msg = 300000;
  scfg.tls_cert = cert_ok;
  scfg.tls_key = key_ok;
  ccfg.max_queue = 8u << 20;
  ccfg.tls_ca = cert_ok;
  rec_tp(&s, &scfg);
  rec_tp(&c, &ccfg);
  int ls = sip_tp_listen(s.tp, proto, "127.0.0.1", 0, &err);
  CHECK(ls > 0);
  sip_peer to = listener_peer(s.tp, ls, proto);
  size_t lens[32];
  char *msgs[32];
  for (int i = 0; i < count; i++) {
    msgs[i] = big_msg(100000 + (size_t)i * 777, i, &lens[i]);
    CHECK(sip_tp_send(c.tp, &to, "localhost", msgs[i], lens[i], &err) == 0);
  }
  CHECK(WAIT(s.nmsg == count, 5));
  for (int i = 0; i < count && i < s.nmsg; i++)
    CHECK(s.len[i] == lens[i] && !memcmp(s.msg[i], msgs[i], lens[i]));
  CHECK_EQ_INT(stats(s.tp).accepted, 1);
  for (int i = 0; i < count; i++) free(msgs[i]);
  rec_done(&s);
  rec_done(&c);
  CHECK_LOOP_CLEAN();
}

TEST(tcp_bulk_partial_writes) { bulk(SIP_PROTO_TCP, 20); }

/* ---- TLS ------------------------------------------------------------------------------------ */

static int make_cert(const char *certpath, const char *keypath, const char *cn) {
  int ok = 0;
  EVP_PKEY *pk = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  FILE *f = NULL;
  if (!pk || !x) goto out;
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), (long)getpid() ^ (long)cn[0]);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, pk);
  X509_NAME *nm = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
  X509_set_issuer_name(x, nm);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
  char san[128];
  snprintf(san, sizeof san, "DNS:%s,IP:127.0.0.1,IP:::1", cn);
  X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
  if (!e) goto out;
  X509_add_ext(x, e, -1);
  X509_EXTENSION_free(e);
  if (!X509_sign(x, pk, EVP_sha256())) goto out;
  if (!(f = fopen(certpath, "w")) || !PEM_write_X509(f, x)) goto out;
  fclose(f);
  if (!(f = fopen(keypath, "w")) || !PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL))
    goto out;
  ok = 1;
out:
  if (f) fclose(f);
  X509_free(x);
  EVP_PKEY_free(pk);
  return ok;
}

TEST(tls_self_signed_cert_made) {
  snprintf(dir, sizeof dir, "/tmp/siptp-XXXXXX");
  CHECK(mkdtemp(dir) != NULL);
  snprintf(cert_ok, sizeof cert_ok, "%s/ok.pem", dir);
  snprintf(key_ok, sizeof key_ok, "%s/ok.key", dir);
  snprintf(cert_other, sizeof cert_other, "%s/other.pem", dir);
  snprintf(key_other, sizeof key_other, "%s/other.key", dir);
  CHECK(make_cert(cert_ok, key_ok, "localhost"));
  CHECK(make_cert(cert_other, key_other, "other.example"));
}

static void tls_exchange(const char *host) {
  rec s, c, c2;
  const char *err = NULL;
  sip_tp_config scfg = {0}, ccfg = {0};
  scfg.tls_cert = cert_ok;
  scfg.tls_key = key_ok;
  ccfg.tls_ca = cert_ok;
  rec_tp(&s, &scfg);
  rec_tp(&c, &ccfg);
  rec_tp(&c2, &ccfg);
  s.reply = RSP;
  int ls = sip_tp_listen(s.tp, SIP_PROTO_TLS, host, 0, &err);
  CHECK(ls > 0);
  if (ls < 0) printf("# listen: %s\n", err);
  sip_peer to = listener_peer(s.tp, ls, SIP_PROTO_TLS);
  uint32_t cid = 0;
  CHECK(sip_tp_send_conn(c.tp, &to, "localhost", REQ, sizeof REQ - 1, &cid, &err) == 0);
  CHECK(WAIT(c.nmsg == 1, 3));
  if (c.nmsg == 1 && s.nmsg == 1) {
    CHECK(!strcmp(s.msg[0], REQ) && !strcmp(c.msg[0], RSP));
    CHECK_EQ_INT(c.from[0].conn, cid);
    CHECK(c.from[0].proto == SIP_PROTO_TLS && s.from[0].proto == SIP_PROTO_TLS);
    /* the other way: the server sends a request over the client's connection */
    s.reply = NULL;
    CHECK(sip_tp_send(s.tp, &s.from[0], NULL, MSG_BODY, sizeof MSG_BODY - 1, &err) == 0);
    CHECK(WAIT(c.nmsg == 2, 3));
    CHECK(c.nmsg == 2 && !strcmp(c.msg[1], MSG_BODY) && c.from[1].conn == cid);
  }
  for (int i = 0; i < c.nev; i++) printf("# client event: %s\n", c.ev_what[i]);
  /* without a name the address itself is checked against the certificate's IP SANs */
  CHECK(sip_tp_send(c2.tp, &to, NULL, REQ, sizeof REQ - 1, &err) == 0);
  CHECK(WAIT(s.nmsg == 2 || c2.nev > 0, 3));
  CHECK_EQ_INT(c2.nev, 0);
  CHECK_EQ_INT(stats(s.tp).accepted, 2);
  if (c2.nev) printf("# %s\n", c2.ev_what[0]);
  CHECK_EQ_INT(stats(s.tp).tls_failed, 0);
  /* a clean close (close_notify) reads as "closed by peer" */
  CHECK(sip_tp_close(c.tp, cid) == 0);
  CHECK(WAIT(s.nev == 1, 3));
  if (s.nev == 1) CHECK_EQ_INT(s.ev_err[0], 0);
  rec_done(&s);
  rec_done(&c);
  rec_done(&c2);
  CHECK_LOOP_CLEAN();
}

TEST(tls_exchange_v4) { tls_exchange("127.0.0.1"); }

TEST(tls_exchange_v6) {
  if (!have_v6) {
    printf("# skip tls_exchange_v6: ::1 unavailable\n");
    return;
  }
  tls_exchange("::1");
}

/* A server with the test certificate and a client that verifies against ca. */
static void tls_pair(rec *s, rec *c, const char *ca) {
  sip_tp_config scfg = {0}, ccfg = {0};
  scfg.tls_cert = cert_ok;
  scfg.tls_key = key_ok;
  ccfg.tls_ca = ca;
  rec_tp(s, &scfg);
  rec_tp(c, &ccfg);
}

/* The client's verification fails: reported on the connection, nothing delivered. */
static void tls_refused(const char *ca, const char *sni, const char *expect) {
  rec s, c;
  const char *err = NULL;
  tls_pair(&s, &c, ca);
  int ls = sip_tp_listen(s.tp, SIP_PROTO_TLS, "127.0.0.1", 0, &err);
  sip_peer to = listener_peer(s.tp, ls, SIP_PROTO_TLS);
  uint32_t cid = 0;
  CHECK(sip_tp_send_conn(c.tp, &to, sni, REQ, sizeof REQ - 1, &cid, &err) == 0);
  CHECK(WAIT(c.nev == 1 && s.nev == 1, 3));
  if (c.nev == 1) {
    CHECK_EQ_INT(c.ev_conn[0], cid);
    CHECK_EQ_INT(c.ev_err[0], EPROTO);
    printf("# client: %s\n", c.ev_what[0]);
    CHECK(strstr(c.ev_what[0], expect) != NULL);
  }
  if (s.nev == 1) printf("# server: %s\n", s.ev_what[0]);
  CHECK_EQ_INT(s.nmsg, 0);
  CHECK_EQ_INT(stats(c.tp).tls_failed, 1);
  CHECK_EQ_INT(stats(c.tp).conns, 0);
  rec_done(&s);
  rec_done(&c);
  CHECK_LOOP_CLEAN();
}

TEST(tls_wrong_ca_refused) { tls_refused(cert_other, "localhost", "self-signed"); }
TEST(tls_wrong_hostname_refused) {
  tls_refused(cert_ok, "wrong.example", "certificate name mismatch");
}

TEST(tls_bulk_partial_writes) { bulk(SIP_PROTO_TLS, 6); }

/* Stalled TLS handshakes (nothing sent, or part of a ClientHello) close at handshake_timeout;
 * while they hold the TLS cap a real TLS client evicts one, and TCP has its own cap. */
TEST(tls_handshake_deadline) {
  rec s, c;
  raw r1, r2, r3;
  const char *err;
  sip_tp_config scfg = {0}, ccfg = {0};
  scfg.tls_cert = cert_ok;
  scfg.tls_key = key_ok;
  scfg.handshake_timeout = 0.3;
  scfg.max_tls = 2;
  scfg.max_conns = 4;
  ccfg.tls_ca = cert_ok;
  rec_tp(&s, &scfg);
  rec_tp(&c, &ccfg);
  s.reply = RSP;
  int lt = sip_tp_listen(s.tp, SIP_PROTO_TLS, "127.0.0.1", 0, &err);
  int lc = sip_tp_listen(s.tp, SIP_PROTO_TCP, "127.0.0.1", 0, &err);
  sip_peer tls = listener_peer(s.tp, lt, SIP_PROTO_TLS),
           tcp = listener_peer(s.tp, lc, SIP_PROTO_TCP);
  ev_now_update(L);
  ev_tstamp t0 = ev_now(L);
  CHECK(raw_open(&r1, &tls) == 0 && raw_open(&r2, &tls) == 0);
  static const char hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"; /* 512 promised */
  raw_send(&r2, hello, sizeof hello - 1);
  CHECK(WAIT(stats(s.tp).accepted == 2, 3));
  CHECK_EQ_INT(stats(s.tp).conns_tls, 2);
  CHECK(raw_open(&r3, &tcp) == 0);
  raw_send(&r3, REQ, sizeof REQ - 1);
  CHECK(WAIT(s.nmsg == 1, 3));
  CHECK_EQ_INT(stats(s.tp).evicted, 0);
  CHECK(sip_tp_send(c.tp, &tls, "localhost", REQ, sizeof REQ - 1, &err) == 0);
  CHECK(WAIT(c.nmsg == 1, 3));
  CHECK(r1.eof && !r2.eof);
  CHECK_EQ_INT(stats(s.tp).evicted, 1);
  CHECK(WAIT(r2.eof, 3));
  double took = since(t0);
  CHECK(took >= 0.3 && took < 1.0);
  CHECK_EQ_INT(stats(s.tp).timeout_handshake, 1);
  CHECK(s.nev == 2 && !strcmp(s.ev_what[1], "TLS handshake timeout") && s.ev_err[1] == ETIMEDOUT);
  run_for(0.2);
  CHECK_EQ_INT(c.nev, 0);
  CHECK(!r3.eof);
  CHECK_EQ_INT(stats(s.tp).conns_tls, 1);
  CHECK_EQ_INT(stats(s.tp).conns_tcp, 1);
  raw_close(&r1);
  raw_close(&r2);
  raw_close(&r3);
  rec_done(&s);
  rec_done(&c);
  CHECK_LOOP_CLEAN();
}

/* ---- memory per idle connection -------------------------------------------------------------- */

size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

static size_t heap_used(void) {
  if (__sanitizer_get_current_allocated_bytes) return __sanitizer_get_current_allocated_bytes();
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

/* The child opens the connections with blocking sockets, so the parent's heap holds only the
 * server side, and sends one request on each (an idle connection has had traffic). It says 'a'
 * after the first connection, waits for a byte, opens the rest, says 'b', and waits for the
 * parent to close the pipe. */
/* WebSocket (ws): the Upgrade, its answer read to the end of its head, then REQ in a masked
 * frame (RFC 6455 §5.3; the key 0 leaves the bytes as they are). */
static const char WS_UPGRADE[] =
  "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
  "Sec-WebSocket-Protocol: sip\r\nSec-WebSocket-Version: 13\r\n\r\n";

static int child_send(int fd, SSL *s, const void *p, size_t n) {
  return (s ? SSL_write(s, p, (int)n) : write(fd, p, n)) == (long)n ? 0 : -1;
}

static int child_upgrade(int fd, SSL *s) {
  char buf[1024];
  size_t have = 0;
  if (child_send(fd, s, WS_UPGRADE, sizeof WS_UPGRADE - 1) < 0) return -1;
  while (have < 4 || memcmp(buf + have - 4, "\r\n\r\n", 4)) { /* byte by byte: nothing more */
    if ((s ? SSL_read(s, buf + have, 1) : read(fd, buf + have, 1)) != 1 || ++have == sizeof buf)
      return -1;
  }
  unsigned char frame[8 + sizeof REQ] = {0x81, 0x80 | 126, 0, sizeof REQ - 1, 0, 0, 0, 0};
  memcpy(frame + 8, REQ, sizeof REQ - 1);
  return child_send(fd, s, frame, 8 + sizeof REQ - 1);
}

static void child_connect(const sip_peer *to, int n, int tls, int ws, int wfd, int rfd) {
  SSL_CTX *ctx = tls ? SSL_CTX_new(TLS_client_method()) : NULL;
  char ch;
  int fds[n + 1];
  for (int i = 0; i <= n; i++) {
    int fd = fds[i] = socket(to->addr.ss_family, SOCK_STREAM, 0);
    if (connect(fd, (const struct sockaddr *)&to->addr, to->addrlen) < 0) _exit(1);
    SSL *s = NULL;
    if (tls) {
      s = SSL_new(ctx);
      SSL_set_fd(s, fd);
      if (SSL_connect(s) != 1) _exit(2);
      /* kept open, never freed: the process exits without close_notify */
    }
    if (ws ? child_upgrade(fd, s) < 0 : child_send(fd, s, REQ, sizeof REQ - 1) < 0) _exit(2);
    if (i == 0) {
      if (write(wfd, "a", 1) != 1 || read(rfd, &ch, 1) != 1) _exit(3);
    }
  }
  if (write(wfd, "b", 1) != 1) _exit(4);
  while (read(rfd, &ch, 1) > 0) {}
  /* drain what the server sent (session tickets), or the close would be a reset */
  for (int i = 0; i <= n; i++) {
    char junk[4096];
    while (recv(fds[i], junk, sizeof junk, MSG_DONTWAIT) > 0) {}
  }
  _exit(0);
}

static char child_said;
static void pipe_cb(struct ev_loop *loop, ev_io *w, int revents) {
  if (read(w->fd, &child_said, 1) != 1) ev_io_stop(loop, w);
}

/* Bytes per idle connection, as last measured for each transport. */
static size_t idle_bytes[SIP_PROTO_WSS + 1];

static void idle_memory(sip_proto proto, size_t goal) {
  enum { N = 200 };
  rec s;
  const char *err = NULL;
  sip_tp_config cfg = {0};
  cfg.tls_cert = cert_ok;
  cfg.tls_key = key_ok;
  cfg.max_per_source = N + 1; /* the child's connections all come from 127.0.0.1 */
  rec_tp(&s, &cfg);
  s.nostore = 1;
  int ls = sip_tp_listen(s.tp, proto, "127.0.0.1", 0, &err);
  sip_peer to = listener_peer(s.tp, ls, proto);
  int up[2], down[2];
  CHECK(pipe(up) == 0 && pipe(down) == 0);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(up[0]);
    close(down[1]);
    child_connect(&to, N, proto == SIP_PROTO_TLS || proto == SIP_PROTO_WSS,
                  proto == SIP_PROTO_WS || proto == SIP_PROTO_WSS, up[1], down[0]);
  }
  close(up[1]);
  close(down[0]);
  ev_io pw;
  ev_io_init(&pw, pipe_cb, up[0], EV_READ);
  ev_io_start(L, &pw);
  child_said = 0;
  CHECK(WAIT(child_said == 'a' && s.nmsg == 1, 5));
  run_for(0.1); /* let the first handshake finish: OpenSSL's one-time setup is not per connection */
  size_t before = heap_used();
  CHECK(write(down[1], "g", 1) == 1);
  CHECK(WAIT(child_said == 'b' && s.nmsg == N + 1, 10));
  CHECK_EQ_INT(stats(s.tp).conns, N + 1);
  run_for(0.2);
  size_t after = heap_used();
  size_t per = after > before ? (after - before) / N : 0;
  static const char *const name[] = {"", "UDP", "TCP", "TLS", "WS", "WSS"};
  idle_bytes[proto] = per;
  printf("# idle %s connection (server side): %zu bytes each (%d connections, heap +%zu)%s\n",
         name[proto], per, N, after - before,
         __sanitizer_get_current_allocated_bytes ? " [ASan allocator]" : "");
  CHECK(per > 0 && per <= goal);
  CHECK_EQ_INT(s.nev, 0);
  close(down[1]);
  waitpid(pid, NULL, 0);
  /* the child's exit closes them all, TLS without close_notify: still a plain "closed by peer" */
  CHECK(WAIT(stats(s.tp).conns == 0, 5));
  CHECK_EQ_INT(s.nev, N + 1);
  CHECK_EQ_INT(s.ev_errs, 0);
  if (s.ev_errs) printf("# %d: %s\n", s.ev_err[0], s.ev_what[0]);
  ev_io_stop(L, &pw);
  close(up[0]);
  rec_done(&s);
  CHECK_LOOP_CLEAN();
}

TEST(tcp_idle_memory) { idle_memory(SIP_PROTO_TCP, 8192); }
TEST(tls_idle_memory) { idle_memory(SIP_PROTO_TLS, 40960); }
/* An open, idle WebSocket keeps no framing state (sip_ws.c): WS no more than TCP (the goal of
 * issue #19 is TCP + 2 KiB), WSS no more than TLS, give or take OpenSSL's own spread between
 * runs (some 30 bytes a connection, the same whether the server has written or not). */
TEST(ws_idle_memory) { idle_memory(SIP_PROTO_WS, idle_bytes[SIP_PROTO_TCP]); }
TEST(wss_idle_memory) { idle_memory(SIP_PROTO_WSS, idle_bytes[SIP_PROTO_TLS] + 64); }

/* RFC 7118 between two transports: our client's Upgrade and masked frames, the server's answer
 * over the same connection, a request back the other way, over WS and WSS. */
static void ws_exchange(sip_proto proto) {
  rec s, c;
  const char *err = NULL;
  tls_pair(&s, &c, cert_ok);
  s.reply = RSP;
  int ls = sip_tp_listen(s.tp, proto, "127.0.0.1", 0, &err);
  CHECK(ls > 0 && sip_tp_listen_path(s.tp, (uint32_t)ls, "/") == 0);
  CHECK(sip_tp_listen_path(s.tp, 99, "/") < 0);
  sip_peer to = listener_peer(s.tp, ls, proto);
  uint32_t cid = 0;
  CHECK(sip_tp_send_conn(c.tp, &to, "localhost", REQ, sizeof REQ - 1, &cid, &err) == 0);
  CHECK(WAIT(c.nmsg == 1 || c.nev > 0, 3));
  for (int i = 0; i < c.nev; i++) printf("# client event: %s\n", c.ev_what[i]);
  if (c.nmsg == 1 && s.nmsg == 1) {
    CHECK(!strcmp(s.msg[0], REQ) && !strcmp(c.msg[0], RSP));
    CHECK(c.from[0].conn == cid && c.from[0].proto == proto && s.from[0].proto == proto);
    s.reply = NULL;
    CHECK(sip_tp_send(s.tp, &s.from[0], NULL, MSG_BODY, sizeof MSG_BODY - 1, &err) == 0);
    CHECK(WAIT(c.nmsg == 2, 3));
    CHECK(c.nmsg == 2 && !strcmp(c.msg[1], MSG_BODY));
  }
  CHECK_EQ_INT(stats(s.tp).conns_ws, 1);
  CHECK(sip_tp_close(c.tp, cid) == 0);
  CHECK(WAIT(s.nev == 1, 3));
  rec_done(&s);
  rec_done(&c);
  CHECK_LOOP_CLEAN();
}

TEST(ws_exchange_v4) { ws_exchange(SIP_PROTO_WS); }
TEST(wss_exchange_v4) { ws_exchange(SIP_PROTO_WSS); }

TEST(tls_cleanup_files) {
  CHECK(unlink(cert_ok) == 0 && unlink(key_ok) == 0);
  CHECK(unlink(cert_other) == 0 && unlink(key_other) == 0);
  CHECK(rmdir(dir) == 0);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  L = ev_loop_new(EVFLAG_AUTO);
  {
    int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    have_v6 = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0) close(fd);
  }
  RUN(resolve_and_format);
  RUN(source_for_loopback);
  RUN(udp_exchange_v4);
  RUN(udp_exchange_v6);
  RUN(tcp_response_same_connection_v4);
  RUN(tcp_response_same_connection_v6);
  RUN(tcp_pipelined_and_split);
  RUN(tcp_crlf_keepalive);
  RUN(tcp_framing_error_closes_one);
  RUN(tcp_message_too_large);
  RUN(tcp_close_and_free_inside_callback);
  RUN(tcp_idle_timeout);
  RUN(tcp_flow_held_and_pinged);
  RUN(tcp_free_inside_event);
  RUN(tcp_connection_cap_evicts_untrusted);
  RUN(tcp_out_of_descriptors_evicts_untrusted);
  RUN(tcp_outbound_evicts_untrusted);
  RUN(tcp_forward_keeps_its_own_connection);
  RUN(tcp_per_source_cap);
  RUN(tcp_per_source_cap_v6);
  RUN(tcp_first_message_deadline);
  RUN(tcp_message_deadline);
  RUN(tcp_idle_not_reset_by_bytes);
  RUN(tcp_connect_failure_reported);
  RUN(tcp_bulk_partial_writes);
  RUN(tls_self_signed_cert_made);
  RUN(tls_exchange_v4);
  RUN(tls_exchange_v6);
  RUN(tls_wrong_ca_refused);
  RUN(tls_wrong_hostname_refused);
  RUN(tls_bulk_partial_writes);
  RUN(tls_handshake_deadline);
  RUN(tcp_idle_memory);
  RUN(tls_idle_memory);
  RUN(ws_exchange_v4);
  RUN(wss_exchange_v4);
  RUN(ws_idle_memory);
  RUN(wss_idle_memory);
  RUN(tls_cleanup_files);
  ev_loop_destroy(L);
  return unit_done();
}
