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
NAME=convergence; . "$(dirname "$0")/lib.sh"
ROUTES=${ROUTES:-10000}
SERVICES=${SERVICES:-1000}
CHANGES=${CHANGES:-100}
NODES=${NODES:-3}
WORKERS=${WORKERS:-1}
TIMEOUT_S=${TIMEOUT_S:-10}

build_bins "$TMP/bin" //controlplane //dataplane //tools/traefikeectl //tools/whoami
freeports P_WEB P_W P_GRPC P_HTTP
CONTROL=127.0.0.1:$P_GRPC

python3 bench/tools/genconfig.py --routers "$ROUTES" --services "$SERVICES" \
    --weighted 0 --backends 1 --same-backend --backend "127.0.0.1:$P_W" \
    --port "$P_WEB" --probe-routes 1 --probe-backend "127.0.0.1:$P_W" \
    -o "$TMP/base.yaml" || die "genconfig failed"

start_whoami probe "$P_W"
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
