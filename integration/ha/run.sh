#!/usr/bin/env bash
# integration/ha/run.sh -- TraefikEE's high-availability demo as a test.
# `traefikeectl install --local` (3 control nodes, HA_DATA_NODES=6 data
# nodes, each on its own loopback address 127.0.0.(10+N)) into a temp dir;
# HAProxy in front of the data nodes (what a cloud load balancer does:
# health checks on each node's /ready, retries of idempotent requests on
# connection failure, redispatch). tools/slap through HAProxy at each rate
# of HA_RATES ("50 2000" req/s), in back-to-back windows of HA_WINDOW s: one
# before any fault, then one per fault, the fault starting 0.5 s into it:
#   (1) kill -9 a data node, restarted from its recorded argv 2 s later
#   (2) SIGTERM a data node (planned maintenance: /ready fails at once, the
#       listeners close after --drain-delay, it drains and exits), restarted
#   (3) kill -9 the control-plane leader, restarted 3.5 s later
#   (4) kill -9 the Redis master (Sentinel fails over), restarted 3.5 s later
#   (5) a data node cut off the network for 5 s: packets to its address
#       vanish (an nftables table of this test drops them on input, no
#       reset), then the rule goes
#   (6) a config change applied in the middle of a fault: the leader and a
#       data node killed, a new route applied meanwhile, both restarted
# Asserts: zero failed requests (every answer a 200) in every window; a new
# leader and a new Redis master; within 30 s after each run list-nodes
# shows every node healthy, one leader and every data node on the latest
# revision; the route applied during the fault answers on every data node.
# Prints a table: rate, fault, requests sent, failed, p50/p99 before and
# during. Then uninstalls (exactly the recorded pids).
#
#   integration/ha/run.sh           (~3 min)
#   HA_WINDOW=20 HA_LIVE=1 integration/ha/run.sh   (what bench/ha.sh does)
#   HA_KEEP=1 keeps the temp dir (logs of every process, slap summaries).
#
# The cluster is the default, secure one (docs/security.md: mutual TLS with
# the cluster CA, data nodes joined with the data token and restarted on
# the certificate cached in their --cache-dir, control nodes on their
# --data-dir, Redis with a password); traefikeectl uses the install's
# bundle, the dashboard is HTTPS. Checked: cluster.json says secure, no
# process runs with --insecure or TRAEFIKEE_INSECURE, a plain-text call is
# refused, and every restarted data node kept its certificate (no new
# join). HA_INSECURE=1 runs the development mode instead (--insecure).
#
# Needs root for nft (the cut): without it case (5) is skipped and said so.
# Prints "ok CASE" / "FAIL CASE: why"; exits non-zero on any failure. Kills
# only pids it started or that cluster.json records; the nft table is
# deleted on every exit path.
NAME=ha-it
. "$(dirname "$0")/../lib.sh"
set -o pipefail
# lib.sh exports TRAEFIKEE_INSECURE=1 for every suite: this one is secure
# unless HA_INSECURE is set. install --local links the default bundle path
# to its bundle: keep that link in TMP, not in the user's home.
SECURE=1
if [ -n "${HA_INSECURE:-}" ]; then SECURE=0; else unset TRAEFIKEE_INSECURE; fi
export XDG_CONFIG_HOME=$TMP/xdg
KEEP_TMP=${KEEP_TMP:-${HA_KEEP:-}}
POLL=0.2 # wait_for
after_exit() { [ "${nft_made:-0}" = 1 ] && nft delete table inet "$NFT_TABLE" 2>/dev/null; }

RATES=${HA_RATES:-50 2000}
WINDOW=${HA_WINDOW:-7}
NDATA=${HA_DATA_NODES:-6}
LIVE=${HA_LIVE:-}
WAIT=${HA_WAIT:-20ms}
[ "$WINDOW" -ge 7 ] || { echo "FAIL setup: HA_WINDOW must be >= 7 (the cut lasts 5 s)"; exit 2; }
[ "$NDATA" -ge 4 ] || { echo "FAIL setup: HA_DATA_NODES must be >= 4"; exit 2; }

DIR=$TMP/cluster
CJ=$DIR/cluster.json
NFT_TABLE=ha_it_$$
nft_made=0

for tool in haproxy redis-server redis-sentinel redis-cli curl; do
  command -v "$tool" >/dev/null || { echo "FAIL setup: $tool not found"; exit 1; }
done
can_cut=1
if ! command -v nft >/dev/null; then
  can_cut=0
  echo "  skip network cut: nft not found (tools/install-deps.sh installs nftables)"
elif ! nft add table inet "$NFT_TABLE" 2>"$TMP/nft.err"; then
  can_cut=0
  echo "  skip network cut: nft: $(cat "$TMP/nft.err")"
else
  nft_made=1
  nft add chain inet "$NFT_TABLE" cut '{ type filter hook prerouting priority -300; policy accept; }'
fi

# ---- build (HA_NO_BUILD=1: take what bazel-bin has) ----
[ -n "${HA_NO_BUILD:-}" ] || build //tools/traefikeectl //tools/slap //controlplane //dataplane //tools/whoami
BIN=${BIN:-$(bazel info bazel-bin 2>/dev/null)}
# Copies side by side (install finds its programs beside traefikeectl), so
# that restarts use the same binaries even if bazel-bin changes meanwhile.
copy_bins //tools/traefikeectl //controlplane //dataplane //tools/whoami //tools/slap
CTL=$TMP/bin/traefikeectl
SLAP=$TMP/bin/slap

# ---- install --local (a free block of 100 ports) ----
if [ "$SECURE" = 1 ]; then mode=secure; else mode=insecure; fi
if INSTALL_SECURE=$SECURE install_local "$DIR" --data-nodes "$NDATA" --workers 1; then
  ok "install-local ($mode, $INSTALL_MS ms, base port $BASE, $NDATA data nodes)"
else
  fail install-local "$(cat "$TMP/install.err" 2>/dev/null)"
  exit 1
fi
cj() { # cj KEY: a top-level value of cluster.json ("" for null)
  $PY -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print("" if v is None else v)' "$CJ" "$1"
}
export TRAEFIKEE_CONTROL
TRAEFIKEE_CONTROL=$(cj control)
if [ "$SECURE" = 1 ]; then
  # every traefikeectl call below: mutual TLS with the install's admin bundle
  export TRAEFIKEE_BUNDLE
  TRAEFIKEE_BUNDLE=$(cj bundle)
  CA=$(cj ca)
fi
sentinel_port=$((BASE + 11))
# redis-cli with the cluster's Redis password (secure: the sentinels ask for
# it too)
rcli() {
  if [ "$SECURE" = 1 ]; then
    REDISCLI_AUTH=$(cat "$DIR/redis-password") redis-cli "$@"
  else redis-cli "$@"; fi
}
if [ "$SECURE" = 1 ]; then
  # a sentinel answers no one without the password: else anyone reaching
  # it could repoint the master (SENTINEL SET / REMOVE / MONITOR)
  out=$(redis-cli -p "$sentinel_port" sentinel get-master-addr-by-name traefikee 2>&1)
  if echo "$out" | grep -q NOAUTH && [ -n "$(rcli -p "$sentinel_port" sentinel get-master-addr-by-name traefikee)" ]; then
    ok sentinels-require-password
  else fail sentinels-require-password "without the password: $out"; fi
fi

# cluster.json names every process with role, pid, addresses and argv; each
# data node has its own address
if $PY - "$CJ" "$NDATA" <<'EOF'; then ok cluster-json; else fail cluster-json; fi
import json, os, sys
doc = json.load(open(sys.argv[1]))
roles, hosts = {}, set()
for p in doc["processes"]:
    roles[p["role"]] = roles.get(p["role"], 0) + 1
    assert p["argv"] and p["name"] and p["pid"] > 1 and p["addresses"], p
    cmd = open("/proc/%d/cmdline" % p["pid"], "rb").read().decode()
    assert cmd.startswith(p["argv"][0]), (p["name"], cmd)
    if p["role"] == "data":
        web = p["addresses"]["entryPoints"]["web"]
        assert p["addresses"]["admin"].split(":")[0] == web.split(":")[0], p
        hosts.add(web.split(":")[0])
want = {"redis": 3, "sentinel": 3, "control": 3, "data": int(sys.argv[2]), "backend": 2}
assert roles == want, roles
assert len(hosts) == int(sys.argv[2]), hosts
EOF

# secure: what cluster.json records and what the processes run with
secure_procs() { # every recorded process (restarted ones too) in secure mode
  $PY - "$CJ" <<'EOF'
import json, os, sys
doc = json.load(open(sys.argv[1]))
assert doc["secure"] is True and os.path.isfile(doc["bundle"]) and os.path.isfile(doc["ca"]), doc
for p in doc["processes"]:
    assert "--insecure" not in p["argv"], p["name"]
    env = open("/proc/%d/environ" % p["pid"], "rb").read().split(b"\0")
    assert not any(e.startswith(b"TRAEFIKEE_INSECURE=") for e in env), p["name"]
    if p["role"] == "control":
        assert "--cluster-key-file" in p["argv"] and "--redis-password-file" in p["argv"], p["name"]
    if p["role"] == "data":
        assert "--join-token-file" in p["argv"] and "--cache-dir" in p["argv"], p["name"]
EOF
}
if [ "$SECURE" = 1 ]; then
  check "secure-cluster (cluster.json, argv, environments)" secure_procs
  # a client in plain text is refused
  if ! TRAEFIKEE_INSECURE=1 "$CTL" list-nodes >"$TMP/plain.out" 2>&1; then
    ok "plain-text-refused ($(head -1 "$TMP/plain.out" | cut -c1-100))"
  else fail plain-text-refused "list-nodes in plain text answered: $(cat "$TMP/plain.out")"; fi
fi

# the printed admin password opens the dashboard's API (HTTPS with the
# cluster CA when secure, and nothing in plain HTTP)
dash=$(CL addr control-1 http)
pw=$(cat "$DIR/admin-password")
if [ "$SECURE" = 1 ]; then dash_url=https://$dash curl_ca=(--cacert "$CA"); else dash_url=http://$dash curl_ca=(); fi
if grep -q "not set in the cluster" "$TMP/install.out"; then
  echo "  skip dashboard-password: the control plane has no SetAdminHash"
elif [ "$(curl -s "${curl_ca[@]}" -o /dev/null -w '%{http_code}' -u "admin:$pw" "$dash_url/api/overview")" = 200 ] &&
  [ "$(curl -s "${curl_ca[@]}" -o /dev/null -w '%{http_code}' -u "admin:x$pw" "$dash_url/api/overview")" = 401 ]; then
  ok dashboard-password
else fail dashboard-password "$dash_url/api/overview"; fi
if [ "$SECURE" = 1 ]; then
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -u "admin:$pw" "http://$dash/api/overview")
  if [ "$code" != 200 ]; then ok "dashboard-https-only (plain http: $code)"
  else fail dashboard-https-only "http://$dash/api/overview answered 200"; fi
fi
# the certificates the data nodes joined with, which restarts must reuse
crt_sums() {
  local n
  for n in $(CL names data); do echo "$n $(sha256sum <"$DIR/$n/cache/node.crt" 2>/dev/null | cut -c1-16)"; done
}
[ "$SECURE" = 1 ] && crt_sums >"$TMP/crt.before"

# ---- HAProxy in front of the data nodes ----
web() { CL addr "$1" entryPoints.web; }
ha_port=$((BASE + 90))
{
  cat <<EOF
global
    maxconn 4096
    stats socket $TMP/haproxy.sock mode 600 level admin
defaults
    mode http
    maxconn 4000
    timeout connect 1s
    timeout client 30s
    timeout server 2s
    timeout check 500ms
    # retry idempotent requests on a connection failure, an empty answer
    # or a silent server; every retry on another node
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
frontend web
    bind 127.0.0.1:$ha_port
    default_backend data_nodes
backend data_nodes
    balance roundrobin
    option httpchk GET /ready
    default-server inter 300ms fall 2 rise 2
EOF
  for n in $(CL names data); do
    admin=$(CL addr "$n" admin)
    echo "    server $n $(web "$n") check port ${admin##*:}"
  done
} >"$TMP/haproxy.cfg"
haproxy -f "$TMP/haproxy.cfg" -db >"$TMP/haproxy.log" 2>&1 &
PIDS+=($!)
ha_pid=$!
ha_stat() { # name status per line (data_nodes servers)
  $PY - "$TMP/haproxy.sock" "${1:-}" <<'EOF'
import csv, io, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1]); s.sendall(b"show stat\n")
buf = b""
while True:
    d = s.recv(65536)
    if not d: break
    buf += d
for r in csv.DictReader(io.StringIO(buf.decode().lstrip("# "))):
    if r["pxname"] == "data_nodes" and r["svname"] not in ("BACKEND", "FRONTEND"):
        if sys.argv[2] == "full":
            print("  haproxy %-7s %-5s check downs %-2s retries %-4s redispatches %-4s responses %s"
                  % (r["svname"], r["status"], r["chkdown"] or "0", r["wretr"], r["wredis"], r["stot"]))
        elif sys.argv[2]:  # retries and redispatches of that server
            if r["svname"] == sys.argv[2]:
                print(int(r["wretr"] or 0) + int(r["wredis"] or 0))
        else:
            print(r["svname"], r["status"])
EOF
}
all_up() { [ "$(ha_stat | grep -vc ' UP$')" = 0 ] && [ "$(ha_stat | wc -l)" = "$NDATA" ]; }
if wait_for 10 curl -fs "http://127.0.0.1:$ha_port/whoami" && wait_for 10 all_up; then
  ok "haproxy-in-front ($NDATA servers, each node's own address)"
else
  fail haproxy-in-front "$(cat "$TMP/haproxy.log")"; exit 1
fi

# ---- cluster views ----
leader() {
  "$CTL" list-nodes -o json 2>/dev/null | $PY -c '
import json, sys
l = [n["name"] for n in json.load(sys.stdin) if n["role"] == "control" and n["leader"] and n["healthy"]]
sys.exit(1) if len(l) != 1 else print(l[0])'
}
redis_master() { # the name of the master the sentinels agree on
  local a
  a=$(rcli -p "$sentinel_port" sentinel get-master-addr-by-name traefikee | paste -sd:)
  CL name-of redis "$a"
}
rev() { "$CTL" history -o json 2>/dev/null | $PY -c 'import json,sys; h=json.load(sys.stdin); print(h[0]["revision"] if h else 0)'; }
ready() { curl -fs -o /dev/null --max-time 1 "http://$(CL addr "$1" admin)/ready"; }
gone() { # PID exited (a zombie waiting for its reaper counts)
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 0
  [ "${st#Z}" != "$st" ]
}
# every node healthy, one leader, every data node on revision $1
converged() {
  "$CTL" list-nodes -o json 2>/dev/null | $PY -c '
import json, sys
n, want, rev = json.load(sys.stdin), int(sys.argv[1]), int(sys.argv[2])
c = [x for x in n if x["role"] == "control" and x["healthy"]]
d = [x for x in n if x["role"] == "data" and x["healthy"] and x["revision"] == rev]
sys.exit(0 if len(c) == 3 and sum(x["leader"] for x in c) == 1 and len(d) == want
         and len(n) == 3 + want else 1)' "$NDATA" "$1"
}

# ---- the faults (each in the background of its window) ----
EV=$TMP/events.log
: >"$EV"
log_ev() { echo "$RATE_NOW/s $FAULT_NOW +$(($(now_ms) - win_t0)) ms: $*" >>"$EV"; }
at() { # at MS: sleeps until window start + MS
  local d=$((win_t0 + $1 - $(now_ms)))
  [ "$d" -gt 0 ] && sleep "$(printf '%d.%03d' $((d / 1000)) $((d % 1000)))"
  return 0
}
wait_ready() { # NAME SECONDS [WHAT]: logs how long the node took to be ready
  local t=$(now_ms)
  if wait_for "$2" ready "$1"; then log_ev "$1 ready $(($(now_ms) - t)) ms after ${3:-its restart}"
  else log_ev "$1 NOT ready ${2}s after ${3:-its restart}"; fi
}
f_kill_data() {
  local v=$1 pid
  at 500
  pid=$(CL pid "$v")
  kill -9 "$pid" && log_ev "kill -9 $v (pid $pid)"
  at 2500
  log_ev "restart $v: pid $(CL restart "$v")"
  wait_ready "$v" 15
}
f_term_data() {
  local v=$1 pid t r0
  at 500
  pid=$(CL pid "$v")
  r0=$(ha_stat "$v")
  kill -TERM "$pid" && log_ev "SIGTERM $v (pid $pid)"
  t=$(now_ms)
  wait_for 2 sh -c "! curl -fs -o /dev/null --max-time 1 http://$(CL addr "$v" admin)/ready" &&
    log_ev "$v /ready fails $(($(now_ms) - t)) ms after SIGTERM: $(curl -s "http://$(CL addr "$v" admin)/ready")"
  if wait_for 12 gone "$pid"; then log_ev "$v exited $(($(now_ms) - t)) ms after SIGTERM"
  else log_ev "$v still running 12 s after SIGTERM"; return; fi
  # planned maintenance: the load balancer stopped sending before the
  # listeners closed, so nothing had to be retried or redispatched
  echo "$v $((${r0:-0})) $(($(ha_stat "$v")))" >>"$TMP/drain_retries"
  log_ev "restart $v: pid $(CL restart "$v")"
  wait_ready "$v" 15
}
f_kill_leader() {
  local old new t
  at 500
  old=$(leader) || { log_ev "no leader to kill"; return; }
  echo "$old" >>"$TMP/old_leaders"
  kill -9 "$(CL pid "$old")" && log_ev "kill -9 leader $old"
  t=$(now_ms)
  while [ $(($(now_ms) - t)) -lt 15000 ]; do
    new=$(leader) && [ "$new" != "$old" ] && break
    new=""
    sleep 0.1
  done
  log_ev "leader now ${new:-none} ($(($(now_ms) - t)) ms after the kill)"
  echo "$old ${new:-none}" >>"$TMP/leader_changes"
  at 4000
  log_ev "restart $old: pid $(CL restart "$old")"
}
f_kill_redis() {
  local old new t
  at 500
  old=$(redis_master) || { log_ev "no redis master found"; return; }
  kill -9 "$(CL pid "$old")" && log_ev "kill -9 redis master $old"
  t=$(now_ms)
  while [ $(($(now_ms) - t)) -lt 15000 ]; do
    new=$(redis_master) && [ "$new" != "$old" ] && break
    new=""
    sleep 0.1
  done
  log_ev "sentinels name ${new:-none} master ($(($(now_ms) - t)) ms after the kill)"
  echo "$old ${new:-none}" >>"$TMP/master_changes"
  at 4000
  log_ev "restart $old: pid $(CL restart "$old")"
}
f_cut_data() {
  local v=$1 ip
  ip=$(CL addr "$v" admin)
  ip=${ip%:*}
  at 500
  if [ "$can_cut" != 1 ]; then log_ev "cut skipped (no nft)"; return; fi
  nft add rule inet "$NFT_TABLE" cut ip daddr "$ip" drop &&
    nft add rule inet "$NFT_TABLE" cut ip saddr "$ip" drop &&
    log_ev "cut $v off the network ($ip: packets dropped, no reset)"
  at 5500
  nft flush chain inet "$NFT_TABLE" cut && log_ev "$v back on the network"
  wait_ready "$v" 10 "the cut"
}
f_apply_during() { # a data node and the leader down while a route is added
  local v=$1 route=$2 old t out r=""
  at 500
  old=$(leader) || { log_ev "no leader to kill"; return; }
  kill -9 "$(CL pid "$v")" && kill -9 "$(CL pid "$old")" &&
    log_ev "kill -9 $v and leader $old, then apply a route $route"
  t=$(now_ms)
  sed "s|@ROUTE@|$route|" "$TMP/config.tmpl" >"$TMP/config-$route.yaml"
  while [ $(($(now_ms) - t)) -lt 15000 ]; do
    if out=$("$CTL" apply -f "$TMP/config-$route.yaml" 2>&1); then r=$(rev); break; fi
    sleep 0.2
  done
  if [ -n "$r" ]; then log_ev "applied: revision $r ($(($(now_ms) - t)) ms after the kills)"
  else log_ev "apply failed for 15 s: $out"; fi
  echo "${r:-0}" >"$TMP/applied-$route"
  at 3500
  log_ev "restart $v: pid $(CL restart "$v"), $old: pid $(CL restart "$old")"
  wait_ready "$v" 15
}

# the config applied during fault (6): the sample's route plus @ROUTE@
w1=$(CL addr whoami-1 http)
w2=$(CL addr whoami-2 http)
cat >"$TMP/config.tmpl" <<EOF
entryPoints:
  web: {address: "127.0.0.1:$BASE"}
http:
  routers:
    whoami:
      rule: "PathPrefix(\`/whoami\`)"
      service: whoami
    extra:
      rule: "PathPrefix(\`/@ROUTE@\`)"
      service: one
  services:
    whoami:
      loadBalancer:
        servers:
          - url: "http://$w1"
          - url: "http://$w2"
        healthCheck: {path: /health, interval: 2s, timeout: 1s}
    one:
      loadBalancer:
        servers:
          - url: "http://$w1"
EOF

# ---- load: per rate, a window before, then one per fault ----
echo "GET http://127.0.0.1:$ha_port/whoami?wait=$WAIT" >"$TMP/targets"
slap_window() { # name: one window of load
  local args=(-targets "$TMP/targets" -rate "$RATE_NOW" -duration "${WINDOW}s" -timeout 5s
    -json "$TMP/slap-$RATE_NOW-$1.json")
  if [ -n "$LIVE" ]; then
    echo "--- $RATE_NOW req/s: $1"
    "$SLAP" "${args[@]}" -minY 100us -maxY 100ms
  else
    "$SLAP" "${args[@]}" -quiet >"$TMP/slap-$RATE_NOW-$1.out" 2>&1
  fi
}
FAULTS="kill9-data sigterm-data kill9-leader kill9-redis-master netcut-data apply-during-fault"
run_fault() { # fault run-index
  local k=$2 # victims differ per run
  local d1="data-$(((0 + 4 * k) % NDATA + 1))" d2="data-$(((1 + 4 * k) % NDATA + 1))"
  local d3="data-$(((2 + 4 * k) % NDATA + 1))" d4="data-$(((3 + 4 * k) % NDATA + 1))"
  case $1 in
  kill9-data) f_kill_data "$d1" ;;
  sigterm-data) f_term_data "$d2" ;;
  kill9-leader) f_kill_leader ;;
  kill9-redis-master) f_kill_redis ;;
  netcut-data) f_cut_data "$d3" ;;
  apply-during-fault) f_apply_during "$d4" "hello-$RATE_NOW" ;;
  esac
}
converge_ms=()
k=0
for RATE_NOW in $RATES; do
  echo "load: $RATE_NOW req/s of GET /whoami?wait=$WAIT through HAProxy, windows of ${WINDOW}s: before, then one per fault"
  FAULT_NOW=before
  win_t0=$(now_ms)
  slap_window before
  for FAULT_NOW in $FAULTS; do
    win_t0=$(now_ms)
    run_fault "$FAULT_NOW" "$k" &
    fpid=$!
    PIDS+=($fpid)
    slap_window "$FAULT_NOW"
    wait "$fpid"
  done
  # ---- converged within 30 s: every node healthy, one leader, every data
  # node on the latest revision ----
  t0=$(now_ms)
  cur=$(rev)
  if wait_for 30 converged "$cur"; then
    converge_ms+=("$(($(now_ms) - t0))")
    ok "list-nodes-converged at $RATE_NOW req/s (revision $cur, $(($(now_ms) - t0)) ms after the last window)"
  else
    converge_ms+=(-)
    fail "list-nodes-converged at $RATE_NOW req/s" "revision $cur: $("$CTL" list-nodes 2>&1)"
  fi
  # the route applied during the fault answers through every data node
  route=hello-$RATE_NOW
  applied=$(cat "$TMP/applied-$route" 2>/dev/null || echo 0)
  every_node_serves() {
    for n in $(CL names data); do
      curl -fs -o /dev/null --max-time 2 "http://$(web "$n")/$route" || return 1
    done
    curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$ha_port/$route"
  }
  if [ "$applied" -gt 0 ] && wait_for 10 every_node_serves; then
    ok "apply-during-fault at $RATE_NOW req/s (revision $applied: /$route on every data node)"
  else fail "apply-during-fault at $RATE_NOW req/s" "revision ${applied}; /$route not served everywhere"; fi
  if ! wait_for 20 all_up; then fail "haproxy-all-up after $RATE_NOW req/s" "$(ha_stat)"; fi
  k=$((k + 1))
done
echo "events:"
sed 's/^/  /' "$EV"
ha_stat full || true

# ---- the summary table, and zero failed requests ----
if $PY - "$TMP" "$RATES" "$FAULTS" <<'EOF'; then ok zero-failed-requests; else fail zero-failed-requests; fi
import json, sys
tmp, rates, faults = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
bad = []
def load(rate, name):
    try:
        return json.load(open("%s/slap-%s-%s.json" % (tmp, rate, name)))
    except Exception as e:
        bad.append("%s/s %s: no summary (%s)" % (rate, name, e))
        return None
def failed(j):
    return j["sent"] - j["status"].get("200", 0) + sum(j["errors"].values()) if j else 0
print("%-6s %-19s %6s %6s %14s %14s %8s" % ("rate", "fault", "sent", "failed",
      "before p50/p99", "during p50/p99", "p99 bump"))
for rate in rates:
    b = load(rate, "before")
    rows = [("(none: before)", b)] + [(f, load(rate, f)) for f in faults]
    for name, j in rows:
        if j is None:
            continue
        f = failed(j)
        if j["sent"] == 0 or f or j["failed"]:
            bad.append("%s/s %s: sent %d, status %s, errors %s" % (rate, name, j["sent"], j["status"], j["errors"]))
        bl, l = b["latency_ms"] if b else {"p50": 0, "p99": 0}, j["latency_ms"]
        print("%-6s %-19s %6d %6d %6.1f/%-7.1f %6.1f/%-7.1f %7.1fx" % (
            rate, name, j["sent"], f, bl["p50"], bl["p99"], l["p50"], l["p99"],
            l["p99"] / bl["p99"] if bl["p99"] else 0))
print("(latencies in ms; 'before' is the window before any fault at that rate)")
for x in bad:
    print("  " + x)
sys.exit(1 if bad else 0)
EOF
echo "converged (list-nodes healthy, one leader, latest revision) after: ${converge_ms[*]} ms"

# ---- leader and Redis master changes ----
if [ -s "$TMP/leader_changes" ] && ! grep -q ' none$' "$TMP/leader_changes" &&
  awk '$1 == $2 {exit 1}' "$TMP/leader_changes"; then
  ok "new-leader-elected ($(paste -sd, "$TMP/leader_changes" | sed 's/ / -> /g'))"
else fail new-leader-elected "$(cat "$TMP/leader_changes" 2>/dev/null)"; fi
if [ -s "$TMP/master_changes" ] && ! grep -q ' none$' "$TMP/master_changes" &&
  awk '$1 == $2 {exit 1}' "$TMP/master_changes"; then
  ok "redis-failover ($(paste -sd, "$TMP/master_changes" | sed 's/ / -> /g'))"
else fail redis-failover "$(cat "$TMP/master_changes" 2>/dev/null)"; fi
if [ "$can_cut" = 1 ]; then
  if grep -q "cut data-.* off the network" "$EV" && [ -z "$(nft list chain inet "$NFT_TABLE" cut | grep drop)" ]; then
    ok "network-cut (rules added and removed)"
  else fail network-cut "$(grep -i cut "$EV")"; fi
fi
if [ -s "$TMP/drain_retries" ] && awk '$2 != $3 {exit 1}' "$TMP/drain_retries"; then
  ok "sigterm-drain-without-retries ($(awk '{print $1}' "$TMP/drain_retries" | paste -sd,): HAProxy saw /ready fail before the listeners closed)"
else fail sigterm-drain-without-retries "victim, retries+redispatches before/after: $(paste -sd, "$TMP/drain_retries" 2>/dev/null)"; fi
if grep -q "NOT ready\|still running" "$EV"; then fail restarted-nodes-ready "$(grep "NOT ready\|still running" "$EV")"; fi
if [ "$SECURE" = 1 ]; then
  # the data nodes restarted from their argv on their cached certificate:
  # the same node.crt, and a join logged only at the first start
  crt_sums >"$TMP/crt.after"
  rejoined=$(for n in $(CL names data); do
    [ "$(grep -c will_join "$(CL log "$n")")" -gt 1 ] && echo "$n"
  done | paste -sd,)
  restarted=$(grep -o "restart data-[0-9]*" "$EV" | sort -u | wc -l)
  check "secure-after-restarts (argv, environments)" secure_procs
  if [ "$restarted" -gt 0 ] && cmp -s "$TMP/crt.before" "$TMP/crt.after" &&
    ! grep -q ' $' "$TMP/crt.after" && [ -z "$rejoined" ]; then
    ok "data-nodes-restart-on-cached-certificate ($restarted restarted, none joined again)"
  else
    fail data-nodes-restart-on-cached-certificate "$restarted restarted; before: $(paste -sd, "$TMP/crt.before"); after: $(paste -sd, "$TMP/crt.after"); joined again: $rejoined"
  fi
fi

# ---- uninstall: exactly the recorded pids ----
recorded=$($PY -c 'import json,sys; print(" ".join(str(p["pid"]) for p in json.load(open(sys.argv[1]))["processes"]))' "$CJ")
if "$CTL" uninstall --local --dir "$DIR" >"$TMP/uninstall.out" 2>&1; then
  left=""
  for p in $recorded; do gone "$p" || left+=" $p"; done
  if [ -z "$left" ] && [ ! -e "$CJ" ] && [ -d "$DIR/logs" ]; then ok uninstall-local; else
    fail uninstall-local "still running:$left"; fi
else fail uninstall-local "$(cat "$TMP/uninstall.out")"; fi
kill "$ha_pid" 2>/dev/null

[ "$FAILS" = 0 ] && echo "PASS integration/ha" || echo "FAIL integration/ha"
[ "$FAILS" -eq 0 ]
