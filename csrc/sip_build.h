/* sip_build.h: building messages (RFC 3261 §8.1.1, §8.2.6, §9.1, §17.1.1.3), editing a parsed
 * message's header list, and serializing it. */
#ifndef SIP_BUILD_H
#define SIP_BUILD_H

#include "sip_buf.h"
#include "sip_msg.h"
#include "sip_rand.h"

/* Extra Via parameters a server adds to the top Via of a request it received (RFC 3261 §18.2.1
 * received, RFC 3581 §4 rport): they are copied into every response built for it. */
typedef struct sip_via_fix {
  const char *received; /* NULL: none */
  int rport;            /* 0: none (or keep as sent) */
} sip_via_fix;

/* Write the Via value with received/rport set (RFC 3261 §18.2.1, RFC 3581 §4): existing received
 * and rport params are replaced, every other param is kept in order. 1 when fixed, 0 when value
 * was written as it is (nothing to set, or it does not parse). */
int sip_build_via_value(sip_buf *b, sip_str value, const sip_via_fix *fix);

/* Text a caller puts into a message ------------------------------------------------------------
 * A CR or LF inside a header value, reason phrase or URI ends its line early: what follows would
 * pass as more headers, or after an empty line as a body and a second message on a stream (request
 * smuggling). A NUL ends the text for C readers. Every edit and builder refuses all three; the
 * parser never needs this scan (it splits lines itself). */

/* The first CR, LF or NUL in p[0..n), or NULL when there is none. */
const char *sip_bad_text_byte(const char *p, size_t n);

/* Preformatted header lines (a reply's extra headers): each "name: value" CRLF, name a token
 * (RFC 3261 §25.1), value without CR, LF or NUL (so no folding and no empty line). 0, or -1 with
 * *what (static text) and *name (the name of the bad line, empty when the name is the problem). */
int sip_check_header_lines(const char *p, size_t n, sip_str *name, const char **what);
/* Append lines that passed sip_check_header_lines, without any Content-Length among them: the
 * writer of a message gives the body's own (§20.14). */
void sip_put_header_lines(sip_buf *b, const char *p, size_t n);

/* A response to req (§8.2.6.2): copies every Via (the top one with fix applied), From, To (adding
 * ";tag=to_tag" when To has no tag and status > 100), Call-ID, CSeq, and for 100 a Timestamp;
 * then extra (header lines that pass sip_check_header_lines, may be NULL; a Content-Length among
 * them is dropped), then Content-Type and the Content-Length of the body (§20.14), and the body.
 * reason NULL picks the RFC's phrase for the code. Returns 0, or -1 when out ran out of memory
 * (out->oom), or with out unchanged when extra, reason, content_type or fix->received hold CR,
 * LF or NUL, or to_tag is not a token (§19.3). Works on a request
 * whose index is complete even when sip_parse failed on a header value (to answer 400), copying
 * the raw header values it has. */
int sip_build_response(sip_buf *out, const sip_msg *req, int status, const char *reason,
                       const char *to_tag, const sip_via_fix *fix, const char *extra,
                       const char *content_type, const char *body, size_t body_len);

/* The To tag of a stateless response to req (RFC 3261 §8.2.7): the same for every
 * retransmission of a request, another for another request (a keyed hash of its raw top Via,
 * From, Call-ID and CSeq values, which identify it even when a value did not parse). 0, or -1
 * if the RNG failed. */
int sip_stateless_tag(const sip_msg *req, char out[SIP_TAG_LEN + 1]);
/* A proxy's loop detection key of req (RFC 3261 §16.3 step 4, §16.6 step 8): a keyed hash of its
 * current Request-URI and raw From, To, Call-ID and CSeq values; the same when the request comes
 * back unchanged, another on a spiral (another Request-URI). 0, or -1 if the RNG failed. */
int sip_loop_key(const sip_msg *req, uint64_t *out);
/* The ACK for a non-2xx final response to invite (§17.1.1.3): Request-URI, Call-ID, From, CSeq
 * number and the top Via of the INVITE; To from the response; Route headers of the INVITE;
 * Max-Forwards 70; Content-Length 0. */
int sip_build_ack(sip_buf *out, const sip_msg *invite, const sip_msg *response);

/* The CANCEL for a pending request (§9.1): same Request-URI, Call-ID, From, To, CSeq number and
 * top Via (branch included), Route headers, method CANCEL. */
int sip_build_cancel(sip_buf *out, const sip_msg *request);

/* The standard reason phrase of a status code ("Not Found"), or "Unknown" . */
const char *sip_reason_phrase(int status);

/* Editable messages --------------------------------------------------------------------------
 * A parsed message becomes editable with sip_emsg_init, which copies its index into storage the
 * edit owns; names, values and bodies added later are copied into blocks it owns, so the edit
 * only needs the original buffer to outlive it. Lookups (sip_msg_find, m.first/next) stay valid
 * after every edit. */
typedef struct sip_blk sip_blk;

typedef struct sip_emsg {
  sip_msg m;     /* m.hdr is owned, m.maxhdr its capacity */
  sip_blk *blks; /* owned strings */
  int hdr_owned; /* m.hdr was allocated here (else it is the caller's until the first edit) */
  int dirty;     /* 1 once anything changed: the original bytes no longer serialize it */
} sip_emsg;

int sip_emsg_init(sip_emsg *e, const sip_msg *parsed);
/* Like sip_emsg_init, but keeps using parsed->hdr (the caller's storage, which must then live as
 * long as e) until the first edit copies it. */
void sip_emsg_wrap(sip_emsg *e, const sip_msg *parsed);
int sip_emsg_request(sip_emsg *e, const char *method, size_t ml, const char *ruri, size_t rl);
int sip_emsg_response(sip_emsg *e, int status, const char *reason, size_t rl);
void sip_emsg_free(sip_emsg *e);

/* Edits return 0, -1 when out of memory, or SIP_EDIT_REFUSED (nothing changed) for a name that
 * is not a token, or a value, URI or reason phrase with CR, LF or NUL (sip_bad_text_byte). */
#define SIP_EDIT_REFUSED (-2)

/* Insert a header entry at index pos (0 = first line, m.nhdr = last). */
int sip_emsg_insert(sip_emsg *e, unsigned pos, const char *name, size_t nl, const char *val,
                    size_t vl);
int sip_emsg_remove(sip_emsg *e, unsigned idx);
int sip_emsg_set_value(sip_emsg *e, unsigned idx, const char *val, size_t vl);
/* Replace the body (copied) and set Content-Length to match (§20.14); content_type NULL keeps
 * the current Content-Type, "" removes it. */
int sip_emsg_set_body(sip_emsg *e, const char *body, size_t n, const char *content_type);
int sip_emsg_set_ruri(sip_emsg *e, const char *ruri, size_t n);
int sip_emsg_set_status(sip_emsg *e, int status, const char *reason, size_t rl);

/* Rebuild first[], count[] and the next chains after the index changed. */
void sip_msg_reindex(sip_msg *m);

/* Serialize: start line, one line per header line ("Name: value"; the values of a list line that
 * are still consecutive entries joined by ", ", as they came; inserted entries on lines of their
 * own), blank line, body. Content-Length
 * is always the body's length (§18.3, §20.14): written where the first Content-Length entry
 * stands (or after the last header when there is none), whatever the entries say; other
 * Content-Length entries are left out. So an edit cannot make the bytes frame as something else
 * on a stream. */
int sip_msg_serialize(const sip_msg *m, sip_buf *out);

/* The bytes that carry e: its original bytes while they still frame it exactly (never edited,
 * and they have a Content-Length: a datagram without one must not go onto a stream as is),
 * else e serialized into out. Sets *p, *n; returns 0, or -1 when out ran out of memory. */
int sip_emsg_bytes(const sip_emsg *e, sip_buf *out, const char **p, size_t *n);

#endif
