/* sip_scan.h: private byte-scanning primitives of the parser (sip_parse.c, sip_hdr.c, sip_uri.c),
 * not API. Each scan is bounded twice: by the end of the slice it works on (e), which decides the
 * result, and by the end of what may be read (rd), which allows 16-byte loads past e but never
 * past the caller's buffer. Inside sip_parse rd is the end of the message buffer; the public value
 * parsers pass rd == e, so they never read outside [p, p + n).
 *
 * x86-64: SSE2 (baseline) for byte searches; character classes with PSHUFB (SSSE3, checked at run
 * time, once per message in sip_parse; emitted with inline asm so that no function needs a target
 * attribute). Elsewhere, or built with -DSIP_SCAN_SCALAR, plain loops over a 256-entry table and
 * the general parsers; -DSIP_SCAN_NO_SSSE3 tests the SSE2-only path on any x86-64. */
#ifndef SIP_SCAN_H
#define SIP_SCAN_H

#include "sip_msg.h"

#if (defined(__x86_64__) || defined(__amd64__)) && defined(__GNUC__) && !defined(SIP_SCAN_SCALAR)
#define SIP_SCAN_SSE2 1
#include <emmintrin.h>
#endif

/* The classes scanned 16 bytes at a time (sip_ctype.h), as indexes into sip_scan_lo. */
enum {
  SIP_SCI_TOKEN,
  SIP_SCI_WORD,
  SIP_SCI_USER,
  SIP_SCI_PARAM,
  SIP_SCI_QD,
  SIP_SCI_HOST,
  SIP_SCI__COUNT
};

/* PSHUFB tables: byte c is in class k when lo[k][c & 15] & hi[c >> 4] is not 0. hi gives each
 * high nibble its own bit (0, 2..7, and one for 8..f), lo[k][l] says which rows hold l. */
extern const uint8_t sip_scan_lo[SIP_SCI__COUNT][16];
extern const uint8_t sip_scan_hi[16];

static inline unsigned sip_ctz(unsigned x) { return (unsigned)__builtin_ctz(x); }

#ifdef SIP_SCAN_SSE2
static inline __m128i sip_load(const char *p) {
  return _mm_loadu_si128((const __m128i *)(const void *)p);
}

static inline unsigned sip_eqmask(__m128i v, char ch) {
  return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(ch)));
}

/* SSSE3 once the CPU said so (cached by libgcc / compiler-rt). -DSIP_SCAN_NO_SSSE3 tests the
 * SSE2-only path. */
#ifdef SIP_SCAN_NO_SSSE3
static inline int sip_scan_ssse3(void) { return 0; }
#else
static inline int sip_scan_ssse3(void) { return __builtin_cpu_supports("ssse3"); }
#endif

static inline __m128i sip_pshufb(__m128i table, __m128i idx) {
  __asm__("pshufb %1, %0" : "+x"(table) : "x"(idx));
  return table;
}

/* Bits of the bytes of v that are NOT in class k, whose lo table is given. PSHUFB gives 0 for an
 * index byte with its top bit set, so a class without any byte >= 0x80 (all but QD) looks the low
 * nibble up by the byte itself, unmasked: such a byte comes out as outside, as it is. */
static inline unsigned sip_outside(__m128i v, __m128i lo, unsigned k) {
  const __m128i nib = _mm_set1_epi8(0x0f);
  __m128i hi = _mm_loadu_si128((const __m128i *)(const void *)sip_scan_hi);
  __m128i a = sip_pshufb(lo, k == SIP_SCI_QD ? _mm_and_si128(v, nib) : v);
  __m128i b = sip_pshufb(hi, _mm_and_si128(_mm_srli_epi16(v, 4), nib));
  return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(a, b), _mm_setzero_si128()));
}
#endif

/* The first byte of [p, e) not in the class (cls a SIP_C_ bit, k its SIP_SCI_ index), or e. */
static inline const char *sip_span_(const char *p, const char *e, const char *rd, unsigned cls,
                                    unsigned k) {
#ifdef SIP_SCAN_SSE2
  if (rd - p >= 16 && sip_scan_ssse3()) {
    __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)sip_scan_lo[k]);
    do {
      unsigned m = sip_outside(sip_load(p), lo, k);
      if (m) {
        p += sip_ctz(m);
        return p < e ? p : e;
      }
      p += 16;
      if (p >= e) return e;
    } while (rd - p >= 16);
  }
#endif
  (void)k;
  (void)rd;
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
#define SIP_SPAN(p, e, rd, K) sip_span_((p), (e), (rd), SIP_C_##K, SIP_SCI_##K)

#ifdef SIP_SCAN_SSE2
/* The fast paths run on [p, e) only when sip_fast_ok(e, rd): SSSE3 is there (the caller passes
 * rd = the start of its buffer otherwise) and 16 bytes can be loaded at any position before e.
 * Their scans then need no checks of their own. */
static inline int sip_fast_ok(const char *e, const char *rd) { return rd - e >= 16; }

static inline const char *sip_fspan_(const char *p, const char *e, unsigned k) {
  __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)sip_scan_lo[k]);
  for (;;) {
    unsigned m = sip_outside(sip_load(p), lo, k);
    if (m) {
      p += sip_ctz(m);
      return p < e ? p : e;
    }
    p += 16;
    if (p >= e) return e;
  }
}
#define SIP_FSPAN(p, e, K) sip_fspan_((p), (e), SIP_SCI_##K)

/* The first ch in [p, e), or NULL. */
static inline const char *sip_ffind(const char *p, const char *e, char ch) {
  for (; p < e; p += 16) {
    unsigned m = sip_eqmask(sip_load(p), ch);
    if (m) {
      p += sip_ctz(m);
      return p < e ? p : NULL;
    }
  }
  return NULL;
}
#endif

/* The first ch in [p, e), or NULL. */
static inline const char *sip_find(const char *p, const char *e, const char *rd, char ch) {
#ifdef SIP_SCAN_SSE2
  while (p < e && rd - p >= 16) {
    unsigned m = sip_eqmask(sip_load(p), ch);
    if (m) {
      p += sip_ctz(m);
      return p < e ? p : NULL;
    }
    p += 16;
  }
#endif
  (void)rd;
  for (; p < e; p++)
    if (*p == ch) return p;
  return NULL;
}

/* The first LF in [p, e), or NULL: sip_find() 64 bytes at a time (lines are 20-300 bytes). */
static inline const char *sip_find_lf(const char *p, const char *e, const char *rd) {
#ifdef SIP_SCAN_SSE2
  const __m128i lf = _mm_set1_epi8('\n');
  while (p < e && rd - p >= 64) {
    __m128i a = _mm_cmpeq_epi8(sip_load(p), lf), b = _mm_cmpeq_epi8(sip_load(p + 16), lf);
    __m128i c = _mm_cmpeq_epi8(sip_load(p + 32), lf), d = _mm_cmpeq_epi8(sip_load(p + 48), lf);
    if (_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d)))) {
      uint64_t m = (uint64_t)(unsigned)_mm_movemask_epi8(a) |
                   (uint64_t)(unsigned)_mm_movemask_epi8(b) << 16 |
                   (uint64_t)(unsigned)_mm_movemask_epi8(c) << 32 |
                   (uint64_t)(unsigned)_mm_movemask_epi8(d) << 48;
      p += __builtin_ctzll(m);
      return p < e ? p : NULL;
    }
    p += 64;
  }
#endif
  return sip_find(p, e, rd, '\n');
}

/* The first of a or b in [p, e), or e. */
static inline const char *sip_find2(const char *p, const char *e, const char *rd, char a, char b) {
#ifdef SIP_SCAN_SSE2
  while (p < e && rd - p >= 16) {
    __m128i v = sip_load(p);
    unsigned m = sip_eqmask(v, a) | sip_eqmask(v, b);
    if (m) {
      p += sip_ctz(m);
      return p < e ? p : e;
    }
    p += 16;
  }
#endif
  (void)rd;
  for (; p < e; p++)
    if (*p == a || *p == b) return p;
  return e;
}

/* The first of a, b or c in [p, e), or e. */
static inline const char *sip_find3(const char *p, const char *e, const char *rd, char a, char b,
                                    char c) {
#ifdef SIP_SCAN_SSE2
  while (p < e && rd - p >= 16) {
    __m128i v = sip_load(p);
    unsigned m = sip_eqmask(v, a) | sip_eqmask(v, b) | sip_eqmask(v, c);
    if (m) {
      p += sip_ctz(m);
      return p < e ? p : e;
    }
    p += 16;
  }
#endif
  (void)rd;
  for (; p < e; p++)
    if (*p == a || *p == b || *p == c) return p;
  return e;
}

/* IPv4address (RFC 3261 §25.1) with each part 0..255 at p: four parts of 1-3 digits. Returns its
 * end (the caller checks what follows), or NULL. */
static inline const char *sip_ipv4_scan(const char *p, const char *e) {
  for (int part = 0; part < 4; part++) {
    if (part) {
      if (p >= e || *p != '.') return NULL;
      p++;
    }
    unsigned d, v;
    if (p >= e || (d = (unsigned)((unsigned char)*p - '0')) > 9) return NULL;
    v = d;
    p++;
    if (p < e && (d = (unsigned)((unsigned char)*p - '0')) <= 9) {
      v = v * 10 + d;
      p++;
      if (p < e && (d = (unsigned)((unsigned char)*p - '0')) <= 9) {
        v = v * 10 + d;
        p++;
        if (v > 255) return NULL;
      }
    }
  }
  return p;
}

/* IPv4address covering exactly [p, e). */
static inline int sip_ipv4_exact(const char *p, const char *e) { return sip_ipv4_scan(p, e) == e; }

/* What a host [h, e) of valid labels is (RFC 3261 §25.1 with our leniency), the one rule of every
 * host parser (sip_uri.c, sip_hdr.c, the fast paths). Of digits and dots only, it is an
 * IPv4address when it has four labels (then each must be 0..255, with no trailing dot), and
 * otherwise a hostname: GB/T 28181 domains are 10 digits ("3402000000"). With any other octet it
 * is a hostname, whose top label must not be all digits (RFC 1123 §2.1). digits_only: no octet
 * but digits and dots; top_digits: the top label is all digits; labels: how many (a trailing dot
 * adds none). SIP_HOST_NONE when refused. */
static inline sip_host_type sip_host_kind(const char *h, const char *e, int digits_only,
                                          int top_digits, unsigned labels) {
  if (digits_only)
    return labels != 4 ? SIP_HOST_NAME : sip_ipv4_exact(h, e) ? SIP_HOST_IPV4 : SIP_HOST_NONE;
  return top_digits ? SIP_HOST_NONE : SIP_HOST_NAME;
}

#ifdef SIP_SCAN_SSE2
/* The run of decimal digits at p, up to 8 of them (8 bytes readable at p): sets *n to its length
 * and returns its value. Eight bytes at a time: a byte is a digit when its high nibble is 3 and
 * its low nibble below 10; the digits are then folded pairwise (10, 100, 10000). */
static inline uint64_t sip_digits8(const char *p, unsigned *n) {
  uint64_t x;
  memcpy(&x, p, 8);
  uint64_t nd = ((x & 0xf0f0f0f0f0f0f0f0ull) ^ 0x3030303030303030ull) |
                (((x & 0x0f0f0f0f0f0f0f0full) + 0x0606060606060606ull) & 0xf0f0f0f0f0f0f0f0ull);
  unsigned k = nd ? (unsigned)__builtin_ctzll(nd) >> 3 : 8;
  *n = k;
  if (!k) return 0;
  x = (x & 0x0f0f0f0f0f0f0f0full) << (8 * (8 - k)); /* the last digit in the top byte */
  x = (x * 2561) >> 8;
  x = ((x & 0x00ff00ff00ff00ffull) * 6553601) >> 16;
  return ((x & 0x0000ffff0000ffffull) * 42949672960001ull) >> 32;
}

/* sip_digits8() one digit at a time: fewer instructions for the short numbers of CSeq,
 * Max-Forwards and Content-Length (1 to 3 digits, usually). */
static inline uint64_t sip_digits8s(const char *p, unsigned *n) {
  uint64_t x = 0;
  unsigned k = 0, d;
  while (k < 8 && (d = (unsigned)((unsigned char)p[k] - '0')) <= 9) {
    x = x * 10 + d;
    k++;
  }
  *n = k;
  return x;
}

/* A dotted quad at p (IPv4address, RFC 3261 §25.1: 1-3 digits per part, here each at most
 * 255, as sip_ipv4_exact()), for the fast paths: reads 16 bytes from p whatever e is, so p must
 * be before e (sip_fast_ok). Returns its end, or NULL; NULL as well when a digit or '.' follows
 * it (a longer token, which every caller refuses). On one load: the digits and dots as bit
 * masks; the run of them up to the first other octet must be four runs of 1-3 digits joined by
 * single dots. */
static inline const char *sip_ipv4_fast(const char *p) {
  __m128i x = sip_load(p);
  __m128i d = _mm_sub_epi8(x, _mm_set1_epi8('0'));
  unsigned dig = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d));
  unsigned dot = sip_eqmask(x, '.');
  unsigned len = sip_ctz(~(dig | dot)); /* at most 16: bits 16..31 of the complement are set */
  if (len > 15) return NULL;
  dig &= (1u << len) - 1;
  dot &= (1u << len) - 1;
  /* three dots (the third lowest is the highest), none first, last or next to another */
  unsigned d2 = dot & (dot - 1);
  d2 &= d2 - 1;
  if (!d2 || (d2 & (d2 - 1)) || (dot & ((dot >> 1) | 1u | (1u << (len - 1))))) return NULL;
  /* no run of four digits; r3: the first digit of each run of three */
  unsigned r3 = dig & (dig >> 1) & (dig >> 2);
  if (r3 & (dig >> 3)) return NULL;
  /* above 255 takes three digits, the first at least '2' */
  for (unsigned big = r3 & (unsigned)_mm_movemask_epi8(_mm_cmpgt_epi8(x, _mm_set1_epi8('1'))); big;
       big &= big - 1) {
    const char *q = p + sip_ctz(big);
    if ((q[0] - '0') * 100 + (q[1] - '0') * 10 + (q[2] - '0') > 255) return NULL;
  }
  return p + len;
}

/* The checks once the host is [h, h + len) (1..63), with its dots and dashes as bit masks. */
static inline __attribute__((always_inline)) const char *sip_host_end(const char *h, size_t len,
                                                                      uint64_t dots,
                                                                      uint64_t dashes, int *ipv4) {
  /* "..", ".-", "-." inside (no empty label, none starting or ending inside with '-'); a leading
   * '.' or '-', a trailing '-' */
  uint64_t bad = (dots & ((dots | dashes) >> 1)) | (dashes & (dots >> 1));
  if ((bad & (((uint64_t)1 << (len - 1)) - 1)) || ((dots | dashes) & 1) ||
      ((dashes >> (len - 1)) & 1))
    return NULL;
  /* the top label's last byte (before a trailing dot): a letter, '-' or '_' settles it */
  size_t i = len - 1 - ((dots >> (len - 1)) & 1);
  if ((unsigned)((unsigned char)h[i] - '0') <= 9) {
    while (i > 0 && h[i - 1] != '.' && (unsigned)((unsigned char)h[i - 1] - '0') <= 9) i--;
    if (i == 0 || h[i - 1] == '.') {
      /* an all-digit top label: sip_host_kind() decides, from the labels before it */
      int digits_only = 1;
      for (size_t j = 0; digits_only && j < i; j++)
        digits_only = h[j] == '.' || (unsigned)((unsigned char)h[j] - '0') <= 9;
      unsigned labels = (unsigned)__builtin_popcountll(dots & (((uint64_t)1 << len) - 1)) + 1 -
                        (unsigned)((dots >> (len - 1)) & 1);
      sip_host_type k = sip_host_kind(h, h + len, digits_only, 1, labels);
      if (k == SIP_HOST_NONE) return NULL;
      *ipv4 = k == SIP_HOST_IPV4;
      return h + len;
    }
  }
  *ipv4 = 0;
  return h + len;
}

/* hostname / IPv4address at h (RFC 3261 §25.1, with the leniency of sip_uri.c: '_' in labels, a
 * top label starting with a digit, one trailing dot, sip_host_kind()), for the fast paths
 * (sip_fast_ok). A dotted quad not followed by a host octet is taken at once. Otherwise the host
 * is the longest run of alphanum, '-', '_' and '.' before e, whose dots and dashes, as bit masks,
 * show the bad neighbours (no "..", ".-" or "-.": no empty label, none starting or ending inside
 * with '-'); then its ends, and a non-digit in the top label makes it a hostname, else
 * sip_host_kind() says what it is. Returns the end and sets *ipv4, or NULL when the host is wrong
 * or longer than 63 bytes, for the general parser to decide (and word the error). */
static inline __attribute__((always_inline)) const char *sip_host_fast(const char *h, const char *e,
                                                                       int *ipv4) {
  const char *t;
  if (h >= e) return NULL;
  if ((unsigned)((unsigned char)*h - '0') <= 9 && (t = sip_ipv4_fast(h)) != NULL && t <= e &&
      (t == e || !SIP_IS(*t, SIP_C_HOST))) {
    *ipv4 = 1;
    return t;
  }
  const __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)sip_scan_lo[SIP_SCI_HOST]);
  /* up to 32 bytes without a loop; longer names below */
  __m128i v = sip_load(h);
  unsigned out = sip_outside(v, lo, SIP_SCI_HOST);
  size_t len;
  uint64_t dots = sip_eqmask(v, '.'), dashes = sip_eqmask(v, '-');
  if (out) {
    len = sip_ctz(out);
  } else if (e - h <= 16) {
    len = 16;
  } else {
    v = sip_load(h + 16);
    out = sip_outside(v, lo, SIP_SCI_HOST);
    dots |= (uint64_t)sip_eqmask(v, '.') << 16;
    dashes |= (uint64_t)sip_eqmask(v, '-') << 16;
    if (out) len = 16 + sip_ctz(out);
    else if (e - h <= 32) len = 32;
    else goto longer;
  }
  if ((size_t)(e - h) < len) len = (size_t)(e - h);
  if (len == 0) return NULL;
  return sip_host_end(h, len, dots, dashes, ipv4);
longer:
  for (len = 32;;) {
    v = sip_load(h + len);
    out = sip_outside(v, lo, SIP_SCI_HOST);
    dots |= (uint64_t)sip_eqmask(v, '.') << len;
    dashes |= (uint64_t)sip_eqmask(v, '-') << len;
    if (out) {
      len += sip_ctz(out);
      break;
    }
    len += 16;
    if (h + len >= e) break;
    if (len == 64) return NULL;
  }
  if ((size_t)(e - h) < len) len = (size_t)(e - h);
  if (len > 63) return NULL;
  return sip_host_end(h, len, dots, dashes, ipv4);
}
#endif

/* sip_hdr_is_list() as a table */
extern const uint8_t sip_hdr_list_ids[SIP_H__COUNT];

/* The common sip:/sips: URI on the fast scanners: 1 with u filled as sip_uri_parse() fills it, 0
 * when sip_uri_parse() must decide. */
int sip_uri_fast(const char *p, const char *end, const char *rd, sip_uri *u);
/* Internal entry points with a read limit (see above): the public functions are these with
 * rd = p + n. */
int sip_uri_parse_rd(const char *p, size_t n, const char *rd, sip_uri *u, const char **err,
                     const char **err_at);
int sip_parse_via_rd(const char *p, size_t n, const char *rd, sip_via *v, const char **err,
                     const char **err_at);
int sip_parse_addr_hdr_rd(sip_hdr_id id, const char *p, size_t n, const char *rd, sip_addr *a,
                          const char **err, const char **err_at);

#endif
