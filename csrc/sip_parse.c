/* sip_parse.c: one SIP message from the caller's buffer (RFC 3261 §7, §18.3, §20, §25): start
 * line, header index with list splitting, typed parse of the headers the stack relies on, body
 * framing; and stream framing for TCP/TLS. Zero-copy, no allocation, no recursion; every scan is
 * bounded by the buffer length (never by a NUL). One pass over the header lines: memchr finds
 * line ends, a switch on length and first letter names the header. */
#include "sip_msg.h"

const sip_limits sip_default_limits = {65536, 256, 8192};

static inline int is_wsp(char c) { return c == ' ' || c == '\t'; }

static inline size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

/* Unrolled: one bounds check per four bytes. */
static inline const char *scan_token(const char *p, const char *e) {
  while (e - p >= 4) {
    if (!SIP_IS(p[0], SIP_C_TOKEN)) return p;
    if (!SIP_IS(p[1], SIP_C_TOKEN)) return p + 1;
    if (!SIP_IS(p[2], SIP_C_TOKEN)) return p + 2;
    if (!SIP_IS(p[3], SIP_C_TOKEN)) return p + 3;
    p += 4;
  }
  while (p < e && SIP_IS(*p, SIP_C_TOKEN)) p++;
  return p;
}

static inline const char *scan_word(const char *p, const char *e) {
  while (e - p >= 4) {
    if (!SIP_IS(p[0], SIP_C_WORD)) return p;
    if (!SIP_IS(p[1], SIP_C_WORD)) return p + 1;
    if (!SIP_IS(p[2], SIP_C_WORD)) return p + 2;
    if (!SIP_IS(p[3], SIP_C_WORD)) return p + 3;
    p += 4;
  }
  while (p < e && SIP_IS(*p, SIP_C_WORD)) p++;
  return p;
}

typedef struct pctx {
  sip_msg *m;
  const char *buf; /* start of the message (m->buf): error offsets are relative to it */
  unsigned maxh;
  size_t max_line;
  const char *lim_end; /* end of what may be scanned for the header section */
  const char *end;     /* end of the buffer */
  int line_err;        /* the start line was bad: its error is the answer, whatever follows */
  uint16_t last[SIP_H__COUNT]; /* last entry per id, for the next chains (valid when first set) */
} pctx;

/* An error that ends parsing (header section syntax, limits): it replaces a value error seen
 * before, since the index is now incomplete; but not a start-line error (505, a bad
 * Request-URI), which is what the request must be answered with. */
static int fatal(pctx *c, int status, const char *at, const char *what) {
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

/* Why a line end was not found in [p, lim_end): the line is too long, the message is too large,
 * or the header section is not terminated. */
static int no_line_end(pctx *c, const char *line, const char *what_unterminated) {
  if ((size_t)(c->lim_end - line) >= c->max_line + 2) {
    if (c->max_line == 8192) return fatal(c, 400, line, "line too long (limit 8192)");
    return fatal(c, 400, line, "line too long");
  }
  if (c->lim_end < c->end) return fatal(c, 513, c->lim_end, "message too large");
  return fatal(c, 400, c->end, what_unterminated);
}

/* Line feed of the physical line starting at line, searching from `from`; a line holds at most
 * max_line octets before its CRLF. */
static inline const char *find_lf(pctx *c, const char *line, const char *from) {
  size_t room = min_sz((size_t)(c->lim_end - line), c->max_line + 2);
  const char *stop = line + room;
  if (from >= stop) return NULL;
  return memchr(from, '\n', (size_t)(stop - from));
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

static void via_init(sip_via *v) {
  v->proto = v->version = v->transport = v->host = v->branch = v->received = v->maddr = v->params =
      SIP_STR_NULL;
  v->port = 0;
  v->rport = v->ttl = -1;
}

static void addr_init(sip_addr *a) {
  a->star = a->bracketed = a->display_quoted = 0;
  a->display = a->uri = a->params = a->tag = SIP_STR_NULL;
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

static int parse_status_line(pctx *c, const char *p, const char *e) {
  sip_msg *m = c->m;
  const char *sp = memchr(p, ' ', (size_t)(e - p));
  int vk = version_kind(p, sp ? sp : e);
  if (!vk) return fatal(c, 400, p, "bad status line: bad SIP-Version");
  if (vk == 2) return fatal(c, 505, p, "SIP version not supported");
  m->version = sip_str_make(p, (size_t)(sp - p));
  if (!sp) return fatal(c, 400, e, "bad status line: missing status code");
  const char *q = sp + 1;
  /* Status-Code = 3DIGIT, then SP (bigcode: "4294967301" is rejected by its length, no
   * arithmetic on it happens). */
  if (e - q < 3 || !SIP_IS(q[0], SIP_C_DIGIT) || !SIP_IS(q[1], SIP_C_DIGIT) ||
      !SIP_IS(q[2], SIP_C_DIGIT) || (e - q > 3 && q[3] != ' '))
    return fatal(c, 400, q, "bad status line: status code is not 3 digits");
  int status = (q[0] - '0') * 100 + (q[1] - '0') * 10 + (q[2] - '0');
  if (status < 100 || status > 699) return fatal(c, 400, q, "bad status line: status code out of range");
  if (e - q == 3) return fatal(c, 400, e, "bad status line: missing SP after the status code");
  m->status = status;
  /* Reason-Phrase: any text but controls (HTAB allowed), UTF-8 included; may be empty. */
  const char *r = q + 4;
  for (const char *t = r; t < e; t++) {
    unsigned char ch = (unsigned char)*t;
    if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return fatal(c, 400, t, "bad status line: control character in reason phrase");
  }
  m->reason = sip_str_make(r, (size_t)(e - r));
  return 0;
}

static int parse_request_line(pctx *c, const char *p, const char *e) {
  sip_msg *m = c->m;
  m->is_request = 1; /* not "SIP/": a request, even a broken one */
  const char *q = scan_token(p, e);
  if (q == p || q >= e || *q != ' ') return fatal(c, 400, q, "bad request line: bad method");
  m->method = sip_str_make(p, (size_t)(q - p));
  m->method_id = sip_method_lookup(p, (size_t)(q - p));
  const char *u0 = q + 1;
  /* exactly one SP between elements, none at the end (RFC 4475 §3.1.2.9, §3.1.2.10) */
  if (is_wsp(e[-1])) return fatal(c, 400, e - 1, "bad request line: trailing whitespace");
  const char *v0 = e;
  while (v0 > u0 && v0[-1] != ' ') v0--;
  if (v0 == u0) return fatal(c, 400, e, "bad request line: missing SIP-Version");
  int vk = version_kind(v0, e);
  if (!vk) return fatal(c, 400, v0, "bad request line: bad SIP-Version");
  if (vk == 2) return fatal(c, 505, v0, "SIP version not supported");
  m->version = sip_str_make(v0, (size_t)(e - v0));
  const char *u1 = v0 - 1;
  if (u1 == u0) return fatal(c, 400, u0, "bad request line: missing Request-URI");
  if (*u0 == '<') return fatal(c, 400, u0, "bad Request-URI: enclosed in <>");
  m->ruri = sip_str_make(u0, (size_t)(u1 - u0));
  const char *err, *at;
  if (sip_uri_parse(u0, (size_t)(u1 - u0), &m->uri, &err, &at) != 0) {
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
static const char *callid_bad(sip_str v) {
  const char *p = v.p, *e = v.p + v.n;
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

/* The typed parse of one index entry. first: it is the first entry of its id. */
static void typed(pctx *c, const sip_hdr *h, int first) {
  sip_msg *m = c->m;
  const char *err, *at;
  uint64_t u;
  switch (h->id) {
  case SIP_H_VIA: {
    sip_via tmp;
    if (sip_parse_via(h->value.p, h->value.n, first ? &m->via : &tmp, &err, &at) != 0)
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
    if (sip_parse_addr_hdr((sip_hdr_id)h->id, h->value.p, h->value.n, a, &err, &at) != 0)
      value_err(c, 400, at, err);
    break;
  }
  case SIP_H_CALL_ID:
    if ((at = callid_bad(h->value)) != NULL)
      value_err(c, 400, at, "bad Call-ID header: not word[@word]");
    else if (first)
      m->call_id = h->value;
    break;
  case SIP_H_CSEQ: {
    uint32_t num;
    sip_str meth;
    if (sip_parse_cseq(h->value.p, h->value.n, &num, &meth, &err, &at) != 0) {
      value_err(c, 400, at, err);
      break;
    }
    /* CSeq method = request method (RFC 3261 §8.1.1.5). With an unknown request method the
     * answer is 501 (RFC 4475 §3.1.2.18). */
    if (m->is_request && !sip_str_eq(meth, m->method))
      value_err(c, m->method_id == SIP_M_OTHER ? 501 : 400, meth.p,
                "bad CSeq header: method does not match the request method");
    if (first) {
      m->cseq = num;
      m->cseq_method = meth;
      m->cseq_method_id = sip_method_lookup(meth.p, meth.n);
    }
    break;
  }
  case SIP_H_MAX_FORWARDS:
    if (sip_parse_uint(h->value.p, h->value.n, 255, &u) != 0)
      value_err(c, 400, h->value.p, "bad Max-Forwards header: not a number in 0..255");
    else if (first)
      m->max_forwards = (int)u;
    break;
  case SIP_H_CONTENT_LENGTH:
    if (sip_parse_uint(h->value.p, h->value.n, INT64_MAX, &u) != 0)
      value_err(c, 400, h->value.p, "bad Content-Length header: not a non-negative decimal number");
    else if (first)
      m->content_length = (int64_t)u;
    break;
  case SIP_H_EXPIRES:
    if (first) {
      m->expires = delta_seconds(h->value);
      if (m->expires < 0) value_err(c, 400, h->value.p, "bad Expires header: not delta-seconds");
    }
    break;
  default:
    break;
  }
}

/* ---- the header index ------------------------------------------------------------------------ */

/* Headers with a typed parse in typed(). */
static const uint8_t typed_ids[SIP_H__COUNT] = {
  [SIP_H_VIA] = 1, [SIP_H_FROM] = 1, [SIP_H_TO] = 1, [SIP_H_CONTACT] = 1, [SIP_H_ROUTE] = 1,
  [SIP_H_RECORD_ROUTE] = 1, [SIP_H_PATH] = 1, [SIP_H_SERVICE_ROUTE] = 1, [SIP_H_CALL_ID] = 1,
  [SIP_H_CSEQ] = 1, [SIP_H_MAX_FORWARDS] = 1, [SIP_H_CONTENT_LENGTH] = 1, [SIP_H_EXPIRES] = 1,
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
  if (first)
    m->first[id] = (uint16_t)i;
  else
    m->hdr[c->last[id]].next = (uint16_t)i;
  c->last[id] = (uint16_t)i;
  m->count[id]++;
  if (typed_ids[id]) typed(c, h, first);
  return 0;
}

#define EMPTY(id, name) [id] = "bad " name " header: empty list element"
static const char *const empty_elem_msg[SIP_H__COUNT] = {
  EMPTY(SIP_H_VIA, "Via"), EMPTY(SIP_H_CONTACT, "Contact"), EMPTY(SIP_H_ROUTE, "Route"),
  EMPTY(SIP_H_RECORD_ROUTE, "Record-Route"), EMPTY(SIP_H_PATH, "Path"),
  EMPTY(SIP_H_SERVICE_ROUTE, "Service-Route"), EMPTY(SIP_H_ALLOW, "Allow"),
  EMPTY(SIP_H_SUPPORTED, "Supported"), EMPTY(SIP_H_REQUIRE, "Require"),
  EMPTY(SIP_H_PROXY_REQUIRE, "Proxy-Require"), EMPTY(SIP_H_UNSUPPORTED, "Unsupported"),
  EMPTY(SIP_H_ACCEPT, "Accept"), EMPTY(SIP_H_ACCEPT_ENCODING, "Accept-Encoding"),
  EMPTY(SIP_H_ACCEPT_LANGUAGE, "Accept-Language"), EMPTY(SIP_H_CONTENT_ENCODING, "Content-Encoding"),
  EMPTY(SIP_H_CONTENT_LANGUAGE, "Content-Language"), EMPTY(SIP_H_ALLOW_EVENTS, "Allow-Events"),
  EMPTY(SIP_H_IN_REPLY_TO, "In-Reply-To"), EMPTY(SIP_H_WARNING, "Warning"),
  EMPTY(SIP_H_ALERT_INFO, "Alert-Info"), EMPTY(SIP_H_CALL_INFO, "Call-Info"),
  EMPTY(SIP_H_ERROR_INFO, "Error-Info"), EMPTY(SIP_H_REASON, "Reason"),
  EMPTY(SIP_H_ACCEPT_CONTACT, "Accept-Contact"), EMPTY(SIP_H_REJECT_CONTACT, "Reject-Contact"),
  EMPTY(SIP_H_REQUEST_DISPOSITION, "Request-Disposition"),
};
#undef EMPTY

static const uint8_t splitc[256] = {[','] = 1, ['"'] = 1, ['<'] = 1};

/* Split a list header's value at commas outside quoted strings (with quoted-pairs) and <>
 * (RFC 3261 §7.3.1). An empty element ("a,,b", "a,") is an error (RFC 4475 §3.1.2.1). An empty
 * value gives one empty entry (Allow:, Supported: may be empty). */
static int add_list(pctx *c, const char *name, size_t nlen, sip_str v, unsigned id, unsigned line,
                    unsigned folded) {
  const char *p = v.p, *e = v.p + v.n, *s = p;
  unsigned n0 = c->m->nhdr;
  /* most list lines hold one value: no comma, nothing to split (memchr is vectorized) */
  if (!v.n || !memchr(v.p, ',', v.n)) return add_entry(c, name, nlen, v, id, line, folded);
  const char *bad = NULL, *bad_what = NULL;
  while (p < e) {
    /* skip what is not , " < quickly */
    while (e - p >= 4 && !splitc[(unsigned char)p[0]] && !splitc[(unsigned char)p[1]] &&
           !splitc[(unsigned char)p[2]] && !splitc[(unsigned char)p[3]])
      p += 4;
    while (p < e && !splitc[(unsigned char)*p]) p++;
    if (p >= e) break;
    char ch = *p;
    if (ch == ',') {
      sip_str el = sip_str_trim(sip_str_make(s, (size_t)(p - s)));
      if (!el.n && !bad) {
        bad = p;
        bad_what = empty_elem_msg[id];
      }
      if (add_entry(c, name, nlen, el, id, line, folded) != 0) return -1;
      s = ++p;
    } else if (ch == '"') {
      for (p++; p < e && *p != '"'; p++)
        if (*p == '\\' && e - p > 1) p++;
      if (p >= e) {
        if (!bad) {
          bad = s;
          bad_what = "bad header: unterminated quoted string";
        }
        break;
      }
      p++;
    } else if (ch == '<') {
      const char *gt = memchr(p, '>', (size_t)(e - p));
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

/* The header section from line start lp. Returns the end of the blank line, or NULL (fatal
 * error set). message-header = field-name HCOLON field-value CRLF; HCOLON = *(SP/HTAB) ":" SWS;
 * a CRLF followed by SP/HTAB folds the line (RFC 3261 §7.3.1). */
static const char *parse_headers(pctx *c, const char *lp) {
  sip_msg *m = c->m;
  const char *le = c->lim_end;
  const size_t ml = c->max_line + 2; /* a physical line with its CRLF */
  for (unsigned line = 0;; line++) {
    m->nlines = line;
    if (le - lp < 2) {
      no_line_end(c, lp, "header section not terminated by an empty line");
      return NULL;
    }
    if (*lp == '\r') {
      if (lp[1] == '\n') return lp + 2;
      fatal(c, 400, lp, "bad header line: CR without LF");
      return NULL;
    }
    /* the line end first (memchr is vectorized), then everything is bounded by it */
    const char *stop = (size_t)(le - lp) > ml ? lp + ml : le;
    const char *lf = memchr(lp, '\n', (size_t)(stop - lp));
    if (!lf) {
      no_line_end(c, lp, "header section not terminated by an empty line");
      return NULL;
    }
    if (lf == lp || lf[-1] != '\r') {
      fatal(c, 400, lf, "bad header line: LF without CR");
      return NULL;
    }
    const char *q = scan_token(lp, lf - 1);
    size_t nlen = (size_t)(q - lp);
    if (nlen == 0) {
      fatal(c, 400, lp, is_wsp(*lp) ? "bad header line: continuation line without a header"
                                    : "bad header line: name is not a token");
      return NULL;
    }
    if (*q != ':') {
      while (q < lf && is_wsp(*q)) q++;
      if (*q != ':') {
        fatal(c, 400, q, "bad header line: expected ':' after the name");
        return NULL;
      }
    }
    const char *v0 = q + 1;
    unsigned folded = 0;
    /* folding: a line starting with SP or HTAB continues the value */
    while (le - lf > 1 && is_wsp(lf[1])) {
      const char *pl = lf + 1;
      stop = (size_t)(le - pl) > ml ? pl + ml : le;
      lf = memchr(pl, '\n', (size_t)(stop - pl));
      if (!lf) {
        no_line_end(c, pl, "header section not terminated by an empty line");
        return NULL;
      }
      if (lf[-1] != '\r') {
        fatal(c, 400, lf, "bad header line: LF without CR");
        return NULL;
      }
      folded = 1;
    }
    const char *ve = lf - 1;
    while (v0 < ve && SIP_IS(*v0, SIP_C_WS)) v0++;
    while (ve > v0 && SIP_IS(ve[-1], SIP_C_WS)) ve--;
    sip_str v = sip_str_make(v0, (size_t)(ve - v0));
    unsigned id = sip_hdr_lookup(lp, nlen);
    if (sip_hdr_is_list((sip_hdr_id)id)) {
      if (add_list(c, lp, nlen, v, id, line, folded) != 0) return NULL;
    } else {
      if (add_entry(c, lp, nlen, v, id, line, folded) != 0) return NULL;
    }
    lp = lf + 1;
  }
}

int sip_parse(const char *buf, size_t len, sip_msg *m, sip_hdr *hdr, unsigned maxhdr,
              const sip_limits *lim, unsigned flags) {
  pctx c;
  if (!lim) lim = &sip_default_limits;
  /* Field by field rather than one memset of the whole struct: sip_msg is nearly 1 KiB and a
   * large memset (rep stos) costs more than the rest of a short message's parse. */
  clear_ids(m);
  m->buf = buf;
  m->len = 0;
  m->is_request = 0;
  m->method = m->ruri = m->reason = m->version = m->body = m->call_id = m->cseq_method = SIP_STR_NULL;
  m->method_id = SIP_M_OTHER;
  m->uri.scheme = (sip_uri_scheme)0;
  m->status = 0;
  m->hdr = hdr;
  m->nhdr = 0;
  m->maxhdr = maxhdr;
  m->nlines = 0;
  via_init(&m->via);
  addr_init(&m->from);
  addr_init(&m->to);
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
  int r = (le - p >= 4 && sip_lower((unsigned char)p[0]) == 's' && sip_lower((unsigned char)p[1]) == 'i' &&
           sip_lower((unsigned char)p[2]) == 'p' && p[3] == '/')
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
long sip_frame_stream(const char *buf, size_t len, const sip_limits *lim, size_t *skip, sip_error *e) {
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
    if (lf == line || lf[-1] != '\r') return frame_err(e, 400, (size_t)(lf - buf), "bad line: LF without CR");
    if (lf - line == 1) {
      if (first) return frame_err(e, 400, (size_t)(line - buf), "empty start line");
      /* end of the header section */
      const char *hend = lf + 1;
      if (!ncl) return frame_err(e, 400, (size_t)(hend - buf), "missing Content-Length header (required on a stream transport)");
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
            if (nl[-1] != '\r') return frame_err(e, 400, (size_t)(nl - buf), "bad line: LF without CR");
            ve = nl;
          }
          if (le - ve <= 1 && le == end) return 0; /* cannot tell yet whether it folds */
          if (++ncl > 1) return frame_err(e, 400, (size_t)(line - buf), "duplicate Content-Length header");
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
    if (!(m->hdr[i].flags & SIP_HF_DELETED) && sip_str_ieq2(m->hdr[i].name, want)) return &m->hdr[i];
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
