"""Checks of terraform/: the ElastiCache module and its examples.

Always run (no Terraform binary needed): every .tf / .tftest.hcl file parses as
HCL; the module's parameter group and RBAC access strings match the hardening
policy in redis-conf/ (and the drift checker is shown to catch a drifted copy);
module and example conventions; checkov passes with zero failed checks and
fails a deliberately weakened copy of the module.

Run when the tools are present: `terraform fmt -check` (terraform on PATH),
`terraform validate` and `terraform test` with `mock_provider "aws"` (terraform
plus the AWS provider from a local filesystem mirror, a CLI config with
provider_installation, or IAC_TERRAFORM_ONLINE=1 to let `terraform init`
download it). Without them those tests skip and say so.

    .tools/venv/bin/python -m pytest tests/iac -q
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import warnings
from pathlib import Path

import hcl2  # installed by scripts/install-python-tools.sh (bc-python-hcl2)
import pytest

from conftest import REPO_ROOT, run, tool

TF_DIR = REPO_ROOT / "terraform"
MODULE_DIR = TF_DIR / "modules" / "elasticache-redis"
EXAMPLE_DIRS = sorted(p for p in (TF_DIR / "examples").iterdir() if p.is_dir())
REDIS_CONF = REPO_ROOT / "redis-conf" / "redis.conf"
USERS_ACL = REPO_ROOT / "redis-conf" / "users.acl"

TF_FILES = sorted(p for p in TF_DIR.rglob("*") if p.suffix == ".tf" or p.name.endswith(".tftest.hcl"))
TF_FILES = [p for p in TF_FILES if ".terraform" not in p.parts]

PROVIDER_MISSING = "skipped: terraform AWS provider not found"

################################################################################
# What ElastiCache allows. Source: Amazon ElastiCache user guide, "Redis OSS-
# specific parameters" (redis7 family and the earlier families it inherits),
# and "Restricted commands".
################################################################################

# Parameters a custom redis7 parameter group may change; refresh from an account with
#   aws elasticache describe-cache-parameters --cache-parameter-group-name default.redis7 \
#     --query 'Parameters[?IsModifiable].ParameterName'
# A redis.conf directive
# in this set must appear in local.hardening_parameters with the same value;
# a parameter outside it must not be set by the module.
ELASTICACHE_MODIFIABLE = frozenset(
    {
        "acl-pubsub-default", "acllog-max-len", "active-defrag-cycle-max", "active-defrag-cycle-min",
        "active-defrag-ignore-bytes", "active-defrag-max-scan-fields", "active-defrag-threshold-lower",
        "active-defrag-threshold-upper", "active-expire-effort", "activedefrag", "activerehashing",
        "client-output-buffer-limit-normal-hard-limit", "client-output-buffer-limit-normal-soft-limit",
        "client-output-buffer-limit-normal-soft-seconds", "client-output-buffer-limit-pubsub-hard-limit",
        "client-output-buffer-limit-pubsub-soft-limit", "client-output-buffer-limit-pubsub-soft-seconds",
        "client-query-buffer-limit", "close-on-replica-write", "cluster-allow-pubsubshard-when-down",
        "cluster-allow-reads-when-down", "cluster-enabled", "cluster-preferred-endpoint-type",
        "cluster-require-full-coverage", "databases", "hash-max-listpack-entries", "hash-max-listpack-value",
        "hll-sparse-max-bytes", "latency-tracking", "lazyfree-lazy-eviction", "lazyfree-lazy-expire",
        "lazyfree-lazy-server-del", "lazyfree-lazy-user-del", "lazyfree-lazy-user-flush", "lfu-decay-time",
        "lfu-log-factor", "list-compress-depth", "list-max-listpack-size", "lua-time-limit",
        "maxmemory-policy", "maxmemory-samples", "min-replicas-max-lag", "min-replicas-to-write",
        "notify-keyspace-events", "proto-max-bulk-len", "repl-backlog-size", "repl-backlog-ttl",
        "replica-allow-chaining", "reserved-memory-percent", "set-max-intset-entries",
        "slowlog-log-slower-than", "slowlog-max-len", "stream-node-max-bytes", "stream-node-max-entries",
        "tcp-keepalive", "timeout", "tracking-table-max-keys", "zset-max-listpack-entries",
        "zset-max-listpack-value",
    }
)

# Modifiable, but deliberately not set because ElastiCache's default already is
# the policy. If redis.conf moves away from the default, the module must set it.
ELASTICACHE_DEFAULTS_KEPT = {
    # A user-set empty value is read back without a value: a diff on every plan.
    "notify-keyspace-events": "",
}

# Set by the module from the topology, not from redis.conf.
ELASTICACHE_ONLY = {"cluster-enabled"}

# Every other redis.conf directive, and where it went on ElastiCache. A new
# directive in redis.conf fails the test until it is placed here or in the
# parameter group.
HANDLED_ELSEWHERE = {
    "bind": "private subnets and the security group",
    "port": "variable port",
    "protected-mode": "not modifiable; network isolation and RBAC instead",
    "tcp-backlog": "not modifiable",
    "maxclients": "not modifiable (fixed by ElastiCache)",
    "aclfile": "RBAC users and user group",
    "enable-debug-command": "DEBUG is a restricted command on ElastiCache",
    "enable-module-command": "MODULE is not available on ElastiCache",
    "enable-protected-configs": "CONFIG is a restricted command on ElastiCache",
    "dir": "storage is managed",
    "appendonly": "AOF is not available on Redis 7; Multi-AZ replicas and snapshots instead",
    "appendfsync": "AOF is not available on Redis 7",
    "appendfilename": "AOF is not available on Redis 7",
    "aof-use-rdb-preamble": "AOF is not available on Redis 7",
    "no-appendfsync-on-rewrite": "AOF is not available on Redis 7",
    "auto-aof-rewrite-percentage": "AOF is not available on Redis 7",
    "auto-aof-rewrite-min-size": "AOF is not available on Redis 7",
    "save": "automatic snapshots: snapshot_window, snapshot_retention_limit",
    "dbfilename": "snapshots are managed",
    "stop-writes-on-bgsave-error": "snapshots are managed",
    "rdbcompression": "snapshots are managed",
    "rdbchecksum": "snapshots are managed",
    "maxmemory": "the node type",
    "replica-lazy-flush": "not modifiable",
    "latency-monitor-threshold": "not exposed by ElastiCache",
    "loglevel": "engine log delivered to CloudWatch",
    "logfile": "engine log delivered to CloudWatch",
}

# RBAC: rules ElastiCache refuses or does not need in an access string
# (passwords go through its API; a new user starts without keys/channels).
ACL_RULES_DROPPED = frozenset({"resetpass", "resetkeys", "resetchannels", "reset", "nopass"})
# Commands ElastiCache restricts; naming them in an access string is refused.
ELASTICACHE_RESTRICTED_COMMANDS = frozenset(
    {"bgrewriteaof", "bgsave", "config", "debug", "migrate", "psync", "replicaof", "save", "shutdown", "slaveof", "sync"}
)
# users.acl users with no ElastiCache counterpart.
ACL_USERS_NOT_ON_ELASTICACHE = {
    "replication": "ElastiCache runs replication itself",
    "sentinel": "ElastiCache runs failover itself; there are no Sentinels",
}

################################################################################
# Helpers
################################################################################


def load_hcl(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return hcl2.load(f)


def one(value):
    """The HCL parser wraps attribute values in one-element lists."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def hcl_locals(doc: dict) -> dict:
    merged: dict = {}
    for block in doc.get("locals", []):
        merged.update({k: one(v) for k, v in block.items()})
    return merged


def named_blocks(doc: dict, kind: str) -> list[tuple[str, str, dict]]:
    """(type, name, body) of every resource/data block."""
    found = []
    for entry in doc.get(kind, []):
        for rtype, by_name in entry.items():
            for name, body in by_name.items():
                found.append((rtype, name, body))
    return found


def single_blocks(doc: dict, kind: str) -> dict[str, dict]:
    """name -> body of every variable/output/module block."""
    return {name: body for entry in doc.get(kind, []) for name, body in entry.items()}


def parse_redis_conf(text: str) -> dict[str, str]:
    """Directive -> value of a redis.conf (comments skipped, quotes removed)."""
    directives: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = shlex.split(line)
        directives[words[0].lower()] = " ".join(words[1:])
    return directives


def policy_drift(conf: dict[str, str], params: dict[str, str]) -> list[str]:
    """Every difference between redis.conf and the parameter group, as a message saying what to fix."""
    problems = []
    for name, value in sorted(conf.items()):
        if name in ELASTICACHE_MODIFIABLE:
            if name in params:
                if params[name] != value:
                    problems.append(f"{name}: redis.conf has {value!r}, the parameter group has {params[name]!r}")
            elif name in ELASTICACHE_DEFAULTS_KEPT:
                if ELASTICACHE_DEFAULTS_KEPT[name] != value:
                    problems.append(
                        f"{name}: redis.conf has {value!r} but the module keeps ElastiCache's default "
                        f"{ELASTICACHE_DEFAULTS_KEPT[name]!r}; add it to local.hardening_parameters"
                    )
            else:
                problems.append(f"{name}: ElastiCache allows it but local.hardening_parameters lacks it (redis.conf: {value!r})")
        elif name not in HANDLED_ELSEWHERE:
            problems.append(
                f"{name}: new redis.conf directive; set it in local.hardening_parameters if ElastiCache allows it, "
                f"else record in HANDLED_ELSEWHERE ({Path(__file__).name}) where it went"
            )
    for name, value in sorted(params.items()):
        if name not in ELASTICACHE_MODIFIABLE:
            problems.append(f"{name}: not a parameter ElastiCache lets a parameter group change")
        elif name not in conf and name not in ELASTICACHE_ONLY:
            problems.append(f"{name}: in the parameter group but not in redis.conf, the source of truth")
    return problems


def is_restricted_rule(rule: str) -> bool:
    if rule[:1] not in "+-" or rule[1:2] == "@":
        return False
    return rule[1:].split("|", 1)[0].lower() in ELASTICACHE_RESTRICTED_COMMANDS


def elasticache_access_strings(acl_text: str) -> dict[str, str]:
    """users.acl translated to what ElastiCache accepts: user -> access string."""
    users = {}
    for raw in acl_text.splitlines():
        line = raw.strip()
        if not line.startswith("user "):
            continue
        name, *rules = line.split()[1:]
        if name in ACL_USERS_NOT_ON_ELASTICACHE:
            continue
        kept = [
            r
            for r in rules
            if not re.fullmatch(r"\{\{[A-Z_]+\}\}", r)
            and not r.startswith(("#", ">", "<"))
            and r.lower() not in ACL_RULES_DROPPED
            and not is_restricted_rule(r)
        ]
        users[name] = " ".join(kept)
    return users


def module_access_strings(main_tf: dict) -> dict[str, str]:
    loc = hcl_locals(main_tf)
    strings = dict(one(loc["rbac_access_strings"]))
    strings["default"] = loc["default_user_access_string"]
    return strings


def rbac_drift(acl_text: str, tf_strings: dict[str, str]) -> list[str]:
    want = elasticache_access_strings(acl_text)
    problems = []
    for user in sorted(set(want) | set(tf_strings)):
        if want.get(user) != tf_strings.get(user):
            problems.append(f"{user}: users.acl gives {want.get(user)!r} on ElastiCache, the module has {tf_strings.get(user)!r}")
    return problems


################################################################################
# HCL parses
################################################################################


@pytest.mark.parametrize("path", TF_FILES, ids=[str(p.relative_to(TF_DIR)) for p in TF_FILES])
def test_hcl_parses(path):
    doc = load_hcl(path)
    assert doc, f"{path} parsed to nothing"


def test_terraform_tree_has_module_and_two_examples():
    assert MODULE_DIR.is_dir()
    assert [p.name for p in EXAMPLE_DIRS] == ["cluster-mode", "replication-group"]
    assert len(TF_FILES) >= 12


################################################################################
# The policy: redis.conf and users.acl against the module
################################################################################


@pytest.fixture(scope="module")
def main_tf():
    return load_hcl(MODULE_DIR / "main.tf")


def test_parameter_group_matches_redis_conf(main_tf):
    conf = parse_redis_conf(REDIS_CONF.read_text())
    params = one(hcl_locals(main_tf)["hardening_parameters"])
    assert "maxmemory-policy" in params, "the policy must reach the parameter group"
    problems = policy_drift(conf, params)
    assert not problems, "redis-conf/redis.conf and the parameter group differ:\n" + "\n".join(problems)


def test_parameter_group_is_built_from_the_policy(main_tf):
    (body,) = [b for t, n, b in named_blocks(main_tf, "resource") if t == "aws_elasticache_parameter_group"]
    dynamic = one(body["dynamic"])["parameter"]
    assert one(dynamic["for_each"]) == "${local.parameters}"
    assert "local.hardening_parameters" in one(hcl_locals(main_tf)["parameters"])


def test_drift_check_catches_a_changed_eviction_policy(main_tf):
    text = REDIS_CONF.read_text()
    drifted = re.sub(r"(?m)^maxmemory-policy noeviction$", "maxmemory-policy allkeys-lru", text)
    assert drifted != text, "the drill must change redis.conf"
    problems = policy_drift(parse_redis_conf(drifted), one(hcl_locals(main_tf)["hardening_parameters"]))
    assert any(p.startswith("maxmemory-policy:") and "allkeys-lru" in p for p in problems), problems


def test_drift_check_catches_a_changed_parameter_group(tmp_path):
    text = (MODULE_DIR / "main.tf").read_text()
    drifted = re.sub(r'("timeout"\s*=\s*)"300"', r'\1"0"', text)
    assert drifted != text, "the drill must change main.tf"
    copy = tmp_path / "main.tf"
    copy.write_text(drifted)
    params = one(hcl_locals(load_hcl(copy))["hardening_parameters"])
    problems = policy_drift(parse_redis_conf(REDIS_CONF.read_text()), params)
    assert any(p.startswith("timeout:") for p in problems), problems


def test_drift_check_catches_an_unplaced_directive_and_a_changed_default(main_tf):
    params = one(hcl_locals(main_tf)["hardening_parameters"])
    text = REDIS_CONF.read_text() + "\nhz 100\n"
    text = text.replace('notify-keyspace-events ""', "notify-keyspace-events Ex")
    problems = policy_drift(parse_redis_conf(text), params)
    assert any(p.startswith("hz:") and "new redis.conf directive" in p for p in problems), problems
    assert any(p.startswith("notify-keyspace-events:") for p in problems), problems


def test_drift_check_refuses_parameters_elasticache_does_not_allow(main_tf):
    params = dict(one(hcl_locals(main_tf)["hardening_parameters"]))
    params["enable-debug-command"] = "no"
    problems = policy_drift(parse_redis_conf(REDIS_CONF.read_text()), params)
    assert any(p.startswith("enable-debug-command:") and "not a parameter" in p for p in problems), problems


def test_rbac_users_match_users_acl(main_tf):
    tf_strings = module_access_strings(main_tf)
    assert set(tf_strings) == {"admin", "app", "exporter", "default"}
    assert tf_strings["default"].split()[0] == "off", "the default user must be disabled"
    problems = rbac_drift(USERS_ACL.read_text(), tf_strings)
    assert not problems, "redis-conf/users.acl and the module's RBAC users differ:\n" + "\n".join(problems)


def test_rbac_check_catches_a_widened_role(main_tf):
    text = USERS_ACL.read_text()
    drifted = re.sub(r"(?m)^(user app .*) -@admin\b", r"\1", text)
    assert drifted != text, "the drill must change users.acl"
    problems = rbac_drift(drifted, module_access_strings(main_tf))
    assert any(p.startswith("app:") for p in problems), problems


################################################################################
# Module conventions
################################################################################


def test_module_has_four_files_and_readme():
    names = {p.name for p in MODULE_DIR.iterdir() if p.is_file()}
    assert {"main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"} <= names
    assert not (names & {"terraform.tfvars", "terraform.tfstate"})


# Resources not named `this`, each with the reason.
NOT_THIS = {
    ("aws_elasticache_user", "disabled_default"): "the `default` user ElastiCache requires, kept off; a second user type instance",
}


def test_resources_are_named_this(main_tf):
    for rtype, name, _ in named_blocks(main_tf, "resource"):
        assert name == "this" or (rtype, name) in NOT_THIS, f"{rtype}.{name}: name it `this`"
    for rtype, name, _ in named_blocks(main_tf, "data"):
        assert name == "current", f"data.{rtype}.{name}: name it `current`"


def test_optional_resources_have_create_flags():
    variables = single_blocks(load_hcl(MODULE_DIR / "variables.tf"), "variable")
    for flag in (
        "create",
        "create_kms_key",
        "create_security_group",
        "create_subnet_group",
        "create_parameter_group",
        "create_users",
        "create_cloudwatch_log_groups",
        "create_cloudwatch_alarms",
    ):
        assert flag in variables and one(variables[flag]["type"]) == "${bool}", flag


def test_variables_are_documented_validated_and_secrets_sensitive():
    variables = single_blocks(load_hcl(MODULE_DIR / "variables.tf"), "variable")
    validated = 0
    for name, body in variables.items():
        assert one(body.get("description", [""])).strip(), f"variable {name} needs a description"
        assert "type" in body, f"variable {name} needs a type"
        for validation in body.get("validation", []):
            validated += 1
            message = one(validation["error_message"])
            assert re.match(r"(Set|Use|Pass|Keep)\b", message), f"{name}: the message must say what to do: {message!r}"
        if re.search(r"(password|secret|token)$", name):
            assert one(body.get("sensitive", [False])) is True, f"{name} must be sensitive"
            assert one(body.get("default", [None])) is None, f"{name} must have no default"
    assert validated >= 15


def test_outputs_go_through_try():
    outputs = single_blocks(load_hcl(MODULE_DIR / "outputs.tf"), "output")
    for name, body in outputs.items():
        assert one(body["value"]).startswith("${try("), f"output {name}: wrap the value in try(...)"
        assert one(body.get("description", [""])), f"output {name} needs a description"


def test_security_and_recovery_settings_are_not_variables(main_tf):
    (body,) = [b for t, n, b in named_blocks(main_tf, "resource") if t == "aws_elasticache_replication_group"]
    assert one(body["at_rest_encryption_enabled"]) is True
    assert one(body["transit_encryption_enabled"]) is True
    assert one(body["transit_encryption_mode"]) == "required"
    assert one(body["kms_key_id"]) == "${local.kms_key_arn}"
    assert one(body["user_group_ids"]) == "${local.user_group_ids}"
    assert one(body["engine"]) == "redis"
    (logs,) = [d["log_delivery_configuration"] for d in body["dynamic"] if "log_delivery_configuration" in d]
    assert one(one(logs["content"])["log_format"]) == "json"
    assert one(logs["for_each"]) == "${aws_cloudwatch_log_group.this}"


def test_security_group_has_no_egress(main_tf):
    resources = named_blocks(main_tf, "resource")
    assert not [t for t, _, _ in resources if t in ("aws_vpc_security_group_egress_rule", "aws_security_group_rule")]
    (sg,) = [b for t, _, b in resources if t == "aws_security_group"]
    assert "egress" not in sg and "ingress" not in sg, "rules live in aws_vpc_security_group_ingress_rule only"


def readme_table_names(readme: str, heading: str) -> set[str]:
    section = readme.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"(?m)^\| `([a-z0-9_]+)` \|", section))


@pytest.mark.parametrize("root", [MODULE_DIR, *EXAMPLE_DIRS], ids=lambda p: p.name)
def test_readme_tables_list_every_input_and_output(root):
    readme = (root / "README.md").read_text()
    variables = set(single_blocks(load_hcl(root / "variables.tf"), "variable"))
    outputs = set(single_blocks(load_hcl(root / "outputs.tf"), "output"))
    assert readme_table_names(readme, "Inputs") == variables
    assert readme_table_names(readme, "Outputs") == outputs
    assert "cargo run -p verify -- --target rediss://" in readme
    assert "--password-file" in readme


################################################################################
# Examples
################################################################################


@pytest.mark.parametrize("example", EXAMPLE_DIRS, ids=lambda p: p.name)
def test_example_is_a_root_module_without_literal_secrets(example):
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
        assert (example / name).is_file(), f"{example.name}/{name}"
    assert not list(example.glob("*.tfvars")) and not list(example.glob("*.tfvars.json")), "no tfvars files in examples"

    variables = single_blocks(load_hcl(example / "variables.tf"), "variable")
    secrets = [n for n in variables if re.search(r"(password|secret|token)$", n)]
    assert len(secrets) == 3
    for name in secrets:
        assert one(variables[name].get("sensitive", [False])) is True, f"{name} must be sensitive"
        assert "default" not in variables[name], f"{name} must come from the environment, not a default"

    (call,) = single_blocks(load_hcl(example / "main.tf"), "module").values()
    assert (example / one(call["source"])).resolve() == MODULE_DIR
    for arg, value in call.items():
        if re.search(r"(password|secret|token)$", arg):
            assert one(value) == f"${{var.{arg}}}", f"{arg} must be passed from a variable, never a literal"


@pytest.mark.parametrize("example", EXAMPLE_DIRS, ids=lambda p: p.name)
def test_example_outputs_endpoint_and_verify_command(example):
    outputs = single_blocks(load_hcl(example / "outputs.tf"), "output")
    assert one(outputs["endpoint"]["value"]) == "${module.redis.endpoint}"
    assert one(outputs["verify_command"]["value"]) == "${module.redis.verify_command}"
    module_outputs = single_blocks(load_hcl(MODULE_DIR / "outputs.tf"), "output")
    command = one(module_outputs["verify_command"]["value"])
    assert "cargo run -p verify -- --target rediss://${local.endpoint}:" in command
    assert "--user admin --password-file ${var.verify_password_file}" in command


################################################################################
# checkov: zero failed checks, and a weakened module is caught
################################################################################


def checkov_bin() -> str:
    path = tool("checkov")
    assert path, "checkov is missing: run scripts/install-python-tools.sh"
    return path


def checkov_json(target: Path) -> dict:
    result = run(
        [checkov_bin(), "-d", target, "--framework", "terraform", "--skip-download", "--compact", "-o", "json"],
        cwd=REPO_ROOT,
        timeout=240,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    (tf,) = [r for r in reports if r["check_type"] == "terraform"]
    return tf


def test_checkov_passes_with_zero_failed_checks():
    # The exact command of the brief and of CI.
    result = run(
        [checkov_bin(), "-d", "terraform", "--framework", "terraform", "--skip-download", "--compact", "--quiet"],
        cwd=REPO_ROOT,
        timeout=240,
    )
    assert result.returncode == 0 and "Failed checks: 0" in result.stdout, result.stdout[-4000:] + result.stderr[-2000:]

    # And that it looked at the replication group at all.
    report = checkov_json(Path("terraform"))
    assert report["summary"]["failed"] == 0
    assert report["summary"]["parsing_errors"] == 0
    passed = {c["check_id"] for c in report["results"]["passed_checks"]}
    assert {"CKV_AWS_29", "CKV_AWS_30", "CKV_AWS_31", "CKV_AWS_191", "CKV2_AWS_50", "CKV_AWS_158", "CKV_AWS_7"} <= passed
    for skipped in report["results"].get("skipped_checks", []):
        assert (skipped.get("suppress_comment") or "").strip(), f"{skipped['check_id']} skipped without a reason"


def test_checkov_skips_carry_a_reason():
    for path in TF_FILES:
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                assert re.search(r"#\s*checkov:skip=CKV2?_[A-Z0-9]+_\d+:\s*\S.{9,}", line), f"{path}: {line.strip()}"


# Weakening edits and the checks each must trip.
WEAKENINGS = [
    ("at_rest_encryption_enabled = true", "at_rest_encryption_enabled = false", {"CKV_AWS_29"}),
    ("transit_encryption_enabled = true", "transit_encryption_enabled = false", {"CKV_AWS_30"}),
    ('transit_encryption_mode    = "required"\n', "", set()),
    ("kms_key_id                 = local.kms_key_arn\n", "", {"CKV_AWS_191"}),
    ("user_group_ids             = local.user_group_ids\n", "", {"CKV_AWS_31"}),
    ("automatic_failover_enabled = var.automatic_failover_enabled", "automatic_failover_enabled = false", {"CKV2_AWS_50"}),
    ("enable_key_rotation     = true", "enable_key_rotation     = false", {"CKV_AWS_7"}),
    ("kms_key_id        = local.kms_key_arn\n", "", {"CKV_AWS_158"}),
]


def test_checkov_fails_a_weakened_module(tmp_path):
    strong = tmp_path / "strong"
    weak = tmp_path / "weak"
    for copy in (strong, weak):
        shutil.copytree(MODULE_DIR, copy, ignore=shutil.ignore_patterns(".terraform*", "tests"))
    main = (weak / "main.tf").read_text()
    expected: set[str] = set()
    for old, new, ids in WEAKENINGS:
        assert main.count(old) == 1, f"weakening edit not applicable, update WEAKENINGS: {old!r}"
        main = main.replace(old, new)
        expected |= ids
    (weak / "main.tf").write_text(main)

    report = checkov_json(tmp_path)
    failed: dict[str, set[str]] = {}
    for check in report["results"]["failed_checks"]:
        failed.setdefault(Path(check["file_abs_path"]).parent.name, set()).add(check["check_id"])
    assert "strong" not in failed, f"the unmodified module fails {failed.get('strong')}"
    assert expected <= failed.get("weak", set()), f"checkov missed {sorted(expected - failed.get('weak', set()))}"


################################################################################
# Terraform binary: fmt always; validate and test need the AWS provider
################################################################################


@pytest.fixture(scope="session")
def terraform_bin() -> str:
    path = shutil.which("terraform")
    if not path:
        warnings.warn("skipped: terraform not found on PATH; fmt/validate/test did not run")
        pytest.skip("skipped: terraform not found")
    return path


def tf_env() -> dict[str, str]:
    env = dict(os.environ, TF_IN_AUTOMATION="1", TF_INPUT="0", CHECKPOINT_DISABLE="1")
    cli_config = env.get("TF_CLI_CONFIG_FILE")
    if cli_config and not Path(cli_config).is_file():
        env.pop("TF_CLI_CONFIG_FILE")  # only produces a warning on every command
    return env


def provider_mirror() -> Path | None:
    """A local filesystem mirror holding hashicorp/aws, packed or unpacked layout."""
    candidates = [os.environ.get("IAC_TF_PLUGIN_DIR"), os.environ.get("TF_PLUGIN_CACHE_DIR")]
    home = Path.home()
    candidates += [
        home / ".terraform.d" / "plugins",
        home / ".local" / "share" / "terraform" / "plugins",
        "/usr/local/share/terraform/plugins",
        "/usr/share/terraform/plugins",
        "/opt/tf-plugins",
    ]
    for candidate in candidates:
        if not candidate:
            continue
        root = Path(candidate)
        if any(root.glob("*/hashicorp/aws/*/*/terraform-provider-aws*")) or any(
            root.glob("*/hashicorp/aws/terraform-provider-aws_*.zip")
        ):
            return root
    return None


def cli_config_installs_providers() -> bool:
    config = os.environ.get("TF_CLI_CONFIG_FILE") or str(Path.home() / ".terraformrc")
    path = Path(config)
    return path.is_file() and "provider_installation" in path.read_text(errors="replace")


@pytest.fixture(scope="session")
def tf_roots(terraform_bin, tmp_path_factory) -> dict[str, Path]:
    """terraform/ copied to a temp dir and every root initialised there (the repo stays clean)."""
    mirror = provider_mirror()
    online = os.environ.get("IAC_TERRAFORM_ONLINE") == "1" or cli_config_installs_providers()
    if mirror is None and not online:
        warnings.warn(
            f"{PROVIDER_MISSING}: terraform validate/test did not run. Put hashicorp/aws in a filesystem mirror "
            "(IAC_TF_PLUGIN_DIR=<dir>) or set IAC_TERRAFORM_ONLINE=1 to let terraform init download it."
        )
        pytest.skip(PROVIDER_MISSING)
    work = tmp_path_factory.mktemp("tf") / "terraform"
    shutil.copytree(TF_DIR, work, ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*"))
    roots = {"module": work / "modules" / "elasticache-redis"}
    roots.update({f"example-{p.name}": work / "examples" / p.name for p in EXAMPLE_DIRS})
    for name, root in roots.items():
        cmd = [terraform_bin, "init", "-backend=false", "-input=false", "-no-color"]
        if mirror is not None:
            cmd.append(f"-plugin-dir={mirror}")
        result = run(cmd, cwd=root, env=tf_env(), timeout=300)
        assert result.returncode == 0, f"terraform init ({name}) failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    return roots


def test_terraform_fmt(terraform_bin):
    result = run([terraform_bin, "fmt", "-check", "-recursive", "-diff", "-no-color", TF_DIR], env=tf_env(), timeout=60)
    assert result.returncode == 0, "run `terraform fmt -recursive terraform`:\n" + result.stdout + result.stderr


ROOT_IDS = ["module", *(f"example-{p.name}" for p in EXAMPLE_DIRS)]


@pytest.mark.parametrize("root", ROOT_IDS)
def test_terraform_validate(tf_roots, terraform_bin, root):
    result = run([terraform_bin, "validate", "-no-color"], cwd=tf_roots[root], env=tf_env(), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning:" not in result.stdout + result.stderr, result.stdout + result.stderr


@pytest.mark.parametrize("root", ROOT_IDS)
def test_terraform_test_with_mock_provider(tf_roots, terraform_bin, root):
    tests = list((tf_roots[root] / "tests").glob("*.tftest.hcl"))
    assert tests, f"{root} has no terraform tests"
    for path in tests:
        assert 'mock_provider "aws"' in path.read_text(), f"{path.name} must mock the AWS provider (no credentials, no cost)"
    result = run([terraform_bin, "test", "-no-color"], cwd=tf_roots[root], env=tf_env(), timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r"Success! \d+ passed, 0 failed", output), output
