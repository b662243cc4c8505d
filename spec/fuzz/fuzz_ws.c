/* fuzz_ws: the WebSocket framing (csrc/sip_ws.c) on a server connection, over the fake
 * connection of spec/c/ws_fake.h. The first byte picks what the rest is:
 *   0: frames, after a valid Upgrade request;  1: the Upgrade request and what follows it;
 *   2: a server's answer to our request (sip_ws_read_answer).
 * Fed whole, and fed in reads whose ends a PRNG seeded from the input picks, the framing must
 * hand up the same messages, write the same bytes and close the same way; every message fits
 * under max_msg and the Upgrade reader's slices stay inside the input. */
#include "fuzz.h"
#include "../c/ws_fake.h"

#define MAX_MSG 2048

static const char UPGRADE[] =
  "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
  "Sec-WebSocket-Protocol: sip\r\nSec-WebSocket-Version: 13\r\n\r\n";

static void run(sip_conn *c, const uint8_t *data, size_t size, int chunked, int prefix) {
  fake_init(c, MAX_MSG, NULL);
  if (prefix) ws_feed(c, UPGRADE, sizeof UPGRADE - 1);
  uint32_t x = 2166136261u;
  for (size_t i = 0; i < size; i++) x = (x ^ data[i]) * 16777619u;
  x |= 1;
  size_t pos = 0;
  while (pos < size && !c->closed) {
    size_t step = size - pos;
    if (chunked) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      step = 1 + x % 61;
      if (step > size - pos) step = size - pos;
    }
    long r = ws_feed(c, (const char *)data + pos, step);
    ASSERT(r >= -1);
    pos += step;
  }
  for (int i = 0; i < c->nmsgs; i++) ASSERT(c->lens[i] <= MAX_MSG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int mode = data[0] % 3;
  data++;
  size--;
  char *buf = fuzz_copy(data, size);
  if (!buf) return 0;
  if (mode == 2) {
    const char *what = NULL;
    long r = sip_ws_read_answer(buf, size, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", &what);
    ASSERT(r <= (long)size);
    ASSERT(r >= 0 || what);
    free(buf);
    return 0;
  }
  if (mode == 1) {
    sip_ws_upgrade u;
    int status = 0;
    const char *what = NULL;
    long r = sip_ws_read_upgrade(buf, size, "/ws", &u, &status, &what);
    ASSERT(r <= (long)size);
    if (r < 0) ASSERT(what && status >= 400);
    if (r > 0) {
      ASSERT(u.path >= buf && u.path + u.path_len <= buf + r && u.path[0] == '/');
      if (u.origin) ASSERT(u.origin >= buf && u.origin + u.origin_len <= buf + r);
      ASSERT(strlen(u.accept) == SIP_WS_ACCEPT_LEN);
    }
  }
  sip_conn whole, inc;
  run(&whole, data, size, 0, mode == 0);
  run(&inc, data, size, 1, mode == 0);
  ASSERT(whole.nmsgs == inc.nmsgs);
  for (int i = 0; i < whole.nmsgs; i++)
    ASSERT(whole.lens[i] == inc.lens[i] && !memcmp(whole.msgs[i], inc.msgs[i], whole.lens[i]));
  ASSERT(whole.closed == inc.closed && whole.err == inc.err);
  ASSERT(whole.out_len == inc.out_len);
  ASSERT(!whole.out_len || !memcmp(whole.out, inc.out, whole.out_len));
  fake_free(&whole);
  fake_free(&inc);
  free(buf);
  return 0;
}
