/* sip_buf.c: growable byte buffer. */
#include "sip_buf.h"
#include <stdio.h>
#include <stdlib.h>

int sip_buf_reserve(sip_buf *b, size_t extra) {
  if (b->oom) return -1;
  if (b->cap - b->n >= extra) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->n < extra) {
    if (cap > ((size_t)-1) / 2) {
      b->oom = 1;
      return -1;
    }
    cap *= 2;
  }
  char *p = realloc(b->p, cap);
  if (!p) {
    b->oom = 1;
    return -1;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

void sip_buf_put(sip_buf *b, const void *p, size_t n) {
  if (n == 0 || sip_buf_reserve(b, n)) return;
  memcpy(b->p + b->n, p, n);
  b->n += n;
}

void sip_buf_putc(sip_buf *b, char c) {
  if (sip_buf_reserve(b, 1)) return;
  b->p[b->n++] = c;
}

void sip_buf_putu(sip_buf *b, unsigned long long v) {
  char t[24];
  int i = sizeof t;
  do {
    t[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  sip_buf_put(b, t + i, sizeof t - i);
}

void sip_buf_printf(sip_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int need = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (need < 0 || sip_buf_reserve(b, (size_t)need + 1)) return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->n, (size_t)need + 1, fmt, ap);
  va_end(ap);
  b->n += (size_t)need;
}

void sip_buf_free(sip_buf *b) {
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
  b->oom = 0;
}
