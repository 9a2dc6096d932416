#!/usr/bin/env bash
# bench/swap.sh -- table swaps under load: while wrk drives the data node
# (standalone, --config), SIGHUP reloads alternate between two configs
# (different routers and services, ROUTES routers each, one route common
# to both that wrk uses).
#   1. 100 reloads under wrk: failed requests (non-2xx and socket errors;
#      goal 0).
#   2. 1,000 more reloads under wrk: data node RSS before and after (goal:
#      flat, old tables freed).
#   3. LEAKCHECK=1: also 200 reloads with an ASan build (detect_leaks) and
#      the LeakSanitizer report at exit.
#
#   bench/swap.sh          (ROUTES=200 CONNS=20 WORKERS=2 LEAKCHECK=)
#
# Each reload waits until dataplane_config_loads_total counts it (signals
# sent faster would coalesce). Needs wrk. Loopback ports picked free, a
# temp dir of its own; kills only what it started.
NAME=swap; . "$(dirname "$0")/lib.sh"
ROUTES=${ROUTES:-200}
CONNS=${CONNS:-20}
WORKERS=${WORKERS:-2}
need "apt-get install wrk" wrk

build_bins "$TMP/bin" //dataplane //tools/whoami
freeports P_A P_B P_WEB P_ADM

# config FILE TAG: ROUTES routers on hosts TAG-N.test over 10 services of
# two servers each, and the common route bench.test.
config() {
    {
        printf 'entryPoints:\n  web: {address: "127.0.0.1:%s"}\nhttp:\n  routers:\n' "$P_WEB"
        printf '    bench: {rule: "Host(`bench.test`)", service: %s-s0}\n' "$2"
        for i in $(seq "$ROUTES"); do
            printf '    r%s: {rule: "Host(`%s-%s.test`) && PathPrefix(`/p%s`)", service: %s-s%s}\n' \
                "$i" "$2" "$i" "$i" "$2" $((i % 10))
        done
        printf '  services:\n'
        for s in $(seq 0 9); do
            printf '    %s-s%s:\n      loadBalancer:\n        servers: [{url: "http://127.0.0.1:%s"}, {url: "http://127.0.0.1:%s"}]\n' \
                "$2" "$s" "$P_A" "$P_B"
        done
    } >"$1"
}
config "$TMP/one.yaml" one
config "$TMP/two.yaml" two
cp "$TMP/one.yaml" "$TMP/config.yaml"

start_whoami A "$P_A"
start_whoami B "$P_B"
wait_http "http://127.0.0.1:$P_A/health"
wait_http "http://127.0.0.1:$P_B/health"

start_dp() { # start_dp DIR: sets DP (its cwd: TMP, for a core file)
    (cd "$TMP" && ulimit -c unlimited 2>/dev/null; exec "$1/dataplane" --config "$TMP/config.yaml" --workers "$WORKERS" \
        --admin-addr "127.0.0.1:$P_ADM" --log-level warn >"$TMP/dp.log" 2>&1) &
    DP=$!
    PIDS+=($DP)
    wait_http "http://127.0.0.1:$P_ADM/ping"
    for _ in $(seq 50); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: bench.test' "http://127.0.0.1:$P_WEB/bench")" = 200 ] && return
        sleep 0.1
    done
    echo "swap: data node not serving"; exit 1
}
loads() {
    curl -s --max-time 2 "http://127.0.0.1:$P_ADM/metrics" | sed -n 's/^dataplane_config_loads_total //p'
}
metric() {
    curl -s --max-time 2 "http://127.0.0.1:$P_ADM/metrics" | sed -n "s/^$1 //p"
}
NEXT=two
# reload N: N reloads, alternating, each waited for; prints how many were
# not applied within 2 s
reload() {
    local missed=0 before
    for _ in $(seq "$1"); do
        before=$(loads)
        cp "$TMP/$NEXT.yaml" "$TMP/config.tmp" && mv -f "$TMP/config.tmp" "$TMP/config.yaml"
        [ "$NEXT" = two ] && NEXT=one || NEXT=two
        kill -HUP "$DP" 2>/dev/null || break # died: see check_dp
        for _ in $(seq 200); do
            [ "$(loads)" != "$before" ] && break
            sleep 0.01
        done
        [ "$(loads)" = "$before" ] && missed=$((missed + 1))
    done
    echo "$missed"
}
check_dp() { # check_dp WHEN: exits when the data node died
    kill -0 "$DP" 2>/dev/null && return 0
    local rc
    wait "$DP"; rc=$?
    echo "swap: the data node died ($1; exit $rc); log tail:"
    tail -n 20 "$TMP/dp.log"
    ls "$TMP"/core* 2>/dev/null && echo "core file kept in $TMP" && KEEP_TMP=1
    exit 1
}
# wrk_start SECONDS OUT
wrk_start() {
    wrk -t1 -c"$CONNS" -d"$1s" -H 'Host: bench.test' "http://127.0.0.1:$P_WEB/bench" >"$2" 2>&1 &
    WRK=$!
}
# wrk_failed OUT: non-2xx responses + socket errors
wrk_failed() {
    awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$1"
}

start_dp "$TMP/bin"
echo "data node: $WORKERS workers, configs of $ROUTES routers + 10 services each, wrk -t1 -c$CONNS"

# ---- 1. 100 reloads under load ----
wrk_start 15 "$TMP/wrk1.out"
sleep 1
T0=$(date +%s%N)
MISSED=$(reload 100)
check_dp "100 reloads under load"
MS=$(( ($(date +%s%N) - T0) / 1000000 ))
wait "$WRK"
REQS=$(awk '/requests in/ {print $1}' "$TMP/wrk1.out")
FAILED=$(wrk_failed "$TMP/wrk1.out")
echo "100 reloads in ${MS}ms ($MISSED not applied) under wrk: $REQS requests, failed: $FAILED (goal 0)"
[ "$FAILED" -eq 0 ] || grep -E 'Non-2xx|Socket' "$TMP/wrk1.out"

# ---- 2. RSS over 1,000 reloads ----
wrk_start 300 "$TMP/wrk2.out"
reload 50 >/dev/null # warm-up: allocator arenas of both workers
check_dp "warm-up reloads"
sleep 1
R0=$(kb "$DP" VmRSS)
T0=$(date +%s%N)
MISSED=$(reload 500)
check_dp "reloads 1-500"
sleep 1
R1=$(kb "$DP" VmRSS)
MISSED=$((MISSED + $(reload 500)))
check_dp "reloads 501-1000"
sleep 1
R2=$(kb "$DP" VmRSS)
MS=$(( ($(date +%s%N) - T0) / 1000000 ))
kill -INT "$WRK"; wait "$WRK"
echo "1000 reloads in ${MS}ms ($MISSED not applied; swaps $(metric dataplane_table_swaps_total))"
echo "RSS: before $((R0 / 1024)) MiB ($R0 kB), after 500 $((R1 / 1024)) MiB ($R1 kB), after 1000 $((R2 / 1024)) MiB ($R2 kB): growth $(( (R2 - R0) / 1000 )) kB per reload; second half $(( (R2 - R1) / 500 )) kB per reload (goal ~0)"
echo "wrk during the 1000 reloads: $(awk '/requests in/ {print $1}' "$TMP/wrk2.out") requests, failed: $(wrk_failed "$TMP/wrk2.out")"
kill "$DP"; wait "$DP" 2>/dev/null

# ---- 3. leak check under ASan ----
if [ -n "${LEAKCHECK:-}" ]; then
    BAZEL_FLAGS=(--config=asan)
    BIN_DIR=
    build_bins "$TMP/asan" //dataplane //tools/whoami
    export ASAN_OPTIONS=detect_leaks=1:exitcode=99
    start_dp "$TMP/asan"
    wrk_start 120 "$TMP/wrk3.out"
    MISSED=$(reload 200)
    check_dp "ASan reloads"
    kill -INT "$WRK"; wait "$WRK"
    kill -TERM "$DP"; wait "$DP"; RC=$?
    echo "ASan: 200 reloads ($MISSED not applied), exit $RC"
    if grep -q 'LeakSanitizer' "$TMP/dp.log"; then
        grep -E '^(SUMMARY|Direct|Indirect)|^    #[0-9]+ ' "$TMP/dp.log" | head -80
    else
        echo "ASan: no leaks reported"
    fi
fi
