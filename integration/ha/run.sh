#!/usr/bin/env bash
# integration/ha/run.sh -- TraefikEE's high-availability demo as a test.
# `traefikeectl install --local` (3 control nodes, HA_DATA_NODES data nodes)
# into a temp dir; HAProxy in front of the data nodes (the cloud load
# balancer of the demo: health checks on /ready, redispatch, retries);
# tools/slap at HA_RATE req/s through it in three phases, before / during /
# after the failures. During: kill -9 a data node (the "machine reboot"),
# restart it from its recorded argv 5 s later; kill -9 the control-plane
# leader (restarted 5 s later); kill -9 the Redis master (restarted 5 s
# later). Asserts: every request answered 200; a new leader and a new Redis
# master; the restarted data node ready and serving; list-nodes all healthy
# with the current revision; an apply after the failures reaches every data
# node. Prints the summary like slapper's and the latency per phase.
#
#   integration/ha/run.sh           (~70 s)
#   HA_BEFORE=20 HA_DURING=60 HA_AFTER=20 HA_LIVE=1 HA_DATA_NODES=3 \
#     integration/ha/run.sh         (what bench/ha.sh does)
#   HA_KEEP=1 keeps the temp dir (logs of every process).
#
# Prints "ok CASE" / "FAIL CASE: why"; exits non-zero on any failure. Kills
# only pids it started or that cluster.json records.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD

BEFORE=${HA_BEFORE:-8}
DURING=${HA_DURING:-24}
AFTER=${HA_AFTER:-8}
RATE=${HA_RATE:-50}
NDATA=${HA_DATA_NODES:-2}
LIVE=${HA_LIVE:-}
WAIT=${HA_WAIT:-50ms}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ha-it.XXXXXX")
DIR=$tmp/cluster
CJ=$DIR/cluster.json
PY=/usr/bin/python3
CL() { $PY "$ROOT/integration/ha/cluster.py" "$CJ" "$@"; }
pids=() # haproxy, background helpers: ours to kill
failed=0
installed=0

cleanup() {
  for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]+"${pids[@]}"}"; do wait "$p" 2>/dev/null; done
  if [ "$installed" = 1 ]; then
    "$CTL" uninstall --local --dir "$DIR" --timeout 10s >"$tmp/uninstall.out" 2>&1 ||
      cat "$tmp/uninstall.out"
  fi
  if [ -n "${HA_KEEP:-}" ] || [ "$failed" != 0 ]; then echo "logs in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { echo "ok $1"; }
fail() { echo "FAIL $1${2:+: $2}"; failed=1; }
now_ms() { date +%s%3N; }
wait_for() { # SECONDS CMD...: polls every 200 ms
  local end=$(($(now_ms) + $1 * 1000))
  shift
  while [ "$(now_ms)" -lt "$end" ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

for tool in haproxy redis-server redis-sentinel redis-cli curl; do
  command -v "$tool" >/dev/null || { echo "FAIL setup: $tool not found"; exit 1; }
done

# ---- build (HA_NO_BUILD=1: take what bazel-bin has) ----
if [ -z "${HA_NO_BUILD:-}" ] &&
  ! bazel build //tools/traefikeectl //tools/slap >"$tmp/build.log" 2>&1; then
  tail -30 "$tmp/build.log"
  echo "FAIL build"
  exit 1
fi
# Copies side by side (install finds its programs beside traefikeectl), so
# that restarts use the same binaries even if bazel-bin changes meanwhile.
bin=$(bazel info bazel-bin 2>/dev/null)
mkdir -p "$tmp/bin"
cp "$bin/tools/traefikeectl/traefikeectl" "$bin/controlplane/controlplane" \
  "$bin/dataplane/dataplane" "$bin/tools/whoami/whoami" "$bin/tools/slap/slap" \
  "$tmp/bin/" || { echo "FAIL build: binaries missing"; exit 1; }
CTL=$tmp/bin/traefikeectl
SLAP=$tmp/bin/slap

# ---- install --local (a free block of 100 ports) ----
for try in 1 2 3 4 5; do
  base=$((20000 + (RANDOM % 400) * 100))
  t0=$(now_ms)
  if "$CTL" install --local --dir "$DIR" --base-port "$base" --data-nodes "$NDATA" \
    >"$tmp/install.out" 2>"$tmp/install.err"; then
    installed=1
    break
  fi
  grep -q "in use" "$tmp/install.err" || break
done
if [ "$installed" = 1 ]; then
  ok "install-local ($(($(now_ms) - t0)) ms, base port $base)"
  cat "$tmp/install.out"
else
  fail install-local "$(cat "$tmp/install.err")"
  exit 1
fi
export TRAEFIKEE_CONTROL
TRAEFIKEE_CONTROL=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["control"])' "$CJ")
sentinel_port=$((base + 11))

# cluster.json names every process with role, pid, addresses and argv
if $PY - "$CJ" "$NDATA" <<'EOF'; then ok cluster-json; else fail cluster-json; fi
import json, os, sys
doc = json.load(open(sys.argv[1]))
roles = {}
for p in doc["processes"]:
    roles[p["role"]] = roles.get(p["role"], 0) + 1
    assert p["argv"] and p["name"] and p["pid"] > 1 and p["addresses"], p
    cmd = open("/proc/%d/cmdline" % p["pid"], "rb").read().decode()
    assert cmd.startswith(p["argv"][0]), (p["name"], cmd)
want = {"redis": 3, "sentinel": 3, "control": 3, "data": int(sys.argv[2]), "backend": 2}
assert roles == want, roles
EOF

# the printed admin password opens the dashboard's API (when the control
# plane takes it: SetAdminHash)
dash=$(CL addr control-1 http)
pw=$(cat "$DIR/admin-password")
if grep -q "not set in the cluster" "$tmp/install.out"; then
  echo "  skip dashboard-password: the control plane has no SetAdminHash"
elif [ "$(curl -s -o /dev/null -w '%{http_code}' -u "admin:$pw" "http://$dash/api/overview")" = 200 ] &&
  [ "$(curl -s -o /dev/null -w '%{http_code}' -u "admin:x$pw" "http://$dash/api/overview")" = 401 ]; then
  ok dashboard-password
else fail dashboard-password "http://$dash/api/overview"; fi

# ---- HAProxy in front of the data nodes ----
ha_port=$((base + 90))
web=$($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print([p for p in d["processes"] if p["role"]=="data"][0]["addresses"]["entryPoints"]["web"])' "$CJ")
{
  cat <<EOF
global
    maxconn 4096
    stats socket $tmp/haproxy.sock mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 3s
    timeout check 1s
    option redispatch
    retries 3
    retry-on conn-failure empty-response response-timeout
    # a new connection per request, so that the kernel spreads them over
    # the data nodes sharing the entry point's port (SO_REUSEPORT)
    option http-server-close
frontend web
    bind 127.0.0.1:$ha_port
    default_backend data_nodes
backend data_nodes
    balance roundrobin
    option httpchk GET /ready
    default-server inter 500ms fall 2 rise 2
EOF
  for n in $(CL names data); do
    admin=$(CL addr "$n" admin)
    echo "    server $n $web check port ${admin##*:}"
  done
} >"$tmp/haproxy.cfg"
haproxy -f "$tmp/haproxy.cfg" -db >"$tmp/haproxy.log" 2>&1 &
pids+=($!)
ha_pid=$!
if wait_for 10 curl -fs "http://127.0.0.1:$ha_port/whoami"; then ok haproxy-in-front; else
  fail haproxy-in-front "$(cat "$tmp/haproxy.log")"; exit 1; fi

# whoami answers after HA_WAIT, so that requests are in flight on the node
# killed (the load balancer retries those that die with it)
echo "GET http://127.0.0.1:$ha_port/whoami?wait=$WAIT" >"$tmp/targets"
slap_phase() { # name seconds [live]: live shows slap's view on the terminal
  local args=(-targets "$tmp/targets" -rate "$RATE" -duration "${2}s" -timeout 5s
    -json "$tmp/slap-$1.json")
  if [ -n "${3:-}" ]; then
    "$SLAP" "${args[@]}" -minY 100us -maxY 100ms
  else
    "$SLAP" "${args[@]}" -quiet >"$tmp/slap-$1.out" 2>&1
  fi
}

# ---- the failures (background, during the "during" phase) ----
leader() {
  "$CTL" list-nodes -o json 2>/dev/null | $PY -c '
import json, sys
l = [n["name"] for n in json.load(sys.stdin) if n["role"] == "control" and n["leader"] and n["healthy"]]
sys.exit(1) if len(l) != 1 else print(l[0])'
}
redis_master() { # the name of the master the sentinels agree on
  local a
  a=$(redis-cli -p "$sentinel_port" sentinel get-master-addr-by-name traefikee | paste -sd:)
  CL name-of redis "$a"
}
log_ev() { echo "$(($(now_ms) - phase_t0)) ms: $*" >>"$tmp/events.log"; }
at() { # at SECONDS: sleeps until phase start + SECONDS
  local d=$((phase_t0 + $1 * 1000 - $(now_ms)))
  [ "$d" -gt 0 ] && sleep "$(printf '%d.%03d' $((d / 1000)) $((d % 1000)))"
}
failures() {
  local victim="data-$NDATA" old_leader old_master new t
  at $((DURING * 12 / 100))
  kill -9 "$(CL pid "$victim")" && log_ev "kill -9 $victim (pid $(CL pid "$victim"))"
  at $((DURING * 12 / 100 + 5))
  log_ev "restart $victim: pid $(CL restart "$victim")"

  at $((DURING * 45 / 100))
  old_leader=$(leader) || { log_ev "no leader to kill"; return; }
  echo "$old_leader" >"$tmp/old_leader"
  kill -9 "$(CL pid "$old_leader")" && log_ev "kill -9 leader $old_leader"
  t=$(now_ms)
  while [ $(($(now_ms) - t)) -lt 15000 ]; do
    new=$(leader) && [ "$new" != "$old_leader" ] && break
    sleep 0.1
  done
  log_ev "leader now ${new:-none} ($(($(now_ms) - t)) ms after the kill)"
  echo "${new:-}" >"$tmp/new_leader"
  at $((DURING * 45 / 100 + 5))
  log_ev "restart $old_leader: pid $(CL restart "$old_leader")"

  at $((DURING * 70 / 100))
  old_master=$(redis_master) || { log_ev "no redis master found"; return; }
  echo "$old_master" >"$tmp/old_master"
  kill -9 "$(CL pid "$old_master")" && log_ev "kill -9 redis master $old_master"
  t=$(now_ms)
  while [ $(($(now_ms) - t)) -lt 15000 ]; do
    new=$(redis_master) && [ "$new" != "$old_master" ] && break
    sleep 0.1
  done
  log_ev "sentinels name $new master ($(($(now_ms) - t)) ms after the kill)"
  echo "$new" >"$tmp/new_master"
  at $((DURING * 70 / 100 + 5))
  log_ev "restart $old_master: pid $(CL restart "$old_master")"
}

# ---- load: before, during, after ----
echo "load: $RATE req/s of GET /whoami?wait=$WAIT through HAProxy 127.0.0.1:$ha_port, phases ${BEFORE}s / ${DURING}s / ${AFTER}s"
slap_phase before "$BEFORE"
rc_before=$?
phase_t0=$(now_ms)
: >"$tmp/events.log"
failures &
fail_pid=$!
pids+=($fail_pid)
slap_phase during "$DURING" "$LIVE"
rc_during=$?
wait "$fail_pid"
slap_phase after "$AFTER"
rc_after=$?
echo "events during the load:"
sed 's/^/  /' "$tmp/events.log"

# slapper-like summary and latency per phase
$PY - "$tmp" <<'EOF'
import json, sys
tot, status, errors = 0, {}, {}
for ph in ("before", "during", "after"):
    try:
        j = json.load(open("%s/slap-%s.json" % (sys.argv[1], ph)))
    except Exception as e:
        print("  %-7s no summary (%s)" % (ph, e)); continue
    tot += j["sent"]
    for k, v in j["status"].items(): status[k] = status.get(k, 0) + v
    for k, v in j["errors"].items(): errors[k] = errors.get(k, 0) + v
    l = j["latency_ms"]
    print("  %-7s sent: %5d  responses: %s  errors: %s  p50 %.2fms  p99 %.2fms  max %.2fms"
          % (ph, j["sent"], " ".join("[%s]: %d" % kv for kv in sorted(j["status"].items())),
             j["errors"] or "none", l["p50"], l["p99"], l["max"]))
print("sent: %d  responses: %s%s" % (tot, " ".join("[%s]: %d" % kv for kv in sorted(status.items())),
      ("  errors: %s" % errors) if errors else ""))
EOF
# what the load balancer did: health-check downs, retries, redispatches
$PY - "$tmp/haproxy.sock" <<'EOF' || true
import csv, io, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1]); s.sendall(b"show stat\n")
buf = b""
while True:
    d = s.recv(65536)
    if not d: break
    buf += d
rows = list(csv.DictReader(io.StringIO(buf.decode().lstrip("# "))))
for r in rows:
    if r["pxname"] == "data_nodes":
        print("  haproxy %-8s status %-4s check downs %-2s retries %-3s redispatches %-3s responses %s"
              % (r["svname"], r["status"], r["chkdown"] or "-", r["wretr"], r["wredis"], r["stot"]))
EOF
all200() {
  $PY - "$tmp" <<'EOF'
import json, sys
for ph in ("before", "during", "after"):
    j = json.load(open("%s/slap-%s.json" % (sys.argv[1], ph)))
    assert j["sent"] > 0 and j["failed"] == 0 and not j["errors"], (ph, j)
    assert list(j["status"]) == ["200"] and j["status"]["200"] == j["sent"], (ph, j["status"])
EOF
}
if [ "$rc_before$rc_during$rc_after" = 000 ] && all200; then
  ok every-request-answered-200
else
  fail every-request-answered-200 "slap exit codes $rc_before/$rc_during/$rc_after"
fi

# ---- the cluster healed ----
old_leader=$(cat "$tmp/old_leader" 2>/dev/null)
new_leader=$(cat "$tmp/new_leader" 2>/dev/null)
if [ -n "$new_leader" ] && [ "$new_leader" != "$old_leader" ]; then
  ok "new-leader-elected ($old_leader -> $new_leader)"
else fail new-leader-elected "old ${old_leader:-?} new ${new_leader:-none}"; fi
old_master=$(cat "$tmp/old_master" 2>/dev/null)
new_master=$(cat "$tmp/new_master" 2>/dev/null)
if [ -n "$new_master" ] && [ "$new_master" != "$old_master" ]; then
  ok "redis-failover ($old_master -> $new_master)"
else fail redis-failover "old ${old_master:-?} new ${new_master:-none}"; fi

victim="data-$NDATA"
vadmin=$(CL addr "$victim" admin)
if grep -q "serving from cache" "$DIR/logs/$victim.log"; then
  echo "  $victim started from its cache: $(grep -c 'serving from cache' "$DIR/logs/$victim.log") time(s)"
fi
requests_of() { curl -fs "http://$vadmin/metrics" | awk '$1 == "dataplane_http_requests_total" {print $2}'; }
serves_again() {
  local before after
  curl -fs "http://$vadmin/ready" >/dev/null || return 1
  before=$(requests_of) || return 1
  for _ in $(seq 30); do curl -fs -o /dev/null "http://$web/whoami" || return 1; done
  after=$(requests_of) || return 1
  [ "${after:-0}" -gt "${before:-0}" ]
}
if wait_for 10 serves_again; then ok "restarted-data-node-serves ($victim)"; else
  fail restarted-data-node-serves "$(curl -s "http://$vadmin/ready")"; fi

rev() { "$CTL" history -o json | $PY -c 'import json,sys; h=json.load(sys.stdin); print(h[0]["revision"] if h else 0)'; }
all_healthy() { # every control and data node healthy, one leader
  "$CTL" list-nodes -o json 2>/dev/null | $PY -c '
import json, sys
n = json.load(sys.stdin)
c = [x for x in n if x["role"] == "control" and x["healthy"]]
d = [x for x in n if x["role"] == "data" and x["healthy"]]
sys.exit(0 if len(c) == 3 and sum(x["leader"] for x in c) == 1 and len(d) == int(sys.argv[1]) and len(n) == 3 + int(sys.argv[1]) else 1)' "$NDATA"
}
# list-nodes' revision of a data node is the lowest version it ACKed over
# LDS/RDS/CDS/EDS; after moving to another control node (delta xDS with
# initial_resource_versions) an unchanged type is not re-sent, so it can
# read 0 while the node serves the current revision: noted, not asserted.
revision_note() {
  "$CTL" list-nodes -o json 2>/dev/null | $PY -c '
import json, sys
lag = ["%s=%d" % (x["name"], x["revision"]) for x in json.load(sys.stdin)
       if x["role"] == "data" and x["revision"] < int(sys.argv[1])]
if lag: print("  note: list-nodes shows an older revision than %s for %s" % (sys.argv[1], ", ".join(lag)))' "$1"
}
# every data node serves <text> (its own /config_dump)
dumps_have() {
  for n in $(CL names data); do
    curl -fs "http://$(CL addr "$n" admin)/config_dump" | grep -q "$1" || return 1
  done
}
cur=$(rev)
if wait_for 30 all_healthy; then
  ok list-nodes-all-healthy
  "$CTL" list-nodes
  revision_note "$cur"
else fail list-nodes-all-healthy "$("$CTL" list-nodes 2>&1)"; fi

# ---- apply after the failures ----
w1=$(CL addr whoami-1 http)
cat >"$tmp/after.yaml" <<EOF
entryPoints:
  web: {address: "$web"}
http:
  routers:
    whoami:
      rule: "PathPrefix(\`/whoami\`)"
      service: whoami
    hello:
      rule: "PathPrefix(\`/hello\`)"
      service: hello
  services:
    whoami:
      loadBalancer:
        servers:
          - url: "http://$w1"
          - url: "http://$(CL addr whoami-2 http)"
    hello:
      loadBalancer:
        servers:
          - url: "http://$w1"
EOF
hello_everywhere() { # 20 fresh connections through the shared port
  for _ in $(seq 20); do
    curl -fs -D - -o /dev/null "http://$web/hello" | grep -q 'X-Whoami-Name: whoami-1' || return 1
  done
}
t0=$(now_ms)
if out=$("$CTL" apply -f "$tmp/after.yaml" 2>&1) && new=$(rev) && [ "$new" -gt "$cur" ] &&
  wait_for 15 dumps_have '"hello"' && wait_for 5 hello_everywhere; then
  ok "apply-after-failures (revision $new on every data node in $(($(now_ms) - t0)) ms)"
else fail apply-after-failures "$out"; fi

role=$(redis-cli -p "$(CL addr "$old_master" redis 2>/dev/null | cut -d: -f2)" role 2>/dev/null | head -1)
echo "  restarted $old_master reports role ${role:-unknown} (Sentinel turns a returning old master into a replica after ~15 s)"

# ---- uninstall: exactly the recorded pids ----
recorded=$($PY -c 'import json,sys; print(" ".join(str(p["pid"]) for p in json.load(open(sys.argv[1]))["processes"]))' "$CJ")
if "$CTL" uninstall --local --dir "$DIR" >"$tmp/uninstall.out" 2>&1; then
  installed=0
  left=""
  for p in $recorded; do # a zombie waits for its reaper: it is stopped
    st=$(ps -o stat= -p "$p" 2>/dev/null) && [ "${st#Z}" = "$st" ] && left+=" $p"
  done
  if [ -z "$left" ] && [ ! -e "$CJ" ] && [ -d "$DIR/logs" ]; then ok uninstall-local; else
    fail uninstall-local "still running:$left"; fi
else fail uninstall-local "$(cat "$tmp/uninstall.out")"; fi
kill "$ha_pid" 2>/dev/null

[ "$failed" = 0 ] && echo "PASS integration/ha" || echo "FAIL integration/ha"
exit "$failed"
