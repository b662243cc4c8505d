#!/bin/sh
# tap.sh NAME CMD...: run one test suite, keep its TAP output in build/tap/NAME.tap and echo it.
# A suite that exits non-zero without reporting a failure (a crash, a sanitizer abort, a
# missing tool) is counted as one failed test, so nothing can fail silently.
name=$1; shift
mkdir -p build/tap
out=build/tap/$name.tap
"$@" > "$out.raw" 2>&1
rc=$?
# keep TAP lines; everything else becomes a comment
sed -e '/^\(not \)\{0,1\}ok /!s/^/# /' "$out.raw" > "$out"
if [ $rc -ne 0 ] && ! grep -q '^not ok ' "$out"; then
  echo "not ok - $name exited with status $rc" >> "$out"
fi
if ! grep -q '^\(not \)\{0,1\}ok ' "$out"; then
  echo "not ok - $name ran no test" >> "$out"
fi
grep -E '^(not ok|# )' "$out" | grep -v '^# *$' | grep -E '^not ok|^# .*(Error|error|FAIL|fail|expected|assert|\.c:[0-9]+|spec\.lua)' | head -40
printf '%s: %s passed, %s failed\n' "$name" "$(grep -c '^ok ' "$out")" "$(grep -c '^not ok ' "$out")"
exit 0
