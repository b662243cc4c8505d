/* compare_ours: lua-sip's side of compare_parse.c, apart from sofia-sip's headers (both declare a
 * sip_method_name()). */
#include "compare_parse.h"
#include "sip_msg.h"

long compare_ours(const blob *files, int nfiles, long rounds) {
  static sip_hdr hdr[256];
  static sip_msg m;
  long bad = 0;
  for (long r = 0; r < rounds; r++)
    for (int i = 0; i < nfiles; i++)
      if (sip_parse(files[i].p, files[i].n, &m, hdr, 256, NULL, SIP_PARSE_DGRAM) != 0) bad++;
  return bad;
}
