#!/usr/bin/env bash
# Runs each libFuzzer target of BUILD (make fuzz builds them with clang, ASan+UBSan) for
# SECONDS seconds, starting from its seed corpus (tests/fuzz/corpus/NAME, read only) and
# what earlier runs found (BUILD/fuzz-corpus/NAME, where new inputs go). A crash, leak,
# sanitizer report or timeout stops that target and fails the run; its input is left in
# BUILD/fuzz-crashes/ to be fixed and kept under tests/fuzz/regressions/NAME/.
#   scripts/fuzz.sh BUILD SECONDS [TARGET...]   (default: every target)
set -uo pipefail
cd "$(dirname "$0")/.."
build=$1
seconds=$2
shift 2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(http multipart json query jwt tokens dotenv sigv4 prompt ingest audio)
fi

# the bytes an input may have: the real server's heads and bodies are small in tests;
# images and audio stay small so a step is quick and a bomb is refused, not decoded
max_len() {
  case $1 in
    ingest|audio) echo 65536 ;;
    http|multipart) echo 16384 ;;
    *) echo 4096 ;;
  esac
}

failed=()
mkdir -p "$build/fuzz-crashes"
for t in "${targets[@]}"; do
  corpus="$build/fuzz-corpus/$t"
  mkdir -p "$corpus"
  echo "== fuzz_$t: ${seconds}s"
  log="$build/fuzz-$t.log"
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
  LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
    "$build/fuzz_$t" -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=20 \
      -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$build/fuzz-crashes/$t-" "$corpus" "tests/fuzz/corpus/$t" \
      >"$log" 2>&1
  rc=$?
  # the last status line: executions, coverage (cov: edges, ft: features), corpus size
  grep -E '^#[0-9]+' "$log" | tail -1
  grep -E 'stat::(number_of_executed_units|average_exec_per_sec)' "$log"
  if [ $rc -ne 0 ]; then
    echo "fuzz_$t FAILED (exit $rc); see $log"
    grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: every target ran ${seconds}s without a finding"
