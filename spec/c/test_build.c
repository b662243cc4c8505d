/* test_build.c: what the builder and the editable message write (sip_build.h). Text a caller adds
 * cannot end a line early (CR, LF, NUL are refused), and Content-Length is always the body's own
 * length (RFC 3261 §18.3, §20.14): whatever an edit did, the bytes frame on a stream as exactly
 * one message, the one that was meant. */
#include "sip_build.h"
#include "unit.h"

static sip_hdr hdr[64], hdr2[64];

static const char INVITE[] =
  "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
  "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
  "Max-Forwards: 70\r\n"
  "To: Bob <sip:bob@biloxi.example.com>\r\n"
  "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
  "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
  "CSeq: 314159 INVITE\r\n"
  "Content-Type: text/plain\r\n"
  "Content-Length: 5\r\n"
  "\r\n"
  "hello";

static int parse(const char *p, size_t n, sip_msg *m, sip_hdr *h, unsigned flags) {
  memset(m, 0, sizeof *m);
  return sip_parse(p, n, m, h, 64, NULL, flags);
}

/* The bytes frame on a stream as one message of all of them, which parses with the body. */
static void check_one_message(const char *p, size_t n, const char *body) {
  size_t skip = 1;
  sip_error e = {0, 0, NULL};
  CHECK_EQ_INT(sip_frame_stream(p, n, NULL, &skip, &e), (long)n);
  CHECK_EQ_INT(skip, 0);
  sip_msg m;
  CHECK_EQ_INT(parse(p, n, &m, hdr2, SIP_PARSE_STREAM), 0);
  CHECK_STR(m.body, body);
  CHECK_EQ_INT(m.count[SIP_H_CONTENT_LENGTH], 1);
  CHECK_EQ_INT(m.content_length, (long long)strlen(body));
}

TEST(bad_text_byte_finds_the_first_cr_lf_or_nul) {
  const char s[] = "ab\ncd\re\0f";
  CHECK(sip_bad_text_byte(s, sizeof s - 1) == s + 2);
  CHECK(sip_bad_text_byte(s + 3, sizeof s - 4) == s + 5);
  CHECK(sip_bad_text_byte(s + 6, sizeof s - 7) == s + 7);
  CHECK(sip_bad_text_byte("plain value; with=params", 24) == NULL);
  CHECK(sip_bad_text_byte("", 0) == NULL);
}

TEST(edits_refuse_cr_lf_nul_and_bad_names) {
  static const struct {
    const char *name, *value;
    size_t vl;
  } bad[] = {
    {"X-A", "one\r\nContent-Length: 0", 23},
    {"X-A", "one\nVia: evil", 13},
    {"X-A", "one\rtwo", 7},
    {"X-A", "one\0two", 7},
    {"X A", "v", 1},
    {"X:A", "v", 1},
    {"", "v", 1},
  };
  sip_msg m;
  CHECK_EQ_INT(parse(INVITE, sizeof INVITE - 1, &m, hdr, 0), 0);
  sip_emsg e;
  CHECK_EQ_INT(sip_emsg_init(&e, &m), 0);
  unsigned n = e.m.nhdr;
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    CHECK_EQ_INT(sip_emsg_insert(&e, 0, bad[i].name, strlen(bad[i].name), bad[i].value, bad[i].vl),
                 SIP_EDIT_REFUSED);
    if (sip_is_token(bad[i].name, strlen(bad[i].name)))
      CHECK_EQ_INT(sip_emsg_set_value(&e, 0, bad[i].value, bad[i].vl), SIP_EDIT_REFUSED);
  }
  CHECK_EQ_INT(e.m.nhdr, n);
  CHECK_EQ_INT(e.dirty, 0);
  CHECK_EQ_INT(sip_emsg_set_ruri(&e, "sip:a@b\r\nX: y", 14), SIP_EDIT_REFUSED);
  CHECK_EQ_INT(sip_emsg_set_body(&e, "x", 1, "text/plain\r\nX: y"), SIP_EDIT_REFUSED);
  sip_emsg r;
  CHECK_EQ_INT(sip_emsg_response(&r, 200, "OK", 2), 0);
  CHECK_EQ_INT(sip_emsg_set_status(&r, 200, "OK\r\nX: y", 9), SIP_EDIT_REFUSED);
  sip_emsg_free(&r);
  sip_emsg_free(&e);
}

/* §20.14: a Content-Length an edit sets, adds or removes is replaced by the body's on writing. */
TEST(serialize_writes_the_body_length_whatever_the_edits_said) {
  static const struct {
    const char *name, *value; /* set (replace the first) or, with add, insert */
    int add;
  } cases[] = {
    {"Content-Length", "0", 0}, {"Content-Length", "99999", 0},        {"l", "3", 1},
    {"Content-Length", "5", 1}, {"Content-Length", "not a number", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    sip_msg m;
    CHECK_EQ_INT(parse(INVITE, sizeof INVITE - 1, &m, hdr, 0), 0);
    sip_emsg e;
    CHECK_EQ_INT(sip_emsg_init(&e, &m), 0);
    const sip_hdr *cl = sip_msg_find(&e.m, SIP_H_CONTENT_LENGTH);
    unsigned at = (unsigned)(cl - e.m.hdr);
    size_t vl = strlen(cases[i].value);
    if (cases[i].add)
      CHECK_EQ_INT(sip_emsg_insert(&e, 1, cases[i].name, strlen(cases[i].name), cases[i].value, vl),
                   0);
    else CHECK_EQ_INT(sip_emsg_set_value(&e, at, cases[i].value, vl), 0);
    sip_buf b = SIP_BUF_INIT;
    const char *p;
    size_t n;
    CHECK_EQ_INT(sip_emsg_bytes(&e, &b, &p, &n), 0);
    check_one_message(p, n, "hello");
    sip_buf_free(&b);
    sip_emsg_free(&e);
  }
  /* and with every Content-Length removed, the writer adds the right one */
  sip_msg m;
  CHECK_EQ_INT(parse(INVITE, sizeof INVITE - 1, &m, hdr, 0), 0);
  sip_emsg e;
  CHECK_EQ_INT(sip_emsg_init(&e, &m), 0);
  CHECK_EQ_INT(sip_emsg_remove(&e, (unsigned)(sip_msg_find(&e.m, SIP_H_CONTENT_LENGTH) - e.m.hdr)),
               0);
  sip_buf b = SIP_BUF_INIT;
  CHECK_EQ_INT(sip_msg_serialize(&e.m, &b), 0);
  check_one_message(b.p, b.n, "hello");
  sip_buf_free(&b);
  sip_emsg_free(&e);
}

/* §18.3: a datagram's octets past Content-Length are not the message's; one without Content-Length
 * has the rest of the datagram as its body. Either way, the bytes sent on (a proxy forwarding over
 * TCP) are one message with that body, and nothing else. */
TEST(received_datagrams_go_on_as_one_message) {
  char dgram[sizeof INVITE + 64];
  size_t n =
    (size_t)snprintf(dgram, sizeof dgram, "%sINVITE sip:smuggled@x SIP/2.0\r\n\r\n", INVITE);
  sip_msg m;
  CHECK_EQ_INT(parse(dgram, n, &m, hdr, SIP_PARSE_DGRAM), 0);
  sip_emsg e;
  sip_emsg_wrap(&e, &m);
  sip_buf b = SIP_BUF_INIT;
  const char *p;
  size_t len;
  CHECK_EQ_INT(sip_emsg_bytes(&e, &b, &p, &len), 0);
  CHECK(p == m.buf && len == sizeof INVITE - 1); /* the original bytes, the extra octets cut */
  CHECK_EQ_INT(b.n, 0);
  check_one_message(p, len, "hello");

  /* without Content-Length: serialized, with the length of what the datagram carried */
  static const char NOLEN[] =
    "MESSAGE sip:bob@b SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\n"
    "From: <sip:a@a>;tag=1\r\nTo: <sip:bob@b>\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\n"
    "\r\nhi\r\n\r\nBYE sip:x SIP/2.0\r\n";
  CHECK_EQ_INT(parse(NOLEN, sizeof NOLEN - 1, &m, hdr, SIP_PARSE_DGRAM), 0);
  sip_emsg_wrap(&e, &m);
  CHECK_EQ_INT(sip_emsg_bytes(&e, &b, &p, &len), 0);
  CHECK(p == b.p);
  check_one_message(p, len, "hi\r\n\r\nBYE sip:x SIP/2.0\r\n");
  sip_buf_free(&b);

  /* larger than the datagram: refused (400), nothing to send on */
  static const char SHORT[] = "MESSAGE sip:bob@b SIP/2.0\r\nContent-Length: 50\r\n\r\nhi";
  CHECK(parse(SHORT, sizeof SHORT - 1, &m, hdr, SIP_PARSE_DGRAM) != 0);
  CHECK_EQ_INT(m.err.status, 400);
}

TEST(header_lines_are_checked_line_by_line) {
  static const struct {
    const char *lines, *name, *what; /* what NULL: accepted */
  } cases[] = {
    {"", "", NULL},
    {"Allow: INVITE, ACK\r\nAccept: application/sdp\r\n", "", NULL},
    {"X-A : spaced\r\n", "", NULL},
    {"X-A: one\r\n\r\nINVITE sip:x SIP/2.0\r\n", "",
     "empty line (it would end the header section)"},
    {"X-A: one\nVia: x\r\n", "X-A", "value must not contain CR, LF or NUL"},
    {"X-A: one\rtwo\r\n", "X-A", "value must not contain CR, LF or NUL"},
    {"X-A: one", "X-A", "header line must end in CRLF"},
    {"Bad Name: v\r\n", "", "header name must be a token followed by ':'"},
    {"novalue\r\n", "", "header name must be a token followed by ':'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    sip_str name = {NULL, 0};
    const char *what = NULL;
    int rc = sip_check_header_lines(cases[i].lines, strlen(cases[i].lines), &name, &what);
    CHECK_EQ_INT(rc, cases[i].what ? -1 : 0);
    if (cases[i].what) {
      CHECK(what && strcmp(what, cases[i].what) == 0);
      CHECK_STR(name, cases[i].name);
    }
  }
  const char nul[] = "X-A: a\0b\r\n";
  sip_str name;
  const char *what;
  CHECK_EQ_INT(sip_check_header_lines(nul, sizeof nul - 1, &name, &what), -1);
  CHECK_STR(name, "X-A");
}

/* §20.14: a response's extra lines may not bring their own Content-Length, nor smuggle lines. */
TEST(responses_frame_by_their_body_whatever_the_extra_lines) {
  sip_msg m;
  CHECK_EQ_INT(parse(INVITE, sizeof INVITE - 1, &m, hdr, 0), 0);
  sip_buf b = SIP_BUF_INIT;
  CHECK_EQ_INT(
    sip_build_response(&b, &m, 200, NULL, "t1", NULL, "X-A: 1\r\nContent-Length: 0\r\nl: 9\r\n",
                       "text/plain", "body!", 5),
    0);
  check_one_message(b.p, b.n, "body!");
  sip_buf_free(&b);
  static const char *const bad_extra[] = {"X-A: 1\r\n\r\nSIP/2.0 200 OK\r\n", "X-A: 1\nX-B: 2\r\n",
                                          "X-A: 1"};
  for (size_t i = 0; i < sizeof bad_extra / sizeof *bad_extra; i++) {
    CHECK_EQ_INT(sip_build_response(&b, &m, 200, NULL, "t1", NULL, bad_extra[i], NULL, NULL, 0),
                 -1);
    CHECK_EQ_INT(b.n, 0);
  }
  CHECK_EQ_INT(sip_build_response(&b, &m, 200, "OK\r\nX: y", "t1", NULL, NULL, NULL, NULL, 0), -1);
  CHECK_EQ_INT(sip_build_response(&b, &m, 200, NULL, "t1\r\nX: y", NULL, NULL, NULL, NULL, 0), -1);
  CHECK_EQ_INT(b.n, 0);
  sip_buf_free(&b);
}

int main(void) {
  RUN(bad_text_byte_finds_the_first_cr_lf_or_nul);
  RUN(edits_refuse_cr_lf_nul_and_bad_names);
  RUN(serialize_writes_the_body_length_whatever_the_edits_said);
  RUN(received_datagrams_go_on_as_one_message);
  RUN(header_lines_are_checked_line_by_line);
  RUN(responses_frame_by_their_body_whatever_the_extra_lines);
  return unit_done();
}
