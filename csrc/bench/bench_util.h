/* bench_util.h: what the benchmark programs share: a file's bytes and a monotonic clock. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct blob {
  char *p;
  size_t n;
} blob;

static inline double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The whole file, NUL-terminated (sofia-sip's msg_make() reads a C string's worth; the NUL is
 * not counted in n). Exits on any error. */
static inline blob load(const char *path) {
  blob b = {NULL, 0};
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(2);
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  b.p = malloc((size_t)(n > 0 ? n : 0) + 1);
  if (!b.p || (n > 0 && fread(b.p, 1, (size_t)n, f) != (size_t)n)) exit(2);
  b.n = (size_t)n;
  b.p[b.n] = 0;
  fclose(f);
  return b;
}

#endif
