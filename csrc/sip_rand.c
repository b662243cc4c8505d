/* sip_rand.c: identifiers from OpenSSL's CSPRNG. */
#include "sip_rand.h"
#include <openssl/rand.h>
#include <string.h>

static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

int sip_rand_bytes(void *out, size_t n) {
  return RAND_bytes((unsigned char *)out, (int)n) == 1 ? 0 : -1;
}

int sip_rand_chars(char *out, size_t n) {
  unsigned char r[64];
  while (n) {
    size_t k = n < sizeof r ? n : sizeof r;
    if (sip_rand_bytes(r, k)) return -1;
    /* 62 symbols: reject bytes >= 248 to keep the draw uniform */
    size_t used = 0;
    for (size_t i = 0; i < k; i++)
      if (r[i] < 248) out[used++] = alnum[r[i] % 62];
    out += used;
    n -= used;
  }
  return 0;
}

int sip_rand_branch(char out[SIP_BRANCH_LEN + 1]) {
  memcpy(out, "z9hG4bK", 7); /* RFC 3261 §8.1.1.7 magic cookie */
  out[SIP_BRANCH_LEN] = 0;
  return sip_rand_chars(out + 7, SIP_BRANCH_LEN - 7);
}

int sip_rand_tag(char out[SIP_TAG_LEN + 1]) {
  out[SIP_TAG_LEN] = 0;
  return sip_rand_chars(out, SIP_TAG_LEN);
}

int sip_rand_callid(char out[SIP_CALLID_LEN + 1]) {
  out[SIP_CALLID_LEN] = 0;
  return sip_rand_chars(out, SIP_CALLID_LEN);
}
