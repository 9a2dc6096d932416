#!/usr/bin/env bash
# integration/e2e/run.sh -- the whole product on loopback: a control node
# (embedded Redis under the temp dir), two whoami backends and two data
# nodes taking their configuration over xDS (--control, --cache-dir).
# traefikeectl applies configurations; requests go through the data nodes.
# Cases: routing by Host and path, weighted split, a change served within a
# second on both data nodes (timed from apply returning), a configuration
# the data nodes NACK (shown by list-nodes; the last good one keeps
# serving), control node killed (data nodes keep serving), a data node
# restarted with the control node down (serves from its cache), control
# node back (reconnect, converge), and no request lost under constant load
# across a config change and a control node kill.
#
#   integration/e2e/run.sh       E2E_CONTROL=stub: integration/e2e's stand-in
#                                control node instead of //controlplane
#                                DP_ASAN=1: ASan+UBSan binaries
#
# Both data nodes listen on the same entry point address (SO_REUSEPORT), so
# the kernel spreads new connections over them; per-node checks use each
# node's admin server. Every wait is bounded; ports are picked free; the
# temp dir is our own; only pids started here are killed. Prints "ok CASE" /
# "FAIL CASE" and "time WHAT MS"; exits non-zero if a case failed.
NAME=e2e-it
. "$(dirname "$0")/../lib.sh"
MODE=${E2E_CONTROL:-real}
POLL=0.05 # wait_for
after_exit() { exec 3>&- 2>/dev/null; }

# ---- build (binaries copied: other builds may rewrite bazel-bin) ----
[ -n "${DP_ASAN:-}" ] && use_sanitizers
TARGETS=(//dataplane //tools/whoami //controlplane //tools/traefikeectl)
[ "$MODE" = stub ] && TARGETS=(//dataplane //tools/whoami //integration/e2e:e2e_control)
build "${TARGETS[@]}"
copy_bins "${TARGETS[@]}"
DP=$TMP/bin/dataplane
WHOAMI=$TMP/bin/whoami

P_WEB=$(freeport); P_A=$(freeport); P_B=$(freeport)
P_GRPC=$(freeport); P_HTTP=$(freeport)
P_ADM1=$(freeport); P_ADM2=$(freeport)
WEB=http://127.0.0.1:$P_WEB
CONTROL=127.0.0.1:$P_GRPC

# ---- configurations ----
# write_config FILE EXTRA_ROUTERS EXTRA_SERVICES
write_config() {
    cat >"$1" <<EOF
entryPoints:
  web:
    address: "127.0.0.1:$P_WEB"
http:
  routers:
    host-a: {rule: "Host(\`a.test\`)", service: a}
    host-b: {rule: "Host(\`b.test\`)", service: b}
    path-a: {rule: "Host(\`p.test\`) && PathPrefix(\`/left\`)", service: a}
    path-b: {rule: "Host(\`p.test\`) && PathPrefix(\`/right\`)", service: b}
    weighted: {rule: "Host(\`w.test\`)", service: canary}
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
$3
EOF
}
write_config "$TMP/v1.yaml" "" ""
write_config "$TMP/v2.yaml" '    new: {rule: "Host(`new.test`)", service: b}' ""
# the control node checks "user:hash"; the data node's basicAuth filter
# also wants a hash format it knows (htpasswd's): NACK
write_config "$TMP/bad.yaml" '    new: {rule: "Host(`new.test`)", service: b}
    bad: {rule: "Host(`bad.test`)", service: a, middlewares: [badauth]}' '  middlewares:
    badauth: {basicAuth: {users: ["u:plaintext"]}}'
write_config "$TMP/v3.yaml" '    new: {rule: "Host(`new.test`)", service: b}
    newer: {rule: "Host(`newer.test`)", service: a}' ""
write_config "$TMP/v4.yaml" '    new: {rule: "Host(`new.test`)", service: b}
    newer: {rule: "Host(`newer.test`)", service: a}
    load2: {rule: "Host(`load2.test`)", service: a}' ""
write_config "$TMP/v5.yaml" '    new: {rule: "Host(`new.test`)", service: b}
    newer: {rule: "Host(`newer.test`)", service: a}
    load2: {rule: "Host(`load2.test`)", service: a}
    back: {rule: "Host(`back.test`)", service: b}' ""

# ---- the control node: real, or the stand-in ----
CP_PID=
cp_start() {
    if [ "$MODE" = stub ]; then
        [ -p "$TMP/cp.in" ] || mkfifo "$TMP/cp.in"
        exec 3<>"$TMP/cp.in"
        "$TMP/bin/e2e_control" --addr "$CONTROL" ${LAST_GOOD:+--config "$LAST_GOOD"} \
            <"$TMP/cp.in" >>"$TMP/cp.out" 2>>"$TMP/cp.log" &
    else
        "$TMP/bin/controlplane" --node-id cp1 --grpc-addr "$CONTROL" \
            --http-addr "127.0.0.1:$P_HTTP" --data-dir "$TMP/cpdata" \
            >>"$TMP/cp.log" 2>&1 &
    fi
    CP_PID=$!
    PIDS+=("$CP_PID")
}
cp_up() {
    if [ "$MODE" = stub ]; then grep -q '^listening' "$TMP/cp.out" 2>/dev/null
    else "$TMP/bin/traefikeectl" --control "$CONTROL" list-nodes >/dev/null 2>&1; fi
}
cp_stop() { kill "$CP_PID" 2>/dev/null; wait "$CP_PID" 2>/dev/null; }
# cp_apply FILE: returns once the control node has the new revision
cp_apply() {
    if [ "$MODE" = stub ]; then
        local from; from=$(wc -l <"$TMP/cp.out")
        echo "apply $1" >&3
        wait_for 5 sh -c "tail -n +$((from + 1)) '$TMP/cp.out' | grep -q '^applied\|^rejected'" &&
            tail -n +$((from + 1)) "$TMP/cp.out" | grep -q '^applied'
    else
        "$TMP/bin/traefikeectl" --control "$CONTROL" apply -f "$1" >>"$TMP/apply.log" 2>&1
    fi
}
# cp_nack NODE: the control node shows NODE's last NACK (printed)
cp_nack() {
    if [ "$MODE" = stub ]; then
        local from; from=$(wc -l <"$TMP/cp.out")
        echo nodes >&3
        wait_for 2 sh -c "tail -n +$((from + 1)) '$TMP/cp.out' | grep -q '^nodes end'" || return 1
        tail -n +$((from + 1)) "$TMP/cp.out" | grep "^node id=$1 " |
            grep -o '[a-z]*.nacks=[1-9].*unknown hash format[^"]*' | head -1 | grep .
    else
        "$TMP/bin/traefikeectl" --control "$CONTROL" list-nodes -o json 2>/dev/null |
            python3 -c 'import json,sys
n=[x for x in json.load(sys.stdin) if x["name"]==sys.argv[1]]
sys.exit(0 if n and "unknown hash format" in n[0]["lastNack"] and print(n[0]["lastNack"]) is None else 1)' "$1"
    fi
}

# ---- data nodes ----
declare -A DP_PID ADM
ADM[dp1]=http://127.0.0.1:$P_ADM1
ADM[dp2]=http://127.0.0.1:$P_ADM2
dp_start() { # dp_start NAME
    local port=${ADM[$1]##*:}
    "$DP" --control "$CONTROL" --node-id "$1" --cache-dir "$TMP/cache-$1" \
        --admin-addr "127.0.0.1:$port" --workers 2 --drain-timeout 3s \
        >>"$TMP/$1.log" 2>&1 &
    DP_PID[$1]=$!
    PIDS+=($!)
}
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "${ADM[$1]}/ready")" = 200 ]; }
metric() { # metric NODE NAME
    curl -s --max-time 2 "${ADM[$1]}/metrics" | sed -n "s/^$2 //p"
}
has_route() { # has_route NODE HOST: the node's config_dump routes HOST
    curl -s --max-time 2 "${ADM[$1]}/config_dump" | grep -q "\"$2\""
}
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
name_of() { # the backend that answered
    curl -s -o /dev/null -D - --max-time 5 "$@" | tr -d '\r' | sed -n 's/^X-Whoami-Name: //p'
}

# ---- start ----
start_whoami A "$P_A"
start_whoami B "$P_B"
cp_start
wait_for 15 cp_up || { fail start "control node ($MODE) not up"; tail -5 "$TMP/cp.log"; exit 1; }
T0=$(now_ms)
check apply-v1 cp_apply "$TMP/v1.yaml"
LAST_GOOD=$TMP/v1.yaml
dp_start dp1
dp_start dp2
if wait_for 10 ready dp1 && wait_for 10 ready dp2; then
    ok data-nodes-ready
    echo "time apply-and-start-to-both-ready $(($(now_ms) - T0))"
else
    fail data-nodes-ready "$(curl -s "${ADM[dp1]}/ready") / $(curl -s "${ADM[dp2]}/ready")"
    exit 1
fi

# ---- routing ----
check route-host-a [ "$(name_of -H 'Host: a.test' "$WEB/")" = A ]
check route-host-b [ "$(name_of -H 'Host: b.test' "$WEB/")" = B ]
check route-path-left-a [ "$(name_of -H 'Host: p.test' "$WEB/left/x")" = A ]
check route-path-right-b [ "$(name_of -H 'Host: p.test' "$WEB/right/x")" = B ]
check route-unknown-404 [ "$(code -H 'Host: nothing.test' "$WEB/")" = 404 ]
R1=$(metric dp1 dataplane_http_requests_total); R2=$(metric dp2 dataplane_http_requests_total)
NA=0; NB=0
for _ in $(seq 200); do
    case $(name_of -H 'Host: w.test' "$WEB/") in A) NA=$((NA + 1));; B) NB=$((NB + 1));; esac
done
check "weighted-split-3:1(A=$NA,B=$NB)" [ $((NA + NB)) -eq 200 -a "$NB" -ge 25 -a "$NB" -le 80 ]
D1=$(($(metric dp1 dataplane_http_requests_total) - R1)); D2=$(($(metric dp2 dataplane_http_requests_total) - R2))
check "both-data-nodes-serve(dp1=$D1,dp2=$D2)" [ "$D1" -gt 0 -a "$D2" -gt 0 ]

# ---- a change: the new route on both data nodes within a second ----
check before-change-404 [ "$(code -H 'Host: new.test' "$WEB/")" = 404 ]
cp_apply "$TMP/v2.yaml" || fail apply-v2
T_APPLIED=$(now_ms)
if wait_for 5 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 -H 'Host: new.test' '$WEB/')\" = 200 ]"; then
    MS=$(($(now_ms) - T_APPLIED))
    echo "time apply-to-first-200-on-new-route $MS"
    check "new-route-first-200-within-1s(${MS}ms)" [ "$MS" -le 1000 ]
else
    fail new-route-first-200-within-1s "no 200 in 5 s"
fi
for n in dp1 dp2; do
    if wait_for 5 has_route "$n" new.test; then
        MS=$(($(now_ms) - T_APPLIED))
        echo "time apply-to-$n-has-new-route $MS"
        check "new-route-on-$n-within-1s(${MS}ms)" [ "$MS" -le 1000 ]
    else
        fail "new-route-on-$n" "not in config_dump after 5 s"
    fi
done
BAD=0
for _ in $(seq 40); do [ "$(name_of -H 'Host: new.test' "$WEB/")" = B ] || BAD=$((BAD + 1)); done
check "new-route-40-fresh-connections(bad=$BAD)" [ "$BAD" -eq 0 ]
LAST_GOOD=$TMP/v2.yaml

# ---- a configuration the data nodes reject ----
check apply-bad-accepted-by-control cp_apply "$TMP/bad.yaml"
for n in dp1 dp2; do
    if wait_until 10 cp_nack "$n" >"$TMP/nack-$n.txt"; then
        ok "nack-shown-for-$n($(head -c 120 "$TMP/nack-$n.txt"))"
    else
        fail "nack-shown-for-$n"
    fi
    REJ=$(metric "$n" dataplane_xds_updates_rejected_total)
    check "nack-counted-on-$n($REJ)" [ "${REJ:-0}" -ge 1 ]
done
check bad-config-not-served [ "$(code -H 'Host: bad.test' "$WEB/")" = 404 ]
check last-good-still-served [ "$(name_of -H 'Host: new.test' "$WEB/")" = B ]
check apply-v3-after-nack cp_apply "$TMP/v3.yaml"
if wait_for 5 has_route dp1 newer.test && wait_for 5 has_route dp2 newer.test; then
    ok good-config-after-nack-applied
else
    fail good-config-after-nack-applied
fi
LAST_GOOD=$TMP/v3.yaml

# ---- constant load across a config change and a control node kill ----
load_loop() { # load_loop OUT SECONDS: fresh connection per request
    local end=$(($(now_ms) + $2 * 1000))
    while [ "$(now_ms)" -lt "$end" ]; do
        curl -s -o /dev/null -w '%{http_code}\n' --max-time 5 -H 'Host: a.test' "$WEB/load"
    done >"$1"
}
LPIDS=()
T_LOAD=$(now_ms)
for i in 1 2 3 4; do load_loop "$TMP/load$i.txt" 6 & LPIDS+=($!); done
sleep 1
cp_apply "$TMP/v4.yaml" || fail apply-v4-under-load
sleep 1.5
T_KILL=$(now_ms)
cp_stop
echo "time control-node-killed-after-load-start $((T_KILL - T_LOAD))"
for p in "${LPIDS[@]}"; do wait "$p"; done
TOTAL=$(cat "$TMP"/load*.txt | wc -l)
NON2XX=$(cat "$TMP"/load*.txt | grep -vc '^2')
check "no-request-lost-under-change-and-kill(total=$TOTAL,non2xx=$NON2XX)" \
    [ "$TOTAL" -gt 100 -a "$NON2XX" -eq 0 ]
check change-under-load-applied sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: load2.test' '$WEB/')\" = 200 ]"

# ---- control node down ----
check control-down-still-serving [ "$(name_of -H 'Host: newer.test' "$WEB/")" = A ]
for n in dp1 dp2; do check "control-down-$n-ready" ready "$n"; done
kill "${DP_PID[dp2]}"; wait "${DP_PID[dp2]}" 2>/dev/null
T_RS=$(now_ms)
dp_start dp2
if wait_for 15 ready dp2; then
    echo "time restart-with-control-down-to-ready $(($(now_ms) - T_RS))"
    R=$(curl -s "${ADM[dp2]}/ready")
    check "restart-serves-from-cache($R)" grep -q 'serving from cache' <<<"$R"
else
    fail restart-serves-from-cache "$(curl -s "${ADM[dp2]}/ready")"
fi
check cache-has-last-good has_route dp2 load2.test
BAD=0
for _ in $(seq 20); do [ "$(name_of -H 'Host: load2.test' "$WEB/")" = A ] || BAD=$((BAD + 1)); done
check "serving-with-cache-node(bad=$BAD)" [ "$BAD" -eq 0 ]

# ---- control node back: reconnect, converge ----
LAST_GOOD=$TMP/v4.yaml
T_BACK=$(now_ms)
cp_start
wait_for 15 cp_up || fail control-back "not up"
connected() { [ "$(metric "$1" dataplane_xds_connected)" = 1 ]; }
for n in dp1 dp2; do
    if wait_for 30 connected "$n"; then
        ok "reconnected-$n"
        echo "time control-back-to-$n-connected $(($(now_ms) - T_BACK))"
    else
        fail "reconnected-$n"
    fi
done
check not-from-cache-after-reconnect sh -c "! curl -s '${ADM[dp2]}/ready' | grep -q cache"
check apply-after-control-back cp_apply "$TMP/v5.yaml"
T_APPLIED=$(now_ms)
if wait_for 5 has_route dp1 back.test && wait_for 5 has_route dp2 back.test; then
    echo "time apply-to-both-converged-after-reconnect $(($(now_ms) - T_APPLIED))"
    ok converged-after-reconnect
else
    fail converged-after-reconnect
fi
check back-route-served [ "$(name_of -H 'Host: back.test' "$WEB/")" = B ]
versions() { curl -s "${ADM[$1]}/metrics" | sed -n 's/^dataplane_xds_version_info{type="\([a-z]*\)",version="\([^"]*\)"} 1$/\1=\2/p' | tr '\n' ' '; }
V1=$(versions dp1); V2=$(versions dp2)
check "same-versions-on-both($V1)" [ -n "$V1" -a "$V1" = "$V2" ]

# ---- shutdown ----
for n in dp1 dp2; do
    kill "${DP_PID[$n]}"
    wait "${DP_PID[$n]}"; RC=$?
    check "$n-exit-clean(rc=$RC)" [ "$RC" -eq 0 ]
done
if [ -n "${DP_ASAN:-}" ]; then
    check asan-clean sh -c "! grep -q -E 'ERROR: (Address|Leak)Sanitizer|runtime error' '$TMP'/dp*.log"
fi

echo "$FAILS failure(s)"
[ "$FAILS" -eq 0 ]
