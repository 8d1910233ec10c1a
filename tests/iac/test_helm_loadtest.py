"""The chart's optional load test Job (templates/loadtest-job.yaml).

Rendered offline for every ci/*-values.yaml scenario with
`loadtest.enabled=true`: the Job is an Indexed Job of `parallelism` pods,
each one `loadtest` against the release in the mode's URL form, reading
the app password from a mounted file and writing part-<index>.json; it is
hardened like every other workload of the chart, validates with
`kubernetes-validate --strict` and passes checkov with zero failures. Off
by default. How the parts merge is tested where the binary is:
loadtest/tests/live.rs `processes_side_by_side_merge_exactly` runs the same
thing as local processes.

Run: .tools/venv/bin/python -m pytest tests/iac/test_helm_loadtest.py -q
"""

from __future__ import annotations

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML missing: run scripts/install-python-tools.sh")

from test_helm import (  # noqa: E402  (the chart's own helpers: one way to render)
    ALLOWED_CHECKOV_SKIPS,
    FULLNAME,
    KUBERNETES_VERSIONS,
    NAMESPACE,
    SCENARIOS,
    checkov_report,
    find,
    helm,  # noqa: F401  (fixture)
    need_tool,
    one,
    parse,
    run,
    scenario_id,
    scenario_values,
    template,
)

JOB = f"{FULLNAME}-loadtest"
PARTS = 4
ENABLE = ("loadtest.enabled=true", f"loadtest.parallelism={PARTS}")


@pytest.fixture(scope="module")
def with_job(helm) -> dict[str, str]:  # noqa: F811
    """scenario id -> render with the load test Job enabled."""
    out = {}
    for path in SCENARIOS:
        result = template(helm, path, sets=ENABLE)
        assert result.returncode == 0, f"helm template failed for {path.name}:\n{result.stderr}"
        out[scenario_id(path)] = result.stdout
    return out


def args_of(job: dict) -> list[str]:
    return job["spec"]["template"]["spec"]["containers"][0]["args"]


def flag(args: list[str], name: str) -> str:
    assert name in args, f"{name} missing from {args}"
    return args[args.index(name) + 1]


def test_job_is_off_by_default(helm):  # noqa: F811
    for path in SCENARIOS:
        result = template(helm, path)
        assert result.returncode == 0, result.stderr
        assert not find(parse(result.stdout), "Job", JOB), f"{path.name} renders the load test Job unasked"


@pytest.mark.parametrize("values", SCENARIOS, ids=scenario_id)
def test_job_runs_parallel_parts_against_the_release(with_job, values):
    v = scenario_values(values)
    mode = v.get("mode", "standalone")
    tls = bool(v.get("tls", {}).get("enabled", False))
    job = one(parse(with_job[scenario_id(values)]), "Job", JOB)
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["parallelism"] == spec["completions"] == PARTS
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert spec["activeDeadlineSeconds"] > 0, "every wait is bounded"

    args = args_of(job)
    scheme = "rediss" if tls else "redis"
    target = flag(args, "--target")
    domain = f"{NAMESPACE}.svc.cluster.local"
    if mode == "standalone":
        assert target == f"{scheme}://{FULLNAME}.{domain}:6379"
    elif mode == "sentinel":
        assert target.startswith(f"{scheme}+sentinel://{FULLNAME}-sentinel-0.{FULLNAME}-sentinel-headless.{domain}:26379,")
        assert target.endswith("/mymaster")
        assert target.count(",") == v.get("sentinel", {}).get("replicas", 3) - 1
    else:
        assert target.startswith(f"{scheme}+cluster://{FULLNAME}-0.{FULLNAME}-headless.{domain}:6379,")
    assert flag(args, "--user") == "app"
    password_file = flag(args, "--password-file")
    if tls:
        assert flag(args, "--tls-ca").endswith("/ca.crt")
    else:
        assert "--tls-ca" not in args
    # The chart's default arguments, then one summary per completion index.
    assert flag(args, "--workload") == "ratelimit-sliding,session,lockout,idempotency"
    assert flag(args, "--rate") == "2000"
    assert flag(args, "--summary-json") == "/results/part-$(PART).json"
    container = spec["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["PART"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    )
    assert not any("secretKeyRef" in str(e.get("valueFrom", "")) for e in container["env"]), "password as a file"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    secrets_dir = password_file.rsplit("/", 1)[0]
    assert mounts[secrets_dir]["readOnly"] is True
    assert "/results" in mounts
    volumes = {vol["name"]: vol for vol in spec["template"]["spec"]["volumes"]}
    assert [i["key"] for i in volumes["auth"]["secret"]["items"]] == ["app-password"], "only the app password"
    assert "emptyDir" in volumes["results"], "no claim given: parts stay in the pod"

    labels = spec["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "loadtest"
    assert labels[f"{FULLNAME}-client"] == "true", "allowed through the NetworkPolicy"
    services = [s for s in parse(with_job[scenario_id(values)]) if s["kind"] == "Service"]
    for s in services:
        selector = s["spec"].get("selector", {})
        assert not selector.items() <= labels.items(), f"Service {s['metadata']['name']} would route to the load test"


def test_job_is_hardened_like_every_workload(with_job):
    for name, text in with_job.items():
        job = one(parse(text), "Job", JOB)
        pod = job["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert set(c["resources"]["requests"]) == set(c["resources"]["limits"]) == {"cpu", "memory"}, name


def test_results_claim_and_arguments_are_configurable(helm):  # noqa: F811
    result = template(
        helm,
        sets=ENABLE
        + (
            "loadtest.results.existingClaim=lt-results",
            "loadtest.args={--workload,getset,-u,50,-t,30s}",
        ),
    )
    assert result.returncode == 0, result.stderr
    job = one(parse(result.stdout), "Job", JOB)
    volumes = {vol["name"]: vol for vol in job["spec"]["template"]["spec"]["volumes"]}
    assert volumes["results"] == {"name": "results", "persistentVolumeClaim": {"claimName": "lt-results"}}
    args = args_of(job)
    assert flag(args, "--workload") == "getset" and "--rate" not in args


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (("loadtest.parallelism=0",), "parallelism"),
        (("loadtest.image.pullPolicy=Sometimes",), "pullPolicy"),
        (("loadtest.typo=1",), "typo"),
    ],
)
def test_schema_rejects_bad_loadtest_values(helm, sets, message):  # noqa: F811
    result = template(helm, sets=ENABLE + sets)
    assert result.returncode != 0, f"{sets} rendered"
    assert message in result.stderr, result.stderr


def test_kubernetes_validate_strict(with_job, tmp_path):
    validator = need_tool("kubernetes-validate", "run scripts/install-python-tools.sh")
    files = []
    for name, text in with_job.items():
        # Only the Job: the rest of each render is validated by test_helm.py.
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(one(parse(text), "Job", JOB)))
        files.append(path)
    for version in KUBERNETES_VERSIONS:
        cmd = [validator, "--strict", "--quiet"] + (["--kubernetes-version", version] if version else []) + files
        result = run(cmd, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        assert not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


def test_kubernetes_validate_rejects_a_misspelt_job_field(with_job, tmp_path):
    validator = need_tool("kubernetes-validate", "run scripts/install-python-tools.sh")
    job = one(parse(with_job["standalone"]), "Job", JOB)
    job["spec"]["paralelism"] = PARTS
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(job))
    result = run([validator, "--strict", "--quiet", path], timeout=120)
    assert result.returncode != 0 and "paralelism" in result.stdout + result.stderr


def test_checkov_passes_the_job_and_fails_a_weakened_one(with_job, tmp_path):
    """One checkov run (it is slow to start): the Job of every scenario, with
    the NetworkPolicy that selects its pods, has no failure; a copy weakened
    by hand (root, writable root filesystem, escalation, token mounted) in
    the same directory fails the checks it should."""
    for name, text in with_job.items():
        docs = parse(text)
        keep = [one(docs, "Job", JOB)] + find(docs, "NetworkPolicy")
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump_all(keep))
    weak = one(parse(with_job["cluster-tls"]), "Job", JOB)
    weak["metadata"]["name"] = "weak-loadtest"
    pod = weak["spec"]["template"]["spec"]
    pod["automountServiceAccountToken"] = True
    for c in pod["containers"]:
        c["securityContext"].update(readOnlyRootFilesystem=False, allowPrivilegeEscalation=True, runAsUser=0)
    (tmp_path / "weak.yaml").write_text(yaml.safe_dump_all([weak] + find(parse(with_job["cluster-tls"]), "NetworkPolicy")))

    report = checkov_report(tmp_path)
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 50, "checkov did not see the Jobs"
    results = report["results"]
    weak_failed = {c["check_id"] for c in results["failed_checks"] if c["file_path"].endswith("/weak.yaml")}
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})"
        for c in results["failed_checks"]
        if not c["file_path"].endswith("/weak.yaml")
    ]
    assert not failed, "checkov failures:\n" + "\n".join(failed)
    assert {"CKV_K8S_20", "CKV_K8S_22", "CKV_K8S_38"} <= weak_failed, weak_failed
    for c in results["skipped_checks"]:
        assert c["check_id"] in ALLOWED_CHECKOV_SKIPS, f"unexpected skip {c['check_id']} on {c['resource']}"
        assert c["check_result"].get("suppress_comment"), f"skip of {c['check_id']} has no reason"


# ---------------------------------------------------------------- the image
import re  # noqa: E402
import sys  # noqa: E402

from conftest import REPO_ROOT, tool  # noqa: E402  (tests/iac/conftest.py)

OFFLINE_SCRIPT = REPO_ROOT / "scripts" / "build-offline-images.sh"
DOCKERFILE = REPO_ROOT / "loadtest" / "Dockerfile"


def default_image() -> str:
    """The chart's default loadtest image, repository:tag, from values.yaml."""
    values = yaml.safe_load((REPO_ROOT / "helm" / "redis-hardened" / "values.yaml").read_text())
    image = values["loadtest"]["image"]
    return f"{image['repository']}:{image['tag']}"


def test_chart_default_image_is_the_one_both_recipes_build():
    """values.yaml, the offline script's LOADTEST_IMAGE default and the
    Dockerfile's documented tag name the same image, so the Job finds the
    image either recipe made."""
    script = re.search(r'LOADTEST_IMAGE="\$\{LOADTEST_IMAGE:-([^}]+)\}"', OFFLINE_SCRIPT.read_text())
    assert script, "scripts/build-offline-images.sh sets no LOADTEST_IMAGE default"
    built = re.search(r"docker build -f loadtest/Dockerfile -t (\S+) \.", DOCKERFILE.read_text())
    assert built, "loadtest/Dockerfile documents no `docker build ... -t IMAGE .` command"
    assert script.group(1) == default_image() == built.group(1), (script.group(1), default_image(), built.group(1))


def test_loadtest_image_runs_help():
    """The image's entrypoint is a loadtest binary that runs (no missing
    library, no missing loader): `loadtest --help` exits 0 with its usage.
    The image is optional (scripts/build-offline-images.sh builds it only
    once a loadtest binary exists), so a missing image is a skip with one
    loud line, even with REQUIRE_DOCKER=1."""
    image = default_image()
    docker = tool("docker")
    reason = None
    if docker is None:
        reason = "no docker client on PATH"
    elif run([docker, "info", "--format", "{{.ServerVersion}}"], timeout=60).returncode != 0:
        reason = "no Docker daemon answers"
    elif run([docker, "image", "inspect", image], timeout=60).returncode != 0:
        reason = f"image {image} not built (cargo build -p loadtest && scripts/build-offline-images.sh loadtest)"
    if reason:
        print(f"SKIPPING the loadtest image test: {reason}", file=sys.stderr)
        pytest.skip(reason)
    out = run([docker, "run", "--rm", "--network", "none", image, "--help"], timeout=120)
    assert out.returncode == 0, f"docker run {image} --help exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
    assert "Usage: loadtest" in out.stdout, out.stdout[:2000]
    assert "--workload" in out.stdout and "--rate" in out.stdout, out.stdout[:2000]
