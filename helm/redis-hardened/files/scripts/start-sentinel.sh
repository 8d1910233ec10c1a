#!/bin/sh
# Entry point of the Sentinel container: re-renders sentinel.conf on every
# start (current primary from the other Sentinels) and becomes redis-sentinel.
# Extra arguments go to redis-server.
set -eu
# Sentinel rewrites sentinel.conf (clear-text auth-pass and sentinel-pass) at
# every topology change, with mode 0644 minus its umask: keep it owner-only.
umask 077
"$(dirname "$0")/prepare-sentinel.sh"
exec redis-server "$RUN_DIR/sentinel.conf" --sentinel "$@"
