/* sip_hash.h: SipHash-2-4 (Aumasson, Bernstein), a keyed 64-bit hash for tables whose keys come
 * from the network (transaction matching, digest replay tracking): without the key nobody can aim
 * many keys at one bucket. */
#ifndef SIP_HASH_H
#define SIP_HASH_H

#include <stddef.h>
#include <stdint.h>

#define SIP_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIP_ROUND          \
  do {                     \
    v0 += v1;              \
    v1 = SIP_ROTL(v1, 13); \
    v1 ^= v0;              \
    v0 = SIP_ROTL(v0, 32); \
    v2 += v3;              \
    v3 = SIP_ROTL(v3, 16); \
    v3 ^= v2;              \
    v0 += v3;              \
    v3 = SIP_ROTL(v3, 21); \
    v3 ^= v0;              \
    v2 += v1;              \
    v1 = SIP_ROTL(v1, 17); \
    v1 ^= v2;              \
    v2 = SIP_ROTL(v2, 32); \
  } while (0)

static inline uint64_t sip_le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static inline uint64_t sip_siphash(const uint8_t key[16], const void *data, size_t n) {
  const uint8_t *in = data;
  uint64_t k0 = sip_le64(key), k1 = sip_le64(key + 8);
  uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
  uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
  uint64_t b = (uint64_t)n << 56;
  size_t i;
  for (i = 0; i + 8 <= n; i += 8) {
    uint64_t m = sip_le64(in + i);
    v3 ^= m;
    SIP_ROUND;
    SIP_ROUND;
    v0 ^= m;
  }
  for (size_t j = 0; i + j < n; j++) b |= (uint64_t)in[i + j] << (8 * j);
  v3 ^= b;
  SIP_ROUND;
  SIP_ROUND;
  v0 ^= b;
  v2 ^= 0xff;
  SIP_ROUND;
  SIP_ROUND;
  SIP_ROUND;
  SIP_ROUND;
  return v0 ^ v1 ^ v2 ^ v3;
}

#endif
