#!/bin/sh
# run.sh -- golden test of `traefikeectl translate`: the JSON of sample.yaml
# must equal expected.json byte for byte (and twice in a row), a rejected
# config must fail with exactly one line on stderr, and the wire bytes must
# decode with Envoy's own protos (decode.js, when node and
# integration/node/node_modules are there).
# usage: run.sh [TRAEFIKEECTL]      (default: bazel builds it)
#        run.sh --update [TRAEFIKEECTL]   rewrites expected.json
# Development mode (docs/security.md): plain text, no cluster CA, no tokens.
export TRAEFIKEE_INSECURE=1
set -eu
here=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
repo=$(cd "$here/../.." && pwd)
update=0
if [ "${1:-}" = "--update" ]; then update=1; shift; fi
ctl=${1:-}
if [ -z "$ctl" ]; then
    (cd "$repo" && bazel build //tools/traefikeectl >/dev/null 2>&1)
    ctl="$(cd "$repo" && bazel info bazel-bin 2>/dev/null)/tools/traefikeectl/traefikeectl"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$ctl" translate -f "$here/sample.yaml" --version 42 >"$tmp/got.json"
if [ $update = 1 ]; then
    cp "$tmp/got.json" "$here/expected.json"
    echo "run.sh: expected.json updated"
    exit 0
fi
diff -u "$here/expected.json" "$tmp/got.json"
"$ctl" translate -f "$here/sample.yaml" --version 42 >"$tmp/again.json"
cmp "$tmp/got.json" "$tmp/again.json"
echo "run.sh: golden JSON ok"

if "$ctl" translate -f "$here/rejected.yaml" >"$tmp/out" 2>"$tmp/err"; then
    echo "run.sh: rejected.yaml was accepted" >&2
    exit 1
fi
want='traefikeectl: translate: '"$here"'/rejected.yaml: router "whoami": rule: column 21: negated Host cannot be expressed in xDS (virtual host domains cannot be negated)'
if [ "$(cat "$tmp/err")" != "$want" ] || [ -s "$tmp/out" ]; then
    echo "run.sh: unexpected error output:" >&2
    cat "$tmp/err" >&2
    exit 1
fi
echo "run.sh: rejection ok"

if command -v node >/dev/null 2>&1 &&
    [ -d "$repo/integration/node/node_modules/protobufjs" ]; then
    "$ctl" translate -f "$here/sample.yaml" -o wire >"$tmp/wire.txt"
    node "$here/decode.js" "$repo" "$tmp/wire.txt"
else
    echo "run.sh: node or integration/node/node_modules missing: wire check skipped"
fi
