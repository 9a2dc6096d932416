#!/usr/bin/python3
"""grpc_py.py -- the Echo service of echo.proto called from Python through
the data node with grpcio's generic API (raw bytes, protobuf encoded by
hand). Prints "ok grpc-py-CASE" / "FAIL grpc-py-CASE: why".

  grpc_py.py TARGET CASE...      cases: unary, sstream, unavailable
"""
import os
import sys

import grpc


def msg(text="", count=0):
    t = text.encode()
    out = b"\x0a" + bytes([len(t)]) + t if t else b""
    if count:
        out += b"\x10" + bytes([count])
    return out


def text_of(raw):
    if len(raw) >= 2 and raw[0] == 0x0A:
        return raw[2:2 + raw[1]].decode()
    return ""


def main():
    target, cases = sys.argv[1], sys.argv[2:]
    auth = os.environ.get("H2_AUTHORITY")
    ch = grpc.insecure_channel(
        target, options=[("grpc.default_authority", auth)] if auth else [])
    unary = ch.unary_unary("/h2test.Echo/Unary", request_serializer=None,
                           response_deserializer=None)
    sstream = ch.unary_stream("/h2test.Echo/ServerStream",
                              request_serializer=None,
                              response_deserializer=None)
    fails = 0
    for c in cases:
        try:
            if c == "unary":
                t = text_of(unary(msg("py"), timeout=5))
                assert t.endswith(":py"), t
            elif c == "sstream":
                got = [text_of(r) for r in sstream(msg("p", 10), timeout=5)]
                assert len(got) == 10 and got[9].endswith(":p:9"), got
            elif c == "unavailable":
                try:
                    unary(msg("x"), timeout=5)
                    raise AssertionError("no error")
                except grpc.RpcError as e:
                    assert e.code() == grpc.StatusCode.UNAVAILABLE, e.code()
            print(f"ok grpc-py-{c}")
        except Exception as e:  # noqa: BLE001 -- report and go on
            fails += 1
            print(f"FAIL grpc-py-{c}: {e}")
    ch.close()
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
