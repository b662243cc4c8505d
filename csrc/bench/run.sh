#!/bin/sh
# run.sh: lua-sip's benchmarks beside the anchors, on the shared corpus, in one run.
# Run from the repository root (make bench builds build/bench-parse, then runs this).
#   ROUNDS=100000 ANCHOR_ROUNDS=10000 PARSE_REPEAT=7 PARSE_BATCHES=300 REPEAT=3 sh csrc/bench/run.sh
# The machine may be shared: each program runs several times, alternating with the others, and
# the best run of each counts (the least disturbed one, for every library alike). On a shared
# host a run is often slowed by a busy neighbour for its whole length (30% and more); the C
# parsers therefore run PARSE_REPEAT short runs each (about 0.3 s), so that each of them gets
# several chances at an undisturbed one.

ROUNDS=${ROUNDS:-100000}
ANCHOR_ROUNDS=${ANCHOR_ROUNDS:-10000}
PARSE_REPEAT=${PARSE_REPEAT:-7}
REPEAT=${REPEAT:-3}
CORPUS=$(ls ../shared/bench/corpus/*.sip)

# ---- parser (C): sip_parse beside sofia-sip and oSIP2 --------------------------------------------
[ -x build/bench-parse ] || make --no-print-directory build/bench-parse || exit 1
anchors=
if pkg-config --exists sofia-sip-ua libosip2 2>/dev/null; then
  if [ ! -x build/anchors ] || [ ../shared/bench/parse/anchors.c -nt build/anchors ]; then
    mkdir -p build
    cc -O2 -o build/anchors ../shared/bench/parse/anchors.c \
      $(pkg-config --cflags --libs sofia-sip-ua libosip2) 2>/dev/null
  fi
  [ -x build/anchors ] && anchors=build/anchors
fi

min() { if [ -z "$1" ] || [ "$2" -lt "$1" ]; then echo "$2"; else echo "$1"; fi; }
ours= sofia= osip=
i=0
while [ "$i" -lt "$PARSE_REPEAT" ]; do
  n=$(build/bench-parse "$ROUNDS" $CORPUS | awk 'NR == 1 { print $1 }')
  [ -n "$n" ] && ours=$(min "$ours" "$n")
  if [ -n "$anchors" ]; then
    out=$($anchors "$ANCHOR_ROUNDS" $CORPUS)
    n=$(echo "$out" | awk '/^sofia-sip/ { print $2 }')
    [ -n "$n" ] && sofia=$(min "$sofia" "$n")
    n=$(echo "$out" | awk '/^osip2/ { print $2 }')
    [ -n "$n" ] && osip=$(min "$osip" "$n")
  fi
  i=$((i + 1))
done

echo "== parser (C): full parse of $(echo $CORPUS | wc -w) corpus messages, best of $PARSE_REPEAT"
printf '%-10s %8s ns/msg\n' lua-sip "$ours"
if [ -n "$anchors" ]; then
  printf '%-10s %8s ns/msg\n' sofia-sip "$sofia" osip2 "$osip"
  awk -v o="$ours" -v s="$sofia" -v p="$osip" 'BEGIN {
    printf "ratio sofia-sip/lua-sip: %.1fx\n", s / o
    printf "ratio osip2/lua-sip: %.1fx\n", p / o }'
else
  echo "(anchors not built: sofia-sip-ua and libosip2 development packages are missing)"
fi

# ---- parser (C), interleaved: the three parsers in one process, batch by batch -------------------
# compare_parse.c: batches of a few milliseconds in turn, the best batch of each library (see its
# comment for why). sofia-sip and our core both define sip_method_name(): ours is renamed in the
# copy of the library linked here.
if [ -n "$anchors" ]; then
  make --no-print-directory build/libsipcore.a >/dev/null || exit 1
  objcopy --redefine-sym sip_method_name=lsip_bench_sip_method_name build/libsipcore.a \
    build/libsipcore-bench.a &&
    cc -O2 -g -Icsrc -c -o build/compare_ours.o csrc/bench/compare_ours.c &&
    cc -O2 -g $(pkg-config --cflags sofia-sip-ua libosip2) -c -o build/compare_parse.o \
      csrc/bench/compare_parse.c 2>/dev/null &&
    cc -o build/compare-parse build/compare_parse.o build/compare_ours.o build/libsipcore-bench.a \
      $(pkg-config --libs sofia-sip-ua libosip2) -lev -lssl -lcrypto || exit 1
  echo
  echo "== parser (C), interleaved in one process: best of ${PARSE_BATCHES:-300} batches each"
  build/compare-parse "${PARSE_BATCHES:-300}" $CORPUS
fi

# ---- parser (Lua): sip.parse plus method, Call-ID, top Via branch and CSeq ------------------------
export LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="build/?.so;;"
best=
i=0
while [ "$i" -lt "$REPEAT" ]; do
  n=$(lua5.4 tools/bench-lua-parse.lua 20000 $CORPUS | awk '{ print $1 }')
  [ -n "$n" ] && best=$(min "$best" "$n")
  i=$((i + 1))
done
echo
echo "== parser (Lua): sip.parse + method, call_id, branch, cseq, best of $REPEAT"
printf '%-10s %8s ns/msg (goal: about 1500)\n' lua-sip "$best"

# ---- memory ------------------------------------------------------------------------------------
echo
echo "== memory"
make --no-print-directory build/ctest/test_txn build/ctest/test_transport >/dev/null || exit 1
build/ctest/test_txn | sed -n 's/^# *\(sizeof(sip_txn).*\)/transaction: \1 (goal: at most 2 KiB beyond the message)/p'
build/ctest/test_transport | sed -n 's/^# *\(idle TCP.*\)/\1 (goal: 8 KiB or less)/p; s/^# *\(idle TLS.*\)/\1 (goal: 40 KiB or less)/p
  s/^# *\(idle WS .*\)/\1 (goal: TCP + 2 KiB or less)/p; s/^# *\(idle WSS.*\)/\1 (goal: about TLS)/p'

# ---- WebSocket beside TCP: REGISTER closed loop into examples/proxy.lua -----------------------------
# bench-wsload (csrc/bench/bench_wsload.c): the same client for both, 50 connections with one
# REGISTER each outstanding, WS_SECONDS a run; the proxy's CPU per transaction, best of REPEAT
# runs alternating the two (goal: WS within 15% of TCP).
make --no-print-directory build/bench-wsload >/dev/null || exit 1
freeport() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
tport=$(freeport) wport=$(freeport)
lua5.4 examples/proxy.lua --listen tcp:127.0.0.1:$tport --listen ws:127.0.0.1:$wport \
  --limit per_source=1000 --quiet &
spid=$!
sleep 0.5
tcp= wsb=
i=0
while [ "$i" -lt "$REPEAT" ]; do
  n=$(build/bench-wsload tcp 127.0.0.1 "$tport" 50 "${WS_SECONDS:-4}" $spid | awk '{ print int($6 * 10) }')
  [ -n "$n" ] && tcp=$(min "$tcp" "$n")
  n=$(build/bench-wsload ws 127.0.0.1 "$wport" 50 "${WS_SECONDS:-4}" $spid | awk '{ print int($6 * 10) }')
  [ -n "$n" ] && wsb=$(min "$wsb" "$n")
  i=$((i + 1))
done
kill $spid 2>/dev/null
wait $spid 2>/dev/null
echo
echo "== REGISTER over WebSocket beside TCP: examples/proxy.lua's CPU per transaction, best of $REPEAT"
awk -v t="$tcp" -v w="$wsb" 'BEGIN {
  printf "tcp %8.1f us/txn\nws  %8.1f us/txn\nratio ws/tcp: %.2f (goal: 1.15 or less)\n", t / 10, w / 10, w / t }'

# ---- memory under load: RSS and live Lua heap per 1,000 INVITE transactions in flight -----------
# inflight.py: calls held ringing through examples/proxy.lua (a SIPp UAS answering after 15 s).
# csrc/bench/soak.py is the long mixed load (minutes; not run here).
if command -v sipp >/dev/null; then
  echo
  echo "== memory per 1,000 INVITE transactions in flight through examples/proxy.lua (csrc/bench/inflight.py)"
  python3 csrc/bench/inflight.py --calls "${INFLIGHT_CALLS:-2000}" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read().strip().splitlines()[-1])
if "error" in r: print(r["error"]); sys.exit()
print("%d calls ringing: RSS %.1f -> %.1f MiB, live Lua heap %.1f -> %.1f MiB" % (r["calls"], *r["rss_mib"], *r["live_heap_mib"]))
print("per 1,000 in flight: RSS %d KiB, live Lua heap %d KiB" % (r["rss_kib_per_1000"], r["lua_kib_per_1000"]))'
fi

# ---- runtime: stateful MESSAGE answering from Lua vs Kamailio's native REGISTER -----------------
if command -v sipp >/dev/null && command -v kamailio >/dev/null; then
  echo
  echo "== runtime: CPU per transaction under SIPp closed-loop load (sipload.py), alternating rounds"
  here=$(pwd)
  cd /tmp || exit 1
  kam= ours=
  for r in 1 2; do
    k=$(python3 "$here/../shared/bench/sipload.py" --server "kamailio -DD -E -w $here/../shared/bench/kamailio -f $here/../shared/bench/kamailio/native.cfg" \
      --scenario reg -n 20000 -l 100 2>/dev/null | tail -1)
    o=$(python3 "$here/../shared/bench/sipload.py" --server "cd $here && lua5.4 examples/responder.lua --listen udp:127.0.0.1:5060 --quiet" \
      --scenario message -n 20000 -l 200 2>/dev/null | tail -1)
    echo "kamailio native REGISTER: $k"
    echo "lua-sip responder MESSAGE: $o"
    kam="$kam $(echo "$k" | sed -n 's/.*"net_cpu_us_per_txn": \([0-9.]*\).*/\1/p')"
    ours="$ours $(echo "$o" | sed -n 's/.*"net_cpu_us_per_txn": \([0-9.]*\).*/\1/p')"
  done
  cd "$here" || exit 1
  echo "$kam" "|" "$ours" | awk '{
    n = 0; k = 0; o = 0; side = 0
    for (i = 1; i <= NF; i++) { if ($i == "|") { side = 1; continue } if (side) o += $i; else { k += $i; n++ } }
    if (n && k) printf "median-ish (mean of %d rounds): kamailio %.1f us, lua-sip %.1f us per transaction; ratio lua-sip/kamailio: %.2f (goal <= 0.5)\n", n, k / n, o / n, o / k }'
else
  echo "(runtime benchmark skipped: sip-tester and kamailio are not installed)"
fi

# ---- registrar/proxy: compare.py, Kamailio native and Lua beside examples/proxy.lua ---------------
if command -v sipp >/dev/null && command -v kamailio >/dev/null && [ -z "$SKIP_COMPARE" ]; then
  echo
  echo "== registrar/proxy: ../shared/bench/compare.py (SIPp load, alternating rounds; SKIP_COMPARE=1 skips)"
  here=$(pwd)
  # the benchmark registers user0..user19 as user bench: the own-or-free policy, said explicitly
  srv="cd $here && lua5.4 examples/proxy.lua --listen udp:127.0.0.1:5060 --realm example.com"
  # Medians over rounds: single rounds swing by a fifth on a shared machine. The relayed MESSAGE
  # and call rounds run at a fixed low rate, where wakeups and the kernel's loopback path are
  # most of the CPU and the swing is widest: five rounds for them, three for the registrations.
  (cd /tmp && python3 "$here/../shared/bench/compare.py" --rounds "${COMPARE_ROUNDS:-3}" --only reg,reg-auth \
    --server "$srv" --server-auth "$srv --users $here/../shared/bench/users.txt --register-policy own-or-free" 2>/dev/null)
  echo
  (cd /tmp && python3 "$here/../shared/bench/compare.py" --rounds "${COMPARE_RELAY_ROUNDS:-5}" --only message,call \
    --server "$srv" 2>/dev/null)
fi
