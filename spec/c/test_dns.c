/* test_dns.c: DNS answers read by sip_dns.c (RFC 1035 §4, RFC 2782, RFC 3403, RFC 2308 §5), and
 * the resolver's cache over a loopback name server written here (sip_resolve.c). */
#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sip_dns.h"
#include "sip_resolve.h"
#include "unit.h"

/* A message under construction. */
typedef struct msg {
  uint8_t b[4096];
  size_t n;
} msg;

static void put(msg *m, const void *p, size_t n) {
  memcpy(m->b + m->n, p, n);
  m->n += n;
}
static void put16(msg *m, unsigned v) {
  uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
  put(m, x, 2);
}
static void put32(msg *m, uint32_t v) {
  put16(m, v >> 16);
  put16(m, v & 0xffff);
}
static void name(msg *m, const char *s) {
  while (*s) {
    const char *dot = strchr(s, '.');
    size_t l = dot ? (size_t)(dot - s) : strlen(s);
    uint8_t c = (uint8_t)l;
    put(m, &c, 1);
    put(m, s, l);
    s += l + (dot ? 1 : 0);
  }
  put(m, "", 1);
}
/* header + question for qname/qtype, with an, ns counts */
static void start(msg *m, const char *q, unsigned qtype, unsigned rcode, unsigned an, unsigned ns) {
  m->n = 0;
  put16(m, 0x1234);
  put16(m, 0x8180 | rcode);
  put16(m, 1);
  put16(m, an);
  put16(m, ns);
  put16(m, 0);
  name(m, q);
  put16(m, qtype);
  put16(m, 1);
}
/* a record header owned by the question's name (pointer 0xc00c) */
static void rr(msg *m, unsigned type, uint32_t ttl, unsigned rdlen) {
  put16(m, 0xc00c);
  put16(m, type);
  put16(m, 1);
  put32(m, ttl);
  put16(m, rdlen);
}

TEST(a_and_aaaa) {
  msg m;
  sip_dns_answer a;
  const char *err = NULL;
  start(&m, "Sip.Example.COM", SIP_DNS_A, 0, 2, 0);
  rr(&m, SIP_DNS_A, 300, 4);
  put(&m, "\x7f\x00\x00\x01", 4);
  rr(&m, SIP_DNS_A, 60, 4);
  put(&m, "\xc0\x00\x02\x05", 4);
  CHECK(sip_dns_parse(m.b, m.n, "sip.example.com.", SIP_DNS_A, &a, &err) == 0);
  CHECK_EQ_INT(a.n, 2);
  CHECK(a.rr[0].ttl == 300 && a.rr[1].ttl == 60);
  CHECK(!memcmp(a.rr[1].addr, "\xc0\x00\x02\x05", 4));
  start(&m, "v6.example.com", SIP_DNS_AAAA, 0, 1, 0);
  rr(&m, SIP_DNS_AAAA, 5, 16);
  put(&m, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
  CHECK(sip_dns_parse(m.b, m.n, "v6.example.com", SIP_DNS_AAAA, &a, &err) == 0 && a.n == 1);
  CHECK(a.rr[0].addr[15] == 1);
  rr(&m, SIP_DNS_AAAA, 5, 4); /* an AAAA of 4 bytes */
  put(&m, "\1\2\3\4", 4);
  m.b[7] = 2;
  CHECK(sip_dns_parse(m.b, m.n, "v6.example.com", SIP_DNS_AAAA, &a, &err) == -1);
  CHECK(strstr(err, "wrong size") != NULL);
}

TEST(srv_and_naptr) {
  msg m;
  sip_dns_answer a;
  const char *err = NULL;
  start(&m, "_sip._udp.example.com", SIP_DNS_SRV, 0, 1, 0);
  rr(&m, SIP_DNS_SRV, 60, 6 + 11);
  put16(&m, 10);
  put16(&m, 20);
  put16(&m, 5070);
  name(&m, "a.Example");
  CHECK(sip_dns_parse(m.b, m.n, "_sip._udp.example.com", SIP_DNS_SRV, &a, &err) == 0);
  CHECK(a.n == 1 && a.rr[0].prio == 10 && a.rr[0].weight == 20 && a.rr[0].port == 5070);
  CHECK(!strcmp(sip_dns_name(&a, &a.rr[0]), "a.example"));
  start(&m, "example.com", SIP_DNS_NAPTR, 0, 1, 0);
  rr(&m, SIP_DNS_NAPTR, 60, 4 + 2 + 8 + 1 + 2);
  put16(&m, 10);
  put16(&m, 5);
  put(&m, "\1s\7sip+d2t\0", 11);
  put16(&m, 0xc00c); /* the replacement: the question's name, compressed */
  CHECK(sip_dns_parse(m.b, m.n, "example.com", SIP_DNS_NAPTR, &a, &err) == 0 && a.n == 1);
  CHECK(a.rr[0].prio == 10 && a.rr[0].weight == 5);
  CHECK(!strcmp(a.rr[0].flags, "s") && !strcmp(a.rr[0].service, "SIP+D2T"));
  CHECK(!strcmp(sip_dns_name(&a, &a.rr[0]), "example.com"));
}

TEST(cname_chain_and_loops) {
  msg m;
  sip_dns_answer a;
  const char *err = NULL;
  start(&m, "www.example.com", SIP_DNS_A, 0, 2, 0); /* www CNAME host.example; host A */
  rr(&m, SIP_DNS_CNAME, 60, 14);
  size_t target = m.n;
  name(&m, "host.example");
  put16(&m, 0xc000 | (unsigned)target);
  put16(&m, SIP_DNS_A);
  put16(&m, 1);
  put32(&m, 30);
  put16(&m, 4);
  put(&m, "\x0a\0\0\x01", 4);
  CHECK(sip_dns_parse(m.b, m.n, "www.example.com", SIP_DNS_A, &a, &err) == 0 && a.n == 1);
  CHECK(a.rr[0].addr[0] == 10);
  start(&m, "self.example", SIP_DNS_A, 0, 1, 0); /* a CNAME pointing at itself */
  rr(&m, SIP_DNS_CNAME, 60, 2);
  put16(&m, 0xc00c);
  CHECK(sip_dns_parse(m.b, m.n, "self.example", SIP_DNS_A, &a, &err) == -1);
  CHECK(!strcmp(err, "CNAME loop"));
  start(&m, "p.example", SIP_DNS_A, 0, 1, 0); /* an owner name pointing at itself */
  size_t at = m.n;
  put16(&m, 0xc000 | (unsigned)at);
  put16(&m, SIP_DNS_A);
  put16(&m, 1);
  put32(&m, 1);
  put16(&m, 4);
  put(&m, "\1\2\3\4", 4);
  CHECK(sip_dns_parse(m.b, m.n, "p.example", SIP_DNS_A, &a, &err) == -1);
  CHECK(!strcmp(err, "compression loop in a name"));
}

TEST(negative_and_malformed) {
  msg m;
  sip_dns_answer a;
  const char *err = NULL;
  start(&m, "nx.example", SIP_DNS_A, 3, 0, 1); /* NXDOMAIN with the zone's SOA */
  put16(&m, 0xc00c + 3);                       /* "example" */
  put16(&m, SIP_DNS_SOA);
  put16(&m, 1);
  put32(&m, 900);
  put16(&m, 2 + 2 + 20);
  put16(&m, 0xc00c);
  put16(&m, 0xc00c);
  put32(&m, 1);
  put32(&m, 2);
  put32(&m, 3);
  put32(&m, 4);
  put32(&m, 120); /* minimum */
  CHECK(sip_dns_parse(m.b, m.n, "nx.example", SIP_DNS_A, &a, &err) == 0);
  CHECK(a.n == 0 && a.rcode == 3 && a.neg_ttl == 120);
  for (size_t cut = 0; cut < m.n; cut++) /* every prefix: an error, never a read past it */
    CHECK(sip_dns_parse(m.b, cut, "nx.example", SIP_DNS_A, &a, &err) == -1 || cut >= 12);
  start(&m, "big.example", SIP_DNS_A, 0, 65, 0);
  CHECK(sip_dns_parse(m.b, m.n, "big.example", SIP_DNS_A, &a, &err) == -1);
  CHECK(!strcmp(err, "DNS answer has too many records"));
  start(&m, "x.example", SIP_DNS_A, 0, 1, 0);
  m.b[2] &= 0x7f; /* a query, not a response */
  CHECK(sip_dns_parse(m.b, m.n, "x.example", SIP_DNS_A, &a, &err) == -1);
  start(&m, "x.example", SIP_DNS_A, 0, 1, 0);
  rr(&m, SIP_DNS_A, 1, 4);
  put(&m, "\1\2", 2); /* cut short */
  CHECK(sip_dns_parse(m.b, m.n, "x.example", SIP_DNS_A, &a, &err) == -1);
  CHECK(!strcmp(err, "record data runs past the message"));
}

/* ---- the resolver's cache over a name server on loopback ----------------------------------- */

static int ns_fd, ns_queries;
static ev_io ns_io;

static void ns_cb(struct ev_loop *loop, ev_io *w, int revents) {
  uint8_t q[512];
  struct sockaddr_storage from;
  socklen_t fl = sizeof from;
  ssize_t n = recvfrom(ns_fd, q, sizeof q, 0, (struct sockaddr *)&from, &fl);
  if (n < 12) return;
  ns_queries++;
  msg m;
  m.n = 0;
  put(&m, q, (size_t)n); /* the question back, as an answer with one A record (TTL 1) */
  m.b[2] = 0x81;
  m.b[3] = 0x80;
  m.b[7] = 1;
  m.b[11] = 0;
  rr(&m, SIP_DNS_A, 1, 4);
  put(&m, "\x7f\0\0\x07", 4);
  sendto(ns_fd, m.b, m.n, 0, (struct sockaddr *)&from, fl);
}

static int answers;
static void got(void *ud, const sip_resolve_result *r) {
  answers++;
  *(int *)ud = r->status == SIP_RES_OK && r->n == 1 && r->rr[0].addr[3] == 7;
}

TEST(resolver_cache) {
  struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
  ns_fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  CHECK(bind(ns_fd, (struct sockaddr *)&a, sizeof a) == 0);
  getsockname(ns_fd, (struct sockaddr *)&a, &al);
  ev_io_init(&ns_io, ns_cb, ns_fd, EV_READ);
  ev_io_start(loop, &ns_io);
  ev_unref(loop); /* the name server does not keep the loop alive: the resolver's timer does */
  char servers[64];
  snprintf(servers, sizeof servers, "127.0.0.1:%d", ntohs(a.sin_port));
  sip_resolver_config c = {servers, 0.5, 1, 2, 0, 0, 0};
  const char *err = NULL;
  sip_resolver *r = sip_resolver_new(loop, &c, &err);
  CHECK(r != NULL);
  if (!r) return;
  sip_resolve_result now;
  int ok1 = 0, ok2 = 0;
  CHECK(sip_resolve(r, "a.test", SIP_DNS_A, got, &ok1, &now) == 0);
  CHECK(sip_resolve(r, "A.TEST.", SIP_DNS_A, got, &ok2, &now) == 0); /* shares the query */
  CHECK(sip_resolve(r, "a..test", SIP_DNS_A, got, &ok2, &now) == -1);
  ev_run(loop, 0);
  CHECK(ok1 && ok2 && answers == 2 && ns_queries == 1);
  CHECK(sip_resolve(r, "a.test", SIP_DNS_A, got, &ok1, &now) == 1 && now.n == 1);
  CHECK(sip_resolve(r, "a.test", SIP_DNS_A, NULL, NULL, &now) == 1); /* a look only */
  CHECK(sip_resolve(r, "b.test", SIP_DNS_A, NULL, NULL, &now) == 0 && ns_queries == 1);
  int ok3 = 0, ok4 = 0; /* two more names: the cache of 2 evicts the least recently used */
  sip_resolve(r, "b.test", SIP_DNS_A, got, &ok3, &now);
  sip_resolve(r, "c.test", SIP_DNS_A, got, &ok4, &now);
  ev_run(loop, 0);
  CHECK(ok3 && ok4 && ns_queries == 3);
  sip_resolver_stats st;
  sip_resolver_get_stats(r, &st);
  CHECK(st.entries == 2 && st.evicted == 1 && st.inflight == 0);
  CHECK(sip_resolve(r, "a.test", SIP_DNS_A, NULL, NULL, &now) == 0);
  int closed = -1;
  CHECK(sip_resolve(r, "d.test", SIP_DNS_A, got, &closed, &now) == 0);
  sip_resolver_free(r); /* the lookup in flight ends, its callback told */
  CHECK(closed == 0 && answers == 5);
  ev_ref(loop);
  ev_io_stop(loop, &ns_io);
  close(ns_fd);
  ev_loop_destroy(loop);
}

int main(void) {
  RUN(a_and_aaaa);
  RUN(srv_and_naptr);
  RUN(cname_chain_and_loops);
  RUN(negative_and_malformed);
  RUN(resolver_cache);
  return unit_done();
}
