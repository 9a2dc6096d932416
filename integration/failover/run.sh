#!/usr/bin/env bash
# integration/failover/run.sh -- failures of the control plane's own
# dependencies, with real processes: a Redis master and two replicas (with
# AOF), three sentinels (quorum 2, down-after 1 s, failover-timeout 3 s),
# three control nodes on --sentinels (WAIT 1), traefikeectl, and for the
# Redis outage a real data node in front of a whoami backend.
#
#   1 leader killed (SIGKILL): another node leads within lease + 1 s
#   2 leader paused (SIGSTOP) past its lease, then resumed: a new term
#     meanwhile; nothing is written under the old epoch after the resume
#     (a MONITOR capture shows each fenced put with its epoch); it steps
#     down; one leader
#   3 Redis master SIGKILLed during a stream of applies, restarted as a
#     replica, FAILOVER_CYCLES times (20) within FAILOVER_BUDGET seconds
#     (120): every acknowledged revision still holds its exact document;
#     time for writes to resume after each failover
#   4 every redis-server stopped: the data node keeps serving, a fresh xDS
#     stream gets the last revision, apply fails with one line; Redis back
#     (same ports and data): apply works, the data node gets it
#   5 summary table
#
#   FAILOVER_CASES="1 2 3 4" (default all)   FAILOVER_KEEP=1 keeps the temp dir
#   FAILOVER_MODE=sentinel: case 3 asks Sentinel for the failover (SENTINEL
#     FAILOVER: the old master stays up) instead of killing the master
#   FAILOVER_WAIT_REPLICAS=N: the control nodes' --wait-replicas (default 1)
#
# Prints "ok CASE" / "FAIL CASE: why", timings, and exits non-zero on any
# failure. Ports are picked free on loopback; the temp dir is this run's;
# only pids started here are killed.
NAME=failover-it
. "$(dirname "$0")/../lib.sh"
set -o pipefail
KILL_SIG=KILL
KEEP_TMP=${KEEP_TMP:-${FAILOVER_KEEP:-}}
POLL=0.05 # wait_for
at_exit() { touch "$TMP/stop-applier"; }

CASES=" ${FAILOVER_CASES:-1 2 3 4} "
CYCLES=${FAILOVER_CYCLES:-20}
BUDGET=${FAILOVER_BUDGET:-120}
MODE3=${FAILOVER_MODE:-kill}
LEASE_MS=3000
MASTER_NAME=mymaster
PFX=traefikee:

has_case() { [[ $CASES == *" $1 "* ]]; }
CHECK="$PY $ROOT/integration/failover/check.py"

# ---- build; binaries copied (other builds may rewrite bazel-bin) ----
TARGETS=(//controlplane //tools/traefikeectl)
has_case 4 && TARGETS+=(//dataplane //tools/whoami) # only case 4 runs them
build "${TARGETS[@]}"
copy_bins "${TARGETS[@]}"
CP=$TMP/bin/controlplane
CTL=$TMP/bin/traefikeectl

# ---- Redis: three servers (AOF, own dirs), three sentinels ----
declare -A rport rpid
start_redis_i() { # index [master_port]: server i on rport[i], AOF
    start_redis "redis$1" "${rport[$1]}" "${2:-}" --appendonly yes --appendfsync everysec
    rpid[$1]=$LAST_PID
}
index_of_port() { # port -> redis index
    local i
    for i in 1 2 3; do [ "${rport[$i]}" = "$1" ] && echo "$i" && return 0; done
    return 1
}
for i in 1 2 3; do rport[$i]=$(freeport); done
start_redis_i 1
start_redis_i 2 "${rport[1]}"
start_redis_i 3 "${rport[1]}"
start_sentinels "$MASTER_NAME" "${rport[1]}"
s_ports=("${SENTINEL_PORTS[@]}")
sentinels=$SENTINELS

# master port as the first sentinel that answers names it
master_port() {
    local p m
    for p in "${s_ports[@]}"; do
        m=$(redis-cli -p "$p" sentinel get-master-addr-by-name "$MASTER_NAME" 2>/dev/null | sed -n 2p)
        [ -n "$m" ] && echo "$m" && return 0
    done
    return 1
}
# every sentinel names master <port> and sees two healthy replicas and two
# other sentinels
sentinels_settled() {
    local p info reps
    for p in "${s_ports[@]}"; do
        [ "$(redis-cli -p "$p" sentinel get-master-addr-by-name "$MASTER_NAME" 2>/dev/null | sed -n 2p)" = "$1" ] || return 1
        info=$(redis-cli -p "$p" sentinel master "$MASTER_NAME" 2>/dev/null) || return 1
        echo "$info" | grep -A1 -x num-other-sentinels | tail -1 | grep -qx 2 || return 1
        reps=$(redis-cli -p "$p" sentinel replicas "$MASTER_NAME" 2>/dev/null) || return 1
        [ "$(echo "$reps" | grep -A1 -x flags | grep -cx slave)" = 2 ] || return 1
    done
}
# <port> is a master with two replicas online
redis_replicated() {
    local info
    info=$(redis-cli -p "$1" info replication 2>/dev/null | tr -d '\r') || return 1
    echo "$info" | grep -qx role:master &&
        [ "$(echo "$info" | grep -c '^slave[0-9]*:.*state=online')" = 2 ]
}
if wait_for 30 redis_replicated "${rport[1]}" && wait_for 30 sentinels_settled "${rport[1]}"; then
    ok redis-master-two-replicas-three-sentinels
else
    fail redis-master-two-replicas-three-sentinels "did not settle"
    exit 1
fi

# ---- three control nodes ----
declare -A cp_port cp_http cp_pid
start_cp() { # name
    cp_port[$1]=${cp_port[$1]:-$(freeport)}
    cp_http[$1]=${cp_http[$1]:-$(freeport)}
    "$CP" --node-id "$1" --grpc-addr "127.0.0.1:${cp_port[$1]}" \
        --http-addr "127.0.0.1:${cp_http[$1]}" --sentinels "$sentinels" \
        --master-name "$MASTER_NAME" --data-dir "$TMP/data-$1" --lease "${LEASE_MS}ms" \
        --wait-timeout 1s --history 10000 --log-level info \
        ${FAILOVER_WAIT_REPLICAS:+--wait-replicas "$FAILOVER_WAIT_REPLICAS"} >>"$TMP/$1.log" 2>&1 &
    cp_pid[$1]=$!
    PIDS+=("$!")
}
for n in cp-1 cp-2 cp-3; do start_cp "$n"; done
ALL="127.0.0.1:${cp_port[cp-1]},127.0.0.1:${cp_port[cp-2]},127.0.0.1:${cp_port[cp-3]}"
export TRAEFIKEE_CONTROL=$ALL
ctl() { timeout 15 "$CTL" "$@"; }
ctl_at() { local n=$1; shift; timeout 15 "$CTL" --control "127.0.0.1:${cp_port[$n]}" "$@"; }

# leader_via NODE: the one leader list-nodes shows through NODE
leader_via() {
    ctl_at "$1" list-nodes -o json 2>/dev/null | $PY -c '
import json, sys
l = [x["name"] for x in json.load(sys.stdin) if x["role"] == "control" and x["leader"]]
sys.exit(1) if len(l) != 1 else print(l[0])'
}
three_one_leader() { # [NODE]: three healthy control nodes, one leader
    ctl ${1:+--control "127.0.0.1:${cp_port[$1]}"} list-nodes -o json 2>/dev/null | $PY -c '
import json, sys
c = [x for x in json.load(sys.stdin) if x["role"] == "control" and x["healthy"]]
sys.exit(0 if len(c) == 3 and sum(x["leader"] for x in c) == 1 else 1)'
}
rget() { redis-cli -p "$(master_port)" --raw get "$PFX$1" 2>/dev/null; }
# log_ms FILE EVENT AFTER_MS: wall-clock ms of the first EVENT logged at or
# after AFTER_MS (log lines start with ts=YYYY-MM-DDTHH:MM:SS.mmmZ)
log_ms() {
    $PY - "$@" <<'EOPY'
import datetime, re, sys
path, event, after = sys.argv[1], sys.argv[2], int(sys.argv[3])
for line in open(path, errors="replace"):
    m = re.match(r"ts=(\S+)Z .*event=(\S+)", line)
    if not m or m.group(2) != event:
        continue
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
    ms = int(t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)
    if ms >= after:
        print(ms)
        sys.exit(0)
sys.exit(1)
EOPY
}

if wait_for 20 three_one_leader; then ok three-control-nodes-one-leader; else
    fail three-control-nodes-one-leader "$(ctl list-nodes 2>&1)"
    exit 1
fi

P_WEB=$(freeport)
P_WHO=$(freeport)
# write_cfg FILE ROUTER...: each router Host(`NAME.test`) -> whoami
write_cfg() {
    local f=$1 r
    shift
    {
        printf 'entryPoints:\n  web: {address: "127.0.0.1:%s"}\nhttp:\n  routers:\n' "$P_WEB"
        for r in "$@"; do printf '    %s: {rule: "Host(`%s.test`)", service: whoami}\n' "$r" "$r"; done
        printf '  services:\n    whoami:\n      loadBalancer:\n        servers: [{url: "http://127.0.0.1:%s"}]\n' "$P_WHO"
    } >"$f"
}
write_cfg "$TMP/base.yaml" base
out=$(ctl apply -f "$TMP/base.yaml" 2>&1)
if [ $? -eq 0 ]; then ok first-apply; else fail first-apply "$out"; fi

T_LEADER=- T_LEADER_SEEN='' T_RESUME_MED=- T_RESUME_MAX=- LOST=- ACKED=- NCYC=0
T_PAUSE=- T_REDIS_BACK=-

# ==== 1. leader killed ====
if has_case 1; then
    L=$(leader_via cp-1)
    echo "leader $L"
    t0=$(now_ms)
    kill -9 "${cp_pid[$L]}"
    wait "${cp_pid[$L]}" 2>/dev/null
    survivor=cp-1
    [ "$L" = cp-1 ] && survivor=cp-2
    new=""
    seen_new() { new=$(leader_via "$survivor") && [ "$new" != "$L" ]; }
    if wait_for 15 seen_new; then
        t_seen=$(now_ms)
        new=$(leader_via "$survivor")
        t_el=$(log_ms "$TMP/$new.log" became_leader "$t0") || t_el=$t_seen
        T_LEADER=$((t_el - t0))
        T_LEADER_SEEN=$((t_seen - t0))
        echo "time leader-failover-ms $T_LEADER (became_leader on $new; shown by list-nodes after $T_LEADER_SEEN ms; lease $LEASE_MS ms)"
        if [ "$T_LEADER" -le $((LEASE_MS + 1000)) ]; then ok leader-killed-new-leader-within-lease-plus-1s; else
            fail leader-killed-new-leader-within-lease-plus-1s "$T_LEADER ms"; fi
    else fail leader-killed-new-leader-within-lease-plus-1s "$(ctl_at "$survivor" list-nodes 2>&1)"; fi
    write_cfg "$TMP/case1.yaml" base after-kill
    out=$(ctl apply -f "$TMP/case1.yaml" 2>&1)
    if [ $? -eq 0 ] && echo "$out" | grep -q "(leader $new)"; then ok apply-after-leader-kill; else
        fail apply-after-leader-kill "$out"; fi
    start_cp "$L"
    if wait_for 15 three_one_leader && [ "$(leader_via "$L")" = "$new" ]; then ok killed-leader-rejoins-as-follower; else
        fail killed-leader-rejoins-as-follower "$(ctl list-nodes 2>&1)"; fi
fi

# ==== 2. leader paused past its lease, then resumed ====
if has_case 2; then
    L=$(leader_via cp-1)
    o1=cp-1
    [ "$L" = cp-1 ] && o1=cp-2
    mp=$(master_port)
    e_old=$(rget epoch)
    redis-cli -p "$mp" monitor >"$TMP/monitor.txt" 2>&1 &
    mon=$!
    PIDS+=("$mon")
    sleep 0.3
    echo "leader $L (epoch $e_old); SIGSTOP"
    t0=$(now_ms)
    kill -STOP "${cp_pid[$L]}"
    # an apply sent to the paused leader waits in its socket for SIGCONT
    write_cfg "$TMP/paused.yaml" base paused
    ctl_at "$L" apply -f "$TMP/paused.yaml" >"$TMP/paused.out" 2>&1 &
    paused_apply=$!
    PIDS+=("$paused_apply")
    new=""
    seen_new() { new=$(leader_via "$o1") && [ "$new" != "$L" ]; }
    if wait_for 10 seen_new; then
        new=$(leader_via "$o1")
        t_el=$(log_ms "$TMP/$new.log" became_leader "$t0") || t_el=$(now_ms)
        T_PAUSE=$((t_el - t0))
        echo "time pause-to-new-leader-ms $T_PAUSE ($new)"
        ok paused-leader-replaced
    else fail paused-leader-replaced "$(ctl_at "$o1" list-nodes 2>&1)"; fi
    while [ $(($(now_ms) - t0)) -lt $((LEASE_MS + 1500)) ]; do sleep 0.1; done
    e_new=$(rget epoch)
    if [ -n "$e_old" ] && [ -n "$e_new" ] && [ "$e_new" -gt "$e_old" ]; then ok new-term-new-epoch; else
        fail new-term-new-epoch "epoch $e_old -> $e_new"; fi
    t_cont=$(date +%s.%N)
    t_cont_ms=$(now_ms)
    kill -CONT "${cp_pid[$L]}"
    # its first apply after the resume, straight to it
    write_cfg "$TMP/resumed.yaml" base paused resumed
    out=$(ctl_at "$L" apply -f "$TMP/resumed.yaml" 2>&1)
    rc=$?
    wait "$paused_apply"
    prc=$?
    echo "apply queued during the pause: rc=$prc $(head -1 "$TMP/paused.out")"
    echo "first apply after the resume: rc=$rc $out"
    # once it knows the new leader it forwards to it
    write_cfg "$TMP/forwarded.yaml" base paused resumed forwarded
    fwd_ok() { ctl_at "$L" apply -f "$TMP/forwarded.yaml" >"$TMP/forwarded.out" 2>&1; }
    if wait_for 10 fwd_ok && grep -q "(leader $new)" "$TMP/forwarded.out"; then
        ok resumed-node-forwards-to-new-leader
    else fail resumed-node-forwards-to-new-leader "$(cat "$TMP/forwarded.out")"; fi
    sleep 0.5
    kill "$mon" 2>/dev/null
    wait "$mon" 2>/dev/null
    $CHECK monitor "$TMP/monitor.txt" "$e_old" "$t_cont" "$PFX" >"$TMP/monitor.check"
    mrc=$?
    grep -E '^(term|stale)' "$TMP/monitor.check"
    grep '^put' "$TMP/monitor.check" | awk -v t="$t_cont" '$2 >= t' | head -5
    if [ $mrc -eq 0 ] && grep -q "after_since_epochs $e_new\$\|after_since_epochs -\$" "$TMP/monitor.check"; then
        ok resumed-leader-wrote-nothing-under-stale-epoch
    else fail resumed-leader-wrote-nothing-under-stale-epoch "$(tail -3 "$TMP/monitor.check")"; fi
    # the fence itself: the product's put script (its SHA as the new leader
    # used it) replayed by redis-cli with the paused leader's epoch
    sha=$(sed -n 's/^put_sha //p' "$TMP/monitor.check")
    cur=$(rget current)
    fence=$(redis-cli -p "$(master_port)" evalsha "$sha" 4 "${PFX}epoch" "${PFX}revision" \
        "${PFX}current" "${PFX}history" "$e_old" "stale write" "${PFX}rev:" 10000 "${PFX}events" 2>&1)
    echo "put fenced by epoch $e_old (current epoch $(rget epoch)): $fence"
    if [ -n "$sha" ] && [[ $fence == *"stale epoch"* ]] && [ "$(rget current)" = "$cur" ]; then
        ok fence-refuses-put-with-stale-epoch
    else fail fence-refuses-put-with-stale-epoch "sha=$sha: $fence"; fi
    # acknowledged applies hold their documents
    acked_ok() { # out file: "applied F: revision N (leader X)" -> rev:N == F
        local rev
        rev=$(sed -n 's/^applied .*: revision \([0-9]*\) (leader .*/\1/p' <<<"$1")
        [ -z "$rev" ] && return 0
        [ "$(redis-cli -p "$(master_port)" --raw get "${PFX}rev:$rev")" = "$(cat "$2")" ]
    }
    if acked_ok "$(cat "$TMP/paused.out")" "$TMP/paused.yaml" && acked_ok "$out" "$TMP/resumed.yaml" &&
        acked_ok "$(cat "$TMP/forwarded.out")" "$TMP/forwarded.yaml"; then
        ok applies-through-resumed-node-stored-or-refused
    else fail applies-through-resumed-node-stored-or-refused "$(cat "$TMP/paused.out") / $out"; fi
    if sd=$(log_ms "$TMP/$L.log" step_down "$t_cont_ms"); then
        echo "time resume-to-step-down-ms $((sd - t_cont_ms))"
        grep 'event=step_down\|event=not_leader' "$TMP/$L.log" | tail -2
        ok resumed-leader-steps-down-logged
    else fail resumed-leader-steps-down-logged "$(tail -5 "$TMP/$L.log")"; fi
    one_leader_not_L() { three_one_leader "$L" && [ "$(leader_via "$L")" != "$L" ]; }
    if wait_for 10 one_leader_not_L; then ok list-nodes-one-leader-after-resume; else
        fail list-nodes-one-leader-after-resume "$(ctl list-nodes 2>&1)"; fi
fi

# ==== 3. Redis master killed during a stream of applies ====
applier() { # until stop-applier: "i start_ms end_ms rc rev" per apply
    local i=0 s e rc out rev
    while [ ! -e "$TMP/stop-applier" ]; do
        i=$((i + 1))
        write_cfg "$TMP/c3/r$i.yaml" base "r$i"
        s=$(now_ms)
        out=$(timeout 15 "$CTL" apply -f "$TMP/c3/r$i.yaml" 2>&1)
        rc=$?
        e=$(now_ms)
        rev=$(sed -n 's/^applied .*: revision \([0-9]*\) (leader .*/\1/p' <<<"$out")
        echo "$i $s $e $rc ${rev:-0}" >>"$TMP/acks.log"
        echo "r$i rc=$rc $out" >>"$TMP/applies.out"
        sleep 0.05
    done
}
acked_since() { awk -v t="$1" '$4 == 0 && $2 >= t {f = 1} END {exit !f}' "$TMP/acks.log"; }
if has_case 3; then
    mkdir -p "$TMP/c3"
    : >"$TMP/acks.log"
    applier &
    app=$!
    PIDS+=("$app")
    kills=()
    t_start=$(now_ms)
    wait_for 10 acked_since "$t_start" || fail applies-before-failovers "$(tail -2 "$TMP/applies.out")"
    switches0=$(grep -c '+switch-master' "$TMP/sentinel1.log")
    while [ "$NCYC" -lt "$CYCLES" ] && [ $(($(now_ms) - t_start)) -lt $((BUDGET * 1000)) ]; do
        mp=$(master_port)
        i=$(index_of_port "$mp")
        tk=$(now_ms)
        if [ "$MODE3" = sentinel ]; then
            redis-cli -p "${s_ports[0]}" sentinel failover "$MASTER_NAME" >/dev/null
        else
            kill -9 "${rpid[$i]}"
            wait "${rpid[$i]}" 2>/dev/null
        fi
        kills+=("$tk")
        NCYC=$((NCYC + 1))
        moved() { local m; m=$(master_port) && [ "$m" != "$mp" ]; }
        if ! wait_for 20 moved; then fail "master-failover-$NCYC" "sentinels still name $mp"; break; fi
        [ "$MODE3" = kill ] && start_redis_i "$i" "$(master_port)" # back as a replica
        if ! wait_for 20 acked_since "$tk"; then
            fail "writes-resume-$NCYC" "$(tail -2 "$TMP/applies.out")"
            break
        fi
        # Sentinel may fail over again meanwhile: settle on whichever master
        settled() { local m; m=$(master_port) && redis_replicated "$m" && sentinels_settled "$m"; }
        if ! wait_for 30 settled; then
            fail "replicas-back-$NCYC" "$(redis-cli -p "$(master_port)" info replication | tr -d '\r' | grep -E '^(role|slave)')"
            break
        fi
        echo "cycle $NCYC: master $mp -> $(master_port), settled after $(($(now_ms) - tk)) ms"
    done
    switches=$(($(grep -c '+switch-master' "$TMP/sentinel1.log") - switches0))
    touch "$TMP/stop-applier"
    wait "$app"
    t_c3=$((($(now_ms) - t_start) / 1000))
    if [ "$NCYC" -lt "$CYCLES" ]; then
        echo "note: $NCYC master kills of the $CYCLES asked (time budget ${BUDGET}s)"
    fi
    echo "master kills $NCYC in ${t_c3}s; Sentinel failovers $switches ($((switches - NCYC)) not caused by a kill); applies $(wc -l <"$TMP/acks.log"), acknowledged $(awk '$4 == 0' "$TMP/acks.log" | wc -l)"
    res=$($CHECK acks "$(master_port)" "$TMP/acks.log" "$TMP/c3" "$PFX")
    arc=$?
    tail -1 <<<"$res"
    grep -v '^acked' <<<"$res" | head -12
    ACKED=$(sed -n 's/^acked \([0-9]*\) .*/\1/p' <<<"$res")
    LOST=$(sed -n 's/^acked [0-9]* lost \([0-9]*\) .*/\1/p' <<<"$res")
    if [ $arc -eq 0 ] && [ "${ACKED:-0}" -gt 0 ]; then ok acknowledged-revisions-survive-master-failovers; else
        fail acknowledged-revisions-survive-master-failovers "$(tail -1 <<<"$res")"; fi
    res=$($CHECK resume "$TMP/acks.log" "${kills[@]}")
    rrc=$?
    echo "writes resume after failover (ms): $(sed -n 's/^resume [0-9]* //p' <<<"$res" | tr '\n' ' ')"
    T_RESUME_MED=$(sed -n 's/^median \([0-9]*\) max .*/\1/p' <<<"$res")
    T_RESUME_MAX=$(sed -n 's/^median [0-9]* max \([0-9]*\)/\1/p' <<<"$res")
    if [ $rrc -eq 0 ] && [ "$NCYC" -gt 0 ]; then ok writes-resume-after-every-master-failover; else
        fail writes-resume-after-every-master-failover "$res"; fi
fi

# ==== 4. Redis down entirely ====
if has_case 4; then
    WHOAMI=$TMP/bin/whoami
    start_whoami W "$P_WHO" "$TMP/whoami.log"
    P_ADM=$(freeport)
    write_cfg "$TMP/before.yaml" base who
    out=$(ctl apply -f "$TMP/before.yaml" 2>&1)
    rev_last=$(sed -n 's/^applied .*: revision \([0-9]*\) (leader .*/\1/p' <<<"$out")
    "$TMP/bin/dataplane" --control "$ALL" --node-id dp-1 --cache-dir "$TMP/dpcache" \
        --admin-addr "127.0.0.1:$P_ADM" --workers 1 --drain-timeout 1s >"$TMP/dp-1.log" 2>&1 &
    PIDS+=("$!")
    who() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H "Host: $1.test" "http://127.0.0.1:$P_WEB/")" = 200 ]; }
    if [ -n "$rev_last" ] && wait_for 10 who who; then ok data-node-serves-last-revision; else
        fail data-node-serves "$out $(tail -3 "$TMP/dp-1.log")"; fi
    mp=$(master_port)
    mi=$(index_of_port "$mp")
    for i in 1 2 3; do kill -TERM "${rpid[$i]}" 2>/dev/null; done
    for i in 1 2 3; do wait "${rpid[$i]}" 2>/dev/null; done
    t_down=$(now_ms)
    echo "every redis-server stopped (master was ${rport[$mi]})"
    served=0 refused=0
    while [ $(($(now_ms) - t_down)) -lt $((LEASE_MS + 1500)) ]; do
        if who who; then served=$((served + 1)); else refused=$((refused + 1)); fi
        sleep 0.2
    done
    if [ "$refused" = 0 ] && [ "$served" -gt 5 ]; then ok data-node-keeps-serving-without-redis; else
        fail data-node-keeps-serving-without-redis "$served served, $refused failed"; fi
    (sleep 5 | $PY "$ROOT/integration/controlplane/xds_client.py" "127.0.0.1:${cp_port[cp-2]}" xds-outage 5 \
        >"$TMP/xds-outage.out" 2>&1) &
    PIDS+=("$!")
    if wait_for 5 grep -q "^cds version=$rev_last names=whoami\$" "$TMP/xds-outage.out" &&
        wait_for 3 grep -q "^lds version=$rev_last " "$TMP/xds-outage.out"; then
        ok new-xds-stream-gets-last-revision-without-redis
    else fail new-xds-stream-gets-last-revision-without-redis "$(cat "$TMP/xds-outage.out")"; fi
    write_cfg "$TMP/after.yaml" base who new
    msgs_ok=1 named=1
    for n in cp-1 cp-2 cp-3; do
        out=$(ctl_at "$n" apply -f "$TMP/after.yaml" 2>&1)
        rc=$?
        echo "apply through $n without redis: rc=$rc: $out"
        [ $rc -ne 0 ] && [ "$(wc -l <<<"$out")" = 1 ] && [ -n "$out" ] || msgs_ok=0
        grep -qi 'store\|redis' <<<"$out" || named=0
    done
    if [ $msgs_ok = 1 ]; then ok apply-without-redis-fails-one-line; else
        fail apply-without-redis-fails-one-line; fi
    if [ $named = 1 ]; then ok apply-without-redis-error-names-the-store; else
        fail apply-without-redis-error-names-the-store "see the messages above"; fi
    # back: same ports, same dirs (AOF); the old master first
    start_redis_i "$mi"
    wait_for 10 redis-cli -p "$mp" ping
    for i in 1 2 3; do [ "$i" != "$mi" ] && start_redis_i "$i" "$mp"; done
    t_up=$(now_ms)
    apply_ok() { ctl apply -f "$TMP/after.yaml" >"$TMP/after.out" 2>&1; }
    if wait_for 30 apply_ok; then
        T_REDIS_BACK=$(($(now_ms) - t_up))
        echo "time redis-restart-to-apply-ms $T_REDIS_BACK: $(head -1 "$TMP/after.out")"
        if grep -q ": revision $((rev_last + 1)) (leader" "$TMP/after.out"; then ok apply-after-redis-back-continues-revisions; else
            fail apply-after-redis-back-continues-revisions "expected revision $((rev_last + 1))"; fi
    else fail apply-after-redis-back "$(cat "$TMP/after.out")"; fi
    if wait_for 5 who new; then ok data-node-gets-new-revision-after-redis-back; else
        fail data-node-gets-new-revision-after-redis-back "$(tail -3 "$TMP/dp-1.log")"; fi
    if wait_for 15 three_one_leader; then ok three-control-nodes-one-leader-after-redis-back; else
        fail three-control-nodes-one-leader-after-redis-back "$(ctl list-nodes 2>&1)"; fi
fi

# ==== 5. summary ====
echo
echo "summary"
printf '  %-44s %s\n' "leader failover (SIGKILL, lease ${LEASE_MS} ms)" "$T_LEADER ms${T_LEADER_SEEN:+ (list-nodes: $T_LEADER_SEEN ms)}"
printf '  %-44s %s\n' "paused leader replaced" "$T_PAUSE ms"
printf '  %-44s %s\n' "writes resume after master failover" "median $T_RESUME_MED ms, max $T_RESUME_MAX ms ($NCYC failovers)"
printf '  %-44s %s\n' "acknowledged writes lost" "$LOST of $ACKED"
printf '  %-44s %s\n' "Redis restarted to first apply" "$T_REDIS_BACK ms"
[ "$FAILS" -eq 0 ]
