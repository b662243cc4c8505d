/* sip_tls.h: TLS (OpenSSL 3) as a byte stream of the stream transports (sip_transport.h's
 * byte-stream seam): SIP over TLS today (RFC 3261 §26.2), WebSocket Secure (RFC 7118) tomorrow,
 * with the same table. */
#ifndef SIP_TLS_H
#define SIP_TLS_H

#include "sip_transport.h"

/* Server side: the certificate chain and key of sip_tp_config (loaded when the first TLS
 * listener opens). Client side: the server certificate is verified against tls_ca (or the
 * system store) and the name asked for (SNI), or the address itself when there is no name,
 * unless tls_verify < 0. TLS 1.2 at least, no renegotiation. */
extern const sip_stream_ops sip_tls_stream;

#endif
