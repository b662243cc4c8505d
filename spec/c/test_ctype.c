/* test_ctype.c: the character classes of RFC 3261 §25.1 (sip_ctype.h), every octet of each
 * checked against the ABNF written out literally, and the PSHUFB form of the scanned classes
 * (sip_scan.h) against the table. */
#include "sip_scan.h"
#include "unit.h"

#define ALPHA "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#define DIGIT "0123456789"
#define ALNUM ALPHA DIGIT
#define MARK "-_.!~*'()"
#define UNRESERVED ALNUM MARK

/* c is one of the n bytes of set (a literal, so it may hold NUL) */
static int in(const char *set, size_t n, int c) { return memchr(set, c, n) != NULL; }
#define IN(lit, c) in(lit, sizeof(lit) - 1, c)

static int cls_of(int c) {
  int m = 0;
  if (IN(ALPHA, c)) m |= SIP_C_ALPHA;
  if (IN(DIGIT, c)) m |= SIP_C_DIGIT;
  if (IN(DIGIT "ABCDEFabcdef", c)) m |= SIP_C_HEX;
  if (IN(UNRESERVED, c)) m |= SIP_C_UNRESERVED;
  /* token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
  if (IN(ALNUM "-.!%*_+`'~", c)) m |= SIP_C_TOKEN;
  /* word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" / "(" / ")" /
   *        "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}") */
  if (IN(ALNUM "-.!%*_+`'~()<>:\\\"/[]?{}", c)) m |= SIP_C_WORD;
  /* user-unreserved = "&" / "=" / "+" / "$" / "," / ";" / "?" / "/" */
  if (IN(UNRESERVED "&=+$,;?/", c)) m |= SIP_C_USER;
  /* param-unreserved = "[" / "]" / "/" / ":" / "&" / "+" / "$" */
  if (IN(UNRESERVED "[]/:&+$", c)) m |= SIP_C_PARAM;
  /* qdtext = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII (LWS's CRLF apart) */
  if (c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) ||
      c >= 0x80)
    m |= SIP_C_QD;
  /* hostname labels: alphanum / "-", and "_" (sip_uri.c's leniency) */
  if (IN(ALNUM "-_", c)) m |= SIP_C_LABEL;
  if (IN(ALNUM "-_.", c)) m |= SIP_C_HOST;
  if (IN(" \t\r\n", c)) m |= SIP_C_WS;
  /* CTL = %x00-1F / %x7F (RFC 2234) */
  if (c <= 0x1f || c == 0x7f) m |= SIP_C_CTL;
  return m;
}

TEST(s25_1_every_octet_of_every_class) {
  for (int c = 0; c < 256; c++)
    if ((sip_ctype[0][c] | sip_ctype[1][c] << 8) != cls_of(c))
      FAILF("octet 0x%02x: 0x%04x, expected 0x%04x", c, sip_ctype[0][c] | sip_ctype[1][c] << 8,
            cls_of(c));
}

static const unsigned scanned[SIP_SCI__COUNT] = {
  [SIP_SCI_TOKEN] = SIP_C_TOKEN, [SIP_SCI_WORD] = SIP_C_WORD, [SIP_SCI_USER] = SIP_C_USER,
  [SIP_SCI_PARAM] = SIP_C_PARAM, [SIP_SCI_QD] = SIP_C_QD,     [SIP_SCI_HOST] = SIP_C_HOST,
};

/* As sip_outside() looks a byte up: by itself (so >= 0x80 gives 0) for all classes but QD. */
TEST(pshufb_form_equals_the_table) {
  for (unsigned k = 0; k < SIP_SCI__COUNT; k++)
    for (int c = 0; c < 256; c++) {
      int lo = (k == SIP_SCI_QD || c < 0x80) ? sip_scan_lo[k][c & 15] : 0;
      int pshufb = (lo & sip_scan_hi[c >> 4]) != 0;
      int table = SIP_IS(c, scanned[k]) != 0;
      if (pshufb != table)
        FAILF("class %u, octet 0x%02x: PSHUFB %d, table %d", k, c, pshufb, table);
    }
}

int main(void) {
  RUN(s25_1_every_octet_of_every_class);
  RUN(pshufb_form_equals_the_table);
  return unit_done();
}
