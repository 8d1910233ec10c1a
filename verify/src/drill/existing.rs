//! Drilling a deployment this run did not launch: discover its nodes,
//! learn their placeholder values, read the timers it runs with (never
//! change them), and hand the harness a [`Subject`] over the user's
//! node-control commands.

use super::commands::{distinct_hosts, Commands};
use super::control::{probe, DrillNode, Subject};
use super::{admin_command, DrillError};
use crate::config::{DrillSettings, Settings};
use crate::fleet::{Fleet, FleetKind, Member, Role};
use std::collections::BTreeMap;
use topology::{Addr, Service, Topology};

/// `cluster-node-timeout` assumed when the target does not say (Redis's
/// default).
const DEFAULT_NODE_TIMEOUT_MS: u64 = 15_000;

/// What discovery found, ready to drill.
pub struct Existing {
    /// Its shape.
    pub topology: Topology,
    /// Data nodes first, then Sentinels.
    pub nodes: Vec<DrillNode>,
    /// `cluster-node-timeout` (Cluster).
    pub cluster_node_timeout_ms: u64,
    /// Shard number per node id.
    pub shards: BTreeMap<String, usize>,
    /// Notes for the report (timers read, node ids).
    pub notes: Vec<String>,
}

/// Discovers `service` and reads its timers into `drills`.
pub async fn discover(
    service: &Service,
    settings: &Settings,
    drills: &mut DrillSettings,
) -> Result<Existing, DrillError> {
    let fleet = crate::discover::discover(service, &probe(), settings, None)
        .await
        .map_err(|e| DrillError::Other(format!("discover the target: {e}")))?;
    if let Some((node, why)) = fleet.unreachable.first() {
        return Err(DrillError::Other(format!(
            "reach every node before drilling: {node}: {why}"
        )));
    }
    let mut nodes: Vec<DrillNode> = fleet
        .data
        .iter()
        .map(|m| node(m, false))
        .chain(fleet.sentinels.iter().map(|m| node(m, true)))
        .collect();
    // Containers and hosts are named by their host alone, so that
    // `docker kill {node}` names the container.
    let (data, sentinels): (Vec<DrillNode>, Vec<DrillNode>) =
        nodes.iter().cloned().partition(|n| !n.sentinel);
    let short = distinct_hosts(&nodes) && !data.is_empty();
    if short {
        for n in &mut nodes {
            n.id = n.announced.host.clone();
        }
    }
    let mut notes = vec![format!(
        "existing deployment: data nodes {}; sentinels {}",
        ids(&nodes, false),
        if sentinels.is_empty() {
            "none".to_owned()
        } else {
            ids(&nodes, true)
        }
    )];
    let shards = shard_numbers(&fleet, &nodes);
    let primaries = fleet.data_in(Role::Primary).count().max(1);
    let topology = match &fleet.kind {
        FleetKind::Standalone => Topology::Standalone,
        FleetKind::Sentinel { master } => {
            let timers = sentinel_timers(&nodes, master).await?;
            drills.down_after_ms = timers.0;
            drills.failover_timeout_ms = timers.1;
            notes.push(format!(
                "drilled with the deployment's own Sentinel timers: down-after-milliseconds {}, failover-timeout {} (not changed)",
                timers.0, timers.1
            ));
            Topology::Sentinel {
                replicas: u8::try_from(data.len().saturating_sub(1)).unwrap_or(u8::MAX),
                sentinels: u8::try_from(sentinels.len()).unwrap_or(u8::MAX),
                quorum: timers.2,
            }
        }
        FleetKind::Cluster => Topology::Cluster {
            shards: u8::try_from(primaries).unwrap_or(u8::MAX),
            replicas_per_shard: u8::try_from(data.len().saturating_sub(primaries) / primaries)
                .unwrap_or(u8::MAX),
        },
    };
    let mut cluster_node_timeout_ms = DEFAULT_NODE_TIMEOUT_MS;
    if let (Topology::Cluster { .. }, Some(first)) = (topology, nodes.first()) {
        if let Some(t) = admin_command(&first.target, &["CONFIG", "GET", "cluster-node-timeout"])
            .await
            .ok()
            .and_then(|v| v.split_whitespace().nth(1).and_then(|t| t.parse().ok()))
        {
            cluster_node_timeout_ms = t;
        }
        notes.push(format!(
            "drilled with the deployment's own cluster-node-timeout {cluster_node_timeout_ms} (not changed)"
        ));
    }
    Ok(Existing {
        topology,
        nodes,
        cluster_node_timeout_ms,
        shards,
        notes,
    })
}

impl Existing {
    /// The subject the harness drills.
    pub fn subject<'d>(&self, service: &Service, commands: &'d mut Commands) -> Subject<'d> {
        Subject::existing(
            self.topology,
            service.clone(),
            self.nodes.clone(),
            self.cluster_node_timeout_ms,
            commands,
        )
    }
}

fn ids(nodes: &[DrillNode], sentinel: bool) -> String {
    nodes
        .iter()
        .filter(|n| n.sentinel == sentinel)
        .map(|n| n.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn node(m: &Member, sentinel: bool) -> DrillNode {
    let reachable = Addr::new(m.ctx.target.host.clone(), m.ctx.target.port);
    DrillNode {
        id: m.label.clone(),
        sentinel,
        announced: Addr::parse(&m.label).unwrap_or_else(|| reachable.clone()),
        reachable,
        target: m.ctx.target.clone(),
    }
}

/// Shard numbers: 1, 2, … by the primaries' announced addresses; a
/// replica gets its primary's (from its ROLE at discovery).
fn shard_numbers(fleet: &Fleet, nodes: &[DrillNode]) -> BTreeMap<String, usize> {
    let id_of = |label: &str| {
        nodes
            .iter()
            .find(|n| n.announced.to_string() == label || n.id == label)
            .map_or_else(|| label.to_owned(), |n| n.id.clone())
    };
    let mut primaries: Vec<&Member> = fleet.data_in(Role::Primary).collect();
    primaries.sort_by(|a, b| a.label.cmp(&b.label));
    let mut out: BTreeMap<String, usize> = BTreeMap::new();
    for (i, p) in primaries.iter().enumerate() {
        out.insert(id_of(&p.label), i + 1);
    }
    out
}

/// (down-after-milliseconds, failover-timeout, quorum) from the first
/// Sentinel that answers `SENTINEL MASTER`.
async fn sentinel_timers(nodes: &[DrillNode], master: &str) -> Result<(u64, u64, u8), DrillError> {
    let mut last = String::from("no sentinel found");
    for s in nodes.iter().filter(|n| n.sentinel) {
        match admin_command(&s.target, &["SENTINEL", "MASTER", master]).await {
            Ok(text) => {
                let words: Vec<&str> = text.split_whitespace().collect();
                let get = |k: &str| {
                    words
                        .windows(2)
                        .find(|w| w[0] == k)
                        .and_then(|w| w[1].parse::<u64>().ok())
                };
                if let (Some(d), Some(f)) =
                    (get("down-after-milliseconds"), get("failover-timeout"))
                {
                    let q = get("quorum")
                        .and_then(|q| u8::try_from(q).ok())
                        .unwrap_or(2);
                    return Ok((d, f, q));
                }
                last = format!("{}: SENTINEL MASTER {master} lacks the timers", s.id);
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(DrillError::Other(format!(
        "read the Sentinel timers: {last}"
    )))
}
