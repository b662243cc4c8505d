/* test_uri.c: SIP, SIPS, tel and other URIs (RFC 3261 §19.1, §25.1; RFC 3966; RFC 4475; RFC 5118).
 * Every input is copied into an exactly-sized heap buffer, so ASan catches a read past its end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip_uri.h"
#include "unit.h"

/* Heap copies live until the end of the run, so the slices of a parsed URI stay valid. */
static char *pool[4096];
static size_t npool;

static const char *copy(const char *s, size_t n) {
  char *p = malloc(n ? n : 1);
  if (!p) abort();
  memcpy(p, s, n);
  if (npool < sizeof pool / sizeof pool[0]) pool[npool++] = p;
  return p;
}

static void pool_free(void) {
  while (npool) free(pool[--npool]);
}

static const char *last_err;
static size_t last_err_off;

/* Parse s (its exact bytes); 0 on success, else -1 with last_err / last_err_off set. */
static int parse_n(const char *s, size_t n, sip_uri *u) {
  const char *p = copy(s, n), *err = NULL, *at = NULL;
  int r = sip_uri_parse(p, n, u, &err, &at);
  last_err = err;
  last_err_off = r < 0 ? (size_t)(at - p) : 0;
  if (r < 0 && (at < p || at > p + n)) {
    printf("#   err_at outside the input for \"%s\"\n", s);
    last_err_off = (size_t)-1;
  }
  return r;
}

static int parse(const char *s, sip_uri *u) { return parse_n(s, strlen(s), u); }

static int accepts(const char *s) {
  sip_uri u;
  return parse(s, &u) == 0;
}

#define ACCEPT(s)                                                                               \
  do {                                                                                          \
    sip_uri u_;                                                                                 \
    if (parse((s), &u_) != 0) FAILF("\"%s\" rejected: %s at %zu", (s), last_err, last_err_off); \
  } while (0)

#define REJECT(s)                                  \
  do {                                             \
    if (accepts(s)) FAILF("\"%s\" accepted", (s)); \
  } while (0)

/* Parse or fail the test; the URI is zeroed on failure. */
#define PARSE(s, u)                                                     \
  do {                                                                  \
    if (parse((s), &(u)) != 0) {                                        \
      FAILF("\"%s\" rejected: %s at %zu", (s), last_err, last_err_off); \
      memset(&(u), 0, sizeof(u));                                       \
    }                                                                   \
  } while (0)

static int uri_eq(const char *a, const char *b) {
  sip_uri x, y;
  if (parse(a, &x) != 0 || parse(b, &y) != 0) {
    printf("#   cannot parse \"%s\" or \"%s\"\n", a, b);
    return -1;
  }
  int e1 = sip_uri_equal(&x, &y), e2 = sip_uri_equal(&y, &x);
  if (e1 != e2) printf("#   equality is not symmetric for \"%s\" and \"%s\"\n", a, b);
  if (!sip_uri_equal(&x, &x) || !sip_uri_equal(&y, &y)) printf("#   not reflexive\n");
  return e1 == e2 ? e1 : -1;
}

#define EQUAL(a, b)                                                           \
  do {                                                                        \
    if (uri_eq((a), (b)) != 1) FAILF("\"%s\" should equal \"%s\"", (a), (b)); \
  } while (0)

#define NOT_EQUAL(a, b)                                                           \
  do {                                                                            \
    if (uri_eq((a), (b)) != 0) FAILF("\"%s\" should not equal \"%s\"", (a), (b)); \
  } while (0)

#define REJECT_WITH(s, msg, off)                                                     \
  do {                                                                               \
    sip_uri u_;                                                                      \
    if (parse((s), &u_) == 0) FAILF("\"%s\" accepted", (s));                         \
    else {                                                                           \
      if (strcmp(last_err, (msg)) != 0)                                              \
        FAILF("\"%s\": error \"%s\", expected \"%s\"", (s), last_err, (msg));        \
      if (last_err_off != (size_t)(off))                                             \
        FAILF("\"%s\": err_at %zu, expected %zu", (s), last_err_off, (size_t)(off)); \
    }                                                                                \
  } while (0)

/* §19.1.3: the RFC's example URIs ---------------------------------------------------------------*/

TEST(rfc3261_19_1_3_example_uris_parse) {
  sip_uri u;
  PARSE("sip:alice@atlanta.com", u);
  CHECK_EQ_INT(u.scheme, SIP_URI_SIP);
  CHECK_STR(u.scheme_str, "sip");
  CHECK_STR(u.user, "alice");
  CHECK(!u.has_password && u.password.p == NULL);
  CHECK_STR(u.host, "atlanta.com");
  CHECK_EQ_INT(u.host_type, SIP_HOST_NAME);
  CHECK_EQ_INT(u.port, 0);
  CHECK_EQ_INT(u.has_port, 0);
  CHECK_EQ_INT(u.params.n, 0);
  CHECK_EQ_INT(u.headers.n, 0);
  CHECK_STR(u.opaque, "alice@atlanta.com");

  PARSE("sip:alice:secretword@atlanta.com;transport=tcp", u);
  CHECK_STR(u.user, "alice");
  CHECK(u.has_password);
  CHECK_STR(u.password, "secretword");
  CHECK_STR(u.host, "atlanta.com");
  CHECK_STR(u.params, "transport=tcp");

  PARSE("sips:alice@atlanta.com?subject=project%20x&priority=urgent", u);
  CHECK_EQ_INT(u.scheme, SIP_URI_SIPS);
  CHECK_STR(u.host, "atlanta.com");
  CHECK_STR(u.headers, "subject=project%20x&priority=urgent");

  PARSE("sip:+1-212-555-1212:1234@gateway.com;user=phone", u);
  CHECK_STR(u.user, "+1-212-555-1212");
  CHECK_STR(u.password, "1234");
  CHECK_STR(u.params, "user=phone");

  PARSE("sips:1212@gateway.com", u);
  CHECK_STR(u.user, "1212");

  PARSE("sip:alice@192.0.2.4", u);
  CHECK_STR(u.host, "192.0.2.4");
  CHECK_EQ_INT(u.host_type, SIP_HOST_IPV4);

  PARSE("sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com", u);
  CHECK_EQ_INT(u.user.n, 0);
  CHECK_STR(u.host, "atlanta.com");
  CHECK_STR(u.params, "method=REGISTER");
  CHECK_STR(u.headers, "to=alice%40atlanta.com");

  PARSE("sip:alice;day=tuesday@atlanta.com", u);
  CHECK_STR(u.user, "alice;day=tuesday");
  CHECK_STR(u.host, "atlanta.com");
  CHECK_EQ_INT(u.params.n, 0);
}

TEST(rfc3261_19_1_1_scheme_is_case_insensitive) {
  sip_uri u;
  PARSE("SIP:ALICE@AtLanTa.CoM;Transport=udp", u);
  CHECK_EQ_INT(u.scheme, SIP_URI_SIP);
  CHECK_STR(u.scheme_str, "SIP");
  PARSE("SiPs:a@b.c", u);
  CHECK_EQ_INT(u.scheme, SIP_URI_SIPS);
  PARSE("TEL:+1234", u);
  CHECK_EQ_INT(u.scheme, SIP_URI_TEL);
}

/* §19.1.1, §25.1: userinfo -----------------------------------------------------------------------*/

TEST(rfc4475_userinfo_ends_at_the_first_at_sign) {
  sip_uri u;
  /* esc01 (RFC 4475 §3.1.1.3) */
  PARSE("sip:sips%3Auser%40example.com@example.net", u);
  CHECK_EQ_INT(u.scheme, SIP_URI_SIP);
  CHECK_STR(u.user, "sips%3Auser%40example.com");
  CHECK(!u.has_password);
  CHECK_STR(u.host, "example.net");
  /* semiuri (§3.1.1.9): the params belong to the user part */
  PARSE("sip:user;par=u%40example.net@example.com", u);
  CHECK_STR(u.user, "user;par=u%40example.net");
  CHECK_STR(u.host, "example.com");
  CHECK_EQ_INT(u.params.n, 0);
  /* intmeth (§3.1.1.2): '?' ',' '/' ';' in the user, the password after the first ':' */
  PARSE(
    "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too."
    "(doesn't-it)@example.com",
    u);
  CHECK_STR(u.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  CHECK(u.has_password);
  CHECK_STR(u.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
  CHECK_STR(u.host, "example.com");
  /* the To of intmeth has the user without a password */
  PARSE("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com", u);
  CHECK_STR(u.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  /* a second '@' is then an error in the host */
  REJECT("sip:a@b@c.com");
}

TEST(rfc3261_25_1_user_and_password_chars) {
  sip_uri u;
  PARSE("sip:user:@host.com", u); /* password = *( ... ): may be empty */
  CHECK(u.has_password);
  CHECK_EQ_INT(u.password.n, 0);
  CHECK(u.password.p != NULL);
  PARSE("sip:%00@host5.example.com", u); /* escnull: %00 is a valid escape */
  CHECK_STR(u.user, "%00");
  ACCEPT("sip:-_.!~*'()&=+$,;?/@h.com");
  REJECT_WITH("sip:@example.com", "empty user in URI", 4); /* user = 1*(...) */
  REJECT_WITH("sip::pw@example.com", "empty user in URI", 4);
  REJECT_WITH("sip:us%2@example.com", "bad escape in URI user part", 6);
  REJECT_WITH("sip:us%zz@example.com", "bad escape in URI user part", 6);
  REJECT_WITH("sip:a[b@example.com", "invalid character in URI user part", 5);
  REJECT_WITH("sip:a:b;c@example.com", "invalid character in URI password",
              7); /* ';' not in password */
  REJECT_WITH("sip:a:b:c@example.com", "invalid character in URI password", 7);
  REJECT("sip:a:b%4@example.com");
  REJECT("sip:a#b@example.com");
  REJECT("sip:a\"b@example.com");
}

/* §25.1: host -----------------------------------------------------------------------------------*/

TEST(rfc3261_25_1_hostnames) {
  sip_uri u;
  PARSE("sip:chair-dnrc.example.com", u);
  CHECK_STR(u.host, "chair-dnrc.example.com");
  CHECK_EQ_INT(u.host_type, SIP_HOST_NAME);
  PARSE("sip:example.com.", u); /* hostname = *( domainlabel "." ) toplabel [ "." ] */
  CHECK_STR(u.host, "example.com.");
  PARSE("sip:example.com.:5070", u);
  CHECK_STR(u.host, "example.com.");
  CHECK_EQ_INT(u.port, 5070);
  PARSE("sip:localhost", u);
  CHECK_STR(u.host, "localhost");
  /* lenient, documented: '_' in labels, a digit-led top label that is not all digits */
  ACCEPT("sip:_sip._udp.example.com");
  ACCEPT("sip:host_1.example.com");
  ACCEPT("sip:u@example.3com");
  ACCEPT("sip:a.b-c.d");
  ACCEPT("sip:1.2.3.4a");
  REJECT_WITH("sip:-a.com", "invalid hostname in URI", 4);
  REJECT_WITH("sip:a-.com", "invalid hostname in URI", 5);
  REJECT_WITH("sip:a.com-", "invalid hostname in URI", 9);
  REJECT_WITH("sip:a..com", "invalid hostname in URI", 6);
  REJECT_WITH("sip:.a.com", "invalid hostname in URI", 4);
  REJECT("sip:a.com..");
  REJECT("sip:.");
  REJECT_WITH("sip:example.123", "invalid hostname in URI", 4);
  REJECT("sip:exa mple.com");
  REJECT("sip:exa%6Dple.com"); /* no escapes in host */
}

TEST(rfc3261_25_1_ipv4address) {
  sip_uri u;
  PARSE("sip:192.0.2.4", u);
  CHECK_EQ_INT(u.host_type, SIP_HOST_IPV4);
  PARSE("sip:u@255.255.255.255:5060", u);
  CHECK_STR(u.host, "255.255.255.255");
  CHECK_EQ_INT(u.port, 5060);
  PARSE("sip:0.0.0.0", u);
  CHECK_EQ_INT(u.host_type, SIP_HOST_IPV4);
  /* four labels of digits are an IPv4address or nothing */
  REJECT_WITH("sip:192.0.2.256", "invalid IPv4 address in URI", 4);
  REJECT_WITH("sip:1234.0.2.1", "invalid IPv4 address in URI", 4);
  REJECT_WITH("sip:u@192.0.2.1.", "invalid IPv4 address in URI", 6);
  REJECT("sip:192.0.2.01234");
}

/* GB/T 28181 addresses every device and platform as a 20-digit user in a 10-digit domain: an
 * all-digit host is a hostname unless it is four dotted labels (sip_host_kind()). */
TEST(gb28181_all_digit_hosts_are_hostnames) {
  sip_uri u;
  PARSE("sip:34020000001320000001@3402000000", u);
  CHECK_STR(u.user, "34020000001320000001");
  CHECK_STR(u.host, "3402000000");
  CHECK_EQ_INT(u.host_type, SIP_HOST_NAME);
  PARSE("sip:34020000002000000001@3402000000:5060;transport=udp", u);
  CHECK_STR(u.host, "3402000000");
  CHECK_EQ_INT(u.port, 5060);
  CHECK_STR(u.params, "transport=udp");
  static const char *const names[] = {"sip:2001",        "sip:192.0.2", "sip:192.0.2.1.5",
                                      "sip:3402000000.", "sip:0",       "sip:3402000000.44"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    PARSE(names[i], u);
    if (u.host_type != SIP_HOST_NAME) FAILF("\"%s\": host type %d", names[i], (int)u.host_type);
  }
  /* a letter anywhere keeps RFC 1123 §2.1: the top label is not all digits */
  REJECT_WITH("sip:a.3402000000", "invalid hostname in URI", 4);
  REJECT_WITH("sip:3402000000-", "invalid hostname in URI", 14);
  REJECT_WITH("sip:3402..000", "invalid hostname in URI", 9);
  REJECT_WITH("sip:2001:db8::10", "IPv6 address without [] in URI", 4); /* RFC 5118 §4.2 */
  /* §19.1.4: names compare as text; no number is read out of them (inet_aton would) */
  EQUAL("sip:34020000001320000001@3402000000", "sip:34020000001320000001@3402000000");
  NOT_EQUAL("sip:u@3402000000", "sip:u@03402000000");
  NOT_EQUAL("sip:u@3402000000", "sip:u@202.198.102.128");
  NOT_EQUAL("sip:u@192.0.2", "sip:u@192.0.0.2");
}

/* RFC 5118 §4 and RFC 4291 §2.2: IPv6 references ------------------------------------------------*/

TEST(rfc5118_4_1_ipv6_reference) {
  sip_uri u;
  PARSE("sip:[2001:db8::10]", u);
  CHECK_STR(u.host, "[2001:db8::10]");
  CHECK_EQ_INT(u.host_type, SIP_HOST_IPV6);
  CHECK_EQ_INT(u.has_port, 0);
  PARSE("sip:caller@[2001:db8::1]", u);
  CHECK_STR(u.user, "caller");
  CHECK_STR(u.host, "[2001:db8::1]");
  PARSE("sip:user@[2001:db8::10];transport=tcp", u);
  CHECK_STR(u.params, "transport=tcp");
}

TEST(rfc5118_4_2_ipv6_without_brackets_is_rejected) {
  REJECT_WITH("sip:2001:db8::10", "IPv6 address without [] in URI", 4);
  REJECT_WITH("sip:fe80::1", "IPv6 address without [] in URI", 4);
  REJECT("sip:user@2001:db8::10");
  REJECT_WITH("sip:[2001:db8::10]:50:70", "bad port in URI", 21);
  REJECT_WITH("sip:host:5060:5060", "bad port in URI", 13);
}

TEST(rfc5118_4_3_port_inside_brackets_is_part_of_the_address) {
  sip_uri u;
  PARSE("sip:[2001:db8::10:5070]", u);
  CHECK_STR(u.host, "[2001:db8::10:5070]");
  CHECK_EQ_INT(u.port, 0);
  CHECK_EQ_INT(u.has_port, 0);
}

TEST(rfc5118_4_4_port_after_brackets) {
  sip_uri u;
  PARSE("sip:[2001:db8::10]:5070", u);
  CHECK_STR(u.host, "[2001:db8::10]");
  CHECK_EQ_INT(u.port, 5070);
  CHECK_EQ_INT(u.has_port, 1);
  NOT_EQUAL("sip:[2001:db8::10]:5070", "sip:[2001:db8::10:5070]");
}

TEST(rfc5118_4_9_ipv4_mapped_ipv6) {
  sip_uri u;
  PARSE("sip:[::ffff:192.0.2.10]:19823", u);
  CHECK_STR(u.host, "[::ffff:192.0.2.10]");
  CHECK_EQ_INT(u.port, 19823);
  PARSE("sip:ted@[::ffff:192.0.2.2]", u);
  CHECK_STR(u.host, "[::ffff:192.0.2.2]");
  EQUAL("sip:ted@[::ffff:192.0.2.2]", "sip:ted@[::FFFF:c000:0202]");
}

TEST(rfc5118_4_10_three_colons_are_rejected) {
  REJECT_WITH("sip:user@[2001:db8:::192.0.2.1]", "invalid IPv6 reference", 20);
  ACCEPT("sip:user@[2001:db8::192.0.2.1]");
}

TEST(rfc4291_2_2_ipv6_text_forms) {
  ACCEPT("sip:[::]");
  ACCEPT("sip:[::1]");
  ACCEPT("sip:[1::]");
  ACCEPT("sip:[1:2:3:4:5:6:7:8]");
  ACCEPT("sip:[1:2:3:4:5:6:7::]");
  ACCEPT("sip:[::2:3:4:5:6:7:8]");
  ACCEPT("sip:[1:2:3:4:5:6:1.2.3.4]");
  ACCEPT("sip:[::1.2.3.4]");
  ACCEPT("sip:[FEDC:BA98:7654:3210:FEDC:BA98:7654:3210]");
  ACCEPT("sip:[1080::8:800:200C:417A]");
  REJECT("sip:[]");
  REJECT("sip:[:]");
  REJECT("sip:[:::]");
  REJECT("sip:[1:2:3:4:5:6:7]");     /* 7 groups, no "::" */
  REJECT("sip:[1:2:3:4:5:6:7:8:9]"); /* 9 groups */
  REJECT("sip:[1::2:3:4:5:6:7:8]");  /* "::" must stand for at least one group */
  REJECT("sip:[1::2::3]");           /* one "::" only */
  REJECT("sip:[12345::]");           /* at most 4 hex digits */
  REJECT("sip:[:1::]");
  REJECT("sip:[1:]");
  REJECT("sip:[1:2:3:4:5:6:7:1.2.3.4]"); /* 7 + 2 groups */
  REJECT("sip:[::1.2.3.256]");
  REJECT("sip:[::1.2.3]");
  REJECT("sip:[::1.2.3.4:5]"); /* IPv4 only at the end */
  REJECT("sip:[g::1]");
  REJECT("sip:[fe80::1%25eth0]"); /* no zone ids in SIP */
  REJECT_WITH("sip:[::1", "invalid IPv6 reference", 8);
  REJECT("sip:[::1]x");
  REJECT("sip:[::1]:");
}

/* §25.1: port -----------------------------------------------------------------------------------*/

TEST(rfc3261_25_1_port) {
  sip_uri u;
  PARSE("sip:h.com:0", u);
  CHECK_EQ_INT(u.port, 0);
  CHECK_EQ_INT(u.has_port, 1);
  PARSE("sip:h.com:65535", u);
  CHECK_EQ_INT(u.port, 65535);
  PARSE("sip:h.com:05060;lr", u);
  CHECK_EQ_INT(u.port, 5060);
  CHECK_STR(u.params, "lr");
  PARSE("sip:h.com:5060?a=b", u);
  CHECK_EQ_INT(u.port, 5060);
  CHECK_STR(u.headers, "a=b");
  REJECT_WITH("sip:h.com:65536", "bad port in URI", 10);
  REJECT_WITH("sip:h.com:99999999999999999999", "bad port in URI", 10);
  REJECT_WITH("sip:h.com:", "bad port in URI", 10);
  REJECT_WITH("sip:h.com:50a", "bad port in URI", 12);
  REJECT_WITH("sip:h.com:-1", "bad port in URI", 10);
  REJECT("sip:h.com:+5");
  REJECT("sip:h.com:5060:5060");
}

/* §25.1: uri-parameters and headers ---------------------------------------------------------------*/

TEST(rfc3261_25_1_uri_parameters) {
  sip_uri u;
  PARSE("sip:vivekg@chair-dnrc.example.com;unknownparam", u); /* wsinv */
  CHECK_STR(u.params, "unknownparam");
  PARSE("sip:h.com;lr;maddr=[2001:db8::1];x=/a:b&c+$;y=-_.!~*'()", u);
  CHECK_STR(u.params, "lr;maddr=[2001:db8::1];x=/a:b&c+$;y=-_.!~*'()");
  PARSE("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31", u); /* esc01 Contact */
  CHECK_STR(u.user, "cal%6Cer");
  CHECK_STR(u.params, "%6C%72;n%61me=v%61lue%25%34%31");
  /* an empty param before another is skipped, as in Via (RFC 3428 §4); the text is kept */
  PARSE("sip:h.com;;lr;;;transport=tcp", u);
  CHECK_STR(u.params, ";lr;;;transport=tcp");
  sip_str v;
  CHECK(sip_uri_param(&u, "transport", &v) && sip_str_eq(v, SIP_STR_LIT("tcp")));
  CHECK(sip_uri_param(&u, "lr", &v) && v.n == 0);
  CHECK(!sip_uri_param(&u, "", &v));
  PARSE("sip:h.com;;lr?a=b", u);
  CHECK_STR(u.headers, "a=b");
  REJECT_WITH("sip:h.com;", "empty URI parameter", 10);
  REJECT_WITH("sip:h.com;lr;;", "empty URI parameter", 14);
  REJECT_WITH("sip:h.com;=x", "empty URI parameter", 10);
  REJECT_WITH("sip:h.com;a=", "empty URI parameter value", 12);
  REJECT_WITH("sip:h.com;a=b=c", "invalid character in URI parameter", 13);
  REJECT_WITH("sip:h.com;a=b,c", "invalid character in URI parameter", 13);
  REJECT_WITH("sip:h.com;a%4", "bad escape in URI parameter", 11);
  REJECT_WITH("sip:h.com;a=%g0", "bad escape in URI parameter", 12);
  REJECT("sip:h.com;a=\"b\"");
}

TEST(rfc3261_25_1_headers) {
  sip_uri u;
  PARSE("sip:user@example.com?Route=%3Csip:example.com%3E", u); /* escruri: valid syntax */
  CHECK_STR(u.headers, "Route=%3Csip:example.com%3E");
  PARSE("sip:h.com;lr?a=b&c=&d=[x]/?:+$", u);
  CHECK_STR(u.params, "lr");
  CHECK_STR(u.headers, "a=b&c=&d=[x]/?:+$");
  REJECT_WITH("sip:h.com?", "empty URI header name", 10);
  REJECT_WITH("sip:h.com?a", "missing '=' in URI header", 11);
  REJECT_WITH("sip:h.com?=b", "empty URI header name", 10);
  REJECT_WITH("sip:h.com?a=b&", "empty URI header name", 14);
  REJECT_WITH("sip:h.com?a=b=c", "invalid character in URI", 13);
  REJECT_WITH("sip:h.com?a=%3", "bad escape in URI header", 12);
  REJECT("sip:h.com?a=b;lr"); /* params come before headers */
  REJECT("sip:h.com?a=<b>");
}

TEST(rfc3261_19_1_1_uri_param_lookup) {
  sip_uri u;
  sip_str v;
  PARSE("sip:h.com;Transport=TCP;lr;maddr=239.255.255.1;ttl=15;x=1;x=2", u);
  CHECK(sip_uri_param(&u, "transport", &v));
  CHECK_STR(v, "TCP");
  CHECK(sip_uri_param(&u, "LR", &v));
  CHECK_EQ_INT(v.n, 0);
  CHECK(sip_uri_param(&u, "maddr", &v));
  CHECK_STR(v, "239.255.255.1");
  CHECK(sip_uri_param(&u, "ttl", NULL));
  CHECK(sip_uri_param(&u, "x", &v));
  CHECK_STR(v, "1"); /* the first of duplicates */
  CHECK(!sip_uri_param(&u, "user", &v));
  CHECK(!sip_uri_param(&u, "t", &v));
  CHECK(!sip_uri_param(&u, "transports", &v));
  /* esc01: the names are compared after unescaping; values stay escaped */
  PARSE("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31", u);
  CHECK(sip_uri_param(&u, "lr", &v));
  CHECK(sip_uri_param(&u, "name", &v));
  CHECK_STR(v, "v%61lue%25%34%31");
  PARSE("sip:h.com", u);
  CHECK(!sip_uri_param(&u, "lr", &v));
}

/* Rejects: RFC 4475 §3.1.2 and what no URI may hold ----------------------------------------------*/

TEST(rfc4475_3_1_2_7_angle_brackets_are_not_part_of_a_uri) {
  REJECT_WITH("<sip:user@example.com>", "bad URI scheme", 0);
  REJECT("sip:user@example.com>");
  REJECT("sip:<user>@example.com");
}

TEST(rfc4475_3_1_2_8_no_whitespace_or_controls_in_a_uri) {
  REJECT_WITH("sip:user@example.com; lr", "empty URI parameter", 21);
  REJECT("sip:user@example.com;");
  REJECT(" sip:user@example.com");
  REJECT("sip:user@example.com ");
  REJECT("sip:us er@example.com");
  REJECT("sip:user@example.com\r\n");
  REJECT("sip:user@exa\tmple.com");
  REJECT("sip:user@example.com;a=\x7f");
  REJECT("foo:bar baz");
  REJECT("tel:+1 234");
  REJECT("sip:us\x80@example.com");
  sip_uri u;
  CHECK(parse_n("sip:a\0b@example.com", 19, &u) < 0); /* a NUL is a byte like any other */
  CHECK(parse_n("sip:ab@example.com\0", 19, &u) < 0);
}

TEST(rfc3261_25_1_rejects_missing_parts) {
  REJECT_WITH("", "empty URI", 0);
  REJECT_WITH("sip:", "missing host in URI", 4);
  REJECT_WITH("sip:user@", "missing host in URI", 9);
  REJECT_WITH("sip:;lr", "missing host in URI", 4);
  REJECT_WITH("sip:user@:5060", "missing host in URI", 9);
  REJECT_WITH("sip", "bad URI scheme", 3);
  REJECT_WITH("user@example.com", "bad URI scheme", 4);
  REJECT_WITH("1sip:x", "bad URI scheme", 0);
  REJECT_WITH(":x", "bad URI scheme", 0);
  REJECT_WITH("s_p:x", "bad URI scheme", 1);
}

/* RFC 3966: tel URIs ------------------------------------------------------------------------------*/

TEST(rfc3966_3_tel_uris) {
  sip_uri u;
  PARSE("tel:+1-201-555-0123", u);
  CHECK_EQ_INT(u.scheme, SIP_URI_TEL);
  CHECK_STR(u.user, "+1-201-555-0123");
  CHECK_EQ_INT(u.params.n, 0);
  PARSE("tel:7042;phone-context=example.com", u);
  CHECK_STR(u.user, "7042");
  CHECK_STR(u.params, "phone-context=example.com");
  sip_str v;
  CHECK(sip_uri_param(&u, "Phone-Context", &v));
  CHECK_STR(v, "example.com");
  PARSE("tel:863-1234;phone-context=+1-914-555", u);
  CHECK_STR(u.params, "phone-context=+1-914-555");
  PARSE("tel:+1-212-555-0101;ext=22;isub=x%20y@z?w", u);
  CHECK_STR(u.params, "ext=22;isub=x%20y@z?w");
  PARSE("tel:*21#", u);
  CHECK_STR(u.user, "*21#");
  PARSE("tel:+(1).2", u);
  ACCEPT("tel:1234"); /* lenient, documented: no phone-context */
  ACCEPT("tel:ABCD;phone-context=example.com");
  REJECT_WITH("tel:", "invalid telephone number", 4);
  REJECT_WITH("tel:+", "invalid telephone number", 5);
  REJECT_WITH("tel:+1A", "invalid telephone number", 6); /* global numbers are decimal */
  REJECT_WITH("tel:--", "invalid telephone number", 6);
  REJECT_WITH("tel:+1@x", "invalid telephone number", 6);
  REJECT_WITH("tel:+1;", "empty tel URI parameter", 7);
  REJECT_WITH("tel:+1;a_b=1", "invalid character in tel URI parameter", 8);
  REJECT_WITH("tel:+1;a=", "empty tel URI parameter value", 9);
  REJECT_WITH("tel:+1;a=%2", "bad escape in tel URI parameter", 9);
  REJECT("tel:+1;a=b;c=d;e=f g");
}

/* RFC 3261 §25.1 absoluteURI: other schemes stay opaque (RFC 4475 §3.3.2-3.3.4) -------------------*/

TEST(rfc4475_3_3_other_schemes_are_opaque) {
  sip_uri u;
  PARSE("nobodyKnowsThisScheme:totallyopaquecontent", u); /* unkscm */
  CHECK_EQ_INT(u.scheme, SIP_URI_OTHER);
  CHECK_STR(u.scheme_str, "nobodyKnowsThisScheme");
  CHECK_STR(u.opaque, "totallyopaquecontent");
  CHECK_EQ_INT(u.host.n, 0);
  PARSE("soap.beep://192.0.2.103:3002", u); /* novelsc */
  CHECK_STR(u.scheme_str, "soap.beep");
  CHECK_STR(u.opaque, "//192.0.2.103:3002");
  PARSE("isbn:2983792873", u); /* unksm2 */
  CHECK_STR(u.opaque, "2983792873");
  PARSE("http://www.example.com", u);
  CHECK_STR(u.scheme_str, "http");
  CHECK_STR(u.opaque, "//www.example.com");
  PARSE("name:John_Smith", u);
  CHECK_STR(u.opaque, "John_Smith");
  PARSE("mailto:a@b.com?subject=hi%20there", u);
  PARSE("http://[2001:db8::1]:80/a;b?c=d&e", u);
  PARSE("urn:x+y-z.w:a", u);
  REJECT_WITH("foo:", "empty URI after scheme", 4);
  REJECT_WITH("foo:a%zz", "bad escape in URI", 5);
  REJECT_WITH("foo:a<b", "invalid character in URI", 5);
  REJECT("http://example.com/#frag"); /* absoluteURI has no fragment */
  REJECT("foo:\"x\"");
}

/* RFC 4475 §3.1.1.3: unescaping ---------------------------------------------------------------------*/

TEST(rfc4475_3_1_1_3_unescaping_is_not_recursive) {
  char out[64];
  const char *in = "v%61lue%25%34%31";
  long n = sip_unescape(in, strlen(in), out);
  CHECK_EQ_INT(n, 8);
  CHECK(n == 8 && memcmp(out, "value%41", 8) == 0);
  n = sip_unescape("%2541", 5, out);
  CHECK(n == 3 && memcmp(out, "%41", 3) == 0);
  n = sip_unescape("null-%00-null", 13, out); /* escnull: a NUL byte comes out, no truncation */
  CHECK(n == 11 && memcmp(out, "null-\0-null", 11) == 0);
  CHECK_EQ_INT(sip_unescape("", 0, out), 0);
  CHECK_EQ_INT(sip_unescape("abc", 3, out), 3);
  CHECK_EQ_INT(sip_unescape("%4", 2, out), -1);
  CHECK_EQ_INT(sip_unescape("%", 1, out), -1);
  CHECK_EQ_INT(sip_unescape("a%zz", 4, out), -1);
  CHECK_EQ_INT(sip_unescape("%Ab%aB", 6, out), 2);
  CHECK(memcmp(out, "\xab\xab", 2) == 0);
  char buf[] = "sips%3Auser%40example.com"; /* in place */
  n = sip_unescape(buf, strlen(buf), buf);
  CHECK(n == 21 && memcmp(buf, "sips:user@example.com", 21) == 0);
  /* exactly sized input: no read past the last byte */
  const char *p = copy("ab%41", 5);
  CHECK_EQ_INT(sip_unescape(p, 5, out), 3);
  p = copy("ab%4", 4);
  CHECK_EQ_INT(sip_unescape(p, 4, out), -1);
}

/* §19.1.4: comparison -----------------------------------------------------------------------------*/

TEST(rfc3261_19_1_4_equivalent_examples) {
  EQUAL("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp");
  EQUAL("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5");
  EQUAL("sip:carol@chicago.com", "sip:carol@chicago.com;security=on");
  EQUAL("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on");
  EQUAL("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com");
  EQUAL("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:alice@atlanta.com?priority=urgent&subject=project%20x");
}

TEST(rfc3261_19_1_4_not_equivalent_examples) {
  NOT_EQUAL("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP");
  NOT_EQUAL("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060");
  NOT_EQUAL("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp");
  NOT_EQUAL("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp");
  NOT_EQUAL("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting");
  NOT_EQUAL("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4");
}

TEST(rfc3261_19_1_4_sip_and_sips_are_never_equivalent) {
  NOT_EQUAL("sip:alice@atlanta.com", "sips:alice@atlanta.com");
  EQUAL("SIPS:alice@atlanta.com", "sips:alice@atlanta.com");
}

TEST(rfc3261_19_1_4_userinfo_is_case_sensitive) {
  NOT_EQUAL("sip:alice@atlanta.com", "sip:Alice@atlanta.com");
  NOT_EQUAL("sip:alice:pw@atlanta.com", "sip:alice:PW@atlanta.com");
  EQUAL("sip:alice:p%77@atlanta.com", "sip:alice:pw@atlanta.com");
  EQUAL("sip:%41lice@atlanta.com", "sip:Alice@atlanta.com");
  EQUAL("sip:%6clice@atlanta.com", "sip:%6Clice@atlanta.com"); /* hex digits have no case */
  NOT_EQUAL("sip:%41lice@atlanta.com", "sip:alice@atlanta.com");
  /* RFC 4475 esc01: To sip:%75se%72@example.com is sip:user@example.com */
  EQUAL("sip:%75se%72@example.com", "sip:user@example.com");
  EQUAL("sip:I%20have%20spaces@example.net", "sip:I%20have%20spaces@example.net");
}

TEST(rfc3261_19_1_4_escaped_reserved_chars_are_not_their_bare_form) {
  /* "Characters other than those in the reserved set are equivalent to their encoding" */
  NOT_EQUAL("sip:a%3Bb@h.com", "sip:a;b@h.com");
  NOT_EQUAL("sip:a%2Fb@h.com", "sip:a/b@h.com");
  EQUAL("sip:a%3Bb@h.com", "sip:a%3bb@h.com");
  NOT_EQUAL("sip:h.com?a=b%26c", "sip:h.com?a=b&c=");
  EQUAL("sip:a%2Db@h.com", "sip:a-b@h.com"); /* '-' is unreserved */
}

TEST(rfc4475_3_1_1_4_escaped_nuls_are_distinct_users) {
  NOT_EQUAL("sip:%00@host5.example.com", "sip:%00%00@host5.example.com");
  NOT_EQUAL("sip:null-%00-null@example.com", "sip:null-@example.com");
  EQUAL("sip:null-%00-null@example.com", "sip:null-%00-null@example.com");
}

TEST(rfc3261_19_1_4_omitted_components_never_match_written_ones) {
  NOT_EQUAL("sip:alice@atlanta.com", "sip:atlanta.com");
  NOT_EQUAL("sip:alice@atlanta.com", "sip:alice:@atlanta.com");
  NOT_EQUAL("sip:alice:@atlanta.com", "sip:alice:x@atlanta.com");
  NOT_EQUAL("sip:h.com", "sip:h.com:0");
  EQUAL("sip:h.com:5060", "sip:h.com:05060");
  NOT_EQUAL("sip:h.com:5060", "sip:h.com:5061");
  EQUAL("sip:h.com:0", "sip:h.com:00");
}

TEST(rfc3261_19_1_4_host_is_case_insensitive) {
  EQUAL("sip:a@EXAMPLE.com", "sip:a@example.COM");
  NOT_EQUAL("sip:a@example.com", "sip:a@example.org");
  NOT_EQUAL("sip:a@example.com", "sip:a@example.com.");
  EQUAL("sip:a@[2001:DB8::1]", "sip:a@[2001:db8:0:0:0:0:0:1]"); /* same RFC 4291 address */
  NOT_EQUAL("sip:a@[2001:db8::1]", "sip:a@[2001:db8::2]");
  NOT_EQUAL("sip:a@[::ffff:192.0.2.1]", "sip:a@192.0.2.1");
  NOT_EQUAL("sip:a@[2001:db8::10:5070]", "sip:a@[2001:db8::10]:5070");
}

TEST(rfc3261_19_1_4_user_ttl_method_maddr_transport_must_be_in_both) {
  NOT_EQUAL("sip:a@h.com", "sip:a@h.com;user=phone");
  NOT_EQUAL("sip:a@h.com", "sip:a@h.com;ttl=1");
  NOT_EQUAL("sip:a@h.com", "sip:a@h.com;method=INVITE");
  NOT_EQUAL("sip:a@h.com", "sip:a@h.com;maddr=239.255.255.1");
  NOT_EQUAL("sip:a@h.com", "sip:a@h.com;transport=udp"); /* even with the default value */
  NOT_EQUAL("sip:a@h.com;USER=ip", "sip:a@h.com");
  NOT_EQUAL("sip:a@h.com;%74tl=1", "sip:a@h.com");
  EQUAL("sip:a@h.com;user=phone;ttl=1;method=invite;maddr=H.com;transport=UDP",
        "sip:a@h.com;transport=udp;maddr=h.COM;method=INVITE;ttl=1;user=PHONE");
  NOT_EQUAL("sip:a@h.com;ttl=1", "sip:a@h.com;ttl=2");
  NOT_EQUAL("sip:a@h.com;maddr=h.com", "sip:a@h.com;maddr=g.com");
}

TEST(rfc3261_19_1_4_other_params_compared_only_when_in_both) {
  EQUAL("sip:a@h.com;lr", "sip:a@h.com");
  EQUAL("sip:a@h.com;foo=1", "sip:a@h.com;bar=2");
  NOT_EQUAL("sip:a@h.com;foo=1", "sip:a@h.com;foo=2");
  EQUAL("sip:a@h.com;foo=ABC", "sip:a@h.com;FOO=abc");
  NOT_EQUAL("sip:a@h.com;lr", "sip:a@h.com;lr=on");
  EQUAL("sip:a@h.com;lr", "sip:a@h.com;%6C%72");
  EQUAL("sip:a@h.com;n%61me=v%61lue", "sip:a@h.com;name=value");
  /* only the first of duplicate names counts */
  EQUAL("sip:a@h.com;x=1;x=2", "sip:a@h.com;x=1");
  NOT_EQUAL("sip:a@h.com;x=1;x=2", "sip:a@h.com;x=2");
  /* an empty param is no param */
  EQUAL("sip:a@h.com;;transport=tcp", "sip:a@h.com;transport=tcp");
  EQUAL("sip:a@h.com;;;x=1;;x=2", "sip:a@h.com;x=1");
  NOT_EQUAL("sip:a@h.com;;transport=tcp", "sip:a@h.com");
  NOT_EQUAL("sip:a@h.com;;x=1", "sip:a@h.com;x=2");
}

TEST(rfc3261_19_1_4_headers_are_never_ignored) {
  NOT_EQUAL("sip:a@h.com?x=1", "sip:a@h.com");
  NOT_EQUAL("sip:a@h.com?x=1", "sip:a@h.com?x=2");
  NOT_EQUAL("sip:a@h.com?x=1", "sip:a@h.com?x=1&y=2");
  EQUAL("sip:a@h.com?Subject=hi&x=1", "sip:a@h.com?x=1&subject=hi");
  EQUAL("sip:a@h.com?subject=project%20x", "sip:a@h.com?%73ubject=project%20x");
  NOT_EQUAL("sip:a@h.com?subject=Hi", "sip:a@h.com?subject=hi");
  NOT_EQUAL("sip:a@h.com?x=1&x=1&y=2", "sip:a@h.com?x=1&y=2&y=2");
  EQUAL("sip:a@h.com?x=1&y=2&x=1", "sip:a@h.com?x=1&x=1&y=2");
  EQUAL("sip:a@h.com?x=", "sip:a@h.com?X=");
}

TEST(rfc3966_4_tel_uri_comparison) {
  EQUAL("tel:+1-201-555-0123", "tel:+1(201)5550123");
  EQUAL("tel:+1-201-555-0123", "TEL:+1.201.555.0123");
  NOT_EQUAL("tel:+1-201-555-0123", "tel:+1-201-555-0124");
  NOT_EQUAL("tel:+12015550123", "tel:12015550123");
  EQUAL("tel:7042;phone-context=example.com", "tel:7042;Phone-Context=EXAMPLE.com");
  NOT_EQUAL("tel:7042;phone-context=example.com", "tel:7042");
  NOT_EQUAL("tel:7042;phone-context=example.com", "tel:7042;phone-context=example.org");
  EQUAL("tel:+1234;ext=1;isub=2", "tel:+1234;isub=2;ext=1");
  EQUAL("tel:abcd;phone-context=x.com", "tel:ABCD;phone-context=x.com");
  NOT_EQUAL("tel:+1234", "sip:+1234@h.com");
}

TEST(absolute_uri_comparison_is_on_unescaped_text) {
  EQUAL("isbn:2983792873", "ISBN:2983792873");
  EQUAL("name:John_Smith", "name:John%5FSmith");
  NOT_EQUAL("name:John_Smith", "name:john_smith");
  NOT_EQUAL("http://a.com/x%2Fy", "http://a.com/x/y");
  NOT_EQUAL("isbn:2983792873", "urn:2983792873");
}

/* sip_uri_format ----------------------------------------------------------------------------------*/

static void check_format(const char *in, const char *want) {
  sip_uri u, v;
  char out[512];
  if (parse(in, &u) != 0) {
    FAILF("\"%s\" rejected: %s", in, last_err);
    return;
  }
  size_t n = sip_uri_format(&u, out, sizeof out);
  if (n != strlen(want) || memcmp(out, want, n) != 0 || out[n] != '\0')
    FAILF("format(\"%s\") is \"%.*s\", expected \"%s\"", in, (int)n, out, want);
  if (parse_n(out, n, &v) != 0 || !sip_uri_equal(&u, &v) || !sip_uri_equal(&v, &u))
    FAILF("format(\"%s\") does not parse back to an equal URI", in);
}

TEST(format_writes_the_canonical_form) {
  check_format("sip:alice@atlanta.com", "sip:alice@atlanta.com");
  check_format("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:ALICE@AtLanTa.CoM;Transport=udp");
  check_format("sips:a:@h.com:05060;lr?x=1&y=", "sips:a:@h.com:5060;lr?x=1&y=");
  check_format("sip:h.com:0", "sip:h.com:0");
  check_format("sip:[2001:db8::10]:5070;maddr=[::1]", "sip:[2001:db8::10]:5070;maddr=[::1]");
  check_format("sip:sips%3Auser%40example.com@example.net",
               "sip:sips%3Auser%40example.com@example.net");
  check_format("Tel:+1-201-555-0123;ext=1", "tel:+1-201-555-0123;ext=1");
  check_format("nobodyKnowsThisScheme:totallyopaquecontent",
               "nobodyKnowsThisScheme:totallyopaquecontent");
  check_format("soap.beep://192.0.2.103:3002", "soap.beep://192.0.2.103:3002");
}

TEST(format_never_writes_past_cap) {
  sip_uri u;
  char out[64];
  PARSE("sip:alice@atlanta.com:5060;lr", u);
  size_t need = sip_uri_format(&u, NULL, 0);
  CHECK_EQ_INT(need, strlen("sip:alice@atlanta.com:5060;lr"));
  for (size_t cap = 0; cap <= need + 1; cap++) {
    memset(out, '#', sizeof out);
    CHECK_EQ_INT(sip_uri_format(&u, out, cap), need);
    for (size_t i = cap; i < sizeof out; i++)
      if (out[i] != '#') {
        FAILF("cap %zu: byte %zu written", cap, i);
        break;
      }
    if (cap > 0 && cap <= need && memcmp(out, "sip:alice@atlanta.com:5060;lr", cap) != 0)
      FAILF("cap %zu: wrong prefix", cap);
  }
  /* a URI built by hand: port without has_port is still written */
  sip_uri b;
  memset(&b, 0, sizeof b);
  b.scheme = SIP_URI_SIP;
  b.host = sip_str_make("example.com", 11);
  b.port = 5080;
  size_t n = sip_uri_format(&b, out, sizeof out);
  CHECK(n == 20 && memcmp(out, "sip:example.com:5080", 20) == 0);
}

/* Torture messages: the Request-URIs of RFC 4475 and RFC 5118 --------------------------------------*/

static char *read_file(const char *name, size_t *n) {
  static const char *const dirs[] = {"../shared/conformance/torture/",
                                     "/work/shared/conformance/torture/"};
  for (size_t d = 0; d < 2; d++) {
    char path[256];
    snprintf(path, sizeof path, "%s%s", dirs[d], name);
    FILE *f = fopen(path, "rb");
    if (!f) continue;
    char *buf = malloc(65536);
    *n = buf ? fread(buf, 1, 65536, f) : 0;
    fclose(f);
    return buf;
  }
  return NULL;
}

TEST(rfc4475_rfc5118_torture_request_uris) {
  static const struct {
    const char *file;
    int ok;
  } cases[] = {
    {"wsinv.sip", 1},
    {"intmeth.sip", 1},
    {"esc01.sip", 1},
    {"esc02.sip", 1},
    {"semiuri.sip", 1},
    {"escruri.sip", 1},
    {"unkscm.sip", 1},
    {"novelsc.sip", 1},
    {"test.sip", 1},
    {"trws.sip", 1},
    {"ipv6-good.sip", 1},
    {"port-ambiguous.sip", 1},
    {"port-unambiguous.sip", 1},
    {"ipv6-correct-abnf-2-colons.sip", 1},
    {"via-received-param-no-delim.sip", 1},
    {"ipv6-in-sdp.sip", 1},
    {"mpart01.sip", 1},
    {"ltgtruri.sip", 0},
    {"lwsruri.sip", 0},
    {"lwsstart.sip", 0},
    {"ipv6-bad.sip", 0},
    {"ipv6-bug-abnf-3-colons.sip", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t n;
    char *buf = read_file(cases[i].file, &n);
    if (!buf) {
      FAILF("cannot read %s", cases[i].file);
      continue;
    }
    /* Request-Line = Method SP Request-URI SP SIP-Version CRLF: the URI is the second field */
    const char *sp = memchr(buf, ' ', n), *eol = memchr(buf, '\r', n);
    if (!sp || !eol || sp > eol) {
      FAILF("%s: no request line", cases[i].file);
      free(buf);
      continue;
    }
    const char *uri = sp + 1, *sp2 = memchr(uri, ' ', (size_t)(eol - uri));
    size_t un = (size_t)((sp2 ? sp2 : eol) - uri);
    sip_uri u;
    int r = parse_n(uri, un, &u);
    if ((r == 0) != cases[i].ok)
      FAILF("%s: Request-URI \"%.*s\" %s (%s)", cases[i].file, (int)un, uri,
            r == 0 ? "accepted" : "rejected", r == 0 ? "" : last_err);
    free(buf);
  }
}

int main(void) {
  RUN(rfc3261_19_1_3_example_uris_parse);
  RUN(rfc3261_19_1_1_scheme_is_case_insensitive);
  RUN(rfc4475_userinfo_ends_at_the_first_at_sign);
  RUN(rfc3261_25_1_user_and_password_chars);
  RUN(rfc3261_25_1_hostnames);
  RUN(rfc3261_25_1_ipv4address);
  RUN(gb28181_all_digit_hosts_are_hostnames);
  RUN(rfc5118_4_1_ipv6_reference);
  RUN(rfc5118_4_2_ipv6_without_brackets_is_rejected);
  RUN(rfc5118_4_3_port_inside_brackets_is_part_of_the_address);
  RUN(rfc5118_4_4_port_after_brackets);
  RUN(rfc5118_4_9_ipv4_mapped_ipv6);
  RUN(rfc5118_4_10_three_colons_are_rejected);
  RUN(rfc4291_2_2_ipv6_text_forms);
  RUN(rfc3261_25_1_port);
  RUN(rfc3261_25_1_uri_parameters);
  RUN(rfc3261_25_1_headers);
  RUN(rfc3261_19_1_1_uri_param_lookup);
  RUN(rfc4475_3_1_2_7_angle_brackets_are_not_part_of_a_uri);
  RUN(rfc4475_3_1_2_8_no_whitespace_or_controls_in_a_uri);
  RUN(rfc3261_25_1_rejects_missing_parts);
  RUN(rfc3966_3_tel_uris);
  RUN(rfc4475_3_3_other_schemes_are_opaque);
  RUN(rfc4475_3_1_1_3_unescaping_is_not_recursive);
  RUN(rfc3261_19_1_4_equivalent_examples);
  RUN(rfc3261_19_1_4_not_equivalent_examples);
  RUN(rfc3261_19_1_4_sip_and_sips_are_never_equivalent);
  RUN(rfc3261_19_1_4_userinfo_is_case_sensitive);
  RUN(rfc3261_19_1_4_escaped_reserved_chars_are_not_their_bare_form);
  RUN(rfc4475_3_1_1_4_escaped_nuls_are_distinct_users);
  RUN(rfc3261_19_1_4_omitted_components_never_match_written_ones);
  RUN(rfc3261_19_1_4_host_is_case_insensitive);
  RUN(rfc3261_19_1_4_user_ttl_method_maddr_transport_must_be_in_both);
  RUN(rfc3261_19_1_4_other_params_compared_only_when_in_both);
  RUN(rfc3261_19_1_4_headers_are_never_ignored);
  RUN(rfc3966_4_tel_uri_comparison);
  RUN(absolute_uri_comparison_is_on_unescaped_text);
  RUN(format_writes_the_canonical_form);
  RUN(format_never_writes_past_cap);
  RUN(rfc4475_rfc5118_torture_request_uris);
  pool_free();
  return unit_done();
}
