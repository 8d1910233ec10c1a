//! `cluster.*`: a Redis Cluster's health and the settings that decide how it
//! behaves when a node fails, judged across every node.
//!
//! State comes from `CLUSTER INFO` and `CLUSTER NODES` (read-only), settings
//! from `CONFIG GET` on each node (each node has its own).

use super::repl::{expected_replicas, name_of, Tally};
use crate::check::{Applies, Area, CheckMeta, Needs, Outcome, Scope, Severity};
use crate::ctx::classify;
use crate::ctx::value_text;
use crate::fleet::{Fleet, Member};
use crate::info::Info;

/// Slots of a Redis Cluster.
const SLOTS: u64 = 16_384;

/// The policy's `cluster-node-timeout` is 5000; the bounds allow twice
/// that, and leave out Redis' default (15 s).
const NODE_TIMEOUT_MS: std::ops::RangeInclusive<u64> = 1_000..=10_000;

/// `CLUSTER INFO` of a member, recorded as evidence with `fields`.
async fn cluster_info(m: &Member, t: &mut Tally, fields: &[&str]) -> Option<Info> {
    match m.ctx.cached(&["CLUSTER", "INFO"]).await {
        Ok(v) => {
            let info = Info::parse(&value_text(&v));
            let shown: Vec<String> = fields.iter().map(|f| info.show(f)).collect();
            t.saw(&m.label, "CLUSTER INFO", shown.join(" "));
            Some(info)
        }
        Err(e) => {
            t.unavailable(&m.label, "CLUSTER INFO", &classify(e));
            None
        }
    }
}

use topology::cluster_nodes::{parse as parse_nodes, ClusterNode as NodeLine};

/// A shard: a primary serving slots and the replicas that follow it.
struct Shard<'a> {
    primary: &'a NodeLine,
    replicas: Vec<&'a NodeLine>,
}

fn shards(nodes: &[NodeLine]) -> Vec<Shard<'_>> {
    nodes
        .iter()
        .filter(|n| n.has("master") && n.slots > 0)
        .map(|p| Shard {
            primary: p,
            replicas: nodes
                .iter()
                .filter(|r| r.has("slave") && r.primary.as_deref() == Some(p.id.as_str()))
                .collect(),
        })
        .collect()
}

/// `CLUSTER NODES` from the first node that answers it: one view of the
/// whole cluster (every node's view converges on the same through gossip).
async fn cluster_nodes(fleet: &Fleet, t: &mut Tally) -> Option<(String, Vec<NodeLine>)> {
    for m in &fleet.data {
        match m.ctx.cached(&["CLUSTER", "NODES"]).await {
            Ok(v) => {
                let text = value_text(&v);
                let nodes = parse_nodes(&text);
                t.saw(
                    &m.label,
                    "CLUSTER NODES",
                    nodes
                        .iter()
                        .map(|n| {
                            format!(
                                "{} {} {}{}",
                                &n.id[..n.id.len().min(8)],
                                n.announced,
                                n.flags.join(","),
                                n.primary
                                    .as_deref()
                                    .map(|p| format!(" of {}", &p[..p.len().min(8)]))
                                    .unwrap_or_default()
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                );
                return Some((m.label.clone(), nodes));
            }
            Err(e) => t.unavailable(&m.label, "CLUSTER NODES", &classify(e)),
        }
    }
    None
}

/// `cluster.state`
pub struct State;

static STATE: CheckMeta = CheckMeta {
    id: "cluster.state",
    area: Area::Cluster,
    title: "Every node reports cluster_state:ok",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Deployment,
    applies: Applies::CLUSTER,
    why: "A node in cluster_state:fail refuses queries (CLUSTERDOWN): with full coverage required, a missing or failed slot stops the whole keyspace, and a node on the minority side of a partition stops too. Asked of every node, because each decides on its own view. https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#cluster-state",
    remediation: "Find the failing or uncovered slots (cluster.slots) and the unreachable nodes; `redis-cli --cluster check <node>` and `--cluster fix` repair slot ownership; the Helm chart's init Job creates the cluster (`cluster.initJob`).",
};

check_type!(State, STATE, fleet);

impl State {
    async fn evaluate(&self, fleet: &Fleet) -> Outcome {
        let mut t = Tally::default();
        for m in &fleet.data {
            let Some(info) =
                cluster_info(m, &mut t, &["cluster_state", "cluster_known_nodes"]).await
            else {
                continue;
            };
            match info.get("cluster_state") {
                Some("ok") => t.pass(),
                Some(s) => t.fail(format!("{}: cluster_state:{s}", m.label)),
                None => t.error(format!("{}: CLUSTER INFO has no cluster_state", m.label)),
            }
        }
        t.finish("every node reports cluster_state:ok", "no data node to ask")
    }
}

/// `cluster.slots`
pub struct Slots;

static SLOTS_META: CheckMeta = CheckMeta {
    id: "cluster.slots",
    area: Area::Cluster,
    title: "All 16384 slots are assigned and none is failing",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Deployment,
    applies: Applies::CLUSTER,
    why: "Keys of an unassigned slot cannot be stored anywhere; a slot in pfail or fail belongs to a primary the cluster cannot reach, whose keys are unavailable until a replica is promoted. Read from CLUSTER INFO on every node. https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/",
    remediation: "Assign the missing slots and restore or replace failing primaries: `redis-cli --cluster check <node>` then `--cluster fix`; keep a replica per shard (cluster.replicas) so failures are covered automatically.",
};

check_type!(Slots, SLOTS_META, fleet);

impl Slots {
    async fn evaluate(&self, fleet: &Fleet) -> Outcome {
        let mut t = Tally::default();
        let fields = [
            "cluster_slots_assigned",
            "cluster_slots_ok",
            "cluster_slots_pfail",
            "cluster_slots_fail",
        ];
        for m in &fleet.data {
            let Some(info) = cluster_info(m, &mut t, &fields).await else {
                continue;
            };
            let [assigned, ok, pfail, fail] = fields.map(|f| info.get_u64(f));
            let (Some(assigned), Some(pfail), Some(fail)) = (assigned, pfail, fail) else {
                t.error(format!("{}: CLUSTER INFO lacks the slot counts", m.label));
                continue;
            };
            let mut problems = Vec::new();
            if assigned < SLOTS {
                problems.push(format!("{} of {SLOTS} slots unassigned", SLOTS - assigned));
            }
            if pfail > 0 {
                problems.push(format!("{pfail} slots pfail"));
            }
            if fail > 0 {
                problems.push(format!("{fail} slots fail"));
            }
            if problems.is_empty() && ok == Some(SLOTS) {
                t.pass();
            } else if problems.is_empty() {
                t.fail(format!(
                    "{}: cluster_slots_ok is {}",
                    m.label,
                    ok.map_or("<absent>".to_owned(), |n| n.to_string())
                ));
            } else {
                t.fail(format!("{}: {}", m.label, problems.join(", ")));
            }
        }
        t.finish(
            format!("every node sees all {SLOTS} slots assigned and ok"),
            "no data node to ask",
        )
    }
}

/// `cluster.replicas`
pub struct Replicas;

static REPLICAS: CheckMeta = CheckMeta {
    id: "cluster.replicas",
    area: Area::Cluster,
    title: "Every shard has a healthy replica to fail over to",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Deployment,
    applies: Applies::CLUSTER,
    why: "A shard without a replica cannot fail over: when its primary dies its slots are lost (or, with full coverage required, the whole cluster stops) until someone restores it, and its writes since the last snapshot are gone. Replicas flagged fail or fail? do not count. At least one per shard, or the launched spec / `[topology] replicas` in verify.toml. https://redis.io/docs/latest/operate/oss_and_stack/management/scaling/#scale-with-redis-cluster",
    remediation: "Add a replica to each shard (`redis-cli --cluster add-node <new> <any> --cluster-slave --cluster-master-id <id>`); Helm: `cluster.replicasPerPrimary: 1`; Terraform: `replicas_per_node_group = 1` or more.",
};

check_type!(Replicas, REPLICAS, fleet);

impl Replicas {
    async fn evaluate(&self, fleet: &Fleet) -> Outcome {
        let need = expected_replicas(fleet).max(1);
        let mut t = Tally::default();
        let Some((_, nodes)) = cluster_nodes(fleet, &mut t).await else {
            return t.finish("", "no node answered CLUSTER NODES");
        };
        let shards = shards(&nodes);
        if shards.is_empty() {
            t.fail("CLUSTER NODES lists no primary serving slots");
        }
        for s in &shards {
            let healthy = s.replicas.iter().filter(|r| !r.failing()).count();
            if healthy >= need {
                t.pass();
            } else {
                t.fail(format!(
                    "shard of {} has {healthy} healthy replica(s), needs {need}",
                    name_of(fleet, &s.primary.announced.to_string())
                ));
            }
        }
        t.finish(
            format!(
                "all {} shards have at least {need} healthy replica(s)",
                shards.len()
            ),
            "no shard found",
        )
    }
}

/// `cluster.spread`
pub struct Spread;

static SPREAD: CheckMeta = CheckMeta {
    id: "cluster.spread",
    area: Area::Cluster,
    title: "A shard's primary and replicas are not on the same host",
    severity: Severity::Warn,
    needs: Needs { disruptive: false },
    scope: Scope::Deployment,
    applies: Applies::CLUSTER,
    why: "A replica on its primary's host dies with it: the shard has no failover candidate exactly when it needs one. Told from the IPs in CLUSTER NODES: the same IP for a primary and its replica is one host; every node on loopback is one machine (fine for a local test deployment, never for production). Different IPs can still share a host (containers, VMs on one hypervisor), which the verifier cannot see. https://redis.io/docs/latest/operate/oss_and_stack/management/scaling/",
    remediation: "Place each replica on another host than its primary (`redis-cli --cluster create` spreads them when it can); Helm: `podAntiAffinity: hard`; Terraform: `multi_az_enabled = true`.",
};

check_type!(Spread, SPREAD, fleet);

fn loopback(ip: &str) -> bool {
    ip.eq_ignore_ascii_case("localhost")
        || ip
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback())
}

impl Spread {
    async fn evaluate(&self, fleet: &Fleet) -> Outcome {
        let mut t = Tally::default();
        let Some((_, nodes)) = cluster_nodes(fleet, &mut t).await else {
            return t.finish("", "no node answered CLUSTER NODES");
        };
        if !nodes.is_empty() && nodes.iter().all(|n| loopback(&n.ip)) {
            t.warn(
                "every node announces a loopback address: the whole cluster is on one machine, so placement cannot be judged (fine only for a local test deployment)",
            );
            return t.finish("", "");
        }
        for s in shards(&nodes) {
            let together: Vec<String> = s
                .replicas
                .iter()
                .filter(|r| r.ip == s.primary.ip)
                .map(|r| name_of(fleet, &r.announced.to_string()))
                .collect();
            if together.is_empty() {
                t.pass();
            } else {
                t.fail(format!(
                    "shard of {}: replica {} on the same host ({})",
                    name_of(fleet, &s.primary.announced.to_string()),
                    together.join(", "),
                    s.primary.ip
                ));
            }
        }
        t.finish(
            "every shard's replicas announce other IPs than its primary",
            "no shard found",
        )
    }
}

/// Reads one CONFIG parameter on every node and judges it with `judge`
/// (`Ok(())` or the problem), skipping where CONFIG is not permitted.
async fn config_on_every_node(
    fleet: &Fleet,
    name: &str,
    judge: impl Fn(&str) -> Result<(), String>,
) -> Tally {
    let mut t = Tally::default();
    let command = format!("CONFIG GET {name}");
    for m in &fleet.data {
        match m.ctx.config_get(name).await {
            Ok(Some(v)) => {
                t.saw(&m.label, &command, v.clone());
                match judge(&v) {
                    Ok(()) => t.pass(),
                    Err(problem) => t.fail(format!("{}: {problem}", m.label)),
                }
            }
            Ok(None) => {
                t.saw(&m.label, &command, "<not supported>");
                t.skip(format!("{}: no {name} parameter", m.label));
            }
            Err(e) => t.unavailable(&m.label, &command, &e),
        }
    }
    t
}

/// `cluster.full-coverage`
pub struct FullCoverage;

static FULL_COVERAGE: CheckMeta = CheckMeta {
    id: "cluster.full-coverage",
    area: Area::Cluster,
    title: "The cluster stops when slots are uncovered (cluster-require-full-coverage yes)",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Deployment,
    applies: Applies::CLUSTER,
    why: "With cluster-require-full-coverage no, a cluster that lost a shard keeps serving the other slots: some users are rate-limited and others not, some locks exist and others silently do not, and nothing errors. The policy prefers a visible CLUSTERDOWN to a half-served keyspace for state like sessions, limits and locks. https://raw.githubusercontent.com/redis/redis/7.0/redis.conf (cluster-require-full-coverage)",
    remediation: "redis-conf/cluster.conf: `cluster-require-full-coverage yes` (the Helm chart renders the same file; ElastiCache sets it in the parameter group the Terraform module creates, `create_parameter_group`).",
};

check_type!(FullCoverage, FULL_COVERAGE, fleet);

impl FullCoverage {
    async fn evaluate(&self, fleet: &Fleet) -> Outcome {
        config_on_every_node(fleet, "cluster-require-full-coverage", |v| {
            if v == "yes" {
                Ok(())
            } else {
                Err(format!(
                    "cluster-require-full-coverage is `{v}`: a lost shard leaves the rest of the keyspace serving"
                ))
            }
        })
        .await
        .finish(
            "every node has cluster-require-full-coverage yes",
            "no data node to ask",
        )
    }
}

/// `cluster.node-timeout`
pub struct NodeTimeout;

static NODE_TIMEOUT: CheckMeta = CheckMeta {
    id: "cluster.node-timeout",
    area: Area::Cluster,
    title: "cluster-node-timeout is within the policy's bounds",
    severity: Severity::Warn,
    needs: Needs { disruptive: false },
    scope: Scope::Deployment,
    applies: Applies::CLUSTER,
    why: "cluster-node-timeout is how long a dead primary's slots refuse writes before its replica is promoted, and how long a primary cut off on the minority side keeps accepting writes that the failover then discards. The default 15 s is 15 s of refused writes for a third of the keys; below 1 s a slow reply or a fork looks like a failure. The bounds are 1-10 s, twice the policy's 5 s at most. https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#failure-detection",
    remediation: "redis-conf/cluster.conf: `cluster-node-timeout 5000`; Helm: `cluster.nodeTimeout`.",
};

check_type!(NodeTimeout, NODE_TIMEOUT, fleet);

impl NodeTimeout {
    async fn evaluate(&self, fleet: &Fleet) -> Outcome {
        config_on_every_node(fleet, "cluster-node-timeout", |v| match v.parse::<u64>() {
            Ok(ms) if NODE_TIMEOUT_MS.contains(&ms) => Ok(()),
            Ok(ms) => Err(format!(
                "cluster-node-timeout {ms} outside {}-{}",
                NODE_TIMEOUT_MS.start(),
                NODE_TIMEOUT_MS.end()
            )),
            Err(_) => Err(format!("cluster-node-timeout is not a number: `{v}`")),
        })
        .await
        .finish(
            format!(
                "every node's cluster-node-timeout is within {}-{} ms",
                NODE_TIMEOUT_MS.start(),
                NODE_TIMEOUT_MS.end()
            ),
            "no data node to ask",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::repl::testing::cluster_fleet;
    use super::*;
    use crate::check::Status;
    use crate::checks::testing::run_fleet;
    use crate::ctx::Captured;
    use crate::fleet::Role;

    /// `CLUSTER INFO` as redis-server 7.0.15 answers it (first lines).
    fn info(state: &str, assigned: u64, pfail: u64, fail: u64) -> String {
        format!(
            "cluster_enabled:1\r\ncluster_state:{state}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{}\r\ncluster_slots_pfail:{pfail}\r\ncluster_slots_fail:{fail}\r\ncluster_known_nodes:6\r\ncluster_size:3\r\n",
            assigned - pfail - fail
        )
    }

    fn nodes_with(f: impl Fn(usize) -> Captured, n: usize) -> Fleet {
        let labels = ["n1", "n2", "n3", "n4", "n5", "n6"];
        cluster_fleet(
            (0..n)
                .map(|i| {
                    (
                        labels[i],
                        if i < 3 { Role::Primary } else { Role::Replica },
                        f(i),
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn state_pass_fail_skip() {
        let ok = |_| Captured::default().text("CLUSTER INFO", &info("ok", 16384, 0, 0));
        assert_eq!(run_fleet(&State, &nodes_with(ok, 6)).status, Status::Pass);
        let o = run_fleet(
            &State,
            &nodes_with(
                |i| {
                    let s = if i == 4 { "fail" } else { "ok" };
                    Captured::default().text("CLUSTER INFO", &info(s, 16384, 0, 0))
                },
                6,
            ),
        );
        assert_eq!(o.status, Status::Fail);
        assert_eq!(o.message, "n5: cluster_state:fail");
        let denied = |_| {
            Captured::default().reply(
                "CLUSTER INFO",
                Err("NOPERM this user has no permissions to run the 'cluster|info' command"),
            )
        };
        assert_eq!(
            run_fleet(&State, &nodes_with(denied, 6)).status,
            Status::Skip
        );
    }

    #[test]
    fn slots_pass_and_fail() {
        let ok = |_| Captured::default().text("CLUSTER INFO", &info("ok", 16384, 0, 0));
        assert_eq!(run_fleet(&Slots, &nodes_with(ok, 6)).status, Status::Pass);
        let o = run_fleet(
            &Slots,
            &nodes_with(
                |i| {
                    let c = if i == 0 {
                        info("ok", 16384, 5461, 0)
                    } else {
                        info("ok", 16384, 0, 0)
                    };
                    Captured::default().text("CLUSTER INFO", &c)
                },
                6,
            ),
        );
        assert_eq!(o.status, Status::Fail);
        assert_eq!(o.message, "n1: 5461 slots pfail");
        let o = run_fleet(
            &Slots,
            &nodes_with(
                |_| Captured::default().text("CLUSTER INFO", &info("fail", 10923, 0, 0)),
                1,
            ),
        );
        assert_eq!(o.status, Status::Fail);
        assert_eq!(o.message, "n1: 5461 of 16384 slots unassigned");
    }

    /// `CLUSTER NODES` of a 3-shard cluster as 7.0.15 prints it with
    /// cluster-announce-hostname; `replica_of_3` is the third shard's
    /// replica line, or nothing.
    fn cluster_nodes_text(ip: [&str; 6], replica_of_3: bool) -> String {
        let mut s = format!(
            "\
aaaa1111 {}:7001@17001,n1 myself,master - 0 0 1 connected 0-5460
bbbb2222 {}:7002@17002,n2 master - 0 1700 2 connected 5461-10922
cccc3333 {}:7003@17003,n3 master - 0 1700 3 connected 10923-16383
dddd4444 {}:7004@17004,n4 slave aaaa1111 0 1700 1 connected
eeee5555 {}:7005@17005,n5 slave bbbb2222 0 1700 2 connected
",
            ip[0], ip[1], ip[2], ip[3], ip[4]
        );
        if replica_of_3 {
            s.push_str(&format!(
                "ffff6666 {}:7006@17006,n6 slave cccc3333 0 1700 3 connected\n",
                ip[5]
            ));
        }
        s
    }

    fn nodes_fleet(text: String) -> Fleet {
        nodes_with(move |_| Captured::default().text("CLUSTER NODES", &text), 1)
    }

    const SIX_HOSTS: [&str; 6] = [
        "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6",
    ];

    #[test]
    fn parses_cluster_nodes_with_primaries_and_slots() {
        let nodes = parse_nodes(&cluster_nodes_text(SIX_HOSTS, true));
        assert_eq!(nodes.len(), 6);
        assert_eq!(nodes[0].announced.to_string(), "n1:7001");
        assert_eq!(nodes[0].ip, "10.0.0.1");
        assert_eq!(nodes[0].slots, 1);
        assert_eq!(nodes[3].primary.as_deref(), Some("aaaa1111"));
        let shards = shards(&nodes);
        assert_eq!(shards.len(), 3);
        assert!(shards.iter().all(|s| s.replicas.len() == 1));
    }

    #[test]
    fn replicas_pass_and_fail_for_the_shard_without_one() {
        let o = run_fleet(&Replicas, &nodes_fleet(cluster_nodes_text(SIX_HOSTS, true)));
        assert_eq!(o.status, Status::Pass, "{o:?}");
        let o = run_fleet(
            &Replicas,
            &nodes_fleet(cluster_nodes_text(SIX_HOSTS, false)),
        );
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.message,
            "shard of n3:7003 has 0 healthy replica(s), needs 1"
        );
        // A replica flagged fail does not count.
        let failing = cluster_nodes_text(SIX_HOSTS, true)
            .replace("n6 slave cccc3333", "n6 slave,fail cccc3333");
        assert_eq!(
            run_fleet(&Replicas, &nodes_fleet(failing)).status,
            Status::Fail
        );
        let denied = nodes_with(
            |_| Captured::default().reply("CLUSTER NODES", Err("NOPERM no permissions")),
            2,
        );
        assert_eq!(run_fleet(&Replicas, &denied).status, Status::Skip);
    }

    #[test]
    fn spread_pass_fail_and_warn_on_one_machine() {
        let o = run_fleet(&Spread, &nodes_fleet(cluster_nodes_text(SIX_HOSTS, true)));
        assert_eq!(o.status, Status::Pass, "{o:?}");
        let mut shared = SIX_HOSTS;
        shared[4] = "10.0.0.2";
        let o = run_fleet(&Spread, &nodes_fleet(cluster_nodes_text(shared, true)));
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.message,
            "shard of n2:7002: replica n5:7005 on the same host (10.0.0.2)"
        );
        let o = run_fleet(
            &Spread,
            &nodes_fleet(cluster_nodes_text(["127.0.0.1"; 6], true)),
        );
        assert_eq!(o.status, Status::Warn);
        assert!(o
            .message
            .starts_with("every node announces a loopback address"));
    }

    #[test]
    fn full_coverage_pass_fail_skip() {
        let with = |v: &'static str| {
            move |_| Captured::default().config("cluster-require-full-coverage", v)
        };
        assert_eq!(
            run_fleet(&FullCoverage, &nodes_with(with("yes"), 6)).status,
            Status::Pass
        );
        let o = run_fleet(
            &FullCoverage,
            &nodes_with(
                |i| {
                    Captured::default().config(
                        "cluster-require-full-coverage",
                        if i == 2 { "no" } else { "yes" },
                    )
                },
                6,
            ),
        );
        assert_eq!(o.status, Status::Fail);
        assert!(o
            .message
            .starts_with("n3: cluster-require-full-coverage is `no`"));
        let denied = |_| {
            Captured::default().reply(
                "CONFIG GET cluster-require-full-coverage",
                Err("NOPERM this user has no permissions to run the 'config|get' command"),
            )
        };
        let o = run_fleet(&FullCoverage, &nodes_with(denied, 6));
        assert_eq!(o.status, Status::Skip);
        assert!(o.message.contains("not permitted"));
    }

    #[test]
    fn node_timeout_within_bounds() {
        let with = |v: &'static str| move |_| Captured::default().config("cluster-node-timeout", v);
        assert_eq!(
            run_fleet(&NodeTimeout, &nodes_with(with("5000"), 6)).status,
            Status::Pass
        );
        let o = run_fleet(&NodeTimeout, &nodes_with(with("15000"), 1));
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.message,
            "n1: cluster-node-timeout 15000 outside 1000-10000"
        );
        assert_eq!(
            run_fleet(&NodeTimeout, &nodes_with(with("500"), 1)).status,
            Status::Fail
        );
        let denied = |_| {
            Captured::default().reply(
                "CONFIG GET cluster-node-timeout",
                Err("NOPERM no permissions"),
            )
        };
        assert_eq!(
            run_fleet(&NodeTimeout, &nodes_with(denied, 6)).status,
            Status::Skip
        );
    }
}

#[cfg(test)]
mod live {
    //! The Cluster checks and the `repl.*` checks against launched clusters
    //! (local processes).
    use super::super::repl;
    use super::super::repl::testing::{assert_never_fails, run_live, status_of};
    use super::*;
    use crate::check::{Check, Status};
    use topology::{Profile, Topology};

    const CHECKS: &[&dyn Check] = &[
        &repl::Replicas,
        &repl::Link,
        &repl::ReadOnly,
        &repl::Auth,
        &repl::MinReplicas,
        &State,
        &Slots,
        &Replicas,
        &Spread,
        &FullCoverage,
        &NodeTimeout,
    ];

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn live_cluster_hardened_never_fails() {
        let results = run_live(Topology::CLUSTER, Profile::Hardened, CHECKS).await;
        assert_never_fails(&results, CHECKS.len());
        // Local processes: every node on 127.0.0.1.
        let (status, detail) = status_of(&results, "cluster.spread");
        assert_eq!(status, Status::Warn, "{detail}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn live_cluster_weak_fails_each_guard() {
        let results = run_live(Topology::CLUSTER, Profile::Weak, CHECKS).await;
        // The last shard has no replica; no auth; full coverage off;
        // default node timeout.
        for id in [
            "repl.replicas",
            "repl.auth",
            "cluster.replicas",
            "cluster.full-coverage",
            "cluster.node-timeout",
        ] {
            let (status, detail) = status_of(&results, id);
            assert_eq!(status, Status::Fail, "{detail}");
        }
        for id in [
            "cluster.state",
            "cluster.slots",
            "repl.link",
            "repl.read-only",
            "repl.min-replicas",
        ] {
            let (status, detail) = status_of(&results, id);
            assert_eq!(status, Status::Pass, "{detail}");
        }
    }
}
