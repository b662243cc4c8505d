/* fuzz.h: what the libFuzzer targets share: an invariant check whose failure is a finding, an
 * exactly sized copy of the input (so that ASan sees any read past its end), and the two sets of
 * limits sip_parse runs under (the defaults, and tight ones that the seeds and mutations reach). */
#ifndef FUZZ_H
#define FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sip_msg.h"

#define ASSERT(c)                                                                \
  do {                                                                           \
    if (!(c)) {                                                                  \
      fprintf(stderr, "invariant failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); \
      abort();                                                                   \
    }                                                                            \
  } while (0)

/* the input in a buffer of its own size (NULL when out of memory; free it) */
static inline char *fuzz_copy(const uint8_t *data, size_t size) {
  char *p = malloc(size ? size : 1);
  if (p && size) memcpy(p, data, size);
  return p;
}

static const sip_limits fuzz_tight = {512, 8, 64};
static const sip_limits *const fuzz_limits[2] __attribute__((unused)) = {NULL, &fuzz_tight};

#endif
