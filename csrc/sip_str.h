/* sip_str.h: byte slices into a caller's buffer, and scans over the classes of sip_ctype.h.
 * Pure C, no allocation. A slice never owns its bytes and is never NUL-terminated. */
#ifndef SIP_STR_H
#define SIP_STR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sip_ctype.h"

typedef struct sip_str {
  const char *p;
  size_t n;
} sip_str;

#define SIP_STR_NULL ((sip_str){NULL, 0})
#define SIP_STR_LIT(s) ((sip_str){(s), sizeof(s) - 1})

static inline sip_str sip_str_make(const char *p, size_t n) {
  sip_str s = {p, n};
  return s;
}

/* ASCII lower-casing without locale. */
static inline int sip_lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* Case-insensitive equality of a slice and a C string (for names, tokens, schemes). */
static inline int sip_str_ieq(sip_str a, const char *b) {
  size_t n = strlen(b);
  if (a.n != n) return 0;
  for (size_t i = 0; i < n; i++)
    if (sip_lower((unsigned char)a.p[i]) != sip_lower((unsigned char)b[i])) return 0;
  return 1;
}

static inline int sip_str_ieq2(sip_str a, sip_str b) {
  if (a.n != b.n) return 0;
  for (size_t i = 0; i < a.n; i++)
    if (sip_lower((unsigned char)a.p[i]) != sip_lower((unsigned char)b.p[i])) return 0;
  return 1;
}

static inline int sip_str_eq(sip_str a, sip_str b) {
  return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static inline int sip_is_wsp(char c) { return c == ' ' || c == '\t'; }

/* The end of the run of class cls starting at p (at most e). Unrolled: one bounds check per
 * four bytes, since tokens such as branches and tags run 10-40 bytes. */
static inline const char *sip_skip_class(const char *p, const char *e, int cls) {
  while (e - p >= 4) {
    if (!SIP_IS(p[0], cls)) return p;
    if (!SIP_IS(p[1], cls)) return p + 1;
    if (!SIP_IS(p[2], cls)) return p + 2;
    if (!SIP_IS(p[3], cls)) return p + 3;
    p += 4;
  }
  while (p < e && SIP_IS(*p, cls)) p++;
  return p;
}

/* Trim SP, HTAB, CR and LF from both ends. */
static inline sip_str sip_str_trim(sip_str s) {
  while (s.n && SIP_IS(s.p[0], SIP_C_WS)) {
    s.p++;
    s.n--;
  }
  while (s.n && SIP_IS(s.p[s.n - 1], SIP_C_WS)) s.n--;
  return s;
}

#endif
