#!/usr/bin/env python3
"""rawhttp.py -- raw-socket HTTP/1.1 cases for integration/dataplane/run.sh.

  rawhttp.py PORT pipeline      3 requests in one write: 3 responses, in order
  rawhttp.py PORT smuggle-clte  Content-Length + Transfer-Encoding: 400
  rawhttp.py PORT smuggle-cl2   two different Content-Length: 400
  rawhttp.py PORT chunked       chunked upload, then a 2nd request on the
                                same connection (framing stayed in sync)
  rawhttp.py PORT bad-chunked   invalid chunk size: 400
  rawhttp.py PORT expect        Expect: 100-continue: body sent after the 100
Prints nothing and exits 0 on success; prints why and exits 1 otherwise.
"""
import socket
import sys


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s


def read_response(f):
    """Reads one response from file object f: (code, headers, body)."""
    line = f.readline()
    if not line:
        raise EOFError("connection closed")
    code = int(line.split()[1])
    headers = {}
    while True:
        h = f.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, v = h.decode().split(":", 1)
        headers[k.strip().lower()] = v.strip()
    body = b""
    if "content-length" in headers:
        body = f.read(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            n = int(f.readline().split(b";")[0], 16)
            if n == 0:
                f.readline()
                break
            body += f.read(n)
            f.readline()
    return code, headers, body


def fail(msg):
    print(msg)
    sys.exit(1)


def pipeline(port):
    s = connect(port)
    req = b""
    for i in range(3):
        req += b"GET /pipe%d HTTP/1.1\r\nHost: a.test\r\n\r\n" % i
    s.sendall(req)
    f = s.makefile("rb")
    for i in range(3):
        code, h, body = read_response(f)
        if code != 200 or (b"GET /pipe%d " % i) not in body:
            fail("response %d: %d %r" % (i, code, body[:200]))


def expect_status(port, raw, want):
    s = connect(port)
    s.sendall(raw)
    f = s.makefile("rb")
    code, h, body = read_response(f)
    if code != want:
        fail("want %d, got %d %r" % (want, code, body[:200]))
    if f.read(1) != b"":
        fail("connection not closed after %d" % want)


def chunked(port):
    s = connect(port)
    body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
    s.sendall(b"POST /up HTTP/1.1\r\nHost: a.test\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n" + body +
              b"GET /after HTTP/1.1\r\nHost: a.test\r\n\r\n")
    f = s.makefile("rb")
    code, h, b = read_response(f)
    if code != 200 or b"POST /up " not in b:
        fail("upload: %d %r" % (code, b[:200]))
    code, h, b = read_response(f)
    if code != 200 or b"GET /after " not in b:
        fail("after upload: %d %r" % (code, b[:200]))


def expect(port):
    s = connect(port)
    s.sendall(b"POST /exp HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n"
              b"Expect: 100-continue\r\n\r\n")
    f = s.makefile("rb")
    # whoami does not send 100 itself: the final answer comes after the body
    s.sendall(b"hello")
    code, h, b = read_response(f)
    while code == 100:
        code, h, b = read_response(f)
    if code != 200 or b"Expect: 100-continue" not in b:
        fail("expect: %d %r" % (code, b[:300]))


def main():
    port, case = int(sys.argv[1]), sys.argv[2]
    if case == "pipeline":
        pipeline(port)
    elif case == "smuggle-clte":
        expect_status(port, b"POST / HTTP/1.1\r\nHost: a.test\r\n"
                      b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n"
                      b"\r\n0\r\n\r\n", 400)
    elif case == "smuggle-cl2":
        expect_status(port, b"POST / HTTP/1.1\r\nHost: a.test\r\n"
                      b"Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
                      400)
    elif case == "chunked":
        chunked(port)
    elif case == "bad-chunked":
        expect_status(port, b"POST / HTTP/1.1\r\nHost: a.test\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n", 400)
    elif case == "expect":
        expect(port)
    else:
        fail("unknown case " + case)


if __name__ == "__main__":
    main()
