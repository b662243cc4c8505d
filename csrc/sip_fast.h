/* sip_fast.h: the fast paths of the value parsers, private to sip_parse.c, sip_hdr.c and
 * sip_uri.c (inline, so that sip_parse() runs most of them without calls). The common spellings
 * on the fast scanners of sip_scan.h (x86-64 with SSSE3, and 16 readable bytes past any octet
 * looked at: sip_fast_ok): no LWS where the grammar allows some, plain tokens and quoted strings
 * of qdtext. What they accept, they parse exactly as the general parsers of sip_hdr.c and
 * sip_uri.c do; anything else (an unusual spelling, an error to word) is left to those.
 *
 * The Via and address parsers take e as the end of the value or only as a bound, and return
 * where their grammar stopped: the caller checks that this is the end (the slice's, or the
 * line's CR, which sip_parse() found first and passes as e). A value they accept holds
 * no comma outside quotes and <>, so it is one list element.
 *
 * They search for the octets that separate a value's parts (a Via's ';'s; an address's '<',
 * '>' and the URI's '@') before parsing the parts, each of which must then end at its separator:
 * a part's scans need not wait for the scans of the part before it, so that the CPU runs them at
 * once (faster, for a few more instructions: the numbers are in the commit that made it so). */
#ifndef SIP_FAST_H
#define SIP_FAST_H

#include "sip_scan.h"

/* hostname / IPv4address covering s (sip_hdr.c) */
int sip_host_ok(sip_str s);

static inline void sip_via_init(sip_via *v) {
  /* fields one by one: a 144-byte memset becomes rep stos, slow on some CPUs */
  v->proto = v->version = v->transport = v->host = v->branch = v->received = v->maddr = v->params =
    SIP_STR_NULL;
  v->port = 0;
  v->rport = v->ttl = -1;
}

/* What sip_via_fast_() may leave unset on success (it sets proto, version, transport, host). */
static inline void sip_via_init_fast(sip_via *v) {
  v->branch = v->received = v->maddr = v->params = SIP_STR_NULL;
  v->port = 0;
  v->rport = v->ttl = -1;
}

static inline void sip_addr_init(sip_addr *a) {
  a->star = a->bracketed = a->display_quoted = 0;
  a->display = a->uri = a->params = a->tag = SIP_STR_NULL;
}

#ifdef SIP_SCAN_SSE2
/* Case-insensitive compares with literals of lower-case letters and '-' (as eq8() and name_eq()
 * of sip_hdr.c). */
static inline int sip_feq8(const char *p, const char *lit) {
  uint64_t x, y;
  memcpy(&x, p, 8);
  memcpy(&y, lit, 8);
  return (x | ((y & 0x4040404040404040ull) >> 1)) == y;
}

static inline int sip_fname_eq(const char *p, const char *lc, size_t n) {
  uint32_t x, y;
  if (n >= 8) {
    for (size_t i = 0; i + 8 < n; i += 8)
      if (!sip_feq8(p + i, lc + i)) return 0;
    // cppcheck-suppress pointerOutOfBoundsCond ; lc holds n bytes: the callers pass its length
    return sip_feq8(p + n - 8, lc + n - 8);
  }
  if (n >= 4) {
    memcpy(&x, p, 4);
    memcpy(&y, lc, 4);
    if ((x | ((y & 0x40404040u) >> 1)) != y) return 0;
    memcpy(&x, p + n - 4, 4);
    memcpy(&y, lc + n - 4, 4);
    return (x | ((y & 0x40404040u) >> 1)) == y;
  }
  for (size_t i = 0; i < n; i++)
    if (((unsigned char)p[i] | (((unsigned char)lc[i] & 0x40u) >> 1)) != (unsigned char)lc[i])
      return 0;
  return 1;
}

/* The first n (<= 8) bytes at p (8 readable) against a literal of lower-case letters and
 * punctuation, case folded where the literal has a letter. lit holds 8 bytes (NUL padded), so
 * that the compiler loads it as one constant. */
static inline int sip_fword(const char *p, const char *lit, size_t n) {
  uint64_t x, y, m = n == 8 ? ~(uint64_t)0 : ((uint64_t)1 << (8 * n)) - 1;
  memcpy(&x, p, 8);
  memcpy(&y, lit, 8);
  return ((x | ((y & 0x4040404040404040ull) >> 1)) & m) == (y & m);
}

/* quoted-string of qdtext only, from the opening DQUOTE: the end after the closing one, or NULL */
static inline const char *sip_quoted_fast(const char *p, const char *e) {
  const char *q = SIP_FSPAN(p + 1, e, QD);
  return q < e && *q == '"' ? q + 1 : NULL;
}

/* ";name[=value]" from the ';' at *pp: the value a token or a quoted string; *pp moves past it
 * (to the next ';', e, or an octet that ends the list). */
static inline int sip_param_fast(const char **pp, const char *e, sip_str *name, sip_str *value,
                                 int *tok) {
  const char *p = *pp + 1, *q = SIP_FSPAN(p, e, TOKEN);
  if (q == p) return 0;
  *name = sip_str_make(p, (size_t)(q - p));
  *value = SIP_STR_NULL;
  *tok = 0;
  if (q < e && *q == '=') {
    p = q + 1;
    if (p < e && *p == '"') {
      if (!(q = sip_quoted_fast(p, e))) return 0;
    } else {
      q = SIP_FSPAN(p, e, TOKEN);
      if (q == p || (q < e && (*q == ':' || *q == '[' || *q == ']'))) return 0;
      *tok = 1;
    }
    *value = sip_str_make(p, (size_t)(q - p));
  }
  *pp = q;
  return 1;
}

/* 1*DIGIT covering [p, e), at most 5 digits and max; -1 when not. */
static inline long sip_small_uint(const char *p, const char *e, unsigned max) {
  unsigned k;
  uint64_t v = sip_digits8(p, &k);
  return k && k <= 5 && e - p == k && v <= max ? (long)v : -1;
}

/* One Via param by name (the checks of via_slow()); 0 when the general parser must decide. */
static inline __attribute__((always_inline)) int sip_via_param(sip_via *v, sip_str pn, sip_str pv,
                                                               int tok) {
  long u;
  switch (pn.n) {
  case 3:
    if (sip_fname_eq(pn.p, "ttl", 3)) {
      if (!pv.p || (u = sip_small_uint(pv.p, pv.p + pv.n, 255)) < 0) return 0;
      v->ttl = (int)u;
    }
    break;
  case 5:
    if (sip_fname_eq(pn.p, "maddr", 5)) {
      if (!pv.p || !sip_host_ok(pv)) return 0;
      v->maddr = pv;
    } else if (sip_fname_eq(pn.p, "rport", 5)) {
      u = 0;
      if (pv.p && (u = sip_small_uint(pv.p, pv.p + pv.n, 65535)) < 0) return 0;
      v->rport = (int)u;
    }
    break;
  case 6:
    if (sip_fname_eq(pn.p, "branch", 6)) {
      if (!tok) return 0;
      v->branch = pv;
    }
    break;
  case 8:
    if (sip_fname_eq(pn.p, "received", 8)) {
      if (!pv.p || !pv.n || sip_ipv4_fast(pv.p) != pv.p + pv.n) return 0;
      v->received = pv;
    }
    break;
  }
  return 1;
}

/* One via-param from its name at n0, with e the end of the value or a bound: returns where it
 * ends, or NULL. Branch, received and rport are known by one word compare each, others by name. */
static inline __attribute__((always_inline)) const char *sip_via_param_at(const char *n0,
                                                                          const char *e,
                                                                          sip_via *v) {
  const char *ne, *vs = NULL, *ve, *q;
  unsigned kind = 0, tok = 0;
  if (e - n0 >= 7 && sip_fword(n0, "branch=", 7)) {
    kind = 1;
    ne = n0 + 6;
  } else if (e - n0 >= 9 && sip_fword(n0, "received", 8) && n0[8] == '=') {
    kind = 2;
    ne = n0 + 8;
  } else if (e - n0 >= 5 && sip_fword(n0, "rport\0\0", 5) &&
             (e - n0 == 5 || !SIP_IS(n0[5], SIP_C_TOKEN))) {
    kind = 3;
    ne = n0 + 5;
  } else if ((ne = SIP_FSPAN(n0, e, TOKEN)) == n0) {
    return NULL;
  }
  if (ne < e && *ne == '=') {
    vs = ne + 1;
    if (kind == 2 && vs < e) {
      /* received = IPv4address here (RFC 3261 §18.2.1, §20.42): the dotted quad at once,
       * which must be the whole token (what ends it is neither a token octet nor one of
       * ":[]", as below) */
      if (!(ve = sip_ipv4_fast(vs)) || ve > e ||
          (ve < e && (SIP_IS(*ve, SIP_C_TOKEN) || *ve == ':' || *ve == '[' || *ve == ']')))
        return NULL;
      tok = 1;
    } else if (vs < e && *vs == '"') {
      if (!(ve = sip_quoted_fast(vs, e))) return NULL;
    } else {
      ve = SIP_FSPAN(vs, e, TOKEN);
      if (ve == vs || (ve < e && (*ve == ':' || *ve == '[' || *ve == ']'))) return NULL;
      tok = 1;
    }
    q = ve;
  } else {
    q = ve = ne;
  }
  switch (kind) {
  case 1:
    if (!tok) return NULL;
    v->branch = sip_str_make(vs, (size_t)(ve - vs));
    break;
  case 2: /* checked above (an empty value is not a token) */
    if (!tok) return NULL;
    v->received = sip_str_make(vs, (size_t)(ve - vs));
    break;
  case 3: {
    long u = 0;
    if (vs && (u = sip_small_uint(vs, ve, 65535)) < 0) return NULL;
    v->rport = (int)u;
    break;
  }
  default:
    if (!sip_via_param(v, sip_str_make(n0, (size_t)(ne - n0)),
                       vs ? sip_str_make(vs, (size_t)(ve - vs)) : SIP_STR_NULL, (int)tok))
      return NULL;
    break;
  }
  return q;
}

/* "SIP/2.0/" transport SP host [":" port] *(";" param) from p, with e the end of the value or a
 * bound: returns where the grammar stopped (the caller checks that it is its end), or NULL. */
static __attribute__((noinline, unused)) const char *sip_via_fast_(const char *p, const char *e,
                                                                   sip_via *v) {
  if (e - p <= 8 || !sip_feq8(p, "sip/2.0/")) return NULL;
  const char *q = p + 8, *t;
  /* UDP, TCP and TLS by one word compare (case folded; q is before e, so readable), other
   * transports by their token (RFC 3261 §20.42) */
  uint32_t w;
  memcpy(&w, q, 4);
  w |= 0x00202020u;                                             /* the letters only: the SP stays */
  if (w == 0x20706475u || w == 0x20706374u || w == 0x20736c74u) /* "udp ", "tcp ", "tls " */
    t = q + 3;
  else t = SIP_FSPAN(q, e, TOKEN);
  if (t == q || e - t < 2 || *t != ' ' || (unsigned char)t[1] <= ' ') return NULL;
  v->proto = sip_str_make(p, 3);
  v->version = sip_str_make(p + 4, 3);
  v->transport = sip_str_make(q, (size_t)(t - q));
  q = t + 1;
  /* the params' ';' first, so that their parse need not wait for the sent-by's, which must end
   * there */
  const char *p0 = sip_ffind(q, e, ';');
  int ip4;
  if (!(t = sip_host_fast(q, e, &ip4))) return NULL;
  v->host = sip_str_make(q, (size_t)(t - q));
  q = t;
  if (q < e && *q == ':') {
    unsigned k;
    uint64_t port = sip_digits8(++q, &k);
    if (k == 0 || k > 5 || e - q < k || port == 0 || port > 65535) return NULL;
    v->port = (int)port;
    q += k;
  }
  if (q != p0) return q;
  /* Each param up to the next ';', which is searched for from its start: the params' parse
   * then need not wait for each other's scans. Each must end exactly there; if one does not (a
   * quoted value holding a ';', an error), the sequential loop below decides. */
  for (const char *sc = p0;;) {
    const char *nx = sip_ffind(sc + 1, e, ';'), *se = nx ? nx : e;
    /* an empty param before another (";;") is skipped, as via_slow() does (checked only once
     * the param's parse failed: the common path pays nothing for it) */
    if (sip_via_param_at(sc + 1, se, v) != se && !(sc + 1 == se && nx)) break;
    if (!nx) {
      v->params = sip_str_make(p0 + 1, (size_t)(e - p0 - 1));
      return e;
    }
    sc = nx;
  }
  q = p0;
  while (q < e && *q == ';') {
    if (e - q > 1 && q[1] == ';') {
      q++;
      continue;
    }
    if (!(q = sip_via_param_at(q + 1, e, v))) return NULL;
  }
  v->params = sip_str_make(p0 + 1, (size_t)(q - p0 - 1));
  return q;
}

/* scan() on the fast scanners of sip_scan.h */
#define SIP_FSPAN_ESC(s, end, K)                                           \
  for (;;) {                                                               \
    s = SIP_FSPAN(s, end, K);                                              \
    if (s < end && *s == '%' && end - s >= 3 && SIP_IS(s[1], SIP_C_HEX) && \
        SIP_IS(s[2], SIP_C_HEX)) {                                         \
      s += 3;                                                              \
      continue;                                                            \
    }                                                                      \
    break;                                                                 \
  }

/* The common SIP-URI: "sip:" / "sips:" [user "@"] host [":" port] *(";" param), the user without
 * a password, the host a name or an IPv4 address, covering exactly [p, e) (in a name-addr, e is
 * its '>': no URI octet is one, so the URI ends at the first, as addr_parse() finds it). 1 with u
 * filled (when not NULL) as sip_uri_parse() would fill it, or 0 to let sip_uri_parse() decide. */
static inline __attribute__((always_inline)) int sip_uri_fast_(const char *p, const char *e,
                                                               sip_uri *u) {
  size_t k;
  if (e - p < 5) return 0;
  uint32_t w; /* "sip:" / "sips:" case folded, on a little-endian word (16 bytes readable) */
  memcpy(&w, p, 4);
  if ((w | 0x00202020u) == 0x3a706973u) {
    k = 3;
  } else if ((w | 0x20202020u) == 0x73706973u && p[4] == ':') {
    k = 4;
  } else {
    return 0;
  }
  const char *s = p + k + 1, *h = s;
  /* userinfo ends at the first '@' (none is legal after it), found first so that the host's
   * parse need not wait for the user's; the user must then cover all before it (its class holds
   * no '@'). Without one the host starts at once. */
  const char *at = sip_ffind(s, e, '@');
  if (at) {
    const char *q = s;
    SIP_FSPAN_ESC(q, at, USER);
    if (q != at || at == s) return 0; /* a password, or something for parse_sip() to word */
    h = at + 1;
  }
  int ip4;
  const char *t = sip_host_fast(h, e, &ip4);
  if (!t) return 0;
  s = t;
  unsigned port = 0;
  int has_port = 0;
  if (s < e && *s == ':') {
    unsigned nd;
    uint64_t pv = sip_digits8(++s, &nd);
    if (nd == 0 || nd > 5 || e - s < nd || pv > 65535) return 0;
    s += nd;
    port = (unsigned)pv;
    has_port = 1;
  }
  const char *ps = NULL;
  if (s < e && *s == ';') {
    ps = s + 1;
    while (s < e && *s == ';') {
      const char *nm = ++s;
      SIP_FSPAN_ESC(s, e, PARAM);
      if (s == nm) {
        if (s < e && *s == ';') continue; /* ";;": skipped, as parse_sip() does */
        return 0;
      }
      if (s < e && *s == '=') {
        const char *v = ++s;
        SIP_FSPAN_ESC(s, e, PARAM);
        if (s == v) return 0;
      }
    }
  }
  if (s != e) return 0;
  if (u) {
    u->scheme = k == 3 ? SIP_URI_SIP : SIP_URI_SIPS;
    u->scheme_str = sip_str_make(p, k);
    u->opaque = sip_str_make(p + k + 1, (size_t)(s - (p + k + 1)));
    u->user =
      h == p + k + 1 ? SIP_STR_NULL : sip_str_make(p + k + 1, (size_t)(h - 1 - (p + k + 1)));
    u->password = u->headers = SIP_STR_NULL;
    u->has_password = 0;
    u->host = sip_str_make(h, (size_t)(t - h));
    u->host_type = ip4 ? SIP_HOST_IPV4 : SIP_HOST_NAME;
    u->port = (int)port;
    u->has_port = has_port;
    u->params = ps ? sip_str_make(ps, (size_t)(s - ps)) : SIP_STR_NULL;
  }
  return 1;
}

/* [display] "<" URI ">" *(";" param), or an addr-spec with params, from p with e the end of the
 * value or a bound: returns where the grammar stopped (the caller checks that it is its end), or
 * NULL. a NULL a only checks the grammar: sip_parse() keeps no result of a Contact or a second
 * From, and a constant NULL drops every store. */
static inline __attribute__((always_inline)) const char *sip_addr_fast_(const char *p,
                                                                        const char *e,
                                                                        const char *rd, sip_addr *a,
                                                                        int nameaddr_only) {
  const char *q, *t;
  sip_uri u;
  if (a) {
    a->star = a->bracketed = a->display_quoted = 0;
    a->display = a->uri = a->params = a->tag = SIP_STR_NULL;
  }
  if (p >= e || (unsigned char)*p <= ' ') return NULL;
  if (*p == '"') {
    /* the first '<' apart from the quoted string's scan, so that the URI's parse need not wait
     * for it: usually the '<' that follows it, or else one inside it (then the one after it) */
    const char *lt = sip_ffind(p + 1, e, '<');
    if (!lt || !(q = sip_quoted_fast(p, e))) return NULL;
    if (a) {
      a->display = sip_str_make(p + 1, (size_t)(q - p - 2));
      a->display_quoted = 1;
    }
    if (q < e && *q == ' ') q++;
    if (q != lt) {
      if (q >= e || *q != '<') return NULL;
      lt = q;
    }
    p = lt;
  } else if (*p != '<') {
    t = SIP_FSPAN(p, e, TOKEN);
    if (t == p) return NULL;
    if (t >= e || *t != ':') {
      /* display-name tokens up to the '<' */
      const char *d0 = p, *d1;
      for (;;) {
        d1 = t;
        for (p = t; p < e && (*p == ' ' || *p == '\t'); p++) {}
        if (p < e && *p == '<') break;
        if (p == e || *p == '\r') return NULL;
        t = SIP_FSPAN(p, e, TOKEN);
        if (t == p) return NULL;
      }
      if (a) a->display = sip_str_make(d0, (size_t)(d1 - d0));
    }
  }
  if (p < e && *p == '<') {
    const char *u0 = p + 1;
    /* the URI ends at the first '>', found first: what follows it need not wait for its parse */
    if (!(q = sip_ffind(u0, e, '>'))) return NULL;
    if (!sip_uri_fast_(u0, q, NULL)) {
      if (q > u0 && (SIP_IS(*u0, SIP_C_WS) || SIP_IS(q[-1], SIP_C_WS))) return NULL;
      if (sip_uri_parse_rd(u0, (size_t)(q - u0), rd, &u, NULL, NULL) != 0) return NULL;
    }
    if (a) {
      a->bracketed = 1;
      a->uri = sip_str_make(u0, (size_t)(q - u0));
    }
    p = q + 1;
  } else {
    if (nameaddr_only) return NULL;
    /* the URI ends at ';', ',' or LWS; a '?' before them needs <> */
    const __m128i c1 = _mm_set1_epi8(';'), c2 = _mm_set1_epi8(','), c3 = _mm_set1_epi8('?'),
                  c4 = _mm_set1_epi8(' '), c5 = _mm_set1_epi8('\t'), c6 = _mm_set1_epi8('\r'),
                  c7 = _mm_set1_epi8('\n');
    for (q = p;; q += 16) {
      __m128i x = sip_load(q);
      unsigned m = (unsigned)_mm_movemask_epi8(
        _mm_or_si128(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, c1), _mm_cmpeq_epi8(x, c2)),
                                  _mm_or_si128(_mm_cmpeq_epi8(x, c3), _mm_cmpeq_epi8(x, c4))),
                     _mm_or_si128(_mm_cmpeq_epi8(x, c5),
                                  _mm_or_si128(_mm_cmpeq_epi8(x, c6), _mm_cmpeq_epi8(x, c7)))));
      if (m) {
        q += sip_ctz(m);
        break;
      }
      if (q + 16 >= e) {
        q = e;
        break;
      }
    }
    if (q > e) q = e;
    if (q < e && *q == '?') return NULL;
    if (!sip_uri_fast_(p, q, NULL) && sip_uri_parse_rd(p, (size_t)(q - p), rd, &u, NULL, NULL) != 0)
      return NULL;
    if (a) a->uri = sip_str_make(p, (size_t)(q - p));
    p = q;
  }
  if (p >= e || *p != ';') return p;
  /* header params: tag known by one word compare, others by name */
  const char *p0 = p;
  sip_str pn, pv;
  int tok;
  while (p < e && *p == ';') {
    const char *n0 = p + 1;
    if (e - n0 >= 4 && sip_fword(n0, "tag=\0\0\0", 4)) {
      const char *vs = n0 + 4, *ve = SIP_FSPAN(vs, e, TOKEN);
      if (ve == vs || (ve < e && (*ve == ':' || *ve == '[' || *ve == ']'))) return NULL;
      if (a) a->tag = sip_str_make(vs, (size_t)(ve - vs));
      p = ve;
      continue;
    }
    if (n0 < e && *n0 == ';') { /* ";;": skipped, as param_next() does */
      p = n0;
      continue;
    }
    if (!sip_param_fast(&p, e, &pn, &pv, &tok)) return NULL;
    if (pn.n == 3 && sip_fname_eq(pn.p, "tag", 3)) {
      if (!tok) return NULL;
      if (a) a->tag = pv;
    }
  }
  if (a) a->params = sip_str_make(p0 + 1, (size_t)(p - p0 - 1));
  return p;
}
#endif

#endif
