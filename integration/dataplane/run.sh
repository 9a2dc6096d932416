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
NAME=dp-it
. "$(dirname "$0")/../lib.sh"
HERE=$ROOT/integration/dataplane

# ---- build ----
[ -n "${DP_ASAN:-}" ] && use_sanitizers
build //dataplane //tools/whoami
DP=$BIN/dataplane/dataplane
WHOAMI=$BIN/tools/whoami/whoami

P_WEB=$(freeport); P_A=$(freeport); P_B=$(freeport); P_ADMIN=$(freeport)
P_DOWN=$(freeport); P_NEW=$(freeport); P_HC=$(freeport)

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
    auth:
      rule: "Host(\`auth.test\`)"
      service: a
      middlewares: [auth]
    auth-rm:
      rule: "Host(\`authrm.test\`)"
      service: a
      middlewares: [auth-rm]
    allow-deny:
      rule: "Host(\`deny.test\`)"
      service: a
      middlewares: [allow-10]
    allow-ok:
      rule: "Host(\`allow.test\`)"
      service: a
      middlewares: [allow-local]
    allow-depth:
      rule: "Host(\`xff.test\`)"
      service: a
      middlewares: [allow-xff]
    rate:
      rule: "Host(\`rate.test\`)"
      service: a
      middlewares: [rate]
    rate-slow:
      rule: "Host(\`rateslow.test\`)"
      service: a
      middlewares: [rate-slow]
    inflight:
      rule: "Host(\`inflight.test\`)"
      service: a
      middlewares: [inflight]
    breaker:
      rule: "Host(\`cb.test\`)"
      service: a
      middlewares: [breaker]
    redir-regex:
      rule: "Host(\`rr.test\`)"
      service: a
      middlewares: [redir-regex]
    redir-scheme:
      rule: "Host(\`rs.test\`)"
      service: a
      middlewares: [redir-scheme]
    strip-regex:
      rule: "Host(\`sr.test\`)"
      service: a
      middlewares: [strip-regex]
    replace-path:
      rule: "Host(\`rp.test\`)"
      service: a
      middlewares: [replace-path]
    replace-regex:
      rule: "Host(\`rpr.test\`)"
      service: a
      middlewares: [replace-regex]
    add-prefix:
      rule: "Host(\`ap.test\`)"
      service: a
      middlewares: [add-prefix]
    chained:
      rule: "Host(\`chain.test\`)"
      service: a
      middlewares: [chained]
    cip-local:
      rule: "Host(\`cip.test\`) && ClientIP(\`127.0.0.1/32\`)"
      service: a
    cip-any:
      rule: "Host(\`cip.test\`)"
      service: b
    cip-ten:
      rule: "Host(\`cip2.test\`) && ClientIP(\`10.0.0.0/8\`)"
      service: a
    cip-ten-else:
      rule: "Host(\`cip2.test\`)"
      service: b
    failover:
      rule: "Host(\`fo.test\`)"
      service: fo
    sticky:
      rule: "Host(\`sticky.test\`)"
      service: sticky
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
    primary:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:$P_DOWN"}]
        healthCheck: {path: /health, interval: 300ms, timeout: 200ms}
    fo:
      failover: {service: primary, fallback: b}
    hcport:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:$P_DOWN"}]
        healthCheck: {path: /hc-probe, port: $P_HC, hostname: hc.test, headers: {X-Probe: "on"}, interval: 1s, timeout: 900ms}
    hcstatus:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:$P_DOWN"}]
        healthCheck: {path: /hc-s301, port: $P_HC, method: HEAD, status: 301, followRedirects: true, interval: 1s, timeout: 900ms}
    hcredir:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:$P_DOWN"}]
        healthCheck: {path: /hc-s302, port: $P_HC, interval: 1s, timeout: 900ms}
    hcwant:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:$P_DOWN"}]
        healthCheck: {path: /hc-s200, port: $P_HC, method: post, status: 204, interval: 1s, timeout: 900ms}
    sticky:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:$P_A"}, {url: "http://127.0.0.1:$P_B"}]
        sticky: {cookie: {name: sess, httpOnly: true}}
  middlewares:
    strip:
      stripPrefix: {prefixes: [/strip]}
    hdrs:
      headers:
        customRequestHeaders: {X-Test-Req: "yes"}
        customResponseHeaders: {X-Test-Resp: "hello"}
    auth:
      basicAuth: {users: ["test:$HASH"]}
    auth-rm:
      basicAuth: {users: ["test:$HASH"], removeHeader: true, realm: dp}
    allow-10:
      ipAllowList: {sourceRange: [10.0.0.0/8]}
    allow-local:
      ipAllowList: {sourceRange: [127.0.0.1/32, "::1/128"]}
    allow-xff:
      ipAllowList: {sourceRange: [192.0.2.7/32], ipStrategy: {depth: 1}}
    rate:
      rateLimit: {average: 5, period: 1s, burst: 2}
    rate-slow:
      rateLimit: {average: 1, period: 1s, burst: 1}
    inflight:
      inFlightReq: {amount: 2}
    breaker:
      circuitBreaker:
        expression: "ResponseCodeRatio(500, 600, 0, 600) > 0.30"
        checkPeriod: 100ms
        fallbackDuration: 2s
        recoveryDuration: 1s
    redir-regex:
      redirectRegex: {regex: "^http://rr.test/(.*)", replacement: "http://example.com/new/\${1}"}
    redir-scheme:
      redirectScheme: {scheme: https, permanent: true}
    strip-regex:
      stripPrefixRegex: {regex: ["/api/v[0-9]+"]}
    replace-path:
      replacePath: {path: /replaced}
    replace-regex:
      replacePathRegex: {regex: "^/old/(.*)", replacement: "/new/\$1"}
    add-prefix:
      addPrefix: {prefix: /pre}
    chained:
      chain: {middlewares: [auth, add-prefix]}
EOF
}
HASH='$apr1$itsalt$bGYL7p9XG2o7ZBY934a9F/' # openssl passwd -apr1 -salt itsalt secret
CFG=$TMP/config.yaml
write_config "$CFG" ""

# ---- start ----
# Health check probe recorder (healthCheck port): every request head
# appended to hc-probes.txt, answered 200, or NNN for a path /hc-sNNN.
"$PY" -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
while True:
    c, _ = s.accept(); c.settimeout(2); b = b""
    try:
        while b"\r\n\r\n" not in b:
            d = c.recv(4096)
            if not d: break
            b += d
        with open(sys.argv[2], "ab") as f: f.write(b)
        p = b.split(b" ")[1] if b.count(b" ") > 1 else b""
        st = p[5:8] if p.startswith(b"/hc-s") and p[5:8].isdigit() else b"200"
        c.sendall(b"HTTP/1.1 " + st + b" X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    except OSError: pass
    c.close()
' "$P_HC" "$TMP/hc-probes.txt" >/dev/null 2>&1 &
PIDS+=($!)
wait_port "$P_HC" || { fail start "probe recorder"; exit 1; }
start_whoami A "$P_A"
start_whoami B "$P_B"
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

# ---- middlewares (dataplane/filter) ----
hdr() { # hdr NAME: the value of response header NAME in stdin (CR stripped)
    tr -d '\r' | sed -n "s/^$1: //Ip" | head -1
}
has_not() { # has_not TEXT YES NO: a line matches YES and none matches NO
    grep -qi "$2" <<<"$1" && ! grep -qi "$3" <<<"$1"
}
redirect_is() { # redirect_is HEAD STATUS LOCATION
    grep -q "^HTTP/1.1 $2 " <<<"$1" && [ "$(hdr Location <<<"$1")" = "$3" ]
}
check basic-auth-401 [ "$(code -H 'Host: auth.test' "$WEB/")" = 401 ]
check basic-auth-challenge sh -c "curl -s -D - -o /dev/null -H 'Host: authrm.test' '$WEB/' | grep -qi '^WWW-Authenticate: Basic realm=\"dp\"'"
check basic-auth-wrong-401 [ "$(code -u test:wrong -H 'Host: auth.test' "$WEB/")" = 401 ]
OUT=$(get -i -u test:secret -H 'Host: auth.test' "$WEB/")
check basic-auth-200 grep -q '^X-Whoami-Name: A' <<<"$OUT"
check basic-auth-header-kept grep -qi '^Authorization: Basic' <<<"$OUT"
OUT=$(get -i -u test:secret -H 'Host: authrm.test' "$WEB/")
check basic-auth-remove-header has_not "$OUT" '^X-Whoami-Name: A' '^Authorization:'

check ip-allow-403 [ "$(code -H 'Host: deny.test' "$WEB/")" = 403 ]
check ip-allow-200 [ "$(code -H 'Host: allow.test' "$WEB/")" = 200 ]
check ip-allow-depth-200 [ "$(code -H 'Host: xff.test' -H 'X-Forwarded-For: 10.9.9.9, 192.0.2.7' "$WEB/")" = 200 ]
check ip-allow-depth-403 [ "$(code -H 'Host: xff.test' -H 'X-Forwarded-For: 192.0.2.7, 192.0.2.8' "$WEB/")" = 403 ]

RL=$(for _ in $(seq 20); do curl -s -o /dev/null -D - -w 'CODE %{http_code}\n' -H 'Host: rate.test' "$WEB/bench"; done | tr -d '\r')
N429=$(grep -c '^CODE 429' <<<"$RL"); N200=$(grep -c '^CODE 200' <<<"$RL")
check "rate-limit-429(200=$N200,429=$N429)" [ "$N429" -ge 5 -a "$N200" -ge 2 ]
check rate-limit-retry-after grep -q '^Retry-After: [0-9]' <<<"$RL"
code -H 'Host: rateslow.test' "$WEB/bench" >/dev/null
sleep 0.6
T=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -H 'Host: rateslow.test' "$WEB/bench")
check "rate-limit-delay($T)" python3 -c "c,t='$T'.split(); assert c=='200' and 0.2<=float(t)<1.0"

IPIDS=()
for i in 1 2 3 4 5; do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 -H 'Host: inflight.test' "$WEB/?wait=1s" >"$TMP/if$i.txt" &
    IPIDS+=($!)
done
for p in "${IPIDS[@]}"; do wait "$p"; done
NIF=$(cat "$TMP"/if*.txt | grep -c '^200$'); NIF429=$(cat "$TMP"/if*.txt | grep -c '^429$')
check "in-flight-429(200=$NIF,429=$NIF429)" [ "$NIF" -eq 2 -a "$NIF429" -eq 3 ]
check in-flight-released [ "$(code -H 'Host: inflight.test' "$WEB/")" = 200 ]

check cb-closed-200 [ "$(code -H 'Host: cb.test' "$WEB/")" = 200 ]
# The breaker evaluates its expression when a response ends, at most once
# per checkPeriod (as oxy's): 503s, a pause, one more 503 trips it.
for _ in $(seq 10); do code -H 'Host: cb.test' "$WEB/status/503" >/dev/null; done
sleep 0.3
code -H 'Host: cb.test' "$WEB/status/503" >/dev/null
H=$(curl -s -D - -o /dev/null -H 'Host: cb.test' "$WEB/")
check cb-open-503 has_not "$H" '^HTTP/1.1 503' '^X-Whoami-Name'
REC=no
for _ in $(seq 60); do
    sleep 0.1
    [ "$(code -H 'Host: cb.test' "$WEB/")" = 200 ] && { REC=yes; break; }
done
check cb-recovers [ "$REC" = yes ]

H=$(curl -s -D - -o /dev/null -H 'Host: rr.test' "$WEB/some/where?x=1")
check redirect-regex redirect_is "$H" 302 'http://example.com/new/some/where?x=1'
check redirect-regex-status [ "$(code -H 'Host: rr.test' "$WEB/x")" = 302 ]
H=$(curl -s -D - -o /dev/null -H 'Host: rs.test' "$WEB/p?q=1")
check redirect-scheme redirect_is "$H" 301 'https://rs.test/p?q=1'

check strip-prefix-regex sh -c "curl -s -H 'Host: sr.test' '$WEB/api/v2/users?id=3' | grep -q '^GET /users?id=3 HTTP/1.1'"
OUT=$(get -H 'Host: rp.test' "$WEB/some/path")
check replace-path grep -q '^GET /replaced HTTP/1.1' <<<"$OUT"
check replace-path-header grep -qi '^X-Replaced-Path: /some/path' <<<"$OUT"
check replace-path-regex sh -c "curl -s -H 'Host: rpr.test' '$WEB/old/thing' | grep -q '^GET /new/thing HTTP/1.1'"
check add-prefix sh -c "curl -s -H 'Host: ap.test' '$WEB/x?y=2' | grep -q '^GET /pre/x?y=2 HTTP/1.1'"
check chain-401 [ "$(code -H 'Host: chain.test' "$WEB/x")" = 401 ]
check chain-200 sh -c "curl -s -u test:secret -H 'Host: chain.test' '$WEB/x' | grep -q '^GET /pre/x HTTP/1.1'"

check client-ip-match sh -c "curl -s -i -H 'Host: cip.test' '$WEB/' | grep -q '^X-Whoami-Name: A'"
check client-ip-fallthrough sh -c "curl -s -i -H 'Host: cip2.test' '$WEB/' | grep -q '^X-Whoami-Name: B'"

FO=no
for _ in $(seq 50); do
    curl -s -i -H 'Host: fo.test' "$WEB/" | grep -q '^X-Whoami-Name: B' && { FO=yes; break; }
    sleep 0.1
done
check failover-fallback [ "$FO" = yes ]

# healthCheck port/hostname/headers: probes of a server on a closed port
# reach the check's port with the check's Host and headers.
wait_for 5 grep -q '^X-Probe: on' "$TMP/hc-probes.txt"
check hc-port-headers sh -c "grep -q '^GET /hc-probe HTTP/1.1' '$TMP/hc-probes.txt' && grep -q '^Host: hc.test' '$TMP/hc-probes.txt' && grep -q '^X-Probe: on' '$TMP/hc-probes.txt'"
# healthCheck method/status: HEAD expecting 301 passes on a 301; without a
# status a 302 fails (redirects are not followed); POST (sent with
# Content-Length: 0) expecting 204 fails on a 200, with the reason logged.
hc_up() { curl -s "$ADMIN/metrics" | grep -q "^dataplane_endpoint_healthy{cluster=\"$1\",address=\"[^\"]*\"} $2\$"; }
wait_for 5 grep -q '^POST /hc-s200 HTTP/1.1' "$TMP/hc-probes.txt"
wait_for 5 hc_up hcwant 0
wait_for 5 hc_up hcredir 0
check hc-method-status sh -c "grep -q '^HEAD /hc-s301 HTTP/1.1' '$TMP/hc-probes.txt' && grep -A6 '^POST /hc-s200 ' '$TMP/hc-probes.txt' | grep -q '^Content-Length: 0'"
check hc-status-expected hc_up hcstatus 1
check hc-status-unexpected sh -c "grep -q 'endpoint_unhealthy cluster=hcwant .*reason=\"status HTTP/1.1 200 X (want 204)\"' '$TMP/dp.log' && grep -q 'endpoint_unhealthy cluster=hcredir .*reason=\"status HTTP/1.1 302 X (want 2xx)\"' '$TMP/dp.log' && ! grep -q 'endpoint_unhealthy cluster=hcstatus ' '$TMP/dp.log'"

H=$(curl -s -D - -o /dev/null -H 'Host: sticky.test' "$WEB/")
CK=$(hdr Set-Cookie <<<"$H")
FIRST=$(hdr X-Whoami-Name <<<"$H")
check "sticky-set-cookie($CK)" grep -q '^sess=[0-9a-f]*; Path=/; HttpOnly$' <<<"$CK"
SAME=0; OTHER=0; NOCK=0
for _ in $(seq 10); do
    H=$(curl -s -D - -o /dev/null -H 'Host: sticky.test' -H "Cookie: ${CK%%;*}" "$WEB/")
    [ "$(hdr X-Whoami-Name <<<"$H")" = "$FIRST" ] && SAME=$((SAME + 1))
    [ -z "$(hdr Set-Cookie <<<"$H")" ] && NOCK=$((NOCK + 1))
done
for _ in $(seq 10); do
    [ "$(curl -s -D - -o /dev/null -H 'Host: sticky.test' "$WEB/" | hdr X-Whoami-Name)" != "$FIRST" ] && OTHER=$((OTHER + 1))
done
check "sticky-same-backend($FIRST:$SAME/10)" [ "$SAME" -eq 10 -a "$NOCK" -eq 10 ]
check "sticky-without-cookie-balances($OTHER)" [ "$OTHER" -ge 3 ]

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
