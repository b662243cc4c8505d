/* fuzz_dns.c: libFuzzer target for sip_dns.c, the reader of DNS answers. Input: one byte choosing
 * the asked type, one byte n, n bytes of the asked name, then the message. Whatever it reads must
 * stay inside the message (ASan sees the exact size) and give records of the asked type whose
 * names are inside the pool, NUL-terminated, of the allowed characters. */
#include "fuzz.h"
#include "sip_dns.h"

static const int TYPES[] = {SIP_DNS_A, SIP_DNS_AAAA, SIP_DNS_SRV, SIP_DNS_NAPTR, SIP_DNS_CNAME};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  int qtype = TYPES[data[0] % 5];
  size_t qn = data[1];
  if (size < 2 + qn) return 0;
  char qname[256];
  memcpy(qname, data + 2, qn);
  qname[qn] = 0;
  size_t len = size - 2 - qn;
  uint8_t *m = malloc(len ? len : 1);
  ASSERT(m != NULL);
  if (len) memcpy(m, data + 2 + qn, len);
  static sip_dns_answer a;
  const char *err = NULL;
  if (sip_dns_parse(m, len, qname, qtype, &a, &err) != 0) {
    ASSERT(err != NULL);
    free(m);
    return 0;
  }
  ASSERT(a.n <= SIP_DNS_MAX_RR && a.pool_used <= sizeof a.pool);
  for (unsigned i = 0; i < a.n; i++) {
    const sip_dns_rr *r = &a.rr[i];
    ASSERT(r->type == qtype);
    if (qtype != SIP_DNS_SRV && qtype != SIP_DNS_NAPTR) continue;
    ASSERT(r->name < a.pool_used);
    const char *s = sip_dns_name(&a, r);
    size_t n = strnlen(s, a.pool_used - r->name);
    ASSERT(n < a.pool_used - r->name && n <= SIP_DNS_NAME_MAX);
    for (size_t k = 0; k < n; k++)
      ASSERT((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= '0' && s[k] <= '9') || s[k] == '-' ||
             s[k] == '_' || s[k] == '.');
  }
  free(m);
  return 0;
}
