"""Monitoring as code: grafana/ (the one source of alert rules, dashboards
and provisioning), its synced copies in the Helm chart, and the exporter's
least-privileged ACL role.

- Rules: `promtool check rules`; every alert carries severity, summary,
  description and a runbook anchor that exists; `promtool test rules` shows
  every alert pending one evaluation before its `for:` has elapsed (silent
  before the expression holds when there is no `for:`) and firing after.
- Chart: the synced copy does not drift, and the rendered PrometheusRule is
  the source with the release's selectors substituted.
- Dashboards: structural checks of the JSON (fixed uids, datasource variable
  whose uid matches the provisioning, no `__inputs` / `${DS_…}`), and a live
  run of every panel query against a real Prometheus scraping a real
  redis_exporter in front of real redis-server/redis-sentinel processes.
- Exporter role: `ACL DRYRUN` on a real redis-server 7.0 loaded with the
  policy: every command the exporter sends is allowed, nothing that writes,
  reads keys or is @dangerous is.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import time
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML missing: run scripts/install-python-tools.sh")

from conftest import REPO_ROOT, run, tool  # noqa: E402  (tests/iac/conftest.py)

GRAFANA = REPO_ROOT / "grafana"
RULES = GRAFANA / "prometheus" / "rules" / "redis.yml"
CHART = REPO_ROOT / "helm" / "redis-hardened"
RUNBOOK = REPO_ROOT / "docs" / "runbook.md"
RUNBOOK_BASE = "https://github.com/redis-readiness/redis-readiness/blob/main/docs/runbook.md"
# Files of grafana/ the chart carries a copy of (source -> copy).
SYNCED = {
    RULES: CHART / "files" / "prometheus" / "rules" / "redis.yml",
}


def need_tool(name: str, hint: str) -> str:
    path = tool(name)
    if path is None:
        pytest.skip(f"SKIPPED: {name} not found ({hint})")
    return path


def promtool() -> str:
    return need_tool("promtool", "apt-get install prometheus (scripts/install-system-packages.sh)")


def alerts(doc: dict | None = None) -> list[dict]:
    doc = doc if doc is not None else yaml.safe_load(RULES.read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def minutes(duration: str | None) -> int:
    if not duration:
        return 0
    m = re.fullmatch(r"(\d+)([sm])", duration)
    assert m, f"for: {duration} (use whole seconds or minutes)"
    value = int(m[1])
    return value if m[2] == "m" else -(-value // 60)


# --------------------------------------------------------------------------
# the rules file


def test_rules_file_is_valid_for_promtool():
    result = run([promtool(), "check", "rules", RULES], timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_documented_and_linked_to_its_runbook_section():
    rules = alerts()
    assert len(rules) >= 20
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names)), "duplicate alert names"
    headings = {h.lower() for h in re.findall(r"^## (\w+)$", RUNBOOK.read_text(), re.M)}
    for r in rules:
        name = r["alert"]
        assert re.fullmatch(r"Redis[A-Z][A-Za-z]+", name), name
        assert r["labels"]["severity"] in ("warning", "critical"), name
        assert {"summary", "description", "runbook_url"} <= set(r["annotations"]), name
        assert r["annotations"]["runbook_url"] == f"{RUNBOOK_BASE}#{name.lower()}", name
        assert name.lower() in headings, f"docs/runbook.md has no section '## {name}'"


def test_every_selector_uses_one_of_the_two_substituted_job_forms():
    """The chart scopes the rules by replacing `job="redis"` and
    `job="redis-sentinel"`: a selector without one of them would match every
    Redis in a shared Prometheus."""
    for r in alerts():
        selectors = re.findall(r"\b([a-z_:]+)\{([^}]*)\}", r["expr"])
        assert selectors, r["alert"]
        for metric, labels in selectors:
            if metric in ("by", "on", "ignoring", "group_left", "group_right"):
                continue
            assert re.search(r'\bjob="redis(-sentinel)?"', labels), f"{r['alert']}: {metric}{{{labels}}}"


# Per alert: input series (one sample a minute, promtool notation) and the
# minute from which the expression holds. {N1}/{N2} are data-node labels,
# {S1} a Sentinel exporter's. The `for:` comes from the rules file.
N1 = 'job="redis",instance="redis-1:6381",deployment="t"'
N2 = 'job="redis",instance="redis-2:6382",deployment="t"'
S1 = 'job="redis-sentinel",instance="sentinel-1:26381",deployment="t"'
SM = 'master_name="mymaster",master_address="redis-1:6381"'
ALERT_CASES: dict[str, tuple[list[str], int]] = {
    "RedisDown": (["redis_up{N1} 0x20", "up{N1} 1x20"], 0),
    "RedisExporterScrapeErrors": (["redis_exporter_last_scrape_error{S1} 0x2 1x20"], 3),
    "RedisMemoryHigh": (["redis_memory_used_bytes{N1} 50x2 95x20", "redis_memory_max_bytes{N1} 100x25"], 3),
    "RedisWritesRejectedOOM": (['redis_errors_total{N1,err="OOM"} 0x3 5+5x10'], 4),
    "RedisEvictions": (["redis_evicted_keys_total{N1} 0x3 5+5x10"], 4),
    "RedisEvictionPolicyChanged": (['redis_instance_info{N1,maxmemory_policy="allkeys-lru",role="master"} 1x20'], 0),
    "RedisRejectedConnections": (["redis_rejected_connections_total{N1} 0x3 1+1x10"], 4),
    "RedisTooManyConnections": (["redis_connected_clients{N1} 100x2 9000x20", "redis_config_maxclients{N1} 10000x25"], 3),
    "RedisAclDenials": (['redis_errors_total{N1,err="NOPERM"} 0x3 1+1x10', 'redis_errors_total{N1,err="OOM"} 0x15'], 4),
    "RedisPersistenceFailing": (["redis_rdb_last_bgsave_status{N1} 0x20", "redis_aof_last_bgrewrite_status{N1} 1x20"], 0),
    "RedisAofWriteFailing": (["redis_aof_last_write_status{N1} 1x2 0x20"], 3),
    "RedisAofDelayedFsync": (["redis_aof_delayed_fsync{N1} 0x3 1+1x10"], 4),
    "RedisReplicationBroken": (["redis_master_link_up{N1} 0x20"], 0),
    "RedisReplicationLag": (
        ["redis_master_repl_offset{N1} 0+20000000x20",
         'redis_connected_slave_offset_bytes{N1,slave_ip="10.0.0.2",slave_port="6382",slave_state="online"} 0x20'],
        1,
    ),
    "RedisPrimaryCountWrong": (
        ['redis_instance_info{N1,role="master",maxmemory_policy="noeviction"} 1x20',
         'redis_instance_info{N2,role="master",maxmemory_policy="noeviction"} 1x20',
         "redis_cluster_enabled{N1} 0x20", "redis_cluster_enabled{N2} 0x20"],
        0,
    ),
    # Replica until minute 2, primary from minute 3: a Prometheus with 3
    # minutes of data sees the failover (an `offset 10m` rule could not).
    "RedisPrimaryChanged": (
        ['redis_instance_info{N2,role="slave",maxmemory_policy="noeviction"} 1x2',
         'redis_instance_info{N2,role="master",maxmemory_policy="noeviction"} _x3 1x10'],
        3,
    ),
    "RedisSentinelQuorumLost": ([f'redis_sentinel_master_ckquorum_status{{S1,{SM},message="NOQUORUM 1 usable Sentinels"}} 0x20'], 0),
    "RedisSentinelTilt": (["redis_sentinel_tilt{S1} 0x3 1x2 0x10"], 4),
    "RedisSentinelReplicaDown": ([f"redis_sentinel_master_ok_slaves{{S1,{SM}}} 1x20", f"redis_sentinel_master_slaves{{S1,{SM}}} 2x20"], 0),
    # Failovers at minutes 4 and 8.
    "RedisSentinelFailoversRepeated": ([f"redis_sentinel_master_config_epoch{{S1,{SM}}} 1x3 2x3 3x10"], 8),
    "RedisClusterStateNotOk": (["redis_cluster_state{N1} 1x2 0x20"], 3),
    "RedisClusterSlotsFailing": (["redis_cluster_slots_fail{N1} 0x20", "redis_cluster_slots_pfail{N1} 0x1 3x20"], 2),
}


def expand(series: str) -> dict:
    name, values = series.split(" ", 1)
    for key, labels in (("{N1", N1), ("{N2", N2), ("{S1", S1)):
        name = name.replace(key + ",", "{" + labels + ",").replace(key + "}", "{" + labels + "}")
    return {"series": name, "values": values}


def promtool_case(rule: dict) -> dict:
    """Pending (or, without `for:`, silent) one evaluation before the alert
    may fire, firing from then on; silent before the expression holds."""
    series, holds = ALERT_CASES[rule["alert"]]
    wait = minutes(rule.get("for"))
    fires = holds + wait
    name = rule["alert"]

    def count(state: str) -> str:
        return f'count(ALERTS{{alertname="{name}",alertstate="{state}"}})'

    one = [{"labels": "{}", "value": 1}]
    checks = [{"expr": count("firing"), "eval_time": f"{fires}m", "exp_samples": one},
              {"expr": count("firing"), "eval_time": f"{fires - 1}m", "exp_samples": []}]
    if holds > 0:
        checks.append({"expr": f'count(ALERTS{{alertname="{name}"}})', "eval_time": f"{holds - 1}m", "exp_samples": []})
    if wait > 0:
        checks.append({"expr": count("pending"), "eval_time": f"{fires - 1}m", "exp_samples": one})
    else:
        assert holds > 0, f"{name}: without for:, start the expression after minute 0 to show the silent side"
    return {"interval": "1m", "input_series": [expand(s) for s in series], "promql_expr_test": checks}


def run_promtool_tests(tmp_path: Path, rules_text: str, cases: list[dict]):
    (tmp_path / "rules.yml").write_text(rules_text)
    tests = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": cases}
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    return run([promtool(), "test", "rules", "tests.yml"], cwd=tmp_path, timeout=120)


def test_every_alert_fires_after_its_for_and_not_before(tmp_path):
    rules = alerts()
    names = {r["alert"] for r in rules}
    assert names == set(ALERT_CASES), f"cases missing for {names - set(ALERT_CASES)}, stale for {set(ALERT_CASES) - names}"
    result = run_promtool_tests(tmp_path, RULES.read_text(), [promtool_case(r) for r in rules])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def test_promtool_reports_an_alert_that_fires_early(tmp_path):
    """The cases can fail: RedisDown expected firing before its `for: 1m`."""
    rule = next(r for r in alerts() if r["alert"] == "RedisDown")
    case = promtool_case(rule)
    case["promql_expr_test"][1]["exp_samples"] = [{"labels": "{}", "value": 1}]
    result = run_promtool_tests(tmp_path, RULES.read_text(), [case])
    assert result.returncode != 0 and "RedisDown" in result.stdout + result.stderr


def test_promtool_reports_a_rule_without_its_for(tmp_path):
    """Dropping a `for:` makes the pending check fail: the cases see it."""
    doc = yaml.safe_load(RULES.read_text())
    for r in alerts(doc):
        if r["alert"] == "RedisMemoryHigh":
            rule = copy.deepcopy(r)
            del r["for"]
    result = run_promtool_tests(tmp_path, yaml.safe_dump(doc), [promtool_case(rule)])
    assert result.returncode != 0


def test_primary_changed_stays_silent_for_a_node_primary_from_the_start_and_resolves(tmp_path):
    """The other sides of RedisPrimaryChanged: a node that was primary all
    along (or is new and starts as primary) never fires; a promotion fires
    for the 10 minutes its replica samples stay in the window, then resolves."""
    rule = next(r for r in alerts() if r["alert"] == "RedisPrimaryChanged")
    count = 'count(ALERTS{alertname="RedisPrimaryChanged"})'
    case = {
        "interval": "1m",
        "input_series": [
            expand('redis_instance_info{N1,role="master",maxmemory_policy="noeviction"} 1x20'),
            expand('redis_instance_info{N2,role="slave",maxmemory_policy="noeviction"} 1x2'),
            expand('redis_instance_info{N2,role="master",maxmemory_policy="noeviction"} _x3 1x20'),
        ],
        "promql_expr_test": [
            {"expr": count, "eval_time": "2m", "exp_samples": []},
            {"expr": 'ALERTS{alertname="RedisPrimaryChanged"}', "eval_time": "12m",
             "exp_samples": [{"labels": 'ALERTS{alertname="RedisPrimaryChanged",alertstate="firing",'
                              + N2 + ',role="master",maxmemory_policy="noeviction",severity="warning"}',
                              "value": 1}]},
            {"expr": count, "eval_time": "13m", "exp_samples": []},
        ],
    }
    assert "for" not in rule
    result = run_promtool_tests(tmp_path, RULES.read_text(), [case])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def test_promtool_reports_the_offset_rule_blind_on_a_young_prometheus(tmp_path):
    """The weak form this rule replaced (`unless … offset 10m`) never fires
    within the first 10 minutes: the young-stack case catches it."""
    doc = yaml.safe_load(RULES.read_text())
    for r in alerts(doc):
        if r["alert"] == "RedisPrimaryChanged":
            r["expr"] = (
                '(redis_instance_info{job="redis",role="master"}'
                ' unless on (job, instance) (redis_instance_info{job="redis",role="master"} offset 10m))'
                ' and on (job, instance) (redis_instance_info{job="redis"} offset 10m)'
            )
            rule = r
    result = run_promtool_tests(tmp_path, yaml.safe_dump(doc), [promtool_case(rule)])
    assert result.returncode != 0 and "RedisPrimaryChanged" in result.stdout + result.stderr


# --------------------------------------------------------------------------
# the chart's copies


def test_chart_copies_of_grafana_files_do_not_drift():
    drift = [f"{c.relative_to(REPO_ROOT)} differs from {s.relative_to(REPO_ROOT)} (cp {s.relative_to(REPO_ROOT)} {c.relative_to(REPO_ROOT)})"
             for s, c in SYNCED.items() if not c.is_file() or c.read_bytes() != s.read_bytes()]
    assert not drift, "; ".join(drift)


HELM = REPO_ROOT / ".tools" / "bin" / "helm"


@pytest.fixture(scope="module")
def helm_render():
    if not HELM.is_file():
        installed = run(["bash", REPO_ROOT / "scripts" / "install-helm.sh"], timeout=300)
        if installed.returncode != 0 or not HELM.is_file():
            pytest.skip("SKIPPED: helm not installed and scripts/install-helm.sh failed")

    def render(*sets: str) -> list[dict]:
        cmd = [HELM, "template", "t", CHART, "--namespace", "obs"]
        for s in sets:
            cmd += ["--set", s]
        result = run(cmd, timeout=120)
        assert result.returncode == 0, result.stderr
        return [d for d in yaml.safe_load_all(result.stdout) if d]

    return render


def test_chart_prometheusrule_is_the_source_scoped_to_the_release(helm_render, tmp_path):
    docs = helm_render("metrics.prometheusRule.enabled=true", "metrics.prometheusRule.runbookBaseUrl=https://runbooks.example/redis")
    [rule] = [d for d in docs if d["kind"] == "PrometheusRule"]
    source = yaml.safe_load(RULES.read_text())
    expected = yaml.safe_load(
        RULES.read_text()
        .replace('job="redis"', 'job="t-redis-hardened-metrics", namespace="obs"')
        .replace('job="redis-sentinel"', 'job="t-redis-hardened-sentinel-metrics", namespace="obs"')
        .replace(RUNBOOK_BASE, "https://runbooks.example/redis")
    )
    groups = rule["spec"]["groups"]
    assert [g["name"] for g in groups] == [f"t-redis-hardened.{g['name']}" for g in source["groups"]]
    assert [g["rules"] for g in groups] == [g["rules"] for g in expected["groups"]]
    for r in alerts(rule["spec"]):
        assert 'job="redis"' not in r["expr"] and 'namespace="obs"' in r["expr"], r["alert"]
    path = tmp_path / "chart-rules.yml"
    path.write_text(yaml.safe_dump(rule["spec"]))
    result = run([promtool(), "check", "rules", path], timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_chart_servicemonitor_scrapes_the_metrics_service(helm_render):
    docs = helm_render("metrics.serviceMonitor.enabled=true")
    [monitor] = [d for d in docs if d["kind"] == "ServiceMonitor"]
    [svc] = [d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "t-redis-hardened-metrics"]
    assert monitor["spec"]["endpoints"][0]["port"] == svc["spec"]["ports"][0]["name"] == "metrics"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()


# --------------------------------------------------------------------------
# the exporter's ACL roles (data nodes: users.acl; Sentinels: sentinel.conf)

from test_policy_acl import (  # noqa: E402  (real-process helpers shared with the Sentinel role test)
    PASSWORDS,
    ReplyError,
    call,
    free_port,
    pairs,
    processes,  # noqa: F401  (fixture)
    start_data_node,
    start_sentinel,
    wait_for,
)

# What redis_exporter sends with its default flags, as (command, the rule that
# grants it). Found by running exporter 1.45 against a user with no
# permissions and granting what ACL LOG showed until it logged nothing, and
# by reading current upstream (exporter/*.go: LATENCY HISTOGRAM, COMMAND INFO
# COMMANDLOG). The role must allow each and grant nothing else.
EXPORTER_SENDS = [
    (("AUTH", "exporter", "pw"), "+auth"),
    (("PING",), "+ping"),  # --ping-on-connect; the compose health check
    (("CLIENT", "SETNAME", "redis_exporter"), "+client|setname"),
    (("INFO", "ALL"), "+info"),
    (("INFO",), "+info"),  # fallback of servers without INFO ALL
    (("SLOWLOG", "GET", "1"), "+slowlog|get"),
    (("SLOWLOG", "LEN"), "+slowlog|len"),
    (("LATENCY", "LATEST"), "+latency|latest"),
    (("LATENCY", "HISTOGRAM"), "+latency|histogram"),  # upstream, not 1.45
    (("CLUSTER", "INFO"), "+cluster|info"),  # when INFO says cluster_enabled:1
    (("COMMAND", "INFO", "COMMANDLOG"), "+command|info"),  # upstream, not 1.45
]
SENTINEL_EXPORTER_SENDS = [
    (("AUTH", "exporter", "pw"), "+auth"),
    (("PING",), "+ping"),
    (("CLIENT", "SETNAME", "redis_exporter"), "+client|setname"),
    (("INFO",), "+info"),
    (("SENTINEL", "MASTERS"), "+sentinel|masters"),
    (("SENTINEL", "CKQUORUM", "mymaster"), "+sentinel|ckquorum"),
    (("SENTINEL", "SENTINELS", "mymaster"), "+sentinel|sentinels"),
    (("SENTINEL", "SLAVES", "mymaster"), "+sentinel|slaves"),
]
# What a leaked exporter password must not allow: writes, key reads, other
# users' secrets (CONFIG GET masterauth, SENTINEL CONFIG GET sentinel-pass),
# traffic (MONITOR, CLIENT LIST), anything else @dangerous.
EXPORTER_MUST_NOT = [
    ("GET", "session:1"), ("SET", "session:1", "x"), ("DEL", "session:1"), ("KEYS", "*"), ("SCAN", "0"),
    ("TYPE", "session:1"), ("MEMORY", "USAGE", "session:1"), ("DBSIZE",), ("EVAL", "return 1", "0"),
    ("CONFIG", "GET", "masterauth"), ("CONFIG", "SET", "maxmemory", "0"), ("CONFIG", "REWRITE"),
    ("ACL", "LIST"), ("ACL", "SETUSER", "intruder", "on", ">pw", "+@all"), ("CLIENT", "LIST"),
    ("CLIENT", "KILL", "TYPE", "normal"), ("MONITOR",), ("FLUSHALL",), ("DEBUG", "SLEEP", "0"),
    ("SHUTDOWN",), ("PSYNC", "?", "-1"), ("REPLICAOF", "NO", "ONE"), ("SLAVEOF", "NO", "ONE"),
    ("MODULE", "LOAD", "/tmp/evil.so"), ("SUBSCRIBE", "app-events"), ("PUBLISH", "app-events", "x"),
]
SENTINEL_EXPORTER_MUST_NOT = [
    ("SENTINEL", "CONFIG", "GET", "*"), ("SENTINEL", "SET", "mymaster", "down-after-milliseconds", "1"),
    ("SENTINEL", "FAILOVER", "mymaster"), ("SENTINEL", "REMOVE", "mymaster"), ("SENTINEL", "RESET", "*"),
    ("SENTINEL", "MONITOR", "evil", "10.0.0.1", "6379", "1"), ("SENTINEL", "DEBUG"),
    ("ACL", "LIST"), ("CLIENT", "LIST"), ("CLIENT", "KILL", "TYPE", "normal"), ("SHUTDOWN",),
    ("SUBSCRIBE", "__sentinel__:hello"), ("PUBLISH", "__sentinel__:hello", "x"),
]


def role_rules(path: Path) -> list[str]:
    [line] = [l for l in path.read_text().splitlines() if l.startswith("user exporter ")]
    return line.split()[4:]  # after `user exporter on <password>`


@pytest.mark.parametrize(
    "path,sends",
    [(REPO_ROOT / "redis-conf" / "users.acl", EXPORTER_SENDS), (REPO_ROOT / "redis-conf" / "sentinel.conf", SENTINEL_EXPORTER_SENDS)],
    ids=["users.acl", "sentinel.conf"],
)
def test_exporter_role_grants_exactly_what_the_exporter_sends(path, sends):
    tokens = role_rules(path)
    granted = {t for t in tokens if t.startswith("+")}
    needed = {rule for _, rule in sends}
    assert granted == needed, f"granted, not sent: {sorted(granted - needed)}; sent, not granted: {sorted(needed - granted)}"
    assert tokens[:3] == ["resetkeys", "resetchannels", "-@all"], "no keys, no channels, nothing before the grants"
    assert not [t for t in tokens if t.startswith(("~", "%", "&", "allkeys", "allchannels", "-"))][1:]


def dryrun_problems(port: int, sends, must_not) -> list[str]:
    problems = [f"refused {' '.join(c)}: {r}" for c, _ in sends if (r := call(port, "ACL", "DRYRUN", "exporter", *c)) != "OK"]
    problems += [f"allowed {' '.join(c)}" for c in must_not if "no permissions" not in str(call(port, "ACL", "DRYRUN", "exporter", *c))]
    return problems


def test_acl_dryrun_data_node_exporter_role(processes):
    port = free_port()
    start_data_node(processes, "node", port, primary=None)
    assert not dryrun_problems(port, EXPORTER_SENDS, EXPORTER_MUST_NOT)
    # Logged in, the same user really is refused (DRYRUN is not the only judge).
    with pytest.raises(ReplyError, match="NOPERM"):
        call(port, "CONFIG", "GET", "masterauth", user="exporter")
    assert call(port, "PING", user="exporter") == "PONG"
    # The check can fail: an exporter user with +@all is reported.
    call(port, "ACL", "SETUSER", "exporter", "+@all", "~*")
    problems = dryrun_problems(port, EXPORTER_SENDS, EXPORTER_MUST_NOT)
    assert "allowed CONFIG GET masterauth" in problems and "allowed GET session:1" in problems


def test_acl_dryrun_sentinel_exporter_role(processes):
    data = free_port()
    start_data_node(processes, "node", data, primary=None)
    port = free_port()
    start_sentinel(processes, "sentinel", port, data)
    assert not dryrun_problems(port, SENTINEL_EXPORTER_SENDS, SENTINEL_EXPORTER_MUST_NOT)


def exporter_binary() -> str:
    return need_tool("prometheus-redis-exporter", "apt-get install prometheus-redis-exporter")


def start_exporter(processes, target: str, *flags: str) -> int:
    """redis_exporter as the `exporter` user with its password from a file."""
    import subprocess

    port = free_port()
    secret = processes.root / f"exporter-{port}.json"
    secret.write_text(json.dumps({target: PASSWORDS["exporter"]}))
    secret.chmod(0o600)
    log = open(processes.root / f"exporter-{port}.log", "w")
    proc = subprocess.Popen(
        [exporter_binary(), "-redis.addr", target, "-redis.user", "exporter", "-redis.password-file", secret,
         "-web.listen-address", f"127.0.0.1:{port}", *flags],
        stdout=log, stderr=subprocess.STDOUT,
    )
    processes.extra.append(proc)
    return port


def scrape(port: int) -> str:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return r.read().decode()
    except OSError:
        return ""  # not listening yet


def scraped_with(port: int, needle: str) -> str | None:
    text = scrape(port)
    return text if needle in text else None


def exporter_denials(port: int) -> list[dict]:
    return [e for e in map(pairs, call(port, "ACL", "LOG")) if e.get("username") == "exporter"]


@pytest.fixture
def exporter_processes(processes):
    processes.extra = []
    yield processes
    for p in processes.extra:
        p.terminate()
        try:
            p.wait(timeout=5)
        except Exception:  # noqa: BLE001  (a stuck exporter is killed)
            p.kill()


def test_real_exporter_scrapes_node_and_sentinel_without_a_denial(exporter_processes):
    """Exporter 1.45 with --config-command=- as `exporter`: metrics flow and
    ACL LOG records no denial; with CONFIG GET left on, ACL LOG does."""
    procs = exporter_processes
    data = free_port()
    start_data_node(procs, "node", data, primary=None)
    sentinel = free_port()
    start_sentinel(procs, "sentinel", sentinel, data)
    call(data, "ACL", "LOG", "RESET")
    call(sentinel, "ACL", "LOG", "RESET")
    node_exp = start_exporter(procs, f"redis://127.0.0.1:{data}", "-config-command=-")
    sentinel_exp = start_exporter(procs, f"redis://127.0.0.1:{sentinel}")
    node_metrics = wait_for(lambda: scraped_with(node_exp, "\nredis_up 1"), "the node exporter")
    sentinel_metrics = wait_for(lambda: scraped_with(sentinel_exp, "redis_sentinel_master_ok_sentinels"), "the Sentinel exporter")
    assert re.search(r'^redis_exporter_last_scrape_error\{err=""\} 0$', node_metrics, re.M), node_metrics[-2000:]
    # One Sentinel of a quorum of 2: CKQUORUM rightly fails (RedisSentinelQuorumLost).
    assert re.search(r'^redis_sentinel_master_ckquorum_status\{.*message="NOQUORUM.*\} 0$', sentinel_metrics, re.M)
    scrape(node_exp), scrape(sentinel_exp)
    assert exporter_denials(data) == [] and exporter_denials(sentinel) == []
    # The same exporter with its default CONFIG GET is refused, and ACL LOG says so.
    loud = start_exporter(procs, f"redis://127.0.0.1:{data}")
    wait_for(lambda: scraped_with(loud, "\nredis_up 1"), "the default exporter")
    assert {e["object"] for e in exporter_denials(data)} == {"config|get"}


# --------------------------------------------------------------------------
# dashboards and provisioning: structure

DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCE_UID = "redis-prometheus"
# Rows of the HA dashboard that only a topology with them can fill.
TOPOLOGY_ROWS = {"Replication": {"sentinel", "cluster"}, "Sentinel": {"sentinel"}, "Cluster": {"cluster"}}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def panels_by_row(board: dict) -> list[tuple[str, dict]]:
    """(row title, panel) for every non-row panel, in order."""
    out, row = [], ""
    for p in board["panels"]:
        if p["type"] == "row":
            row = p["title"]
            out += [(row, q) for q in p.get("panels", [])]
        else:
            out.append((row, p))
    return out


def test_provisioning_datasource_has_the_fixed_uid():
    doc = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    [ds] = doc["datasources"]
    assert ds["uid"] == DATASOURCE_UID and ds["type"] == "prometheus"
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "redis.yml").read_text())["providers"]
    assert [p["options"]["path"] for p in providers] == ["/var/lib/grafana/dashboards"]


def test_dashboards_are_portable_and_use_the_datasource_variable():
    assert {p.stem for p in DASHBOARDS} >= {"redis-overview", "redis-ha"}
    uids = set()
    for path in DASHBOARDS:
        text, board = path.read_text(), load(path)
        where = path.name
        assert "__inputs" not in board and "${DS_" not in text, f"{where}: exported with __inputs / ${{DS_…}} placeholders"
        assert board["uid"] == path.stem and board["uid"] not in uids, f"{where}: uid must be fixed and equal the file name"
        uids.add(board["uid"])
        assert "id" not in board or board["id"] is None, f"{where}: no instance id"
        variables = {v["name"]: v for v in board["templating"]["list"]}
        ds = variables.get("datasource")
        assert ds and ds["type"] == "datasource" and ds["query"] == "prometheus", f"{where}: needs a datasource variable"
        assert ds["current"]["value"] == DATASOURCE_UID, f"{where}: datasource variable defaults to {ds['current']['value']}"
        for v in variables.values():
            if v["type"] == "query":
                assert v["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, f"{where}: variable {v['name']}"
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{where}: duplicate panel ids"
        for row, p in panels_by_row(board):
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, f"{where}: {p['title']}"
            assert p["targets"], f"{where}: {p['title']} has no query"
            for t in p["targets"]:
                assert t["datasource"] == p["datasource"] and t["expr"].strip(), f"{where}: {p['title']} {t['refId']}"
            if board["uid"] == "redis-ha":
                assert row in TOPOLOGY_ROWS, f"{where}: panel {p['title']} outside the Replication/Sentinel/Cluster rows"


def test_dashboards_cover_the_panels_of_the_issue():
    """What dashboard 763 has plus what the common ones lack (issue 9)."""
    exprs = " ".join(t["expr"] for path in DASHBOARDS for _, p in panels_by_row(load(path)) for t in p["targets"])
    for metric in (
        "redis_uptime_in_seconds", "redis_connected_clients", "redis_memory_used_bytes", "redis_memory_max_bytes",
        "redis_commands_processed_total", "redis_keyspace_hits_total", "redis_net_input_bytes_total", "redis_db_keys",
        "redis_db_keys_expiring", "redis_evicted_keys_total", "redis_expired_keys_total",
        "redis_commands_duration_seconds_total", "redis_rdb_last_bgsave_status", "redis_rdb_last_save_timestamp_seconds",
        "redis_aof_delayed_fsync", "redis_master_link_up", "redis_connected_slave_offset_bytes",
        "redis_sentinel_master_ckquorum_status", "redis_sentinel_tilt", "redis_sentinel_master_status",
        "redis_cluster_slots_ok", "redis_cluster_slots_fail", 'err=~"NOPERM|WRONGPASS"',
        "redis_rejected_connections_total", "redis_latency_percentiles_usec",
    ):
        assert metric in exprs, f"no panel shows {metric}"
    # Dashboard 763 divides by maxmemory and shows N/A when it is unset.
    assert not re.search(r"/\s*redis_memory_max_bytes", exprs)


def test_chart_dashboard_copies_do_not_drift():
    copies = CHART / "files" / "dashboards"
    drift = [p.name for p in DASHBOARDS if not (copies / p.name).is_file() or (copies / p.name).read_bytes() != p.read_bytes()]
    stale = [p.name for p in copies.glob("*.json") if not (GRAFANA / "dashboards" / p.name).is_file()]
    assert not drift and not stale, f"drift {drift}, stale {stale}: cp grafana/dashboards/*.json {copies.relative_to(REPO_ROOT)}/"


def test_chart_renders_dashboard_configmaps_with_the_sidecar_label(helm_render):
    assert not [d for d in helm_render() if d["kind"] == "ConfigMap" and "dashboard" in d["metadata"]["name"]]
    docs = helm_render("metrics.dashboards.enabled=true")
    maps = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    assert sorted(k for m in maps for k in m["data"]) == sorted(p.name for p in DASHBOARDS)
    for m in maps:
        for name, text in m["data"].items():
            assert json.loads(text) == load(GRAFANA / "dashboards" / name)


# --------------------------------------------------------------------------
# verify's monitoring.* checks against a live stack: a primary, a replica and
# three Sentinels from redis-conf/, one multi-target redis_exporter 1.45 as
# `exporter`, and Prometheus 2.42 with the project's rules, all processes on
# 127.0.0.1 (scrape and evaluation every second). One stack serves the
# passing run and each way of breaking a check.

VERIFY = REPO_ROOT / "target" / "debug" / "verify"
MONITORING_IDS = (
    "monitoring.exporter-up", "monitoring.exporter-least-privilege", "monitoring.metrics-match",
    "monitoring.dashboards", "monitoring.rules",
)
# Broken on purpose: evaluates to a many-to-many matching error (health err).
BROKEN_RULE = """groups:
  - name: broken
    rules:
      - alert: RedisBrokenOnPurpose
        expr: redis_up{job="redis"} + on () redis_up{job="redis"}
        labels: {severity: warning}
        annotations: {summary: x, description: x, runbook_url: x}
"""


def start_prometheus(procs, rule_files: list[Path], data: list[int], sentinels: list[int], exporter: int) -> int:
    import subprocess

    def job(name: str, ports: list[int]) -> dict:
        return {
            "job_name": name, "metrics_path": "/scrape",
            "static_configs": [{"targets": [f"127.0.0.1:{p}" for p in ports], "labels": {"deployment": "t"}}],
            "relabel_configs": [
                {"source_labels": ["__address__"], "target_label": "instance"},
                {"source_labels": ["instance"], "target_label": "__param_target", "replacement": "redis://$1"},
                {"target_label": "__address__", "replacement": f"127.0.0.1:{exporter}"},
            ],
        }

    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [job("redis", data), job("redis-sentinel", sentinels)],
    }
    path = procs.root / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    log = open(procs.root / "prometheus.log", "w")
    procs.extra.append(subprocess.Popen(
        [need_tool("prometheus", "apt-get install prometheus"), f"--config.file={path}",
         f"--storage.tsdb.path={procs.root / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    ))
    return port


def prom_query(port: int, expr: str) -> list[dict]:
    import urllib.parse
    import urllib.request

    try:
        url = f"http://127.0.0.1:{port}/api/v1/query?query={urllib.parse.quote(expr)}"
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.load(r)["data"]["result"]
    except OSError:
        return []


def run_verify(procs, sentinels: list[int], prom: int, *extra: str) -> dict[str, dict]:
    if not VERIFY.is_file():
        pytest.skip("SKIPPED: target/debug/verify missing (cargo build -p verify)")
    secret = procs.root / "admin.pw"
    secret.write_text(PASSWORDS["admin"] + "\n")
    secret.chmod(0o600)
    target = "redis+sentinel://" + ",".join(f"127.0.0.1:{p}" for p in sentinels) + "/mymaster"
    result = run([VERIFY, "--target", target, "--user", "admin", "--password-file", secret,
                  "--prometheus", f"http://127.0.0.1:{prom}", "--format", "json", *extra], timeout=120)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert PASSWORDS["admin"] not in result.stdout + result.stderr
    return {r["id"]: r for r in report["checks"] if r["id"].startswith("monitoring.")}


def statuses(results: dict[str, dict]) -> dict[str, str]:
    return {i: r["status"] for i, r in results.items()}


def test_verify_monitoring_checks_pass_on_the_hardened_stack_and_fail_when_broken(exporter_processes, tmp_path):
    procs = exporter_processes
    data = [free_port(), free_port()]
    start_data_node(procs, "primary", data[0], primary=None)
    start_data_node(procs, "replica", data[1], primary=data[0])
    wait_for(lambda: "master_link_status:up" in str(call(data[1], "INFO", "replication")), "the replica to link")
    sentinels = [free_port() for _ in range(3)]
    for i, port in enumerate(sentinels):
        start_sentinel(procs, f"sentinel-{i}", port, data[0])
    exporter = start_exporter_multi(procs, data + sentinels)
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN_RULE)
    prom = start_prometheus(procs, [RULES, broken], data, sentinels, exporter)

    def settled() -> bool:
        up = prom_query(prom, "redis_up == 1")
        quorum = prom_query(prom, "redis_sentinel_master_ckquorum_status == 1")
        lag = prom_query(prom, "redis_connected_slave_offset_bytes")
        rules = prom_query(prom, 'count(ALERTS{alertname="RedisBrokenOnPurpose"}) or vector(0)')
        # rate() windows need two samples, offset 10m rules need nothing.
        return len(up) == 5 and len(quorum) == 3 and bool(lag) and bool(rules)

    wait_for(settled, "Prometheus to scrape all five nodes with a Sentinel quorum", timeout=60)
    time.sleep(3)

    hardened = run_verify(procs, sentinels, prom)
    assert statuses(hardened) == dict.fromkeys(MONITORING_IDS, "pass"), json.dumps(hardened, indent=1)[-4000:]

    # A dashboard with a misspelt metric: the check names dashboard, panel, query.
    grafana = tmp_path / "grafana"
    shutil.copytree(GRAFANA, grafana)
    board = grafana / "dashboards" / "redis-overview.json"
    board.write_text(board.read_text().replace("redis_uptime_in_seconds", "redis_uptime_in_second"))
    (grafana / "prometheus" / "rules" / "broken.yml").write_text(BROKEN_RULE)
    edited = run_verify(procs, sentinels, prom, "--grafana-dir", str(grafana))
    assert edited["monitoring.dashboards"]["status"] == "fail"
    assert "Redis overview / Uptime / A: no series" in edited["monitoring.dashboards"]["message"]
    # ... and a rule file with a broken expression fails monitoring.rules.
    assert edited["monitoring.rules"]["status"] == "fail"
    assert "RedisBrokenOnPurpose: health err" in edited["monitoring.rules"]["message"]

    # An exporter user with +@all.
    for port in data:
        call(port, "ACL", "SETUSER", "exporter", "+@all", "~*")
    widened = run_verify(procs, sentinels, prom)
    assert widened["monitoring.exporter-least-privilege"]["status"] == "fail"
    assert "exporter may run GET session:1" in widened["monitoring.exporter-least-privilege"]["message"]

    # A stopped exporter.
    procs.extra[0].terminate()
    procs.extra[0].wait(timeout=10)
    wait_for(lambda: not prom_query(prom, "redis_up"), "redis_up to go stale", timeout=30)
    stopped = run_verify(procs, sentinels, prom)
    assert stopped["monitoring.exporter-up"]["status"] == "fail"
    assert "no redis_up series" in stopped["monitoring.exporter-up"]["message"]


def start_exporter_multi(procs, ports: list[int]) -> int:
    """One redis_exporter for every node (/scrape?target=…), as compose runs it."""
    import subprocess

    port = free_port()
    secret = procs.root / "exporter-passwords.json"
    secret.write_text(json.dumps({f"redis://127.0.0.1:{p}": PASSWORDS["exporter"] for p in ports}))
    secret.chmod(0o600)
    log = open(procs.root / "exporter-multi.log", "w")
    procs.extra.insert(0, subprocess.Popen(
        [exporter_binary(), "-redis.addr=", "-redis.user", "exporter", "-redis.password-file", secret,
         "-config-command=-", "-web.listen-address", f"127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    ))
    return port


# --------------------------------------------------------------------------
# Grafana itself, where its image exists (not on the offline build machine)


def test_grafana_loads_every_dashboard_and_resolves_its_datasource():
    """Provisions grafana/ into a real Grafana and asks its HTTP API that each
    dashboard loads and the datasource its panels use exists."""
    import base64
    import os
    import secrets
    import subprocess
    import urllib.request

    image = os.environ.get("GRAFANA_IMAGE") or "grafana/grafana:11.3.0"
    docker = tool("docker")
    if docker is None or run([docker, "image", "inspect", image], timeout=60).returncode != 0:
        pytest.skip(f"SKIPPED: no Grafana image {image} here (set GRAFANA_IMAGE): dashboards checked through Prometheus and by structure only")
    password = secrets.token_hex(16)
    port = free_port()
    started = run([docker, "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:3000",
                   "-v", f"{GRAFANA / 'provisioning'}:/etc/grafana/provisioning:ro",
                   "-v", f"{GRAFANA / 'dashboards'}:/var/lib/grafana/dashboards:ro",
                   "-e", f"GF_SECURITY_ADMIN_PASSWORD={password}", image], timeout=120)
    assert started.returncode == 0, started.stderr
    cid = started.stdout.strip()
    auth = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()

    def get(path: str):
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": auth})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return json.load(r)
        except OSError:
            return None

    try:
        wait_for(lambda: (get("/api/health") or {}).get("database") == "ok", "Grafana to start", timeout=90)
        datasource = wait_for(lambda: get(f"/api/datasources/uid/{DATASOURCE_UID}"), "the provisioned datasource")
        assert datasource["type"] == "prometheus"
        for path in DASHBOARDS:
            source = load(path)
            loaded = wait_for(lambda: get(f"/api/dashboards/uid/{source['uid']}"), f"dashboard {source['uid']}")
            board = loaded["dashboard"]
            assert [p["title"] for p in board["panels"]] == [p["title"] for p in source["panels"]], path.name
            default = next(v for v in board["templating"]["list"] if v["name"] == "datasource")["current"]["value"]
            assert get(f"/api/datasources/uid/{default}"), f"{path.name}: datasource {default} does not resolve"
    finally:
        subprocess.run([docker, "rm", "-f", cid], capture_output=True, timeout=60, check=False)


def test_verify_monitoring_flag_on_a_launched_sentinel_deployment():
    """`verify --topology sentinel --monitoring` (local processes): exporter
    and Prometheus start next to the deployment, every monitoring.* check
    passes, and both are gone afterwards."""
    import os

    if not VERIFY.is_file():
        pytest.skip("SKIPPED: target/debug/verify missing (cargo build -p verify)")
    exporter_binary()
    need_tool("prometheus", "apt-get install prometheus")
    env = {**os.environ, "REDIS_LAUNCHER": "process"}
    result = run([VERIFY, "--topology", "sentinel", "--monitoring", "--format", "json"], env=env, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    url = re.search(r"Prometheus at (http://127\.0\.0\.1:\d+)", result.stderr)[1]
    checks = {c["id"]: c["status"] for c in json.loads(result.stdout)["checks"] if c["id"].startswith("monitoring.")}
    assert checks == dict.fromkeys(MONITORING_IDS, "pass")
    import urllib.request

    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/-/ready", timeout=2)
