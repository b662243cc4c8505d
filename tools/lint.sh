#!/bin/sh
# lint.sh: the style the tools can check, as TAP (one test per tool) for make test's summary:
# luacheck on lua/, examples/, spec/ (.luacheckrc); clang-format on the C of csrc/, spec/c/ and
# spec/fuzz/ (.clang-format: nothing to change); cppcheck on csrc/ (no finding; a false one is
# suppressed inline with the reason).
n=0
check() { # check NAME CMD...: ok when CMD exits 0; its output is shown otherwise
  n=$((n + 1))
  name=$1; shift
  out=$("$@" 2>&1)
  if [ $? -eq 0 ]; then
    echo "ok $n - $name"
  else
    echo "not ok $n - $name"
    printf '%s\n' "$out" | head -60 | sed 's/^/#   /'
  fi
}
luacheck_all() { luacheck --no-color -q lua examples spec; }
clang_format_all() {
  bad=0
  for f in csrc/*.c csrc/*.h csrc/bench/*.c csrc/bench/*.h spec/c/*.c spec/c/*.h spec/fuzz/*.c spec/fuzz/*.h; do
    [ -f "$f" ] || continue
    clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || { echo "$f: not as .clang-format writes it"; bad=1; }
  done
  return $bad
}
cppcheck_all() {
  cppcheck --quiet -j 2 --enable=warning,performance,portability --std=c11 --inline-suppr -Icsrc \
    --error-exitcode=1 csrc/
}
check luacheck luacheck_all
check clang-format clang_format_all
check cppcheck cppcheck_all
echo "1..$n"
