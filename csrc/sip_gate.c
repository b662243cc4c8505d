/* sip_gate.c: the stateless digest challenge ahead of the transaction layer (see sip_gate.h).
 * The challenge headers are written once, at setup, with a stand-in nonce; an answer copies
 * them and puts fresh nonces where the stand-ins were. */
#include "sip_gate.h"

#include <stdlib.h>
#include <string.h>

#include "sip_rand.h"

struct sip_gate {
  unsigned methods;
  int status;
  sip_hdr_id credentials;
  char *reason; /* NULL: the standard phrase */
  char *secret;
  size_t secret_len;
  char *lines; /* "Header: value\r\n" per challenge, NUL-terminated */
  size_t lines_len;
  size_t nch;
  size_t *nonce_at; /* per challenge: where its nonce goes in lines */
  sip_str *realm;   /* per challenge: the realm its nonce is bound to */
  sip_str *hosts;   /* without brackets */
  size_t nhosts;
  char *store; /* the bytes realm and hosts point into */
};

static char *dup_bytes(const void *p, size_t n) {
  char *d = malloc(n + 1);
  if (!d) return NULL;
  if (n) memcpy(d, p, n);
  d[n] = 0;
  return d;
}

static int has_ctl(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) return 1;
  return 0;
}

static sip_str unbracket(sip_str h) {
  if (h.n >= 2 && h.p[0] == '[' && h.p[h.n - 1] == ']') return sip_str_make(h.p + 1, h.n - 2);
  return h;
}

void sip_gate_free(sip_gate *g) {
  if (!g) return;
  free(g->reason);
  if (g->secret) memset(g->secret, 0, g->secret_len);
  free(g->secret);
  free(g->lines);
  free(g->nonce_at);
  free(g->realm);
  free(g->hosts);
  free(g->store);
  free(g);
}

/* One challenge as a header line, written twice with different stand-in nonces: where the two
 * differ is where the nonce goes. */
static int write_line(sip_buf *b, const char *header, const sip_digest_challenge *c, size_t *at) {
  static const char zeros[SIP_DIGEST_NONCE_LEN + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";
  static const char ones[SIP_DIGEST_NONCE_LEN + 1] =
    "1111111111111111111111111111111111111111111111111111111111111111";
  sip_digest_challenge t = *c;
  sip_buf a = SIP_BUF_INIT, z = SIP_BUF_INIT;
  t.nonce = sip_str_make(zeros, SIP_DIGEST_NONCE_LEN);
  int rc = sip_digest_write_challenge(&a, &t);
  t.nonce = sip_str_make(ones, SIP_DIGEST_NONCE_LEN);
  rc |= sip_digest_write_challenge(&z, &t);
  if (rc == 0 && !a.oom && !z.oom && a.n == z.n) {
    size_t i = 0;
    while (i < a.n && a.p[i] == z.p[i]) i++;
    if (i + SIP_DIGEST_NONCE_LEN <= a.n) {
      size_t start = b->n;
      sip_buf_puts(b, header);
      sip_buf_puts(b, ": ");
      *at = b->n - start + i;
      sip_buf_put(b, a.p, a.n);
      sip_buf_puts(b, "\r\n");
    } else {
      rc = -1;
    }
  } else {
    rc = -1;
  }
  sip_buf_free(&a);
  sip_buf_free(&z);
  return rc;
}

sip_gate *sip_gate_new(const sip_gate_config *c, const char **err) {
  *err = "out of memory";
  if (!c->nchallenges || !c->challenges) {
    *err = "no challenge";
    return NULL;
  }
  if (c->status != 401 && c->status != 407) {
    *err = "status must be 401 or 407";
    return NULL;
  }
  if (!c->header || !*c->header || has_ctl(c->header) || strchr(c->header, ':') ||
      (c->reason && has_ctl(c->reason))) {
    *err = "header name or reason cannot be written";
    return NULL;
  }
  if (!c->secret || !c->secret_len) {
    *err = "secret must not be empty";
    return NULL;
  }
  sip_gate *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->methods = c->methods;
  g->status = c->status;
  g->credentials = c->credentials;
  g->nch = c->nchallenges;
  g->nhosts = c->nhosts;
  size_t store = 0;
  for (size_t i = 0; i < c->nchallenges; i++) store += c->challenges[i].realm.n;
  for (size_t i = 0; i < c->nhosts; i++) store += c->hosts[i].n;
  g->secret = dup_bytes(c->secret, c->secret_len);
  g->secret_len = c->secret_len;
  g->reason = c->reason ? dup_bytes(c->reason, strlen(c->reason)) : NULL;
  g->nonce_at = calloc(g->nch, sizeof *g->nonce_at);
  g->realm = calloc(g->nch, sizeof *g->realm);
  g->hosts = calloc(g->nhosts ? g->nhosts : 1, sizeof *g->hosts);
  g->store = malloc(store ? store : 1);
  if (!g->secret || (c->reason && !g->reason) || !g->nonce_at || !g->realm || !g->hosts ||
      !g->store) {
    sip_gate_free(g);
    return NULL;
  }
  char *s = g->store;
  sip_buf b = SIP_BUF_INIT;
  for (size_t i = 0; i < g->nch; i++) {
    const sip_digest_challenge *ch = &c->challenges[i];
    size_t line = b.n;
    if (!ch->realm.p || write_line(&b, c->header, ch, &g->nonce_at[i]) != 0) {
      if (!b.oom) *err = "a challenge cannot be written (control characters?)";
      sip_buf_free(&b);
      sip_gate_free(g);
      return NULL;
    }
    g->nonce_at[i] += line;
    memcpy(s, ch->realm.p, ch->realm.n);
    g->realm[i] = sip_str_make(s, ch->realm.n);
    s += ch->realm.n;
  }
  for (size_t i = 0; i < g->nhosts; i++) {
    memcpy(s, c->hosts[i].p, c->hosts[i].n);
    g->hosts[i] = unbracket(sip_str_make(s, c->hosts[i].n));
    s += c->hosts[i].n;
  }
  sip_buf_putc(&b, 0);
  if (b.oom) {
    sip_buf_free(&b);
    sip_gate_free(g);
    return NULL;
  }
  g->lines = b.p; /* owned now */
  g->lines_len = b.n - 1;
  *err = NULL;
  return g;
}

static int host_served(const sip_gate *g, sip_str host) {
  host = unbracket(host);
  for (size_t i = 0; i < g->nhosts; i++)
    if (sip_str_ieq2(host, g->hosts[i])) return 1;
  return 0;
}

/* The requests the transaction user must see itself, each for the rule named. */
static int for_the_tu(const sip_gate *g, const sip_msg *m) {
  if (!(g->methods & (1u << m->method_id))) return 1;
  if (m->count[g->credentials]) return 1;      /* credentials to verify (§22.4) */
  if (m->count[SIP_H_ROUTE]) return 1;         /* a route set (§16.4) */
  if (m->count[SIP_H_PROXY_REQUIRE]) return 1; /* 420 (§16.3 step 5) */
  if (m->count[SIP_H_REQUIRE]) return 1;       /* 420 unless supported (§10.3 step 2) */
  if (m->max_forwards == 0) return 1;          /* 483 (§16.3 step 3) */
  if (m->count[SIP_H_VIA] != 1) return 1;      /* loop detection needs the Vias (§16.3 step 4) */
  if (m->uri.scheme != SIP_URI_SIP && m->uri.scheme != SIP_URI_SIPS) return 1; /* 416 */
  return !host_served(g, m->uri.host); /* not ours (§10.3 step 1) */
}

int sip_gate_answer(const sip_gate *g, const sip_msg *req, const sip_via_fix *fix, uint64_t now,
                    sip_buf *out) {
  if (!g || !req->is_request || for_the_tu(g, req)) return 0;
  char small[1024], *lines = small;
  if (g->lines_len + 1 > sizeof small && !(lines = malloc(g->lines_len + 1))) return -1;
  memcpy(lines, g->lines, g->lines_len + 1);
  char nonce[SIP_DIGEST_NONCE_LEN + 1], tag[SIP_TAG_LEN + 1];
  int rc = sip_stateless_tag(req, tag) == 0 ? 1 : -1; /* §8.2.7: the same for a retransmission */
  for (size_t i = 0; rc == 1 && i < g->nch; i++) {
    if (sip_digest_nonce_new(g->secret, g->secret_len, g->realm[i], now, nonce) != 0) rc = -1;
    else memcpy(lines + g->nonce_at[i], nonce, SIP_DIGEST_NONCE_LEN);
  }
  if (rc == 1 &&
      (sip_build_response(out, req, g->status, g->reason, tag, fix, lines, NULL, NULL, 0) != 0 ||
       out->oom))
    rc = -1;
  if (lines != small) free(lines);
  return rc;
}
