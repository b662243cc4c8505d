/* sip_dns.c: DNS answers for RFC 3263 (see sip_dns.h). */
#include "sip_dns.h"

#include <string.h>

#define MAX_SEEN 64 /* answer and authority records looked at */
#define MAX_CNAME 8 /* links of a CNAME chain */

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int name_char(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* The name at *off (RFC 1035 §4.1.4 compression), lowercased into out (SIP_DNS_NAME_MAX + 1).
 * *off moves past the name as written there. 0, or -1 with *err. */
static int read_name(const uint8_t *m, size_t len, size_t *off, char *out, const char **err) {
  size_t p = *off, n = 0;
  int jumps = 0;
  for (;;) {
    if (p >= len) return *err = "name runs past the message", -1;
    uint8_t l = m[p];
    if ((l & 0xc0) == 0xc0) {
      if (p + 1 >= len) return *err = "name runs past the message", -1;
      if (!jumps) *off = p + 2;
      /* every pointer must go back: a loop is then impossible, and the count is a second guard */
      size_t to = (size_t)(l & 0x3f) << 8 | m[p + 1];
      if (to >= p || ++jumps > 32) return *err = "compression loop in a name", -1;
      p = to;
      continue;
    }
    if (l & 0xc0) return *err = "bad label type in a name", -1;
    if (l == 0) {
      if (!jumps) *off = p + 1;
      out[n] = 0;
      return 0;
    }
    if (p + 1 + l > len) return *err = "name runs past the message", -1;
    if (n + (n ? 1 : 0) + l > SIP_DNS_NAME_MAX) return *err = "name longer than 255 bytes", -1;
    if (n) out[n++] = '.';
    for (unsigned i = 0; i < l; i++) {
      uint8_t c = m[p + 1 + i];
      if (c >= 'A' && c <= 'Z') c = (uint8_t)(c - 'A' + 'a');
      if (!name_char(c)) return *err = "bad character in a name", -1;
      out[n++] = (char)c;
    }
    p += 1 + l;
  }
}

/* qname as the reader writes names: lowercased, no final dot. */
static int norm_name(const char *q, char *out) {
  size_t n = strlen(q);
  if (n && q[n - 1] == '.') n--;
  if (n > SIP_DNS_NAME_MAX) return -1;
  for (size_t i = 0; i < n; i++) {
    char c = q[i];
    out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  out[n] = 0;
  return 0;
}

/* A character-string (RFC 1035 §3.3) into out (cap with the NUL): "" when longer. */
static int read_cstr(const uint8_t *m, size_t end, size_t *off, char *out, size_t cap, int upper) {
  if (*off >= end) return -1;
  size_t l = m[*off];
  if (*off + 1 + l > end) return -1;
  out[0] = 0;
  if (l < cap) {
    for (size_t i = 0; i < l; i++) {
      char c = (char)m[*off + 1 + i];
      if (upper && c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
      if (!upper && c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
      out[i] = c;
    }
    out[l] = 0;
  }
  *off += 1 + l;
  return 0;
}

typedef struct seen {
  uint16_t type;
  uint32_t ttl;
  size_t rdata, rdlen;
  char owner[SIP_DNS_NAME_MAX + 1];
} seen;

static int pool_put(sip_dns_answer *a, const char *s, uint16_t *at) {
  size_t n = strlen(s) + 1;
  if (a->pool_used + n > sizeof a->pool) return -1;
  memcpy(a->pool + a->pool_used, s, n);
  *at = (uint16_t)a->pool_used;
  a->pool_used += n;
  return 0;
}

/* The record of the asked type in s, into r. */
static int take(const uint8_t *m, const seen *s, sip_dns_answer *a, sip_dns_rr *r,
                const char **err) {
  const uint8_t *d = m + s->rdata;
  size_t end = s->rdata + s->rdlen, off;
  char name[SIP_DNS_NAME_MAX + 1];
  memset(r, 0, sizeof *r);
  r->type = s->type;
  r->ttl = s->ttl;
  switch (s->type) {
  case SIP_DNS_A:
    if (s->rdlen != 4) return *err = "A record of the wrong size", -1;
    memcpy(r->addr, d, 4);
    return 0;
  case SIP_DNS_AAAA:
    if (s->rdlen != 16) return *err = "AAAA record of the wrong size", -1;
    memcpy(r->addr, d, 16);
    return 0;
  case SIP_DNS_SRV: /* RFC 2782: priority, weight, port, target */
    if (s->rdlen < 7) return *err = "SRV record too short", -1;
    r->prio = get16(d);
    r->weight = get16(d + 2);
    r->port = get16(d + 4);
    off = s->rdata + 6;
    if (read_name(m, end, &off, name, err)) return -1;
    if (off != end) return *err = "SRV record longer than its target", -1;
    break;
  case SIP_DNS_NAPTR: /* RFC 3403 §4.1: order, preference, flags, services, regexp, replacement */
    if (s->rdlen < 7) return *err = "NAPTR record too short", -1;
    r->prio = get16(d);
    r->weight = get16(d + 2);
    off = s->rdata + 4;
    char regexp[2];
    if (read_cstr(m, end, &off, r->flags, sizeof r->flags, 0) ||
        read_cstr(m, end, &off, r->service, sizeof r->service, 1) ||
        read_cstr(m, end, &off, regexp, sizeof regexp, 0))
      return *err = "NAPTR record cut short", -1;
    if (read_name(m, end, &off, name, err)) return -1;
    if (off != end) return *err = "NAPTR record longer than its replacement", -1;
    break;
  default: return *err = "unexpected record type", -1;
  }
  if (pool_put(a, name, &r->name)) return *err = "too many names in the answer", -1;
  return 0;
}

int sip_dns_parse(const uint8_t *m, size_t len, const char *qname, int qtype, sip_dns_answer *a,
                  const char **err) {
  const char *dummy;
  if (!err) err = &dummy;
  a->n = 0;
  a->pool_used = 0;
  a->neg_ttl = UINT32_MAX;
  if (len < 12) return *err = "DNS answer shorter than its header", -1;
  if (!(m[2] & 0x80)) return *err = "DNS message is not a response", -1;
  a->tc = (m[2] >> 1) & 1;
  a->rcode = m[3] & 0x0f;
  unsigned qd = get16(m + 4), an = get16(m + 6), ns = get16(m + 8);
  if (an + ns > MAX_SEEN) return *err = "DNS answer has too many records", -1;
  char want[SIP_DNS_NAME_MAX + 1], name[SIP_DNS_NAME_MAX + 1];
  if (norm_name(qname, want)) return *err = "question name too long", -1;
  size_t off = 12;
  for (unsigned i = 0; i < qd; i++) {
    if (read_name(m, len, &off, name, err)) return -1;
    if (off + 4 > len) return *err = "question runs past the message", -1;
    off += 4;
  }
  seen s[MAX_SEEN];
  unsigned ns_at = an;
  for (unsigned i = 0; i < an + ns; i++) {
    if (read_name(m, len, &off, s[i].owner, err)) return -1;
    if (off + 10 > len) return *err = "record runs past the message", -1;
    s[i].type = get16(m + off);
    s[i].ttl = get32(m + off + 4) & 0x7fffffffu; /* RFC 2181 §8: the top bit set means zero */
    if (m[off + 4] & 0x80) s[i].ttl = 0;
    s[i].rdlen = get16(m + off + 8);
    s[i].rdata = off + 10;
    off += 10 + s[i].rdlen;
    if (off > len) return *err = "record data runs past the message", -1;
  }
  /* RFC 1034 §3.6.2: the CNAME chain from the question's name, in the answer section only */
  char chain[MAX_CNAME + 1][SIP_DNS_NAME_MAX + 1];
  unsigned links = 0;
  strcpy(chain[0], want);
  for (int moved = 1; moved && qtype != SIP_DNS_CNAME;) {
    moved = 0;
    for (unsigned i = 0; i < ns_at; i++) {
      // cppcheck-suppress uninitvar ; s[0 .. an + ns) were all read above (ns_at <= an + ns)
      if (s[i].type != SIP_DNS_CNAME || strcmp(s[i].owner, chain[links])) continue;
      size_t o = s[i].rdata;
      if (read_name(m, s[i].rdata + s[i].rdlen, &o, name, err)) return -1;
      for (unsigned k = 0; k <= links; k++)
        if (!strcmp(chain[k], name)) return *err = "CNAME loop", -1;
      if (links == MAX_CNAME) return *err = "CNAME chain too long", -1;
      strcpy(chain[++links], name);
      moved = 1;
      break;
    }
  }
  for (unsigned i = 0; i < ns_at; i++) {
    if (s[i].type != qtype || strcmp(s[i].owner, chain[links])) continue;
    if (a->n == SIP_DNS_MAX_RR) return *err = "DNS answer has too many records", -1;
    if (take(m, &s[i], a, &a->rr[a->n], err)) return -1;
    a->n++;
  }
  for (unsigned i = ns_at; i < an + ns; i++) { /* RFC 2308 §5: min(SOA TTL, SOA MINIMUM) */
    if (s[i].type != SIP_DNS_SOA) continue;
    size_t o = s[i].rdata, end = s[i].rdata + s[i].rdlen;
    if (read_name(m, end, &o, name, err) || read_name(m, end, &o, name, err)) return -1;
    if (o + 20 != end) return *err = "SOA record of the wrong size", -1;
    uint32_t min = get32(m + o + 16);
    a->neg_ttl = min < s[i].ttl ? min : s[i].ttl;
  }
  return 0;
}
