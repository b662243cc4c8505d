/* fuzz_fast: the fast paths of sip_parse (the SSE2/SSSE3 header loop and sip_fast.h) against the
 * general parsers alone. sip_fast.h promises that what the fast paths accept they parse exactly
 * as the general parsers do, and that they leave everything else to them. So sip_parse built as
 * usual and sip_parse built with -DSIP_SCAN_SCALAR (the general parsers only; linked here with
 * their symbols renamed gen_*, see the Makefile) must give the same answer for every input, in
 * both modes and under both limits: the same result, the same error (status, offset, text), the
 * same index entries and, after a success, the same typed fields, byte for byte. */
#include <stddef.h>
#include "fuzz.h"

int gen_sip_parse(const char *buf, size_t len, sip_msg *m, sip_hdr *hdr, unsigned maxhdr,
                  const sip_limits *lim, unsigned flags);

static sip_hdr hf[300], hg[300];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = fuzz_copy(data, size);
  if (!buf) return 0;
  for (unsigned l = 0; l < 2; l++)
    for (unsigned mode = 0; mode < 2; mode++) {
      sip_msg f, g;
      memset(&f, 0, sizeof f);
      memset(&g, 0, sizeof g);
      int rf = sip_parse(buf, size, &f, hf, 300, fuzz_limits[l], mode);
      int rg = gen_sip_parse(buf, size, &g, hg, 300, fuzz_limits[l], mode);
      ASSERT(rf == rg);
      ASSERT(f.err.status == g.err.status && f.err.off == g.err.off);
      /* the texts are the same literal in each copy of the library */
      ASSERT((f.err.what == NULL) == (g.err.what == NULL));
      if (f.err.what) ASSERT(strcmp(f.err.what, g.err.what) == 0);
      ASSERT(f.nhdr == g.nhdr);
      ASSERT(memcmp(hf, hg, f.nhdr * sizeof *hf) == 0);
      /* then the rest of the struct, with the fields that differ by construction set alike;
       * the typed results (via to expires) only after a success: sip_parse documents them as
       * valid then, and the fast paths set some before an entry's limit check fails */
      g.hdr = f.hdr;
      g.err.what = f.err.what;
      size_t n = rf == 0 ? sizeof f : offsetof(sip_msg, via);
      ASSERT(memcmp(&f, &g, n) == 0);
    }
  free(buf);
  return 0;
}
