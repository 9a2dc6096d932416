#!/usr/bin/env python3
"""h2attack.py -- hostile HTTP/2 clients for integration/h2/run.sh, on a raw
socket with hand-built frames (bounded in count and time).

  h2attack.py reset HOST PORT AUTHORITY N   open and at once reset N streams
  h2attack.py ping HOST PORT N              N PINGs, reading nothing
  h2attack.py settings HOST PORT N          N SETTINGS, reading nothing

Prints one line: "goaway CODE sent=K" when the server sent GOAWAY (CODE its
error code), "closed sent=K" when it closed without one, or "open sent=K"
when it did neither within the time limit. Exit 0 unless "open".
"""
import select
import socket
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid) + payload


def headers_block(authority):
    a = authority.encode()
    # :method GET, :scheme http, :path / (static table), :authority literal
    return b"\x82\x86\x84" + b"\x01" + bytes([len(a)]) + a


class Reader:
    """Parses frames the server sends; remembers a GOAWAY."""

    def __init__(self, s):
        self.s, self.buf, self.goaway, self.closed = s, b"", None, False

    def poll(self, timeout=0.0):
        while not self.closed:
            r, _, _ = select.select([self.s], [], [], timeout)
            if not r:
                return
            try:
                d = self.s.recv(65536)
            except (ConnectionResetError, OSError):
                d = b""
            if not d:
                self.closed = True
                return
            self.buf += d
            self.parse()
            timeout = 0.0

    def parse(self):
        while len(self.buf) >= 9:
            n = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + n:
                return
            if self.buf[3] == 7 and n >= 8:
                self.goaway = int.from_bytes(self.buf[13:17], "big")
            self.buf = self.buf[9 + n:]


def connect(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # read little
    s.settimeout(5)
    s.connect((host, port))
    s.sendall(PREFACE + frame(4, 0, 0))
    return s


def report(rd, sent):
    if rd.goaway is not None:
        print(f"goaway {rd.goaway} sent={sent}")
    elif rd.closed:
        print(f"closed sent={sent}")
    else:
        print(f"open sent={sent}")
        return 1
    return 0


def reset_flood(host, port, authority, n):
    s = connect(host, port)
    rd = Reader(s)
    block = headers_block(authority)
    sent, sid, end = 0, 1, time.time() + 15
    try:
        while sent < n and time.time() < end and not rd.closed:
            batch = b""
            for _ in range(50):
                batch += frame(1, 0x05, sid, block)  # END_STREAM|END_HEADERS
                batch += frame(3, 0, sid, struct.pack(">I", 8))  # CANCEL
                sid += 2
                sent += 1
            s.sendall(batch)
            rd.poll()
            if rd.goaway is not None:
                break
    except OSError:
        rd.closed = True
    rd.poll(2.0)
    return report(rd, sent)


def ack_flood(host, port, n, ftype):
    s = connect(host, port)
    s.setblocking(False)
    rd = Reader(s)
    one = frame(6, 0, 0, b"12345678") if ftype == "ping" else frame(4, 0, 0)
    batch = one * 100
    sent, end = 0, time.time() + 15
    while sent < n and time.time() < end:
        try:
            s.send(batch)
            sent += 100
        except BlockingIOError:
            time.sleep(0.01)  # the server stopped reading: that is fine too
        except OSError:
            rd.closed = True
            break
    rd.poll(3.0)
    return report(rd, sent)


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "reset":
        return reset_flood(host, port, sys.argv[4], int(sys.argv[5]))
    return ack_flood(host, port, int(sys.argv[4]), mode)


if __name__ == "__main__":
    sys.exit(main())
