#!/usr/bin/env bash
# integration/controlplane/run.sh -- the control plane as a product, with
# real processes: a Redis master, two replicas and three sentinels, three
# control nodes on --sentinels, traefikeectl, a Python ADS client standing
# in for a data node, and the embedded single-node mode. Prints "ok CASE" /
# "FAIL CASE" per case and timings, exits non-zero on any failure. Every
# process gets free loopback ports and this run's temp dir; only pids
# started here are killed.
set -uo pipefail
cd "$(dirname "$0")/../.."

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cp-it.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]+"${pids[@]}"}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  if [ -z "${IT_KEEP_TMP:-}" ]; then rm -rf "$tmp"; else echo "kept $tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# IT_BAZEL_FLAGS=--config=asan runs the same cases on sanitized binaries.
read -ra bflags <<<"${IT_BAZEL_FLAGS:-}"
if ! bazel build "${bflags[@]+"${bflags[@]}"}" //controlplane //tools/traefikeectl >"$tmp/build.log" 2>&1; then
  tail -30 "$tmp/build.log"
  echo "FAIL build"
  exit 1
fi
bin="$(bazel info "${bflags[@]+"${bflags[@]}"}" bazel-bin 2>/dev/null)"
CP="$bin/controlplane/controlplane"
CTL="$bin/tools/traefikeectl/traefikeectl"
PY=/usr/bin/python3
XDS="$PWD/integration/controlplane/xds_client.py"

failed=0
ok() { echo "ok $1"; }
fail() { echo "FAIL $1${2:+: $2}"; failed=1; }
now_ms() { date +%s%3N; }

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for SECONDS CMD...: polls CMD every 100 ms; 0 once it succeeds.
wait_for() {
  local end=$(($(now_ms) + $1 * 1000))
  shift
  while [ "$(now_ms)" -lt "$end" ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# ---- Redis: master, two replicas, three sentinels ----

start_redis() { # name port [master_port]
  local args=(--port "$2" --bind 127.0.0.1 --save "" --appendonly no
    --dir "$tmp" --dbfilename "$1.rdb" --repl-diskless-sync-delay 0
    --daemonize no)
  [ $# -ge 3 ] && args+=(--replicaof 127.0.0.1 "$3")
  redis-server "${args[@]}" >"$tmp/$1.log" 2>&1 &
  pids+=($!)
  eval "pid_$1=$!"
}

rm_port=$(free_port); r1_port=$(free_port); r2_port=$(free_port)
start_redis master "$rm_port"
start_redis replica1 "$r1_port" "$rm_port"
start_redis replica2 "$r2_port" "$rm_port"
sentinels=""
s_ports=()
for i in 1 2 3; do
  p=$(free_port)
  s_ports+=("$p")
  cat >"$tmp/sentinel$i.conf" <<EOC
port $p
bind 127.0.0.1
sentinel monitor mymaster 127.0.0.1 $rm_port 2
sentinel down-after-milliseconds mymaster 1000
sentinel failover-timeout mymaster 3000
EOC
  redis-sentinel "$tmp/sentinel$i.conf" >"$tmp/sentinel$i.log" 2>&1 &
  pids+=($!)
  sentinels+="${sentinels:+,}127.0.0.1:$p"
done

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

declare -A cp_port cp_pid
start_cp() { # name
  local p=${cp_port[$1]:-$(free_port)}
  cp_port[$1]=$p
  "$CP" --node-id "$1" --grpc-addr "127.0.0.1:$p" --http-addr "127.0.0.1:$(free_port)" \
    --sentinels "$sentinels" --master-name mymaster --wait-timeout 2s \
    --log-level info >>"$tmp/$1.log" 2>&1 &
  cp_pid[$1]=$!
  pids+=($!)
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

# ---- events stream (kept running through the failovers) ----
"$CTL" --control "127.0.0.1:${cp_port[$f2]}" events -o json >"$tmp/events.out" 2>"$tmp/events.err" &
ev_pid=$!
pids+=($ev_pid)
sleep 0.5

# ---- apply through a follower ----
cat >"$tmp/cfg1.yaml" <<'EOC'
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
out=$(ctl_at "$f1" apply -f "$tmp/cfg1.yaml" 2>&1)
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
(sleep 60 | $PY "$XDS" "127.0.0.1:${cp_port[$f2]}" it-data-1 60 >"$tmp/xds.out" 2>&1) &
xds_pid=$!
pids+=($xds_pid)
got_cds() { grep -q '^cds version=1 names=whoami$' "$tmp/xds.out"; }
got_lds() { grep -q '^lds version=1 names=.*web' "$tmp/xds.out"; }
if wait_for 10 got_cds && wait_for 5 got_lds; then ok xds-client-receives-revision; else
  fail xds-client-receives-revision "$(cat "$tmp/xds.out")"; fi
data_node_listed() {
  ctl_at "$1" list-nodes | grep -E '^it-data-1 +DATA NODE +healthy .* 1$'
}
if wait_for 6 data_node_listed "$f1"; then ok list-nodes-shows-data-node; else
  fail list-nodes-shows-data-node "$(ctl_at "$f1" list-nodes 2>&1)"; fi

current_rev() { ctl history -o json | $PY -c 'import json,sys; h=json.load(sys.stdin); print(h[0]["revision"] if h else 0)'; }

# ---- invalid config: clear error, nothing stored ----
cat >"$tmp/bad.yaml" <<'EOC'
http:
  routers:
    broken: {rule: "Host(`x`)", service: missing}
EOC
out=$(ctl apply -f "$tmp/bad.yaml" 2>&1); rc=$?
if [ $rc -ne 0 ] && [ "$(echo "$out" | wc -l)" = 1 ] &&
   echo "$out" | grep -q 'bad.yaml: http.routers.broken.service: line 3, column' &&
   [ "$(current_rev)" = 1 ]; then
  ok apply-invalid-rejected-with-path-line
else fail apply-invalid-rejected-with-path-line "rc=$rc $out"; fi
out=$(ctl apply -f "$tmp/nonexistent.yaml" 2>&1); rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q 'cannot read'; then ok apply-missing-file; else
  fail apply-missing-file "$out"; fi
out=$(ctl get widgets 2>&1); rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q 'unknown resource kind "widgets"'; then
  ok get-unknown-kind; else fail get-unknown-kind "$out"; fi
out=$(ctl get routers nosuch 2>&1); rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q 'not found'; then ok get-not-found; else
  fail get-not-found "$out"; fi

# ---- dry run: diff, nothing stored ----
cat >"$tmp/cfg2.yaml" <<'EOC'
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
out=$(ctl apply --dry-run -f "$tmp/cfg2.yaml" 2>&1); rc=$?
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
if wait_for 5 grep -q '^lds version=3 names=.*whoami' "$tmp/xds.out"; then ok xds-follows-revisions; else
  fail xds-follows-revisions "$(tail -3 "$tmp/xds.out")"; fi

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
out=$(ctl apply -f "$tmp/cfg2.yaml" 2>&1); rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q "revision 4 (leader $new_leader)" &&
   wait_for 5 grep -q '^cds version=4 names=api,whoami$' "$tmp/xds.out"; then
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
try_apply() { ctl apply -f "$tmp/cfg1.yaml" >"$tmp/apply.out" 2>&1; }
if wait_for 30 try_apply; then
  t1=$(now_ms)
  echo "timing redis-failover-to-successful-apply-ms $((t1 - t0))"
  ok apply-after-redis-failover
  cat "$tmp/apply.out" | head -1
else fail apply-after-redis-failover "$(cat "$tmp/apply.out")"; fi
if wait_for 10 has_router "$f2" whoami && wait_for 10 grep -q '^cds version=5 names=whoami$' "$tmp/xds.out"; then
  ok reads-and-xds-after-redis-failover
else fail reads-and-xds-after-redis-failover "$(tail -2 "$tmp/xds.out")"; fi

# ---- events seen along the way ----
kill -INT "$ev_pid" 2>/dev/null
wait "$ev_pid"; ev_rc=$?
ev_has() { grep -q "\"kind\": *\"$1\"" "$tmp/events.out"; }
if [ $ev_rc -eq 0 ] && ev_has revision_applied && ev_has leader_changed &&
   ev_has node_left && ev_has node_joined; then
  ok events-stream
else fail events-stream "rc=$ev_rc $(head -c 600 "$tmp/events.out") $(cat "$tmp/events.err")"; fi

# ---- unreachable cluster ----
dead=$(free_port)
out=$("$CTL" --control "127.0.0.1:$dead" list-nodes 2>&1); rc=$?
if [ $rc -ne 0 ] && [ "$out" = "traefikeectl: no control node reachable at 127.0.0.1:$dead (connection refused)" ]; then
  ok unreachable-cluster-message
else fail unreachable-cluster-message "$out"; fi
out=$("$CTL" --control "127.0.0.1:$dead,127.0.0.1:${cp_port[$f1]}" get routers 2>&1); rc=$?
if [ $rc -eq 0 ]; then ok client-fails-over-to-next-control; else
  fail client-fails-over-to-next-control "$out"; fi

# ---- embedded mode: one node, its own redis ----
ep=$(free_port)
"$CP" --node-id solo --grpc-addr "127.0.0.1:$ep" --data-dir "$tmp/solo" >"$tmp/solo.log" 2>&1 &
solo=$!
pids+=($solo)
solo_up() { "$CTL" --control "127.0.0.1:$ep" list-nodes | grep -q 'solo .*Current Leader'; }
if wait_for 10 solo_up &&
   "$CTL" --control "127.0.0.1:$ep" apply -f "$tmp/cfg1.yaml" >/dev/null &&
   "$CTL" --control "127.0.0.1:$ep" get routers | grep -q '^whoami '; then
  ok embedded-apply-get
else fail embedded-apply-get "$(tail -5 "$tmp/solo.log")"; fi
rpid=$(cat "$tmp/solo/redis.pid" 2>/dev/null)
kill -9 "$solo"; wait "$solo" 2>/dev/null
redis_gone() { ! kill -0 "$rpid" 2>/dev/null; }
if [ -n "$rpid" ] && wait_for 5 redis_gone; then ok embedded-redis-dies-with-node; else
  fail embedded-redis-dies-with-node "redis pid ${rpid:-?} still alive"; kill -9 "$rpid" 2>/dev/null; fi

# ---- file provider: applied at start, re-applied when replaced ----
fp=$(free_port)
cp "$tmp/cfg1.yaml" "$tmp/provided.yaml"
"$CP" --node-id filenode --grpc-addr "127.0.0.1:$fp" --data-dir "$tmp/fnode" \
  --config "$tmp/provided.yaml" >"$tmp/fnode.log" 2>&1 &
fnode=$!
pids+=($fnode)
fctl() { "$CTL" --control "127.0.0.1:$fp" "$@"; }
rev_is() { fctl history -o json | grep -q "\"revision\": $1,"; }
if wait_for 10 rev_is 1 && fctl get routers -o json | grep -q whoami; then
  ok file-provider-applies-at-start; else
  fail file-provider-applies-at-start "$(tail -5 "$tmp/fnode.log")"; fi
cp "$tmp/cfg2.yaml" "$tmp/provided.yaml.new"
mv "$tmp/provided.yaml.new" "$tmp/provided.yaml" # as editors do
if wait_for 10 rev_is 2 && fctl get services api -o json >/dev/null; then
  ok file-provider-reapplies-on-change; else
  fail file-provider-reapplies-on-change "$(tail -5 "$tmp/fnode.log")"; fi
echo "broken: [" >"$tmp/provided.yaml"
sleep 1.5
if ! rev_is 3 && grep -q 'file_invalid' "$tmp/fnode.log"; then
  ok file-provider-ignores-invalid-file; else
  fail file-provider-ignores-invalid-file "$(tail -3 "$tmp/fnode.log")"; fi
kill -TERM "$fnode"
if wait_for 5 eval '! kill -0 '"$fnode"' 2>/dev/null' && wait "$fnode"; then
  ok sigterm-clean-exit; else fail sigterm-clean-exit "$(tail -3 "$tmp/fnode.log")"; fi

exit "$failed"
