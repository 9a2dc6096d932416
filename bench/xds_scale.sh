#!/usr/bin/env bash
# usage: bench/xds_scale.sh   [STREAMS=1000 CHANNELS=8 MODE=sotw|delta|both
#                              ROUTES=10000 CLUSTERS=1000 REPS=3 TIMEOUT_S=120
#                              BIN_DIR=dir of prebuilt binaries: no build
#                              MALLOC_TRIM=1: glibc returns freed memory at
#                              once, so RSS is closer to live memory]
#
# Issue 5: one control node (//controlplane, embedded Redis under a temp
# dir) serving ROUTES routes and CLUSTERS clusters to STREAMS ADS streams of
# bench/tools/ads_flood (one client process, CHANNELS HTTP/2 connections),
# which subscribe and ACK like data nodes. Measures, REPS times each:
#  (a) a one-endpoint change: the first server of one service moves;
#  (b) a full change: every route's path, every cluster's health check and
#      every endpoint's port change;
# the time from `traefikeectl apply` to the last stream's ACK of the new
# revision (for (a) its EDS ACK; for (b) its CDS, EDS and RDS ACKs), both
# from apply starting and from apply returning; and the control node's RSS
# before the streams, with them, and per stream (delta / STREAMS).
# Not a test: exits 0 unless something could not run. Every wait is
# bounded; only the processes started here are killed.
NAME=xds_scale; . "$(dirname "$0")/lib.sh"
STREAMS=${STREAMS:-1000}
CHANNELS=${CHANNELS:-8}
MODE=${MODE:-sotw}
ROUTES=${ROUTES:-10000}
CLUSTERS=${CLUSTERS:-1000}
REPS=${REPS:-3}
TIMEOUT_S=${TIMEOUT_S:-120}
CP_ENV=()
[ -n "${MALLOC_TRIM:-}" ] && CP_ENV=(MALLOC_MMAP_THRESHOLD_=65536 MALLOC_TRIM_THRESHOLD_=0)
FLOOD_PID=
at_exit() { [ -n "$FLOOD_PID" ] && kill "$FLOOD_PID" 2>/dev/null; }

build_bins "$TMP/bin" //controlplane //tools/traefikeectl //bench/tools:ads_flood

# ---- configurations: base, then per rep (a) bump, (b) next variant ----
gen() { # gen FILE VARIANT BUMP
    python3 bench/tools/genconfig.py --routers "$ROUTES" --services "$CLUSTERS" \
        --weighted 0 --backends 2 --health --variant "$2" --bump "$3" -o "$1" ||
        die "genconfig failed"
}
gen "$TMP/base.yaml" 0 0
for r in $(seq "$REPS"); do
    gen "$TMP/a$r.yaml" $((r - 1)) "$r"
    gen "$TMP/b$r.yaml" "$r" "$r"
done

# apply FILE: sets REV, T_START, T_RET (Unix ms)
apply() {
    local out
    T_START=$(now_ms)
    out=$(timeout 60 "$TMP/bin/traefikeectl" --control "$CONTROL" apply -f "$1" 2>&1)
    local rc=$?
    T_RET=$(now_ms)
    [ $rc -eq 0 ] || die "apply $1 failed: $out"
    REV=$(sed -n 's/^applied .*: revision \([0-9]*\).*/\1/p' <<<"$out")
    [ -n "$REV" ] || die "no revision in: $out"
}

# flood_wait VERSION T0 TYPES: sets ANSWER (a line from ads_flood)
flood_wait() {
    echo "wait $1 $2 $((TIMEOUT_S * 1000)) $3" >&"${FLOOD[1]}"
    ANSWER=
    read -r -t $((TIMEOUT_S + 10)) ANSWER <&"${FLOOD[0]}" || ANSWER="no answer"
}
field() { sed -n "s/.* $1=\(-\{0,1\}[0-9]*\).*/\1/p" <<<"$2"; }

cp_up() { "$TMP/bin/traefikeectl" --control "$CONTROL" list-nodes >/dev/null 2>&1; }
run_mode() { # run_mode sotw|delta
    local mode=$1 flag=
    [ "$mode" = delta ] && flag=--delta
    local p_grpc p_http cp_pid
    p_grpc=$(freeport); p_http=$(freeport)
    CONTROL=127.0.0.1:$p_grpc
    env "${CP_ENV[@]}" "$TMP/bin/controlplane" --node-id bench-cp --grpc-addr "$CONTROL" \
        --http-addr "127.0.0.1:$p_http" --data-dir "$TMP/cp-$mode" \
        --log-level warn >"$TMP/cp-$mode.log" 2>&1 &
    cp_pid=$!
    PIDS+=("$cp_pid")
    wait_for 30 "control node ($TMP/cp-$mode.log)" cp_up
    apply "$TMP/base.yaml"
    local rev0=$REV
    sleep 1
    local rss0; rss0=$(kb "$cp_pid" VmRSS)

    coproc FLOOD { exec "$TMP/bin/ads_flood" --target "$CONTROL" --streams "$STREAMS" \
        --channels "$CHANNELS" $flag --max-seconds $((TIMEOUT_S * (4 * REPS + 2))) \
        2>"$TMP/flood-$mode.log"; }
    FLOOD_PID=$FLOOD_PID
    read -r -t 30 line <&"${FLOOD[0]}" || die "ads_flood did not start"
    local t_sync; t_sync=$(now_ms)
    flood_wait "$rev0" "$t_sync" cds,eds,lds,rds
    echo "[$mode] initial sync of $STREAMS streams: $ANSWER"
    [[ $ANSWER == done* ]] || echo "[$mode] warning: not every stream synced"
    sleep 2
    local rss1; rss1=$(kb "$cp_pid" VmRSS)

    local a_ret=() a_start=() b_ret=() b_start=() r
    for r in $(seq "$REPS"); do
        apply "$TMP/a$r.yaml"
        flood_wait "$REV" "$T_START" eds
        echo "[$mode] (a) one endpoint, rev $REV (apply took $((T_RET - T_START)) ms): $ANSWER"
        if [[ $ANSWER == done* ]]; then
            a_start+=("$(field max "$ANSWER")")
            a_ret+=($(($(field max "$ANSWER") - (T_RET - T_START))))
        fi
        apply "$TMP/b$r.yaml"
        flood_wait "$REV" "$T_START" cds,eds,rds
        echo "[$mode] (b) full change, rev $REV (apply took $((T_RET - T_START)) ms): $ANSWER"
        if [[ $ANSWER == done* ]]; then
            b_start+=("$(field max "$ANSWER")")
            b_ret+=($(($(field max "$ANSWER") - (T_RET - T_START))))
        fi
    done
    local rss2 hwm; rss2=$(kb "$cp_pid" VmRSS); hwm=$(kb "$cp_pid" VmHWM)
    echo stats >&"${FLOOD[1]}"
    read -r -t 10 line <&"${FLOOD[0]}" && echo "[$mode] flood $line"
    echo quit >&"${FLOOD[1]}"
    local fp=$FLOOD_PID
    for _ in $(seq 50); do kill -0 "$fp" 2>/dev/null || break; sleep 0.1; done
    kill "$fp" 2>/dev/null; wait "$fp" 2>/dev/null
    FLOOD_PID=
    kill "$cp_pid" 2>/dev/null; wait "$cp_pid" 2>/dev/null
    grep -E 'level=(warn|error)' "$TMP/cp-$mode.log" | grep -v 'election stopped' |
        sed "s/^/[$mode] control node: /" | head -10

    local per=$(((rss1 - rss0) / STREAMS))
    ROWS+=("$(printf '%-6s %-44s %12s   %s' "$mode" \
        "(a) one endpoint: last ACK after apply ret" "$(median "${a_ret[@]}") ms" "< 200 ms")")
    ROWS+=("$(printf '%-6s %-44s %12s   %s' "$mode" \
        "    same, from apply start" "$(median "${a_start[@]}") ms" "")")
    ROWS+=("$(printf '%-6s %-44s %12s   %s' "$mode" \
        "(b) full change: last ACK after apply ret" "$(median "${b_ret[@]}") ms" "< 2000 ms")")
    ROWS+=("$(printf '%-6s %-44s %12s   %s' "$mode" \
        "    same, from apply start" "$(median "${b_start[@]}") ms" "")")
    ROWS+=("$(printf '%-6s %-44s %12s   %s' "$mode" "control node RSS, no streams" \
        "$((rss0 / 1024)) MiB" "")")
    ROWS+=("$(printf '%-6s %-44s %12s   %s' "$mode" "control node RSS, $STREAMS streams synced" \
        "$((rss1 / 1024)) MiB" "")")
    ROWS+=("$(printf '%-6s %-44s %12s   %s' "$mode" "  after the changes (peak)" \
        "$((rss2 / 1024)) MiB ($((hwm / 1024)))" "")")
    ROWS+=("$(printf '%-6s %-44s %12s   %s' "$mode" "per stream ((synced - none) / streams)" \
        "$per KiB" "< 64 KiB")")
}

echo "xds_scale: $ROUTES routes, $CLUSTERS clusters (2 endpoints each), $STREAMS" \
    "streams on $CHANNELS channels, $REPS reps${CP_ENV:+, ${CP_ENV[*]}}; $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
ROWS=()
case $MODE in
sotw | delta) run_mode "$MODE" ;;
both) run_mode sotw; run_mode delta ;;
*) die "MODE must be sotw, delta or both" ;;
esac
echo
printf '%-6s %-44s %12s   %s\n' mode measure "median" goal
printf '%s\n' "${ROWS[@]}"
exit 0
