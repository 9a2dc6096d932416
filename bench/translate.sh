#!/usr/bin/env bash
# usage: bench/translate.sh   [ROUTERS=10000 SERVICES=5000 REPEAT=5 CPU=0]
#
# Issue 3: the control node's work per revision on a large configuration.
# Generates ROUTERS routers (Host(`svcN.example.com`) && PathPrefix(`/pN`),
# a middleware on every 10th), SERVICES services (a tenth of them weighted),
# five middlewares; then bench/tools/translate_bench (built -c opt, pinned to
# one core with taskset) times parse (cm_config_parse, validation included),
# validation alone, translation (cm_xds_translate) and encoding into a
# snapshot (cp_xds_snapshot_add), REPEAT times, and prints median/min per
# phase and peak RSS. Not a test: exits 0 unless the build or a run fails.
NAME=translate; . "$(dirname "$0")/lib.sh"
ROUTERS=${ROUTERS:-10000}
SERVICES=${SERVICES:-5000}
REPEAT=${REPEAT:-5}
CPU=${CPU:-0}

build_bins "$TMP/bin" //bench/tools:translate_bench

python3 bench/tools/genconfig.py --routers "$ROUTERS" --services "$SERVICES" \
    -o "$TMP/config.yaml" || exit 1
echo "config: $ROUTERS routers, $SERVICES services ($((SERVICES / 10)) weighted)," \
    "5 middlewares; $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
PIN=()
command -v taskset >/dev/null && PIN=(taskset -c "$CPU")
timeout 600 "${PIN[@]}" "$TMP/bin/translate_bench" "$TMP/config.yaml" "$REPEAT"
