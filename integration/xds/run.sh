#!/usr/bin/env bash
# integration/xds/run.sh -- the xDS server against real third-party clients:
# @grpc/grpc-js-xds (SotW), Debian's python3-grpcio (SotW, gRPC C core) and
# a delta-protocol client on Envoy's ads.proto. Builds the test control plane
# with Bazel, runs each suite with its own temp dir (every process binds port
# 0 on loopback), prints "ok <case>" / "FAIL <case>", exits non-zero on any
# failure. Each suite owns its children (the control plane exits when its
# stdin closes); this script kills only the pids it started.
NAME=xds-it
. "$(dirname "$0")/../lib.sh"
set -o pipefail

BUILD_CASE=xds-build
build //integration/xds:xds_test_server
bin="$BIN/integration/xds/xds_test_server"
[ -x "$bin" ] || { fail xds-build "no $bin"; exit 1; }

suite() { # <name> <command...>
  local name=$1 log="$TMP/$1.log" rc
  shift
  mkdir -p "$TMP/$name"
  timeout -k 5 180 "$@" "$bin" "$TMP/$name" >"$log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait "$pid"
  rc=$?
  grep -E '^(ok|FAIL) ' "$log"
  if [ "$rc" -ne 0 ]; then
    FAILS=$((FAILS + 1))
    grep -qE '^FAIL ' "$log" || echo "FAIL $name (exit $rc)"
    echo "--- last lines of $name:"
    tail -40 "$log"
  fi
}

suite node-sotw node integration/xds/node_sotw_test.js
suite python-sotw /usr/bin/python3 integration/xds/python_sotw_test.py
suite node-delta node integration/xds/node_delta_test.js

[ "$FAILS" -eq 0 ]
