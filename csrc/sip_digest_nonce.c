/* sip_digest_nonce.c: the server's stateless nonces (RFC 7616 §3.3) and the nonce-count replay
 * table (RFC 7616 §3.4). The digest grammar and hashing are in sip_digest.c. */
#include "sip_digest_nonce.h"

#include "sip_hash.h"
#include "sip_rand.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

/* Server nonces ------------------------------------------------------------------------------------*/

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

#define NONCE_RAW 48 /* 8 time + 8 random + 32 HMAC */

static void b64url_encode(const unsigned char *in, size_t n, char *out) { /* n % 3 == 0 */
  size_t o = 0;
  for (size_t i = 0; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = b64url[v >> 18];
    out[o++] = b64url[(v >> 12) & 63];
    out[o++] = b64url[(v >> 6) & 63];
    out[o++] = b64url[v & 63];
  }
  out[o] = 0;
}

static int b64url_val(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

static int decode_nonce(sip_str s, unsigned char out[NONCE_RAW]) {
  if (s.n != SIP_DIGEST_NONCE_LEN) return -1;
  for (size_t i = 0, o = 0; i < s.n; i += 4) {
    uint32_t v = 0;
    for (size_t k = 0; k < 4; k++) {
      int x = b64url_val((unsigned char)s.p[i + k]);
      if (x < 0) return -1;
      v = v << 6 | (uint32_t)x;
    }
    out[o++] = (unsigned char)(v >> 16);
    out[o++] = (unsigned char)(v >> 8);
    out[o++] = (unsigned char)v;
  }
  return 0;
}

/* HMAC-SHA256 (RFC 2104) over head || realm, keyed with the server secret. The context is kept per
 * thread with a copy of the key it holds: EVP_MAC_init with a NULL key restarts from the key
 * schedule already computed, where a new context per nonce costs far more than the hash of its
 * 64 bytes (fetching the digest by name, both key blocks, allocations). */
#define MAC_KEY_MAX 64
static int nonce_mac(const void *secret, size_t slen, const unsigned char head[16], sip_str realm,
                     unsigned char mac[32]) {
  static _Thread_local EVP_MAC_CTX *ctx;
  static _Thread_local unsigned char key[MAC_KEY_MAX];
  static _Thread_local size_t klen; /* 0: ctx holds no key we know */
  if (!secret || slen == 0) return -1;
  if (!ctx) {
    static EVP_MAC *m; /* fetched once, as sip_digest.c fetches its digests */
    if (!m) m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!m || !(ctx = EVP_MAC_CTX_new(m))) return -1;
  }
  int ok;
  if (klen == slen && CRYPTO_memcmp(key, secret, slen) == 0) {
    ok = EVP_MAC_init(ctx, NULL, 0, NULL);
  } else {
    char dig[] = "SHA256";
    OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, dig, 0),
                            OSSL_PARAM_construct_end()};
    klen = 0;
    ok = EVP_MAC_init(ctx, secret, slen, params);
    if (ok && slen <= MAC_KEY_MAX) {
      memcpy(key, secret, slen);
      klen = slen;
    }
  }
  size_t outl = 0;
  ok = ok && EVP_MAC_update(ctx, head, 16) &&
       (realm.n == 0 || EVP_MAC_update(ctx, (const unsigned char *)realm.p, realm.n)) &&
       EVP_MAC_final(ctx, mac, &outl, 32) && outl == 32;
  if (!ok) klen = 0; /* start over with the key next time */
  return ok ? 0 : -1;
}

int sip_digest_nonce_new(const void *secret, size_t slen, sip_str realm, uint64_t now,
                         char out[SIP_DIGEST_NONCE_LEN + 1]) {
  unsigned char raw[NONCE_RAW];
  for (int i = 0; i < 8; i++) raw[i] = (unsigned char)(now >> (56 - 8 * i));
  if (sip_rand_bytes(raw + 8, 8) != 0) return -1;
  if (nonce_mac(secret, slen, raw, realm, raw + 16)) return -1;
  b64url_encode(raw, NONCE_RAW, out);
  return 0;
}

int sip_digest_nonce_time(sip_str nonce, uint64_t *issued) {
  unsigned char raw[NONCE_RAW];
  if (decode_nonce(nonce, raw)) return -1;
  uint64_t t = 0;
  for (int i = 0; i < 8; i++) t = t << 8 | raw[i];
  *issued = t;
  return 0;
}

#define NONCE_SKEW 60 /* seconds a nonce may be "from the future" after our clock stepped back */

int sip_digest_nonce_check(const void *secret, size_t slen, sip_str realm, sip_str nonce,
                           uint64_t max_age, uint64_t now) {
  unsigned char raw[NONCE_RAW], mac[32];
  if (decode_nonce(nonce, raw)) return SIP_NONCE_INVALID;
  if (nonce_mac(secret, slen, raw, realm, mac)) return SIP_NONCE_INVALID;
  if (CRYPTO_memcmp(mac, raw + 16, 32) != 0) return SIP_NONCE_INVALID;
  uint64_t t = 0;
  for (int i = 0; i < 8; i++) t = t << 8 | raw[i];
  if (t > now) return t - now > NONCE_SKEW ? SIP_NONCE_STALE : SIP_NONCE_VALID;
  return now - t > max_age ? SIP_NONCE_STALE : SIP_NONCE_VALID;
}

/* Replay table -------------------------------------------------------------------------------------*/

/* 16 ways: at a third of the slots in use (20,000 nonces in a 65,536 table, a REGISTER storm of
 * one benchmark round) a bucket overflows about once in 15 rounds; with 4 ways about 130 did per
 * round, and a nonce issued in the same second as an evicted one came back stale. A bucket is 6
 * cache lines, scanned once per authenticated request. */
#define WAYS 16

typedef struct replay_entry {
  uint64_t fp; /* keyed fingerprint of the nonce */
  uint64_t issued;
  uint32_t nc; /* highest nc seen; 0 = free slot (nc 0 is never recorded) */
} replay_entry;

/* The watermark is kept per bucket: a nonce always hashes to the same bucket, so only an eviction
 * from its own bucket can have lost its history. One table-wide watermark made every nonce of the
 * current second stale as soon as any busy bucket overflowed (a REGISTER storm). */
struct sip_digest_replay {
  size_t nbuckets; /* power of two */
  unsigned char key[16];
  uint64_t *mark; /* per bucket: 1 + the newest issue time evicted from it; 0: none evicted */
  replay_entry *e;
};

sip_digest_replay *sip_digest_replay_new(size_t slots) {
  size_t n = 16;
  while (n < slots && n < ((size_t)1 << 22)) n <<= 1;
  sip_digest_replay *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->nbuckets = n / WAYS;
  r->e = calloc(n, sizeof *r->e);
  r->mark = calloc(r->nbuckets, sizeof *r->mark);
  if (!r->e || !r->mark || RAND_bytes(r->key, sizeof r->key) != 1) {
    sip_digest_replay_free(r);
    return NULL;
  }
  return r;
}

void sip_digest_replay_free(sip_digest_replay *r) {
  if (!r) return;
  free(r->e);
  free(r->mark);
  free(r);
}

/* Keyed with a per-table secret so clients cannot aim nonces at one bucket. The nonces tracked were
 * authenticated first (their HMAC), so a 64-bit fingerprint only has to tell ours apart. */
static uint64_t fingerprint(const sip_digest_replay *r, sip_str nonce, size_t *bucket) {
  uint64_t h = sip_siphash(r->key, nonce.p ? nonce.p : "", nonce.n);
  *bucket = (size_t)(h >> 32) & (r->nbuckets - 1);
  return h;
}

int sip_digest_replay_check(sip_digest_replay *r, sip_str nonce, uint64_t issued, uint32_t nc) {
  size_t bi;
  if (nc == 0) return SIP_REPLAY_SEEN;
  uint64_t fp = fingerprint(r, nonce, &bi);
  replay_entry *b = &r->e[bi * WAYS];
  replay_entry *free_slot = NULL, *oldest = NULL;
  for (int k = 0; k < WAYS; k++) {
    if (b[k].nc == 0) {
      if (!free_slot) free_slot = &b[k];
      continue;
    }
    if (b[k].fp == fp) {
      if (nc <= b[k].nc) return SIP_REPLAY_SEEN;
      b[k].nc = nc;
      return SIP_REPLAY_OK;
    }
    if (!oldest || b[k].issued < oldest->issued) oldest = &b[k];
  }
  /* Not tracked: new, unless it may be one we evicted (its history is gone). */
  uint64_t *mark = &r->mark[bi];
  if (*mark && issued < *mark) return SIP_REPLAY_STALE;
  replay_entry *slot = free_slot;
  if (!slot) {
    if (issued < oldest->issued) { /* the newcomer is the oldest: it is the one to drop */
      if (issued + 1 > *mark) *mark = issued + 1;
      return SIP_REPLAY_STALE;
    }
    if (oldest->issued + 1 > *mark) *mark = oldest->issued + 1;
    slot = oldest;
  }
  slot->fp = fp;
  slot->issued = issued;
  slot->nc = nc;
  return SIP_REPLAY_OK;
}
