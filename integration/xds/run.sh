#!/usr/bin/env bash
# integration/xds/run.sh -- the xDS server against real third-party clients:
# @grpc/grpc-js-xds (SotW), Debian's python3-grpcio (SotW, gRPC C core) and
# a delta-protocol client on Envoy's ads.proto. Builds the test control plane
# with Bazel, runs each suite with its own temp dir (every process binds port
# 0 on loopback), prints "ok <case>" / "FAIL <case>", exits non-zero on any
# failure. Each suite owns its children (the control plane exits when its
# stdin closes); this script kills only the pids it started.
# Development mode (docs/security.md): plain text, no cluster CA, no tokens.
export TRAEFIKEE_INSECURE=1
set -uo pipefail
cd "$(dirname "$0")/../.."

tmp=$(mktemp -d "${TMPDIR:-/tmp}/xds-it.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

if ! bazel build //integration/xds:xds_test_server >"$tmp/build.log" 2>&1; then
  tail -30 "$tmp/build.log"
  echo "FAIL xds-build"
  exit 1
fi
bin="$(bazel info bazel-bin 2>/dev/null)/integration/xds/xds_test_server"
if [ ! -x "$bin" ]; then
  echo "FAIL xds-build: no $bin"
  exit 1
fi

failed=0
suite() { # <name> <command...>
  local name=$1 log="$tmp/$1.log" rc
  shift
  mkdir -p "$tmp/$name"
  timeout -k 5 180 "$@" "$bin" "$tmp/$name" >"$log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  wait "$pid"
  rc=$?
  grep -E '^(ok|FAIL) ' "$log"
  if [ "$rc" -ne 0 ]; then
    failed=1
    grep -qE '^FAIL ' "$log" || echo "FAIL $name (exit $rc)"
    echo "--- last lines of $name:"
    tail -40 "$log"
  fi
}

suite node-sotw node integration/xds/node_sotw_test.js
suite python-sotw /usr/bin/python3 integration/xds/python_sotw_test.py
suite node-delta node integration/xds/node_delta_test.js

exit "$failed"
