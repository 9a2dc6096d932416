#!/usr/bin/env python3
"""integration/ha/cluster.py -- reads and updates the cluster.json that
`traefikeectl install --local` writes, for run.sh: a process's pid, address
or argv; which process listens on an address; and restarting a process from
its recorded argv (detached, appending to its log) with the new pid written
back, so that `uninstall --local` stops it too.

  cluster.py FILE pid NAME
  cluster.py FILE addr NAME KEY          e.g. admin, grpc, redis,
                                         entryPoints.web
  cluster.py FILE name-of ROLE ADDR      the process of ROLE at H:P
  cluster.py FILE names ROLE             one name per line
  cluster.py FILE log NAME               its log file
  cluster.py FILE restart NAME           prints the new pid

A restart runs with the caller's environment, but without
TRAEFIKEE_INSECURE when cluster.json says the cluster is secure: the
recorded argv alone decides the mode, as it did at install.
"""
import json
import os
import subprocess
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def find(doc, name):
    for p in doc["processes"]:
        if p["name"] == name:
            return p
    sys.exit("cluster.py: no process named %s" % name)


def save(path, doc):
    tmp = path + ".ha.tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2)
    os.rename(tmp, path)


def restart(path, doc, name):
    p = find(doc, name)
    env = dict(os.environ)
    if doc.get("secure"):
        env.pop("TRAEFIKEE_INSECURE", None)
    with open(p["log"], "ab") as log, open(os.devnull, "rb") as null:
        child = subprocess.Popen(p["argv"], stdin=null, stdout=log, env=env,
                                 stderr=subprocess.STDOUT,
                                 start_new_session=True, close_fds=True)
    p["pid"] = child.pid
    save(path, doc)
    print(child.pid)


def main(argv):
    path, cmd, args = argv[1], argv[2], argv[3:]
    doc = load(path)
    if cmd == "pid":
        print(find(doc, args[0])["pid"])
    elif cmd == "addr":
        a = find(doc, args[0])["addresses"]
        for k in args[1].split("."):
            a = a[k]
        print(a)
    elif cmd == "log":
        print(find(doc, args[0])["log"])
    elif cmd == "names":
        for p in doc["processes"]:
            if p["role"] == args[0]:
                print(p["name"])
    elif cmd == "name-of":
        for p in doc["processes"]:
            if p["role"] == args[0] and args[1] in p["addresses"].values():
                print(p["name"])
                return
        sys.exit("cluster.py: no %s at %s" % (args[0], args[1]))
    elif cmd == "restart":
        restart(path, doc, args[0])
    else:
        sys.exit("cluster.py: unknown command %s" % cmd)


if __name__ == "__main__":
    main(sys.argv)
