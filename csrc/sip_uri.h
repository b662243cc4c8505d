/* sip_uri.h: SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966), and any other absoluteURI
 * kept opaque. Zero-copy: every field is a slice into the parsed text, still %-escaped. */
#ifndef SIP_URI_H
#define SIP_URI_H

#include "sip_str.h"

typedef enum sip_uri_scheme {
  SIP_URI_SIP = 1,
  SIP_URI_SIPS,
  SIP_URI_TEL,
  SIP_URI_OTHER /* a syntactically valid absoluteURI of another scheme: only scheme and opaque set */
} sip_uri_scheme;

typedef enum sip_host_type {
  SIP_HOST_NONE = 0,
  SIP_HOST_NAME, /* hostname */
  SIP_HOST_IPV4, /* IPv4address */
  SIP_HOST_IPV6  /* IPv6reference: host includes the brackets */
} sip_host_type;

typedef struct sip_uri {
  sip_uri_scheme scheme;
  sip_str scheme_str; /* as written */
  sip_str user;       /* sip/sips: user part (escaped); tel: the number */
  sip_str password;   /* sip/sips: after the ':' in userinfo; .p == NULL when absent */
  int has_password;
  sip_str host; /* sip/sips */
  sip_host_type host_type;
  int port;        /* 0 when absent */
  int has_port;    /* 1 when a port was written (tells "sip:h:0" from "sip:h", §19.1.4) */
  sip_str params;  /* ";a=b;c" without the first ';' (tel: its parameters) */
  sip_str headers; /* after '?', without it */
  sip_str opaque;  /* everything after "scheme:" */
} sip_uri;

/* Parse n bytes at p as a whole URI. Returns 0, or -1 with *err set to a static reason and *err_at to
 * the offending position (inside [p, p+n]). Never reads outside [p, p+n). err and err_at may be
 * NULL. The userinfo ends at the first '@' of the URI. */
int sip_uri_parse(const char *p, size_t n, sip_uri *u, const char **err, const char **err_at);

/* RFC 3261 §19.1.4 equality of two sip/sips URIs (scheme, userinfo case-sensitive after unescaping,
 * host case-insensitive, ports, transport/user/ttl/method/maddr params, other params only when both
 * have them, headers). tel URIs: the number without visual separators, then params. Other schemes:
 * byte equality of the text after unescaping. Returns 1 when equal. "After unescaping" keeps an
 * escaped reserved char (";" "/" "?" ":" "@" "&" "=" "+" "$" ",") distinct from the bare one, as
 * §19.1.4 says; param values compare case-insensitively, header values exactly; IPv6 hosts compare
 * as addresses; only the first of duplicate params counts. */
int sip_uri_equal(const sip_uri *a, const sip_uri *b);

/* Find a URI parameter (case-insensitive name, compared after unescaping; the first of duplicates).
 * Returns 1 and sets *value (still escaped; .n == 0 for a flag parameter) when found, 0 otherwise.
 * value may be NULL. */
int sip_uri_param(const sip_uri *u, const char *name, sip_str *value);

/* Unescape %HH once (never recursively: "%2541" gives "%41"). out must hold n bytes; the result
 * is never longer than the input, so out may be in. Returns the output length, or -1 on a bad
 * escape. */
long sip_unescape(const char *in, size_t n, char *out);

/* Write the URI back (canonical order: scheme, userinfo, host, port, params, headers) into out
 * (cap bytes). Returns the length it needs; writes nothing past cap, and a NUL after the text
 * when there is room for it (not counted). A port is written when has_port is set or port > 0. */
size_t sip_uri_format(const sip_uri *u, char *out, size_t cap);

#endif
