#!/usr/bin/env bash
# integration/security/run.sh -- issue #11 in secure mode (docs/security.md),
# with real processes on loopback: a Redis with requirepass, control nodes
# (cp1 creates the cluster CA and the cluster key; cp2 joins with the
# control token; cp3, with --cert-ttl 10s, only issues short-lived
# certificates), a whoami backend, data nodes joining with the data token;
# traefikeectl with the admin bundle; probe.py (python3-grpcio) making one
# gRPC call with chosen credentials; edge.py for the TLS entry point.
#
#   cluster   CA in Redis (key sealed), the admin bundle, tokens, a control
#             node joining with the control token, a data node joining with
#             the data token and serving a route, restarted without the
#             token (same certificate), files 0600
#   refused   no client certificate (Management UNAUTHENTICATED, no ADS
#             stream), a certificate of another CA (handshake refused for
#             ADS, Management and Join), an expired certificate, a data
#             certificate calling Management (PERMISSION_DENIED), plain
#             text gRPC (ADS only on --xds-plaintext-addr), a rotated token, a revoked data node (its stream
#             ends, refused on reconnect; re-admitted with a new token),
#             Redis without the password (NOAUTH), the dashboard over plain
#             HTTP (HTTPS with the cluster CA works)
#   edge TLS  garbage instead of a ClientHello closed at once; 200 stalled
#             or slow handshakes closed by the handshake timeout while
#             HTTPS requests keep being served; the data node's RSS bounded
#
# Prints "ok CASE" / "FAIL CASE: why"; exits non-zero if any failed. About
# a minute. Only pids started here are killed.
NAME=sec-it
. "$(dirname "$0")/../lib.sh" || exit 2
# This suite is the secure mode: lib.sh's development switch off.
unset TRAEFIKEE_INSECURE TRAEFIKEE_BUNDLE TRAEFIKEE_CONTROL TRAEFIKEE_REDIS_PASSWORD
HERE=$ROOT/integration/security

command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
    { fail setup "redis-server and redis-cli needed"; exit 1; }
"$PY" -c 'import grpc' 2>/dev/null || { fail setup "python3-grpcio needed"; exit 1; }

# (binaries copied: other builds may rewrite bazel-bin)
TARGETS=(//controlplane //dataplane //tools/traefikeectl //tools/whoami)
build "${TARGETS[@]}"
copy_bins "${TARGETS[@]}"
CP=$TMP/bin/controlplane
DP=$TMP/bin/dataplane
CTL=$TMP/bin/traefikeectl
WHOAMI=$TMP/bin/whoami
# no default bundle for traefikeectl (after bazel, which keeps its cache
# under the real HOME)
export HOME=$TMP/home XDG_CONFIG_HOME=$TMP/home/.config
mkdir -p "$HOME"

probe() { timeout 20 "$PY" "$HERE/probe.py" "$@" 2>&1 | tail -1; } # gRPC logs on stderr
# expect CASE WANT OUTPUT: ok when OUTPUT starts with one of the codes WANT
# ("UNAUTHENTICATED|UNAVAILABLE")
expect() {
    if [[ "$3" =~ ^($2)( |$) ]]; then ok "$1"; else fail "$1" "want $2, got: $3"; fi
}
refused() { # a handshake the server refused: an alert, or closed by a live server
    echo "$1" >>"$TMP/refused.log"
    [[ "$1" =~ ^(ALERT|CLOSED|UNAVAILABLE)( |$) && "$1" != *"Connection refused"* ]]
}
mode() { stat -c %a "$1" 2>/dev/null; }
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 2>/dev/null; }
subject() { openssl x509 -in "$1" -noout -subject -nameopt sep_multiline 2>/dev/null | tr -d ' ' | tr '\n' ' '; }
is_cert() { # is_cert FILE ROLE ID: the subject has OU=ROLE and CN=ID
    local s=" $(subject "$1") "
    [[ "$s" == *" OU=$2 "* && "$s" == *" CN=$3 "* ]]
}

# ==== certificates that are not the cluster's ====
C=$TMP/certs
sh dataplane/tls/testdata/gen.sh "$C" || { fail certs; exit 1; }
# another CA, and an admin-looking certificate it signed
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/evil-ca.key" \
    -out "$C/evil-ca.crt" -days 2 -subj "/CN=traefikee cluster CA evil" >/dev/null 2>&1
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/evil.key" \
    -out "$C/evil.csr" -subj "/OU=admin/CN=evil" >/dev/null 2>&1
printf 'extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:traefikee-control\n' >"$C/evil.ext"
openssl x509 -req -in "$C/evil.csr" -CA "$C/evil-ca.crt" -CAkey "$C/evil-ca.key" -CAcreateserial \
    -out "$C/evil.crt" -extfile "$C/evil.ext" -days 2 >/dev/null 2>&1
[ -s "$C/evil.crt" ] || { fail certs "another CA"; exit 1; }
# a key and CSR for the joins made with probe.py (the subject is ignored)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/j.key" \
    -out "$C/j.csr" -subj "/CN=ignored" >/dev/null 2>&1

# ==== Redis with a password ====
P_REDIS=$(freeport)
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/redis-password"
chmod 600 "$TMP/redis-password"
RPW=$(cat "$TMP/redis-password")
start_redis redis "$P_REDIS" "" --appendonly no --requirepass "$RPW"
wait_for 5 redis-cli -p "$P_REDIS" -a "$RPW" --no-auth-warning ping || { fail redis; exit 1; }
rcli() { redis-cli -p "$P_REDIS" -a "$RPW" --no-auth-warning "$@"; }

P_W=$(freeport)
start_whoami w1 "$P_W"

# ==== cp1 creates the cluster ====
start_cp() { # start_cp NAME [flags...]: sets G_<NAME> H_<NAME> PID_<NAME>
    local n=$1 g h; shift
    g=$(freeport); h=$(freeport)
    mkdir -p "$TMP/$n"
    "$CP" --node-id "$n" --grpc-addr "127.0.0.1:$g" --http-addr "127.0.0.1:$h" \
        --redis "127.0.0.1:$P_REDIS" --redis-password-file "$TMP/redis-password" \
        --data-dir "$TMP/$n" --lease 2s "$@" >"$TMP/$n.out" 2>"$TMP/$n.log" &
    PIDS+=($!)
    eval "G_$n=$g H_$n=$h PID_$n=$!"
}
P_PLAIN=$(freeport)
start_cp cp1 --cluster-key-file "$TMP/cluster.key" --xds-plaintext-addr "127.0.0.1:$P_PLAIN"
BUNDLE=$TMP/cp1/traefikeectl.bundle
CA=$TMP/cp1/ca.crt
ctl() { "$CTL" --control "127.0.0.1:$G_cp1" --bundle "$BUNDLE" "$@"; }
if wait_for 20 sh -c "'$CTL' --control 127.0.0.1:$G_cp1 --bundle '$BUNDLE' list-nodes | grep -q 'cp1 .*Leader'"; then
    ok cp1-up-with-admin-bundle
else
    fail cp1-up-with-admin-bundle "$(tail -5 "$TMP/cp1.log")"
    exit 1
fi
[ "$(mode "$TMP/cluster.key")" = 600 ] && grep -qE '^[0-9a-f]{64}$' "$TMP/cluster.key" &&
    ok cluster-key-made-0600 || fail cluster-key-made-0600 "$(ls -l "$TMP/cluster.key" 2>&1)"
wait_for 10 test -s "$TMP/cp1/admin-password" # written by the leader once it leads
bad=""
for f in traefikeectl.bundle node.key admin-password; do
    [ "$(mode "$TMP/cp1/$f")" = 600 ] || bad="$bad $f:$(mode "$TMP/cp1/$f")"
done
[ -z "$bad" ] && ok control-files-0600 || fail control-files-0600 "$bad"
is_cert "$TMP/cp1/node.crt" control cp1 &&
    ok control-cert-role-and-id || fail control-cert-role-and-id "$(subject "$TMP/cp1/node.crt")"
cakey=$(rcli hget traefikee:ca key)
if [[ "$cakey" == v1:* ]] && [ -n "$(rcli hget traefikee:ca cert)" ] &&
    ! rcli hgetall traefikee:ca | grep -q 'PRIVATE KEY'; then ok ca-in-redis-key-sealed
else fail ca-in-redis-key-sealed "key=${cakey:0:20}"; fi
openssl x509 -in "$CA" -noout -text 2>/dev/null | grep -q 'CA:TRUE' &&
    [ "$(fp "$CA")" = "$(rcli hget traefikee:ca cert | openssl x509 -noout -fingerprint -sha256)" ] &&
    ok ca-file-is-the-cluster-ca || fail ca-file-is-the-cluster-ca

# ==== tokens ====
ctl tokens >"$TMP/tokens.out" 2>&1
CTOK=$(grep -oE 'TKE1\.control\.[0-9a-f]{32}\.[0-9a-f]{64}' "$TMP/tokens.out" | head -1)
DTOK=$(grep -oE 'TKE1\.data\.[0-9a-f]{32}\.[0-9a-f]{64}' "$TMP/tokens.out" | head -1)
cafp=$(fp "$CA" | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f')
if [ -n "$CTOK" ] && [ -n "$DTOK" ] && [ "${DTOK##*.}" = "$cafp" ]; then ok tokens-printed
else fail tokens-printed "$(cat "$TMP/tokens.out")"; fi
ctl tokens 2>/dev/null | grep -qF "$DTOK" && ok tokens-stable || fail tokens-stable
secret=$(echo "$DTOK" | cut -d. -f3)
! rcli hgetall traefikee:tokens | grep -qF "$secret" && ok tokens-secret-not-in-redis ||
    fail tokens-secret-not-in-redis

# ==== cp2 joins with the control token (no cluster key of its own) ====
# (the token from a file: --join-token-file keeps it out of argv)
printf '%s\n' "$CTOK" >"$TMP/control-token" && chmod 600 "$TMP/control-token"
start_cp cp2 --cluster-key-file "$TMP/cp2/cluster.key" --join-token-file "$TMP/control-token"
if wait_for 20 sh -c "'$CTL' --control 127.0.0.1:$G_cp2 --bundle '$BUNDLE' list-nodes | grep -q '^ *cp2 '"; then
    ok cp2-joined-with-control-token
else fail cp2-joined-with-control-token "$(tail -5 "$TMP/cp2.log")"; fi
cmp -s "$TMP/cluster.key" "$TMP/cp2/cluster.key" && ok cp2-got-cluster-key ||
    fail cp2-got-cluster-key "$(ls -l "$TMP/cp2" 2>&1 | tr '\n' ' ')"
out=$(probe --bundle "$BUNDLE" "127.0.0.1:$G_cp2" version)
expect admin-calls-cp2 OK "$out"

# ==== cp3 issues 10-second certificates: an expired admin and data one ====
start_cp cp3 --cluster-key-file "$TMP/cluster.key" --cert-ttl 10s
wait_for 20 test -s "$TMP/cp3/traefikeectl.bundle" && cp "$TMP/cp3/traefikeectl.bundle" "$C/short-admin.bundle"
out=$(probe --ca "$CA" "127.0.0.1:$G_cp3" join "$DTOK" short-dp "$C/j.csr" "$C/short.crt")
[ -s "$C/short-admin.bundle" ] && [[ "$out" == OK* ]] && ok short-lived-certs-issued ||
    fail short-lived-certs-issued "bundle: $(ls "$TMP/cp3" 2>&1 | tr '\n' ' '); join: $out; $(tail -3 "$TMP/cp3.log")"
kill "$PID_cp3" 2>/dev/null

# ==== the configuration, a data node joining with the data token ====
P_WEB=$(freeport); P_TLS=$(freeport); A1=$(freeport); A2=$(freeport)
# The data nodes listen on loopback addresses of their own (--listen-host):
# the entry points are SO_REUSEPORT, so a port another test on this machine
# happened to pick as well would share our connections on 127.0.0.1.
lh() { echo "127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$1"; }
LH=$(lh 1) LH2=$(lh 2) LH3=$(lh 3)
config() { # config [EXTRA ROUTER LINE]
    cat <<YAML
entryPoints:
  web: {address: "127.0.0.1:$P_WEB"}
  websecure: {address: "127.0.0.1:$P_TLS"}
http:
  routers:
    ${1:-}
    app: {rule: "PathPrefix(\`/x\`)", service: app, entryPoints: [web]}
    apps: {rule: "PathPrefix(\`/\`)", service: app, entryPoints: [websecure], tls: {}}
  services:
    app: {loadBalancer: {servers: [{url: "http://127.0.0.1:$P_W"}]}}
tls:
  certificates:
    - {certFile: $C/a.crt, keyFile: $C/a.key}
YAML
}
config >"$TMP/cfg.yaml"
ctl apply -f "$TMP/cfg.yaml" >"$TMP/apply.out" 2>&1 && ok admin-applies || fail admin-applies "$(cat "$TMP/apply.out")"

start_dp() { # start_dp NAME ADMIN_PORT [flags...]: sets PID_<NAME>
    local n=$1 a=$2; shift 2
    "$DP" --control "127.0.0.1:$G_cp1,127.0.0.1:$G_cp2" --node-id "$n" --cache-dir "$TMP/$n" \
        --workers 2 --admin-addr "127.0.0.1:$a" "$@" >>"$TMP/$n.log" 2>&1 &
    PIDS+=($!)
    eval "PID_$n=$!"
}
https_ok() { # one HTTPS request through the TLS entry point
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 --cacert "$C/ca.crt" \
        --resolve "a.test:$P_TLS:$LH" "https://a.test:$P_TLS/s")" = 200 ]
}
start_dp dp1 "$A1" --join-token "$DTOK" --listen-host "$LH"
if wait_for 20 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://$LH:$P_WEB/x)\" = 200 ]"; then
    ok data-node-joins-and-serves
else fail data-node-joins-and-serves "$(curl -sv --max-time 3 "http://$LH:$P_WEB/x" 2>&1 | tail -5)"; fi
is_cert "$TMP/dp1/node.crt" data dp1 && [ "$(mode "$TMP/dp1/node.key")" = 600 ] &&
    ok data-cert-saved || fail data-cert-saved "$(subject "$TMP/dp1/node.crt") $(ls -l "$TMP/dp1" 2>&1 | tr '\n' ' ')"
DFP=$(fp "$TMP/dp1/node.crt")
wait_for 10 sh -c "'$CTL' --control 127.0.0.1:$G_cp1 --bundle '$BUNDLE' list-nodes | grep -q '^ *dp1 '" &&
    ok data-node-listed || fail data-node-listed "$(ctl list-nodes 2>&1)"

# restarted without the token: the saved certificate
kill "$PID_dp1"; wait "$PID_dp1" 2>/dev/null
start_dp dp1 "$A1" --listen-host "$LH"
config "new: {rule: \"Path(\`/new\`)\", service: app, entryPoints: [web]}" >"$TMP/cfg2.yaml"
ctl apply -f "$TMP/cfg2.yaml" >"$TMP/apply2.out" 2>&1
new_route() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$LH:$P_WEB/new")" = 200 ]; }
if wait_for 15 new_route && [ "$(fp "$TMP/dp1/node.crt")" = "$DFP" ] && kill -0 "$PID_dp1" 2>/dev/null; then
    ok data-node-restart-reuses-cert
else fail data-node-restart-reuses-cert "$(tail -3 "$TMP/dp1.log")"; fi

# ==== refused: no certificate, another CA, plain text ====
out=$(probe --ca "$CA" "127.0.0.1:$G_cp1" version)
expect no-cert-management-unauthenticated UNAUTHENTICATED "$out"
out=$(probe --ca "$CA" "127.0.0.1:$G_cp1" ads nocert)
expect no-cert-no-ads-stream UNAUTHENTICATED "$out"
out=$(probe --ca "$CA" "127.0.0.1:$G_cp1" tokens)
expect no-cert-no-tokens UNAUTHENTICATED "$out"
cp "$CA" "$TMP/ca-only.bundle"; chmod 600 "$TMP/ca-only.bundle"
# traefikeectl says so before calling (the server side is probe.py's above)
out=$("$CTL" --control "127.0.0.1:$G_cp1" --bundle "$TMP/ca-only.bundle" list-nodes 2>&1)
[ $? -ne 0 ] && [[ "$out" == *"not a usable bundle"* ]] && ok ctl-ca-only-bundle-refused ||
    fail ctl-ca-only-bundle-refused "$out"
out=$("$CTL" --control "127.0.0.1:$G_cp1" list-nodes 2>&1)
[ $? -ne 0 ] && [[ "$out" == *"no credentials"* ]] && ok ctl-without-bundle-refused ||
    fail ctl-without-bundle-refused "$out"

out=$(probe --bundle "$BUNDLE" "127.0.0.1:$G_cp1" tls)
expect raw-tls-admin-accepted OK "$out" # what the refusals below are measured against
EV=(--ca "$CA" --cert "$C/evil.crt" --key "$C/evil.key")
out=$(probe "${EV[@]}" "127.0.0.1:$G_cp1" tls)
refused "$out" && ok other-ca-handshake-refused || fail other-ca-handshake-refused "$out"
out=$(probe "${EV[@]}" "127.0.0.1:$G_cp1" version)
refused "$out" && ok other-ca-no-management || fail other-ca-no-management "$out"
out=$(probe "${EV[@]}" "127.0.0.1:$G_cp1" ads evil)
refused "$out" && ok other-ca-no-ads || fail other-ca-no-ads "$out"
out=$(probe "${EV[@]}" "127.0.0.1:$G_cp1" join "$DTOK" evil "$C/j.csr" "$TMP/evil-join.crt")
refused "$out" && ok other-ca-no-join || fail other-ca-no-join "$out"
# a client trusting another CA does not accept the control node either
out=$(probe --ca "$C/evil-ca.crt" "127.0.0.1:$G_cp1" join "$DTOK" x "$C/j.csr" "$TMP/x.crt")
refused "$out" && ok client-checks-server-ca || fail client-checks-server-ca "$out"

out=$(probe --plain "127.0.0.1:$G_cp1" version)
refused "$out" && ok plaintext-management-refused || fail plaintext-management-refused "$out"
out=$(probe --plain "127.0.0.1:$G_cp1" ads plain)
refused "$out" && ok plaintext-ads-refused || fail plaintext-ads-refused "$out"

# the explicit plain-text ADS port: ADS only
out=$(probe --plain "127.0.0.1:$P_PLAIN" ads plain-ads)
expect xds-plaintext-port-serves-ads OK "$out"
out=$(probe --plain "127.0.0.1:$P_PLAIN" version)
expect xds-plaintext-port-no-management UNAUTHENTICATED "$out"
out=$(probe --plain "127.0.0.1:$P_PLAIN" join "$DTOK" p "$C/j.csr" "$TMP/p.crt")
expect xds-plaintext-port-no-join UNAUTHENTICATED "$out"

# ==== a data certificate: ADS yes, Management no ====
DC=(--ca "$CA" --cert "$TMP/dp1/node.crt" --key "$TMP/dp1/node.key")
out=$(probe "${DC[@]}" "127.0.0.1:$G_cp1" ads dp1-probe)
expect data-cert-opens-ads OK "$out"
out=$(probe "${DC[@]}" "127.0.0.1:$G_cp1" apply "$TMP/cfg.yaml")
expect data-cert-cannot-apply PERMISSION_DENIED "$out"
out=$(probe "${DC[@]}" "127.0.0.1:$G_cp2" apply "$TMP/cfg.yaml")
expect data-cert-cannot-apply-cp2 PERMISSION_DENIED "$out"
out=$(probe "${DC[@]}" "127.0.0.1:$G_cp1" tokens)
expect data-cert-no-tokens PERMISSION_DENIED "$out"
cat "$TMP/dp1/ca.crt" "$TMP/dp1/node.crt" "$TMP/dp1/node.key" >"$TMP/data.bundle"
chmod 600 "$TMP/data.bundle"
if out=$("$CTL" --control "127.0.0.1:$G_cp1" --bundle "$TMP/data.bundle" apply -f "$TMP/cfg.yaml" 2>&1); then
    fail ctl-data-bundle-cannot-apply "$out"
else ok ctl-data-bundle-cannot-apply; fi
out=$(probe --bundle "$BUNDLE" "127.0.0.1:$G_cp1" apply "$TMP/cfg.yaml")
expect admin-cert-may-apply OK "$out"

# ==== expired certificates (cp3's, 10 s) ====
expired() { ! openssl x509 -in "$1" -noout -checkend 0 >/dev/null 2>&1; }
wait_for 15 expired "$C/short.crt"
awk '/BEGIN CERTIFICATE/ {n++} n == 2' "$C/short-admin.bundle" >"$C/short-admin.crt" # the leaf
wait_for 5 expired "$C/short-admin.crt"
sleep 1 # past the second
if ! expired "$C/short.crt"; then
    fail expired-cert-made "$(openssl x509 -in "$C/short.crt" -noout -enddate 2>&1)"
else
    out=$(probe --ca "$CA" --cert "$C/short.crt" --key "$C/j.key" "127.0.0.1:$G_cp1" tls)
    refused "$out" && ok expired-handshake-refused || fail expired-handshake-refused "$out"
    out=$(probe --ca "$CA" --cert "$C/short.crt" --key "$C/j.key" "127.0.0.1:$G_cp1" ads short-dp)
    refused "$out" && ok expired-no-ads || fail expired-no-ads "$out"
    out=$(probe --ca "$CA" --cert "$C/short.crt" --key "$C/j.key" "127.0.0.1:$G_cp1" join "$DTOK" s "$C/j.csr" "$TMP/s.crt")
    refused "$out" && ok expired-no-join || fail expired-no-join "$out"
    out=$(probe --bundle "$C/short-admin.bundle" "127.0.0.1:$G_cp1" version)
    refused "$out" && ok expired-admin-no-management || fail expired-admin-no-management "$out"
fi

# ==== Redis: the password ====
out=$(redis-cli -p "$P_REDIS" get traefikee:x 2>&1)
[[ "$out" == *NOAUTH* ]] && ok redis-without-password-noauth || fail redis-without-password-noauth "$out"
out=$(redis-cli -p "$P_REDIS" -a wrong --no-auth-warning ping 2>&1)
[[ "$out" == *WRONGPASS* || "$out" == *invalid* ]] && ok redis-wrong-password-refused ||
    fail redis-wrong-password-refused "$out"
# a control node without the password cannot use the store
g=$(freeport); h=$(freeport)
mkdir -p "$TMP/cpn"
"$CP" --node-id cpn --grpc-addr "127.0.0.1:$g" --http-addr "127.0.0.1:$h" --redis "127.0.0.1:$P_REDIS" \
    --data-dir "$TMP/cpn" --cluster-key-file "$TMP/cluster.key" >"$TMP/cpn.out" 2>"$TMP/cpn.log" &
PIDS+=($!)
cpn=$!
sleep 3
if "$CTL" --control "127.0.0.1:$G_cp1" --bundle "$BUNDLE" list-nodes 2>/dev/null | grep -q '^ *cpn .*Healthy'; then
    fail control-node-without-redis-password "listed healthy"
elif grep -qi 'auth\|password' "$TMP/cpn.log"; then ok control-node-without-redis-password
else fail control-node-without-redis-password "no auth error logged: $(tail -3 "$TMP/cpn.log")"; fi
kill "$cpn" 2>/dev/null

# ==== the dashboard: HTTPS with the cluster CA only ====
APW=$(cat "$TMP/cp1/admin-password" 2>/dev/null)
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$CA" -u "admin:$APW" \
    "https://127.0.0.1:$H_cp1/api/overview")
[ "$code" = 200 ] && ok dashboard-https-cluster-ca || fail dashboard-https-cluster-ca "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$CA" "https://127.0.0.1:$H_cp1/metrics")
[ "$code" = 200 ] && ok metrics-https || fail metrics-https "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -u "admin:$APW" "http://127.0.0.1:$H_cp1/api/overview")
[[ "$code" != 2* ]] && ok dashboard-plain-http-refused || fail dashboard-plain-http-refused "$code"
curl -s -o /dev/null --max-time 5 --cacert "$C/ca.crt" "https://127.0.0.1:$H_cp1/ping" &&
    fail dashboard-other-ca-not-trusted || ok dashboard-other-ca-not-trusted

# ==== rotation: the old tokens stop working ====
ctl tokens --rotate >"$TMP/rotate.out" 2>&1
NDTOK=$(grep -oE 'TKE1\.data\.[0-9a-f]{32}\.[0-9a-f]{64}' "$TMP/rotate.out" | head -1)
NCTOK=$(grep -oE 'TKE1\.control\.[0-9a-f]{32}\.[0-9a-f]{64}' "$TMP/rotate.out" | head -1)
[ -n "$NDTOK" ] && [ "$NDTOK" != "$DTOK" ] && [ -n "$NCTOK" ] && [ "$NCTOK" != "$CTOK" ] &&
    ok tokens-rotated || fail tokens-rotated "$(cat "$TMP/rotate.out")"
out=$(probe --ca "$CA" "127.0.0.1:$G_cp1" join "$DTOK" rot1 "$C/j.csr" "$TMP/rot1.crt")
expect rotated-data-token-refused UNAUTHENTICATED "$out"
out=$(probe --ca "$CA" "127.0.0.1:$G_cp1" join "$CTOK" rot2 "$C/j.csr" "$TMP/rot2.crt")
expect rotated-control-token-refused UNAUTHENTICATED "$out"
sleep 1.5 # the other control nodes within a heartbeat
out=$(probe --ca "$CA" "127.0.0.1:$G_cp2" join "$DTOK" rot3 "$C/j.csr" "$TMP/rot3.crt")
expect rotated-token-refused-cp2 UNAUTHENTICATED "$out"
out=$(probe --ca "$CA" "127.0.0.1:$G_cp2" join "$NDTOK" rot4 "$C/j.csr" "$TMP/rot4.crt")
expect new-token-joins OK "$out"
AR=$(freeport)
start_dp dpr "$AR" --join-token "$DTOK" --listen-host "$LH3"
wait_for 5 sh -c "! kill -0 $PID_dpr"
if [ -s "$TMP/dpr/node.crt" ] || curl -sf "http://127.0.0.1:$AR/ready" >/dev/null 2>&1; then
    fail dataplane-rotated-token-refused "$(tail -3 "$TMP/dpr.log")"
else ok dataplane-rotated-token-refused; fi
kill "$PID_dpr" 2>/dev/null

# ==== revocation: dp2's stream ends, refused on reconnect ====
printf '  %s\n' "$NDTOK" >"$TMP/data-token" && chmod 600 "$TMP/data-token"
start_dp dp2 "$A2" --join-token-file "$TMP/data-token" --listen-host "$LH2"
wait_for 20 curl -sf "http://127.0.0.1:$A2/ready" || fail dp2-ready "$(tail -3 "$TMP/dp2.log")"
D2=(--ca "$CA" --cert "$TMP/dp2/node.crt" --key "$TMP/dp2/node.key")
timeout 30 "$PY" "$HERE/probe.py" "${D2[@]}" "127.0.0.1:$G_cp2" hold dp2-hold 20 >"$TMP/hold.out" 2>&1 &
PIDS+=($!)
hold=$!
wait_for 10 grep -q '^OK first' "$TMP/hold.out" || fail revoke-hold-stream "$(cat "$TMP/hold.out")"
t0=$SECONDS
ctl revoke dp2 >"$TMP/revoke.out" 2>&1 && ok revoke-command || fail revoke-command "$(cat "$TMP/revoke.out")"
if wait_for 5 grep -q '^ENDED' "$TMP/hold.out"; then ok revoked-stream-ended
else fail revoked-stream-ended "$(cat "$TMP/hold.out") after $((SECONDS - t0)) s"; fi
kill "$hold" 2>/dev/null
out=$(probe "${D2[@]}" "127.0.0.1:$G_cp1" ads dp2)
expect revoked-refused-on-reconnect "UNAUTHENTICATED|PERMISSION_DENIED" "$out"
out=$(probe "${D2[@]}" "127.0.0.1:$G_cp2" ads dp2)
expect revoked-refused-on-reconnect-cp2 "UNAUTHENTICATED|PERMISSION_DENIED" "$out"
# re-admitted with a join token: a newer certificate that works
out=$(probe --ca "$CA" "127.0.0.1:$G_cp1" join "$NDTOK" dp2 "$C/j.csr" "$TMP/dp2-new.crt")
out2=$(probe --ca "$CA" --cert "$TMP/dp2-new.crt" --key "$C/j.key" "127.0.0.1:$G_cp1" ads dp2)
[[ "$out" == OK* && "$out2" == OK* ]] && ok revoked-node-readmitted || fail revoked-node-readmitted "join: $out; ads: $out2"
# the other data node is untouched
expect other-data-node-unaffected OK "$(probe "${DC[@]}" "127.0.0.1:$G_cp1" ads dp1-after)"
kill "$PID_dp2" 2>/dev/null

# ==== edge TLS on dp1's entry point ====
https_ok && ok edge-https-served || fail edge-https-served
rss0=$(kb "$PID_dp1" VmRSS)
t0=$(now_ms)
out=$("$PY" "$HERE/edge.py" garbage "$LH" "$P_TLS")
ms=$(($(now_ms) - t0))
if [ "$(echo "$out" | grep -c '^closed')" = 2 ] && [ "$ms" -lt 3000 ]; then ok edge-garbage-closed-promptly
else fail edge-garbage-closed-promptly "$out ($ms ms)"; fi
# the control node's TLS ports: garbage closed at once too
for port in "$H_cp1" "$G_cp1"; do
    out=$("$PY" "$HERE/edge.py" garbage 127.0.0.1 "$port" | tr '\n' ' ')
    [[ "$out" == "closed "*" closed "* ]] && ok "cp-garbage-closed-$([ "$port" = "$G_cp1" ] && echo grpc || echo https)" ||
        fail "cp-garbage-closed-$([ "$port" = "$G_cp1" ] && echo grpc || echo https)" "$out"
done
# 200 stalled handshakes on the data node's entry point, 100 on the
# dashboard's and 100 on the gRPC port of cp1, all at once
"$PY" "$HERE/edge.py" stall "$LH" "$P_TLS" 200 25 >"$TMP/stall.out" 2>&1 &
PIDS+=($!)
stall=$!
"$PY" "$HERE/edge.py" stall 127.0.0.1 "$H_cp1" 100 25 >"$TMP/stall-https.out" 2>&1 &
PIDS+=($!)
stall_h=$!
"$PY" "$HERE/edge.py" stall 127.0.0.1 "$G_cp1" 100 15 >"$TMP/stall-grpc.out" 2>&1 &
PIDS+=($!)
stall_g=$!
wait_for 10 grep -q '^open' "$TMP/stall.out"
wait_for 10 grep -q '^open' "$TMP/stall-grpc.out"
served=0 tries=0 cp_served=0
while kill -0 "$stall" 2>/dev/null && [ $tries -lt 60 ]; do
    tries=$((tries + 1))
    https_ok && served=$((served + 1))
    if [ $((tries % 4)) = 1 ]; then
        [[ "$(probe --bundle "$BUNDLE" "127.0.0.1:$G_cp1" version)" == OK* ]] &&
            [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 --cacert "$CA" \
                "https://127.0.0.1:$H_cp1/metrics")" = 200 ] && cp_served=$((cp_served + 1))
    fi
    [ $tries = 4 ] && rss1=$(kb "$PID_dp1" VmRSS)
    sleep 0.5
done
wait "$stall" "$stall_h" "$stall_g"
st=$(cat "$TMP/stall.out" | tr '\n' ' ')
last=$(awk '/^closed/ {print $3}' "$TMP/stall.out")
if grep -q '^closed 200/200' "$TMP/stall.out" && awk -v t="$last" 'BEGIN {exit !(t >= 5 && t <= 15)}'; then
    ok edge-stalled-handshakes-timed-out
else fail edge-stalled-handshakes-timed-out "$st"; fi
[ "$served" -ge $((tries - 1)) ] && [ "$tries" -ge 8 ] && ok edge-served-during-stall ||
    fail edge-served-during-stall "$served of $tries HTTPS requests"
[ "$cp_served" -ge $(((tries + 3) / 4)) ] && ok cp-served-during-stall ||
    fail cp-served-during-stall "$cp_served of $(((tries + 3) / 4)) (management call + HTTPS /metrics)"
grep -q '^closed 100/100' "$TMP/stall-https.out" && ok cp-https-stalled-handshakes-timed-out ||
    fail cp-https-stalled-handshakes-timed-out "$(cat "$TMP/stall-https.out" | tr '\n' ' ')"
grep -q '^closed 100/100' "$TMP/stall-grpc.out" && ok cp-grpc-stalled-handshakes-timed-out ||
    fail cp-grpc-stalled-handshakes-timed-out "$(cat "$TMP/stall-grpc.out" | tr '\n' ' ')"
rss2=$(kb "$PID_dp1" VmRSS)
echo "rss dp1: before ${rss0} kB, 200 stalled ${rss1:-?} kB, after ${rss2} kB"
if [ -n "${rss1:-}" ] && [ $((rss1 - rss0)) -lt $((200 * 100)) ] && [ $((rss2 - rss0)) -lt $((200 * 100)) ]; then
    ok edge-rss-bounded
else fail edge-rss-bounded "before $rss0 during ${rss1:-?} after $rss2 kB"; fi
# the same again: memory is reused, not grown
"$PY" "$HERE/edge.py" stall "$LH" "$P_TLS" 200 25 >"$TMP/stall2.out" 2>&1
rss3=$(kb "$PID_dp1" VmRSS)
grep -q '^closed 200/200' "$TMP/stall2.out" && [ $((rss3 - rss2)) -lt 4096 ] && ok edge-rss-no-growth ||
    fail edge-rss-no-growth "after round 1 $rss2 kB, round 2 $rss3 kB; $(cat "$TMP/stall2.out" | tr '\n' ' ')"
https_ok && kill -0 "$PID_dp1" && ok edge-still-serving || fail edge-still-serving

[ "$FAILS" -eq 0 ] && echo "all security cases passed ($SECONDS s)" || echo "$FAILS failed ($SECONDS s)"
[ "$FAILS" -eq 0 ]
