#!/bin/sh
# run.sh FUZZER SECONDS: replay the seed corpus (torture and benchmark messages, plus the
# target's own seeds in spec/fuzz/seeds/NAME), then fuzz for SECONDS. Prints TAP.
f=$1; secs=$2; name=$(basename "$f")
here=$(dirname "$0")
work=build/fuzz-corpus/$name
mkdir -p "$work"
seeds="../shared/conformance/torture ../shared/bench/corpus"
[ -d "$here/seeds/$name" ] && seeds="$seeds $here/seeds/$name"
opts="-rss_limit_mb=2048 -timeout=10 -artifact_prefix=build/fuzz-corpus/$name-"
[ -f "$here/$name.dict" ] && opts="$opts -dict=$here/$name.dict"
if "$f" $opts -runs=0 $seeds >build/fuzz-corpus/$name.replay.log 2>&1; then
  echo "ok 1 - $name replays its seed corpus"
else
  echo "not ok 1 - $name replays its seed corpus"; tail -30 build/fuzz-corpus/$name.replay.log
fi
if "$f" $opts -max_total_time="$secs" -print_final_stats=1 "$work" $seeds >build/fuzz-corpus/$name.log 2>&1; then
  echo "ok 2 - $name fuzzes for ${secs}s without a finding ($(grep -o 'stat::number_of_executed_units: *[0-9]*' build/fuzz-corpus/$name.log | grep -o '[0-9]*$') runs)"
else
  echo "not ok 2 - $name fuzzes for ${secs}s without a finding"; grep -A30 -E 'ERROR|SUMMARY' build/fuzz-corpus/$name.log | head -40
fi
echo "1..2"
