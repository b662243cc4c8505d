#!/bin/sh
# chromium-loopback.sh ARGS...: Debian chromium in a network namespace of its own with only lo
# up, so WebRTC there gathers no address but 127.0.0.1 and a test's media stays on loopback.
# The TCP ports the pages need (BRIDGE_PORTS, on 127.0.0.1 outside) come in through bridge.js
# (BRIDGE_DIR holds its Unix sockets). run.js gives this script to playwright as the browser;
# playwright's pipe (fds 3 and 4) goes to chromium alone.
set -e
if [ "$(id -u)" = 0 ]; then ns="unshare -n"; else ns="unshare -rn"; fi
here=$(dirname "$0")
exec $ns sh -c '
  ip link set lo up || exit 1
  node "$0/bridge.js" "$BRIDGE_DIR" $BRIDGE_PORTS 3>&- 4>&- </dev/null &
  bridge=$!
  n=0
  while [ ! -e "$BRIDGE_DIR/ready" ]; do
    n=$((n + 1)); [ $n -le 200 ] || { echo "chromium-loopback.sh: bridge.js not ready" >&2; exit 1; }
    sleep 0.05
  done
  chromium "$@"
  rc=$?
  kill $bridge 2>/dev/null
  exit $rc
' "$here" "$@"
