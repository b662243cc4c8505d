/* test_parse.c: sip_parse (start line, header index, typed headers, body), sip_frame_stream,
 * lookups and sip_msg_check_request. Tests are named after the rule they check (RFC 3261 unless
 * noted). Inputs are also parsed at the very end of a page whose successor is unmapped, so any
 * read past the buffer faults. */
#include <sys/mman.h>
#include <unistd.h>
#include "sip_msg.h"
#include "unit.h"

static sip_hdr H[256];
static sip_msg M;

/* ---- page guard ------------------------------------------------------------------------------ */

typedef struct guard {
  char *base;
  size_t len;
} guard;

/* Copy n bytes so that they end exactly where an inaccessible page begins. */
static char *guard_put(guard *g, const char *s, size_t n) {
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  size_t data = (n + pg - 1) / pg * pg;
  if (data == 0) data = pg;
  g->len = data + pg;
  g->base = mmap(NULL, g->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (g->base == MAP_FAILED) {
    perror("mmap");
    exit(2);
  }
  if (mprotect(g->base + data, pg, PROT_NONE) != 0) {
    perror("mprotect");
    exit(2);
  }
  char *p = g->base + data - n;
  if (n) memcpy(p, s, n);
  return p;
}

static void guard_free(guard *g) { munmap(g->base, g->len); }

/* Parse s (guarded) in the given mode; returns sip_parse's result. M stays valid until the next
 * call only for fields that do not point into the buffer, so tests check slices before freeing:
 * parse_keep() keeps the guard mapped until guard_drop(). */
static guard keep;
static int kept;

static void guard_drop(void) {
  if (kept) guard_free(&keep);
  kept = 0;
}

static int parse_n(const char *s, size_t n, unsigned flags) {
  guard_drop();
  char *p = guard_put(&keep, s, n);
  kept = 1;
  return sip_parse(p, n, &M, H, 256, NULL, flags);
}

static int parse(const char *s) { return parse_n(s, strlen(s), SIP_PARSE_DGRAM); }
static int parse_stream(const char *s) { return parse_n(s, strlen(s), SIP_PARSE_STREAM); }

/* Offset of the first occurrence of needle in the last parsed message. */
static long off_of(const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; i + n <= M.len || i + n <= keep.len; i++) {
    if (M.buf + i + n > keep.base + keep.len - (size_t)sysconf(_SC_PAGESIZE)) break;
    if (memcmp(M.buf + i, needle, n) == 0) return (long)i;
  }
  return -1;
}

#define REQ_HDRS                                                  \
  "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n" \
  "Max-Forwards: 70\r\n"                                          \
  "To: Bob <sip:bob@biloxi.com>\r\n"                              \
  "From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"        \
  "Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n"                  \
  "CSeq: 314159 INVITE\r\n"                                       \
  "Contact: <sip:alice@pc33.atlanta.com>\r\n"

static const char invite[] = "INVITE sip:bob@biloxi.com SIP/2.0\r\n" REQ_HDRS
                             "Content-Type: application/sdp\r\n"
                             "Content-Length: 4\r\n"
                             "\r\n"
                             "v=0\n";

static const char ok200[] =
  "SIP/2.0 200 OK\r\n"
  "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;received=192.0.2.1\r\n"
  "To: Bob <sip:bob@biloxi.com>;tag=a6c85cf\r\n"
  "From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"
  "Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n"
  "CSeq: 314159 INVITE\r\n"
  "Content-Length: 0\r\n"
  "\r\n";

/* ---- start line ------------------------------------------------------------------------------ */

TEST(s7_1_request_line) {
  CHECK_EQ_INT(parse(invite), 0);
  CHECK(M.is_request);
  CHECK_STR(M.method, "INVITE");
  CHECK_EQ_INT(M.method_id, SIP_M_INVITE);
  CHECK_STR(M.ruri, "sip:bob@biloxi.com");
  CHECK_EQ_INT(M.uri.scheme, SIP_URI_SIP);
  CHECK_STR(M.uri.host, "biloxi.com");
  CHECK_STR(M.version, "SIP/2.0");
  CHECK_EQ_INT(M.err.status, 0);
  CHECK(M.err.what == NULL);
}

TEST(s7_2_status_line) {
  CHECK_EQ_INT(parse(ok200), 0);
  CHECK(!M.is_request);
  CHECK_EQ_INT(M.status, 200);
  CHECK_STR(M.reason, "OK");
  CHECK_STR(M.version, "SIP/2.0");
  CHECK(M.method.p == NULL);
}

TEST(rfc4475_3_1_1_13_empty_reason_phrase) {
  CHECK_EQ_INT(parse("SIP/2.0 100 \r\nContent-Length: 0\r\n\r\n"), 0);
  CHECK_EQ_INT(M.status, 100);
  CHECK(M.reason.n == 0);
  /* the SP after the code is required */
  CHECK_EQ_INT(parse("SIP/2.0 100\r\nContent-Length: 0\r\n\r\n"), -1);
  CHECK_EQ_INT(M.err.status, 400);
}

TEST(rfc4475_3_1_1_12_utf8_reason_phrase) {
  CHECK_EQ_INT(parse("SIP/2.0 200 = 2**3 * 5**2 \xd0\xbd\xd0\xbe \xd1\x81\xd1\x82\xd0\xbe\r\n\r\n"),
               0);
  CHECK_STR(M.reason, "= 2**3 * 5**2 \xd0\xbd\xd0\xbe \xd1\x81\xd1\x82\xd0\xbe");
  CHECK_EQ_INT(parse("SIP/2.0 200 O\x01K\r\n\r\n"), -1);
}

TEST(s7_1_sip_version_name_is_case_insensitive) {
  CHECK_EQ_INT(parse("OPTIONS sip:a@b sip/2.0\r\n\r\n"), 0);
  CHECK_EQ_INT(parse("Sip/2.0 180 Ringing\r\n\r\n"), 0);
  CHECK_EQ_INT(M.status, 180);
}

TEST(rfc4475_3_1_2_16_other_version_is_505) {
  CHECK_EQ_INT(parse("OPTIONS sip:t.watson@example.org SIP/7.0\r\nl: 0\r\n\r\n"), -1);
  CHECK_EQ_INT(M.err.status, 505);
  CHECK_EQ_INT(M.err.off, 33);
  CHECK(M.is_request);
  CHECK_EQ_INT(parse("SIP/3.0 200 OK\r\n\r\n"), -1);
  CHECK_EQ_INT(M.err.status, 505);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.00\r\n\r\n"), -1);
  CHECK_EQ_INT(M.err.status, 505);
  /* not a SIP-Version at all: 400 */
  CHECK_EQ_INT(parse("OPTIONS sip:a@b HTTP/1.1\r\n\r\n"), -1);
  CHECK_EQ_INT(M.err.status, 400);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2\r\n\r\n"), -1);
  CHECK_EQ_INT(M.err.status, 400);
}

TEST(s7_2_status_code_is_3_digits_in_100_699) {
  CHECK_EQ_INT(parse("SIP/2.0 699 x\r\n\r\n"), 0);
  CHECK_EQ_INT(parse("SIP/2.0 099 x\r\n\r\n"), -1);
  CHECK_EQ_INT(parse("SIP/2.0 700 x\r\n\r\n"), -1);
  CHECK_EQ_INT(parse("SIP/2.0 20 x\r\n\r\n"), -1);
  CHECK_EQ_INT(parse("SIP/2.0 2000 x\r\n\r\n"), -1);
  CHECK_EQ_INT(parse("SIP/2.0 2x0 x\r\n\r\n"), -1);
  /* RFC 4475 §3.1.2.19: no overflow */
  CHECK_EQ_INT(parse("SIP/2.0 4294967301 better not break the receiver\r\n\r\n"), -1);
  CHECK_EQ_INT(M.err.status, 400);
  CHECK_EQ_INT(M.err.off, 8);
}

TEST(rfc4475_3_1_2_9_and_10_one_sp_between_elements) {
  CHECK_EQ_INT(parse("INVITE  sip:user@example.com  SIP/2.0\r\n\r\n"), -1);
  CHECK_EQ_INT(M.err.status, 400);
  CHECK_EQ_INT(M.err.off, 7);
  CHECK_EQ_INT(parse("OPTIONS sip:remote-target@example.com SIP/2.0  \r\n\r\n"), -1);
  CHECK(strstr(M.err.what, "trailing whitespace") != NULL);
  CHECK_EQ_INT(parse(" OPTIONS sip:a@b SIP/2.0\r\n\r\n"), -1);
  CHECK_EQ_INT(parse("OPTIONS\tsip:a@b SIP/2.0\r\n\r\n"), -1);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b\tSIP/2.0\r\n\r\n"), -1);
}

TEST(s7_1_request_line_needs_all_three_elements) {
  CHECK_EQ_INT(parse("INVITE sip:alan@jasomi.com\r\n\r\n"), -1); /* RFC 4475 test.sip */
  CHECK(strstr(M.err.what, "SIP-Version") != NULL);
  CHECK_EQ_INT(parse("INVITE SIP/2.0\r\n\r\n"), -1);
  CHECK_EQ_INT(parse("INVITE  SIP/2.0\r\n\r\n"), -1);
  CHECK_EQ_INT(parse("INVITE\r\n\r\n"), -1);
  CHECK_EQ_INT(parse("\r\n"), -1);
  CHECK_EQ_INT(parse(""), -1);
  CHECK_EQ_INT(parse("IN(VITE sip:a@b SIP/2.0\r\n\r\n"), -1);
}

TEST(s8_2_a_bad_start_line_still_indexes_the_headers_to_answer) {
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/7.0\r\n" REQ_HDRS "\r\n"), -1);
  CHECK_EQ_INT(M.err.status, 505);
  CHECK_EQ_INT(M.nhdr, 7);
  CHECK_STR(M.via.branch, "z9hG4bK776asdhds");
  CHECK_STR(M.call_id, "a84b4c76e66710@pc33.atlanta.com");
  /* the start line's error stays the answer, even if a header line is broken too */
  CHECK_EQ_INT(parse("INVITE <sip:a@b> SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nbroken line\r\n\r\n"), -1);
  CHECK_EQ_INT(M.err.status, 400);
  CHECK_EQ_INT(M.err.off, 7);
  CHECK_EQ_INT(M.nhdr, 1);
  CHECK(M.is_request);
  CHECK_EQ_INT(parse("IN(VITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n"), -1);
  CHECK(M.is_request);
  CHECK_EQ_INT(M.nhdr, 1);
}

TEST(rfc4475_3_1_2_8_lws_in_request_uri) {
  CHECK_EQ_INT(parse("INVITE sip:user@example.com; lr SIP/2.0\r\n\r\n"), -1);
  CHECK_EQ_INT(M.err.status, 400);
  CHECK_EQ_INT(M.err.off, 28);
  CHECK(strstr(M.err.what, "Request-URI") != NULL);
}

TEST(rfc4475_3_1_2_7_brackets_around_request_uri) {
  CHECK_EQ_INT(parse("INVITE <sip:user@example.com> SIP/2.0\r\n\r\n"), -1);
  CHECK_EQ_INT(M.err.status, 400);
  CHECK_EQ_INT(M.err.off, 7);
}

TEST(rfc4475_3_1_2_11_s19_1_1_no_headers_in_request_uri) {
  CHECK_EQ_INT(parse("INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0\r\n\r\n"),
               -1);
  CHECK_EQ_INT(M.err.status, 400);
  CHECK(strstr(M.err.what, "headers") != NULL);
}

TEST(rfc4475_3_3_2_any_scheme_in_request_uri) {
  CHECK_EQ_INT(parse("OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0\r\n\r\n"), 0);
  CHECK_EQ_INT(M.uri.scheme, SIP_URI_OTHER);
  CHECK_STR(M.ruri, "nobodyKnowsThisScheme:totallyopaquecontent");
  /* RFC 5118 §4.2: IPv6 without brackets is a bad URI */
  CHECK_EQ_INT(parse("REGISTER sip:2001:db8::10 SIP/2.0\r\n\r\n"), -1);
  CHECK_EQ_INT(M.err.status, 400);
}

TEST(s7_1_method_is_any_token) {
  CHECK_EQ_INT(parse("!interesting-Method0123456789_*+`.%indeed'~ sip:a@example.com SIP/2.0\r\n"
                     "CSeq: 1 !interesting-Method0123456789_*+`.%indeed'~\r\n\r\n"),
               0);
  CHECK_STR(M.method, "!interesting-Method0123456789_*+`.%indeed'~");
  CHECK_EQ_INT(M.method_id, SIP_M_OTHER);
}

TEST(s7_5_leading_crlfs_are_skipped) {
  CHECK_EQ_INT(parse("\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\n\r\n"), 0);
  CHECK(M.buf == keep.base + (keep.len - (size_t)sysconf(_SC_PAGESIZE)) - 31 + 4);
  CHECK_EQ_INT(M.len, 27);
  CHECK_EQ_INT(parse("\r\n\r\n"), -1);
}

/* ---- header index ---------------------------------------------------------------------------- */

TEST(s7_3_1_index_names_values_ids_lines) {
  CHECK_EQ_INT(parse(invite), 0);
  CHECK_EQ_INT(M.nhdr, 9);
  CHECK_EQ_INT(M.nlines, 9);
  CHECK_STR(M.hdr[0].name, "Via");
  CHECK_STR(M.hdr[0].value, "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds");
  CHECK_EQ_INT(M.hdr[0].id, SIP_H_VIA);
  CHECK_EQ_INT(M.hdr[0].line, 0);
  CHECK_STR(M.hdr[1].value, "70");
  CHECK_EQ_INT(M.hdr[8].id, SIP_H_CONTENT_LENGTH);
  CHECK_EQ_INT(M.hdr[8].line, 8);
  CHECK_EQ_INT(M.hdr[8].flags, 0);
  CHECK_STR(M.body, "v=0\n");
}

TEST(s7_3_1_hcolon_allows_whitespace_before_colon) {
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nVia  : SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                     "Content-Length\t : 0\r\nX-A:b\r\nX-B:\r\n\r\n"),
               0);
  CHECK_STR(M.hdr[0].name, "Via");
  CHECK_STR(M.via.host, "h");
  CHECK_STR(M.hdr[1].name, "Content-Length");
  CHECK_EQ_INT(M.content_length, 0);
  CHECK_STR(M.hdr[2].value, "b");
  CHECK_EQ_INT(M.hdr[3].value.n, 0);
}

TEST(s7_3_1_line_folding_keeps_bytes_and_flags) {
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\n"
                     "Subject: I know you're there,\r\n pick up the phone\r\n\tand talk to me!\r\n"
                     "Route:\r\n <sip:services.example.com;lr>\r\n"
                     "NewFangledHeader:   newfangled value\r\n continued newfangled value\r\n"
                     "\r\n"),
               0);
  CHECK_EQ_INT(M.nhdr, 3);
  CHECK_STR(M.hdr[0].value, "I know you're there,\r\n pick up the phone\r\n\tand talk to me!");
  CHECK(M.hdr[0].flags & SIP_HF_FOLDED);
  /* a fold only in the leading whitespace leaves nothing to unfold */
  CHECK_STR(M.hdr[1].value, "<sip:services.example.com;lr>");
  CHECK(!(M.hdr[1].flags & SIP_HF_FOLDED));
  CHECK_STR(M.hdr[2].value, "newfangled value\r\n continued newfangled value");
  CHECK(M.hdr[2].flags & SIP_HF_FOLDED);
}

TEST(s7_3_3_compact_forms_in_a_message) {
  CHECK_EQ_INT(
    parse("INVITE sip:a@b SIP/2.0\r\n"
          "v: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:a@b>;tag=1\r\nt: <sip:c@d>\r\n"
          "i: abc@h\r\nm: <sip:a@h>\r\nc: text/plain\r\nk: 100rel\r\ns: hi\r\n"
          "e: gzip\r\no: presence\r\nu: presence\r\nr: <sip:x@y>\r\nb: <sip:z@y>\r\n"
          "x: 1800\r\na: *;audio\r\nj: *;video\r\nd: proxy\r\ny: abc\r\nCSeq: 1 INVITE\r\n"
          "l: 3\r\n\r\nabc"),
    0);
  static const sip_hdr_id want[] = {
    SIP_H_VIA,
    SIP_H_FROM,
    SIP_H_TO,
    SIP_H_CALL_ID,
    SIP_H_CONTACT,
    SIP_H_CONTENT_TYPE,
    SIP_H_SUPPORTED,
    SIP_H_SUBJECT,
    SIP_H_CONTENT_ENCODING,
    SIP_H_EVENT,
    SIP_H_ALLOW_EVENTS,
    SIP_H_REFER_TO,
    SIP_H_REFERRED_BY,
    SIP_H_SESSION_EXPIRES,
    SIP_H_ACCEPT_CONTACT,
    SIP_H_REJECT_CONTACT,
    SIP_H_REQUEST_DISPOSITION,
    SIP_H_IDENTITY,
    SIP_H_CSEQ,
    SIP_H_CONTENT_LENGTH,
  };
  CHECK_EQ_INT(M.nhdr, sizeof want / sizeof want[0]);
  for (unsigned i = 0; i < M.nhdr && i < sizeof want / sizeof want[0]; i++)
    CHECK_EQ_INT(M.hdr[i].id, want[i]);
  CHECK_STR(M.call_id, "abc@h");
  CHECK_STR(M.body, "abc");
}

TEST(s7_3_1_list_values_split_outside_quotes_and_brackets) {
  CHECK_EQ_INT(
    parse("OPTIONS sip:a@b SIP/2.0\r\n"
          "Via: SIP/2.0/UDP a;branch=z9hG4bK1 , SIP/2.0/TCP b;branch=z9hG4bK2\r\n"
          "Contact: \"Doe, John\" <sip:j,k@h;x=a>;q=0.5, \"q\\\",\" <sip:k@h>\r\n"
          "Accept: application/sdp, application/pkcs7-mime,\r\n        multipart/mixed\r\n"
          "Allow: INVITE,ACK,OPTIONS\r\n"
          "\r\n"),
    0);
  CHECK_EQ_INT(M.count[SIP_H_VIA], 2);
  CHECK_STR(M.hdr[0].value, "SIP/2.0/UDP a;branch=z9hG4bK1");
  CHECK_STR(M.hdr[1].value, "SIP/2.0/TCP b;branch=z9hG4bK2");
  CHECK_EQ_INT(M.hdr[0].line, M.hdr[1].line);
  CHECK_STR(M.via.host, "a");
  CHECK_EQ_INT(M.count[SIP_H_CONTACT], 2);
  CHECK_STR(M.hdr[2].value, "\"Doe, John\" <sip:j,k@h;x=a>;q=0.5");
  CHECK_STR(M.hdr[3].value, "\"q\\\",\" <sip:k@h>");
  CHECK_EQ_INT(M.count[SIP_H_ACCEPT], 3);
  CHECK_STR(M.hdr[6].value, "multipart/mixed");
  CHECK(!(M.hdr[5].flags & SIP_HF_FOLDED));
  CHECK_EQ_INT(M.count[SIP_H_ALLOW], 3);
  CHECK_STR(M.hdr[9].value, "OPTIONS");
  CHECK_EQ_INT(M.nlines, 4);
  CHECK_EQ_INT(M.nhdr, 10);
}

TEST(rfc4475_3_1_2_1_empty_list_elements_are_400) {
  const char *msg =
    "INVITE sip:user@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.15;;,;,,\r\n"
    "CSeq: 8 INVITE\r\n\r\n";
  CHECK_EQ_INT(parse(msg), -1);
  CHECK_EQ_INT(M.err.status, 400);
  CHECK_EQ_INT(M.nhdr, 5); /* the index is complete */
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nAllow: INVITE,,ACK\r\n\r\n"), -1);
  CHECK_EQ_INT(M.err.off, 39);
  CHECK(strstr(M.err.what, "empty list element") != NULL);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nAllow: INVITE,\r\n\r\n"), -1);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nAllow: ,INVITE\r\n\r\n"), -1);
  /* an empty list value is fine (Allow, Supported may be empty) */
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nSupported:\r\n\r\n"), 0);
  CHECK_EQ_INT(M.count[SIP_H_SUPPORTED], 1);
}

TEST(s20_10_contact_star_is_one_entry_and_alone) {
  CHECK_EQ_INT(parse("REGISTER sip:a SIP/2.0\r\nContact: *\r\nExpires: 0\r\n\r\n"), 0);
  CHECK_EQ_INT(M.count[SIP_H_CONTACT], 1);
  CHECK_STR(M.hdr[0].value, "*");
  CHECK_EQ_INT(M.expires, 0);
  CHECK_EQ_INT(parse("REGISTER sip:a SIP/2.0\r\nContact: *, <sip:a@b>\r\n\r\n"), -1);
  CHECK(strstr(M.err.what, "'*'") != NULL);
}

TEST(unknown_and_auth_headers_are_never_split) {
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\n"
                     "UnknownHeaderWithUnusualValue: ;;,,;;,;\r\n"
                     "Authorization: Digest username=\"a\", realm=\"b\", nonce=\"c\"\r\n"
                     "WWW-Authenticate: Digest realm=\"b\", qop=\"auth,auth-int\"\r\n"
                     "\r\n"),
               0);
  CHECK_EQ_INT(M.nhdr, 3);
  CHECK_STR(M.hdr[0].value, ";;,,;;,;");
  CHECK_EQ_INT(M.hdr[1].id, SIP_H_AUTHORIZATION);
}

TEST(index_chains_first_count_next) {
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP a\r\nX-1: one\r\nv: SIP/2.0/UDP b, SIP/2.0/UDP c\r\n"
                     "x-2: two\r\nVIA: SIP/2.0/UDP d\r\n\r\n"),
               0);
  CHECK_EQ_INT(M.count[SIP_H_VIA], 4);
  CHECK_EQ_INT(M.count[SIP_H_OTHER], 2);
  CHECK_EQ_INT(M.first[SIP_H_VIA], 0);
  CHECK_EQ_INT(M.first[SIP_H_OTHER], 1);
  CHECK_EQ_INT(M.first[SIP_H_CSEQ], SIP_NO_HDR);
  CHECK_EQ_INT(M.count[SIP_H_CSEQ], 0);
  const char *hosts[] = {"a", "b", "c", "d"};
  int k = 0;
  for (const sip_hdr *h = sip_msg_find(&M, SIP_H_VIA); h; h = sip_msg_next(&M, h), k++) {
    sip_via v;
    const char *err, *at;
    CHECK(k < 4 && sip_parse_via(h->value.p, h->value.n, &v, &err, &at) == 0);
    if (k < 4) CHECK_STR(v.host, hosts[k]);
  }
  CHECK_EQ_INT(k, 4);
  const sip_hdr *o = sip_msg_find(&M, SIP_H_OTHER);
  CHECK(o && sip_str_eq(o->name, SIP_STR_LIT("X-1")));
  o = o ? sip_msg_next(&M, o) : NULL;
  CHECK(o && sip_str_eq(o->name, SIP_STR_LIT("x-2")));
  CHECK(o && sip_msg_next(&M, o) == NULL);
}

TEST(s7_3_1_header_name_must_be_a_token_with_colon) {
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nFoobar roobar\r\n\r\n"), -1);
  CHECK_EQ_INT(M.err.status, 400);
  CHECK_EQ_INT(M.err.off, 32);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nBad(Name): x\r\n\r\n"), -1);
  CHECK_EQ_INT(M.err.off, 28);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\n: x\r\n\r\n"), -1);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\n continued\r\n\r\n"), -1);
  CHECK(strstr(M.err.what, "continuation") != NULL);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nV\xc3\xad"
                     "a: x\r\n\r\n"),
               -1);
}

TEST(s7_5_lines_end_in_crlf) {
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\nX: y\r\n\r\n"), -1);
  CHECK_EQ_INT(M.err.off, 23);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nX: y\n\r\n"), -1);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nX: y\r\n\n"), -1);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nX: y\r\n\rX"), -1);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nX: y\r\n"), -1); /* RFC 4475 baddn.sip */
  CHECK(strstr(M.err.what, "not terminated") != NULL);
  CHECK_EQ_INT(M.nhdr, 1);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nX: y\r\n\r"), -1);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0"), -1);
}

/* ---- typed headers --------------------------------------------------------------------------- */

TEST(typed_fields_of_a_request) {
  CHECK_EQ_INT(parse(invite), 0);
  CHECK_STR(M.via.transport, "UDP");
  CHECK_STR(M.via.host, "pc33.atlanta.com");
  CHECK_STR(M.via.branch, "z9hG4bK776asdhds");
  CHECK_STR(M.from.display, "Alice");
  CHECK_STR(M.from.uri, "sip:alice@atlanta.com");
  CHECK_STR(M.from.tag, "1928301774");
  CHECK_STR(M.to.uri, "sip:bob@biloxi.com");
  CHECK(M.to.tag.p == NULL);
  CHECK_STR(M.call_id, "a84b4c76e66710@pc33.atlanta.com");
  CHECK_EQ_INT(M.cseq, 314159);
  CHECK_STR(M.cseq_method, "INVITE");
  CHECK_EQ_INT(M.cseq_method_id, SIP_M_INVITE);
  CHECK_EQ_INT(M.max_forwards, 70);
  CHECK_EQ_INT(M.content_length, 4);
  CHECK_EQ_INT(M.expires, -1);
}

/* The fast paths find a Via's ';'s and an address's '<', '>' and '@' before they parse what lies
 * between them. Where those octets also stand elsewhere (inside a quoted string, in the
 * userinfo), the fields are still the ones the grammar gives (RFC 3261 §20.42, §20.10,
 * §25.1), and what the grammar refuses stays refused. */
TEST(s20_42_s20_10_delimiters_found_first_still_give_the_grammars_fields) {
  static const struct {
    const char *via, *host, *branch, *received, *params;
    int port, rport;
  } vias[] = {
    {"SIP/2.0/UDP 192.0.2.1;rport;branch=z9hG4bK2;received=192.0.2.2;ttl=9", "192.0.2.1",
     "z9hG4bK2", "192.0.2.2", "rport;branch=z9hG4bK2;received=192.0.2.2;ttl=9", 0, 0},
    {"SIP/2.0/UDP h.example.com:5060;x=\"a;b\";branch=z9hG4bK1;rport=7", "h.example.com",
     "z9hG4bK1", NULL, "x=\"a;b\";branch=z9hG4bK1;rport=7", 5060, 7},
  };
  char msg[512];
  for (size_t i = 0; i < sizeof vias / sizeof vias[0]; i++) {
    snprintf(msg, sizeof msg, "OPTIONS sip:a@b SIP/2.0\r\nVia: %s\r\nCall-ID: c@h\r\n\r\n",
             vias[i].via);
    CHECK_EQ_INT(parse(msg), 0);
    CHECK_STR(M.via.host, vias[i].host);
    CHECK_EQ_INT(M.via.port, vias[i].port);
    CHECK_EQ_INT(M.via.rport, vias[i].rport);
    CHECK_STR(M.via.branch, vias[i].branch);
    if (vias[i].received) CHECK_STR(M.via.received, vias[i].received);
    else CHECK(M.via.received.p == NULL);
    CHECK_STR(M.via.params, vias[i].params);
  }
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\n"
                     "From: \"a<b>c@d\" <sip:alice;day=tue@h.example.com;lr>;p=\"x;y@z\";tag=7\r\n"
                     "To: <sip:h.example.com>;tag=8\r\n"
                     "Call-ID: c@h\r\n\r\n"),
               0);
  CHECK_STR(M.from.display, "a<b>c@d");
  CHECK(M.from.display_quoted && M.from.bracketed);
  CHECK_STR(M.from.uri, "sip:alice;day=tue@h.example.com;lr");
  CHECK_STR(M.from.params, "p=\"x;y@z\";tag=7");
  CHECK_STR(M.from.tag, "7");
  CHECK_STR(M.to.uri, "sip:h.example.com");
  CHECK_STR(M.to.tag, "8");
  static const struct {
    const char *line, *hdr;
  } bad[] = {
    {"From: \"a<b\" sip:a@b.c;tag=1", "From"},
    {"Via: SIP/2.0/UDP h.example.com;branch=z;=x", "Via"},
    {"To: <sip:@h.example.com>", "To"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(msg, sizeof msg, "OPTIONS sip:a@b SIP/2.0\r\n%s\r\nCall-ID: c@h\r\n\r\n", bad[i].line);
    CHECK_EQ_INT(parse(msg), -1);
    CHECK(strstr(M.err.what, bad[i].hdr) != NULL);
  }
}

TEST(absent_typed_headers_have_defaults) {
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\n\r\n"), 0);
  CHECK_EQ_INT(M.content_length, -1);
  CHECK_EQ_INT(M.max_forwards, -1);
  CHECK_EQ_INT(M.expires, -1);
  CHECK(M.call_id.p == NULL && M.from.uri.p == NULL && M.via.host.p == NULL);
  CHECK_EQ_INT(M.via.rport, -1);
  CHECK_EQ_INT(M.nhdr, 0);
  CHECK_EQ_INT(M.body.n, 0);
}

TEST(s8_1_1_5_cseq_method_matches_request) {
  CHECK_EQ_INT(parse("OPTIONS sip:user@example.com SIP/2.0\r\nCSeq: 8 INVITE\r\n\r\n"), -1);
  CHECK_EQ_INT(M.err.status, 400);
  CHECK_EQ_INT(M.err.off, off_of("INVITE"));
  /* RFC 4475 §3.1.2.18: unknown method, mismatched CSeq: 501 */
  CHECK_EQ_INT(parse("NEWMETHOD sip:user@example.com SIP/2.0\r\nCSeq: 8 INVITE\r\n\r\n"), -1);
  CHECK_EQ_INT(M.err.status, 501);
  /* case matters: methods are case-sensitive */
  CHECK_EQ_INT(parse("INVITE sip:user@example.com SIP/2.0\r\nCSeq: 8 invite\r\n\r\n"), -1);
  /* responses carry any CSeq method */
  CHECK_EQ_INT(parse("SIP/2.0 200 OK\r\nCSeq: 8 REGISTER\r\n\r\n"), 0);
  CHECK_EQ_INT(M.cseq_method_id, SIP_M_REGISTER);
  /* RFC 4475 §3.1.2.5: a huge CSeq in a response is an error too */
  CHECK_EQ_INT(
    parse("SIP/2.0 503 Service Unavailable\r\nCSeq: 9292394834772304023312 OPTIONS\r\n\r\n"), -1);
  CHECK(strstr(M.err.what, "CSeq") != NULL);
}

TEST(s20_22_max_forwards_0_to_255) {
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nMax-Forwards: 0\r\n\r\n"), 0);
  CHECK_EQ_INT(M.max_forwards, 0);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nMax-Forwards: 0068\r\n\r\n"), 0);
  CHECK_EQ_INT(M.max_forwards, 68);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nMax-Forwards: 255\r\n\r\n"), 0);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nMax-Forwards: 300\r\n\r\n"), -1);
  CHECK(strstr(M.err.what, "Max-Forwards") != NULL);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nMax-Forwards: seventy\r\n\r\n"), -1);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nMax-Forwards:\r\n\r\n"), -1);
}

TEST(s20_14_content_length_is_one_decimal) {
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -999\r\n\r\nabc"), -1);
  CHECK(strstr(M.err.what, "Content-Length") != NULL);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: five\r\n\r\nabc"), -1);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
               -1);
  /* RFC 4475 §3.3.9: two Content-Length headers */
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 3\r\nl: 3\r\n\r\nabc"), -1);
  CHECK(strstr(M.err.what, "duplicate Content-Length") != NULL);
  CHECK_EQ_INT(M.err.off, off_of("3\r\n\r\n"));
}

TEST(s20_19_expires_delta_seconds_clamped) {
  CHECK_EQ_INT(parse("REGISTER sip:a SIP/2.0\r\nExpires: 3600\r\n\r\n"), 0);
  CHECK_EQ_INT(M.expires, 3600);
  CHECK_EQ_INT(parse("REGISTER sip:a SIP/2.0\r\nExpires: 4294967295\r\n\r\n"), 0);
  CHECK_EQ_INT(M.expires, 4294967295ll);
  CHECK_EQ_INT(parse("REGISTER sip:a SIP/2.0\r\nExpires: 4294967296\r\n\r\n"), 0);
  CHECK_EQ_INT(M.expires, 4294967295ll);
  CHECK_EQ_INT(
    parse("REGISTER sip:a SIP/2.0\r\nExpires: 100000000000000000000000000000000000000000\r\n\r\n"),
    0);
  CHECK_EQ_INT(M.expires, 4294967295ll);
  CHECK_EQ_INT(parse("REGISTER sip:a SIP/2.0\r\nExpires: soon\r\n\r\n"), -1);
  CHECK(strstr(M.err.what, "Expires") != NULL);
}

TEST(s25_1_call_id_is_word_at_word) {
  CHECK_EQ_INT(
    parse(
      "OPTIONS sip:a@b SIP/2.0\r\nCall-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\r\n\r\n"),
    0);
  CHECK_STR(M.call_id, "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\ni: plainword\r\n\r\n"), 0);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nCall-ID: a b\r\n\r\n"), -1);
  CHECK(strstr(M.err.what, "Call-ID") != NULL);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nCall-ID: @b\r\n\r\n"), -1);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nCall-ID: a@\r\n\r\n"), -1);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nCall-ID: a@b@c\r\n\r\n"), -1);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nCall-ID:\r\n\r\n"), -1);
}

TEST(every_via_contact_and_route_value_is_checked) {
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP good;branch=z9hG4bK1\r\n"
                     "Via: SIP/2.0/UDP bad host\r\n\r\n"),
               -1);
  CHECK_STR(M.via.host, "good");
  CHECK_EQ_INT(M.err.off, off_of("host\r\n"));
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nContact: <sip:a@b>, <sip:c@d\r\n\r\n"), -1);
  CHECK(strstr(M.err.what, "Contact") != NULL);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nRecord-Route: <sip:p1;lr>, sip:p2\r\n\r\n"), -1);
  CHECK(strstr(M.err.what, "Record-Route") != NULL);
  CHECK_EQ_INT(
    parse("OPTIONS sip:a@b SIP/2.0\r\nRoute: <sip:p1;lr>,<sip:p2;lr>\r\nPath: <sip:p3>\r\n\r\n"),
    0);
  CHECK_EQ_INT(M.count[SIP_H_ROUTE], 2);
  CHECK_EQ_INT(parse("OPTIONS sip:a@b SIP/2.0\r\nFrom: <sip:a@b>;tag=1\r\nFrom: junk\r\n\r\n"), -1);
  CHECK_STR(M.from.tag, "1");
}

TEST(a_value_error_keeps_the_index_for_a_400) {
  const char *msg =
    "INVITE sip:a@b SIP/2.0\r\n"
    "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
    "From: Bell, Alexander <sip:a.g.bell@example.com>;tag=43\r\n"
    "To: <sip:c@d>\r\nCall-ID: x@y\r\nCSeq: 99999999999 INVITE\r\nX-After: 1\r\n"
    "Content-Length: 0\r\n\r\n";
  CHECK_EQ_INT(parse(msg), -1);
  CHECK_EQ_INT(M.err.status, 400);
  CHECK(strncmp(M.err.what, "bad From header", 15) == 0); /* the first error is kept */
  CHECK_EQ_INT(M.err.off, off_of(", Alexander"));
  CHECK_EQ_INT(M.nhdr, 7);
  const sip_hdr *h = sip_msg_find(&M, SIP_H_CSEQ);
  CHECK(h && sip_str_eq(h->value, SIP_STR_LIT("99999999999 INVITE")));
  h = sip_msg_find(&M, SIP_H_FROM);
  CHECK(h && h->value.n > 0);
  CHECK_STR(M.call_id, "x@y");
  CHECK_STR(M.via.branch, "z9hG4bK1");
  CHECK(sip_msg_find_name(&M, "x-after", 7) != NULL);
}

/* ---- body (RFC 3261 §18.3, §20.14) ----------------------------------------------------------- */

TEST(s18_3_datagram_without_content_length_takes_the_rest) {
  CHECK_EQ_INT(parse("INVITE sip:a@b SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\nv=0\r\nbody"), 0);
  CHECK_STR(M.body, "v=0\r\nbody");
  CHECK_EQ_INT(M.len, 51);
}

TEST(rfc4475_3_1_1_8_s18_3_extra_octets_are_dropped) {
  const char *msg =
    "REGISTER sip:a SIP/2.0\r\nContent-Length: 0\r\n\r\n\r\nINVITE sip:joe@example.com SIP/2.0\r\n";
  CHECK_EQ_INT(parse(msg), 0);
  CHECK_EQ_INT(M.body.n, 0);
  CHECK_EQ_INT(M.len, 45);
  CHECK_EQ_INT(parse("MESSAGE sip:a SIP/2.0\r\nl: 2\r\n\r\nhello"), 0);
  CHECK_STR(M.body, "he");
}

TEST(rfc4475_3_1_2_2_s18_3_short_body_is_400) {
  CHECK_EQ_INT(parse("INVITE sip:a@b SIP/2.0\r\nContent-Length: 9999\r\n\r\nv=0\r\n"), -1);
  CHECK_EQ_INT(M.err.status, 400);
  CHECK(strstr(M.err.what, "shorter") != NULL);
  CHECK_EQ_INT(parse_stream("INVITE sip:a@b SIP/2.0\r\nContent-Length: 6\r\n\r\nv=0\r\n"), -1);
}

TEST(s18_3_stream_needs_content_length) {
  CHECK_EQ_INT(parse_stream("OPTIONS sip:a@b SIP/2.0\r\n\r\n"), -1);
  CHECK(strstr(M.err.what, "missing Content-Length") != NULL);
  CHECK_EQ_INT(parse_stream("OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n"), 0);
  CHECK_EQ_INT(parse_stream("OPTIONS sip:a@b SIP/2.0\r\nl: 2\r\n\r\nabOPTIONS"), 0);
  CHECK_EQ_INT(M.len, 35);
}

TEST(binary_bodies_are_opaque) {
  static const char msg[] = "MESSAGE sip:a SIP/2.0\r\nl: 6\r\n\r\n\0\n\r\x80\0x";
  CHECK_EQ_INT(parse_n(msg, sizeof msg - 1, 0), 0);
  CHECK_EQ_INT(M.body.n, 6);
  CHECK(memcmp(M.body.p, "\0\n\r\x80\0x", 6) == 0);
}

/* ---- limits ---------------------------------------------------------------------------------- */

TEST(limit_too_many_headers) {
  char buf[20000];
  size_t n = (size_t)sprintf(buf, "OPTIONS sip:a@b SIP/2.0\r\n");
  for (int i = 0; i < 300; i++) n += (size_t)sprintf(buf + n, "X-%d: %d\r\n", i, i);
  n += (size_t)sprintf(buf + n, "\r\n");
  CHECK_EQ_INT(parse_n(buf, n, 0), -1);
  CHECK_EQ_INT(M.err.status, 400);
  CHECK(M.err.what && strcmp(M.err.what, "too many headers (limit 256)") == 0);
  CHECK_EQ_INT(M.nhdr, 256);
  /* the caller's index storage is a limit too */
  guard g;
  char *p = guard_put(&g, buf, n);
  sip_hdr few[4];
  CHECK_EQ_INT(sip_parse(p, n, &M, few, 4, NULL, 0), -1);
  CHECK_EQ_INT(M.nhdr, 4);
  CHECK(strstr(M.err.what, "too many headers") != NULL);
  sip_limits lim = sip_default_limits;
  lim.max_headers = 500;
  sip_hdr *many = calloc(500, sizeof *many);
  CHECK_EQ_INT(sip_parse(p, n, &M, many, 500, &lim, 0), 0);
  CHECK_EQ_INT(M.nhdr, 300);
  free(many);
  guard_free(&g);
}

TEST(limit_list_elements_count_as_headers) {
  char buf[4000];
  size_t n = (size_t)sprintf(buf, "OPTIONS sip:a@b SIP/2.0\r\nAllow: A");
  for (int i = 0; i < 300; i++) n += (size_t)sprintf(buf + n, ",B");
  n += (size_t)sprintf(buf + n, "\r\n\r\n");
  CHECK_EQ_INT(parse_n(buf, n, 0), -1);
  CHECK_EQ_INT(M.nhdr, 256);
}

TEST(limit_message_too_large_is_513) {
  size_t n = 70000;
  char *buf = malloc(n);
  if (!buf) return;
  size_t k = (size_t)sprintf(buf, "MESSAGE sip:a SIP/2.0\r\nContent-Length: %zu\r\n\r\n", n);
  size_t cl = n - k;
  k = (size_t)sprintf(buf, "MESSAGE sip:a SIP/2.0\r\nContent-Length: %zu\r\n\r\n", cl);
  memset(buf + k, 'x', n - k);
  CHECK_EQ_INT(parse_n(buf, n, 0), -1);
  CHECK_EQ_INT(M.err.status, 513);
  CHECK(strcmp(M.err.what, "message too large") == 0);
  /* a header section that runs past the limit (in lines of 4000 bytes, below the line limit) */
  k = (size_t)sprintf(buf, "MESSAGE sip:a SIP/2.0\r\n");
  for (; k + 4000 < n; k += 4000) {
    memset(buf + k, 'a', 4000);
    memcpy(buf + k, "X-Pad: ", 7);
    memcpy(buf + k + 3998, "\r\n", 2);
  }
  CHECK_EQ_INT(parse_n(buf, k, 0), -1);
  CHECK_EQ_INT(M.err.status, 513);
  /* noise after a small datagram does not count */
  k = (size_t)sprintf(buf, "MESSAGE sip:a SIP/2.0\r\nContent-Length: 0\r\n\r\n");
  memset(buf + k, 'x', n - k);
  CHECK_EQ_INT(parse_n(buf, n, 0), 0);
  sip_limits lim = sip_default_limits;
  lim.max_msg = 30;
  guard g;
  char *p = guard_put(&g, buf, k);
  CHECK_EQ_INT(sip_parse(p, k, &M, H, 256, &lim, 0), -1);
  CHECK_EQ_INT(M.err.status, 513);
  guard_free(&g);
  free(buf);
}

TEST(limit_line_too_long) {
  size_t n = 9000;
  char *buf = malloc(n + 100);
  size_t k = (size_t)sprintf(buf, "OPTIONS sip:a@b SIP/2.0\r\nX: ");
  memset(buf + k, 'a', 8200);
  k += 8200;
  k += (size_t)sprintf(buf + k, "\r\n\r\n");
  CHECK_EQ_INT(parse_n(buf, k, 0), -1);
  CHECK_EQ_INT(M.err.status, 400);
  CHECK(strcmp(M.err.what, "line too long (limit 8192)") == 0);
  CHECK_EQ_INT(M.err.off, 25);
  /* a folded value may be longer than one line */
  k = (size_t)sprintf(buf, "OPTIONS sip:a@b SIP/2.0\r\nX: ");
  for (int i = 0; i < 3; i++) {
    memset(buf + k, 'a', 2000);
    k += 2000;
    k += (size_t)sprintf(buf + k, "\r\n ");
  }
  k += (size_t)sprintf(buf + k, "b\r\n\r\n");
  CHECK_EQ_INT(parse_n(buf, k, 0), 0);
  sip_limits lim = sip_default_limits;
  lim.max_line = 1000;
  guard g;
  char *p = guard_put(&g, buf, k);
  CHECK_EQ_INT(sip_parse(p, k, &M, H, 256, &lim, 0), -1);
  CHECK(strcmp(M.err.what, "line too long") == 0);
  guard_free(&g);
  free(buf);
}

/* ---- lookups and application checks --------------------------------------------------------- */

TEST(find_by_id_and_by_any_name) {
  CHECK_EQ_INT(
    parse("OPTIONS sip:a@b SIP/2.0\r\nf: <sip:a@b>;tag=1\r\nX-Thing: 1\r\nx-thing: 2\r\n\r\n"), 0);
  CHECK(sip_msg_find(&M, SIP_H_FROM) == &M.hdr[0]);
  CHECK(sip_msg_find_name(&M, "From", 4) == &M.hdr[0]);
  CHECK(sip_msg_find_name(&M, "F", 1) == &M.hdr[0]);
  CHECK(sip_msg_find_name(&M, "X-THING", 7) == &M.hdr[1]);
  CHECK(sip_msg_find_name(&M, "X-Other", 7) == NULL);
  CHECK(sip_msg_find(&M, SIP_H_TO) == NULL);
  CHECK(sip_msg_find(&M, (sip_hdr_id)999) == NULL);
  M.hdr[1].flags |= SIP_HF_DELETED;
  CHECK(sip_msg_find_name(&M, "x-thing", 7) == &M.hdr[2]);
  M.hdr[0].flags |= SIP_HF_DELETED;
  CHECK(sip_msg_find(&M, SIP_H_FROM) == NULL);
}

TEST(s8_2_app_check_missing_and_duplicate_headers) {
  sip_error e;
  CHECK_EQ_INT(parse(invite), 0);
  CHECK_EQ_INT(sip_msg_check_request(&M, &e), 0);
  CHECK_EQ_INT(e.status, 0);
  CHECK_EQ_INT(parse(ok200), 0);
  CHECK_EQ_INT(sip_msg_check_request(&M, &e), 0);
  /* RFC 4475 §3.3.1 insuf: missing Call-ID, From, To */
  CHECK_EQ_INT(
    parse("INVITE sip:a@b SIP/2.0\r\nCSeq: 1 INVITE\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n"),
    0);
  CHECK_EQ_INT(sip_msg_check_request(&M, &e), 400);
  CHECK(strcmp(e.what, "missing Call-ID header") == 0);
  /* RFC 4475 §3.3.8 multi01: duplicates */
  CHECK_EQ_INT(parse("INVITE sip:a@b SIP/2.0\r\n" REQ_HDRS "To: <sip:other@example.net>\r\n\r\n"),
               0);
  CHECK_EQ_INT(sip_msg_check_request(&M, &e), 400);
  CHECK(strcmp(e.what, "duplicate To header") == 0);
  CHECK_EQ_INT(e.off, off_of("To: <sip:other"));
  CHECK_EQ_INT(parse("INVITE sip:a@b SIP/2.0\r\n" REQ_HDRS "Max-Forwards: 5\r\n\r\n"), 0);
  CHECK_EQ_INT(sip_msg_check_request(&M, &e), 400);
  CHECK(strcmp(e.what, "duplicate Max-Forwards header") == 0);
  /* a missing Max-Forwards is left to the proxy (RFC 2543 peers, RFC 4475 §3.4.1) */
  CHECK_EQ_INT(
    parse("INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:a@b>\r\nFrom: <sip:c@d>\r\n"
          "Call-ID: 1\r\nCSeq: 1 INVITE\r\n\r\n"),
    0);
  CHECK_EQ_INT(sip_msg_check_request(&M, NULL), 0);
  CHECK_EQ_INT(parse("INVITE sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\nFrom: <sip:c@d>\r\n"
                     "Call-ID: 1\r\nCSeq: 1 INVITE\r\n\r\n"),
               0);
  CHECK_EQ_INT(sip_msg_check_request(&M, &e), 400);
  CHECK(strcmp(e.what, "missing Via header") == 0);
}

/* ---- stream framing (RFC 3261 §18.3) --------------------------------------------------------- */

static long frame(const char *s, size_t n, size_t *skip, sip_error *e) {
  guard g;
  char *p = guard_put(&g, s, n);
  long r = sip_frame_stream(p, n, NULL, skip, e);
  guard_free(&g);
  return r;
}

TEST(s18_3_framing_need_more_then_exact) {
  const char *msg = "MESSAGE sip:a SIP/2.0\r\nContent-Length: 5\r\n\r\nhello";
  size_t n = strlen(msg), skip;
  sip_error e;
  for (size_t k = 0; k < n; k++) CHECK_EQ_INT(frame(msg, k, &skip, &e), 0);
  CHECK_EQ_INT(frame(msg, n, &skip, &e), (long)n);
  CHECK_EQ_INT(skip, 0);
}

TEST(s18_3_framing_pipelined_messages) {
  const char *two =
    "OPTIONS sip:a SIP/2.0\r\nl: 0\r\n\r\nMESSAGE sip:a SIP/2.0\r\nContent-Length: 2\r\n\r\nhi";
  size_t skip;
  sip_error e;
  long r = frame(two, strlen(two), &skip, &e);
  CHECK_EQ_INT(r, 31);
  r = frame(two + 31, strlen(two) - 31, &skip, &e);
  CHECK_EQ_INT(r, (long)strlen(two) - 31);
}

TEST(rfc5626_3_5_1_framing_skips_crlf_keepalives) {
  const char *msg = "\r\n\r\n\r\nOPTIONS sip:a SIP/2.0\r\nl: 0\r\n\r\n";
  size_t skip = 99;
  sip_error e;
  CHECK_EQ_INT(frame(msg, strlen(msg), &skip, &e), 31);
  CHECK_EQ_INT(skip, 6);
  CHECK_EQ_INT(frame("\r\n\r\n", 4, &skip, &e), 0);
  CHECK_EQ_INT(skip, 4);
  CHECK_EQ_INT(frame("\r\n\r", 3, &skip, &e), 0);
  CHECK_EQ_INT(skip, 2);
}

TEST(s18_3_framing_errors) {
  size_t skip;
  sip_error e;
  const char *m1 = "OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n";
  CHECK_EQ_INT(frame(m1, strlen(m1), &skip, &e), -1);
  CHECK(strstr(e.what, "missing Content-Length") != NULL);
  const char *m2 = "OPTIONS sip:a SIP/2.0\r\nContent-Length: -999\r\n\r\n"; /* RFC 4475 §3.1.2.3 */
  CHECK_EQ_INT(frame(m2, strlen(m2), &skip, &e), -1);
  CHECK_EQ_INT(e.off, 39);
  const char *m3 = "OPTIONS sip:a SIP/2.0\r\nContent-Length: five\r\n\r\n";
  CHECK_EQ_INT(frame(m3, strlen(m3), &skip, &e), -1);
  const char *m4 = "OPTIONS sip:a SIP/2.0\r\nContent-Length: 13\r\nl: 5\r\n\r\n"; /* §3.3.9 */
  CHECK_EQ_INT(frame(m4, strlen(m4), &skip, &e), -1);
  CHECK(strstr(e.what, "duplicate") != NULL);
  const char *m5 = "OPTIONS sip:a SIP/2.0\nl: 0\n\n";
  CHECK_EQ_INT(frame(m5, strlen(m5), &skip, &e), -1);
}

TEST(s18_3_framing_folded_and_compact_content_length) {
  size_t skip;
  sip_error e;
  const char *m = "OPTIONS sip:a SIP/2.0\r\nContent-Length  :\r\n  3\r\nX: y\r\n\r\nabc";
  CHECK_EQ_INT(frame(m, strlen(m), &skip, &e), (long)strlen(m));
  /* the value's fold may still be coming: need more, not a wrong answer */
  const char *p = "OPTIONS sip:a SIP/2.0\r\nContent-Length: 3\r\n";
  CHECK_EQ_INT(frame(p, strlen(p), &skip, &e), 0);
  const char *c = "OPTIONS sip:a SIP/2.0\r\nL:1\r\n\r\nx";
  CHECK_EQ_INT(frame(c, strlen(c), &skip, &e), (long)strlen(c));
  const char *o = "OPTIONS sip:a SIP/2.0\r\nX-Content-Length: 9\r\nl: 0\r\n\r\n";
  CHECK_EQ_INT(frame(o, strlen(o), &skip, &e), (long)strlen(o));
}

TEST(s18_3_framing_stops_early_when_too_large) {
  size_t skip;
  sip_error e;
  /* a Content-Length beyond the limit is refused as soon as the headers are in */
  const char *m = "MESSAGE sip:a SIP/2.0\r\nContent-Length: 10000000\r\n\r\nxx";
  CHECK_EQ_INT(frame(m, strlen(m), &skip, &e), -1);
  CHECK_EQ_INT(e.status, 513);
  /* a header section that never ends is refused once max_msg bytes are buffered */
  size_t n = 70000;
  char *buf = malloc(n);
  memcpy(buf, "MESSAGE sip:a SIP/2.0\r\n", 23);
  for (size_t k = 23; k + 12 <= n; k += 12) memcpy(buf + k, "X-Pad: 123\r\n", 12);
  CHECK_EQ_INT(frame(buf, 60000, &skip, &e), 0);
  CHECK_EQ_INT(frame(buf, n, &skip, &e), -1);
  CHECK_EQ_INT(e.status, 513);
  free(buf);
}

/* Framing at every split point agrees with framing the whole buffer: a prefix is either "need
 * more" or the same answer. */
TEST(s18_3_framing_prefixes_agree_with_whole) {
  const char *msgs[] = {
    "\r\nINVITE sip:a SIP/2.0\r\nv: SIP/2.0/UDP h\r\nContent-Length: 4\r\n\r\nv=0\n",
    "OPTIONS sip:a SIP/2.0\r\nContent-Length: x\r\n\r\n",
    "OPTIONS sip:a SIP/2.0\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
    size_t n = strlen(msgs[i]), skip, skip2;
    sip_error e;
    long whole = frame(msgs[i], n, &skip, &e);
    for (size_t k = 0; k < n; k++) {
      long r = frame(msgs[i], k, &skip2, &e);
      CHECK(r == 0 || r == whole);
      if (r > 0) CHECK(skip2 == skip);
    }
  }
}

/* The header loop finds each line's LF first, 16 bytes at a time from the line's start, with a
 * byte-wise search in the last 16 bytes of the buffer. Wherever the message sits (every start
 * offset within 64 bytes) and however much of the buffer follows it (the extra octets of
 * a datagram, dropped, §18.3), the parse is the same: every index entry and typed field at the
 * same offset. The message has lines longer than 64 and 128 bytes, a folded line between fast
 * ones, a line the fast path leaves to the general one (WS before the colon), and a short one. */
TEST(s7_3_1_line_ends_found_ahead_agree_wherever_the_message_sits) {
  const char *msg =
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;received=192.0.2.1;"
    "rport=5060;x-long-parameter=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
    "Max-Forwards: 70\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "Subject: a folded\r\n line between fast ones\r\n"
    "From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    "Call-ID : a84b4c76e66710@pc33.atlanta.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
    "Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO, UPDATE\r\n"
    "l: 0\r\n"
    "\r\n";
  size_t n = strlen(msg);
  static char buf[4096];
  static sip_hdr ref[256];
  sip_msg r;
  memset(buf, 'x', sizeof buf);
  memcpy(buf, msg, n);
  CHECK_EQ_INT(sip_parse(buf, n, &r, ref, 256, NULL, SIP_PARSE_DGRAM), 0);
  CHECK_EQ_INT(r.nlines, 10);
  CHECK_EQ_INT(r.count[SIP_H_ALLOW], 11);
  CHECK_STR(r.via.branch, "z9hG4bK776asdhds");
  CHECK_STR(r.from.tag, "1928301774");
  CHECK_STR(r.call_id, "a84b4c76e66710@pc33.atlanta.example.com");
  CHECK_EQ_INT(r.cseq, 314159);
  CHECK_EQ_INT(r.max_forwards, 70);
  CHECK(r.hdr[r.first[SIP_H_SUBJECT]].flags & SIP_HF_FOLDED);
  for (size_t off = 0; off < 64; off++)
    for (size_t extra = 0; extra <= 130; extra += off % 2 ? 13 : 1) {
      memset(buf, 'x', sizeof buf);
      memcpy(buf + off, msg, n);
      memcpy(buf + off + n, "\r\n\r\nINVITE\r\n", extra < 12 ? extra : 12);
      const char *b = buf + off;
      if (sip_parse(b, n + extra, &M, H, 256, NULL, SIP_PARSE_DGRAM) != 0 || M.nhdr != r.nhdr ||
          M.len != r.len || M.nlines != r.nlines) {
        FAILF("offset %zu, %zu octets after the message: parse differs", off, extra);
        return;
      }
      for (unsigned i = 0; i < M.nhdr; i++)
        if (M.hdr[i].name.p - b != ref[i].name.p - buf ||
            M.hdr[i].value.p - b != ref[i].value.p - buf || M.hdr[i].value.n != ref[i].value.n ||
            M.hdr[i].id != ref[i].id || M.hdr[i].line != ref[i].line ||
            M.hdr[i].flags != ref[i].flags) {
          FAILF("offset %zu, %zu octets after the message: entry %u differs", off, extra, i);
          return;
        }
      if (M.via.branch.p - b != r.via.branch.p - buf || M.from.tag.p - b != r.from.tag.p - buf ||
          M.call_id.p - b != r.call_id.p - buf || M.cseq != r.cseq) {
        FAILF("offset %zu, %zu octets after the message: typed fields differ", off, extra);
        return;
      }
    }
}

/* ---- no overreads ---------------------------------------------------------------------------- */

/* Every prefix of a set of messages, in both modes, ends right before an unmapped page. */
TEST(no_read_past_the_buffer_for_any_prefix) {
  const char *msgs[] = {
    invite,
    ok200,
    "INVITE sip:a@b SIP/2.0\r\nFrom: \"q\\\"x\" <sip:a@b>;tag=1\r\nX:\r\n y\r\n\r\n",
    "SIP/2.0 100 \r\nVia: SIP/2.0/UDP [2001:db8::1]:5060;received=[2001:db8::2]\r\n\r\n",
    "REGISTER sip:a SIP/2.0\r\nContact: \"a,b\" <sip:a@b>, *\r\nAllow: A,B\r\nExpires: 99\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
    size_t n = strlen(msgs[i]);
    for (size_t k = 0; k <= n; k++) {
      parse_n(msgs[i], k, SIP_PARSE_DGRAM);
      parse_n(msgs[i], k, SIP_PARSE_STREAM);
      size_t skip;
      sip_error e;
      frame(msgs[i], k, &skip, &e);
    }
  }
  CHECK(1);
}

TEST(offsets_and_slices_stay_inside_the_message) {
  CHECK_EQ_INT(parse(invite), 0);
  for (unsigned i = 0; i < M.nhdr; i++) {
    CHECK(M.hdr[i].name.p >= M.buf && M.hdr[i].name.p + M.hdr[i].name.n <= M.buf + M.len);
    CHECK(M.hdr[i].value.p >= M.buf && M.hdr[i].value.p + M.hdr[i].value.n <= M.buf + M.len);
  }
  CHECK(M.body.p + M.body.n == M.buf + M.len);
}

int main(void) {
  RUN(s7_1_request_line);
  RUN(s7_2_status_line);
  RUN(rfc4475_3_1_1_13_empty_reason_phrase);
  RUN(rfc4475_3_1_1_12_utf8_reason_phrase);
  RUN(s7_1_sip_version_name_is_case_insensitive);
  RUN(rfc4475_3_1_2_16_other_version_is_505);
  RUN(s7_2_status_code_is_3_digits_in_100_699);
  RUN(rfc4475_3_1_2_9_and_10_one_sp_between_elements);
  RUN(s7_1_request_line_needs_all_three_elements);
  RUN(s8_2_a_bad_start_line_still_indexes_the_headers_to_answer);
  RUN(rfc4475_3_1_2_8_lws_in_request_uri);
  RUN(rfc4475_3_1_2_7_brackets_around_request_uri);
  RUN(rfc4475_3_1_2_11_s19_1_1_no_headers_in_request_uri);
  RUN(rfc4475_3_3_2_any_scheme_in_request_uri);
  RUN(s7_1_method_is_any_token);
  RUN(s7_5_leading_crlfs_are_skipped);
  RUN(s7_3_1_index_names_values_ids_lines);
  RUN(s7_3_1_hcolon_allows_whitespace_before_colon);
  RUN(s7_3_1_line_folding_keeps_bytes_and_flags);
  RUN(s7_3_3_compact_forms_in_a_message);
  RUN(s7_3_1_list_values_split_outside_quotes_and_brackets);
  RUN(rfc4475_3_1_2_1_empty_list_elements_are_400);
  RUN(s20_10_contact_star_is_one_entry_and_alone);
  RUN(unknown_and_auth_headers_are_never_split);
  RUN(index_chains_first_count_next);
  RUN(s7_3_1_header_name_must_be_a_token_with_colon);
  RUN(s7_5_lines_end_in_crlf);
  RUN(typed_fields_of_a_request);
  RUN(s20_42_s20_10_delimiters_found_first_still_give_the_grammars_fields);
  RUN(absent_typed_headers_have_defaults);
  RUN(s8_1_1_5_cseq_method_matches_request);
  RUN(s20_22_max_forwards_0_to_255);
  RUN(s20_14_content_length_is_one_decimal);
  RUN(s20_19_expires_delta_seconds_clamped);
  RUN(s25_1_call_id_is_word_at_word);
  RUN(every_via_contact_and_route_value_is_checked);
  RUN(a_value_error_keeps_the_index_for_a_400);
  RUN(s18_3_datagram_without_content_length_takes_the_rest);
  RUN(rfc4475_3_1_1_8_s18_3_extra_octets_are_dropped);
  RUN(rfc4475_3_1_2_2_s18_3_short_body_is_400);
  RUN(s18_3_stream_needs_content_length);
  RUN(binary_bodies_are_opaque);
  RUN(limit_too_many_headers);
  RUN(limit_list_elements_count_as_headers);
  RUN(limit_message_too_large_is_513);
  RUN(limit_line_too_long);
  RUN(find_by_id_and_by_any_name);
  RUN(s8_2_app_check_missing_and_duplicate_headers);
  RUN(s18_3_framing_need_more_then_exact);
  RUN(s18_3_framing_pipelined_messages);
  RUN(rfc5626_3_5_1_framing_skips_crlf_keepalives);
  RUN(s18_3_framing_errors);
  RUN(s18_3_framing_folded_and_compact_content_length);
  RUN(s18_3_framing_stops_early_when_too_large);
  RUN(s18_3_framing_prefixes_agree_with_whole);
  RUN(s7_3_1_line_ends_found_ahead_agree_wherever_the_message_sits);
  RUN(no_read_past_the_buffer_for_any_prefix);
  RUN(offsets_and_slices_stay_inside_the_message);
  guard_drop();
  return unit_done();
}
