#!/bin/sh
# Sets up a fresh Debian 12 machine, builds Secure Chat with warnings as
# errors, and runs every test suite: a normal build, then the same tests
# under AddressSanitizer/UBSan and under valgrind.
set -eu
cd "$(dirname "$0")/.."

sh build-aux/install-deps.sh

run_suites () {
  build="$1"; shift
  if [ -d "$build" ]; then
    meson setup --wipe "$build" "$@"
  else
    meson setup "$build" "$@"
  fi
  meson compile -C "$build"
  meson test -C "$build" --print-errorlogs --num-processes 2
}

echo "== build and test"
run_suites _build-test -Dwerror=true

echo "== AddressSanitizer and UndefinedBehaviorSanitizer"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  run_suites _build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

echo "== valgrind (core suite)"
meson test -C _build-test --suite core --print-errorlogs --num-processes 2 \
  --timeout-multiplier 10 \
  --wrapper "valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite"

echo "== all test runs passed"
