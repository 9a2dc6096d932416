#!/usr/bin/python3
"""probe.py -- one gRPC call to a control node with chosen credentials, for
integration/security/run.sh (python3-grpcio, bytes API, the protobuf wire
format written by hand). Prints one line: "OK ..." or the status code name
and its details ("UNAUTHENTICATED ...", "PERMISSION_DENIED ...",
"UNAVAILABLE ..."); exits 0 on OK, 1 otherwise.

    probe.py [--ca F] [--cert F --key F] [--bundle F] [--plain]
             [--timeout S] ADDR CALL [ARGS]

Credentials: --plain is a plain-text channel; otherwise TLS trusting --ca
(or the CA of --bundle), with the client pair --cert/--key (or the leaf and
key of --bundle) when given, the name checked being traefikee-control.

CALL:
  version                    Management/Version
  apply FILE                 Management/Apply (the document FILE, dry run)
  tokens                     Management/GetTokens: "OK CONTROL DATA"
  ads NODE                   an ADS stream: OK when a first response comes
  hold NODE SECONDS          an ADS stream kept open: "OK first" when a
                             first response comes, then "ENDED CODE" when
                             the server ends it (or "OPEN" after SECONDS)
  join TOKEN NODE CSR OUT    Membership/Join: the certificate to OUT
  tls                        no gRPC: a raw TLS handshake (ALPN h2) and a
                             first read: "OK" when the server answers with
                             HTTP/2 frames, "ALERT reason" when it refuses
"""
import os
import re
import socket
import ssl
import sys
import threading
import time

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pbwire import ADS, CDS, field, field_bool, fields  # noqa: E402

MGMT = "/traefikee.v1.Management/"
JOIN = "/traefikee.v1.Membership/Join"
CONTROL_NAME = "traefikee-control"


def read(path):
    with open(path, "rb") as f:
        return f.read()


def split_bundle(path):
    """(ca, cert, key) bytes of a bundle: the CA is the certificate whose
    subject equals its issuer (self-signed), the leaf the other one."""
    text = read(path).decode()
    blocks = re.findall(r"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----\n?",
                        text, re.S)
    whole = re.findall(r"-----BEGIN [A-Z ]+-----.*?-----END [A-Z ]+-----\n?",
                       text, re.S)
    ca = cert = key = None
    for kind, pem in zip(blocks, whole):
        if "PRIVATE KEY" in kind:
            key = pem.encode()
        elif kind == "CERTIFICATE":
            if self_signed(pem) and ca is None:
                ca = pem.encode()
            else:
                cert = pem.encode()
    return ca, cert, key


def self_signed(pem):
    import subprocess
    out = subprocess.run(["openssl", "x509", "-noout", "-subject", "-issuer"],
                         input=pem.encode(), capture_output=True)
    lines = out.stdout.decode().splitlines()
    return len(lines) == 2 and lines[0][len("subject="):] == lines[1][len("issuer="):]


class Opts:
    ca = cert = key = None
    plain = False
    timeout = 5.0


def parse(argv):
    o = Opts()
    i = 0
    while i < len(argv) and argv[i].startswith("--"):
        a = argv[i]
        if a == "--plain":
            o.plain = True
            i += 1
            continue
        v = argv[i + 1]
        if a == "--ca":
            o.ca = read(v)
        elif a == "--cert":
            o.cert = read(v)
        elif a == "--key":
            o.key = read(v)
        elif a == "--bundle":
            o.ca, o.cert, o.key = split_bundle(v)
        elif a == "--timeout":
            o.timeout = float(v)
        else:
            sys.exit("probe.py: unknown option " + a)
        i += 2
    return o, argv[i:]


def channel(o, addr):
    if o.plain:
        return grpc.insecure_channel(addr)
    creds = grpc.ssl_channel_credentials(root_certificates=o.ca,
                                         private_key=o.key,
                                         certificate_chain=o.cert)
    return grpc.secure_channel(
        addr, creds, options=[("grpc.ssl_target_name_override", CONTROL_NAME)])


def code_line(e):
    return "%s %s" % (e.code().name, (e.details() or "").replace("\n", " "))


def unary(o, addr, method, body):
    ch = channel(o, addr)
    try:
        return ch.unary_unary(method)(body, timeout=o.timeout)
    finally:
        ch.close()


def ads_request(node):
    return field(2, field(1, node) + field(2, "security-it")) + field(4, CDS)


def call_ads(o, addr, node, hold):
    ch = channel(o, addr)
    done = threading.Event()

    def gen():
        yield ads_request(node)
        done.wait()

    call = ch.stream_stream(ADS)(gen(), timeout=hold if hold else o.timeout)
    try:
        for _ in call:
            if not hold:
                print("OK first response", flush=True)
                return 0
            print("OK first", flush=True)
            t0 = time.monotonic()
            for _ in call:
                pass
            print("ENDED OK after %.1f s" % (time.monotonic() - t0), flush=True)
            return 1
        print("ENDED OK (no response)", flush=True)
        return 1
    except grpc.RpcError as e:
        if hold and e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            print("OPEN", flush=True)
            return 0
        print(("ENDED " if hold else "") + code_line(e), flush=True)
        return 1
    finally:
        done.set()
        call.cancel()
        ch.close()


def raw_tls(o, addr):
    host, port = addr.rsplit(":", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=o.ca.decode())
    ctx.check_hostname = False
    if o.cert:
        import os
        import tempfile
        fd, path = tempfile.mkstemp()
        try:
            os.write(fd, o.cert + o.key)
            os.close(fd)
            ctx.load_cert_chain(path)
        finally:
            os.unlink(path)
    ctx.set_alpn_protocols(["h2"])
    s = socket.create_connection((host, int(port)), timeout=o.timeout)
    try:
        t = ctx.wrap_socket(s, server_hostname=CONTROL_NAME)
        # HTTP/2 preface and an empty SETTINGS frame; a refused client
        # certificate shows here under TLS 1.3 (the alert follows the
        # server's Finished).
        t.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\0\0\0\4\0\0\0\0\0")
        data = t.recv(9)
        if len(data) == 9 and data[3] == 4:
            print("OK settings frame")
            return 0
        print("CLOSED %r" % data)
        return 1
    except ssl.SSLError as e:
        print("ALERT %s" % (e.reason or e))
        return 1
    except (ConnectionError, socket.timeout) as e:
        print("CLOSED %s" % e)
        return 1
    finally:
        s.close()


def main():
    o, rest = parse(sys.argv[1:])
    if len(rest) < 2:
        sys.exit(__doc__)
    addr, what, args = rest[0], rest[1], rest[2:]
    if what == "tls":
        return raw_tls(o, addr)
    if what in ("ads", "hold"):
        return call_ads(o, addr, args[0], float(args[1]) if what == "hold" else 0)
    try:
        if what == "version":
            resp = unary(o, addr, MGMT + "Version", b"")
            node = [v.decode() for n, _, v in fields(resp) if n == 3]
            print("OK node=%s" % (node[0] if node else ""))
        elif what == "apply":
            body = field(1, read(args[0])) + field_bool(3)
            unary(o, addr, MGMT + "Apply", body)
            print("OK applied (dry run)")
        elif what == "tokens":
            resp = unary(o, addr, MGMT + "GetTokens", b"")
            got = dict((n, v.decode()) for n, _, v in fields(resp))
            print("OK %s %s" % (got.get(1, ""), got.get(2, "")))
        elif what == "join":
            token, node, csr, out = args
            body = field(1, token) + field(2, node) + field(3, read(csr))
            resp = unary(o, addr, JOIN, body)
            got = dict((n, v.decode()) for n, _, v in fields(resp))
            with open(out, "w") as f:
                f.write(got.get(1, ""))
            print("OK joined")
        else:
            sys.exit("probe.py: unknown call " + what)
    except grpc.RpcError as e:
        print(code_line(e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
