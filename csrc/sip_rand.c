/* sip_rand.c: identifiers from OpenSSL's CSPRNG. */
#include "sip_rand.h"
#include "sip_hash.h"
#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>

static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/* RAND_bytes costs about a microsecond a call whatever its size, and the stack draws a tag or
 * branch for nearly every message: small draws come from a pool refilled 4 KiB at a time. */
static unsigned char pool[4096];
static size_t pool_left;

/* A forked child must not replay its parent's pool: it starts with an empty one. (A getpid()
 * per draw did the same at the price of a system call per tag or branch.) */
static void pool_forget(void) { pool_left = 0; }
static void pool_init(void) { pthread_atfork(NULL, NULL, pool_forget); }
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

int sip_rand_bytes(void *out, size_t n) {
  if (n > sizeof pool / 4) return RAND_bytes((unsigned char *)out, (int)n) == 1 ? 0 : -1;
  pthread_once(&pool_once, pool_init);
  if (pool_left < n) {
    if (RAND_bytes(pool, (int)sizeof pool) != 1) return -1;
    pool_left = sizeof pool;
  }
  unsigned char *src = pool + sizeof pool - pool_left;
  memcpy(out, src, n);
  memset(src, 0, n); /* what was handed out does not stay in memory */
  pool_left -= n;
  return 0;
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

/* The key of sip_rand_keyed_hash, drawn at its first use; a forked child keeps it (its tags and
 * loop keys stay those of its parent, which is what a stable identifier wants). */
static uint8_t stable_key[16];
static int stable_key_ok;
static void stable_key_init(void) {
  stable_key_ok = RAND_bytes(stable_key, sizeof stable_key) == 1;
}
static pthread_once_t stable_key_once = PTHREAD_ONCE_INIT;

int sip_rand_keyed_hash(const void *id, size_t n, uint64_t *out) {
  pthread_once(&stable_key_once, stable_key_init);
  if (!stable_key_ok) return -1;
  *out = sip_siphash(stable_key, id, n);
  return 0;
}

int sip_rand_stable_tag(const void *id, size_t n, char out[SIP_TAG_LEN + 1]) {
  static const char hex[] = "0123456789abcdef";
  uint64_t h;
  if (sip_rand_keyed_hash(id, n, &h)) return -1;
  for (int i = 0; i < SIP_TAG_LEN; i++, h >>= 4) out[i] = hex[h & 15];
  out[SIP_TAG_LEN] = 0;
  return 0;
}

int sip_rand_callid(char out[SIP_CALLID_LEN + 1]) {
  out[SIP_CALLID_LEN] = 0;
  return sip_rand_chars(out, SIP_CALLID_LEN);
}
