/* compare_ws.c: our WebSocket frame decoder (sip_ws_read_frame + sip_ws_unmask, as sip_ws.c
 * runs them: in place in the receive buffer) beside wslay's frame API (wslay_frame_recv, which
 * reads through a callback into a buffer of its own and unmasks there), on the same masked
 * client frames. Prints ns per frame, best of several runs, for each payload size given.
 *
 *   build/compare-ws [FRAMES] [SIZE...]      (default 20000 frames of 300 and 4096 bytes) */
#include "bench_util.h"
#include "sip_ws.h"

#include <string.h>
#include <wslay/wslay.h>

enum { RUNS = 7 };

/* n masked text frames of size bytes each, back to back. */
static unsigned char *frames(int n, size_t size, size_t *total) {
  unsigned char head[14];
  const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  size_t h = sip_ws_write_head(head, SIP_WS_TEXT, size, key);
  unsigned char *p = malloc((h + size) * (size_t)n), *q = p;
  for (int i = 0; i < n; i++, q += h + size) {
    memcpy(q, head, h);
    for (size_t j = 0; j < size; j++) q[h + j] = (unsigned char)('A' + (i + j) % 26);
    sip_ws_unmask(q + h, size, key, 0);
  }
  *total = (h + size) * (size_t)n;
  return p;
}

static unsigned long sink;

static int ours(unsigned char *p, size_t n) {
  int got = 0;
  size_t off = 0;
  while (off < n) {
    sip_ws_frame f;
    int code;
    const char *what;
    if (sip_ws_read_frame(p + off, n - off, &f, &code, &what) <= 0) break;
    unsigned char *pl = p + off + f.head;
    sip_ws_unmask(pl, (size_t)f.length, f.mask, 0);
    sink += pl[0];
    off += f.head + (size_t)f.length;
    got++;
  }
  return got;
}

typedef struct feed {
  const unsigned char *p;
  size_t n, off;
} feed;

static ssize_t feed_recv(uint8_t *buf, size_t len, int flags, void *ud) {
  feed *f = ud;
  size_t k = f->n - f->off < len ? f->n - f->off : len;
  if (!k) return -1;
  memcpy(buf, f->p + f->off, k);
  f->off += k;
  return (ssize_t)k;
}

static int theirs(const unsigned char *p, size_t n) {
  feed fd = {p, n, 0};
  struct wslay_frame_callbacks cb = {NULL, feed_recv, NULL};
  wslay_frame_context_ptr ctx;
  if (wslay_frame_context_init(&ctx, &cb, &fd) != 0) exit(2);
  int got = 0;
  uint64_t seen = 0; /* payload bytes of the frame being read */
  for (;;) {
    struct wslay_frame_iocb io;
    memset(&io, 0, sizeof io);
    ssize_t r = wslay_frame_recv(ctx, &io);
    if (r < 0) break;
    if (io.data_length) sink += io.data[0];
    if (io.payload_length == 0 || r == 0) continue;
    /* the last piece of a frame's payload ends it */
    seen += (uint64_t)io.data_length;
    if (seen >= io.payload_length) {
      seen = 0;
      got++;
    }
  }
  wslay_frame_context_free(ctx);
  return got;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 20000;
  size_t sizes[8] = {300, 4096};
  int ns = 2;
  if (argc > 2) {
    ns = 0;
    for (int i = 2; i < argc && ns < 8; i++) sizes[ns++] = (size_t)atol(argv[i]);
  }
  for (int s = 0; s < ns; s++) {
    size_t total;
    unsigned char *src = frames(n, sizes[s], &total), *work = malloc(total);
    double best_ours = 1e9, best_theirs = 1e9;
    for (int r = 0; r < RUNS; r++) {
      memcpy(work, src, total); /* ours unmasks in place: a fresh copy each run, not timed */
      double t0 = now();
      int a = ours(work, total);
      double t1 = now();
      int b = theirs(src, total);
      double t2 = now();
      if (a != n || b != n) {
        fprintf(stderr, "decoded %d and %d frames of %d\n", a, b, n);
        return 1;
      }
      if (t1 - t0 < best_ours) best_ours = t1 - t0;
      if (t2 - t1 < best_theirs) best_theirs = t2 - t1;
    }
    printf("%zu B masked frames: ours %.1f ns/frame, wslay %.1f ns/frame (best of %d, %d frames)\n",
           sizes[s], best_ours * 1e9 / n, best_theirs * 1e9 / n, RUNS, n);
    free(src);
    free(work);
  }
  return sink == 42; /* keep the work */
}
