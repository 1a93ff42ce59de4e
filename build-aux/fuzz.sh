#!/bin/sh
# Builds the libFuzzer targets (fuzz/) with clang-14 in _build-fuzz and runs
# each for SECONDS (default 60) on a fresh copy of its seed corpus, made
# from the known-answer vectors by fuzz/make-seeds.py.  One summary line per
# target; exits non-zero if any target crashes, breaks an invariant, leaks,
# hangs or fails to start, naming the saved input.
#   sh build-aux/fuzz.sh [SECONDS]
# The packages come from build-aux/install-deps.sh (clang-14, libclang-rt-14-dev).
set -eu

seconds="${1:-60}"
case "$seconds" in
  ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

src="$(cd "$(dirname "$0")/.." && pwd)"
build="$src/_build-fuzz"
targets="fuzz-v1-frames fuzz-v2-frames fuzz-v2-server fuzz-v2-client
         fuzz-message fuzz-key-files fuzz-trust-files"

rm -rf "$build"
CC="${FUZZ_CC:-clang-14}" meson setup "$build" "$src" \
  -Dfuzzing=true -Dtests=false -Dwerror=true -Dbuildtype=debugoptimized >/dev/null
# shellcheck disable=SC2046
meson compile -C "$build" $(for t in $targets; do printf 'fuzz/%s ' "$t"; done)

run="$build/fuzz-run"
mkdir -p "$run"
/usr/bin/python3 "$src/fuzz/make-seeds.py" "$src" "$run/seeds"

# The key and trust targets write small files; keep them in memory
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  TMPDIR=/dev/shm
  export TMPDIR
fi
ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:allocator_may_return_null=1"
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
G_DEBUG="fatal-criticals"
export ASAN_OPTIONS UBSAN_OPTIONS G_DEBUG

failed=0
total=0
for t in $targets; do
  dir="$run/$t"
  mkdir -p "$dir"
  cp -r "$run/seeds/$t" "$dir/corpus"
  if "$build/fuzz/$t" -max_total_time="$seconds" -print_final_stats=1 \
       -timeout=20 -rss_limit_mb=2048 -artifact_prefix="$dir/" \
       "$dir/corpus" >"$dir/log" 2>&1; then
    rc=0
  else
    rc=$?
  fi
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n 1)"
  artifact="$(ls "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-* 2>/dev/null | head -n 1 || true)"
  if [ "$rc" -ne 0 ] || [ -z "$execs" ] || [ -n "$artifact" ]; then
    failed=1
    printf 'FAIL %-18s exit %s, %s executions; input: %s; log: %s\n' \
      "$t" "$rc" "${execs:-no}" "${artifact:-none}" "$dir/log"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*invariant broken|.*runtime error)' "$dir/log" | head -n 5 || true
  else
    total=$((total + execs))
    printf 'ok   %-18s %10s executions in %ss, corpus %s files\n' \
      "$t" "$execs" "$seconds" "$(ls "$dir/corpus" | wc -l)"
  fi
done

if [ "$failed" -ne 0 ]; then
  echo "fuzz: FAILED (inputs and logs under $run)"
  exit 1
fi
echo "fuzz: all targets ran ${seconds}s without a crash ($total executions)"
