#!/usr/bin/python3
"""edge.py -- bad input at a TLS entry point, for integration/security/run.sh.

    edge.py garbage HOST PORT
        sends 4 KB of bytes that are no ClientHello (random, and an HTTP
        request), one connection each; prints "closed MS" per connection
        (the time until the server closed it) or "open" if it is still
        open after 5 s.
    edge.py stall HOST PORT N LIMIT_S
        opens N connections: a third send nothing, a third the first
        bytes of a TLS record (a handshake that stalls), a third a real
        ClientHello one byte every half second (a slow handshake); prints
        "open N" once all are connected, then waits (at most LIMIT_S)
        until the server has closed each: "closed K/N MAX_S" (K closed,
        the last after MAX_S seconds).
"""
import os
import selectors
import socket
import ssl
import sys
import time


def wait_closed(s, limit):
    """Seconds until the peer closes <s> (ignoring what it sends, e.g. an
    alert), or None after <limit>."""
    t0 = time.monotonic()
    s.settimeout(0.2)
    while time.monotonic() - t0 < limit:
        try:
            if s.recv(4096) == b"":
                return time.monotonic() - t0
        except socket.timeout:
            continue
        except ConnectionError:
            return time.monotonic() - t0
    return None


def garbage(host, port):
    rc = 0
    for payload in (os.urandom(4096).replace(b"\x16", b"\x17", 1),
                    b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n" * 100):
        s = socket.create_connection((host, port), timeout=5)
        try:
            s.sendall(payload)
        except ConnectionError:
            pass
        t = wait_closed(s, 5)
        s.close()
        if t is None:
            print("open", flush=True)
            rc = 1
        else:
            print("closed %d" % (t * 1000), flush=True)
    return rc


def client_hello():
    """The bytes of a real ClientHello (SNI a.test)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="a.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def stall(host, port, n, limit):
    hello = client_hello()
    socks, slow = [], {}
    for i in range(n):
        s = socket.create_connection((host, port), timeout=5)
        if i % 3 == 1:
            s.sendall(b"\x16\x03\x01\x02")  # a record header, cut short
        elif i % 3 == 2:
            slow[s] = 0  # bytes of the ClientHello sent so far
        s.setblocking(False)
        socks.append(s)
    print("open %d" % n, flush=True)
    t0 = tick = time.monotonic()
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    closed, last = 0, 0.0
    while closed < n and time.monotonic() - t0 < limit:
        if time.monotonic() - tick >= 0.5:
            tick = time.monotonic()
            for s, k in slow.items():
                if k < len(hello) and s.fileno() >= 0:
                    try:
                        s.send(hello[k:k + 1])
                        slow[s] = k + 1
                    except OSError:
                        pass
        for key, _ in sel.select(timeout=0.1):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except ConnectionError:
                data = b""
            if data == b"":
                sel.unregister(s)
                s.close()
                closed += 1
                last = time.monotonic() - t0
    print("closed %d/%d %.1f" % (closed, n, last), flush=True)
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    return 0 if closed == n else 1


def main():
    what, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if what == "garbage":
        return garbage(host, port)
    if what == "stall":
        return stall(host, port, int(sys.argv[4]), float(sys.argv[5]))
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
