/* lsip.h: the Lua binding's shared declarations. Only lsip_*.c include lua.h. */
#ifndef LSIP_H
#define LSIP_H

#include <lauxlib.h>
#include <lua.h>

#include "sip_msg.h"

#define LSIP_MESSAGE "sip.message"
#define LSIP_URI "sip.uri"

/* Each pushes a table of functions (or registers metatables) for sip.core. */
int lsip_open_message(lua_State *L); /* sets fields on the table at the top */
int lsip_open_uri(lua_State *L);     /* sets fields on the table at the top */
int lsip_open_digest(lua_State *L);  /* pushes the digest table */

/* Push a slice as a string (nil when .p is NULL). */
void lsip_pushstr(lua_State *L, sip_str s);
/* Push a header value with line folding replaced by single spaces (RFC 3261 §7.3.1). */
void lsip_pushvalue(lua_State *L, sip_str v, int folded);
/* Push a parsed URI as a sip.uri userdata that copies text (the URI keeps its own copy). */
void lsip_pushuri(lua_State *L, const char *text, size_t n, const sip_uri *parsed);

#endif
