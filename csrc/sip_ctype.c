/* sip_ctype.c: the tables of the character classes of sip_ctype.h, built at compile time from
 * its predicates: sip_ctype, and the PSHUFB form of the classes the parser scans (sip_scan.h). */
#include "sip_scan.h"

#define CT(c)                                                                        \
  ((SIP_CH_ALPHA(c) ? SIP_C_ALPHA : 0) | (SIP_CH_DIGIT(c) ? SIP_C_DIGIT : 0) |       \
   (SIP_CH_TOKEN(c) ? SIP_C_TOKEN : 0) | (SIP_CH_WS(c) ? SIP_C_WS : 0) |             \
   (SIP_CH_UNRESERVED(c) ? SIP_C_UNRESERVED : 0) | (SIP_CH_HEX(c) ? SIP_C_HEX : 0) | \
   (SIP_CH_WORD(c) ? SIP_C_WORD : 0) | (SIP_CH_CTL(c) ? SIP_C_CTL : 0) |             \
   (SIP_CH_USER(c) ? SIP_C_USER : 0) | (SIP_CH_PARAM(c) ? SIP_C_PARAM : 0) |         \
   (SIP_CH_QD(c) ? SIP_C_QD : 0) | (SIP_CH_LABEL(c) ? SIP_C_LABEL : 0) |             \
   (SIP_CH_HOST(c) ? SIP_C_HOST : 0))

#define P0(c) (uint8_t)(CT(c) & 0xff)
#define P1(c) (uint8_t)(CT(c) >> 8)
#define P0_4(b) P0(b), P0((b) + 1), P0((b) + 2), P0((b) + 3)
#define P0_16(b) P0_4(b), P0_4((b) + 4), P0_4((b) + 8), P0_4((b) + 12)
#define P1_4(b) P1(b), P1((b) + 1), P1((b) + 2), P1((b) + 3)
#define P1_16(b) P1_4(b), P1_4((b) + 4), P1_4((b) + 8), P1_4((b) + 12)
#define PLANE(X)                                                                                 \
  {                                                                                              \
    X##16(0x00), X##16(0x10), X##16(0x20), X##16(0x30), X##16(0x40), X##16(0x50), X##16(0x60),   \
      X##16(0x70), X##16(0x80), X##16(0x90), X##16(0xa0), X##16(0xb0), X##16(0xc0), X##16(0xd0), \
      X##16(0xe0), X##16(0xf0)                                                                   \
  }
const uint8_t sip_ctype[2][256] = {PLANE(P0_), PLANE(P1_)};

/* The PSHUFB form. Row bits: 0 for 0x0_, 1..6 for 0x2_..0x7_, 7 for 0x8_..0xf_ (no scanned class
 * holds a byte of 0x1_, and each treats all bytes >= 0x80 alike; test_ctype checks both). */
const uint8_t sip_scan_hi[16] = {0x01, 0x00, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40,
                                 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80};
#define ROWS(P, l)                                                                        \
  ((P(l) ? 0x01 : 0) | (P(0x20 + (l)) ? 0x02 : 0) | (P(0x30 + (l)) ? 0x04 : 0) |          \
   (P(0x40 + (l)) ? 0x08 : 0) | (P(0x50 + (l)) ? 0x10 : 0) | (P(0x60 + (l)) ? 0x20 : 0) | \
   (P(0x70 + (l)) ? 0x40 : 0) | (P(0x80 + (l)) ? 0x80 : 0))
#define LO(P)                                                                                 \
  {                                                                                           \
    ROWS(P, 0), ROWS(P, 1), ROWS(P, 2), ROWS(P, 3), ROWS(P, 4), ROWS(P, 5), ROWS(P, 6),       \
      ROWS(P, 7), ROWS(P, 8), ROWS(P, 9), ROWS(P, 10), ROWS(P, 11), ROWS(P, 12), ROWS(P, 13), \
      ROWS(P, 14), ROWS(P, 15)                                                                \
  }
const uint8_t sip_scan_lo[SIP_SCI__COUNT][16] = {
  [SIP_SCI_TOKEN] = LO(SIP_CH_TOKEN), [SIP_SCI_WORD] = LO(SIP_CH_WORD),
  [SIP_SCI_USER] = LO(SIP_CH_USER),   [SIP_SCI_PARAM] = LO(SIP_CH_PARAM),
  [SIP_SCI_QD] = LO(SIP_CH_QD),       [SIP_SCI_HOST] = LO(SIP_CH_HOST),
};
