/* sip_parse.c: one SIP message from the caller's buffer (RFC 3261 §7, §18.3, §20, §25): start
 * line, header index with list splitting, typed parse of the headers the stack relies on, body
 * framing; and stream framing for TCP/TLS. Zero-copy, no allocation, no recursion; every scan is
 * bounded by the buffer length (never by a NUL).
 *
 * One pass over the header lines. On x86-64 the common line is taken apart with 16-byte
 * compares: its LF comes first, searched 16 bytes at a time from its start, so that the next
 * line's start never waits for this line's parse (the CPU works on several lines at once); the
 * first ':' gives
 * the name, looked up by length and first letter; a typed header (Via, From, To, Contact,
 * Route, Call-ID, CSeq, Max-Forwards, Content-Length) is parsed by the fast parsers of
 * sip_fast.h up to the line's CR, where their grammar must end. Whatever the fast path does not
 * accept (folding, unusual spelling, errors) goes through the general path (parse_line(),
 * index_line(), typed() and the parsers of sip_hdr.c / sip_uri.c), which decides and words
 * every error; the fast path accepts nothing the general path would not, with the same result. */
#include "sip_fast.h"

/* The default limits (sip_msg.h); a line over the default max_line says so. */
#define MAX_MSG 65536
#define MAX_HEADERS 256
#define MAX_LINE 8192
#define STR_(x) #x
#define STR(x) STR_(x)
const sip_limits sip_default_limits = {MAX_MSG, MAX_HEADERS, MAX_LINE};

#define CRLF_LEN 2 /* a line's end; a blank line is one */

#define is_wsp sip_is_wsp

static inline size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

static inline const char *scan_token(const char *p, const char *e) {
  return sip_skip_class(p, e, SIP_C_TOKEN);
}
static inline const char *scan_word(const char *p, const char *e) {
  return sip_skip_class(p, e, SIP_C_WORD);
}

typedef struct pctx {
  sip_msg *m;
  const char *buf; /* start of the message (m->buf): error offsets are relative to it */
  unsigned maxh;
  size_t max_line;
  const char *lim_end; /* end of what may be scanned for the header section */
  const char *end;     /* end of the buffer */
  const char *rd;      /* read limit of the fast paths (sip_scan.h): end, or buf without SSSE3 */
  int line_err;        /* the start line was bad: its error is the answer, whatever follows */
  uint16_t last[SIP_H__COUNT]; /* last entry per id, for the next chains (valid when first set) */
} pctx;

/* An error that ends parsing (header section syntax, limits): it replaces a value error seen
 * before, since the index is now incomplete; but not a start-line error (505, a bad
 * Request-URI), which is what the request must be answered with. */
static int fatal(pctx *c, int status, const char *at, const char *what) {
  // cppcheck-suppress ctuuninitvar ; sip_parse sets line_err, m and buf before any call
  if (c->line_err) return -1;
  c->m->err.status = status;
  c->m->err.off = (size_t)(at - c->buf);
  c->m->err.what = what;
  return -1;
}

/* An error in one header's value: the first one is kept and parsing goes on so that the index
 * is complete (a server can still answer 400 with the headers it needs). */
static void value_err(pctx *c, int status, const char *at, const char *what) {
  if (c->m->err.status) return;
  c->m->err.status = status;
  c->m->err.off = (size_t)(at - c->buf);
  c->m->err.what = what;
}

/* The octets of one physical line with its CRLF, at most. */
static inline size_t line_max(const pctx *c) { return c->max_line + CRLF_LEN; }

/* Why a line end was not found in [p, lim_end): the line is too long, the message is too large,
 * or the header section is not terminated. */
static int no_line_end(pctx *c, const char *line, const char *what_unterminated) {
  if ((size_t)(c->lim_end - line) >= line_max(c)) {
    if (c->max_line == MAX_LINE)
      return fatal(c, 400, line, "line too long (limit " STR(MAX_LINE) ")");
    return fatal(c, 400, line, "line too long");
  }
  if (c->lim_end < c->end) return fatal(c, 513, c->lim_end, "message too large");
  return fatal(c, 400, c->end, what_unterminated);
}

/* Line feed of the physical line starting at line, searching from `from`; a line holds at most
 * max_line octets before its CRLF. */
static inline const char *find_lf(pctx *c, const char *line, const char *from) {
  size_t room = min_sz((size_t)(c->lim_end - line), line_max(c));
  const char *stop = line + room;
  if (from >= stop) return NULL;
  return sip_find_lf(from, stop, c->end);
}

/* first[] = SIP_NO_HDR, count[] = 0, in 64-byte pieces: GCC turns larger memsets into rep stos,
 * which costs tens of ns on some CPUs (AMD under virtualization), a third of a short parse. */
static void clear_ids(sip_msg *m) {
  char *f = (char *)m->first, *n = (char *)m->count;
  size_t i = 0;
  for (; i + 64 <= sizeof m->first; i += 64) {
    memset(f + i, 0xff, 64);
    memset(n + i, 0, 64);
  }
  memset(f + i, 0xff, sizeof m->first - i);
  memset(n + i, 0, sizeof m->count - i);
}

/* ---- start line (RFC 3261 §7.1, §7.2, §25.1) ------------------------------------------------- */

/* SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT ("SIP" case-insensitive, RFC 3261 §7.1). Returns 0
 * when it is not one, 1 for SIP/2.0, 2 for another version (505 Version Not Supported, §21.5.7). */
static int version_kind(const char *p, const char *e) {
  /* the usual "SIP/2.0": one word compare, case folded where the literal has letters */
  if (e - p == 7 && p[4] == '2' && p[5] == '.' && p[6] == '0') {
    uint32_t w, lit;
    memcpy(&w, p, 4);
    memcpy(&lit, "sip/", 4);
    if ((w | ((lit & 0x40404040u) >> 1)) == lit) return 1;
  }
  if (e - p < 7 || sip_lower((unsigned char)p[0]) != 's' || sip_lower((unsigned char)p[1]) != 'i' ||
      sip_lower((unsigned char)p[2]) != 'p' || p[3] != '/')
    return 0;
  const char *q = p + 4, *d = q;
  while (q < e && SIP_IS(*q, SIP_C_DIGIT)) q++;
  if (q == d || q >= e || *q != '.') return 0;
  const char *d2 = ++q;
  while (q < e && SIP_IS(*q, SIP_C_DIGIT)) q++;
  if (q == d2 || q != e) return 0;
  return (e - p == 7 && p[4] == '2' && p[6] == '0') ? 1 : 2;
}

/* "SIP/2.0" (case-insensitive "SIP") at p, 7 bytes readable. */
static inline int is_sip20(const char *p) {
  uint32_t w, lit;
  memcpy(&w, p, 4);
  memcpy(&lit, "sip/", 4);
  return (w | ((lit & 0x40404040u) >> 1)) == lit && p[4] == '2' && p[5] == '.' && p[6] == '0';
}

static int parse_status_line(pctx *c, const char *p, const char *e) {
  sip_msg *m = c->m;
  const char *sp =
    e - p > 7 && p[7] == ' ' && is_sip20(p) ? p + 7 : memchr(p, ' ', (size_t)(e - p));
  int vk = sp == p + 7 && is_sip20(p) ? 1 : version_kind(p, sp ? sp : e);
  if (!vk) return fatal(c, 400, p, "bad status line: bad SIP-Version");
  if (vk == 2) return fatal(c, 505, p, "SIP version not supported");
  if (!sp) return fatal(c, 400, e, "bad status line: missing status code");
  m->version = sip_str_make(p, (size_t)(sp - p));
  const char *q = sp + 1;
  /* Status-Code = 3DIGIT, then SP (bigcode: "4294967301" is rejected by its length, no
   * arithmetic on it happens). */
  if (e - q < 3 || !SIP_IS(q[0], SIP_C_DIGIT) || !SIP_IS(q[1], SIP_C_DIGIT) ||
      !SIP_IS(q[2], SIP_C_DIGIT) || (e - q > 3 && q[3] != ' '))
    return fatal(c, 400, q, "bad status line: status code is not 3 digits");
  int status = (q[0] - '0') * 100 + (q[1] - '0') * 10 + (q[2] - '0');
  if (status < 100 || status > 699)
    return fatal(c, 400, q, "bad status line: status code out of range");
  if (e - q == 3) return fatal(c, 400, e, "bad status line: missing SP after the status code");
  m->status = status;
  /* Reason-Phrase: any text but controls (HTAB allowed), UTF-8 included; may be empty. */
  const char *r = q + 4, *t0 = r;
#ifdef SIP_SCAN_SSE2
  if (sip_fast_ok(e, c->rd)) {
    /* 16 at a time: an octet below 0x20 but HTAB, or DEL, stops the scan */
    for (; t0 < e; t0 += 16) {
      __m128i x = sip_load(t0);
      __m128i ctl = _mm_andnot_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('\t')),
                                     _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1f)), x));
      __m128i del = _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f));
      unsigned k = (unsigned)_mm_movemask_epi8(_mm_or_si128(ctl, del));
      if (k) {
        t0 += sip_ctz(k);
        break;
      }
    }
    if (t0 > e) t0 = e;
  }
#endif
  for (const char *t = t0; t < e; t++) {
    unsigned char ch = (unsigned char)*t;
    if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
      return fatal(c, 400, t, "bad status line: control character in reason phrase");
  }
  m->reason = sip_str_make(r, (size_t)(e - r));
  return 0;
}

static int parse_request_line(pctx *c, const char *p, const char *e) {
  sip_msg *m = c->m;
  m->is_request = 1; /* not "SIP/": a request, even a broken one */
  const char *q = SIP_SPAN(p, e, c->end, TOKEN);
  if (q == p || q >= e || *q != ' ') return fatal(c, 400, q, "bad request line: bad method");
  m->method = sip_str_make(p, (size_t)(q - p));
  m->method_id = sip_method_lookup(p, (size_t)(q - p));
  const char *u0 = q + 1;
  /* exactly one SP between elements, none at the end (RFC 4475 §3.1.2.9, §3.1.2.10) */
  if (is_wsp(e[-1])) return fatal(c, 400, e - 1, "bad request line: trailing whitespace");
  const char *v0 = e;
  if (e - u0 > 8 && e[-8] == ' ' && is_sip20(e - 7)) v0 = e - 7; /* the usual " SIP/2.0" */
  else
    while (v0 > u0 && v0[-1] != ' ') v0--;
  if (v0 == u0) return fatal(c, 400, e, "bad request line: missing SIP-Version");
  int vk = e - v0 == 7 && is_sip20(v0) ? 1 : version_kind(v0, e);
  if (!vk) return fatal(c, 400, v0, "bad request line: bad SIP-Version");
  if (vk == 2) return fatal(c, 505, v0, "SIP version not supported");
  m->version = sip_str_make(v0, (size_t)(e - v0));
  const char *u1 = v0 - 1;
  if (u1 == u0) return fatal(c, 400, u0, "bad request line: missing Request-URI");
  if (*u0 == '<') return fatal(c, 400, u0, "bad Request-URI: enclosed in <>");
  m->ruri = sip_str_make(u0, (size_t)(u1 - u0));
  const char *err, *at;
  if (!sip_uri_fast(u0, u1, c->rd, &m->uri) &&
      sip_uri_parse_rd(u0, (size_t)(u1 - u0), c->rd, &m->uri, &err, &at) != 0) {
    /* no URI holds whitespace: name the usual cause (RFC 4475 §3.1.2.8) */
    const char *ws = memchr(u0, ' ', (size_t)(u1 - u0));
    if (!ws) ws = memchr(u0, '\t', (size_t)(u1 - u0));
    if (ws) return fatal(c, 400, ws, "bad Request-URI: contains whitespace");
    return fatal(c, 400, (at >= u0 && at <= u1) ? at : u0, "bad Request-URI");
  }
  /* "headers" are not allowed in a Request-URI (RFC 3261 §19.1.1 table 1; RFC 4475 §3.1.2.11) */
  if ((m->uri.scheme == SIP_URI_SIP || m->uri.scheme == SIP_URI_SIPS) && m->uri.headers.p)
    return fatal(c, 400, m->uri.headers.p, "bad Request-URI: headers not allowed in a Request-URI");
  return 0;
}

/* ---- typed headers --------------------------------------------------------------------------- */

/* callid = word [ "@" word ] (RFC 3261 §25.1) */
static inline const char *callid_bad(pctx *c, sip_str v) {
  const char *p = v.p, *e = v.p + v.n;
#ifdef SIP_SCAN_SSE2
  if (sip_fast_ok(e, c->rd)) {
    const char *q = SIP_FSPAN(p, e, WORD);
    if (q == p) return p;
    if (q == e) return NULL;
    if (*q != '@') return q;
    p = q + 1;
    q = SIP_FSPAN(p, e, WORD);
    if (q == p) return p;
    return q == e ? NULL : q;
  }
#else
  (void)c;
#endif
  const char *q = scan_word(p, e);
  if (q == p) return p;
  if (q == e) return NULL;
  if (*q != '@') return q;
  p = q + 1;
  q = scan_word(p, e);
  if (q == p) return p;
  return q == e ? NULL : q;
}

/* delta-seconds, values above 2^32-1 clamped (RFC 3261 §20.19). -1 when malformed. */
static int64_t delta_seconds(sip_str v) {
  if (!v.n) return -1;
  uint64_t x = 0;
  for (size_t i = 0; i < v.n; i++) {
    unsigned d = (unsigned)((unsigned char)v.p[i] - '0');
    if (d > 9) return -1;
    if (x <= 0xffffffffu) x = x * 10 + d;
  }
  return x > 0xffffffffu ? 0xffffffffu : (int64_t)x;
}

/* The usual CSeq, "1*9DIGIT SP token": 1 with num and method set, 0 for sip_parse_cseq(). */
static inline int cseq_fast(pctx *c, sip_str v, uint32_t *num, sip_str *meth) {
#ifdef SIP_SCAN_SSE2
  const char *p = v.p, *e = v.p + v.n, *q = p;
  if (!sip_fast_ok(e, c->rd)) return 0;
  uint32_t x = 0;
  unsigned d;
  while (q < e && q - p < 9 && (d = (unsigned)((unsigned char)*q - '0')) <= 9) {
    x = x * 10 + d;
    q++;
  }
  if (q == p || e - q < 2 || *q != ' ') return 0;
  const char *t = q + 1;
  if ((q = SIP_FSPAN(t, e, TOKEN)) != e || q == t) return 0;
  *num = x;
  *meth = sip_str_make(t, (size_t)(e - t));
  return 1;
#else
  (void)c;
  (void)v;
  (void)num;
  (void)meth;
  return 0;
#endif
}

/* 1*18DIGIT covering v: the value, or -1 for sip_parse_uint() to decide. */
static inline int64_t digits_fast(sip_str v) {
  if (v.n == 0 || v.n > 18) return -1;
  int64_t x = 0;
  for (size_t i = 0; i < v.n; i++) {
    unsigned d = (unsigned)((unsigned char)v.p[i] - '0');
    if (d > 9) return -1;
    x = x * 10 + d;
  }
  return x;
}

/* The typed parse of one index entry. first: it is the first entry of its id. */
static void typed(pctx *c, const sip_hdr *h, int first) {
  sip_msg *m = c->m;
  const char *err, *at;
  uint64_t u;
  switch (h->id) {
  case SIP_H_VIA: {
    sip_via tmp;
    if (sip_parse_via_rd(h->value.p, h->value.n, c->rd, first ? &m->via : &tmp, &err, &at) != 0)
      value_err(c, 400, at, err);
    break;
  }
  case SIP_H_FROM:
  case SIP_H_TO:
  case SIP_H_CONTACT:
  case SIP_H_ROUTE:
  case SIP_H_RECORD_ROUTE:
  case SIP_H_PATH:
  case SIP_H_SERVICE_ROUTE: {
    sip_addr tmp, *a = &tmp;
    if (first && h->id == SIP_H_FROM) a = &m->from;
    if (first && h->id == SIP_H_TO) a = &m->to;
    if (sip_parse_addr_hdr_rd((sip_hdr_id)h->id, h->value.p, h->value.n, c->rd, a, &err, &at) != 0)
      value_err(c, 400, at, err);
    break;
  }
  case SIP_H_CALL_ID:
    if ((at = callid_bad(c, h->value)) != NULL)
      value_err(c, 400, at, "bad Call-ID header: not word[@word]");
    else if (first) m->call_id = h->value;
    break;
  case SIP_H_CSEQ: {
    uint32_t num;
    sip_str meth;
    if (!cseq_fast(c, h->value, &num, &meth) &&
        sip_parse_cseq(h->value.p, h->value.n, &num, &meth, &err, &at) != 0) {
      value_err(c, 400, at, err);
      break;
    }
    sip_method_id mid = sip_method_lookup(meth.p, meth.n);
    /* CSeq method = request method (RFC 3261 §8.1.1.5). With an unknown request method the
     * answer is 501 (RFC 4475 §3.1.2.18). Known methods compare by id. */
    if (m->is_request && (mid != SIP_M_OTHER ? mid != m->method_id : !sip_str_eq(meth, m->method)))
      value_err(c, m->method_id == SIP_M_OTHER ? 501 : 400, meth.p,
                "bad CSeq header: method does not match the request method");
    if (first) {
      m->cseq = num;
      m->cseq_method = meth;
      m->cseq_method_id = mid;
    }
    break;
  }
  case SIP_H_MAX_FORWARDS:
    if ((int64_t)(u = (uint64_t)digits_fast(h->value)) >= 0 && u <= 255) {
      if (first) m->max_forwards = (int)u;
    } else if (sip_parse_uint(h->value.p, h->value.n, 255, &u) != 0)
      value_err(c, 400, h->value.p, "bad Max-Forwards header: not a number in 0..255");
    else if (first) m->max_forwards = (int)u;
    break;
  case SIP_H_CONTENT_LENGTH:
    if ((int64_t)(u = (uint64_t)digits_fast(h->value)) >= 0) {
      if (first) m->content_length = (int64_t)u;
    } else if (sip_parse_uint(h->value.p, h->value.n, INT64_MAX, &u) != 0)
      value_err(c, 400, h->value.p, "bad Content-Length header: not a non-negative decimal number");
    else if (first) m->content_length = (int64_t)u;
    break;
  case SIP_H_EXPIRES:
    if (first) {
      m->expires = delta_seconds(h->value);
      if (m->expires < 0) value_err(c, 400, h->value.p, "bad Expires header: not delta-seconds");
    }
    break;
  default: break;
  }
}

/* ---- the header index ------------------------------------------------------------------------ */

/* Headers with a typed parse in typed(). */
static const uint8_t typed_ids[SIP_H__COUNT] = {
  [SIP_H_VIA] = 1,     [SIP_H_FROM] = 1,          [SIP_H_TO] = 1,
  [SIP_H_CONTACT] = 1, [SIP_H_ROUTE] = 1,         [SIP_H_RECORD_ROUTE] = 1,
  [SIP_H_PATH] = 1,    [SIP_H_SERVICE_ROUTE] = 1, [SIP_H_CALL_ID] = 1,
  [SIP_H_CSEQ] = 1,    [SIP_H_MAX_FORWARDS] = 1,  [SIP_H_CONTENT_LENGTH] = 1,
  [SIP_H_EXPIRES] = 1,
};

static inline int add_entry(pctx *c, const char *name, size_t nlen, sip_str v, unsigned id,
                            unsigned line, unsigned flags) {
  sip_msg *m = c->m;
  if (m->nhdr >= c->maxh) {
    if (c->maxh == 256) return fatal(c, 400, name, "too many headers (limit 256)");
    return fatal(c, 400, name, "too many headers");
  }
  unsigned i = m->nhdr++;
  sip_hdr *h = &m->hdr[i];
  h->name = sip_str_make(name, nlen);
  h->value = v;
  h->id = (uint16_t)id;
  h->line = (uint16_t)line;
  /* only a value that still holds a CRLF after trimming is marked as folded */
  h->flags = (uint16_t)((flags && v.n && memchr(v.p, '\r', v.n)) ? SIP_HF_FOLDED : 0);
  h->next = SIP_NO_HDR;
  int first = m->first[id] == SIP_NO_HDR;
  if (first) m->first[id] = (uint16_t)i;
  else m->hdr[c->last[id]].next = (uint16_t)i;
  c->last[id] = (uint16_t)i;
  m->count[id]++;
  if (typed_ids[id]) typed(c, h, first);
  return 0;
}

/* An entry whose value needs nothing more (or was checked already): add_entry() without typed(). */
static inline int add_plain(pctx *c, const char *name, size_t nlen, sip_str v, unsigned id,
                            unsigned line) {
  sip_msg *m = c->m;
  unsigned i = m->nhdr;
  if (i >= c->maxh) {
    if (c->maxh == 256) return fatal(c, 400, name, "too many headers (limit 256)");
    return fatal(c, 400, name, "too many headers");
  }
  m->nhdr = i + 1;
  sip_hdr *h = &m->hdr[i];
  h->name = sip_str_make(name, nlen);
  h->value = v;
  h->id = (uint16_t)id;
  h->line = (uint16_t)line;
  h->flags = 0;
  h->next = SIP_NO_HDR;
  if (m->first[id] == SIP_NO_HDR) m->first[id] = (uint16_t)i;
  else m->hdr[c->last[id]].next = (uint16_t)i;
  c->last[id] = (uint16_t)i;
  m->count[id]++;
  return 0;
}

#define EMPTY(id, name) [id] = "bad " name " header: empty list element"
static const char *const empty_elem_msg[SIP_H__COUNT] = {
  EMPTY(SIP_H_VIA, "Via"),
  EMPTY(SIP_H_CONTACT, "Contact"),
  EMPTY(SIP_H_ROUTE, "Route"),
  EMPTY(SIP_H_RECORD_ROUTE, "Record-Route"),
  EMPTY(SIP_H_PATH, "Path"),
  EMPTY(SIP_H_SERVICE_ROUTE, "Service-Route"),
  EMPTY(SIP_H_ALLOW, "Allow"),
  EMPTY(SIP_H_SUPPORTED, "Supported"),
  EMPTY(SIP_H_REQUIRE, "Require"),
  EMPTY(SIP_H_PROXY_REQUIRE, "Proxy-Require"),
  EMPTY(SIP_H_UNSUPPORTED, "Unsupported"),
  EMPTY(SIP_H_ACCEPT, "Accept"),
  EMPTY(SIP_H_ACCEPT_ENCODING, "Accept-Encoding"),
  EMPTY(SIP_H_ACCEPT_LANGUAGE, "Accept-Language"),
  EMPTY(SIP_H_CONTENT_ENCODING, "Content-Encoding"),
  EMPTY(SIP_H_CONTENT_LANGUAGE, "Content-Language"),
  EMPTY(SIP_H_ALLOW_EVENTS, "Allow-Events"),
  EMPTY(SIP_H_IN_REPLY_TO, "In-Reply-To"),
  EMPTY(SIP_H_WARNING, "Warning"),
  EMPTY(SIP_H_ALERT_INFO, "Alert-Info"),
  EMPTY(SIP_H_CALL_INFO, "Call-Info"),
  EMPTY(SIP_H_ERROR_INFO, "Error-Info"),
  EMPTY(SIP_H_REASON, "Reason"),
  EMPTY(SIP_H_ACCEPT_CONTACT, "Accept-Contact"),
  EMPTY(SIP_H_REJECT_CONTACT, "Reject-Contact"),
  EMPTY(SIP_H_REQUEST_DISPOSITION, "Request-Disposition"),
};
#undef EMPTY

#ifdef SIP_SCAN_SSE2
/* Commas of x, or ~0 when it holds a '"' or '<' (among its first n bytes). */
static inline uint64_t list_block(__m128i x, size_t n) {
  unsigned o = (unsigned)_mm_movemask_epi8(
    _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')), _mm_cmpeq_epi8(x, _mm_set1_epi8('<'))));
  if (n < 16) o &= (1u << n) - 1;
  return o ? ~(uint64_t)0 : sip_eqmask(x, ',');
}

/* The elements ending at the bits of b (offsets from p), from *s on, into h[*i] (room for them
 * checked by the caller): 0 on an empty element. */
_Static_assert(offsetof(sip_hdr, line) == offsetof(sip_hdr, id) + 2 &&
                 offsetof(sip_hdr, flags) == offsetof(sip_hdr, id) + 4 &&
                 offsetof(sip_hdr, next) == offsetof(sip_hdr, id) + 6,
               "sip_hdr: id, line, flags and next adjacent (one store in list_elems())");

static inline int list_elems(sip_hdr *h, unsigned *i, const char *p, uint64_t b, const char **s,
                             sip_str name, uint64_t idline) {
  for (; b; b &= b - 1) {
    const char *x0 = *s, *x1 = p + (unsigned)__builtin_ctzll(b);
    *s = x1 + 1;
    /* usually one SP after the comma (x0 is readable: x1 is) */
    x0 += *x0 == ' ';
    if (x0 < x1 && (unsigned char)*x0 <= ' ')
      while (x0 < x1 && SIP_IS(*x0, SIP_C_WS)) x0++;
    if (x0 >= x1) return 0;
    if ((unsigned char)x1[-1] <= ' ')
      while (SIP_IS(x1[-1], SIP_C_WS)) x1--; /* stops at x0, which is not WS */
    sip_hdr *e = &h[*i];
    e->name = name;
    e->value = sip_str_make(x0, (size_t)(x1 - x0));
    /* id, line, flags 0, next: the entry after it, in one store */
    uint64_t w = idline | (uint64_t)(uint16_t)(*i + 1) << 48;
    memcpy(&e->id, &w, 8);
    (*i)++;
  }
  return 1;
}
#endif

/* An untyped list (Allow, Supported, ...) of up to 127 bytes without quotes or <>, trimmed:
 * every comma splits, found on a bit mask, and the elements go straight into the index (chained
 * at the end). 1 when done, 0 for add_list()'s loop (an empty element to report, no room left,
 * anything unusual), -1 on a fatal error. */
static inline int list_fast(pctx *c, const char *name, size_t nlen, sip_str v, unsigned id,
                            unsigned line) {
#ifdef SIP_SCAN_SSE2
  sip_msg *m = c->m;
  const char *p = v.p, *s = p;
  size_t n = v.n;
  if (!n || n > 127 || !sip_fast_ok(p + n, c->rd)) return 0;
  /* the end of the value closes the last element like a comma */
  uint64_t c0 = 0, c1 = 0, x;
  for (size_t off = 0; off < n && off < 64; off += 16) {
    if ((x = list_block(sip_load(p + off), n - off)) == ~(uint64_t)0) return 0;
    c0 |= x << off;
  }
  for (size_t off = 64; off < n; off += 16) {
    if ((x = list_block(sip_load(p + off), n - off)) == ~(uint64_t)0) return 0;
    c1 |= x << (off - 64);
  }
  if (n < 64) {
    c0 &= ((uint64_t)1 << n) - 1;
    /* one element: the value itself, trimmed already */
    if (!c0) return add_plain(c, name, nlen, v, id, line) == 0 ? 1 : -1;
    c0 |= (uint64_t)1 << n;
  } else {
    c1 = (c1 & (((uint64_t)1 << (n - 64)) - 1)) | (uint64_t)1 << (n - 64);
  }
  unsigned i0 = m->nhdr, i = i0;
  /* at most 128 elements: room for all of them, or add_list()'s loop words the limit */
  if (c->maxh - i0 < 128) return 0;
  sip_str nm = sip_str_make(name, nlen);
  uint64_t idline = (uint64_t)id | (uint64_t)line << 16;
  if (!list_elems(m->hdr, &i, p, c0, &s, nm, idline) ||
      !list_elems(m->hdr, &i, p + 64, c1, &s, nm, idline))
    return 0;
  m->hdr[i - 1].next = SIP_NO_HDR;
  if (m->first[id] == SIP_NO_HDR) m->first[id] = (uint16_t)i0;
  else m->hdr[c->last[id]].next = (uint16_t)i0;
  c->last[id] = (uint16_t)(i - 1);
  m->count[id] = (uint16_t)(m->count[id] + (i - i0));
  m->nhdr = i;
  return 1;
#else
  (void)c;
  (void)name;
  (void)nlen;
  (void)v;
  (void)id;
  (void)line;
  return 0;
#endif
}

/* Split a list header's value at commas outside quoted strings (with quoted-pairs) and <>
 * (RFC 3261 §7.3.1). An empty element ("a,,b", "a,") is an error (RFC 4475 §3.1.2.1). An empty
 * value gives one empty entry (Allow:, Supported: may be empty). */
static int add_list(pctx *c, const char *name, size_t nlen, sip_str v, unsigned id, unsigned line,
                    unsigned folded) {
  const char *p = v.p, *e = v.p + v.n, *s = p;
  unsigned n0 = c->m->nhdr;
  int r;
  if (!folded && !typed_ids[id] && (r = list_fast(c, name, nlen, v, id, line)) != 0)
    return r < 0 ? -1 : 0;
  /* most list lines hold one value: no comma, nothing to split */
  if (!v.n || !sip_find(p, e, c->end, ',')) return add_entry(c, name, nlen, v, id, line, folded);
  const char *bad = NULL, *bad_what = NULL;
  while (p < e) {
    p = sip_find3(p, e, c->end, ',', '"', '<');
    if (p >= e) break;
    char ch = *p;
    if (ch == ',') {
      sip_str el = sip_str_trim(sip_str_make(s, (size_t)(p - s)));
      if (!el.n && !bad) {
        bad = p;
        bad_what = empty_elem_msg[id];
      }
      if ((folded || typed_ids[id] ? add_entry(c, name, nlen, el, id, line, folded)
                                   : add_plain(c, name, nlen, el, id, line)) != 0)
        return -1;
      s = ++p;
    } else if (ch == '"') {
      /* to the closing quote; a backslash takes the next octet with it */
      for (p++;;) {
        p = sip_find2(p, e, c->end, '"', '\\');
        if (p >= e || *p == '"') break;
        p = e - p > 1 ? p + 2 : e;
      }
      if (p >= e) {
        if (!bad) {
          bad = s;
          bad_what = "bad header: unterminated quoted string";
        }
        break;
      }
      p++;
    } else if (ch == '<') {
      const char *gt = sip_find(p, e, c->end, '>');
      if (!gt) {
        p = e; /* the element parser reports the missing '>' */
        break;
      }
      p = gt + 1;
    }
  }
  sip_str el = sip_str_trim(sip_str_make(s, (size_t)(e - s)));
  if (!el.n && c->m->nhdr > n0 && !bad) {
    bad = e;
    bad_what = empty_elem_msg[id];
  }
  if (add_entry(c, name, nlen, el, id, line, folded) != 0) return -1;
  if (bad) value_err(c, 400, bad, bad_what);
  /* "Contact: *" stands alone (RFC 3261 §20.10) */
  if (id == SIP_H_CONTACT && c->m->nhdr - n0 > 1)
    for (unsigned i = n0; i < c->m->nhdr; i++)
      if (c->m->hdr[i].value.n == 1 && c->m->hdr[i].value.p[0] == '*')
        value_err(c, 400, c->m->hdr[i].value.p, "bad Contact header: '*' must be alone");
  return 0;
}

/* ---- the fast header line (SSE2) ----------------------------------------------------------------
 * The line's LF is known first (line_lf()). The name is found by the first ':' of the line (one
 * or two 16-byte compares), then looked up by its length and first letter and checked against
 * the lower-case name with one or two 16-byte compares. A typed value is parsed up to the line's
 * CR, where its grammar must end. Anything else (WS before the colon, line folding, a name
 * longer than 31 bytes, errors) takes the general path, parse_line(). */

/* name, first letter, id; L2 marks the second name of a length and first letter (after the
 * first). */
#define HNAMES(L, L2)                                                           \
  L(VIA, "via", 'v', SIP_H_VIA)                                                 \
  L(FROM, "from", 'f', SIP_H_FROM)                                              \
  L(TO, "to", 't', SIP_H_TO)                                                    \
  L(CALL_ID, "call-id", 'c', SIP_H_CALL_ID)                                     \
  L2(CONTACT, "contact", 'c', SIP_H_CONTACT)                                    \
  L(CSEQ, "cseq", 'c', SIP_H_CSEQ)                                              \
  L(MAX_FORWARDS, "max-forwards", 'm', SIP_H_MAX_FORWARDS)                      \
  L2(MIME_VERSION, "mime-version", 'm', SIP_H_MIME_VERSION)                     \
  L(CONTENT_LENGTH, "content-length", 'c', SIP_H_CONTENT_LENGTH)                \
  L(CONTENT_TYPE, "content-type", 'c', SIP_H_CONTENT_TYPE)                      \
  L(CONTENT_ENCODING, "content-encoding", 'c', SIP_H_CONTENT_ENCODING)          \
  L2(CONTENT_LANGUAGE, "content-language", 'c', SIP_H_CONTENT_LANGUAGE)         \
  L(EXPIRES, "expires", 'e', SIP_H_EXPIRES)                                     \
  L(MIN_EXPIRES, "min-expires", 'm', SIP_H_MIN_EXPIRES)                         \
  L(ROUTE, "route", 'r', SIP_H_ROUTE)                                           \
  L(RECORD_ROUTE, "record-route", 'r', SIP_H_RECORD_ROUTE)                      \
  L(PATH, "path", 'p', SIP_H_PATH)                                              \
  L(SERVICE_ROUTE, "service-route", 's', SIP_H_SERVICE_ROUTE)                   \
  L(ALLOW, "allow", 'a', SIP_H_ALLOW)                                           \
  L(SUPPORTED, "supported", 's', SIP_H_SUPPORTED)                               \
  L(REQUIRE, "require", 'r', SIP_H_REQUIRE)                                     \
  L(PROXY_REQUIRE, "proxy-require", 'p', SIP_H_PROXY_REQUIRE)                   \
  L(UNSUPPORTED, "unsupported", 'u', SIP_H_UNSUPPORTED)                         \
  L(ACCEPT, "accept", 'a', SIP_H_ACCEPT)                                        \
  L(ACCEPT_ENCODING, "accept-encoding", 'a', SIP_H_ACCEPT_ENCODING)             \
  L2(ACCEPT_LANGUAGE, "accept-language", 'a', SIP_H_ACCEPT_LANGUAGE)            \
  L(WWW_AUTHENTICATE, "www-authenticate", 'w', SIP_H_WWW_AUTHENTICATE)          \
  L(AUTHORIZATION, "authorization", 'a', SIP_H_AUTHORIZATION)                   \
  L(PROXY_AUTHENTICATE, "proxy-authenticate", 'p', SIP_H_PROXY_AUTHENTICATE)    \
  L(PROXY_AUTHORIZATION, "proxy-authorization", 'p', SIP_H_PROXY_AUTHORIZATION) \
  L(AUTHENTICATION_INFO, "authentication-info", 'a', SIP_H_AUTHENTICATION_INFO) \
  L(SUBJECT, "subject", 's', SIP_H_SUBJECT)                                     \
  L(EVENT, "event", 'e', SIP_H_EVENT)                                           \
  L(ALLOW_EVENTS, "allow-events", 'a', SIP_H_ALLOW_EVENTS)                      \
  L(REFER_TO, "refer-to", 'r', SIP_H_REFER_TO)                                  \
  L2(REPLY_TO, "reply-to", 'r', SIP_H_REPLY_TO)                                 \
  L(REFERRED_BY, "referred-by", 'r', SIP_H_REFERRED_BY)                         \
  L2(RETRY_AFTER, "retry-after", 'r', SIP_H_RETRY_AFTER)                        \
  L(SESSION_EXPIRES, "session-expires", 's', SIP_H_SESSION_EXPIRES)             \
  L(MIN_SE, "min-se", 'm', SIP_H_MIN_SE)                                        \
  L(RSEQ, "rseq", 'r', SIP_H_RSEQ)                                              \
  L2(RACK, "rack", 'r', SIP_H_RACK)                                             \
  L(USER_AGENT, "user-agent", 'u', SIP_H_USER_AGENT)                            \
  L(SERVER, "server", 's', SIP_H_SERVER)                                        \
  L(DATE, "date", 'd', SIP_H_DATE)                                              \
  L(TIMESTAMP, "timestamp", 't', SIP_H_TIMESTAMP)                               \
  L(WARNING, "warning", 'w', SIP_H_WARNING)                                     \
  L(CONTENT_DISPOSITION, "content-disposition", 'c', SIP_H_CONTENT_DISPOSITION) \
  L(ORGANIZATION, "organization", 'o', SIP_H_ORGANIZATION)                      \
  L(PRIORITY, "priority", 'p', SIP_H_PRIORITY)                                  \
  L(IN_REPLY_TO, "in-reply-to", 'i', SIP_H_IN_REPLY_TO)                         \
  L(ALERT_INFO, "alert-info", 'a', SIP_H_ALERT_INFO)                            \
  L(CALL_INFO, "call-info", 'c', SIP_H_CALL_INFO)                               \
  L(ERROR_INFO, "error-info", 'e', SIP_H_ERROR_INFO)                            \
  L(REASON, "reason", 'r', SIP_H_REASON)                                        \
  L(ACCEPT_CONTACT, "accept-contact", 'a', SIP_H_ACCEPT_CONTACT)                \
  L(REJECT_CONTACT, "reject-contact", 'r', SIP_H_REJECT_CONTACT)                \
  L(REQUEST_DISPOSITION, "request-disposition", 'r', SIP_H_REQUEST_DISPOSITION) \
  L(IDENTITY, "identity", 'i', SIP_H_IDENTITY)                                  \
  L(SUBSCRIPTION_STATE, "subscription-state", 's', SIP_H_SUBSCRIPTION_STATE)    \
  L(C_A, "a", 'a', SIP_H_ACCEPT_CONTACT)                                        \
  L(C_B, "b", 'b', SIP_H_REFERRED_BY)                                           \
  L(C_C, "c", 'c', SIP_H_CONTENT_TYPE)                                          \
  L(C_D, "d", 'd', SIP_H_REQUEST_DISPOSITION)                                   \
  L(C_E, "e", 'e', SIP_H_CONTENT_ENCODING)                                      \
  L(C_F, "f", 'f', SIP_H_FROM)                                                  \
  L(C_I, "i", 'i', SIP_H_CALL_ID)                                               \
  L(C_J, "j", 'j', SIP_H_REJECT_CONTACT)                                        \
  L(C_K, "k", 'k', SIP_H_SUPPORTED)                                             \
  L(C_L, "l", 'l', SIP_H_CONTENT_LENGTH)                                        \
  L(C_M, "m", 'm', SIP_H_CONTACT)                                               \
  L(C_O, "o", 'o', SIP_H_EVENT)                                                 \
  L(C_R, "r", 'r', SIP_H_REFER_TO)                                              \
  L(C_S, "s", 's', SIP_H_SUBJECT)                                               \
  L(C_T, "t", 't', SIP_H_TO)                                                    \
  L(C_U, "u", 'u', SIP_H_ALLOW_EVENTS)                                          \
  L(C_V, "v", 'v', SIP_H_VIA)                                                   \
  L(C_X, "x", 'x', SIP_H_SESSION_EXPIRES)                                       \
  L(C_Y, "y", 'y', SIP_H_IDENTITY)

#ifdef SIP_SCAN_SSE2
#define HN_ENUM(tag, s, c0, id) HN_##tag,
enum { HNAMES(HN_ENUM, HN_ENUM) HN__COUNT };
/* What the header loop does with a known name's value: which fast parser of sip_fast.h takes
 * it (each must end at the line's CR), or none (HK_PLAIN: the value as it is, or split as a
 * list; Expires too, whose delta-seconds are read once the value is known). One byte of the
 * name's entry, so that the loop dispatches on it without looking the id up in typed_ids[]
 * again. */
enum {
  HK_PLAIN,
  HK_VIA,
  HK_FROM,
  HK_TO,
  HK_ADDR,
  HK_NAMEADDR,
  HK_CALL_ID,
  HK_CSEQ,
  HK_MAX_FORWARDS,
  HK_CONTENT_LENGTH
};
#define HKIND(id)                                                                \
  ((id) == SIP_H_VIA       ? HK_VIA                                              \
   : (id) == SIP_H_FROM    ? HK_FROM                                             \
   : (id) == SIP_H_TO      ? HK_TO                                               \
   : (id) == SIP_H_CONTACT ? HK_ADDR                                             \
   : ((id) == SIP_H_ROUTE || (id) == SIP_H_RECORD_ROUTE || (id) == SIP_H_PATH || \
      (id) == SIP_H_SERVICE_ROUTE)                                               \
     ? HK_NAMEADDR                                                               \
   : (id) == SIP_H_CALL_ID        ? HK_CALL_ID                                   \
   : (id) == SIP_H_CSEQ           ? HK_CSEQ                                      \
   : (id) == SIP_H_MAX_FORWARDS   ? HK_MAX_FORWARDS                              \
   : (id) == SIP_H_CONTENT_LENGTH ? HK_CONTENT_LENGTH                            \
                                  : HK_PLAIN)
/* the case bit (0x20) where the literal has a letter (0x40 set): '-' compares exactly; the
 * literal padded with NULs so that every index up to 15 is inside it */
#define HN_F(s, i) (char)(((s "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0")[i] & 0x40) >> 1)
#define HN_FOLD(s)                                                                            \
  {                                                                                           \
    HN_F(s, 0), HN_F(s, 1), HN_F(s, 2), HN_F(s, 3), HN_F(s, 4), HN_F(s, 5), HN_F(s, 6),       \
      HN_F(s, 7), HN_F(s, 8), HN_F(s, 9), HN_F(s, 10), HN_F(s, 11), HN_F(s, 12), HN_F(s, 13), \
      HN_F(s, 14), HN_F(s, 15)                                                                \
  }
#define HN_ENTRY(tag, s, c0, id) {s, HKIND(id), id, 0, HN_FOLD(s)},
#define HN_ENTRY2(tag, s, c0, id) {s, HKIND(id), id, 1, HN_FOLD(s)},
/* The lower-case name, NUL padded, then its kind and id (names of up to 19 bytes: only the
 * first ones are compared), then the case bits of its first 16 bytes; 48 bytes, 16-byte aligned
 * for the compares. Entry 0 is none. */
static const struct hname {
  char s[29];
  uint8_t kind; /* HK_* */
  uint8_t id;
  uint8_t second; /* shares length and first letter with the entry before */
  char f[16];     /* 0x20 where s has a letter (hname_eq16()) */
} hnames[HN__COUNT + 2]
  __attribute__((aligned(16))) = {{"", HK_PLAIN, SIP_H__COUNT, 0, {0}},
                                  HNAMES(HN_ENTRY, HN_ENTRY2){"", HK_PLAIN, SIP_H__COUNT, 0, {0}}};
#define HN_SLOT(tag, s, c0, id) [(sizeof(s) - 1) * 32 + ((c0)&31)] = HN_##tag + 1,
#define HN_NONE(tag, s, c0, id)
/* (length, first letter & 31) -> entry */
static const uint8_t hslot[20 * 32] = {HNAMES(HN_SLOT, HN_NONE)};
#define HN_OFF(tag, s, c0, id) \
  [(sizeof(s) - 1) * 32 + ((c0)&31)] = (HN_##tag + 1) * sizeof(struct hname),
/* the same as byte offsets into hnames[] (one shift less per line), used for names of up to 15
 * bytes (hname_find16()) */
static const uint16_t hslot16[20 * 32] = {HNAMES(HN_OFF, HN_NONE)};
_Static_assert(sizeof hnames <= 0xffff, "hslot16: offsets into hnames[] fit 16 bits");

/* Is the name of n bytes (v0, v1: the line's first 32 bytes) entry h, case folded? */
static inline int hname_eq(const struct hname *h, __m128i v0, __m128i v1, size_t n) {
  const __m128i b40 = _mm_set1_epi8(0x40);
  __m128i l0 = _mm_load_si128((const __m128i *)(const void *)h->s);
  /* fold case only where the literal has a letter (0x40 set): '-' compares exactly */
  __m128i f0 = _mm_srli_epi16(_mm_and_si128(l0, b40), 1);
  unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_or_si128(v0, f0), l0));
  /* the first difference at or after n */
  if (n < 16) return sip_ctz(~m | 0x10000u) >= n;
  if (m != 0xffff) return 0;
  __m128i l1 = _mm_load_si128((const __m128i *)(const void *)(h->s + 16));
  __m128i f1 = _mm_srli_epi16(_mm_and_si128(l1, b40), 1);
  m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_or_si128(v1, f1), l1));
  return sip_ctz(~m | 0x10000u) >= n - 16;
}

/* The entry of the name of n bytes at lp, or entry 0 (id SIP_H__COUNT) when it is not a known
 * one: names of 16 bytes or more, out of line (few are that long). */
static __attribute__((noinline)) const struct hname *hname_find(const char *lp, size_t n,
                                                                __m128i v0, __m128i v1) {
  if (n >= 20) return &hnames[0];
  const struct hname *h = &hnames[hslot[n * 32 + ((unsigned char)lp[0] & 31)]];
  if (hname_eq(h, v0, v1, n)) return h; /* entry 0 matches nothing: it is the answer */
  if (h[1].second && hname_eq(h + 1, v0, v1, n)) return h + 1;
  return &hnames[0];
}

/* Is the name of n < 16 bytes (v0: the line's first 16 bytes) entry h, case folded? */
static inline int hname_eq16(const struct hname *h, __m128i v0, size_t n) {
  __m128i l0 = _mm_load_si128((const __m128i *)(const void *)h->s);
  __m128i f0 = _mm_load_si128((const __m128i *)(const void *)h->f);
  unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_or_si128(v0, f0), l0));
  return sip_ctz(~m) >= n; /* ~m has its bits 16..31 set */
}

/* hname_find() for a name of n < 16 bytes, the usual case, inline. */
static inline const struct hname *hname_find16(const char *lp, size_t n, __m128i v0) {
  unsigned off = hslot16[n * 32 + ((unsigned char)lp[0] & 31)];
  const struct hname *h = (const struct hname *)(const void *)((const char *)hnames + off);
  if (hname_eq16(h, v0, n)) return h;
  if (h[1].second && hname_eq16(h + 1, v0, n)) return h + 1;
  return &hnames[0];
}
#endif

/* One header line, as found: name, trimmed value, id, where the next line starts. */
typedef struct hline {
  const char *name;
  size_t nlen;
  sip_str value;
  unsigned id, folded;
  const char *next;
} hline;

/* The general header line at lp: message-header = field-name HCOLON field-value CRLF; HCOLON =
 * *(SP/HTAB) ":" SWS; a CRLF followed by SP/HTAB folds the line (RFC 3261 §7.3.1). 1 when l is
 * filled, -1 on a fatal error. */
static int parse_line(pctx *c, const char *lp, hline *l) {
  const char *le = c->lim_end;
  const size_t ml = line_max(c);
  /* the line end first (memchr is vectorized), then everything is bounded by it */
  const char *stop = (size_t)(le - lp) > ml ? lp + ml : le;
  const char *lf = memchr(lp, '\n', (size_t)(stop - lp));
  if (!lf) return no_line_end(c, lp, "header section not terminated by an empty line");
  if (lf == lp || lf[-1] != '\r') return fatal(c, 400, lf, "bad header line: LF without CR");
  const char *q = scan_token(lp, lf - 1);
  size_t nlen = (size_t)(q - lp);
  if (nlen == 0)
    return fatal(c, 400, lp,
                 is_wsp(*lp) ? "bad header line: continuation line without a header"
                             : "bad header line: name is not a token");
  if (*q != ':') {
    while (q < lf && is_wsp(*q)) q++;
    if (*q != ':') return fatal(c, 400, q, "bad header line: expected ':' after the name");
  }
  const char *v0 = q + 1;
  unsigned folded = 0;
  /* folding: a line starting with SP or HTAB continues the value */
  while (le - lf > 1 && is_wsp(lf[1])) {
    const char *pl = lf + 1;
    stop = (size_t)(le - pl) > ml ? pl + ml : le;
    lf = memchr(pl, '\n', (size_t)(stop - pl));
    if (!lf) return no_line_end(c, pl, "header section not terminated by an empty line");
    if (lf[-1] != '\r') return fatal(c, 400, lf, "bad header line: LF without CR");
    folded = 1;
  }
  const char *ve = lf - 1;
  while (v0 < ve && SIP_IS(*v0, SIP_C_WS)) v0++;
  while (ve > v0 && SIP_IS(ve[-1], SIP_C_WS)) ve--;
  l->name = lp;
  l->nlen = nlen;
  l->value = sip_str_make(v0, (size_t)(ve - v0));
  l->id = sip_hdr_lookup(lp, nlen);
  l->folded = folded;
  l->next = lf + 1;
  return 1;
}

static inline int index_line(pctx *c, const char *name, size_t nlen, sip_str v, unsigned id,
                             unsigned line, unsigned folded) {
  if (sip_hdr_list_ids[id]) return add_list(c, name, nlen, v, id, line, folded);
  return add_entry(c, name, nlen, v, id, line, folded);
}

/* A line of the fast path once its value is known: the typed parse on the fast scanners, then
 * the entry. 1 when done, 0 when the value is for index_line() (a list to split, anything
 * unusual, an error to word), -1 on a fatal error. */
static inline int fast_entry(pctx *c, const char *name, size_t nlen, sip_str v, unsigned id,
                             unsigned line) {
  sip_msg *m = c->m;
  if (typed_ids[id]) {
    int first = m->first[id] == SIP_NO_HDR;
    /* the typed values the open-ended attempt refused (index_line(), typed()), but the short
     * numbers of the last lines */
    int64_t x;
    switch (id) {
    case SIP_H_EXPIRES:
      if (first && (m->expires = delta_seconds(v)) < 0) return 0;
      break;
    case SIP_H_CONTENT_LENGTH:
      if ((x = digits_fast(v)) < 0) return 0;
      if (first) m->content_length = x;
      break;
    case SIP_H_MAX_FORWARDS:
      if ((x = digits_fast(v)) < 0 || x > 255) return 0;
      if (first) m->max_forwards = (int)x;
      break;
    default: return 0;
    }
  } else if (sip_hdr_list_ids[id]) {
    return 0;
  }
  return add_plain(c, name, nlen, v, id, line) == 0 ? 1 : -1;
}

#ifdef SIP_SCAN_SSE2
/* sip_addr_fast_() out of line: the header loop keeps its registers (fewer spills there). */
static __attribute__((noinline)) const char *addr_fast(const char *p, const char *e, const char *rd,
                                                       sip_addr *a, int nameaddr_only) {
  return sip_addr_fast_(p, e, rd, a, nameaddr_only);
}
/* the same, the grammar only: for the values whose results sip_parse() does not keep */
static __attribute__((noinline)) const char *addr_check(const char *p, const char *e,
                                                        const char *rd, int nameaddr_only) {
  return sip_addr_fast_(p, e, rd, NULL, nameaddr_only);
}
#endif

#ifdef SIP_SCAN_SSE2
#define LOAD_LEN 16 /* the header loop's loads (SSE2); a name it looks up ends within two */

/* The LF of the header line at lp, whose first 16 bytes are v0 (the header loop loads them for
 * the name anyway), or NULL when there is none before le: in v0, or 16 bytes at a time after it
 * while a load at q <= sstop stays inside the buffer and starts before le, then byte-wise: the
 * search of sip_find() with one bound check per 16 bytes instead of two, the bound computed once
 * per message (sip_find() here measured slower on the whole parse). This is what the header
 * loop does first on a line: the next line's start then depends on this search alone, not on the
 * typed parse of this one, so that the CPU can parse several lines at once. */
static inline const char *line_lf(__m128i v0, const char *lp, const char *sstop, const char *le,
                                  const char *end) {
  unsigned k = sip_eqmask(v0, '\n');
  if (k) return lp + sip_ctz(k);
  for (const char *q = lp + 16;; q += 16) {
    if (q > sstop) return q < le ? sip_find_lf(q, le, end) : NULL;
    if ((k = sip_eqmask(sip_load(q), '\n')) != 0) return q + sip_ctz(k);
  }
}

/* The typed value of the given kind at [vv, cr), the line's CR, by the fast parsers of
 * sip_fast.h, which must end at cr. Returns cr, with the typed fields of the first such header
 * set; or NULL: the general path parses the value again (and words any error). The typed
 * results wait for the end of the grammar, but Via, From and To, which the general path parses
 * again when refused. */
static inline const char *fast_typed(pctx *c, sip_msg *m, unsigned kind, int first, const char *vv,
                                     const char *cr) {
  const char *r = NULL, *q;
  switch (kind) {
  case HK_VIA: {
    sip_via tmp, *vp = first ? &m->via : &tmp;  // cppcheck-suppress uninitvar ; filled next
    sip_via_init_fast(vp);
    r = sip_via_fast_(vv, cr, vp);
    break;
  }
  case HK_FROM:
  case HK_TO:
  case HK_ADDR:
  case HK_NAMEADDR: {
    sip_addr *a = NULL;
    if (first && kind == HK_FROM) a = &m->from;
    if (first && kind == HK_TO) a = &m->to;
    r = a ? addr_fast(vv, cr, c->rd, a, 0) : addr_check(vv, cr, c->rd, kind == HK_NAMEADDR);
    break;
  }
  case HK_CALL_ID:
    /* callid = word [ "@" word ] (RFC 3261 §25.1) */
    if ((q = SIP_FSPAN(vv, cr, WORD)) == vv) return NULL;
    if (q < cr && *q == '@') {
      const char *w = q + 1;
      if ((q = SIP_FSPAN(w, cr, WORD)) == w) return NULL;
    }
    if (q != cr) return NULL;
    r = q;
    if (first) m->call_id = sip_str_make(vv, (size_t)(r - vv));
    break;
  case HK_CSEQ: {
    /* 1*7DIGIT SP token */
    unsigned k;
    uint64_t x = sip_digits8s(vv, &k);
    const char *w = vv + k;
    if (k == 0 || k == 8 || w >= cr || *w != ' ') return NULL;
    if (++w >= cr) return NULL;
    if ((q = SIP_FSPAN(w, cr, TOKEN)) == w || q != cr) return NULL;
    size_t mn = (size_t)(q - w);
    sip_method_id mid;
    if (m->is_request) {
      /* the request's method, whose id is known (a mismatch is for typed() to report) */
      if (mn != m->method.n) return NULL;
      if (mn <= 8) {
        /* 8 bytes readable at both: the request line goes on, and w < cr < tb */
        uint64_t a, b2, mask = mn == 8 ? ~(uint64_t)0 : ((uint64_t)1 << (8 * mn)) - 1;
        memcpy(&a, w, 8);
        memcpy(&b2, m->method.p, 8);
        if ((a ^ b2) & mask) return NULL;
      } else if (memcmp(w, m->method.p, mn) != 0) {
        return NULL;
      }
      mid = m->method_id;
    } else {
      mid = sip_method_lookup(w, mn);
    }
    r = q;
    if (first) {
      m->cseq = (uint32_t)x;
      m->cseq_method = sip_str_make(w, mn);
      m->cseq_method_id = mid;
    }
    break;
  }
  case HK_MAX_FORWARDS:
  case HK_CONTENT_LENGTH: {
    unsigned k;
    uint64_t x = sip_digits8s(vv, &k);
    if (k == 0 || k == 8 || vv + k != cr) return NULL;
    if (kind == HK_MAX_FORWARDS) {
      if (x > 255) return NULL;
      if (first) m->max_forwards = (int)x;
    } else if (first) {
      m->content_length = (int64_t)x;
    }
    r = vv + k;
    break;
  }
  default: /* HK_PLAIN does not come here: no range check for the jump table */
    __builtin_unreachable();
  }
  return r == cr ? r : NULL;
}

/* What fast_line() did with a header line. */
typedef enum fast_res {
  FAST_GENERAL, /* nothing: the line is the general path's (parse_line()) */
  FAST_DONE,    /* indexed (and typed): the next line starts at *next */
  FAST_ERROR    /* a fatal error, set */
} fast_res;

/* The common header line at lp, "name:" value CRLF without folding, taken apart with 16-byte
 * loads: its LF first (line_lf()), then the name by the first ':' within two loads, then a
 * typed value by fast_typed() up to the line's CR, any other value by the list splitter or as
 * it is. lp is no blank line, LOAD_LEN bytes at it are readable and its first CRLF_LEN octets
 * are inside the limits; a typed value's CR must come before tb (see parse_headers()). */
static inline fast_res fast_line(pctx *c, sip_msg *m, const char *lp, unsigned line, const char *le,
                                 const char *end, const char *tb, const char *sstop, size_t ml,
                                 const char **next) {
  __m128i v0 = sip_load(lp);
  const char *lf = line_lf(v0, lp, sstop, le, end);
  unsigned cm = sip_eqmask(v0, ':');
  size_t n;
  const struct hname *hn;
  if (cm) {
    n = sip_ctz(cm);
    hn = hname_find16(lp, n, v0);
  } else {
    if (end - lp < 2 * LOAD_LEN) return FAST_GENERAL;
    __m128i v1 = sip_load(lp + LOAD_LEN);
    if (!(cm = sip_eqmask(v1, ':'))) return FAST_GENERAL;
    n = LOAD_LEN + sip_ctz(cm);
    hn = hname_find(lp, n, v0, v1);
  }
  unsigned id = hn->id, kind = hn->kind;
  if (id == SIP_H__COUNT) {
    if (n == 0 || SIP_SPAN(lp, lp + n, end, TOKEN) != lp + n) return FAST_GENERAL;
    id = SIP_H_OTHER;
  }
  const char *v = lp + n + 1;
  /* The usual line end: its CR before tb (so within the limits, and LOAD_LEN bytes readable
   * past it), then LF (line_lf() found it), and no folding (the next line does not start with SP
   * or HTAB). lf NULL gives the largest address. The name holds no CR or LF (it is a token),
   * so the colon is before the CR and v is at most cr. */
  uintptr_t crp = (uintptr_t)lf - 1;
  const char *cr = (const char *)crp;
  int eol = 0;
  if (crp < (uintptr_t)tb) {
    uint32_t w; /* CR LF and the next line's first octet (readable: cr < tb) */
    memcpy(&w, cr, 4);
    unsigned c2 = (w >> 16) & 0xff;
    eol = (w & 0xff) == '\r' && (c2 > ' ' || (c2 != ' ' && c2 != '\t'));
  }
  if (kind != HK_PLAIN && eol) {
    const char *vv = v + (*v == ' ');
    if (vv < cr && fast_typed(c, m, kind, m->first[id] == SIP_NO_HDR, vv, cr)) {
      if (add_plain(c, lp, n, sip_str_make(vv, (size_t)(cr - vv)), id, line) != 0)
        return FAST_ERROR;
      *next = lf + 1;
      return FAST_DONE;
    }
  }
  /* a line longer than max_line is parse_line()'s to report */
  if (!eol && (!lf || lf >= le || lf <= v || (size_t)(lf - lp) >= ml || lf[-1] != '\r' ||
               (le - lf > 1 && (lf[1] == ' ' || lf[1] == '\t'))))
    return FAST_GENERAL;
  /* the value's WS: usually one SP after the colon (v < ve: lf[-1] is the CR) */
  const char *ve = lf - 1;
  if (*v == ' ') v++;
  if ((unsigned char)*v <= ' ')
    while (v < ve && SIP_IS(*v, SIP_C_WS)) v++;
  if ((unsigned char)ve[-1] <= ' ')
    while (ve > v && SIP_IS(ve[-1], SIP_C_WS)) ve--;
  sip_str val = sip_str_make(v, (size_t)(ve - v));
  int r = sip_hdr_list_ids[id] && !typed_ids[id] ? list_fast(c, lp, n, val, id, line)
                                                 : fast_entry(c, lp, n, val, id, line);
  if (r < 0 || (r == 0 && index_line(c, lp, n, val, id, line, 0) != 0)) return FAST_ERROR;
  *next = lf + 1;
  return FAST_DONE;
}
#endif

/* The header section from line start lp. Returns the end of the blank line, or NULL (fatal
 * error set). Each line goes to fast_line() where it may (x86-64); what it does not take (WS
 * before the colon, folding, a name of 2 * LOAD_LEN bytes or more, the last LOAD_LEN bytes of
 * the buffer, errors) is parse_line()'s. */
static const char *parse_headers(pctx *c, const char *lp) {
  sip_msg *m = c->m;
  const char *le = c->lim_end;
#ifdef SIP_SCAN_SSE2
  const char *end = c->end;
  const size_t ml = line_max(c);
  /* typed values end before this: their CRLF and the next octet inside the limits, LOAD_LEN
   * readable bytes past any octet a scan looks at (rd is the buffer's start without SSSE3) */
  const char *tbound = lp;
  if (c->rd - lp > LOAD_LEN) tbound = c->rd - LOAD_LEN;
  if (le - lp < CRLF_LEN) tbound = lp;
  else if (le - CRLF_LEN < tbound) tbound = le - CRLF_LEN;
  /* A line starting at or before hot0 has its CRLF_LEN octets inside the limits and LOAD_LEN
   * readable ones (lp - 1: none has). A typed value's line must also have its CR before tb, the
   * smaller of tbound and max_line octets after the start of a window of lines, so that its
   * length needs no check: the window starts at a line and spans half a max_line (up to hot);
   * the next line after it starts a new one. Only a header section longer than that has more
   * than one window. */
  const char *hot0 = lp - 1;
  if (end - lp >= LOAD_LEN && le - lp >= CRLF_LEN)
    hot0 = end - LOAD_LEN < le - CRLF_LEN ? end - LOAD_LEN : le - CRLF_LEN;
  const char *hot = lp - 1, *tb = tbound;
  /* line_lf() loads LOAD_LEN bytes at q <= sstop: inside the buffer, and q before le */
  const char *sstop =
    end - lp >= LOAD_LEN ? (end - LOAD_LEN < le - 1 ? end - LOAD_LEN : le - 1) : lp - 1;
#endif
  unsigned line = 0;
  for (;; line++) {
#ifdef SIP_SCAN_SSE2
    if (lp > hot && lp <= hot0) {
      /* a new window: tb = min(tbound, lp + ml - 1), as sizes (a max_line near SIZE_MAX wraps
       * ml to 0 or 1: then no line is typed here, as the general path takes none); hot >= lp */
      ptrdiff_t room = tbound - lp;
      tb = room > 0 && (size_t)room >= ml ? lp + ml - 1 : tbound;
      hot = hot0 - lp > (ptrdiff_t)(ml / 2) ? lp + ml / 2 : hot0;
    }
    if (lp <= hot && *lp != '\r') {
      const char *next;
      fast_res r = fast_line(c, m, lp, line, le, end, tb, sstop, ml, &next);
      if (r == FAST_DONE) {
        lp = next;
        continue;
      }
      if (r == FAST_ERROR) {
        m->nlines = line;
        return NULL;
      }
    }
#endif
    if (le - lp < CRLF_LEN) {
      m->nlines = line;
      no_line_end(c, lp, "header section not terminated by an empty line");
      return NULL;
    }
    if (*lp == '\r') {
      m->nlines = line;
      if (lp[1] == '\n') return lp + 2;
      fatal(c, 400, lp, "bad header line: CR without LF");
      return NULL;
    }
    hline l = {NULL, 0, {NULL, 0}, 0, 0, NULL}; /* quiets -Wmaybe-uninitialized */
    m->nlines = line;
    if (parse_line(c, lp, &l) < 0) return NULL;
    if (index_line(c, l.name, l.nlen, l.value, l.id, line, l.folded) != 0) return NULL;
    lp = l.next;
  }
}

static int parse_msg(const char *buf, size_t len, sip_msg *m, sip_hdr *hdr, unsigned maxhdr,
                     const sip_limits *lim, unsigned flags) {
  pctx c;
  if (!lim) lim = &sip_default_limits;
  /* Field by field rather than one memset of the whole struct: sip_msg is nearly 1 KiB and a
   * large memset (rep stos) costs more than the rest of a short message's parse. */
  clear_ids(m);
  m->buf = buf;
  m->len = 0;
  m->is_request = 0;
  m->method = m->ruri = m->reason = m->version = m->body = m->call_id = m->cseq_method =
    SIP_STR_NULL;
  m->method_id = SIP_M_OTHER;
  m->uri.scheme = (sip_uri_scheme)0;
  m->status = 0;
  m->hdr = hdr;
  m->nhdr = 0;
  m->maxhdr = maxhdr;
  m->nlines = 0;
  m->cseq = 0;
  m->cseq_method_id = SIP_M_OTHER;
  m->content_length = -1;
  m->max_forwards = -1;
  m->expires = -1;
  m->err.status = 0;
  m->err.off = 0;
  m->err.what = NULL;
  c.m = m;
  c.maxh = (unsigned)min_sz(min_sz(maxhdr, lim->max_headers), SIP_NO_HDR);
  c.max_line = lim->max_line;
  c.line_err = 0;
  c.end = buf + len;
#ifdef SIP_SCAN_SSE2
  c.rd = sip_scan_ssse3() ? c.end : buf;
#else
  c.rd = buf;
#endif

  const char *p = buf, *end = buf + len;
  /* CRLFs before the start line are ignored (RFC 3261 §7.5; keepalives, RFC 5626 §3.5.1) */
  while (end - p >= 2 && p[0] == '\r' && p[1] == '\n') p += 2;
  m->buf = c.buf = p;
  if (p == end) return fatal(&c, 400, p, "empty message");
  c.lim_end = (size_t)(end - p) > lim->max_msg ? p + lim->max_msg : end;

  const char *lf = find_lf(&c, p, p);
  if (!lf) return no_line_end(&c, p, "start line not terminated");
  if (lf == p || lf[-1] != '\r') return fatal(&c, 400, lf, "bad start line: LF without CR");
  const char *le = lf - 1;
  if (le == p) return fatal(&c, 400, p, "empty start line");
  int r =
    (le - p >= 4 && sip_lower((unsigned char)p[0]) == 's' &&
     sip_lower((unsigned char)p[1]) == 'i' && sip_lower((unsigned char)p[2]) == 'p' && p[3] == '/')
      ? parse_status_line(&c, p, le)
      : parse_request_line(&c, p, le);
  /* After a bad start line the headers are still indexed (and checked), so that the request can
   * be answered (505, 400) with its Via, From, To, Call-ID and CSeq; the start line's error
   * stays the one reported. */
  if (r != 0) c.line_err = 1;

  const char *hend = parse_headers(&c, lf + 1);
  if (!hend) return -1;

  /* Content-Length and the body (RFC 3261 §18.3, §20.14) */
  if (m->count[SIP_H_CONTENT_LENGTH] > 1)
    value_err(&c, 400, m->hdr[m->hdr[m->first[SIP_H_CONTENT_LENGTH]].next].value.p,
              "duplicate Content-Length header");
  size_t avail = (size_t)(end - hend);
  if (m->content_length >= 0) {
    if ((uint64_t)m->content_length > avail) {
      value_err(&c, 400, end, "body shorter than Content-Length");
      m->body = sip_str_make(hend, avail);
    } else {
      /* extra octets after the body are not part of the message (§18.3) */
      m->body = sip_str_make(hend, (size_t)m->content_length);
    }
  } else {
    if ((flags & SIP_PARSE_STREAM) && m->count[SIP_H_CONTENT_LENGTH] == 0)
      value_err(&c, 400, hend, "missing Content-Length header (required on a stream transport)");
    /* datagram without Content-Length: the body is the rest of the datagram */
    m->body = sip_str_make(hend, avail);
  }
  m->len = (size_t)(m->body.p + m->body.n - m->buf);
  if (m->len > lim->max_msg) return fatal(&c, 513, m->buf + lim->max_msg, "message too large");
  return m->err.status ? -1 : 0;
}

/* The typed Via, From and To are set by the parse of their first entry; without one, here. */
int sip_parse(const char *buf, size_t len, sip_msg *m, sip_hdr *hdr, unsigned maxhdr,
              const sip_limits *lim, unsigned flags) {
  int r = parse_msg(buf, len, m, hdr, maxhdr, lim, flags);
  if (m->first[SIP_H_VIA] == SIP_NO_HDR) sip_via_init(&m->via);
  if (m->first[SIP_H_FROM] == SIP_NO_HDR) sip_addr_init(&m->from);
  if (m->first[SIP_H_TO] == SIP_NO_HDR) sip_addr_init(&m->to);
  return r;
}

/* Every slice sip_parse sets, listed once: a field added to sip_msg, sip_uri, sip_via or sip_addr
 * that points into the message must be added here (test_torture and fuzz_msg compare the result
 * with a parse of the copy, byte for byte). */
static void mv(sip_str *s, uintptr_t from, uintptr_t end, ptrdiff_t d) {
  uintptr_t p = (uintptr_t)s->p;
  if (s->p && p >= from && p <= end) s->p += d;
}

void sip_msg_rebase(sip_msg *m, const char *to, size_t n) {
  uintptr_t from = (uintptr_t)m->buf, end = from + n;
  ptrdiff_t d = to - m->buf;
#define MV(f) mv(&(f), from, end, d)
  MV(m->method);
  MV(m->ruri);
  MV(m->reason);
  MV(m->version);
  MV(m->body);
  MV(m->call_id);
  MV(m->cseq_method);
  MV(m->uri.scheme_str);
  MV(m->uri.user);
  MV(m->uri.password);
  MV(m->uri.host);
  MV(m->uri.params);
  MV(m->uri.headers);
  MV(m->uri.opaque);
  MV(m->via.proto);
  MV(m->via.version);
  MV(m->via.transport);
  MV(m->via.host);
  MV(m->via.branch);
  MV(m->via.received);
  MV(m->via.maddr);
  MV(m->via.params);
  sip_addr *a[2] = {&m->from, &m->to};
  for (int i = 0; i < 2; i++) {
    MV(a[i]->display);
    MV(a[i]->uri);
    MV(a[i]->params);
    MV(a[i]->tag);
  }
  for (unsigned i = 0; i < m->nhdr; i++) {
    MV(m->hdr[i].name);
    MV(m->hdr[i].value);
  }
#undef MV
  m->buf = to;
}

/* ---- stream framing (RFC 3261 §18.3) --------------------------------------------------------- */

static long frame_err(sip_error *e, int status, size_t off, const char *what) {
  if (e) {
    e->status = status;
    e->off = off;
    e->what = what;
  }
  return -1;
}

/* Stateless: each call scans the header section again from the start. It is meant to be called
 * once per read, so a message arriving in k reads costs k scans of at most max_msg bytes. */
long sip_frame_stream(const char *buf, size_t len, const sip_limits *lim, size_t *skip,
                      sip_error *e) {
  if (!lim) lim = &sip_default_limits;
  size_t s = 0;
  while (len - s >= 2 && buf[s] == '\r' && buf[s + 1] == '\n') s += 2;
  *skip = s;
  const char *p = buf + s, *end = buf + len;
  const char *le = (size_t)(end - p) > lim->max_msg ? p + lim->max_msg : end;
  const char *line = p, *cl = NULL;
  int ncl = 0, first = 1;
  uint64_t clv = 0;
  for (;;) {
    size_t room = (size_t)(le - line);
    const char *lf = room ? memchr(line, '\n', room) : NULL;
    if (!lf) {
      if (le < end) return frame_err(e, 513, (size_t)(le - buf), "message too large");
      return 0;
    }
    if (lf == line || lf[-1] != '\r')
      return frame_err(e, 400, (size_t)(lf - buf), "bad line: LF without CR");
    if (lf - line == 1) {
      if (first) return frame_err(e, 400, (size_t)(line - buf), "empty start line");
      /* end of the header section */
      const char *hend = lf + 1;
      if (!ncl)
        return frame_err(e, 400, (size_t)(hend - buf),
                         "missing Content-Length header (required on a stream transport)");
      size_t hlen = (size_t)(hend - p);
      if (clv > lim->max_msg || hlen + clv > lim->max_msg)
        return frame_err(e, 513, (size_t)(cl - buf), "message too large");
      size_t total = hlen + (size_t)clv;
      return (size_t)(end - p) >= total ? (long)total : 0;
    }
    if (!first && !is_wsp(*line)) {
      /* a header line: is it Content-Length or "l"? */
      const char *q = line;
      while (q < lf && SIP_IS(*q, SIP_C_TOKEN)) q++;
      size_t n = (size_t)(q - line);
      if ((n == 1 && sip_lower((unsigned char)*line) == 'l') ||
          (n == 14 && sip_hdr_lookup(line, n) == SIP_H_CONTENT_LENGTH)) {
        while (q < lf && is_wsp(*q)) q++;
        if (q < lf && *q == ':') {
          /* the value runs to the end of the logical line; a fold needs the next line */
          const char *ve = lf;
          while (le - ve > 1 && is_wsp(ve[1])) {
            const char *nl = memchr(ve + 1, '\n', (size_t)(le - ve - 1));
            if (!nl) {
              if (le < end) return frame_err(e, 513, (size_t)(le - buf), "message too large");
              return 0;
            }
            if (nl[-1] != '\r')
              return frame_err(e, 400, (size_t)(nl - buf), "bad line: LF without CR");
            ve = nl;
          }
          if (le - ve <= 1 && le == end) return 0; /* cannot tell yet whether it folds */
          if (++ncl > 1)
            return frame_err(e, 400, (size_t)(line - buf), "duplicate Content-Length header");
          cl = q + 1;
          while (cl < ve && SIP_IS(*cl, SIP_C_WS)) cl++;
          if (sip_parse_uint(q + 1, (size_t)(ve - 1 - (q + 1)), INT64_MAX, &clv) != 0)
            return frame_err(e, 400, (size_t)(cl - buf), "bad Content-Length header");
          lf = ve;
        }
      }
    }
    first = 0;
    line = lf + 1;
  }
}

/* ---- lookups and application checks ---------------------------------------------------------- */

const sip_hdr *sip_msg_find(const sip_msg *m, sip_hdr_id id) {
  if ((unsigned)id >= SIP_H__COUNT) return NULL;
  for (unsigned i = m->first[id]; i != SIP_NO_HDR; i = m->hdr[i].next)
    if (!(m->hdr[i].flags & SIP_HF_DELETED)) return &m->hdr[i];
  return NULL;
}

const sip_hdr *sip_msg_find_name(const sip_msg *m, const char *name, size_t n) {
  sip_hdr_id id = sip_hdr_lookup(name, n);
  if (id != SIP_H_OTHER) return sip_msg_find(m, id);
  sip_str want = sip_str_make(name, n);
  for (unsigned i = m->first[SIP_H_OTHER]; i != SIP_NO_HDR; i = m->hdr[i].next)
    if (!(m->hdr[i].flags & SIP_HF_DELETED) && sip_str_ieq2(m->hdr[i].name, want))
      return &m->hdr[i];
  return NULL;
}

static int check_err(const sip_msg *m, sip_error *e, const sip_hdr *at, const char *what) {
  if (e) {
    e->status = 400;
    e->off = at ? (size_t)(at->name.p - m->buf) : 0;
    e->what = what;
  }
  return 400;
}

/* The second live entry of id (the duplicate), or NULL. */
static const sip_hdr *second(const sip_msg *m, sip_hdr_id id) {
  const sip_hdr *h = sip_msg_find(m, id);
  for (h = h ? sip_msg_next(m, h) : NULL; h; h = sip_msg_next(m, h))
    if (!(h->flags & SIP_HF_DELETED)) return h;
  return NULL;
}

int sip_msg_check_request(const sip_msg *m, sip_error *e) {
  static const struct {
    sip_hdr_id id;
    const char *missing, *dup;
  } need[] = {
    {SIP_H_CALL_ID, "missing Call-ID header", "duplicate Call-ID header"},
    {SIP_H_FROM, "missing From header", "duplicate From header"},
    {SIP_H_TO, "missing To header", "duplicate To header"},
    {SIP_H_CSEQ, "missing CSeq header", "duplicate CSeq header"},
  };
  const sip_hdr *d;
  for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
    if (!sip_msg_find(m, need[i].id)) return check_err(m, e, NULL, need[i].missing);
    if ((d = second(m, need[i].id)) != NULL) return check_err(m, e, d, need[i].dup);
  }
  if (m->is_request && (d = second(m, SIP_H_MAX_FORWARDS)) != NULL)
    return check_err(m, e, d, "duplicate Max-Forwards header");
  const sip_hdr *v = sip_msg_find(m, SIP_H_VIA);
  if (!v) return check_err(m, e, NULL, "missing Via header");
  sip_via via;
  const char *err, *at;
  if (sip_parse_via(v->value.p, v->value.n, &via, &err, &at) != 0) return check_err(m, e, v, err);
  if (e) {
    e->status = 0;
    e->off = 0;
    e->what = NULL;
  }
  return 0;
}
