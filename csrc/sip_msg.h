/* sip_msg.h: a parsed SIP message (RFC 3261 §7, §20, §25), its header index, and the typed views of
 * the headers the stack needs. Zero-copy: every slice points into the caller's buffer. */
#ifndef SIP_MSG_H
#define SIP_MSG_H

#include "sip_str.h"
#include "sip_uri.h"

/* Known header names. The index gives every header an id; SIP_H_OTHER for the rest. Keep in sync
 * with the name table in sip_hdr.c (full and compact forms, RFC 3261 §7.3.3 and the IANA registry). */
typedef enum sip_hdr_id {
  SIP_H_OTHER = 0,
  SIP_H_VIA,     /* v */
  SIP_H_FROM,    /* f */
  SIP_H_TO,      /* t */
  SIP_H_CALL_ID, /* i */
  SIP_H_CSEQ,
  SIP_H_CONTACT, /* m */
  SIP_H_MAX_FORWARDS,
  SIP_H_CONTENT_LENGTH,   /* l */
  SIP_H_CONTENT_TYPE,     /* c */
  SIP_H_CONTENT_ENCODING, /* e */
  SIP_H_EXPIRES,
  SIP_H_MIN_EXPIRES,
  SIP_H_ROUTE,
  SIP_H_RECORD_ROUTE,
  SIP_H_PATH,
  SIP_H_SERVICE_ROUTE,
  SIP_H_ALLOW,
  SIP_H_SUPPORTED, /* k */
  SIP_H_REQUIRE,
  SIP_H_PROXY_REQUIRE,
  SIP_H_UNSUPPORTED,
  SIP_H_ACCEPT,
  SIP_H_ACCEPT_ENCODING,
  SIP_H_ACCEPT_LANGUAGE,
  SIP_H_WWW_AUTHENTICATE,
  SIP_H_AUTHORIZATION,
  SIP_H_PROXY_AUTHENTICATE,
  SIP_H_PROXY_AUTHORIZATION,
  SIP_H_AUTHENTICATION_INFO,
  SIP_H_SUBJECT,         /* s */
  SIP_H_EVENT,           /* o */
  SIP_H_ALLOW_EVENTS,    /* u */
  SIP_H_REFER_TO,        /* r */
  SIP_H_REFERRED_BY,     /* b */
  SIP_H_SESSION_EXPIRES, /* x */
  SIP_H_MIN_SE,
  SIP_H_RSEQ,
  SIP_H_RACK,
  SIP_H_RETRY_AFTER,
  SIP_H_USER_AGENT,
  SIP_H_SERVER,
  SIP_H_DATE,
  SIP_H_TIMESTAMP,
  SIP_H_WARNING,
  SIP_H_CONTENT_DISPOSITION,
  SIP_H_CONTENT_LANGUAGE,
  SIP_H_MIME_VERSION,
  SIP_H_ORGANIZATION,
  SIP_H_PRIORITY,
  SIP_H_REPLY_TO,
  SIP_H_IN_REPLY_TO,
  SIP_H_ALERT_INFO,
  SIP_H_CALL_INFO,
  SIP_H_ERROR_INFO,
  SIP_H_REASON,
  SIP_H_ACCEPT_CONTACT,      /* a */
  SIP_H_REJECT_CONTACT,      /* j */
  SIP_H_REQUEST_DISPOSITION, /* d */
  SIP_H_IDENTITY,            /* y */
  SIP_H_SUBSCRIPTION_STATE,
  SIP_H__COUNT
} sip_hdr_id;

/* One entry of the header index. A header line whose header is a comma-separated list (Via,
 * Contact, Route, Allow, ...) gives one entry per element, split outside quotes and <>. */
typedef struct sip_hdr {
  sip_str name;   /* as written (full or compact form) */
  sip_str value;  /* one value, trimmed; may contain CRLF+WS from line folding (treat as SP) */
  uint16_t id;    /* sip_hdr_id */
  uint16_t line;  /* ordinal of the header line it came from: entries of one line share it */
  uint16_t flags; /* SIP_HF_* */
  uint16_t next;  /* index of the next entry with the same id, or 0xffff */
} sip_hdr;

enum {
  SIP_HF_FOLDED = 1 << 0, /* value contains line folding: unfold before showing it */
  SIP_HF_OWNED = 1 << 1,  /* name/value live in memory the message owns (sip_build.c) */
  SIP_HF_DELETED = 1 << 2 /* removed by an edit; skipped by lookups and serialization */
};

#define SIP_NO_HDR 0xffff

/* Methods we know by id (RFC 3261, 3262, 3265, 3311, 3428, 3515, 3903, 6086). */
typedef enum sip_method_id {
  SIP_M_OTHER = 0,
  SIP_M_INVITE,
  SIP_M_ACK,
  SIP_M_BYE,
  SIP_M_CANCEL,
  SIP_M_OPTIONS,
  SIP_M_REGISTER,
  SIP_M_PRACK,
  SIP_M_SUBSCRIBE,
  SIP_M_NOTIFY,
  SIP_M_PUBLISH,
  SIP_M_INFO,
  SIP_M_REFER,
  SIP_M_MESSAGE,
  SIP_M_UPDATE,
  SIP_M__COUNT
} sip_method_id;

/* Case-sensitive (methods are case-sensitive, RFC 3261 §7.1). */
sip_method_id sip_method_lookup(const char *p, size_t n);
const char *sip_method_name(sip_method_id m);

/* Header name lookup (case-insensitive, compact forms understood) and canonical names. */
sip_hdr_id sip_hdr_lookup(const char *p, size_t n);
const char *sip_hdr_name(sip_hdr_id id); /* "Call-ID", "CSeq", "WWW-Authenticate", ... */
int sip_hdr_is_list(sip_hdr_id id);      /* 1 when its values are comma-separated elements */

/* Typed views ------------------------------------------------------------------------------------*/

/* Via (RFC 3261 §20.42, §18.2.1; RFC 3581 rport). */
typedef struct sip_via {
  sip_str proto;     /* "SIP" */
  sip_str version;   /* "2.0" */
  sip_str transport; /* "UDP", "TCP", "TLS", "SCTP", "WS", ... as written */
  sip_str host;      /* sent-by host; IPv6 with brackets */
  int port;          /* sent-by port, 0 when absent */
  sip_str branch;    /* .p == NULL when absent */
  sip_str received;  /* .p == NULL when absent */
  sip_str maddr;     /* .p == NULL when absent */
  int rport;         /* -1 absent, 0 present without value, else the value */
  int ttl;           /* -1 absent */
  sip_str params;    /* every via-param, raw, without the first ';' */
} sip_via;

/* name-addr / addr-spec with header params: From, To, Contact, Route, Record-Route, Path,
 * Reply-To, Refer-To, ... (RFC 3261 §20.10, §25.1). */
typedef struct sip_addr {
  int star;      /* Contact: * (nothing else is set) */
  int bracketed; /* URI written inside <> */
  sip_str
    display; /* display name as written: quotes removed, quoted-pairs kept; .p NULL when none */
  int display_quoted;
  sip_str uri;    /* the URI text */
  sip_str params; /* header params, raw, without the first ';' */
  sip_str tag;    /* tag param; .p == NULL when absent */
} sip_addr;

/* Typed parsers over one value (as found in sip_hdr.value). Each returns 0, or -1 with *err set
 * to a static reason and *err_at to the offending byte within [p, p+n]. */
int sip_parse_via(const char *p, size_t n, sip_via *v, const char **err, const char **err_at);
int sip_parse_addr(const char *p, size_t n, sip_addr *a, const char **err, const char **err_at);
/* The same with the rules of one header: Route, Record-Route, Path and Service-Route must be
 * name-addr (<...>), only Contact may be "*", and *err names the header ("bad To header: ..."). */
int sip_parse_addr_hdr(sip_hdr_id id, const char *p, size_t n, sip_addr *a, const char **err,
                       const char **err_at);
int sip_parse_cseq(const char *p, size_t n, uint32_t *num, sip_str *method, const char **err,
                   const char **err_at);
/* 1*DIGIT with optional surrounding LWS, at most max. Returns 0 or -1. */
int sip_parse_uint(const char *p, size_t n, uint64_t max, uint64_t *out);
/* Iterate ";name[=value]" params: *rest is advanced; returns 1 per param, 0 at the end, -1 on
 * bad syntax. Values keep their quotes. */
int sip_param_next(sip_str *rest, sip_str *name, sip_str *value);
/* Find a param by case-insensitive name in a raw params slice. 1 found, 0 not. */
int sip_param_find(sip_str params, const char *name, sip_str *value);
/* Content-Type / media-type: type "/" subtype *(;param). */
int sip_parse_media_type(const char *p, size_t n, sip_str *type, sip_str *subtype, sip_str *params);
/* Is the slice a token (RFC 3261 §25.1)? */
int sip_is_token(const char *p, size_t n);

/* The message -------------------------------------------------------------------------------------*/

typedef struct sip_limits {
  size_t max_msg;       /* whole message, default 65536 */
  unsigned max_headers; /* index entries, default 256 */
  size_t max_line;      /* one physical line, default 8192 */
} sip_limits;

extern const sip_limits sip_default_limits;

typedef struct sip_error {
  int status;       /* the response the RFC asks for: 400, 505, 501, 513 ...; 0 when none */
  size_t off;       /* byte offset from the start of the message (m->buf; sip_parse skips leading
                       CRLFs, so this is the caller's buffer unless it began with some) */
  const char *what; /* static text: "bad Via header: missing branch" */
} sip_error;

typedef struct sip_msg {
  const char *buf; /* start of the message */
  size_t len;      /* bytes of this message, start line to end of body (extra octets excluded) */

  int is_request;
  sip_str method; /* requests */
  sip_method_id method_id;
  sip_str ruri; /* request-URI text */
  sip_uri uri;  /* parsed request-URI */
  int status;   /* responses: 100..699 */
  sip_str reason;
  sip_str version; /* "SIP/2.0" */

  sip_hdr *hdr; /* the index, caller's storage */
  unsigned nhdr, maxhdr;
  unsigned nlines;              /* header lines */
  uint16_t first[SIP_H__COUNT]; /* first entry per id, SIP_NO_HDR when none */
  uint16_t count[SIP_H__COUNT]; /* entries per id */

  sip_str body;

  /* typed results of the full parse; valid when sip_parse returned 0 */
  sip_via via; /* top Via */
  sip_addr from, to;
  sip_str call_id;
  uint32_t cseq;
  sip_str cseq_method;
  sip_method_id cseq_method_id;
  int64_t content_length; /* -1 when absent */
  int max_forwards;       /* -1 when absent */
  int64_t expires;        /* -1 when absent; clamped to 2^32-1 */

  sip_error err; /* set when sip_parse fails */
} sip_msg;

enum {
  SIP_PARSE_DGRAM = 0,      /* datagram: extra octets after Content-Length dropped (§18.3); a
                               missing Content-Length means the rest of the datagram */
  SIP_PARSE_STREAM = 1 << 0 /* stream: Content-Length is mandatory (§18.3, §20.14) */
};

/* Parse one message from buf[0..len). hdr/maxhdr is the index storage (the limit is the smaller of
 * maxhdr and lim->max_headers; lim NULL means sip_default_limits). Fills m; returns 0, or -1 with
 * m->err set. On an error in a header's value (after the index is complete), m->nhdr and the
 * index stay valid so the caller can still answer the request (for example 400 with the reason);
 * the first such error is reported. A bad start line (505 for another version, 400 for a bad
 * Request-URI...) is reported as well, but the headers are still indexed after it, so that the
 * request can be answered. A structural error (a header line's syntax, limits) stops the parse
 * and is reported unless the start line was bad; the entries before it stay valid. Leading
 * CRLFs are skipped (m->buf is the start line). Never reads outside buf[0..len), never allocates. */
int sip_parse(const char *buf, size_t len, sip_msg *m, sip_hdr *hdr, unsigned maxhdr,
              const sip_limits *lim, unsigned flags);

/* Move a parsed message to a copy of its bytes: every slice into the n bytes at m->buf that were
 * copied to `to` (the start line, the index m->hdr, the typed results, the body) is pointed at the
 * same offset of the copy, so the result is what sip_parse of the copy would give, without parsing
 * again. n is m->len for a message that parsed; a failed parse may have indexed further. The index
 * must already be where the moved message keeps it (copy it first and set m->hdr). */
void sip_msg_rebase(sip_msg *m, const char *to, size_t n);

/* Stream framing (TCP/TLS, RFC 3261 §18.3). Leading CRLFs (keepalives, RFC 5626 §3.5.1) are
 * counted into *skip. Returns the length of the message that follows them (> 0), 0 when more
 * bytes are needed, -1 on a framing error (e set: missing, bad or duplicate Content-Length 400,
 * too large 513 -- refused as soon as the header section or the Content-Length shows it, without
 * waiting for the bytes). Stateless: each call rescans the header section (at most max_msg
 * bytes), so call it once per read, not once per byte. */
long sip_frame_stream(const char *buf, size_t len, const sip_limits *lim, size_t *skip,
                      sip_error *e);

/* The application-layer checks of RFC 3261 §8.2.2 / §16.3 on a parsed message: exactly one
 * Call-ID, From, To and CSeq, at most one Max-Forwards (a missing one is left to the proxy, which
 * adds it, §16.6 step 3, so RFC 2543 requests pass), and a top Via. Returns 0, or the status to
 * answer (400) with e set ("missing Call-ID header", "duplicate To header"). Works on responses
 * too (Max-Forwards is not checked there). */
int sip_msg_check_request(const sip_msg *m, sip_error *e);

/* Lookups on a parsed message. */
const sip_hdr *sip_msg_find(const sip_msg *m, sip_hdr_id id);                   /* first of id */
const sip_hdr *sip_msg_find_name(const sip_msg *m, const char *name, size_t n); /* any name */
static inline const sip_hdr *sip_msg_next(const sip_msg *m, const sip_hdr *h) {
  return h->next == SIP_NO_HDR ? NULL : &m->hdr[h->next];
}

#endif
