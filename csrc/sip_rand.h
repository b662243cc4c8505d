/* sip_rand.h: identifiers from OpenSSL's CSPRNG: branches (RFC 3261 §8.1.1.7, with the magic
 * cookie), tags (§19.3) and Call-IDs (§8.1.1.4). Unguessable, so they also resist spoofing. */
#ifndef SIP_RAND_H
#define SIP_RAND_H

#include <stddef.h>
#include <stdint.h>

/* Fill out with n random characters of [A-Za-z0-9] (token-safe). Returns 0, or -1 if the RNG
 * failed (the caller must not use the output). */
int sip_rand_chars(char *out, size_t n);

/* Branch "z9hG4bK" + 22 random characters; out must hold SIP_BRANCH_LEN + 1 (NUL-terminated). */
#define SIP_BRANCH_LEN 29
int sip_rand_branch(char out[SIP_BRANCH_LEN + 1]);

/* Tag of 16 random characters, NUL-terminated. */
#define SIP_TAG_LEN 16
int sip_rand_tag(char out[SIP_TAG_LEN + 1]);

/* A 64-bit keyed hash of id under a key drawn once per process: identifiers that must come out
 * the same for the same input (stateless tags, loop detection) yet cannot be predicted. 0, or -1
 * if the RNG failed. */
int sip_rand_keyed_hash(const void *id, size_t n, uint64_t *out);

/* The tag of a stateless response (RFC 3261 §8.2.7: the same tag for the same request): the 16
 * hex digits of sip_rand_keyed_hash(id), id being the bytes that identify the request. */
int sip_rand_stable_tag(const void *id, size_t n, char out[SIP_TAG_LEN + 1]);

/* Call-ID of 24 random characters, NUL-terminated (the caller may append "@host"). */
#define SIP_CALLID_LEN 24
int sip_rand_callid(char out[SIP_CALLID_LEN + 1]);

/* n random bytes; 0 or -1. */
int sip_rand_bytes(void *out, size_t n);

#endif
