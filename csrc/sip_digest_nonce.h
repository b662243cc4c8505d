/* sip_digest_nonce.h: the server side of digest authentication that keeps no per-client state:
 * stateless nonces and nonce-count replay tracking. Pure C over OpenSSL 3; no Lua.
 * sip_digest.h includes it. */
#ifndef SIP_DIGEST_NONCE_H
#define SIP_DIGEST_NONCE_H

#include <stddef.h>
#include <stdint.h>
#include "sip_str.h"

/* Server: stateless nonces ------------------------------------------------------------------------
 * nonce = base64url(issued (8 bytes, big-endian seconds) || random (8) ||
 *                   HMAC-SHA256(secret, issued || random || realm)), 64 characters. */
#define SIP_DIGEST_NONCE_LEN 64

enum { SIP_NONCE_VALID = 0, SIP_NONCE_STALE = 1, SIP_NONCE_INVALID = 2 };

/* Writes SIP_DIGEST_NONCE_LEN characters and a NUL. 0, or -1 if the RNG failed. */
int sip_digest_nonce_new(const void *secret, size_t slen, sip_str realm, uint64_t now,
                         char out[SIP_DIGEST_NONCE_LEN + 1]);
/* VALID, STALE (authentic but older than max_age seconds: answer with stale=true, RFC 7616
 * §3.3) or INVALID (not ours, tampered, other realm). */
int sip_digest_nonce_check(const void *secret, size_t slen, sip_str realm, sip_str nonce,
                           uint64_t max_age, uint64_t now);
/* The issue time of a nonce of our format (not authenticated: check it first). 0, or -1. */
int sip_digest_nonce_time(sip_str nonce, uint64_t *issued);

/* Server: nonce-count replay tracking (RFC 7616 §3.4: nc must increase per nonce) ------------------
 * A fixed table of 16-way buckets keyed by a keyed hash of the nonce, holding the highest nc seen.
 * When a bucket is full, the entry with the oldest issue time is evicted and the bucket remembers
 * the newest issue time ever evicted from it (its watermark). A nonce not in the table whose issue
 * time is at or below its bucket's watermark may have been evicted, so its count history is lost: it is reported
 * STALE and the server re-challenges with stale=true. Memory stays bounded and no replay of an
 * evicted nonce is ever accepted. Nonces without a known issue time pass issued = 0. */
typedef struct sip_digest_replay sip_digest_replay;

enum { SIP_REPLAY_OK = 0, SIP_REPLAY_SEEN = 1, SIP_REPLAY_STALE = 2 };

/* slots is rounded up to a power of two within [16, 1<<22]. NULL on OOM or RNG failure. */
sip_digest_replay *sip_digest_replay_new(size_t slots);
void sip_digest_replay_free(sip_digest_replay *r);
/* OK (nc is new for this nonce: recorded), SEEN (nc not above the highest seen: a replay, or
 * nc == 0), STALE (see above). */
int sip_digest_replay_check(sip_digest_replay *r, sip_str nonce, uint64_t issued, uint32_t nc);

#endif
