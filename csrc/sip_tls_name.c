/* sip_tls_name.c: a certificate's SIP identities and the domain check (sip_tls_name.h). */
#include "sip_tls_name.h"

#include <string.h>
#include <strings.h>

#include <openssl/x509v3.h>

int sip_tls_each_identity(X509 *cert, sip_tp_name_cb each, void *ud) {
  GENERAL_NAMES *san = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
  int found = 0, r = 0;
  for (int pass = 0; pass < 2 && !r; pass++) /* URIs first, then DNS names */
    for (int i = 0; san && i < sk_GENERAL_NAME_num(san) && !r; i++) {
      const GENERAL_NAME *g = sk_GENERAL_NAME_value(san, i);
      int type = pass == 0 ? GEN_URI : GEN_DNS;
      if (g->type != type) continue;
      const ASN1_IA5STRING *v = type == GEN_URI ? g->d.uniformResourceIdentifier : g->d.dNSName;
      const char *p = (const char *)ASN1_STRING_get0_data(v);
      int n = ASN1_STRING_length(v);
      found = 1;
      if (!p || n <= 0 || memchr(p, 0, (size_t)n)) continue; /* a NUL is an attack, not a name */
      r = each(ud, type == GEN_URI ? "uri" : "dns", p, (size_t)n);
    }
  GENERAL_NAMES_free(san);
  if (found || r) return r;
  const X509_NAME *subj = X509_get_subject_name(cert);
  int i = subj ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
  const ASN1_STRING *cn = i >= 0 ? X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i)) : NULL;
  unsigned char *u = NULL;
  int n = cn ? ASN1_STRING_to_UTF8(&u, cn) : -1;
  if (n > 0 && !memchr(u, 0, (size_t)n)) r = each(ud, "cn", (const char *)u, (size_t)n);
  OPENSSL_free(u);
  return r;
}

/* The domain of a sip: URI that names one ("sip:example.com[;params]"), or -1. */
static int uri_domain(const char *p, size_t n, const char **d, size_t *dn) {
  if (n < 4 || strncasecmp(p, "sip:", 4)) return -1;
  p += 4;
  n -= 4;
  size_t k = 0;
  while (k < n && p[k] != ';' && p[k] != '?' && p[k] != ':' && p[k] != '@') k++;
  if (k == 0 || (k < n && (p[k] == '@' || p[k] == ':'))) return -1; /* a user, or a port */
  *d = p;
  *dn = k;
  return 0;
}

static int matches(void *ud, const char *kind, const char *v, size_t n) {
  const char *want = ud, *d = v;
  size_t dn = n;
  if (!strcmp(kind, "uri") && uri_domain(v, n, &d, &dn) < 0) return 0;
  return dn == strlen(want) && !strncasecmp(d, want, dn);
}

int sip_tls_proves(X509 *cert, const char *domain) {
  return sip_tls_each_identity(cert, matches, (void *)domain) != 0;
}
