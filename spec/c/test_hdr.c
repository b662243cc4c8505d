/* test_hdr.c: header names, methods and the typed parsers of single header values (sip_hdr.c),
 * each test named after the rule it checks (RFC 3261 unless noted). */
#include "sip_msg.h"
#include "unit.h"

#define S(lit) lit, sizeof(lit) - 1

/* ---- names ----------------------------------------------------------------------------------- */

TEST(s7_3_names_are_case_insensitive_and_round_trip) {
  for (int id = 1; id < SIP_H__COUNT; id++) {
    const char *n = sip_hdr_name((sip_hdr_id)id);
    CHECK(n != NULL);
    if (!n) continue;
    CHECK_EQ_INT(sip_hdr_lookup(n, strlen(n)), id);
    char up[64], lo[64];
    size_t k = strlen(n);
    for (size_t i = 0; i < k; i++) {
      up[i] = (char)((n[i] >= 'a' && n[i] <= 'z') ? n[i] - 32 : n[i]);
      lo[i] = (char)sip_lower((unsigned char)n[i]);
    }
    CHECK_EQ_INT(sip_hdr_lookup(up, k), id);
    CHECK_EQ_INT(sip_hdr_lookup(lo, k), id);
  }
  CHECK_EQ_INT(sip_hdr_lookup(S("MaX-fOrWaRdS")), SIP_H_MAX_FORWARDS);
  CHECK(sip_hdr_name(SIP_H_OTHER) == NULL);
  CHECK(sip_hdr_name((sip_hdr_id)SIP_H__COUNT) == NULL);
}

TEST(s7_3_3_compact_forms) {
  static const struct {
    char c;
    sip_hdr_id id;
  } t[] = {
    {'i', SIP_H_CALL_ID},
    {'m', SIP_H_CONTACT},
    {'e', SIP_H_CONTENT_ENCODING},
    {'l', SIP_H_CONTENT_LENGTH},
    {'c', SIP_H_CONTENT_TYPE},
    {'f', SIP_H_FROM},
    {'s', SIP_H_SUBJECT},
    {'k', SIP_H_SUPPORTED},
    {'t', SIP_H_TO},
    {'v', SIP_H_VIA},
    {'o', SIP_H_EVENT},
    {'u', SIP_H_ALLOW_EVENTS},
    {'r', SIP_H_REFER_TO},
    {'b', SIP_H_REFERRED_BY},
    {'x', SIP_H_SESSION_EXPIRES},
    {'a', SIP_H_ACCEPT_CONTACT},
    {'j', SIP_H_REJECT_CONTACT},
    {'d', SIP_H_REQUEST_DISPOSITION},
    {'y', SIP_H_IDENTITY},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    char lo = t[i].c, up = (char)(t[i].c - 32);
    CHECK_EQ_INT(sip_hdr_lookup(&lo, 1), t[i].id);
    CHECK_EQ_INT(sip_hdr_lookup(&up, 1), t[i].id);
  }
  CHECK_EQ_INT(sip_hdr_lookup(S("g")), SIP_H_OTHER);
  CHECK_EQ_INT(sip_hdr_lookup(S("1")), SIP_H_OTHER);
}

TEST(unknown_and_near_miss_names_are_other) {
  CHECK_EQ_INT(sip_hdr_lookup(S("")), SIP_H_OTHER);
  CHECK_EQ_INT(sip_hdr_lookup(S("C%6Fntact")), SIP_H_OTHER); /* RFC 4475 §3.1.1.5 */
  CHECK_EQ_INT(sip_hdr_lookup(S("Contacts")), SIP_H_OTHER);
  CHECK_EQ_INT(sip_hdr_lookup(S("Call_ID")), SIP_H_OTHER);
  CHECK_EQ_INT(sip_hdr_lookup(S("Call\rID")), SIP_H_OTHER); /* '-' does not alias a control */
  CHECK_EQ_INT(sip_hdr_lookup(S("Xyzzy")), SIP_H_OTHER);
  CHECK_EQ_INT(sip_hdr_lookup(S("Vía")), SIP_H_OTHER);
}

TEST(s7_3_1_list_headers) {
  CHECK(sip_hdr_is_list(SIP_H_VIA));
  CHECK(sip_hdr_is_list(SIP_H_CONTACT));
  CHECK(sip_hdr_is_list(SIP_H_ROUTE));
  CHECK(sip_hdr_is_list(SIP_H_RECORD_ROUTE));
  CHECK(sip_hdr_is_list(SIP_H_ALLOW));
  CHECK(sip_hdr_is_list(SIP_H_SUPPORTED));
  CHECK(sip_hdr_is_list(SIP_H_WARNING));
  CHECK(sip_hdr_is_list(SIP_H_REQUEST_DISPOSITION));
  CHECK(!sip_hdr_is_list(SIP_H_AUTHORIZATION));
  CHECK(!sip_hdr_is_list(SIP_H_WWW_AUTHENTICATE));
  CHECK(!sip_hdr_is_list(SIP_H_FROM));
  CHECK(!sip_hdr_is_list(SIP_H_CALL_ID));
  CHECK(!sip_hdr_is_list(SIP_H_OTHER));
  CHECK(!sip_hdr_is_list((sip_hdr_id)999));
}

TEST(s7_1_methods_are_case_sensitive) {
  for (int id = 1; id < SIP_M__COUNT; id++) {
    const char *n = sip_method_name((sip_method_id)id);
    CHECK(n && sip_method_lookup(n, strlen(n)) == (sip_method_id)id);
  }
  CHECK_EQ_INT(sip_method_lookup(S("invite")), SIP_M_OTHER);
  CHECK_EQ_INT(sip_method_lookup(S("RE%47IST%45R")), SIP_M_OTHER);
  CHECK_EQ_INT(sip_method_lookup(S("NEWMETHOD")), SIP_M_OTHER);
  CHECK(sip_method_name(SIP_M_OTHER) == NULL);
}

TEST(s25_1_token) {
  CHECK(sip_is_token(S("!interesting-Method0123456789_*+`.%indeed'~")));
  CHECK(!sip_is_token(S("")));
  CHECK(!sip_is_token(S("a b")));
  CHECK(!sip_is_token(S("a,b")));
  CHECK(!sip_is_token(S("\"a\"")));
  CHECK(!sip_is_token(S("a\x80")));
}

/* ---- numbers and params ---------------------------------------------------------------------- */

TEST(uint_with_lws_and_max) {
  uint64_t v = 7;
  CHECK(sip_parse_uint(S(" 0068 "), 255, &v) == 0 && v == 68);
  CHECK(sip_parse_uint(S("255"), 255, &v) == 0 && v == 255);
  CHECK(sip_parse_uint(S("256"), 255, &v) == -1);
  CHECK(sip_parse_uint(S("18446744073709551615"), UINT64_MAX, &v) == 0 && v == UINT64_MAX);
  CHECK(sip_parse_uint(S("18446744073709551616"), UINT64_MAX, &v) == -1);
  CHECK(sip_parse_uint(S("99999999999999999999999"), UINT64_MAX, &v) == -1);
  CHECK(sip_parse_uint(S("-1"), 100, &v) == -1);
  CHECK(sip_parse_uint(S("five"), 100, &v) == -1);
  CHECK(sip_parse_uint(S(""), 100, &v) == -1);
  CHECK(sip_parse_uint(S("1 2"), 100, &v) == -1);
  CHECK(sip_parse_uint(S("\r\n 12"), 100, &v) == 0 && v == 12); /* a fold is LWS */
  CHECK(sip_parse_uint(S("12\r\n"), 100, &v) == -1);            /* a bare CRLF is not */
  CHECK(sip_parse_uint(S("0"), 0, &v) == 0 && v == 0);
  CHECK(sip_parse_uint(S("1"), 0, &v) == -1);
}

TEST(s25_1_generic_params_with_lws) {
  sip_str rest = SIP_STR_LIT(" tag    = 1918181833n ;lr; q = 0.33 ;x=\"a;b\" ;ip=[2001:db8::1]");
  sip_str n, v;
  CHECK_EQ_INT(sip_param_next(&rest, &n, &v), 1);
  CHECK_STR(n, "tag");
  CHECK_STR(v, "1918181833n");
  CHECK_EQ_INT(sip_param_next(&rest, &n, &v), 1);
  CHECK_STR(n, "lr");
  CHECK(v.p == NULL && v.n == 0);
  CHECK_EQ_INT(sip_param_next(&rest, &n, &v), 1);
  CHECK_STR(v, "0.33");
  CHECK_EQ_INT(sip_param_next(&rest, &n, &v), 1);
  CHECK_STR(v, "\"a;b\""); /* quotes kept */
  CHECK_EQ_INT(sip_param_next(&rest, &n, &v), 1);
  CHECK_STR(v, "[2001:db8::1]");
  CHECK_EQ_INT(sip_param_next(&rest, &n, &v), 0);
  CHECK_EQ_INT(sip_param_next(&rest, &n, &v), 0);
}

TEST(rfc4475_3_1_2_1_empty_params_are_errors) {
  sip_str n, v;
  /* but one before another is skipped: a Via may hold it (RFC 3428 §4) */
  sip_str a = SIP_STR_LIT("a;;b; ;c");
  CHECK_EQ_INT(sip_param_next(&a, &n, &v), 1);
  CHECK_STR(n, "a");
  CHECK_EQ_INT(sip_param_next(&a, &n, &v), 1);
  CHECK_STR(n, "b");
  CHECK_EQ_INT(sip_param_next(&a, &n, &v), 1);
  CHECK_STR(n, "c");
  CHECK_EQ_INT(sip_param_next(&a, &n, &v), 0);
  sip_str b = SIP_STR_LIT("a;");
  CHECK_EQ_INT(sip_param_next(&b, &n, &v), 1);
  CHECK_EQ_INT(sip_param_next(&b, &n, &v), -1);
  sip_str c = SIP_STR_LIT("a=");
  CHECK_EQ_INT(sip_param_next(&c, &n, &v), -1);
  sip_str d = SIP_STR_LIT("a=\"open");
  CHECK_EQ_INT(sip_param_next(&d, &n, &v), -1);
  sip_str e = SIP_STR_LIT("a b");
  CHECK_EQ_INT(sip_param_next(&e, &n, &v), -1);
  sip_str none = SIP_STR_NULL;
  CHECK_EQ_INT(sip_param_next(&none, &n, &v), 0);
}

TEST(param_find_is_case_insensitive) {
  sip_str v;
  sip_str ps = SIP_STR_LIT("transport=tcp;LR;Tag=abc");
  CHECK(sip_param_find(ps, "tag", &v) && sip_str_eq(v, SIP_STR_LIT("abc")));
  CHECK(sip_param_find(ps, "lr", &v) && v.n == 0);
  CHECK(!sip_param_find(ps, "ttl", &v));
  CHECK(!sip_param_find(ps, "ta", &v));
}

TEST(s20_15_media_type) {
  sip_str t, st, ps;
  CHECK(sip_parse_media_type(S("application/sdp"), &t, &st, &ps) == 0);
  CHECK_STR(t, "application");
  CHECK_STR(st, "sdp");
  CHECK(ps.p == NULL);
  CHECK(sip_parse_media_type(S(" multipart/mixed ; boundary=7a9cbec02ceef655"), &t, &st, &ps) == 0);
  CHECK_STR(st, "mixed");
  CHECK_STR(ps, " boundary=7a9cbec02ceef655");
  CHECK(sip_parse_media_type(S("text / plain;charset=\"utf-8\""), &t, &st, &ps) == 0);
  CHECK_STR(t, "text");
  CHECK(sip_parse_media_type(S("text"), &t, &st, &ps) == -1);
  CHECK(sip_parse_media_type(S("text/"), &t, &st, &ps) == -1);
  CHECK(sip_parse_media_type(S("text/plain;"), &t, &st, &ps) == -1);
  CHECK(sip_parse_media_type(S("text/plain x"), &t, &st, &ps) == -1);
}

/* ---- Via ------------------------------------------------------------------------------------- */

TEST(s20_42_via_fields) {
  sip_via v;
  const char *err = NULL, *at = NULL;
  const char *s =
    "SIP/2.0/UDP 192.168.2.161:8021;rport;branch=z9hG4bK3997518011;received=192.0.2.1"
    ";maddr=224.2.0.1;ttl=16;x=y";
  CHECK(sip_parse_via(s, strlen(s), &v, &err, &at) == 0);
  CHECK_STR(v.proto, "SIP");
  CHECK_STR(v.version, "2.0");
  CHECK_STR(v.transport, "UDP");
  CHECK_STR(v.host, "192.168.2.161");
  CHECK_EQ_INT(v.port, 8021);
  CHECK_EQ_INT(v.rport, 0);
  CHECK_STR(v.branch, "z9hG4bK3997518011");
  CHECK_STR(v.received, "192.0.2.1");
  CHECK_STR(v.maddr, "224.2.0.1");
  CHECK_EQ_INT(v.ttl, 16);
  CHECK_STR(v.params,
            "rport;branch=z9hG4bK3997518011;received=192.0.2.1;maddr=224.2.0.1;ttl=16;x=y");
}

TEST(s20_42_via_defaults_when_absent) {
  sip_via v;
  const char *err, *at;
  CHECK(sip_parse_via(S("SIP/2.0/TCP host.example.com"), &v, &err, &at) == 0);
  CHECK_STR(v.host, "host.example.com");
  CHECK_EQ_INT(v.port, 0);
  CHECK(v.branch.p == NULL && v.received.p == NULL && v.maddr.p == NULL && v.params.p == NULL);
  CHECK_EQ_INT(v.rport, -1);
  CHECK_EQ_INT(v.ttl, -1);
}

TEST(rfc3581_rport_with_value) {
  sip_via v;
  const char *err, *at;
  CHECK(sip_parse_via(S("SIP/2.0/UDP h.example.com;rport=5061;branch=z9hG4bK1"), &v, &err, &at) ==
        0);
  CHECK_EQ_INT(v.rport, 5061);
  CHECK(sip_parse_via(S("SIP/2.0/UDP h.example.com;rport=x"), &v, &err, &at) == -1);
  CHECK(sip_parse_via(S("SIP/2.0/UDP h.example.com;rport=70000"), &v, &err, &at) == -1);
}

TEST(rfc4475_3_1_1_1_via_lws_everywhere) {
  sip_via v;
  const char *err, *at;
  const char *s = "SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw";
  CHECK(sip_parse_via(s, strlen(s), &v, &err, &at) == 0);
  CHECK_STR(v.version, "2.0");
  CHECK_STR(v.transport, "UDP");
  CHECK_STR(v.host, "192.0.2.2");
  CHECK_STR(v.branch, "390skdjuw");
  s = "SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8";
  CHECK(sip_parse_via(s, strlen(s), &v, &err, &at) == 0);
  CHECK_STR(v.transport, "TCP");
  CHECK_STR(v.host, "spindle.example.com");
  CHECK_STR(v.branch, "z9hG4bK9ikj8");
  s = "SIP/2.0/UDP host : 5060 ; branch=z9hG4bK1";
  CHECK(sip_parse_via(s, strlen(s), &v, &err, &at) == 0);
  CHECK_EQ_INT(v.port, 5060);
}

TEST(rfc5118_via_ipv6_sent_by_and_received) {
  sip_via v;
  const char *err, *at;
  CHECK(sip_parse_via(S("SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111"), &v, &err, &at) ==
        0);
  CHECK_STR(v.host, "[2001:db8::9:1]");
  CHECK_EQ_INT(v.port, 6050);
  CHECK(sip_parse_via(S("SIP/2.0/UDP [::ffff:192.0.2.10]:19823;branch=z9hG4bKbh19"), &v, &err,
                      &at) == 0);
  CHECK_STR(v.host, "[::ffff:192.0.2.10]");
  /* §4.5: received without and with brackets */
  CHECK(sip_parse_via(S("SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3"),
                      &v, &err, &at) == 0);
  CHECK_STR(v.received, "2001:db8::9:255");
  CHECK(sip_parse_via(S("SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z"), &v,
                      &err, &at) == 0);
  CHECK_STR(v.received, "[2001:db8::9:255]");
  CHECK(sip_parse_via(S("SIP/2.0/UDP [2001:db8:::1];branch=z"), &v, &err, &at) == -1);
  CHECK(sip_parse_via(S("SIP/2.0/UDP [2001:db8::1;branch=z"), &v, &err, &at) == -1);
  CHECK(sip_parse_via(S("SIP/2.0/UDP [1:2:3:4:5:6:7:8:9]"), &v, &err, &at) == -1);
}

TEST(rfc3428_4_empty_header_params_are_skipped) {
  sip_addr a;
  const char *err = NULL, *at = NULL;
  /* the From of the 200 OK that reaches user1 in RFC 3428 §4 */
  CHECK(sip_parse_addr_hdr(SIP_H_FROM, S("sip:user1@domain.com;;tag=49394"), &a, &err, &at) == 0);
  CHECK_STR(a.uri, "sip:user1@domain.com");
  CHECK_STR(a.tag, "49394");
  CHECK_STR(a.params, ";tag=49394");
  CHECK(sip_parse_addr_hdr(SIP_H_CONTACT, S("<sip:a@b>;;;expires=60"), &a, &err, &at) == 0);
  CHECK(sip_parse_addr_hdr(SIP_H_CONTACT, S("<sip:a@b>;expires=60;;"), &a, &err, &at) == -1);
}

TEST(rfc3428_4_empty_via_params_are_skipped) {
  sip_via v;
  const char *err = NULL, *at = NULL;
  /* the 200 OK of RFC 3428 §4, as printed */
  const char *s = "SIP/2.0/TCP user1pc.domain.com;;branch=z9hG4bK776sgdkse;\r\n received=1.2.3.4";
  CHECK(sip_parse_via(s, strlen(s), &v, &err, &at) == 0);
  CHECK_STR(v.host, "user1pc.domain.com");
  CHECK_STR(v.branch, "z9hG4bK776sgdkse");
  CHECK_STR(v.received, "1.2.3.4");
  CHECK_STR(v.params, ";branch=z9hG4bK776sgdkse;\r\n received=1.2.3.4");
  CHECK(sip_parse_via(S("SIP/2.0/UDP h;rport;;; ;branch=z9hG4bKx"), &v, &err, &at) == 0);
  CHECK_EQ_INT(v.rport, 0);
  CHECK_STR(v.branch, "z9hG4bKx");
}

TEST(gb28181_all_digit_sent_by_and_maddr) {
  sip_via v;
  const char *err = NULL, *at = NULL;
  CHECK(sip_parse_via(S("SIP/2.0/UDP 3402000000:5060;maddr=3402000000;branch=z9hG4bK1"), &v, &err,
                      &at) == 0);
  CHECK_STR(v.host, "3402000000");
  CHECK_EQ_INT(v.port, 5060);
  CHECK_STR(v.maddr, "3402000000");
  CHECK(sip_parse_via(S("SIP/2.0/UDP 192.0.2"), &v, &err, &at) == 0); /* a name, as in a URI */
  CHECK_STR(v.host, "192.0.2");
}

TEST(s20_42_via_errors_name_the_problem) {
  sip_via v;
  const char *err = NULL, *at = NULL;
  const char *s = "SIP/2.0/UDP 192.0.2.15;;=x";
  CHECK(sip_parse_via(s, strlen(s), &v, &err, &at) == -1);
  CHECK(err && strstr(err, "Via") && strstr(err, "parameter"));
  CHECK(at == s + 24);
  s = "SIP/2.0/UDP 192.0.2.15;branch=z9hG4bK1;;"; /* a final ';' is no param */
  CHECK(sip_parse_via(s, strlen(s), &v, &err, &at) == -1);
  CHECK(at == s + strlen(s));
  CHECK(sip_parse_via(S(""), &v, &err, &at) == -1);
  CHECK(sip_parse_via(S("SIP/2.0/UDP"), &v, &err, &at) == -1);
  CHECK(sip_parse_via(S("SIP/2.0 UDP host"), &v, &err, &at) == -1);
  CHECK(sip_parse_via(S("SIP/2.0/UDPhost"), &v, &err, &at) == -1);
  CHECK(sip_parse_via(S("SIP/2.0/UDP host:"), &v, &err, &at) == -1);
  CHECK(sip_parse_via(S("SIP/2.0/UDP host:0"), &v, &err, &at) == -1);
  CHECK(sip_parse_via(S("SIP/2.0/UDP host:65536"), &v, &err, &at) == -1);
  CHECK(sip_parse_via(S("SIP/2.0/UDP -host"), &v, &err, &at) == -1);
  CHECK(sip_parse_via(S("SIP/2.0/UDP 1.2.3.256"), &v, &err, &at) == -1);
  CHECK(sip_parse_via(S("SIP/2.0/UDP 1234.2.3.4"), &v, &err, &at) == -1);
  CHECK(sip_parse_via(S("SIP/2.0/UDP a.3402000000"), &v, &err, &at) == -1);
  CHECK(sip_parse_via(S("SIP/2.0/UDP host x"), &v, &err, &at) == -1);
  CHECK(sip_parse_via(S("SIP/2.0/UDP host;branch"), &v, &err, &at) == -1);
  CHECK(sip_parse_via(S("SIP/2.0/UDP host;branch=\"q\""), &v, &err, &at) == -1);
  CHECK(sip_parse_via(S("SIP/2.0/UDP host;ttl=256"), &v, &err, &at) == -1);
  CHECK(sip_parse_via(S("SIP/2.0/UDP host;received=host.example.com"), &v, &err, &at) == -1);
  CHECK(sip_parse_via(S("SIP/2.0/UDP host;maddr=-bad"), &v, &err, &at) == -1);
  CHECK(sip_parse_via(S("SIP/2.0/UDP host\r\nbranch=x"), &v, &err, &at) == -1); /* bare CRLF */
}

TEST(rfc4475_3_2_1_empty_branch_after_cookie_parses) {
  sip_via v;
  const char *err, *at;
  CHECK(sip_parse_via(S("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK"), &v, &err, &at) == 0);
  CHECK_STR(v.branch, "z9hG4bK");
}

TEST(rfc4475_3_1_1_10_unknown_transports) {
  sip_via v;
  const char *err, *at;
  CHECK(sip_parse_via(S("SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en"), &v, &err, &at) ==
        0);
  CHECK_STR(v.transport, "UNKNOWN");
  CHECK(sip_parse_via(S("sip/2.0/sctp t2.example.com"), &v, &err, &at) == 0);
  CHECK_STR(v.proto, "sip");
  CHECK_STR(v.transport, "sctp");
}

/* ---- addresses ------------------------------------------------------------------------------- */

TEST(s20_10_name_addr_with_quoted_display_and_tag) {
  sip_addr a;
  const char *err, *at;
  const char *s =
    "\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8";
  CHECK(sip_parse_addr(s, strlen(s), &a, &err, &at) == 0);
  CHECK(a.display_quoted);
  CHECK_STR(a.display, "J Rosenberg \\\\\\\"");
  CHECK(a.bracketed);
  CHECK_STR(a.uri, "sip:jdrosen@example.com");
  CHECK_STR(a.tag, "98asjd8");
  CHECK(!a.star);
}

TEST(s20_10_token_display_name_and_no_display) {
  sip_addr a;
  const char *err, *at;
  const char *s = "token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;tag=_token~1'+`*%!-.";
  CHECK(sip_parse_addr(s, strlen(s), &a, &err, &at) == 0);
  CHECK(!a.display_quoted);
  CHECK_STR(a.display, "token1~` token2'+_ token3*%!.-");
  CHECK_STR(a.tag, "_token~1'+`*%!-.");
  CHECK(sip_parse_addr(S("<sip:a@b>"), &a, &err, &at) == 0);
  CHECK(a.display.p == NULL);
  CHECK(a.tag.p == NULL);
  CHECK(sip_parse_addr(S("\"\" <sip:a@b>"), &a, &err, &at) == 0);
  CHECK(a.display.p != NULL && a.display.n == 0);
}

TEST(rfc4475_3_1_1_6_no_lws_before_laquot) {
  sip_addr a;
  const char *err, *at;
  CHECK(sip_parse_addr(S("caller<sip:caller@example.com>;tag=323"), &a, &err, &at) == 0);
  CHECK_STR(a.display, "caller");
  CHECK_STR(a.uri, "sip:caller@example.com");
  CHECK_STR(a.tag, "323");
}

TEST(s20_10_addr_spec_uri_ends_at_semicolon) {
  sip_addr a;
  const char *err, *at;
  /* RFC 4475 §3.3.12: unknownparam is a header param, not a URI param */
  CHECK(sip_parse_addr(S("sip:+19725552222@gw1.example.net;unknownparam"), &a, &err, &at) == 0);
  CHECK(!a.bracketed);
  CHECK_STR(a.uri, "sip:+19725552222@gw1.example.net");
  CHECK_STR(a.params, "unknownparam");
  /* §3.1.1.1: LWS before the ';' */
  CHECK(sip_parse_addr(S("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n"), &a, &err,
                       &at) == 0);
  CHECK_STR(a.uri, "sip:vivekg@chair-dnrc.example.com");
  CHECK_STR(a.tag, "1918181833n");
  /* §3.3.13: in brackets the param belongs to the URI */
  CHECK(sip_parse_addr(S("<sip:+19725552222@gw1.example.net;unknownparam>"), &a, &err, &at) == 0);
  CHECK_STR(a.uri, "sip:+19725552222@gw1.example.net;unknownparam");
  CHECK(a.params.p == NULL);
}

TEST(rfc4475_3_1_2_13_question_mark_needs_brackets) {
  sip_addr a;
  const char *err = NULL, *at = NULL;
  const char *s = "sip:user@example.com?Route=%3Csip:sip.example.com%3E";
  CHECK(sip_parse_addr(s, strlen(s), &a, &err, &at) == -1);
  CHECK(at == s + 20);
  CHECK(err && strstr(err, "'?'"));
  /* §3.3.14: fine in brackets */
  CHECK(sip_parse_addr(S("<sip:user@example.com?Route=%3Csip:sip.example.com%3E>"), &a, &err,
                       &at) == 0);
}

TEST(rfc4475_3_1_2_14_no_spaces_inside_brackets) {
  sip_addr a;
  const char *err = NULL, *at;
  CHECK(sip_parse_addr(S("\"Watson, Thomas\" < sip:t.watson@example.org >"), &a, &err, &at) == -1);
  CHECK(err && strstr(err, "whitespace"));
}

TEST(rfc4475_3_1_2_15_unquoted_display_name_with_comma) {
  sip_addr a;
  const char *err = NULL, *at = NULL;
  const char *s = "Bell, Alexander <sip:a.g.bell@example.com>;tag=43";
  CHECK(sip_parse_addr(s, strlen(s), &a, &err, &at) == -1);
  CHECK(at == s + 4);
  CHECK(err && strstr(err, "display name"));
}

TEST(rfc4475_3_1_2_6_unterminated_quote) {
  sip_addr a;
  const char *err = NULL, *at;
  CHECK(sip_parse_addr(S("\"Mr. J. User <sip:j.user@example.com>"), &a, &err, &at) == -1);
  CHECK(err && strstr(err, "quoted"));
}

TEST(s25_1_quoted_pairs_of_controls_are_legal) {
  /* RFC 4475 §3.1.1.2: \ before BEL, NUL and DEL; a raw control is not */
  sip_addr a;
  const char *err, *at;
  static const char s[] = "\"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f\" <sip:a@example.com>";
  CHECK(sip_parse_addr(s, sizeof s - 1, &a, &err, &at) == 0);
  CHECK_EQ_INT(a.display.n, 20);
  static const char raw[] = "\"BEL:\x07\" <sip:a@example.com>";
  CHECK(sip_parse_addr(raw, sizeof raw - 1, &a, &err, &at) == -1);
  static const char utf8[] = "\"J\xc3\xa9r\xc3\xb4me\" <sip:a@example.com>";
  CHECK(sip_parse_addr(utf8, sizeof utf8 - 1, &a, &err, &at) == 0);
}

TEST(rfc4475_3_3_4_other_schemes_are_valid_syntax) {
  sip_addr a;
  const char *err, *at;
  CHECK(sip_parse_addr(S("isbn:2983792873"), &a, &err, &at) == 0);
  CHECK_STR(a.uri, "isbn:2983792873");
  CHECK(sip_parse_addr(S("<http://www.example.com>;tag=3234233"), &a, &err, &at) == 0);
  CHECK(sip_parse_addr(S("<name:John_Smith>"), &a, &err, &at) == 0);
}

TEST(s20_10_addr_errors) {
  sip_addr a;
  const char *err, *at;
  CHECK(sip_parse_addr(S(""), &a, &err, &at) == -1);
  CHECK(sip_parse_addr(S("   "), &a, &err, &at) == -1);
  CHECK(sip_parse_addr(S("<sip:a@b"), &a, &err, &at) == -1);
  CHECK(sip_parse_addr(S("<>"), &a, &err, &at) == -1);
  CHECK(sip_parse_addr(S("Joe"), &a, &err, &at) == -1);
  CHECK(sip_parse_addr(S("\"Joe\" sip:a@b"), &a, &err, &at) == -1);
  CHECK(sip_parse_addr(S("<sip:a@b> x"), &a, &err, &at) == -1);
  CHECK(sip_parse_addr(S("<sip:a@b>;;;;"), &a, &err, &at) == -1); /* RFC 4475 §3.1.2.1 */
  CHECK(sip_parse_addr(S("<sip:a@b>;tag"), &a, &err, &at) == -1);
  CHECK(sip_parse_addr(S("<sip:a@b>;tag=\"x\""), &a, &err, &at) == -1);
  CHECK(sip_parse_addr(S("<sip:a b@c>"), &a, &err, &at) == -1);
  CHECK(sip_parse_addr(S("alan@jasomi.com"), &a, &err, &at) == -1); /* not a URI */
}

TEST(s20_10_contact_star) {
  sip_addr a;
  const char *err = NULL, *at;
  CHECK(sip_parse_addr(S(" * "), &a, &err, &at) == 0);
  CHECK(a.star);
  CHECK(sip_parse_addr_hdr(SIP_H_CONTACT, S("*"), &a, &err, &at) == 0);
  CHECK(a.star);
  CHECK(sip_parse_addr_hdr(SIP_H_TO, S("*"), &a, &err, &at) == -1);
  CHECK(err && strstr(err, "To header"));
}

TEST(s20_30_s20_34_route_needs_name_addr) {
  sip_addr a;
  const char *err = NULL, *at;
  CHECK(sip_parse_addr_hdr(SIP_H_ROUTE,
                           S("<sip:services.example.com;lr;unknownwith=value;unknown-no-value>"),
                           &a, &err, &at) == 0);
  CHECK_STR(a.uri, "sip:services.example.com;lr;unknownwith=value;unknown-no-value");
  CHECK(sip_parse_addr_hdr(SIP_H_RECORD_ROUTE, S("sip:p.example.com;lr"), &a, &err, &at) == -1);
  CHECK(err && strstr(err, "Record-Route header"));
  CHECK(sip_parse_addr_hdr(SIP_H_CONTACT, S("sip:p.example.com;lr"), &a, &err, &at) == 0);
}

TEST(addr_hdr_errors_name_the_header) {
  sip_addr a;
  const char *err = NULL, *at;
  CHECK(sip_parse_addr_hdr(SIP_H_FROM, S("Bell, A <sip:a@b>"), &a, &err, &at) == -1);
  CHECK(err && strncmp(err, "bad From header:", 16) == 0);
  CHECK(sip_parse_addr_hdr(SIP_H_CONTACT, S("<sip:a@b>;;"), &a, &err, &at) == -1);
  CHECK(err && strncmp(err, "bad Contact header:", 19) == 0);
  CHECK(sip_parse_addr_hdr(SIP_H_REPLY_TO, S("<sip:a@b"), &a, &err, &at) == -1);
  CHECK(err && strncmp(err, "bad Reply-To header:", 20) == 0);
}

/* ---- CSeq ------------------------------------------------------------------------------------ */

TEST(s8_1_1_5_cseq_number_below_2_31) {
  uint32_t n = 0;
  sip_str m;
  const char *err = NULL, *at;
  CHECK(sip_parse_cseq(S("0009\r\n  INVITE"), &n, &m, &err, &at) == 0); /* RFC 4475 §3.1.1.1 */
  CHECK_EQ_INT(n, 9);
  CHECK_STR(m, "INVITE");
  CHECK(sip_parse_cseq(S("2147483647 ACK"), &n, &m, &err, &at) == 0);
  CHECK_EQ_INT(n, 2147483647);
  CHECK(sip_parse_cseq(S("2147483648 ACK"), &n, &m, &err, &at) == -1);
  CHECK(err && strstr(err, "out of range"));
  CHECK(sip_parse_cseq(S("36893488147419103232 REGISTER"), &n, &m, &err, &at) == -1);
  CHECK(sip_parse_cseq(S("9292394834772304023312 OPTIONS"), &n, &m, &err, &at) == -1);
}

TEST(s20_16_cseq_syntax) {
  uint32_t n;
  sip_str m;
  const char *err, *at;
  CHECK(sip_parse_cseq(S(" 139122385 !interesting-Method0123456789_*+`.%indeed'~ "), &n, &m, &err,
                       &at) == 0);
  CHECK_STR(m, "!interesting-Method0123456789_*+`.%indeed'~");
  CHECK(sip_parse_cseq(S("1"), &n, &m, &err, &at) == -1);
  CHECK(sip_parse_cseq(S("1INVITE"), &n, &m, &err, &at) == -1);
  CHECK(sip_parse_cseq(S("INVITE"), &n, &m, &err, &at) == -1);
  CHECK(sip_parse_cseq(S("-1 INVITE"), &n, &m, &err, &at) == -1);
  CHECK(sip_parse_cseq(S("1 INVITE x"), &n, &m, &err, &at) == -1);
  CHECK(sip_parse_cseq(S("1 INV,ITE"), &n, &m, &err, &at) == -1);
  CHECK(sip_parse_cseq(S(""), &n, &m, &err, &at) == -1);
}

int main(void) {
  RUN(s7_3_names_are_case_insensitive_and_round_trip);
  RUN(s7_3_3_compact_forms);
  RUN(unknown_and_near_miss_names_are_other);
  RUN(s7_3_1_list_headers);
  RUN(s7_1_methods_are_case_sensitive);
  RUN(s25_1_token);
  RUN(uint_with_lws_and_max);
  RUN(s25_1_generic_params_with_lws);
  RUN(rfc4475_3_1_2_1_empty_params_are_errors);
  RUN(param_find_is_case_insensitive);
  RUN(s20_15_media_type);
  RUN(s20_42_via_fields);
  RUN(s20_42_via_defaults_when_absent);
  RUN(rfc3581_rport_with_value);
  RUN(rfc4475_3_1_1_1_via_lws_everywhere);
  RUN(rfc5118_via_ipv6_sent_by_and_received);
  RUN(rfc3428_4_empty_via_params_are_skipped);
  RUN(rfc3428_4_empty_header_params_are_skipped);
  RUN(gb28181_all_digit_sent_by_and_maddr);
  RUN(s20_42_via_errors_name_the_problem);
  RUN(rfc4475_3_2_1_empty_branch_after_cookie_parses);
  RUN(rfc4475_3_1_1_10_unknown_transports);
  RUN(s20_10_name_addr_with_quoted_display_and_tag);
  RUN(s20_10_token_display_name_and_no_display);
  RUN(rfc4475_3_1_1_6_no_lws_before_laquot);
  RUN(s20_10_addr_spec_uri_ends_at_semicolon);
  RUN(rfc4475_3_1_2_13_question_mark_needs_brackets);
  RUN(rfc4475_3_1_2_14_no_spaces_inside_brackets);
  RUN(rfc4475_3_1_2_15_unquoted_display_name_with_comma);
  RUN(rfc4475_3_1_2_6_unterminated_quote);
  RUN(s25_1_quoted_pairs_of_controls_are_legal);
  RUN(rfc4475_3_3_4_other_schemes_are_valid_syntax);
  RUN(s20_10_addr_errors);
  RUN(s20_10_contact_star);
  RUN(s20_30_s20_34_route_needs_name_addr);
  RUN(addr_hdr_errors_name_the_header);
  RUN(s8_1_1_5_cseq_number_below_2_31);
  RUN(s20_16_cseq_syntax);
  return unit_done();
}
