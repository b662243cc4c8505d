/* sip_ws.c: the WebSocket framing (sip_ws.h): the opening handshake on either side, then frames
 * (RFC 6455 §5): one SIP message per text or binary message (RFC 7118 §5), fragments put back
 * together, masking by role (§5.3), ping answered with pong (§5.5.2), close answered and
 * reported with its code (§5.5.1, §7.4). A whole frame is unmasked in place in the transport's
 * receive buffer and handed up from there; only a fragmented message is copied.
 *
 * Memory: an open connection with nothing to remember (no fragment pending, no Origin, the
 * path its listener serves) holds no allocation: its framing slot is a tag saying its role
 * (WS_TAG). The struct exists during the handshake, while a fragmented message is incomplete,
 * and for an accepted connection whose path or Origin must be kept. */
#include "sip_ws.h"
#include "sip_msg.h"
#include "sip_rand.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>
#include <sys/socket.h>

#include <openssl/evp.h>

enum { WS_HANDSHAKE, WS_OPEN, WS_CLOSING };

typedef struct ws {
  uint8_t phase, server;
  uint8_t frag_op;                    /* opcode of the message being put together, or 0 */
  char accept[SIP_WS_ACCEPT_LEN + 1]; /* client: the answer our key asks for */
  char *frag;                         /* the fragments so far */
  size_t frag_len, frag_cap;
  char *hold; /* client: frames sent before the server's 101 */
  size_t hold_len;
  char *path, *origin; /* server: of the Upgrade request */
} ws;

/* The framing slot: NULL, a ws *, or WS_TAG | role for an open connection that keeps nothing
 * (a ws is at least 2-aligned, so bit 0 tells them apart). */
#define WS_TAG 1u
#define WS_TAG_SERVER 2u
static int is_tag(uintptr_t v) { return (v & WS_TAG) != 0; }

/* c's state: its struct, or a tag unfolded into *local. */
static ws *ws_of(sip_conn *c, ws *local) {
  uintptr_t v = *sip_conn_framing(c);
  if (!is_tag(v)) return (ws *)v;
  memset(local, 0, sizeof *local);
  local->phase = WS_OPEN;
  local->server = (v & WS_TAG_SERVER) != 0;
  return local;
}

/* Nothing to remember: the struct can go and a tag take its place. */
static int plain(const ws *w) {
  return w->phase == WS_OPEN && !w->frag_op && !w->frag && !w->hold && !w->path && !w->origin;
}

/* After input: w (c's struct or a tag's local copy) stored back in its smallest form. */
static int ws_store(sip_conn *c, ws *w, ws *local) {
  uintptr_t *slot = sip_conn_framing(c);
  if (plain(w)) {
    uintptr_t tag = WS_TAG | (w->server ? WS_TAG_SERVER : 0);
    if (w != local) free(w);
    *slot = tag;
    return 0;
  }
  if (w == local) {
    ws *h = malloc(sizeof *h);
    if (!h) return -1;
    *h = *local;
    *slot = (uintptr_t)h;
  }
  return 0;
}

/* ---- frame headers (§5.2) ------------------------------------------------------------------- */

int sip_ws_read_frame(const unsigned char *p, size_t n, sip_ws_frame *f, int *code,
                      const char **what) {
  if (n < 2) return 0;
  f->fin = p[0] >> 7;
  f->opcode = p[0] & 0x0f;
  f->masked = p[1] >> 7;
  uint64_t len = p[1] & 0x7f;
  size_t h = 2;
  *code = SIP_WS_PROTOCOL_ERROR;
  if (p[0] & 0x70) {
    *what = "WebSocket frame with reserved bits set";
    return -1;
  }
  int control = f->opcode & 0x8;
  if (f->opcode > SIP_WS_BINARY && (f->opcode < SIP_WS_CLOSE || f->opcode > SIP_WS_PONG)) {
    *what = "WebSocket frame with an unknown opcode";
    return -1;
  }
  if (control && (!f->fin || len > 125)) {
    *what = "WebSocket control frame fragmented or over 125 bytes";
    return -1;
  }
  if (len == 126) {
    if (n < 4) return 0;
    len = (uint64_t)p[2] << 8 | p[3];
    h = 4;
  } else if (len == 127) {
    if (n < 10) return 0;
    if (p[2] & 0x80) {
      *what = "WebSocket frame length with its top bit set";
      return -1;
    }
    len = 0;
    for (int i = 2; i < 10; i++) len = len << 8 | p[i];
    h = 10;
  }
  if (f->masked) {
    if (n < h + 4) return 0;
    memcpy(f->mask, p + h, 4);
    h += 4;
  }
  f->head = h;
  f->length = len;
  return 1;
}

void sip_ws_unmask(unsigned char *p, size_t n, const uint8_t mask[4], size_t off) {
  size_t i = 0;
  if (off % 4 == 0) { /* a word at a time; the key repeats every 4 bytes */
    uint32_t k;
    memcpy(&k, mask, 4);
    for (; i + 4 <= n; i += 4) {
      uint32_t w;
      memcpy(&w, p + i, 4);
      w ^= k;
      memcpy(p + i, &w, 4);
    }
  }
  for (; i < n; i++) p[i] ^= mask[(off + i) & 3];
}

size_t sip_ws_write_head(unsigned char *out, int opcode, uint64_t n, const uint8_t *mask) {
  size_t h = 2;
  out[0] = (unsigned char)(0x80 | opcode);
  uint8_t m = mask ? 0x80 : 0;
  if (n < 126) {
    out[1] = (unsigned char)(m | n);
  } else if (n <= 0xffff) {
    out[1] = (unsigned char)(m | 126);
    out[2] = (unsigned char)(n >> 8);
    out[3] = (unsigned char)n;
    h = 4;
  } else {
    out[1] = (unsigned char)(m | 127);
    for (int i = 0; i < 8; i++) out[2 + i] = (unsigned char)(n >> (56 - 8 * i));
    h = 10;
  }
  if (mask) {
    memcpy(out + h, mask, 4);
    h += 4;
  }
  return h;
}

/* RFC 3629 §4: no overlong forms, no surrogates, nothing past U+10FFFF. ASCII goes a word at
 * a time: SIP is mostly ASCII. */
int sip_ws_utf8(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s, *e = p + n;
  while (p < e) {
    if (e - p >= 8) {
      uint64_t w;
      memcpy(&w, p, 8);
      if (!(w & 0x8080808080808080ull)) {
        p += 8;
        continue;
      }
    }
    unsigned c = *p;
    if (c < 0x80) {
      p++;
      continue;
    }
    size_t k = c >= 0xc2 && c <= 0xdf   ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
    if (!k || (size_t)(e - p) < k) return 0;
    unsigned c1 = p[1];
    unsigned lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
    unsigned hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
    if (c1 < lo || c1 > hi) return 0;
    for (size_t i = 2; i < k; i++)
      if ((p[i] & 0xc0) != 0x80) return 0;
    p += k;
  }
  return 1;
}

/* ---- sending ---------------------------------------------------------------------------------- */

/* A client's frame before the server's answer: kept until the 101 (§4.1), as much as the
 * transport's default send queue would take. */
#define WS_MAX_HOLD (1u << 20)
static int hold(ws *w, const unsigned char *p, size_t n, const char **err) {
  if (w->hold_len + n > WS_MAX_HOLD) {
    *err = "send queue full";
    return -1;
  }
  char *nh = realloc(w->hold, w->hold_len + n);
  if (!nh) {
    *err = "out of memory";
    return -1;
  }
  memcpy(nh + w->hold_len, p, n);
  w->hold = nh;
  w->hold_len += n;
  return 0;
}

/* One final frame out: the header and the payload in one write (a client masks, §5.3). */
static int send_frame(sip_conn *c, ws *w, int opcode, const char *p, size_t n, const char **err) {
  unsigned char stack[4096], *buf = stack;
  if (n > sizeof stack - 14 && !(buf = malloc(n + 14))) {
    *err = "out of memory";
    return -1;
  }
  uint8_t key[4];
  if (!w->server && sip_rand_bytes(key, 4) < 0) {
    if (buf != stack) free(buf);
    *err = "no randomness for the mask";
    return -1;
  }
  size_t h = sip_ws_write_head(buf, opcode, n, w->server ? NULL : key);
  memcpy(buf + h, p, n);
  if (!w->server) sip_ws_unmask(buf + h, n, key, 0);
  int r = w->phase == WS_HANDSHAKE ? hold(w, buf, h + n, err)
                                   : sip_conn_write(c, (const char *)buf, h + n, err);
  if (buf != stack) free(buf);
  return r;
}

/* §5.5.1, §7.1.2: say why, then close (this side waits for no answer). */
static void close_with(sip_conn *c, ws *w, int code, int err, const char *what) {
  if (w->phase == WS_OPEN) {
    char b[2] = {(char)(code >> 8), (char)code};
    const char *e;
    send_frame(c, w, SIP_WS_CLOSE, b, 2, &e);
    w->phase = WS_CLOSING;
  }
  if (err == EPROTO) sip_conn_framing_error(c, what);
  else sip_conn_fail(c, err, what);
}

static int ws_output(sip_conn *c, const char *msg, size_t len, const char **err) {
  ws local, *w = ws_of(c, &local);
  if (!w || w->phase == WS_CLOSING || (w->server && w->phase != WS_OPEN)) {
    *err = "WebSocket not open";
    return -1;
  }
  /* RFC 7118 §5: text frames for SIP in UTF-8, the usual case */
  return send_frame(c, w, SIP_WS_TEXT, msg, len, err);
}

/* ---- the opening handshake -------------------------------------------------------------------- */

static ws *ws_new(sip_conn *c, int server) {
  ws *w = calloc(1, sizeof *w);
  if (w) {
    w->server = (uint8_t)server;
    *sip_conn_framing(c) = (uintptr_t)w;
  }
  return w;
}

static char *dup_slice(const char *p, size_t n) {
  char *s = malloc(n + 1);
  if (s) {
    memcpy(s, p, n);
    s[n] = 0;
  }
  return s;
}

/* Server: the client's Upgrade request. Bytes used, 0 for more, -1 once c is closed. */
static long accept_upgrade(sip_conn *c, ws *w, const char *p, size_t n) {
  sip_ws_upgrade u;
  int status = 0;
  const char *what = NULL, *e;
  char out[512];
  long m = sip_ws_read_upgrade(p, n, sip_conn_listen_path(c), &u, &status, &what);
  if (m == 0) return 0;
  if (m < 0) {
    int k = sip_ws_write_refusal(status, what, out, sizeof out);
    if (k > 0) sip_conn_write(c, out, (size_t)k, &e);
    sip_conn_framing_error(c, what);
    return -1;
  }
  /* the path its listener serves (or "/" for a listener of any) is not kept: see
   * sip_ws_request */
  const char *lp = sip_conn_listen_path(c);
  if (!lp) lp = "/";
  int same = u.path_len == strlen(lp) && !memcmp(u.path, lp, u.path_len);
  if (!same) w->path = dup_slice(u.path, u.path_len);
  if (u.origin) w->origin = dup_slice(u.origin, u.origin_len);
  int k = sip_ws_write_101(&u, out, sizeof out);
  if ((!same && !w->path) || (u.origin && !w->origin) || k < 0) {
    sip_conn_fail(c, ENOMEM, "out of memory");
    return -1;
  }
  if (sip_conn_write(c, out, (size_t)k, &e) < 0) {
    sip_conn_fail(c, ENOBUFS, e);
    return -1;
  }
  w->phase = WS_OPEN;
  return m;
}

/* Client: the server's answer; then what was held goes. */
static long take_answer(sip_conn *c, ws *w, const char *p, size_t n) {
  const char *what = NULL, *e;
  long m = sip_ws_read_answer(p, n, w->accept, &what);
  if (m == 0) return 0;
  if (m < 0) {
    sip_conn_framing_error(c, what);
    return -1;
  }
  w->phase = WS_OPEN;
  if (w->hold) {
    int r = sip_conn_write(c, w->hold, w->hold_len, &e);
    free(w->hold);
    w->hold = NULL;
    w->hold_len = 0;
    if (r < 0) {
      sip_conn_fail(c, ENOBUFS, e);
      return -1;
    }
  }
  return m;
}

static int ws_open(sip_conn *c, const char *name, const char **err) {
  ws *w = ws_new(c, 0);
  unsigned char raw[16];
  char key[SIP_WS_KEY_LEN + 1], host[80], req[512];
  if (!w) {
    *err = "out of memory";
    return -1;
  }
  if (sip_rand_bytes(raw, sizeof raw) < 0) {
    *err = "no randomness for the WebSocket key";
    return -1;
  }
  EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw);
  if (sip_ws_accept_of(key, SIP_WS_KEY_LEN, w->accept) < 0) {
    *err = "cannot compute the accept key";
    return -1;
  }
  if (!name) {
    sip_peer p;
    int port = 0;
    char ip[64];
    sip_conn_peer(c, &p);
    if (sip_tp_addr_str(&p.addr, ip, sizeof ip, &port) < 0) {
      *err = "no address for the Host header";
      return -1;
    }
    snprintf(host, sizeof host, p.addr.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip, port);
    name = host;
  }
  int k = sip_ws_write_request(name, "/", key, req, sizeof req);
  if (k < 0) {
    *err = "server name too long for the Upgrade request";
    return -1;
  }
  return sip_conn_write(c, req, (size_t)k, err);
}

static void ws_release(sip_conn *c) {
  ws local, *w = ws_of(c, &local);
  if (!w || w == &local) {
    *sip_conn_framing(c) = 0;
    return;
  }
  free(w->frag);
  free(w->hold);
  free(w->path);
  free(w->origin);
  free(w);
  *sip_conn_framing(c) = 0;
}

/* ---- receiving -------------------------------------------------------------------------------- */

static int is_crlf(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != '\r' && p[i] != '\n') return 0;
  return 1;
}

/* A whole message: a SIP message up, or a CRLF keepalive answered (RFC 5626 §3.5.1 over
 * WebSocket, as SIP.js sends it). 0, or -1 once c is closed. */
static int message(sip_conn *c, ws *w, int op, const char *p, size_t n) {
  if (op == SIP_WS_TEXT && !sip_ws_utf8(p, n)) { /* §8.1 */
    close_with(c, w, SIP_WS_INVALID_DATA, EPROTO, "WebSocket text message not UTF-8");
    return -1;
  }
  if (is_crlf(p, n)) {
    const char *e;
    sip_conn_keepalive(c);
    if (n >= 4 && send_frame(c, w, SIP_WS_TEXT, "\r\n", 2, &e) < 0) {
      sip_conn_fail(c, ENOBUFS, e);
      return -1;
    }
    return 0;
  }
  return sip_conn_deliver(c, p, n);
}

static int control(sip_conn *c, ws *w, int op, const char *p, size_t n) {
  const char *e;
  if (op == SIP_WS_PING) { /* §5.5.2; a flood fills the send queue and closes the connection */
    sip_conn_keepalive(c);
    if (send_frame(c, w, SIP_WS_PONG, p, n, &e) < 0) {
      sip_conn_fail(c, ENOBUFS, e);
      return -1;
    }
    return 0;
  }
  if (op == SIP_WS_PONG) return 0;
  /* close (§5.5.1): a body is a 2-byte code and a reason */
  if (n == 1) {
    close_with(c, w, SIP_WS_PROTOCOL_ERROR, EPROTO, "WebSocket close frame of 1 byte");
    return -1;
  }
  int code = n >= 2 ? ((unsigned char)p[0] << 8 | (unsigned char)p[1]) : SIP_WS_NORMAL;
  if (w->phase == WS_OPEN) { /* echo the code (§5.5.1) */
    char b[2] = {(char)(code >> 8), (char)code};
    send_frame(c, w, SIP_WS_CLOSE, b, n >= 2 ? 2 : 0, &e);
    w->phase = WS_CLOSING;
  }
  sip_conn_fail(c, 0,
                code == SIP_WS_NORMAL || code == SIP_WS_GOING_AWAY
                  ? "WebSocket closed by peer"
                  : "WebSocket closed by peer with an error code");
  return -1;
}

/* One frame of n payload bytes at p (unmasked). 0, or -1 once c is closed. */
static int frame(sip_conn *c, ws *w, const sip_ws_frame *f, char *p, size_t n) {
  if (f->opcode & 0x8) return control(c, w, f->opcode, p, n);
  if (f->opcode != SIP_WS_CONT && f->fin && !w->frag_op) return message(c, w, f->opcode, p, n);
  if (f->opcode != SIP_WS_CONT) w->frag_op = f->opcode;
  if (w->frag_cap - w->frag_len < n) {
    size_t cap = w->frag_cap ? w->frag_cap : 1024;
    while (cap - w->frag_len < n) cap *= 2;
    char *nb = realloc(w->frag, cap);
    if (!nb) {
      sip_conn_fail(c, ENOMEM, "out of memory");
      return -1;
    }
    w->frag = nb;
    w->frag_cap = cap;
  }
  if (n) memcpy(w->frag + w->frag_len, p, n);
  w->frag_len += n;
  if (!f->fin) return 0;
  char *m = w->frag;
  size_t len = w->frag_len;
  int op = w->frag_op;
  w->frag = NULL;
  w->frag_len = w->frag_cap = 0;
  w->frag_op = 0;
  int r = message(c, w, op, m, len);
  free(m);
  return r;
}

static long frames(sip_conn *c, ws *w, const char *in, size_t n) {
  /* The transport's receive buffer is ours to rewrite up to what we consume: a frame is
   * unmasked in place only once it is whole, so nothing is unmasked twice. */
  char *p = (char *)in;
  size_t off = 0, max = sip_conn_limits(c)->max_msg;
  if (w->phase == WS_HANDSHAKE) {
    long m = w->server ? accept_upgrade(c, w, p, n) : take_answer(c, w, p, n);
    if (m <= 0) return m;
    off = (size_t)m;
  }
  while (off < n && w->phase == WS_OPEN) {
    sip_ws_frame f;
    int code;
    const char *what;
    int r = sip_ws_read_frame((const unsigned char *)p + off, n - off, &f, &code, &what);
    if (r == 0) break;
    if (r < 0) {
      close_with(c, w, code, EPROTO, what);
      return -1;
    }
    /* §5.1: a client masks every frame, a server none */
    if (f.masked != w->server) {
      close_with(c, w, SIP_WS_PROTOCOL_ERROR, EPROTO,
                 w->server ? "unmasked WebSocket frame from a client"
                           : "masked WebSocket frame from a server");
      return -1;
    }
    /* §5.4: continuation frames continue a message; a new message waits for its end */
    if (!(f.opcode & 0x8) && (f.opcode == SIP_WS_CONT) != (w->frag_op != 0)) {
      close_with(c, w, SIP_WS_PROTOCOL_ERROR, EPROTO,
                 f.opcode == SIP_WS_CONT ? "WebSocket continuation frame without a message"
                                         : "WebSocket message inside a fragmented one");
      return -1;
    }
    if (f.length >= max || f.head + f.length >= max || w->frag_len + f.length > max) {
      close_with(c, w, SIP_WS_TOO_BIG, EMSGSIZE, "WebSocket message too large");
      return -1;
    }
    size_t len = (size_t)f.length;
    if (n - off < f.head + len) break;
    char *pl = p + off + f.head;
    if (f.masked) sip_ws_unmask((unsigned char *)pl, len, f.mask, 0);
    off += f.head + len;
    if (frame(c, w, &f, pl, len) < 0) return -1;
  }
  return (long)off;
}

static long ws_input(sip_conn *c, const char *in, size_t n) {
  ws local, *w = ws_of(c, &local);
  if (!w && !(w = ws_new(c, 1))) {
    sip_conn_fail(c, ENOMEM, "out of memory");
    return -1;
  }
  long r = frames(c, w, in, n);
  if (r >= 0 && ws_store(c, w, &local) < 0) {
    sip_conn_fail(c, ENOMEM, "out of memory");
    r = -1;
  }
  if (r < 0 && w == &local) free(local.frag); /* c is closed; a tag's copy held it */
  return r;
}

const sip_framing_ops sip_ws_framing = {
  .name = "websocket",
  .input = ws_input,
  .output = ws_output,
  .open = ws_open,
  .release = ws_release,
};

int sip_ws_request(sip_tp *tp, uint32_t conn, const char **path, const char **origin) {
  sip_peer p;
  sip_conn *c = sip_tp_conn(tp, conn);
  if (!c || sip_tp_conn_peer(tp, conn, &p) < 0 ||
      (p.proto != SIP_PROTO_WS && p.proto != SIP_PROTO_WSS))
    return -1;
  ws local, *w = ws_of(c, &local);
  if (!w || !w->server || w->phase == WS_HANDSHAKE) return -1;
  const char *lp = sip_conn_listen_path(c);
  *path = w->path ? w->path : lp ? lp : "/"; /* not kept when it is the listener's */
  *origin = w->origin;
  return 0;
}
