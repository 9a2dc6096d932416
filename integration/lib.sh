# integration/lib.sh -- the harness the integration scripts share: a temp
# dir, the pids to stop on exit, and ok/FAIL accounting. Source it after
# setting NAME (the temp dir prefix):
#
#   NAME=dp-it; . "$(dirname "$0")/../lib.sh"
#
# It cds to the repository root and defines ROOT, TMP, PIDS, FAILS, ok, fail,
# check and freeport. On exit it stops the pids in PIDS (only those: never
# by name) and removes TMP unless something failed or KEEP_TMP is set.
set -u
# Development mode (docs/security.md): plain text, no cluster CA, no tokens.
export TRAEFIKEE_INSECURE=1
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
TMP=$(mktemp -d "/tmp/${NAME:-it}.XXXXXX")
PIDS=()
FAILS=0

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    if [ "$FAILS" -eq 0 ] && [ -z "${KEEP_TMP:-}" ]; then rm -rf "$TMP"; else echo "logs in $TMP"; fi
}
trap cleanup EXIT

ok() { echo "ok $1"; }
fail() { echo "FAIL $1${2:+: $2}"; FAILS=$((FAILS + 1)); }
check() { # check NAME COMMAND...: ok if the command succeeds
    local name=$1; shift
    if "$@"; then ok "$name"; else fail "$name"; fi
}

freeport() { # a free loopback TCP port
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
