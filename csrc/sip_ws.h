/* sip_ws.h: SIP over WebSocket (RFC 7118) as a framing of the stream transports
 * (sip_transport.h's framing seam): WS = plain + WebSocket, WSS = TLS + WebSocket.
 *
 * Pure parts, without I/O, for the framing and for tests and fuzzers:
 *   the opening handshake (RFC 6455 §4): the client's Upgrade request read and answered, the
 *     server's answer checked (sip_ws_handshake.c);
 *   frame headers (RFC 6455 §5.2) read and written (sip_ws.c).
 * One SIP message per text or binary frame, after reassembly of fragments (RFC 7118 §5). */
#ifndef SIP_WS_H
#define SIP_WS_H

#include "sip_transport.h"

#include <stddef.h>
#include <stdint.h>

extern const sip_framing_ops sip_ws_framing;

/* The path and Origin of an accepted WebSocket connection's Upgrade request (NULL when it had
 * no Origin). 0, or -1 when conn is not an open WebSocket connection accepted by tp. */
int sip_ws_request(sip_tp *tp, uint32_t conn, const char **path, const char **origin);

/* ---- the opening handshake (RFC 6455 §4) ---------------------------------------------------- */

#define SIP_WS_KEY_LEN 24    /* base64 of 16 bytes */
#define SIP_WS_ACCEPT_LEN 28 /* base64 of a SHA-1 */
#define SIP_WS_MAX_HANDSHAKE 8192

/* Sec-WebSocket-Accept for a key (§4.2.2 step 5.4): base64(SHA-1(key + the GUID)). 0, or -1. */
int sip_ws_accept_of(const char *key, size_t n, char out[SIP_WS_ACCEPT_LEN + 1]);

/* What a client's Upgrade request said. Slices into the request. */
typedef struct sip_ws_upgrade {
  const char *path, *origin, *host;
  size_t path_len, origin_len, host_len;
  char accept[SIP_WS_ACCEPT_LEN + 1];
} sip_ws_upgrade;

/* Read a client's request, p[0..n). Returns the bytes of the request (> 0) with *u filled,
 * 0 when it is not complete yet (n < SIP_WS_MAX_HANDSHAKE), or -1 when it is refused: *status
 * is the HTTP answer (400, 404, 405, 426, 431, 505) and *what says why. want_path: the
 * listener's resource name, or NULL for any. */
long sip_ws_read_upgrade(const char *p, size_t n, const char *want_path, sip_ws_upgrade *u,
                         int *status, const char **what);

/* The server's answers: 101 with the accept key and the sip subprotocol, or a refusal with
 * status (and for 426, the version we speak). Bytes written into out (cap at least 256), or -1. */
int sip_ws_write_101(const sip_ws_upgrade *u, char *out, size_t cap);
int sip_ws_write_refusal(int status, const char *what, char *out, size_t cap);

/* A client's Upgrade request for path at host, with a key (SIP_WS_KEY_LEN characters). Bytes
 * written, or -1 when cap is too small. */
int sip_ws_write_request(const char *host, const char *path, const char *key, char *out,
                         size_t cap);

/* Read the server's answer to our request, p[0..n): its length (> 0) when it is a 101 with our
 * accept key and the sip subprotocol, 0 when not complete, -1 with *what otherwise. */
long sip_ws_read_answer(const char *p, size_t n, const char *accept, const char **what);

/* ---- frames (RFC 6455 §5) ------------------------------------------------------------------- */

enum {
  SIP_WS_CONT = 0x0,
  SIP_WS_TEXT = 0x1,
  SIP_WS_BINARY = 0x2,
  SIP_WS_CLOSE = 0x8,
  SIP_WS_PING = 0x9,
  SIP_WS_PONG = 0xA,
};

/* Close status codes (§7.4.1). */
enum {
  SIP_WS_NORMAL = 1000,
  SIP_WS_GOING_AWAY = 1001,
  SIP_WS_PROTOCOL_ERROR = 1002,
  SIP_WS_TOO_BIG = 1009,
};

typedef struct sip_ws_frame {
  uint8_t fin, opcode, masked;
  uint8_t mask[4];
  size_t head;     /* bytes of the header */
  uint64_t length; /* bytes of the payload */
} sip_ws_frame;

/* Read a frame header from p[0..n): 1 with *f filled, 0 when more bytes are needed, or -1 with
 * *code (a close status) and *what when the frame breaks §5.2/§5.5: reserved bits, an unknown
 * opcode, a fragmented or long control frame, a 64-bit length with its top bit set. Masking
 * and sizes are the caller's rules. */
int sip_ws_read_frame(const unsigned char *p, size_t n, sip_ws_frame *f, int *code,
                      const char **what);

/* XOR a payload with its key, from offset off of the payload (§5.3). */
void sip_ws_unmask(unsigned char *p, size_t n, const uint8_t mask[4], size_t off);

/* Write a final frame's header for a payload of n bytes (masked when mask is not NULL) into
 * out (at least 14 bytes); its length. */
size_t sip_ws_write_head(unsigned char *out, int opcode, uint64_t n, const uint8_t *mask);

#endif
