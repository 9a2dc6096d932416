#!/usr/bin/env python3
"""helper.py -- misbehaving backends and clients for integration/robustness.

Backends (run until killed; one thread per connection):
  helper.py broken PORT     answers by path, then misbehaves:
      /half-cl       Content-Length 1000000, sends 500000 bytes, closes
      /half-chunked  chunked, sends 3 chunks of 100000 bytes, closes
      /head-only     Content-Length 1000, sends only the head, closes
      /half-rst      Content-Length 1000000, 500000 bytes, then a RST
      anything else  200 "ok" (keep-alive)
  helper.py slowread PORT BYTES_PER_S
      reads each request body at BYTES_PER_S (?rate=N overrides; 0: as
      fast as it comes), then answers 200 "got N" (N: body bytes); a
      64 KB receive buffer, so the kernel does not absorb the body

Clients (print nothing and exit 0 on success; print why and exit 1):
  helper.py head-timeout PORT MAX_S
      sends half a request head and waits: expects a 408 and a close
      within MAX_S seconds
  helper.py slow-reader PORT HOST PATH RATE SECONDS
      GETs PATH and reads the response at RATE bytes/s for SECONDS, then
      closes; prints the bytes read
"""
import socket
import socketserver
import struct
import sys
import time


# ---- backends ----

def read_head(f):
    """Reads a request head from file object f: (path, headers) or None."""
    line = f.readline()
    if not line:
        return None
    parts = line.split()
    path = parts[1].decode() if len(parts) > 1 else "/"
    headers = {}
    while True:
        h = f.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, v = h.decode("latin-1").split(":", 1)
        headers[k.strip().lower()] = v.strip()
    return path, headers


def read_body(f, headers, rate=0):
    """Reads and discards the request body; returns its length. <rate>:
    bytes per second (0: as fast as it comes)."""
    n = 0
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int(f.readline().split(b";")[0], 16)
            if size == 0:
                while f.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return n
            n += read_n(f, size, rate)
            f.readline()
    return read_n(f, int(headers.get("content-length", "0")), rate)


def read_n(f, size, rate):
    n = 0
    step = 65536 if rate == 0 else max(1, rate // 20)
    while n < size:
        b = f.read(min(step, size - n))
        if not b:
            break
        n += len(b)
        if rate:
            time.sleep(len(b) / rate)
    return n


class Broken(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            req = read_head(self.rfile)
            if req is None:
                return
            path, headers = req
            read_body(self.rfile, headers)
            if not self.answer(path.split("?")[0]):
                return

    def answer(self, path):
        w = self.connection.sendall
        if path == "/half-cl" or path == "/half-rst":
            w(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
            w(b"x" * 500000)
            time.sleep(0.2)
            if path == "/half-rst":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            return False
        if path == "/half-chunked":
            w(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(3):
                w(b"%x\r\n" % 100000 + b"y" * 100000 + b"\r\n")
            time.sleep(0.2)
            return False
        if path == "/head-only":
            w(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            time.sleep(0.2)
            return False
        w(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
        return True


def slow_handler(rate):
    class Slow(socketserver.StreamRequestHandler):
        def handle(self):
            while True:
                req = read_head(self.rfile)
                if req is None:
                    return
                path, headers = req
                r = rate
                if "?rate=" in path:
                    r = int(path.split("?rate=")[1].split("&")[0])
                n = read_body(self.rfile, headers, r)
                body = b"got %d\n" % n
                self.connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" %
                    len(body) + body)
    return Slow


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    rcvbuf = 0  # a fixed, small receive buffer (accepted sockets inherit it)

    def server_bind(self):
        if self.rcvbuf:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                   self.rcvbuf)
        super().server_bind()


def serve(port, handler, rcvbuf=0):
    Server.rcvbuf = rcvbuf
    with Server(("127.0.0.1", port), handler) as s:
        s.serve_forever()


# ---- clients ----

def fail(msg):
    print(msg)
    sys.exit(1)


def head_timeout(port, max_s):
    s = socket.create_connection(("127.0.0.1", port), timeout=max_s)
    s.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\nX-Partial: ")
    t0 = time.monotonic()
    data = b""
    try:
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
    except socket.timeout:
        fail("no close within %ss (got %r)" % (max_s, data[:80]))
    took = time.monotonic() - t0
    if not data.startswith(b"HTTP/1.1 408"):
        fail("expected a 408, got %r" % data[:80])
    print("%.1fs" % took)


def slow_reader(port, host, path, rate, seconds):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" %
              (path.encode(), host.encode()))
    got = 0
    t0 = time.monotonic()
    step = max(1, rate // 10)
    while time.monotonic() - t0 < seconds:
        b = s.recv(step)
        if not b:
            fail("closed after %d bytes" % got)
        got += len(b)
        time.sleep(len(b) / rate)
    s.close()
    print(got)


def main():
    a = sys.argv[1:]
    if len(a) == 2 and a[0] == "broken":
        serve(int(a[1]), Broken)
    elif len(a) == 3 and a[0] == "slowread":
        # 64 KB: the kernel does not absorb the body for the slow reader
        serve(int(a[1]), slow_handler(int(a[2])), 65536)
    elif len(a) == 3 and a[0] == "head-timeout":
        head_timeout(int(a[1]), float(a[2]))
    elif len(a) == 6 and a[0] == "slow-reader":
        slow_reader(int(a[1]), a[2], a[3], int(a[4]), float(a[5]))
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
