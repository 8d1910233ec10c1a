#!/bin/sh
# Creates the Redis Cluster once every node answers (post-install/upgrade Job).
# Idempotent: exits 0 when the cluster already covers all 16384 slots; refuses
# to touch a cluster that is only partly formed.
#
# Environment: CLUSTER_NODES (host:port ...), CLUSTER_REPLICAS, WAIT_SECONDS,
# SECRET_DIR, TLS_DIR. Authenticates as `admin` with the password from
# SECRET_DIR (passed to redis-cli through REDISCLI_AUTH, never on argv).
set -eu
. "$(dirname "$0")/lib.sh"
: "${CLUSTER_NODES:?}" "${CLUSTER_REPLICAS:?}" "${WAIT_SECONDS:?}" "${SECRET_DIR:?}"

deadline=$(( $(date +%s) + WAIT_SECONDS ))
for addr in $CLUSTER_NODES; do
  until [ "$(cli admin "$addr" PING)" = PONG ]; do
    [ "$(date +%s)" -lt "$deadline" ] || die "$addr did not answer PING within ${WAIT_SECONDS}s"
    sleep 2
  done
done
log "all nodes answer"

info_field() { cli admin "$1" CLUSTER INFO | sed -n "s/^$2://p"; }
first=${CLUSTER_NODES%% *}
if [ "$(info_field "$first" cluster_slots_assigned)" = 16384 ]; then
  log "cluster already created; nothing to do"
  exit 0
fi
for addr in $CLUSTER_NODES; do
  known=$(info_field "$addr" cluster_known_nodes)
  slots=$(info_field "$addr" cluster_slots_assigned)
  if [ "${known:-1}" != 1 ] || [ "${slots:-0}" != 0 ]; then
    die "$addr already knows $known nodes and $slots slots: the cluster is partly formed; inspect it with 'redis-cli --cluster check' and repair with 'redis-cli --cluster fix'"
  fi
done

# CLUSTER MEET needs addresses; clients still get the announced host names.
ips=""
for addr in $CLUSTER_NODES; do
  ip=$(getent hosts "${addr%:*}" | head -n1 | cut -d' ' -f1)
  [ -n "$ip" ] || die "cannot resolve ${addr%:*}"
  case "$ip" in *:*) ip="[$ip]" ;; esac
  ips="$ips $ip:${addr##*:}"
done

set -- --cluster create $ips --cluster-replicas "$CLUSTER_REPLICAS" --cluster-yes --user admin
if [ -n "${TLS_DIR:-}" ]; then
  set -- --tls --cacert "$TLS_DIR/ca.crt" --cert "$TLS_DIR/tls.crt" --key "$TLS_DIR/tls.key" "$@"
fi
admin_password=$(secret admin-password)
REDISCLI_AUTH="$admin_password" timeout "$WAIT_SECONDS" redis-cli "$@"

# Every node, not only the first: each flips to `ok` on its own (about 100 ms
# apart), and a client redirected to one still `fail` gets CLUSTERDOWN. And
# every node must know every other: redis-cli returns once the slots are
# agreed, while gossip may still be introducing a replica (seen under load).
count=$(printf '%s\n' $CLUSTER_NODES | wc -l | tr -d ' ')
for addr in $CLUSTER_NODES; do
  until [ "$(info_field "$addr" cluster_state)" = ok ] && [ "$(info_field "$addr" cluster_known_nodes)" = "$count" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || die "$addr: cluster_state is not ok with all $count nodes known within ${WAIT_SECONDS}s"
    sleep 1
  done
done
log "cluster created: $(info_field "$first" cluster_size) shards, state ok"
