/* lsip_alloc.c: a free-block cache in front of the Lua state's allocator.
 *
 * A SIP server allocates and frees the same small objects at a high rate (a message, its
 * strings, a transaction handle, a few tables per request), while the C core keeps each
 * answered transaction for Timer J (32 s over UDP). glibc's per-thread cache holds 7 blocks per
 * size; the rest of every collector sweep goes through its bins, where it meets the long-lived
 * transactions, and a larger request then consolidates them (malloc_consolidate). Under a
 * REGISTER load perf put a fifth of the server's CPU in malloc and free. Here freed blocks wait
 * in per-size lists (up to CACHE_MAX bytes in all) for the next allocation of their size.
 *
 * Only installed over the standard allocator of lauxlib (realloc/free): its blocks are malloc
 * blocks, so malloc_usable_size tells a freed block's real size, and blocks can move between
 * this cache and free() in either direction. Under any other allocator nothing changes. */
#include <malloc.h>
#include <stdlib.h>

#include "lsip.h"

#define NCLASS \
  256                         /* 16-byte classes: blocks of up to 4,095 usable bytes (a received
                                message with its index is about 1.4 KB) */
#define CACHE_MAX (16u << 20) /* bytes held in all lists */
#define TRIM_KEEP (4u << 20)  /* what sip.core.trim_memory() leaves in them */

typedef struct cache {
  lua_Alloc prev;
  void *prev_ud;
  size_t bytes;
  void *head[NCLASS];
} cache;

/* Class k holds blocks of at least 16k usable bytes. A request of n bytes takes class
 * ceil(n/16), and on a miss gets a block of 16 * ceil(n/16) bytes, which returns to that class. */
static void *cached_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  cache *c = ud;
  (void)osize;
  if (nsize == 0) {
    if (ptr) {
      size_t k = malloc_usable_size(ptr) >> 4;
      if (k < NCLASS && c->bytes + (k << 4) <= CACHE_MAX) {
        *(void **)ptr = c->head[k];
        c->head[k] = ptr;
        c->bytes += k << 4; /* counted by class, so taking it out needs no second look */
      } else {
        free(ptr);
      }
    }
    return NULL;
  }
  size_t k = (nsize + 15) >> 4;
  if (!ptr) {
    if (k < NCLASS && c->head[k]) {
      void *p = c->head[k];
      c->head[k] = *(void **)p;
      c->bytes -= k << 4;
      return p;
    }
    return malloc(k < NCLASS ? k << 4 : nsize);
  }
  return realloc(ptr, k < NCLASS ? k << 4 : nsize);
}

static void drain(cache *c) {
  for (int k = 0; k < NCLASS; k++) {
    while (c->head[k]) {
      void *p = c->head[k];
      c->head[k] = *(void **)p;
      free(p);
    }
  }
  c->bytes = 0;
}

/* At lua_close: the state gets its allocator back before it frees its objects, and the cached
 * blocks go back to malloc. */
static int cache_gc(lua_State *L) {
  cache **pc = lua_touserdata(L, 1);
  cache *c = *pc;
  if (!c) return 0;
  void *ud;
  if (lua_getallocf(L, &ud) == cached_alloc && ud == c) lua_setallocf(L, c->prev, c->prev_ud);
  drain(c);
  free(c);
  *pc = NULL;
  return 0;
}

/* Give blocks back to malloc, the biggest classes first (the fewest blocks for the bytes), until
 * the cache holds at most keep bytes. */
static void drain_to(cache *c, size_t keep) {
  for (int k = NCLASS - 1; k >= 0 && c->bytes > keep; k--) {
    while (c->head[k] && c->bytes > keep) {
      void *p = c->head[k];
      c->head[k] = *(void **)p;
      c->bytes -= (size_t)k << 4;
      free(p);
    }
  }
}

static const char ANCHOR = 'a';

/* sip.core.alloc_cache() -> bytes held in the cache (nil when it is not installed), then what
 * malloc has handed out and what it holds free (mallinfo2: the process's whole C heap, the Lua
 * state's share and the C core's alike), for the memory benchmarks. */
int lsip_alloc_cached(lua_State *L) {
  void *ud;
  if (lua_getallocf(L, &ud) != cached_alloc) lua_pushnil(L);
  else lua_pushinteger(L, (lua_Integer)((cache *)ud)->bytes);
  struct mallinfo2 mi = mallinfo2();
  lua_pushinteger(L, (lua_Integer)(mi.uordblks + mi.hblkhd));
  lua_pushinteger(L, (lua_Integer)mi.fordblks);
  return 3;
}

/* sip.core.trim_memory([keep]) -> bytes the allocator's cache gave back to malloc: the cache
 * is drained down to keep bytes (default TRIM_KEEP), then malloc_trim gives the kernel back
 * the free pages of malloc's heap, those between live blocks included. After a burst (a
 * backlog of transactions while the server fell behind) the heap's high-water mark stays in
 * RSS otherwise: free() only returns the heap's top. It takes milliseconds on a fragmented
 * heap (the walk of malloc's free lists): for a timer a minute apart, not per request. */
int lsip_trim_memory(lua_State *L) {
  lua_Integer keep = luaL_optinteger(L, 1, TRIM_KEEP);
  luaL_argcheck(L, keep >= 0, 1, "keep must be 0 or more bytes");
  void *ud;
  size_t given = 0;
  if (lua_getallocf(L, &ud) == cached_alloc) {
    cache *c = ud;
    size_t before = c->bytes;
    drain_to(c, (size_t)keep);
    given = before - c->bytes;
  }
  malloc_trim(0);
  lua_pushinteger(L, (lua_Integer)given);
  return 1;
}

/* sip.core.install_alloc_cache() -> true when the cache is in front of the state's allocator
 * (now or already), false when that allocator is not lauxlib's (the host's own: left alone).
 * An explicit call, never a side effect of require: it changes the whole state's allocator. */
int lsip_install_alloc(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &ANCHOR) != LUA_TNIL) { /* once per state */
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pop(L, 1);
  void *ud;
  lua_Alloc cur = lua_getallocf(L, &ud);
  /* is it lauxlib's own allocator? a fresh state of luaL_newstate gets that one */
  lua_State *probe = luaL_newstate();
  int std_alloc = 0;
  if (probe) {
    void *pud;
    lua_Alloc std = lua_getallocf(probe, &pud);
    lua_close(probe);
    std_alloc = cur == std && ud == pud;
  }
  cache *c = std_alloc ? calloc(1, sizeof *c) : NULL;
  if (!c) {
    lua_pushboolean(L, 0);
    return 1;
  }
  c->prev = cur;
  c->prev_ud = ud;
  cache **pc = lua_newuserdatauv(L, sizeof *pc, 0);
  *pc = c;
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, cache_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &ANCHOR);
  lua_setallocf(L, cached_alloc, c);
  lua_pushboolean(L, 1);
  return 1;
}
