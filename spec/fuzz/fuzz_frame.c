/* fuzz_frame: sip_frame_stream over a TCP-like byte stream. The input is the stream; a PRNG seeded
 * from it picks where the reads end. Framing read by read must give the same messages (skip and
 * length) and the same final error as framing the whole stream at once, every frame must stay in
 * the buffer, and a framed message that parses in stream mode has exactly the framed length. */
#include "fuzz.h"

#define MAXF 64

typedef struct frames {
  size_t skip[MAXF], len[MAXF];
  int n;
  int end; /* 0: needs more at the end, -1: error */
  int status;
} frames;

static const sip_limits lim = {2048, 32, 512};
static sip_hdr hdr[64];

/* Frame [buf, buf + len) repeatedly as a reader would once everything has arrived. */
static void one_shot(const char *buf, size_t len, frames *f) {
  size_t pos = 0;
  f->n = 0;
  f->end = 0;
  for (;;) {
    size_t skip;
    sip_error e;
    long r = sip_frame_stream(buf + pos, len - pos, &lim, &skip, &e);
    if (r < 0) {
      f->end = -1;
      f->status = e.status;
      ASSERT(e.what && e.off <= len - pos);
      return;
    }
    ASSERT(skip <= len - pos);
    if (r == 0 || f->n == MAXF) return;
    ASSERT(skip + (size_t)r <= len - pos);
    f->skip[f->n] = skip;
    f->len[f->n] = (size_t)r;
    f->n++;
    /* the framed message in stream mode: when it parses, it is exactly the framed bytes */
    sip_msg m;
    if (sip_parse(buf + pos + skip, (size_t)r, &m, hdr, 64, &lim, SIP_PARSE_STREAM) == 0)
      ASSERT(m.len == (size_t)r && m.buf == buf + pos + skip);
    pos += skip + (size_t)r;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = fuzz_copy(data, size);
  if (!buf) return 0;
  frames whole, inc;
  one_shot(buf, size, &whole);

  /* read boundaries from an xorshift seeded with the input */
  uint32_t x = 2166136261u;
  for (size_t i = 0; i < size; i++) x = (x ^ data[i]) * 16777619u;
  x |= 1;
  size_t avail = 0, pos = 0;
  inc.n = 0;
  inc.end = 0;
  while (inc.n < MAXF) {
    size_t skip;
    sip_error e;
    /* each read is its own allocation, so ASan sees a read past what has arrived */
    char *win = malloc(avail - pos ? avail - pos : 1);
    if (!win) break;
    memcpy(win, buf + pos, avail - pos);
    long r = sip_frame_stream(win, avail - pos, &lim, &skip, &e);
    free(win);
    if (r < 0) {
      inc.end = -1;
      inc.status = e.status;
      break;
    }
    if (r > 0) {
      inc.skip[inc.n] = skip;
      inc.len[inc.n] = (size_t)r;
      inc.n++;
      pos += skip + (size_t)r;
      continue;
    }
    if (avail == size) break;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    size_t step = 1 + x % 97;
    avail = avail + step > size ? size : avail + step;
  }
  ASSERT(inc.n == whole.n);
  for (int i = 0; i < inc.n; i++)
    ASSERT(inc.skip[i] == whole.skip[i] && inc.len[i] == whole.len[i]);
  if (whole.n < MAXF) {
    ASSERT(inc.end == whole.end);
    if (inc.end < 0) ASSERT(inc.status == whole.status);
  }
  free(buf);
  return 0;
}
