/* sip_digest.c: Digest authentication (RFC 2617, RFC 7616, RFC 8760; RFC 3261 §22.4): the
 * grammar, the writers and the hashes. Server nonces and the replay table: sip_digest_nonce.c. */
#include "sip_digest.h"

#include "sip_rand.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* Algorithms ---------------------------------------------------------------------------------------*/

static const struct {
  const char *name;
  sip_digest_alg alg;
} alg_names[] = {
  {"MD5", SIP_DIGEST_MD5},
  {"MD5-sess", SIP_DIGEST_MD5_SESS},
  {"SHA-256", SIP_DIGEST_SHA256},
  {"SHA-256-sess", SIP_DIGEST_SHA256_SESS},
  {"SHA-512-256", SIP_DIGEST_SHA512_256},
  {"SHA-512-256-sess", SIP_DIGEST_SHA512_256_SESS},
};

#define NALGS (sizeof alg_names / sizeof alg_names[0])

const char *sip_digest_alg_name(sip_digest_alg alg) {
  for (size_t i = 0; i < NALGS; i++)
    if (alg_names[i].alg == alg) return alg_names[i].name;
  return NULL;
}

sip_digest_alg sip_digest_alg_lookup(sip_str name) {
  for (size_t i = 0; i < NALGS; i++)
    if (sip_str_ieq(name, alg_names[i].name)) return alg_names[i].alg;
  return SIP_DIGEST_UNKNOWN;
}

/* OpenSSL 3 looks an implicit EVP_md5() up in its provider tables on every EVP_DigestInit_ex
 * (most of the cost of hashing a short string); fetched once, the lookup is gone.
 * Fetched objects are immutable and kept for the life of the process. */
static const EVP_MD *fetched_md(int i, const char *name, const EVP_MD *implicit) {
  static EVP_MD *md[3];
  if (!md[i]) md[i] = EVP_MD_fetch(NULL, name, NULL);
  return md[i] ? md[i] : implicit;
}

static const EVP_MD *alg_md(sip_digest_alg a) {
  switch (a) {
  case SIP_DIGEST_MD5:
  case SIP_DIGEST_MD5_SESS: return fetched_md(0, "MD5", EVP_md5());
  case SIP_DIGEST_SHA256:
  case SIP_DIGEST_SHA256_SESS: return fetched_md(1, "SHA256", EVP_sha256());
  case SIP_DIGEST_SHA512_256:
  case SIP_DIGEST_SHA512_256_SESS: return fetched_md(2, "SHA512-256", EVP_sha512_256());
  default: return NULL;
  }
}

size_t sip_digest_hex_len(sip_digest_alg alg) {
  switch (alg) {
  case SIP_DIGEST_MD5:
  case SIP_DIGEST_MD5_SESS: return 32;
  case SIP_DIGEST_UNKNOWN: return 0;
  default: return 64;
  }
}

/* RFC 7616 §3.7: a client prefers the strongest algorithm it supports. */
int sip_digest_alg_strength(sip_digest_alg a) {
  switch (a) {
  case SIP_DIGEST_MD5:
  case SIP_DIGEST_MD5_SESS: return 1;
  case SIP_DIGEST_SHA256:
  case SIP_DIGEST_SHA256_SESS: return 2;
  case SIP_DIGEST_SHA512_256:
  case SIP_DIGEST_SHA512_256_SESS: return 3;
  default: return 0;
  }
}

/* Parsing ------------------------------------------------------------------------------------------*/

enum {
  P_REALM,
  P_NONCE,
  P_OPAQUE,
  P_DOMAIN,
  P_ALGORITHM,
  P_QOP,
  P_STALE,
  P_CHARSET,
  P_USERHASH,
  P_USERNAME,
  P_USERNAME_EXT,
  P_URI,
  P_RESPONSE,
  P_CNONCE,
  P_NC,
  P_NEXTNONCE,
  P_RSPAUTH,
  P__COUNT
};

static const char *const param_names[P__COUNT] = {
  "realm",    "nonce",   "opaque",   "domain",    "algorithm", "qop",
  "stale",    "charset", "userhash", "username",  "username*", "uri",
  "response", "cnonce",  "nc",       "nextnonce", "rspauth",
};

#define B(x) (1u << (x))
/* Which params each header defines; the rest are kept as extras. */
#define KIND_CHALLENGE                                                                            \
  (B(P_REALM) | B(P_NONCE) | B(P_OPAQUE) | B(P_DOMAIN) | B(P_ALGORITHM) | B(P_QOP) | B(P_STALE) | \
   B(P_CHARSET) | B(P_USERHASH))
#define KIND_CREDENTIALS                                                               \
  (B(P_REALM) | B(P_NONCE) | B(P_OPAQUE) | B(P_ALGORITHM) | B(P_QOP) | B(P_USERHASH) | \
   B(P_USERNAME) | B(P_USERNAME_EXT) | B(P_URI) | B(P_RESPONSE) | B(P_CNONCE) | B(P_NC))
#define KIND_INFO (B(P_QOP) | B(P_CNONCE) | B(P_NC) | B(P_NEXTNONCE) | B(P_RSPAUTH))

typedef struct pstate {
  const char *p;
  size_t n, i;
  char *scratch;
  size_t scap, sused;
  sip_digest_error *err;
} pstate;

/* One parsed auth-param. */
typedef struct pparam {
  int id; /* P_* or -1 */
  sip_str name, value;
  size_t at; /* offset of the name */
} pparam;

static int fail(pstate *s, int code, const char *what, size_t off) {
  if (s->err) {
    s->err->what = what;
    s->err->off = off;
  }
  return code;
}

static void skip_ws(pstate *s) {
  while (s->i < s->n && SIP_IS(s->p[s->i], SIP_C_WS)) s->i++;
}

static sip_str read_token(pstate *s) {
  size_t b = s->i;
  while (s->i < s->n && SIP_IS(s->p[s->i], SIP_C_TOKEN)) s->i++;
  return sip_str_make(s->p + b, s->i - b);
}

size_t sip_digest_unescape(sip_str s, char *out, size_t cap) {
  size_t o = 0, i = 0;
  while (i < s.n && o < cap) {
    char c = s.p[i];
    if (c == '\\' && i + 1 < s.n) {
      out[o++] = s.p[i + 1];
      i += 2;
    } else if (SIP_IS(c, SIP_C_WS)) {
      /* LWS with a line break is folding and means one SP (RFC 3261 §7.3.1) */
      size_t j = i;
      int brk = 0;
      while (j < s.n && SIP_IS(s.p[j], SIP_C_WS)) {
        if (s.p[j] == '\r' || s.p[j] == '\n') brk = 1;
        j++;
      }
      if (brk) {
        out[o++] = ' ';
      } else {
        for (; i < j && o < cap; i++) out[o++] = s.p[i];
      }
      i = j;
    } else {
      out[o++] = c;
      i++;
    }
  }
  return o;
}

/* quoted-string (RFC 3261 §25.1): s->i is at the opening quote. */
static int read_quoted(pstate *s, sip_str *v) {
  size_t start = ++s->i;
  int rewrite = 0;
  for (;;) {
    if (s->i >= s->n) return fail(s, SIP_DIGEST_ESYNTAX, "unterminated quoted string", start - 1);
    unsigned char c = (unsigned char)s->p[s->i];
    if (c == '"') break;
    if (c == '\\') {
      /* quoted-pair excludes CR and LF */
      if (s->i + 1 >= s->n)
        return fail(s, SIP_DIGEST_ESYNTAX, "unterminated quoted string", start - 1);
      unsigned char d = (unsigned char)s->p[s->i + 1];
      if (d == '\r' || d == '\n' || d > 0x7f)
        return fail(s, SIP_DIGEST_ESYNTAX, "bad escape in quoted string", s->i);
      rewrite = 1;
      s->i += 2;
      continue;
    }
    if (c == '\r' || c == '\n') rewrite = 1;
    else if (SIP_IS(c, SIP_C_CTL) && c != '\t')
      return fail(s, SIP_DIGEST_ESYNTAX, "control character in quoted string", s->i);
    s->i++;
  }
  sip_str raw = sip_str_make(s->p + start, s->i - start);
  s->i++; /* closing quote */
  if (!rewrite) {
    *v = raw;
    return 0;
  }
  if (!s->scratch || s->scap - s->sused < raw.n)
    return fail(s, SIP_DIGEST_ESPACE, "scratch buffer too small", start);
  char *o = s->scratch + s->sused;
  size_t k = sip_digest_unescape(raw, o, raw.n);
  s->sused += k;
  *v = sip_str_make(o, k);
  return 0;
}

static int param_id(sip_str name, uint32_t kind) {
  for (int i = 0; i < P__COUNT; i++)
    if ((kind & B(i)) && sip_str_ieq(name, param_names[i])) return i;
  return -1;
}

/* The next auth-param. Returns 1 with *pp set, 0 at the end (s->i is where the value ended: the
 * start of another challenge, or n), or a negative error code. */
static int next_param(pstate *s, uint32_t kind, int *first, pparam *pp) {
  for (;;) {
    skip_ws(s);
    if (s->i >= s->n) return 0;
    if (s->p[s->i] == ',') { /* empty list elements are allowed (RFC 7230 §7) */
      s->i++;
      *first = 0;
      continue;
    }
    break;
  }
  size_t at = s->i;
  sip_str name = read_token(s);
  if (name.n == 0) return fail(s, SIP_DIGEST_ESYNTAX, "expected a parameter name", at);
  size_t after = s->i;
  skip_ws(s);
  if (s->i >= s->n || s->p[s->i] != '=') {
    /* "..., Basic realm=..." : a token and LWS after a comma start the next challenge */
    if (!*first && (after == s->n || SIP_IS(s->p[after], SIP_C_WS))) {
      s->i = at;
      return 0;
    }
    return fail(s, SIP_DIGEST_ESYNTAX, "expected '=' after a parameter name", s->i);
  }
  s->i++;
  skip_ws(s);
  sip_str v;
  if (s->i < s->n && s->p[s->i] == '"') {
    int rc = read_quoted(s, &v);
    if (rc) return rc;
  } else {
    v = read_token(s);
    if (v.n == 0) return fail(s, SIP_DIGEST_ESYNTAX, "expected a parameter value", s->i);
  }
  skip_ws(s);
  if (s->i < s->n) {
    if (s->p[s->i] != ',')
      return fail(s, SIP_DIGEST_ESYNTAX, "expected ',' between parameters", s->i);
    s->i++;
  }
  *first = 0;
  pp->id = param_id(name, kind);
  pp->name = name;
  pp->value = v;
  pp->at = at;
  return 1;
}

/* Record a param; duplicates are an error (RFC 7235 §2.1: each name at most once). */
static int note_param(pstate *s, const pparam *pp, uint32_t *seen, sip_digest_param *extra,
                      unsigned *nextra) {
  if (pp->id >= 0) {
    if (*seen & B(pp->id)) return fail(s, SIP_DIGEST_EDUP, "duplicate parameter", pp->at);
    *seen |= B(pp->id);
    return 0;
  }
  for (unsigned k = 0; k < *nextra; k++)
    if (sip_str_ieq2(extra[k].name, pp->name))
      return fail(s, SIP_DIGEST_EDUP, "duplicate parameter", pp->at);
  if (*nextra < SIP_DIGEST_MAX_EXTRA) {
    extra[*nextra].name = pp->name;
    extra[*nextra].value = pp->value;
    (*nextra)++;
  }
  return 0;
}

/* auth-scheme then LWS. Returns 0 on "Digest". */
static int read_scheme(pstate *s, sip_str *scheme) {
  skip_ws(s);
  size_t at = s->i;
  *scheme = read_token(s);
  if (scheme->n == 0) return fail(s, SIP_DIGEST_ESYNTAX, "expected an auth scheme", at);
  if (!sip_str_ieq(*scheme, "Digest"))
    return fail(s, SIP_DIGEST_ESCHEME, "not a Digest scheme", at);
  if (s->i < s->n && !SIP_IS(s->p[s->i], SIP_C_WS))
    return fail(s, SIP_DIGEST_ESYNTAX, "expected whitespace after the scheme", s->i);
  return 0;
}

static int is_true(sip_str v) { return sip_str_ieq(v, "true"); }

static int parse_alg(sip_str v, sip_str *raw, sip_digest_alg *alg) {
  *raw = v;
  *alg = sip_digest_alg_lookup(v);
  return *alg == SIP_DIGEST_UNKNOWN;
}

/* qop-options (challenge): a list, "auth,auth-int"; values we do not know are skipped. */
static unsigned parse_qop_list(sip_str v) {
  unsigned q = 0;
  size_t i = 0;
  while (i < v.n) {
    size_t b = i;
    while (i < v.n && v.p[i] != ',') i++;
    sip_str t = sip_str_trim(sip_str_make(v.p + b, i - b));
    if (sip_str_ieq(t, "auth")) q |= SIP_DIGEST_QOP_AUTH;
    else if (sip_str_ieq(t, "auth-int")) q |= SIP_DIGEST_QOP_AUTH_INT;
    i++;
  }
  return q;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = sip_lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* nc-value = 8LHEX (RFC 2617 §3.2.2); uppercase is tolerated, the text is kept for hashing. */
static int parse_nc(sip_str v, uint32_t *nc) {
  if (v.n != 8) return -1;
  uint32_t x = 0;
  for (size_t i = 0; i < 8; i++) {
    int h = hexval((unsigned char)v.p[i]);
    if (h < 0) return -1;
    x = (x << 4) | (uint32_t)h;
  }
  *nc = x;
  return 0;
}

/* attr-char (RFC 8187 §3.2.1) */
static int is_attr_char(unsigned char c) {
  return SIP_IS(c, SIP_C_ALPHA | SIP_C_DIGIT) || (c && strchr("!#$&+-.^_`|~", c) != NULL);
}

/* username* = ext-value (RFC 8187 §3.2): charset "'" [language] "'" pct-encoded; UTF-8 only
 * (RFC 7616 §3.4.4). Decoded into scratch. */
static int decode_ext(pstate *s, sip_str v, sip_str *out) {
  size_t q1 = 0, q2;
  while (q1 < v.n && v.p[q1] != '\'') q1++;
  if (q1 == v.n || !sip_str_ieq(sip_str_make(v.p, q1), "UTF-8")) return -1;
  q2 = q1 + 1;
  while (q2 < v.n && v.p[q2] != '\'') q2++;
  if (q2 == v.n) return -1;
  size_t b = q2 + 1, len = v.n - b;
  if (!s->scratch || s->scap - s->sused < len) return -2;
  char *o = s->scratch + s->sused;
  size_t k = 0;
  for (size_t i = b; i < v.n; i++) {
    unsigned char c = (unsigned char)v.p[i];
    if (c == '%') {
      if (i + 2 >= v.n) return -1;
      int h = hexval((unsigned char)v.p[i + 1]), l = hexval((unsigned char)v.p[i + 2]);
      if (h < 0 || l < 0) return -1;
      o[k++] = (char)(h << 4 | l);
      i += 2;
    } else if (is_attr_char(c)) {
      o[k++] = (char)c;
    } else {
      return -1;
    }
  }
  s->sused += k;
  *out = sip_str_make(o, k);
  return 0;
}

static void init_state(pstate *s, const char *p, size_t n, char *scratch, size_t scap,
                       sip_digest_error *err) {
  s->p = p;
  s->n = n;
  s->i = 0;
  s->scratch = scratch;
  s->scap = scratch ? scap : 0;
  s->sused = 0;
  s->err = err;
  if (err) {
    err->what = NULL;
    err->off = 0;
  }
}

int sip_digest_parse_challenge(const char *p, size_t n, sip_digest_challenge *c, char *scratch,
                               size_t scap, sip_digest_error *err) {
  pstate s;
  init_state(&s, p, n, scratch, scap, err);
  memset(c, 0, sizeof *c);
  c->alg = SIP_DIGEST_MD5; /* RFC 7616 §3.3: absent means MD5 */
  int rc = read_scheme(&s, &c->scheme);
  if (rc) {
    c->end = n;
    return rc;
  }
  uint32_t seen = 0;
  int first = 1, badalg = 0;
  size_t algat = 0;
  pparam pp;
  while ((rc = next_param(&s, KIND_CHALLENGE, &first, &pp)) == 1) {
    if ((rc = note_param(&s, &pp, &seen, c->extra, &c->nextra))) return rc;
    switch (pp.id) {
    case P_REALM: c->realm = pp.value; break;
    case P_NONCE: c->nonce = pp.value; break;
    case P_OPAQUE: c->opaque = pp.value; break;
    case P_DOMAIN: c->domain = pp.value; break;
    case P_CHARSET: c->charset = pp.value; break;
    case P_ALGORITHM:
      badalg = parse_alg(pp.value, &c->algorithm, &c->alg);
      algat = pp.at;
      break;
    case P_QOP:
      c->has_qop = 1;
      c->qop = parse_qop_list(pp.value);
      break;
    case P_STALE: c->stale = is_true(pp.value); break; /* RFC 2617 §3.2.1: anything else is false */
    case P_USERHASH: c->userhash = is_true(pp.value); break;
    default: break;
    }
  }
  if (rc < 0) return rc;
  c->end = s.i;
  if (!(seen & B(P_REALM))) return fail(&s, SIP_DIGEST_EMISSING, "missing realm", s.i);
  if (!(seen & B(P_NONCE))) return fail(&s, SIP_DIGEST_EMISSING, "missing nonce", s.i);
  if (badalg) return fail(&s, SIP_DIGEST_EALG, "unsupported algorithm", algat);
  return SIP_DIGEST_OK;
}

int sip_digest_parse_credentials(const char *p, size_t n, sip_digest_credentials *c, char *scratch,
                                 size_t scap, sip_digest_error *err) {
  pstate s;
  init_state(&s, p, n, scratch, scap, err);
  memset(c, 0, sizeof *c);
  c->alg = SIP_DIGEST_MD5;
  int rc = read_scheme(&s, &c->scheme);
  if (rc) return rc;
  uint32_t seen = 0;
  int first = 1, badalg = 0;
  size_t algat = 0;
  pparam pp;
  while ((rc = next_param(&s, KIND_CREDENTIALS, &first, &pp)) == 1) {
    if ((rc = note_param(&s, &pp, &seen, c->extra, &c->nextra))) return rc;
    switch (pp.id) {
    case P_USERNAME:
      if (seen & B(P_USERNAME_EXT)) goto both;
      c->username = pp.value;
      break;
    case P_USERNAME_EXT: {
      if (seen & B(P_USERNAME)) goto both;
      int d = decode_ext(&s, pp.value, &c->username);
      if (d == -2) return fail(&s, SIP_DIGEST_ESPACE, "scratch buffer too small", pp.at);
      if (d) return fail(&s, SIP_DIGEST_EVALUE, "bad username* value", pp.at);
      c->username_ext = 1;
      break;
    }
    case P_REALM: c->realm = pp.value; break;
    case P_NONCE: c->nonce = pp.value; break;
    case P_URI: c->uri = pp.value; break;
    case P_RESPONSE: c->response = pp.value; break;
    case P_CNONCE: c->cnonce = pp.value; break;
    case P_OPAQUE: c->opaque = pp.value; break;
    case P_ALGORITHM:
      badalg = parse_alg(pp.value, &c->algorithm, &c->alg);
      algat = pp.at;
      break;
    case P_QOP:
      if (sip_str_ieq(pp.value, "auth")) c->qop = SIP_DIGEST_QOP_AUTH;
      else if (sip_str_ieq(pp.value, "auth-int")) c->qop = SIP_DIGEST_QOP_AUTH_INT;
      else return fail(&s, SIP_DIGEST_EVALUE, "unsupported qop", pp.at);
      break;
    case P_NC:
      if (parse_nc(pp.value, &c->nc))
        return fail(&s, SIP_DIGEST_EVALUE, "bad nc (8 hex digits)", pp.at);
      c->nc_hex = pp.value;
      break;
    case P_USERHASH: c->userhash = is_true(pp.value); break;
    default: break;
    }
  }
  if (rc < 0) return rc;
  if (s.i < n) return fail(&s, SIP_DIGEST_ESYNTAX, "trailing data after the credentials", s.i);
  static const struct {
    int id;
    const char *what;
  } req[] = {
    {P_REALM, "missing realm"},
    {P_NONCE, "missing nonce"},
    {P_URI, "missing uri"},
    {P_RESPONSE, "missing response"},
  };
  if (!(seen & (B(P_USERNAME) | B(P_USERNAME_EXT))))
    return fail(&s, SIP_DIGEST_EMISSING, "missing username", n);
  for (size_t k = 0; k < sizeof req / sizeof req[0]; k++)
    if (!(seen & B(req[k].id))) return fail(&s, SIP_DIGEST_EMISSING, req[k].what, n);
  /* RFC 2617 §3.2.2: cnonce and nc go with qop; -sess needs cnonce for A1 */
  if (c->qop && !(seen & B(P_CNONCE))) return fail(&s, SIP_DIGEST_EMISSING, "missing cnonce", n);
  if (c->qop && !(seen & B(P_NC))) return fail(&s, SIP_DIGEST_EMISSING, "missing nc", n);
  if (badalg) return fail(&s, SIP_DIGEST_EALG, "unsupported algorithm", algat);
  if (sip_digest_alg_is_sess(c->alg) && !(seen & B(P_CNONCE)))
    return fail(&s, SIP_DIGEST_EMISSING, "missing cnonce", n);
  return SIP_DIGEST_OK;
both: /* RFC 7616 §3.4.4: never both */
  return fail(&s, SIP_DIGEST_EVALUE, "both username and username*", pp.at);
}

int sip_digest_parse_info(const char *p, size_t n, sip_digest_info *c, char *scratch, size_t scap,
                          sip_digest_error *err) {
  pstate s;
  init_state(&s, p, n, scratch, scap, err);
  memset(c, 0, sizeof *c);
  uint32_t seen = 0;
  int first = 1, rc;
  pparam pp;
  while ((rc = next_param(&s, KIND_INFO, &first, &pp)) == 1) {
    if ((rc = note_param(&s, &pp, &seen, c->extra, &c->nextra))) return rc;
    switch (pp.id) {
    case P_NEXTNONCE: c->nextnonce = pp.value; break;
    case P_RSPAUTH: c->rspauth = pp.value; break;
    case P_CNONCE: c->cnonce = pp.value; break;
    case P_QOP:
      if (sip_str_ieq(pp.value, "auth")) c->qop = SIP_DIGEST_QOP_AUTH;
      else if (sip_str_ieq(pp.value, "auth-int")) c->qop = SIP_DIGEST_QOP_AUTH_INT;
      else return fail(&s, SIP_DIGEST_EVALUE, "unsupported qop", pp.at);
      break;
    case P_NC:
      if (parse_nc(pp.value, &c->nc))
        return fail(&s, SIP_DIGEST_EVALUE, "bad nc (8 hex digits)", pp.at);
      c->nc_hex = pp.value;
      break;
    default: break;
    }
  }
  if (rc < 0) return rc;
  if (s.i < n) return fail(&s, SIP_DIGEST_ESYNTAX, "expected a parameter", s.i);
  return SIP_DIGEST_OK;
}

/* Building -----------------------------------------------------------------------------------------*/

typedef struct wstate {
  sip_buf *b;
  int bad;
  int first;
} wstate;

static void w_name(wstate *w, const char *name) {
  if (!w->first) sip_buf_puts(w->b, ", ");
  w->first = 0;
  sip_buf_puts(w->b, name);
  sip_buf_putc(w->b, '=');
}

/* quoted-string; control characters would break the header (or inject one), so refuse them */
static void w_quoted(wstate *w, const char *name, sip_str v) {
  w_name(w, name);
  sip_buf_putc(w->b, '"');
  size_t run = 0; /* start of the characters not yet written: they go out a run at a time */
  for (size_t i = 0; i < v.n; i++) {
    unsigned char c = (unsigned char)v.p[i];
    if (SIP_IS(c, SIP_C_CTL) && c != '\t') {
      w->bad = 1;
      return;
    }
    if (c == '"' || c == '\\') {
      sip_buf_put(w->b, v.p + run, i - run);
      sip_buf_putc(w->b, '\\');
      run = i;
    }
  }
  sip_buf_put(w->b, v.p + run, v.n - run);
  sip_buf_putc(w->b, '"');
}

static int is_token(sip_str v) {
  if (v.n == 0) return 0;
  for (size_t i = 0; i < v.n; i++)
    if (!SIP_IS(v.p[i], SIP_C_TOKEN)) return 0;
  return 1;
}

static void w_token(wstate *w, const char *name, sip_str v) {
  if (!is_token(v)) {
    w->bad = 1;
    return;
  }
  w_name(w, name);
  sip_buf_putstr(w->b, v);
}

/* An extra param: as a token when it is one, else quoted. */
static void w_extra(wstate *w, const sip_digest_param *e) {
  if (!is_token(e->name)) {
    w->bad = 1;
    return;
  }
  char name[64];
  if (e->name.n >= sizeof name) {
    w->bad = 1;
    return;
  }
  memcpy(name, e->name.p, e->name.n);
  name[e->name.n] = 0;
  if (is_token(e->value)) w_token(w, name, e->value);
  else w_quoted(w, name, e->value);
}

static const char *qop_name(unsigned q) {
  return q == SIP_DIGEST_QOP_AUTH ? "auth" : q == SIP_DIGEST_QOP_AUTH_INT ? "auth-int" : NULL;
}

static int w_done(wstate *w, size_t mark) {
  if (w->bad || w->b->oom) {
    if (!w->b->oom) w->b->n = mark;
    return -1;
  }
  return 0;
}

int sip_digest_write_challenge(sip_buf *b, const sip_digest_challenge *c) {
  size_t mark = b->n;
  wstate w = {b, 0, 1};
  const char *alg = sip_digest_alg_name(c->alg);
  if (!alg || !c->realm.p || !c->nonce.p) return -1;
  sip_buf_puts(b, "Digest ");
  w_quoted(&w, "realm", c->realm);
  if (c->domain.p) w_quoted(&w, "domain", c->domain);
  w_quoted(&w, "nonce", c->nonce);
  if (c->opaque.p) w_quoted(&w, "opaque", c->opaque);
  if (c->stale) w_token(&w, "stale", SIP_STR_LIT("true"));
  w_token(&w, "algorithm", sip_str_make(alg, strlen(alg)));
  if (c->qop & (SIP_DIGEST_QOP_AUTH | SIP_DIGEST_QOP_AUTH_INT)) {
    const char *q = (c->qop & SIP_DIGEST_QOP_AUTH)
                      ? ((c->qop & SIP_DIGEST_QOP_AUTH_INT) ? "auth,auth-int" : "auth")
                      : "auth-int";
    w_quoted(&w, "qop", sip_str_make(q, strlen(q)));
  }
  if (c->charset.p) w_token(&w, "charset", c->charset);
  if (c->userhash) w_token(&w, "userhash", SIP_STR_LIT("true"));
  for (unsigned k = 0; k < c->nextra && k < SIP_DIGEST_MAX_EXTRA; k++) w_extra(&w, &c->extra[k]);
  return w_done(&w, mark);
}

/* ext-value for username* (RFC 8187 §3.2.1): attr-char stays, the rest is %XX */
static void w_ext(wstate *w, const char *name, sip_str v) {
  static const char hex[] = "0123456789ABCDEF";
  w_name(w, name);
  sip_buf_puts(w->b, "UTF-8''");
  for (size_t i = 0; i < v.n; i++) {
    unsigned char c = (unsigned char)v.p[i];
    /* attr-char that is also a SIP token char (RFC 3261 §25.1 token is narrower than HTTP's) */
    if (is_attr_char(c) && SIP_IS(c, SIP_C_TOKEN)) {
      sip_buf_putc(w->b, (char)c);
    } else {
      sip_buf_putc(w->b, '%');
      sip_buf_putc(w->b, hex[c >> 4]);
      sip_buf_putc(w->b, hex[c & 15]);
    }
  }
}

int sip_digest_write_credentials(sip_buf *b, const sip_digest_credentials *c) {
  size_t mark = b->n;
  wstate w = {b, 0, 1};
  const char *alg = sip_digest_alg_name(c->alg);
  if (!alg || !c->username.p || !c->realm.p || !c->nonce.p || !c->uri.p || !c->response.p)
    return -1;
  sip_buf_puts(b, "Digest ");
  if (c->username_ext) w_ext(&w, "username*", c->username);
  else w_quoted(&w, "username", c->username);
  w_quoted(&w, "realm", c->realm);
  w_quoted(&w, "nonce", c->nonce);
  w_quoted(&w, "uri", c->uri);
  w_quoted(&w, "response", c->response);
  w_token(&w, "algorithm", sip_str_make(alg, strlen(alg)));
  if (c->cnonce.p) w_quoted(&w, "cnonce", c->cnonce);
  if (c->opaque.p) w_quoted(&w, "opaque", c->opaque);
  /* RFC 7616 §3.4: qop and nc are never quoted */
  const char *q = qop_name(c->qop);
  if (q) w_token(&w, "qop", sip_str_make(q, strlen(q)));
  if (c->nc_hex.p) w_token(&w, "nc", c->nc_hex);
  if (c->userhash) w_token(&w, "userhash", SIP_STR_LIT("true"));
  for (unsigned k = 0; k < c->nextra && k < SIP_DIGEST_MAX_EXTRA; k++) w_extra(&w, &c->extra[k]);
  return w_done(&w, mark);
}

int sip_digest_write_info(sip_buf *b, const sip_digest_info *c) {
  size_t mark = b->n;
  wstate w = {b, 0, 1};
  if (c->nextnonce.p) w_quoted(&w, "nextnonce", c->nextnonce);
  const char *q = qop_name(c->qop);
  if (q) w_token(&w, "qop", sip_str_make(q, strlen(q)));
  if (c->rspauth.p) w_quoted(&w, "rspauth", c->rspauth);
  if (c->cnonce.p) w_quoted(&w, "cnonce", c->cnonce);
  if (c->nc_hex.p) w_token(&w, "nc", c->nc_hex);
  for (unsigned k = 0; k < c->nextra && k < SIP_DIGEST_MAX_EXTRA; k++) w_extra(&w, &c->extra[k]);
  return w_done(&w, mark);
}

/* Computation --------------------------------------------------------------------------------------*/

static void to_hex(const unsigned char *d, size_t n, char *out) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hex[d[i] >> 4];
    out[2 * i + 1] = hex[d[i] & 15];
  }
  out[2 * n] = 0;
}

/* One digest context per thread, reused: creating and freeing one per hash cost more than hashing
 * a short string. A stack is driven from one thread; _Thread_local keeps others apart. */
static EVP_MD_CTX *md_ctx(void) {
  static _Thread_local EVP_MD_CTX *ctx;
  if (!ctx) ctx = EVP_MD_CTX_new();
  return ctx;
}

/* H(parts joined by ":") in lowercase hex. Returns the hex length or -1. */
static int hash_hex(sip_digest_alg alg, const sip_str *parts, int np,
                    char out[SIP_DIGEST_HEX_MAX]) {
  const EVP_MD *md = alg_md(alg);
  if (!md) return -1;
  EVP_MD_CTX *ctx = md_ctx();
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int dn = 0;
  int ok = ctx && EVP_DigestInit_ex(ctx, md, NULL);
  for (int i = 0; ok && i < np; i++) {
    if (i) ok = EVP_DigestUpdate(ctx, ":", 1);
    if (ok && parts[i].n) ok = EVP_DigestUpdate(ctx, parts[i].p, parts[i].n);
  }
  if (ok) ok = EVP_DigestFinal_ex(ctx, d, &dn);
  if (!ok || dn * 2 >= SIP_DIGEST_HEX_MAX) return -1;
  to_hex(d, dn, out);
  return (int)(dn * 2);
}

int sip_digest_ha1_base(sip_digest_alg alg, sip_str username, sip_str realm, sip_str password,
                        char out[SIP_DIGEST_HEX_MAX]) {
  sip_str parts[3] = {username, realm, password};
  return hash_hex(alg, parts, 3, out);
}

int sip_digest_userhash(sip_digest_alg alg, sip_str username, sip_str realm,
                        char out[SIP_DIGEST_HEX_MAX]) {
  sip_str parts[2] = {username, realm};
  return hash_hex(alg, parts, 2, out);
}

int sip_digest_ha1(const sip_digest_input *in, char out[SIP_DIGEST_HEX_MAX]) {
  size_t hl = sip_digest_hex_len(in->alg);
  if (!hl) return -1;
  char base[SIP_DIGEST_HEX_MAX];
  if (in->ha1.p) {
    /* a stored HA1 must be a hex digest of this algorithm's hash (RFC 7616 §3.4.2) */
    if (in->ha1.n != hl) return -1;
    for (size_t i = 0; i < hl; i++) {
      if (hexval((unsigned char)in->ha1.p[i]) < 0) return -1;
      base[i] = (char)sip_lower((unsigned char)in->ha1.p[i]);
    }
    base[hl] = 0;
  } else if (sip_digest_ha1_base(in->alg, in->username, in->realm, in->password, base) < 0) {
    return -1;
  }
  if (sip_digest_alg_is_sess(in->alg)) {
    sip_str parts[3] = {sip_str_make(base, hl), in->nonce, in->cnonce};
    return hash_hex(in->alg, parts, 3, out);
  }
  memcpy(out, base, hl + 1);
  return (int)hl;
}

static int response_with(const sip_digest_input *in, sip_str method, char out[SIP_DIGEST_HEX_MAX]) {
  char ha1[SIP_DIGEST_HEX_MAX], ha2[SIP_DIGEST_HEX_MAX], hbody[SIP_DIGEST_HEX_MAX];
  int hl = sip_digest_ha1(in, ha1);
  if (hl < 0) return -1;
  int h2;
  if (in->qop == SIP_DIGEST_QOP_AUTH_INT) {
    /* A2 = Method ":" request-uri ":" H(entity-body) (RFC 7616 §3.4.3) */
    if (hash_hex(in->alg, &in->body, 1, hbody) < 0) return -1;
    sip_str parts[3] = {method, in->uri, sip_str_make(hbody, (size_t)hl)};
    h2 = hash_hex(in->alg, parts, 3, ha2);
  } else {
    sip_str parts[2] = {method, in->uri};
    h2 = hash_hex(in->alg, parts, 2, ha2);
  }
  if (h2 < 0) return -1;
  sip_str a = sip_str_make(ha1, (size_t)hl), b2 = sip_str_make(ha2, (size_t)h2);
  if (in->qop == SIP_DIGEST_QOP_NONE) {
    /* RFC 2069 compatibility: H(HA1 ":" nonce ":" HA2) */
    sip_str parts[3] = {a, in->nonce, b2};
    return hash_hex(in->alg, parts, 3, out);
  }
  const char *q = qop_name(in->qop);
  if (!q) return -1;
  sip_str parts[6] = {a, in->nonce, in->nc_hex, in->cnonce, sip_str_make(q, strlen(q)), b2};
  return hash_hex(in->alg, parts, 6, out);
}

int sip_digest_response(const sip_digest_input *in, char out[SIP_DIGEST_HEX_MAX]) {
  return response_with(in, in->method, out);
}

int sip_digest_rspauth(const sip_digest_input *in, char out[SIP_DIGEST_HEX_MAX]) {
  return response_with(in, SIP_STR_LIT(""), out);
}

void sip_digest_input_from(sip_digest_input *in, const sip_digest_credentials *c, sip_str method,
                           sip_str body) {
  memset(in, 0, sizeof *in);
  in->alg = c->alg;
  in->username = c->username;
  in->realm = c->realm;
  in->method = method;
  in->uri = c->uri;
  in->nonce = c->nonce;
  in->cnonce = c->cnonce;
  in->nc_hex = c->nc_hex;
  in->qop = c->qop;
  in->body = body;
}

int sip_digest_equal(sip_str a, sip_str b) {
  if (a.n != b.n) return 0;
  if (a.n == 0) return 1;
  return CRYPTO_memcmp(a.p, b.p, a.n) == 0;
}

int sip_digest_verify(const sip_digest_input *in, sip_str response) {
  char want[SIP_DIGEST_HEX_MAX], got[SIP_DIGEST_HEX_MAX];
  int n = sip_digest_response(in, want);
  if (n < 0 || response.n != (size_t)n) return 0;
  for (int i = 0; i < n; i++) {
    /* branch-free ASCII lowercasing keeps the comparison's timing flat */
    unsigned char c = (unsigned char)response.p[i];
    got[i] = (char)(c | (((unsigned)(c - 'A') < 26u) << 5));
  }
  return CRYPTO_memcmp(got, want, (size_t)n) == 0;
}

/* Client -------------------------------------------------------------------------------------------*/

int sip_digest_random_hex(size_t n, char *out) {
  unsigned char r[32];
  if (n > sizeof r || sip_rand_bytes(r, n) != 0) return -1;
  to_hex(r, n, out);
  return 0;
}

int sip_digest_pick(const sip_digest_challenge *chs, size_t n) {
  int best = -1, rank = 0;
  for (size_t i = 0; i < n && i < 0x7fffffff; i++) {
    int k = sip_digest_alg_strength(chs[i].alg);
    if (k > rank) {
      rank = k;
      best = (int)i;
    }
  }
  return best;
}

int sip_digest_client_credentials(sip_buf *b, const sip_digest_challenge *ch,
                                  const sip_digest_client *cl, char cnonce_out[SIP_DIGEST_HEX_MAX],
                                  const char **err) {
  const char *e = NULL;
  char cn[SIP_DIGEST_HEX_MAX], resp[SIP_DIGEST_HEX_MAX], uh[SIP_DIGEST_HEX_MAX], nc[9];
  sip_digest_input in;
  sip_digest_credentials cr;
  memset(&in, 0, sizeof in);
  memset(&cr, 0, sizeof cr);
  if (cnonce_out) cnonce_out[0] = 0;

  in.alg = ch->alg;
  if (!alg_md(ch->alg)) {
    e = "unsupported algorithm";
    goto out;
  }
  /* RFC 7616 §3.4: prefer auth; auth-int only when it is all the server offers */
  if (!ch->has_qop) in.qop = SIP_DIGEST_QOP_NONE;
  else if (ch->qop & SIP_DIGEST_QOP_AUTH) in.qop = SIP_DIGEST_QOP_AUTH;
  else if (ch->qop & SIP_DIGEST_QOP_AUTH_INT) in.qop = SIP_DIGEST_QOP_AUTH_INT;
  else {
    e = "no supported qop offered";
    goto out;
  }
  if (cl->ha1.p && alg_md(cl->ha1_alg) != alg_md(ch->alg)) {
    e = "stored HA1 is of another hash algorithm";
    goto out;
  }
  int need_cnonce = in.qop != SIP_DIGEST_QOP_NONE || sip_digest_alg_is_sess(ch->alg);
  if (need_cnonce) {
    if (cl->cnonce.p) {
      if (cl->cnonce.n >= sizeof cn) {
        e = "cnonce too long";
        goto out;
      }
      memcpy(cn, cl->cnonce.p, cl->cnonce.n);
      cn[cl->cnonce.n] = 0;
    } else if (sip_digest_random_hex(16, cn)) {
      e = "random number generator failed";
      goto out;
    }
    in.cnonce = sip_str_make(cn, strlen(cn));
    if (cnonce_out) memcpy(cnonce_out, cn, in.cnonce.n + 1);
  }
  if (in.qop != SIP_DIGEST_QOP_NONE) {
    static const char hex[] = "0123456789abcdef";
    uint32_t v = cl->nc ? cl->nc : 1;
    for (int i = 7; i >= 0; i--, v >>= 4) nc[i] = hex[v & 15];
    nc[8] = 0;
    in.nc_hex = sip_str_make(nc, 8);
  }
  in.username = cl->username;
  in.realm = ch->realm;
  in.password = cl->password;
  in.ha1 = cl->ha1;
  in.method = cl->method;
  in.uri = cl->uri;
  in.nonce = ch->nonce;
  in.body = cl->body;
  int rn = sip_digest_response(&in, resp);
  if (rn < 0) {
    e = "cannot compute the response (bad HA1?)";
    goto out;
  }

  cr.alg = ch->alg;
  if (ch->userhash) {
    /* RFC 7616 §3.4.4: the response uses the real username; the header carries its hash */
    int un = sip_digest_userhash(ch->alg, cl->username, ch->realm, uh);
    if (un < 0) {
      e = "cannot compute the userhash";
      goto out;
    }
    cr.username = sip_str_make(uh, (size_t)un);
    cr.userhash = 1;
  } else {
    cr.username = cl->username;
  }
  cr.realm = ch->realm;
  cr.nonce = ch->nonce;
  cr.uri = cl->uri;
  cr.response = sip_str_make(resp, (size_t)rn);
  cr.opaque = ch->opaque;
  cr.qop = in.qop;
  if (need_cnonce) cr.cnonce = in.cnonce;
  if (in.qop != SIP_DIGEST_QOP_NONE) cr.nc_hex = in.nc_hex;
  if (sip_digest_write_credentials(b, &cr))
    e = b->oom ? "out of memory" : "value cannot be written";
out:
  if (err) *err = e;
  return e ? -1 : 0;
}
