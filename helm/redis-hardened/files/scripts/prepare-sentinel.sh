#!/bin/sh
# Renders this Sentinel's sentinel.conf into RUN_DIR (init container of every
# Sentinel pod). The primary it monitors comes from the other Sentinels, else
# from the data nodes' ROLE, else pod 0 (see lib.sh: current_primary), so a
# restarted Sentinel never points the others back at a demoted primary.
#
# Environment: TEMPLATE_DIR SECRET_DIR RUN_DIR ANNOUNCE_HOST SENTINEL_PORT
# MASTER_NAME SENTINEL_ADDRS DATA_ADDRS FALLBACK_PRIMARY TLS_DIR.
set -eu
umask 077
. "$(dirname "$0")/lib.sh"

: "${TEMPLATE_DIR:?}" "${SECRET_DIR:?}" "${RUN_DIR:?}" "${ANNOUNCE_HOST:?}"
: "${SENTINEL_PORT:?}" "${MASTER_NAME:?}" "${FALLBACK_PRIMARY:?}"
self="$ANNOUNCE_HOST:$SENTINEL_PORT"
mkdir -p "$RUN_DIR"

sentinel_password=$(secret sentinel-password)
primary=$(current_primary "$self" "")

# The policy's sentinel.conf as the chart rendered it; what differs per pod
# is filled here: ACL hashes of its users, and the sentinel password in clear
# text for auth-pass and sentinel-pass (RUN_DIR is memory-backed, this file
# owner-only). It stays writable: Sentinel rewrites it as the topology changes.
conf="$RUN_DIR/sentinel.conf.tmp"
cp "$TEMPLATE_DIR/sentinel.conf" "$conf"
fill_hashes "$conf"
fill_secrets "$conf"
fill "$conf" ANNOUNCE_HOST "$ANNOUNCE_HOST"
fill "$conf" ANNOUNCE_PORT "$SENTINEL_PORT"
fill "$conf" MASTER_HOST "${primary%:*}"
fill "$conf" MASTER_PORT "${primary##*:}"
# A stable id per announced address: a restarted Sentinel is the same
# Sentinel to its peers instead of a new one next to a stale entry.
fill "$conf" MYID "$(printf '%s' "$self" | sha1sum | cut -c1-40)"
assert_filled "$conf"
mv "$conf" "$RUN_DIR/sentinel.conf"
printf '%s' "$sentinel_password" > "$RUN_DIR/probe.pass"
log "monitoring $MASTER_NAME at $primary"
