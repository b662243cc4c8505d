/* sip_gate.h: requests answered statelessly before the transaction layer makes a transaction or
 * calls the transaction user (RFC 3261 §8.2.7). One kind so far: the digest challenge (§22.1,
 * RFC 7616 §3.3) that a registrar sends every REGISTER arriving without credentials. The
 * transaction user sets the gate up with exactly the answer it would give itself and keeps every
 * other request: whatever the gate is unsure of goes on to the transaction user. Pure C, no Lua. */
#ifndef SIP_GATE_H
#define SIP_GATE_H

#include "sip_buf.h"
#include "sip_build.h"
#include "sip_digest.h"
#include "sip_msg.h"

typedef struct sip_gate sip_gate;

typedef struct sip_gate_config {
  unsigned methods;       /* (1u << sip_method_id) for each method challenged */
  int status;             /* 401 or 407 */
  const char *reason;     /* NULL: the standard phrase */
  const char *header;     /* "WWW-Authenticate" or "Proxy-Authenticate" */
  sip_hdr_id credentials; /* SIP_H_AUTHORIZATION or SIP_H_PROXY_AUTHORIZATION */
  const void *secret;     /* the key of the nonces (sip_digest_nonce_new) */
  size_t secret_len;
  const sip_digest_challenge *challenges; /* one header each, in order; nonce ignored: fresh */
  size_t nchallenges;
  const sip_str *hosts; /* the Request-URI hosts served (IPv6 with or without brackets) */
  size_t nhosts;
} sip_gate_config;

/* A gate with copies of everything in c. NULL with *err set: out of memory, or a config that
 * cannot be written (no challenge, a status other than 401/407, a bad challenge, a header name or
 * reason with control characters). */
sip_gate *sip_gate_new(const sip_gate_config *c, const char **err);
void sip_gate_free(sip_gate *g);

/* Does the gate answer req (parsed and checked, matching no transaction)? Then 1, with the
 * response in out: built as sip_build_response does for the transaction user (Via with fix,
 * From, To with a fresh tag, Call-ID, CSeq), one challenge header per configured challenge,
 * each with a fresh nonce issued at now (seconds). 0: req is the transaction user's. -1: out of
 * memory or no randomness (the transaction user answers). */
int sip_gate_answer(const sip_gate *g, const sip_msg *req, const sip_via_fix *fix, uint64_t now,
                    sip_buf *out);

#endif
