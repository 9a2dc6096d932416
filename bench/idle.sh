#!/usr/bin/env bash
# bench/idle.sh -- memory of idle keep-alive connections, and route lookup
# time with many routes.
#   1. RSS of the data node (standalone, one whoami backend) with N idle
#      keep-alive client connections: a Python client opens N connections,
#      sends one request on each, reads the response, and leaves them open.
#      Goal: under 40 MiB for 10,000.
#   2. dataplane/router:router_bench: ns per lookup with 10, 1,000 and
#      10,000 routes. Goal: under 200 ns with 10,000.
#
#   bench/idle.sh         (CONNS=10000 WORKERS=2 H2=0 REQ_PATH=/bench)
#
# H2=1: the connections speak cleartext HTTP/2 (prior knowledge) instead;
# REQ_PATH=/data?size=65536 makes each first response large (what the
# connection's buffers keep once idle is what the figure shows).
#
# Raises the open-file limit to its hard limit (needs CONNS + ~100).
# Loopback ports picked free, a temp dir of its own; kills only what it
# started.
NAME=idle; . "$(dirname "$0")/lib.sh"
CONNS=${CONNS:-10000}
WORKERS=${WORKERS:-2}
H2=${H2:-0}
REQ_PATH=${REQ_PATH:-/bench}

ulimit -n "$(ulimit -Hn)" 2>/dev/null
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((CONNS + 100)) ]; then
    echo "idle: open-file limit $(ulimit -n) < $((CONNS + 100)); raise the hard limit"
    exit 2
fi

build_bins "$TMP/bin" //dataplane //tools/whoami //dataplane/router:router_bench
freeports P_A P_WEB P_ADM
dp_config "$TMP/config.yaml" "$P_WEB" "$P_A"

# The client: opens the connections in batches, one request each, reads
# each response in full, then sleeps holding them; prints "ready N" on
# stdout once every response is in, exits when stdin closes.
cat >"$TMP/idle.py" <<'EOF'
import selectors, socket, struct, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
h2, path = sys.argv[3] == "1", sys.argv[4].encode()
if h2:
    # preface, empty SETTINGS, HEADERS (stream 1, END_STREAM|END_HEADERS):
    # GET http, :path and :authority as literals with an indexed name
    block = (b"\x82\x86" + bytes([0x44, len(path)]) + path +
             bytes([0x41, 9]) + b"idle.test")
    req = (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" +
           b"\x00\x00\x00\x04\x00\x00\x00\x00\x00" +
           struct.pack(">I", len(block))[1:] +
           b"\x01\x05\x00\x00\x00\x01" + block)
else:
    req = b"GET " + path + b" HTTP/1.1\r\nHost: idle.test\r\n\r\n"
sel = selectors.DefaultSelector()
socks, done, bad = [], 0, 0
def complete(buf):
    """HTTP/1: the body is in (Content-Length, or whoami's /bench body,
    which ends in "1"); HTTP/2: stream 1 ended (END_STREAM)."""
    if not h2:
        head, sep, body = buf.partition(b"\r\n\r\n")
        if not sep:
            return False
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                return len(body) >= int(line.split(b":")[1])
        return body.endswith(b"1")
    off = 0
    while off + 9 <= len(buf):
        ln = int.from_bytes(buf[off:off + 3], "big")
        typ, flags = buf[off + 3], buf[off + 4]
        sid = int.from_bytes(buf[off + 5:off + 9], "big") & 0x7FFFFFFF
        if off + 9 + ln > len(buf):
            return False
        if sid == 1 and typ in (0, 1) and flags & 1:
            return True
        off += 9 + ln
    return False
def ok(buf):
    if h2:  # a HEADERS frame on stream 1 whose block starts with :status 200
        return b"\x01\x04\x00\x00\x00\x01\x88" in buf or b"\x01\x05\x00\x00\x00\x01\x88" in buf
    return buf.startswith(b"HTTP/1.1 200")
def finish(s, buf):
    global done, bad
    done += 1
    if not ok(buf):
        bad += 1
    sel.unregister(s)
pending = {}
for start in range(0, n, 500):
    for _ in range(min(500, n - start)):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(req)
        s.setblocking(False)
        socks.append(s)
        pending[s] = b""
        sel.register(s, selectors.EVENT_READ)
    while done < len(socks):
        for key, _ in sel.select(timeout=10):
            s = key.fileobj
            b = s.recv(65536)
            pending[s] += b
            if not b or complete(pending[s]):
                finish(s, pending.pop(s))
print("ready %d bad %d" % (done, bad), flush=True)
sys.stdin.read()
EOF

start_whoami A "$P_A"
"$TMP/bin/dataplane" --config "$TMP/config.yaml" --workers "$WORKERS" \
    --admin-addr "127.0.0.1:$P_ADM" --log-level warn >"$TMP/dp.log" 2>&1 &
DP=$!
PIDS+=($DP)
wait_http "http://127.0.0.1:$P_A/health"
wait_http "http://127.0.0.1:$P_ADM/ping"
wait_http "http://127.0.0.1:$P_WEB/health"

R0=$(kb "$DP" VmRSS)
mkfifo "$TMP/hold"
python3 "$TMP/idle.py" "$P_WEB" "$CONNS" "$H2" "$REQ_PATH" <"$TMP/hold" >"$TMP/idle.out" 2>&1 & CL=$!
PIDS+=($CL)
exec 9>"$TMP/hold" # the client runs until this closes
for _ in $(seq 600); do
    grep -q ready "$TMP/idle.out" && break
    kill -0 "$CL" 2>/dev/null || break
    sleep 0.1
done
if ! grep -q ready "$TMP/idle.out"; then
    echo "idle: client failed:"; cat "$TMP/idle.out"; exit 1
fi
sleep 1
R1=$(kb "$DP" VmRSS)
ACTIVE=$(curl -s "http://127.0.0.1:$P_ADM/metrics" | sed -n 's/^dataplane_connections_active //p')
echo "data node, $WORKERS workers, $([ "$H2" = 1 ] && echo HTTP/2 || echo HTTP/1.1) $REQ_PATH: RSS $((R0 / 1024)) MiB idle; $((R1 / 1024)) MiB ($R1 kB) with" \
    "$ACTIVE open connections ($(cat "$TMP/idle.out")), $(( (R1 - R0) * 1024 / CONNS )) bytes each (goal: under 40 MiB)"
exec 9>&-
wait "$CL"

echo "router_bench (dataplane/router, -c opt):"
"$TMP/bin/router_bench"
