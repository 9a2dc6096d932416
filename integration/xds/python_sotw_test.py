#!/usr/bin/python3
"""python_sotw_test.py -- Debian's python3-grpcio (gRPC C core, xDS built in)
as a proxyless client of our ADS server: calls to xds:///NAME reach the
backend, follow an EDS switch, and survive a NACKed update that the server
records with the client's message. Generic (bytes) API, no generated code.

    /usr/bin/python3 python_sotw_test.py XDS_TEST_SERVER_BIN TMPDIR
"""
import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent import futures

import grpc

METHOD = "/xdstest.Echo/Hello"
NAME = "echo-python"


def encode_reply(name):
    raw = name.encode()
    return b"\x0a" + bytes([len(raw)]) + raw  # HelloReply{backend: name}


def decode_reply(data):
    return data[2:2 + data[1]].decode() if len(data) >= 2 else ""


def start_backend(name):
    def hello(request, context):
        return encode_reply(name)

    handler = grpc.method_handlers_generic_handler(
        "xdstest.Echo", {"Hello": grpc.unary_unary_rpc_method_handler(hello)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


class ControlPlane:
    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.lines = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def send(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def wait_line(self, pattern, timeout, start=0):
        rx = re.compile(pattern)
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                for line in self.lines[start:]:
                    m = rx.search(line)
                    if m:
                        return m
            time.sleep(0.05)
        raise AssertionError("timeout waiting for line %r" % pattern)

    def mark(self):
        with self.lock:
            return len(self.lines)

    def nodes(self):
        start = self.mark()
        self.send("nodes")
        self.wait_line(r"^nodes end", 5, start)
        with self.lock:
            return [l for l in self.lines[start:] if l.startswith("node ")]

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(5)
            except Exception:
                self.proc.kill()
                self.proc.wait()


def wait_for(what, timeout, fn):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            if fn():
                return
        except grpc.RpcError as e:
            last = e
        time.sleep(0.2)
    raise AssertionError("timeout waiting for %s (%s)" % (what, last))


def main():
    bin_path, tmp = sys.argv[1], sys.argv[2]
    a, port_a = start_backend("A")
    b, port_b = start_backend("B")
    cp = ControlPlane([bin_path, "--name", NAME, "--backend", str(port_a),
                       "--backend", str(port_b)])
    failed = False
    try:
        port = int(cp.wait_line(r"^listening (\d+)$", 10).group(1))
        boot = os.path.join(tmp, "bootstrap-python.json")
        with open(boot, "w") as f:
            json.dump({"xds_servers": [{"server_uri": "127.0.0.1:%d" % port,
                                        "channel_creds": [{"type": "insecure"}],
                                        "server_features": ["xds_v3"]}],
                       "node": {"id": "python-client", "cluster": "it",
                                "locality": {"zone": "z1"}}}, f)
        os.environ["GRPC_XDS_BOOTSTRAP"] = boot
        channel = grpc.insecure_channel("xds:///" + NAME)
        hello = channel.unary_unary(METHOD)

        def call():
            return decode_reply(hello(b"\x0a\x01x", timeout=3))

        for case in ("python-sotw-route-to-backend", "python-sotw-switch-backend",
                     "python-sotw-nack-keeps-old-config"):
            try:
                if case == "python-sotw-route-to-backend":
                    wait_for("a call to reach A", 20, lambda: call() == "A")
                    nodes = cp.nodes()
                    assert len(nodes) == 1, nodes
                    for t in ("lds", "rds", "cds", "eds"):
                        assert re.search(t + r"\.acked=v1 ", nodes[0]), nodes[0]
                    assert "id=python-client " in nodes[0], nodes[0]
                elif case == "python-sotw-switch-backend":
                    start = cp.mark()
                    cp.send("next")
                    wait_for("calls to move to B", 20, lambda: call() == "B")
                    cp.wait_line(r"^event ack .*type=eds version=v2 ", 5, start)
                    for _ in range(5):
                        assert call() == "B"
                else:
                    start = cp.mark()
                    cp.send("nack-listener")
                    m = cp.wait_line(r"^event nack .*type=lds .*message=(.*)$",
                                     10, start)
                    assert "validation" in m.group(1), m.group(0)
                    nodes = cp.nodes()
                    assert re.search(r"lds\.nacks=1 ", nodes[0]), nodes[0]
                    assert re.search(r"lds\.acked=v1 ", nodes[0]), nodes[0]
                    for _ in range(5):
                        assert call() == "B"
                    start = cp.mark()
                    cp.send("good")
                    cp.wait_line(r"^event ack .*type=lds version=v4 ", 10, start)
                    assert call() == "B"
                print("ok " + case, flush=True)
            except Exception as e:  # report and stop: later cases build on it
                print("FAIL %s: %r" % (case, e), flush=True)
                failed = True
                break
        channel.close()
    finally:
        cp.stop()
        a.stop(0)
        b.stop(0)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
