#!/usr/bin/env bash
# bench/ha.sh -- TraefikEE's high-availability demo, longer and with slap's
# live view: integration/ha/run.sh (a local cluster of 3 control nodes and 6
# data nodes behind HAProxy; per rate a window before any fault, then one
# window per fault: kill -9 a data node, SIGTERM one, kill -9 the leader,
# kill -9 the Redis master, a 5 s network cut, a config change during a
# fault) with 20 s windows instead of 7 s. The same checks and summary
# table. Not part of the tests.
#
#   bench/ha.sh                     (HA_WINDOW=20 HA_RATES="50 2000"
#                                    HA_DATA_NODES=6; any may be overridden;
#                                    HA_LIVE= hides the view; ~5 min)
# Development mode (docs/security.md): plain text, no cluster CA, no tokens.
export TRAEFIKEE_INSECURE=1
set -u
cd "$(dirname "$0")/.." || exit 2
export HA_WINDOW=${HA_WINDOW:-20} HA_RATES=${HA_RATES:-50 2000}
export HA_DATA_NODES=${HA_DATA_NODES:-6}
export HA_LIVE=${HA_LIVE-1}
exec integration/ha/run.sh
