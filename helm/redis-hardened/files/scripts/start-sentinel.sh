#!/bin/sh
# Entry point of the Sentinel container: re-renders sentinel.conf on every
# start (current primary from the other Sentinels) and becomes redis-sentinel.
# Extra arguments go to redis-server.
set -eu
"$(dirname "$0")/prepare-sentinel.sh"
exec redis-server "$RUN_DIR/sentinel.conf" --sentinel "$@"
