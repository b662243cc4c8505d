-- luarocks --lua-version 5.4 make --tree DIR rockspec/lua-sip-scm-1.rockspec
rockspec_format = "3.0"
package = "lua-sip"
version = "scm-1"
source = { url = "git+file:///lua-sip" }
description = {
  summary = "A SIP (RFC 3261) stack for Lua 5.4 with a C core",
  detailed = [[
    Parse and build SIP messages and URIs, digest authentication, transactions over UDP/TCP/TLS
    on libev, and coroutine-friendly user agents, registrars and proxies.
  ]],
  license = "MIT",
}
dependencies = { "lua >= 5.4, < 5.5" }
external_dependencies = {
  LIBEV = { header = "ev.h", library = "ev" },
  OPENSSL = { header = "openssl/ssl.h", library = "ssl" },
}
build = {
  type = "builtin",
  modules = {
    ["sip"] = "lua/sip/init.lua",
    ["sip.sdp"] = "lua/sip/sdp.lua",
    ["sip.sdp_offer"] = "lua/sip/sdp_offer.lua",
    ["sip.cli"] = "lua/sip/cli.lua",
    ["sip.loop"] = "lua/sip/loop.lua",
    ["sip.args"] = "lua/sip/args.lua",
    ["sip.endpoint"] = "lua/sip/endpoint.lua",
    ["sip.auth"] = "lua/sip/auth.lua",
    ["sip.auth_common"] = "lua/sip/auth_common.lua",
    ["sip.auth_server"] = "lua/sip/auth_server.lua",
    ["sip.auth_client"] = "lua/sip/auth_client.lua",
    ["sip.auth_lockout"] = "lua/sip/auth_lockout.lua",
    ["sip.dialog"] = "lua/sip/dialog.lua",
    ["sip.route"] = "lua/sip/route.lua",
    ["sip.ua"] = "lua/sip/ua.lua",
    ["sip.call"] = "lua/sip/call.lua",
    ["sip.call_common"] = "lua/sip/call_common.lua",
    ["sip.call_uac"] = "lua/sip/call_uac.lua",
    ["sip.call_uas"] = "lua/sip/call_uas.lua",
    ["sip.call_dialog"] = "lua/sip/call_dialog.lua",
    ["sip.call_session"] = "lua/sip/call_session.lua",
    ["sip.ua_register"] = "lua/sip/ua_register.lua",
    ["sip.location"] = "lua/sip/location.lua",
    ["sip.location_sqlite"] = "lua/sip/location_sqlite.lua",
    ["sip.registrar"] = "lua/sip/registrar.lua",
    ["sip.proxy"] = "lua/sip/proxy.lua",
    ["sip.core"] = {
      sources = {
        "csrc/sip_buf.c", "csrc/sip_build.c", "csrc/sip_ctype.c", "csrc/sip_digest.c", "csrc/sip_digest_nonce.c",
        "csrc/sip_gate.c", "csrc/sip_hdr.c", "csrc/sip_parse.c", "csrc/sip_rand.c", "csrc/sip_stack.c",
        "csrc/sip_tls.c", "csrc/sip_token.c", "csrc/sip_transport.c", "csrc/sip_txn.c",
        "csrc/sip_uri.c", "csrc/sip_ws.c", "csrc/sip_ws_handshake.c", "csrc/lsip_core.c", "csrc/lsip_alloc.c", "csrc/lsip_build.c", "csrc/lsip_digest.c", "csrc/lsip_loop.c",
        "csrc/lsip_msg.c", "csrc/lsip_stack.c", "csrc/lsip_token.c", "csrc/lsip_txn.c", "csrc/lsip_uri.c",
      },
      incdirs = { "csrc", "$(LIBEV_INCDIR)", "$(OPENSSL_INCDIR)" },
      libdirs = { "$(LIBEV_LIBDIR)", "$(OPENSSL_LIBDIR)" },
      libraries = { "ev", "ssl", "crypto" },
    },
  },
}
