#!/usr/bin/python3
"""integration/failover/check.py -- the analysis half of run.sh: reads Redis
directly (a minimal RESP client), a MONITOR capture and the applier's log.

  check.py acks REDIS_PORT ACKLOG DIR [PREFIX]
      every acknowledged apply (ACKLOG line "i start_ms end_ms rc rev" with
      rc 0) must have its revision key hold exactly DIR/r<i>.yaml, and no two
      acknowledged applies may share a revision; prints "acked N lost M
      dup D" and one "lost ..." line per loss; exit 1 if M or D > 0.
  check.py resume ACKLOG KILL_MS...
      for each kill time: the first acknowledged apply started after it;
      prints "resume CYCLE MS" lines and "median MS max MS" (exit 1 when a
      cycle saw no acknowledged write).
  check.py monitor FILE STALE_EPOCH SINCE_S [PREFIX]
      a MONITOR capture: every fenced put (EVALSHA with the epoch key first
      and 4 keys) with the epoch its writer sent, whether the script went on
      to INCR the revision counter, and the revision it wrote ("put_sha" is
      the put script's SHA, first seen); also the terms
      taken (acquire scripts that INCR the epoch). Prints them, then
      "stale_attempts N stale_written W after_since_epochs E,..."; exit 1 if
      a put fenced by STALE_EPOCH wrote anything, or if a revision written
      after SINCE_S (MONITOR's clock, seconds) carries STALE_EPOCH.
  check.py median NUM...
"""
import re
import socket
import statistics
import sys
import time

TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"')


class Resp:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        if kind == b":":
            return int(rest)
        if kind == b"-":
            raise RuntimeError(rest.decode())
        return rest

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self._reply()


def read_acks(path):
    rows = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) == 5:
                rows.append((int(p[0]), int(p[1]), int(p[2]), int(p[3]),
                             int(p[4])))
    return rows


def stamp(ms):
    return time.strftime("%H:%M:%S", time.gmtime(ms / 1000)) + ".%03dZ" % (ms % 1000)


def cmd_acks(port, acklog, folder, prefix="traefikee:"):
    r = Resp(int(port))
    acked = [row for row in read_acks(acklog) if row[3] == 0]
    lost, seen, dup = [], {}, 0
    for i, _, end, _, rev in acked:
        if rev in seen:
            dup += 1
            print("dup revision %d acknowledged for r%d and r%d" %
                  (rev, seen[rev], i))
        seen[rev] = i
        with open("%s/r%d.yaml" % (folder, i), "rb") as f:
            want = f.read()
        got = r.cmd("GET", "%srev:%d" % (prefix, rev))
        if got != want:
            what = "missing" if got is None else "holds another document"
            m = re.search(rb"\n    (r\d+):", got or b"")
            print("lost r%d revision %d acknowledged at %s: %s%s" %
                  (i, rev, stamp(end), what,
                   " (%s)" % m.group(1).decode() if m else ""))
            lost.append(i)
    print("acked %d lost %d dup %d" % (len(acked), len(lost), dup))
    return 1 if lost or dup else 0


def cmd_resume(acklog, *kills):
    acked = [row for row in read_acks(acklog) if row[3] == 0]
    times, bad = [], 0
    for n, k in enumerate(int(k) for k in kills):
        after = [end for _, start, end, _, _ in acked if start >= k]
        if not after:
            print("resume %d none" % (n + 1))
            bad = 1
            continue
        times.append(min(after) - k)
        print("resume %d %d" % (n + 1, times[-1]))
    if times:
        print("median %d max %d" % (statistics.median(times), max(times)))
    return bad


def parse_monitor(path):
    """Yields (ts, source, [args]) per MONITOR line."""
    with open(path, errors="replace") as f:
        for line in f:
            m = re.match(r"^(\d+\.\d+) \[\d+ ([^\]]+)\] (.*)$", line.rstrip("\n"))
            if m:
                yield float(m.group(1)), m.group(2), TOKEN.findall(m.group(3))


def scripts(path):
    """Groups each EVALSHA/EVAL with the lua commands it ran."""
    cur = None
    for ts, src, args in parse_monitor(path):
        if src == "lua":
            if cur is not None:
                cur[3].append(args)
            continue
        if cur is not None:
            yield cur
            cur = None
        if args and args[0].upper() in ("EVALSHA", "EVAL"):
            cur = (ts, src, args, [])
    if cur is not None:
        yield cur


def cmd_monitor(path, stale, since, prefix="traefikee:"):
    stale, since = str(stale), float(since)
    attempts = written = bad = 0
    after_epochs = set()
    sha = ""
    for ts, src, args, lua in scripts(path):
        keys = args[3:3 + int(args[2])] if len(args) > 3 else []
        if keys[:2] == [prefix + "leader", prefix + "epoch"] and len(keys) == 2:
            incr = any(c[:2] == ["INCR", prefix + "epoch"] for c in lua)
            if incr:
                print("term %.3f %s node=%s" % (ts, src, args[5]))
            continue
        if len(keys) != 4 or keys[0] != prefix + "epoch":
            continue
        epoch = args[7]
        rev = next((c[1][len(prefix) + 4:] for c in lua
                    if c[0] == "SET" and c[1].startswith(prefix + "rev:")), "")
        wrote = any(c[:2] == ["INCR", prefix + "revision"] for c in lua)
        if not sha:
            sha = args[1]
            print("put_sha %s" % sha)
        print("put %.3f %s epoch=%s %s" %
              (ts, src, epoch, "wrote revision " + rev if wrote else "refused"))
        if epoch == stale:
            attempts += ts >= since
            if wrote and ts >= since:
                written += 1
                bad = 1
        if wrote and ts >= since:
            after_epochs.add(epoch)
    print("stale_attempts %d stale_written %d after_since_epochs %s" %
          (attempts, written, ",".join(sorted(after_epochs)) or "-"))
    return bad


def cmd_median(*nums):
    v = [float(n) for n in nums]
    print("%d" % statistics.median(v) if v else "-")
    return 0


def main(argv):
    cmds = {"acks": cmd_acks, "resume": cmd_resume, "monitor": cmd_monitor,
            "median": cmd_median}
    if len(argv) < 2 or argv[1] not in cmds:
        sys.exit(__doc__)
    sys.exit(cmds[argv[1]](*argv[2:]))


if __name__ == "__main__":
    main(sys.argv)
