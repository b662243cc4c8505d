/* lsip_core.c: luaopen_sip_core, the C half of require "sip" (lua/sip/init.lua is the front). */
#include "lsip.h"

void lsip_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction close) {
  if (luaL_newmetatable(L, name)) {
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, close);
    lua_setfield(L, -2, "__close");
  }
}

void lsip_weak_table(lua_State *L, const void *key, const char *mode) {
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushstring(L, mode);
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

int luaopen_sip_core(lua_State *L) {
  lua_newtable(L);
  lsip_open_message(L);
  lsip_open_build(L);
  lsip_open_uri(L);
  lsip_open_loop(L);
  lsip_open_vnet(L);
  lsip_open_stack(L);
  lsip_open_reply(L);
  lsip_open_token(L);
  lsip_open_resolve(L);
  lsip_open_loc(L);
  lsip_open_digest(L);
  lua_setfield(L, -2, "digest");
  lua_pushcfunction(L, lsip_alloc_cached);
  lua_setfield(L, -2, "alloc_cache");
  lua_pushcfunction(L, lsip_install_alloc);
  lua_setfield(L, -2, "install_alloc_cache");
  lua_pushcfunction(L, lsip_trim_memory);
  lua_setfield(L, -2, "trim_memory");
  lua_pushliteral(L, "0.1.0");
  lua_setfield(L, -2, "version");
  return 1;
}
