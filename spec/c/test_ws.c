/* test_ws.c: the WebSocket framing (csrc/sip_ws.c, csrc/sip_ws_handshake.c): the handshake's
 * pure readers and writers, frame headers with the examples of RFC 6455 §5.7, and the framing
 * over a fake connection (ws_fake.h): messages up, pongs and closes out, errors with their
 * codes, input fed a byte at a time. Tests are named after the rule they check. */
#include "ws_fake.h"
#include "unit.h"

#define UPGRADE(extra)                                                                 \
  "GET /ws HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"             \
  "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" \
  "Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, sip\r\n" extra          \
  "Sec-WebSocket-Version: 13\r\n\r\n"

static const char RFC_ACCEPT[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; /* RFC 6455 §1.3 */

TEST(accept_key_rfc6455_1_3) {
  char out[SIP_WS_ACCEPT_LEN + 1];
  CHECK_EQ_INT(sip_ws_accept_of("dGhlIHNhbXBsZSBub25jZQ==", 24, out), 0);
  CHECK(!strcmp(out, RFC_ACCEPT));
}

TEST(upgrade_4_2_1_read_with_path_origin_and_sip) {
  const char *req = UPGRADE("");
  sip_ws_upgrade u;
  int status = 0;
  const char *what = NULL;
  CHECK_EQ_INT(sip_ws_read_upgrade(req, strlen(req), "/ws", &u, &status, &what), strlen(req));
  CHECK(u.path_len == 3 && !memcmp(u.path, "/ws", 3));
  CHECK(u.origin_len == 18 && !memcmp(u.origin, "http://example.com", 18));
  CHECK(!strcmp(u.accept, RFC_ACCEPT));
  char out[512];
  int n = sip_ws_write_101(&u, out, sizeof out);
  CHECK(n > 0 && strstr(out, "Sec-WebSocket-Protocol: sip\r\n") && strstr(out, RFC_ACCEPT));
  /* every proper prefix is incomplete */
  for (size_t k = 0; k < strlen(req); k++)
    CHECK_EQ_INT(sip_ws_read_upgrade(req, k, "/ws", &u, &status, &what), 0);
}

TEST(upgrade_refusals_say_the_status) {
  static const struct {
    const char *req, *path;
    int status;
  } cases[] = {
    {"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
     NULL, 400}, /* RFC 7118 §4: no sip subprotocol */
    {UPGRADE(""), "/other", 404},
    {"POST /ws HTTP/1.1\r\nHost: x\r\n\r\n", NULL, 405},
    {"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", NULL, 426},
    {"GET /ws HTTP/1.0\r\nHost: x\r\n\r\n", NULL, 505},
    {"GET /ws HTTP/2.0\r\nHost: x\r\n\r\n", NULL, 505},
    {"OPTIONS sip:x SIP/2.0\r\nVia: x\r\n\r\n", NULL, 400},
    {"GET /ws HTTP/1.1\r\n folded: x\r\n\r\n", NULL, 400},
    {"GET /ws HTTP/1.1\r\nHost : x\r\n\r\n", NULL, 400},
    {"GET http://x/ws HTTP/1.1\r\nHost: x\r\n\r\n", NULL, 400},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    sip_ws_upgrade u;
    int status = 0;
    const char *what = NULL;
    long r =
      sip_ws_read_upgrade(cases[i].req, strlen(cases[i].req), cases[i].path, &u, &status, &what);
    if (r != -1 || status != cases[i].status)
      FAILF("case %zu: %ld, status %d (%s)", i, r, status, what ? what : "");
    char out[512];
    CHECK(sip_ws_write_refusal(status, what, out, sizeof out) > 0);
  }
  /* 426 for an old version names ours (§4.4) */
  char ver[1024];
  snprintf(ver, sizeof ver, "%s", UPGRADE(""));
  memcpy(strstr(ver, "Version: 13") + 9, "08", 2);
  sip_ws_upgrade u;
  int status = 0;
  const char *what;
  CHECK_EQ_INT(sip_ws_read_upgrade(ver, strlen(ver), NULL, &u, &status, &what), -1);
  CHECK_EQ_INT(status, 426);
  char out[512];
  sip_ws_write_refusal(status, what, out, sizeof out);
  CHECK(strstr(out, "Sec-WebSocket-Version: 13\r\n") != NULL);
  /* a head that never ends within the cap */
  char *big = malloc(SIP_WS_MAX_HANDSHAKE);
  memset(big, 'a', SIP_WS_MAX_HANDSHAKE);
  CHECK_EQ_INT(sip_ws_read_upgrade(big, SIP_WS_MAX_HANDSHAKE, NULL, &u, &status, &what), -1);
  CHECK_EQ_INT(status, 431);
  free(big);
}

TEST(answer_4_1_checks_101_accept_and_sip) {
  const char *ok =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    "Sec-WebSocket-Protocol: sip\r\n\r\n";
  const char *what = NULL;
  CHECK_EQ_INT(sip_ws_read_answer(ok, strlen(ok), RFC_ACCEPT, &what), strlen(ok));
  CHECK_EQ_INT(sip_ws_read_answer(ok, strlen(ok) - 1, RFC_ACCEPT, &what), 0);
  CHECK_EQ_INT(sip_ws_read_answer(ok, strlen(ok), "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", &what), -1);
  CHECK(!strcmp(what, "wrong Sec-WebSocket-Accept"));
  const char *nosip =
    "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
  CHECK_EQ_INT(sip_ws_read_answer(nosip, strlen(nosip), RFC_ACCEPT, &what), -1);
  CHECK(!strcmp(what, "server did not take the sip subprotocol"));
  const char *no = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
  CHECK_EQ_INT(sip_ws_read_answer(no, strlen(no), RFC_ACCEPT, &what), -1);
  char req[512];
  CHECK(sip_ws_write_request("example.com", "/", "dGhlIHNhbXBsZSBub25jZQ==", req, sizeof req) > 0);
  CHECK(strstr(req, "Sec-WebSocket-Protocol: sip\r\n") && strstr(req, "Host: example.com\r\n"));
}

/* RFC 6455 §5.7 */
TEST(frame_headers_5_7_examples) {
  static const unsigned char unmasked[] = "\x81\x05Hello";
  static const unsigned char masked[] = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
  static const unsigned char len256[] = "\x82\x7e\x01\x00";
  static const unsigned char len64k[] = "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00";
  sip_ws_frame f;
  int code;
  const char *what;
  CHECK_EQ_INT(sip_ws_read_frame(unmasked, 7, &f, &code, &what), 1);
  CHECK(f.fin && f.opcode == SIP_WS_TEXT && !f.masked && f.head == 2 && f.length == 5);
  CHECK_EQ_INT(sip_ws_read_frame(masked, 11, &f, &code, &what), 1);
  CHECK(f.masked && f.head == 6 && f.length == 5);
  unsigned char pl[5];
  memcpy(pl, masked + 6, 5);
  sip_ws_unmask(pl, 5, f.mask, 0);
  CHECK(!memcmp(pl, "Hello", 5));
  CHECK_EQ_INT(sip_ws_read_frame(len256, 4, &f, &code, &what), 1);
  CHECK(f.opcode == SIP_WS_BINARY && f.head == 4 && f.length == 256);
  CHECK_EQ_INT(sip_ws_read_frame(len64k, 10, &f, &code, &what), 1);
  CHECK(f.head == 10 && f.length == 65536);
  for (size_t k = 0; k < 10; k++) CHECK_EQ_INT(sip_ws_read_frame(len64k, k, &f, &code, &what), 0);
  /* written headers read back */
  unsigned char h[14];
  uint8_t key[4] = {1, 2, 3, 4};
  uint64_t lens[] = {0, 125, 126, 65535, 65536, 1u << 20};
  for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
    size_t n = sip_ws_write_head(h, SIP_WS_TEXT, lens[i], i % 2 ? key : NULL);
    CHECK_EQ_INT(sip_ws_read_frame(h, n, &f, &code, &what), 1);
    CHECK(f.head == n && f.length == lens[i] && f.masked == i % 2);
  }
}

TEST(frame_headers_5_2_errors_are_1002) {
  static const struct {
    const char *b;
    size_t n;
  } bad[] = {
    {"\xc1\x00", 2},                                  /* RSV1 */
    {"\x83\x00", 2},                                  /* opcode 3 */
    {"\x8b\x00", 2},                                  /* opcode 0xB */
    {"\x09\x00", 2},                                  /* a fragmented ping */
    {"\x89\x7e\x00\x7e", 4},                          /* a ping of 126 */
    {"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", 10}, /* top bit of a 64-bit length */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    sip_ws_frame f;
    int code = 0;
    const char *what = NULL;
    if (sip_ws_read_frame((const unsigned char *)bad[i].b, bad[i].n, &f, &code, &what) != -1 ||
        code != SIP_WS_PROTOCOL_ERROR || !what)
      FAILF("case %zu not refused with 1002", i);
  }
}

TEST(unmask_from_any_offset_5_3) {
  uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  unsigned char a[37], b[37];
  for (int i = 0; i < 37; i++) a[i] = b[i] = (unsigned char)(i * 7);
  sip_ws_unmask(a, 37, key, 0);
  sip_ws_unmask(b, 5, key, 0);
  sip_ws_unmask(b + 5, 32, key, 5);
  CHECK(!memcmp(a, b, 37));
}

/* ---- the framing over a fake connection ---------------------------------------------------- */

static const char MSG[] =
  "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/WS h.invalid;branch=z9hG4bK1\r\n"
  "From: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n"
  "Max-Forwards: 70\r\n\r\n";

/* A client frame: masked with a fixed key. */
static size_t cframe(unsigned char *out, int op, int fin, const char *p, size_t n) {
  uint8_t key[4] = {0xa1, 0xb2, 0xc3, 0xd4};
  size_t h = sip_ws_write_head(out, op, n, key);
  if (!fin) out[0] &= 0x7f;
  memcpy(out + h, p, n);
  sip_ws_unmask(out + h, n, key, 0);
  return h + n;
}

static void open_server(sip_conn *c, size_t max) {
  fake_init(c, max, NULL);
  const char *req = UPGRADE("");
  CHECK_EQ_INT(ws_feed(c, req, strlen(req)), strlen(req));
  CHECK(c->out_len > 12 && !memcmp(c->out, "HTTP/1.1 101", 12));
  c->out_len = 0;
}

TEST(framing_rfc7118_5_one_message_per_frame_fed_byte_by_byte) {
  sip_conn c;
  open_server(&c, 65536);
  unsigned char buf[1024];
  size_t n = cframe(buf, SIP_WS_TEXT, 1, MSG, strlen(MSG));
  n += cframe(buf + n, SIP_WS_BINARY, 1, MSG, strlen(MSG));
  for (size_t i = 0; i < n; i++) ws_feed(&c, (const char *)buf + i, 1);
  CHECK_EQ_INT(c.nmsgs, 2);
  CHECK(c.lens[0] == strlen(MSG) && !memcmp(c.msgs[0], MSG, strlen(MSG)));
  CHECK(c.lens[1] == strlen(MSG) && !memcmp(c.msgs[1], MSG, strlen(MSG)));
  CHECK(!c.closed);
  /* out: a text frame, unmasked (§5.1) */
  const char *err;
  CHECK_EQ_INT(sip_ws_framing.output(&c, "SIP/2.0 200 OK\r\n\r\n", 18, &err), 0);
  CHECK(c.out_len == 20 && (unsigned char)c.out[0] == 0x81 && c.out[1] == 18);
  fake_free(&c);
}

TEST(framing_5_4_fragments_with_a_ping_between) {
  sip_conn c;
  open_server(&c, 65536);
  unsigned char buf[1024];
  size_t n = cframe(buf, SIP_WS_TEXT, 0, MSG, 20);
  n += cframe(buf + n, SIP_WS_PING, 1, "hi", 2);
  n += cframe(buf + n, SIP_WS_CONT, 0, MSG + 20, 30);
  n += cframe(buf + n, SIP_WS_CONT, 1, MSG + 50, strlen(MSG) - 50);
  CHECK_EQ_INT(ws_feed(&c, (const char *)buf, n), n);
  CHECK_EQ_INT(c.nmsgs, 1);
  CHECK(c.lens[0] == strlen(MSG) && !memcmp(c.msgs[0], MSG, strlen(MSG)));
  CHECK(c.out_len == 4 && (unsigned char)c.out[0] == 0x8a && !memcmp(c.out + 2, "hi", 2));
  CHECK_EQ_INT(c.keepalives, 1);
  fake_free(&c);
}

/* Feed one client frame to an open server; the close code it sent (0: none), and c->err. */
static int close_code_for(const unsigned char *b, size_t n, size_t max, int *err) {
  sip_conn c;
  open_server(&c, max);
  ws_feed(&c, (const char *)b, n);
  int code = 0;
  if (c.out_len >= 4 && (unsigned char)c.out[0] == 0x88)
    code = (unsigned char)c.out[2] << 8 | (unsigned char)c.out[3];
  *err = c.closed ? c.err : -1;
  fake_free(&c);
  return code;
}

TEST(framing_7_4_1_close_codes) {
  unsigned char b[8192];
  int err;
  size_t n = sip_ws_write_head(b, SIP_WS_TEXT, 5, NULL); /* §5.1: unmasked from a client */
  memcpy(b + n, "hello", 5);
  CHECK_EQ_INT(close_code_for(b, n + 5, 65536, &err), 1002);
  CHECK_EQ_INT(err, EPROTO);
  n = cframe(b, SIP_WS_CONT, 1, "x", 1); /* §5.4: nothing to continue */
  CHECK_EQ_INT(close_code_for(b, n, 65536, &err), 1002);
  n = cframe(b, SIP_WS_TEXT, 0, "x", 1);
  n += cframe(b + n, SIP_WS_TEXT, 1, "y", 1); /* §5.4: a message inside one */
  CHECK_EQ_INT(close_code_for(b, n, 65536, &err), 1002);
  uint8_t key[4] = {1, 2, 3, 4}; /* claims 5000 bytes under a cap of 4096: refused on the header */
  n = sip_ws_write_head(b, SIP_WS_TEXT, 5000, key);
  CHECK_EQ_INT(close_code_for(b, n, 4096, &err), 1009);
  CHECK_EQ_INT(err, EMSGSIZE);
  char big[3000];
  memset(big, 'a', sizeof big);
  n = cframe(b, SIP_WS_TEXT, 0, big, sizeof big);
  n += cframe(b + n, SIP_WS_CONT, 1, big, 1500); /* fragments together over the cap */
  CHECK_EQ_INT(close_code_for(b, n, 4096, &err), 1009);
  n = cframe(b, SIP_WS_CLOSE, 1, "\x03\xe9going", 7); /* §5.5.1: echoed, closed */
  CHECK_EQ_INT(close_code_for(b, n, 65536, &err), 1001);
  CHECK_EQ_INT(err, 0);
}

TEST(framing_client_holds_frames_until_the_101) {
  sip_conn c;
  fake_init(&c, 65536, NULL);
  const char *err = NULL;
  CHECK_EQ_INT(sip_ws_framing.open(&c, "example.com", &err), 0);
  CHECK(c.out_len > 0 && !memcmp(c.out, "GET / HTTP/1.1\r\n", 16));
  size_t req_len = c.out_len;
  CHECK_EQ_INT(sip_ws_framing.output(&c, MSG, strlen(MSG), &err), 0);
  CHECK_EQ_INT(c.out_len, req_len); /* held: §4.1 */
  /* a wrong answer fails the connection */
  const char *bad =
    "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n"
    "Sec-WebSocket-Protocol: sip\r\n\r\n";
  CHECK_EQ_INT(ws_feed(&c, bad, strlen(bad)), -1);
  CHECK(c.closed && !strcmp(c.what, "wrong Sec-WebSocket-Accept"));
  fake_free(&c);
}

int main(void) {
  RUN(accept_key_rfc6455_1_3);
  RUN(upgrade_4_2_1_read_with_path_origin_and_sip);
  RUN(upgrade_refusals_say_the_status);
  RUN(answer_4_1_checks_101_accept_and_sip);
  RUN(frame_headers_5_7_examples);
  RUN(frame_headers_5_2_errors_are_1002);
  RUN(unmask_from_any_offset_5_3);
  RUN(framing_rfc7118_5_one_message_per_frame_fed_byte_by_byte);
  RUN(framing_5_4_fragments_with_a_ping_between);
  RUN(framing_7_4_1_close_codes);
  RUN(framing_client_holds_frames_until_the_101);
  return unit_done();
}
