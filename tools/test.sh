#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs what is missing, then
# runs every suite and ends with one line "N passed, N failed".
#
#   unit + integration tests   bazel test //...            (gcc)
#   the same under sanitizers  bazel test --config=asan //...
#   script-driven tests        integration/*/run.sh
#   fuzzers, bounded           tools/fuzz.sh -t $FUZZ_SECONDS (default 10)
#   layout                     tools/check-format.sh
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
failures=()

count() { # <name> <exit code>
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else
    failed=$((failed + 1)); failures+=("$1"); fi
}

# bazel test, counting each test target from Bazel's summary lines.
bazel_suite() { # <label> <bazel args...>
  local label=$1 log rc p f
  shift
  log=$(mktemp)
  bazel test --keep_going "$@" //... 2>&1 | tee "$log" | grep -E '^//|^ERROR|FAILED|TIMEOUT' || true
  rc=${PIPESTATUS[0]}
  p=$(grep -cE '^//\S+\s+(\(cached\) )?PASSED' "$log")
  f=$(grep -cE '^//\S+\s+(\(cached\) )?(FAILED|TIMEOUT|FLAKY|NO STATUS|INCOMPLETE)' "$log")
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$f" -gt 0 ]; then failures+=("$label: $f test target(s)"); fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then count "$label (bazel exit $rc)" 1; fi
  rm -f "$log"
}

echo "== install"
./tools/install-deps.sh
count install-deps $?

echo "== format"
./tools/check-format.sh
count check-format $?

echo "== bazel test //..."
bazel_suite "bazel test"

echo "== bazel test --config=asan //..."
bazel_suite "bazel test --config=asan" --config=asan

# Each script bounds its own waits; the timeout is a last resort so that one
# hang cannot eat the whole CI budget.
for t in integration/*/run.sh; do
  [ -x "$t" ] || continue
  echo "== $t"
  start=$SECONDS
  timeout --kill-after=10 "${SUITE_TIMEOUT:-600}" "$t"
  count "$t" $?
  echo "-- $t: $((SECONDS - start)) s"
done

echo "== fuzz (${FUZZ_SECONDS:-10} s per target)"
./tools/fuzz.sh -t "${FUZZ_SECONDS:-10}"
count fuzz $?

for f in "${failures[@]+"${failures[@]}"}"; do echo "failed: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
