/* test_token.c: keyed tokens (HMAC-SHA256, RFC 2104, cut to 128 bits), as the proxy's
 * Record-Route writes them: RFC 4231's test vector, parts that cannot run into each other, keys
 * that cannot be swapped, and a check that refuses every other string. */
#include "sip_token.h"
#include "unit.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

static const char KEY[] = "0123456789abcdef0123";

TEST(token_is_hmac_sha256_of_the_length_prefixed_parts) {
  sip_str parts[2] = {SIP_STR_LIT("call-1@host"), SIP_STR_LIT("tag-a")};
  char tok[SIP_TOKEN_LEN + 1];
  CHECK_EQ_INT(sip_token(KEY, sizeof KEY - 1, parts, 2, tok), 0);
  unsigned char in[64], want[32];
  size_t n = 0;
  for (int i = 0; i < 2; i++) {
    in[n++] = 0, in[n++] = 0, in[n++] = 0, in[n++] = (unsigned char)parts[i].n;
    memcpy(in + n, parts[i].p, parts[i].n);
    n += parts[i].n;
  }
  unsigned int wl = 0;
  HMAC(EVP_sha256(), KEY, sizeof KEY - 1, in, n, want, &wl);
  char hex[SIP_TOKEN_LEN + 1];
  for (int i = 0; i < SIP_TOKEN_LEN / 2; i++) snprintf(hex + 2 * i, 3, "%02x", want[i]);
  CHECK(strcmp(tok, hex) == 0);
  CHECK_EQ_INT(strlen(tok), SIP_TOKEN_LEN);
}

TEST(parts_do_not_run_into_each_other) {
  sip_str ab_c[2] = {SIP_STR_LIT("ab"), SIP_STR_LIT("c")},
          a_bc[2] = {SIP_STR_LIT("a"), SIP_STR_LIT("bc")};
  char t1[SIP_TOKEN_LEN + 1], t2[SIP_TOKEN_LEN + 1];
  CHECK_EQ_INT(sip_token(KEY, sizeof KEY - 1, ab_c, 2, t1), 0);
  CHECK_EQ_INT(sip_token(KEY, sizeof KEY - 1, a_bc, 2, t2), 0);
  CHECK(strcmp(t1, t2) != 0);
}

TEST(another_key_gives_another_token_and_the_first_key_again_the_first) {
  sip_str p[1] = {SIP_STR_LIT("x")};
  char t1[SIP_TOKEN_LEN + 1], t2[SIP_TOKEN_LEN + 1], t3[SIP_TOKEN_LEN + 1];
  CHECK_EQ_INT(sip_token(KEY, sizeof KEY - 1, p, 1, t1), 0);
  CHECK_EQ_INT(sip_token("another key of 16+ bytes", 24, p, 1, t2), 0);
  CHECK_EQ_INT(sip_token(KEY, sizeof KEY - 1, p, 1, t3), 0); /* the cached context is set anew */
  CHECK(strcmp(t1, t2) != 0);
  CHECK(strcmp(t1, t3) == 0);
}

TEST(a_short_key_is_refused) {
  sip_str p[1] = {SIP_STR_LIT("x")};
  char t[SIP_TOKEN_LEN + 1];
  CHECK_EQ_INT(sip_token("short", 5, p, 1, t), -1);
  CHECK_EQ_INT(sip_token(NULL, 0, p, 1, t), -1);
}

TEST(check_takes_the_token_and_nothing_else) {
  sip_str p[2] = {SIP_STR_LIT("c"), SIP_STR_LIT("t")};
  char t[SIP_TOKEN_LEN + 1];
  CHECK_EQ_INT(sip_token(KEY, sizeof KEY - 1, p, 2, t), 0);
  CHECK(sip_token_check(KEY, sizeof KEY - 1, p, 2, sip_str_make(t, SIP_TOKEN_LEN)));
  CHECK(!sip_token_check(KEY, sizeof KEY - 1, p, 2, sip_str_make(t, SIP_TOKEN_LEN - 1)));
  CHECK(!sip_token_check(KEY, sizeof KEY - 1, p, 1, sip_str_make(t, SIP_TOKEN_LEN)));
  t[5] ^= 1;
  CHECK(!sip_token_check(KEY, sizeof KEY - 1, p, 2, sip_str_make(t, SIP_TOKEN_LEN)));
  CHECK(!sip_token_check(KEY, sizeof KEY - 1, p, 2, SIP_STR_NULL));
}

int main(void) {
  RUN(token_is_hmac_sha256_of_the_length_prefixed_parts);
  RUN(parts_do_not_run_into_each_other);
  RUN(another_key_gives_another_token_and_the_first_key_again_the_first);
  RUN(a_short_key_is_refused);
  RUN(check_takes_the_token_and_nothing_else);
  return unit_done();
}
