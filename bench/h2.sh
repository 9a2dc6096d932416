#!/usr/bin/env bash
# bench/h2.sh -- HTTP/2 requests/s through our dataplane, nginx and HAProxy
# side by side: each terminates cleartext HTTP/2 (prior knowledge) and
# proxies over HTTP/1.1 keep-alive to the same two whoami backends, same
# worker count, loopback ports picked free, configs in a temp dir. One
# bounded h2load run each (after a short warm-up). Not part of the tests.
#
#   bench/h2.sh          (WORKERS=1 REQS=200000 CONNS=10 STREAMS=10
#                         THREADS=1 PATH_=/bench TLS=0; any may be
#                         overridden; TLS=1: HTTP/2 over TLS, ALPN h2)
#
# Needs h2load (nghttp2-client), nginx (with http_v2) and haproxy. Kills
# only the processes it started.
NAME=bench; . "$(dirname "$0")/lib.sh"
WORKERS=${WORKERS:-1}
REQS=${REQS:-200000}
CONNS=${CONNS:-10}
STREAMS=${STREAMS:-10}
THREADS=${THREADS:-1}
REQ_PATH=${PATH_:-/bench}
TLS=${TLS:-0} # 1: HTTP/2 over TLS (ALPN h2) instead of cleartext
SCHEME=http
[ "$TLS" = 1 ] && SCHEME=https

need "apt-get install nghttp2-client nginx-light haproxy" h2load nginx haproxy
build_bins "$TMP/bin" //dataplane //tools/whoami
freeports P_A P_B P_DP P_ADM P_NG P_HA

start_whoami A "$P_A"
start_whoami B "$P_B"
dp_config "$TMP/dp.yaml" "$P_DP" "$P_A" "$P_B"
NG_LISTEN="127.0.0.1:$P_NG reuseport http2" NG_EXTRA="" HA_BIND="127.0.0.1:$P_HA proto h2"
if [ "$TLS" = 1 ]; then
    tls_setup "$TMP/dp.yaml"
    NG_LISTEN="127.0.0.1:$P_NG reuseport ssl http2"
    NG_EXTRA=$TLS_NGINX
    HA_BIND="127.0.0.1:$P_HA ssl crt $TLS_HAPROXY_PEM alpn h2"
fi
"$TMP/bin/dataplane" --config "$TMP/dp.yaml" --workers "$WORKERS" \
    --admin-addr "127.0.0.1:$P_ADM" --log-level warn >"$TMP/dp.log" 2>&1 & PIDS+=($!)
nginx_conf "$TMP/nginx" "$WORKERS" "$NG_LISTEN" \
    "keepalive_requests 10000000; # HTTP/2: requests per connection
    $NG_EXTRA" "$P_A" "$P_B"
"$(tool nginx)" -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" >"$TMP/nginx.log" 2>&1 & PIDS+=($!)
haproxy_cfg "$TMP/haproxy.cfg" "$WORKERS" "$HA_BIND" "$P_A" "$P_B"
"$(tool haproxy)" -f "$TMP/haproxy.cfg" -db >"$TMP/haproxy.log" 2>&1 & PIDS+=($!)

wait_http "http://127.0.0.1:$P_A/health"
wait_http "http://127.0.0.1:$P_B/health"
wait_h2() {
    for _ in $(seq 100); do
        h2load -n 1 -c 1 "$1" 2>/dev/null | grep -q "1 succeeded" && return 0
        sleep 0.1
    done
    echo "bench: $1 did not come up over HTTP/2"; exit 1
}
wait_h2 "$SCHEME://127.0.0.1:$P_DP/health"
wait_h2 "$SCHEME://127.0.0.1:$P_NG/health"
wait_h2 "$SCHEME://127.0.0.1:$P_HA/health"

# run NAME PORT: prints one table row
run() {
    local out rps mean sd ok
    h2load -n 20000 -t"$THREADS" -c"$CONNS" -m"$STREAMS" "$SCHEME://127.0.0.1:$2$REQ_PATH" >/dev/null 2>&1
    out=$(timeout 300 h2load -n "$REQS" -t"$THREADS" -c"$CONNS" -m"$STREAMS" "$SCHEME://127.0.0.1:$2$REQ_PATH" 2>&1)
    rps=$(awk '/^finished in/ {print $4}' <<<"$out")
    mean=$(awk '/^time for request:/ {print $6}' <<<"$out")
    sd=$(awk '/^time for request:/ {print $7}' <<<"$out")
    ok=$(awk '/^requests:/ {print $8 "/" $2}' <<<"$out")
    printf '%-10s %12s %10s %10s  %s\n' "$1" "$rps" "$mean" "$sd" "${ok:-?}"
}

echo "h2load -n $REQS -t$THREADS -c$CONNS -m$STREAMS $SCHEME://127.0.0.1:PORT$REQ_PATH;" \
    "proxies with $WORKERS worker(s), HTTP/2 in, HTTP/1.1 to 2 whoami backends, $(nproc) cores"
printf '%-10s %12s %10s %10s  %s\n' proxy "requests/s" "mean" "sd" "succeeded"
run dataplane "$P_DP"
run nginx "$P_NG"
run haproxy "$P_HA"
