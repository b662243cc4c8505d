/* sip_token.c: keyed tokens, see sip_token.h. */
#include "sip_token.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

/* The MAC context is kept per thread with the key it was set up for: EVP_MAC_init with a NULL key
 * restarts from the key schedule already computed, so a token costs the hash of its input, not
 * a fetch, two key blocks and allocations each time. */
#define KEY_MAX 64

static int mac(const void *key, size_t klen, const sip_str *parts, size_t n,
               unsigned char out[32]) {
  static _Thread_local EVP_MAC_CTX *ctx;
  static _Thread_local unsigned char held[KEY_MAX];
  static _Thread_local size_t hlen; /* 0: ctx holds no key we know */
  if (!key || klen < SIP_TOKEN_KEY_MIN) return -1;
  if (!ctx) {
    static EVP_MAC *m;
    if (!m) m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!m || !(ctx = EVP_MAC_CTX_new(m))) return -1;
  }
  int ok;
  if (hlen == klen && CRYPTO_memcmp(held, key, klen) == 0) {
    ok = EVP_MAC_init(ctx, NULL, 0, NULL);
  } else {
    char dig[] = "SHA256";
    OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, dig, 0),
                            OSSL_PARAM_construct_end()};
    hlen = 0;
    ok = EVP_MAC_init(ctx, key, klen, params);
    if (ok && klen <= KEY_MAX) {
      memcpy(held, key, klen);
      hlen = klen;
    }
  }
  for (size_t i = 0; ok && i < n; i++) {
    unsigned char len[4] = {(unsigned char)(parts[i].n >> 24), (unsigned char)(parts[i].n >> 16),
                            (unsigned char)(parts[i].n >> 8), (unsigned char)parts[i].n};
    ok = EVP_MAC_update(ctx, len, 4) &&
         (parts[i].n == 0 || EVP_MAC_update(ctx, (const unsigned char *)parts[i].p, parts[i].n));
  }
  size_t outl = 0;
  ok = ok && EVP_MAC_final(ctx, out, &outl, 32) && outl == 32;
  if (!ok) hlen = 0;
  return ok ? 0 : -1;
}

int sip_token(const void *key, size_t klen, const sip_str *parts, size_t n,
              char out[SIP_TOKEN_LEN + 1]) {
  static const char hex[] = "0123456789abcdef";
  unsigned char h[32];
  if (mac(key, klen, parts, n, h)) return -1;
  for (int i = 0; i < SIP_TOKEN_LEN / 2; i++) {
    out[2 * i] = hex[h[i] >> 4];
    out[2 * i + 1] = hex[h[i] & 15];
  }
  out[SIP_TOKEN_LEN] = 0;
  return 0;
}

int sip_token_check(const void *key, size_t klen, const sip_str *parts, size_t n, sip_str tok) {
  char want[SIP_TOKEN_LEN + 1];
  if (tok.n != SIP_TOKEN_LEN || sip_token(key, klen, parts, n, want)) return 0;
  return CRYPTO_memcmp(want, tok.p, SIP_TOKEN_LEN) == 0;
}
