#!/usr/bin/env bash
# integration/xdsclient/run.sh -- the data node's xDS client (dataplane/xds)
# against real control-plane processes (integration/xds's xds_test_server):
# initial config, snapshot switch, NACK of an invalid snapshot, failover to
# the second control node, both down, cold start from the on-disk cache,
# control node back, and the SotW protocol. Every wait is bounded; every
# process binds loopback port 0 (or a port it held before); the temp dir is
# our own; only pids started here are killed. Prints "ok <case>" /
# "FAIL <case>" and "time <what> <ms>"; exits non-zero on any failure.
NAME=xdsclient-it
. "$(dirname "$0")/../lib.sh"
set -o pipefail
[ "${KEEP:-0}" = 1 ] && KEEP_TMP=1

# CONFIG=asan runs the driver (and server) built with ASan+UBSan.
[ -n "${CONFIG:-}" ] && BAZEL_FLAGS=(--config="$CONFIG")
build //integration/xds:xds_test_server //integration/xdsclient:xds_client_driver
server="$BIN/integration/xds/xds_test_server"
driver="$BIN/integration/xdsclient/xds_client_driver"


# wait_line FILE REGEX MS [FROM_LINE]: waits for a line matching REGEX
# (after line FROM_LINE), prints it; 1 on timeout.
wait_line() {
  local file=$1 re=$2 ms=$3 from=${4:-0} end line
  end=$(($(now_ms) + ms))
  while [ "$(now_ms)" -lt "$end" ]; do
    line=$(tail -n +"$((from + 1))" "$file" 2>/dev/null | grep -E -m1 -- "$re")
    if [ -n "$line" ]; then
      echo "$line"
      return 0
    fi
    sleep 0.02
  done
  return 1
}
lines() { wc -l <"$1"; }
ms_of() { sed -n 's/.* ms=\([0-9]*\).*/\1/p' <<<"$1"; }

# start_server NAME ADDR BACKEND...: control plane with stdin on fd SRV_FD_<NAME>
declare -A srv_pid srv_fd srv_port
start_server() {
  local name=$1 addr=$2 fd from
  shift 2
  touch "$TMP/$name.out"
  from=$(lines "$TMP/$name.out")
  local args=()
  for b in "$@"; do args+=(--backend "$b"); done
  rm -f "$TMP/$name.in"
  mkfifo "$TMP/$name.in"
  # a served listener: data nodes do not fetch API listeners' routes
  "$server" --addr "$addr" --served-listener "${args[@]}" <"$TMP/$name.in" \
    >>"$TMP/$name.out" 2>>"$TMP/$name.err" &
  srv_pid[$name]=$!
  PIDS+=("$!")
  exec {fd}>"$TMP/$name.in"
  srv_fd[$name]=$fd
  local l
  if ! l=$(wait_line "$TMP/$name.out" '^listening ' 5000 "$from"); then
    echo "FAIL server $name did not start"
    cat "$TMP/$name.err"
    exit 1
  fi
  srv_port[$name]=${l#listening }
}
send() { # NAME CMD
  echo "$2" >&"${srv_fd[$1]}"
}
stop_server() {
  kill "${srv_pid[$1]}" 2>/dev/null
  wait "${srv_pid[$1]}" 2>/dev/null
  exec {srv_fd[$1]}>&-
}

# start_driver NAME ARGS...
declare -A drv_pid
start_driver() {
  local name=$1
  shift
  "$driver" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  drv_pid[$name]=$!
  PIDS+=("$!")
}
stop_driver() {
  kill "${drv_pid[$1]}" 2>/dev/null
  wait "${drv_pid[$1]}" 2>/dev/null
}
start_server a 127.0.0.1:0 1111
start_server b 127.0.0.1:0 1111
PA=${srv_port[a]}
PB=${srv_port[b]}
mkdir -p "$TMP/cache"
control="127.0.0.1:$PA,127.0.0.1:$PB"

# 1. initial config over delta
start_driver d1 --control "$control" --node-id node-1 --cache-dir "$TMP/cache"
if wait_line "$TMP/d1.out" 'applied .*port=1111 listeners=1 routes=1 clusters=1 endpoints=1' 5000 >/dev/null &&
  wait_line "$TMP/d1.out" "status state=connected control=127.0.0.1:$PA delta=1 cds=v1 eds=v1 lds=v1 rds=v1" 2000 >/dev/null &&
  wait_line "$TMP/a.out" 'event ack .*node=node-1 type=rds version=v1' 2000 >/dev/null; then
  ok initial-config
else
  fail initial-config
fi

# 2. a new snapshot (endpoint port 3333) is applied; both servers get it
from=$(lines "$TMP/d1.out")
t0=$(now_ms)
send a "backend 3333"
send b "backend 3333"
if l=$(wait_line "$TMP/d1.out" 'applied .*port=3333' 5000 "$from"); then
  echo "time snapshot-to-apply $(($(ms_of "$l") - t0))"
  ok snapshot-switch
else
  fail snapshot-switch
fi
wait_line "$TMP/a.out" 'event ack .*type=eds version=v2' 2000 >/dev/null ||
  fail snapshot-ack

# 3. an invalid snapshot is NACKed with our error; the old config stays
from=$(lines "$TMP/d1.out")
send a nack-listener
send b nack-listener
if wait_line "$TMP/a.out" 'event nack .*node=node-1 type=lds version=v1 .*missing typed_config' 5000 >/dev/null &&
  wait_line "$TMP/d1.out" 'status .*lds=v1 .*rejected=1 .*nack="lds version v3: listener' 2000 "$from" >/dev/null; then
  ok nack-invalid
else
  fail nack-invalid
fi
sleep 0.3
if tail -n +"$((from + 1))" "$TMP/d1.out" | grep -q '^applied'; then
  fail nack-keeps-old-config
else
  ok nack-keeps-old-config
fi
send a good
send b good
if wait_line "$TMP/d1.out" 'status .*lds=v4 ' 5000 "$from" >/dev/null; then
  ok good-after-nack
else
  fail good-after-nack
fi

# 3b. CDS drops a cluster a route still uses: it is kept (make before break)
from=$(lines "$TMP/d1.out")
send a drop-cluster
send b drop-cluster
if wait_line "$TMP/d1.out" 'status .*cds=v5 ' 5000 "$from" >/dev/null &&
  ! tail -n +"$((from + 1))" "$TMP/d1.out" | grep -q 'applied .*clusters=0'; then
  ok dropped-cluster-kept-while-routed
else
  fail dropped-cluster-kept-while-routed
fi
send a good
send b good
wait_line "$TMP/d1.out" 'status .*cds=v6 ' 5000 "$from" >/dev/null ||
  fail cluster-back

# 4. kill the first control node: fail over to the second, stay current
sleep 0.2
from=$(lines "$TMP/d1.out")
t0=$(now_ms)
stop_server a
if l=$(wait_line "$TMP/d1.out" "status state=connected control=127.0.0.1:$PB delta=1" 5000 "$from"); then
  echo "time failover $(($(ms_of "$l") - t0))"
  ok failover
else
  fail failover
fi
from=$(lines "$TMP/d1.out")
t0=$(now_ms)
send b "backend 4444"
if l=$(wait_line "$TMP/d1.out" 'applied .*port=4444' 5000 "$from"); then
  echo "time snapshot-to-apply-after-failover $(($(ms_of "$l") - t0))"
  ok current-after-failover
else
  fail current-after-failover
fi
wait_line "$TMP/b.out" 'event ack .*node=node-1 type=eds version=v7' 2000 >/dev/null ||
  fail ack-on-second-node

# 5. both down: the last config stays
from=$(lines "$TMP/d1.out")
stop_server b
sleep 2
if kill -0 "${drv_pid[d1]}" 2>/dev/null &&
  ! tail -n +"$((from + 1))" "$TMP/d1.out" | grep -q '^applied' &&
  tail -1 "$TMP/d1.out" | grep -qE 'status state=connecting .*eds=v7 .*have_config=1'; then
  ok both-down-keeps-config
else
  fail both-down-keeps-config
fi
stop_driver d1
[ -f "$TMP/cache/xds-cache.bin" ] && ok cache-written || fail cache-written

# 6. cold start with no control node: serve from the cache
t0=$(now_ms)
start_driver d2 --control "$control" --node-id node-1 --cache-dir "$TMP/cache"
if l=$(wait_line "$TMP/d2.out" 'applied .*port=4444 listeners=1 routes=1' 6000); then
  echo "time cold-start-to-cache-apply $(($(ms_of "$l") - t0))"
  if wait_line "$TMP/d2.out" 'status state=cache .*eds=v7 .*from_cache=1' 1000 >/dev/null &&
    grep -q 'serving from cache' "$TMP/d2.err"; then
    ok serve-from-cache
  else
    fail serve-from-cache
  fi
else
  fail serve-from-cache
fi

# 7. a control node comes back (same address, new config): it replaces the cache
from=$(lines "$TMP/d2.out")
t0=$(now_ms)
start_server a "127.0.0.1:$PA" 5555
if l=$(wait_line "$TMP/d2.out" 'applied .*port=5555' 15000 "$from"); then
  echo "time control-back-to-fresh-apply $(($(ms_of "$l") - t0))"
  if wait_line "$TMP/d2.out" "status state=connected control=127.0.0.1:$PA .*from_cache=0" 2000 "$from" >/dev/null; then
    ok fresh-replaces-cache
  else
    fail fresh-replaces-cache
  fi
else
  fail fresh-replaces-cache
fi

# 8. state of the world: config, then a NACK with our text
start_driver d3 --control "127.0.0.1:$PA" --node-id node-sotw --sotw
if wait_line "$TMP/d3.out" 'applied .*port=5555 listeners=1 routes=1 clusters=1 endpoints=1' 5000 >/dev/null &&
  wait_line "$TMP/d3.out" 'status state=connected .*delta=0 .*rds=v1' 2000 >/dev/null; then
  ok sotw-config
else
  fail sotw-config
fi
send a nack-route
if wait_line "$TMP/a.out" 'event nack .*node=node-sotw type=rds .*route 1: no action' 5000 >/dev/null &&
  wait_line "$TMP/d3.out" 'status .*rds=v1 .*rejected=1' 2000 >/dev/null; then
  ok sotw-nack
else
  fail sotw-nack
fi
send a good
if wait_line "$TMP/d3.out" 'status .*rds=v3 ' 5000 >/dev/null; then
  ok sotw-good-after-nack
else
  fail sotw-good-after-nack
fi
stop_driver d3
stop_driver d2
grep -q 'level=error\|AddressSanitizer' "$TMP"/d*.err && fail driver-errors

if [ "$FAILS" != 0 ]; then
  for f in "$TMP"/*.out "$TMP"/*.err; do
    echo "--- $f"
    tail -15 "$f"
  done
fi
[ "$FAILS" -eq 0 ]
