#!/bin/sh
# Sets up a fresh Debian 12 machine, builds Secure Chat with warnings as
# errors, and runs every test suite: a normal build, then the same tests
# under AddressSanitizer/UBSan and under valgrind.
set -eu
cd "$(dirname "$0")/.."

sh build-aux/install-deps.sh

configure () {
  build="$1"; shift
  if [ -d "$build" ]; then
    meson setup --wipe "$build" "$@"
  else
    meson setup "$build" "$@"
  fi
  meson compile -C "$build"
}

echo "== build and test"
configure _build-test -Dwerror=true
meson test -C _build-test --print-errorlogs --num-processes 2

# GTK and its libraries keep allocations LeakSanitizer cannot tell from
# leaks, so the window's suites run in the normal build only
echo "== AddressSanitizer and UndefinedBehaviorSanitizer"
configure _build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C _build-asan --print-errorlogs --num-processes 2 --suite core --suite net --suite cli

echo "== valgrind (core suite)"
meson test -C _build-test --suite core --print-errorlogs --num-processes 2 \
  --timeout-multiplier 10 \
  --wrapper "valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite"

# meson dist packs the committed tree, then builds and tests the tarball;
# it refuses a checkout with uncommitted changes (commit or stash first)
echo "== release tarball (meson dist builds and tests it)"
meson dist -C _build-test --formats xztar

echo "== all test runs passed"
