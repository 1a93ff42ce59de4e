#!/bin/sh
# Sets up a fresh Debian 12 machine, builds Secure Chat with warnings as
# errors, and runs every test suite: a normal build, then every suite
# under AddressSanitizer/UBSan, then the core suite and the loopback tests
# under valgrind, then each fuzz target for 60 s, then the release
# tarball's own build and tests.
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

# Every suite again, built with AddressSanitizer and UBSan, leak checks on.
# The GTK programs run without GL (Mesa's EGL setup leaks) and with the
# cairo renderer; fontconfig's lifetime caches are suppressed (lsan.supp).
echo "== AddressSanitizer and UndefinedBehaviorSanitizer (every suite)"
configure _build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
LSAN_OPTIONS=suppressions="$PWD/build-aux/lsan.supp" \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
GDK_DEBUG=gl-disable GSK_RENDERER=cairo \
  meson test -C _build-asan --print-errorlogs --num-processes 2 --timeout-multiplier 3

# memcheck: the core suite, and the loopback integration tests (real
# sockets, server thread, clients): no errors, no definite leaks
echo "== valgrind (core suite and the loopback tests)"
memcheck="valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite"
meson test -C _build-test --print-errorlogs --num-processes 2 --timeout-multiplier 10 \
  --wrapper "$memcheck" --suite core
# (test names and --suite together select their intersection: run apart)
meson test -C _build-test --print-errorlogs --num-processes 2 --timeout-multiplier 10 \
  --wrapper "$memcheck" test-server test-client test-poller

# libFuzzer (clang 14): each target 60 s from the known-answer seeds
echo "== fuzzing"
sh build-aux/fuzz.sh 60

# meson dist packs the committed tree, then builds and tests the tarball;
# it refuses a checkout with uncommitted changes (commit or stash first)
echo "== release tarball (meson dist builds and tests it)"
meson dist -C _build-test --formats xztar

echo "== all test runs passed"
