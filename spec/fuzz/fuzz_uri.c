/* fuzz_uri.c: libFuzzer target for sip_uri.c. Whatever parses must format, parse back, and compare
 * equal (both ways, and to itself); params and unescaping must stay inside their slices. */
#include "fuzz.h"
#include "sip_uri.h"

/* "a\nb": two URIs; if both parse, equality must be symmetric (RFC 3261 §19.1.4 is not transitive,
 * so that is all that holds for any pair). */
static void pair(const char *p, size_t size, const char *nl) {
  size_t n1 = (size_t)(nl - p), n2 = size - n1 - 1;
  char *a = malloc(n1 ? n1 : 1), *b = malloc(n2 ? n2 : 1);
  ASSERT(a != NULL && b != NULL);
  if (n1) memcpy(a, p, n1);
  if (n2) memcpy(b, nl + 1, n2);
  sip_uri x, y;
  if (sip_uri_parse(a, n1, &x, NULL, NULL) == 0 && sip_uri_parse(b, n2, &y, NULL, NULL) == 0)
    ASSERT(sip_uri_equal(&x, &y) == sip_uri_equal(&y, &x));
  free(a);
  free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *p = fuzz_copy(data, size);
  if (!p) return 0;
  const char *nl = size ? memchr(p, '\n', size) : NULL;
  if (nl) pair(p, size, nl);

  sip_uri u, v;
  const char *err = NULL, *at = NULL;
  if (sip_uri_parse(p, size, &u, &err, &at) != 0) {
    ASSERT(err != NULL && at >= p && at <= p + size);
    free(p);
    return 0;
  }
  ASSERT(sip_uri_equal(&u, &u));

  size_t need = sip_uri_format(&u, NULL, 0);
  char *f = malloc(need ? need : 1);
  ASSERT(f != NULL);
  ASSERT(sip_uri_format(&u, f, need) == need);
  ASSERT(sip_uri_parse(f, need, &v, &err, &at) == 0);
  ASSERT(v.scheme == u.scheme);
  ASSERT(sip_uri_equal(&u, &v));
  ASSERT(sip_uri_equal(&v, &u));
  ASSERT(sip_uri_equal(&v, &v));

  /* a short buffer gets a prefix and nothing past its end (ASan watches the exact size) */
  size_t half = need / 2;
  char *t = malloc(half ? half : 1);
  ASSERT(t != NULL);
  ASSERT(sip_uri_format(&u, t, half) == need);
  ASSERT(half == 0 || memcmp(t, f, half) == 0);
  free(t);

  /* formatting the re-parsed URI is a fixed point */
  char *g = malloc(need ? need : 1);
  ASSERT(g != NULL);
  ASSERT(sip_uri_format(&v, g, need) == need);
  ASSERT(need == 0 || memcmp(f, g, need) == 0);

  /* every component unescapes (the parser checked the escapes) */
  char tmp[64];
  sip_str parts[] = {u.user, u.password, u.params, u.headers};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    if (u.scheme == SIP_URI_OTHER || parts[i].n > sizeof tmp) continue;
    ASSERT(sip_unescape(parts[i].p, parts[i].n, tmp) >= 0);
  }
  sip_str val;
  if (sip_uri_param(&u, "transport", &val))
    ASSERT(val.n == 0 || (val.p >= p && val.p + val.n <= p + size));
  sip_uri_param(&u, "lr", NULL);

  free(g);
  free(f);
  free(p);
  return 0;
}
