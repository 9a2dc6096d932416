#!/usr/bin/env python3
"""genconfig.py -- writes a large traefikee configuration (YAML) for the
benchmarks in bench/: routers with Host && PathPrefix rules, loadBalancer
and weighted services, a few middlewares. Deterministic: the same flags give
the same bytes.

  genconfig.py --routers 10000 --services 5000 [--weighted 500]
               [--port 8000] [--backend 127.0.0.1:9000] [--backends 2]
               [--variant 0] [--bump 0] [--health] [--probe-routes N]
               [--probe-backend HOST:PORT] [-o FILE]

--variant V   changes every route (path /vV-pN), every cluster (health
              check path /hc-V, with --health) and every endpoint (ports
              shifted by V) -- a "full change" between V and V+1
--bump K      shifts only the first service's first server port by K -- a
              one-endpoint change
--probe-routes N  adds routers rev-1..rev-N: Host(`probe.test`) &&
              Path(`/rev-I`) -> service probe (--probe-backend)
"""
import argparse
import sys


def main():
    ap = argparse.ArgumentParser(description="bench config generator")
    ap.add_argument("--routers", type=int, default=10000)
    ap.add_argument("--services", type=int, default=5000,
                    help="services in all, weighted ones included")
    ap.add_argument("--weighted", type=int, default=-1,
                    help="how many of the services are weighted "
                         "[services/10]")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--backend", default="127.0.0.1:9000",
                    help="HOST:PORT of the first server; others follow")
    ap.add_argument("--backends", type=int, default=2,
                    help="servers per loadBalancer service")
    ap.add_argument("--same-backend", action="store_true",
                    help="every server is --backend (one real backend)")
    ap.add_argument("--variant", type=int, default=0)
    ap.add_argument("--bump", type=int, default=0)
    ap.add_argument("--health", action="store_true")
    ap.add_argument("--probe-routes", type=int, default=0)
    ap.add_argument("--probe-backend", default="127.0.0.1:9000")
    ap.add_argument("-o", "--output", default="-")
    a = ap.parse_args()

    weighted = a.weighted if a.weighted >= 0 else a.services // 10
    n_lb = max(1, a.services - weighted)
    host, port = a.backend.rsplit(":", 1)
    port = int(port)
    out = []
    w = out.append

    w("entryPoints:\n")
    w('  web: {address: "127.0.0.1:%d"}\n' % a.port)
    w("http:\n")
    w("  routers:\n")
    names = ["s%d" % i for i in range(n_lb)] + \
            ["w%d" % i for i in range(weighted)]
    mws = ["strip", "hdr", "retry", "addp", "chain"]
    for i in range(a.routers):
        prefix = "/p%d" % i if a.variant == 0 else "/v%d-p%d" % (a.variant, i)
        rule = "Host(`svc%d.example.com`) && PathPrefix(`%s`)" % (i // 5,
                                                                 prefix)
        extra = ""
        if i % 10 == 0:
            extra = ", middlewares: [%s]" % mws[(i // 10) % len(mws)]
        w('    r%d: {rule: "%s", service: %s%s}\n'
          % (i, rule, names[i % len(names)], extra))
    for i in range(1, a.probe_routes + 1):
        w('    rev-%d: {rule: "Host(`probe.test`) && Path(`/rev-%d`)", '
          'service: probe}\n' % (i, i))

    w("  services:\n")
    for i in range(n_lb):
        servers = []
        for j in range(a.backends):
            p = port if a.same_backend else \
                port + (i * a.backends + j + a.variant) % 50000
            if i == 0 and j == 0:
                p += a.bump
            s = '{url: "http://%s:%d"' % (host, p)
            if j == 1:
                s += ", weight: 2"
            servers.append(s + "}")
        hc = ""
        if a.health:
            hc = ", healthCheck: {path: /hc-%d, interval: 10s, timeout: 1s}" \
                 % a.variant
        w("    s%d: {loadBalancer: {servers: [%s]%s}}\n"
          % (i, ", ".join(servers), hc))
    for i in range(weighted):
        x, y = (2 * i) % n_lb, (2 * i + 1) % n_lb
        w("    w%d: {weighted: {services: [{name: s%d, weight: 9}, "
          "{name: s%d, weight: 1}]}}\n" % (i, x, y))
    if a.probe_routes > 0:
        w('    probe: {loadBalancer: {servers: [{url: "http://%s"}]}}\n'
          % a.probe_backend)

    w("  middlewares:\n")
    w("    strip: {stripPrefix: {prefixes: [/api]}}\n")
    w("    hdr: {headers: {customRequestHeaders: {X-Bench: \"1\"}, "
      "customResponseHeaders: {X-Served: bench}}}\n")
    w("    retry: {retry: {attempts: 3, initialInterval: 100ms}}\n")
    w("    addp: {addPrefix: {prefix: /v1}}\n")
    w("    chain: {chain: {middlewares: [strip, hdr]}}\n")

    text = "".join(out)
    if a.output == "-":
        sys.stdout.write(text)
    else:
        with open(a.output, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
