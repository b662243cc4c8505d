/* sip_uri.c: SIP, SIPS and tel URIs, and opaque absoluteURIs of other schemes (RFC 3261 §19.1,
 * §25.1; RFC 3966; RFC 5118 and RFC 4291 for IPv6). One pass over the caller's bytes, no
 * allocation: every field is a slice, still %-escaped.
 *
 * Leniency, decided here: a hostname label may hold '_' (seen in real deployments), a top label may
 * start with a digit, a host of digits and dots is a hostname unless it has four labels
 * (sip_host_kind(): GB/T 28181 domains are all digits), a trailing dot is accepted (§25.1 allows
 * it). An empty URI parameter before another (";;") is skipped, as in Via (the RFC 3428 §4
 * example), but a URI does not end in ';' (RFC 4475 §3.1.2.8). tel numbers without
 * phone-context are accepted (RFC 3966 §5.1.5 requires it for local numbers, but many SIP peers
 * omit it). Parameters without a name, empty values, and headers without '=', are rejected as the
 * ABNF says.
 *
 * The common sip:/sips: URI is first tried on the fast path of sip_fast.h (sip_uri_fast), which
 * accepts exactly what parse_sip() accepts of its kind and leaves the rest (and every error) to
 * it. */
#include "sip_fast.h"

/* Character classes for the URI grammar, one bit each (RFC 3261 §25.1, RFC 3966 §3). '%' is in
 * none of them: escapes are checked by scan(). */
enum {
  U_UNRES = 1 << 0,  /* unreserved = alphanum / mark */
  U_USER = 1 << 1,   /* user: unreserved / user-unreserved (& = + $ , ; ? /) */
  U_PASS = 1 << 2,   /* password: unreserved / & = + $ , */
  U_PARAM = 1 << 3,  /* paramchar: unreserved / param-unreserved ([ ] / : & + $) */
  U_HDR = 1 << 4,    /* hname, hvalue: unreserved / hnv-unreserved ([ ] / ? : + $) */
  U_URIC = 1 << 5,   /* uric: reserved / unreserved, plus [ ] for IPv6 authorities (RFC 2732) */
  U_RES = 1 << 7,    /* reserved (RFC 2396 §2.2): ; / ? : @ & = + $ , */
  U_SCHEME = 1 << 8, /* scheme: alphanum / + - . */
  U_TEL = 1 << 9,    /* phonedigit-hex: HEXDIG / * / # / visual-separator */
  U_TELPV = 1 << 10, /* tel pvalue: uric without ';' (covers isub's uric and paramchar) */
  U_HEX = 1 << 11,
  U_DIGIT = 1 << 12,
  U_ALPHA = 1 << 13,
  U_LABEL = 1 << 14,   /* hostname label chars: alphanum / '_' / '-' */
  U_NONDIGIT = 1 << 15 /* label chars that are not digits: a label with one is not IPv4 */
};

/* The URI-only sets; the classes shared with the rest of the grammar are sip_ctype.h's. */
#define C_RES(c)                                                                       \
  ((c) == ';' || (c) == '/' || (c) == '?' || (c) == ':' || (c) == '@' || (c) == '&' || \
   (c) == '=' || (c) == '+' || (c) == '$' || (c) == ',')
#define C_PASSX(c) ((c) == '&' || (c) == '=' || (c) == '+' || (c) == '$' || (c) == ',')
#define C_HDRX(c) \
  ((c) == '[' || (c) == ']' || (c) == '/' || (c) == '?' || (c) == ':' || (c) == '+' || (c) == '$')
#define C_URIC(c) (SIP_CH_UNRESERVED(c) || C_RES(c) || (c) == '[' || (c) == ']')
#define C_TEL(c)                                                                          \
  (SIP_CH_HEX(c) || (c) == '*' || (c) == '#' || (c) == '-' || (c) == '.' || (c) == '(' || \
   (c) == ')')

#define CLS(c)                                                                             \
  ((SIP_CH_UNRESERVED(c) ? U_UNRES : 0) | (SIP_CH_USER(c) ? U_USER : 0) |                  \
   ((SIP_CH_UNRESERVED(c) || C_PASSX(c)) ? U_PASS : 0) | (SIP_CH_PARAM(c) ? U_PARAM : 0) | \
   ((SIP_CH_UNRESERVED(c) || C_HDRX(c)) ? U_HDR : 0) | (C_URIC(c) ? U_URIC : 0) |          \
   (C_RES(c) ? U_RES : 0) |                                                                \
   ((SIP_CH_ALNUM(c) || (c) == '+' || (c) == '-' || (c) == '.') ? U_SCHEME : 0) |          \
   (C_TEL(c) ? U_TEL : 0) | ((C_URIC(c) && (c) != ';') ? U_TELPV : 0) |                    \
   (SIP_CH_HEX(c) ? U_HEX : 0) | (SIP_CH_DIGIT(c) ? U_DIGIT : 0) |                         \
   (SIP_CH_ALPHA(c) ? U_ALPHA : 0) | (SIP_CH_LABEL(c) ? U_LABEL : 0) |                     \
   ((SIP_CH_LABEL(c) && !SIP_CH_DIGIT(c)) ? U_NONDIGIT : 0))
#define R4(b) CLS(b), CLS((b) + 1), CLS((b) + 2), CLS((b) + 3)
#define R16(b) R4(b), R4((b) + 4), R4((b) + 8), R4((b) + 12)

static const uint16_t uclass[256] = {R16(0x00), R16(0x10), R16(0x20), R16(0x30),
                                     R16(0x40), R16(0x50), R16(0x60), R16(0x70)};

#define IS(c, cls) (uclass[(unsigned char)(c)] & (cls))

static int hexval(int c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

/* Advance over chars of class cls and valid %HH escapes. Stops at the first other byte, so a
 * stop on '%' means a bad escape. */
static const char *scan(const char *s, const char *end, unsigned cls) {
  while (s < end) {
    if (IS(*s, cls)) {
      s++;
    } else if (*s == '%' && end - s >= 3 && IS(s[1], U_HEX) && IS(s[2], U_HEX)) {
      s += 3;
    } else {
      break;
    }
  }
  return s;
}

#define FAIL(msg, at) \
  do {                \
    *err = (msg);     \
    *err_at = (at);   \
    return -1;        \
  } while (0)

/* IPv4address: exactly four 1-3 digit decimals up to 255 (RFC 3261 §25.1). */
static int ipv4_parse(const char *s, const char *end, uint8_t out[4]) {
  for (int i = 0; i < 4; i++) {
    if (i) {
      if (s == end || *s != '.') return -1;
      s++;
    }
    const char *d = s;
    unsigned v = 0;
    while (s < end && IS(*s, U_DIGIT) && s - d < 3) v = v * 10 + (unsigned)(*s++ - '0');
    if (s == d || v > 255) return -1;
    out[i] = (uint8_t)v;
  }
  return s == end ? 0 : -1;
}

/* IPv6address per RFC 4291 §2.2, not the looser RFC 3261 ABNF (RFC 5118 §4.10): 8 groups of 1-4
 * hex digits, one "::" standing for at least one zero group, an IPv4 tail counting as two groups.
 * Returns NULL and fills out (when given), or a pointer to the offending byte. */
static const char *ipv6_parse(const char *p, const char *end, uint8_t out[16]) {
  uint16_t g[8];
  int ng = 0, dc = -1;
  const char *s = p;
  if (s < end && *s == ':') {
    if (end - s < 2 || s[1] != ':') return s;
    dc = 0;
    s += 2;
  }
  while (s < end) {
    const char *gs = s;
    while (s < end && IS(*s, U_HEX)) s++;
    if (s < end && *s == '.') {
      uint8_t v4[4];
      if (ng > 6 || ipv4_parse(gs, end, v4) < 0) return gs;
      g[ng++] = (uint16_t)(v4[0] << 8 | v4[1]);
      g[ng++] = (uint16_t)(v4[2] << 8 | v4[3]);
      s = end;
      break;
    }
    if (s == gs) return s;
    if (s - gs > 4 || ng == 8) return gs;
    unsigned v = 0;
    for (const char *q = gs; q < s; q++) v = v << 4 | (unsigned)hexval(*q);
    g[ng++] = (uint16_t)v;
    if (s == end) break;
    if (*s != ':') return s;
    s++;
    if (s < end && *s == ':') {
      if (dc >= 0) return s;
      dc = ng;
      s++;
    } else if (s == end) {
      return s;
    }
  }
  if (dc >= 0 ? ng > 7 : ng != 8) return p;
  if (out) {
    int k = 0;
    memset(out, 0, 16);
    for (int i = 0; i < ng; i++) {
      /* the groups after "::" go to the end */
      if (i == dc) k = 8 - (ng - dc);
      out[2 * k] = (uint8_t)(g[i] >> 8);
      out[2 * k + 1] = (uint8_t)g[i];
      k++;
    }
  }
  return NULL;
}

/* "sip:2001:db8::10": an IPv6 address without brackets (RFC 5118 §4.2). Only used to word the
 * error: up to params or headers, only hex digits, '.' and two or more ':'. */
static int looks_like_bare_ipv6(const char *h, const char *end) {
  int colons = 0;
  for (; h < end && *h != ';' && *h != '?'; h++) {
    if (*h == ':') colons++;
    else if (!IS(*h, U_HEX) && *h != '.') return 0;
  }
  return colons >= 2;
}

/* SIP-URI / SIPS-URI after "sip:" (RFC 3261 §19.1.1, §25.1). */
static int parse_sip(const char *s, const char *end, sip_uri *u, const char **err,
                     const char **err_at) {
  /* No '@' is legal outside userinfo (not in host, params or headers), so the first one ends it:
   * the user may hold ';' '?' '/' and escaped '@' (RFC 4475 esc01, semiuri, intmeth). */
  const char *at = memchr(s, '@', (size_t)(end - s));
  if (at) {
    const char *q = scan(s, at, U_USER);
    if (q < at && *q == '%') FAIL("bad escape in URI user part", q);
    if (q == s) FAIL("empty user in URI", q);
    u->user = sip_str_make(s, (size_t)(q - s));
    if (q < at && *q == ':') {
      const char *pw = q + 1;
      q = scan(pw, at, U_PASS);
      if (q < at && *q == '%') FAIL("bad escape in URI password", q);
      if (q < at) FAIL("invalid character in URI password", q);
      u->password = sip_str_make(pw, (size_t)(q - pw));
      u->has_password = 1;
    }
    if (q < at) FAIL("invalid character in URI user part", q);
    s = at + 1;
  }

  const char *h = s;
  if (s < end && *s == '[') {
    const char *rb = memchr(s, ']', (size_t)(end - s));
    const char *bad = rb ? ipv6_parse(s + 1, rb, NULL) : end;
    if (bad) FAIL("invalid IPv6 reference", bad);
    s = rb + 1;
    u->host_type = SIP_HOST_IPV6;
  } else {
    /* hostname / IPv4address in one pass: labels of alphanum, '_' and inner '-' (§25.1). The
     * class bits of each label are OR-ed together to learn whether it has a non-digit. */
    unsigned all = 0, top = 0, k, labels = 0;
    for (;;) {
      const char *ls = s;
      unsigned acc = 0;
      while (s < end && ((k = uclass[(unsigned char)*s]) & U_LABEL)) {
        acc |= k;
        s++;
      }
      if (s == ls) {
        /* empty label: only a single trailing dot may end the name */
        if (s == h) {
          if (s < end && *s == '.') FAIL("invalid hostname in URI", s);
          FAIL("missing host in URI", s);
        }
        if (s < end && *s == '.') FAIL("invalid hostname in URI", s);
        break;
      }
      if (*ls == '-' || s[-1] == '-') FAIL("invalid hostname in URI", *ls == '-' ? ls : s - 1);
      all |= acc;
      top = acc;
      labels++;
      if (s == end || *s != '.') break;
      s++;
    }
    int digits_only = !(all & U_NONDIGIT);
    u->host_type = sip_host_kind(h, s, digits_only, !(top & U_NONDIGIT), labels);
    if (u->host_type == SIP_HOST_NONE) {
      if (!digits_only) FAIL("invalid hostname in URI", h);
      if (looks_like_bare_ipv6(h, end)) FAIL("IPv6 address without [] in URI", h);
      FAIL("invalid IPv4 address in URI", h);
    }
  }
  u->host = sip_str_make(h, (size_t)(s - h));

  if (s < end && *s == ':') {
    const char *d = ++s;
    unsigned v = 0;
    while (s < end && IS(*s, U_DIGIT)) {
      v = v * 10 + (unsigned)(*s - '0');
      if (v > 65535) FAIL("bad port in URI", d);
      s++;
    }
    if (s == d || (s < end && *s != ';' && *s != '?')) {
      if (looks_like_bare_ipv6(h, end)) FAIL("IPv6 address without [] in URI", h);
      FAIL("bad port in URI", s);
    }
    u->port = (int)v;
    u->has_port = 1;
  }

  /* uri-parameters = *( ";" pname [ "=" pvalue ] ), both 1*paramchar; ";;" is skipped */
  if (s < end && *s == ';') {
    const char *ps = s + 1;
    while (s < end && *s == ';') {
      const char *nm = ++s;
      s = scan(s, end, U_PARAM);
      if (s < end && *s == '%') FAIL("bad escape in URI parameter", s);
      if (s == nm) {
        if (s < end && *s == ';') continue;
        FAIL("empty URI parameter", s);
      }
      if (s < end && *s == '=') {
        const char *v = ++s;
        s = scan(s, end, U_PARAM);
        if (s < end && *s == '%') FAIL("bad escape in URI parameter", s);
        if (s == v) FAIL("empty URI parameter value", s);
      }
    }
    u->params = sip_str_make(ps, (size_t)(s - ps));
    if (s < end && *s != '?') FAIL("invalid character in URI parameter", s);
  }

  /* headers = "?" hname "=" hvalue *( "&" hname "=" hvalue ) */
  if (s < end && *s == '?') {
    const char *hs = s + 1;
    do {
      const char *nm = ++s;
      s = scan(s, end, U_HDR);
      if (s < end && *s == '%') FAIL("bad escape in URI header", s);
      if (s == nm) FAIL("empty URI header name", s);
      if (s == end || *s != '=') FAIL("missing '=' in URI header", s);
      s = scan(s + 1, end, U_HDR);
      if (s < end && *s == '%') FAIL("bad escape in URI header", s);
    } while (s < end && *s == '&');
    u->headers = sip_str_make(hs, (size_t)(s - hs));
  }

  if (s < end) FAIL("invalid character in URI", s);
  return 0;
}

int sip_uri_fast(const char *p, const char *end, const char *rd, sip_uri *u) {
#ifdef SIP_SCAN_SSE2
  return sip_fast_ok(end, rd) && sip_uri_fast_(p, end, u);
#else
  (void)p;
  (void)end;
  (void)rd;
  (void)u;
  return 0;
#endif
}

/* telephone-uri (RFC 3966 §3): global-number-digits ("+" and at least one DIGIT, with visual
 * separators) or local-number-digits (at least one HEXDIG / * / #), then ";" pname ["=" pvalue]. */
static int parse_tel(const char *s, const char *end, sip_uri *u, const char **err,
                     const char **err_at) {
  const char *num = s;
  int digits = 0;
  if (s < end && *s == '+') {
    for (s++; s < end && IS(*s, U_TEL); s++) {
      if (IS(*s, U_DIGIT)) digits++;
      else if (IS(*s, U_HEX) || *s == '*' || *s == '#') break;
    }
  } else {
    for (; s < end && IS(*s, U_TEL); s++)
      digits += *s != '-' && *s != '.' && *s != '(' && *s != ')';
  }
  if (!digits || (s < end && *s != ';')) FAIL("invalid telephone number", s);
  u->user = sip_str_make(num, (size_t)(s - num));
  if (s < end) {
    const char *ps = s + 1;
    while (s < end && *s == ';') {
      const char *nm = ++s;
      while (s < end && (IS(*s, U_ALPHA | U_DIGIT) || *s == '-')) s++;
      if (s == nm) FAIL("empty tel URI parameter", s);
      if (s < end && *s == '=') {
        const char *v = ++s;
        s = scan(s, end, U_TELPV);
        if (s < end && *s == '%') FAIL("bad escape in tel URI parameter", s);
        if (s == v) FAIL("empty tel URI parameter value", s);
      }
    }
    if (s < end) FAIL("invalid character in tel URI parameter", s);
    u->params = sip_str_make(ps, (size_t)(s - ps));
  }
  return 0;
}

int sip_uri_parse(const char *p, size_t n, sip_uri *u, const char **err, const char **err_at) {
  return sip_uri_parse_rd(p, n, p + n, u, err, err_at);
}

int sip_uri_parse_rd(const char *p, size_t n, const char *rd, sip_uri *u, const char **err,
                     const char **err_at) {
  if (sip_uri_fast(p, p + n, rd, u)) return 0;
  const char *end = p + n, *s = p;
  const char *e0, *e1;
  if (!err) err = &e0;
  if (!err_at) err_at = &e1;
  /* field by field: a memset of the whole struct costs more than the common parse (rep stos) */
  u->scheme = (sip_uri_scheme)0;
  u->scheme_str = u->user = u->password = u->host = u->params = u->headers = u->opaque =
    SIP_STR_NULL;
  u->has_password = u->port = u->has_port = 0;
  u->host_type = SIP_HOST_NONE;
  if (n == 0) FAIL("empty URI", p);

  /* the common case first: "sip:" and "sips:" in any case */
  if (n >= 4 && (p[0] | 0x20) == 's' && (p[1] | 0x20) == 'i' && (p[2] | 0x20) == 'p') {
    size_t k = p[3] == ':' ? 3 : n >= 5 && (p[3] | 0x20) == 's' && p[4] == ':' ? 4 : 0;
    if (k) {
      u->scheme = k == 3 ? SIP_URI_SIP : SIP_URI_SIPS;
      u->scheme_str = sip_str_make(p, k);
      u->opaque = sip_str_make(p + k + 1, n - k - 1);
      return parse_sip(p + k + 1, end, u, err, err_at);
    }
  }

  /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (§25.1), case-insensitive */
  if (!IS(*s, U_ALPHA)) FAIL("bad URI scheme", s);
  while (s < end && IS(*s, U_SCHEME)) s++;
  if (s == end || *s != ':') FAIL("bad URI scheme", s);
  u->scheme_str = sip_str_make(p, (size_t)(s - p));
  s++;
  u->opaque = sip_str_make(s, (size_t)(end - s));

  if (sip_str_ieq(u->scheme_str, "tel")) {
    u->scheme = SIP_URI_TEL;
    return parse_tel(s, end, u, err, err_at);
  }

  /* absoluteURI = scheme ":" ( hier-part / opaque-part ): kept opaque, 1*uric (RFC 2396) */
  u->scheme = SIP_URI_OTHER;
  const char *o = scan(s, end, U_URIC);
  if (o < end && *o == '%') FAIL("bad escape in URI", o);
  if (o < end) FAIL("invalid character in URI", o);
  if (o == s) FAIL("empty URI after scheme", o);
  return 0;
}

long sip_unescape(const char *in, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    if (in[i] != '%') {
      out[o++] = in[i++];
    } else if (n - i >= 3 && IS(in[i + 1], U_HEX) && IS(in[i + 2], U_HEX)) {
      out[o++] = (char)(hexval(in[i + 1]) << 4 | hexval(in[i + 2]));
      i += 3;
    } else {
      return -1;
    }
  }
  return (long)o;
}

/* Comparison ----------------------------------------------------------------------------------*/

/* The next octet of a component as compared by §19.1.4: "%HH" is the octet it encodes, except that
 * an escaped reserved character stays distinct from the bare one (0x100 is added), since only
 * characters outside "reserved" are equivalent to their encoding. */
static int tok_next(const char *p, size_t n, size_t *i) {
  size_t k = *i;
  if (p[k] == '%' && n - k >= 3 && IS(p[k + 1], U_HEX) && IS(p[k + 2], U_HEX)) {
    int v = hexval(p[k + 1]) << 4 | hexval(p[k + 2]);
    *i = k + 3;
    return IS(v, U_RES) ? v | 0x100 : v;
  }
  *i = k + 1;
  return (unsigned char)p[k];
}

static int tok_eq(sip_str a, sip_str b, int icase) {
  size_t i = 0, j = 0;
  while (i < a.n && j < b.n) {
    int ca = (unsigned char)a.p[i], cb = (unsigned char)b.p[j];
    if (ca != '%' && cb != '%') { /* no escape on either side: plain bytes */
      if (ca != cb && (!icase || sip_lower(ca) != sip_lower(cb))) return 0;
      i++;
      j++;
      continue;
    }
    ca = tok_next(a.p, a.n, &i);
    cb = tok_next(b.p, b.n, &j);
    if (icase) {
      ca = sip_lower(ca);
      cb = sip_lower(cb);
    }
    if (ca != cb) return 0;
  }
  return i == a.n && j == b.n;
}

/* Split the next element of a ';'- or '&'-separated list: name, value (.n == 0 for a flag).
 * Empty elements (";;", which parse_sip() skips) are skipped here too. */
static int next_pair(sip_str *rest, char sep, sip_str *name, sip_str *value) {
  size_t n;
  const char *p;
  do {
    if (rest->n == 0) return 0;
    p = rest->p;
    const char *e = memchr(p, sep, rest->n);
    n = e ? (size_t)(e - p) : rest->n;
    if (e) *rest = sip_str_make(e + 1, rest->n - n - 1);
    else *rest = sip_str_make(p + n, 0);
  } while (n == 0);
  const char *eq = memchr(p, '=', n);
  *name = sip_str_make(p, eq ? (size_t)(eq - p) : n);
  *value = eq ? sip_str_make(eq + 1, n - (size_t)(eq + 1 - p)) : sip_str_make(p + n, 0);
  return 1;
}

/* First param with this name (case-insensitive, after unescaping); *at is its name. Later
 * duplicates are ignored everywhere, so that comparison stays reflexive and lookups agree with
 * it. */
static int find_pair(sip_str list, char sep, sip_str name, sip_str *value, const char **at) {
  sip_str nm, v;
  while (next_pair(&list, sep, &nm, &v)) {
    if (tok_eq(nm, name, 1)) {
      if (value) *value = v;
      if (at) *at = nm.p;
      return 1;
    }
  }
  return 0;
}

int sip_uri_param(const sip_uri *u, const char *name, sip_str *value) {
  sip_str v;
  if (!find_pair(u->params, ';', sip_str_make(name, strlen(name)), &v, NULL)) return 0;
  if (value) *value = v;
  return 1;
}

/* §19.1.4: these parameters never match when present in only one URI (the RFC's list is user, ttl,
 * method and maddr; its examples add transport). */
static int must_match(sip_str name) {
  static const char *const names[] = {"user", "ttl", "method", "maddr", "transport"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (tok_eq(name, sip_str_make(names[i], strlen(names[i])), 1)) return 1;
  return 0;
}

/* Each param of a (first occurrence of its name) against b: present in both means equal values
 * (case-insensitive); present only in a is fatal when all is set (tel) or for must_match names. */
static int params_cover(sip_str a, sip_str b, int all) {
  sip_str rest = a, nm, va, vb;
  while (next_pair(&rest, ';', &nm, &va)) {
    const char *first = NULL;
    if (!find_pair(a, ';', nm, NULL, &first) || first != nm.p) continue;
    if (find_pair(b, ';', nm, &vb, NULL)) {
      if (!tok_eq(va, vb, 1)) return 0;
    } else if (all || must_match(nm)) {
      return 0;
    }
  }
  return 1;
}

static int params_equal(sip_str a, sip_str b, int all) {
  return params_cover(a, b, all) && params_cover(b, a, all);
}

/* How many headers of list equal (name case-insensitive, value exact, both after unescaping) h. */
static size_t header_count(sip_str list, sip_str name, sip_str value) {
  size_t k = 0;
  sip_str nm, v;
  while (next_pair(&list, '&', &nm, &v)) k += tok_eq(nm, name, 1) && tok_eq(v, value, 0);
  return k;
}

/* §19.1.4: every header must be in both, in any order: the two lists are equal as multisets. */
static int headers_equal(sip_str a, sip_str b) {
  sip_str rest = a, nm, v;
  size_t na = 0, nb = 0;
  while (next_pair(&rest, '&', &nm, &v)) na++;
  rest = b;
  while (next_pair(&rest, '&', &nm, &v)) nb++;
  if (na != nb) return 0;
  rest = a;
  while (next_pair(&rest, '&', &nm, &v))
    if (header_count(a, nm, v) != header_count(b, nm, v)) return 0;
  return 1;
}

static int host_equal(const sip_uri *a, const sip_uri *b) {
  if (a->host_type != b->host_type) return 0;
  if (a->host_type == SIP_HOST_IPV6 && a->host.n >= 2 && b->host.n >= 2) {
    /* the same address in any of its RFC 4291 spellings */
    uint8_t x[16], y[16];
    if (!ipv6_parse(a->host.p + 1, a->host.p + a->host.n - 1, x) &&
        !ipv6_parse(b->host.p + 1, b->host.p + b->host.n - 1, y))
      return memcmp(x, y, 16) == 0;
  }
  return sip_str_ieq2(a->host, b->host);
}

/* RFC 3966 §4: the numbers compare without visual separators, case-insensitively (hex digits). */
static int tel_number_equal(sip_str a, sip_str b) {
  size_t i = 0, j = 0;
  for (;;) {
    while (i < a.n && (a.p[i] == '-' || a.p[i] == '.' || a.p[i] == '(' || a.p[i] == ')')) i++;
    while (j < b.n && (b.p[j] == '-' || b.p[j] == '.' || b.p[j] == '(' || b.p[j] == ')')) j++;
    if (i == a.n || j == b.n) return i == a.n && j == b.n;
    if (sip_lower((unsigned char)a.p[i++]) != sip_lower((unsigned char)b.p[j++])) return 0;
  }
}

int sip_uri_equal(const sip_uri *a, const sip_uri *b) {
  if (a->scheme != b->scheme) return 0; /* SIP and SIPS never match */
  switch (a->scheme) {
  case SIP_URI_SIP:
  case SIP_URI_SIPS: {
    int pa = a->has_port || a->port > 0, pb = b->has_port || b->port > 0;
    /* userinfo case-sensitive; omitted components (port 5060 included) never match written ones */
    return tok_eq(a->user, b->user, 0) && (a->user.n == 0) == (b->user.n == 0) &&
           a->has_password == b->has_password && tok_eq(a->password, b->password, 0) &&
           host_equal(a, b) && pa == pb && a->port == b->port &&
           params_equal(a->params, b->params, 0) && headers_equal(a->headers, b->headers);
  }
  case SIP_URI_TEL:
    return tel_number_equal(a->user, b->user) && params_equal(a->params, b->params, 1);
  default: return sip_str_ieq2(a->scheme_str, b->scheme_str) && tok_eq(a->opaque, b->opaque, 0);
  }
}

/* Formatting ----------------------------------------------------------------------------------*/

typedef struct wr {
  char *out;
  size_t cap, len;
} wr;

static void put(wr *w, const char *p, size_t n) {
  if (n && w->len < w->cap) memcpy(w->out + w->len, p, n < w->cap - w->len ? n : w->cap - w->len);
  w->len += n;
}

static void puts_(wr *w, const char *s) { put(w, s, strlen(s)); }

size_t sip_uri_format(const sip_uri *u, char *out, size_t cap) {
  wr w = {out, cap, 0};
  switch (u->scheme) {
  case SIP_URI_SIP:
  case SIP_URI_SIPS:
    puts_(&w, u->scheme == SIP_URI_SIP ? "sip:" : "sips:");
    if (u->user.n || u->has_password) {
      put(&w, u->user.p, u->user.n);
      if (u->has_password) {
        put(&w, ":", 1);
        put(&w, u->password.p, u->password.n);
      }
      put(&w, "@", 1);
    }
    put(&w, u->host.p, u->host.n);
    if (u->has_port || u->port > 0) {
      char d[12];
      size_t k = sizeof d;
      unsigned v = (unsigned)u->port;
      do d[--k] = (char)('0' + v % 10);
      while ((v /= 10) && k > 1);
      put(&w, ":", 1);
      put(&w, d + k, sizeof d - k);
    }
    if (u->params.n) {
      put(&w, ";", 1);
      put(&w, u->params.p, u->params.n);
    }
    if (u->headers.n) {
      put(&w, "?", 1);
      put(&w, u->headers.p, u->headers.n);
    }
    break;
  case SIP_URI_TEL:
    puts_(&w, "tel:");
    put(&w, u->user.p, u->user.n);
    if (u->params.n) {
      put(&w, ";", 1);
      put(&w, u->params.p, u->params.n);
    }
    break;
  default:
    put(&w, u->scheme_str.p, u->scheme_str.n);
    put(&w, ":", 1);
    put(&w, u->opaque.p, u->opaque.n);
    break;
  }
  if (w.len < cap) out[w.len] = '\0';
  return w.len;
}
