#!/bin/sh
# Container health check of a node: PING as a least-privileged user (data
# nodes: exporter; Sentinels: app), over the node's own port inside the
# container. compose/render.sh installs this script at /config/healthcheck.sh
# and writes /config/<node>/healthcheck.auth ("port user password"); the
# password travels in REDISCLI_AUTH, never on the command line.
# Usage: /config/healthcheck.sh NODE   (exit 0 = healthy)
set -eu
read -r port user pass <"/config/$1/healthcheck.auth"
reply="$(REDISCLI_AUTH="$pass" redis-cli --no-auth-warning --user "$user" -h 127.0.0.1 -p "$port" PING 2>&1)" || true
[ "$reply" = PONG ] || { echo "PING as $user on port $port: $reply"; exit 1; }
