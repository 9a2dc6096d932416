# bench/lib.sh -- what the bench scripts share: the temp dir and the pids
# to stop on exit, free loopback ports, bounded waits, the -c opt build
# (copied out of bazel-bin), whoami backends, CPU pinning, the standalone
# data node config and the nginx/HAProxy configs of the side-by-side runs.
# Source it after setting NAME (the temp dir prefix and message prefix):
#
#   NAME=swap; . "$(dirname "$0")/lib.sh"
#
# It cds to the repository root and defines ROOT, TMP and PIDS. On exit it
# runs the script's `at_exit` function if there is one, stops the pids in
# PIDS (only those: never by name), then removes TMP unless KEEP_TMP is set
# ("logs in TMP" then). Not integration/lib.sh: a bench reports figures,
# not ok/FAIL, and stops at the first thing that cannot run.
set -u
# Development mode (docs/security.md): plain text, no cluster CA, no tokens.
export TRAEFIKEE_INSECURE=1
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
TMP=$(mktemp -d "/tmp/${NAME:-bench}.XXXXXX")
PIDS=()
BAZEL_FLAGS=(-c opt)

bench_cleanup() {
    declare -F at_exit >/dev/null && at_exit
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    if [ -z "${KEEP_TMP:-}" ]; then rm -rf "$TMP"; else echo "logs in $TMP"; fi
}
trap bench_cleanup EXIT

now_ms() { date +%s%3N; }
die() { echo "${NAME:-bench}: $*" >&2; exit 1; }

# need "HINT" TOOL...: exits 2 unless every TOOL is on PATH or in
# /usr/sbin ("NAME: TOOL not found (HINT)").
need() {
    local hint=$1 t
    shift
    for t in "$@"; do
        command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] ||
            { echo "${NAME:-bench}: $t not found ($hint)"; exit 2; }
    done
}
# tool NAME: its path (PATH first, then /usr/sbin)
tool() { command -v "$1" || echo "/usr/sbin/$1"; }

freeport() { # a free loopback TCP port
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
freeports() { # freeports VAR...: a free loopback port in each VAR
    local v
    for v in "$@"; do printf -v "$v" '%s' "$(freeport)"; done
}

# wait_for SECONDS WHAT CMD...: runs CMD every 0.1 s until it succeeds;
# dies "WHAT: timed out" after SECONDS.
wait_for() {
    local end=$(($(now_ms) + $1 * 1000)) what=$2
    shift 2
    until "$@"; do
        [ "$(now_ms)" -lt "$end" ] || die "$what: timed out (logs: KEEP_TMP=1)"
        sleep 0.1
    done
}
wait_http() { # wait_http URL: any HTTP answer within 10 s, or exit 1
    for _ in $(seq 100); do
        curl -s -o /dev/null --max-time 1 "$1" && return 0
        sleep 0.1
    done
    echo "${NAME:-bench}: $1 did not come up"; exit 1
}

# build_bins DIR TARGETS...: bazel build "${BAZEL_FLAGS[@]}" (default
# -c opt; log in TMP/build.log, its tail shown on failure) and copies the
# programs (//a/b -> a/b/b, //a/b:c -> a/b/c) into DIR, so that other
# builds rewriting bazel-bin meanwhile do not change what runs. With
# BIN_DIR set, copies BIN_DIR/* instead (prebuilt, e.g. while the tree
# does not build).
build_bins() {
    local dir=$1 t f bin
    shift
    mkdir -p "$dir"
    if [ -n "${BIN_DIR:-}" ]; then
        cp "$BIN_DIR"/* "$dir/" || die "cannot copy $BIN_DIR"
        return
    fi
    bazel build "${BAZEL_FLAGS[@]}" "$@" >"$TMP/build.log" 2>&1 ||
        { tail -30 "$TMP/build.log"; exit 1; }
    bin=$(bazel info "${BAZEL_FLAGS[@]}" bazel-bin 2>/dev/null)
    for t in "$@"; do
        case $t in *:*) f=${t#//}; f=$bin/${f/://} ;; *) f=$bin/${t#//}/${t##*/} ;; esac
        cp "$f" "$dir/" || die "$f missing"
    done
}

# start_whoami NAME PORT [CPU]: TMP/bin/whoami on loopback PORT (log
# TMP/<name>.log), pinned to CPU (taskset) if given; its pid in LAST_PID
# and PIDS (the process itself: taskset execs it).
start_whoami() {
    local pin=()
    [ -n "${3:-}" ] && pin=(taskset -c "$3")
    "${pin[@]}" "$TMP/bin/whoami" --addr "127.0.0.1:$2" --name "$1" >"$TMP/${1,,}.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}
kb() { # kb PID FIELD: a /proc/PID/status field (VmRSS, VmHWM...) in kB
    awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null
}
median() { # median NUMBERS...: the median, "-" when there are none
    printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]; else print "-"}'
}

# ---- configs ----
# dp_config FILE PORT BACKEND_PORT...: a standalone data node config: entry
# point web on loopback PORT, every path to service whoami over the
# backends.
dp_config() {
    local f=$1 port=$2 b
    shift 2
    {
        printf 'entryPoints:\n  web: {address: "127.0.0.1:%s"}\nhttp:\n  routers:\n' "$port"
        printf '    all: {rule: "PathPrefix(`/`)", service: whoami}\n'
        printf '  services:\n    whoami:\n      loadBalancer:\n        servers:\n'
        for b in "$@"; do printf '          - url: "http://127.0.0.1:%s"\n' "$b"; done
    } >"$f"
}
# tls_setup DP_YAML: a self-signed EC P-256 certificate for 127.0.0.1 in
# TMP (openssl CLI); DP_YAML's router "all" (dp_config) gets tls: {} and
# the certificate; sets TLS_NGINX (ssl_* directives for nginx_conf's
# HTTP_EXTRA) and TLS_HAPROXY_PEM (certificate and key, for "ssl crt").
tls_setup() {
    need "apt-get install openssl" openssl
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
        -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null || die "openssl failed"
    TLS_HAPROXY_PEM=$TMP/haproxy.pem
    cat "$TMP/cert.pem" "$TMP/key.pem" >"$TLS_HAPROXY_PEM"
    sed -i -e 's/^\(    all: {rule: "PathPrefix(`\/`)", service: whoami\)}/\1, tls: {}}/' "$1"
    printf 'tls:\n  certificates:\n    - {certFile: %s, keyFile: %s}\n' \
        "$TMP/cert.pem" "$TMP/key.pem" >>"$1"
    TLS_NGINX="ssl_certificate $TMP/cert.pem; ssl_certificate_key $TMP/key.pem; ssl_protocols TLSv1.2 TLSv1.3;"
}
# nginx_conf DIR WORKERS LISTEN HTTP_EXTRA BACKEND_PORT...: DIR/nginx.conf,
# nginx's pid, logs and temp paths under DIR; LISTEN is the listen
# directive's arguments, HTTP_EXTRA more directives of the http block.
# Proxies every path to the backends over HTTP/1.1 keep-alive.
nginx_conf() {
    local dir=$1 workers=$2 listen=$3 extra=$4 b
    shift 4
    mkdir -p "$dir"
    {
        cat <<EOF
worker_processes $workers;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;${extra:+
    $extra}
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    upstream whoami {
EOF
        for b in "$@"; do echo "        server 127.0.0.1:$b;"; done
        cat <<EOF
        keepalive 64;
    }
    server {
        listen $listen;
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
    } >"$dir/nginx.conf"
}
# haproxy_cfg FILE THREADS BIND BACKEND_PORT...: HAProxy in HTTP mode,
# THREADS threads, frontend on BIND (the bind directive's arguments),
# round robin over the backends (servers a, b, ...) with keep-alive.
haproxy_cfg() {
    local f=$1 threads=$2 bind=$3 b names=abcdefghijklmnopqrstuvwxyz i=0
    shift 3
    {
        cat <<EOF
global
    nbthread $threads
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
    option forwardfor
frontend web
    bind $bind
    default_backend whoami
backend whoami
    balance roundrobin
    http-reuse always
EOF
        for b in "$@"; do echo "    server ${names:i++:1} 127.0.0.1:$b"; done
    } >"$f"
}
