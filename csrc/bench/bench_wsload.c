/* bench_wsload: REGISTER in a closed loop over TCP or WebSocket (RFC 7118), the same client code
 * for both, so the server's CPU per transaction compares the two framings (SIPp has no
 * WebSocket). C connections each keep one REGISTER outstanding for S seconds; the server's CPU
 * (utime + stime of PID from /proc) is read before and after.
 *
 *   bench-wsload tcp|ws HOST PORT CONNS SECONDS SERVER_PID
 * prints: "<proto> <transactions> txn <server cpu s> s <us per txn> us/txn <rate> /s" */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXC 256

typedef struct cl {
  int fd;
  unsigned cseq;
  char buf[8192];
  size_t have;
} cl;

static int ws;
static const char *host;
static int port;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu_of(int pid) {
  char path[64], st[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(st, 1, sizeof st - 1, f);
  fclose(f);
  st[n] = 0;
  char *p = strrchr(st, ')');
  unsigned long ut = 0, stm = 0;
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stm) != 2)
    return -1;
  return (double)(ut + stm) / sysconf(_SC_CLK_TCK);
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
    if (r < 0) die("send");
    p += r;
    n -= (size_t)r;
  }
}

/* The next REGISTER of client i, framed for the transport. */
static void send_register(cl *c, int i) {
  char msg[1024];
  unsigned char out[1100];
  int n = snprintf(msg, sizeof msg,
                   "REGISTER sip:%s:%d SIP/2.0\r\n"
                   "Via: SIP/2.0/%s 127.0.0.1:9;branch=z9hG4bK-%d-%u;rport\r\n"
                   "Max-Forwards: 70\r\nFrom: <sip:user%d@%s>;tag=t%d\r\nTo: <sip:user%d@%s>\r\n"
                   "Call-ID: bench-%d-%d@load\r\nCSeq: %u REGISTER\r\n"
                   "Contact: <sip:user%d@h%d.invalid;transport=%s>\r\nExpires: 3600\r\n"
                   "Content-Length: 0\r\n\r\n",
                   host, port, ws ? "WS" : "TCP", i, c->cseq, i, host, i, i, host, (int)getpid(), i,
                   c->cseq, i, i, ws ? "ws" : "tcp");
  c->cseq++;
  if (!ws) {
    send_all(c->fd, msg, (size_t)n);
    return;
  }
  size_t h = 2; /* a client masks (RFC 6455 §5.3); the key 0 keeps the bytes */
  out[0] = 0x81;
  if (n < 126) out[1] = (unsigned char)(0x80 | n);
  else {
    out[1] = 0x80 | 126;
    out[2] = (unsigned char)(n >> 8);
    out[3] = (unsigned char)n;
    h = 4;
  }
  memset(out + h, 0, 4);
  memcpy(out + h + 4, msg, (size_t)n);
  send_all(c->fd, (const char *)out, h + 4 + (size_t)n);
}

/* Bytes of one whole response at the start of c->buf, or 0. */
static size_t one_response(const cl *c) {
  if (ws) {
    if (c->have < 2) return 0;
    const unsigned char *b = (const unsigned char *)c->buf;
    size_t len = b[1] & 0x7f, h = 2;
    if (len == 126) {
      if (c->have < 4) return 0;
      len = (size_t)b[2] << 8 | b[3];
      h = 4;
    }
    return c->have >= h + len ? h + len : 0;
  }
  const char *e = memmem(c->buf, c->have, "\r\n\r\n", 4);
  return e ? (size_t)(e - c->buf) + 4 : 0; /* the answers to REGISTER have no body */
}

static void upgrade(int fd) {
  char req[512], ans[2048] = {0};
  int n = snprintf(req, sizeof req,
                   "GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Protocol: sip\r\n\r\n",
                   host, port);
  send_all(fd, req, (size_t)n);
  size_t have = 0;
  while (have < 4 || memcmp(ans + have - 4, "\r\n\r\n", 4)) {
    if (recv(fd, ans + have, 1, 0) != 1 || ++have == sizeof ans) die("upgrade");
  }
  if (memcmp(ans, "HTTP/1.1 101", 12)) {
    fprintf(stderr, "upgrade refused: %.*s\n", (int)have, ans);
    exit(1);
  }
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: bench-wsload tcp|ws HOST PORT CONNS SECONDS SERVER_PID\n");
    return 2;
  }
  ws = !strcmp(argv[1], "ws");
  host = argv[2];
  port = atoi(argv[3]);
  int nc = atoi(argv[4]);
  double secs = atof(argv[5]);
  int pid = atoi(argv[6]);
  if (nc < 1 || nc > MAXC) nc = MAXC;
  static cl c[MAXC];
  struct pollfd pf[MAXC];
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, host, &a.sin_addr);
  for (int i = 0; i < nc; i++) {
    int fd = c[i].fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
    if (ws) upgrade(fd);
    c[i].cseq = 1;
    pf[i].fd = fd;
    pf[i].events = POLLIN;
  }
  /* one round first: the bindings exist, the connections are warm */
  for (int i = 0; i < nc; i++) send_register(&c[i], i);
  unsigned long done = 0, warm = (unsigned long)nc;
  double cpu0 = 0, t0 = 0, end = 0;
  for (;;) {
    if (poll(pf, (nfds_t)nc, 5000) <= 0) die("poll (no answer in 5 s)");
    for (int i = 0; i < nc; i++) {
      if (!(pf[i].revents & POLLIN)) continue;
      ssize_t r = recv(c[i].fd, c[i].buf + c[i].have, sizeof c[i].buf - c[i].have, 0);
      if (r <= 0) die("recv");
      c[i].have += (size_t)r;
      size_t m;
      while ((m = one_response(&c[i]))) {
        memmove(c[i].buf, c[i].buf + m, c[i].have - m);
        c[i].have -= m;
        if (warm) {
          if (--warm == 0) {
            cpu0 = cpu_of(pid);
            t0 = now();
            end = t0 + secs;
          }
        } else {
          done++;
        }
        if (end && now() >= end) goto out;
        send_register(&c[i], i);
      }
    }
  }
out:;
  double cpu = cpu_of(pid) - cpu0, wall = now() - t0;
  printf("%s %lu txn %.2f s %.1f us/txn %.0f /s\n", ws ? "ws" : "tcp", done, cpu,
         done ? cpu * 1e6 / (double)done : 0, (double)done / wall);
  for (int i = 0; i < nc; i++) close(c[i].fd);
  return 0;
}
