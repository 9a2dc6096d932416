#!/usr/bin/env bash
# Installs every Debian and npm package the project needs on a fresh Debian 12
# machine. Idempotent and quiet when everything is already there.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)

debs=(
  # build
  bazel-bootstrap gcc g++ clang-14 libclang-rt-14-dev libfuzzer-14-dev
  clang-format protobuf-c-compiler libprotobuf-c-dev libprotobuf-dev
  # libraries
  libgrpc-dev libuv1-dev libssl-dev libhiredis-dev liburcu-dev
  libnghttp2-dev libyaml-dev libjansson-dev libpcre2-dev libcmocka-dev
  # real peers in tests and benchmarks
  redis-server redis-sentinel python3-grpcio nodejs npm
  nginx-light haproxy wrk nghttp2-client curl
  # the HA test cuts a data node off the network with a drop rule
  nftables iproute2
  # the dashboard's browser test (headless)
  chromium
)

missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
    || missing+=("$p")
done
# The machine may bring its own node/npm; do not fight it.
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=()
  for p in "${missing[@]}"; do
    case "$p" in nodejs|npm) ;; *) tmp+=("$p") ;; esac
  done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian starts these services on install; the tests start their own.
for svc in nginx haproxy redis-server; do
  if command -v systemctl >/dev/null && systemctl is-active -q "$svc" 2>/dev/null; then
    systemctl disable --now -q "$svc" 2>/dev/null || true
  fi
done

# npm packages of the tests (integration/*/package.json): the third-party
# xDS clients, Envoy's protos, playwright-core for the browser test.
for pj in "$here"/integration/*/package.json; do
  dir=$(dirname "$pj")
  if [ ! -d "$dir/node_modules" ]; then
    echo "install-deps: npm ci in ${dir#$here/}"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
done
exit 0
