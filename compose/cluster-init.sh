#!/bin/sh
# Creates the Redis Cluster of docker-compose.yml's `cluster` profile, once:
# 3 primaries with 1 replica each from the 6 nodes given as arguments
# ("name:port ..."). Idempotent: when any node already knows other nodes or
# serves slots, the cluster exists and nothing is changed.
#
# Runs as the `admin` ACL user; its password comes in REDISCLI_AUTH (never on
# a command line). `CLUSTER MEET` takes IP addresses only, so each node's
# address inside the compose network is read from its side of our own
# connection (CLIENT INFO laddr=): no resolver tools needed in the image.
# Clients still see the service names: cluster.conf sets
# cluster-announce-hostname and cluster-preferred-endpoint-type hostname.
set -eu
: "${REDISCLI_AUTH:?REDISCLI_AUTH must hold the admin password}"
: "${CLUSTER_REPLICAS:=1}"
: "${WAIT_SECONDS:=60}"
[ "$#" -gt 0 ] || { echo "usage: cluster-init.sh name:port ..." >&2; exit 2; }

log() { printf 'cluster-init: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
cli() {
    host="$1" port="$2"
    shift 2
    redis-cli --no-auth-warning --user admin -h "$host" -p "$port" "$@" | tr -d '\r'
}
# field HOST PORT NAME: one field of CLUSTER INFO.
field() { cli "$1" "$2" CLUSTER INFO | sed -n "s/^$3://p"; }

# wait_ok NODE...: every node reports cluster_state:ok (bounded).
wait_ok() {
    deadline=$WAIT_SECONDS
    for node in "$@"; do
        while [ "$(field "${node%%:*}" "${node##*:}" cluster_state)" != ok ]; do
            deadline=$((deadline - 1))
            [ "$deadline" -gt 0 ] || die "cluster_state of $node is not ok after ${WAIT_SECONDS}s"
            sleep 1
        done
    done
}

# wait_replicas_linked NODE...: every replica has finished its first sync
# (until then CLUSTER SLOTS leaves it out), bounded.
wait_replicas_linked() {
    deadline=$WAIT_SECONDS
    for node in "$@"; do
        while :; do
            repl="$(cli "${node%%:*}" "${node##*:}" INFO replication)"
            case "$repl" in *role:master*) break ;; esac
            case "$repl" in *master_link_status:up*) break ;; esac
            deadline=$((deadline - 1))
            [ "$deadline" -gt 0 ] || die "replica $node is not linked to its primary after ${WAIT_SECONDS}s"
            sleep 1
        done
    done
}

addrs="" existing=""
for node in "$@"; do
    host="${node%%:*}" port="${node##*:}"
    # The nodes are healthy (depends_on), but stay patient for a moment.
    tries=10
    until [ "$(cli "$host" "$port" PING 2>/dev/null)" = PONG ]; do
        tries=$((tries - 1))
        [ "$tries" -gt 0 ] || die "$node does not answer PING as admin"
        sleep 1
    done
    known="$(field "$host" "$port" cluster_known_nodes)"
    assigned="$(field "$host" "$port" cluster_slots_assigned)"
    if [ "${known:-0}" -gt 1 ] || [ "${assigned:-0}" -gt 0 ]; then
        existing="$existing $node(known_nodes=$known,slots_assigned=$assigned)"
    fi
    laddr="$(cli "$host" "$port" CLIENT INFO | sed -n 's/.* laddr=\([^ ]*\) .*/\1/p')"
    [ -n "$laddr" ] || die "could not read $node's address from CLIENT INFO"
    addrs="$addrs ${laddr%:*}:$port"
done

if [ -n "$existing" ]; then
    log "cluster already exists:$existing; nothing to do"
    exit 0
fi

log "creating the cluster from:$addrs"
# shellcheck disable=SC2086 # one argument per address
redis-cli --no-auth-warning --user admin --cluster create $addrs \
    --cluster-replicas "$CLUSTER_REPLICAS" --cluster-yes
wait_ok "$@"
wait_replicas_linked "$@"
log "cluster_state:ok on every node, every replica linked to its primary"
