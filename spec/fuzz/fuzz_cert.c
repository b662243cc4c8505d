/* fuzz_cert.c: libFuzzer target for sip_tls_name.c. The input is "domain\n" then a DER
 * certificate (a peer sends any bytes it likes as its certificate). Every identity reported is a
 * non-empty name without NUL of a known kind, and a certificate proves a domain only when one of
 * its identities holds that domain. */
#include "fuzz.h"
#include "sip_tls_name.h"

#include <strings.h>

typedef struct seen {
  const char *domain;
  int holds; /* an identity contains the domain */
} seen;

static int look(void *ud, const char *kind, const char *name, size_t len) {
  seen *s = ud;
  ASSERT(len > 0 && memchr(name, 0, len) == NULL);
  ASSERT(!strcmp(kind, "uri") || !strcmp(kind, "dns") || !strcmp(kind, "cn"));
  size_t dl = strlen(s->domain);
  for (size_t i = 0; dl && i + dl <= len; i++)
    if (!strncasecmp(name + i, s->domain, dl)) s->holds = 1;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nl = memchr(data, '\n', size < 256 ? size : 256);
  if (!nl) return 0;
  char domain[256];
  size_t dl = (size_t)(nl - data);
  memcpy(domain, data, dl);
  domain[dl] = 0;
  if (memchr(domain, 0, dl)) return 0;
  char *der = fuzz_copy(nl + 1, size - dl - 1);
  if (!der) return 0;
  const unsigned char *p = (const unsigned char *)der;
  X509 *cert = d2i_X509(NULL, &p, (long)(size - dl - 1));
  if (cert) {
    seen s = {domain, 0};
    ASSERT(sip_tls_each_identity(cert, look, &s) == 0);
    if (sip_tls_proves(cert, domain)) ASSERT(s.holds && dl > 0);
    X509_free(cert);
  }
  free(der);
  return 0;
}
