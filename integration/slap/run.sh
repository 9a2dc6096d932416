#!/usr/bin/env bash
# Integration test of tools/slap against tools/whoami on loopback: request
# counts at a constant rate, JSON fields, timeouts, connection errors,
# status counting, -fail-on-error, the latency of a delayed backend, the
# bounded connection pool, usage errors.
#
#   integration/slap/run.sh               build both with bazel, then test
#   integration/slap/run.sh SLAP WHOAMI   use already built binaries
#
# Prints "ok NAME" / "FAIL NAME: why" per check; exits non-zero on a FAIL.
# Starts only its own whoami processes and kills only those pids.
if [ $# -ge 2 ]; then # before lib.sh moves to the repository root
    SLAP=$(readlink -f "$1") WHOAMI=$(readlink -f "$2")
fi
NAME=slap
. "$(dirname "$0")/../lib.sh"
if [ -z "${SLAP:-}" ]; then
    build //tools/slap //tools/whoami
    SLAP=$BIN/tools/slap/slap WHOAMI=$BIN/tools/whoami/whoami
fi
command -v jq >/dev/null || { echo "FAIL setup: jq not found"; exit 1; }
dir=$TMP

# Starts whoami on a free port; sets $port and $wpid. Waits (bounded) for
# its "listening" line.
whoami_up() {
    local i log
    for _ in 1 2 3; do
        port=$(freeport)
        log=$dir/whoami.$port.log
        start_whoami slaptest "$port" "$log"
        wpid=$LAST_PID
        for i in $(seq 50); do
            grep -q 'event=listening' "$log" 2>/dev/null && return 0
            kill -0 "$wpid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$wpid" 2>/dev/null
    done
    echo "FAIL setup: whoami did not start"
    exit 1
}

# slap NAME ARGS...: runs slap (bounded), JSON in $dir/NAME.json, text in
# $dir/NAME.out; sets $rc.
slap() {
    local name=$1
    shift
    timeout 60 "$SLAP" -quiet -json "$dir/$name.json" "$@" \
        >"$dir/$name.out" 2>"$dir/$name.err"
    rc=$?
}

j() { jq -r "$1" "$dir/$2.json"; }

whoami_up
base=http://127.0.0.1:$port

# 1. 200 req/s for 3 s: 600 requests, all 200, every JSON field there.
echo "GET $base/bench" >"$dir/t_bench"
slap rate -targets "$dir/t_bench" -rate 200 -duration 3s -fail-on-error
sent=$(j .sent rate)
if [ "$rc" -ne 0 ]; then
    fail rate "exit $rc: $(cat "$dir/rate.err")"
elif [ "$sent" -lt 595 ] || [ "$sent" -gt 605 ]; then
    fail rate "sent $sent, want 600"
elif [ "$(j '.status["200"]' rate)" != "$sent" ] ||
    [ "$(j .completed rate)" != "$sent" ] ||
    [ "$(j '.errors | length' rate)" != 0 ]; then
    fail rate "not all 200: $(cat "$dir/rate.json")"
elif ! jq -e '.late >= 0 and .failed == 0 and .in_flight == 0 and
        (.rate > 190 and .rate < 210) and
        (.duration_s > 2.9 and .duration_s < 3.3) and
        (.latency_ms | has("p50") and has("p90") and has("p99") and
                       has("p999") and has("max") and has("mean")) and
        .latency_ms.p50 <= .latency_ms.p99 and
        .latency_ms.p99 <= .latency_ms.max' "$dir/rate.json" >/dev/null; then
    fail rate "fields: $(cat "$dir/rate.json")"
elif ! grep -q "status:     \[200\]: $sent" "$dir/rate.out" ||
    ! grep -q '^latency:    p50 ' "$dir/rate.out"; then
    fail rate "text summary: $(cat "$dir/rate.out")"
else
    ok "rate (sent $sent, rate $(j .rate rate), p99 $(j .latency_ms.p99 rate) ms)"
fi

# 2. Latency from the scheduled time: ?wait=100ms gives p50 of 100 ms +-20%.
echo "GET $base/?wait=100ms" >"$dir/t_wait"
slap wait -targets "$dir/t_wait" -rate 50 -duration 2s
p50=$(j .latency_ms.p50 wait)
if [ "$rc" -ne 0 ] || [ "$(j '.status["200"]' wait)" != 100 ]; then
    fail latency "exit $rc: $(cat "$dir/wait.json" "$dir/wait.err")"
elif ! jq -e '.latency_ms.p50 >= 80 and .latency_ms.p50 <= 120' \
    "$dir/wait.json" >/dev/null; then
    fail latency "p50 $p50 ms, want 100 +- 20%"
else
    ok "latency (p50 $p50 ms)"
fi

# 3. Timeouts: ?wait=2s with -timeout 500ms; the run still ends promptly.
echo "GET $base/?wait=2s" >"$dir/t_slow"
t0=$(date +%s%N)
slap slow -targets "$dir/t_slow" -rate 20 -duration 1s -timeout 500ms \
    -fail-on-error
ms=$((($(date +%s%N) - t0) / 1000000))
if [ "$rc" -ne 1 ]; then
    fail timeout "exit $rc, want 1"
elif [ "$(j .errors.timeout slow)" != 20 ] || [ "$(j .completed slow)" != 0 ]; then
    fail timeout "$(cat "$dir/slow.json")"
elif [ "$ms" -gt 3000 ]; then
    fail timeout "took $ms ms"
else
    ok "timeout (20 timeouts in $ms ms)"
fi

# 4. Status codes counted; failed only with -fail-on-error.
echo "GET $base/status/503" >"$dir/t_503"
printf 'GET %s/bench\nGET %s/status/503\n' "$base" "$base" >"$dir/t_mix"
slap s503 -targets "$dir/t_503" -rate 50 -duration 1s
rc_plain=$rc
slap mix -targets "$dir/t_mix" -rate 50 -duration 1s -fail-on-error
if [ "$rc_plain" -ne 0 ] || [ "$(j '.status["503"]' s503)" != 50 ]; then
    fail status "503 run: exit $rc_plain $(cat "$dir/s503.json")"
elif [ "$rc" -ne 1 ] || [ "$(j '.status["200"]' mix)" != 25 ] ||
    [ "$(j '.status["503"]' mix)" != 25 ] || [ "$(j .failed mix)" != 25 ]; then
    fail status "mixed run: exit $rc $(cat "$dir/mix.json")"
else
    ok "status (503 counted, round robin 25/25, -fail-on-error exit 1)"
fi

# 5. A bounded pool: 2 connections serve 20 req/s of 100 ms requests, 50
#    req/s are asked. The queue waits, latency counts the wait (no
#    coordinated omission), the rest time out; every request accounted.
slap pool -targets "$dir/t_wait" -rate 50 -duration 1s -timeout 1s -conns 2
if [ "$rc" -ne 0 ] || [ "$(j .sent pool)" != 50 ] ||
    [ "$(j '.completed + .errors.timeout' pool)" != 50 ] ||
    ! jq -e '.errors.timeout > 0 and .latency_ms.p90 > 400' \
        "$dir/pool.json" >/dev/null; then
    fail pool "exit $rc $(cat "$dir/pool.json")"
else
    ok "pool (completed $(j .completed pool), timeouts $(j .errors.timeout pool), p90 $(j .latency_ms.p90 pool) ms)"
fi

# 6. Targets from stdin, a POST with a body file, HEAD (no body in the
#    answer), -H and -host; JSON on stdout.
head -c 5000 /dev/zero >"$dir/body" # whoami answers 431 when a first read fills its 16 KB buffer
printf 'GET %s/\nPOST %s/ @%s\nHEAD %s/data?size=5000\n' \
    "$base" "$base" "$dir/body" "$base" |
    timeout 30 "$SLAP" -quiet -targets - -rate 30 -duration 100ms \
        -H 'X-Slap: yes' -host whoami.test -json - \
        >"$dir/stdin.json" 2>"$dir/stdin.err"
rc=$?
if [ "$rc" -ne 0 ] || [ "$(j '.status["200"]' stdin)" != 3 ]; then
    fail stdin "exit $rc $(cat "$dir/stdin.json" "$dir/stdin.err" | tr "\n" " ")"
else
    ok "stdin (-targets -, -json -)"
fi

# 7. A stopped backend: connection refused, -fail-on-error exits 1.
kill "$wpid"
wait "$wpid" 2>/dev/null
PIDS=() # reaped: its pid must not be killed again
slap down -targets "$dir/t_bench" -rate 100 -duration 1s -fail-on-error
if [ "$rc" -ne 1 ]; then
    fail refused "exit $rc, want 1"
elif [ "$(j .errors.connect_refused down)" != 100 ] ||
    [ "$(j .completed down)" != 0 ]; then
    fail refused "$(cat "$dir/down.json")"
elif ! grep -q 'connect refused: 100' "$dir/down.out"; then
    fail refused "text: $(cat "$dir/down.out")"
else
    ok "refused (100 connect errors, exit 1)"
fi

# 8. Usage errors exit 2.
u=0
for args in "-rate 10" "-targets $dir/t_bench" \
    "-targets $dir/t_bench -rate 10 -duration 10" \
    "-targets $dir/t_bench -rate 0" "-targets $dir/t_bench -rate 10 -bogus 1" \
    "-targets $dir/nonexistent -rate 10"; do
    # shellcheck disable=SC2086
    timeout 10 "$SLAP" $args >/dev/null 2>&1
    r=$?
    [ "$r" -eq 2 ] || { fail usage "'$args' exit $r, want 2"; u=1; }
done
echo "GET https://127.0.0.1/" >"$dir/t_https"
timeout 10 "$SLAP" -targets "$dir/t_https" -rate 1 >/dev/null 2>"$dir/https.err"
r=$?
if [ "$r" -ne 2 ] || ! grep -q 'https' "$dir/https.err"; then
    fail usage "https target: exit $r"
    u=1
fi
[ "$u" -eq 0 ] && ok "usage (exit 2)"

[ "$FAILS" -eq 0 ]
