#!/usr/bin/env bash
# integration/tls/run.sh -- TLS at the edge and to backends, with
# certificates made by the openssl CLI (dataplane/tls/testdata/gen.sh: a
# test CA, a.test, *.b.test, an expired one, a second a.test for rotation).
# Part 1, standalone data node (--config): certificate per SNI (exact and
# wildcard), default certificate without SNI, TLS 1.1 refused, ALPN
# (h2 preferred, http/1.1 when asked; curl --http2 gets HTTP/2 in both
# modes), session resumption, X-Forwarded-Proto, https backends (openssl
# s_server) verified with the right CA, refused with the wrong one, the
# explicit insecureSkipVerify, active health checks over TLS (healthy,
# down when the backend stops, up when it returns; a backend whose
# certificate another CA signed is unhealthy). Part 2, a control node (embedded Redis) and
# a data node over xDS/SDS: traefikeectl create/get/delete tls-cert, a
# rotation while a keep-alive TLS connection stays open. Part 3, secure
# mode (a cluster CA, a data node joining with a token): a router to
# api@internal keeps its /ping health check, run over HTTPS to the
# control node and healthy.
#
#   integration/tls/run.sh        (TLS_ASAN=1: ASan+UBSan build)
#
# Prints "ok <case>" / "FAIL <case>"; exits non-zero if any failed. Only
# the pids started here are killed.
NAME=tls-it
. "$(dirname "$0")/../lib.sh" || exit 2

# ---- build (binaries copied: other builds may rewrite bazel-bin) ----
[ -n "${TLS_ASAN:-}" ] && use_sanitizers
TARGETS=(//dataplane //controlplane //tools/whoami //tools/traefikeectl)
build "${TARGETS[@]}"
copy_bins "${TARGETS[@]}"
DP=$TMP/bin/dataplane
CP=$TMP/bin/controlplane
CTL=$TMP/bin/traefikeectl
WHOAMI=$TMP/bin/whoami

C=$TMP/certs
sh dataplane/tls/testdata/gen.sh "$C" || { fail certs; exit 1; }

P_TLS=$(freeport); P_WEB=$(freeport); P_W=$(freeport); P_S=$(freeport)
P_ADMIN=$(freeport); P_S2=$(freeport)
start_whoami w1 "$P_W"
openssl s_server -accept "$P_S" -cert "$C/ip.crt" -key "$C/ip.key" -www -quiet \
    >"$TMP/s_server.log" 2>&1 &
PIDS+=($!)
s_server2() { # the health-checked https backend, stopped and restarted
    openssl s_server -accept "$P_S2" -cert "$C/ip.crt" -key "$C/ip.key" -www -quiet \
        >>"$TMP/s_server2.log" 2>&1 &
    S2=$!
    PIDS+=($S2)
}
s_server2

config() { # config CERT_A: the document, with a.test from CERT_A
    cat <<YAML
entryPoints:
  websecure: {address: "127.0.0.1:$P_TLS"}
  web: {address: "127.0.0.1:$P_WEB"}
http:
  routers:
    app: {rule: "PathPrefix(\`/\`)", service: app, entryPoints: [websecure], tls: {}}
    up: {rule: "PathPrefix(\`/up\`)", service: sys, entryPoints: [web]}
    ca: {rule: "PathPrefix(\`/ca\`)", service: ca, entryPoints: [web]}
    wrong: {rule: "PathPrefix(\`/wrong\`)", service: wrong, entryPoints: [web]}
    skip: {rule: "PathPrefix(\`/skip\`)", service: skip, entryPoints: [web]}
    hc: {rule: "PathPrefix(\`/hc\`)", service: hc, entryPoints: [web]}
    hcwrong: {rule: "PathPrefix(\`/hw\`)", service: hcwrong, entryPoints: [web]}
  services:
    app: {loadBalancer: {servers: [{url: "http://127.0.0.1:$P_W"}]}}
    sys: {loadBalancer: {servers: [{url: "https://127.0.0.1:$P_S"}]}}
    ca: {loadBalancer: {serversTransport: ca, servers: [{url: "https://127.0.0.1:$P_S"}]}}
    wrong: {loadBalancer: {serversTransport: wrong, servers: [{url: "https://127.0.0.1:$P_S"}]}}
    skip: {loadBalancer: {serversTransport: skip, servers: [{url: "https://127.0.0.1:$P_S"}]}}
    hc:
      loadBalancer:
        serversTransport: ca
        servers: [{url: "https://127.0.0.1:$P_S2"}]
        healthCheck: {path: /health, interval: 200ms, timeout: 1s}
    hcwrong:
      loadBalancer:
        serversTransport: wrong
        servers: [{url: "https://127.0.0.1:$P_S"}]
        healthCheck: {path: /health, interval: 200ms, timeout: 1s}
  serversTransports:
    ca: {rootCAs: [$C/ca.crt]}
    wrong: {rootCAs: [$C/other-ca.crt]}
    skip: {insecureSkipVerify: true}
tls:
  certificates:
    - {name: a, certFile: $C/$1.crt, keyFile: $C/$1.key}
    - {certFile: $C/wild.crt, keyFile: $C/wild.key}
YAML
}

# subject CN of the certificate served for SNI $1 ("" = no SNI)
served_cn() {
    local sni=(-servername "$1")
    [ -z "$1" ] && sni=(-noservername)
    echo | timeout 5 openssl s_client -connect "127.0.0.1:$P_TLS" "${sni[@]}" 2>/dev/null |
        openssl x509 -noout -subject 2>/dev/null | sed 's/.*CN *= *//'
}
curl_tls() { # curl_tls HOST PATH [curl args]
    local h=$1 p=$2; shift 2
    curl -sS --max-time 5 --cacert "$C/ca.crt" --resolve "$h:$P_TLS:127.0.0.1" "$@" "https://$h:$P_TLS$p"
}
code_web() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$P_WEB$1"; }

# ==== part 1: standalone ====
config a >"$TMP/cfg.yaml"
"$DP" --config "$TMP/cfg.yaml" --workers 2 --admin-addr "127.0.0.1:$P_ADMIN" >"$TMP/dp.log" 2>&1 &
DPID=$!
PIDS+=($DPID)
wait_for 10 curl -s "http://127.0.0.1:$P_ADMIN/ready" || fail dp-ready "$(tail -3 "$TMP/dp.log")"
tls_up() { [ -n "$(served_cn a.test)" ]; }
wait_for 10 tls_up || fail tls-listener-up

[ "$(served_cn a.test)" = a ] && ok sni-exact || fail sni-exact "$(served_cn a.test)"
[ "$(served_cn x.b.test)" = wild ] && ok sni-wildcard || fail sni-wildcard "$(served_cn x.b.test)"
[ "$(served_cn "")" = a ] && ok default-cert-without-sni || fail default-cert-without-sni
[ "$(served_cn c.test)" = a ] && ok default-cert-unknown-sni || fail default-cert-unknown-sni
out=$(curl_tls a.test /hello) && echo "$out" | grep -q '^X-Forwarded-Proto: https' &&
    echo "$out" | grep -q '^Name: w1' && ok https-request-forwarded ||
    fail https-request-forwarded "$out"
curl_tls x.b.test /w -o /dev/null && ok curl-verifies-wildcard || fail curl-verifies-wildcard
if echo | timeout 5 openssl s_client -connect "127.0.0.1:$P_TLS" -tls1_1 >"$TMP/t11.out" 2>&1 &&
    grep -q 'Cipher is (NONE)\|alert' "$TMP/t11.out"; then ok tls11-refused
elif grep -q 'alert\|no protocols available\|Cipher is (NONE)' "$TMP/t11.out"; then ok tls11-refused
else fail tls11-refused "$(tail -3 "$TMP/t11.out")"; fi
for v in tls1_2 tls1_3; do
    echo | timeout 5 openssl s_client -connect "127.0.0.1:$P_TLS" -servername a.test -$v \
        >"$TMP/$v.out" 2>&1
    grep -q "^New, TLSv1\.[23]" "$TMP/$v.out" && ok "handshake-$v" || fail "handshake-$v"
done
echo | timeout 5 openssl s_client -connect "127.0.0.1:$P_TLS" -servername a.test -alpn h2,http/1.1 \
    >"$TMP/alpn.out" 2>&1
grep -q 'ALPN protocol: h2' "$TMP/alpn.out" && ok alpn-h2 || fail alpn-h2 "$(grep ALPN "$TMP/alpn.out")"
echo | timeout 5 openssl s_client -connect "127.0.0.1:$P_TLS" -servername a.test -alpn http/1.1 \
    >"$TMP/alpn11.out" 2>&1
grep -q 'ALPN protocol: http/1.1' "$TMP/alpn11.out" && ok alpn-http11 || fail alpn-http11 "$(grep ALPN "$TMP/alpn11.out")"
out=$(curl_tls a.test /h2 -w '%{http_version}\n' --http2)
[ "$(tail -1 <<<"$out")" = 2 ] && grep -q '^Name: w1' <<<"$out" && ok alpn-curl-http2 ||
    fail alpn-curl-http2 "$(tail -1 <<<"$out")"
v=$(curl_tls a.test / -o /dev/null -w '%{http_version}' --http1.1)
[ "$v" = 1.1 ] && ok alpn-curl-http11 || fail alpn-curl-http11 "$v"
echo | timeout 5 openssl s_client -connect "127.0.0.1:$P_TLS" -servername a.test -tls1_2 \
    -sess_out "$TMP/sess.pem" >/dev/null 2>&1
echo | timeout 5 openssl s_client -connect "127.0.0.1:$P_TLS" -servername a.test -tls1_2 \
    -sess_in "$TMP/sess.pem" >"$TMP/resume.out" 2>&1
grep -q '^Reused' "$TMP/resume.out" && ok session-resumption || fail session-resumption "$(grep -E '^(New|Reused)' "$TMP/resume.out")"

[ "$(code_web /up)" = 502 ] && ok upstream-untrusted-ca-502 || fail upstream-untrusted-ca-502 "$(code_web /up)"
[ "$(code_web /ca)" = 200 ] && ok upstream-verified-with-ca || fail upstream-verified-with-ca "$(code_web /ca)"
[ "$(code_web /wrong)" = 502 ] && ok upstream-wrong-ca-502 || fail upstream-wrong-ca-502
[ "$(code_web /skip)" = 200 ] && ok upstream-insecure-skip-verify || fail upstream-insecure-skip-verify
grep -q 'upstream_tls_failed.*certificate verify failed' "$TMP/dp.log" && ok upstream-failure-logged ||
    fail upstream-failure-logged

# active health checks over TLS, verified like traffic (admin /stats:
# "healthy" per endpoint; the reason of a failure in the log). A cluster
# whose every endpoint is down is still tried (Envoy's panic mode): 502.
hc_state() { # hc_state CLUSTER: true / false, from the admin's /stats
    curl -s --max-time 5 "http://127.0.0.1:$P_ADMIN/stats" |
        "$PY" -c 'import json,sys; print(str([e["healthy"] for e in json.load(sys.stdin)["endpoints"] if e["cluster"] == sys.argv[1]][0]).lower())' "$1"
}
hc_is() { [ "$(hc_state "$1")" = "$2" ]; }
hc_logged() { grep -q "$1" "$TMP/dp.log"; }
sleep 1 # five probe intervals
hc_is hc true && ! hc_logged 'endpoint_unhealthy cluster=hc ' && [ "$(code_web /hc)" = 200 ] &&
    ok hc-https-healthy || fail hc-https-healthy "$(hc_state hc) $(code_web /hc) $(grep -m1 'cluster=hc ' "$TMP/dp.log")"
kill "$S2"; wait "$S2" 2>/dev/null
# refused, or reset when the kill caught a probe in flight
wait_for 5 hc_is hc false && hc_logged 'endpoint_unhealthy cluster=hc .*reason="\(connect: connection refused\|read: connection reset by peer\)' &&
    ok hc-https-down-when-stopped ||
    fail hc-https-down-when-stopped "$(hc_state hc) $(code_web /hc) $(grep -m1 'cluster=hc ' "$TMP/dp.log")"
s_server2
wait_for 5 hc_is hc true && hc_logged 'endpoint_healthy cluster=hc ' && [ "$(code_web /hc)" = 200 ] &&
    ok hc-https-back-when-restarted || fail hc-https-back-when-restarted "$(hc_state hc) $(code_web /hc)"
wait_for 5 hc_is hcwrong false &&
    hc_logged 'endpoint_unhealthy cluster=hcwrong .*reason="TLS handshake: certificate verify failed' &&
    ok hc-https-other-ca-unhealthy ||
    fail hc-https-other-ca-unhealthy "$(hc_state hcwrong) $(code_web /hw) $(grep -m1 'cluster=hcwrong' "$TMP/dp.log")"

serial() { # the serial of the certificate served for a.test
    echo | openssl s_client -connect "127.0.0.1:$P_TLS" -servername a.test 2>/dev/null |
        openssl x509 -noout -serial
}
# keepalive OUT TENTHS: in the background (pid in KA), one keep-alive TLS
# connection to a.test: a request ("first STATUS SERIAL"), then TMP/ka-ready;
# once TMP/ka-go exists (at most TENTHS tenths of a second later) a second
# request on it ("after STATUS SAME_CERTIFICATE"); all in TMP/OUT.
keepalive() {
    rm -f "$TMP/ka-ready" "$TMP/ka-go"
    "$PY" - "$P_TLS" "$C/ca.crt" "$TMP" "$2" <<'PY' >"$TMP/$1" 2>&1 &
import socket, ssl, sys, time, os
port, ca, tmp, tenths = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="a.test")
def get():
    s.sendall(b"GET /k HTTP/1.1\r\nHost: a.test\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    head, _, body = buf.partition(b"\r\n\r\n")
    n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    while len(body) < n:
        body += s.recv(4096)
    return head.split(b"\r\n")[0].decode()
serial = s.getpeercert()["serialNumber"]
print("first", get(), serial, flush=True)
open(os.path.join(tmp, "ka-ready"), "w").close()
for _ in range(tenths):
    if os.path.exists(os.path.join(tmp, "ka-go")):
        break
    time.sleep(0.1)
print("after", get(), s.getpeercert()["serialNumber"] == serial, flush=True)
PY
    KA=$!
    PIDS+=("$KA")
    wait_for 5 test -e "$TMP/ka-ready"
}

# rotation by SIGHUP while a keep-alive TLS connection stays open: the
# old connection keeps its certificate and works, new ones get the new
keepalive keepalive.out 100
old_serial=$(serial)
config a2 >"$TMP/cfg.yaml"
kill -HUP "$DPID"
new_cert() { [ "$(serial)" != "$old_serial" ]; }
wait_for 5 new_cert && ok rotation-new-connections-new-cert || fail rotation-new-connections-new-cert
touch "$TMP/ka-go"
wait "$KA" 2>/dev/null
grep -q '^after HTTP/1.1 200 OK True' "$TMP/keepalive.out" && ok rotation-open-connection-kept ||
    fail rotation-open-connection-kept "$(cat "$TMP/keepalive.out")"

kill "$DPID"; wait "$DPID" 2>/dev/null
[ -z "${TLS_ASAN:-}" ] || ! grep -q 'ERROR: AddressSanitizer\|runtime error' "$TMP/dp.log" &&
    ok standalone-clean-exit || fail standalone-clean-exit "$(grep -m3 'ERROR\|runtime error' "$TMP/dp.log")"

# ==== part 2: through a control node, certificates over SDS ====
P_GRPC=$(freeport); P_HTTP=$(freeport); P_ADMIN2=$(freeport)
"$CP" --node-id cp1 --grpc-addr "127.0.0.1:$P_GRPC" --http-addr "127.0.0.1:$P_HTTP" \
    --data-dir "$TMP/cp" >"$TMP/cp.out" 2>"$TMP/cp.log" &
PIDS+=($!)
ctl() { "$CTL" --control "127.0.0.1:$P_GRPC" "$@"; }
wait_for 15 sh -c "'$CTL' --control 127.0.0.1:$P_GRPC list-nodes | grep -q 'cp1 .*Current Leader'" ||
    fail cp-up "$(tail -3 "$TMP/cp.log")"
# the YAML without certificates; they come from create tls-cert
config a | sed '/^tls:/,$d' >"$TMP/base.yaml"
cat >>"$TMP/base.yaml" <<YAML
tls:
  certificates:
    - {certFile: $C/wild.crt, keyFile: $C/wild.key}
YAML
ctl apply -f "$TMP/base.yaml" >"$TMP/apply.out" 2>&1 || fail apply "$(cat "$TMP/apply.out")"
ctl create tls-cert --cert "$C/a.crt" --key "$C/a.key" --name a >"$TMP/create.out" 2>&1 &&
    ok ctl-create-tls-cert || fail ctl-create-tls-cert "$(cat "$TMP/create.out")"
ctl get tls-certs >"$TMP/get.out" 2>&1
grep -q '^a  *a.test, localhost' "$TMP/get.out" && grep -q '^wild ' "$TMP/get.out" &&
    ok ctl-get-tls-certs || fail ctl-get-tls-certs "$(cat "$TMP/get.out")"
"$DP" --control "127.0.0.1:$P_GRPC" --node-id dp1 --workers 2 --admin-addr "127.0.0.1:$P_ADMIN2" \
    >"$TMP/dp2.log" 2>&1 &
DPID=$!
PIDS+=($DPID)
wait_for 15 curl -sf "http://127.0.0.1:$P_ADMIN2/ready" || fail dp-xds-ready "$(tail -3 "$TMP/dp2.log")"
wait_for 10 sh -c "echo | openssl s_client -connect 127.0.0.1:$P_TLS -servername a.test 2>/dev/null | grep -q 'CN *= *a$'"
[ "$(served_cn a.test)" = a ] && ok xds-sni-exact || fail xds-sni-exact "$(served_cn a.test)"
[ "$(served_cn x.b.test)" = wild ] && ok xds-sni-wildcard || fail xds-sni-wildcard
curl_tls a.test /x -o /dev/null && ok xds-https-request || fail xds-https-request
v=$(curl_tls a.test /x -o /dev/null -w '%{http_version}' --http2)
[ "$v" = 2 ] && ok xds-alpn-curl-http2 || fail xds-alpn-curl-http2 "$v"

# rotation through the control plane with an open keep-alive connection
keepalive keepalive2.out 150
old_serial=$(serial)
ctl create tls-cert --cert "$C/a2.crt" --key "$C/a2.key" --name a >"$TMP/create2.out" 2>&1 ||
    fail ctl-rotate "$(cat "$TMP/create2.out")"
wait_for 10 new_cert && ok xds-rotation-new-connections-new-cert || fail xds-rotation-new-connections-new-cert
touch "$TMP/ka-go"
wait "$KA" 2>/dev/null
grep -q '^after HTTP/1.1 200 OK' "$TMP/keepalive2.out" && ok xds-rotation-open-connection-kept ||
    fail xds-rotation-open-connection-kept "$(cat "$TMP/keepalive2.out")"

ctl delete tls-cert wild >"$TMP/del.out" 2>&1 && ok ctl-delete-tls-cert || fail ctl-delete-tls-cert "$(cat "$TMP/del.out")"
wild_gone() { local cn; cn=$(served_cn x.b.test); [ -n "$cn" ] && [ "$cn" != wild ]; }
wait_for 10 wild_gone && ok xds-deleted-cert-gone || fail xds-deleted-cert-gone "$(served_cn x.b.test)"
out=$(ctl delete tls-cert nope 2>&1); [ $? -ne 0 ] && echo "$out" | grep -q "no TLS certificate named 'nope'" &&
    ok ctl-delete-unknown || fail ctl-delete-unknown "$out"
# a key that does not match: traefikeectl refuses it; applied anyway (a
# document), the data node NACKs the secret and keeps serving the last good
out=$(ctl create tls-cert --cert "$C/a.crt" --key "$C/wild.key" --name bad 2>&1)
[ $? -ne 0 ] && echo "$out" | grep -q 'does not match' && ok ctl-mismatched-key-refused ||
    fail ctl-mismatched-key-refused "$out"
cat >>"$TMP/base.yaml" <<YAML
    - {name: a, certFile: $C/a2.crt, keyFile: $C/a2.key}
    - {name: bad, certFile: $C/a.crt, keyFile: $C/wild.key}
YAML
ctl apply -f "$TMP/base.yaml" >"$TMP/apply3.out" 2>&1 || fail apply-bad "$(cat "$TMP/apply3.out")"
nacked() { grep -q 'does not match' "$TMP/dp2.log"; }
wait_for 10 nacked && [ "$(served_cn a.test)" = a2 ] && ok xds-bad-secret-nacked-last-good-kept ||
    fail xds-bad-secret-nacked-last-good-kept "$(served_cn a.test)"

# ==== part 3: secure mode, api@internal checked over HTTPS ====
P_GRPC3=$(freeport); P_HTTP3=$(freeport); P_ADMIN3=$(freeport); P_WEB3=$(freeport)
env -u TRAEFIKEE_INSECURE "$CP" --node-id cps --grpc-addr "127.0.0.1:$P_GRPC3" \
    --http-addr "127.0.0.1:$P_HTTP3" --data-dir "$TMP/cps" --cluster-key-file "$TMP/cluster.key" \
    >"$TMP/cps.out" 2>"$TMP/cps.log" &
PIDS+=($!)
sctl() { env -u TRAEFIKEE_INSECURE "$CTL" --control "127.0.0.1:$P_GRPC3" --bundle "$TMP/cps/traefikeectl.bundle" "$@"; }
secure_up() { test -s "$TMP/cps/traefikeectl.bundle" && sctl list-nodes 2>/dev/null | grep -q 'cps .*Leader'; }
wait_for 20 secure_up ||
    fail secure-cp-up "$(tail -3 "$TMP/cps.log")"
cat >"$TMP/secure.yaml" <<YAML
entryPoints:
  web: {address: "127.0.0.1:$P_WEB3"}
http:
  routers:
    ping: {rule: "Path(\`/ping\`)", service: api@internal, entryPoints: [web]}
YAML
sctl apply -f "$TMP/secure.yaml" >"$TMP/apply-secure.out" 2>&1 || fail secure-apply "$(cat "$TMP/apply-secure.out")"
DTOK=$(sctl tokens 2>/dev/null | grep -oE 'TKE1\.data\.[0-9a-f]{32}\.[0-9a-f]{64}' | head -1)
env -u TRAEFIKEE_INSECURE "$DP" --control "127.0.0.1:$P_GRPC3" --node-id dps --join-token "$DTOK" \
    --cache-dir "$TMP/dps" --workers 1 --admin-addr "127.0.0.1:$P_ADMIN3" >"$TMP/dps.log" 2>&1 &
PIDS+=($!)
api_checked_healthy() { # the endpoint of api@internal: checked, healthy
    curl -s --max-time 5 "http://127.0.0.1:$P_ADMIN3/stats" | "$PY" -c '
import json, sys
e = [e for e in json.load(sys.stdin)["endpoints"] if e["cluster"] == "api@internal"]
sys.exit(0 if len(e) == 1 and e[0]["checked"] and e[0]["healthy"] else 1)'
}
ping_ok() { [ "$(curl -s --max-time 3 "http://127.0.0.1:$P_WEB3/ping")" = OK ]; }
wait_for 20 ping_ok && sleep 6 && api_checked_healthy && ping_ok &&
    ! grep -q 'endpoint_unhealthy cluster=api@internal' "$TMP/dps.log" &&
    ok secure-api-internal-checked-over-https ||
    fail secure-api-internal-checked-over-https "$(curl -s "http://127.0.0.1:$P_ADMIN3/stats") $(grep -m1 'api@internal' "$TMP/dps.log")"

echo "$FAILS failure(s)"
[ "$FAILS" -eq 0 ]
