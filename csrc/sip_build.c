/* sip_build.c: responses, ACK and CANCEL built from a request, editable messages, serialization. */
#include "sip_build.h"
#include "sip_rand.h"
#include <stdio.h>
#include <stdlib.h>

const char *sip_reason_phrase(int status) {
  switch (status) {
  /* RFC 3261 §21, plus the codes of its companions the stack sends */
  case 100: return "Trying";
  case 180: return "Ringing";
  case 181: return "Call Is Being Forwarded";
  case 182: return "Queued";
  case 183: return "Session Progress";
  case 199: return "Early Dialog Terminated";
  case 200: return "OK";
  case 202: return "Accepted";
  case 204: return "No Notification";
  case 300: return "Multiple Choices";
  case 301: return "Moved Permanently";
  case 302: return "Moved Temporarily";
  case 305: return "Use Proxy";
  case 380: return "Alternative Service";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 402: return "Payment Required";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 406: return "Not Acceptable";
  case 407: return "Proxy Authentication Required";
  case 408: return "Request Timeout";
  case 410: return "Gone";
  case 412: return "Conditional Request Failed";
  case 413: return "Request Entity Too Large";
  case 414: return "Request-URI Too Long";
  case 415: return "Unsupported Media Type";
  case 416: return "Unsupported URI Scheme";
  case 417: return "Unknown Resource-Priority";
  case 420: return "Bad Extension";
  case 421: return "Extension Required";
  case 422: return "Session Interval Too Small";
  case 423: return "Interval Too Brief";
  case 428: return "Use Identity Header";
  case 429: return "Provide Referrer Identity";
  case 433: return "Anonymity Disallowed";
  case 480: return "Temporarily Unavailable";
  case 481: return "Call/Transaction Does Not Exist";
  case 482: return "Loop Detected";
  case 483: return "Too Many Hops";
  case 484: return "Address Incomplete";
  case 485: return "Ambiguous";
  case 486: return "Busy Here";
  case 487: return "Request Terminated";
  case 488: return "Not Acceptable Here";
  case 489: return "Bad Event";
  case 491: return "Request Pending";
  case 493: return "Undecipherable";
  case 494: return "Security Agreement Required";
  case 500: return "Server Internal Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Server Time-out";
  case 505: return "Version Not Supported";
  case 513: return "Message Too Large";
  case 580: return "Precondition Failure";
  case 600: return "Busy Everywhere";
  case 603: return "Decline";
  case 604: return "Does Not Exist Anywhere";
  case 606: return "Not Acceptable";
  case 607: return "Unwanted";
  default: return "Unknown";
  }
}

const char *sip_bad_text_byte(const char *p, size_t n) {
  /* three memchr passes: each is vectorized, and edits are short; the parser never calls this */
  const char *bad = memchr(p, '\r', n), *q;
  if ((q = memchr(p, '\n', bad ? (size_t)(bad - p) : n))) bad = q;
  if ((q = memchr(p, 0, bad ? (size_t)(bad - p) : n))) bad = q;
  return bad;
}

/* One preformatted line at p (before end): 0 with *next after its CRLF, or -1 with *name, *what. */
static int check_line(const char *p, const char *end, const char **next, sip_str *name,
                      const char **what) {
  const char *q = p;
  while (q < end && SIP_IS(*q, SIP_C_TOKEN)) q++;
  *name = sip_str_make(p, (size_t)(q - p));
  while (q < end && (*q == ' ' || *q == '\t')) q++;
  if (q == p || q == end || *q != ':') {
    *name = sip_str_make(p, 0);
    *what = *p == '\r' || *p == '\n' ? "empty line (it would end the header section)"
                                     : "header name must be a token followed by ':'";
    return -1;
  }
  const char *lf = memchr(q, '\n', (size_t)(end - q));
  const char *ve = lf && lf[-1] == '\r' ? lf - 1 : (lf ? lf : end);
  if (sip_bad_text_byte(q, (size_t)(ve - q)) || (lf && ve == lf)) {
    *what = "value must not contain CR, LF or NUL";
    return -1;
  }
  if (!lf) {
    *what = "header line must end in CRLF";
    return -1;
  }
  *next = lf + 1;
  return 0;
}

int sip_check_header_lines(const char *p, size_t n, sip_str *name, const char **what) {
  const char *end = p + n;
  while (p < end)
    if (check_line(p, end, &p, name, what)) return -1;
  return 0;
}

/* Is this preformatted line (ending in CRLF) a Content-Length? */
static int is_content_length_line(const char *line, size_t n) {
  const char *colon = memchr(line, ':', n);
  if (!colon) return 0;
  sip_str name = sip_str_trim(sip_str_make(line, (size_t)(colon - line)));
  return (name.n == 1 || name.n == 14) && sip_hdr_lookup(name.p, name.n) == SIP_H_CONTENT_LENGTH;
}

void sip_put_header_lines(sip_buf *b, const char *p, size_t n) {
  const char *end = p + n;
  while (p < end) {
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    size_t len = lf ? (size_t)(lf + 1 - p) : (size_t)(end - p);
    if (!is_content_length_line(p, len)) sip_buf_put(b, p, len);
    p += len;
  }
}

/* Check and append in one pass (a response's extra lines): -1 at the first bad line. */
static int put_checked_lines(sip_buf *b, const char *p) {
  const char *end = p + strlen(p), *next;
  sip_str name;
  const char *what;
  while (p < end) {
    if (check_line(p, end, &next, &name, &what)) return -1;
    if (!is_content_length_line(p, (size_t)(next - p))) sip_buf_put(b, p, (size_t)(next - p));
    p = next;
  }
  return 0;
}

static void put_header(sip_buf *b, const char *name, sip_str value) {
  sip_buf_puts(b, name);
  sip_buf_put(b, ": ", 2);
  sip_buf_putstr(b, value);
  sip_buf_put(b, "\r\n", 2);
}

int sip_build_via_value(sip_buf *b, sip_str value, const sip_via_fix *fix) {
  sip_via v;
  const char *err, *at;
  if (!fix || (!fix->received && !fix->rport) ||
      sip_parse_via(value.p, value.n, &v, &err, &at) != 0) {
    sip_buf_putstr(b, value);
    return 0;
  }
  const char *params = v.params.p ? v.params.p - 1 : value.p + value.n; /* at the first ';' */
  sip_str head = sip_str_trim(sip_str_make(value.p, (size_t)(params - value.p)));
  sip_buf_putstr(b, head);
  sip_str rest = v.params, name, val;
  while (rest.p && sip_param_next(&rest, &name, &val) == 1) {
    if ((fix->received && sip_str_ieq(name, "received")) ||
        (fix->rport && sip_str_ieq(name, "rport")))
      continue;
    sip_buf_putc(b, ';');
    sip_buf_putstr(b, name);
    if (val.p) {
      sip_buf_putc(b, '=');
      sip_buf_putstr(b, val);
    }
  }
  if (fix->received) {
    sip_buf_puts(b, ";received=");
    sip_buf_puts(b, fix->received);
  }
  if (fix->rport) {
    sip_buf_puts(b, ";rport=");
    sip_buf_putu(b, (unsigned)fix->rport);
  }
  return 1;
}

/* The top Via header line with received/rport set. */
static void put_top_via(sip_buf *b, sip_str value, const sip_via_fix *fix) {
  sip_buf_puts(b, "Via: ");
  sip_build_via_value(b, value, fix);
  sip_buf_put(b, "\r\n", 2);
}

static const sip_hdr *first_of(const sip_msg *m, sip_hdr_id id) {
  for (unsigned i = 0; i < m->nhdr; i++)
    if (m->hdr[i].id == id && !(m->hdr[i].flags & SIP_HF_DELETED)) return &m->hdr[i];
  return NULL;
}

/* Every entry of id, in order, as its own header line. */
static void put_all(sip_buf *b, const sip_msg *m, sip_hdr_id id, const char *name) {
  for (unsigned i = 0; i < m->nhdr; i++)
    if (m->hdr[i].id == id && !(m->hdr[i].flags & SIP_HF_DELETED))
      put_header(b, name, m->hdr[i].value);
}

static int has_tag(sip_str to) {
  sip_addr a;
  const char *err, *at;
  if (sip_parse_addr(to.p, to.n, &a, &err, &at) == 0) return a.tag.p != NULL;
  return 0;
}

static void put_body(sip_buf *b, const char *content_type, const char *body, size_t n) {
  if (content_type && *content_type && n) {
    sip_buf_puts(b, "Content-Type: ");
    sip_buf_puts(b, content_type);
    sip_buf_put(b, "\r\n", 2);
  }
  sip_buf_puts(b, "Content-Length: ");
  sip_buf_putu(b, n);
  sip_buf_put(b, "\r\n\r\n", 4);
  sip_buf_put(b, body, n);
}

/* The first values of ids (each cut at 256 bytes: a prefix identifies it), then extra, one per
 * line, into id (room for 5 * 257 bytes). Returns the length. */
static size_t identity(const sip_msg *req, const sip_hdr_id *ids, size_t nids, sip_str extra,
                       char *id) {
  size_t n = 0;
  for (size_t k = 0; k < nids; k++) {
    const sip_hdr *h = sip_msg_find(req, ids[k]);
    size_t len = h ? (h->value.n < 256 ? h->value.n : 256) : 0;
    if (len) memcpy(id + n, h->value.p, len);
    n += len;
    id[n++] = '\n';
  }
  size_t len = extra.n < 256 ? extra.n : 256;
  if (len) memcpy(id + n, extra.p, len);
  return n + len;
}

int sip_stateless_tag(const sip_msg *req, char out[SIP_TAG_LEN + 1]) {
  static const sip_hdr_id ids[] = {SIP_H_VIA, SIP_H_FROM, SIP_H_CALL_ID, SIP_H_CSEQ};
  char id[5 * 257];
  size_t n = identity(req, ids, 4, SIP_STR_NULL, id);
  return sip_rand_stable_tag(id, n, out);
}

int sip_loop_key(const sip_msg *req, uint64_t *out) {
  static const sip_hdr_id ids[] = {SIP_H_FROM, SIP_H_TO, SIP_H_CALL_ID, SIP_H_CSEQ};
  char id[5 * 257];
  size_t n = identity(req, ids, 4, req->ruri, id);
  return sip_rand_keyed_hash(id, n, out);
}

int sip_build_response(sip_buf *out, const sip_msg *req, int status, const char *reason,
                       const char *to_tag, const sip_via_fix *fix, const char *extra,
                       const char *content_type, const char *body, size_t body_len) {
  if (status < 100 || status > 699) return -1;
  if ((reason && sip_bad_text_byte(reason, strlen(reason))) ||
      (to_tag && *to_tag && !sip_is_token(to_tag, strlen(to_tag))) ||
      (content_type && sip_bad_text_byte(content_type, strlen(content_type))) ||
      (fix && fix->received && sip_bad_text_byte(fix->received, strlen(fix->received))))
    return -1;
  size_t start = out->n;
  if (!reason) reason = sip_reason_phrase(status);
  sip_buf_puts(out, "SIP/2.0 ");
  sip_buf_putu(out, (unsigned)status);
  sip_buf_putc(out, ' ');
  sip_buf_puts(out, reason);
  sip_buf_put(out, "\r\n", 2);
  /* §8.2.6.2: Via in order, the top one as fixed by the transport */
  int top = 1;
  for (unsigned i = 0; i < req->nhdr; i++) {
    const sip_hdr *h = &req->hdr[i];
    if (h->id != SIP_H_VIA || (h->flags & SIP_HF_DELETED)) continue;
    if (top) put_top_via(out, h->value, fix);
    else put_header(out, "Via", h->value);
    top = 0;
  }
  const sip_hdr *h;
  if ((h = first_of(req, SIP_H_FROM))) put_header(out, "From", h->value);
  if ((h = first_of(req, SIP_H_TO))) {
    sip_buf_puts(out, "To: ");
    sip_buf_putstr(out, h->value);
    /* §8.2.6.2: a tag on every response but 100, unless the request had one */
    if (status > 100 && to_tag && *to_tag && !has_tag(h->value)) {
      sip_buf_puts(out, ";tag=");
      sip_buf_puts(out, to_tag);
    }
    sip_buf_put(out, "\r\n", 2);
  }
  if ((h = first_of(req, SIP_H_CALL_ID))) put_header(out, "Call-ID", h->value);
  if ((h = first_of(req, SIP_H_CSEQ))) put_header(out, "CSeq", h->value);
  /* §8.2.6.1: a 100 echoes Timestamp */
  if (status == 100 && (h = first_of(req, SIP_H_TIMESTAMP))) put_header(out, "Timestamp", h->value);
  if (extra && put_checked_lines(out, extra)) {
    out->n = start; /* nothing written */
    return -1;
  }
  put_body(out, content_type, body, body ? body_len : 0);
  return out->oom ? -1 : 0;
}

/* The Call-ID, From and CSeq number of a request, shared by ACK and CANCEL. */
static int put_ack_or_cancel(sip_buf *out, const sip_msg *rq, const char *method, sip_str to) {
  const sip_hdr *via = first_of(rq, SIP_H_VIA), *from = first_of(rq, SIP_H_FROM),
                *cid = first_of(rq, SIP_H_CALL_ID), *cseq = first_of(rq, SIP_H_CSEQ);
  if (!rq->is_request || !via || !from || !cid || !cseq || !to.p) return -1;
  uint32_t num;
  sip_str m;
  const char *err, *at;
  if (sip_parse_cseq(cseq->value.p, cseq->value.n, &num, &m, &err, &at)) return -1;
  sip_buf_puts(out, method);
  sip_buf_putc(out, ' ');
  sip_buf_putstr(out, rq->ruri);
  sip_buf_puts(out, " SIP/2.0\r\n");
  put_header(out, "Via", via->value);
  sip_buf_puts(out, "Max-Forwards: 70\r\n");
  put_all(out, rq, SIP_H_ROUTE, "Route");
  put_header(out, "From", from->value);
  put_header(out, "To", to);
  put_header(out, "Call-ID", cid->value);
  sip_buf_puts(out, "CSeq: ");
  sip_buf_putu(out, num);
  sip_buf_putc(out, ' ');
  sip_buf_puts(out, method);
  sip_buf_puts(out, "\r\nContent-Length: 0\r\n\r\n");
  return out->oom ? -1 : 0;
}

int sip_build_ack(sip_buf *out, const sip_msg *invite, const sip_msg *response) {
  const sip_hdr *to = first_of(response, SIP_H_TO);
  return put_ack_or_cancel(out, invite, "ACK", to ? to->value : SIP_STR_NULL);
}

int sip_build_cancel(sip_buf *out, const sip_msg *request) {
  const sip_hdr *to = first_of(request, SIP_H_TO);
  return put_ack_or_cancel(out, request, "CANCEL", to ? to->value : SIP_STR_NULL);
}

/* ---- editable messages ---------------------------------------------------------------------- */

struct sip_blk {
  sip_blk *next;
  char data[];
};

static const char *own(sip_emsg *e, const char *p, size_t n) {
  sip_blk *b = malloc(sizeof *b + n + 1);
  if (!b) return NULL;
  memcpy(b->data, p, n);
  b->data[n] = 0;
  b->next = e->blks;
  e->blks = b;
  return b->data;
}

void sip_msg_reindex(sip_msg *m) {
  uint16_t last[SIP_H__COUNT];
  for (int i = 0; i < SIP_H__COUNT; i++) {
    m->first[i] = SIP_NO_HDR;
    m->count[i] = 0;
  }
  for (unsigned i = 0; i < m->nhdr; i++) {
    sip_hdr *h = &m->hdr[i];
    h->next = SIP_NO_HDR;
    if (h->flags & SIP_HF_DELETED) continue;
    if (m->first[h->id] == SIP_NO_HDR) m->first[h->id] = (uint16_t)i;
    else m->hdr[last[h->id]].next = (uint16_t)i;
    last[h->id] = (uint16_t)i;
    m->count[h->id]++;
  }
}

static int grow(sip_emsg *e, unsigned need) {
  if (need <= e->m.maxhdr) return 0;
  if (need >= SIP_NO_HDR) return -1;
  unsigned cap = e->m.maxhdr ? e->m.maxhdr * 2 : 16;
  while (cap < need) cap *= 2;
  if (cap >= SIP_NO_HDR) cap = SIP_NO_HDR - 1;
  sip_hdr *h;
  if (e->hdr_owned) {
    h = realloc(e->m.hdr, cap * sizeof *h);
  } else { /* first edit of a wrapped message: copy the caller's index */
    h = malloc(cap * sizeof *h);
    if (h && e->m.nhdr) memcpy(h, e->m.hdr, e->m.nhdr * sizeof *h);
  }
  if (!h) return -1;
  e->hdr_owned = 1;
  e->m.hdr = h;
  e->m.maxhdr = cap;
  return 0;
}

void sip_emsg_wrap(sip_emsg *e, const sip_msg *parsed) {
  memset(e, 0, sizeof *e);
  e->m = *parsed;
  e->m.maxhdr = parsed->nhdr; /* full: the first insert copies */
}

int sip_emsg_init(sip_emsg *e, const sip_msg *parsed) {
  sip_emsg_wrap(e, parsed);
  return grow(e, parsed->nhdr + 4);
}

static void emsg_blank(sip_emsg *e) {
  memset(e, 0, sizeof *e);
  for (int i = 0; i < SIP_H__COUNT; i++) e->m.first[i] = SIP_NO_HDR;
  e->m.content_length = -1;
  e->m.max_forwards = -1;
  e->m.expires = -1;
  e->m.version = SIP_STR_LIT("SIP/2.0");
  e->dirty = 1;
}

int sip_emsg_request(sip_emsg *e, const char *method, size_t ml, const char *ruri, size_t rl) {
  emsg_blank(e);
  if (!sip_is_token(method, ml)) return SIP_EDIT_REFUSED;
  e->m.is_request = 1;
  const char *mp = own(e, method, ml);
  if (!mp || grow(e, 16)) return -1;
  e->m.method = sip_str_make(mp, ml);
  e->m.method_id = sip_method_lookup(mp, ml);
  return sip_emsg_set_ruri(e, ruri, rl);
}

int sip_emsg_response(sip_emsg *e, int status, const char *reason, size_t rl) {
  emsg_blank(e);
  if (grow(e, 16)) return -1;
  return sip_emsg_set_status(e, status, reason, rl);
}

void sip_emsg_free(sip_emsg *e) {
  sip_blk *b = e->blks;
  while (b) {
    sip_blk *n = b->next;
    free(b);
    b = n;
  }
  if (e->hdr_owned) free(e->m.hdr);
  memset(e, 0, sizeof *e);
}

int sip_emsg_insert(sip_emsg *e, unsigned pos, const char *name, size_t nl, const char *val,
                    size_t vl) {
  if (!sip_is_token(name, nl) || sip_bad_text_byte(val, vl)) return SIP_EDIT_REFUSED;
  if (pos > e->m.nhdr || grow(e, e->m.nhdr + 1)) return -1;
  const char *np = own(e, name, nl), *vp = own(e, val, vl);
  if (!np || !vp) return -1;
  memmove(&e->m.hdr[pos + 1], &e->m.hdr[pos], (e->m.nhdr - pos) * sizeof(sip_hdr));
  sip_hdr *h = &e->m.hdr[pos];
  h->name = sip_str_make(np, nl);
  h->value = sip_str_make(vp, vl);
  h->id = (uint16_t)sip_hdr_lookup(np, nl);
  h->line = (uint16_t)e->m.nlines++;
  h->flags = SIP_HF_OWNED;
  e->m.nhdr++;
  e->dirty = 1;
  sip_msg_reindex(&e->m);
  return 0;
}

int sip_emsg_remove(sip_emsg *e, unsigned idx) {
  if (idx >= e->m.nhdr || grow(e, e->m.nhdr + 1)) return -1;
  memmove(&e->m.hdr[idx], &e->m.hdr[idx + 1], (e->m.nhdr - idx - 1) * sizeof(sip_hdr));
  e->m.nhdr--;
  e->dirty = 1;
  sip_msg_reindex(&e->m);
  return 0;
}

int sip_emsg_set_value(sip_emsg *e, unsigned idx, const char *val, size_t vl) {
  if (sip_bad_text_byte(val, vl)) return SIP_EDIT_REFUSED;
  if (idx >= e->m.nhdr || grow(e, e->m.nhdr + 1)) return -1;
  const char *vp = own(e, val, vl);
  if (!vp) return -1;
  sip_hdr *h = &e->m.hdr[idx];
  h->value = sip_str_make(vp, vl);
  h->flags = (uint16_t)((h->flags & ~SIP_HF_FOLDED) | SIP_HF_OWNED);
  e->dirty = 1;
  return 0;
}

/* Set the single header of id to value: replace the first, drop the others, or append. */
static int set_single(sip_emsg *e, sip_hdr_id id, const char *name, const char *val, size_t vl) {
  int done = 0, rc;
  for (unsigned i = 0; i < e->m.nhdr;) {
    if (e->m.hdr[i].id == id) {
      if (done) {
        if (sip_emsg_remove(e, i)) return -1;
        continue;
      }
      if ((rc = sip_emsg_set_value(e, i, val, vl))) return rc;
      done = 1;
    }
    i++;
  }
  return done ? 0 : sip_emsg_insert(e, e->m.nhdr, name, strlen(name), val, vl);
}

int sip_emsg_set_body(sip_emsg *e, const char *body, size_t n, const char *content_type) {
  if (content_type && sip_bad_text_byte(content_type, strlen(content_type)))
    return SIP_EDIT_REFUSED;
  const char *bp = own(e, body ? body : "", n);
  if (!bp) return -1;
  e->m.body = sip_str_make(bp, n);
  e->m.content_length = (int64_t)n;
  e->dirty = 1;
  if (content_type) {
    if (*content_type) {
      int rc =
        set_single(e, SIP_H_CONTENT_TYPE, "Content-Type", content_type, strlen(content_type));
      if (rc) return rc;
    } else {
      for (unsigned i = e->m.nhdr; i-- > 0;)
        if (e->m.hdr[i].id == SIP_H_CONTENT_TYPE && sip_emsg_remove(e, i)) return -1;
    }
  }
  char num[24];
  int k = snprintf(num, sizeof num, "%zu", n);
  return set_single(e, SIP_H_CONTENT_LENGTH, "Content-Length", num, (size_t)k);
}

int sip_emsg_set_ruri(sip_emsg *e, const char *ruri, size_t n) {
  if (sip_bad_text_byte(ruri, n)) return SIP_EDIT_REFUSED;
  const char *p = own(e, ruri, n);
  if (!p) return -1;
  e->m.ruri = sip_str_make(p, n);
  const char *err, *at;
  if (sip_uri_parse(p, n, &e->m.uri, &err, &at)) memset(&e->m.uri, 0, sizeof e->m.uri);
  e->dirty = 1;
  return 0;
}

int sip_emsg_set_status(sip_emsg *e, int status, const char *reason, size_t rl) {
  if (status < 100 || status > 699) return -1;
  if (!reason) {
    reason = sip_reason_phrase(status);
    rl = strlen(reason);
  }
  if (sip_bad_text_byte(reason, rl)) return SIP_EDIT_REFUSED;
  const char *p = own(e, reason, rl);
  if (!p) return -1;
  e->m.is_request = 0;
  e->m.status = status;
  e->m.reason = sip_str_make(p, rl);
  e->dirty = 1;
  return 0;
}

/* "Content-Length: N" under the name the message used (full or compact form). */
static void put_length(sip_buf *b, sip_str name, size_t n) {
  sip_buf_putstr(b, name);
  sip_buf_put(b, ": ", 2);
  sip_buf_putu(b, n);
  sip_buf_put(b, "\r\n", 2);
}

int sip_msg_serialize(const sip_msg *m, sip_buf *out) {
  if (m->is_request) {
    sip_buf_putstr(out, m->method);
    sip_buf_putc(out, ' ');
    sip_buf_putstr(out, m->ruri);
    sip_buf_puts(out, " SIP/2.0\r\n");
  } else {
    sip_buf_puts(out, "SIP/2.0 ");
    sip_buf_putu(out, (unsigned)m->status);
    sip_buf_putc(out, ' ');
    sip_buf_putstr(out, m->reason);
    sip_buf_put(out, "\r\n", 2);
  }
  int length_done = 0;
  const sip_hdr *prev = NULL; /* the entry just written, while its line is open */
  for (unsigned i = 0; i < m->nhdr; i++) {
    const sip_hdr *h = &m->hdr[i];
    if (h->flags & SIP_HF_DELETED) continue;
    if (h->id == SIP_H_CONTENT_LENGTH) { /* the body's length, once, whatever the entries say */
      if (prev) sip_buf_put(out, "\r\n", 2);
      prev = NULL;
      if (!length_done) put_length(out, h->name, m->body.n);
      length_done = 1;
      continue;
    }
    if (prev && prev->line == h->line && prev->id == h->id) {
      /* values of one list line stay on it, as they came (§7.3.1 allows either form; a proxy
       * forwards what it was given) */
      sip_buf_put(out, ", ", 2);
    } else {
      if (prev) sip_buf_put(out, "\r\n", 2);
      sip_buf_putstr(out, h->name);
      sip_buf_put(out, ": ", 2);
    }
    sip_buf_putstr(out, h->value);
    prev = h;
  }
  if (prev) sip_buf_put(out, "\r\n", 2);
  if (!length_done) put_length(out, SIP_STR_LIT("Content-Length"), m->body.n);
  sip_buf_put(out, "\r\n", 2);
  sip_buf_putstr(out, m->body);
  return out->oom ? -1 : 0;
}

int sip_emsg_bytes(const sip_emsg *e, sip_buf *out, const char **p, size_t *n) {
  if (!e->dirty && e->m.content_length >= 0) {
    /* sip_parse framed it by this Content-Length: the bytes end where the body does (§18.3) */
    *p = e->m.buf;
    *n = e->m.len;
    return 0;
  }
  if (sip_msg_serialize(&e->m, out)) return -1;
  *p = out->p;
  *n = out->n;
  return 0;
}
