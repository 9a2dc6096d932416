#!/usr/bin/env bash
# bench/h2.sh -- HTTP/2 requests/s through our dataplane, nginx and HAProxy
# side by side: each terminates cleartext HTTP/2 (prior knowledge) and
# proxies over HTTP/1.1 keep-alive to the same two whoami backends, same
# worker count, loopback ports picked free, configs in a temp dir. One
# bounded h2load run each (after a short warm-up). Not part of the tests.
#
#   bench/h2.sh          (WORKERS=1 REQS=200000 CONNS=10 STREAMS=10
#                         THREADS=1 PATH_=/bench; any may be overridden)
#
# Needs h2load (nghttp2-client), nginx (with http_v2) and haproxy. Kills
# only the processes it started.
# Development mode (docs/security.md): plain text, no cluster CA, no tokens.
export TRAEFIKEE_INSECURE=1
set -u
cd "$(dirname "$0")/.." || exit 2
WORKERS=${WORKERS:-1}
REQS=${REQS:-200000}
CONNS=${CONNS:-10}
STREAMS=${STREAMS:-10}
THREADS=${THREADS:-1}
REQ_PATH=${PATH_:-/bench}
TMP=$(mktemp -d /tmp/dp-h2bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT

for tool in h2load nginx haproxy; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
        { echo "bench: $tool not found (apt-get install nghttp2-client nginx-light haproxy)"; exit 2; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

bazel build -c opt //dataplane //tools/whoami >"$TMP/build.log" 2>&1 ||
    { cat "$TMP/build.log"; exit 1; }
BIN=$(bazel info -c opt bazel-bin 2>/dev/null)

freeport() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
P_A=$(freeport); P_B=$(freeport); P_DP=$(freeport); P_ADM=$(freeport)
P_NG=$(freeport); P_HA=$(freeport)

wait_http() {
    for _ in $(seq 100); do
        curl -s -o /dev/null --max-time 1 "$1" && return 0
        sleep 0.1
    done
    echo "bench: $1 did not come up"; exit 1
}

"$BIN/tools/whoami/whoami" --addr "127.0.0.1:$P_A" --name A >"$TMP/a.log" 2>&1 & PIDS+=($!)
"$BIN/tools/whoami/whoami" --addr "127.0.0.1:$P_B" --name B >"$TMP/b.log" 2>&1 & PIDS+=($!)

# ---- dataplane ----
cat >"$TMP/dp.yaml" <<EOF
entryPoints:
  web: {address: "127.0.0.1:$P_DP"}
http:
  routers:
    all: {rule: "PathPrefix(\`/\`)", service: whoami}
  services:
    whoami:
      loadBalancer:
        servers:
          - url: "http://127.0.0.1:$P_A"
          - url: "http://127.0.0.1:$P_B"
EOF
"$BIN/dataplane/dataplane" --config "$TMP/dp.yaml" --workers "$WORKERS" \
    --admin-addr "127.0.0.1:$P_ADM" --log-level warn >"$TMP/dp.log" 2>&1 & PIDS+=($!)

# ---- nginx ----
mkdir -p "$TMP/nginx"
cat >"$TMP/nginx.conf" <<EOF
worker_processes $WORKERS;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000; # HTTP/2: requests per connection
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    upstream whoami {
        server 127.0.0.1:$P_A;
        server 127.0.0.1:$P_B;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$P_NG reuseport http2;
        location / {
            proxy_pass http://whoami;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_buffering off;
        }
    }
}
EOF
"$NGINX" -c "$TMP/nginx.conf" -p "$TMP/nginx" >"$TMP/nginx.log" 2>&1 & PIDS+=($!)

# ---- haproxy ----
cat >"$TMP/haproxy.cfg" <<EOF
global
    nbthread $WORKERS
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
    option forwardfor
frontend web
    bind 127.0.0.1:$P_HA proto h2
    default_backend whoami
backend whoami
    balance roundrobin
    http-reuse always
    server a 127.0.0.1:$P_A
    server b 127.0.0.1:$P_B
EOF
"$HAPROXY" -f "$TMP/haproxy.cfg" -db >"$TMP/haproxy.log" 2>&1 & PIDS+=($!)

wait_http "http://127.0.0.1:$P_A/health"
wait_http "http://127.0.0.1:$P_B/health"
wait_h2() {
    for _ in $(seq 100); do
        h2load -n 1 -c 1 "$1" 2>/dev/null | grep -q "1 succeeded" && return 0
        sleep 0.1
    done
    echo "bench: $1 did not come up over HTTP/2"; exit 1
}
wait_h2 "http://127.0.0.1:$P_DP/health"
wait_h2 "http://127.0.0.1:$P_NG/health"
wait_h2 "http://127.0.0.1:$P_HA/health"

# run NAME PORT: prints one table row
run() {
    local out rps mean sd ok
    h2load -n 20000 -t"$THREADS" -c"$CONNS" -m"$STREAMS" "http://127.0.0.1:$2$REQ_PATH" >/dev/null 2>&1
    out=$(timeout 300 h2load -n "$REQS" -t"$THREADS" -c"$CONNS" -m"$STREAMS" "http://127.0.0.1:$2$REQ_PATH" 2>&1)
    rps=$(awk '/^finished in/ {print $4}' <<<"$out")
    mean=$(awk '/^time for request:/ {print $6}' <<<"$out")
    sd=$(awk '/^time for request:/ {print $7}' <<<"$out")
    ok=$(awk '/^requests:/ {print $8 "/" $2}' <<<"$out")
    printf '%-10s %12s %10s %10s  %s\n' "$1" "$rps" "$mean" "$sd" "${ok:-?}"
}

echo "h2load -n $REQS -t$THREADS -c$CONNS -m$STREAMS http://127.0.0.1:PORT$REQ_PATH;" \
    "proxies with $WORKERS worker(s), HTTP/2 in, HTTP/1.1 to 2 whoami backends, $(nproc) cores"
printf '%-10s %12s %10s %10s  %s\n' proxy "requests/s" "mean" "sd" "succeeded"
run dataplane "$P_DP"
run nginx "$P_NG"
run haproxy "$P_HA"
