#!/usr/bin/env bash
# usage: bench/convergence.sh   [ROUTES=10000 SERVICES=1000 CHANGES=100 NODES=3
#                                WORKERS=1 TIMEOUT_S=10 BIN_DIR=dir of
#                                prebuilt binaries: no build]
#
# Issue 6: a control node (//controlplane, embedded Redis), NODES data nodes
# (//dataplane over xDS, own --node-id, --cache-dir, --admin-addr), one
# whoami backend, a config of ROUTES routes; then CHANGES changes one after
# another, each adding router rev-I (Host(`probe.test`) && Path(`/rev-I`)).
# For each: the time from `traefikeectl apply` returning until EVERY data
# node serves /rev-I with a 200 from the backend. How each node is probed:
# the data nodes share the entry point (SO_REUSEPORT, so the kernel picks a
# node per connection), so bench/convergence_probe.py keeps one keep-alive
# connection pinned to each node (it checks which data node process owns
# the accepted socket, via /proc) and requests /rev-I on each in a tight
# loop (1 ms pause), after checking each answers 404 before the change.
# Prints one line per change, then median/p90/p99/max. Not a test: exits 0
# unless something could not run. Bounded waits; kills only its own pids.
# Development mode (docs/security.md): plain text, no cluster CA, no tokens.
export TRAEFIKEE_INSECURE=1
set -u
cd "$(dirname "$0")/.." || exit 2
ROUTES=${ROUTES:-10000}
SERVICES=${SERVICES:-1000}
CHANGES=${CHANGES:-100}
NODES=${NODES:-3}
WORKERS=${WORKERS:-1}
TIMEOUT_S=${TIMEOUT_S:-10}
TMP=$(mktemp -d /tmp/bench-conv.XXXXXX)
PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    if [ -z "${KEEP_TMP:-}" ]; then rm -rf "$TMP"; else echo "logs in $TMP"; fi
}
trap cleanup EXIT
now_ms() { date +%s%3N; }
die() { echo "convergence: $*" >&2; exit 1; }
wait_for() { # wait_for SECONDS WHAT COMMAND...
    local end=$(($(now_ms) + $1 * 1000)) what=$2; shift 2
    until "$@"; do
        [ "$(now_ms)" -lt "$end" ] || die "$what: timed out (logs: KEEP_TMP=1)"
        sleep 0.1
    done
}

if [ -n "${BIN_DIR:-}" ]; then # prebuilt binaries, e.g. while the tree does not build
    mkdir -p "$TMP/bin" && cp "$BIN_DIR"/* "$TMP/bin/" || die "cannot copy $BIN_DIR"
else
    bazel build -c opt //controlplane //dataplane //tools/traefikeectl //tools/whoami \
        >"$TMP/build.log" 2>&1 || { tail -30 "$TMP/build.log"; exit 1; }
    BIN=$(bazel info -c opt bazel-bin 2>/dev/null)
    mkdir -p "$TMP/bin"
    cp "$BIN/controlplane/controlplane" "$BIN/dataplane/dataplane" \
        "$BIN/tools/traefikeectl/traefikeectl" "$BIN/tools/whoami/whoami" "$TMP/bin/" ||
        die "binaries missing"
fi

freeport() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
P_WEB=$(freeport); P_W=$(freeport); P_GRPC=$(freeport); P_HTTP=$(freeport)
CONTROL=127.0.0.1:$P_GRPC

python3 bench/tools/genconfig.py --routers "$ROUTES" --services "$SERVICES" \
    --weighted 0 --backends 1 --same-backend --backend "127.0.0.1:$P_W" \
    --port "$P_WEB" --probe-routes 1 --probe-backend "127.0.0.1:$P_W" \
    -o "$TMP/base.yaml" || die "genconfig failed"

"$TMP/bin/whoami" --addr "127.0.0.1:$P_W" --name probe >"$TMP/whoami.log" 2>&1 &
PIDS+=($!)
"$TMP/bin/controlplane" --node-id conv-cp --grpc-addr "$CONTROL" \
    --http-addr "127.0.0.1:$P_HTTP" --data-dir "$TMP/cp" --log-level warn \
    >"$TMP/cp.log" 2>&1 &
PIDS+=($!)
cp_up() { "$TMP/bin/traefikeectl" --control "$CONTROL" list-nodes >/dev/null 2>&1; }
wait_for 30 "control node" cp_up
"$TMP/bin/traefikeectl" --control "$CONTROL" apply -f "$TMP/base.yaml" >"$TMP/apply0.log" 2>&1 ||
    { cat "$TMP/apply0.log"; die "first apply failed"; }

NODE_ARG=
for i in $(seq "$NODES"); do
    adm=$(freeport)
    "$TMP/bin/dataplane" --control "$CONTROL" --node-id "conv-dp$i" \
        --cache-dir "$TMP/cache-dp$i" --admin-addr "127.0.0.1:$adm" \
        --workers "$WORKERS" --log-level warn >"$TMP/dp$i.log" 2>&1 &
    PIDS+=($!)
    NODE_ARG+="${NODE_ARG:+,}dp$i=$!"
    ADMS+=("$adm")
done
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$1/ready")" = 200 ]; }
serves_base() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H 'Host: probe.test' \
    "http://127.0.0.1:$P_WEB/rev-1")" = 200 ]; }
for adm in "${ADMS[@]}"; do wait_for 60 "data node ready (admin $adm)" ready "$adm"; done
wait_for 60 "routes served" serves_base

echo "convergence: $ROUTES routes, $SERVICES services, $NODES data nodes ($WORKERS" \
    "worker(s) each), $CHANGES changes; $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
timeout $((CHANGES * (TIMEOUT_S + 70) + 60)) python3 bench/convergence_probe.py \
    --web "$P_WEB" --nodes "$NODE_ARG" --ctl "$TMP/bin/traefikeectl" \
    --control "$CONTROL" --base "$TMP/base.yaml" --changes "$CHANGES" \
    --tmp "$TMP" --timeout-s "$TIMEOUT_S" --backend-name probe ||
    die "probe failed"
exit 0
