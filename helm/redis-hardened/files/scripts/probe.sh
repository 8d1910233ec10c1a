#!/bin/sh
# Liveness and readiness probe for Redis and Sentinel containers.
#   probe.sh live|ready USER PORT
# PINGs 127.0.0.1:PORT as USER with the password in RUN_DIR/probe.pass.
# ready: only PONG. live: also a server that is busy loading its data set or
# has lost its primary (LOADING, MASTERDOWN, BUSY): restarting it would not help.
set -u
kind=$1 user=$2 port=$3
set -- -h 127.0.0.1 -p "$port" --user "$user"
if [ -n "${TLS_DIR:-}" ]; then
  set -- --tls --cacert "$TLS_DIR/ca.crt" --cert "$TLS_DIR/tls.crt" --key "$TLS_DIR/tls.key" "$@"
fi
reply=$(REDISCLI_AUTH="$(cat "$RUN_DIR/probe.pass")" timeout 4 redis-cli "$@" PING 2>&1 | tr -d '\r')
case "$kind:$reply" in
  *:PONG) exit 0 ;;
  live:LOADING* | live:MASTERDOWN* | live:BUSY*) exit 0 ;;
esac
echo "probe $kind failed: ${reply:-no reply}" >&2
exit 1
