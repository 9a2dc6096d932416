#!/usr/bin/env bash
# integration/dashboard/run.sh -- the control node's HTTP side (API, auth,
# events, dashboard, metrics) against http_test_server, a fake cluster that
# changes on signals: SIGUSR1 applies a new revision, SIGUSR2 flips data
# node dn-1's health. Driven with curl, a raw socket, and (when
# /usr/bin/chromium and node_modules/playwright-core are there) a headless
# browser. Ports picked free at start; only pids started here are killed.
#
#   integration/dashboard/run.sh       (DASH_ASAN=1: ASan+UBSan build)
#
# Prints "ok <case>" / "FAIL <case>" / "skip <case>: why"; exits non-zero
# if any case failed.
NAME=dash-it
. "$(dirname "$0")/../lib.sh"
HERE=$ROOT/integration/dashboard

# ---- build ----
[ -n "${DASH_ASAN:-}" ] && use_sanitizers
build //integration/dashboard:http_test_server
SRV=$BIN/integration/dashboard/http_test_server

PORT=$(freeport)
PORT2=$(freeport)
PW="it-$RANDOM-secret"
URL=http://127.0.0.1:$PORT

"$SRV" --http-addr "127.0.0.1:$PORT" --password "$PW" --flap-ms 0 >"$TMP/server.out" 2>"$TMP/server.err" &
SERVER=$!
PIDS+=("$SERVER")
wait_http "$URL/ping" || { fail start "server did not answer"; exit 1; }
ok start

# code METHOD PATH [curl args...]: prints the status code
code() {
    local m=$1 p=$2; shift 2
    curl -s -o /dev/null -w '%{http_code}' -X "$m" --max-time 5 "$@" "$URL$p"
}
A=(-u "admin:$PW")

# ---- authentication ----
for p in /api/overview /api/http/routers /api/nodes /api/revisions /api/events /dashboard/ /dashboard/app.js; do
    check "401 without credentials $p" test "$(code GET "$p")" = 401
done
check "401 with a wrong password" test "$(code GET /api/overview -u admin:wrong)" = 401
check "401 with another user" test "$(code GET /api/overview -u root:"$PW")" = 401
check "API 401 challenges Basic" sh -c "curl -s -D - -o /dev/null '$URL/api/overview' | grep -qi '^WWW-Authenticate: Basic'"
check "dashboard 401 is the login form, no Basic prompt" sh -c \
    "curl -s -D '$TMP/h401' '$URL/dashboard/' | grep -q 'action=\"/api/login\"' && ! grep -qi '^WWW-Authenticate: Basic' '$TMP/h401'"
check "ping and / need no credentials" sh -c \
    "test \"\$(curl -s '$URL/ping')\" = OK && test \"\$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' '$URL/')\" = '302 $URL/dashboard/'"

# ---- API ----
j() { curl -s --max-time 5 "${A[@]}" "$URL$1"; }
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if ($1) else 1)"; }
for p in /api/overview /api/version /api/entrypoints /api/http/routers /api/http/services \
    /api/http/middlewares /api/nodes /api/revisions /api/timeseries /api/rawdata /api/events/log; do
    check "200 $p" test "$(code GET "$p" "${A[@]}")" = 200
done
check "overview counts" sh -c "curl -s -u 'admin:$PW' '$URL/api/overview' | python3 -c \"import json,sys; d=json.load(sys.stdin); assert d['http']['routers']['total']>=5 and d['cluster']['leader']=='cn-1' and d['cluster']['dataNodes']['total']==3\""
j /api/http/routers >"$TMP/routers.json"
check "routers in Traefik's shape" jq_py "any(r['name']=='whoami@file' and r['provider']=='file' and r['status']=='enabled' and r['using']==['web'] and r['service']=='whoami' for r in d)" <"$TMP/routers.json"
check "router by name" jq_py "d['name']=='whoami@file' and 'Host(' in d['rule']" < <(j /api/http/routers/whoami)
check "router by name@file" jq_py "d['name']=='whoami@file'" < <(j /api/http/routers/whoami@file)
check "404 for an unknown router" test "$(code GET /api/http/routers/nope "${A[@]}")" = 404
check "404 for an unknown service" test "$(code GET /api/http/services/nope "${A[@]}")" = 404
check "service with usedBy and serverStatus" jq_py "d['type']=='loadbalancer' and 'whoami@file' in d['usedBy'] and d['serverStatus']['http://127.0.0.1:8081']=='UP'" < <(j /api/http/services/whoami)
check "middleware type and usedBy" jq_py "d['type']=='stripprefix' and d['usedBy']==['whoami@file']" < <(j /api/http/middlewares/strip-whoami)
check "search and paging" sh -c "curl -s -D '$TMP/hpage' -u 'admin:$PW' '$URL/api/http/routers?per_page=2&page=1' | python3 -c 'import json,sys; assert len(json.load(sys.stdin))==2' && grep -qi '^X-Next-Page: 2' '$TMP/hpage' && curl -s -u 'admin:$PW' '$URL/api/http/routers?search=WHO' | python3 -c 'import json,sys; assert [r[\"name\"] for r in json.load(sys.stdin)]==[\"whoami@file\"]'"
check "nodes" jq_py "len(d)==6 and [n['name'] for n in d][:3]==['cn-0','cn-1','cn-2'] and all(n['healthy'] for n in d) and d[1]['leader'] and d[3]['role']=='data' and d[3]['revision']>0" < <(j /api/nodes)
check "revisions newest first with servedBy" jq_py "d[0]['current'] and d[0]['servedBy']==3 and d[0]['dataNodes']==3 and d[0]['revision']>d[1]['revision']" < <(j /api/revisions)
check "entry points" jq_py "[e['name'] for e in d]==['web','websecure'] and d[0]['address']==':8000'" < <(j /api/entrypoints)
check "version" jq_py "d['nodeId']=='cn-1' and d['Version']" < <(j /api/version)
check "405 for POST on the API" test "$(code POST /api/overview "${A[@]}")" = 405
check "400 for a malformed request" bash -c \
    "exec 3<>/dev/tcp/127.0.0.1/$PORT; printf 'GARBAGE\r\n\r\n' >&3; head -c 12 <&3 | grep -q '^HTTP/1.1 400'"
check "keep-alive: two requests, one connection" sh -c \
    "test \"\$(curl -s -o /dev/null -o /dev/null -w '%{num_connects}' -u 'admin:$PW' '$URL/api/version' '$URL/api/nodes')\" = 10"

# ---- dashboard ----
check "dashboard HTML references its script" sh -c \
    "curl -s -D '$TMP/hdash' -u 'admin:$PW' '$URL/dashboard/' | grep -q '<script src=\"app.js\"' && grep -qi '^Content-Type: text/html' '$TMP/hdash'"
check "app.js and style.css served from the binary" sh -c \
    "curl -sf -u 'admin:$PW' '$URL/dashboard/app.js' | grep -q EventSource && curl -sf -u 'admin:$PW' '$URL/dashboard/style.css' | grep -q ':root'"
check "404 for an unknown dashboard file" test "$(code GET /dashboard/nope.js "${A[@]}")" = 404
check "ETag revalidation" sh -c \
    "e=\$(curl -s -D - -o /dev/null -u 'admin:$PW' '$URL/dashboard/app.js' | sed -n 's/^ETag: //Ip' | tr -d '\r'); test -n \"\$e\" && test \"\$(curl -s -o /dev/null -w '%{http_code}' -H \"If-None-Match: \$e\" -u 'admin:$PW' '$URL/dashboard/app.js')\" = 304"

# ---- metrics: open by default, like Traefik's ----
check "/metrics without credentials" sh -c \
    "curl -sf '$URL/metrics' >'$TMP/metrics' && grep -q '^controlplane_cluster_nodes{role=\"data\",healthy=\"true\"} 3' '$TMP/metrics' && grep -q '^controlplane_router_requests_total{router=\"whoami\"}' '$TMP/metrics' && grep -q '^controlplane_test_server_ticks' '$TMP/metrics'"
"$SRV" --http-addr "127.0.0.1:$PORT2" --password "$PW" --flap-ms 0 --metrics-auth >"$TMP/server2.out" 2>"$TMP/server2.err" &
S2=$!
PIDS+=("$S2")
if wait_http "http://127.0.0.1:$PORT2/ping"; then
    check "--metrics-auth: 401 without, 200 with" sh -c \
        "test \"\$(curl -s -o /dev/null -w '%{http_code}' 'http://127.0.0.1:$PORT2/metrics')\" = 401 && test \"\$(curl -s -o /dev/null -w '%{http_code}' -u 'admin:$PW' 'http://127.0.0.1:$PORT2/metrics')\" = 200"
else
    fail "--metrics-auth server"
fi
kill -TERM "$S2"; wait "$S2"; rc=$?
check "second server exits cleanly on SIGTERM" test "$rc" = 0

# ---- login flow ----
JAR=$TMP/cookies
check "form login, wrong password: back to the form, no cookie" sh -c \
    "curl -s -D '$TMP/hbad' -o /dev/null -d 'user=admin&password=nope' '$URL/api/login' && grep -q '^HTTP/1.1 303' '$TMP/hbad' && grep -qi '^Location: /dashboard/?login=failed' '$TMP/hbad' && ! grep -qi '^Set-Cookie' '$TMP/hbad'"
check "the form shows the failure" sh -c "curl -s '$URL/dashboard/?login=failed' | grep -q '<body class=\"failed\">'"
ENC_PW=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$PW")
check "form login sets an HttpOnly session cookie" sh -c \
    "curl -s -D '$TMP/hgood' -o /dev/null -c '$JAR' -d 'user=admin&password=$ENC_PW' '$URL/api/login' && grep -q '^HTTP/1.1 303' '$TMP/hgood' && grep -qi '^Location: /dashboard/' '$TMP/hgood' && grep -i '^Set-Cookie: traefikee_session=' '$TMP/hgood' | grep -i HttpOnly | grep -qi 'SameSite=Strict'"
check "the cookie opens the API and the dashboard" sh -c \
    "test \"\$(curl -s -o /dev/null -w '%{http_code}' -b '$JAR' '$URL/api/nodes')\" = 200 && test \"\$(curl -s -o /dev/null -w '%{http_code}' -b '$JAR' '$URL/dashboard/')\" = 200"
check "a forged cookie does not" test "$(code GET /api/nodes -b 'traefikee_session=v1.9999999999.AAAA.BBBB')" = 401
check "JSON login" sh -c \
    "curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{\"user\":\"admin\",\"password\":\"$PW\"}' '$URL/api/login' | grep -q 200"
check "GET /api/login is refused" test "$(code GET /api/login)" = 405
cp "$JAR" "$TMP/old-cookies"
check "logout expires the cookie" sh -c \
    "curl -s -D '$TMP/hout' -o /dev/null -b '$JAR' -X POST '$URL/api/logout' && grep -i '^Set-Cookie: traefikee_session=;' '$TMP/hout' | grep -qi 'Max-Age=0'"
check "the old session is refused after logout" test "$(code GET /api/nodes -b "$TMP/old-cookies")" = 401

# ---- events (server-sent events) ----
curl -s -N --max-time 20 "${A[@]}" "$URL/api/events" >"$TMP/sse" &
SSE=$!
PIDS+=("$SSE")
for _ in $(seq 50); do grep -q '^event: hello' "$TMP/sse" && break; sleep 0.1; done
check "events stream starts with hello" grep -q '^event: hello' "$TMP/sse"
REV=$(j /api/revisions | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["revision"])')
NEXT=$((REV + 1))
# wait_event PATTERN MS: true if PATTERN shows up in the stream within MS
wait_event() {
    local t0 now
    t0=$(date +%s%3N)
    while :; do
        grep -q "$1" "$TMP/sse" && return 0
        now=$(date +%s%3N)
        [ $((now - t0)) -gt "$2" ] && return 1
        sleep 0.02
    done
}
kill -USR1 "$SERVER"
check "a new revision is streamed within 1 s" wait_event "\"revision\":$NEXT" 1000
check "the config event follows" wait_event "^data: {\"revision\":$NEXT}" 1000
kill -USR2 "$SERVER"
check "a node turning unhealthy is streamed within 1 s" wait_event '"node":"dn-1","healthy":false' 1000
check "the nodes event carries the new state" wait_event '"name":"dn-1","role":"data","leader":false,"healthy":false' 1000
check "samples for the charts every second" sh -c "sleep 1.2; grep -c '^event: sample' '$TMP/sse' | awk '{exit !(\$1>=1)}'"
check "the events log remembers them" jq_py "any(e['type']=='revision' and e['data']['revision']==$NEXT for e in d)" < <(j /api/events/log)
kill -USR2 "$SERVER"
kill "$SSE" 2>/dev/null; wait "$SSE" 2>/dev/null

# ---- headless browser ----
if [ ! -x /usr/bin/chromium ]; then
    echo "skip browser: /usr/bin/chromium is not installed (Debian package chromium)"
elif [ ! -d "$HERE/node_modules/playwright-core" ]; then
    echo "skip browser: playwright-core missing (npm ci in integration/dashboard)"
else
    if BASE=$URL PASSWORD=$PW SERVER_PID=$SERVER SHOT=${DASH_SHOT:-$TMP/dashboard.png} \
        node "$HERE/browser_test.js" >"$TMP/browser.log" 2>&1; then
        sed 's/^/  /' "$TMP/browser.log"
        ok "browser: login, live updates, charts, logout"
    else
        sed 's/^/  /' "$TMP/browser.log"
        fail "browser"
    fi
fi

# ---- shutdown ----
kill -TERM "$SERVER"; wait "$SERVER"; rc=$?
PIDS=("${PIDS[@]/$SERVER}")
check "server exits cleanly on SIGTERM (exit $rc)" test "$rc" = 0

echo "dashboard: $FAILS failed"
[ "$FAILS" -eq 0 ]
