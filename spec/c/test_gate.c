/* test_gate.c: the stateless challenge ahead of the transaction layer (sip_gate.h). It answers a
 * REGISTER without credentials for a host it serves with the registrar's 401 (RFC 3261 §8.2.7,
 * §22.1), and leaves to the transaction user every request another rule might answer otherwise. */
#define _GNU_SOURCE /* memmem */
#include "sip_gate.h"
#include "sip_rand.h"
#include "unit.h"

static const char SECRET[] = "gate test secret";
static const uint64_t NOW = 1790000000;

static sip_gate *gate(void) {
  sip_digest_challenge ch[2];
  memset(ch, 0, sizeof ch);
  ch[0].realm = SIP_STR_LIT("example.com");
  ch[0].alg = SIP_DIGEST_SHA256;
  ch[0].qop = SIP_DIGEST_QOP_AUTH;
  ch[0].has_qop = 1;
  ch[1] = ch[0];
  ch[1].alg = SIP_DIGEST_MD5;
  ch[1].opaque = SIP_STR_LIT("op");
  static const sip_str hosts[] = {SIP_STR_LIT("example.com"), SIP_STR_LIT("127.0.0.1"),
                                  SIP_STR_LIT("[::1]")};
  sip_gate_config c = {1u << SIP_M_REGISTER,
                       401,
                       "Unauthorized",
                       "WWW-Authenticate",
                       SIP_H_AUTHORIZATION,
                       SECRET,
                       sizeof SECRET - 1,
                       ch,
                       2,
                       hosts,
                       3};
  const char *err = "unset";
  sip_gate *g = sip_gate_new(&c, &err);
  CHECK(g != NULL);
  CHECK(err == NULL);
  return g;
}

static char text[2048];

/* A REGISTER with the given Request-URI and extra header lines (each ending in CRLF). */
static const char *reg(const char *ruri, const char *extra) {
  snprintf(text, sizeof text,
           "REGISTER %s SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 10.0.0.7:5070;branch=z9hG4bKgate1;rport\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:alice@example.com>;tag=a1\r\n"
           "To: <sip:alice@example.com>\r\n"
           "Call-ID: gate-1@10.0.0.7\r\n"
           "CSeq: 1 REGISTER\r\n"
           "Contact: <sip:alice@10.0.0.7:5070>\r\n"
           "%s"
           "Content-Length: 0\r\n\r\n",
           ruri, extra);
  return text;
}

static sip_hdr hdr[64];
static sip_msg req;

/* What the gate does with the message: 1 answered (response in out), 0 left to the TU. */
static int ask(sip_gate *g, const char *msg, sip_buf *out) {
  memset(&req, 0, sizeof req);
  if (sip_parse(msg, strlen(msg), &req, hdr, 64, NULL, SIP_PARSE_DGRAM) != 0) {
    FAILF("test message does not parse: %s", req.err.what);
    return -2;
  }
  sip_via_fix fix = {"192.0.2.9", 40000};
  return sip_gate_answer(g, &req, &fix, NOW, out);
}

TEST(answers_register_without_credentials_with_the_registrars_401) {
  sip_gate *g = gate();
  sip_buf out = SIP_BUF_INIT;
  CHECK_EQ_INT(ask(g, reg("sip:example.com", ""), &out), 1);
  sip_msg r;
  sip_hdr rh[64];
  memset(&r, 0, sizeof r);
  CHECK_EQ_INT(sip_parse(out.p, out.n, &r, rh, 64, NULL, SIP_PARSE_DGRAM), 0);
  CHECK_EQ_INT(r.status, 401);
  CHECK_STR(r.reason, "Unauthorized");
  /* §8.2.6.2: Via (with received and rport, RFC 3581 §4), From, To with a tag, Call-ID, CSeq */
  CHECK_STR(r.hdr[0].value,
            "SIP/2.0/UDP 10.0.0.7:5070;branch=z9hG4bKgate1;received=192.0.2.9;rport=40000");
  CHECK_STR(r.from.tag, "a1");
  CHECK(r.to.tag.n == SIP_TAG_LEN);
  CHECK_STR(r.call_id, "gate-1@10.0.0.7");
  CHECK_EQ_INT(r.cseq, 1);
  CHECK_EQ_INT(r.content_length, 0);
  /* one challenge per algorithm, in order, each with a fresh nonce of our secret */
  CHECK_EQ_INT(r.count[SIP_H_WWW_AUTHENTICATE], 2);
  sip_str nonces[2];
  const sip_hdr *h = sip_msg_find(&r, SIP_H_WWW_AUTHENTICATE);
  for (int i = 0; i < 2 && h; i++) {
    sip_digest_challenge c;
    char scratch[512];
    CHECK_EQ_INT(
      sip_digest_parse_challenge(h->value.p, h->value.n, &c, scratch, sizeof scratch, NULL), 0);
    CHECK_STR(c.realm, "example.com");
    CHECK_EQ_INT(c.alg, i == 0 ? SIP_DIGEST_SHA256 : SIP_DIGEST_MD5);
    CHECK_EQ_INT(c.qop, SIP_DIGEST_QOP_AUTH);
    CHECK_EQ_INT(c.stale, 0);
    if (i == 1) CHECK_STR(c.opaque, "op");
    else CHECK(c.opaque.p == NULL);
    CHECK_EQ_INT(sip_digest_nonce_check(SECRET, sizeof SECRET - 1, c.realm, c.nonce, 300, NOW + 1),
                 SIP_NONCE_VALID);
    nonces[i] = c.nonce;
    h = h->next != SIP_NO_HDR ? &r.hdr[h->next] : NULL;
  }
  CHECK(!sip_str_eq(nonces[0], nonces[1]));
  /* a retransmission gets other nonces but the same To tag (§8.2.7: tags of a stateless UAS are
   * the same for the same request); another request another tag */
  char tag[SIP_TAG_LEN + 1];
  memcpy(tag, r.to.tag.p, SIP_TAG_LEN);
  tag[SIP_TAG_LEN] = 0;
  sip_buf again = SIP_BUF_INIT;
  CHECK_EQ_INT(ask(g, reg("sip:example.com", ""), &again), 1);
  CHECK(again.n == out.n && memcmp(again.p, out.p, out.n) != 0);
  CHECK(memmem(again.p, again.n, nonces[0].p, nonces[0].n) == NULL);
  CHECK(memmem(again.p, again.n, tag, SIP_TAG_LEN) != NULL);
  sip_buf other = SIP_BUF_INIT;
  static char b[2048];
  snprintf(b, sizeof b, "%s", reg("sip:example.com", ""));
  memcpy(strstr(b, "gate1"), "gate2", 5); /* another branch: another transaction */
  CHECK_EQ_INT(ask(g, b, &other), 1);
  CHECK(memmem(other.p, other.n, tag, SIP_TAG_LEN) == NULL);
  sip_buf_free(&other);
  sip_buf_free(&again);
  sip_buf_free(&out);
  sip_gate_free(g);
}

TEST(serves_its_hosts_case_insensitively_ipv6_with_or_without_brackets) {
  sip_gate *g = gate();
  const char *ruris[] = {"sip:EXAMPLE.com", "sips:example.com:5061",
                         "sip:127.0.0.1:5060;transport=udp", "sip:[::1]:5060",
                         "sip:alice@example.com"};
  for (size_t i = 0; i < sizeof ruris / sizeof *ruris; i++) {
    sip_buf out = SIP_BUF_INIT;
    if (ask(g, reg(ruris[i], ""), &out) != 1) FAILF("%s not answered", ruris[i]);
    sip_buf_free(&out);
  }
  sip_gate_free(g);
}

TEST(leaves_to_the_tu_every_request_another_rule_may_answer) {
  sip_gate *g = gate();
  struct {
    const char *ruri, *extra, *why;
  } cases[] = {
    {"sip:example.net", "", "another domain (§10.3 step 1)"},
    {"sip:127.0.0.2", "", "another address"},
    {"tel:+15551234", "", "not a SIP URI (416, §16.3 step 2)"},
    {"sip:example.com",
     "Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"n\", "
     "uri=\"sip:example.com\", response=\"00\"\r\n",
     "credentials to verify (§22.4)"},
    {"sip:example.com", "Authorization: Basic YWxpY2U6c2VjcmV0\r\n",
     "credentials of another scheme"},
    {"sip:example.com", "Route: <sip:127.0.0.1;lr>\r\n", "a route set (§16.4)"},
    {"sip:example.com", "Proxy-Require: foo\r\n", "Proxy-Require (420, §16.3 step 5)"},
    {"sip:example.com", "Require: path\r\n", "Require (§10.3 step 2)"},
    {"sip:example.com", "Via: SIP/2.0/UDP 10.0.0.8;branch=z9hG4bKlower\r\n",
     "two Vias (loops, §16.3 step 4)"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    sip_buf out = SIP_BUF_INIT;
    if (ask(g, reg(cases[i].ruri, cases[i].extra), &out) != 0) FAILF("answered: %s", cases[i].why);
    CHECK(out.n == 0);
    sip_buf_free(&out);
  }
  /* Max-Forwards: 0 is 483 (§16.3 step 3); another method; two Vias in one header */
  sip_buf out = SIP_BUF_INIT;
  const char *m = reg("sip:example.com", "");
  static char b[2048];
  snprintf(b, sizeof b, "%s", m);
  memcpy(strstr(b, "Max-Forwards: 70"), "Max-Forwards: 00", 16);
  CHECK_EQ_INT(ask(g, b, &out), 0);
  snprintf(b, sizeof b, "OPTIONS%s", reg("sip:example.com", "") + 8);
  memcpy(strstr(b, "CSeq: 1 REGISTER"), "CSeq: 1 OPTIONS\r", 16);
  CHECK_EQ_INT(ask(g, b, &out), 0);
  snprintf(b, sizeof b, "%s", reg("sip:example.com", ""));
  char *v = strstr(b, ";rport\r\n");
  memmove(v + 30, v + 6, strlen(v + 6) + 1);
  memcpy(v, ";rport, SIP/2.0/UDP 10.0.0.8:1", 30);
  CHECK_EQ_INT(ask(g, b, &out), 0);
  CHECK(out.n == 0);
  sip_gate_free(g);
}

TEST(refuses_a_config_it_cannot_answer_with) {
  sip_digest_challenge ch;
  memset(&ch, 0, sizeof ch);
  ch.realm = SIP_STR_LIT("example.com");
  ch.alg = SIP_DIGEST_MD5;
  sip_str host = SIP_STR_LIT("example.com");
  sip_gate_config c = {1u << SIP_M_REGISTER,
                       401,
                       NULL,
                       "WWW-Authenticate",
                       SIP_H_AUTHORIZATION,
                       SECRET,
                       sizeof SECRET - 1,
                       &ch,
                       1,
                       &host,
                       1};
  const char *err = NULL;
  sip_gate *g = sip_gate_new(&c, &err);
  CHECK(g != NULL);
  sip_gate_free(g);
  sip_gate_config bad = c;
  bad.nchallenges = 0;
  CHECK(sip_gate_new(&bad, &err) == NULL && strstr(err, "challenge"));
  bad = c;
  bad.status = 403;
  CHECK(sip_gate_new(&bad, &err) == NULL && strstr(err, "401 or 407"));
  bad = c;
  bad.header = "WWW-Authenticate: x\r\nEvil";
  CHECK(sip_gate_new(&bad, &err) == NULL && strstr(err, "header"));
  bad = c;
  bad.secret_len = 0;
  CHECK(sip_gate_new(&bad, &err) == NULL && strstr(err, "secret"));
  sip_digest_challenge evil = ch;
  evil.realm = SIP_STR_LIT("a\r\nb");
  bad = c;
  bad.challenges = &evil;
  CHECK(sip_gate_new(&bad, &err) == NULL && strstr(err, "cannot be written"));
}

int main(void) {
  RUN(answers_register_without_credentials_with_the_registrars_401);
  RUN(serves_its_hosts_case_insensitively_ipv6_with_or_without_brackets);
  RUN(leaves_to_the_tu_every_request_another_rule_may_answer);
  RUN(refuses_a_config_it_cannot_answer_with);
  return unit_done();
}
