/* sip_token.h: tokens that prove a value was written by us: HMAC-SHA256 (RFC 2104) under a
 * secret over a list of parts, cut to 128 bits and written as hex. The proxy puts one in its
 * Record-Route (over the dialog's Call-ID and the caller's tag), so that a Route naming it can be
 * told from one a stranger wrote. */
#ifndef SIP_TOKEN_H
#define SIP_TOKEN_H

#include <stddef.h>

#include "sip_str.h"

#define SIP_TOKEN_LEN 32 /* hex digits: 128 bits */
#define SIP_TOKEN_KEY_MIN 16

/* Write the token of parts[0..n) under key (klen >= SIP_TOKEN_KEY_MIN bytes) into out,
 * NUL-terminated. Each part is length-prefixed, so ("ab","c") and ("a","bc") differ. 0, or -1
 * when the key is too short or OpenSSL failed (out is then unusable). */
int sip_token(const void *key, size_t klen, const sip_str *parts, size_t n,
              char out[SIP_TOKEN_LEN + 1]);

/* Does tok (any length) equal the token of parts? Compared in constant time. */
int sip_token_check(const void *key, size_t klen, const sip_str *parts, size_t n, sip_str tok);

#endif
