#!/usr/bin/env bash
# integration/h2/run.sh -- HTTP/2 and gRPC through the data node: nghttp and
# h2load against its cleartext HTTP/2 entry point (prior knowledge), whoami
# backends (HTTP/1.1) and a Node gRPC backend behind an h2c:// service,
# called from Node (@grpc/grpc-js) and Python (grpcio); backend restart
# mid-stream, deadlines, no backend; rapid-reset and PING/SETTINGS floods
# (RSS and CPU bounded, GOAWAY, other clients served); drain on SIGTERM.
# HTTP/2 over TLS (ALPN "h2", certificates from dataplane/tls/testdata/
# gen.sh): nghttp, curl --http2 / --http1.1 / no ALPN on one port, h2load,
# Node gRPC with the test CA to the h2c gRPC backend.
# gRPC active health checks (healthCheck.mode: grpc): two backends with the
# Health service, one flipped to NOT_SERVING and back; a gRPC backend
# without the Health service and an HTTP/1.1 one end up unhealthy; a TLS
# backend (ALPN h2 only) checked over https, flipped too.
# Loopback ports picked free, a temp dir of its own; only the pids started
# here are killed.
#
#   integration/h2/run.sh            (DP_ASAN=1: ASan+UBSan build)
#
# Prints "ok <case>" / "FAIL <case>"; exits non-zero if any case failed.
NAME=h2-it
. "$(dirname "$0")/../lib.sh"
HERE=$ROOT/integration/h2

# Runs a helper that prints ok/FAIL lines itself; counts its FAILs.
lines() {
    local out
    out=$(timeout 120 "$@" 2>&1)
    echo "$out" | grep -E '^(ok|FAIL) ' || { fail "$*" "$out"; return; }
    FAILS=$((FAILS + $(echo "$out" | grep -c '^FAIL ')))
}

# ---- build ----
[ -n "${DP_ASAN:-}" ] && use_sanitizers
build //dataplane //tools/whoami
DP=$BIN/dataplane/dataplane
WHOAMI=$BIN/tools/whoami/whoami

P_WEB=$(freeport); P_A=$(freeport); P_B=$(freeport); P_G=$(freeport)
P_ADMIN=$(freeport); P_DEAD=$(freeport); P_H2=$(freeport); P_TLS=$(freeport)
P_HA=$(freeport); P_HB=$(freeport); P_NH=$(freeport); P_HT=$(freeport)
C=$TMP/certs
sh "$ROOT/dataplane/tls/testdata/gen.sh" "$C" || { echo "FAIL certs"; exit 1; }
URL=http://127.0.0.1:$P_WEB

cat >"$TMP/config.yaml" <<CFG
entryPoints:
  web:
    address: "127.0.0.1:$P_WEB"
  websecure:
    address: "127.0.0.1:$P_TLS"
http:
  routers:
    host-a: {rule: "Host(\`a.test\`)", service: a}
    path-b: {rule: "Host(\`b.test\`) && PathPrefix(\`/b\`)", service: b}
    grpc: {rule: "Host(\`grpc.test\`)", service: g}
    grpc-down: {rule: "Host(\`down.test\`)", service: dead}
    plain-h2: {rule: "Host(\`h2.test\`)", service: h2}
    tls-a: {rule: "Host(\`a.b.test\`)", service: a, entryPoints: [websecure], tls: {}}
    tls-grpc: {rule: "Host(\`grpc.b.test\`)", service: g, entryPoints: [websecure], tls: {}}
    grpc-hc: {rule: "Host(\`hc.test\`)", service: hc}
    grpc-hc-none: {rule: "Host(\`hcnone.test\`)", service: hcnone}
  services:
    a: {loadBalancer: {servers: [{url: "http://127.0.0.1:$P_A"}]}}
    b: {loadBalancer: {servers: [{url: "http://127.0.0.1:$P_B"}]}}
    g: {loadBalancer: {servers: [{url: "h2c://127.0.0.1:$P_G"}]}}
    dead: {loadBalancer: {servers: [{url: "h2c://127.0.0.1:$P_DEAD"}]}}
    h2: {loadBalancer: {servers: [{url: "h2c://127.0.0.1:$P_H2"}]}}
    hc:
      loadBalancer:
        servers: [{url: "h2c://127.0.0.1:$P_HA"}, {url: "h2c://127.0.0.1:$P_HB"}]
        healthCheck: {mode: grpc, interval: 200ms, timeout: 1s}
    hcnone:
      loadBalancer:
        servers: [{url: "h2c://127.0.0.1:$P_NH"}, {url: "h2c://127.0.0.1:$P_A"}]
        healthCheck: {mode: grpc, interval: 200ms, timeout: 1s}
    hctls:
      loadBalancer:
        serversTransport: ca
        servers: [{url: "https://127.0.0.1:$P_HT"}]
        healthCheck: {mode: grpc, interval: 200ms, timeout: 1s}
  serversTransports:
    ca: {rootCAs: [$C/ca.crt]}
tls:
  certificates:
    - {certFile: $C/wild.crt, keyFile: $C/wild.key}
CFG

start_whoami A "$P_A"
start_whoami B "$P_B"
start_grpc() {
    node "$HERE/grpc_server.js" "$P_G" G >>"$TMP/g.log" 2>&1 & GPID=$!
    PIDS+=($GPID)
    wait_port "$P_G"
}
start_grpc
# the health-checked backends: NOT_SERVING while $TMP/NAME.down exists
node "$HERE/grpc_server.js" "$P_HA" HA "$TMP/ha.down" >>"$TMP/ha.log" 2>&1 & PIDS+=($!)
node "$HERE/grpc_server.js" "$P_HB" HB "$TMP/hb.down" >>"$TMP/hb.log" 2>&1 & PIDS+=($!)
node "$HERE/grpc_server.js" "$P_NH" NH >>"$TMP/nh.log" 2>&1 & PIDS+=($!)
GRPC_TLS_CERT=$C/ip.crt GRPC_TLS_KEY=$C/ip.key \
    node "$HERE/grpc_server.js" "$P_HT" HT "$TMP/ht.down" >>"$TMP/ht.log" 2>&1 & PIDS+=($!)
# up before the data node: their first probe's reason is the one logged
wait_port "$P_HA" && wait_port "$P_HB" && wait_port "$P_NH" && wait_port "$P_HT" ||
    fail grpc-hc-backends-start
node "$HERE/h2_server.js" "$P_H2" >"$TMP/h2srv.log" 2>&1 & PIDS+=($!)
"$DP" --config "$TMP/config.yaml" --workers 2 --admin-addr "127.0.0.1:$P_ADMIN" \
    >"$TMP/dp.log" 2>&1 & DPID=$!
PIDS+=($DPID)
wait_port "$P_WEB" && wait_port "$P_TLS" && wait_port "$P_A" && wait_port "$P_B" ||
    { fail start; exit 1; }

rss() { kb "$DPID" VmRSS; }
cpu() { awk '{print $14 + $15}' "/proc/$DPID/stat"; } # clock ticks

# ---- HTTP/2 to HTTP/1.1 backends ----
nget() { timeout 20 nghttp -H ":authority: $1" "$URL$2" 2>&1; }
check h2c-route-host bash -c "$(declare -f nget); URL=$URL; nget a.test /x | grep -q '^Name: A'"
check h2c-route-path bash -c "$(declare -f nget); URL=$URL; nget b.test /b/y | grep -q '^Name: B'"
check h2c-forwarded bash -c "$(declare -f nget); URL=$URL; nget a.test /x | grep -q '^X-Forwarded-For: 127.0.0.1'"
check h2c-404 bash -c "timeout 20 nghttp -v -H ':authority: nope.test' $URL/ 2>&1 | grep -q ':status: 404'"
check h2c-cookie-crumbs bash -c "timeout 20 nghttp -H ':authority: a.test' -H 'cookie: a=1' -H 'cookie: b=2' $URL/ 2>&1 | grep -qi '^cookie: a=1; b=2'"
out=$(timeout 60 h2load -n 20000 -c 2 -m 100 -H ":authority: a.test" "$URL/bench" 2>&1)
check h2c-concurrent-streams grep -q "20000 succeeded" <<<"$out"
head -c 8000000 /dev/urandom >"$TMP/up.bin"
check h2c-large-upload bash -c "timeout 20 nghttp -d $TMP/up.bin -H ':authority: a.test' $URL/up 2>&1 | grep -qi '^content-length: 8000000'"
check h2c-large-download bash -c "[ \$(timeout 20 nghttp -H ':authority: a.test' '$URL/data?size=30000000' | wc -c) -eq 30000000 ]"

# ---- HTTP/1.1 clients to an HTTP/2 backend ----
wait_port "$P_H2" || fail h2-backend-start
c11() { curl -s --http1.1 --max-time 20 -H 'Host: h2.test' "$@"; }
out=$(c11 -H 'Connection: keep-alive, X-Hop' -H 'X-Hop: 1' -H 'TE: trailers' "$URL/p?q=1")
check h1-to-h2-authority grep -q '"authority":"h2.test","path":"/p?q=1","method":"GET"' <<<"$out"
check h1-to-h2-xff grep -q '"xff":"127.0.0.1"' <<<"$out"
check h1-to-h2-hop-removed grep -q '"connection":"","te":"trailers"' <<<"$out"
out=$(head -c 3000000 /dev/urandom | c11 -X POST --data-binary @- "$URL/up")
check h1-to-h2-upload-length grep -q '"bytes":3000000' <<<"$out"
out=$(head -c 3000000 /dev/urandom | c11 -X POST -H 'Transfer-Encoding: chunked' --data-binary @- "$URL/up")
check h1-to-h2-upload-chunked grep -q '"bytes":3000000' <<<"$out"
check h1-to-h2-download bash -c "[ \$(curl -s --http1.1 --max-time 20 -H 'Host: h2.test' '$URL/big?size=20000000' | wc -c) -eq 20000000 ]"
out=$(c11 -i --raw "$URL/trailers")
check h1-to-h2-trailers grep -qi '^x-checksum: abc' <<<"$out"
out=$(c11 -w '%{num_connects}\n' -o /dev/null "$URL/a" -o /dev/null "$URL/b")
check h1-to-h2-keepalive grep -q '^0$' <<<"$(tail -1 <<<"$out")"

# ---- gRPC ----
GT=127.0.0.1:$P_WEB
# the clients route by :authority (H2_AUTHORITY: a channel option)
lines env H2_AUTHORITY=grpc.test node "$HERE/grpc_client.js" "$GT" unary sstream cstream bidi big status deadline
lines env H2_AUTHORITY=grpc.test $PY "$HERE/grpc_py.py" "$GT" unary sstream
lines env H2_AUTHORITY=down.test node "$HERE/grpc_client.js" "$GT" unavailable
lines env H2_AUTHORITY=down.test $PY "$HERE/grpc_py.py" "$GT" unavailable

# backend killed while streaming: the client ends with an error status
(env H2_AUTHORITY=grpc.test node "$HERE/grpc_client.js" "$GT" midstream >"$TMP/mid.out" 2>&1) & MID=$!
for _ in $(seq 100); do grep -q streaming "$TMP/mid.out" && break; sleep 0.05; done
kill "$GPID"; wait "$GPID" 2>/dev/null
wait "$MID"
grep -E '^(ok|FAIL) ' "$TMP/mid.out" || fail grpc-node-midstream "$(cat "$TMP/mid.out")"
FAILS=$((FAILS + $(grep -c '^FAIL ' "$TMP/mid.out")))
start_grpc
lines env H2_AUTHORITY=grpc.test node "$HERE/grpc_client.js" "$GT" unary

# ---- gRPC active health checks ----
# hnames N: the backend names of N Echo calls to hc.test, counted
hnames() {
    env H2_AUTHORITY=hc.test node "$HERE/grpc_client.js" "$GT" names "$1" 2>&1 |
        sort | uniq -c | tr -s ' \n' ' '
}
# ep_health CLUSTER PORT: 1 or 0 from the data node's /metrics
ep_health() {
    curl -s --max-time 5 "http://127.0.0.1:$P_ADMIN/metrics" |
        sed -n "s/^dataplane_endpoint_healthy{cluster=\"$1\",address=\"127.0.0.1:$2\"} //p"
}
is_health() { [ "$(ep_health "$1" "$2")" = "$3" ]; }
# interval 200ms, thresholds 1: a second is plenty; 10 s for a loaded CI
check grpc-hc-both-healthy wait_until 10 eval 'is_health hc $P_HA 1 && is_health hc $P_HB 1'
out=$(hnames 20)
check "grpc-hc-both-serve($out)" grep -qE ' [0-9]+ HA .*[0-9]+ HB ' <<<"$out"
check grpc-hc-no-health-service-unhealthy wait_until 10 is_health hcnone "$P_NH" 0
check grpc-hc-no-health-service-reason grep -q "endpoint_unhealthy.*cluster=hcnone endpoint=127.0.0.1:$P_NH reason=\"grpc-status 12" "$TMP/dp.log"
check grpc-hc-http1-backend-unhealthy wait_until 10 is_health hcnone "$P_A" 0
touch "$TMP/hb.down"
check grpc-hc-not-serving-ejected wait_until 10 is_health hc "$P_HB" 0
check grpc-hc-not-serving-reason grep -q "endpoint_unhealthy.*cluster=hc endpoint=127.0.0.1:$P_HB reason=\"NOT_SERVING\"" "$TMP/dp.log"
check grpc-hc-survivor-healthy is_health hc "$P_HA" 1
out=$(hnames 20)
check "grpc-hc-all-to-survivor($out)" [ "$out" = " 20 HA " ]
rm -f "$TMP/hb.down"
check grpc-hc-serving-again wait_until 10 is_health hc "$P_HB" 1
out=$(hnames 20)
check "grpc-hc-back-in-rotation($out)" grep -qE ' [0-9]+ HB ' <<<"$out"
# over TLS: NOT_SERVING is only seen through a whole h2 exchange
touch "$TMP/ht.down"
check grpc-hc-tls-not-serving wait_until 10 is_health hctls "$P_HT" 0
check grpc-hc-tls-reason grep -q "endpoint_unhealthy.*cluster=hctls endpoint=127.0.0.1:$P_HT reason=\"NOT_SERVING\"" "$TMP/dp.log"
rm -f "$TMP/ht.down"
check grpc-hc-tls-serving-again wait_until 10 is_health hctls "$P_HT" 1

# ---- HTTP/2 over TLS: ALPN picks h2, http/1.1 or nothing on one port ----
TURL=https://a.b.test:$P_TLS
tcurl() { # tcurl ARGS...: the response, then the HTTP version on its own line
    curl -sS --max-time 20 --cacert "$C/ca.crt" --resolve "a.b.test:$P_TLS:127.0.0.1" \
        -w '\n%{http_version}\n' "$@"
}
# has OUTPUT VERSION: whoami A answered, over that HTTP version
has() { grep -q '^Name: A' <<<"$1" && [ "$(tail -1 <<<"$1")" = "$2" ]; }
out=$(timeout 20 nghttp -v -H ":authority: a.b.test" "https://127.0.0.1:$P_TLS/x" 2>&1)
check tls-nghttp-alpn-h2 grep -q '^The negotiated protocol: h2' <<<"$out"
check tls-nghttp-whoami grep -q '^Name: A' <<<"$out"
check tls-curl-http2 has "$(tcurl --http2 "$TURL/x")" 2
check tls-curl-http2-forwarded-proto grep -q '^X-Forwarded-Proto: https' <<<"$(tcurl --http2 "$TURL/x")"
check tls-curl-http11-same-port has "$(tcurl --http1.1 "$TURL/x")" 1.1
check tls-curl-no-alpn-http11 has "$(tcurl --http1.1 --no-alpn "$TURL/x")" 1.1
check tls-curl-http2-large-download bash -c "[ \$(curl -s --http2 --max-time 20 --cacert '$C/ca.crt' --resolve 'a.b.test:$P_TLS:127.0.0.1' '$TURL/data?size=30000000' | wc -c) -eq 30000000 ]"
out=$(timeout 60 h2load -n 2000 -c 10 -m 10 -H ":authority: a.b.test" "https://127.0.0.1:$P_TLS/bench" 2>&1)
check tls-h2load-alpn-h2 grep -q '^Application protocol: h2' <<<"$out"
check tls-h2load-all-succeeded grep -q "2000 succeeded" <<<"$out"
echo "   gRPC over TLS (Node, test CA) to the h2c backend:"
lines env H2_AUTHORITY=grpc.b.test H2_CA="$C/ca.crt" node "$HERE/grpc_client.js" \
    "127.0.0.1:$P_TLS" unary sstream cstream bidi big status deadline

# ---- attacks ----
rss0=$(rss); cpu0=$(cpu)
timeout 120 h2load -n 100000 -c 1 -m 10 -H ":authority: a.test" "$URL/bench" >"$TMP/bg.out" 2>&1 & BG=$!
out=$($PY "$HERE/h2attack.py" reset 127.0.0.1 "$P_WEB" a.test 20000)
check "rapid-reset-goaway ($out)" grep -q "^goaway 11 " <<<"$out"
out=$($PY "$HERE/h2attack.py" ping 127.0.0.1 "$P_WEB" 1500000)
check "ping-flood-cut ($out)" grep -qE "^(goaway|closed) " <<<"$out"
out=$($PY "$HERE/h2attack.py" settings 127.0.0.1 "$P_WEB" 1500000)
check "settings-flood-cut ($out)" grep -qE "^(goaway|closed) " <<<"$out"
wait "$BG"
check others-served-during-attacks grep -q "100000 succeeded" "$TMP/bg.out"
rss1=$(rss); cpu1=$(cpu)
echo "   rss ${rss0} kB -> ${rss1} kB; cpu $(( (cpu1 - cpu0) * 10 )) ms over the attacks"
if [ -z "${DP_ASAN:-}" ]; then # ASan's quarantine holds freed memory
    check rss-bounded test "$rss1" -lt $((rss0 + 65536))
fi
check h2-flood-logged grep -q "event=h2_flood" "$TMP/dp.log"

# ---- drain: GOAWAY, in-flight stream completes ----
(env H2_AUTHORITY=grpc.test node "$HERE/grpc_client.js" "$GT" slowstream >"$TMP/drain.out" 2>&1) & DR=$!
for _ in $(seq 200); do grep -q streaming "$TMP/drain.out" && break; sleep 0.05; done
kill -TERM "$DPID"
wait "$DR"
grep -E '^(ok|FAIL) ' "$TMP/drain.out" || fail drain-inflight "$(cat "$TMP/drain.out")"
FAILS=$((FAILS + $(grep -c '^FAIL ' "$TMP/drain.out")))
for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
check drain-exit bash -c "! kill -0 $DPID 2>/dev/null"

[ "$FAILS" -eq 0 ] && echo "all h2 cases passed"
exit $((FAILS > 0))
