/* sip_hdr.c: header names (full and compact forms), methods, and the typed parsers of single
 * header values: Via, name-addr/addr-spec, CSeq, numbers, params, media types (RFC 3261 §7.3,
 * §20, §25.1). Zero-copy and bounded by the slice length: the public functions read nothing past
 * p + n and never rely on a NUL; the *_rd variants of sip_parse() first try the fast paths of
 * sip_fast.h, which may load up to rd (the end of the message buffer). The character-class tables
 * of sip_scan.h live here too. */
#include "sip_fast.h"

/* ---- header names ---------------------------------------------------------------------------- */

static const char *const hdr_names[SIP_H__COUNT] = {
  [SIP_H_VIA] = "Via",
  [SIP_H_FROM] = "From",
  [SIP_H_TO] = "To",
  [SIP_H_CALL_ID] = "Call-ID",
  [SIP_H_CSEQ] = "CSeq",
  [SIP_H_CONTACT] = "Contact",
  [SIP_H_MAX_FORWARDS] = "Max-Forwards",
  [SIP_H_CONTENT_LENGTH] = "Content-Length",
  [SIP_H_CONTENT_TYPE] = "Content-Type",
  [SIP_H_CONTENT_ENCODING] = "Content-Encoding",
  [SIP_H_EXPIRES] = "Expires",
  [SIP_H_MIN_EXPIRES] = "Min-Expires",
  [SIP_H_ROUTE] = "Route",
  [SIP_H_RECORD_ROUTE] = "Record-Route",
  [SIP_H_PATH] = "Path",
  [SIP_H_SERVICE_ROUTE] = "Service-Route",
  [SIP_H_ALLOW] = "Allow",
  [SIP_H_SUPPORTED] = "Supported",
  [SIP_H_REQUIRE] = "Require",
  [SIP_H_PROXY_REQUIRE] = "Proxy-Require",
  [SIP_H_UNSUPPORTED] = "Unsupported",
  [SIP_H_ACCEPT] = "Accept",
  [SIP_H_ACCEPT_ENCODING] = "Accept-Encoding",
  [SIP_H_ACCEPT_LANGUAGE] = "Accept-Language",
  [SIP_H_WWW_AUTHENTICATE] = "WWW-Authenticate",
  [SIP_H_AUTHORIZATION] = "Authorization",
  [SIP_H_PROXY_AUTHENTICATE] = "Proxy-Authenticate",
  [SIP_H_PROXY_AUTHORIZATION] = "Proxy-Authorization",
  [SIP_H_AUTHENTICATION_INFO] = "Authentication-Info",
  [SIP_H_SUBJECT] = "Subject",
  [SIP_H_EVENT] = "Event",
  [SIP_H_ALLOW_EVENTS] = "Allow-Events",
  [SIP_H_REFER_TO] = "Refer-To",
  [SIP_H_REFERRED_BY] = "Referred-By",
  [SIP_H_SESSION_EXPIRES] = "Session-Expires",
  [SIP_H_MIN_SE] = "Min-SE",
  [SIP_H_RSEQ] = "RSeq",
  [SIP_H_RACK] = "RAck",
  [SIP_H_RETRY_AFTER] = "Retry-After",
  [SIP_H_USER_AGENT] = "User-Agent",
  [SIP_H_SERVER] = "Server",
  [SIP_H_DATE] = "Date",
  [SIP_H_TIMESTAMP] = "Timestamp",
  [SIP_H_WARNING] = "Warning",
  [SIP_H_CONTENT_DISPOSITION] = "Content-Disposition",
  [SIP_H_CONTENT_LANGUAGE] = "Content-Language",
  [SIP_H_MIME_VERSION] = "MIME-Version",
  [SIP_H_ORGANIZATION] = "Organization",
  [SIP_H_PRIORITY] = "Priority",
  [SIP_H_REPLY_TO] = "Reply-To",
  [SIP_H_IN_REPLY_TO] = "In-Reply-To",
  [SIP_H_ALERT_INFO] = "Alert-Info",
  [SIP_H_CALL_INFO] = "Call-Info",
  [SIP_H_ERROR_INFO] = "Error-Info",
  [SIP_H_REASON] = "Reason",
  [SIP_H_ACCEPT_CONTACT] = "Accept-Contact",
  [SIP_H_REJECT_CONTACT] = "Reject-Contact",
  [SIP_H_REQUEST_DISPOSITION] = "Request-Disposition",
  [SIP_H_IDENTITY] = "Identity",
  [SIP_H_SUBSCRIPTION_STATE] = "Subscription-State",
};

const char *sip_hdr_name(sip_hdr_id id) {
  return (unsigned)id < SIP_H__COUNT ? hdr_names[id] : NULL;
}

/* Headers whose grammar is a comma-separated list (RFC 3261 §7.3.1: they may be combined into
 * one line, so one line may carry several values). The auth headers are not: their commas
 * separate auth-params of one challenge/credential. */
const uint8_t sip_hdr_list_ids[SIP_H__COUNT] = {
  [SIP_H_VIA] = 1,
  [SIP_H_CONTACT] = 1,
  [SIP_H_ROUTE] = 1,
  [SIP_H_RECORD_ROUTE] = 1,
  [SIP_H_PATH] = 1,
  [SIP_H_SERVICE_ROUTE] = 1,
  [SIP_H_ALLOW] = 1,
  [SIP_H_SUPPORTED] = 1,
  [SIP_H_REQUIRE] = 1,
  [SIP_H_PROXY_REQUIRE] = 1,
  [SIP_H_UNSUPPORTED] = 1,
  [SIP_H_ACCEPT] = 1,
  [SIP_H_ACCEPT_ENCODING] = 1,
  [SIP_H_ACCEPT_LANGUAGE] = 1,
  [SIP_H_CONTENT_ENCODING] = 1,
  [SIP_H_CONTENT_LANGUAGE] = 1,
  [SIP_H_ALLOW_EVENTS] = 1,
  [SIP_H_IN_REPLY_TO] = 1,
  [SIP_H_WARNING] = 1,
  [SIP_H_ALERT_INFO] = 1,
  [SIP_H_CALL_INFO] = 1,
  [SIP_H_ERROR_INFO] = 1,
  [SIP_H_REASON] = 1,
  [SIP_H_ACCEPT_CONTACT] = 1,
  [SIP_H_REJECT_CONTACT] = 1,
  [SIP_H_REQUEST_DISPOSITION] = 1,
};

int sip_hdr_is_list(sip_hdr_id id) { return (unsigned)id < SIP_H__COUNT && sip_hdr_list_ids[id]; }

/* Compact forms (RFC 3261 §7.3.3 and the IANA "Header Fields" registry), by lower-case letter. */
static const uint8_t hdr_compact[26] = {
  ['a' - 'a'] = SIP_H_ACCEPT_CONTACT,
  ['b' - 'a'] = SIP_H_REFERRED_BY,
  ['c' - 'a'] = SIP_H_CONTENT_TYPE,
  ['d' - 'a'] = SIP_H_REQUEST_DISPOSITION,
  ['e' - 'a'] = SIP_H_CONTENT_ENCODING,
  ['f' - 'a'] = SIP_H_FROM,
  ['i' - 'a'] = SIP_H_CALL_ID,
  ['j' - 'a'] = SIP_H_REJECT_CONTACT,
  ['k' - 'a'] = SIP_H_SUPPORTED,
  ['l' - 'a'] = SIP_H_CONTENT_LENGTH,
  ['m' - 'a'] = SIP_H_CONTACT,
  ['o' - 'a'] = SIP_H_EVENT,
  ['r' - 'a'] = SIP_H_REFER_TO,
  ['s' - 'a'] = SIP_H_SUBJECT,
  ['t' - 'a'] = SIP_H_TO,
  ['u' - 'a'] = SIP_H_ALLOW_EVENTS,
  ['v' - 'a'] = SIP_H_VIA,
  ['x' - 'a'] = SIP_H_SESSION_EXPIRES,
  ['y' - 'a'] = SIP_H_IDENTITY,
};

/* Case-insensitive compare of n bytes against a literal of lower-case letters and '-', a word at
 * a time. OR-ing 0x20 into the input folds case only where the literal has a letter (its 0x40
 * bit, shifted down, builds that mask), so '-' still compares exactly and nothing else aliases.
 * Loads stay inside [p, p + n): the chunks overlap instead of running past the end. */
static inline int eq8(const char *p, const char *lit) {
  uint64_t x, y;
  memcpy(&x, p, 8);
  memcpy(&y, lit, 8);
  return (x | ((y & 0x4040404040404040ull) >> 1)) == y;
}

static inline int eq4(const char *p, const char *lit) {
  uint32_t x, y;
  memcpy(&x, p, 4);
  memcpy(&y, lit, 4);
  return (x | ((y & 0x40404040u) >> 1)) == y;
}

static inline int name_eq(const char *p, const char *lc, size_t n) {
  if (n >= 8) {
    for (size_t i = 0; i + 8 < n; i += 8)
      if (!eq8(p + i, lc + i)) return 0;
    // cppcheck-suppress pointerOutOfBoundsCond ; lc holds n bytes: the callers pass its length
    return eq8(p + n - 8, lc + n - 8);
  }
  if (n >= 4) return eq4(p, lc) && eq4(p + n - 4, lc + n - 4);
  if (n >= 2) {
    uint16_t x, y;
    memcpy(&x, p + n - 2, 2);
    memcpy(&y, lc + n - 2, 2);
    if ((x | ((y & 0x4040u) >> 1)) != y) return 0;
    n -= 2;
  }
  return n == 0 ||
         ((unsigned char)p[0] | (((unsigned char)lc[0] & 0x40u) >> 1)) == (unsigned char)lc[0];
}

/* A switch on the length, then on the first letter: one or two short compares per name. */
sip_hdr_id sip_hdr_lookup(const char *p, size_t n) {
#define IS(lit, id) \
  if (name_eq(p, lit, n)) return id
  if (n == 0) return SIP_H_OTHER;
  int c = sip_lower((unsigned char)p[0]);
  switch (n) {
  case 1: return (c >= 'a' && c <= 'z') ? (sip_hdr_id)hdr_compact[c - 'a'] : SIP_H_OTHER;
  case 2: IS("to", SIP_H_TO); break;
  case 3: IS("via", SIP_H_VIA); break;
  case 4:
    switch (c) {
    case 'f': IS("from", SIP_H_FROM); break;
    case 'c': IS("cseq", SIP_H_CSEQ); break;
    case 'p': IS("path", SIP_H_PATH); break;
    case 'r':
      IS("rseq", SIP_H_RSEQ);
      IS("rack", SIP_H_RACK);
      break;
    case 'd': IS("date", SIP_H_DATE); break;
    }
    break;
  case 5:
    switch (c) {
    case 'r': IS("route", SIP_H_ROUTE); break;
    case 'a': IS("allow", SIP_H_ALLOW); break;
    case 'e': IS("event", SIP_H_EVENT); break;
    }
    break;
  case 6:
    switch (c) {
    case 'a': IS("accept", SIP_H_ACCEPT); break;
    case 'm': IS("min-se", SIP_H_MIN_SE); break;
    case 's': IS("server", SIP_H_SERVER); break;
    case 'r': IS("reason", SIP_H_REASON); break;
    }
    break;
  case 7:
    switch (c) {
    case 'c':
      IS("call-id", SIP_H_CALL_ID);
      IS("contact", SIP_H_CONTACT);
      break;
    case 'e': IS("expires", SIP_H_EXPIRES); break;
    case 'r': IS("require", SIP_H_REQUIRE); break;
    case 's': IS("subject", SIP_H_SUBJECT); break;
    case 'w': IS("warning", SIP_H_WARNING); break;
    }
    break;
  case 8:
    switch (c) {
    case 'r':
      IS("refer-to", SIP_H_REFER_TO);
      IS("reply-to", SIP_H_REPLY_TO);
      break;
    case 'p': IS("priority", SIP_H_PRIORITY); break;
    case 'i': IS("identity", SIP_H_IDENTITY); break;
    }
    break;
  case 9:
    switch (c) {
    case 's': IS("supported", SIP_H_SUPPORTED); break;
    case 't': IS("timestamp", SIP_H_TIMESTAMP); break;
    case 'c': IS("call-info", SIP_H_CALL_INFO); break;
    }
    break;
  case 10:
    switch (c) {
    case 'u': IS("user-agent", SIP_H_USER_AGENT); break;
    case 'a': IS("alert-info", SIP_H_ALERT_INFO); break;
    case 'e': IS("error-info", SIP_H_ERROR_INFO); break;
    }
    break;
  case 11:
    switch (c) {
    case 'm': IS("min-expires", SIP_H_MIN_EXPIRES); break;
    case 'u': IS("unsupported", SIP_H_UNSUPPORTED); break;
    case 'r':
      IS("referred-by", SIP_H_REFERRED_BY);
      IS("retry-after", SIP_H_RETRY_AFTER);
      break;
    case 'i': IS("in-reply-to", SIP_H_IN_REPLY_TO); break;
    }
    break;
  case 12:
    switch (c) {
    case 'm':
      IS("max-forwards", SIP_H_MAX_FORWARDS);
      IS("mime-version", SIP_H_MIME_VERSION);
      break;
    case 'c': IS("content-type", SIP_H_CONTENT_TYPE); break;
    case 'r': IS("record-route", SIP_H_RECORD_ROUTE); break;
    case 'a': IS("allow-events", SIP_H_ALLOW_EVENTS); break;
    case 'o': IS("organization", SIP_H_ORGANIZATION); break;
    }
    break;
  case 13:
    switch (c) {
    case 's': IS("service-route", SIP_H_SERVICE_ROUTE); break;
    case 'p': IS("proxy-require", SIP_H_PROXY_REQUIRE); break;
    case 'a': IS("authorization", SIP_H_AUTHORIZATION); break;
    }
    break;
  case 14:
    switch (c) {
    case 'c': IS("content-length", SIP_H_CONTENT_LENGTH); break;
    case 'a': IS("accept-contact", SIP_H_ACCEPT_CONTACT); break;
    case 'r': IS("reject-contact", SIP_H_REJECT_CONTACT); break;
    }
    break;
  case 15:
    switch (c) {
    case 'a':
      IS("accept-encoding", SIP_H_ACCEPT_ENCODING);
      IS("accept-language", SIP_H_ACCEPT_LANGUAGE);
      break;
    case 's': IS("session-expires", SIP_H_SESSION_EXPIRES); break;
    }
    break;
  case 16:
    switch (c) {
    case 'c':
      IS("content-encoding", SIP_H_CONTENT_ENCODING);
      IS("content-language", SIP_H_CONTENT_LANGUAGE);
      break;
    case 'w': IS("www-authenticate", SIP_H_WWW_AUTHENTICATE); break;
    }
    break;
  case 18:
    switch (c) {
    case 'p': IS("proxy-authenticate", SIP_H_PROXY_AUTHENTICATE); break;
    case 's': IS("subscription-state", SIP_H_SUBSCRIPTION_STATE); break;
    }
    break;
  case 19:
    switch (c) {
    case 'p': IS("proxy-authorization", SIP_H_PROXY_AUTHORIZATION); break;
    case 'a': IS("authentication-info", SIP_H_AUTHENTICATION_INFO); break;
    case 'c': IS("content-disposition", SIP_H_CONTENT_DISPOSITION); break;
    case 'r': IS("request-disposition", SIP_H_REQUEST_DISPOSITION); break;
    }
    break;
  }
  return SIP_H_OTHER;
#undef IS
}

/* ---- methods --------------------------------------------------------------------------------- */

static const char *const method_names[SIP_M__COUNT] = {
  [SIP_M_INVITE] = "INVITE",   [SIP_M_ACK] = "ACK",
  [SIP_M_BYE] = "BYE",         [SIP_M_CANCEL] = "CANCEL",
  [SIP_M_OPTIONS] = "OPTIONS", [SIP_M_REGISTER] = "REGISTER",
  [SIP_M_PRACK] = "PRACK",     [SIP_M_SUBSCRIBE] = "SUBSCRIBE",
  [SIP_M_NOTIFY] = "NOTIFY",   [SIP_M_PUBLISH] = "PUBLISH",
  [SIP_M_INFO] = "INFO",       [SIP_M_REFER] = "REFER",
  [SIP_M_MESSAGE] = "MESSAGE", [SIP_M_UPDATE] = "UPDATE",
};

const char *sip_method_name(sip_method_id m) {
  return (unsigned)m < SIP_M__COUNT ? method_names[m] : NULL;
}

/* Methods are case-sensitive (RFC 3261 §7.1): "invite" is an unknown extension method. */
sip_method_id sip_method_lookup(const char *p, size_t n) {
#define IS(lit, id) \
  if (memcmp(p, lit, n) == 0) return id
  switch (n) {
  case 3:
    IS("ACK", SIP_M_ACK);
    IS("BYE", SIP_M_BYE);
    break;
  case 4: IS("INFO", SIP_M_INFO); break;
  case 5:
    IS("PRACK", SIP_M_PRACK);
    IS("REFER", SIP_M_REFER);
    break;
  case 6:
    IS("INVITE", SIP_M_INVITE);
    IS("CANCEL", SIP_M_CANCEL);
    IS("NOTIFY", SIP_M_NOTIFY);
    IS("UPDATE", SIP_M_UPDATE);
    break;
  case 7:
    IS("OPTIONS", SIP_M_OPTIONS);
    IS("PUBLISH", SIP_M_PUBLISH);
    IS("MESSAGE", SIP_M_MESSAGE);
    break;
  case 8: IS("REGISTER", SIP_M_REGISTER); break;
  case 9: IS("SUBSCRIBE", SIP_M_SUBSCRIBE); break;
  }
  return SIP_M_OTHER;
#undef IS
}

/* ---- lexical helpers (RFC 3261 §25.1) -------------------------------------------------------- */

#define is_wsp sip_is_wsp

/* LWS/SWS: SP and HTAB, and CRLF only as line folding (followed by SP or HTAB). A bare CR or LF
 * is not whitespace, so it ends up as a syntax error in whatever grammar is being parsed. */
static const char *skip_lws_slow(const char *p, const char *e) {
  for (;;) {
    while (p < e && is_wsp(*p)) p++;
    if (e - p >= 3 && p[0] == '\r' && p[1] == '\n' && is_wsp(p[2])) {
      p += 3;
      continue;
    }
    return p;
  }
}

/* inline: most of the time there is no whitespace and one compare decides */
static inline const char *skip_lws(const char *p, const char *e) {
  if (p < e && (unsigned char)*p > ' ') return p;
  return skip_lws_slow(p, e);
}

/* The same from the right end of [s, e). */
static const char *rtrim_lws(const char *s, const char *e) {
  if (e > s && (unsigned char)e[-1] > ' ') return e;
  for (;;) {
    const char *e0 = e;
    while (e > s && is_wsp(e[-1])) e--;
    if (e < e0 && e - s >= 2 && e[-1] == '\n' && e[-2] == '\r') {
      e -= 2;
      continue;
    }
    return e;
  }
}

static inline const char *scan_token(const char *p, const char *e) {
  return sip_skip_class(p, e, SIP_C_TOKEN);
}

int sip_is_token(const char *p, size_t n) { return n > 0 && scan_token(p, p + n) == p + n; }

/* quoted-string from the opening DQUOTE: qdtext, LWS and quoted-pairs ("\" and any octet but CR
 * and LF). Returns the position after the closing quote, or NULL when it is unterminated or holds
 * a control character. */
static const char *scan_quoted(const char *p, const char *e) {
  for (p++;;) {
    p = sip_skip_class(p, e, SIP_C_QD);
    if (p >= e) return NULL;
    if (*p == '"') return p + 1;
    if (*p == '\\') {
      if (e - p < 2 || p[1] == '\r' || p[1] == '\n') return NULL;
      p += 2;
    } else if (*p == '\r') {
      if (e - p < 3 || p[1] != '\n' || !is_wsp(p[2])) return NULL;
      p += 3;
    } else {
      return NULL;
    }
  }
}

/* 1*DIGIT into *v, at most max. Returns the end of the digits, or NULL when there are none or
 * the value is above max (no overflow: checked before each step). */
static inline const char *scan_uint(const char *p, const char *e, uint64_t max, uint64_t *v) {
  const char *d0 = p;
  uint64_t x = 0, lim = max / 10;
  unsigned last = (unsigned)(max % 10);
  for (; p < e; p++) {
    unsigned d = (unsigned)((unsigned char)*p - '0');
    if (d > 9) break;
    if (x > lim || (x == lim && d > last)) return NULL;
    x = x * 10 + d;
  }
  if (p == d0) return NULL;
  *v = x;
  return p;
}

int sip_parse_uint(const char *p, size_t n, uint64_t max, uint64_t *out) {
  const char *e = p + n;
  p = skip_lws(p, e);
  e = rtrim_lws(p, e);
  uint64_t v;
  const char *q = scan_uint(p, e, max, &v);
  if (!q || q != e) return -1;
  *out = v;
  return 0;
}

/* ---- hosts (RFC 3261 §25.1, RFC 4291 §2.2) -------------------------------------------------- */

/* IPv6address (no brackets), covering exactly [p, e): hex groups of 1-4 digits, at most one "::",
 * an optional IPv4 tail, 8 groups in all (fewer with "::"). */
static int ipv6_ok(const char *p, const char *e) {
  int groups = 0, dbl = 0;
  if (p < e && *p == ':') {
    if (e - p < 2 || p[1] != ':') return 0;
    dbl = 1;
    p += 2;
    if (p == e) return 1;
  }
  while (p < e) {
    const char *g = p;
    while (p < e && SIP_IS(*p, SIP_C_HEX)) p++;
    if (p < e && *p == '.') {
      if (!sip_ipv4_exact(g, e)) return 0;
      groups += 2;
      break;
    }
    if (p == g || p - g > 4) return 0;
    groups++;
    if (p == e) break;
    if (*p != ':') return 0;
    p++;
    if (p < e && *p == ':') {
      if (dbl) return 0;
      dbl = 1;
      p++;
    } else if (p == e) {
      return 0;
    }
  }
  return dbl ? groups <= 7 : groups == 8;
}

static inline const char *span_label(const char *p, const char *e) {
  return sip_skip_class(p, e, SIP_C_LABEL);
}

static int all_digits(const char *p, const char *e) {
  for (; p < e; p++)
    if ((unsigned)((unsigned char)*p - '0') > 9) return 0;
  return 1;
}

/* host at p: IPv6reference, or hostname / IPv4address (RFC 3261 §25.1). Labels of alphanum,
 * inner "-" and "_", an optional final "."; what they make is sip_host_kind()'s rule, as in
 * sip_uri.c ('_', a top label starting with a digit, all-digit names), so a host valid in a URI
 * is valid in a Via. Returns the end, or NULL. */
static const char *scan_host(const char *p, const char *e) {
  if (p < e && *p == '[') {
    const char *q = p + 1;
    while (q < e && (SIP_IS(*q, SIP_C_HEX) || *q == ':' || *q == '.')) q++;
    if (q >= e || *q != ']' || !ipv6_ok(p + 1, q)) return NULL;
    return q + 1;
  }
  /* the common IPv4 sent-by first */
  if (p < e && (unsigned)((unsigned char)*p - '0') <= 9) {
    const char *r = sip_ipv4_scan(p, e);
    if (r && (r == e || !SIP_IS(*r, SIP_C_HOST))) return r;
  }
  const char *q = p, *label, *top = NULL, *top_end = NULL;
  unsigned labels = 0;
  for (;;) {
    label = q;
    q = span_label(q, e);
    if (q == label) {
      /* an empty label: only a final "." may leave one */
      if (label == p || (label < e && *label == '.')) return NULL;
      break;
    }
    if (*label == '-' || q[-1] == '-') return NULL;
    top = label;
    top_end = q;
    labels++;
    if (q >= e || *q != '.') break;
    q++;
  }
  if (!all_digits(top, top_end)) return q;
  int digits_only = 1;
  for (const char *t = p; digits_only && t < top; t++)
    digits_only = *t == '.' || (unsigned)((unsigned char)*t - '0') <= 9;
  return sip_host_kind(p, q, digits_only, 1, labels) != SIP_HOST_NONE ? q : NULL;
}

int sip_host_ok(sip_str s) { return s.n && scan_host(s.p, s.p + s.n) == s.p + s.n; }

/* ---- params ---------------------------------------------------------------------------------- */

/* One ";name[=value]" (RFC 3261 §25.1 generic-param, with SEMI and EQUAL allowing LWS). The value
 * is a token, a quoted-string (quotes kept) or a host; ':' and brackets are accepted in unquoted
 * values so that IPv6 addresses (Via received, RFC 5118 §4.5) pass. *tok tells whether the value
 * is a plain token (tag and branch must be), without scanning it twice. An empty param before
 * another (";;") is skipped, not refused: the RFC 3428 §4 examples have them in Via and From. A
 * final ';' is refused (RFC 4475 §3.1.2.1: "Contact: <...>;;;;"). */
static inline int param_next(const char **pp, const char *e, sip_str *name, sip_str *value,
                             int *tok, const char **at) {
  const char *p = skip_lws(*pp, e);
  if (p == e) return 0;
  if (*p == ';') p = skip_lws(p + 1, e);
  while (p < e && *p == ';') p = skip_lws(p + 1, e);
  const char *q = scan_token(p, e);
  if (q == p) {
    *at = p;
    return -1;
  }
  *name = sip_str_make(p, (size_t)(q - p));
  *value = SIP_STR_NULL;
  *tok = 0;
  p = skip_lws(q, e);
  if (p < e && *p == '=') {
    p = skip_lws(p + 1, e);
    if (p < e && *p == '"') {
      q = scan_quoted(p, e);
      if (!q) {
        *at = p;
        return -1;
      }
    } else {
      q = scan_token(p, e);
      *tok = q > p;
      if (q < e && (*q == ':' || *q == '[' || *q == ']')) {
        *tok = 0;
        while (q < e && (SIP_IS(*q, SIP_C_TOKEN) || *q == ':' || *q == '[' || *q == ']')) q++;
      }
      if (q == p) {
        *at = p;
        return -1;
      }
    }
    *value = sip_str_make(p, (size_t)(q - p));
    p = skip_lws(q, e);
  }
  if (p < e && *p != ';') {
    *at = p;
    return -1;
  }
  *pp = p;
  return 1;
}

int sip_param_next(sip_str *rest, sip_str *name, sip_str *value) {
  if (!rest->p) return 0; /* an absent params slice (NULL + 0 would be undefined) */
  const char *p = rest->p, *e = rest->p + rest->n, *at;
  int tok;
  int r = param_next(&p, e, name, value, &tok, &at);
  if (r > 0) *rest = sip_str_make(p, (size_t)(e - p));
  return r;
}

int sip_param_find(sip_str params, const char *name, sip_str *value) {
  sip_str n, v;
  size_t len = strlen(name);
  while (sip_param_next(&params, &n, &v) > 0) {
    if (n.n == len && sip_str_ieq(n, name)) {
      if (value) *value = v;
      return 1;
    }
  }
  return 0;
}

/* ---- Via (RFC 3261 §20.42, §18.2.1; RFC 3581; RFC 5118 §4.5) --------------------------------- */

static int fail(const char **err, const char **err_at, const char *what, const char *at) {
  *err = what;
  *err_at = at;
  return -1;
}

/* SWS "/" SWS */
static const char *slash(const char *p, const char *e) {
  p = skip_lws(p, e);
  if (p >= e || *p != '/') return NULL;
  return skip_lws(p + 1, e);
}

static int via_slow(const char *p, size_t n, sip_via *v, const char **err, const char **err_at) {
  const char *e = p + n, *q, *t;
  sip_via_init(v);
  p = skip_lws(p, e);
  e = rtrim_lws(p, e);
  if (p == e) return fail(err, err_at, "bad Via header: empty value", p);
  /* sent-protocol = protocol-name SLASH protocol-version SLASH transport; the common spelling
   * "SIP/2.0/" is checked with one word compare */
  if (e - p > 8 && eq8(p, "sip/2.0/")) {
    v->proto = sip_str_make(p, 3);
    v->version = sip_str_make(p + 4, 3);
    q = p + 8;
  } else {
    t = scan_token(p, e);
    if (t == p) return fail(err, err_at, "bad Via header: bad protocol name", p);
    v->proto = sip_str_make(p, (size_t)(t - p));
    if (!(q = slash(t, e)))
      return fail(err, err_at, "bad Via header: expected '/' after protocol name", t);
    t = scan_token(q, e);
    if (t == q) return fail(err, err_at, "bad Via header: bad protocol version", q);
    v->version = sip_str_make(q, (size_t)(t - q));
    if (!(q = slash(t, e)))
      return fail(err, err_at, "bad Via header: expected '/' after protocol version", t);
  }
  t = scan_token(q, e);
  if (t == q) return fail(err, err_at, "bad Via header: bad transport", q);
  v->transport = sip_str_make(q, (size_t)(t - q));
  /* LWS sent-by */
  q = skip_lws(t, e);
  if (q == t) return fail(err, err_at, "bad Via header: expected whitespace before sent-by", t);
  t = scan_host(q, e);
  if (!t) return fail(err, err_at, "bad Via header: bad sent-by host", q);
  v->host = sip_str_make(q, (size_t)(t - q));
  q = skip_lws(t, e);
  if (q < e && *q == ':') {
    uint64_t port;
    const char *d = skip_lws(q + 1, e);
    t = scan_uint(d, e, 65535, &port);
    if (!t || port == 0) return fail(err, err_at, "bad Via header: bad port", d);
    v->port = (int)port;
    q = skip_lws(t, e);
  }
  if (q == e) return 0;
  if (*q != ';') return fail(err, err_at, "bad Via header: unexpected character after sent-by", q);
  v->params = sip_str_make(q + 1, (size_t)(e - q - 1));
  sip_str pn, pv;
  const char *at;
  int r, tok;
  uint64_t u;
  while ((r = param_next(&q, e, &pn, &pv, &tok, &at)) > 0) {
    switch (pn.n) {
    case 3:
      if (name_eq(pn.p, "ttl", 3)) {
        uint64_t ttl;
        if (!pv.p || pv.n > 3 || scan_uint(pv.p, pv.p + pv.n, 255, &ttl) != pv.p + pv.n)
          return fail(err, err_at, "bad Via header: bad ttl", pv.p ? pv.p : pn.p);
        v->ttl = (int)ttl;
      }
      break;
    case 5:
      if (name_eq(pn.p, "maddr", 5)) {
        if (!pv.p || !sip_host_ok(pv))
          return fail(err, err_at, "bad Via header: bad maddr", pv.p ? pv.p : pn.p);
        v->maddr = pv;
      } else if (name_eq(pn.p, "rport", 5)) {
        u = 0;
        if (pv.p && scan_uint(pv.p, pv.p + pv.n, 65535, &u) != pv.p + pv.n)
          return fail(err, err_at, "bad Via header: bad rport", pv.p);
        v->rport = (int)u;
      }
      break;
    case 6:
      if (name_eq(pn.p, "branch", 6)) {
        if (!tok) return fail(err, err_at, "bad Via header: bad branch", pv.p ? pv.p : pn.p);
        v->branch = pv;
      }
      break;
    case 8:
      if (name_eq(pn.p, "received", 8)) {
        /* IPv4address / IPv6address; an IPv6reference is accepted too (RFC 5118 §4.5). */
        int ok = pv.p && (sip_ipv4_exact(pv.p, pv.p + pv.n) || ipv6_ok(pv.p, pv.p + pv.n) ||
                          (pv.n > 2 && pv.p[0] == '[' && pv.p[pv.n - 1] == ']' &&
                           ipv6_ok(pv.p + 1, pv.p + pv.n - 1)));
        if (!ok) return fail(err, err_at, "bad Via header: bad received", pv.p ? pv.p : pn.p);
        v->received = pv;
      }
      break;
    }
  }
  if (r < 0) return fail(err, err_at, "bad Via header: bad parameter", at);
  return 0;
}

int sip_parse_via_rd(const char *p, size_t n, const char *rd, sip_via *v, const char **err,
                     const char **err_at) {
#ifdef SIP_SCAN_SSE2
  if (sip_fast_ok(p + n, rd)) {
    sip_via_init_fast(v);
    if (sip_via_fast_(p, p + n, v) == p + n) return 0;
  }
#else
  (void)rd;
#endif
  return via_slow(p, n, v, err, err_at);
}

int sip_parse_via(const char *p, size_t n, sip_via *v, const char **err, const char **err_at) {
  return sip_parse_via_rd(p, n, p + n, v, err, err_at);
}

/* ---- name-addr / addr-spec (RFC 3261 §20.10, §20.20, §20.39, §25.1) ------------------------ */

enum {
  AE_OK,
  AE_EMPTY,
  AE_QUOTE,
  AE_DISPLAY,
  AE_LAQUOT,
  AE_RAQUOT,
  AE_SPACE,
  AE_URI,
  AE_QMARK,
  AE_PARAM,
  AE_TAG,
  AE_JUNK,
  AE_STAR,
  AE_NAMEADDR,
  AE__N
};

#define ADDR_MSGS(H)                                                                       \
  {                                                                                        \
    NULL, "bad " H ": empty value", "bad " H ": unterminated quoted string",               \
      "bad " H ": display name is not a token list (quote it)",                            \
      "bad " H ": expected '<' after the display name", "bad " H ": missing '>'",          \
      "bad " H ": whitespace inside <>", "bad " H ": bad URI",                             \
      "bad " H ": '?' in a URI not enclosed in <>", "bad " H ": bad parameter",            \
      "bad " H ": bad tag parameter", "bad " H ": unexpected character after the address", \
      "bad " H ": '*' not allowed here", "bad " H ": URI must be enclosed in <>"           \
  }

/* Kinds: 0 is the generic "address"; then one per header that carries addresses. */
static const char *const addr_msgs[][AE__N] = {
  ADDR_MSGS("address"),         ADDR_MSGS("From header"),          ADDR_MSGS("To header"),
  ADDR_MSGS("Contact header"),  ADDR_MSGS("Route header"),         ADDR_MSGS("Record-Route header"),
  ADDR_MSGS("Path header"),     ADDR_MSGS("Service-Route header"), ADDR_MSGS("Reply-To header"),
  ADDR_MSGS("Refer-To header"), ADDR_MSGS("Referred-By header"),
};

static int addr_kind(sip_hdr_id id) {
  switch (id) {
  case SIP_H_FROM: return 1;
  case SIP_H_TO: return 2;
  case SIP_H_CONTACT: return 3;
  case SIP_H_ROUTE: return 4;
  case SIP_H_RECORD_ROUTE: return 5;
  case SIP_H_PATH: return 6;
  case SIP_H_SERVICE_ROUTE: return 7;
  case SIP_H_REPLY_TO: return 8;
  case SIP_H_REFER_TO: return 9;
  case SIP_H_REFERRED_BY: return 10;
  default: return 0;
  }
}

/* The URI of an address: any absoluteURI the URI parser accepts (RFC 4475 §3.3.4: other schemes
 * are valid syntax). */
static int uri_ok(const char *p, const char *e, const char **at) {
  sip_uri u;
  const char *err;
  if (sip_uri_parse(p, (size_t)(e - p), &u, &err, at) != 0) return 0;
  return 1;
}

static int addr_parse(const char *p, const char *e, sip_addr *a, int nameaddr_only,
                      const char **at) {
  const char *q, *t;
  a->star = a->bracketed = a->display_quoted = 0;
  a->display = a->uri = a->params = a->tag = SIP_STR_NULL;
  p = skip_lws(p, e);
  e = rtrim_lws(p, e);
  *at = p;
  if (p == e) return AE_EMPTY;
  if (*p == '*' && e - p == 1) {
    a->star = 1;
    return AE_OK;
  }
  if (*p == '"') {
    /* quoted display name: quotes removed, quoted-pairs kept */
    q = scan_quoted(p, e);
    if (!q) return AE_QUOTE;
    a->display = sip_str_make(p + 1, (size_t)(q - p - 2));
    a->display_quoted = 1;
    p = skip_lws(q, e);
    *at = p;
    if (p >= e || *p != '<') return AE_LAQUOT;
  } else if (*p != '<') {
    t = scan_token(p, e);
    if (t == p || t >= e || *t != ':') {
      /* display-name = *(token LWS): tokens up to the '<'. The LWS before '<' may be missing
       * (RFC 4475 §3.1.1.6: a grammar bug, accepted). */
      const char *d0 = p, *d1 = p;
      for (;;) {
        t = scan_token(p, e);
        if (t == p) {
          *at = p;
          return AE_DISPLAY;
        }
        d1 = t;
        p = skip_lws(t, e);
        if (p < e && *p == '<') break;
        if (p == e) {
          *at = p;
          return AE_LAQUOT;
        }
      }
      a->display = sip_str_make(d0, (size_t)(d1 - d0));
    }
  }
  if (p < e && *p == '<') {
    const char *u0 = p + 1;
    q = memchr(u0, '>', (size_t)(e - u0));
    if (!q) {
      *at = e;
      return AE_RAQUOT;
    }
    /* no LWS inside the brackets (RFC 4475 §3.1.2.14); whitespace further in is a bad URI */
    if (q > u0 && (SIP_IS(*u0, SIP_C_WS) || SIP_IS(q[-1], SIP_C_WS))) {
      *at = SIP_IS(*u0, SIP_C_WS) ? u0 : q - 1;
      return AE_SPACE;
    }
    a->bracketed = 1;
    a->uri = sip_str_make(u0, (size_t)(q - u0));
    if (!uri_ok(u0, q, at)) return AE_URI;
    p = q + 1;
  } else {
    /* addr-spec: the URI ends at the first ';' (what follows are header params), ',' or LWS;
     * a URI with '?' must be in <> (RFC 3261 §20.10, RFC 4475 §3.1.2.13). */
    if (nameaddr_only) return AE_NAMEADDR;
    const char *u0 = p;
    for (q = p; q < e && *q != ';' && *q != ',' && !SIP_IS(*q, SIP_C_WS); q++)
      if (*q == '?') {
        *at = q;
        return AE_QMARK;
      }
    a->uri = sip_str_make(u0, (size_t)(q - u0));
    if (!uri_ok(u0, q, at)) return AE_URI;
    p = q;
  }
  p = skip_lws(p, e);
  if (p == e) return AE_OK;
  if (*p != ';') {
    *at = p;
    return AE_JUNK;
  }
  a->params = sip_str_make(p + 1, (size_t)(e - p - 1));
  sip_str pn, pv;
  int r, tok;
  while ((r = param_next(&p, e, &pn, &pv, &tok, at)) > 0) {
    if (pn.n == 3 && name_eq(pn.p, "tag", 3)) {
      if (!tok) {
        *at = pn.p;
        return AE_TAG;
      }
      a->tag = pv;
    }
  }
  return r < 0 ? AE_PARAM : AE_OK;
}

int sip_parse_addr(const char *p, size_t n, sip_addr *a, const char **err, const char **err_at) {
  int r = addr_parse(p, p + n, a, 0, err_at);
  if (r == AE_OK) return 0;
  *err = addr_msgs[0][r];
  return -1;
}

int sip_parse_addr_hdr_rd(sip_hdr_id id, const char *p, size_t n, const char *rd, sip_addr *a,
                          const char **err, const char **err_at) {
  /* Route, Record-Route, Path and Service-Route are name-addr only (RFC 3261 §20.30, §20.34;
   * RFC 3327; RFC 3608). Only Contact may be "*" (§20.10). */
  int nameaddr_only =
    id == SIP_H_ROUTE || id == SIP_H_RECORD_ROUTE || id == SIP_H_PATH || id == SIP_H_SERVICE_ROUTE;
#ifdef SIP_SCAN_SSE2
  if (sip_fast_ok(p + n, rd) && sip_addr_fast_(p, p + n, rd, a, nameaddr_only) == p + n) return 0;
#else
  (void)rd;
#endif
  int r = addr_parse(p, p + n, a, nameaddr_only, err_at);
  if (r == AE_OK && a->star && id != SIP_H_CONTACT) r = AE_STAR;
  if (r == AE_OK) return 0;
  *err = addr_msgs[addr_kind(id)][r];
  return -1;
}

int sip_parse_addr_hdr(sip_hdr_id id, const char *p, size_t n, sip_addr *a, const char **err,
                       const char **err_at) {
  return sip_parse_addr_hdr_rd(id, p, n, p + n, a, err, err_at);
}

/* ---- CSeq (RFC 3261 §20.16, §8.1.1.5) -------------------------------------------------------- */

int sip_parse_cseq(const char *p, size_t n, uint32_t *num, sip_str *method, const char **err,
                   const char **err_at) {
  const char *e = p + n, *q, *t;
  uint64_t v;
  p = skip_lws(p, e);
  e = rtrim_lws(p, e);
  if (p == e || !SIP_IS(*p, SIP_C_DIGIT))
    return fail(err, err_at, "bad CSeq header: missing number", p);
  /* the sequence number must be less than 2^31 (§8.1.1.5) */
  q = scan_uint(p, e, 0x7fffffffu, &v);
  if (!q) return fail(err, err_at, "bad CSeq header: number out of range", p);
  t = skip_lws(q, e);
  if (t == e) return fail(err, err_at, "bad CSeq header: missing method", t);
  if (t == q) return fail(err, err_at, "bad CSeq header: expected whitespace after the number", q);
  q = scan_token(t, e);
  if (q == t) return fail(err, err_at, "bad CSeq header: bad method", t);
  if (q != e) return fail(err, err_at, "bad CSeq header: unexpected character after the method", q);
  *num = (uint32_t)v;
  *method = sip_str_make(t, (size_t)(q - t));
  return 0;
}

/* ---- media-type (RFC 3261 §20.15, §25.1) ----------------------------------------------------- */

int sip_parse_media_type(const char *p, size_t n, sip_str *type, sip_str *subtype,
                         sip_str *params) {
  const char *e = p + n, *q, *t, *at;
  p = skip_lws(p, e);
  e = rtrim_lws(p, e);
  t = scan_token(p, e);
  if (t == p || !(q = slash(t, e))) return -1;
  *type = sip_str_make(p, (size_t)(t - p));
  t = scan_token(q, e);
  if (t == q) return -1;
  *subtype = sip_str_make(q, (size_t)(t - q));
  p = skip_lws(t, e);
  *params = SIP_STR_NULL;
  if (p == e) return 0;
  if (*p != ';') return -1;
  *params = sip_str_make(p + 1, (size_t)(e - p - 1));
  sip_str pn, pv;
  int r, tok;
  while ((r = param_next(&p, e, &pn, &pv, &tok, &at)) > 0) {}
  return r < 0 ? -1 : 0;
}
