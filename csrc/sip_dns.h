/* sip_dns.h: reading DNS answers (RFC 1035 §4) for the records RFC 3263 needs: A, AAAA (RFC 3596),
 * SRV (RFC 2782) and NAPTR (RFC 3403), following CNAME chains in the answer section and taking
 * the negative-caching TTL from the authority section's SOA (RFC 2308 §5). Pure C, no I/O, no
 * allocation: the caller's buffer in, a fixed-size answer out. Names come out lowercased, without
 * the final dot, and only with letters, digits, '-' and '_' in their labels; anything else, a
 * name past 255 bytes, a compression loop, a CNAME loop, a record running past the message or
 * more records than fit is an error for that answer (a reason, never a crash). */
#ifndef SIP_DNS_H
#define SIP_DNS_H

#include <stddef.h>
#include <stdint.h>

enum {
  SIP_DNS_A = 1,
  SIP_DNS_CNAME = 5,
  SIP_DNS_SOA = 6,
  SIP_DNS_AAAA = 28,
  SIP_DNS_SRV = 33,
  SIP_DNS_NAPTR = 35
};

#define SIP_DNS_NAME_MAX 255 /* RFC 1035 §2.3.4, in text form without the final dot */
#define SIP_DNS_MAX_RR 32    /* records of the asked type in one answer */
#define SIP_DNS_POOL 8192    /* bytes for the names of those records */

typedef struct sip_dns_rr {
  uint16_t type;
  uint32_t ttl;
  uint16_t prio, weight, port; /* SRV; NAPTR: prio is the order, weight the preference */
  uint8_t addr[16];            /* A: 4 bytes, AAAA: 16 */
  char flags[8];               /* NAPTR flags, lowercased; "" when longer */
  char service[32];            /* NAPTR service, uppercased; "" when longer */
  uint16_t name;               /* SRV target, NAPTR replacement: offset in the pool ("" = ".") */
} sip_dns_rr;

typedef struct sip_dns_answer {
  unsigned rcode;   /* RFC 1035 §4.1.1: 0 no error, 2 server failure, 3 no such name ... */
  unsigned tc;      /* the truncation bit */
  uint32_t neg_ttl; /* for an answer without records: min(SOA TTL, SOA minimum); UINT32_MAX: none */
  unsigned n;       /* records of the asked type for the asked name (after CNAMEs) */
  sip_dns_rr rr[SIP_DNS_MAX_RR];
  size_t pool_used;
  char pool[SIP_DNS_POOL];
} sip_dns_answer;

/* Read the response in buf/len to the question qname (text, with or without the final dot,
 * any case) of type qtype. 0 with *out filled; -1 with a static reason in *err. A response with
 * no records of the type (rcode 3, or NODATA) is 0 with out->n == 0. */
int sip_dns_parse(const uint8_t *buf, size_t len, const char *qname, int qtype, sip_dns_answer *out,
                  const char **err);

static inline const char *sip_dns_name(const sip_dns_answer *a, const sip_dns_rr *r) {
  return a->pool + r->name;
}

#endif
