/* test_loc.c: the location table (sip_loc.h): AOR -> a record of bindings, each with its expiry
 * (RFC 3261 §10.3), replaced whole by a put, hidden by readers and removed by a sweep once
 * expired. */
#include <math.h>

#include "sip_loc.h"
#include "unit.h"

/* A record of n bindings with the given expiries; each body is "b<i>". */
static size_t record(char *out, const double *expires, uint32_t n) {
  size_t at = SIP_LOC_HEAD;
  memcpy(out, &n, 4);
  for (uint32_t i = 0; i < n; i++) {
    char body[16];
    uint32_t len = (uint32_t)snprintf(body, sizeof body, "b%u", i);
    memcpy(out + at, &len, 4);
    memcpy(out + at + 4, &expires[i], 8);
    memcpy(out + at + SIP_LOC_BINDING, body, len);
    at += SIP_LOC_BINDING + len;
  }
  return at;
}

static uint32_t count_of(const char *rec) {
  uint32_t n;
  memcpy(&n, rec, 4);
  return n;
}

static int put(sip_loc *l, const char *aor, const double *e, uint32_t n) {
  char rec[512];
  return sip_loc_put(l, aor, strlen(aor), rec, record(rec, e, n));
}

static const char *get(sip_loc *l, const char *aor, size_t *rlen) {
  return sip_loc_get(l, aor, strlen(aor), rlen);
}

TEST(s10_3_put_replaces_every_binding_of_an_aor_and_none_removes_it) {
  sip_loc *l = sip_loc_new();
  size_t n;
  CHECK(get(l, "sip:alice@example.com", &n) == NULL);
  CHECK_EQ_INT(put(l, "sip:alice@example.com", (double[]){2000, 3000}, 2), SIP_LOC_OK);
  const char *r = get(l, "sip:alice@example.com", &n);
  CHECK(r && count_of(r) == 2 && n == SIP_LOC_HEAD + 2 * (SIP_LOC_BINDING + 2));
  CHECK_EQ_INT(put(l, "sip:alice@example.com", (double[]){4000}, 1), SIP_LOC_OK);
  r = get(l, "sip:alice@example.com", &n);
  CHECK(r && count_of(r) == 1);
  CHECK_EQ_INT(sip_loc_count(l), 1);
  CHECK(get(l, "sip:alice@example.co", &n) == NULL); /* a prefix is another AOR */
  CHECK_EQ_INT(put(l, "sip:alice@example.com", NULL, 0), SIP_LOC_OK);
  CHECK(get(l, "sip:alice@example.com", &n) == NULL);
  CHECK_EQ_INT(sip_loc_count(l), 0);
  CHECK_EQ_INT(sip_loc_put(l, "x", 1, "", 0), SIP_LOC_OK); /* removing what is not there */
  sip_loc_free(l);
}

TEST(a_record_not_framed_is_refused_and_changes_nothing) {
  sip_loc *l = sip_loc_new();
  char rec[512];
  size_t n = record(rec, (double[]){100, 200}, 2), got;
  CHECK_EQ_INT(sip_loc_put(l, "k", 1, rec, n), SIP_LOC_OK);
  CHECK_EQ_INT(sip_loc_put(l, "k", 1, rec, n - 1), SIP_LOC_EFRAME); /* body cut short */
  CHECK_EQ_INT(sip_loc_put(l, "k", 1, rec, 3), SIP_LOC_EFRAME);     /* no count */
  char more[520];
  memcpy(more, rec, n);
  more[n] = 'x';
  CHECK_EQ_INT(sip_loc_put(l, "k", 1, more, n + 1), SIP_LOC_EFRAME); /* bytes past the last */
  double nan = NAN;
  memcpy(rec + SIP_LOC_HEAD + 4, &nan, 8);
  CHECK_EQ_INT(sip_loc_put(l, "k", 1, rec, n), SIP_LOC_EFRAME); /* an expiry never due */
  CHECK(get(l, "k", &got) && count_of(get(l, "k", &got)) == 2);
  sip_loc_free(l);
}

TEST(sweep_removes_each_expired_binding_and_an_aor_left_without_any) {
  sip_loc *l = sip_loc_new();
  size_t n;
  put(l, "sip:a@x", (double[]){300, 100, 500}, 3);
  put(l, "sip:b@x", (double[]){200}, 1);
  put(l, "sip:c@x", (double[]){1000}, 1);
  CHECK_EQ_INT(sip_loc_sweep(l, 50), 0);
  CHECK_EQ_INT(sip_loc_sweep(l, 100), 1); /* at the expiry: gone (§10.3: expires is the end) */
  const char *r = get(l, "sip:a@x", &n);
  CHECK(r && count_of(r) == 2);
  CHECK(r && memcmp(r + SIP_LOC_HEAD + SIP_LOC_BINDING, "b0", 2) == 0); /* order kept */
  CHECK(r && memcmp(r + n - 2, "b2", 2) == 0);
  CHECK_EQ_INT(sip_loc_sweep(l, 400), 2); /* b's only binding and a's 300 */
  CHECK(get(l, "sip:b@x", &n) == NULL);
  CHECK_EQ_INT(sip_loc_count(l), 2);
  /* a refresh moves an AOR later in the heap */
  put(l, "sip:a@x", (double[]){5000}, 1);
  CHECK_EQ_INT(sip_loc_sweep(l, 1000), 1); /* c only */
  CHECK_EQ_INT(sip_loc_count(l), 1);
  size_t kl;
  const char *k = sip_loc_key(l, 0, &kl);
  CHECK(k && kl == 7 && memcmp(k, "sip:a@x", 7) == 0);
  CHECK(sip_loc_key(l, 1, &kl) == NULL);
  CHECK_EQ_INT(sip_loc_sweep(l, 1e18), 1);
  CHECK_EQ_INT(sip_loc_count(l), 0);
  sip_loc_free(l);
}

/* Many AORs with scattered expiries: every one found, and a sweep takes exactly the due ones. */
TEST(a_hundred_thousand_aors_grow_the_table_and_sweep_in_expiry_order) {
  sip_loc *l = sip_loc_new();
  enum { N = 100000 };
  char aor[32];
  size_t base = sip_loc_bytes(l);
  for (unsigned i = 0; i < N; i++) {
    snprintf(aor, sizeof aor, "sip:u%u@example.com", i);
    CHECK_EQ_INT(put(l, aor, (double[]){(double)((i * 7919u) % N)}, 1), SIP_LOC_OK);
  }
  CHECK_EQ_INT(sip_loc_count(l), N);
  size_t per = (sip_loc_bytes(l) - base) / N;
  printf("# location table: %zu bytes per AOR of one binding (key 20-24 bytes, body 2-6)\n", per);
  CHECK(per < 160);
  int found = 1;
  for (unsigned i = 0; i < N; i += 97) {
    size_t n;
    snprintf(aor, sizeof aor, "sip:u%u@example.com", i);
    if (!get(l, aor, &n)) found = 0;
  }
  CHECK(found);
  CHECK_EQ_INT(sip_loc_sweep(l, N / 2 - 1), N / 2); /* expiries 0 .. N/2-1 */
  CHECK_EQ_INT(sip_loc_count(l), N / 2);
  CHECK_EQ_INT(sip_loc_sweep(l, N), N / 2);
  CHECK_EQ_INT(sip_loc_count(l), 0);
  sip_loc_free(l);
}

int main(void) {
  RUN(s10_3_put_replaces_every_binding_of_an_aor_and_none_removes_it);
  RUN(a_record_not_framed_is_refused_and_changes_nothing);
  RUN(sweep_removes_each_expired_binding_and_an_aor_left_without_any);
  RUN(a_hundred_thousand_aors_grow_the_table_and_sweep_in_expiry_order);
  return unit_done();
}
