/* sip_buf.h: a growable byte buffer for building messages. Allocation failure is sticky: once
 * a put fails, b->oom is set, later puts do nothing, and the caller checks once at the end. */
#ifndef SIP_BUF_H
#define SIP_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include "sip_str.h"

typedef struct sip_buf {
  char *p;
  size_t n, cap;
  int oom;
} sip_buf;

#define SIP_BUF_INIT \
  { NULL, 0, 0, 0 }

int sip_buf_reserve(sip_buf *b, size_t extra); /* 0, or -1 (and oom set) */
void sip_buf_put(sip_buf *b, const void *p, size_t n);
static inline void sip_buf_puts(sip_buf *b, const char *s) { sip_buf_put(b, s, strlen(s)); }
static inline void sip_buf_putstr(sip_buf *b, sip_str s) { sip_buf_put(b, s.p, s.n); }
void sip_buf_putc(sip_buf *b, char c);
void sip_buf_putu(sip_buf *b, unsigned long long v); /* decimal */
void sip_buf_printf(sip_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sip_buf_free(sip_buf *b);

#endif
