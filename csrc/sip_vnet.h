/* sip_vnet.h: a virtual network for tests (sip.test): transports that meet inside one process,
 * with no socket and no port bound. A sip_tp made with cfg.vnet set listens, sends and receives
 * here instead of on sockets (sip_transport.c hands its calls over); the rest of the stack cannot
 * tell. Any address may be bound (192.0.2.1:5060 as well as 127.0.0.1), port 0 picks a free
 * one. A message sent is queued, and delivered whole when the loop calls sip_vnet_deliver: UDP
 * to an address nobody binds is lost, as on a network; a stream (TCP, TLS) carries messages
 * reliably, with no connections, handshakes or connection events, and refuses at once an
 * address nobody binds. A tap sees every message, for ladders and assertions. */
#ifndef SIP_VNET_H
#define SIP_VNET_H

#include "sip_transport.h"

typedef struct sip_vnet sip_vnet;
typedef struct sip_vport sip_vport; /* one transport's place on the network */

/* Every message once it is delivered (delivered = 1) or lost (0: nobody binds its
 * destination). from and to are the two addresses, to->listener the destination's listener. */
typedef void (*sip_vnet_tap_fn)(void *ud, const char *buf, size_t len, const sip_peer *from,
                                const sip_peer *to, int delivered);

sip_vnet *sip_vnet_new(void); /* NULL when out of memory */
/* Ports still on it are cut off (their sends fail) and their queued messages dropped. */
void sip_vnet_free(sip_vnet *n);
void sip_vnet_tap(sip_vnet *n, sip_vnet_tap_fn fn, void *ud); /* fn NULL: no tap */
/* Deliver the oldest queued message: 1, or 0 when none is queued. */
int sip_vnet_deliver(sip_vnet *n);
size_t sip_vnet_queued(const sip_vnet *n);
unsigned sip_vnet_bound(const sip_vnet *n); /* addresses bound, ephemeral ones included */

/* For sip_transport.c. recv is called from sip_vnet_deliver, as a socket's would be. */
sip_vport *sip_vport_new(sip_vnet *n, sip_tp_recv_cb recv, void *ud);
void sip_vport_free(sip_vport *p); /* unbinds its addresses, drops messages queued to it */
/* Bind at (a resolved address; port 0: a free one). The listener id (> 0), or -1 with *err. */
int sip_vport_listen(sip_vport *p, const sip_peer *at, const char **err);
int sip_vport_local(const sip_vport *p, uint32_t id, struct sockaddr_storage *addr, socklen_t *len);
unsigned sip_vport_listeners(const sip_vport *p);
/* Queue buf for to, from the listener to->listener (or the first of to's transport and family).
 * 0, or -1 with *err. */
int sip_vport_send(sip_vport *p, const sip_peer *to, const char *buf, size_t len, const char **err);

#endif
