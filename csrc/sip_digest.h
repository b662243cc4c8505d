/* sip_digest.h: Digest access authentication for SIP (RFC 3261 §22.4, RFC 2617, RFC 7616,
 * RFC 8760): parsing and building WWW-/Proxy-Authenticate, (Proxy-)Authorization and
 * Authentication-Info values, computing HA1 / response / rspauth / userhash. Stateless server
 * nonces and nonce-count replay tracking: sip_digest_nonce.h, included here. Pure C over
 * OpenSSL 3; no Lua.
 *
 * Parsed values are slices. A quoted value that holds quoted-pairs or line folding, and a
 * decoded username*, are rewritten into the caller's scratch buffer; a scratch as long as the
 * input always suffices (every rewrite shrinks). All other slices point into the input. */
#ifndef SIP_DIGEST_H
#define SIP_DIGEST_H

#include <stddef.h>
#include <stdint.h>
#include "sip_buf.h"
#include "sip_digest_nonce.h"
#include "sip_str.h"

/* Algorithms (RFC 7616 §3.3, §6.1; RFC 8760 §2). */
typedef enum sip_digest_alg {
  SIP_DIGEST_UNKNOWN = 0, /* written but not supported: answer with another challenge */
  SIP_DIGEST_MD5,
  SIP_DIGEST_MD5_SESS,
  SIP_DIGEST_SHA256,
  SIP_DIGEST_SHA256_SESS,
  SIP_DIGEST_SHA512_256,
  SIP_DIGEST_SHA512_256_SESS
} sip_digest_alg;

/* Hex digest length of an algorithm (32 or 64), 0 for SIP_DIGEST_UNKNOWN. */
size_t sip_digest_hex_len(sip_digest_alg alg);
/* Canonical name ("MD5", "SHA-256-sess", ...), NULL for unknown. */
const char *sip_digest_alg_name(sip_digest_alg alg);
/* Case-insensitive lookup of a name; SIP_DIGEST_UNKNOWN when not supported. */
sip_digest_alg sip_digest_alg_lookup(sip_str name);
/* Strength for choosing among challenges: 0 unknown, 1 MD5, 2 SHA-256, 3 SHA-512-256 (any -sess). */
int sip_digest_alg_strength(sip_digest_alg alg);
static inline int sip_digest_alg_is_sess(sip_digest_alg a) {
  return a == SIP_DIGEST_MD5_SESS || a == SIP_DIGEST_SHA256_SESS || a == SIP_DIGEST_SHA512_256_SESS;
}

/* A lowercase hex digest with room for its NUL. */
#define SIP_DIGEST_HEX_MAX 65

/* qop values (RFC 2617 §3.2.1). A challenge offers a set; credentials carry one. */
enum {
  SIP_DIGEST_QOP_NONE = 0, /* no qop: RFC 2069 compatibility */
  SIP_DIGEST_QOP_AUTH = 1 << 0,
  SIP_DIGEST_QOP_AUTH_INT = 1 << 1
};

/* Result codes of the parsers. */
enum {
  SIP_DIGEST_OK = 0,
  SIP_DIGEST_ESYNTAX = -1,  /* not an auth-param list */
  SIP_DIGEST_ESCHEME = -2,  /* a scheme other than Digest (Basic, ...): ignore or re-challenge */
  SIP_DIGEST_EMISSING = -3, /* a required param is absent */
  SIP_DIGEST_EDUP = -4,     /* a param appears twice */
  SIP_DIGEST_EALG = -5,     /* an algorithm we do not support (the struct is still filled) */
  SIP_DIGEST_EVALUE = -6,   /* a param's value is malformed (nc, qop, stale, username* ...) */
  SIP_DIGEST_ESPACE = -7    /* scratch too small (give it as many bytes as the input) */
};

typedef struct sip_digest_error {
  const char *what; /* static text, e.g. "missing nonce" */
  size_t off;       /* byte offset into the parsed value */
} sip_digest_error;

/* An auth-param we do not interpret, kept for the caller. */
typedef struct sip_digest_param {
  sip_str name, value; /* value unquoted and unescaped */
} sip_digest_param;

#define SIP_DIGEST_MAX_EXTRA 8 /* further unknown params are skipped */

/* WWW-Authenticate / Proxy-Authenticate (RFC 7616 §3.3, RFC 3261 §25.1 "challenge"). */
typedef struct sip_digest_challenge {
  sip_str scheme;                  /* as written ("Digest", or the unknown scheme on ESCHEME) */
  sip_str realm, nonce;            /* required */
  sip_str opaque, domain, charset; /* .p == NULL when absent */
  sip_str algorithm;               /* as written; .p == NULL when absent */
  sip_digest_alg alg;              /* MD5 when absent */
  int has_qop;                     /* a qop param was present */
  unsigned qop;                    /* SIP_DIGEST_QOP_* offered (unknown values skipped) */
  int stale, userhash;             /* 1 when "true" (case-insensitive) */
  unsigned nextra;
  sip_digest_param extra[SIP_DIGEST_MAX_EXTRA];
  size_t end; /* bytes consumed; < the input length when another challenge follows */
} sip_digest_challenge;

/* Authorization / Proxy-Authorization (RFC 7616 §3.4, RFC 3261 §25.1 "credentials"). */
typedef struct sip_digest_credentials {
  sip_str scheme;
  sip_str username; /* username, decoded username* or, with userhash, the hash */
  int username_ext; /* the value came from username* (RFC 7616 §3.4.4, RFC 8187) */
  sip_str realm, nonce, uri, response; /* required */
  sip_str algorithm;                   /* as written; .p == NULL when absent */
  sip_digest_alg alg;                  /* MD5 when absent */
  sip_str cnonce, opaque;              /* .p == NULL when absent */
  unsigned qop;                        /* SIP_DIGEST_QOP_NONE, _AUTH or _AUTH_INT */
  sip_str nc_hex; /* nonce-count as written (8 hex digits); .p == NULL when absent */
  uint32_t nc;    /* its value; 0 when absent */
  int userhash;   /* userhash=true */
  unsigned nextra;
  sip_digest_param extra[SIP_DIGEST_MAX_EXTRA];
} sip_digest_credentials;

/* Authentication-Info (RFC 7616 §3.5, RFC 2617 §3.2.3). Every field optional. */
typedef struct sip_digest_info {
  sip_str nextnonce, rspauth, cnonce, nc_hex; /* .p == NULL when absent */
  unsigned qop;
  uint32_t nc;
  unsigned nextra;
  sip_digest_param extra[SIP_DIGEST_MAX_EXTRA];
} sip_digest_info;

/* Parsers over one header value p[0..n). Each returns SIP_DIGEST_OK or a negative code with
 * *err set (err may be NULL). scratch must hold scap bytes; scap >= n is always enough. */
int sip_digest_parse_challenge(const char *p, size_t n, sip_digest_challenge *c, char *scratch,
                               size_t scap, sip_digest_error *err);
int sip_digest_parse_credentials(const char *p, size_t n, sip_digest_credentials *c, char *scratch,
                                 size_t scap, sip_digest_error *err);
int sip_digest_parse_info(const char *p, size_t n, sip_digest_info *c, char *scratch, size_t scap,
                          sip_digest_error *err);

/* Unquote and unescape a quoted-string body (without its quotes) into out (cap >= s.n is
 * enough): quoted-pairs lose their backslash, line folding (a whitespace run holding CR or LF)
 * becomes one SP (RFC 3261 §7.3.1). Returns the length written. */
size_t sip_digest_unescape(sip_str s, char *out, size_t cap);

/* Builders: append one header value to b. Return 0, or -1 when a value cannot be written
 * (control characters, an unknown algorithm, required fields absent) or on OOM. */
int sip_digest_write_challenge(sip_buf *b, const sip_digest_challenge *c);
int sip_digest_write_credentials(sip_buf *b, const sip_digest_credentials *c);
int sip_digest_write_info(sip_buf *b, const sip_digest_info *c);

/* Computation -----------------------------------------------------------------------------------*/

/* Everything a response depends on (RFC 7616 §3.4.1-3.4.3). */
typedef struct sip_digest_input {
  sip_digest_alg alg;
  sip_str username, realm; /* the real username, also with userhash (RFC 7616 §3.4.4) */
  sip_str password;        /* used when ha1.p == NULL */
  sip_str ha1;             /* precomputed H(username ":" realm ":" password) in hex, as stored
                               instead of the password; also for -sess (the session part is added) */
  sip_str method, uri;
  sip_str nonce, cnonce; /* cnonce: with qop or -sess */
  sip_str nc_hex;        /* 8 hex digits: with qop */
  unsigned qop;          /* SIP_DIGEST_QOP_NONE, _AUTH or _AUTH_INT */
  sip_str body;          /* auth-int: the message body (may be empty) */
} sip_digest_input;

/* H(username ":" realm ":" password), hex. Returns the hex length or -1. */
int sip_digest_ha1_base(sip_digest_alg alg, sip_str username, sip_str realm, sip_str password,
                        char out[SIP_DIGEST_HEX_MAX]);
/* The HA1 a response uses: the base hash, or for -sess H(base ":" nonce ":" cnonce). */
int sip_digest_ha1(const sip_digest_input *in, char out[SIP_DIGEST_HEX_MAX]);
/* request-digest (RFC 7616 §3.4.1; RFC 2069 form when qop is none). */
int sip_digest_response(const sip_digest_input *in, char out[SIP_DIGEST_HEX_MAX]);
/* rspauth of Authentication-Info: the response with an empty method (RFC 2617 §3.2.3). */
int sip_digest_rspauth(const sip_digest_input *in, char out[SIP_DIGEST_HEX_MAX]);
/* userhash = H(username ":" realm) (RFC 7616 §3.4.4). */
int sip_digest_userhash(sip_digest_alg alg, sip_str username, sip_str realm,
                        char out[SIP_DIGEST_HEX_MAX]);

/* Fill in from parsed credentials (the username as sent: with userhash the caller must put
 * the real username in in->username). password/ha1 are left empty for the caller. */
void sip_digest_input_from(sip_digest_input *in, const sip_digest_credentials *c, sip_str method,
                           sip_str body);
/* Constant-time byte comparison (CRYPTO_memcmp): 1 equal, 0 not. Only the length leaks. */
int sip_digest_equal(sip_str a, sip_str b);
/* Recompute and compare in constant time (hex case ignored): 1 when response is right. */
int sip_digest_verify(const sip_digest_input *in, sip_str response);

/* Client ------------------------------------------------------------------------------------------*/

typedef struct sip_digest_client {
  sip_str username, password;
  sip_str ha1;            /* instead of the password: H(username:realm:password), hex */
  sip_digest_alg ha1_alg; /* the algorithm ha1 was computed with (its hash must match) */
  sip_str method, uri, body;
  uint32_t nc;    /* 1 for a fresh nonce */
  sip_str cnonce; /* .p == NULL: 16 random bytes in hex */
} sip_digest_client;

/* Build the credentials answering challenge ch (RFC 7616 §3.4): qop auth preferred, auth-int only
 * when it is the only one offered; opaque echoed; userhash when asked. Returns 0, or -1 with
 * *err set (unsupported algorithm or qop, HA1 of another hash, RNG or OOM). When cnonce_out is
 * not NULL it receives the cnonce used (NUL-terminated, at most 64 characters + NUL). */
int sip_digest_client_credentials(sip_buf *b, const sip_digest_challenge *ch,
                                  const sip_digest_client *cl, char cnonce_out[SIP_DIGEST_HEX_MAX],
                                  const char **err);

/* Index of the strongest supported challenge (SHA-512-256 > SHA-256 > MD5, the first on ties,
 * RFC 7616 §3.7), or -1 when none. Pass challenges that parsed with SIP_DIGEST_OK. */
int sip_digest_pick(const sip_digest_challenge *chs, size_t n);

/* Lowercase hex of n random bytes (n <= 32), NUL-terminated. 0 or -1. */
int sip_digest_random_hex(size_t n, char *out);

#endif
