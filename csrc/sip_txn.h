/* sip_txn.h: the transaction layer (RFC 3261 §17, amended by RFC 6026). Pure C, no I/O and no
 * clock: the caller passes the time in milliseconds into every call, sends through a callback,
 * and keeps one timer for the whole layer from sip_txl_next_deadline (the libev glue does this).
 *
 * Four state machines: client INVITE (Calling, Proceeding, Completed, Accepted), client
 * non-INVITE (Trying, Proceeding, Completed), server INVITE (Proceeding, Completed, Confirmed,
 * Accepted) and server non-INVITE (Trying, Proceeding, Completed). Retransmissions are absorbed
 * here without reaching the TU; timers A, E and G only run over UDP.
 *
 * Reentrancy: callbacks may call any function here except sip_txl_free. A transaction is freed
 * only inside sip_txl_advance, right after on_terminated; until then a pointer the TU holds stays
 * valid (calls on a terminated transaction are refused). After any call, re-read
 * sip_txl_next_deadline: a transaction that ends at once (timers D, I, J, K are 0 over TCP/TLS)
 * has a deadline of "now". */
#ifndef SIP_TXN_H
#define SIP_TXN_H

#include <stddef.h>
#include <stdint.h>
#include "sip_buf.h"
#include "sip_build.h"
#include "sip_msg.h"
#include "sip_transport.h"

typedef struct sip_txl sip_txl;
typedef struct sip_txn sip_txn;

typedef enum sip_txn_kind {
  SIP_TXN_CLIENT_INVITE = 0,
  SIP_TXN_CLIENT_NONINVITE,
  SIP_TXN_SERVER_INVITE,
  SIP_TXN_SERVER_NONINVITE,
  SIP_TXN__KINDS
} sip_txn_kind;

typedef enum sip_txn_state {
  SIP_TXN_CALLING = 0, /* client INVITE */
  SIP_TXN_TRYING,      /* non-INVITE */
  SIP_TXN_PROCEEDING,
  SIP_TXN_COMPLETED,
  SIP_TXN_CONFIRMED, /* server INVITE, after the ACK of a non-2xx */
  SIP_TXN_ACCEPTED,  /* INVITE after a 2xx (RFC 6026) */
  SIP_TXN_TERMINATED
} sip_txn_state;

/* What the layer tells the transaction user. Every pointer passed in is valid during the call only
 * (messages point into the receive buffer). */
typedef struct sip_txl_handler {
  void *ud;
  /* Hand one message to the transport. 0, or -1 on a transport error. */
  int (*send)(void *ud, const sip_peer *to, const char *buf, size_t len);
  /* A new server transaction (st) for req; or st == NULL for an ACK that matches none, or that
   * matches an INVITE server transaction in Accepted (the ACK of a 2xx belongs to the TU). For a
   * CANCEL, sip_txn_cancelled_invite(st) gives the INVITE it targets (§9.2). */
  void (*on_request)(void *ud, sip_txn *st, const sip_msg *req, const sip_peer *from);
  /* A response on a client transaction: provisional and final ones, in order; and for an INVITE
   * in Accepted every further 2xx (retransmissions and forks), so the UA core can ACK them. */
  void (*on_response)(void *ud, sip_txn *ct, const sip_msg *rsp, const sip_peer *from);
  /* A response that matches no client transaction (a 2xx retransmitted after Timer M, a proxy's
   * responses to forward statelessly, garbage). */
  void (*on_stray_response)(void *ud, const sip_msg *rsp, const sip_peer *from);
  /* The transaction failed on its own: timer B or F (code 408), timer H on a server INVITE with no
   * ACK (408), a transport error while retransmitting (503). on_terminated follows. */
  void (*on_error)(void *ud, sip_txn *t, int code, const char *what);
  /* The transaction is gone after this call: drop every reference to it. */
  void (*on_terminated)(void *ud, sip_txn *t);
} sip_txl_handler;

typedef struct sip_txl_config {
  unsigned t1, t2, t4;      /* ms; 0 picks 500, 4000, 5000 (§17.1.1.1, table 4) */
  unsigned timer_d;         /* ms, client INVITE Completed over UDP; 0 picks 32000 (> 32 s) */
  unsigned trying_delay;    /* ms before a server INVITE sends 100 by itself; 0 picks 200 */
  const sip_limits *limits; /* NULL: sip_default_limits */
} sip_txl_config;

/* NULL when out of memory or when the random hash key could not be drawn. */
sip_txl *sip_txl_new(const sip_txl_config *cfg, const sip_txl_handler *h);
/* Frees every transaction without calling anything. */
void sip_txl_free(sip_txl *x);

/* One whole message from the transport (a datagram, or one framed stream message). */
typedef enum sip_txl_rx {
  SIP_RX_REQUEST = 0, /* a new server transaction, passed to the TU */
  SIP_RX_ACK,         /* an ACK passed to the TU without a transaction */
  SIP_RX_RESPONSE,    /* a response passed to the TU on its client transaction */
  SIP_RX_ABSORBED,    /* a retransmission handled here (maybe answered), nothing reached the TU */
  SIP_RX_STRAY,       /* a response matching no transaction, given to on_stray_response */
  SIP_RX_BAD,         /* malformed: a request answered statelessly (400, 505 ...) or dropped */
  SIP_RX_IGNORED,     /* keepalive CRLFs */
  SIP_RX_GATED,       /* a new request the gate answered statelessly (sip_txl_set_gate) */
  SIP_RX_NOMEM
} sip_txl_rx;
sip_txl_rx sip_txl_receive(sip_txl *x, const char *buf, size_t len, const sip_peer *from,
                           uint64_t now);

/* Requests answered before a transaction is made (sip_gate.h): a new request (one matching no
 * transaction) that g answers is sent its answer and goes no further. The layer owns g from
 * now on; NULL removes the gate. The previous gate is freed. */
typedef struct sip_gate sip_gate;
void sip_txl_set_gate(sip_txl *x, sip_gate *g);

/* Fire every timer due at now. */
void sip_txl_advance(sip_txl *x, uint64_t now);
/* The earliest deadline (ms, same clock as now), or UINT64_MAX when no timer runs. */
uint64_t sip_txl_next_deadline(const sip_txl *x);

/* Start a client transaction: buf is a whole serialized request whose top Via carries the branch
 * (the TU chose it, sip_rand_branch) and to its destination. The layer keeps its own copy and sends
 * it. Returns NULL with *err set (bad message, ACK (no transaction, send it directly), a
 * transaction with this branch and method exists, transport error, out of memory). */
sip_txn *sip_txl_request(sip_txl *x, const char *buf, size_t len, const sip_peer *to, void *tu_data,
                         uint64_t now, const char **err);

/* Send a response on a server transaction; the status moves the state machine. A response after
 * the final one (except 2xx retransmissions in Accepted) is refused. */
enum {
  SIP_TXN_OK = 0,
  SIP_TXN_EREFUSED = -1,   /* not allowed in this state (or not a server transaction) */
  SIP_TXN_EINVAL = -2,     /* not a well-formed response */
  SIP_TXN_ETRANSPORT = -3, /* the transport failed: the transaction is terminated */
  SIP_TXN_ENOMEM = -4
};
int sip_txn_respond(sip_txn *st, const char *buf, size_t len, uint64_t now);
const char *sip_txn_strerror(int rc);

/* The CANCEL for a client transaction's request (§9.1), to be sent by the TU as its own
 * non-INVITE client transaction. 0, or -1 (not a client transaction, out of memory). */
int sip_txn_build_cancel(sip_txn *ct, sip_buf *out);

/* For a server CANCEL transaction: the INVITE server transaction it targets (same branch and
 * sent-by, or the RFC 2543 fields), or NULL (the TU answers 481). */
sip_txn *sip_txn_cancelled_invite(sip_txn *cancel);

/* End a transaction now, whatever its state (the TU gave up on it): on_terminated follows at the
 * next sip_txl_advance. */
void sip_txn_terminate(sip_txn *t, uint64_t now);

/* The transport lost or could not open the connection to peer (same proto and address, or the
 * same connection id): every client transaction still waiting on it fails now with code (503)
 * instead of at Timer B/F. Returns how many failed. */
unsigned sip_txl_fail_peer(sip_txl *x, const sip_peer *peer, int code, const char *what,
                           uint64_t now);

void *sip_txn_data(const sip_txn *t);
void sip_txn_set_data(sip_txn *t, void *data);
sip_txn_kind sip_txn_kind_of(const sip_txn *t);
sip_txn_state sip_txn_state_of(const sip_txn *t);
const char *sip_txn_state_name(sip_txn_state s);
const char *sip_txn_kind_name(sip_txn_kind k);
/* The stored request (what was received, or what the TU asked to send); NULL (and *len 0) once
 * the final response is sent or received (a 2xx included: in Accepted a server INVITE's TU
 * retransmits its 2xx with sip_txn_respond of the bytes it sent). */
const char *sip_txn_request(const sip_txn *t, size_t *len);
/* Parse the stored request into the caller's storage (the slices point into the transaction,
 * valid until the final response). 0, or -1 (also when it is gone, see sip_txn_request). */
int sip_txn_parse_request(const sip_txn *t, sip_msg *m, sip_hdr *hdr, unsigned maxhdr);
/* The last response sent on a server transaction, or NULL. */
const char *sip_txn_last_response(const sip_txn *t, size_t *len);
/* Server: where responses go (§18.2.2, RFC 3581). Client: where the request went. */
const sip_peer *sip_txn_peer(const sip_txn *t);
/* Server: received/rport to put in the top Via of every response built for this transaction
 * (pass it to sip_build_response). */
const sip_via_fix *sip_txn_via_fix(const sip_txn *t);

typedef struct sip_txl_stats {
  unsigned live[SIP_TXN__KINDS]; /* transactions in memory, by kind */
  unsigned live_total;
  uint64_t created;
  uint64_t absorbed;      /* retransmitted requests/responses handled without the TU */
  uint64_t retransmitted; /* our own retransmissions (timers A, E, G) */
  uint64_t stray;         /* responses matching no transaction */
  uint64_t bad_requests;  /* malformed requests (answered or dropped) */
  uint64_t bad_responses; /* malformed responses (dropped) */
  uint64_t gated;         /* requests the gate answered without a transaction */
  uint64_t timeouts;      /* timers B, F, H */
  uint64_t transport_errors;
  size_t bytes; /* what the live transactions hold: structs, keys, requests, last responses */
} sip_txl_stats;
void sip_txl_get_stats(const sip_txl *x, sip_txl_stats *st);

/* Bytes one transaction takes beyond its messages (the struct; the key shares the request's
 * allocation). */
size_t sip_txn_overhead(void);

/* What a server adds to the top Via v of a request from `from` (RFC 3261 §18.2.1: received when
 * the sent-by host is not the source address; RFC 3581 §4: with a bare rport, received always and
 * rport set to the source port): fix's fields are set, received pointing into ip. */
void sip_via_fix_for(const sip_via *v, const sip_peer *from, char ip[48], sip_via_fix *fix);

#endif
