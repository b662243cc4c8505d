/* sip_transport.h: SIP transports over libev (RFC 3261 §18): UDP, TCP and TLS (OpenSSL 3), IPv4 and
 * IPv6, several listeners, connection reuse, stream framing, and connections bounded in number
 * (total, per transport, per source address) and in time (TLS handshake, first message, each
 * message, idle), with eviction of untrusted connections so a flood cannot lock clients out.
 * Delivers whole messages (datagrams, or framed stream messages) to one receive callback.
 *
 * Callbacks run from the loop. Inside them every function here may be called, sip_tp_free
 * included (the memory is released when the callback returns). */
#ifndef SIP_TRANSPORT_H
#define SIP_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ev_loop;

typedef enum sip_proto { SIP_PROTO_UDP = 1, SIP_PROTO_TCP, SIP_PROTO_TLS } sip_proto;

/* Where a message came from or goes to. conn is the connection id for streams (0: none / any). */
typedef struct sip_peer {
  sip_proto proto;
  struct sockaddr_storage addr; /* remote address */
  socklen_t addrlen;
  uint32_t conn;                /* stream connection id; 0 for UDP */
  uint32_t listener;            /* listener id it arrived on (UDP: the socket to answer from;
                                   streams: 0 for connections we opened) */
} sip_peer;

typedef struct sip_tp sip_tp;

/* One received message: buf/len is exactly one message (a datagram, or one framed stream
 * message). The buffer is only valid during the call. Datagrams and stream gaps made only of
 * CR/LF are keepalives (RFC 5626 §3.5.1) and are not delivered. */
typedef void (*sip_tp_recv_cb)(void *ud, const char *buf, size_t len, const sip_peer *from);
/* A stream connection closed or failed (framing error, idle, peer reset, TLS failure). err is an
 * errno value: 0 closed by the peer, ETIMEDOUT a deadline passed (what says which: "idle
 * timeout", "no message in time", "message not complete in time", "TLS handshake timeout"),
 * ECONNABORTED evicted to make room for a new connection, EPROTO framing error or TLS failure (what
 * names it, e.g. "hostname mismatch"), EMSGSIZE message over max_msg, ECONNREFUSED and the
 * like for a failed connect (its queued data is dropped). what is static text. Reported once per
 * connection, after it left the tables (sip_tp_conn_peer still answers for it during the call);
 * not reported for sip_tp_close or sip_tp_free. */
typedef void (*sip_tp_event_cb)(void *ud, uint32_t conn, int err, const char *what);

typedef struct sip_tp_config {
  size_t max_msg;            /* framing limit, default 65536 */
  /* Caps on open stream connections (0: the default). When a cap is reached, a new connection
   * (accepted or opened) evicts the least recently active untrusted one of its transport (or,
   * for the total, of any transport); it is refused only when none is untrusted. Running out
   * of file descriptors on accept counts as the total cap. */
  unsigned max_conns;        /* all stream transports together, default 1024 */
  unsigned max_tcp, max_tls, max_ws; /* each transport, default max_conns (ws: reserved) */
  unsigned max_per_source;   /* inbound untrusted connections from one address (IPv6: one /64),
                                default 64; the next one is closed at once, never evicting */
  /* Deadlines in seconds (0: the default; negative: never). Each connection has one timer set
   * to its earliest deadline. */
  double idle_timeout;       /* since the last complete message received or sent, or keepalive
                                ping (RFC 5626 §3.5.1), while no message is half received;
                                default 120 */
  double first_message_timeout; /* from accept to the first complete message, for untrusted
                                inbound connections (pings do not count), default 20 */
  double message_timeout;    /* from a message's first byte to its last, default 30 */
  double handshake_timeout;  /* from accept or connect to the end of the TLS handshake, default 10 */
  const char *tls_cert;      /* PEM server certificate chain (NULL: no TLS server) */
  const char *tls_key;       /* PEM private key */
  const char *tls_ca;        /* CA file for verifying servers (NULL: system store) */
  int tls_verify;            /* client side: 0 (default) or 1 verify the server certificate and
                                hostname; -1 don't (tests only) */
  size_t max_queue;          /* bytes queued for sending per connection, default 1 MiB */
} sip_tp_config;

/* cfg may be NULL (all defaults). Returns NULL when out of memory. */
sip_tp *sip_tp_new(struct ev_loop *loop, const sip_tp_config *cfg, sip_tp_recv_cb recv,
                   sip_tp_event_cb event, void *ud);
void sip_tp_free(sip_tp *tp); /* closes everything, stops every watcher */

/* Listen on host:port ("127.0.0.1", "::1", "[::1]", "0.0.0.0", NULL for 0.0.0.0; port 0 picks
 * one). IPv6 sockets are IPv6-only, so "::" and "0.0.0.0" can share a port. Returns the listener
 * id (> 0) or -1 with *err set. sip_tp_local gives the bound address of a listener. */
int sip_tp_listen(sip_tp *tp, sip_proto proto, const char *host, int port, const char **err);
int sip_tp_local(sip_tp *tp, uint32_t listener, struct sockaddr_storage *addr, socklen_t *len);

/* Send one message. UDP: from the listener in to->listener (or the first UDP listener of the
 * address family). Streams: on to->conn if still open, else on an open connection to to->addr,
 * else a new connection (queued until connected; for TLS, sni names the server for SNI and
 * the hostname check; without sni the address itself is checked). Returns 0, or -1 with *err
 * set (no route, connection cap, queue full, ...). */
int sip_tp_send(sip_tp *tp, const sip_peer *to, const char *sni, const char *buf, size_t len,
                const char **err);
/* The same, and *conn (if not NULL) receives the connection used (0 for UDP). */
int sip_tp_send_conn(sip_tp *tp, const sip_peer *to, const char *sni, const char *buf, size_t len,
                     uint32_t *conn, const char **err);

/* The peer of an open connection (or of the one being reported to the event callback).
 * 0, or -1 when there is no such connection. */
int sip_tp_conn_peer(sip_tp *tp, uint32_t conn, sip_peer *out);
/* Close a connection now, dropping its queued data. 0, or -1 when there is no such connection. */
int sip_tp_close(sip_tp *tp, uint32_t conn);
/* The layer above vouches for an inbound connection (its sender authenticated): it is never
 * evicted, has no first-message deadline and leaves its source's count. Connections we open are
 * trusted from the start. 0, or -1 when there is no such connection (UDP has none). */
int sip_tp_trust(sip_tp *tp, uint32_t conn);

/* Resolve "host" ("1.2.3.4", "2001:db8::1", "[2001:db8::1]" or a name), port and proto into a
 * peer. Numeric addresses never block; names go through getaddrinfo, which BLOCKS the loop
 * (the first address is taken; RFC 3263 NAPTR/SRV belongs to the layer above). */
int sip_tp_resolve(const char *host, int port, sip_proto proto, sip_peer *out, const char **err);

/* Format an address as "1.2.3.4" / "2001:db8::1" and its port. 0, or -1. */
int sip_tp_addr_str(const struct sockaddr_storage *a, char *host, size_t hostlen, int *port);

/* Counters for tests and benchmarks. */
typedef struct sip_tp_stats {
  unsigned listeners, conns;
  unsigned conns_tcp, conns_tls, conns_ws, untrusted; /* open now, by transport; not trusted */
  uint64_t rx_msgs, tx_msgs, framing_errors;
  uint64_t accepted;         /* inbound connections taken */
  uint64_t refused_cap;      /* inbound closed at once: a cap reached and nothing to evict */
  uint64_t refused_source;   /* inbound closed at once: max_per_source reached */
  uint64_t evicted;          /* untrusted connections closed to make room for a new one */
  uint64_t timeout_handshake, timeout_first, timeout_message, idle_closed; /* deadlines */
  uint64_t connect_failed, tls_failed, keepalives;
} sip_tp_stats;
void sip_tp_get_stats(const sip_tp *tp, sip_tp_stats *st);

#endif
