/* sip_vnet.c: the virtual network: a table of bound addresses and one queue of messages. Tests
 * bind a few dozen addresses at most, so the table is searched in order. */
#include "sip_vnet.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

typedef struct binding {
  sip_vport *port;
  uint32_t id; /* the port's listener id; 0: the slot is free */
  int hidden;  /* an ephemeral address a stream send took, not a listener */
  sip_peer at; /* proto and address */
} binding;

typedef struct item {
  struct item *next;
  sip_peer from, to;
  size_t len;
  char buf[];
} item;

struct sip_vnet {
  binding *b;
  size_t nb, cap;
  item *head, *tail;
  size_t queued;
  sip_vnet_tap_fn tap;
  void *tap_ud;
  sip_vport *ports; /* every port, to cut them off when the network goes */
};

struct sip_vport {
  sip_vnet *net;
  sip_vport *next;
  sip_tp_recv_cb recv;
  void *ud;
  uint32_t next_id;
};

static int port_of(const sip_peer *p) {
  const struct sockaddr *sa = (const struct sockaddr *)&p->addr;
  if (sa->sa_family == AF_INET) return ntohs(((const struct sockaddr_in *)sa)->sin_port);
  if (sa->sa_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
  return -1;
}

static void set_port(sip_peer *p, int port) {
  struct sockaddr *sa = (struct sockaddr *)&p->addr;
  if (sa->sa_family == AF_INET) ((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
  else ((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
}

/* 1: the same IP address; 2: a is the wildcard of b's family */
static int ip_match(const sip_peer *a, const sip_peer *b) {
  int fam = a->addr.ss_family;
  if (fam != b->addr.ss_family) return 0;
  if (fam == AF_INET) {
    in_addr_t x = ((const struct sockaddr_in *)&a->addr)->sin_addr.s_addr;
    in_addr_t y = ((const struct sockaddr_in *)&b->addr)->sin_addr.s_addr;
    return x == y ? 1 : x == htonl(INADDR_ANY) ? 2 : 0;
  }
  const struct in6_addr *x = &((const struct sockaddr_in6 *)&a->addr)->sin6_addr;
  const struct in6_addr *y = &((const struct sockaddr_in6 *)&b->addr)->sin6_addr;
  return memcmp(x, y, sizeof *x) == 0 ? 1 : IN6_IS_ADDR_UNSPECIFIED(x) ? 2 : 0;
}

/* The binding that takes a message for `to`: its own address first, else a wildcard. */
static binding *find(sip_vnet *n, const sip_peer *to) {
  binding *wild = NULL;
  int port = port_of(to);
  for (size_t i = 0; i < n->nb; i++) {
    binding *b = &n->b[i];
    if (!b->id || b->at.proto != to->proto || port_of(&b->at) != port) continue;
    int m = ip_match(&b->at, to);
    if (m == 1) return b;
    if (m == 2 && !wild) wild = b;
  }
  return wild;
}

/* Whether at's port is taken for its transport on an overlapping address (Linux: bind fails). */
static int in_use(const sip_vnet *n, const sip_peer *at, int port) {
  for (size_t i = 0; i < n->nb; i++) {
    const binding *b = &n->b[i];
    if (b->id && b->at.proto == at->proto && port_of(&b->at) == port &&
        (ip_match(&b->at, at) || ip_match(at, &b->at)))
      return 1;
  }
  return 0;
}

sip_vnet *sip_vnet_new(void) { return calloc(1, sizeof(sip_vnet)); }

static void drop_queue(sip_vnet *n) {
  item *it;
  while ((it = n->head)) {
    n->head = it->next;
    free(it);
  }
  n->tail = NULL;
  n->queued = 0;
}

void sip_vnet_free(sip_vnet *n) {
  if (!n) return;
  for (sip_vport *p = n->ports; p; p = p->next) p->net = NULL;
  drop_queue(n);
  free(n->b);
  free(n);
}

void sip_vnet_tap(sip_vnet *n, sip_vnet_tap_fn fn, void *ud) {
  n->tap = fn;
  n->tap_ud = ud;
}

size_t sip_vnet_queued(const sip_vnet *n) { return n->queued; }

unsigned sip_vnet_bound(const sip_vnet *n) {
  unsigned c = 0;
  for (size_t i = 0; i < n->nb; i++) c += n->b[i].id != 0;
  return c;
}

int sip_vnet_deliver(sip_vnet *n) {
  item *it = n->head;
  if (!it) return 0;
  n->head = it->next;
  if (!n->head) n->tail = NULL;
  n->queued--;
  /* the destination is looked up on arrival: a port closed or bound meanwhile counts */
  binding *b = find(n, &it->to);
  it->to.listener = b ? b->id : 0;
  if (n->tap) n->tap(n->tap_ud, it->buf, it->len, &it->from, &it->to, b != NULL);
  if (b && (b = find(n, &it->to))) { /* the tap may have closed it */
    it->from.listener = b->id;       /* the listener it arrived on, to answer from */
    b->port->recv(b->port->ud, it->buf, it->len, &it->from);
  }
  free(it);
  return 1;
}

/* ---- ports ---------------------------------------------------------------------------------- */

sip_vport *sip_vport_new(sip_vnet *n, sip_tp_recv_cb recv, void *ud) {
  sip_vport *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->net = n;
  p->recv = recv;
  p->ud = ud;
  p->next = n->ports;
  n->ports = p;
  return p;
}

void sip_vport_free(sip_vport *p) {
  if (!p) return;
  sip_vnet *n = p->net;
  if (n) {
    for (size_t i = 0; i < n->nb; i++)
      if (n->b[i].port == p) n->b[i].id = 0; /* its queued messages find no binding: lost */
    for (sip_vport **pp = &n->ports; *pp; pp = &(*pp)->next)
      if (*pp == p) {
        *pp = p->next;
        break;
      }
  }
  free(p);
}

static binding *bind_at(sip_vport *p, const sip_peer *at, int hidden, const char **err) {
  sip_vnet *n = p->net;
  if (!n) {
    *err = "virtual network closed";
    return NULL;
  }
  int port = port_of(at);
  if (port < 0) {
    *err = "address family not supported";
    return NULL;
  }
  if (port == 0) { /* the kernel's ephemeral range */
    for (port = 49152; port <= 65535 && in_use(n, at, port); port++) {}
    if (port > 65535) {
      *err = "no free port";
      return NULL;
    }
  } else if (in_use(n, at, port)) {
    *err = "address already in use";
    return NULL;
  }
  binding *b = NULL;
  for (size_t i = 0; i < n->nb && !b; i++)
    if (!n->b[i].id) b = &n->b[i];
  if (!b) {
    if (n->nb == n->cap) {
      size_t cap = n->cap ? 2 * n->cap : 16;
      binding *nbv = realloc(n->b, cap * sizeof *nbv);
      if (!nbv) {
        *err = "out of memory";
        return NULL;
      }
      n->b = nbv;
      n->cap = cap;
    }
    b = &n->b[n->nb++];
  }
  b->port = p;
  b->id = ++p->next_id;
  b->hidden = hidden;
  b->at = *at;
  b->at.conn = b->at.listener = 0;
  set_port(&b->at, port);
  return b;
}

int sip_vport_listen(sip_vport *p, const sip_peer *at, const char **err) {
  binding *b = bind_at(p, at, 0, err);
  return b ? (int)b->id : -1;
}

static binding *own(const sip_vport *p, uint32_t id) {
  sip_vnet *n = p->net;
  for (size_t i = 0; n && i < n->nb; i++)
    if (n->b[i].port == p && n->b[i].id == id) return &n->b[i];
  return NULL;
}

int sip_vport_local(const sip_vport *p, uint32_t id, struct sockaddr_storage *addr,
                    socklen_t *len) {
  binding *b = own(p, id);
  if (!b || b->hidden) return -1;
  *addr = b->at.addr;
  *len = b->at.addrlen;
  return 0;
}

unsigned sip_vport_listeners(const sip_vport *p) {
  unsigned c = 0;
  sip_vnet *n = p->net;
  for (size_t i = 0; n && i < n->nb; i++) c += n->b[i].port == p && n->b[i].id && !n->b[i].hidden;
  return c;
}

/* The address a message to `to` leaves from: the listener named, else the port's first of to's
 * transport and family; a stream send without one takes an ephemeral address (as connect does)
 * on the host of the port's first address of that family. */
static binding *source(sip_vport *p, const sip_peer *to, const char **err) {
  sip_vnet *n = p->net;
  binding *b = own(p, to->listener), *host = NULL;
  int fam = to->addr.ss_family;
  if (b && b->at.proto == to->proto && b->at.addr.ss_family == fam) return b;
  for (size_t i = 0; i < n->nb; i++) {
    b = &n->b[i];
    if (b->port != p || !b->id || b->at.addr.ss_family != fam) continue;
    if (b->at.proto == to->proto) return b;
    if (!host) host = b;
  }
  if (to->proto == SIP_PROTO_UDP || !host) {
    *err = to->proto == SIP_PROTO_UDP ? "no UDP listener for this address family"
                                      : "no address of this family to connect from";
    return NULL;
  }
  sip_peer at = host->at;
  at.proto = to->proto;
  set_port(&at, 0);
  return bind_at(p, &at, 1, err);
}

int sip_vport_send(sip_vport *p, const sip_peer *to, const char *buf, size_t len,
                   const char **err) {
  sip_vnet *n = p->net;
  if (!n) {
    *err = "virtual network closed";
    return -1;
  }
  binding *src = source(p, to, err);
  if (!src) return -1;
  if (to->proto != SIP_PROTO_UDP && !find(n, to)) {
    *err = "connection refused";
    return -1;
  }
  item *it = malloc(sizeof *it + len);
  if (!it) {
    *err = "out of memory";
    return -1;
  }
  it->next = NULL;
  it->from = src->at;
  it->to = *to;
  it->to.conn = 0;
  it->len = len;
  memcpy(it->buf, buf, len);
  if (n->tail) n->tail->next = it;
  else n->head = it;
  n->tail = it;
  n->queued++;
  return 0;
}
