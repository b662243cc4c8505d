/* fuzz_digest.c: the Digest parsers over arbitrary bytes must never crash or overread, and what
 * they accept must survive a write/parse round trip. The whole input is tried as a header value,
 * and so is the value of every auth header line in it (the seed corpus is whole SIP messages). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip_digest.h"

static sip_digest_replay *replay;

static void die(void) { abort(); }

static void round_trip_challenge(const sip_digest_challenge *c) {
  sip_buf b = SIP_BUF_INIT;
  if (sip_digest_write_challenge(&b, c) == 0) {
    char *sc = malloc(b.n ? b.n : 1);
    sip_digest_challenge d;
    if (sip_digest_parse_challenge(b.p, b.n, &d, sc, b.n, NULL) != SIP_DIGEST_OK) die();
    if (!sip_str_eq(c->realm, d.realm) || !sip_str_eq(c->nonce, d.nonce) || c->alg != d.alg ||
        c->qop != d.qop || c->stale != d.stale)
      die();
    free(sc);
  }
  sip_buf_free(&b);

  /* answer it */
  sip_digest_client cl;
  memset(&cl, 0, sizeof cl);
  cl.username = SIP_STR_LIT("alice");
  cl.password = SIP_STR_LIT("secret");
  cl.method = SIP_STR_LIT("REGISTER");
  cl.uri = SIP_STR_LIT("sip:example.com");
  cl.nc = 1;
  cl.cnonce = SIP_STR_LIT("0a4f113b");
  const char *err;
  if (sip_digest_client_credentials(&b, c, &cl, NULL, &err) == 0) {
    char *sc = malloc(b.n);
    sip_digest_credentials k;
    if (sip_digest_parse_credentials(b.p, b.n, &k, sc, b.n, NULL) != SIP_DIGEST_OK) die();
    sip_digest_input in;
    sip_digest_input_from(&in, &k, cl.method, SIP_STR_NULL);
    in.username = cl.username;
    in.password = cl.password;
    if (!sip_digest_verify(&in, k.response)) die();
    free(sc);
  }
  sip_buf_free(&b);
}

static void round_trip_credentials(const sip_digest_credentials *c) {
  sip_digest_input in;
  char out[SIP_DIGEST_HEX_MAX];
  sip_digest_input_from(&in, c, SIP_STR_LIT("INVITE"), SIP_STR_LIT("v=0\r\n"));
  in.password = SIP_STR_LIT("pw");
  (void)sip_digest_verify(&in, c->response);
  (void)sip_digest_rspauth(&in, out);
  (void)sip_digest_replay_check(replay, c->nonce, 0, c->nc);
  (void)sip_digest_nonce_check("k", 1, c->realm, c->nonce, 60, 1000);

  sip_buf b = SIP_BUF_INIT;
  if (sip_digest_write_credentials(&b, c) == 0) {
    char *sc = malloc(b.n ? b.n : 1);
    sip_digest_credentials d;
    if (sip_digest_parse_credentials(b.p, b.n, &d, sc, b.n, NULL) != SIP_DIGEST_OK) die();
    if (!sip_str_eq(c->username, d.username) || !sip_str_eq(c->uri, d.uri) ||
        !sip_str_eq(c->response, d.response) || c->nc != d.nc || c->qop != d.qop)
      die();
    free(sc);
  }
  sip_buf_free(&b);
}

static void one(const char *p, size_t n) {
  /* exact-size copies so ASan sees any overread */
  char *v = malloc(n ? n : 1), *sc = malloc(n ? n : 1);
  memcpy(v, p, n);
  sip_digest_challenge c;
  int rc = sip_digest_parse_challenge(v, n, &c, sc, n, NULL);
  if (rc == SIP_DIGEST_ESPACE || c.end > n) die(); /* scratch of n bytes always suffices */
  if (rc == SIP_DIGEST_OK) {
    round_trip_challenge(&c);
    if (c.end < n) { /* the next challenge of the same value */
      sip_digest_challenge d;
      (void)sip_digest_parse_challenge(v + c.end, n - c.end, &d, sc, n, NULL);
    }
  }
  sip_digest_credentials k;
  rc = sip_digest_parse_credentials(v, n, &k, sc, n, NULL);
  if (rc == SIP_DIGEST_ESPACE) die();
  if (rc == SIP_DIGEST_OK) round_trip_credentials(&k);
  sip_digest_info inf;
  rc = sip_digest_parse_info(v, n, &inf, sc, n, NULL);
  if (rc == SIP_DIGEST_ESPACE) die();
  if (rc == SIP_DIGEST_OK) {
    sip_buf b = SIP_BUF_INIT;
    if (sip_digest_write_info(&b, &inf) == 0 &&
        sip_digest_parse_info(b.p, b.n, &inf, sc, n, NULL) == SIP_DIGEST_ESYNTAX)
      die();
    sip_buf_free(&b);
  }
  uint64_t t;
  (void)sip_digest_nonce_time(sip_str_make(v, n), &t);
  free(v);
  free(sc);
}

static int ieq_prefix(const char *p, size_t n, const char *name) {
  size_t k = strlen(name);
  if (n < k) return 0;
  for (size_t i = 0; i < k; i++)
    if (sip_lower((unsigned char)p[i]) != sip_lower((unsigned char)name[i])) return 0;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!replay) replay = sip_digest_replay_new(64);
  const char *p = (const char *)data;
  one(p, size);
  static const char *const names[] = {"WWW-Authenticate:", "Proxy-Authenticate:", "Authorization:",
                                      "Proxy-Authorization:", "Authentication-Info:"};
  size_t i = 0;
  while (i < size) {
    size_t e = i;
    while (e < size && p[e] != '\n') e++;
    size_t len = e - i;
    if (len && p[i + len - 1] == '\r') len--;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
      if (ieq_prefix(p + i, len, names[k])) {
        size_t h = strlen(names[k]);
        one(p + i + h, len - h);
      }
    }
    i = e + 1;
  }
  return 0;
}
