/* sip_ws_handshake.c: the WebSocket opening handshake (RFC 6455 §4) with the sip subprotocol
 * of RFC 7118 §4: a client's Upgrade request read and answered, and our own request and the
 * check of its answer. Pure: no I/O, no allocation; slices into the caller's bytes. */
#include "sip_ws.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

static const char GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"; /* §1.3 */

int sip_ws_accept_of(const char *key, size_t n, char out[SIP_WS_ACCEPT_LEN + 1]) {
  unsigned char cat[128], md[SHA_DIGEST_LENGTH];
  if (n > sizeof cat - (sizeof GUID - 1)) return -1;
  memcpy(cat, key, n);
  memcpy(cat + n, GUID, sizeof GUID - 1);
  if (!SHA1(cat, n + sizeof GUID - 1, md)) return -1;
  return EVP_EncodeBlock((unsigned char *)out, md, sizeof md) == SIP_WS_ACCEPT_LEN ? 0 : -1;
}

/* ---- reading an HTTP/1.1 head --------------------------------------------------------------- */

/* The end of the head (after CRLFCRLF) in p[0..n), or 0. */
static size_t head_end(const char *p, size_t n) {
  for (size_t i = 3; i < n; i++)
    if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r') return i + 1;
  return 0;
}

static int is_ows(char ch) { return ch == ' ' || ch == '\t'; }

/* Does the comma-separated list v[0..n) hold tok (case-insensitive, or exactly when exact)? */
static int list_has(const char *v, size_t n, const char *tok, int exact) {
  size_t tl = strlen(tok), i = 0;
  while (i < n) {
    while (i < n && (is_ows(v[i]) || v[i] == ',')) i++;
    size_t s = i;
    while (i < n && v[i] != ',') i++;
    size_t e = i;
    while (e > s && is_ows(v[e - 1])) e--;
    if (e - s == tl && (exact ? !memcmp(v + s, tok, tl) : !strncasecmp(v + s, tok, tl))) return 1;
  }
  return 0;
}

typedef struct field {
  const char *name, *value;
  size_t name_len, value_len;
} field;

/* The next header field of a head, from *at; 1 with *f, 0 at the empty line, -1 malformed
 * (no colon, a space before it, an obsolete folded line). */
static int next_field(const char *p, size_t end, size_t *at, field *f) {
  size_t i = *at, eol = i;
  while (eol + 1 < end && !(p[eol] == '\r' && p[eol + 1] == '\n')) eol++;
  if (eol + 1 >= end) return -1;
  *at = eol + 2;
  if (eol == i) return 0;
  if (is_ows(p[i])) return -1; /* obs-fold (RFC 9112 §5.2) */
  size_t c = i;
  while (c < eol && p[c] != ':') c++;
  if (c == eol || c == i || is_ows(p[c - 1])) return -1;
  f->name = p + i;
  f->name_len = c - i;
  size_t vs = c + 1, ve = eol;
  while (vs < ve && is_ows(p[vs])) vs++;
  while (ve > vs && is_ows(p[ve - 1])) ve--;
  f->value = p + vs;
  f->value_len = ve - vs;
  return 1;
}

static int is_name(const field *f, const char *name) {
  return f->name_len == strlen(name) && !strncasecmp(f->name, name, f->name_len);
}

static int is_key(const char *k, size_t n) { /* base64 of 16 bytes (§4.1 item 7) */
  if (n != SIP_WS_KEY_LEN || k[22] != '=' || k[23] != '=') return 0;
  for (size_t i = 0; i < 22; i++) {
    char ch = k[i];
    if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
          ch == '+' || ch == '/'))
      return 0;
  }
  return 1;
}

static long refuse(int *status, const char **what, int s, const char *why) {
  *status = s;
  *what = why;
  return -1;
}

/* §4.2.1: a GET of HTTP/1.1 at least, Upgrade: websocket, Connection: Upgrade, a key of 16
 * bytes, version 13; RFC 7118 §4: the sip subprotocol offered. */
long sip_ws_read_upgrade(const char *p, size_t n, const char *want_path, sip_ws_upgrade *u,
                         int *status, const char **what) {
  memset(u, 0, sizeof *u);
  size_t end = head_end(p, n < SIP_WS_MAX_HANDSHAKE ? n : SIP_WS_MAX_HANDSHAKE);
  if (!end) {
    if (n < SIP_WS_MAX_HANDSHAKE) return 0;
    return refuse(status, what, 431, "WebSocket handshake too large");
  }
  /* request-line = method SP request-target SP HTTP-version CRLF */
  const char *sp1 = memchr(p, ' ', end), *eol = memchr(p, '\r', end);
  if (!sp1 || !eol || sp1 > eol || sp1 == p)
    return refuse(status, what, 400, "not an HTTP request");
  const char *target = sp1 + 1;
  const char *sp2 = memchr(target, ' ', (size_t)(eol - target));
  if (!sp2 || sp2 == target) return refuse(status, what, 400, "not an HTTP request");
  size_t vlen = (size_t)(eol - sp2 - 1);
  if (vlen != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) || sp2[8] < '0' || sp2[8] > '9')
    return refuse(status, what, vlen >= 5 && !memcmp(sp2 + 1, "HTTP/", 5) ? 505 : 400,
                  "not an HTTP/1.1 request");
  if (sp2[8] == '0') return refuse(status, what, 505, "WebSocket needs HTTP/1.1");
  if (sp1 - p != 3 || memcmp(p, "GET", 3)) return refuse(status, what, 405, "not a GET");
  if (*target != '/') return refuse(status, what, 400, "request target is not a path");
  u->path = target;
  u->path_len = (size_t)(sp2 - target);

  int upgrade = 0, connection = 0, version = 0, sip = 0;
  const char *key = NULL;
  size_t key_len = 0, at = (size_t)(eol - p) + 2;
  field f;
  int r;
  while ((r = next_field(p, end, &at, &f)) > 0) {
    if (is_name(&f, "Upgrade")) upgrade |= list_has(f.value, f.value_len, "websocket", 0);
    else if (is_name(&f, "Connection")) connection |= list_has(f.value, f.value_len, "upgrade", 0);
    else if (is_name(&f, "Sec-WebSocket-Version"))
      version = f.value_len == 2 && !memcmp(f.value, "13", 2) ? 13 : -1;
    else if (is_name(&f, "Sec-WebSocket-Protocol")) sip |= list_has(f.value, f.value_len, "sip", 1);
    else if (is_name(&f, "Sec-WebSocket-Key")) {
      key = f.value;
      key_len = f.value_len;
    } else if (is_name(&f, "Origin")) {
      u->origin = f.value;
      u->origin_len = f.value_len;
    } else if (is_name(&f, "Host")) {
      u->host = f.value;
      u->host_len = f.value_len;
    }
  }
  if (r < 0) return refuse(status, what, 400, "malformed HTTP header field");
  if (!upgrade) return refuse(status, what, 426, "not a WebSocket upgrade");
  if (!connection) return refuse(status, what, 400, "Connection does not say Upgrade");
  if (version != 13) return refuse(status, what, 426, "WebSocket version 13 only");
  if (!key || !is_key(key, key_len)) return refuse(status, what, 400, "bad Sec-WebSocket-Key");
  if (want_path) {
    const char *q = memchr(u->path, '?', u->path_len);
    size_t pl = q ? (size_t)(q - u->path) : u->path_len;
    if (pl != strlen(want_path) || memcmp(u->path, want_path, pl))
      return refuse(status, what, 404, "no WebSocket at this path");
  }
  if (!sip) return refuse(status, what, 400, "no sip subprotocol (RFC 7118 §4)");
  if (sip_ws_accept_of(key, key_len, u->accept) < 0)
    return refuse(status, what, 500, "cannot compute the accept key");
  return (long)end;
}

int sip_ws_write_101(const sip_ws_upgrade *u, char *out, size_t cap) {
  int n = snprintf(out, cap,
                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                   "Sec-WebSocket-Protocol: sip\r\n\r\n",
                   u->accept);
  return n > 0 && (size_t)n < cap ? n : -1;
}

static const char *reason(int status) {
  switch (status) {
  case 400: return "Bad Request";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 426: return "Upgrade Required";
  case 431: return "Request Header Fields Too Large";
  case 505: return "HTTP Version Not Supported";
  default: return "Internal Server Error";
  }
}

int sip_ws_write_refusal(int status, const char *what, char *out, size_t cap) {
  /* 426 names what to upgrade to (RFC 9110 §15.5.22); for a version, §4.4 */
  const char *extra = status == 426 ? "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" : "";
  int n = snprintf(out, cap,
                   "HTTP/1.1 %d %s\r\n%sContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n%s\n",
                   status, reason(status), extra, strlen(what) + 1, what);
  return n > 0 && (size_t)n < cap ? n : -1;
}

int sip_ws_write_request(const char *host, const char *path, const char *key, char *out,
                         size_t cap) {
  int n = snprintf(out, cap,
                   "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %.*s\r\nSec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Protocol: sip\r\n\r\n",
                   path, host, SIP_WS_KEY_LEN, key);
  return n > 0 && (size_t)n < cap ? n : -1;
}

/* §4.1, the client's checks of the answer: 101, Upgrade and Connection, our accept key, and a
 * subprotocol we asked for (sip, the only one). */
long sip_ws_read_answer(const char *p, size_t n, const char *accept, const char **what) {
  size_t end = head_end(p, n < SIP_WS_MAX_HANDSHAKE ? n : SIP_WS_MAX_HANDSHAKE);
  if (!end) {
    if (n < SIP_WS_MAX_HANDSHAKE) return 0;
    *what = "WebSocket answer too large";
    return -1;
  }
  if (end < 12 || memcmp(p, "HTTP/1.1 ", 9)) {
    *what = "WebSocket answer is not HTTP/1.1";
    return -1;
  }
  if (memcmp(p + 9, "101", 3)) {
    *what = "WebSocket upgrade refused by the server";
    return -1;
  }
  int upgrade = 0, connection = 0, ok_accept = 0, sip = 0, r;
  const char *eol = memchr(p, '\r', end);
  size_t at = (size_t)(eol - p) + 2;
  field f;
  while ((r = next_field(p, end, &at, &f)) > 0) {
    if (is_name(&f, "Upgrade")) upgrade |= list_has(f.value, f.value_len, "websocket", 0);
    else if (is_name(&f, "Connection")) connection |= list_has(f.value, f.value_len, "upgrade", 0);
    else if (is_name(&f, "Sec-WebSocket-Accept"))
      ok_accept = f.value_len == SIP_WS_ACCEPT_LEN && !memcmp(f.value, accept, f.value_len);
    else if (is_name(&f, "Sec-WebSocket-Protocol"))
      sip = f.value_len == 3 && !memcmp(f.value, "sip", 3);
  }
  *what = r < 0                     ? "malformed header field in the WebSocket answer"
          : !upgrade || !connection ? "WebSocket answer without Upgrade"
          : !ok_accept              ? "wrong Sec-WebSocket-Accept"
          : !sip                    ? "server did not take the sip subprotocol"
                                    : NULL;
  return *what ? -1 : (long)end;
}
