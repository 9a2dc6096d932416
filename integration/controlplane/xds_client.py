#!/usr/bin/python3
"""xds_client.py -- a minimal ADS client (python3-grpcio, bytes API, the
protobuf wire format written by hand) standing in for a data node: asks a
control node for Clusters and Listeners, prints what it received, ACKs,
and stays connected (so the node shows up in ListNodes) until stdin closes
or the timeout passes.

    xds_client.py HOST:PORT NODE_ID [SECONDS]
prints: "cds version=V names=a,b" / "lds version=V names=..." per response.
"""
import os
import queue
import sys
import threading

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pbwire import ADS, CDS, LDS, field, fields  # noqa: E402


def request(node_id, type_url, version="", nonce=""):
    node = field(1, node_id) + field(2, "integration")
    msg = field(2, node) + field(4, type_url)
    if version:
        msg = field(1, version) + msg
    if nonce:
        msg += field(5, nonce)
    return msg


def main():
    target, node_id = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 60
    reqs = queue.Queue()
    reqs.put(request(node_id, CDS))
    reqs.put(request(node_id, LDS))

    def gen():
        while True:
            r = reqs.get()
            if r is None:
                return
            yield r

    channel = grpc.insecure_channel(target)
    call = channel.stream_stream(ADS)(gen())
    threading.Thread(target=lambda: (sys.stdin.read(), call.cancel()),
                     daemon=True).start()
    threading.Timer(seconds, call.cancel).start()
    try:
        for resp in call:
            version = nonce = type_url = ""
            names = []
            for num, _, v in fields(resp):
                if num == 1:
                    version = v.decode()
                elif num == 4:
                    type_url = v.decode()
                elif num == 5:
                    nonce = v.decode()
                elif num == 2:
                    value = b""
                    for n2, _, v2 in fields(v):
                        if n2 == 2:
                            value = v2
                    for n3, _, v3 in fields(value):
                        if n3 == 1:
                            names.append(v3.decode())
                            break
            kind = "cds" if type_url == CDS else "lds"
            print("%s version=%s names=%s" % (kind, version, ",".join(names)),
                  flush=True)
            reqs.put(request(node_id, type_url, version, nonce))  # ACK
    except grpc.RpcError:
        pass
    reqs.put(None)
    print("closed", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
