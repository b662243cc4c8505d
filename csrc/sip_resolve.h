/* sip_resolve.h: an asynchronous DNS resolver inside the libev loop, with a cache. c-ares sends
 * the queries and reads the replies on the loop's own io watchers and one timer (nothing ever
 * blocks); sip_dns.c reads the answers. Answers are cached by TTL, negative ones too (RFC 2308),
 * in a bounded table that evicts the least recently used entry; concurrent lookups of one name
 * share one query. Pure C, no Lua.
 *
 * The resolver's watchers do not keep the loop alive on their own; its timer runs (and holds the
 * loop) while a query is in flight. */
#ifndef SIP_RESOLVE_H
#define SIP_RESOLVE_H

#include <stddef.h>

#include "sip_dns.h"

struct ev_loop;
typedef struct sip_resolver sip_resolver;

typedef struct sip_resolver_config {
  const char *servers;  /* "host:port,[v6]:port,..." (NULL or "": the system's resolv.conf) */
  double timeout;       /* seconds for the first try of a query (0: 2); later tries wait longer */
  int tries;            /* tries per server (0: 2) */
  unsigned max_entries; /* cached names (0: 4096) */
  unsigned max_ttl;     /* cap on a record's TTL in seconds (0: 86400) */
  unsigned neg_ttl;     /* a negative answer without SOA, or a cap on the SOA's (0: 300) */
  unsigned fail_ttl;    /* a failed lookup (timeout, server failure, bad answer) (0: 5) */
} sip_resolver_config;

enum {
  SIP_RES_OK = 0, /* records */
  SIP_RES_NONAME, /* the name does not exist (NXDOMAIN) */
  SIP_RES_NODATA, /* the name has no records of that type */
  SIP_RES_FAIL,   /* timeout, server failure, a malformed answer */
  SIP_RES_CLOSED  /* the resolver was freed before an answer came */
};

typedef struct sip_resolve_result {
  int status;           /* SIP_RES_* */
  const char *err;      /* what went wrong (static, or the entry's own text) */
  unsigned n;           /* records */
  const sip_dns_rr *rr; /* n records, pool: their names (sip_dns_name over a fake answer) */
  const char *pool;
  double expires; /* loop time when the answer leaves the cache */
} sip_resolve_result;

/* The result is only valid during the callback. */
typedef void (*sip_resolve_cb)(void *ud, const sip_resolve_result *res);

/* NULL with *err on a bad configuration (servers that do not parse) or out of memory. */
sip_resolver *sip_resolver_new(struct ev_loop *loop, const sip_resolver_config *cfg,
                               const char **err);
/* Every lookup in flight gets SIP_RES_CLOSED. Not from inside a callback of this resolver. */
void sip_resolver_free(sip_resolver *r);

/* Look up name (text, case-insensitive) for type (SIP_DNS_A, AAAA, SRV, NAPTR).
 * 1: cached, *now holds the result (valid until the next call into the resolver), cb not called.
 * 0: a query is in flight; cb(ud, res) runs exactly once, later, from the loop (cb NULL: not
 *    cached, and nothing is asked).
 * -1: a name that cannot be asked, or out of memory: now->err says which. */
int sip_resolve(sip_resolver *r, const char *name, int type, sip_resolve_cb cb, void *ud,
                sip_resolve_result *now);

typedef struct sip_resolver_stats {
  unsigned entries, inflight;
  unsigned long long hits, misses, queries, evicted;
} sip_resolver_stats;
void sip_resolver_get_stats(const sip_resolver *r, sip_resolver_stats *st);

#endif
