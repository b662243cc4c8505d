#!/bin/sh
# run.sh: lua-sip's benchmarks beside the anchors, on the shared corpus, in one run.
# Run from the repository root (make bench builds build/bench-parse, then runs this).
#   ROUNDS=200000 ANCHOR_ROUNDS=20000 REPEAT=3 sh csrc/bench/run.sh
# The machine may be shared: each program runs REPEAT times, alternating with the others, and
# the best run of each counts (the least disturbed one, for every library alike).

ROUNDS=${ROUNDS:-200000}
ANCHOR_ROUNDS=${ANCHOR_ROUNDS:-20000}
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
while [ "$i" -lt "$REPEAT" ]; do
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

echo "== parser (C): full parse of $(echo $CORPUS | wc -w) corpus messages, best of $REPEAT"
printf '%-10s %8s ns/msg\n' lua-sip "$ours"
if [ -n "$anchors" ]; then
  printf '%-10s %8s ns/msg\n' sofia-sip "$sofia" osip2 "$osip"
  awk -v o="$ours" -v s="$sofia" -v p="$osip" 'BEGIN {
    printf "ratio sofia-sip/lua-sip: %.1fx\n", s / o
    printf "ratio osip2/lua-sip: %.1fx\n", p / o }'
else
  echo "(anchors not built: sofia-sip-ua and libosip2 development packages are missing)"
fi
