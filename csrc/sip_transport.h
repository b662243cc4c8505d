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

/* WS and WSS: SIP over WebSocket (RFC 7118), one message per frame (sip_ws.h). */
typedef enum sip_proto {
  SIP_PROTO_UDP = 1,
  SIP_PROTO_TCP,
  SIP_PROTO_TLS,
  SIP_PROTO_WS,
  SIP_PROTO_WSS
} sip_proto;

/* Each message comes whole by itself (a datagram, a WebSocket message): Content-Length may be
 * absent (RFC 3261 §18.3, RFC 7118 §5). */
static inline int sip_proto_whole_messages(sip_proto p) {
  return p == SIP_PROTO_UDP || p == SIP_PROTO_WS || p == SIP_PROTO_WSS;
}

/* The port a transport means when none is given: 5060, 5061 for TLS (RFC 3261 §19.1.2), the
 * HTTP ports for WebSocket (RFC 7118 §5.2, RFC 6455 §3). */
static inline int sip_proto_default_port(sip_proto p) {
  return p == SIP_PROTO_TLS ? 5061 : p == SIP_PROTO_WS ? 80 : p == SIP_PROTO_WSS ? 443 : 5060;
}

/* Where a message came from or goes to. conn is the connection id for streams (0: none / any). */
typedef struct sip_peer {
  sip_proto proto;
  uint32_t tls; /* connections opened to it: their TLS settings (sip_tp_tls_settings), 0 the
                   transport's own */
  struct sockaddr_storage addr; /* remote address */
  socklen_t addrlen;
  uint32_t conn;     /* stream connection id; 0 for UDP */
  uint32_t listener; /* listener id it arrived on (UDP: the socket to answer from;
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
  size_t max_msg; /* framing limit, default 65536 */
  /* Caps on open stream connections (0: the default). When a cap is reached, a new connection
   * (accepted or opened) evicts the least recently active untrusted one of its transport (or,
   * for the total, of any transport); it is refused only when none is untrusted. Running out
   * of file descriptors on accept counts as the total cap. */
  unsigned max_conns;                /* all stream transports together, default 1024 */
  unsigned max_tcp, max_tls, max_ws; /* each transport, default max_conns (ws: WS and WSS) */
  unsigned max_per_source; /* inbound untrusted connections from one address (IPv6: one /64),
                                default 64; the next one is closed at once, never evicting */
  /* Deadlines in seconds (0: the default; negative: never). Each connection has one timer set
   * to its earliest deadline. */
  double idle_timeout;          /* since the last complete message received or sent, or keepalive
                                ping (RFC 5626 §3.5.1), while no message is half received;
                                default 120 */
  double first_message_timeout; /* from accept to the first complete message, for untrusted
                                inbound connections (pings do not count), default 20 */
  double message_timeout;       /* from a message's first byte to its last, default 30 */
  double handshake_timeout; /* from accept or connect to the end of the TLS handshake, default 10 */
  /* TLS: the settings of listeners and outbound connections unless they name others
   * (sip_tp_tls_settings). */
  const char *tls_cert;  /* PEM certificate chain: a server's, and a client's when a server asks
                           (NULL: no TLS server, no client certificate) */
  const char *tls_key;   /* PEM private key */
  const char *tls_ca;    /* CA file or hashed directory verifying peers (NULL: system store) */
  int tls_verify;        /* client side: 0 (default) or 1 verify the server certificate and
                           name; -1 don't */
  int tls_clients;       /* server side: SIP_TLS_CLIENTS_* (default none) */
  size_t max_queue;      /* bytes queued for sending per connection, default 1 MiB */
  struct sip_vnet *vnet; /* tests: listen and send on this virtual network instead of
                           sockets (sip_vnet.h); NULL in service */
} sip_tp_config;

/* Client certificates a TLS server asks for: none, requested (whatever comes is shown by
 * sip_tp_conn_tls, verified or not), required (the handshake fails without one that verifies). */
enum { SIP_TLS_CLIENTS_NONE, SIP_TLS_CLIENTS_REQUEST, SIP_TLS_CLIENTS_REQUIRE };

/* One set of TLS settings, as in sip_tp_config. */
typedef struct sip_tls_settings {
  const char *cert, *key, *ca;
  int verify, clients;
} sip_tls_settings;

/* cfg may be NULL (all defaults). Returns NULL when out of memory. */
sip_tp *sip_tp_new(struct ev_loop *loop, const sip_tp_config *cfg, sip_tp_recv_cb recv,
                   sip_tp_event_cb event, void *ud);
void sip_tp_free(sip_tp *tp); /* closes everything, stops every watcher */

/* Listen on host:port ("127.0.0.1", "::1", "[::1]", "0.0.0.0", NULL for 0.0.0.0; port 0 picks
 * one). IPv6 sockets are IPv6-only, so "::" and "0.0.0.0" can share a port. Returns the listener
 * id (> 0) or -1 with *err set. sip_tp_local gives the bound address of a listener. */
int sip_tp_listen(sip_tp *tp, sip_proto proto, const char *host, int port, const char **err);
int sip_tp_local(sip_tp *tp, uint32_t listener, struct sockaddr_storage *addr, socklen_t *len);
/* The same, with TLS settings of its own (an id from sip_tp_tls_settings; 0: the transport's). */
int sip_tp_listen_tls(sip_tp *tp, sip_proto proto, const char *host, int port, uint32_t tls,
                      const char **err);

/* The id of a set of TLS settings, for sip_peer.tls and sip_tp_listen_tls: the same settings
 * give the same id (0 for the transport's own). Files are read when first used. -1 with *err
 * (at most 64 sets). */
int sip_tp_tls_settings(sip_tp *tp, const sip_tls_settings *s, const char **err);

/* A WebSocket listener's resource name ("/ws"): a handshake for another one is refused with
 * 404. Without one, any path is taken. 0, or -1 (no such listener, not WebSocket, no memory). */
int sip_tp_listen_path(sip_tp *tp, uint32_t listener, const char *path);

/* Send one message. UDP: from the listener in to->listener (or the first UDP listener of the
 * address family). Streams: on to->conn if still open, else on an open connection to to->addr
 * (for TLS: one accepted from it, or one we opened for the same sni and settings), else a new
 * connection (queued until connected). For TLS (and WSS), sni is the SIP domain asked for (the
 * URI's host, RFC 5922 §7.2): it is sent as SNI and the certificate must name it (a
 * subjectAltName URI sip:sni or DNS entry, else the Common Name; no wildcards); without sni, or
 * for an IP literal, the address itself is checked. For WebSocket, sni is also the Host of the
 * Upgrade request, which asks for "/". Returns 0, or -1 with *err set (no route, connection
 * cap, queue full, ...). */
int sip_tp_send(sip_tp *tp, const sip_peer *to, const char *sni, const char *buf, size_t len,
                const char **err);
/* The same, and *conn (if not NULL) receives the connection used (0 for UDP). */
int sip_tp_send_conn(sip_tp *tp, const sip_peer *to, const char *sni, const char *buf, size_t len,
                     uint32_t *conn, const char **err);

/* The peer of an open connection (or of the one being reported to the event callback).
 * 0, or -1 when there is no such connection. */
int sip_tp_conn_peer(sip_tp *tp, uint32_t conn, sip_peer *out);
/* What a TLS connection knows of its peer: each (if not NULL) is called for every identity of
 * the peer's certificate (kind "uri" and "dns" for subjectAltName entries, "cn" for the Common
 * Name when there are none; a nonzero return stops). 0, or -1 for no such TLS connection. */
typedef int (*sip_tp_name_cb)(void *ud, const char *kind, const char *name, size_t len);
typedef struct sip_tp_tls_info {
  int has_cert; /* the peer presented a certificate */
  int verified; /* its chain verified against the trust store (and, for a server, the name) */
  const char *version, *cipher; /* static text */
} sip_tp_tls_info;
int sip_tp_conn_tls(sip_tp *tp, uint32_t conn, sip_tp_tls_info *info, sip_tp_name_cb each,
                    void *ud);
/* Close a connection now, dropping its queued data. 0, or -1 when there is no such connection. */
int sip_tp_close(sip_tp *tp, uint32_t conn);
/* The layer above vouches for an inbound connection (its sender authenticated): it is never
 * evicted, has no first-message deadline and leaves its source's count. Connections we open are
 * trusted from the start. 0, or -1 when there is no such connection (UDP has none). */
int sip_tp_trust(sip_tp *tp, uint32_t conn);

/* Flows (RFC 5626): a connection that carries a registration. sip_tp_hold keeps it open (no
 * idle close) for seconds from now (0: no longer); a registrar holds the flow of a binding until
 * it expires, a UA its own. sip_tp_ping sends the client's keepalive (SIP framing: CRLFCRLF,
 * §4.4.1); the server answers each with a CRLF pong, which a connection we opened never answers.
 * sip_tp_heard gives the loop time bytes last arrived (a pong, a message). 0, or -1 when there is
 * no such connection (or, for ping, with *err). */
int sip_tp_hold(sip_tp *tp, uint32_t conn, double seconds);
int sip_tp_ping(sip_tp *tp, uint32_t conn, const char **err);
int sip_tp_heard(sip_tp *tp, uint32_t conn, double *when);

/* An address ("1.2.3.4", "2001:db8::1", "[2001:db8::1]", "fe80::1%eth0"), port and proto into a
 * peer. Never blocks and never asks DNS: a name is an error here (RFC 3263 resolution, NAPTR,
 * SRV, A/AAAA, is the layer above's, over sip_resolve.h). */
int sip_tp_resolve(const char *host, int port, sip_proto proto, sip_peer *out, const char **err);

/* Format an address as "1.2.3.4" / "2001:db8::1" and its port. 0, or -1. */
int sip_tp_addr_str(const struct sockaddr_storage *a, char *host, size_t hostlen, int *port);

/* The local address the kernel would send from to reach to (its route's interface): what a
 * listener on a wildcard address (0.0.0.0, ::) names in Via and Contact. 0, or -1. */
int sip_tp_source_for(const sip_peer *to, struct sockaddr_storage *out, socklen_t *len);

/* Counters for tests and benchmarks. */
typedef struct sip_tp_stats {
  unsigned listeners, conns;
  unsigned conns_tcp, conns_tls, conns_ws, untrusted; /* open now, by transport; not trusted */
  uint64_t rx_msgs, tx_msgs, framing_errors;
  uint64_t accepted;       /* inbound connections taken */
  uint64_t refused_cap;    /* inbound closed at once: a cap reached and nothing to evict */
  uint64_t refused_source; /* inbound closed at once: max_per_source reached */
  uint64_t evicted;        /* untrusted connections closed to make room for a new one */
  uint64_t timeout_handshake, timeout_first, timeout_message, idle_closed; /* deadlines */
  uint64_t connect_failed, tls_failed, keepalives;
} sip_tp_stats;
void sip_tp_get_stats(const sip_tp *tp, sip_tp_stats *st);

/* ---- The two seams of a stream transport ----------------------------------------------------
 *
 * For the transport's own files; users of sip_tp need none of this. A stream transport is two
 * layers over a connected socket, each a table of operations:
 *
 *   the byte stream (sip_stream_ops): how bytes cross the socket, and the handshake, if any,
 *     before they do. Plain TCP (sip_transport.c), TLS (sip_tls.c).
 *   the framing (sip_framing_ops): how those bytes are cut into SIP messages and how a message is
 *     put on them. SIP's own, by Content-Length, with CRLF keepalives (RFC 3261 §18.3, RFC 5626
 *     §3.5.1; sip_transport.c).
 *
 * A transport is one row of the table in sip_transport.c naming the two (and the cap it counts
 * toward): TCP = plain + SIP framing, TLS = TLS + SIP framing, WS = plain + WebSocket, WSS =
 * TLS + WebSocket. The WebSocket framing (RFC 6455, RFC 7118; sip_ws.c) keeps its state behind
 * sip_conn_framing's word and uses the two operations SIP's framing does without: open (a
 * client's Upgrade request, ahead of anything queued) and release. What lies above the seams
 * (connection tables, caps, deadlines, eviction, trust, send queues, the loop) never asks which
 * layers it drives. The hot path pays one indirect call per read, per write and per message sent. */

struct sip_limits;

/* What the byte stream's calls return instead of a count of bytes. */
enum {
  SIP_IO_FAIL = -1,       /* closed or failed: s->err (an errno value; 0 the peer closed) and
                             s->what (static text) say why */
  SIP_IO_WANT_READ = -2,  /* nothing now: call again once the socket is readable */
  SIP_IO_WANT_WRITE = -3, /* nothing now: call again once the socket is writable */
};

typedef struct sip_stream_ops sip_stream_ops;

/* One connection as its byte stream sees it (a part of the connection). */
typedef struct sip_stream {
  const sip_stream_ops *ops;
  void *priv; /* this connection's own state (ops->attach), or NULL */
  int fd;     /* the connected socket, nonblocking */
  int err;    /* after SIP_IO_FAIL */
  const char *what;
} sip_stream;

/* An operation that may be NULL says what NULL means. */
struct sip_stream_ops {
  const char *name;
  /* It verifies the server's name: a connection opened for one name is not reused for another. */
  unsigned checks_name : 1;
  /* The state shared by one sip_tp's connections, from its configuration; NULL when out of
   * memory. NULL: none. teardown frees it (sip_tp_free). */
  void *(*setup)(const sip_tp_config *cfg);
  void (*teardown)(void *layer);
  /* The id of a set of settings (0: those of the configuration), or -1 with *err. NULL: the
   * layer takes none. */
  int (*configure)(void *layer, const sip_tls_settings *s, const char **err);
  /* Make ready a side under settings, before a listener (server) or outbound connection
   * uses it: certificates, the trust store. 0, or -1 with *err. NULL: nothing to make. */
  int (*prepare)(void *layer, uint32_t settings, int server, const char **err);
  /* Take a new connection (s->fd set), on the side prepare made ready. Client side, name is the
   * server's name to ask for and check, or NULL to check its address, peer. 0, or -1 with *err
   * (then release still runs). NULL: nothing to take. */
  int (*attach)(void *layer, sip_stream *s, uint32_t settings, int server, const char *name,
                const struct sockaddr *peer, const char **err);
  /* Drive the opening handshake: 0 done, SIP_IO_WANT_*, SIP_IO_FAIL. NULL: open once connected. */
  int (*handshake)(sip_stream *s);
  /* Bytes read (> 0), SIP_IO_WANT_*, or SIP_IO_FAIL (the peer closing is one, with err 0). */
  long (*read)(sip_stream *s, char *dst, size_t room);
  /* Bytes written (> 0, or 0 for n == 0), SIP_IO_WANT_WRITE (the socket is full),
   * SIP_IO_WANT_READ (the layer must read first), or SIP_IO_FAIL. */
  long (*write)(sip_stream *s, const char *p, size_t n);
  /* Bytes the layer holds, ready to read, that no socket event will announce. NULL: it holds
   * none, so a read shorter than room drained the socket. */
  size_t (*pending)(const sip_stream *s);
  /* An open connection closes: say so to the peer, best effort, never waiting. NULL: nothing. */
  void (*shutdown)(sip_stream *s);
  /* Free s->priv. NULL: nothing to free. */
  void (*release)(sip_stream *s);
  /* What it knows of the peer (sip_tp_conn_tls). NULL: nothing. */
  int (*peer)(const sip_stream *s, sip_tp_tls_info *info, sip_tp_name_cb each, void *ud);
};

/* A stream connection, as its framing sees it. */
typedef struct sip_conn sip_conn;

typedef struct sip_framing_ops {
  const char *name;
  /* Bytes received: hand up every whole message at the start of p[0..n) (sip_conn_deliver) and
   * answer what the framing answers itself (keepalives). Returns the bytes consumed (the rest
   * comes again, with what follows, after the next read, unchanged), or -1 once c is closed.
   * The bytes it consumes are the transport's buffer and it may rewrite them (WebSocket
   * unmasks a whole frame in place). */
  long (*input)(sip_conn *c, const char *p, size_t n);
  /* Put one message on the stream (sip_conn_write). 0, or -1 with *err. */
  int (*output)(sip_conn *c, const char *msg, size_t len, const char **err);
  /* A connection we open was made (before anything is queued on it); name is the sni of
   * sip_tp_send, or NULL. 0, or -1 with *err. NULL: nothing to say first. */
  int (*open)(sip_conn *c, const char *name, const char **err);
  /* Free what the framing allocated for c. NULL: nothing. */
  void (*release)(sip_conn *c);
  /* Send the client's keepalive ping (sip_tp_ping). 0, or -1 with *err. NULL: none. */
  int (*ping)(sip_conn *c, const char **err);
} sip_framing_ops;

/* What a framing may do with its connection (sip_transport.c). */
/* Hand one message up to the receive callback. 0, or -1 when c or the transport was closed by
 * the callback (return -1 from input then). */
int sip_conn_deliver(sip_conn *c, const char *msg, size_t len);
/* Bytes out through the byte stream, written now or queued. 0, or -1 with *err (a failed write
 * has closed c; a full queue has not). */
int sip_conn_write(sip_conn *c, const char *p, size_t n, const char **err);
/* A keepalive came: activity, not a message (no first-message credit, no message deadline). */
void sip_conn_keepalive(sip_conn *c);
/* The stream cannot go on: close c and report err and what (no-op when c is closed already).
 * sip_conn_framing_error is the same with EPROTO, counted in framing_errors. */
void sip_conn_fail(sip_conn *c, int err, const char *what);
void sip_conn_framing_error(sip_conn *c, const char *what);
/* The framing's own word of state for c, 0 when c opens. */
uintptr_t *sip_conn_framing(sip_conn *c);
/* The limits messages are framed under (max_msg). */
const struct sip_limits *sip_conn_limits(const sip_conn *c);
/* The peer of c (sip_tp_conn_peer), and its listener's resource name (sip_tp_listen_path) or
 * NULL. */
void sip_conn_peer(const sip_conn *c, sip_peer *out);
const char *sip_conn_listen_path(const sip_conn *c);
/* The connection with this id (open, or being reported to the event callback), or NULL. */
sip_conn *sip_tp_conn(sip_tp *tp, uint32_t id);

#endif
