#!/usr/bin/env bash
# integration/robustness/run.sh -- the data node under stress and failure,
# with real processes: whoami backends, misbehaving backends and clients
# (helper.py), slap, and a data node in standalone mode (--config). Checks
# memory stays bounded with 100 MB bodies and slow peers (backpressure),
# that broken or slow backends cost only their own requests, timeouts
# (504, 408), active health checks ejecting and re-adding an endpoint,
# retries moving to another endpoint, and a SIGTERM drain beside a second
# data node on the same port (SO_REUSEPORT) losing nothing.
#
#   integration/robustness/run.sh        (RB_ASAN=1: ASan+UBSan build; the
#                                         memory limits are then not checked)
#
# Everything runs on loopback ports picked free at start, in a temp dir of
# its own, from copies of the binaries; only pids started here are killed.
# Prints "ok <case>" / "FAIL <case>"; exits non-zero if any case failed.
# Takes about a minute.
NAME=rb-it
. "$(dirname "$0")/../lib.sh"
HERE=$ROOT/integration/robustness
RSS_LIMIT_KB=$((64 * 1024)) # data node peak RSS allowed (VmHWM)

# ---- build (binaries copied: others may rebuild meanwhile) ----
[ -n "${RB_ASAN:-}" ] && use_sanitizers
build //dataplane //tools/whoami //tools/slap
copy_bins //dataplane //tools/whoami //tools/slap
DP=$TMP/bin/dataplane
WHOAMI=$TMP/bin/whoami
SLAP=$TMP/bin/slap

P_WEB=$(freeport); P_ADMIN=$(freeport); P_ADMIN2=$(freeport)
P_A=$(freeport); P_C=$(freeport); P_BROKEN=$(freeport); P_SLOW=$(freeport)
P_DEAD=$(freeport)
P_DEAD2=$(freeport)

# ---- memory ----
mib() { echo "$(($1 / 1024))MiB"; }
# rss_watch PID OUT: samples VmRSS every 20 ms; OUT holds the peak in kB.
rss_watch() {
    local peak=0 v
    echo 0 >"$2"
    while v=$(kb "$1" VmRSS) && [ -n "$v" ]; do
        if [ "$v" -gt "$peak" ]; then peak=$v; echo "$peak" >"$2"; fi
        sleep 0.02
    done
}
WATCH=
watch_start() { rss_watch "$DP_PID" "$TMP/peak" & WATCH=$!; }
watch_stop() { # prints the peak RSS sampled, in kB
    kill "$WATCH" 2>/dev/null; wait "$WATCH" 2>/dev/null
    cat "$TMP/peak"
}
# mem_ok PEAK_KB: below the limit (always true under ASan)
mem_ok() { [ -n "${RB_ASAN:-}" ] || [ "$1" -lt "$RSS_LIMIT_KB" ]; }

# ---- config ----
CFG=$TMP/config.yaml
cat >"$CFG" <<EOF
entryPoints:
  web:
    address: "127.0.0.1:$P_WEB"
http:
  routers:
    a: {rule: "Host(\`a.test\`)", service: a}
    broken: {rule: "Host(\`broken.test\`)", service: broken}
    slowread: {rule: "Host(\`slowread.test\`)", service: slowread}
    hc: {rule: "Host(\`hc.test\`)", service: hc}
    retry: {rule: "Host(\`retry.test\`)", service: flaky, middlewares: [retry3]}
    noretry: {rule: "Host(\`noretry.test\`)", service: flaky}
    backoff: {rule: "Host(\`backoff.test\`)", service: dead, middlewares: [retrywait]}
  services:
    a:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:$P_A"}]
    broken:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:$P_BROKEN"}]
    slowread:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:$P_SLOW"}]
    hc:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:$P_A"}, {url: "http://127.0.0.1:$P_C"}]
        healthCheck: {path: /health, interval: 500ms, timeout: 300ms}
    flaky:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:$P_DEAD"}, {url: "http://127.0.0.1:$P_A"}]
    dead:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:$P_DEAD"}, {url: "http://127.0.0.1:$P_DEAD2"}]
  middlewares:
    retry3:
      retry: {attempts: 3}
    retrywait:
      retry: {attempts: 2, initialInterval: 400ms}
EOF

# ---- start ----
start_c() { start_whoami C "$P_C"; C_PID=$LAST_PID; }
start_whoami A "$P_A"
start_c
$PY "$HERE/helper.py" broken "$P_BROKEN" >"$TMP/broken.log" 2>&1 & PIDS+=($!)
$PY "$HERE/helper.py" slowread "$P_SLOW" 5000000 >"$TMP/slowread.log" 2>&1 & PIDS+=($!)
start_dp() { # start_dp ADMIN_PORT LOG: sets DP_PID
    "$DP" --config "$CFG" --workers 2 --admin-addr "127.0.0.1:$1" \
        --route-timeout 2s --drain-timeout 5s >"$2" 2>&1 &
    DP_PID=$!
    PIDS+=($DP_PID)
}
start_dp "$P_ADMIN" "$TMP/dp.log"
WEB=http://127.0.0.1:$P_WEB
ADMIN=http://127.0.0.1:$P_ADMIN
wait_http "http://127.0.0.1:$P_A/health" || { fail start "whoami A"; exit 1; }
wait_http "http://127.0.0.1:$P_C/health" || { fail start "whoami C"; exit 1; }
wait_port "$P_BROKEN" && wait_port "$P_SLOW" || { fail start "helper backends"; exit 1; }
wait_http "$ADMIN/ping" || { fail start "admin"; cat "$TMP/dp.log"; exit 1; }
for _ in $(seq 50); do curl -s -o /dev/null "$WEB/" && break; sleep 0.1; done

# alive AFTER: stops the run when the data node died (later cases would
# only time out).
alive() {
    kill -0 "$DP_PID" 2>/dev/null && return 0
    fail "data-node-alive-after-$1" "it died; log tail:"
    tail -n 30 "$TMP/dp.log"
    exit 1
}
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
metric() { curl -s "$ADMIN/metrics" | sed -n "s/^$1 //p"; }
echo "data node RSS at start: $(mib "$(kb "$DP_PID" VmRSS)")"

# The head timeout (10 s, the default) runs beside the other cases.
$PY "$HERE/helper.py" head-timeout "$P_WEB" 14 >"$TMP/408.out" 2>&1 & H408=$!

# ---- 100 MB bodies, bounded memory ----
truncate -s 100M "$TMP/100M.bin"
watch_start
OUT=$(curl -s -o /dev/null -w '%{http_code} %{size_upload}' --max-time 60 \
    -H 'Host: a.test' -X POST -T "$TMP/100M.bin" "$WEB/up")
PEAK=$(watch_stop)
check "upload-100MB-content-length($OUT,peak=$(mib "$PEAK"))" \
    [ "$OUT" = "200 104857600" ] && mem_ok "$PEAK"
alive upload

watch_start
# (to helper.py, which answers with the body length it counted)
OUT=$(head -c 104857600 /dev/zero | curl -s -w ' %{http_code}' --max-time 60 \
    -H 'Host: slowread.test' -H 'Transfer-Encoding: chunked' -X POST -T - "$WEB/up?rate=0" |
    tr -d '\n')
PEAK=$(watch_stop)
check "upload-100MB-chunked-stream($OUT,peak=$(mib "$PEAK"))" \
    [ "$OUT" = "got 104857600 200" ] && mem_ok "$PEAK"

# 20 MB to a backend reading 5 MB/s: the client is held back, not buffered,
# and the upload outlasting the 2 s route timeout is no 504 (the timeout
# counts from the last request progress).
watch_start
BASE=$(kb "$DP_PID" VmRSS)
T0=$(date +%s%N)
OUT=$(head -c 20000000 /dev/zero | curl -s -w ' %{http_code}' --max-time 30 \
    -H 'Host: slowread.test' -H 'Transfer-Encoding: chunked' -X POST -T - "$WEB/up" | tr -d '\n')
MS=$(( ($(date +%s%N) - T0) / 1000000 ))
PEAK=$(watch_stop)
check "upload-to-slow-backend($OUT,${MS}ms,rss+$(( (PEAK - BASE) / 1024 ))MiB)" \
    [ "$OUT" = "got 20000000 200" -a "$MS" -ge 3000 ] && mem_ok "$PEAK" &&
    { [ -n "${RB_ASAN:-}" ] || [ $((PEAK - BASE)) -lt 8192 ]; }

# 100 MB response read at 25 MB/s while another client is served.
watch_start
curl -s -o /dev/null -w '%{http_code} %{size_download}' --max-time 60 --limit-rate 25M \
    -H 'Host: a.test' "$WEB/data?size=104857600" >"$TMP/big.out" &
BIG=$!
sleep 1
T0=$(date +%s%N)
FAST=$(code -H 'Host: a.test' "$WEB/")
FAST_MS=$(( ($(date +%s%N) - T0) / 1000000 ))
wait "$BIG"
PEAK=$(watch_stop)
check "download-100MB-slow-client($(cat "$TMP/big.out"),peak=$(mib "$PEAK"))" \
    [ "$(cat "$TMP/big.out")" = "200 104857600" ] && mem_ok "$PEAK"
check "others-served-during-download($FAST,${FAST_MS}ms)" [ "$FAST" = 200 -a "$FAST_MS" -lt 1000 ]

# A client reading at 10 KB/s from a 100 MB response, 8 of them at once:
# the upstream is not read ahead (backpressure), memory stays flat.
watch_start
BASE=$(kb "$DP_PID" VmRSS)
SR=()
for i in 1 2 3 4 5 6 7 8; do
    $PY "$HERE/helper.py" slow-reader "$P_WEB" a.test "/data?size=104857600" 10000 4 \
        >"$TMP/slow$i.out" 2>&1 & SR+=($!)
done
SRFAIL=0
for p in "${SR[@]}"; do wait "$p" || SRFAIL=$((SRFAIL + 1)); done
PEAK=$(watch_stop)
GOT=$(cat "$TMP"/slow1.out)
check "slow-clients-10KB/s(x8,failed=$SRFAIL,read=$GOT,rss+$(( (PEAK - BASE) / 1024 ))MiB)" \
    [ "$SRFAIL" -eq 0 ] && mem_ok "$PEAK" &&
    { [ -n "${RB_ASAN:-}" ] || [ $((PEAK - BASE)) -lt 16384 ]; }
HWM=$(kb "$DP_PID" VmHWM)
check "peak-rss-after-large-transfers($(mib "$HWM"))" mem_ok "$HWM"

alive large-bodies

# ---- slow backends ----
T0=$(date +%s%N)
BG=()
for i in $(seq 40); do
    code -H 'Host: a.test' "$WEB/slow$i?wait=1500ms" >"$TMP/sb$i.out" & BG+=($!)
done
sleep 0.3
T1=$(date +%s%N)
FAST=$(code -H 'Host: a.test' "$WEB/")
FAST_MS=$(( ($(date +%s%N) - T1) / 1000000 ))
for p in "${BG[@]}"; do wait "$p"; done
MS=$(( ($(date +%s%N) - T0) / 1000000 ))
N200=0
for i in $(seq 40); do [ "$(cat "$TMP/sb$i.out")" = 200 ] && N200=$((N200 + 1)); done
check "slow-backend-40-concurrent(200s=$N200,${MS}ms)" [ "$N200" -eq 40 -a "$MS" -lt 3500 ]
check "fast-request-beside-slow-ones($FAST,${FAST_MS}ms)" [ "$FAST" = 200 -a "$FAST_MS" -lt 1000 ]

alive slow-backends

# ---- a backend dying mid-response ----
broken() { # broken PATH: prints "curl_rc ms"
    local t0 rc
    t0=$(date +%s%N)
    curl -s -o /dev/null --max-time 10 -H 'Host: broken.test' "$WEB$1"
    rc=$?
    echo "$rc $(( ($(date +%s%N) - t0) / 1000000 ))"
}
for p in half-cl half-chunked half-rst; do
    read -r RC MS < <(broken "/$p")
    # 18: transfer closed with outstanding data; 56: connection reset
    check "backend-dies-mid-body-$p(curl=$RC,${MS}ms)" \
        [ "$RC" -eq 18 -o "$RC" -eq 56 ] && [ "$MS" -lt 3000 ]
done
read -r RC MS < <(broken /head-only)
check "backend-dies-after-head(curl=$RC,${MS}ms)" [ "$RC" -eq 18 -o "$RC" -eq 56 ] && [ "$MS" -lt 3000 ]
check broken-backend-still-usable [ "$(code -H 'Host: broken.test' "$WEB/fine")" = 200 ]
# Many at once, mixed with good requests on the same data node.
BG=()
for i in $(seq 20); do broken /half-cl >"$TMP/brk$i.out" & BG+=($!); done
GOOD=0
for i in $(seq 40); do [ "$(code -H 'Host: a.test' "$WEB/g$i")" = 200 ] && GOOD=$((GOOD + 1)); done
for p in "${BG[@]}"; do wait "$p"; done
check "others-unaffected-by-broken-backend(good=$GOOD/40)" [ "$GOOD" -eq 40 ]
check data-node-alive kill -0 "$DP_PID"

alive broken-backends

# ---- timeouts ----
T0=$(date +%s%N)
C504=$(code -H 'Host: a.test' "$WEB/?wait=5s")
MS=$(( ($(date +%s%N) - T0) / 1000000 ))
check "route-timeout-504($C504,${MS}ms)" [ "$C504" = 504 -a "$MS" -ge 1900 -a "$MS" -lt 3500 ]
check "after-504-still-serving" [ "$(code -H 'Host: a.test' "$WEB/")" = 200 ]
if wait "$H408"; then ok "client-head-timeout-408($(cat "$TMP/408.out"))"; else
    fail client-head-timeout-408 "$(cat "$TMP/408.out")"; fi

alive timeouts

# ---- active health checks: eject and re-add ----
names() { # names N: the X-Whoami-Name of N requests to hc.test, one a line
    for _ in $(seq "$1"); do
        curl -s -o /dev/null -D - --max-time 5 -H 'Host: hc.test' "$WEB/" |
            tr -d '\r' | sed -n 's/^X-Whoami-Name: //p;/^HTTP/{s/^HTTP[^ ]* \([0-9]*\).*/code=\1/p}' |
            grep -v '^code=200$' || true
    done
}
OUT=$(names 20 | sort | uniq -c | tr -s ' \n' ' ')
check "hc-both-serve-before($OUT)" sh -c "echo '$OUT' | grep -q ' A' && echo '$OUT' | grep -q ' C'"
kill -KILL "$C_PID"; wait "$C_PID" 2>/dev/null
T0=$(date +%s%N)
EJECTED=
for _ in $(seq 60); do # up to 6 s: 10 requests in a row only from A
    if [ "$(names 10 | sort -u | tr -d '\n')" = A ]; then EJECTED=1; break; fi
    sleep 0.1
done
MS=$(( ($(date +%s%N) - T0) / 1000000 ))
# interval 500ms x unhealthy threshold 1, + timeout and slack
check "hc-ejects-dead-endpoint(${MS}ms)" [ -n "$EJECTED" ] && [ "$MS" -lt 3000 ]
OUT=$(names 50 | sort | uniq -c | tr -s ' \n' ' ')
check "hc-all-to-survivor($OUT)" [ "$OUT" = " 50 A " ]
start_c
wait_http "http://127.0.0.1:$P_C/health"
T0=$(date +%s%N)
BACK=
for _ in $(seq 60); do
    if names 10 | grep -q '^C$'; then BACK=1; break; fi
    sleep 0.1
done
MS=$(( ($(date +%s%N) - T0) / 1000000 ))
check "hc-re-adds-endpoint(${MS}ms)" [ -n "$BACK" ] && [ "$MS" -lt 3000 ]
HCF=$(metric dataplane_health_check_failures_total)
[ -n "$HCF" ] && check "hc-metrics-failures($HCF)" [ "$HCF" -ge 1 ]

alive health-checks

# ---- retries ----
codes() { # codes HOST N: the status codes, sorted and counted
    for i in $(seq "$2"); do code -H "Host: $1" "$WEB/r$i"; echo; done | sort | uniq -c | tr -s ' \n' ' '
}
R0=$(metric dataplane_upstream_retries_total)
OUT=$(codes noretry.test 40)
check "no-retry-baseline-fails-some($OUT)" sh -c "echo '$OUT' | grep -q ' 502'"
OUT=$(codes retry.test 100)
R1=$(metric dataplane_upstream_retries_total)
check "retry-moves-to-other-endpoint($OUT,retries=$((R1 - R0)))" [ "$OUT" = " 100 200 " ] &&
    [ $((R1 - R0)) -ge 20 ]

# The retry waits its back-off (initialInterval 400 ms, spread over
# [200, 600] ms as Traefik's randomization factor 0.5 does) before the
# second attempt, for HTTP/1.1 and HTTP/2 clients alike: both endpoints
# refuse, so the answer is a 502 after at least 200 ms (and well under the
# 2 s route timeout: the wait does not restart it).
for v in --http1.1 --http2-prior-knowledge; do
    OUT=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 10 $v \
        -H 'Host: backoff.test' "$WEB/")
    check "retry-waits-backoff($v: $OUT)" sh -c \
        "set -- $OUT; [ \$1 = 502 ] && awk -v t=\$2 'BEGIN { exit !(t >= 0.19 && t < 1.9) }'"
done

alive retries

# ---- SIGTERM drain beside a second data node on the same port ----
# Nothing may be lost. The two windows where a draining node used to reset
# a request are closed: an idle keep-alive connection is no longer closed
# at once (the client's next request may already be on its way: HTTP/1.1's
# keep-alive race) but waits up to half --drain-timeout for one last request,
# answered with Connection: close; and the connections still in a closing
# listener's accept queue are accepted and served first (SO_REUSEPORT does
# not hand them to the other node unless net.ipv4.tcp_migrate_req=1). At
# 3000/s over 64 connections, four runs: 60,000 requests, none failed.
DP1=$DP_PID
start_dp "$P_ADMIN2" "$TMP/dp2.log"
DP2=$DP_PID
wait_http "http://127.0.0.1:$P_ADMIN2/ping" || fail start "second data node"
sleep 0.5
echo "GET $WEB/bench" >"$TMP/targets"
"$SLAP" -targets "$TMP/targets" -host a.test -rate 400 -duration 5s -conns 32 \
    -quiet -json "$TMP/slap.json" >"$TMP/slap.out" 2>&1 & SLAP_PID=$!
sleep 1.5
T0=$(date +%s%N)
kill -TERM "$DP1"
for _ in $(seq 100); do kill -0 "$DP1" 2>/dev/null || break; sleep 0.1; done
wait "$DP1"; RC=$?
MS=$(( ($(date +%s%N) - T0) / 1000000 ))
check "drain-exit(rc=$RC,${MS}ms)" [ "$RC" -eq 0 -a "$MS" -lt 5500 ]
wait "$SLAP_PID"
read -r SENT DONE FAILED < <($PY -c "import json; d=json.load(open('$TMP/slap.json')); print(d['sent'], d['completed'], d['failed'])")
ERRS=$(sed -n 's/^errors: *//p' "$TMP/slap.out")
check "drain-loses-nothing(sent=$SENT,completed=$DONE,failed=$FAILED,errors=${ERRS:-?})" \
    [ "${FAILED:-1}" -eq 0 -a "${SENT:-0}" -ge 1800 ]
N2=$(curl -s "http://127.0.0.1:$P_ADMIN2/metrics" | sed -n 's/^dataplane_http_requests_total //p')
check "second-node-took-over(requests=${N2:-0})" [ "${N2:-0}" -gt 0 ] &&
    [ "$(code -H 'Host: a.test' "$WEB/")" = 200 ]

if [ -n "${RB_ASAN:-}" ]; then
    kill -TERM "$DP2"; wait "$DP2"
    check asan-clean sh -c "! grep -q -E 'ERROR: (Address|Leak)Sanitizer|runtime error' '$TMP'/dp*.log"
fi

echo "$FAILS failure(s)"
[ "$FAILS" -eq 0 ]
