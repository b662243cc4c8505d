/* bench_parse: full sip_parse (start line, header index, typed Via/From/To/CSeq/Call-ID/Contact/
 * Content-Length, Request-URI) of each file, ROUNDS times.
 * usage: bench-parse ROUNDS FILE...   prints "<ns> ns/msg" first, then MB/s and failures. */
#include "bench_util.h"
#include "sip_msg.h"

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s ROUNDS FILE...\n", argv[0]);
    return 2;
  }
  long rounds = atol(argv[1]);
  int n = argc - 2;
  blob *c = calloc((size_t)n, sizeof *c);
  size_t bytes = 0;
  for (int i = 0; i < n; i++) {
    c[i] = load(argv[i + 2]);
    bytes += c[i].n;
  }
  static sip_hdr hdr[256];
  static sip_msg m;
  long bad = 0;
  unsigned long sink = 0;
  /* warm up caches and branch predictors */
  for (long r = 0; r < rounds / 10 + 1; r++)
    for (int i = 0; i < n; i++) sink += (unsigned)sip_parse(c[i].p, c[i].n, &m, hdr, 256, NULL, 0);
  double t0 = now();
  for (long r = 0; r < rounds; r++)
    for (int i = 0; i < n; i++) {
      if (sip_parse(c[i].p, c[i].n, &m, hdr, 256, NULL, SIP_PARSE_DGRAM) != 0) bad++;
      sink += m.nhdr;
    }
  double t = now() - t0;
  double msgs = (double)rounds * n;
  printf("%.0f ns/msg  %.1f MB/s  (lua-sip sip_parse, %ld failed of %.0f, sink %lu)\n",
         t * 1e9 / msgs, (double)bytes * (double)rounds / t / 1e6, bad, msgs, sink & 1);
  return bad ? 1 : 0;
}
