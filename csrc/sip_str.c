/* sip_str.c: the character-class table of RFC 3261 §25.1, built once at compile time. */
#include "sip_str.h"

#define A (SIP_C_ALPHA | SIP_C_TOKEN | SIP_C_UNRESERVED | SIP_C_WORD)
#define AH (A | SIP_C_HEX)
#define D (SIP_C_DIGIT | SIP_C_TOKEN | SIP_C_UNRESERVED | SIP_C_WORD | SIP_C_HEX)
#define TM (SIP_C_TOKEN | SIP_C_UNRESERVED | SIP_C_WORD) /* token char and mark: - . ! * _ ~ ' */
#define T (SIP_C_TOKEN | SIP_C_WORD)                     /* token char, not mark: % + ` */
#define M (SIP_C_UNRESERVED | SIP_C_WORD)                /* mark, not token: ( ) */
#define W SIP_C_WORD                                     /* word only: < > : \ " / [ ] ? { } */
#define S SIP_C_WS
#define C SIP_C_CTL

const uint8_t sip_ctype[256] = {
  /* 0x00 */ C, C, C, C, C, C, C, C, C, C | S, C | S, C, C, C | S, C, C,
  /* 0x10 */ C, C, C, C, C, C, C, C, C, C, C, C, C, C, C, C,
  /* 0x20  SP ! " # $ % & ' ( ) * + , - . / */
  S, TM, W, 0, 0, T, 0, TM, M, M, TM, T, 0, TM, TM, W,
  /* 0x30  0-9 : ; < = > ? */
  D, D, D, D, D, D, D, D, D, D, W, 0, W, 0, W, W,
  /* 0x40  @ A-O */
  0, AH, AH, AH, AH, AH, AH, A, A, A, A, A, A, A, A, A,
  /* 0x50  P-Z [ \ ] ^ _ */
  A, A, A, A, A, A, A, A, A, A, A, W, W, W, 0, TM,
  /* 0x60  ` a-o */
  T, AH, AH, AH, AH, AH, AH, A, A, A, A, A, A, A, A, A,
  /* 0x70  p-z { | } ~ DEL */
  A, A, A, A, A, A, A, A, A, A, A, W, 0, W, TM, C,
  /* 0x80-0xff: 0 (UTF-8 bytes are handled where the grammar allows them) */
};
