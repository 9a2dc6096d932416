# integration/lib.sh -- the harness the integration scripts share: a temp
# dir, the pids to stop on exit, ok/FAIL accounting, free ports, bounded
# waits, the build, whoami backends and memory readings. Source it after
# setting NAME (the temp dir prefix):
#
#   NAME=dp-it; . "$(dirname "$0")/../lib.sh"
#
# It cds to the repository root and defines ROOT, TMP, PIDS, FAILS, PY and
# the functions below. On exit it runs the suite's `at_exit` function if
# there is one, stops the pids in PIDS (only those: never by name; with
# signal $KILL_SIG, default TERM, after a CONT so that a stopped one dies
# too), runs `after_exit` if there is one, uninstalls the local cluster
# install_local made (if any), and removes TMP unless something
# failed or KEEP_TMP is set. INT or TERM: "FAIL interrupted", then the same.
set -u
# Development mode (docs/security.md): plain text, no cluster CA, no tokens.
export TRAEFIKEE_INSECURE=1
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
TMP=$(mktemp -d "${TMPDIR:-/tmp}/${NAME:-it}.XXXXXX")
PIDS=()
FAILS=0
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
BAZEL_FLAGS=()

cleanup() {
    declare -F at_exit >/dev/null && at_exit
    for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; kill "-${KILL_SIG:-TERM}" "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    declare -F after_exit >/dev/null && after_exit
    uninstall_local
    if [ "$FAILS" -eq 0 ] && [ -z "${KEEP_TMP:-}" ]; then rm -rf "$TMP"; else echo "logs in $TMP"; fi
}
trap cleanup EXIT
trap 'fail interrupted; exit 130' INT TERM

ok() { echo "ok $1"; }
fail() { echo "FAIL $1${2:+: $2}"; FAILS=$((FAILS + 1)); }
skip() { echo "skip $1: $2"; }
check() { # check NAME COMMAND...: ok if the command succeeds
    local name=$1; shift
    if "$@"; then ok "$name"; else fail "$name"; fi
}
now_ms() { date +%s%3N; }

freeport() { # a free loopback TCP port
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_until SECONDS CMD...: runs CMD every $POLL s (default 0.1) until it
# succeeds (0) or SECONDS have passed (1); CMD's output is kept.
wait_until() {
    local end=$(($(now_ms) + $1 * 1000))
    shift
    while [ "$(now_ms)" -lt "$end" ]; do
        "$@" && return 0
        sleep "${POLL:-0.1}"
    done
    return 1
}
quiet() { "$@" >/dev/null 2>&1; }
# wait_for SECONDS CMD...: wait_until with CMD's output dropped.
wait_for() { local s=$1; shift; wait_until "$s" quiet "$@"; }
wait_http() { # wait_http URL: any HTTP answer, up to 10 s
    for _ in $(seq 100); do
        curl -s -o /dev/null --max-time 1 "$1" && return 0
        sleep 0.1
    done
    return 1
}
wait_port() { # wait_port PORT: accepts TCP connections, up to 10 s
    for _ in $(seq 100); do
        "$PY" -c "import socket; socket.create_connection(('127.0.0.1',$1),1)" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# ---- build ----
use_sanitizers() { # the build below with ASan+UBSan; leaks and UB fail the run
    BAZEL_FLAGS=(--config=asan)
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
}
# build TARGETS...: bazel build with BAZEL_FLAGS (log in TMP/build.log);
# sets BIN to bazel-bin; on failure prints "FAIL ${BUILD_CASE:-build}" and
# exits 1.
build() {
    if ! bazel build "${BAZEL_FLAGS[@]}" "$@" >"$TMP/build.log" 2>&1; then
        tail -30 "$TMP/build.log"
        fail "${BUILD_CASE:-build}"
        exit 1
    fi
    BIN=$(bazel info "${BAZEL_FLAGS[@]}" bazel-bin 2>/dev/null)
}
# copy_bins TARGETS...: copies the built programs (//a/b -> a/b/b,
# //a/b:c -> a/b/c) into TMP/bin, so that other builds rewriting bazel-bin
# meanwhile do not change what this run starts.
copy_bins() {
    local t f
    mkdir -p "$TMP/bin"
    for t in "$@"; do
        case $t in *:*) f=${t#//}; f=$BIN/${f/://} ;; *) f=$BIN/${t#//}/${t##*/} ;; esac
        cp "$f" "$TMP/bin/" || { fail build "$f missing"; exit 1; }
    done
}

# ---- processes ----
# start_whoami NAME PORT [LOG]: a whoami backend ($WHOAMI) on loopback PORT,
# log in LOG (default TMP/name.log, appended); its pid in LAST_PID and PIDS.
start_whoami() {
    local log=${3:-$TMP/${1,,}.log}
    "$WHOAMI" --addr "127.0.0.1:$2" --name "$1" >>"$log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}
kb() { # kb PID FIELD: a /proc/PID/status field (VmRSS, VmHWM...) in kB
    awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null
}

# ---- Redis ----
# start_redis NAME PORT [MASTER_PORT [ARGS...]]: redis-server on loopback
# PORT, no snapshots, dir TMP/NAME (its own), log TMP/NAME.log (appended:
# a restart on the same NAME keeps its data and log); a replica of
# MASTER_PORT when that is not empty; ARGS are more redis-server options.
# Its pid in LAST_PID and PIDS.
start_redis() {
    local name=$1 port=$2 master=${3:-}
    shift $(($# < 3 ? $# : 3))
    mkdir -p "$TMP/$name"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$TMP/$name" --save "" \
        --repl-diskless-sync-delay 0 --daemonize no \
        ${master:+--replicaof 127.0.0.1 "$master"} "$@" >>"$TMP/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}
# start_sentinels MASTER_NAME MASTER_PORT: three redis-sentinels on free
# loopback ports watching MASTER_PORT (quorum 2, down after 1 s, failover
# timeout 3 s), TMP/sentinelN.{conf,log}; sets SENTINEL_PORTS (an array)
# and SENTINELS ("127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3").
start_sentinels() {
    local i p
    SENTINEL_PORTS=()
    SENTINELS=
    for i in 1 2 3; do
        p=$(freeport)
        SENTINEL_PORTS+=("$p")
        cat >"$TMP/sentinel$i.conf" <<EOC
port $p
bind 127.0.0.1
dir $TMP
sentinel monitor $1 127.0.0.1 $2 2
sentinel down-after-milliseconds $1 1000
sentinel failover-timeout $1 3000
EOC
        redis-sentinel "$TMP/sentinel$i.conf" >"$TMP/sentinel$i.log" 2>&1 &
        PIDS+=("$!")
        SENTINELS+="${SENTINELS:+,}127.0.0.1:$p"
    done
}

# ---- a local cluster: traefikeectl install --local ----
CLUSTER_DIR=
block_free() { # block_free P: every port P..P+99 bindable on 127.0.0.1
    "$PY" - "$1" <<'EOF'
import socket, sys
base = int(sys.argv[1])
for p in range(base, base + 100):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
EOF
}
# install_local DIR ARGS...: "$CTL" install --local --insecure --dir DIR
# ARGS (INSTALL_SECURE=1: without --insecure, a secure cluster) on a free block of 100 loopback ports (BASE, below the kernel's
# ephemeral range, where other tests' connections take ports; up to 20
# tries while a port is taken); output in TMP/install.out and .err, the time it took in
# INSTALL_MS. 0 once installed. Whatever it started is uninstalled on exit
# ("FAIL uninstall" if that fails); only the pids DIR/cluster.json records.
install_local() {
    local dir=$1 t0 mode=--insecure
    shift
    [ "${INSTALL_SECURE:-}" = 1 ] && mode=
    CLUSTER_DIR=$dir
    for _ in $(seq 20); do
        BASE=$((20000 + (RANDOM % 127) * 100))
        block_free "$BASE" || continue
        t0=$(now_ms)
        if "$CTL" install --local $mode --dir "$dir" --base-port "$BASE" "$@" \
            >"$TMP/install.out" 2>"$TMP/install.err"; then
            INSTALL_MS=$(($(now_ms) - t0))
            return 0
        fi
        grep -q "in use" "$TMP/install.err" || return 1
    done
    return 1
}
uninstall_local() {
    [ -n "$CLUSTER_DIR" ] && [ -f "$CLUSTER_DIR/cluster.json" ] || return 0
    "$CTL" uninstall --local --dir "$CLUSTER_DIR" --timeout 10s >"$TMP/uninstall.out" 2>&1 ||
        { cat "$TMP/uninstall.out"; fail uninstall; }
}
# CL ARGS...: integration/ha/cluster.py on the local cluster's cluster.json
# (names ROLE, addr NAME KIND, pid NAME, restart NAME, ...).
CL() { "$PY" "$ROOT/integration/ha/cluster.py" "$CLUSTER_DIR/cluster.json" "$@"; }
