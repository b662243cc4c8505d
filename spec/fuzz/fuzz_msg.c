/* fuzz_msg: sip_parse in datagram and stream mode, with default and tight limits, over an exact
 * copy of the input (so ASan sees any read past it). On success: every slice inside the message,
 * the id chains consistent, lookups and the app check run, every Via / address / CSeq value
 * parses again on its own, the bytes sent on frame on a stream as that one message, and a
 * request the gate answers (sip_gate.h) gets a 401 that parses, with its Call-ID and CSeq. On
 * failure: a status and an offset inside the buffer. */
#include "fuzz.h"
#include "sip_gate.h"

static int inside(sip_str s, const char *lo, const char *hi) {
  return s.p == NULL ? s.n == 0 : (s.p >= lo && s.p + s.n <= hi);
}

static void walk_params(sip_str ps) {
  sip_str n, v;
  int guard = 0;
  while (sip_param_next(&ps, &n, &v) > 0) ASSERT(++guard < 100000);
}

static void check_ok(const sip_msg *m, const char *buf, size_t len) {
  const char *lo = m->buf, *hi = m->buf + m->len;
  ASSERT(m->buf >= buf && m->buf <= buf + len && m->len <= len - (size_t)(m->buf - buf));
  ASSERT(m->err.status == 0);
  ASSERT(inside(m->body, lo, hi) && m->body.p + m->body.n == hi);
  if (m->is_request) {
    ASSERT(inside(m->method, lo, hi) && sip_is_token(m->method.p, m->method.n));
    ASSERT(inside(m->ruri, lo, hi));
  } else {
    ASSERT(m->status >= 100 && m->status <= 699);
    ASSERT(inside(m->reason, lo, hi));
  }
  /* chains: every entry reached once, from its id's first, in order */
  unsigned total = 0;
  for (unsigned id = 0; id < SIP_H__COUNT; id++) {
    unsigned n = 0, prev = 0;
    for (unsigned i = m->first[id]; i != SIP_NO_HDR; i = m->hdr[i].next) {
      ASSERT(i < m->nhdr && m->hdr[i].id == id && (n == 0 || i > prev));
      prev = i;
      n++;
    }
    ASSERT(n == m->count[id]);
    total += n;
  }
  ASSERT(total == m->nhdr);
  for (unsigned i = 0; i < m->nhdr; i++) {
    const sip_hdr *h = &m->hdr[i];
    ASSERT(inside(h->name, lo, m->body.p) && inside(h->value, lo, m->body.p));
    ASSERT(h->name.n > 0 && sip_is_token(h->name.p, h->name.n));
    ASSERT(sip_hdr_lookup(h->name.p, h->name.n) == h->id);
    ASSERT(h->line < m->nlines && (i == 0 || h->line >= m->hdr[i - 1].line));
    const sip_hdr *f = sip_msg_find_name(m, h->name.p, h->name.n);
    ASSERT(f && f <= h && f->id == h->id);
    const char *err, *at;
    switch (h->id) {
    case SIP_H_VIA: {
      sip_via v;
      ASSERT(sip_parse_via(h->value.p, h->value.n, &v, &err, &at) == 0);
      ASSERT(inside(v.host, h->value.p, h->value.p + h->value.n));
      walk_params(v.params);
      break;
    }
    case SIP_H_FROM:
    case SIP_H_TO:
    case SIP_H_CONTACT:
    case SIP_H_ROUTE:
    case SIP_H_RECORD_ROUTE:
    case SIP_H_PATH:
    case SIP_H_SERVICE_ROUTE: {
      sip_addr a;
      ASSERT(sip_parse_addr_hdr((sip_hdr_id)h->id, h->value.p, h->value.n, &a, &err, &at) == 0);
      ASSERT(sip_parse_addr(h->value.p, h->value.n, &a, &err, &at) == 0);
      ASSERT(inside(a.uri, h->value.p, h->value.p + h->value.n));
      walk_params(a.params);
      break;
    }
    case SIP_H_CSEQ: {
      uint32_t n;
      sip_str meth;
      ASSERT(sip_parse_cseq(h->value.p, h->value.n, &n, &meth, &err, &at) == 0);
      ASSERT(n < 0x80000000u);
      break;
    }
    case SIP_H_CONTENT_TYPE:
    case SIP_H_ACCEPT: {
      sip_str t, st, ps;
      if (sip_parse_media_type(h->value.p, h->value.n, &t, &st, &ps) == 0) walk_params(ps);
      break;
    }
    default: break;
    }
  }
  if (m->max_forwards >= 0) ASSERT(m->max_forwards <= 255);
  ASSERT(m->expires <= 0xffffffffll);
  sip_error e;
  int st = sip_msg_check_request(m, &e);
  ASSERT(st == 0 || (st == 400 && e.what));
}

static void check_err(const sip_msg *m, const char *buf, size_t len) {
  ASSERT(m->err.what != NULL);
  ASSERT(m->err.status == 400 || m->err.status == 501 || m->err.status == 505 ||
         m->err.status == 513);
  ASSERT(m->buf >= buf && m->buf <= buf + len);
  ASSERT(m->err.off <= len - (size_t)(m->buf - buf));
  for (unsigned i = 0; i < m->nhdr; i++) {
    ASSERT(inside(m->hdr[i].name, m->buf, buf + len));
    ASSERT(inside(m->hdr[i].value, m->buf, buf + len));
  }
}

static sip_hdr hdr[300], hdr2[300], hdr3[300];

/* sip_msg_rebase: the parse moved onto a copy of the bytes equals the parse of the copy, byte for
 * byte (both structs start zeroed, so their padding agrees too). */
static void check_rebase(const sip_msg *m, const char *buf, size_t size, const sip_limits *lim,
                         unsigned mode) {
  char *copy = malloc(size ? size : 1);
  if (!copy) return;
  if (size) memcpy(copy, buf, size);
  sip_msg moved = *m, again;
  memcpy(hdr2, m->hdr, m->nhdr * sizeof *hdr2);
  moved.hdr = hdr2;
  sip_msg_rebase(&moved, copy + (m->buf - buf), m->len);
  memset(&again, 0, sizeof again);
  ASSERT(sip_parse(copy, size, &again, hdr3, 300, lim, mode) == 0);
  ASSERT(again.nhdr == moved.nhdr && memcmp(hdr2, hdr3, moved.nhdr * sizeof *hdr2) == 0);
  moved.hdr = again.hdr;
  moved.maxhdr = again.maxhdr;
  ASSERT(memcmp(&moved, &again, sizeof moved) == 0);
  free(copy);
}

/* What goes on from a parsed message frames on a stream as exactly that message (RFC 3261 §18.3):
 * the original bytes (when sip_emsg_bytes keeps them) and the message serialized again. A stream
 * peer may refuse them, but never sees a shorter message or waits for more. */
static void check_frames(const sip_msg *m) {
  sip_emsg e;
  sip_emsg_wrap(&e, m);
  for (int pass = 0; pass < 2; pass++) {
    sip_buf b = SIP_BUF_INIT;
    const char *p = NULL;
    size_t n = 0, skip;
    sip_error err;
    int rc = pass ? sip_msg_serialize(m, &b) : sip_emsg_bytes(&e, &b, &p, &n);
    if (pass) p = b.p, n = b.n;
    if (rc == 0 && n) {
      long k = sip_frame_stream(p, n, NULL, &skip, &err);
      ASSERT(k < 0 || (k == (long)n && skip == 0));
    }
    sip_buf_free(&b);
  }
}

/* The gate's answer to an accepted request is a well-formed 401 for it. */
static void check_gate(const sip_msg *m) {
  static sip_gate *g;
  if (!g) {
    sip_digest_challenge ch;
    memset(&ch, 0, sizeof ch);
    ch.realm = SIP_STR_LIT("example.com");
    ch.alg = SIP_DIGEST_SHA256;
    ch.qop = SIP_DIGEST_QOP_AUTH;
    static const sip_str hosts[] = {SIP_STR_LIT("example.com"), SIP_STR_LIT("127.0.0.1"),
                                    SIP_STR_LIT("[::1]")};
    sip_gate_config c = {~0u & ~((1u << SIP_M_ACK) | (1u << SIP_M_CANCEL)),
                         401,
                         NULL,
                         "WWW-Authenticate",
                         SIP_H_AUTHORIZATION,
                         "k",
                         1,
                         &ch,
                         1,
                         hosts,
                         3};
    const char *err;
    ASSERT((g = sip_gate_new(&c, &err)) != NULL);
  }
  sip_error e;
  if (!m->is_request || sip_msg_check_request(m, &e) != 0) return;
  sip_via_fix fix = {"192.0.2.1", 5060};
  sip_buf out = SIP_BUF_INIT;
  int rc = sip_gate_answer(g, m, &fix, 1790000000, &out);
  ASSERT(rc == 0 || rc == 1);
  if (rc == 1) {
    sip_msg r;
    memset(&r, 0, sizeof r);
    ASSERT(sip_parse(out.p, out.n, &r, hdr3, 300, NULL, 0) == 0);
    ASSERT(r.status == 401 && r.count[SIP_H_WWW_AUTHENTICATE] == 1 && r.cseq == m->cseq);
    ASSERT(sip_str_eq(r.call_id, m->call_id));
  } else {
    ASSERT(out.n == 0);
  }
  sip_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = fuzz_copy(data, size);
  if (!buf) return 0;
  for (unsigned l = 0; l < 2; l++)
    for (unsigned mode = 0; mode < 2; mode++) {
      sip_msg m;
      memset(&m, 0, sizeof m);
      if (sip_parse(buf, size, &m, hdr, 300, fuzz_limits[l], mode) == 0) {
        check_ok(&m, buf, size);
        check_rebase(&m, buf, size, fuzz_limits[l], mode);
        if (l == 0 && mode == 0) check_gate(&m);
        if (l == 0) check_frames(&m);
      } else check_err(&m, buf, size);
    }
  /* the value parsers on raw input */
  sip_via v;
  sip_addr a;
  uint32_t n;
  sip_str s, t, u;
  uint64_t x;
  const char *err, *at;
  if (sip_parse_via(buf, size, &v, &err, &at) != 0) ASSERT(at >= buf && at <= buf + size);
  if (sip_parse_addr(buf, size, &a, &err, &at) != 0) ASSERT(at >= buf && at <= buf + size);
  if (sip_parse_cseq(buf, size, &n, &s, &err, &at) != 0) ASSERT(at >= buf && at <= buf + size);
  sip_parse_uint(buf, size, 65535, &x);
  sip_parse_media_type(buf, size, &s, &t, &u);
  walk_params(sip_str_make(buf, size));
  free(buf);
  return 0;
}
