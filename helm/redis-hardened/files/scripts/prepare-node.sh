#!/bin/sh
# Renders this pod's redis.conf, users.acl and exporter credentials into
# RUN_DIR before Redis starts (init container of every Redis pod).
#
# Mode sentinel decides here whether the pod starts as primary or replica, on
# EVERY start, so that neither a fresh install (all pods at once) nor a
# restarted former primary yields two primaries:
#   1. ask the Sentinels `SENTINEL get-master-addr-by-name`;
#   2. else ask the other data nodes for `ROLE` (Sentinels may be restarting
#      while a promoted replica is primary);
#   3. else fall back to pod 0 (FALLBACK_PRIMARY): only a fresh install gets here.
#
# Environment (set by the StatefulSet; tests set the same):
#   MODE             standalone | sentinel | cluster
#   TEMPLATE_DIR     redis.conf, users.acl and (mode sentinel) replica.conf
#                    from the chart's ConfigMap
#   SECRET_DIR       passwords, one file per key
#   RUN_DIR          output directory (memory-backed emptyDir)
#   EXPORTER_DIR     optional: where redis_exporter's password file goes
#   EXPORTER_ADDR    address the exporter scrapes (key of that file)
#   ANNOUNCE_HOST    this pod's stable DNS name
#   REDIS_PORT       port clients and replicas use
#   TLS_DIR          certificates; empty when TLS is off
#   sentinel mode:   MASTER_NAME SENTINEL_ADDRS DATA_ADDRS FALLBACK_PRIMARY
set -eu
umask 077
. "$(dirname "$0")/lib.sh"

: "${MODE:?}" "${TEMPLATE_DIR:?}" "${SECRET_DIR:?}" "${RUN_DIR:?}"
: "${ANNOUNCE_HOST:?}" "${REDIS_PORT:?}"
self="$ANNOUNCE_HOST:$REDIS_PORT"
mkdir -p "$RUN_DIR"

# users.acl: the policy's users with password hashes, never clear text.
cp "$TEMPLATE_DIR/users.acl" "$RUN_DIR/users.acl.tmp"
fill_hashes "$RUN_DIR/users.acl.tmp"
assert_filled "$RUN_DIR/users.acl.tmp"
mv "$RUN_DIR/users.acl.tmp" "$RUN_DIR/users.acl"

# redis.conf: the policy for this mode as the chart rendered it; what differs
# per pod is filled here.
conf="$RUN_DIR/redis.conf.tmp"
cp "$TEMPLATE_DIR/redis.conf" "$conf"
if [ "$MODE" = sentinel ]; then
  : "${MASTER_NAME:?}" "${FALLBACK_PRIMARY:?}"
  primary=$(current_primary "" "$self")
  if same_addr "$primary" "$self"; then
    log "starting as primary ($self)"
  else
    log "starting as replica of $primary"
    {
      printf '\n# ---- redis-conf/replica.conf, appended by prepare-node.sh at start ----\n'
      cat "$TEMPLATE_DIR/replica.conf"
    } >> "$conf"
    fill "$conf" PRIMARY_HOST "${primary%:*}"
    fill "$conf" PRIMARY_PORT "${primary##*:}"
  fi
fi
fill "$conf" ANNOUNCE_HOST "$ANNOUNCE_HOST"
fill "$conf" ANNOUNCE_PORT "$REDIS_PORT"
# masterauth (modes sentinel and cluster): the replication password in clear
# text, which is why RUN_DIR is memory-backed and this file owner-only.
fill_secrets "$conf"
assert_filled "$conf"
mv "$conf" "$RUN_DIR/redis.conf"

# Password for the probes (PING as the exporter user).
exporter_password=$(secret exporter-password)
printf '%s' "$exporter_password" > "$RUN_DIR/probe.pass"

if [ -n "${EXPORTER_DIR:-}" ] && [ -n "${EXPORTER_ADDR:-}" ]; then
  # redis_exporter's --redis.password-file is a JSON map from address to
  # password; versions differ in whether the key carries the user name.
  mkdir -p "$EXPORTER_DIR"
  scheme=${EXPORTER_ADDR%%://*}
  rest=${EXPORTER_ADDR#*://}
  printf '{%s: %s, %s: %s}\n' \
    "$(json_quote "$EXPORTER_ADDR")" "$(json_quote "$exporter_password")" \
    "$(json_quote "$scheme://exporter@$rest")" "$(json_quote "$exporter_password")" \
    > "$EXPORTER_DIR/password.json"
fi
log "rendered $RUN_DIR/redis.conf and $RUN_DIR/users.acl for mode $MODE"
