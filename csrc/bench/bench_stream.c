/* bench_stream.c: the stream transport's hot path over loopback TCP: pipelined OPTIONS from raw
 * client sockets into one sip_tp, in batches, optionally answered (a 200 each, over the
 * connection it came on, which the client drains). Prints ns per message.
 *
 *   make build/libsipcore.a
 *   cc -O2 -g -Icsrc -o build/bench-stream csrc/bench/bench_stream.c build/libsipcore.a \
 *      -lev -lssl -lcrypto
 *   build/bench-stream [messages=1000000] [connections=1] [batch=50] [reply=0]
 *
 * The machine may be shared: run it several times, alternating with the build compared against,
 * and take the least disturbed (smallest) number of each. */
#define _GNU_SOURCE
#include "sip_transport.h"
#include "bench_util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

static const char REQ[] =
  "OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n"
  "Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK.1\r\n"
  "Max-Forwards: 70\r\n"
  "From: <sip:alice@127.0.0.1>;tag=1\r\n"
  "To: <sip:bob@127.0.0.1>\r\n"
  "Call-ID: c1@127.0.0.1\r\n"
  "CSeq: 1 OPTIONS\r\n"
  "Content-Length: 0\r\n\r\n";

static const char RSP[] =
  "SIP/2.0 200 OK\r\n"
  "Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK.1\r\n"
  "Call-ID: c1@127.0.0.1\r\n"
  "CSeq: 1 OPTIONS\r\n"
  "Content-Length: 0\r\n\r\n";

typedef struct client {
  int fd;
  ev_io io;
  size_t got; /* reply bytes drained */
} client;

static sip_tp *tp;
static long received;
static int reply;
static size_t drained;

static void on_recv(void *ud, const char *buf, size_t len, const sip_peer *from) {
  received++;
  if (reply) {
    const char *e;
    if (sip_tp_send(tp, from, NULL, RSP, sizeof RSP - 1, &e) < 0) {
      fprintf(stderr, "reply: %s\n", e);
      exit(1);
    }
  }
}

static void on_event(void *ud, uint32_t conn, int err, const char *what) {
  fprintf(stderr, "connection %u closed: %s\n", conn, what ? what : "");
  exit(1);
}

static void drain_cb(struct ev_loop *loop, ev_io *w, int revents) {
  client *c = w->data;
  char buf[65536];
  for (;;) {
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n > 0) {
      c->got += (size_t)n;
      drained += (size_t)n;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    fprintf(stderr, "client: server closed\n");
    exit(1);
  }
}

int main(int argc, char **argv) {
  long total = argc > 1 ? atol(argv[1]) : 1000000;
  int nconn = argc > 2 ? atoi(argv[2]) : 1;
  int batch = argc > 3 ? atoi(argv[3]) : 50;
  reply = argc > 4 ? atoi(argv[4]) : 0;
  if (total <= 0 || nconn <= 0 || batch <= 0) return 2;
  struct ev_loop *loop = ev_default_loop(0);
  sip_tp_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.max_conns = (unsigned)nconn + 16;
  cfg.max_per_source = (unsigned)nconn + 16;
  tp = sip_tp_new(loop, &cfg, on_recv, on_event, NULL);
  const char *err;
  int lid = sip_tp_listen(tp, SIP_PROTO_TCP, "127.0.0.1", 0, &err);
  if (lid < 0) {
    fprintf(stderr, "listen: %s\n", err);
    return 1;
  }
  sip_peer to;
  memset(&to, 0, sizeof to);
  sip_tp_local(tp, (uint32_t)lid, &to.addr, &to.addrlen);

  size_t blen = (sizeof REQ - 1) * (size_t)batch;
  char *bytes = malloc(blen);
  for (int i = 0; i < batch; i++) memcpy(bytes + i * (sizeof REQ - 1), REQ, sizeof REQ - 1);
  client *cl = calloc((size_t)nconn, sizeof *cl);
  for (int i = 0; i < nconn; i++) {
    cl[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(cl[i].fd, (struct sockaddr *)&to.addr, to.addrlen) < 0) {
      perror("connect");
      return 1;
    }
    fcntl(cl[i].fd, F_SETFL, O_NONBLOCK);
    ev_io_init(&cl[i].io, drain_cb, cl[i].fd, EV_READ);
    cl[i].io.data = &cl[i];
    ev_io_start(loop, &cl[i].io);
  }

  long rounds = total / ((long)batch * nconn);
  if (rounds < 1) rounds = 1;
  long want = 0;
  size_t want_drained = 0;
  double t0 = now();
  for (long r = 0; r < rounds; r++) {
    for (int i = 0; i < nconn; i++) {
      size_t off = 0;
      while (off < blen) {
        ssize_t n = send(cl[i].fd, bytes + off, blen - off, MSG_NOSIGNAL);
        if (n > 0) off += (size_t)n;
        else if (n < 0 && errno == EAGAIN) ev_run(loop, EVRUN_NOWAIT);
        else {
          perror("send");
          return 1;
        }
      }
    }
    want += (long)batch * nconn;
    if (reply) want_drained += (sizeof RSP - 1) * (size_t)batch * (size_t)nconn;
    while (received < want || drained < want_drained) ev_run(loop, EVRUN_ONCE);
  }
  double t = now() - t0;
  printf("%ld messages, %d connections, batches of %d%s: %.1f ns/msg\n", received, nconn, batch,
         reply ? ", answered" : "", t * 1e9 / (double)received);
  for (int i = 0; i < nconn; i++) {
    ev_io_stop(loop, &cl[i].io);
    close(cl[i].fd);
  }
  sip_tp_free(tp);
  free(cl);
  free(bytes);
  return 0;
}
