/* unit.h: the C unit tests' harness. Prints TAP ("ok N - name" / "not ok N - name"), which
 * the Makefile's summary counts together with busted's TAP output.
 *
 *   TEST(name) { CHECK(cond); CHECK_EQ_INT(a, b); CHECK_STR(slice, "text"); }
 *   int main(void) { RUN(name); ...; return unit_done(); }
 */
#ifndef SIP_UNIT_H
#define SIP_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_n, unit_failed, unit_cur_failed;

#define TEST(name) static void test_##name(void)

#define RUN(name)                                                           \
  do {                                                                      \
    unit_cur_failed = 0;                                                    \
    test_##name();                                                          \
    unit_n++;                                                               \
    if (unit_cur_failed) unit_failed++;                                     \
    printf("%sok %d - %s\n", unit_cur_failed ? "not " : "", unit_n, #name); \
  } while (0)

#define FAILF(...)                             \
  do {                                         \
    unit_cur_failed = 1;                       \
    printf("#   %s:%d: ", __FILE__, __LINE__); \
    printf(__VA_ARGS__);                       \
    printf("\n");                              \
  } while (0)

#define CHECK(c)                             \
  do {                                       \
    if (!(c)) FAILF("check failed: %s", #c); \
  } while (0)

#define CHECK_EQ_INT(a, b)                                        \
  do {                                                            \
    long long a_ = (long long)(a), b_ = (long long)(b);           \
    if (a_ != b_) FAILF("%s == %lld, expected %lld", #a, a_, b_); \
  } while (0)

/* A slice (anything with .p and .n) equals a C string. */
#define CHECK_STR(s, lit)                                                               \
  do {                                                                                  \
    const char *l_ = (lit);                                                             \
    size_t ln_ = strlen(l_);                                                            \
    if ((s).n != ln_ || ((s).n && memcmp((s).p, l_, ln_) != 0))                         \
      FAILF("%s is \"%.*s\", expected \"%s\"", #s, (int)(s).n, (s).p ? (s).p : "", l_); \
  } while (0)

static inline int unit_done(void) {
  printf("1..%d\n", unit_n);
  return unit_failed ? 1 : 0;
}

#endif
