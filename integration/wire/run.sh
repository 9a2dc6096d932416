#!/bin/sh
# Wire-compatibility test: our protobuf-c encoding of Envoy's v3 messages vs
# Envoy's own .proto files (protobufjs), both directions, plus a schema check
# of api/proto/envoy against Envoy's definitions.
#
#   integration/wire/run.sh          build with bazel, run, print one line per
#                                    type ("ok T" / "FAIL T: reason")
#   integration/wire/run.sh WIRE     use an already built wire binary (what
#                                    the sh_test //integration/wire:wire_test
#                                    does)
#
# Exits non-zero on any mismatch. Needs node and integration/node/node_modules.
# Development mode (docs/security.md): plain text, no cluster CA, no tokens.
export TRAEFIKEE_INSECURE=1
set -u

# The real location (under bazel test, $0 is a runfiles symlink): node_modules
# and the .proto sources are found from there.
here=$(dirname "$(readlink -f "$0")")
root=$(cd "$here/../.." && pwd -P)

WIRE_BIN=${1:-}
if [ -z "$WIRE_BIN" ]; then
    (cd "$root" && bazel build //integration/wire:wire) >&2 || exit 1
    WIRE_BIN="$(cd "$root" && bazel info bazel-bin 2>/dev/null)/integration/wire/wire"
fi

dir=$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/wire.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM

status=0
node "$here/wire_test.js" schema || status=1

# C -> node: C writes T.c.bin and T.json; node decodes with Envoy's protos,
# compares, and writes T.node.bin. node -> C: C decodes and compares.
"$WIRE_BIN" write "$dir" >"$dir/write.out" 2>&1 || status=1
node "$here/wire_test.js" check "$dir" >"$dir/c2node.out" 2>&1 || status=1
"$WIRE_BIN" check "$dir" >"$dir/node2c.out" 2>&1 || status=1

# One line per type: ok only if all three steps (C write, C -> node,
# node -> C) said ok for it.
awk '
    function see(t) { if (!(t in seen)) { order[n++] = t; seen[t] = 1 } }
    /^ok / { see($2); oks[$2]++; next }
    /^FAIL / {
        t = $2; sub(/:$/, "", t); see(t)
        line = $0; sub(/^FAIL [^ ]* /, "", line)
        if (t in bad) bad[t] = bad[t] "; " line
        else bad[t] = line
        next
    }
    NF { other[m++] = $0 }
    END {
        for (i = 0; i < n; i++) {
            t = order[i]
            if (t in bad) print "FAIL " t ": " bad[t]
            else if (oks[t] != 3) print "FAIL " t ": missing from a step"
            else print "ok " t
        }
        for (i = 0; i < m; i++) print "FAIL (output): " other[i]
    }
' "$dir/write.out" "$dir/c2node.out" "$dir/node2c.out" | tee "$dir/summary"

grep -q '^FAIL' "$dir/summary" && status=1
[ -s "$dir/summary" ] || status=1
exit $status
