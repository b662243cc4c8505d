/* sip_ctype.h: the character classes of RFC 3261 §25.1, one predicate each. Every table of
 * classes is built from these at compile time: sip_ctype (here, one bit per class), its PSHUFB
 * form for the parser's scans (sip_scan.h), and the URI grammar's own table (sip_uri.c). */
#ifndef SIP_CTYPE_H
#define SIP_CTYPE_H

#include <stdint.h>

#define SIP_CH_ALPHA(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
#define SIP_CH_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define SIP_CH_ALNUM(c) (SIP_CH_ALPHA(c) || SIP_CH_DIGIT(c))
#define SIP_CH_HEX(c) (SIP_CH_DIGIT(c) || ((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F'))
/* mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")" */
#define SIP_CH_MARK(c)                                                                 \
  ((c) == '-' || (c) == '_' || (c) == '.' || (c) == '!' || (c) == '~' || (c) == '*' || \
   (c) == '\'' || (c) == '(' || (c) == ')')
#define SIP_CH_UNRESERVED(c) (SIP_CH_ALNUM(c) || SIP_CH_MARK(c))
/* token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
#define SIP_CH_TOKEN(c)                                                                     \
  (SIP_CH_ALNUM(c) || (c) == '-' || (c) == '.' || (c) == '!' || (c) == '%' || (c) == '*' || \
   (c) == '_' || (c) == '+' || (c) == '`' || (c) == '\'' || (c) == '~')
/* word (Call-ID): token chars and ( ) < > : \ DQUOTE / [ ] ? { } */
#define SIP_CH_WORD(c)                                                                      \
  (SIP_CH_TOKEN(c) || (c) == '(' || (c) == ')' || (c) == '<' || (c) == '>' || (c) == ':' || \
   (c) == '\\' || (c) == '"' || (c) == '/' || (c) == '[' || (c) == ']' || (c) == '?' ||     \
   (c) == '{' || (c) == '}')
/* user: unreserved / user-unreserved (& = + $ , ; ? /), escapes apart */
#define SIP_CH_USER(c)                                                                           \
  (SIP_CH_UNRESERVED(c) || (c) == '&' || (c) == '=' || (c) == '+' || (c) == '$' || (c) == ',' || \
   (c) == ';' || (c) == '?' || (c) == '/')
/* paramchar: unreserved / param-unreserved ([ ] / : & + $), escapes apart */
#define SIP_CH_PARAM(c)                                                                          \
  (SIP_CH_UNRESERVED(c) || (c) == '[' || (c) == ']' || (c) == '/' || (c) == ':' || (c) == '&' || \
   (c) == '+' || (c) == '$')
/* qdtext without LWS's CRLF: HTAB, SP, visible ASCII but DQUOTE and "\", and every octet >= 0x80
 * (UTF8-NONASCII; sequences are not checked) */
#define SIP_CH_QD(c) ((c) == '\t' || ((c) >= 0x20 && (c) != '"' && (c) != '\\' && (c) != 0x7f))
/* hostname label chars: alphanum / "-", and "_" (seen in real deployments) */
#define SIP_CH_LABEL(c) (SIP_CH_ALNUM(c) || (c) == '-' || (c) == '_')
/* hostname: labels and the dots between them */
#define SIP_CH_HOST(c) (SIP_CH_LABEL(c) || (c) == '.')
/* SP / HTAB / CR / LF: whitespace inside a header value, where a CRLF can only be part of line
 * folding (the header ended otherwise) */
#define SIP_CH_WS(c) ((c) == ' ' || (c) == '\t' || (c) == '\r' || (c) == '\n')
/* CTL: %x00-1F / %x7F */
#define SIP_CH_CTL(c) ((c) < 0x20 || (c) == 0x7f)

/* One bit per class in sip_ctype (sip_ctype.c): bits 0-7 in plane 0, bits 8-15 in plane 1, so
 * that a lookup stays one byte load. SIP_IS(c, cls) is true when c is in any class of cls. */
enum {
  SIP_C_ALPHA = 1 << 0,
  SIP_C_DIGIT = 1 << 1,
  SIP_C_TOKEN = 1 << 2,
  SIP_C_WS = 1 << 3,
  SIP_C_UNRESERVED = 1 << 4,
  SIP_C_HEX = 1 << 5,
  SIP_C_WORD = 1 << 6,
  SIP_C_CTL = 1 << 7,
  SIP_C_USER = 1 << 8,
  SIP_C_PARAM = 1 << 9,
  SIP_C_QD = 1 << 10,
  SIP_C_LABEL = 1 << 11,
  SIP_C_HOST = 1 << 12
};

extern const uint8_t sip_ctype[2][256];

#define SIP_IS(c, cls)                                            \
  ((sip_ctype[0][(unsigned char)(c)] & ((unsigned)(cls)&0xffu)) | \
   (sip_ctype[1][(unsigned char)(c)] & ((unsigned)(cls) >> 8)))

#endif
