/* sip_tls_name.h: who a certificate says it is, for SIP (RFC 5922 §7): its identities, and whether
 * they prove the SIP domain a client asked for. Pure functions over a parsed certificate. */
#ifndef SIP_TLS_NAME_H
#define SIP_TLS_NAME_H

#include <openssl/x509.h>

#include "sip_transport.h"

/* Call each for every identity of cert (§7.1): kind "uri" for each subjectAltName URI (as it
 * stands: sip:example.com names a domain, sip:alice@example.com a user), then "dns" for each
 * subjectAltName DNS name, and "cn" for the subject's Common Name only when there are neither.
 * Entries holding a NUL byte are skipped. Stops when each returns nonzero, and returns that. */
int sip_tls_each_identity(X509 *cert, sip_tp_name_cb each, void *ud);

/* 1 when an identity of cert is exactly domain (§7.2: case-insensitive, no wildcards; a URI
 * counts when it is sip:domain with no user part or port), else 0. */
int sip_tls_proves(X509 *cert, const char *domain);

#endif
