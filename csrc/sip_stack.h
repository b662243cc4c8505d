/* sip_stack.h: the runtime's C half: transports (sip_transport) feeding the transaction layer
 * (sip_txn) on one libev loop, with one alarm (sip_clock.h) for every transaction timer. The hot path
 * (receive, parse, match, absorb retransmissions) runs here without the transaction user. */
#ifndef SIP_STACK_H
#define SIP_STACK_H

#include "sip_transport.h"
#include "sip_txn.h"

typedef struct sip_stack sip_stack;

/* The transaction user: the transaction layer's callbacks (send is the stack's own) plus
 * connection events. */
typedef struct sip_stack_handler {
  void *ud;
  void (*on_request)(void *ud, sip_txn *st, const sip_msg *req, const sip_peer *from);
  void (*on_response)(void *ud, sip_txn *ct, const sip_msg *rsp, const sip_peer *from);
  void (*on_stray_response)(void *ud, const sip_msg *rsp, const sip_peer *from);
  void (*on_error)(void *ud, sip_txn *t, int code, const char *what);
  void (*on_terminated)(void *ud, sip_txn *t);
  void (*on_conn)(void *ud, uint32_t conn, int err, const char *what);
  /* Optional: every message received (out = 0) or handed to the transport (out = 1), for
   * traces; retransmissions and the layer's own answers (100, stateless 400) included. */
  void (*on_trace)(void *ud, int out, const char *buf, size_t len, const sip_peer *peer);
} sip_stack_handler;

typedef struct sip_stack_config {
  sip_tp_config tp;
  sip_txl_config txl;
  struct sip_clock *clock; /* the clock its timers run on (sip_clock.h); NULL: libev's */
  double loss; /* tests: share (0..1) of outgoing UDP datagrams dropped, to prove recovery by
                   retransmission; 0 in service */
} sip_stack_config;

sip_stack *sip_stack_new(struct ev_loop *loop, const sip_stack_config *cfg,
                         const sip_stack_handler *h);
void sip_stack_free(sip_stack *s);

sip_tp *sip_stack_tp(sip_stack *s);
sip_txl *sip_stack_txl(sip_stack *s);
uint64_t sip_stack_now(const sip_stack *s); /* ms on the loop's clock */

/* Start a client transaction (see sip_txl_request); NULL with *err. */
sip_txn *sip_stack_request(sip_stack *s, const char *buf, size_t len, const sip_peer *to,
                           void *data, const char **err);
/* Respond on a server transaction (see sip_txn_respond). */
int sip_stack_respond(sip_stack *s, sip_txn *st, const char *buf, size_t len);
/* Send without a transaction: an ACK for a 2xx (§13.2.2.4), a stateless response. */
int sip_stack_send(sip_stack *s, const sip_peer *to, const char *buf, size_t len, const char **err);
/* End a transaction now (the TU gave up on it). */
void sip_stack_terminate(sip_stack *s, sip_txn *t);

#endif
