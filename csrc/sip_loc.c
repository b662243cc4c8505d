/* sip_loc.c: the location table (see sip_loc.h). An entry is one block: the header, the key,
 * the record; a put of a known AOR reallocates that block and re-links it. */
#include "sip_loc.h"

#include <stdlib.h>
#include <string.h>

#include "sip_hash.h"
#include "sip_rand.h"

typedef struct entry {
  struct entry *next; /* hash chain */
  uint64_t hash;
  double expires; /* the record's earliest */
  uint32_t idx;   /* position in the heap */
  uint32_t klen, rlen;
  char data[]; /* key, then record */
} entry;

struct sip_loc {
  uint8_t hkey[16];
  entry **tab;
  size_t tabmask;
  entry **heap; /* every entry, ordered by expires; also the list of AORs */
  size_t n, hcap;
  size_t bytes; /* the entries' blocks */
};

sip_loc *sip_loc_new(void) {
  sip_loc *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->tabmask = 63;
  l->tab = calloc(l->tabmask + 1, sizeof *l->tab);
  if (!l->tab || sip_rand_bytes(l->hkey, sizeof l->hkey) != 0) {
    free(l->tab);
    free(l);
    return NULL;
  }
  return l;
}

void sip_loc_free(sip_loc *l) {
  if (!l) return;
  for (size_t i = 0; i < l->n; i++) free(l->heap[i]);
  free(l->heap);
  free(l->tab);
  free(l);
}

/* ---- framing ---- */

static uint32_t rd32(const char *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

static double rdexp(const char *p) {
  double v;
  memcpy(&v, p + 4, sizeof v);
  return v;
}

/* The earliest expiry of a well-framed record, in *first; -1 when it is not framed, 0 when it
 * holds no binding, else 1. */
static int record_check(const char *rec, size_t rlen, double *first) {
  if (rlen == 0) return 0;
  if (rlen < SIP_LOC_HEAD || rlen > SIP_LOC_MAX) return -1;
  uint32_t count = rd32(rec);
  size_t at = SIP_LOC_HEAD;
  for (uint32_t i = 0; i < count; i++) {
    if (rlen - at < SIP_LOC_BINDING) return -1;
    uint32_t body = rd32(rec + at);
    double e = rdexp(rec + at);
    if (e != e) return -1; /* NaN: would never come due */
    if (i == 0 || e < *first) *first = e;
    at += SIP_LOC_BINDING;
    if (rlen - at < body) return -1;
    at += body;
  }
  if (at != rlen) return -1;
  return count > 0;
}

static double first_of(const char *rec, size_t rlen) {
  double first = 0;
  record_check(rec, rlen, &first);
  return first;
}

/* ---- heap on expires ---- */

static void heap_place(sip_loc *l, size_t i, entry *e) {
  l->heap[i] = e;
  e->idx = (uint32_t)i;
}

static void heap_fix(sip_loc *l, size_t i) {
  entry *e = l->heap[i];
  while (i > 0 && l->heap[(i - 1) / 2]->expires > e->expires) {
    heap_place(l, i, l->heap[(i - 1) / 2]);
    i = (i - 1) / 2;
  }
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= l->n) break;
    if (c + 1 < l->n && l->heap[c + 1]->expires < l->heap[c]->expires) c++;
    if (l->heap[c]->expires >= e->expires) break;
    heap_place(l, i, l->heap[c]);
    i = c;
  }
  heap_place(l, i, e);
}

static void heap_remove(sip_loc *l, entry *e) {
  size_t i = e->idx;
  l->n--;
  if (i == l->n) return;
  heap_place(l, i, l->heap[l->n]);
  heap_fix(l, i);
}

/* ---- hash table ---- */

static entry **slot_of(const sip_loc *l, const char *key, size_t klen, uint64_t h) {
  entry **p = &l->tab[h & l->tabmask];
  for (; *p; p = &(*p)->next)
    if ((*p)->hash == h && (*p)->klen == klen && memcmp((*p)->data, key, klen) == 0) break;
  return p;
}

static void grow_table(sip_loc *l) {
  size_t nsz = (l->tabmask + 1) * 2;
  entry **nt = calloc(nsz, sizeof *nt);
  if (!nt) return; /* longer chains, still correct */
  for (size_t i = 0; i <= l->tabmask; i++)
    for (entry *e = l->tab[i], *nx; e; e = nx) {
      nx = e->next;
      e->next = nt[e->hash & (nsz - 1)];
      nt[e->hash & (nsz - 1)] = e;
    }
  free(l->tab);
  l->tab = nt;
  l->tabmask = nsz - 1;
}

static size_t entry_size(size_t klen, size_t rlen) { return sizeof(entry) + klen + rlen; }

static void drop(sip_loc *l, entry **slot) {
  entry *e = *slot;
  *slot = e->next;
  heap_remove(l, e);
  l->bytes -= entry_size(e->klen, e->rlen);
  free(e);
}

/* A new record for the entry at *slot: the block is reallocated, and the chain and the heap
 * point at the new one. */
static int rewrite(sip_loc *l, entry **slot, const void *rec, size_t rlen, double first) {
  entry *e = *slot;
  size_t old = entry_size(e->klen, e->rlen);
  entry *ne = realloc(e, entry_size(e->klen, rlen));
  if (!ne) return SIP_LOC_ENOMEM;
  *slot = ne;
  l->heap[ne->idx] = ne;
  memcpy(ne->data + ne->klen, rec, rlen);
  l->bytes += entry_size(ne->klen, rlen) - old;
  ne->rlen = (uint32_t)rlen;
  ne->expires = first;
  heap_fix(l, ne->idx);
  return SIP_LOC_OK;
}

int sip_loc_put(sip_loc *l, const char *key, size_t klen, const void *rec, size_t rlen) {
  double first = 0;
  int has = record_check(rec, rlen, &first);
  if (has < 0 || klen > UINT32_MAX) return SIP_LOC_EFRAME;
  uint64_t h = sip_siphash(l->hkey, key, klen);
  entry **slot = slot_of(l, key, klen, h);
  if (*slot) {
    if (!has) {
      drop(l, slot);
      return SIP_LOC_OK;
    }
    return rewrite(l, slot, rec, rlen, first);
  }
  if (!has) return SIP_LOC_OK;
  if (l->n == l->hcap) {
    size_t cap = l->hcap ? l->hcap * 2 : 64;
    entry **nh = realloc(l->heap, cap * sizeof *nh);
    if (!nh) return SIP_LOC_ENOMEM;
    l->heap = nh;
    l->hcap = cap;
  }
  entry *e = malloc(entry_size(klen, rlen));
  if (!e) return SIP_LOC_ENOMEM;
  e->hash = h;
  e->expires = first;
  e->klen = (uint32_t)klen;
  e->rlen = (uint32_t)rlen;
  memcpy(e->data, key, klen);
  memcpy(e->data + klen, rec, rlen);
  e->next = NULL;
  *slot = e;
  l->bytes += entry_size(klen, rlen);
  heap_place(l, l->n++, e);
  heap_fix(l, e->idx);
  if (l->n > l->tabmask + 1) grow_table(l);
  return SIP_LOC_OK;
}

const char *sip_loc_get(const sip_loc *l, const char *key, size_t klen, size_t *rlen) {
  entry *e = *slot_of(l, key, klen, sip_siphash(l->hkey, key, klen));
  if (!e) return NULL;
  *rlen = e->rlen;
  return e->data + e->klen;
}

/* The bindings of e that expire after now, written over the old record in a new block. */
static size_t prune(sip_loc *l, entry **slot, double now) {
  entry *e = *slot;
  const char *rec = e->data + e->klen;
  char *keep = malloc(e->rlen);
  if (!keep) return 0;
  uint32_t count = rd32(rec), left = 0;
  size_t at = SIP_LOC_HEAD, out = SIP_LOC_HEAD;
  for (uint32_t i = 0; i < count; i++) {
    size_t len = SIP_LOC_BINDING + rd32(rec + at);
    if (rdexp(rec + at) > now) {
      memcpy(keep + out, rec + at, len);
      out += len;
      left++;
    }
    at += len;
  }
  memcpy(keep, &left, 4);
  size_t removed = count - left;
  int rc = left ? rewrite(l, slot, keep, out, first_of(keep, out)) : (drop(l, slot), SIP_LOC_OK);
  free(keep);
  return rc == SIP_LOC_OK ? removed : 0;
}

size_t sip_loc_sweep(sip_loc *l, double now) {
  size_t removed = 0;
  while (l->n && l->heap[0]->expires <= now) {
    entry *top = l->heap[0];
    size_t r = prune(l, slot_of(l, top->data, top->klen, top->hash), now);
    if (!r) break; /* out of memory: the rest at the next sweep */
    removed += r;
  }
  return removed;
}

size_t sip_loc_count(const sip_loc *l) { return l->n; }

const char *sip_loc_key(const sip_loc *l, size_t i, size_t *klen) {
  if (i >= l->n) return NULL;
  *klen = l->heap[i]->klen;
  return l->heap[i]->data;
}

size_t sip_loc_bytes(const sip_loc *l) {
  return l->bytes + (l->tabmask + 1) * sizeof *l->tab + l->hcap * sizeof *l->heap;
}
