/* sip_loc.h: storage for the location service (RFC 3261 §10.3, §16.5): address-of-record ->
 * its bindings, outside any garbage-collected heap. A registrar with a million bindings keeps
 * them here so that no collector walks them: one allocation per AOR (key and record together),
 * a hash table keyed with SipHash under a random key (AORs come from the network), and a binary
 * min-heap on each AOR's earliest expiry, so that a sweep touches only what is due.
 *
 * A record is the AOR's bindings, framed so that the table can expire them one by one, each
 * binding's body opaque (the Lua binding writes the fields there):
 *   record  := u32 count, then count times: u32 body_len, f64 expires, body_len bytes
 * (host byte order; expires in the caller's clock, seconds). Pure C, no I/O, no clock. */
#ifndef SIP_LOC_H
#define SIP_LOC_H

#include <stddef.h>
#include <stdint.h>

typedef struct sip_loc sip_loc;

/* NULL when out of memory or when the random hash key could not be drawn. */
sip_loc *sip_loc_new(void);
void sip_loc_free(sip_loc *l);

enum { SIP_LOC_OK = 0, SIP_LOC_ENOMEM = -1, SIP_LOC_EFRAME = -2 };
/* Replace the bindings of key with rec (copied). A record of no binding (or rlen 0) removes the
 * AOR. SIP_LOC_EFRAME: rec is not framed as above; on any error nothing changed. */
int sip_loc_put(sip_loc *l, const char *key, size_t klen, const void *rec, size_t rlen);
/* The record of key, or NULL. Valid until the next put or sweep. Expired bindings are still in
 * it until a sweep: the reader skips those at or before its now. */
const char *sip_loc_get(const sip_loc *l, const char *key, size_t klen, size_t *rlen);
/* Remove every binding that expires at or before now; an AOR left without one goes. Returns the
 * number of bindings removed (a sweep that runs out of memory rewriting a record leaves that
 * AOR as it was, due again at the next sweep). */
size_t sip_loc_sweep(sip_loc *l, double now);

/* The AORs, in no order: key i for i < sip_loc_count (valid until the next put or sweep). */
size_t sip_loc_count(const sip_loc *l);
const char *sip_loc_key(const sip_loc *l, size_t i, size_t *klen);
/* Bytes held: entries (keys and records), the hash table and the heap. */
size_t sip_loc_bytes(const sip_loc *l);

/* The framing, for writers and readers of records. */
#define SIP_LOC_HEAD 4       /* u32 count */
#define SIP_LOC_BINDING 12   /* u32 body_len, f64 expires */
#define SIP_LOC_MAX 0xffffff /* bytes in a record */

#endif
