#!/bin/sh
# deps.sh SET...: make sure the Debian packages a make target needs are installed.
# As root it installs what is missing; otherwise it prints the exact apt-get line and fails.
# Sets: build (compile the module), test (run every suite), bench (the anchors), run (the server),
# node (node and npm: the browser tests and make webphone).
set -e
pkgs=""
for set in "$@"; do
  case "$set" in
    build) pkgs="$pkgs gcc make pkg-config lua5.4 liblua5.4-dev libev-dev libssl-dev libc-ares-dev" ;;
    test)  pkgs="$pkgs lua-busted luarocks clang libclang-rt-14-dev sip-tester kamailio kamailio-lua-modules kamailio-tls-modules kamailio-websocket-modules baresip iproute2 python3 openssl lua-sql-sqlite3 lua-socket sipvicious linphone-cli lua-check clang-format cppcheck dnsmasq lua-ldoc lua-discount"
           pkgs="$pkgs chromium" ;; # and the node set: the browser tests
    node)  pkgs="$pkgs nodejs" # npm only where no node brought its own (NodeSource's does)
           command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm" ;;
    bench) pkgs="$pkgs libosip2-dev libsofia-sip-ua-dev libwslay-dev sip-tester kamailio kamailio-lua-modules valgrind python3 iproute2 dnsmasq" ;;
    run)   pkgs="$pkgs" ;;
    *) echo "deps.sh: unknown set $set" >&2; exit 2 ;;
  esac
done
missing=""
for p in $pkgs; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = "installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  echo "missing Debian packages; run as root:" >&2
  echo "  apt-get install -y$missing" >&2
  exit 1
fi
