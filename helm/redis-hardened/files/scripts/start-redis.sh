#!/bin/sh
# Entry point of the Redis container. Re-renders the configuration on EVERY
# container start, not only when the pod is created, so that a Redis process
# restarted after a failover asks the Sentinels again and comes back as a
# replica instead of a second primary. Extra arguments go to redis-server.
set -eu
# Redis creates the files it writes with mode 0644 minus its umask: redis.conf
# on CONFIG REWRITE (Sentinel sends one at every failover; it holds masterauth
# in clear text), the AOF and RDB files. Keep them owner-only.
umask 077
"$(dirname "$0")/prepare-node.sh"
exec redis-server "$RUN_DIR/redis.conf" "$@"
