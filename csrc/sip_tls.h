/* sip_tls.h: TLS (OpenSSL 3) as a byte stream of the stream transports (sip_transport.h's
 * byte-stream seam): SIP over TLS today (RFC 3261 §26.2), WebSocket Secure (RFC 7118) tomorrow,
 * with the same table. */
#ifndef SIP_TLS_H
#define SIP_TLS_H

#include "sip_transport.h"

/* Every listener and outbound connection runs under one set of settings (sip_tls_settings:
 * sip_tp_config's, or a set of its own), whose contexts are made when first used. Server side:
 * its certificate chain and key, and client certificates asked for or required, verified against
 * its CA. Client side: the server's certificate is verified against the CA (or the system store)
 * and must prove the name asked for, sent as SNI (RFC 5922, sip_tls_name.h), or the address
 * itself when there is no name, unless verify < 0; our certificate goes to a server that asks.
 * TLS 1.2 at least, no renegotiation. */
extern const sip_stream_ops sip_tls_stream;

#endif
