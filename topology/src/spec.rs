//! What to launch: the topology spec and the per-node plan it expands to.
//!
//! A [`Topology`] says how many nodes of which kind; [`plan`] turns it into
//! one [`NodePlan`] per node (stable id, initial role) before any launcher
//! is involved, so both launchers start exactly the same deployment and
//! tests can reason about it without starting anything.

use std::fmt;

/// Master name Sentinels monitor in launched deployments.
pub const MASTER_NAME: &str = "mymaster";

/// The shape of a deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// One server.
    Standalone,
    /// A primary, replicas, and Sentinels that fail over between them.
    Sentinel {
        /// Replicas of the primary.
        replicas: u8,
        /// Sentinel processes.
        sentinels: u8,
        /// Sentinels that must agree the primary is down.
        quorum: u8,
    },
    /// A Redis Cluster.
    Cluster {
        /// Primaries, each owning a third (or so) of the 16384 slots.
        shards: u8,
        /// Replicas of each primary.
        replicas_per_shard: u8,
    },
}

impl Topology {
    /// 1 primary, 2 replicas, 3 Sentinels with quorum 2: the smallest
    /// deployment that survives the loss of any one node.
    pub const SENTINEL: Self = Self::Sentinel {
        replicas: 2,
        sentinels: 3,
        quorum: 2,
    };
    /// 3 shards with one replica each: the smallest cluster whose majority
    /// of primaries survives one loss.
    pub const CLUSTER: Self = Self::Cluster {
        shards: 3,
        replicas_per_shard: 1,
    };

    /// `standalone`, `sentinel` or `cluster`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Standalone => "standalone",
            Self::Sentinel { .. } => "sentinel",
            Self::Cluster { .. } => "cluster",
        }
    }

    /// The default spec of a kind by name.
    pub fn from_kind(kind: &str) -> Option<Self> {
        match kind {
            "standalone" => Some(Self::Standalone),
            "sentinel" => Some(Self::SENTINEL),
            "cluster" => Some(Self::CLUSTER),
            _ => None,
        }
    }

    /// Rejects specs that cannot form a working deployment.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Self::Standalone => Ok(()),
            Self::Sentinel {
                replicas,
                sentinels,
                quorum,
            } => {
                if replicas == 0 {
                    return Err("a sentinel deployment needs at least one replica".into());
                }
                if sentinels == 0 || quorum == 0 || quorum > sentinels {
                    return Err(format!(
                        "quorum {quorum} must be between 1 and the number of sentinels ({sentinels})"
                    ));
                }
                Ok(())
            }
            Self::Cluster { shards, .. } => {
                if shards < 3 {
                    Err(format!(
                        "a cluster needs at least 3 shards to elect a replica (got {shards})"
                    ))
                } else {
                    Ok(())
                }
            }
        }
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Standalone => f.write_str("standalone"),
            Self::Sentinel {
                replicas,
                sentinels,
                quorum,
            } => write!(
                f,
                "sentinel (1 primary, {replicas} replicas, {sentinels} sentinels, quorum {quorum})"
            ),
            Self::Cluster {
                shards,
                replicas_per_shard,
            } => write!(
                f,
                "cluster ({shards} shards, {replicas_per_shard} replica{} per shard)",
                if *replicas_per_shard == 1 { "" } else { "s" }
            ),
        }
    }
}

/// Which configuration the nodes get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// `redis-conf/` rendered with fresh credentials: the project's policy.
    Hardened,
    /// Deliberately weak: stock defaults with the policy undone (no auth,
    /// protected-mode off, no persistence, DEBUG/MODULE on, …) and, on
    /// multi-node topologies, the replication, Sentinel and Cluster
    /// weaknesses each `repl.*`, `sentinel.*` and `cluster.*` check must
    /// catch. What every check is shown to fail on.
    Weak,
}

/// What a node is when the deployment starts. Roles change (failover); this
/// is only the starting point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitialRole {
    /// The only data node.
    Standalone,
    /// The Sentinel deployment's first primary.
    Primary,
    /// A replica of the primary.
    Replica,
    /// A Sentinel.
    Sentinel,
    /// A cluster node that starts as primary of `shard`.
    ClusterPrimary {
        /// Shard index from 0.
        shard: u8,
    },
    /// A cluster node that starts as replica in `shard`.
    ClusterReplica {
        /// Shard index from 0.
        shard: u8,
    },
}

impl InitialRole {
    /// Whether the node stores data (everything but Sentinels).
    pub fn is_data(&self) -> bool {
        !matches!(self, Self::Sentinel)
    }

    /// Short name for reports.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Standalone => "standalone",
            Self::Primary | Self::ClusterPrimary { .. } => "primary",
            Self::Replica | Self::ClusterReplica { .. } => "replica",
            Self::Sentinel => "sentinel",
        }
    }
}

/// One node of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePlan {
    /// Stable id: `n1`, `n2`, … for data nodes, `s1`, … for Sentinels.
    pub id: String,
    /// Starting role.
    pub role: InitialRole,
}

/// Expands a topology into its nodes, data nodes first. The weak cluster
/// leaves the last shard without its replica (what `cluster.replicas` must
/// catch).
pub fn plan(topology: &Topology, profile: Profile) -> Vec<NodePlan> {
    let data = |i: usize, role| NodePlan {
        id: format!("n{}", i + 1),
        role,
    };
    match *topology {
        Topology::Standalone => vec![data(0, InitialRole::Standalone)],
        Topology::Sentinel {
            replicas,
            sentinels,
            ..
        } => {
            let mut nodes = vec![data(0, InitialRole::Primary)];
            nodes.extend((1..=usize::from(replicas)).map(|i| data(i, InitialRole::Replica)));
            nodes.extend((0..sentinels).map(|i| NodePlan {
                id: format!("s{}", i + 1),
                role: InitialRole::Sentinel,
            }));
            nodes
        }
        Topology::Cluster {
            shards,
            replicas_per_shard,
        } => {
            let mut nodes: Vec<NodePlan> = (0..shards)
                .map(|s| data(usize::from(s), InitialRole::ClusterPrimary { shard: s }))
                .collect();
            for r in 0..replicas_per_shard {
                for s in 0..shards {
                    let last = r + 1 == replicas_per_shard && s + 1 == shards;
                    if profile == Profile::Weak && last {
                        continue;
                    }
                    let i = nodes.len();
                    nodes.push(data(i, InitialRole::ClusterReplica { shard: s }));
                }
            }
            nodes
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_each_topology() {
        let ids = |t: &Topology, p| {
            plan(t, p)
                .into_iter()
                .map(|n| format!("{}:{}", n.id, n.role.as_str()))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(
            ids(&Topology::Standalone, Profile::Hardened),
            "n1:standalone"
        );
        assert_eq!(
            ids(&Topology::SENTINEL, Profile::Hardened),
            "n1:primary n2:replica n3:replica s1:sentinel s2:sentinel s3:sentinel"
        );
        assert_eq!(
            ids(&Topology::CLUSTER, Profile::Hardened),
            "n1:primary n2:primary n3:primary n4:replica n5:replica n6:replica"
        );
        // The weak cluster's last shard has no replica.
        let weak = plan(&Topology::CLUSTER, Profile::Weak);
        assert_eq!(weak.len(), 5);
        assert!(!weak
            .iter()
            .any(|n| n.role == InitialRole::ClusterReplica { shard: 2 }));
    }

    #[test]
    fn validates_specs() {
        assert!(Topology::SENTINEL.validate().is_ok());
        assert!(Topology::CLUSTER.validate().is_ok());
        let bad = Topology::Sentinel {
            replicas: 1,
            sentinels: 3,
            quorum: 4,
        };
        assert!(bad.validate().unwrap_err().contains("quorum 4"));
        let small = Topology::Cluster {
            shards: 2,
            replicas_per_shard: 1,
        };
        assert!(small.validate().is_err());
        assert_eq!(Topology::from_kind("cluster"), Some(Topology::CLUSTER));
        assert_eq!(Topology::from_kind("x"), None);
    }
}
