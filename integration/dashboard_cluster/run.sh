#!/usr/bin/env bash
# integration/dashboard_cluster/run.sh -- the dashboard, the REST API and
# /metrics against a real local cluster (`traefikeectl install --local`:
# Redis + sentinels, 3 control nodes, DC_DATA_NODES data nodes, whoami
# backends, the sample config) in a temp dir on a free block of 100 ports:
#   * the REST API on a control node with the printed admin password:
#     /api/overview, /api/nodes (every control node, one leader, every
#     data node), /api/http/routers (the routers of DIR/config.yaml),
#     /api/http/services, /api/revisions; 401 without credentials;
#   * traffic and upstream health from the data nodes (scraped by control
#     nodes from their admin /stats): 40 requests through the entry point
#     show in the control node's router counters within seconds; a data
#     node's address is its admin address; whoami's servers UP, one killed
#     DOWN within the health check interval + scrape, UP after a restart;
#     node events say "joined" on first sight;
#   * /metrics of every control node and the admin /metrics of every data
#     node: well-formed Prometheus text (promcheck.py, self-tested first);
#   * headless Chromium (browser_test.js; "skip" only if /usr/bin/chromium
#     or playwright-core is missing): log in, every node and router in the
#     page, kill -9 a data node and see it unhealthy without a reload,
#     restart it from its recorded argv and see it healthy again; the
#     screenshots go to $TEST_ARTIFACTS/dashboard_cluster (default
#     /tmp/traefikee-artifacts/dashboard_cluster), printed at the end.
#     Without a browser the kill/restart is checked through /api/nodes.
#   * the dashboard through the data nodes: a router to api@internal
#     applied; /api/overview and /dashboard/ through a data node's entry
#     point (with the password; 401 without), the 3 control nodes healthy
#     endpoints of api@internal on a data node.
# `uninstall --local` at the end on every path: only recorded pids die.
#
#   integration/dashboard_cluster/run.sh        (~30 s)
#   DC_NO_BUILD=1 takes what bazel-bin has; DC_KEEP=1 keeps the temp dir.
#
# Prints "ok CASE" / "FAIL CASE: why" / "skip CASE: why"; exits non-zero if
# any case failed.
NAME=dashc-it
. "$(dirname "$0")/../lib.sh"
set -o pipefail
KEEP_TMP=${KEEP_TMP:-${DC_KEEP:-}}
HERE=$ROOT/integration/dashboard_cluster
NDATA=${DC_DATA_NODES:-2}
VICTIM=data-1
ART=${TEST_ARTIFACTS:-/tmp/traefikee-artifacts}/dashboard_cluster

DIR=$TMP/cluster
CJ=$DIR/cluster.json


for tool in redis-server redis-sentinel curl python3; do
    command -v "$tool" >/dev/null || { echo "FAIL setup: $tool not found"; exit 1; }
done

# ---- the metrics checker first: it must reject what it should ----
python3 "$HERE/promcheck.py" --self-test || FAILS=$((FAILS + 1))

# ---- build; copies side by side so that a restart runs the same binaries ----
[ -n "${DC_NO_BUILD:-}" ] || build //tools/traefikeectl //controlplane //dataplane //tools/whoami
BIN=${BIN:-$(bazel info bazel-bin 2>/dev/null)}
copy_bins //tools/traefikeectl //controlplane //dataplane //tools/whoami
CTL=$TMP/bin/traefikeectl

# ---- install --local on a block of 100 free ports ----
install_local "$DIR" --data-nodes "$NDATA" --timeout 45s ||
    { fail install "$(cat "$TMP/install.err" 2>/dev/null)"; exit 1; }
ok "install --local ($INSTALL_MS ms, ports $BASE..$((BASE + 99)))"

URL=$(sed -n 's|^Dashboard: *\(http://[^ ]*\)/dashboard/.*|\1|p' "$TMP/install.out")
PW=$(sed -n 's/^Password: *\([^ ]*\).*/\1/p' "$TMP/install.out")
check "install prints the dashboard URL and the password of DIR/admin-password" \
    test -n "$URL" -a -n "$PW" -a "$PW" = "$(cat "$DIR/admin-password")"
[ -n "$URL" ] || exit 1
A=(-u "admin:$PW")
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
j() { curl -sf --max-time 5 "${A[@]}" "$URL$1"; }
# jcheck NAME PATH PY-EXPR: the JSON of PATH (as d) makes PY-EXPR true;
# the extra names: cj (cluster.json), names(ROLE), routers (of config.yaml)
jcheck() {
    local name=$1 p=$2 expr=$3
    if j "$p" >"$TMP/resp.json" && python3 - "$CJ" "$ROUTERS" "$TMP/resp.json" "$expr" <<'EOF'; then ok "$name"; else fail "$name" "$(head -c 600 "$TMP/resp.json")"; fi
import json, re, sys
cj = json.load(open(sys.argv[1]))
routers = sorted(filter(None, sys.argv[2].split(',')))
d = json.load(open(sys.argv[3]))
names = lambda role: sorted(p["name"] for p in cj["processes"] if p["role"] == role)
p_web = lambda n: (n.get('httpAddress') or '').split(', ').count(next(p['addresses']['entryPoints']['web'] for p in cj['processes'] if p['name'] == n['name'])) == 1
sys.exit(0 if eval(sys.argv[4]) else 1)
EOF
}

# The routers of the sample config (DIR/config.yaml: the keys under
# http: routers:, block style, as install writes it), comma-separated.
ROUTERS=$(awk '
    /^[^ #]/ { http = ($0 ~ /^http:/); inr = 0; next }
    http && /^  [^ #]/ { inr = ($0 ~ /^  routers:/); next }
    http && inr && /^    [^ #]/ { k = $1; sub(/:.*/, "", k); print k }' "$DIR/config.yaml" | sort | paste -sd, -)
check "config.yaml has routers ($ROUTERS)" test -n "$ROUTERS"

# ---- REST API ----
for p in /api/overview /api/nodes /api/http/routers /api/http/services /api/revisions /dashboard/; do
    check "401 without credentials $p" test "$(code "$URL$p")" = 401
done
check "401 with a wrong password" test "$(code -u "admin:x$PW" "$URL/api/overview")" = 401
jcheck "/api/overview: 3 control nodes with a leader, every data node serving" /api/overview \
    "d['cluster']['controlNodes']=={'total':3,'healthy':3} and d['cluster']['leader'] in names('control') and d['cluster']['dataNodes']['total']==d['cluster']['dataNodes']['healthy']==d['cluster']['dataNodes']['serving']==len(names('data')) and d['http']['routers']['total']==len(routers)"
jcheck "/api/nodes: every control node (one leader) and every data node, healthy, revision current" /api/nodes \
    "sorted(n['name'] for n in d if n['role']=='control')==names('control') and sum(n['leader'] for n in d)==1 and sorted(n['name'] for n in d if n['role']=='data')==names('data') and all(n['healthy'] for n in d) and all(n['revision']==cj['revision'] for n in d if n['role']=='data')"
jcheck "/api/http/routers: the routers of config.yaml, enabled" /api/http/routers \
    "sorted(r['name'].split('@')[0] for r in d)==routers and all(r['status']=='enabled' and r['provider']=='file' for r in d)"
jcheck "/api/http/services: whoami over both backends, used by its router" /api/http/services \
    "any(s['name']=='whoami@file' and sorted(x['url'] for x in s['loadBalancer']['servers'])==sorted('http://'+p['addresses']['http'] for p in cj['processes'] if p['role']=='backend') and 'whoami@file' in s['usedBy'] for s in d)"
jcheck "/api/revisions: the applied revision is current, served by every data node" /api/revisions \
    "d[0]['current'] and d[0]['revision']==cj['revision'] and d[0]['servedBy']==d[0]['dataNodes']==len(names('data')) and d[0]['nackedBy']==0"
check "every control node answers the API with the same password" sh -c '
    for a in $(python3 -c "import json,sys; print(\" \".join(p[\"addresses\"][\"http\"] for p in json.load(open(sys.argv[1]))[\"processes\"] if p[\"role\"]==\"control\"))" "$1"); do
        test "$(curl -s -o /dev/null -w "%{http_code}" -u "admin:$2" "http://$a/api/nodes")" = 200 || exit 1
    done' _ "$CJ" "$PW"

# ---- /metrics: every control node, every data node's admin ----
metrics_ok() { # metrics_ok NAME URL: 200, text/plain 0.0.4, well formed
    local f=$TMP/metrics.$1
    curl -s --max-time 5 -D "$f.h" -o "$f" "$2" || { echo "  $1: no answer"; return 1; }
    grep -q '^HTTP/1.[01] 200' "$f.h" || { echo "  $1: $(head -1 "$f.h")"; return 1; }
    grep -qi '^Content-Type: text/plain; version=0.0.4' "$f.h" || { echo "  $1: $(grep -i '^Content-Type' "$f.h")"; return 1; }
    python3 "$HERE/promcheck.py" "$f" "$1" | sed 's/^/  /'
}
for n in $(CL names control); do
    check "/metrics of $n well formed" metrics_ok "$n" "http://$(CL addr "$n" http)/metrics"
done
for n in $(CL names data); do
    check "admin /metrics of $n well formed" metrics_ok "$n" "http://$(CL addr "$n" admin)/metrics"
done
check "control /metrics count the nodes" sh -c \
    "grep -qx 'controlplane_cluster_nodes{role=\"control\",healthy=\"true\"} 3' '$TMP/metrics.control-1' && grep -qx 'controlplane_cluster_nodes{role=\"data\",healthy=\"true\"} $NDATA' '$TMP/metrics.control-1' && cat $TMP/metrics.control-* | grep -c '^controlplane_node_leader 1\$' | grep -qx 1"
for n in $(CL names data); do
    check "$n /metrics say ready and connected" sh -c \
        "grep -qx 'dataplane_ready 1' '$TMP/metrics.$n' && grep -qx 'dataplane_xds_connected 1' '$TMP/metrics.$n'"
done

# ---- traffic through the entry point (for the data nodes' counters and
# the dashboard's traffic charts) ----
WEB=http://$(python3 -c 'import json,sys; print(next(p["addresses"]["entryPoints"]["web"] for p in json.load(open(sys.argv[1]))["processes"] if p["role"]=="data"))' "$CJ")
reqs_total() { # the sum of dataplane_http_requests_total over the data nodes
    local sum=0 n v
    for n in $(CL names data); do
        v=$(curl -s --max-time 5 "http://$(CL addr "$n" admin)/metrics" | sed -n 's/^dataplane_http_requests_total \([0-9]*\)$/\1/p')
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}
cp_router_reqs() { # controlplane_router_requests_total of control-1, summed
    curl -s --max-time 5 "$URL/metrics" |
        sed -n 's/^controlplane_router_requests_total{router="[^"]*"} \([0-9]*\)$/\1/p' |
        awk '{ s += $1 } END { print s + 0 }'
}
before=$(reqs_total)
cbefore=$(cp_router_reqs)
good=0
for _ in $(seq 40); do
    [ "$(code "$WEB/whoami")" = 200 ] && good=$((good + 1))
done
check "40 requests through the entry point answered 200 ($good)" test "$good" = 40
after=$(reqs_total)
check "the data nodes' /metrics counted them ($before -> $after)" test $((after - before)) -ge 40
for n in $(CL names data); do
    check "$n /metrics: per-router counters and endpoint health" sh -c \
        "curl -s --max-time 5 'http://$(CL addr "$n" admin)/metrics' | grep -q '^dataplane_router_requests_total{router=\"' &&
         curl -s --max-time 5 'http://$(CL addr "$n" admin)/metrics' | grep -q '^dataplane_endpoint_healthy{cluster=\"whoami\",address=\"[^\"]*\"} 1\$'"
done
wait_cp_reqs() { # wait_cp_reqs MIN SECONDS: prints the ms until the sum >= MIN
    local t0 end
    t0=$(now_ms); end=$((t0 + $2 * 1000))
    while [ "$(now_ms)" -lt "$end" ]; do
        [ "$(cp_router_reqs)" -ge "$1" ] && { echo $(($(now_ms) - t0)); return 0; }
        sleep 0.2
    done
    return 1
}
if ms=$(wait_cp_reqs $((cbefore + 40)) 10); then
    ok "control /metrics: the routers' requests summed over the data nodes grew by 40 within $ms ms ($cbefore -> $(cp_router_reqs))"
else
    fail "control /metrics: router requests" "$cbefore -> $(cp_router_reqs), want +40"
fi
jcheck "/api/nodes: a data node's address is its admin address, its HTTP address its entry point" /api/nodes \
    "all(n['address']==next(p['addresses']['admin'] for p in cj['processes'] if p['name']==n['name']) and p_web(n) for n in d if n['role']=='data')"
jcheck "/api/events/log: nodes seen first 'joined'; 'healthy again' only after unhealthy" /api/events/log \
    "all(e['data'].get('joined') or any(x['type']=='node' and x['data']['node']==e['data']['node'] and not x['data']['healthy'] for x in d[:i]) for i, e in enumerate(d) if e['type']=='node' and e['data']['healthy'])"

# ---- upstream health: both whoami backends UP; one killed: DOWN, back: UP ----
svc_status() { # svc_status URL: UP, DOWN or none for that whoami server
    j /api/http/services/whoami@file | python3 -c "import json,sys; print(json.load(sys.stdin).get('serverStatus', {}).get(sys.argv[1], 'none'))" "$1"
}
wait_status() { # wait_status URL WANT SECONDS: prints the ms it took
    local t0 end
    t0=$(now_ms); end=$((t0 + $3 * 1000))
    while [ "$(now_ms)" -lt "$end" ]; do
        [ "$(svc_status "$1")" = "$2" ] && { echo $(($(now_ms) - t0)); return 0; }
        sleep 0.2
    done
    return 1
}
jcheck "/api/http/services: whoami's servers both UP (data nodes' health checks)" /api/http/services/whoami@file \
    "len(d.get('serverStatus', {}))==2 and all(v=='UP' for v in d['serverStatus'].values())"
BK=$(CL names backend | sed -n 1p)
BKURL=http://$(CL addr "$BK" http)
bkpid=$(CL pid "$BK")
if [ -n "$BK" ] && kill -9 "$bkpid" 2>/dev/null; then
    # healthCheck interval 2s, threshold 1, + scrape and heartbeat (~2 s)
    if ms=$(wait_status "$BKURL" DOWN 12); then ok "backend $BK killed: $BKURL DOWN after $ms ms"; else fail "backend $BK DOWN" "$(svc_status "$BKURL")"; fi
    CL restart "$BK" >/dev/null
    if ms=$(wait_status "$BKURL" UP 12); then ok "backend $BK restarted: $BKURL UP after $ms ms"; else fail "backend $BK UP again" "$(svc_status "$BKURL")"; fi
else
    fail "kill backend" "no backend process ($BK, pid $bkpid)"
fi

# ---- the browser: nodes, routers, a data node killed and restarted ----
node_health() { # node_health NAME: prints true/false/missing from /api/nodes
    j /api/nodes | python3 -c "import json,sys; print(next((str(n['healthy']).lower() for n in json.load(sys.stdin) if n['name']==sys.argv[1]), 'missing'))" "$1"
}
wait_health() { # wait_health NAME WANT SECONDS: prints the ms it took
    local t0 end
    t0=$(now_ms); end=$((t0 + $3 * 1000))
    while [ "$(now_ms)" -lt "$end" ]; do
        [ "$(node_health "$1")" = "$2" ] && { echo $(($(now_ms) - t0)); return 0; }
        sleep 0.1
    done
    return 1
}
mkdir -p "$ART" && rm -f "$ART"/*.png
HAVE_PW=0
node -e "require(require.resolve('playwright-core', {paths: ['$HERE', '$ROOT/integration/dashboard']}))" 2>/dev/null && HAVE_PW=1
if [ -x /usr/bin/chromium ] && [ "$HAVE_PW" = 1 ]; then
    BASE=$URL PASSWORD=$PW CLUSTER_JSON=$CJ CLUSTER_PY=$ROOT/integration/ha/cluster.py \
        VICTIM=$VICTIM ROUTERS=$ROUTERS SHOTS=$ART \
        timeout 90 node "$HERE/browser_test.js" >"$TMP/browser.log" 2>&1 &
    PIDS+=("$!")
    if wait "$!"; then
        sed 's/^/  /' "$TMP/browser.log"
        ok "browser: login, every node and router, $VICTIM killed shown unhealthy, restarted shown healthy"
    else
        sed 's/^/  /' "$TMP/browser.log"
        fail browser
    fi
    PIDS=()
else
    why="/usr/bin/chromium is not installed (Debian package chromium)"
    [ -x /usr/bin/chromium ] && why="playwright-core missing (npm ci in integration/dashboard)"
    skip browser "$why"
    pid=$(CL pid "$VICTIM")
    argv0=$(python3 -c 'import json,sys; print(next(p["argv"][0] for p in json.load(open(sys.argv[1]))["processes"] if p["name"]==sys.argv[2]))' "$CJ" "$VICTIM")
    if [ "$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -1)" = "$argv0" ]; then
        kill -9 "$pid"
        if ms=$(wait_health "$VICTIM" false 15); then ok "API: kill -9 $VICTIM, unhealthy after $ms ms"; else fail "API: $VICTIM unhealthy"; fi
        CL restart "$VICTIM" >/dev/null
        if ms=$(wait_health "$VICTIM" true 20); then ok "API: $VICTIM restarted, healthy after $ms ms"; else fail "API: $VICTIM healthy again"; fi
    else
        fail "API: kill $VICTIM" "pid $pid does not run $argv0"
    fi
fi

# ---- after the restart ----
if j /api/timeseries | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if any(v is not None and v > 0 for r in d["routers"].values() for v in r["rps"]) else 1)'; then
    ok "/api/timeseries has the traffic of the routers"
else
    fail "traffic charts" "/api/timeseries has no router traffic after 40 requests"
fi
jcheck "/api/nodes: everything healthy again, $VICTIM on the current revision" /api/nodes \
    "all(n['healthy'] for n in d) and len(d)==len(names('control'))+len(names('data')) and all(n['revision']==cj['revision'] for n in d if n['role']=='data')"
check "$VICTIM /ready after the restart" curl -sf -o /dev/null --max-time 5 "http://$(CL addr "$VICTIM" admin)/ready"
check "admin /metrics of the restarted $VICTIM well formed" metrics_ok "$VICTIM-restarted" "http://$(CL addr "$VICTIM" admin)/metrics"
check "cluster.json records the restarted $VICTIM" sh -c \
    "test \"\$(tr '\\0' '\\n' </proc/$(CL pid "$VICTIM")/cmdline | head -1)\" = \"$TMP/bin/dataplane\""

# ---- the dashboard through the data nodes: a router to api@internal ----
# (last: it applies a new revision)
awk '{ print } /^  routers:$/ && !done {
    print "    dashboard:"
    print "      rule: \"PathPrefix(`/dashboard`) || PathPrefix(`/api`)\""
    print "      service: api@internal"
    done = 1 }' "$DIR/config.yaml" >"$TMP/config-dashboard.yaml"
CONTROL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["control"])' "$CJ")
if "$CTL" apply -f "$TMP/config-dashboard.yaml" --control "$CONTROL" >"$TMP/apply.out" 2>&1; then
    ok "apply a router dashboard -> api@internal"
else
    fail "apply a router dashboard -> api@internal" "$(cat "$TMP/apply.out")"
fi
wait_code() { # wait_code WANT SECONDS CURL-ARGS...: prints the ms it took
    local want=$1 t0 end
    t0=$(now_ms); end=$((t0 + $2 * 1000)); shift 2
    while [ "$(now_ms)" -lt "$end" ]; do
        [ "$(code "$@")" = "$want" ] && { echo $(($(now_ms) - t0)); return 0; }
        sleep 0.2
    done
    return 1
}
if ms=$(wait_code 200 15 "${A[@]}" "$WEB/api/overview"); then
    ok "GET $WEB/api/overview through a data node: 200 after $ms ms"
else
    fail "GET /api/overview through a data node" "$(code "${A[@]}" "$WEB/api/overview")"
fi
check "/api/overview through the data node is the cluster's JSON" sh -c \
    "curl -sf --max-time 5 -u 'admin:$PW' '$WEB/api/overview' | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d[\"cluster\"][\"controlNodes\"][\"total\"]==3 else 1)'"
check "401 through the data node without credentials" test "$(code "$WEB/api/overview")" = 401
check "/dashboard/ through the data node is the HTML page" sh -c \
    "curl -sf --max-time 5 -u 'admin:$PW' -D '$TMP/dash.h' '$WEB/dashboard/' | grep -qi '<html' && grep -qi '^Content-Type: text/html' '$TMP/dash.h'"
DN1=$(CL names data | sed -n 1p)
api_eps() { # the api@internal endpoints healthy on data node $DN1
    curl -s --max-time 5 "http://$(CL addr "$DN1" admin)/metrics" | grep -c '^dataplane_endpoint_healthy{cluster="api@internal",address="[^"]*"} 1$'
}
t0=$(now_ms)
while [ "$(api_eps)" != 3 ] && [ $(($(now_ms) - t0)) -lt 10000 ]; do sleep 0.2; done
if [ "$(api_eps)" = 3 ]; then
    ok "$DN1: api@internal has the 3 control nodes' HTTP addresses, healthy"
else
    fail "$DN1: api@internal endpoints" "$(curl -s --max-time 5 "http://$(CL addr "$DN1" admin)/metrics" | grep 'api@internal' | head -5)"
fi

echo "dashboard_cluster: $FAILS failed"
if ls "$ART"/*.png >/dev/null 2>&1; then
    echo "screenshots in $ART:"
    ls "$ART"/*.png | sed 's/^/  /'
fi
[ "$FAILS" -eq 0 ]
