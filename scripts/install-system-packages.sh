#!/usr/bin/env bash
# Installs the Debian packages the tests use: real redis-server/sentinel and
# redis-cli/redis-benchmark for the live tests and benchmarks, busybox-static
# for the offline images, unzip for the helm extraction, prometheus (promtool)
# and prometheus-redis-exporter for the alert-rule and exporter tests. Quick
# when present.
set -euo pipefail
packages=(redis-server redis-sentinel redis-tools busybox-static unzip openssl prometheus prometheus-redis-exporter)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}" >/dev/null
# The packages start system services where systemd runs; tests start their own.
for svc in redis-server redis-sentinel prometheus prometheus-redis-exporter; do
  $sudo systemctl stop "$svc" >/dev/null 2>&1 || true
done
