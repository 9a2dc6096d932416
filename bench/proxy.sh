#!/usr/bin/env bash
# bench/proxy.sh -- requests/s and latency of our dataplane, nginx and
# HAProxy side by side, and as ratios (dataplane/nginx, dataplane/haproxy).
# Each proxy runs ONE worker pinned to one core (PROXY_CPU, default 1) in
# front of the same whoami backend, with keep-alive to it; wrk drives each
# with the same load from another core (LOAD_CPU, default 0). The backend
# (whoami, single-threaded) runs on BACKEND_CPU (default 0: shared with wrk,
# as a 2-core machine has no third core; on a bigger machine give it its
# own, e.g. BACKEND_CPU=2 LOAD_CPU=3). The "direct" row (wrk -> whoami)
# shows the backend's own ceiling. Proxies are measured one at a time, the
# others idle. Loopback ports picked free, configs in a temp dir.
#
#   bench/proxy.sh      (DURATION=10s CONNS=50 THREADS=1 PATH_=/bench
#                        PROXY_CPU=1 LOAD_CPU=0 BACKEND_CPU=0 TLS=0
#                        NEW_CONN=0)
#
# TLS=1: the proxies terminate TLS (one EC P-256 certificate, TLS 1.2-1.3,
# made here with the openssl CLI; HTTP/1.1 to the backend as before).
# NEW_CONN=1: every request on a new connection ("Connection: close"):
# with TLS=1 that measures full handshakes per second.
#
# Needs wrk, nginx (nginx-light), haproxy and taskset. Kills only the
# processes it started. Not part of the tests.
NAME=bench; . "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-10s}
CONNS=${CONNS:-50}
THREADS=${THREADS:-1}
REQ_PATH=${PATH_:-/bench}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
BACKEND_CPU=${BACKEND_CPU:-0}
TLS=${TLS:-0}
NEW_CONN=${NEW_CONN:-0}
SCHEME=http
WRK_HDR=()
[ "$TLS" = 1 ] && SCHEME=https
[ "$NEW_CONN" = 1 ] && WRK_HDR=(-H "Connection: close")

need "apt-get install wrk nginx-light haproxy util-linux" wrk nginx haproxy taskset
NGINX=$(tool nginx)
HAPROXY=$(tool haproxy)
build_bins "$TMP/bin" //dataplane //tools/whoami
freeports P_A P_DP P_ADM P_NG P_HA

start_whoami A "$P_A" "$BACKEND_CPU"
dp_config "$TMP/dp.yaml" "$P_DP" "$P_A"
NG_LISTEN="127.0.0.1:$P_NG" NG_EXTRA="" HA_BIND="127.0.0.1:$P_HA"
if [ "$TLS" = 1 ]; then
    tls_setup "$TMP/dp.yaml"
    NG_LISTEN="127.0.0.1:$P_NG ssl"
    NG_EXTRA=$TLS_NGINX
    HA_BIND="127.0.0.1:$P_HA ssl crt $TLS_HAPROXY_PEM"
fi
start_dataplane() {
    taskset -c "$PROXY_CPU" "$TMP/bin/dataplane" --config "$TMP/dp.yaml" --workers 1 \
        --admin-addr "127.0.0.1:$P_ADM" --log-level warn >"$TMP/dp.log" 2>&1 &
    PROXY=$!
}
nginx_conf "$TMP/nginx" 1 "$NG_LISTEN" "$NG_EXTRA" "$P_A"
start_nginx() { # master and its one worker, both on PROXY_CPU
    taskset -c "$PROXY_CPU" "$NGINX" -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" >"$TMP/nginx.log" 2>&1 &
    PROXY=$!
}
haproxy_cfg "$TMP/haproxy.cfg" 1 "$HA_BIND" "$P_A"
start_haproxy() {
    taskset -c "$PROXY_CPU" "$HAPROXY" -f "$TMP/haproxy.cfg" -db >"$TMP/haproxy.log" 2>&1 &
    PROXY=$!
}

wait_http "http://127.0.0.1:$P_A/health"
[ "$TLS" = 1 ] && wait_http() { # the proxies' certificate is self-signed
    for _ in $(seq 100); do
        curl -sk -o /dev/null --max-time 1 "$1" && return 0
        sleep 0.1
    done
    die "$1 did not come up"
}

# usec VALUE: wrk's latency (e.g. 812.00us, 1.23ms, 2.01s) in microseconds
usec() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "ms") n *= 1000; else if (u == "s") n *= 1000000
        printf "%.0f", n }'
}
declare -A RPS P50 P99
# measure NAME PORT: one table row; keeps the figures for the ratios
measure() {
    local out errs url="$SCHEME://127.0.0.1:$2$REQ_PATH"
    [ "$1" = direct ] && url="http://127.0.0.1:$2$REQ_PATH"
    taskset -c "$LOAD_CPU" wrk -t"$THREADS" -c"$CONNS" -d2s "${WRK_HDR[@]}" "$url" >/dev/null 2>&1 # warm-up
    out=$(taskset -c "$LOAD_CPU" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "${WRK_HDR[@]}" "$url" 2>&1)
    RPS[$1]=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    P50[$1]=$(awk '$1 == "50%" {print $2}' <<<"$out")
    P99[$1]=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errs=$(awk '/Non-2xx|Socket errors/ {sub(/^ +/, ""); printf "%s; ", $0}' <<<"$out")
    printf '%-10s %12s %10s %10s  %s\n' "$1" "${RPS[$1]}" "${P50[$1]}" "${P99[$1]}" "${errs:-}"
}
# run NAME PORT START_FN: starts the proxy, measures it, stops it
run() {
    "$3"
    PIDS+=($PROXY)
    wait_http "$SCHEME://127.0.0.1:$2/health"
    measure "$1" "$2"
    kill "$PROXY"; wait "$PROXY" 2>/dev/null
}
# ratio NAME OTHER: dataplane against OTHER
ratio() {
    awk -v r1="${RPS[$1]}" -v r2="${RPS[$2]}" \
        -v a1="$(usec "${P50[$1]}")" -v a2="$(usec "${P50[$2]}")" \
        -v b1="$(usec "${P99[$1]}")" -v b2="$(usec "${P99[$2]}")" -v n="$1/$2" 'BEGIN {
        printf "%-18s requests/s %.2fx   p50 %.2fx   p99 %.2fx\n", n,
            r2 ? r1 / r2 : 0, a2 ? a1 / a2 : 0, b2 ? b1 / b2 : 0 }'
}

echo "wrk -t$THREADS -c$CONNS -d$DURATION --latency ${WRK_HDR[*]} $SCHEME://127.0.0.1:PORT$REQ_PATH on cpu $LOAD_CPU;" \
    "each proxy: 1 worker on cpu $PROXY_CPU; 1 whoami backend on cpu $BACKEND_CPU (keep-alive);" \
    "$(nproc) cores"
printf '%-10s %12s %10s %10s  %s\n' proxy "requests/s" p50 p99 errors
measure direct "$P_A"
run dataplane "$P_DP" start_dataplane
run nginx "$P_NG" start_nginx
run haproxy "$P_HA" start_haproxy
echo "ratios (requests/s: above 1 is better; latency: below 1 is better):"
ratio dataplane nginx
ratio dataplane haproxy
