#!/usr/bin/env bash
# bench/ha.sh -- TraefikEE's high-availability demo, longer and with slap's
# live view: a local cluster (3 control nodes, 3 data nodes) behind HAProxy,
# 50 req/s for 20 s before, 60 s during and 20 s after the failures (a data
# node killed and restarted, the control-plane leader killed and restarted,
# the Redis master killed and restarted). It is integration/ha/run.sh with
# other durations; the same checks, the same summary. Not part of the tests.
#
#   bench/ha.sh                     (HA_BEFORE=20 HA_DURING=60 HA_AFTER=20
#                                    HA_RATE=50 HA_DATA_NODES=3; any may be
#                                    overridden; HA_LIVE= hides the view)
set -u
cd "$(dirname "$0")/.." || exit 2
export HA_BEFORE=${HA_BEFORE:-20} HA_DURING=${HA_DURING:-60} HA_AFTER=${HA_AFTER:-20}
export HA_RATE=${HA_RATE:-50} HA_DATA_NODES=${HA_DATA_NODES:-3}
export HA_LIVE=${HA_LIVE-1}
exec integration/ha/run.sh
