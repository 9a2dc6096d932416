#!/usr/bin/env bash
# integration/controlplane/run.sh -- the control plane as a product, with
# real processes: a Redis master, two replicas and three sentinels, three
# control nodes on --sentinels, traefikeectl, a Python ADS client standing
# in for a data node, and the embedded single-node mode; the dashboard and
# REST API (--http-addr) of every control node: the admin password printed
# once, Basic and cookie auth, cluster-wide nodes/routers/revisions, SSE,
# reset-password, /metrics. Prints "ok CASE" /
# "FAIL CASE" per case and timings, exits non-zero on any failure. Every
# process gets free loopback ports and this run's temp dir; only pids
# started here are killed.
NAME=cp-it
. "$(dirname "$0")/../lib.sh"
set -o pipefail
KILL_SIG=KILL
KEEP_TMP=${KEEP_TMP:-${IT_KEEP_TMP:-}}

# IT_BAZEL_FLAGS=--config=asan runs the same cases on sanitized binaries.
read -ra BAZEL_FLAGS <<<"${IT_BAZEL_FLAGS:-}"
build //controlplane //tools/traefikeectl
CP="$BIN/controlplane/controlplane"
CTL="$BIN/tools/traefikeectl/traefikeectl"
XDS="$PWD/integration/controlplane/xds_client.py"

# ---- Redis: master, two replicas, three sentinels ----

rm_port=$(freeport); r1_port=$(freeport); r2_port=$(freeport)
start_redis master "$rm_port"
pid_master=$LAST_PID
start_redis replica1 "$r1_port" "$rm_port"
start_redis replica2 "$r2_port" "$rm_port"
start_sentinels mymaster "$rm_port"
sentinels=$SENTINELS
s_ports=("${SENTINEL_PORTS[@]}")

sentinels_settled() {
  for p in "${s_ports[@]}"; do
    local info
    info=$(redis-cli -p "$p" sentinel master mymaster 2>/dev/null) || return 1
    echo "$info" | grep -A1 -x num-slaves | tail -1 | grep -qx 2 || return 1
    echo "$info" | grep -A1 -x num-other-sentinels | tail -1 | grep -qx 2 ||
      return 1
  done
}
if wait_for 30 sentinels_settled; then ok redis-sentinel-cluster; else
  fail redis-sentinel-cluster "sentinels did not settle"; exit 1; fi

# ---- three control nodes ----

declare -A cp_port cp_pid cp_http
start_cp() { # name
  local p=${cp_port[$1]:-$(freeport)}
  cp_port[$1]=$p
  cp_http[$1]=${cp_http[$1]:-$(freeport)}
  "$CP" --node-id "$1" --grpc-addr "127.0.0.1:$p" --http-addr "127.0.0.1:${cp_http[$1]}" \
    --sentinels "$sentinels" --master-name mymaster --wait-timeout 2s \
    --data-dir "$TMP/data-$1" --log-level info >>"$TMP/$1.log" 2>&1 &
  cp_pid[$1]=$!
  PIDS+=($!)
}
for n in cp-1 cp-2 cp-3; do start_cp "$n"; done
all="127.0.0.1:${cp_port[cp-1]},127.0.0.1:${cp_port[cp-2]},127.0.0.1:${cp_port[cp-3]}"
export TRAEFIKEE_CONTROL="$all"
ctl() { "$CTL" "$@"; }
ctl_at() { local n=$1; shift; "$CTL" --control "127.0.0.1:${cp_port[$n]}" "$@"; }

# nodes_json: list-nodes -o json on every node answering
leader_of() { # prints the leader name seen through $1 (or fails)
  ctl_at "$1" list-nodes -o json 2>/dev/null | $PY -c '
import json, sys
n = json.load(sys.stdin)
c = [x for x in n if x["role"] == "control"]
l = [x["name"] for x in c if x["leader"]]
sys.exit(1) if len(l) != 1 else print(l[0])'
}
three_one_leader() {
  ctl list-nodes -o json 2>/dev/null | $PY -c '
import json, sys
n = json.load(sys.stdin)
c = [x for x in n if x["role"] == "control" and x["healthy"]]
sys.exit(0 if len(c) == 3 and sum(x["leader"] for x in c) == 1 else 1)'
}
if wait_for 20 three_one_leader; then
  ok list-nodes-three-control-one-leader
  ctl list-nodes
else
  fail list-nodes-three-control-one-leader "$(ctl list-nodes 2>&1)"
fi
table=$(ctl list-nodes)
if echo "$table" | grep -q '^Name  *Role' &&
   [ "$(echo "$table" | grep -c 'CONTROL NODE (Current Leader)')" = 1 ] &&
   [ "$(echo "$table" | grep -c 'CONTROL NODE')" = 3 ]; then
  ok list-nodes-table
else fail list-nodes-table "$table"; fi

leader=$(leader_of cp-1)
followers=()
for n in cp-1 cp-2 cp-3; do [ "$n" != "$leader" ] && followers+=("$n"); done
f1=${followers[0]}; f2=${followers[1]}
echo "leader $leader, followers $f1 $f2"

# ---- dashboard / REST API: the admin password, auth on every node ----
# http_code NODE PATH [curl args...]
http_code() {
  local n=$1 p=$2; shift 2
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "http://127.0.0.1:${cp_http[$n]}$p"
}
api() { # NODE PATH [curl args...]: the body, with the admin password
  local n=$1 p=$2; shift 2
  curl -sf --max-time 5 -u "admin:$PW" "$@" "http://127.0.0.1:${cp_http[$n]}$p"
}
pw_lines() { cat "$TMP"/cp-*.log | grep -c '^admin password: '; }
wait_for 5 grep -q '^admin password: ' "$TMP/$leader.log"
PW=$(sed -n 's/^admin password: \([^ ]*\) (printed once; reset with traefikeectl reset-password)$/\1/p' "$TMP/$leader.log" | head -1)
pw_file="$TMP/data-$leader/admin-password"
if [ -n "$PW" ] && [ "$(pw_lines)" = 1 ] && [ "$(cat "$pw_file" 2>/dev/null)" = "$PW" ] &&
   [ "$(stat -c %a "$pw_file")" = 600 ]; then
  ok admin-password-printed-once-by-leader-and-file-0600
else fail admin-password-printed-once-by-leader-and-file-0600 "pw='$PW' lines=$(pw_lines) $(ls -l "$pw_file" 2>&1)"; fi
codes=""
for n in cp-1 cp-2 cp-3; do
  codes+="$n:$(http_code "$n" /api/overview -u "admin:$PW")/$(http_code "$n" /api/overview)/$(http_code "$n" /api/overview -u admin:wrong-password) "
done
if [ "$codes" = "cp-1:200/401/401 cp-2:200/401/401 cp-3:200/401/401 " ]; then
  ok api-overview-200-with-password-401-without-every-node
else fail api-overview-200-with-password-401-without-every-node "$codes"; fi
nodes_ok() { # NODE [data node]: 3 healthy control nodes, one leader [, the data node at rev 1]
  api "$1" /api/nodes | $PY -c '
import json, sys
d = json.load(sys.stdin)
c = [x for x in d if x["role"] == "control" and x["healthy"]]
ok = len(c) == 3 and sum(x["leader"] for x in c) == 1 and all(x["httpAddress"] for x in c)
if len(sys.argv) > 1:
    ok = ok and any(x["role"] == "data" and x["name"] == sys.argv[1] and x["healthy"]
                    and x["revision"] == 1 for x in d)
sys.exit(0 if ok else 1)' ${2:+"$2"}
}
# f1's event stream, read after the failovers
curl -s -N --max-time 300 -u "admin:$PW" "http://127.0.0.1:${cp_http[$f1]}/api/events" >"$TMP/sse-f1.out" &
sse_f1=$!
PIDS+=($sse_f1)
# the HTTP view lists heartbeats each second: give it one round
if wait_for 3 nodes_ok cp-1 && wait_for 3 nodes_ok cp-2 && wait_for 3 nodes_ok cp-3; then
  ok api-nodes-three-control-one-leader
else
  fail api-nodes-three-control-one-leader "$(api "$f1" /api/nodes)"; fi

# ---- events stream (kept running through the failovers) ----
"$CTL" --control "127.0.0.1:${cp_port[$f2]}" events -o json >"$TMP/events.out" 2>"$TMP/events.err" &
ev_pid=$!
PIDS+=($ev_pid)
sleep 0.5

# ---- apply through a follower ----
cat >"$TMP/cfg1.yaml" <<'EOC'
entryPoints:
  web: {address: "127.0.0.1:18000"}
http:
  routers:
    whoami:
      rule: "Host(`whoami.localhost`) && PathPrefix(`/whoami`)"
      service: whoami
      middlewares: [strip-whoami]
  services:
    whoami:
      loadBalancer:
        servers:
          - url: "http://127.0.0.1:8081"
  middlewares:
    strip-whoami:
      stripPrefix: {prefixes: [/whoami]}
EOC
out=$(ctl_at "$f1" apply -f "$TMP/cfg1.yaml" 2>&1)
if [ $? -eq 0 ] && echo "$out" | grep -q "revision 1 (leader $leader)"; then
  ok apply-through-follower-forwarded
else fail apply-through-follower-forwarded "$out"; fi

has_router() { # node name
  ctl_at "$1" get routers -o json | $PY -c "import json,sys; sys.exit(0 if '$2' in json.load(sys.stdin) else 1)"
}
if wait_for 5 has_router "$f2" whoami; then ok get-routers-json-other-node; else
  fail get-routers-json-other-node "$(ctl_at "$f2" get routers -o json 2>&1)"; fi
out=$(ctl_at "$f2" get services whoami -o yaml 2>&1)
if echo "$out" | grep -q 'url: http://127.0.0.1:8081'; then ok get-service-yaml; else
  fail get-service-yaml "$out"; fi

# ---- xDS: a data node gets the translated config from any control node ----
(sleep 60 | $PY "$XDS" "127.0.0.1:${cp_port[$f2]}" it-data-1 60 >"$TMP/xds.out" 2>&1) &
xds_pid=$!
PIDS+=($xds_pid)
got_cds() { grep -q '^cds version=1 names=whoami$' "$TMP/xds.out"; }
got_lds() { grep -q '^lds version=1 names=.*web' "$TMP/xds.out"; }
if wait_for 10 got_cds && wait_for 5 got_lds; then ok xds-client-receives-revision; else
  fail xds-client-receives-revision "$(cat "$TMP/xds.out")"; fi
data_node_listed() {
  ctl_at "$1" list-nodes | grep -E '^it-data-1 +DATA NODE +healthy .* 1$'
}
if wait_for 6 data_node_listed "$f1"; then ok list-nodes-shows-data-node; else
  fail list-nodes-shows-data-node "$(ctl_at "$f1" list-nodes 2>&1)"; fi
# the data node streams from f2; f1 and the leader show it from the store
if wait_for 6 nodes_ok "$f1" it-data-1 && wait_for 6 nodes_ok "$leader" it-data-1; then
  ok api-nodes-shows-xds-client-as-data-node
else fail api-nodes-shows-xds-client-as-data-node "$(api "$f1" /api/nodes)"; fi
routers_ok() {
  api "$1" /api/http/routers | $PY -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if [(r["name"], r["service"], r["status"]) for r in d] == [("whoami@file", "whoami", "enabled")] else 1)'
}
if routers_ok cp-1 && routers_ok cp-2 && routers_ok cp-3; then ok api-http-routers-after-apply; else
  fail api-http-routers-after-apply "$(api "$f1" /api/http/routers)"; fi
revisions_ok() {
  api "$f2" /api/revisions | $PY -c '
import json, sys
d = json.load(sys.stdin)
r = d[0]
sys.exit(0 if len(d) == 1 and r["revision"] == 1 and r["current"] and r["source"] == "apply"
         and "+router whoami" in r["summary"] and r["time"] else 1)'
}
# the metadata is written after the revision: give the view a round
if wait_for 3 revisions_ok; then ok api-revisions; else
  fail api-revisions "$(api "$f2" /api/revisions)"; fi

current_rev() { ctl history -o json | $PY -c 'import json,sys; h=json.load(sys.stdin); print(h[0]["revision"] if h else 0)'; }

# ---- invalid config: clear error, nothing stored ----
cat >"$TMP/bad.yaml" <<'EOC'
http:
  routers:
    broken: {rule: "Host(`x`)", service: missing}
EOC
out=$(ctl apply -f "$TMP/bad.yaml" 2>&1); rc=$?
if [ $rc -ne 0 ] && [ "$(echo "$out" | wc -l)" = 1 ] &&
   echo "$out" | grep -q 'bad.yaml: http.routers.broken.service: line 3, column' &&
   [ "$(current_rev)" = 1 ]; then
  ok apply-invalid-rejected-with-path-line
else fail apply-invalid-rejected-with-path-line "rc=$rc $out"; fi
out=$(ctl apply -f "$TMP/nonexistent.yaml" 2>&1); rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q 'cannot read'; then ok apply-missing-file; else
  fail apply-missing-file "$out"; fi
out=$(ctl get widgets 2>&1); rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q 'unknown resource kind "widgets"'; then
  ok get-unknown-kind; else fail get-unknown-kind "$out"; fi
out=$(ctl get routers nosuch 2>&1); rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q 'not found'; then ok get-not-found; else
  fail get-not-found "$out"; fi

# ---- dry run: diff, nothing stored ----
cat >"$TMP/cfg2.yaml" <<'EOC'
entryPoints:
  web: {address: "127.0.0.1:18000"}
http:
  routers:
    whoami:
      rule: "Host(`whoami.localhost`) && PathPrefix(`/whoami`)"
      service: whoami
      middlewares: [strip-whoami]
  services:
    whoami:
      loadBalancer:
        servers:
          - url: "http://127.0.0.1:8082"
    api:
      loadBalancer:
        servers:
          - url: "http://127.0.0.1:9000"
  middlewares:
    strip-whoami:
      stripPrefix: {prefixes: [/whoami]}
EOC
out=$(ctl apply --dry-run -f "$TMP/cfg2.yaml" 2>&1); rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q 'services: +api ~whoami' &&
   [ "$(current_rev)" = 1 ]; then
  ok dry-run-diff-stores-nothing
else fail dry-run-diff-stores-nothing "rc=$rc $out"; fi

# ---- delete (refused while referenced), history, rollback ----
out=$(ctl delete service whoami 2>&1); rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q 'still used by router "whoami"'; then
  ok delete-referenced-refused; else fail delete-referenced-refused "$out"; fi
out=$(ctl_at "$f2" delete router whoami 2>&1); rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q 'revision 2' &&
   ! wait_for 3 has_router "$f1" whoami; then
  ok delete-router
else fail delete-router "$out"; fi
out=$(ctl history 2>&1)
if echo "$out" | grep -q '^2 (current) .*delete router whoami' &&
   echo "$out" | grep -q "^1 .* $leader *apply"; then
  ok history
  echo "$out"
else fail history "$out"; fi
out=$(ctl rollback 1 2>&1); rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q 'new revision 3' &&
   wait_for 5 has_router "$f1" whoami; then
  ok rollback
else fail rollback "$out"; fi
# clusters are unchanged by the delete: only listeners are pushed again
if wait_for 5 grep -q '^lds version=3 names=.*whoami' "$TMP/xds.out"; then ok xds-follows-revisions; else
  fail xds-follows-revisions "$(tail -3 "$TMP/xds.out")"; fi

# ---- leader failover: kill -9 the leader ----
t0=$(now_ms)
kill -9 "${cp_pid[$leader]}"; wait "${cp_pid[$leader]}" 2>/dev/null
new_leader=""
new_leader_elected() {
  local l
  l=$(leader_of "$f1") || return 1
  [ "$l" != "$leader" ] && new_leader=$l
}
if wait_for 15 new_leader_elected; then
  t1=$(now_ms)
  new_leader=$(leader_of "$f1")
  echo "timing leader-failover-ms $((t1 - t0)) (new leader $new_leader)"
  ok leader-failover
else fail leader-failover "$(ctl_at "$f1" list-nodes 2>&1)"; fi
out=$(ctl apply -f "$TMP/cfg2.yaml" 2>&1); rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q "revision 4 (leader $new_leader)" &&
   wait_for 5 grep -q '^cds version=4 names=api,whoami$' "$TMP/xds.out"; then
  ok apply-after-leader-failover; else
  fail apply-after-leader-failover "$out"; fi
t2=$(now_ms)
echo "timing kill-to-successful-apply-ms $((t2 - t0))"
start_cp "$leader" # the old leader comes back as a follower
back() { ctl_at "$leader" list-nodes 2>/dev/null | grep -q "^$leader .*CONTROL NODE  "; }
if wait_for 10 back; then ok old-leader-rejoins-as-follower; else
  fail old-leader-rejoins-as-follower "$(ctl list-nodes 2>&1)"; fi

# ---- Redis failover: kill -9 the master ----
t0=$(now_ms)
kill -9 "$pid_master"; wait "$pid_master" 2>/dev/null
applied=""
try_apply() { ctl apply -f "$TMP/cfg1.yaml" >"$TMP/apply.out" 2>&1; }
if wait_for 30 try_apply; then
  t1=$(now_ms)
  echo "timing redis-failover-to-successful-apply-ms $((t1 - t0))"
  ok apply-after-redis-failover
  cat "$TMP/apply.out" | head -1
else fail apply-after-redis-failover "$(cat "$TMP/apply.out")"; fi
if wait_for 10 has_router "$f2" whoami && wait_for 10 grep -q '^cds version=5 names=whoami$' "$TMP/xds.out"; then
  ok reads-and-xds-after-redis-failover
else fail reads-and-xds-after-redis-failover "$(tail -2 "$TMP/xds.out")"; fi
# Writes below need a settled Redis: on a loaded machine a sentinel can
# start a second, spurious failover a second after the first promotion
# (seen in CI), and writes fail meanwhile (as they should, with a clear
# error). Settled: every sentinel names the same master and none is
# failing over or sees it down, twice one second apart.
redis_settled() {
  local m="" a p flags
  for p in "${s_ports[@]}"; do
    a=$(redis-cli -p "$p" sentinel get-master-addr-by-name mymaster 2>/dev/null | paste -sd:)
    [ -n "$a" ] && [ "${m:=$a}" = "$a" ] || return 1
    flags=$(redis-cli -p "$p" sentinel master mymaster 2>/dev/null | grep -A1 -x flags | tail -1)
    [ -n "$flags" ] && ! echo "$flags" | grep -qE 'failover|s_down|o_down' || return 1
  done
}
redis_stable() { redis_settled && sleep 1 && redis_settled; }
if wait_for 30 redis_stable; then ok redis-settled-after-failover; else
  fail redis-settled-after-failover "sentinels still failing over after 30 s"; fi

# ---- events seen along the way ----
kill -INT "$ev_pid" 2>/dev/null
wait "$ev_pid"; ev_rc=$?
ev_has() { grep -q "\"kind\": *\"$1\"" "$TMP/events.out"; }
if [ $ev_rc -eq 0 ] && ev_has revision_applied && ev_has leader_changed &&
   ev_has node_left && ev_has node_joined; then
  ok events-stream
else fail events-stream "rc=$ev_rc $(head -c 600 "$TMP/events.out") $(cat "$TMP/events.err")"; fi

# ---- dashboard after the failovers: SSE, sessions, reset-password, metrics ----
if [ "$(pw_lines)" = 1 ] && [ "$(http_code "$f1" /api/overview -u "admin:$PW")" = 200 ]; then
  ok admin-password-survives-leader-and-redis-failover
else fail admin-password-survives-leader-and-redis-failover "lines=$(pw_lines)"; fi
# sse_has FILE TYPE REV: the stream in FILE has an event TYPE whose data
# has "revision": REV
sse_has() {
  $PY - "$@" <<'EOPY'
import json, sys
path, typ, rev = sys.argv[1], sys.argv[2], int(sys.argv[3])
ev = None
for line in open(path):
    line = line.rstrip("\n")
    if line.startswith("event: "):
        ev = line[7:]
    elif line.startswith("data: ") and ev == typ:
        try:
            if json.loads(line[6:]).get("revision") == rev:
                sys.exit(0)
        except ValueError:
            pass
sys.exit(1)
EOPY
}
# right after the failovers above a leader may not be elected yet: an empty
# name would end the script on ${cp_http[""]}
l_now=""
for _ in $(seq 50); do l_now=$(leader_of "$f1") && [ -n "$l_now" ] && break; sleep 0.2; done
[ -n "$l_now" ] || { fail sse-setup "no leader seen through $f1 in 10 s"; exit 1; }
sse_node=$f2; [ "$sse_node" = "$l_now" ] && sse_node=$f1
apply_node=$l_now # the write happens on another control node than the stream
curl -s -N --max-time 30 -u "admin:$PW" "http://127.0.0.1:${cp_http[$sse_node]}/api/events" >"$TMP/sse.out" &
sse_pid=$!
PIDS+=($sse_pid)
wait_for 5 grep -q '^event: hello' "$TMP/sse.out"
rev_before=$(current_rev)
next=$((rev_before + 1))
cat >"$TMP/cfg3.yaml" <<'EOC'
entryPoints:
  web: {address: "127.0.0.1:18000"}
http:
  routers:
    whoami:
      rule: "Host(`whoami.localhost`)"
      service: whoami
    echo:
      rule: "PathPrefix(`/echo`)"
      service: whoami
  services:
    whoami:
      loadBalancer:
        servers:
          - url: "http://127.0.0.1:8081"
EOC
t0=$(now_ms)
ctl_at "$apply_node" apply -f "$TMP/cfg3.yaml" >/dev/null 2>&1
sse_rev() { sse_has "$TMP/sse.out" revision "$next"; }
if wait_for 3 sse_rev; then
  t1=$(now_ms)
  echo "timing apply-to-sse-revision-event-ms $((t1 - t0)) (applied on $apply_node, streamed by $sse_node)"
  if [ $((t1 - t0)) -le 1000 ]; then ok sse-revision-event-within-1s-from-other-node; else
    fail sse-revision-event-within-1s-from-other-node "$((t1 - t0)) ms"; fi
else fail sse-revision-event-within-1s-from-other-node "$(tail -c 600 "$TMP/sse.out")"; fi
routers_two() {
  api "$1" /api/http/routers | $PY -c '
import json, sys
sys.exit(0 if sorted(r["name"] for r in json.load(sys.stdin)) == ["echo@file", "whoami@file"] else 1)'
}
if wait_for 3 routers_two cp-1 && wait_for 3 routers_two cp-2 && wait_for 3 routers_two cp-3; then
  ok api-http-routers-follow-apply-every-node
else fail api-http-routers-follow-apply-every-node "$(api "$f1" /api/http/routers)"; fi
kill "$sse_pid" 2>/dev/null; wait "$sse_pid" 2>/dev/null

# a session cookie from one node opens every node (stateless, signed)
jar="$TMP/cookies"
curl -s -o /dev/null -c "$jar" -d "user=admin&password=$PW" "http://127.0.0.1:${cp_http[$f1]}/api/login"
cookie_codes() { for n in cp-1 cp-2 cp-3; do printf '%s ' "$(http_code "$n" /api/nodes -b "$jar")"; done; }
if [ "$(cookie_codes)" = "200 200 200 " ]; then ok session-cookie-valid-on-every-node; else
  fail session-cookie-valid-on-every-node "$(cookie_codes)"; fi

# a write so soon after the failovers may be refused as retryable
for _ in $(seq 20); do
  out=$(ctl_at "$f2" reset-password 2>&1); rc=$?
  [ $rc -ne 0 ] && grep -q -e 'failover is under way' -e 'no leader' <<<"$out" || break
  sleep 0.5
done
NEW=$(echo "$out" | sed -n 's/^admin password: \([^ ]*\) (printed once.*/\1/p')
if [ $rc -eq 0 ] && [ -n "$NEW" ] && [ "$NEW" != "$PW" ]; then ok reset-password-prints-new; else
  fail reset-password-prints-new "rc=$rc $out"; fi
reset_seen() {
  for n in cp-1 cp-2 cp-3; do
    [ "$(http_code "$n" /api/overview -u "admin:$PW")" = 401 ] || return 1
    [ "$(http_code "$n" /api/overview -u "admin:$NEW")" = 200 ] || return 1
  done
}
t0=$(now_ms)
if wait_for 5 reset_seen; then
  echo "timing reset-password-everywhere-ms $(($(now_ms) - t0))"
  ok reset-password-old-401-new-200-every-node
else fail reset-password-old-401-new-200-every-node "$(for n in cp-1 cp-2 cp-3; do echo "$n old=$(http_code "$n" /api/overview -u "admin:$PW") new=$(http_code "$n" /api/overview -u "admin:$NEW")"; done)"; fi
if [ "$(cookie_codes)" = "401 401 401 " ]; then ok reset-password-ends-sessions; else
  fail reset-password-ends-sessions "$(cookie_codes)"; fi
if wait_for 5 eval "[ ! -e '$pw_file' ]"; then ok reset-password-removes-stale-password-file; else
  fail reset-password-removes-stale-password-file "$(ls -l "$pw_file")"; fi
out=$(ctl reset-password --password short 2>&1); rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q 'must have 8 to' &&
   [ "$(http_code "$f1" /api/overview -u "admin:$NEW")" = 200 ]; then
  ok reset-password-refuses-short
else fail reset-password-refuses-short "rc=$rc $out"; fi
out=$(echo "chosen-$RANDOM-password" | tee "$TMP/chosen" | ctl reset-password --password - 2>&1); rc=$?
chosen=$(cat "$TMP/chosen")
chosen_ok() { [ "$(http_code "$f2" /api/overview -u "admin:$chosen")" = 200 ]; }
if [ $rc -eq 0 ] && echo "$out" | grep -q "^admin password: $chosen " && wait_for 5 chosen_ok; then
  ok reset-password-from-stdin
else fail reset-password-from-stdin "rc=$rc $out"; fi
PW=$chosen

metrics_ok() {
  curl -sf --max-time 5 "http://127.0.0.1:${cp_http[$1]}/metrics" >"$TMP/metrics.$1" &&
    grep -q '^controlplane_cluster_nodes{role="control",healthy="true"} 3$' "$TMP/metrics.$1" &&
    grep -q "^controlplane_cluster_leader{node=\"$l_now\"} 1$" "$TMP/metrics.$1" &&
    grep -q "^controlplane_config_revision $next\$" "$TMP/metrics.$1" &&
    grep -q '^controlplane_store_connected 1$' "$TMP/metrics.$1" &&
    grep -q "^controlplane_node_leader $([ "$1" = "$l_now" ] && echo 1 || echo 0)\$" "$TMP/metrics.$1"
}
if metrics_ok cp-1 && metrics_ok cp-2 && metrics_ok cp-3; then ok metrics-open-every-node; else
  fail metrics-open-every-node "$(grep -E '^controlplane_(cluster|config|store|node)' "$TMP/metrics.cp-1" | head -12)"; fi
if [ "$(http_code "$f1" /dashboard/ -u "admin:$PW")" = 200 ] && [ "$(http_code "$f1" /ping)" = 200 ]; then
  ok dashboard-and-ping; else fail dashboard-and-ping; fi

# f1's event stream saw it all: the killed leader turn unhealthy and come
# back, the new leader, the data node's ACKs, the revisions
kill "$sse_f1" 2>/dev/null; wait "$sse_f1" 2>/dev/null; sse_f1_rc=$?
if $PY - "$TMP/sse-f1.out" "$leader" "$new_leader" <<'EOPY'
import json, sys
path, old, new = sys.argv[1:4]
evs, ev = [], None
for line in open(path):
    line = line.rstrip("\n")
    if line.startswith("event: "):
        ev = line[7:]
    elif line.startswith("data: ") and ev:
        evs.append((ev, json.loads(line[6:])))
has = lambda t, f: any(e == t and f(d) for e, d in evs)
want = {
    "old leader unhealthy": has("node", lambda x: x["node"] == old and not x["healthy"]),
    "old leader back": has("node", lambda x: x["node"] == old and x["healthy"]),
    "new leader": has("leader", lambda x: x["node"] == new),
    "data node ack": has("ack", lambda x: x["node"] == "it-data-1" and x["revision"] >= 3),
    "revision 5": has("revision", lambda x: x["revision"] == 5),
}
missing = [k for k, v in want.items() if not v]
print("missing: " + ", ".join(missing)) if missing else None
sys.exit(1 if missing else 0)
EOPY
then ok sse-node-leader-ack-revision-events
else fail sse-node-leader-ack-revision-events "$(grep -c '^event:' "$TMP/sse-f1.out") events, curl rc $sse_f1_rc"; fi

# ---- unreachable cluster ----
dead=$(freeport)
out=$("$CTL" --control "127.0.0.1:$dead" list-nodes 2>&1); rc=$?
if [ $rc -ne 0 ] && [ "$out" = "traefikeectl: no control node reachable at 127.0.0.1:$dead (connection refused)" ]; then
  ok unreachable-cluster-message
else fail unreachable-cluster-message "$out"; fi
out=$("$CTL" --control "127.0.0.1:$dead,127.0.0.1:${cp_port[$f1]}" get routers 2>&1); rc=$?
if [ $rc -eq 0 ]; then ok client-fails-over-to-next-control; else
  fail client-fails-over-to-next-control "$out"; fi

# ---- embedded mode: one node, its own redis ----
ep=$(freeport)
eh=$(freeport)
"$CP" --node-id solo --grpc-addr "127.0.0.1:$ep" --http-addr "127.0.0.1:$eh" \
  --data-dir "$TMP/solo" >"$TMP/solo.out" 2>"$TMP/solo.log" &
solo=$!
PIDS+=($solo)
solo_up() { "$CTL" --control "127.0.0.1:$ep" list-nodes | grep -q 'solo .*Current Leader'; }
if wait_for 10 solo_up &&
   "$CTL" --control "127.0.0.1:$ep" apply -f "$TMP/cfg1.yaml" >/dev/null &&
   "$CTL" --control "127.0.0.1:$ep" get routers | grep -q '^whoami '; then
  ok embedded-apply-get
else fail embedded-apply-get "$(tail -5 "$TMP/solo.log")"; fi
solo_pw=$(sed -n 's/^admin password: \([^ ]*\) .*/\1/p' "$TMP/solo.out")
if [ -n "$solo_pw" ] && [ "$(cat "$TMP/solo/admin-password")" = "$solo_pw" ] &&
   [ "$(curl -s -o /dev/null -w '%{http_code}' -u "admin:$solo_pw" "http://127.0.0.1:$eh/api/http/routers")" = 200 ]; then
  ok embedded-prints-password-on-stdout-serves-dashboard
else fail embedded-prints-password-on-stdout-serves-dashboard "$(cat "$TMP/solo.out")"; fi
rpid=$(cat "$TMP/solo/redis.pid" 2>/dev/null)
kill -9 "$solo"; wait "$solo" 2>/dev/null
redis_gone() { ! kill -0 "$rpid" 2>/dev/null; }
if [ -n "$rpid" ] && wait_for 5 redis_gone; then ok embedded-redis-dies-with-node; else
  fail embedded-redis-dies-with-node "redis pid ${rpid:-?} still alive"; kill -9 "$rpid" 2>/dev/null; fi

# ---- file provider: applied at start, re-applied when replaced ----
fp=$(freeport)
cp "$TMP/cfg1.yaml" "$TMP/provided.yaml"
"$CP" --node-id filenode --grpc-addr "127.0.0.1:$fp" --data-dir "$TMP/fnode" \
  --http-addr "127.0.0.1:$(freeport)" \
  --config "$TMP/provided.yaml" >"$TMP/fnode.log" 2>&1 &
fnode=$!
PIDS+=($fnode)
fctl() { "$CTL" --control "127.0.0.1:$fp" "$@"; }
rev_is() { fctl history -o json | grep -q "\"revision\": $1,"; }
if wait_for 10 rev_is 1 && fctl get routers -o json | grep -q whoami; then
  ok file-provider-applies-at-start; else
  fail file-provider-applies-at-start "$(tail -5 "$TMP/fnode.log")"; fi
cp "$TMP/cfg2.yaml" "$TMP/provided.yaml.new"
mv "$TMP/provided.yaml.new" "$TMP/provided.yaml" # as editors do
if wait_for 10 rev_is 2 && fctl get services api -o json >/dev/null; then
  ok file-provider-reapplies-on-change; else
  fail file-provider-reapplies-on-change "$(tail -5 "$TMP/fnode.log")"; fi
echo "broken: [" >"$TMP/provided.yaml"
sleep 1.5
if ! rev_is 3 && grep -q 'file_invalid' "$TMP/fnode.log"; then
  ok file-provider-ignores-invalid-file; else
  fail file-provider-ignores-invalid-file "$(tail -3 "$TMP/fnode.log")"; fi
kill -TERM "$fnode"
if wait_for 5 eval '! kill -0 '"$fnode"' 2>/dev/null' && wait "$fnode"; then
  ok sigterm-clean-exit; else fail sigterm-clean-exit "$(tail -3 "$TMP/fnode.log")"; fi

# ---- the three control nodes stop cleanly, an event stream open (with
# IT_BAZEL_FLAGS=--config=asan a leak or error makes the exit non-zero) ----
curl -s -N --max-time 20 -u "admin:$PW" "http://127.0.0.1:${cp_http[cp-1]}/api/events" >/dev/null &
PIDS+=($!)
sleep 0.3
for n in cp-1 cp-2 cp-3; do kill -TERM "${cp_pid[$n]}" 2>/dev/null; done
rcs=""
for n in cp-1 cp-2 cp-3; do wait "${cp_pid[$n]}"; rcs+="$? "; done
if [ "$rcs" = "0 0 0 " ]; then ok control-nodes-sigterm-clean-exit; else
  fail control-nodes-sigterm-clean-exit "exit codes $rcs; $(grep -h -A3 'Sanitizer' "$TMP"/cp-*.log | head -20)"; fi

[ "$FAILS" -eq 0 ]
