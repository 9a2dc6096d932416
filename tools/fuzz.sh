#!/usr/bin/env bash
# Builds every libFuzzer target (cc_fuzz, tagged "fuzz") with clang-14 under
# --config=fuzz, in an output base of its own so the gcc build stays cached,
# and runs each for a bounded time on a copy of its seed corpus.
#
#   tools/fuzz.sh [-t SECONDS] [TARGET...]     default: every target, 20 s each
#
# Prints "ok <target>" or "FAIL <target>" per target and exits non-zero if any
# target crashed. Crash inputs are kept under $FUZZ_OUT (default /tmp).
set -uo pipefail
cd "$(dirname "$0")/.."

secs=20
if [ "${1:-}" = "-t" ]; then secs=$2; shift 2; fi
# One output base per checkout: a Bazel output base belongs to one workspace.
base=${FUZZ_OUTPUT_BASE:-$HOME/.cache/bazel-fuzz-$(pwd | md5sum | cut -c1-8)}
out=${FUZZ_OUT:-/tmp}/traefikee-fuzz
bz=(bazel --output_base="$base")
opts=(--config=fuzz --repo_env=CC=clang-14)

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  # Not //...: a clone's convenience link bazel-<dir> points into the other
  # output base, and this one would walk into it.
  dirs=()
  for d in */; do
    case $d in bazel-*) continue ;; esac
    [ -n "$(find "$d" -name BUILD -print -quit)" ] && dirs+=("//${d%/}/...")
  done
  expr=$(IFS=+; echo "${dirs[*]}")
  mapfile -t targets < <("${bz[@]}" query "attr(tags, \"\\bfuzz\\b\", $expr)" 2>/dev/null)
fi
if [ ${#targets[@]} -eq 0 ]; then echo "fuzz: no targets"; exit 1; fi

rm -rf "$out"; mkdir -p "$out"
if ! CC=clang-14 "${bz[@]}" build "${opts[@]}" "${targets[@]}" >"$out/build.log" 2>&1; then
  tail -30 "$out/build.log"
  echo "FAIL fuzz-build"
  exit 1
fi
bin=$("${bz[@]}" info "${opts[@]}" bazel-bin 2>/dev/null)

fail=0
for t in "${targets[@]}"; do
  pkg=${t#//}; pkg=${pkg%%:*}; name=${t##*:}
  corpus="$out/$name.corpus"; mkdir -p "$corpus"
  [ -d "$pkg/testdata/$name" ] && cp "$pkg/testdata/$name"/* "$corpus"/ 2>/dev/null
  if (cd "$out" && ASAN_OPTIONS=detect_leaks=1 "$bin/$pkg/$name" \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$out/$name-" "$corpus" >"$out/$name.log" 2>&1); then
    echo "ok $t ($(grep -o 'Done [0-9]* runs' "$out/$name.log" | awk '{print $2}') runs in ${secs}s)"
  else
    echo "FAIL $t (log: $out/$name.log)"
    tail -20 "$out/$name.log"
    fail=1
  fi
done
exit $fail
