//! `verify --topology sentinel|cluster` end to end: the hardened policy
//! passes every check on every node (warnings allowed) on both launchers,
//! the JSON names each node's results, and the weak variant fails the
//! replication, Sentinel and Cluster checks that guard each of its
//! weaknesses.

use super::common::*;
use serde_json::Value;
use std::collections::BTreeMap;

/// Checks that may warn on the hardened deployments, and why.
const HARDENED_MAY_WARN: &[&str] = &[
    // Debian's 7.0.15 predates the 2024-2025 fixes (backported by Debian).
    "version.known-cves",
    // Inside a container the server binds every interface; without TLS
    // net.bind warns (exposure is the published 127.0.0.1 port's).
    "net.bind",
    // Every node of a launched deployment runs on this one machine.
    "cluster.spread",
];

/// Runs the binary with no target: it launches `topology` itself.
fn run_embedded(launcher: &str, topology: &str, launch: &str) -> (i32, Value, String) {
    let out = verify_bin()
        .env("REDIS_LAUNCHER", launcher)
        .args([
            "--topology",
            topology,
            "--launch",
            launch,
            "--format",
            "json",
        ])
        .output()
        .expect("run verify");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "report is not JSON ({e}); stdout: {} stderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    super::schema::assert_valid(super::schema::Schema::Report, &report);
    (out.status.code().unwrap_or(-1), report, stderr)
}

fn checks(report: &Value) -> &Vec<Value> {
    report["checks"].as_array().expect("checks")
}

/// Checks that may skip on the hardened deployments, and why.
const HARDENED_MAY_SKIP: &[(&str, &str)] = &[
    // Redis 7.0 exposes deny-scripts-reconfig through no command; the check
    // reads a local Sentinel's config file, which a container keeps inside.
    ("sentinel.deny-scripts-reconfig", "docker"),
];

fn assert_hardened(launcher: &str, topology: &str, data_nodes: usize, sentinels: usize) {
    let (code, report, stderr) = run_embedded(launcher, topology, "hardened");
    assert_eq!(report["topology"], topology);
    let nodes = report["nodes"].as_array().expect("nodes");
    let roles: Vec<&str> = nodes
        .iter()
        .map(|n| n["role"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        roles.iter().filter(|r| **r == "sentinel").count(),
        sentinels,
        "{nodes:?}"
    );
    assert_eq!(roles.len() - sentinels, data_nodes, "{nodes:?}");
    for c in checks(&report) {
        let id = c["id"].as_str().unwrap_or("");
        let status = c["status"].as_str().unwrap_or("");
        // Without --prometheus the monitoring checks skip (tests/iac/test_monitoring.py
        // runs them against a live Prometheus).
        let may_skip = HARDENED_MAY_SKIP.contains(&(id, launcher)) || id.starts_with("monitoring.");
        assert!(
            status == "pass"
                || (status == "warn" && HARDENED_MAY_WARN.contains(&id))
                || (status == "skip" && may_skip)
                // No TLS to judge on these redis:// deployments (tls.rs runs them over TLS).
                || (status == "skip" && id.starts_with("tls.")),
            "{id}@{} is {status} on the hardened {topology}: {c:#}",
            c["node"]
        );
    }
    // Node checks ran once per data node, each result naming its node.
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for c in checks(&report)
        .iter()
        .filter(|c| c["id"] == "auth.required")
    {
        *per_node
            .entry(c["node"].as_str().expect("node label").to_owned())
            .or_default() += 1;
    }
    assert_eq!(per_node.len(), data_nodes, "{per_node:?}");
    assert!(per_node.values().all(|n| *n == 1));
    // And the deployment-wide checks of this topology ran once, without a node.
    let area = if topology == "sentinel" {
        "sentinel"
    } else {
        "cluster"
    };
    let wide: Vec<&Value> = checks(&report)
        .iter()
        .filter(|c| c["area"] == area)
        .collect();
    assert!(!wide.is_empty(), "no {area}.* checks ran");
    assert!(wide.iter().all(|c| c["node"].is_null()));
    assert!(
        checks(&report).iter().any(|c| c["area"] == "repl"),
        "no repl.* checks ran"
    );
    assert_eq!(code, 0, "{stderr}");
}

fn assert_weak(launcher: &str, topology: &str, must_fail: &[&str]) {
    let (code, report, _) = run_embedded(launcher, topology, "weak");
    for id in must_fail {
        let failed = checks(&report)
            .iter()
            .any(|c| c["id"] == *id && c["status"] == "fail");
        assert!(
            failed,
            "{id} should fail on the weak {topology}: {report:#}"
        );
    }
    assert_eq!(code, 1);
}

/// What the weak Sentinel deployment breaks, and the check that catches it.
const WEAK_SENTINEL_MUST_FAIL: &[&str] = &[
    "repl.read-only",         // n2: replica-read-only no
    "repl.link",              // n3: wrong masterauth, link never up
    "repl.replicas",          // so the primary has 1 of 2 replicas
    "repl.auth",              // no authentication at all
    "repl.min-replicas",      // min-replicas-to-write 0
    "sentinel.auth-required", // sentinels answer strangers
    "sentinel.timers",        // default 30 s down-after, 180 s failover-timeout
];

/// What the weak Cluster breaks, and the check that catches it.
const WEAK_CLUSTER_MUST_FAIL: &[&str] = &[
    "cluster.replicas",      // the last shard has no replica
    "cluster.full-coverage", // cluster-require-full-coverage no
    "cluster.node-timeout",  // default 15 s
    "repl.auth",             // no authentication at all
];

#[test]
fn process_hardened_sentinel_passes_every_check_on_every_node() {
    assert_hardened("process", "sentinel", 3, 3);
}

#[test]
fn process_weak_sentinel_fails_the_replication_and_sentinel_checks() {
    assert_weak("process", "sentinel", WEAK_SENTINEL_MUST_FAIL);
}

#[test]
fn process_hardened_cluster_passes_every_check_on_every_node() {
    assert_hardened("process", "cluster", 6, 0);
}

#[test]
fn process_weak_cluster_fails_the_cluster_checks() {
    assert_weak("process", "cluster", WEAK_CLUSTER_MUST_FAIL);
}

#[test]
fn docker_hardened_sentinel_passes_every_check_on_every_node() {
    if !docker_available() {
        return;
    }
    assert_hardened("docker", "sentinel", 3, 3);
}

#[test]
fn docker_hardened_cluster_passes_every_check_on_every_node() {
    if !docker_available() {
        return;
    }
    assert_hardened("docker", "cluster", 6, 0);
}

#[test]
fn docker_weak_sentinel_fails_the_replication_and_sentinel_checks() {
    if !docker_available() {
        return;
    }
    assert_weak("docker", "sentinel", WEAK_SENTINEL_MUST_FAIL);
}

#[test]
fn docker_weak_cluster_fails_the_cluster_checks() {
    if !docker_available() {
        return;
    }
    assert_weak("docker", "cluster", WEAK_CLUSTER_MUST_FAIL);
}
