#!/usr/bin/env python3
"""convergence_probe.py -- the measuring half of bench/convergence.sh.

  convergence_probe.py --web PORT --nodes NAME=PID,... --ctl TRAEFIKEECTL
      --control H:P --base FILE --changes N --tmp DIR [--timeout-s 10]
      [--backend-name NAME]

Every data node listens on the same entry point (SO_REUSEPORT), so a new
connection lands on any of them. To probe each node for sure, we keep one
keep-alive connection pinned to each: we open connections, send one request
on each, and look up which data node process holds the accepted socket
(/proc/net/tcp{,6} inode of the server side, found among /proc/PID/fd). A
connection the node closes is replaced the same way.

Change I (1..N) adds router rev-I: Host(`probe.test`) && Path(`/rev-I`) to
the probe backend. Before applying it, each node must answer 404 on /rev-I;
after `traefikeectl apply` returns we request /rev-I on every pinned
connection in a tight loop (1 ms pause between rounds, bounded by
--timeout-s) until each node answers 200 from the backend (X-Whoami-Name).
Prints one line per change and a summary; exit 1 only if it cannot run.
"""
import argparse
import os
import re
import socket
import subprocess
import sys
import time


def now_ms():
    return time.time() * 1000.0


# ---- which process owns the server side of a connection ----

def server_inode(web_port, client_port):
    """Inode of the accepted socket whose peer is our client_port."""
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    p = line.split()
                    lport = int(p[1].rsplit(":", 1)[1], 16)
                    rport = int(p[2].rsplit(":", 1)[1], 16)
                    if lport == web_port and rport == client_port:
                        return p[9]
        except OSError:
            pass
    return None


def owner_of(inode, pids):
    target = "socket:[%s]" % inode
    for name, pid in pids.items():
        fd_dir = "/proc/%d/fd" % pid
        try:
            for fd in os.listdir(fd_dir):
                try:
                    if os.readlink(os.path.join(fd_dir, fd)) == target:
                        return name
                except OSError:
                    pass
        except OSError:
            pass
    return None


# ---- a minimal HTTP/1.1 client on one socket ----

class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.local_port = self.s.getsockname()[1]

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def _fill(self):
        d = self.s.recv(65536)
        if not d:
            raise ConnectionError("closed")
        self.buf += d

    def get(self, host, path):
        """Returns (status, headers dict lower-case, keep_alive)."""
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n"
                        % (path, host)).encode())
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if hdrs.get("transfer-encoding", "").lower() == "chunked":
            while b"0\r\n\r\n" not in self.buf:
                self._fill()
            self.buf = self.buf.split(b"0\r\n\r\n", 1)[1]
        else:
            n = int(hdrs.get("content-length", "0"))
            while len(self.buf) < n:
                self._fill()
            self.buf = self.buf[n:]
        keep = hdrs.get("connection", "").lower() != "close"
        return status, hdrs, keep


class Pins:
    """One keep-alive connection per data node."""

    def __init__(self, port, pids):
        self.port = port
        self.pids = pids
        self.conns = {}

    def fill(self, deadline_s=10.0):
        end = time.time() + deadline_s
        while len(self.conns) < len(self.pids):
            if time.time() > end:
                raise RuntimeError("cannot pin a connection to %s" %
                                   sorted(set(self.pids) - set(self.conns)))
            batch = []
            for _ in range(4 * len(self.pids)):
                try:
                    c = Conn(self.port)
                    c.get("pin.test", "/pin")  # makes sure it was accepted
                    batch.append(c)
                except (OSError, ConnectionError, ValueError, IndexError):
                    pass
            for c in batch:
                ino = server_inode(self.port, c.local_port)
                name = owner_of(ino, self.pids) if ino else None
                if name is not None and name not in self.conns:
                    self.conns[name] = c
                else:
                    c.close()

    def get(self, name, host, path):
        """Request on node <name>'s connection; re-pins once if it closed."""
        for _ in range(2):
            c = self.conns.get(name)
            if c is None:
                self.fill()
                c = self.conns[name]
            try:
                st, h, keep = c.get(host, path)
                if not keep:
                    c.close()
                    del self.conns[name]
                return st, h
            except (OSError, ConnectionError, ValueError, IndexError):
                c.close()
                self.conns.pop(name, None)
        raise RuntimeError("node %s: requests keep failing" % name)


def pct(v, p):
    if not v:
        return float("nan")
    s = sorted(v)
    return s[min(len(s) - 1, int(len(s) * p / 100.0))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--web", type=int, required=True)
    ap.add_argument("--nodes", required=True)
    ap.add_argument("--ctl", required=True)
    ap.add_argument("--control", required=True)
    ap.add_argument("--base", required=True)
    ap.add_argument("--changes", type=int, default=100)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--timeout-s", type=float, default=10.0)
    ap.add_argument("--backend-name", default="probe")
    a = ap.parse_args()

    pids = {}
    for item in a.nodes.split(","):
        n, p = item.split("=")
        pids[n] = int(p)
    with open(a.base) as f:
        base = f.read()
    marker = re.search(r"^    rev-1: .*\n", base, re.M)
    if marker is None:
        sys.exit("convergence_probe: base config has no rev-1 router")
    head, tail = base[:marker.end()], base[marker.end():]

    pins = Pins(a.web, pids)
    pins.fill()
    print("pinned one connection to each of %s" % ", ".join(sorted(pins.conns)))
    sys.stdout.flush()

    from_ret, from_start, applies = [], [], []
    missed = stale = no_leader = 0
    extra = ""
    for i in range(2, a.changes + 2):
        path = "/rev-%d" % i
        extra += ('    rev-%d: {rule: "Host(`probe.test`) && Path(`%s`)", '
                  'service: probe}\n' % (i, path))
        cfg = os.path.join(a.tmp, "change.yaml")
        with open(cfg, "w") as f:
            f.write(head + extra + tail)
        for n in pids:  # the change is not served yet
            st, _ = pins.get(n, "probe.test", path)
            if st != 404:
                stale += 1
        for attempt in range(61):  # a leader may be missing for a while
            t_start = now_ms()
            r = subprocess.run([a.ctl, "--control", a.control, "apply", "-f",
                                cfg], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=60)
            t_ret = now_ms()
            out = r.stdout.decode(errors="replace")
            if r.returncode == 0 or "no leader" not in out or attempt == 60:
                break
            no_leader += 1
            time.sleep(0.5)
        if r.returncode != 0:
            sys.exit("convergence_probe: apply failed: %s" % out)
        applies.append(t_ret - t_start)
        waiting = set(pids)
        done_at = {}
        while waiting and now_ms() - t_ret < a.timeout_s * 1000:
            for n in list(waiting):
                st, h = pins.get(n, "probe.test", path)
                if st == 200 and h.get("x-whoami-name") == a.backend_name:
                    done_at[n] = now_ms()
                    waiting.discard(n)
            if waiting:
                time.sleep(0.001)
        if waiting:
            missed += 1
            print("change %d: not served within %.0f s by %s" %
                  (i - 1, a.timeout_s, ",".join(sorted(waiting))))
            continue
        last = max(done_at.values())
        from_ret.append(last - t_ret)
        from_start.append(last - t_start)
        print("change %3d: apply %4.0f ms; every node serves it %6.1f ms after"
              " apply returned (%s)" % (i - 1, t_ret - t_start, last - t_ret,
                                        " ".join("%s=%.0f" % (n, done_at[n] - t_ret)
                                                 for n in sorted(done_at))))
        sys.stdout.flush()

    print()
    print("%-50s %10s   %s" % ("measure (%d changes, %d nodes)" % (a.changes, len(pids)),
                             "ms", "goal"))
    rows = [
        ("last node serving, after apply returned: median", pct(from_ret, 50), ""),
        ("  p90", pct(from_ret, 90), ""),
        ("  p99", pct(from_ret, 99), "< 100 ms"),
        ("  max", max(from_ret) if from_ret else float("nan"), ""),
        ("last node serving, after apply started: median", pct(from_start, 50), ""),
        ("  p99", pct(from_start, 99), ""),
        ("apply (traefikeectl, whole command): median", pct(applies, 50), ""),
    ]
    for name, v, goal in rows:
        print("%-50s %10.1f   %s" % (name, v, goal))
    print("%-50s %10d" % ("changes not served within %.0f s" % a.timeout_s, missed))
    print("%-50s %10d" % ("probes answering != 404 before their change", stale))
    print("%-50s %10d" % ("applies refused: no leader (retried after 0.5 s)",
                          no_leader))
    print("(below 0: a node served the change before apply returned)")


if __name__ == "__main__":
    main()
