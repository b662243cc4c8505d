/* ws_fake.h: the WebSocket framing (csrc/sip_ws.c) driven without sockets, for its unit tests and
 * its fuzz target. The few functions of sip_transport.h a framing calls are defined here over one
 * fake connection that records what the framing did: the messages handed up, the bytes written,
 * the close and its errno. A program that includes this links no sip_transport.o (nothing else
 * it uses needs it), so these are the ones it gets.
 *
 * The transport's read loop is played by ws_feed: the bytes not consumed come again, with what
 * follows, as sip_transport.c's conn_read does. */
#ifndef WS_FAKE_H
#define WS_FAKE_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sip_msg.h"
#include "sip_ws.h"

#define FAKE_MAX_MSGS 64

struct sip_conn {
  uintptr_t framing;
  sip_limits lim;
  const char *path; /* the listener's */
  int closed, err, keepalives;
  const char *what;
  char *out; /* written */
  size_t out_len;
  int nmsgs;
  char *msgs[FAKE_MAX_MSGS];
  size_t lens[FAKE_MAX_MSGS];
  char *pending; /* not consumed yet */
  size_t pending_len;
};

int sip_conn_deliver(sip_conn *c, const char *msg, size_t len) {
  if (c->nmsgs < FAKE_MAX_MSGS) {
    c->msgs[c->nmsgs] = malloc(len ? len : 1);
    if (len) memcpy(c->msgs[c->nmsgs], msg, len);
    c->lens[c->nmsgs++] = len;
  }
  return 0;
}

int sip_conn_write(sip_conn *c, const char *p, size_t n, const char **err) {
  if (c->closed) {
    *err = "connection closed";
    return -1;
  }
  char *o = realloc(c->out, c->out_len + n + 1);
  if (!o) abort();
  memcpy(o + c->out_len, p, n);
  c->out = o;
  c->out_len += n;
  return 0;
}

void sip_conn_keepalive(sip_conn *c) { c->keepalives++; }

void sip_conn_fail(sip_conn *c, int err, const char *what) {
  if (c->closed) return;
  c->closed = 1;
  c->err = err;
  c->what = what;
}

void sip_conn_framing_error(sip_conn *c, const char *what) { sip_conn_fail(c, EPROTO, what); }

uintptr_t *sip_conn_framing(sip_conn *c) { return &c->framing; }

const struct sip_limits *sip_conn_limits(const sip_conn *c) { return &c->lim; }

const char *sip_conn_listen_path(const sip_conn *c) { return c->path; }

void sip_conn_peer(const sip_conn *c, sip_peer *out) {
  memset(out, 0, sizeof *out);
  out->proto = SIP_PROTO_WS;
}

sip_conn *sip_tp_conn(sip_tp *tp, uint32_t id) { return NULL; }

int sip_tp_conn_peer(sip_tp *tp, uint32_t id, sip_peer *out) { return -1; }

int sip_tp_addr_str(const struct sockaddr_storage *a, char *host, size_t hostlen, int *port) {
  if (hostlen < 10) return -1;
  strcpy(host, "127.0.0.1");
  *port = 80;
  return 0;
}

static void fake_init(sip_conn *c, size_t max_msg, const char *path) {
  memset(c, 0, sizeof *c);
  c->lim = sip_default_limits;
  c->lim.max_msg = max_msg;
  c->path = path;
}

/* n more bytes arrive: the framing sees them after what it left, in a buffer of their exact size
 * (so ASan sees a read past them). Returns input's result. */
static long ws_feed(sip_conn *c, const char *p, size_t n) {
  if (c->closed) return -1;
  size_t all = c->pending_len + n;
  char *buf = calloc(1, all ? all : 1);
  if (!buf) abort();
  if (c->pending_len) memcpy(buf, c->pending, c->pending_len);
  if (n) memcpy(buf + c->pending_len, p, n);
  long used = sip_ws_framing.input(c, buf, all);
  free(c->pending);
  c->pending = NULL;
  c->pending_len = 0;
  if (used >= 0 && (size_t)used < all) {
    c->pending_len = all - (size_t)used;
    c->pending = malloc(c->pending_len);
    if (!c->pending) abort();
    memcpy(c->pending, buf + used, c->pending_len);
  }
  free(buf);
  return used;
}

static void fake_free(sip_conn *c) {
  if (sip_ws_framing.release) sip_ws_framing.release(c);
  for (int i = 0; i < c->nmsgs; i++) free(c->msgs[i]);
  free(c->out);
  free(c->pending);
  c->nmsgs = 0;
  c->out = c->pending = NULL;
}

#endif
