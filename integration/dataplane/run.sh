#!/usr/bin/env bash
# integration/dataplane/run.sh -- the data node against real backends: two
# whoami processes and a dataplane in standalone mode (--config), driven
# with curl and a raw-socket client (rawhttp.py). Everything runs on
# loopback ports picked free at start, in a temp dir of its own; only the
# pids started here are ever killed.
#
#   integration/dataplane/run.sh            (DP_ASAN=1: ASan+UBSan build)
#
# Prints "ok <case>" / "FAIL <case>"; exits non-zero if any case failed.
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
HERE=$ROOT/integration/dataplane
TMP=$(mktemp -d /tmp/dp-it.XXXXXX)
PIDS=()
FAILS=0

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    if [ "$FAILS" -eq 0 ] && [ -z "${KEEP_TMP:-}" ]; then rm -rf "$TMP"; else echo "logs in $TMP"; fi
}
trap cleanup EXIT

ok() { echo "ok $1"; }
fail() { echo "FAIL $1${2:+: $2}"; FAILS=$((FAILS + 1)); }
check() { # check NAME COMMAND...: ok if the command succeeds
    local name=$1; shift
    if "$@"; then ok "$name"; else fail "$name"; fi
}

# ---- build ----
BAZEL_FLAGS=()
if [ -n "${DP_ASAN:-}" ]; then
    BAZEL_FLAGS=(--config=asan)
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
bazel build "${BAZEL_FLAGS[@]}" //dataplane //tools/whoami >"$TMP/build.log" 2>&1 ||
    { cat "$TMP/build.log"; echo "FAIL build"; exit 1; }
BIN=$(bazel info "${BAZEL_FLAGS[@]}" bazel-bin 2>/dev/null)
DP=$BIN/dataplane/dataplane
WHOAMI=$BIN/tools/whoami/whoami

freeport() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
P_WEB=$(freeport); P_A=$(freeport); P_B=$(freeport); P_ADMIN=$(freeport)
P_DOWN=$(freeport); P_NEW=$(freeport)

wait_http() { # wait_http URL: up to 10 s
    for _ in $(seq 100); do
        curl -s -o /dev/null --max-time 1 "$1" && return 0
        sleep 0.1
    done
    return 1
}

# ---- config ----
write_config() { # write_config FILE [extra router yaml]
    cat >"$1" <<EOF
entryPoints:
  web:
    address: "127.0.0.1:$P_WEB"
http:
  routers:
    host-a:
      rule: "Host(\`a.test\`)"
      service: a
    host-b:
      rule: "Host(\`b.test\`)"
      service: b
    strip:
      rule: "Host(\`a.test\`) && PathPrefix(\`/strip\`)"
      service: a
      middlewares: [strip, hdrs]
    weighted:
      rule: "Host(\`w.test\`)"
      service: canary
    down:
      rule: "Host(\`down.test\`)"
      service: down
    empty:
      rule: "Host(\`empty.test\`)"
      service: empty
$2
  services:
    a:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:$P_A"}]
    b:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:$P_B"}]
    canary:
      weighted:
        services: [{name: a, weight: 3}, {name: b, weight: 1}]
    down:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:$P_DOWN"}]
    empty:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:$P_A", weight: 0}]
  middlewares:
    strip:
      stripPrefix: {prefixes: [/strip]}
    hdrs:
      headers:
        customRequestHeaders: {X-Test-Req: "yes"}
        customResponseHeaders: {X-Test-Resp: "hello"}
EOF
}
CFG=$TMP/config.yaml
write_config "$CFG" ""

# ---- start ----
"$WHOAMI" --addr "127.0.0.1:$P_A" --name A >"$TMP/a.log" 2>&1 & PIDS+=($!)
"$WHOAMI" --addr "127.0.0.1:$P_B" --name B >"$TMP/b.log" 2>&1 & PIDS+=($!)
"$DP" --config "$CFG" --workers 2 --admin-addr "127.0.0.1:$P_ADMIN" \
    --route-timeout 2s --drain-timeout 5s >"$TMP/dp.log" 2>&1 & DP_PID=$!
PIDS+=($DP_PID)
WEB=http://127.0.0.1:$P_WEB
ADMIN=http://127.0.0.1:$P_ADMIN
wait_http "http://127.0.0.1:$P_A/health" || { fail start "whoami A"; exit 1; }
wait_http "http://127.0.0.1:$P_B/health" || { fail start "whoami B"; exit 1; }
wait_http "$ADMIN/ping" || { fail start "admin"; cat "$TMP/dp.log"; exit 1; }
for _ in $(seq 50); do curl -s -o /dev/null "$WEB/" && break; sleep 0.1; done

# ---- cases ----
get() { curl -s --max-time 10 "$@"; }
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }

check admin-ping [ "$(get "$ADMIN/ping")" = OK ]
check admin-ready [ "$(code "$ADMIN/ready")" = 200 ]
check admin-config-dump sh -c "curl -s '$ADMIN/config_dump' | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"listeners\"] and d[\"routes\"] and d[\"clusters\"] and d[\"endpoints\"]'"

check route-host-a sh -c "curl -s -i -H 'Host: a.test' '$WEB/' | grep -q '^X-Whoami-Name: A'"
check route-host-b sh -c "curl -s -i -H 'Host: b.test' '$WEB/' | grep -q '^X-Whoami-Name: B'"
check not-found [ "$(code -H 'Host: nothing.test' "$WEB/")" = 404 ]

OUT=$(get -i -H 'Host: a.test' "$WEB/strip/deeper/x?q=1")
check strip-prefix grep -q '^GET /deeper/x?q=1 HTTP/1.1' <<<"$OUT"
check header-request grep -qi '^x-test-req: yes' <<<"$OUT"
check header-response grep -qi '^x-test-resp: hello' <<<"$OUT"
check x-forwarded-for grep -q '^X-Forwarded-For: 127.0.0.1' <<<"$OUT"
check x-forwarded-proto grep -q '^X-Forwarded-Proto: http' <<<"$OUT"

NB=0; NA=0
for _ in $(seq 200); do
    n=$(curl -s -o /dev/null -D - -H 'Host: w.test' "$WEB/bench" | tr -d '\r' | sed -n 's/^X-Whoami-Name: //p')
    case $n in A) NA=$((NA + 1));; B) NB=$((NB + 1));; esac
done
# 3:1 weights: B expected 50 of 200; accept 25..80
check "weighted-distribution(A=$NA,B=$NB)" [ $((NA + NB)) -eq 200 -a "$NB" -ge 25 -a "$NB" -le 80 ]

V=$(curl -s -v -H 'Host: a.test' "$WEB/1" "$WEB/2" 2>&1)
check keepalive-client grep -q 'Re-using existing connection' <<<"$V"
REUSED=$(get "$ADMIN/metrics" | sed -n 's/^dataplane_upstream_reused_total //p')
check "keepalive-upstream($REUSED)" [ "${REUSED:-0}" -gt 0 ]

check pipelining python3 "$HERE/rawhttp.py" "$P_WEB" pipeline
check chunked-upload python3 "$HERE/rawhttp.py" "$P_WEB" chunked
check chunked-invalid-400 python3 "$HERE/rawhttp.py" "$P_WEB" bad-chunked
check expect-100-continue python3 "$HERE/rawhttp.py" "$P_WEB" expect
check smuggling-cl-te-400 python3 "$HERE/rawhttp.py" "$P_WEB" smuggle-clte
check smuggling-double-cl-400 python3 "$HERE/rawhttp.py" "$P_WEB" smuggle-cl2

head -c 3000000 /dev/urandom >"$TMP/upload.bin"
check chunked-upload-3MB [ "$(code -H 'Host: a.test' -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/upload.bin" "$WEB/up")" = 200 ]
check cl-upload-3MB [ "$(code -H 'Host: a.test' --data-binary @"$TMP/upload.bin" "$WEB/up")" = 200 ]
SIZE=$(curl -s -o /dev/null -w '%{size_download}' -H 'Host: a.test' "$WEB/data?size=10485760")
check "large-response-10MB($SIZE)" [ "$SIZE" = 10485760 ]

check bad-gateway-502 [ "$(code -H 'Host: down.test' "$WEB/")" = 502 ]
check no-endpoint-503 [ "$(code -H 'Host: empty.test' "$WEB/")" = 503 ]
check route-timeout-504 [ "$(code -H 'Host: a.test' "$WEB/?wait=4s")" = 504 ]
check head-request [ "$(curl -s -I -o /dev/null -w '%{http_code}' -H 'Host: a.test' "$WEB/")" = 200 ]
check bad-request-400 [ "$(code -X 'BAD METHOD' -H 'Host: a.test' "$WEB/")" = 400 ]

METRICS=$(get "$ADMIN/metrics")
check metrics-classes grep -q '^dataplane_http_responses_total{code="5xx"} [1-9]' <<<"$METRICS"
check metrics-connect-errors grep -q '^dataplane_upstream_connect_errors_total [1-9]' <<<"$METRICS"

# ---- reloads ----
check before-reload-404 [ "$(code -H 'Host: new.test' "$WEB/")" = 404 ]
write_config "$CFG" '    new:
      rule: "Host(`new.test`)"
      service: b'
kill -HUP "$DP_PID"
for _ in $(seq 50); do [ "$(code -H 'Host: new.test' "$WEB/")" = 200 ] && break; sleep 0.1; done
check sighup-new-route sh -c "curl -s -i -H 'Host: new.test' '$WEB/' | grep -q '^X-Whoami-Name: B'"

cp "$CFG" "$TMP/good.yaml"
printf 'http:\n  routers:\n    x: {rule: "Host(`x`)", service: nope}\n' >"$CFG"
kill -HUP "$DP_PID"
sleep 0.5
check sighup-broken-logged grep -q 'config_rejected' "$TMP/dp.log"
check sighup-broken-keeps-old sh -c "curl -s -i -H 'Host: new.test' '$WEB/' | grep -q '^X-Whoami-Name: B'"
FAILURES=$(get "$ADMIN/metrics" | sed -n 's/^dataplane_config_failures_total //p')
check "metrics-config-failures($FAILURES)" [ "${FAILURES:-0}" -ge 1 ]
cp "$TMP/good.yaml" "$CFG"

# Reload under load: 4 client loops of keep-alive curls, 20 reloads meanwhile.
load_loop() { # load_loop OUTFILE: 100 requests x 5 per curl
    for _ in $(seq 20); do
        curl -s -w '%{http_code}\n' --max-time 10 -H 'Host: a.test' \
            -o /dev/null "$WEB/bench" -o /dev/null "$WEB/bench" \
            -o /dev/null "$WEB/bench" -o /dev/null "$WEB/bench" \
            -o /dev/null "$WEB/bench"
    done >"$1"
}
LPIDS=()
for i in 1 2 3 4; do load_loop "$TMP/load$i.txt" & LPIDS+=($!); done
for _ in $(seq 20); do kill -HUP "$DP_PID"; sleep 0.05; done
for p in "${LPIDS[@]}"; do wait "$p"; done
TOTAL=$(cat "$TMP"/load*.txt | wc -l)
BAD=$(cat "$TMP"/load*.txt | grep -vc '^200$')
check "reload-under-load(total=$TOTAL,non2xx=$BAD)" [ "$TOTAL" -eq 400 -a "$BAD" -eq 0 ]
SWAPS=$(get "$ADMIN/metrics" | sed -n 's/^dataplane_table_swaps_total //p')
check "table-swaps($SWAPS)" [ "${SWAPS:-0}" -ge 20 ]

# ---- drain ----
curl -s -o "$TMP/slow.txt" -w '%{http_code}' --max-time 10 -H 'Host: a.test' \
    "$WEB/slow?wait=1s" >"$TMP/slow.code" &
SLOW=$!
sleep 0.3
T0=$(date +%s%N)
kill -TERM "$DP_PID"
wait "$SLOW"
check drain-inflight-completes [ "$(cat "$TMP/slow.code")" = 200 ]
for _ in $(seq 100); do kill -0 "$DP_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$DP_PID" 2>/dev/null; then
    fail drain-exit "still running 10 s after SIGTERM"
else
    wait "$DP_PID"; RC=$?
    MS=$(( ($(date +%s%N) - T0) / 1000000 ))
    check "drain-exit(rc=$RC,${MS}ms)" [ "$RC" -eq 0 -a "$MS" -lt 5000 ]
fi
if [ -n "${DP_ASAN:-}" ]; then
    check asan-clean sh -c "! grep -q -E 'ERROR: (Address|Leak)Sanitizer|runtime error' '$TMP/dp.log'"
fi

echo "$FAILS failure(s)"
[ "$FAILS" -eq 0 ]
